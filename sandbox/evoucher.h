/* E-voucher codes (national-interface.md §5): /sandbox/qr issues a code for a person that
 * the decode service turns into an ecToken, which 1101 accepts with mdtrt_cert_type 01.
 * Codes live 60 s (monotonic time); tokens live for the process (a restart forgets them,
 * as a real platform's short-lived tokens would be gone). */
#ifndef POSA_SANDBOX_EVOUCHER_H
#define POSA_SANDBOX_EVOUCHER_H

#include <stddef.h>
#include <stdint.h>

#define EVOUCHER_MAX          4096
#define EVOUCHER_CODE_LEN     48
#define EVOUCHER_TOKEN_LEN    40
#define EVOUCHER_CODE_TTL_MS  60000
#define EVOUCHER_TOKEN_TTL_MS (4 * 3600 * 1000)

struct evoucher_entry {
    char code[EVOUCHER_CODE_LEN + 1];
    char token[EVOUCHER_TOKEN_LEN + 1];
    char psn_no[72];
    char region[8];
    uint64_t code_expires, token_expires; /* ms of the loop's monotonic clock */
};

struct evoucher {
    struct evoucher_entry entries[EVOUCHER_MAX];
    size_t next; /* ring: the oldest is overwritten */
    uint64_t counter;
};

/* Issues a fresh code for psn_no. */
const char *evoucher_issue(struct evoucher *ev, const char *psn_no, const char *region,
                           uint64_t now_ms);
/* Decodes a code into its entry (token made at the first decode); NULL when unknown or
 * expired. */
const struct evoucher_entry *evoucher_decode(struct evoucher *ev, const char *code,
                                             uint64_t now_ms);
/* The person of a live token, or NULL. */
const char *evoucher_token_person(const struct evoucher *ev, const char *token, uint64_t now_ms);

#endif
