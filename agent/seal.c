/* At-rest sealing with OpenSSL (seal.h). */
#include "agent/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

#define SEAL_KEY_LEN 32
#define GCM_IV_LEN   12
#define GCM_TAG_LEN  16
#define SM4_IV_LEN   16
#define SM3_LEN      32

enum seal_cipher { SEAL_AES_GCM = 'A', SEAL_SM4 = 'S' };

_Static_assert(1 + GCM_IV_LEN + GCM_TAG_LEN <= DB_SEAL_OVERHEAD_MAX, "AES overhead");
_Static_assert(1 + SM4_IV_LEN + SM3_LEN <= DB_SEAL_OVERHEAD_MAX, "SM4 overhead");

/* A cipher keyed once, at load: a context for each direction, given a new IV per value
 * (a key schedule and a context per value were a third of sealing's cost). */
struct keyed {
    EVP_CIPHER_CTX *enc, *dec; /* NULL: this OpenSSL lacks the cipher (its values do not open) */
};

struct seal_key {
    enum seal_cipher cipher; /* the one new values are sealed with */
    struct keyed aes, sm4;
    EVP_MAC_CTX *sm3; /* HMAC-SM3 under the SM4 MAC key */
    /* IVs: a random prefix drawn at load (again if the count wraps) and a count, so no IV
     * comes twice under the key across values and starts, without asking the random source
     * for every value (half of sealing's cost). */
    unsigned char iv_prefix[8];
    uint32_t iv_count;
    unsigned char digest[32]; /* seal_digest's HMAC-SHA256 key */
};

/* The file: 64 hex digits, a line end after them allowed, only its owner may read it. */
static int read_key_file(const char *path, unsigned char key[SEAL_KEY_LEN], char *why, size_t cap)
{
    char text[256];
    struct stat st;
    ssize_t n = 0;
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), err = 0;

    if (fd < 0) {
        err = -errno;
        snprintf(why, cap, "%s", strerror(errno));
        return err;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, cap, "not a file");
        err = POSA_EFIELD;
    } else if (st.st_uid != geteuid() && st.st_uid != 0) {
        snprintf(why, cap,
                 "owned by uid %u, who could read or replace it: chown it to posad's "
                 "user (or root)",
                 (unsigned)st.st_uid);
        err = POSA_EFIELD;
    } else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(why, cap, "others than its owner may read or change it (mode %04o): chmod 0400",
                 (unsigned)(st.st_mode & 07777));
        err = POSA_EFIELD;
    } else if ((n = read(fd, text, sizeof text - 1)) < 0) {
        err = -errno;
        snprintf(why, cap, "%s", strerror(errno));
    }
    close(fd);
    if (err)
        return err;
    text[n] = '\0';
    len = strspn(text, "0123456789abcdefABCDEF");
    if (len != 2 * SEAL_KEY_LEN || strspn(text + len, "\r\n") != (size_t)n - len ||
        (size_t)n == sizeof text - 1) {
        snprintf(why, cap,
                 "must hold 64 hex digits (32 bytes); make one with "
                 "(set -C; umask 077; openssl rand -hex 32 > FILE)");
        OPENSSL_cleanse(text, sizeof text);
        return POSA_EFIELD;
    }
    for (size_t i = 0; i < SEAL_KEY_LEN; i++) {
        unsigned v;
        sscanf(text + 2 * i, "%2x", &v);
        key[i] = (unsigned char)v;
    }
    OPENSSL_cleanse(text, sizeof text);
    return 0;
}

/* HMAC-<digest>(key, label) into out (len bytes at most the digest's). */
static int derive(const unsigned char key[SEAL_KEY_LEN], const char *digest, const char *label,
                  unsigned char *out, size_t len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t n = 0;

    if (!EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key, SEAL_KEY_LEN,
                   (const unsigned char *)label, strlen(label), mac, sizeof mac, &n) ||
        n < len)
        return POSA_ECRYPTO;
    memcpy(out, mac, len);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

static void keyed_free(struct keyed *kc)
{
    EVP_CIPHER_CTX_free(kc->enc);
    EVP_CIPHER_CTX_free(kc->dec);
    kc->enc = kc->dec = NULL;
}

void seal_key_free(struct seal_key *k)
{
    if (!k)
        return;
    keyed_free(&k->aes);
    keyed_free(&k->sm4);
    EVP_MAC_CTX_free(k->sm3);
    OPENSSL_clear_free(k, sizeof *k);
}

/* kc keyed with the cipher name under the key derived from master by label (HMAC-digest);
 * left empty when this OpenSSL lacks the cipher. */
static int keyed_init(struct keyed *kc, const char *name, const unsigned char *master,
                      const char *digest, const char *label, size_t key_len)
{
    unsigned char key[SEAL_KEY_LEN];
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
    int err = cipher ? derive(master, digest, label, key, key_len) : 0;

    if (cipher && !err &&
        (!(kc->enc = EVP_CIPHER_CTX_new()) || !(kc->dec = EVP_CIPHER_CTX_new()) ||
         !EVP_CipherInit_ex2(kc->enc, cipher, key, NULL, 1, NULL) ||
         !EVP_CipherInit_ex2(kc->dec, cipher, key, NULL, 0, NULL)))
        err = POSA_ECRYPTO;
    if (err)
        keyed_free(kc);
    EVP_CIPHER_free(cipher); /* the contexts hold it */
    OPENSSL_cleanse(key, sizeof key);
    return err;
}

static int sm3_init(struct seal_key *k, const unsigned char *master)
{
    unsigned char key[SM3_LEN];
    char digest[] = "SM3";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    int err = derive(master, "SM3", "posa seal hmac-sm3", key, sizeof key);

    if (!err && (!hmac || !(k->sm3 = EVP_MAC_CTX_new(hmac)) ||
                 !EVP_MAC_init(k->sm3, key, sizeof key, params)))
        err = POSA_ECRYPTO;
    EVP_MAC_free(hmac);
    OPENSSL_cleanse(key, sizeof key);
    return err;
}

int seal_key_load(const char *path, const char *cipher, struct seal_key **ret, char *why,
                  size_t cap)
{
    unsigned char master[SEAL_KEY_LEN];
    struct seal_key *k;
    int err;

    *ret = NULL;
    err = read_key_file(path, master, why, cap);
    if (err)
        return err;
    k = OPENSSL_zalloc(sizeof *k);
    if (!k) {
        OPENSSL_cleanse(master, sizeof master);
        return -ENOMEM;
    }
    k->cipher = strcmp(cipher, "sm4") == 0 ? SEAL_SM4 : SEAL_AES_GCM;
    err = keyed_init(&k->aes, "AES-256-GCM", master, "SHA256", "posa seal aes-256-gcm", 32);
    if (!err)
        err = keyed_init(&k->sm4, "SM4-CTR", master, "SM3", "posa seal sm4", 16);
    if (!err)
        err = derive(master, "SHA256", "posa seal digest", k->digest, sizeof k->digest);
    if (!err && k->sm4.enc)
        err = sm3_init(k, master);
    OPENSSL_cleanse(master, sizeof master);
    if (!err && (k->cipher == SEAL_AES_GCM ? !k->aes.enc : !k->sm4.enc))
        err = POSA_ECRYPTO;
    if (!err && RAND_bytes(k->iv_prefix, sizeof k->iv_prefix) != 1)
        err = POSA_ECRYPTO;
    if (err) {
        snprintf(why, cap, "this OpenSSL cannot use the %s cipher", cipher);
        seal_key_free(k);
        return err;
    }
    *ret = k;
    return 0;
}

/* The next IV: the prefix, the count (big-endian), zeros (SM4-CTR's block counter). */
static int next_iv(struct seal_key *k, unsigned char *iv, size_t len)
{
    if (++k->iv_count == 0 && RAND_bytes(k->iv_prefix, sizeof k->iv_prefix) != 1)
        return POSA_ECRYPTO;
    memset(iv, 0, len);
    memcpy(iv, k->iv_prefix, sizeof k->iv_prefix);
    for (int i = 0; i < 4; i++)
        iv[sizeof k->iv_prefix + i] = (unsigned char)(k->iv_count >> (24 - 8 * i));
    return 0;
}

/* HMAC-SM3 of data under k's SM4 MAC key. */
static int sm3_tag(struct seal_key *k, const unsigned char *data, size_t len,
                   unsigned char tag[SM3_LEN])
{
    size_t n = 0;

    return EVP_MAC_init(k->sm3, NULL, 0, NULL) && EVP_MAC_update(k->sm3, data, len) &&
                   EVP_MAC_final(k->sm3, tag, &n, SM3_LEN) && n == SM3_LEN
               ? 0
               : POSA_ECRYPTO;
}

/* One pass of ctx (keyed) over in (len bytes) into out, from iv; with GCM, tag is set
 * (decrypting) or got (encrypting) and aad's one byte authenticated. */
static bool run_cipher(EVP_CIPHER_CTX *ctx, const unsigned char *iv, bool enc,
                       const unsigned char *aad, const unsigned char *in, size_t len,
                       unsigned char *out, unsigned char *gcm_tag)
{
    int n = 0, fin = 0;

    return len <= INT32_MAX && EVP_CipherInit_ex2(ctx, NULL, NULL, iv, enc, NULL) &&
           (!aad || EVP_CipherUpdate(ctx, NULL, &n, aad, 1)) &&
           (!gcm_tag || enc ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, gcm_tag)) &&
           EVP_CipherUpdate(ctx, out, &n, in, (int)len) && EVP_CipherFinal_ex(ctx, out + n, &fin) &&
           (size_t)(n + fin) == len &&
           (!gcm_tag || !enc ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, gcm_tag));
}

static int seal(void *ctx, const void *plain, size_t len, unsigned char *out, size_t *out_len)
{
    struct seal_key *k = ctx;
    size_t iv_len = k->cipher == SEAL_SM4 ? SM4_IV_LEN : GCM_IV_LEN;
    unsigned char *iv = out + 1, *body = iv + iv_len, *tag = body + len;

    out[0] = (unsigned char)k->cipher;
    if (next_iv(k, iv, iv_len) != 0)
        return POSA_ECRYPTO;
    if (k->cipher == SEAL_AES_GCM) {
        if (!run_cipher(k->aes.enc, iv, true, out, plain, len, body, tag))
            return POSA_ECRYPTO;
        *out_len = 1 + iv_len + len + GCM_TAG_LEN;
        return 0;
    }
    if (!run_cipher(k->sm4.enc, iv, true, NULL, plain, len, body, NULL) ||
        sm3_tag(k, out, 1 + iv_len + len, tag) != 0)
        return POSA_ECRYPTO;
    *out_len = 1 + iv_len + len + SM3_LEN;
    return 0;
}

static int open_sealed(void *ctx, const unsigned char *sealed, size_t len, unsigned char *out,
                       size_t *out_len)
{
    struct seal_key *k = ctx;
    unsigned char tag[SM3_LEN];
    size_t n;

    if (len >= 1 + GCM_IV_LEN + GCM_TAG_LEN && sealed[0] == SEAL_AES_GCM && k->aes.dec) {
        n = len - 1 - GCM_IV_LEN - GCM_TAG_LEN;
        memcpy(tag, sealed + 1 + GCM_IV_LEN + n, GCM_TAG_LEN);
        if (!run_cipher(k->aes.dec, sealed + 1, false, sealed, sealed + 1 + GCM_IV_LEN, n, out,
                        tag))
            return POSA_ESEALED;
    } else if (len >= 1 + SM4_IV_LEN + SM3_LEN && sealed[0] == SEAL_SM4 && k->sm4.dec) {
        n = len - 1 - SM4_IV_LEN - SM3_LEN;
        if (sm3_tag(k, sealed, 1 + SM4_IV_LEN + n, tag) != 0 ||
            CRYPTO_memcmp(tag, sealed + 1 + SM4_IV_LEN + n, SM3_LEN) != 0 ||
            !run_cipher(k->sm4.dec, sealed + 1, false, NULL, sealed + 1 + SM4_IV_LEN, n, out, NULL))
            return POSA_ESEALED;
    } else {
        return POSA_ESEALED;
    }
    *out_len = n;
    return 0;
}

int seal_digest(const struct seal_key *k, const char *hex, char *out)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[32];
    size_t n = 0, len = strlen(hex);

    if (len < 2 || len > 2 * sizeof mac + 1 ||
        !EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->digest, sizeof k->digest,
                   (const unsigned char *)hex, len, mac, sizeof mac, &n))
        return POSA_ECRYPTO;
    out[0] = DB_DIGEST_KEYED;
    for (size_t i = 1; i < len; i++)
        out[i] = digits[(mac[(i - 1) / 2] >> ((i - 1) % 2 ? 0 : 4)) & 15];
    out[len] = '\0';
    return 0;
}

bool seal_key_same(const struct seal_key *a, const struct seal_key *b)
{
    return CRYPTO_memcmp(a->digest, b->digest, sizeof a->digest) == 0;
}

static int digest(void *ctx, const char *hex, char *out)
{
    return seal_digest(ctx, hex, out);
}

void seal_sealer(struct seal_key *k, struct db_sealer *out)
{
    *out = (struct db_sealer){.seal = seal, .open = open_sealed, .digest = digest, .ctx = k};
}
