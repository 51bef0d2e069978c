/* Loading and validating the scenario file; every error names the JSON path of the field. */
#include "sandbox/scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/utf8.h"
#include "interface/json/catalog_json.h"
#include "interface/json/jsonmap.h"
#include "interface/json/policy_json.h"

#define SCENARIO_FILE_MAX (64u << 20)
#define COMMITMENT_DAYS   15
#define SCENARIO_DEPTH    64

/* Every object's fields (sandbox.md, "Scenario file", and sandbox/scenarios/README.md). */
static const char *const TOP_KEYS[] = {"treating_region", "institution", "catalog", "regions",
                                       "persons",         "gateway",     NULL};
static const char *const INSTITUTION_KEYS[] = {"code", "name", "level", NULL};
static const char *const CATALOG_KEYS[] = {
    "list_code", "name", "chrgitm_lv", "med_chrgitm_type", "selfpay_prop", "price_limit", NULL};
static const char *const RATE_KEYS[] = {"insutype", "kind", "level", "deductible",
                                        "ratio",    "cap",  NULL};
static const char *const DEDUCTIBLE_PER_KEYS[] = {"inpatient", "outpatient", NULL};
static const char *const RULE_KEYS[] = {"reduce_points", "share_first", NULL};
static const char *const PERSON_KEYS[] = {
    "psn_no",   "certno",  "name", "gender",  "birthday",       "insutype", "insuplc_admdvs",
    "psn_type", "balance", "card", "filings", "more_insurance", NULL};
static const char *const CARD_KEYS[] = {"card_no", "card_sn", NULL};
static const char *const FILING_KEYS[] = {"kind", "valid_from", "valid_to", NULL};
static const char *const INSURANCE_KEYS[] = {"insutype", "insuplc_admdvs", NULL};

/* The parse state: where we are (the JSON path) and the first error. */
struct loader {
    char path[160];
    char *msg;
    size_t cap;
};

static int fail(struct loader *ld, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, const char *field, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(ld->msg, ld->cap, "%s%s%s: %s", ld->path, ld->path[0] && field[0] ? "." : "", field,
             what);
    return POSA_EFIELD;
}

static struct json_object *member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

/* Refuses a key not in allowed, naming the keys the object takes: a misspelt field must not
 * silently mean "absent" and start the sandbox on defaults its author did not mean. */
static int only_keys(struct loader *ld, struct json_object *obj, const char *const *allowed)
{
    struct jsonmap_error err = {0};
    char list[200] = "";
    size_t len = 0;

    if (jsonmap_only_keys(obj, allowed, &err) == 0)
        return 0;
    for (const char *const *a = allowed; *a && len < sizeof(list); a++)
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "", *a);
    return fail(ld, err.field, "unknown field (the object takes %s)", list);
}

/* A required (or optional, then "" / def) string of at most max bytes. */
static int get_str(struct loader *ld, struct json_object *obj, const char *key, size_t max,
                   bool required, const char **ret)
{
    struct json_object *v = member(obj, key);
    size_t len;

    if (!v) {
        if (required)
            return fail(ld, key, "missing");
        *ret = "";
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return fail(ld, key, "must be a string");
    len = (size_t)json_object_get_string_len(v);
    if (len > max || strlen(json_object_get_string(v)) != len)
        return fail(ld, key, "too long or contains NUL (at most %zu bytes)", max);
    *ret = json_object_get_string(v);
    return 0;
}

static int get_dec(struct loader *ld, struct json_object *obj, const char *key, int scale,
                   bool required, int64_t *ret)
{
    struct json_object *v = member(obj, key);

    if (!v) {
        if (required)
            return fail(ld, key, "missing");
        return 0;
    }
    if (jsonmap_decimal(v, scale, ret) < 0)
        return fail(ld, key, "not a decimal with at most %d decimals: %s", scale,
                    json_object_get_string(v));
    return 0;
}

static bool all_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int get_date(struct loader *ld, struct json_object *obj, const char *key, bool nullable,
                    int32_t *ret)
{
    const char *text;
    int rc = get_str(ld, obj, key, DATETIME_DATE_LEN, !nullable, &text);

    if (rc < 0)
        return rc;
    if (nullable && !text[0]) {
        *ret = 0;
        return 0;
    }
    if (date_parse(text, strlen(text), ret) < 0)
        return fail(ld, key, "not a date YYYY-MM-DD: %s", text);
    return 0;
}

static void path_push(struct loader *ld, size_t *mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void path_push(struct loader *ld, size_t *mark, const char *fmt, ...)
{
    size_t len = strlen(ld->path);
    va_list ap;

    *mark = len;
    if (len && fmt[0] != '[' && len + 1 < sizeof(ld->path))
        ld->path[len++] = '.';
    va_start(ap, fmt);
    vsnprintf(ld->path + len, sizeof(ld->path) - len, fmt, ap);
    va_end(ap);
}

static void path_pop(struct loader *ld, size_t mark)
{
    ld->path[mark] = '\0';
}

/* only_keys for each object of arr (a JSON array named name; anything else is let through:
 * the reader of its contents names what is wrong). The catalog's items and the rates are
 * checked here because their readers (interface/json) also read rows of other origins, the
 * platform's 1312 or posad's [policy] file, which carry fields of their own. */
static int only_keys_each(struct loader *ld, struct json_object *arr, const char *name,
                          const char *const *allowed)
{
    size_t mark;
    int rc;

    for (size_t i = 0; json_object_is_type(arr, json_type_array) &&
                       i < json_object_array_length(arr);
         i++) {
        struct json_object *item = json_object_array_get_idx(arr, i);

        if (!json_object_is_type(item, json_type_object))
            continue;
        path_push(ld, &mark, "%s[%zu]", name, i);
        if ((rc = only_keys(ld, item, allowed)) < 0)
            return rc;
        path_pop(ld, mark);
    }
    return 0;
}

static struct json_object *get_array(struct loader *ld, struct json_object *obj, const char *key,
                                     size_t max, bool required)
{
    struct json_object *v = member(obj, key);

    if (!v) {
        if (required)
            fail(ld, key, "missing");
        return NULL;
    }
    if (!json_object_is_type(v, json_type_array)) {
        fail(ld, key, "must be an array");
        return NULL;
    }
    if (json_object_array_length(v) > max) {
        fail(ld, key, "more than %zu entries", max);
        return NULL;
    }
    return v;
}

/* --- catalog ------------------------------------------------------------------------- */

/* The catalog is read by interface/json (the same mapping posa-split uses). */
static int load_catalog(struct loader *ld, struct scenario *sc)
{
    struct json_object *arr = get_array(ld, sc->root, "catalog", SCENARIO_CATALOG_MAX, true);
    struct jsonmap_error err = {0};
    size_t bad = 0;
    int rc;

    if (!arr)
        return POSA_EFIELD;
    if ((rc = only_keys_each(ld, arr, "catalog", CATALOG_KEYS)) < 0)
        return rc;
    if ((rc = catalog_json_append(arr, &catalog_keys_scenario, 0, &sc->items, &sc->n_items, NULL,
                                  &err)) < 0)
        return fail(ld, err.field, "%s", posa_strerror(err.err));
    rc = catalog_index_init(&sc->catalog, sc->items, sc->n_items, &bad);
    /* The index sorts the items, then stops at the second of two equal codes. */
    if (rc < 0 && bad > 0 && strcmp(sc->items[bad - 1].list_code, sc->items[bad].list_code) == 0)
        return fail(ld, "catalog", "duplicate list_code %s", sc->items[bad].list_code);
    if (rc < 0)
        return fail(ld, "catalog", "item %s: %s", sc->items[bad].list_code, posa_strerror(rc));
    return 0;
}

/* --- regions ------------------------------------------------------------------------- */

/* One temporary rule, {"reduce_points": N} or {"share_first": "0.20"}: exactly one of the
 * two ({} would silently mean no reduction). Other shapes are policy_json's to name. */
static int check_temp_rule(struct loader *ld, struct json_object *rules, const char *kind)
{
    struct json_object *rule = member(rules, kind);
    size_t mark;
    int rc;

    if (!rule || !json_object_is_type(rule, json_type_object))
        return 0;
    path_push(ld, &mark, "%s", kind);
    if ((rc = only_keys(ld, rule, RULE_KEYS)) < 0)
        return rc;
    if (!member(rule, "reduce_points") == !member(rule, "share_first"))
        return fail(ld, "", "exactly one of reduce_points and share_first is required");
    path_pop(ld, mark);
    return 0;
}

/* {"referral": rule, "emergency": rule, "other": rule}; other kinds policy_json refuses. */
static int check_temp_rules(struct loader *ld, struct json_object *rules)
{
    static const char *const kinds[] = {"referral", "emergency", "other"};
    int rc;

    if (!rules || !json_object_is_type(rules, json_type_object))
        return 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if ((rc = check_temp_rule(ld, rules, kinds[i])) < 0)
            return rc;
    return 0;
}

/* The keys inside a region, checked here: policy_json is also posad's reader of its [policy]
 * file, and checks only the region's own keys and the kinds of a temporary. */
static int check_region_keys(struct loader *ld, struct json_object *o)
{
    struct json_object *deductible_per = member(o, "deductible_per");
    struct json_object *by_insutype = member(o, "temporary_by_insutype");
    size_t mark;
    int rc;

    if ((rc = only_keys_each(ld, member(o, "rates"), "rates", RATE_KEYS)) < 0)
        return rc;
    if (deductible_per && json_object_is_type(deductible_per, json_type_object)) {
        path_push(ld, &mark, "deductible_per");
        if ((rc = only_keys(ld, deductible_per, DEDUCTIBLE_PER_KEYS)) < 0)
            return rc;
        path_pop(ld, mark);
    }
    path_push(ld, &mark, "temporary");
    if ((rc = check_temp_rules(ld, member(o, "temporary"))) < 0)
        return rc;
    path_pop(ld, mark);
    if (!by_insutype || !json_object_is_type(by_insutype, json_type_object))
        return 0;
    json_object_object_foreach(by_insutype, insutype, rules)
    {
        path_push(ld, &mark, "temporary_by_insutype.%s", insutype);
        if ((rc = check_temp_rules(ld, rules)) < 0)
            return rc;
        path_pop(ld, mark);
    }
    return 0;
}

/* Two rows for one insurance type, kind and level: which applies would be a guess. */
static int check_rates_unique(struct loader *ld, const struct sc_region *r)
{
    const struct region_rate *rates = r->policy.rates;
    char field[32];

    for (size_t i = 0; i < r->policy.n_rates; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rates[i].insutype, rates[j].insutype) == 0 &&
                rates[i].inpatient == rates[j].inpatient && rates[i].level == rates[j].level) {
                snprintf(field, sizeof(field), "rates[%zu]", i);
                return fail(ld, field, "the same insutype, kind and level as rates[%zu]", j);
            }
        }
    }
    return 0;
}

/* The region's policy is read by interface/json (the format posad's offline estimate reads
 * too); errors keep the sandbox's path form "regions.320200.rates[0].ratio: ...". */
static int load_region(struct loader *ld, const char *code, struct json_object *o,
                       struct sc_region *r)
{
    struct jsonmap_error err = {0};
    int rc;

    if (!all_digits(code, 6))
        return fail(ld, "", "the region code must be 6 digits");
    r->code = code;
    if (json_object_is_type(o, json_type_object) && (rc = check_region_keys(ld, o)) < 0)
        return rc;
    if (policy_json_region(o, r->rates, BOUND_RATES, &r->policy, &r->name, &err) < 0)
        return fail(ld, err.field, "%s", posa_strerror(err.err));
    return check_rates_unique(ld, r);
}

static int load_regions(struct loader *ld, struct scenario *sc)
{
    struct json_object *regions = member(sc->root, "regions");
    size_t i = 0, mark;
    int rc;

    if (!regions || !json_object_is_type(regions, json_type_object))
        return fail(ld, "regions", "missing or not an object");
    sc->n_regions = (size_t)json_object_object_length(regions);
    if (sc->n_regions > SCENARIO_REGIONS_MAX)
        return fail(ld, "regions", "more than %d regions", SCENARIO_REGIONS_MAX);
    sc->regions = calloc(sc->n_regions ? sc->n_regions : 1, sizeof(*sc->regions));
    if (!sc->regions)
        return fail(ld, "regions", "out of memory");
    json_object_object_foreach(regions, key, val)
    {
        path_push(ld, &mark, "regions.%s", key);
        if ((rc = load_region(ld, key, val, &sc->regions[i++])) < 0)
            return rc;
        path_pop(ld, mark);
    }
    return 0;
}

/* --- persons ------------------------------------------------------------------------- */

static int load_filing(struct loader *ld, struct json_object *o, struct filing *f)
{
    const char *kind;
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return fail(ld, "", "must be an object");
    if ((rc = only_keys(ld, o, FILING_KEYS)) < 0 ||
        (rc = get_str(ld, o, "kind", 32, true, &kind)) < 0)
        return rc;
    if (filing_kind_parse(kind, &f->kind) < 0 || f->kind == FILING_NONE ||
        f->kind == FILING_EMERGENCY)
        return fail(ld, "kind", "must be long_term, referral, temporary_other or commitment: %s",
                    kind);
    if ((rc = get_date(ld, o, "valid_from", false, &f->valid_from)) < 0 ||
        (rc = get_date(ld, o, "valid_to", true, &f->valid_to)) < 0)
        return rc;
    if (f->valid_to && f->valid_to < f->valid_from)
        return fail(ld, "valid_to", "before valid_from");
    return 0;
}

static int load_card(struct loader *ld, struct json_object *o, struct sc_person *p)
{
    struct json_object *card = member(o, "card");
    size_t mark;
    int rc;

    p->card_no = p->card_sn = "";
    if (!card)
        return 0;
    path_push(ld, &mark, "card");
    if (!json_object_is_type(card, json_type_object))
        return fail(ld, "", "must be an object");
    if ((rc = only_keys(ld, card, CARD_KEYS)) < 0 ||
        (rc = get_str(ld, card, "card_no", BOUND_CODE, true, &p->card_no)) < 0 ||
        (rc = get_str(ld, card, "card_sn", BOUND_CODE, true, &p->card_sn)) < 0)
        return rc;
    path_pop(ld, mark);
    return 0;
}

static int load_person_fields(struct loader *ld, struct json_object *o, struct sc_person *p)
{
    int rc;

    if ((rc = get_str(ld, o, "psn_no", BOUND_CODE, true, &p->psn_no)) < 0 ||
        (rc = get_str(ld, o, "certno", BOUND_CODE, true, &p->certno)) < 0 ||
        (rc = get_str(ld, o, "name", BOUND_NAME, true, &p->name)) < 0 ||
        (rc = get_str(ld, o, "gender", 1, false, &p->gender)) < 0 ||
        (rc = get_str(ld, o, "birthday", DATETIME_DATE_LEN, true, &p->birthday)) < 0 ||
        (rc = get_str(ld, o, "insutype", 3, true, &p->insutype)) < 0 ||
        (rc = get_str(ld, o, "insuplc_admdvs", 6, true, &p->insuplc_admdvs)) < 0 ||
        (rc = get_str(ld, o, "psn_type", BOUND_CODE, false, &p->psn_type)) < 0)
        return rc;
    if (!p->psn_no[0])
        return fail(ld, "psn_no", "empty");
    if (!p->certno[0])
        return fail(ld, "certno", "empty");
    if (date_parse(p->birthday, strlen(p->birthday), &p->birthday_date) < 0)
        return fail(ld, "birthday", "not a date YYYY-MM-DD: %s", p->birthday);
    if (!all_digits(p->insutype, 3))
        return fail(ld, "insutype", "must be 3 digits");
    if (!all_digits(p->insuplc_admdvs, 6))
        return fail(ld, "insuplc_admdvs", "must be 6 digits");
    if (!p->gender[0])
        p->gender = "9";
    p->balance = 0;
    if ((rc = get_dec(ld, o, "balance", DEC_MONEY, false, &p->balance)) < 0)
        return rc;
    if (p->balance < 0 || p->balance > BOUND_MONEY_FEN)
        return fail(ld, "balance", "out of range");
    return load_card(ld, o, p);
}

/* "more_insurance": [{"insutype", "insuplc_admdvs"}]: rows after the person's own. */
static int load_more_insurance(struct loader *ld, struct scenario *sc, struct json_object *o,
                               struct sc_person *p)
{
    struct json_object *more = get_array(ld, o, "more_insurance", SC_INSURANCE_MAX - 1, false);
    size_t mark;
    int rc;

    if (!more && ld->msg[0])
        return POSA_EFIELD;
    p->insurance[0] = (struct sc_insurance){p->insutype, p->insuplc_admdvs};
    p->n_insurance = 1;
    for (size_t i = 0; more && i < json_object_array_length(more); i++) {
        struct json_object *row = json_object_array_get_idx(more, i);
        struct sc_insurance *ins = &p->insurance[p->n_insurance];

        path_push(ld, &mark, "more_insurance[%zu]", i);
        if (!json_object_is_type(row, json_type_object))
            return fail(ld, "", "must be an object");
        if ((rc = only_keys(ld, row, INSURANCE_KEYS)) < 0 ||
            (rc = get_str(ld, row, "insutype", 3, true, &ins->insutype)) < 0 ||
            (rc = get_str(ld, row, "insuplc_admdvs", 6, true, &ins->insuplc_admdvs)) < 0)
            return rc;
        if (!all_digits(ins->insutype, 3) || scenario_person_region(p, ins->insutype))
            return fail(ld, "insutype", "must be 3 digits, and not a type the person has");
        if (!all_digits(ins->insuplc_admdvs, 6) || !scenario_region(sc, ins->insuplc_admdvs))
            return fail(ld, "insuplc_admdvs", "must be a region in regions");
        p->n_insurance++;
        path_pop(ld, mark);
    }
    return 0;
}

static int load_person(struct loader *ld, struct scenario *sc, struct json_object *o,
                       struct sc_person *p)
{
    struct json_object *filings;
    size_t mark;
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return fail(ld, "", "must be an object");
    if ((rc = only_keys(ld, o, PERSON_KEYS)) < 0 || (rc = load_person_fields(ld, o, p)) < 0)
        return rc;
    if (!scenario_region(sc, p->insuplc_admdvs))
        return fail(ld, "insuplc_admdvs", "region %s is not in regions", p->insuplc_admdvs);
    if ((rc = load_more_insurance(ld, sc, o, p)) < 0)
        return rc;
    filings = get_array(ld, o, "filings", BOUND_FILINGS, false);
    if (!filings && ld->msg[0])
        return POSA_EFIELD;
    p->n_filings = filings ? json_object_array_length(filings) : 0;
    for (size_t i = 0; i < p->n_filings; i++) {
        path_push(ld, &mark, "filings[%zu]", i);
        if ((rc = load_filing(ld, json_object_array_get_idx(filings, i), &p->filings[i])) < 0)
            return rc;
        path_pop(ld, mark);
    }
    return 0;
}

static int load_persons(struct loader *ld, struct scenario *sc)
{
    struct json_object *arr = get_array(ld, sc->root, "persons", SCENARIO_PERSONS_MAX, true);
    size_t n, mark;
    int rc;

    if (!arr)
        return POSA_EFIELD;
    n = json_object_array_length(arr);
    sc->persons = calloc(n ? n : 1, sizeof(*sc->persons));
    if (!sc->persons)
        return fail(ld, "persons", "out of memory");
    for (size_t i = 0; i < n; i++) {
        path_push(ld, &mark, "persons[%zu]", i);
        if ((rc = load_person(ld, sc, json_object_array_get_idx(arr, i), &sc->persons[i])) < 0)
            return rc;
        sc->n_persons = i; /* lookups below see the persons before this one */
        if (scenario_person(sc, sc->persons[i].psn_no))
            return fail(ld, "psn_no", "duplicate %s", sc->persons[i].psn_no);
        if (scenario_person_by_certno(sc, sc->persons[i].certno))
            return fail(ld, "certno", "duplicate");
        if (sc->persons[i].card_no[0] && scenario_person_by_card(sc, sc->persons[i].card_no))
            return fail(ld, "card.card_no", "duplicate");
        path_pop(ld, mark);
    }
    sc->n_persons = n;
    return 0;
}

/* --- the document -------------------------------------------------------------------- */

static int load_head(struct loader *ld, struct scenario *sc)
{
    struct json_object *inst = member(sc->root, "institution");
    const char *level;
    size_t mark;
    int rc;

    if ((rc = only_keys(ld, sc->root, TOP_KEYS)) < 0 ||
        (rc = get_str(ld, sc->root, "treating_region", 6, true, &sc->treating_region)) < 0)
        return rc;
    if (!all_digits(sc->treating_region, 6))
        return fail(ld, "treating_region", "must be 6 digits");
    if (!inst || !json_object_is_type(inst, json_type_object))
        return fail(ld, "institution", "missing or not an object");
    path_push(ld, &mark, "institution");
    if ((rc = only_keys(ld, inst, INSTITUTION_KEYS)) < 0 ||
        (rc = get_str(ld, inst, "code", 12, true, &sc->inst_code)) < 0 ||
        (rc = get_str(ld, inst, "name", BOUND_NAME, true, &sc->inst_name)) < 0 ||
        (rc = get_str(ld, inst, "level", 1, true, &level)) < 0)
        return rc;
    if (strlen(sc->inst_code) != 12)
        return fail(ld, "code", "must be 12 characters");
    for (const char *c = sc->inst_code; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')))
            return fail(ld, "code", "must be letters and digits");
    if (level[0] < '1' || level[0] > '3')
        return fail(ld, "level", "must be 1, 2 or 3");
    sc->inst_level = level[0];
    path_pop(ld, mark);
    return 0;
}

static int text_fail(const char *path, const char *text, size_t at, int code, char *msg, size_t cap,
                     const char *what)
{
    size_t line, column;

    jsonmap_locate(text, at, &line, &column);
    snprintf(msg, cap, "%s:%zu:%zu: %s", path, line, column, what);
    return code;
}

/* Whether text[0..len) is one whole JSON value: a strict parse stops at the text after one,
 * and it is that text, not the value, that is wrong. */
static bool whole_value(const char *text, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(SCENARIO_DEPTH);
    struct json_object *root;
    bool whole;

    if (!tok)
        return false;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    whole = root && json_tokener_get_error(tok) == json_tokener_success;
    json_object_put(root);
    json_tokener_free(tok);
    return whole;
}

/* text[0..len) as one JSON object, read as jsonmap_parse reads a request (strict JSON: no
 * comments, trailing commas or single quotes; UTF-8, which json-c passes through unchecked
 * and 1101 would answer) but without its body bound: a scenario may be larger. */
static int parse_text(const char *path, const char *text, size_t len, struct json_object **ret,
                      char *msg, size_t cap)
{
    struct json_tokener *tok;
    struct json_object *root;
    enum json_tokener_error jerr;
    size_t bad, end;

    if (strspn(text, " \t\r\n") == len) {
        snprintf(msg, cap, "%s: empty file (a scenario is one JSON object)", path);
        return POSA_EJSON;
    }
    if (!utf8_is_valid(text, len, &bad))
        return text_fail(path, text, bad, POSA_EUTF8, msg, cap, "not UTF-8");
    if (!(tok = json_tokener_new_ex(SCENARIO_DEPTH)))
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success || end != len) {
        char what[128];

        json_object_put(root);
        if (jerr == json_tokener_continue)
            snprintf(what, sizeof(what), "not valid JSON (the text ends inside it)");
        else if (whole_value(text, end)) /* two documents, or text after one */
            snprintf(what, sizeof(what), "text after the scenario's JSON object");
        else
            snprintf(what, sizeof(what), "not valid JSON (%s)", json_tokener_error_desc(jerr));
        return text_fail(path, text, end, POSA_EJSON, msg, cap, what);
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        snprintf(msg, cap, "%s: the scenario must be a JSON object", path);
        return POSA_EJSON;
    }
    *ret = root;
    return 0;
}

int scenario_load(const char *path, struct scenario *ret, char *ret_msg, size_t cap)
{
    struct loader ld = {.msg = ret_msg, .cap = cap};
    struct scenario sc;
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(&sc, 0, sizeof(sc));
    ret_msg[0] = '\0';
    if ((rc = jsonmap_read_file(path, SCENARIO_FILE_MAX, &text, &len)) < 0) {
        if (rc == POSA_ETOOLONG)
            snprintf(ret_msg, cap, "%s: larger than %u bytes", path, SCENARIO_FILE_MAX);
        else
            snprintf(ret_msg, cap, "%s: %s", path, strerror(-rc));
        return rc;
    }
    rc = parse_text(path, text, len, &sc.root, ret_msg, cap);
    free(text);
    if (rc < 0)
        return rc;
    if ((rc = load_head(&ld, &sc)) == 0 && (rc = load_catalog(&ld, &sc)) == 0 &&
        (rc = load_regions(&ld, &sc)) == 0)
        rc = load_persons(&ld, &sc);
    if (rc < 0) {
        scenario_done(&sc);
        return rc;
    }
    *ret = sc;
    return 0;
}

void scenario_done(struct scenario *sc)
{
    if (!sc)
        return;
    free(sc->items);
    free(sc->regions);
    free(sc->persons);
    json_object_put(sc->root);
    memset(sc, 0, sizeof(*sc));
}

const struct sc_region *scenario_region(const struct scenario *sc, const char *code)
{
    for (size_t i = 0; i < sc->n_regions; i++)
        if (sc->regions[i].code && strcmp(sc->regions[i].code, code) == 0)
            return &sc->regions[i];
    return NULL;
}

struct sc_person *scenario_person(struct scenario *sc, const char *psn_no)
{
    for (size_t i = 0; i < sc->n_persons; i++)
        if (strcmp(sc->persons[i].psn_no, psn_no) == 0)
            return &sc->persons[i];
    return NULL;
}

struct sc_person *scenario_person_by_certno(struct scenario *sc, const char *certno)
{
    for (size_t i = 0; i < sc->n_persons; i++)
        if (strcmp(sc->persons[i].certno, certno) == 0)
            return &sc->persons[i];
    return NULL;
}

struct sc_person *scenario_person_by_card(struct scenario *sc, const char *card_no)
{
    for (size_t i = 0; i < sc->n_persons; i++)
        if (sc->persons[i].card_no[0] && strcmp(sc->persons[i].card_no, card_no) == 0)
            return &sc->persons[i];
    return NULL;
}

size_t scenario_effective_filings(const struct sc_person *p, struct filing *out)
{
    for (size_t i = 0; i < p->n_filings; i++) {
        out[i] = p->filings[i];
        if (out[i].kind == FILING_COMMITMENT) {
            int32_t last = date_add_days(out[i].valid_from, COMMITMENT_DAYS - 1);

            if (out[i].valid_to == 0 || out[i].valid_to > last)
                out[i].valid_to = last;
        }
    }
    return p->n_filings;
}

const char *scenario_person_region(const struct sc_person *p, const char *insutype)
{
    for (size_t i = 0; i < p->n_insurance; i++)
        if (strcmp(p->insurance[i].insutype, insutype) == 0)
            return p->insurance[i].insuplc_admdvs;
    return NULL;
}

bool scenario_person_in_region(const struct sc_person *p, const char *region)
{
    for (size_t i = 0; i < p->n_insurance; i++)
        if (strcmp(p->insurance[i].insuplc_admdvs, region) == 0)
            return true;
    return false;
}

bool scenario_is_local(const struct scenario *sc, const char *region)
{
    return strcmp(sc->treating_region, region) == 0;
}
