/* The HIS API's front door: THE route table, auth, Idempotency-Key, and the one answer of
 * each call (his-api.md "Conventions"). */
#include "agent/his.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agent/desk.h"
#include "agent/audit.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "core/container_of.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/his/metrics.h"
#include "interface/his/responses.h"

/* THE route table of the HIS API. */
static const struct his_route routes[] = {
    {"GET", "/v1/health", ROLE_READONLY, false, status_health},
    {"GET", "/v1/queue", ROLE_READONLY, false, status_queue},
    {"POST", "/v1/identify", ROLE_CASHIER, true, desk_identify},
    {"POST", "/v1/visits", ROLE_CASHIER, true, desk_visit_open},
    {"GET", "/v1/visits/{visit_id}", ROLE_READONLY, false, desk_visit_get},
    {"POST", "/v1/visits/{visit_id}/cancel", ROLE_CASHIER, true, desk_visit_cancel},
    {"POST", "/v1/visits/{visit_id}/fees", ROLE_CASHIER, true, desk_fees_upload},
    {"POST", "/v1/visits/{visit_id}/fees/cancel", ROLE_CASHIER, true, desk_fees_cancel},
    {"POST", "/v1/visits/{visit_id}/presettle", ROLE_CASHIER, false, desk_presettle},
    {"POST", "/v1/visits/{visit_id}/settle", ROLE_CASHIER, true, desk_settle},
    {"GET", "/v1/settlements/{settlement_id}", ROLE_READONLY, false, desk_settlement_get},
    {"POST", "/v1/settlements/{settlement_id}/cancel", ROLE_CASHIER, true, desk_settlement_cancel},
    {"GET", "/v1/documents/settlement/{settlement_id}", ROLE_READONLY, false,
     desk_document_settlement},
    {"GET", "/v1/documents/forms/{form}", ROLE_READONLY, false, desk_document_form},
    {"GET", "/v1/events", ROLE_READONLY, false, desk_events},
    {"GET", "/v1/readers", ROLE_READONLY, false, desk_readers},
    {"POST", "/v1/queue/{msgid}/retry", ROLE_OPS, true, desk_queue_retry},
    {"GET", "/v1/audit", ROLE_OPS, false, audit_get},
    {"POST", "/v1/reconcile", ROLE_OPS, true, desk_reconcile},
    {"GET", "/v1/reconcile/{date}", ROLE_READONLY, false, desk_reconcile_get},
    {"GET", "/metrics", ROLE_READONLY, false, desk_metrics},
    /* The national interface for an HIS that speaks it: it moves money, so a cashier's. Its
     * msgid, or else an Idempotency-Key, makes a repeat the same message (passthrough.c). */
    {"POST", "/fsi/api/rsfComIfsService/callService", ROLE_CASHIER, true, passthrough_handle},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static struct route_pattern patterns[N_ROUTES];

/* The route of method and path (router_match's errors otherwise), from the table's
 * patterns, made once. */
static int route_match(const char *method, const char *path, struct route_match *ret)
{
    bool head = strcmp(method, "HEAD") == 0;
    int err;

    if (!patterns[0].method)
        for (size_t i = 0; i < N_ROUTES; i++)
            patterns[i] = (struct route_pattern){routes[i].method, routes[i].pattern};
    /* HEAD is a GET whose body is left out (http_conn does): a print tool or a monitor
     * asking whether a document is there. Not the event stream, which never ends. */
    err = router_match(patterns, N_ROUTES, head ? "GET" : method, path, ret);
    if (!err && head && routes[ret->index].handle == desk_events)
        err = POSA_EMETHOD;
    return err;
}

/* A 405's Allow: the table's methods for path, and HEAD beside a GET (route_match), but
 * for the event stream. */
static void route_allowed(const char *path, char *buf, size_t cap)
{
    struct route_match m;
    size_t len;

    router_allowed(patterns, N_ROUTES, path, buf, cap);
    len = strlen(buf);
    if (route_match("GET", path, &m) == 0 && routes[m.index].handle != desk_events)
        snprintf(buf + len, cap - len, ", HEAD");
}

/* Keys and visits held by calls in flight (loop thread): a JSON object used as a set. */
static struct json_object *in_flight;

#define LOCK_KEY_MAX (RECORD_ID_MAX + 16)

static const char *lock_key(char key[LOCK_KEY_MAX], const char *kind, const char *id)
{
    snprintf(key, LOCK_KEY_MAX, "%s:%s", kind, id);
    return key;
}

static bool held(const char *kind, const char *id)
{
    char key[LOCK_KEY_MAX];

    return in_flight && json_object_object_get_ex(in_flight, lock_key(key, kind, id), NULL);
}

static bool hold(const char *kind, const char *id)
{
    char key[LOCK_KEY_MAX];

    lock_key(key, kind, id);
    if (!in_flight && !(in_flight = json_object_new_object()))
        return false;
    if (json_object_object_get_ex(in_flight, key, NULL))
        return false;
    json_object_object_add(in_flight, key, NULL);
    return true;
}

static void release(const char *kind, const char *id)
{
    char key[LOCK_KEY_MAX];

    json_object_object_del(in_flight, lock_key(key, kind, id));
}

int his_lock(struct his_call *call, const char *visit_id)
{
    if (!hold("visit", visit_id))
        return POSA_EBUSY;
    str_copy(call->lock, sizeof(call->lock), visit_id);
    return 0;
}

bool his_locked(const char *id)
{
    return held("visit", id);
}

int his_lock_his_visit(struct his_call *call, const char *his_visit_id)
{
    if (strlen(his_visit_id) >= sizeof call->his_lock || !hold("his_visit", his_visit_id))
        return POSA_EBUSY;
    str_copy(call->his_lock, sizeof(call->his_lock), his_visit_id);
    return 0;
}

/* Calls holding an Idempotency-Key in flight; a repeat that arrives meanwhile waits on the
 * first and gets its answer, so one key makes one flow, however the HIS retries. */
static struct his_call *key_holders;

static struct his_call *key_holder(const char *key)
{
    for (struct his_call *c = key_holders; c; c = c->next_key)
        if (strcmp(c->idem_key, key) == 0)
            return c;
    return NULL;
}

static void key_release(struct his_call *call)
{
    for (struct his_call **p = &key_holders; *p; p = &(*p)->next_key) {
        if (*p == call) {
            *p = call->next_key;
            return;
        }
    }
}

/* What the call holds that another request may wait for: its key in flight, its visit. */
static void call_let_go(struct his_call *call)
{
    if (call->holds_key)
        key_release(call);
    call->holds_key = false;
    if (call->lock[0])
        release("visit", call->lock);
    call->lock[0] = '\0';
    if (call->his_lock[0])
        release("his_visit", call->his_lock);
    call->his_lock[0] = '\0';
}

static void call_free(struct his_call *call)
{
    call_let_go(call);
    if (call->flow_free)
        call->flow_free(call->flow);
    free(call->answer);
    free(call);
}

/* --- counters for /metrics ---------------------------------------------------------------- */

#define STATUSES_MAX 16

struct route_counters {
    struct metrics_status_count statuses[STATUSES_MAX];
    size_t n_statuses;
    struct metrics_histogram latency;
};

#define UNMATCHED N_ROUTES       /* no route matched */
#define REJECTED  (N_ROUTES + 1) /* refused by the HTTP layer before any route */

static struct route_counters counters[REJECTED + 1];
static const char *route_labels[REJECTED + 1];

static void count_at(size_t r, int status, uint64_t micros)
{
    struct route_counters *c = &counters[r];
    size_t i = 0;

    while (i < c->n_statuses && c->statuses[i].status != status)
        i++;
    if (i == c->n_statuses && c->n_statuses < STATUSES_MAX)
        c->statuses[c->n_statuses++].status = status;
    if (i < c->n_statuses)
        c->statuses[i].count++;
    metrics_histogram_observe(&c->latency, micros);
}

static void count(const struct his_call *call, int status)
{
    count_at(call->route ? (size_t)(call->route - routes) : UNMATCHED, status,
             (uv_hrtime() - call->started) / 1000);
}

void his_count_stream(const struct his_call *call)
{
    count(call, 200); /* its latency: until the stream began */
}

size_t his_metrics_routes(struct metrics_route *out, size_t cap)
{
    static char labels[REJECTED + 1][96];
    size_t n = 0;

    for (size_t r = 0; r <= REJECTED && n < cap; r++) {
        if (!counters[r].n_statuses)
            continue;
        if (!route_labels[r]) {
            if (r < N_ROUTES)
                snprintf(labels[r], sizeof labels[r], "%s %s", routes[r].method, routes[r].pattern);
            else
                snprintf(labels[r], sizeof labels[r], r == UNMATCHED ? "unmatched" : "rejected");
            route_labels[r] = labels[r];
        }
        out[n++] = (struct metrics_route){route_labels[r], counters[r].statuses,
                                          counters[r].n_statuses, counters[r].latency};
    }
    return n;
}

static void respond(struct his_call *call, int status, const char *type, const char *body,
                    size_t len)
{
    char allow[64];
    struct http_header h[] = {
        {"Content-Type", type}, {"Cache-Control", "no-store"}, {"Allow", allow}};
    struct his_call *w = call->waiters;

    count(call, status);
    call->waiters = NULL;
    /* http_respond may start this connection's next pipelined request at once: it must find
     * the key and the visit free (the key's answer is stored by now, so it is replayed). */
    call_let_go(call);
    if (status == 405) /* RFC 9110 15.5.6: it says which methods the path takes */
        route_allowed(call->req->path, allow, sizeof allow);
    http_respond(call->req, status, h, status == 405 ? 3 : 2, body, len);
    call->pd->requests--;
    while (w) {
        struct his_call *next = w->waiters;

        w->waiters = NULL;
        w->idem_key[0] = '\0'; /* a waiter stores nothing: the first answer is the key's */
        respond(w, status, type, body, len);
        w = next;
    }
    call_free(call);
}

static int run_store_answer(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);

    return records_answer_put(db, call->idem_key, call->body_hash, call->status, call->answer,
                              upstream_now_ms());
}

static void on_answer_stored(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);

    /* Not stored (disk full): the answer still goes out; a retry then runs again, which
     * every flow tolerates because the platform side is keyed by msgid and idem key. */
    (void)status;
    respond(call, call->status, "application/json;charset=utf-8", call->answer,
            strlen(call->answer));
}

void his_reply(struct his_call *call, int status, struct json_object *body)
{
    const char *text;

    if (!body) {
        respond(call, 503, "text/plain", "out of memory\n", 14);
        return;
    }
    text = json_object_to_json_string_ext(body,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    call->status = status;
    call->answer = strdup(text ? text : "{}");
    json_object_put(body);
    if (!call->answer) {
        respond(call, 503, "text/plain", "out of memory\n", 14);
        return;
    }
    /* Answers worth replaying are kept: successes and refusals, not "try again later". */
    if (call->idem_key[0] && status < 500 && !call->transient && !call->answer_kept) {
        his_db(call, run_store_answer, on_answer_stored);
        return;
    }
    respond(call, status, "application/json;charset=utf-8", call->answer, strlen(call->answer));
}

void his_reply_text(struct his_call *call, int status, const char *content_type, const char *body,
                    size_t len)
{
    respond(call, status, content_type, body, len);
}

void his_fail(struct his_call *call, int err, const char *message, struct json_object *details)
{
    /* Not kept under the key: a retry, and a 403 (who asked, not what: kept, it made the
     * key a CONFLICT for the desk's own client that the HIS retried with). */
    call->transient = posa_err_retryable(err) || err == POSA_EFORBIDDEN;
    his_reply(call, posa_err_http_status(err), his_error(err, message, details));
}

void his_fail_at(struct his_call *call, int err, const char *field, const char *message)
{
    struct json_object *details = json_object_new_object();

    json_object_object_add(details, "field", json_object_new_string(field));
    his_fail(call, err, message, details);
}

/* "kind: must be one of outpatient, inpatient". */
static void choices_words(char *buf, size_t cap, const char *field, const char *const *choices)
{
    size_t len = (size_t)snprintf(buf, cap, "%s: must be one of ", field);

    for (int i = 0; choices[i] && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", choices[i]);
}

void his_fail_field(struct his_call *call, const struct jsonmap_error *err)
{
    char message[200];
    int code = err->err ? err->err : POSA_EFIELD;

    /* Too many lines, or ids of lines to cancel: the bill's ceiling (his-api.md, Limits). */
    if (code == POSA_ETOOLONG &&
        (strcmp(err->field, "lines") == 0 || strcmp(err->field, "his_line_ids") == 0))
        code = POSA_ETOOLARGE;
    if (code == POSA_EJSON && call->req->body_len >= 3 &&
        memcmp(call->req->body, "\xEF\xBB\xBF", 3) == 0) /* .NET's UTF8Encoding writes one */
        snprintf(message, sizeof message,
                 "the body starts with a byte-order mark (EF BB BF): send the JSON without it "
                 "(UTF-8 with no BOM)");
    else if (err->line) /* where an HIS's developer looks */
        snprintf(message, sizeof message,
                 "the body: %s (it stops being JSON at line %zu, "
                 "column %zu)",
                 posa_strerror(code), err->line, err->column);
    else if (err->choices) /* the values a HIS's developer may send */
        choices_words(message, sizeof message, err->field, err->choices);
    else
        snprintf(message, sizeof message, "%s: %s", err->field[0] ? err->field : "the body",
                 posa_strerror(code));
    his_fail_at(call, code, err->field, message);
}

/* "no visit V123 here": which record the route's first parameter names, in words. */
static void not_found_words(const struct his_call *call, char *buf, size_t cap)
{
    const char *pattern = call->route ? call->route->pattern : "";
    const char *kind = strstr(pattern, "settlement") ? "settlement"
                       : strstr(pattern, "/visits/") ? "visit"
                                                     : NULL;

    if (kind && his_param(call, 0)[0])
        snprintf(buf, cap, "no %s %.64s on this posad: check the id", kind, his_param(call, 0));
    else
        snprintf(buf, cap, "no visit with this visit_id on this posad: check the id");
}

bool his_loaded(struct his_call *call, int status, const char *desk)
{
    char words[128];
    int err;

    if (status == POSA_ENOTFOUND || status == POSA_ENOSUCH) {
        not_found_words(call, words, sizeof words);
        his_fail(call, POSA_ENOSUCH, words, NULL);
        return false;
    }
    if (status) {
        his_fail(call, status, NULL, NULL);
        return false;
    }
    if ((err = his_check_owner(call, desk ? desk : "")) < 0) {
        his_fail(call, err, "this belongs to another desk", NULL);
        return false;
    }
    return true;
}

int his_check_desk(const struct his_call *call, const char *desk)
{
    return call->client ? auth_allow(call->client, ROLE_READONLY, desk) : 0;
}

int his_check_owner(const struct his_call *call, const char *desk)
{
    if (!desk[0])
        return call->client && !call->client->all_desks ? POSA_EFORBIDDEN : 0;
    return his_check_desk(call, desk);
}

int his_every_desk(struct his_call *call, const char *why)
{
    char msg[200];

    if (!call->client || call->client->all_desks)
        return 0;
    snprintf(msg, sizeof msg, "%s: a client of some desks cannot use it", why);
    his_fail(call, POSA_EFORBIDDEN, msg, NULL);
    return POSA_EFORBIDDEN;
}

int his_client_desk(const struct his_call *call, const char **ret)
{
    const struct auth_client *c = call->client;

    *ret = NULL;
    if (!c || c->all_desks)
        return 0;
    if (c->n_desks != 1)
        return POSA_EFORBIDDEN;
    *ret = c->desks[0];
    return 0;
}

struct his_call *his_call_of_job(struct db_job *job)
{
    return container_of(job, struct his_call, job);
}

void *his_flow_new(struct his_call *call, size_t size, void (*flow_free)(void *flow))
{
    void *flow = calloc(1, size);

    if (!flow) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return NULL;
    }
    call->flow = flow;
    call->flow_free = flow_free;
    return flow;
}

void his_db(struct his_call *call, db_job_run_fn run, db_job_done_cb done)
{
    call->job = (struct db_job){.run = run, .done = done};
    db_worker_submit(&call->pd->db, &call->job);
}

void his_db_read(struct his_call *call, db_job_run_fn run, db_job_done_cb done)
{
    call->job = (struct db_job){.run = run, .done = done, .lazy = true};
    db_worker_submit(&call->pd->db, &call->job);
}

const char *his_param(const struct his_call *call, size_t i)
{
    return i < call->match.n_params ? call->match.params[i] : "";
}

/* value (len bytes) with its %XX escapes undone into buf (cap bytes): how HTTP clients send
 * a Chinese desk id, or '*' (%2A). POSA_ETOOLONG, or POSA_EFIELD for a bad escape or a NUL. */
static int query_unescape(const char *value, size_t len, char *buf, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)value[i];

        if (c == '%') {
            int h = i + 2 < len ? str_hex_digit(value[i + 1]) : -1;
            int l = h < 0 ? -1 : str_hex_digit(value[i + 2]);

            if (l < 0 || (c = h * 16 + l) == 0)
                return POSA_EFIELD;
            i += 2;
        }
        if (o + 1 >= cap)
            return POSA_ETOOLONG;
        buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return 0;
}

int his_query(const struct his_call *call, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    int found = 0, err;

    buf[0] = '\0';
    for (const char *p = call->req->query; p && *p;) {
        size_t len = strcspn(p, "&");

        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            if (found) { /* which one was meant? */
                buf[0] = '\0';
                return POSA_EDUPLICATE;
            }
            if ((err = query_unescape(p + n + 1, len - n - 1, buf, cap)) < 0) {
                buf[0] = '\0';
                return err;
            }
            found = 1;
        }
        p += len + (p[len] == '&');
    }
    return found;
}

int his_query_number(struct his_call *call, const char *name, int64_t min, int64_t max,
                     int64_t dflt, int64_t *ret)
{
    char text[24], msg[96];
    int found = his_query(call, name, text, sizeof text);

    *ret = dflt;
    if (found == 0)
        return 0;
    if (found > 0 && text[0] && strspn(text, "0123456789") == strlen(text) &&
        dec_parse(text, strlen(text), 0, ret) == 0 && *ret >= min && *ret <= max)
        return 0;
    if (found == POSA_EDUPLICATE)
        snprintf(msg, sizeof msg, "%s is given twice", name);
    else
        snprintf(msg, sizeof msg, "%s must be a whole number from %lld to %lld", name,
                 (long long)min, (long long)max);
    his_fail(call, POSA_EFIELD, msg, NULL);
    return -1;
}

static void hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The time in ms as 11 hex digits, then random bytes: ids made later sort later, so a new
 * row's key lands at the right edge of its table's indexes. Random keys put each insert on
 * a page of its own, a third of the pages a group commit wrote. */
static void new_key(const char *prefix, size_t random_bytes, char *ret, size_t cap)
{
    unsigned char r[16];
    size_t n = (size_t)snprintf(ret, cap, "%s%011llx", prefix,
                                (unsigned long long)upstream_now_ms() & 0xfffffffffffULL);

    RAND_bytes(r, (int)random_bytes);
    hex(r, random_bytes, ret + n);
}

void his_new_id(const char *prefix, char ret[RECORD_ID_MAX + 1])
{
    new_key(prefix, 6, ret, RECORD_ID_MAX + 1);
}

void his_new_token(char ret[HIS_TOKEN_LEN + 1])
{
    new_key("", 16, ret, HIS_TOKEN_LEN + 1);
}

/* --- auth ------------------------------------------------------------------------------ */

/* On TCP with tokens configured, the bearer token must name a client: 0 or
 * POSA_EUNAUTHORIZED; *ret the client (NULL: no token needed). The Unix socket's permissions
 * are its auth, and a loopback listener without tokens is the single-machine default. */
static int his_identify(const struct posad *pd, const struct http_request *req,
                        const struct auth_client **ret)
{
    const struct auth_table *table = pd->desk.auth;

    *ret = NULL;
    if (!table || table->n == 0 || req->via_unix)
        return 0;
    return auth_identify(table, http_request_header(req, "Authorization"), ret);
}

/* ... and the client must have role: POSA_EFORBIDDEN otherwise. */
static int his_authorize(struct posad *pd, struct http_request *req, enum auth_role role,
                         const struct auth_client **ret)
{
    int err = his_identify(pd, req, ret);

    if (err < 0 || !*ret)
        return err;
    return auth_allow(*ret, role, NULL) < 0 ? POSA_EFORBIDDEN : 0;
}

/* Without tokens, a loopback listener trusts whoever reaches it, and a web page open on
 * the cashier's PC reaches it too (auth_from_web_page). With tokens a page cannot
 * authenticate, and a LAN listener is reached under any name. */
static bool from_a_web_page(const struct posad *pd, const struct http_request *req)
{
    if (req->via_unix || (pd->desk.auth && pd->desk.auth->n > 0))
        return false;
    return auth_from_web_page(http_request_header(req, "Host"), http_request_header(req, "Origin"));
}

/* A missing or wrong token, in the log with its peer: at most one line a second (with how
 * many were refused since), so that guessing shows without filling the disk. */
static void log_refused_token(struct posad *pd, const struct http_request *req)
{
    static struct log_every refused;
    char n[24];

    if (log_every_second(&refused, uv_now(pd->loop), n))
        log_event(LOGL_WARN, "token_refused", "peer", req->peer, "path", req->path, "refused", n,
                  NULL);
}

int his_admit(const struct http_request *req, void *data)
{
    const struct auth_client *client = NULL;
    struct route_match m;

    if (from_a_web_page(data, req))
        return 403;
    if (his_identify(data, req, &client) < 0) {
        log_refused_token(data, req);
        return 401;
    }
    /* A client whose role the route does not allow is refused before its body: a read-only
     * token could otherwise hold the bodies every POST needs, of both transports. */
    if (client && route_match(req->method, req->path, &m) == 0 &&
        auth_allow(client, routes[m.index].role, NULL) < 0)
        return 403;
    return 0;
}

static int authorize(struct his_call *call)
{
    return his_authorize(call->pd, call->req, call->route->role, &call->client);
}

/* --- idempotency ------------------------------------------------------------------------ */

struct replay {
    char hash[RECORD_ID_MAX + 1];
    int status;
    char *answer;
    bool passthrough; /* the key was a passthrough message's */
};

/* A request refused for its Idempotency-Key: the passthrough's in the national envelope its
 * HIS reads (infcode -1), every other route's in the HIS API's error. */
static void fail_key(struct his_call *call, int err, const char *message)
{
    if (call->route->handle == passthrough_handle)
        passthrough_refuse(call, err == POSA_ECONFLICT ? 200 : 400,
                           message ? message : posa_strerror(err));
    else
        his_fail(call, err, message, NULL);
}

static int run_find_answer(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct replay *r = call->flow;
    int err = records_answer_get(db, call->idem_key, r->hash, &r->status, &r->answer);

    if (err == POSA_ENOTFOUND && call->route->handle != passthrough_handle)
        return passthrough_key_used(db, call->idem_key, &r->passthrough);
    return err == POSA_ENOTFOUND ? 0 : err;
}

static void on_answer_found(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct replay *r = call->flow;

    call->flow = NULL;
    if (status) {
        free(r);
        his_fail(call, status, NULL, NULL);
    } else if (r->passthrough) {
        free(r);
        call->idem_key[0] = '\0';
        his_fail(call, POSA_ECONFLICT,
                 "this Idempotency-Key was used for a passthrough message: use a new key", NULL);
    } else if (!r->answer) {
        free(r);
        call->route->handle(call); /* the first time: do it */
    } else if (strcmp(r->hash, call->body_hash) != 0) {
        free(r->answer);
        free(r);
        call->idem_key[0] = '\0'; /* the first answer stays the key's */
        fail_key(call, POSA_ECONFLICT, NULL);
    } else {
        call->idem_key[0] = '\0';
        respond(call, r->status, "application/json;charset=utf-8", r->answer, strlen(r->answer));
        free(r->answer);
        free(r);
    }
}

/* Who asked, as a key names it: the client's name, token, role and desks (nothing on the
 * Unix socket). A kept answer is replayed before the handler checks the caller's desk, so
 * another desk's token, the same token moved to another desk by a reload, or the name given
 * to a new token, must get a CONFLICT, never the first caller's answer (a patient's
 * identity, an identity_token). */
static int digest_client(EVP_MD_CTX *ctx, const struct auth_client *c)
{
    unsigned char scope[2];
    int ok;

    if (!c)
        return EVP_DigestUpdate(ctx, "", 1);
    scope[0] = (unsigned char)c->role;
    scope[1] = c->all_desks;
    ok = EVP_DigestUpdate(ctx, c->name, strlen(c->name) + 1) &&
         EVP_DigestUpdate(ctx, c->token_hash, sizeof c->token_hash) &&
         EVP_DigestUpdate(ctx, scope, sizeof scope);
    for (size_t i = 0; ok && i < c->n_desks; i++)
        ok = EVP_DigestUpdate(ctx, c->desks[i], strlen(c->desks[i]) + 1);
    return ok;
}

/* What a key names: who asked (digest_client), method, path and body. */
static int request_digest(const struct his_call *call, unsigned char *digest, unsigned int *len)
{
    const struct http_request *req = call->req;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok =
        ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && digest_client(ctx, call->client) &&
        EVP_DigestUpdate(ctx, req->method, strlen(req->method) + 1) &&
        EVP_DigestUpdate(ctx, req->path, strlen(req->path) + 1) &&
        EVP_DigestUpdate(ctx, req->body, req->body_len) && EVP_DigestFinal_ex(ctx, digest, len);

    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int idempotency_start(struct his_call *call)
{
    const char *key = http_request_header(call->req, "Idempotency-Key");
    struct his_call *first;
    unsigned char digest[32];
    unsigned int len = 0;
    size_t n;

    if (!key)
        return 0;
    if (http_request_header_count(call->req, "Idempotency-Key") > 1)
        return POSA_EDUPLICATE; /* which one would the answer be kept under? */
    n = strlen(key);
    if (n == 0 || n > RECORD_ID_MAX)
        return POSA_EFIELD;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return POSA_EFIELD;
    /* A key names one client's request: the same key on another visit's cancel, or from
     * another client, is a CONFLICT, never the other's answer. */
    if (request_digest(call, digest, &len) < 0)
        return POSA_EFIELD;
    memcpy(call->idem_key, key, n + 1);
    hex(digest, 16, call->body_hash);
    /* Kept beside sealed rows, keyed: the digest of an identify by ID number is the number. */
    if (call->pd->seal_key && seal_digest(call->pd->seal_key, call->body_hash, call->body_hash))
        return POSA_ECRYPTO;
    /* The same key in flight: the same body waits for the first's answer; another body is a
     * conflict at once. */
    if ((first = key_holder(call->idem_key))) {
        call->idem_key[0] = '\0';
        if (strcmp(first->body_hash, call->body_hash) != 0)
            return POSA_ECONFLICT;
        call->waiters = first->waiters;
        first->waiters = call;
        return 2;
    }
    call->holds_key = true;
    call->next_key = key_holders;
    key_holders = call;
    return 1;
}

/* Which of the two a 403 is, for whoever sets the HIS up: the role (here), or a desk (the
 * flows: "another desk", "does not serve that desk"). */
#define ROLE_REFUSED                                                                               \
    "the client's role may not do that: a readonly client reads; the desk flow needs a cashier "   \
    "token, queue retries and reconcile an ops one (clients in posad.conf)"

size_t his_error_body(int status, const char *reason, void *data, char *buf, size_t cap,
                      const char **ret_type)
{
    const struct posad *pd = data;
    /* his_admit's 403: with tokens, a role the route does not allow (pages are not checked
     * then); without, a request from a web page. */
    bool tokens = pd->desk.auth && pd->desk.auth->n > 0;

    count_at(REJECTED, status, 0); /* not valid HTTP, too large: answered as it is read */
    int err = status == 413   ? POSA_ETOOLARGE
              : status == 431 ? POSA_ETOOLONG
              : status == 401 ? POSA_EUNAUTHORIZED
              : status == 503 ? POSA_EOVERLOAD
              : status == 403 ? (tokens ? POSA_EFORBIDDEN : POSA_EFOREIGN)
                              : POSA_EFIELD;
    char words[200];

    /* The HTTP layer's reason, for a HIS's author: a hand-written client's 400 said only
     * "not valid HTTP", and nothing was logged. */
    snprintf(words, sizeof words, "the request is not valid HTTP%s%s", reason ? ": " : "",
             reason ? reason : "");
    if (reason)
        log_event(LOGL_INFO, "http_refused", "status", status == 501 ? "501" : "400", "reason",
                  reason, NULL);
    struct json_object *body = his_error(err,
                                         status == 400 || reason  ? words
                                         : err == POSA_EFORBIDDEN ? ROLE_REFUSED
                                                                  : NULL,
                                         NULL);
    const char *text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : "";
    size_t len = strlen(text);

    *ret_type = "application/json;charset=utf-8";
    if (len >= cap)
        len = 0;
    memcpy(buf, text, len);
    json_object_put(body);
    return len;
}

/* --- entry ----------------------------------------------------------------------------- */

void his_handle(struct posad *pd, struct http_request *req)
{
    struct his_call *call = calloc(1, sizeof *call);
    int err;

    if (!call) {
        http_respond(req, 503, NULL, 0, NULL, 0);
        pd->requests--;
        return;
    }
    call->pd = pd;
    call->req = req;
    call->started = uv_hrtime();
    err = route_match(req->method, req->path, &call->match);
    if (err) {
        call->route = NULL;
        his_fail(call, err, err == POSA_ENOSUCH ? "no such endpoint" : NULL, NULL);
        return;
    }
    call->route = &routes[call->match.index];
    if ((err = authorize(call)) < 0) {
        his_fail(call, err, err == POSA_EFORBIDDEN ? ROLE_REFUSED : NULL, NULL);
        return;
    }
    if (call->route->idempotent && (err = idempotency_start(call)) != 0) {
        if (err == 2)
            return; /* waits for the same request in flight */
        if (err < 0) {
            fail_key(call, err,
                     err == POSA_ECONFLICT    ? NULL
                     : err == POSA_EDUPLICATE ? "Idempotency-Key is given twice: send one"
                                              : "Idempotency-Key must be 1 to 64 visible ASCII "
                                                "characters");
            return;
        }
        call->flow = calloc(1, sizeof(struct replay));
        if (!call->flow) {
            his_fail(call, -ENOMEM, NULL, NULL);
            return;
        }
        his_db_read(call, run_find_answer, on_answer_found);
        return;
    }
    call->route->handle(call);
}
