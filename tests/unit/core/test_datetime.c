/* Unit tests of core/datetime.h: calendar-checked parse, format, day arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/datetime.h"
#include "core/err.h"

static int bad; /* failing cases of the current table; each is printed */

static void eq64(int64_t got, int64_t want, const char *what)
{
    if (got != want) {
        print_error("%s: got %lld, want %lld\n", what, (long long)got, (long long)want);
        bad++;
    }
}

struct date_case {
    const char *text;
    int rc;
    int32_t want;
};

/* clang-format off */
static const struct date_case date_cases[] = {
    {"2024-02-29", 0, 20240229},   /* 2024 is divisible by 4: leap */
    {"2000-02-29", 0, 20000229},   /* divisible by 400: leap */
    {"2024-12-31", 0, 20241231},
    {"2025-01-01", 0, 20250101},
    {"1970-01-01", 0, 19700101},
    {"2023-02-29", POSA_EDATE, 0}, /* 2023 is not a leap year */
    {"2100-02-29", POSA_EDATE, 0}, /* divisible by 100, not 400: not leap */
    {"2024-02-30", POSA_EDATE, 0},
    {"2024-04-31", POSA_EDATE, 0}, /* April has 30 days */
    {"2024-13-01", POSA_EDATE, 0},
    {"2024-00-10", POSA_EDATE, 0},
    {"2024-01-00", POSA_EDATE, 0},
    {"2024-01-32", POSA_EDATE, 0},
    {"2024-4-01", POSA_EDATE, 0},
    {"2024/04/01", POSA_EDATE, 0},
    {"20240401", POSA_EDATE, 0},
    {"2024-04-01 ", POSA_EDATE, 0},
    {" 2024-04-01", POSA_EDATE, 0},
    {"2024-04-0a", POSA_EDATE, 0},
    {"-024-04-01", POSA_EDATE, 0},
    {"", POSA_EDATE, 0},
    {"2024-04-01 00:00:00", POSA_EDATE, 0}, /* a time is not a date */
};
/* clang-format on */

static void test_date_parse_table(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof date_cases / sizeof date_cases[0]; i++) {
        const struct date_case *c = &date_cases[i];
        int32_t got = 77;
        int rc = date_parse(c->text, strlen(c->text), &got);

        eq64(rc, c->rc, c->text);
        eq64(got, c->rc == 0 ? c->want : 77, c->text);
    }
    assert_int_equal(bad, 0);
}

static void test_date_parse_respects_len(void **state)
{
    (void)state;
    int32_t got = 0;

    assert_int_equal(date_parse("2024-01-15xx", 10, &got), 0);
    assert_int_equal(got, 20240115);
    assert_int_equal(date_parse("2024-01-15", 9, &got), POSA_EDATE);
}

struct time_case {
    const char *text;
    int rc;
    int64_t want;
};

/* clang-format off */
static const struct time_case time_cases[] = {
    {"2024-02-29 23:59:59", 0, 20240229235959LL},
    {"2025-01-05 10:30:00", 0, 20250105103000LL},
    {"2025-01-05 00:00:00", 0, 20250105000000LL},
    {"2024-02-29 24:00:00", POSA_EDATE, 0},
    {"2024-02-29 12:60:00", POSA_EDATE, 0},
    {"2024-02-29 12:00:60", POSA_EDATE, 0},
    {"2023-02-29 12:00:00", POSA_EDATE, 0},
    {"2024-02-29T12:00:00", POSA_EDATE, 0},
    {"2024-02-29 12:00", POSA_EDATE, 0},
    {"2024-02-29 12:00:00 ", POSA_EDATE, 0},
    {"2024-02-29 1:00:00", POSA_EDATE, 0},
    {"2024-02-29", POSA_EDATE, 0},
    {"", POSA_EDATE, 0},
};
/* clang-format on */

static void test_datetime_parse_table(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof time_cases / sizeof time_cases[0]; i++) {
        const struct time_case *c = &time_cases[i];
        int64_t got = 77;
        int rc = datetime_parse(c->text, strlen(c->text), &got);

        eq64(rc, c->rc, c->text);
        eq64(got, c->rc == 0 ? c->want : 77, c->text);
    }
    assert_int_equal(bad, 0);
}

static void test_format(void **state)
{
    (void)state;
    char d[DATETIME_DATE_LEN + 1];
    char t[DATETIME_TIME_LEN + 1];

    date_format(20240229, d);
    assert_string_equal(d, "2024-02-29");
    date_format(19700101, d);
    assert_string_equal(d, "1970-01-01");
    datetime_format(20250105103000LL, t);
    assert_string_equal(t, "2025-01-05 10:30:00");
    datetime_format(20241231235959LL, t);
    assert_string_equal(t, "2024-12-31 23:59:59");
}

/* Beijing time of Unix times, checked against date(1) (TZ=Asia/Shanghai): the epoch is 08:00
 * there, a UTC afternoon is the next day, and a second before Beijing's New Year. */
static void test_of_unix(void **state)
{
    (void)state;
    assert_int_equal(datetime_of_unix(0), 19700101080000LL);
    assert_int_equal(datetime_of_unix(-1), 19700101075959LL);
    assert_int_equal(datetime_of_unix(1700000000), 20231115061320LL); /* 22:13:20 UTC */
    assert_int_equal(datetime_of_unix(1709251200 - 8 * 3600), 20240301000000LL);
    assert_int_equal(datetime_of_unix(1709251200 - 8 * 3600 - 1), 20240229235959LL);
    assert_int_equal(datetime_of_unix(1798732800), 20270101000000LL);
    assert_int_equal(datetime_of_unix(1798732799), 20261231235959LL);
    /* A time from a file may be any int64: clamped to the years a datetime holds. */
    assert_int_equal(datetime_of_unix(DATETIME_UNIX_MAX), 99991231235959LL);
    assert_int_equal(datetime_of_unix(INT64_MAX), 99991231235959LL);
    assert_int_equal(datetime_of_unix(INT64_MAX / 1000), 99991231235959LL);
    assert_int_equal(datetime_of_unix(DATETIME_UNIX_MIN), 101000000LL); /* 0000-01-01 */
    assert_int_equal(datetime_of_unix(INT64_MIN), 101000000LL);

    assert_int_equal(datetime_to_unix(19700101080000LL), 0);
    assert_int_equal(datetime_to_unix(20231115061320LL), 1700000000);
    assert_int_equal(datetime_to_unix(20270101000000LL), 1798732800);

    assert_int_equal(datetime_add_seconds(20261231235959LL, 1), 20270101000000LL);
    assert_int_equal(datetime_add_seconds(20240228235959LL, 1), 20240229000000LL);
    assert_int_equal(datetime_add_seconds(20250228235959LL, 1), 20250301000000LL);
    assert_int_equal(datetime_add_seconds(20250301000000LL, -1), 20250228235959LL);
    assert_int_equal(datetime_add_seconds(20250105103000LL, 600), 20250105104000LL);
}

/* A day or a month, as reconcile takes them: hand-checked calendars (2024 leap, 2026 not). */
static void test_date_period(void **state)
{
    static const struct {
        const char *text;
        int rc;
        int32_t period, first, last;
    } cases[] = {
        {"2026-11-25", 0, 20261125, 20261125, 20261125},
        {"2026-11", 0, 20261100, 20261101, 20261130},
        {"2026-12", 0, 20261200, 20261201, 20261231},
        {"2026-02", 0, 20260200, 20260201, 20260228},
        {"2024-02", 0, 20240200, 20240201, 20240229},
        {"2026-13", POSA_EDATE, 0, 0, 0},
        {"2026-00", POSA_EDATE, 0, 0, 0},
        {"2026/11", POSA_EDATE, 0, 0, 0},
        {"2026-1", POSA_EDATE, 0, 0, 0},
        {"26-11-1", POSA_EDATE, 0, 0, 0},
        {"2026-11-31", POSA_EDATE, 0, 0, 0},
    };
    char buf[DATETIME_DATE_LEN + 1];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t p = 0;

        assert_int_equal(date_period_parse(cases[i].text, strlen(cases[i].text), &p), cases[i].rc);
        if (cases[i].rc)
            continue;
        assert_int_equal(p, cases[i].period);
        assert_int_equal(date_period_first(p), cases[i].first);
        assert_int_equal(date_period_last(p), cases[i].last);
        date_period_format(p, buf);
        assert_string_equal(buf, cases[i].text);
    }
}

static void test_date_is_valid(void **state)
{
    (void)state;
    assert_true(date_is_valid(20240229));
    assert_true(date_is_valid(20000229));
    assert_true(date_is_valid(20241231));
    assert_false(date_is_valid(20230229));
    assert_false(date_is_valid(21000229));
    assert_false(date_is_valid(20241301));
    assert_false(date_is_valid(20240100));
    assert_false(date_is_valid(20240431));
    assert_false(date_is_valid(0));
    assert_false(date_is_valid(-20240101));
    assert_int_equal(datetime_date(20240229235959LL), 20240229);
    assert_int_equal(datetime_date(20250105000000LL), 20250105);
}

struct add_case {
    int32_t date;
    int32_t days;
    int32_t want;
};

/* clang-format off */
static const struct add_case add_cases[] = {
    {20240228, 1, 20240229},   /* leap day */
    {20240228, 2, 20240301},
    {20230228, 1, 20230301},   /* no leap day in 2023 */
    {20231231, 1, 20240101},   /* new year */
    {20240101, -1, 20231231},
    {20240301, -1, 20240229},
    {20230301, -1, 20230228},
    {20240101, 365, 20241231}, /* 2024 has 366 days: Jan 1 + 365 = Dec 31 */
    {20240101, 366, 20250101},
    {20250110, 14, 20250124},  /* a 15-day commitment window: the 10th to the 24th */
    {20250120, 15, 20250204},  /* 20 + 15 = 35 = 31 + 4 */
    {20250105, 0, 20250105},
    {20250701, 183, 20251231}, /* Jul-Dec: 31+31+30+31+30+31 = 184 days, so +183 is Dec 31 */
};
/* clang-format on */

static void test_date_add_days(void **state)
{
    (void)state;
    bad = 0;
    for (size_t i = 0; i < sizeof add_cases / sizeof add_cases[0]; i++) {
        const struct add_case *c = &add_cases[i];
        char what[64];

        snprintf(what, sizeof what, "date_add_days(%d, %d)", (int)c->date, (int)c->days);
        eq64(date_add_days(c->date, c->days), c->want, what);
        /* and the difference back */
        snprintf(what, sizeof what, "date_days_between(%d, %d)", (int)c->date, (int)c->want);
        eq64(date_days_between(c->date, c->want), c->days, what);
    }
    assert_int_equal(bad, 0);
}

static void test_days_between(void **state)
{
    (void)state;
    /* 1970..1999: 30 x 365 + 7 leap days (72 76 80 84 88 92 96) = 10957 */
    assert_int_equal(date_days_between(19700101, 20000101), 10957);
    /* 2000..2099: 100 x 365 + 25 leap years (2000, 2004, ..., 2096) = 36525 */
    assert_int_equal(date_days_between(20000101, 21000101), 36525);
    assert_int_equal(date_days_between(20240101, 20250101), 366);
    assert_int_equal(date_days_between(20230101, 20240101), 365);
    assert_int_equal(date_days_between(20240301, 20240228), -2); /* 28 -> 29 -> 1 */
    assert_int_equal(date_days_between(20250105, 20250105), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_parse_table),
        cmocka_unit_test(test_date_parse_respects_len),
        cmocka_unit_test(test_datetime_parse_table),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_of_unix),
        cmocka_unit_test(test_date_is_valid),
        cmocka_unit_test(test_date_add_days),
        cmocka_unit_test(test_days_between),
        cmocka_unit_test(test_date_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
