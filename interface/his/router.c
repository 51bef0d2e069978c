/* Matching of method + path against route patterns with {captures}. */
#include "interface/his/router.h"

#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "core/err.h"

static bool is_id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* Matches path against one pattern, segment by segment, filling captures. */
static bool path_matches(const char *pattern, const char *path, struct route_match *m)
{
    m->n_params = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++;
        path++;
        size_t plen = strcspn(pattern, "/"), len = strcspn(path, "/");

        if (pattern[0] == '{') {
            /* No leading dot: "." and ".." are never ids. */
            if (len == 0 || len >= ROUTE_PARAM_MAX || m->n_params == ROUTE_PARAMS_MAX ||
                path[0] == '.')
                return false;
            for (size_t i = 0; i < len; i++)
                if (!is_id_char(path[i]))
                    return false;
            memcpy(m->params[m->n_params], path, len);
            m->params[m->n_params++][len] = '\0';
        } else if (plen != len || memcmp(pattern, path, len) != 0) {
            return false;
        }
        pattern += plen;
        path += len;
    }
    return *pattern == '\0' && *path == '\0';
}

void router_allowed(const struct route_pattern *table, size_t n, const char *path, char *buf,
                    size_t cap)
{
    struct route_match m;
    size_t len = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        if (path_matches(table[i].pattern, path, &m))
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", table[i].method);
}

int router_match(const struct route_pattern *table, size_t n, const char *method,
                 const char *path, struct route_match *ret)
{
    bool path_known = false;
    struct route_match m;

    for (size_t i = 0; i < n; i++) {
        if (!path_matches(table[i].pattern, path, &m))
            continue;
        path_known = true;
        if (strcmp(table[i].method, method) == 0) {
            m.index = i;
            *ret = m;
            return 0;
        }
    }
    return path_known ? POSA_EMETHOD : POSA_ENOSUCH;
}
