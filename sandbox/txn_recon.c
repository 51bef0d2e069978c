/* Reconciliation: 3201 totals of a period by insutype / clearing type / insured region, and
 * 3202 detail reconciliation. 3202 here takes the hospital's rows inline, as
 * data.detail[]{psn_no, mdtrt_id, setl_id, msgid, medfee_sumamt, fund_pay_sumamt, acct_pay,
 * refd_setl_flag}, instead of a file uploaded through 9101 (the sandbox has no file
 * service); it answers output.detail[] with one row per row sent (stmt_rslt "0" match, "1"
 * mismatch or unknown here, memo says which) and output.platform_only[] with the active
 * settlements of the period the hospital did not send. */
#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/str.h"
#include "sandbox/txn.h"

#define RECON_ROWS_MAX 20000

static int period(struct txn *t, struct json_object *d, int32_t *from, int32_t *to)
{
    int64_t b, e;

    if (txn_time(t, d, "data", "stmt_begndate", 0, &b) < 0 ||
        txn_time(t, d, "data", "stmt_enddate", 0, &e) < 0)
        return -1;
    if (!b || !e)
        return txn_refuse(t, "data.stmt_begndate and data.stmt_enddate are required");
    *from = (int32_t)(b / 1000000);
    *to = (int32_t)(e / 1000000);
    if (*to < *from)
        return txn_refuse(t, "data.stmt_enddate is before data.stmt_begndate");
    return 0;
}

int txn_3201_totals(struct txn *t)
{
    struct json_object *d = txn_node(t, "data"), *s;
    struct ledger_recon_query q = {0};
    struct ledger_recon_totals have = {0};
    int64_t medfee = 0, fund = 0, acct = 0, cnt = 0;
    char dscr[256];
    int rc;

    if (!d || txn_str(t, d, "data", "insutype", 3, false, &q.insutype) < 0 ||
        txn_str(t, d, "data", "clr_type", 4, false, &q.clr_type) < 0 ||
        txn_str(t, d, "data", "setl_optins", 6, false, &q.setl_optins) < 0 ||
        period(t, d, &q.from, &q.to) < 0 ||
        txn_dec(t, d, "data", "medfee_sumamt", DEC_MONEY, true, &medfee) < 0 ||
        txn_dec(t, d, "data", "fund_pay_sumamt", DEC_MONEY, true, &fund) < 0 ||
        txn_dec(t, d, "data", "acct_pay", DEC_MONEY, false, &acct) < 0 ||
        txn_dec(t, d, "data", "fixmedins_setl_cnt", 0, true, &cnt) < 0)
        return -1;
    if ((rc = ledger_recon_totals(t->sb->ledger, &q, &have)) < 0)
        return txn_ledger_error(t, rc);
    bool match =
        have.count == cnt && have.medfee == medfee && have.fund == fund && have.acct_pay == acct;
    snprintf(dscr, sizeof(dscr), "%s: the platform has %lld settlement%s",
             match ? "match" : "mismatch", (long long)have.count, have.count == 1 ? "" : "s");
    t->output = json_object_new_object();
    s = json_object_new_object();
    out_str(s, "setl_optins", q.setl_optins);
    out_str(s, "stmt_rslt", match ? "0" : "1");
    out_str(s, "stmt_rslt_dscr", dscr);
    out_money(s, "medfee_sumamt", have.medfee);
    out_money(s, "fund_pay_sumamt", have.fund);
    out_money(s, "acct_pay", have.acct_pay);
    json_object_object_add(s, "fixmedins_setl_cnt", json_object_new_int64(have.count));
    json_object_object_add(t->output, "stmtinfo", s);
    return 0;
}

/* One hospital row against the ledger. */
static int detail_row(struct txn *t, struct json_object *row, size_t i, struct json_object *out)
{
    const char *psn, *mdtrt_id, *setl_id, *msgid, *refd;
    int64_t medfee = 0, fund = 0, acct = 0;
    struct ledger_settlement s = {0};
    struct json_object *r;
    char where[32], memo[200] = "";
    int rc;

    str_index(where, sizeof(where), "data.detail", i);
    if (txn_str(t, row, where, "psn_no", BOUND_CODE, false, &psn) < 0 ||
        txn_str(t, row, where, "mdtrt_id", BOUND_CODE, false, &mdtrt_id) < 0 ||
        txn_str(t, row, where, "setl_id", BOUND_CODE, true, &setl_id) < 0 ||
        txn_str(t, row, where, "msgid", BOUND_CODE, false, &msgid) < 0 ||
        txn_str(t, row, where, "refd_setl_flag", 1, false, &refd) < 0 ||
        txn_dec(t, row, where, "medfee_sumamt", DEC_MONEY, true, &medfee) < 0 ||
        txn_dec(t, row, where, "fund_pay_sumamt", DEC_MONEY, true, &fund) < 0 ||
        txn_dec(t, row, where, "acct_pay", DEC_MONEY, false, &acct) < 0)
        return -1;
    rc = ledger_settlement_get(t->sb->ledger, setl_id, &s);
    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0)
        snprintf(memo, sizeof(memo), "unknown to the platform");
    else if (strcmp(s.state, "active") != 0)
        snprintf(memo, sizeof(memo), "%s on the platform", s.state);
    else if (s.medfee != medfee || s.fund != fund || s.acct_pay != acct)
        snprintf(memo, sizeof(memo), "amounts differ%s%s%s", s.medfee != medfee ? " medfee" : "",
                 s.fund != fund ? " fund" : "", s.acct_pay != acct ? " acct_pay" : "");
    else if (msgid[0] && strcmp(msgid, s.msgid) != 0)
        snprintf(memo, sizeof(memo), "msgid differs");
    ledger_settlement_free(&s);
    r = json_object_new_object();
    out_str(r, "psn_no", psn);
    out_str(r, "mdtrt_id", mdtrt_id);
    out_str(r, "setl_id", setl_id);
    out_str(r, "msgid", msgid);
    out_str(r, "stmt_rslt", memo[0] ? "1" : "0");
    out_str(r, "refd_setl_flag", refd[0] ? refd : "0");
    out_str(r, "memo", memo);
    out_money(r, "medfee_sumamt", medfee);
    out_money(r, "fund_pay_sumamt", fund);
    out_money(r, "acct_pay", acct);
    json_object_array_add(out, r);
    return 0;
}

struct platform_only {
    struct json_object *sent; /* the hospital's rows */
    struct json_object *out;
    int32_t from, to;
    const char *clr_type;
};

static void add_platform_only(const struct ledger_settlement *s, void *data)
{
    struct platform_only *po = data;
    int32_t date = (int32_t)(s->setl_time / 1000000);
    struct json_object *r;

    if (strcmp(s->state, "active") != 0 || date < po->from || date > po->to ||
        (po->clr_type[0] && strcmp(po->clr_type, s->clr_type) != 0))
        return;
    for (size_t i = 0; i < txn_list_len(po->sent); i++) {
        struct json_object *v = NULL;

        if (json_object_object_get_ex(txn_list_get(po->sent, i), "setl_id", &v) &&
            strcmp(json_object_get_string(v), s->setl_id) == 0)
            return;
    }
    r = json_object_new_object();
    out_str(r, "psn_no", s->psn_no);
    out_str(r, "mdtrt_id", s->mdtrt_id);
    out_str(r, "setl_id", s->setl_id);
    out_str(r, "msgid", s->msgid);
    out_money(r, "medfee_sumamt", s->medfee);
    out_money(r, "fund_pay_sumamt", s->fund);
    out_money(r, "acct_pay", s->acct_pay);
    json_object_array_add(po->out, r);
}

int txn_3202_detail(struct txn *t)
{
    struct json_object *d = txn_node(t, "data"), *rows, *detail, *only;
    struct platform_only po = {0};
    const char *file;

    if (!d || txn_str(t, d, "data", "clr_type", 4, false, &po.clr_type) < 0 ||
        txn_str(t, d, "data", "file_qury_no", BOUND_CODE, false, &file) < 0 ||
        period(t, d, &po.from, &po.to) < 0)
        return -1;
    if (!json_object_object_get_ex(d, "detail", &rows) ||
        !json_object_is_type(rows, json_type_array))
        return txn_refuse(t, "this platform takes the detail inline as data.detail[] (it has no "
                             "file service)");
    if (json_object_array_length(rows) > RECON_ROWS_MAX)
        return txn_refuse(t, "data.detail has more than %d rows", RECON_ROWS_MAX);
    detail = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        if (detail_row(t, json_object_array_get_idx(rows, i), i, detail) < 0) {
            json_object_put(detail);
            return -1;
        }
    }
    only = json_object_new_array();
    po.sent = rows;
    po.out = only;
    if (ledger_settlements_each(t->sb->ledger, add_platform_only, &po) < 0) {
        json_object_put(detail);
        json_object_put(only);
        return txn_ledger_error(t, -5);
    }
    t->output = json_object_new_object();
    json_object_object_add(t->output, "detail", detail);
    json_object_object_add(t->output, "platform_only", only);
    return 0;
}
