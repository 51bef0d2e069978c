/* The sandbox ledger's fee lines: a visit's lines loaded (ledger_lines_*), the queries
 * and changes on them, reversals of uploads and cancels, and their migrations. */
#include "sandbox/ledger.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/err.h"
#include "core/str.h"
#include "sandbox/fee_blob.h"
#include "sandbox/idmap.h"
#include "sandbox/ledger_db.h"

/* Flags of a loaded line. */
enum {
    LINE_DIRTY = 1,   /* its set is to be written back */
    LINE_GONE = 2,    /* a reversed line a new upload replaced: left out of its set */
    LINE_SETTLED = 4, /* the last settlement to name it (its setl_id) is active */
    LINE_UNDONE = 8,  /* changed by the reversal being made: checked before it is saved */
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
int ledger_migrate_fees(struct ledger *l)
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

/* Each visit st names (bound by the caller), its lines loaded and handed to fn; a visit that
 * cannot be read is passed over when skip_damaged (ledger_lines_open logged it; its own
 * operations still refuse). */
static int visits_each(struct ledger *l, sqlite3_stmt *st, bool skip_damaged,
                       int (*fn)(struct ledger *l, struct ledger_lines *v, void *data), void *data)
{
    visit_id_t *ids = NULL;
    size_t n = 0;
    int rc = visit_ids(l, st, &ids, &n);

    for (size_t k = 0; rc == 0 && k < n; k++) {
        struct ledger_lines *v;

        if ((rc = ledger_lines_open(l, ids[k], &v)) == 0) {
            rc = fn(l, v, data);
            ledger_lines_close(v);
        } else if (rc == -EIO && skip_damaged) {
            rc = 0;
        }
    }
    free(ids);
    return rc;
}

static int migrate_set_visit(struct ledger *l, struct ledger_lines *v, void *data)
{
    (void)data;
    return migrate_visit(l, v);
}

/* Version 2's sets (layout 1, a line's setl_id in it), visit by visit. A damaged visit is
 * left as it is: it was refused before and still is, and must not keep the sandbox from
 * starting. */
int ledger_migrate_sets(struct ledger *l)
{
    sqlite3_stmt *st = stmt(l, S_SETS_VISITS);

    return st ? visits_each(l, st, true, migrate_set_visit, NULL) : -EIO;
}

/* --- fees ----------------------------------------------------------------------------- */

int ledger_lines_reserve(struct ledger_lines *v, size_t more)
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
    if ((rc = ledger_lines_reserve(v, (size_t)n)) < 0)
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

/* Lets the sums go: when the lines are closed, or (out of memory while keeping them, or a
 * change they do not follow) to be built again at the next question. */
static void refunds_forget(struct refunds *r)
{
    free(r->line);
    free(r->qty_e4);
    idmap_free(&r->map);
    *r = (struct refunds){0};
}

void ledger_lines_close(struct ledger_lines *v)
{
    if (!v)
        return;
    free(v->f);
    free(v->flags);
    idmap_free(&v->sns);
    refunds_forget(&v->refunds);
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
    if ((rc = ledger_lines_reserve(v, 1)) < 0 || (rc = idmap_reserve(&v->sns, line_sn, v)) < 0)
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

static void msg_lines_close(struct ledger_lines **all, size_t n)
{
    for (size_t i = 0; all && i < n; i++)
        ledger_lines_close(all[i]);
    free(all);
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
        msg_lines_close(all, n);
        return rc;
    }
    *ret = all;
    *ret_n = n;
    return 0;
}

/* Saves every visit's lines; 0 or the first failure. */
static int msg_lines_save(struct ledger *l, struct ledger_lines **all, size_t n)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ledger_lines_save(l, all[i]);
    return rc;
}

/* The lines msgid uploaded, active or cancelled since (the upload never happened, so neither
 * did their cancel: its reversal must not bring them back); the lines it cancelled, still
 * cancelled. */
static bool uploaded_by(const struct ledger_fee *f, const char *msgid)
{
    return strcmp(f->msgid, msgid) == 0 &&
           (strcmp(f->state, "active") == 0 || strcmp(f->state, "cancelled") == 0);
}

static bool cancelled_by(const struct ledger_fee *f, const char *msgid)
{
    return strcmp(f->cancel_msgid, msgid) == 0 && strcmp(f->state, "cancelled") == 0;
}

/* Refund line i takes back no more than its original, still active, charged. */
static bool refund_holds(struct ledger_lines *v, size_t i)
{
    size_t o = line_index(v, v->f[i].init_sn);

    return o < v->n && strcmp(v->f[o].state, "active") == 0 &&
           v->f[o].qty_e4 + ledger_lines_refunded(v, v->f[i].init_sn) >= 0;
}

/* The refund rules after a reversal changed the lines marked LINE_UNDONE (the marks are
 * cleared): a refund that came back must hold, and a line that went must have no refunds
 * standing against it. POSA_ECONFLICT when one does not. */
static int refunds_still_hold(struct ledger_lines *v)
{
    int rc = 0;

    for (size_t i = 0; i < v->n; i++) {
        if (!(v->flags[i] & LINE_UNDONE))
            continue;
        v->flags[i] &= (uint8_t)~LINE_UNDONE;
        if (is_refund(v, i) && !refund_holds(v, i))
            rc = POSA_ECONFLICT;
        else if (strcmp(v->f[i].state, "active") != 0 &&
                 ledger_lines_refunded(v, v->f[i].feedetl_sn) != 0)
            rc = POSA_ECONFLICT;
    }
    return rc;
}

/* Undoes what msgid did to the lines of its visits that `did` picks: they take state, lose
 * their cancelling message, and are saved, unless the refund rules would break then
 * (POSA_ECONFLICT, nothing saved). *ret_count is how many. */
static int msg_lines_undo(struct ledger *l, struct ledger_lines **all, size_t n,
                          bool (*did)(const struct ledger_fee *f, const char *msgid),
                          const char *msgid, const char *state, int *ret_count)
{
    int rc = 0, count = 0;

    for (size_t k = 0; k < n; k++) {
        struct ledger_lines *v = all[k];

        refunds_forget(&v->refunds); /* states change here without it */
        for (size_t i = 0; i < v->n; i++)
            if (line_here(v, i) && did(&v->f[i], msgid)) {
                str_copy(v->f[i].state, sizeof(v->f[i].state), state);
                v->f[i].cancel_msgid[0] = '\0';
                v->flags[i] |= LINE_DIRTY | LINE_UNDONE;
                count++;
            }
        if (rc == 0)
            rc = refunds_still_hold(v);
    }
    if (rc == 0 && (rc = msg_lines_save(l, all, n)) == 0)
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

struct each_line {
    void (*cb)(const struct ledger_fee *f, void *data);
    void *data;
};

static int each_line(struct ledger *l, struct ledger_lines *v, void *data)
{
    struct each_line *e = data;

    (void)l;
    for (size_t i = 0; i < v->n; i++)
        e->cb(&v->f[i], e->data);
    return 0;
}

int ledger_fees_each(struct ledger *l, const char *psn_no, bool skip_damaged,
                     void (*cb)(const struct ledger_fee *f, void *data), void *data)
{
    sqlite3_stmt *st = stmt(l, psn_no ? S_SETS_VISITS_PSN : S_SETS_VISITS);
    struct each_line e = {.cb = cb, .data = data};

    if (!st)
        return -EIO;
    if (psn_no)
        bt(st, 1, psn_no);
    return visits_each(l, st, skip_damaged, each_line, &e);
}
