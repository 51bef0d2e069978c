/* The national envelope codec: parse with validation (errors name the field), build,
 * round trips, infcode as number or string, exact decimal numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/decimal.h"
#include "core/err.h"
#include "interface/platform/desk_msgs.h"
#include "interface/platform/envelope.h"

#define GOOD_HEAD                                                                                  \
    "\"infno\":\"2304\",\"msgid\":\"H31010100001202503011200000001\","                             \
    "\"mdtrtarea_admvs\":\"310000\",\"insuplc_admdvs\":\"320200\",\"recer_sys_code\":\"YBXT\","    \
    "\"dev_no\":\"\",\"dev_safe_info\":\"\",\"cainfo\":\"\",\"signtype\":\"\","                    \
    "\"infver\":\"V1.0\",\"opter_type\":\"1\",\"opter\":\"D03\",\"opter_name\":\"张三\","        \
    "\"inf_time\":\"2025-03-01 12:00:00\",\"fixmedins_code\":\"H31010100001\","                    \
    "\"fixmedins_name\":\"医院\",\"sign_no\":\"20250301120000000001\""

static int parse(const char *text, struct envelope_request *req, struct jsonmap_error *err)
{
    return envelope_request_parse(text, strlen(text), req, err);
}

static void test_request_parse_good(void **state)
{
    struct envelope_request req;
    struct jsonmap_error err;

    (void)state;
    assert_int_equal(parse("{" GOOD_HEAD ",\"input\":{\"data\":{\"psn_no\":\"P1\"}}}", &req, &err),
                     0);
    assert_string_equal(req.head.infno, "2304");
    assert_string_equal(req.head.insuplc_admdvs, "320200");
    assert_string_equal(req.head.opter_name, "张三");
    assert_true(req.inf_time == 20250301120000LL);
    assert_true(json_object_is_type(req.input, json_type_object));
    envelope_request_done(&req);
    envelope_request_done(NULL);
}

static void test_request_optional_fields_absent(void **state)
{
    struct envelope_request req;
    struct jsonmap_error err;

    (void)state;
    assert_int_equal(
        parse("{\"infno\":\"9001\",\"msgid\":\"H31010100001202503011200000001\","
              "\"inf_time\":\"2025-03-01 12:00:00\",\"fixmedins_code\":\"H31010100001\","
              "\"sign_no\":null,\"input\":{}}",
              &req, &err),
        0);
    assert_string_equal(req.head.sign_no, "");
    assert_string_equal(req.head.insuplc_admdvs, "");
    envelope_request_done(&req);
}

struct bad_case {
    const char *text;
    const char *field;
};

static const struct bad_case bad_cases[] = {
    {"not json", ""},
    {"[1,2]", ""},
    {"{" GOOD_HEAD "}", "input"},
    {"{" GOOD_HEAD ",\"input\":[]}", "input"},
    {"{" GOOD_HEAD ",\"input\":{}} trailing", ""},
    {"{\"infno\":\"\",\"msgid\":\"H31010100001202503011200000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"input\":{}}",
     "infno"},
    {"{\"infno\":\"230499999\",\"msgid\":\"H31010100001202503011200000001\",\"inf_time\":\"2025-03-"
     "01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"input\":{}}",
     "infno"},
    {"{\"infno\":2304,\"msgid\":\"H31010100001202503011200000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"input\":{}}",
     "infno"},
    /* msgid of another institution */
    {"{\"infno\":\"2304\",\"msgid\":\"H31010100002202503011200000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"input\":{}}",
     "msgid"},
    /* msgid with a date that does not exist */
    {"{\"infno\":\"2304\",\"msgid\":\"H31010100001202502301200000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"input\":{}}",
     "msgid"},
    {"{\"infno\":\"2304\",\"msgid\":\"H3101010000120250301120000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"input\":{}}",
     "msgid"},
    {"{\"infno\":\"2304\",\"msgid\":\"H31010100001202503011200000001\",\"inf_time\":\"2025-03-"
     "01T12:00:00\","
     "\"fixmedins_code\":\"H31010100001\",\"input\":{}}",
     "inf_time"},
    {"{\"infno\":\"2304\",\"msgid\":\"H31010100001202503011200000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H3101010000\",\"input\":{}}",
     "fixmedins_code"},
    {"{\"infno\":\"2304\",\"msgid\":\"H31010100001202503011200000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"insuplc_admdvs\":\"32020\",\"input\":{}}",
     "insuplc_admdvs"},
    {"{\"infno\":\"2304\",\"msgid\":\"H31010100001202503011200000001\",\"inf_time\":\"2025-03-01 "
     "12:00:00\",\"fixmedins_code\":\"H31010100001\",\"mdtrtarea_admvs\":\"31000A\",\"input\":{}}",
     "mdtrtarea_admvs"},
};

static void test_request_parse_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct envelope_request req;
        struct jsonmap_error err;

        memset(&err, 0, sizeof(err));
        if (parse(bad_cases[i].text, &req, &err) == 0)
            fail_msg("case %zu parsed", i);
        if (strcmp(err.field, bad_cases[i].field) != 0)
            fail_msg("case %zu: field '%s', expected '%s'", i, err.field, bad_cases[i].field);
    }
}

static void test_request_build_round_trip(void **state)
{
    struct envelope_head head = {.infno = "1101",
                                 .msgid = "H31010100001202503011200000002",
                                 .inf_time = "2025-03-01 12:00:00",
                                 .fixmedins_code = "H31010100001",
                                 .opter_name = "李四"};
    struct json_object *input = json_object_new_object();
    struct json_object *root;
    struct envelope_request req;
    struct jsonmap_error err;
    const char *text;

    (void)state;
    json_object_object_add(input, "data", json_object_new_object());
    root = envelope_request_build(&head, input);
    assert_non_null(root);
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    assert_int_equal(envelope_request_parse(text, strlen(text), &req, &err), 0);
    assert_string_equal(req.head.infno, "1101");
    assert_string_equal(req.head.opter_name, "李四");
    assert_string_equal(req.head.sign_no, "");
    assert_non_null(json_object_object_get(req.input, "data"));
    envelope_request_done(&req);
    json_object_put(root);
}

static void test_response_infcode_number_or_string(void **state)
{
    static const struct {
        const char *text;
        int infcode;
    } cases[] = {
        {"{\"infcode\":0,\"output\":{\"a\":1}}", 0},
        {"{\"infcode\":\"0\",\"output\":null}", 0},
        {"{\"infcode\":\"-1\",\"err_msg\":\"no\"}", -1},
        {"{\"infcode\":-1,\"err_msg\":\"no\",\"warn_msg\":null}", -1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct envelope_response resp;
        struct jsonmap_error err;

        assert_int_equal(envelope_response_parse(cases[i].text, strlen(cases[i].text), &resp, &err),
                         0);
        assert_int_equal(resp.infcode, cases[i].infcode);
        envelope_response_done(&resp);
    }
}

static void test_response_bad(void **state)
{
    static const char *const cases[] = {
        "{\"code\":\"999\",\"msg\":\"gateway\"}",
        "{\"infcode\":\"zero\"}",
        "{\"infcode\":1.5}",
        "{\"infcode\":0,\"output\":[1]}",
        /* a key twice: which figure was meant cannot be told */
        ("{\"infcode\":0,\"output\":{\"setlinfo\":{\"psn_cash_pay\":\"6170.00\","
         "\"psn_cash_pay\":\"0.00\"}}}"),
        "{\"infcode\":0,\"infcode\":-1}",
        "[]",
        "",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct envelope_response resp;
        struct jsonmap_error err;

        if (envelope_response_parse(cases[i], strlen(cases[i]), &resp, &err) == 0)
            fail_msg("case %zu parsed", i);
    }
}

/* The platform's words are read whatever their length or type: cut to BOUND_STRING bytes of
 * whole characters, a number as its text. */
static void test_response_words(void **state)
{
    char text[4096];
    struct envelope_response resp;
    struct jsonmap_error err;
    size_t n = (size_t)snprintf(text, sizeof text, "{\"infcode\":-1,\"err_msg\":\"");

    (void)state;
    for (int i = 0; i < 500; i++) /* 1,500 bytes: 个 is 3 */
        n += (size_t)snprintf(text + n, sizeof text - n, "个");
    snprintf(text + n, sizeof text - n, "\",\"warn_msg\":5}");
    assert_int_equal(envelope_response_parse(text, strlen(text), &resp, &err), 0);
    assert_int_equal(resp.infcode, -1);
    assert_int_equal(strlen(resp.err_msg), BOUND_STRING / 3 * 3); /* whole characters */
    assert_memory_equal(resp.err_msg, "个个个", 9);
    assert_string_equal(resp.warn_msg, "5");
    envelope_response_done(&resp);
}

static void test_response_build_and_exact_decimals(void **state)
{
    struct envelope_response head = {.infcode = 0,
                                     .inf_refmsgid = "310000202503011200000000000001",
                                     .refmsg_time = "20250301120000000",
                                     .respond_time = "20250301120000001"};
    struct json_object *output = json_object_new_object();
    struct json_object *root;
    struct envelope_response resp;
    struct jsonmap_error err;
    const char *text;
    int64_t fen = 0;

    (void)state;
    json_object_object_add(output, "fund", envelope_json_decimal(828000, 2));
    json_object_object_add(output, "refund", envelope_json_decimal(-10, 2));
    json_object_object_add(output, "prop", envelope_json_decimal(100000, 6));
    root = envelope_response_build(&head, output);
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(text, "\"fund\":8280.00"));
    assert_non_null(strstr(text, "\"refund\":-0.10"));
    assert_non_null(strstr(text, "\"prop\":0.100000"));
    assert_non_null(strstr(text, "\"err_msg\":null"));
    assert_int_equal(envelope_response_parse(text, strlen(text), &resp, &err), 0);
    assert_int_equal(resp.infcode, 0);
    assert_int_equal(jsonmap_get_decimal(resp.output, "fund", DEC_MONEY, true, &fen, &err), 0);
    assert_true(fen == 828000);
    assert_int_equal(jsonmap_get_decimal(resp.output, "refund", DEC_MONEY, true, &fen, &err), 0);
    assert_true(fen == -10);
    /* The built object reads back exactly too, without a round trip through text. */
    assert_int_equal(jsonmap_decimal(json_object_object_get(output, "fund"), DEC_MONEY, &fen), 0);
    assert_true(fen == 828000);
    envelope_response_done(&resp);
    json_object_put(root);
}

/* 3201's stmt_rslt: "0" in one province, "000000" in another, or the number 0, all mean
 * matched; anything else is a mismatch; absent or absurd is refused ("000000" was). */
static void test_3201_result_as_zeros(void **state)
{
    static const struct {
        const char *output;
        int rc;
        bool match;
    } cases[] = {
        {"{\"stmtinfo\":{\"stmt_rslt\":\"0\"}}", 0, true},
        {"{\"stmtinfo\":{\"stmt_rslt\":\"000000\",\"stmt_rslt_dscr\":\"平\"}}", 0, true},
        {"{\"stmtinfo\":{\"stmt_rslt\":0}}", 0, true},
        {"{\"stmtinfo\":{\"stmt_rslt\":\"1\"}}", 0, false},
        {"{\"stmtinfo\":{\"stmt_rslt\":\"000001\"}}", 0, false},
        {"{\"stmtinfo\":{\"stmt_rslt\":\"\"}}", 0, false},
        {"{\"stmtinfo\":{}}", POSA_EFIELD, false},
        {"{\"stmtinfo\":{\"stmt_rslt\":\"000000000\"}}", POSA_EFIELD, false},
        {"{\"stmtinfo\":{\"stmt_rslt\":[0]}}", POSA_EFIELD, false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct json_object *o = json_tokener_parse(cases[i].output);
        struct jsonmap_error err = {0};
        const char *text = NULL;
        bool match = !cases[i].match;

        assert_non_null(o);
        assert_int_equal(desk_3201_decode(o, &match, &text, &err), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(match, cases[i].match);
        json_object_put(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_parse_good),
        cmocka_unit_test(test_request_optional_fields_absent),
        cmocka_unit_test(test_request_parse_bad),
        cmocka_unit_test(test_request_build_round_trip),
        cmocka_unit_test(test_response_infcode_number_or_string),
        cmocka_unit_test(test_response_bad),
        cmocka_unit_test(test_response_words),
        cmocka_unit_test(test_response_build_and_exact_decimals),
        cmocka_unit_test(test_3201_result_as_zeros),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
