/* Settlement: pre-settlement and settlement (2206/2207 outpatient, 2303/2304 inpatient) by
 * core's policy engine over the visit's unsettled lines, with the person's year
 * accumulations and account moved on settle and moved back on cancel (2208/2305) or
 * reversal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"
#include "interface/json/jsontext.h"
#include "sandbox/txn.h"

/* Everything one settlement needs, gathered from the input, the scenario and the ledger. */
struct settle_ctx {
    struct sc_person *p;
    struct ledger_visit v;
    const struct sc_region *region;
    const char *optins; /* the insured region of the visit's insurance type */
    const char *bchno;
    const char *cert_type;
    int64_t medfee;
    int64_t dscg_time; /* a stay's 2303/2304 data.dscg_time (yyyymmddHHMMSS), or 0 */
    int64_t balance;
    int32_t year;
    struct policy_input in;
    struct policy_accum accum;
    struct policy_result r;
    uint8_t *cover; /* a settlement's: the lines it settles (ledger_fees_unsettled) */
    size_t cover_len;
};

static const char *const money_keys[] = {
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",  "inscp_scp_amt",
    "act_pay_dedc",  "hifp_pay",          "cvlserv_pay",     "hifes_pay",       "hifmi_pay",
    "hifob_pay",     "maf_pay",           "oth_pay",         "fund_pay_sumamt", "psn_part_amt",
    "acct_pay",      "psn_cash_pay",      "hosp_part_amt",   "acct_mulaid_pay",
};

static int gather_input(struct txn *t, bool inpatient, struct settle_ctx *c)
{
    struct json_object *d = txn_node(t, "data");
    const char *psn, *mdtrt_id, *insutype, *acct, *med_type, *dscg = "";

    if (!d || txn_str(t, d, "data", "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, d, "data", "mdtrt_id", BOUND_CODE, true, &mdtrt_id) < 0 ||
        txn_str(t, d, "data", "insutype", 3, false, &insutype) < 0 ||
        txn_str(t, d, "data", "acct_used_flag", 1, false, &acct) < 0 ||
        txn_str(t, d, "data", "mdtrt_cert_type", 2, false, &c->cert_type) < 0 ||
        txn_str(t, d, "data", "chrg_bchno", BOUND_CODE, false, &c->bchno) < 0 ||
        /* an outpatient settlement's med_type decides 普通门诊 from 慢特病: required */
        txn_str(t, d, "data", "med_type", 6, !inpatient, &med_type) < 0 ||
        txn_dec(t, d, "data", "medfee_sumamt", DEC_MONEY, true, &c->medfee) < 0 ||
        txn_person(t, psn, &c->p) < 0 || txn_visit(t, mdtrt_id, c->p, inpatient, &c->v) < 0)
        return -1;
    if (inpatient && txn_str(t, d, "data", "dscg_time", 19, false, &dscg) < 0)
        return -1;
    if (dscg[0] && datetime_parse(dscg, strlen(dscg), &c->dscg_time) < 0)
        return txn_refuse(t, "data.dscg_time %s is not a time (YYYY-MM-DD HH:MM:SS)", dscg);
    if (insutype[0] && strcmp(insutype, c->v.insutype) != 0)
        return txn_refuse(t, "data.insutype %s is not the visit's %s", insutype, c->v.insutype);
    if (!inpatient && c->v.med_type[0] && strcmp(med_type, c->v.med_type) != 0)
        return txn_refuse(t, "data.med_type %s is not the visit's %s", med_type, c->v.med_type);
    if (inpatient || strcmp(c->bchno, "0000") == 0)
        c->bchno = "";
    c->in.use_account = strcmp(acct, "1") == 0;
    return 0;
}

/* The lines to settle, their totals and (commit) their record for the settlement. */
static int gather_totals(struct txn *t, struct settle_ctx *c, bool commit)
{
    char want[DEC_FORMAT_MAX], have[DEC_FORMAT_MAX];
    int count = 0;
    int rc = ledger_fees_unsettled(t->sb->ledger, c->v.mdtrt_id, c->bchno[0] ? c->bchno : NULL,
                                   &c->in.totals, &count, commit ? &c->cover : NULL, &c->cover_len);

    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (count == 0)
        return txn_refuse(t, "visit %s has no unsettled fee lines: upload them before settling",
                          c->v.mdtrt_id);
    if (c->medfee != c->in.totals.amount) {
        money_format(c->medfee, want, sizeof(want));
        money_format(c->in.totals.amount, have, sizeof(have));
        return txn_refuse(t, "data.medfee_sumamt %s differs from the uploaded lines' total %s",
                          want, have);
    }
    return 0;
}

static int gather_policy(struct txn *t, bool inpatient, struct settle_ctx *c)
{
    struct filing eff[BOUND_FILINGS];
    const struct filing *used;
    int32_t today = (int32_t)(t->now / 1000000);
    struct filing_query q = {.inpatient = inpatient,
                             .emergency = c->v.emergency,
                             .begin_date = (int32_t)(c->v.begntime / 1000000),
                             .settle_date = today};
    int rc;

    c->optins = scenario_person_region(c->p, c->v.insutype);
    c->region = c->optins ? scenario_region(&t->sb->scenario, c->optins) : NULL;
    if (!c->region)
        return txn_refuse(t,
                          "the insured region of insurance type %s has no policy on this "
                          "platform",
                          c->v.insutype);
    c->in.filing = FILING_LONG_TERM;
    if (q.settle_date < q.begin_date)
        q.settle_date = q.begin_date;
    if (!scenario_is_local(&t->sb->scenario, c->optins) &&
        filing_resolve(eff, scenario_effective_filings(c->p, eff), &q, &c->in.filing, &used) < 0)
        return txn_refuse(t,
                          "%s has no valid cross-province filing for this %s and it is not an "
                          "emergency: no direct settlement",
                          c->p->psn_no, inpatient ? "stay" : "visit");
    /* §41: a stay across the new year is one sum in the year of its discharge, however late
     * it is settled: the one recorded, or before it (a presettle) the one the message gives. */
    int64_t discharge = c->v.endtime ? c->v.endtime : c->dscg_time;
    c->year = inpatient && discharge ? (int32_t)(discharge / 10000000000) : today / 10000;
    if ((rc = ledger_accum_get(t->sb->ledger, c->p->psn_no, c->v.insutype, c->year, inpatient,
                               &c->accum)) < 0 ||
        (rc = ledger_balance_get(t->sb->ledger, c->p->psn_no, c->p->balance, &c->balance)) < 0 ||
        (rc = ledger_visit_deductible(t->sb->ledger, c->v.mdtrt_id, &c->in.visit_deductible_used)) <
            0)
        return txn_ledger_error(t, rc);
    c->in.region = &c->region->policy;
    c->in.insutype = c->v.insutype;
    c->in.inpatient = inpatient;
    c->in.hospital_level = t->sb->scenario.inst_level;
    c->in.fund_excluded = c->v.trauma && c->v.third_party;
    c->in.account_balance = c->balance;
    rc = policy_compute(&c->in, &c->accum, &c->r);
    if (rc == POSA_ENORATE)
        return txn_refuse(t,
                          "the insured region %s has no %s rate for insurance type %s at "
                          "hospital level %c",
                          c->optins, inpatient ? "inpatient" : "outpatient", c->v.insutype,
                          c->in.hospital_level);
    if (rc < 0)
        return txn_refuse(t, "the settlement cannot be computed: %s", posa_strerror(rc));
    return 0;
}

static struct json_object *setldetail(const struct settle_ctx *c)
{
    struct json_object *arr = json_object_new_array(), *d = json_object_new_object();
    bool employee = strcmp(c->v.insutype, "310") == 0;
    char info[160], ratio[DEC_FORMAT_MAX];

    dec_format(c->r.ratio_e6, DEC_RATIO, ratio, sizeof(ratio));
    snprintf(info, sizeof(info), "filing %s; ratio %s%s", filing_kind_name(c->in.filing), ratio,
             c->in.fund_excluded ? "; trauma with a third party: not the fund's" : "");
    out_str(d, "fund_pay_type", employee ? "310100" : "390100");
    out_money(d, "inscp_scp_amt", c->r.inscp_scp_amt);
    out_money(d, "crt_payb_lmt_amt", c->r.inscp_scp_amt - c->r.act_pay_dedc);
    out_money(d, "fund_payamt", c->r.hifp_pay);
    out_str(d, "fund_pay_type_name",
            employee ? "职工基本医疗保险统筹基金" : "城乡居民基本医疗保险基金");
    out_str(d, "setl_proc_info", info);
    json_object_array_add(arr, d);
    if (c->r.acct_pay) {
        d = json_object_new_object();
        out_str(d, "fund_pay_type", "310200");
        out_money(d, "inscp_scp_amt", 0);
        out_money(d, "crt_payb_lmt_amt", 0);
        out_money(d, "fund_payamt", c->r.acct_pay);
        out_str(d, "fund_pay_type_name", "职工基本医疗保险个人账户基金");
        out_str(d, "setl_proc_info", "");
        json_object_array_add(arr, d);
    }
    return arr;
}

static void setlinfo_person(struct json_object *s, const struct txn *t, const struct settle_ctx *c)
{
    char brdy[DATETIME_DATE_LEN + 1];
    int32_t today = (int32_t)(t->now / 1000000);
    int age = today / 10000 - c->p->birthday_date / 10000;

    if (today % 10000 < c->p->birthday_date % 10000)
        age--;
    date_format(c->p->birthday_date, brdy);
    out_str(s, "psn_no", c->p->psn_no);
    out_str(s, "psn_name", c->p->name);
    out_str(s, "psn_cert_type", "01");
    out_str(s, "certno", c->p->certno);
    out_str(s, "gend", c->p->gender);
    out_str(s, "naty", "01");
    out_str(s, "brdy", brdy);
    json_object_object_add(s, "age", json_object_new_int(age < 0 ? 0 : age));
    out_str(s, "insutype", c->v.insutype);
    out_str(s, "psn_type", c->p->psn_type[0] ? c->p->psn_type : "11");
    out_str(s, "cvlserv_flag", "0");
}

static struct json_object *setlinfo(const struct txn *t, const struct settle_ctx *c,
                                    const char *setl_id, bool inpatient)
{
    struct json_object *s = json_object_new_object();
    const struct policy_result *r = &c->r;
    const int64_t amounts[] = {r->medfee_sumamt,
                               r->fulamt_ownpay_amt,
                               r->overlmt_selfpay,
                               r->preselfpay_amt,
                               r->inscp_scp_amt,
                               r->act_pay_dedc,
                               r->hifp_pay,
                               0,
                               0,
                               0,
                               0,
                               0,
                               0,
                               r->fund_pay_sumamt,
                               r->psn_part_amt,
                               r->acct_pay,
                               r->psn_cash_pay,
                               0,
                               0};

    out_str(s, "mdtrt_id", c->v.mdtrt_id);
    out_str(s, "setl_id", setl_id);
    setlinfo_person(s, t, c);
    out_time(s, "setl_time", t->now);
    out_str(s, "mdtrt_cert_type", c->cert_type[0] ? c->cert_type : "02");
    out_str(s, "med_type", c->v.med_type);
    for (size_t i = 0; i < sizeof(money_keys) / sizeof(money_keys[0]); i++)
        out_money(s, money_keys[i], amounts[i]);
    out_dec(s, "pool_prop_selfpay", r->ratio_e6, DEC_RATIO);
    out_money(s, "balc", c->balance - r->acct_pay);
    out_str(s, "medins_setl_id", t->env->head.msgid);
    out_str(s, "clr_optins", c->optins);
    out_str(s, "clr_way", "1");
    out_str(s, "clr_type", inpatient ? "21" : "11");
    out_str(s, "filing_kind", filing_kind_name(c->in.filing)); /* provincial extension */
    return s;
}

static int record(struct txn *t, struct settle_ctx *c, const char *setl_id, bool inpatient)
{
    struct ledger_settlement s = {.lines = c->cover, .lines_len = c->cover_len};
    struct ledger *l = t->sb->ledger;
    int rc;

    str_copy(s.setl_id, sizeof(s.setl_id), setl_id);
    str_copy(s.msgid, sizeof(s.msgid), t->env->head.msgid);
    str_copy(s.infno, sizeof(s.infno), t->env->head.infno);
    str_copy(s.psn_no, sizeof(s.psn_no), c->p->psn_no);
    str_copy(s.mdtrt_id, sizeof(s.mdtrt_id), c->v.mdtrt_id);
    str_copy(s.insutype, sizeof(s.insutype), c->v.insutype);
    str_copy(s.clr_type, sizeof(s.clr_type), inpatient ? "21" : "11");
    str_copy(s.setl_optins, sizeof(s.setl_optins), c->optins);
    snprintf(s.state, sizeof(s.state), "active");
    s.setl_time = t->now;
    s.year = c->year;
    s.medfee = c->r.medfee_sumamt;
    s.fund = c->r.fund_pay_sumamt;
    s.psn_part = c->r.psn_part_amt;
    s.acct_pay = c->r.acct_pay;
    s.cash = c->r.psn_cash_pay;
    s.act_pay_dedc = c->r.act_pay_dedc;
    s.moved = c->r.moved;
    s.output = strdup(json_object_to_json_string_ext(
        t->output, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    /* The answer prints as the text just recorded rather than being printed again. */
    if (s.output)
        jsontext_print_as(t->output, s.output, strlen(s.output));
    /* The lines it settles are recorded with it: the lines themselves are not rewritten. */
    rc = s.output ? ledger_settlement_insert(l, &s) : -ENOMEM;
    ledger_settlement_free(&s);
    if (rc < 0 ||
        (rc = ledger_accum_move(l, c->p->psn_no, c->v.insutype, c->year, c->in.inpatient,
                                &c->r.moved, 1)) < 0 ||
        (c->r.acct_pay &&
         (rc = ledger_balance_set(l, c->p->psn_no, c->balance - c->r.acct_pay)) < 0))
        return txn_ledger_error(t, rc);
    str_copy(t->msg->setl_id, sizeof(t->msg->setl_id), setl_id);
    snprintf(t->msg->effect, sizeof(t->msg->effect), "settle");
    return 0;
}

static int settle(struct txn *t, struct settle_ctx *c, bool inpatient, bool commit)
{
    char setl_id[LEDGER_ID] = "";

    if (gather_input(t, inpatient, c) < 0 || gather_totals(t, c, commit) < 0 ||
        gather_policy(t, inpatient, c) < 0)
        return -1;
    if (commit && txn_new_id(t, "setl_id", "S", setl_id, sizeof(setl_id)) < 0)
        return -1;
    t->output = json_object_new_object();
    json_object_object_add(t->output, "setlinfo", setlinfo(t, c, setl_id, inpatient));
    json_object_object_add(t->output, "setldetail", setldetail(c));
    return commit ? record(t, c, setl_id, inpatient) : 0;
}

int settle_run(struct txn *t, bool inpatient, bool commit)
{
    struct settle_ctx c;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = settle(t, &c, inpatient, commit);
    free(c.cover);
    return rc;
}

/* The stored answer of a settlement with every amount negated (the cancel's answer). */
static struct json_object *negated_output(const char *stored)
{
    struct json_object *root = stored ? json_tokener_parse(stored) : NULL, *s = NULL, *d = NULL;
    int64_t v;

    if (!root)
        return json_object_new_object();
    if (json_object_object_get_ex(root, "setlinfo", &s))
        for (size_t i = 0; i < sizeof(money_keys) / sizeof(money_keys[0]); i++)
            if (jsonmap_get_decimal(s, money_keys[i], DEC_MONEY, true, &v, NULL) == 0)
                out_money(s, money_keys[i], -v);
    if (json_object_object_get_ex(root, "setldetail", &d)) {
        for (size_t i = 0; i < json_object_array_length(d); i++) {
            struct json_object *row = json_object_array_get_idx(d, i);

            if (jsonmap_get_decimal(row, "fund_payamt", DEC_MONEY, true, &v, NULL) == 0)
                out_money(row, "fund_payamt", -v);
            if (jsonmap_get_decimal(row, "inscp_scp_amt", DEC_MONEY, true, &v, NULL) == 0)
                out_money(row, "inscp_scp_amt", -v);
        }
    }
    return root;
}

/* Moves a settlement's year accumulation and account by sign (+1 again, -1 back). */
static int move_settlement(struct txn *t, const struct ledger_settlement *s, int sign)
{
    struct sc_person *p = scenario_person(&t->sb->scenario, s->psn_no);
    int64_t balance;
    int rc;

    bool inpatient = strncmp(s->infno, "2304", 4) == 0;

    if ((rc = ledger_accum_move(t->sb->ledger, s->psn_no, s->insutype, s->year, inpatient,
                                &s->moved, sign)) < 0)
        return txn_ledger_error(t, rc);
    if (!s->acct_pay || !p)
        return 0;
    if ((rc = ledger_balance_get(t->sb->ledger, s->psn_no, p->balance, &balance)) < 0 ||
        (rc = ledger_balance_set(t->sb->ledger, s->psn_no, balance - sign * s->acct_pay)) < 0)
        return txn_ledger_error(t, rc);
    return 0;
}

int settle_cancel(struct txn *t, bool inpatient)
{
    struct json_object *d = txn_node(t, "data");
    const char *psn, *mdtrt_id, *setl_id;
    struct ledger_settlement s = {0};
    struct ledger_visit v;
    struct sc_person *p = NULL;
    int rc;

    if (!d || txn_str(t, d, "data", "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, d, "data", "mdtrt_id", BOUND_CODE, true, &mdtrt_id) < 0 ||
        txn_str(t, d, "data", "setl_id", BOUND_CODE, true, &setl_id) < 0 ||
        txn_person(t, psn, &p) < 0 || txn_visit(t, mdtrt_id, p, inpatient, &v) < 0)
        return -1;
    rc = ledger_settlement_get(t->sb->ledger, setl_id, &s);
    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0 || strcmp(s.mdtrt_id, mdtrt_id) != 0) {
        ledger_settlement_free(&s);
        return txn_refuse(t, "no settlement %s of visit %s", setl_id, mdtrt_id);
    }
    if (strcmp(s.state, "active") != 0) {
        ledger_settlement_free(&s);
        return txn_refuse(t, "settlement %s is already %s", setl_id, s.state);
    }
    rc = ledger_settlement_set_state(t->sb->ledger, setl_id, "cancelled", t->env->head.msgid);
    if (rc < 0 || move_settlement(t, &s, -1) < 0) {
        ledger_settlement_free(&s);
        return rc < 0 ? txn_ledger_error(t, rc) : -1;
    }
    str_copy(t->msg->setl_id, sizeof(t->msg->setl_id), setl_id);
    snprintf(t->msg->effect, sizeof(t->msg->effect), "cancel");
    t->output = negated_output(s.output);
    ledger_settlement_free(&s);
    return 0;
}

int settle_reverse(struct txn *t, const char *msgid)
{
    struct ledger_settlement s = {0};
    int rc = ledger_settlement_by_msgid(t->sb->ledger, msgid, &s);

    if (rc <= 0)
        return rc < 0 ? txn_ledger_error(t, rc) : 0;
    rc = ledger_settlement_set_state(t->sb->ledger, s.setl_id, "reversed", s.cancel_msgid);
    if (rc == 0 && strcmp(s.state, "active") == 0)
        rc = move_settlement(t, &s, -1);
    else if (rc < 0)
        rc = txn_ledger_error(t, rc);
    ledger_settlement_free(&s);
    return rc;
}

int settle_unreverse_cancel(struct txn *t, const char *cancel_msgid)
{
    struct ledger_settlement s = {0}, other = {0};
    int64_t changed = 0;
    int rc = ledger_settlement_by_cancel(t->sb->ledger, cancel_msgid, &s);

    if (rc <= 0)
        return rc < 0 ? txn_ledger_error(t, rc) : 0;
    if (strcmp(s.state, "cancelled") != 0)
        goto out; /* reversed meanwhile: nothing to restore */
    rc = ledger_settlement_active(t->sb->ledger, s.mdtrt_id, &other);
    if (rc == 1) {
        rc = txn_refuse(t, "visit %s was settled again (%s): the cancel cannot be reversed",
                        s.mdtrt_id, other.setl_id);
        ledger_settlement_free(&other);
        goto out;
    }
    /* Its lines must still be its own: settled again meanwhile (and cancelled again), or
     * joined by new ones, the visit is not what this settlement settled. */
    if ((rc = ledger_fees_not_of(t->sb->ledger, s.mdtrt_id, s.setl_id, &changed)) < 0) {
        rc = txn_ledger_error(t, rc);
        goto out;
    }
    if (changed > 0) {
        rc = txn_refuse(t, "the lines of visit %s changed since settlement %s was cancelled (%lld "
                        "not its own): the cancel cannot be reversed",
                        s.mdtrt_id, s.setl_id, (long long)changed);
        goto out;
    }
    rc = ledger_settlement_set_state(t->sb->ledger, s.setl_id, "active", NULL);
    if (rc == 0)
        rc = move_settlement(t, &s, 1);
    else
        rc = txn_ledger_error(t, rc);
out:
    ledger_settlement_free(&s);
    return rc < 0 ? rc : 0;
}

int txn_2206_presettle(struct txn *t)
{
    return settle_run(t, false, false);
}
int txn_2207_settle(struct txn *t)
{
    return settle_run(t, false, true);
}
int txn_2208_settle_cancel(struct txn *t)
{
    return settle_cancel(t, false);
}
int txn_2303_presettle(struct txn *t)
{
    return settle_run(t, true, false);
}
int txn_2304_settle(struct txn *t)
{
    return settle_run(t, true, true);
}
int txn_2305_settle_cancel(struct txn *t)
{
    return settle_cancel(t, true);
}
