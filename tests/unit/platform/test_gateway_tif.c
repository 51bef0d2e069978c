/* The TIF gateway: the signature against SHA-256 computed by an independent tool
 * (printf '%s' '1700000000secret-token0123456789abcdef1700000000' | sha256sum), and the
 * headers a seal adds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/platform/gateway.h"

static void test_signature_vector(void **state)
{
    char sig[65];

    (void)state;
    assert_int_equal(gateway_tif_signature("1700000000", "secret-token", "0123456789abcdef", sig),
                     0);
    assert_string_equal(sig, "4317ee7a696993494ded484cb262c5983871885f93e11d02d498c0d84df05ca8");
    /* The empty input's digest, the well-known e3b0c442... */
    assert_int_equal(gateway_tif_signature("", "", "", sig), 0);
    assert_string_equal(sig, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_seal_headers(void **state)
{
    struct gateway gw;
    struct gateway_config cfg = {
        .kind = "tif", .tif_paasid = "mbs_fsi_auth", .tif_token = "secret-token"};
    struct gateway_msg msg = {.infno = "2207",
                              .body = "{}",
                              .body_len = 2,
                              .now_ms = 1700000000999,
                              .random = 0x0123456789abcdefULL};
    struct gateway_sealed sealed;

    (void)state;
    assert_int_equal(gateway_init(&gw, &cfg), 0);
    assert_int_equal(gateway_seal(&gw, &msg, &sealed), 0);
    assert_null(sealed.body); /* the body goes as it is */
    assert_int_equal(sealed.n_headers, 4);
    assert_string_equal(sealed.headers[0], "x-tif-paasid: mbs_fsi_auth");
    assert_string_equal(sealed.headers[1], "x-tif-timestamp: 1700000000"); /* seconds */
    assert_string_equal(sealed.headers[2], "x-tif-nonce: 0123456789abcdef");
    assert_string_equal(sealed.headers[3],
                        "x-tif-signature: "
                        "4317ee7a696993494ded484cb262c5983871885f93e11d02d498c0d84df05ca8");
    gateway_sealed_done(&sealed);
    gateway_done(&gw);
}

static void test_config_errors(void **state)
{
    struct gateway gw;
    struct gateway_config no_token = {.kind = "tif", .tif_paasid = "p"};
    struct gateway_config bad_kind = {.kind = "oauth"};
    struct gateway_config none = {.kind = "none"};

    (void)state;
    assert_int_equal(gateway_init(&gw, &no_token), POSA_EGATEWAY);
    assert_int_equal(gateway_init(&gw, &bad_kind), POSA_EGATEWAY);
    assert_false(gateway_kind_is_known("oauth"));
    assert_true(gateway_kind_is_known("sm"));
    assert_int_equal(gateway_init(&gw, &none), 0);
    struct gateway_msg msg = {.infno = "1101", .body = "{}", .body_len = 2};
    struct gateway_sealed sealed;
    assert_int_equal(gateway_seal(&gw, &msg, &sealed), 0);
    assert_int_equal(sealed.n_headers, 0);
    assert_null(sealed.body);
    gateway_done(&gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vector),
        cmocka_unit_test(test_seal_headers),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
