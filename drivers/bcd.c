/* Packed BCD decoding for card dates and region codes. */
#include "drivers/bcd.h"

#include <stdbool.h>

#include "core/datetime.h"
#include "core/err.h"

int bcd_date_decode(const uint8_t *bcd, size_t len, int32_t *ret)
{
    int32_t v = 0;

    if (len != 4)
        return DRV_EDATE;
    for (size_t i = 0; i < len; i++) {
        uint8_t hi = bcd[i] >> 4, lo = bcd[i] & 0x0F;
        if (hi > 9 || lo > 9)
            return DRV_EDATE;
        v = v * 100 + hi * 10 + lo;
    }
    if (!date_is_valid(v))
        return DRV_EDATE;
    *ret = v;
    return 0;
}

int bcd_digits_decode(const uint8_t *bcd, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    bool padding = false;

    if (cap < 2 * len + 1)
        return DRV_EFIELD;
    for (size_t i = 0; i < 2 * len; i++) {
        uint8_t nib = (i % 2 == 0) ? bcd[i / 2] >> 4 : bcd[i / 2] & 0x0F;
        if (nib == 0x0F) {
            padding = true;
            continue;
        }
        if (padding || nib > 9)
            return DRV_EFIELD;
        out[n++] = (char)('0' + nib);
    }
    out[n] = '\0';
    return 0;
}
