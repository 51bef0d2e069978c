/* The HIS API on posad's local server (his-api.md): one struct his_call per request, from
 * routing, auth and idempotency to the one answer. The desk flows (desk_*.c) are handlers
 * that take the call, do their work through the database thread and the platform link,
 * and answer with his_reply() or his_fail() exactly once. Loop thread only. */
#ifndef POSA_AGENT_HIS_H
#define POSA_AGENT_HIS_H

#include <stdbool.h>

#include <json-c/json.h>

#include "agent/db_worker.h"
#include "cache/records.h"
#include "interface/his/auth.h"
#include "interface/his/router.h"
#include "interface/http/http_server.h"
#include "interface/json/jsonmap.h"

struct posad;
struct his_call;

typedef void (*his_handler)(struct his_call *call);

struct his_route {
    const char *method;
    const char *pattern;
    enum auth_role role;
    bool idempotent; /* a POST that changes state: honours Idempotency-Key */
    his_handler handle;
};

struct his_call {
    struct posad *pd;
    struct http_request *req;
    const struct his_route *route;
    struct route_match match;
    const struct auth_client *client; /* NULL: the Unix socket, or loopback with no tokens */
    char idem_key[RECORD_ID_MAX + 1];
    char body_hash[65];
    struct db_job job; /* the call's own database work (one at a time) */
    int status;        /* the answer, kept for the idempotency record */
    char *answer;
    bool transient;               /* a "try again" answer: never kept as the key's answer */
    bool answer_kept; /* the flow kept the key's answer with its outcome (settle): not again */
    bool holds_key;               /* idem_key is reserved in flight by this call */
    uint64_t started;             /* uv_hrtime() when it arrived */
    struct his_call *next_key;    /* calls holding a key in flight (his_api.c) */
    struct his_call *waiters;     /* same key, same body, arrived meanwhile: same answer */
    char lock[RECORD_ID_MAX + 1]; /* a visit this call holds (his_lock), or "" */
    char his_lock[BOUND_CODE + 1]; /* a his_visit_id this call opens (his_lock_his_visit) */
    void *flow; /* the handler's state, freed with flow_free */
    void (*flow_free)(void *flow);
};

/* Entry point from the server for every /v1/ request and the documents. */
void his_handle(struct posad *pd, struct http_request *req);

/* The HIS API's error shape for the HTTP layer's own refusals (413, 431, 400): the
 * http_server_config.error_body hook. */
size_t his_error_body(int status, const char *reason, void *data, char *buf, size_t cap,
                      const char **ret_type);

/* The http_server_config.admit hook: on TCP with tokens configured, a request without a
 * token that names a client is answered 401 before its body is read (the route's role and
 * desks are checked once it is whole). */
int his_admit(const struct http_request *req, void *data);

/* Answers with body (taken; NULL = out of memory -> 503). */
void his_reply(struct his_call *call, int status, struct json_object *body);
/* Answers with the error envelope; message NULL = the table's words; details taken. */
void his_fail(struct his_call *call, int err, const char *message, struct json_object *details);
/* BAD_REQUEST (or the mapped code) naming the field of a JSON mapping failure. */
void his_fail_field(struct his_call *call, const struct jsonmap_error *err);
/* A field that is well formed but wrong against something else (a date before another):
 * err with message, and the field in details.field as his_fail_field gives it. */
void his_fail_at(struct his_call *call, int err, const char *field, const char *message);
/* Answers with a non-JSON body (documents, metrics). */
void his_reply_text(struct his_call *call, int status, const char *content_type, const char *body,
                    size_t len);

/* After a flow's database read: true to go on; false once answered because the read failed
 * (a missing row is NOT_FOUND) or the record's desk is not the caller's (his_check_owner). */
bool his_loaded(struct his_call *call, int status, const char *desk);

/* May this call act for desk (the client's desk scope)? 0 or POSA_EFORBIDDEN, said with
 * HIS_DESK_REFUSED. */
int his_check_desk(const struct his_call *call, const char *desk);
#define HIS_DESK_REFUSED "this client does not serve that desk (its desks in posad.conf)"
/* May this call touch a record kept at desk? A record kept at none ("": through the Unix
 * socket or by a client of every desk) is every desk's, so only such a caller's. */
int his_check_owner(const struct his_call *call, const char *desk);

/* The desk a request that names none is about: the client's only desk in *ret, or NULL when
 * it is not scoped to desks (the socket, or "*"); POSA_EFORBIDDEN for a client of several
 * desks, which must name one. */
int his_client_desk(const struct his_call *call, const char **ret);
/* For what spans every desk (the queue, reconcile, the passthrough): 0 when the caller may
 * see all desks (the Unix socket, no tokens, or a client of "*"), else answers 403 itself,
 * saying why (one of the *_EVERY_DESK), and returns POSA_EFORBIDDEN. */
int his_every_desk(struct his_call *call, const char *why);
#define QUEUE_EVERY_DESK     "the queue holds every desk's messages"
#define RECONCILE_EVERY_DESK "a reconciliation counts every desk's settlements"

/* A handler's state: size zeroed bytes, made the call's flow (flow_free frees it with the
 * call). NULL after answering the call with the out-of-memory error. */
void *his_flow_new(struct his_call *call, size_t size, void (*flow_free)(void *flow));

/* Runs run on the database thread, then done on the loop (call->job). his_db_read is for a
 * run that only reads, or whose writes a restart derives again from the journal (a
 * settlement's refresh): it commits with the lazy jobs (db_worker.h), and done does not
 * wait for an fsync. */
void his_db(struct his_call *call, db_job_run_fn run, db_job_done_cb done);
void his_db_read(struct his_call *call, db_job_run_fn run, db_job_done_cb done);
struct his_call *his_call_of_job(struct db_job *job);

/* The request counters of each route, for /metrics: fills out (at most cap) and returns
 * how many. The pointers stay valid until the next request is answered. */
struct metrics_route;
size_t his_metrics_routes(struct metrics_route *out, size_t cap);
/* An event stream that began: counted as an answered request (it is never "answered"). */
void his_count_stream(const struct his_call *call);

/* One flow at a time per visit: 0, or POSA_EBUSY when another call holds it. Released
 * when the call is answered. */
int his_lock(struct his_call *call, const char *visit_id);
/* The same for a visit being opened, by the HIS's his_visit_id (a retry without a key while
 * the first is still with the platform must not register it twice). */
int his_lock_his_visit(struct his_call *call, const char *his_visit_id);
/* Whether a call holds id (his_lock): a visit, or a settlement a refund holds. */
bool his_locked(const char *id);

/* The captured {id} of the route. */
const char *his_param(const struct his_call *call, size_t i);
/* The ?name=value of the query string, percent-decoded into buf (%XX, as clients send a
 * Chinese desk id or '*'): 1 when present, 0 when absent (buf ""), POSA_ETOOLONG when the
 * value does not fit in cap - 1 bytes, POSA_EFIELD for a bad escape or %00, POSA_EDUPLICATE
 * when name is given twice. */
int his_query(const struct his_call *call, const char *name, char *buf, size_t cap);
/* ?name= as a whole number in [min, max], dflt when absent; -1 after answering 400. */
int his_query_number(struct his_call *call, const char *name, int64_t min, int64_t max,
                     int64_t dflt, int64_t *ret);

/* Fresh ids that sort by time: prefix + 11 hex digits of Unix ms + 12 random ones. Tokens
 * (identity_token): 11 of time + 32 random, unguessable. */
#define HIS_TOKEN_LEN 43
void his_new_id(const char *prefix, char ret[RECORD_ID_MAX + 1]);
void his_new_token(char ret[HIS_TOKEN_LEN + 1]);

#endif
