/* Unit tests of interface/his/html.c: the bounded buffer (ceiling, sticky error) and HTML
 * escaping of untrusted text, including invalid UTF-8 and control characters. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/his/html.h"

struct escape_case {
    const char *in;
    const char *out;
};

static const struct escape_case escape_cases[] = {
    {"", ""},
    {"plain 张三", "plain 张三"},
    {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {"A&B \"C\" 'D'", "A&amp;B &quot;C&quot; &#39;D&#39;"},
    {"&amp;", "&amp;amp;"},
    {"tab\there\nline", "tab\there\nline"},
    {"bell\a nul-less \x1b[31m del\x7f", "bell nul-less [31m del"},
    {"bad \xff byte", "bad \xEF\xBF\xBD byte"},
    {"cut \xE5\xBC", "cut \xEF\xBF\xBD\xEF\xBF\xBD"},           /* truncated 张: two bad bytes */
    {"overlong \xC0\xBC", "overlong \xEF\xBF\xBD\xEF\xBF\xBD"}, /* '<' spelt in two bytes */
    {"surrogate \xED\xA0\x80", "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
    {"emoji \xF0\x9F\x98\x80", "emoji \xF0\x9F\x98\x80"},
    /* direction overrides and isolates dropped (U+202E, U+202A, U+2066, U+2069); the
     * characters beside them (U+2029, U+206A) kept */
    {"\xE2\x80\xAE\xE5\xBC\xA0\xE2\x80\xAA|\xE2\x81\xA6x\xE2\x81\xA9", "\xE5\xBC\xA0|x"},
    {"\xE2\x80\xA9\xE2\x81\xAA", "\xE2\x80\xA9\xE2\x81\xAA"},
    {"too high \xF4\x90\x80\x80", "too high \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
};

static void test_escape(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof escape_cases / sizeof escape_cases[0]; i++) {
        struct html_buf buf;

        html_buf_init(&buf, HTML_BUF_CEILING);
        assert_int_equal(html_escape(&buf, escape_cases[i].in), 0);
        if (strcmp(buf.data ? buf.data : "", escape_cases[i].out) != 0)
            print_error("case %zu: got \"%s\"\n", i, buf.data ? buf.data : "(null)");
        assert_string_equal(buf.data ? buf.data : "", escape_cases[i].out);
        html_buf_done(&buf);
    }
}

static void test_escape_null(void **state)
{
    struct html_buf buf;

    (void)state;
    html_buf_init(&buf, 16);
    assert_int_equal(html_escape(&buf, NULL), 0);
    assert_int_equal(buf.len, 0);
    html_buf_done(&buf);
}

static void test_utf8_len(void **state)
{
    (void)state;
    assert_int_equal(html_utf8_len("a", 1), 1);
    assert_int_equal(html_utf8_len("\xC2\xA0", 2), 2);
    assert_int_equal(html_utf8_len("\xE5\xBC\xA0", 3), 3);
    assert_int_equal(html_utf8_len("\xE5\xBC\xA0", 2), 0); /* cut by the end */
    assert_int_equal(html_utf8_len("\xF0\x9F\x98\x80", 4), 4);
    assert_int_equal(html_utf8_len("\x80", 1), 0);
    assert_int_equal(html_utf8_len("\xC1\x81", 2), 0);
    assert_int_equal(html_utf8_len("\xE0\x80\x80", 3), 0);
    assert_int_equal(html_utf8_len("\xF5\x80\x80\x80", 4), 0);
}

/* The ceiling is exact: len may reach it, never pass it, and the error sticks. */
static void test_ceiling(void **state)
{
    struct html_buf buf;

    (void)state;
    html_buf_init(&buf, 10);
    assert_int_equal(html_buf_put(&buf, "12345"), 0);
    assert_int_equal(html_buf_printf(&buf, "%d", 67890), 0);
    assert_int_equal(buf.len, 10);
    assert_string_equal(buf.data, "1234567890");
    assert_int_equal(html_buf_put(&buf, "x"), POSA_ETOOLONG);
    assert_int_equal(buf.len, 10);
    assert_int_equal(html_buf_put(&buf, ""), POSA_ETOOLONG); /* sticky */
    assert_int_equal(html_escape(&buf, "a"), POSA_ETOOLONG);
    assert_int_equal(buf.err, POSA_ETOOLONG);
    html_buf_done(&buf);

    /* An escape that would cross the ceiling fails too: "&amp;" is 5 bytes. */
    html_buf_init(&buf, 4);
    assert_int_equal(html_escape(&buf, "&"), POSA_ETOOLONG);
    html_buf_done(&buf);
}

/* A writer's own failure sticks like a buffer error; the first one wins. */
static void test_fail(void **state)
{
    struct html_buf buf;

    (void)state;
    html_buf_init(&buf, 64);
    assert_int_equal(html_buf_put(&buf, "ok"), 0);
    assert_int_equal(html_buf_fail(&buf, POSA_ERANGE), POSA_ERANGE);
    assert_int_equal(html_buf_fail(&buf, POSA_EOVERFLOW), POSA_ERANGE);
    assert_int_equal(html_buf_put(&buf, "more"), POSA_ERANGE);
    assert_string_equal(buf.data, "ok");
    html_buf_done(&buf);
}

/* Growth past the first allocation keeps content and the NUL. */
static void test_growth(void **state)
{
    struct html_buf buf;
    char chunk[101];

    (void)state;
    memset(chunk, 'z', 100);
    chunk[100] = '\0';
    html_buf_init(&buf, HTML_BUF_CEILING);
    for (int i = 0; i < 100; i++)
        assert_int_equal(html_buf_put(&buf, chunk), 0);
    assert_int_equal(buf.len, 10000);
    assert_int_equal(strlen(buf.data), 10000);
    assert_true(buf.cap <= HTML_BUF_CEILING + 1);
    html_buf_done(&buf);
    html_buf_done(&buf); /* twice is harmless */
}

/* A fixed-seed generator, so a failure replays; bytes biased towards the special ones. */
static uint32_t next_random(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};

static bool is_entity(const char *p)
{
    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++)
        if (strncmp(p, entities[i], strlen(entities[i])) == 0)
            return true;
    return false;
}

/* Any bytes in: well-formed UTF-8 out, no markup character, '&' only as our entities. */
static void test_escape_random(void **state)
{
    static const char special[] = "<>&\"'\t\n\r\x01\x7f\x80\xbf\xc0\xe5\xed\xf0\xf4\xff";
    uint32_t seed = 20221125;

    (void)state;
    for (int round = 0; round < 3000; round++) {
        char in[65];
        size_t n = next_random(&seed) % 65;
        struct html_buf buf;

        for (size_t i = 0; i < n; i++) {
            uint32_t r = next_random(&seed);
            char c = (r & 1) ? special[(r >> 1) % (sizeof special - 1)] : (char)(r >> 1);

            in[i] = c ? c : 'x';
        }
        in[n] = '\0';
        html_buf_init(&buf, HTML_BUF_CEILING);
        assert_int_equal(html_escape(&buf, in), 0);
        for (size_t i = 0; i < buf.len;) {
            size_t len = html_utf8_len(buf.data + i, buf.len - i);
            unsigned char c = (unsigned char)buf.data[i];

            assert_true(len > 0);
            assert_true(c != '<' && c != '>' && c != '"' && c != '\'');
            assert_true(c >= 0x20 || c == '\t' || c == '\n');
            assert_true(c != 0x7f);
            if (c == '&')
                assert_true(is_entity(buf.data + i));
            i += len;
        }
        html_buf_done(&buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),        cmocka_unit_test(test_escape_null),
        cmocka_unit_test(test_utf8_len),      cmocka_unit_test(test_ceiling),
        cmocka_unit_test(test_growth),        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_escape_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
