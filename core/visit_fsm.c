/* A visit's state machine as data. */
#include "core/visit_fsm.h"

#include <stdint.h>
#include <string.h>

#include "core/err.h"

/* Entries are next state + 1, so the default 0 means "not allowed here". */
static const uint8_t next_plus1[VISIT__MAX][VISIT_EV__MAX] = {
    [VISIT_OPEN] = {[VISIT_EV_FEES] = VISIT_BILLED + 1, [VISIT_EV_CANCEL] = VISIT_CLOSED + 1},
    [VISIT_BILLED] = {[VISIT_EV_FEES] = VISIT_BILLED + 1,
                      [VISIT_EV_FEES_CLEARED] = VISIT_OPEN + 1,
                      [VISIT_EV_SETTLE] = VISIT_SETTLING + 1,
                      [VISIT_EV_CANCEL] = VISIT_CLOSED + 1},
    [VISIT_SETTLING] = {[VISIT_EV_SETTLE_OK] = VISIT_SETTLED + 1,
                        [VISIT_EV_SETTLE_FAILED] = VISIT_BILLED + 1},
    [VISIT_SETTLED] = {[VISIT_EV_SETTLEMENT_CANCELLED] = VISIT_BILLED + 1},
};

static const char *const state_names[VISIT__MAX] = {
    [VISIT_OPEN] = "open",         [VISIT_BILLED] = "billed", [VISIT_SETTLING] = "settling",
    [VISIT_SETTLED] = "settled",   [VISIT_CLOSED] = "closed",
};

int visit_next(enum visit_state state, enum visit_event ev, enum visit_state *ret)
{
    if ((unsigned)state >= VISIT__MAX || (unsigned)ev >= VISIT_EV__MAX || !next_plus1[state][ev])
        return POSA_ESTATE;
    *ret = (enum visit_state)(next_plus1[state][ev] - 1);
    return 0;
}

const char *visit_state_name(enum visit_state state)
{
    return (unsigned)state < VISIT__MAX ? state_names[state] : "invalid";
}

int visit_state_parse(const char *name, enum visit_state *ret)
{
    for (int i = 0; i < VISIT__MAX; i++) {
        if (name && strcmp(name, state_names[i]) == 0) {
            *ret = (enum visit_state)i;
            return 0;
        }
    }
    return POSA_EFIELD;
}
