/* Unit tests of core/utf8: the well-formed forms of RFC 3629 and the classic bad ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/utf8.h"

struct utf8_case {
    const char *text;
    size_t len;
    bool valid;
    size_t bad_at;
};

#define C(s, v, at) {s, sizeof(s) - 1, v, at}

static const struct utf8_case cases[] = {
    C("", true, 0),
    C("abc", true, 0),
    C("张建国", true, 0),                    /* 3-byte CJK */
    C("王䶮", true, 0),                      /* U+4DAE, CJK Ext. A */
    C("\xF0\xA0\x80\x80", true, 0),          /* U+20000, 4 bytes */
    C("\xF4\x8F\xBF\xBF", true, 0),          /* U+10FFFF, the last */
    C("\xD5\xC5\xBD\xA8", false, 0),         /* "张建" in GBK */
    /* Past the eight-bytes-at-a-time ASCII scan: a bad byte at, and after, a block edge. */
    C("abcdefgh\xFFxyz", false, 8),
    C("abcdefghijklm\xC3", false, 13),              /* truncated at the end */
    C("0123456789abcdef张建国", true, 0),
    C("0123456789abcdef张\xE5\xBB", false, 19),     /* 张 at 16..18, then cut short */
    C("abcdefg张hijklmnopqrst\xED\xA0\x80", false, 23), /* a surrogate after ASCII blocks */
    C("ok\xC0\xAF", false, 2),               /* overlong "/" */
    C("\xE0\x80\xAF", false, 0),             /* overlong 3-byte */
    C("\xED\xA0\x80", false, 0),             /* a surrogate, U+D800 */
    C("\xF4\x90\x80\x80", false, 0),         /* above U+10FFFF */
    C("\xF5\x80\x80\x80", false, 0),         /* lead byte beyond F4 */
    C("a\x80", false, 1),                    /* a lone continuation byte */
    C("\xE5\xBC", false, 0),                 /* cut short */
    C("\xFF", false, 0),
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t at = 999;
        bool ok = utf8_is_valid(cases[i].text, cases[i].len, &at);

        if (ok != cases[i].valid)
            print_error("case %zu\n", i);
        assert_int_equal(ok, cases[i].valid);
        if (!ok)
            assert_int_equal(at, cases[i].bad_at);
    }
    assert_false(utf8_is_valid("\xC3", 1, NULL)); /* NULL offset is fine */
}

/* A text a fixed buffer cut: the half character at its end goes, nothing else does. */
static void test_uncut_len(void **state)
{
    static const struct {
        const char *text;
        size_t want;
    } cuts[] = {
        {"", 0},
        {"abc", 3},
        {"张建国", 9},             /* whole */
        {"张建\xE5\x9B", 6},       /* 国 cut after 2 of 3 bytes */
        {"张建\xE5", 6},           /* ... after 1 */
        {"ab\xF0\x9F\x98", 2},     /* a 4-byte character cut after 3 */
        {"ab\xF0\x9F\x98\x80", 6}, /* ... whole */
        {"ab\xC3", 2},
        {"ab\xC3\xA9", 4},
        {"ab\x80\x80", 4}, /* stray continuations: not a cut, left as they are */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t len = strlen(cuts[i].text), got = utf8_uncut_len(cuts[i].text, len);
        if (got != cuts[i].want)
            print_error("case %zu\n", i);
        assert_int_equal(got, cuts[i].want);
        assert_true(got == len || utf8_is_valid(cuts[i].text, got, NULL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases),
                                       cmocka_unit_test(test_uncut_len)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
