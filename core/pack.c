/* Zigzag varints (pack.h). */
#include "core/pack.h"

uint8_t *pack_put_varint(uint8_t *at, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); /* zigzag: small negatives stay small */

    while (z >= 0x80) {
        *at++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *at++ = (uint8_t)z;
    return at;
}

int64_t pack_get_varint(struct pack_cursor *c)
{
    uint64_t z = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p == c->end)
            break;
        uint8_t b = *c->p++;

        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    }
    c->bad = true;
    return 0;
}
