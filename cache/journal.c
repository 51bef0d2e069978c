/* The journal/outbox table: inserts, state changes through core's msg_next(), and the
 * queries the outbox, the resolver and GET /v1/queue need. */
#include "cache/journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/db_internal.h"
#include "core/bound.h"
#include "core/err.h"
#include "core/str.h"

#define JOURNAL_COLS                                                                               \
    "seq, msgid, infno, kind, idem_key, idem_hash, visit_key, ref_msgid, request, state, "         \
    "attempts, next_attempt, response, last_error, created_at, updated_at, ord"

/* ord is the place in the visit's order: the row this one stands in for, or its own seq,
 * which AUTOINCREMENT makes sqlite_sequence's value + 1 (seq is never given explicitly). */
static const char sql_insert[] =
    "INSERT INTO journal (msgid, infno, kind, idem_key, idem_hash, visit_key, ref_msgid, "
    "request, state, attempts, next_attempt, created_at, updated_at, ord) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?14, ?12, "
    "coalesce((SELECT ord FROM journal WHERE msgid = ?13), "
    "(SELECT seq FROM sqlite_sequence WHERE name = 'journal') + 1, 1))";
static const char sql_release_idem[] = "UPDATE journal SET idem_key = NULL WHERE msgid = ?1";
static const char sql_get[] = "SELECT " JOURNAL_COLS " FROM journal WHERE msgid = ?1";
static const char sql_get_idem[] = "SELECT " JOURNAL_COLS " FROM journal WHERE idem_key = ?1";
static const char sql_get_standin[] = "SELECT " JOURNAL_COLS " FROM journal "
                                      "WHERE ref_msgid = ?1 AND infno = ?2 "
                                      "ORDER BY seq DESC LIMIT 1";
/* Key ranges [?1, ?2) and [?3, ?4): the unique index on idem_key finds them; and the rows
 * that stand in for them (the same message sent again under another msgid after it was
 * reversed: ref_msgid, same infno, no key of its own), found by the index on ref_msgid. */
static const char sql_done_keyed[] =
    "WITH RECURSIVE keyed(msgid, infno, key) AS ("
    " SELECT msgid, infno, idem_key FROM journal"
    " WHERE (idem_key >= ?1 AND idem_key < ?2) OR (idem_key >= ?3 AND idem_key < ?4)"
    " UNION ALL"
    " SELECT j.msgid, j.infno, k.key FROM journal j JOIN keyed k"
    " ON j.ref_msgid = k.msgid AND j.infno = k.infno)"
    "SELECT k.key, count(*) OVER () FROM keyed k JOIN journal j ON j.msgid = k.msgid "
    "WHERE j.state = 'done' ORDER BY j.seq DESC LIMIT 1";
static const char sql_state[] = "SELECT state, attempts FROM journal WHERE msgid = ?1";
static const char sql_update[] =
    "UPDATE journal SET state = ?2, attempts = ?3, updated_at = ?4, "
    "response = coalesce(?5, response), last_error = coalesce(?6, last_error), "
    "next_attempt = coalesce(?7, next_attempt), request = coalesce(?8, request) "
    "WHERE msgid = ?1";
/* The due rows: the head of each visit (its first open row in (ord, seq) order) when it is
 * queued and due, and the first due visitless rows. The visits are walked by skip-scan on
 * journal_open, one seek per visit: scanning the queued rows themselves costs the whole
 * queue whenever fewer heads than the batch are due (100,000 rows behind 128 visits: 66 ms
 * per batch; this: under a millisecond). The cost grows with the visits that have open rows
 * (20,000 of them: about 30 ms a batch). */
/* Not final. Written as journal_open's WHERE is (schema 0007), for the planner to match it:
 * OR terms, as an IN list would build a temporary b-tree on every evaluation. */
#define OPEN_STATE "(state = 'queued' OR state = 'sent' OR state = 'unknown')"
#define OPEN_ROWS  "journal INDEXED BY journal_open WHERE " OPEN_STATE " "
/* The queue as HIS and operators see it (listing, depth) leaves out queries (1101, 5203,
 * posad's own 9001 sign-ins and 1312 catalog downloads, ...): a query is never queued or
 * retried (lost, it is abandoned), so it is only ever on its way, and listed it made the
 * depth blink (the sign-in probing while offline, the catalog download after start). The
 * journal keeps them. */
_Static_assert(MSG_KIND_QUERY == 2, "NOT_QUERY names MSG_KIND_QUERY by its value");
#define NOT_QUERY "AND kind <> 2 "
/* Within one place in a visit's order (a row and the rows standing in for it), an open
 * reversal goes before a resend: a reversal whose outcome was unknown is sent again under a
 * new seq, after the upload's resend, which then met the original still standing ("already
 * uploaded") and was refused, and the second reversal then undid the original: the lines
 * were on the platform under no message. An open 2601 only ever undoes a message already
 * sent, so it never has to wait for a queued row of its place. */
#define REVERSALS_FIRST "infno <> '2601', "
static const char sql_due[] =
    "WITH RECURSIVE visit(k) AS ("
    "  SELECT (SELECT visit_key FROM " OPEN_ROWS "AND visit_key > '' ORDER BY visit_key LIMIT 1)"
    "  UNION ALL"
    "  SELECT (SELECT visit_key FROM " OPEN_ROWS "AND visit_key > visit.k"
    "          ORDER BY visit_key LIMIT 1) FROM visit WHERE visit.k IS NOT NULL),"
    " head(h) AS ("
    "  SELECT (SELECT seq FROM " OPEN_ROWS "AND visit_key = visit.k ORDER BY ord, " REVERSALS_FIRST
    "seq LIMIT 1)"
    "  FROM visit WHERE visit.k IS NOT NULL"
    "  UNION ALL"
    "  SELECT seq FROM (SELECT seq FROM " OPEN_ROWS "AND visit_key = '' AND state = 'queued'"
    "                   AND next_attempt <= ?1 ORDER BY ord, seq LIMIT ?2))"
    "SELECT " JOURNAL_COLS " FROM head CROSS JOIN journal ON journal.seq = head.h "
    "WHERE state = 'queued' AND next_attempt <= ?1 ORDER BY next_attempt, seq LIMIT ?2";
static const char sql_next_due[] = "SELECT min(next_attempt) FROM journal WHERE state = 'queued'";
static const char sql_due_rebase[] =
    "UPDATE journal SET next_attempt = ?1 WHERE state = 'queued' AND next_attempt > ?2";
static const char sql_list_state[] =
    "SELECT " JOURNAL_COLS " FROM journal WHERE state = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
static const char sql_list_open[] =
    "SELECT " JOURNAL_COLS " FROM journal WHERE " OPEN_STATE " " NOT_QUERY "AND seq > ?2 "
    "ORDER BY seq LIMIT ?3";
static const char sql_visit_open[] =
    "SELECT 1 FROM journal WHERE visit_key = ?1 AND " OPEN_STATE " "
    "LIMIT 1";
static const char sql_visit_cancel_open[] =
    "SELECT 1 FROM journal WHERE visit_key = ?1 AND " OPEN_STATE " "
    "AND infno IN ('2205', '2302') LIMIT 1";
/* A settlement cancel of the visit, or a reversal of one (of a reversal of one, ...: a 2601
 * whose outcome was unknown is reversed by another naming it), not yet final: from the
 * visit's open rows (journal_open), up their ref_msgid to the cancel. */
static const char sql_visit_refund_open[] =
    "WITH RECURSIVE up(infno, ref) AS ("
    "SELECT infno, ref_msgid FROM journal WHERE visit_key = ?1 AND " OPEN_STATE " "
    "AND (infno = '2208' OR infno = '2305' OR infno = '2601') "
    "UNION SELECT j.infno, j.ref_msgid FROM journal j, up WHERE up.infno = '2601' AND "
    "j.msgid = up.ref) "
    "SELECT 1 FROM up WHERE infno = '2208' OR infno = '2305' LIMIT 1";
/* The partial index journal_open in (ord, seq) order: as the visit's rows drain. */
static const char sql_ahead[] = "SELECT msgid, infno FROM " OPEN_ROWS NOT_QUERY
                                "AND visit_key = ?1 AND (ord < ?2 OR (ord = ?2 AND seq < ?3)) "
                                "ORDER BY ord, seq LIMIT 1";
static const char sql_last_error[] = "SELECT last_error FROM journal WHERE msgid = ?1";
static const char sql_stats[] =
    "SELECT count(*), coalesce(sum(state = 'unknown'), 0), coalesce(min(created_at), 0) "
    "FROM " OPEN_ROWS NOT_QUERY;
/* The partial index's own terms (0019), named: without statistics the planner took
 * journal_due's state = 'done' and read every answered row ever written. */
static const char sql_settlements_since[] =
    "SELECT " JOURNAL_COLS " FROM journal INDEXED BY journal_settled WHERE state = 'done' "
    "AND substr(infno, 1, 4) IN ('2207', '2304', '2208', '2305', '2601') " /* 2207A too */
    "AND updated_at >= ?1 ORDER BY seq";
/* A settlement counts for the day it was journaled; an open cancel or reversal for every day:
 * a refund counts against its settlement's day, which may be long before the refund's, and a
 * reversal may stand in for a settlement's or a refund's lost answer (either was reported a
 * mismatch, the refund found cancelled on the platform, while it waited). */
static const char sql_settlements_open[] =
    "SELECT msgid FROM " OPEN_ROWS "AND ((substr(infno, 1, 4) IN ('2207', '2304') AND "
    "created_at >= ?1 AND created_at < ?2) OR substr(infno, 1, 4) IN ('2208', '2305') OR "
    "infno = '2601')";
static const char sql_retry_now[] =
    "UPDATE journal SET next_attempt = ?2, updated_at = ?2 WHERE msgid = ?1 AND state = 'queued'";
static const char sql_last_msgid[] = "SELECT msgid FROM journal ORDER BY seq DESC LIMIT 1";
static const char sql_park[] =
    "UPDATE journal SET next_attempt = 253402271999000, updated_at = ?2, last_error = ?3 "
    "WHERE msgid = ?1 AND state = 'queued'";

static char *journal_dup_col(sqlite3_stmt *st, int col, size_t *ret_len)
{
    const void *p = sqlite3_column_blob(st, col);
    int len = sqlite3_column_bytes(st, col);
    char *s;

    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    s = malloc((size_t)len + 1);
    if (!s)
        return NULL;
    if (len > 0)
        memcpy(s, p, (size_t)len);
    s[len] = '\0';
    if (ret_len)
        *ret_len = (size_t)len;
    return s;
}

/* Column col's text into dst (cap bytes, "" when NULL, cut short whole characters). */
static void journal_copy_fixed(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    str_copy(dst, cap, (const char *)sqlite3_column_text(st, col));
}

void journal_row_free(struct journal_row *row)
{
    if (!row)
        return;
    free(row->idem_key);
    free(row->idem_hash);
    free(row->visit_key);
    free(row->ref_msgid);
    free(row->request);
    free(row->response);
    free(row->last_error);
    free(row);
}

/* Reads the current row of st (selected with JOURNAL_COLS) into a new journal_row. */
static int journal_row_read(struct db *db, sqlite3_stmt *st, bool list, struct journal_row **ret)
{
    struct journal_row *row = calloc(1, sizeof *row);
    const char *state;
    int err;

    if (!row)
        return -ENOMEM;
    row->seq = sqlite3_column_int64(st, 0);
    journal_copy_fixed(row->msgid, sizeof row->msgid, st, 1);
    journal_copy_fixed(row->infno, sizeof row->infno, st, 2);
    row->kind = (enum msg_kind)sqlite3_column_int(st, 3);
    row->idem_key = journal_dup_col(st, 4, NULL);
    row->idem_hash = journal_dup_col(st, 5, NULL);
    row->visit_key = journal_dup_col(st, 6, NULL);
    row->ref_msgid = journal_dup_col(st, 7, NULL);
    err = db_column_opened(db, st, 8, &row->request, &row->request_len);
    state = (const char *)sqlite3_column_text(st, 9);
    row->attempts = (uint32_t)sqlite3_column_int64(st, 10);
    row->next_attempt = sqlite3_column_int64(st, 11);
    if (!err)
        err = db_column_opened(db, st, 12, &row->response, &row->response_len);
    if (err == POSA_ECORRUPT && list) { /* journal.h, damaged */
        free(row->request);
        free(row->response);
        row->response = NULL;
        row->response_len = row->request_len = 0;
        row->request = strdup("");
        row->damaged = true;
        err = 0;
    }
    row->last_error = journal_dup_col(st, 13, NULL);
    row->created_at = sqlite3_column_int64(st, 14);
    row->updated_at = sqlite3_column_int64(st, 15);
    row->ord = sqlite3_column_int64(st, 16);
    /* visit_key and request are NOT NULL columns, so NULL here is a failed allocation; a
     * state name core does not know means a file written by someone else. */
    if (!err && (!state || msg_state_parse(state, &row->state) != 0))
        err = POSA_ECORRUPT;
    else if (!err && (!row->visit_key || !row->request))
        err = -ENOMEM;
    if (err) {
        journal_row_free(row);
        return err;
    }
    *ret = row;
    return 0;
}

static bool journal_text_ok(const char *s, size_t max, bool required)
{
    if (!s)
        return !required;
    size_t n = strnlen(s, max + 1);
    return n <= max && (!required || n > 0);
}

int journal_insert(struct db *db, const struct journal_new *in, int64_t now)
{
    enum msg_state state = MSG_QUEUED;
    sqlite3_stmt *st;
    int err;

    if (!journal_text_ok(in->msgid, MSGID_LEN, true) ||
        !journal_text_ok(in->infno, JOURNAL_INFNO_MAX, true) ||
        !journal_text_ok(in->idem_key, BOUND_CODE * 2, false) || /* a route's prefix + key */
        !journal_text_ok(in->idem_hash, BOUND_CODE * 2, false) ||
        !journal_text_ok(in->visit_key, BOUND_CODE, false) ||
        !journal_text_ok(in->ref_msgid, MSGID_LEN, false) ||
        !journal_text_ok(in->ord_of, MSGID_LEN, false) || !in->request ||
        in->request_len > BOUND_BODY)
        return POSA_EFIELD;
    if (in->send_now && msg_next(MSG_QUEUED, MSG_EV_SEND, &state) != 0)
        return POSA_ESTATE;
    st = db_stmt(db, sql_insert);
    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, in->msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, in->infno, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)msg_kind_of(in->infno));
    db_bind_text(st, 4, in->idem_key);
    db_bind_text(st, 5, in->idem_hash);
    sqlite3_bind_text(st, 6, in->visit_key ? in->visit_key : "", -1, SQLITE_STATIC);
    db_bind_text(st, 7, in->ref_msgid);
    sqlite3_bind_text(st, 9, msg_state_name(state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, (int64_t)in->attempts + (in->send_now ? 1 : 0));
    sqlite3_bind_int64(st, 11, in->next_attempt);
    sqlite3_bind_int64(st, 12, now);
    db_bind_text(st, 13, in->ord_of);
    sqlite3_bind_int64(st, 14, in->created_at ? in->created_at : now);
    err = db_bind_sealable(db, st, 8, in->request, in->request_len, true);
    return err ? err : db_step_done(db, st);
}

static int journal_read_state(struct db *db, const char *msgid, enum msg_state *ret_state,
                              uint32_t *ret_attempts)
{
    sqlite3_stmt *st = db_stmt(db, sql_state);
    int rc, err = 0;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        err = POSA_ENOTFOUND;
    else if (rc != SQLITE_ROW)
        err = db_map(rc);
    else if (msg_state_parse((const char *)sqlite3_column_text(st, 0), ret_state) != 0)
        err = POSA_ECORRUPT;
    else
        *ret_attempts = (uint32_t)sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    return err;
}

int journal_apply(struct db *db, const char *msgid, enum msg_event ev,
                  const struct journal_outcome *out, int64_t now, enum msg_state *ret_state)
{
    enum msg_state state = MSG_QUEUED, next;
    uint32_t attempts = 0;
    sqlite3_stmt *st;
    int err;

    err = journal_read_state(db, msgid, &state, &attempts);
    if (err)
        return err;
    if (msg_next(state, ev, &next) != 0)
        return POSA_ESTATE;
    if (ev == MSG_EV_SEND)
        attempts++;
    st = db_stmt(db, sql_update);
    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, msg_state_name(next), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, attempts);
    sqlite3_bind_int64(st, 4, now);
    if (out)
        db_bind_text(st, 6, out->last_error);
    if (out && out->next_attempt > 0)
        sqlite3_bind_int64(st, 7, out->next_attempt);
    err = out ? db_bind_sealable(db, st, 5, out->response, out->response_len, true) : 0;
    if (!err && out)
        err = db_bind_sealable(db, st, 8, out->request, out->request_len, true);
    if (!err)
        err = db_step_done(db, st);
    if (!err && ret_state)
        *ret_state = next;
    return err;
}

/* One UPDATE with a CASE over every state RESTART moves, so a row moves once even if its
 * new state were itself one that RESTART moves. */
int journal_restart(struct db *db, int64_t now, int *ret_count)
{
    char sql[512] = "UPDATE journal SET updated_at = ?1, state = CASE state";
    char in_list[160] = "";
    sqlite3_stmt *st = NULL;
    size_t n = strlen(sql);
    int moved = 0, err;

    for (int s = 0; s < MSG__MAX; s++) {
        enum msg_state next;

        if (msg_next((enum msg_state)s, MSG_EV_RESTART, &next) != 0 || (int)next == s)
            continue;
        n += (size_t)snprintf(sql + n, sizeof sql - n, " WHEN '%s' THEN '%s'",
                              msg_state_name((enum msg_state)s), msg_state_name(next));
        snprintf(in_list + strlen(in_list), sizeof in_list - strlen(in_list), "%s'%s'",
                 moved ? ", " : "", msg_state_name((enum msg_state)s));
        moved++;
    }
    if (!moved) {
        if (ret_count)
            *ret_count = 0;
        return 0;
    }
    snprintf(sql + n, sizeof sql - n, " END WHERE state IN (%s)", in_list);
    if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, now);
    err = sqlite3_step(st) == SQLITE_DONE ? 0 : db_map(sqlite3_extended_errcode(db_sqlite(db)));
    sqlite3_finalize(st);
    if (!err && ret_count)
        *ret_count = sqlite3_changes(db_sqlite(db));
    return err;
}

static int journal_get_one(struct db *db, const char *sql, const char *key,
                           struct journal_row **ret)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    int rc, err;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = journal_row_read(db, st, false, ret);
    else
        err = rc == SQLITE_DONE ? POSA_ENOTFOUND : db_map(rc);
    sqlite3_reset(st);
    return err;
}

int journal_release_idem(struct db *db, const char *msgid)
{
    sqlite3_stmt *st = db_stmt(db, sql_release_idem);
    int err;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    err = db_step_done(db, st);
    if (!err && sqlite3_changes(db_sqlite(db)) == 0)
        err = POSA_ENOTFOUND;
    return err;
}

int journal_retry_now(struct db *db, const char *msgid, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_retry_now);
    struct journal_row *row = NULL;
    int err;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, msgid);
    sqlite3_bind_int64(st, 2, now);
    if ((err = db_step_done(db, st)) < 0)
        return err;
    if (sqlite3_changes(db_sqlite(db)))
        return 0;
    err = journal_get(db, msgid, &row); /* why not: absent, or not queued */
    journal_row_free(row);
    return err < 0 ? err : POSA_ESTATE;
}

int journal_get(struct db *db, const char *msgid, struct journal_row **ret)
{
    return journal_get_one(db, sql_get, msgid, ret);
}

int journal_get_by_idem(struct db *db, const char *idem_key, struct journal_row **ret)
{
    return journal_get_one(db, sql_get_idem, idem_key, ret);
}

/* The first key past every key that begins with prefix: its last byte plus one. */
static int prefix_end(const char *prefix, char *end, size_t cap)
{
    size_t n = strlen(prefix);

    if (n == 0 || n >= cap || (unsigned char)prefix[n - 1] == 0xff)
        return -EINVAL;
    memcpy(end, prefix, n + 1);
    end[n - 1]++;
    return 0;
}

int journal_done_keyed(struct db *db, const char *prefix_a, const char *prefix_b, char *ret_key,
                       size_t cap, int *ret_count)
{
    sqlite3_stmt *st = db_stmt(db, sql_done_keyed);
    char end_a[256], end_b[256];
    int rc;

    if (!st)
        return POSA_EDB;
    if (prefix_end(prefix_a, end_a, sizeof end_a) < 0 ||
        prefix_end(prefix_b, end_b, sizeof end_b) < 0)
        return -EINVAL;
    sqlite3_bind_text(st, 1, prefix_a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, end_a, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, prefix_b, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, end_b, -1, SQLITE_STATIC);
    ret_key[0] = '\0';
    *ret_count = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);

        snprintf(ret_key, cap, "%s", key ? key : "");
        *ret_count = sqlite3_column_int(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_map(rc);
}

int journal_get_standin(struct db *db, const char *msgid, const char *infno,
                        struct journal_row **ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_get_standin);
    int rc, err;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, infno, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = journal_row_read(db, st, false, ret);
    else
        err = rc == SQLITE_DONE ? POSA_ENOTFOUND : db_map(rc);
    sqlite3_reset(st);
    return err;
}

int journal_reversal_state(struct db *db, const char *msgid, enum msg_state *ret)
{
    struct journal_row *rev = NULL, *next = NULL;
    int err = journal_get_standin(db, msgid, "2601", &rev);

    /* Bounded: each 2601 sent again stands in for the one before it, whether that one was
     * reversed or refused for a lost session (a refusal by the platform has no stand-in). */
    for (int hops = 0; !err && hops < 16; hops++) {
        if ((err = journal_get_standin(db, rev->msgid, "2601", &next)) == POSA_ENOTFOUND) {
            err = 0;
            break;
        }
        journal_row_free(rev);
        rev = next;
        next = NULL;
    }
    if (!err)
        *ret = rev->state;
    journal_row_free(rev);
    return err;
}

/* Steps st, handing each row to cb; stops at cb's first non-zero answer. */
static int journal_each(struct db *db, sqlite3_stmt *st, journal_row_cb cb, void *data)
{
    int rc, err = 0;

    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct journal_row *row = NULL;

        err = journal_row_read(db, st, true, &row);
        if (err)
            break;
        err = cb(row, data);
        journal_row_free(row);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    sqlite3_reset(st);
    return err;
}

int journal_due(struct db *db, int64_t now, int limit, journal_row_cb cb, void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_due);

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    return journal_each(db, st, cb, data);
}

int journal_due_rebase(struct db *db, int64_t now, int64_t horizon, int *ret_moved)
{
    sqlite3_stmt *st = db_stmt(db, sql_due_rebase);
    int rc;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, horizon);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    *ret_moved = rc == SQLITE_DONE ? sqlite3_changes(db_sqlite(db)) : 0;
    return rc == SQLITE_DONE ? 0 : db_map(rc);
}

int journal_next_due(struct db *db, int64_t *ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_next_due);
    int rc;

    if (!st)
        return POSA_EDB;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(st, 0); /* NULL (none queued) reads as 0 */
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_map(rc);
}

int journal_list(struct db *db, enum msg_state state, int64_t after_seq, int limit,
                 journal_row_cb cb, void *data)
{
    sqlite3_stmt *st = db_stmt(db, state == MSG__MAX ? sql_list_open : sql_list_state);

    if (!st)
        return POSA_EDB;
    if (state != MSG__MAX)
        sqlite3_bind_text(st, 1, msg_state_name(state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after_seq);
    sqlite3_bind_int(st, 3, limit);
    return journal_each(db, st, cb, data);
}

static int visit_has(struct db *db, const char *sql, const char *visit_key, bool *ret)
{
    sqlite3_stmt *st = db_stmt(db, sql);
    int rc;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, visit_key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_map(rc);
    *ret = rc == SQLITE_ROW;
    return 0;
}

int journal_visit_open(struct db *db, const char *visit_key, bool *ret)
{
    return visit_has(db, sql_visit_open, visit_key, ret);
}

int journal_visit_cancel_open(struct db *db, const char *visit_key, bool *ret)
{
    return visit_has(db, sql_visit_cancel_open, visit_key, ret);
}

int journal_visit_refund_open(struct db *db, const char *visit_key, bool *ret)
{
    return visit_has(db, sql_visit_refund_open, visit_key, ret);
}

int journal_ahead(struct db *db, const struct journal_row *row, char msgid[MSGID_LEN + 1],
                  char infno[JOURNAL_INFNO_MAX + 1])
{
    sqlite3_stmt *st = db_stmt(db, sql_ahead);
    int rc;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, row->visit_key ? row->visit_key : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, row->ord);
    sqlite3_bind_int64(st, 3, row->seq);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        journal_copy_fixed(msgid, MSGID_LEN + 1, st, 0);
        journal_copy_fixed(infno, JOURNAL_INFNO_MAX + 1, st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? POSA_ENOTFOUND : db_map(rc);
}

int journal_last_error(struct db *db, const char *msgid, char *buf, size_t cap)
{
    sqlite3_stmt *st = db_stmt(db, sql_last_error);
    int rc;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        journal_copy_fixed(buf, cap, st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? POSA_ENOTFOUND : db_map(rc);
}

int journal_stats(struct db *db, struct journal_stats *ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_stats);
    int rc;

    if (!st)
        return POSA_EDB;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret->depth = sqlite3_column_int64(st, 0);
        ret->unknown = sqlite3_column_int64(st, 1);
        ret->oldest_at = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_map(rc);
}

int journal_settlements_open(struct db *db, int64_t from, int64_t to,
                             int (*cb)(const char *msgid, void *data), void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_settlements_open);
    char msgid[MSGID_LEN + 1];
    int rc, err = 0;

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        journal_copy_fixed(msgid, sizeof msgid, st, 0);
        err = cb(msgid, data);
    }
    sqlite3_reset(st);
    return err ? err : rc == SQLITE_DONE ? 0 : db_map(rc);
}

int journal_last_msgid(struct db *db, char ret[MSGID_LEN + 1])
{
    sqlite3_stmt *st = db_stmt(db, sql_last_msgid);
    int rc;

    if (!st)
        return POSA_EDB;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        journal_copy_fixed(ret, MSGID_LEN + 1, st, 0);
    else if (rc == SQLITE_DONE)
        ret[0] = '\0';
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_map(rc);
}

int journal_settlements_since(struct db *db, int64_t since, journal_row_cb cb, void *data)
{
    sqlite3_stmt *st = db_stmt(db, sql_settlements_since);

    if (!st)
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, since);
    return journal_each(db, st, cb, data);
}

int journal_park(struct db *db, const char *msgid, int64_t now, const char *why)
{
    sqlite3_stmt *st = db_stmt(db, sql_park);

    if (!st)
        return POSA_EDB;
    sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, why, -1, SQLITE_STATIC);
    return db_step_done(db, st);
}
