/* APDU exchange with T=0 chaining and status-word mapping; transport-agnostic. */
#include "drivers/apdu.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "core/err.h"

/* A well-behaved card never chains more than a few GET RESPONSEs for our short records;
 * the bound stops a card that answers 61xx forever. */
#define APDU_MAX_STEPS 16

int apdu_sw_err(uint16_t sw)
{
    switch (sw) {
    case 0x9000: return 0;
    case 0x6A82: return DRV_ESW_FILE;
    case 0x6A83: return DRV_ESW_RECORD;
    case 0x6982: return DRV_ESW_SECURITY;
    case 0x6700: return DRV_ESW_LENGTH;
    case 0x6A81:
    case 0x6A86:
    case 0x6B00: return DRV_ESW_PARAM;
    case 0x6D00: return DRV_ESW_INS;
    case 0x6E00: return DRV_ESW_CLA;
    default: break;
    }
    if ((sw >> 8) == 0x6C)
        return DRV_ESW_LENGTH;
    return DRV_ESW_OTHER;
}

/* Rewrites (or appends) the Le byte of the short APDU in buf; returns the new length. */
static size_t set_le(uint8_t *buf, size_t len, uint8_t le)
{
    if (len == 4)
        buf[len++] = le; /* case 1 -> case 2 */
    else if (len == 5)
        buf[4] = le; /* case 2 */
    else if (len == 5u + buf[4])
        buf[len++] = le; /* case 3 -> case 4 */
    else
        buf[len - 1] = le; /* case 4 */
    return len;
}

int apdu_exchange(const struct apdu_io *io, const uint8_t *cmd, size_t cmd_len, uint8_t *out,
                  size_t cap, size_t *ret_len, uint16_t *ret_sw)
{
    uint8_t buf[APDU_MAX_CMD + 1];
    uint8_t resp[APDU_MAX_RESP];
    size_t len = cmd_len, total = 0;
    bool resent = false;

    assert(cmd_len >= 4 && cmd_len <= APDU_MAX_CMD);
    memcpy(buf, cmd, cmd_len);
    for (int step = 0; step < APDU_MAX_STEPS; step++) {
        size_t n = 0;
        int rc = io->transmit(io->ctx, buf, len, resp, sizeof resp, &n);
        if (rc < 0)
            return rc;
        if (n == 0)           /* no answer at all: vpcd's way of saying the */
            return DRV_EGONE; /* card left mid-command; a mute card alike */
        if (n < 2 || n > sizeof resp)
            return DRV_ESW_OTHER;
        uint8_t sw1 = resp[n - 2], sw2 = resp[n - 1];
        if (sw1 == 0x6C && !resent) { /* wrong Le: the card says which, once */
            len = set_le(buf, len, sw2);
            resent = true;
            continue;
        }
        if (n - 2 > cap - total)
            return DRV_ESW_CHAIN;
        memcpy(out + total, resp, n - 2);
        total += n - 2;
        if (sw1 == 0x61) { /* T=0: more data waits for GET RESPONSE */
            const uint8_t get[5] = {(uint8_t)(buf[0] & 0x03), 0xC0, 0x00, 0x00, sw2};
            memcpy(buf, get, sizeof get);
            len = sizeof get;
            resent = false;
            continue;
        }
        *ret_len = total;
        *ret_sw = (uint16_t)(sw1 << 8 | sw2);
        return 0;
    }
    return DRV_ESW_CHAIN;
}
