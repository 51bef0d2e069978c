/* Parsing and validation of the HIS API's request bodies. */
#include "interface/his/requests.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/str.h"

/* Parses body as a JSON object with only the allowed keys. An empty body is {} when
 * empty_ok. */
static int object_parse(const char *body, size_t len, bool empty_ok, const char *const *allowed,
                        struct json_object **ret, struct jsonmap_error *err)
{
    struct json_object *root;
    int rc;

    if (len == 0 && empty_ok)
        root = json_object_new_object();
    else if ((rc = jsonmap_parse_request(body, len, &root, err)) < 0)
        return rc;
    if (!root)
        return -ENOMEM;
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return jsonmap_fail(err, POSA_EJSON, NULL, "");
    }
    if ((rc = jsonmap_only_keys(root, allowed, err)) < 0) {
        json_object_put(root);
        return rc;
    }
    *ret = root;
    return 0;
}

static int time_field(struct json_object *obj, const char *key, bool required, const char **text,
                      int64_t *value, struct jsonmap_error *err)
{
    /* Read at any length (bounded as every string is): one with a zone or a blank too many
     * is a time in the wrong form, not "too long". */
    int rc = jsonmap_get_string(obj, key, BOUND_STRING, required, text, err);

    if (rc < 0)
        return rc;
    if (*text && datetime_parse(*text, strlen(*text), value) < 0)
        return jsonmap_fail(err, POSA_EDATE, NULL, key);
    return 0;
}

/* An 18-character resident ID number (GB 11643): 17 digits, then the check character of
 * their weighted sum (ISO 7064 MOD 11-2), a digit or X (x taken as X). A typo in any one
 * character changes the check, so it is caught here, not as "no such person" upstream; and
 * the birth date (characters 7 to 14) must be a day of the calendar from 1900 on (a number
 * with month 13 or 30 February passed the check and went to the platform). */
static bool is_certno(const char *s)
{
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char checks[] = "10X98765432";
    int32_t birth = 0;
    int sum = 0;

    if (strlen(s) != 18)
        return false;
    for (int i = 0; i < 17; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        sum += (s[i] - '0') * weights[i];
        if (i >= 6 && i < 14)
            birth = birth * 10 + (s[i] - '0');
    }
    return (s[17] == 'x' ? 'X' : s[17]) == checks[sum % 11] && birth >= 19000101 &&
           date_is_valid(birth);
}

/* Empty, or blanks only: what a field the platform requires must not be. */
static bool blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

int identify_request_parse(const char *body, size_t len, struct identify_request *ret,
                           struct jsonmap_error *err)
{
    static const char *const keys[] = {"desk", "source", "qr", "certno", "psn_name", "wait_ms", NULL};
    static const char *const sources[] = {"card", "qr", "id", "auto", NULL};
    struct identify_request r = {0};
    struct json_object *w;
    const char *source = NULL;
    int64_t wait = 0;
    int rc, src = 0;

    if ((rc = object_parse(body, len, false, keys, &r.root, err)) < 0)
        return rc;
    if ((rc = jsonmap_get_string(r.root, "desk", BOUND_DESK, false, &r.desk, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "source", BOUND_CODE, true, &source, err)) < 0 ||
        (rc = jsonmap_choice(source, sources, NULL, "source", &src, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "qr", BOUND_QR_LINE, false, &r.qr, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "certno", BOUND_CODE, false, &r.certno, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "psn_name", BOUND_NAME, false, &r.psn_name, err)) < 0 ||
        (rc = jsonmap_get_decimal(r.root, "wait_ms", 0, false, &wait, err)) < 0)
        goto out;
    /* Milliseconds are a JSON integer: "5" and 1.0 were taken. */
    if (json_object_object_get_ex(r.root, "wait_ms", &w) &&
        !json_object_is_type(w, json_type_int) && !json_object_is_type(w, json_type_null)) {
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "wait_ms");
        goto out;
    }
    r.source = (enum identify_source)src;
    if (wait < 0 || wait > HIS_WAIT_MS_MAX) {
        rc = jsonmap_fail(err, POSA_ERANGE, NULL, "wait_ms");
        goto out;
    }
    r.wait_ms = (uint32_t)wait;
    if (r.desk && !str_is_desk(r.desk)) /* absent is the caller's to fill; "*" is every desk */
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "desk");
    else if (r.source == IDENTIFY_QR && (!r.qr || !r.qr[0]))
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "qr");
    else if (r.source == IDENTIFY_ID && !r.certno)
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "certno");
    else if (r.source == IDENTIFY_ID && !is_certno(r.certno))
        rc = jsonmap_fail(err, POSA_ECERTNO, NULL, "certno");
    /* card and auto need a desk (whose reader?): the caller knows, it may be the client's */
out:
    if (rc < 0) {
        his_request_done(&r.root);
        return rc;
    }
    *ret = r;
    return 0;
}

static int diagnoses_parse(struct json_object *root, struct visit_request *r,
                           struct jsonmap_error *err)
{
    static const char *const keys[] = {"code", "name", "main", NULL};
    struct json_object *array = NULL;
    char prefix[32];
    size_t n;
    int rc;

    if (!json_object_object_get_ex(root, "diagnoses", &array) ||
        !json_object_is_type(array, json_type_array))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "diagnoses");
    n = json_object_array_length(array);
    if (n == 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "diagnoses");
    if (n > BOUND_DIAGNOSES)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, "diagnoses");
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(array, i);
        struct diagnosis *out = &r->diagnoses[i];

        str_index(prefix, sizeof prefix, "diagnoses", i);
        if (!json_object_is_type(d, json_type_object))
            return jsonmap_fail(err, POSA_EFIELD, prefix, "");
        if ((rc = jsonmap_only_keys(d, keys, err)) < 0 ||
            (rc = jsonmap_get_string(d, "code", BOUND_CODE, true, &out->code, err)) < 0 ||
            (rc = jsonmap_get_string(d, "name", BOUND_NAME, true, &out->name, err)) < 0 ||
            (rc = jsonmap_get_bool(d, "main", false, &out->main, err)) < 0)
            return jsonmap_nest(err, prefix);
        if (!out->code[0])
            return jsonmap_fail(err, POSA_EFIELD, prefix, "code");
        if (!out->name[0]) /* the platform's diag_name */
            return jsonmap_fail(err, POSA_EFIELD, prefix, "name");
        /* One main diagnosis at most (none: the first is), and each code once. */
        for (size_t j = 0; j < i; j++) {
            if (out->main && r->diagnoses[j].main) /* "main appears twice" */
                return jsonmap_fail(err, POSA_EDUPLICATE, prefix, "main");
            if (strcmp(out->code, r->diagnoses[j].code) == 0)
                return jsonmap_fail(err, POSA_EDUPLICATE, prefix, "code");
        }
    }
    r->n_diagnoses = n;
    return 0;
}

static int tristate_get(struct json_object *obj, const char *key, enum tristate *ret,
                        struct jsonmap_error *err)
{
    bool value = false, present = json_object_object_get_ex(obj, key, NULL);
    int rc = jsonmap_get_bool(obj, key, false, &value, err);

    if (rc < 0)
        return rc;
    *ret = !present ? TRI_UNSET : value ? TRI_TRUE : TRI_FALSE;
    return 0;
}

static int trauma_parse(struct json_object *root, struct visit_request *r,
                        struct jsonmap_error *err)
{
    static const char *const keys[] = {"present", "third_party", "commitment_signed", NULL};
    struct json_object *t = NULL;
    int rc;

    if (!json_object_object_get_ex(root, "trauma", &t) || json_object_is_type(t, json_type_null))
        return 0;
    if (!json_object_is_type(t, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "trauma");
    if ((rc = jsonmap_only_keys(t, keys, err)) < 0 ||
        (rc = tristate_get(t, "present", &r->trauma, err)) < 0 ||
        (rc = tristate_get(t, "third_party", &r->trauma_third_party, err)) < 0 ||
        (rc = jsonmap_get_bool(t, "commitment_signed", false, &r->trauma_commitment_signed, err)) <
            0)
        return jsonmap_nest(err, "trauma");
    if (r->trauma == TRI_UNSET)
        return jsonmap_fail(err, POSA_EFIELD, "trauma", "present");
    return 0;
}

/* med_type: digits, the national two (national-interface.md §3: 1x outpatient, 2x inpatient
 * types, which must match the visit's kind) or a province's longer code, taken as it is. */
static bool med_type_fits(const char *t, bool inpatient)
{
    size_t n = strlen(t);

    if (n < 2 || strspn(t, "0123456789") != n)
        return false;
    if (n == 2 && (t[0] == '1' || t[0] == '2'))
        return (t[0] == '2') == inpatient;
    return true;
}

int visit_request_parse(const char *body, size_t len, struct visit_request *ret,
                        struct jsonmap_error *err)
{
    static const char *const keys[] = {
        "identity_token", "kind", "insutype", "med_type", "his_visit_id", "dept_code",
        "dept_name", "doctor_code", "doctor_name", "begin_time", "diagnoses", "emergency",
        "referral", "trauma", NULL};
    static const char *const kinds[] = {"outpatient", "inpatient", NULL};
    struct visit_request r = {0};
    const char *kind = NULL;
    int rc, k = 0;

    if ((rc = object_parse(body, len, false, keys, &r.root, err)) < 0)
        return rc;
    if ((rc = jsonmap_get_string(r.root, "identity_token", BOUND_CODE, true, &r.identity_token,
                                 err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "kind", BOUND_CODE, true, &kind, err)) < 0 ||
        (rc = jsonmap_choice(kind, kinds, NULL, "kind", &k, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "insutype", 3, true, &r.insutype, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "med_type", 6, true, &r.med_type, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "his_visit_id", BOUND_CODE, true, &r.his_visit_id, err)) <
            0 ||
        (rc = jsonmap_get_string(r.root, "dept_code", BOUND_CODE, true, &r.dept_code, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "dept_name", BOUND_NAME, true, &r.dept_name, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "doctor_code", BOUND_CODE, true, &r.doctor_code, err)) <
            0 ||
        (rc = jsonmap_get_string(r.root, "doctor_name", BOUND_NAME, true, &r.doctor_name, err)) <
            0 ||
        (rc = time_field(r.root, "begin_time", true, &r.begin_time, &r.begin, err)) < 0 ||
        (rc = diagnoses_parse(r.root, &r, err)) < 0 ||
        (rc = tristate_get(r.root, "emergency", &r.emergency, err)) < 0 ||
        (rc = jsonmap_get_bool(r.root, "referral", false, &r.referral, err)) < 0 ||
        (rc = trauma_parse(r.root, &r, err)) < 0)
        goto out;
    r.kind = (enum visit_kind)k;
    /* The platform's 2201 requires each of these: empty, it was sent empty (found by
     * review), where an empty fee-line field is refused. */
    const char *empty = blank(r.identity_token) ? "identity_token"
                        : blank(r.his_visit_id) ? "his_visit_id"
                        : blank(r.dept_code)    ? "dept_code"
                        : blank(r.dept_name)    ? "dept_name"
                        : blank(r.doctor_code)  ? "doctor_code"
                        : blank(r.doctor_name)  ? "doctor_name"
                                                : NULL;
    if (strlen(r.insutype) != 3 || empty)
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, strlen(r.insutype) != 3 ? "insutype" : empty);
    else if (!med_type_fits(r.med_type, r.kind == VISIT_INPATIENT))
        rc = jsonmap_fail(err,
                          strlen(r.med_type) == 2 && (r.med_type[0] == '1' || r.med_type[0] == '2')
                              ? POSA_EMEDTYPE
                              : POSA_EFIELD,
                          NULL, "med_type");
out:
    if (rc < 0) {
        his_request_done(&r.root);
        return rc;
    }
    *ret = r;
    return 0;
}

/* Each id a string of 1 to BOUND_CODE bytes without NUL, and each once: a repeated id would
 * count twice against "all of the upload's lines" and cancel an upload half locally. */
static int line_ids_check(struct json_object *ids, struct jsonmap_error *err)
{
    size_t n = json_object_array_length(ids);
    struct json_object *seen;
    char prefix[32];
    int rc = 0;

    if (n == 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "his_line_ids");
    if (n > BOUND_LINES)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, "his_line_ids");
    if (!(seen = json_object_new_object()))
        return -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct json_object *id = json_object_array_get_idx(ids, i);
        const char *s = json_object_get_string(id);
        size_t len = (size_t)json_object_get_string_len(id);

        if (!json_object_is_type(id, json_type_string) || len == 0 || len > BOUND_CODE ||
            strlen(s) != len)
            rc = POSA_EFIELD;
        else if (json_object_object_get_ex(seen, s, NULL))
            rc = POSA_EDUPLICATE;
        else
            json_object_object_add(seen, s, NULL);
        if (rc < 0) {
            str_index(prefix, sizeof prefix, "his_line_ids", i);
            rc = jsonmap_fail(err, rc, prefix, "");
        }
    }
    json_object_put(seen);
    return rc;
}

int fees_cancel_request_parse(const char *body, size_t len, struct fees_cancel_request *ret,
                              struct jsonmap_error *err)
{
    static const char *const keys[] = {"his_line_ids", "all", NULL};
    struct fees_cancel_request r = {0};
    int rc;

    if ((rc = object_parse(body, len, false, keys, &r.root, err)) < 0)
        return rc;
    if ((rc = jsonmap_get_bool(r.root, "all", false, &r.all, err)) < 0)
        goto out;
    json_object_object_get_ex(r.root, "his_line_ids", &r.his_line_ids);
    if (r.all == (r.his_line_ids != NULL)) /* exactly one of the two */
        rc = jsonmap_fail(err, POSA_EONEOF, NULL, "his_line_ids, all");
    else if (r.his_line_ids && !json_object_is_type(r.his_line_ids, json_type_array))
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "his_line_ids");
    else if (r.his_line_ids && (rc = line_ids_check(r.his_line_ids, err)) == 0)
        r.n = json_object_array_length(r.his_line_ids);
out:
    if (rc < 0) {
        his_request_done(&r.root);
        return rc;
    }
    *ret = r;
    return 0;
}

const char *fees_cancel_request_id(const struct fees_cancel_request *req, size_t i)
{
    return json_object_get_string(json_object_array_get_idx(req->his_line_ids, i));
}

static int discharge_parse(struct json_object *root, struct settle_request *r,
                           struct jsonmap_error *err)
{
    static const char *const keys[] = {"time", "reason", NULL};
    struct json_object *d = NULL;
    int rc;

    if (!json_object_object_get_ex(root, "discharge", &d) || json_object_is_type(d, json_type_null))
        return 0;
    if (!json_object_is_type(d, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "discharge");
    if ((rc = jsonmap_only_keys(d, keys, err)) < 0 ||
        (rc = time_field(d, "time", true, &r->discharge_time, &r->discharge, err)) < 0 ||
        (rc = jsonmap_get_string(d, "reason", BOUND_NAME, false, &r->discharge_reason, err)) < 0)
        return jsonmap_nest(err, "discharge");
    r->has_discharge = true;
    return 0;
}

int settle_request_parse(const char *body, size_t len, struct settle_request *ret,
                         struct jsonmap_error *err)
{
    static const char *const keys[] = {"use_account", "discharge", "wait_if_offline", NULL};
    struct settle_request r = {0};
    int rc;

    if ((rc = object_parse(body, len, true, keys, &r.root, err)) < 0)
        return rc;
    if ((rc = jsonmap_get_bool(r.root, "use_account", false, &r.use_account, err)) < 0 ||
        (rc = jsonmap_get_bool(r.root, "wait_if_offline", false, &r.wait_if_offline, err)) < 0 ||
        (rc = discharge_parse(r.root, &r, err)) < 0) {
        his_request_done(&r.root);
        return rc;
    }
    *ret = r;
    return 0;
}

int reconcile_request_parse(const char *body, size_t len, struct reconcile_request *ret,
                            struct jsonmap_error *err)
{
    static const char *const keys[] = {"date", "month", NULL};
    struct reconcile_request r = {0};
    const char *date = NULL, *month = NULL;
    int rc;

    if ((rc = object_parse(body, len, false, keys, &r.root, err)) < 0)
        return rc;
    /* Read at any length (bounded as every string is): "2026-11-01" as a month is a period
     * in the wrong form, not "too long". */
    if ((rc = jsonmap_get_string(r.root, "date", BOUND_STRING, false, &date, err)) < 0 ||
        (rc = jsonmap_get_string(r.root, "month", BOUND_STRING, false, &month, err)) < 0)
        goto fail;
    if (!date == !month) { /* one of them */
        rc = jsonmap_fail(err, POSA_EONEOF, NULL, "date, month");
        goto fail;
    }
    /* A day is a date; a month, only "YYYY-MM" (date_period_parse would take a day too). */
    if ((date && date_parse(date, strlen(date), &r.date) < 0) ||
        (month && (strlen(month) != DATETIME_MONTH_LEN ||
                   date_period_parse(month, strlen(month), &r.date) < 0))) {
        rc = jsonmap_fail(err, POSA_EPERIOD, NULL, date ? "date" : "month");
        goto fail;
    }
    *ret = r;
    return 0;
fail:
    his_request_done(&r.root);
    return rc;
}

int cancel_request_parse(const char *body, size_t len, struct cancel_request *ret,
                         struct jsonmap_error *err)
{
    static const char *const keys[] = {"reason", NULL};
    struct cancel_request r = {0};
    int rc;

    if ((rc = object_parse(body, len, true, keys, &r.root, err)) < 0)
        return rc;
    if ((rc = jsonmap_get_string(r.root, "reason", BOUND_NAME, false, &r.reason, err)) < 0) {
        his_request_done(&r.root);
        return rc;
    }
    *ret = r;
    return 0;
}

int empty_request_parse(const char *body, size_t len, struct jsonmap_error *err)
{
    static const char *const keys[] = {NULL};
    struct json_object *root = NULL;
    int rc = object_parse(body, len, true, keys, &root, err);

    json_object_put(root);
    return rc;
}

void his_request_done(struct json_object **root)
{
    json_object_put(*root);
    *root = NULL;
}
