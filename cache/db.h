/* The SQLite database of posad: open (file 0600, WAL, synchronous=FULL), versioned
 * migrations, transactions. Synchronous and single-threaded: one struct db belongs to one
 * thread (agent/db_worker.c owns the writer). cache/ never logs; errors come back as codes
 * and db_errmsg() says what SQLite said. */
#ifndef POSA_CACHE_DB_H
#define POSA_CACHE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h" /* cache/'s codes: POSA_EDB .. POSA_ECORRUPT */

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
 * nests inside a transaction so one failing job of a group commit rolls back alone; outside
 * one (none begun, or SQLite rolled it back after an error) db_savepoint is -EIO. */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);
int db_savepoint(struct db *db);
int db_savepoint_release(struct db *db);
int db_savepoint_rollback(struct db *db);
/* Rows inserted, updated or deleted on this connection so far: a job that left it unchanged
 * wrote nothing (a failed statement takes its own changes back). */
int64_t db_changes(struct db *db);
/* False once SQLite rolled the transaction back by itself (disk full, I/O, memory). */
bool db_in_transaction(struct db *db);

/* Lazy commits (synchronous=NORMAL in WAL mode) skip the fsync: what they wrote survives a
 * crash of the process at once, and a power cut from the next FULL commit or sync of the WAL
 * (db_wal_fd) on, which syncs the whole log before it. Set between transactions; FULL is
 * the default. */
int db_set_lazy(struct db *db, bool lazy);
/* PRAGMA synchronous as SQLite reports it: 1 NORMAL, 2 FULL (-1 on failure). */
int db_synchronous(struct db *db);
/* The WAL's own descriptor (wal_gather_sync_fd), for another thread to fdatasync() lazy
 * commits with while this connection goes on: 0 with *ret_fd -1 in memory (nothing to
 * sync), POSA_EDB when the file's WAL has none. */
int db_wal_fd(struct db *db, int *ret_fd);

/* Checkpoints off the committing thread. SQLite's automatic checkpoint copies the WAL back
 * into the database inside a commit every 1000 pages, syncing the file, and the database
 * thread's commits waited behind it. db_checkpointer_open() opens a second connection for
 * db_checkpoint_aside() and turns the automatic checkpoint off; the committing thread then
 * reads db_wal_frames() after each commit and asks another thread for a checkpoint when the
 * WAL has grown. That one can never catch up with a WAL being written: once few frames are
 * left, the committing thread copies them itself with db_checkpoint(), between
 * transactions, and the next commit starts the WAL over.
 *
 * db_checkpoint_aside() runs on one other thread, while the committing thread goes on; each
 * returns the WAL's frames now in the database (0 when busy) or an error. In memory, or
 * without db_checkpointer_open(), there is nothing to do: 0. */
int db_checkpointer_open(struct db *db);
/* What the WAL file keeps when it starts over (PRAGMA journal_size_limit): a burst of writes
 * the checkpoints did not keep up with (a retention backlog deleting months of rows) grew it
 * to the database's size, and SQLite reuses a WAL file rather than shrinking it, so the
 * disk stayed taken until posad stopped. Above the WAL's size in steady work (a checkpoint
 * every DB_WORKER_CHECKPOINT_FRAMES pages, ~4.5 MB), so that is never truncated. */
#define DB_WAL_KEPT_BYTES 8388608
/* Frames in the WAL after this connection's last commit (0 once it was checkpointed). */
int db_wal_frames(const struct db *db);
int db_checkpoint_aside(struct db *db);
int db_checkpoint(struct db *db);
/* After a burst that grew the WAL (a retention pass through a backlog): DB_WAL_KEPT_BYTES
 * cuts it only at the next commit, and an idle posad kept the disk for hours. A job asks,
 * inside its group's transaction (db_wal_truncate_later); the database thread takes the
 * request after its commit (db_wal_truncate_taken) and hands it to the checkpointer's
 * thread, which copies the whole WAL back and truncates its file to nothing
 * (db_wal_truncate_aside: a passive checkpoint first, so that the writer's lock a truncate
 * takes is held only for what came since; on the connection of db_checkpointer_open, else
 * db's own between transactions). Busy (a reader on an older snapshot): nothing, 0. */
void db_wal_truncate_later(struct db *db);
bool db_wal_truncate_taken(struct db *db);
int db_wal_truncate_aside(struct db *db);

/* At-rest sealing (architecture.md, "Security"). The columns that carry personal data, the
 * journal's request and response, the bodies of identities, visits, settlements and
 * reconciliation reports, the first answers of idempotent requests, and a visit's psn_no,
 * cert_no and card_sn, are written
 * sealed once a sealer is set. cache/ links no cryptography: agent/seal.c gives the two
 * functions. A sealed value is DB_SEAL_MAGIC and what seal() wrote; any other value is plain,
 * so the rows of a database from before sealing was turned on stay readable until
 * db_seal_plain_rows seals them. */
#define DB_SEAL_MAGIC        "\0PSL"
#define DB_SEAL_MAGIC_LEN    4
#define DB_SEAL_OVERHEAD_MAX 64 /* what seal() may add to a value */

struct db_sealer {
    /* plain (len bytes) into out, which has room for len + DB_SEAL_OVERHEAD_MAX: 0 with
     * *out_len set, or an error */
    int (*seal)(void *ctx, const void *plain, size_t len, unsigned char *out, size_t *out_len);
    /* sealed (len bytes, without the magic) into out, which has room for len: 0 with *out_len
     * set; POSA_ESEALED when it does not open (another key, a damaged value) */
    int (*open)(void *ctx, const unsigned char *sealed, size_t len, unsigned char *out,
                size_t *out_len);
    /* A digest kept beside the sealed rows (an idempotent request's, in lowercase hex), keyed:
     * into out, as long as hex and starting DB_DIGEST_KEYED. db_seal_plain_rows keys those of
     * rows from before the sealer; the callers key their own. */
    int (*digest)(void *ctx, const char *hex, char *out);
    void *ctx;
};
#define DB_DIGEST_KEYED 'k' /* never a hex digit */

/* Sets the connection's sealer (NULL: none; the caller keeps it alive) and checks the
 * database against it, once, before anything is read or written: POSA_ESEALED when the
 * database has sealed values and sealer is NULL or does not open them. The first sealer a
 * database is given leaves its mark (schema 0018) for the next start's check. */
int db_seal_begin(struct db *db, const struct db_sealer *sealer);

/* Seals what was written plain before the database had a sealer: up to limit rows (at most
 * 256) from *cur on (zeroed to begin; each table newest first), moving it on; *ret_sealed
 * rows had a plain value (or an unkeyed digest, which it keys).
 * *ret_done once every row was looked at, which is kept: later calls, and those of later
 * starts, are done at once (and so is every call without a sealer). */
struct db_seal_cursor {
    int table;
    int64_t rowid;
};
int db_seal_plain_rows(struct db *db, struct db_seal_cursor *cur, int limit, int *ret_sealed,
                       bool *ret_done);

/* SQLite's message for the last failure on this connection; never NULL. */
const char *db_errmsg(struct db *db);


#endif
