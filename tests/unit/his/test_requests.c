/* Unit tests of interface/his/requests: good bodies map to the structs, and a battery of
 * bad ones is refused with the right code and the field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/utf8.h"
#include "interface/his/requests.h"

#define VISIT_HEAD                                                                            \
    "\"identity_token\":\"t1\",\"kind\":\"inpatient\",\"insutype\":\"310\",\"med_type\":\"21\"," \
    "\"his_visit_id\":\"ZY001\",\"dept_code\":\"GK\",\"dept_name\":\"骨科\",\"doctor_code\":\"D1\"," \
    "\"doctor_name\":\"王医生\",\"begin_time\":\"2026-11-20 08:00:00\""
#define DIAG "\"diagnoses\":[{\"code\":\"S72.001\",\"name\":\"股骨颈骨折\",\"main\":true}]"

static void test_visit_good(void **state)
{
    const char *body = "{" VISIT_HEAD "," DIAG ",\"emergency\":true,"
                       "\"trauma\":{\"present\":true,\"third_party\":false,\"commitment_signed\":true}}";
    struct visit_request r;
    struct jsonmap_error err = {0};

    (void)state;
    assert_int_equal(visit_request_parse(body, strlen(body), &r, &err), 0);
    assert_int_equal(r.kind, VISIT_INPATIENT);
    assert_string_equal(r.insutype, "310");
    assert_int_equal(r.begin, 20261120080000LL);
    assert_int_equal(r.n_diagnoses, 1);
    assert_string_equal(r.diagnoses[0].code, "S72.001");
    assert_true(r.diagnoses[0].main);
    assert_int_equal(r.emergency, TRI_TRUE);
    assert_int_equal(r.trauma, TRI_TRUE);
    assert_int_equal(r.trauma_third_party, TRI_FALSE);
    assert_true(r.trauma_commitment_signed);
    assert_false(r.referral);
    his_request_done(&r.root);
    assert_null(r.root);
}

static void test_visit_defaults(void **state)
{
    const char *body = "{" VISIT_HEAD "," DIAG "}";
    struct visit_request r;
    struct jsonmap_error err = {0};

    (void)state;
    assert_int_equal(visit_request_parse(body, strlen(body), &r, &err), 0);
    assert_int_equal(r.emergency, TRI_UNSET); /* the department rule may still apply */
    assert_int_equal(r.trauma, TRI_UNSET);    /* an S/T diagnosis may still suggest it */
    his_request_done(&r.root);
}

enum parser { P_IDENTIFY, P_VISIT, P_CANCEL, P_SETTLE, P_RECONCILE };

struct bad {
    enum parser parser;
    const char *body;
    int rc;
    const char *field;
};

static const struct bad bad_cases[] = {
    /* identify */
    {P_IDENTIFY, "", POSA_EJSON, ""},
    {P_IDENTIFY, "[]", POSA_EJSON, ""},
    {P_IDENTIFY, "{\"source\":\"nfc\",\"desk\":\"D1\"}", POSA_EFIELD, "source"},
    {P_IDENTIFY, "{\"source\":\"qr\"}", POSA_EFIELD, "qr"},
    {P_IDENTIFY, "{\"source\":\"qr\",\"qr\":\"\"}", POSA_EFIELD, "qr"},
    {P_IDENTIFY, "{\"source\":\"id\",\"certno\":\"12345\"}", POSA_ECERTNO, "certno"},
    {P_IDENTIFY, "{\"source\":\"id\",\"certno\":\"11010519491231002Y\"}", POSA_ECERTNO, "certno"},
    /* GB 11643's check character: 11010519491231002X is valid, a typo in any place is not */
    {P_IDENTIFY, "{\"source\":\"id\",\"certno\":\"110105194912310021\"}", POSA_ECERTNO, "certno"},
    {P_IDENTIFY, "{\"source\":\"id\",\"certno\":\"11010519491231003X\"}", POSA_ECERTNO, "certno"},
    {P_IDENTIFY, "{\"source\":\"id\",\"certno\":\"21010519491231002X\"}", POSA_ECERTNO, "certno"},
    {P_IDENTIFY, "{\"source\":\"id\",\"certno\":\"1101051949123100X2\"}", POSA_ECERTNO, "certno"},
    {P_IDENTIFY, "{\"source\":\"id\",\"certno\":\"11010519491231002\"}", POSA_ECERTNO, "certno"},
    {P_IDENTIFY, "{\"source\":\"id\"}", POSA_EFIELD, "certno"},
    {P_IDENTIFY, "{\"source\":\"card\",\"desk\":\"D1\",\"wait_ms\":-1}", POSA_ERANGE, "wait_ms"},
    {P_IDENTIFY, "{\"source\":\"card\",\"desk\":\"D1\",\"wait_ms\":999999}", POSA_ERANGE,
     "wait_ms"},
    {P_IDENTIFY, "{\"source\":\"card\",\"desk\":\"D1\",\"wait_ms\":\"1.5\"}", POSA_ESCALE,
     "wait_ms"},
    /* a JSON integer, not text nor a fraction's form (they were taken) */
    {P_IDENTIFY, "{\"source\":\"card\",\"desk\":\"D1\",\"wait_ms\":\"5\"}", POSA_EFIELD, "wait_ms"},
    {P_IDENTIFY, "{\"source\":\"card\",\"desk\":\"D1\",\"wait_ms\":1.0}", POSA_EFIELD, "wait_ms"},
    {P_IDENTIFY, "{\"source\":\"card\",\"desk\":\"D1\",\"colour\":1}", POSA_EUNKNOWN_FIELD,
     "colour"},
    {P_IDENTIFY, "{\"source\":1}", POSA_EFIELD, "source"},
    /* visits */
    {P_VISIT, "{" DIAG "}", POSA_EFIELD, "identity_token"},
    /* required by the platform's 2201: empty or blank, it was sent so */
    {P_VISIT,
     "{\"identity_token\":\"t1\",\"kind\":\"inpatient\",\"insutype\":\"310\",\"med_type\":\"21\","
     "\"his_visit_id\":\"ZY001\",\"dept_code\":\"GK\",\"dept_name\":\" \",\"doctor_code\":\"D1\","
     "\"doctor_name\":\"王医生\",\"begin_time\":\"2026-11-20 08:00:00\"," DIAG "}",
     POSA_EFIELD, "dept_name"},
    {P_VISIT,
     "{\"identity_token\":\"t1\",\"kind\":\"inpatient\",\"insutype\":\"310\",\"med_type\":\"21\","
     "\"his_visit_id\":\"ZY001\",\"dept_code\":\"GK\",\"dept_name\":\"骨科\",\"doctor_code\":\"\","
     "\"doctor_name\":\"王医生\",\"begin_time\":\"2026-11-20 08:00:00\"," DIAG "}",
     POSA_EFIELD, "doctor_code"},
    {P_VISIT, "{" VISIT_HEAD "}", POSA_EFIELD, "diagnoses"},
    {P_VISIT, "{" VISIT_HEAD ",\"diagnoses\":[]}", POSA_EFIELD, "diagnoses"},
    {P_VISIT, "{" VISIT_HEAD ",\"diagnoses\":[1]}", POSA_EFIELD, "diagnoses[0]"},
    {P_VISIT, "{" VISIT_HEAD ",\"diagnoses\":[{\"code\":\"A01\"}]}", POSA_EFIELD,
     "diagnoses[0].name"},
    {P_VISIT, "{" VISIT_HEAD ",\"diagnoses\":[{\"code\":\"\",\"name\":\"x\"}]}", POSA_EFIELD,
     "diagnoses[0].code"},
    {P_VISIT, "{" VISIT_HEAD ",\"diagnoses\":[{\"code\":\"A\",\"name\":\"x\",\"mian\":true}]}",
     POSA_EUNKNOWN_FIELD, "diagnoses[0].mian"},
    {P_VISIT, "{" VISIT_HEAD "," DIAG ",\"emergncy\":true}", POSA_EUNKNOWN_FIELD, "emergncy"},
    /* what a developer can act on: "appears twice", "not a med_type of this kind of visit" */
    {P_VISIT,
     "{" VISIT_HEAD ",\"diagnoses\":[{\"code\":\"A\",\"name\":\"x\",\"main\":true},"
     "{\"code\":\"B\",\"name\":\"y\",\"main\":true}]}",
     POSA_EDUPLICATE, "diagnoses[1].main"},
    {P_VISIT,
     "{" VISIT_HEAD ",\"diagnoses\":[{\"code\":\"A\",\"name\":\"x\"},"
     "{\"code\":\"A\",\"name\":\"y\"}]}",
     POSA_EDUPLICATE, "diagnoses[1].code"},
    {P_VISIT,
     "{\"identity_token\":\"t1\",\"kind\":\"inpatient\",\"insutype\":\"310\",\"med_type\":\"11\","
     "\"his_visit_id\":\"Z\",\"dept_code\":\"G\",\"dept_name\":\"g\",\"doctor_code\":\"D\","
     "\"doctor_name\":\"d\",\"begin_time\":\"2026-11-20 08:00:00\"," DIAG "}",
     POSA_EMEDTYPE, "med_type"},
    {P_VISIT, "{" VISIT_HEAD "," DIAG ",\"emergency\":\"yes\"}", POSA_EFIELD, "emergency"},
    {P_VISIT, "{" VISIT_HEAD "," DIAG ",\"trauma\":true}", POSA_EFIELD, "trauma"},
    {P_VISIT, "{" VISIT_HEAD "," DIAG ",\"trauma\":{\"third_party\":true}}", POSA_EFIELD,
     "trauma.present"},
    {P_VISIT, "{" VISIT_HEAD "," DIAG ",\"trauma\":{\"present\":1}}", POSA_EFIELD,
     "trauma.present"},
    {P_VISIT, "{\"identity_token\":\"t1\",\"kind\":\"day_care\"}", POSA_EFIELD, "kind"},
    {P_VISIT,
     "{\"identity_token\":\"t1\",\"kind\":\"inpatient\",\"insutype\":\"3100\",\"med_type\":\"21\"}",
     POSA_ETOOLONG, "insutype"},
    {P_VISIT,
     "{\"identity_token\":\"t1\",\"kind\":\"inpatient\",\"insutype\":\"310\",\"med_type\":\"21\","
     "\"his_visit_id\":\"Z\",\"dept_code\":\"G\",\"dept_name\":\"g\",\"doctor_code\":\"D\","
     "\"doctor_name\":\"d\",\"begin_time\":\"2026-13-01 08:00:00\"," DIAG "}",
     POSA_EDATE, "begin_time"},
    {P_VISIT,
     "{\"identity_token\":\"t1\",\"kind\":\"inpatient\",\"insutype\":\"310\",\"med_type\":\"21\","
     "\"his_visit_id\":\"Z\",\"dept_code\":\"G\",\"dept_name\":\"g\",\"doctor_code\":\"D\","
     "\"doctor_name\":\"d\",\"begin_time\":\"2026-11-20T08:00:00\"," DIAG "}",
     POSA_EDATE, "begin_time"}, /* ISO 8601's T: not the national interface's time */
    /* fees/cancel */
    {P_CANCEL, "{}", POSA_EONEOF, "his_line_ids, all"},
    {P_CANCEL, "{\"all\":false}", POSA_EONEOF, "his_line_ids, all"},
    {P_CANCEL, "{\"all\":true,\"his_line_ids\":[\"L1\"]}", POSA_EONEOF, "his_line_ids, all"},
    {P_CANCEL, "{\"his_line_ids\":\"L1\"}", POSA_EFIELD, "his_line_ids"},
    {P_CANCEL, "{\"his_line_ids\":[]}", POSA_EFIELD, "his_line_ids"},
    {P_CANCEL, "{\"his_line_ids\":[\"L1\",2]}", POSA_EFIELD, "his_line_ids[1]"},
    {P_CANCEL, "{\"his_line_ids\":[\"\"]}", POSA_EFIELD, "his_line_ids[0]"},
    {P_CANCEL, "{\"his_line_ids\":[\"L1\",\"L2\",\"L1\"]}", POSA_EDUPLICATE, "his_line_ids[2]"},
    {P_CANCEL, "{\"his_line_ids\":[\"L\\u0000\"]}", POSA_EFIELD, "his_line_ids[0]"},
    /* settle */
    {P_SETTLE, "{\"use_account\":\"true\"}", POSA_EFIELD, "use_account"},
    {P_SETTLE, "{\"discharge\":{}}", POSA_EFIELD, "discharge.time"},
    {P_SETTLE, "{\"discharge\":{\"time\":\"2026-02-29 10:00:00\"}}", POSA_EDATE, "discharge.time"},
    {P_SETTLE, "{\"discharge\":\"today\"}", POSA_EFIELD, "discharge"},
    {P_SETTLE, "{\"wait\":true}", POSA_EUNKNOWN_FIELD, "wait"},
    {P_SETTLE, "{\"use_account\":true", POSA_EJSON, ""},
    /* reconcile */
    {P_RECONCILE, "{}", POSA_EONEOF, "date, month"},
    {P_RECONCILE, "{\"date\":\"2026-11-31\"}", POSA_EPERIOD, "date"},
    {P_RECONCILE, "{\"date\":20261125}", POSA_EFIELD, "date"},
    /* a day under date, a month under month: neither takes the other */
    {P_RECONCILE, "{\"date\":\"2026-11\"}", POSA_EPERIOD, "date"},
    {P_RECONCILE, "{\"month\":\"2026-11-25\"}", POSA_EPERIOD, "month"}, /* not "too long" */
    {P_RECONCILE, "{\"month\":\"2026-13\"}", POSA_EPERIOD, "month"},
    {P_RECONCILE, "{\"date\":\"2026-11-25\",\"month\":\"2026-11\"}", POSA_EONEOF, "date, month"},
};

static int run(enum parser p, const char *body, struct jsonmap_error *err)
{
    struct identify_request i = {0};
    struct visit_request v = {0};
    struct fees_cancel_request c = {0};
    struct settle_request s = {0};
    struct reconcile_request r = {0};
    size_t len = strlen(body);

    switch (p) {
    case P_IDENTIFY: return identify_request_parse(body, len, &i, err);
    case P_VISIT: return visit_request_parse(body, len, &v, err);
    case P_CANCEL: return fees_cancel_request_parse(body, len, &c, err);
    case P_SETTLE: return settle_request_parse(body, len, &s, err);
    case P_RECONCILE: return reconcile_request_parse(body, len, &r, err);
    }
    return 0;
}

static void test_bad_battery(void **state)
{
    int failures = 0;

    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct jsonmap_error err = {0};
        int rc = run(bad_cases[i].parser, bad_cases[i].body, &err);

        if (rc != bad_cases[i].rc || strcmp(err.field, bad_cases[i].field) != 0) {
            print_error("case %zu %s: rc %d field '%s', want %d '%s'\n", i, bad_cases[i].body, rc,
                        err.field, bad_cases[i].rc, bad_cases[i].field);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* An unknown key longer than the error's field is cut between characters, not inside one. */
static void test_long_unknown_key_stays_utf8(void **state)
{
    char body[512] = "{\"";
    struct jsonmap_error err = {0};

    (void)state;
    for (int i = 0; i < 60; i++)
        strcat(body, "é");
    strcat(body, "\":1}");
    assert_int_equal(run(P_SETTLE, body, &err), POSA_EUNKNOWN_FIELD);
    assert_true(strlen(err.field) > 80);
    assert_true(utf8_is_valid(err.field, strlen(err.field), NULL));
}

static void test_others_good(void **state)
{
    struct jsonmap_error err = {0};
    struct identify_request i;
    struct fees_cancel_request c;
    struct settle_request s;
    struct reconcile_request r;
    const char *id = "{\"source\":\"id\",\"certno\":\"11010519491231002X\",\"psn_name\":\"张三\"}";
    const char *cancel = "{\"his_line_ids\":[\"L1\",\"L7\"]}";
    const char *settle = "{\"use_account\":true,\"discharge\":{\"time\":\"2026-11-25 10:00:00\","
                         "\"reason\":\"治愈\"},\"wait_if_offline\":true}";

    (void)state;
    assert_int_equal(identify_request_parse(id, strlen(id), &i, &err), 0);
    assert_int_equal(i.source, IDENTIFY_ID);
    assert_string_equal(i.certno, "11010519491231002X");
    his_request_done(&i.root);
    id = "{\"source\":\"id\",\"certno\":\"11010519491231002x\"}"; /* x is X */
    assert_int_equal(identify_request_parse(id, strlen(id), &i, &err), 0);
    his_request_done(&i.root);
    assert_int_equal(fees_cancel_request_parse(cancel, strlen(cancel), &c, &err), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(fees_cancel_request_id(&c, 1), "L7");
    his_request_done(&c.root);
    assert_int_equal(settle_request_parse(settle, strlen(settle), &s, &err), 0);
    assert_true(s.use_account && s.has_discharge && s.wait_if_offline);
    assert_int_equal(s.discharge, 20261125100000LL);
    assert_string_equal(s.discharge_reason, "治愈");
    his_request_done(&s.root);
    assert_int_equal(settle_request_parse("", 0, &s, &err), 0); /* empty body: defaults */
    assert_false(s.use_account || s.has_discharge || s.wait_if_offline);
    his_request_done(&s.root);
    assert_int_equal(reconcile_request_parse("{\"date\":\"2026-11-24\"}", 21, &r, &err), 0);
    assert_int_equal(r.date, 20261124);
    his_request_done(&r.root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visit_good),
        cmocka_unit_test(test_visit_defaults),
        cmocka_unit_test(test_bad_battery),
        cmocka_unit_test(test_long_unknown_key_stays_utf8),
        cmocka_unit_test(test_others_good),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
