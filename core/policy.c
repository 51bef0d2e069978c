/* The insured region's policy: which filing applies, and fund vs person for a settlement. */
#include "core/policy.h"

#include <string.h>

#include "core/decimal.h"
#include "core/err.h"

static const char *const kind_names[] = {
    [FILING_NONE] = "none",           [FILING_LONG_TERM] = "long_term",
    [FILING_REFERRAL] = "referral",   [FILING_EMERGENCY] = "emergency",
    [FILING_TEMPORARY_OTHER] = "temporary_other", [FILING_COMMITMENT] = "commitment",
};
#define KIND_COUNT (sizeof kind_names / sizeof kind_names[0])

const char *filing_kind_name(enum filing_kind kind)
{
    return (unsigned)kind < KIND_COUNT ? kind_names[kind] : "none";
}

int filing_kind_parse(const char *name, enum filing_kind *ret)
{
    for (size_t i = 0; i < KIND_COUNT; i++) {
        if (name && strcmp(name, kind_names[i]) == 0) {
            *ret = (enum filing_kind)i;
            return 0;
        }
    }
    return POSA_EFIELD;
}

/* Lower is preferred when several filings are valid. */
static int filing_rank(enum filing_kind kind)
{
    switch (kind) {
    case FILING_LONG_TERM: return 0;
    case FILING_COMMITMENT: return 1;
    case FILING_REFERRAL: return 2;
    case FILING_TEMPORARY_OTHER: return 3;
    default: return 99;
    }
}

/* A stay counts a filing valid at any time from admission to settlement (§12, §16); an
 * outpatient visit's window is its one day. */
static bool filing_covers(const struct filing *f, const struct filing_query *q)
{
    int32_t until = q->inpatient ? q->settle_date : q->begin_date;

    return f->valid_from <= until && (f->valid_to == 0 || f->valid_to >= q->begin_date);
}

int filing_resolve(const struct filing *filings, size_t n, const struct filing_query *query,
                   enum filing_kind *ret_kind, const struct filing **ret_used)
{
    const struct filing *best = NULL;

    for (size_t i = 0; i < n; i++) {
        const struct filing *f = &filings[i];

        if (filing_rank(f->kind) == 99 || !filing_covers(f, query))
            continue;
        if (!best || filing_rank(f->kind) < filing_rank(best->kind))
            best = f;
    }
    if (query->emergency && (!best || best->kind == FILING_TEMPORARY_OTHER)) {
        *ret_kind = FILING_EMERGENCY; /* deemed filed (§34), and better than other-temporary */
        *ret_used = NULL;
        return 0;
    }
    if (!best)
        return POSA_EFILING;
    *ret_kind = best->kind;
    *ret_used = best;
    return 0;
}

const struct region_rate *policy_find_rate(const struct region_policy *region,
                                           const char *insutype, bool inpatient, char level)
{
    const struct region_rate *any = NULL;

    for (size_t i = 0; i < region->n_rates; i++) {
        const struct region_rate *r = &region->rates[i];

        if (r->inpatient != inpatient || strcmp(r->insutype, insutype) != 0)
            continue;
        if (r->level == level)
            return r;
        if (r->level == '*' && !any)
            any = r;
    }
    return any;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

const struct temp_rules *policy_temp_rules(const struct region_policy *region, const char *insutype)
{
    for (size_t i = 0; i < region->n_temporary_for; i++)
        if (strcmp(region->temporary_for[i].insutype, insutype) == 0)
            return &region->temporary_for[i].rules;
    return &region->temporary;
}

/* The temporary-traveller rule of the filing kind, or NULL when the local ratio applies. */
static const struct temp_rule *temp_rule_for(const struct temp_rules *rules, enum filing_kind kind)
{
    switch (kind) {
    case FILING_REFERRAL: return &rules->referral;
    case FILING_EMERGENCY: return &rules->emergency;
    case FILING_TEMPORARY_OTHER: return &rules->other;
    default: return NULL; /* long-term and commitment settle at local rates */
    }
}

static bool ratio_ok(int64_t v)
{
    return v >= 0 && v <= DEC_E6;
}

/* Ratios, shares and amounts of the rules that apply are within sense. */
static int policy_check(const struct temp_rules *temp, const struct region_rate *rate)
{
    const struct temp_rule *rules[] = {&temp->referral, &temp->emergency, &temp->other};

    if (!ratio_ok(rate->ratio_e6) || rate->deductible_fen < 0 || rate->cap_fen < 0)
        return POSA_ERANGE;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!ratio_ok(rules[i]->value_e6))
            return POSA_ERANGE;
    return 0;
}

static int totals_check(const struct split_totals *t)
{
    int64_t sum;

    if (t->fulamt_ownpay < 0 || t->overlmt < 0 || t->preselfpay < 0 || t->inscp < 0)
        return POSA_ENEGATIVE;
    if (dec_add(t->fulamt_ownpay, t->overlmt, &sum) < 0 || dec_add(sum, t->preselfpay, &sum) < 0 ||
        dec_add(sum, t->inscp, &sum) < 0)
        return POSA_EOVERFLOW;
    return sum == t->amount ? 0 : POSA_ERANGE;
}

/* fund before the cap: round(E x r), or round(E x (1 - s) x r) with one rounding. */
static int fund_before_cap(const struct policy_input *in, const struct region_rate *rate,
                           int64_t eligible, struct policy_result *r)
{
    const struct temp_rule *rule =
        temp_rule_for(policy_temp_rules(in->region, in->insutype), in->filing);
    int64_t fund;
    int err;

    r->ratio_e6 = rate->ratio_e6;
    if (rule && rule->mode == TEMP_REDUCE_POINTS)
        r->ratio_e6 = max64(0, rate->ratio_e6 - rule->value_e6);
    if (rule && rule->mode == TEMP_SHARE_FIRST) {
        int64_t keep = DEC_E6 - rule->value_e6;

        if ((err = dec_mul3_round(eligible, keep, r->ratio_e6, 12, &fund)) < 0)
            return err;
        if ((err = dec_mul_round(eligible, rule->value_e6, 6, &r->share_first_amt)) < 0)
            return err;
    } else if ((err = dec_mul_round(eligible, r->ratio_e6, 6, &fund)) < 0) {
        return err;
    }
    r->hifp_pay = fund;
    return 0;
}

int policy_compute(const struct policy_input *in, const struct policy_accum *accum,
                   struct policy_result *ret)
{
    const struct region_rate *rate;
    const struct split_totals *t = &in->totals;
    struct policy_result r = {0};
    bool per_year = in->inpatient ? in->region->inpatient_deductible_per_year
                                  : in->region->outpatient_deductible_per_year;
    int64_t used, eligible, cap_left;
    int err;

    /* Year totals below zero (a cancel applied twice) would leave more than the cap. */
    if (accum->deductible_used < 0 || accum->fund_paid < 0 || in->visit_deductible_used < 0)
        return POSA_ERANGE;
    if (in->filing == FILING_NONE)
        return POSA_EFILING;
    if ((err = totals_check(t)) < 0)
        return err;
    rate = policy_find_rate(in->region, in->insutype, in->inpatient, in->hospital_level);
    if (!rate)
        return POSA_ENORATE;
    if ((err = policy_check(policy_temp_rules(in->region, in->insutype), rate)) < 0)
        return err;
    r.medfee_sumamt = t->amount;
    r.fulamt_ownpay_amt = t->fulamt_ownpay;
    r.overlmt_selfpay = t->overlmt;
    r.preselfpay_amt = t->preselfpay;
    r.inscp_scp_amt = t->inscp;

    /* A trauma with a liable third party is not the fund's: no deductible met, no fund. */
    if (!in->fund_excluded) {
        used = per_year ? accum->deductible_used : in->visit_deductible_used;
        r.act_pay_dedc = min64(t->inscp, max64(0, rate->deductible_fen - used));
        eligible = t->inscp - r.act_pay_dedc;
        if ((err = fund_before_cap(in, rate, eligible, &r)) < 0)
            return err;
    }
    cap_left = max64(0, rate->cap_fen - accum->fund_paid);
    if (r.hifp_pay > cap_left) {
        r.hifp_pay = cap_left;
        r.cap_reached = true;
    }
    r.fund_pay_sumamt = r.hifp_pay;
    r.psn_part_amt = t->amount - r.fund_pay_sumamt;
    if (in->use_account && strcmp(in->insutype, "310") == 0) /* employees have an account */
        r.acct_pay = min64(max64(0, in->account_balance), r.psn_part_amt);
    r.psn_cash_pay = r.psn_part_amt - r.acct_pay;
    r.moved.deductible_used = per_year ? r.act_pay_dedc : 0;
    r.moved.fund_paid = r.fund_pay_sumamt;
    *ret = r;
    return 0;
}

void policy_accum_apply(struct policy_accum *accum, const struct policy_accum *moved, int sign)
{
    accum->deductible_used += sign * moved->deductible_used;
    accum->fund_paid += sign * moved->fund_paid;
}
