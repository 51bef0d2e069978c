/* The scenario loader with real files: a good scenario loads, and each bad one is refused
 * with the JSON path of the bad field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/scenario.h"

#define GOOD_CATALOG                                                                                  \
    "[{\"list_code\":\"A1\",\"name\":\"阿莫西林\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":"    \
    "\"09\","                                                                                         \
    "\"selfpay_prop\":\"0\",\"price_limit\":null},"                                                   \
    "{\"list_code\":\"B2\",\"name\":\"留置针\",\"chrgitm_lv\":\"02\",\"med_chrgitm_type\":\"08\"," \
    "\"selfpay_prop\":\"0.05\",\"price_limit\":\"12.500000\"}]"
#define GOOD_REGIONS                                                                               \
    "{\"320200\":{\"name\":\"Wuxi\",\"rates\":[{\"insutype\":\"310\",\"kind\":\"inpatient\","      \
    "\"level\":\"3\",\"deductible\":\"800.00\",\"ratio\":\"0.90\",\"cap\":\"400000.00\"}],"        \
    "\"deductible_per\":{\"inpatient\":\"admission\",\"outpatient\":\"year\"},"                    \
    "\"temporary\":{\"referral\":{\"reduce_points\":0},\"emergency\":{\"reduce_points\":10},"      \
    "\"other\":{\"share_first\":\"0.20\"}},"                                                       \
    "\"temporary_by_insutype\":{\"310\":{\"other\":{\"share_first\":\"0.30\"}}}}}"
#define GOOD_PERSON                                                                                 \
    "{\"psn_no\":\"P1\",\"certno\":\"320211195603120157\",\"name\":\"张建国\",\"gender\":\"1\"," \
    "\"birthday\":\"1956-03-12\",\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\","               \
    "\"psn_type\":\"11\",\"balance\":\"500.00\",\"card\":{\"card_no\":\"W1\",\"card_sn\":\"SN1\"}"  \
    ",\"more_insurance\":[{\"insutype\":\"390\",\"insuplc_admdvs\":\"320200\"}],"                   \
    "\"filings\":[{\"kind\":\"commitment\",\"valid_from\":\"2025-01-01\",\"valid_to\":null}]}"

static char path[64];

static int load_text(const char *text, struct scenario *sc, char *msg, size_t cap)
{
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "/tmp/posa-scenario-XXXXXX");
    fd = mkstemp(path);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    int rc = scenario_load(path, sc, msg, cap);
    unlink(path);
    return rc;
}

static char *doc(const char *region, const char *inst, const char *catalog, const char *regions,
                 const char *persons)
{
    static char buf[8192];

    snprintf(buf, sizeof(buf),
             "{\"treating_region\":%s,\"institution\":%s,\"catalog\":%s,\"regions\":%s,"
             "\"persons\":%s}",
             region, inst, catalog, regions, persons);
    return buf;
}

#define INST "{\"code\":\"H31010100001\",\"name\":\"医院\",\"level\":\"3\"}"

static void test_good_scenario(void **state)
{
    struct scenario sc;
    struct filing eff[BOUND_FILINGS];
    char msg[256];

    (void)state;
    assert_int_equal(
        load_text(doc("\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS, "[" GOOD_PERSON "]"), &sc,
                  msg, sizeof(msg)),
        0);
    assert_int_equal(sc.n_items, 2);
    assert_int_equal(sc.inst_level, '3');
    assert_non_null(catalog_index_find(&sc.catalog, "B2"));
    assert_true(catalog_index_find(&sc.catalog, "B2")->price_limit_e6 == 12500000);
    assert_true(catalog_index_find(&sc.catalog, "A1")->price_limit_e6 == PRICE_NO_LIMIT);
    assert_non_null(scenario_person_by_card(&sc, "W1"));
    assert_null(scenario_person_by_card(&sc, "W2"));
    const struct sc_region *r = scenario_region(&sc, "320200");
    assert_non_null(r);
    assert_true(r->policy.temporary.emergency.value_e6 == 100000); /* 10 points = 0.10 */
    assert_int_equal(r->policy.temporary.other.mode, TEMP_SHARE_FIRST);
    assert_true(r->policy.temporary.other.value_e6 == 200000);
    /* Employees' own rules replace the region's whole: referral and emergency unreduced. */
    const struct temp_rules *employees = policy_temp_rules(&r->policy, "310");
    assert_true(employees->other.value_e6 == 300000);
    assert_true(employees->emergency.value_e6 == 0);
    assert_ptr_equal(policy_temp_rules(&r->policy, "390"), &r->policy.temporary);
    assert_true(r->policy.outpatient_deductible_per_year);
    assert_false(r->policy.inpatient_deductible_per_year);
    /* A commitment filing counts 15 days: 2025-01-01 .. 2025-01-15. */
    assert_int_equal(scenario_effective_filings(scenario_person(&sc, "P1"), eff), 1);
    assert_int_equal(eff[0].valid_to, 20250115);
    assert_true(scenario_person(&sc, "P1")->balance == 50000);
    assert_false(scenario_is_local(&sc, scenario_person(&sc, "P1")->insuplc_admdvs));
    assert_true(scenario_is_local(&sc, "310000"));
    /* Its rows: its own (the account's), then more_insurance. */
    assert_int_equal(scenario_person(&sc, "P1")->n_insurance, 2);
    assert_string_equal(scenario_person_region(scenario_person(&sc, "P1"), "390"), "320200");
    assert_string_equal(scenario_person_region(scenario_person(&sc, "P1"), "310"), "320200");
    assert_null(scenario_person_region(scenario_person(&sc, "P1"), "320"));
    assert_true(scenario_person_in_region(scenario_person(&sc, "P1"), "320200"));
    assert_false(scenario_person_in_region(scenario_person(&sc, "P1"), "410100"));
    scenario_done(&sc);
}

struct bad {
    const char *name;
    const char *region, *inst, *catalog, *regions, *persons;
    const char *expect; /* the start of the message */
};

static const struct bad bad_cases[] = {
    {"region", "\"31000\"", INST, GOOD_CATALOG, GOOD_REGIONS, "[]", "treating_region:"},
    {"inst level", "\"310000\"", "{\"code\":\"H31010100001\",\"name\":\"x\",\"level\":\"4\"}",
     GOOD_CATALOG, GOOD_REGIONS, "[]", "institution.level:"},
    {"class", "\"310000\"", INST,
     "[{\"list_code\":\"A\",\"name\":\"a\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"09\"},"
     "{\"list_code\":\"B\",\"name\":\"b\",\"chrgitm_lv\":\"04\",\"med_chrgitm_type\":\"09\"}]",
     GOOD_REGIONS, "[]", "catalog[1].chrgitm_lv:"},
    {"category", "\"310000\"", INST,
     "[{\"list_code\":\"A\",\"name\":\"a\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"15\"}]",
     GOOD_REGIONS, "[]", "catalog[0].med_chrgitm_type:"},
    {"prop", "\"310000\"", INST,
     "[{\"list_code\":\"A\",\"name\":\"a\",\"chrgitm_lv\":\"02\",\"med_chrgitm_type\":\"09\","
     "\"selfpay_prop\":\"1.5\"}]",
     GOOD_REGIONS, "[]", "catalog[0].selfpay_prop:"},
    {"limit text", "\"310000\"", INST,
     "[{\"list_code\":\"A\",\"name\":\"a\",\"chrgitm_lv\":\"02\",\"med_chrgitm_type\":\"09\","
     "\"price_limit\":\"cheap\"}]",
     GOOD_REGIONS, "[]", "catalog[0].price_limit:"},
    {"duplicate code", "\"310000\"", INST,
     "[{\"list_code\":\"A\",\"name\":\"a\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"09\"},"
     "{\"list_code\":\"A\",\"name\":\"b\",\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"09\"}]",
     GOOD_REGIONS, "[]", "catalog:"},
    {"ratio", "\"310000\"", INST, GOOD_CATALOG,
     "{\"320200\":{\"rates\":[{\"insutype\":\"310\",\"kind\":\"inpatient\",\"level\":\"3\","
     "\"deductible\":\"800.00\",\"ratio\":\"1.90\",\"cap\":\"1.00\"}]}}",
     "[]", "regions.320200.rates[0].ratio:"},
    {"both rules", "\"310000\"", INST, GOOD_CATALOG,
     "{\"320200\":{\"rates\":[],\"temporary\":{\"other\":{\"reduce_points\":20,"
     "\"share_first\":\"0.2\"}}}}",
     "[]", "regions.320200.temporary.other:"},
    {"rules of an insutype", "\"310000\"", INST, GOOD_CATALOG,
     "{\"320200\":{\"rates\":[],\"temporary_by_insutype\":{\"310\":{\"referral\":"
     "{\"reduce_points\":120}}}}}",
     "[]", "regions.320200.temporary_by_insutype.310.referral.reduce_points:"},
    {"insutype of rules", "\"310000\"", INST, GOOD_CATALOG,
     "{\"320200\":{\"rates\":[],\"temporary_by_insutype\":{\"31\":{}}}}", "[]",
     "regions.320200.temporary_by_insutype.31:"},
    {"kind of rules", "\"310000\"", INST, GOOD_CATALOG,
     "{\"320200\":{\"rates\":[],\"temporary\":{\"emergancy\":{\"reduce_points\":0}}}}", "[]",
     "regions.320200.temporary.emergancy:"},
    {"region key", "\"310000\"", INST, GOOD_CATALOG,
     "{\"320200\":{\"rates\":[],\"temporary_for\":{}}}", "[]", "regions.320200.temporary_for:"},
    {"filing date", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[{\"psn_no\":\"P1\",\"certno\":\"1\",\"name\":\"n\",\"birthday\":\"1956-03-12\","
     "\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\",\"filings\":[{\"kind\":\"referral\","
     "\"valid_from\":\"2025-02-30\",\"valid_to\":null}]}]",
     "persons[0].filings[0].valid_from:"},
    {"filing kind", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[{\"psn_no\":\"P1\",\"certno\":\"1\",\"name\":\"n\",\"birthday\":\"1956-03-12\","
     "\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\",\"filings\":[{\"kind\":\"emergency\","
     "\"valid_from\":\"2025-01-01\"}]}]",
     "persons[0].filings[0].kind:"},
    {"unknown region", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[{\"psn_no\":\"P1\",\"certno\":\"1\",\"name\":\"n\",\"birthday\":\"1956-03-12\","
     "\"insutype\":\"310\",\"insuplc_admdvs\":\"410100\"}]",
     "persons[0].insuplc_admdvs:"},
    {"insurance twice", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[{\"psn_no\":\"P1\",\"certno\":\"1\",\"name\":\"n\",\"birthday\":\"1956-03-12\","
     "\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\",\"more_insurance\":[{\"insutype\":"
     "\"310\",\"insuplc_admdvs\":\"320200\"}]}]",
     "persons[0].more_insurance[0].insutype:"},
    {"insurance elsewhere", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[{\"psn_no\":\"P1\",\"certno\":\"1\",\"name\":\"n\",\"birthday\":\"1956-03-12\","
     "\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\",\"more_insurance\":[{\"insutype\":"
     "\"390\",\"insuplc_admdvs\":\"410100\"}]}]",
     "persons[0].more_insurance[0].insuplc_admdvs:"},
    {"duplicate person", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[" GOOD_PERSON "," GOOD_PERSON "]", "persons[1].psn_no:"},
    {"balance", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[{\"psn_no\":\"P1\",\"certno\":\"1\",\"name\":\"n\",\"birthday\":\"1956-03-12\","
     "\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\",\"balance\":4.567}]",
     "persons[0].balance:"},
    {"card", "\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS,
     "[{\"psn_no\":\"P1\",\"certno\":\"1\",\"name\":\"n\",\"birthday\":\"1956-03-12\","
     "\"insutype\":\"310\",\"insuplc_admdvs\":\"320200\",\"card\":{\"card_no\":\"W\"}}]",
     "persons[0].card.card_sn:"},
};

static void test_bad_scenarios_name_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad *b = &bad_cases[i];
        struct scenario sc;
        char msg[256] = "";

        if (load_text(doc(b->region, b->inst, b->catalog, b->regions, b->persons), &sc, msg,
                      sizeof(msg)) == 0)
            fail_msg("%s: loaded", b->name);
        if (strncmp(msg, b->expect, strlen(b->expect)) != 0)
            fail_msg("%s: message '%s', expected '%s...'", b->name, msg, b->expect);
    }
}

static void test_not_json_and_missing_file(void **state)
{
    struct scenario sc;
    char msg[256];

    (void)state;
    assert_true(load_text("{\"treating_region\":", &sc, msg, sizeof(msg)) < 0);
    assert_non_null(strstr(msg, "not valid JSON"));
    assert_true(load_text("[]", &sc, msg, sizeof(msg)) < 0);
    /* A scenario followed by anything but white space is refused: two documents, or text
     * after one, are not one scenario (the first was used). */
    {
        char text[8300];

        snprintf(text, sizeof text, "%s\n  this is not json {{{",
                 doc("\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS, "[" GOOD_PERSON "]"));
        assert_true(load_text(text, &sc, msg, sizeof(msg)) < 0);
        assert_non_null(strstr(msg, "text after the scenario"));
        snprintf(text, sizeof text, "%s \n\t\n",
                 doc("\"310000\"", INST, GOOD_CATALOG, GOOD_REGIONS, "[" GOOD_PERSON "]"));
        assert_int_equal(load_text(text, &sc, msg, sizeof(msg)), 0);
        scenario_done(&sc);
    }
    assert_true(scenario_load("/nonexistent/scenario.json", &sc, msg, sizeof(msg)) < 0);
    assert_non_null(strstr(msg, "/nonexistent/scenario.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_scenario),
        cmocka_unit_test(test_bad_scenarios_name_the_field),
        cmocka_unit_test(test_not_json_and_missing_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
