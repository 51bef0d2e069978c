/* The journal's message state machine (architecture.md, "Durability and exactly-once") as
 * a transition table, and the kinds of messages: deferrable ones are retried until done;
 * interactive ones (registrations, settlements and their cancels) leave at most once per
 * idempotency key.
 *
 *   queued --send--> sent --answer ok--> done
 *                      |--answer refused--> refused
 *                      |--lost after the request left--> unknown
 *                      `--lost before it left--> queued (safe to send again)
 *   queued --abandon--> refused   (an interactive message the HIS would not wait for)
 *   unknown --query found--> done;  unknown --query absent--> reversed (2601 journaled)
 *   reversed --reversal refused--> unknown   (a settlement whose 2601 the platform refused:
 *                                              asked about once more, never reversed twice)
 */
#ifndef POSA_CORE_MSG_FSM_H
#define POSA_CORE_MSG_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum msg_state { MSG_QUEUED, MSG_SENT, MSG_DONE, MSG_REFUSED, MSG_UNKNOWN, MSG_REVERSED, MSG__MAX };

enum msg_event {
    MSG_EV_SEND,
    MSG_EV_ANSWER_OK,
    MSG_EV_ANSWER_REFUSED,
    MSG_EV_LOST_BEFORE,
    MSG_EV_LOST_AFTER,
    MSG_EV_ABANDON,
    MSG_EV_QUERY_FOUND,
    MSG_EV_QUERY_ABSENT,
    MSG_EV_RESTART, /* posad started and found the row in this state */
    MSG_EV_REVERSAL_REFUSED,
    MSG_EV_UNDONE, /* a done message the platform confirmed a 2601 of (the HIS's own) */
    MSG_EV__MAX
};

enum msg_kind {
    MSG_KIND_INTERACTIVE, /* answered to a waiting cashier; never sent twice */
    MSG_KIND_DEFERRABLE,  /* uploads: retried with backoff, in order per visit */
    MSG_KIND_QUERY,       /* reads (1101, 5203, ...): no side effect upstream */
};

/* The state after ev, or POSA_ESTATE when ev is not allowed in state. */
int msg_next(enum msg_state state, enum msg_event ev, enum msg_state *ret);

/* done, refused, reversed: posad sends nothing more for the row by itself (a reversed
 * settlement reopens only when the platform refuses its reversal). */
bool msg_state_is_final(enum msg_state state);
const char *msg_state_name(enum msg_state state); /* "queued", ... */
int msg_state_parse(const char *name, enum msg_state *ret);

/* Whether infno is the transaction code (four digits), or a province's suffixed form of it
 * ("2203A": one capital letter). */
bool msg_infno_is(const char *infno, const char *code);
/* The kind of a national transaction by infno ("2207", "2204A"); unknown infnos are
 * interactive, the safe default (never resent). */
enum msg_kind msg_kind_of(const char *infno);

/* Retry delay after attempts failures (0 and 1 both give the first delay): 1 s doubling to
 * a 5 min cap, plus a jitter of up to 25% of that delay drawn from random (any uint32 the
 * caller supplies), so at most 375 s. Jitter spreads the retries of many desks. */
#define MSG_BACKOFF_MAX_MS 375000
uint32_t msg_backoff_ms(uint32_t attempts, uint32_t random);

#endif
