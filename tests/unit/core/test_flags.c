/* Unit tests of core/flags.h: visit flags with their source and reason, outside lines,
 * audit_30k, cross-province and the injury chapter of ICD-10. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/err.h"
#include "core/flags.h"

static const char *const EMERGENCY_DEPTS[] = {"A01", "JZ02"};
static const struct flag_config CONFIG = {EMERGENCY_DEPTS, 2};

/* A plain inpatient visit in Wuxi (320200) of a Wuxi insured: nothing to flag. */
static struct visit_facts plain_visit(void)
{
    struct visit_facts f;
    memset(&f, 0, sizeof f);
    f.kind = VISIT_INPATIENT;
    f.emergency = TRI_UNSET;
    f.trauma = TRI_UNSET;
    f.dept_code = "NK01";
    f.insured_admdvs = "320200";
    f.hospital_admdvs = "320200";
    return f;
}

static struct visit_flags tag(const struct visit_facts *f)
{
    struct visit_flags vf;
    assert_int_equal(flags_tag_visit(f, &CONFIG, &vf), 0);
    assert_true(vf.n <= FLAGS_MAX);
    assert_true(vf.n_warnings <= FLAG_WARNINGS_MAX);
    return vf;
}

static bool is_set(const struct visit_flags *vf, enum flag_id id)
{
    const struct flag *f = visit_flags_get(vf, id);
    return f != NULL && f->value;
}

static bool has_warning(const struct visit_flags *vf, const char *code)
{
    for (size_t i = 0; i < vf->n_warnings; i++)
        if (strcmp(vf->warnings[i].code, code) == 0)
            return true;
    return false;
}

/* A set flag must say where it came from and why. */
static void expect_flag(const struct visit_flags *vf, enum flag_id id, enum flag_source src)
{
    const struct flag *f = visit_flags_get(vf, id);
    assert_non_null(f);
    assert_int_equal(f->id, id);
    assert_true(f->value);
    assert_int_equal(f->source, src);
    assert_non_null(f->reason);
    assert_true(strlen(f->reason) > 0);
    if (src == FLAG_FROM_HIS) {
        assert_null(f->rule);
    } else {
        assert_non_null(f->rule);
        assert_true(strlen(f->rule) > 0);
    }
}

static void test_plain_visit_has_no_flags(void **state)
{
    (void)state;
    struct visit_facts f = plain_visit();
    struct visit_flags vf = tag(&f);

    for (int id = 0; id < FLAG__MAX; id++)
        assert_false(is_set(&vf, (enum flag_id)id));
    assert_int_equal(vf.n_warnings, 0);
}

static void test_emergency(void **state)
{
    (void)state;
    struct visit_facts f = plain_visit();
    struct visit_flags vf;

    f.emergency = TRI_TRUE; /* the HIS says so */
    vf = tag(&f);
    expect_flag(&vf, FLAG_EMERGENCY, FLAG_FROM_HIS);

    f = plain_visit();
    f.dept_code = "JZ02"; /* the second configured emergency department */
    vf = tag(&f);
    expect_flag(&vf, FLAG_EMERGENCY, FLAG_FROM_RULE);

    f.dept_code = "A01";
    vf = tag(&f);
    expect_flag(&vf, FLAG_EMERGENCY, FLAG_FROM_RULE);

    f.dept_code = "JZ0"; /* a prefix of a configured department is not one */
    vf = tag(&f);
    assert_false(is_set(&vf, FLAG_EMERGENCY));

    f.dept_code = "JZ021";
    vf = tag(&f);
    assert_false(is_set(&vf, FLAG_EMERGENCY));

    f = plain_visit();
    f.emergency = TRI_FALSE;
    vf = tag(&f);
    assert_false(is_set(&vf, FLAG_EMERGENCY));

    /* no configured departments at all */
    struct flag_config none = {NULL, 0};
    f = plain_visit();
    f.dept_code = "A01";
    assert_int_equal(flags_tag_visit(&f, &none, &vf), 0);
    assert_false(is_set(&vf, FLAG_EMERGENCY));
}

static void test_trauma(void **state)
{
    (void)state;
    struct visit_facts f = plain_visit();
    struct visit_flags vf;

    /* HIS: trauma with a third party */
    f.trauma = TRI_TRUE;
    f.trauma_third_party = TRI_TRUE;
    vf = tag(&f);
    expect_flag(&vf, FLAG_TRAUMA, FLAG_FROM_HIS);
    expect_flag(&vf, FLAG_THIRD_PARTY, FLAG_FROM_HIS);

    /* HIS: trauma, no third party, commitment signed */
    f.trauma_third_party = TRI_FALSE;
    f.trauma_commitment_signed = true;
    vf = tag(&f);
    expect_flag(&vf, FLAG_TRAUMA, FLAG_FROM_HIS);
    assert_false(is_set(&vf, FLAG_THIRD_PARTY));
    assert_int_equal(visit_flags_get(&vf, FLAG_THIRD_PARTY)->source, FLAG_FROM_HIS);
    assert_false(has_warning(&vf, "TRAUMA_SUGGESTED"));
    assert_false(has_warning(&vf, "THIRD_PARTY_UNSTATED"));

    /* HIS: trauma, the third party not stated: taken as none, but posad's, and said so (it
     * was "no third party" from the HIS, which never said) */
    f.trauma_third_party = TRI_UNSET;
    vf = tag(&f);
    assert_false(is_set(&vf, FLAG_THIRD_PARTY));
    assert_int_equal(visit_flags_get(&vf, FLAG_THIRD_PARTY)->source, FLAG_FROM_RULE);
    assert_true(has_warning(&vf, "THIRD_PARTY_UNSTATED"));
}

/* The platform reads med_type 13 and 24 as an emergency and 22 as a trauma stay: what the HIS
 * left unsaid follows it; what it said against it is refused (the platform would apply the
 * one, posad's flags and statement the other). */
static void test_med_type(void **state)
{
    (void)state;
    struct visit_facts f = plain_visit();
    struct visit_flags vf;
    const char *field;

    f.med_type = "24";
    vf = tag(&f);
    expect_flag(&vf, FLAG_EMERGENCY, FLAG_FROM_RULE);
    assert_string_equal(visit_flags_get(&vf, FLAG_EMERGENCY)->rule, "med_type_emergency");
    assert_null(flags_conflict(&f, &field));
    f.kind = VISIT_OUTPATIENT;
    f.med_type = "13";
    expect_flag((vf = tag(&f), &vf), FLAG_EMERGENCY, FLAG_FROM_RULE);
    f.emergency = TRI_FALSE;
    assert_non_null(strstr(flags_conflict(&f, &field), "emergency is false"));
    assert_string_equal(field, "med_type");
    f.emergency = TRI_TRUE;
    assert_null(flags_conflict(&f, &field));
    expect_flag((vf = tag(&f), &vf), FLAG_EMERGENCY, FLAG_FROM_HIS);

    f = plain_visit();
    f.med_type = "22";
    vf = tag(&f);
    expect_flag(&vf, FLAG_TRAUMA, FLAG_FROM_RULE);
    assert_false(is_set(&vf, FLAG_THIRD_PARTY));
    assert_true(has_warning(&vf, "THIRD_PARTY_UNSTATED"));
    assert_true(has_warning(&vf, "TRAUMA_COMMITMENT_MISSING"));
    f.trauma = TRI_FALSE;
    assert_non_null(strstr(flags_conflict(&f, &field), "trauma.present is false"));
    f.med_type = "21"; /* an ordinary stay: nothing follows */
    assert_null(flags_conflict(&f, &field));
    vf = tag(&f);
    assert_false(is_set(&vf, FLAG_TRAUMA));
    assert_false(is_set(&vf, FLAG_EMERGENCY));
}

/* The trauma's three answers contradicting each other: refused, naming the field. */
static void test_trauma_conflict(void **state)
{
    (void)state;
    struct visit_facts f = plain_visit();
    const char *field = NULL;

    f.trauma = TRI_FALSE;
    f.trauma_third_party = TRI_TRUE; /* liable for no trauma */
    assert_non_null(
        strstr(flags_conflict(&f, &field), "a third party is liable only for a trauma"));
    assert_string_equal(field, "trauma.present");
    f.trauma_third_party = TRI_FALSE; /* none liable, for no trauma: said, harmless */
    assert_null(flags_conflict(&f, &field));
    f.trauma_commitment_signed = true; /* a trauma's commitment for none */
    assert_non_null(strstr(flags_conflict(&f, &field), "the commitment is for a trauma"));
    assert_string_equal(field, "trauma.present");
    f.trauma = TRI_TRUE; /* the commitment (no third party) and no third party: consistent */
    assert_null(flags_conflict(&f, &field));
    f.trauma_third_party = TRI_TRUE; /* the commitment beside a liable third party */
    assert_non_null(strstr(flags_conflict(&f, &field), "correct the one that is wrong"));
    assert_string_equal(field, "trauma.commitment_signed");
    f.trauma_commitment_signed = false; /* a liable third party alone: consistent */
    assert_null(flags_conflict(&f, &field));
}

static void test_trauma_suggested_by_diagnosis(void **state)
{
    (void)state;
    static const char *const injury[] = {"J18.9", "S72.001"}; /* pneumonia, femur fracture */
    static const char *const illness[] = {"J18.9", "I21.0"};
    struct visit_facts f = plain_visit();
    struct visit_flags vf;

    /* the HIS said nothing: a chapter S diagnosis suggests trauma, with a warning */
    f.diagnoses = injury;
    f.n_diagnoses = 2;
    vf = tag(&f);
    assert_true(has_warning(&vf, "TRAUMA_SUGGESTED"));
    const struct flag *t = visit_flags_get(&vf, FLAG_TRAUMA);
    if (t != NULL && t->value)
        assert_int_equal(t->source, FLAG_FROM_RULE); /* a suggestion is the rule's */
    for (size_t i = 0; i < vf.n_warnings; i++)
        assert_true(vf.warnings[i].message != NULL && strlen(vf.warnings[i].message) > 0);

    /* the HIS said explicitly no trauma: no suggestion */
    f.trauma = TRI_FALSE;
    vf = tag(&f);
    assert_false(has_warning(&vf, "TRAUMA_SUGGESTED"));
    assert_false(is_set(&vf, FLAG_TRAUMA));

    /* the HIS confirmed it: the HIS's flag, nothing to suggest */
    f.trauma = TRI_TRUE;
    vf = tag(&f);
    assert_false(has_warning(&vf, "TRAUMA_SUGGESTED"));
    expect_flag(&vf, FLAG_TRAUMA, FLAG_FROM_HIS);

    /* no injury diagnosis: nothing */
    f.trauma = TRI_UNSET;
    f.diagnoses = illness;
    vf = tag(&f);
    assert_false(has_warning(&vf, "TRAUMA_SUGGESTED"));
    assert_false(is_set(&vf, FLAG_TRAUMA));

    /* chapter T too */
    static const char *const poisoning[] = {"T51.0"};
    f.diagnoses = poisoning;
    f.n_diagnoses = 1;
    vf = tag(&f);
    assert_true(has_warning(&vf, "TRAUMA_SUGGESTED"));
}

static void test_referral_and_cross_province(void **state)
{
    (void)state;
    struct visit_facts f = plain_visit();
    struct visit_flags vf;

    f.referral = true;
    vf = tag(&f);
    expect_flag(&vf, FLAG_REFERRAL, FLAG_FROM_HIS);
    assert_false(is_set(&vf, FLAG_CROSS_PROVINCE));

    /* Shanghai (31) insured in a Wuxi (32) hospital */
    f = plain_visit();
    f.insured_admdvs = "310000";
    vf = tag(&f);
    expect_flag(&vf, FLAG_CROSS_PROVINCE, FLAG_FROM_RULE);

    /* Suzhou (320500) in Wuxi (320200): same province, other city */
    f.insured_admdvs = "320500";
    vf = tag(&f);
    assert_false(is_set(&vf, FLAG_CROSS_PROVINCE));
}

struct province_case {
    const char *insured, *hospital;
    bool cross;
};

/* clang-format off */
static const struct province_case province_cases[] = {
    {"320200", "320200", false},
    {"320583", "320200", false}, /* both 32: Jiangsu */
    {"310000", "320200", true},  /* 31 Shanghai vs 32 Jiangsu */
    {"110000", "120000", true},  /* Beijing vs Tianjin */
    {"230100", "320100", true},  /* 23 vs 32: same digits, other order */
};
/* clang-format on */

static void test_is_cross_province(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof province_cases / sizeof province_cases[0]; i++) {
        const struct province_case *c = &province_cases[i];
        if (flags_is_cross_province(c->insured, c->hospital) != c->cross) {
            print_error("%s vs %s: want %d\n", c->insured, c->hospital, c->cross);
            fail();
        }
    }
}

struct icd_case {
    const char *code;
    bool injury;
};

/* clang-format off */
static const struct icd_case icd_cases[] = {
    {"S00", true},  {"S06.0", true}, {"S72.001", true}, {"T14.9", true}, {"T98", true},
    {"T98.3", true}, {"J18.9", false}, {"A00", false}, {"R51", false}, {"U07.1", false},
    {"", false},     {"V01", false},  /* chapter XX: external causes, not the injury */
};
/* clang-format on */

static void test_is_injury_diagnosis(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof icd_cases / sizeof icd_cases[0]; i++) {
        if (flags_is_injury_diagnosis(icd_cases[i].code) != icd_cases[i].injury) {
            print_error("\"%s\": want %d\n", icd_cases[i].code, icd_cases[i].injury);
            fail();
        }
    }
}

static void test_tag_refuses_bad_input(void **state)
{
    (void)state;
    static const char *const bad_regions[] = {"32020", "3202000", "32020a", "", "３２０２００"};
    struct visit_flags vf, untouched;

    memset(&vf, 0x5a, sizeof vf);
    untouched = vf;
    for (size_t i = 0; i < sizeof bad_regions / sizeof bad_regions[0]; i++) {
        struct visit_facts f = plain_visit();
        f.insured_admdvs = bad_regions[i];
        assert_int_equal(flags_tag_visit(&f, &CONFIG, &vf), POSA_EFIELD);
        f = plain_visit();
        f.hospital_admdvs = bad_regions[i];
        assert_int_equal(flags_tag_visit(&f, &CONFIG, &vf), POSA_EFIELD);
    }

    /* BOUND_DIAGNOSES accepted, one more refused */
    const char *many[BOUND_DIAGNOSES + 1];
    for (size_t i = 0; i <= BOUND_DIAGNOSES; i++)
        many[i] = "J18.9";
    struct visit_facts f = plain_visit();
    f.diagnoses = many;
    f.n_diagnoses = BOUND_DIAGNOSES + 1;
    assert_int_equal(flags_tag_visit(&f, &CONFIG, &vf), POSA_ETOOLONG);
    assert_memory_equal(&vf, &untouched, sizeof vf);
    f.n_diagnoses = BOUND_DIAGNOSES;
    assert_int_equal(flags_tag_visit(&f, &CONFIG, &vf), 0);
}

static void test_outside(void **state)
{
    (void)state;
    struct outside_line ok = {OUTSIDE_EXAM, "H32020000002", "F-2025-0001"};
    struct outside_line no_inst = {OUTSIDE_PHARMACY, NULL, "F-2025-0001"};
    struct outside_line empty_inst = {OUTSIDE_TREATMENT, "", "F-2025-0001"};
    struct outside_line no_form = {OUTSIDE_EXAM, "H32020000002", NULL};
    struct outside_line empty_form = {OUTSIDE_EXAM, "H32020000002", ""};
    struct flag fl, untouched;

    memset(&fl, 0x5a, sizeof fl);
    untouched = fl;
    assert_int_equal(flags_tag_outside(VISIT_OUTPATIENT, &ok, &fl), POSA_EOUTSIDE);
    assert_int_equal(flags_tag_outside(VISIT_INPATIENT, &no_inst, &fl), POSA_EFIELD);
    assert_int_equal(flags_tag_outside(VISIT_INPATIENT, &empty_inst, &fl), POSA_EFIELD);
    assert_int_equal(flags_tag_outside(VISIT_INPATIENT, &no_form, &fl), POSA_EFIELD);
    assert_int_equal(flags_tag_outside(VISIT_INPATIENT, &empty_form, &fl), POSA_EFIELD);
    assert_memory_equal(&fl, &untouched, sizeof fl);

    assert_int_equal(flags_tag_outside(VISIT_INPATIENT, &ok, &fl), 0);
    assert_int_equal(fl.id, FLAG_OUTSIDE);
    assert_true(fl.value);
    assert_non_null(fl.reason);
    assert_true(strlen(fl.reason) > 0);
}

struct audit_case {
    enum visit_kind kind;
    int64_t total_fen;
    bool audit;
};

/* clang-format off */
static const struct audit_case audit_cases[] = {
    {VISIT_INPATIENT, 2999999, false},  /* 29,999.99 */
    {VISIT_INPATIENT, 3000000, true},   /* 30,000.00: "or more" */
    {VISIT_INPATIENT, 3000001, true},
    {VISIT_INPATIENT, 123456789, true},
    {VISIT_INPATIENT, 0, false},
    {VISIT_INPATIENT, -3000000, false}, /* a refund is no audit */
    {VISIT_OUTPATIENT, 3000000, false}, /* never on outpatient */
    {VISIT_OUTPATIENT, 500000000, false},
};
/* clang-format on */

static void test_audit_30k(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof audit_cases / sizeof audit_cases[0]; i++) {
        const struct audit_case *c = &audit_cases[i];
        struct flag fl;
        memset(&fl, 0, sizeof fl);
        bool got = flags_is_audit_30k(c->kind, c->total_fen, &fl);
        if (got != c->audit) {
            print_error("audit_30k(%s, %lld): got %d\n",
                        c->kind == VISIT_INPATIENT ? "inpatient" : "outpatient",
                        (long long)c->total_fen, got);
            fail();
        }
        if (got) {
            assert_int_equal(fl.id, FLAG_AUDIT_30K);
            assert_true(fl.value);
            assert_int_equal(fl.source, FLAG_FROM_RULE);
            /* §58's duty, not §39's 3-day upload, which every stay has. */
            assert_non_null(strstr(fl.reason, "26th of the next month"));
        }
    }
}

static void test_flag_names(void **state)
{
    (void)state;
    assert_string_equal(flag_name(FLAG_EMERGENCY), "emergency");
    assert_string_equal(flag_name(FLAG_TRAUMA), "trauma");
    assert_string_equal(flag_name(FLAG_REFERRAL), "referral");
    assert_string_equal(flag_name(FLAG_AUDIT_30K), "audit_30k");
    assert_string_equal(flag_name(FLAG_OUTSIDE), "outside");
    for (int a = 0; a < FLAG__MAX; a++) {
        assert_non_null(flag_name((enum flag_id)a));
        for (int b = a + 1; b < FLAG__MAX; b++)
            assert_string_not_equal(flag_name((enum flag_id)a), flag_name((enum flag_id)b));
    }
}

/* The stored names of a visit's kind, both ways; anything else read back is outpatient. */
static void test_visit_kind_names(void **state)
{
    (void)state;
    assert_string_equal(visit_kind_name(VISIT_INPATIENT), "inpatient");
    assert_string_equal(visit_kind_name(VISIT_OUTPATIENT), "outpatient");
    assert_int_equal(visit_kind_named("inpatient"), VISIT_INPATIENT);
    assert_int_equal(visit_kind_named("outpatient"), VISIT_OUTPATIENT);
    assert_int_equal(visit_kind_named("Inpatient"), VISIT_OUTPATIENT);
    assert_int_equal(visit_kind_named(""), VISIT_OUTPATIENT);
    assert_int_equal(visit_kind_named(NULL), VISIT_OUTPATIENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visit_kind_names),
        cmocka_unit_test(test_plain_visit_has_no_flags),
        cmocka_unit_test(test_emergency),
        cmocka_unit_test(test_trauma),
        cmocka_unit_test(test_med_type),
        cmocka_unit_test(test_trauma_conflict),
        cmocka_unit_test(test_trauma_suggested_by_diagnosis),
        cmocka_unit_test(test_referral_and_cross_province),
        cmocka_unit_test(test_is_cross_province),
        cmocka_unit_test(test_is_injury_diagnosis),
        cmocka_unit_test(test_tag_refuses_bad_input),
        cmocka_unit_test(test_outside),
        cmocka_unit_test(test_audit_30k),
        cmocka_unit_test(test_flag_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
