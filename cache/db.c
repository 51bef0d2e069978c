/* Opening the database, migrating it, transactions and the statement cache. */
#include "cache/db_internal.h"
#include "cache/wal_gather.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

/* Room for every statement text cache/ has, each prepared once per connection: about 70
 * fixed ones and 18 the sealing pass makes (a review counted 86 against the 64 there was,
 * the ones past it failing with POSA_EDB forever). Looked up by pointer, linearly. */
#define DB_STMT_MAX 160

struct db_stmt_slot {
    const char *sql; /* the key: one of cache/'s static SQL texts */
    sqlite3_stmt *st;
};

struct db {
    sqlite3 *sq;
    struct db_stmt_slot stmts[DB_STMT_MAX];
    int n_stmts;
    bool lazy;      /* synchronous=NORMAL now, not FULL */
    sqlite3 *aside; /* the checkpointer's connection (db_checkpointer_open), or NULL */
    int wal_frames; /* in the WAL after sq's last commit, while aside is open */
    const struct db_sealer *sealer; /* db_seal_begin's, or NULL: values written plain */
    bool truncate_asked;            /* db_wal_truncate_later, until db_wal_truncate_asked */
};

sqlite3 *db_sqlite(struct db *db)
{
    return db->sq;
}

int db_map(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW: return 0;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_IOERR: return -EIO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH: return -EACCES;
    case SQLITE_CANTOPEN: return -ENOENT;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return POSA_EDAMAGED;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return POSA_EEXISTS;
        return POSA_EDB;
    default: return POSA_EDB;
    }
}

const char *db_errmsg(struct db *db)
{
    return db && db->sq ? sqlite3_errmsg(db->sq) : "no database";
}

static int db_exec(struct db *db, const char *sql)
{
    return db_map(sqlite3_exec(db->sq, sql, NULL, NULL, NULL));
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    for (int i = 0; i < db->n_stmts; i++) {
        if (db->stmts[i].sql == sql) {
            st = db->stmts[i].st;
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
    }
    if (sqlite3_prepare_v3(db->sq, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return NULL;
    if (db->n_stmts < DB_STMT_MAX) {
        db->stmts[db->n_stmts].sql = sql;
        db->stmts[db->n_stmts].st = st;
        db->n_stmts++;
    } else {
        /* Cannot happen with cache/'s fixed set of statements; fail loudly in tests. */
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int db_step_done(struct db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_map(sqlite3_extended_errcode(db->sq));
}

int db_bind_text(sqlite3_stmt *st, int col, const char *text)
{
    if (!text)
        return sqlite3_bind_null(st, col);
    return sqlite3_bind_text(st, col, text, -1, SQLITE_STATIC);
}

bool db_value_sealed(const void *p, size_t len)
{
    return len >= DB_SEAL_MAGIC_LEN && memcmp(p, DB_SEAL_MAGIC, DB_SEAL_MAGIC_LEN) == 0;
}

const struct db_sealer *db_sealer(struct db *db)
{
    return db->sealer;
}

int db_bind_sealable(struct db *db, sqlite3_stmt *st, int col, const void *p, size_t len, bool blob)
{
    unsigned char *out;
    size_t n = 0;
    int err;

    if (!p)
        return db_map(sqlite3_bind_null(st, col));
    if (!db->sealer)
        return db_map(blob ? sqlite3_bind_blob64(st, col, p, len, SQLITE_STATIC)
                           : sqlite3_bind_text64(st, col, p, len, SQLITE_STATIC, SQLITE_UTF8));
    out = malloc(DB_SEAL_MAGIC_LEN + len + DB_SEAL_OVERHEAD_MAX);
    if (!out)
        return -ENOMEM;
    memcpy(out, DB_SEAL_MAGIC, DB_SEAL_MAGIC_LEN);
    err = db->sealer->seal(db->sealer->ctx, p, len, out + DB_SEAL_MAGIC_LEN, &n);
    if (err) {
        free(out);
        return err;
    }
    /* SQLite frees out once the statement is done with it (reset, rebind or finalize). */
    return db_map(sqlite3_bind_blob64(st, col, out, DB_SEAL_MAGIC_LEN + n, free));
}

int db_column_opened(struct db *db, sqlite3_stmt *st, int col, char **ret, size_t *ret_len)
{
    int type = sqlite3_column_type(st, col); /* before a conversion makes it undefined */
    const unsigned char *p = sqlite3_column_blob(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col), n = len;
    char *out;
    int err = 0;

    *ret = NULL;
    if (ret_len)
        *ret_len = 0;
    if (type == SQLITE_NULL)
        return 0;
    out = malloc(len + 1);
    if (!out)
        return -ENOMEM;
    if (!db_value_sealed(p, len))
        memcpy(out, p ? (const char *)p : "", len);
    else if (!db->sealer)
        err = POSA_ESEALED;
    else if (db->sealer->open(db->sealer->ctx, p + DB_SEAL_MAGIC_LEN, len - DB_SEAL_MAGIC_LEN,
                              (unsigned char *)out, &n) != 0)
        err = POSA_ECORRUPT; /* the key opens the others (db_seal_begin): this one is damaged */
    if (err) {
        free(out);
        return err;
    }
    out[n] = '\0';
    *ret = out;
    if (ret_len)
        *ret_len = n;
    return 0;
}

/* What db_seal_begin seals under a new key and opens under the next start's. */
static const char seal_check_text[] = "posa: this database is sealed under this key";
static const char sql_seal_check_get[] = "SELECT sealed FROM seal_check WHERE id = 1";
static const char sql_seal_check_put[] = "INSERT INTO seal_check (id, sealed) VALUES (1, ?1)";

int db_seal_begin(struct db *db, const struct db_sealer *sealer)
{
    sqlite3_stmt *st = db_stmt(db, sql_seal_check_get);
    char *opened = NULL;
    int rc, err;

    if (!st)
        return POSA_EDB;
    db->sealer = sealer;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        /* Opened without a sealer, or not opened by this one, it is POSA_ESEALED. */
        err = db_column_opened(db, st, 0, &opened, NULL);
        if (err == POSA_ECORRUPT || (!err && strcmp(opened, seal_check_text) != 0))
            err = POSA_ESEALED;
        free(opened);
        sqlite3_reset(st);
        return err;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_map(sqlite3_extended_errcode(db->sq));
    if (!sealer)
        return 0;
    st = db_stmt(db, sql_seal_check_put);
    if (!st)
        return POSA_EDB;
    err = db_bind_sealable(db, st, 1, seal_check_text, strlen(seal_check_text), true);
    return err ? err : db_step_done(db, st);
}

int db_schema_latest(void)
{
    return db_migrations_count;
}

int db_schema_version(struct db *db)
{
    sqlite3_stmt *st = NULL;
    int version = -1;

    if (sqlite3_prepare_v2(db->sq, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return POSA_EDB;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

static const struct {
    const char *name;
    int (*run)(struct db *db);
} migration_steps_in_c[] = {
    {"0010_fee_sets", records_migrate_fee_sets},
};

static int migration_step_in_c(struct db *db, const char *name)
{
    for (size_t i = 0; i < sizeof migration_steps_in_c / sizeof migration_steps_in_c[0]; i++)
        if (strcmp(name, migration_steps_in_c[i].name) == 0)
            return migration_steps_in_c[i].run(db);
    return 0;
}

/* Each migration and its version bump commit together, so a crash mid-migration leaves
 * the file at the previous version and the next start applies it again. */
static int db_migrate(struct db *db)
{
    int version = db_schema_version(db);
    char bump[64];
    int err;

    if (version < 0)
        return version;
    if (version > db_migrations_count)
        return POSA_ESCHEMA;
    for (int i = version; i < db_migrations_count; i++) {
        err = db_exec(db, "BEGIN IMMEDIATE");
        if (err)
            return err;
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", i + 1);
        err = db_exec(db, db_migrations[i].sql);
        if (!err)
            err = migration_step_in_c(db, db_migrations[i].name);
        if (!err)
            err = db_exec(db, bump);
        if (!err)
            err = db_exec(db, "COMMIT");
        if (err) {
            sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
            return err;
        }
    }
    return 0;
}

/* SQLite creates the file with the process umask; create it first with 0600 (new -wal
 * and -shm files copy the main file's mode), and narrow an existing one, and the -wal and
 * -shm an older run left (the WAL holds whole messages). */
static int db_create_private(const char *path)
{
    static const char *const kept[] = {"-wal", "-shm"};
    char side[4096];
    int fd;

    if (strcmp(path, ":memory:") == 0)
        return 0;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, 0600) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    close(fd);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        if (snprintf(side, sizeof side, "%s%s", path, kept[i]) >= (int)sizeof side)
            return -ENAMETOOLONG;
        if (chmod(side, 0600) < 0 && errno != ENOENT)
            return -errno;
    }
    return 0;
}

#define DB_STR_(x) #x
#define DB_STR(x)  DB_STR_(x)

static int db_configure(struct db *db)
{
    int err;

    sqlite3_extended_result_codes(db->sq, 1);
    sqlite3_busy_timeout(db->sq, 5000);
    sqlite3_db_config(db->sq, SQLITE_DBCONFIG_LOOKASIDE, NULL, 1200, 500);
    err = db_exec(db, "PRAGMA journal_mode = WAL");
    if (!err)
        err = db_exec(db, "PRAGMA synchronous = FULL");
    if (!err)
        err = db_exec(db, "PRAGMA foreign_keys = ON");
    if (!err)
        err = db_exec(db, "PRAGMA secure_delete = ON"); /* journal bodies carry PII */
    /* Every job of a group runs in a savepoint, whose undo pages SQLite keeps in a
     * sub-journal: in memory, not in a temp file created, written and unlinked whenever a
     * group passes 64 KiB (the PII would also reach that file). A group is bounded, so is this. */
    if (!err)
        err = db_exec(db, "PRAGMA temp_store = MEMORY");
    if (!err)
        err = db_exec(db, "PRAGMA journal_size_limit = " DB_STR(DB_WAL_KEPT_BYTES));
    return err;
}

int db_open(const char *path, struct db **ret)
{
    struct db *db = NULL;
    int err;

    err = db_create_private(path);
    if (err)
        return err;
    /* No memory statistics: SQLite would take a global mutex on every allocation for them
     * (5% of the database thread). Refused, harmlessly, once SQLite is initialized. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if ((err = db_map(wal_gather_register())) < 0)
        return err;
    db = calloc(1, sizeof *db);
    if (!db)
        return -ENOMEM;
    err = db_map(sqlite3_open_v2(path, &db->sq,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 WAL_GATHER_VFS));
    if (!err)
        err = db_configure(db);
    if (!err)
        err = db_migrate(db);
    if (err)
        goto out;
    *ret = db;
    return 0;
out:
    db_close(db);
    return err;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    /* The checkpointer's first, so that the main connection closes last: that one copies
     * all of the WAL back and removes it. */
    sqlite3_close(db->aside);
    for (int i = 0; i < db->n_stmts; i++)
        sqlite3_finalize(db->stmts[i].st);
    sqlite3_close(db->sq);
    free(db);
}

/* Replaces SQLite's automatic checkpoint, which ran inside the commit. */
static int on_wal_commit(void *arg, sqlite3 *sq, const char *name, int frames)
{
    struct db *db = arg;

    (void)sq;
    (void)name;
    db->wal_frames = frames;
    return SQLITE_OK;
}

/* The database's file, or NULL in memory (no WAL: nothing to checkpoint or sync). */
static const char *db_file(struct db *db)
{
    const char *path = sqlite3_db_filename(db->sq, "main");

    return path && path[0] ? path : NULL;
}

int db_checkpointer_open(struct db *db)
{
    const char *path = db_file(db);
    int rc;

    if (!path)
        return 0;
    if ((rc = wal_gather_open_checkpointer(path, &db->aside)) != SQLITE_OK)
        return db_map(rc);
    sqlite3_busy_timeout(db->aside, 5000);
    sqlite3_wal_hook(db->sq, on_wal_commit, db);
    return 0;
}

int db_wal_frames(const struct db *db)
{
    return db->wal_frames;
}

/* The WAL's frames now in the database, or an error. */
static int checkpoint(sqlite3 *sq)
{
    int copied = 0;
    int rc = wal_gather_checkpoint(sq, &copied);

    return rc == SQLITE_OK ? copied : db_map(rc);
}

int db_checkpoint_aside(struct db *db)
{
    return db->aside ? checkpoint(db->aside) : 0;
}

int db_checkpoint(struct db *db)
{
    int copied = checkpoint(db->sq);

    if (copied >= 0)
        db->wal_frames = 0; /* the next commit starts the WAL over */
    return copied;
}

void db_wal_truncate_later(struct db *db)
{
    db->truncate_asked = true;
}

bool db_wal_truncate_taken(struct db *db)
{
    bool asked = db->truncate_asked;

    db->truncate_asked = false;
    return asked;
}

int db_wal_truncate_aside(struct db *db)
{
    sqlite3 *sq = db->aside ? db->aside : db->sq;
    int copied = checkpoint(sq); /* most of it first, without the writer's lock */
    int rc;

    if (copied < 0)
        return copied;
    rc = sqlite3_wal_checkpoint_v2(sq, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : db_map(rc);
}

int db_set_lazy(struct db *db, bool lazy)
{
    int err;

    if (lazy == db->lazy)
        return 0;
    err = db_exec(db, lazy ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
    if (!err)
        db->lazy = lazy;
    return err;
}

int db_wal_fd(struct db *db, int *ret_fd)
{
    *ret_fd = -1;
    if (!db_file(db))
        return 0;
    *ret_fd = wal_gather_sync_fd(db->sq);
    return *ret_fd >= 0 ? 0 : POSA_EDB;
}

int db_synchronous(struct db *db)
{
    sqlite3_stmt *st = NULL;
    int level = -1;

    if (sqlite3_prepare_v2(db->sq, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        level = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return level;
}

/* A group's transaction and its jobs' savepoints run for every group and job: prepared once,
 * not parsed each time. */
static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_savepoint[] = "SAVEPOINT job";
static const char sql_release[] = "RELEASE job";
static const char sql_rollback_to[] = "ROLLBACK TO job";

static int db_run_cached(struct db *db, const char *sql)
{
    sqlite3_stmt *st = db_stmt(db, sql);

    return st ? db_step_done(db, st) : POSA_EDB;
}

int db_begin(struct db *db)
{
    return db_run_cached(db, sql_begin);
}

int db_commit(struct db *db)
{
    return db_run_cached(db, sql_commit);
}

int db_rollback(struct db *db)
{
    return db_exec(db, "ROLLBACK");
}

int db_savepoint(struct db *db)
{
    /* SQLite rolls a transaction back by itself on some errors (disk full, I/O, memory): a
     * savepoint then would open a transaction of its own, and its RELEASE would commit one
     * job alone while the group's COMMIT fails and reports every job failed. */
    if (sqlite3_get_autocommit(db->sq))
        return -EIO;
    return db_run_cached(db, sql_savepoint);
}

int64_t db_changes(struct db *db)
{
    return sqlite3_total_changes64(db->sq);
}

bool db_in_transaction(struct db *db)
{
    return !sqlite3_get_autocommit(db->sq);
}

int db_savepoint_release(struct db *db)
{
    return db_run_cached(db, sql_release);
}

int db_savepoint_rollback(struct db *db)
{
    int err = db_run_cached(db, sql_rollback_to);

    return err ? err : db_run_cached(db, sql_release);
}
