/* Unit tests of interface/his/router: literal and captured segments, 404 vs 405. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/his/router.h"

static const struct route_pattern table[] = {
    {"GET", "/v1/health"},
    {"POST", "/v1/visits"},
    {"POST", "/v1/visits/{visit_id}/fees"},
    {"POST", "/v1/visits/{visit_id}/fees/cancel"},
    {"GET", "/v1/settlements/{settlement_id}"},
    {"POST", "/v1/queue/{msgid}/retry"},
    {"GET", "/v1/documents/forms/{form}"},
    {"GET", "/"},
};
#define N (sizeof table / sizeof table[0])

static void test_matches(void **state)
{
    struct route_match m;

    (void)state;
    assert_int_equal(router_match(table, N, "GET", "/v1/health", &m), 0);
    assert_int_equal(m.index, 0);
    assert_int_equal(m.n_params, 0);
    assert_int_equal(router_match(table, N, "POST", "/v1/visits/V20261125-0001/fees", &m), 0);
    assert_int_equal(m.index, 2);
    assert_int_equal(m.n_params, 1);
    assert_string_equal(m.params[0], "V20261125-0001");
    assert_int_equal(router_match(table, N, "POST", "/v1/visits/V1/fees/cancel", &m), 0);
    assert_int_equal(m.index, 3);
    assert_int_equal(router_match(table, N, "POST", "/v1/queue/H31010100001202611251000000001/retry", &m), 0);
    assert_string_equal(m.params[0], "H31010100001202611251000000001");
    assert_int_equal(router_match(table, N, "GET", "/v1/documents/forms/trauma-commitment", &m), 0);
    assert_string_equal(m.params[0], "trauma-commitment");
    assert_int_equal(router_match(table, N, "GET", "/", &m), 0);
    assert_int_equal(m.index, 7);
}

static void test_not_found_vs_method(void **state)
{
    static const char *const missing[] = {
        "/v1/healthz", "/v1/health/", "/v1", "", "/v1/visits/", "/v1/visits//fees",
        "/v1/visits/a%2Fb/fees", "/v1/visits/../fees", "/v1/visits/x y/fees",
        "/v1/settlements/S1/extra", "//v1/health",
    };
    struct route_match m;

    (void)state;
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        int rc = router_match(table, N, "GET", missing[i], &m);

        if (rc != POSA_ENOSUCH)
            print_error("%s: %d\n", missing[i], rc);
        assert_int_equal(rc, POSA_ENOSUCH);
    }
    assert_int_equal(router_match(table, N, "DELETE", "/v1/health", &m), POSA_EMETHOD);
    assert_int_equal(router_match(table, N, "GET", "/v1/visits", &m), POSA_EMETHOD);
    assert_int_equal(router_match(table, N, "get", "/v1/health", &m), POSA_EMETHOD);
}

/* A 405's Allow: every method the table has for the path, in table order. */
static void test_allowed(void **state)
{
    static const struct route_pattern two[] = {
        {"POST", "/v1/visits"}, {"GET", "/v1/health"}, {"GET", "/v1/visits"}};
    char buf[32];

    (void)state;
    router_allowed(two, 3, "/v1/visits", buf, sizeof buf);
    assert_string_equal(buf, "POST, GET");
    router_allowed(table, N, "/v1/visits/V1/fees", buf, sizeof buf);
    assert_string_equal(buf, "POST");
    router_allowed(table, N, "/v1/nosuch", buf, sizeof buf);
    assert_string_equal(buf, "");
    router_allowed(two, 3, "/v1/visits", buf, 6); /* truncated, terminated */
    assert_string_equal(buf, "POST,");
}

static void test_capture_bounds(void **state)
{
    char path[200], id[80];
    struct route_match m;

    (void)state;
    memset(id, 'a', sizeof id - 1);
    id[ROUTE_PARAM_MAX - 1] = '\0'; /* 63 bytes: fits */
    snprintf(path, sizeof path, "/v1/settlements/%s", id);
    assert_int_equal(router_match(table, N, "GET", path, &m), 0);
    assert_int_equal(strlen(m.params[0]), ROUTE_PARAM_MAX - 1);
    id[ROUTE_PARAM_MAX - 1] = 'a';
    id[ROUTE_PARAM_MAX] = '\0'; /* 64 bytes: too long */
    snprintf(path, sizeof path, "/v1/settlements/%s", id);
    assert_int_equal(router_match(table, N, "GET", path, &m), POSA_ENOSUCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_not_found_vs_method),
        cmocka_unit_test(test_capture_bounds),
        cmocka_unit_test(test_allowed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
