/* Unit tests of interface/his/responses: the exact JSON text of each shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/his/responses.h"

static void expect_json(struct json_object *o, const char *want)
{
    const char *got = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);

    if (strcmp(got, want) != 0)
        print_error("got  %s\nwant %s\n", got, want);
    assert_string_equal(got, want);
    json_object_put(o);
}

static void test_money(void **state)
{
    (void)state;
    expect_json(his_money(0), "\"0.00\"");
    expect_json(his_money(5), "\"0.05\"");
    expect_json(his_money(123450), "\"1234.50\"");
    expect_json(his_money(-172000), "\"-1720.00\"");
}

/* One line as the fees answer writes it: the members in an object of its own. */
static struct json_object *line_object(const char *his_line_id, const char *feedetl_sn,
                                       const struct split *s)
{
    struct jsontext j = {0};

    jsontext_open(&j, NULL, '{');
    his_split_line_text(&j, his_line_id, feedetl_sn, s);
    jsontext_close(&j, '}');
    return jsontext_take(&j);
}

static void test_split_line(void **state)
{
    /* 乙 line of policy.md's rules: amount 5000.00, limit 2000 x 2 -> overlmt 1000.00,
     * base 4000.00, 10% -> preselfpay 400.00, inscp 3600.00 (posa-split's L005). */
    struct split s = {.amount = 500000, .overlmt = 100000, .preselfpay = 40000, .inscp = 360000,
                      .lv = LV_B, .category = 8, .selfpay_prop_e6 = 100000};
    struct split none = {.amount = 380000, .fulamt_ownpay = 380000, .lv = LV_NONE,
                         .category = CATEGORY_OTHER, .selfpay_prop_e6 = 1000000};

    (void)state;
    expect_json(line_object("L005", "F1", &s),
                "{\"his_line_id\":\"L005\",\"feedetl_sn\":\"F1\",\"chrgitm_lv\":\"02\","
                "\"med_chrgitm_type\":\"08\",\"selfpay_prop\":\"0.100000\",\"amount\":\"5000.00\","
                "\"fulamt_ownpay_amt\":\"0.00\",\"overlmt_amt\":\"1000.00\","
                "\"preselfpay_amt\":\"400.00\",\"inscp_scp_amt\":\"3600.00\"}");
    expect_json(line_object("L009", NULL, &none),
                "{\"his_line_id\":\"L009\",\"feedetl_sn\":null,\"chrgitm_lv\":\"\","
                "\"med_chrgitm_type\":\"14\",\"selfpay_prop\":\"1.000000\",\"amount\":\"3800.00\","
                "\"fulamt_ownpay_amt\":\"3800.00\",\"overlmt_amt\":\"0.00\","
                "\"preselfpay_amt\":\"0.00\",\"inscp_scp_amt\":\"0.00\"}");
}

static void test_bill_totals_only_used_categories(void **state)
{
    struct bill bill;
    struct split bed = {.amount = 45000, .inscp = 45000, .lv = LV_A, .category = 1};
    struct split drug = {.amount = 21000, .preselfpay = 2100, .inscp = 18900, .lv = LV_B,
                         .category = 9};

    (void)state;
    bill_init(&bill);
    assert_int_equal(bill_add(&bill, &bed), 0);
    assert_int_equal(bill_add(&bill, &drug), 0);
    expect_json(his_bill_totals(&bill),
                "{\"amount\":\"660.00\",\"fulamt_ownpay_amt\":\"0.00\",\"overlmt_amt\":\"0.00\","
                "\"preselfpay_amt\":\"21.00\",\"inscp_scp_amt\":\"639.00\",\"by_category\":{"
                "\"01\":{\"amount\":\"450.00\",\"fulamt_ownpay_amt\":\"0.00\",\"overlmt_amt\":"
                "\"0.00\",\"preselfpay_amt\":\"0.00\",\"inscp_scp_amt\":\"450.00\"},"
                "\"09\":{\"amount\":\"210.00\",\"fulamt_ownpay_amt\":\"0.00\",\"overlmt_amt\":"
                "\"0.00\",\"preselfpay_amt\":\"21.00\",\"inscp_scp_amt\":\"189.00\"}}}");
}

/* A category whose charges and returns net its amount to zero keeps its row while its parts
 * do not (the 14 rows must add up to the total's parts). */
static void test_bill_totals_category_netting_to_zero(void **state)
{
    struct bill bill;
    struct split charge = {.amount = 1000, .overlmt = 100, .preselfpay = 90, .inscp = 810,
                           .lv = LV_B, .category = 9};
    struct split ret = {.amount = -1000, .preselfpay = -190, .inscp = -810, .lv = LV_B,
                        .category = 9};

    (void)state;
    bill_init(&bill);
    assert_int_equal(bill_add(&bill, &charge), 0);
    assert_int_equal(bill_add(&bill, &ret), 0);
    expect_json(his_bill_totals(&bill),
                "{\"amount\":\"0.00\",\"fulamt_ownpay_amt\":\"0.00\",\"overlmt_amt\":\"1.00\","
                "\"preselfpay_amt\":\"-1.00\",\"inscp_scp_amt\":\"0.00\",\"by_category\":{"
                "\"09\":{\"amount\":\"0.00\",\"fulamt_ownpay_amt\":\"0.00\",\"overlmt_amt\":"
                "\"1.00\",\"preselfpay_amt\":\"-1.00\",\"inscp_scp_amt\":\"0.00\"}}}");
}

static void test_settlement_and_flags(void **state)
{
    /* policy.md, long-term: S 10,000.00, D 800.00, r 90% -> fund 8,280.00, person 1,720.00 */
    struct policy_result r = {.medfee_sumamt = 1000000, .inscp_scp_amt = 1000000,
                              .act_pay_dedc = 80000, .hifp_pay = 828000,
                              .fund_pay_sumamt = 828000, .psn_part_amt = 172000,
                              .psn_cash_pay = 172000};
    struct visit_flags f = {.n = 1, .n_warnings = 1};

    (void)state;
    expect_json(his_settlement_amounts(&r),
                "{\"medfee_sumamt\":\"10000.00\",\"fulamt_ownpay_amt\":\"0.00\","
                "\"overlmt_selfpay\":\"0.00\",\"preselfpay_amt\":\"0.00\","
                "\"inscp_scp_amt\":\"10000.00\",\"act_pay_dedc\":\"800.00\","
                "\"hifp_pay\":\"8280.00\",\"fund_pay_sumamt\":\"8280.00\","
                "\"psn_part_amt\":\"1720.00\",\"acct_pay\":\"0.00\",\"psn_cash_pay\":\"1720.00\"}");
    f.flags[0] = (struct flag){FLAG_TRAUMA, false, FLAG_FROM_RULE, "icd10_injury_chapter", "why"};
    f.warnings[0] = (struct flag_warning){"TRAUMA_SUGGESTED", "confirm"};
    expect_json(his_flags(&f), "[{\"flag\":\"trauma\",\"value\":false,\"source\":\"rule\","
                               "\"rule\":\"icd10_injury_chapter\",\"reason\":\"why\"}]");
    expect_json(his_warnings(&f), "[{\"code\":\"TRAUMA_SUGGESTED\",\"message\":\"confirm\"}]");
}

static void test_error(void **state)
{
    struct json_object *details = json_object_new_object();

    (void)state;
    json_object_object_add(details, "field", json_object_new_string("lines[3].price"));
    expect_json(his_error(POSA_ESCALE, NULL, details),
                "{\"error\":{\"code\":\"BAD_REQUEST\",\"message\":\"too many decimal places\","
                "\"retryable\":false,\"details\":{\"field\":\"lines[3].price\"}}}");
    expect_json(his_error(POSA_EUPSTREAM_OFFLINE, "平台暂时无法连接", NULL),
                "{\"error\":{\"code\":\"UPSTREAM_OFFLINE\",\"message\":\"平台暂时无法连接\","
                "\"retryable\":true,\"details\":{}}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_split_line),
        cmocka_unit_test(test_bill_totals_only_used_categories),
        cmocka_unit_test(test_bill_totals_category_netting_to_zero),
        cmocka_unit_test(test_settlement_and_flags),
        cmocka_unit_test(test_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
