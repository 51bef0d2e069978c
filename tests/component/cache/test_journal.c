/* cache/journal.c on a real SQLite file in a temp dir: schema and permissions, inserts,
 * transitions through core's msg_next(), crash recovery (sent -> unknown on restart),
 * per-visit order of the outbox, idempotency keys. */
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
#include <sqlite3.h>

#include "cache/db.h"
#include "cache/db_internal.h"
#include "cache/journal.h"
#include "core/err.h"
#include "tests/component/tmpdb.h"

struct fx {
    struct tmpdb tmp;
    struct db *db;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    tmpdb_make(&fx->tmp, "journal");
    assert_int_equal(db_open(fx->tmp.path, &fx->db), 0);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    db_close(fx->db);
    tmpdb_remove(&fx->tmp);
    free(fx);
    return 0;
}

/* A msgid of the test institution at second s, sequence q. */
static void mid(char buf[MSGID_LEN + 1], int s, int q)
{
    snprintf(buf, MSGID_LEN + 1, "H31010100001202611251200%02d%04d", s, q);
}

static int insert(struct db *db, const char *msgid, const char *infno, const char *visit,
                  const char *idem, int64_t now)
{
    struct journal_new in = {
        .msgid = msgid,
        .infno = infno,
        .visit_key = visit,
        .idem_key = idem,
        .request = "{\"infno\":\"x\"}",
        .request_len = 13,
        .next_attempt = now,
    };
    return journal_insert(db, &in, now);
}

static void test_open_schema_mode(void **state)
{
    struct fx *fx = *state;
    struct stat st;
    char wal[160];

    assert_int_equal(db_schema_version(fx->db), db_schema_latest());
    assert_true(db_schema_latest() >= 1);
    assert_int_equal(stat(fx->tmp.path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* WAL is on: a write creates the -wal file, with the main file's mode. */
    assert_int_equal(insert(fx->db, "H31010100001202611251200000001", "2204", "v1", NULL, 1), 0);
    snprintf(wal, sizeof wal, "%s-wal", fx->tmp.path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Reopening an up-to-date file applies nothing and keeps the rows. */
    db_close(fx->db);
    assert_int_equal(db_open(fx->tmp.path, &fx->db), 0);
    struct journal_row *row = NULL;
    assert_int_equal(journal_get(fx->db, "H31010100001202611251200000001", &row), 0);
    assert_string_equal(row->infno, "2204");
    assert_int_equal(row->kind, MSG_KIND_DEFERRABLE);
    assert_int_equal(row->state, MSG_QUEUED);
    assert_null(row->idem_key);
    assert_string_equal(row->visit_key, "v1");
    assert_int_equal(row->request_len, 13);
    assert_memory_equal(row->request, "{\"infno\":\"x\"}", 13);
    journal_row_free(row);
}

/* A WAL grown past DB_WAL_KEPT_BYTES by one long burst (a retention backlog) is cut back
 * to it when it starts over, instead of keeping the disk it took until posad stops. */
static void test_wal_cut_back(void **state)
{
    struct fx *fx = *state;
    static char big[16000];
    struct journal_new in = {
        .infno = "2204", .visit_key = "v", .request = big, .request_len = sizeof big - 1};
    char m[MSGID_LEN + 1], wal[160];
    struct stat st;

    memset(big, 'x', sizeof big - 1);
    snprintf(wal, sizeof wal, "%s-wal", fx->tmp.path);
    assert_int_equal(db_begin(fx->db), 0);
    for (int i = 0; i < 800; i++) { /* ~13 MB in one transaction */
        mid(m, 9, i);
        in.msgid = m;
        assert_int_equal(journal_insert(fx->db, &in, 1), 0);
    }
    assert_int_equal(db_commit(fx->db), 0);
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > DB_WAL_KEPT_BYTES);
    assert_true(db_checkpoint(fx->db) >= 0);
    assert_int_equal(insert(fx->db, "H31010100001202611281200000001", "2204", "v1", NULL, 1), 0);
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size <= DB_WAL_KEPT_BYTES);
    assert_true(st.st_size > 0);

    /* Asked for once, taken once; truncated, the WAL goes whole. */
    assert_false(db_wal_truncate_taken(fx->db));
    db_wal_truncate_later(fx->db);
    assert_true(db_wal_truncate_taken(fx->db));
    assert_false(db_wal_truncate_taken(fx->db));
    assert_int_equal(db_wal_truncate_aside(fx->db), 0);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_size, 0);
    /* And the rows are all there. */
    struct journal_row *row = NULL;
    mid(m, 9, 799);
    assert_int_equal(journal_get(fx->db, m, &row), 0);
    assert_int_equal(row->request_len, sizeof big - 1);
    journal_row_free(row);
}

static void test_newer_schema_refused(void **state)
{
    struct fx *fx = *state;
    struct db *db2 = NULL;
    sqlite3 *sq = NULL;
    char sql[64];

    db_close(fx->db);
    fx->db = NULL;
    assert_int_equal(sqlite3_open(fx->tmp.path, &sq), SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", db_schema_latest() + 1);
    assert_int_equal(sqlite3_exec(sq, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(sq);
    assert_int_equal(db_open(fx->tmp.path, &db2), POSA_ESCHEMA);
    /* Put it back so teardown's close has nothing to do. */
    assert_int_equal(sqlite3_open(fx->tmp.path, &sq), SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", db_schema_latest());
    sqlite3_exec(sq, sql, NULL, NULL, NULL);
    sqlite3_close(sq);
}

static void test_not_a_database(void **state)
{
    struct fx *fx = *state;
    char p[160];
    struct db *db2 = NULL;
    FILE *f;

    snprintf(p, sizeof p, "%s/garbage.db", fx->tmp.dir);
    f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not a sqlite file at all ", f);
    fclose(f);
    assert_int_equal(db_open(p, &db2), POSA_EDAMAGED);
    unlink(p);
}

static void test_insert_validation_and_duplicates(void **state)
{
    struct fx *fx = *state;
    char a[MSGID_LEN + 1], b[MSGID_LEN + 1];
    struct journal_new bad = {.msgid = "x", .infno = NULL, .request = "{}", .request_len = 2};

    mid(a, 1, 1);
    mid(b, 1, 2);
    assert_int_equal(journal_insert(fx->db, &bad, 1), POSA_EFIELD);
    bad.infno = "22071234567"; /* longer than any infno */
    assert_int_equal(journal_insert(fx->db, &bad, 1), POSA_EFIELD);
    assert_int_equal(insert(fx->db, a, "2207", "v1", "his-1", 10), 0);
    assert_int_equal(insert(fx->db, a, "2207", "v1", "his-2", 10), POSA_EEXISTS);
    assert_int_equal(insert(fx->db, b, "2207", "v1", "his-1", 10), POSA_EEXISTS);
    struct journal_row *row = NULL;
    assert_int_equal(journal_get_by_idem(fx->db, "his-1", &row), 0);
    assert_string_equal(row->msgid, a);
    assert_int_equal(row->kind, MSG_KIND_INTERACTIVE);
    journal_row_free(row);
    assert_int_equal(journal_get_by_idem(fx->db, "his-9", &row), POSA_ENOTFOUND);
    assert_int_equal(journal_get(fx->db, b, &row), POSA_ENOTFOUND);
    /* Released, the key may be journaled again (a retry of a message that never left). */
    assert_int_equal(journal_release_idem(fx->db, a), 0);
    assert_int_equal(insert(fx->db, b, "2207", "v1", "his-1", 11), 0);
    assert_int_equal(journal_get_by_idem(fx->db, "his-1", &row), 0);
    assert_string_equal(row->msgid, b);
    journal_row_free(row);
    assert_int_equal(journal_get(fx->db, a, &row), 0);
    assert_null(row->idem_key);
    journal_row_free(row);
    assert_int_equal(journal_release_idem(fx->db, "H31010100001202611251200599999"),
                     POSA_ENOTFOUND);
}

static void test_transitions(void **state)
{
    struct fx *fx = *state;
    char a[MSGID_LEN + 1];
    enum msg_state s;
    struct journal_row *row = NULL;
    struct journal_outcome lost = {.last_error = "connection refused", .next_attempt = 5000};
    struct journal_outcome ok = {.response = "{\"infcode\":0}", .response_len = 13};

    mid(a, 2, 1);
    assert_int_equal(insert(fx->db, a, "2204", "v1", NULL, 100), 0);
    /* Not allowed from queued: the row stays as it was. */
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_ANSWER_OK, &ok, 101, &s), POSA_ESTATE);
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_SEND, NULL, 102, &s), 0);
    assert_int_equal(s, MSG_SENT);
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_LOST_BEFORE, &lost, 103, &s), 0);
    assert_int_equal(s, MSG_QUEUED);
    assert_int_equal(journal_get(fx->db, a, &row), 0);
    assert_int_equal(row->attempts, 1);
    assert_int_equal(row->next_attempt, 5000);
    assert_string_equal(row->last_error, "connection refused");
    assert_null(row->response);
    journal_row_free(row);
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_SEND, NULL, 5001, &s), 0);
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_ANSWER_OK, &ok, 5002, &s), 0);
    assert_int_equal(s, MSG_DONE);
    assert_int_equal(journal_get(fx->db, a, &row), 0);
    assert_int_equal(row->state, MSG_DONE);
    assert_int_equal(row->attempts, 2);
    assert_int_equal(row->updated_at, 5002);
    assert_int_equal(row->created_at, 100);
    assert_memory_equal(row->response, "{\"infcode\":0}", 13);
    /* The last error stays for the record; a final row accepts nothing but restart. */
    assert_string_equal(row->last_error, "connection refused");
    journal_row_free(row);
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_SEND, NULL, 5003, NULL), POSA_ESTATE);
    assert_int_equal(
        journal_apply(fx->db, "H31010100001202611251200599999", MSG_EV_SEND, NULL, 1, NULL),
        POSA_ENOTFOUND);
}

static int count_row(const struct journal_row *row, void *data)
{
    (void)row;
    ++*(int *)data;
    return 0;
}

static int count_steps(void *data)
{
    ++*(int *)data;
    return 0;
}

static int steps;

/* The day's settlements by their own index (0019): settlement kinds answered at or after
 * since, not the reads and uploads beside them, nor those answered before. */
static void test_settlements_since(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *infno;
        int64_t answered_at;
    } rows[] = {{"2207", 100}, {"2207", 300}, {"2207A", 400}, {"1101", 500},
                {"2204", 600}, {"2208", 700}, {"2601", 800}};
    struct journal_outcome ok = {.response = "{\"infcode\":0}", .response_len = 13};
    char m[MSGID_LEN + 1];
    int n = 0;

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mid(m, 7, (int)i + 1);
        assert_int_equal(insert(fx->db, m, rows[i].infno, "v1", NULL, 50), 0);
        assert_int_equal(journal_apply(fx->db, m, MSG_EV_SEND, NULL, 60, NULL), 0);
        assert_int_equal(journal_apply(fx->db, m, MSG_EV_ANSWER_OK, &ok, rows[i].answered_at, NULL),
                         0);
    }
    assert_int_equal(journal_settlements_since(fx->db, 300, count_row, &n), 0);
    assert_int_equal(n, 4); /* 2207 at 300, 2207A, 2208, 2601 */

    /* A year of answered reads beside them is not read: SQLite's virtual machine takes some
     * tens of steps, not one or more per answered row (it read them all through journal_due). */
    assert_int_equal(db_begin(fx->db), 0);
    for (int i = 0; i < 3000; i++) {
        mid(m, 8, i);
        assert_int_equal(insert(fx->db, m, "1101", "", NULL, 50), 0);
        assert_int_equal(journal_apply(fx->db, m, MSG_EV_SEND, NULL, 60, NULL), 0);
        assert_int_equal(journal_apply(fx->db, m, MSG_EV_ANSWER_OK, &ok, 900, NULL), 0);
    }
    assert_int_equal(db_commit(fx->db), 0);
    steps = 0;
    sqlite3_progress_handler(db_sqlite(fx->db), 100, count_steps, &steps);
    n = 0;
    assert_int_equal(journal_settlements_since(fx->db, 300, count_row, &n), 0);
    sqlite3_progress_handler(db_sqlite(fx->db), 0, NULL, NULL);
    assert_int_equal(n, 4);
    assert_true(steps < 30); /* in hundreds of opcodes */
}

static void test_send_now_and_restart(void **state)
{
    struct fx *fx = *state;
    char a[MSGID_LEN + 1], b[MSGID_LEN + 1], c[MSGID_LEN + 1];
    struct journal_new in = {
        .infno = "2207", .visit_key = "v7", .request = "{}", .request_len = 2, .send_now = true};
    struct journal_row *row = NULL;
    int moved = -1;
    bool blocked = true;
    enum msg_state s;

    mid(a, 3, 1);
    mid(b, 3, 2);
    mid(c, 3, 3);
    in.msgid = a;
    assert_int_equal(journal_insert(fx->db, &in, 10), 0);           /* sent, then "crash" */
    assert_int_equal(insert(fx->db, b, "2301", "v8", NULL, 10), 0); /* queued */
    in.msgid = c;
    assert_int_equal(journal_insert(fx->db, &in, 10), 0);
    assert_int_equal(journal_apply(fx->db, c, MSG_EV_ANSWER_OK, NULL, 11, NULL), 0);
    assert_int_equal(journal_get(fx->db, a, &row), 0);
    assert_int_equal(row->state, MSG_SENT);
    assert_int_equal(row->attempts, 1);
    journal_row_free(row);

    /* The crash: reopen the file, as posad does at start. */
    db_close(fx->db);
    assert_int_equal(db_open(fx->tmp.path, &fx->db), 0);
    assert_int_equal(journal_visit_open(fx->db, "v7", &blocked), 0);
    assert_true(blocked);
    assert_int_equal(journal_restart(fx->db, 20, &moved), 0);
    assert_int_equal(moved, 1);
    assert_int_equal(journal_get(fx->db, a, &row), 0);
    assert_int_equal(row->state, MSG_UNKNOWN);
    assert_int_equal(row->updated_at, 20);
    journal_row_free(row);
    assert_int_equal(journal_get(fx->db, b, &row), 0);
    assert_int_equal(row->state, MSG_QUEUED);
    journal_row_free(row);
    assert_int_equal(journal_get(fx->db, c, &row), 0);
    assert_int_equal(row->state, MSG_DONE);
    journal_row_free(row);
    /* A second start moves nothing; the unknown row still blocks its visit. */
    assert_int_equal(journal_restart(fx->db, 30, &moved), 0);
    assert_int_equal(moved, 0);
    assert_int_equal(journal_visit_open(fx->db, "v7", &blocked), 0);
    assert_true(blocked);
    /* An unknown row is resolved by query, never resent. */
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_SEND, NULL, 31, NULL), POSA_ESTATE);
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_QUERY_ABSENT, NULL, 31, &s), 0);
    assert_int_equal(s, MSG_REVERSED);
    assert_int_equal(journal_visit_open(fx->db, "v7", &blocked), 0);
    assert_false(blocked);
    /* A queued row holds its visit's later messages too (v8's b), until it is done. */
    assert_int_equal(journal_visit_open(fx->db, "v8", &blocked), 0);
    assert_true(blocked);
    assert_int_equal(journal_apply(fx->db, b, MSG_EV_SEND, NULL, 32, NULL), 0);
    assert_int_equal(journal_apply(fx->db, b, MSG_EV_ANSWER_OK, NULL, 33, NULL), 0);
    assert_int_equal(journal_visit_open(fx->db, "v8", &blocked), 0);
    assert_false(blocked);
}

struct collect {
    int n;
    char msgids[16][MSGID_LEN + 1];
};

static int on_row(const struct journal_row *row, void *data)
{
    struct collect *c = data;

    if (c->n < 16)
        strcpy(c->msgids[c->n++], row->msgid);
    return 0;
}

static void test_due_order_per_visit(void **state)
{
    struct fx *fx = *state;
    char m[6][MSGID_LEN + 1];
    struct collect got = {0};
    int64_t next = -1;

    for (int i = 0; i < 6; i++)
        mid(m[i], 4, i);
    assert_int_equal(journal_next_due(fx->db, &next), 0);
    assert_int_equal(next, 0); /* nothing queued */
    /* Visit A: three uploads in order; visit B: two; one without a visit, due later. */
    assert_int_equal(insert(fx->db, m[0], "2301", "A", NULL, 100), 0);
    assert_int_equal(insert(fx->db, m[1], "2301", "A", NULL, 100), 0);
    assert_int_equal(insert(fx->db, m[2], "2204", "B", NULL, 101), 0);
    assert_int_equal(insert(fx->db, m[3], "2302", "A", NULL, 102), 0);
    assert_int_equal(insert(fx->db, m[4], "2205", "B", NULL, 103), 0);
    assert_int_equal(insert(fx->db, m[5], "2203", NULL, NULL, 500), 0);
    assert_int_equal(journal_next_due(fx->db, &next), 0);
    assert_int_equal(next, 100);

    /* At 200: the head of each visit only; the visitless row is not due yet. */
    assert_int_equal(journal_due(fx->db, 200, 10, on_row, &got), 0);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.msgids[0], m[0]);
    assert_string_equal(got.msgids[1], m[2]);

    /* A's head goes out and comes back for a retry later: A stays blocked behind it. */
    assert_int_equal(journal_apply(fx->db, m[0], MSG_EV_SEND, NULL, 200, NULL), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_due(fx->db, 600, 10, on_row, &got), 0);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.msgids[0], m[2]);
    assert_string_equal(got.msgids[1], m[5]);
    struct journal_outcome retry = {.last_error = "reset", .next_attempt = 1000};
    assert_int_equal(journal_apply(fx->db, m[0], MSG_EV_LOST_BEFORE, &retry, 201, NULL), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_due(fx->db, 600, 10, on_row, &got), 0);
    assert_int_equal(got.n, 2); /* m[0] not due until 1000, and m[1] waits behind it */
    assert_string_equal(got.msgids[0], m[2]);
    assert_string_equal(got.msgids[1], m[5]);

    /* A's head done: the next of A is due; the limit is honoured. */
    assert_int_equal(journal_apply(fx->db, m[0], MSG_EV_SEND, NULL, 1000, NULL), 0);
    assert_int_equal(journal_apply(fx->db, m[0], MSG_EV_ANSWER_OK, NULL, 1001, NULL), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_due(fx->db, 1002, 1, on_row, &got), 0);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.msgids[0], m[1]);

    /* GET /v1/queue: open rows in journal order, paged by seq. */
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_list(fx->db, MSG__MAX, 0, 16, on_row, &got), 0);
    assert_int_equal(got.n, 5);
    assert_string_equal(got.msgids[0], m[1]);
    assert_string_equal(got.msgids[4], m[5]);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_list(fx->db, MSG_DONE, 0, 16, on_row, &got), 0);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.msgids[0], m[0]);

    struct journal_stats stats;
    assert_int_equal(journal_stats(fx->db, &stats), 0);
    assert_int_equal(stats.depth, 5);
    assert_int_equal(stats.unknown, 0);
    assert_int_equal(stats.oldest_at, 100);

    /* posad's own sign-in (a query), on its way: journaled, but not in the queue's listing or
     * depth. */
    char sign_in[MSGID_LEN + 1];
    mid(sign_in, 4, 6);
    assert_int_equal(insert(fx->db, sign_in, "9001", NULL, NULL, 50), 0);
    assert_int_equal(journal_apply(fx->db, sign_in, MSG_EV_SEND, NULL, 50, NULL), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_list(fx->db, MSG__MAX, 0, 16, on_row, &got), 0);
    assert_int_equal(got.n, 5);
    assert_int_equal(journal_stats(fx->db, &stats), 0);
    assert_int_equal(stats.depth, 5);
    assert_int_equal(stats.oldest_at, 100);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_list(fx->db, MSG_SENT, 0, 16, on_row, &got), 0);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.msgids[0], sign_in);

    char last[MSGID_LEN + 1];
    assert_int_equal(journal_last_msgid(fx->db, last), 0);
    assert_string_equal(last, sign_in);
}

struct seen {
    int n;
    char msgids[128][MSGID_LEN + 1];
};

static int on_seen(const struct journal_row *row, void *data)
{
    struct seen *s = data;

    assert_true(s->n < 128);
    strcpy(s->msgids[s->n++], row->msgid);
    return 0;
}

/* Forty visits of three rows each, inserted round by round (so a visit's rows are far apart
 * in seq), whose keys sort in another order than they were inserted, and two visitless rows:
 * the due rows are the visits' heads and the visitless rows, in seq order, up to the limit. */
static void test_due_heads_of_many_visits(void **state)
{
    struct fx *fx = *state;
    char m[3][40][MSGID_LEN + 1], loose[2][MSGID_LEN + 1], key[8];
    struct seen got = {0};

    for (int r = 0; r < 3; r++)
        for (int v = 0; v < 40; v++) {
            mid(m[r][v], 10 + r, v);
            snprintf(key, sizeof key, "V%02d", (v * 7) % 40);
            assert_int_equal(insert(fx->db, m[r][v], "2301", key, NULL, 100), 0);
        }
    for (int i = 0; i < 2; i++) {
        mid(loose[i], 20, i);
        assert_int_equal(insert(fx->db, loose[i], "2203", NULL, NULL, 100), 0);
    }
    assert_int_equal(journal_due(fx->db, 100, 10, on_seen, &got), 0);
    assert_int_equal(got.n, 10);
    for (int v = 0; v < 10; v++)
        assert_string_equal(got.msgids[v], m[0][v]);

    memset(&got, 0, sizeof got);
    assert_int_equal(journal_due(fx->db, 100, 100, on_seen, &got), 0);
    assert_int_equal(got.n, 42);
    assert_string_equal(got.msgids[39], m[0][39]);
    assert_string_equal(got.msgids[40], loose[0]);
    assert_string_equal(got.msgids[41], loose[1]);

    /* Every head in flight: only the visitless rows are due. */
    for (int v = 0; v < 40; v++)
        assert_int_equal(journal_apply(fx->db, m[0][v], MSG_EV_SEND, NULL, 101, NULL), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_due(fx->db, 200, 100, on_seen, &got), 0);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.msgids[0], loose[0]);

    /* Visit 5's head answered: its second row is due, before the visitless rows (seq). */
    assert_int_equal(journal_apply(fx->db, m[0][5], MSG_EV_ANSWER_OK, NULL, 102, NULL), 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(journal_due(fx->db, 200, 100, on_seen, &got), 0);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.msgids[0], m[1][5]);
    assert_string_equal(got.msgids[1], loose[0]);
}

/* An unknown upload is replaced by a reversal and a resend that take its place in the
 * visit's order: they drain before the visit's later rows, reversal first. */
/* The visit's rows come due one at a time in the order expect[0..n) says, each sent and
 * answered before the next. */
static void due_one_by_one(struct db *db, const char *const *expect, int n)
{
    for (int i = 0; i < n; i++) {
        struct collect got = {0};

        assert_int_equal(journal_due(db, 10, 10, on_row, &got), 0);
        assert_int_equal(got.n, 1);
        assert_string_equal(got.msgids[0], expect[i]);
        assert_int_equal(journal_apply(db, expect[i], MSG_EV_SEND, NULL, 10, NULL), 0);
        assert_int_equal(journal_apply(db, expect[i], MSG_EV_ANSWER_OK, NULL, 10, NULL), 0);
    }
}

static void test_stand_in_keeps_visit_order(void **state)
{
    struct fx *fx = *state;
    char up1[MSGID_LEN + 1], up2[MSGID_LEN + 1], rev[MSGID_LEN + 1], again[MSGID_LEN + 1];
    bool open = false;

    mid(up1, 7, 1);
    mid(up2, 7, 2);
    mid(rev, 7, 3);
    mid(again, 7, 4);
    assert_int_equal(journal_visit_open(fx->db, "V", &open), 0);
    assert_false(open);
    assert_int_equal(insert(fx->db, up1, "2301", "V", NULL, 1), 0);
    assert_int_equal(insert(fx->db, up2, "2302", "V", NULL, 1), 0);
    assert_int_equal(journal_visit_open(fx->db, "V", &open), 0);
    assert_true(open);
    assert_int_equal(journal_apply(fx->db, up1, MSG_EV_SEND, NULL, 2, NULL), 0);
    assert_int_equal(journal_apply(fx->db, up1, MSG_EV_LOST_AFTER, NULL, 3, NULL), 0);
    /* The resolver: up1 reversed, a 2601 and a resend in its place, one transaction. */
    assert_int_equal(journal_apply(fx->db, up1, MSG_EV_QUERY_ABSENT, NULL, 4, NULL), 0);
    struct journal_new r = {.msgid = rev,
                            .infno = "2601",
                            .visit_key = "V",
                            .ref_msgid = up1,
                            .ord_of = up1,
                            .request = "{}",
                            .request_len = 2};
    assert_int_equal(journal_insert(fx->db, &r, 4), 0);
    struct journal_new a = {.msgid = again,
                            .infno = "2301",
                            .visit_key = "V",
                            .ref_msgid = up1,
                            .ord_of = up1,
                            .request = "{}",
                            .request_len = 2};
    assert_int_equal(journal_insert(fx->db, &a, 4), 0);

    const char *expect[] = {rev, again, up2};
    due_one_by_one(fx->db, expect, 3);
    struct journal_row *row = NULL;
    assert_int_equal(journal_get(fx->db, again, &row), 0);
    assert_string_equal(row->ref_msgid, up1);
    journal_row_free(row);
    /* The stand-in of up1 is the resend, not the reversal (another infno). */
    assert_int_equal(journal_get_standin(fx->db, up1, "2301", &row), 0);
    assert_string_equal(row->msgid, again);
    journal_row_free(row);
    assert_int_equal(journal_get_standin(fx->db, up2, "2302", &row), POSA_ENOTFOUND);
    assert_int_equal(journal_visit_open(fx->db, "V", &open), 0);
    assert_false(open);
}

/* A 2601 naming ref (or standing in for the 2601 ref), journaled and taken to end by evs. */
static void reversal(struct db *db, const char *msgid, const char *ref, const enum msg_event *evs,
                     int n)
{
    struct journal_new r = {
        .msgid = msgid, .infno = "2601", .ref_msgid = ref, .request = "{}", .request_len = 2};

    assert_int_equal(journal_insert(db, &r, 5), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(journal_apply(db, msgid, evs[i], NULL, 6, NULL), 0);
}

/* The reversal that decides a settlement's fate is the last of its 2601s, whatever ended
 * the one before: reversed and sent again, or refused for a lost session and sent again. */
static void test_reversal_state_follows_stand_ins(void **state)
{
    struct fx *fx = *state;
    static const enum msg_event refused[] = {MSG_EV_SEND, MSG_EV_ANSWER_REFUSED},
                                done[] = {MSG_EV_SEND, MSG_EV_ANSWER_OK},
                                reversed[] = {MSG_EV_SEND, MSG_EV_LOST_AFTER, MSG_EV_QUERY_ABSENT};
    char s[4][MSGID_LEN + 1], r[7][MSGID_LEN + 1];
    enum msg_state st = MSG__MAX;

    for (int i = 0; i < 4; i++) {
        mid(s[i], 8, i);
        assert_int_equal(insert(fx->db, s[i], "2207", NULL, NULL, 1), 0);
    }
    for (int i = 0; i < 7; i++)
        mid(r[i], 9, i);
    assert_int_equal(journal_reversal_state(fx->db, s[0], &st), POSA_ENOTFOUND);
    /* s[1]: its 2601 refused by the platform, for good. */
    reversal(fx->db, r[0], s[1], refused, 2);
    assert_int_equal(journal_reversal_state(fx->db, s[1], &st), 0);
    assert_int_equal(st, MSG_REFUSED);
    /* s[2]: its 2601 refused for a lost session, then its stand-in done. */
    reversal(fx->db, r[1], s[2], refused, 2);
    reversal(fx->db, r[2], r[1], done, 2);
    assert_int_equal(journal_reversal_state(fx->db, s[2], &st), 0);
    assert_int_equal(st, MSG_DONE);
    /* s[3]: its 2601 lost and sent again, that one refused for a session, the third queued. */
    reversal(fx->db, r[3], s[3], reversed, 3);
    reversal(fx->db, r[4], r[3], refused, 2);
    reversal(fx->db, r[5], r[4], NULL, 0);
    assert_int_equal(journal_reversal_state(fx->db, s[3], &st), 0);
    assert_int_equal(st, MSG_QUEUED);
}

/* The reversal of an unknown upload is itself lost after leaving: the resolver sends it again
 * (a new 2601 in its place). That one goes before the upload's resend, which was queued before
 * it: the resend sent first meets the original still standing and is refused, and the line
 * ends on the platform under no message once the second reversal lands. */
static void test_reversal_sent_again_before_the_resend(void **state)
{
    struct fx *fx = *state;
    char up1[MSGID_LEN + 1], rev[MSGID_LEN + 1], again[MSGID_LEN + 1], rev2[MSGID_LEN + 1];

    mid(up1, 9, 1);
    mid(rev, 9, 2);
    mid(again, 9, 3);
    mid(rev2, 9, 4);
    assert_int_equal(insert(fx->db, up1, "2301", "V", NULL, 1), 0);
    assert_int_equal(journal_apply(fx->db, up1, MSG_EV_SEND, NULL, 2, NULL), 0);
    assert_int_equal(journal_apply(fx->db, up1, MSG_EV_LOST_AFTER, NULL, 3, NULL), 0);
    assert_int_equal(journal_apply(fx->db, up1, MSG_EV_QUERY_ABSENT, NULL, 4, NULL), 0);
    struct journal_new r = {.msgid = rev, .infno = "2601", .visit_key = "V", .ref_msgid = up1,
                            .ord_of = up1, .request = "{}", .request_len = 2};
    struct journal_new a = {.msgid = again, .infno = "2301", .visit_key = "V", .ref_msgid = up1,
                            .ord_of = up1, .request = "{}", .request_len = 2};
    assert_int_equal(journal_insert(fx->db, &r, 4), 0);
    assert_int_equal(journal_insert(fx->db, &a, 4), 0);
    assert_int_equal(journal_apply(fx->db, rev, MSG_EV_SEND, NULL, 5, NULL), 0);
    assert_int_equal(journal_apply(fx->db, rev, MSG_EV_LOST_AFTER, NULL, 6, NULL), 0);
    /* The resolver: the 2601 absent upstream, sent again in its place. */
    assert_int_equal(journal_apply(fx->db, rev, MSG_EV_QUERY_ABSENT, NULL, 7, NULL), 0);
    struct journal_new r2 = {.msgid = rev2, .infno = "2601", .visit_key = "V", .ref_msgid = rev,
                             .ord_of = rev, .request = "{}", .request_len = 2};
    assert_int_equal(journal_insert(fx->db, &r2, 7), 0);

    const char *expect[] = {rev2, again};
    due_one_by_one(fx->db, expect, 2);
}

/* A re-stamped request replaces the stored one when it leaves. */
static void test_request_restamped(void **state)
{
    struct fx *fx = *state;
    char a[MSGID_LEN + 1];
    struct journal_outcome out = {.request = "{\"sign_no\":\"2\"}", .request_len = 14};
    struct journal_row *row = NULL;

    mid(a, 8, 1);
    assert_int_equal(insert(fx->db, a, "2301", "V", NULL, 1), 0);
    assert_int_equal(journal_apply(fx->db, a, MSG_EV_SEND, &out, 2, NULL), 0);
    assert_int_equal(journal_get(fx->db, a, &row), 0);
    assert_int_equal(row->request_len, 14);
    assert_memory_equal(row->request, "{\"sign_no\":\"2\"}", 14);
    journal_row_free(row);
}

static int stop_after_one(const struct journal_row *row, void *data)
{
    (void)row;
    (*(int *)data)++;
    return 42;
}

static void test_callback_stops(void **state)
{
    struct fx *fx = *state;
    char m[MSGID_LEN + 1];
    int calls = 0;

    for (int i = 0; i < 3; i++) {
        mid(m, 5, i);
        assert_int_equal(insert(fx->db, m, "2204", NULL, NULL, 1), 0);
    }
    assert_int_equal(journal_due(fx->db, 10, 10, stop_after_one, &calls), 42);
    assert_int_equal(calls, 1);
    char last[MSGID_LEN + 1] = "x";
    assert_int_equal(journal_list(fx->db, MSG_REFUSED, 0, 10, stop_after_one, &calls), 0);
    assert_int_equal(calls, 1);
    (void)last;
}

/* A transaction rolled back leaves nothing; a savepoint rolls back one job alone. */
static void test_transactions(void **state)
{
    struct fx *fx = *state;
    char a[MSGID_LEN + 1], b[MSGID_LEN + 1];
    struct journal_row *row = NULL;

    mid(a, 6, 1);
    mid(b, 6, 2);
    assert_int_equal(db_begin(fx->db), 0);
    assert_int_equal(insert(fx->db, a, "2204", NULL, NULL, 1), 0);
    assert_int_equal(db_rollback(fx->db), 0);
    assert_int_equal(journal_get(fx->db, a, &row), POSA_ENOTFOUND);

    assert_int_equal(db_begin(fx->db), 0);
    assert_int_equal(db_savepoint(fx->db), 0);
    assert_int_equal(insert(fx->db, a, "2204", NULL, NULL, 1), 0);
    assert_int_equal(db_savepoint_release(fx->db), 0);
    assert_int_equal(db_savepoint(fx->db), 0);
    assert_int_equal(insert(fx->db, b, "2204", NULL, NULL, 1), 0);
    assert_int_equal(db_savepoint_rollback(fx->db), 0);
    assert_int_equal(db_commit(fx->db), 0);
    assert_int_equal(journal_get(fx->db, a, &row), 0);
    journal_row_free(row);
    assert_int_equal(journal_get(fx->db, b, &row), POSA_ENOTFOUND);
    /* No transaction (SQLite may have rolled the group's back): no savepoint either. */
    assert_int_equal(db_savepoint(fx->db), -EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_schema_mode, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_settlements_since, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wal_cut_back, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_insert_validation_and_duplicates, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_transitions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_send_now_and_restart, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_due_order_per_visit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_due_heads_of_many_visits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_callback_stops, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stand_in_keeps_visit_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reversal_sent_again_before_the_resend, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_request_restamped, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reversal_state_follows_stand_ins, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_transactions, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
