/* Unit tests of drivers/drv_err.c: every drivers code has its own description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "drivers/drv_err.h"

static void test_names(void **state)
{
    static const int codes[] = {
        DRV_ECARD_UNREADABLE, DRV_ENOT_SSC,     DRV_EQR_INVALID, DRV_ESW_FILE,
        DRV_ESW_RECORD,       DRV_ESW_SECURITY, DRV_ESW_LENGTH,  DRV_ESW_PARAM,
        DRV_ESW_INS,          DRV_ESW_CLA,      DRV_ESW_OTHER,   DRV_ESW_CHAIN,
        DRV_ERECORD,          DRV_EFIELD,       DRV_EDATE,       DRV_EGBK,
        DRV_EVENDOR,          DRV_EPCSC,        DRV_EGONE,       DRV_ECONFIG,
    };
    const size_t n = sizeof codes / sizeof codes[0];

    (void)state;
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] <= -1200 && codes[i] >= -1299);
        assert_non_null(drv_err_str(codes[i]));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(drv_err_str(codes[i]), drv_err_str(codes[j]));
    }
    /* Others go to core's table. */
    assert_string_equal(drv_err_str(POSA_ETOOLONG), posa_strerror(POSA_ETOOLONG));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
