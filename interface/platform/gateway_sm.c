/* The SM gateway (Jilin style, national-interface.md §1.4 item 4): input travels as
 * Base64(SM4-ECB-PKCS7(key = the client id's first 16 bytes, input JSON)), cainfo is
 * Base64(raw r || s of SM3withSM2 over the plaintext input, userId = the client id),
 * signtype "SM2", encType "SM4"; an answer's output, when a string, is decrypted the same
 * way. The OAuth2 token exchange some provinces put in front is not done here. */
#include "interface/platform/gateway.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/ecdsa.h>

#include "core/bound.h"
#include "core/err.h"

#define SM4_KEY_LEN     16
#define SM2_RAW_SIG_LEN 64

static int sm4_run(const char *id, bool encrypt, const unsigned char *in, size_t len,
                   unsigned char **ret, size_t *ret_len)
{
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *out = NULL;
    int n1 = 0, n2 = 0, err = POSA_ECRYPTO;

    if (strlen(id) < SM4_KEY_LEN)
        return POSA_EGATEWAY;
    if (len > BOUND_BODY)
        return POSA_ETOOLONG;
    out = malloc(len + 2 * SM4_KEY_LEN + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (!out || !ctx) {
        err = -ENOMEM;
        goto out;
    }
    if (!EVP_CipherInit_ex(ctx, EVP_sm4_ecb(), NULL, (const unsigned char *)id, NULL,
                           encrypt ? 1 : 0) ||
        !EVP_CipherUpdate(ctx, out, &n1, in, (int)len) || !EVP_CipherFinal_ex(ctx, out + n1, &n2))
        goto out;
    out[n1 + n2] = '\0';
    *ret = out;
    *ret_len = (size_t)(n1 + n2);
    out = NULL;
    err = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(out);
    return err;
}

int gateway_sm4_encrypt(const char *id, const void *plain, size_t len, char **ret_b64)
{
    unsigned char *ct = NULL;
    size_t ct_len;
    int err = sm4_run(id, true, plain, len, &ct, &ct_len);

    if (err)
        return err;
    err = gateway_base64_encode(ct, ct_len, ret_b64);
    free(ct);
    return err;
}

int gateway_sm4_decrypt(const char *id, const char *b64, size_t len, char **ret_plain,
                        size_t *ret_len)
{
    unsigned char *ct = NULL, *plain = NULL;
    size_t ct_len;
    int err = gateway_base64_decode(b64, len, &ct, &ct_len);

    if (err)
        return err;
    err = sm4_run(id, false, ct, ct_len, &plain, ret_len);
    free(ct);
    if (!err)
        *ret_plain = (char *)plain;
    return err;
}

/* A digest context for SM3withSM2 with the distinguishing id set. */
static EVP_MD_CTX *sm2_ctx(EVP_PKEY *key, const char *id, bool sign)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(key, NULL);
    int ok;

    if (!mctx || !pctx)
        goto fail;
    if (EVP_PKEY_CTX_set1_id(pctx, id, strlen(id)) <= 0)
        goto fail;
    EVP_MD_CTX_set_pkey_ctx(mctx, pctx); /* mctx does not take pctx: freed below */
    ok = sign ? EVP_DigestSignInit(mctx, NULL, EVP_sm3(), NULL, key)
              : EVP_DigestVerifyInit(mctx, NULL, EVP_sm3(), NULL, key);
    if (ok <= 0)
        goto fail;
    return mctx;
fail:
    if (mctx)
        EVP_MD_CTX_set_pkey_ctx(mctx, NULL);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    return NULL;
}

static void sm2_ctx_free(EVP_MD_CTX *mctx)
{
    EVP_PKEY_CTX *pctx;

    if (!mctx)
        return;
    pctx = EVP_MD_CTX_get_pkey_ctx(mctx);
    EVP_MD_CTX_set_pkey_ctx(mctx, NULL);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
}

int gateway_sm2_sign(EVP_PKEY *key, const char *id, const void *data, size_t len, char **ret_b64)
{
    EVP_MD_CTX *mctx = sm2_ctx(key, id, true);
    unsigned char der[128], raw[SM2_RAW_SIG_LEN];
    const unsigned char *p = der;
    size_t der_len = sizeof der;
    ECDSA_SIG *sig = NULL;
    const BIGNUM *r, *s;
    int err = POSA_ECRYPTO;

    if (!mctx)
        return POSA_ECRYPTO;
    if (EVP_DigestSign(mctx, der, &der_len, data, len) <= 0)
        goto out;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig)
        goto out;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        goto out;
    err = gateway_base64_encode(raw, sizeof raw, ret_b64);
out:
    ECDSA_SIG_free(sig);
    sm2_ctx_free(mctx);
    return err;
}

int gateway_sm2_verify(EVP_PKEY *pub, const char *id, const void *data, size_t len, const char *b64)
{
    unsigned char *raw = NULL, *der = NULL;
    size_t raw_len = 0;
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    EVP_MD_CTX *mctx = NULL;
    int der_len, err;

    err = gateway_base64_decode(b64, strlen(b64), &raw, &raw_len);
    if (err || raw_len != SM2_RAW_SIG_LEN) {
        err = POSA_ESIGNATURE;
        goto out;
    }
    err = POSA_ECRYPTO;
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s))
        goto out;
    r = s = NULL; /* owned by sig now */
    der_len = i2d_ECDSA_SIG(sig, &der);
    mctx = sm2_ctx(pub, id, false);
    if (der_len <= 0 || !mctx)
        goto out;
    err = EVP_DigestVerify(mctx, der, (size_t)der_len, data, len) == 1 ? 0 : POSA_ESIGNATURE;
out:
    sm2_ctx_free(mctx);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    free(raw);
    return err;
}

static int sm_init(struct gateway *gw, const struct gateway_config *cfg)
{
    if (!cfg->sm_client_id || strlen(cfg->sm_client_id) < SM4_KEY_LEN ||
        strlen(cfg->sm_client_id) > GATEWAY_SECRET_MAX || !cfg->sm_key_file || !*cfg->sm_key_file)
        return POSA_EGATEWAY;
    strcpy(gw->id, cfg->sm_client_id);
    return gateway_load_private_key(cfg->sm_key_file, "SM2", &gw->key);
}

static struct json_object *sm_parse(const char *body, size_t len)
{
    struct json_tokener *tok;
    struct json_object *root;

    if (len > BOUND_BODY)
        return NULL;
    tok = json_tokener_new_ex(64);
    if (!tok)
        return NULL;
    root = json_tokener_parse_ex(tok, body, (int)len);
    if (root && json_tokener_get_parse_end(tok) != len) {
        json_object_put(root);
        root = NULL;
    }
    json_tokener_free(tok);
    if (root && !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        root = NULL;
    }
    return root;
}

static int sm_serialize(struct json_object *root, char **ret, size_t *ret_len)
{
    size_t len;
    const char *text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &len);

    if (!text)
        return -ENOMEM;
    *ret = strndup(text, len);
    if (!*ret)
        return -ENOMEM;
    *ret_len = len;
    return 0;
}

static int sm_seal(struct gateway *gw, const struct gateway_msg *msg, struct gateway_sealed *ret)
{
    struct json_object *root = sm_parse(msg->body, msg->body_len), *input;
    const char *plain;
    size_t plain_len;
    char *ct = NULL, *sig = NULL;
    int err = POSA_EFIELD;

    if (!root || !json_object_object_get_ex(root, "input", &input))
        goto out;
    plain = json_object_to_json_string_length(input, JSON_C_TO_STRING_PLAIN, &plain_len);
    err = gateway_sm4_encrypt(gw->id, plain, plain_len, &ct);
    if (!err)
        err = gateway_sm2_sign(gw->key, gw->id, plain, plain_len, &sig);
    if (err)
        goto out;
    /* input's text is borrowed from input: replace it only after both are made. */
    json_object_object_add(root, "input", json_object_new_string(ct));
    json_object_object_add(root, "cainfo", json_object_new_string(sig));
    json_object_object_add(root, "signtype", json_object_new_string("SM2"));
    json_object_object_add(root, "encType", json_object_new_string("SM4"));
    err = sm_serialize(root, &ret->body, &ret->body_len);
out:
    free(ct);
    free(sig);
    json_object_put(root);
    return err;
}

static int sm_open(struct gateway *gw, const char *body, size_t len, char **ret_body,
                   size_t *ret_len)
{
    struct json_object *root = sm_parse(body, len), *output, *plain_obj;
    char *plain = NULL;
    size_t plain_len;
    int err = 0;

    /* Not JSON, or output not a string: nothing to open; the envelope parser judges. */
    if (!root || !json_object_object_get_ex(root, "output", &output) ||
        !json_object_is_type(output, json_type_string))
        goto out;
    err = gateway_sm4_decrypt(gw->id, json_object_get_string(output),
                              (size_t)json_object_get_string_len(output), &plain, &plain_len);
    if (err)
        goto out;
    plain_obj = sm_parse(plain, plain_len);
    if (!plain_obj) {
        err = POSA_EFIELD;
        goto out;
    }
    json_object_object_add(root, "output", plain_obj);
    err = sm_serialize(root, ret_body, ret_len);
out:
    free(plain);
    json_object_put(root);
    return err;
}

const struct gateway_ops gateway_sm_ops = {
    .name = "sm",
    .init = sm_init,
    .seal = sm_seal,
    .open = sm_open,
};
