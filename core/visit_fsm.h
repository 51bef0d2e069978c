/* A visit's life as a transition table: what the HIS may do next, and why not otherwise.
 *
 *   open --fees--> billed --fees--> billed;  billed --fees cancelled (all)--> open
 *   billed --settle--> settling --ok--> settled
 *                      settling --refused / reversed--> billed  (nothing was paid)
 *   settled --settlement cancelled--> billed  (refund, then settle again)
 *   open | billed --visit cancelled--> closed
 * While a visit is settling (an outcome unknown, being resolved), no new settlement starts:
 * sending one would risk paying twice. */
#ifndef POSA_CORE_VISIT_FSM_H
#define POSA_CORE_VISIT_FSM_H

enum visit_state { VISIT_OPEN, VISIT_BILLED, VISIT_SETTLING, VISIT_SETTLED, VISIT_CLOSED, VISIT__MAX };

enum visit_event {
    VISIT_EV_FEES,              /* lines uploaded */
    VISIT_EV_FEES_CLEARED,      /* every line cancelled */
    VISIT_EV_SETTLE,            /* a settlement intent journaled */
    VISIT_EV_SETTLE_OK,
    VISIT_EV_SETTLE_FAILED,     /* refused, or found absent and reversed */
    VISIT_EV_SETTLEMENT_CANCELLED,
    VISIT_EV_CANCEL,            /* the visit itself cancelled (2202 / 2404) */
    VISIT_EV__MAX
};

/* The state after ev, or POSA_ESTATE when ev is not allowed in state. */
int visit_next(enum visit_state state, enum visit_event ev, enum visit_state *ret);

const char *visit_state_name(enum visit_state state); /* "open", "billed", ... */
int visit_state_parse(const char *name, enum visit_state *ret);

#endif
