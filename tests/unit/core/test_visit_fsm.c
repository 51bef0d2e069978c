/* Unit tests of core/visit_fsm: every allowed transition, and every other pair refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/visit_fsm.h"

struct transition {
    enum visit_state from;
    enum visit_event ev;
    enum visit_state to;
};

/* The diagram of visit_fsm.h, written out by hand. */
static const struct transition allowed[] = {
    {VISIT_OPEN, VISIT_EV_FEES, VISIT_BILLED},
    {VISIT_OPEN, VISIT_EV_CANCEL, VISIT_CLOSED},
    {VISIT_BILLED, VISIT_EV_FEES, VISIT_BILLED},
    {VISIT_BILLED, VISIT_EV_FEES_CLEARED, VISIT_OPEN},
    {VISIT_BILLED, VISIT_EV_SETTLE, VISIT_SETTLING},
    {VISIT_BILLED, VISIT_EV_CANCEL, VISIT_CLOSED},
    {VISIT_SETTLING, VISIT_EV_SETTLE_OK, VISIT_SETTLED},
    {VISIT_SETTLING, VISIT_EV_SETTLE_FAILED, VISIT_BILLED},
    {VISIT_SETTLED, VISIT_EV_SETTLEMENT_CANCELLED, VISIT_BILLED},
};

static const struct transition *find(enum visit_state s, enum visit_event ev)
{
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (allowed[i].from == s && allowed[i].ev == ev)
            return &allowed[i];
    return NULL;
}

static void test_every_pair(void **state)
{
    (void)state;
    for (int s = 0; s < VISIT__MAX; s++) {
        for (int ev = 0; ev < VISIT_EV__MAX; ev++) {
            const struct transition *t = find((enum visit_state)s, (enum visit_event)ev);
            enum visit_state got = VISIT__MAX;
            int rc = visit_next((enum visit_state)s, (enum visit_event)ev, &got);

            if (t) {
                assert_int_equal(rc, 0);
                assert_int_equal(got, t->to);
            } else {
                assert_int_equal(rc, POSA_ESTATE);
                assert_int_equal(got, VISIT__MAX); /* untouched on failure */
            }
        }
    }
}

static void test_no_second_settlement_while_settling(void **state)
{
    enum visit_state s;

    (void)state;
    assert_int_equal(visit_next(VISIT_SETTLING, VISIT_EV_SETTLE, &s), POSA_ESTATE);
    assert_int_equal(visit_next(VISIT_SETTLING, VISIT_EV_FEES, &s), POSA_ESTATE);
    assert_int_equal(visit_next(VISIT_SETTLED, VISIT_EV_SETTLE, &s), POSA_ESTATE);
    assert_int_equal(visit_next(VISIT_CLOSED, VISIT_EV_FEES, &s), POSA_ESTATE);
}

static void test_out_of_range(void **state)
{
    enum visit_state s;

    (void)state;
    assert_int_equal(visit_next(VISIT__MAX, VISIT_EV_FEES, &s), POSA_ESTATE);
    assert_int_equal(visit_next(VISIT_OPEN, VISIT_EV__MAX, &s), POSA_ESTATE);
    assert_int_equal(visit_next((enum visit_state)-1, VISIT_EV_FEES, &s), POSA_ESTATE);
}

static void test_names_round_trip(void **state)
{
    enum visit_state s;

    (void)state;
    for (int i = 0; i < VISIT__MAX; i++) {
        assert_int_equal(visit_state_parse(visit_state_name((enum visit_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(visit_state_name(VISIT_SETTLING), "settling");
    assert_string_equal(visit_state_name(VISIT__MAX), "invalid");
    assert_int_equal(visit_state_parse("paid", &s), POSA_EFIELD);
    assert_int_equal(visit_state_parse(NULL, &s), POSA_EFIELD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_no_second_settlement_while_settling),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_names_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
