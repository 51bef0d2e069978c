/* Randomized property test of the core (fixed seed, own xorshift PRNG): thousands of
 * generated bills over a generated catalog are split, aggregated and settled, and the
 * invariants of policy.md are checked on every line, bill and settlement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/decimal.h"
#include "core/err.h"
#include "core/policy.h"
#include "core/split.h"

#define SEED      0x2545f4914f6cdd1dULL
#define N_ITEMS   300
#define N_BILLS   5000
#define MAX_LINES 64

static uint64_t rng = SEED;

/* xorshift64*: deterministic across platforms, so a failure replays exactly. */
static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

static int64_t rnd_in(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static char codes[N_ITEMS][16];
static struct catalog_item items[N_ITEMS];
static struct catalog_index index_;

/* A catalog of every class, with ratios in whole percents and some price limits. */
static void make_catalog(void)
{
    size_t badi = 0;
    for (int i = 0; i < N_ITEMS; i++) {
        /* distinct and unsorted: 7919 is prime to 100000, so i -> 7919 i mod 100000 is 1-1 */
        snprintf(codes[i], sizeof codes[i], "P%05d", (i * 7919) % 100000);
        struct catalog_item *it = &items[i];
        it->list_code = codes[i];
        it->name = codes[i];
        it->lv = (enum chrgitm_lv)rnd_in(LV_A, LV_C);
        it->category = (uint8_t)rnd_in(CATEGORY_MIN, CATEGORY_MAX);
        it->selfpay_prop_e6 = it->lv == LV_B ? rnd_in(0, 100) * 10000 : 0;
        it->price_limit_e6 = rnd_in(0, 9) < 3 ? rnd_in(1, 100000) * 10000 : PRICE_NO_LIMIT;
    }
    assert_int_equal(catalog_index_init(&index_, items, N_ITEMS, &badi), 0);
}

/* The split of policy.md computed here, for lines whose HIS amount is exact. */
static void expected_split(const struct fee_line *l, const struct catalog_item *it,
                           struct split_totals *ret)
{
    int64_t a = 0, over = 0, pre = 0;
    memset(ret, 0, sizeof *ret);
    assert_int_equal(dec_mul_round(l->price_e6, l->qty_e4, 8, &a), 0);
    ret->amount = a;
    if (it == NULL || it->lv == LV_C) {
        ret->fulamt_ownpay = a;
        return;
    }
    if (it->price_limit_e6 != PRICE_NO_LIMIT && l->price_e6 > it->price_limit_e6)
        assert_int_equal(dec_mul_round(l->price_e6 - it->price_limit_e6, l->qty_e4, 8, &over), 0);
    if (it->lv == LV_B)
        assert_int_equal(dec_mul_round(a - over, it->selfpay_prop_e6, 6, &pre), 0);
    ret->overlmt = over;
    ret->preselfpay = pre;
    ret->inscp = a - over - pre;
}

static void add_totals(struct split_totals *t, const struct split_totals *x)
{
    t->amount += x->amount;
    t->fulamt_ownpay += x->fulamt_ownpay;
    t->overlmt += x->overlmt;
    t->preselfpay += x->preselfpay;
    t->inscp += x->inscp;
}

static void add_split(struct split_totals *t, const struct split *s)
{
    const struct split_totals x = {s->amount, s->fulamt_ownpay, s->overlmt, s->preselfpay,
                                   s->inscp};
    add_totals(t, &x);
}

static void totals_equal(const struct split_totals *a, const struct split_totals *b)
{
    assert_int_equal(a->amount, b->amount);
    assert_int_equal(a->fulamt_ownpay, b->fulamt_ownpay);
    assert_int_equal(a->overlmt, b->overlmt);
    assert_int_equal(a->preselfpay, b->preselfpay);
    assert_int_equal(a->inscp, b->inscp);
}

/* One line: the four parts sum to the amount, all of the line's sign, and the refund of a
 * line is its exact mirror. */
static void check_line(const struct fee_line *l, const struct catalog_item *it, bool exact,
                       int sign, struct split *ret)
{
    struct split s, m;
    struct fee_line mirror = {l->list_code, l->price_e6, -l->qty_e4, -l->amount_fen};

    assert_int_equal(split_line(l, it, &s), 0);
    assert_int_equal(s.fulamt_ownpay + s.overlmt + s.preselfpay + s.inscp, s.amount);
    const int64_t parts[5] = {s.amount, s.fulamt_ownpay, s.overlmt, s.preselfpay, s.inscp};
    for (int k = 0; k < 5; k++)
        assert_true(sign > 0 ? parts[k] >= 0 : parts[k] <= 0);
    assert_true(s.amount - l->amount_fen <= 1 && l->amount_fen - s.amount <= 1);
    if (it == NULL || it->lv == LV_C)
        assert_int_equal(s.fulamt_ownpay, s.amount);
    if (it != NULL && it->lv == LV_A)
        assert_int_equal(s.preselfpay, 0);
    if (exact) {
        struct split_totals want;
        expected_split(l, it, &want);
        assert_int_equal(s.amount, want.amount);
        assert_int_equal(s.fulamt_ownpay, want.fulamt_ownpay);
        assert_int_equal(s.overlmt, want.overlmt);
        assert_int_equal(s.preselfpay, want.preselfpay);
        assert_int_equal(s.inscp, want.inscp);
    }
    assert_int_equal(split_line(&mirror, it, &m), 0);
    assert_int_equal(m.amount, -s.amount);
    assert_int_equal(m.fulamt_ownpay, -s.fulamt_ownpay);
    assert_int_equal(m.overlmt, -s.overlmt);
    assert_int_equal(m.preselfpay, -s.preselfpay);
    assert_int_equal(m.inscp, -s.inscp);
    *ret = s;
}

/* Generates one bill (all charges, or all refunds when sign < 0), checks every line and
 * the bill's totals and categories against sums made here. */
static void make_bill(int sign, struct bill *bill)
{
    char absent[MAX_LINES][24];
    struct split_totals sum, by_cat[CATEGORY_MAX + 1];
    int n = (int)rnd_in(1, MAX_LINES);

    memset(&sum, 0, sizeof sum);
    memset(by_cat, 0, sizeof by_cat);
    bill_init(bill);
    for (int i = 0; i < n; i++) {
        const struct catalog_item *it;
        const char *code;
        if (rnd_in(0, 9) == 0) {
            snprintf(absent[i], sizeof absent[i], "NOTLISTED%02d", i);
            code = absent[i];
        } else {
            code = codes[rnd_in(0, N_ITEMS - 1)];
        }
        it = catalog_index_find(&index_, code);
        if (code != absent[i]) {
            assert_non_null(it);
            assert_string_equal(it->list_code, code);
        } else {
            assert_null(it);
        }

        struct fee_line l = {code, rnd_in(1, 2000000000), sign * rnd_in(1, 1000000), 0};
        int64_t a = 0;
        assert_int_equal(dec_mul_round(l.price_e6, l.qty_e4, 8, &a), 0);
        bool exact = rnd_in(0, 3) != 0 || a * sign < 2;
        l.amount_fen = exact ? a : a + rnd_in(-1, 1); /* the HIS may be one fen off */

        struct split s;
        check_line(&l, it, exact, sign, &s);
        assert_int_equal(bill_add(bill, &s), 0);
        add_split(&sum, &s);
        assert_true(s.category >= CATEGORY_MIN && s.category <= CATEGORY_MAX);
        add_split(&by_cat[s.category], &s);
    }
    assert_int_equal(bill->lines, (size_t)n);
    totals_equal(&bill->total, &sum);
    struct split_totals cats;
    memset(&cats, 0, sizeof cats);
    for (int c = CATEGORY_MIN; c <= CATEGORY_MAX; c++) {
        totals_equal(&bill->by_category[c], &by_cat[c]);
        add_totals(&cats, &bill->by_category[c]);
    }
    totals_equal(&cats, &bill->total); /* category totals = bill totals */
    assert_int_equal(bill->total.fulamt_ownpay + bill->total.overlmt + bill->total.preselfpay +
                         bill->total.inscp,
                     bill->total.amount);
}

/* clang-format off */
static const struct region_rate RATES[] = {
    {"310", true, '*', 80000, 900000, 50000000},
    {"310", true, '3', 120000, 850000, 50000000},
    {"310", false, '*', 50000, 800000, 50000000},
};
static const struct region_policy NATIONAL = {
    .rates = RATES, .n_rates = 3, .outpatient_deductible_per_year = true,
    .temporary = {{TEMP_REDUCE_POINTS, 100000}, {TEMP_REDUCE_POINTS, 100000},
                  {TEMP_REDUCE_POINTS, 200000}}};
static const struct region_policy WUXI = {
    .rates = RATES, .n_rates = 3, .outpatient_deductible_per_year = true,
    .temporary = {{TEMP_REDUCE_POINTS, 0}, {TEMP_REDUCE_POINTS, 0}, {TEMP_SHARE_FIRST, 200000}}};
/* clang-format on */

/* fund by policy.md's steps 1-4, for the rates above (inpatient deductible per admission,
 * outpatient per year). */
static int64_t expected_fund(const struct policy_input *in, const struct policy_accum *year)
{
    const struct region_rate *rate = !in->inpatient              ? &RATES[2]
                                     : in->hospital_level == '3' ? &RATES[1]
                                                                 : &RATES[0];
    int64_t used = in->inpatient ? in->visit_deductible_used : year->deductible_used;
    int64_t left = rate->deductible_fen > used ? rate->deductible_fen - used : 0;
    int64_t s = in->totals.inscp;
    int64_t e = s - (s < left ? s : left);
    int64_t r = rate->ratio_e6, fund = 0;
    const struct temp_rule *rule = NULL;

    if (in->fund_excluded)
        return 0;
    if (in->filing == FILING_REFERRAL)
        rule = &in->region->temporary.referral;
    else if (in->filing == FILING_EMERGENCY)
        rule = &in->region->temporary.emergency;
    else if (in->filing == FILING_TEMPORARY_OTHER)
        rule = &in->region->temporary.other;
    if (rule && rule->mode == TEMP_SHARE_FIRST)
        assert_int_equal(dec_mul3_round(e, DEC_E6 - rule->value_e6, r, 12, &fund), 0);
    else
        assert_int_equal(dec_mul_round(e, rule ? r - rule->value_e6 : r, 6, &fund), 0);
    int64_t cap_left = rate->cap_fen - year->fund_paid;
    return fund < cap_left ? fund : cap_left;
}

static void settle_bill(const struct bill *bill)
{
    static const enum filing_kind kinds[] = {FILING_LONG_TERM, FILING_REFERRAL, FILING_EMERGENCY,
                                             FILING_TEMPORARY_OTHER, FILING_COMMITMENT};
    struct policy_input in;
    memset(&in, 0, sizeof in);
    in.region = rnd_in(0, 1) ? &NATIONAL : &WUXI;
    in.insutype = "310";
    in.inpatient = rnd_in(0, 3) != 0;
    in.hospital_level = (char)('1' + rnd_in(0, 2));
    in.filing = kinds[rnd_in(0, 4)];
    in.totals = bill->total;
    in.visit_deductible_used = rnd_in(0, 3) == 0 ? rnd_in(0, 150000) : 0;
    in.fund_excluded = rnd_in(0, 19) == 0;
    in.use_account = rnd_in(0, 1);
    in.account_balance = rnd_in(0, 2000000);
    struct policy_accum year = {rnd_in(0, 60000), rnd_in(0, 3) == 0 ? rnd_in(0, 50000000) : 0};
    const struct policy_accum start = year;
    struct policy_result r;

    assert_int_equal(policy_compute(&in, &year, &r), 0);
    int64_t fund = r.fund_pay_sumamt;
    assert_int_equal(r.medfee_sumamt, bill->total.amount);
    assert_int_equal(fund + r.psn_part_amt, r.medfee_sumamt); /* fund + person = total */
    assert_int_equal(r.hifp_pay, fund);
    assert_true(fund >= 0 && r.psn_part_amt >= 0 && r.acct_pay >= 0 && r.psn_cash_pay >= 0);
    assert_true(r.act_pay_dedc >= 0 && r.share_first_amt >= 0);
    assert_true(fund <= r.inscp_scp_amt); /* fund <= inscp */
    assert_true(r.act_pay_dedc <= r.inscp_scp_amt);
    assert_true(fund <= r.inscp_scp_amt - r.act_pay_dedc);
    assert_true(fund <= 50000000 - start.fund_paid); /* within the annual cap */
    assert_int_equal(r.acct_pay + r.psn_cash_pay, r.psn_part_amt);
    if (in.use_account)
        assert_true(r.acct_pay <= in.account_balance);
    else
        assert_int_equal(r.acct_pay, 0);
    assert_true(r.ratio_e6 >= 0 && r.ratio_e6 <= DEC_E6);
    assert_int_equal(fund, expected_fund(&in, &year));
    if (in.fund_excluded)
        assert_int_equal(fund, 0);
    assert_int_equal(r.moved.fund_paid, fund);
    assert_true(r.moved.deductible_used >= 0 && r.moved.deductible_used <= r.act_pay_dedc);

    policy_accum_apply(&year, &r.moved, 1);
    assert_int_equal(year.fund_paid, start.fund_paid + fund);
    policy_accum_apply(&year, &r.moved, -1);
    assert_memory_equal(&year, &start, sizeof year);
}

static void test_property(void **state)
{
    (void)state;
    struct bill bill;
    long lines = 0;

    rng = SEED;
    make_catalog();
    for (int b = 0; b < N_BILLS; b++) {
        int sign = rnd_in(0, 4) == 0 ? -1 : 1; /* one bill in five is a refund */
        make_bill(sign, &bill);
        lines += (long)bill.lines;
        if (sign > 0)
            settle_bill(&bill);
    }
    assert_true(lines > N_BILLS * 16L); /* the run really covered many lines */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
