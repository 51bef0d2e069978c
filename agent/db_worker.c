/* The database thread: group commit of the jobs the loop hands over, results back through
 * uv_async. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "agent/db_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <unistd.h>

#include "cache/db.h"
#include "core/container_of.h"
#include "core/err.h"

static void list_push(struct db_job_list *l, struct db_job *job)
{
    job->next = NULL;
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
}

/* Appends all of from to to, leaving from empty. */
static void list_move(struct db_job_list *to, struct db_job_list *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

/* Ends the savepoint open for the last job(s): released when ok, else rolled back. When
 * SQLite can do neither, the whole transaction is rolled back, so that no write a status
 * does not account for can commit (every job of the group then fails at the commit). */
static int savepoint_end(struct db *db, bool ok)
{
    int err = ok ? db_savepoint_release(db) : db_savepoint_rollback(db);

    if (err)
        db_rollback(db);
    return err;
}

/* job in its own savepoint: a failure rolls back its writes alone. */
static void run_alone(struct db *db, struct db_job *job)
{
    int64_t before = db_changes(db);
    int err;

    if ((job->status = db_savepoint(db)) != 0)
        return;
    job->status = job->run(db, job);
    job->wrote = db_changes(db) != before;
    err = savepoint_end(db, job->status == 0);
    if (!job->status)
        job->status = err;
}

/* The rerunnable jobs from first on, under one savepoint; returns the job after them. */
static struct db_job *run_rerunnable(struct db *db, struct db_job *first)
{
    struct db_job *end = first, *job, *failed;
    int err = db_savepoint(db);

    while (end && end->rerunnable)
        end = end->next;
    for (job = first; job != end && err; job = job->next)
        job->status = err;
    if (err)
        return end;
    for (job = first; job != end; job = job->next) {
        int64_t before = db_changes(db);

        job->status = job->run(db, job);
        job->wrote = db_changes(db) != before;
        if (!db_in_transaction(db)) {
            /* SQLite took the transaction back by itself (disk full, I/O): nothing after
             * may run, or it would write outside one. */
            job->status = job->status ? job->status : -EIO;
            break;
        }
        if (job->status && job->wrote)
            break; /* its writes cannot be taken back alone */
    }
    if (job == end) {
        err = savepoint_end(db, true);
        for (job = first; job != end && err; job = job->next)
            job->status = job->status ? job->status : err;
        return end;
    }
    /* Back to before the run; those before failed that wrote, and those after it, run
     * alone. (With the transaction gone, each of them fails to open its savepoint.) */
    failed = job;
    savepoint_end(db, false);
    for (job = first; job != failed; job = job->next)
        if (job->wrote && !job->status)
            run_alone(db, job);
    for (job = failed->next; job != end; job = job->next)
        run_alone(db, job);
    return end;
}

/* One group: BEGIN, every job, COMMIT. True when it committed. */
static bool db_worker_run_group(struct db_worker *w, struct db_job *head)
{
    int err = db_begin(w->db);

    for (struct db_job *job = head; job && err; job = job->next)
        job->status = err;
    if (err)
        return false;
    for (struct db_job *job = head; job;) {
        if (job->rerunnable) {
            job = run_rerunnable(w->db, job);
        } else {
            run_alone(w->db, job);
            job = job->next;
        }
    }
    err = db_commit(w->db);
    if (!err)
        return true;
    db_rollback(w->db);
    for (struct db_job *job = head; job; job = job->next)
        if (!job->status)
            job->status = err;
    return false;
}

/* --- checkpoints ------------------------------------------------------------------------ */

static void checkpointer_thread(void *arg)
{
    struct db_worker *w = arg;
    int copied;

    uv_mutex_lock(&w->lock);
    for (;;) {
        while (!w->checkpoint_wanted && !w->truncate_wanted && !w->stopping)
            uv_cond_wait(&w->checkpoint_wake, &w->lock);
        if (!w->checkpoint_wanted && !w->truncate_wanted)
            break; /* stopping */
        /* A truncate copies what a checkpoint would, and then gives the file back. */
        bool truncate = w->truncate_wanted;
        w->checkpoint_wanted = w->truncate_wanted = false;
        w->checkpoint_running = true;
        uv_mutex_unlock(&w->lock);
        copied = truncate ? db_wal_truncate_aside(w->db) : db_checkpoint_aside(w->db);
        uv_mutex_lock(&w->lock);
        w->checkpoint_copied = copied;
        w->checkpoint_running = false;
        w->checkpoints++;
    }
    uv_mutex_unlock(&w->lock);
}

/* After a commit, under lock: hands the checkpointer the WAL once it has grown to
 * checkpoint_due, and again while it is behind by more than the rest. True when the database
 * thread is to copy the rest itself (db_checkpoint, outside the lock). */
static bool checkpoint_if_due(struct db_worker *w)
{
    int frames = db_wal_frames(w->db);

    if (w->checkpoint_running)
        return false;
    if (w->checkpoint_copied < 0) { /* it failed: again once the WAL has grown as much again */
        w->checkpoint_due = frames + DB_WORKER_CHECKPOINT_FRAMES;
        w->checkpoint_copied = 0;
    }
    if (w->checkpoint_copied > 0) {
        if (frames - w->checkpoint_copied <= DB_WORKER_CHECKPOINT_REST) {
            w->checkpoint_copied = 0;
            w->checkpoint_due = DB_WORKER_CHECKPOINT_FRAMES;
            return true;
        }
    } else if (frames < w->checkpoint_due) {
        return false;
    }
    w->checkpoint_running = w->checkpoint_wanted = true;
    uv_cond_signal(&w->checkpoint_wake);
    return false;
}

/* Joins the checkpointer (after its checkpoint, when one is running). */
static void checkpointer_stop(struct db_worker *w)
{
    uv_mutex_lock(&w->lock);
    w->stopping = true;
    w->checkpoint_wanted = false;
    uv_cond_signal(&w->checkpoint_wake);
    uv_mutex_unlock(&w->lock);
    uv_thread_join(&w->checkpointer);
}

/* --- the syncer ---------------------------------------------------------------------------- */

/* Syncs the WAL behind the database thread: one fdatasync for every group that committed
 * since the last, whose jobs then go to the loop. The descriptor is the WAL's own (it stays
 * open while the database thread's connection is), so the sync touches no SQLite state.
 *
 * A failed sync stops the worker for good (sync_failed). Linux may drop the dirty pages a
 * failed fdatasync could not write and call them clean, so frames of commits already
 * published may be missing on disk, and WAL recovery stops at the first frame missing:
 * every later commit would go with them on a power cut, though its own sync succeeded. So
 * the jobs of that sync, of every sync after, and every job the database thread gets after
 * it fail with POSA_EDB until posad restarts and recovers what the disk holds. */
static void syncer_thread(void *arg)
{
    struct db_worker *w = arg;
    struct db_job_list batch = {0};
    bool failed;
    int err, fd, sync_errno;

    uv_mutex_lock(&w->lock);
    for (;;) {
        while (!w->syncing.head && !w->syncer_stopping)
            uv_cond_wait(&w->sync_wake, &w->lock);
        if (!w->syncing.head)
            break; /* stopping, and nothing left */
        list_move(&batch, &w->syncing);
        fd = w->wal_fd;
        failed = w->sync_failed;
        uv_mutex_unlock(&w->lock);
        /* Failed, the commits may or may not be on disk: their jobs fail, as a FULL
         * commit's would, and what they wrote is resolved as after a crash. */
        sync_errno = failed || fdatasync(fd) == 0 ? 0 : errno;
        err = failed || sync_errno ? POSA_EDB : 0;
        uv_mutex_lock(&w->lock);
        w->syncs += !failed;
        if (sync_errno)
            w->sync_errno = sync_errno;
        w->sync_failed = err != 0;
        for (struct db_job *job = batch.head; job; job = job->next)
            if (!job->status)
                job->status = err;
        list_move(&w->finished, &batch);
        uv_async_send(&w->finished_async);
    }
    uv_mutex_unlock(&w->lock);
}

/* Joins the syncer, once the database thread has ended: it syncs what is left first. */
static void syncer_stop(struct db_worker *w)
{
    uv_mutex_lock(&w->lock);
    w->syncer_stopping = true;
    uv_cond_signal(&w->sync_wake);
    uv_mutex_unlock(&w->lock);
    uv_thread_join(&w->syncer);
}

/* --- the database thread ------------------------------------------------------------------ */

/* Appends the lazy jobs of from to to, each list in its order. */
static void list_take_lazy(struct db_job_list *to, struct db_job_list *from)
{
    struct db_job_list rest = {0};
    struct db_job *job, *next;

    for (job = from->head; job; job = next) {
        next = job->next;
        list_push(job->lazy ? to : &rest, job);
    }
    *from = rest;
}

/* Commits group and hands its jobs on: the lazy ones to the loop, the others to the syncer
 * (all to the loop when the commit failed, or in memory). Called and returns under lock. */
static void run_and_hand_over(struct db_worker *w, struct db_job_list *group)
{
    uint64_t n = 0;
    bool committed, copy_rest = false;

    if (w->sync_failed) { /* nothing commits after a failed sync (syncer_thread) */
        for (struct db_job *job = group->head; job; job = job->next)
            job->status = POSA_EDB;
        list_move(&w->finished, group);
        uv_async_send(&w->finished_async);
        return;
    }
    uv_mutex_unlock(&w->lock);
    for (struct db_job *job = group->head; job; job = job->next)
        n++;
    committed = db_worker_run_group(w, group->head);

    uv_mutex_lock(&w->lock);
    /* Full from a write that failed for space until one that wrote commits (reads go on
     * succeeding on a full disk). */
    for (struct db_job *job = group->head; job; job = job->next) {
        if (job->status == -ENOSPC)
            w->full = true;
        else if (committed && job->wrote && !job->status)
            w->full = false;
    }
    if (committed) {
        w->commits++;
        w->jobs += n;
        copy_rest = checkpoint_if_due(w);
        if (db_wal_truncate_taken(w->db)) { /* a job asked: the checkpointer does it */
            w->truncate_wanted = true;
            uv_cond_signal(&w->checkpoint_wake);
        }
    }
    if (committed && w->wal_fd >= 0) {
        list_take_lazy(&w->finished, group);
        if (group->head) {
            list_move(&w->syncing, group);
            uv_cond_signal(&w->sync_wake);
        }
    } else {
        list_move(&w->finished, group);
    }
    if (w->finished.head)
        uv_async_send(&w->finished_async);
    if (copy_rest) {
        uv_mutex_unlock(&w->lock);
        /* A failure leaves the WAL longer; the checkpointer goes on as it grows. */
        db_checkpoint(w->db);
        uv_mutex_lock(&w->lock);
    }
}

/* Everything waiting is one group; the thread goes on to the next while the syncer syncs
 * the last behind it. */
static void db_worker_thread(void *arg)
{
    struct db_worker *w = arg;
    struct db_job_list group = {0};

    uv_mutex_lock(&w->lock);
    for (;;) {
        while (!w->pending.head && !w->stopping)
            uv_cond_wait(&w->wake, &w->lock);
        if (!w->pending.head)
            break; /* stopping, and nothing left */
        list_move(&group, &w->pending);
        run_and_hand_over(w, &group);
    }
    uv_mutex_unlock(&w->lock);
}

/* uv_async coalesces sends, so this drains everything finished so far. */
static void on_finished(uv_async_t *handle)
{
    struct db_worker *w = container_of(handle, struct db_worker, finished_async);
    struct db_job_list done = {0};
    struct db_job *job, *next;
    uint64_t now;
    bool failed;
    int sync_errno;

    uv_mutex_lock(&w->lock);
    list_move(&done, &w->finished);
    failed = w->sync_failed;
    sync_errno = w->sync_errno;
    uv_mutex_unlock(&w->lock);
    now = uv_hrtime();
    if (failed && !w->failure_told) {
        w->failure_told = true;
        if (w->on_failed)
            w->on_failed(w, sync_errno);
    }
    for (job = done.head; job; job = next) {
        next = job->next; /* done may free or resubmit the job */
        if (--w->in_flight == 0)
            uv_unref((uv_handle_t *)&w->finished_async);
        metrics_histogram_observe(&w->job_latency, (now - job->submitted_ns) / 1000);
        if (job->status == POSA_EDAMAGED && !w->damaged) { /* SQLite's word, not a value's */
            w->damaged = true;
            if (w->on_damaged)
                w->on_damaged(w);
        }
        job->done(job, job->status);
    }
}

/* Runs right before libuv polls: all that this turn submitted goes to the thread as one
 * group. */
static void on_turn_end(uv_prepare_t *handle)
{
    struct db_worker *w = container_of(handle, struct db_worker, turn_end);

    if (!w->open.head)
        return;
    uv_mutex_lock(&w->lock);
    list_move(&w->pending, &w->open);
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
}

/* A thread named as top -H and ps -L show it (at most 15 characters). */
static int start_thread(uv_thread_t *t, void (*run)(void *), void *arg, const char *name)
{
    int err = uv_thread_create(t, run, arg);

    if (!err)
        pthread_setname_np(*t, name);
    return err;
}

int db_worker_start(struct db_worker *w, uv_loop_t *loop, struct db *db)
{
    int err;

    *w = (struct db_worker){.loop = loop, .db = db, .checkpoint_due = DB_WORKER_CHECKPOINT_FRAMES};
    err = db_checkpointer_open(db);
    if (!err)
        err = db_wal_fd(db, &w->wal_fd);
    if (!err) /* the syncer syncs; a commit does not */
        err = db_set_lazy(db, true);
    if (err)
        return err;
    err = uv_mutex_init(&w->lock);
    if (err)
        return err;
    err = uv_cond_init(&w->wake);
    if (err)
        goto out_mutex;
    err = uv_cond_init(&w->checkpoint_wake);
    if (err)
        goto out_cond;
    err = uv_cond_init(&w->sync_wake);
    if (err)
        goto out_checkpoint_cond;
    err = start_thread(&w->checkpointer, checkpointer_thread, w, "posad-ckpt");
    if (err)
        goto out_sync_cond;
    err = start_thread(&w->syncer, syncer_thread, w, "posad-sync");
    if (err)
        goto out_checkpointer;
    err = uv_async_init(loop, &w->finished_async, on_finished);
    if (err)
        goto out_syncer;
    uv_unref((uv_handle_t *)&w->finished_async); /* referenced only while jobs are out */
    uv_prepare_init(loop, &w->turn_end);
    uv_prepare_start(&w->turn_end, on_turn_end);
    uv_unref((uv_handle_t *)&w->turn_end);
    err = start_thread(&w->thread, db_worker_thread, w, "posad-db");
    if (err)
        goto out_handles;
    return 0;
out_handles:
    /* Closing needs loop turns; the caller's loop runs them. The db stays the caller's. */
    uv_close((uv_handle_t *)&w->finished_async, NULL);
    uv_close((uv_handle_t *)&w->turn_end, NULL);
out_syncer:
    syncer_stop(w);
out_checkpointer:
    checkpointer_stop(w);
out_sync_cond:
    uv_cond_destroy(&w->sync_wake);
out_checkpoint_cond:
    uv_cond_destroy(&w->checkpoint_wake);
out_cond:
    uv_cond_destroy(&w->wake);
out_mutex:
    uv_mutex_destroy(&w->lock);
    return err;
}

uint64_t db_worker_syncs(struct db_worker *w)
{
    uint64_t n;

    uv_mutex_lock(&w->lock);
    n = w->syncs;
    uv_mutex_unlock(&w->lock);
    return n;
}

/* A flag of w's, read under its lock (the database and syncer threads set them). */
static bool flag_read(struct db_worker *w, const bool *flag)
{
    bool value;

    uv_mutex_lock(&w->lock);
    value = *flag;
    uv_mutex_unlock(&w->lock);
    return value;
}

bool db_worker_full(struct db_worker *w)
{
    return flag_read(w, &w->full);
}

void db_worker_checkpoint_soon(struct db_worker *w)
{
    uv_mutex_lock(&w->lock);
    if (!w->checkpoint_running && w->checkpoint_copied == 0)
        w->checkpoint_due = 1;
    uv_mutex_unlock(&w->lock);
}

bool db_worker_failed(struct db_worker *w)
{
    return flag_read(w, &w->sync_failed);
}

void db_worker_submit(struct db_worker *w, struct db_job *job)
{
    job->status = 0;
    job->submitted_ns = uv_hrtime();
    list_push(&w->open, job);
    if (w->in_flight++ == 0)
        uv_ref((uv_handle_t *)&w->finished_async);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct db_worker *w = handle->data;

    /* The prepare handle closes last (closed second, callbacks run in order). */
    if (handle == (uv_handle_t *)&w->turn_end && w->on_closed)
        w->on_closed(w);
}

void db_worker_stop(struct db_worker *w, void (*on_closed)(struct db_worker *w))
{
    uv_mutex_lock(&w->lock);
    list_move(&w->pending, &w->open);
    w->stopping = true;
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
    uv_thread_join(&w->thread);
    syncer_stop(w);
    on_finished(&w->finished_async);
    checkpointer_stop(w);

    db_close(w->db);
    w->db = NULL;
    uv_cond_destroy(&w->sync_wake);
    uv_cond_destroy(&w->checkpoint_wake);
    uv_cond_destroy(&w->wake);
    uv_mutex_destroy(&w->lock);
    w->on_closed = on_closed;
    w->finished_async.data = w;
    w->turn_end.data = w;
    uv_close((uv_handle_t *)&w->finished_async, on_handle_closed);
    uv_close((uv_handle_t *)&w->turn_end, on_handle_closed);
}
