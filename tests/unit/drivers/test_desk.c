/* Unit tests of drivers/desk.c: binding rows, validation and first-match order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "drivers/desk.h"
#include "core/err.h"

static void test_bind(void **state)
{
    static struct desk_table t;

    (void)state;
    assert_int_equal(desk_table_add(&t, DESK_READER, "Virtual PCD 00 00", "D01"), 0);
    assert_int_equal(desk_table_add(&t, DESK_READER, "*CCID*00 00", "D02"), 0);
    assert_int_equal(desk_table_add(&t, DESK_READER, "*", "D09"), 0);
    assert_int_equal(desk_table_add(&t, DESK_SCANNER, "/dev/ttyACM0", "D01"), 0);
    assert_string_equal(desk_table_find(&t, DESK_READER, "Virtual PCD 00 00"), "D01");
    assert_string_equal(desk_table_find(&t, DESK_READER, "ACS ACR39U ICC Reader [CCID] 00 00"),
                        "D02");
    assert_string_equal(desk_table_find(&t, DESK_READER, "Virtual PCD 00 01"), "D09");
    assert_string_equal(desk_table_find(&t, DESK_SCANNER, "/dev/ttyACM0"), "D01");
    assert_null(desk_table_find(&t, DESK_SCANNER, "/dev/ttyACM1"));
}

/* Patterns of two desks that match one reader: the other desk is named (the first wins);
 * a desk's own second pattern, or one reader matched once, names none. */
static void test_overlapping_patterns(void **state)
{
    (void)state;
    struct desk_table t = {0};

    assert_int_equal(desk_table_add(&t, DESK_READER, "Virtual PCD 00*", "D01"), 0);
    assert_int_equal(desk_table_add(&t, DESK_READER, "Virtual PCD 00 01*", "D02"), 0);
    assert_int_equal(desk_table_add(&t, DESK_READER, "ACS*", "D03"), 0);
    assert_int_equal(desk_table_add(&t, DESK_READER, "ACS ACR39U*", "D03"), 0);
    assert_int_equal(desk_table_add(&t, DESK_SCANNER, "Virtual PCD 00 01 0", "D04"), 0);
    assert_string_equal(desk_table_find(&t, DESK_READER, "Virtual PCD 00 01 0"), "D01");
    assert_string_equal(desk_table_other(&t, DESK_READER, "Virtual PCD 00 01 0"), "D02");
    assert_null(desk_table_other(&t, DESK_READER, "Virtual PCD 00 00 0"));
    assert_null(desk_table_other(&t, DESK_READER, "ACS ACR39U ICC Reader 00"));
    assert_null(desk_table_other(&t, DESK_READER, "Other Reader"));
}

static void test_invalid_rows(void **state)
{
    static struct desk_table t;
    char longp[DESK_PATTERN_MAX + 2];

    (void)state;
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(desk_table_add(&t, DESK_READER, "", "D01"), DRV_ECONFIG);
    assert_int_equal(desk_table_add(&t, DESK_READER, longp, "D01"), DRV_ECONFIG);
    assert_int_equal(desk_table_add(&t, DESK_READER, "x", ""), DRV_ECONFIG);
    assert_int_equal(desk_table_add(&t, DESK_READER, "x", "D 01"), DRV_ECONFIG);
    assert_int_equal(desk_table_add(&t, DESK_READER, "x", "D01;rm"), DRV_ECONFIG);
    assert_int_equal(t.n, 0);
    for (int i = 0; i < DESK_ROWS_MAX; i++)
        assert_int_equal(desk_table_add(&t, DESK_SCANNER, "x", "D01"), 0);
    assert_int_equal(desk_table_add(&t, DESK_SCANNER, "x", "D01"), POSA_ETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_invalid_rows),
        cmocka_unit_test(test_overlapping_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
