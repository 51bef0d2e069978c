/* The stored catalog: replace whole, load whole. */
#include "cache/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/db_internal.h"
#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"

static const char sql_clear[] = "DELETE FROM catalog";
static const char sql_insert[] =
    "INSERT INTO catalog (list_code, name, lv, category, selfpay_e6, limit_e6) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_meta[] =
    "INSERT OR REPLACE INTO catalog_meta (id, loaded_at, items) VALUES (1, ?1, ?2)";
/* length() counts characters in TEXT: the strings block needs bytes. */
static const char sql_count[] =
    "SELECT count(*), coalesce(sum(length(CAST(list_code AS BLOB)) + length(CAST(name AS BLOB)) + 2), 0), "
    "coalesce((SELECT loaded_at FROM catalog_meta WHERE id = 1), 0) FROM catalog";
static const char sql_all[] =
    "SELECT list_code, name, lv, category, selfpay_e6, limit_e6 FROM catalog ORDER BY list_code";

void catalog_copy_free(struct catalog_copy *c)
{
    if (!c)
        return;
    free(c->items);
    free(c->strings);
    *c = (struct catalog_copy){0};
}

int catalog_store(struct db *db, const struct catalog_item *items, size_t n, int64_t now)
{
    sqlite3_stmt *st = db_stmt(db, sql_clear);
    int err;

    if (!st || (err = db_step_done(db, st)) < 0)
        return st ? err : POSA_EDB;
    for (size_t i = 0; i < n; i++) {
        if (!(st = db_stmt(db, sql_insert)))
            return POSA_EDB;
        db_bind_text(st, 1, items[i].list_code);
        db_bind_text(st, 2, items[i].name ? items[i].name : "");
        sqlite3_bind_int(st, 3, (int)items[i].lv);
        sqlite3_bind_int(st, 4, items[i].category);
        sqlite3_bind_int64(st, 5, items[i].selfpay_prop_e6);
        sqlite3_bind_int64(st, 6, items[i].price_limit_e6);
        if ((err = db_step_done(db, st)) < 0)
            return err;
    }
    if (!(st = db_stmt(db, sql_meta)))
        return POSA_EDB;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (int64_t)n);
    return db_step_done(db, st);
}

/* Appends column col's text to the strings block at *used; returns its start. */
static const char *put_text(sqlite3_stmt *st, int col, char *strings, size_t *used, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col);
    char *out = strings + *used;

    if (*used + len + 1 > cap)
        return NULL;
    memcpy(out, s ? (const char *)s : "", len);
    out[len] = '\0';
    *used += len + 1;
    return out;
}

/* Whether a stored row holds what catalog_store writes: a code, a name, a class (甲乙丙), a
 * category 1..14, a ratio in [0, 1] and a limit (or none), as integers. A damaged one read as
 * it came split lines silently wrong (a limit 'abc' read as 0), or failed the whole catalog
 * (a class 7), and no fees could be taken while the platform was away. */
static bool row_sound(sqlite3_stmt *st)
{
    for (int col = 0; col < 6; col++)
        if (sqlite3_column_type(st, col) != (col < 2 ? SQLITE_TEXT : SQLITE_INTEGER))
            return false;
    int64_t lv = sqlite3_column_int64(st, 2), cat = sqlite3_column_int64(st, 3);
    int64_t ratio = sqlite3_column_int64(st, 4), limit = sqlite3_column_int64(st, 5);

    return sqlite3_column_bytes(st, 0) > 0 && lv >= LV_A && lv <= LV_C && cat >= CATEGORY_MIN &&
           cat <= CATEGORY_MAX && ratio >= 0 && ratio <= DEC_E6 &&
           (limit == PRICE_NO_LIMIT || (limit >= 0 && limit <= BOUND_PRICE_E6));
}

int catalog_load(struct db *db, struct catalog_copy *ret)
{
    struct catalog_copy c = {0};
    sqlite3_stmt *st = db_stmt(db, sql_count);
    size_t cap, used = 0, i = 0;
    int rc, err = 0;

    if (!st)
        return POSA_EDB;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        sqlite3_reset(st);
        return db_map(rc);
    }
    c.n = (size_t)sqlite3_column_int64(st, 0);
    cap = (size_t)sqlite3_column_int64(st, 1) + 1;
    c.loaded_at = sqlite3_column_int64(st, 2);
    sqlite3_reset(st);
    if (!(c.items = calloc(c.n ? c.n : 1, sizeof c.items[0])) || !(c.strings = malloc(cap))) {
        catalog_copy_free(&c);
        return -ENOMEM;
    }
    if (!(st = db_stmt(db, sql_all))) {
        catalog_copy_free(&c);
        return POSA_EDB;
    }
    size_t rows = 0;

    while (!err && rows < c.n && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct catalog_item *it = &c.items[i];

        rows++;
        if (!row_sound(st)) { /* a damaged row is left out, not the catalog */
            c.damaged++;
            continue;
        }
        it->list_code = put_text(st, 0, c.strings, &used, cap);
        it->name = put_text(st, 1, c.strings, &used, cap);
        it->lv = (enum chrgitm_lv)sqlite3_column_int(st, 2);
        it->category = (uint8_t)sqlite3_column_int(st, 3);
        it->selfpay_prop_e6 = sqlite3_column_int64(st, 4);
        it->price_limit_e6 = sqlite3_column_int64(st, 5);
        if (!it->list_code || !it->name)
            err = POSA_ECORRUPT;
        i++;
    }
    sqlite3_reset(st);
    if (!err && rows != c.n)
        err = POSA_ECORRUPT; /* changed under us: cannot happen on the one connection */
    c.n = i;
    if (err) {
        catalog_copy_free(&c);
        return err;
    }
    *ret = c;
    return 0;
}
