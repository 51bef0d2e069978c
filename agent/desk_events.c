/* GET /v1/events?desk=D03: server-sent events per desk (his-api.md): card_inserted,
 * card_removed, qr_scanned, upstream_online, upstream_offline, settlement_resolved. Each
 * subscriber is an open streaming answer; one that goes away or falls behind is dropped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desk.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "cache/journal.h"
#include "cache/records.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/platform/messages.h"

struct desk_subscriber {
    struct his_call *call;
    char desk[CARD_DESK_MAX + 1]; /* "" = every desk */
    bool hears_codes;             /* may identify (desk_event): the socket, or a cashier's client */
    struct desk_subscriber *next;
};

static void unsubscribe(struct desk *d, struct desk_subscriber *sub)
{
    for (struct desk_subscriber **p = &d->subscribers; *p; p = &(*p)->next) {
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    }
}

/* The stream is over (peer gone, fell behind, or shutdown: the connection goes; or ended,
 * its last chunk sent, the connection kept): the call ends here. */
static void stream_over(struct desk *d, struct desk_subscriber *sub, bool ended)
{
    struct his_call *call = sub->call;

    unsubscribe(d, sub);
    if (ended)
        http_stream_end(call->req);
    else
        http_request_drop(call->req, false);
    call->pd->requests--;
    call->req = NULL;
    free(sub);
    free(call);
}

static void drop(struct desk *d, struct desk_subscriber *sub)
{
    stream_over(d, sub, false);
}

static void on_peer_gone(struct http_request *req, void *data)
{
    struct desk_subscriber *sub = data;

    (void)req;
    drop(&sub->call->pd->desk, sub);
}

/* data as an event frame (malloc'd, its length in *len), or NULL. */
static char *frame_of(const char *name, struct json_object *data, size_t *len)
{
    const char *json = json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t cap = strlen(name) + strlen(json) + 32;
    char *frame = malloc(cap);

    if (frame)
        *len = (size_t)snprintf(frame, cap, "event: %s\ndata: %s\n\n", name, json);
    return frame;
}

void desk_event(struct desk *d, const char *desk, const char *name, struct json_object *data)
{
    struct desk_subscriber *sub = d->subscribers, *next;
    size_t len = 0, bare_len = 0;
    char *frame = frame_of(name, data, &len), *bare = NULL;
    /* A scanned e-voucher code identifies its patient for a minute (identify {source:"qr"}):
     * a client that may not identify hears that a code was scanned, not the code. */
    bool has_code = json_object_object_get_ex(data, "qr", NULL);

    if (frame && has_code) {
        json_object_object_del(data, "qr");
        bare = frame_of(name, data, &bare_len);
    }
    for (; sub && frame; sub = next) {
        bool code_kept = has_code && !sub->hears_codes;

        next = sub->next;
        if ((desk && sub->desk[0] && strcmp(sub->desk, desk) != 0) || (code_kept && !bare))
            continue;
        if (http_stream_write(sub->call->req, code_kept ? bare : frame,
                              code_kept ? bare_len : len) < 0)
            drop(d, sub); /* gone, or too far behind: it reconnects and reads state */
    }
    free(frame);
    free(bare);
    json_object_put(data);
}

/* A comment line to every stream ([his] events_heartbeat_ms): a subscriber that went away is
 * found by the write failing, even when the peer's close was not read (a stream reads no
 * further once its buffer holds what the peer sent), and idle proxies keep it open. */
static void on_heartbeat(uv_timer_t *t)
{
    static const char beat[] = ": heartbeat\n\n";
    struct desk *d = t->data;
    struct desk_subscriber *sub = d->subscribers, *next;

    for (; sub; sub = next) {
        next = sub->next;
        if (http_stream_write(sub->call->req, beat, sizeof beat - 1) < 0)
            drop(d, sub);
    }
}

void desk_events_start(struct desk *d)
{
    uv_timer_init(d->pd->loop, &d->heartbeat);
    d->heartbeat.data = d;
    uv_timer_start(&d->heartbeat, on_heartbeat, d->pd->cfg.events_heartbeat_ms,
                   d->pd->cfg.events_heartbeat_ms);
}

void desk_events_close(struct desk *d)
{
    while (d->subscribers)
        drop(d, d->subscribers);
    uv_close((uv_handle_t *)&d->heartbeat, NULL);
}

void desk_events_end_tcp_streams(struct desk *d)
{
    struct desk_subscriber *sub = d->subscribers, *next;

    for (; sub; sub = next) {
        next = sub->next;
        if (!sub->call->req->via_unix) /* ended as a stream does, not cut (curl: exit 18) */
            stream_over(d, sub, true);
    }
}

void desk_events(struct his_call *call)
{
    static const struct http_header headers[] = {{"Content-Type", "text/event-stream"},
                                                  {"Cache-Control", "no-store"}};
    struct desk *d = &call->pd->desk;
    struct desk_subscriber *sub;
    const char *own = NULL;
    char desk[CARD_DESK_MAX + 1];
    size_t len;
    int err = 0;

    if ((err = his_query(call, "desk", desk, sizeof desk)) < 0) {
        his_fail_at(call, POSA_EFIELD, "desk",
                    err == POSA_ETOOLONG     ? "desk is at most 32 bytes"
                    : err == POSA_EDUPLICATE ? "desk is given twice: one desk, or * for all"
                                             : "desk is not a desk id (a bad %-escape)");
        return;
    }
    bool every = strcmp(desk, "*") == 0; /* what the first frame calls a stream of all */
    if (every)
        desk[0] = '\0';
    len = strlen(desk);
    if ((err == 1 && !every && !len) || (len && !str_is_desk(desk))) {
        his_fail_at(call, POSA_EFIELD, "desk", "desk is not a desk id (" STR_DESK_RULE ") or *");
        return;
    }
    /* Every desk's stream is for a client of every desk (his_check_desk passes any role for
     * no desk named). */
    if (every && (err = his_check_owner(call, "")) < 0) {
        his_fail(call, err, "?desk=* is every desk's stream: this client is of some desks only",
                 NULL);
        return;
    }
    err = 0;
    if (!(sub = calloc(1, sizeof *sub))) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    memcpy(sub->desk, desk, len);
    sub->hears_codes = !call->client || call->client->role == ROLE_CASHIER;
    /* Without ?desk= a stream carries every desk's events: a client of one desk gets its
     * own, a client of several must name one. */
    if (!len && !every && (err = his_client_desk(call, &own)) == 0 && own)
        str_copy(sub->desk, sizeof(sub->desk), own);
    if (err < 0 || (err = his_check_desk(call, sub->desk[0] ? sub->desk : NULL)) < 0 ||
        (err = http_stream_start(call->req, 200, headers, 2)) < 0) {
        free(sub);
        his_fail(call, err,
                 err == POSA_EFORBIDDEN && !len ? "this client watches only its own desks: "
                                                  "name one with ?desk="
                 : err == POSA_EFORBIDDEN ? HIS_DESK_REFUSED
                                          : NULL,
                 NULL);
        return;
    }
    his_count_stream(call);
    sub->call = call;
    sub->next = d->subscribers;
    d->subscribers = sub;
    http_request_on_close(call->req, on_peer_gone, sub);
    /* A first frame, so a client knows it is subscribed, and to what, before anything
     * happens. */
    char first[64];
    int n = snprintf(first, sizeof first, ": subscribed\n: desk %s\n\n",
                     sub->desk[0] ? sub->desk : "*");
    http_stream_write(call->req, first, (size_t)n);
}

/* --- settlement_resolved --------------------------------------------------------------- */

struct resolved_job {
    struct db_job job;
    struct desk *d;
    char msgid[MSGID_LEN + 1];
    char visit_id[RECORD_ID_MAX + 1]; /* instead of msgid: the visit's open settlement */
    struct settlement_record *rec;
    struct visit_record *visit;
    bool changed;
};

/* A settlement cancel decided (done: the settlement is cancelled; reversed, once the
 * platform took the reversal, or refused it and said the settlement stands: it stands):
 * the settlement's desk hears it as well. */
static int cancel_resolved(struct db *db, struct resolved_job *r)
{
    struct journal_row *row = NULL;
    const struct message_info *info;
    enum msg_state rev = MSG_UNKNOWN;
    int err = journal_get(db, r->msgid, &row);

    if (!err && row->state == MSG_REVERSED)
        err = journal_reversal_state(db, row->msgid, &rev);
    if (!err && (info = messages_find(row->infno)) && info->cancel &&
        (row->state == MSG_DONE ||
         (row->state == MSG_REVERSED && (rev == MSG_DONE || rev == MSG_REFUSED))) &&
        (err = desk_cancel_settlement(db, row->request, &r->rec)) == 0 &&
        (err = records_visit_get(db, r->rec->visit_id, &r->visit)) == 0)
        r->changed = true;
    journal_row_free(row);
    return err == POSA_ENOTFOUND ? 0 : err; /* not a settlement of the desk flow */
}

/* A reversal (2601) done decides the message it reversed: r->msgid becomes that one's, back
 * through the 2601s sent again. */
static int reversed_original(struct db *db, struct resolved_job *r)
{
    struct journal_row *row = NULL;
    int err = journal_get(db, r->msgid, &row);

    for (int hops = 0; !err && strcmp(row->infno, "2601") == 0 && hops < 16; hops++) {
        if (!row->ref_msgid || !row->ref_msgid[0])
            break;
        str_copy(r->msgid, sizeof(r->msgid), row->ref_msgid);
        journal_row_free(row);
        row = NULL;
        err = journal_get(db, r->msgid, &row);
    }
    journal_row_free(row);
    return err == POSA_ENOTFOUND ? 0 : err;
}

static int run_resolved(struct db *db, struct db_job *job)
{
    struct resolved_job *r = (struct resolved_job *)job;
    int err;

    if (r->visit_id[0]) {
        err = records_settlement_by_visit_open(db, r->visit_id, &r->rec);
        if (err)
            return err == POSA_ENOTFOUND ? 0 : err;
        str_copy(r->msgid, sizeof(r->msgid), r->rec->msgid);
    } else if ((err = reversed_original(db, r)) == 0) {
        err = records_settlement_by_msgid(db, r->msgid, &r->rec);
    }
    if (err == POSA_ENOTFOUND)
        return cancel_resolved(db, r);
    if (err)
        return err;
    if ((err = desk_settlement_refresh(db, r->rec, &r->changed)) == 0)
        err = records_visit_get(db, r->rec->visit_id, &r->visit);
    return err;
}

void desk_settlement_told(struct desk *d, const struct settlement_record *rec, const char *desk)
{
    struct json_object *o;

    /* Only an outcome known: pending or queued found unknown (a crash, a send that failed)
     * is no news for the desk, which would hear "unknown" and then "settled". */
    if (desk_setl_in_flight(rec->state))
        return;
    o = json_object_new_object();

    /* As a settle answered at once is logged (desk_settle.c): the log also says how a
     * queued or unknown one ended, not only the desk's event stream. */
    log_event(LOGL_INFO, "settlement", "settlement", rec->settlement_id, "visit", rec->visit_id,
              "msgid", rec->msgid, "state", rec->state, "resolved", "yes", NULL);
    json_object_object_add(o, "settlement_id", json_object_new_string(rec->settlement_id));
    json_object_object_add(o, "visit_id", json_object_new_string(rec->visit_id));
    json_object_object_add(o, "state", json_object_new_string(rec->state));
    json_object_object_add(o, "setl_id", json_object_new_string(rec->setl_id));
    desk_event(d, desk, "settlement_resolved", o);
}

static void on_resolved(struct db_job *job, int status)
{
    struct resolved_job *r = (struct resolved_job *)job;

    if (!status && r->changed && r->visit) {
        if (r->visit_id[0] && strcmp(r->rec->state, "refused") == 0) /* desk_settle_withdraw */
            log_event(LOGL_WARN, "settlement_withdrawn", "settlement_id", r->rec->settlement_id,
                      "msgid", r->msgid, "visit_id", r->visit_id, NULL);
        desk_settlement_told(r->d, r->rec, r->visit->desk);
    } else if (status) {
        log_event(LOGL_WARN, "settlement_refresh_failed", "msgid", r->msgid, "error",
                  posa_strerror(status), NULL);
    }
    records_settlement_free(r->rec);
    records_visit_free(r->visit);
    free(r);
}

static void resolved(struct desk *d, const char *msgid, const char *visit_id)
{
    struct resolved_job *r = calloc(1, sizeof *r);

    if (!r)
        return; /* the next GET of the settlement refreshes it anyway */
    r->d = d;
    str_copy(r->msgid, sizeof(r->msgid), msgid);
    str_copy(r->visit_id, sizeof(r->visit_id), visit_id);
    r->job = (struct db_job){.run = run_resolved, .done = on_resolved};
    db_worker_submit(&d->pd->db, &r->job);
}

void desk_outcome_resolved(struct desk *d, const char *msgid)
{
    resolved(d, msgid, NULL);
}

void desk_visit_settlement_resolved(struct desk *d, const char *visit_id)
{
    resolved(d, "", visit_id);
}

/* --- fees_refused, fees_cancel_refused --------------------------------------------------- */

/* An upload or a fee cancel the outbox sent, after the HIS had heard "queued", that the
 * platform refused: the visit's desk hears which lines (desk_fees_applied marked them), so
 * the HIS can send them again, or cancel them again. Lines name the message that first
 * carried them: the refused row, or the one it stood in for (ref_msgid). */
struct refused_job {
    struct db_job job;
    struct desk *d;
    bool cancel;
    char msgids[4][MSGID_LEN + 1];
    int n_msgids;
    char visit_id[RECORD_ID_MAX + 1];
    struct visit_record *visit;
    struct json_object *ids;
};

static int add_refused(const struct line_record *l, void *data)
{
    struct refused_job *r = data;

    const char *state = r->cancel ? "active" : "refused_queued";
    const char *msgid = r->cancel ? l->cancel_msgid : l->upload_msgid;

    for (int i = 0; i < r->n_msgids; i++)
        if (strcmp(l->state, state) == 0 && strcmp(msgid, r->msgids[i]) == 0) {
            json_object_array_add(r->ids, json_object_new_string(l->his_line_id));
            break;
        }
    return 0;
}

static int run_refused(struct db *db, struct db_job *job)
{
    struct refused_job *r = (struct refused_job *)job;
    struct journal_row *row = NULL;
    int err;

    /* The refused row, and the rows it stood in for, a few hops back. */
    while (r->n_msgids < 4 && journal_get(db, r->msgids[r->n_msgids - 1], &row) == 0) {
        bool more = row->ref_msgid && row->ref_msgid[0];

        if (more)
            str_copy(r->msgids[r->n_msgids++], sizeof r->msgids[0], row->ref_msgid);
        journal_row_free(row);
        row = NULL;
        if (!more)
            break;
    }
    if ((err = records_visit_get(db, r->visit_id, &r->visit)) != 0)
        return err == POSA_ENOTFOUND ? 0 : err;
    return records_lines_list(db, r->visit_id, add_refused, r);
}

static void on_refused(struct db_job *job, int status)
{
    struct refused_job *r = (struct refused_job *)job;

    if (!status && r->visit && json_object_array_length(r->ids) > 0) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "visit_id", json_object_new_string(r->visit_id));
        json_object_object_add(o, "his_line_ids", json_object_get(r->ids));
        desk_event(r->d, r->visit->desk, r->cancel ? "fees_cancel_refused" : "fees_refused", o);
    }
    json_object_put(r->ids);
    records_visit_free(r->visit);
    free(r);
}

static void fees_refused(struct desk *d, const char *msgid, const char *visit_id, bool cancel)
{
    struct refused_job *r = calloc(1, sizeof *r);

    if (!r || !(r->ids = json_object_new_array())) {
        free(r);
        return; /* the lines are refused all the same; GET and a new upload say so */
    }
    r->d = d;
    r->cancel = cancel;
    str_copy(r->msgids[0], sizeof r->msgids[0], msgid);
    r->n_msgids = 1;
    str_copy(r->visit_id, sizeof r->visit_id, visit_id);
    r->job = (struct db_job){.run = run_refused, .done = on_refused};
    db_worker_submit(&d->pd->db, &r->job);
}

/* --- visit_cancel_refused ------------------------------------------------------------------ */

/* A visit cancel the outbox sent, after the HIS heard "closed" and "queued", that the platform
 * refused: the visit is open again (desk_visit_cancel_refused), and its desk hears so. */
struct visit_event_job {
    struct db_job job;
    struct desk *d;
    char visit_id[RECORD_ID_MAX + 1];
    struct visit_record *visit;
};

static int run_visit_event(struct db *db, struct db_job *job)
{
    struct visit_event_job *v = (struct visit_event_job *)job;
    int err = records_visit_get(db, v->visit_id, &v->visit);

    return err == POSA_ENOTFOUND ? 0 : err;
}

static void on_visit_event(struct db_job *job, int status)
{
    struct visit_event_job *v = (struct visit_event_job *)job;

    if (!status && v->visit) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "visit_id", json_object_new_string(v->visit_id));
        json_object_object_add(o, "state", json_object_new_string(v->visit->state));
        desk_event(v->d, v->visit->desk, "visit_cancel_refused", o);
    }
    records_visit_free(v->visit);
    free(v);
}

static void visit_cancel_refused(struct desk *d, const char *visit_id)
{
    struct visit_event_job *v = calloc(1, sizeof *v);

    if (!v)
        return; /* the visit is open again all the same: GET /v1/visits says so */
    v->d = d;
    str_copy(v->visit_id, sizeof v->visit_id, visit_id);
    v->job = (struct db_job){.run = run_visit_event, .done = on_visit_event};
    db_worker_submit(&d->pd->db, &v->job);
}

void desk_refused_from_queue(struct desk *d, const struct upmsg *m)
{
    bool upload = strcmp(m->infno, "2204") == 0 || strcmp(m->infno, "2301") == 0;
    bool cancel = strcmp(m->infno, "2205") == 0 || strcmp(m->infno, "2302") == 0;

    if (upload || cancel) {
        fees_refused(d, m->msgid, m->visit_key, cancel);
        desk_visit_settlement_resolved(d, m->visit_key); /* withdrawn, if one waited */
    } else if (strcmp(m->infno, "2202") == 0 || strcmp(m->infno, "2404") == 0)
        visit_cancel_refused(d, m->visit_key);
}
