/* Gateway authentication of upstream requests (national-interface.md §1.4), one strategy
 * per provincial gateway, chosen in the config by name: "none", "tif" (x-tif-* SHA-256
 * headers), "csb" (Alibaba CSB HMAC-SHA1 headers), "sm" (SM4-encrypted input with an
 * SM3withSM2 cainfo signature). Each is a const ops table; gateway.c holds THE table.
 *
 * A gateway seals a request right before each attempt leaves (timestamps and nonces are
 * per attempt, so the journal keeps the plain envelope) and opens the answer (the SM
 * gateway decrypts output). Time and randomness are parameters, so sealing is testable.
 * The helpers at the bottom are what posa-sandbox uses to verify what posad sealed. */
#ifndef POSA_PLATFORM_GATEWAY_H
#define POSA_PLATFORM_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "core/err.h" /* POSA_ECRYPTO, POSA_EGATEWAY, POSA_ESIGNATURE */


#define GATEWAY_HEADERS_MAX 8
#define GATEWAY_HEADER_LEN  320 /* "name: value" */
#define GATEWAY_SECRET_MAX  256 /* bytes of one configured id, key or token */

/* The configuration of every kind; each kind reads only its own keys (borrowed until
 * gateway_init returns: the gateway copies what it keeps). */
struct gateway_config {
    const char *kind;       /* "none", "tif", "csb", "sm" */
    const char *tif_paasid; /* tif */
    const char *tif_token;
    const char *csb_access_key; /* csb */
    const char *csb_secret_key;
    const char *csb_version;  /* "_api_version"; default "1.0.0" */
    const char *sm_client_id; /* sm: first 16 bytes are the SM4 key; also the SM2 id */
    const char *sm_key_file;  /* sm: PEM SM2 private key that signs cainfo */
};

/* One attempt to send: what the gateway seals. */
struct gateway_msg {
    const char *infno;
    const char *body; /* the envelope JSON */
    size_t body_len;
    int64_t now_ms;  /* Unix time of this attempt */
    uint64_t random; /* fresh random bits for nonces */
};

struct gateway_sealed {
    char headers[GATEWAY_HEADERS_MAX][GATEWAY_HEADER_LEN];
    int n_headers;
    char *body; /* NULL: send msg->body as is; else a replacement (free()) */
    size_t body_len;
};

struct gateway;

struct gateway_ops {
    const char *name;
    bool nonce; /* seal uses msg->random: drawn (from OpenSSL) only for those that do */
    int (*init)(struct gateway *gw, const struct gateway_config *cfg);
    void (*done)(struct gateway *gw);
    int (*seal)(struct gateway *gw, const struct gateway_msg *msg, struct gateway_sealed *ret);
    /* Opens an answer in place of body: *ret_body NULL means body is fine as it is. */
    int (*open)(struct gateway *gw, const char *body, size_t len, char **ret_body, size_t *ret_len);
};

struct gateway {
    const struct gateway_ops *ops;
    char id[GATEWAY_SECRET_MAX + 1];     /* paasid / access key / client id */
    char secret[GATEWAY_SECRET_MAX + 1]; /* token / secret key */
    char version[32];
    EVP_PKEY *key; /* sm: the signing key */
};

/* Chooses the ops by cfg->kind and initialises them. POSA_EGATEWAY names no kind or a
 * missing key; -errno / POSA_ECRYPTO when a key file cannot be read. */
int gateway_init(struct gateway *gw, const struct gateway_config *cfg);
void gateway_done(struct gateway *gw);
bool gateway_kind_is_known(const char *kind);

int gateway_seal(struct gateway *gw, const struct gateway_msg *msg, struct gateway_sealed *ret);
void gateway_sealed_done(struct gateway_sealed *sealed);
int gateway_open(struct gateway *gw, const char *body, size_t len, char **ret_body,
                 size_t *ret_len);

/* The strategies (defined in gateway_<name>.c). */
extern const struct gateway_ops gateway_none_ops;
extern const struct gateway_ops gateway_tif_ops;
extern const struct gateway_ops gateway_csb_ops;
extern const struct gateway_ops gateway_sm_ops;

/* --- helpers shared by the strategies and the sandbox's verifier --- */

/* Appends "name: value" to sealed; POSA_ETOOLONG past the bounds. */
int gateway_add_header(struct gateway_sealed *sealed, const char *name, const char *value);

/* TIF: lowercase hex SHA-256 of timestamp + token + nonce + timestamp. */
int gateway_tif_signature(const char *timestamp, const char *token, const char *nonce,
                          char ret[65]);

/* CSB: Base64(HMAC-SHA1(secret, "_api_access_key=<ak>&_api_name=<name>&_api_timestamp=<ts>
 * &_api_version=<ver>")). */
#define GATEWAY_CSB_SIG_LEN 28
int gateway_csb_signature(const char *secret, const char *access_key, const char *api_name,
                          const char *timestamp, const char *version,
                          char ret[GATEWAY_CSB_SIG_LEN + 1]);

/* Base64 (standard alphabet, padded). Encode: *ret is NUL-terminated, free() it. Decode
 * refuses anything but canonical padded Base64. */
int gateway_base64_encode(const void *data, size_t len, char **ret);
int gateway_base64_decode(const char *text, size_t len, unsigned char **ret, size_t *ret_len);

/* SM4-ECB with PKCS#7 padding, key = the first 16 bytes of id, Base64 text out/in. */
int gateway_sm4_encrypt(const char *id, const void *plain, size_t len, char **ret_b64);
int gateway_sm4_decrypt(const char *id, const char *b64, size_t len, char **ret_plain,
                        size_t *ret_len);

/* SM3withSM2 with the signer's id (userId) over data; the signature travels as Base64 of
 * raw r || s (64 bytes). */
int gateway_sm2_sign(EVP_PKEY *key, const char *id, const void *data, size_t len, char **ret_b64);
int gateway_sm2_verify(EVP_PKEY *pub, const char *id, const void *data, size_t len,
                       const char *b64);

/* Reads a PEM private key without a passphrase, of type (OpenSSL's name: "SM2"; NULL: any),
 * or a PEM public key. POSA_ECRYPTO when the file holds none (or one of another type). */
int gateway_load_private_key(const char *path, const char *type, EVP_PKEY **ret);
int gateway_load_public_key(const char *path, EVP_PKEY **ret);

#endif
