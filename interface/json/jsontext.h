/* JSON written as text for large outputs (a fee upload's result[] of thousands of rows):
 * rows are appended to a buffer instead of built as json-c objects, and the finished text
 * becomes one json-c value that serialises as itself. Values are escaped; keys are the
 * caller's own ASCII literals, written as they are; amounts are exact decimal text. */
#ifndef POSA_SANDBOX_JSONTEXT_H
#define POSA_SANDBOX_JSONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct jsontext {
    char *p;
    size_t len, cap;
    bool failed; /* out of memory: jsontext_take returns NULL */
};

void jsontext_raw(struct jsontext *j, const char *text);
/* "key":"value" (value NULL: null), preceded by a comma unless after '{' or '['. */
void jsontext_str(struct jsontext *j, const char *key, const char *value);
/* "key":<value at scale as an exact JSON number> */
void jsontext_dec(struct jsontext *j, const char *key, int64_t value, int scale);
/* A json-c value whose serialisation is the text (which it takes); NULL on failure. */
struct json_object *jsontext_take(struct jsontext *j);
void jsontext_done(struct jsontext *j);

#endif
