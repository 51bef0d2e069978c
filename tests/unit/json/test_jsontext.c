/* JSON written as text: escaping, separators, exact decimals, and the wrapped value
 * serialising as itself inside a json-c document (which then parses back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "interface/json/jsontext.h"

static void test_rows_escape_and_parse_back(void **state)
{
    struct jsontext j = {0};
    struct json_object *doc, *back, *rows, *row;
    const char *text, *expected;

    (void)state;
    jsontext_open(&j, NULL, '[');
    jsontext_open(&j, NULL, '{');
    jsontext_str(&j, "sn", "a\"b\\c\n\x01张");
    jsontext_dec(&j, "amt", -1234, 2);
    jsontext_str(&j, "none", NULL);
    jsontext_close(&j, '}');
    jsontext_open(&j, NULL, '{');
    jsontext_dec(&j, "prop", 100000, 6);
    jsontext_dec_str(&j, "money", 5, 2);
    jsontext_open(&j, "flags", '[');
    jsontext_close(&j, ']');
    jsontext_open(&j, "nested", '{');
    jsontext_json(&j, "built", json_tokener_parse("{\"k\":[1,\"/\"]}"));
    jsontext_json(&j, "nothing", NULL);
    jsontext_close(&j, '}');
    jsontext_close(&j, '}');
    jsontext_close(&j, ']');
    expected = "[{\"sn\":\"a\\\"b\\\\c\\u000a\\u0001张\",\"amt\":-12.34,"
               "\"none\":null},{\"prop\":0.100000,\"money\":\"0.05\",\"flags\":[],"
               "\"nested\":{\"built\":{\"k\":[1,\"/\"]},\"nothing\":null}}]";
    assert_int_equal(j.len, strlen(expected)); /* unterminated until taken */
    assert_memory_equal(j.p, expected, j.len);
    doc = json_object_new_object();
    json_object_object_add(doc, "result", jsontext_take(&j));
    text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    back = json_tokener_parse(text);
    assert_non_null(back);
    assert_true(json_object_object_get_ex(back, "result", &rows));
    assert_int_equal(json_object_array_length(rows), 2);
    row = json_object_array_get_idx(rows, 0);
    assert_string_equal(json_object_get_string(json_object_object_get(row, "sn")),
                        "a\"b\\c\n\x01张");
    assert_string_equal(json_object_get_string(json_object_object_get(row, "amt")), "-12.34");
    json_object_put(back);
    json_object_put(doc);
}

static void test_done_without_take(void **state)
{
    struct jsontext j = {0};

    (void)state;
    jsontext_open(&j, NULL, '[');
    jsontext_done(&j);
    assert_null(j.p);
    assert_null(jsontext_take(&j)); /* nothing written: no value */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_escape_and_parse_back),
        cmocka_unit_test(test_done_without_take),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
