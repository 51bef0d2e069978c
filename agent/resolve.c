/* Resolution of unknown outcomes (architecture.md, "Durability and exactly-once"): one row
 * at a time, oldest first, except that a row whose question the platform refused goes
 * behind the others until they are done (after_seq). A settlement is looked for with 5203:
 * found -> done; absent -> reversed; the question refused for another reason (a lost
 * session, a busy platform) -> asked again later, as that says nothing about the
 * settlement. Anything else unknown is reversed straight away. "Reversed" journals, in the
 * same transaction, a 2601 naming the original msgid and, for an upload (which must not be
 * lost), the same upload again under a new msgid, after the backoff of the attempts before
 * it; both take the original's place in its visit's order, so the visit's later messages
 * still wait behind them. A settlement whose
 * 2601 the platform refuses (a reversal the day after, or of a settlement that landed after
 * the question) may stand after all: it is unknown again and asked about once more; found,
 * it is done; absent again, or the question refused, it stays reversed without a second
 * 2601, and an operator must look (reversal_refused). A settlement cancel (2208, 2305) is
 * reversed when unknown; if that 2601 is refused too, the cancel may have landed, and 5203
 * asks about the settlement it cancelled: no longer valid (vali_flag 0), the cancel is done
 * and recorded; still valid, it stays reversed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/audit.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "cache/db.h"
#include "cache/journal.h"
#include "interface/platform/client.h"
#include "interface/platform/desk_msgs.h"
#include "interface/platform/messages.h"
#include "core/str.h"

#define RESOLVE_RETRY_MS 2000
#define RESOLVE_RETRY_MAX_MS     60000 /* the longest wait after questions that did not get through */
#define RESOLVE_REFUSED_RETRY_MS 10000 /* after a refused question: the platform's reason */

struct resolve_job {
    struct db_job job;
    struct resolver *rs;
    const struct journal_row *row; /* the resolver's, valid until it goes idle */
    enum msg_event ev;
    char *response; /* for QUERY_FOUND */
    size_t response_len;
    struct upmsg *reversal; /* envelope of the 2601, or NULL */
    struct upmsg *again;    /* the upload again, or NULL */
};

static void resolver_next(struct resolver *rs);

static void on_timer(uv_timer_t *t)
{
    resolver_kick(t->data);
}

static void resolver_idle(struct resolver *rs, uint64_t retry_ms)
{
    rs->busy = false;
    journal_row_free(rs->row);
    rs->row = NULL;
    if (rs->stopping)
        return;
    if (rs->again) {
        rs->again = false;
        uv_timer_start(&rs->timer, on_timer, 0, 0);
    } else if (retry_ms) {
        uv_timer_start(&rs->timer, on_timer, retry_ms, 0);
    }
}

/* A question (5203) that did not get through: asked again after 2 s, then 4, 8, ... up to a
 * minute while none gets through. A gateway failing every message but the sign-in had it
 * asked every 2 s for as long as it lasted. Going online kicks the resolver at once still. */
static void resolver_unanswered(struct resolver *rs)
{
    unsigned n = rs->unanswered < 5 ? rs->unanswered : 5;
    uint64_t wait = (uint64_t)RESOLVE_RETRY_MS << n;

    rs->unanswered++;
    resolver_idle(rs, wait < RESOLVE_RETRY_MAX_MS ? wait : RESOLVE_RETRY_MAX_MS);
}

/* --- applying the verdict ------------------------------------------------------------- */

/* m in row's place: a 2601 goes at once; a resend (resend true) goes on from the attempts
 * and the first time of the message it stands in for, so it waits their backoff. A gateway
 * that answers one upload with HTTP 500 every time had it reversed and sent again some
 * 1,000 times a second, each a new message with no attempts behind it. */
static int insert_msg(struct db *db, struct upmsg *m, const struct journal_row *row, bool resend)
{
    int64_t now = upstream_now_ms();
    struct journal_new in = {
        .msgid = m->msgid,
        .infno = m->infno,
        .visit_key = row->visit_key,
        .ref_msgid = row->msgid,
        .ord_of = row->msgid,
        .request = m->body,
        .request_len = m->body_len,
        .next_attempt = resend ? now + msg_backoff_ms(row->attempts, (uint32_t)rand()) : now,
        .attempts = resend ? row->attempts : 0,
        .created_at = resend ? row->created_at : 0};
    int err = journal_insert(db, &in, now);

    /* Its answer was more than posad reads: the same message would be answered so again,
     * and reversed and sent again forever (a passthrough upload of 45,000 lines). Parked
     * for an operator; `posactl retry` sends it once more. */
    if (!err && resend && row->last_error && strstr(row->last_error, PLATFORM_ANSWER_TOO_BIG))
        err = journal_park(db, m->msgid, now,
                           "parked: the platform's answer to the message it resends was larger "
                           "than 16 MiB, and would be again: split it (fewer lines), or "
                           "posactl retry to send it once more");
    return err;
}

static int run_verdict(struct db *db, struct db_job *job)
{
    struct resolve_job *rj = (struct resolve_job *)job;
    struct journal_outcome out = {.response = rj->response, .response_len = rj->response_len};
    int err;

    /* Its settlement's record says unknown first (it may still say pending or queued: posad
     * stopped while it was out), so that its history shows the step. */
    err = desk_settlement_unknown(db, rj->row->msgid);
    if (!err)
        err = journal_apply(db, rj->row->msgid, rj->ev, &out, upstream_now_ms(), NULL);
    /* A cancel found landed: no desk flow waits for it, so its settlement is recorded here,
     * in the same transaction (the 5203 answer kept is the evidence, not a cancel's answer). */
    if (!err && rj->ev == MSG_EV_QUERY_FOUND && rj->rs->cancel)
        err = desk_cancel_landed(db, rj->row->msgid, rj->row->request);
    if (!err && rj->reversal && (err = insert_msg(db, rj->reversal, rj->row, false)) == 0)
        err = audit_standin(db, "reverse", rj->row->msgid, rj->reversal->msgid);
    if (!err && rj->again && (err = insert_msg(db, rj->again, rj->row, true)) == 0)
        err = audit_standin(db, "resend", rj->row->msgid, rj->again->msgid);
    return err;
}

static void on_verdict(struct db_job *job, int status)
{
    struct resolve_job *rj = (struct resolve_job *)job;
    struct resolver *rs = rj->rs;

    if (!status && rj->ev == MSG_EV_QUERY_ABSENT && rs->reopened)
        log_event(LOGL_ERROR, "reversal_refused_absent", "msgid", rj->row->msgid, "infno",
                  rj->row->infno, NULL); /* neither found nor reversible: an operator looks */
    log_event(status ? LOGL_ERROR : LOGL_INFO, "outcome_resolved", "msgid", rj->row->msgid, "infno",
              rj->row->infno, "verdict", rj->ev == MSG_EV_QUERY_FOUND ? "done" : "reversed",
              "reversal", rj->reversal ? rj->reversal->msgid : NULL, "resent_as",
              rj->again ? rj->again->msgid : NULL, "error", status ? posa_strerror(status) : NULL,
              NULL);
    if (!status)
        desk_outcome_resolved(&rs->pd->desk, rj->row->msgid); /* settlement_resolved */
    upmsg_free(rj->reversal);
    upmsg_free(rj->again);
    free(rj->response);
    free(rj);
    if (!status)
        outbox_kick(&rs->pd->outbox);
    resolver_idle(rs, status ? RESOLVE_RETRY_MS : 0);
    if (!status)
        resolver_kick(rs);
}

static void resolver_verdict(struct resolver *rs, enum msg_event ev, char *response, size_t len)
{
    struct resolve_job *rj = calloc(1, sizeof *rj);
    struct upstream *up = &rs->pd->up;
    const struct journal_row *row = rs->row;

    if (!rj) {
        free(response);
        resolver_idle(rs, RESOLVE_RETRY_MS);
        return;
    }
    rj->rs = rs;
    rj->row = row;
    rj->ev = ev;
    rj->response = response;
    rj->response_len = len;
    if (ev == MSG_EV_QUERY_ABSENT) {
        struct json_object *orig = json_tokener_parse(row->request);
        struct json_object *input = NULL, *data;
        struct envelope_head head = {0};
        const char *psn_no = NULL;
        /* A reversal is never itself reversed: it is sent again. A query changed nothing
         * upstream: nothing to reverse. A settlement whose reversal was refused is not
         * reversed a second time. */
        bool reverse =
            strcmp(row->infno, "2601") != 0 && row->kind != MSG_KIND_QUERY && !rs->reopened;

        if (orig && json_object_object_get_ex(orig, "input", &input))
            psn_no = upstream_find_string(input, "psn_no");
        if (orig)
            head.insuplc_admdvs = upstream_find_string(orig, "insuplc_admdvs");
        if (reverse) {
            rj->reversal = upmsg_new("2601", NULL, NULL);
            input = json_object_new_object();
            data = json_object_new_object();
            json_object_object_add(data, "psn_no", json_object_new_string(psn_no ? psn_no : ""));
            json_object_object_add(data, "omsgid", json_object_new_string(row->msgid));
            json_object_object_add(data, "oinfno", json_object_new_string(row->infno));
            json_object_object_add(input, "data", data);
            if (!rj->reversal || upstream_envelope(up, rj->reversal, &head, input) != 0) {
                upmsg_free(rj->reversal);
                rj->reversal = NULL;
            }
        }
        if (row->kind == MSG_KIND_DEFERRABLE) {
            rj->again = upmsg_new(row->infno, NULL, NULL);
            if (rj->again && upstream_next_msgid(up, rj->again->msgid) == 0 &&
                upstream_restamp(row->request, row->request_len, rj->again->msgid, NULL,
                                 &rj->again->body, &rj->again->body_len) == 0) {
                /* ok */
            } else {
                upmsg_free(rj->again);
                rj->again = NULL;
            }
        }
        json_object_put(orig);
        if ((reverse && !rj->reversal) || (row->kind == MSG_KIND_DEFERRABLE && !rj->again)) {
            upmsg_free(rj->reversal);
            upmsg_free(rj->again);
            free(rj);
            resolver_idle(rs, RESOLVE_RETRY_MS);
            return;
        }
    }
    rj->job = (struct db_job){.run = run_verdict, .done = on_verdict};
    db_worker_submit(&rs->pd->db, &rj->job);
}

/* --- asking the platform (5203) -------------------------------------------------------- */

/* Is text (a msgid) any string value in o (depth-bounded walk)? */
static bool json_mentions(struct json_object *o, const char *text, int depth)
{
    if (!o || depth > 5)
        return false;
    if (json_object_is_type(o, json_type_string))
        return strcmp(json_object_get_string(o), text) == 0;
    if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n && i < 256; i++)
            if (json_mentions(json_object_array_get_idx(o, i), text, depth + 1))
                return true;
        return false;
    }
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (json_mentions(v, text, depth + 1))
                return true;
        }
    }
    return false;
}

/* Does a refused 5203 say there is no such settlement? The sandbox says "not found"; the
 * provincial platforms say it in Chinese. */
static bool says_not_found(const char *err_msg)
{
    static const char *const markers[] = {"not found", "未找到", "不存在", "未查询到", "无结算"};

    for (size_t i = 0; err_msg && i < sizeof markers / sizeof markers[0]; i++)
        if (strstr(err_msg, markers[i]))
            return true;
    return false;
}

static void on_query(struct upmsg *m)
{
    struct resolver *rs = m->data;
    struct envelope_response env;
    struct jsonmap_error jerr;
    bool found, absent, impossible = false;

    if (rs->stopping || m->result != UPMSG_ANSWERED || !m->response ||
        envelope_response_parse(m->response, m->response_len, &env, &jerr) != 0) {
        /* The question did not get through: ask again later. */
        upmsg_free(m);
        resolver_unanswered(rs);
        return;
    }
    rs->unanswered = 0;
    if (rs->cancel) {
        /* Landed when the settlement no longer stands; an answer that does not say ends it
         * as it stands (for an operator, logged); a refusal is asked again later, as the
         * platform's word is all that can tell. */
        int stands = env.infcode == 0 ? desk_settlement_stands(env.output, rs->setl_id) : -1;

        found = stands == 0;
        absent = env.infcode == 0
                     ? stands != 0
                     : says_not_found(env.err_msg) && !upstream_is_session_refusal(env.err_msg);
    } else {
        found = env.infcode == 0 && json_mentions(env.output, rs->row->msgid, 0);
        /* A lost session may be worded "签到信息不存在": it says nothing about the settlement. */
        absent = env.infcode == 0
                     ? !found
                     : says_not_found(env.err_msg) && !upstream_is_session_refusal(env.err_msg);
        /* Found, with amounts that cannot be (desk_answer_possible logs which): not taken,
         * or the row would be done and its settlement left unknown with nothing asking
         * again; asked again later, as a refused question is. */
        if (found &&
            !desk_answer_possible(rs->row->infno, rs->row->msgid, rs->row->request, env.output)) {
            found = false; /* and not absent either */
            impossible = true;
        }
    }
    /* A reopened settlement is asked once: a question refused for another reason than a lost
     * session ends it as absent would (reversed, and no second 2601), rather than holding
     * the resolver's other rows behind it. Not a cancel: ending it so would say the
     * settlement stands when the cancel may have landed, and nothing would ask again. */
    if (!found && !absent && rs->reopened && !rs->cancel && !impossible &&
        !upstream_is_session_refusal(env.err_msg))
        absent = true;
    if (!found && !absent) {
        /* Reversing now could undo a settlement that stands: the row stays unknown. */
        if (impossible) /* found, with what cannot be (desk_answer_possible logged why) */
            log_event(LOGL_WARN, "outcome_query_impossible", "msgid", rs->row->msgid, "action",
                      "asked again later", NULL);
        else
            log_event(LOGL_WARN, "outcome_query_refused", "msgid", rs->row->msgid, "err_msg",
                      env.err_msg, NULL);
        rs->after_seq = rs->row->seq;
        rs->refused_until = upstream_monotonic_ms() + RESOLVE_REFUSED_RETRY_MS;
        envelope_response_done(&env);
        upmsg_free(m);
        resolver_idle(rs, RESOLVE_REFUSED_RETRY_MS);
        return;
    }
    envelope_response_done(&env);
    if (found) {
        char *resp = m->response;
        size_t len = m->response_len;
        m->response = NULL;
        upmsg_free(m);
        resolver_verdict(rs, MSG_EV_QUERY_FOUND, resp, len);
    } else {
        upmsg_free(m);
        resolver_verdict(rs, MSG_EV_QUERY_ABSENT, NULL, 0);
    }
}

static void resolver_query(struct resolver *rs)
{
    const struct journal_row *row = rs->row;
    struct json_object *orig = json_tokener_parse(row->request), *oin = NULL, *input;
    struct envelope_head head = {0};
    const char *psn_no = NULL, *mdtrt_id = NULL, *setl_id = NULL;
    struct upmsg *m = upmsg_new("5203", on_query, rs);

    if (orig && json_object_object_get_ex(orig, "input", &oin)) {
        psn_no = upstream_find_string(oin, "psn_no");
        mdtrt_id = upstream_find_string(oin, "mdtrt_id");
        if (rs->cancel && (setl_id = upstream_find_string(oin, "setl_id")) != NULL)
            str_copy(rs->setl_id, sizeof(rs->setl_id), setl_id);
    }
    if (orig)
        head.insuplc_admdvs = upstream_find_string(orig, "insuplc_admdvs");
    input = desk_settlement_input(psn_no, mdtrt_id, rs->setl_id);
    if (m)
        str_copy(m->ref_msgid, sizeof(m->ref_msgid), row->msgid);
    /* No visit key: the question must not wait behind the very row it is about. */
    if (!m || upstream_submit(&rs->pd->up, m, &head, input) != 0) {
        upmsg_free(m);
        resolver_unanswered(rs);
    }
    json_object_put(orig);
}

/* --- picking the next unknown row --------------------------------------------------- */

static int keep_first(const struct journal_row *row, void *data)
{
    struct resolver *rs = data;
    struct journal_row *copy;

    if (row->damaged) { /* cannot be asked about: passed over, the next one is picked */
        rs->after_seq = row->seq;
        return 0;
    }
    if (!(copy = calloc(1, sizeof *copy)))
        return -ENOMEM;
    *copy = *row;
    copy->idem_key = copy->idem_hash = copy->ref_msgid = copy->response = NULL;
    copy->visit_key = strdup(row->visit_key);
    copy->request = malloc(row->request_len + 1);
    /* Why its outcome was lost: a resend of one whose answer was too big is parked. */
    copy->last_error = row->last_error ? strdup(row->last_error) : NULL;
    if (!copy->visit_key || !copy->request || (row->last_error && !copy->last_error)) {
        journal_row_free(copy);
        return -ENOMEM;
    }
    memcpy(copy->request, row->request, row->request_len + 1);
    rs->row = copy;
    return 1; /* one is enough */
}

static int run_pick(struct db *db, struct db_job *job)
{
    struct resolver *rs = (struct resolver *)((char *)job - offsetof(struct resolver, job));
    struct journal_row *rev = NULL;
    int err = journal_list(db, MSG_UNKNOWN, rs->after_seq, 1, keep_first, rs);

    /* None after the refused row: from the oldest again, once its wait is over. */
    if (err == 0 && rs->after_seq && upstream_monotonic_ms() >= rs->refused_until) {
        rs->after_seq = 0;
        err = journal_list(db, MSG_UNKNOWN, 0, 1, keep_first, rs);
    }
    if (err != 1)
        return err;
    /* An unknown row with a 2601 already is a settlement reopened by its reversal's refusal
     * (resolve_reversal_applied): it is never reversed a second time. */
    err = journal_get_standin(db, rs->row->msgid, "2601", &rev);
    rs->reopened = err == 0;
    journal_row_free(rev);
    return err == POSA_ENOTFOUND ? 0 : err;
}

int resolve_reversal_applied(struct db *db, struct upmsg *m)
{
    struct journal_row *row = NULL, *prev = NULL;
    const struct message_info *info;
    int err;

    if (m->state != MSG_REFUSED || m->session_refused)
        return 0; /* a lost session says nothing of the reversal: it goes again */
    /* Best effort, in a savepoint: failing to reopen leaves the settlement unknown for an
     * operator, as before; it must never cost the refusal its record (the 2601 would be
     * unknown, and sent again). */
    if (db_savepoint(db) < 0)
        return 0;
    /* Back through the 2601s sent again (each stands in for the one before) to the original. */
    err = journal_get(db, m->msgid, &row);
    for (int hops = 0; !err && strcmp(row->infno, "2601") == 0 && hops < 16; hops++) {
        if (!row->ref_msgid || (err = journal_get(db, row->ref_msgid, &prev)) < 0)
            break;
        journal_row_free(row);
        row = prev;
        prev = NULL;
    }
    if (!err && row->state == MSG_REVERSED && (info = messages_find(row->infno)) &&
        (info->settlement || info->cancel))
        err = journal_apply(db, row->msgid, MSG_EV_REVERSAL_REFUSED, NULL, upstream_now_ms(), NULL);
    if (err && err != POSA_ENOTFOUND)
        log_event(LOGL_ERROR, "reversal_refused_unrecorded", "msgid", m->msgid, "error",
                  posa_strerror(err), NULL);
    journal_row_free(row);
    if (err)
        db_savepoint_rollback(db);
    else
        db_savepoint_release(db);
    return 0;
}

static void on_pick(struct db_job *job, int status)
{
    struct resolver *rs = (struct resolver *)((char *)job - offsetof(struct resolver, job));
    const struct message_info *info;

    if (status || !rs->row || rs->stopping) {
        /* Only a refused row left, still waiting: it is asked once the wait is over. */
        int64_t wait = rs->after_seq ? rs->refused_until - upstream_monotonic_ms() : 0;

        if (!status && !rs->row)
            rs->unanswered = 0; /* nothing left to ask: the next one starts at 2 s */
        resolver_idle(rs, status          ? RESOLVE_RETRY_MS
                          : rs->after_seq ? (uint64_t)(wait > 1 ? wait : 1)
                                          : 0);
        return;
    }
    log_event(LOGL_INFO, "outcome_resolving", "msgid", rs->row->msgid, "infno", rs->row->infno,
              NULL);
    info = messages_find(rs->row->infno);
    rs->cancel = info && info->cancel;
    if (info && (info->settlement || (info->cancel && rs->reopened)))
        resolver_query(rs);
    else
        resolver_verdict(rs, MSG_EV_QUERY_ABSENT, NULL, 0);
}

static void resolver_next(struct resolver *rs)
{
    struct upstream *up = &rs->pd->up;

    /* Asking needs the platform; reversing only journals, but its 2601 needs it too. */
    if (up->health == UPSTREAM_OFFLINE || !up->sign_no[0]) {
        resolver_idle(rs, RESOLVE_RETRY_MS);
        return;
    }
    rs->row = NULL;
    rs->reopened = false;
    rs->cancel = false;
    rs->setl_id[0] = '\0';
    rs->job = (struct db_job){.run = run_pick, .done = on_pick};
    db_worker_submit(&rs->pd->db, &rs->job);
}

void resolver_init(struct resolver *rs, struct posad *pd)
{
    memset(rs, 0, sizeof *rs);
    rs->pd = pd;
    uv_timer_init(pd->loop, &rs->timer);
    rs->timer.data = rs;
}

void resolver_kick(struct resolver *rs)
{
    if (rs->stopping)
        return;
    if (rs->busy) {
        rs->again = true;
        return;
    }
    rs->busy = true;
    resolver_next(rs);
}

void resolver_stop(struct resolver *rs)
{
    rs->stopping = true;
    uv_timer_stop(&rs->timer);
    uv_close((uv_handle_t *)&rs->timer, NULL);
}
