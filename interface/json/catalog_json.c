/* Catalog items from JSON, validated by core's catalog index. */
#include "interface/json/catalog_json.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"

#define CATALOG_MAX 1000000

static int item_map(struct json_object *obj, struct catalog_item *item, struct jsonmap_error *err)
{
    const char *lv = NULL, *category = NULL;
    int rc;

    item->name = "";
    item->price_limit_e6 = PRICE_NO_LIMIT;
    if ((rc = jsonmap_get_string(obj, "list_code", BOUND_CODE, true, &item->list_code, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "name", BOUND_NAME, false, &item->name, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "chrgitm_lv", 2, true, &lv, err)) < 0 ||
        (rc = jsonmap_get_string(obj, "med_chrgitm_type", 2, true, &category, err)) < 0 ||
        (rc = jsonmap_get_decimal(obj, "selfpay_prop", DEC_RATIO, false, &item->selfpay_prop_e6,
                                  err)) < 0 ||
        (rc = jsonmap_get_decimal(obj, "price_limit", DEC_PRICE, false, &item->price_limit_e6,
                                  err)) < 0)
        return rc;
    if ((rc = chrgitm_lv_parse(lv, &item->lv)) < 0)
        return jsonmap_fail(err, rc, NULL, "chrgitm_lv");
    if ((rc = category_parse(category, &item->category)) < 0)
        return jsonmap_fail(err, rc, NULL, "med_chrgitm_type");
    return 0;
}

static int fail_at(struct jsonmap_error *err, size_t i)
{
    char prefix[32];

    snprintf(prefix, sizeof prefix, "catalog[%zu]", i);
    return jsonmap_nest(err, prefix);
}

int catalog_json_map(struct json_object *array, struct catalog_index *ret_index,
                     struct catalog_item **ret_items, struct jsonmap_error *err)
{
    struct catalog_item *items;
    size_t n, bad;
    int rc;

    if (!json_object_is_type(array, json_type_array))
        return jsonmap_fail(err, POSA_EFIELD, NULL, "catalog");
    n = json_object_array_length(array);
    if (n > CATALOG_MAX)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, "catalog");
    if (!(items = calloc(n ? n : 1, sizeof items[0])))
        return -12; /* -ENOMEM */
    for (size_t i = 0; i < n; i++) {
        struct json_object *obj = json_object_array_get_idx(array, i);

        if (!json_object_is_type(obj, json_type_object))
            rc = jsonmap_fail(err, POSA_EFIELD, NULL, "");
        else
            rc = item_map(obj, &items[i], err);
        if (rc < 0) {
            free(items);
            return fail_at(err, i);
        }
    }
    if ((rc = catalog_index_init(ret_index, items, n, &bad)) < 0) {
        jsonmap_fail(err, rc, "catalog", items[bad].list_code); /* sorted: name the code */
        free(items);
        return rc;
    }
    *ret_items = items;
    return 0;
}
