/* The SM gateway: SM4-ECB against a ciphertext from the openssl tool, SM3withSM2 sign and
 * verify (and a wrong id, a changed text and another key refused), and a sealed envelope
 * opened the way the platform would (decrypt input, verify cainfo), then an encrypted
 * answer opened back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/pem.h>

#include "core/err.h"
#include "interface/platform/gateway.h"

#define CLIENT_ID "ABCDEFGHIJKLMNOP-client"

struct fx {
    EVP_PKEY *key;
    EVP_PKEY *other;
    char key_path[64];
};

static int setup(void **state)
{
    static struct fx fx;
    FILE *f;
    int fd;

    fx.key = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    fx.other = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
    assert_non_null(fx.key);
    assert_non_null(fx.other);
    strcpy(fx.key_path, "/tmp/posa-sm2-XXXXXX");
    fd = mkstemp(fx.key_path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, fx.key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    unlink(fx->key_path);
    EVP_PKEY_free(fx->key);
    EVP_PKEY_free(fx->other);
    return 0;
}

static void test_sm4_vector(void **state)
{
    char *b64 = NULL, *plain = NULL;
    size_t plain_len = 0;

    (void)state;
    /* printf '{"a":1}' | openssl enc -sm4-ecb -K 4142434445464748494a4b4c4d4e4f50 | base64 */
    assert_int_equal(gateway_sm4_encrypt(CLIENT_ID, "{\"a\":1}", 7, &b64), 0);
    assert_string_equal(b64, "kuZOC1ICk0bZB5aQV/AkRw==");
    assert_int_equal(gateway_sm4_decrypt(CLIENT_ID, b64, strlen(b64), &plain, &plain_len), 0);
    assert_int_equal(plain_len, 7);
    assert_string_equal(plain, "{\"a\":1}");
    free(plain);
    /* Another key: the padding check fails (or, rarely, garbage comes out: never the text). */
    plain = NULL;
    if (gateway_sm4_decrypt("ZZZZZZZZZZZZZZZZ", b64, strlen(b64), &plain, &plain_len) == 0)
        assert_false(plain_len == 7 && memcmp(plain, "{\"a\":1}", 7) == 0);
    free(plain);
    free(b64);
    assert_int_equal(gateway_sm4_encrypt("short", "x", 1, &b64), POSA_EGATEWAY);
}

static void test_sm2_sign_verify(void **state)
{
    struct fx *fx = *state;
    static const char text[] = "{\"psn_no\":\"P001\"}";
    char *sig = NULL;
    unsigned char *raw = NULL;
    size_t raw_len = 0;

    assert_int_equal(gateway_sm2_sign(fx->key, CLIENT_ID, text, strlen(text), &sig), 0);
    assert_int_equal(gateway_base64_decode(sig, strlen(sig), &raw, &raw_len), 0);
    assert_int_equal(raw_len, 64); /* raw r || s */
    free(raw);
    assert_int_equal(gateway_sm2_verify(fx->key, CLIENT_ID, text, strlen(text), sig), 0);
    assert_int_equal(gateway_sm2_verify(fx->key, "another-user-id!", text, strlen(text), sig),
                     POSA_ESIGNATURE);
    assert_int_equal(gateway_sm2_verify(fx->key, CLIENT_ID, text, strlen(text) - 1, sig),
                     POSA_ESIGNATURE);
    assert_int_equal(gateway_sm2_verify(fx->other, CLIENT_ID, text, strlen(text), sig),
                     POSA_ESIGNATURE);
    assert_int_equal(gateway_sm2_verify(fx->key, CLIENT_ID, text, strlen(text), "AAAA"),
                     POSA_ESIGNATURE);
    free(sig);
}

static const char *get_str(struct json_object *o, const char *k)
{
    struct json_object *v;

    assert_true(json_object_object_get_ex(o, k, &v));
    return json_object_get_string(v);
}

static void test_seal_and_open(void **state)
{
    struct fx *fx = *state;
    struct gateway gw;
    struct gateway_config cfg = {
        .kind = "sm", .sm_client_id = CLIENT_ID, .sm_key_file = fx->key_path};
    static const char body[] =
        "{\"infno\":\"1101\",\"msgid\":\"m\",\"input\":{\"data\":{\"psn_no\":\"P001\"}}}";
    struct gateway_msg msg = {.infno = "1101", .body = body, .body_len = strlen(body)};
    struct gateway_sealed sealed;
    char *plain = NULL;
    size_t plain_len;

    assert_int_equal(gateway_init(&gw, &cfg), 0);
    assert_int_equal(gateway_seal(&gw, &msg, &sealed), 0);
    assert_non_null(sealed.body);
    assert_int_equal(sealed.n_headers, 0);

    /* What the platform does with it. */
    struct json_object *root = json_tokener_parse(sealed.body);
    assert_non_null(root);
    assert_string_equal(get_str(root, "signtype"), "SM2");
    assert_string_equal(get_str(root, "encType"), "SM4");
    assert_string_equal(get_str(root, "infno"), "1101");
    const char *input = get_str(root, "input");
    assert_int_equal(gateway_sm4_decrypt(CLIENT_ID, input, strlen(input), &plain, &plain_len), 0);
    assert_string_equal(plain, "{\"data\":{\"psn_no\":\"P001\"}}");
    assert_int_equal(
        gateway_sm2_verify(fx->key, CLIENT_ID, plain, plain_len, get_str(root, "cainfo")), 0);
    free(plain);
    json_object_put(root);
    gateway_sealed_done(&sealed);

    /* An answer with encrypted output opens to the plain object. */
    char *ct = NULL, *opened = NULL;
    size_t opened_len = 0;
    char answer[512];
    static const char out_plain[] = "{\"baseinfo\":{\"psn_no\":\"P001\"}}";
    assert_int_equal(gateway_sm4_encrypt(CLIENT_ID, out_plain, strlen(out_plain), &ct), 0);
    snprintf(answer, sizeof answer, "{\"infcode\":0,\"output\":\"%s\"}", ct);
    free(ct);
    assert_int_equal(gateway_open(&gw, answer, strlen(answer), &opened, &opened_len), 0);
    assert_non_null(opened);
    root = json_tokener_parse(opened);
    struct json_object *output, *baseinfo;
    assert_true(json_object_object_get_ex(root, "output", &output));
    assert_true(json_object_object_get_ex(output, "baseinfo", &baseinfo));
    assert_string_equal(get_str(baseinfo, "psn_no"), "P001");
    json_object_put(root);
    free(opened);
    /* A refusal with a plain output (or none) is left alone. */
    static const char refusal[] = "{\"infcode\":-1,\"err_msg\":\"no\",\"output\":null}";
    assert_int_equal(gateway_open(&gw, refusal, strlen(refusal), &opened, &opened_len), 0);
    assert_null(opened);
    /* A body that is not an envelope cannot be sealed. */
    msg.body = "[1]";
    msg.body_len = 3;
    assert_int_equal(gateway_seal(&gw, &msg, &sealed), POSA_EFIELD);
    gateway_done(&gw);

    cfg.sm_key_file = "/nonexistent/key.pem";
    assert_true(gateway_init(&gw, &cfg) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sm4_vector),
        cmocka_unit_test(test_sm2_sign_verify),
        cmocka_unit_test(test_seal_and_open),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
