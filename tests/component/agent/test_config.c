/* agent/config.c on real files: every error names the file, the line and the key; the
 * shipped packaging/posad.conf parses (only the required institution keys are left to
 * fill); command-line overrides go through the same checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"
#include "core/err.h"

static char path[64];

static void write_conf(const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    int fd;

    (void)state;
    strcpy(path, "/tmp/posad-conf-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static const char good[] = "# a comment\n"
                           "[posad]\n"
                           "data_dir = /tmp/x\n"
                           "socket_mode = 0600\n"
                           "\n"
                           "[institution]\n"
                           "fixmedins_code = H31010100001\n"
                           "fixmedins_name = 瑞金医院\n"
                           "mdtrtarea_admvs = 310000\n"
                           "[upstream]\n"
                           "url = http://127.0.0.1:8471/fsi/api/rsfComIfsService/callService\n"
                           "timeout_ms = 2500\n"
                           "[gateway]\n"
                           "gateway = tif\n"
                           "tif_paasid = p\n"
                           "tif_token = t\n";

static void test_good_file(void **state)
{
    struct posad_config cfg;
    char msg[512] = "";

    (void)state;
    write_conf(good);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, msg, sizeof msg), 0);
    assert_int_equal(config_check(&cfg, path, msg, sizeof msg), 0);
    assert_string_equal(cfg.data_dir, "/tmp/x");
    assert_int_equal(cfg.socket_mode, 0600);
    assert_int_equal(cfg.timeout_ms, 2500);
    assert_int_equal(cfg.connect_timeout_ms, 3000); /* default kept */
    assert_string_equal(cfg.fixmedins_name, "瑞金医院");
    assert_string_equal(cfg.gateway, "tif");
}

/* A client entry wrong in one field says which: all said "is not NAME:SHA256-HEX:ROLE:DESKS". */
#define HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
static void test_a_bad_client_entry_names_its_field(void **state)
{
    static const struct {
        const char *entry, *says;
    } cases[] = {
        {"desk1:test:cashier:D01", "\"desk1\": its SHA256-HEX is not 64 hex digits (the hash"},
        {"desk1:" HASH "  -:cashier:D01", "its SHA256-HEX is not 64 hex digits"},
        {"desk1:" HASH ":Cashier:D01",
         "\"desk1\": role \"Cashier\" is not readonly, cashier or ops"},
        {"desk1:" HASH ":cashier", "\"desk1\" is not NAME:SHA256-HEX:ROLE:DESKS (four fields)"},
        {"desk1:" HASH ":cashier:D01, D02", "\"desk1\": desks \"D01, D02\" are not * or D01,D02"},
    };
    struct posad_config cfg;
    char msg[512], text[256];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "[his]\nclients = %s\n", cases[i].entry);
        write_conf(text);
        config_defaults(&cfg);
        msg[0] = '\0';
        assert_int_equal(config_load(&cfg, path, msg, sizeof msg), POSA_EFIELD);
        if (!strstr(msg, cases[i].says))
            print_error("%s\n  said: %s\n", cases[i].entry, msg);
        assert_non_null(strstr(msg, cases[i].says));
    }
}
#undef HASH

/* A posad.conf holding the gateway's secret that every account may read is refused, as a
 * key file so readable is (it was taken without a word); the group may read it. */
static void test_secrets_in_a_readable_file(void **state)
{
    struct posad_config cfg;
    char msg[512] = "";

    (void)state;
    write_conf(good); /* gateway = tif, tif_token = t */
    assert_int_equal(chmod(path, 0644), 0);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, msg, sizeof msg), 0);
    assert_int_equal(config_check(&cfg, path, msg, sizeof msg), POSA_EFIELD);
    assert_non_null(strstr(msg, "[gateway] tif_token: a secret in a file every account may read "
                                "(mode 0644): chmod 0600"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(config_check(&cfg, path, msg, sizeof msg), 0);
    assert_int_equal(chmod(path, 0600), 0);
}

/* A config of one [his] clients line: n cashiers named prefix000, prefix001, ... of desks. */
static void write_clients(int n, const char *prefix, const char *desks)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs("[his]\nclients = ", f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s%03d:%064x:cashier:%s", i ? ";" : "", prefix, i, i, desks);
    fputs("\n", f);
    fclose(f);
}

/* [his] clients holds as many clients as the auth table (AUTH_CLIENTS_MAX, 256): the value
 * stopped at some 46, and past the line's 8,192 bytes said "line too long", naming no key;
 * too long now says its bound. */
static void test_clients_hold_the_auth_tables(void **state)
{
    FILE *f;
    struct posad_config cfg;
    char msg[512] = "";

    (void)state;
    write_clients(256, "desk-client-", "D01,D02");
    config_defaults(&cfg);
    if (config_load(&cfg, path, msg, sizeof msg) != 0)
        print_error("%s\n", msg);
    assert_non_null(strstr(cfg.clients, "desk-client-255:"));
    write_clients(257, "c", "D01"); /* one more: said as such, not as a bad entry */
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, msg, sizeof msg), POSA_EFIELD);
    assert_non_null(strstr(msg, "[his] clients: \"c256\": more than 256 clients"));

    assert_non_null(f = fopen(path, "w"));
    fputs("[institution]\nfixmedins_name = ", f);
    for (int i = 0; i < 300; i++)
        fputs("x", f);
    fputs("\n", f);
    fclose(f);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, msg, sizeof msg), POSA_EFIELD);
    assert_non_null(strstr(msg, "[institution] fixmedins_name: too long (at most "));
}

/* A key twice past line 65,535 (a long commented file): refused with its lines as any other
 * (a 16-bit line number took 65,535 for "the command line", and 0 past it: taken twice). */
static void test_lines_past_65535(void **state)
{
    FILE *f = fopen(path, "w");
    struct posad_config cfg;
    char msg[512] = "";

    (void)state;
    assert_non_null(f);
    fputs("[his]\n", f);
    for (int i = 0; i < 70000; i++)
        fputs("# a comment\n", f);
    fputs("chunk_lines = 5\nchunk_lines = 6\n", f); /* lines 70002 and 70003 */
    fclose(f);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, msg, sizeof msg), POSA_EFIELD);
    assert_non_null(strstr(msg, ":70003: [his] chunk_lines: set twice (first on line 70002)"));
}

struct bad_case {
    const char *text;
    const char *expect; /* the message after "path" */
};

static void test_errors_name_file_line_key(void **state)
{
    static const struct bad_case cases[] = {
        {"[upstream]\ntimeout_ms = soon\n",
         ":2: [upstream] timeout_ms: must be a whole number from 10 to 600000"},
        {"[upstream]\n\ntimeout_ms = 0\n",
         ":3: [upstream] timeout_ms: must be a whole number from 10 to 600000"},
        {"[upstream]\ntimeout_ms = -5\n",
         ":2: [upstream] timeout_ms: must be a whole number from 10 to 600000"},
        {"[upstream]\nspeed = 3\n", ":2: [upstream] speed: unknown key"},
        {"[posad]\nlog_level = loud\n",
         ":2: [posad] log_level: must be one of debug|info|warn|error"},
        {"[posad]\nsocket_mode = 0999\n",
         ":2: [posad] socket_mode: must be an octal file mode (0600, 0660)"},
        {"[posad]\nsocket_mode = 0666\n",
         ":2: [posad] socket_mode: must not let every local user write (o+w): the socket's "
         "mode is its auth"},
        {"[his]\nchunk_lines = 5\nchunk_lines = 6\n",
         ":3: [his] chunk_lines: set twice (first on line 2): one line per key"},
        {"[institution]\nmsgid_terminal = 10\n",
         ":2: [institution] msgid_terminal: must be empty or one digit 0-9"},
        {"timeout_ms = 1\n", ":1: expected key = value inside a [section]"},
        {"[posad\n", ":1: bad section header: write [name] alone on its line"},
        {"[posad]   # the daemon\n",
         ":1: bad section header: write [name] alone on its line (a comment goes on a line of "
         "its own)"},
        {"[posad]\nlog_level = info    # info for production\n",
         ":2: [posad] log_level: must be one of debug|info|warn|error (a comment goes on a line "
         "of its own)"},
        {"[posad]\ntimeout_ms = 5000\n",
         ":2: [posad] timeout_ms: unknown key here: it goes under [upstream]"},
        {"[institution]\nfixmedins_name = \"瑞金医院\"\n",
         ":2: [institution] fixmedins_name: write the value without quotes"},
        {"[posad]\ndata_dir = '/var/lib/posa'\n",
         ":2: [posad] data_dir: write the value without quotes"},
        {"[gateway]\ngateway = oauth\n", ":2: [gateway] gateway: must be one of none|tif|csb|sm"},
        /* Two choices are none of them (the second would have gone into every envelope). */
        {"[gateway]\ngateway = tif|csb\n", ":2: [gateway] gateway: must be one of none|tif|csb|sm"},
        /* A relative path is the current directory's: / under systemd. */
        {"[posad]\ndata_dir = reldata\n",
         ":2: [posad] data_dir: must be an absolute path (starting with /): a service starts in /"},
        {"[his]\ntls_key = key.pem\n",
         ":2: [his] tls_key: must be an absolute path (starting with /): a service starts in /"},
        /* A mode that locks out whom it means to let in (connecting takes write), a sign */
        {"[posad]\nsocket_mode = 0640\n",
         ":2: [posad] socket_mode: must let its owner, and its group when any group bit is set, "
         "write (0600, 0660): connecting to a socket takes write permission"},
        {"[posad]\nsocket_mode = 0\n",
         ":2: [posad] socket_mode: must let its owner, and its group when any group bit is set, "
         "write (0600, 0660): connecting to a socket takes write permission"},
        {"[posad]\nsocket_mode = +0660\n",
         ":2: [posad] socket_mode: must be an octal file mode (0600, 0660)"},
        {"[upstream]\nmax_connections = +4\n",
         ":2: [upstream] max_connections: must be a whole number from 1 to 1024"},
        /* A misspelt section with no key under it was passed over without a word. */
        {"[upstrem]\n", ":1: unknown section [upstrem]"},
        {"[institution]\ninfver =\n",
         ":2: [institution] infver: must not be empty: every message to the platform carries it"},
        {"[gateway]\ngateway = none|tif\n",
         ":2: [gateway] gateway: must be one of none|tif|csb|sm"},
        {"[institution]\nopter_type = 1|2\n", ":2: [institution] opter_type: must be one of 1|2|3"},
        {"[gateway]\ngateway = \n", ":2: [gateway] gateway: must be one of none|tif|csb|sm"},
        /* 瑞金医院 saved in GBK: every envelope would carry it, every sign-in refused. */
        {"[institution]\nfixmedins_name = \xC8\xF0\xBD\xF0\xD2\xBD\xD4\xBA\n",
         ":2: [institution] fixmedins_name: is not UTF-8 (save the file as UTF-8, not GBK)"},
        {"[institution]\nfixmedins_name = a\x01b\n",
         ":2: [institution] fixmedins_name: contains a control character"},
    };
    char msg[512], want[512];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct posad_config cfg;

        write_conf(cases[i].text);
        config_defaults(&cfg);
        msg[0] = '\0';
        assert_int_equal(config_load(&cfg, path, msg, sizeof msg), POSA_EFIELD);
        snprintf(want, sizeof want, "%s%s", path, cases[i].expect);
        assert_string_equal(msg, want);
    }
}

/* A directory given as the file said "fixmedins_code: required", as if it were empty. */
static void test_a_directory_is_not_a_file(void **state)
{
    struct posad_config cfg;
    char msg[512], want[512];

    (void)state;
    config_defaults(&cfg);
    assert_true(config_load(&cfg, "/tmp", msg, sizeof msg) < 0);
    snprintf(want, sizeof want, "/tmp: cannot read: %s", strerror(EISDIR));
    assert_string_equal(msg, want);
}

static void test_check_names_missing_keys(void **state)
{
    struct posad_config cfg;
    char msg[512], want[512];

    (void)state;
    write_conf("[institution]\nfixmedins_code = H31010100001\nfixmedins_name = x\n"
               "mdtrtarea_admvs = 310000\n[upstream]\nurl = http://h/x\n[gateway]\n"
               "gateway = csb\ncsb_access_key = ak\n");
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, msg, sizeof msg), 0);
    assert_int_equal(config_check(&cfg, path, msg, sizeof msg), POSA_EFIELD);
    snprintf(want, sizeof want, "%s: [gateway] csb_secret_key: required by gateway = csb", path);
    assert_string_equal(msg, want);

    config_defaults(&cfg);
    assert_int_equal(config_check(&cfg, path, msg, sizeof msg), POSA_EFIELD);
    snprintf(want, sizeof want, "%s: [institution] fixmedins_code: required", path);
    assert_string_equal(msg, want);
}

static void test_overrides(void **state)
{
    struct posad_config cfg;
    char msg[512];

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(
        config_set(&cfg, "posad", "listen", "127.0.0.1:9000", "command line", msg, sizeof msg), 0);
    assert_string_equal(cfg.listen, "127.0.0.1:9000");
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(config_set(&cfg, "upstream", "url", big, "command line", msg, sizeof msg),
                     POSA_EFIELD);
    assert_string_equal(msg, "command line: [upstream] url: too long (at most 511 bytes)");
}

/* SIGHUP: the reloadable keys are copied, every other changed key is named and kept. */
static void test_reload_applies_and_names(void **state)
{
    struct posad_config cfg, next;
    struct config_changes ch;
    char msg[512];

    (void)state;
    write_conf(good);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, path, msg, sizeof msg), 0);
    next = cfg;
    config_reload(&cfg, &next, &ch);
    assert_string_equal(ch.applied, "");
    assert_string_equal(ch.ignored, "");

    strcpy(next.clients, "a:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                         ":cashier:D01");
    strcpy(next.policy_file, "/etc/posa/policy.json");
    next.timeout_ms = 9000;
    strcpy(next.url, "http://127.0.0.1:9/x");
    config_reload(&cfg, &next, &ch);
    assert_string_equal(ch.applied, "[his] clients, [policy] file");
    assert_string_equal(ch.ignored, "[upstream] url, [upstream] timeout_ms");
    assert_string_equal(cfg.clients, next.clients);
    assert_string_equal(cfg.emergency_depts, ""); /* unchanged */
    assert_string_equal(cfg.policy_file, "/etc/posa/policy.json");
    assert_int_equal(cfg.timeout_ms, 2500); /* until a restart */
    assert_string_equal(cfg.url, "http://127.0.0.1:8471/fsi/api/rsfComIfsService/callService");
}

/* A network listener stays until a restart, whatever the file says now: a reload that drops
 * its tokens (the file moved listen to loopback) fails config_check on the merged result. */
static void test_reload_keeps_a_network_listeners_tokens(void **state)
{
    struct posad_config running, next, merged;
    struct config_changes ch;
    char msg[512];

    (void)state;
    write_conf(good);
    config_defaults(&running);
    assert_int_equal(config_load(&running, path, msg, sizeof msg), 0);
    strcpy(running.listen, "0.0.0.0:8470");
    strcpy(running.tls_cert, "/etc/posa/cert.pem");
    strcpy(running.tls_key, "/etc/posa/key.pem");
    strcpy(running.clients, "a:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                            ":ops:*");
    assert_int_equal(config_check(&running, path, msg, sizeof msg), 0);
    next = running;
    strcpy(next.listen, "127.0.0.1:8470");
    next.clients[0] = '\0';
    assert_int_equal(config_check(&next, path, msg, sizeof msg), 0); /* fine on its own */
    merged = running;
    config_reload(&merged, &next, &ch);
    assert_string_equal(ch.ignored, "[posad] listen");
    assert_int_equal(config_check(&merged, path, msg, sizeof msg), POSA_EFIELD);
    assert_non_null(strstr(msg, "[posad] listen: 0.0.0.0:8470"));
}

static void test_shipped_file_parses(void **state)
{
    struct posad_config cfg;
    char msg[512] = "", shipped[512];

    (void)state;
    snprintf(shipped, sizeof shipped, "%s/packaging/posad.conf", POSA_SOURCE_DIR);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, shipped, msg, sizeof msg), 0);
    /* Its required keys are left empty for the site to fill: the check says which. */
    assert_int_equal(config_check(&cfg, shipped, msg, sizeof msg), POSA_EFIELD);
    assert_non_null(strstr(msg, "fixmedins_code"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_lines_past_65535),
        cmocka_unit_test(test_clients_hold_the_auth_tables),
        cmocka_unit_test(test_secrets_in_a_readable_file),
        cmocka_unit_test(test_a_bad_client_entry_names_its_field),
        cmocka_unit_test(test_a_directory_is_not_a_file),
        cmocka_unit_test(test_check_names_missing_keys),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_reload_applies_and_names),
        cmocka_unit_test(test_reload_keeps_a_network_listeners_tokens),
        cmocka_unit_test(test_shipped_file_parses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
