/* What cache/'s own files share about the connection: not for use outside cache/. */
#ifndef POSA_CACHE_DB_INTERNAL_H
#define POSA_CACHE_DB_INTERNAL_H

#include <sqlite3.h>

#include "cache/db.h"

sqlite3 *db_sqlite(struct db *db);

/* Maps a SQLite result code (extended or primary) to a posa code; SQLITE_OK -> 0. */
int db_map(int rc);

/* A cached prepared statement for one of cache/'s fixed SQL texts (the text's address is
 * the key), reset and with bindings cleared. NULL on failure (db_errmsg() says why). */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/* Runs a prepared statement that returns no rows; resets it. */
int db_step_done(struct db *db, sqlite3_stmt *st);

/* Binds text that may be NULL (bound as NULL). */
int db_bind_text(sqlite3_stmt *st, int col, const char *text);

/* The connection's sealer (NULL: none), and whether a value is sealed (DB_SEAL_MAGIC). */
const struct db_sealer *db_sealer(struct db *db);
bool db_value_sealed(const void *p, size_t len);

/* A value of a sealed column (db.h, db_seal_begin): bound sealed when the connection has a
 * sealer, else as it is (text, or a blob when blob); NULL binds NULL. The caller must check
 * the result: a value that failed to seal is not bound. */
int db_bind_sealable(struct db *db, sqlite3_stmt *st, int col, const void *p, size_t len,
                     bool blob);
/* Column col of the current row, opened when sealed: malloc'd and NUL-terminated in *ret
 * (NULL for SQL NULL), its length in *ret_len when not NULL. POSA_ECORRUPT when it does not
 * open (a damaged value: the key opened seal_check), POSA_ESEALED when sealed and the
 * connection has no sealer, -ENOMEM. */
int db_column_opened(struct db *db, sqlite3_stmt *st, int col, char **ret, size_t *ret_len);

/* The migrations in order: migrations[i] brings the schema from version i to i + 1. */
struct db_migration {
    const char *name;
    const char *sql;
};
extern const struct db_migration db_migrations[];
extern const int db_migrations_count;

/* Migration steps SQL cannot take, run after their migration's SQL in its transaction:
 * 0010 packs the rows of fee_lines (renamed fee_lines_v9) into fee_sets (records_fees.c). */
int records_migrate_fee_sets(struct db *db);

#endif
