/* JSON as text: append with escaping, then wrap the text as one json-c value. */
#include "sandbox/jsontext.h"

#include <json-c/printbuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/decimal.h"

/* n more bytes at the end of the text, or NULL (out of memory: the text has failed). The text
 * stays unterminated while it grows; jsontext_take ends it. */
static char *reserve(struct jsontext *j, size_t n)
{
    char *at;

    if (j->failed)
        return NULL;
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        char *p;

        while (cap < j->len + n)
            cap *= 2;
        if (!(p = realloc(j->p, cap))) {
            j->failed = true;
            return NULL;
        }
        j->p = p;
        j->cap = cap;
    }
    at = j->p + j->len;
    j->len += n;
    return at;
}

static void append(struct jsontext *j, const char *s, size_t n)
{
    char *at = reserve(j, n);

    if (at)
        memcpy(at, s, n);
}

void jsontext_raw(struct jsontext *j, const char *text)
{
    append(j, text, strlen(text));
}

static void escaped(struct jsontext *j, const char *s)
{
    const char *run = s;
    char esc[8];

    append(j, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue; /* UTF-8 passes through */
        append(j, run, (size_t)(s - run));
        snprintf(esc, sizeof(esc), c == '"' ? "\\\"" : c == '\\' ? "\\\\" : "\\u%04x", c);
        append(j, esc, strlen(esc));
        run = s + 1;
    }
    append(j, run, (size_t)(s - run));
    append(j, "\"", 1);
}

/* ,"key": — keys are the writer's own literals, plain ASCII, written as they are. */
static void key(struct jsontext *j, const char *k)
{
    size_t n = strlen(k);
    bool comma = j->len && j->p[j->len - 1] != '{' && j->p[j->len - 1] != '[';
    char *at = reserve(j, comma + n + 3);

    if (!at)
        return;
    if (comma)
        *at++ = ',';
    *at++ = '"';
    memcpy(at, k, n);
    at[n] = '"';
    at[n + 1] = ':';
}

void jsontext_str(struct jsontext *j, const char *k, const char *value)
{
    key(j, k);
    if (value)
        escaped(j, value);
    else
        append(j, "null", 4);
}

void jsontext_dec(struct jsontext *j, const char *k, int64_t value, int scale)
{
    char buf[DEC_FORMAT_MAX];
    int len = dec_format(value, scale, buf, sizeof(buf));

    key(j, k);
    if (len < 0)
        j->failed = true;
    else
        append(j, buf, (size_t)len);
}

static int text_serialize(struct json_object *jso, struct printbuf *pb, int level, int flags)
{
    const char *text = json_object_get_userdata(jso);

    (void)level;
    (void)flags;
    return printbuf_memappend(pb, text, (int)strlen(text));
}

static void text_free(struct json_object *jso, void *userdata)
{
    (void)jso;
    free(userdata);
}

struct json_object *jsontext_take(struct jsontext *j)
{
    struct json_object *obj;

    if (j->p)
        append(j, "", 1); /* the terminating NUL */
    if (j->failed || !j->p) { /* out of memory, or nothing written: no value */
        jsontext_done(j);
        return NULL;
    }
    obj = json_object_new_array(); /* its serialisation is replaced by the text */
    if (!obj) {
        jsontext_done(j);
        return NULL;
    }
    json_object_set_serializer(obj, text_serialize, j->p, text_free);
    j->p = NULL;
    j->len = j->cap = 0;
    return obj;
}

void jsontext_done(struct jsontext *j)
{
    free(j->p);
    j->p = NULL;
    j->len = j->cap = 0;
}
