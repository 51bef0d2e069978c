/* Verifying the gateway signature posad's platform client sealed a request with
 * (national-interface.md §1.4), when the scenario names a gateway:
 *   "gateway": {"kind": "tif", "tif_paasid": "...", "tif_token": "..."}
 *   "gateway": {"kind": "csb", "csb_access_key": "...", "csb_secret_key": "...",
 *               "csb_version": "1.0.0"}
 *   "gateway": {"kind": "sm", "sm_client_id": "...", "sm_public_key_file": "client.pem"}
 * (absent or "none": no check). With sm, a request's input arrives SM4-encrypted and
 * SM2-signed (cainfo): gateway_check_open() decrypts and verifies it before the envelope is
 * read, and gateway_check_seal() encrypts an answer's output the same way. */
#ifndef POSA_SANDBOX_GATEWAY_CHECK_H
#define POSA_SANDBOX_GATEWAY_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "interface/http/http_server.h"

#define GATEWAY_CHECK_SKEW_MS (300 * 1000) /* timestamps within 5 minutes of real time */
#define GATEWAY_CHECK_NONCES  4096

struct gateway_check {
    char kind[8]; /* "", "tif", "csb", "sm" */
    char id[257];
    char secret[257];
    char version[33];
    char nonces[GATEWAY_CHECK_NONCES][33]; /* recent TIF nonces: a replay is refused */
    size_t next_nonce;
    EVP_PKEY *sm_public_key; /* the client's, for cainfo */
};

/* Reads the scenario's "gateway" object (absent: no check). On failure msg says which
 * field is wrong. */
int gateway_check_load(struct gateway_check *g, struct json_object *scenario, char *msg,
                       size_t cap);

void gateway_check_done(struct gateway_check *g);

/* sm: the request body with its input decrypted and its signature verified, in *ret_body
 * (malloc'd); the other kinds: *ret_body NULL (the body as it came). -1 with why when the
 * input cannot be opened or the signature does not match. */
int gateway_check_open(struct gateway_check *g, const char *body, size_t len, char **ret_body,
                       size_t *ret_len, char *why, size_t cap);

/* sm: replaces an answer's output object by its SM4 encryption (Base64 text). 0 or -1. */
int gateway_check_seal(struct gateway_check *g, struct json_object *answer);

/* 0 when req carries a good signature for infno (or no gateway is configured); else -1 with
 * why (cap bytes) in plain words. now_ms is the real Unix time in ms. */
int gateway_check_request(struct gateway_check *g, const struct http_request *req,
                          const char *infno, int64_t now_ms, char *why, size_t cap);

#endif
