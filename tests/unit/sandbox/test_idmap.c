/* sandbox/idmap: positions found by their string through growth, absent strings not found, and
 * the match function deciding between positions that share a string (a retired one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/idmap.h"

#define N 1000

struct keys {
    char s[N][16];
    bool retired[N];
};

static const char *key_of(size_t i, const void *data)
{
    return ((const struct keys *)data)->s[i];
}

static bool live_match(size_t i, const char *key, const void *data)
{
    const struct keys *k = data;

    return !k->retired[i] && strcmp(k->s[i], key) == 0;
}

static void add(struct idmap *m, struct keys *k, size_t i)
{
    assert_int_equal(idmap_reserve(m, key_of, k), 0);
    idmap_put(m, k->s[i], i);
}

static void test_found_through_growth(void **state)
{
    static struct keys k;
    struct idmap m = {0};

    (void)state;
    assert_true(idmap_find(&m, "k0", live_match, &k) == SIZE_MAX); /* nothing held yet */
    for (size_t i = 0; i < N; i++) {
        snprintf(k.s[i], sizeof(k.s[i]), "k%zu", i);
        add(&m, &k, i);
        assert_true(m.nslots >= 2 * m.n);
    }
    assert_int_equal(m.n, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(idmap_find(&m, k.s[i], live_match, &k), i);
    assert_true(idmap_find(&m, "k1000", live_match, &k) == SIZE_MAX);
    assert_true(idmap_find(&m, "", live_match, &k) == SIZE_MAX);
    idmap_free(&m);
    assert_null(m.slots);
}

static void test_shared_string_goes_to_the_live_one(void **state)
{
    static struct keys k;
    struct idmap m = {0};

    (void)state;
    for (size_t i = 0; i < 40; i++) { /* past the first growth */
        snprintf(k.s[i], sizeof(k.s[i]), i % 2 ? "dup" : "x%zu", i);
        add(&m, &k, i);
    }
    assert_int_equal(idmap_find(&m, "dup", live_match, &k), 1); /* the first added */
    k.retired[1] = true;
    assert_int_equal(idmap_find(&m, "dup", live_match, &k), 3);
    for (size_t i = 1; i < 40; i += 2)
        k.retired[i] = true;
    assert_true(idmap_find(&m, "dup", live_match, &k) == SIZE_MAX);
    idmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_found_through_growth),
                                       cmocka_unit_test(test_shared_string_goes_to_the_live_one)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
