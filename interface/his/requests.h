/* The HIS API's request bodies (his-api.md) mapped to plain structs, validated and bounded.
 * Pure mapping over json-c: no I/O. Strings are borrowed from the parsed document, which the
 * struct owns until its _done(). Unknown top-level fields are refused: a misspelt
 * "emergncy" must not silently settle a visit as non-emergency. On failure err names the
 * field and nothing is kept. */
#ifndef POSA_HIS_REQUESTS_H
#define POSA_HIS_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bound.h"
#include "core/flags.h"
#include "interface/json/jsonmap.h"

#define HIS_WAIT_MS_MAX 120000 /* identify waits at most two minutes for a card */

enum identify_source { IDENTIFY_CARD, IDENTIFY_QR, IDENTIFY_ID, IDENTIFY_AUTO };

struct identify_request {
    struct json_object *root;
    const char *desk;     /* may be NULL */
    enum identify_source source;
    const char *qr;       /* source qr: the scanned code */
    const char *certno;   /* source id: 18-character resident ID number */
    const char *psn_name; /* source id: optional */
    uint32_t wait_ms;     /* source card/auto: how long to wait for a card */
};

struct diagnosis {
    const char *code;
    const char *name;
    bool main;
};

struct visit_request {
    struct json_object *root;
    const char *identity_token;
    enum visit_kind kind;
    const char *insutype;
    const char *med_type;
    const char *his_visit_id;
    const char *dept_code;
    const char *dept_name;
    const char *doctor_code;
    const char *doctor_name;
    const char *begin_time;    /* "YYYY-MM-DD HH:MM:SS" */
    int64_t begin;             /* the same as yyyymmddHHMMSS */
    struct diagnosis diagnoses[BOUND_DIAGNOSES];
    size_t n_diagnoses;
    enum tristate emergency;
    bool referral;
    enum tristate trauma;
    enum tristate trauma_third_party; /* unset: not stated */
    bool trauma_commitment_signed;
};

struct fees_cancel_request {
    struct json_object *root;
    bool all;
    struct json_object *his_line_ids; /* validated: 1..BOUND_LINES bounded strings */
    size_t n;
};

/* The i-th line id of a cancel request. */
const char *fees_cancel_request_id(const struct fees_cancel_request *req, size_t i);

struct settle_request {
    struct json_object *root;
    bool use_account;
    bool has_discharge;
    const char *discharge_time; /* "YYYY-MM-DD HH:MM:SS" */
    int64_t discharge;
    const char *discharge_reason;
    bool wait_if_offline;
};

struct reconcile_request { /* {"date":"YYYY-MM-DD"} or {"month":"YYYY-MM"} */
    struct json_object *root;
    int32_t date; /* the period: yyyymmdd, or yyyymm00 for a month (core/datetime.h) */
};

int identify_request_parse(const char *body, size_t len, struct identify_request *ret,
                           struct jsonmap_error *err);
int visit_request_parse(const char *body, size_t len, struct visit_request *ret,
                        struct jsonmap_error *err);
int fees_cancel_request_parse(const char *body, size_t len, struct fees_cancel_request *ret,
                              struct jsonmap_error *err);
/* An empty body is an empty object: settle with the defaults. */
int settle_request_parse(const char *body, size_t len, struct settle_request *ret,
                         struct jsonmap_error *err);
int reconcile_request_parse(const char *body, size_t len, struct reconcile_request *ret,
                            struct jsonmap_error *err);

/* POST /v1/settlements/{id}/cancel: empty, or {"reason"?}. */
struct cancel_request {
    struct json_object *root;
    const char *reason; /* may be NULL */
};
int cancel_request_parse(const char *body, size_t len, struct cancel_request *ret,
                         struct jsonmap_error *err);

/* A body that must say nothing: empty, or {} (a visit cancel). */
int empty_request_parse(const char *body, size_t len, struct jsonmap_error *err);

/* Releases the parsed document of any of the above (pass its root). */
void his_request_done(struct json_object **root);

#endif
