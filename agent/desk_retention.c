/* Retention: what posad deletes, and when (desk.h). One database job at a time, each
 * deleting at most RETENTION_BATCH rows of a table, again until a job finds less: a backlog
 * (the first run after an upgrade) never holds the database thread for long. And the sealing
 * of the personal data written before [posad] seal_key_file was set, in batches likewise. */
#include "agent/desk.h"
#include "agent/log.h"
#include "agent/posad.h"
#include "agent/seal.h"
#include "cache/db.h"
#include "cache/records.h"
#include "core/container_of.h"
#include "core/err.h"
#include "core/str.h"

#include <stdio.h>

#define DAY_MS          ((int64_t)24 * 3600 * 1000)
#define RETENTION_BATCH 1000
#define SEAL_BATCH      200
#define SEAL_LOG_EVERY  10000 /* rows sealed between two progress lines */

static int run_prune(struct db *db, struct db_job *job)
{
    struct desk *d = container_of(job, struct desk, retention_job);
    int64_t now = upstream_now_ms();
    int err = records_prune(db, now - DESK_IDENTITY_KEEP_MS,
                            now - (int64_t)d->pd->cfg.idempotency_days * DAY_MS, RETENTION_BATCH,
                            &d->retention_batch);

    /* The last batch of a pass through a backlog, which grew the WAL (its batches back to
     * back, it never started over): given back after this commit, not at the next write,
     * which at night may be hours away. (retention_deleted is the loop's, not written while
     * this job runs.) */
    if (!err && d->retention_batch < RETENTION_BATCH &&
        d->retention_deleted + d->retention_batch >= RETENTION_BATCH)
        db_wal_truncate_later(db);
    return err;
}

static void prune_next(struct desk *d);

static void on_pruned(struct db_job *job, int status)
{
    struct desk *d = container_of(job, struct desk, retention_job);
    char n[24];

    if (status) {
        d->retention_busy = false;
        log_event(LOGL_ERROR, "records_prune_failed", "error", posa_strerror(status), NULL);
        return;
    }
    d->retention_deleted += d->retention_batch;
    if (d->retention_batch >= RETENTION_BATCH && !d->pd->stopping) {
        prune_next(d); /* more left */
        return;
    }
    d->retention_busy = false;
    if (d->retention_deleted > 0) {
        snprintf(n, sizeof n, "%lld", (long long)d->retention_deleted);
        log_event(LOGL_INFO, "records_pruned", "rows", n, NULL);
    }
}

static void prune_next(struct desk *d)
{
    d->retention_batch = 0;
    d->retention_job = (struct db_job){.run = run_prune, .done = on_pruned};
    db_worker_submit(&d->pd->db, &d->retention_job);
}

void desk_seal_key_check(struct desk *d)
{
    const struct posad_config *cfg = &d->pd->cfg;
    struct seal_key *k = NULL;
    char why[256];

    if (!d->pd->seal_key)
        return;
    if (seal_key_load(cfg->seal_key_file, cfg->seal_cipher, &k, why, sizeof why) == 0 &&
        !seal_key_same(k, d->pd->seal_key))
        snprintf(why, sizeof why,
                 "it holds another key than the one the database is sealed "
                 "under: put that one back before posad stops, or the sealed "
                 "rows cannot be read at the next start");
    else if (k)
        why[0] = '\0';
    seal_key_free(k);
    if (why[0] && strcmp(why, d->seal_key_changed) != 0) /* once, not every check */
        log_event(LOGL_ERROR, "seal_key_changed", "file", cfg->seal_key_file, "error", why, NULL);
    str_copy(d->seal_key_changed, sizeof(d->seal_key_changed), why);
}

static void on_retention_timer(uv_timer_t *t)
{
    struct desk *d = t->data;

    desk_seal_key_check(d);
    if (d->retention_busy)
        return;
    d->retention_busy = true;
    d->retention_deleted = 0;
    prune_next(d);
}

static int run_seal(struct db *db, struct db_job *job)
{
    struct desk *d = container_of(job, struct desk, seal_job);

    int err =
        db_seal_plain_rows(db, &d->seal_cursor, SEAL_BATCH, &d->seal_batch, &d->seal_finished);

    /* The plain pages the pass overwrote leave the database file at the next checkpoint: at
     * once, not when the WAL has grown (hours on a quiet desk). The cursor moved: this start's
     * pass went through the tables, not found them done. */
    if (!err && d->seal_finished && d->seal_cursor.table > 0)
        db_worker_checkpoint_soon(&d->pd->db);
    return err;
}

static void seal_next(struct desk *d);

static void on_sealed(struct db_job *job, int status)
{
    struct desk *d = container_of(job, struct desk, seal_job);
    char n[24];

    if (status) {
        snprintf(d->seal_failed, sizeof d->seal_failed, "%s", posa_strerror(status));
        log_event(LOGL_ERROR, "plain_rows_seal_failed", "error", d->seal_failed, NULL);
        return; /* the next start takes it up again */
    }
    d->seal_rows += d->seal_batch;
    snprintf(n, sizeof n, "%lld", (long long)d->seal_rows);
    if (d->seal_finished) {
        if (d->seal_rows > 0)
            log_event(LOGL_INFO, "plain_rows_sealed", "rows", n, NULL);
        return;
    }
    if (d->seal_rows - d->seal_logged >= SEAL_LOG_EVERY) {
        d->seal_logged = d->seal_rows;
        log_event(LOGL_INFO, "plain_rows_sealing", "rows", n, NULL);
    }
    if (!d->pd->stopping)
        seal_next(d);
}

static void seal_next(struct desk *d)
{
    d->seal_job = (struct db_job){.run = run_seal, .done = on_sealed};
    db_worker_submit(&d->pd->db, &d->seal_job);
}

struct json_object *desk_sealing_json(const struct desk *d)
{
    struct json_object *o;

    if (!d->pd->seal_key)
        return NULL;
    o = json_object_new_object();
    json_object_object_add(o, "cipher", json_object_new_string(d->pd->cfg.seal_cipher));
    json_object_object_add(o, "plain_rows",
                           json_object_new_string(d->seal_failed[0]  ? "failed"
                                                  : d->seal_finished ? "none"
                                                                     : "sealing"));
    json_object_object_add(o, "rows_sealed", json_object_new_int64(d->seal_rows));
    json_object_object_add(o, "key_file",
                           json_object_new_string(d->seal_key_changed[0] ? "changed" : "same"));
    json_object_object_add(o, "last_error",
                           d->seal_failed[0]        ? json_object_new_string(d->seal_failed)
                           : d->seal_key_changed[0] ? json_object_new_string(d->seal_key_changed)
                                                    : NULL);
    return o;
}

void desk_retention_start(struct desk *d)
{
    if (d->pd->seal_key)
        seal_next(d);
    uv_timer_init(d->pd->loop, &d->retention_timer);
    d->retention_timer.data = d;
    uv_timer_start(&d->retention_timer, on_retention_timer, DESK_RETENTION_FIRST_MS,
                   DESK_RETENTION_EVERY_MS);
}

void desk_retention_stop(struct desk *d)
{
    uv_close((uv_handle_t *)&d->retention_timer, NULL);
}
