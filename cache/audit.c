/* The audit log: append and page through; the hash chain is agent/audit.c's. */
#include "cache/audit.h"

#include <string.h>

#include "cache/db_internal.h"
#include "core/err.h"

static const char sql_hash_before[] =
    "SELECT hash FROM audit WHERE seq < ?1 ORDER BY seq DESC LIMIT 1";
static const char sql_insert[] =
    "INSERT INTO audit (at, who, action, target, msgid, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_list[] = "SELECT seq, at, who, action, target, msgid, hash FROM audit "
                               "WHERE seq > ?1 ORDER BY seq LIMIT ?2";

int audit_hash_before(struct db *db, int64_t seq, char ret[AUDIT_HASH_LEN + 1])
{
    sqlite3_stmt *st = db_stmt(db, sql_hash_before);
    int rc, err = 0;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, seq);
    ret[0] = '\0';
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(st, 0);

        if (!h || sqlite3_column_bytes(st, 0) != AUDIT_HASH_LEN)
            err = POSA_ECORRUPT; /* not a hash cache/ wrote */
        else
            memcpy(ret, h, AUDIT_HASH_LEN + 1);
    } else if (rc != SQLITE_DONE) {
        err = db_map(rc);
    }
    sqlite3_reset(st);
    return err;
}

int audit_insert(struct db *db, const struct audit_row *row)
{
    sqlite3_stmt *st = db_stmt(db, sql_insert);

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, row->at);
    db_bind_text(st, 2, row->who);
    db_bind_text(st, 3, row->action);
    db_bind_text(st, 4, row->target);
    db_bind_text(st, 5, row->msgid);
    db_bind_text(st, 6, row->hash);
    return db_step_done(db, st);
}

static const char *text_col(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    return s ? (const char *)s : "";
}

int audit_list(struct db *db, int64_t after, int limit, audit_row_cb cb, void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_list);
    int rc, err = 0;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct audit_row row = {.seq = sqlite3_column_int64(st, 0),
                                .at = sqlite3_column_int64(st, 1),
                                .who = text_col(st, 2),
                                .action = text_col(st, 3),
                                .target = text_col(st, 4),
                                .msgid = text_col(st, 5),
                                .hash = text_col(st, 6)};

        err = cb(&row, data);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    sqlite3_reset(st);
    return err;
}
