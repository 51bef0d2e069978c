/* Unit tests of interface/json: exact decimals from JSON strings and numbers, the HIS
 * fee-line parser with field-naming errors, and the catalog mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/json/catalog_json.h"
#include "interface/json/fee_lines.h"

struct decimal_case {
    const char *json;
    int scale;
    int rc;
    int64_t value;
};

/* JSON numbers whose binary double is inexact must come out exact: 0.1 is 0.1000000000000000055
 * as a double, 4.52 is 4.5199999999999996, 1234.57 is 1234.5699999999999. */
static const struct decimal_case decimal_cases[] = {
    {"0.1", 2, 0, 10},
    {"4.52", 2, 0, 452},
    {"1234.57", 2, 0, 123457},
    {"\"1234.57\"", 2, 0, 123457},
    {"1234.567800", 6, 0, 1234567800},
    {"12", 2, 0, 1200},
    {"-5", 4, 0, -50000},
    {"0.105", 2, POSA_ESCALE, 0},
    {"1e3", 2, POSA_EINVAL_DECIMAL, 0},
    {"\"1e3\"", 2, POSA_EINVAL_DECIMAL, 0},
    {"\"-0\"", 2, POSA_EINVAL_DECIMAL, 0},
    {"\"\"", 2, POSA_EINVAL_DECIMAL, 0},
    {"99999999999999999999", 2, POSA_EOVERFLOW, 0},  /* json-c saturates; still refused */
    {"-99999999999999999999", 2, POSA_EOVERFLOW, 0},
    /* Above INT64_MAX but a uint64 to json-c: refused at scale 0 too (wait_ms), not clamped. */
    {"10000000000000000000", 0, POSA_EOVERFLOW, 0},
    {"9223372036854775807", 0, 0, INT64_MAX},
    {"true", 2, POSA_EINVAL_DECIMAL, 0},
    {"null", 2, POSA_EINVAL_DECIMAL, 0},
    {"[1]", 2, POSA_EINVAL_DECIMAL, 0},
};

static void test_decimal_from_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof decimal_cases / sizeof decimal_cases[0]; i++) {
        const struct decimal_case *c = &decimal_cases[i];
        struct json_object *v = json_tokener_parse(c->json);
        int64_t got = -7;
        int rc = jsonmap_decimal(v, c->scale, &got);

        if (rc != c->rc || (rc == 0 && got != c->value))
            print_error("%s at scale %d: rc %d value %lld\n", c->json, c->scale, rc, (long long)got);
        assert_int_equal(rc, c->rc);
        if (rc == 0)
            assert_int_equal(got, c->value);
        json_object_put(v);
    }
}

/* (json-c 0.16 accepts single-quoted strings even in strict mode; harmless, so not listed.) */
static void test_parse_refuses_trailing_and_garbage(void **state)
{
    static const char *const bad[] = {"", "{", "{\"lines\":[]} x", "{\"lines\":[]}{}", "nul",
                                      "{\"a\":1,}"};
    struct json_object *root;
    struct jsonmap_error err;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(jsonmap_parse(bad[i], strlen(bad[i]), &root, &err), POSA_EJSON);
    /* Not UTF-8 (GBK "张" in a string; a bare byte order mark of UTF-16) */
    assert_int_equal(jsonmap_parse("{\"n\":\"\xd5\xc5\"}", 10, &root, &err), POSA_EUTF8);
    assert_int_equal(jsonmap_parse("\xff\xfe", 2, &root, &err), POSA_EUTF8);
}

/* A request's key given twice in one object is refused and named; the same key in two
 * objects, or inside a string, is no duplicate (the platform's answers are read so too). */
static void test_parse_request_refuses_a_key_twice(void **state)
{
    static const struct {
        const char *text;
        const char *field; /* NULL: accepted */
    } cases[] = {
        {"{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":3},{\"a\":4}]}", NULL},
        {"{\"a\":\"x:y\",\"b\":\"\\\":\"}", NULL},
        {"{\"a\":1,\"a\":2}", "a"},
        /* with the object's path, as every other field error: "qty" alone did not say which
         * of 50,000 lines */
        {"{\"lines\":[{\"amount\":\"1.00\",\"qty\":\"1\"},{\"qty\":\"1\",\"amount\":\"1.00\" ,"
         "\"amount\" : \"2.00\"}]}",
         "lines[1].amount"},
        {"{\"o\":{\"k\\\"q\":1,\"k\\\"q\":2}}", "o.k\\\"q"},
        /* strings, commas and arrays before it: "x,[y" is a value, [1,[2,3]] no entries */
        {"{\"s\":\"x,[y\",\"n\":[1,[2,3]],\"lines\":[{},{\"a\":[{}]},{\"d\":{\"k\":1,\"k\":2}}]}",
         "lines[2].d.k"},
        {"[{\"a\":1},[{\"b\":1,\"b\":2}]]", "[1][0].b"},
        /* a path too long for the field beside its key: the key alone, never another name */
        {"{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":{"
         "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\":{\"qty\":1,\"qty\":2}}}",
         "qty"},
        /* written with an escape the other way: found by the count, not named */
        {"{\"ab\":1,\"a\\u0062\":2}", "a key"},
        /* strings ending in backslashes, escaped quotes and colons inside: the scan to a
         * string's end counts the run of backslashes before each quote */
        {"{\"a\":\"x\\\\\",\"b\":\"\\\\\\\":\",\"c\":\"09:00:00\"}", NULL},
        {"{\"a\":\"x\\\\\",\"a\":\"y:z\"}", "a"},
        {"{\"\\\\\":1,\"\\\\\":2}", "\\\\"},
    };
    struct json_object *root = NULL;
    struct jsonmap_error err;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = jsonmap_parse_request(cases[i].text, strlen(cases[i].text), &root, &err);

        if (!cases[i].field) {
            assert_int_equal(rc, 0);
            json_object_put(root);
            continue;
        }
        assert_int_equal(rc, POSA_EDUPLICATE);
        assert_string_equal(err.field, cases[i].field);
        assert_int_equal(jsonmap_parse(cases[i].text, strlen(cases[i].text), &root, &err), 0);
        json_object_put(root);
    }
}

/* Where text stops being JSON, counted by hand: line and column from 1, in bytes. */
static void test_parse_says_where_it_stops(void **state)
{
    static const struct {
        const char *text;
        size_t line, column;
    } cases[] = {
        {"{\"a\":1,}", 1, 8},                    /* the brace after a comma */
        {"{\n  \"a\": 1,\n  \"b\": x\n}", 3, 8}, /* the x */
        {"{\"a\":1}\n\nz", 3, 1},                /* a second value after the first */
        {"{\"a\":", 1, 6},                       /* the end of an unfinished value */
    };
    struct json_object *root;
    struct jsonmap_error err;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(jsonmap_parse(cases[i].text, strlen(cases[i].text), &root, &err),
                         POSA_EJSON);
        assert_int_equal(err.line, cases[i].line);
        assert_int_equal(err.column, cases[i].column);
    }
}

static const char good_bill[] =
    "{\"lines\":[{\"his_line_id\":\"L1\",\"list_code\":\"B1\",\"hosp_code\":\"H\",\"name\":\"药\","
    "\"qty\":\"2\","
    "\"price\":\"15.000000\",\"amount\":\"30.00\",\"time\":\"2026-11-20 09:30:00\"},"
    "{\"his_line_id\":\"L2\",\"list_code\":\"A1\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
    "\"2026-11-21 09:30:00\",\"qty\":\"2\",\"price\":\"4.52\",\"amount\":\"9.04\","
    "\"outside\":{\"institution_code\":\"H31\",\"kind\":\"exam\",\"form_ref\":\"F-1\"}}]}";

/* A body of many tiny values is refused before json-c builds it: "{}," 5.6 million times in
 * 16 MiB took posad to 4 GiB and held every desk for seconds. Braces inside strings do not
 * count; the largest real document (50,000 lines) passes. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1), *p = s;

    assert_non_null(s);
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++, p += ul)
        memcpy(p, unit, ul);
    memcpy(p - (n ? 1 : 0), tail, tl + 1); /* over the last separator */
    return s;
}

static void test_parse_bounds_the_tree(void **state)
{
    struct json_object *root = NULL;
    struct jsonmap_error err = {0};
    char *s;

    (void)state;
    s = repeat("{\"x\":[", "{},", 200000, "]}"); /* 200,000 objects */
    assert_int_equal(jsonmap_parse(s, strlen(s), &root, &err), POSA_ETOOLARGE);
    free(s);
    s = repeat("{\"x\":[", "1,", 1100000, "]}"); /* 1.1 million values */
    assert_int_equal(jsonmap_parse(s, strlen(s), &root, &err), POSA_ETOOLARGE);
    free(s);
    s = repeat("{\"x\":\"", "{[,", 400000, "\"}"); /* text, not structure */
    assert_int_equal(jsonmap_parse(s, strlen(s), &root, &err), 0);
    json_object_put(root);
    free(s);
    s = repeat("{\"lines\":[", "{\"a\":\"1\",\"b\":\"2\",\"o\":{\"k\":\"\\\"{\"}},", 50000, "]}");
    assert_int_equal(jsonmap_parse(s, strlen(s), &root, &err), 0); /* 50,000 lines */
    json_object_put(root);
    free(s);
}

static void test_fee_lines_good(void **state)
{
    struct fee_lines lines;
    struct jsonmap_error err = {0};

    (void)state;
    assert_int_equal(fee_lines_parse(good_bill, strlen(good_bill), 100, &lines, &err), 0);
    assert_int_equal(lines.n, 2);
    assert_string_equal(lines.lines[0].his_line_id, "L1");
    assert_string_equal(lines.lines[0].name, "药");
    assert_int_equal(lines.lines[0].fee.qty_e4, 20000);
    assert_int_equal(lines.lines[0].fee.price_e6, 15000000);
    assert_int_equal(lines.lines[0].fee.amount_fen, 3000);
    assert_false(lines.lines[0].has_outside);
    assert_int_equal(lines.lines[1].fee.price_e6, 4520000); /* 4.52 exactly */
    assert_int_equal(lines.lines[1].fee.amount_fen, 904);
    assert_true(lines.lines[1].has_outside);
    assert_int_equal(lines.lines[1].outside.kind, OUTSIDE_EXAM);
    assert_string_equal(lines.lines[1].outside.form_ref, "F-1");
    fee_lines_done(&lines);
    fee_lines_done(NULL);
}

struct bad_case {
    const char *body;
    int rc;
    const char *field;
};

#define LINE(extra)                                                                                \
    "{\"lines\":[{\"his_line_id\":\"L1\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\","  \
    "\"time\":\"2026-11-21 09:30:00\",\"qty\":\"1\","                                              \
    "\"price\":\"1.00\",\"amount\":\"1.00\"}," extra "]}"

static const struct bad_case bad_cases[] = {
    {"{\"lines\":[]}", POSA_EFIELD, "lines"},
    {"{\"lines\":{}}", POSA_EFIELD, "lines"},
    {"{}", POSA_EFIELD, "lines"},
    /* what the national upload needs of a line: its hospital code, name and time */
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"name\":\"n\",\"time\":\"2026-11-21 "
          "09:30:00\","
          "\"qty\":\"1\",\"price\":\"1\",\"amount\":\"1.00\"}"),
     POSA_EFIELD, "lines[1].hosp_code"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"\","
          "\"time\":\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":\"1.00\"}"),
     POSA_EFIELD, "lines[1].name"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\","
          "\"qty\":\"1\",\"price\":\"1\",\"amount\":\"1.00\"}"),
     POSA_EFIELD, "lines[1].time"},
    /* a misspelt field beside the lines is refused, not ignored */
    {"{\"lines\":[{\"his_line_id\":\"L1\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\","
     "\"time\":\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1.00\","
     "\"amount\":\"1.00\"}],\"chunk\":1}",
     POSA_EUNKNOWN_FIELD, "chunk"},
    {"[]", POSA_EFIELD, "lines"},
    {LINE("1"), POSA_EFIELD, "lines[1]"},
    {LINE("{\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":\"2026-11-21 "
          "09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":\"1.00\"}"),
     POSA_EFIELD, "lines[1].his_line_id"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.001\"}"),
     POSA_ESCALE, "lines[1].amount"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"abc\",\"amount\":"
          "\"1.00\"}"),
     POSA_EINVAL_DECIMAL, "lines[1].price"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1.00001\",\"price\":\"1\","
          "\"amount\":\"1.00\"}"),
     POSA_ESCALE, "lines[1].qty"},
    /* a value too large to hold is out of range, as one past its bound */
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"50000000000000000\","
          "\"amount\":\"1.00\"}"),
     POSA_ERANGE, "lines[1].price"},
    /* the HIS API takes money, quantities and prices as strings only (his-api.md) */
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":1,\"price\":\"1\",\"amount\":\"1."
          "00\"}"),
     POSA_ENOTSTRING, "lines[1].qty"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":1."
          "00}"),
     POSA_ENOTSTRING, "lines[1].amount"},
    /* a string of another JSON type: not a decimal */
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":true}"),
     POSA_EINVAL_DECIMAL, "lines[1].amount"},
    /* money with exactly two decimals */
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1\"}"),
     POSA_EDECIMALS, "lines[1].amount"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.0\"}"),
     POSA_EDECIMALS, "lines[1].amount"},
    /* a line is a charge: refunds go through fees/cancel */
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"-1\",\"price\":\"1\",\"amount\":"
          "\"-1.00\"}"),
     POSA_ENOTPOSITIVE, "lines[1].qty"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"0\",\"price\":\"1\",\"amount\":"
          "\"0.00\"}"),
     POSA_ENOTPOSITIVE, "lines[1].qty"},
    /* unknown keys are refused, on the line and in outside */
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.00\",\"outsde\":{}}"),
     POSA_EUNKNOWN_FIELD, "lines[1].outsde"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.00\","
          "\"outside\":{\"institution_code\":\"H\",\"kind\":\"exam\",\"form_ref\":\"F\",\"x\":1}}"),
     POSA_EUNKNOWN_FIELD, "lines[1].outside.x"},
    /* the same line twice */
    {LINE("{\"his_line_id\":\"L1\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.00\"}"),
     POSA_EDUPLICATE, "lines[1].his_line_id"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":7,\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":\"1."
          "00\"}"),
     POSA_EFIELD, "lines[1].list_code"},
    {LINE("{\"his_line_id\":\"\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":\"1."
          "00\"}"),
     POSA_EFIELD, "lines[1].his_line_id"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"qty\":"
          "\"1\",\"price\":\"1\",\"amount\":"
          "\"1.00\","
          "\"time\":\"2026-02-30 10:00:00\"}"),
     POSA_EDATE, "lines[1].time"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.00\","
          "\"outside\":{\"institution_code\":\"H\",\"kind\":\"spa\",\"form_ref\":\"F\"}}"),
     POSA_EFIELD, "lines[1].outside.kind"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.00\","
          "\"outside\":{\"institution_code\":\"H\",\"kind\":\"exam\"}}"),
     POSA_EFIELD, "lines[1].outside.form_ref"},
    {LINE("{\"his_line_id\":\"L2\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"name\":\"n\",\"time\":"
          "\"2026-11-21 09:30:00\",\"qty\":\"1\",\"price\":\"1\",\"amount\":"
          "\"1.00\","
          "\"discharge_med\":\"yes\"}"),
     POSA_EFIELD, "lines[1].discharge_med"},
};

static void test_fee_lines_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        struct fee_lines lines = {0};
        struct jsonmap_error err = {0};
        int rc = fee_lines_parse(c->body, strlen(c->body), 100, &lines, &err);

        if (rc != c->rc || strcmp(err.field, c->field) != 0)
            print_error("case %zu: rc %d field '%s'\n", i, rc, err.field);
        assert_int_equal(rc, c->rc);
        assert_string_equal(err.field, c->field);
        assert_null(lines.lines); /* nothing kept */
    }
}

static void test_fee_lines_bounds(void **state)
{
    char name[2000];
    char body[2600];
    struct fee_lines lines;
    struct jsonmap_error err;

    (void)state;
    assert_int_equal(fee_lines_parse(good_bill, strlen(good_bill), 1, &lines, &err), POSA_ETOOLONG);
    assert_string_equal(err.field, "lines");
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(body, sizeof body,
             "{\"lines\":[{\"his_line_id\":\"L1\",\"list_code\":\"A\",\"hosp_code\":\"H\",\"time\":"
             "\"2026-11-21 09:30:00\",\"name\":\"%s\","
             "\"qty\":\"1\",\"price\":\"1\",\"amount\":\"1.00\"}]}",
             name);
    assert_int_equal(fee_lines_parse(body, strlen(body), 10, &lines, &err), POSA_ETOOLONG);
    assert_string_equal(err.field, "lines[0].name");
}

static void test_catalog_map(void **state)
{
    const char *text =
        "[{\"list_code\":\"B\",\"name\":\"乙药\",\"chrgitm_lv\":\"02\",\"med_chrgitm_type\":\"09\","
        "\"selfpay_prop\":\"0.10\",\"price_limit\":\"12.500000\"},"
        "{\"list_code\":\"A\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"01\",\"price_limit\":null}]";
    struct json_object *doc = json_tokener_parse(text);
    struct catalog_index index;
    struct catalog_item *items = NULL;
    struct jsonmap_error err;
    const struct catalog_item *b;

    (void)state;
    assert_int_equal(catalog_json_map(doc, &index, &items, &err), 0);
    assert_int_equal(index.n, 2);
    b = catalog_index_find(&index, "B");
    assert_non_null(b);
    assert_int_equal(b->lv, LV_B);
    assert_int_equal(b->category, 9);
    assert_int_equal(b->selfpay_prop_e6, 100000);
    assert_int_equal(b->price_limit_e6, 12500000);
    assert_int_equal(catalog_index_find(&index, "A")->price_limit_e6, PRICE_NO_LIMIT);
    free(items);
    json_object_put(doc);
}

static void test_catalog_map_bad(void **state)
{
    static const struct bad_case cases[] = {
        {"[{\"list_code\":\"A\",\"chrgitm_lv\":\"04\",\"med_chrgitm_type\":\"01\"}]", POSA_ECLASS,
         "catalog[0].chrgitm_lv"},
        {"[{\"list_code\":\"A\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"15\"}]", POSA_ECATEGORY,
         "catalog[0].med_chrgitm_type"},
        {"[{\"list_code\":\"A\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"01\"},"
         "{\"list_code\":\"A\",\"chrgitm_lv\":\"02\",\"med_chrgitm_type\":\"01\"}]", POSA_EFIELD,
         "catalog.A"},
        {"[{\"list_code\":\"A\",\"chrgitm_lv\":\"02\",\"med_chrgitm_type\":\"01\",\"selfpay_prop\":\"1.5\"}]",
         POSA_ERANGE, "catalog[0].selfpay_prop"},
        {"[{\"list_code\":\"A\",\"chrgitm_lv\":\"02\",\"med_chrgitm_type\":\"01\",\"price_limit\":\"-1\"}]",
         POSA_ERANGE, "catalog[0].price_limit"},
        {"{}", POSA_EFIELD, "catalog"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct json_object *doc = json_tokener_parse(cases[i].body);
        struct catalog_index index;
        struct catalog_item *items = NULL;
        struct jsonmap_error err = {0};
        int rc = catalog_json_map(doc, &index, &items, &err);

        if (rc != cases[i].rc || strcmp(err.field, cases[i].field) != 0)
            print_error("case %zu: rc %d field '%s'\n", i, rc, err.field);
        assert_int_equal(rc, cases[i].rc);
        assert_string_equal(err.field, cases[i].field);
        assert_null(items);
        json_object_put(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_from_json),
        cmocka_unit_test(test_parse_refuses_trailing_and_garbage),
        cmocka_unit_test(test_parse_request_refuses_a_key_twice),
        cmocka_unit_test(test_parse_bounds_the_tree),
        cmocka_unit_test(test_fee_lines_good),
        cmocka_unit_test(test_fee_lines_bad),
        cmocka_unit_test(test_fee_lines_bounds),
        cmocka_unit_test(test_parse_says_where_it_stops),
        cmocka_unit_test(test_catalog_map),
        cmocka_unit_test(test_catalog_map_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
