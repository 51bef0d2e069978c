/* The outbox drain: queued journal rows that are due go out (the head of each visit only,
 * so a visit's messages stay in order), within the configured rate limit; a failure puts a
 * row back with capped exponential backoff and jitter (core's msg_backoff_ms, applied by
 * upstream.c). Nothing drains while the platform is offline: the probe's success kicks the
 * outbox again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"
#include "agent/posad.h"
#include "interface/platform/messages.h"
#include "cache/journal.h"
#include "core/container_of.h"

static void outbox_drain(struct outbox *ob);

static void on_timer(uv_timer_t *t)
{
    outbox_drain(t->data);
}

/* Arms the timer for the next due row (or a second from now while rows wait on the rate
 * limit or the platform). */
static void outbox_arm(struct outbox *ob, uint64_t delay_ms)
{
    if (!ob->stopping)
        uv_timer_start(&ob->timer, on_timer, delay_ms, 0);
}

static void outbox_free_rows(struct outbox *ob)
{
    for (int i = 0; i < ob->n_rows; i++)
        journal_row_free(ob->rows[i]);
    free(ob->rows);
    ob->rows = NULL;
    ob->n_rows = 0;
}

static void outbox_batch_done(struct outbox *ob)
{
    int64_t now = upstream_now_ms();

    ob->draining = false;
    if (ob->n_rows > 0 && ob->sent == 0) {
        /* Due rows none of which could be handed over: not in a tight loop. */
        outbox_free_rows(ob);
        outbox_arm(ob, 1000);
        return;
    }
    if (ob->again || ob->n_rows > 0) {
        ob->again = false;
        outbox_free_rows(ob);
        outbox_arm(ob, 0);
        return;
    }
    outbox_free_rows(ob);
    /* Nothing went: either nothing is due before next_due, or what is due waits behind an
     * earlier message of its visit, whose end kicks the outbox (a second is the safety
     * net); never poll in a tight loop. */
    if (ob->next_due > now)
        outbox_arm(ob, (uint64_t)(ob->next_due - now));
    else if (ob->next_due > 0)
        outbox_arm(ob, 1000);
}

static void on_row_done(struct upmsg *m)
{
    struct outbox *ob = m->data;

    if (m->result == UPMSG_ANSWERED && m->state == MSG_REFUSED)
        log_event(LOGL_WARN, "outbox_refused", "msgid", m->msgid, "infno", m->infno, NULL);
    /* The platform split lines of an upload it sent otherwise (their split is kept): another
     * catalog than posad's, fetched again, as for a mismatch the HIS heard of. */
    if (m->split_mismatches > 0) {
        char n[16];

        snprintf(n, sizeof n, "%d", m->split_mismatches);
        log_event(LOGL_WARN, "split_mismatch", "visit", m->visit_key, "msgid", m->msgid, "lines", n,
                  NULL);
        desk_catalog_refresh_after_mismatch(&ob->pd->desk);
    }
    /* The HIS heard "queued": now it hears what the platform refused (a lost session is no
     * refusal: the message goes again). */
    if (m->result == UPMSG_ANSWERED && m->state == MSG_REFUSED && !m->session_refused)
        desk_refused_from_queue(&ob->pd->desk, m);
    /* A settlement that waited for the platform (wait_if_offline) now has its outcome. */
    /* ... and so has a message a reversal undid, once the platform took the reversal. */
    if (msg_kind_of(m->infno) == MSG_KIND_INTERACTIVE ||
        (m->state == MSG_DONE && strcmp(m->infno, "2601") == 0))
        desk_outcome_resolved(&ob->pd->desk, m->msgid);
    /* A refused reversal may have made its settlement unknown again (resolve.c). */
    if (m->state == MSG_REFUSED && strcmp(m->infno, "2601") == 0)
        resolver_kick(&ob->pd->resolver);
    upmsg_free(m);
    if (--ob->batch_left == 0)
        outbox_batch_done(ob);
}

static int collect(const struct journal_row *row, void *data)
{
    struct outbox *ob = data;
    struct journal_row *copy = calloc(1, sizeof *copy);

    if (row->damaged) { /* never sent: parked by run_due, logged by on_due */
        free(copy);
        if (ob->n_damaged < (int)(sizeof ob->damaged / sizeof ob->damaged[0]))
            memcpy(ob->damaged[ob->n_damaged++], row->msgid, sizeof row->msgid);
        return 0;
    }
    /* journal_due's rows are freed after the callback: keep a deep copy of what we need. */
    if (!copy)
        return -ENOMEM;
    *copy = *row;
    copy->idem_key = copy->idem_hash = copy->ref_msgid = copy->response = copy->last_error = NULL;
    copy->visit_key = strdup(row->visit_key);
    copy->request = malloc(row->request_len + 1);
    if (!copy->visit_key || !copy->request) {
        journal_row_free(copy);
        return -ENOMEM;
    }
    memcpy(copy->request, row->request, row->request_len + 1);
    ob->rows[ob->n_rows++] = copy;
    return 0;
}

static int run_due(struct db *db, struct db_job *job)
{
    struct outbox *ob = container_of(job, struct outbox, job);
    int64_t now = upstream_now_ms();
    char count[16];
    int err, moved = 0;

    ob->rows = calloc((size_t)ob->batch_size, sizeof *ob->rows);
    if (!ob->rows)
        return -ENOMEM;
    /* Due beyond any backoff: retries scheduled before the wall clock was set back (a zone
     * corrected, a step of NTP) would otherwise wait as long as it went back, and their
     * visits' later messages behind them. Looked for at the first pass (set back while posad
     * was stopped) and when the clock is seen to go back, not at every pass. */
    err = 0;
    if (now < ob->clock_seen || ob->clock_seen == 0) {
        err = journal_due_rebase(db, now, now + MSG_BACKOFF_MAX_MS, &moved);
        if (!err && moved > 0) {
            snprintf(count, sizeof count, "%d", moved);
            log_event(LOGL_WARN, "outbox_clock_went_back", "rows", count, NULL);
        }
    }
    if (!err) {
        ob->clock_seen = now;
        err = journal_next_due(db, &ob->next_due);
    }
    /* Nothing queued, or nothing due yet: the visit-ordered scan (a recursive query over
     * the open rows, the outbox's costliest statement, run after every message of a visit
     * ends) would find nothing. */
    ob->n_damaged = 0;
    if (!err && ob->next_due > 0 && ob->next_due <= now)
        err = journal_due(db, now, ob->batch_size, collect, ob);
    for (int i = 0; !err && i < ob->n_damaged; i++)
        err = journal_park(db, ob->damaged[i], now, JOURNAL_DAMAGED);
    return err;
}

static void on_due(struct db_job *job, int status)
{
    struct outbox *ob = container_of(job, struct outbox, job);
    struct upstream *up = &ob->pd->up;

    for (int i = 0; !status && i < ob->n_damaged; i++)
        log_event(LOGL_ERROR, "journal_row_damaged", "msgid", ob->damaged[i], "error",
                  JOURNAL_DAMAGED "; it waits in the queue, its visit's later messages behind it",
                  NULL);
    /* The session may have been lost while the batch was read: its rows would go with no
     * sign_no, be refused and come back. The sign-in kicks the outbox once it is back. */
    if (status || ob->stopping || !up->sign_no[0]) {
        outbox_free_rows(ob);
        ob->draining = false;
        outbox_arm(ob, 1000);
        return;
    }
    ob->tokens -= ob->n_rows;
    ob->sent = 0;
    ob->batch_left = ob->n_rows + 1; /* +1 until the loop below is over */
    for (int i = 0; i < ob->n_rows; i++) {
        struct upmsg *m = upmsg_new(ob->rows[i]->infno, on_row_done, ob);

        if (m)
            m->from_queue = true;
        if (m && strcmp(m->infno, "2601") == 0) {
            m->apply_also = resolve_reversal_applied;
            m->hooks_rerunnable = true; /* it looks at the row's state first */
        }
        if (!m || upstream_send_row(up, m, ob->rows[i]) != 0) {
            upmsg_free(m);
            ob->batch_left--;
            continue;
        }
        ob->sent++;
    }
    if (--ob->batch_left == 0)
        outbox_batch_done(ob);
}

/* Refills the token bucket; returns how many messages may go now. */
static int outbox_budget(struct outbox *ob)
{
    uint32_t rate = ob->pd->cfg.rate_limit;
    uint64_t now = uv_now(ob->pd->loop);
    double burst = rate >= 10 ? rate / 10.0 : 1.0;

    if (rate == 0)
        return (int)ob->pd->cfg.drain_batch;
    ob->tokens += (double)(now - ob->tokens_at) * rate / 1000.0;
    ob->tokens_at = now;
    /* At most a tenth of a second's worth in a burst (at least one message): with a second's,
     * the first second after an idle spell carried twice the limit (the burst, then the
     * refill), and any second at most 1.1 times the limit now. */
    if (ob->tokens > burst)
        ob->tokens = burst;
    return ob->tokens >= 1 ? (int)ob->tokens : 0;
}

static void outbox_drain(struct outbox *ob)
{
    struct upstream *up = &ob->pd->up;
    int budget;

    if (ob->stopping)
        return;
    if (ob->draining) {
        ob->again = true;
        return;
    }
    if (up->health == UPSTREAM_OFFLINE || !up->sign_no[0])
        return; /* the probe kicks us when the platform is back */
    budget = outbox_budget(ob);
    if (budget == 0) {
        outbox_arm(ob, 1000 / ob->pd->cfg.rate_limit + 1);
        return;
    }
    ob->batch_size = budget < (int)ob->pd->cfg.drain_batch ? budget : (int)ob->pd->cfg.drain_batch;
    ob->draining = true;
    ob->n_rows = 0;
    ob->job = (struct db_job){.run = run_due, .done = on_due};
    db_worker_submit(&ob->pd->db, &ob->job);
}

void outbox_init(struct outbox *ob, struct posad *pd)
{
    memset(ob, 0, sizeof *ob);
    ob->pd = pd;
    uv_timer_init(pd->loop, &ob->timer);
    ob->timer.data = ob;
    ob->tokens_at = uv_now(pd->loop);
}

void outbox_kick(struct outbox *ob)
{
    if (!ob->stopping && !ob->draining)
        outbox_arm(ob, 0);
    else if (ob->draining)
        ob->again = true;
}

void outbox_stop(struct outbox *ob)
{
    ob->stopping = true;
    uv_timer_stop(&ob->timer);
    uv_close((uv_handle_t *)&ob->timer, NULL);
}
