/* Unit tests of core/msgid.h: national message ids, their sequence within a second, the
 * clock going back, seeding after a restart, and the shape check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "core/msgid.h"

/* Ids are written as CODE "time" "sequence": keep them on one line. */
/* clang-format off */
#define CODE "H32020000001"          /* 12 characters */
#define T0 20250105103000LL          /* 2025-01-05 10:30:00 */

static void next_ok(struct msgid_gen *g, int64_t now, const char *want)
{
    char id[MSGID_LEN + 1];
    assert_int_equal(msgid_next(g, now, id), 0);
    assert_int_equal(strlen(id), MSGID_LEN);
    assert_string_equal(id, want);
    assert_true(msgid_is_valid(id, MSGID_LEN, CODE));
}

static void test_format_and_sequence(void **state)
{
    (void)state;
    struct msgid_gen g;

    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, NULL), 0);
    /* code (12) + yyyyMMddHHmmss (14) + sequence (4) = 30 */
    next_ok(&g, T0, CODE "20250105103000" "0000");
    next_ok(&g, T0, CODE "20250105103000" "0001");
    next_ok(&g, T0, CODE "20250105103000" "0002");
    /* the next second starts again at 0000 */
    next_ok(&g, T0 + 1, CODE "20250105103001" "0000");
    /* a later minute */
    next_ok(&g, 20250105103100LL, CODE "20250105103100" "0000");
    /* "now" that is no time (second 99) is refused and changes nothing */
    char id[MSGID_LEN + 1];
    assert_true(msgid_next(&g, 20250105103199LL, id) < 0);
    next_ok(&g, 20250105103100LL, CODE "20250105103100" "0001");
}

/* 10,000 ids in one second, each larger than the last; the 10,001st borrows the next second,
 * which the clock then continues (a minute's rollover too), and a clock set back as well. */
static void test_ten_thousand_per_second(void **state)
{
    (void)state;
    struct msgid_gen g;
    char prev[MSGID_LEN + 1] = "";
    char id[MSGID_LEN + 1];

    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, NULL), 0);
    for (int i = 0; i <= MSGID_SEQ_MAX; i++) {
        assert_int_equal(msgid_next(&g, T0, id), 0);
        assert_true(strcmp(id, prev) > 0);
        memcpy(prev, id, sizeof id);
    }
    assert_string_equal(prev, CODE "20250105103000" "9999");
    next_ok(&g, T0, CODE "20250105103001" "0000");
    next_ok(&g, 20250105102959LL, CODE "20250105103001" "0001");
    next_ok(&g, T0 + 1, CODE "20250105103001" "0002");
    next_ok(&g, T0 + 2, CODE "20250105103002" "0000");

    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, CODE "20251231235959" "9999"), 0);
    next_ok(&g, 20251231235959LL, CODE "20260101000000" "0000");
}

/* A clock set back hours (a zone corrected, a step of NTP) with a terminal's 1,000 ids a
 * second: every id is issued, none waits, all ascend, through the seconds they borrow. */
static void test_clock_set_back_hours(void **state)
{
    (void)state;
    struct msgid_gen g;
    char prev[MSGID_LEN + 1] = "", id[MSGID_LEN + 1];

    assert_int_equal(msgid_gen_init(&g, CODE, 7, CODE "20261127225300" "7999"), 0);
    for (int i = 0; i < 2500; i++) {
        assert_int_equal(msgid_next(&g, 20261127145300LL, id), 0); /* eight hours back */
        assert_true(strcmp(id, prev) > 0);
        memcpy(prev, id, sizeof id);
    }
    assert_string_equal(prev, CODE "20261127225303" "7499");
}

/* A clock set back keeps using the last second: ids stay increasing. */
static void test_clock_going_back(void **state)
{
    (void)state;
    struct msgid_gen g;

    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, NULL), 0);
    next_ok(&g, T0, CODE "20250105103000" "0000");
    next_ok(&g, 20250105102959LL, CODE "20250105103000" "0001"); /* 10:29:59 */
    next_ok(&g, 20250104235959LL, CODE "20250105103000" "0002"); /* the day before */
    next_ok(&g, T0, CODE "20250105103000" "0003");
    next_ok(&g, T0 + 2, CODE "20250105103002" "0000");
}

/* After a restart, seeded with the last id issued, the next is larger. */
static void test_seeded_from_last_issued(void **state)
{
    (void)state;
    struct msgid_gen g;

    /* same second: the sequence continues */
    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, CODE "20250105103000" "0042"), 0);
    next_ok(&g, T0, CODE "20250105103000" "0043");

    /* the clock is behind the last id (e.g. reset on restart): still larger */
    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, CODE "20250105103000" "0042"), 0);
    next_ok(&g, 20250105102000LL, CODE "20250105103000" "0043");

    /* a later second: 0000 of that second */
    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, CODE "20250105103000" "0042"), 0);
    next_ok(&g, T0 + 5, CODE "20250105103005" "0000");

    /* the last id used the second up: the next one's */
    assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, CODE "20250105103000" "9999"), 0);
    next_ok(&g, T0, CODE "20250105103001" "0000");
}

static void test_init_refuses(void **state)
{
    (void)state;
    struct msgid_gen g;
    static const char *const bad_codes[] = {"H3202000000", "H320200000011", "H3202000000!",
                                            "H32020 00001", "", "H32020000-01"};
    static const char *const bad_last[] = {
        CODE "20250105103000" "004",    /* 29 chars */
        CODE "20250105103000" "00420",  /* 31 */
        CODE "20251305103000" "0042",   /* month 13 */
        CODE "2025010510300a" "0042",
        CODE "20250105103000" "00x2",
        "",
    };

    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++)
        assert_int_equal(msgid_gen_init(&g, bad_codes[i], MSGID_NO_TERMINAL, NULL), POSA_EFIELD);
    for (size_t i = 0; i < sizeof bad_last / sizeof bad_last[0]; i++)
        assert_int_equal(msgid_gen_init(&g, CODE, MSGID_NO_TERMINAL, bad_last[i]), POSA_EFIELD);
    assert_int_equal(msgid_gen_init(&g, "abcXYZ012345", MSGID_NO_TERMINAL, NULL), 0); /* letters of any case */
}

struct valid_case {
    const char *id;
    const char *expect_code;
    bool valid;
};

static const struct valid_case valid_cases[] = {
    {CODE "20250105103000" "0000", NULL, true},
    {CODE "20250105103000" "9999", CODE, true},
    {CODE "20240229235959" "0001", NULL, true},  /* leap day */
    {CODE "20250105103000" "0000", "H32020000002", false}, /* another hospital */
    {CODE "20250105103000" "000", NULL, false},   /* 29 chars */
    {CODE "20250105103000" "00000", NULL, false}, /* 31 chars */
    {CODE "20250230103000" "0000", NULL, false},  /* 30 February */
    {CODE "20230229103000" "0000", NULL, false},  /* not a leap year */
    {CODE "20251301103000" "0000", NULL, false},  /* month 13 */
    {CODE "20250105243000" "0000", NULL, false},  /* hour 24 */
    {CODE "20250105106000" "0000", NULL, false},  /* minute 60 */
    {CODE "20250105103060" "0000", NULL, false},  /* second 60 */
    {CODE "20250105103000" "00a1", NULL, false},
    {CODE "20250105103000" "-001", NULL, false},
    {"H3202000000-" "20250105103000" "0000", NULL, false},
    {"H32020 00001" "20250105103000" "0000", NULL, false},
    {"", NULL, false},
};

static void test_is_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
        const struct valid_case *c = &valid_cases[i];
        if (msgid_is_valid(c->id, strlen(c->id), c->expect_code) != c->valid) {
            print_error("msgid_is_valid(\"%s\"): want %d\n", c->id, c->valid);
            fail();
        }
    }
    /* len is what counts, not a NUL */
    assert_true(msgid_is_valid(CODE "20250105103000" "0000xyz", MSGID_LEN, NULL));
    assert_false(msgid_is_valid(CODE "20250105103000" "0000", MSGID_LEN - 1, NULL));
}
/* clang-format on */

/* Two posads of one institution, terminals 3 and 4, sending in the same seconds: 1,000 ids
 * a second each, none the same; a terminal's 1,001st takes the next second. An id
 * issued before the terminal was set (the journal's last) is not counted against it. */
static void test_terminals_never_meet(void **state)
{
    struct msgid_gen a, b;
    char ida[MSGID_LEN + 1], idb[MSGID_LEN + 1];
    const int64_t t = 20261127090000;

    (void)state;
    assert_int_equal(msgid_gen_init(&a, CODE, 3, NULL), 0);
    assert_int_equal(msgid_gen_init(&b, CODE, 4,
                                    CODE "20261127090000"
                                         "0007"),
                     0);
    for (int i = 0; i < 1000; i++) {
        char want[5];

        assert_int_equal(msgid_next(&a, t, ida), 0);
        assert_int_equal(msgid_next(&b, t, idb), 0);
        snprintf(want, sizeof want, "3%03d", i);
        assert_string_equal(ida + MSGID_CODE_LEN + 14, want);
        want[0] = '4';
        assert_string_equal(idb + MSGID_CODE_LEN + 14, want);
    }
    assert_int_equal(msgid_next(&a, t, ida), 0);
    assert_string_equal(ida, CODE "20261127090001"
                                  "3000");
    assert_int_equal(msgid_gen_init(&a, CODE, 10, NULL), POSA_EFIELD);
    assert_int_equal(msgid_gen_init(&a, CODE, -2, NULL), POSA_EFIELD);
}

static void test_other_terminal(void **state)
{
    struct msgid_gen three, alone;

    (void)state;
    assert_int_equal(msgid_gen_init(&three, CODE, 3, NULL), 0);
    assert_int_equal(msgid_gen_init(&alone, CODE, MSGID_NO_TERMINAL, NULL), 0);
    assert_true(msgid_of_other_terminal(&three, CODE "20261127090000"
                                                     "4000"));
    assert_false(msgid_of_other_terminal(&three, CODE "20261127090000"
                                                      "3999"));
    /* another institution's, a malformed one, none: not another posad's of this one */
    assert_false(msgid_of_other_terminal(&three, "H99999999999"
                                                 "20261127090000"
                                                 "4000"));
    assert_false(msgid_of_other_terminal(&three, CODE "2026112709000"
                                                      "4000"));
    assert_false(msgid_of_other_terminal(&three, NULL));
    /* a hospital's only posad: every id of its code is its own */
    assert_false(msgid_of_other_terminal(&alone, CODE "20261127090000"
                                                      "4000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_sequence),  cmocka_unit_test(test_ten_thousand_per_second),
        cmocka_unit_test(test_clock_going_back),     cmocka_unit_test(test_seeded_from_last_issued),
        cmocka_unit_test(test_init_refuses),         cmocka_unit_test(test_is_valid),
        cmocka_unit_test(test_terminals_never_meet), cmocka_unit_test(test_clock_set_back_hours),
        cmocka_unit_test(test_other_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
