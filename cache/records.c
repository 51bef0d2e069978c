/* The desk flow's records: identities, visits, settlements and kept answers, rows with a
 * JSON body and a few query columns; retention (records_prune). Fee lines are sets of
 * packed lines, in records_fees.c. */
#include "cache/records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/db_internal.h"
#include "core/err.h"
#include "core/msg_fsm.h"

static const char sql_identity_put[] =
    "INSERT OR REPLACE INTO identities (token, desk, body, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_identity_get[] =
    "SELECT body, desk, expires_at FROM identities WHERE token = ?1";
static const char sql_visit_put[] =
    "INSERT INTO visits (visit_id, desk, his_visit_id, kind, state, mdtrt_id, body, created_at, "
    "updated_at, psn_no, insutype, insuplc_admdvs, cert_type, cert_no, card_sn, emergency, "
    "med_type) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
    "ON CONFLICT(visit_id) DO UPDATE SET desk = ?2, his_visit_id = ?3, kind = ?4, state = ?5, "
    "mdtrt_id = ?6, body = ?7, updated_at = ?8, psn_no = ?9, insutype = ?10, "
    "insuplc_admdvs = ?11, cert_type = ?12, cert_no = ?13, card_sn = ?14, emergency = ?15, "
    "med_type = ?16";
static const char sql_visit_get[] =
    "SELECT visit_id, desk, his_visit_id, kind, state, mdtrt_id, body, created_at, updated_at, "
    "psn_no, insutype, insuplc_admdvs, cert_type, cert_no, card_sn, emergency, med_type "
    "FROM visits WHERE visit_id = ?1";
static const char sql_visit_open_by_his_id[] =
    "SELECT visit_id FROM visits WHERE his_visit_id = ?1 AND kind = ?2 AND "
    "(state = 'open' OR state = 'billed' OR state = 'settling') ORDER BY created_at DESC LIMIT 1";
static const char sql_visit_by_mdtrt[] =
    "SELECT visit_id FROM visits WHERE mdtrt_id = ?1 AND mdtrt_id <> '' LIMIT 1";
static const char sql_settlement_put[] =
    "INSERT INTO settlements (settlement_id, visit_id, state, msgid, setl_id, settle_date, body, "
    "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
    "ON CONFLICT(settlement_id) DO UPDATE SET visit_id = ?2, state = ?3, msgid = ?4, "
    "setl_id = ?5, settle_date = ?6, body = ?7, updated_at = ?8";
#define SETTLEMENT_COLS                                                                            \
    "settlement_id, visit_id, state, msgid, setl_id, settle_date, body, created_at, updated_at"
static const char sql_settlement_get[] =
    "SELECT " SETTLEMENT_COLS " FROM settlements WHERE settlement_id = ?1";
static const char sql_settlement_by_msgid[] =
    "SELECT " SETTLEMENT_COLS " FROM settlements WHERE msgid = ?1 ORDER BY created_at LIMIT 1";
static const char sql_settlement_by_setl_id[] =
    "SELECT " SETTLEMENT_COLS " FROM settlements WHERE setl_id = ?1 AND setl_id != '' "
    "ORDER BY created_at LIMIT 1";
static const char sql_settlement_open[] =
    "SELECT " SETTLEMENT_COLS " FROM settlements WHERE visit_id = ?1 "
    "AND (state = 'pending' OR state = 'unknown' OR state = 'queued') "
    "ORDER BY created_at DESC LIMIT 1";
static const char sql_settlement_settled[] =
    "SELECT " SETTLEMENT_COLS " FROM settlements WHERE visit_id = ?1 AND state = 'settled' "
    "ORDER BY created_at DESC LIMIT 1";
static const char sql_settlement_counts[] =
    "SELECT state, n FROM settlement_counts WHERE n > 0 ORDER BY state";
static const char sql_report_put[] =
    "INSERT OR REPLACE INTO reconcile_reports (date, body, created_at) VALUES (?1, ?2, ?3)";
static const char sql_report_get[] = "SELECT body FROM reconcile_reports WHERE date = ?1";
static const char sql_elsewhere_put[] =
    "INSERT OR IGNORE INTO cancelled_elsewhere (setl_id, msgid, found_at) VALUES (?1, ?2, ?3)";
static const char sql_elsewhere_list[] = "SELECT setl_id FROM cancelled_elsewhere";
static const char sql_answer_get[] =
    "SELECT body_hash, status, answer FROM his_answers WHERE idem_key = ?1";
static const char sql_answer_put[] =
    "INSERT INTO his_answers (idem_key, body_hash, status, answer, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";

static const char sql_prune_identities[] =
    "DELETE FROM identities WHERE rowid IN "
    "(SELECT rowid FROM identities WHERE expires_at < ?1 LIMIT ?2)";
static const char sql_prune_answers[] =
    "DELETE FROM his_answers WHERE rowid IN "
    "(SELECT rowid FROM his_answers WHERE created_at < ?1 LIMIT ?2)";
/* Reads the platform answered (a final state): nothing refers to them once past the
 * idempotency window. "kind = 2" as the partial index journal_queries says it (0012). */
_Static_assert(MSG_KIND_QUERY == 2, "journal_queries (schema 0012) indexes kind = 2");
static const char sql_prune_queries[] =
    "DELETE FROM journal WHERE seq IN (SELECT seq FROM journal WHERE kind = 2 AND "
    "updated_at < ?1 AND (state = 'done' OR state = 'refused' OR state = 'reversed') LIMIT ?2)";

/* Copies column col into a fixed buffer; a longer value is a row cache/ did not write. */
static int copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, col) : 0;

    if (n >= cap)
        return POSA_ECORRUPT;
    memcpy(dst, s ? (const char *)s : "", n);
    dst[n] = '\0';
    return 0;
}

/* The columns that carry personal data are sealable (db.h, db_seal_begin). */
static int bind_sealable(struct db *db, sqlite3_stmt *st, int col, const char *text)
{
    return db_bind_sealable(db, st, col, text, text ? strlen(text) : 0, false);
}

/* copy_col of a sealable column. */
static int copy_opened(struct db *db, char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const void *p = sqlite3_column_blob(st, col); /* a TEXT value's bytes, unconverted */
    size_t n;
    char *s;
    int err;

    /* Plain (no sealer, or a row from before one): copied as it is, without the allocation
     * opening makes (a visit's three identity columns, read on every fee upload and settle). */
    if (!db_value_sealed(p, (size_t)sqlite3_column_bytes(st, col)))
        return copy_col(dst, cap, st, col);
    err = db_column_opened(db, st, col, &s, &n);

    if (err)
        return err;
    if (n >= cap)
        err = POSA_ECORRUPT;
    else
        memcpy(dst, s ? s : "", n + 1);
    free(s);
    return err;
}

/* Steps a one-row query: 0 with the row ready, POSA_ENOTFOUND, or an error. */
static int step_row(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 0;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? POSA_ENOTFOUND : db_map(rc);
}

int records_identity_put(struct db *db, const char *token, const char *desk, const char *body,
                         int64_t now, int64_t expires_at)
{
    sqlite3_stmt *st = db_stmt(db, sql_identity_put);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, token);
    db_bind_text(st, 2, desk ? desk : "");
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, expires_at);
    err = bind_sealable(db, st, 3, body);
    return err ? err : db_step_done(db, st);
}

int records_identity_get(struct db *db, const char *token, int64_t now, char **ret_body,
                         char ret_desk[RECORD_ID_MAX + 1])
{
    sqlite3_stmt *st = db_stmt(db, sql_identity_get);
    char desk[RECORD_ID_MAX + 1];
    char *body = NULL;
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, token);
    if ((err = step_row(st)) < 0)
        return err;
    if (sqlite3_column_int64(st, 2) <= now)
        err = POSA_ETOKEN_EXPIRED;
    else if ((err = copy_col(desk, sizeof desk, st, 1)) == 0)
        err = db_column_opened(db, st, 0, &body, NULL);
    sqlite3_reset(st);
    if (err < 0)
        return err;
    *ret_body = body;
    memcpy(ret_desk, desk, sizeof desk);
    return 0;
}

int records_visit_put(struct db *db, const struct visit_record *v, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_visit_put);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, v->visit_id);
    db_bind_text(st, 2, v->desk);
    db_bind_text(st, 3, v->his_visit_id);
    db_bind_text(st, 4, v->kind);
    db_bind_text(st, 5, v->state);
    db_bind_text(st, 6, v->mdtrt_id);
    sqlite3_bind_int64(st, 8, now);
    db_bind_text(st, 10, v->who.insutype);
    db_bind_text(st, 11, v->who.insuplc_admdvs);
    db_bind_text(st, 12, v->who.cert_type);
    sqlite3_bind_int(st, 15, v->emergency);
    db_bind_text(st, 16, v->med_type);
    if ((err = bind_sealable(db, st, 7, v->body ? v->body : "{}")) < 0 ||
        (err = bind_sealable(db, st, 9, v->who.psn_no)) < 0 ||
        (err = bind_sealable(db, st, 13, v->who.cert_no)) < 0 ||
        (err = bind_sealable(db, st, 14, v->who.card_sn)) < 0)
        return err;
    return db_step_done(db, st);
}

void records_visit_free(struct visit_record *v)
{
    if (!v)
        return;
    free(v->body);
    free(v);
}

static int visit_read(struct db *db, sqlite3_stmt *st, struct visit_record *v)
{
    int err;

    if ((err = copy_col(v->visit_id, sizeof v->visit_id, st, 0)) < 0 ||
        (err = copy_col(v->desk, sizeof v->desk, st, 1)) < 0 ||
        (err = copy_col(v->his_visit_id, sizeof v->his_visit_id, st, 2)) < 0 ||
        (err = copy_col(v->kind, sizeof v->kind, st, 3)) < 0 ||
        (err = copy_col(v->state, sizeof v->state, st, 4)) < 0 ||
        (err = copy_col(v->mdtrt_id, sizeof v->mdtrt_id, st, 5)) < 0 ||
        (err = copy_opened(db, v->who.psn_no, sizeof v->who.psn_no, st, 9)) < 0 ||
        (err = copy_col(v->who.insutype, sizeof v->who.insutype, st, 10)) < 0 ||
        (err = copy_col(v->who.insuplc_admdvs, sizeof v->who.insuplc_admdvs, st, 11)) < 0 ||
        (err = copy_col(v->who.cert_type, sizeof v->who.cert_type, st, 12)) < 0 ||
        (err = copy_opened(db, v->who.cert_no, sizeof v->who.cert_no, st, 13)) < 0 ||
        (err = copy_opened(db, v->who.card_sn, sizeof v->who.card_sn, st, 14)) < 0 ||
        (err = copy_col(v->med_type, sizeof v->med_type, st, 16)) < 0 ||
        (err = db_column_opened(db, st, 6, &v->body, NULL)) < 0)
        return err;
    v->created_at = sqlite3_column_int64(st, 7);
    v->updated_at = sqlite3_column_int64(st, 8);
    v->emergency = sqlite3_column_int(st, 15) != 0;
    return 0;
}

int records_visit_get(struct db *db, const char *visit_id, struct visit_record **ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_visit_get);
    struct visit_record *v;
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    if ((err = step_row(st)) < 0)
        return err;
    v = calloc(1, sizeof *v);
    err = v ? visit_read(db, st, v) : -ENOMEM;
    sqlite3_reset(st);
    if (err < 0) {
        records_visit_free(v);
        return err;
    }
    *ret = v;
    return 0;
}

int records_visit_open_by_his_id(struct db *db, const char *his_visit_id, const char *kind,
                                 char ret_visit_id[RECORD_ID_MAX + 1])
{
    sqlite3_stmt *st = db_stmt(db, sql_visit_open_by_his_id);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, his_visit_id);
    db_bind_text(st, 2, kind);
    if ((err = step_row(st)) < 0)
        return err;
    err = copy_col(ret_visit_id, RECORD_ID_MAX + 1, st, 0);
    sqlite3_reset(st);
    return err;
}

int records_visit_by_mdtrt(struct db *db, const char *mdtrt_id,
                           char ret_visit_id[RECORD_ID_MAX + 1])
{
    sqlite3_stmt *st = db_stmt(db, sql_visit_by_mdtrt);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, mdtrt_id);
    if ((err = step_row(st)) < 0)
        return err;
    err = copy_col(ret_visit_id, RECORD_ID_MAX + 1, st, 0);
    sqlite3_reset(st);
    return err;
}

int records_settlement_put(struct db *db, const struct settlement_record *s, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_settlement_put);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, s->settlement_id);
    db_bind_text(st, 2, s->visit_id);
    db_bind_text(st, 3, s->state);
    db_bind_text(st, 4, s->msgid);
    db_bind_text(st, 5, s->setl_id);
    sqlite3_bind_int(st, 6, s->settle_date);
    sqlite3_bind_int64(st, 8, now);
    err = bind_sealable(db, st, 7, s->body ? s->body : "{}");
    return err ? err : db_step_done(db, st);
}

void records_settlement_free(struct settlement_record *s)
{
    if (!s)
        return;
    free(s->body);
    free(s);
}

static int settlement_read(sqlite3_stmt *st, struct settlement_record *s)
{
    int err;

    if ((err = copy_col(s->settlement_id, sizeof s->settlement_id, st, 0)) < 0 ||
        (err = copy_col(s->visit_id, sizeof s->visit_id, st, 1)) < 0 ||
        (err = copy_col(s->state, sizeof s->state, st, 2)) < 0 ||
        (err = copy_col(s->msgid, sizeof s->msgid, st, 3)) < 0 ||
        (err = copy_col(s->setl_id, sizeof s->setl_id, st, 4)) < 0)
        return err;
    s->settle_date = sqlite3_column_int(st, 5);
    s->created_at = sqlite3_column_int64(st, 7);
    s->updated_at = sqlite3_column_int64(st, 8);
    return 0;
}

static int settlement_get(struct db *db, const char *sql, const char *key,
                          struct settlement_record **ret)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    struct settlement_record *s;
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, key);
    if ((err = step_row(st)) < 0)
        return err;
    if (!(s = calloc(1, sizeof *s)))
        err = -ENOMEM;
    if (!err && (err = settlement_read(st, s)) == 0)
        err = db_column_opened(db, st, 6, &s->body, NULL);
    sqlite3_reset(st);
    if (err < 0) {
        records_settlement_free(s);
        return err;
    }
    *ret = s;
    return 0;
}

int records_settlement_get(struct db *db, const char *settlement_id, struct settlement_record **ret)
{
    return settlement_get(db, sql_settlement_get, settlement_id, ret);
}

int records_settlement_by_msgid(struct db *db, const char *msgid, struct settlement_record **ret)
{
    return settlement_get(db, sql_settlement_by_msgid, msgid, ret);
}

int records_settlement_by_setl_id(struct db *db, const char *setl_id,
                                  struct settlement_record **ret)
{
    return settlement_get(db, sql_settlement_by_setl_id, setl_id, ret);
}

int records_settlement_by_visit_open(struct db *db, const char *visit_id,
                                     struct settlement_record **ret)
{
    return settlement_get(db, sql_settlement_open, visit_id, ret);
}

int records_settlement_by_visit_settled(struct db *db, const char *visit_id,
                                        struct settlement_record **ret)
{
    return settlement_get(db, sql_settlement_settled, visit_id, ret);
}

int records_answer_get(struct db *db, const char *idem_key, char ret_hash[RECORD_ID_MAX + 1],
                       int *ret_status, char **ret_answer)
{
    sqlite3_stmt *st = db_stmt(db, sql_answer_get);
    char hash[RECORD_ID_MAX + 1];
    char *answer = NULL;
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, idem_key);
    if ((err = step_row(st)) < 0)
        return err;
    if ((err = copy_col(hash, sizeof hash, st, 0)) == 0)
        err = db_column_opened(db, st, 2, &answer, NULL);
    if (!err)
        *ret_status = sqlite3_column_int(st, 1);
    sqlite3_reset(st);
    if (err < 0)
        return err;
    memcpy(ret_hash, hash, sizeof hash);
    *ret_answer = answer;
    return 0;
}

int records_answer_put(struct db *db, const char *idem_key, const char *body_hash, int status,
                       const char *answer, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_answer_put);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, idem_key);
    db_bind_text(st, 2, body_hash);
    sqlite3_bind_int(st, 3, status);
    sqlite3_bind_int64(st, 5, now);
    err = bind_sealable(db, st, 4, answer);
    return err ? err : db_step_done(db, st);
}

int records_settlement_counts(struct db *db, int (*cb)(const char *state, int64_t count, void *data),
                              void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_settlement_counts);
    int rc = SQLITE_DONE, err = 0;

    if (!st)
        return POSA_EDB;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
        err = cb((const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), data);
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    sqlite3_reset(st);
    return err;
}

int records_cancelled_elsewhere_put(struct db *db, const char *setl_id, const char *msgid,
                                    int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_elsewhere_put);

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, setl_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, msgid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    return db_step_done(db, st);
}

int records_cancelled_elsewhere_list(struct db *db, int (*cb)(const char *setl_id, void *data),
                                     void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_elsewhere_list);
    int rc = SQLITE_DONE, err = 0;

    if (!st)
        return POSA_EDB;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
        err = cb((const char *)sqlite3_column_text(st, 0), data);
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    sqlite3_reset(st);
    return err;
}

int records_report_put(struct db *db, int32_t date, const char *body, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_report_put);
    int err;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int(st, 1, date);
    sqlite3_bind_int64(st, 3, now);
    err = bind_sealable(db, st, 2, body); /* a mismatch names the patient's psn_no */
    return err ? err : db_step_done(db, st);
}

int records_report_get(struct db *db, int32_t date, char **ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_report_get);
    char *body = NULL;
    int err;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int(st, 1, date);
    if ((err = step_row(st)) < 0)
        return err;
    err = db_column_opened(db, st, 0, &body, NULL);
    sqlite3_reset(st);
    if (err)
        return err;
    *ret = body;
    return 0;
}

/* Runs one DELETE whose ?1 is a time and ?2 a row limit; adds the rows it deleted. */
static int prune_before(struct db *db, const char *sql, int64_t before, int limit,
                        int64_t *deleted)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    int err;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int(st, 2, limit);
    err = db_step_done(db, st);
    if (!err)
        *deleted += sqlite3_changes(db_sqlite(db));
    return err;
}

int records_prune(struct db *db, int64_t expired_before, int64_t answered_before, int limit,
                  int64_t *ret_deleted)
{
    int64_t deleted = 0;
    int err = prune_before(db, sql_prune_identities, expired_before, limit, &deleted);

    if (!err)
        err = prune_before(db, sql_prune_answers, answered_before, limit, &deleted);
    if (!err)
        err = prune_before(db, sql_prune_queries, answered_before, limit, &deleted);
    if (ret_deleted)
        *ret_deleted = deleted;
    return err;
}
