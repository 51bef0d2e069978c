/* National message ids: fixmedins_code (12) + yyyyMMddHHmmss (14) + a 4-digit sequence = 30
 * characters. Unique across restarts: the generator never goes back in time (a clock set back
 * keeps using the last second) and is seeded with the last id issued before a restart.
 * Unique across the posads of one institution (one per cashier PC, each with its readers)
 * only when each has a terminal digit of its own: the sequence's first digit, leaving 1,000
 * ids a second to each. Without one, the whole 0000-9999 is this posad's. */
#ifndef POSA_CORE_MSGID_H
#define POSA_CORE_MSGID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSGID_LEN 30
#define MSGID_CODE_LEN 12
#define MSGID_SEQ_MAX 9999

#define MSGID_NO_TERMINAL (-1)

struct msgid_gen {
    char code[MSGID_CODE_LEN + 1];
    int terminal;      /* 0..9, or MSGID_NO_TERMINAL */
    int64_t last_time; /* yyyymmddHHMMSS of the last id */
    uint32_t last_seq; /* its sequence, 0..9999 */
};

/* code must be 12 characters [A-Za-z0-9]; terminal 0..9 or MSGID_NO_TERMINAL. last_issued
 * is the last msgid issued before this process (from the journal), or NULL. POSA_EFIELD on
 * a bad code, terminal or last id. */
int msgid_gen_init(struct msgid_gen *gen, const char *code, int terminal, const char *last_issued);

/* Writes the next id (NUL-terminated) for the time now (yyyymmddHHMMSS). Within one second
 * up to 10,000 ids (1,000 with a terminal); then the next second's, ahead of the clock. */
int msgid_next(struct msgid_gen *gen, int64_t now, char ret[MSGID_LEN + 1]);

/* Checks an id's shape (what the sandbox validates): 30 chars, code chars, a real time,
 * 4 digits. On success the code must match expect_code unless that is NULL. */
bool msgid_is_valid(const char *msgid, size_t len, const char *expect_code);

/* Was msgid made by another terminal of gen's institution (a valid id of its code whose
 * sequence starts with another digit)? Never when gen has no terminal: then every id of the
 * code is its own. */
bool msgid_of_other_terminal(const struct msgid_gen *gen, const char *msgid);

#endif
