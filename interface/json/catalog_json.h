/* The treating region's catalog in the scenario format of sandbox.md (also what posad's
 * catalog cache stores): [{list_code, name, chrgitm_lv, med_chrgitm_type, selfpay_prop,
 * price_limit}] mapped to core catalog items. Strings are borrowed from the document. */
#ifndef POSA_JSON_CATALOG_JSON_H
#define POSA_JSON_CATALOG_JSON_H

#include <stddef.h>

#include "core/split.h"
#include "interface/json/jsonmap.h"

/* Maps the array into a new items array and indexes it. On failure err names the field
 * ("catalog[7].chrgitm_lv") and nothing is allocated. Free *ret_items with free(). The
 * document must outlive the items. */
int catalog_json_map(struct json_object *array, struct catalog_index *ret_index,
                     struct catalog_item **ret_items, struct jsonmap_error *err);

#endif
