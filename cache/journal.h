/* The journal of upstream messages, which is also the outbox (architecture.md,
 * "Durability and exactly-once"). Every state change goes through core's msg_next(), so
 * the table can only hold what the state machine allows. Times are Unix milliseconds,
 * passed in by the caller. Runs inside the caller's transaction (agent/db_worker.c groups
 * many of these calls into one commit). */
#ifndef POSA_CACHE_JOURNAL_H
#define POSA_CACHE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg_fsm.h"
#include "core/msgid.h"

struct db;

#define JOURNAL_INFNO_MAX 8 /* "2203A" and friends */

/* A message to journal. Strings are borrowed for the call; NULL means absent. */
struct journal_new {
    const char *msgid;     /* required, unique */
    const char *infno;     /* required; its kind comes from core's msg_kind_of() */
    const char *idem_key;  /* the caller's idempotency key, unique when present */
    const char *idem_hash; /* a digest of the caller's body, to tell a CONFLICT */
    const char *visit_key; /* rows of one visit drain in order; NULL = "" (no visit) */
    const char *ref_msgid; /* 2601 / 5203: the message this one is about */
    const char *ord_of;    /* take this msgid's place in its visit's order (a reversal or
                              a resend standing in for it); NULL = its own, last */
    const char *request;   /* the envelope */
    size_t request_len;
    bool send_now;        /* journal it as already `sent` (queued + MSG_EV_SEND, one row
                             write): the caller sends it right after the commit */
    int64_t next_attempt; /* when the outbox may first send it (ms) */
    /* A resend standing in for a message (resolve.c): the attempts and the first time of
     * the message it resends, so its backoff and age go on from them. 0: a new message. */
    uint32_t attempts;
    int64_t created_at;
};

/* One row read back. Owns its strings: free with journal_row_free(). */
struct journal_row {
    int64_t seq;
    int64_t ord;
    char msgid[MSGID_LEN + 1];
    char infno[JOURNAL_INFNO_MAX + 1];
    enum msg_kind kind;
    enum msg_state state;
    char *idem_key; /* NULL when absent, as below */
    char *idem_hash;
    char *visit_key; /* "" when none */
    char *ref_msgid;
    char *request;
    size_t request_len;
    char *response;
    size_t response_len;
    /* Its sealed request or response does not open (the file is damaged): request "",
     * response NULL. Only lists (journal_due, journal_list, journal_settlements_since) give
     * such a row, so that one damaged row stops no other; journal_get is POSA_ECORRUPT. */
    bool damaged;
#define JOURNAL_DAMAGED "its sealed request or answer does not open: the database file is damaged"
    char *last_error;
    uint32_t attempts;
    int64_t next_attempt;
    int64_t created_at;
    int64_t updated_at;
};

void journal_row_free(struct journal_row *row); /* NULL is a no-op */

/* What an event brings along; every field optional (NULL / 0 leave the column as is). */
struct journal_outcome {
    const char *request; /* the envelope as it now leaves (re-stamped sign_no) */
    size_t request_len;
    const char *response; /* the platform's answer */
    size_t response_len;
    const char *last_error;
    int64_t next_attempt; /* > 0: when to try again (with MSG_EV_LOST_BEFORE) */
};

/* Inserts a row in state queued (or sent, see send_now). POSA_EEXISTS when the msgid or
 * the idempotency key is already journaled; POSA_EFIELD on a missing or oversized field. */
int journal_insert(struct db *db, const struct journal_new *in, int64_t now);

/* Applies ev to the row's state through msg_next(). MSG_EV_SEND also counts an attempt.
 * POSA_ENOTFOUND, or POSA_ESTATE when the state machine does not allow ev (the row is left
 * as it was). ret_state (may be NULL) gets the new state. */
int journal_apply(struct db *db, const char *msgid, enum msg_event ev,
                  const struct journal_outcome *out, int64_t now, enum msg_state *ret_state);

/* At start: every row in a state that MSG_EV_RESTART moves (rows left `sent` by a crash
 * become `unknown`) is moved. ret_count (may be NULL) gets how many. */
int journal_restart(struct db *db, int64_t now, int *ret_count);

/* Forgets the idempotency key of a row (the key may then be journaled again): for a message
 * abandoned before it ever reached the platform, which the caller may try once more. */
int journal_release_idem(struct db *db, const char *msgid);

int journal_get(struct db *db, const char *msgid, struct journal_row **ret);

/* An operator's "retry now" of a queued row: due at now. POSA_ENOTFOUND, or POSA_ESTATE
 * when the row is not queued (a sent or unknown one is the resolver's, a final one final). */
int journal_retry_now(struct db *db, const char *msgid, int64_t now);
int journal_get_by_idem(struct db *db, const char *idem_key, struct journal_row **ret);
/* Of the rows done whose idem_key begins with prefix_a or prefix_b, or that stand in for
 * such a row (sent again under another msgid after it was reversed): how many there are, and
 * the latest one's key, a stand-in's the row's it stands in for (into ret_key, cap bytes; ""
 * when there is none). */
int journal_done_keyed(struct db *db, const char *prefix_a, const char *prefix_b, char *ret_key,
                       size_t cap, int *ret_count);
/* The row journaled to stand in for msgid (the same message again under a new msgid, after
 * msgid was reversed or refused for its session): the latest such row, or POSA_ENOTFOUND. */
int journal_get_standin(struct db *db, const char *msgid, const char *infno,
                        struct journal_row **ret);

/* The state of the reversal that decides msgid's fate: its 2601, or, when that 2601 was
 * sent again (reversed, or refused for a lost session), the one sent in its place (followed
 * to the last).
 * POSA_ENOTFOUND when msgid has none. */
int journal_reversal_state(struct db *db, const char *msgid, enum msg_state *ret);

typedef int (*journal_row_cb)(const struct journal_row *row, void *data);

/* The outbox: queued rows due at now, oldest first, at most limit, skipping any row whose
 * visit has an earlier (by ord, then seq) row not yet final (messages of one visit go in order, one
 * at a time). cb returns non-zero to stop (that value is returned). */
int journal_due(struct db *db, int64_t now, int limit, journal_row_cb cb, void *data);

/* Takes a queued row out of the outbox's way (due in the year 9999, until a retry or
 * journal_due_rebase at the next start makes it due again), its last_error why: a damaged
 * one (JOURNAL_DAMAGED), or one that would only meet the same end again. */
int journal_park(struct db *db, const char *msgid, int64_t now, const char *why);

/* The earliest next_attempt of a queued row (ms), or 0 when none is queued: when the
 * outbox timer should fire next. */
int journal_next_due(struct db *db, int64_t *ret);

/* Makes every queued row due later than horizon due at now: a retry the wall clock put
 * further ahead than any backoff was scheduled before the clock was set back. *ret_moved
 * counts them. One seek on journal_due when there is none. */
int journal_due_rebase(struct db *db, int64_t now, int64_t horizon, int *ret_moved);

/* Rows in state (any non-final state but queries' when state is MSG__MAX), in
 * journal order, starting after seq after_seq, at most limit: GET /v1/queue and the resolver. */
int journal_list(struct db *db, enum msg_state state, int64_t after_seq, int limit,
                 journal_row_cb cb, void *data);

/* Is there any row of this visit not yet final (queued, sent or unknown)? A new message of
 * the visit then waits behind it. */
int journal_visit_open(struct db *db, const char *visit_key, bool *ret);
/* Is a fee cancel (2205, 2302) of this visit not yet final? Its lines are not yet known to be
 * off the platform's bill. */
int journal_visit_cancel_open(struct db *db, const char *visit_key, bool *ret);
/* Is a settlement cancel (2208, 2305) of this visit, or its reversal, not yet final? The
 * settlement may yet turn out cancelled. */
int journal_visit_refund_open(struct db *db, const char *visit_key, bool *ret);
/* The first message of row's visit that goes before it and is not yet final (queries left
 * out, as in journal_list): what a queued row waits behind. 0, or POSA_ENOTFOUND. */
int journal_ahead(struct db *db, const struct journal_row *row, char msgid[MSGID_LEN + 1],
                  char infno[JOURNAL_INFNO_MAX + 1]);
/* msgid's last_error into buf (cap bytes, cut short if longer); "" when it has none.
 * 0, or POSA_ENOTFOUND. */
int journal_last_error(struct db *db, const char *msgid, char *buf, size_t cap);

struct journal_stats {
    int64_t depth;     /* rows not final, queries left out as in journal_list */
    int64_t unknown;   /* rows unknown */
    int64_t oldest_at; /* created_at of the oldest non-final row, 0 when none */
};
int journal_stats(struct db *db, struct journal_stats *ret);

/* Settlements, their cancels and reversals (2207, 2304, 2208, 2305, 2601) that are done and
 * were last updated (answered, or resolved) at or after since (Unix ms), in journal order:
 * what a day's reconciliation looks through (a settlement is done at or after the
 * platform's setl_time, so every settlement of the day is among them). */
int journal_settlements_since(struct db *db, int64_t since, journal_row_cb cb, void *data);

/* Calls cb with the msgid of each settlement journaled in [from, to) (Unix ms) whose outcome
 * is not known yet (queued, sent, unknown), and of each cancel and reversal on its way of any
 * day (a refund counts against its settlement's day, however long before): a period cannot
 * be said to reconcile while any is. cb's error stops the walk and is returned. */
int journal_settlements_open(struct db *db, int64_t from, int64_t to,
                             int (*cb)(const char *msgid, void *data), void *data);

/* The greatest msgid journaled (seeds core's msgid generator across restarts); "" when the
 * journal is empty. */
int journal_last_msgid(struct db *db, char ret[MSGID_LEN + 1]);

#endif
