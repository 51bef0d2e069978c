/* Unit tests of drivers/gbk.c: GBK/GB18030 names to UTF-8, padding, rare characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/err.h"
#include "drivers/gbk.h"

static void test_names(void **state)
{
    /* Expected UTF-8 from the Unicode code points of each character. */
    static const struct {
        const char *gbk;
        size_t len;
        const char *utf8;
    } cases[] = {
        {"\xD5\xC5\xC8\xFD", 4, "\xE5\xBC\xA0\xE4\xB8\x89"},                     /* 张三 */
        {"\xD5\xC5\xC8\xFD\0\0\0\0", 8, "\xE5\xBC\xA0\xE4\xB8\x89"},             /* 00 pad */
        {"\xD5\xC5\xC8\xFD    ", 8, "\xE5\xBC\xA0\xE4\xB8\x89"},                 /* 20 pad */
        {"\xD6\xEC\xE9\x46\xBB\xF9", 6, "\xE6\x9C\xB1\xE9\x95\x95\xE5\x9F\xBA"}, /* 朱镕基 */
        {"\xC1\xF5\xFE\x9F", 4, "\xE5\x88\x98\xE4\xB6\xAE"},                     /* 刘䶮 U+4DAE */
        {"\x95\x32\x82\x36", 4, "\xF0\xA0\x80\x80"},                             /* U+20000 */
        {"\x81\x7C", 2, "\xE4\xBA\x85"},                                         /* 亅: 7C trail */
        {"\0\0\0", 3, ""},
        {"ABC", 3, "ABC"},
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(gbk_to_utf8((const uint8_t *)cases[i].gbk, cases[i].len, out, sizeof out),
                         0);
        assert_string_equal(out, cases[i].utf8);
    }
}

static void test_invalid(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(gbk_to_utf8((const uint8_t *)"\xD5", 1, out, sizeof out), DRV_EGBK);
    assert_int_equal(gbk_to_utf8((const uint8_t *)"\xD5\x20", 2, out, sizeof out), DRV_EGBK);
    assert_int_equal(gbk_to_utf8((const uint8_t *)"\xFF\xFF", 2, out, sizeof out), DRV_EGBK);
    assert_int_equal(gbk_to_utf8((const uint8_t *)"\x95\x32\x82", 3, out, sizeof out), DRV_EGBK);
    assert_string_equal(out, "");
    /* 张三 needs 6 bytes + NUL */
    assert_int_equal(gbk_to_utf8((const uint8_t *)"\xD5\xC5\xC8\xFD", 4, out, 6), POSA_ETOOLONG);
    assert_int_equal(gbk_to_utf8((const uint8_t *)"\xD5\xC5\xC8\xFD", 4, out, 7), 0);
}

static void test_char_len(void **state)
{
    (void)state;
    assert_int_equal(gbk_char_len((const uint8_t *)"A", 1), 1);
    assert_int_equal(gbk_char_len((const uint8_t *)"\xD5\xC5", 2), 2);
    assert_int_equal(gbk_char_len((const uint8_t *)"\x81\x7C", 2), 2);
    assert_int_equal(gbk_char_len((const uint8_t *)"\x95\x32\x82\x36", 4), 4);
    assert_int_equal(gbk_char_len((const uint8_t *)"\x95\x32\x82", 3), 0);
    assert_int_equal(gbk_char_len((const uint8_t *)"\xD5", 1), 0);
    assert_int_equal(gbk_char_len((const uint8_t *)"\x80\x40", 2), 0);
    assert_int_equal(gbk_char_len((const uint8_t *)"\xD5\x7F", 2), 0);
    assert_int_equal(gbk_char_len((const uint8_t *)"", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_char_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
