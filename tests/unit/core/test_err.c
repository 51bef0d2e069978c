/* Unit tests of core/err: every posa code is named, has an HTTP error status and plain
 * words; codes that are not posa's pass through. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"

struct expect {
    int err;
    const char *code;
    int status;
    bool retryable;
};

/* The mapping his-api.md implies, written out by hand. */
static const struct expect expected[] = {
    {POSA_EINVAL_DECIMAL, "BAD_REQUEST", 400, false},
    {POSA_EAMOUNT, "BAD_REQUEST", 400, false},
    {POSA_EFILING, "FILING_REQUIRED", 422, false},
    {POSA_ESTATE, "CONFLICT", 409, false},
    {POSA_EUNAUTHORIZED, "UNAUTHORIZED", 401, false},
    {POSA_EFORBIDDEN, "FORBIDDEN", 403, false},
    {POSA_ENOSUCH, "NOT_FOUND", 404, false},
    {POSA_ECARD_NOT_PRESENT, "CARD_NOT_PRESENT", 409, true},
    {POSA_EQR_EXPIRED, "QR_EXPIRED", 410, false},
    {POSA_ENOT_CROSS_PROVINCE, "NOT_CROSS_PROVINCE", 422, false},
    {POSA_EUPSTREAM_OFFLINE, "UPSTREAM_OFFLINE", 503, true},
    {POSA_EUPSTREAM_REFUSED, "UPSTREAM_REFUSED", 422, false},
    {POSA_EOUTCOME_UNKNOWN, "OUTCOME_UNKNOWN", 504, true},
    {POSA_ECONFLICT, "CONFLICT", 409, false},
    {POSA_ETOOLARGE, "PAYLOAD_TOO_LARGE", 413, false},
    {POSA_ECATALOG_MISS, "CATALOG_MISS", 422, false},
    {-ENOSPC, "STORAGE_FULL", 507, true}, /* posad's own disk: retry once there is room */
    /* A card read: pulled out, or pcscd's hiccup: insert it again; its data at fault (the
     * same at every read) or a card that wants a PSAM: not. */
    {DRV_ECARD_UNREADABLE, "CARD_UNREADABLE", 422, true},
    {DRV_EGONE, "CARD_UNREADABLE", 422, true},
    {DRV_EPCSC, "CARD_UNREADABLE", 422, true},
    {DRV_ESW_FILE, "CARD_UNREADABLE", 422, false},
    {DRV_ESW_RECORD, "CARD_UNREADABLE", 422, false},
    {DRV_ERECORD, "CARD_UNREADABLE", 422, false},
    {DRV_EFIELD, "CARD_UNREADABLE", 422, false},
    {DRV_EDATE, "CARD_UNREADABLE", 422, false},
    {DRV_EGBK, "CARD_UNREADABLE", 422, false},
    {DRV_ESW_SECURITY, "CARD_UNREADABLE", 422, false},
};

static void test_mapping(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        assert_string_equal(posa_err_code(expected[i].err), expected[i].code);
        assert_int_equal(posa_err_http_status(expected[i].err), expected[i].status);
        assert_int_equal(posa_err_retryable(expected[i].err), expected[i].retryable);
    }
}

/* Every code in posa's ranges that has a name has plain words and an error status. */
static void test_every_named_code(void **state)
{
    int named = 0;

    (void)state;
    for (int err = -1000; err > -2000; err--) {
        if (strcmp(posa_err_code(err), "INTERNAL") == 0 && posa_err_http_status(err) == 500)
            continue;
        named++;
        assert_true(posa_err_http_status(err) >= 400 && posa_err_http_status(err) <= 599);
        assert_true(strlen(posa_strerror(err)) > 5);
        assert_string_not_equal(posa_strerror(err), "unknown error");
    }
    assert_true(named >= 30);
}

/* Within a module's range every code has its own words: a log line tells them apart. */
static void test_words_distinct(void **state)
{
    (void)state;
    for (int a = -1000; a > -2000; a--) {
        if (posa_err_http_status(a) == 500 && strcmp(posa_err_code(a), "INTERNAL") == 0 &&
            strcmp(posa_strerror(a), "unknown error") == 0)
            continue;
        for (int b = a - 1; b > (a / 100) * 100 - 100; b--)
            if (strcmp(posa_strerror(b), "unknown error") != 0)
                assert_string_not_equal(posa_strerror(a), posa_strerror(b));
    }
}

static void test_drivers_codes(void **state)
{
    (void)state;
    assert_string_equal(posa_err_code(DRV_ECARD_UNREADABLE), "CARD_UNREADABLE");
    assert_string_equal(posa_err_code(DRV_EQR_INVALID), "QR_INVALID");
    assert_string_equal(posa_strerror(DRV_ESW_SECURITY),
                        "card: security status not satisfied (6982): a card that needs PSAM "
                        "authentication reads only through its vendor's library ([desks] "
                        "card_library); identify by ID number or e-voucher meanwhile");
    assert_string_equal(posa_err_code(POSA_ENOTFOUND), "NOT_FOUND");
}

static void test_foreign_codes(void **state)
{
    (void)state;
    assert_string_equal(posa_strerror(0), "success");
    assert_string_equal(posa_strerror(-2), strerror(2)); /* -ENOENT passes through */
    assert_string_equal(posa_strerror(-1999), "unknown error");
    assert_string_equal(posa_err_code(-EIO), "INTERNAL"); /* an errno without a name */
    assert_int_equal(posa_err_http_status(-EIO), 500);
    assert_false(posa_err_retryable(-EIO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_every_named_code),
        cmocka_unit_test(test_words_distinct),
        cmocka_unit_test(test_drivers_codes),
        cmocka_unit_test(test_foreign_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
