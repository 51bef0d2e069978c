/* Flag rules of a visit and its lines (his-api.md "Visit flags"), each with its reason. */
#include "core/flags.h"

#include <string.h>

#include "core/bound.h"
#include "core/err.h"

#define AUDIT_THRESHOLD_FEN 3000000 /* 30,000.00 */

static const char *const flag_names[FLAG__MAX] = {
    [FLAG_EMERGENCY] = "emergency",       [FLAG_TRAUMA] = "trauma",
    [FLAG_THIRD_PARTY] = "third_party",   [FLAG_REFERRAL] = "referral",
    [FLAG_CROSS_PROVINCE] = "cross_province", [FLAG_AUDIT_30K] = "audit_30k",
    [FLAG_OUTSIDE] = "outside",
};

const char *flag_name(enum flag_id id)
{
    return (unsigned)id < FLAG__MAX ? flag_names[id] : "unknown";
}

const char *visit_kind_name(enum visit_kind kind)
{
    return kind == VISIT_INPATIENT ? "inpatient" : "outpatient";
}

enum visit_kind visit_kind_named(const char *name)
{
    return name && strcmp(name, "inpatient") == 0 ? VISIT_INPATIENT : VISIT_OUTPATIENT;
}

static bool is_region_code(const char *code)
{
    if (!code || strlen(code) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        if (code[i] < '0' || code[i] > '9')
            return false;
    return true;
}

bool flags_is_cross_province(const char *insured_admdvs, const char *hospital_admdvs)
{
    return insured_admdvs[0] != hospital_admdvs[0] || insured_admdvs[1] != hospital_admdvs[1];
}

bool flags_is_injury_diagnosis(const char *icd10)
{
    /* Chapter XIX is S00-T98; allow a leading blank-free upper or lower case letter. */
    return icd10 && (icd10[0] == 'S' || icd10[0] == 'T' || icd10[0] == 's' || icd10[0] == 't') &&
           icd10[1] >= '0' && icd10[1] <= '9';
}

static void add_flag(struct visit_flags *f, enum flag_id id, bool value, enum flag_source source,
                     const char *rule, const char *reason)
{
    f->flags[f->n++] = (struct flag){id, value, source, rule, reason};
}

static void add_warning(struct visit_flags *f, const char *code, const char *message)
{
    if (f->n_warnings < FLAG_WARNINGS_MAX)
        f->warnings[f->n_warnings++] = (struct flag_warning){code, message};
}

static bool dept_is_emergency(const struct flag_config *config, const char *dept)
{
    if (!config || !dept)
        return false;
    for (size_t i = 0; i < config->n_emergency_depts; i++)
        if (strcmp(config->emergency_depts[i], dept) == 0)
            return true;
    return false;
}

/* The national med_types the platform takes as an emergency (13 outpatient emergency, 24
 * emergency admission) and as a trauma stay (22): sandbox.md's value sets. */
static bool med_type_is(const char *med_type, const char *a, const char *b)
{
    return med_type && (strcmp(med_type, a) == 0 || (b && strcmp(med_type, b) == 0));
}
#define MED_TYPE_EMERGENCY(t) med_type_is((t), "13", "24")
#define MED_TYPE_TRAUMA(t)    med_type_is((t), "22", NULL)

const char *flags_conflict(const struct visit_facts *facts, const char **ret_field)
{
    *ret_field = "med_type";
    if (facts->emergency == TRI_FALSE && MED_TYPE_EMERGENCY(facts->med_type))
        return "med_type is an emergency (13, 24) and emergency is false: the platform would "
               "apply the emergency rules; send emergency true, or another med_type";
    if (facts->trauma == TRI_FALSE && MED_TYPE_TRAUMA(facts->med_type))
        return "med_type 22 is a trauma stay and trauma.present is false: the platform would "
               "take it as a trauma; send the trauma (and its third party), or another med_type";
    *ret_field = "trauma.present";
    if (facts->trauma == TRI_FALSE && facts->trauma_third_party == TRI_TRUE)
        return "trauma.present is false and trauma.third_party true: a third party is liable "
               "only for a trauma; send the trauma, or no third_party";
    if (facts->trauma == TRI_FALSE && facts->trauma_commitment_signed)
        return "trauma.present is false and trauma.commitment_signed true: the commitment is "
               "for a trauma; send the trauma, or no commitment_signed";
    *ret_field = "trauma.commitment_signed";
    if (facts->trauma_third_party == TRI_TRUE && facts->trauma_commitment_signed)
        return "trauma.commitment_signed is true (the patient signed that no third party is "
               "liable) and trauma.third_party true (one is): the fund pays everything under the "
               "one and nothing under the other; correct the one that is wrong";
    return NULL;
}

static void tag_emergency(const struct visit_facts *facts, const struct flag_config *config,
                          struct visit_flags *f)
{
    if (facts->emergency == TRI_TRUE)
        add_flag(f, FLAG_EMERGENCY, true, FLAG_FROM_HIS, NULL, "the HIS marked the visit as an emergency");
    else if (facts->emergency == TRI_UNSET && MED_TYPE_EMERGENCY(facts->med_type))
        add_flag(f, FLAG_EMERGENCY, true, FLAG_FROM_RULE, "med_type_emergency",
                 "the visit's med_type is an emergency (13, 24), which the platform applies");
    else if (facts->emergency == TRI_UNSET && dept_is_emergency(config, facts->dept_code))
        add_flag(f, FLAG_EMERGENCY, true, FLAG_FROM_RULE, "emergency_department",
                 "the department is one of the configured emergency departments");
}

static const char *first_injury(const struct visit_facts *facts)
{
    for (size_t i = 0; i < facts->n_diagnoses; i++)
        if (flags_is_injury_diagnosis(facts->diagnoses[i]))
            return facts->diagnoses[i];
    return NULL;
}

static void tag_trauma(const struct visit_facts *facts, struct visit_flags *f)
{
    bool by_med_type = facts->trauma == TRI_UNSET && MED_TYPE_TRAUMA(facts->med_type);

    if (facts->trauma == TRI_TRUE || by_med_type) {
        if (by_med_type)
            add_flag(f, FLAG_TRAUMA, true, FLAG_FROM_RULE, "med_type_trauma",
                     "the visit's med_type 22 is a trauma stay, which the platform applies");
        else
            add_flag(f, FLAG_TRAUMA, true, FLAG_FROM_HIS, NULL, "the HIS reported a trauma");
        if (facts->trauma_third_party == TRI_TRUE) {
            add_flag(f, FLAG_THIRD_PARTY, true, FLAG_FROM_HIS, NULL,
                     "a third party is liable: the fund pays nothing for this trauma");
        } else {
            /* Not stated: taken as none (the fund pays), said as posad's, to be confirmed. */
            bool stated = facts->trauma_third_party == TRI_FALSE;

            add_flag(f, FLAG_THIRD_PARTY, false, stated ? FLAG_FROM_HIS : FLAG_FROM_RULE,
                     stated ? NULL : "third_party_unstated",
                     "no third party is liable: the fund pays under the commitment of annex 11");
            if (!stated)
                add_warning(f, "THIRD_PARTY_UNSTATED",
                            "the trauma's third party was not stated: taken as none, so the fund "
                            "pays; confirm with the patient (trauma.third_party)");
            if (!facts->trauma_commitment_signed)
                add_warning(f, "TRAUMA_COMMITMENT_MISSING",
                            "trauma without a third party needs the signed commitment form");
        }
    } else if (facts->trauma == TRI_UNSET && first_injury(facts)) {
        /* A suggestion only: the flag stays false until the HIS confirms. */
        add_flag(f, FLAG_TRAUMA, false, FLAG_FROM_RULE, "icd10_injury_chapter",
                 "a diagnosis is an injury (ICD-10 S00-T98): confirm whether this is a trauma");
        add_warning(f, "TRAUMA_SUGGESTED",
                    "an injury diagnosis suggests a trauma: confirm trauma and third party");
    }
}

int flags_tag_visit(const struct visit_facts *facts, const struct flag_config *config,
                    struct visit_flags *ret)
{
    struct visit_flags f = {0};
    bool cross;

    if (!is_region_code(facts->insured_admdvs) || !is_region_code(facts->hospital_admdvs))
        return POSA_EFIELD;
    if (facts->n_diagnoses > BOUND_DIAGNOSES)
        return POSA_ETOOLONG;
    cross = flags_is_cross_province(facts->insured_admdvs, facts->hospital_admdvs);
    add_flag(&f, FLAG_CROSS_PROVINCE, cross, FLAG_FROM_RULE, "insured_region",
             cross ? "the insured region is in another province"
                   : "the insured region is in the hospital's province");
    tag_emergency(facts, config, &f);
    tag_trauma(facts, &f);
    if (facts->referral)
        add_flag(&f, FLAG_REFERRAL, true, FLAG_FROM_HIS, NULL, "the HIS reported a referral");
    *ret = f;
    return 0;
}

const struct flag *visit_flags_get(const struct visit_flags *flags, enum flag_id id)
{
    for (size_t i = 0; i < flags->n; i++)
        if (flags->flags[i].id == id)
            return &flags->flags[i];
    return NULL;
}

int flags_tag_outside(enum visit_kind kind, const struct outside_line *line, struct flag *ret)
{
    static const char *const reasons[] = {
        [OUTSIDE_EXAM] = "outside examination during the stay (annex 12 form)",
        [OUTSIDE_TREATMENT] = "outside treatment during the stay (annex 12 form)",
        [OUTSIDE_PHARMACY] = "outside pharmacy purchase during the stay (annex 12 form)",
    };

    if (kind != VISIT_INPATIENT)
        return POSA_EOUTSIDE;
    if ((unsigned)line->kind > OUTSIDE_PHARMACY || !line->institution_code ||
        !line->institution_code[0] || !line->form_ref || !line->form_ref[0])
        return POSA_EFIELD;
    *ret = (struct flag){FLAG_OUTSIDE, true, FLAG_FROM_HIS, NULL, reasons[line->kind]};
    return 0;
}

bool flags_is_audit_30k(enum visit_kind kind, int64_t total_fen, struct flag *ret)
{
    if (kind != VISIT_INPATIENT || total_fen < AUDIT_THRESHOLD_FEN)
        return false;
    if (ret)
        *ret = (struct flag){FLAG_AUDIT_30K, true, FLAG_FROM_RULE, "inpatient_total_30k",
                             "inpatient total of 30,000.00 or more: the platform may ask for an "
                             "investigation, answered by the 26th of the next month (§58)"};
    return true;
}
