/* The TIF ("RIO") gateway: x-tif-paasid, x-tif-timestamp (Unix seconds), x-tif-nonce and
 * x-tif-signature = lowercase hex SHA-256 of timestamp + token + nonce + timestamp. */
#include "interface/platform/gateway.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "core/err.h"

int gateway_tif_signature(const char *timestamp, const char *token, const char *nonce, char ret[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    if (!ctx)
        return POSA_ECRYPTO;
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
         EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) &&
         EVP_DigestUpdate(ctx, token, strlen(token)) &&
         EVP_DigestUpdate(ctx, nonce, strlen(nonce)) &&
         EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) && EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return POSA_ECRYPTO;
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        ret[2 * i] = hex[md[i] >> 4];
        ret[2 * i + 1] = hex[md[i] & 15];
    }
    ret[64] = '\0';
    return 0;
}

static int tif_init(struct gateway *gw, const struct gateway_config *cfg)
{
    if (!cfg->tif_paasid || !*cfg->tif_paasid || !cfg->tif_token || !*cfg->tif_token ||
        strlen(cfg->tif_paasid) > GATEWAY_SECRET_MAX || strlen(cfg->tif_token) > GATEWAY_SECRET_MAX)
        return POSA_EGATEWAY;
    strcpy(gw->id, cfg->tif_paasid);
    strcpy(gw->secret, cfg->tif_token);
    return 0;
}

static int tif_seal(struct gateway *gw, const struct gateway_msg *msg, struct gateway_sealed *ret)
{
    char timestamp[24], nonce[24], signature[65];
    int err;

    snprintf(timestamp, sizeof timestamp, "%" PRId64, msg->now_ms / 1000);
    snprintf(nonce, sizeof nonce, "%016" PRIx64, msg->random);
    err = gateway_tif_signature(timestamp, gw->secret, nonce, signature);
    if (!err)
        err = gateway_add_header(ret, "x-tif-paasid", gw->id);
    if (!err)
        err = gateway_add_header(ret, "x-tif-timestamp", timestamp);
    if (!err)
        err = gateway_add_header(ret, "x-tif-nonce", nonce);
    if (!err)
        err = gateway_add_header(ret, "x-tif-signature", signature);
    return err;
}

const struct gateway_ops gateway_tif_ops = {
    .name = "tif",
    .nonce = true,
    .init = tif_init,
    .seal = tif_seal,
};
