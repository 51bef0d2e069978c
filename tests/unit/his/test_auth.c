/* Unit tests of interface/his/auth: tokens hashed, roles and desks enforced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/his/auth.h"

/* sha256("secret-desk3") and sha256("ops-token"), computed with `printf %s ... | sha256sum`. */
#define HASH_DESK3 "0f4ac1a3b2eb83e6e6d7b1d4e96cba1ea81a0c66e73fa1f5e0d4dd5e3f1ec55c"

static struct auth_table *table_new(void)
{
    struct auth_table *t = calloc(1, sizeof *t);
    char desk3[65], ops[65];

    assert_non_null(t);
    assert_int_equal(auth_hash_token("secret-desk3", desk3), 0);
    assert_int_equal(auth_hash_token("ops-token", ops), 0);
    assert_int_equal(auth_table_add(t, "desk3", desk3, "cashier", "D03,D04"), 0);
    assert_int_equal(auth_table_add(t, "ops", ops, "ops", "*"), 0);
    assert_int_equal(auth_table_add(t, "viewer", HASH_DESK3, "readonly", "D09"), 0);
    return t;
}

static void test_hash_is_sha256(void **state)
{
    char hex[65];

    (void)state;
    /* sha256("abc"), the FIPS 180-2 test vector */
    assert_int_equal(auth_hash_token("abc", hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(auth_hash_token("", hex), POSA_EFIELD);
}

static void test_identify(void **state)
{
    struct auth_table *t = table_new();
    const struct auth_client *c = NULL;

    (void)state;
    assert_int_equal(auth_identify(t, "Bearer secret-desk3", &c), 0);
    assert_string_equal(c->name, "desk3");
    assert_int_equal(auth_identify(t, "Bearer ops-token", &c), 0);
    assert_string_equal(c->name, "ops");
    /* The scheme is case-insensitive (RFC 7235); the token is not. */
    assert_int_equal(auth_identify(t, "bearer secret-desk3", &c), 0);
    assert_string_equal(c->name, "desk3");
    assert_int_equal(auth_identify(t, "BEARER ops-token", &c), 0);
    assert_string_equal(c->name, "ops");
    c = NULL;
    assert_int_equal(auth_identify(t, "Bearer SECRET-DESK3", &c), POSA_EUNAUTHORIZED);
    assert_int_equal(auth_identify(t, NULL, &c), POSA_EUNAUTHORIZED);
    assert_int_equal(auth_identify(t, "", &c), POSA_EUNAUTHORIZED);
    assert_int_equal(auth_identify(t, "Bearer ", &c), POSA_EUNAUTHORIZED);
    assert_int_equal(auth_identify(t, "Basic c2VjcmV0", &c), POSA_EUNAUTHORIZED);
    assert_int_equal(auth_identify(t, "Bearer secret-desk", &c), POSA_EUNAUTHORIZED);
    assert_int_equal(auth_identify(t, "Bearer secret-desk3 ", &c), POSA_EUNAUTHORIZED);
    assert_null(c); /* untouched on failure */
    free(t);
}

static void test_allow(void **state)
{
    struct auth_table *t = table_new();
    const struct auth_client *desk3 = &t->clients[0], *ops = &t->clients[1],
                             *viewer = &t->clients[2];

    (void)state;
    assert_int_equal(auth_allow(desk3, ROLE_CASHIER, "D03"), 0);
    assert_int_equal(auth_allow(desk3, ROLE_CASHIER, "D04"), 0);
    assert_int_equal(auth_allow(desk3, ROLE_CASHIER, "D05"), POSA_EFORBIDDEN); /* other desk */
    assert_int_equal(auth_allow(desk3, ROLE_READONLY, "D03"), 0);             /* may read */
    assert_int_equal(auth_allow(desk3, ROLE_OPS, NULL), POSA_EFORBIDDEN);     /* no retries */
    assert_int_equal(auth_allow(ops, ROLE_OPS, NULL), 0);
    assert_int_equal(auth_allow(ops, ROLE_READONLY, "D07"), 0);               /* all desks */
    assert_int_equal(auth_allow(ops, ROLE_CASHIER, "D03"), POSA_EFORBIDDEN);  /* no settling */
    assert_int_equal(auth_allow(viewer, ROLE_READONLY, "D09"), 0);
    assert_int_equal(auth_allow(viewer, ROLE_CASHIER, "D09"), POSA_EFORBIDDEN);
    free(t);
}

/* A tokenless loopback listener serves this machine's clients, never a browser's page. */
static void test_from_a_web_page(void **state)
{
    static const struct {
        const char *host, *origin;
        bool page;
    } cases[] = {
        /* this machine, under any of its loopback names, with or without a port */
        {"127.0.0.1:8470", NULL, false},
        {"127.0.0.2:8470", NULL, false}, /* a listener on 127.0.0.2 is loopback too */
        {"127.0.0.1.", NULL, false},
        {"localhost", NULL, false},
        {"LOCALHOST:1", NULL, false},
        {"localhost.:8470", NULL, false},
        {"localhost.localdomain", NULL, false},
        {"desk1.localhost", NULL, false},
        {"[::1]:8470", NULL, false},
        {"[0:0:0:0:0:0:0:1]", NULL, false},
        {"[::ffff:127.0.0.1]", NULL, false},
        /* any other name of one label: a page may rebind one where the LAN resolves them */
        {"posad-not-this-host", NULL, true},
        {"", NULL, false},
        {NULL, NULL, false}, /* HTTP/1.0 without Host */
        /* a page that rebinds its own name to 127.0.0.1 keeps it in Host */
        {"attacker.example:8470", NULL, true},
        {"attacker.example.", NULL, true},
        {"10.1.2.3:8470", NULL, true},
        {"[2001:db8::1]", NULL, true},
        {"[::1", NULL, true},
        /* a cross-site request; posad's own page (its origin is its Host) may */
        {"127.0.0.1:8470", "http://attacker.example", true},
        {"127.0.0.1:8470", "null", true},
        {"127.0.0.1:8470", "http://127.0.0.1:8470", false},
        {"localhost:8470", "HTTPS://LOCALHOST:8470", false},
        {"127.0.0.1:8470", "http://127.0.0.1:9999", true},
        {"127.0.0.1:8470", "http://localhost:8470", true},
        {NULL, "http://attacker.example", true},
    };

    char self[256], first[256], with_port[300];

    (void)state;
    /* this machine's own name, whole or its first label */
    assert_int_equal(gethostname(self, sizeof self), 0);
    snprintf(first, sizeof first, "%.*s", (int)strcspn(self, "."), self);
    snprintf(with_port, sizeof with_port, "%s:8470", first);
    assert_false(auth_from_web_page(self, NULL));
    assert_false(auth_from_web_page(first, NULL));
    assert_false(auth_from_web_page(with_port, NULL));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (auth_from_web_page(cases[i].host, cases[i].origin) != cases[i].page)
            fail_msg("host %s origin %s: want %s", cases[i].host ? cases[i].host : "(none)",
                     cases[i].origin ? cases[i].origin : "(none)",
                     cases[i].page ? "a web page" : "this machine");
    }
}

static void test_add_refuses_bad_config(void **state)
{
    struct auth_table *t = calloc(1, sizeof *t);
    char longdesk[40];

    (void)state;
    assert_non_null(t);
    assert_int_equal(auth_table_add(t, "x", "abc", "cashier", "D01"), POSA_EFIELD);
    assert_int_equal(auth_table_add(t, "x", HASH_DESK3, "admin", "D01"), POSA_EFIELD);
    assert_int_equal(auth_table_add(t, "x", HASH_DESK3, "cashier", ""), POSA_EFIELD);
    assert_int_equal(auth_table_add(t, "x", HASH_DESK3, "cashier", "D01,,D02"), POSA_EFIELD);
    assert_int_equal(auth_table_add(t, "", HASH_DESK3, "cashier", "D01"), POSA_EFIELD);
    /* A token or a name listed twice (the last entry's role would have won). */
    struct auth_table *full = table_new();

    assert_int_equal(auth_table_add(full, "other", HASH_DESK3, "ops", "*"), POSA_EDUPLICATE);
    assert_int_equal(auth_table_add(full, "viewer",
                                    "1111111111111111111111111111111111111111111"
                                    "111111111111111111111",
                                    "readonly", "D01"),
                     POSA_EDUPLICATE);
    assert_int_equal(full->n, 3);
    free(full);
    memset(longdesk, 'D', sizeof longdesk - 1);
    longdesk[sizeof longdesk - 1] = '\0';
    assert_int_equal(auth_table_add(t, "x", HASH_DESK3, "cashier", longdesk), POSA_EFIELD);
    assert_int_equal(t->n, 0); /* nothing half-added */
    for (int i = 0; i <= AUTH_CLIENTS_MAX; i++) { /* each its own name and token */
        char name[16], hash[65];

        snprintf(name, sizeof name, "c%d", i);
        snprintf(hash, sizeof hash, "%064x", i + 1);
        assert_int_equal(auth_table_add(t, name, hash, "readonly", "*"),
                         i < AUTH_CLIENTS_MAX ? 0 : POSA_ETOOLONG);
    }
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_sha256),  cmocka_unit_test(test_identify),
        cmocka_unit_test(test_allow),           cmocka_unit_test(test_add_refuses_bad_config),
        cmocka_unit_test(test_from_a_web_page),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
