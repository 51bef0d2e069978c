/* POST /v1/visits/{id}/fees: splits every line by the cached catalog (core/), keeps the
 * lines, uploads them in chunks (2301 for a stay, 2204 outpatient), and checks the
 * platform's split of each line against the local one. POST .../fees/cancel takes lines
 * back (2302 by line, 2205 the outpatient batch). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desk.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "core/datetime.h"
#include "core/err.h"
#include "core/visit_fsm.h"
#include "core/str.h"
#include "interface/his/requests.h"
#include "interface/his/responses.h"
#include "interface/json/fee_lines.h"
#include "interface/json/jsontext.h"
#include "interface/platform/desk_msgs.h"

#define DESK_BCHNO "B0001" /* one charge batch per outpatient visit */
#define SN_MAX     16

/* One upload message: lines [first, first + n) of the request. */
struct fee_chunk {
    struct his_call *call;
    size_t first, n;
    bool lost; /* not journaled, so its lines were not kept */
};

/* A HIS line id (fee_lines.c bounds it) fits a record's id whole, so lookups are exact. */
_Static_assert(BOUND_CODE <= RECORD_ID_MAX, "his_line_id must fit a record id");

/* A line of the visit kept already, as a repeated request is checked against it. */
struct kept_line {
    char his_line_id[RECORD_ID_MAX + 1];
    char feedetl_sn[RECORD_ID_MAX + 1];
    char upload_msgid[RECORD_ID_MAX + 1];
    char his_key[RECORD_ID_MAX + 1]; /* the request that kept it */
    char his_hash[RECORD_ID_MAX + 1];
    char list_code[BOUND_CODE + 1];
    int64_t qty_e4, price_e6;
    struct split split;
    bool refused; /* its upload was refused: the visit's no more, and it may be sent again */
};

struct fee_flow {
    struct fee_lines lines;
    struct visit_record *visit;
    struct kept_line *kept; /* the visit's lines already kept, by his_line_id (kept_find) */
    size_t n_kept, cap_kept;
    /* ids of the visit's cancelled or damaged lines, sorted: one sent again replaces it */
    char (*gone)[RECORD_ID_MAX + 1];
    size_t n_gone, cap_gone;
    bool cancel_open; /* a fee cancel of the visit is not final yet */
    int64_t next_seq;
    struct split *splits;
    struct flag *outside; /* per line; id FLAG__MAX when not outside */
    char (*sns)[SN_MAX];
    struct desk_fee *fees;
    struct bill bill;
    struct split *platform;  /* per line: the platform's split of it, when platform_rows 1 */
    uint8_t *platform_rows;  /* per line: how many rows of the answer named it (2: 2 or more) */
    struct fee_chunk *chunk; /* per upload message */
    size_t chunks, chunks_left;
    int local_err;  /* a chunk posad could not journal (disk full...) */
    int unrecorded; /* a chunk left, and its answer could not be journaled: why */
    bool queued, refused;
    bool *line_refused; /* per line: its upload was refused (NULL until one is) */
    char refusal[256];
    const char *infno;
    /* The lines the platform split otherwise (taken_platform_split), for the records. */
    const char **taken_ids;
    struct split *taken;
    size_t n_taken;
    char settled_id[RECORD_ID_MAX + 1]; /* a settled visit's settlement */
    bool refund_open;                   /* ... whose refund the journal has not finished */
};

static enum visit_kind visit_kind_of(const struct fee_flow *f)
{
    return visit_kind_named(f->visit->kind);
}

static void flow_free(void *p)
{
    struct fee_flow *f = p;

    fee_lines_done(&f->lines);
    records_visit_free(f->visit);
    free(f->kept);
    free(f->gone);
    free(f->platform);
    free(f->platform_rows);
    free(f->taken_ids);
    free(f->taken);
    free(f->splits);
    free(f->outside);
    free(f->sns);
    free(f->fees);
    free(f->chunk);
    free(f->line_refused);
    free(f);
}

/* --- comparing the platform's split with ours ------------------------------------------ */

/* The number of a feedetl_sn posad gave ("F000042" is 42), or -1. */
static long long sn_number(const char *sn)
{
    char *end;
    long long n;

    if (sn[0] != 'F' || sn[1] < '0' || sn[1] > '9')
        return -1;
    n = strtoll(sn + 1, &end, 10);
    return *end ? -1 : n;
}

/* The line sn names. posad numbers an upload's lines itself, F<seq> with seqs that follow one
 * another (a replay finds the lines of the same request, in the same order), so the number
 * gives the line whatever order the platform answers in; a platform's sn that is not one of
 * them costs a scan. */
static size_t line_of_sn(const struct fee_flow *f, const char *sn)
{
    long long first = f->lines.n ? sn_number(f->sns[0]) : -1, n = sn_number(sn);

    if (first >= 0 && n >= first && (unsigned long long)(n - first) < f->lines.n &&
        strcmp(f->sns[n - first], sn) == 0)
        return (size_t)(n - first);
    for (size_t i = 0; i < f->lines.n; i++)
        if (strcmp(f->sns[i], sn) == 0)
            return i;
    return SIZE_MAX;
}

/* The platform took the lines, and its split of them cannot be read (from the row the
 * error names on): what it read is compared, the rest is not; said in the log. */
static void split_answer_unreadable(const struct fee_flow *f, const struct jsonmap_error *jerr)
{
    log_event(LOGL_WARN, "split_answer_unreadable", "visit", f->visit->visit_id, "field",
              jerr->field, "error", posa_strerror(jerr->err), NULL);
}

static int on_platform_row(const struct desk_fee_split *row, void *data)
{
    struct fee_flow *f = data;
    size_t i = line_of_sn(f, row->feedetl_sn);

    if (i == SIZE_MAX)
        return 0; /* not a line of this upload: nothing to compare it with */
    f->platform[i] = row->split;
    /* Two rows for one line cannot both be the platform's split of it: neither is taken. */
    if (f->platform_rows[i] == 1)
        log_event(LOGL_WARN, "split_answer_twice", "visit", f->visit->visit_id, "feedetl_sn",
                  row->feedetl_sn, NULL);
    f->platform_rows[i] += f->platform_rows[i] < 2;
    return 0;
}

/* Whether the platform put the line in another fee category (policy.md §32) than posad's
 * catalog: the statement prints the line under its category. */
static bool other_category(const struct split *s, const struct split *platform)
{
    return platform->category != 0 && platform->category != s->category;
}

/* {"overlmt_amt":{"local":"..","upstream":".."}, ...} or NULL when they agree. */
static struct json_object *mismatch(const struct split *s, const struct split *platform)
{
    static const char *const names[] = {"amount", "fulamt_ownpay_amt", "overlmt_amt",
                                        "preselfpay_amt", "inscp_scp_amt"};
    const int64_t local[] = {s->amount, s->fulamt_ownpay, s->overlmt, s->preselfpay, s->inscp};
    const int64_t upstream[] = {platform->amount, platform->fulamt_ownpay, platform->overlmt,
                                platform->preselfpay, platform->inscp};
    struct json_object *o = NULL;

    for (size_t i = 0; i < 5; i++) {
        if (upstream[i] == local[i])
            continue;
        if (!o)
            o = json_object_new_object();
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "local", his_money(local[i]));
        json_object_object_add(d, "upstream", his_money(upstream[i]));
        json_object_object_add(o, names[i], d);
    }
    if (other_category(s, platform)) {
        char ours[3], theirs[3];
        struct json_object *d = json_object_new_object();

        if (!o)
            o = json_object_new_object();
        json_object_object_add(d, "local",
                               json_object_new_string(two_digit_code(s->category, ours)));
        json_object_object_add(d, "upstream",
                               json_object_new_string(two_digit_code(platform->category, theirs)));
        json_object_object_add(o, "med_chrgitm_type", d);
    }
    return o;
}

static bool platform_covers(const struct fee_flow *f, size_t i)
{
    return f->platform_rows[i] == 1 && f->platform[i].fulamt_ownpay != f->platform[i].amount;
}

static void line_text(struct fee_flow *f, size_t i, struct jsontext *j, size_t *mismatches)
{
    const struct his_fee_line *l = &f->lines.lines[i];
    struct json_object *mm;

    jsontext_open(j, NULL, '{');
    his_split_line_text(j, l->his_line_id, f->sns[i], &f->splits[i]);
    jsontext_open(j, "flags", '[');
    if (f->outside[i].id == FLAG_OUTSIDE)
        jsontext_json(j, NULL, his_flag(&f->outside[i]));
    jsontext_close(j, ']');
    /* policy.md: a code not in the catalog is self-paid in full. Said, because a typo in
     * list_code reads the same and would bill the patient in full without a word; not when
     * the platform, whose split is kept, covers some of it (posad's catalog is older). */
    if (f->splits[i].lv == LV_NONE && !platform_covers(f, i)) {
        jsontext_open(j, "warnings", '[');
        jsontext_open(j, NULL, '{');
        jsontext_str(j, "code", "NOT_IN_CATALOG");
        /* Bought outside, an item the catalog lacks is likely; else a typo is. */
        jsontext_str(j, "message",
                     f->outside[i].id == FLAG_OUTSIDE && f->outside[i].value
                         ? "not in the treating region's catalog: the patient "
                           "pays it in full (bought outside: an item the "
                           "catalog lacks; else check list_code)"
                         : "not in the treating region's catalog: the patient "
                           "pays it in full; check list_code");
        jsontext_close(j, '}');
        jsontext_close(j, ']');
    }
    if (f->platform_rows[i] == 1 && (mm = mismatch(&f->splits[i], &f->platform[i]))) {
        jsontext_json(j, "upstream_mismatch", mm);
        (*mismatches)++;
        log_event(LOGL_WARN, "split_mismatch", "visit", f->visit->visit_id, "line", l->his_line_id,
                  "code", l->fee.list_code, NULL);
    }
    jsontext_close(j, '}');
}

static void answer(struct his_call *call)
{
    struct fee_flow *f = call->flow;
    struct json_object *o = json_object_new_object(), *upload = json_object_new_object();
    struct jsontext lines = {0};
    size_t mismatches = 0;

    jsontext_open(&lines, NULL, '[');
    for (size_t i = 0; i < f->lines.n; i++)
        line_text(f, i, &lines, &mismatches);
    jsontext_close(&lines, ']');
    json_object_object_add(o, "lines", jsontext_take(&lines));
    json_object_object_add(o, "totals", his_bill_totals(&f->bill));
    json_object_object_add(upload, "state",
                           json_object_new_string(f->queued ? "queued" : "uploaded"));
    json_object_object_add(upload, "chunks", json_object_new_int64((int64_t)f->chunks));
    json_object_object_add(o, "upload", upload);
    /* A platform that splits differently has another catalog than ours: fetch it again. */
    if (mismatches)
        desk_catalog_refresh_after_mismatch(&call->pd->desk);
    his_reply(call, 200, o);
}

/* --- upload ------------------------------------------------------------------------------ */

/* Some chunks could not be journaled, so their lines were not kept: which, and why. */
static void fail_not_kept(struct his_call *call)
{
    struct fee_flow *f = call->flow;
    struct json_object *d = json_object_new_object(), *ids = json_object_new_array();
    char message[200];
    size_t n = 0;

    for (size_t c = 0; c < f->chunks; c++)
        for (size_t i = f->chunk[c].first;
             f->chunk[c].lost && i < f->chunk[c].first + f->chunk[c].n; i++, n++)
            json_object_array_add(ids, json_object_new_string(f->lines.lines[i].his_line_id));
    json_object_object_add(d, "not_kept", ids);
    snprintf(message, sizeof message, "%zu of %zu lines were not kept (%s): send those again", n,
             f->lines.n, posa_strerror(f->local_err));
    his_fail(call, f->local_err, message, d);
}

static void finish(struct his_call *call);

/* An upload's or a cancel's failure with the platform's words in details.upstream_message
 * (posa's own message for err beside them). */
static void fail_in_platform_words(struct his_call *call, int err, const char *words)
{
    his_fail(call, err, NULL, desk_upstream_details(words));
}

/* Lines [first, first + n) were in an upload the platform refused. */
static int mark_refused(struct fee_flow *f, size_t first, size_t n)
{
    if (!f->line_refused && !(f->line_refused = calloc(f->lines.n ? f->lines.n : 1, 1)))
        return -ENOMEM;
    for (size_t i = first; i < first + n && i < f->lines.n; i++)
        f->line_refused[i] = true;
    return 0;
}

/* Some chunks refused: the platform's words, and which lines it refused (the others went,
 * in other chunks, and are kept): the HIS sends those again, not the whole bill. */
static void fail_refused(struct his_call *call)
{
    struct fee_flow *f = call->flow;
    struct json_object *d = desk_upstream_details(f->refusal), *ids = json_object_new_array();
    char message[360];
    size_t n = 0;

    for (size_t i = 0; f->line_refused && i < f->lines.n; i++)
        if (f->line_refused[i]) {
            json_object_array_add(ids, json_object_new_string(f->lines.lines[i].his_line_id));
            n++;
        }
    json_object_object_add(d, "refused", ids);
    snprintf(message, sizeof message,
             n < f->lines.n ? "%zu of %zu lines were refused by the platform (%s): the others "
                              "are kept and uploaded (or on their way); correct and send the "
                              "refused ones again"
                            : "%zu of %zu lines were refused by the platform (%s)",
             n, f->lines.n, f->refusal);
    his_fail(call, POSA_EUPSTREAM_REFUSED, message, d);
}

static void on_chunk(struct upmsg *m)
{
    struct fee_chunk *chunk = m->data;
    struct his_call *call = chunk->call;
    struct fee_flow *f = call->flow;
    struct envelope_response env;
    struct jsonmap_error jerr = {0};
    char msg[256];
    int err = 0;

    if (m->result == UPMSG_QUEUED) {
        f->queued = true;
    } else if ((err = desk_outcome(m, &env, msg, sizeof msg)) == 0) {
        if (desk_fees_decode(env.output, on_platform_row, f, &jerr) < 0)
            split_answer_unreadable(f, &jerr);
        envelope_response_done(&env);
    } else if (err == POSA_EUPSTREAM_OFFLINE || err == POSA_EOUTCOME_UNKNOWN) {
        /* Deferrable: the outbox has it, or its answer was lost and the journal resolves it
         * (a query, or its reversal and a resend): on its way, not refused. */
        f->queued = true;
    } else if (m->result == UPMSG_FAILED && !m->journaled) {
        chunk->lost = true;
        f->local_err = f->local_err ? f->local_err : err;
    } else if (m->result == UPMSG_FAILED) {
        f->unrecorded = err; /* kept and sent; resolved by query once the journal takes it */
    } else {
        mark_refused(f, chunk->first, chunk->n); /* out of memory: the list is shorter */
        if (!f->refused)
            str_copy(f->refusal, sizeof(f->refusal), msg[0] ? msg : posa_strerror(err));
        f->refused = true;
    }
    upmsg_free(m);
    if (--f->chunks_left == 0)
        finish(call);
}

/* Whether the platform's split of a line can stand for posad's: the line's amount, parts
 * that add up to it, each of its sign and within it. */
static bool platform_split_usable(const struct split *local, const struct split *p)
{
    const int64_t parts[] = {p->fulamt_ownpay, p->overlmt, p->preselfpay, p->inscp};
    int64_t sum = 0;

    if (p->amount != local->amount)
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (p->amount >= 0 ? parts[i] < 0 || parts[i] > p->amount
                           : parts[i] > 0 || parts[i] < p->amount)
            return false;
        sum += parts[i];
    }
    return sum == p->amount;
}

/* The treating region's platform splits every line (policy.md §33): where it split a line
 * otherwise than posad's copy of the catalog (upstream_mismatch), its split is kept, so that
 * the settlement's parts (2207/2304) and the statement's categories are the platform's. */
static bool platform_split_taken(const struct split *l, const struct split *p)
{
    return platform_split_usable(l, p) &&
           (p->fulamt_ownpay != l->fulamt_ownpay || p->overlmt != l->overlmt ||
            p->preselfpay != l->preselfpay || p->inscp != l->inscp || other_category(l, p));
}

/* Whether line i is kept as the platform split it (one row of its answer for it, taken). */
static bool line_taken(const struct fee_flow *f, size_t i)
{
    return f->platform_rows[i] == 1 && platform_split_taken(&f->splits[i], &f->platform[i]);
}

static bool take_platform_splits(struct fee_flow *f)
{
    for (size_t i = 0; i < f->lines.n; i++) {
        if (!line_taken(f, i))
            continue;
        if (!f->taken && (!(f->taken = calloc(f->lines.n, sizeof *f->taken)) ||
                          !(f->taken_ids = calloc(f->lines.n, sizeof *f->taken_ids))))
            return false;
        f->taken_ids[f->n_taken] = f->lines.lines[i].his_line_id;
        f->taken[f->n_taken++] = f->platform[i];
    }
    return f->n_taken > 0;
}

static int run_take_platform(struct db *db, struct db_job *job)
{
    struct fee_flow *f = his_call_of_job(job)->flow;

    return records_lines_platform_split(db, f->visit->visit_id, f->taken_ids, f->taken, f->n_taken);
}

/* The answer's totals as the lines are kept: the platform's split where it was taken (the
 * settlement and the statement go by it; the totals said posad's, and an HIS keeping them
 * held a bill the statement did not print), posad's elsewhere. */
static void bill_as_kept(struct fee_flow *f)
{
    bill_init(&f->bill);
    for (size_t i = 0; i < f->lines.n; i++) {
        struct split kept = f->splits[i];

        if (line_taken(f, i))
            split_take(&kept, &f->platform[i]);
        bill_add(&f->bill, &kept); /* the same amounts as before: no overflow */
    }
}

static void on_platform_taken(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct fee_flow *f = call->flow;

    /* The lines are uploaded all the same: the answer says so, the log why not kept. */
    if (status)
        log_event(LOGL_ERROR, "platform_split_not_kept", "visit", f->visit->visit_id, "error",
                  posa_strerror(status), NULL);
    else
        bill_as_kept(f);
    answer(call);
}

/* Every chunk has its outcome: the answer, or why not. */
static void finish(struct his_call *call)
{
    struct fee_flow *f = call->flow;

    if (f->local_err) {
        fail_not_kept(call);
        return;
    }
    if (f->unrecorded) {
        char message[240];

        snprintf(message, sizeof message,
                 "the lines are kept and went to the platform, but its answer could not be "
                 "recorded (%s): posad checks it once there is room; do not send them again",
                 posa_strerror(f->unrecorded));
        his_fail(call, POSA_EOUTCOME_UNKNOWN, message, NULL);
        return;
    }
    if (f->refused) {
        fail_refused(call);
        return;
    }
    if (take_platform_splits(f))
        his_db(call, run_take_platform, on_platform_taken);
    else
        answer(call);
}

/* --- keeping the lines -------------------------------------------------------------------- */

/* Whether the platform has nothing of the row's message (an upload, a fee cancel): refused
 * (for a lost session), or reversed by a 2601 it accepted. A refused reversal leaves the
 * message standing. */
static bool row_undone(struct db *db, const struct journal_row *row)
{
    enum msg_state rev;

    return row->state == MSG_REFUSED ||
           (row->state == MSG_REVERSED && journal_reversal_state(db, row->msgid, &rev) == 0 &&
            rev == MSG_DONE);
}

/* A refused upload's lines are refused, a refused cancel's lines active again. The lines
 * name the message that first carried them (upload_msgid, cancel_msgid), and a refused
 * message may be a resend of it (after its reversal, or a lost session) under another
 * msgid, whose journal row names the one it stands in for: undo runs for m's row and back
 * along that chain while the earlier one is undone as well. undo is told whether the
 * refusal came after the HIS heard "queued" (m sent from the queue). */
static int undo_chain(struct db *db, const struct upmsg *m,
                      int (*undo)(struct db *db, const char *visit_id, const char *msgid,
                                  bool unheard, int64_t *n),
                      int64_t *n)
{
    struct journal_row *row = NULL, *prev = NULL;
    int err = journal_get(db, m->msgid, &row);

    for (int hops = 0; hops < 16 && !err; hops++) {
        if ((err = undo(db, m->visit_key, row->msgid, m->from_queue, n)) != 0 || !row->ref_msgid ||
            strcmp(row->infno, m->infno) != 0 || journal_get(db, row->ref_msgid, &prev) != 0 ||
            !row_undone(db, prev))
            break;
        journal_row_free(row);
        row = prev;
        prev = NULL;
    }
    journal_row_free(prev);
    journal_row_free(row);
    return err;
}

static int lines_refused(struct db *db, const char *visit_id, const char *msgid, bool unheard,
                         int64_t *n)
{
    (void)n;
    return records_lines_refused(db, visit_id, msgid, unheard);
}

/* Refused from the queue, after the HIS heard "queued": the lines are marked, and the
 * visit's next presettle or settle says so before it settles a bill without them. */
static int upload_refused(struct db *db, const struct upmsg *m)
{
    return undo_chain(db, m, lines_refused, NULL);
}

static int lines_uncancel(struct db *db, const char *visit_id, const char *msgid, bool unheard,
                          int64_t *n)
{
    int64_t k = 0;
    int err = records_lines_uncancel(db, visit_id, msgid, unheard, &k);

    *n += k;
    return err;
}

/* A cancel refused: its lines are active again, and the visit billed if it was left open.
 * Refused from the queue, after the HIS heard "queued", they keep the cancel's msgid: the
 * HIS believes them cancelled, and a settlement waits until it has cancelled them again. */
static int cancel_refused(struct db *db, const struct upmsg *m)
{
    struct visit_record *v = NULL;
    int64_t n = 0;
    int err = undo_chain(db, m, lines_uncancel, &n);

    if (err || n == 0 || (err = records_visit_get(db, m->visit_key, &v)) != 0)
        return err == POSA_ENOTFOUND ? 0 : err;
    if (strcmp(v->state, visit_state_name(VISIT_OPEN)) == 0) {
        str_copy(v->state, sizeof(v->state), visit_state_name(VISIT_BILLED));
        err = records_visit_put(db, v, upstream_now_ms());
    }
    records_visit_free(v);
    return err;
}

/* The platform's rows of an upload the outbox sent, and the lines they split otherwise. */
struct queued_splits {
    struct desk_fee_split *rows;
    char (*sns)[RECORD_ID_MAX + 1];
    size_t n_rows, cap;
    char (*ids)[RECORD_ID_MAX + 1];
    const char **id_ptrs;
    struct split *taken;
    size_t n_taken;
};

static int queued_row(const struct desk_fee_split *row, void *data)
{
    struct queued_splits *q = data;

    if (q->n_rows == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 64;
        void *rows = realloc(q->rows, cap * sizeof *q->rows), *sns;

        if (!rows)
            return -ENOMEM;
        q->rows = rows;
        if (!(sns = realloc(q->sns, cap * sizeof *q->sns)))
            return -ENOMEM;
        q->sns = sns;
        q->cap = cap;
    }
    str_copy(q->sns[q->n_rows], sizeof q->sns[0], row->feedetl_sn);
    q->rows[q->n_rows] = *row;
    q->rows[q->n_rows].feedetl_sn = q->sns[q->n_rows];
    q->n_rows++;
    return 0;
}

static int queued_line(const struct line_record *l, void *data)
{
    struct queued_splits *q = data;
    size_t found = SIZE_MAX;

    if (strcmp(l->state, "active") != 0)
        return 0;
    for (size_t i = 0; i < q->n_rows; i++)
        if (strcmp(q->rows[i].feedetl_sn, l->feedetl_sn) == 0)
            found = found == SIZE_MAX ? i : SIZE_MAX - 1; /* twice: neither is taken */
    if (found >= SIZE_MAX - 1 || !platform_split_taken(&l->split, &q->rows[found].split))
        return 0;
    if (!q->taken && (!(q->taken = calloc(q->n_rows, sizeof *q->taken)) ||
                      !(q->ids = calloc(q->n_rows, sizeof *q->ids)) ||
                      !(q->id_ptrs = calloc(q->n_rows, sizeof *q->id_ptrs))))
        return -ENOMEM;
    if (q->n_taken == q->n_rows)
        return 0;
    str_copy(q->ids[q->n_taken], sizeof q->ids[0], l->his_line_id);
    q->id_ptrs[q->n_taken] = q->ids[q->n_taken];
    q->taken[q->n_taken++] = q->rows[found].split;
    return 0;
}

/* An upload the outbox sent, taken: the platform's split of its lines where it differs, kept
 * (as take_platform_splits keeps a first chunk's), so the statement and the settlement are
 * the platform's. A chunk after a bill's first always goes this way: it waits behind the
 * first. */
static int queued_splits_kept(struct db *db, struct upmsg *m)
{
    struct queued_splits q = {0};
    struct jsonmap_error jerr = {0};
    int err = 0;

    m->split_mismatches = 0;
    /* An answer whose rows cannot be read keeps posad's split: the upload stands. */
    if (desk_fees_decode(m->env.output, queued_row, &q, &jerr) == 0 &&
        (err = records_lines_list(db, m->visit_key, queued_line, &q)) == 0 && q.n_taken &&
        (err = records_lines_platform_split(db, m->visit_key, q.id_ptrs, q.taken, q.n_taken)) == 0)
        m->split_mismatches = (int)q.n_taken;
    free(q.rows);
    free(q.sns);
    free(q.ids);
    free(q.id_ptrs);
    free(q.taken);
    return err;
}

int desk_fees_applied(struct db *db, struct upmsg *m)
{
    bool upload = strcmp(m->infno, "2204") == 0 || strcmp(m->infno, "2301") == 0;

    if (m->have_env && m->env.infcode == 0 && upload && m->from_queue)
        return queued_splits_kept(db, m);
    /* A lost session is not the platform's verdict on the lines: the message goes again. */
    if (!m->have_env || m->env.infcode == 0 || m->session_refused)
        return 0;
    char why[400], words[240]; /* the platform's words cut between characters, to fit */
    int err;

    str_copy(words, sizeof words, desk_refusal_words(&m->env));
    if (upload) {
        snprintf(why, sizeof why,
                 "not sent: the platform refused fee lines uploaded before it (%s); upload them "
                 "again or cancel them, then settle again",
                 words);
        err = upload_refused(db, m);
    } else if (strcmp(m->infno, "2205") == 0 || strcmp(m->infno, "2302") == 0) {
        snprintf(why, sizeof why,
                 "not sent: the platform refused the cancel of fee lines before it (%s), so they "
                 "are still on the bill; cancel them again, then settle again",
                 words);
        err = cancel_refused(db, m);
    } else {
        return 0;
    }
    return err ? err : desk_settle_withdraw(db, m->visit_key, why);
}

static bool replaces(const struct fee_flow *f, const char *his_line_id);

/* A chunk's admit_also: its lines are kept, and the visit marked billed, in the commit that
 * journals the message carrying them, so a line is kept exactly when its upload is
 * journaled. */
static int chunk_keep(struct db *db, struct upmsg *m)
{
    const struct fee_chunk *c = m->data;
    struct fee_flow *f = c->call->flow;
    int64_t now = upstream_now_ms();
    struct line_record *kept = calloc(c->n ? c->n : 1, sizeof *kept);
    bool replacing = false;
    int err;

    if (!kept)
        return -ENOMEM;
    for (size_t i = c->first; i < c->first + c->n; i++) {
        const struct his_fee_line *l = &f->lines.lines[i];
        struct line_record *r = &kept[i - c->first];

        *r = (struct line_record){.seq = f->next_seq + (int64_t)i,
                                .list_code = l->fee.list_code,
                                .name = l->name,
                                .time = l->time,
                                .qty_e4 = l->fee.qty_e4,
                                .price_e6 = l->fee.price_e6,
                                .split = f->splits[i]};

        if (l->has_outside) {
            r->outside_institution = l->outside.institution_code;
            r->outside_form = l->outside.form_ref;
            r->outside_kind = (int)l->outside.kind;
        }
        str_copy(r->visit_id, sizeof(r->visit_id), f->visit->visit_id);
        str_copy(r->his_line_id, sizeof(r->his_line_id), l->his_line_id);
        str_copy(r->feedetl_sn, sizeof(r->feedetl_sn), f->sns[i]);
        snprintf(r->state, sizeof r->state, "active");
        str_copy(r->upload_msgid, sizeof(r->upload_msgid), m->msgid); /* what carried it */
        r->his_key = c->call->idem_key;
        r->his_hash = c->call->body_hash;
        replacing |= replaces(f, l->his_line_id);
    }
    err = records_lines_put(db, kept, c->n, replacing, now);
    free(kept);
    return err ? err : records_visit_put(db, f->visit, now);
}

static void upload(struct his_call *call)
{
    struct fee_flow *f = call->flow;
    size_t per = call->pd->desk.chunk_lines ? call->pd->desk.chunk_lines : 500;
    struct desk_hooks hooks = {.admit_also = chunk_keep, .rerunnable = true};
    const struct visit_identity *who = &f->visit->who;
    f->chunks = (f->lines.n + per - 1) / per;
    f->chunks_left = f->chunks;
    if (!(f->chunk = calloc(f->chunks, sizeof f->chunk[0]))) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    for (size_t c = 0; c < f->chunks; c++) {
        size_t first = c * per, n = f->lines.n - first < per ? f->lines.n - first : per;
        int err;

        f->chunk[c] = (struct fee_chunk){.call = call, .first = first, .n = n};
        err = desk_send_hooked(call->pd, f->infno, who->insuplc_admdvs, f->visit->visit_id, NULL,
                               desk_fees_input(f->infno, who->psn_no, f->visit->mdtrt_id,
                                               DESK_BCHNO, f->visit->emergency, &f->fees[first], n),
                               on_chunk, &f->chunk[c], &hooks);
        if (err) {
            /* Not even journaled, so not kept: the cashier sends them again. */
            f->chunk[c].lost = true;
            f->local_err = f->local_err ? f->local_err : err;
            if (--f->chunks_left == 0) {
                fail_not_kept(call); /* answers, and so frees call and f */
                return;
            }
        }
    }
}

/* --- splitting ------------------------------------------------------------------------------ */

/* Which of a line's fields err is about ("" when the line as a whole). */
static const char *line_field_of(int err, const char *range)
{
    return range                   ? range
           : err == POSA_EAMOUNT   ? "amount"
           : err == POSA_ENEGATIVE ? "price"
           : err == POSA_ECONFLICT ? "his_line_id"
           : err == POSA_EOUTSIDE  ? "outside"
                                   : "";
}

static void fail_line(struct his_call *call, size_t i, int err)
{
    struct fee_flow *f = call->flow;
    struct json_object *d = json_object_new_object();
    char message[256];

    const char *range = err == POSA_ERANGE ? fee_line_out_of_range(&f->lines.lines[i].fee) : NULL;
    const char *sub = line_field_of(err, range);
    char field[48];

    snprintf(field, sizeof field, "lines[%zu]%s%s", i, sub[0] ? "." : "", sub);
    json_object_object_add(d, "field", json_object_new_string(field));
    json_object_object_add(d, "index", json_object_new_int64((int64_t)i));
    json_object_object_add(d, "his_line_id", json_object_new_string(f->lines.lines[i].his_line_id));
    if (range)
        snprintf(message, sizeof message, "line %s: %s out of range (%s)",
                 f->lines.lines[i].his_line_id, range,
                 strcmp(range, "price") == 0 ? "at most 100,000,000,000.00 a unit"
                 : strcmp(range, "qty") == 0 ? "not 0, and at most 100,000,000 either way"
                                             : "at most 1,000,000,000,000.00 either way");
    else
        snprintf(message, sizeof message, "line %s: %s", f->lines.lines[i].his_line_id,
                 err == POSA_ECONFLICT
                     ? "already uploaded to this visit: cancel it before sending it again"
                     : posa_strerror(err));
    his_fail(call, err, message, d);
}

static int kept_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kept_line *)a)->his_line_id,
                  ((const struct kept_line *)b)->his_line_id);
}

static const struct kept_line *kept_find(const struct fee_flow *f, const char *his_line_id)
{
    struct kept_line key;

    if (!str_copy(key.his_line_id, sizeof(key.his_line_id), his_line_id))
        return NULL; /* longer than any kept id */
    return f->n_kept ? bsearch(&key, f->kept, f->n_kept, sizeof key, kept_cmp) : NULL;
}

static int gone_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Does the line replace one kept before under its id (refused, cancelled or damaged)? The
 * store then takes that one out of its set; most uploads replace nothing and skip that. */
static bool replaces(const struct fee_flow *f, const char *his_line_id)
{
    const struct kept_line *k = kept_find(f, his_line_id);
    char key[RECORD_ID_MAX + 1];

    if (k)
        return k->refused;
    return f->n_gone && str_copy(key, sizeof key, his_line_id) &&
           bsearch(key, f->gone, f->n_gone, sizeof f->gone[0], gone_cmp);
}

/* Is the line kept and the visit's (not carried by an upload the platform refused)? */
static bool kept_active(const struct fee_flow *f, const char *his_line_id)
{
    const struct kept_line *k = kept_find(f, his_line_id);

    return k && !k->refused;
}

/* The visit's bill with this request's lines stays within BOUND_BILL_FEN either way: each
 * request's lines are bounded, but two of 50,000 lines at a line's bound came to more than
 * int64 holds, taken at upload and then never settled ("too large to compute"). */
static bool bill_too_large(struct his_call *call)
{
    const struct fee_flow *f = call->flow;
    int64_t total = f->bill.total.amount; /* within 50,000 lines' bounds: no overflow */

    for (size_t i = 0; i < f->n_kept && total >= -BOUND_BILL_FEN && total <= BOUND_BILL_FEN; i++)
        if (!f->kept[i].refused)
            total += f->kept[i].split.amount;
    if (total >= -BOUND_BILL_FEN && total <= BOUND_BILL_FEN)
        return false;
    his_fail_at(call, POSA_ERANGE, "lines",
                "the visit's bill would come to more than 1,000,000,000,000.00 with these lines: "
                "check their amounts");
    return true;
}

static int split_all(struct his_call *call)
{
    struct fee_flow *f = call->flow;
    const struct desk *d = &call->pd->desk;
    enum visit_kind kind = visit_kind_of(f);
    int err = 0;

    bill_init(&f->bill);
    for (size_t i = 0; i < f->lines.n && !err; i++) {
        const struct his_fee_line *l = &f->lines.lines[i];

        f->outside[i].id = FLAG__MAX;
        /* (Twice in one request is refused by the parser.) */
        if (kept_active(f, l->his_line_id))
            err = POSA_ECONFLICT; /* a line is uploaded once; cancel it to change it */
        else if ((err = split_line(&l->fee, catalog_index_find(&d->catalog, l->fee.list_code),
                                   &f->splits[i])) == 0 &&
                 (!l->has_outside ||
                  (err = flags_tag_outside(kind, &l->outside, &f->outside[i])) == 0))
            err = bill_add(&f->bill, &f->splits[i]);
        if (err) {
            fail_line(call, i, err);
            return err;
        }
        snprintf(f->sns[i], SN_MAX, "F%06lld", (long long)(f->next_seq + (int64_t)i));
        f->fees[i] =
            (struct desk_fee){.feedetl_sn = f->sns[i],
                              .list_code = l->fee.list_code,
                              .hosp_code = l->hosp_code,
                              .name = l->name,
                              .qty_e4 = l->fee.qty_e4,
                              .price_e6 = l->fee.price_e6,
                              .amount_fen = l->fee.amount_fen,
                              .time = l->time,
                              .dept_code = l->dept_code,
                              .doctor_code = l->doctor_code,
                              .etip_hosp_code = l->has_outside ? l->outside.institution_code : NULL,
                              .discharge_med = l->discharge_med};
    }
    return 0;
}

static int collect_known(const struct line_record *line, void *data)
{
    struct fee_flow *f = data;
    struct kept_line *k;

    bool refused =
        strcmp(line->state, "refused") == 0 || strcmp(line->state, "refused_queued") == 0;

    if (strcmp(line->state, "active") != 0 && !refused) {
        if (f->n_gone == f->cap_gone) {
            size_t cap = f->cap_gone ? 2 * f->cap_gone : 16;
            char(*more)[RECORD_ID_MAX + 1] = realloc(f->gone, cap * sizeof *more);

            if (!more)
                return -ENOMEM;
            f->gone = more;
            f->cap_gone = cap;
        }
        str_copy(f->gone[f->n_gone++], sizeof f->gone[0], line->his_line_id);
        return 0;
    }
    if (f->n_kept == f->cap_kept) {
        size_t cap = f->cap_kept ? 2 * f->cap_kept : 32;
        struct kept_line *more = realloc(f->kept, cap * sizeof *more);

        if (!more)
            return -ENOMEM;
        f->kept = more;
        f->cap_kept = cap;
    }
    k = &f->kept[f->n_kept++];
    *k = (struct kept_line){.qty_e4 = line->qty_e4,
                            .price_e6 = line->price_e6,
                            .split = line->split,
                            .refused = refused};
    str_copy(k->his_line_id, sizeof(k->his_line_id), line->his_line_id);
    str_copy(k->feedetl_sn, sizeof(k->feedetl_sn), line->feedetl_sn);
    str_copy(k->upload_msgid, sizeof(k->upload_msgid), line->upload_msgid);
    str_copy(k->list_code, sizeof(k->list_code), line->list_code);
    str_copy(k->his_key, sizeof(k->his_key), line->his_key);
    str_copy(k->his_hash, sizeof(k->his_hash), line->his_hash);
    return 0;
}

/* --- a repeated request -------------------------------------------------------------------- */

/* The kept line with the request's line i's id and content, kept by this same request (its
 * Idempotency-Key and hash) and carried by a journaled upload, or NULL. */
static const struct kept_line *kept_same(const struct his_call *call, const struct fee_flow *f,
                                         size_t i)
{
    const struct his_fee_line *l = &f->lines.lines[i];
    const struct kept_line *k = kept_find(f, l->his_line_id);

    if (!k)
        return NULL;
    return k->upload_msgid[0] && strcmp(k->his_key, call->idem_key) == 0 &&
                   strcmp(k->his_hash, call->body_hash) == 0 &&
                   strcmp(k->list_code, l->fee.list_code) == 0 && k->qty_e4 == l->fee.qty_e4 &&
                   k->price_e6 == l->fee.price_e6 && k->split.amount == l->fee.amount_fen
               ? k
               : NULL;
}

/* The same request again under its Idempotency-Key, after posad stopped before keeping its
 * answer: all its lines are kept as sent. The answer is rebuilt from them and the journal
 * rows that carried them, which say how each upload went. */
static bool is_repeat(const struct his_call *call, const struct fee_flow *f)
{
    if (!call->idem_key[0] || f->lines.n == 0)
        return false;
    for (size_t i = 0; i < f->lines.n; i++)
        if (!kept_same(call, f, i))
            return false;
    return true;
}

/* One journaled upload: how it went, into f (its platform rows, refused, queued); 1 when the
 * platform refused it, 0, or an error. */
static int replay_upload(struct db *db, struct fee_flow *f, const char *msgid)
{
    struct journal_row *row = NULL;
    struct envelope_response env;
    struct jsonmap_error jerr;
    int err;

    f->chunks++;
    if ((err = journal_get(db, msgid, &row)) == POSA_ENOTFOUND) {
        f->queued = true; /* cannot be: a line is kept in its carrier's transaction */
        return 0;
    }
    if (err)
        return err;
    row = upstream_last_standin(db, row); /* resent after a reversal or a lost session */
    if (row->response &&
        envelope_response_parse(row->response, row->response_len, &env, &jerr) == 0) {
        if (row->state == MSG_DONE) {
            if (desk_fees_decode(env.output, on_platform_row, f, &jerr) < 0)
                split_answer_unreadable(f, &jerr);
        } else if (row->state == MSG_REFUSED && !f->refused)
            str_copy(f->refusal, sizeof(f->refusal), desk_refusal_words(&env));
        f->refused = f->refused || row->state == MSG_REFUSED;
        err = row->state == MSG_REFUSED; /* its lines are named in the answer */
        envelope_response_done(&env);
    } else if (row->state != MSG_DONE) {
        f->queued = true; /* queued, or its outcome is being resolved */
    }
    journal_row_free(row);
    return err;
}

/* Each upload that carried the request's lines, once. */
static int run_replay(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct fee_flow *f = call->flow;
    const char **msgids = malloc((f->lines.n ? f->lines.n : 1) * sizeof *msgids);
    int err = msgids ? 0 : -ENOMEM;

    for (size_t i = 0; i < f->lines.n && !err; i++)
        msgids[i] = kept_same(call, f, i)->upload_msgid;
    if (!err)
        qsort(msgids, f->lines.n, sizeof *msgids, str_ptr_cmp);
    for (size_t i = 0; i < f->lines.n && !err; i++) {
        if (i > 0 && strcmp(msgids[i], msgids[i - 1]) == 0)
            continue;
        if ((err = replay_upload(db, f, msgids[i])) == 1)
            for (size_t k = 0; k < f->lines.n && err == 1; k++)
                if (strcmp(kept_same(call, f, k)->upload_msgid, msgids[i]) == 0 &&
                    mark_refused(f, k, 1) < 0)
                    err = -ENOMEM;
        err = err == 1 ? 0 : err;
    }
    free(msgids);
    return err;
}

static void on_replayed(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);

    if (status)
        his_fail(call, status, NULL, NULL);
    else
        finish(call);
}

static void replay(struct his_call *call)
{
    struct fee_flow *f = call->flow;
    enum visit_kind kind = visit_kind_of(f);

    bill_init(&f->bill);
    for (size_t i = 0; i < f->lines.n; i++) {
        const struct his_fee_line *l = &f->lines.lines[i];
        const struct kept_line *k = kept_same(call, f, i);

        f->splits[i] = k->split;
        snprintf(f->sns[i], SN_MAX, "%.*s", SN_MAX - 1, k->feedetl_sn); /* posad's, F%06d */
        f->outside[i].id = FLAG__MAX;
        if (l->has_outside)
            flags_tag_outside(kind, &l->outside, &f->outside[i]);
        bill_add(&f->bill, &f->splits[i]);
    }
    his_db(call, run_replay, on_replayed);
}

/* The visit's settlement is being refunded: in a moment the visit takes fees again. Said as
 * retryable, and not kept under the request's key as its answer. */
static bool refund_on_its_way(struct his_call *call, const char *settled_id, bool refund_open)
{
    if (!desk_refund_on_its_way(settled_id, refund_open))
        return false;
    his_fail(call, POSA_EBUSY,
             "the visit's settlement is being refunded: send this again once it is", NULL);
    return true;
}

static int run_load(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct fee_flow *f = call->flow;
    int err = records_visit_get(db, his_param(call, 0), &f->visit);

    if (!err)
        err = records_lines_next_seq(db, f->visit->visit_id, &f->next_seq);
    if (!err)
        err = records_lines_list(db, f->visit->visit_id, collect_known, f);
    if (!err && f->n_kept)
        qsort(f->kept, f->n_kept, sizeof f->kept[0], kept_cmp);
    if (!err && f->n_gone)
        qsort(f->gone, f->n_gone, sizeof f->gone[0], gone_cmp);
    if (!err && f->n_gone)
        err = journal_visit_cancel_open(db, f->visit->visit_id, &f->cancel_open);
    if (!err)
        err = desk_settled_of(db, f->visit, f->settled_id, &f->refund_open);
    return err;
}

/* A line sent again while the cancel of the line it replaces is still on its way (queued,
 * its answer lost): should the platform refuse that cancel, the old line is on its bill
 * still, and replaced here it could never be cancelled or settled. Asked again once the
 * cancel is answered. */
static bool replaces_while_cancelling(struct his_call *call)
{
    struct fee_flow *f = call->flow;
    char message[200];

    if (!f->cancel_open)
        return false;
    for (size_t i = 0; i < f->lines.n; i++) {
        const char *id = f->lines.lines[i].his_line_id;

        if (!kept_find(f, id) && replaces(f, id)) {
            snprintf(message, sizeof message,
                     "line %s: the cancel of the line it replaces is still on its way to the "
                     "platform: send it again once that cancel is answered (GET /v1/queue)",
                     id);
            his_fail(call, POSA_EBUSY, message, NULL);
            return true;
        }
    }
    return false;
}

static void on_loaded(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct fee_flow *f = call->flow;
    enum visit_state state, next;

    if (!his_loaded(call, status, f->visit ? f->visit->desk : NULL))
        return;
    if (is_repeat(call, f)) { /* writes nothing: whatever the visit's state now */
        replay(call);
        return;
    }
    if (replaces_while_cancelling(call) || refund_on_its_way(call, f->settled_id, f->refund_open) ||
        desk_settling_busy(call, f->visit->state))
        return;
    if (visit_state_parse(f->visit->state, &state) < 0 ||
        visit_next(state, VISIT_EV_FEES, &next) < 0) {
        his_fail(call, POSA_ESTATE, "fees cannot be added to a visit that is settled or closed",
                 NULL);
        return;
    }
    f->infno = visit_kind_of(f) == VISIT_INPATIENT ? "2301" : "2204";
    if (split_all(call) < 0 || bill_too_large(call))
        return;
    str_copy(f->visit->state, sizeof(f->visit->state), visit_state_name(next));
    upload(call);
}

/* A line dated more than a day ahead is a typo in the year: refused, naming the line. */
static bool future_line(struct his_call *call, const struct fee_flow *f)
{
    for (size_t i = 0; i < f->lines.n; i++) {
        const char *t = f->lines.lines[i].time;
        int64_t when;
        char field[48];

        if (t && datetime_parse(t, strlen(t), &when) == 0 && desk_is_future(call->pd, when)) {
            snprintf(field, sizeof field, "lines[%zu].time", i);
            his_fail_at(call, POSA_EDATE, field,
                        "a line's time is on a day after today: check the date");
            return true;
        }
    }
    return false;
}

void desk_fees_upload(struct his_call *call)
{
    struct fee_flow *f = his_flow_new(call, sizeof *f, flow_free);
    struct jsonmap_error jerr = {0};
    struct desk *d = &call->pd->desk;
    int err;

    if (!f)
        return;
    if (!d->catalog_ready) {
        desk_catalog_refresh(d);
        his_fail(call, POSA_ENOT_READY, NULL, NULL);
        return;
    }
    if (fee_lines_parse(call->req->body, call->req->body_len, BOUND_LINES, &f->lines, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    if (future_line(call, f))
        return;
    if ((err = his_lock(call, his_param(call, 0))) < 0) {
        his_fail(call, err, NULL, NULL);
        return;
    }
    f->splits = calloc(f->lines.n, sizeof f->splits[0]);
    f->outside = calloc(f->lines.n, sizeof f->outside[0]);
    f->sns = calloc(f->lines.n, sizeof f->sns[0]);
    f->fees = calloc(f->lines.n, sizeof f->fees[0]);
    f->platform = calloc(f->lines.n, sizeof f->platform[0]);
    f->platform_rows = calloc(f->lines.n, sizeof f->platform_rows[0]);
    if (!f->splits || !f->outside || !f->sns || !f->fees || !f->platform || !f->platform_rows) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    his_db_read(call, run_load, on_loaded);
}

/* --- POST /v1/visits/{id}/fees/cancel ---------------------------------------------------- */

struct cancel_flow {
    struct fees_cancel_request req;
    struct visit_record *visit;
    struct json_object *active; /* his_line_id -> feedetl_sn of the visit's active lines */
    struct json_object *cancelled; /* his_line_ids of lines cancelled already (words) */
    const char **sns;           /* the lines to cancel */
    const char **ids;
    size_t n;
    bool queued;
    /* A repeat under its Idempotency-Key: the journaled cancel that carried the key. */
    bool repeat, repeat_other; /* found; found but for another request */
    char repeat_msgid[MSGID_LEN + 1];
    enum msg_state repeat_state; /* of its last stand-in */
    char refusal[256];
    char settled_id[RECORD_ID_MAX + 1]; /* a settled visit's settlement */
    bool refund_open;                   /* ... whose refund the journal has not finished */
};

static void cancel_free(void *p)
{
    struct cancel_flow *c = p;

    his_request_done(&c->req.root);
    records_visit_free(c->visit);
    json_object_put(c->active);
    json_object_put(c->cancelled);
    free(c->sns);
    free(c->ids);
    free(c);
}

static int collect_active(const struct line_record *line, void *data)
{
    struct cancel_flow *c = data;

    if (strcmp(line->state, "active") == 0)
        json_object_object_add(c->active, line->his_line_id,
                               json_object_new_string(line->feedetl_sn));
    else if (strcmp(line->state, "cancelled") == 0 && c->cancelled)
        json_object_object_add(c->cancelled, line->his_line_id, NULL);
    return 0;
}

static int collect_repeated(const struct line_record *line, void *data)
{
    struct cancel_flow *c = data;

    if (strcmp(line->cancel_msgid, c->repeat_msgid) == 0)
        json_object_object_add(c->active, line->his_line_id,
                               json_object_new_string(line->feedetl_sn));
    return 0;
}

/* The cancel journaled under the request's key (the key rides on its 2205/2302), when posad
 * stopped before it kept the answer: which lines it cancelled, and how it went (its last
 * stand-in: it is resent after a reversal). */
static int find_repeat(struct db *db, struct his_call *call, struct cancel_flow *c, const char *key)
{
    struct journal_row *row = NULL;
    struct envelope_response env;
    struct jsonmap_error jerr;
    int err = journal_get_by_idem(db, key, &row);

    if (err)
        return err == POSA_ENOTFOUND ? 0 : err;
    c->repeat = true;
    c->repeat_other = !row->idem_hash || strcmp(row->idem_hash, call->body_hash) != 0 ||
                      strcmp(row->visit_key, c->visit->visit_id) != 0;
    str_copy(c->repeat_msgid, sizeof(c->repeat_msgid), row->msgid);
    row = upstream_last_standin(db, row);
    c->repeat_state = row->state;
    if (row->state == MSG_REFUSED && row->response &&
        envelope_response_parse(row->response, row->response_len, &env, &jerr) == 0) {
        str_copy(c->refusal, sizeof(c->refusal), desk_refusal_words(&env));
        envelope_response_done(&env);
    }
    journal_row_free(row);
    return 0;
}

static void cancel_key(const struct his_call *call, char *key, size_t cap)
{
    snprintf(key, cap, "fees-cancel:%s", call->idem_key);
}

static int run_cancel_load(struct db *db, struct db_job *job)
{
    struct his_call *call = his_call_of_job(job);
    struct cancel_flow *c = call->flow;
    char key[UPMSG_IDEM_MAX + 1];
    int err = records_visit_get(db, his_param(call, 0), &c->visit);

    if (!err &&
        (!(c->active = json_object_new_object()) || !(c->cancelled = json_object_new_object())))
        err = -ENOMEM;
    if (!err && call->idem_key[0]) {
        cancel_key(call, key, sizeof key);
        err = find_repeat(db, call, c, key);
    }
    if (!err)
        err = records_lines_list(db, c->visit->visit_id,
                                 c->repeat ? collect_repeated : collect_active, c);
    if (!err)
        err = desk_settled_of(db, c->visit, c->settled_id, &c->refund_open);
    return err;
}

/* The cancel's admit_also: its lines are cancelled (and the visit open again when none is
 * left) in the commit that journals the message carrying it, so that no crash leaves a
 * cancel on its way with its lines still counted, or the reverse. A refusal gives them back
 * (desk_fees_applied). */
static int cancel_keep(struct db *db, struct upmsg *m)
{
    struct his_call *call = m->data;
    struct cancel_flow *c = call->flow;
    int err = records_lines_cancel(db, c->visit->visit_id, (const char *const *)c->ids, c->n,
                                   m->msgid);

    if (!err && (size_t)json_object_object_length(c->active) == c->n) {
        str_copy(c->visit->state, sizeof(c->visit->state), visit_state_name(VISIT_OPEN));
        err = records_visit_put(db, c->visit, upstream_now_ms());
    }
    return err;
}

static void cancel_answer(struct his_call *call)
{
    struct cancel_flow *c = call->flow;
    struct json_object *o, *ids;

    o = json_object_new_object();
    ids = json_object_new_array();
    for (size_t i = 0; i < c->n; i++)
        json_object_array_add(ids, json_object_new_string(c->ids[i]));
    json_object_object_add(o, "cancelled", ids);
    json_object_object_add(o, "state", json_object_new_string(c->queued ? "queued" : "uploaded"));
    his_reply(call, 200, o);
}

static void on_cancel_sent(struct upmsg *m)
{
    struct his_call *call = m->data;
    struct cancel_flow *c = call->flow;
    char msg[256];
    int err = desk_deferrable_outcome(m, &c->queued, msg, sizeof msg);

    upmsg_free(m);
    if (err) {
        fail_in_platform_words(call, err, msg);
        return;
    }
    cancel_answer(call);
}

/* The lines the request names, all active ones of this visit. */
static int cancel_pick(struct his_call *call, struct cancel_flow *c)
{
    size_t want = c->req.all ? (size_t)json_object_object_length(c->active) : c->req.n;

    c->sns = calloc(want ? want : 1, sizeof c->sns[0]);
    c->ids = calloc(want ? want : 1, sizeof c->ids[0]);
    if (!c->sns || !c->ids)
        return -ENOMEM;
    if (c->req.all) {
        json_object_object_foreach(c->active, id, sn)
        {
            c->ids[c->n] = id;
            c->sns[c->n++] = json_object_get_string(sn);
        }
        return c->n ? 0 : POSA_ENOSUCH;
    }
    for (size_t i = 0; i < c->req.n; i++) {
        struct json_object *sn = NULL;

        c->ids[i] = fees_cancel_request_id(&c->req, i);
        if (!json_object_object_get_ex(c->active, c->ids[i], &sn)) {
            char message[160];

            snprintf(message, sizeof message,
                     json_object_object_get_ex(c->cancelled, c->ids[i], NULL)
                         ? "line %s is cancelled already"
                         : "line %s is not an uploaded line of this visit",
                     c->ids[i]);
            his_fail(call, POSA_ENOSUCH, message, NULL);
            return 1;
        }
        c->sns[c->n++] = json_object_get_string(sn);
    }
    return 0;
}

/* A repeat answers as the first request would have, from the journal; nothing is sent. */
static void cancel_repeat(struct his_call *call, struct cancel_flow *c)
{
    int err;

    if (c->repeat_other) {
        his_fail(call, POSA_ECONFLICT, NULL, NULL);
        return;
    }
    if (c->repeat_state == MSG_REFUSED) {
        fail_in_platform_words(call, POSA_EUPSTREAM_REFUSED,
                               c->refusal[0] ? c->refusal : "refused");
        return;
    }
    /* c->active holds the lines it cancelled: picked as the request named them (the same
     * body), so the answer lists them in the first answer's order. */
    err = cancel_pick(call, c);
    if (err > 0)
        return; /* answered: it names a line the cancel did not carry */
    if (err < 0 && err != POSA_ENOSUCH) {
        his_fail(call, err, NULL, NULL);
        return;
    }
    c->queued = c->repeat_state != MSG_DONE; /* on its way, or being resolved */
    cancel_answer(call);
}

static void on_cancel_loaded(struct db_job *job, int status)
{
    struct his_call *call = his_call_of_job(job);
    struct cancel_flow *c = call->flow;
    const struct visit_identity *who;
    char key[UPMSG_IDEM_MAX + 1];
    bool inpatient;
    int err;

    if (!his_loaded(call, status, c->visit ? c->visit->desk : NULL))
        return;
    if (c->repeat) {
        cancel_repeat(call, c);
        return;
    }
    if (strcmp(c->visit->state, visit_state_name(VISIT_OPEN)) == 0) {
        his_fail(call, POSA_ENOSUCH, "there are no uploaded lines to cancel", NULL);
        return;
    }
    if (refund_on_its_way(call, c->settled_id, c->refund_open) ||
        desk_settling_busy(call, c->visit->state))
        return;
    if (strcmp(c->visit->state, visit_state_name(VISIT_BILLED)) != 0) {
        his_fail(call, POSA_ESTATE,
                 strcmp(c->visit->state, visit_state_name(VISIT_CLOSED)) == 0
                     ? "the visit is closed: its lines can no longer be cancelled"
                     : "the visit is settled: cancel the settlement first",
                 NULL);
        return;
    }
    if ((err = cancel_pick(call, c)) != 0) {
        if (err < 0)
            his_fail(call, err,
                     err == POSA_ENOSUCH ? "there are no uploaded lines to cancel" : NULL, NULL);
        return;
    }
    inpatient = visit_kind_named(c->visit->kind) == VISIT_INPATIENT;
    if (!inpatient && c->n != (size_t)json_object_object_length(c->active)) {
        his_fail(call, POSA_EFIELD,
                 "an outpatient visit's lines are cancelled together: send {\"all\":true}", NULL);
        return;
    }
    who = &c->visit->who;
    cancel_key(call, key, sizeof key);
    err = desk_send_hooked(call->pd, inpatient ? "2302" : "2205", who->insuplc_admdvs,
                           c->visit->visit_id, call->idem_key[0] ? key : NULL,
                           desk_fees_cancel_input(inpatient ? "2302" : "2205", who->psn_no,
                                                  c->visit->mdtrt_id, DESK_BCHNO, c->sns, c->n),
                           on_cancel_sent, call,
                           &(struct desk_hooks){.admit_also = cancel_keep,
                                                .rerunnable = true,
                                                .idem_hash = call->body_hash,
                                                .audit = "fees_cancel",
                                                .audit_by = call});
    if (err)
        his_fail(call, err, NULL, NULL);
}

void desk_fees_cancel(struct his_call *call)
{
    struct cancel_flow *c = his_flow_new(call, sizeof *c, cancel_free);
    struct jsonmap_error jerr = {0};
    int err;

    if (!c)
        return;
    if (fees_cancel_request_parse(call->req->body, call->req->body_len, &c->req, &jerr) < 0) {
        his_fail_field(call, &jerr);
        return;
    }
    if ((err = his_lock(call, his_param(call, 0))) < 0) {
        his_fail(call, err, NULL, NULL);
        return;
    }
    his_db(call, run_cancel_load, on_cancel_loaded);
}
