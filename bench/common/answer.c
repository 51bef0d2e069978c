#define JSMN_STRICT
#include <jsmn.h>

#include "answer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Doubles the token array (jsmn with no array only counts, so there is always one). */
static int grow(struct answer *a)
{
    int cap = a->cap ? a->cap * 2 : 1024;
    jsmntok_t *grown = realloc(a->tok, (size_t)cap * sizeof(*grown));

    if (!grown)
        return -ENOMEM;
    a->tok = grown;
    a->cap = cap;
    return 0;
}

int answer_parse(struct answer *a, const char *text, size_t len)
{
    jsmn_parser p;
    int rc = JSMN_ERROR_NOMEM;

    jsmn_init(&p);
    a->text = text;
    a->n = 0;
    if (!a->tok && grow(a) < 0)
        return -ENOMEM;
    while ((rc = jsmn_parse(&p, text, len, a->tok, (unsigned)a->cap)) == JSMN_ERROR_NOMEM)
        if (grow(a) < 0) /* jsmn goes on where it stopped */
            return -ENOMEM;
    if (rc < 1 || a->tok[0].type != JSMN_OBJECT || a->tok[0].end != (int)len)
        return -EINVAL;
    a->n = rc;
    return 0;
}

/* The token after i's whole value. */
static int skip(const struct answer *a, int i)
{
    int end = a->tok[i].end, j = i + 1;

    while (j < a->n && a->tok[j].start < end)
        j++;
    return j;
}

static int member(const struct answer *a, int obj, const char *key)
{
    size_t klen = strlen(key);
    int j = obj + 1;

    if (a->tok[obj].type != JSMN_OBJECT)
        return -1;
    for (int k = 0; k < a->tok[obj].size && j + 1 < a->n; k++) {
        const jsmntok_t *t = &a->tok[j];
        if ((size_t)(t->end - t->start) == klen && !memcmp(a->text + t->start, key, klen))
            return j + 1;
        j = skip(a, j + 1);
    }
    return -1;
}

static int walk(const struct answer *a, int at, const char *const *path)
{
    if (at < 0 || at >= a->n)
        return -1;
    for (; at >= 0 && *path; path++)
        at = member(a, at, *path);
    return at;
}

int answer_at_path(const struct answer *a, int at, const char *const *path)
{
    return walk(a, at, path);
}

int answer_first(const struct answer *a, int at)
{
    return at >= 0 && at + 1 < a->n && a->tok[at].type == JSMN_ARRAY && a->tok[at].size > 0
               ? at + 1
               : -1;
}

int answer_next(const struct answer *a, int at)
{
    int next = at >= 0 ? skip(a, at) : -1;

    return next < a->n ? next : -1;
}

int answer_count(const struct answer *a, int at)
{
    return at >= 0 && a->tok[at].type == JSMN_ARRAY ? a->tok[at].size : 0;
}

const char *answer_text(const struct answer *a, int at, size_t *len)
{
    if (at < 0)
        return NULL;
    *len = (size_t)(a->tok[at].end - a->tok[at].start);
    return a->text + a->tok[at].start;
}

const char *answer_find_path(const struct answer *a, size_t *len, const char *const *path)
{
    return answer_text(a, walk(a, 0, path), len);
}

int answer_equals(const struct answer *a, const char *text, const char *const *path)
{
    size_t len = 0;
    const char *v = answer_text(a, walk(a, 0, path), &len);

    return v && len == strlen(text) && !memcmp(v, text, len);
}

void answer_done(struct answer *a)
{
    free(a->tok);
    a->tok = NULL;
    a->n = a->cap = 0;
}
