/* Unit tests of core/msg_fsm.h: the journal's full transition table, message kinds by
 * infno, and the retry backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "core/msg_fsm.h"

/* clang-format off */
/* Every allowed transition (msg_fsm.h and architecture.md, "Durability and exactly-once").
 * Entries are next state + 1; 0 = refused. RESTART is handled apart (see below). */
static const int allowed[MSG__MAX][MSG_EV__MAX] = {
    [MSG_QUEUED] = {[MSG_EV_SEND] = MSG_SENT + 1, [MSG_EV_ABANDON] = MSG_REFUSED + 1},
    [MSG_SENT] = {[MSG_EV_ANSWER_OK] = MSG_DONE + 1,
                  [MSG_EV_ANSWER_REFUSED] = MSG_REFUSED + 1,
                  [MSG_EV_LOST_BEFORE] = MSG_QUEUED + 1,
                  [MSG_EV_LOST_AFTER] = MSG_UNKNOWN + 1,
                  [MSG_EV_RESTART] = MSG_UNKNOWN + 1}, /* a crash left it sent */
    [MSG_UNKNOWN] = {[MSG_EV_QUERY_FOUND] = MSG_DONE + 1,
                     [MSG_EV_QUERY_ABSENT] = MSG_REVERSED + 1},
    [MSG_DONE] = {[MSG_EV_UNDONE] = MSG_REVERSED + 1}, /* the HIS's 2601 of it carried out */
    [MSG_REVERSED] = {[MSG_EV_REVERSAL_REFUSED] = MSG_UNKNOWN + 1},
};
/* clang-format on */

static void test_transition_table(void **state)
{
    (void)state;
    int bad = 0;

    for (int s = 0; s < MSG__MAX; s++) {
        for (int e = 0; e < MSG_EV__MAX; e++) {
            enum msg_state got = (enum msg_state)77;
            int rc = msg_next((enum msg_state)s, (enum msg_event)e, &got);
            int want = allowed[s][e];

            if (want) {
                if (rc != 0 || (int)got != want - 1) {
                    print_error("%s + ev %d: rc %d state %d, want %s\n",
                                msg_state_name((enum msg_state)s), e, rc, (int)got,
                                msg_state_name((enum msg_state)(want - 1)));
                    bad++;
                }
            } else if (e == MSG_EV_RESTART && rc == 0 && (int)got == s) {
                /* finding a row at start in any state but sent may leave it as it is */
            } else if (rc != POSA_ESTATE || (int)got != 77) {
                print_error("%s + ev %d: rc %d state %d, want POSA_ESTATE and ret untouched\n",
                            msg_state_name((enum msg_state)s), e, rc, (int)got);
                bad++;
            }
        }
    }
    assert_int_equal(bad, 0);
}

/* The paths of one message, event by event. */
static void test_paths(void **state)
{
    (void)state;
    static const struct {
        enum msg_event ev[5];
        int n;
        enum msg_state end;
    } paths[] = {
        {{MSG_EV_SEND, MSG_EV_ANSWER_OK}, 2, MSG_DONE},
        {{MSG_EV_SEND, MSG_EV_ANSWER_REFUSED}, 2, MSG_REFUSED},
        {{MSG_EV_SEND, MSG_EV_LOST_BEFORE, MSG_EV_SEND, MSG_EV_ANSWER_OK}, 4, MSG_DONE},
        {{MSG_EV_SEND, MSG_EV_LOST_AFTER, MSG_EV_QUERY_FOUND}, 3, MSG_DONE},
        {{MSG_EV_SEND, MSG_EV_LOST_AFTER, MSG_EV_QUERY_ABSENT}, 3, MSG_REVERSED},
        {{MSG_EV_SEND, MSG_EV_RESTART, MSG_EV_QUERY_ABSENT}, 3, MSG_REVERSED},
        {{MSG_EV_ABANDON}, 1, MSG_REFUSED},
        /* its reversal refused, the settlement is found after all, or found absent again */
        {{MSG_EV_SEND, MSG_EV_LOST_AFTER, MSG_EV_QUERY_ABSENT, MSG_EV_REVERSAL_REFUSED,
          MSG_EV_QUERY_FOUND}, 5, MSG_DONE},
        {{MSG_EV_SEND, MSG_EV_LOST_AFTER, MSG_EV_QUERY_ABSENT, MSG_EV_REVERSAL_REFUSED,
          MSG_EV_QUERY_ABSENT}, 5, MSG_REVERSED},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        enum msg_state s = MSG_QUEUED;
        for (int k = 0; k < paths[i].n; k++)
            assert_int_equal(msg_next(s, paths[i].ev[k], &s), 0);
        assert_int_equal(s, paths[i].end);
        assert_true(msg_state_is_final(s));
    }
}

static void test_states(void **state)
{
    (void)state;
    static const char *const names[MSG__MAX] = {
        [MSG_QUEUED] = "queued",   [MSG_SENT] = "sent",       [MSG_DONE] = "done",
        [MSG_REFUSED] = "refused", [MSG_UNKNOWN] = "unknown", [MSG_REVERSED] = "reversed",
    };
    static const bool final[MSG__MAX] = {
        [MSG_DONE] = true, [MSG_REFUSED] = true, [MSG_REVERSED] = true};
    enum msg_state back;

    for (int s = 0; s < MSG__MAX; s++) {
        assert_string_equal(msg_state_name((enum msg_state)s), names[s]);
        assert_int_equal(msg_state_parse(names[s], &back), 0);
        assert_int_equal(back, s);
        assert_int_equal(msg_state_is_final((enum msg_state)s), final[s]);
    }
    assert_true(msg_state_parse("bogus", &back) < 0);
    assert_true(msg_state_parse("", &back) < 0);
    assert_true(msg_state_parse("Done", &back) < 0);
}

static void test_kinds(void **state)
{
    (void)state;
    /* settlements and their cancels: interactive */
    static const char *const interactive[] = {"2207",  "2304", "2208",  "2305",  "9999",  "",
                                              "22070", "220",  "2207A", "2204a", "2204AB"};
    /* uploads and reversals: deferrable, a province's suffixed code as its four digits */
    static const char *const deferrable[] = {"2204", "2301", "2601", "2203", "2204A"};
    /* reads */
    static const char *const query[] = {"1101", "5203", "5203Z"};

    for (size_t i = 0; i < sizeof interactive / sizeof interactive[0]; i++)
        assert_int_equal(msg_kind_of(interactive[i]), MSG_KIND_INTERACTIVE);
    for (size_t i = 0; i < sizeof deferrable / sizeof deferrable[0]; i++)
        assert_int_equal(msg_kind_of(deferrable[i]), MSG_KIND_DEFERRABLE);
    for (size_t i = 0; i < sizeof query / sizeof query[0]; i++)
        assert_int_equal(msg_kind_of(query[i]), MSG_KIND_QUERY);
}

/* 1 s doubling to a 5 min cap, up to 25% jitter: base(n) = min(1000 x 2^(n-1), 300000) and
 * the delay lies within base x 0.75 .. base x 1.25. */
static void test_backoff(void **state)
{
    (void)state;
    static const struct {
        uint32_t attempts, base;
    } bases[] = {
        {1, 1000},    {2, 2000},    {3, 4000},    {4, 8000},      {5, 16000},
        {6, 32000},   {7, 64000},   {8, 128000},  {9, 256000},    {10, 300000}, /* 512000 capped */
        {11, 300000}, {40, 300000}, {64, 300000}, {1000, 300000}, {UINT32_MAX, 300000},
    };
    static const uint32_t randoms[] = {0, 1, 12345, 0x7fffffff, 0x80000000, UINT32_MAX};

    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        uint32_t lo = bases[i].base / 4 * 3, hi = bases[i].base / 4 * 5;
        uint32_t min = UINT32_MAX, max = 0;
        for (size_t k = 0; k < sizeof randoms / sizeof randoms[0]; k++) {
            uint32_t d = msg_backoff_ms(bases[i].attempts, randoms[k]);
            if (d < lo || d > hi) {
                print_error("attempts %u random %u: %u ms, want %u..%u\n", bases[i].attempts,
                            randoms[k], d, lo, hi);
                fail();
            }
            min = d < min ? d : min;
            max = d > max ? d : max;
        }
        assert_true(max > min); /* jitter is drawn from random */
    }
    /* doubling: with the same random, the delay grows until the cap */
    for (uint32_t n = 1; n < 9; n++)
        assert_true(msg_backoff_ms(n + 1, 12345) > msg_backoff_ms(n, 12345));
    assert_true(msg_backoff_ms(0, 0) <= 1250);
}

/* architecture.md: "At start, rows left sent by a crash become unknown" and are resolved by a
 * query; never resent. Final rows stay final. */
static void test_restart_recovers_sent_rows(void **state)
{
    (void)state;
    enum msg_state s = MSG_SENT;

    assert_int_equal(msg_next(s, MSG_EV_RESTART, &s), 0);
    assert_int_equal(s, MSG_UNKNOWN);
    assert_int_equal(msg_next(s, MSG_EV_SEND, &s), POSA_ESTATE); /* never resent */
    for (int f = 0; f < MSG__MAX; f++) {
        if (!msg_state_is_final((enum msg_state)f))
            continue;
        enum msg_state got = (enum msg_state)f;
        int rc = msg_next((enum msg_state)f, MSG_EV_RESTART, &got);
        assert_int_equal(rc, 0); /* a final row stays as it is */
        assert_int_equal(got, (enum msg_state)f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transition_table), cmocka_unit_test(test_paths),
        cmocka_unit_test(test_states),           cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_backoff),          cmocka_unit_test(test_restart_recovers_sent_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
