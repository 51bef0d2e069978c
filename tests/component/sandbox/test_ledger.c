/* The sandbox ledger on a real SQLite file: mode 0600, a refusal's savepoint undone while
 * the msgid row stays, survival across close and reopen, unsettled lines and settlement
 * states, year accumulations moving both ways, duplicate lines refused, checkpoints on
 * another thread while commits go on. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <sqlite3.h>

#include "core/err.h"
#include "sandbox/ledger.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/posa-ledger-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct ledger *open_ledger(void)
{
    struct ledger *l = NULL;
    char msg[256];

    assert_int_equal(ledger_open(dir, &l, msg, sizeof(msg)), 0);
    return l;
}

static struct ledger_fee fee(const char *sn, int64_t amount, int64_t inscp)
{
    struct ledger_fee f = {0};

    snprintf(f.mdtrt_id, sizeof(f.mdtrt_id), "V1");
    snprintf(f.feedetl_sn, sizeof(f.feedetl_sn), "%s", sn);
    snprintf(f.msgid, sizeof(f.msgid), "M-UP");
    snprintf(f.list_code, sizeof(f.list_code), "A1");
    snprintf(f.psn_no, sizeof(f.psn_no), "P1");
    snprintf(f.state, sizeof(f.state), "active");
    snprintf(f.infno, sizeof(f.infno), "2301");
    f.split.amount = amount;
    f.split.inscp = inscp;
    f.split.fulamt_ownpay = amount - inscp;
    return f;
}

/* One line added and saved on its own, as an upload of one line does. */
static int add_line(struct ledger *l, const struct ledger_fee *f)
{
    struct ledger_lines *lines;
    int rc = ledger_lines_open(l, f->mdtrt_id, &lines);

    if (rc < 0)
        return rc;
    rc = ledger_lines_add(lines, f);
    if (rc == 0)
        rc = ledger_lines_save(l, lines);
    ledger_lines_close(lines);
    return rc;
}

/* Cancels as a 2205/2302 does (sandbox/txn_fees.c): the visit's open lines (sn NULL: all),
 * saved, and the visit recorded against the message when it cancelled some. */
static int cancel_lines(struct ledger *l, const char *mdtrt_id, const char *sn, const char *msgid,
                        int *ret_count)
{
    struct ledger_lines *lines;
    int rc = ledger_lines_open(l, mdtrt_id, &lines), n;

    if (rc < 0)
        return rc;
    n = ledger_lines_cancel(lines, sn, NULL, msgid);
    if (n > 0 && (rc = ledger_lines_save(l, lines)) == 0)
        rc = ledger_upload_visit(l, msgid, mdtrt_id);
    ledger_lines_close(lines);
    if (rc == 0)
        *ret_count = n;
    return rc;
}

/* The visit's line sn is there, of upload msgid and in state. */
static void expect_line(struct ledger *l, const char *mdtrt_id, const char *sn, const char *msgid,
                        const char *state)
{
    struct ledger_lines *lines;
    const struct ledger_fee *got;

    assert_int_equal(ledger_lines_open(l, mdtrt_id, &lines), 0);
    got = ledger_lines_find(lines, sn);
    assert_non_null(got);
    assert_string_equal(got->msgid, msgid);
    assert_string_equal(got->state, state);
    ledger_lines_close(lines);
}

static void test_file_mode_and_survival(void **state)
{
    struct ledger *l = open_ledger();
    struct ledger_msg m = {0}, got;
    struct stat st;
    char path[128];

    (void)state;
    snprintf(path, sizeof(path), "%s/ledger.sqlite3", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    snprintf(m.msgid, sizeof(m.msgid), "M1");
    snprintf(m.infno, sizeof(m.infno), "2401");
    snprintf(m.state, sizeof(m.state), "refused");
    struct ledger_visit v = {0};
    snprintf(v.mdtrt_id, sizeof(v.mdtrt_id), "V0");
    assert_int_equal(ledger_begin(l), 0);
    assert_int_equal(ledger_savepoint(l), 0);
    assert_int_equal(ledger_visit_put(l, &v), 0);
    ledger_savepoint_rollback(l); /* the refused business part goes */
    assert_int_equal(ledger_msg_put(l, &m, 20250301090000LL), 0);
    assert_int_equal(ledger_commit(l), 0);
    ledger_close(l);

    l = open_ledger();
    assert_int_equal(ledger_msg_get(l, "M1", &got), 1);
    assert_string_equal(got.state, "refused");
    assert_int_equal(ledger_msg_get(l, "M2", &got), 0);
    assert_int_equal(ledger_visit_get(l, "V0", &v), 0);
    ledger_close(l);
}

static void test_lines_settlements_and_accumulations(void **state)
{
    struct ledger *l = open_ledger();
    uint8_t *lines = NULL;
    struct ledger_fee a = fee("1", 100000, 80000), b = fee("2", 50000, 50000);
    struct split_totals t;
    struct policy_accum acc, moved = {.deductible_used = 20000, .fund_paid = 70000};
    struct ledger_settlement s = {0}, got;
    int n = 0;

    (void)state;
    assert_int_equal(ledger_begin(l), 0);
    assert_int_equal(add_line(l, &a), 0);
    assert_int_equal(add_line(l, &b), 0);
    assert_int_equal(add_line(l, &b), -EEXIST);
    assert_int_equal(ledger_upload_visit(l, "M-UP", "V1"), 0); /* once per visit of the upload */
    assert_int_equal(ledger_upload_visit(l, "M-UP", "V1"), 0); /* and again: no harm */
    assert_int_equal(ledger_fees_unsettled(l, "V1", NULL, &t, &n, NULL, NULL), 0);
    assert_int_equal(n, 2);
    assert_true(t.amount == 150000 && t.inscp == 130000 && t.fulamt_ownpay == 20000);

    snprintf(s.setl_id, sizeof(s.setl_id), "S1");
    snprintf(s.msgid, sizeof(s.msgid), "M-SETL");
    snprintf(s.mdtrt_id, sizeof(s.mdtrt_id), "V1");
    snprintf(s.psn_no, sizeof(s.psn_no), "P1");
    snprintf(s.insutype, sizeof(s.insutype), "310");
    snprintf(s.state, sizeof(s.state), "active");
    s.year = 2025;
    s.medfee = 150000;
    s.moved = moved;
    assert_int_equal(ledger_fees_unsettled(l, "V1", NULL, &t, &n, &lines, &s.lines_len), 0);
    assert_int_equal(n, 2);
    s.lines = lines;
    assert_int_equal(ledger_settlement_insert(l, &s), 0);
    free(lines);
    assert_int_equal(ledger_accum_move(l, "P1", "310", 2025, true, &moved, 1), 0);
    assert_int_equal(ledger_fees_unsettled(l, "V1", NULL, &t, &n, NULL, NULL), 0);
    assert_int_equal(n, 0);
    /* Settled lines can be neither cancelled nor reversed. */
    assert_int_equal(cancel_lines(l, "V1", NULL, "M-CANCEL", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ledger_fees_reverse_upload(l, "M-UP", &n), POSA_ESTATE);
    assert_int_equal(ledger_accum_get(l, "P1", "310", 2025, true, &acc), 0);
    assert_true(acc.fund_paid == 70000 && acc.deductible_used == 20000);
    /* A stay's year is not a visit's: each kind has its own cap. */
    assert_int_equal(ledger_accum_get(l, "P1", "310", 2025, false, &acc), 0);
    assert_true(acc.fund_paid == 0 && acc.deductible_used == 0);
    /* Nor is another insurance's of the person (its own region and policy). */
    assert_int_equal(ledger_accum_get(l, "P1", "390", 2025, true, &acc), 0);
    assert_true(acc.fund_paid == 0 && acc.deductible_used == 0);

    /* Cancel: the lines are unsettled again and the year moves back. */
    assert_int_equal(ledger_settlement_set_state(l, "S1", "cancelled", "M-C"), 0);
    assert_int_equal(ledger_accum_move(l, "P1", "310", 2025, true, &moved, -1), 0);
    assert_int_equal(ledger_fees_unsettled(l, "V1", NULL, &t, &n, NULL, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ledger_settlement_active(l, "V1", &got), 0);
    assert_int_equal(ledger_settlement_by_cancel(l, "M-C", &got), 1);
    assert_string_equal(got.setl_id, "S1");
    ledger_settlement_free(&got);
    assert_int_equal(ledger_accum_get(l, "P1", "310", 2025, true, &acc), 0);
    assert_true(acc.fund_paid == 0 && acc.deductible_used == 0);
    assert_int_equal(cancel_lines(l, "V1", "2", "M-CANCEL", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ledger_fees_reverse_cancel(l, "M-CANCEL", &n), 0);
    assert_int_equal(n, 1);
    /* Unsettled, the upload can be reversed: its lines are found through its visit. */
    assert_int_equal(ledger_fees_reverse_upload(l, "M-UP", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ledger_fees_unsettled(l, "V1", NULL, &t, &n, NULL, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ledger_commit(l), 0);
    ledger_close(l);
}

static void collect(const struct ledger_fee *f, void *data)
{
    struct ledger_fee *got = data;

    while (got->feedetl_sn[0])
        got++;
    *got = *f;
}

/* Field by field: the bytes after a string's end are not part of it. */
static void assert_same_line(const struct ledger_fee *got, const struct ledger_fee *want)
{
    assert_string_equal(got->mdtrt_id, want->mdtrt_id);
    assert_string_equal(got->feedetl_sn, want->feedetl_sn);
    assert_string_equal(got->msgid, want->msgid);
    assert_string_equal(got->chrg_bchno, want->chrg_bchno);
    assert_string_equal(got->list_code, want->list_code);
    assert_string_equal(got->init_sn, want->init_sn);
    assert_string_equal(got->psn_no, want->psn_no);
    assert_true(got->time == want->time && got->price_e6 == want->price_e6 &&
                got->qty_e4 == want->qty_e4);
    assert_true(got->split.amount == want->split.amount &&
                got->split.fulamt_ownpay == want->split.fulamt_ownpay &&
                got->split.overlmt == want->split.overlmt &&
                got->split.preselfpay == want->split.preselfpay &&
                got->split.inscp == want->split.inscp && got->split.lv == want->split.lv &&
                got->split.category == want->split.category &&
                got->split.selfpay_prop_e6 == want->split.selfpay_prop_e6);
    assert_true(got->outside == want->outside);
    assert_string_equal(got->state, want->state);
    assert_string_equal(got->setl_id, want->setl_id);
    assert_string_equal(got->cancel_msgid, want->cancel_msgid);
    assert_string_equal(got->infno, want->infno);
}

/* Every field of a line comes back as written after a reopen, in upload order; a reversed
 * line may come again under a new msgid, and replaces the old one. */
static void test_lines_round_trip(void **state)
{
    struct ledger *l = open_ledger();
    struct ledger_fee a = fee("A", 123456789012LL, 1), r = fee("R", -5000, -4000), a2;
    struct ledger_fee got[4] = {0};
    int n = 0;

    (void)state;
    for (struct ledger_fee *f = &a; f; f = f == &a ? &r : NULL) { /* apart from other tests' */
        snprintf(f->mdtrt_id, sizeof(f->mdtrt_id), "V9");
        snprintf(f->psn_no, sizeof(f->psn_no), "P9");
        snprintf(f->msgid, sizeof(f->msgid), "M-UP9");
    }
    memset(a.list_code, 'x', sizeof(a.list_code) - 1); /* the longest a code can be */
    snprintf(a.chrg_bchno, sizeof(a.chrg_bchno), "B7");
    a.time = 20251231235959LL;
    a.price_e6 = 617283945060000LL;
    a.qty_e4 = 20000;
    a.split.overlmt = -3;
    a.split.preselfpay = INT64_MAX;
    a.split.lv = LV_B;
    a.split.category = 14;
    a.split.selfpay_prop_e6 = 100000;
    a.outside = true;
    r.qty_e4 = -10000;
    snprintf(r.init_sn, sizeof(r.init_sn), "A");
    snprintf(r.msgid, sizeof(r.msgid), "M-REFUND");
    assert_int_equal(ledger_begin(l), 0);
    assert_int_equal(add_line(l, &a), 0);
    assert_int_equal(add_line(l, &r), 0);
    assert_int_equal(cancel_lines(l, "V9", "R", "M-CANCEL9", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ledger_commit(l), 0);
    ledger_close(l);

    l = open_ledger();
    assert_int_equal(ledger_fees_each(l, "P9", false, collect, got), 0);
    assert_same_line(&got[0], &a);
    snprintf(r.state, sizeof(r.state), "cancelled");
    snprintf(r.cancel_msgid, sizeof(r.cancel_msgid), "M-CANCEL9");
    assert_same_line(&got[1], &r);
    assert_string_equal(got[2].feedetl_sn, "");

    /* Reversed, A may be uploaded again; not before. */
    assert_int_equal(ledger_begin(l), 0);
    a2 = a;
    snprintf(a2.msgid, sizeof(a2.msgid), "M-AGAIN");
    a2.split.category = 1;
    assert_int_equal(add_line(l, &a2), -EEXIST);
    assert_int_equal(ledger_upload_visit(l, "M-UP9", "V9"), 0);
    assert_int_equal(ledger_fees_reverse_upload(l, "M-UP9", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(add_line(l, &a2), 0);
    assert_int_equal(ledger_commit(l), 0);
    expect_line(l, "V9", "A", "M-AGAIN", "active");
    memset(got, 0, sizeof(got));
    assert_int_equal(ledger_fees_each(l, "P9", false, collect, got), 0);
    assert_string_equal(got[0].feedetl_sn, "R");
    assert_string_equal(got[1].msgid, "M-AGAIN");
    assert_string_equal(got[2].feedetl_sn, ""); /* the reversed A is gone */
    ledger_close(l);
}

/* What an original's refunds take back, while lines are added and cancelled on one open
 * visit: asked for before any refund (the sums built), then kept as refunds come, as one is
 * cancelled, and for many originals at once; after saving, a new load says the same. */
static void test_refund_sums_follow_the_lines(void **state)
{
    struct ledger *l = open_ledger();
    struct ledger_lines *lines;
    struct ledger_fee f;
    char sn[16];

    (void)state;
    assert_int_equal(ledger_begin(l), 0);
    assert_int_equal(ledger_lines_open(l, "V21", &lines), 0);
    for (int i = 0; i < 40; i++) { /* originals O0..O39 of 10 each */
        snprintf(sn, sizeof(sn), "O%d", i);
        f = fee(sn, 1000, 1000);
        snprintf(f.mdtrt_id, sizeof(f.mdtrt_id), "V21");
        f.qty_e4 = 100000;
        assert_int_equal(ledger_lines_add(lines, &f), 0);
    }
    assert_int_equal(ledger_lines_refunded(lines, "O7"), 0);
    for (int i = 0; i < 40; i++) { /* refunds: 1 of each original, 2 more of O7 */
        snprintf(sn, sizeof(sn), "R%d", i);
        f = fee(sn, -100, -100);
        snprintf(f.mdtrt_id, sizeof(f.mdtrt_id), "V21");
        snprintf(f.init_sn, sizeof(f.init_sn), "O%d", i);
        f.qty_e4 = -10000;
        assert_int_equal(ledger_lines_add(lines, &f), 0);
    }
    f = fee("R7b", -200, -200);
    snprintf(f.mdtrt_id, sizeof(f.mdtrt_id), "V21");
    snprintf(f.init_sn, sizeof(f.init_sn), "O7");
    f.qty_e4 = -20000;
    assert_int_equal(ledger_lines_add(lines, &f), 0);
    assert_int_equal(ledger_lines_refunded(lines, "O7"), -30000);
    assert_int_equal(ledger_lines_refunded(lines, "O39"), -10000);
    assert_int_equal(ledger_lines_refunded(lines, "R7b"), 0); /* not an original */
    /* Cancelling a refund gives its quantity back; an original is not a refund. */
    assert_int_equal(ledger_lines_cancel(lines, "R7b", NULL, "M-C21"), 1);
    assert_int_equal(ledger_lines_refunded(lines, "O7"), -10000);
    assert_int_equal(ledger_lines_cancel(lines, "R7b", NULL, "M-C21"), 0); /* not open now */
    assert_int_equal(ledger_lines_cancel(lines, "O3", NULL, "M-C21"), 1);
    assert_int_equal(ledger_lines_refunded(lines, "O3"), -10000);
    assert_int_equal(ledger_lines_save(l, lines), 0);
    ledger_lines_close(lines);
    assert_int_equal(ledger_commit(l), 0);

    assert_int_equal(ledger_lines_open(l, "V21", &lines), 0);
    assert_int_equal(ledger_lines_refunded(lines, "O7"), -10000);
    assert_int_equal(ledger_lines_refunded(lines, "O3"), -10000);
    assert_int_equal(ledger_lines_refunded(lines, "O0"), -10000);
    assert_int_equal(ledger_lines_refunded(lines, "O40"), 0);
    ledger_lines_close(lines);
    ledger_close(l);
}

/* A hundred lines of one visit (the index grows several times), a duplicate refused among
 * them, and after a reversal one line uploaded again: found under its new upload, the
 * reversed one passed over, a third copy refused. */
static void test_many_lines_indexed(void **state)
{
    struct ledger *l = open_ledger();
    struct ledger_lines *lines;
    const struct ledger_fee *got;
    struct ledger_fee f = fee("", 100, 100);
    int n = 0;

    (void)state;
    snprintf(f.mdtrt_id, sizeof(f.mdtrt_id), "V7");
    snprintf(f.msgid, sizeof(f.msgid), "M-A");
    assert_int_equal(ledger_begin(l), 0);
    assert_int_equal(ledger_lines_open(l, "V7", &lines), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(f.feedetl_sn, sizeof(f.feedetl_sn), "s%d", i);
        assert_int_equal(ledger_lines_add(lines, &f), 0);
    }
    snprintf(f.feedetl_sn, sizeof(f.feedetl_sn), "s50");
    assert_int_equal(ledger_lines_add(lines, &f), -EEXIST);
    assert_int_equal(ledger_lines_save(l, lines), 0);
    ledger_lines_close(lines);
    assert_int_equal(ledger_upload_visit(l, "M-A", "V7"), 0);
    assert_int_equal(ledger_fees_reverse_upload(l, "M-A", &n), 0);
    assert_int_equal(n, 100);

    snprintf(f.msgid, sizeof(f.msgid), "M-B");
    assert_int_equal(ledger_lines_open(l, "V7", &lines), 0);
    assert_int_equal(ledger_lines_add(lines, &f), 0);
    assert_int_equal(ledger_lines_add(lines, &f), -EEXIST);
    got = ledger_lines_find(lines, "s50");
    assert_non_null(got);
    assert_string_equal(got->msgid, "M-B");
    got = ledger_lines_find(lines, "s99");
    assert_non_null(got);
    assert_string_equal(got->state, "reversed");
    assert_null(ledger_lines_find(lines, "s100"));
    assert_int_equal(ledger_lines_save(l, lines), 0);
    ledger_lines_close(lines);
    assert_int_equal(ledger_commit(l), 0);

    expect_line(l, "V7", "s50", "M-B", "active");
    ledger_close(l);
}

/* A ledger of version 2 kept a line's settlement in the line (blob layout 1): opening it
 * moves that to the settlements, which then record their lines, and writes the set again in
 * the current layout. Lines 1 and 3 (100.00, 20.00) were settled by S5, line 4 (3.00) by S6,
 * line 2 (50.00) not: S5's lines do not come together. Another visit's set is damaged. */
static void test_version_2_settled_lines_migrated(void **state)
{
    static const char v1_blob[] =
        "X'01080131024231024131000661637469766502533500C0C881C1DC9A098084AF5FA09C01A09C01000000"
        "A09C0100020200013202423102413100066163746976650000C0C881C1DC9A098084AF5FA09C01904E00"
        "0000904E000202000133024231024131000661637469766502533500C0C881C1DC9A098084AF5FA09C01"
        "A01F000000A01F000202000134024231024131000661637469766502533600C0C881C1DC9A098084AF5F"
        "A09C01D804000000D80400020200'";
    struct ledger *l = open_ledger();
    struct ledger_settlement s = {0};
    struct split_totals t;
    char path[128], sql[1024];
    sqlite3_stmt *st;
    sqlite3 *db;
    int n = 0;

    (void)state;
    snprintf(s.mdtrt_id, sizeof(s.mdtrt_id), "V5");
    snprintf(s.state, sizeof(s.state), "active");
    assert_int_equal(ledger_begin(l), 0);
    snprintf(s.setl_id, sizeof(s.setl_id), "S5");
    assert_int_equal(ledger_settlement_insert(l, &s), 0);
    snprintf(s.setl_id, sizeof(s.setl_id), "S6");
    assert_int_equal(ledger_settlement_insert(l, &s), 0);
    assert_int_equal(ledger_commit(l), 0);
    ledger_close(l);
    snprintf(path, sizeof(path), "%s/ledger.sqlite3", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO fee_sets(mdtrt_id, msgid, psn_no, infno, lines)"
             " VALUES('V5', 'M5', 'P5', '2301', %s), ('V4', 'M4', 'P5', '2301', X'01FF');"
             " PRAGMA user_version=2;",
             v1_blob);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    l = open_ledger(); /* V4's set is damaged: left as it is, and refused as before */
    assert_int_equal(ledger_fees_unsettled(l, "V4", NULL, &t, &n, NULL, NULL), -EIO);
    assert_int_equal(ledger_fees_unsettled(l, "V5", NULL, &t, &n, NULL, NULL), 0);
    assert_int_equal(n, 1); /* line 2 alone */
    assert_int_equal(t.amount, 5000);
    /* S5 cancelled: its lines 1 and 3 are open again beside line 2; S6's line 4 is not */
    assert_int_equal(ledger_begin(l), 0);
    assert_int_equal(ledger_settlement_set_state(l, "S5", "cancelled", "M-C5"), 0);
    assert_int_equal(ledger_fees_unsettled(l, "V5", NULL, &t, &n, NULL, NULL), 0);
    assert_int_equal(n, 3);
    assert_int_equal(t.amount, 17000);
    ledger_rollback(l);
    ledger_close(l);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT hex(substr(lines, 1, 1)) FROM fee_sets"
                                        " WHERE mdtrt_id='V5'), (SELECT lines IS NOT NULL FROM"
                                        " settlements WHERE setl_id='S5'),"
                                        " (SELECT user_version FROM pragma_user_version)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "02");
    assert_int_equal(sqlite3_column_int(st, 1), 1);
    assert_int_equal(sqlite3_column_int(st, 2), 6);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A ledger of version 4 kept one year accumulation per person for stays and visits alike:
 * opening it takes each kind's from the active settlements (a cancelled one moved back). */
static void test_version_4_accumulations_split_by_kind(void **state)
{
    static const struct {
        const char *setl_id, *infno, *state;
        int64_t deductible, fund;
    } setls[] = {
        {"ACC1", "2304", "active", 80000, 828000}, /* a stay: 800.00, 8,280.00 */
        {"ACC2", "2207", "active", 80000, 17173},  /* a visit: 800.00, 171.73 */
        {"ACC3", "2207", "cancelled", 0, 5000},    /* moved back */
        {"ACC4", "2304A", "active", 0, 100000},    /* a provincial suffix: still a stay */
        {"ACC5", "2207", "active", 10000, 42000},  /* another insurance (390): its own */
    };
    struct ledger *l = open_ledger();
    struct policy_accum acc;
    char path[128];
    sqlite3 *db;

    (void)state;
    assert_int_equal(ledger_begin(l), 0);
    for (size_t i = 0; i < sizeof setls / sizeof setls[0]; i++) {
        struct ledger_settlement s = {0};

        snprintf(s.setl_id, sizeof(s.setl_id), "%s", setls[i].setl_id);
        snprintf(s.infno, sizeof(s.infno), "%s", setls[i].infno);
        snprintf(s.psn_no, sizeof(s.psn_no), "P9");
        snprintf(s.mdtrt_id, sizeof(s.mdtrt_id), "VACC%zu", i);
        snprintf(s.insutype, sizeof(s.insutype), "%s", i == 4 ? "390" : "310");
        snprintf(s.state, sizeof(s.state), "%s", setls[i].state);
        s.year = 2026;
        s.moved = (struct policy_accum){setls[i].deductible, setls[i].fund};
        assert_int_equal(ledger_settlement_insert(l, &s), 0);
    }
    assert_int_equal(ledger_commit(l), 0);
    ledger_close(l);
    snprintf(path, sizeof(path), "%s/ledger.sqlite3", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE year_accums;"
                                  "CREATE TABLE accums(psn_no TEXT, year INTEGER,"
                                  " deductible_used INTEGER, fund_paid INTEGER,"
                                  " PRIMARY KEY(psn_no, year));"
                                  "INSERT INTO accums VALUES('P9', 2026, 160000, 945173);"
                                  "PRAGMA user_version=4;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    l = open_ledger();
    assert_int_equal(ledger_accum_get(l, "P9", "310", 2026, true, &acc), 0);
    assert_true(acc.deductible_used == 80000 && acc.fund_paid == 928000);
    assert_int_equal(ledger_accum_get(l, "P9", "310", 2026, false, &acc), 0);
    assert_true(acc.deductible_used == 80000 && acc.fund_paid == 17173);
    assert_int_equal(ledger_accum_get(l, "P9", "390", 2026, false, &acc), 0);
    assert_true(acc.deductible_used == 10000 && acc.fund_paid == 42000);
    ledger_close(l);
    /* Version 5 kept one sum a person: taken again per insurance (version 6). */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE year_accums;"
                                  "CREATE TABLE year_accums(psn_no TEXT, year INTEGER,"
                                  " inpatient INTEGER, deductible_used INTEGER, fund_paid INTEGER,"
                                  " PRIMARY KEY(psn_no, year, inpatient));"
                                  "INSERT INTO year_accums VALUES('P9', 2026, 0, 90000, 59173);"
                                  "PRAGMA user_version=5;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    l = open_ledger();
    assert_int_equal(ledger_accum_get(l, "P9", "310", 2026, false, &acc), 0);
    assert_true(acc.deductible_used == 80000 && acc.fund_paid == 17173);
    assert_int_equal(ledger_accum_get(l, "P9", "390", 2026, false, &acc), 0);
    assert_true(acc.deductible_used == 10000 && acc.fund_paid == 42000);
    ledger_close(l);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM sqlite_master"
                                        " WHERE name='accums'),"
                                        " (SELECT user_version FROM pragma_user_version)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    assert_int_equal(sqlite3_column_int(st, 1), 6);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A blob that is not one (a damaged file) is an error, not a crash or a guess. */
static void test_damaged_lines_refused(void **state)
{
    struct ledger *l = open_ledger();
    struct ledger_fee a = fee("A", 100, 100);
    struct ledger_lines *lines = NULL;
    char path[128];
    sqlite3 *db;

    (void)state;
    snprintf(a.mdtrt_id, sizeof(a.mdtrt_id), "V8");
    assert_int_equal(ledger_begin(l), 0);
    assert_int_equal(add_line(l, &a), 0);
    assert_int_equal(ledger_commit(l), 0);
    ledger_close(l);
    snprintf(path, sizeof(path), "%s/ledger.sqlite3", dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE fee_sets SET lines=substr(lines, 1, 20) WHERE mdtrt_id='V8'", NULL,
                     NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    l = open_ledger();
    assert_int_equal(ledger_lines_open(l, "V8", &lines), -EIO);
    assert_null(lines);
    ledger_close(l);
}

static void test_sequences_survive(void **state)
{
    struct ledger *l = open_ledger();
    int64_t a = 0, b = 0;

    (void)state;
    assert_int_equal(ledger_next_seq(l, "x", &a), 0);
    ledger_close(l);
    l = open_ledger();
    assert_int_equal(ledger_next_seq(l, "x", &b), 0);
    assert_true(b == a + 1);
    ledger_close(l);
}

struct checkpointer {
    struct ledger *l;
    atomic_bool stop;
    int rounds; /* checkpoints that copied something */
    int failures;
};

static void *checkpoint_loop(void *arg)
{
    struct checkpointer *c = arg;

    while (!atomic_load(&c->stop)) {
        int copied = ledger_checkpoint(c->l);

        c->rounds += copied > 0;
        c->failures += copied < 0;
        usleep(1000);
    }
    return NULL;
}

/* Commits go on while another thread checkpoints (as the thread pool does); then the rest is
 * copied between transactions and the WAL starts over; every line survives a reopen. */
static void test_checkpoint_off_the_loop(void **state)
{
    enum { COMMITS = 200, LINES = 20 };
    struct checkpointer c = {.l = open_ledger()};
    struct split_totals t;
    pthread_t thread;
    int most = 0, n = 0;
    char sn[16];

    (void)state;
    assert_int_equal(pthread_create(&thread, NULL, checkpoint_loop, &c), 0);
    for (int i = 0; i < COMMITS; i++) {
        assert_int_equal(ledger_begin(c.l), 0);
        for (int j = 0; j < LINES; j++) {
            snprintf(sn, sizeof(sn), "%d-%d", i, j);
            struct ledger_fee f = fee(sn, 1000, 800);
            assert_int_equal(add_line(c.l, &f), 0);
        }
        assert_int_equal(ledger_commit(c.l), 0);
        if (ledger_wal_frames(c.l) > most)
            most = ledger_wal_frames(c.l);
    }
    atomic_store(&c.stop, true);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(c.failures, 0);
    assert_true(c.rounds > 0);

    /* As under load: a transaction open while the pool's checkpoint runs commits after it,
     * so the WAL is not all copied and would never start over; the rest, copied between
     * transactions, lets the next transaction start it over. */
    assert_int_equal(ledger_begin(c.l), 0);
    assert_int_equal(ledger_next_seq(c.l, "meanwhile", &(int64_t){0}), 0);
    assert_true(ledger_checkpoint(c.l) > 0);
    assert_int_equal(ledger_commit(c.l), 0);
    assert_int_equal(ledger_checkpoint_rest(c.l), 0);
    assert_int_equal(ledger_begin(c.l), 0);
    assert_int_equal(ledger_next_seq(c.l, "after", &(int64_t){0}), 0);
    assert_int_equal(ledger_commit(c.l), 0);
    assert_true(ledger_wal_frames(c.l) < most);
    assert_true(ledger_wal_frames(c.l) <= 4);
    ledger_close(c.l);

    c.l = open_ledger();
    assert_int_equal(ledger_fees_unsettled(c.l, "V1", NULL, &t, &n, NULL, NULL), 0);
    assert_int_equal(n, COMMITS * LINES);
    assert_true(t.amount == (int64_t)COMMITS * LINES * 1000);
    ledger_close(c.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_mode_and_survival),
        cmocka_unit_test(test_lines_settlements_and_accumulations),
        cmocka_unit_test(test_lines_round_trip),
        cmocka_unit_test(test_many_lines_indexed),
        cmocka_unit_test(test_refund_sums_follow_the_lines),
        cmocka_unit_test(test_version_2_settled_lines_migrated),
        cmocka_unit_test(test_version_4_accumulations_split_by_kind),
        cmocka_unit_test(test_sequences_survive),
        cmocka_unit_test(test_checkpoint_off_the_loop),
        cmocka_unit_test(test_damaged_lines_refused),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
