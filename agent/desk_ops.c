/* The operators' endpoints (his-api.md): GET /v1/readers, POST /v1/queue/{msgid}/retry,
 * POST /v1/reconcile {date} (3201 per insurance type, clearing type and insured region;
 * 3202 where the totals differ) with GET /v1/reconcile/{date}, and GET /metrics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desk.h"
#include "agent/audit.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "cache/journal.h"
#include "core/container_of.h"
#include "core/datetime.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/str.h"
#include "interface/his/metrics.h"
#include "interface/json/jsonmap.h"
#include "interface/his/requests.h"
#include "interface/his/responses.h"
#include "interface/platform/desk_msgs.h"

/* A month of a large hospital's cross-province settlements; a row is some 300 bytes. */
#define RECONCILE_ROWS_MAX 200000

/* --- GET /v1/readers ---------------------------------------------------------------------- */

static bool desk_has_reader(const struct desk *d, const char *desk)
{
    for (size_t i = 0; i < d->n_seen; i++)
        if (strcmp(d->seen[i].desk, desk) == 0)
            return true;
    return false;
}

/* One row of GET /v1/readers; error (NULL: none) says why a row is in state "error". */
static void reader_row(struct json_object *a, const char *name, const char *kind, const char *desk,
                       const char *state, const char *card_type, const char *error)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "kind", json_object_new_string(kind));
    json_object_object_add(o, "desk", json_object_new_string(desk));
    json_object_object_add(o, "state", json_object_new_string(state));
    json_object_object_add(o, "card_type", json_object_new_string(card_type));
    if (error)
        json_object_object_add(o, "error", json_object_new_string(error));
    json_object_array_add(a, o);
}

#define PCSCD_DOWN "the card service (pcscd) is not running"

/* A card reader, as the reader thread last told; then each configured binding no reader
 * answers (unplugged, or the pattern matches none): named by its pattern, state error, so
 * that a desk without its reader shows, rather than a row gone; then the QR scanners. */
struct json_object *desk_readers_json(const struct desk *d)
{
    struct json_object *a = json_object_new_array();

    for (size_t i = 0; i < d->n_seen; i++) {
        const struct desk_reader *r = &d->seen[i];

        reader_row(a, r->name, "pcsc", r->desk,
                   !d->pcsc_up  ? "error"
                   : r->present ? "present"
                                : "empty",
                   r->card_type, d->pcsc_up ? NULL : PCSCD_DOWN);
    }
    for (size_t i = 0; i < d->readers.n; i++) {
        const struct desk_row *row = &d->readers.rows[i];

        if (row->kind == DESK_READER && !desk_has_reader(d, row->desk))
            reader_row(a, row->pattern, "pcsc", row->desk, "error", "",
                       !d->pcsc_up ? PCSCD_DOWN
                                   : "no reader pcscd lists matches this pattern (unplugged?)");
    }
    for (size_t i = 0; i < d->n_scanners; i++) {
        const struct desk_scanner *s = &d->scanners[i];
        bool open = s->src && qr_source_is_open(s->src);
        int err = s->src && !open ? qr_source_error(s->src) : 0;

        /* why: the device is not there, not ours to read, refuses the connection */
        reader_row(a, s->spec, "qr", s->desk, open ? "present" : "error", "",
                   err ? uv_strerror(err) : NULL);
    }
    return a;
}

void desk_readers(struct his_call *call)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "readers", desk_readers_json(&call->pd->desk));
    json_object_object_add(o, "pcscd", json_object_new_string(
                                           !call->pd->desk.watch ? "not_configured"
                                           : call->pd->desk.pcsc_up ? "up" : "down"));
    his_reply(call, 200, o);
}

/* --- POST /v1/queue/{msgid}/retry ----------------------------------------------------------- */

static int run_retry(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    char who[AUDIT_WHO_MAX + 1];
    int err = journal_retry_now(db, his_param(call, 0), upstream_now_ms());

    audit_who(call, who);
    return err ? err : audit_append(db, who, "retry", his_param(call, 0), his_param(call, 0));
}

static void on_retry(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct json_object *o;

    if (status) {
        his_fail(call, status == POSA_ENOTFOUND ? POSA_ENOSUCH : status,
                 status == POSA_ESTATE ? "only a queued message can be retried: a sent or "
                                         "unknown one is being resolved, a final one is final"
                                       : NULL,
                 NULL);
        return;
    }
    log_event(LOGL_INFO, "retry_requested", "msgid", his_param(call, 0), NULL);
    outbox_kick(&call->pd->outbox);
    o = json_object_new_object();
    json_object_object_add(o, "msgid", json_object_new_string(his_param(call, 0)));
    json_object_object_add(o, "state", json_object_new_string("queued"));
    json_object_object_add(o, "next_attempt", json_object_new_string("now"));
    if (call->pd->up.health == UPSTREAM_OFFLINE) /* "now" would be a promise not kept */
        json_object_object_add(o, "note",
                               json_object_new_string("the platform is offline: it goes once the "
                                                      "platform answers"));
    his_reply(call, 200, o);
}

void desk_queue_retry(struct his_call *call)
{
    struct jsonmap_error jerr = {0};

    if (his_every_desk(call, QUEUE_EVERY_DESK) < 0)
        return;
    /* No body, or {}: a body meant for another route must not send a message again. */
    if (empty_request_parse(call->req->body, call->req->body_len, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    his_db(call, run_retry, on_retry);
}

/* --- POST /v1/reconcile {date} ---------------------------------------------------------------- */

/* A settlement of the day as the journal holds it (the HIS API's and the passthrough's
 * alike): strings are borrowed from documents the flow keeps. */
/* A settlement of the period, its strings copied: the answers it came from are let go one
 * by one (kept, they cost ten times the row, and bounded the period to 20,000). */
struct recon_row {
    char psn_no[BOUND_CODE + 1], mdtrt_id[BOUND_CODE + 1], setl_id[BOUND_CODE + 1];
    char msgid[MSGID_LEN + 1];
    char insutype[4], clr_type[5], optins[7]; /* as wide as recon_group's */
    int64_t medfee_sumamt, fund_pay_sumamt, acct_pay, cash_pay;
};

struct recon_group { /* as wide as desk_settlement_decode allows */
    char insutype[4];
    char clr_type[5];
    char setl_optins[7];
    struct desk_day_totals totals;
    struct desk_day_row *rows;
    size_t n_rows;
    bool matched;
    bool others; /* its 3202 listed settlements of the hospital's other posads */
    char text[160];
    /* Why the 3202 asked where the totals differ gave no detail: the report says the totals
     * differ all the same (the whole reconciliation was thrown away, and said "failed"). */
    char no_detail[360];
};

struct recon_flow {
    struct posad *pd;
    struct db_job job;
    /* Who asked: the HIS API's call, answered with the report; NULL: the daily schedule. */
    struct his_call *call;
    struct reconcile_request req;
    char date[DATETIME_DATE_LEN + 1];  /* the period as asked: "YYYY-MM-DD" or "YYYY-MM" */
    char begin[DATETIME_DATE_LEN + 1]; /* its first day and its last */
    char end[DATETIME_DATE_LEN + 1];
    /* One per (insutype, clr_type, setl_optins): a cross-province hospital's month holds
     * hundreds of insured regions (64 at most cut the totals, and never matched). */
    struct recon_group *groups;
    size_t n_groups, cap_groups, next;
    struct json_object *mismatched;
    struct json_object *listed;    /* setl_ids in mismatched (sets: json-c's hash tables) */
    struct json_object *held;      /* setl_ids of rows */
    struct json_object *cancelled; /* setl_ids taken back by a done 2208/2305 */
    struct json_object *cancel_of; /* a done cancel's msgid -> the setl_id it took back */
    struct json_object *reversed;  /* msgids of settlements a done 2601 undid */
    struct json_object *others;    /* msgids 3202s listed of the hospital's other posads */
    struct json_object *open;      /* msgids of the unresolved (journal_settlements_open) */
    int64_t unresolved;            /* the period's settlements and cancels of unknown outcome */
    struct recon_row *rows;
    size_t n_rows, cap_rows;
    int64_t day_start, day_end;    /* Unix ms of the local day */
    char *report;
    bool matched; /* what the report says */
    bool too_many;
    size_t unreadable; /* done settlements (of any day scanned) whose answer could not be read */
};

static void recon_free(void *p)
{
    struct recon_flow *f = p;

    his_request_done(&f->req.root);
    for (size_t i = 0; i < f->n_groups; i++)
        free(f->groups[i].rows);
    free(f->groups);
    json_object_put(f->mismatched);
    json_object_put(f->listed);
    json_object_put(f->held);
    json_object_put(f->cancelled);
    json_object_put(f->cancel_of);
    json_object_put(f->others);
    json_object_put(f->open);
    json_object_put(f->reversed);
    free(f->rows);
    free(f->report);
    free(f);
}

/* The group of (insutype, clr_type, optins), made when new; NULL when out of memory. Its
 * totals' strings are pointed at its own once every group is made (group_rows): the array
 * moves as it grows. */
static struct recon_group *group_of(struct recon_flow *f, const char *insutype,
                                    const char *clr_type, const char *optins)
{
    struct recon_group *g;

    for (size_t i = 0; i < f->n_groups; i++) {
        g = &f->groups[i];
        if (!strcmp(g->insutype, insutype) && !strcmp(g->clr_type, clr_type) &&
            !strcmp(g->setl_optins, optins))
            return g;
    }
    if (f->n_groups == f->cap_groups) {
        size_t cap = f->cap_groups ? 2 * f->cap_groups : 16;

        if (!(g = realloc(f->groups, cap * sizeof *g)))
            return NULL;
        f->groups = g;
        f->cap_groups = cap;
    }
    g = &f->groups[f->n_groups++];
    *g = (struct recon_group){0};
    str_copy(g->insutype, sizeof(g->insutype), insutype);
    str_copy(g->clr_type, sizeof(g->clr_type), clr_type);
    str_copy(g->setl_optins, sizeof(g->setl_optins), optins);
    g->totals = (struct desk_day_totals){.begin_date = f->begin, .end_date = f->end};
    return g;
}

/* A done cancel (2208/2305): the setl_id it took back, from the request posad sent. */
static void note_cancel(struct recon_flow *f, const struct journal_row *row)
{
    struct json_object *req = json_tokener_parse(row->request);
    const char *setl_id = upstream_find_string(req, "setl_id");

    if (setl_id && setl_id[0]) {
        json_object_object_add(f->cancelled, setl_id, NULL);
        json_object_object_add(f->cancel_of, row->msgid, json_object_new_string(setl_id));
    }
    json_object_put(req);
}

/* A done 2601 the platform carried out (rvs_rslt "1"): the settlement it undid no longer
 * stands, and a cancel it undid no longer took its settlement back (the HIS reverses what it
 * sent through the passthrough; posad's own reversals undo only messages of unknown outcome,
 * never done ones). */
static void note_reversal(struct recon_flow *f, const struct journal_row *row)
{
    struct json_object *req = json_tokener_parse(row->request);
    struct json_object *ans = row->response ? json_tokener_parse(row->response) : NULL;
    const char *omsgid = upstream_find_string(req, "omsgid");
    const char *done = upstream_find_string(ans, "rvs_rslt");
    struct json_object *setl_id;

    if (omsgid && done && strcmp(done, "1") == 0) {
        if (json_object_object_get_ex(f->cancel_of, omsgid, &setl_id))
            json_object_object_del(f->cancelled, json_object_get_string(setl_id));
        else
            json_object_object_add(f->reversed, omsgid, NULL);
    }
    json_object_put(req);
    json_object_put(ans);
}

/* A settlement belongs to the day the platform settled it (its setl_time), which for one
 * that waited in the outbox, or whose answer came by query, is not the day posad journaled
 * it; only without a setl_time does the journal's day count. f->date is the day, or the
 * month ("YYYY-MM"): a prefix of the setl_time either way. */
static bool on_the_day(const struct recon_flow *f, const struct journal_row *row,
                       const char *setl_time)
{
    if (strlen(setl_time) >= DATETIME_DATE_LEN)
        return strncmp(setl_time, f->date, strlen(f->date)) == 0;
    return row->created_at >= f->day_start && row->created_at < f->day_end;
}

/* The clearing region: the answer's clr_optins, else the insured region the message named
 * (its envelope's insuplc_admdvs): an answer without one made a group of region "", sent so
 * in a 3201 the platform cannot match. The same for the insurance type. */
static void optins_of(struct recon_row *r, const struct journal_row *row,
                      const struct desk_settlement *s)
{
    struct json_object *req = NULL;
    const char *v;

    str_copy(r->optins, sizeof r->optins, s->clr_optins);
    if (r->optins[0] && r->insutype[0])
        return;
    req = json_tokener_parse(row->request);
    if (!r->optins[0] && (v = upstream_find_string(req, "insuplc_admdvs")))
        str_copy(r->optins, sizeof r->optins, v);
    if (!r->insutype[0] && (v = upstream_find_string(req, "insutype")))
        str_copy(r->insutype, sizeof r->insutype, v);
    json_object_put(req);
}

static int collect(const struct journal_row *row, void *data)
{
    struct recon_flow *f = data;
    struct envelope_response env;
    struct desk_settlement s;
    struct jsonmap_error jerr;
    struct recon_row *grown, *r;

    if (strncmp(row->infno, "2208", 4) == 0 || strncmp(row->infno, "2305", 4) == 0) {
        note_cancel(f, row); /* a cancel of any later day takes the settlement out too */
        return 0;
    }
    if (strcmp(row->infno, "2601") == 0) {
        note_reversal(f, row);
        return 0;
    }
    /* A done settlement whose answer cannot be read is counted as not reconciled: left out
     * silently, its day could report matched without the platform being asked about it. */
    if (!row->response ||
        envelope_response_parse(row->response, row->response_len, &env, &jerr) < 0) {
        f->unreadable++;
        return 0;
    }
    if (env.infcode != 0 || desk_settlement_decode(env.output, &s, &jerr) < 0) {
        f->unreadable += env.infcode == 0;
        envelope_response_done(&env);
        return 0;
    }
    if (!on_the_day(f, row, s.setl_time)) {
        envelope_response_done(&env);
        return 0;
    }
    if (f->n_rows == RECONCILE_ROWS_MAX) {
        f->too_many = true;
        envelope_response_done(&env);
        return 0;
    }
    if (f->n_rows == f->cap_rows) {
        size_t cap = f->cap_rows ? 2 * f->cap_rows : 256;

        if (!(grown = realloc(f->rows, cap * sizeof *grown))) {
            envelope_response_done(&env);
            return -ENOMEM;
        }
        f->rows = grown;
        f->cap_rows = cap;
    }
    r = &f->rows[f->n_rows++];
    str_copy(r->psn_no, sizeof r->psn_no, s.psn_no);
    str_copy(r->mdtrt_id, sizeof r->mdtrt_id, s.mdtrt_id);
    str_copy(r->setl_id, sizeof r->setl_id, s.setl_id);
    str_copy(r->msgid, sizeof r->msgid, row->msgid);
    str_copy(r->insutype, sizeof r->insutype, s.insutype);
    str_copy(r->clr_type, sizeof r->clr_type,
             s.clr_type[0]                         ? s.clr_type
             : strncmp(row->infno, "2304", 4) == 0 ? "21"
                                                   : "11");
    optins_of(r, row, &s);
    r->medfee_sumamt = s.amounts.medfee_sumamt;
    r->fund_pay_sumamt = s.amounts.fund_pay_sumamt;
    r->acct_pay = s.amounts.acct_pay;
    r->cash_pay = s.amounts.psn_cash_pay;
    json_object_object_add(f->held, r->setl_id, NULL);
    envelope_response_done(&env);
    return 0;
}

/* The day's standing settlements into groups by insutype, clearing type and region. */
static int group_rows(struct recon_flow *f)
{
    for (size_t i = 0; i < f->n_rows; i++) {
        const struct recon_row *r = &f->rows[i];
        struct recon_group *g;
        struct desk_day_row *grown;

        if (json_object_object_get_ex(f->cancelled, r->setl_id, NULL))
            continue;
        if (json_object_object_get_ex(f->reversed, r->msgid, NULL)) {
            json_object_object_del(f->held, r->setl_id); /* nor is it the platform's */
            continue;
        }
        if (!(g = group_of(f, r->insutype, r->clr_type, r->optins)))
            return -ENOMEM;
        if (!(grown = realloc(g->rows, (g->n_rows + 1) * sizeof *grown)))
            return -ENOMEM;
        g->rows = grown;
        /* f->rows is whole now: the pointers into it hold until the flow ends. */
        g->rows[g->n_rows++] =
            (struct desk_day_row){r->psn_no,        r->mdtrt_id,        r->setl_id, r->msgid,
                                  r->medfee_sumamt, r->fund_pay_sumamt, r->acct_pay};
        g->totals.medfee_sumamt += r->medfee_sumamt;
        g->totals.fund_pay_sumamt += r->fund_pay_sumamt;
        g->totals.acct_pay += r->acct_pay;
        g->totals.cash_pay += r->cash_pay;
        g->totals.count++;
    }
    for (size_t i = 0; i < f->n_groups; i++) {
        struct recon_group *g = &f->groups[i];

        g->totals.insutype = g->insutype;
        g->totals.clr_type = g->clr_type;
        g->totals.setl_optins = g->setl_optins;
    }
    return 0;
}

/* A settlement found cancelled at the platform without a cancel of posad's: out too. */
static int note_cancelled_elsewhere(const char *setl_id, void *data)
{
    struct recon_flow *f = data;

    json_object_object_add(f->cancelled, setl_id, NULL);
    return 0;
}

static int note_open(const char *msgid, void *data)
{
    struct recon_flow *f = data;

    f->unresolved++;
    return json_object_object_add(f->open, msgid, NULL) == 0 ? 0 : -ENOMEM;
}

static int run_day(struct db *db, struct db_job *job)
{
    struct recon_flow *f = container_of(job, struct recon_flow, job);
    int err;

    if (!(f->mismatched = json_object_new_array()) || !(f->listed = json_object_new_object()) ||
        !(f->held = json_object_new_object()) || !(f->cancelled = json_object_new_object()) ||
        !(f->cancel_of = json_object_new_object()) || !(f->reversed = json_object_new_object()) ||
        !(f->others = json_object_new_object()) || !(f->open = json_object_new_object()))
        return -ENOMEM;
    /* From a day earlier: the platform's setl_time decides the day, and its clock may run
     * ahead of posad's (an answer journaled at 23:59:59 for a settlement of 00:00:01). */
    if ((err = journal_settlements_since(db, f->day_start - 24 * 3600 * 1000, collect, f)) < 0 ||
        (err = records_cancelled_elsewhere_list(db, note_cancelled_elsewhere, f)) < 0 ||
        (err = journal_settlements_open(db, f->day_start, f->day_end, note_open, f)) < 0)
        return err;
    return group_rows(f);
}

static struct json_object *totals_json(const struct desk_day_totals *t)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "medfee_sumamt", his_money(t->medfee_sumamt));
    json_object_object_add(o, "fund_pay_sumamt", his_money(t->fund_pay_sumamt));
    json_object_object_add(o, "acct_pay", his_money(t->acct_pay));
    json_object_object_add(o, "count", json_object_new_int64(t->count));
    return o;
}

static char *report_text(struct recon_flow *f)
{
    struct json_object *o = json_object_new_object(), *groups = json_object_new_array();
    struct desk_day_totals all = {0};
    bool matched = !f->too_many && f->unreadable == 0 && f->unresolved == 0;
    size_t others = f->others ? (size_t)json_object_object_length(f->others) : 0;
    char *text;

    for (size_t i = 0; i < f->n_groups; i++) {
        struct recon_group *g = &f->groups[i];
        struct json_object *j = json_object_new_object();

        matched = matched && g->matched;
        all.medfee_sumamt += g->totals.medfee_sumamt;
        all.fund_pay_sumamt += g->totals.fund_pay_sumamt;
        all.acct_pay += g->totals.acct_pay;
        all.count += g->totals.count;
        json_object_object_add(j, "insutype", json_object_new_string(g->insutype));
        json_object_object_add(j, "clr_type", json_object_new_string(g->clr_type));
        json_object_object_add(j, "setl_optins", json_object_new_string(g->setl_optins));
        json_object_object_add(j, "local_totals", totals_json(&g->totals));
        json_object_object_add(j, "matched", json_object_new_boolean(g->matched));
        json_object_object_add(j, "upstream_result", json_object_new_string(g->text));
        if (g->no_detail[0])
            json_object_object_add(j, "upstream_detail", json_object_new_string(g->no_detail));
        json_object_array_add(groups, j);
    }
    json_object_object_add(o, "date", json_object_new_string(f->date));
    json_object_object_add(o, "matched", json_object_new_boolean(matched));
    json_object_object_add(o, "mismatched", json_object_get(f->mismatched));
    json_object_object_add(o, "local_totals", totals_json(&all));
    /* 3201 asks by (insutype, clr_type, setl_optins) group: with no local settlement there
     * is no group to ask about, and what the platform holds of the day is not seen. */
    json_object_object_add(o, "upstream_asked", json_object_new_boolean(f->n_groups > 0));
    json_object_object_add(
        o, "upstream_totals",
        json_object_new_string(
            f->unresolved      ? "not comparable yet: settlements of the period are still on "
                                 "their way or being resolved with the platform (see unresolved, "
                                 "and GET /v1/queue; reconcile again once they are)"
            : f->n_groups == 0 ? "not asked: no local settlement in that period"
            : matched ? "equal to local_totals in each of posad's groups (the platform is asked "
                        "about those: a group only it holds is not seen)"
                      : "differ: see groups and mismatched"));
    json_object_object_add(o, "groups", groups);
    if (f->too_many)
        json_object_object_add(o, "truncated", json_object_new_boolean(true));
    if (f->unreadable)
        json_object_object_add(o, "unreadable", json_object_new_int64((int64_t)f->unreadable));
    if (f->unresolved)
        json_object_object_add(o, "unresolved", json_object_new_int64(f->unresolved));
    if (others)
        json_object_object_add(o, "other_posads", json_object_new_int64((int64_t)others));
    f->matched = matched;
    text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return text;
}

static int run_store_report(struct db *db, struct db_job *job)
{
    struct recon_flow *f = container_of(job, struct recon_flow, job);

    return records_report_put(db, f->req.date, f->report, upstream_now_ms());
}

static void recon_done(struct recon_flow *f, int err, const char *msg, bool upstream);

static void recon_db(struct recon_flow *f, db_job_run_fn run, db_job_done_cb done)
{
    f->job = (struct db_job){.run = run, .done = done};
    db_worker_submit(&f->pd->db, &f->job);
}

static void on_report_stored(struct db_job *job, int status)
{
    struct recon_flow *f = container_of(job, struct recon_flow, job);

    if (!status)
        log_event(LOGL_INFO, "reconciled", "date", f->date, NULL);
    recon_done(f, status, NULL, false);
}

static void recon_next(struct recon_flow *f);

/* Does the report already list setl_id, or (platform_only) does posad hold it standing
 * that day? A 3202 may list as the platform's alone what posad counted in another group
 * (the national 3202 names no insurance type), and two groups' 3202s the same row. */
static bool recon_accounted(const struct recon_flow *f, const char *setl_id, bool platform_only)
{
    if (json_object_object_get_ex(f->listed, setl_id, NULL))
        return true;
    return platform_only && json_object_object_get_ex(f->held, setl_id, NULL) &&
           !json_object_object_get_ex(f->cancelled, setl_id, NULL);
}

/* One row of the platform's 3202 answer in the HIS API's shape (money as strings). */
static int on_mismatch(struct json_object *row, bool platform_only, void *data)
{
    static const char *const ids[] = {"psn_no", "mdtrt_id", "setl_id", "msgid", "stmt_rslt",
                                      "memo"};
    static const char *const money[] = {"medfee_sumamt", "fund_pay_sumamt", "acct_pay"};
    struct recon_flow *f = data;
    struct json_object *r, *v;

    /* 3201 and 3202 are the institution's: a settlement another posad of the hospital made
     * (its msgid another terminal's) is that posad's to reconcile, counted, not listed. */
    if (platform_only && json_object_object_get_ex(row, "msgid", &v) &&
        json_object_is_type(v, json_type_string) &&
        msgid_of_other_terminal(&f->pd->up.gen, json_object_get_string(v))) {
        /* the national 3202 names no insurance type: each group's may list the same */
        json_object_object_add(f->others, json_object_get_string(v), NULL);
        f->groups[f->next].others = true;
        return 0;
    }
    /* posad's own settlement whose outcome it is still finding out: the platform holds it,
     * counted in unresolved, not a settlement only the platform has (found by review). */
    if (platform_only && json_object_object_get_ex(row, "msgid", &v) &&
        json_object_is_type(v, json_type_string) &&
        json_object_object_get_ex(f->open, json_object_get_string(v), NULL))
        return 0;
    if (json_object_object_get_ex(row, "setl_id", &v) && json_object_is_type(v, json_type_string) &&
        json_object_get_string(v)[0] &&
        recon_accounted(f, json_object_get_string(v), platform_only))
        return 0;
    r = json_object_new_object();

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (json_object_object_get_ex(row, ids[i], &v) && json_object_is_type(v, json_type_string))
            json_object_object_add(r, ids[i], json_object_new_string(json_object_get_string(v)));
    for (size_t i = 0; i < sizeof money / sizeof money[0]; i++) {
        int64_t fen;

        if (json_object_object_get_ex(row, money[i], &v) && jsonmap_decimal(v, DEC_MONEY, &fen) == 0)
            json_object_object_add(r, money[i], his_money(fen));
    }
    json_object_object_add(r, "platform_only", json_object_new_boolean(platform_only));
    /* The national 3202 answers the rows posad sent with its verdict (stmt_rslt, memo): their
     * figures are posad's; a row only the platform holds carries its own. */
    json_object_object_add(r, "figures",
                           json_object_new_string(platform_only ? "platform" : "posad"));
    if (json_object_object_get_ex(r, "setl_id", &v))
        json_object_object_add(f->listed, json_object_get_string(v), NULL);
    json_object_array_add(f->mismatched, r);
    return 0;
}

/* The platform's 3202 for group g, where the totals differ. When all it lists beyond posad's
 * own are other posads' settlements, posad's own match: the group is matched, and says so. */
static int recon_detail(struct recon_flow *f, struct recon_group *g, struct json_object *output,
                        struct jsonmap_error *jerr)
{
    size_t listed = json_object_array_length(f->mismatched);
    int err = desk_3202_decode(output, on_mismatch, f, jerr);

    if (!err && g->others && json_object_array_length(f->mismatched) == listed) {
        g->matched = true;
        str_copy(g->text, sizeof g->text,
                 "posad's own match; the platform's totals also hold settlements of the "
                 "hospital's other posads (other msgid terminals)");
    }
    return err;
}

static void on_upstream_answer(struct upmsg *m)
{
    struct recon_flow *f = m->data;
    struct recon_group *g = &f->groups[f->next];
    struct envelope_response env;
    struct jsonmap_error jerr = {0};
    bool detail = strcmp(m->infno, "3202") == 0;
    const char *text = "";
    char msg[256];
    int err = desk_outcome(m, &env, msg, sizeof msg);

    upmsg_free(m);
    /* The platform refused the detail (a real one wants the 9101 file first): the totals
     * differ, said with why the detail is not there. The platform away or an answer lost
     * fails the run as a 3201's would: the schedule asks again in ten minutes. */
    if (err == POSA_EUPSTREAM_REFUSED && detail) {
        snprintf(g->no_detail, sizeof g->no_detail,
                 "the platform did not give the detail (3202): %s; reconcile again to ask again",
                 msg[0] ? msg : posa_strerror(err));
        f->next++;
        recon_next(f);
        return;
    }
    if (err) {
        recon_done(f, err, msg, true);
        return;
    }
    if (detail)
        err = recon_detail(f, g, env.output, &jerr);
    else if ((err = desk_3201_decode(env.output, &g->matched, &text, &jerr)) == 0)
        str_copy(g->text, sizeof(g->text), text);
    envelope_response_done(&env);
    if (err) {
        recon_done(f, POSA_EUPSTREAM_REFUSED, "the platform's reconciliation could not be read",
                   false);
        return;
    }
    if (!detail && !g->matched) {
        /* The totals differ: which settlements? */
        err = desk_send(f->pd, "3202", NULL, NULL, NULL,
                        desk_3202_input(&g->totals, g->rows, g->n_rows), on_upstream_answer, f);
        if (err)
            recon_done(f, err, NULL, false);
        return;
    }
    f->next++;
    recon_next(f);
}

static void recon_next(struct recon_flow *f)
{
    int err;

    if (f->next == f->n_groups) {
        if (!(f->report = report_text(f))) {
            recon_done(f, -ENOMEM, NULL, false);
            return;
        }
        recon_db(f, run_store_report, on_report_stored);
        return;
    }
    err = desk_send(f->pd, "3201", NULL, NULL, NULL, desk_3201_input(&f->groups[f->next].totals),
                    on_upstream_answer, f);
    if (err)
        recon_done(f, err, NULL, false);
}

static void on_day(struct db_job *job, int status)
{
    struct recon_flow *f = container_of(job, struct recon_flow, job);

    if (status) {
        recon_done(f, status, NULL, false);
        return;
    }
    recon_next(f);
}

/* The Beijing days first..last (yyyymmdd) as Unix ms [start, end). */
static void period_bounds(int32_t first, int32_t last, int64_t *start, int64_t *end)
{
    *start = datetime_to_unix((int64_t)first * 1000000) * 1000;
    *end = datetime_to_unix((int64_t)date_add_days(last, 1) * 1000000) * 1000;
}

/* The period f->req.date reconciled: its settlements read, 3201 (and 3202) asked, the report
 * stored, then recon_done. */
static void recon_start(struct recon_flow *f)
{
    int32_t first = date_period_first(f->req.date), last = date_period_last(f->req.date);

    date_period_format(f->req.date, f->date);
    date_format(first, f->begin);
    date_format(last, f->end);
    period_bounds(first, last, &f->day_start, &f->day_end);
    recon_db(f, run_day, on_day);
}

void desk_reconcile(struct his_call *call)
{
    struct recon_flow *f = his_flow_new(call, sizeof *f, recon_free);
    struct jsonmap_error jerr = {0};

    if (!f || his_every_desk(call, RECONCILE_EVERY_DESK) < 0)
        return;
    f->pd = call->pd;
    f->call = call;
    if (reconcile_request_parse(call->req->body, call->req->body_len, &f->req, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    /* A day to come has nothing to reconcile: a typo in the year read as "matched". */
    if (desk_is_future(call->pd, (int64_t)date_period_first(f->req.date) * 1000000)) {
        his_fail_at(call, POSA_EDATE, f->req.date % 100 ? "date" : "month",
                    "that period has not begun yet: check the date");
        return;
    }
    recon_start(f);
}

/* The end of a reconciliation: the HIS API's call answered (the report, or why not; the flow
 * goes with the call), or the schedule's run logged and let go. */
static void recon_done(struct recon_flow *f, int err, const char *msg, bool upstream)
{
    struct desk *d = &f->pd->desk;

    if (f->call) {
        if (!err)
            his_reply(f->call, 200, json_tokener_parse(f->report));
        else if (upstream)
            desk_fail_outcome(f->call, err, msg);
        else
            his_fail(f->call, err, msg, NULL);
        return;
    }
    d->reconciling = false;
    if (err) {
        log_event(LOGL_WARN, "reconcile_failed", "period", f->date, "error", posa_strerror(err),
                  "err_msg", msg, "action", "tried again in ten minutes", NULL);
    } else {
        *(f->req.date % 100 ? &d->reconciled_day : &d->reconciled_month) = f->req.date;
        if (f->matched)
            log_event(LOGL_INFO, "reconcile_matched", "period", f->date, NULL);
        else
            log_event(LOGL_WARN, "reconcile_mismatch", "period", f->date, "action",
                      "see GET /v1/reconcile/{period} (posactl reconcile --report)", NULL);
    }
    recon_free(f);
}

/* Yesterday, or (on the 1st to the 3rd) the month before, if not reconciled yet. */
static void on_reconcile_tick(uv_timer_t *t)
{
    struct desk *d = t->data;
    const char *at = d->pd->cfg.reconcile_at;
    int64_t now = upstream_now_beijing();
    int32_t today = datetime_date(now), period = 0;
    int32_t month = date_add_days(today - today % 100 + 1, -1) / 100 * 100; /* the last one */
    struct recon_flow *f;

    if (d->reconciling || !at[0] || now % 1000000 / 100 < atoi(at) * 100 + atoi(at + 3))
        return;
    if (d->reconciled_day != date_add_days(today, -1))
        period = date_add_days(today, -1);
    else if (today % 100 <= 3 && d->reconciled_month != month)
        period = month;
    if (!period || !(f = calloc(1, sizeof *f)))
        return;
    f->pd = d->pd;
    f->req.date = period;
    d->reconciling = true;
    recon_start(f);
}

void desk_reconcile_start(struct desk *d)
{
    uv_timer_init(d->pd->loop, &d->reconcile_timer);
    d->reconcile_timer.data = d;
    uv_timer_start(&d->reconcile_timer, on_reconcile_tick, DESK_RECONCILE_FIRST_MS,
                   DESK_RECONCILE_TICK_MS);
}

void desk_reconcile_stop(struct desk *d)
{
    uv_close((uv_handle_t *)&d->reconcile_timer, NULL);
}

/* --- GET /v1/reconcile/{date} --------------------------------------------------------------- */

struct report_get {
    int32_t date;
    char *body;
};

static void report_get_free(void *p)
{
    struct report_get *g = p;

    free(g->body);
    free(g);
}

static int run_report(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct report_get *g = call->flow;

    return records_report_get(db, g->date, &g->body);
}

static void on_report(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct report_get *g = call->flow;

    if (status) {
        his_fail(call, status == POSA_ENOTFOUND ? POSA_ENOSUCH : status,
                 status == POSA_ENOTFOUND
                     ? "that period has not been reconciled: reconcile it first (POST "
                       "/v1/reconcile; posactl reconcile DATE)"
                     : NULL,
                 NULL);
        return;
    }
    his_reply(call, 200, json_tokener_parse(g->body));
}

void desk_reconcile_get(struct his_call *call)
{
    struct report_get *g = his_flow_new(call, sizeof *g, report_get_free);
    const char *date = his_param(call, 0);

    if (!g || his_every_desk(call, RECONCILE_EVERY_DESK) < 0)
        return;
    if (date_period_parse(date, strlen(date), &g->date) < 0) {
        his_fail(call, POSA_EPERIOD, NULL, NULL);
        return;
    }
    his_db(call, run_report, on_report);
}

/* --- GET /metrics ------------------------------------------------------------------------------ */

#define METRICS_STATES_MAX 16

struct metrics_flow {
    struct journal_stats stats;
    struct metrics_state_count states[METRICS_STATES_MAX];
    char names[METRICS_STATES_MAX][16];
    size_t n_states;
    uint64_t db_commits, db_jobs; /* read on the database thread, which writes them */
    uint64_t db_syncs;
};

static int add_state(const char *state, int64_t count, void *data)
{
    struct metrics_flow *m = data;

    if (m->n_states == METRICS_STATES_MAX)
        return 0;
    str_copy(m->names[m->n_states], sizeof m->names[0], state);
    m->states[m->n_states] = (struct metrics_state_count){m->names[m->n_states], (uint64_t)count};
    m->n_states++;
    return 0;
}

static int run_metrics(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct metrics_flow *m = call->flow;
    int err = journal_stats(db, &m->stats);

    m->db_commits = call->pd->db.commits;
    m->db_jobs = call->pd->db.jobs;
    m->db_syncs = db_worker_syncs(&call->pd->db);
    return err ? err : records_settlement_counts(db, add_state, m);
}

static void on_metrics(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct metrics_flow *m = call->flow;
    struct metrics_route routes[64];
    struct metrics_infno infnos[UPSTREAM_LATENCY_MAX];
    struct metrics_view view = {.version = POSA_VERSION,
                                .db_job_latency = &call->pd->db.job_latency};
    const struct upstream *up = &call->pd->up;
    struct html_buf page;
    enum upstream_health h = up->health;
    int64_t age;
    int err;

    /* Unread (a failed database runs no job), the page still says so, and what the loop
     * holds: the upstream, the latencies. */
    view.db_read = status == 0;
    view.database = db_worker_failed(&call->pd->db) || call->pd->db.damaged
                        ? METRICS_DATABASE_FAILED
                    : db_worker_full(&call->pd->db) ? METRICS_DATABASE_FULL
                                                    : METRICS_DATABASE_OK;
    age = m->stats.oldest_at ? (upstream_now_ms() - m->stats.oldest_at) / 1000 : 0;
    view.routes = routes;
    view.n_routes = his_metrics_routes(routes, sizeof routes / sizeof routes[0]);
    view.upstream = h == UPSTREAM_ONLINE     ? METRICS_UPSTREAM_ONLINE
                    : h == UPSTREAM_DEGRADED ? METRICS_UPSTREAM_DEGRADED
                                             : METRICS_UPSTREAM_OFFLINE;
    view.queue_depth = (uint64_t)m->stats.depth;
    view.queue_oldest_age_s = age > 0 ? (uint64_t)age : 0;
    view.queue_unknown = (uint64_t)m->stats.unknown;
    view.settlements = m->states;
    view.n_settlements = m->n_states;
    view.db_commits = m->db_commits;
    view.db_jobs = m->db_jobs;
    view.db_syncs = m->db_syncs;
    for (size_t i = 0; i < up->n_latency; i++)
        infnos[i] = (struct metrics_infno){up->latency[i].infno, up->latency[i].latency};
    view.upstream_latency = infnos;
    view.n_upstream_latency = up->n_latency;
    if (call->pd->desk.catalog_ready) {
        view.catalog_items = call->pd->desk.catalog_copy.n;
        view.catalog_loaded_at_s = call->pd->desk.catalog_copy.loaded_at / 1000;
    }
    html_buf_init(&page, HTML_BUF_CEILING);
    err = metrics_format(&view, &page);
    if (err || page.err) {
        html_buf_done(&page);
        his_fail(call, err ? err : page.err, NULL, NULL);
        return;
    }
    his_reply_text(call, 200, METRICS_CONTENT_TYPE, page.data, page.len);
    html_buf_done(&page);
}

void desk_metrics(struct his_call *call)
{
    struct metrics_flow *m = his_flow_new(call, sizeof *m, free);

    if (!m)
        return;
    his_db(call, run_metrics, on_metrics);
}
