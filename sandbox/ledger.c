/* The sandbox ledger in SQLite: schema, prepared statements, and one function per query. */
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
#include "core/err.h"
#include "core/str.h"
#include "sandbox/fee_blob.h"
#include "sandbox/idmap.h"

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
    "CREATE TABLE IF NOT EXISTS accums(psn_no TEXT, year INTEGER, deductible_used INTEGER,"
    " fund_paid INTEGER, PRIMARY KEY(psn_no, year));"
    "CREATE TABLE IF NOT EXISTS balances(psn_no TEXT PRIMARY KEY, balance INTEGER);"
    "CREATE TABLE IF NOT EXISTS filing_ops(id INTEGER PRIMARY KEY, psn_no TEXT, action TEXT,"
    " kind TEXT, valid_from INTEGER, valid_to INTEGER);";

#define SETL_COLS                                                                                  \
    "setl_id, msgid, infno, psn_no, mdtrt_id, insutype, clr_type, setl_optins, setl_time, "        \
    "year, medfee, fund, psn_part, acct_pay, cash, act_pay_dedc, moved_deductible, "               \
    "moved_fund, state, ifnull(cancel_msgid,''), output"
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

static const char *const stmt_sql[S__MAX] = {
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
    [S_ACCUM_GET] = "SELECT deductible_used, fund_paid FROM accums WHERE psn_no=?1 AND year=?2",
    [S_ACCUM_MOVE] = "INSERT INTO accums(psn_no, year, deductible_used, fund_paid)"
                     " VALUES(?1,?2,?3,?4) ON CONFLICT(psn_no, year) DO UPDATE SET"
                     " deductible_used = deductible_used + ?3, fund_paid = fund_paid + ?4",
    [S_BAL_GET] = "SELECT balance FROM balances WHERE psn_no=?1",
    [S_BAL_SET] = "INSERT OR REPLACE INTO balances(psn_no, balance) VALUES(?1,?2)",
    [S_FILING_ADD] = "INSERT INTO filing_ops(psn_no, action, kind, valid_from, valid_to)"
                     " VALUES(?1,?2,?3,?4,?5)",
    [S_FILING_EACH] = "SELECT psn_no, action, kind, valid_from, valid_to FROM filing_ops"
                      " ORDER BY id",
    [S_SETL_EACH] = "SELECT " SETL_COLS " FROM settlements ORDER BY rowid",
};

struct ledger {
    sqlite3 *db;
    sqlite3 *checkpointer; /* a second connection: ledger_checkpoint, on another thread */
    int wal_frames;        /* in the WAL after db's last commit */
    sqlite3_stmt *stmts[S__MAX];
};

/* Flags of a loaded line. */
enum {
    LINE_DIRTY = 1,   /* its set is to be written back */
    LINE_GONE = 2,    /* a reversed line a new upload replaced: left out of its set */
    LINE_SETTLED = 4, /* the last settlement to name it (its setl_id) is active */
};

/* What the active refund lines of a visit take back from each original, found by the
 * original's feedetl_sn (ledger_lines_refunded). Built when first asked for. */
struct refunds {
    bool built;
    size_t n, cap;
    size_t *line;     /* per original: one of its refund lines, whose init_sn is the key */
    int64_t *qty_e4;  /* per original: the sum of its refunds' (negative) quantities */
    struct idmap map; /* init_sn -> original */
};

struct ledger_lines {
    char mdtrt_id[LEDGER_ID];
    size_t n, cap;
    struct ledger_fee *f;
    uint8_t *flags;
    /* The lines by feedetl_sn: without it each added line's duplicate check scanned the
     * visit's lines, and an upload of 50,000 lines took 1.25 billion comparisons. */
    struct idmap sns;
    struct refunds refunds;
};

static sqlite3_stmt *stmt(struct ledger *l, enum stmt_id id)
{
    sqlite3_stmt *st = l->stmts[id];

    if (!st) {
        if (sqlite3_prepare_v3(l->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
            SQLITE_OK) {
            fprintf(stderr, "ledger: prepare %d: %s\n", (int)id, sqlite3_errmsg(l->db));
            return NULL;
        }
        l->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static void bt(sqlite3_stmt *st, int i, const char *text)
{
    if (text)
        sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bi(sqlite3_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(st, i, v);
}

static void ct(sqlite3_stmt *st, int col, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    str_copy(buf, cap, (const char *)t);
}

static int64_t ci(sqlite3_stmt *st, int col)
{
    return sqlite3_column_int64(st, col);
}

/* Runs a statement that returns no rows; a uniqueness conflict is -EEXIST. */
static int run(struct ledger *l, sqlite3_stmt *st)
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
static int row(struct ledger *l, sqlite3_stmt *st)
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

/* The visit ids of st's rows (its first column), bound and run by the caller's stmt(): all
 * read before any is opened, as opening a visit runs statements of its own. */
typedef char visit_id_t[LEDGER_ID];

static int visit_ids(struct ledger *l, sqlite3_stmt *st, visit_id_t **ret, size_t *ret_n)
{
    visit_id_t *ids = NULL, *more;
    size_t n = 0;
    int rc;

    while ((rc = row(l, st)) == 1) {
        if (!(more = realloc(ids, (n + 1) * sizeof(*ids)))) {
            rc = -ENOMEM;
            break;
        }
        ids = more;
        ct(st, 0, ids[n++], sizeof(ids[0]));
    }
    sqlite3_reset(st);
    if (rc < 0) {
        free(ids);
        return rc;
    }
    *ret = ids;
    *ret_n = n;
    return 0;
}

/* Version 3 records a line's settlement with the settlement (settlements.lines), not in the
 * line: the settlements named by v's lines (their setl_id, as an older version stored it)
 * record them, and v is saved in the current layout. */
static int migrate_visit(struct ledger *l, struct ledger_lines *v)
{
    const struct ledger_fee **named = malloc((v->n + 1) * sizeof(*named));
    size_t *first = malloc((v->n + 1) * sizeof(*first)), settlements = 0;
    int rc = named && first ? 0 : -ENOMEM;

    /* The settlements the lines name, each once: its lines need not come together (a line
     * cancelled before the settlement, or of another batch, may sit between them). */
    for (size_t i = 0; rc == 0 && i < v->n; i++) {
        size_t k = 0;

        v->flags[i] |= LINE_DIRTY;
        while (k < settlements && strcmp(v->f[first[k]].setl_id, v->f[i].setl_id) != 0)
            k++;
        if (v->f[i].setl_id[0] && k == settlements)
            first[settlements++] = i;
    }
    for (size_t k = 0; rc == 0 && k < settlements; k++) {
        const char *setl_id = v->f[first[k]].setl_id;
        sqlite3_stmt *st;
        uint8_t *blob = NULL;
        size_t n = 0, len;

        for (size_t i = first[k]; i < v->n; i++)
            if (strcmp(v->f[i].setl_id, setl_id) == 0)
                named[n++] = &v->f[i];
        if ((rc = fee_cover_encode(named, n, &blob, &len)) < 0)
            break;
        if ((st = stmt(l, S_SETL_LINES_SET))) {
            bt(st, 1, setl_id);
            sqlite3_bind_blob(st, 2, blob, (int)len, SQLITE_STATIC);
        }
        rc = run(l, st);
        free(blob);
    }
    free(named);
    free(first);
    return rc < 0 ? rc : ledger_lines_save(l, v);
}

/* Version 2 moved fee lines from a row each (table fees) to a blob per visit and message
 * (fee_sets): the rows of a ledger from before, visit by visit. */
static int migrate_fees(struct ledger *l)
{
    static const char sql[] =
        "SELECT mdtrt_id, feedetl_sn, msgid, chrg_bchno, list_code, init_sn, psn_no, time,"
        " price, qty, amount, fulamt, overlmt, preselfpay, inscp, lv, category, selfpay_prop,"
        " outside, state, ifnull(setl_id,''), ifnull(cancel_msgid,''), infno FROM fees f"
        /* visit by visit, in the order their first lines came; each visit's lines as they
         * came, so its sets are written in the order of their uploads (a join: a subquery
         * per row walked the visit's lines each time, 4 s for 8,000 lines of one stay) */
        " JOIN (SELECT mdtrt_id, min(rowid) AS first FROM fees GROUP BY mdtrt_id) o"
        " USING (mdtrt_id) ORDER BY o.first, f.rowid";
    struct ledger_lines *v = NULL;
    sqlite3_stmt *st;
    int rc = 0;

    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    while (rc == 0 && (rc = row(l, st)) == 1) {
        struct ledger_fee f = {0};
        int c = 0;

        ct(st, c++, f.mdtrt_id, sizeof(f.mdtrt_id));
        ct(st, c++, f.feedetl_sn, sizeof(f.feedetl_sn));
        ct(st, c++, f.msgid, sizeof(f.msgid));
        ct(st, c++, f.chrg_bchno, sizeof(f.chrg_bchno));
        ct(st, c++, f.list_code, sizeof(f.list_code));
        ct(st, c++, f.init_sn, sizeof(f.init_sn));
        ct(st, c++, f.psn_no, sizeof(f.psn_no));
        f.time = ci(st, c++);
        f.price_e6 = ci(st, c++);
        f.qty_e4 = ci(st, c++);
        f.split.amount = ci(st, c++);
        f.split.fulamt_ownpay = ci(st, c++);
        f.split.overlmt = ci(st, c++);
        f.split.preselfpay = ci(st, c++);
        f.split.inscp = ci(st, c++);
        f.split.lv = (enum chrgitm_lv)ci(st, c++);
        f.split.category = (uint8_t)ci(st, c++);
        f.split.selfpay_prop_e6 = ci(st, c++);
        f.outside = ci(st, c++) != 0;
        ct(st, c++, f.state, sizeof(f.state));
        ct(st, c++, f.setl_id, sizeof(f.setl_id));
        ct(st, c++, f.cancel_msgid, sizeof(f.cancel_msgid));
        ct(st, c, f.infno, sizeof(f.infno));
        rc = 0;
        if (v && strcmp(v->mdtrt_id, f.mdtrt_id) != 0) {
            rc = migrate_visit(l, v);
            ledger_lines_close(v);
            v = NULL;
        }
        if (rc == 0 && !v)
            rc = ledger_lines_open(l, f.mdtrt_id, &v);
        if (rc == 0)
            rc = ledger_lines_add(v, &f);
    }
    sqlite3_finalize(st);
    if (rc == 0 && v)
        rc = migrate_visit(l, v);
    ledger_lines_close(v);
    return rc;
}

/* Version 2's sets (layout 1, a line's setl_id in it), visit by visit. */
static int migrate_sets(struct ledger *l)
{
    sqlite3_stmt *st = stmt(l, S_SETS_VISITS);
    visit_id_t *ids = NULL;
    size_t n = 0;
    int rc = st ? visit_ids(l, st, &ids, &n) : -EIO;

    for (size_t k = 0; rc == 0 && k < n; k++) {
        struct ledger_lines *v;

        if ((rc = ledger_lines_open(l, ids[k], &v)) == 0) {
            rc = migrate_visit(l, v);
            ledger_lines_close(v);
        } else if (rc == -EIO) {
            /* Left as it is: it was refused before and still is (ledger_lines_open logged
             * it); one damaged visit must not keep the sandbox from starting. */
            rc = 0;
        }
    }
    free(ids);
    return rc;
}

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

/* Brings a ledger of an older version to version 4, in one transaction. Version 1 found an
 * upload's visits in upload_visits, not by an index on every line's msgid; version 2 also
 * finds a cancellation's there, and keeps lines in sets (migrate_fees); version 3 keeps a
 * line's settlement with the settlement (migrate_visit); version 4 is migrate_4. A ledger
 * created by this version has its tables as version 4 wants them from the schema. */
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
    if (version >= 4)
        return 0;
    if (sqlite3_exec(l->db, "BEGIN", NULL, NULL, err) != SQLITE_OK)
        return -EIO;
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
            (rc = migrate_fees(l)) < 0 ||
            sqlite3_exec(l->db, "DROP TABLE fees", NULL, NULL, err) != SQLITE_OK)
            rc = rc < 0 ? rc : -EIO;
    } else if (rc == 0 && version == 2) {
        rc = migrate_sets(l);
    }
    if (rc < 0 && !*err)
        *err = sqlite3_mprintf("the fee lines could not be moved to version 4 (%s)",
                               rc == -ENOMEM ? "out of memory" : "unreadable");
    if (rc < 0 ||
        sqlite3_exec(l->db, "PRAGMA user_version=4; COMMIT;", NULL, NULL, err) != SQLITE_OK) {
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        return -EIO;
    }
    return 0;
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
    int fd;

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
    /* It reads once, to find the WAL: a connection that has not would checkpoint nothing. */
    if (sqlite3_open_v2(path, &l->checkpointer, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        WAL_GATHER_VFS) != SQLITE_OK ||
        sqlite3_exec(l->checkpointer, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
            SQLITE_OK) {
        snprintf(msg, cap, "%s: the checkpointer: %s", path, sqlite3_errmsg(l->checkpointer));
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

/* The number of the WAL's frames now in the database, or -EIO. Busy (the WAL index was
 * being written as the checkpoint read it) is no failure: nothing copied, try later. */
static int checkpoint(sqlite3 *db)
{
    int copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, &copied);

    if (rc == SQLITE_BUSY)
        return 0;
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

/* --- fees ----------------------------------------------------------------------------- */

static int lines_reserve(struct ledger_lines *v, size_t more)
{
    size_t cap = v->cap ? v->cap : 4; /* an upload may load thousands of one-line visits */
    struct ledger_fee *f;
    uint8_t *flags;

    if (v->n + more <= v->cap)
        return 0;
    while (cap < v->n + more)
        cap *= 2;
    if (!(f = realloc(v->f, cap * sizeof(*f))))
        return -ENOMEM;
    v->f = f;
    if (!(flags = realloc(v->flags, cap)))
        return -ENOMEM;
    v->flags = flags;
    v->cap = cap;
    return 0;
}

int ledger_lines_reserve(struct ledger_lines *v, size_t more)
{
    return lines_reserve(v, more);
}

/* Appends the lines of the set in st's current row (S_SETS_LOAD: msgid, psn_no, infno,
 * lines). The decoder writes every field of a line but these four and the visit's, copied
 * from the set: no memset of the lines first (they are large). */
static int lines_append_set(struct ledger_lines *v, sqlite3_stmt *st, const char *mdtrt_id)
{
    const uint8_t *blob = sqlite3_column_blob(st, 3);
    size_t len = (size_t)sqlite3_column_bytes(st, 3);
    int n = fee_blob_count(blob, len), rc;
    struct ledger_fee set = {0};

    if (n <= 0)
        return n; /* a set of no lines is never written, but would be harmless */
    if ((rc = lines_reserve(v, (size_t)n)) < 0)
        return rc;
    if ((rc = fee_blob_decode(blob, len, &v->f[v->n])) < 0)
        return rc;
    str_copy(set.mdtrt_id, sizeof(set.mdtrt_id), mdtrt_id);
    ct(st, 0, set.msgid, sizeof(set.msgid));
    ct(st, 1, set.psn_no, sizeof(set.psn_no));
    ct(st, 2, set.infno, sizeof(set.infno));
    for (int i = 0; i < n; i++) {
        struct ledger_fee *f = &v->f[v->n + (size_t)i];

        memcpy(f->mdtrt_id, set.mdtrt_id, sizeof(f->mdtrt_id));
        memcpy(f->msgid, set.msgid, sizeof(f->msgid));
        memcpy(f->psn_no, set.psn_no, sizeof(f->psn_no));
        memcpy(f->infno, set.infno, sizeof(f->infno));
    }
    memset(&v->flags[v->n], 0, (size_t)n);
    v->n += (size_t)n;
    return 0;
}

void ledger_lines_close(struct ledger_lines *v)
{
    if (!v)
        return;
    free(v->f);
    free(v->flags);
    idmap_free(&v->sns);
    free(v->refunds.line);
    free(v->refunds.qty_e4);
    idmap_free(&v->refunds.map);
    free(v);
}

static const char *line_sn(size_t i, const void *data)
{
    return ((const struct ledger_lines *)data)->f[i].feedetl_sn;
}

/* Adds the lines from v->sns.n on to the index: 0 or -ENOMEM. */
static int index_lines(struct ledger_lines *v)
{
    int rc = 0;

    while (rc == 0 && v->sns.n < v->n)
        if ((rc = idmap_reserve(&v->sns, line_sn, v)) == 0)
            idmap_put(&v->sns, v->f[v->sns.n].feedetl_sn, v->sns.n);
    return rc;
}

static size_t line_index(const struct ledger_lines *v, const char *sn);

struct cover {
    struct ledger_lines *v;
    char setl_id[LEDGER_ID];
    bool active;
};

static int cover_line(const char *msgid, const char *sn, void *data)
{
    struct cover *c = data;
    struct ledger_lines *v = c->v;
    size_t i = line_index(v, sn);

    if (i < v->n && strcmp(v->f[i].msgid, msgid) == 0) {
        str_copy(v->f[i].setl_id, sizeof(v->f[i].setl_id), c->setl_id);
        v->flags[i] = (uint8_t)((v->flags[i] & ~LINE_SETTLED) | (c->active ? LINE_SETTLED : 0));
    }
    return 0;
}

/* Each line's settlement: the last of the visit's settlements to name it, in the order they
 * were made; the line is settled while that one is active. 0 or -EIO. */
static int lines_cover(struct ledger *l, struct ledger_lines *v)
{
    sqlite3_stmt *st = stmt(l, S_SETL_COVER);
    struct cover c = {.v = v};
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, v->mdtrt_id);
    while ((rc = row(l, st)) == 1) {
        ct(st, 0, c.setl_id, sizeof(c.setl_id));
        c.active = sqlite3_column_int(st, 1) == 1;
        rc = fee_cover_each(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2),
                            cover_line, &c);
        if (rc < 0)
            break;
    }
    sqlite3_reset(st);
    return rc < 0 ? -EIO : 0;
}

int ledger_lines_open(struct ledger *l, const char *mdtrt_id, struct ledger_lines **ret)
{
    struct ledger_lines *v = calloc(1, sizeof(*v));
    sqlite3_stmt *st = stmt(l, S_SETS_LOAD);
    int rc;

    if (!v)
        return -ENOMEM;
    if (!st) {
        free(v);
        return -EIO;
    }
    str_copy(v->mdtrt_id, sizeof(v->mdtrt_id), mdtrt_id);
    bt(st, 1, mdtrt_id);
    while ((rc = row(l, st)) == 1 && (rc = lines_append_set(v, st, mdtrt_id)) == 0)
        ;
    sqlite3_reset(st);
    if (rc == 0)
        rc = index_lines(v);
    if (rc == 0)
        rc = lines_cover(l, v);
    if (rc < 0) {
        if (rc == -EIO)
            fprintf(stderr, "ledger: the fee lines of visit %s cannot be read\n", mdtrt_id);
        ledger_lines_close(v);
        return rc;
    }
    *ret = v;
    return 0;
}

/* Writes back the set msgid: its lines, or no row when none is left. */
static int set_save(struct ledger *l, struct ledger_lines *v, const char *msgid)
{
    const struct ledger_fee **set = malloc(v->n * sizeof(*set) + 1);
    sqlite3_stmt *st;
    uint8_t *blob = NULL;
    size_t n = 0, len = 0;
    int rc;

    if (!set)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++)
        if (!(v->flags[i] & LINE_GONE) && strcmp(v->f[i].msgid, msgid) == 0)
            set[n++] = &v->f[i];
    if (n == 0) {
        st = stmt(l, S_SET_DELETE);
        if (st) {
            bt(st, 1, v->mdtrt_id);
            bt(st, 2, msgid);
        }
        rc = run(l, st);
    } else if ((rc = fee_blob_encode(set, n, &blob, &len)) == 0) {
        if ((st = stmt(l, S_SET_PUT))) {
            bt(st, 1, v->mdtrt_id);
            bt(st, 2, msgid);
            bt(st, 3, set[0]->psn_no);
            bt(st, 4, set[0]->infno);
            sqlite3_bind_blob(st, 5, blob, (int)len, SQLITE_STATIC);
        }
        rc = run(l, st);
        free(blob);
    }
    free(set);
    return rc;
}

int ledger_lines_save(struct ledger *l, struct ledger_lines *v)
{
    for (size_t i = 0; i < v->n; i++) {
        char msgid[LEDGER_ID];
        int rc;

        if (!(v->flags[i] & LINE_DIRTY))
            continue;
        str_copy(msgid, sizeof(msgid), v->f[i].msgid);
        if ((rc = set_save(l, v, msgid)) < 0)
            return rc;
        for (size_t j = i; j < v->n; j++)
            if (strcmp(v->f[j].msgid, msgid) == 0)
                v->flags[j] &= (uint8_t)~LINE_DIRTY;
    }
    return 0;
}

/* Line i is one of the visit's (not one a new upload replaced). */
static bool line_here(const struct ledger_lines *v, size_t i)
{
    return !(v->flags[i] & LINE_GONE);
}

/* Line i is the visit's line sn. */
static bool line_is(size_t i, const char *sn, const void *data)
{
    const struct ledger_lines *v = data;

    return line_here(v, i) && strcmp(v->f[i].feedetl_sn, sn) == 0;
}

/* The index of the visit's line sn, or v->n. */
static size_t line_index(const struct ledger_lines *v, const char *sn)
{
    size_t i = idmap_find(&v->sns, sn, line_is, v);

    return i == SIZE_MAX ? v->n : i;
}

const struct ledger_fee *ledger_lines_find(const struct ledger_lines *v, const char *sn)
{
    size_t i = line_index(v, sn);

    return i < v->n ? &v->f[i] : NULL;
}

/* Line i takes back part of another: an active refund line. */
static bool is_refund(const struct ledger_lines *v, size_t i)
{
    return line_here(v, i) && v->f[i].qty_e4 < 0 && v->f[i].init_sn[0] &&
           strcmp(v->f[i].state, "active") == 0;
}

static const char *refund_key(size_t k, const void *data)
{
    const struct ledger_lines *v = data;

    return v->f[v->refunds.line[k]].init_sn;
}

static bool refund_of(size_t k, const char *init_sn, const void *data)
{
    return strcmp(refund_key(k, data), init_sn) == 0;
}

/* Adds qty_e4 (negative, or positive to take a cancelled refund back) to the original of
 * refund line i: 0 or -ENOMEM. */
static int refunds_add(struct ledger_lines *v, size_t i, int64_t qty_e4)
{
    struct refunds *r = &v->refunds;
    size_t k = idmap_find(&r->map, v->f[i].init_sn, refund_of, v);
    size_t *line;
    int64_t *qty;
    int rc;

    if (k == SIZE_MAX) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 16;

            if (!(line = realloc(r->line, cap * sizeof(*line))))
                return -ENOMEM;
            r->line = line;
            if (!(qty = realloc(r->qty_e4, cap * sizeof(*qty))))
                return -ENOMEM;
            r->qty_e4 = qty;
            r->cap = cap;
        }
        if ((rc = idmap_reserve(&r->map, refund_key, v)) < 0)
            return rc;
        k = r->n++;
        r->line[k] = i;
        r->qty_e4[k] = 0;
        idmap_put(&r->map, v->f[i].init_sn, k);
    }
    r->qty_e4[k] += qty_e4;
    return 0;
}

/* Forgets the sums (out of memory while keeping them): the next question builds them again. */
static void refunds_forget(struct refunds *r)
{
    free(r->line);
    free(r->qty_e4);
    idmap_free(&r->map);
    *r = (struct refunds){0};
}

static int refunds_build(struct ledger_lines *v)
{
    int rc = 0;

    for (size_t i = 0; i < v->n && rc == 0; i++)
        if (is_refund(v, i))
            rc = refunds_add(v, i, v->f[i].qty_e4);
    if (rc < 0)
        refunds_forget(&v->refunds);
    else
        v->refunds.built = true;
    return rc;
}

/* Refund line i came or went: its original's sum follows, when the sums are kept. */
static void refunds_track(struct ledger_lines *v, size_t i, int64_t qty_e4)
{
    if (v->refunds.built && refunds_add(v, i, qty_e4) < 0)
        refunds_forget(&v->refunds);
}

int64_t ledger_lines_refunded(struct ledger_lines *v, const char *init_sn)
{
    int64_t qty = 0;
    size_t k;

    if (v->refunds.built || refunds_build(v) == 0) {
        k = idmap_find(&v->refunds.map, init_sn, refund_of, v);
        return k == SIZE_MAX ? 0 : v->refunds.qty_e4[k];
    }
    for (size_t i = 0; i < v->n; i++) /* out of memory for the sums: the scan */
        if (is_refund(v, i) && strcmp(v->f[i].init_sn, init_sn) == 0)
            qty += v->f[i].qty_e4;
    return qty;
}

int ledger_lines_add(struct ledger_lines *v, const struct ledger_fee *f)
{
    size_t old = line_index(v, f->feedetl_sn);
    int rc;

    /* A reversed upload (2601) never happened: its line may come again, under a new msgid,
     * as a client resends an upload whose outcome it did not know. */
    if (old < v->n && strcmp(v->f[old].state, "reversed") != 0)
        return -EEXIST;
    if ((rc = lines_reserve(v, 1)) < 0 || (rc = idmap_reserve(&v->sns, line_sn, v)) < 0)
        return rc;
    if (old < v->n)
        v->flags[old] = LINE_GONE | LINE_DIRTY;
    v->f[v->n] = *f;
    str_copy(v->f[v->n].mdtrt_id, sizeof(v->f[v->n].mdtrt_id), v->mdtrt_id);
    v->flags[v->n] = LINE_DIRTY;
    idmap_put(&v->sns, v->f[v->n].feedetl_sn, v->n);
    v->n++;
    if (is_refund(v, v->n - 1))
        refunds_track(v, v->n - 1, v->f[v->n - 1].qty_e4);
    return 0;
}

/* Active, not settled, and of bchno (NULL: any) and sn (NULL: any). */
static bool line_open(const struct ledger_lines *v, size_t i, const char *sn, const char *bchno)
{
    const struct ledger_fee *f = &v->f[i];

    return line_here(v, i) && !(v->flags[i] & LINE_SETTLED) && strcmp(f->state, "active") == 0 &&
           (!sn || strcmp(f->feedetl_sn, sn) == 0) && (!bchno || strcmp(f->chrg_bchno, bchno) == 0);
}

int ledger_fees_not_of(struct ledger *l, const char *mdtrt_id, const char *setl_id,
                       int64_t *ret_count)
{
    struct ledger_lines *v;
    int rc = ledger_lines_open(l, mdtrt_id, &v);

    if (rc < 0)
        return rc;
    *ret_count = 0;
    for (size_t i = 0; i < v->n; i++)
        if (line_here(v, i) && strcmp(v->f[i].state, "active") == 0 &&
            strcmp(v->f[i].setl_id, setl_id) != 0)
            ++*ret_count;
    ledger_lines_close(v);
    return 0;
}

static void line_cancel(struct ledger_lines *v, size_t i, const char *msgid)
{
    if (is_refund(v, i))
        refunds_track(v, i, -v->f[i].qty_e4);
    str_copy(v->f[i].state, sizeof(v->f[i].state), "cancelled");
    str_copy(v->f[i].cancel_msgid, sizeof(v->f[i].cancel_msgid), msgid);
    v->flags[i] |= LINE_DIRTY;
}

int ledger_lines_cancel(struct ledger_lines *v, const char *sn, const char *bchno,
                        const char *msgid)
{
    size_t i;
    int n = 0;

    if (sn) { /* found by its sn, not by a scan: a 2302 names thousands of lines one by one */
        i = line_index(v, sn);
        if (i < v->n && line_open(v, i, sn, bchno)) {
            line_cancel(v, i, msgid);
            n++;
        }
        return n;
    }
    for (i = 0; i < v->n; i++) {
        if (line_open(v, i, NULL, bchno)) {
            line_cancel(v, i, msgid);
            n++;
        }
    }
    return n;
}

int ledger_fees_cancel(struct ledger *l, const char *mdtrt_id, const char *sn, const char *bchno,
                       const char *msgid, int *ret_count)
{
    struct ledger_lines *v = NULL;
    int rc = ledger_lines_open(l, mdtrt_id, &v), n;

    if (rc < 0)
        return rc;
    n = ledger_lines_cancel(v, sn, bchno, msgid);
    if (n > 0 && (rc = ledger_lines_save(l, v)) == 0)
        rc = ledger_upload_visit(l, msgid, mdtrt_id); /* what its reversal finds them by */
    if (rc == 0)
        *ret_count = n;
    ledger_lines_close(v);
    return rc;
}

int ledger_fees_unsettled(struct ledger *l, const char *mdtrt_id, const char *bchno,
                          struct split_totals *ret, int *ret_count, uint8_t **cover,
                          size_t *cover_len)
{
    const struct ledger_fee **open = NULL;
    struct ledger_lines *v;
    int rc = ledger_lines_open(l, mdtrt_id, &v), n = 0;

    if (rc < 0)
        return rc;
    if (cover && !(open = malloc((v->n + 1) * sizeof(*open)))) {
        ledger_lines_close(v);
        return -ENOMEM;
    }
    *ret = (struct split_totals){0};
    for (size_t i = 0; i < v->n; i++) {
        const struct split *s = &v->f[i].split;

        if (!line_open(v, i, NULL, bchno))
            continue;
        ret->amount += s->amount;
        ret->fulamt_ownpay += s->fulamt_ownpay;
        ret->overlmt += s->overlmt;
        ret->preselfpay += s->preselfpay;
        ret->inscp += s->inscp;
        if (open)
            open[n] = &v->f[i];
        n++;
    }
    *ret_count = n;
    if (cover)
        rc = fee_cover_encode(open, (size_t)n, cover, cover_len);
    free(open);
    ledger_lines_close(v);
    return rc;
}

int ledger_upload_visit(struct ledger *l, const char *msgid, const char *mdtrt_id)
{
    sqlite3_stmt *st = stmt(l, S_UPLOAD_VISIT);

    if (!st)
        return -EIO;
    bt(st, 1, msgid);
    bt(st, 2, mdtrt_id);
    return run(l, st);
}

/* The visits whose lines msgid wrote, loaded (*ret_n of them in *ret). */
static int msg_lines(struct ledger *l, const char *msgid, struct ledger_lines ***ret, size_t *ret_n)
{
    sqlite3_stmt *st = stmt(l, S_MSG_VISITS);
    struct ledger_lines **all = NULL;
    visit_id_t *ids = NULL;
    size_t n = 0;
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, msgid);
    rc = visit_ids(l, st, &ids, &n);
    if (rc == 0 && n && !(all = calloc(n, sizeof(*all))))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ledger_lines_open(l, ids[i], &all[i]);
    free(ids);
    if (rc < 0) {
        for (size_t i = 0; all && i < n; i++)
            ledger_lines_close(all[i]);
        free(all);
        return rc;
    }
    *ret = all;
    *ret_n = n;
    return 0;
}

static void msg_lines_close(struct ledger_lines **all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ledger_lines_close(all[i]);
    free(all);
}

/* Saves every visit's lines; 0 or the first failure. */
static int msg_lines_save(struct ledger *l, struct ledger_lines **all, size_t n)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ledger_lines_save(l, all[i]);
    return rc;
}

/* The lines msgid uploaded, still active; the lines it cancelled, still cancelled. */
static bool uploaded_by(const struct ledger_fee *f, const char *msgid)
{
    return strcmp(f->msgid, msgid) == 0 && strcmp(f->state, "active") == 0;
}

static bool cancelled_by(const struct ledger_fee *f, const char *msgid)
{
    return strcmp(f->cancel_msgid, msgid) == 0 && strcmp(f->state, "cancelled") == 0;
}

/* Undoes what msgid did to the lines of its visits that `did` picks: they take state, lose
 * their cancelling message, and are saved. *ret_count is how many. */
static int msg_lines_undo(struct ledger *l, struct ledger_lines **all, size_t n,
                          bool (*did)(const struct ledger_fee *f, const char *msgid),
                          const char *msgid, const char *state, int *ret_count)
{
    int rc, count = 0;

    for (size_t k = 0; k < n; k++) {
        struct ledger_lines *v = all[k];

        refunds_forget(&v->refunds); /* states change here without it */
        for (size_t i = 0; i < v->n; i++)
            if (line_here(v, i) && did(&v->f[i], msgid)) {
                str_copy(v->f[i].state, sizeof(v->f[i].state), state);
                v->f[i].cancel_msgid[0] = '\0';
                v->flags[i] |= LINE_DIRTY;
                count++;
            }
    }
    if ((rc = msg_lines_save(l, all, n)) == 0)
        *ret_count = count;
    return rc;
}

/* A line of v that msgid uploaded is settled: POSA_ESTATE. */
static int upload_settled(struct ledger *l, struct ledger_lines *v, const char *msgid)
{
    (void)l;
    for (size_t i = 0; i < v->n; i++)
        if (line_here(v, i) && uploaded_by(&v->f[i], msgid) && (v->flags[i] & LINE_SETTLED))
            return POSA_ESTATE;
    return 0;
}

/* v has lines msgid cancelled and was settled since (they would be a second bill):
 * POSA_ESTATE. */
static int settled_since_cancel(struct ledger *l, struct ledger_lines *v, const char *msgid)
{
    struct ledger_settlement s;
    size_t i = 0;
    int rc;

    while (i < v->n && !(line_here(v, i) && cancelled_by(&v->f[i], msgid)))
        i++;
    if (i == v->n)
        return 0;
    if ((rc = ledger_settlement_active(l, v->mdtrt_id, &s)) == 1) {
        ledger_settlement_free(&s);
        return POSA_ESTATE;
    }
    return rc;
}

/* A reversal of msgid's effect on fee lines: refused as a whole when `refuse` says so for a
 * visit of it, else the lines `did` picks take state. */
static int msg_reverse(struct ledger *l, const char *msgid,
                       int (*refuse)(struct ledger *l, struct ledger_lines *v, const char *msgid),
                       bool (*did)(const struct ledger_fee *f, const char *msgid),
                       const char *state, int *ret_count)
{
    struct ledger_lines **all;
    size_t n;
    int rc = msg_lines(l, msgid, &all, &n);

    if (rc < 0)
        return rc;
    for (size_t k = 0; rc == 0 && k < n; k++)
        rc = refuse(l, all[k], msgid);
    if (rc == 0)
        rc = msg_lines_undo(l, all, n, did, msgid, state, ret_count);
    msg_lines_close(all, n);
    return rc;
}

int ledger_fees_reverse_upload(struct ledger *l, const char *msgid, int *ret_count)
{
    return msg_reverse(l, msgid, upload_settled, uploaded_by, "reversed", ret_count);
}

int ledger_fees_reverse_cancel(struct ledger *l, const char *msgid, int *ret_count)
{
    return msg_reverse(l, msgid, settled_since_cancel, cancelled_by, "active", ret_count);
}

static int one_int(struct ledger *l, sqlite3_stmt *st, int64_t *ret)
{
    int rc = row(l, st);

    if (rc == 1)
        *ret = ci(st, 0);
    sqlite3_reset(st);
    return rc == 1 ? 0 : -EIO;
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

int ledger_accum_get(struct ledger *l, const char *psn_no, int32_t year, struct policy_accum *ret)
{
    sqlite3_stmt *st = stmt(l, S_ACCUM_GET);
    int rc;

    if (!st)
        return -EIO;
    bt(st, 1, psn_no);
    bi(st, 2, year);
    rc = row(l, st);
    ret->deductible_used = rc == 1 ? ci(st, 0) : 0;
    ret->fund_paid = rc == 1 ? ci(st, 1) : 0;
    sqlite3_reset(st);
    return rc < 0 ? rc : 0;
}

int ledger_accum_move(struct ledger *l, const char *psn_no, int32_t year,
                      const struct policy_accum *moved, int sign)
{
    sqlite3_stmt *st = stmt(l, S_ACCUM_MOVE);

    if (!st)
        return -EIO;
    bt(st, 1, psn_no);
    bi(st, 2, year);
    bi(st, 3, sign * moved->deductible_used);
    bi(st, 4, sign * moved->fund_paid);
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

int ledger_fees_each(struct ledger *l, const char *psn_no, bool skip_damaged,
                     void (*cb)(const struct ledger_fee *f, void *data), void *data)
{
    sqlite3_stmt *st = stmt(l, psn_no ? S_SETS_VISITS_PSN : S_SETS_VISITS);
    visit_id_t *ids = NULL;
    size_t n = 0;
    int rc;

    if (!st)
        return -EIO;
    if (psn_no)
        bt(st, 1, psn_no);
    rc = visit_ids(l, st, &ids, &n);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        struct ledger_lines *v;

        rc = ledger_lines_open(l, ids[k], &v);
        if (rc == -EIO && skip_damaged) {
            /* One damaged visit must not hide the rest of the admin listing; its own
             * operations still refuse (ledger_lines_open logged it). */
            rc = 0;
            continue;
        }
        for (size_t i = 0; rc == 0 && i < v->n; i++)
            cb(&v->f[i], data);
        if (rc == 0)
            ledger_lines_close(v);
    }
    free(ids);
    return rc;
}
