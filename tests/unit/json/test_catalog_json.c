/* The platform's catalog rows (1312) as catalog_json_append reads them: rows out of force
 * left out unread (vali_flag "0" or 0, an ended period, one to come), a row in force that
 * cannot be read skipped and counted, not the page; a scenario file's bad row fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "interface/json/catalog_json.h"

#define ROW(code, extra)                                                                           \
    "{\"hilist_code\":\"" code "\",\"hilist_name\":\"n\",\"chrgitm_lv\":\"02\","                   \
    "\"med_chrgitm_type\":\"09\",\"selfpay_prop\":\"0.10\","                                       \
    "\"hilist_pric_uplmt_amt\":\"12.50\"" extra "}"

static void test_rows_in_force_and_unreadable(void **state)
{
    static const char page[] = "[" ROW("A1", "") "," ROW("A2", ",\"vali_flag\":\"0\"") "," ROW(
        "A3", ",\"vali_flag\":0") "," ROW("A4",
                                          ",\"enddate\":\"2020-12-31\"") "," ROW("A5",
                                                                                 ",\"begndate\":"
                                                                                 "\"2099-01-01\"")
        /* out of force: not read, so its odd limit does not matter */
        "," ROW("A6", ",\"vali_flag\":\"0\",\"chrgitm_lv\":\"7\"")
        /* in force, unreadable: skipped and counted */
        ",{\"hilist_code\":\"A7\",\"chrgitm_lv\":\"2\",\"med_chrgitm_type\":\"09\"}"
        ",{\"hilist_code\":\"A8\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"09\","
        "\"hilist_pric_uplmt_amt\":\"\"}"
        "," ROW("A9", ",\"vali_flag\":\"1\",\"begndate\":\"2020-01-01\"") "]";
    struct json_object *rows = json_tokener_parse(page);
    struct catalog_item *items = NULL;
    struct jsonmap_error err = {0};
    size_t n = 0, skipped = 0;

    (void)state;
    assert_non_null(rows);
    assert_int_equal(
        catalog_json_append(rows, &catalog_keys_1312, 20261127, &items, &n, &skipped, &err), 0);
    assert_int_equal((int)n, 2);
    assert_string_equal(items[0].list_code, "A1");
    assert_int_equal(items[0].selfpay_prop_e6, 100000);
    assert_int_equal(items[0].price_limit_e6, 12500000);
    assert_string_equal(items[1].list_code, "A9");
    assert_int_equal((int)skipped, 2);
    free(items);

    /* A scenario file's row that cannot be read fails, naming it. */
    items = NULL;
    n = 0;
    static const char bad[] = "[{\"list_code\":\"B1\",\"chrgitm_lv\":\"7\","
                              "\"med_chrgitm_type\":\"09\"}]";
    struct json_object *scenario = json_tokener_parse(bad);
    assert_true(catalog_json_append(scenario, &catalog_keys_scenario, 0, &items, &n, NULL, &err) <
                0);
    assert_string_equal(err.field, "catalog[0].chrgitm_lv");
    assert_int_equal((int)n, 0);
    free(items);
    json_object_put(scenario);
    json_object_put(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rows_in_force_and_unreadable)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
