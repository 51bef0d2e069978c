/* Route matching for the HIS API: a route is a method and a path pattern whose segments
 * are literals or "{name}" captures. Pure; the route table itself lives with the handlers
 * (THE table, one place), this only matches. */
#ifndef POSA_HIS_ROUTER_H
#define POSA_HIS_ROUTER_H

#include <stddef.h>

#include "core/bound.h"

#define ROUTE_PARAMS_MAX 2
#define ROUTE_PARAM_MAX  (BOUND_PATH_ID + 1) /* bytes of one captured segment, its NUL too */

struct route_pattern {
    const char *method;
    const char *pattern; /* "/v1/visits/{visit_id}/fees" */
};

struct route_match {
    size_t index; /* into the table */
    char params[ROUTE_PARAMS_MAX][ROUTE_PARAM_MAX];
    size_t n_params;
};

/* Finds the route for method and path (no query). 0 and *ret on a match; POSA_ENOSUCH when
 * no pattern matches the path (404); POSA_EMETHOD when one matches the path but not the
 * method (405). A captured segment must be 1..ROUTE_PARAM_MAX-1 bytes of [A-Za-z0-9_.-]
 * not starting with '.' (ids never need more), else the path does not match. */
int router_match(const struct route_pattern *table, size_t n, const char *method,
                 const char *path, struct route_match *ret);
/* The methods the table has for path, ", " between them, into buf (cap bytes, truncated):
 * a 405's Allow header. "" when none. */
void router_allowed(const struct route_pattern *table, size_t n, const char *path, char *buf,
                    size_t cap);

#endif
