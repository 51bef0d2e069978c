/* 2601 reversal (冲正): undoes whatever an earlier message did, found by its msgid, or, when
 * that message never arrived, records its msgid as reversed so it is refused if it comes. */
#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/msgid.h"
#include "core/str.h"
#include "sandbox/txn.h"

/* 1 when m's effect was undone, 0 when it had none this can undo, or -1 (refused). */
static int undo(struct txn *t, const struct ledger_msg *m)
{
    const char *e = m->effect;
    int rc = 0;

    if (strcmp(e, "visit") == 0 || strncmp(e, "state:", 6) == 0 || strcmp(e, "discharge") == 0 ||
        strncmp(e, "endtime:", 8) == 0)
        rc = visit_reverse(t, m);
    else if (strcmp(e, "uploads") == 0 || strcmp(e, "cancels") == 0)
        rc = fees_reverse(t, m);
    else if (strcmp(e, "settle") == 0)
        rc = settle_reverse(t, m->msgid);
    else if (strcmp(e, "cancel") == 0)
        rc = settle_unreverse_cancel(t, m->msgid);
    else
        return 0; /* a query, or a change of a visit's details (2203, 2403): not undone */
    return rc < 0 ? -1 : 1;
}

static void answer(struct txn *t, const char *omsgid, const char *oinfno, bool undone,
                   const char *memo)
{
    struct json_object *d = json_object_new_object();

    out_str(d, "omsgid", omsgid);
    out_str(d, "oinfno", oinfno);
    out_str(d, "rvs_rslt", undone ? "1" : "0");
    out_str(d, "memo", memo);
    t->output = json_object_new_object();
    json_object_object_add(t->output, "data", d);
}

int txn_2601_reverse(struct txn *t)
{
    struct json_object *d = txn_node(t, "data");
    const char *psn, *omsgid, *oinfno;
    struct ledger_msg m;
    struct sc_person *p = NULL;
    int rc;

    if (!d || txn_str(t, d, "data", "psn_no", BOUND_CODE, false, &psn) < 0 ||
        txn_str(t, d, "data", "omsgid", MSGID_LEN, true, &omsgid) < 0 ||
        txn_str(t, d, "data", "oinfno", 8, true, &oinfno) < 0 ||
        (psn[0] && txn_person(t, psn, &p) < 0))
        return -1;
    if (strlen(omsgid) != MSGID_LEN)
        return txn_refuse(t, "data.omsgid must be a 30-character msgid");
    if (strcmp(omsgid, t->env->head.msgid) == 0)
        return txn_refuse(t, "a reversal cannot reverse itself");
    rc = ledger_msg_get(t->sb->ledger, omsgid, &m);
    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0) {
        memset(&m, 0, sizeof(m));
        str_copy(m.msgid, sizeof(m.msgid), omsgid);
        str_copy(m.infno, sizeof(m.infno), oinfno);
        str_copy(m.psn_no, sizeof(m.psn_no), psn);
        snprintf(m.state, sizeof(m.state), "never");
        if ((rc = ledger_msg_put(t->sb->ledger, &m, t->now)) < 0)
            return txn_ledger_error(t, rc);
        answer(t, omsgid, oinfno, false,
               "the message never arrived: it is recorded as reversed and will be refused");
        return 0;
    }
    if (strcmp(m.infno, oinfno) != 0)
        return txn_refuse(t, "msgid %s was infno %s, not %s", omsgid, m.infno, oinfno);
    if (psn[0] && m.psn_no[0] && strcmp(m.psn_no, psn) != 0)
        return txn_refuse(t, "msgid %s is another person's message", omsgid);
    if (strcmp(m.state, "reversed") == 0 || strcmp(m.state, "never") == 0) {
        answer(t, omsgid, oinfno, false, "already reversed");
        return 0;
    }
    bool done = strcmp(m.state, "done") == 0;
    int undone = done ? undo(t, &m) : 0;

    if (undone < 0)
        return -1;
    snprintf(m.state, sizeof(m.state), "reversed");
    if ((rc = ledger_msg_put(t->sb->ledger, &m, t->now)) < 0)
        return txn_ledger_error(t, rc);
    answer(t, omsgid, oinfno, undone == 1,
           undone                                    ? "reversed"
           : done                                    ? "nothing this undoes: a query, or a change of "
                                                       "the visit's details (send the correction)"
                                                     : "it was refused: nothing to undo");
    return 0;
}
