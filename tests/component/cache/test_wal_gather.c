/* cache/wal_gather.c under a second connection on the default VFS, as a reader beside posad
 * (posactl, the tests' own reads): after every commit, of one page up to well over the
 * 64 KiB a single write takes, the reader sees exactly what was committed, so no frame the
 * WAL index names is still in posad's memory; a rolled-back transaction leaves nothing
 * behind; and the file is sound when reopened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cache/db.h"
#include "cache/db_internal.h"
#include "tests/component/tmpdb.h"

struct fx {
    struct tmpdb tmp;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    tmpdb_make(&fx->tmp, "wal");
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    tmpdb_remove(&fx->tmp);
    free(fx);
    return 0;
}

static void exec(sqlite3 *sq, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(sq, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

/* count(*) and the bytes of t's blobs as the reader sees them: hex() reads every byte, down
 * each overflow chain, where length() would stop at the record header. */
static void seen(sqlite3 *reader, int64_t *rows, int64_t *bytes)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*), "
                                                "coalesce(sum(length(hex(b))), 0) / 2 FROM t",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    *rows = sqlite3_column_int64(st, 0);
    *bytes = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
}

static void insert(sqlite3 *sq, int bytes)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(sq, "INSERT INTO t(b) VALUES (randomblob(?1))", -1, &st,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, bytes);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static void test_reader_sees_every_commit(void **state)
{
    struct fx *fx = *state;
    struct db *db = NULL;
    sqlite3 *sq, *reader = NULL;
    int64_t rows = 0, bytes = 0, want_rows = 0, want_bytes = 0;

    assert_int_equal(db_open(fx->tmp.path, &db), 0);
    sq = db_sqlite(db);
    exec(sq, "PRAGMA wal_autocheckpoint = 0"); /* every frame stays in the WAL to be read */
    exec(sq, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)");
    assert_int_equal(sqlite3_open_v2(fx->tmp.path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    /* Transactions of 1 to 40 pages and more: the commit frame lands at every place in a
     * 64 KiB piece, its header at the end of one piece and its page in the next among them.
     * Synced commits, then lazy ones (no sync to write out what was gathered). */
    for (int n = 1; n <= 96; n++) {
        if (n == 49)
            assert_int_equal(db_set_lazy(db, true), 0);
        exec(sq, "BEGIN IMMEDIATE");
        insert(sq, (n - 1) % 48 * 3000 + 3000);
        insert(sq, 100);
        exec(sq, "COMMIT");
        want_rows += 2;
        want_bytes += (n - 1) % 48 * 3000 + 3000 + 100;
        seen(reader, &rows, &bytes);
        assert_int_equal(rows, want_rows);
        assert_int_equal(bytes, want_bytes);
    }
    /* Rolled back after writing more than a piece: nothing of it is seen, then or later. */
    exec(sq, "BEGIN IMMEDIATE");
    insert(sq, 200000);
    exec(sq, "ROLLBACK");
    exec(sq, "BEGIN IMMEDIATE");
    insert(sq, 5000);
    exec(sq, "COMMIT");
    want_rows++;
    want_bytes += 5000;
    seen(reader, &rows, &bytes);
    assert_int_equal(rows, want_rows);
    assert_int_equal(bytes, want_bytes);
    sqlite3_close(reader);
    db_close(db);

    /* Reopened (its WAL replayed): the same, and sound. */
    assert_int_equal(sqlite3_open_v2(fx->tmp.path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    seen(reader, &rows, &bytes);
    assert_int_equal(rows, want_rows);
    assert_int_equal(bytes, want_bytes);
    {
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(reader, "PRAGMA integrity_check", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
    }
    sqlite3_close(reader);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reader_sees_every_commit, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
