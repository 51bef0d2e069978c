/* JSON written as text for large outputs (the lines of a fee upload, the sandbox's result[]
 * of thousands of rows): appended to a buffer instead of built as json-c objects, and the
 * finished text becomes one json-c value that serialises as itself, to be placed in a
 * json-c document. Building, printing and freeing a tree of every line cost posad and the
 * sandbox more than all the rest of a fee upload's answer.
 *
 * Values are escaped; keys are the caller's own ASCII literals, written as they are; amounts
 * are exact decimal text. Every writer takes key NULL for an array's element, and puts the
 * comma before a value unless it opens its object or array. */
#ifndef POSA_JSON_JSONTEXT_H
#define POSA_JSON_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct jsontext {
    char *p;
    size_t len, cap;
    bool failed; /* out of memory: jsontext_take returns NULL */
};

/* "key":{ or "key":[ (bracket '{' or '['), and its end ('}' or ']'). */
void jsontext_open(struct jsontext *j, const char *key, char bracket);
void jsontext_close(struct jsontext *j, char bracket);
/* "key":"value" (value NULL: null) */
void jsontext_str(struct jsontext *j, const char *key, const char *value);
/* "key":<value at scale as an exact JSON number> */
void jsontext_dec(struct jsontext *j, const char *key, int64_t value, int scale);
/* "key":"<value at scale>" (the HIS API's money strings) */
void jsontext_dec_str(struct jsontext *j, const char *key, int64_t value, int scale);
/* "key":<value as json-c prints it>; takes value (NULL: null). For the rare nested part
 * that has a json-c builder already. */
void jsontext_json(struct jsontext *j, const char *key, struct json_object *value);
/* A json-c value that serialises as a copy of text, JSON the caller already printed (posad's
 * passthrough prints the HIS's input once, to hash it, and forwards that text); NULL when out
 * of memory. */
struct json_object *jsontext_value(const char *text, size_t len);
/* Makes obj (of any type) print as a copy of text: 0, or -ENOMEM with obj untouched. */
int jsontext_print_as(struct json_object *obj, const char *text, size_t len);
/* A json-c value whose serialisation is the text (which it takes); NULL on failure. */
struct json_object *jsontext_take(struct jsontext *j);
void jsontext_done(struct jsontext *j);

#endif
