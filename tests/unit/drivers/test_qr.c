/* Unit tests of drivers/qr.c: line validation, stream splitting, de-duplication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "drivers/qr.h"

static void test_check(void **state)
{
    uint8_t line[BOUND_QR_LINE + 1];

    (void)state;
    memset(line, 'A', sizeof line);
    assert_int_equal(qr_line_check((const uint8_t *)"630000ec7ioqup8p1o0761820a", 26), 0);
    assert_int_equal(qr_line_check((const uint8_t *)" ~", 2), 0);
    assert_int_equal(qr_line_check((const uint8_t *)"   ", 3), DRV_EQR_INVALID);
    assert_int_equal(qr_line_check((const uint8_t *)" ", 1), DRV_EQR_INVALID);
    assert_int_equal(qr_line_check(line, BOUND_QR_LINE), 0);
    assert_int_equal(qr_line_check(line, BOUND_QR_LINE + 1), DRV_EQR_INVALID);
    assert_int_equal(qr_line_check(line, 0), DRV_EQR_INVALID);
    assert_int_equal(qr_line_check((const uint8_t *)"ab\x7F", 3), DRV_EQR_INVALID);
    assert_int_equal(qr_line_check((const uint8_t *)"a\tb", 3), DRV_EQR_INVALID);
    assert_int_equal(qr_line_check((const uint8_t *)"a\0b", 3), DRV_EQR_INVALID);
    assert_int_equal(qr_line_check((const uint8_t *)"\xE5\xBC\xA0", 3), DRV_EQR_INVALID);
}

struct lines {
    int status[8];
    size_t len[8];
    char text[8][BOUND_QR_LINE + 1];
    int n;
};

static void on_line(void *data, int status, const uint8_t *line, size_t len)
{
    struct lines *l = data;
    assert_true(l->n < 8);
    l->status[l->n] = status;
    l->len[l->n] = len;
    memcpy(l->text[l->n], line, len < BOUND_QR_LINE ? len : BOUND_QR_LINE);
    l->text[l->n][len < BOUND_QR_LINE ? len : BOUND_QR_LINE] = '\0';
    l->n++;
}

static void test_split(void **state)
{
    struct qr_line ql;
    struct lines got = {0};

    (void)state;
    qr_line_init(&ql);
    /* CRLF in two reads, then LF, then CR; a partial line stays pending. */
    qr_line_feed(&ql, (const uint8_t *)"ABC\r", 4, on_line, &got);
    qr_line_feed(&ql, (const uint8_t *)"\nDEF\nGH", 7, on_line, &got);
    qr_line_feed(&ql, (const uint8_t *)"I\rJK", 4, on_line, &got);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.text[0], "ABC");
    assert_string_equal(got.text[1], "DEF");
    assert_string_equal(got.text[2], "GHI");
    for (int i = 0; i < 3; i++)
        assert_int_equal(got.status[i], 0);
    qr_line_feed(&ql, (const uint8_t *)"\n\n", 2, on_line, &got);
    assert_int_equal(got.n, 4); /* the empty line after JK is no scan */
    assert_string_equal(got.text[3], "JK");
    /* Suffixes of LF CR, CR CR, LF LF and bare terminators: one scan each, nothing more. */
    qr_line_feed(&ql, (const uint8_t *)"L1\n\rL2\r\rL3\n\n\r\r\r\n", 16, on_line, &got);
    assert_int_equal(got.n, 7);
    assert_string_equal(got.text[4], "L1");
    assert_string_equal(got.text[5], "L2");
    assert_string_equal(got.text[6], "L3");
}

static void test_split_overlong_and_binary(void **state)
{
    struct qr_line ql;
    struct lines got = {0};
    uint8_t big[1000];

    (void)state;
    memset(big, 'Z', sizeof big);
    qr_line_init(&ql);
    qr_line_feed(&ql, big, sizeof big, on_line, &got);
    qr_line_feed(&ql, big, sizeof big, on_line, &got);
    qr_line_feed(&ql, (const uint8_t *)"\nOK\n\x01\x02\xFF\n", 8, on_line, &got);
    assert_int_equal(got.n, 3);
    assert_int_equal(got.status[0], DRV_EQR_INVALID);
    assert_int_equal(got.len[0], 2000);
    assert_int_equal(got.status[1], 0);
    assert_string_equal(got.text[1], "OK");
    assert_int_equal(got.status[2], DRV_EQR_INVALID);
    /* exactly the bound is still valid */
    got.n = 0;
    qr_line_feed(&ql, big, BOUND_QR_LINE, on_line, &got);
    qr_line_feed(&ql, (const uint8_t *)"\r\n", 2, on_line, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.status[0], 0);
    assert_int_equal(got.len[0], BOUND_QR_LINE);
}

static void test_dedup(void **state)
{
    struct qr_dedup d;

    (void)state;
    qr_dedup_init(&d, 2000);
    assert_false(qr_dedup_is_repeat(&d, "AAA", 3, 10000));
    assert_true(qr_dedup_is_repeat(&d, "AAA", 3, 10500));  /* 500 ms later */
    assert_true(qr_dedup_is_repeat(&d, "AAA", 3, 12400));  /* held: window slides */
    assert_false(qr_dedup_is_repeat(&d, "AAA", 3, 14400)); /* exactly 2000 ms: new scan */
    assert_false(qr_dedup_is_repeat(&d, "BBB", 3, 14500));
    assert_false(qr_dedup_is_repeat(&d, "AAA", 3, 14600)); /* alternation is not a repeat */
    assert_false(qr_dedup_is_repeat(&d, "AAAA", 4, 14700));
    assert_false(qr_dedup_is_repeat(&d, "AAAA", 4, 1000)); /* clock went back: not a repeat */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_overlong_and_binary),
        cmocka_unit_test(test_dedup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
