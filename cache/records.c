/* The desk flow's records: rows with a JSON body and a few query columns; fee lines all in
 * columns. */
#include "cache/records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/db_internal.h"
#include "core/err.h"

static const char sql_identity_put[] =
    "INSERT OR REPLACE INTO identities (token, desk, body, created_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_identity_get[] =
    "SELECT body, desk, expires_at FROM identities WHERE token = ?1";
static const char sql_visit_put[] =
    "INSERT INTO visits (visit_id, desk, his_visit_id, kind, state, mdtrt_id, body, created_at, "
    "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
    "ON CONFLICT(visit_id) DO UPDATE SET desk = ?2, his_visit_id = ?3, kind = ?4, state = ?5, "
    "mdtrt_id = ?6, body = ?7, updated_at = ?8";
static const char sql_visit_get[] =
    "SELECT visit_id, desk, his_visit_id, kind, state, mdtrt_id, body, created_at, updated_at "
    "FROM visits WHERE visit_id = ?1";
static const char sql_line_put[] =
    "INSERT OR REPLACE INTO fee_lines (visit_id, his_line_id, seq, feedetl_sn, state, "
    "upload_msgid, created_at, list_code, name, qty_e4, price_e6, time, amount, fulamt_ownpay, "
    "overlmt, preselfpay, inscp, lv, category, selfpay_prop_e6, outside_institution, "
    "outside_form, outside_kind, his_key, his_hash) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
    "?19, ?20, ?21, ?22, ?23, ?24, ?25)";
static const char sql_lines_refused[] =
    "UPDATE fee_lines SET state = 'refused' "
    "WHERE visit_id = ?1 AND upload_msgid = ?2 AND state = 'active'";
static const char sql_line_cancel[] =
    "UPDATE fee_lines SET state = 'cancelled', cancel_msgid = ?3 "
    "WHERE visit_id = ?1 AND his_line_id = ?2 AND state = 'active'";
static const char sql_lines_uncancel[] =
    "UPDATE fee_lines SET state = 'active', cancel_msgid = '' "
    "WHERE visit_id = ?1 AND cancel_msgid = ?2 AND state = 'cancelled'";
static const char sql_lines_list[] =
    "SELECT visit_id, his_line_id, seq, feedetl_sn, state, upload_msgid, list_code, name, "
    "qty_e4, price_e6, time, amount, fulamt_ownpay, overlmt, preselfpay, inscp, lv, category, "
    "selfpay_prop_e6, outside_institution, outside_form, outside_kind, his_key, his_hash "
    "FROM fee_lines "
    "WHERE visit_id = ?1 ORDER BY seq";
static const char sql_lines_active_splits[] =
    "SELECT state, amount, fulamt_ownpay, overlmt, preselfpay, inscp, lv, category, "
    "selfpay_prop_e6, outside_institution != '' FROM fee_lines "
    "WHERE visit_id = ?1 AND (state = 'active' OR state = 'damaged')";
static const char sql_lines_next_seq[] =
    "SELECT coalesce(max(seq), 0) + 1 FROM fee_lines WHERE visit_id = ?1";
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
static const char sql_settlement_counts[] =
    "SELECT state, count(*) FROM settlements GROUP BY state ORDER BY state";
static const char sql_report_put[] =
    "INSERT OR REPLACE INTO reconcile_reports (date, body, created_at) VALUES (?1, ?2, ?3)";
static const char sql_report_get[] = "SELECT body FROM reconcile_reports WHERE date = ?1";
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

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *out = malloc(n + 1);

    if (!out)
        return NULL;
    memcpy(out, s ? (const char *)s : "", n);
    out[n] = '\0';
    return out;
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

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, token);
    db_bind_text(st, 2, desk ? desk : "");
    db_bind_text(st, 3, body);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, expires_at);
    return db_step_done(db, st);
}

int records_identity_get(struct db *db, const char *token, int64_t now, char **ret_body,
                         char ret_desk[RECORD_ID_MAX + 1])
{
    sqlite3_stmt *st = db_stmt(db, sql_identity_get);
    char desk[RECORD_ID_MAX + 1];
    char *body;
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, token);
    if ((err = step_row(st)) < 0)
        return err;
    if (sqlite3_column_int64(st, 2) <= now)
        err = POSA_ETOKEN_EXPIRED;
    else if ((err = copy_col(desk, sizeof desk, st, 1)) == 0 && !(body = dup_col(st, 0)))
        err = -ENOMEM;
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

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, v->visit_id);
    db_bind_text(st, 2, v->desk);
    db_bind_text(st, 3, v->his_visit_id);
    db_bind_text(st, 4, v->kind);
    db_bind_text(st, 5, v->state);
    db_bind_text(st, 6, v->mdtrt_id);
    db_bind_text(st, 7, v->body ? v->body : "{}");
    sqlite3_bind_int64(st, 8, now);
    return db_step_done(db, st);
}

void records_visit_free(struct visit_record *v)
{
    if (!v)
        return;
    free(v->body);
    free(v);
}

static int visit_read(sqlite3_stmt *st, struct visit_record *v)
{
    int err;

    if ((err = copy_col(v->visit_id, sizeof v->visit_id, st, 0)) < 0 ||
        (err = copy_col(v->desk, sizeof v->desk, st, 1)) < 0 ||
        (err = copy_col(v->his_visit_id, sizeof v->his_visit_id, st, 2)) < 0 ||
        (err = copy_col(v->kind, sizeof v->kind, st, 3)) < 0 ||
        (err = copy_col(v->state, sizeof v->state, st, 4)) < 0 ||
        (err = copy_col(v->mdtrt_id, sizeof v->mdtrt_id, st, 5)) < 0)
        return err;
    if (!(v->body = dup_col(st, 6)))
        return -ENOMEM;
    v->created_at = sqlite3_column_int64(st, 7);
    v->updated_at = sqlite3_column_int64(st, 8);
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
    err = v ? visit_read(st, v) : -ENOMEM;
    sqlite3_reset(st);
    if (err < 0) {
        records_visit_free(v);
        return err;
    }
    *ret = v;
    return 0;
}

int records_line_put(struct db *db, const struct line_record *l, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_line_put);

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, l->visit_id);
    db_bind_text(st, 2, l->his_line_id);
    sqlite3_bind_int64(st, 3, l->seq);
    db_bind_text(st, 4, l->feedetl_sn);
    db_bind_text(st, 5, l->state);
    db_bind_text(st, 6, l->upload_msgid);
    sqlite3_bind_int64(st, 7, now);
    db_bind_text(st, 8, l->list_code ? l->list_code : "");
    db_bind_text(st, 9, l->name ? l->name : "");
    sqlite3_bind_int64(st, 10, l->qty_e4);
    sqlite3_bind_int64(st, 11, l->price_e6);
    db_bind_text(st, 12, l->time ? l->time : "");
    sqlite3_bind_int64(st, 13, l->split.amount);
    sqlite3_bind_int64(st, 14, l->split.fulamt_ownpay);
    sqlite3_bind_int64(st, 15, l->split.overlmt);
    sqlite3_bind_int64(st, 16, l->split.preselfpay);
    sqlite3_bind_int64(st, 17, l->split.inscp);
    sqlite3_bind_int(st, 18, (int)l->split.lv);
    sqlite3_bind_int(st, 19, l->split.category);
    sqlite3_bind_int64(st, 20, l->split.selfpay_prop_e6);
    db_bind_text(st, 21, l->outside_institution ? l->outside_institution : "");
    db_bind_text(st, 22, l->outside_form ? l->outside_form : "");
    sqlite3_bind_int(st, 23, l->outside_kind);
    db_bind_text(st, 24, l->his_key ? l->his_key : "");
    db_bind_text(st, 25, l->his_hash ? l->his_hash : "");
    return db_step_done(db, st);
}

int records_lines_refused(struct db *db, const char *visit_id, const char *upload_msgid)
{
    sqlite3_stmt *st = db_stmt(db, sql_lines_refused);

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    db_bind_text(st, 2, upload_msgid);
    return db_step_done(db, st);
}

int records_line_cancel(struct db *db, const char *visit_id, const char *his_line_id,
                        const char *cancel_msgid)
{
    sqlite3_stmt *st = db_stmt(db, sql_line_cancel);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    db_bind_text(st, 2, his_line_id);
    db_bind_text(st, 3, cancel_msgid);
    if ((err = db_step_done(db, st)) < 0)
        return err;
    return sqlite3_changes(db_sqlite(db)) ? 0 : POSA_ENOTFOUND;
}

int records_lines_uncancel(struct db *db, const char *visit_id, const char *cancel_msgid,
                           int64_t *ret_n)
{
    sqlite3_stmt *st = db_stmt(db, sql_lines_uncancel);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    db_bind_text(st, 2, cancel_msgid);
    if ((err = db_step_done(db, st)) < 0)
        return err;
    if (ret_n)
        *ret_n = sqlite3_changes(db_sqlite(db));
    return 0;
}

/* A NOT NULL text column of the current row, or NULL when SQLite ran out of memory. */
static const char *text_col(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);

    return t || sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM ? t : "";
}

static int line_read(sqlite3_stmt *st, struct line_record *l)
{
    int err;

    if ((err = copy_col(l->visit_id, sizeof l->visit_id, st, 0)) < 0 ||
        (err = copy_col(l->his_line_id, sizeof l->his_line_id, st, 1)) < 0 ||
        (err = copy_col(l->feedetl_sn, sizeof l->feedetl_sn, st, 3)) < 0 ||
        (err = copy_col(l->state, sizeof l->state, st, 4)) < 0 ||
        (err = copy_col(l->upload_msgid, sizeof l->upload_msgid, st, 5)) < 0)
        return err;
    l->seq = sqlite3_column_int64(st, 2);
    l->list_code = text_col(st, 6);
    l->name = text_col(st, 7);
    l->qty_e4 = sqlite3_column_int64(st, 8);
    l->price_e6 = sqlite3_column_int64(st, 9);
    l->time = text_col(st, 10);
    l->split = (struct split){.amount = sqlite3_column_int64(st, 11),
                              .fulamt_ownpay = sqlite3_column_int64(st, 12),
                              .overlmt = sqlite3_column_int64(st, 13),
                              .preselfpay = sqlite3_column_int64(st, 14),
                              .inscp = sqlite3_column_int64(st, 15),
                              .lv = (enum chrgitm_lv)sqlite3_column_int(st, 16),
                              .category = (uint8_t)sqlite3_column_int(st, 17),
                              .selfpay_prop_e6 = sqlite3_column_int64(st, 18)};
    l->outside_institution = text_col(st, 19);
    l->outside_form = text_col(st, 20);
    l->outside_kind = sqlite3_column_int(st, 21);
    l->his_key = text_col(st, 22);
    l->his_hash = text_col(st, 23);
    return l->list_code && l->name && l->time && l->outside_institution && l->outside_form &&
                   l->his_key && l->his_hash
               ? 0
               : -ENOMEM;
}

int records_lines_list(struct db *db, const char *visit_id, records_line_cb cb, void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_lines_list);
    struct line_record l = {0};
    int rc = SQLITE_DONE, err = 0;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((err = line_read(st, &l)) == 0)
            err = cb(&l, data);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    sqlite3_reset(st);
    return err;
}

int records_lines_active_splits(struct db *db, const char *visit_id, records_split_cb cb,
                                void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_lines_active_splits);
    int rc = SQLITE_DONE, err = 0;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct split split = {.amount = sqlite3_column_int64(st, 1),
                              .fulamt_ownpay = sqlite3_column_int64(st, 2),
                              .overlmt = sqlite3_column_int64(st, 3),
                              .preselfpay = sqlite3_column_int64(st, 4),
                              .inscp = sqlite3_column_int64(st, 5),
                              .lv = (enum chrgitm_lv)sqlite3_column_int(st, 6),
                              .category = (uint8_t)sqlite3_column_int(st, 7),
                              .selfpay_prop_e6 = sqlite3_column_int64(st, 8)};
        const char *state = (const char *)sqlite3_column_text(st, 0);

        if (!state)
            err = -ENOMEM;
        else if (strcmp(state, "active") != 0)
            err = POSA_ECORRUPT;
        else
            err = cb(&split, sqlite3_column_int(st, 9) != 0, data);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    sqlite3_reset(st);
    return err;
}

int records_lines_next_seq(struct db *db, const char *visit_id, int64_t *ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_lines_next_seq);
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    if ((err = step_row(st)) < 0)
        return err;
    *ret = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return 0;
}

int records_settlement_put(struct db *db, const struct settlement_record *s, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_settlement_put);

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, s->settlement_id);
    db_bind_text(st, 2, s->visit_id);
    db_bind_text(st, 3, s->state);
    db_bind_text(st, 4, s->msgid);
    db_bind_text(st, 5, s->setl_id);
    sqlite3_bind_int(st, 6, s->settle_date);
    db_bind_text(st, 7, s->body ? s->body : "{}");
    sqlite3_bind_int64(st, 8, now);
    return db_step_done(db, st);
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
    if (!err && (err = settlement_read(st, s)) == 0 && !(s->body = dup_col(st, 6)))
        err = -ENOMEM;
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
    if ((err = copy_col(hash, sizeof hash, st, 0)) == 0 && !(answer = dup_col(st, 2)))
        err = -ENOMEM;
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

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, idem_key);
    db_bind_text(st, 2, body_hash);
    sqlite3_bind_int(st, 3, status);
    db_bind_text(st, 4, answer);
    sqlite3_bind_int64(st, 5, now);
    return db_step_done(db, st);
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

int records_report_put(struct db *db, int32_t date, const char *body, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_report_put);

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int(st, 1, date);
    db_bind_text(st, 2, body);
    sqlite3_bind_int64(st, 3, now);
    return db_step_done(db, st);
}

int records_report_get(struct db *db, int32_t date, char **ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_report_get);
    char *body;
    int err;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int(st, 1, date);
    if ((err = step_row(st)) < 0)
        return err;
    body = dup_col(st, 0);
    sqlite3_reset(st);
    if (!body)
        return -ENOMEM;
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
    if (ret_deleted)
        *ret_deleted = deleted;
    return err;
}
