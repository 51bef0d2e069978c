/* The CSB gateway: HMAC-SHA1 against RFC 2202 test case 2 (through the Base64 helper) and
 * against openssl dgst -sha1 -hmac of the exact signed text; the headers a seal adds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/hmac.h>

#include "core/err.h"
#include "interface/platform/gateway.h"

static void test_rfc2202_vector(void **state)
{
    /* RFC 2202 case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?") =
     * effcdf6ae5eb2fa2d27416d5f184df9c259a7c79, whose Base64 is below. */
    static const unsigned char md_expected[20] = {0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f,
                                                  0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                                                  0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79};
    char *b64 = NULL;

    (void)state;
    assert_int_equal(gateway_base64_encode(md_expected, 20, &b64), 0);
    assert_string_equal(b64, "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    unsigned char *back = NULL;
    size_t back_len = 0;
    assert_int_equal(gateway_base64_decode(b64, strlen(b64), &back, &back_len), 0);
    assert_int_equal(back_len, 20);
    assert_memory_equal(back, md_expected, 20);
    free(back);
    free(b64);
    assert_int_equal(gateway_base64_decode("abc", 3, &back, &back_len), POSA_EFIELD);
}

static void test_signature_vector(void **state)
{
    char sig[GATEWAY_CSB_SIG_LEN + 1];

    (void)state;
    /* printf '%s' '_api_access_key=ak123&_api_name=hsa-fsi-2207&_api_timestamp=1700000000123
     * &_api_version=1.0.0' | openssl dgst -sha1 -hmac sk456 -binary | base64 */
    assert_int_equal(
        gateway_csb_signature("sk456", "ak123", "hsa-fsi-2207", "1700000000123", "1.0.0", sig), 0);
    assert_string_equal(sig, "XkBQmaSFeyq2VmnO/MK3wocldyI=");
}

static void test_seal_headers(void **state)
{
    struct gateway gw;
    struct gateway_config cfg = {
        .kind = "csb", .csb_access_key = "ak123", .csb_secret_key = "sk456"};
    struct gateway_msg msg = {
        .infno = "2207", .body = "{}", .body_len = 2, .now_ms = 1700000000123};
    struct gateway_sealed sealed;

    (void)state;
    assert_int_equal(gateway_init(&gw, &cfg), 0);
    assert_int_equal(gateway_seal(&gw, &msg, &sealed), 0);
    assert_null(sealed.body);
    assert_int_equal(sealed.n_headers, 5);
    assert_string_equal(sealed.headers[0], "_api_name: hsa-fsi-2207");
    assert_string_equal(sealed.headers[1], "_api_version: 1.0.0");
    assert_string_equal(sealed.headers[2], "_api_timestamp: 1700000000123");
    assert_string_equal(sealed.headers[3], "_api_access_key: ak123");
    assert_string_equal(sealed.headers[4], "_api_signature: XkBQmaSFeyq2VmnO/MK3wocldyI=");
    gateway_done(&gw);
    struct gateway_config no_secret = {.kind = "csb", .csb_access_key = "ak"};
    assert_int_equal(gateway_init(&gw, &no_secret), POSA_EGATEWAY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc2202_vector),
        cmocka_unit_test(test_signature_vector),
        cmocka_unit_test(test_seal_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
