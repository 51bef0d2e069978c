/* Verifying the gateway signature posad's platform client sealed a request with
 * (national-interface.md §1.4), when the scenario names a gateway:
 *   "gateway": {"kind": "tif", "tif_paasid": "...", "tif_token": "..."}
 *   "gateway": {"kind": "csb", "csb_access_key": "...", "csb_secret_key": "...",
 *               "csb_version": "1.0.0"}
 * (absent or "none": no check). The SM4/SM2 gateway is not verified by the sandbox. */
#ifndef POSA_SANDBOX_GATEWAY_CHECK_H
#define POSA_SANDBOX_GATEWAY_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "interface/http/http_server.h"

#define GATEWAY_CHECK_SKEW_MS (300 * 1000) /* timestamps within 5 minutes of real time */
#define GATEWAY_CHECK_NONCES  4096

struct gateway_check {
    char kind[8]; /* "", "tif", "csb" */
    char id[257];
    char secret[257];
    char version[33];
    char nonces[GATEWAY_CHECK_NONCES][33]; /* recent TIF nonces: a replay is refused */
    size_t next_nonce;
};

/* Reads the scenario's "gateway" object (absent: no check). On failure msg says which
 * field is wrong. */
int gateway_check_load(struct gateway_check *g, struct json_object *scenario, char *msg,
                       size_t cap);

/* 0 when req carries a good signature for infno (or no gateway is configured); else -1 with
 * why (cap bytes) in plain words. now_ms is the real Unix time in ms. */
int gateway_check_request(struct gateway_check *g, const struct http_request *req,
                          const char *infno, int64_t now_ms, char *why, size_t cap);

#endif
