/* 9001 sign-in and 9002 sign-out: sign_no values every later message must carry. */
#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "sandbox/txn.h"

int txn_9001_sign_in(struct txn *t)
{
    struct json_object *in = txn_node(t, "signIn"), *out;
    const char *opter = "";
    char sign_no[LEDGER_ID];
    int64_t seq;
    int rc;

    if (!in || txn_str(t, in, "signIn", "opter_no", BOUND_CODE, false, &opter) < 0)
        return -1;
    if ((rc = ledger_next_seq(t->sb->ledger, "sign_no", &seq)) < 0)
        return txn_ledger_error(t, rc);
    snprintf(sign_no, sizeof(sign_no), "%014lld%06lld", (long long)t->now, (long long)seq);
    if ((rc = ledger_signin_add(t->sb->ledger, sign_no, opter, t->now)) < 0)
        return txn_ledger_error(t, rc);
    t->output = json_object_new_object();
    out = json_object_new_object();
    out_time(out, "sign_time", t->now);
    out_str(out, "sign_no", sign_no);
    json_object_object_add(t->output, "signinoutb", out);
    return 0;
}

int txn_9002_sign_out(struct txn *t)
{
    struct json_object *in = txn_node(t, "signOut"), *out;
    const char *sign_no;
    int rc;

    if (!in || txn_str(t, in, "signOut", "sign_no", BOUND_CODE, true, &sign_no) < 0)
        return -1;
    rc = ledger_signin_is_open(t->sb->ledger, sign_no);
    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0)
        return txn_refuse(t, "sign_no %s is not signed in", sign_no);
    if ((rc = ledger_signin_close(t->sb->ledger, sign_no)) < 0)
        return txn_ledger_error(t, rc);
    t->output = json_object_new_object();
    out = json_object_new_object();
    out_time(out, "sign_time", t->now);
    out_str(out, "sign_no", sign_no);
    json_object_object_add(t->output, "signoutoutb", out);
    return 0;
}
