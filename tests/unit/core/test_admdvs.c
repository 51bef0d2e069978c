/* core/admdvs.c: a division code's province, for the documents' titles and regions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "core/admdvs.h"

static void test_known_divisions(void **state)
{
    (void)state;
    assert_string_equal(admdvs_province("310000"), "上海市");
    assert_string_equal(admdvs_province("320200"), "江苏省"); /* 无锡市 */
    assert_string_equal(admdvs_province("410100"), "河南省"); /* 郑州市 */
    assert_string_equal(admdvs_province("510100"), "四川省"); /* 成都市 */
    assert_string_equal(admdvs_province("110000"), "北京市");
    assert_string_equal(admdvs_province("650100"), "新疆维吾尔自治区");
    assert_string_equal(admdvs_province("660100"), "新疆生产建设兵团"); /* its own insurance */
    assert_string_equal(admdvs_province("450100"), "广西壮族自治区");
}

static void test_not_a_division(void **state)
{
    (void)state;
    assert_null(admdvs_province(NULL));
    assert_null(admdvs_province(""));
    assert_null(admdvs_province("31000"));   /* five digits */
    assert_null(admdvs_province("3100000")); /* seven */
    assert_null(admdvs_province("31000A"));
    assert_null(admdvs_province("990000")); /* no such province */
    assert_null(admdvs_province("710000")); /* Taiwan: no cross-province settlement */
    assert_null(admdvs_province("000000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_divisions),
        cmocka_unit_test(test_not_a_division),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
