/* Component test of cache/catalog: the treating region's catalog stored in a real SQLite
 * file survives a reopen byte for byte (Chinese names included), and a new download
 * replaces the old one whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cache/catalog.h"
#include "cache/db.h"
#include "tests/component/tmpdb.h"

struct fx {
    struct tmpdb tmp;
    struct db *db;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    tmpdb_make(&fx->tmp, "catalog");
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

static const struct catalog_item first[] = {
    {"XB05XAA103A003011042793", "氯化钾缓释片 0.5g", LV_A, 9, 0, PRICE_NO_LIMIT, 0},
    {"C09070001005900000000932286", "一次性使用腔镜切割吻合器钉仓", LV_B, 8, 300000, 1200000000, 0},
    {"ZA12BAK287A002010236950", "灵芝孢子粉胶囊", LV_C, 11, 1000000, PRICE_NO_LIMIT, 0},
};

static void store(struct db *db, const struct catalog_item *items, size_t n, int64_t now)
{
    assert_int_equal(db_begin(db), 0);
    assert_int_equal(catalog_store(db, items, n, now), 0);
    assert_int_equal(db_commit(db), 0);
}

static void test_empty_then_round_trip(void **state)
{
    struct fx *fx = *state;
    struct catalog_copy c = {0};

    assert_int_equal(catalog_load(fx->db, &c), 0);
    assert_int_equal(c.n, 0); /* never downloaded */
    assert_int_equal(c.loaded_at, 0);
    catalog_copy_free(&c);

    store(fx->db, first, 3, 1764000000000);
    db_close(fx->db); /* a restart */
    assert_int_equal(db_open(fx->tmp.path, &fx->db), 0);
    assert_int_equal(catalog_load(fx->db, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.loaded_at, 1764000000000);
    /* sorted by list_code: C0907..., XB05..., ZA12... */
    assert_string_equal(c.items[0].list_code, "C09070001005900000000932286");
    assert_string_equal(c.items[0].name, "一次性使用腔镜切割吻合器钉仓");
    assert_int_equal(c.items[0].lv, LV_B);
    assert_int_equal(c.items[0].category, 8);
    assert_int_equal(c.items[0].selfpay_prop_e6, 300000);
    assert_int_equal(c.items[0].price_limit_e6, 1200000000);
    assert_string_equal(c.items[1].name, "氯化钾缓释片 0.5g");
    assert_int_equal(c.items[1].price_limit_e6, PRICE_NO_LIMIT);
    assert_int_equal(c.items[2].lv, LV_C);
    catalog_copy_free(&c);
    catalog_copy_free(&c); /* twice is fine */
    catalog_copy_free(NULL);
}

static void test_replaced_whole(void **state)
{
    struct fx *fx = *state;
    struct catalog_copy c = {0};
    const struct catalog_item second[] = {
        {"001109000010000", "普通病房床位费", LV_A, 1, 0, 45000000, 0},
    };

    store(fx->db, first, 3, 1);
    store(fx->db, second, 1, 2);
    assert_int_equal(catalog_load(fx->db, &c), 0);
    assert_int_equal(c.n, 1); /* nothing of the first download remains */
    assert_string_equal(c.items[0].list_code, "001109000010000");
    assert_int_equal(c.loaded_at, 2);
    catalog_copy_free(&c);
}

/* A stored row that is not what catalog_store wrote (a damaged page, a hand's edit) is left
 * out and counted: a limit 'abc' was read as 0 (the split then wrong without a word), a class
 * 7 failed the whole catalog (no fees while the platform was away). */
static void test_damaged_rows_left_out(void **state)
{
    static const char *const damage[] = {
        "UPDATE catalog SET limit_e6 = 'abc' WHERE list_code LIKE 'C0907%'",
        "UPDATE catalog SET lv = 7 WHERE list_code LIKE 'ZA12%'",
    };
    struct fx *fx = *state;
    struct catalog_copy c = {0};
    sqlite3 *raw;

    store(fx->db, first, 3, 1);
    db_close(fx->db);
    assert_int_equal(sqlite3_open(fx->tmp.path, &raw), SQLITE_OK);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(sqlite3_exec(raw, damage[i], NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(db_open(fx->tmp.path, &fx->db), 0);
    assert_int_equal(catalog_load(fx->db, &c), 0);
    assert_int_equal((int)c.n, 1);
    assert_int_equal((int)c.damaged, 2);
    assert_string_equal(c.items[0].list_code, "XB05XAA103A003011042793");
    catalog_copy_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_then_round_trip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_replaced_whole, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_rows_left_out, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
