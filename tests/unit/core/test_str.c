/* Unit tests of core/str: str_copy fits, cuts and terminates like snprintf("%s"),
 * str_decimal writes what "%" PRIu64 does, str_index what "%s[%zu]" does, and str_ptr_cmp
 * orders arrays of strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/str.h"

static void test_fits(void **state)
{
    char buf[8];

    (void)state;
    memset(buf, 'x', sizeof buf);
    assert_true(str_copy(buf, sizeof buf, "abc"));
    assert_string_equal(buf, "abc");
    assert_true(str_copy(buf, sizeof buf, "1234567")); /* exactly full */
    assert_string_equal(buf, "1234567");
    assert_true(str_copy(buf, sizeof buf, ""));
    assert_string_equal(buf, "");
    assert_true(str_copy(buf, sizeof buf, NULL));
    assert_string_equal(buf, "");
}

static void test_cut(void **state)
{
    char buf[8], one[1] = {'x'};

    (void)state;
    memset(buf, 'x', sizeof buf);
    assert_false(str_copy(buf, sizeof buf, "12345678"));
    assert_string_equal(buf, "1234567");
    assert_false(str_copy(buf, sizeof buf, "张建国的住院号")); /* 7 bytes: 张建 and a third of 国 */
    assert_string_equal(buf, "张建");
    assert_false(str_copy(buf, sizeof buf, "ab张建国")); /* 2 + 3 + 2 of 建: the whole 建 goes */
    assert_string_equal(buf, "ab张");
    assert_false(str_copy(buf, sizeof buf, "abcd张建")); /* 4 + 3 fits exactly */
    assert_string_equal(buf, "abcd张");
    assert_false(str_copy(buf, sizeof buf, "abcdef\xf0\x9f\x98\x80")); /* a 4-byte emoji */
    assert_string_equal(buf, "abcdef");
    assert_false(str_copy(one, sizeof one, "a"));
    assert_int_equal(one[0], '\0');
    one[0] = 'x';
    assert_false(str_copy(one, 0, "a")); /* no room at all: untouched */
    assert_int_equal(one[0], 'x');
}

static void test_decimal_is_snprintf(void **state)
{
    static const uint64_t nums[] = {0, 7, 10, 99, 100, 12345, UINT64_MAX};
    char buf[STR_DECIMAL_MAX], want[32];

    (void)state;
    for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
        snprintf(want, sizeof want, "%" PRIu64, nums[k]);
        assert_string_equal(str_decimal(buf, nums[k]), want);
    }
}

/* Every cut and every index against what snprintf writes. */
static void test_index_is_snprintf(void **state)
{
    static const size_t idx[] = {0, 7, 10, 99, 12345, SIZE_MAX};
    char want[64], got[64];

    (void)state;
    for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++)
        for (size_t cap = 1; cap <= sizeof(got); cap++) {
            int n = snprintf(want, cap, "%s[%zu]", "feedetail", idx[k]);

            memset(got, 'x', sizeof got);
            assert_int_equal(str_index(got, cap, "feedetail", idx[k]), (size_t)n < cap);
            assert_string_equal(got, want);
        }
    assert_true(str_index(got, sizeof got, NULL, 3));
    assert_string_equal(got, "[3]");
    got[0] = 'x';
    assert_false(str_index(got, 0, "a", 1)); /* no room at all: untouched */
    assert_int_equal(got[0], 'x');
}

/* FNV-1a's published 32-bit test vectors. */
static void test_hash_is_fnv1a(void **state)
{
    (void)state;
    assert_int_equal(str_hash(""), 0x811c9dc5u);
    assert_int_equal(str_hash("a"), 0xe40c292cu);
    assert_int_equal(str_hash("foobar"), 0xbf9cf968u);
}

/* str_ptr_cmp orders pointers by what they point at, for qsort and bsearch alike. */
/* An identifier from the platform: visible ASCII only, at least one. */
static void test_is_code(void **state)
{
    (void)state;
    assert_true(str_is_code("3100002026112500000001"));
    assert_true(str_is_code("S-1_a.b"));
    assert_true(str_is_code("~!"));
    assert_false(str_is_code(NULL));
    assert_false(str_is_code(""));
    assert_false(str_is_code(" "));
    assert_false(str_is_code("M1 2"));
    assert_false(str_is_code("M1\x01"));
    assert_false(str_is_code("M1\n\"x"));
    assert_false(str_is_code("3202\x1b[31m"));
    assert_false(str_is_code("M\x7f"));
    assert_false(str_is_code("就诊"));
}

/* A desk's id: letters, digits, - _ . and other UTF-8 characters, 1 to 32 bytes; none of the
 * config's separators, '*' (every desk), blanks or controls. */
static void test_is_desk(void **state)
{
    (void)state;
    assert_true(str_is_desk("D01"));
    assert_true(str_is_desk("er-1_b.2"));
    assert_true(str_is_desk("门诊收费1"));
    assert_true(str_is_desk("D0123456789012345678901234567890")); /* 32 bytes */
    assert_false(str_is_desk("D01234567890123456789012345678901"));
    assert_false(str_is_desk("门诊门诊门诊门诊门诊门")); /* 33 bytes */
    assert_false(str_is_desk(NULL));
    assert_false(str_is_desk(""));
    assert_false(str_is_desk("*"));
    assert_false(str_is_desk("D01,*"));
    assert_false(str_is_desk("D 01"));
    assert_false(str_is_desk("D01:extra"));
    assert_false(str_is_desk("D01;D02"));
    assert_false(str_is_desk("D01=x"));
    assert_false(str_is_desk("D01\t"));
    assert_false(str_is_desk("D01\x7f"));
    assert_false(str_is_desk("D\xe9")); /* Latin-1, not UTF-8 */
    assert_false(str_is_desk("D/01"));
    assert_true(str_is_desk("收费é1")); /* é U+00E9: a letter */
    assert_false(str_is_desk("D\u3000"
                             "1")); /* ideographic space */
    assert_false(str_is_desk("D\u2028"
                             "1")); /* line separator */
    assert_false(str_is_desk("D\xc2\x85"
                             "1")); /* C1 NEL */
    assert_false(str_is_desk("D\xc2\xa0"
                             "1")); /* no-break space */
    assert_false(str_is_desk("D\u3001"
                             "1")); /* 、 */
    assert_false(str_is_desk("\xef\xbb\xbf"
                             "D1")); /* BOM */
}

static void test_ptr_cmp_orders_strings(void **state)
{
    (void)state;
    const char *ids[] = {"L10", "L02", "氯化钠", "L1", ""};
    const char *key = "L10", *absent = "L3";

    qsort(ids, 5, sizeof ids[0], str_ptr_cmp);
    assert_string_equal(ids[0], "");
    assert_string_equal(ids[1], "L02");
    assert_string_equal(ids[2], "L1");
    assert_string_equal(ids[3], "L10");
    assert_string_equal(ids[4], "氯化钠"); /* UTF-8 bytes sort after ASCII */
    assert_ptr_equal(bsearch(&key, ids, 5, sizeof ids[0], str_ptr_cmp), &ids[3]);
    assert_null(bsearch(&absent, ids, 5, sizeof ids[0], str_ptr_cmp));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fits),
                                       cmocka_unit_test(test_cut),
                                       cmocka_unit_test(test_decimal_is_snprintf),
                                       cmocka_unit_test(test_index_is_snprintf),
                                       cmocka_unit_test(test_hash_is_fnv1a),
                                       cmocka_unit_test(test_is_code),
                                       cmocka_unit_test(test_is_desk),
                                       cmocka_unit_test(test_ptr_cmp_orders_strings)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
