/* Fee lines packed into one blob, and back (fee_blob.h has the layout). */
#include "sandbox/fee_blob.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/pack.h"

#define VERSION    2
#define STRINGS    6
#define NUMBERS    12
#define VARINT_MAX PACK_VARINT_MAX
/* The fewest bytes a line takes: an empty string's length byte, a one-byte number. */
#define LINE_MIN (STRINGS + NUMBERS)

static uint8_t *put_str(uint8_t *at, const char *s)
{
    size_t n = strnlen(s, LEDGER_ID - 1);

    *at++ = (uint8_t)n;
    memcpy(at, s, n);
    return at + n;
}

/* A string into buf[cap]; one that does not fit, or holds a NUL, is damage (none was
 * written so). */
static void get_str(struct pack_cursor *c, char *buf, size_t cap)
{
    size_t n;

    if (c->p == c->end || (n = *c->p) >= cap || (size_t)(c->end - c->p) < n + 1 ||
        memchr(c->p + 1, '\0', n)) {
        c->bad = true;
        buf[0] = '\0';
        return;
    }
    memcpy(buf, c->p + 1, n);
    buf[n] = '\0';
    c->p += n + 1;
}

/* The strings of a line, in the blob's order. */
static void strings_of(const struct ledger_fee *f, const char *s[STRINGS])
{
    s[0] = f->feedetl_sn;
    s[1] = f->chrg_bchno;
    s[2] = f->list_code;
    s[3] = f->init_sn;
    s[4] = f->state;
    s[5] = f->cancel_msgid;
}

int fee_blob_encode(const struct ledger_fee *const *lines, size_t n, uint8_t **ret, size_t *ret_len)
{
    size_t cap = 1 + VARINT_MAX + n * (STRINGS * LEDGER_ID + NUMBERS * VARINT_MAX);
    uint8_t *blob = malloc(cap), *at = blob;

    if (!blob)
        return -ENOMEM;
    *at++ = VERSION;
    at = pack_put_varint(at, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        const struct ledger_fee *f = lines[i];
        const char *s[STRINGS];

        strings_of(f, s);
        for (int k = 0; k < STRINGS; k++)
            at = put_str(at, s[k]);
        at = pack_put_varint(at, f->time);
        at = pack_put_varint(at, f->price_e6);
        at = pack_put_varint(at, f->qty_e4);
        at = pack_put_varint(at, f->split.amount);
        at = pack_put_varint(at, f->split.fulamt_ownpay);
        at = pack_put_varint(at, f->split.overlmt);
        at = pack_put_varint(at, f->split.preselfpay);
        at = pack_put_varint(at, f->split.inscp);
        at = pack_put_varint(at, f->split.selfpay_prop_e6);
        at = pack_put_varint(at, f->split.lv);
        at = pack_put_varint(at, f->split.category);
        at = pack_put_varint(at, f->outside);
    }
    *ret = blob;
    *ret_len = (size_t)(at - blob);
    return 0;
}

int fee_blob_count(const uint8_t *blob, size_t len)
{
    struct pack_cursor c = {.p = blob, .end = blob + len};
    int64_t n;

    if (len < 2 || (*c.p != 1 && *c.p != VERSION))
        return -EIO;
    c.p++;
    n = pack_get_varint(&c);
    if (c.bad || n < 0 || (uint64_t)n > (size_t)(c.end - c.p) / LINE_MIN)
        return -EIO;
    return (int)n;
}

int fee_blob_decode(const uint8_t *blob, size_t len, struct ledger_fee *out)
{
    struct pack_cursor c = {.p = blob, .end = blob + len};
    int n = fee_blob_count(blob, len);

    bool v1 = len > 0 && blob[0] == 1;

    if (n < 0)
        return n;
    c.p++;
    pack_get_varint(&c);
    for (int i = 0; i < n && !c.bad; i++) {
        struct ledger_fee *f = &out[i];

        get_str(&c, f->feedetl_sn, sizeof(f->feedetl_sn));
        get_str(&c, f->chrg_bchno, sizeof(f->chrg_bchno));
        get_str(&c, f->list_code, sizeof(f->list_code));
        get_str(&c, f->init_sn, sizeof(f->init_sn));
        get_str(&c, f->state, sizeof(f->state));
        f->setl_id[0] = '\0';
        if (v1)
            get_str(&c, f->setl_id, sizeof(f->setl_id));
        get_str(&c, f->cancel_msgid, sizeof(f->cancel_msgid));
        f->time = pack_get_varint(&c);
        f->price_e6 = pack_get_varint(&c);
        f->qty_e4 = pack_get_varint(&c);
        f->split.amount = pack_get_varint(&c);
        f->split.fulamt_ownpay = pack_get_varint(&c);
        f->split.overlmt = pack_get_varint(&c);
        f->split.preselfpay = pack_get_varint(&c);
        f->split.inscp = pack_get_varint(&c);
        f->split.selfpay_prop_e6 = pack_get_varint(&c);
        f->split.lv = (enum chrgitm_lv)pack_get_varint(&c);
        f->split.category = (uint8_t)pack_get_varint(&c);
        f->outside = pack_get_varint(&c) != 0;
    }
    return c.bad || c.p != c.end ? -EIO : 0;
}

int fee_cover_encode(const struct ledger_fee *const *lines, size_t n, uint8_t **ret,
                     size_t *ret_len)
{
    size_t runs = 0, cap = 1 + VARINT_MAX + n * (2 * LEDGER_ID + VARINT_MAX);
    uint8_t *blob = malloc(cap), *at = blob;

    if (!blob)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        runs += i == 0 || strcmp(lines[i]->msgid, lines[i - 1]->msgid) != 0;
    *at++ = 1;
    at = pack_put_varint(at, (int64_t)runs);
    for (size_t i = 0, end; i < n; i = end) {
        for (end = i + 1; end < n && strcmp(lines[end]->msgid, lines[i]->msgid) == 0; end++)
            ;
        at = put_str(at, lines[i]->msgid);
        at = pack_put_varint(at, (int64_t)(end - i));
        for (size_t k = i; k < end; k++)
            at = put_str(at, lines[k]->feedetl_sn);
    }
    *ret = blob;
    *ret_len = (size_t)(at - blob);
    return 0;
}

int fee_cover_each(const uint8_t *blob, size_t len,
                   int (*cb)(const char *msgid, const char *sn, void *data), void *data)
{
    struct pack_cursor c = {.p = blob, .end = blob + len};
    char msgid[LEDGER_ID], sn[LEDGER_ID];
    int64_t runs, n;
    int rc;

    if (len < 2 || *c.p++ != 1)
        return -EIO;
    runs = pack_get_varint(&c);
    for (int64_t r = 0; r < runs && !c.bad; r++) {
        get_str(&c, msgid, sizeof(msgid));
        n = pack_get_varint(&c);
        /* each sn takes a byte at least: a count beyond what is left is damage */
        if (c.bad || n < 0 || n > c.end - c.p)
            return -EIO;
        for (int64_t k = 0; k < n && !c.bad; k++) {
            get_str(&c, sn, sizeof(sn));
            if (!c.bad && (rc = cb(msgid, sn, data)) != 0)
                return rc;
        }
    }
    return c.bad || runs < 0 || c.p != c.end ? -EIO : 0;
}
