/* Sealing the values written plain before a database had its sealer (db.h). A table at a
 * time in rowid order, a batch of rows a call, so a large journal never holds the database
 * thread for long; seal_check.plain_done (schema 0018) records that the pass finished. */
#include "cache/db_internal.h"

#include <errno.h>
#include <string.h>

#include "core/err.h"

#define SEAL_ROWS_MAX 256

struct sealable_table {
    const char *rowids; /* ?2 rowids after ?1, in order */
    const char *get;    /* the sealable columns of rowid ?1 */
    const char *put;    /* sets each column ?2.. given (coalesce keeps the others) */
    int cols;
};

/* Every sealable column (db.h, "At-rest sealing"), table by table. */
static const struct sealable_table sealable[] = {
    {"SELECT seq FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2",
     "SELECT request, response FROM journal WHERE seq = ?1",
     "UPDATE journal SET request = coalesce(?2, request), response = coalesce(?3, response) "
     "WHERE seq = ?1",
     2},
    {"SELECT rowid FROM identities WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
     "SELECT body FROM identities WHERE rowid = ?1",
     "UPDATE identities SET body = coalesce(?2, body) WHERE rowid = ?1", 1},
    {"SELECT rowid FROM visits WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
     "SELECT body, psn_no, cert_no, card_sn FROM visits WHERE rowid = ?1",
     "UPDATE visits SET body = coalesce(?2, body), psn_no = coalesce(?3, psn_no), "
     "cert_no = coalesce(?4, cert_no), card_sn = coalesce(?5, card_sn) WHERE rowid = ?1",
     4},
    {"SELECT rowid FROM settlements WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
     "SELECT body FROM settlements WHERE rowid = ?1",
     "UPDATE settlements SET body = coalesce(?2, body) WHERE rowid = ?1", 1},
    {"SELECT rowid FROM his_answers WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
     "SELECT answer FROM his_answers WHERE rowid = ?1",
     "UPDATE his_answers SET answer = coalesce(?2, answer) WHERE rowid = ?1", 1},
};

#define SEALABLE_TABLES ((int)(sizeof sealable / sizeof sealable[0]))

static const char sql_plain_done_get[] = "SELECT plain_done FROM seal_check WHERE id = 1";
static const char sql_plain_done_set[] = "UPDATE seal_check SET plain_done = 1 WHERE id = 1";

/* Up to max rowids of t after `after` into ids: how many, or an error. */
static int next_rowids(struct db *db, const struct sealable_table *t, int64_t after, int64_t *ids,
                       int max)
{
    sqlite3_stmt *st = db_stmt(db, t->rowids);
    int n = 0, rc;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : db_map(rc);
}

/* Seals the plain values of one row: 1 when it wrote, 0 when there were none, or an error. */
static int seal_row(struct db *db, const struct sealable_table *t, int64_t rowid)
{
    sqlite3_stmt *get = db_stmt(db, t->get), *put = db_stmt(db, t->put);
    bool plain = false;
    int err = 0, rc;

    if (!get || !put)
        return POSA_EDB;
    sqlite3_bind_int64(get, 1, rowid);
    rc = sqlite3_step(get);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(get);
        return rc == SQLITE_DONE ? 0 : db_map(rc); /* gone since: nothing to seal */
    }
    sqlite3_bind_int64(put, 1, rowid);
    for (int c = 0; c < t->cols && !err; c++) {
        int type = sqlite3_column_type(get, c);
        const void *p = sqlite3_column_blob(get, c);
        size_t len = (size_t)sqlite3_column_bytes(get, c);

        if (type == SQLITE_NULL || db_value_sealed(p, len))
            continue; /* coalesce keeps it */
        /* Bound sealed, a copy: get's row may go before put runs. */
        err = db_bind_sealable(db, put, 2 + c, p ? p : "", len, true);
        plain = true;
    }
    sqlite3_reset(get);
    if (!err && plain)
        err = db_step_done(db, put);
    sqlite3_reset(put);
    sqlite3_clear_bindings(put);
    return err ? err : plain;
}

int db_seal_plain_rows(struct db *db, struct db_seal_cursor *cur, int limit, int *ret_sealed,
                       bool *ret_done)
{
    int64_t ids[SEAL_ROWS_MAX];
    sqlite3_stmt *st;
    int n, err = 0, rc;

    *ret_sealed = 0;
    *ret_done = false;
    if (!db_sealer(db)) {
        *ret_done = true; /* nothing is sealed: nothing to do */
        return 0;
    }
    if (!(st = db_stmt(db, sql_plain_done_get)))
        return POSA_EDB;
    rc = sqlite3_step(st);
    *ret_done = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW || *ret_done)
        return rc == SQLITE_ROW ? 0 : POSA_EDB; /* db_seal_begin made the row */
    if (limit > SEAL_ROWS_MAX)
        limit = SEAL_ROWS_MAX;
    while (cur->table < SEALABLE_TABLES && limit > 0) {
        const struct sealable_table *t = &sealable[cur->table];

        if ((n = next_rowids(db, t, cur->rowid, ids, limit)) < 0)
            return n;
        for (int i = 0; i < n; i++) {
            if ((err = seal_row(db, t, ids[i])) < 0)
                return err;
            *ret_sealed += err;
            cur->rowid = ids[i];
        }
        limit -= n;
        if (limit > 0) { /* the table is done */
            cur->table++;
            cur->rowid = 0;
        }
    }
    if (cur->table < SEALABLE_TABLES)
        return 0;
    *ret_done = true;
    return (st = db_stmt(db, sql_plain_done_set)) ? db_step_done(db, st) : POSA_EDB;
}
