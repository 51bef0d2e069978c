/* Gateway signatures checked on arrival: TIF (x-tif-*) and CSB (_api_*), by the same
 * helpers posad seals with. */
#include "sandbox/gateway_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/bound.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"
#include "interface/platform/gateway.h"

static int get(struct json_object *o, const char *key, char *buf, size_t cap, char *msg,
               size_t mcap)
{
    const char *s = NULL;

    if (jsonmap_get_string(o, key, cap - 1, true, &s, NULL) < 0 || !s[0]) {
        snprintf(msg, mcap, "gateway.%s: a non-empty string of at most %zu bytes is required", key,
                 cap - 1);
        return -1;
    }
    str_copy(buf, cap, s);
    return 0;
}

int gateway_check_load(struct gateway_check *g, struct json_object *scenario, char *msg, size_t cap)
{
    static const char *const keys[] = {"kind",           "tif_paasid",         "tif_token",
                                       "csb_access_key", "csb_secret_key",     "csb_version",
                                       "sm_client_id",   "sm_public_key_file", NULL};
    struct json_object *o = NULL;
    struct jsonmap_error err = {0};
    const char *kind = NULL;

    memset(g->kind, 0, sizeof(g->kind));
    if (!json_object_object_get_ex(scenario, "gateway", &o) ||
        json_object_is_type(o, json_type_null))
        return 0;
    if (!json_object_is_type(o, json_type_object) ||
        jsonmap_get_string(o, "kind", 8, true, &kind, NULL) < 0) {
        snprintf(msg, cap, "gateway: an object with kind none, tif, csb or sm is required");
        return -1;
    }
    if (jsonmap_only_keys(o, keys, &err) < 0) { /* a misspelt key must not mean "absent" */
        snprintf(msg, cap, "gateway.%s: unknown field", err.field);
        return -1;
    }
    if (strcmp(kind, "none") == 0)
        return 0;
    if (strcmp(kind, "tif") == 0) {
        if (get(o, "tif_paasid", g->id, sizeof(g->id), msg, cap) < 0 ||
            get(o, "tif_token", g->secret, sizeof(g->secret), msg, cap) < 0)
            return -1;
    } else if (strcmp(kind, "csb") == 0) {
        if (get(o, "csb_access_key", g->id, sizeof(g->id), msg, cap) < 0 ||
            get(o, "csb_secret_key", g->secret, sizeof(g->secret), msg, cap) < 0)
            return -1;
        snprintf(g->version, sizeof(g->version), "1.0.0");
        if (json_object_object_get_ex(o, "csb_version", NULL) &&
            get(o, "csb_version", g->version, sizeof(g->version), msg, cap) < 0)
            return -1;
    } else if (strcmp(kind, "sm") == 0) {
        char path[257];

        if (get(o, "sm_client_id", g->id, sizeof(g->id), msg, cap) < 0 ||
            get(o, "sm_public_key_file", path, sizeof(path), msg, cap) < 0)
            return -1;
        if (strlen(g->id) < 16) {
            snprintf(msg, cap, "gateway.sm_client_id: at least 16 characters (the SM4 key)");
            return -1;
        }
        EVP_PKEY_free(g->sm_public_key);
        g->sm_public_key = NULL;
        if (gateway_load_public_key(path, &g->sm_public_key) < 0) {
            snprintf(msg, cap, "gateway.sm_public_key_file: %s is not a readable PEM public key",
                     path);
            return -1;
        }
    } else {
        snprintf(msg, cap, "gateway.kind: %s is not checked by the sandbox (none, tif, csb, sm)",
                 kind);
        return -1;
    }
    str_copy(g->kind, sizeof(g->kind), kind);
    return 0;
}

static const char *header(const struct http_request *req, const char *name, char *why, size_t cap)
{
    const char *v = http_request_header(req, name);

    if (!v || !v[0])
        snprintf(why, cap, "the gateway header %s is missing", name);
    return v && v[0] ? v : NULL;
}

/* A decimal timestamp within the allowed skew of now (both in unit_ms per unit). */
static int fresh(const char *text, int64_t unit_ms, int64_t now_ms, char *why, size_t cap)
{
    char *end;
    long long t = strtoll(text, &end, 10);

    if (end == text || *end || t <= 0) {
        snprintf(why, cap, "the gateway timestamp is not a number");
        return -1;
    }
    if (llabs(t * unit_ms - now_ms) > GATEWAY_CHECK_SKEW_MS) {
        snprintf(why, cap, "the gateway timestamp is more than %d s away from now",
                 GATEWAY_CHECK_SKEW_MS / 1000);
        return -1;
    }
    return 0;
}

static int check_tif(struct gateway_check *g, const struct http_request *req, int64_t now_ms,
                     char *why, size_t cap)
{
    const char *paasid, *ts, *nonce, *sig;
    char want[65];

    if (!(paasid = header(req, "x-tif-paasid", why, cap)) ||
        !(ts = header(req, "x-tif-timestamp", why, cap)) ||
        !(nonce = header(req, "x-tif-nonce", why, cap)) ||
        !(sig = header(req, "x-tif-signature", why, cap)))
        return -1;
    if (strcmp(paasid, g->id) != 0)
        return snprintf(why, cap, "x-tif-paasid %s is not known here", paasid), -1;
    if (fresh(ts, 1000, now_ms, why, cap) < 0)
        return -1;
    if (strlen(nonce) > 32)
        return snprintf(why, cap, "x-tif-nonce is longer than 32 characters"), -1;
    if (gateway_tif_signature(ts, g->secret, nonce, want) < 0 || strcasecmp(want, sig) != 0)
        return snprintf(why, cap, "bad signature: x-tif-signature does not match"), -1;
    for (size_t i = 0; i < GATEWAY_CHECK_NONCES; i++)
        if (strcmp(g->nonces[i], nonce) == 0)
            return snprintf(why, cap, "x-tif-nonce %s was already used", nonce), -1;
    str_copy(g->nonces[g->next_nonce], sizeof(g->nonces[0]), nonce);
    g->next_nonce = (g->next_nonce + 1) % GATEWAY_CHECK_NONCES;
    return 0;
}

static int check_csb(struct gateway_check *g, const struct http_request *req, const char *infno,
                     int64_t now_ms, char *why, size_t cap)
{
    const char *name, *version, *ts, *ak, *sig;
    char want_name[32], want[GATEWAY_CSB_SIG_LEN + 1];

    if (!(name = header(req, "_api_name", why, cap)) ||
        !(version = header(req, "_api_version", why, cap)) ||
        !(ts = header(req, "_api_timestamp", why, cap)) ||
        !(ak = header(req, "_api_access_key", why, cap)) ||
        !(sig = header(req, "_api_signature", why, cap)))
        return -1;
    snprintf(want_name, sizeof(want_name), "hsa-fsi-%s", infno);
    if (strcmp(name, want_name) != 0)
        return snprintf(why, cap, "_api_name %s does not name infno %s", name, infno), -1;
    if (strcmp(ak, g->id) != 0)
        return snprintf(why, cap, "_api_access_key %s is not known here", ak), -1;
    if (strcmp(version, g->version) != 0)
        return snprintf(why, cap, "_api_version must be %s", g->version), -1;
    if (fresh(ts, 1, now_ms, why, cap) < 0)
        return -1;
    if (gateway_csb_signature(g->secret, ak, name, ts, version, want) < 0 || strcmp(want, sig) != 0)
        return snprintf(why, cap, "bad signature: _api_signature does not match"), -1;
    return 0;
}

void gateway_check_done(struct gateway_check *g)
{
    EVP_PKEY_free(g->sm_public_key);
    g->sm_public_key = NULL;
}

/* The plaintext input of an SM request, verified, as an object; NULL with why. */
static struct json_object *sm_input(struct gateway_check *g, struct json_object *root, char *why,
                                    size_t cap)
{
    const char *ct, *sig, *type;
    struct json_object *input = NULL;
    struct jsonmap_error jerr;
    char *plain = NULL;
    size_t plain_len = 0;

    if (jsonmap_get_string(root, "input", BOUND_BODY, true, &ct, &jerr) < 0 ||
        jsonmap_get_string(root, "cainfo", BOUND_STRING, true, &sig, &jerr) < 0 ||
        jsonmap_get_string(root, "signtype", BOUND_CODE, true, &type, &jerr) < 0 ||
        strcmp(type, "SM2") != 0)
        snprintf(why, cap,
                 "the SM gateway wants input encrypted (a string), cainfo and "
                 "signtype SM2");
    else if (gateway_sm4_decrypt(g->id, ct, strlen(ct), &plain, &plain_len) < 0)
        snprintf(why, cap, "input does not decrypt with this client's SM4 key");
    else if (gateway_sm2_verify(g->sm_public_key, g->id, plain, plain_len, sig) < 0)
        snprintf(why, cap, "bad signature: cainfo does not verify over the input");
    else if (jsonmap_parse(plain, plain_len, &input, &jerr) < 0 ||
             !json_object_is_type(input, json_type_object)) {
        json_object_put(input);
        input = NULL;
        snprintf(why, cap, "the decrypted input is not a JSON object");
    }
    free(plain);
    return input;
}

int gateway_check_open(struct gateway_check *g, const char *body, size_t len, char **ret_body,
                       size_t *ret_len, char *why, size_t cap)
{
    struct json_object *root = NULL, *input;
    struct jsonmap_error jerr;
    const char *text;
    int rc = -1;

    *ret_body = NULL;
    if (strcmp(g->kind, "sm") != 0)
        return 0;
    if (jsonmap_parse(body, len, &root, &jerr) < 0 || !json_object_is_type(root, json_type_object))
        snprintf(why, cap, "the envelope is not a JSON object");
    else if ((input = sm_input(g, root, why, cap))) {
        json_object_object_add(root, "input", input);
        text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, ret_len);
        *ret_body = text ? strdup(text) : NULL;
        rc = *ret_body ? 0 : -1;
    }
    json_object_put(root);
    return rc;
}

int gateway_check_seal(struct gateway_check *g, struct json_object *answer)
{
    struct json_object *output = NULL;
    const char *plain;
    size_t len;
    char *ct = NULL;

    if (strcmp(g->kind, "sm") != 0 || !json_object_object_get_ex(answer, "output", &output) ||
        !json_object_is_type(output, json_type_object))
        return 0;
    plain = json_object_to_json_string_length(output, JSON_C_TO_STRING_PLAIN, &len);
    if (!plain || gateway_sm4_encrypt(g->id, plain, len, &ct) < 0)
        return -1;
    json_object_object_add(answer, "output", json_object_new_string(ct));
    free(ct);
    return 0;
}

int gateway_check_request(struct gateway_check *g, const struct http_request *req,
                          const char *infno, int64_t now_ms, char *why, size_t cap)
{
    if (strcmp(g->kind, "tif") == 0)
        return check_tif(g, req, now_ms, why, cap);
    if (strcmp(g->kind, "csb") == 0)
        return check_csb(g, req, infno, now_ms, why, cap);
    return 0;
}
