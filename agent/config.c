/* The INI reader for posad: a table of keys (section, name, type, bounds, where it goes). */
#include "agent/config.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "agent/desk.h"
#include "agent/seal.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"
#include "drivers/vendor.h"
#include "interface/platform/gateway.h"
#include "core/err.h"
#include "core/utf8.h"

enum config_type { CT_TEXT, CT_UINT, CT_MODE, CT_CHOICE };

struct config_key {
    const char *section;
    const char *name;
    enum config_type type;
    size_t offset;
    size_t size;         /* text: buffer size */
    uint32_t min, max;   /* uint */
    const char *choices; /* "a|b|c" */
    /* text keys with a grammar of their own: 0, or POSA_EFIELD and why */
    int (*check)(const char *value, char *why, size_t cap);
    bool reloads; /* SIGHUP applies it (desk_reload); the others need a restart */
};

#define TEXT_KEY(sec, field, check, reloads)                                                       \
    {                                                                                              \
        sec, #field, CT_TEXT, offsetof(struct posad_config, field),                                \
            sizeof(((struct posad_config *)0)->field), 0, 0, NULL, check, reloads                  \
    }
#define TEXT_CHECKED(sec, field, check) TEXT_KEY(sec, field, check, false)
#define TEXT(sec, field)                TEXT_CHECKED(sec, field, NULL)
#define UINT(sec, field, lo, hi)                                                                   \
    {                                                                                              \
        sec, #field, CT_UINT, offsetof(struct posad_config, field), 0, lo, hi, NULL, NULL, false   \
    }
#define CHOICE(sec, field, list)                                                                   \
    {                                                                                              \
        sec, #field, CT_CHOICE, offsetof(struct posad_config, field),                              \
            sizeof(((struct posad_config *)0)->field), 0, 0, list, NULL, false                     \
    }

static int config_listen_check(const char *listen, char *why, size_t cap);

static int config_digit_check(const char *value, char *why, size_t cap)
{
    if (!value[0] || (value[0] >= '0' && value[0] <= '9' && !value[1]))
        return 0;
    snprintf(why, cap, "must be empty or one digit 0-9");
    return POSA_EFIELD;
}

static int config_hhmm_check(const char *value, char *why, size_t cap)
{
    if (!value[0] || (strlen(value) == 5 && value[2] == ':' && strspn(value, "0123456789:") == 5 &&
                      strchr(value + 3, ':') == NULL && atoi(value) < 24 && atoi(value + 3) < 60))
        return 0;
    snprintf(why, cap, "must be empty or a time HH:MM (00:00 to 23:59)");
    return POSA_EFIELD;
}

/* A path posad opens: absolute, since a service starts in / (a relative data_dir made
 * /reldata under systemd and ./reldata by hand). Empty where the key may be. */
static int config_path_check(const char *value, char *why, size_t cap)
{
    if (!value[0] || value[0] == '/')
        return 0;
    snprintf(why, cap, "must be an absolute path (starting with /): a service starts in /");
    return POSA_EFIELD;
}

#define PATH(sec, field) TEXT_CHECKED(sec, field, config_path_check)

/* The card vendor's Init() takes JSON: text that is none failed at the first card read. */
static int config_json_check(const char *value, char *why, size_t cap)
{
    struct json_object *o = NULL;

    if (!value[0] || jsonmap_parse(value, strlen(value), &o, NULL) == 0) {
        json_object_put(o);
        return 0;
    }
    snprintf(why, cap, "must be JSON (the vendor's Init() takes it), or empty");
    return POSA_EFIELD;
}

/* A field every envelope carries: empty, the platform refuses each message. */
static int config_nonempty_check(const char *value, char *why, size_t cap)
{
    if (value[0])
        return 0;
    snprintf(why, cap, "must not be empty: every message to the platform carries it");
    return POSA_EFIELD;
}

static const struct config_key config_keys[] = {
    PATH("posad", data_dir),
    TEXT_CHECKED("posad", listen, config_listen_check),
    PATH("posad", socket),
    {"posad", "socket_mode", CT_MODE, offsetof(struct posad_config, socket_mode), 0, 0, 0777, NULL,
     NULL, false},
    CHOICE("posad", log_level, "debug|info|warn|error"),
    CHOICE("posad", log_format, "text|json"),
    PATH("posad", log_file),
    PATH("posad", seal_key_file),
    CHOICE("posad", seal_cipher, SEAL_CIPHERS),
    TEXT("institution", fixmedins_code),
    TEXT("institution", fixmedins_name),
    TEXT("institution", mdtrtarea_admvs),
    TEXT_CHECKED("institution", recer_sys_code, config_nonempty_check),
    TEXT_CHECKED("institution", infver, config_nonempty_check),
    TEXT_CHECKED("institution", msgid_terminal, config_digit_check),
    CHOICE("institution", opter_type, "1|2|3"),
    TEXT_CHECKED("institution", opter, config_nonempty_check),
    TEXT_CHECKED("institution", opter_name, config_nonempty_check),
    TEXT("upstream", url),
    TEXT("upstream", ec_url),
    PATH("upstream", ca_file),
    PATH("upstream", cert_file),
    PATH("upstream", key_file),
    UINT("upstream", connect_timeout_ms, 10, 600000),
    UINT("upstream", timeout_ms, 10, 600000),
    UINT("upstream", max_connections, 1, 1024),
    UINT("upstream", offline_after, 1, 1000),
    UINT("upstream", probe_interval_ms, 10, 3600000),
    UINT("upstream", idle_check_ms, 0, 86400000),
    UINT("upstream", rate_limit, 0, 1000000),
    UINT("upstream", drain_batch, 1, 10000),
    CHOICE("gateway", gateway, "none|tif|csb|sm"),
    TEXT("gateway", tif_paasid),
    TEXT("gateway", tif_token),
    TEXT("gateway", csb_access_key),
    TEXT("gateway", csb_secret_key),
    TEXT("gateway", csb_version),
    TEXT("gateway", sm_client_id),
    PATH("gateway", sm_key_file),
    TEXT_CHECKED("desks", readers, desk_check_readers),
    TEXT_CHECKED("desks", scanners, desk_check_scanners),
    PATH("desks", card_library),
    TEXT_CHECKED("desks", card_library_init, config_json_check),
    UINT("his", chunk_lines, 1, 5000),
    UINT("his", idempotency_days, 1, 3650),
    UINT("his", events_heartbeat_ms, 100, 3600000),
    TEXT_KEY("his", emergency_depts, desk_check_depts, true),
    CHOICE("his", forms_certno, "masked|full"),
    TEXT_CHECKED("his", reconcile_at, config_hhmm_check),
    TEXT_KEY("his", clients, desk_check_clients, true),
    PATH("his", tls_cert),
    PATH("his", tls_key),
    {"policy", "file", CT_TEXT, offsetof(struct posad_config, policy_file),
     sizeof(((struct posad_config *)0)->policy_file), 0, 0, NULL, config_path_check, true},
};
_Static_assert(sizeof config_keys / sizeof config_keys[0] <= CONFIG_KEYS_MAX,
               "CONFIG_KEYS_MAX (config.h) is below the number of keys");


static bool key_differs(const struct config_key *k, const struct posad_config *a,
                        const struct posad_config *b)
{
    const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;

    if (k->type == CT_UINT || k->type == CT_MODE)
        return memcmp(pa, pb, sizeof(uint32_t)) != 0;
    return strcmp(pa, pb) != 0;
}

/* Appends "[section] key" to a ", "-separated list; one that does not fit ends the list with
 * "..." rather than half a key (said as if the rest had not changed). */
static void list_key(char *list, size_t cap, const struct config_key *k)
{
    size_t used = strlen(list);

    /* Once cut, the list is full: each key after it finds no room and cuts it again. */
    if ((size_t)snprintf(list + used, cap - used, "%s[%s] %s", used ? ", " : "", k->section,
                         k->name) >= cap - used)
        memcpy(list + cap - 4, "...", 4);
}

void config_reload(struct posad_config *cfg, const struct posad_config *next,
                   struct config_changes *ch)
{
    ch->applied[0] = ch->ignored[0] = '\0';
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++) {
        const struct config_key *k = &config_keys[i];
        size_t size = k->type == CT_UINT || k->type == CT_MODE ? sizeof(uint32_t) : k->size;

        if (!key_differs(k, cfg, next))
            continue;
        if (k->reloads) {
            memcpy((char *)cfg + k->offset, (const char *)next + k->offset, size);
            list_key(ch->applied, sizeof ch->applied, k);
        } else {
            list_key(ch->ignored, sizeof ch->ignored, k);
        }
    }
}

void config_defaults(struct posad_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->data_dir, "/var/lib/posa");
    strcpy(cfg->listen, "127.0.0.1:8470");
    strcpy(cfg->socket, "/run/posa/posa.sock");
    cfg->socket_mode = 0660;
    strcpy(cfg->log_level, "info");
    strcpy(cfg->log_format, "text");
    strcpy(cfg->seal_cipher, "aes-256-gcm");
    strcpy(cfg->recer_sys_code, "YBXT");
    strcpy(cfg->infver, "V1.0");
    strcpy(cfg->opter_type, "1");
    strcpy(cfg->opter, "posad");
    strcpy(cfg->opter_name, "posad");
    cfg->connect_timeout_ms = 3000;
    cfg->timeout_ms = 30000;
    cfg->max_connections = 16;
    cfg->offline_after = 3;
    cfg->probe_interval_ms = 5000;
    cfg->idle_check_ms = 30000;
    cfg->rate_limit = 0;
    cfg->drain_batch = 64;
    strcpy(cfg->gateway, "none");
    strcpy(cfg->csb_version, "1.0.0");
    cfg->chunk_lines = 500;
    cfg->idempotency_days = 7;
    cfg->events_heartbeat_ms = 15000;
    strcpy(cfg->forms_certno, "masked");
    strcpy(cfg->reconcile_at, "02:00");
}

static const struct config_key *config_find(const char *section, const char *name)
{
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
        if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

/* value is one of choices ("a|b|c"), whole: "a|b" is none of them. */
static bool config_choice_ok(const char *choices, const char *value)
{
    size_t n = strlen(value);

    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");

        if (len == n && memcmp(p, value, n) == 0)
            return true;
        p += len + (p[len] == '|');
    }
    return false;
}

/* Stores value into the key's field; a short reason in why on failure. */
static int config_store(struct posad_config *cfg, const struct config_key *k, const char *value,
                        const char **why)
{
    char *field = (char *)cfg + k->offset;
    char *end = NULL;
    unsigned long v;

    if (k->type == CT_CHOICE || k->type == CT_TEXT) {
        static char reason[300];

        /* Names and codes go into every envelope: text in GBK would make the platform
         * refuse each of them, sign-in first, long after the check said ok. */
        if (!utf8_is_valid(value, strlen(value), NULL)) {
            *why = "is not UTF-8 (save the file as UTF-8, not GBK)";
            return POSA_EFIELD;
        }
        for (const char *c = value; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7F) {
                *why = "contains a control character";
                return POSA_EFIELD;
            }
        /* The key's own rule before the length: "02:00:00" is no HH:MM, not "too long". */
        if (k->type == CT_CHOICE && !config_choice_ok(k->choices, value)) {
            *why = k->choices;
            return POSA_EFIELD;
        }
        if (k->check && k->check(value, reason, sizeof reason) < 0) {
            *why = reason;
            return POSA_EFIELD;
        }
        if (strlen(value) >= k->size) {
            snprintf(reason, sizeof reason, "too long (at most %zu bytes)", k->size - 1);
            *why = reason;
            return POSA_EFIELD;
        }
        strcpy(field, value);
        return 0;
    }
    errno = 0;
    v = strtoul(value, &end, k->type == CT_MODE ? 8 : 10);
    /* strtoul takes a sign and blanks before the digits: "+4" is no number here */
    if (value[0] < '0' || value[0] > '9' || *end || errno || v < k->min || v > k->max) {
        static char range[64];

        snprintf(range, sizeof range, "must be a whole number from %u to %u", k->min, k->max);
        *why = k->type == CT_MODE ? "must be an octal file mode (0600, 0660)" : range;
        return POSA_EFIELD;
    }
    /* The socket's permissions are the API's only auth on it (his-api.md). */
    if (k->type == CT_MODE && (v & 0002)) {
        *why = "must not let every local user write (o+w): the socket's mode is its auth";
        return POSA_EFIELD;
    }
    /* Connecting to a socket takes write permission: a mode without it for posad's own user,
     * or a group bit without it (0640), locks out whom it means to let in. */
    if (k->type == CT_MODE && (!(v & 0200) || ((v & 0070) && !(v & 0020)))) {
        *why = "must let its owner, and its group when any group bit is set, write (0600, 0660): "
               "connecting to a socket takes write permission";
        return POSA_EFIELD;
    }
    *(uint32_t *)(void *)field = (uint32_t)v;
    return 0;
}

static bool config_section_known(const char *section)
{
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
        if (strcmp(config_keys[i].section, section) == 0)
            return true;
    return false;
}

/* The section an unknown key of section belongs in, or NULL. */
static const char *config_other_section(const char *section, const char *name)
{
    for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
        if (strcmp(config_keys[i].section, section) != 0 && strcmp(config_keys[i].name, name) == 0)
            return config_keys[i].section;
    return NULL;
}

static bool config_quoted(const char *value)
{
    size_t n = strlen(value);

    return n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0];
}

/* What the reader of a refused value most likely wrote: a comment after the value, which
 * the format does not have (the value was "info    # info for production"). */
static const char *config_hint(const char *value)
{
    return strstr(value, " #") || strstr(value, "\t#") || strstr(value, " ;")
               ? " (a comment goes on a line of its own)"
               : "";
}

/* Sets a key and remembers where: line of the file, or 0 (a default, the command line). */
static int config_set_at(struct posad_config *cfg, const char *section, const char *key,
                         const char *value, const char *origin, int line, char *msg, size_t cap)
{
    const struct config_key *k = config_find(section, key);
    const char *why = "unknown key", *other = k ? NULL : config_other_section(section, key);
    char twice[64], elsewhere[64];

    /* A second line for a key (a cashier's token appended as another `clients =`) would
     * silently replace the first. */
    if (k && line > 0 && line != CONFIG_LINE_COMMAND && cfg->key_line[k - config_keys]) {
        snprintf(twice, sizeof twice, "set twice (first on line %u): one line per key",
                 (unsigned)cfg->key_line[k - config_keys]);
        why = twice;
        k = NULL;
    }
    if (other) {
        snprintf(elsewhere, sizeof elsewhere, "unknown key here: it goes under [%s]", other);
        why = elsewhere;
    }
    /* A quoted value would be used with its quotes (in every message's fixmedins_name). */
    if (k && config_quoted(value)) {
        why = "write the value without quotes";
        k = NULL;
    }
    if (k && config_store(cfg, k, value, &why) == 0) {
        cfg->key_line[k - config_keys] = line == CONFIG_LINE_COMMAND ? CONFIG_LINE_COMMAND
                                         : line > 0 && line < CONFIG_LINE_COMMAND ? line
                                                                                  : 0;
        return 0;
    }
    snprintf(msg, cap, "%s: [%s] %s: %s%s%s", origin, section, key,
             k && k->type == CT_CHOICE && why == k->choices ? "must be one of " : "", why,
             config_hint(value));
    return POSA_EFIELD;
}

int config_set(struct posad_config *cfg, const char *section, const char *key, const char *value,
               const char *origin, char *msg, size_t cap)
{
    return config_set_at(cfg, section, key, value, origin, CONFIG_LINE_COMMAND, msg, cap);
}

static char *config_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

int config_load(struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[CONFIG_LINE_MAX], section[32] = "", origin[CONFIG_PATH_MAX + 16];
    int lineno = 0, err = 0;

    if (!f) {
        err = -errno;
        snprintf(msg, cap, "%s: cannot open: %s", path, strerror(-err));
        return err;
    }
    while (!err && fgets(line, sizeof line, f)) {
        char *s, *eq;

        lineno++;
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            /* fgets stops at a newline, not at a NUL: a short line without one holds a NUL */
            snprintf(msg, cap, "%s: %s", origin,
                     strlen(line) < sizeof line - 1
                         ? "a NUL byte in the line (is the file UTF-16? save it as UTF-8)"
                         : "line too long (at most " CONFIG_LINE_MAX_TEXT " bytes)");
            err = POSA_EFIELD;
            break;
        }
        s = config_trim(line);
        if (lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) /* a BOM (Notepad) */
            s = config_trim(s + 3);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1] || close - s - 1 >= (long)sizeof section || close == s + 1) {
                snprintf(msg, cap, "%s: bad section header: write [name] alone on its line%s",
                         origin, close && close[1] ? config_hint(close + 1) : "");
                err = POSA_EFIELD;
                break;
            }
            *close = '\0';
            if (!config_section_known(s + 1)) { /* a typo's keys would all be refused, a */
                snprintf(msg, cap, "%s: unknown section [%s]", origin, s + 1); /* bare one not */
                err = POSA_EFIELD;
                break;
            }
            strcpy(section, s + 1);
            continue;
        }
        eq = strchr(s, '=');
        if (!eq || !*section) {
            snprintf(msg, cap, "%s: expected key = value inside a [section]", origin);
            err = POSA_EFIELD;
            break;
        }
        *eq = '\0';
        err = config_set_at(cfg, section, config_trim(s), config_trim(eq + 1), origin, lineno, msg,
                            cap);
    }
    /* A read that failed (a directory: EISDIR) is not an empty file. */
    if (!err && ferror(f)) {
        err = errno ? -errno : -EIO;
        snprintf(msg, cap, "%s: cannot read: %s", path, strerror(-err));
    }
    fclose(f);
    return err;
}

int config_listen_split(const char *listen, char host[CONFIG_HOST_MAX], int *port, bool *loopback)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen, *h_end = colon;
    unsigned char addr[16];
    char *end = NULL;
    long p;

    if (!colon)
        return POSA_EFIELD;
    if (listen[0] == '[') { /* [IPv6]:PORT */
        h = listen + 1;
        h_end = colon > listen && colon[-1] == ']' ? colon - 1 : NULL;
    }
    if (!h_end || h_end <= h || (size_t)(h_end - h) >= CONFIG_HOST_MAX)
        return POSA_EFIELD;
    snprintf(host, CONFIG_HOST_MAX, "%.*s", (int)(h_end - h), h);
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || errno || p > 65535) /* no sign, no blank */
        return POSA_EFIELD;
    *port = (int)p;
    if (h != listen && uv_inet_pton(AF_INET6, host, addr) == 0)
        *loopback = memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
    else if (h == listen && uv_inet_pton(AF_INET, host, addr) == 0)
        *loopback = addr[0] == 127;
    else
        return POSA_EFIELD;
    return 0;
}

static int config_listen_check(const char *listen, char *why, size_t cap)
{
    char host[CONFIG_HOST_MAX];
    bool loopback;
    int port;

    if (listen[0] && config_listen_split(listen, host, &port, &loopback) < 0) {
        snprintf(why, cap,
                 "must be HOST:PORT, HOST an IPv4 address or an [IPv6] one, PORT 0-65535");
        return POSA_EFIELD;
    }
    return 0;
}

/* "FILE:LINE" of the key when the file set it, "command line" when an option did, else
 * "FILE", into buf. */
static const char *config_at(const struct posad_config *cfg, const char *path, const char *section,
                             const char *key, char *buf, size_t cap)
{
    return config_where(cfg, path, section, key, buf, cap);
}

const char *config_where(const struct posad_config *cfg, const char *path, const char *section,
                         const char *key, char *buf, size_t cap)
{
    const struct config_key *k = config_find(section, key);
    int32_t line = k ? cfg->key_line[k - config_keys] : 0;

    if (line == CONFIG_LINE_COMMAND)
        snprintf(buf, cap, "command line");
    else if (line)
        snprintf(buf, cap, "%s:%d", path, (int)line);
    else
        snprintf(buf, cap, "%s", path);
    return buf;
}

static int config_require(const struct posad_config *cfg, const char *value, const char *path,
                          const char *section, const char *key, const char *why, char *msg,
                          size_t cap)
{
    char at[CONFIG_PATH_MAX + 16];

    if (value && *value)
        return 0;
    snprintf(msg, cap, "%s: [%s] %s: %s", config_at(cfg, path, section, key, at, sizeof at),
             section, key, why);
    return POSA_EFIELD;
}

/* An upstream address: http(s)://, a host, and nothing curl would refuse later as "bad
 * format" while posad called the platform unreachable (a space: a comment on the line). */
static int config_url(const struct posad_config *cfg, const char *path, const char *key,
                      const char *url, char *msg, size_t cap)
{
    size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    char at[CONFIG_PATH_MAX + 16];
    const char *why = NULL;

    if (!scheme)
        why = "must start with http:// or https://";
    else if (!url[scheme] || url[scheme] == '/' || url[scheme] == ':')
        why = "must name a host after the scheme";
    for (const char *c = url; !why && *c; c++)
        if ((unsigned char)*c <= ' ' || *c == '"' || *c == '\\' || *c == 0x7f)
            why = "must not hold spaces, quotes or control characters (a comment goes on a "
                  "line of its own)";
    /* A password there would be written to the log with the URL, and to every desk's
     * e-voucher URL made from it. */
    if (!why && memchr(url + scheme, '@', strcspn(url + scheme, "/?#")))
        why = "must not carry a user or password (user:password@host): the platform's "
              "credentials go in [gateway]";
    /* The rest as curl itself will read it: a port past 65535, an IPv6 address whose
     * bracket is not closed. */
    if (!why) {
        CURLU *u = curl_url();
        CURLUcode rc = u ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;

        curl_url_cleanup(u);
        if (rc != CURLUE_OK)
            why = curl_url_strerror(rc);
    }
    if (!why)
        return 0;
    snprintf(msg, cap, "%s: [upstream] %s: %s",
             config_at(cfg, path, "upstream", key, at, sizeof at), key, why);
    return POSA_EFIELD;
}

/* Loaded now as at start (its Init is not run): a file that is no library, or one without
 * ReadCardBas, stopped posad at start with exit 1, past a check that said ok. */
static int config_card_library(const struct posad_config *cfg, const char *path, char *msg,
                               size_t cap)
{
    struct vendor_lib lib;
    char at[CONFIG_PATH_MAX + 16];
    const char *why;

    if (!cfg->card_library[0])
        return 0;
    if (vendor_lib_open(&lib, cfg->card_library, NULL) == 0) {
        vendor_lib_close(&lib);
        return 0;
    }
    why = dlerror(); /* a library it needs is missing, a 32-bit one, no ReadCardBas */
    snprintf(msg, cap,
             "%s: [desks] card_library: not a card vendor's library (a shared library "
             "with ReadCardBas): %s",
             config_at(cfg, path, "desks", "card_library", at, sizeof at),
             why ? why : "it does not load");
    return POSA_EFIELD;
}

/* The SM gateway signs every message with it: a file that holds no SM2 key (or one under a
 * passphrase) failed every message at run time, said as "the platform is unreachable". */
static int config_sm_key(const struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    EVP_PKEY *key = NULL;
    char at[CONFIG_PATH_MAX + 16];

    if (gateway_load_private_key(cfg->sm_key_file, "SM2", &key) == 0) {
        EVP_PKEY_free(key);
        return 0;
    }
    snprintf(msg, cap,
             "%s: [gateway] sm_key_file: not an SM2 private key (PEM, without a "
             "passphrase)",
             config_at(cfg, path, "gateway", "sm_key_file", at, sizeof at));
    return POSA_EFIELD;
}

/* A file the key names must be readable now, not when the first message needs it. */
static int config_readable(const struct posad_config *cfg, const char *path, const char *section,
                           const char *key, const char *file, char *msg, size_t cap)
{
    char at[CONFIG_PATH_MAX + 16];

    if (!file[0] || access(file, R_OK) == 0)
        return 0;
    snprintf(msg, cap, "%s: [%s] %s: cannot read %s: %s",
             config_at(cfg, path, section, key, at, sizeof at), section, key, file,
             strerror(errno));
    return POSA_EFIELD;
}

static X509 *pem_cert(const char *file)
{
    FILE *f = fopen(file, "r");
    X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

    if (f)
        fclose(f);
    return cert;
}

/* A private key without a passphrase (curl has none to give), or NULL. */
static EVP_PKEY *pem_key(const char *file)
{
    EVP_PKEY *key = NULL;

    return gateway_load_private_key(file, NULL, &key) == 0 ? key : NULL;
}

/* What curl will load for the platform, loaded now: a file that is no certificate or key
 * (or a key not the certificate's) would fail every message, with the platform fine. */
static int config_client_tls(const struct posad_config *cfg, const char *path, char *msg,
                             size_t cap)
{
    const char *key = NULL, *why = NULL;
    X509_STORE *store = cfg->ca_file[0] ? X509_STORE_new() : NULL;
    X509 *cert = cfg->cert_file[0] ? pem_cert(cfg->cert_file) : NULL;
    /* Without key_file curl takes the key from cert_file: it must be there. */
    EVP_PKEY *pkey = cfg->key_file[0] ? pem_key(cfg->key_file)
                     : cert           ? pem_key(cfg->cert_file)
                                      : NULL;
    char at[CONFIG_PATH_MAX + 16];

    if (cfg->ca_file[0] && (!store || X509_STORE_load_file(store, cfg->ca_file) != 1)) {
        key = "ca_file";
        why = "no PEM certificate in it";
    } else if (cfg->cert_file[0] && !cert) {
        key = "cert_file";
        why = "not a PEM certificate";
    } else if (cfg->key_file[0] && !cfg->cert_file[0]) {
        key = "key_file";
        why = "set without cert_file (the client certificate it is the key of)";
    } else if (cfg->key_file[0] && !pkey) {
        key = "key_file";
        why = "not a PEM private key without a passphrase";
    } else if (cert && !pkey) {
        key = "cert_file";
        why = "holds no private key (without a passphrase): set key_file";
    } else if (cert && pkey && X509_check_private_key(cert, pkey) != 1) {
        key = "key_file";
        why = "not the key of cert_file's certificate";
    }
    X509_STORE_free(store);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    if (!key)
        return 0;
    snprintf(msg, cap, "%s: [upstream] %s: %s",
             config_at(cfg, path, "upstream", key, at, sizeof at), key, why);
    return POSA_EFIELD;
}

/* Private keys every local account may read: one lets anyone pose as posad to the HIS
 * (tls_key) or to the platform (key_file; cert_file when it holds the key), or sign its
 * messages (sm_key_file). Group read is left to the operator (a service group's 0640). */
static int config_private_keys(const struct posad_config *cfg, const char *path, char *msg,
                               size_t cap)
{
    const struct {
        const char *section, *key, *file;
    } keys[] = {{"his", "tls_key", cfg->tls_key},
                {"upstream", "key_file", cfg->key_file},
                {"upstream", "cert_file", cfg->key_file[0] ? "" : cfg->cert_file},
                {"gateway", "sm_key_file", cfg->sm_key_file}};
    char at[CONFIG_PATH_MAX + 16];
    struct stat st;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!keys[i].file[0] || stat(keys[i].file, &st) != 0 || !(st.st_mode & S_IRWXO))
            continue;
        snprintf(msg, cap,
                 "%s: [%s] %s: %s: every account may use this private key (mode %04o): "
                 "chmod 0600 (or 0640, for posad's group)",
                 config_at(cfg, path, keys[i].section, keys[i].key, at, sizeof at), keys[i].section,
                 keys[i].key, keys[i].file, (unsigned)(st.st_mode & 07777));
        return POSA_EFIELD;
    }
    return 0;
}

/* The gateway's secrets written in posad.conf itself (tif_token, csb_secret_key; the SM4 key
 * in sm_client_id): a file every account may read gives them away, as a key file would
 * (config_private_keys), and that was taken without a word. */
static int config_private_secrets(const struct posad_config *cfg, const char *path, char *msg,
                                  size_t cap)
{
    const struct {
        const char *key, *value;
    } secrets[] = {{"tif_token", cfg->tif_token},
                   {"csb_secret_key", cfg->csb_secret_key},
                   {"sm_client_id", cfg->sm_client_id}};
    char at[CONFIG_PATH_MAX + 16];
    struct stat st;

    if (stat(path, &st) != 0 || !(st.st_mode & S_IRWXO))
        return 0;
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (!secrets[i].value[0])
            continue;
        snprintf(msg, cap,
                 "%s: [gateway] %s: a secret in a file every account may read (mode %04o): "
                 "chmod 0600 %s (or 0640, for posad's group)",
                 config_at(cfg, path, "gateway", secrets[i].key, at, sizeof at), secrets[i].key,
                 (unsigned)(st.st_mode & 07777), path);
        return POSA_EFIELD;
    }
    return 0;
}

/* The log posad appends to at start, when there already: a directory, or a pipe or socket
 * (open would wait on a pipe for its reader, and posad with it), fails the start; a device
 * (/dev/null) is appended to as a file is. */
static int config_log_file(const struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    char at[CONFIG_PATH_MAX + 16];
    struct stat st;

    if (!cfg->log_file[0] || lstat(cfg->log_file, &st) != 0 ||
        !(S_ISDIR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
          S_ISLNK(st.st_mode)))
        return 0;
    snprintf(msg, cap, "%s: [posad] log_file: %s: %s",
             config_at(cfg, path, "posad", "log_file", at, sizeof at), cfg->log_file,
             S_ISDIR(st.st_mode)   ? "a directory, not a file"
             : S_ISLNK(st.st_mode) ? "a symbolic link: posad does not follow one for its log "
                                     "(name the file itself)"
                                   : "a pipe or socket, not a file");
    return POSA_EFIELD;
}

/* Why others than posad (and root) could replace dir (or what is in it), or NULL: it is
 * theirs (own: asked of the socket's own directory), or they may write it without the
 * sticky bit (as /tmp has). */
static const char *dir_unsafe(const char *dir, bool own, char *why, size_t cap)
{
    struct stat st;

    if (stat(dir, &st) != 0)
        return NULL; /* the bind says what is wrong */
    if (own && st.st_uid != geteuid() && st.st_uid != 0)
        snprintf(why, cap, "the directory %s belongs to uid %u, who could replace the socket", dir,
                 (unsigned)st.st_uid);
    else if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        snprintf(why, cap,
                 "others may write the directory %s (mode %04o) and replace the socket: use a "
                 "directory only posad's user may write, such as /run/posa",
                 dir, (unsigned)(st.st_mode & 07777));
    else
        return NULL;
    return why;
}

/* Why others than posad (and root) could replace a socket at path, or NULL: its directory
 * is unsafe, or one above it is writable by others (renamed, it takes the path along). Whose
 * the ones above are is not asked: `sudo scripts/demo` in a user's clone has the user's home
 * above the socket, and that user is the one who ran it. Whoever put a socket of theirs in
 * its place would hear the cashiers' requests and answer them. */
const char *config_socket_dir_unsafe(const char *path, bool owner, char *why, size_t cap)
{
    char dir[CONFIG_PATH_MAX], *slash, *real;

    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir] = '\0'; /* "/posa.sock" is in "/" */
    if (!(real = realpath(dir, NULL)))
        return NULL; /* the bind says what is wrong */
    snprintf(dir, sizeof dir, "%s", real);
    free(real);
    for (bool own = true;; own = false) { /* the directory, then each one above it, to "/" */
        if (dir_unsafe(dir, own && owner, why, cap))
            return why;
        if (strcmp(dir, "/") == 0)
            return NULL;
        slash = strrchr(dir, '/');
        slash[slash == dir] = '\0';
    }
}

/* The socket's path must fit an address (108 bytes with its NUL): else posad would stop at
 * start, past the check. Its directory, and the log's, may be made by the service manager
 * when posad starts (systemd's RuntimeDirectory, LogsDirectory): not looked for here. */
static int config_paths(const struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    char at[CONFIG_PATH_MAX + 16];
    struct sockaddr_un un;

    if (strlen(cfg->socket) >= sizeof un.sun_path) {
        snprintf(msg, cap, "%s: [posad] socket: %s: longer than a socket's path may be (107 bytes)",
                 config_at(cfg, path, "posad", "socket", at, sizeof at), cfg->socket);
        return POSA_EFIELD;
    }
    return 0;
}

int config_check_places(const struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    char at[CONFIG_PATH_MAX + 16], why[CONFIG_PATH_MAX + 160];

    if (cfg->socket[0] && config_socket_dir_unsafe(cfg->socket, false, why, sizeof why)) {
        snprintf(msg, cap, "%s: [posad] socket: %s: %s",
                 config_at(cfg, path, "posad", "socket", at, sizeof at), cfg->socket, why);
        return POSA_EFIELD;
    }
    return config_log_file(cfg, path, msg, cap);
}

/* The key the database's personal data is sealed under, read now as posad will at start. */
static int config_seal_key(const struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    char at[CONFIG_PATH_MAX + 16], why[256];
    struct seal_key *k = NULL;
    int err;

    if (!cfg->seal_key_file[0])
        return 0;
    err = seal_key_load(cfg->seal_key_file, cfg->seal_cipher, &k, why, sizeof why);
    seal_key_free(k);
    if (!err)
        return 0;
    snprintf(msg, cap, "%s: [posad] seal_key_file: %s: %s",
             config_at(cfg, path, "posad", "seal_key_file", at, sizeof at), cfg->seal_key_file,
             why);
    return POSA_EFIELD;
}

/* A data_dir there already must be a directory and not a shared one (sticky, as /tmp is):
 * posad refuses either at start (make_data_dir, which also wants it posad's own). One not
 * there yet is made at start, but not its parents: the check said ok and the start failed. */
static int config_data_dir(const struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    char at[CONFIG_PATH_MAX + 16], parent[CONFIG_PATH_MAX];
    struct stat st;
    const char *why;

    if (stat(cfg->data_dir, &st) != 0) {
        str_copy(parent, sizeof parent, cfg->data_dir);
        if (stat(dirname(parent), &st) == 0 && S_ISDIR(st.st_mode))
            return 0; /* made at start */
        why = "its parent directory is not there: create it (posad makes data_dir, not its "
              "parents)";
    } else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (st.st_mode & S_ISVTX)
        why = "a shared directory (sticky, as /tmp is): give posad one of its own";
    else
        return 0;
    snprintf(msg, cap, "%s: [posad] data_dir: %s: %s",
             config_at(cfg, path, "posad", "data_dir", at, sizeof at), cfg->data_dir, why);
    return POSA_EFIELD;
}

int config_check(const struct posad_config *cfg, const char *path, char *msg, size_t cap)
{
    char host[CONFIG_HOST_MAX], at[CONFIG_PATH_MAX + 16];
    bool loopback = false;
    int err = 0, port;
    size_t n = strlen(cfg->fixmedins_code);

    err = config_require(cfg, cfg->data_dir, path, "posad", "data_dir", "required", msg, cap);
    if (!err)
        err = config_require(cfg, cfg->fixmedins_code, path, "institution", "fixmedins_code",
                             "required", msg, cap);
    if (!err && (n != 12 ||
                 strspn(cfg->fixmedins_code,
                        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != 12)) {
        snprintf(msg, cap, "%s: [institution] fixmedins_code: must be 12 letters or digits",
                 config_at(cfg, path, "institution", "fixmedins_code", at, sizeof at));
        err = POSA_EFIELD;
    }
    if (!err &&
        (strlen(cfg->mdtrtarea_admvs) != 6 || strspn(cfg->mdtrtarea_admvs, "0123456789") != 6)) {
        snprintf(msg, cap, "%s: [institution] mdtrtarea_admvs: must be 6 digits",
                 config_at(cfg, path, "institution", "mdtrtarea_admvs", at, sizeof at));
        err = POSA_EFIELD;
    }
    if (!err)
        err = config_require(cfg, cfg->fixmedins_name, path, "institution", "fixmedins_name",
                             "required", msg, cap);
    if (!err)
        err = config_require(cfg, cfg->url, path, "upstream", "url", "required", msg, cap);
    if (!err)
        err = config_url(cfg, path, "url", cfg->url, msg, cap);
    if (!err && cfg->ec_url[0])
        err = config_url(cfg, path, "ec_url", cfg->ec_url, msg, cap);
    if (!err)
        err = config_readable(cfg, path, "upstream", "ca_file", cfg->ca_file, msg, cap);
    if (!err)
        err = config_readable(cfg, path, "upstream", "cert_file", cfg->cert_file, msg, cap);
    if (!err)
        err = config_readable(cfg, path, "upstream", "key_file", cfg->key_file, msg, cap);
    if (!err)
        err = config_readable(cfg, path, "desks", "card_library", cfg->card_library, msg, cap);
    if (!err)
        err = config_card_library(cfg, path, msg, cap);
    if (!err)
        err = config_client_tls(cfg, path, msg, cap);
    if (!err)
        err = config_data_dir(cfg, path, msg, cap);
    if (!err)
        err = config_seal_key(cfg, path, msg, cap);
    if (!err)
        err = config_paths(cfg, path, msg, cap);
    if (!err && !*cfg->listen && !*cfg->socket) {
        snprintf(msg, cap, "%s: [posad] listen: listen or socket must be set",
                 config_at(cfg, path, "posad", "listen", at, sizeof at));
        err = POSA_EFIELD;
    }
    if (!err && (!*cfg->tls_cert != !*cfg->tls_key)) {
        snprintf(msg, cap, "%s: [his] tls_cert, tls_key: set both or neither",
                 config_at(cfg, path, "his", "tls_cert", at, sizeof at));
        err = POSA_EFIELD;
    }
    if (!err && cfg->listen[0] &&
        (config_listen_split(cfg->listen, host, &port, &loopback) < 0 || !loopback) &&
        (!*cfg->tls_cert || !*cfg->clients)) {
        snprintf(msg, cap,
                 "%s: [posad] listen: %s is not a loopback address; a network listener needs TLS "
                 "([his] tls_cert, tls_key) and tokens ([his] clients)",
                 config_at(cfg, path, "posad", "listen", at, sizeof at), cfg->listen);
        err = POSA_EFIELD;
    }
    if (!err && strcmp(cfg->gateway, "tif") == 0) {
        err = config_require(cfg, cfg->tif_paasid, path, "gateway", "tif_paasid",
                             "required by gateway = tif", msg, cap);
        if (!err)
            err = config_require(cfg, cfg->tif_token, path, "gateway", "tif_token",
                                 "required by gateway = tif", msg, cap);
    }
    if (!err && strcmp(cfg->gateway, "csb") == 0) {
        err = config_require(cfg, cfg->csb_access_key, path, "gateway", "csb_access_key",
                             "required by gateway = csb", msg, cap);
        if (!err)
            err = config_require(cfg, cfg->csb_secret_key, path, "gateway", "csb_secret_key",
                                 "required by gateway = csb", msg, cap);
    }
    if (!err && strcmp(cfg->gateway, "sm") == 0) {
        if (strlen(cfg->sm_client_id) < 16) {
            snprintf(msg, cap,
                     "%s: [gateway] sm_client_id: at least 16 characters (the SM4 "
                     "key) required by gateway = sm",
                     config_at(cfg, path, "gateway", "sm_client_id", at, sizeof at));
            err = POSA_EFIELD;
        }
        if (!err)
            err = config_require(cfg, cfg->sm_key_file, path, "gateway", "sm_key_file",
                                 "required by gateway = sm", msg, cap);
        if (!err)
            err = config_readable(cfg, path, "gateway", "sm_key_file", cfg->sm_key_file, msg, cap);
        if (!err)
            err = config_sm_key(cfg, path, msg, cap);
    }
    if (!err)
        err = config_private_keys(cfg, path, msg, cap);
    if (!err)
        err = config_private_secrets(cfg, path, msg, cap);
    return err;
}
