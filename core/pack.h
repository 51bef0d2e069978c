/* Zigzag varints, the numbers of the packed blobs (sandbox/fee_blob.c, cache/fee_set.c):
 * small magnitudes, negative ones too, take one or two bytes. Reading is bounded: reading
 * past the end, or a varint longer than PACK_VARINT_MAX bytes, marks the cursor bad and
 * gives 0, so a decoder reads on and checks `bad` once. */
#ifndef POSA_CORE_PACK_H
#define POSA_CORE_PACK_H

#include <stdbool.h>
#include <stdint.h>

#define PACK_VARINT_MAX 10

struct pack_cursor {
    const uint8_t *p, *end;
    bool bad;
};

/* Writes v at at (room for PACK_VARINT_MAX bytes); returns the byte after it. */
uint8_t *pack_put_varint(uint8_t *at, int64_t v);
int64_t pack_get_varint(struct pack_cursor *c);

#endif
