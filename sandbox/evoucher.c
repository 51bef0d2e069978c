/* E-voucher codes and tokens: a fixed ring of entries, random opaque strings. */
#include "sandbox/evoucher.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static void random_hex(char *out, size_t n_hex, uint64_t salt)
{
    unsigned char bytes[32];
    size_t n = (n_hex + 1) / 2;

    if (n > sizeof(bytes))
        n = sizeof(bytes);
    if (getrandom(bytes, n, 0) != (ssize_t)n) { /* never expected; still unique by salt */
        for (size_t i = 0; i < n; i++)
            bytes[i] = (unsigned char)(salt >> ((i % 8) * 8)) ^ (unsigned char)(i * 37);
    }
    for (size_t i = 0; i < n_hex; i++)
        out[i] = "0123456789abcdef"[(bytes[i / 2] >> ((i % 2) ? 0 : 4)) & 15];
    out[n_hex] = '\0';
}

const char *evoucher_issue(struct evoucher *ev, const char *psn_no, const char *region,
                           uint64_t now_ms)
{
    struct evoucher_entry *e = &ev->entries[ev->next];
    char hex[37];

    ev->next = (ev->next + 1) % EVOUCHER_MAX;
    memset(e, 0, sizeof(*e));
    random_hex(hex, 36, ++ev->counter);
    /* Opaque to its readers; the shape only resembles a real code. */
    snprintf(e->code, sizeof(e->code), "SBQR%.6s%s", region, hex);
    str_copy(e->psn_no, sizeof(e->psn_no), psn_no);
    snprintf(e->region, sizeof(e->region), "%.6s", region);
    e->code_expires = now_ms + EVOUCHER_CODE_TTL_MS;
    return e->code;
}

const struct evoucher_entry *evoucher_decode(struct evoucher *ev, const char *code, uint64_t now_ms)
{
    for (size_t i = 0; i < EVOUCHER_MAX; i++) {
        struct evoucher_entry *e = &ev->entries[i];
        char hex[33], region[8];

        if (!e->code[0] || strcmp(e->code, code) != 0)
            continue;
        if (now_ms > e->code_expires)
            return NULL;
        if (!e->token[0]) {
            random_hex(hex, 32, ++ev->counter);
            memcpy(region, e->region, sizeof(region));
            snprintf(e->token, sizeof(e->token), "%.6sec%s", region, hex);
            e->token_expires = now_ms + EVOUCHER_TOKEN_TTL_MS;
        }
        return e;
    }
    return NULL;
}

const char *evoucher_token_person(const struct evoucher *ev, const char *token, uint64_t now_ms)
{
    for (size_t i = 0; i < EVOUCHER_MAX; i++) {
        const struct evoucher_entry *e = &ev->entries[i];

        if (e->token[0] && strcmp(e->token, token) == 0)
            return now_ms <= e->token_expires ? e->psn_no : NULL;
    }
    return NULL;
}
