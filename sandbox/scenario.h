/* The scenario (sandbox.md, "Scenario file"): the hospital, the treating region's catalog,
 * the insured regions' policies and the persons with their filings, loaded from one JSON
 * file and validated. Strings are borrowed from the parsed document the scenario keeps. */
#ifndef POSA_SANDBOX_SCENARIO_H
#define POSA_SANDBOX_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/bound.h"
#include "core/policy.h"
#include "core/split.h"

#define SCENARIO_PERSONS_MAX 100000
#define SCENARIO_CATALOG_MAX 200000
#define SCENARIO_REGIONS_MAX 512

struct sc_region {
    const char *code; /* 6 digits */
    const char *name;
    struct region_rate rates[BOUND_RATES];
    struct region_policy policy;
};

#define SC_INSURANCE_MAX 4 /* insurance rows of one person (1101 insuinfo[]) */

struct sc_insurance {
    const char *insutype;
    const char *insuplc_admdvs;
};

struct sc_person {
    const char *psn_no;
    const char *certno;
    const char *name;
    const char *gender;    /* "1" / "2" / "9" */
    const char *birthday;  /* "YYYY-MM-DD" */
    int32_t birthday_date; /* yyyymmdd */
    const char *insutype;  /* the first insurance row's (the account's) */
    const char *insuplc_admdvs;
    /* Every row: the first, then the scenario's "more_insurance" (one per insutype). A
     * visit is of one of them, and settles by its region. */
    struct sc_insurance insurance[SC_INSURANCE_MAX];
    size_t n_insurance;
    const char *psn_type;
    int64_t balance;     /* the scenario's opening balance of the account */
    const char *card_no; /* "" when the person has no card */
    const char *card_sn;
    /* The scenario's filings, then those the admin endpoint added; revoked ones removed. */
    struct filing filings[BOUND_FILINGS];
    size_t n_filings;
};

struct scenario {
    struct json_object *root;
    const char *treating_region;
    const char *inst_code;
    const char *inst_name;
    char inst_level; /* '1'..'3' */
    struct catalog_item *items;
    size_t n_items;
    struct catalog_index catalog;
    struct sc_region *regions;
    size_t n_regions;
    struct sc_person *persons;
    size_t n_persons;
};

/* Loads and validates path. On failure ret_msg (cap bytes) says what is wrong and where: on
 * POSA_EFIELD by the JSON path of the bad field ("persons[2].filings[0].valid_from: not a
 * date"; the caller names the file), otherwise it starts with the file's path, and a line
 * and column where the text stops being JSON or UTF-8 ("s.json:41:7: not valid JSON ..."). */
int scenario_load(const char *path, struct scenario *ret, char *ret_msg, size_t cap);
void scenario_done(struct scenario *sc);

const struct sc_region *scenario_region(const struct scenario *sc, const char *code);
struct sc_person *scenario_person(struct scenario *sc, const char *psn_no);
struct sc_person *scenario_person_by_certno(struct scenario *sc, const char *certno);
struct sc_person *scenario_person_by_card(struct scenario *sc, const char *card_no);

/* The person's filings as they count: a commitment filing lasts 15 days at most (policy.md,
 * Wuxi 2025). Writes at most BOUND_FILINGS into out; returns how many. */
size_t scenario_effective_filings(const struct sc_person *p, struct filing *out);

/* The insured region of p's insurance of insutype, or NULL when p has none of that type. */
const char *scenario_person_region(const struct sc_person *p, const char *insutype);
/* Whether p is insured in region (one of p's rows). */
bool scenario_person_in_region(const struct sc_person *p, const char *region);
/* Local: insured (region) in the treating region itself; no filing is needed. */
bool scenario_is_local(const struct scenario *sc, const char *region);

#endif
