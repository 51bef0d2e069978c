/* A visit's fee lines (records.h), kept as sets: the lines one upload kept, packed into one
 * row of fee_sets (cache/fee_set.h, schema 0010). Reading a visit's lines decodes its sets in
 * seq order; cancelling, refusing or keeping a line again edits the set that holds it. */
#include "cache/records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/db_internal.h"
#include "cache/fee_set.h"
#include "core/err.h"
#include "core/str.h"

/* At most this many lines in a set the migration writes (an upload's chunk is bounded too). */
#define MIGRATED_SET_MAX 500

static const char sql_set_put[] =
    "INSERT INTO fee_sets (visit_id, first_seq, last_seq, upload_msgid, his_key, his_hash, "
    "created_at, lines) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char sql_sets_of_visit[] =
    "SELECT rowid, upload_msgid, his_key, his_hash, lines FROM fee_sets WHERE visit_id = ?1 "
    "ORDER BY first_seq";
static const char sql_sets_of_upload[] =
    "SELECT rowid, upload_msgid, his_key, his_hash, lines FROM fee_sets WHERE visit_id = ?1 "
    "AND upload_msgid = ?2 ORDER BY first_seq";
static const char sql_set_update[] = "UPDATE fee_sets SET lines = ?2 WHERE rowid = ?1";
static const char sql_set_delete[] = "DELETE FROM fee_sets WHERE rowid = ?1";
static const char sql_lines_next_seq[] =
    "SELECT coalesce(max(last_seq), 0) + 1 FROM fee_sets WHERE visit_id = ?1";

/* One set read back: its columns, its blob (owned: the lines' strings point into it) and its
 * lines, which an editor may change (then `changed`). */
struct set {
    int64_t rowid;
    char *upload_msgid, *his_key, *his_hash;
    uint8_t *blob;
    struct line_record *lines;
    size_t n;
    bool changed;
};

static void sets_free(struct set *sets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(sets[i].upload_msgid);
        free(sets[i].his_key);
        free(sets[i].his_hash);
        free(sets[i].blob);
        free(sets[i].lines);
    }
    free(sets);
}

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    return strdup(s ? (const char *)s : "");
}

/* Reads row st's set into s: POSA_ECORRUPT when its blob does not decode. */
static int set_read(sqlite3_stmt *st, const char *visit_id, struct set *s)
{
    const void *blob = sqlite3_column_blob(st, 4);
    size_t len = (size_t)sqlite3_column_bytes(st, 4);
    int err;

    if (!blob && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
        return -ENOMEM;
    s->rowid = sqlite3_column_int64(st, 0);
    s->upload_msgid = dup_text(st, 1);
    s->his_key = dup_text(st, 2);
    s->his_hash = dup_text(st, 3);
    s->blob = malloc(len ? len : 1);
    if (!s->upload_msgid || !s->his_key || !s->his_hash || !s->blob)
        return -ENOMEM;
    memcpy(s->blob, blob, len);
    if ((err = fee_set_decode(s->blob, len, &s->lines, &s->n)) < 0)
        return err == -EIO ? POSA_ECORRUPT : err;
    for (size_t i = 0; i < s->n; i++) {
        struct line_record *l = &s->lines[i];

        str_copy(l->visit_id, sizeof l->visit_id, visit_id);
        str_copy(l->upload_msgid, sizeof l->upload_msgid, s->upload_msgid);
        l->his_key = s->his_key;
        l->his_hash = s->his_hash;
    }
    return 0;
}

/* The visit's sets in seq order (only those upload_msgid carried, when not NULL), read whole
 * before anyone edits the table. */
static int sets_load(struct db *db, const char *visit_id, const char *upload_msgid,
                     struct set **ret, size_t *ret_n)
{
    sqlite3_stmt *st = db_stmt(db, upload_msgid ? sql_sets_of_upload : sql_sets_of_visit);
    struct set *sets = NULL;
    size_t n = 0, cap = 0;
    int rc = SQLITE_DONE, err = 0;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    if (upload_msgid)
        db_bind_text(st, 2, upload_msgid);
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            struct set *more = realloc(sets, (cap = cap ? 2 * cap : 4) * sizeof *more);

            if (!more) {
                err = -ENOMEM;
                break;
            }
            sets = more;
        }
        memset(&sets[n], 0, sizeof sets[n]);
        err = set_read(st, visit_id, &sets[n++]);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    sqlite3_reset(st);
    if (err) {
        sets_free(sets, n);
        return err;
    }
    *ret = sets;
    *ret_n = n;
    return 0;
}

/* Writes back the sets an editor changed; an emptied set goes. */
static int sets_store(struct db *db, struct set *sets, size_t n)
{
    int err = 0;

    for (size_t i = 0; i < n && !err; i++) {
        struct set *s = &sets[i];
        sqlite3_stmt *st;
        uint8_t *blob = NULL;
        size_t len = 0;

        if (!s->changed)
            continue;
        if (s->n == 0) {
            if (!(st = db_stmt(db, sql_set_delete)))
                return POSA_EDB;
            sqlite3_bind_int64(st, 1, s->rowid);
            err = db_step_done(db, st);
            continue;
        }
        if ((err = fee_set_encode(s->lines, s->n, &blob, &len)) < 0)
            return err;
        if (!(st = db_stmt(db, sql_set_update))) {
            free(blob);
            return POSA_EDB;
        }
        sqlite3_bind_int64(st, 1, s->rowid);
        sqlite3_bind_blob64(st, 2, blob, len, SQLITE_STATIC);
        err = db_step_done(db, st);
        free(blob);
    }
    return err;
}

/* An edit of every line of a visit (of the sets upload_msgid carried, when not NULL):
 * edit(line, data) returns 1 when it changed the line, 2 when the line is to go, 0 for
 * neither, or an error. *ret_n (may be NULL) counts the lines changed or gone; with must
 * >= 0, any other count is POSA_ENOTFOUND, and nothing is written. */
static int lines_edit(struct db *db, const char *visit_id, const char *upload_msgid,
                      int (*edit)(struct line_record *l, void *data), void *data, int64_t must,
                      int64_t *ret_n)
{
    struct set *sets = NULL;
    size_t n_sets = 0;
    int64_t count = 0;
    int err = sets_load(db, visit_id, upload_msgid, &sets, &n_sets);

    for (size_t i = 0; i < n_sets && !err; i++) {
        struct set *s = &sets[i];
        size_t kept = 0;

        for (size_t k = 0; k < s->n && !err; k++) {
            int rc = edit(&s->lines[k], data);

            if (rc < 0)
                err = rc;
            else if (rc > 0) {
                s->changed = true;
                count++;
            }
            if (rc != 2)
                s->lines[kept++] = s->lines[k];
        }
        s->n = kept;
    }
    if (!err && must >= 0 && count != must)
        err = POSA_ENOTFOUND;
    if (!err)
        err = sets_store(db, sets, n_sets);
    sets_free(sets, n_sets);
    if (!err && ret_n)
        *ret_n = count;
    return err;
}

struct ids {
    const char **sorted;
    size_t n;
};

/* A line kept again under its his_line_id (refused, cancelled or damaged before) leaves its
 * old set. */
static int drop_kept_again(struct line_record *l, void *data)
{
    const struct ids *ids = data;
    const char *id = l->his_line_id;

    return bsearch(&id, ids->sorted, ids->n, sizeof *ids->sorted, str_ptr_cmp) ? 2 : 0;
}

static int set_insert(struct db *db, const struct line_record *lines, size_t n, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_set_put);
    uint8_t *blob = NULL;
    size_t len = 0;
    int err;

    if (!st)
        return POSA_EDB;
    if ((err = fee_set_encode(lines, n, &blob, &len)) < 0)
        return err;
    db_bind_text(st, 1, lines[0].visit_id);
    sqlite3_bind_int64(st, 2, lines[0].seq);
    sqlite3_bind_int64(st, 3, lines[n - 1].seq);
    db_bind_text(st, 4, lines[0].upload_msgid);
    db_bind_text(st, 5, lines[0].his_key ? lines[0].his_key : "");
    db_bind_text(st, 6, lines[0].his_hash ? lines[0].his_hash : "");
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_blob64(st, 8, blob, len, SQLITE_STATIC);
    err = db_step_done(db, st);
    free(blob);
    return err;
}

/* ids[0..n) sorted for bsearch (str_ptr_cmp), into ret->sorted (malloc'd; NULL on
 * -ENOMEM). */
static int ids_sorted(const char *const *ids, size_t n, struct ids *ret)
{
    ret->n = n;
    if (!(ret->sorted = malloc((n ? n : 1) * sizeof *ret->sorted)))
        return -ENOMEM;
    memcpy(ret->sorted, ids, n * sizeof *ids);
    qsort(ret->sorted, n, sizeof *ret->sorted, str_ptr_cmp);
    return 0;
}

int records_lines_put(struct db *db, const struct line_record *lines, size_t n, bool replacing,
                      int64_t now)
{
    struct ids ids = {.n = n};
    int err = 0;

    if (n == 0)
        return 0;
    if (replacing) {
        if (!(ids.sorted = malloc(n * sizeof *ids.sorted)))
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            ids.sorted[i] = lines[i].his_line_id;
        qsort(ids.sorted, n, sizeof *ids.sorted, str_ptr_cmp);
        err = lines_edit(db, lines[0].visit_id, NULL, drop_kept_again, &ids, -1, NULL);
        free(ids.sorted);
    }
    return err ? err : set_insert(db, lines, n, now);
}

struct refusal {
    const char *upload_msgid;
    bool unheard;
};

/* A line cancelled while its upload was on its way is refused with it: the platform never
 * had it, and the cancel's refusal that follows must not make it active (uncancel). */
static int refuse(struct line_record *l, void *data)
{
    const struct refusal *r = data;

    if ((strcmp(l->state, "active") != 0 && strcmp(l->state, "cancelled") != 0) ||
        strcmp(l->upload_msgid, r->upload_msgid) != 0)
        return 0;
    snprintf(l->state, sizeof l->state, "%s", r->unheard ? "refused_queued" : "refused");
    l->cancel_msgid = "";
    return 1;
}

int records_lines_refused(struct db *db, const char *visit_id, const char *upload_msgid,
                          bool unheard)
{
    return lines_edit(db, visit_id, upload_msgid, refuse, &(struct refusal){upload_msgid, unheard},
                      -1, NULL);
}

static int hear(struct line_record *l, void *data)
{
    (void)data;
    if (strcmp(l->state, "refused_queued") != 0)
        return 0;
    snprintf(l->state, sizeof l->state, "refused");
    return 1;
}

int records_lines_heard(struct db *db, const char *visit_id)
{
    return lines_edit(db, visit_id, NULL, hear, NULL, -1, NULL);
}

struct platform_split {
    const char *his_line_id;
    const struct split *split;
};

static int platform_split_cmp(const void *a, const void *b)
{
    return strcmp(((const struct platform_split *)a)->his_line_id,
                  ((const struct platform_split *)b)->his_line_id);
}

struct platform_splits {
    struct platform_split *sorted;
    size_t n;
};

static int take_platform_split(struct line_record *l, void *data)
{
    const struct platform_splits *p = data;
    const struct platform_split key = {l->his_line_id, NULL}, *at;

    if (strcmp(l->state, "active") != 0 ||
        !(at = bsearch(&key, p->sorted, p->n, sizeof *p->sorted, platform_split_cmp)))
        return 0;
    split_take(&l->split, at->split);
    return 1;
}

int records_lines_platform_split(struct db *db, const char *visit_id, const char *const *ids,
                                 const struct split *splits, size_t n)
{
    struct platform_splits p = {calloc(n ? n : 1, sizeof *p.sorted), n};
    int err;

    if (!p.sorted)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        p.sorted[i] = (struct platform_split){ids[i], &splits[i]};
    qsort(p.sorted, n, sizeof *p.sorted, platform_split_cmp);
    err = lines_edit(db, visit_id, NULL, take_platform_split, &p, -1, NULL);
    free(p.sorted);
    return err;
}

struct cancel {
    struct ids ids;
    const char *cancel_msgid;
    bool unheard; /* uncancel: the refusal came after the HIS heard "queued" */
};

static int cancel(struct line_record *l, void *data)
{
    const struct cancel *c = data;
    const char *id = l->his_line_id;

    if (strcmp(l->state, "active") != 0 ||
        !bsearch(&id, c->ids.sorted, c->ids.n, sizeof *c->ids.sorted, str_ptr_cmp))
        return 0;
    snprintf(l->state, sizeof l->state, "cancelled");
    l->cancel_msgid = c->cancel_msgid;
    return 1;
}

int records_lines_cancel(struct db *db, const char *visit_id, const char *const *ids, size_t n,
                         const char *cancel_msgid)
{
    struct cancel c = {.cancel_msgid = cancel_msgid};
    int err = ids_sorted(ids, n, &c.ids);

    if (!err)
        err = lines_edit(db, visit_id, NULL, cancel, &c, (int64_t)n, NULL);
    free(c.ids.sorted);
    return err;
}

static int uncancel(struct line_record *l, void *data)
{
    const struct cancel *c = data;

    if (strcmp(l->state, "cancelled") != 0 || strcmp(l->cancel_msgid, c->cancel_msgid) != 0)
        return 0;
    snprintf(l->state, sizeof l->state, "active");
    if (!c->unheard)
        l->cancel_msgid = "";
    return 1;
}

int records_lines_uncancel(struct db *db, const char *visit_id, const char *cancel_msgid,
                           bool unheard, int64_t *ret_n)
{
    return lines_edit(db, visit_id, NULL, uncancel,
                      &(struct cancel){.cancel_msgid = cancel_msgid, .unheard = unheard}, -1,
                      ret_n);
}

int records_lines_list(struct db *db, const char *visit_id, records_line_cb cb, void *data)
{
    struct set *sets = NULL;
    size_t n_sets = 0;
    int err = sets_load(db, visit_id, NULL, &sets, &n_sets);

    for (size_t i = 0; i < n_sets && !err; i++)
        for (size_t k = 0; k < sets[i].n && !err; k++)
            err = cb(&sets[i].lines[k], data);
    sets_free(sets, n_sets);
    return err;
}

struct active {
    records_line_cb cb;
    void *data;
};

static int only_active(const struct line_record *l, void *data)
{
    const struct active *a = data;

    if (strcmp(l->state, "damaged") == 0)
        return POSA_ECORRUPT;
    if (strcmp(l->state, "active") != 0 && strcmp(l->state, "refused_queued") != 0)
        return 0;
    return a->cb(l, a->data);
}

int records_lines_active(struct db *db, const char *visit_id, records_line_cb cb, void *data)
{
    return records_lines_list(db, visit_id, only_active, &(struct active){cb, data});
}

int records_lines_next_seq(struct db *db, const char *visit_id, int64_t *ret)
{
    sqlite3_stmt *st = db_stmt(db, sql_lines_next_seq);
    int rc;

    if (!st)
        return POSA_EDB;
    db_bind_text(st, 1, visit_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_map(rc);
}

/* --- migration 0010 --------------------------------------------------------------------- */

static const char sql_old_lines[] =
    "SELECT visit_id, his_line_id, seq, feedetl_sn, state, upload_msgid, created_at, list_code, "
    "name, qty_e4, price_e6, time, amount, fulamt_ownpay, overlmt, preselfpay, inscp, lv, "
    "category, selfpay_prop_e6, outside_institution, outside_form, outside_kind, his_key, "
    "his_hash, cancel_msgid FROM fee_lines_v9 ORDER BY visit_id, seq";

#define OWNED_STRINGS 8 /* the borrowed strings of a line, owned while migrating */

static void owned_free(char *owned[OWNED_STRINGS])
{
    for (int k = 0; k < OWNED_STRINGS; k++) {
        free(owned[k]);
        owned[k] = NULL;
    }
}

/* The row st's line into l, its strings copied into owned (freed by owned_free). */
static int old_line_read(sqlite3_stmt *st, struct line_record *l, char *owned[OWNED_STRINGS],
                         int64_t *ret_created)
{
    const char **borrowed[OWNED_STRINGS] = {&l->list_code,    &l->name,
                                            &l->time,         &l->outside_institution,
                                            &l->outside_form, &l->his_key,
                                            &l->his_hash,     &l->cancel_msgid};
    const int cols[OWNED_STRINGS] = {7, 8, 11, 20, 21, 23, 24, 25};
    const char *fixed[] = {(const char *)sqlite3_column_text(st, 0),
                           (const char *)sqlite3_column_text(st, 1),
                           (const char *)sqlite3_column_text(st, 3),
                           (const char *)sqlite3_column_text(st, 4),
                           (const char *)sqlite3_column_text(st, 5)};

    bool damaged = false;

    memset(l, 0, sizeof *l);
    /* A value no writer could have written (NULL, too long) keeps the line, as damaged:
     * settling its visit is refused, and posad still starts (as 0005 did with bodies). */
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
        if (!fixed[k] || strlen(fixed[k]) >= (k == 3 ? sizeof l->state : sizeof l->visit_id))
            damaged = true;
        if (!fixed[k])
            fixed[k] = "";
    }
    for (int k = 0; k < OWNED_STRINGS; k++)
        if (!(owned[k] = dup_text(st, cols[k])))
            return -ENOMEM;
        else
            *borrowed[k] = owned[k];
    snprintf(l->visit_id, sizeof l->visit_id, "%s", fixed[0]);
    snprintf(l->his_line_id, sizeof l->his_line_id, "%s", fixed[1]);
    snprintf(l->feedetl_sn, sizeof l->feedetl_sn, "%s", fixed[2]);
    snprintf(l->state, sizeof l->state, "%s", damaged ? "damaged" : fixed[3]);
    snprintf(l->upload_msgid, sizeof l->upload_msgid, "%s", fixed[4]);
    l->seq = sqlite3_column_int64(st, 2);
    *ret_created = sqlite3_column_int64(st, 6);
    l->qty_e4 = sqlite3_column_int64(st, 9);
    l->price_e6 = sqlite3_column_int64(st, 10);
    l->split = (struct split){.amount = sqlite3_column_int64(st, 12),
                              .fulamt_ownpay = sqlite3_column_int64(st, 13),
                              .overlmt = sqlite3_column_int64(st, 14),
                              .preselfpay = sqlite3_column_int64(st, 15),
                              .inscp = sqlite3_column_int64(st, 16),
                              .lv = (enum chrgitm_lv)sqlite3_column_int(st, 17),
                              .category = (uint8_t)sqlite3_column_int(st, 18),
                              .selfpay_prop_e6 = sqlite3_column_int64(st, 19)};
    l->outside_kind = sqlite3_column_int(st, 22);
    return 0;
}

/* Does l go in the same set as prev: the same visit, upload and HIS request? */
static bool same_set(const struct line_record *prev, const struct line_record *l)
{
    return strcmp(prev->visit_id, l->visit_id) == 0 &&
           strcmp(prev->upload_msgid, l->upload_msgid) == 0 &&
           strcmp(prev->his_key, l->his_key) == 0 && strcmp(prev->his_hash, l->his_hash) == 0;
}

int records_migrate_fee_sets(struct db *db)
{
    struct line_record *run = calloc(MIGRATED_SET_MAX, sizeof *run);
    char *(*owned)[OWNED_STRINGS] = calloc(MIGRATED_SET_MAX + 1, sizeof *owned);
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int64_t created = 0, first_created = 0;
    int rc = SQLITE_DONE, err = 0;

    if (!run || !owned)
        err = -ENOMEM;
    else if (sqlite3_prepare_v2(db_sqlite(db), sql_old_lines, -1, &st, NULL) != SQLITE_OK)
        err = db_map(sqlite3_errcode(db_sqlite(db)));
    /* owned[MIGRATED_SET_MAX] holds the line just read until it joins the run. */
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct line_record l;

        if ((err = old_line_read(st, &l, owned[MIGRATED_SET_MAX], &created)) < 0)
            break;
        if (n > 0 && (n == MIGRATED_SET_MAX || !same_set(&run[0], &l))) {
            err = set_insert(db, run, n, first_created);
            for (size_t k = 0; k < n; k++)
                owned_free(owned[k]);
            n = 0;
        }
        if (n == 0)
            first_created = created;
        memcpy(owned[n], owned[MIGRATED_SET_MAX], sizeof owned[n]);
        memset(owned[MIGRATED_SET_MAX], 0, sizeof owned[n]);
        run[n++] = l;
    }
    if (!err && rc != SQLITE_DONE)
        err = db_map(rc);
    if (!err && n > 0)
        err = set_insert(db, run, n, first_created);
    for (size_t k = 0; owned && k <= MIGRATED_SET_MAX; k++)
        owned_free(owned[k]);
    sqlite3_finalize(st);
    free(run);
    free(owned);
    return err ? err
               : db_map(sqlite3_exec(db_sqlite(db), "DROP TABLE fee_lines_v9", NULL, NULL, NULL));
}
