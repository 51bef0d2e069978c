/* Parsing of the HIS's fee lines into core's fee_line, bounded and exact. */
#include "interface/json/fee_lines.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"

/* enum outside_kind's names, as the HIS writes them; NULL-terminated for the error's choices. */
static const char *const outside_kinds[] = {[OUTSIDE_EXAM] = "exam",
                                            [OUTSIDE_TREATMENT] = "treatment",
                                            [OUTSIDE_PHARMACY] = "pharmacy",
                                            NULL};

static int outside_parse(struct json_object *obj, struct his_fee_line *line,
                         struct jsonmap_error *err)
{
    struct json_object *o = NULL;
    const char *kind = NULL;
    int rc, k = 0;

    static const char *const keys[] = {"institution_code", "kind", "form_ref", NULL};

    if (!json_object_object_get_ex(obj, "outside", &o) || json_object_is_type(o, json_type_null))
        return 0;
    if (!json_object_is_type(o, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "outside");
    if ((rc = jsonmap_only_keys(o, keys, err)) < 0 ||
        (rc = jsonmap_get_string(o, "institution_code", BOUND_CODE, true,
                                 &line->outside.institution_code, err)) < 0 ||
        (rc = jsonmap_get_string(o, "kind", BOUND_CODE, true, &kind, err)) < 0 ||
        (rc = jsonmap_get_string(o, "form_ref", BOUND_CODE, true, &line->outside.form_ref,
                                 err)) < 0)
        return jsonmap_nest(err, "outside");
    /* Empty is none: named here, where the path is known (core refused the line as a whole). */
    if (!line->outside.institution_code[0])
        return jsonmap_fail(err, POSA_EFIELD, "outside", "institution_code");
    if (!line->outside.form_ref[0])
        return jsonmap_fail(err, POSA_EFIELD, "outside", "form_ref");
    if ((rc = jsonmap_choice(kind, outside_kinds, "outside", "kind", &k, err)) < 0)
        return rc;
    line->outside.kind = (enum outside_kind)k;
    line->has_outside = true;
    return 0;
}

static int time_check(const char *time, struct jsonmap_error *err)
{
    int64_t t;

    if (time && datetime_parse(time, strlen(time), &t) < 0)
        return jsonmap_fail(err, POSA_EDATE, NULL, "time");
    return 0;
}

/* A line's qty, price or amount: a value too large to hold is out of range, as one past
 * its bound is (fee_line_out_of_range), not "too large to compute". */
static int line_decimal(struct json_object *obj, const char *key, int scale, bool required,
                        int64_t *ret, struct jsonmap_error *err)
{
    int rc = jsonmap_get_decimal_string(obj, key, scale, required, ret, err);

    if (rc == POSA_EOVERFLOW && err)
        err->err = POSA_ERANGE;
    return rc == POSA_EOVERFLOW ? POSA_ERANGE : rc;
}

/* One line; err->field is relative to the line. */
static int line_parse(struct json_object *obj, struct his_fee_line *line,
                      struct jsonmap_error *err)
{
    int rc;

    static const char *const keys[] = {"his_line_id", "list_code", "hosp_code", "name", "qty",
                                       "price", "amount", "time", "dept_code", "doctor_code",
                                       "outside", "discharge_med", NULL};

    if (!json_object_is_type(obj, json_type_object))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "");
    if ((rc = jsonmap_only_keys(obj, keys, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "his_line_id", BOUND_CODE, true, &line->his_line_id, err)) <
            0 ||
        (rc = jsonmap_get_string(obj, "list_code", BOUND_CODE, true, &line->fee.list_code, err)) <
            0 ||
        (rc = jsonmap_get_string(obj, "hosp_code", BOUND_CODE, true, &line->hosp_code, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "name", BOUND_NAME, true, &line->name, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "time", BOUND_CODE, true, &line->time, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "dept_code", BOUND_CODE, false, &line->dept_code, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "doctor_code", BOUND_CODE, false, &line->doctor_code, err)) <
            0 ||
        (rc = line_decimal(obj, "qty", DEC_QTY, false, &line->fee.qty_e4, err)) < 0 ||
        (rc = line_decimal(obj, "price", DEC_PRICE, false, &line->fee.price_e6, err)) < 0 ||
        (rc = line_decimal(obj, "amount", DEC_MONEY, true, &line->fee.amount_fen, err)) < 0 ||
        (rc = jsonmap_get_bool(obj, "discharge_med", false, &line->discharge_med, err)) < 0 ||
        (rc = time_check(line->time, err)) < 0 || (rc = outside_parse(obj, line, err)) < 0)
        return rc;
    /* Required and not empty: the national upload (2204/2301) needs each of them. */
    if (!line->his_line_id[0] || !line->fee.list_code[0] || !line->hosp_code[0] || !line->name[0])
        return jsonmap_fail(err, POSA_EFIELD, NULL,
                            !line->his_line_id[0]     ? "his_line_id"
                            : !line->fee.list_code[0] ? "list_code"
                            : !line->hosp_code[0]     ? "hosp_code"
                                                      : "name");
    /* The HIS takes lines back with fees/cancel: a line here is never a refund. */
    if (line->fee.qty_e4 <= 0)
        return jsonmap_fail(err, POSA_ENOTPOSITIVE, NULL, "qty");
    if (line->fee.price_e6 < 0 || line->fee.amount_fen < 0)
        return jsonmap_fail(err, POSA_ENEGATIVE, NULL, line->fee.price_e6 < 0 ? "price" : "amount");
    return 0;
}

static int lines_parse(struct json_object *array, size_t max_lines, struct fee_lines *out,
                       struct jsonmap_error *err)
{
    size_t n = json_object_array_length(array);
    struct json_object *seen;
    char prefix[32];
    int rc = 0;

    if (n == 0)
        return jsonmap_fail(err, POSA_EFIELD, NULL, "lines");
    if (n > max_lines || n > BOUND_LINES)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, "lines");
    out->lines = calloc(n, sizeof out->lines[0]);
    if (!out->lines)
        return -ENOMEM;
    if (!(seen = json_object_new_object()))
        return -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((rc = line_parse(json_object_array_get_idx(array, i), &out->lines[i], err)) == 0 &&
            json_object_object_get_ex(seen, out->lines[i].his_line_id, NULL))
            rc = jsonmap_fail(err, POSA_EDUPLICATE, NULL, "his_line_id");
        if (rc < 0) {
            str_index(prefix, sizeof prefix, "lines", i);
            rc = jsonmap_nest(err, prefix);
        } else {
            json_object_object_add(seen, out->lines[i].his_line_id, NULL);
        }
    }
    json_object_put(seen);
    if (rc < 0)
        return rc;
    out->n = n;
    return 0;
}

/* The string fields of a line, each a pointer into the document until own_strings. */
static const char **line_strings(struct his_fee_line *l, size_t i)
{
    const char **fields[] = {&l->his_line_id,    &l->hosp_code,   &l->name,
                             &l->time,           &l->dept_code,   &l->doctor_code,
                             &l->fee.list_code,  &l->outside.institution_code,
                             &l->outside.form_ref};

    return i < sizeof fields / sizeof fields[0] ? fields[i] : NULL;
}

/* Copies the lines' strings into one block of their own, so that the document can go at
 * once: freed on the thread that built it, while it is still in that CPU's cache, instead of
 * cold when the upload ends, several round trips later. */
static int own_strings(struct fee_lines *out)
{
    const char **f;
    size_t total = 0;
    char *at;

    for (size_t i = 0; i < out->n; i++)
        for (size_t k = 0; (f = line_strings(&out->lines[i], k)); k++)
            total += *f ? strlen(*f) + 1 : 0;
    if (!(out->strings = at = malloc(total ? total : 1)))
        return -ENOMEM;
    for (size_t i = 0; i < out->n; i++) {
        for (size_t k = 0; (f = line_strings(&out->lines[i], k)); k++) {
            if (*f) {
                size_t n = strlen(*f) + 1;

                memcpy(at, *f, n);
                *f = at;
                at += n;
            }
        }
    }
    return 0;
}

int fee_lines_parse(const char *text, size_t len, size_t max_lines, struct fee_lines *ret,
                    struct jsonmap_error *err)
{
    static const char *const keys[] = {"lines", NULL};
    struct fee_lines out = {0};
    struct json_object *root = NULL, *array = NULL;
    int rc;

    if ((rc = jsonmap_parse_request(text, len, &root, err)) < 0)
        return rc;
    if (!json_object_object_get_ex(root, "lines", &array) ||
        !json_object_is_type(array, json_type_array))
        rc = jsonmap_fail(err, POSA_EFIELD, NULL, "lines");
    else if ((rc = jsonmap_only_keys(root, keys, err)) == 0 && /* as every other body */
             (rc = lines_parse(array, max_lines, &out, err)) == 0)
        rc = own_strings(&out);
    json_object_put(root);
    if (rc < 0) {
        fee_lines_done(&out);
        return rc;
    }
    *ret = out;
    return 0;
}

void fee_lines_done(struct fee_lines *lines)
{
    if (!lines)
        return;
    free(lines->lines);
    free(lines->strings);
    *lines = (struct fee_lines){0};
}
