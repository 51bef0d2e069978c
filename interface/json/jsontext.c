/* JSON as text: append with escaping, then wrap the text as one json-c value. */
#include "interface/json/jsontext.h"

#include <errno.h>
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
    if (!j->p || j->len + n > j->cap) { /* the first, even of 0 bytes: NULL + 0 is undefined */
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

/* c goes into a JSON string as it is (UTF-8 passes through). */
static bool plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* The bytes of s before its first that JSON must escape (or its end). */
static size_t plain_prefix(const char *s)
{
    size_t n = 0;

    while (plain((unsigned char)s[n]))
        n++;
    return n;
}

/* A string value with its escapes (the caller wrote its key). */
static void escaped(struct jsontext *j, const char *s)
{
    const char *run = s;
    char esc[8];

    append(j, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (plain(c))
            continue;
        append(j, run, (size_t)(s - run));
        snprintf(esc, sizeof(esc), c == '"' ? "\\\"" : c == '\\' ? "\\\\" : "\\u%04x", c);
        append(j, esc, strlen(esc));
        run = s + 1;
    }
    append(j, run, (size_t)(s - run));
    append(j, "\"", 1);
}

/* [,]["key":] and room for n bytes of value after it, all in one reserve: where the value
 * goes, or NULL (out of memory). Keys are the writer's own literals, plain ASCII, written as
 * they are. */
static char *field(struct jsontext *j, const char *k, size_t n)
{
    size_t kn = k ? strlen(k) : 0;
    bool comma = j->len && j->p[j->len - 1] != '{' && j->p[j->len - 1] != '[';
    char *at = reserve(j, comma + (k ? kn + 3 : 0) + n);

    if (!at)
        return NULL;
    if (comma)
        *at++ = ',';
    if (k) {
        *at++ = '"';
        memcpy(at, k, kn);
        at += kn;
        *at++ = '"';
        *at++ = ':';
    }
    return at;
}

static void key(struct jsontext *j, const char *k)
{
    field(j, k, 0);
}

void jsontext_open(struct jsontext *j, const char *k, char bracket)
{
    key(j, k);
    append(j, &bracket, 1);
}

void jsontext_close(struct jsontext *j, char bracket)
{
    append(j, &bracket, 1);
}

void jsontext_str(struct jsontext *j, const char *k, const char *value)
{
    size_t plain = value ? plain_prefix(value) : 0;
    char *at;

    if (value && !value[plain]) { /* nothing to escape, as almost always: one copy */
        if ((at = field(j, k, plain + 2))) {
            at[0] = '"';
            memcpy(at + 1, value, plain);
            at[plain + 1] = '"';
        }
        return;
    }
    key(j, k);
    if (value)
        escaped(j, value);
    else
        append(j, "null", 4);
}

static void dec(struct jsontext *j, const char *k, int64_t value, int scale, bool quoted)
{
    char buf[DEC_FORMAT_MAX + 2], *at;
    int len = dec_format(value, scale, buf + 1, sizeof(buf) - 2);
    size_t n;

    if (len < 0) {
        j->failed = true;
        return;
    }
    buf[0] = buf[len + 1] = '"';
    n = (size_t)len + (quoted ? 2 : 0);
    if ((at = field(j, k, n)))
        memcpy(at, quoted ? buf : buf + 1, n);
}

void jsontext_dec(struct jsontext *j, const char *k, int64_t value, int scale)
{
    dec(j, k, value, scale, false);
}

void jsontext_dec_str(struct jsontext *j, const char *k, int64_t value, int scale)
{
    dec(j, k, value, scale, true);
}

void jsontext_json(struct jsontext *j, const char *k, struct json_object *value)
{
    size_t len = 0;
    const char *text = value ? json_object_to_json_string_length(
                                   value, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                   &len)
                             : "null";

    key(j, k);
    if (!text)
        j->failed = true;
    else
        append(j, text, value ? len : 4);
    json_object_put(value);
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

int jsontext_print_as(struct json_object *obj, const char *text, size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return -ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    json_object_set_serializer(obj, text_serialize, copy, text_free);
    return 0;
}

struct json_object *jsontext_value(const char *text, size_t len)
{
    struct json_object *obj = json_object_new_array(); /* its serialisation is the text */

    if (obj && jsontext_print_as(obj, text, len) < 0) {
        json_object_put(obj);
        obj = NULL;
    }
    return obj;
}

void jsontext_done(struct jsontext *j)
{
    free(j->p);
    j->p = NULL;
    j->len = j->cap = 0;
}
