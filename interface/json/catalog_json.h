/* The treating region's catalog in the scenario format of sandbox.md (also what posad's
 * catalog cache stores): [{list_code, name, chrgitm_lv, med_chrgitm_type, selfpay_prop,
 * price_limit}] mapped to core catalog items. Strings are borrowed from the document. */
#ifndef POSA_JSON_CATALOG_JSON_H
#define POSA_JSON_CATALOG_JSON_H

#include <stddef.h>

#include "core/split.h"
#include "interface/json/jsonmap.h"

/* The field names of one catalog row: the scenario's, or the national 1312 answer's, whose
 * rows also say when they are in force (vali_flag, begndate, enddate; NULL: no such key). */
struct catalog_json_keys {
    const char *list_code, *name, *lv, *category, *selfpay_prop, *price_limit;
    const char *in_force, *from, *to;
};
extern const struct catalog_json_keys catalog_keys_scenario; /* list_code, ... */
extern const struct catalog_json_keys catalog_keys_1312;     /* hilist_code, ... */

/* Appends the array's rows in force on today (yyyymmdd; 0: every row) to *items (grown with
 * realloc; *n counts them): a row marked not valid (vali_flag 0), or whose period does not
 * hold today, is left out, unread. A row in force that cannot be read is counted in
 * *ret_skipped and left out (the platform's catalog: one odd row of 100,000 stopped every
 * download, and a new install could take no fees), or with ret_skipped NULL (a scenario
 * file) fails: err names the field ("catalog[7].chrgitm_lv") and *n is as before. The
 * document must outlive the items. */
int catalog_json_append(struct json_object *array, const struct catalog_json_keys *keys,
                        int32_t today, struct catalog_item **items, size_t *n, size_t *ret_skipped,
                        struct jsonmap_error *err);

/* Maps a scenario catalog array into a new items array and indexes it. On failure err
 * names the field and nothing is allocated. Free *ret_items with free(). */
int catalog_json_map(struct json_object *array, struct catalog_index *ret_index,
                     struct catalog_item **ret_items, struct jsonmap_error *err);

#endif
