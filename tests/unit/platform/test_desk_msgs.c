/* interface/platform/desk_msgs.c: the 1101 answer's filings (a provincial extension). A
 * person's list holds filings long expired beside the one in force, in the platform's order;
 * past BOUND_FILINGS the ones that ended first make room. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/platform/desk_msgs.h"

/* A 1101 output with n filings: the first `expired` ended in 2010 + i (1 January), then
 * an open-ended long_term from 2024-03-01, then temporary_other ones ending in 2030. */
static char *output_with_filings(int n, int expired)
{
    size_t cap = 512 + (size_t)n * 96;
    char *s = malloc(cap);
    size_t at;

    assert_non_null(s);
    at = (size_t)snprintf(s, cap,
                          "{\"baseinfo\":{\"psn_no\":\"P1\",\"psn_name\":\"张三\"},"
                          "\"insuinfo\":[{\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\","
                          "\"balc\":12.30}],\"filinginfo\":[");
    for (int i = 0; i < n; i++) {
        const char *sep = i ? "," : "";

        if (i < expired)
            at += (size_t)snprintf(s + at, cap - at,
                                   "%s{\"kind\":\"referral\",\"valid_from\":\"%04d-01-01\","
                                   "\"valid_to\":\"%04d-12-31\"}",
                                   sep, 2000 + i, 2000 + i);
        else if (i == expired)
            at += (size_t)snprintf(s + at, cap - at,
                                   "%s{\"kind\":\"long_term\",\"valid_from\":\"2024-03-01\","
                                   "\"valid_to\":null}",
                                   sep);
        else
            at += (size_t)snprintf(s + at, cap - at,
                                   "%s{\"kind\":\"temporary_other\",\"valid_from\":"
                                   "\"2025-01-01\",\"valid_to\":\"2030-06-30\"}",
                                   sep);
    }
    snprintf(s + at, cap - at, "]}");
    return s;
}

static int decode(const char *text, struct json_object **tree, struct desk_person *p,
                  struct jsonmap_error *err)
{
    assert_int_equal(jsonmap_parse(text, strlen(text), tree, err), 0);
    return desk_1101_decode(*tree, p, err);
}

static int count_ending(const struct desk_person *p, int32_t valid_to)
{
    int n = 0;

    for (size_t i = 0; i < p->n_filings; i++)
        n += p->filings[i].valid_to == valid_to;
    return n;
}

static void test_a_few_filings_kept_in_order(void **state)
{
    char *text = output_with_filings(3, 1);
    struct json_object *tree = NULL;
    struct desk_person p;
    struct jsonmap_error err = {0};

    (void)state;
    assert_int_equal(decode(text, &tree, &p, &err), 0);
    assert_string_equal(p.psn_no, "P1");
    assert_string_equal(p.psn_name, "张三");
    assert_int_equal(p.n_insurance, 1);
    assert_true(p.has_filinginfo);
    assert_int_equal(p.n_filings, 3);
    assert_int_equal(p.filings[0].kind, FILING_REFERRAL);
    assert_int_equal(p.filings[0].valid_from, 20000101);
    assert_int_equal(p.filings[0].valid_to, 20001231);
    assert_int_equal(p.filings[1].kind, FILING_LONG_TERM);
    assert_int_equal(p.filings[1].valid_from, 20240301);
    assert_int_equal(p.filings[1].valid_to, 0);
    assert_int_equal(p.filings[2].kind, FILING_TEMPORARY_OTHER);
    assert_int_equal(p.filings[2].valid_to, 20300630);
    json_object_put(tree);
    free(text);
}

/* 18 expired filings come first, the one in force 19th, a later-ending one 20th: the 16 kept
 * are those two and the 14 that ended last (2004-2017); 2000-2003 made room. */
static void test_past_the_bound_the_first_ended_make_room(void **state)
{
    char *text = output_with_filings(20, 18);
    struct json_object *tree = NULL;
    struct desk_person p;
    struct jsonmap_error err = {0};

    (void)state;
    assert_int_equal(decode(text, &tree, &p, &err), 0);
    assert_int_equal(p.n_filings, BOUND_FILINGS);
    assert_int_equal(count_ending(&p, 0), 1);        /* long_term, open-ended */
    assert_int_equal(count_ending(&p, 20300630), 1); /* temporary_other */
    for (int year = 2000; year < 2018; year++)
        assert_int_equal(count_ending(&p, year * 10000 + 1231), year >= 2004);
    json_object_put(tree);
    free(text);
}

/* The one in force survives whatever its place: first, among 30 that all ended. */
static void test_the_filing_in_force_first_of_many(void **state)
{
    char *text = output_with_filings(1, 0);
    struct json_object *tree = NULL;
    struct desk_person p;
    struct jsonmap_error err = {0};
    char *big = malloc(8192);
    size_t at;

    (void)state;
    assert_non_null(big);
    /* open-ended first, then 29 ending on 31 January of 2001..2029 */
    at = (size_t)snprintf(big, 8192, "%.*s", (int)(strlen(text) - 2), text);
    for (int i = 0; i < 29; i++)
        at += (size_t)snprintf(big + at, 8192 - at,
                               ",{\"kind\":\"referral\",\"valid_from\":\"2001-01-01\","
                               "\"valid_to\":\"%04d-01-31\"}",
                               2001 + i);
    snprintf(big + at, 8192 - at, "]}");
    assert_int_equal(decode(big, &tree, &p, &err), 0);
    assert_int_equal(p.n_filings, BOUND_FILINGS);
    assert_int_equal(count_ending(&p, 0), 1);
    assert_int_equal(count_ending(&p, 20130131), 0); /* 2001..2014 made room */
    assert_int_equal(count_ending(&p, 20140131), 0);
    assert_int_equal(count_ending(&p, 20150131), 1);
    assert_int_equal(count_ending(&p, 20290131), 1);
    json_object_put(tree);
    free(big);
    free(text);
}

static void test_too_many_filings_refused(void **state)
{
    char *text = output_with_filings(DESK_FILINGS_READ_MAX + 1, DESK_FILINGS_READ_MAX);
    struct json_object *tree = NULL;
    struct desk_person p;
    struct jsonmap_error err = {0};

    (void)state;
    assert_int_equal(decode(text, &tree, &p, &err), POSA_ETOOLONG);
    json_object_put(tree);
    free(text);
    text = output_with_filings(DESK_FILINGS_READ_MAX, DESK_FILINGS_READ_MAX - 1);
    assert_int_equal(decode(text, &tree, &p, &err), 0);
    assert_int_equal(p.n_filings, BOUND_FILINGS);
    assert_int_equal(count_ending(&p, 0), 1);
    json_object_put(tree);
    free(text);
}

static void test_bad_filing_refused(void **state)
{
#define HEAD                                                                                       \
    "{\"baseinfo\":{\"psn_no\":\"P1\",\"psn_name\":\"a\"},\"insuinfo\":[{\"insutype\":\"310\","    \
    "\"insuplc_admdvs\":\"320200\"}],\"filinginfo\":["
    static const char *const bad[] = {
        HEAD "{\"kind\":\"forever\",\"valid_from\":\"2024-01-01\"}]}",
        HEAD "{\"kind\":\"long_term\",\"valid_from\":null}]}",
        HEAD "{\"kind\":\"long_term\",\"valid_from\":\"2024-02-30\"}]}",
        HEAD "{\"kind\":\"long_term\",\"valid_from\":\"2024-01-01\"}, 7]}",
    };
    struct json_object *tree = NULL;
    struct desk_person p;
    struct jsonmap_error err = {0};

    (void)state;
    assert_int_equal(
        decode(HEAD "{\"kind\":\"long_term\",\"valid_from\":\"2024-01-01\"}]}", &tree, &p, &err),
        0); /* the head alone is good */
    json_object_put(tree);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_true(decode(bad[i], &tree, &p, &err) < 0);
        assert_non_null(strstr(err.field, "filinginfo"));
        json_object_put(tree);
    }
#undef HEAD
}

/* 1312 pages: the platform's count is bounded and an empty page before the last ends the
 * load (a count of 10^15 made posad ask for pages for ever). */
static void test_catalog_pages(void **state)
{
    static const struct {
        const char *output;
        int64_t page;
        int rc;
        int64_t pages, total;
    } cases[] = {
        {"{\"data\":[{\"a\":1}],\"pages\":3}", 1, 0, 3, -1},
        {"{\"data\":[{\"a\":1}]}", 1, 0, -1, -1},             /* no count: not known */
        {"{\"data\":[],\"pages\":3}", 3, 0, 3, -1},           /* the last may be empty */
        {"{\"data\":[],\"pages\":1}", 1, 0, 1, -1},           /* an empty catalog */
        {"{\"data\":[],\"pages\":3}", 2, POSA_ERANGE, 0, -1}, /* empty before the last */
        {"{\"data\":[{\"a\":1}],\"pages\":1000000000000000}", 1, POSA_ERANGE, 0, -1},
        {"{\"data\":[{\"a\":1}],\"pages\":1001}", 1, POSA_ERANGE, 0, -1},
        {"{\"data\":[{\"a\":1}],\"pages\":1000}", 1, 0, 1000, -1},
        {"{\"data\":[],\"pages\":0}", 1, 0, 1, -1}, /* nothing matched */
        {"{\"data\":[{\"a\":1}],\"pages\":-1}", 1, POSA_ERANGE, 0, -1},
        {"{\"data\":[{\"a\":1}],\"pages\":\"3\"}", 1, 0, 3, -1}, /* digits, as numbers come */
        {"{\"data\":[{\"a\":1}],\"pages\":\"three\"}", 1, POSA_EFIELD, 0, -1},
        {"{\"data\":[{\"a\":1}],\"pages\":2.5}", 1, POSA_EFIELD, 0, -1},
        {"{\"data\":{},\"pages\":1}", 1, POSA_EFIELD, 0, -1},
        {"{\"pages\":1}", 1, POSA_EFIELD, 0, -1},
        {"{\"data\":[{\"a\":1}],\"pages\":2,\"recordCounts\":1001}", 1, 0, 2, 1001},
        {"{\"data\":[{\"a\":1}],\"pages\":1,\"recordCounts\":\"1\"}", 1, 0, 1, 1},
        {"{\"data\":[{\"a\":1}],\"pages\":1,\"recordCounts\":-5}", 1, POSA_EFIELD, 0, -1},
        {"{\"data\":[{\"a\":1}],\"pages\":1,\"recordCounts\":\"x\"}", 1, POSA_EFIELD, 0, -1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct json_object *out = json_tokener_parse(cases[i].output), *rows = NULL;
        struct jsonmap_error err = {0};
        int64_t pages = 0, total = 0;

        assert_non_null(out);
        assert_int_equal(desk_1312_decode(out, cases[i].page, 1000, &rows, &pages, &total, &err),
                         cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(pages, cases[i].pages);
            assert_int_equal(total, cases[i].total);
            assert_non_null(rows);
        }
        json_object_put(out);
    }
}

/* A settlement's answer is checked before it is believed. The figures are policy.md's
 * outpatient example worked by hand in review: total 1,524.25, fund (1,122.89 - 800.00) x
 * 0.75 = 242.17, person 1,524.25 - 242.17 = 1,282.08, of it 650.00 from the account and
 * 632.08 in cash. */
struct answer_case {
    const char *setl_id, *medfee, *fund, *psn, *acct, *cash, *extra, *setl_time;
    const char *why; /* a word of desk_settlement_check's reason, or NULL: possible */
};

static void check_answer(const struct answer_case *c, const struct desk_settlement_sent *sent)
{
    char text[1024];
    struct json_object *out;
    struct desk_settlement s;
    struct jsonmap_error err = {0};
    const char *why;

    snprintf(text, sizeof text,
             "{\"setlinfo\":{\"setl_id\":\"%s\",\"mdtrt_id\":\"M1\",\"psn_no\":\"P1\","
             "\"setl_time\":\"%s\",\"medfee_sumamt\":\"%s\",\"fund_pay_sumamt\":\"%s\","
             "\"psn_part_amt\":\"%s\",\"acct_pay\":\"%s\",\"psn_cash_pay\":\"%s\"%s}}",
             c->setl_id, c->setl_time, c->medfee, c->fund, c->psn, c->acct, c->cash, c->extra);
    out = json_tokener_parse(text);
    assert_non_null(out);
    assert_int_equal(desk_settlement_decode(out, &s, &err), 0);
    why = desk_settlement_check(&s, sent);
    if (!c->why)
        assert_null(why);
    else if (!why || !strstr(why, c->why))
        fail_msg("case %s/%s: expected \"%s\", got \"%s\"", c->medfee, c->cash, c->why,
                 why ? why : "(possible)");
    json_object_put(out);
}

static void test_settlement_answer_checked(void **state)
{
    static const char t[] = "2026-11-25 09:30:00";
    static const struct answer_case cases[] = {
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08", "", t, NULL},
        /* how the parts add up is the province's: the fund including the account
         * (Guangdong), blank fields the national answer has (hosp_part_amt, acct_mulaid_pay) */
        {"S1", "1524.25", "892.17", "632.08", "650.00", "632.08", "", t, NULL},
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08",
         ",\"hosp_part_amt\":\"\",\"acct_mulaid_pay\":\"\"", t, NULL},
        {"S1", "1524.25", "242.17", "1282.08", "1332.08", "-50.00", "", t, "negative"},
        {"S1", "1524.25", "1524.26", "0.00", "0.00", "0.00", "", t, "larger than medfee"},
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "1600.00", "", t, "larger than medfee"},
        {"", "1524.25", "242.17", "1282.08", "650.00", "632.08", "", t, "setl_id"},
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08", "", "yesterday", "setl_time"},
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08", "", "", NULL}, /* no time */
        {"S1", "9999.00", "242.17", "1282.08", "650.00", "632.08", "", t, "total sent"},
        /* the bill's parts are within it too */
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08",
         ",\"inscp_scp_amt\":\"99999.00\"", t, "larger than medfee"},
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08",
         ",\"fulamt_ownpay_amt\":\"1524.26\"", t, "larger than medfee"},
        {"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08",
         ",\"inscp_scp_amt\":\"1122.89\",\"act_pay_dedc\":\"800.00\"", t, NULL},
    };
    const struct desk_settlement_sent sent = {"M1", "P1", 152425};

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_answer(&cases[i], &sent);
    check_answer(&(struct answer_case){"S1", "9999.00", "242.17", "1282.08", "650.00", "632.08", "",
                                       t, NULL},
                 NULL); /* no request to compare with */
    check_answer(&(struct answer_case){"S1", "0.00", "0.00", "0.00", "0.00", "0.00", "", t, NULL},
                 &(struct desk_settlement_sent){"M1", "P1", 0}); /* nothing to pay */
    /* Not what was sent: another visit or person. */
    check_answer(&(struct answer_case){"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08", "",
                                       t, "visit"},
                 &(struct desk_settlement_sent){"M2", "P1", 152425});
    check_answer(&(struct answer_case){"S1", "1524.25", "242.17", "1282.08", "650.00", "632.08", "",
                                       t, "person"},
                 &(struct desk_settlement_sent){"M1", "P2", -1});
}

/* Each fund's amount is within the total, as every other part (the answer's setldetail). */
static void test_settlement_funds_checked(void **state)
{
    static const char *const funds[][2] = {
        {"242.17", NULL}, {"-1000.00", "fund"}, {"99999999.00", "fund"}, {"1524.25", NULL}};
    char text[512];

    (void)state;
    for (size_t i = 0; i < sizeof funds / sizeof funds[0]; i++) {
        struct json_object *out;
        struct desk_settlement s;
        struct jsonmap_error err = {0};
        const char *why;

        snprintf(text, sizeof text,
                 "{\"setlinfo\":{\"setl_id\":\"S1\",\"medfee_sumamt\":\"1524.25\","
                 "\"fund_pay_sumamt\":\"242.17\",\"psn_part_amt\":\"1282.08\","
                 "\"acct_pay\":\"650.00\",\"psn_cash_pay\":\"632.08\"},"
                 "\"setldetail\":[{\"fund_pay_type\":\"310100\",\"fund_payamt\":\"%s\"}]}",
                 funds[i][0]);
        assert_non_null(out = json_tokener_parse(text));
        assert_int_equal(desk_settlement_decode(out, &s, &err), 0);
        assert_int_equal(s.n_funds, 1);
        why = desk_settlement_check(&s, NULL);
        if (!funds[i][1])
            assert_null(why);
        else
            assert_true(why && strstr(why, funds[i][1]));
        json_object_put(out);
    }
}

/* More fund rows than kept (20 of 0.01 to 0.20, 2.10 in all): the first 15 as they are, the
 * last kept row sums the other five (0.16 + ... + 0.20 = 0.90), so the rows add up to 2.10. */
static void test_settlement_funds_beyond_kept(void **state)
{
    char text[4096];
    size_t at;
    struct json_object *out;
    struct desk_settlement s;
    struct jsonmap_error err = {0};
    int64_t sum = 0;

    (void)state;
    at = (size_t)snprintf(text, sizeof text,
                          "{\"setlinfo\":{\"setl_id\":\"S1\",\"medfee_sumamt\":\"2.10\","
                          "\"fund_pay_sumamt\":\"2.10\",\"psn_part_amt\":\"0.00\","
                          "\"acct_pay\":\"0.00\",\"psn_cash_pay\":\"0.00\"},\"setldetail\":[");
    for (int i = 1; i <= 20; i++)
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "%s{\"fund_pay_type\":\"F%02d\",\"fund_pay_type_name\":\"基金%d\","
                               "\"fund_payamt\":\"0.%02d\"}",
                               i > 1 ? "," : "", i, i, i);
    snprintf(text + at, sizeof text - at, "]}");
    assert_non_null(out = json_tokener_parse(text));
    assert_int_equal(desk_settlement_decode(out, &s, &err), 0);
    assert_int_equal(s.n_funds, DESK_FUNDS_MAX);
    assert_int_equal(DESK_FUNDS_MAX, 16);
    for (size_t i = 0; i < 15; i++) {
        assert_int_equal(s.funds[i].amount, (int64_t)i + 1);
        sum += s.funds[i].amount;
    }
    assert_string_equal(s.funds[14].fund_pay_type, "F15");
    assert_string_equal(s.funds[15].fund_pay_type, "");
    assert_string_equal(s.funds[15].name, DESK_FUNDS_REST);
    assert_int_equal(s.funds[15].amount, 90);
    assert_int_equal(sum + s.funds[15].amount, 210);
    assert_null(desk_settlement_check(&s, NULL));
    json_object_put(out);
}

/* The request's visit, person and total, as journaled. */
static void test_settlement_sent_read(void **state)
{
    struct desk_settlement_sent sent;
    struct json_object *doc = desk_settlement_sent_read(
        "{\"infno\":\"2207\",\"input\":{\"data\":{\"psn_no\":\"P1\",\"mdtrt_id\":\"M1\","
        "\"medfee_sumamt\":\"1524.25\"}}}",
        &sent);

    (void)state;
    assert_string_equal(sent.mdtrt_id, "M1");
    assert_string_equal(sent.psn_no, "P1");
    assert_int_equal(sent.medfee_sumamt, 152425);
    json_object_put(doc);
    doc = desk_settlement_sent_read("not json", &sent);
    assert_null(sent.mdtrt_id);
    assert_int_equal(sent.medfee_sumamt, -1);
    json_object_put(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_few_filings_kept_in_order),
        cmocka_unit_test(test_past_the_bound_the_first_ended_make_room),
        cmocka_unit_test(test_the_filing_in_force_first_of_many),
        cmocka_unit_test(test_too_many_filings_refused),
        cmocka_unit_test(test_bad_filing_refused),
        cmocka_unit_test(test_catalog_pages),
        cmocka_unit_test(test_settlement_answer_checked),
        cmocka_unit_test(test_settlement_funds_checked),
        cmocka_unit_test(test_settlement_funds_beyond_kept),
        cmocka_unit_test(test_settlement_sent_read),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
