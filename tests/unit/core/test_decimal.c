/* Unit tests of core/decimal.h: exact parse and format, half-up rounding, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"

/* Tests report every failing case, then fail once: bad counts them, and each test's
 * teardown fails it when bad is not 0 (a test that counted and never checked could not
 * fail). */
static int bad;

static int bad_reset(void **state)
{
    (void)state;
    bad = 0;
    return 0;
}

static int bad_none(void **state)
{
    (void)state;
    if (bad)
        print_error("%d case(s) above were wrong\n", bad);
    return bad ? -1 : 0;
}

/* Prints both numbers in decimal: cmocka's own message shows int64 as unsigned hex. */
static void eq64(int64_t got, int64_t want, const char *what)
{
    if (got != want) {
        print_error("%s: got %lld, want %lld\n", what, (long long)got, (long long)want);
        bad++;
    }
}

static void rc_eq(int got, int want, const char *what)
{
    if (got != want) {
        print_error("%s: rc %d, want %d\n", what, got, want);
        bad++;
    }
}

struct parse_case {
    const char *text;
    int scale;
    int rc;
    int64_t value; /* when rc == 0 */
};

/* clang-format off */
/* Each expected value is the text's digits shifted by the scale, worked out by hand. */
static const struct parse_case parse_cases[] = {
    {"0", 2, 0, 0},
    {"0.00", 2, 0, 0},
    {"1", 2, 0, 100},                 /* 1 x 100 */
    {"0.1", 2, 0, 10},                /* binary-inexact 0.1 -> exactly 10 fen */
    {"4.52", 2, 0, 452},              /* binary-inexact 4.52 -> 452 fen */
    {"1234.57", 2, 0, 123457},        /* binary-inexact 1234.57 -> 123457 fen */
    {"0.01", 2, 0, 1},
    {"-0.01", 2, 0, -1},
    {"-12.3", 2, 0, -1230},           /* -12.30 */
    {"1.000", 2, 0, 100},             /* zeros beyond the scale are exact */
    {"1234.567800", 6, 0, 1234567800}, /* 1234.567800 x 10^6 */
    {"1234.5678", 6, 0, 1234567800},
    {"12.3456780", 6, 0, 12345678},   /* trailing zero beyond scale 6 */
    {"0.10", 6, 0, 100000},           /* a ratio: 0.10 = 100000 */
    {"0.0001", 4, 0, 1},
    {"100000000.0000", 4, 0, 1000000000000LL}, /* 1e8 x 1e4 */
    {"10", 0, 0, 10},
    /* Extremes: bounds are symmetric, +-INT64_MAX = +-9223372036854775807 (decimal.h). */
    {"92233720368547758.07", 2, 0, INT64_MAX},
    {"-92233720368547758.07", 2, 0, -INT64_MAX},
    {"9223372036854.775807", 6, 0, INT64_MAX},
    {"-9223372036854.775807", 6, 0, -INT64_MAX},
    {"9223372036854775807", 0, 0, INT64_MAX},
    {"-9223372036854775807", 0, 0, -INT64_MAX},
    /* One past the extremes; INT64_MIN itself is not a decimal here. */
    {"92233720368547758.08", 2, POSA_EOVERFLOW, 0},
    {"-92233720368547758.08", 2, POSA_EOVERFLOW, 0},
    {"-9223372036854.775808", 6, POSA_EOVERFLOW, 0},
    {"-9223372036854775808", 0, POSA_EOVERFLOW, 0},
    {"-92233720368547758.09", 2, POSA_EOVERFLOW, 0},
    {"9223372036854.775808", 6, POSA_EOVERFLOW, 0},
    {"9223372036855", 6, POSA_EOVERFLOW, 0},     /* 9223372036855 x 10^6 > INT64_MAX */
    {"9223372036854775808", 0, POSA_EOVERFLOW, 0},
    {"99999999999999999999", 0, POSA_EOVERFLOW, 0}, /* 20 digits */
    {"100000000000000000", 2, POSA_EOVERFLOW, 0},   /* 1e17 x 100 = 1e19 > 9.22e18 */
    /* A non-zero digit beyond the scale is refused, never rounded. */
    {"12.3456789", 6, POSA_ESCALE, 0},
    {"1.001", 2, POSA_ESCALE, 0},
    {"4.525", 2, POSA_ESCALE, 0},
    {"0.00001", 4, POSA_ESCALE, 0},
    {"1.0000001", 6, POSA_ESCALE, 0},
    /* Not a decimal in the accepted form. */
    {"1e3", 2, POSA_EINVAL_DECIMAL, 0},
    {"1E3", 2, POSA_EINVAL_DECIMAL, 0},
    {"-0", 2, POSA_EINVAL_DECIMAL, 0},
    {"-0.00", 2, POSA_EINVAL_DECIMAL, 0},
    {"-0.0", 6, POSA_EINVAL_DECIMAL, 0},
    {"", 2, POSA_EINVAL_DECIMAL, 0},
    {"-", 2, POSA_EINVAL_DECIMAL, 0},
    {"+1", 2, POSA_EINVAL_DECIMAL, 0},
    {"01", 2, POSA_EINVAL_DECIMAL, 0},
    {"00", 2, POSA_EINVAL_DECIMAL, 0},
    {"00.5", 2, POSA_EINVAL_DECIMAL, 0},
    {"-01", 2, POSA_EINVAL_DECIMAL, 0},
    {".5", 2, POSA_EINVAL_DECIMAL, 0},
    {"-.5", 2, POSA_EINVAL_DECIMAL, 0},
    {"5.", 2, POSA_EINVAL_DECIMAL, 0},
    {".", 2, POSA_EINVAL_DECIMAL, 0},
    {" 1", 2, POSA_EINVAL_DECIMAL, 0},
    {"1 ", 2, POSA_EINVAL_DECIMAL, 0},
    {"1\n", 2, POSA_EINVAL_DECIMAL, 0},
    {"\xd9\xa1\xd9\xa2", 2, POSA_EINVAL_DECIMAL, 0}, /* "١٢": Arabic-Indic 1 2 in UTF-8 */
    {"\xef\xbc\x91", 2, POSA_EINVAL_DECIMAL, 0},     /* "１": fullwidth digit one */
    {"0x10", 2, POSA_EINVAL_DECIMAL, 0},
    {"1.2.3", 2, POSA_EINVAL_DECIMAL, 0},
    {"1,5", 2, POSA_EINVAL_DECIMAL, 0},
    {"--1", 2, POSA_EINVAL_DECIMAL, 0},
    {"1-", 2, POSA_EINVAL_DECIMAL, 0},
    {"NaN", 2, POSA_EINVAL_DECIMAL, 0},
    {"inf", 2, POSA_EINVAL_DECIMAL, 0},
    {"1.-5", 2, POSA_EINVAL_DECIMAL, 0},
    /* Length: 32 characters (BOUND_DECIMAL_TEXT) is accepted, 33 is not. */
    {"0.000000000000000000000000000000", 2, 0, 0},            /* "0." + 30 zeros = 32 */
    {"0.0000000000000000000000000000000", 2, POSA_ETOOLONG, 0}, /* "0." + 31 zeros = 33 */
    {"111111111111111111111111111111111", 0, POSA_ETOOLONG, 0}, /* 33 ones */
};
/* clang-format on */

static void test_parse_table(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        const struct parse_case *c = &parse_cases[i];
        int64_t got = 0x5a5a5a5a;
        char what[96];

        snprintf(what, sizeof what, "dec_parse(\"%s\", scale %d)", c->text, c->scale);
        rc_eq(dec_parse(c->text, strlen(c->text), c->scale, &got), c->rc, what);
        eq64(got, c->rc == 0 ? c->value : 0x5a5a5a5a, what);
    }
    assert_int_equal(bad, 0);
}

/* A very long string of digits, far past the bound: POSA_ETOOLONG, read only up to len. */
static void test_parse_very_long(void **state)
{
    (void)state;
    char big[4096];
    int64_t got = 7;

    memset(big, '9', sizeof big);
    assert_int_equal(dec_parse(big, sizeof big, 2, &got), POSA_ETOOLONG);
    big[1] = '.';
    assert_int_equal(dec_parse(big, sizeof big, 2, &got), POSA_ETOOLONG);
    memset(big, '0', sizeof big);
    big[1] = '.';
    assert_int_equal(dec_parse(big, sizeof big, 2, &got), POSA_ETOOLONG);
    eq64(got, 7, "ret written on failure");
}

/* The text need not be NUL-terminated: only text[0..len) counts. */
static void test_parse_respects_len(void **state)
{
    (void)state;
    int64_t got = 0;

    assert_int_equal(dec_parse("12.34xyz", 5, 2, &got), 0);
    eq64(got, 1234, "\"12.34\" of \"12.34xyz\"");
    assert_int_equal(dec_parse("4.529", 4, 2, &got), 0);
    eq64(got, 452, "\"4.52\" of \"4.529\"");
    assert_int_equal(dec_parse("7", 0, 2, &got), POSA_EINVAL_DECIMAL);
}

static void test_money_parse(void **state)
{
    (void)state;
    int64_t fen = 0;

    assert_int_equal(money_parse("1234.57", 7, &fen), 0);
    eq64(fen, 123457, "money 1234.57");
    assert_int_equal(money_parse("-0.5", 4, &fen), 0);
    eq64(fen, -50, "money -0.5");
    assert_int_equal(money_parse("4.525", 5, &fen), POSA_ESCALE);
    assert_int_equal(money_parse("-0", 2, &fen), POSA_EINVAL_DECIMAL);
}

struct format_case {
    int64_t value;
    int scale;
    const char *text;
};

/* clang-format off */
static const struct format_case format_cases[] = {
    {0, 2, "0.00"},
    {1, 2, "0.01"},
    {-1, 2, "-0.01"},
    {10, 2, "0.10"},
    {-99, 2, "-0.99"},
    {100, 2, "1.00"},
    {123457, 2, "1234.57"},
    {-1230, 2, "-12.30"},
    {1234567800, 6, "1234.567800"},
    {100000, 6, "0.100000"},
    {-1, 6, "-0.000001"},
    {5, 4, "0.0005"},
    {-30000, 4, "-3.0000"},
    {1000000000000LL, 4, "100000000.0000"},
    {INT64_MAX, 2, "92233720368547758.07"},
    {-INT64_MAX, 2, "-92233720368547758.07"},
    {INT64_MAX, 6, "9223372036854.775807"},
    {-INT64_MAX, 6, "-9223372036854.775807"},
    {-INT64_MAX, 4, "-922337203685477.5807"},
};
/* clang-format on */

static void test_format_table(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
        const struct format_case *c = &format_cases[i];
        char buf[DEC_FORMAT_MAX];
        int64_t back = 0;
        int n = dec_format(c->value, c->scale, buf, sizeof buf);

        rc_eq(n, (int)strlen(c->text), c->text);
        if (n > 0 && strcmp(buf, c->text) != 0) {
            print_error("dec_format(%lld, %d) = \"%s\", want \"%s\"\n", (long long)c->value,
                        c->scale, buf, c->text);
            bad++;
        }
        /* and back: format then parse is the identity */
        rc_eq(dec_parse(c->text, strlen(c->text), c->scale, &back), 0, c->text);
        eq64(back, c->value, c->text);
    }
    assert_int_equal(bad, 0);
}

/* cap counts the NUL: "0.00" needs 5 bytes. */
static void test_format_cap(void **state)
{
    (void)state;
    char buf[DEC_FORMAT_MAX];

    assert_int_equal(dec_format(0, 2, buf, 4), POSA_ETOOLONG);
    assert_int_equal(dec_format(0, 2, buf, 5), 4);
    assert_string_equal(buf, "0.00");
    assert_int_equal(dec_format(-INT64_MAX, 2, buf, 21), POSA_ETOOLONG); /* 21 chars + NUL */
    assert_int_equal(dec_format(-INT64_MAX, 2, buf, 22), 21);
    /* INT64_MIN is outside the symmetric bounds */
    assert_int_equal(dec_format(INT64_MIN, 2, buf, sizeof buf), POSA_ERANGE);
    assert_int_equal(dec_format(INT64_MIN, 6, buf, sizeof buf), POSA_ERANGE);
    assert_int_equal(money_format(-1230, buf, sizeof buf), 6);
    assert_string_equal(buf, "-12.30");
}

/* Format/parse round trip over many values at every scale, negatives included. */
static void test_round_trip_many(void **state)
{
    (void)state;
    static const int scales[] = {DEC_MONEY, DEC_QTY, DEC_PRICE};
    uint64_t x = 0x9e3779b97f4a7c15ULL;

    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = (int64_t)(x >> (x & 63)); /* all magnitudes */
        if (v == INT64_MIN)
            v = 0;
        if (x & 1)
            v = -v;
        int scale = scales[i % 3];
        char buf[DEC_FORMAT_MAX];
        int64_t back = 0;
        int n = dec_format(v, scale, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal(dec_parse(buf, (size_t)n, scale, &back), 0);
        eq64(back, v, buf);
    }
}

struct mul_case {
    int64_t a, b;
    int shift;
    int rc;
    int64_t want;
};

/* clang-format off */
static const struct mul_case mul_cases[] = {
    /* price x qty to fen: scale 6 x scale 4 = scale 10, shift 8 */
    {4520000, 30000, 8, 0, 1356},      /* 4.52 x 3 = 13.56 */
    {5000, 10000, 8, 0, 1},            /* 0.005 x 1 = 0.005 -> 0.5 fen -> 1 (half up) */
    {5000, -10000, 8, 0, -1},          /* -0.5 fen -> -1 (away from zero) */
    {-5000, 10000, 8, 0, -1},
    {4999, 10000, 8, 0, 0},            /* 0.4999 fen -> 0 */
    {4999, -10000, 8, 0, 0},
    {15000, 10000, 8, 0, 2},           /* 1.5 fen -> 2 */
    {25000, 10000, 8, 0, 3},           /* 2.5 fen -> 3, not banker's 2 */
    {25000, -10000, 8, 0, -3},         /* -2.5 -> -3 */
    {3333333, 3333, 8, 0, 111},        /* 3.333333 x 0.3333 = 1.1109998889 -> 111 fen */
    /* fen x ratio at scale 6 */
    {920000, 700000, 6, 0, 644000},    /* 9200.00 x 0.70 = 6440.00 */
    {5, 100000, 6, 0, 1},              /* 0.05 x 0.10 = 0.005 -> 0.5 fen -> 1 */
    {-5, 100000, 6, 0, -1},
    {33, 50000, 6, 0, 2},              /* 33 x 0.05 = 1.65 -> 2 */
    {-33, 50000, 6, 0, -2},
    {3, 4, 0, 0, 12},
    /* the 128-bit product: results fit although a x b does not fit 64 bits */
    {INT64_MAX, 1000000, 6, 0, INT64_MAX},
    {-INT64_MAX, 1000000, 6, 0, -INT64_MAX},
    {INT64_MAX, 2, 1, 0, 1844674407370955161LL}, /* (2^63-1) x 2 / 10 = ...161.4 -> ...161 */
    {INT64_MAX, -1, 0, 0, -INT64_MAX},
    /* overflow, INT64_MIN included (-2^62 x 2 = -2^63) */
    {-4611686018427387904LL, 2, 0, POSA_EOVERFLOW, 0},
    {INT64_MIN, 1, 0, POSA_EOVERFLOW, 0},
    {INT64_MIN, 1000000, 6, POSA_EOVERFLOW, 0},
    {INT64_MAX, 2, 0, POSA_EOVERFLOW, 0},
    {INT64_MIN, -1, 0, POSA_EOVERFLOW, 0},
    {INT64_MAX, INT64_MAX, 6, POSA_EOVERFLOW, 0},
    {INT64_MAX, 1000001, 6, POSA_EOVERFLOW, 0},
};
/* clang-format on */

static void test_mul_round_table(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof mul_cases / sizeof mul_cases[0]; i++) {
        const struct mul_case *c = &mul_cases[i];
        int64_t got = 0x5a5a;
        char what[96];

        snprintf(what, sizeof what, "dec_mul_round(%lld, %lld, %d)", (long long)c->a,
                 (long long)c->b, c->shift);
        rc_eq(dec_mul_round(c->a, c->b, c->shift, &got), c->rc, what);
        eq64(got, c->rc == 0 ? c->want : 0x5a5a, what);
    }
    assert_int_equal(bad, 0);
}

struct mul3_case {
    int64_t a, b, c;
    int shift;
    int rc;
    int64_t want;
};

/* clang-format off */
static const struct mul3_case mul3_cases[] = {
    /* 9200.00 x 0.80 x 0.90 = 6624.00 (policy.md, Wuxi 2025) */
    {920000, 800000, 900000, 12, 0, 662400},
    /* one rounding: 6 fen x 0.80 x 0.90 = 4.32 -> 4. Rounding twice gives 5:
     * round(6 x 0.80 = 4.8) = 5, then round(5 x 0.90 = 4.5) = 5. */
    {6, 800000, 900000, 12, 0, 4},
    {-6, 800000, 900000, 12, 0, -4},
    /* 1 x 0.5 x 0.5 = 0.25 -> 0; twice: round(0.5) = 1, round(1 x 0.5) = 1 */
    {1, 500000, 500000, 12, 0, 0},
    /* exact halves, both signs: 1 x 0.5 x 1 = 0.5 -> 1; -0.5 -> -1 */
    {1, 500000, 1000000, 12, 0, 1},
    {-1, 500000, 1000000, 12, 0, -1},
    {1, -500000, 1000000, 12, 0, -1},
    /* 3 x 0.5 x 1 = 1.5 -> 2; 5 x 0.5 = 2.5 -> 3 */
    {3, 500000, 1000000, 12, 0, 2},
    {5, 500000, 1000000, 12, 0, 3},
    {-5, 500000, 1000000, 12, 0, -3},
    /* large but representable: INT64_MAX x 1 x 1 at scale 12 */
    {INT64_MAX, 1000000, 1000000, 12, 0, INT64_MAX},
    {-INT64_MAX, 1000000, 1000000, 12, 0, -INT64_MAX},
    {INT64_MIN, 1000000, 1000000, 12, POSA_EOVERFLOW, 0},
    /* overflow, including products beyond 128 bits (2^189 / 10^12 ~ 2^149) */
    {INT64_MAX, 2, 1, 0, POSA_EOVERFLOW, 0},
    {INT64_MAX, INT64_MAX, INT64_MAX, 12, POSA_EOVERFLOW, 0},
    {INT64_MIN, INT64_MIN, INT64_MIN, 12, POSA_EOVERFLOW, 0},
    {INT64_MAX, INT64_MAX, 2, 12, POSA_EOVERFLOW, 0},
};
/* clang-format on */

static void test_mul3_round_table(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof mul3_cases / sizeof mul3_cases[0]; i++) {
        const struct mul3_case *c = &mul3_cases[i];
        int64_t got = 0x5a5a;
        char what[128];

        snprintf(what, sizeof what, "dec_mul3_round(%lld, %lld, %lld, %d)", (long long)c->a,
                 (long long)c->b, (long long)c->c, c->shift);
        rc_eq(dec_mul3_round(c->a, c->b, c->c, c->shift, &got), c->rc, what);
        eq64(got, c->rc == 0 ? c->want : 0x5a5a, what);
    }
    assert_int_equal(bad, 0);
}

/* The case above, done in two steps, really does differ: the reason for dec_mul3_round. */
static void test_mul3_differs_from_two_roundings(void **state)
{
    (void)state;
    int64_t step = 0, twice = 0, once = 0;

    assert_int_equal(dec_mul_round(6, 800000, 6, &step), 0);
    eq64(step, 5, "round(6 x 0.80)");
    assert_int_equal(dec_mul_round(step, 900000, 6, &twice), 0);
    eq64(twice, 5, "round(5 x 0.90)");
    assert_int_equal(dec_mul3_round(6, 800000, 900000, 12, &once), 0);
    eq64(once, 4, "round(6 x 0.80 x 0.90)");
}

static void test_add_sub(void **state)
{
    (void)state;
    int64_t r = 42;

    assert_int_equal(dec_add(5, -7, &r), 0);
    eq64(r, -2, "5 + -7");
    assert_int_equal(dec_sub(5, 7, &r), 0);
    eq64(r, -2, "5 - 7");
    assert_int_equal(dec_add(INT64_MAX - 1, 1, &r), 0);
    eq64(r, INT64_MAX, "MAX-1 + 1");
    assert_int_equal(dec_sub(-INT64_MAX + 1, 1, &r), 0);
    eq64(r, -INT64_MAX, "-MAX+1 - 1");
    r = 42;
    assert_int_equal(dec_sub(-INT64_MAX, 1, &r), POSA_EOVERFLOW); /* would be INT64_MIN */
    assert_int_equal(dec_add(-INT64_MAX, -1, &r), POSA_EOVERFLOW);
    assert_int_equal(dec_add(INT64_MAX, 1, &r), POSA_EOVERFLOW);
    assert_int_equal(dec_add(INT64_MIN, -1, &r), POSA_EOVERFLOW);
    assert_int_equal(dec_sub(INT64_MIN, 1, &r), POSA_EOVERFLOW);
    assert_int_equal(dec_sub(0, INT64_MIN, &r), POSA_EOVERFLOW);
    assert_int_equal(dec_sub(INT64_MAX, -1, &r), POSA_EOVERFLOW);
    eq64(r, 42, "ret written on failure");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_table, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_parse_very_long, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_parse_respects_len, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_money_parse, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_format_table, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_format_cap, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_round_trip_many, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_mul_round_table, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_mul3_round_table, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_mul3_differs_from_two_roundings, bad_reset, bad_none),
        cmocka_unit_test_setup_teardown(test_add_sub, bad_reset, bad_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
