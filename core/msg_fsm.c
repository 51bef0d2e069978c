/* The journal's message state machine as data, and the kinds of national transactions. */
#include "core/msg_fsm.h"

#include <string.h>

#include "core/err.h"

/* Entries are next state + 1, so the default 0 means "not allowed here". */
static const uint8_t next_plus1[MSG__MAX][MSG_EV__MAX] = {
    [MSG_QUEUED] = {[MSG_EV_SEND] = MSG_SENT + 1,
                    [MSG_EV_ABANDON] = MSG_REFUSED + 1,
                    [MSG_EV_RESTART] = MSG_QUEUED + 1},
    [MSG_SENT] = {[MSG_EV_ANSWER_OK] = MSG_DONE + 1,
                  [MSG_EV_ANSWER_REFUSED] = MSG_REFUSED + 1,
                  [MSG_EV_LOST_BEFORE] = MSG_QUEUED + 1, /* never left: safe to send again */
                  [MSG_EV_LOST_AFTER] = MSG_UNKNOWN + 1, /* may have landed: never resend */
                  [MSG_EV_RESTART] = MSG_UNKNOWN + 1},   /* a crash while it was out */
    [MSG_UNKNOWN] = {[MSG_EV_QUERY_FOUND] = MSG_DONE + 1,
                     [MSG_EV_QUERY_ABSENT] = MSG_REVERSED + 1,
                     [MSG_EV_RESTART] = MSG_UNKNOWN + 1},
    [MSG_DONE] = {[MSG_EV_RESTART] = MSG_DONE + 1, [MSG_EV_UNDONE] = MSG_REVERSED + 1},
    [MSG_REFUSED] = {[MSG_EV_RESTART] = MSG_REFUSED + 1},
    [MSG_REVERSED] =
        {[MSG_EV_RESTART] = MSG_REVERSED + 1, [MSG_EV_REVERSAL_REFUSED] = MSG_UNKNOWN + 1},
};

int msg_next(enum msg_state state, enum msg_event ev, enum msg_state *ret)
{
    if ((unsigned)state >= MSG__MAX || (unsigned)ev >= MSG_EV__MAX || !next_plus1[state][ev])
        return POSA_ESTATE;
    *ret = (enum msg_state)(next_plus1[state][ev] - 1);
    return 0;
}

bool msg_state_is_final(enum msg_state state)
{
    return state == MSG_DONE || state == MSG_REFUSED || state == MSG_REVERSED;
}

static const char *const state_names[MSG__MAX] = {
    [MSG_QUEUED] = "queued", [MSG_SENT] = "sent",         [MSG_DONE] = "done",
    [MSG_REFUSED] = "refused", [MSG_UNKNOWN] = "unknown", [MSG_REVERSED] = "reversed",
};

const char *msg_state_name(enum msg_state state)
{
    return (unsigned)state < MSG__MAX ? state_names[state] : "invalid";
}

int msg_state_parse(const char *name, enum msg_state *ret)
{
    for (int i = 0; i < MSG__MAX; i++) {
        if (name && strcmp(name, state_names[i]) == 0) {
            *ret = (enum msg_state)i;
            return 0;
        }
    }
    return POSA_EFIELD;
}

/* Uploads whose answer no cashier waits on: queued and drained in order per visit.
 * Registrations (2201, 2401) are not among them: they return the mdtrt_id every later
 * message needs, and a second admission must never be created by a resend. */
static const char *const deferrable_infnos[] = {
    "2202", "2203", "2204", "2205", "2301", "2302", "2402", "2403", "2404", "2405", "2601",
    "4101", "4102",
};

/* Reads and estimates: no side effect upstream, safe to repeat. */
static const char *const query_infnos[] = {
    "1101", "1312", "2206", "2303", "3201", "3202", "5203", "5205", "9001", "9002",
};

bool msg_infno_is(const char *infno, const char *code)
{
    size_t len = strlen(infno);

    return strncmp(infno, code, 4) == 0 && len >= 4 &&
           (len == 4 || (len == 5 && infno[4] >= 'A' && infno[4] <= 'Z'));
}

static bool in_list(const char *infno, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (msg_infno_is(infno, list[i]))
            return true;
    return false;
}

enum msg_kind msg_kind_of(const char *infno)
{
    if (!infno)
        return MSG_KIND_INTERACTIVE;
    if (in_list(infno, deferrable_infnos, sizeof deferrable_infnos / sizeof deferrable_infnos[0]))
        return MSG_KIND_DEFERRABLE;
    if (in_list(infno, query_infnos, sizeof query_infnos / sizeof query_infnos[0]))
        return MSG_KIND_QUERY;
    return MSG_KIND_INTERACTIVE; /* 2201, 2207, 2208, 2304, 2305, 2401, anything unknown */
}

uint32_t msg_backoff_ms(uint32_t attempts, uint32_t random)
{
    const uint32_t base_ms = 1000, cap_ms = 300000;
    /* 1 s after the first failure, doubling; 2^9 s is past the cap already. */
    uint32_t doublings = attempts > 1 ? attempts - 1 : 0;
    uint32_t delay = doublings >= 9 ? cap_ms : base_ms << doublings;

    if (delay > cap_ms)
        delay = cap_ms;
    return delay + random % (delay / 4 + 1);
}
