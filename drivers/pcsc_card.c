/* APDU transport over SCardTransmit and PC/SC error mapping. */
#include "drivers/pcsc_card.h"

#include "core/err.h"

int pcsc_card_err(LONG rv)
{
    switch (rv) {
    case SCARD_S_SUCCESS: return 0;
    case SCARD_W_REMOVED_CARD:
    case SCARD_E_NO_SMARTCARD:
    case SCARD_W_RESET_CARD:
    case SCARD_F_COMM_ERROR:     /* vpcd: card left mid-transaction */
    case SCARD_E_NOT_TRANSACTED: /* vpcd: likewise */
    case SCARD_E_READER_UNAVAILABLE:
    case SCARD_W_UNPOWERED_CARD:
    case SCARD_W_UNRESPONSIVE_CARD: return DRV_EGONE;
    default: return DRV_EPCSC;
    }
}

int pcsc_card_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp, size_t cap,
                       size_t *ret_len)
{
    struct pcsc_card *c = ctx;
    DWORD n = (DWORD)cap;
    const SCARD_IO_REQUEST *pci = c->proto == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
    LONG rv = SCardTransmit(c->h, pci, cmd, (DWORD)cmd_len, NULL, resp, &n);

    if (rv != SCARD_S_SUCCESS)
        return pcsc_card_err(rv);
    *ret_len = n;
    return 0;
}
