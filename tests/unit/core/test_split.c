/* Unit tests of core/split.h: the per-line split of policy.md, the catalog index and the bill
 * with its 14 categories. Every expected figure is worked out by hand next to its case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/split.h"

static int bad; /* failing checks of the current table; each is printed */

static void eq64(int64_t got, int64_t want, const char *what, const char *field)
{
    if (got != want) {
        print_error("%s: %s got %lld, want %lld\n", what, field, (long long)got, (long long)want);
        bad++;
    }
}

/* Catalog items (treating region). Prices at scale 6, ratios at scale 6. */
/* clang-format off */
static const struct catalog_item A_PLAIN = {"XA01", "甲 no limit", LV_A, 9, 0, PRICE_NO_LIMIT, 0};
static const struct catalog_item A_LIM = {"XA02", "甲 limit 100.00", LV_A, 8, 0, 100000000, 0};
static const struct catalog_item B10 = {"XB10", "乙 0.10", LV_B, 9, 100000, PRICE_NO_LIMIT, 0};
static const struct catalog_item B05 = {"XB05", "乙 0.05", LV_B, 11, 50000, PRICE_NO_LIMIT, 0};
static const struct catalog_item B00 = {"XB00", "乙 0", LV_B, 9, 0, PRICE_NO_LIMIT, 0};
static const struct catalog_item B100 = {"XB99", "乙 1.00", LV_B, 9, 1000000, PRICE_NO_LIMIT, 0};
static const struct catalog_item B_LIM = {"XB11", "乙 0.10 limit 100.00", LV_B, 8, 100000,
                                          100000000, 0};
static const struct catalog_item B15_LIM = {"XB15", "乙 0.15 limit 10.00", LV_B, 9, 150000,
                                            10000000, 0};
static const struct catalog_item A_ZERO = {"XA03", "甲 limit 0.00", LV_A, 9, 0, 0, 0};
static const struct catalog_item C_PLAIN = {"XC01", "丙", LV_C, 9, 0, PRICE_NO_LIMIT, 0};
static const struct catalog_item C_LIM = {"XC02", "丙 limit 50.00", LV_C, 8, 0, 50000000, 0};
/* clang-format on */

struct split_case {
    const char *name;
    const struct catalog_item *item; /* NULL: not in the catalog */
    int64_t price_e6, qty_e4, amount_fen;
    int rc;
    /* expected parts (fen) when rc == 0 */
    int64_t amount, fulamt, overlmt, pre, inscp;
};

/* clang-format off */
static const struct split_case split_cases[] = {
    /* 甲, no limit: 4.52 x 3 = 13.56, all in scope */
    {"甲", &A_PLAIN, 4520000, 30000, 1356, 0, 1356, 0, 0, 0, 1356},
    /* 甲 limit 0.00, 0.015 x 1 = round(0.015) = 0.02, the HIS's amount a fen under, 0.01:
     * over the limit (0.015 - 0) x 1 = 0.02, but no part is more than the line: over 0.01,
     * in scope 0.00 (not -0.01) */
    {"甲 limit 0, HIS a fen under", &A_ZERO, 15000, 10000, 1, 0, 1, 0, 1, 0, 0},
    /* 乙 0.10: 12.35 x 2 = 24.70; pre = 24.70 x 0.10 = 2.47; inscp = 22.23 */
    {"乙 0.10", &B10, 12350000, 20000, 2470, 0, 2470, 0, 0, 247, 2223},
    /* 乙 0.05: 0.33 x 1 = 0.33; pre = round(0.33 x 0.05 = 0.0165) = 0.02; inscp 0.31 */
    {"乙 0.05 half-up", &B05, 330000, 10000, 33, 0, 33, 0, 0, 2, 31},
    /* 乙 ratio 0: pre 0 */
    {"乙 0", &B00, 12350000, 20000, 2470, 0, 2470, 0, 0, 0, 2470},
    /* 乙 ratio 1: pre = base, inscp 0 */
    {"乙 1.00", &B100, 12350000, 20000, 2470, 0, 2470, 0, 0, 2470, 0},
    /* 丙: 88.00 x 1 fully self-paid */
    {"丙", &C_PLAIN, 88000000, 10000, 8800, 0, 8800, 8800, 0, 0, 0},
    /* 丙 over its limit: still only fully self-paid, no over-limit part (rule 1 first) */
    {"丙 over limit", &C_LIM, 88000000, 10000, 8800, 0, 8800, 8800, 0, 0, 0},
    /* not in catalog: 50.00 x 2 = 100.00 fully self-paid */
    {"not in catalog", NULL, 50000000, 20000, 10000, 0, 10000, 10000, 0, 0, 0},
    /* 甲 over limit: 120.00 x 3 = 360.00; overlmt = (120 - 100) x 3 = 60.00; base 300.00 */
    {"甲 over limit", &A_LIM, 120000000, 30000, 36000, 0, 36000, 0, 6000, 0, 30000},
    /* 甲 at the limit exactly: price > U is false, nothing over */
    {"甲 at limit", &A_LIM, 100000000, 20000, 20000, 0, 20000, 0, 0, 0, 20000},
    /* 乙 over limit: 360.00; overlmt 60.00; base 300.00; pre 300 x 0.10 = 30.00; inscp 270.00 */
    {"乙 over limit", &B_LIM, 120000000, 30000, 36000, 0, 36000, 0, 6000, 3000, 27000},
    /* 乙 over limit, rounding: 10.555 x 1.5 = 15.8325 -> 15.83;
     * overlmt = round((10.555 - 10.00) x 1.5 = 0.8325) = 0.83; base = 15.83 - 0.83 = 15.00;
     * pre = 15.00 x 0.15 = 2.25; inscp = 15.00 - 2.25 = 12.75. 0.83 + 2.25 + 12.75 = 15.83 */
    {"乙 over limit rounding", &B15_LIM, 10555000, 15000, 1583, 0, 1583, 0, 83, 225, 1275},
    /* half-up on the amount: 0.005 x 1 = 0.5 fen -> 1 fen */
    {"amount half-up", &A_PLAIN, 5000, 10000, 1, 0, 1, 0, 0, 0, 1},
    /* 3.333333 x 0.3333 = 1.1109998889 -> 1.11 */
    {"fractional qty", &A_PLAIN, 3333333, 3333, 111, 0, 111, 0, 0, 0, 111},
    /* refunds (negative qty) mirror their charges exactly: half away from zero */
    {"refund 乙 0.10", &B10, 12350000, -20000, -2470, 0, -2470, 0, 0, -247, -2223},
    /* -0.33 x 0.05 = -0.0165 -> -0.02 */
    {"refund 乙 0.05", &B05, 330000, -10000, -33, 0, -33, 0, 0, -2, -31},
    {"refund 乙 over limit", &B_LIM, 120000000, -30000, -36000, 0, -36000, 0, -6000, -3000,
     -27000},
    {"refund 丙", &C_PLAIN, 88000000, -10000, -8800, 0, -8800, -8800, 0, 0, 0},
    /* -0.005 -> -0.5 fen -> -1 fen */
    {"refund not in catalog", NULL, 5000, -10000, -1, 0, -1, -1, 0, 0, 0},
    /* the HIS's amount vs round(price x qty) = 13.56 */
    {"amount 0.02 low", &A_PLAIN, 4520000, 30000, 1354, POSA_EAMOUNT, 0, 0, 0, 0, 0},
    {"amount 0.02 high", &A_PLAIN, 4520000, 30000, 1358, POSA_EAMOUNT, 0, 0, 0, 0, 0},
    {"amount off by 1 yuan", &A_PLAIN, 4520000, 30000, 1256, POSA_EAMOUNT, 0, 0, 0, 0, 0},
    {"refund with positive amount", &B10, 12350000, -20000, 2470, POSA_EAMOUNT, 0, 0, 0, 0, 0},
    {"refund amount 0.02 off", &B10, 12350000, -20000, -2468, POSA_EAMOUNT, 0, 0, 0, 0, 0},
    /* bounds */
    {"price over bound", &A_PLAIN, BOUND_PRICE_E6 + 1, 10000, 0, POSA_ERANGE, 0, 0, 0, 0, 0},
    {"qty over bound", &A_PLAIN, 1000000, BOUND_QTY_E4 + 1, 0, POSA_ERANGE, 0, 0, 0, 0, 0},
    {"qty under -bound", &A_PLAIN, 1000000, -BOUND_QTY_E4 - 1, 0, POSA_ERANGE, 0, 0, 0, 0, 0},
    {"qty INT64_MIN", &A_PLAIN, 0, INT64_MIN, 0, POSA_ERANGE, 0, 0, 0, 0, 0},
    {"amount INT64_MIN", &A_PLAIN, 0, -1, INT64_MIN, POSA_ERANGE, 0, 0, 0, 0, 0},
    /* qty and price at their bounds: a product past int64, so no bounded amount equals it
     * (it said "too large to compute", naming no field) */
    {"price x qty past any amount", &A_PLAIN, BOUND_PRICE_E6, BOUND_QTY_E4, 100, POSA_EAMOUNT, 0,
     0, 0, 0, 0},
};
/* clang-format on */

static void check_split(const struct split_case *c, const struct split *s)
{
    eq64(s->amount, c->amount, c->name, "amount");
    eq64(s->fulamt_ownpay, c->fulamt, c->name, "fulamt_ownpay");
    eq64(s->overlmt, c->overlmt, c->name, "overlmt");
    eq64(s->preselfpay, c->pre, c->name, "preselfpay");
    eq64(s->inscp, c->inscp, c->name, "inscp");
    eq64(s->fulamt_ownpay + s->overlmt + s->preselfpay + s->inscp, s->amount, c->name,
         "four parts");
    if (c->item) {
        eq64(s->lv, c->item->lv, c->name, "lv");
        eq64(s->category, c->item->category, c->name, "category");
    } else {
        eq64(s->lv, LV_NONE, c->name, "lv");
    }
    /* 甲/乙 report the catalog's ratio; a fully self-paid line (丙 or not in the catalog)
     * reports 1.00, as the national 2301 answer does for 丙 (split.h). */
    if (c->item && c->item->lv != LV_C)
        eq64(s->selfpay_prop_e6, c->item->selfpay_prop_e6, c->name, "selfpay_prop_e6");
    else
        eq64(s->selfpay_prop_e6, DEC_E6, c->name, "selfpay_prop_e6 (丙/none: 1.00)");
}

static void test_split_table(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++) {
        const struct split_case *c = &split_cases[i];
        struct fee_line line = {c->item ? c->item->list_code : "NOTLISTED", c->price_e6, c->qty_e4,
                                c->amount_fen};
        struct split s, untouched;
        memset(&s, 0x5a, sizeof s);
        untouched = s;

        int rc = split_line(&line, c->item, &s);
        eq64(rc, c->rc, c->name, "rc");
        if (c->rc == 0 && rc == 0)
            check_split(c, &s);
        else if (memcmp(&s, &untouched, sizeof s) != 0) {
            print_error("%s: ret written on failure\n", c->name);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Within one fen of round(price x qty) = 13.56 is accepted; the parts sum to the amount
 * kept (policy.md names A = round(price x qty); the HIS's amount differs by at most 0.01). */
static void test_split_amount_tolerance(void **state)
{
    (void)state;
    static const int64_t his[] = {1355, 1357};
    for (size_t i = 0; i < 2; i++) {
        struct fee_line line = {"XA01", 4520000, 30000, his[i]};
        struct split s;
        assert_int_equal(split_line(&line, &A_PLAIN, &s), 0);
        assert_int_equal(s.amount, his[i]); /* the HIS's amount is what the parts split */
        assert_true(s.inscp == s.amount);
        assert_true(s.fulamt_ownpay + s.overlmt + s.preselfpay + s.inscp == s.amount);
    }
    /* a refund within one fen: -24.70 vs -24.69 */
    struct fee_line refund = {"XB10", 12350000, -20000, -2469};
    struct split s;
    assert_int_equal(split_line(&refund, &B10, &s), 0);
    assert_true(s.fulamt_ownpay + s.overlmt + s.preselfpay + s.inscp == s.amount);
}

/* A negative price is refused (ENEGATIVE), a zero quantity too (ERANGE: a line that bills
 * nothing is an HIS mistake), and nothing absurd slips through. */
static void test_split_refuses_absurd(void **state)
{
    (void)state;
    struct fee_line neg = {"XA01", -4520000, 30000, -1356};
    struct fee_line huge = {"XA01", BOUND_PRICE_E6, BOUND_QTY_E4, INT64_MAX};
    struct split s;
    int rc = split_line(&neg, &A_PLAIN, &s);

    assert_int_equal(rc, POSA_ENEGATIVE);
    struct fee_line zero = {"XA01", 4520000, 0, 0};
    memset(&s, 0, sizeof s);
    rc = split_line(&zero, &A_PLAIN, &s);
    assert_int_equal(rc, POSA_ERANGE);
    /* 1e11 yuan x 1e8 = 1e19 yuan: far beyond int64 fen */
    assert_true(split_line(&huge, &A_PLAIN, &s) < 0);
}

static void add_line(struct bill *b, const struct catalog_item *item, int64_t price_e6,
                     int64_t qty_e4, int64_t amount)
{
    struct fee_line line = {item ? item->list_code : "NOTLISTED", price_e6, qty_e4, amount};
    struct split s;

    assert_int_equal(split_line(&line, item, &s), 0);
    assert_int_equal(bill_add(b, &s), 0);
}

static void expect_totals(const struct split_totals *t, int64_t amount, int64_t fulamt,
                          int64_t overlmt, int64_t pre, int64_t inscp, const char *what)
{
    eq64(t->amount, amount, what, "amount");
    eq64(t->fulamt_ownpay, fulamt, what, "fulamt_ownpay");
    eq64(t->overlmt, overlmt, what, "overlmt");
    eq64(t->preselfpay, pre, what, "preselfpay");
    eq64(t->inscp, inscp, what, "inscp");
}

/* Rounding per line, never on sums: three 乙 lines of 0.05 at ratio 0.10 each have
 * pre = round(0.005) = 0.01, so 0.03 in all, while round(0.15 x 0.10 = 0.015) = 0.02. */
static void test_bill_rounds_per_line(void **state)
{
    (void)state;
    struct bill b;
    int64_t on_sum = 0;

    bad = 0;
    bill_init(&b);
    for (int i = 0; i < 3; i++)
        add_line(&b, &B10, 50000, 10000, 5);
    expect_totals(&b.total, 15, 0, 0, 3, 12, "3 x 乙 0.05");
    assert_int_equal(dec_mul_round(15, 100000, 6, &on_sum), 0);
    assert_int_equal(on_sum, 2); /* what rounding the sum would wrongly give */
    assert_int_equal(b.lines, 3);

    /* 100 such lines: pre 1.00 (per line) vs round(5.00 x 0.10) = 0.50 (on the sum) */
    bill_init(&b);
    for (int i = 0; i < 100; i++)
        add_line(&b, &B10, 50000, 10000, 5);
    expect_totals(&b.total, 500, 0, 0, 100, 400, "100 x 乙 0.05");
    expect_totals(&b.by_category[9], 500, 0, 0, 100, 400, "100 x 乙 0.05, cat 09");

    /* amounts round per line too: 3 x round(0.005) = 0.03, not round(0.015) = 0.02 */
    bill_init(&b);
    for (int i = 0; i < 3; i++)
        add_line(&b, &A_PLAIN, 5000, 10000, 1);
    expect_totals(&b.total, 3, 0, 0, 0, 3, "3 x 甲 0.005");
    assert_int_equal(bad, 0);
}

/* Lines in three categories and a refund; totals worked out line by line:
 *   cat 09: 甲 13.56 + 乙 24.70 (2.47 / 22.23) + 丙 88.00 + refund 乙 -24.70 (-2.47 / -22.23)
 *           amount 101.56, fulamt 88.00, pre 0, inscp 13.56
 *   cat 08: 甲 over limit 360.00 = over 60.00 + inscp 300.00
 *   cat 11: 乙 0.05 0.33 = pre 0.02 + inscp 0.31
 *   bill:   amount 101.56 + 360.00 + 0.33 = 461.89; fulamt 88.00; overlmt 60.00;
 *           pre 0.02; inscp 13.56 + 300.00 + 0.31 = 313.87 (88 + 60 + 0.02 + 313.87 = 461.89) */
static void test_bill_categories(void **state)
{
    (void)state;
    struct bill b;

    bad = 0;
    bill_init(&b);
    add_line(&b, &A_PLAIN, 4520000, 30000, 1356);
    add_line(&b, &B10, 12350000, 20000, 2470);
    add_line(&b, &C_PLAIN, 88000000, 10000, 8800);
    add_line(&b, &A_LIM, 120000000, 30000, 36000);
    add_line(&b, &B05, 330000, 10000, 33);
    add_line(&b, &B10, 12350000, -20000, -2470);

    assert_int_equal(b.lines, 6);
    expect_totals(&b.by_category[9], 10156, 8800, 0, 0, 1356, "cat 09");
    expect_totals(&b.by_category[8], 36000, 0, 6000, 0, 30000, "cat 08");
    expect_totals(&b.by_category[11], 33, 0, 0, 2, 31, "cat 11");
    expect_totals(&b.total, 46189, 8800, 6000, 2, 31387, "bill");
    for (int c = 0; c <= CATEGORY_MAX; c++) {
        if (c == 8 || c == 9 || c == 11)
            continue;
        char what[32];
        snprintf(what, sizeof what, "cat %02d (empty)", c);
        expect_totals(&b.by_category[c], 0, 0, 0, 0, 0, what);
    }
    assert_int_equal(bad, 0);
}

static struct split hand_split(uint8_t category, int64_t fulamt, int64_t inscp)
{
    struct split s;
    memset(&s, 0, sizeof s);
    s.fulamt_ownpay = fulamt;
    s.inscp = inscp;
    s.amount = fulamt + inscp;
    s.lv = LV_A;
    s.category = category;
    return s;
}

/* Overflow anywhere (total, a category, one part) refuses the line and leaves the bill as it
 * was. The splits are made by hand: real lines are bounded far below this. */
static void test_bill_overflow_leaves_bill(void **state)
{
    (void)state;
    struct bill b, before;
    const int64_t big = INT64_MAX - 10;
    struct split s;

    /* the bill total: (MAX - 10) + 11 overflows */
    bill_init(&b);
    s = hand_split(9, big, 0);
    assert_int_equal(bill_add(&b, &s), 0);
    before = b;
    s = hand_split(10, 11, 0);
    assert_int_equal(bill_add(&b, &s), POSA_EOVERFLOW);
    assert_memory_equal(&b, &before, sizeof b);

    /* a category only: cat 09 +(MAX - 10), cat 10 -(MAX - 10), total 0; +20 to cat 09 */
    bill_init(&b);
    s = hand_split(9, big, 0);
    assert_int_equal(bill_add(&b, &s), 0);
    s = hand_split(10, -big, 0);
    assert_int_equal(bill_add(&b, &s), 0);
    assert_int_equal(b.total.amount, 0);
    before = b;
    s = hand_split(9, 20, 0);
    assert_int_equal(bill_add(&b, &s), POSA_EOVERFLOW);
    assert_memory_equal(&b, &before, sizeof b);

    /* one part only: fulamt (MAX - 10) with inscp -(MAX - 10), amount 0; then fulamt +20,
     * inscp -20 keeps the amount at 0 but overflows fulamt */
    bill_init(&b);
    s = hand_split(9, big, -big);
    assert_int_equal(bill_add(&b, &s), 0);
    before = b;
    s = hand_split(9, 20, -20);
    assert_int_equal(bill_add(&b, &s), POSA_EOVERFLOW);
    assert_memory_equal(&b, &before, sizeof b);
}

/* A split whose category is outside 01..14 cannot land in the bill: refused, bill unchanged. */
static void test_bill_refuses_bad_category(void **state)
{
    (void)state;
    struct bill b, before;
    struct split s = hand_split(9, 100, 0);

    bill_init(&b);
    assert_int_equal(bill_add(&b, &s), 0);
    before = b;
    s = hand_split(0, 100, 0);
    assert_true(bill_add(&b, &s) < 0);
    s = hand_split(CATEGORY_MAX + 1, 100, 0);
    assert_true(bill_add(&b, &s) < 0);
    s = hand_split(255, 100, 0);
    assert_true(bill_add(&b, &s) < 0);
    assert_memory_equal(&b, &before, sizeof b);
}

static void test_bill_init(void **state)
{
    (void)state;
    struct bill b, zero;

    memset(&b, 0x5a, sizeof b);
    memset(&zero, 0, sizeof zero);
    bill_init(&b);
    assert_memory_equal(&b, &zero, sizeof b);
}

/* ---- catalog index ---- */

static void set_item(struct catalog_item *it, const char *code, enum chrgitm_lv lv,
                     uint8_t category, int64_t prop, int64_t limit)
{
    it->list_code = code;
    it->name = code;
    it->lv = lv;
    it->category = category;
    it->selfpay_prop_e6 = prop;
    it->price_limit_e6 = limit;
}

static size_t fill_good(struct catalog_item items[5])
{
    set_item(&items[0], "XB05", LV_B, 11, 50000, PRICE_NO_LIMIT);
    set_item(&items[1], "XA01", LV_A, 9, 0, PRICE_NO_LIMIT);
    set_item(&items[2], "XC01", LV_C, 14, 0, 0); /* limit 0 is a limit */
    set_item(&items[3], "XA10", LV_A, 1, 0, 100000000);
    set_item(&items[4], "XB10", LV_B, 9, 1000000, PRICE_NO_LIMIT); /* ratio 1.00 allowed */
    return 5;
}

static void test_catalog_find(void **state)
{
    (void)state;
    struct catalog_item items[5];
    struct catalog_index index;
    size_t badi = 99;
    size_t n = fill_good(items);

    assert_int_equal(catalog_index_init(&index, items, n, &badi), 0);
    /* sorted in place by code */
    assert_string_equal(items[0].list_code, "XA01");
    assert_string_equal(items[1].list_code, "XA10");
    assert_string_equal(items[2].list_code, "XB05");
    assert_string_equal(items[3].list_code, "XB10");
    assert_string_equal(items[4].list_code, "XC01");

    static const char *const present[] = {"XA01", "XA10", "XB05", "XB10", "XC01"};
    for (size_t i = 0; i < 5; i++) {
        const struct catalog_item *it = catalog_index_find(&index, present[i]);
        assert_non_null(it);
        assert_string_equal(it->list_code, present[i]);
    }
    assert_int_equal(catalog_index_find(&index, "XB05")->category, 11);
    assert_int_equal(catalog_index_find(&index, "XB05")->selfpay_prop_e6, 50000);

    static const char *const absent[] = {"",      "X",    "XA",   "XA0",  "XA00", "XA1",  "XA100",
                                         "XA011", "XB06", "XC00", "XC02", "ZZZ",  "xa01", "XA01 "};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        if (catalog_index_find(&index, absent[i]) != NULL) {
            print_error("found absent code \"%s\"\n", absent[i]);
            fail();
        }
    }

    struct catalog_index empty;
    assert_int_equal(catalog_index_init(&empty, items, 0, &badi), 0);
    assert_null(catalog_index_find(&empty, "XA01"));
}

/* A code listed once per validity period keeps its latest: the bed fee at 45.00 until
 * 2025 and 50.00 since (in any order of the rows), one at 12.00 listed once, and a third
 * listed twice for one period (one of the two is kept). */
static void test_catalog_latest_period(void **state)
{
    (void)state;
    struct catalog_item items[6];
    struct catalog_index index;
    size_t badi = 99, n;

    set_item(&items[0], "BED", LV_A, 1, 0, 50000000);
    items[0].valid_from = 20260101;
    set_item(&items[1], "LAB", LV_A, 5, 0, 12000000);
    items[1].valid_from = 20200101;
    set_item(&items[2], "BED", LV_A, 1, 0, 45000000);
    items[2].valid_from = 20200101;
    set_item(&items[3], "DUP", LV_B, 9, 100000, PRICE_NO_LIMIT);
    items[3].valid_from = 20240101;
    set_item(&items[4], "DUP", LV_B, 9, 100000, PRICE_NO_LIMIT);
    items[4].valid_from = 20240101;
    set_item(&items[5], "BED", LV_A, 1, 0, 40000000);
    items[5].valid_from = 0; /* no begndate: the earliest */

    n = catalog_items_latest(items, 6);
    assert_int_equal(n, 3);
    assert_int_equal(catalog_index_init(&index, items, n, &badi), 0);
    assert_int_equal(catalog_index_find(&index, "BED")->price_limit_e6, 50000000);
    assert_int_equal(catalog_index_find(&index, "LAB")->price_limit_e6, 12000000);
    assert_int_equal(catalog_index_find(&index, "DUP")->valid_from, 20240101);
    assert_int_equal(catalog_items_latest(items, 0), 0);
}

struct bad_item_case {
    const char *name;
    size_t which; /* which item of fill_good() is spoiled */
    enum chrgitm_lv lv;
    uint8_t category;
    int64_t prop, limit;
    const char *dup_of; /* non-NULL: give it this existing code */
    int rc;
};

/* clang-format off */
static const struct bad_item_case bad_items[] = {
    {"class 4", 1, (enum chrgitm_lv)4, 9, 0, PRICE_NO_LIMIT, NULL, POSA_ECLASS},
    {"class none", 0, LV_NONE, 9, 0, PRICE_NO_LIMIT, NULL, POSA_ECLASS},
    {"category 0", 3, LV_A, 0, 0, PRICE_NO_LIMIT, NULL, POSA_ECATEGORY},
    {"category 15", 4, LV_B, 15, 0, PRICE_NO_LIMIT, NULL, POSA_ECATEGORY},
    {"ratio -0.000001", 0, LV_B, 9, -1, PRICE_NO_LIMIT, NULL, POSA_ERANGE},
    {"ratio 1.000001", 0, LV_B, 9, 1000001, PRICE_NO_LIMIT, NULL, POSA_ERANGE},
    {"limit -2", 1, LV_A, 9, 0, -2, NULL, POSA_ERANGE},
    {"duplicate code", 2, LV_C, 14, 0, PRICE_NO_LIMIT, "XA10", POSA_EFIELD},
};
/* clang-format on */

/* One spoiled item: the right code, and *ret_bad names it (an index after sorting). */
static void test_catalog_rejects(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof bad_items / sizeof bad_items[0]; i++) {
        const struct bad_item_case *c = &bad_items[i];
        struct catalog_item items[5];
        struct catalog_index index;
        size_t badi = 99;
        size_t n = fill_good(items);
        const char *code = c->dup_of ? c->dup_of : items[c->which].list_code;

        set_item(&items[c->which], code, c->lv, c->category, c->prop, c->limit);
        int rc = catalog_index_init(&index, items, n, &badi);
        eq64(rc, c->rc, c->name, "rc");
        if (rc != 0 && (badi >= n || strcmp(items[badi].list_code, code) != 0)) {
            print_error("%s: ret_bad %zu does not name code %s\n", c->name, badi, code);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

struct parse_case {
    const char *text;
    int rc;
    int want;
};

/* clang-format off */
static const struct parse_case lv_cases[] = {
    {"01", 0, LV_A}, {"02", 0, LV_B}, {"03", 0, LV_C},
    {"00", POSA_ECLASS, 0}, {"04", POSA_ECLASS, 0}, {"1", POSA_ECLASS, 0},
    {"001", POSA_ECLASS, 0}, {"", POSA_ECLASS, 0}, {"0a", POSA_ECLASS, 0},
    {"甲", POSA_ECLASS, 0},
};

static const struct parse_case cat_cases[] = {
    {"01", 0, 1}, {"09", 0, 9}, {"10", 0, 10}, {"14", 0, 14},
    {"00", POSA_ECATEGORY, 0}, {"15", POSA_ECATEGORY, 0}, {"1", POSA_ECATEGORY, 0},
    {"014", POSA_ECATEGORY, 0}, {"", POSA_ECATEGORY, 0}, {"1a", POSA_ECATEGORY, 0},
    {"-1", POSA_ECATEGORY, 0}, {"99", POSA_ECATEGORY, 0},
};
/* clang-format on */

/* The platform's split taken for a line: its five figures, its category when it gave one,
 * and the line's class and ratio kept (policy.md §33). */
static void test_split_take(void **state)
{
    (void)state;
    struct split line = {
        .amount = 45000, .inscp = 45000, .lv = LV_A, .category = 2, .selfpay_prop_e6 = 0};
    const struct split platform = {.amount = 45000,
                                   .fulamt_ownpay = 40000,
                                   .overlmt = 3000,
                                   .preselfpay = 1000,
                                   .inscp = 1000,
                                   .category = 14};
    struct split no_category = line;

    split_take(&line, &platform);
    assert_int_equal(line.amount, 45000);
    assert_int_equal(line.fulamt_ownpay, 40000);
    assert_int_equal(line.overlmt, 3000);
    assert_int_equal(line.preselfpay, 1000);
    assert_int_equal(line.inscp, 1000);
    assert_int_equal(line.category, 14);
    assert_int_equal(line.lv, LV_A);
    assert_int_equal(line.selfpay_prop_e6, 0);

    split_take(&no_category, &(struct split){.amount = 45000, .fulamt_ownpay = 45000});
    assert_int_equal(no_category.category, 2); /* none said: the line's own */
    assert_int_equal(no_category.fulamt_ownpay, 45000);
    assert_int_equal(no_category.inscp, 0);
}

static void test_lv_category_parse(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof lv_cases / sizeof lv_cases[0]; i++) {
        enum chrgitm_lv lv = LV_NONE;
        int rc = chrgitm_lv_parse(lv_cases[i].text, &lv);
        eq64(rc, lv_cases[i].rc, lv_cases[i].text, "chrgitm_lv_parse rc");
        if (lv_cases[i].rc == 0)
            eq64(lv, lv_cases[i].want, lv_cases[i].text, "chrgitm_lv");
    }
    for (size_t i = 0; i < sizeof cat_cases / sizeof cat_cases[0]; i++) {
        uint8_t cat = 0;
        int rc = category_parse(cat_cases[i].text, &cat);
        eq64(rc, cat_cases[i].rc, cat_cases[i].text, "category_parse rc");
        if (cat_cases[i].rc == 0)
            eq64(cat, cat_cases[i].want, cat_cases[i].text, "category");
    }
    assert_int_equal(bad, 0);
}

/* Writing a code is parsing's inverse for every class and category, and keeps two digits. */
static void test_two_digit_code(void **state)
{
    char out[3];
    enum chrgitm_lv lv = LV_NONE;
    uint8_t cat = 0;

    (void)state;
    assert_string_equal(two_digit_code(LV_A, out), "01");
    assert_string_equal(two_digit_code(14, out), "14");
    assert_string_equal(two_digit_code(0, out), "00");
    assert_string_equal(two_digit_code(99, out), "99");
    for (unsigned v = LV_A; v <= LV_C; v++) {
        assert_int_equal(chrgitm_lv_parse(two_digit_code(v, out), &lv), 0);
        assert_int_equal(lv, v);
    }
    for (unsigned v = CATEGORY_MIN; v <= CATEGORY_MAX; v++) {
        assert_int_equal(category_parse(two_digit_code(v, out), &cat), 0);
        assert_int_equal(cat, v);
    }
}

/* The 14 national fee categories have names; anything else has "". */
static void test_category_name(void **state)
{
    (void)state;
    assert_string_equal(category_name(9), "西药费");
    assert_string_equal(category_name(0), "");
    assert_string_equal(category_name(15), "");
    assert_string_equal(category_name(255), "");
    for (uint8_t a = CATEGORY_MIN; a <= CATEGORY_MAX; a++) {
        assert_true(strlen(category_name(a)) > 0);
        for (uint8_t b = (uint8_t)(a + 1); b <= CATEGORY_MAX; b++)
            assert_string_not_equal(category_name(a), category_name(b));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_table),
        cmocka_unit_test(test_split_amount_tolerance),
        cmocka_unit_test(test_split_refuses_absurd),
        cmocka_unit_test(test_bill_init),
        cmocka_unit_test(test_bill_rounds_per_line),
        cmocka_unit_test(test_bill_categories),
        cmocka_unit_test(test_bill_overflow_leaves_bill),
        cmocka_unit_test(test_bill_refuses_bad_category),
        cmocka_unit_test(test_catalog_find),
        cmocka_unit_test(test_catalog_rejects),
        cmocka_unit_test(test_catalog_latest_period),
        cmocka_unit_test(test_split_take),
        cmocka_unit_test(test_lv_category_parse),
        cmocka_unit_test(test_two_digit_code),
        cmocka_unit_test(test_category_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
