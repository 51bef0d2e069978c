/* One connected card through PC/SC as an APDU transport (apdu_transmit_cb), and the
 * mapping of PC/SC return values to drivers' errors. Blocking: reader thread only. */
#ifndef POSA_DRIVERS_PCSC_CARD_H
#define POSA_DRIVERS_PCSC_CARD_H

#include <stddef.h>
#include <stdint.h>

#include <winscard.h>

struct pcsc_card {
    SCARDHANDLE h;
    DWORD proto; /* SCARD_PROTOCOL_T0 or _T1, as SCardConnect chose */
};

/* 0, DRV_EGONE (card removed, reset, mute, or the virtual stack's comm errors, which
 * mean the same) or DRV_EPCSC (anything else). */
int pcsc_card_err(LONG rv);

/* apdu_transmit_cb over SCardTransmit; ctx is a struct pcsc_card. */
int pcsc_card_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp, size_t cap,
                       size_t *ret_len);

#endif
