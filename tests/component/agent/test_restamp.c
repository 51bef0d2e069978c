/* upstream_restamp: an envelope sent again (from the queue, or under a new msgid after a
 * reversal or a lost session) says when it leaves, not when it was first made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/upstream.h"
#include "core/datetime.h"

static const char *field(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* The time a restamp gave is between before and after (same-format times compare as text). */
static void assert_sent_now(const char *t, const char *before)
{
    char after[DATETIME_TIME_LEN + 1];

    datetime_format(upstream_now_beijing(), after);
    assert_non_null(t);
    assert_true(strcmp(t, before) >= 0 && strcmp(t, after) <= 0);
}

static void test_restamped_now(void **state)
{
    static const char body[] = "{\"infno\":\"2301\",\"msgid\":\"H31010100001202001010000000001\","
                               "\"inf_time\":\"2020-01-01 00:00:00\",\"sign_no\":\"S1\","
                               "\"input\":{\"feedetail\":[]}}";
    char *out = NULL, now[DATETIME_TIME_LEN + 1];
    size_t len = 0;
    struct json_object *o;

    (void)state;
    datetime_format(upstream_now_beijing(), now);
    assert_int_equal(upstream_restamp(body, strlen(body), NULL, "S2", &out, &len), 0);
    o = json_tokener_parse(out);
    assert_non_null(o);
    assert_sent_now(field(o, "inf_time"), now);
    assert_string_equal(field(o, "sign_no"), "S2");
    assert_string_equal(field(o, "msgid"), "H31010100001202001010000000001");
    json_object_put(o);
    free(out);
    assert_int_equal(
        upstream_restamp(body, strlen(body), "H31010100001202611270000009999", NULL, &out, &len),
        0);
    o = json_tokener_parse(out);
    assert_string_equal(field(o, "msgid"), "H31010100001202611270000009999");
    assert_string_equal(field(o, "sign_no"), "S1");
    assert_sent_now(field(o, "inf_time"), now);
    json_object_put(o);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restamped_now),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
