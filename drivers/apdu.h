/* ISO 7816-4 APDU exchange over any transport: status-word mapping and the T=0 dance
 * (61xx GET RESPONSE, 6Cxx resend with the right Le), kept apart from PC/SC so it is
 * unit-tested with a scripted card. */
#ifndef POSA_DRIVERS_APDU_H
#define POSA_DRIVERS_APDU_H

#include <stddef.h>
#include <stdint.h>

#define APDU_MAX_CMD  261 /* CLA INS P1 P2 Lc 255 data Le */
#define APDU_MAX_RESP 258 /* 256 data + SW1 SW2 */

/* One raw exchange: writes the card's answer (data + SW1 SW2) into resp and its length
 * into *ret_len. Returns 0 or a negative error (DRV_EGONE when the card left). */
typedef int (*apdu_transmit_cb)(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp,
                                size_t cap, size_t *ret_len);

struct apdu_io {
    apdu_transmit_cb transmit;
    void *ctx;
};

/* Maps a final status word to 0 (9000) or a DRV_ESW_* error. 61xx/6Cxx never reach here
 * through apdu_exchange(); given directly they map to DRV_ESW_OTHER / DRV_ESW_LENGTH. */
int apdu_sw_err(uint16_t sw);

/* Sends cmd (a case 1-4 short APDU) and follows 61xx with GET RESPONSE and 6Cxx with one
 * resend at the card's Le. On success the data (without SW) is in out, its length in
 * *ret_len, and the final SW in *ret_sw (which may be an error SW: the caller decides with
 * apdu_sw_err()). Transport errors are returned as they come; an empty answer is
 * DRV_EGONE (card left mid-command or mute). */
int apdu_exchange(const struct apdu_io *io, const uint8_t *cmd, size_t cmd_len, uint8_t *out,
                  size_t cap, size_t *ret_len, uint16_t *ret_sw);

#endif
