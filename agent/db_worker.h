/* The database thread with group commit (architecture.md, "Concurrency"): the loop hands
 * it jobs; every job waiting when the thread wakes runs in one transaction and one commit
 * covers them all, and each job's done callback then runs on the loop thread (uv_async).
 * The loop never touches the disk.
 *
 * The fsync is pipelined: the database thread commits without one (synchronous=NORMAL; the
 * frames are in the WAL file when the commit returns) and goes on with the next group, while
 * a syncer thread fdatasyncs the WAL behind it, once for every group committed meanwhile.
 * A job's done callback runs only after the sync that followed its commit, unless the job
 * is lazy: then right after the commit. Before, the thread waited for a FULL commit's fsync
 * with the next group's jobs waiting behind it.
 * A failed sync stops the worker: its jobs and every job after fail with POSA_EDB until
 * posad restarts, since a WAL with frames missing loses every commit after them.
 *
 * A failing job rolls back alone. Each job runs in its own savepoint, except a run of
 * rerunnable jobs in a row, which shares one: a savepoint copies every page a job touches
 * aside, which cost a fifth of the thread when every job had one. When a job of such a run
 * fails after writing, the run is rolled back, the jobs before it that wrote run again
 * (each in its own savepoint then), and so do those after it.
 *
 * Checkpoints run on a thread of their own (db_checkpointer_open, cache/db.h): once a commit
 * leaves DB_WORKER_CHECKPOINT_FRAMES in the WAL, that thread copies them back into the
 * database while the database thread goes on committing.
 *
 * Jobs move, never shared: the owner fills one, submits it, and must not touch it until
 * its done callback runs. Jobs submitted in one loop turn are handed over together right
 * before the loop polls (a uv_prepare), so a burst of requests shares one fsync. */
#ifndef POSA_AGENT_DB_WORKER_H
#define POSA_AGENT_DB_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "interface/his/metrics.h"

struct db;
struct db_job;

/* Runs on the database thread inside the group's transaction; returns 0 or an error (its
 * writes are then rolled back alone). Must not touch loop state. */
typedef int (*db_job_run_fn)(struct db *db, struct db_job *job);
/* Runs on the loop thread once the group committed (status 0) or failed: status is run's
 * error, or the commit's (-ENOSPC on a full disk, ...) when run succeeded but the commit
 * did not. */
typedef void (*db_job_done_cb)(struct db_job *job, int status);

struct db_job {
    db_job_run_fn run;
    db_job_done_cb done;
    void *data;
    /* The job's done callback does not wait for the fsync behind its commit: its writes
     * survive a crash of the process at once, and a power cut from the next sync on. For
     * writes a power cut may lose because a restart recovers them (a platform's answer:
     * the row stays `sent`, becomes `unknown`, and is resolved by query), and for a job
     * that only reads. Never for what must be on disk before something leaves. */
    bool lazy;
    /* run may be called twice: when it wrote, and a later job of its run failed after
     * writing, its writes are rolled back and it runs again. A rerunnable run sets its
     * outputs afresh (overwrites, never appends or leaks what the first call made). */
    bool rerunnable;
    /* private */
    struct db_job *next;
    uint64_t submitted_ns; /* uv_hrtime() at db_worker_submit */
    int status;
    bool wrote;
};

struct db_job_list {
    struct db_job *head;
    struct db_job *tail;
};

/* SQLite's automatic checkpoint's size; DB_WORKER_CHECKPOINT_REST: what the database thread
 * copies itself after the checkpointer, so that the WAL starts over. */
#define DB_WORKER_CHECKPOINT_FRAMES 1000
#define DB_WORKER_CHECKPOINT_REST   256

struct db_worker {
    uv_loop_t *loop;
    struct db *db; /* owned; used only on the database thread once started */
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    /* The checkpointer thread; its fields are under lock. */
    uv_thread_t checkpointer;
    uv_cond_t checkpoint_wake;
    bool checkpoint_wanted, checkpoint_running;
    bool truncate_wanted;  /* a job asked for the WAL to be given back (db_wal_truncate_later) */
    int checkpoint_copied; /* frames the last one copied (< 0: it failed) */
    int checkpoint_due;    /* WAL frames at which the next one starts */
    uint64_t checkpoints;  /* run by the checkpointer (its test counts them) */
    /* The syncer thread; its fields are under lock. */
    uv_thread_t syncer;
    uv_cond_t sync_wake;
    struct db_job_list syncing; /* committed, waiting for the WAL's fsync */
    bool syncer_stopping;
    bool sync_failed; /* a sync failed: every job fails from then on (syncer_thread) */
    bool full;        /* the last group failed for a full disk (-ENOSPC); under lock */
    int sync_errno;   /* why it failed */
    int wal_fd;     /* the WAL's (db_wal_fd); -1 in memory: nothing to sync */
    uint64_t syncs; /* read like commits */
    uv_async_t finished_async;
    uv_prepare_t turn_end;
    struct db_job_list open;     /* loop only: submitted this turn */
    struct db_job_list pending;  /* under lock: for the thread */
    struct db_job_list finished; /* under lock: for the loop */
    bool stopping;               /* under lock */
    int in_flight;               /* loop only */
    struct metrics_histogram job_latency; /* loop only: submission to done (GET /metrics) */
    /* Groups committed and the jobs they carried, written by the thread under lock; read
     * them after db_worker_stop(), or from a job (it runs on that thread). */
    uint64_t commits;
    uint64_t jobs;
    void (*on_closed)(struct db_worker *w);
    /* Set by the owner (may be NULL): runs on the loop once, when it first learns that a sync
     * failed, before the done callbacks that carry it; err is the sync's errno. */
    void (*on_failed)(struct db_worker *w, int err);
    bool failure_told; /* loop only */
    /* A job met a damaged page (POSA_EDAMAGED): posad goes on, for what the damage spares,
     * but says so (health 503) from then on, on_damaged told once. Loop only. */
    void (*on_damaged)(struct db_worker *w);
    bool damaged;
};

/* Takes ownership of db and starts the thread. */
int db_worker_start(struct db_worker *w, uv_loop_t *loop, struct db *db);

/* The syncer's fsyncs so far; any thread. */
uint64_t db_worker_syncs(struct db_worker *w);
/* True once a sync of the WAL failed: every job fails with POSA_EDB from then on, until
 * posad restarts (see syncer_thread); any thread. */
bool db_worker_failed(struct db_worker *w);
/* True while the disk is full: from a job (or its group's commit) failing with -ENOSPC until
 * a job that wrote commits; any thread. */
bool db_worker_full(struct db_worker *w);
/* The next commit hands the WAL to the checkpointer whatever its size, so that what was just
 * written replaces in the database file the pages it overwrote (sealing's pass: the plain
 * ones); any thread. */
void db_worker_checkpoint_soon(struct db_worker *w);

/* Loop thread only. The job runs in this turn's group. */
void db_worker_submit(struct db_worker *w, struct db_job *job);

/* Loop thread only: runs every job submitted so far, joins the thread (blocking the loop
 * until the last commit), calls the done callbacks, closes the database and the handles;
 * on_closed (may be NULL) runs once they are closed. */
void db_worker_stop(struct db_worker *w, void (*on_closed)(struct db_worker *w));

#endif
