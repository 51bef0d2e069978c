/* posad's configuration: an INI file (packaging/posad.conf documents every key), then the
 * command-line overrides of his-api.md "Running". Errors name the file, line and key. */
#ifndef POSA_AGENT_CONFIG_H
#define POSA_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_PATH_MAX 256
#define CONFIG_TEXT_MAX 256

#define CONFIG_KEYS_MAX 96

/* key_line of a key set by a command-line option, not by the file. */
#define CONFIG_LINE_COMMAND INT32_MAX
/* One line of posad.conf, its end included: [his] clients' 256 clients fit on it. */
#define CONFIG_LINE_MAX      65536
#define CONFIG_LINE_MAX_TEXT "65,534"

struct posad_config {
    /* [posad] */
    char data_dir[CONFIG_PATH_MAX];
    char listen[64];                /* host:port, "" = no TCP */
    char socket[CONFIG_PATH_MAX];   /* Unix socket path, "" = none */
    uint32_t socket_mode;           /* octal in the file */
    char log_level[8];              /* debug info warn error */
    char log_format[8];             /* text json */
    char log_file[CONFIG_PATH_MAX]; /* "" = stderr */
    char seal_key_file[CONFIG_PATH_MAX]; /* "" = personal data stored plain (seal.h) */
    char seal_cipher[16];                /* aes-256-gcm sm4 */
    /* [institution] */
    char fixmedins_code[13];
    char fixmedins_name[CONFIG_TEXT_MAX];
    char mdtrtarea_admvs[7];
    char recer_sys_code[16];
    char infver[16];
    char msgid_terminal[4]; /* "" or a digit: this posad's msgids (core/msgid.h) */
    char opter_type[4];
    char opter[64];
    char opter_name[CONFIG_TEXT_MAX];
    /* [upstream] */
    char url[512];
    char ec_url[512]; /* the e-voucher decode service; "" = beside url */
    char ca_file[CONFIG_PATH_MAX];
    char cert_file[CONFIG_PATH_MAX];
    char key_file[CONFIG_PATH_MAX];
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;
    uint32_t max_connections;
    uint32_t offline_after; /* consecutive failures that make the platform offline */
    uint32_t probe_interval_ms;
    uint32_t idle_check_ms; /* connect-only check after this long without traffic, 0 = none */
    uint32_t rate_limit;  /* outbox messages per second, 0 = unlimited */
    uint32_t drain_batch; /* outbox rows taken per turn */
    /* [gateway] */
    char gateway[8];
    char tif_paasid[CONFIG_TEXT_MAX];
    char tif_token[CONFIG_TEXT_MAX];
    char csb_access_key[CONFIG_TEXT_MAX];
    char csb_secret_key[CONFIG_TEXT_MAX];
    char csb_version[32];
    char sm_client_id[CONFIG_TEXT_MAX];
    char sm_key_file[CONFIG_PATH_MAX];
    /* [desks] */
    char readers[1024];  /* "D01=ACS ACR39U * 00;D02=..." reader globs -> desks */
    char scanners[1024]; /* "D01=tcp:127.0.0.1:9100;D02=serial:/dev/ttyACM0" */
    /* The card vendor's ReadCardBas library (a 3.0 card that needs PSAM authentication
     * reads only through it), and the JSON its Init() takes; "" = plain PC/SC reads. */
    char card_library[CONFIG_PATH_MAX];
    char card_library_init[1024];
    /* [his] */
    uint32_t chunk_lines;                  /* fee lines per 2204/2301 upload */
    uint32_t idempotency_days;             /* an Idempotency-Key's first answer is kept this long */
    uint32_t events_heartbeat_ms;          /* a comment line to every event stream this often */
    char emergency_depts[CONFIG_TEXT_MAX]; /* "JZ01,JZ02" */
    char forms_certno[8];                  /* masked full: the ID number on the two forms */
    char reconcile_at[8];                  /* "HH:MM" Beijing time, or "": no daily run */
    char clients[49152]; /* "name:sha256hex:role:D01,D02;..." bearer tokens on TCP: 256 clients */
    char tls_cert[CONFIG_PATH_MAX]; /* PEM chain; with tls_key, TCP speaks TLS */
    char tls_key[CONFIG_PATH_MAX];
    /* [policy] */
    char policy_file[CONFIG_PATH_MAX]; /* insured regions' rules for offline estimates */
    /* The file's line of each key config_load set, by the key's place in config.c's table
     * (0: a default, or from the command line), so config_check can point at it. */
    int32_t key_line[CONFIG_KEYS_MAX]; /* 0: not set (a uint16_t took line 65,535 for the
                                          command line, and dropped the lines after) */
};

/* Defaults for every key. */
void config_defaults(struct posad_config *cfg);

/* Reads path over cfg. On error, msg gets "FILE:LINE: [section] key: what is wrong" and
 * POSA_EFIELD (or -errno when the file cannot be read) is returned. */
int config_load(struct posad_config *cfg, const char *path, char *msg, size_t cap);

/* Sets one key as if it were in the file ("upstream", "url", value); used for the
 * command-line overrides. Same errors, with origin in place of FILE:LINE. */
int config_set(struct posad_config *cfg, const char *section, const char *key, const char *value,
               const char *origin, char *msg, size_t cap);

/* Where the key came from, for a message about it: "FILE:LINE" when the file set it,
 * "command line" when an option did, else "FILE"; into buf, which it returns. */
const char *config_where(const struct posad_config *cfg, const char *path, const char *section,
                         const char *key, char *buf, size_t cap);

/* Checks what no single key can: required keys present, the gateway's keys for its kind.
 * Same message format, naming the key. */
int config_check(const struct posad_config *cfg, const char *path, char *msg, size_t cap);
/* What the places the file names are now, at a start and a --check-config (not a reload,
 * which moves neither, and whose log a link planted since must not keep from applying a
 * revoked token): a log_file that is a directory, pipe, socket or symbolic link; a socket
 * directory others may write. Same message format. */
int config_check_places(const struct posad_config *cfg, const char *path, char *msg, size_t cap);
/* Why others than posad (and root) could replace a socket at path, or NULL: its directory
 * may be written by others, or one above it is (renamed, it takes the path along); with
 * owner, also a directory of another account (asked at the start, as posad's user: not at a
 * check, which root may run for it). why holds the words. */
const char *config_socket_dir_unsafe(const char *path, bool owner, char *why, size_t cap);

/* What a reload changed, as "[his] clients, [upstream] url" lists ("" when nothing). */
struct config_changes {
    char applied[128]; /* reloadable keys whose value changed */
    char ignored[3072]; /* other keys whose value changed (every key fits): they wait for a
                           restart */
};

/* SIGHUP: copies into cfg the keys a reload applies ([his] clients, emergency_depts, [policy]
 * file) from next, a fresh read of the file, and says in ch which keys changed. The caller
 * runs config_check on the result: the running listener stays (only a restart moves it), so
 * a network listener must keep its tokens. */
void config_reload(struct posad_config *cfg, const struct posad_config *next,
                   struct config_changes *ch);

/* A [posad] listen value, "127.0.0.1:8470" or "[::1]:8470": its host (without brackets),
 * port, and whether it stays on this machine. POSA_EFIELD when it is not one of those. */
#define CONFIG_HOST_MAX 64
int config_listen_split(const char *listen, char host[CONFIG_HOST_MAX], int *port, bool *loopback);

#endif
