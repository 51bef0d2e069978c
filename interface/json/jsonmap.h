/* JSON at the edges: json-c values mapped to core's exact types. Numbers are read from
 * their source text (json_object_get_string keeps "1234.567800" as written), so an amount
 * never passes through a double. Every string is bounded. Errors name the field. */
#ifndef POSA_JSON_JSONMAP_H
#define POSA_JSON_JSONMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Where a mapping failed: a posa error code and the field's path ("lines[3].price"). */
struct jsonmap_error {
    int err;
    char field[96];
    size_t line, column; /* where text that is not JSON stops being JSON (from 1); else 0 */
    const char *const *choices; /* a value not one of these (NULL-terminated): else NULL */
};

/* The line and column (from 1, in bytes) of text[at]: where a file's author finds a fault. */
void jsonmap_locate(const char *text, size_t at, size_t *line, size_t *column);

/* A JSON file's whole text (a scenario, a policy file, a bill): *ret is malloc'd and
 * NUL-terminated, *ret_len excludes the NUL. 0, -errno, or POSA_ETOOLONG beyond max bytes. */
int jsonmap_read_file(const char *path, size_t max, char **ret, size_t *ret_len);

/* Parses text[0..len) as one JSON value, depth at most 32. POSA_EFIELD with field ""
 * when it is not JSON, POSA_ETOOLARGE when it holds more objects, arrays or values than
 * any document posa takes (its tree would cost gigabytes). *ret is owned by the caller
 * (json_object_put). */
int jsonmap_parse(const char *text, size_t len, struct json_object **ret,
                  struct jsonmap_error *err);
/* jsonmap_parse for a request from outside (the HIS's): a key given twice in one object
 * is refused, POSA_EDUPLICATE naming it, where json-c keeps the last silently (an
 * "emergency":true then false would settle a visit as no emergency). The platform's answers
 * are read so too (envelope_response_parse): which of two figures it meant cannot be told. */
int jsonmap_parse_request(const char *text, size_t len, struct json_object **ret,
                          struct jsonmap_error *err);

/* A decimal at scale from a JSON string or number. */
int jsonmap_decimal(struct json_object *value, int scale, int64_t *ret);

/* obj[key] as a decimal / string / bool. required=false lets an absent (or null) key
 * leave *ret untouched and return 0. Strings are borrowed from obj and at most max bytes. */
int jsonmap_get_decimal(struct json_object *obj, const char *key, int scale, bool required,
                        int64_t *ret, struct jsonmap_error *err);
int jsonmap_get_string(struct json_object *obj, const char *key, size_t max, bool required,
                       const char **ret, struct jsonmap_error *err);
int jsonmap_get_bool(struct json_object *obj, const char *key, bool required, bool *ret,
                     struct jsonmap_error *err);

/* A decimal that must be a JSON string (the HIS API never takes amounts as JSON numbers);
 * with money_exact, scale decimals exactly ("90.00", not "90"). */
int jsonmap_get_decimal_string(struct json_object *obj, const char *key, int scale,
                               bool exact, int64_t *ret, struct jsonmap_error *err);

/* Refuses any key of obj not in allowed (NULL-terminated), naming it: a misspelt key must
 * not silently mean "absent". */
int jsonmap_only_keys(struct json_object *obj, const char *const *allowed,
                      struct jsonmap_error *err);

/* Records err with a field path built from prefix and key; returns code. */
int jsonmap_fail(struct jsonmap_error *err, int code, const char *prefix, const char *key);
/* The index in names (NULL-terminated) of text, or POSA_EFIELD naming prefix.key with the
 * names as err->choices: a value outside a field's choices, said with them. */
int jsonmap_choice(const char *text, const char *const *names, const char *prefix, const char *key,
                   int *ret, struct jsonmap_error *err);
/* Puts prefix in front of the failed field ("price" -> "lines[3].price"); returns err->err. */
int jsonmap_nest(struct jsonmap_error *err, const char *prefix);

#endif
