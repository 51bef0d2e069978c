/* cache/records.c's retention on a real database file: records_prune deletes the identities
 * that expired before its first time and the idempotent answers stored before its second,
 * and nothing else (visits and settlements are the hospital's record). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/db.h"
#include "cache/records.h"
#include "core/err.h"

struct fx {
    char dir[64];
    char path[128];
    struct db *db;
};

static int fx_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);

    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/posa-records-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/posa.db", fx->dir);
    assert_int_equal(db_open(fx->path, &fx->db), 0);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;
    const char *suffix[] = {"", "-wal", "-shm"};
    char p[160];

    db_close(fx->db);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", fx->path, suffix[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prune_by_time, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
