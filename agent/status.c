/* GET /v1/health and GET /v1/queue (his-api.md): the platform's health and the outbox,
 * read on the database thread like everything on disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/posad.h"
#include "cache/db.h"
#include "cache/journal.h"
#include "core/datetime.h"
#include "core/err.h"

#define QUEUE_LIST_MAX 1000

struct status_job {
    struct db_job job;
    struct posad *pd;
    struct his_call *call;
    struct journal_stats stats;
    struct db *db;            /* GET /v1/queue's rows are listed on the database thread */
    struct json_object *rows; /* built on the database thread, handed over whole */
    int64_t after, limit;     /* GET /v1/queue's page: rows after seq `after`, at most limit */
    int64_t last_seq;
    bool truncated;
    bool offline; /* the platform is: a queued row waits for it, not for next_attempt */
};

#define QUEUE_WAITS_OFFLINE "waiting for the platform (offline): it goes once the platform answers"

static void status_time(int64_t ms, char buf[32])
{
    datetime_format(datetime_of_unix(ms / 1000), buf);
}

static int run_stats(struct db *db, struct db_job *job)
{
    struct status_job *sj = (struct status_job *)job;

    return journal_stats(db, &sj->stats);
}

static void on_stats(struct db_job *job, int status)
{
    struct status_job *sj = (struct status_job *)job;
    struct upstream *up = &sj->pd->up;
    struct json_object *body = json_object_new_object(), *u = json_object_new_object(),
                       *q = json_object_new_object();
    char when[32];

    bool full = db_worker_full(&sj->pd->db), failed = db_worker_failed(&sj->pd->db);
    bool damaged = sj->pd->db.damaged || status == POSA_EDAMAGED;
    bool key_changed = sj->pd->desk.seal_key_changed[0] != '\0'; /* the next start fails */

    json_object_object_add(
        body, "status",
        json_object_new_string(status || full || damaged || key_changed ? "degraded" : "ok"));
    json_object_object_add(body, "version", json_object_new_string(POSA_VERSION));
    json_object_object_add(body, "database",
                           json_object_new_string(failed    ? "failed"
                                                  : damaged ? "damaged"
                                                  : full    ? "full"
                                                            : "ok"));
    json_object_object_add(u, "state", json_object_new_string(upstream_health_name(up->health)));
    if (up->last_ok_ms) {
        status_time(up->last_ok_ms, when);
        json_object_object_add(u, "last_ok", json_object_new_string(when));
    } else {
        json_object_object_add(u, "last_ok", NULL);
    }
    json_object_object_add(u, "rtt_ms", json_object_new_int64(up->rtt_ms));
    json_object_object_add(u, "signing_in", json_object_new_boolean(up->signing_in));
    json_object_object_add(u, "sign_in_refused",
                           up->sign_in_refusal[0] ? json_object_new_string(up->sign_in_refusal)
                                                  : NULL);
    json_object_object_add(body, "upstream", u);
    if (!status) {
        int64_t age = sj->stats.oldest_at ? (upstream_now_ms() - sj->stats.oldest_at) / 1000 : 0;
        json_object_object_add(q, "depth", json_object_new_int64(sj->stats.depth));
        json_object_object_add(q, "oldest_age_s", json_object_new_int64(age < 0 ? 0 : age));
        json_object_object_add(q, "unknown", json_object_new_int64(sj->stats.unknown));
    } else {
        json_object_object_add(q, "error", json_object_new_string(posa_strerror(status)));
    }
    json_object_object_add(body, "queue", q);
    json_object_object_add(body, "readers", desk_readers_json(&sj->pd->desk));
    json_object_object_add(body, "catalog", desk_catalog_json(&sj->pd->desk));
    json_object_object_add(body, "sealing", desk_sealing_json(&sj->pd->desk));
    /* A failed database refuses every request until a restart, a damaged one those that
     * touch the damage: a probe that reads only the status code (curl -f, a load balancer)
     * must see it. */
    his_reply(sj->call, failed || damaged ? 503 : 200, body);
    free(sj);
}

void status_health(struct his_call *call)
{
    struct status_job *sj = calloc(1, sizeof *sj);

    if (!sj) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    sj->pd = call->pd;
    sj->call = call;
    sj->job = (struct db_job){.run = run_stats, .done = on_stats};
    db_worker_submit(&sj->pd->db, &sj->job);
}

/* Why a queued row with no failure of its own has not gone, into buf: the earlier message
 * of its visit it waits behind (a visit's messages go in order: the chunks after a failing
 * first one), or the failure of the message it stands in for (sent again after a lost
 * answer). "" when neither. */
static void queued_why(struct db *db, const struct journal_row *row, char *buf, size_t cap)
{
    char msgid[MSGID_LEN + 1], infno[JOURNAL_INFNO_MAX + 1], cause[256];

    buf[0] = '\0';
    if (row->visit_key && row->visit_key[0] && journal_ahead(db, row, msgid, infno) == 0)
        snprintf(buf, cap,
                 "waiting behind %s (%s), an earlier message of its visit: a visit's "
                 "messages go in order",
                 msgid, infno);
    else if (row->ref_msgid && journal_last_error(db, row->ref_msgid, cause, sizeof cause) == 0 &&
             cause[0])
        snprintf(buf, cap, "sent in place of %s: %s", row->ref_msgid, cause);
}

static int add_row(const struct journal_row *row, void *data)
{
    struct status_job *sj = data;
    struct json_object *o = json_object_new_object();
    char when[32], why[512] = "";

    json_object_object_add(o, "msgid", json_object_new_string(row->msgid));
    json_object_object_add(o, "infno", json_object_new_string(row->infno));
    json_object_object_add(o, "visit_id", json_object_new_string(row->visit_key));
    json_object_object_add(o, "state", json_object_new_string(msg_state_name(row->state)));
    json_object_object_add(o, "attempts", json_object_new_int64(row->attempts));
    status_time(row->next_attempt, when);
    json_object_object_add(o, "next_attempt", row->next_attempt && !row->damaged
                                                  ? json_object_new_string(when)
                                                  : NULL);
    json_object_object_add(o, "seq", json_object_new_int64(row->seq)); /* for ?after= */
    if (row->state == MSG_QUEUED && !row->damaged && !row->last_error && !sj->offline)
        queued_why(sj->db, row, why, sizeof why);
    /* Last: posactl's table cuts every column but the last, and the cause is the one a
     * reader needs whole. */
    json_object_object_add(o, "last_error",
                           row->damaged      ? json_object_new_string(JOURNAL_DAMAGED)
                           : row->last_error ? json_object_new_string(row->last_error)
                           : row->state == MSG_QUEUED && sj->offline
                               ? json_object_new_string(QUEUE_WAITS_OFFLINE)
                           : why[0] ? json_object_new_string(why)
                                    : NULL);
    if (json_object_array_length(sj->rows) < (size_t)sj->limit) {
        json_object_array_add(sj->rows, o);
        sj->last_seq = row->seq;
    } else {
        json_object_put(o);
        sj->truncated = true; /* the row past the page: there is more */
    }
    return 0;
}

static int run_queue(struct db *db, struct db_job *job)
{
    struct status_job *sj = (struct status_job *)job;
    int err;

    sj->db = db;
    sj->rows = json_object_new_array();
    if (!sj->rows)
        return -ENOMEM;
    err = journal_list(db, MSG__MAX, sj->after, (int)sj->limit + 1, add_row, sj);
    return err;
}

static void on_queue(struct db_job *job, int status)
{
    struct status_job *sj = (struct status_job *)job;
    struct json_object *body;

    if (status) {
        json_object_put(sj->rows);
        his_fail(sj->call, status, NULL, NULL);
    } else {
        body = json_object_new_object();
        /* Nothing leaves while the platform is offline, whatever next_attempt says. */
        json_object_object_add(body, "upstream",
                               json_object_new_string(upstream_health_name(sj->pd->up.health)));
        json_object_object_add(body, "rows", sj->rows);
        json_object_object_add(body, "truncated", json_object_new_boolean(sj->truncated));
        if (sj->truncated) /* the next page: ?after= this */
            json_object_object_add(body, "next_after", json_object_new_int64(sj->last_seq));
        his_reply(sj->call, 200, body);
    }
    free(sj);
}

void status_queue(struct his_call *call)
{
    struct status_job *sj;
    int64_t after, limit;

    if (his_every_desk(call, QUEUE_EVERY_DESK) < 0 ||
        his_query_number(call, "after", 0, INT64_MAX, 0, &after) < 0 ||
        his_query_number(call, "limit", 1, QUEUE_LIST_MAX, QUEUE_LIST_MAX, &limit) < 0)
        return;
    sj = calloc(1, sizeof *sj);
    if (!sj) {
        his_fail(call, -ENOMEM, NULL, NULL);
        return;
    }
    sj->after = after;
    sj->limit = limit;
    sj->offline = call->pd->up.health == UPSTREAM_OFFLINE; /* the loop's, read here */
    sj->pd = call->pd;
    sj->call = call;
    sj->job = (struct db_job){.run = run_queue, .done = on_queue};
    db_worker_submit(&sj->pd->db, &sj->job);
}
