/* interface/platform/messages.c: THE message table, its lookups (suffixed provincial codes
 * match their four digits) and the kinds core gives the messages the journal cares about. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "interface/platform/messages.h"

struct case_ {
    const char *infno;
    bool known;
    bool reversible;
    bool settlement;
    enum msg_kind kind;
};

static const struct case_ cases[] = {
    {"2207", true, true, true, MSG_KIND_INTERACTIVE},
    {"2304", true, true, true, MSG_KIND_INTERACTIVE},
    {"2208", true, true, false, MSG_KIND_INTERACTIVE},
    {"2401", true, true, false, MSG_KIND_INTERACTIVE},
    {"2301", true, false, false, MSG_KIND_DEFERRABLE},
    {"2203A", true, false, false, MSG_KIND_DEFERRABLE},
    {"2601", true, false, false, MSG_KIND_DEFERRABLE},
    {"5203", true, false, false, MSG_KIND_QUERY},
    {"1101", true, false, false, MSG_KIND_QUERY},
    {"9001", true, false, false, MSG_KIND_QUERY},
    {"7777", false, false, false, MSG_KIND_INTERACTIVE}, /* unknown: never resent */
    {"220", false, false, false, MSG_KIND_INTERACTIVE},
    {"2207AB", false, false, false, MSG_KIND_INTERACTIVE},
    {"2207a", false, false, false, MSG_KIND_INTERACTIVE},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct message_info *m = messages_find(cases[i].infno);

        assert_int_equal(m != NULL, cases[i].known);
        if (m) {
            assert_int_equal(m->reversible, cases[i].reversible);
            assert_int_equal(m->settlement, cases[i].settlement);
            assert_non_null(m->name);
        }
        if (strlen(cases[i].infno) == 4)
            assert_int_equal(messages_kind(cases[i].infno), cases[i].kind);
    }
    assert_null(messages_find(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
