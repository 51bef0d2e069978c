/* json-c values mapped to core's exact decimals and bounded strings. */
#include "interface/json/jsonmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/utf8.h"

#define JSON_DEPTH_MAX 32
/* What json-c may build of one document: a tree costs some hundred bytes an object, so 16
 * MiB of "{}," would be gigabytes. The largest document posa takes (50,000 fee lines of a
 * dozen fields, an outside-purchase object beside some) stays well within. */
#define JSON_CONTAINERS_MAX (2 * BOUND_LINES + 1024)
#define JSON_VALUES_MAX     (20 * BOUND_LINES)

/* Appends text to buf at *len, truncating at the buffer's end, and never inside a character:
 * the field goes back to the HIS in a UTF-8 answer (it may be the HIS's own unknown key). */
static void append(char *buf, size_t cap, size_t *len, const char *text)
{
    while (*text && *len + 1 < cap)
        buf[(*len)++] = *text++;
    if (((unsigned char)*text & 0xC0) == 0x80) /* cut inside one: its first bytes go too */
        while (*len > 0 && ((unsigned char)buf[--*len] & 0xC0) == 0x80)
            ;
    buf[*len] = '\0';
}

int jsonmap_fail(struct jsonmap_error *err, int code, const char *prefix, const char *key)
{
    size_t len = 0;

    if (!err)
        return code;
    err->err = code;
    err->choices = NULL;
    err->field[0] = '\0';
    append(err->field, sizeof err->field, &len, prefix ? prefix : "");
    if (prefix && prefix[0] && key && key[0] && key[0] != '[')
        append(err->field, sizeof err->field, &len, ".");
    append(err->field, sizeof err->field, &len, key ? key : "");
    return code;
}

int jsonmap_choice(const char *text, const char *const *names, const char *prefix, const char *key,
                   int *ret, struct jsonmap_error *err)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(text, names[i]) == 0) {
            *ret = i;
            return 0;
        }
    }
    jsonmap_fail(err, POSA_EFIELD, prefix, key);
    if (err)
        err->choices = names;
    return POSA_EFIELD;
}

int jsonmap_nest(struct jsonmap_error *err, const char *prefix)
{
    char field[sizeof err->field];
    const char *const *choices = err->choices;

    memcpy(field, err->field, sizeof field);
    jsonmap_fail(err, err->err, prefix, field);
    err->choices = choices; /* the values the field takes, wherever it is */
    return err->err;
}

int jsonmap_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *grown;
    size_t len = 0, cap = 0, n;
    int err = 0;

    if (!f)
        return -errno;
    do {
        if (len == cap) { /* read in doubling chunks: pipes and /dev/fd have no size */
            cap = cap ? cap * 2 : 65536;
            if (cap > max + 1)
                cap = max + 1;
            if (len == cap) {
                err = POSA_ETOOLONG;
                break;
            }
            if (!(grown = realloc(buf, cap + 1))) {
                err = -ENOMEM;
                break;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (!err && ferror(f))
        err = -EIO;
    if (!err && len > max)
        err = POSA_ETOOLONG;
    fclose(f);
    if (err) {
        free(buf);
        return err;
    }
    buf[len] = '\0'; /* the first turn allocated it */
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* The index of the quote that ends the string opened at text[open] (one after an even run
 * of backslashes, or none), or len. memchr to each quote: most of an answer's bytes are in
 * its strings, and every platform answer is scanned (jsonmap_parse_request). */
static size_t string_end(const char *text, size_t len, size_t open)
{
    size_t from = open + 1, at, escapes;
    const char *quote;

    while (from < len && (quote = memchr(text + from, '"', len - from))) {
        at = (size_t)(quote - text);
        for (escapes = 0; at - escapes > open + 1 && text[at - 1 - escapes] == '\\'; escapes++)
            ;
        if (escapes % 2 == 0)
            return at;
        from = at + 1;
    }
    return len;
}

/* Whether text's objects and arrays, and its values (counted by their separators), stay
 * within the bounds above: counted outside strings, before json-c builds anything. With
 * ret_members, also the members it writes (each key's ':'), for jsonmap_parse_request. */
static bool shape_bounded(const char *text, size_t len, size_t *ret_members)
{
    size_t containers = 0, values = 0, members = 0;

    /* Each container takes two bytes and each value a separator: a short document cannot
     * pass the bounds, and is not scanned (a settlement's documents are all short). */
    if (!ret_members && len / 2 <= JSON_CONTAINERS_MAX)
        return true;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (c == '"') {
            i = string_end(text, len, i);
        } else if (c == '{' || c == '[') {
            if (++containers > JSON_CONTAINERS_MAX)
                return false;
        } else if (c == ',') {
            if (++values > JSON_VALUES_MAX)
                return false;
        } else if (c == ':') {
            members++;
        }
    }
    if (ret_members)
        *ret_members = members;
    return true;
}

void jsonmap_locate(const char *text, size_t at, size_t *line, size_t *column)
{
    const char *nl;

    *line = 1;
    *column = at + 1;
    for (const char *p = text; (nl = memchr(p, '\n', (size_t)(text + at - p))); p = nl + 1) {
        (*line)++;
        *column = (size_t)(text + at - nl);
    }
}

/* jsonmap_parse, and with ret_members the members the text writes (shape_bounded). */
static int parse(const char *text, size_t len, struct json_object **ret, size_t *ret_members,
                 struct jsonmap_error *err)
{
    struct json_tokener *tok;
    struct json_object *root;

    if (len > BOUND_BODY)
        return jsonmap_fail(err, POSA_ETOOLONG, "", "");
    /* json-c passes any bytes through: UTF-8 is checked here, once, for every edge. */
    if (!utf8_is_valid(text, len, NULL))
        return jsonmap_fail(err, POSA_EUTF8, "", "");
    if (!shape_bounded(text, len, ret_members))
        return jsonmap_fail(err, POSA_ETOOLARGE, "", "");
    tok = json_tokener_new_ex(JSON_DEPTH_MAX);
    if (!tok)
        return -ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    /* Anything after the value, or an unfinished value, is not one JSON document. */
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len) {
        size_t end = json_tokener_get_parse_end(tok);

        while (root && end < len && memchr(" \t\r\n", text[end], 4)) /* to what follows it */
            end++;
        json_object_put(root);
        json_tokener_free(tok);
        jsonmap_fail(err, POSA_EJSON, "", "");
        if (err)
            jsonmap_locate(text, end < len ? end : len, &err->line, &err->column);
        return POSA_EJSON;
    }
    json_tokener_free(tok);
    *ret = root;
    return 0;
}

int jsonmap_parse(const char *text, size_t len, struct json_object **ret, struct jsonmap_error *err)
{
    return parse(text, len, ret, NULL, err);
}

/* Members json-c kept in v and below: fewer than the text wrote when a key came twice in one
 * object. Depth is JSON_DEPTH_MAX at most. */
static size_t tree_members(struct json_object *v)
{
    size_t n = 0;

    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, key, child)
        {
            (void)key;
            n += 1 + tree_members(child);
        }
    } else if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0, len = json_object_array_length(v); i < len; i++)
            n += tree_members(json_object_array_get_idx(v, i));
    }
    return n;
}

struct text_key {
    size_t object; /* which object, in order of its '{' */
    const char *p; /* the key's bytes, quotes left out */
    size_t len;
};

static int key_cmp(const void *a, const void *b)
{
    const struct text_key *x = a, *y = b;
    int c;

    if (x->object != y->object)
        return x->object < y->object ? -1 : 1;
    if ((c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len)) != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* The keys text writes (valid JSON, json-c parsed it), each with its object: a string
 * followed by ':' is a key. n: the array's room. Returns how many. */
static size_t text_keys(const char *text, size_t len, struct text_key *keys, size_t n)
{
    size_t stack[JSON_DEPTH_MAX + 1], depth = 0, objects = 0, found = 0, start = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (c == '"') {
            size_t end = string_end(text, len, i);

            start = i + 1;
            i = end + 1;

            while (i < len && memchr(" \t\r\n", text[i], 4))
                i++;
            if (i < len && text[i] == ':' && depth && depth <= JSON_DEPTH_MAX + 1 && found < n)
                keys[found++] = (struct text_key){stack[depth - 1], text + start, end - start};
            i--;
        } else if (c == '{' || c == '[') {
            if (depth <= JSON_DEPTH_MAX) /* an array's entry is never read: no key in one */
                stack[depth] = c == '{' ? objects++ : SIZE_MAX;
            depth++;
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }
    }
    return found;
}

/* Where object number target (in order of its '{', as text_keys counts) is: "lines[3]", ""
 * for the top object. Keys are their raw text, cut at 48 bytes. */
struct path_step {
    bool array;
    size_t index;    /* an array's: its entry's */
    const char *key; /* an object's: the last string read in it, the key of a value that opens */
    size_t key_len;
};

static void object_path(const char *text, size_t len, size_t target, char *buf, size_t cap)
{
    struct path_step st[JSON_DEPTH_MAX + 1];
    size_t depth = 0, objects = 0, at = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (c == '"') {
            size_t start = i + 1;

            i = string_end(text, len, i);
            if (depth && depth <= JSON_DEPTH_MAX + 1 && !st[depth - 1].array) {
                st[depth - 1].key = text + start;
                st[depth - 1].key_len = i - start;
            }
        } else if (c == ',' && depth && depth <= JSON_DEPTH_MAX + 1 && st[depth - 1].array) {
            st[depth - 1].index++;
        } else if (c == '{' || c == '[') {
            if (c == '{' && objects++ == target) {
                for (size_t d = 0; d < depth && d <= JSON_DEPTH_MAX && at < cap; d++)
                    at += (size_t)(st[d].array
                                       ? snprintf(buf + at, cap - at, "[%zu]", st[d].index)
                                       : snprintf(buf + at, cap - at, "%s%.*s", d ? "." : "",
                                                  (int)(st[d].key_len < 48 ? st[d].key_len : 48),
                                                  st[d].key));
                return;
            }
            if (depth <= JSON_DEPTH_MAX)
                st[depth] = (struct path_step){c == '[', 0, "", 0};
            depth++;
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }
    }
}

/* A key text writes twice in one object, into err with the object's path (its raw text: one
 * written with escapes the other way is not found, and reported unnamed). */
static int name_duplicate(const char *text, size_t len, size_t members, struct jsonmap_error *err)
{
    struct text_key *keys = calloc(members ? members : 1, sizeof *keys);
    size_t n = keys ? text_keys(text, len, keys, members) : 0;
    char name[64] = "a key", path[160] = "";

    if (n)
        qsort(keys, n, sizeof *keys, key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (key_cmp(&keys[i - 1], &keys[i]) == 0) {
            snprintf(name, sizeof name, keys[i].len ? "%.*s" : "\"\"", /* the empty key */
                     (int)(keys[i].len < 48 ? keys[i].len : 48), keys[i].p);
            object_path(text, len, keys[i].object, path, sizeof path);
            break;
        }
    }
    free(keys);
    /* A path that is not whole text, or that would push the key itself out of the field,
     * is left out: the key alone, as before there was a path. */
    if (!utf8_is_valid(path, strlen(path), NULL) ||
        strlen(path) + 1 + strlen(name) >= sizeof err->field)
        path[0] = '\0';
    return jsonmap_fail(err, POSA_EDUPLICATE, path,
                        utf8_is_valid(name, strlen(name), NULL) ? name : "a key");
}

int jsonmap_parse_request(const char *text, size_t len, struct json_object **ret,
                          struct jsonmap_error *err)
{
    size_t written = 0;
    int rc = parse(text, len, ret, &written, err);

    if (rc < 0 || written == tree_members(*ret))
        return rc;
    json_object_put(*ret);
    *ret = NULL;
    return name_duplicate(text, len, written, err);
}

/* A number's text. json-c keeps a parsed double's source text as its userdata
 * (json_object_new_double_s), and jsontext_print_as keeps the text it prints as there too:
 * read there, not printed by json_object_get_string into a buffer of its own (two
 * allocations per amount of an answer). Other ints (rare) print exactly, and out-of-range
 * ones print saturated, as values dec_parse refuses as overflow. */
static const char *number_text(struct json_object *value)
{
    const char *text = json_object_get_userdata(value);

    return text ? text : json_object_get_string(value);
}

int jsonmap_decimal(struct json_object *value, int scale, int64_t *ret)
{
    const char *text;

    switch (json_object_get_type(value)) {
    case json_type_string:
        return dec_parse(json_object_get_string(value),
                         (size_t)json_object_get_string_len(value), scale, ret);
    case json_type_int:
    case json_type_double:
        text = number_text(value);
        return dec_parse(text, strlen(text), scale, ret);
    default:
        return POSA_EINVAL_DECIMAL;
    }
}

/* obj[key], or NULL when absent or null. */
static struct json_object *member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (!json_object_is_type(obj, json_type_object) || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return json_object_is_type(v, json_type_null) ? NULL : v;
}

int jsonmap_get_decimal(struct json_object *obj, const char *key, int scale, bool required,
                        int64_t *ret, struct jsonmap_error *err)
{
    struct json_object *v = member(obj, key);
    int64_t value;
    int rc;

    if (!v)
        return required ? jsonmap_fail(err, POSA_EFIELD, NULL, key) : 0;
    if ((rc = jsonmap_decimal(v, scale, &value)) < 0)
        return jsonmap_fail(err, rc, NULL, key);
    *ret = value;
    return 0;
}

int jsonmap_get_decimal_string(struct json_object *obj, const char *key, int scale,
                               bool exact, int64_t *ret, struct jsonmap_error *err)
{
    struct json_object *v = member(obj, key);
    const char *text, *dot;
    int64_t value;
    int rc;

    if (!v || !json_object_is_type(v, json_type_string))
        return jsonmap_fail(err,
                            !v ? POSA_EFIELD
                            : json_object_is_type(v, json_type_int) ||
                                    json_object_is_type(v, json_type_double)
                                ? POSA_ENOTSTRING
                                : POSA_EINVAL_DECIMAL,
                            NULL, key);
    text = json_object_get_string(v);
    if ((rc = dec_parse(text, (size_t)json_object_get_string_len(v), scale, &value)) < 0)
        return jsonmap_fail(err, rc, NULL, key);
    dot = strchr(text, '.');
    if (exact && (!dot || strlen(dot + 1) != (size_t)scale))
        return jsonmap_fail(err, POSA_EDECIMALS, NULL, key);
    *ret = value;
    return 0;
}

int jsonmap_only_keys(struct json_object *obj, const char *const *allowed,
                      struct jsonmap_error *err)
{
    json_object_object_foreach(obj, key, value)
    {
        const char *const *a = allowed;

        (void)value;
        while (*a && strcmp(*a, key) != 0)
            a++;
        if (!*a)
            return jsonmap_fail(err, POSA_EUNKNOWN_FIELD, NULL, key);
    }
    return 0;
}

int jsonmap_get_string(struct json_object *obj, const char *key, size_t max, bool required,
                       const char **ret, struct jsonmap_error *err)
{
    struct json_object *v = member(obj, key);

    if (!v)
        return required ? jsonmap_fail(err, POSA_EFIELD, NULL, key) : 0;
    if (!json_object_is_type(v, json_type_string))
        return jsonmap_fail(err, POSA_EFIELD, NULL, key);
    if ((size_t)json_object_get_string_len(v) > max)
        return jsonmap_fail(err, POSA_ETOOLONG, NULL, key);
    if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
        return jsonmap_fail(err, POSA_EFIELD, NULL, key); /* an embedded NUL */
    *ret = json_object_get_string(v);
    return 0;
}

int jsonmap_get_bool(struct json_object *obj, const char *key, bool required, bool *ret,
                     struct jsonmap_error *err)
{
    struct json_object *v = member(obj, key);

    if (!v)
        return required ? jsonmap_fail(err, POSA_EFIELD, NULL, key) : 0;
    if (!json_object_is_type(v, json_type_boolean))
        return jsonmap_fail(err, POSA_EFIELD, NULL, key);
    *ret = json_object_get_boolean(v);
    return 0;
}
