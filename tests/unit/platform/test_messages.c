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
    bool settlement;
    enum msg_kind kind;
};

static const struct case_ cases[] = {
    {"2207", true, true, MSG_KIND_INTERACTIVE},
    {"2304", true, true, MSG_KIND_INTERACTIVE},
    {"2208", true, false, MSG_KIND_INTERACTIVE},
    {"2401", true, false, MSG_KIND_INTERACTIVE},
    {"2301", true, false, MSG_KIND_DEFERRABLE},
    {"2203A", true, false, MSG_KIND_DEFERRABLE},
    {"2204A", true, false, MSG_KIND_DEFERRABLE}, /* a province's upload: queued as 2204 is */
    {"2207B", true, true, MSG_KIND_INTERACTIVE},
    {"2601", true, false, MSG_KIND_DEFERRABLE},
    {"5203", true, false, MSG_KIND_QUERY},
    {"1101", true, false, MSG_KIND_QUERY},
    {"9001", true, false, MSG_KIND_QUERY},
    {"7777", false, false, MSG_KIND_INTERACTIVE}, /* unknown: never resent */
    {"220", false, false, MSG_KIND_INTERACTIVE},
    {"2207AB", false, false, MSG_KIND_INTERACTIVE},
    {"2207a", false, false, MSG_KIND_INTERACTIVE},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct message_info *m = messages_find(cases[i].infno);

        assert_int_equal(m != NULL, cases[i].known);
        if (m) {
            assert_int_equal(m->settlement, cases[i].settlement);
            assert_non_null(m->name);
        }
        /* The kind follows the four digits too (a suffixed upload is deferrable). */
        assert_int_equal(msg_kind_of(cases[i].infno), cases[i].kind);
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
