/* An insured region's policy in the scenario format of sandbox.md ("regions" entries:
 * rates, deductible_per, temporary rules) mapped to core's region_policy. Used by the
 * sandbox to settle and by posad to estimate offline, from the same file format. */
#ifndef POSA_JSON_POLICY_JSON_H
#define POSA_JSON_POLICY_JSON_H

#include <stddef.h>

#include "core/policy.h"
#include "interface/json/jsonmap.h"

/* Maps one region object into rates (room for cap) and *ret (whose rates point there);
 * *ret_name is borrowed from obj ("" when absent). On failure err names the field relative
 * to the region ("rates[0].ratio") and *ret is unspecified. */
int policy_json_region(struct json_object *obj, struct region_rate *rates, size_t cap,
                       struct region_policy *ret, const char **ret_name,
                       struct jsonmap_error *err);

#endif
