/* A social-security card emulated in C for unit tests of the APDU and profile logic. */
#ifndef POSA_TESTS_FAKE_CARD_H
#define POSA_TESTS_FAKE_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/apdu.h"

struct fake_rec {
    uint16_t fid;
    uint8_t tag;
    uint8_t len;
    const uint8_t *val; /* NULL: record absent (6A83) */
};

struct fake_card {
    const struct fake_rec *recs;
    size_t nrecs;
    bool has_ssse;
    bool t0;              /* data only through 61xx + GET RESPONSE */
    bool strict_le;       /* Le must equal the length: else 6Cxx */
    uint16_t missing_fid; /* SELECT of this EF answers 6A82 */
    int fail_after;       /* > 0: the card leaves after this many APDUs */
    /* state */
    int apdus;
    uint16_t cur;
    uint8_t pending[256];
    size_t npending;
};

int fake_card_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp, size_t cap,
                       size_t *ret_len);

/* The default card: 张三, 3.00, card no "A00000001", expires 2030-10-01. */
extern const struct fake_rec fake_recs_default[];
extern const size_t fake_recs_default_n;

#endif
