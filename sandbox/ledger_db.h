/* What ledger.c and ledger_fees.c share, and no one else: the prepared statements, the
 * connection, and the helpers that bind, read and run them. */
#ifndef POSA_SANDBOX_LEDGER_DB_H
#define POSA_SANDBOX_LEDGER_DB_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "core/str.h"
#include "sandbox/ledger.h"

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_MSG_SAVEPOINT,
    S_MSG_RELEASE,
    S_MSG_ROLLBACK_TO,
    S_SEQ_BUMP,
    S_SEQ_GET,
    S_MSG_GET,
    S_MSG_PUT,
    S_SIGNIN_ADD,
    S_SIGNIN_OPEN,
    S_SIGNIN_CLOSE,
    S_VISIT_PUT,
    S_VISIT_GET,
    S_SETS_LOAD,
    S_SET_PUT,
    S_SET_DELETE,
    S_UPLOAD_VISIT,
    S_MSG_VISITS,
    S_SETS_VISITS,
    S_SETS_VISITS_PSN,
    S_SETL_INSERT,
    S_SETL_GET,
    S_SETL_BY_MSG,
    S_SETL_BY_CANCEL,
    S_SETL_ACTIVE,
    S_SETL_COVER,
    S_SETL_LINES_SET,
    S_SETL_STATE,
    S_VISIT_DEDUCTIBLE,
    S_RECON,
    S_ACCUM_GET,
    S_ACCUM_MOVE,
    S_BAL_GET,
    S_BAL_SET,
    S_FILING_ADD,
    S_FILING_EACH,
    S_SETL_EACH,
    S__MAX
};

/* The SQL of each statement (ledger.c). */
extern const char *const ledger_stmt_sql[S__MAX];

struct ledger {
    sqlite3 *db;
    sqlite3 *checkpointer; /* a second connection: ledger_checkpoint, on another thread */
    int wal_frames;        /* in the WAL after db's last commit */
    sqlite3_stmt *stmts[S__MAX];
};

/* The fee part's migrations (ledger_fees.c), run by ledger.c's migrate. */
int ledger_migrate_fees(struct ledger *l);
int ledger_migrate_sets(struct ledger *l);

static inline sqlite3_stmt *stmt(struct ledger *l, enum stmt_id id)
{
    sqlite3_stmt *st = l->stmts[id];

    if (!st) {
        if (sqlite3_prepare_v3(l->db, ledger_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK) {
            fprintf(stderr, "ledger: prepare %d: %s\n", (int)id, sqlite3_errmsg(l->db));
            return NULL;
        }
        l->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static inline void bt(sqlite3_stmt *st, int i, const char *text)
{
    if (text)
        sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static inline void bi(sqlite3_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(st, i, v);
}

static inline void ct(sqlite3_stmt *st, int col, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    str_copy(buf, cap, (const char *)t);
}

static inline int64_t ci(sqlite3_stmt *st, int col)
{
    return sqlite3_column_int64(st, col);
}

/* Runs a statement that returns no rows; a uniqueness conflict is -EEXIST. */
static inline int run(struct ledger *l, sqlite3_stmt *st)
{
    int rc;

    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT)
        return -EEXIST;
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "ledger: %s\n", sqlite3_errmsg(l->db));
        return -EIO;
    }
    return 0;
}

/* Steps a query: 1 with a row, 0 without, -EIO on error. The caller resets. */
static inline int row(struct ledger *l, sqlite3_stmt *st)
{
    int rc;

    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    fprintf(stderr, "ledger: %s\n", sqlite3_errmsg(l->db));
    return -EIO;
}

static inline int one_int(struct ledger *l, sqlite3_stmt *st, int64_t *ret)
{
    int rc = row(l, st);

    if (rc == 1)
        *ret = ci(st, 0);
    sqlite3_reset(st);
    return rc == 1 ? 0 : -EIO;
}

#endif
