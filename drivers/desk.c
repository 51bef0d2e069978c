/* Desk binding table: validation and first-match lookup. */
#include "drivers/desk.h"

#include <fnmatch.h>
#include <string.h>

#include "core/err.h"
#include "core/str.h"

int desk_table_add(struct desk_table *t, enum desk_kind kind, const char *pattern, const char *desk)
{
    size_t plen = strlen(pattern);

    if (plen == 0 || plen > DESK_PATTERN_MAX || !str_is_desk(desk))
        return DRV_ECONFIG;
    if (t->n == DESK_ROWS_MAX)
        return POSA_ETOOLONG;
    struct desk_row *r = &t->rows[t->n++];
    r->kind = kind;
    memcpy(r->pattern, pattern, plen + 1);
    memcpy(r->desk, desk, strlen(desk) + 1);
    return 0;
}

const char *desk_table_find(const struct desk_table *t, enum desk_kind kind, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->rows[i].kind == kind && fnmatch(t->rows[i].pattern, name, 0) == 0)
            return t->rows[i].desk;
    return NULL;
}

const char *desk_table_other(const struct desk_table *t, enum desk_kind kind, const char *name)
{
    const char *first = desk_table_find(t, kind, name);

    for (size_t i = 0; first && i < t->n; i++)
        if (t->rows[i].kind == kind && strcmp(t->rows[i].desk, first) != 0 &&
            fnmatch(t->rows[i].pattern, name, 0) == 0)
            return t->rows[i].desk;
    return NULL;
}
