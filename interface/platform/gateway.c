/* THE gateway table, lookup by configured name, and the helpers the strategies share. */
#include "interface/platform/gateway.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "core/err.h"

static const struct gateway_ops *const gateway_table[] = {
    &gateway_none_ops,
    &gateway_tif_ops,
    &gateway_csb_ops,
    &gateway_sm_ops,
};

static const struct gateway_ops *gateway_find(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof gateway_table / sizeof gateway_table[0]; i++)
        if (strcmp(gateway_table[i]->name, kind) == 0)
            return gateway_table[i];
    return NULL;
}

bool gateway_kind_is_known(const char *kind)
{
    return gateway_find(kind) != NULL;
}

int gateway_init(struct gateway *gw, const struct gateway_config *cfg)
{
    const struct gateway_ops *ops = gateway_find(cfg->kind ? cfg->kind : "none");
    int err;

    memset(gw, 0, sizeof *gw);
    if (!ops)
        return POSA_EGATEWAY;
    err = ops->init(gw, cfg);
    if (err) {
        gateway_done(gw);
        return err;
    }
    gw->ops = ops;
    return 0;
}

void gateway_done(struct gateway *gw)
{
    if (gw->ops && gw->ops->done)
        gw->ops->done(gw);
    EVP_PKEY_free(gw->key);
    /* The secrets do not outlive the gateway in memory. */
    OPENSSL_cleanse(gw, sizeof *gw);
}

int gateway_seal(struct gateway *gw, const struct gateway_msg *msg, struct gateway_sealed *ret)
{
    memset(ret, 0, sizeof *ret);
    return gw->ops->seal(gw, msg, ret);
}

void gateway_sealed_done(struct gateway_sealed *sealed)
{
    free(sealed->body);
    sealed->body = NULL;
}

int gateway_open(struct gateway *gw, const char *body, size_t len, char **ret_body, size_t *ret_len)
{
    *ret_body = NULL;
    if (!gw->ops->open)
        return 0;
    return gw->ops->open(gw, body, len, ret_body, ret_len);
}

int gateway_add_header(struct gateway_sealed *sealed, const char *name, const char *value)
{
    int n;

    if (sealed->n_headers >= GATEWAY_HEADERS_MAX)
        return POSA_ETOOLONG;
    n = snprintf(sealed->headers[sealed->n_headers], GATEWAY_HEADER_LEN, "%s: %s", name, value);
    if (n < 0 || n >= GATEWAY_HEADER_LEN)
        return POSA_ETOOLONG;
    sealed->n_headers++;
    return 0;
}

int gateway_base64_encode(const void *data, size_t len, char **ret)
{
    char *out;

    if (len > (1u << 28))
        return POSA_ETOOLONG;
    out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        return -ENOMEM;
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    *ret = out;
    return 0;
}

int gateway_base64_decode(const char *text, size_t len, unsigned char **ret, size_t *ret_len)
{
    unsigned char *out;
    size_t pad = 0;
    int n;

    if (len == 0 || len % 4 != 0 || len > (1u << 28))
        return POSA_EFIELD;
    pad = (text[len - 1] == '=') + (text[len - 2] == '=');
    out = malloc(len / 4 * 3 + 1);
    if (!out)
        return -ENOMEM;
    n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0 || (size_t)n < pad) {
        free(out);
        return POSA_EFIELD;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    *ret_len = (size_t)n - pad;
    out[*ret_len] = '\0';
    *ret = out;
    return 0;
}

/* A key under a passphrase is refused, not asked for on posad's terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *data)
{
    (void)buf, (void)size, (void)rwflag, (void)data;
    return 0;
}

int gateway_load_private_key(const char *path, const char *type, EVP_PKEY **ret)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key;

    if (!f)
        return -errno;
    key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    ERR_clear_error();
    if (!key || (type && !EVP_PKEY_is_a(key, type))) {
        EVP_PKEY_free(key);
        return POSA_ECRYPTO;
    }
    *ret = key;
    return 0;
}

int gateway_load_public_key(const char *path, EVP_PKEY **ret)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key;

    if (!f)
        return -errno;
    key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!key)
        return POSA_ECRYPTO;
    *ret = key;
    return 0;
}
