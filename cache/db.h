/* The SQLite database of posad: open (file 0600, WAL, synchronous=FULL), versioned
 * migrations, transactions. Synchronous and single-threaded: one struct db belongs to one
 * thread (agent/db_worker.c owns the writer). cache/ never logs; errors come back as codes
 * and db_errmsg() says what SQLite said. */
#ifndef POSA_CACHE_DB_H
#define POSA_CACHE_DB_H

#include <stdint.h>

/* cache/'s own error codes (-1300..-1399). SQLite's codes become these or -errno values
 * (SQLITE_FULL -> -ENOSPC, SQLITE_IOERR -> -EIO, SQLITE_BUSY -> -EBUSY) at this edge.
 * TODO(lead): move into core/err.h's table so posa_strerror() names them. */
enum cache_err {
    POSA_EDB = -1300,       /* any other database failure; see db_errmsg() */
    POSA_EEXISTS = -1301,   /* a row with this key (msgid, idempotency key) exists */
    POSA_ENOTFOUND = -1302, /* no such row */
    POSA_ESCHEMA = -1303,   /* the file's schema is newer than this program */
    POSA_ECORRUPT = -1304,  /* not a database, or a damaged one */
};

struct db;

/* Opens (creating with mode 0600) the database at path, turns on WAL and
 * synchronous=FULL and applies every migration the file lacks, each in its own
 * transaction. ":memory:" works for tests. */
int db_open(const char *path, struct db **ret);
void db_close(struct db *db); /* NULL is a no-op */

/* The schema version the file is at (PRAGMA user_version) and the newest this program
 * knows. */
int db_schema_version(struct db *db);
int db_schema_latest(void);

/* Transactions. db_begin takes the write lock at once (BEGIN IMMEDIATE). A savepoint
 * nests inside a transaction so one failing job of a group commit rolls back alone. */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);
int db_savepoint(struct db *db);
int db_savepoint_release(struct db *db);
int db_savepoint_rollback(struct db *db);

/* SQLite's message for the last failure on this connection; never NULL. */
const char *db_errmsg(struct db *db);

/* Human words for cache/'s codes (and anything posa_strerror names). */
const char *db_strerror(int err);

#endif
