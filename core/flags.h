/* Visit flags tagged from the HIS's facts and the rules of his-api.md ("Visit flags"): each
 * flag records its value, where it came from (the HIS or a rule) and why, in words a cashier
 * can read. Reasons and rule names are static strings. */
#ifndef POSA_CORE_FLAGS_H
#define POSA_CORE_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum visit_kind { VISIT_OUTPATIENT, VISIT_INPATIENT };

enum flag_id {
    FLAG_EMERGENCY,
    FLAG_TRAUMA,
    FLAG_THIRD_PARTY,
    FLAG_REFERRAL,
    FLAG_CROSS_PROVINCE,
    FLAG_AUDIT_30K,
    FLAG_OUTSIDE,
    FLAG__MAX
};

enum flag_source { FLAG_FROM_HIS, FLAG_FROM_RULE };

struct flag {
    enum flag_id id;
    bool value;
    enum flag_source source;
    const char *rule;   /* NULL when the HIS said so */
    const char *reason;
};

struct flag_warning {
    const char *code;    /* e.g. "TRAUMA_SUGGESTED" */
    const char *message;
};

enum tristate { TRI_UNSET, TRI_FALSE, TRI_TRUE };

struct visit_facts {
    enum visit_kind kind;
    enum tristate emergency;       /* what the HIS said, if anything */
    bool referral;
    const char *dept_code;
    enum tristate trauma;          /* HIS: trauma present? */
    enum tristate trauma_third_party; /* HIS: a third party liable? unset: not stated */
    const char *med_type;             /* the visit's national med_type (13, 24: emergency; 22:
                                       * a trauma stay), which the platform reads as such */
    bool trauma_commitment_signed;
    const char *const *diagnoses;  /* ICD-10 codes */
    size_t n_diagnoses;
    const char *insured_admdvs;    /* 6-digit region codes */
    const char *hospital_admdvs;
};

struct flag_config {
    const char *const *emergency_depts;
    size_t n_emergency_depts;
};

#define FLAGS_MAX FLAG__MAX
#define FLAG_WARNINGS_MAX 4

struct visit_flags {
    struct flag flags[FLAGS_MAX];
    size_t n;
    struct flag_warning warnings[FLAG_WARNINGS_MAX];
    size_t n_warnings;
};

/* Why what the HIS said contradicts itself, or NULL; *ret_field the field to correct. The
 * visit's med_type against emergency or trauma false (the platform would apply the one,
 * posad's flags and statement the other); a third party, or the commitment that there is
 * none, for no trauma; the commitment beside a liable third party (the fund pays the one
 * nothing, and everything under the other). */
const char *flags_conflict(const struct visit_facts *facts, const char **ret_field);

/* Tags a visit's flags. POSA_EFIELD when a region code is not 6 digits, POSA_ETOOLONG when
 * there are more than BOUND_DIAGNOSES diagnoses. ret written only on success. */
int flags_tag_visit(const struct visit_facts *facts, const struct flag_config *config,
                    struct visit_flags *ret);

/* The flag with id, or NULL if it was not tagged. */
const struct flag *visit_flags_get(const struct visit_flags *flags, enum flag_id id);

/* Cross-province: the first two digits (the province) differ. */
bool flags_is_cross_province(const char *insured_admdvs, const char *hospital_admdvs);

/* ICD-10 chapter XIX (S00-T98: injury, poisoning): suggests trauma. */
bool flags_is_injury_diagnosis(const char *icd10);

enum outside_kind { OUTSIDE_EXAM, OUTSIDE_TREATMENT, OUTSIDE_PHARMACY };

struct outside_line {
    enum outside_kind kind;
    const char *institution_code; /* the outside institution; required */
    const char *form_ref;         /* the stamped form (annex 12); required */
};

/* Checks an outside exam/treatment/purchase line: only on inpatient visits (POSA_EOUTSIDE),
 * with an institution code and a form reference (POSA_EFIELD). On success *ret is the
 * line's outside flag. */
int flags_tag_outside(enum visit_kind kind, const struct outside_line *line,
                      struct flag *ret);

/* audit_30k: an inpatient total of 30,000.00 or more. false on outpatient. */
bool flags_is_audit_30k(enum visit_kind kind, int64_t total_fen, struct flag *ret);

/* Stable names for the API: "emergency", "trauma", ... */
const char *flag_name(enum flag_id id);
/* A visit's kind as posad stores and shows it: "inpatient" or "outpatient"; and back (a stored
 * name other than "inpatient" is outpatient). */
const char *visit_kind_name(enum visit_kind kind);
enum visit_kind visit_kind_named(const char *name);

#endif
