/* cache/records.c on a real database file: fee lines kept and read back column for column
 * (also lines an older posad kept as JSON bodies, migrated, a damaged body marked so);
 * retention: records_prune
 * deletes the identities that expired before its first time and the idempotent answers
 * stored before its second, and nothing else (visits and settlements are the hospital's
 * record). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cache/db.h"
#include "cache/db_internal.h"
#include "cache/journal.h"
#include "cache/records.h"
#include "core/err.h"
#include "tests/component/tmpdb.h"

struct fx {
    struct tmpdb tmp;
    struct db *db;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    tmpdb_make(&fx->tmp, "records");
    assert_int_equal(db_open(fx->tmp.path, &fx->db), 0);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    db_close(fx->db);
    tmpdb_remove(&fx->tmp);
    free(fx);
    return 0;
}

/* A database as an older posad left it: sql run on a fresh file, which db_open then
 * migrates to the latest schema. */
static void open_old(struct fx *fx, const char *sql)
{
    sqlite3 *sq = NULL;
    char *errmsg = NULL;

    db_close(fx->db);
    fx->db = NULL;
    unlink(fx->tmp.path);
    assert_int_equal(sqlite3_open(fx->tmp.path, &sq), SQLITE_OK);
    if (sqlite3_exec(sq, sql, NULL, NULL, &errmsg) != SQLITE_OK)
        fail_msg("%s", errmsg);
    sqlite3_close(sq);
    assert_int_equal(db_open(fx->tmp.path, &fx->db), 0);
    assert_int_equal(db_schema_version(fx->db), db_schema_latest());
}

/* The columns later migrations read or index (0020, 0021), for the old schemas below. */
#define LATER_TABLES                                                                               \
    "CREATE TABLE identities (token TEXT PRIMARY KEY, expires_at INTEGER);"                        \
    "CREATE TABLE his_answers (idem_key TEXT PRIMARY KEY, created_at INTEGER);"

static int identity(struct db *db, const char *token, int64_t now)
{
    char desk[RECORD_ID_MAX + 1], *body = NULL;
    int err = records_identity_get(db, token, now, &body, desk);

    free(body);
    return err;
}

static int answer(struct db *db, const char *key)
{
    char hash[RECORD_ID_MAX + 1], *text = NULL;
    int status, err = records_answer_get(db, key, hash, &status, &text);

    free(text);
    return err;
}

/* Every identity column of got is want's. */
static void assert_who(const struct visit_identity *got, const struct visit_identity *want)
{
    assert_string_equal(got->psn_no, want->psn_no);
    assert_string_equal(got->insutype, want->insutype);
    assert_string_equal(got->insuplc_admdvs, want->insuplc_admdvs);
    assert_string_equal(got->cert_type, want->cert_type);
    assert_string_equal(got->cert_no, want->cert_no);
    assert_string_equal(got->card_sn, want->card_sn);
}

static void test_visit_round_trip(void **state)
{
    struct fx *fx = *state;
    char body[] = "{}";
    struct visit_record v = {.visit_id = "V1",
                             .his_visit_id = "H1",
                             .kind = "outpatient",
                             .state = "open",
                             .mdtrt_id = "M1",
                             .body = body,
                             .med_type = "14",
                             .who = {"P0001", "310", "320200", "02", "320211195001010006", "SN-1"}};
    struct visit_record *got = NULL;

    assert_int_equal(records_visit_put(fx->db, &v, 10), 0);
    assert_int_equal(records_visit_get(fx->db, "V1", &got), 0);
    assert_string_equal(got->mdtrt_id, "M1");
    assert_who(&got->who, &(struct visit_identity){"P0001", "310", "320200", "02",
                                                   "320211195001010006", "SN-1"});
    assert_int_equal(got->created_at, 10);
    assert_false(got->emergency);
    assert_string_equal(got->med_type, "14");
    records_visit_free(got);

    /* Written again: the identity replaced with the rest, created_at kept. */
    v.emergency = true;
    strcpy(v.who.cert_type, "03");
    strcpy(v.who.card_sn, "");
    assert_int_equal(records_visit_put(fx->db, &v, 20), 0);
    assert_int_equal(records_visit_get(fx->db, "V1", &got), 0);
    assert_who(&got->who,
               &(struct visit_identity){"P0001", "310", "320200", "03", "320211195001010006", ""});
    assert_int_equal(got->created_at, 10);
    assert_int_equal(got->updated_at, 20);
    assert_true(got->emergency);
    records_visit_free(got);

    /* A column longer than any writer writes is damage, not a cut value. */
    assert_int_equal(sqlite3_exec(db_sqlite(fx->db),
                                  "UPDATE visits SET psn_no = printf('%080d', 7)", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    got = NULL;
    assert_int_equal(records_visit_get(fx->db, "V1", &got), POSA_ECORRUPT);
    assert_null(got);
}

/* 0011 fills the identity columns of the visits before it from their bodies, 0014 their
 * emergency column, 0015 their med_type. */
static void test_visit_identity_migrated(void **state)
{
    struct fx *fx = *state;
    struct visit_record *got = NULL;

    open_old(fx,
             "CREATE TABLE visits (visit_id TEXT PRIMARY KEY, desk TEXT NOT NULL"
             " DEFAULT '', his_visit_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT"
             " NOT NULL, mdtrt_id TEXT NOT NULL DEFAULT '', body TEXT NOT NULL,"
             " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
             "INSERT INTO visits VALUES ('V1', 'D01', 'H1', 'outpatient', 'billed',"
             " 'M1', '{\"identity\":{\"psn_no\":\"P0001\",\"insutype\":\"310\","
             "\"insuplc_admdvs\":\"320200\",\"cert_type\":\"02\","
             "\"cert_no\":\"320211195001010006\",\"card_sn\":\"\"},"
             "\"request\":{\"med_type\":\"11\"},\"emergency\":true}', 1, 2);"
             "INSERT INTO visits VALUES ('V2', 'D01', 'H2', 'outpatient', 'open', 'M2',"
             " '{\"identity\":{\"psn_no\":\"P0', 1, 2);"
             "INSERT INTO visits VALUES ('V3', 'D01', 'H3', 'inpatient', 'open', 'M3',"
             " '{\"request\":{}}', 1, 2);"
             /* the journal's columns the later migrations index */
             "CREATE TABLE journal (seq INTEGER PRIMARY KEY, infno TEXT, state TEXT, kind INTEGER,"
             " updated_at INTEGER);"
             "CREATE TABLE settlements (settlement_id TEXT PRIMARY KEY, state TEXT);" LATER_TABLES
             "PRAGMA user_version = 10;");
    assert_int_equal(records_visit_get(fx->db, "V1", &got), 0);
    assert_who(&got->who,
               &(struct visit_identity){"P0001", "310", "320200", "02", "320211195001010006", ""});
    assert_string_equal(got->state, "billed");
    assert_true(got->emergency);
    assert_string_equal(got->med_type, "11");
    records_visit_free(got);
    /* A body cut short, or one without an identity: the columns stay empty, as reading
     * such a body gave. */
    assert_int_equal(records_visit_get(fx->db, "V2", &got), 0);
    assert_who(&got->who, &(struct visit_identity){0});
    assert_false(got->emergency);
    records_visit_free(got);
    assert_int_equal(records_visit_get(fx->db, "V3", &got), 0);
    assert_who(&got->who, &(struct visit_identity){0});
    assert_false(got->emergency);
    assert_string_equal(got->med_type, "");
    records_visit_free(got);
}

/* The count of each state, as records_settlement_counts gives it; -1 when it gives none. */
struct counts {
    char *state[8];
    int64_t n[8];
    int len;
};

static int add_count(const char *state, int64_t n, void *data)
{
    struct counts *c = data;

    assert_true(c->len < 8);
    c->state[c->len] = strdup(state);
    c->n[c->len++] = n;
    return 0;
}

static int64_t count_of(struct db *db, const char *state)
{
    struct counts c = {0};
    int64_t n = -1;

    assert_int_equal(records_settlement_counts(db, add_count, &c), 0);
    for (int i = 0; i < c.len; i++) {
        if (strcmp(c.state[i], state) == 0)
            n = c.n[i];
        free(c.state[i]);
    }
    return n;
}

static int count_steps(void *data)
{
    ++*(int *)data;
    return 0;
}

static void settlement_in(struct db *db, const char *id, const char *state)
{
    char body[] = "{}";
    struct settlement_record s = {.settle_date = 20261128, .body = body};

    snprintf(s.settlement_id, sizeof s.settlement_id, "%s", id);
    snprintf(s.visit_id, sizeof s.visit_id, "V1");
    snprintf(s.state, sizeof s.state, "%s", state);
    assert_int_equal(records_settlement_put(db, &s, 100), 0);
}

/* /metrics' settlements by state (0020): kept as settlements are recorded and move, a
 * state none is in any longer not given, and read without reading the settlements. */
static void test_settlement_counts(void **state)
{
    struct fx *fx = *state;
    char id[16];
    int steps = 0;

    settlement_in(fx->db, "S1", "pending");
    settlement_in(fx->db, "S2", "pending");
    settlement_in(fx->db, "S3", "settled");
    assert_int_equal(count_of(fx->db, "pending"), 2);
    assert_int_equal(count_of(fx->db, "settled"), 1);
    settlement_in(fx->db, "S1", "settled"); /* the upsert: moved, not added */
    settlement_in(fx->db, "S2", "unknown");
    settlement_in(fx->db, "S3", "settled"); /* put again in its state: no change */
    assert_int_equal(count_of(fx->db, "pending"), -1);
    assert_int_equal(count_of(fx->db, "unknown"), 1);
    assert_int_equal(count_of(fx->db, "settled"), 2);
    assert_int_equal(sqlite3_exec(db_sqlite(fx->db),
                                  "DELETE FROM settlements WHERE settlement_id = 'S3'", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    assert_int_equal(count_of(fx->db, "settled"), 1);

    /* A hospital's record of settlements beside them is not read: some tens of the virtual
     * machine's steps (GROUP BY over the table took one or more per settlement). */
    assert_int_equal(db_begin(fx->db), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "B%d", i);
        settlement_in(fx->db, id, i % 3 ? "settled" : "cancelled");
    }
    assert_int_equal(db_commit(fx->db), 0);
    sqlite3_progress_handler(db_sqlite(fx->db), 100, count_steps, &steps);
    assert_int_equal(count_of(fx->db, "settled"), 2001);
    sqlite3_progress_handler(db_sqlite(fx->db), 0, NULL, NULL);
    assert_int_equal(count_of(fx->db, "cancelled"), 1000);
    assert_true(steps < 5); /* in hundreds of opcodes */
}

/* A database an older posad left with settlements: the counts start from them. */
static void test_settlement_counts_migrated(void **state)
{
    struct fx *fx = *state;

    open_old(fx, "CREATE TABLE settlements (settlement_id TEXT PRIMARY KEY, visit_id TEXT NOT NULL,"
                 " state TEXT NOT NULL, msgid TEXT NOT NULL DEFAULT '', setl_id TEXT NOT NULL"
                 " DEFAULT '', settle_date INTEGER NOT NULL, body TEXT NOT NULL, created_at"
                 " INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
                 "INSERT INTO settlements VALUES ('S1', 'V1', 'settled', '', '', 1, '{}', 1, 1),"
                 " ('S2', 'V1', 'settled', '', '', 1, '{}', 1, 1),"
                 " ('S3', 'V2', 'unknown', '', '', 1, '{}', 1, 1);" LATER_TABLES
                 "PRAGMA user_version = 19;");
    assert_int_equal(count_of(fx->db, "settled"), 2);
    assert_int_equal(count_of(fx->db, "unknown"), 1);
    settlement_in(fx->db, "S3", "settled");
    assert_int_equal(count_of(fx->db, "settled"), 3);
    assert_int_equal(count_of(fx->db, "unknown"), -1);
}

static void test_prune_by_time(void **state)
{
    struct fx *fx = *state;
    char body[] = "{}";
    struct visit_record v = {.visit_id = "V1", .his_visit_id = "H1", .kind = "outpatient",
                             .state = "open", .body = body};
    struct visit_record *got = NULL;
    int64_t deleted = -1;

    /* Identities expiring at 1000, 2000, 3000; answers stored at 100, 200, 300. */
    assert_int_equal(records_identity_put(fx->db, "T1", "D01", "{\"n\":1}", 0, 1000), 0);
    assert_int_equal(records_identity_put(fx->db, "T2", "D01", "{\"n\":2}", 0, 2000), 0);
    assert_int_equal(records_identity_put(fx->db, "T3", "D01", "{\"n\":3}", 0, 3000), 0);
    assert_int_equal(records_answer_put(fx->db, "K1", "h", 200, "{}", 100), 0);
    assert_int_equal(records_answer_put(fx->db, "K2", "h", 200, "{}", 200), 0);
    assert_int_equal(records_answer_put(fx->db, "K3", "h", 200, "{}", 300), 0);
    assert_int_equal(records_visit_put(fx->db, &v, 0), 0);

    /* Before 2000 and before 300: T1 (expired at 1000), K1 and K2. */
    assert_int_equal(records_prune(fx->db, 2000, 300, 100, &deleted), 0);
    assert_int_equal(deleted, 3);
    assert_int_equal(identity(fx->db, "T1", 1500), POSA_ENOTFOUND);
    assert_int_equal(identity(fx->db, "T2", 1500), 0);
    assert_int_equal(identity(fx->db, "T2", 2500), POSA_ETOKEN_EXPIRED); /* kept: said so */
    assert_int_equal(identity(fx->db, "T3", 1500), 0);
    assert_int_equal(answer(fx->db, "K1"), POSA_ENOTFOUND);
    assert_int_equal(answer(fx->db, "K2"), POSA_ENOTFOUND);
    assert_int_equal(answer(fx->db, "K3"), 0);
    assert_int_equal(records_visit_get(fx->db, "V1", &got), 0);
    records_visit_free(got);

    /* Again at the same times: nothing more. */
    assert_int_equal(records_prune(fx->db, 2000, 300, 100, &deleted), 0);
    assert_int_equal(deleted, 0);

    /* A limit of 1: one row of each table per call. */
    assert_int_equal(records_prune(fx->db, 9999, 9999, 1, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(records_prune(fx->db, 9999, 9999, 1, &deleted), 0);
    assert_int_equal(deleted, 1); /* T3; no answer was left */
    assert_int_equal(answer(fx->db, "K3"), POSA_ENOTFOUND);
    assert_int_equal(records_prune(fx->db, 9999, 9999, 1, &deleted), 0);
    assert_int_equal(deleted, 0);
}

/* Retention finds what is past its time by index (0021): a pass with nothing to delete
 * does not read the identities and answers still kept (it read both tables whole). */
static void test_prune_by_index(void **state)
{
    struct fx *fx = *state;
    char key[16];
    int64_t deleted = -1;
    int steps = 0;

    assert_int_equal(db_begin(fx->db), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "T%d", i);
        assert_int_equal(records_identity_put(fx->db, key, "D01", "{}", 0, 5000), 0);
        snprintf(key, sizeof key, "K%d", i);
        assert_int_equal(records_answer_put(fx->db, key, "h", 200, "{}", 500), 0);
    }
    assert_int_equal(db_commit(fx->db), 0);
    sqlite3_progress_handler(db_sqlite(fx->db), 100, count_steps, &steps);
    assert_int_equal(records_prune(fx->db, 2000, 300, 100, &deleted), 0);
    sqlite3_progress_handler(db_sqlite(fx->db), 0, NULL, NULL);
    assert_int_equal(deleted, 0);
    assert_true(steps < 5); /* in hundreds of opcodes */
}

/* A journal row of infno, journaled at `at` and, when answered, moved by ev then. */
static void journal_row_at(struct db *db, const char *msgid, const char *infno, bool answered,
                           int64_t at)
{
    struct journal_new in = {
        .msgid = msgid, .infno = infno, .request = "{}", .request_len = 2, .send_now = true};
    struct journal_outcome out = {.response = "{}", .response_len = 2};

    assert_int_equal(journal_insert(db, &in, at), 0);
    if (answered)
        assert_int_equal(journal_apply(db, msgid, MSG_EV_ANSWER_OK, &out, at, NULL), 0);
}

static bool journal_has(struct db *db, const char *msgid)
{
    struct journal_row *row = NULL;
    int err = journal_get(db, msgid, &row);

    journal_row_free(row);
    return err == 0;
}

/* The journal's reads answered past the window go (1101 carries the patient's identity, the
 * probe's 9001s pile up while offline); uploads and settlements stay, and so does a read
 * still waiting for its answer. */
static void test_prune_journal_reads(void **state)
{
    struct fx *fx = *state;
    int64_t deleted = -1;

    journal_row_at(fx->db, "M1101A", "1101", true, 100);
    journal_row_at(fx->db, "M9001A", "9001", true, 150);
    journal_row_at(fx->db, "M5203A", "5203", true, 400);  /* inside the window */
    journal_row_at(fx->db, "M1101B", "1101", false, 100); /* sent, not answered yet */
    journal_row_at(fx->db, "M2207A", "2207", true, 100);  /* a settlement */
    journal_row_at(fx->db, "M2301A", "2301", true, 100);  /* an upload */
    assert_int_equal(records_prune(fx->db, 0, 300, 100, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_false(journal_has(fx->db, "M1101A"));
    assert_false(journal_has(fx->db, "M9001A"));
    assert_true(journal_has(fx->db, "M5203A"));
    assert_true(journal_has(fx->db, "M1101B"));
    assert_true(journal_has(fx->db, "M2207A"));
    assert_true(journal_has(fx->db, "M2301A"));
}

static int cancel1(struct db *db, const char *visit_id, const char *id, const char *msgid)
{
    return records_lines_cancel(db, visit_id, &id, 1, msgid);
}

/* What records_lines_list gives back, copied out of the callback. */
struct seen_line {
    char his_line_id[RECORD_ID_MAX + 1], list_code[64], name[64], time[32], state[16];
    char outside_institution[64], outside_form[64], his_key[64], his_hash[64];
    int64_t seq, qty_e4, price_e6;
    struct split split;
    int outside_kind;
};

struct seen {
    struct seen_line lines[4];
    size_t n;
};

static int collect(const struct line_record *l, void *data)
{
    struct seen *s = data;
    struct seen_line *o;

    assert_true(s->n < 4);
    o = &s->lines[s->n++];
    snprintf(o->his_line_id, sizeof o->his_line_id, "%s", l->his_line_id);
    snprintf(o->list_code, sizeof o->list_code, "%s", l->list_code);
    snprintf(o->name, sizeof o->name, "%s", l->name);
    snprintf(o->time, sizeof o->time, "%s", l->time);
    snprintf(o->state, sizeof o->state, "%s", l->state);
    snprintf(o->outside_institution, sizeof o->outside_institution, "%s", l->outside_institution);
    snprintf(o->outside_form, sizeof o->outside_form, "%s", l->outside_form);
    snprintf(o->his_key, sizeof o->his_key, "%s", l->his_key);
    snprintf(o->his_hash, sizeof o->his_hash, "%s", l->his_hash);
    o->seq = l->seq;
    o->qty_e4 = l->qty_e4;
    o->price_e6 = l->price_e6;
    o->split = l->split;
    o->outside_kind = l->outside_kind;
    return 0;
}

static void assert_split_equal(const struct split *got, const struct split *want)
{
    assert_int_equal(got->amount, want->amount);
    assert_int_equal(got->fulamt_ownpay, want->fulamt_ownpay);
    assert_int_equal(got->overlmt, want->overlmt);
    assert_int_equal(got->preselfpay, want->preselfpay);
    assert_int_equal(got->inscp, want->inscp);
    assert_int_equal(got->lv, want->lv);
    assert_int_equal(got->category, want->category);
    assert_int_equal(got->selfpay_prop_e6, want->selfpay_prop_e6);
}

static void test_lines_round_trip(void **state)
{
    struct fx *fx = *state;
    /* 3 x 12.50 = 37.50 of a 乙 drug, 10% first self-paid: 3.75 preselfpay, 33.75 in scope;
     * and an outside CT of 260.00. */
    struct line_record a = {.visit_id = "V1", .his_line_id = "L1", .seq = 1,
                            .feedetl_sn = "F000001", .state = "active", .list_code = "XB05",
                            .name = "氯化钠注射液", .time = "2026-11-21 09:30:00",
                            .qty_e4 = 30000, .price_e6 = 12500000,
                            .split = {.amount = 3750, .preselfpay = 375, .inscp = 3375,
                                      .lv = LV_B, .category = 9, .selfpay_prop_e6 = 100000}};
    struct line_record b = {.visit_id = "V1", .his_line_id = "L2", .seq = 2,
                            .feedetl_sn = "F000002", .state = "active",
                            .list_code = "002103000020000", .qty_e4 = 10000,
                            .price_e6 = 260000000,
                            .split = {.amount = 26000, .inscp = 26000, .lv = LV_A, .category = 2},
                            .outside_institution = "H41010500001", .outside_form = "WJ-7",
                            .outside_kind = 1, .his_key = "K-7", .his_hash = "ab12"};
    struct seen s = {0};
    int64_t next = 0;

    assert_int_equal(records_lines_put(fx->db, &a, 1, false, 5), 0);
    assert_int_equal(records_lines_put(fx->db, &b, 1, false, 5), 0);
    assert_int_equal(cancel1(fx->db, "V1", "L1", "C-1"), 0);
    assert_int_equal(cancel1(fx->db, "V1", "L1", "C-2"), POSA_ENOTFOUND);
    assert_int_equal(records_lines_list(fx->db, "V1", collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.lines[0].his_line_id, "L1");
    assert_string_equal(s.lines[0].state, "cancelled");
    assert_string_equal(s.lines[0].name, "氯化钠注射液");
    assert_string_equal(s.lines[0].time, "2026-11-21 09:30:00");
    assert_int_equal(s.lines[0].qty_e4, 30000);
    assert_int_equal(s.lines[0].price_e6, 12500000);
    assert_split_equal(&s.lines[0].split, &a.split);
    assert_string_equal(s.lines[0].outside_institution, "");
    assert_string_equal(s.lines[1].list_code, "002103000020000");
    assert_string_equal(s.lines[1].name, ""); /* NULL kept as "" */
    assert_split_equal(&s.lines[1].split, &b.split);
    assert_string_equal(s.lines[1].outside_institution, "H41010500001");
    assert_string_equal(s.lines[1].outside_form, "WJ-7");
    assert_int_equal(s.lines[1].outside_kind, 1);
    assert_string_equal(s.lines[0].his_key, ""); /* sent without a key */
    assert_string_equal(s.lines[1].his_key, "K-7");
    assert_string_equal(s.lines[1].his_hash, "ab12");
    assert_int_equal(records_lines_next_seq(fx->db, "V1", &next), 0);
    assert_int_equal(next, 3);
}

/* A refused cancel gives back exactly the lines it cancelled; a refused upload takes back
 * exactly the lines it carried. */
static void test_lines_uncancel_and_refused(void **state)
{
    struct fx *fx = *state;
    struct line_record l = {.visit_id = "V1", .seq = 1, .state = "active", .list_code = "X"};
    const char *ids[] = {"L1", "L2", "L3"}, *uploads[] = {"U-1", "U-1", "U-2"};
    struct seen s = {0};
    int64_t n = -1;

    for (int i = 0; i < 3; i++) {
        snprintf(l.his_line_id, sizeof l.his_line_id, "%s", ids[i]);
        snprintf(l.feedetl_sn, sizeof l.feedetl_sn, "F%d", i);
        snprintf(l.upload_msgid, sizeof l.upload_msgid, "%s", uploads[i]);
        l.seq = i + 1;
        assert_int_equal(records_lines_put(fx->db, &l, 1, false, 5), 0);
    }
    assert_int_equal(cancel1(fx->db, "V1", "L1", "C-1"), 0);
    assert_int_equal(cancel1(fx->db, "V1", "L2", "C-2"), 0);
    assert_int_equal(records_lines_uncancel(fx->db, "V1", "C-1", false, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(records_lines_uncancel(fx->db, "V2", "C-2", false, &n), 0);
    assert_int_equal(n, 0); /* another visit's cancel */
    assert_int_equal(records_lines_refused(fx->db, "V1", "U-2", false), 0);
    assert_int_equal(records_lines_list(fx->db, "V1", collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.lines[0].state, "active");
    assert_string_equal(s.lines[1].state, "cancelled");
    assert_string_equal(s.lines[2].state, "refused");
}

static int64_t count_rows(struct fx *fx, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t n;

    assert_int_equal(sqlite3_prepare_v2(db_sqlite(fx->db), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A line kept again under its his_line_id (cancelled or refused, then sent again) replaces
 * the old one: it leaves its set, and a set left empty goes. Lines come back in seq order. */
static void test_lines_kept_again_replace(void **state)
{
    struct fx *fx = *state;
    struct line_record two[2] = {
        {.visit_id = "V1", .his_line_id = "L1", .seq = 1, .feedetl_sn = "F1", .state = "active",
         .upload_msgid = "U-1", .name = "甲"},
        {.visit_id = "V1", .his_line_id = "L2", .seq = 2, .feedetl_sn = "F2", .state = "active",
         .upload_msgid = "U-1", .name = "乙"}};
    struct line_record again = {.visit_id = "V1", .his_line_id = "L1", .seq = 3,
                                .feedetl_sn = "F3", .state = "active", .upload_msgid = "U-2",
                                .name = "甲", .his_key = "K-2"};
    struct seen s = {0};
    int64_t next = 0;

    assert_int_equal(records_lines_put(fx->db, two, 2, false, 5), 0);
    assert_int_equal(cancel1(fx->db, "V1", "L1", "C-1"), 0);
    assert_int_equal(records_lines_put(fx->db, &again, 1, true, 6), 0);
    assert_int_equal(records_lines_list(fx->db, "V1", collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.lines[0].his_line_id, "L2");
    assert_int_equal(s.lines[0].seq, 2);
    assert_string_equal(s.lines[1].his_line_id, "L1");
    assert_int_equal(s.lines[1].seq, 3);
    assert_string_equal(s.lines[1].state, "active");
    assert_string_equal(s.lines[1].his_key, "K-2");
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM fee_sets"), 2);
    /* L2 refused, then kept again: the first set is empty, and goes. */
    assert_int_equal(records_lines_refused(fx->db, "V1", "U-1", false), 0);
    again = (struct line_record){.visit_id = "V1", .his_line_id = "L2", .seq = 4,
                                 .feedetl_sn = "F4", .state = "active", .upload_msgid = "U-3"};
    assert_int_equal(records_lines_put(fx->db, &again, 1, true, 7), 0);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM fee_sets"), 2);
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM fee_sets WHERE upload_msgid = 'U-1'"),
                     0);
    memset(&s, 0, sizeof s);
    assert_int_equal(records_lines_list(fx->db, "V1", collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.lines[0].his_line_id, "L1");
    assert_string_equal(s.lines[1].his_line_id, "L2");
    assert_int_equal(s.lines[1].seq, 4);
    assert_int_equal(records_lines_next_seq(fx->db, "V1", &next), 0);
    assert_int_equal(next, 5);
}

/* A cancel of many lines is one pass; one of them not active, none is cancelled. */
static void test_lines_cancelled_together(void **state)
{
    struct fx *fx = *state;
    struct line_record three[3] = {
        {.visit_id = "V1", .his_line_id = "L1", .seq = 1, .state = "active", .upload_msgid = "U"},
        {.visit_id = "V1", .his_line_id = "L2", .seq = 2, .state = "active", .upload_msgid = "U"},
        {.visit_id = "V1", .his_line_id = "L3", .seq = 3, .state = "active", .upload_msgid = "U"}};
    const char *both[] = {"L3", "L1"}, *again[] = {"L2", "L1"}, *unknown[] = {"L2", "L9"};
    struct seen s = {0};

    assert_int_equal(records_lines_put(fx->db, three, 3, false, 5), 0);
    assert_int_equal(records_lines_cancel(fx->db, "V1", both, 2, "C-1"), 0);
    assert_int_equal(records_lines_cancel(fx->db, "V1", again, 2, "C-2"), POSA_ENOTFOUND);
    assert_int_equal(records_lines_cancel(fx->db, "V1", unknown, 2, "C-3"), POSA_ENOTFOUND);
    assert_int_equal(records_lines_list(fx->db, "V1", collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.lines[0].state, "cancelled");
    assert_string_equal(s.lines[1].state, "active"); /* neither refused cancel touched it */
    assert_string_equal(s.lines[2].state, "cancelled");
}

/* A database posad wrote at schema 9, a row per line: opening it packs each visit's runs of
 * lines (one upload, one HIS request, in seq order) into sets, every column kept. */
static void test_lines_migrated_into_sets(void **state)
{
    struct fx *fx = *state;
    struct seen s = {0};
    int64_t n = 0;

    open_old(fx,
             "CREATE TABLE fee_lines (visit_id TEXT NOT NULL, his_line_id TEXT NOT NULL,"
             " seq INTEGER NOT NULL, feedetl_sn TEXT NOT NULL, state TEXT NOT NULL,"
             " upload_msgid TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
             " list_code TEXT NOT NULL DEFAULT '', name TEXT NOT NULL DEFAULT '',"
             " qty_e4 INTEGER NOT NULL DEFAULT 0, price_e6 INTEGER NOT NULL DEFAULT 0,"
             " time TEXT NOT NULL DEFAULT '', amount INTEGER NOT NULL DEFAULT 0,"
             " fulamt_ownpay INTEGER NOT NULL DEFAULT 0, overlmt INTEGER NOT NULL DEFAULT 0,"
             " preselfpay INTEGER NOT NULL DEFAULT 0, inscp INTEGER NOT NULL DEFAULT 0,"
             " lv INTEGER NOT NULL DEFAULT 0, category INTEGER NOT NULL DEFAULT 0,"
             " selfpay_prop_e6 INTEGER NOT NULL DEFAULT 0,"
             " outside_institution TEXT NOT NULL DEFAULT '', outside_form TEXT NOT NULL DEFAULT '',"
             " outside_kind INTEGER NOT NULL DEFAULT 0, his_key TEXT NOT NULL DEFAULT '',"
             " his_hash TEXT NOT NULL DEFAULT '', cancel_msgid TEXT NOT NULL DEFAULT '',"
             " PRIMARY KEY (visit_id, his_line_id));"
             /* V1: L1, L2 by U-1; L3 by U-2 (cancelled by C-9); L4 by U-1 again; V2: one */
             "INSERT INTO fee_lines (visit_id, his_line_id, seq, feedetl_sn, state, upload_msgid,"
             " created_at, list_code, name, qty_e4, price_e6, amount, inscp, lv, category,"
             " outside_institution, outside_form, outside_kind, his_key, his_hash, cancel_msgid)"
             " VALUES"
             " ('V1', 'L2', 2, 'F2', 'active', 'U-1', 5, 'XB05', '氯化钠', 30000, 12500000, 3750,"
             "  3375, 2, 9, '', '', 0, 'K-1', 'h1', ''),"
             " ('V1', 'L1', 1, 'F1', 'active', 'U-1', 5, 'CT', 'CT平扫', 10000, 260000000, 26000,"
             "  26000, 1, 2, 'H41', 'WJ-7', 1, 'K-1', 'h1', ''),"
             " ('V1', 'L3', 3, 'F3', 'cancelled', 'U-2', 6, 'X', '', 10000, 900000, 90, 90, 1, 9,"
             "  '', '', 0, '', '', 'C-9'),"
             " ('V1', 'L4', 4, 'F4', 'damaged', 'U-1', 7, '', '', 0, 0, 0, 0, 0, 0, '', '', 0, "
             "  'K-1', 'h1', ''),"
             " ('V2', 'L1', 1, 'F1', 'refused', 'U-7', 8, 'X', '', 10000, 100, 1, 1, 1, 9, '', '',"
             "  0, '', '', ''),"
             /* V3: an id no writer could have written (80 bytes): kept, as damaged */
             " ('V3', printf('%080d', 7), 1, 'F1', 'active', 'U-8', 9, 'X', '', 10000, 100, 1, 1,"
             "  1, 9, '', '', 0, '', '', '');"
             "CREATE TABLE visits (visit_id TEXT PRIMARY KEY, his_visit_id TEXT, kind TEXT,"
             " mdtrt_id TEXT NOT NULL DEFAULT '', body TEXT NOT NULL);"
             "CREATE TABLE journal (seq INTEGER PRIMARY KEY, infno TEXT, state TEXT, kind INTEGER,"
             " updated_at INTEGER);"
             "CREATE TABLE settlements (settlement_id TEXT PRIMARY KEY, state TEXT);" LATER_TABLES
             "PRAGMA user_version = 9;");
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'fee_lines_v9'"),
                     0);
    /* V1: [L1 L2] (U-1, K-1), [L3] (U-2), [L4] (U-1 again, after L3); V2: [L1]; V3: [...]. */
    assert_int_equal(count_rows(fx, "SELECT count(*) FROM fee_sets"), 5);
    assert_int_equal(records_lines_list(fx->db, "V1", collect, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.lines[0].his_line_id, "L1");
    assert_string_equal(s.lines[0].name, "CT平扫");
    assert_int_equal(s.lines[0].price_e6, 260000000);
    assert_int_equal(s.lines[0].split.amount, 26000);
    assert_int_equal(s.lines[0].split.lv, 1);
    assert_int_equal(s.lines[0].split.category, 2);
    assert_string_equal(s.lines[0].outside_institution, "H41");
    assert_string_equal(s.lines[0].outside_form, "WJ-7");
    assert_int_equal(s.lines[0].outside_kind, 1);
    assert_string_equal(s.lines[0].his_key, "K-1");
    assert_string_equal(s.lines[0].his_hash, "h1");
    assert_string_equal(s.lines[1].his_line_id, "L2");
    assert_int_equal(s.lines[1].qty_e4, 30000);
    assert_int_equal(s.lines[1].split.inscp, 3375);
    assert_string_equal(s.lines[2].his_line_id, "L3");
    assert_string_equal(s.lines[2].state, "cancelled");
    assert_string_equal(s.lines[2].his_key, "");
    assert_string_equal(s.lines[3].state, "damaged");
    /* The cancel that cancelled L3 is still known: refused, it gives L3 back. */
    assert_int_equal(records_lines_uncancel(fx->db, "V1", "C-9", false, &n), 0);
    assert_int_equal(n, 1);
    memset(&s, 0, sizeof s);
    assert_int_equal(records_lines_list(fx->db, "V2", collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0].state, "refused");
    assert_int_equal(records_lines_next_seq(fx->db, "V1", &n), 0);
    assert_int_equal(n, 5);
    memset(&s, 0, sizeof s);
    assert_int_equal(records_lines_list(fx->db, "V3", collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0].state, "damaged");
}

struct summed {
    int64_t amount, inscp;
    int lines, outside, unheard_cancels, unheard_refusals;
};

static int sum_split(const struct line_record *l, void *data)
{
    struct summed *sum = data;

    if (strcmp(l->state, "refused_queued") == 0) { /* not on the bill; to be told */
        sum->unheard_refusals++;
        return 0;
    }
    sum->amount += l->split.amount;
    sum->inscp += l->split.inscp;
    sum->lines++;
    sum->outside += l->outside_institution[0] != '\0';
    sum->unheard_cancels += l->cancel_msgid[0] != '\0';
    return 0;
}

/* What settling sums: the active lines only, outside ones marked; a damaged one refuses. A
 * line whose cancel was refused after the HIS heard "queued" is active, and marked. */
static void test_lines_active_splits(void **state)
{
    struct fx *fx = *state;
    /* L1 37.50 (33.75 in scope), L2 an outside 260.00 (all in scope), L3 cancelled 9.00,
     * L4 refused 7.00; another visit's 100.00. Active: 297.50, in scope 293.75. */
    struct line_record l[] = {
        {.visit_id = "V1", .his_line_id = "L1", .state = "active",
         .split = {.amount = 3750, .preselfpay = 375, .inscp = 3375, .category = 9}},
        {.visit_id = "V1", .his_line_id = "L2", .state = "active", .outside_institution = "H41",
         .split = {.amount = 26000, .inscp = 26000, .category = 2}},
        {.visit_id = "V1", .his_line_id = "L3", .state = "active", .upload_msgid = "U-1",
         .split = {.amount = 900, .inscp = 900, .category = 9}},
        {.visit_id = "V1", .his_line_id = "L4", .state = "active", .upload_msgid = "U-2",
         .split = {.amount = 700, .inscp = 700, .category = 9}},
        {.visit_id = "V2", .his_line_id = "L1", .state = "active",
         .split = {.amount = 10000, .inscp = 10000, .category = 9}},
    };
    struct summed sum = {0};

    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) {
        l[i].seq = (int64_t)i + 1;
        assert_int_equal(records_lines_put(fx->db, &l[i], 1, false, 5), 0);
    }
    assert_int_equal(cancel1(fx->db, "V1", "L3", "C-1"), 0);
    assert_int_equal(records_lines_refused(fx->db, "V1", "U-2", false), 0);
    assert_int_equal(records_lines_active(fx->db, "V1", sum_split, &sum), 0);
    assert_int_equal(sum.lines, 2);
    assert_int_equal(sum.amount, 29750);
    assert_int_equal(sum.inscp, 29375);
    assert_int_equal(sum.outside, 1);
    assert_int_equal(sum.unheard_cancels, 0);
    /* L1's cancel refused, heard (the HIS waited for it): active, unmarked; L3's refused
     * from the queue: active and marked. 37.50 + 260.00 + 9.00 = 306.50. */
    assert_int_equal(cancel1(fx->db, "V1", "L1", "C-2"), 0);
    assert_int_equal(records_lines_uncancel(fx->db, "V1", "C-2", false, NULL), 0);
    assert_int_equal(records_lines_uncancel(fx->db, "V1", "C-1", true, NULL), 0);
    memset(&sum, 0, sizeof sum);
    assert_int_equal(records_lines_active(fx->db, "V1", sum_split, &sum), 0);
    assert_int_equal(sum.lines, 3);
    assert_int_equal(sum.amount, 30650);
    assert_int_equal(sum.unheard_cancels, 1);
    /* Cancelled again: the mark goes with it. */
    assert_int_equal(cancel1(fx->db, "V1", "L3", "C-3"), 0);
    memset(&sum, 0, sizeof sum);
    assert_int_equal(records_lines_active(fx->db, "V1", sum_split, &sum), 0);
    assert_int_equal(sum.lines, 2);
    assert_int_equal(sum.unheard_cancels, 0);
    /* L1 and L2's upload (msgid "") refused from the queue: passed on, marked; heard, not. */
    assert_int_equal(records_lines_refused(fx->db, "V1", "", true), 0);
    memset(&sum, 0, sizeof sum);
    assert_int_equal(records_lines_active(fx->db, "V1", sum_split, &sum), 0);
    assert_int_equal(sum.lines, 0);
    assert_int_equal(sum.unheard_refusals, 2);
    assert_int_equal(records_lines_heard(fx->db, "V1"), 0);
    memset(&sum, 0, sizeof sum);
    assert_int_equal(records_lines_active(fx->db, "V1", sum_split, &sum), 0);
    assert_int_equal(sum.lines + sum.unheard_refusals, 0);
    memset(&sum, 0, sizeof sum);
    assert_int_equal(records_lines_active(fx->db, "V3", sum_split, &sum), 0);
    assert_int_equal(sum.lines, 0);
    /* A damaged line (a body the 0005 migration could not read) stops it. */
    struct line_record damaged = {.visit_id = "V2", .his_line_id = "L2", .seq = 9,
                                  .state = "damaged"};
    assert_int_equal(records_lines_put(fx->db, &damaged, 1, false, 5), 0);
    assert_int_equal(records_lines_active(fx->db, "V2", sum_split, &sum), POSA_ECORRUPT);
}

/* A database an older posad (schema 4) wrote, its lines as JSON bodies: opening it moves
 * each body into the columns. */
static void test_lines_migrated_from_bodies(void **state)
{
    struct fx *fx = *state;
    struct seen s = {0};

    open_old(fx, "CREATE TABLE fee_lines (visit_id TEXT NOT NULL, his_line_id TEXT NOT NULL,"
                 " seq INTEGER NOT NULL, feedetl_sn TEXT NOT NULL, state TEXT NOT NULL,"
                 " upload_msgid TEXT NOT NULL DEFAULT '', body TEXT NOT NULL,"
                 " created_at INTEGER NOT NULL, PRIMARY KEY (visit_id, his_line_id));"
                 "INSERT INTO fee_lines VALUES ('V9', 'L1', 1, 'F000001', 'active', '',"
                 " '{\"list_code\":\"XB05\",\"name\":\"氯化钠\",\"qty_e4\":30000,"
                 "\"price_e6\":12500000,\"time\":\"2026-11-21 09:30:00\","
                 "\"outside_institution\":\"H4101\",\"outside_form\":\"WJ-7\","
                 "\"outside_kind\":2,\"parts\":[3750,0,0,375,3375,2,9,100000]}', 5);"
                 "INSERT INTO fee_lines VALUES ('V9', 'L2', 2, 'F000002', 'active', '',"
                 " '{\"list_code\":\"XB0', 5);"
                 /* the journal's open-row index as schema 1 made it (0007 remakes it) */
                 "CREATE TABLE journal (seq INTEGER PRIMARY KEY, visit_key TEXT, ord INTEGER,"
                 " infno TEXT, state TEXT, kind INTEGER, updated_at INTEGER);"
                 "CREATE TABLE settlements (settlement_id TEXT PRIMARY KEY,"
                 " setl_id TEXT NOT NULL DEFAULT '', state TEXT);" LATER_TABLES
                 "CREATE INDEX journal_open ON journal(visit_key, ord, seq)"
                 " WHERE state IN ('queued', 'sent', 'unknown');"
                 "CREATE TABLE visits (visit_id TEXT PRIMARY KEY, his_visit_id TEXT, kind TEXT,"
                 " mdtrt_id TEXT NOT NULL DEFAULT '', body TEXT NOT NULL);"
                 "PRAGMA user_version = 4;");
    assert_int_equal(records_lines_list(fx->db, "V9", collect, &s), 0);
    assert_int_equal(s.n, 2);
    /* A body cut short is damage: kept, marked, and settling its visit refuses it. */
    assert_string_equal(s.lines[1].his_line_id, "L2");
    assert_string_equal(s.lines[1].state, "damaged");
    assert_int_equal(s.lines[1].split.amount, 0);
    assert_string_equal(s.lines[0].list_code, "XB05");
    assert_string_equal(s.lines[0].name, "氯化钠");
    assert_int_equal(s.lines[0].qty_e4, 30000);
    assert_int_equal(s.lines[0].price_e6, 12500000);
    assert_string_equal(s.lines[0].time, "2026-11-21 09:30:00");
    assert_int_equal(s.lines[0].split.amount, 3750);
    assert_int_equal(s.lines[0].split.preselfpay, 375);
    assert_int_equal(s.lines[0].split.inscp, 3375);
    assert_int_equal(s.lines[0].split.lv, 2);
    assert_int_equal(s.lines[0].split.category, 9);
    assert_int_equal(s.lines[0].split.selfpay_prop_e6, 100000);
    assert_string_equal(s.lines[0].outside_institution, "H4101");
    assert_string_equal(s.lines[0].outside_form, "WJ-7");
    assert_int_equal(s.lines[0].outside_kind, 2);
    /* 0007: the open-row index says its states as OR terms, not as an IN list. */
    {
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db_sqlite(fx->db),
                                            "SELECT sql FROM sqlite_master WHERE name = "
                                            "'journal_open'",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_non_null(strstr((const char *)sqlite3_column_text(st, 0), "OR state = 'unknown'"));
        assert_null(strstr((const char *)sqlite3_column_text(st, 0), " IN ("));
        sqlite3_finalize(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines_round_trip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lines_uncancel_and_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lines_active_splits, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lines_kept_again_replace, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lines_cancelled_together, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lines_migrated_into_sets, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lines_migrated_from_bodies, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_visit_round_trip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_visit_identity_migrated, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_time, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_index, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_settlement_counts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_settlement_counts_migrated, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_journal_reads, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
