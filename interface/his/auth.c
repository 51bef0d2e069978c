/* Bearer tokens, hashed, scoped to a role and desks. */
#include "interface/his/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/err.h"
#include "core/str.h"

static int hash_parse(const char *hex, uint8_t out[AUTH_HASH_LEN])
{
    if (!hex || strlen(hex) != 2 * AUTH_HASH_LEN)
        return POSA_EFIELD;
    for (int i = 0; i < AUTH_HASH_LEN; i++) {
        int hi = str_hex_digit(hex[2 * i]), lo = str_hex_digit(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return POSA_EFIELD;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int role_parse(const char *text, enum auth_role *ret)
{
    static const char *const names[] = {[ROLE_READONLY] = "readonly",
                                        [ROLE_CASHIER] = "cashier", [ROLE_OPS] = "ops"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (text && strcmp(text, names[i]) == 0) {
            *ret = (enum auth_role)i;
            return 0;
        }
    }
    return POSA_EFIELD;
}

/* "D01,D02" or "*" into the client. */
static int desks_parse(const char *text, struct auth_client *c)
{
    if (!text || !text[0])
        return POSA_EFIELD;
    if (strcmp(text, "*") == 0) {
        c->all_desks = true;
        return 0;
    }
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");

        if (len == 0 || len >= AUTH_DESK_MAX)
            return POSA_EFIELD;
        if (c->n_desks == AUTH_DESKS_MAX)
            return POSA_ETOOLONG;
        memcpy(c->desks[c->n_desks], p, len);
        c->desks[c->n_desks][len] = '\0';
        if (!str_is_desk(c->desks[c->n_desks++]))
            return POSA_EFIELD; /* "D01,*" is no desk "*"; ':' or a blank a copying slip */
        p += len + (p[len] == ',');
    }
    return 0;
}

int auth_table_add(struct auth_table *table, const char *name, const char *hash_hex,
                   const char *role, const char *desks)
{
    struct auth_client c = {0};
    int err;

    if (table->n == AUTH_CLIENTS_MAX)
        return POSA_ETOOLONG;
    if (!name || !name[0] || strlen(name) >= AUTH_NAME_MAX)
        return POSA_EFIELD;
    memcpy(c.name, name, strlen(name));
    if ((err = hash_parse(hash_hex, c.token_hash)) < 0 || (err = role_parse(role, &c.role)) < 0 ||
        (err = desks_parse(desks, &c)) < 0)
        return err;
    /* A token listed twice would take the last entry's role and desks; a name twice would
     * share one Idempotency-Key namespace between two clients. */
    for (size_t i = 0; i < table->n; i++)
        if (strcmp(table->clients[i].name, c.name) == 0 ||
            memcmp(table->clients[i].token_hash, c.token_hash, AUTH_HASH_LEN) == 0)
            return POSA_EDUPLICATE;
    table->clients[table->n++] = c;
    return 0;
}

static int sha256(const char *text, size_t len, uint8_t out[AUTH_HASH_LEN])
{
    unsigned int out_len = 0;

    if (!EVP_Digest(text, len, out, &out_len, EVP_sha256(), NULL) || out_len != AUTH_HASH_LEN)
        return POSA_EFIELD;
    return 0;
}

int auth_identify(const struct auth_table *table, const char *authorization,
                  const struct auth_client **ret)
{
    static const char prefix[] = "Bearer ";
    const struct auth_client *found = NULL;
    uint8_t hash[AUTH_HASH_LEN];
    const char *token;
    size_t len;

    /* The scheme's name is case-insensitive (RFC 7235 §2.1): "bearer" is "Bearer". */
    if (!authorization || strncasecmp(authorization, prefix, sizeof prefix - 1) != 0)
        return POSA_EUNAUTHORIZED;
    token = authorization + sizeof prefix - 1;
    len = strlen(token);
    if (len == 0 || len > AUTH_TOKEN_MAX || sha256(token, len, hash) < 0)
        return POSA_EUNAUTHORIZED;
    /* Every entry is compared, in constant time, so timing tells nothing of the tokens. */
    for (size_t i = 0; i < table->n; i++)
        if (CRYPTO_memcmp(hash, table->clients[i].token_hash, AUTH_HASH_LEN) == 0)
            found = &table->clients[i];
    if (!found)
        return POSA_EUNAUTHORIZED;
    *ret = found;
    return 0;
}

static bool role_covers(enum auth_role have, enum auth_role need)
{
    return have == need || need == ROLE_READONLY;
}

int auth_allow(const struct auth_client *client, enum auth_role need, const char *desk)
{
    if (!role_covers(client->role, need))
        return POSA_EFORBIDDEN;
    if (!desk || client->all_desks)
        return 0;
    for (size_t i = 0; i < client->n_desks; i++)
        if (strcmp(client->desks[i], desk) == 0)
            return 0;
    return POSA_EFORBIDDEN;
}

int auth_hash_token(const char *token, char ret_hex[2 * AUTH_HASH_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t hash[AUTH_HASH_LEN];
    int err;

    if (!token || !token[0] || strlen(token) > AUTH_TOKEN_MAX)
        return POSA_EFIELD;
    if ((err = sha256(token, strlen(token), hash)) < 0)
        return err;
    for (int i = 0; i < AUTH_HASH_LEN; i++) {
        ret_hex[2 * i] = digits[hash[i] >> 4];
        ret_hex[2 * i + 1] = digits[hash[i] & 15];
    }
    ret_hex[2 * AUTH_HASH_LEN] = '\0';
    return 0;
}

/* The host part of a Host header (a bracketed IPv6 literal keeps its brackets off), without
 * its port or a trailing dot; false when it does not fit. */
static bool host_part(const char *host, char *buf, size_t cap, bool *ret_v6)
{
    const char *end;

    *ret_v6 = host[0] == '[';
    if (*ret_v6) {
        if (!(end = strchr(host, ']')))
            return false;
        host++;
    } else {
        end = host + strcspn(host, ":");
    }
    if ((size_t)(end - host) >= cap)
        return false;
    memcpy(buf, host, (size_t)(end - host));
    buf[end - host] = '\0';
    if (!*ret_v6 && end > host && buf[end - host - 1] == '.')
        buf[end - host - 1] = '\0';
    return true;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);

    return n >= t && strcasecmp(s + n - t, tail) == 0;
}

/* This machine's own name (gethostname), whole or its first label: what a browser on the
 * cashier's PC may call it. Not any name of one label: where the PC resolves such names over
 * the LAN (LLMNR, a search domain), a page could rebind one to 127.0.0.1. */
static bool is_this_hosts_name(const char *name)
{
    char self[256];
    size_t first;

    if (gethostname(self, sizeof self) != 0)
        return false;
    self[sizeof self - 1] = '\0';
    first = strcspn(self, ".");
    return strcasecmp(name, self) == 0 ||
           (strlen(name) == first && strncasecmp(name, self, first) == 0);
}

static bool host_is_local(const char *host)
{
    char name[256];
    struct in_addr v4;
    struct in6_addr v6;
    bool bracketed;

    if (!host_part(host, name, sizeof name, &bracketed))
        return false;
    if (bracketed)
        return inet_pton(AF_INET6, name, &v6) == 1 &&
               (IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127));
    if (inet_pton(AF_INET, name, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return !name[0] || strcasecmp(name, "localhost") == 0 || is_this_hosts_name(name) ||
           strcasecmp(name, "localhost.localdomain") == 0 || ends_with(name, ".localhost");
}

bool auth_from_web_page(const char *host, const char *origin)
{
    char same[300];

    if (host && !host_is_local(host))
        return true;
    if (!origin)
        return false;
    /* The page posad itself would serve (its own origin) may; any other may not. */
    if (!host)
        return true;
    snprintf(same, sizeof same, "http://%s", host);
    if (strcasecmp(origin, same) == 0)
        return false;
    snprintf(same, sizeof same, "https://%s", host);
    return strcasecmp(origin, same) != 0;
}
