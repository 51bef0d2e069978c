/* Insured regions' policies from JSON, checked as they are read. */
#include "interface/json/policy_json.h"

#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"

static struct json_object *member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static bool is_insutype(const char *s)
{
    return strlen(s) == 3 && strspn(s, "0123456789") == 3;
}

static int rate_map(struct json_object *o, struct region_rate *r, struct jsonmap_error *err)
{
    const char *kind = NULL, *level = NULL;
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "");
    if ((rc = jsonmap_get_string(o, "insutype", 3, true, &r->insutype, err)) < 0 ||
        (rc = jsonmap_get_string(o, "kind", 16, true, &kind, err)) < 0 ||
        (rc = jsonmap_get_string(o, "level", 1, true, &level, err)) < 0 ||
        (rc = jsonmap_get_decimal(o, "deductible", DEC_MONEY, true, &r->deductible_fen, err)) < 0 ||
        (rc = jsonmap_get_decimal(o, "ratio", DEC_RATIO, true, &r->ratio_e6, err)) < 0 ||
        (rc = jsonmap_get_decimal(o, "cap", DEC_MONEY, true, &r->cap_fen, err)) < 0)
        return rc;
    if (!is_insutype(r->insutype))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "insutype");
    if (strcmp(kind, "inpatient") != 0 && strcmp(kind, "outpatient") != 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "kind");
    if (!(level[0] == '*' || (level[0] >= '1' && level[0] <= '3')))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "level");
    if (r->deductible_fen < 0 || r->deductible_fen > BOUND_MONEY_FEN)
        return jsonmap_fail(err, POSA_ERANGE, NULL, "deductible");
    if (r->ratio_e6 < 0 || r->ratio_e6 > DEC_E6)
        return jsonmap_fail(err, POSA_ERANGE, NULL, "ratio");
    if (r->cap_fen < 0 || r->cap_fen > BOUND_MONEY_FEN)
        return jsonmap_fail(err, POSA_ERANGE, NULL, "cap");
    r->inpatient = strcmp(kind, "inpatient") == 0;
    r->level = level[0];
    return 0;
}

/* {"reduce_points": N} or {"share_first": "0.20"}; absent: no reduction. */
static int temp_rule_map(struct json_object *temp, const char *key, struct temp_rule *rule,
                         struct jsonmap_error *err)
{
    struct json_object *o = member(temp, key);
    int rc;

    *rule = (struct temp_rule){TEMP_REDUCE_POINTS, 0};
    if (!o)
        return 0;
    if (!json_object_is_type(o, json_type_object) ||
        (member(o, "reduce_points") && member(o, "share_first")))
        return jsonmap_fail(err, POSA_EFIELD, NULL, key); /* one of the two, in an object */
    if (member(o, "share_first")) {
        rule->mode = TEMP_SHARE_FIRST;
        rc = jsonmap_get_decimal(o, "share_first", DEC_RATIO, true, &rule->value_e6, err);
    } else {
        /* Points are percent: 10 points = 0.10, so points at scale 4 are the ratio at 6. */
        rc = jsonmap_get_decimal(o, "reduce_points", DEC_QTY, false, &rule->value_e6, err);
    }
    if (rc == 0 && (rule->value_e6 < 0 || rule->value_e6 > DEC_E6))
        rc = jsonmap_fail(err, POSA_ERANGE, NULL,
                          rule->mode == TEMP_SHARE_FIRST ? "share_first" : "reduce_points");
    return rc < 0 ? jsonmap_nest(err, key) : 0;
}

/* {"referral": rule, "emergency": rule, "other": rule}; a kind absent: no reduction. */
static int temp_rules_map(struct json_object *o, struct temp_rules *rules,
                          struct jsonmap_error *err)
{
    static const char *const keys[] = {"referral", "emergency", "other", NULL};
    int rc;

    if (!json_object_is_type(o, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "");
    if ((rc = jsonmap_only_keys(o, keys, err)) < 0 ||
        (rc = temp_rule_map(o, "referral", &rules->referral, err)) < 0 ||
        (rc = temp_rule_map(o, "emergency", &rules->emergency, err)) < 0 ||
        (rc = temp_rule_map(o, "other", &rules->other, err)) < 0)
        return rc;
    return 0;
}

/* {"310": rules, ...}: the insurance types with rules of their own, each whole (a kind it
 * leaves out has no reduction, as in "temporary"). */
static int temporary_for_map(struct json_object *o, struct region_policy *p,
                             struct jsonmap_error *err)
{
    if (!json_object_is_type(o, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "");
    json_object_object_foreach(o, insutype, rules)
    {
        struct insutype_rules *r;

        if (p->n_temporary_for == BOUND_INSUTYPE_RULES)
            return jsonmap_fail(err, POSA_ETOOLONG, NULL, "");
        r = &p->temporary_for[p->n_temporary_for];
        if (!is_insutype(insutype))
            return jsonmap_fail(err, POSA_EFIELD, NULL, insutype);
        memcpy(r->insutype, insutype, sizeof r->insutype);
        if (temp_rules_map(rules, &r->rules, err) < 0)
            return jsonmap_nest(err, insutype);
        p->n_temporary_for++;
    }
    return 0;
}

static int deductible_per_map(struct json_object *o, struct region_policy *p,
                              struct jsonmap_error *err)
{
    struct json_object *d = member(o, "deductible_per");
    const char *in = "admission", *out = "year";
    int rc;

    p->inpatient_deductible_per_year = false;
    p->outpatient_deductible_per_year = true;
    if (!d)
        return 0;
    if (!json_object_is_type(d, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "");
    if ((rc = jsonmap_get_string(d, "inpatient", 16, false, &in, err)) < 0 ||
        (rc = jsonmap_get_string(d, "outpatient", 16, false, &out, err)) < 0)
        return rc;
    if (strcmp(in, "admission") != 0 && strcmp(in, "year") != 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "inpatient");
    if (strcmp(out, "visit") != 0 && strcmp(out, "year") != 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "outpatient");
    p->inpatient_deductible_per_year = strcmp(in, "year") == 0;
    p->outpatient_deductible_per_year = strcmp(out, "year") == 0;
    return 0;
}

int policy_json_region(struct json_object *obj, struct region_rate *rates, size_t cap,
                       struct region_policy *ret, const char **ret_name,
                       struct jsonmap_error *err)
{
    static const char *const keys[] = {
        "name", "rates", "deductible_per", "temporary", "temporary_by_insutype", NULL};
    struct json_object *list, *temp;
    char prefix[32];
    size_t n;
    int rc;

    *ret_name = "";
    if (!json_object_is_type(obj, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "");
    if ((rc = jsonmap_only_keys(obj, keys, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "name", BOUND_NAME, false, ret_name, err)) < 0)
        return rc;
    if (!(list = member(obj, "rates")) || !json_object_is_type(list, json_type_array))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "rates");
    if ((n = json_object_array_length(list)) > cap)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, "rates");
    for (size_t i = 0; i < n; i++) {
        if ((rc = rate_map(json_object_array_get_idx(list, i), &rates[i], err)) < 0) {
            str_index(prefix, sizeof prefix, "rates", i);
            return jsonmap_nest(err, prefix);
        }
    }
    ret->rates = rates;
    ret->n_rates = n;
    if ((rc = deductible_per_map(obj, ret, err)) < 0)
        return jsonmap_nest(err, "deductible_per");
    memset(&ret->temporary, 0, sizeof ret->temporary); /* no reduction */
    ret->n_temporary_for = 0;
    if ((temp = member(obj, "temporary")) && temp_rules_map(temp, &ret->temporary, err) < 0)
        return jsonmap_nest(err, "temporary");
    if ((temp = member(obj, "temporary_by_insutype")) && temporary_for_map(temp, ret, err) < 0)
        return jsonmap_nest(err, "temporary_by_insutype");
    return 0;
}
