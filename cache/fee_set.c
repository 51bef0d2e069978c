/* Fee lines packed into one blob, and back (fee_set.h has the layout). */
#include "cache/fee_set.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/pack.h"

#define VERSION 1
#define STRINGS 9
#define NUMBERS 12
/* The fewest bytes a line takes: each string its length and NUL, each number a byte. */
#define LINE_MIN (2 * STRINGS + NUMBERS)

/* The strings of a line, in the blob's order (NULL reads as ""). */
static void strings_of(const struct line_record *l, const char *s[STRINGS])
{
    const char *in[STRINGS] = {l->his_line_id,         l->feedetl_sn,   l->state,
                               l->list_code,           l->name,         l->time,
                               l->outside_institution, l->outside_form, l->cancel_msgid};

    for (int k = 0; k < STRINGS; k++)
        s[k] = in[k] ? in[k] : "";
}

static void numbers_of(const struct line_record *l, int64_t v[NUMBERS])
{
    const int64_t in[NUMBERS] = {l->seq,
                                 l->qty_e4,
                                 l->price_e6,
                                 l->split.amount,
                                 l->split.fulamt_ownpay,
                                 l->split.overlmt,
                                 l->split.preselfpay,
                                 l->split.inscp,
                                 l->split.lv,
                                 l->split.category,
                                 l->split.selfpay_prop_e6,
                                 l->outside_kind};

    memcpy(v, in, sizeof in);
}

int fee_set_encode(const struct line_record *lines, size_t n, uint8_t **ret, size_t *ret_len)
{
    size_t cap = 1 + PACK_VARINT_MAX;
    uint8_t *blob, *at;

    for (size_t i = 0; i < n; i++) {
        const char *s[STRINGS];

        strings_of(&lines[i], s);
        /* Fixed arrays: bounded reads, as one may hold no NUL at all. */
        if (strnlen(s[0], sizeof lines[i].his_line_id) == sizeof lines[i].his_line_id ||
            strnlen(s[1], sizeof lines[i].feedetl_sn) == sizeof lines[i].feedetl_sn ||
            strnlen(s[2], sizeof lines[i].state) == sizeof lines[i].state)
            return -EINVAL;
        cap += NUMBERS * PACK_VARINT_MAX;
        for (int k = 0; k < STRINGS; k++)
            cap += PACK_VARINT_MAX + strlen(s[k]) + 1;
    }
    if (!(blob = malloc(cap)))
        return -ENOMEM;
    at = blob;
    *at++ = VERSION;
    at = pack_put_varint(at, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        const char *s[STRINGS];
        int64_t v[NUMBERS];

        strings_of(&lines[i], s);
        numbers_of(&lines[i], v);
        for (int k = 0; k < STRINGS; k++) {
            size_t len = strlen(s[k]);

            at = pack_put_varint(at, (int64_t)len);
            memcpy(at, s[k], len + 1);
            at += len + 1;
        }
        for (int k = 0; k < NUMBERS; k++)
            at = pack_put_varint(at, v[k]);
    }
    *ret = blob;
    *ret_len = (size_t)(at - blob);
    return 0;
}

/* A string in the blob, NUL-terminated there and holding no other NUL; NULL (and the cursor
 * bad) otherwise. */
static const char *get_str(struct pack_cursor *c)
{
    int64_t n = pack_get_varint(c);
    const char *s = (const char *)c->p;

    if (c->bad || n < 0 || n >= c->end - c->p || c->p[n] != '\0' || memchr(s, '\0', (size_t)n)) {
        c->bad = true;
        return NULL;
    }
    c->p += n + 1;
    return s;
}

/* Copies a string into a fixed array; one that does not fit is damage. */
static void get_fixed(struct pack_cursor *c, char *buf, size_t cap)
{
    const char *s = get_str(c);

    if (!s || strlen(s) >= cap) {
        c->bad = true;
        return;
    }
    memcpy(buf, s, strlen(s) + 1);
}

static void get_line(struct pack_cursor *c, struct line_record *l)
{
    int64_t v[NUMBERS];

    get_fixed(c, l->his_line_id, sizeof l->his_line_id);
    get_fixed(c, l->feedetl_sn, sizeof l->feedetl_sn);
    get_fixed(c, l->state, sizeof l->state);
    l->list_code = get_str(c);
    l->name = get_str(c);
    l->time = get_str(c);
    l->outside_institution = get_str(c);
    l->outside_form = get_str(c);
    l->cancel_msgid = get_str(c);
    for (int k = 0; k < NUMBERS; k++)
        v[k] = pack_get_varint(c);
    l->seq = v[0];
    l->qty_e4 = v[1];
    l->price_e6 = v[2];
    l->split = (struct split){.amount = v[3],
                              .fulamt_ownpay = v[4],
                              .overlmt = v[5],
                              .preselfpay = v[6],
                              .inscp = v[7],
                              .lv = (enum chrgitm_lv)v[8],
                              .category = (uint8_t)v[9],
                              .selfpay_prop_e6 = v[10]};
    l->outside_kind = (int)v[11];
    if (v[8] < 0 || v[8] > 255 || v[9] < 0 || v[9] > 255 || v[11] < INT32_MIN ||
        v[11] > INT32_MAX)
        c->bad = true;
}

int fee_set_decode(const uint8_t *blob, size_t len, struct line_record **ret, size_t *ret_n)
{
    struct pack_cursor c = {.p = blob, .end = blob + len};
    struct line_record *lines = NULL;
    int64_t n;

    *ret = NULL;
    *ret_n = 0;
    if (len < 2 || *c.p++ != VERSION)
        return -EIO;
    n = pack_get_varint(&c);
    if (c.bad || n < 0 || n > (c.end - c.p) / LINE_MIN)
        return -EIO;
    if (n > 0 && !(lines = calloc((size_t)n, sizeof *lines)))
        return -ENOMEM;
    for (int64_t i = 0; i < n && !c.bad; i++)
        get_line(&c, &lines[i]);
    if (c.bad || c.p != c.end) {
        free(lines);
        return -EIO;
    }
    *ret = lines;
    *ret_n = (size_t)n;
    return 0;
}
