/* Journal benchmark: rows journaled per second through posad's database thread
 * (agent/db_worker.c + cache/journal.c on a libuv loop, as posad runs them) beside a raw
 * SQLite group-commit loop on the same disk (same schema, WAL, synchronous=FULL, 100 rows
 * per commit), and the fdatasync latency of that disk (the floor of any durable commit).
 *
 * usage: bench_journal fdatasync DIR [N]           p50/p99 of an appended 1 KiB + fdatasync
 *        bench_journal raw DIR [SECONDS] [BATCH]    raw SQLite, BATCH rows per commit
 *        bench_journal posad DIR [SECONDS] [BATCH]  db_worker: BATCH jobs per loop turn,
 *                                                   next burst once the last one committed
 *        bench_journal floor DIR REQ RESP BATCH N   what journaling a forwarded message
 *                                                   costs at the least (below)
 * Prints one "key=value" line; run_bench.py computes the ratios. DIR must exist; the
 * files made in it are removed. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>

#include <sqlite3.h>
#include <uv.h>

#include "agent/db_worker.h"
#include "cache/db.h"
#include "cache/journal.h"

#define BODY_LEN  1024 /* a typical small envelope */
#define MAX_BATCH 4096

static char body[BODY_LEN];

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void msgid_of(uint64_t n, char out[MSGID_LEN + 1])
{
    snprintf(out, MSGID_LEN + 1, "H31010100001%018" PRIu64, n);
}

static void remove_db(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[4200];

    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

/* ---- fdatasync -------------------------------------------------------------------------- */

static int run_fdatasync(const char *dir, int n)
{
    char path[4200];
    uint64_t *ns = calloc((size_t)n, sizeof *ns);
    int fd;

    snprintf(path, sizeof path, "%s/fdatasync.bin", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || !ns) {
        fprintf(stderr, "bench_journal: %s: %s\n", path, strerror(errno));
        free(ns);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        uint64_t t0 = uv_hrtime();
        /* append like a WAL does, so each sync has data and metadata to write */
        if (write(fd, body, BODY_LEN) < 0 || fdatasync(fd) < 0) {
            fprintf(stderr, "bench_journal: write/fdatasync: %s\n", strerror(errno));
            break;
        }
        ns[i] = uv_hrtime() - t0;
    }
    close(fd);
    unlink(path);
    qsort(ns, (size_t)n, sizeof *ns, cmp_u64);
    printf("fdatasync n=%d p50_us=%.1f p99_us=%.1f\n", n, ns[n / 2] / 1e3,
           ns[(size_t)n * 99 / 100] / 1e3);
    free(ns);
    return 0;
}

/* ---- raw SQLite ------------------------------------------------------------------------- */

static int raw_exec(sqlite3 *sq, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(sq, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench_journal: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* The schema comes from cache/ (db_open migrates a new file); then plain SQLite inserts the
 * rows journal_insert() would, without its checks and its ord lookup. */
static int run_raw(const char *dir, double seconds, int batch)
{
    char path[4200], msgid[MSGID_LEN + 1];
    struct db *db = NULL;
    sqlite3 *sq = NULL;
    sqlite3_stmt *st = NULL;
    uint64_t rows = 0, commits = 0, t0, deadline;
    int rc = 1;

    snprintf(path, sizeof path, "%s/raw.db", dir);
    remove_db(path);
    if (db_open(path, &db) != 0)
        goto out;
    db_close(db);
    if (sqlite3_open(path, &sq) != SQLITE_OK || raw_exec(sq, "PRAGMA journal_mode = WAL") ||
        raw_exec(sq, "PRAGMA synchronous = FULL") ||
        sqlite3_prepare_v2(sq,
                           "INSERT INTO journal (msgid, infno, kind, visit_key, request, state, "
                           "next_attempt, created_at, updated_at, ord) "
                           "VALUES (?1, '2204', 1, 'v', ?2, 'queued', 0, ?3, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    t0 = uv_hrtime();
    deadline = t0 + (uint64_t)(seconds * 1e9);
    while (uv_hrtime() < deadline) {
        if (raw_exec(sq, "BEGIN"))
            goto out;
        for (int i = 0; i < batch; i++) {
            msgid_of(++rows, msgid);
            sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, body, BODY_LEN, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, (int64_t)rows);
            sqlite3_bind_int64(st, 4, (int64_t)rows);
            if (sqlite3_step(st) != SQLITE_DONE) {
                fprintf(stderr, "bench_journal: insert: %s\n", sqlite3_errmsg(sq));
                goto out;
            }
            sqlite3_reset(st);
        }
        if (raw_exec(sq, "COMMIT"))
            goto out;
        commits++;
    }
    double took = (double)(uv_hrtime() - t0) / 1e9;
    printf("raw rows=%" PRIu64 " commits=%" PRIu64 " rows_per_s=%.0f rows_per_commit=%.1f\n",
           rows, commits, (double)rows / took, (double)rows / (double)commits);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(sq);
    remove_db(path);
    return rc;
}

/* ---- the floor of a journaled forward ------------------------------------------------- */

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* What journaling a forwarded message costs with no HTTP, JSON or upstream at all: plain
 * SQLite on posad's schema and settings, BATCH messages per group as posad's database thread
 * runs them: the requests (req bytes each) inserted and committed with an fsync before they
 * may leave, then the answers (resp bytes) written with a commit that waits for the next
 * fsync. Prints CPU per message (user + system) and the p50 wall time of one group: with
 * BATCH 1, the least a message's journaling adds to its latency. */
static int floor_group(sqlite3 *sq, sqlite3_stmt *ins, sqlite3_stmt *upd, uint64_t first,
                       int batch, const char *req, int req_len, const char *resp, int resp_len)
{
    char msgid[MSGID_LEN + 1];

    if (raw_exec(sq, "PRAGMA synchronous = FULL") || raw_exec(sq, "BEGIN"))
        return -1;
    for (int i = 0; i < batch; i++) {
        msgid_of(first + (uint64_t)i, msgid);
        sqlite3_bind_text(ins, 1, msgid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(ins, 2, req, req_len, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, (int64_t)(first + (uint64_t)i));
        if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_reset(ins) != SQLITE_OK)
            return -1;
    }
    if (raw_exec(sq, "COMMIT") || raw_exec(sq, "PRAGMA synchronous = NORMAL") ||
        raw_exec(sq, "BEGIN"))
        return -1;
    for (int i = 0; i < batch; i++) {
        msgid_of(first + (uint64_t)i, msgid);
        sqlite3_bind_text(upd, 1, msgid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(upd, 2, resp, resp_len, SQLITE_STATIC);
        if (sqlite3_step(upd) != SQLITE_DONE || sqlite3_reset(upd) != SQLITE_OK)
            return -1;
    }
    return raw_exec(sq, "COMMIT");
}

static int run_floor(const char *dir, int req_len, int resp_len, int batch, int n)
{
    char path[4200];
    char *req = malloc((size_t)req_len), *resp = malloc((size_t)resp_len);
    int groups = (n + batch - 1) / batch;
    uint64_t *ns = calloc((size_t)groups, sizeof *ns), id = 0;
    struct db *db = NULL;
    sqlite3 *sq = NULL;
    sqlite3_stmt *ins = NULL, *upd = NULL;
    double cpu0;
    int rc = 1;

    snprintf(path, sizeof path, "%s/floor.db", dir);
    remove_db(path);
    if (!req || !resp || !ns || db_open(path, &db) != 0)
        goto out;
    db_close(db); /* the schema is posad's; so are the settings below (cache/db.c) */
    memset(req, 'x', (size_t)req_len);
    memset(resp, 'y', (size_t)resp_len);
    if (sqlite3_open(path, &sq) != SQLITE_OK || raw_exec(sq, "PRAGMA journal_mode = WAL") ||
        raw_exec(sq, "PRAGMA secure_delete = ON") || raw_exec(sq, "PRAGMA temp_store = MEMORY") ||
        sqlite3_prepare_v2(sq,
                           "INSERT INTO journal (msgid, infno, kind, visit_key, request, state, "
                           "attempts, next_attempt, created_at, updated_at, ord) "
                           "VALUES (?1, '2301', 1, 'v', ?2, 'sent', 1, 0, ?3, ?3, ?3)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sq,
                           "UPDATE journal SET state = 'done', updated_at = updated_at + 1, "
                           "response = ?2 WHERE msgid = ?1",
                           -1, &upd, NULL) != SQLITE_OK)
        goto out;
    cpu0 = cpu_seconds();
    for (int g = 0; g < groups; g++, id += (uint64_t)batch) {
        uint64_t t0 = uv_hrtime();

        if (floor_group(sq, ins, upd, id + 1, batch, req, req_len, resp, resp_len)) {
            fprintf(stderr, "bench_journal: floor: %s\n", sqlite3_errmsg(sq));
            goto out;
        }
        ns[g] = uv_hrtime() - t0;
    }
    double cpu_us = (cpu_seconds() - cpu0) / (double)id * 1e6;
    qsort(ns, (size_t)groups, sizeof *ns, cmp_u64);
    printf("floor messages=%" PRIu64 " batch=%d cpu_us_per_msg=%.1f group_p50_us=%.1f\n", id,
           batch, cpu_us, ns[groups / 2] / 1e3);
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_close(sq);
    remove_db(path);
    free(req);
    free(resp);
    free(ns);
    return rc;
}

/* ---- posad's database thread ------------------------------------------------------------ */

struct pjob {
    struct db_job job;
    char msgid[MSGID_LEN + 1];
};

struct pbench {
    uv_loop_t loop;
    struct db_worker worker;
    struct pjob jobs[MAX_BATCH];
    int batch;
    int outstanding;
    uint64_t next_id, rows, failed, deadline;
};

static int on_run_insert(struct db *db, struct db_job *job)
{
    struct pjob *pj = job->data;
    struct journal_new in = {.msgid = pj->msgid, .infno = "2204", .visit_key = "v",
                             .request = body, .request_len = BODY_LEN};

    return journal_insert(db, &in, 1);
}

static void pbench_burst(struct pbench *pb);

/* on_done() has only the job; the one bench is reachable from here. */
static struct pbench *g_pb;

static void on_done(struct db_job *job, int status)
{
    struct pbench *pb = g_pb;

    (void)job;
    if (status)
        pb->failed++;
    else
        pb->rows++;
    if (--pb->outstanding == 0)
        pbench_burst(pb);
}

/* One burst of batch jobs, submitted in one loop turn: one group, one commit. */
static void pbench_burst(struct pbench *pb)
{
    if (uv_hrtime() >= pb->deadline || pb->failed) {
        db_worker_stop(&pb->worker, NULL);
        return;
    }
    for (int i = 0; i < pb->batch; i++) {
        struct pjob *pj = &pb->jobs[i];
        pj->job.run = on_run_insert;
        pj->job.rerunnable = true; /* as posad's admits */
        pj->job.done = on_done;
        pj->job.data = pj;
        msgid_of(++pb->next_id, pj->msgid);
        pb->outstanding++;
        db_worker_submit(&pb->worker, &pj->job);
    }
}

static int run_posad(const char *dir, double seconds, int batch)
{
    static struct pbench pb;
    char path[4200];
    struct db *db = NULL;
    uint64_t t0;

    snprintf(path, sizeof path, "%s/posad.db", dir);
    remove_db(path);
    pb.batch = batch;
    g_pb = &pb;
    if (uv_loop_init(&pb.loop) || db_open(path, &db) != 0 ||
        db_worker_start(&pb.worker, &pb.loop, db) != 0) {
        fprintf(stderr, "bench_journal: cannot open %s\n", path);
        return 1;
    }
    t0 = uv_hrtime();
    pb.deadline = t0 + (uint64_t)(seconds * 1e9);
    pbench_burst(&pb);
    uv_run(&pb.loop, UV_RUN_DEFAULT);
    double took = (double)(uv_hrtime() - t0) / 1e9;
    uv_loop_close(&pb.loop);
    remove_db(path);
    printf("posad rows=%" PRIu64 " commits=%" PRIu64 " failed=%" PRIu64
           " rows_per_s=%.0f rows_per_commit=%.1f\n",
           pb.rows, pb.worker.commits, pb.failed, (double)pb.rows / took,
           pb.worker.commits ? (double)pb.worker.jobs / (double)pb.worker.commits : 0.0);
    return pb.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 3 ? atof(argv[3]) : 2.0;
    int batch = argc > 4 ? atoi(argv[4]) : 100;

    memset(body, 'x', sizeof body);
    if (argc == 7 && !strcmp(argv[1], "floor")) {
        int req = atoi(argv[3]), resp = atoi(argv[4]), n = atoi(argv[6]);

        batch = atoi(argv[5]);
        if (req < 1 || resp < 1 || req > (1 << 22) || resp > (1 << 22) || batch < 1 ||
            batch > MAX_BATCH || n < batch) {
            fprintf(stderr, "usage: %s floor DIR REQ_BYTES RESP_BYTES BATCH N\n", argv[0]);
            return 2;
        }
        return run_floor(argv[2], req, resp, batch, n);
    }
    if (argc < 3 || seconds <= 0 || batch < 1 || batch > MAX_BATCH) {
        fprintf(stderr, "usage: %s fdatasync|raw|posad DIR [SECONDS|N] [BATCH]\n"
                        "       %s floor DIR REQ_BYTES RESP_BYTES BATCH N\n",
                argv[0], argv[0]);
        return 2;
    }
    if (!strcmp(argv[1], "fdatasync"))
        return run_fdatasync(argv[2], argc > 3 ? atoi(argv[3]) > 0 ? atoi(argv[3]) : 500 : 500);
    if (!strcmp(argv[1], "raw"))
        return run_raw(argv[2], seconds, batch);
    if (!strcmp(argv[1], "posad"))
        return run_posad(argv[2], seconds, batch);
    fprintf(stderr, "bench_journal: unknown mode %s\n", argv[1]);
    return 2;
}
