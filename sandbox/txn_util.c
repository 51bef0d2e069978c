/* Helpers of the transaction handlers: reading the input with refusals that name the field,
 * finding the person and the visit, new ids, and writing exact outputs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"
#include "sandbox/txn.h"

int txn_refuse(struct txn *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
    return -1;
}

int txn_ledger_error(struct txn *t, int rc)
{
    return txn_refuse(t, "the platform's ledger failed (%d); nothing was recorded", rc);
}

static struct json_object *member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

struct json_object *txn_node(struct txn *t, const char *key)
{
    struct json_object *v = member(t->env->input, key);

    if (v && json_object_is_type(v, json_type_array) && json_object_array_length(v) == 1)
        v = json_object_array_get_idx(v, 0);
    if (!v || !json_object_is_type(v, json_type_object)) {
        txn_refuse(t, "input.%s is missing or not an object", key);
        return NULL;
    }
    return v;
}

struct json_object *txn_array(struct txn *t, const char *key, size_t max)
{
    struct json_object *v = member(t->env->input, key);
    size_t n;

    if (v && json_object_is_type(v, json_type_object))
        return v; /* one object stands for a list of one; callers use txn_array_get */
    if (!v || !json_object_is_type(v, json_type_array)) {
        txn_refuse(t, "input.%s is missing or not a list", key);
        return NULL;
    }
    n = json_object_array_length(v);
    if (n == 0 || n > max) {
        txn_refuse(t, "input.%s must have 1 to %zu entries, not %zu", key, max, n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_object)) {
            txn_refuse(t, "input.%s[%zu] is not an object", key, i);
            return NULL;
        }
    }
    return v;
}

int txn_str(struct txn *t, struct json_object *obj, const char *where, const char *key, size_t max,
            bool required, const char **ret)
{
    struct json_object *v = member(obj, key);
    const char *s;

    if (!v || (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0)) {
        if (required)
            return txn_refuse(t, "%s.%s is required", where, key);
        *ret = "";
        return 0;
    }
    if (!json_object_is_type(v, json_type_string) && !json_object_is_type(v, json_type_int))
        return txn_refuse(t, "%s.%s must be a string", where, key);
    s = json_object_get_string(v);
    if (strlen(s) > max)
        return txn_refuse(t, "%s.%s is longer than %zu characters", where, key, max);
    if (json_object_is_type(v, json_type_string) &&
        strlen(s) != (size_t)json_object_get_string_len(v))
        return txn_refuse(t, "%s.%s contains a NUL character", where, key);
    *ret = s;
    return 0;
}

int txn_dec(struct txn *t, struct json_object *obj, const char *where, const char *key, int scale,
            bool required, int64_t *ret)
{
    struct json_object *v = member(obj, key);
    int rc;

    if (!v || (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0)) {
        if (required)
            return txn_refuse(t, "%s.%s is required", where, key);
        return 0;
    }
    rc = jsonmap_decimal(v, scale, ret);
    if (rc < 0)
        return txn_refuse(t, "%s.%s is not an amount with at most %d decimals: %.40s (%s)", where,
                          key, scale, json_object_get_string(v), posa_strerror(rc));
    return 0;
}

int txn_time(struct txn *t, struct json_object *obj, const char *where, const char *key,
             int64_t dflt, int64_t *ret)
{
    const char *s;
    int32_t date;

    if (txn_str(t, obj, where, key, DATETIME_TIME_LEN, false, &s) < 0)
        return -1;
    if (!s[0]) {
        *ret = dflt;
        return 0;
    }
    if (strlen(s) == DATETIME_DATE_LEN && date_parse(s, DATETIME_DATE_LEN, &date) == 0) {
        *ret = (int64_t)date * 1000000;
        return 0;
    }
    if (datetime_parse(s, strlen(s), ret) < 0)
        return txn_refuse(t, "%s.%s is not a time yyyy-MM-dd HH:mm:ss: %s", where, key, s);
    return 0;
}

int txn_person(struct txn *t, const char *psn_no, struct sc_person **ret)
{
    struct sc_person *p = scenario_person(&t->sb->scenario, psn_no);

    if (!p)
        return txn_refuse(t, "no insured person with psn_no %s", psn_no);
    if (!scenario_person_in_region(p, t->env->head.insuplc_admdvs))
        return txn_refuse(t, "insuplc_admdvs must be the person's insured region %s, not '%s'",
                          p->insuplc_admdvs, t->env->head.insuplc_admdvs);
    str_copy(t->msg->psn_no, sizeof(t->msg->psn_no), p->psn_no);
    *ret = p;
    return 0;
}

int txn_visit(struct txn *t, const char *mdtrt_id, const struct sc_person *p, bool inpatient,
              struct ledger_visit *ret)
{
    int rc = ledger_visit_get(t->sb->ledger, mdtrt_id, ret);

    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0)
        return txn_refuse(t, "no visit with mdtrt_id %s", mdtrt_id);
    if (strcmp(ret->psn_no, p->psn_no) != 0)
        return txn_refuse(t, "visit %s is not psn_no %s's", mdtrt_id, p->psn_no);
    if (ret->inpatient != inpatient)
        return txn_refuse(t, "visit %s is %s, not %s", mdtrt_id,
                          ret->inpatient ? "a hospital stay" : "an outpatient visit",
                          inpatient ? "a hospital stay" : "an outpatient visit");
    if (strcmp(ret->state, "cancelled") == 0)
        return txn_refuse(t, "visit %s was cancelled", mdtrt_id);
    str_copy(t->msg->mdtrt_id, sizeof(t->msg->mdtrt_id), mdtrt_id);
    return 0;
}

int txn_new_id(struct txn *t, const char *counter, const char *prefix, char *buf, size_t cap)
{
    int64_t seq;
    int rc = ledger_next_seq(t->sb->ledger, counter, &seq);

    if (rc < 0)
        return txn_ledger_error(t, rc);
    snprintf(buf, cap, "%s%s%08lld%08lld", prefix, t->sb->scenario.treating_region,
             (long long)(t->now / 1000000), (long long)seq);
    return 0;
}

void out_str(struct json_object *obj, const char *key, const char *value)
{
    json_object_object_add(obj, key, value ? json_object_new_string(value) : NULL);
}

void out_money(struct json_object *obj, const char *key, int64_t fen)
{
    json_object_object_add(obj, key, envelope_json_decimal(fen, DEC_MONEY));
}

void out_dec(struct json_object *obj, const char *key, int64_t value, int scale)
{
    json_object_object_add(obj, key, envelope_json_decimal(value, scale));
}

void out_time(struct json_object *obj, const char *key, int64_t time)
{
    char buf[DATETIME_TIME_LEN + 1];

    if (!time) {
        json_object_object_add(obj, key, NULL);
        return;
    }
    datetime_format(time, buf);
    out_str(obj, key, buf);
}

void out_date(struct json_object *obj, const char *key, int32_t date)
{
    char buf[DATETIME_DATE_LEN + 1];

    if (!date) {
        json_object_object_add(obj, key, NULL);
        return;
    }
    date_format(date, buf);
    out_str(obj, key, buf);
}

size_t txn_list_len(struct json_object *list)
{
    return json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 1;
}

struct json_object *txn_list_get(struct json_object *list, size_t i)
{
    return json_object_is_type(list, json_type_array) ? json_object_array_get_idx(list, i) : list;
}

struct json_object *out_filings(const struct sc_person *p)
{
    struct json_object *arr = json_object_new_array();
    struct filing eff[BOUND_FILINGS];
    size_t n = scenario_effective_filings(p, eff);

    for (size_t i = 0; i < n; i++) {
        struct json_object *f = json_object_new_object();

        out_str(f, "kind", filing_kind_name(eff[i].kind));
        out_date(f, "valid_from", eff[i].valid_from);
        out_date(f, "valid_to", eff[i].valid_to);
        json_object_array_add(arr, f);
    }
    return arr;
}
