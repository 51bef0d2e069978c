/* Settlement of a visit (his-api.md): POST .../presettle (2303 / 2206: the platform's
 * estimate, which moves nothing), POST .../settle (2402 discharge then 2304 for a stay;
 * 2207 outpatient), GET /v1/settlements/{id}, POST /v1/settlements/{id}/cancel (2305 /
 * 2208). The settlement is a record, and the visit `settling`, before the message leaves;
 * an answer that is lost leaves it `unknown` until the resolver's query (5203) or reversal
 * (2601) decides, which desk_settlement_refresh() then reads from the journal. It is never sent
 * twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desk.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "cache/journal.h"
#include "core/decimal.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/visit_fsm.h"
#include "core/str.h"
#include "interface/his/requests.h"
#include "interface/his/responses.h"
#include "interface/platform/desk_msgs.h"

#define DESK_BCHNO "B0001"

struct settle_flow {
    struct settle_request req;
    bool estimate; /* presettle */
    struct visit_record *visit;
    struct settlement_record *told; /* an open one the load found decided: its desk hears it */
    struct json_object *doc; /* the visit's: visit_doc() */
    struct bill bill;        /* its active lines */
    struct settlement_record rec;
    char *rec_body;
    struct json_object *body; /* the record's document, kept as it grows */
    struct json_object *answer;
    struct desk_settlement result;
    struct envelope_response env;
    bool have_env;
    bool outside;                    /* a line is an outside exam/treatment/purchase */
    /* The bill's latest line, by its time ("YYYY-MM-DD HH:MM:SS" sorts as text): a
     * discharge before it is a typo in the one or the other. */
    char last_time[DATETIME_TIME_LEN + 1], last_line[RECORD_ID_MAX + 1];
    /* his_line_ids of lines whose cancel, answered "queued", the platform refused later:
     * on the bill while the HIS believes them cancelled (NULL: none). */
    struct json_object *cancel_refused;
    /* ... and of lines whose upload, answered "queued", the platform refused: not on the
     * bill, which the HIS is told once (then they are plain `refused`). */
    struct json_object *upload_refused;
    bool decided;                    /* the outcome is journaled (settle_apply ran) */
    char his_key[RECORD_ID_MAX + 1]; /* the HIS's Idempotency-Key and request hash, or "" */
    char his_hash[65];
    char *replay; /* the key's answer, kept when this call's load followed a lost outcome */
    int replay_status;
    bool replay_conflict; /* ... kept for another request under the same key */
    char fund_type[8], account_type[8]; /* the estimate's funds' (estimate_locally) */
    bool blocked; /* an earlier settlement of the visit is unresolved */
    char blocked_id[RECORD_ID_MAX + 1]; /* ... or the settled visit's settlement */
    bool refund_open;                   /* ... whose refund the journal has not finished */
    /* A stay: the discharge time the platform holds (a 2402 of posad's done, no 2405 after
     * it), or ""; and how many of the stay's discharges and their cancels are done, which
     * numbers the next one's key (a time may be sent again after a cancel). */
    char landed[DATETIME_TIME_LEN + 1];
    int discharges;
};

static void flow_free(void *p)
{
    struct settle_flow *f = p;

    his_request_done(&f->req.root);
    records_visit_free(f->visit);
    records_settlement_free(f->told);
    json_object_put(f->doc);
    free(f->rec_body);
    json_object_put(f->body);
    json_object_put(f->answer);
    json_object_put(f->cancel_refused);
    json_object_put(f->upload_refused);
    free(f->replay);
    if (f->have_env)
        envelope_response_done(&f->env);
    free(f);
}

static bool inpatient(const struct settle_flow *f)
{
    return visit_kind_named(f->visit->kind) == VISIT_INPATIENT;
}

/* --- reading back ---------------------------------------------------------------------- */

/* Adds the line's his_line_id to *list (made on first use). */
static int name_line(struct json_object **list, const struct line_record *l)
{
    if (!*list && !(*list = json_object_new_array()))
        return -ENOMEM;
    return json_object_array_add(*list, json_object_new_string(l->his_line_id));
}

/* A line of a settled bill (records_lines_active): a refused one is on no bill. */
static int bill_line(const struct line_record *l, void *data)
{
    return strcmp(l->state, "refused_queued") == 0 ? 0 : bill_add(data, &l->split);
}

static int add_line(const struct line_record *l, void *data)
{
    struct settle_flow *f = data;

    if (strcmp(l->state, "refused_queued") == 0)
        return name_line(&f->upload_refused, l);
    if (l->cancel_msgid[0] && name_line(&f->cancel_refused, l) < 0)
        return -ENOMEM;
    f->outside |= l->outside_institution[0] != '\0';
    if (l->time && strcmp(l->time, f->last_time) > 0) {
        str_copy(f->last_time, sizeof f->last_time, l->time);
        str_copy(f->last_line, sizeof f->last_line, l->his_line_id);
    }
    return bill_line(l, &f->bill);
}

/* An unknown settlement whose journal row was decided since: the record follows the row
 * (found by 5203 -> settled with the amounts it found; reversed -> failed, the visit can be
 * settled again). Runs on the database thread. */
static struct json_object *funds_json(const struct desk_settlement *r);
static void history_add(struct json_object *body, const char *state, const char *msgid);

static struct json_object *answer_json(const char *settlement_id, const char *visit_id,
                                       bool inpatient, const struct desk_settlement *r,
                                       const char *state);

/* The HIS's answer to a settle sent with an Idempotency-Key, kept with the outcome it reports
 * (in its transaction), so a retry after a crash gets it instead of finding the visit
 * settled. The text is what his_reply sends; a key answered already keeps its first answer.
 * Best effort, in a savepoint of its own: failing to keep it never undoes the outcome (the
 * answer then goes out unkept, as any answer whose keeping failed). True when kept. */
static bool keep_his_answer(struct db *db, const char *key, const char *hash, int status,
                            struct json_object *answer)
{
    const char *text;
    int err;

    if (!key || !key[0]) /* nothing to keep it under: not printed for nothing */
        return false;
    text = json_object_to_json_string_ext(answer,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!text || db_savepoint(db) < 0)
        return false;
    err = records_answer_put(db, key, hash, status, text, upstream_now_ms());
    if (err && err != POSA_EEXISTS) {
        db_savepoint_rollback(db);
        return false;
    }
    return db_savepoint_release(db) == 0 && err == 0;
}

/* A settlement's error as its body keeps it (shown by GET as the error envelope says it):
 * posa's number, the message (NULL: posa's words for the number), the platform's words, and
 * the settlement it is. */
static struct json_object *failure_json(int err, const char *message, const char *upstream,
                                        const char *settlement_id)
{
    struct json_object *e = json_object_new_object(), *details = desk_upstream_details(upstream);

    if (settlement_id)
        json_object_object_add(details, "settlement_id", json_object_new_string(settlement_id));
    json_object_object_add(e, "err", json_object_new_int(err));
    json_object_object_add(e, "message", json_object_new_string(message ? message : ""));
    json_object_object_add(e, "details", details);
    return e;
}

/* body, serialised, as rec's stored body: 0, or -ENOMEM (rec as it was). */
static int record_body_set(struct settlement_record *rec, struct json_object *body)
{
    char *text = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));

    if (!text)
        return -ENOMEM;
    free(rec->body);
    rec->body = text;
    return 0;
}

/* The record's body after the resolver decided: the answer found (taken), or why it failed
 * (error, taken; kept only when the body has none), and the history. */
static int body_resolved(struct settlement_record *s, struct json_object *answer,
                         struct json_object *error, const struct bill *bill)
{
    struct json_object *body = desk_doc(s->body);
    int err;

    if (!body)
        body = json_object_new_object();
    if (answer)
        json_object_object_add(body, "answer", answer);
    if (bill) /* what the statement's categories print */
        json_object_object_add(body, "bill", his_bill_totals(bill));
    if (error && !json_object_object_get_ex(body, "error", NULL))
        json_object_object_add(body, "error", json_object_get(error));
    json_object_put(error);
    history_add(body, s->state, s->msgid);
    err = record_body_set(s, body);
    json_object_put(body);
    return err;
}

/* A settlement whose outcome was unknown is reversed once its 2601 is done, not when the
 * 2601 is journaled: until then the visit is not to be settled again. When the platform
 * refuses the reversal, the settlement is asked about once more (resolve.c): found, it is
 * settled; absent again, it stays unknown for good, and an operator must look. */
static bool reversal_done(struct db *db, const struct settlement_record *s)
{
    enum msg_state rev = MSG_QUEUED;

    if (journal_reversal_state(db, s->msgid, &rev) == 0 && rev == MSG_REFUSED)
        log_event(LOGL_ERROR, "reversal_refused", "settlement_id", s->settlement_id, "msgid",
                  s->msgid, NULL);
    return rev == MSG_DONE;
}

/* Whether output says a settlement that can be what the platform did for request (its
 * journaled envelope); logged when it cannot. */
static bool settlement_answer_possible(const char *msgid, const char *request,
                                       struct json_object *output)
{
    struct desk_settlement s;
    struct desk_settlement_sent sent;
    struct jsonmap_error jerr;
    struct json_object *doc;
    const char *why;

    if (desk_settlement_decode(output, &s, &jerr) < 0)
        return false;
    doc = desk_settlement_sent_read(request, &sent);
    why = desk_settlement_check(&s, &sent);
    if (why)
        log_event(LOGL_ERROR, "settlement_answer_impossible", "msgid", msgid, "error", why, NULL);
    json_object_put(doc);
    return !why;
}

int desk_settlement_refresh(struct db *db, struct settlement_record *s, bool *ret_changed)
{
    struct bill kept;
    struct journal_row *row = NULL;
    struct visit_record *v = NULL;
    struct envelope_response env;
    struct desk_settlement found;
    struct jsonmap_error jerr;
    struct json_object *answer = NULL, *error = NULL, *body;
    enum visit_state next = VISIT_SETTLING;
    int err;

    *ret_changed = false;
    /* pending: posad stopped between journaling the settlement and its outcome (a crash);
     * the journal, resolved since, says how it went. */
    if (!desk_setl_in_flight(s->state) || !s->msgid[0])
        return 0;
    if ((err = journal_get(db, s->msgid, &row)) < 0)
        return err == POSA_ENOTFOUND ? 0 : err;
    body = desk_doc(s->body);
    if (row->state == MSG_DONE && row->response &&
        envelope_response_parse(row->response, row->response_len, &env, &jerr) == 0) {
        if (env.infcode == 0 && desk_settlement_decode(env.output, &found, &jerr) == 0 &&
            settlement_answer_possible(row->msgid, row->request, env.output)) {
            snprintf(s->state, sizeof s->state, "settled");
            str_copy(s->setl_id, sizeof(s->setl_id), found.setl_id);
            next = VISIT_SETTLED;
            answer =
                answer_json(s->settlement_id, s->visit_id,
                            visit_kind_named(desk_str(body, "kind")) == VISIT_INPATIENT, &found,
                            "settled");
        }
        envelope_response_done(&env);
    } else if (row->state == MSG_UNKNOWN && strcmp(s->state, "unknown") != 0) {
        /* sent (from the outbox, or before a crash) and the answer lost */
        snprintf(s->state, sizeof s->state, "unknown");
        *ret_changed = true;
        journal_row_free(row);
        json_object_put(body);
        err = body_resolved(s, NULL, NULL, NULL);
        return err ? err : records_settlement_put(db, s, upstream_now_ms());
    } else if (row->state == MSG_REFUSED || (row->state == MSG_REVERSED && reversal_done(db, s))) {
        str_copy(s->state, sizeof(s->state), row->state == MSG_REVERSED ? "reversed" : "refused");
        next = VISIT_BILLED;
        /* Refused from the queue (wait_if_offline): the platform's words, as a settlement
         * refused at once keeps them (it had none: the cashier could not say why). */
        if (row->state == MSG_REFUSED && row->response &&
            envelope_response_parse(row->response, row->response_len, &env, &jerr) == 0) {
            if (env.infcode != 0)
                error = failure_json(POSA_EUPSTREAM_REFUSED, desk_refusal_words(&env),
                                     desk_refusal_words(&env), s->settlement_id);
            envelope_response_done(&env);
        }
    }
    journal_row_free(row);
    if (next == VISIT_SETTLING) {
        json_object_put(body);
        return 0;
    }
    /* Settled after waiting (queued, or its answer lost): on the lines as the uploads before
     * it left them, which the platform may have split otherwise than posad did when the
     * settle was asked (desk_fees_applied keeps the platform's split): the bill is theirs. */
    bill_init(&kept);
    if (answer && (err = records_lines_active(db, s->visit_id, bill_line, &kept)) < 0) {
        json_object_put(answer);
        json_object_put(body);
        return err;
    }
    *ret_changed = true;
    if (answer) /* settled: the answer a settle lost in a crash would have given */
        keep_his_answer(db, desk_str(body, "his_key"), desk_str(body, "his_hash"), 200, answer);
    json_object_put(body);
    if ((err = body_resolved(s, answer, error, answer ? &kept : NULL)) < 0)
        return err;
    if ((err = records_settlement_put(db, s, upstream_now_ms())) == 0 &&
        (err = records_visit_get(db, s->visit_id, &v)) == 0) {
        str_copy(v->state, sizeof(v->state), visit_state_name(next));
        err = records_visit_put(db, v, upstream_now_ms());
    }
    records_visit_free(v);
    return err;
}

/* --- the answer ------------------------------------------------------------------------ */

static struct json_object *funds_json(const struct desk_settlement *r)
{
    struct json_object *a = json_object_new_array();

    for (size_t i = 0; i < r->n_funds; i++) {
        struct json_object *o = json_object_new_object();

        json_object_object_add(o, "fund_pay_type",
                               json_object_new_string(r->funds[i].fund_pay_type));
        json_object_object_add(o, "name", json_object_new_string(r->funds[i].name));
        json_object_object_add(o, "amount", his_money(r->funds[i].amount));
        json_object_array_add(a, o);
    }
    return a;
}

static struct json_object *audit_flags(bool inpatient, int64_t total_fen)
{
    struct json_object *a = json_object_new_array();
    struct flag flag;

    if (flags_is_audit_30k(inpatient ? VISIT_INPATIENT : VISIT_OUTPATIENT, total_fen, &flag))
        json_object_array_add(a, his_flag(&flag));
    return a;
}

/* The settle answer: one shape whether the platform answered the settle itself or a query
 * found it after the answer was lost. */
static struct json_object *answer_json(const char *settlement_id, const char *visit_id,
                                       bool inpatient, const struct desk_settlement *r,
                                       const char *state)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "settlement_id", json_object_new_string(settlement_id));
    json_object_object_add(o, "visit_id", json_object_new_string(visit_id));
    json_object_object_add(o, "setl_id", json_object_new_string(r->setl_id));
    json_object_object_add(o, "state", json_object_new_string(state));
    json_object_object_add(o, "estimated", json_object_new_boolean(false));
    json_object_object_add(o, "amounts", his_settlement_amounts(&r->amounts));
    json_object_object_add(o, "funds", funds_json(r));
    json_object_object_add(o, "audit_flags", audit_flags(inpatient, r->amounts.medfee_sumamt));
    if (r->filing_kind[0])
        json_object_object_add(o, "filing_kind", json_object_new_string(r->filing_kind));
    if (r->setl_time && r->setl_time[0]) /* the platform's clock: the statement prints it */
        json_object_object_add(o, "setl_time", json_object_new_string(r->setl_time));
    return o;
}

static struct json_object *settlement_json(const struct settle_flow *f, const char *state)
{
    return answer_json(f->rec.settlement_id, f->visit->visit_id, inpatient(f), &f->result, state);
}

/* Appends {state, at, msgid} to the document's history (GET /v1/settlements/{id}). */
static void history_add(struct json_object *body, const char *state, const char *msgid)
{
    struct json_object *h = NULL, *e = json_object_new_object();
    char now[DATETIME_TIME_LEN + 1];

    if (!json_object_object_get_ex(body, "history", &h)) {
        h = json_object_new_array();
        json_object_object_add(body, "history", h);
    }
    datetime_format(upstream_now_beijing(), now);
    json_object_object_add(e, "state", json_object_new_string(state));
    json_object_object_add(e, "at", json_object_new_string(now));
    if (msgid && msgid[0])
        json_object_object_add(e, "msgid", json_object_new_string(msgid));
    json_object_array_add(h, e);
}

/* The record's body from the flow's document (rec.body points at rec_body). */
static int body_keep(struct settle_flow *f)
{
    free(f->rec_body);
    f->rec_body = strdup(json_object_to_json_string_ext(f->body, JSON_C_TO_STRING_PLAIN));
    f->rec.body = f->rec_body;
    return f->rec_body ? 0 : -ENOMEM;
}

/* The settlement's document: the bill's categories for printing; the answer and the history
 * join it as the settlement goes. (The visit is its own record, read beside it.) */
static struct json_object *settlement_body(struct settle_flow *f)
{
    struct json_object *o = json_object_new_object();
    char now[DATETIME_TIME_LEN + 1];

    datetime_format(upstream_now_beijing(), now);
    json_object_object_add(o, "bill", his_bill_totals(&f->bill));
    json_object_object_add(o, "mdtrt_id", json_object_new_string(f->visit->mdtrt_id));
    json_object_object_add(o, "kind", json_object_new_string(f->visit->kind));
    json_object_object_add(
        o, "discharge_time",
        json_object_new_string(f->req.discharge_time ? f->req.discharge_time : ""));
    json_object_object_add(o, "outside", json_object_new_boolean(f->outside));
    json_object_object_add(o, "settle_time", json_object_new_string(now));
    if (f->his_key[0]) { /* to keep the HIS's answer when the resolver decides */
        json_object_object_add(o, "his_key", json_object_new_string(f->his_key));
        json_object_object_add(o, "his_hash", json_object_new_string(f->his_hash));
    }
    return o;
}

/* --- settle: after the platform ------------------------------------------------------------ */

/* recorded: the settlement has a record the HIS can look up (its message was journaled). */
static void keep_failure(struct settle_flow *f, int err, const char *message, bool recorded)
{
    /* The platform's own words are its refusal's; posad's (the platform unreachable, an
     * earlier message on its way) are the message only. */
    bool refused = err == POSA_EUPSTREAM_REFUSED;
    bool worded = refused || err == POSA_EUPSTREAM_OFFLINE || err == POSA_EBUSY;

    json_object_object_add(f->body, "error",
                           failure_json(err, worded ? message : NULL, refused ? message : NULL,
                                        recorded ? f->rec.settlement_id : NULL));
}

/* What the platform's answer (or its absence) makes of the settlement: the record's state,
 * the visit's, the body and the answer. Runs where the outcome is known: inside the
 * journal's apply transaction (settle_apply), or on the loop for a message that was never
 * journaled (offline at admission, busy visit). */
static void decide(struct settle_flow *f, struct upmsg *m)
{
    struct jsonmap_error jerr = {0};
    char msg[256] = "";
    int err;

    if (m->result == UPMSG_QUEUED) {
        /* Waiting for the platform: the outbox sends it, the journal says how it went
         * (desk_settlement_refresh), the desk hears settlement_resolved. */
        snprintf(f->rec.state, sizeof f->rec.state, "queued");
        f->answer = json_object_new_object();
        json_object_object_add(f->answer, "settlement_id",
                               json_object_new_string(f->rec.settlement_id));
        json_object_object_add(f->answer, "state", json_object_new_string("queued"));
        /* Why it waits: the cashier tells the patient (it said "the platform is away" also
         * while the platform answered, the visit's earlier messages on their way). */
        json_object_object_add(
            f->answer, "message",
            json_object_new_string(
                upmsg_queued_behind(m)
                    ? "the settlement waits behind this visit's earlier messages, still on "
                      "their way to the platform (GET /v1/queue), and is sent once they are "
                      "answered; look it up or listen for settlement_resolved"
                : m->offline_at_admit
                    ? "the platform is away: the settlement waits and is sent once it answers; "
                      "look it up or listen for settlement_resolved"
                    : "the settlement could not leave now (the platform did not take it): it "
                      "waits and is sent again; look it up or listen for settlement_resolved"));
        return;
    }
    err = desk_outcome(m, &f->env, msg, sizeof msg);
    f->have_env = err == 0;
    if (!err && (err = desk_settlement_decode(f->env.output, &f->result, &jerr)) < 0) {
        /* Answered but unreadable: the resolver's query decides, never a resend. */
        err = POSA_EOUTCOME_UNKNOWN;
    }
    if (!err) {
        snprintf(f->rec.state, sizeof f->rec.state, "settled");
        str_copy(f->rec.setl_id, sizeof(f->rec.setl_id), f->result.setl_id);
        str_copy(f->visit->state, sizeof(f->visit->state), visit_state_name(VISIT_SETTLED));
        f->answer = settlement_json(f, "settled");
        json_object_object_add(f->body, "answer", json_object_get(f->answer));
    } else if (err == POSA_EOUTCOME_UNKNOWN) {
        /* It may have landed: the visit stays settling; the resolver decides. */
        snprintf(f->rec.state, sizeof f->rec.state, "unknown");
        f->answer = json_object_new_object();
        json_object_object_add(f->answer, "settlement_id",
                               json_object_new_string(f->rec.settlement_id));
        json_object_object_add(f->answer, "state", json_object_new_string("unknown"));
        json_object_object_add(f->answer, "message", json_object_new_string(posa_strerror(err)));
    } else {
        str_copy(f->rec.state, sizeof(f->rec.state),
                 err == POSA_EUPSTREAM_REFUSED ? "refused" : "failed");
        str_copy(f->visit->state, sizeof(f->visit->state), visit_state_name(VISIT_BILLED));
        keep_failure(f, err, msg, m->journaled);
    }
}

static int store(struct db *db, struct settle_flow *f)
{
    int64_t now = upstream_now_ms();
    int err;

    if ((err = body_keep(f)) < 0 || (err = records_settlement_put(db, &f->rec, now)) < 0)
        return err;
    return records_visit_put(db, f->visit, now);
}

/* With the settlement message's journal row: the intent (pending, or queued) and the visit
 * settling, durable before the message leaves. */
static int settle_admit(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct settle_flow *f = call->flow;

    str_copy(f->rec.msgid, sizeof(f->rec.msgid), m->msgid);
    if (!m->send_now) {
        snprintf(f->rec.state, sizeof f->rec.state, "queued");
        history_add(f->body, "queued", m->msgid);
    }
    return store(db, f);
}

/* With the message's outcome: what it made of the settlement, durable before the answer. */
static int settle_apply(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct settle_flow *f = call->flow;

    int err;

    decide(f, m);
    f->decided = true;
    history_add(f->body, f->rec.state, f->rec.msgid);
    if ((err = store(db, f)) < 0)
        return err;
    if (f->answer)
        call->answer_kept =
            keep_his_answer(db, f->his_key, f->his_hash,
                            strcmp(f->rec.state, "settled") == 0 ? 200 : 202, f->answer);
    return 0;
}

static void on_settled(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct settle_flow *f = call->flow;
    struct json_object *answer, *e = NULL;

    if (m->result == UPMSG_FAILED && m->journaled) {
        /* Journaled, so it may have left, and its outcome could not be journaled (a full
         * disk, a failed sync): the row stays `sent` and is resolved by query once the
         * journal takes it; say so, never settle again. */
        upmsg_free(m);
        his_fail(call, POSA_EOUTCOME_UNKNOWN, NULL, NULL);
        return;
    }
    /* Else nothing was kept, nor sent (another message of the visit on its way): no
     * settlement to name in the log. */
    bool recorded = m->journaled || m->result == UPMSG_EXISTING;

    if (!f->decided)
        decide(f, m); /* never journaled, or only queued: nothing more to write */
    upmsg_free(m);
    json_object_object_get_ex(f->body, "error", &e);
    if (recorded)
        log_event(f->answer && strcmp(f->rec.state, "unknown") != 0 ? LOGL_INFO : LOGL_WARN,
                  "settlement", "settlement", f->rec.settlement_id, "visit", f->visit->visit_id,
                  "msgid", f->rec.msgid, "state", f->rec.state, NULL);
    else
        log_event(LOGL_INFO, "settlement_not_sent", "visit", f->visit->visit_id, "error",
                  posa_strerror((int)json_object_get_int(json_object_object_get(e, "err"))), NULL);
    if ((answer = f->answer)) {
        f->answer = NULL;
        his_reply(call, strcmp(f->rec.state, "settled") == 0 ? 200 : 202, answer);
        return;
    }
    his_fail(call, (int)json_object_get_int(json_object_object_get(e, "err")),
             desk_str(e, "message")[0] ? desk_str(e, "message") : NULL,
             json_object_get(json_object_object_get(e, "details")));
}

/* The visit's document, parsed when first needed: an inpatient discharge and a local
 * estimate read it; the settlement's messages take the identity and med_type from the
 * visit's columns. */
static struct json_object *visit_doc(struct settle_flow *f)
{
    if (!f->doc)
        f->doc = desk_doc(f->visit->body);
    return f->doc;
}

/* Whether the request's discharge is before the bill's latest line. */
static bool discharged_before_last_line(const struct settle_flow *f)
{
    int64_t last;

    return f->req.has_discharge && f->last_time[0] &&
           datetime_parse(f->last_time, strlen(f->last_time), &last) == 0 &&
           f->req.discharge < last;
}

static bool discharged_before_admission(struct settle_flow *f)
{
    struct json_object *req = NULL;
    const char *begin;
    int64_t admitted;

    if (!f->req.has_discharge)
        return false;
    json_object_object_get_ex(visit_doc(f), "request", &req);
    begin = desk_str(req, "begin_time");
    return datetime_parse(begin, strlen(begin), &admitted) == 0 && f->req.discharge < admitted;
}

/* The settlement message (2206/2207, 2303/2304) of the visit's identity and bill: the
 * visit's columns, its document not parsed. */
static struct desk_settle settle_message(struct settle_flow *f)
{
    const struct visit_identity *who = &f->visit->who;

    return (struct desk_settle){
        .psn_no = who->psn_no,
        .mdtrt_id = f->visit->mdtrt_id,
        .insutype = who->insutype,
        .insuplc_admdvs = who->insuplc_admdvs,
        .cert = {.type = who->cert_type, .number = who->cert_no, .card_sn = who->card_sn},
        .medfee_sumamt = f->bill.total.amount,
        .totals = f->bill.total,
        .med_type = f->visit->med_type,
        .use_account = f->req.use_account,
        .chrg_bchno = DESK_BCHNO,
        .dscg_time = f->req.discharge_time};
}

static void send_settlement(struct his_call *call)
{
    struct settle_flow *f = call->flow;
    const char *infno = inpatient(f) ? "2304" : "2207";
    struct desk_hooks hooks = {.admit_also = settle_admit,
                               .apply_also = settle_apply,
                               .audit = "settle",
                               .audit_by = call,
                               .audit_target = f->rec.settlement_id};
    struct desk_settle s;
    char idem[RECORD_ID_MAX + 8];
    int err;

    s = settle_message(f);
    /* One settlement id, one message: a resend finds the journaled one. */
    snprintf(idem, sizeof idem, "settle:%s", f->rec.settlement_id);
    /* The intent and the outcome commit with the message's own journal rows; with
     * wait_if_offline the settlement waits in the outbox for the platform, sent once. */
    hooks.may_queue = f->req.wait_if_offline;
    err = desk_send_hooked(call->pd, infno, s.insuplc_admdvs, f->visit->visit_id, idem,
                           desk_settle_input(infno, &s), on_settled, call, &hooks);
    if (err)
        his_fail(call, err, NULL, NULL);
}

#define DISCHARGE_KEY   "discharge:"
#define UNDISCHARGE_KEY "undischarge:"

/* The discharge the platform holds for the stay, from the journal's keys (see
 * send_discharge_step()) and the rows standing in for them. */
static int load_discharge(struct db *db, struct settle_flow *f)
{
    char mine[RECORD_ID_MAX + 16], undone[RECORD_ID_MAX + 16], key[UPMSG_IDEM_MAX + 1];
    size_t n;
    int err;

    snprintf(mine, sizeof mine, DISCHARGE_KEY "%s:", f->visit->visit_id);
    snprintf(undone, sizeof undone, UNDISCHARGE_KEY "%s:", f->visit->visit_id);
    if ((err = journal_done_keyed(db, mine, undone, key, sizeof key, &f->discharges)) < 0)
        return err;
    n = strlen(mine);
    if (strncmp(key, mine, n) == 0 && strlen(key) >= n + DATETIME_TIME_LEN)
        str_copy(f->landed, DATETIME_TIME_LEN + 1, key + n);
    return 0;
}

/* The outcome of a discharge or its cancel: 0 when it landed, else the error, with the
 * platform's words in msg (cap bytes) for a refusal. One that waits in the queue (the
 * platform away) or whose answer was lost has not landed: the settlement does not queue
 * behind it, since the outbox would send it even were the discharge refused. */
static int discharge_outcome(struct his_call *call, struct upmsg *m, char *msg, size_t cap)
{
    struct envelope_response env;

    msg[0] = '\0'; /* words only where desk_outcome gives some */
    enum msg_state was = m->result == UPMSG_EXISTING && m->existing ? m->existing->state : MSG_DONE;
    bool waits = m->result == UPMSG_QUEUED || was == MSG_QUEUED;
    /* Queued behind the visit's earlier messages, the platform there: a retry shortly. Not
     * one that went back to the queue when the platform could not be reached (the platform
     * just gone, not yet called offline). */
    bool behind =
        m->result == UPMSG_QUEUED ? upmsg_queued_behind(m) : upstream_can_send(&call->pd->up);
    int err = waits && behind   ? POSA_EBUSY
              : waits           ? POSA_EUPSTREAM_OFFLINE
              : was == MSG_SENT ? POSA_EOUTCOME_UNKNOWN
                                : desk_outcome(m, &env, msg, cap);

    upmsg_free(m);
    if (!err)
        envelope_response_done(&env);
    return err;
}

/* A discharge that did not land stops the settlement: it would settle a stay the platform
 * holds in hospital, or at another discharge time (another year). */
static void fail_discharge(struct his_call *call, int err, const char *msg)
{
    const struct settle_flow *f = call->flow;
    bool not_now = err == POSA_EUPSTREAM_OFFLINE || err == POSA_EBUSY;
    /* Why it did not go now: desk_outcome's words when it has some (a session lost). */
    const char *why = err == POSA_EBUSY ? "behind the visit's earlier messages, still on their way"
                      : msg[0]          ? msg
                                        : "the platform is away";
    char words[320];

    if (not_now && f->req.wait_if_offline)
        snprintf(words, sizeof words,
                 "nothing was settled: the discharge waits in posad's queue (%s); settle "
                 "again once it went",
                 why);
    else if (not_now)
        snprintf(words, sizeof words,
                 "nothing was settled, and the discharge was not sent (%s); settle again %s", why,
                 err == POSA_EBUSY || msg[0] ? "shortly" : "once the platform is back");
    else if (err == POSA_EOUTCOME_UNKNOWN)
        snprintf(words, sizeof words,
                 "nothing was settled: the discharge's answer was lost and posad is making "
                 "sure of it; send the same settle again shortly");
    else
        snprintf(words, sizeof words, "the discharge did not go through, nothing was settled: %s",
                 msg[0] ? msg : posa_strerror(err));
    his_fail(call, err, words, err == POSA_EUPSTREAM_REFUSED ? desk_upstream_details(msg) : NULL);
}

static void on_discharged(struct upmsg *m)
{
    struct his_call *call = m->data;
    char msg[256];
    int err = discharge_outcome(call, m, msg, sizeof msg);

    if (err)
        fail_discharge(call, err, msg);
    else
        send_settlement(call);
}

/* A discharge (2402), or the cancel (2405) of the one the platform holds, keyed PREFIX
 * VISIT:TIME:TURN: one a stay, time and turn, so a settle tried again finds the one
 * journaled (queued, sent or done) instead of journaling another, which the platform would
 * refuse; one the platform refused may go again; after a 2405 the turn moved on, so the same
 * time may be sent again. load_discharge() reads these keys back. */
static void send_discharge_step(struct his_call *call, bool cancel, upmsg_cb done)
{
    struct settle_flow *f = call->flow;
    struct desk_diagnosis diagnoses[BOUND_DIAGNOSES];
    struct desk_visit v;
    const char *time = cancel ? f->landed : f->req.discharge_time;
    char idem[RECORD_ID_MAX + DATETIME_TIME_LEN + 32];
    int err;

    desk_visit_from_doc(visit_doc(f), f->visit->visit_id, f->visit->mdtrt_id, &v, diagnoses);
    snprintf(idem, sizeof idem, "%s%s:%s:%d", cancel ? UNDISCHARGE_KEY : DISCHARGE_KEY,
             f->visit->visit_id, time, f->discharges);
    err = desk_send_hooked(
        call->pd, cancel ? "2405" : "2402", v.insuplc_admdvs, f->visit->visit_id, idem,
        cancel ? desk_2405_input(&v) : desk_2402_input(&v, time, f->req.discharge_reason), done,
        call,
        /* Without wait_if_offline it leaves now or not at all: queued, it would go later
         * while the cashier heard "nothing was settled" (the platform then holds a
         * discharge the cashier may not want: the patient may stay). */
        &(struct desk_hooks){.again_after_refusal = true,
                             .now_only = !f->req.wait_if_offline,
                             .audit = cancel ? "undischarge" : "discharge",
                             .audit_by = call});
    if (err)
        his_fail(call, err, NULL, NULL);
}

/* A cancel the platform refused goes on to the discharge all the same: the stay may have
 * been put back in hospital another way (the passthrough); if not, the discharge is refused
 * and says so. */
static void on_undischarged(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct settle_flow *f = call->flow;
    char msg[256];
    int err = discharge_outcome(call, m, msg, sizeof msg);

    if (err && err != POSA_EUPSTREAM_REFUSED) {
        fail_discharge(call, err, msg);
        return;
    }
    f->discharges += !err;
    send_discharge_step(call, false, on_discharged);
}

/* --- settle: before the platform ----------------------------------------------------------- */

/* What a local estimate cannot know. The filings and the account's balance are the ones
 * identify read: a filing made since, and a settlement since that paid from the account
 * (under the same identity_token), are not counted. */
#define ESTIMATE_NOTE                                                                              \
    "computed locally while the platform is offline, from the configured rules of the insured "    \
    "region and the filing identify read (one made since is not seen here); this year's "          \
    "deductible and fund already used are not known here and are taken as none"

static const char *estimate_note(const struct settle_flow *f)
{
    return f->result.amounts.acct_pay
               ? ESTIMATE_NOTE ", and the personal account's balance is the one identify read, "
                               "less nothing paid from it since: the platform's figures, the "
                               "account's part included, may differ"
               : ESTIMATE_NOTE ", so the platform's figures may differ";
}

/* The platform is away: the insured region's rules as configured, marked estimated. */
/* The platform gave no estimate (why: desk_outcome's words, or ""): posad's own, from the
 * configured rules, or, without them, why the platform's is not there. */
static void estimate_locally(struct his_call *call, const char *why)
{
    struct settle_flow *f = call->flow;
    enum filing_kind kind = FILING_NONE;
    struct json_object *o;
    int err = desk_estimate(&call->pd->desk, visit_doc(f), &f->bill, inpatient(f),
                            f->req.use_account, &f->result.amounts, &kind);

    if (err == POSA_EUPSTREAM_OFFLINE) {
        char words[400];

        /* Why there is no estimate at all, beside why the platform's is not there. */
        snprintf(words, sizeof words,
                 "%s; nor can posad estimate it ([policy] file has no rules of the insured "
                 "region, or identify gave no filing data)",
                 why[0] ? why : posa_strerror(err));
        his_fail(call, err, words, NULL);
        return;
    }
    if (err) {
        his_fail(call, err, NULL, NULL);
        return;
    }
    f->result.filing_kind = filing_kind_name(kind);
    snprintf(f->fund_type, sizeof f->fund_type, "%.4s100", f->visit->who.insutype);
    f->result.funds[0] =
        (struct desk_fund){f->fund_type, "统筹基金 (estimate)", f->result.amounts.fund_pay_sumamt};
    f->result.n_funds = 1;
    /* The rows add up to fund_pay_sumamt plus acct_pay, as the platform's do. */
    if (f->result.amounts.acct_pay) {
        snprintf(f->account_type, sizeof f->account_type, "%.4s200", f->visit->who.insutype);
        f->result.funds[f->result.n_funds++] =
            (struct desk_fund){f->account_type, "个人账户 (estimate)", f->result.amounts.acct_pay};
    }
    f->result.setl_id = "";
    o = settlement_json(f, "estimated");
    json_object_object_add(o, "estimated", json_object_new_boolean(true));
    json_object_object_add(o, "estimate_note", json_object_new_string(estimate_note(f)));
    his_reply(call, 200, o);
}

/* A stay's presettle at another discharge than the one the platform holds (a settlement
 * refunded to correct it): the platform estimates at the one it holds, which a presettle does
 * not move; the settle moves it first, and may differ (another year's deductible and cap). */
static struct json_object *held_discharge_noted(const struct settle_flow *f, struct json_object *o)
{
    char note[360];

    if (!inpatient(f) || !f->landed[0] || !f->req.has_discharge ||
        strcmp(f->landed, f->req.discharge_time) == 0)
        return o;
    snprintf(note, sizeof note,
             "the platform holds this stay's discharge at %s and estimated as of then; settling "
             "moves it to %s first, and the figures may differ (the deductible and cap are those "
             "of the discharge's year)",
             f->landed, f->req.discharge_time);
    json_object_object_add(o, "estimate_note", json_object_new_string(note));
    return o;
}

static void on_estimate(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct settle_flow *f = call->flow;
    struct jsonmap_error jerr = {0};
    char msg[256];
    int err = desk_outcome(m, &f->env, msg, sizeof msg);
    /* msg is the platform's own words only for its refusal; else posad's (an earlier message
     * on its way, an estimate that cannot be right). */
    bool platform_said = err == POSA_EUPSTREAM_REFUSED;
    const char *why;

    upmsg_free(m);
    f->have_env = err == 0;
    /* The platform's answer, not the HIS's request: 422 as an impossible one is, never 400. */
    if (!err && desk_settlement_decode(f->env.output, &f->result, &jerr) < 0) {
        snprintf(msg, sizeof msg, "the platform's estimate could not be read (%s)", jerr.field);
        err = POSA_EUPSTREAM_REFUSED;
    }
    /* An estimate that cannot be (cash paid back, another bill's total) is not shown. */
    if (!err && (why = desk_amounts_check(&f->result, &(struct desk_settlement_sent){
                                                          f->visit->mdtrt_id, f->visit->who.psn_no,
                                                          f->bill.total.amount}))) {
        log_event(LOGL_ERROR, "estimate_answer_impossible", "visit", f->visit->visit_id, "error",
                  why, NULL);
        snprintf(msg, sizeof msg, "the platform's estimate cannot be right (%s)", why);
        err = POSA_EUPSTREAM_REFUSED;
    }
    if (err == POSA_EUPSTREAM_OFFLINE) {
        estimate_locally(call, msg);
        return;
    }
    if (err) {
        his_fail(call, err, msg[0] ? msg : NULL, desk_upstream_details(platform_said ? msg : NULL));
        return;
    }
    his_reply(call, 200, held_discharge_noted(f, settlement_json(f, "estimated")));
}

static void presettle(struct his_call *call)
{
    struct settle_flow *f = call->flow;
    const char *infno = inpatient(f) ? "2303" : "2206";
    struct desk_settle s;
    int err;

    s = settle_message(f);
    /* In the visit's order, as a settlement is: with an upload still on its way, the platform
     * would compare the bill with the lines it has so far and refuse (BUSY instead, which is
     * retryable; offline, the local estimate all the same). */
    err = desk_send(call->pd, infno, s.insuplc_admdvs, f->visit->visit_id, NULL,
                    desk_settle_input(infno, &s), on_estimate, call);
    if (err)
        his_fail(call, err, NULL, NULL);
}

static int run_load(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct settle_flow *f = call->flow;
    struct settlement_record *pending = NULL;
    bool changed;
    int err = records_visit_get(db, his_param(call, 0), &f->visit);

    if (err)
        return err;
    bill_init(&f->bill);
    if ((err = records_lines_active(db, f->visit->visit_id, add_line, f)) < 0)
        return err;
    if (inpatient(f) && (err = load_discharge(db, f)) < 0)
        return err;
    /* A settled visit: its settlement named in the refusal (a settle whose answer the HIS
     * lost, sent again without a key, finds which to look up, print or refund). */
    if ((err = desk_settled_of(db, f->visit, f->blocked_id, &f->refund_open)) < 0)
        return err;
    /* A settlement left unknown: the journal may have decided it meanwhile. */
    if (strcmp(f->visit->state, visit_state_name(VISIT_SETTLING)) == 0 &&
        records_settlement_by_visit_open(db, f->visit->visit_id, &pending) == 0) {
        err = desk_settlement_refresh(db, pending, &changed);
        str_copy(f->blocked_id, sizeof(f->blocked_id), pending->settlement_id);
        if (!err && changed)
            f->told = pending;
        else
            records_settlement_free(pending);
        records_visit_free(f->visit);
        f->visit = NULL;
        if (!err)
            err = records_visit_get(db, his_param(call, 0), &f->visit);
    }
    /* The key's answer may have been kept since this call looked for it, by the refresh
     * above or by the resolver's (a settle whose answer a crash lost, retried): that answer,
     * not "the visit is settled". Looked up whatever the refresh did, for the second case. */
    if (!err && f->his_key[0]) {
        char hash[RECORD_ID_MAX + 1];

        if (records_answer_get(db, f->his_key, hash, &f->replay_status, &f->replay) == 0 &&
            strcmp(hash, f->his_hash) != 0) {
            free(f->replay);
            f->replay = NULL;
            f->replay_conflict = true;
        }
    }
    return err;
}

/* The HIS was told "queued" for a cancel or an upload the platform then refused: the bill
 * is not the one the HIS believes in. Settling unheard would charge the patient for what the
 * cashier cancelled, or not for what was billed. */
#define CANCEL_REFUSED_WORDS                                                                       \
    "the platform refused a cancel of lines of this visit that was sent from the queue "           \
    "(details.his_line_ids): they are still on the bill. Cancel them again: if the platform "      \
    "refuses again, you are told, and they stay on the bill"
#define UPLOAD_REFUSED_WORDS                                                                       \
    "the platform refused lines of this visit that were sent from the queue "                      \
    "(details.his_line_ids): they are not on the bill. Send them again (corrected) to bill "       \
    "them, or settle again to settle without them"

static void fail_refused_lines(struct his_call *call, struct json_object *ids, const char *words)
{
    struct json_object *d = json_object_new_object();

    json_object_object_add(d, "his_line_ids", json_object_get(ids));
    his_fail(call, POSA_ESTATE, words, d);
}

/* The refused lines' 409 is this call's answer: written as told first, so the next settles
 * without them (marked here, once the call passed its desk and replay checks). */
static int run_heard(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct settle_flow *f = call->flow;

    return records_lines_heard(db, f->visit->visit_id);
}

static void on_heard(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct settle_flow *f = call->flow;

    if (status)
        his_fail(call, status, NULL, NULL);
    else
        fail_refused_lines(call, f->upload_refused, UPLOAD_REFUSED_WORDS);
}

static void on_loaded(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct settle_flow *f = call->flow;
    enum visit_state state = VISIT__MAX, next = VISIT__MAX;
    bool parsed, settles;

    if (!status && f->told) /* committed; "": streams of every desk, when no visit loaded */
        desk_settlement_told(&call->pd->desk, f->told, f->visit ? f->visit->desk : "");
    if (!his_loaded(call, status, f->visit ? f->visit->desk : NULL))
        return;
    if (f->replay_conflict) {
        call->answer_kept = true; /* the key's answer is the other request's */
        his_fail(call, POSA_ECONFLICT, NULL, NULL);
        return;
    }
    if (f->replay) {
        call->answer_kept = true;
        his_reply_text(call, f->replay_status, "application/json;charset=utf-8", f->replay,
                       strlen(f->replay));
        return;
    }
    if (f->cancel_refused) {
        fail_refused_lines(call, f->cancel_refused, CANCEL_REFUSED_WORDS);
        return;
    }
    if (f->upload_refused) {
        his_db(call, run_heard, on_heard);
        return;
    }
    /* The visit's state first: a settled visit's settle is 409 whatever its body says. An
     * open one (no lines yet, or all cancelled) has nothing to settle: 422, below. */
    parsed = visit_state_parse(f->visit->state, &state) == 0;
    settles = parsed && visit_next(state, VISIT_EV_SETTLE, &next) == 0;
    if (!settles && !(parsed && state == VISIT_OPEN)) {
        struct json_object *d = json_object_new_object();

        if (f->blocked_id[0])
            json_object_object_add(d, "settlement_id", json_object_new_string(f->blocked_id));
        /* Its refund on its way: the visit may be billed in a moment (retryable, not kept). */
        if (state == VISIT_SETTLED && desk_refund_on_its_way(f->blocked_id, f->refund_open)) {
            his_fail(call, POSA_EBUSY,
                     "the visit's settlement is being refunded: settle again once it is", d);
            return;
        }
        his_fail(call, state == VISIT_SETTLING ? POSA_EOUTCOME_UNKNOWN : POSA_ESTATE,
                 state == VISIT_SETTLED    ? "the visit is settled: cancel the settlement first"
                 : state == VISIT_SETTLING ? "a settlement of this visit is not decided yet "
                                             "(on its way, queued, or its answer lost): look it "
                                             "up (settlement_id), do not settle again"
                 : state == VISIT_CLOSED   ? "the visit was cancelled: nothing can be settled on "
                                             "it; open a new visit for this bill"
                                           : NULL,
                 d);
        return;
    }
    if (f->bill.lines == 0 || !settles) {
        his_fail(call, POSA_ENOLINES, NULL, NULL);
        return;
    }
    if (discharged_before_admission(f)) {
        his_fail_at(call, POSA_EDATE, "discharge.time",
                    "the discharge time is before the admission (begin_time): check the date");
        return;
    }
    if (discharged_before_last_line(f)) {
        char words[200];

        snprintf(words, sizeof words,
                 "the discharge time is before line %s of the bill (%s): correct the discharge "
                 "or the line's time",
                 f->last_line, f->last_time);
        his_fail_at(call, POSA_EDATE, "discharge.time", words);
        return;
    }
    if (f->req.has_discharge && desk_is_future(call->pd, f->req.discharge)) {
        his_fail_at(call, POSA_EDATE, "discharge.time",
                    "the discharge is dated after today: check the date");
        return;
    }
    /* A stay settles at its discharge (policy.md §7): the one the platform holds, or the
     * request's. Without either it would be settled as discharged while still in hospital,
     * and at no date; a presettle estimates the stay as of now. */
    if (inpatient(f) && !f->req.has_discharge && f->landed[0]) {
        f->req.discharge_time = f->landed;
        datetime_parse(f->landed, strlen(f->landed), &f->req.discharge);
    } else if (inpatient(f) && !f->req.has_discharge && !f->estimate) {
        his_fail_at(call, POSA_EFIELD, "discharge",
                    "a stay is settled at its discharge: send discharge {time, reason}");
        return;
    }
    if (f->estimate) {
        presettle(call);
        return;
    }
    his_new_id("S", f->rec.settlement_id);
    str_copy(f->rec.visit_id, sizeof(f->rec.visit_id), f->visit->visit_id);
    snprintf(f->rec.state, sizeof f->rec.state, "pending");
    f->rec.settle_date = datetime_date(upstream_now_beijing());
    f->body = settlement_body(f);
    history_add(f->body, "pending", NULL);
    if (body_keep(f) < 0) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    str_copy(f->visit->state, sizeof(f->visit->state), visit_state_name(next));
    /* The discharge would wait in the queue, the settlement be refused: neither goes. */
    if (!f->req.wait_if_offline && !upstream_can_send(&call->pd->up)) {
        his_fail(call, POSA_EUPSTREAM_OFFLINE, upstream_unsent_why(&call->pd->up), NULL);
        return;
    }
    /* The platform holding the stay discharged at another time (its settlement was cancelled
     * and the HIS corrects the time): that discharge is cancelled (2405) before the new one
     * goes, or the platform would refuse it and settle at the old time. */
    if (!inpatient(f) || !f->req.has_discharge || strcmp(f->landed, f->req.discharge_time) == 0)
        send_settlement(call);
    else
        send_discharge_step(call, f->landed[0] != '\0',
                            f->landed[0] ? on_undischarged : on_discharged);
}

static void start(struct his_call *call, bool estimate)
{
    struct settle_flow *f = his_flow_new(call, sizeof *f, flow_free);
    struct jsonmap_error jerr = {0};
    int err;

    if (!f)
        return;
    f->estimate = estimate;
    if (!estimate) {
        str_copy(f->his_key, sizeof(f->his_key), call->idem_key);
        str_copy(f->his_hash, sizeof(f->his_hash), call->body_hash);
    }
    if (settle_request_parse(call->req->body, call->req->body_len, &f->req, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    /* One settlement flow per visit at a time: a second would find the visit "billed" too. */
    if ((err = his_lock(call, his_param(call, 0))) < 0) {
        his_fail(call, err, NULL, NULL);
        return;
    }
    /* Its writes, when a settlement left unknown is refreshed, follow the journal. */
    his_db_read(call, run_load, on_loaded);
}

void desk_presettle(struct his_call *call)
{
    start(call, true);
}

void desk_settle(struct his_call *call)
{
    start(call, false);
}

/* --- GET /v1/settlements/{id} and POST /v1/settlements/{id}/cancel ------------------------ */

struct setl_flow {
    struct settlement_record *rec;
    struct visit_record *visit;
    struct journal_row *row;    /* the settling message */
    struct journal_row *refund; /* a cancel of it whose outcome is not known yet */
    struct json_object *body;
    struct desk_settlement result;
    struct policy_result theirs; /* a cancel's figures as the platform answered them */
    char theirs_setl_id[RECORD_ID_MAX + 1]; /* ... and the settlement it named */
    struct envelope_response env;
    bool have_env;
    bool recorded; /* the cancel's record was written in its answer's transaction */
    bool cancel_journaled; /* a refused cancel: its message is in the journal */
    bool told; /* the load's refresh found its outcome: the desk hears it (setl_loaded) */
    char cancel_msgid[MSGID_LEN + 1];
    char refusal[256]; /* a refused cancel: the platform's words */
};

static void setl_free(void *p)
{
    struct setl_flow *s = p;

    records_settlement_free(s->rec);
    records_visit_free(s->visit);
    journal_row_free(s->row);
    journal_row_free(s->refund);
    json_object_put(s->body);
    if (s->have_env)
        envelope_response_done(&s->env);
    free(s);
}

/* The journal's key of a settlement's cancels: one at a time, and never two that stand. */
static void cancel_key(const char *settlement_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "cancel:%s", settlement_id);
}

/* A settled settlement's cancel whose outcome posad does not know yet (its answer lost, its
 * reversal waiting): the settlement says settled until it does, and shows that cancel. */
static int setl_refund_load(struct db *db, struct setl_flow *s)
{
    char key[RECORD_ID_MAX + 8];
    bool open = false;
    int err;

    if (strcmp(s->rec->state, "settled") != 0 ||
        (err = journal_visit_refund_open(db, s->rec->visit_id, &open)) < 0 || !open)
        return 0;
    cancel_key(s->rec->settlement_id, key, sizeof key);
    err = upstream_journal_by_key(db, key, &s->refund);
    return err == POSA_ENOTFOUND ? 0 : err;
}

/* The settlement, brought up to date from the journal when the call holds it (refresh may
 * write the record), as stored when another call does. */
static int setl_load(struct db *db, struct db_job *job, bool held)
{
    struct his_call *call = his_call_of_job(job);
    struct setl_flow *s = call->flow;
    int err = records_settlement_get(db, his_param(call, 0), &s->rec);

    if (!err && held)
        err = desk_settlement_refresh(db, s->rec, &s->told);
    if (!err)
        err = records_visit_get(db, s->rec->visit_id, &s->visit);
    if (!err && s->rec->msgid[0] && journal_get(db, s->rec->msgid, &s->row) == POSA_ENOTFOUND)
        s->row = NULL;
    if (!err)
        err = setl_refund_load(db, s);
    return err;
}

static int run_setl_load(struct db *db, struct db_job *job)
{
    return setl_load(db, job, true);
}

static int run_setl_read(struct db *db, struct db_job *job)
{
    return setl_load(db, job, false);
}

static struct setl_flow *setl_start(struct his_call *call, db_job_done_cb done)
{
    struct setl_flow *s = his_flow_new(call, sizeof *s, setl_free);
    int err;

    if (!s)
        return NULL;
    if ((err = his_lock(call, his_param(call, 0))) < 0) {
        his_fail(call, err, NULL, NULL);
        return NULL;
    }
    his_db(call, run_setl_load, done);
    return s;
}

static int setl_loaded(struct his_call *call, int status)
{
    struct setl_flow *s = call->flow;
    int err;

    if (status) {
        his_fail(call, status == POSA_ENOTFOUND ? POSA_ENOSUCH : status, NULL, NULL);
        return -1;
    }
    if (s->told)
        desk_settlement_told(&call->pd->desk, s->rec, s->visit->desk);
    if ((err = his_check_owner(call, s->visit->desk)) < 0) {
        his_fail(call, err, "this settlement belongs to another desk", NULL);
        return -1;
    }
    s->body = desk_doc(s->rec->body);
    return 0;
}

static void on_setl_get(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct setl_flow *s = call->flow;
    struct json_object *o, *answer = NULL, *error = NULL, *msg;

    if (setl_loaded(call, status) < 0)
        return;
    if (json_object_object_get_ex(s->body, "answer", &answer))
        o = json_object_get(answer);
    else
        o = json_object_new_object();
    json_object_object_add(o, "settlement_id", json_object_new_string(s->rec->settlement_id));
    json_object_object_add(o, "visit_id", json_object_new_string(s->rec->visit_id));
    json_object_object_add(o, "state", json_object_new_string(s->rec->state));
    json_object_object_add(o, "setl_id", json_object_new_string(s->rec->setl_id));
    if (s->row) {
        msg = json_object_new_object();
        json_object_object_add(msg, "msgid", json_object_new_string(s->row->msgid));
        json_object_object_add(msg, "infno", json_object_new_string(s->row->infno));
        json_object_object_add(msg, "state", json_object_new_string(msg_state_name(s->row->state)));
        json_object_object_add(msg, "attempts", json_object_new_int64(s->row->attempts));
        /* Why it ended so: "refused" is also a message that never got there. One answered
         * (done) keeps the words of an attempt before, which did not end it. */
        if (s->row->state != MSG_DONE && s->row->last_error && s->row->last_error[0])
            json_object_object_add(msg, "last_error", json_object_new_string(s->row->last_error));
        json_object_object_add(o, "message", msg);
    }
    if (json_object_object_get_ex(s->body, "error", &error)) {
        /* Kept with posa's own number: shown as the error envelope says it (code, message,
         * retryable, details). */
        int err = json_object_get_int(json_object_object_get(error, "err"));
        const char *words = desk_str(error, "message");
        struct json_object *env =
            his_error(err, words[0] ? words : NULL,
                      json_object_get(json_object_object_get(error, "details")));

        json_object_object_add(o, "error", json_object_get(json_object_object_get(env, "error")));
        json_object_put(env);
    }
    if (json_object_object_get_ex(s->body, "history", &error))
        json_object_object_add(o, "history", json_object_get(error));
    json_object_object_add(
        o, "cancel_msgid",
        s->body ? json_object_get(json_object_object_get(s->body, "cancel_msgid")) : NULL);
    if (s->refund) {
        msg = json_object_new_object();
        json_object_object_add(msg, "msgid", json_object_new_string(s->refund->msgid));
        json_object_object_add(msg, "infno", json_object_new_string(s->refund->infno));
        /* Its reversal not final either ("reversed" in the journal's words as soon as its
         * 2601 is journaled): how it ended is not known yet. */
        json_object_object_add(msg, "state",
                               json_object_new_string(s->refund->state == MSG_REVERSED
                                                          ? msg_state_name(MSG_UNKNOWN)
                                                          : msg_state_name(s->refund->state)));
        json_object_object_add(o, "refund", msg);
    }
    json_object_object_add(
        o, "cancelled_elsewhere",
        json_object_new_boolean(json_object_object_get_ex(s->body, "cancelled_elsewhere", NULL)));
    his_reply(call, 200, o);
}

/* A status query never conflicts: while a cancel holds the settlement, it answers what is
 * stored (the cancel brings it up to date), with the journal's word on the message. */
void desk_settlement_get(struct his_call *call)
{
    if (!his_flow_new(call, sizeof(struct setl_flow), setl_free))
        return;
    if (his_lock(call, his_param(call, 0)) < 0)
        his_db(call, run_setl_read, on_setl_get);
    else
        his_db(call, run_setl_load, on_setl_get);
}

/* The settlement rec, whose stored body is body, cancelled by cancel_msgid: recorded so, and
 * the visit billed again if rec was what settled it. */
static int settlement_cancelled(struct db *db, struct settlement_record *rec,
                                struct json_object *body, struct visit_record *visit,
                                const char *cancel_msgid)
{
    int64_t now = upstream_now_ms();
    int err;

    json_object_object_add(body, "cancel_msgid", json_object_new_string(cancel_msgid));
    history_add(body, "cancelled", cancel_msgid);
    if ((err = record_body_set(rec, body)) < 0)
        return err;
    snprintf(rec->state, sizeof rec->state, "cancelled");
    if ((err = records_settlement_put(db, rec, now)) < 0)
        return err;
    /* A refund of the visit's standing settlement lets the visit be settled again; an older
     * one (§42) leaves the visit as it is. */
    if (strcmp(visit->state, visit_state_name(VISIT_SETTLED)) == 0) {
        str_copy(visit->state, sizeof(visit->state), visit_state_name(VISIT_BILLED));
        err = records_visit_put(db, visit, now);
    }
    return err;
}

static int record_cancelled(struct db *db, struct setl_flow *s)
{
    return settlement_cancelled(db, s->rec, s->body, s->visit, s->cancel_msgid);
}

bool desk_answer_possible(const char *infno, const char *msgid, const char *request,
                          struct json_object *output)
{
    if (strcmp(infno, "2201") == 0 || strcmp(infno, "2401") == 0)
        return desk_registration_possible(request, output);
    if (strcmp(infno, "2207") != 0 && strcmp(infno, "2304") != 0)
        return true;
    return settlement_answer_possible(msgid, request, output);
}

bool desk_answer_readable(const struct upmsg *m, const struct envelope_response *env)
{
    return desk_answer_possible(m->infno, m->msgid, m->body, env->output);
}

int desk_settlement_unknown(struct db *db, const char *msgid)
{
    struct settlement_record *s = NULL;
    bool changed;
    int err = records_settlement_by_msgid(db, msgid, &s);

    if (!err)
        err = desk_settlement_refresh(db, s, &changed);
    records_settlement_free(s);
    return err == POSA_ENOTFOUND ? 0 : err;
}

int desk_cancel_settlement(struct db *db, const char *request, struct settlement_record **ret)
{
    struct json_object *req = request ? json_tokener_parse(request) : NULL;
    struct json_object *input = NULL;
    const char *setl_id;
    int err = POSA_ENOTFOUND;

    *ret = NULL;
    if (req && json_object_object_get_ex(req, "input", &input) &&
        (setl_id = upstream_find_string(input, "setl_id")) != NULL)
        err = records_settlement_by_setl_id(db, setl_id, ret);
    json_object_put(req);
    return err;
}

/* Does the settlement setl_id stand by a 5203 answer's setlinfo (an object, or a list of
 * them)? 1 it does (vali_flag "1"), 0 it no longer does ("0"), -1 the answer does not say. */
int desk_settlement_stands(struct json_object *output, const char *setl_id)
{
    struct json_object *setl = NULL, *one;
    const char *id, *flag;
    size_t n;

    if (!output || !json_object_object_get_ex(output, "setlinfo", &setl))
        return -1;
    n = json_object_is_type(setl, json_type_array) ? json_object_array_length(setl) : 1;
    for (size_t i = 0; i < n && i < 256; i++) {
        one =
            json_object_is_type(setl, json_type_array) ? json_object_array_get_idx(setl, i) : setl;
        id = upstream_find_string(one, "setl_id");
        flag = upstream_find_string(one, "vali_flag");
        if (!id || strcmp(id, setl_id) != 0 || !flag)
            continue;
        if (strcmp(flag, "1") == 0 || strcmp(flag, "0") == 0)
            return flag[0] == '1';
    }
    return -1;
}

int desk_cancel_landed(struct db *db, const char *msgid, const char *request)
{
    struct json_object *body = NULL;
    struct settlement_record *rec = NULL;
    struct visit_record *visit = NULL;
    int err;

    if ((err = desk_cancel_settlement(db, request, &rec)) == 0 &&
        strcmp(rec->state, "settled") == 0 &&
        (err = records_visit_get(db, rec->visit_id, &visit)) == 0) {
        body = desk_doc(rec->body);
        if (body)
            err = settlement_cancelled(db, rec, body, visit, msgid);
        else /* the platform's cancel stands all the same: never undo it for this */
            log_event(LOGL_ERROR, "settlement_cancel_unrecorded", "settlement_id",
                      rec->settlement_id, "msgid", msgid, "error", "its stored body is unreadable",
                      NULL);
    }
    json_object_put(body);
    records_settlement_free(rec);
    records_visit_free(visit);
    return err == POSA_ENOTFOUND ? 0 : err; /* not a settlement posad's desk made */
}

int desk_settle_applied(struct db *db, const struct upmsg *m)
{
    if (m->apply_also || m->state != MSG_DONE ||
        (strcmp(m->infno, "2208") != 0 && strcmp(m->infno, "2305") != 0))
        return 0; /* a desk flow's cancel records itself (cancel_apply) */
    return desk_cancel_landed(db, m->msgid, m->body);
}

int desk_settle_withdraw(struct db *db, const char *visit_id, const char *why)
{
    struct settlement_record *s = NULL;
    struct journal_row *row = NULL;
    struct journal_outcome out = {.last_error = why};
    struct json_object *body;
    int err = records_settlement_by_visit_open(db, visit_id, &s);

    if (!err && strcmp(s->state, "queued") == 0 && s->msgid[0] &&
        (err = journal_get(db, s->msgid, &row)) == 0 && row->state == MSG_QUEUED &&
        (err = journal_apply(db, s->msgid, MSG_EV_ABANDON, &out, upstream_now_ms(), NULL)) == 0) {
        if (!(body = desk_doc(s->body)))
            body = json_object_new_object();
        json_object_object_add(body, "error",
                               failure_json(POSA_ECONFLICT, why, NULL, s->settlement_id));
        if ((err = record_body_set(s, body)) == 0)
            err = records_settlement_put(db, s, upstream_now_ms());
        json_object_put(body);
    }
    journal_row_free(row);
    records_settlement_free(s);
    return err == POSA_ENOTFOUND ? 0 : err;
}

enum cancel_figures { CANCEL_FIGURES_AGREE, CANCEL_FIGURES_MISSING, CANCEL_FIGURES_DIFFER };
static enum cancel_figures cancel_amounts(struct setl_flow *s, struct json_object *output);
static struct json_object *cancel_answer(const struct setl_flow *s);

/* With the cancel's journal row: the HIS's key and request digest on the settlement, so that
 * the same request again finds it cancelled and hears its 200 (cancel_repeated) even when
 * posad stopped before keeping that answer (the resolver then found the cancel done). */
static int cancel_admit(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct setl_flow *s = call->flow;
    int err;

    if (!call->idem_key[0] || !s->body)
        return 0;
    json_object_object_add(s->body, "cancel_his_key", json_object_new_string(call->idem_key));
    json_object_object_add(s->body, "cancel_his_hash", json_object_new_string(call->body_hash));
    if ((err = record_body_set(s->rec, s->body)) < 0)
        return err;
    return records_settlement_put(db, s->rec, upstream_now_ms());
}

static bool cancel_repeated(const struct his_call *call, const struct setl_flow *s)
{
    return call->idem_key[0] && strcmp(desk_str(s->body, "cancel_his_key"), call->idem_key) == 0 &&
           strcmp(desk_str(s->body, "cancel_his_hash"), call->body_hash) == 0;
}

/* In the transaction that journals the cancel's answer (upmsg apply_also): the platform's
 * "cancelled" and the record's are written together, or neither is; and the HIS's answer
 * under its key with them, as a settle's (posad stopped before keeping it, the same request
 * again heard only "already cancelled"). */
static int cancel_apply(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct setl_flow *s = call->flow;
    struct json_object *answer;
    int err;

    if (m->state != MSG_DONE)
        return 0; /* refused or lost: nothing was cancelled */
    str_copy(s->cancel_msgid, sizeof(s->cancel_msgid), m->msgid);
    if ((err = record_cancelled(db, s)) < 0)
        return err;
    s->recorded = true;
    if (call->idem_key[0] && m->have_env) {
        cancel_amounts(s, m->env.output);
        answer = cancel_answer(s);
        call->answer_kept = keep_his_answer(db, call->idem_key, call->body_hash, 200, answer);
        json_object_put(answer);
    }
    return 0;
}

/* A cancel journaled and answered before (posad stopped before its record was written):
 * the record, on its own. */
static int run_cancelled(struct db *db, struct db_job *job)
{
    return record_cancelled(db, his_call_of_job(job)->flow);
}

/* The refund's 200: what the HIS hears, and what its key keeps. */
static struct json_object *cancel_answer(const struct setl_flow *s)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "settlement_id", json_object_new_string(s->rec->settlement_id));
    json_object_object_add(o, "state", json_object_new_string("cancelled"));
    json_object_object_add(o, "setl_id", json_object_new_string(s->rec->setl_id));
    json_object_object_add(o, "cancel_msgid", json_object_new_string(s->cancel_msgid));
    json_object_object_add(o, "amounts", his_settlement_amounts(&s->result.amounts));
    return o;
}

static void cancel_reply(struct his_call *call)
{
    his_reply(call, 200, cancel_answer(call->flow));
}

static void on_cancel_stored(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);

    if (status)
        his_fail(call, status, NULL, NULL);
    else
        cancel_reply(call);
}

/* The refund's amounts: the settlement's own, negated, since a cancel refunds all of it, so
 * that the answer and a replay of its key say the same; the platform's only when the
 * settlement's own cannot be read. The platform's figures (s->theirs) are compared with them:
 * missing (some provinces answer 2208/2305 with an empty output), or different figures or
 * another setl_id (an answer that cannot be: the HIS was told to refund -99,999.00), the
 * caller logs it (this runs on the database thread too). */
static enum cancel_figures cancel_amounts(struct setl_flow *s, struct json_object *output)
{
    struct jsonmap_error jerr = {0};
    struct json_object *answer = NULL;
    struct desk_settlement theirs = {0};
    struct policy_result *own = &s->result.amounts, *t = &s->theirs;
    bool have_theirs = output && desk_settlement_decode(output, &theirs, &jerr) == 0 &&
                       (theirs.amounts.medfee_sumamt || theirs.amounts.fund_pay_sumamt ||
                        theirs.amounts.acct_pay || theirs.amounts.psn_cash_pay);

    memset(&s->result, 0, sizeof s->result);
    *t = have_theirs ? theirs.amounts : (struct policy_result){0};
    str_copy(s->theirs_setl_id, sizeof s->theirs_setl_id,
             have_theirs && theirs.setl_id ? theirs.setl_id : "");
    if (!json_object_object_get_ex(s->body, "answer", &answer) ||
        his_settlement_amounts_read(json_object_object_get(answer, "amounts"), -1, own) < 0) {
        *own = *t; /* no half of one */
        return have_theirs ? CANCEL_FIGURES_AGREE : CANCEL_FIGURES_MISSING;
    }
    if (!have_theirs)
        return CANCEL_FIGURES_MISSING;
    return t->medfee_sumamt == own->medfee_sumamt && t->fund_pay_sumamt == own->fund_pay_sumamt &&
                   t->acct_pay == own->acct_pay && t->psn_cash_pay == own->psn_cash_pay &&
                   (!s->theirs_setl_id[0] || strcmp(s->theirs_setl_id, s->rec->setl_id) == 0)
               ? CANCEL_FIGURES_AGREE
               : CANCEL_FIGURES_DIFFER;
}

/* The four figures compared, as "medfee/fund/acct/cash". */
static void cancel_figures_text(const struct policy_result *r, char *buf, size_t cap)
{
    const int64_t v[4] = {r->medfee_sumamt, r->fund_pay_sumamt, r->acct_pay, r->psn_cash_pay};
    size_t n = 0;

    buf[0] = '\0';
    for (int i = 0; i < 4 && n + 24 < cap; i++) {
        if (i)
            buf[n++] = '/';
        dec_format(v[i], 2, buf + n, cap - n);
        n += strlen(buf + n);
    }
}

/* What cancel_amounts found of the platform's figures, for an operator. */
static void cancel_figures_log(const struct setl_flow *s, enum cancel_figures found)
{
    char theirs[128], told[128];

    if (found == CANCEL_FIGURES_MISSING) {
        log_event(LOGL_WARN, "cancel_answer_without_amounts", "settlement_id",
                  s->rec->settlement_id, NULL);
        return;
    }
    if (found != CANCEL_FIGURES_DIFFER)
        return;
    cancel_figures_text(&s->theirs, theirs, sizeof theirs);
    cancel_figures_text(&s->result.amounts, told, sizeof told);
    log_event(LOGL_ERROR, "cancel_answer_differs", "settlement_id", s->rec->settlement_id,
              "setl_id", s->rec->setl_id, "answer_setl_id", s->theirs_setl_id,
              "answer_medfee_fund_acct_cash", theirs, "told_medfee_fund_acct_cash", told, NULL);
}

/* A cancel that did not go through: the platform's words, and the message, only when there
 * are some (posad's own words for the platform away are the message). */
static void cancel_fail(struct his_call *call, int err, const char *msg)
{
    struct setl_flow *s = call->flow;
    struct json_object *d = desk_upstream_details(err == POSA_EUPSTREAM_REFUSED ? msg : NULL);

    if (s->cancel_journaled)
        json_object_object_add(d, "cancel_msgid", json_object_new_string(s->cancel_msgid));
    his_fail(call, err,
             err == POSA_EUPSTREAM_REFUSED || (err == POSA_EUPSTREAM_OFFLINE && msg[0]) ? msg
             : err == POSA_EOUTCOME_UNKNOWN
                 ? "the refund's answer was lost: posad is making sure (an uncertain "
                   "refund is undone); the settlement's state says how it ended "
                   "(settlement_resolved): if it is still settled, send the cancel again"
                 : NULL,
             d);
}

#define CANCELLED_ELSEWHERE                                                                        \
    "this settlement had already been cancelled at the platform, not through posad (at the "       \
    "insurance office, or by another system): its record says cancelled; posad refunded nothing"

/* Found cancelled at the platform: recorded so, the 5203 that found it its evidence. The
 * request's key is not the cancel's (cancel_admit wrote it with the refused 2208): a repeat
 * would have been answered as the refund posad made. */
static int run_cancelled_elsewhere(struct db *db, struct db_job *job)
{
    struct setl_flow *s = his_call_of_job(job)->flow;
    int err;

    json_object_object_add(s->body, "cancelled_elsewhere", json_object_new_boolean(1));
    json_object_object_del(s->body, "cancel_his_key");
    json_object_object_del(s->body, "cancel_his_hash");
    /* Reconciliation counts from the journal, which has no done cancel of it. */
    err = records_cancelled_elsewhere_put(db, s->rec->setl_id, s->cancel_msgid, upstream_now_ms());
    return err ? err : record_cancelled(db, s);
}

/* The refusal of a cancel of a settlement the platform had cancelled without posad: now, and
 * whenever it is asked again, under any key. */
static void fail_cancelled_elsewhere(struct his_call *call, const char *refusal)
{
    struct json_object *d = desk_upstream_details(refusal);

    json_object_object_add(d, "state", json_object_new_string("cancelled"));
    his_fail(call, POSA_ESTATE, CANCELLED_ELSEWHERE, d);
}

static void on_cancelled_elsewhere(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct setl_flow *s = call->flow;

    if (status) {
        his_fail(call, status, NULL, NULL);
        return;
    }
    log_event(LOGL_WARN, "settlement_cancelled_elsewhere", "settlement_id", s->rec->settlement_id,
              "msgid", s->cancel_msgid, "err_msg", s->refusal, NULL);
    fail_cancelled_elsewhere(call, s->refusal);
}

static void on_cancel_checked(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct setl_flow *s = call->flow;
    struct envelope_response env;
    char msg[256], words[400];
    int stands = -1; /* not known: the question did not get through, or its answer says not */

    if (desk_outcome(m, &env, msg, sizeof msg) == 0) {
        stands = desk_settlement_stands(env.output, s->rec->setl_id);
        envelope_response_done(&env);
    }
    if (stands == 0)
        str_copy(s->cancel_msgid, sizeof(s->cancel_msgid), m->msgid);
    upmsg_free(m);
    if (stands == 0) {
        his_db(call, run_cancelled_elsewhere, on_cancelled_elsewhere);
    } else if (stands < 0) {
        /* Refused, and posad could not find out why: said so, retryable, not kept. */
        snprintf(words, sizeof words,
                 "the platform refused the refund (%s), and posad could not ask whether the "
                 "settlement was cancelled some other way: send the cancel again shortly",
                 s->refusal);
        his_fail(call, POSA_EUPSTREAM_OFFLINE, words, desk_upstream_details(s->refusal));
    } else {
        cancel_fail(call, POSA_EUPSTREAM_REFUSED, s->refusal);
    }
}

/* A refused cancel: was the settlement cancelled some other way, at the insurance office or
 * by another system of the hospital? The platform's words cannot be relied on to say so;
 * 5203 asks, so that a settlement the platform no longer holds valid does not stay settled
 * here, where no refund of it could ever go through. */
static int cancel_check(struct his_call *call)
{
    struct setl_flow *s = call->flow;
    const struct visit_identity *who = &s->visit->who;

    return desk_send(call->pd, "5203", who->insuplc_admdvs, NULL, NULL,
                     desk_settlement_input(who->psn_no, s->visit->mdtrt_id, s->rec->setl_id),
                     on_cancel_checked, call);
}

static void on_cancel_answer(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct setl_flow *s = call->flow;
    /* Sent, and its answer could not be journaled (a full disk): the resolver settles it
     * once the journal takes it (a 2601 undoes the cancel), so its outcome is unknown now. */
    int err = m->result == UPMSG_FAILED && m->journaled
                  ? POSA_EOUTCOME_UNKNOWN
                  : desk_outcome(m, &s->env, s->refusal, sizeof s->refusal);

    /* A cancel journaled before (posad stopped before recording its outcome) is that row's. */
    bool existing = m->result == UPMSG_EXISTING && m->existing;

    s->cancel_journaled = existing || m->journaled; /* else no message of it is anywhere */
    str_copy(s->cancel_msgid, sizeof(s->cancel_msgid), existing ? m->existing->msgid : m->msgid);
    upmsg_free(m);
    s->have_env = err == 0;
    if (!err)
        cancel_figures_log(s, cancel_amounts(s, s->env.output));
    if (err == POSA_EUPSTREAM_REFUSED && cancel_check(call) == 0)
        return; /* answered once the platform says whether the settlement stands */
    if (err)
        cancel_fail(call, err, s->refusal);
    else if (s->recorded)
        cancel_reply(call);
    else
        his_db(call, run_cancelled, on_cancel_stored);
}

static void on_cancel_loaded(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct setl_flow *s = call->flow;
    const struct visit_identity *who;
    bool stay;
    char idem[RECORD_ID_MAX + 8];
    int err;

    if (setl_loaded(call, status) < 0)
        return;
    /* A settlement whose outcome is being found out may turn out settled: retryable (and not
     * kept under the request's key as its final answer). */
    if (desk_setl_in_flight(s->rec->state)) {
        his_fail(call, POSA_EBUSY,
                 strcmp(s->rec->state, "queued") == 0
                     ? "this settlement waits in posad's queue for the platform: it cannot be "
                       "refunded before it settled; ask again once it did"
                     : "this settlement's outcome is not known yet (it is being checked with "
                       "the platform): ask again in a moment",
                 NULL);
        return;
    }
    if (strcmp(s->rec->state, "cancelled") == 0 && cancel_repeated(call, s)) {
        str_copy(s->cancel_msgid, sizeof(s->cancel_msgid), desk_str(s->body, "cancel_msgid"));
        cancel_amounts(s, NULL); /* all of it */
        cancel_reply(call);
        return;
    }
    if (json_object_object_get_ex(s->body, "cancelled_elsewhere", NULL)) {
        fail_cancelled_elsewhere(call, NULL);
        return;
    }
    if (strcmp(s->rec->state, "settled") != 0) {
        his_fail(call, POSA_ESTATE,
                 strcmp(s->rec->state, "cancelled") == 0
                     ? "this settlement is already cancelled"
                     : "only a settled settlement can be cancelled",
                 NULL);
        return;
    }
    stay = visit_kind_named(s->visit->kind) == VISIT_INPATIENT;
    who = &s->visit->who;
    /* One cancel of a settlement at a time, and never two that stand: the key is the
     * settlement's. A cancel the platform refused leaves it to be cancelled again. */
    cancel_key(s->rec->settlement_id, idem, sizeof idem);
    err = desk_send_hooked(call->pd, stay ? "2305" : "2208", who->insuplc_admdvs,
                           s->visit->visit_id, idem,
                           desk_settlement_input(who->psn_no, s->visit->mdtrt_id, s->rec->setl_id),
                           on_cancel_answer, call,
                           &(struct desk_hooks){.admit_also = cancel_admit,
                                                .apply_also = cancel_apply,
                                                .again_after_refusal = true,
                                                .audit = "cancel",
                                                .audit_by = call,
                                                .audit_target = s->rec->settlement_id});
    if (err)
        his_fail(call, err, NULL, NULL);
}

void desk_settlement_cancel(struct his_call *call)
{
    struct cancel_request req;
    struct jsonmap_error jerr = {0};

    /* A malformed request must never move money: the body is checked before anything. */
    if (cancel_request_parse(call->req->body, call->req->body_len, &req, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    his_request_done(&req.root);
    setl_start(call, on_cancel_loaded);
}
