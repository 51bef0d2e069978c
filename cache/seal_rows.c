/* Sealing the values written plain before a database had its sealer (db.h). A table at a
 * time, newest rows first, a batch of rows a call, so a large journal never holds the database
 * thread for long; seal_check.plain_done (schema 0018) records that the pass finished. */
#include "cache/db_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"

#define SEAL_ROWS_MAX 256

struct sealable_table {
    const char *rowids; /* ?2 rowids after ?1, in order */
    const char *get;    /* the sealable columns of rowid ?1, then its digest if it has one */
    const char *put;    /* sets each column ?2.. given (coalesce keeps the others) */
    int cols;           /* sealable columns */
    bool digest;        /* and an idempotent request's digest after them, to key */
};

/* Every sealable column (db.h, "At-rest sealing"), table by table, each newest first: the
 * digests of the requests just before the start, which a retry after it compares its own
 * (keyed) with, are keyed in the first jobs (until then such a retry is a CONFLICT). */
static const struct sealable_table sealable[] = {
    {"SELECT rowid FROM his_answers WHERE rowid < ?1 ORDER BY rowid DESC LIMIT ?2",
     "SELECT answer, body_hash FROM his_answers WHERE rowid = ?1",
     "UPDATE his_answers SET answer = coalesce(?2, answer), body_hash = coalesce(?3, body_hash) "
     "WHERE rowid = ?1",
     1, true},
    {"SELECT seq FROM journal WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
     "SELECT request, response, idem_hash FROM journal WHERE seq = ?1",
     "UPDATE journal SET request = coalesce(?2, request), response = coalesce(?3, response), "
     "idem_hash = coalesce(?4, idem_hash) WHERE seq = ?1",
     2, true},
    {"SELECT rowid FROM identities WHERE rowid < ?1 ORDER BY rowid DESC LIMIT ?2",
     "SELECT body FROM identities WHERE rowid = ?1",
     "UPDATE identities SET body = coalesce(?2, body) WHERE rowid = ?1", 1, false},
    {"SELECT rowid FROM visits WHERE rowid < ?1 ORDER BY rowid DESC LIMIT ?2",
     "SELECT body, psn_no, cert_no, card_sn FROM visits WHERE rowid = ?1",
     "UPDATE visits SET body = coalesce(?2, body), psn_no = coalesce(?3, psn_no), "
     "cert_no = coalesce(?4, cert_no), card_sn = coalesce(?5, card_sn) WHERE rowid = ?1",
     4, false},
    {"SELECT rowid FROM settlements WHERE rowid < ?1 ORDER BY rowid DESC LIMIT ?2",
     "SELECT body FROM settlements WHERE rowid = ?1",
     "UPDATE settlements SET body = coalesce(?2, body) WHERE rowid = ?1", 1, false},
    {"SELECT date FROM reconcile_reports WHERE date < ?1 ORDER BY date DESC LIMIT ?2",
     "SELECT body FROM reconcile_reports WHERE date = ?1",
     "UPDATE reconcile_reports SET body = coalesce(?2, body) WHERE date = ?1", 1, false},
};

#define SEALABLE_TABLES ((int)(sizeof sealable / sizeof sealable[0]))

static const char sql_plain_done_get[] = "SELECT plain_done FROM seal_check WHERE id = 1";
static const char sql_plain_done_set[] = "UPDATE seal_check SET plain_done = 1 WHERE id = 1";

/* Up to max rowids of t below `below` (0: from the newest) into ids, newest first: how many,
 * or an error. */
static int next_rowids(struct db *db, const struct sealable_table *t, int64_t below, int64_t *ids,
                       int max)
{
    sqlite3_stmt *st = db_stmt(db, t->rowids);
    int n = 0, rc;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, below ? below : INT64_MAX);
    sqlite3_bind_int(st, 2, max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : db_map(rc);
}

/* An unkeyed digest: lowercase hex (a route's own key, "settle:S...", is no digest). */
static bool unkeyed_digest(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
        i++;
    return len >= 2 && i == len && len <= 65;
}

/* Binds the keyed form of column c of get's row at col of put when it is an unkeyed digest:
 * 1 when bound, 0 when it needs none, or an error. */
static int bind_keyed_digest(struct db *db, sqlite3_stmt *get, int c, sqlite3_stmt *put, int col)
{
    const unsigned char *s = sqlite3_column_text(get, c);
    size_t len = (size_t)sqlite3_column_bytes(get, c);
    char keyed[66];
    int err;

    if (!s || !unkeyed_digest(s, len))
        return 0;
    err = db_sealer(db)->digest(db_sealer(db)->ctx, (const char *)s, keyed);
    if (err)
        return err;
    return sqlite3_bind_text(put, col, keyed, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 1 : POSA_EDB;
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
    if (!err && t->digest && (err = bind_keyed_digest(db, get, t->cols, put, 2 + t->cols)) > 0) {
        plain = true;
        err = 0;
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
