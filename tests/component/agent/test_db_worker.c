/* agent/db_worker.c with a real SQLite file and a real loop: bursts of writes from the
 * loop land in few transactions, done callbacks run on the loop thread after the commit,
 * one failing job rolls back alone (in its own savepoint, or among rerunnable jobs by
 * running the others again), and the loop closes empty. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "agent/db_worker.h"
#include "cache/db.h"
#include "cache/journal.h"
#include "core/err.h"
#include "tests/component/tmpdb.h"

#define BURSTS    5
#define PER_BURST 200
#define N_JOBS    (BURSTS * PER_BURST)

struct write_job {
    struct db_job job;
    char msgid[MSGID_LEN + 1];
    bool fail;       /* insert, then fail: must roll back alone */
    bool fail_early; /* fail before writing: nothing to roll back, nobody runs again */
    bool lose_txn;   /* roll the transaction back (as SQLite does on disk full), return 0 */
    int runs;
    bool done;
    int status;
    uv_thread_t done_thread;
};

struct fx {
    struct tmpdb tmp;
    uv_loop_t loop;
    struct db_worker worker;
    uv_timer_t timer;
    struct write_job jobs[N_JOBS];
    int next_burst, per_burst, bursts; /* start_bursts */
    bool wait_for_checkpoints; /* no burst while one is in flight or the checkpointer copies */
    uint64_t last_burst_ms;
    int done_count;
    bool closed;
};

static struct fx *g_fx;

static int run_insert(struct db *db, struct db_job *job)
{
    struct write_job *wj = job->data;
    struct journal_new in = {
        .msgid = wj->msgid, .infno = "2204", .visit_key = "v", .request = "{}", .request_len = 2};
    int err;

    wj->runs++;
    if (wj->fail_early)
        return POSA_ENOTFOUND;
    if (wj->lose_txn)
        return db_rollback(db) ? POSA_EDB : 0;
    err = journal_insert(db, &in, 1);

    return err ? err : wj->fail ? POSA_EFIELD : 0;
}

static void on_job_done(struct db_job *job, int status)
{
    struct write_job *wj = job->data;

    wj->done = true;
    wj->status = status;
    wj->done_thread = uv_thread_self();
    g_fx->done_count++;
}

static bool checkpoint_running(struct db_worker *w)
{
    bool running;

    uv_mutex_lock(&w->lock);
    running = w->checkpoint_running;
    uv_mutex_unlock(&w->lock);
    return running;
}

static void on_burst(uv_timer_t *timer)
{
    struct fx *fx = timer->data;
    int b;

    /* Waits 10 s at most: a checkpointer that never finishes then fails the WAL's bound. */
    if (fx->wait_for_checkpoints && uv_now(&fx->loop) - fx->last_burst_ms < 10000 &&
        (fx->done_count < fx->next_burst * fx->per_burst || checkpoint_running(&fx->worker)))
        return;
    fx->last_burst_ms = uv_now(&fx->loop);
    b = fx->next_burst++;
    for (int i = b * fx->per_burst; i < (b + 1) * fx->per_burst; i++)
        db_worker_submit(&fx->worker, &fx->jobs[i].job);
    if (fx->next_burst == fx->bursts)
        uv_timer_stop(timer);
}

/* Submits fx->jobs in bursts of per, each from one timer callback (one loop turn), every
 * interval_ms. */
static void start_bursts(struct fx *fx, int per, int bursts, uint64_t interval_ms)
{
    fx->per_burst = per;
    fx->bursts = bursts;
    fx->timer.data = fx;
    uv_timer_init(&fx->loop, &fx->timer);
    uv_timer_start(&fx->timer, on_burst, 0, interval_ms);
}

static void on_worker_closed(struct db_worker *w)
{
    (void)w;
    g_fx->closed = true;
}

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    tmpdb_make(&fx->tmp, "dbw");
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    g_fx = fx;
    *state = fx;
    return 0;
}

/* A failed assertion leaves its test at once, with the worker's thread running and the
 * timer perhaps still firing: both are stopped here, or the next test would wait behind
 * them for ever. The loop is closed here for every test. Callbacks only record what they
 * see, for the test to assert once the loop has returned: an assertion inside one would
 * leave uv_run half way. */
static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    if (fx->timer.loop && !uv_is_closing((uv_handle_t *)&fx->timer))
        uv_close((uv_handle_t *)&fx->timer, NULL);
    if (fx->worker.db)
        db_worker_stop(&fx->worker, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0); /* nothing of the test left on it */
    tmpdb_remove(&fx->tmp);
    free(fx);
    return 0;
}

enum rerun_mode { NONE_RERUNNABLE, ALL_RERUNNABLE, SOME_RERUNNABLE };

static void group_commit(struct fx *fx, enum rerun_mode mode)
{
    struct db *db = NULL;
    uv_thread_t loop_thread = uv_thread_self();
    int ran_twice = 0;

    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    for (int i = 0; i < N_JOBS; i++) {
        struct write_job *wj = &fx->jobs[i];
        snprintf(wj->msgid, sizeof wj->msgid, "H31010100001202611251200%02d%04d", i / 1000,
                 i % 1000);
        wj->fail = i % 97 == 5;
        wj->fail_early = i % 89 == 7;
        wj->job = (struct db_job){.run = run_insert,
                                  .done = on_job_done,
                                  .data = wj,
                                  .rerunnable = mode == ALL_RERUNNABLE ||
                                                (mode == SOME_RERUNNABLE && i % 3 != 0)};
    }
    start_bursts(fx, PER_BURST, BURSTS, 1);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx->done_count, N_JOBS);

    int failed = 0;
    for (int i = 0; i < N_JOBS; i++) {
        const struct write_job *wj = &fx->jobs[i];

        assert_true(wj->done);
        assert_true(uv_thread_equal(&wj->done_thread, &loop_thread));
        assert_int_equal(wj->status, wj->fail_early ? POSA_ENOTFOUND : wj->fail ? POSA_EFIELD : 0);
        failed += wj->fail || wj->fail_early;
        /* Only a rerunnable job that wrote and succeeded runs again, and at most once. */
        assert_int_equal(wj->runs, 1 + (wj->runs == 2));
        if (wj->runs == 2)
            assert_true(wj->job.rerunnable && !wj->fail && !wj->fail_early);
        ran_twice += wj->runs == 2;
    }
    /* Each failure after writing among rerunnable jobs sent the ones before it again. */
    if (mode == NONE_RERUNNABLE)
        assert_int_equal(ran_twice, 0);
    else
        assert_true(ran_twice > 0);
    printf("# %d jobs ran twice\n", ran_twice);

    uv_close((uv_handle_t *)&fx->timer, NULL);
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_true(fx->closed);
    /* Group commit: each burst is handed over at one turn's end; at most a few groups per
     * burst, never one per write. */
    assert_int_equal(fx->worker.jobs, N_JOBS);
    assert_true(fx->worker.commits >= 1);
    assert_true(fx->worker.commits <= 2 * BURSTS);
    printf("# %d jobs in %llu commits\n", N_JOBS, (unsigned long long)fx->worker.commits);

    /* What the done callbacks said is what the file holds. */
    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    struct journal_stats stats;
    assert_int_equal(journal_stats(db, &stats), 0);
    assert_int_equal(stats.depth, N_JOBS - failed);
    for (int i = 0; i < N_JOBS; i++) {
        struct journal_row *row = NULL;
        int err = journal_get(db, fx->jobs[i].msgid, &row);
        assert_int_equal(err, fx->jobs[i].fail || fx->jobs[i].fail_early ? POSA_ENOTFOUND : 0);
        journal_row_free(row);
    }
    db_close(db);
}

static void test_group_commit(void **state)
{
    group_commit(*state, NONE_RERUNNABLE);
}

static void test_group_commit_rerunnable(void **state)
{
    group_commit(*state, ALL_RERUNNABLE);
}

static void test_group_commit_mixed(void **state)
{
    group_commit(*state, SOME_RERUNNABLE);
}

static int run_noop(struct db *db, struct db_job *job)
{
    (void)db;
    (void)job;
    return 0;
}

/* No commit waits for an fsync (synchronous=NORMAL); the syncer thread syncs the WAL behind
 * the database thread. A job's done callback runs only after a sync that followed its run,
 * unless it is lazy (a platform's answer): then right after the commit, before the others of
 * its group. Each burst waits for the one before, so every burst is handed over alone. */
#define LAZY_BURSTS 4
#define LAZY_PER    5

struct lazy_seen {
    int level;             /* PRAGMA synchronous inside the job's run */
    uint64_t syncs_at_run; /* the syncer's syncs then, and when done ran */
    uint64_t syncs_at_done;
    int done_at; /* the order of the done callbacks */
    int status;  /* checked after the loop: see fx_teardown */
};

struct lazy_fx {
    struct db_worker *worker;
    struct db_job jobs[LAZY_BURSTS][LAZY_PER];
    struct lazy_seen seen[LAZY_BURSTS][LAZY_PER];
    int burst, done;
};

static int run_note_sync(struct db *db, struct db_job *job)
{
    struct lazy_seen *seen = job->data;

    seen->level = db_synchronous(db);
    seen->syncs_at_run = db_worker_syncs(&g_fx->worker);
    return 0;
}

static void submit_lazy_burst(struct lazy_fx *lf);

static void on_lazy_done(struct db_job *job, int status)
{
    struct lazy_fx *lf = g_fx->jobs[0].job.data;
    struct lazy_seen *seen = job->data;

    seen->status = status;
    seen->done_at = lf->done;
    seen->syncs_at_done = db_worker_syncs(lf->worker);
    if (++lf->done % LAZY_PER == 0 && ++lf->burst < LAZY_BURSTS)
        submit_lazy_burst(lf);
}

static void submit_lazy_burst(struct lazy_fx *lf)
{
    /* Bursts 0 and 2 all lazy; burst 1 has one job that must sync, burst 3 none lazy. */
    for (int i = 0; i < LAZY_PER; i++) {
        bool lazy = lf->burst == 0 || lf->burst == 2 || (lf->burst == 1 && i != 3);
        lf->jobs[lf->burst][i] = (struct db_job){.run = run_note_sync,
                                                 .done = on_lazy_done,
                                                 .data = &lf->seen[lf->burst][i],
                                                 .lazy = lazy};
        db_worker_submit(lf->worker, &lf->jobs[lf->burst][i]);
    }
}

static void test_lazy_groups(void **state)
{
    struct fx *fx = *state;
    struct lazy_fx lf = {.worker = &fx->worker};
    struct db *db = NULL;
    struct stat wal_st, fd_st;
    char wal[160];

    fx->jobs[0].job.data = &lf; /* where on_lazy_done finds it */
    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_synchronous(db), 2); /* FULL, until the worker takes it */
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    /* The syncer's descriptor is the WAL's: the same file SQLite writes. */
    snprintf(wal, sizeof wal, "%s-wal", fx->tmp.path);
    assert_int_equal(stat(wal, &wal_st), 0);
    assert_int_equal(fstat(fx->worker.wal_fd, &fd_st), 0);
    assert_true(fd_st.st_ino == wal_st.st_ino && fd_st.st_dev == wal_st.st_dev);
    submit_lazy_burst(&lf);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(lf.done, LAZY_BURSTS * LAZY_PER);
    for (int b = 0; b < LAZY_BURSTS; b++) {
        for (int i = 0; i < LAZY_PER; i++) {
            struct lazy_seen *seen = &lf.seen[b][i];

            assert_int_equal(seen->status, 0);
            assert_int_equal(seen->level, 1); /* NORMAL: the commit does not sync */
            if (!lf.jobs[b][i].lazy)
                assert_true(seen->syncs_at_done > seen->syncs_at_run);
        }
    }
    /* Burst 1: the lazy four were answered before the one that waited for the sync, though
     * it came before the last of them. */
    for (int i = 0; i < LAZY_PER; i++)
        if (i != 3)
            assert_true(lf.seen[1][i].done_at < lf.seen[1][3].done_at);
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    printf("# %llu commits, %llu syncs\n", (unsigned long long)fx->worker.commits,
           (unsigned long long)fx->worker.syncs);
}

/* The worker's threads carry names, which top -H and ps -L show: the database thread, the
 * syncer and the checkpointer. */
static void test_thread_names(void **state)
{
    struct fx *fx = *state;
    const char *want[] = {"posad-db", "posad-sync", "posad-ckpt"};
    bool seen[3] = {false};
    struct db *db = NULL;
    struct dirent *task;
    char path[300], name[32];
    DIR *tasks;

    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    assert_non_null(tasks = opendir("/proc/self/task"));
    while ((task = readdir(tasks))) {
        FILE *f;

        snprintf(path, sizeof path, "/proc/self/task/%s/comm", task->d_name);
        if (task->d_name[0] == '.' || !(f = fopen(path, "r")))
            continue;
        if (fgets(name, sizeof name, f)) {
            name[strcspn(name, "\n")] = 0;
            for (int i = 0; i < 3; i++)
                seen[i] |= strcmp(name, want[i]) == 0;
        }
        fclose(f);
    }
    closedir(tasks);
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < 3; i++)
        assert_true(seen[i]);
}

/* A sync that fails fails the jobs that waited for it, as a FULL commit whose fsync failed
 * would: their writes may or may not be on disk, and their owners treat them as after a
 * crash. A lazy job of the same group did not wait, and succeeded. Every job after fails
 * without running: the WAL may have lost frames that later commits build on. (The WAL's descriptor
 * is swapped for a pipe's, which fdatasync refuses.) */
static int failures_told, failure_errno;

static void on_failed(struct db_worker *w, int err)
{
    (void)w;
    failures_told++;
    failure_errno = err;
}

static void test_failed_sync(void **state)
{
    struct fx *fx = *state;
    struct lazy_fx lf = {.worker = &fx->worker, .burst = LAZY_BURSTS - 1};
    struct db *db = NULL;
    int pipe_fds[2], wal_fd;

    fx->jobs[0].job.data = &lf;
    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    fx->worker.on_failed = on_failed;
    uv_mutex_lock(&fx->worker.lock);
    wal_fd = fx->worker.wal_fd;
    fx->worker.wal_fd = pipe_fds[0];
    uv_mutex_unlock(&fx->worker.lock);
    for (int i = 0; i < 2; i++) {
        lf.jobs[lf.burst][i] = (struct db_job){.run = run_note_sync,
                                               .done = on_lazy_done,
                                               .data = &lf.seen[lf.burst][i],
                                               .lazy = i == 0};
        db_worker_submit(&fx->worker, &lf.jobs[lf.burst][i]);
    }
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(lf.seen[lf.burst][0].status, 0);
    assert_int_equal(lf.seen[lf.burst][1].status, POSA_EDB);
    assert_true(db_worker_failed(&fx->worker));
    assert_int_equal(failures_told, 1);
    assert_int_equal(failure_errno, EINVAL); /* fdatasync on a pipe */
    /* With the WAL's own descriptor back, a sync would succeed; still nothing runs after a
     * failed one, lazy or not, until a restart. */
    uv_mutex_lock(&fx->worker.lock);
    fx->worker.wal_fd = wal_fd;
    uv_mutex_unlock(&fx->worker.lock);
    for (int i = 0; i < 2; i++) {
        struct write_job *wj = &fx->jobs[1 + i];

        snprintf(wj->msgid, sizeof wj->msgid, "H310101000012026112512000%05d", i);
        wj->job = (struct db_job){.run = run_insert, .done = on_job_done, .data = wj, .lazy = i};
        db_worker_submit(&fx->worker, &wj->job);
    }
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    for (int i = 1; i <= 2; i++) {
        assert_true(fx->jobs[i].done);
        assert_int_equal(fx->jobs[i].status, POSA_EDB);
        assert_int_equal(fx->jobs[i].runs, 0);
    }
    assert_int_equal(failures_told, 1); /* told once */
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

/* SQLite rolls a transaction back by itself on disk full or an I/O error, and a job may not
 * notice (a read that failed, its error ignored). Nothing of the group may commit then, not
 * even as single statements of the jobs after it, and no job may say it succeeded. */
static void transaction_lost(struct fx *fx, bool rerunnable)
{
    struct db *db = NULL;
    struct journal_stats stats;

    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    for (int i = 0; i < 4; i++) {
        struct write_job *wj = &fx->jobs[i];

        snprintf(wj->msgid, sizeof wj->msgid, "H310101000012026112512000%05d", i);
        wj->lose_txn = i == 1;
        wj->job = (struct db_job){
            .run = run_insert, .done = on_job_done, .data = wj, .rerunnable = rerunnable};
        db_worker_submit(&fx->worker, &wj->job);
    }
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < 4; i++) {
        assert_true(fx->jobs[i].done);
        assert_int_not_equal(fx->jobs[i].status, 0);
    }
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(journal_stats(db, &stats), 0);
    assert_int_equal(stats.depth, 0);
    db_close(db);
}

static void test_transaction_lost(void **state)
{
    transaction_lost(*state, false);
}

static void test_transaction_lost_rerunnable(void **state)
{
    transaction_lost(*state, true);
}

/* --- checkpoints off the database thread ---------------------------------------------- */

#define CKPT_BURSTS 100
#define CKPT_PER    10 /* jobs per burst; each writes a 14 KB request, four pages */
#define PAGE_FRAME  (4096 + 24)

static char big_request[14000];

static int run_insert_big(struct db *db, struct db_job *job)
{
    struct write_job *wj = job->data;
    struct journal_new in = {.msgid = wj->msgid,
                             .infno = "2204",
                             .visit_key = "v",
                             .request = big_request,
                             .request_len = sizeof big_request - 1};

    wj->runs++;
    return journal_insert(db, &in, 1);
}

/* A WAL written a few pages at a time, past DB_WORKER_CHECKPOINT_FRAMES four times:
 * the checkpointer thread copies it back and the WAL starts over, so it stays near that
 * size instead of holding every page written (SQLite's own checkpoint is off), and nothing
 * written is lost. A burst waits for the one before and for the checkpointer's copy, so
 * that what is measured is the hand-over between the threads, not how soon a loaded host
 * lets them run (ASan beside other tests on 2 cores let the WAL reach 3,733 frames when
 * the bursts did not wait). */
static void test_checkpoints(void **state)
{
    struct fx *fx = *state;
    struct db *db = NULL;
    char wal[160];
    struct stat st;

    memset(big_request, 'x', sizeof big_request - 1);
    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    for (int i = 0; i < CKPT_BURSTS * CKPT_PER; i++) {
        struct write_job *wj = &fx->jobs[i];

        snprintf(wj->msgid, sizeof wj->msgid, "H310101000012026112612000%05d", i);
        wj->job = (struct db_job){
            .run = run_insert_big, .done = on_job_done, .data = wj, .rerunnable = true};
    }
    fx->wait_for_checkpoints = true;
    start_bursts(fx, CKPT_PER, CKPT_BURSTS, 2);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx->done_count, CKPT_BURSTS * CKPT_PER);

    /* Every page written went through the WAL: 4,500 frames (without the checkpointer,
     * the WAL holds them all). It starts over once the checkpointer has copied the first
     * 1,000 (DB_WORKER_CHECKPOINT_FRAMES) and the database thread the burst written
     * since, 40-odd frames. */
    snprintf(wal, sizeof wal, "%s-wal", fx->tmp.path);
    assert_int_equal(stat(wal, &st), 0);
    printf("# WAL %lld frames at most\n", (long long)st.st_size / PAGE_FRAME);
    assert_true(st.st_size < 1200 * PAGE_FRAME);

    uv_close((uv_handle_t *)&fx->timer, NULL);
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    printf("# %llu checkpoints by the checkpointer\n", (unsigned long long)fx->worker.checkpoints);
    assert_true(fx->worker.checkpoints >= 4);

    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    for (int i = 0; i < CKPT_BURSTS * CKPT_PER; i++) {
        struct journal_row *row = NULL;

        assert_int_equal(fx->jobs[i].status, 0);
        assert_int_equal(journal_get(db, fx->jobs[i].msgid, &row), 0);
        assert_int_equal(row->request_len, sizeof big_request - 1);
        journal_row_free(row);
    }
    db_close(db);
}

static int run_ask_truncate(struct db *db, struct db_job *job)
{
    (void)job;
    db_wal_truncate_later(db);
    return 0;
}

/* A job that asks for the WAL to be given back (a retention pass over a backlog): once its
 * group has committed, the WAL file is empty; the rows written before it are all there. */
static void test_wal_truncated_when_asked(void **state)
{
    struct fx *fx = *state;
    struct db *db = NULL;
    struct write_job ask = {0};
    char wal[160];
    struct stat st;

    memset(big_request, 'x', sizeof big_request - 1);
    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    for (int i = 0; i < 40; i++) {
        struct write_job *wj = &fx->jobs[i];

        snprintf(wj->msgid, sizeof wj->msgid, "H310101000012026112812000%05d", i);
        wj->job = (struct db_job){.run = run_insert_big, .done = on_job_done, .data = wj};
        db_worker_submit(&fx->worker, &wj->job);
    }
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    snprintf(wal, sizeof wal, "%s-wal", fx->tmp.path);
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > 40 * 14000);
    ask.job = (struct db_job){.run = run_ask_truncate, .done = on_job_done, .data = &ask};
    db_worker_submit(&fx->worker, &ask.job);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ask.status, 0);
    /* The database thread truncates after handing the group's jobs over: soon after. */
    for (int i = 0; i < 500 && stat(wal, &st) == 0 && st.st_size > 0; i++)
        usleep(10000);
    assert_int_equal(st.st_size, 0);
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);

    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    for (int i = 0; i < 40; i++) {
        struct journal_row *row = NULL;

        assert_int_equal(journal_get(db, fx->jobs[i].msgid, &row), 0);
        journal_row_free(row);
    }
    db_close(db);
}

/* Jobs submitted and not yet handed over when stop is called still run and complete. */
static void test_stop_runs_everything(void **state)
{
    struct fx *fx = *state;
    struct db *db = NULL;

    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    assert_int_equal(db_worker_start(&fx->worker, &fx->loop, db), 0);
    for (int i = 0; i < 10; i++) {
        fx->jobs[i].job =
            (struct db_job){.run = run_noop, .done = on_job_done, .data = &fx->jobs[i]};
        db_worker_submit(&fx->worker, &fx->jobs[i].job);
    }
    db_worker_stop(&fx->worker, on_worker_closed);
    assert_int_equal(fx->done_count, 10);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_true(fx->closed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_rerunnable, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_mixed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_transaction_lost, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_transaction_lost_rerunnable, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stop_runs_everything, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lazy_groups, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failed_sync, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_thread_names, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wal_truncated_when_asked, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
