/* Who may call the HIS API over TCP: bearer tokens from the config, stored as SHA-256
 * hashes, each scoped to a role and to desks (architecture.md "Security"). On the Unix
 * socket, file permissions are the auth and this table is not consulted. */
#ifndef POSA_HIS_AUTH_H
#define POSA_HIS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bound.h"

#define AUTH_NAME_MAX 64
#define AUTH_DESK_MAX (BOUND_DESK + 1) /* a desk id and its NUL */
#define AUTH_DESKS_MAX 32    /* desks of one client */
#define AUTH_CLIENTS_MAX 256
#define AUTH_HASH_LEN 32
#define AUTH_TOKEN_MAX 256

/* What a route needs. A client has exactly one role. */
enum auth_role {
    ROLE_READONLY, /* GETs only */
    ROLE_CASHIER,  /* the desk flow: identify, visits, fees, settle, refund */
    ROLE_OPS,      /* operations: queue retry, reconcile; also every GET */
};

struct auth_client {
    char name[AUTH_NAME_MAX];
    uint8_t token_hash[AUTH_HASH_LEN];
    enum auth_role role;
    bool all_desks; /* desks = * */
    char desks[AUTH_DESKS_MAX][AUTH_DESK_MAX];
    size_t n_desks;
};

struct auth_table {
    struct auth_client clients[AUTH_CLIENTS_MAX];
    size_t n;
};

/* Adds a client from config text: name, hex SHA-256 of its token (64 hex digits), role
 * ("readonly", "cashier", "ops"), desks ("*" or "D01,D02"). POSA_EFIELD names nothing: the
 * config loader knows the line and key; POSA_ETOOLONG when a bound is passed. */
int auth_table_add(struct auth_table *table, const char *name, const char *hash_hex,
                   const char *role, const char *desks);

/* The client whose token is in an "Authorization: Bearer <token>" value (compared in
 * constant time). POSA_EUNAUTHORIZED when the header is absent, malformed or unknown. */
int auth_identify(const struct auth_table *table, const char *authorization,
                  const struct auth_client **ret);

/* May client act with role need at desk (NULL when the request names no desk)?
 * 0 or POSA_EFORBIDDEN. Ops may do what read-only may; a cashier may read too. */
int auth_allow(const struct auth_client *client, enum auth_role need, const char *desk);

/* Lowercase hex SHA-256 of a token, for the config ("posactl hash-token"). */
int auth_hash_token(const char *token, char ret_hex[2 * AUTH_HASH_LEN + 1]);

/* Does a request with these Host and Origin headers (NULL: absent) come from a web page in
 * a browser, which a listener without tokens must not serve? Its Host is not this machine
 * (a page that rebinds its own name to 127.0.0.1 keeps its name there), or it carries an
 * Origin other than its own Host's (a cross-site request; every browser's POST has one).
 * This machine: a loopback literal (127.0.0.0/8, ::1), "localhost" and names under it,
 * "localhost.localdomain", or this machine's own name (gethostname, whole or its first
 * label), a trailing dot and a port allowed. An HIS, curl and posactl send no Origin. */
bool auth_from_web_page(const char *host, const char *origin);

#endif
