/* Catalog items from JSON, validated by core's catalog index. */
#include "interface/json/catalog_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"

const struct catalog_json_keys catalog_keys_scenario = {
    "list_code", "name", "chrgitm_lv", "med_chrgitm_type", "selfpay_prop", "price_limit",
    NULL,        NULL,   NULL};
const struct catalog_json_keys catalog_keys_1312 = {
    "hilist_code",           "hilist_name", "chrgitm_lv", "med_chrgitm_type", "selfpay_prop",
    "hilist_pric_uplmt_amt", "vali_flag",   "begndate",   "enddate"};

/* A period's bound: a text that starts "YYYY-MM-DD" (a time or a Java timestamp may follow);
 * any other (absent, null, "", "20200101") is no bound (0): one row's odd date failed the
 * whole download before, leaving a new install without a catalog. */
static int32_t bound_date(struct json_object *obj, const char *key)
{
    struct json_object *v;
    int32_t date = 0;

    if (key && json_object_object_get_ex(obj, key, &v) &&
        json_object_is_type(v, json_type_string) &&
        (size_t)json_object_get_string_len(v) >= DATETIME_DATE_LEN &&
        date_parse(json_object_get_string(v), DATETIME_DATE_LEN, &date) < 0)
        date = 0;
    return date;
}

/* Whether the row is in force on today (only vali_flag "0" says it is not); *valid_from is
 * its first day (0: unknown). */
static bool in_force(struct json_object *obj, const struct catalog_json_keys *k, int32_t today,
                     int32_t *valid_from)
{
    struct json_object *flag;
    int32_t to = bound_date(obj, k->to);

    *valid_from = bound_date(obj, k->from);
    if (!today)
        return true;
    /* "0", or 0 as a number (platforms send both) */
    if (k->in_force && json_object_object_get_ex(obj, k->in_force, &flag) &&
        ((json_object_is_type(flag, json_type_string) &&
          strcmp(json_object_get_string(flag), "0") == 0) ||
         (json_object_is_type(flag, json_type_int) && json_object_get_int64(flag) == 0)))
        return false;
    return *valid_from <= today && (!to || today <= to);
}

static int item_map(struct json_object *obj, const struct catalog_json_keys *k,
                    struct catalog_item *item, struct jsonmap_error *err)
{
    const char *lv = NULL, *category = NULL;
    int rc;

    item->name = "";
    item->price_limit_e6 = PRICE_NO_LIMIT;
    if ((rc = jsonmap_get_string(obj, k->list_code, BOUND_CODE, true, &item->list_code, err)) < 0 ||
        (rc = jsonmap_get_string(obj, k->name, BOUND_NAME, false, &item->name, err)) < 0 ||
        (rc = jsonmap_get_string(obj, k->lv, 2, true, &lv, err)) < 0 ||
        (rc = jsonmap_get_string(obj, k->category, 2, true, &category, err)) < 0 ||
        (rc = jsonmap_get_decimal(obj, k->selfpay_prop, DEC_RATIO, false, &item->selfpay_prop_e6,
                                  err)) < 0 ||
        (rc = jsonmap_get_decimal(obj, k->price_limit, DEC_PRICE, false, &item->price_limit_e6,
                                  err)) < 0)
        return rc;
    if ((rc = chrgitm_lv_parse(lv, &item->lv)) < 0)
        return jsonmap_fail(err, rc, NULL, k->lv);
    if ((rc = category_parse(category, &item->category)) < 0)
        return jsonmap_fail(err, rc, NULL, k->category);
    /* Named here, at the item, rather than later by the index. */
    if (item->selfpay_prop_e6 < 0 || item->selfpay_prop_e6 > DEC_E6)
        return jsonmap_fail(err, POSA_ERANGE, NULL, k->selfpay_prop);
    if (item->price_limit_e6 != PRICE_NO_LIMIT &&
        (item->price_limit_e6 < 0 || item->price_limit_e6 > BOUND_PRICE_E6))
        return jsonmap_fail(err, POSA_ERANGE, NULL, k->price_limit);
    if (!item->list_code[0])
        return jsonmap_fail(err, POSA_EFIELD, NULL, k->list_code);
    return 0;
}

static int fail_at(struct jsonmap_error *err, size_t i)
{
    char prefix[32];

    str_index(prefix, sizeof prefix, "catalog", i);
    return jsonmap_nest(err, prefix);
}

int catalog_json_append(struct json_object *array, const struct catalog_json_keys *keys,
                        int32_t today, struct catalog_item **items, size_t *n, size_t *ret_skipped,
                        struct jsonmap_error *err)
{
    struct catalog_item *grown;
    size_t rows, kept = 0;
    int rc;

    if (!json_object_is_type(array, json_type_array))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "catalog");
    rows = json_object_array_length(array);
    if (rows > BOUND_CATALOG_ITEMS || *n > BOUND_CATALOG_ITEMS - rows)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, "catalog");
    if (!(grown = realloc(*items, (*n + rows + 1) * sizeof grown[0])))
        return -ENOMEM;
    *items = grown;
    for (size_t i = 0; i < rows; i++) {
        struct json_object *obj = json_object_array_get_idx(array, i);
        struct catalog_item *item = &grown[*n + kept];
        bool keep = false;

        *item = (struct catalog_item){0};
        /* A row out of force is not read further: what it holds does not matter. */
        if (!json_object_is_type(obj, json_type_object))
            rc = jsonmap_fail(err, POSA_EFIELD, NULL, "");
        else if ((keep = in_force(obj, keys, today, &item->valid_from)))
            rc = item_map(obj, keys, item, err);
        else
            rc = 0;
        if (rc < 0 && ret_skipped) { /* one odd row does not stop the catalog */
            (*ret_skipped)++;
            continue;
        }
        if (rc < 0)
            return fail_at(err, i);
        kept += keep;
    }
    *n += kept;
    return 0;
}

int catalog_json_map(struct json_object *array, struct catalog_index *ret_index,
                     struct catalog_item **ret_items, struct jsonmap_error *err)
{
    struct catalog_item *items = NULL;
    size_t n = 0, bad;
    int rc;

    if ((rc = catalog_json_append(array, &catalog_keys_scenario, 0, &items, &n, NULL, err)) < 0) {
        free(items);
        return rc;
    }
    if ((rc = catalog_index_init(ret_index, items, n, &bad)) < 0) {
        jsonmap_fail(err, rc, "catalog", items[bad].list_code); /* sorted: name the code */
        free(items);
        return rc;
    }
    *ret_items = items;
    return 0;
}
