/* C emulation of the SSSE application: SELECT, READ RECORD by identifier, T=0, strict Le. */
#include "fake_card.h"

#include <string.h>

#include "core/err.h"
#include "drivers/ssc.h"

static const uint8_t sn[16] = {0x33, 0x11, 0x00, 0xD1, 0x56, 0x00, 0x00, 0x05,
                               0x99, 0x11, 0x01, 0x45, 0xAB, 0xCD, 0xEF, 0x01};
static const uint8_t name[30] = {0xD5, 0xC5, 0xC8, 0xFD}; /* 张三, 00-padded */

const struct fake_rec fake_recs_default[] = {
    {0xEF05, 0x01, 16, sn},
    {0xEF05, 0x02, 1, (const uint8_t *)"3"},
    {0xEF05, 0x03, 4, (const uint8_t *)"3.00"},
    {0xEF05, 0x04, 12, (const uint8_t *)"330100000001"},
    {0xEF05, 0x05, 4, (const uint8_t *)"\x20\x20\x10\x01"},
    {0xEF05, 0x06, 4, (const uint8_t *)"\x20\x30\x10\x01"},
    {0xEF05, 0x07, 9, (const uint8_t *)"A00000001"},
    {0xEF06, 0x08, 18, (const uint8_t *)"33010219900307123X"},
    {0xEF06, 0x09, 30, name},
    {0xEF06, 0x0A, 1, (const uint8_t *)"1"},
    {0xEF06, 0x0B, 1, (const uint8_t *)"\x01"},
    {0xEF06, 0x0C, 3, (const uint8_t *)"\x33\x01\x02"},
    {0xEF06, 0x0D, 4, (const uint8_t *)"\x19\x90\x03\x07"},
};
const size_t fake_recs_default_n = sizeof fake_recs_default / sizeof fake_recs_default[0];

static size_t sw(uint8_t *resp, size_t off, uint16_t w)
{
    resp[off] = (uint8_t)(w >> 8);
    resp[off + 1] = (uint8_t)w;
    return off + 2;
}

/* Answers data (or, under T=0, 61xx and keeps it for GET RESPONSE), honouring Le. */
static size_t answer(struct fake_card *c, const uint8_t *data, size_t n, int le, uint8_t *resp)
{
    if (c->strict_le && le >= 0 && (size_t)(le ? le : 256) != n)
        return sw(resp, 0, (uint16_t)(0x6C00 | n));
    if (c->t0) {
        memcpy(c->pending, data, n);
        c->npending = n;
        return sw(resp, 0, (uint16_t)(0x6100 | n));
    }
    memcpy(resp, data, n);
    return sw(resp, n, 0x9000);
}

static size_t execute(struct fake_card *c, const uint8_t *cmd, size_t len, uint8_t *resp)
{
    uint8_t ins = cmd[1], p1 = cmd[2], p2 = cmd[3];
    int le = len == 5 ? cmd[4] : (len > 5 && len == 6u + cmd[4]) ? cmd[len - 1] : -1;
    const uint8_t *data = len > 5 ? cmd + 5 : NULL;

    if (cmd[0] != 0x00)
        return sw(resp, 0, 0x6E00);
    if (ins == 0xC0) {
        size_t n = c->npending;
        if (n == 0)
            return sw(resp, 0, 0x6985);
        if ((size_t)(p1 | p2) != 0 || (size_t)(le ? le : 256) != n)
            return sw(resp, 0, (uint16_t)(0x6C00 | n));
        c->npending = 0;
        memcpy(resp, c->pending, n);
        return sw(resp, n, 0x9000);
    }
    if (ins == 0xA4 && p1 == 0x04 && data) {
        if (!c->has_ssse || cmd[4] != sizeof ssc_aid || memcmp(data, ssc_aid, sizeof ssc_aid))
            return sw(resp, 0, 0x6A82);
        c->cur = 0xDF01;
        return sw(resp, 0, 0x9000);
    }
    if (ins == 0xA4 && p1 == 0x02 && data && cmd[4] == 2) {
        uint16_t fid = (uint16_t)(data[0] << 8 | data[1]);
        if (c->cur == 0 || fid == c->missing_fid || (fid != 0xEF05 && fid != 0xEF06))
            return sw(resp, 0, 0x6A82);
        c->cur = fid;
        return sw(resp, 0, 0x9000);
    }
    if (ins == 0xB2 && p2 == 0x00) {
        for (size_t i = 0; i < c->nrecs; i++) {
            const struct fake_rec *r = &c->recs[i];
            if (r->fid != c->cur || r->tag != p1)
                continue;
            if (!r->val)
                break;
            uint8_t rec[258] = {r->tag, r->len};
            memcpy(rec + 2, r->val, r->len);
            return answer(c, rec, r->len + 2u, le, resp);
        }
        return sw(resp, 0, 0x6A83);
    }
    return sw(resp, 0, 0x6D00);
}

int fake_card_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp, size_t cap,
                       size_t *ret_len)
{
    struct fake_card *c = ctx;

    if (c->fail_after > 0 && c->apdus >= c->fail_after)
        return DRV_EGONE;
    c->apdus++;
    if (cap < 258 || cmd_len < 4)
        return DRV_EPCSC;
    *ret_len = execute(c, cmd, cmd_len, resp);
    return 0;
}
