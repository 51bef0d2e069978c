/* The Alibaba CSB gateway (Jiangxi): _api_name = hsa-fsi-<infno>, _api_version,
 * _api_timestamp (ms), _api_access_key and _api_signature = Base64(HMAC-SHA1(secret, the
 * four sorted as "k=v&...")). */
#include "interface/platform/gateway.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>

#include "core/err.h"

int gateway_csb_signature(const char *secret, const char *access_key, const char *api_name,
                          const char *timestamp, const char *version,
                          char ret[GATEWAY_CSB_SIG_LEN + 1])
{
    char text[GATEWAY_SECRET_MAX + 256];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char *b64 = NULL;
    int n, err;

    n = snprintf(text, sizeof text,
                 "_api_access_key=%s&_api_name=%s&_api_timestamp=%s"
                 "&_api_version=%s",
                 access_key, api_name, timestamp, version);
    if (n < 0 || (size_t)n >= sizeof text)
        return POSA_ETOOLONG;
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)text, (size_t)n, md,
              &md_len) ||
        md_len != 20)
        return POSA_ECRYPTO;
    err = gateway_base64_encode(md, md_len, &b64);
    if (err)
        return err;
    memcpy(ret, b64, GATEWAY_CSB_SIG_LEN + 1);
    free(b64);
    return 0;
}

static int csb_init(struct gateway *gw, const struct gateway_config *cfg)
{
    const char *version = cfg->csb_version && *cfg->csb_version ? cfg->csb_version : "1.0.0";

    if (!cfg->csb_access_key || !*cfg->csb_access_key || !cfg->csb_secret_key ||
        !*cfg->csb_secret_key || strlen(cfg->csb_access_key) > GATEWAY_SECRET_MAX ||
        strlen(cfg->csb_secret_key) > GATEWAY_SECRET_MAX || strlen(version) >= sizeof gw->version)
        return POSA_EGATEWAY;
    strcpy(gw->id, cfg->csb_access_key);
    strcpy(gw->secret, cfg->csb_secret_key);
    strcpy(gw->version, version);
    return 0;
}

static int csb_seal(struct gateway *gw, const struct gateway_msg *msg, struct gateway_sealed *ret)
{
    char name[32], timestamp[24], signature[GATEWAY_CSB_SIG_LEN + 1];
    int err;

    snprintf(name, sizeof name, "hsa-fsi-%s", msg->infno);
    snprintf(timestamp, sizeof timestamp, "%" PRId64, msg->now_ms);
    err = gateway_csb_signature(gw->secret, gw->id, name, timestamp, gw->version, signature);
    if (!err)
        err = gateway_add_header(ret, "_api_name", name);
    if (!err)
        err = gateway_add_header(ret, "_api_version", gw->version);
    if (!err)
        err = gateway_add_header(ret, "_api_timestamp", timestamp);
    if (!err)
        err = gateway_add_header(ret, "_api_access_key", gw->id);
    if (!err)
        err = gateway_add_header(ret, "_api_signature", signature);
    return err;
}

const struct gateway_ops gateway_csb_ops = {
    .name = "csb",
    .init = csb_init,
    .seal = csb_seal,
};
