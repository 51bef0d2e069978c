/* Unit tests of core/policy.h: filing resolution and the insured-region computation of
 * policy.md, with its five worked examples to the fen and the accumulations of a year. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/policy.h"

static int bad; /* failing checks of the current test; each is printed */

static void eq64(int64_t got, int64_t want, const char *what, const char *field)
{
    if (got != want) {
        print_error("%s: %s got %lld, want %lld\n", what, field, (long long)got, (long long)want);
        bad++;
    }
}

/* clang-format off */
/* The insured region's rates: employees (310), inpatient any level 800.00 / 90%, level 3
 * 1,200.00 / 85%, outpatient 500.00 / 80%; annual cap 500,000.00. */
static const struct region_rate RATES[] = {
    {"310", true, '*', 80000, 900000, 50000000},
    {"310", true, '3', 120000, 850000, 50000000},
    {"310", false, '*', 50000, 800000, 50000000},
};

/* National 2022: referral and emergency minus 10 points, other temporary minus 20. */
static const struct region_policy NATIONAL = {
    .rates = RATES, .n_rates = 3, .outpatient_deductible_per_year = true,
    .temporary = {{TEMP_REDUCE_POINTS, 100000}, {TEMP_REDUCE_POINTS, 100000},
                  {TEMP_REDUCE_POINTS, 200000}}};

/* Wuxi 2025 employees: no reduction for referral and emergency; other temporary bears 20%
 * of the eligible amount first. */
static const struct region_policy WUXI = {
    .rates = RATES, .n_rates = 3, .outpatient_deductible_per_year = true,
    .temporary = {{TEMP_REDUCE_POINTS, 0}, {TEMP_REDUCE_POINTS, 0}, {TEMP_SHARE_FIRST, 200000}}};
/* clang-format on */

/* policy.md's worked examples: inpatient employee, in scope S = 10,000.00, nothing else. */
static struct policy_input example(const struct region_policy *region, enum filing_kind kind)
{
    struct policy_input in;
    memset(&in, 0, sizeof in);
    in.region = region;
    in.insutype = "310";
    in.inpatient = true;
    in.hospital_level = '2';
    in.filing = kind;
    in.totals.amount = 1000000;
    in.totals.inscp = 1000000;
    return in;
}

struct example_case {
    const char *name;
    const struct region_policy *region;
    enum filing_kind kind;
    int64_t ratio_e6, share_first, fund, person;
};

/* clang-format off */
static const struct example_case examples[] = {
    /* (10000 - 800) x 0.90 = 8,280.00; person 10,000 - 8,280 = 1,720.00 */
    {"long-term", &NATIONAL, FILING_LONG_TERM, 900000, 0, 828000, 172000},
    /* r = 90 - 20 = 70%: 9,200 x 0.70 = 6,440.00; person 3,560.00 */
    {"other temporary, national 2022", &NATIONAL, FILING_TEMPORARY_OTHER, 700000, 0, 644000,
     356000},
    /* share 20% first (9,200 x 0.20 = 1,840.00), then 90%: 9,200 x 0.80 x 0.90 = 6,624.00;
     * person 3,376.00 */
    {"other temporary, Wuxi 2025", &WUXI, FILING_TEMPORARY_OTHER, 900000, 184000, 662400,
     337600},
    /* r = 90 - 10 = 80%: 9,200 x 0.80 = 7,360.00; person 2,640.00 */
    {"emergency, national 2022", &NATIONAL, FILING_EMERGENCY, 800000, 0, 736000, 264000},
    /* no reduction: 8,280.00; person 1,720.00 */
    {"emergency, Wuxi 2025", &WUXI, FILING_EMERGENCY, 900000, 0, 828000, 172000},
    /* referral as emergency: national -10 points 7,360.00; Wuxi none 8,280.00 */
    {"referral, national 2022", &NATIONAL, FILING_REFERRAL, 800000, 0, 736000, 264000},
    {"referral, Wuxi 2025", &WUXI, FILING_REFERRAL, 900000, 0, 828000, 172000},
    /* a commitment filing settles as long-term */
    {"commitment", &NATIONAL, FILING_COMMITMENT, 900000, 0, 828000, 172000},
    {"commitment, Wuxi", &WUXI, FILING_COMMITMENT, 900000, 0, 828000, 172000},
};
/* clang-format on */

static void test_worked_examples(void **state)
{
    (void)state;
    const struct policy_accum year = {0, 0};

    bad = 0;
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        const struct example_case *c = &examples[i];
        struct policy_input in = example(c->region, c->kind);
        struct policy_result r;
        int rc = policy_compute(&in, &year, &r);

        eq64(rc, 0, c->name, "rc");
        if (rc != 0)
            continue;
        eq64(r.medfee_sumamt, 1000000, c->name, "medfee_sumamt");
        eq64(r.inscp_scp_amt, 1000000, c->name, "inscp_scp_amt");
        eq64(r.fulamt_ownpay_amt + r.overlmt_selfpay + r.preselfpay_amt, 0, c->name,
             "self-paid parts");
        eq64(r.act_pay_dedc, 80000, c->name, "act_pay_dedc");
        eq64(r.ratio_e6, c->ratio_e6, c->name, "ratio_e6");
        eq64(r.share_first_amt, c->share_first, c->name, "share_first_amt");
        eq64(r.hifp_pay, c->fund, c->name, "hifp_pay");
        eq64(r.fund_pay_sumamt, c->fund, c->name, "fund_pay_sumamt");
        eq64(r.psn_part_amt, c->person, c->name, "psn_part_amt");
        eq64(r.acct_pay, 0, c->name, "acct_pay");
        eq64(r.psn_cash_pay, c->person, c->name, "psn_cash_pay");
        eq64(r.cap_reached, 0, c->name, "cap_reached");
        eq64(r.moved.fund_paid, c->fund, c->name, "moved.fund_paid");
        /* inpatient deductible is per admission here: the year's is not touched */
        eq64(r.moved.deductible_used, 0, c->name, "moved.deductible_used");
    }
    assert_int_equal(bad, 0);
}

struct dedc_case {
    const char *name;
    bool per_year;
    int64_t inscp;
    int64_t visit_used, year_used;
    int64_t dedc, fund, person, moved_dedc;
};

/* clang-format off */
static const struct dedc_case dedc_cases[] = {
    /* per admission, 500.00 already met in this stay: D = 300.00;
     * (10,000 - 300) x 0.90 = 8,730.00; person 1,270.00 */
    {"admission, 500 met", false, 1000000, 50000, 0, 30000, 873000, 127000, 0},
    /* per admission, met: D = 0; 10,000 x 0.90 = 9,000.00 */
    {"admission, met", false, 1000000, 80000, 0, 0, 900000, 100000, 0},
    {"admission, more than met", false, 1000000, 100000, 0, 0, 900000, 100000, 0},
    /* the year's use does not count per admission */
    {"admission, year ignored", false, 1000000, 0, 80000, 80000, 828000, 172000, 0},
    /* S below the deductible: D = S = 500.00, nothing eligible */
    {"admission, S < D", false, 50000, 0, 0, 50000, 0, 50000, 0},
    /* per year, 300.00 used this year: D = 500.00; 9,500 x 0.90 = 8,550.00 */
    {"year, 300 used", true, 1000000, 0, 30000, 50000, 855000, 145000, 50000},
    {"year, met", true, 1000000, 0, 80000, 0, 900000, 100000, 0},
    /* D = min(S, remaining): 200.00 in scope, 700.00 remaining -> D = 200.00 */
    {"year, S < remaining", true, 20000, 0, 10000, 20000, 0, 20000, 20000},
};
/* clang-format on */

static void test_deductible(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof dedc_cases / sizeof dedc_cases[0]; i++) {
        const struct dedc_case *c = &dedc_cases[i];
        struct region_policy region = NATIONAL;
        region.inpatient_deductible_per_year = c->per_year;
        struct policy_input in = example(&region, FILING_LONG_TERM);
        in.totals.amount = in.totals.inscp = c->inscp;
        in.visit_deductible_used = c->visit_used;
        struct policy_accum year = {c->year_used, 0};
        struct policy_result r;

        eq64(policy_compute(&in, &year, &r), 0, c->name, "rc");
        eq64(r.act_pay_dedc, c->dedc, c->name, "act_pay_dedc");
        eq64(r.fund_pay_sumamt, c->fund, c->name, "fund");
        eq64(r.psn_part_amt, c->person, c->name, "psn_part_amt");
        eq64(r.moved.deductible_used, c->moved_dedc, c->name, "moved.deductible_used");
        eq64(r.moved.fund_paid, c->fund, c->name, "moved.fund_paid");
    }
    assert_int_equal(bad, 0);
}

/* Outpatient, deductible per calendar year (500.00, 80%), two visits then both cancelled:
 *   visit 1: S = 300.00, 400.00 used -> D = 100.00; (300 - 100) x 0.80 = 160.00; person 140.00
 *   visit 2: S = 100.00, 500.00 used -> D = 0; 100 x 0.80 = 80.00; person 20.00 */
static void test_outpatient_year_and_cancel(void **state)
{
    (void)state;
    const struct policy_accum start = {40000, 100000};
    struct policy_accum year = start, negative = {0, -1};
    struct policy_input in = example(&NATIONAL, FILING_LONG_TERM);
    struct policy_result r1, r2;

    bad = 0;
    /* A year below zero (a cancel applied twice) is refused, not paid past the cap. */
    assert_int_equal(policy_compute(&in, &negative, &r1), POSA_ERANGE);
    in.inpatient = false;
    in.totals.amount = in.totals.inscp = 30000;
    assert_int_equal(policy_compute(&in, &year, &r1), 0);
    eq64(r1.act_pay_dedc, 10000, "visit 1", "act_pay_dedc");
    eq64(r1.ratio_e6, 800000, "visit 1", "ratio");
    eq64(r1.fund_pay_sumamt, 16000, "visit 1", "fund");
    eq64(r1.psn_part_amt, 14000, "visit 1", "person");
    eq64(r1.moved.deductible_used, 10000, "visit 1", "moved.deductible_used");
    eq64(r1.moved.fund_paid, 16000, "visit 1", "moved.fund_paid");
    policy_accum_apply(&year, &r1.moved, +1);
    eq64(year.deductible_used, 50000, "after visit 1", "deductible_used");
    eq64(year.fund_paid, 116000, "after visit 1", "fund_paid");

    in.totals.amount = in.totals.inscp = 10000;
    assert_int_equal(policy_compute(&in, &year, &r2), 0);
    eq64(r2.act_pay_dedc, 0, "visit 2", "act_pay_dedc");
    eq64(r2.fund_pay_sumamt, 8000, "visit 2", "fund");
    eq64(r2.psn_part_amt, 2000, "visit 2", "person");
    policy_accum_apply(&year, &r2.moved, +1);
    eq64(year.deductible_used, 50000, "after visit 2", "deductible_used");
    eq64(year.fund_paid, 124000, "after visit 2", "fund_paid");

    /* cancels, newest first, bring the year back to where it started */
    policy_accum_apply(&year, &r2.moved, -1);
    policy_accum_apply(&year, &r1.moved, -1);
    eq64(year.deductible_used, start.deductible_used, "after cancels", "deductible_used");
    eq64(year.fund_paid, start.fund_paid, "after cancels", "fund_paid");
    assert_int_equal(bad, 0);
}

/* Wuxi 2025 states its rules for employees only (seeds, 2025 notice part 二): a region with
 * Jiangsu's rules for all (-10/-10/-20 points) and Wuxi's for 310. In scope 10,000.00;
 * employees 800.00 / 90%, residents (390) 1,000.00 / 65%:
 *   employee emergency: no reduction, (10,000 - 800) x 0.90 = 8,280.00
 *   employee other temporary: 9,200 x 0.80 x 0.90 = 6,624.00
 *   resident emergency: (10,000 - 1,000) x (0.65 - 0.10) = 4,950.00
 *   resident referral: 4,950.00
 *   resident other temporary: 9,000 x (0.65 - 0.20) = 4,050.00 */
static void test_rules_by_insutype(void **state)
{
    static const struct region_rate rates[] = {
        {"310", true, '*', 80000, 900000, 50000000},
        {"390", true, '*', 100000, 650000, 30000000},
    };
    struct region_policy region = {.rates = rates,
                                   .n_rates = 2,
                                   .outpatient_deductible_per_year = true,
                                   .temporary = NATIONAL.temporary,
                                   .n_temporary_for = 1};
    static const struct {
        const char *insutype;
        enum filing_kind kind;
        int64_t ratio_e6, fund;
    } cases[] = {
        {"310", FILING_EMERGENCY, 900000, 828000}, {"310", FILING_TEMPORARY_OTHER, 900000, 662400},
        {"310", FILING_REFERRAL, 900000, 828000},  {"390", FILING_EMERGENCY, 550000, 495000},
        {"390", FILING_REFERRAL, 550000, 495000},  {"390", FILING_TEMPORARY_OTHER, 450000, 405000},
    };
    const struct policy_accum year = {0, 0};

    (void)state;
    bad = 0;
    region.temporary_for[0] = (struct insutype_rules){.insutype = "310", .rules = WUXI.temporary};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct policy_input in = example(&region, cases[i].kind);
        struct policy_result r;

        in.insutype = cases[i].insutype;
        eq64(policy_compute(&in, &year, &r), 0, cases[i].insutype, "rc");
        eq64(r.ratio_e6, cases[i].ratio_e6, cases[i].insutype, "ratio_e6");
        eq64(r.fund_pay_sumamt, cases[i].fund, cases[i].insutype, "fund");
        eq64(r.psn_part_amt, 1000000 - cases[i].fund, cases[i].insutype, "psn_part_amt");
    }
    assert_int_equal(bad, 0);
}

/* Two stays in one year with the inpatient deductible per year, then cancelled:
 *   stay 1: D = 800.00, 8,280.00; stay 2: D = 0, 10,000 x 0.90 = 9,000.00 */
static void test_inpatient_year_accumulates(void **state)
{
    (void)state;
    struct region_policy region = NATIONAL;
    region.inpatient_deductible_per_year = true;
    struct policy_input in = example(&region, FILING_LONG_TERM);
    struct policy_accum year = {0, 0};
    struct policy_result r1, r2;

    bad = 0;
    assert_int_equal(policy_compute(&in, &year, &r1), 0);
    eq64(r1.fund_pay_sumamt, 828000, "stay 1", "fund");
    eq64(r1.moved.deductible_used, 80000, "stay 1", "moved.deductible_used");
    policy_accum_apply(&year, &r1.moved, 1);
    assert_int_equal(policy_compute(&in, &year, &r2), 0);
    eq64(r2.act_pay_dedc, 0, "stay 2", "act_pay_dedc");
    eq64(r2.fund_pay_sumamt, 900000, "stay 2", "fund");
    policy_accum_apply(&year, &r2.moved, 1);
    eq64(year.deductible_used, 80000, "year", "deductible_used");
    eq64(year.fund_paid, 1728000, "year", "fund_paid"); /* 8,280 + 9,000 = 17,280.00 */
    policy_accum_apply(&year, &r1.moved, -1);
    policy_accum_apply(&year, &r2.moved, -1);
    eq64(year.deductible_used, 0, "cancelled", "deductible_used");
    eq64(year.fund_paid, 0, "cancelled", "fund_paid");
    assert_int_equal(bad, 0);
}

static void test_accum_apply(void **state)
{
    (void)state;
    struct policy_accum a = {30000, 1000000};
    const struct policy_accum moved = {50000, 855000};

    policy_accum_apply(&a, &moved, 1);
    assert_int_equal(a.deductible_used, 80000);
    assert_int_equal(a.fund_paid, 1855000);
    policy_accum_apply(&a, &moved, -1);
    assert_int_equal(a.deductible_used, 30000);
    assert_int_equal(a.fund_paid, 1000000);
}

/* Annual cap 500,000.00. */
static void test_annual_cap(void **state)
{
    (void)state;
    struct policy_input in = example(&NATIONAL, FILING_LONG_TERM);
    struct policy_result r;

    bad = 0;
    /* 499,000.00 paid: 1,000.00 remains, below 8,280.00 -> fund 1,000.00; person 9,000.00 */
    struct policy_accum year = {0, 49900000};
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    eq64(r.fund_pay_sumamt, 100000, "cap partly remaining", "fund");
    eq64(r.hifp_pay, 100000, "cap partly remaining", "hifp_pay");
    eq64(r.psn_part_amt, 900000, "cap partly remaining", "person");
    eq64(r.cap_reached, 1, "cap partly remaining", "cap_reached");
    eq64(r.moved.fund_paid, 100000, "cap partly remaining", "moved.fund_paid");

    /* all paid: fund 0 */
    year.fund_paid = 50000000;
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    eq64(r.fund_pay_sumamt, 0, "cap used up", "fund");
    eq64(r.psn_part_amt, 1000000, "cap used up", "person");
    eq64(r.cap_reached, 1, "cap used up", "cap_reached");

    /* 8,280.01 remaining: not reached, fund 8,280.00 */
    year.fund_paid = 50000000 - 828001;
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    eq64(r.fund_pay_sumamt, 828000, "cap not reached", "fund");
    eq64(r.cap_reached, 0, "cap not reached", "cap_reached");
    assert_int_equal(bad, 0);
}

struct acct_case {
    bool use;
    int64_t balance, acct, cash;
};

/* clang-format off */
/* Long-term example: psn_part_amt 1,720.00; acct_pay = min(balance, 1,720.00). */
static const struct acct_case acct_cases[] = {
    {true, 50000, 50000, 122000},  /* 500.00 balance: 500.00 + cash 1,220.00 */
    {true, 500000, 172000, 0},     /* 5,000.00 balance: all from the account */
    {true, 172000, 172000, 0},     /* exactly enough */
    {true, 0, 0, 172000},
    {false, 500000, 0, 172000},    /* not used: all cash */
};
/* clang-format on */

static void test_account(void **state)
{
    (void)state;
    const struct policy_accum year = {0, 0};

    bad = 0;
    for (size_t i = 0; i < sizeof acct_cases / sizeof acct_cases[0]; i++) {
        const struct acct_case *c = &acct_cases[i];
        struct policy_input in = example(&NATIONAL, FILING_LONG_TERM);
        struct policy_result r;
        char what[48];

        snprintf(what, sizeof what, "account use=%d balance=%lld", c->use, (long long)c->balance);
        in.use_account = c->use;
        in.account_balance = c->balance;
        assert_int_equal(policy_compute(&in, &year, &r), 0);
        eq64(r.psn_part_amt, 172000, what, "psn_part_amt");
        eq64(r.acct_pay, c->acct, what, "acct_pay");
        eq64(r.psn_cash_pay, c->cash, what, "psn_cash_pay");
    }
    assert_int_equal(bad, 0);
}

/* Self-paid parts are the person's: F 200.00 + O 60.00 + P 30.00 + S 10,000.00 = 10,290.00;
 * fund 8,280.00 (from S only); person 10,290 - 8,280 = 2,010.00. */
static void test_self_paid_parts(void **state)
{
    (void)state;
    const struct policy_accum year = {0, 0};
    struct policy_input in = example(&NATIONAL, FILING_LONG_TERM);
    struct policy_result r;

    bad = 0;
    in.totals.fulamt_ownpay = 20000;
    in.totals.overlmt = 6000;
    in.totals.preselfpay = 3000;
    in.totals.amount = 1029000;
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    eq64(r.medfee_sumamt, 1029000, "mixed", "medfee_sumamt");
    eq64(r.fulamt_ownpay_amt, 20000, "mixed", "fulamt_ownpay_amt");
    eq64(r.overlmt_selfpay, 6000, "mixed", "overlmt_selfpay");
    eq64(r.preselfpay_amt, 3000, "mixed", "preselfpay_amt");
    eq64(r.inscp_scp_amt, 1000000, "mixed", "inscp_scp_amt");
    eq64(r.fund_pay_sumamt, 828000, "mixed", "fund");
    eq64(r.psn_part_amt, 201000, "mixed", "psn_part_amt");
    assert_int_equal(bad, 0);
}

/* Rounding, once and half-up:
 *   long-term, E = 0.05: 5 x 0.90 = 4.5 fen -> 5 (half-up); person 800.05 - 0.05 = 800.00
 *   Wuxi share, E = 0.06: 6 x 0.80 x 0.90 = 4.32 -> 4 fen; rounding twice would give
 *   round(round(4.8) x 0.90 = 4.5) = 5. share first = round(6 x 0.20 = 1.2) = 1 fen. */
static void test_rounding(void **state)
{
    (void)state;
    const struct policy_accum year = {0, 0};
    struct policy_result r;

    bad = 0;
    struct policy_input in = example(&NATIONAL, FILING_LONG_TERM);
    in.totals.amount = in.totals.inscp = 80005;
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    eq64(r.fund_pay_sumamt, 5, "E 0.05 x 0.90", "fund");
    eq64(r.psn_part_amt, 80000, "E 0.05 x 0.90", "person");

    in = example(&WUXI, FILING_TEMPORARY_OTHER);
    in.totals.amount = in.totals.inscp = 80006;
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    eq64(r.fund_pay_sumamt, 4, "E 0.06 share 0.20 then 0.90", "fund");
    eq64(r.share_first_amt, 1, "E 0.06 share 0.20 then 0.90", "share_first_amt");
    eq64(r.psn_part_amt, 80002, "E 0.06 share 0.20 then 0.90", "person");
    assert_int_equal(bad, 0);
}

/* Level 3 has its own row (1,200.00, 85%): (10,000 - 1,200) x 0.85 = 7,480.00. */
static void test_hospital_level(void **state)
{
    (void)state;
    const struct policy_accum year = {0, 0};
    struct policy_input in = example(&NATIONAL, FILING_LONG_TERM);
    struct policy_result r;

    in.hospital_level = '3';
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    assert_int_equal(r.act_pay_dedc, 120000);
    assert_int_equal(r.ratio_e6, 850000);
    assert_int_equal(r.fund_pay_sumamt, 748000);
    assert_int_equal(r.psn_part_amt, 252000);
}

static void test_find_rate(void **state)
{
    (void)state;
    /* the exact level beats '*' whichever comes first */
    static const struct region_rate exact_first[] = {
        {"310", true, '3', 120000, 850000, 50000000},
        {"310", true, '*', 80000, 900000, 50000000},
    };
    const struct region_policy rev = {
        .rates = exact_first, .n_rates = 2, .outpatient_deductible_per_year = true};

    assert_ptr_equal(policy_find_rate(&NATIONAL, "310", true, '3'), &RATES[1]);
    assert_ptr_equal(policy_find_rate(&NATIONAL, "310", true, '2'), &RATES[0]);
    assert_ptr_equal(policy_find_rate(&NATIONAL, "310", false, '3'), &RATES[2]);
    assert_null(policy_find_rate(&NATIONAL, "390", true, '2'));
    assert_null(policy_find_rate(&NATIONAL, "31", true, '2'));
    assert_null(policy_find_rate(&NATIONAL, "3100", true, '2'));
    assert_ptr_equal(policy_find_rate(&rev, "310", true, '3'), &exact_first[0]);
    assert_ptr_equal(policy_find_rate(&rev, "310", true, '1'), &exact_first[1]);
    assert_null(policy_find_rate(&rev, "310", false, '1'));
}

static void test_refusals(void **state)
{
    (void)state;
    const struct policy_accum year = {0, 0};
    struct policy_result r, untouched;
    struct policy_input in;
    static const struct region_rate inpatient_only[] = {
        {"310", true, '*', 80000, 900000, 50000000}};
    const struct region_policy partial = {
        .rates = inpatient_only, .n_rates = 1, .outpatient_deductible_per_year = true};

    memset(&r, 0x5a, sizeof r);
    untouched = r;
    in = example(&NATIONAL, FILING_LONG_TERM);
    in.insutype = "390"; /* residents: no rate in this region */
    assert_int_equal(policy_compute(&in, &year, &r), POSA_ENORATE);
    in = example(&partial, FILING_LONG_TERM);
    in.inpatient = false;
    assert_int_equal(policy_compute(&in, &year, &r), POSA_ENORATE);
    in = example(&NATIONAL, FILING_NONE);
    assert_int_equal(policy_compute(&in, &year, &r), POSA_EFILING);
    assert_memory_equal(&r, &untouched, sizeof r);
}

/* Trauma with a third party: the fund pays nothing, the person all 10,000.00. */
static void test_fund_excluded(void **state)
{
    (void)state;
    const struct policy_accum year = {0, 0};
    struct policy_input in = example(&NATIONAL, FILING_LONG_TERM);
    struct policy_result r;

    in.fund_excluded = true;
    assert_int_equal(policy_compute(&in, &year, &r), 0);
    assert_int_equal(r.hifp_pay, 0);
    assert_int_equal(r.fund_pay_sumamt, 0);
    assert_int_equal(r.psn_part_amt, 1000000);
    assert_int_equal(r.psn_cash_pay, 1000000);
    assert_int_equal(r.moved.fund_paid, 0);
    assert_int_equal(r.medfee_sumamt, 1000000);
}

/* Absurd input is refused (ERANGE / EOVERFLOW) or, if accepted, still settles to amounts that
 * add up: never a crash, never a negative part. */
static void test_absurd_input(void **state)
{
    (void)state;
    static const struct {
        int64_t amount, fulamt, inscp, balance, visit_used;
    } absurd[] = {
        {INT64_MAX, 0, INT64_MAX, 0, 0},
        {INT64_MAX, INT64_MAX - 1000000, 1000000, INT64_MAX, 0},
        {1000000, 0, 1000000, -5, 0},     /* negative balance */
        {1000000, 0, 1000000, 0, -80000}, /* negative deductible already met */
        {1000000, 0, 1000000, 0, INT64_MAX},
    };
    const struct policy_accum year = {0, 0};

    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        struct policy_input in = example(&WUXI, FILING_TEMPORARY_OTHER);
        struct policy_result r;
        in.totals.amount = absurd[i].amount;
        in.totals.fulamt_ownpay = absurd[i].fulamt;
        in.totals.inscp = absurd[i].inscp;
        in.use_account = true;
        in.account_balance = absurd[i].balance;
        in.visit_deductible_used = absurd[i].visit_used;
        int rc = policy_compute(&in, &year, &r);
        if (rc == POSA_ERANGE || rc == POSA_EOVERFLOW)
            continue;
        assert_int_equal(rc, 0);
        assert_int_equal(r.fund_pay_sumamt + r.psn_part_amt, r.medfee_sumamt);
        assert_true(r.fund_pay_sumamt >= 0 && r.fund_pay_sumamt <= r.inscp_scp_amt);
        assert_true(r.acct_pay >= 0 && r.psn_cash_pay >= 0 && r.act_pay_dedc >= 0);
        assert_int_equal(r.acct_pay + r.psn_cash_pay, r.psn_part_amt);
    }
}

/* ---- filing_resolve ---- */

/* clang-format off */
#define NOF {FILING_NONE, 0, 0}
/* clang-format on */

struct filing_case {
    const char *name;
    struct filing filings[4];
    size_t n;
    struct filing_query q;
    int rc;
    enum filing_kind kind;
    int used; /* index of the filing applied, -1 for none */
};

/* clang-format off */
/* Dates yyyymmdd; validity inclusive; valid_to 0 = open-ended.
 * Stays: {inpatient, emergency, admission, settlement}. */
static const struct filing_case filing_cases[] = {
    {"valid at admission, expires before discharge: the whole stay",
     {{FILING_LONG_TERM, 20240101, 20241231}, NOF, NOF, NOF}, 1,
     {true, false, 20241220, 20250105}, 0, FILING_LONG_TERM, 0},
    {"filed after admission, before the settlement",
     {{FILING_TEMPORARY_OTHER, 20250103, 20250702}, NOF, NOF, NOF}, 1,
     {true, false, 20241228, 20250105}, 0, FILING_TEMPORARY_OTHER, 0},
    {"filed on the settlement day",
     {{FILING_REFERRAL, 20250105, 20250704}, NOF, NOF, NOF}, 1,
     {true, false, 20241228, 20250105}, 0, FILING_REFERRAL, 0},
    {"valid only within the stay",
     {{FILING_REFERRAL, 20241225, 20241230}, NOF, NOF, NOF}, 1,
     {true, false, 20241220, 20250105}, 0, FILING_REFERRAL, 0},
    {"filed after the settlement",
     {{FILING_TEMPORARY_OTHER, 20250106, 20250705}, NOF, NOF, NOF}, 1,
     {true, false, 20241228, 20250105}, POSA_EFILING, FILING_NONE, -1},
    {"expired the day before admission",
     {{FILING_LONG_TERM, 20240101, 20241219}, NOF, NOF, NOF}, 1,
     {true, false, 20241220, 20250105}, POSA_EFILING, FILING_NONE, -1},
    {"expired on the admission day (inclusive)",
     {{FILING_LONG_TERM, 20240101, 20241220}, NOF, NOF, NOF}, 1,
     {true, false, 20241220, 20250105}, 0, FILING_LONG_TERM, 0},
    {"outpatient, valid on the date",
     {{FILING_TEMPORARY_OTHER, 20250105, 20250704}, NOF, NOF, NOF}, 1,
     {false, false, 20250105, 20250105}, 0, FILING_TEMPORARY_OTHER, 0},
    {"outpatient, last valid day",
     {{FILING_TEMPORARY_OTHER, 20240705, 20250105}, NOF, NOF, NOF}, 1,
     {false, false, 20250105, 20250105}, 0, FILING_TEMPORARY_OTHER, 0},
    {"outpatient, valid from the next day",
     {{FILING_TEMPORARY_OTHER, 20250106, 20250705}, NOF, NOF, NOF}, 1,
     {false, false, 20250105, 20250105}, POSA_EFILING, FILING_NONE, -1},
    {"outpatient, expired the day before",
     {{FILING_TEMPORARY_OTHER, 20240704, 20250104}, NOF, NOF, NOF}, 1,
     {false, false, 20250105, 20250105}, POSA_EFILING, FILING_NONE, -1},
    {"open-ended long-term",
     {{FILING_LONG_TERM, 20200101, 0}, NOF, NOF, NOF}, 1,
     {false, false, 20250105, 20250105}, 0, FILING_LONG_TERM, 0},
    {"not filed, not emergency", {NOF, NOF, NOF, NOF}, 0,
     {true, false, 20241220, 20250105}, POSA_EFILING, FILING_NONE, -1},
    {"emergency, no filing", {NOF, NOF, NOF, NOF}, 0,
     {true, true, 20241220, 20250105}, 0, FILING_EMERGENCY, -1},
    {"emergency outpatient, no filing", {NOF, NOF, NOF, NOF}, 0,
     {false, true, 20250105, 20250105}, 0, FILING_EMERGENCY, -1},
    {"emergency, only other temporary",
     {{FILING_TEMPORARY_OTHER, 20240701, 20251231}, NOF, NOF, NOF}, 1,
     {true, true, 20241220, 20250105}, 0, FILING_EMERGENCY, -1},
    {"emergency, other temporary expired",
     {{FILING_TEMPORARY_OTHER, 20240101, 20240630}, NOF, NOF, NOF}, 1,
     {true, true, 20241220, 20250105}, 0, FILING_EMERGENCY, -1},
    {"emergency with a referral: as filed",
     {{FILING_REFERRAL, 20240701, 20251231}, NOF, NOF, NOF}, 1,
     {true, true, 20241220, 20250105}, 0, FILING_REFERRAL, 0},
    {"emergency with long-term: as filed",
     {{FILING_TEMPORARY_OTHER, 20240701, 20251231}, {FILING_LONG_TERM, 20200101, 0}, NOF, NOF},
     2, {true, true, 20241220, 20250105}, 0, FILING_LONG_TERM, 1},
    {"preference: long-term first",
     {{FILING_TEMPORARY_OTHER, 20240701, 20251231}, {FILING_REFERRAL, 20240701, 20251231},
      {FILING_COMMITMENT, 20241210, 20241224}, {FILING_LONG_TERM, 20200101, 0}},
     4, {true, false, 20241220, 20250105}, 0, FILING_LONG_TERM, 3},
    {"preference: commitment over referral",
     {{FILING_TEMPORARY_OTHER, 20240701, 20251231}, {FILING_REFERRAL, 20240701, 20251231},
      {FILING_COMMITMENT, 20241210, 20241224}, NOF},
     3, {true, false, 20241220, 20250105}, 0, FILING_COMMITMENT, 2},
    {"preference: referral over other temporary",
     {{FILING_TEMPORARY_OTHER, 20240701, 20251231}, {FILING_REFERRAL, 20240701, 20251231}, NOF,
      NOF},
     2, {true, false, 20241220, 20250105}, 0, FILING_REFERRAL, 1},
    {"preference: only among valid ones",
     {{FILING_LONG_TERM, 20200101, 20231231}, {FILING_TEMPORARY_OTHER, 20240701, 20251231},
      NOF, NOF},
     2, {true, false, 20241220, 20250105}, 0, FILING_TEMPORARY_OTHER, 1},
    /* a commitment filing is valid 15 days: the 10th to the 24th of January 2025 */
    {"commitment, last day of its window",
     {{FILING_COMMITMENT, 20250110, 20250124}, NOF, NOF, NOF}, 1,
     {false, false, 20250124, 20250124}, 0, FILING_COMMITMENT, 0},
    {"commitment, the day after its window",
     {{FILING_COMMITMENT, 20250110, 20250124}, NOF, NOF, NOF}, 1,
     {false, false, 20250125, 20250125}, POSA_EFILING, FILING_NONE, -1},
    {"commitment, admitted on its last day",
     {{FILING_COMMITMENT, 20250110, 20250124}, NOF, NOF, NOF}, 1,
     {true, false, 20250124, 20250210}, 0, FILING_COMMITMENT, 0},
    {"commitment, admitted after its window",
     {{FILING_COMMITMENT, 20250110, 20250124}, NOF, NOF, NOF}, 1,
     {true, false, 20250125, 20250210}, POSA_EFILING, FILING_NONE, -1},
    {"commitment lapsed, other temporary valid",
     {{FILING_COMMITMENT, 20250110, 20250124}, {FILING_TEMPORARY_OTHER, 20250120, 20250719},
      NOF, NOF},
     2, {false, false, 20250201, 20250201}, 0, FILING_TEMPORARY_OTHER, 1},
};
/* clang-format on */

static void test_filing_resolve(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof filing_cases / sizeof filing_cases[0]; i++) {
        const struct filing_case *c = &filing_cases[i];
        enum filing_kind kind = (enum filing_kind)99;
        const struct filing *used = (const struct filing *)&kind; /* "untouched" marker */
        int rc = filing_resolve(c->n ? c->filings : NULL, c->n, &c->q, &kind, &used);

        eq64(rc, c->rc, c->name, "rc");
        if (c->rc != 0) {
            eq64(kind, 99, c->name, "ret_kind written on failure");
            continue;
        }
        eq64(kind, c->kind, c->name, "kind");
        const struct filing *want = c->used < 0 ? NULL : &c->filings[c->used];
        if (used != want) {
            print_error("%s: ret_used is not filing %d\n", c->name, c->used);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_filing_kind_names(void **state)
{
    (void)state;
    static const enum filing_kind kinds[] = {FILING_LONG_TERM, FILING_REFERRAL, FILING_EMERGENCY,
                                             FILING_TEMPORARY_OTHER, FILING_COMMITMENT};
    enum filing_kind back;

    assert_string_equal(filing_kind_name(FILING_LONG_TERM), "long_term");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *name = filing_kind_name(kinds[i]);
        assert_non_null(name);
        assert_int_equal(filing_kind_parse(name, &back), 0);
        assert_int_equal(back, kinds[i]);
    }
    assert_true(filing_kind_parse("bogus", &back) < 0);
    assert_true(filing_kind_parse("", &back) < 0);
    assert_true(filing_kind_parse("long_term ", &back) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_examples),
        cmocka_unit_test(test_rules_by_insutype),
        cmocka_unit_test(test_deductible),
        cmocka_unit_test(test_outpatient_year_and_cancel),
        cmocka_unit_test(test_inpatient_year_accumulates),
        cmocka_unit_test(test_accum_apply),
        cmocka_unit_test(test_annual_cap),
        cmocka_unit_test(test_account),
        cmocka_unit_test(test_self_paid_parts),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_hospital_level),
        cmocka_unit_test(test_find_rate),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_fund_excluded),
        cmocka_unit_test(test_absurd_input),
        cmocka_unit_test(test_filing_resolve),
        cmocka_unit_test(test_filing_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
