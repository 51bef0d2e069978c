/* The sandbox ledger in SQLite: schema, migrations, prepared statements, and one function per
 * query; the fee lines are ledger_fees.c's. */
#include "sandbox/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cache/wal_gather.h"
#include "core/str.h"
#include "sandbox/ledger_db.h"

static const char schema[] =
    /* Not locking_mode=EXCLUSIVE, though the sandbox is the only user: the checkpointer's
     * connection shares the WAL (ledger_checkpoint). */
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA foreign_keys=OFF;"
    /* Savepoints keep their undo in memory, not in a temp file per transaction. */
    "PRAGMA temp_store=MEMORY;"
    "PRAGMA cache_size=-16384;"
    "CREATE TABLE IF NOT EXISTS seq(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    /* Keyed by msgid alone (one B-tree, not a table and an index of its msgids). */
    "CREATE TABLE IF NOT EXISTS msgs(msgid TEXT PRIMARY KEY, infno TEXT, state TEXT,"
    " psn_no TEXT, mdtrt_id TEXT, setl_id TEXT, effect TEXT, time INTEGER) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS signins(sign_no TEXT PRIMARY KEY, opter TEXT, time INTEGER,"
    " open INTEGER);"
    "CREATE TABLE IF NOT EXISTS visits(mdtrt_id TEXT PRIMARY KEY, psn_no TEXT, inpatient INTEGER,"
    " insutype TEXT, med_type TEXT, begntime INTEGER, endtime INTEGER, emergency INTEGER,"
    " trauma INTEGER, third_party INTEGER, ipt_otp_no TEXT, state TEXT, msgid TEXT);"
    /* A visit's fee lines as each message left them: one row per visit and uploading message,
     * the lines packed in a blob (fee_blob.h). A line's state, settlement and cancelling
     * message live in the blob, so a settlement rewrites a row per upload, not per line. */
    "CREATE TABLE IF NOT EXISTS fee_sets(mdtrt_id TEXT, msgid TEXT, psn_no TEXT, infno TEXT,"
    " lines BLOB, PRIMARY KEY(mdtrt_id, msgid));"
    /* The visits whose lines a message wrote (an upload, or a cancellation): what a reversal
     * finds them by. */
    "CREATE TABLE IF NOT EXISTS upload_visits(msgid TEXT, mdtrt_id TEXT,"
    " PRIMARY KEY(msgid, mdtrt_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS settlements(setl_id TEXT PRIMARY KEY, msgid TEXT, infno TEXT,"
    " psn_no TEXT, mdtrt_id TEXT, insutype TEXT, clr_type TEXT, setl_optins TEXT,"
    " setl_time INTEGER, year INTEGER, medfee INTEGER, fund INTEGER, psn_part INTEGER,"
    " acct_pay INTEGER, cash INTEGER, act_pay_dedc INTEGER, moved_deductible INTEGER,"
    " moved_fund INTEGER, state TEXT, cancel_msgid TEXT, output TEXT,"
    /* the lines it settled (fee_cover_encode): a line is settled while the last
     * settlement to name it is active */
    " lines BLOB);"
    "CREATE INDEX IF NOT EXISTS setl_msgid ON settlements(msgid);"
    /* Only cancelled settlements have a cancel_msgid: the others stay out of the index. */
    "CREATE INDEX IF NOT EXISTS setl_cancel ON settlements(cancel_msgid)"
    " WHERE cancel_msgid IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS setl_visit ON settlements(mdtrt_id);"
    /* inpatient 0/1: a stay's and a visit's each have their own cap (and the outpatient
     * deductible is a year's, the inpatient one an admission's); each insurance of a person
     * (insutype: its own insured region and policy) its own sums */
    "CREATE TABLE IF NOT EXISTS year_accums(psn_no TEXT, insutype TEXT, year INTEGER,"
    " inpatient INTEGER, deductible_used INTEGER, fund_paid INTEGER,"
    " PRIMARY KEY(psn_no, insutype, year, inpatient));"
    "CREATE TABLE IF NOT EXISTS balances(psn_no TEXT PRIMARY KEY, balance INTEGER);"
    "CREATE TABLE IF NOT EXISTS filing_ops(id INTEGER PRIMARY KEY, psn_no TEXT, action TEXT,"
    " kind TEXT, valid_from INTEGER, valid_to INTEGER);";

#define SETL_COLS                                                                                  \
    "setl_id, msgid, infno, psn_no, mdtrt_id, insutype, clr_type, setl_optins, setl_time, "        \
    "year, medfee, fund, psn_part, acct_pay, cash, act_pay_dedc, moved_deductible, "               \
    "moved_fund, state, ifnull(cancel_msgid,''), output"

const char *const ledger_stmt_sql[S__MAX] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT txn",
    [S_RELEASE] = "RELEASE txn",
    [S_ROLLBACK_TO] = "ROLLBACK TO txn",
    [S_MSG_SAVEPOINT] = "SAVEPOINT msg",
    [S_MSG_RELEASE] = "RELEASE msg",
    [S_MSG_ROLLBACK_TO] = "ROLLBACK TO msg",
    [S_SEQ_BUMP] = "INSERT INTO seq(name, value) VALUES(?1, 1)"
                   " ON CONFLICT(name) DO UPDATE SET value = value + 1",
    [S_SEQ_GET] = "SELECT value FROM seq WHERE name=?1",
    [S_MSG_GET] = "SELECT msgid, infno, state, ifnull(psn_no,''), ifnull(mdtrt_id,''),"
                  " ifnull(setl_id,''), ifnull(effect,'') FROM msgs WHERE msgid=?1",
    [S_MSG_PUT] = "INSERT OR REPLACE INTO msgs(msgid, infno, state, psn_no, mdtrt_id, setl_id,"
                  " effect, time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    [S_SIGNIN_ADD] = "INSERT INTO signins(sign_no, opter, time, open) VALUES(?1,?2,?3,1)",
    [S_SIGNIN_OPEN] = "SELECT open FROM signins WHERE sign_no=?1",
    [S_SIGNIN_CLOSE] = "UPDATE signins SET open=0 WHERE sign_no=?1",
    [S_VISIT_PUT] = "INSERT OR REPLACE INTO visits(mdtrt_id, psn_no, inpatient, insutype,"
                    " med_type, begntime, endtime, emergency, trauma, third_party, ipt_otp_no,"
                    " state, msgid) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
    [S_VISIT_GET] = "SELECT mdtrt_id, psn_no, inpatient, insutype, med_type, begntime, endtime,"
                    " emergency, trauma, third_party, ipt_otp_no, state, msgid FROM visits"
                    " WHERE mdtrt_id=?1",
    [S_SETS_LOAD] = "SELECT msgid, psn_no, infno, lines FROM fee_sets WHERE mdtrt_id=?1"
                    " ORDER BY rowid",
    [S_SET_PUT] = "INSERT INTO fee_sets(mdtrt_id, msgid, psn_no, infno, lines)"
                  " VALUES(?1,?2,?3,?4,?5) ON CONFLICT(mdtrt_id, msgid) DO UPDATE SET lines=?5",
    [S_SET_DELETE] = "DELETE FROM fee_sets WHERE mdtrt_id=?1 AND msgid=?2",
    [S_UPLOAD_VISIT] = "INSERT OR IGNORE INTO upload_visits(msgid, mdtrt_id) VALUES(?1,?2)",
    [S_MSG_VISITS] = "SELECT mdtrt_id FROM upload_visits WHERE msgid=?1",
    [S_SETS_VISITS] = "SELECT mdtrt_id FROM fee_sets GROUP BY mdtrt_id ORDER BY min(rowid)",
    [S_SETS_VISITS_PSN] = "SELECT mdtrt_id FROM fee_sets WHERE psn_no=?1 GROUP BY mdtrt_id"
                          " ORDER BY min(rowid)",
    [S_SETL_INSERT] = "INSERT INTO settlements(setl_id, msgid, infno, psn_no, mdtrt_id, insutype,"
                      " clr_type, setl_optins, setl_time, year, medfee, fund, psn_part, acct_pay,"
                      " cash, act_pay_dedc, moved_deductible, moved_fund, state, cancel_msgid,"
                      " output, lines) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,"
                      "?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,NULLIF(?20,''),?21,?22)",
    [S_SETL_GET] = "SELECT " SETL_COLS " FROM settlements WHERE setl_id=?1",
    [S_SETL_BY_MSG] = "SELECT " SETL_COLS " FROM settlements WHERE msgid=?1",
    [S_SETL_BY_CANCEL] = "SELECT " SETL_COLS " FROM settlements WHERE cancel_msgid=?1",
    [S_SETL_ACTIVE] = "SELECT " SETL_COLS " FROM settlements WHERE mdtrt_id=?1"
                      " AND state='active' ORDER BY rowid DESC LIMIT 1",
    [S_SETL_COVER] = "SELECT setl_id, state='active', lines FROM settlements WHERE mdtrt_id=?1"
                     " AND lines IS NOT NULL ORDER BY rowid",
    [S_SETL_LINES_SET] = "UPDATE settlements SET lines=?2 WHERE setl_id=?1",
    [S_SETL_STATE] = "UPDATE settlements SET state=?2, cancel_msgid=NULLIF(?3,'')"
                     " WHERE setl_id=?1",
    [S_VISIT_DEDUCTIBLE] = "SELECT ifnull(sum(act_pay_dedc),0) FROM settlements"
                           " WHERE mdtrt_id=?1 AND state='active'",
    [S_RECON] = "SELECT count(*), ifnull(sum(medfee),0), ifnull(sum(fund),0),"
                " ifnull(sum(acct_pay),0), ifnull(sum(cash),0) FROM settlements"
                " WHERE state='active' AND (?1='' OR insutype=?1) AND (?2='' OR clr_type=?2)"
                " AND (?3='' OR setl_optins=?3) AND setl_time/1000000 BETWEEN ?4 AND ?5",
    [S_ACCUM_GET] = "SELECT deductible_used, fund_paid FROM year_accums"
                    " WHERE psn_no=?1 AND year=?2 AND inpatient=?3 AND insutype=?4",
    [S_ACCUM_MOVE] = "INSERT INTO year_accums(psn_no, year, inpatient, deductible_used, fund_paid,"
                     " insutype) VALUES(?1,?2,?3,?4,?5,?6)"
                     " ON CONFLICT(psn_no, insutype, year, inpatient) DO UPDATE SET"
                     " deductible_used = deductible_used + ?4, fund_paid = fund_paid + ?5",
    [S_BAL_GET] = "SELECT balance FROM balances WHERE psn_no=?1",
    [S_BAL_SET] = "INSERT OR REPLACE INTO balances(psn_no, balance) VALUES(?1,?2)",
    [S_FILING_ADD] = "INSERT INTO filing_ops(psn_no, action, kind, valid_from, valid_to)"
                     " VALUES(?1,?2,?3,?4,?5)",
    [S_FILING_EACH] = "SELECT psn_no, action, kind, valid_from, valid_to FROM filing_ops"
                      " ORDER BY id",
    [S_SETL_EACH] = "SELECT " SETL_COLS " FROM settlements ORDER BY rowid",
};

static bool has(struct ledger *l, const char *sql)
{
    sqlite3_stmt *st = NULL;
    bool yes = sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) == SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW;

    sqlite3_finalize(st);
    return yes;
}

/* Version 4: msgs keyed by msgid alone, setl_cancel holding cancelled settlements only
 * (8% of the WAL per settlement, 1% of the instructions). */
static const char migrate_4[] =
    "CREATE TABLE msgs_v4(msgid TEXT PRIMARY KEY, infno TEXT, state TEXT, psn_no TEXT,"
    " mdtrt_id TEXT, setl_id TEXT, effect TEXT, time INTEGER) WITHOUT ROWID;"
    "INSERT INTO msgs_v4 SELECT msgid, infno, state, psn_no, mdtrt_id, setl_id, effect, time"
    " FROM msgs;"
    "DROP TABLE msgs;"
    "ALTER TABLE msgs_v4 RENAME TO msgs;"
    "DROP INDEX setl_cancel;"
    "CREATE INDEX setl_cancel ON settlements(cancel_msgid) WHERE cancel_msgid IS NOT NULL;";

/* Version 5: a person's year accumulations kept apart for stays and visits, each kind with
 * its own cap (one sum for both let a stay's fund use up the outpatient cap, and its
 * deductible count as the outpatient year's). Taken again from the active settlements, the
 * sum the old table held. */
static const char migrate_5[] =
    "INSERT OR REPLACE INTO year_accums(psn_no, insutype, year, inpatient, deductible_used,"
    " fund_paid)"
    " SELECT psn_no, insutype, year, infno LIKE '2304%', sum(moved_deductible), sum(moved_fund)"
    " FROM settlements WHERE state='active' GROUP BY psn_no, insutype, year, infno LIKE '2304%';"
    "DROP TABLE accums;";

/* Version 6: the sums kept per insurance of a person (insutype), not one for all: a
 * person insured twice had a Chengdu resident's deductible cut a Wuxi employee's. Taken
 * again from the active settlements. */
static const char migrate_6[] =
    "CREATE TABLE year_accums_v6(psn_no TEXT, insutype TEXT, year INTEGER,"
    " inpatient INTEGER, deductible_used INTEGER, fund_paid INTEGER,"
    " PRIMARY KEY(psn_no, insutype, year, inpatient));"
    "INSERT INTO year_accums_v6(psn_no, insutype, year, inpatient, deductible_used, fund_paid)"
    " SELECT psn_no, insutype, year, infno LIKE '2304%', sum(moved_deductible), sum(moved_fund)"
    " FROM settlements WHERE state='active' GROUP BY psn_no, insutype, year, infno LIKE '2304%';"
    "DROP TABLE year_accums;"
    "ALTER TABLE year_accums_v6 RENAME TO year_accums;";

static int migrate_to_4(struct ledger *l, int version, char **err);

/* Brings a ledger of an older version to version 6, in one transaction. A ledger created by
 * this version has its tables as version 6 wants them from the schema. */
static int migrate(struct ledger *l, char **err)
{
    sqlite3_stmt *st = NULL;
    int version = -1, rc = 0;

    if (sqlite3_prepare_v2(l->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0)
        return -EIO;
    if (version >= 6)
        return 0;
    if (sqlite3_exec(l->db, "BEGIN", NULL, NULL, err) != SQLITE_OK)
        return -EIO;
    if (version < 4)
        rc = migrate_to_4(l, version, err);
    if (rc == 0 && has(l, "SELECT 1 FROM sqlite_master WHERE name='accums'") &&
        sqlite3_exec(l->db, migrate_5, NULL, NULL, err) != SQLITE_OK)
        rc = -EIO;
    if (rc == 0 &&
        !has(l, "SELECT 1 FROM pragma_table_info('year_accums') WHERE name='insutype'") &&
        sqlite3_exec(l->db, migrate_6, NULL, NULL, err) != SQLITE_OK)
        rc = -EIO;
    if (rc < 0 ||
        sqlite3_exec(l->db, "PRAGMA user_version=6; COMMIT;", NULL, NULL, err) != SQLITE_OK) {
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        return -EIO;
    }
    return 0;
}

/* Version 1 found an upload's visits in upload_visits, not by an index on every line's
 * msgid; version 2 also finds a cancellation's there, and keeps lines in sets
 * (ledger_migrate_fees); version 3 keeps a line's settlement with the settlement
 * (ledger_migrate_sets; both in ledger_fees.c); version 4 is migrate_4. Inside migrate's
 * transaction. */
static int migrate_to_4(struct ledger *l, int version, char **err)
{
    int rc = 0;

    if (has(l, "SELECT 1 FROM sqlite_master"
               " WHERE name='msgs' AND sql NOT LIKE '%WITHOUT ROWID%'") &&
        sqlite3_exec(l->db, migrate_4, NULL, NULL, err) != SQLITE_OK)
        rc = -EIO;
    if (rc == 0 && !has(l, "SELECT 1 FROM pragma_table_info('settlements') WHERE name='lines'") &&
        sqlite3_exec(l->db, "ALTER TABLE settlements ADD COLUMN lines BLOB", NULL, NULL, err) !=
            SQLITE_OK)
        rc = -EIO;
    if (rc == 0 && has(l, "SELECT 1 FROM sqlite_master WHERE name='fees'")) {
        if (sqlite3_exec(l->db,
                         "INSERT OR IGNORE INTO upload_visits(msgid, mdtrt_id)"
                         " SELECT DISTINCT msgid, mdtrt_id FROM fees;"
                         "INSERT OR IGNORE INTO upload_visits(msgid, mdtrt_id)"
                         " SELECT DISTINCT cancel_msgid, mdtrt_id FROM fees"
                         " WHERE cancel_msgid IS NOT NULL;",
                         NULL, NULL, err) != SQLITE_OK ||
            (rc = ledger_migrate_fees(l)) < 0 ||
            sqlite3_exec(l->db, "DROP TABLE fees", NULL, NULL, err) != SQLITE_OK)
            rc = rc < 0 ? rc : -EIO;
    } else if (rc == 0 && version == 2) {
        rc = ledger_migrate_sets(l);
    }
    if (rc < 0 && !*err)
        *err = sqlite3_mprintf("the fee lines could not be moved to version 4 (%s)",
                               rc == -ENOMEM ? "out of memory" : "unreadable");
    return rc;
}

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((struct ledger *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

int ledger_open(const char *dir, struct ledger **ret, char *msg, size_t cap)
{
    char path[4096];
    struct ledger *l;
    char *err = NULL;
    int fd, rc;

    snprintf(path, sizeof(path), "%s/ledger.sqlite3", dir);
    /* Created 0600 before SQLite opens it; the -wal and -shm files take the same mode. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return -errno;
    }
    fchmod(fd, 0600);
    close(fd);
    /* No memory statistics: SQLite would take a global mutex on every allocation for them.
     * Refused, harmlessly, once SQLite is initialized. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (wal_gather_register() != SQLITE_OK) {
        snprintf(msg, cap, "%s: SQLite could not register its WAL writer", path);
        return -EIO;
    }
    l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    /* Through posad's WAL VFS (cache/wal_gather.h): a commit's frames in a few writes. */
    if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        WAL_GATHER_VFS) != SQLITE_OK ||
        sqlite3_exec(l->db, schema, NULL, NULL, &err) != SQLITE_OK || migrate(l, &err) < 0) {
        snprintf(msg, cap, "%s: %s", path, err ? err : sqlite3_errmsg(l->db));
        sqlite3_free(err);
        ledger_close(l); /* the statements a migration prepared, and the connection */
        return -EIO;
    }
    sqlite3_busy_timeout(l->db, 2000);
    /* The hook replaces SQLite's automatic checkpoint, which ran on the loop. */
    sqlite3_wal_hook(l->db, on_wal_commit, l);
    if ((rc = wal_gather_open_checkpointer(path, &l->checkpointer)) != SQLITE_OK) {
        snprintf(msg, cap, "%s: the checkpointer: %s", path, sqlite3_errstr(rc));
        ledger_close(l);
        return -EIO;
    }
    *ret = l;
    return 0;
}

void ledger_close(struct ledger *l)
{
    if (!l)
        return;
    /* The checkpointer first, so that the main connection closes last: that one copies all
     * of the WAL back and removes it. */
    sqlite3_close(l->checkpointer);
    for (int i = 0; i < S__MAX; i++)
        sqlite3_finalize(l->stmts[i]);
    sqlite3_close(l->db);
    free(l);
}

int ledger_wal_frames(const struct ledger *l)
{
    return l->wal_frames;
}

/* The number of the WAL's frames now in the database (0 when busy), or -EIO. */
static int checkpoint(sqlite3 *db)
{
    int copied = 0;
    int rc = wal_gather_checkpoint(db, &copied);

    if (rc != SQLITE_OK) {
        fprintf(stderr, "ledger: checkpoint: %s\n", sqlite3_errmsg(db));
        return -EIO;
    }
    return copied;
}

int ledger_checkpoint(struct ledger *l)
{
    return checkpoint(l->checkpointer);
}

int ledger_checkpoint_rest(struct ledger *l)
{
    int rc = checkpoint(l->db);

    return rc < 0 ? rc : 0;
}

int ledger_begin(struct ledger *l)
{
    return run(l, stmt(l, S_BEGIN));
}
int ledger_commit(struct ledger *l)
{
    return run(l, stmt(l, S_COMMIT));
}
void ledger_rollback(struct ledger *l)
{
    run(l, stmt(l, S_ROLLBACK));
}
int ledger_savepoint(struct ledger *l)
{
    return run(l, stmt(l, S_SAVEPOINT));
}
void ledger_savepoint_release(struct ledger *l)
{
    run(l, stmt(l, S_RELEASE));
}

void ledger_savepoint_rollback(struct ledger *l)
{
    run(l, stmt(l, S_ROLLBACK_TO));
    run(l, stmt(l, S_RELEASE));
}

int ledger_msg_begin(struct ledger *l)
{
    /* SQLite rolls a transaction back by itself on some errors (disk full, I/O, memory): a
     * savepoint then would open a transaction of its own and commit this message alone while
     * the group's answers say nothing was recorded. */
    if (sqlite3_get_autocommit(l->db))
        return -EIO;
    return run(l, stmt(l, S_MSG_SAVEPOINT));
}

void ledger_msg_end(struct ledger *l, bool keep)
{
    if (!keep)
        run(l, stmt(l, S_MSG_ROLLBACK_TO));
    run(l, stmt(l, S_MSG_RELEASE));
}

int ledger_next_seq(struct ledger *l, const char *name, int64_t *ret)
{
    sqlite3_stmt *st = stmt(l, S_SEQ_BUMP);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, name);
    if ((rc = run(l, st)) < 0)
        return rc;
    st = stmt(l, S_SEQ_GET);
    bt(st, 1, name);
    rc = row(l, st);
    if (rc == 1)
        *ret = ci(st, 0);
    sqlite3_reset(st);
    return rc == 1 ? 0 : -EIO;
}

/* --- msgs ----------------------------------------------------------------------------- */

int ledger_msg_get(struct ledger *l, const char *msgid, struct ledger_msg *ret)
{
    sqlite3_stmt *st = stmt(l, S_MSG_GET);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, msgid);
    rc = row(l, st);
    if (rc == 1) {
        ct(st, 0, ret->msgid, sizeof(ret->msgid));
        ct(st, 1, ret->infno, sizeof(ret->infno));
        ct(st, 2, ret->state, sizeof(ret->state));
        ct(st, 3, ret->psn_no, sizeof(ret->psn_no));
        ct(st, 4, ret->mdtrt_id, sizeof(ret->mdtrt_id));
        ct(st, 5, ret->setl_id, sizeof(ret->setl_id));
        ct(st, 6, ret->effect, sizeof(ret->effect));
    }
    sqlite3_reset(st);
    return rc;
}

int ledger_msg_put(struct ledger *l, const struct ledger_msg *m, int64_t time)
{
    sqlite3_stmt *st = stmt(l, S_MSG_PUT);

    if (!st)
        return -EIO;
    bt(st, 1, m->msgid);
    bt(st, 2, m->infno);
    bt(st, 3, m->state);
    bt(st, 4, m->psn_no);
    bt(st, 5, m->mdtrt_id);
    bt(st, 6, m->setl_id);
    bt(st, 7, m->effect);
    bi(st, 8, time);
    return run(l, st);
}

/* --- sign-in -------------------------------------------------------------------------- */

int ledger_signin_add(struct ledger *l, const char *sign_no, const char *opter, int64_t time)
{
    sqlite3_stmt *st = stmt(l, S_SIGNIN_ADD);

    if (!st)
        return -EIO;
    bt(st, 1, sign_no);
    bt(st, 2, opter);
    bi(st, 3, time);
    return run(l, st);
}

int ledger_signin_is_open(struct ledger *l, const char *sign_no)
{
    sqlite3_stmt *st = stmt(l, S_SIGNIN_OPEN);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, sign_no);
    rc = row(l, st);
    if (rc == 1)
        rc = ci(st, 0) ? 1 : 0;
    sqlite3_reset(st);
    return rc;
}

int ledger_signin_close(struct ledger *l, const char *sign_no)
{
    sqlite3_stmt *st = stmt(l, S_SIGNIN_CLOSE);

    if (!st)
        return -EIO;
    bt(st, 1, sign_no);
    return run(l, st);
}

/* --- visits --------------------------------------------------------------------------- */

int ledger_visit_put(struct ledger *l, const struct ledger_visit *v)
{
    sqlite3_stmt *st = stmt(l, S_VISIT_PUT);

    if (!st)
        return -EIO;
    bt(st, 1, v->mdtrt_id);
    bt(st, 2, v->psn_no);
    bi(st, 3, v->inpatient);
    bt(st, 4, v->insutype);
    bt(st, 5, v->med_type);
    bi(st, 6, v->begntime);
    bi(st, 7, v->endtime);
    bi(st, 8, v->emergency);
    bi(st, 9, v->trauma);
    bi(st, 10, v->third_party);
    bt(st, 11, v->ipt_otp_no);
    bt(st, 12, v->state);
    bt(st, 13, v->msgid);
    return run(l, st);
}

int ledger_visit_get(struct ledger *l, const char *mdtrt_id, struct ledger_visit *ret)
{
    sqlite3_stmt *st = stmt(l, S_VISIT_GET);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, mdtrt_id);
    rc = row(l, st);
    if (rc == 1) {
        ct(st, 0, ret->mdtrt_id, sizeof(ret->mdtrt_id));
        ct(st, 1, ret->psn_no, sizeof(ret->psn_no));
        ret->inpatient = ci(st, 2) != 0;
        ct(st, 3, ret->insutype, sizeof(ret->insutype));
        ct(st, 4, ret->med_type, sizeof(ret->med_type));
        ret->begntime = ci(st, 5);
        ret->endtime = ci(st, 6);
        ret->emergency = ci(st, 7) != 0;
        ret->trauma = ci(st, 8) != 0;
        ret->third_party = ci(st, 9) != 0;
        ct(st, 10, ret->ipt_otp_no, sizeof(ret->ipt_otp_no));
        ct(st, 11, ret->state, sizeof(ret->state));
        ct(st, 12, ret->msgid, sizeof(ret->msgid));
    }
    sqlite3_reset(st);
    return rc;
}

/* --- settlements ---------------------------------------------------------------------- */

int ledger_settlement_insert(struct ledger *l, const struct ledger_settlement *s)
{
    sqlite3_stmt *st = stmt(l, S_SETL_INSERT);

    if (!st)
        return -EIO;
    bt(st, 1, s->setl_id);
    bt(st, 2, s->msgid);
    bt(st, 3, s->infno);
    bt(st, 4, s->psn_no);
    bt(st, 5, s->mdtrt_id);
    bt(st, 6, s->insutype);
    bt(st, 7, s->clr_type);
    bt(st, 8, s->setl_optins);
    bi(st, 9, s->setl_time);
    bi(st, 10, s->year);
    bi(st, 11, s->medfee);
    bi(st, 12, s->fund);
    bi(st, 13, s->psn_part);
    bi(st, 14, s->acct_pay);
    bi(st, 15, s->cash);
    bi(st, 16, s->act_pay_dedc);
    bi(st, 17, s->moved.deductible_used);
    bi(st, 18, s->moved.fund_paid);
    bt(st, 19, s->state);
    bt(st, 20, s->cancel_msgid);
    bt(st, 21, s->output);
    if (s->lines)
        sqlite3_bind_blob(st, 22, s->lines, (int)s->lines_len, SQLITE_STATIC);
    return run(l, st);
}

static void settlement_read(sqlite3_stmt *st, struct ledger_settlement *s)
{
    const unsigned char *out;

    ct(st, 0, s->setl_id, sizeof(s->setl_id));
    ct(st, 1, s->msgid, sizeof(s->msgid));
    ct(st, 2, s->infno, sizeof(s->infno));
    ct(st, 3, s->psn_no, sizeof(s->psn_no));
    ct(st, 4, s->mdtrt_id, sizeof(s->mdtrt_id));
    ct(st, 5, s->insutype, sizeof(s->insutype));
    ct(st, 6, s->clr_type, sizeof(s->clr_type));
    ct(st, 7, s->setl_optins, sizeof(s->setl_optins));
    s->setl_time = ci(st, 8);
    s->year = (int32_t)ci(st, 9);
    s->medfee = ci(st, 10);
    s->fund = ci(st, 11);
    s->psn_part = ci(st, 12);
    s->acct_pay = ci(st, 13);
    s->cash = ci(st, 14);
    s->act_pay_dedc = ci(st, 15);
    s->moved.deductible_used = ci(st, 16);
    s->moved.fund_paid = ci(st, 17);
    ct(st, 18, s->state, sizeof(s->state));
    ct(st, 19, s->cancel_msgid, sizeof(s->cancel_msgid));
    out = sqlite3_column_text(st, 20);
    s->output = out ? strdup((const char *)out) : NULL;
}

static int settlement_query(struct ledger *l, enum stmt_id id, const char *key,
                            struct ledger_settlement *ret)
{
    sqlite3_stmt *st = stmt(l, id);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, key);
    rc = row(l, st);
    if (rc == 1)
        settlement_read(st, ret);
    sqlite3_reset(st);
    return rc;
}

int ledger_settlement_get(struct ledger *l, const char *setl_id, struct ledger_settlement *ret)
{
    return settlement_query(l, S_SETL_GET, setl_id, ret);
}

int ledger_settlement_by_msgid(struct ledger *l, const char *msgid, struct ledger_settlement *ret)
{
    return settlement_query(l, S_SETL_BY_MSG, msgid, ret);
}

int ledger_settlement_by_cancel(struct ledger *l, const char *msgid, struct ledger_settlement *ret)
{
    return settlement_query(l, S_SETL_BY_CANCEL, msgid, ret);
}

int ledger_settlement_active(struct ledger *l, const char *mdtrt_id, struct ledger_settlement *ret)
{
    return settlement_query(l, S_SETL_ACTIVE, mdtrt_id, ret);
}

int ledger_settlement_set_state(struct ledger *l, const char *setl_id, const char *state,
                                const char *cancel_msgid)
{
    sqlite3_stmt *st = stmt(l, S_SETL_STATE);

    if (!st)
        return -EIO;
    bt(st, 1, setl_id);
    bt(st, 2, state);
    bt(st, 3, cancel_msgid ? cancel_msgid : "");
    return run(l, st);
}

int ledger_visit_deductible(struct ledger *l, const char *mdtrt_id, int64_t *ret)
{
    sqlite3_stmt *st = stmt(l, S_VISIT_DEDUCTIBLE);

    if (!st)
        return -EIO;
    bt(st, 1, mdtrt_id);
    return one_int(l, st, ret);
}

void ledger_settlement_free(struct ledger_settlement *s)
{
    if (!s)
        return;
    free(s->output);
    s->output = NULL;
}

int ledger_recon_totals(struct ledger *l, const struct ledger_recon_query *q,
                        struct ledger_recon_totals *ret)
{
    sqlite3_stmt *st = stmt(l, S_RECON);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, q->insutype ? q->insutype : "");
    bt(st, 2, q->clr_type ? q->clr_type : "");
    bt(st, 3, q->setl_optins ? q->setl_optins : "");
    bi(st, 4, q->from);
    bi(st, 5, q->to);
    rc = row(l, st);
    if (rc == 1) {
        ret->count = ci(st, 0);
        ret->medfee = ci(st, 1);
        ret->fund = ci(st, 2);
        ret->acct_pay = ci(st, 3);
        ret->cash = ci(st, 4);
    }
    sqlite3_reset(st);
    return rc == 1 ? 0 : -EIO;
}

/* --- per person ----------------------------------------------------------------------- */

int ledger_accum_get(struct ledger *l, const char *psn_no, const char *insutype, int32_t year,
                     bool inpatient, struct policy_accum *ret)
{
    sqlite3_stmt *st = stmt(l, S_ACCUM_GET);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, psn_no);
    bi(st, 2, year);
    bi(st, 3, inpatient);
    bt(st, 4, insutype);
    rc = row(l, st);
    ret->deductible_used = rc == 1 ? ci(st, 0) : 0;
    ret->fund_paid = rc == 1 ? ci(st, 1) : 0;
    sqlite3_reset(st);
    return rc < 0 ? rc : 0;
}

int ledger_accum_move(struct ledger *l, const char *psn_no, const char *insutype, int32_t year,
                      bool inpatient, const struct policy_accum *moved, int sign)
{
    sqlite3_stmt *st = stmt(l, S_ACCUM_MOVE);

    if (!st)
        return -EIO;
    bt(st, 1, psn_no);
    bi(st, 2, year);
    bi(st, 3, inpatient);
    bi(st, 4, sign * moved->deductible_used);
    bi(st, 5, sign * moved->fund_paid);
    bt(st, 6, insutype);
    return run(l, st);
}

int ledger_balance_get(struct ledger *l, const char *psn_no, int64_t opening, int64_t *ret)
{
    sqlite3_stmt *st = stmt(l, S_BAL_GET);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, psn_no);
    rc = row(l, st);
    *ret = rc == 1 ? ci(st, 0) : opening;
    sqlite3_reset(st);
    return rc < 0 ? rc : 0;
}

int ledger_balance_set(struct ledger *l, const char *psn_no, int64_t balance)
{
    sqlite3_stmt *st = stmt(l, S_BAL_SET);

    if (!st)
        return -EIO;
    bt(st, 1, psn_no);
    bi(st, 2, balance);
    return run(l, st);
}

int ledger_filing_op_add(struct ledger *l, const struct ledger_filing_op *op)
{
    sqlite3_stmt *st = stmt(l, S_FILING_ADD);

    if (!st)
        return -EIO;
    bt(st, 1, op->psn_no);
    bt(st, 2, op->action);
    bt(st, 3, op->kind);
    bi(st, 4, op->valid_from);
    bi(st, 5, op->valid_to);
    return run(l, st);
}

int ledger_filing_ops_each(struct ledger *l,
                           void (*cb)(const struct ledger_filing_op *op, void *data), void *data)
{
    sqlite3_stmt *st = stmt(l, S_FILING_EACH);
    int rc;

    if (!st)
        return -EIO;
    while ((rc = row(l, st)) == 1) {
        struct ledger_filing_op op;

        ct(st, 0, op.psn_no, sizeof(op.psn_no));
        ct(st, 1, op.action, sizeof(op.action));
        ct(st, 2, op.kind, sizeof(op.kind));
        op.valid_from = (int32_t)ci(st, 3);
        op.valid_to = (int32_t)ci(st, 4);
        cb(&op, data);
    }
    sqlite3_reset(st);
    return rc;
}

int ledger_settlements_each(struct ledger *l,
                            void (*cb)(const struct ledger_settlement *s, void *data), void *data)
{
    sqlite3_stmt *st = stmt(l, S_SETL_EACH);
    int rc;

    if (!st)
        return -EIO;
    while ((rc = row(l, st)) == 1) {
        struct ledger_settlement s;

        settlement_read(st, &s);
        cb(&s, data);
        ledger_settlement_free(&s);
    }
    sqlite3_reset(st);
    return rc;
}
