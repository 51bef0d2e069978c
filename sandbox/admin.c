/* The admin endpoints under /sandbox/ (sandbox.md), loopback only: faults, clock, filings,
 * e-voucher codes, the ledger, offline. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/datetime.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/json/jsonmap.h"
#include "sandbox/txn.h"

#define OFFLINE_MAX_S 3600

static void reply_error(struct http_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_error(struct http_request *req, int status, const char *fmt, ...)
{
    struct json_object *body = json_object_new_object();
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    out_str(body, "error", msg);
    sandbox_respond_json(req, status, body);
}

static void reply_ok(struct http_request *req, struct json_object *body)
{
    if (!body)
        body = json_object_new_object();
    json_object_object_add(body, "ok", json_object_new_boolean(1));
    sandbox_respond_json(req, 200, body);
}

/* The request body as a JSON object, or an answered 400 and NULL. */
static struct json_object *body_object(struct http_request *req)
{
    struct json_object *root = NULL;
    struct jsonmap_error err = {0};

    if (jsonmap_parse(req->body, req->body_len, &root, &err) < 0 ||
        !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        reply_error(req, 400, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

static const char *str_member(struct json_object *o, const char *key, size_t max)
{
    const char *s = NULL;

    if (jsonmap_get_string(o, key, max, false, &s, NULL) < 0)
        return NULL;
    return s;
}

/* A member an admin body may have: a string up to max bytes (null too when nullable), or
 * (max 0) a number, which its reader checks. */
struct admin_key {
    const char *name;
    size_t max;
    bool nullable;
};

/* Every member of o is one of keys, and each string one a string within its bound: else -1
 * with why. A misspelt or mistyped field must not read as absent: an infno of 2207 given as
 * a number armed a fault for every transaction, a valid_to in the wrong form left a filing
 * open-ended. */
static int admin_members(struct json_object *o, const struct admin_key *keys, size_t n, char *why,
                         size_t cap)
{
    json_object_object_foreach(o, name, value)
    {
        size_t i = 0;

        while (i < n && strcmp(keys[i].name, name) != 0)
            i++;
        if (i == n) {
            snprintf(why, cap, "unknown field %.64s", name);
            return -1;
        }
        if (keys[i].max == 0 || (keys[i].nullable && !value))
            continue;
        if (!json_object_is_type(value, json_type_string) ||
            (size_t)json_object_get_string_len(value) > keys[i].max) {
            snprintf(why, cap, "%s must be a string of at most %zu bytes", name, keys[i].max);
            return -1;
        }
    }
    return 0;
}

/* --- faults ---------------------------------------------------------------------------- */

static int fault_read(struct json_object *o, struct fault *f, char *why, size_t cap);

static int fault_parse(struct json_object *o, struct fault *f, char *why, size_t cap)
{
    static const struct admin_key keys[] = {
        {"infno", sizeof(((struct fault *)0)->infno) - 1, false},
        {"mode", 32, false},
        {"message", sizeof(((struct fault *)0)->message) - 1, false},
        {"delay_ms", 0, false},
        {"count", 0, false},
        {"code", 0, false},
        {"field", sizeof(((struct fault *)0)->field) - 1, false},
        {"value", sizeof(((struct fault *)0)->value) - 1, false}};

    if (admin_members(o, keys, sizeof keys / sizeof keys[0], why, cap) < 0)
        return -1;
    return fault_read(o, f, why, cap);
}

static int fault_read(struct json_object *o, struct fault *f, char *why, size_t cap)
{
    const char *infno = str_member(o, "infno", sizeof(f->infno) - 1);
    const char *mode = str_member(o, "mode", 32);
    const char *message = str_member(o, "message", sizeof(f->message) - 1);
    int64_t v;

    memset(f, 0, sizeof(*f));
    f->count = 1;
    f->code = -1;
    if (!mode || fault_mode_parse(mode, &f->mode) < 0) {
        snprintf(why, cap,
                 "mode must be delay, http_500, reset, refuse, or drop_, garble_, tamper_ or "
                 "oversize_after_commit");
        return -1;
    }
    if (f->mode == FAULT_TAMPER_AFTER_COMMIT) {
        const char *field = str_member(o, "field", sizeof(f->field) - 1);
        const char *value = str_member(o, "value", sizeof(f->value) - 1);

        if (!field || !field[0] || !value) {
            snprintf(why, cap, "tamper_after_commit needs field and value (strings)");
            return -1;
        }
        str_copy(f->field, sizeof(f->field), field);
        str_copy(f->value, sizeof(f->value), value);
    }
    str_copy(f->infno, sizeof(f->infno), infno);
    str_copy(f->message, sizeof(f->message), message);
    v = 0;
    if (jsonmap_get_decimal(o, "delay_ms", 0, false, &v, NULL) < 0 || v < 0 || v > 600000) {
        snprintf(why, cap, "delay_ms must be 0..600000");
        return -1;
    }
    f->delay_ms = (uint32_t)v;
    v = 1;
    if (jsonmap_get_decimal(o, "count", 0, false, &v, NULL) < 0 || v < 1 || v > 1000000) {
        snprintf(why, cap, "count must be 1..1000000");
        return -1;
    }
    f->count = (int32_t)v;
    v = -1;
    if (jsonmap_get_decimal(o, "code", 0, false, &v, NULL) < 0 || v < -999999 || v > 999999 ||
        v == 0) {
        snprintf(why, cap, "code must be a non-zero infcode");
        return -1;
    }
    f->code = (int32_t)v;
    if (strcmp(f->infno, "ec.query") == 0 &&
        (f->mode == FAULT_TAMPER_AFTER_COMMIT || f->mode == FAULT_OVERSIZE_AFTER_COMMIT)) {
        snprintf(why, cap, "ec.query takes the modes " FAULT_EC_MODES);
        return -1;
    }
    return 0;
}

static void admin_faults(struct sandbox *sb, struct http_request *req)
{
    struct json_object *o, *body;
    struct fault f;
    char why[128];

    if (strcmp(req->method, "DELETE") == 0) {
        faults_clear(&sb->faults);
        reply_ok(req, NULL);
        return;
    }
    if (strcmp(req->method, "GET") == 0) { /* how many are still armed: 0 once all fired */
        body = json_object_new_object();
        json_object_object_add(body, "armed", json_object_new_int((int)sb->faults.n));
        reply_ok(req, body);
        return;
    }
    if (!(o = body_object(req)))
        return;
    if (str_member(o, "mode", 32) && strcmp(str_member(o, "mode", 32), "clear") == 0) {
        faults_clear(&sb->faults);
        json_object_put(o);
        reply_ok(req, NULL);
        return;
    }
    if (fault_parse(o, &f, why, sizeof(why)) < 0) {
        json_object_put(o);
        reply_error(req, 400, "%s", why);
        return;
    }
    json_object_put(o);
    if (faults_add(&sb->faults, &f) < 0) {
        reply_error(req, 409, "too many faults armed (%d)", FAULTS_MAX);
        return;
    }
    body = json_object_new_object();
    json_object_object_add(body, "armed", json_object_new_int((int)sb->faults.n));
    reply_ok(req, body);
}

/* --- clock ----------------------------------------------------------------------------- */

static void admin_clock(struct sandbox *sb, struct http_request *req)
{
    static const struct admin_key keys[] = {{"now", DATETIME_TIME_LEN, true}};
    struct json_object *o = body_object(req), *now = NULL, *body;
    char why[128];
    int64_t t;
    int rc;

    if (!o)
        return;
    /* A misspelt key must not silently mean "back to the real clock": now is required. */
    rc = admin_members(o, keys, 1, why, sizeof(why));
    if (rc == 0 && !json_object_object_get_ex(o, "now", &now)) {
        snprintf(why, sizeof(why), "now is required");
        rc = -1;
    }
    if (rc < 0) {
        json_object_put(o);
        reply_error(req, 400, "%s (the body is {\"now\": \"YYYY-MM-DD HH:MM:SS\" or null})", why);
        return;
    }
    if (json_object_is_type(now, json_type_null)) {
        sb->clock = 0;
    } else if (!json_object_is_type(now, json_type_string) ||
               datetime_parse(json_object_get_string(now), (size_t)json_object_get_string_len(now),
                              &t) < 0) {
        json_object_put(o);
        reply_error(req, 400, "now must be \"YYYY-MM-DD HH:MM:SS\" or null");
        return;
    } else {
        sb->clock = t;
    }
    json_object_put(o);
    body = json_object_new_object();
    out_time(body, "now", sandbox_now(sb));
    json_object_object_add(body, "fixed", json_object_new_boolean(sb->clock != 0));
    reply_ok(req, body);
}

/* --- filings --------------------------------------------------------------------------- */

/* Applies one filing change to the person in memory; POSA_ETOOLONG when full. */
static int filing_apply(struct sc_person *p, const struct ledger_filing_op *op)
{
    enum filing_kind kind;

    if (filing_kind_parse(op->kind, &kind) < 0)
        return POSA_EFIELD;
    if (strcmp(op->action, "add") == 0) {
        if (p->n_filings == BOUND_FILINGS)
            return POSA_ETOOLONG;
        p->filings[p->n_filings++] =
            (struct filing){.kind = kind, .valid_from = op->valid_from, .valid_to = op->valid_to};
        return 0;
    }
    /* revoke: every filing of that kind (of that start, when given) */
    for (size_t i = 0; i < p->n_filings;) {
        struct filing *f = &p->filings[i];

        if (f->kind == kind && (!op->valid_from || f->valid_from == op->valid_from)) {
            memmove(f, f + 1, (p->n_filings - i - 1) * sizeof(*f));
            p->n_filings--;
        } else {
            i++;
        }
    }
    return 0;
}

static void replay_op(const struct ledger_filing_op *op, void *data)
{
    struct sandbox *sb = data;
    struct sc_person *p = scenario_person(&sb->scenario, op->psn_no);

    if (p)
        filing_apply(p, op);
}

int sandbox_apply_filing_ops(struct sandbox *sb)
{
    return ledger_filing_ops_each(sb->ledger, replay_op, sb);
}

static int filing_op_read(struct json_object *o, struct ledger_filing_op *op, char *why,
                          size_t cap);

static int filing_op_parse(struct json_object *o, struct ledger_filing_op *op, char *why,
                           size_t cap)
{
    static const struct admin_key keys[] = {{"psn_no", 64, false},
                                            {"action", 8, false},
                                            {"kind", 20, false},
                                            {"valid_from", 10, false},
                                            {"valid_to", 10, true}};

    if (admin_members(o, keys, sizeof keys / sizeof keys[0], why, cap) < 0)
        return -1;
    return filing_op_read(o, op, why, cap);
}

static int filing_op_read(struct json_object *o, struct ledger_filing_op *op, char *why, size_t cap)
{
    const char *psn = str_member(o, "psn_no", 64), *action = str_member(o, "action", 8);
    const char *kind = str_member(o, "kind", 20), *from = str_member(o, "valid_from", 10);
    const char *to = str_member(o, "valid_to", 10);
    enum filing_kind k;

    memset(op, 0, sizeof(*op));
    if (!psn || !action || !kind || (strcmp(action, "add") && strcmp(action, "revoke"))) {
        snprintf(why, cap, "psn_no, action (add|revoke) and kind are required");
        return -1;
    }
    if (filing_kind_parse(kind, &k) < 0 || k == FILING_NONE || k == FILING_EMERGENCY) {
        snprintf(why, cap, "kind must be long_term, referral, temporary_other or commitment");
        return -1;
    }
    if ((from && from[0] && date_parse(from, strlen(from), &op->valid_from) < 0) ||
        (to && to[0] && date_parse(to, strlen(to), &op->valid_to) < 0)) {
        snprintf(why, cap, "valid_from and valid_to are dates YYYY-MM-DD (valid_to may be null)");
        return -1;
    }
    if (strcmp(action, "add") == 0 &&
        (!op->valid_from || (op->valid_to && op->valid_to < op->valid_from))) {
        snprintf(why, cap, "an added filing needs valid_from, and valid_to not before it");
        return -1;
    }
    str_copy(op->psn_no, sizeof(op->psn_no), psn);
    str_copy(op->action, sizeof(op->action), action);
    str_copy(op->kind, sizeof(op->kind), kind);
    return 0;
}

static void admin_filings(struct sandbox *sb, struct http_request *req)
{
    struct json_object *o = body_object(req), *body;
    struct ledger_filing_op op;
    struct sc_person *p = NULL;
    char why[160];

    if (!o)
        return;
    if (filing_op_parse(o, &op, why, sizeof(why)) < 0) {
        json_object_put(o);
        reply_error(req, 400, "%s", why);
        return;
    }
    json_object_put(o);
    p = scenario_person(&sb->scenario, op.psn_no);
    if (!p) {
        reply_error(req, 404, "no person %s", op.psn_no);
        return;
    }
    if (strcmp(op.action, "add") == 0 && p->n_filings == BOUND_FILINGS) {
        reply_error(req, 409, "the person has %d filings already", BOUND_FILINGS);
        return;
    }
    if (ledger_begin(sb->ledger) < 0 || ledger_filing_op_add(sb->ledger, &op) < 0 ||
        ledger_commit(sb->ledger) < 0) {
        ledger_rollback(sb->ledger);
        reply_error(req, 500, "the ledger failed");
        return;
    }
    filing_apply(p, &op);
    body = json_object_new_object();
    out_str(body, "psn_no", p->psn_no);
    json_object_object_add(body, "filings", out_filings(p));
    reply_ok(req, body);
}

/* --- e-voucher codes ------------------------------------------------------------------- */

static void admin_qr(struct sandbox *sb, struct http_request *req)
{
    struct json_object *o = body_object(req), *body;
    const char *psn;
    struct sc_person *p = NULL;

    if (!o)
        return;
    psn = str_member(o, "psn_no", 64);
    p = psn ? scenario_person(&sb->scenario, psn) : NULL;
    json_object_put(o);
    if (!p) {
        reply_error(req, 404, "no such person");
        return;
    }
    body = json_object_new_object();
    /* The code first: readers may take the first string of the object. */
    out_str(body, "qrcode",
            evoucher_issue(&sb->evoucher, p->psn_no, p->insuplc_admdvs, uv_now(sb->loop)));
    json_object_object_add(body, "expires_in", json_object_new_int(EVOUCHER_CODE_TTL_MS / 1000));
    reply_ok(req, body);
}

/* --- the ledger ------------------------------------------------------------------------ */

/* The listing, optionally narrowed by ?mdtrt_id=...&psn_no=... (exact values). */
struct ledger_list {
    struct json_object *rows;
    char mdtrt_id[LEDGER_ID];
    char psn_no[LEDGER_ID];
};

static bool list_wants(const struct ledger_list *l, const char *mdtrt_id, const char *psn_no)
{
    return (!l->mdtrt_id[0] || strcmp(l->mdtrt_id, mdtrt_id) == 0) &&
           (!l->psn_no[0] || strcmp(l->psn_no, psn_no) == 0);
}

/* The value of name in a query string ("a=1&b=2"), unescaped only for plain text. */
static void query_value(const char *query, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);

    buf[0] = '\0';
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "&");

            snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), p + n + 1);
            return;
        }
    }
}

static void add_settlement(const struct ledger_settlement *s, void *data)
{
    struct ledger_list *l = data;
    struct json_object *row;

    if (!list_wants(l, s->mdtrt_id, s->psn_no))
        return;
    row = json_object_new_object();

    out_str(row, "msgid", s->msgid);
    out_str(row, "infno", s->infno);
    out_str(row, "psn_no", s->psn_no);
    out_str(row, "mdtrt_id", s->mdtrt_id);
    out_str(row, "setl_id", s->setl_id);
    out_money(row, "medfee_sumamt", s->medfee);
    out_money(row, "fund_pay_sumamt", s->fund);
    out_money(row, "psn_part_amt", s->psn_part);
    out_money(row, "acct_pay", s->acct_pay);
    out_money(row, "psn_cash_pay", s->cash);
    out_time(row, "setl_time", s->setl_time);
    out_str(row, "state", s->state);
    out_str(row, "cancel_msgid", s->cancel_msgid[0] ? s->cancel_msgid : NULL);
    json_object_array_add(l->rows, row);
}

static void add_upload(const struct ledger_fee *f, void *data)
{
    struct ledger_list *l = data;
    struct json_object *row;

    if (!list_wants(l, f->mdtrt_id, f->psn_no))
        return;
    row = json_object_new_object();

    out_str(row, "msgid", f->msgid);
    out_str(row, "infno", f->infno);
    out_str(row, "mdtrt_id", f->mdtrt_id);
    out_str(row, "feedetl_sn", f->feedetl_sn);
    out_str(row, "psn_no", f->psn_no);
    out_money(row, "det_item_fee_sumamt", f->split.amount);
    out_str(row, "setl_id", f->setl_id[0] ? f->setl_id : NULL);
    out_str(row, "state", f->state);
    json_object_array_add(l->rows, row);
}

static void admin_ledger(struct sandbox *sb, struct http_request *req)
{
    struct json_object *body = json_object_new_object();
    struct ledger_list setl = {.rows = json_object_new_array()}, up;

    query_value(req->query, "mdtrt_id", setl.mdtrt_id, sizeof(setl.mdtrt_id));
    query_value(req->query, "psn_no", setl.psn_no, sizeof(setl.psn_no));
    up = setl;
    up.rows = json_object_new_array();
    json_object_object_add(body, "settlements", setl.rows);
    json_object_object_add(body, "uploads", up.rows);
    if (ledger_settlements_each(sb->ledger, add_settlement, &setl) < 0 ||
        ledger_fees_each(sb->ledger, NULL, true, add_upload, &up) < 0) {
        json_object_put(body);
        reply_error(req, 500, "the ledger failed");
        return;
    }
    sandbox_respond_json(req, 200, body);
}

/* --- offline --------------------------------------------------------------------------- */

static void on_online(uv_timer_t *timer)
{
    struct sandbox *sb = timer->data;
    int rc = http_server_set_offline(sb->http, false);

    fprintf(stderr, "posa-sandbox: online again%s%s\n", rc < 0 ? ": " : "",
            rc < 0 ? uv_strerror(rc) : "");
}

static void admin_offline(struct sandbox *sb, struct http_request *req)
{
    struct json_object *o = body_object(req), *body;
    int64_t seconds = -1;

    if (!o)
        return;
    jsonmap_get_decimal(o, "seconds", 0, true, &seconds, NULL);
    json_object_put(o);
    if (seconds < 0 || seconds > OFFLINE_MAX_S) {
        reply_error(req, 400, "seconds must be 0..%d", OFFLINE_MAX_S);
        return;
    }
    body = json_object_new_object();
    json_object_object_add(body, "seconds", json_object_new_int((int)seconds));
    reply_ok(req, body); /* answered first; this connection closes after it */
    if (seconds == 0)
        return;
    fprintf(stderr, "posa-sandbox: offline for %lld s\n", (long long)seconds);
    http_server_set_offline(sb->http, true);
    sb->offline_timer.data = sb;
    uv_timer_start(&sb->offline_timer, on_online, (uint64_t)seconds * 1000, 0);
}

struct admin_route {
    const char *path;
    const char *method; /* NULL = GET, POST or DELETE as the handler decides */
    void (*fn)(struct sandbox *sb, struct http_request *req);
};

static const struct admin_route routes[] = {
    {"/sandbox/faults", NULL, admin_faults},     {"/sandbox/clock", "POST", admin_clock},
    {"/sandbox/filings", "POST", admin_filings}, {"/sandbox/qr", "POST", admin_qr},
    {"/sandbox/ledger", "GET", admin_ledger},    {"/sandbox/offline", "POST", admin_offline},
};

void admin_handle(struct sandbox *sb, struct http_request *req)
{
    if (!req->peer_is_local) {
        reply_error(req, 403, "the admin endpoints answer loopback clients only");
        return;
    }
    service_flush(sb);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(req->path, routes[i].path) != 0)
            continue;
        if (routes[i].method ? strcmp(req->method, routes[i].method) != 0
                             : strcmp(req->method, "GET") && strcmp(req->method, "POST") &&
                                   strcmp(req->method, "DELETE")) {
            reply_error(req, 405, "method %s not allowed here", req->method);
            return;
        }
        routes[i].fn(sb, req);
        return;
    }
    reply_error(req, 404, "no admin endpoint %s", req->path);
}
