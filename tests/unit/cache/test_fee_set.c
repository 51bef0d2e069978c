/* Unit tests of cache/fee_set.h: lines packed into a blob and back, and every damaged blob
 * refused within bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/fee_set.h"

/* Three lines: a 乙 drug with its split, an outside CT cancelled by C-1, and a refund line
 * of -37.50 with no name; seqs as an upload kept them. */
static void three_lines(struct line_record l[3])
{
    memset(l, 0, 3 * sizeof *l);
    l[0] = (struct line_record){.his_line_id = "L1", .seq = 7, .feedetl_sn = "F000007",
                                .state = "active", .list_code = "XB05BA", .name = "氯化钠注射液",
                                .time = "2026-11-21 09:30:00", .qty_e4 = 30000,
                                .price_e6 = 12500000,
                                .split = {.amount = 3750, .preselfpay = 375, .inscp = 3375,
                                          .lv = LV_B, .category = 9, .selfpay_prop_e6 = 100000}};
    l[1] = (struct line_record){.his_line_id = "L2", .seq = 8, .feedetl_sn = "F000008",
                                .state = "cancelled", .list_code = "002103000020000",
                                .name = "X线计算机体层(CT)平扫", .time = "2026-11-21 10:00:00",
                                .qty_e4 = 10000, .price_e6 = 260000000,
                                .split = {.amount = 26000, .inscp = 26000, .lv = LV_A,
                                          .category = 2},
                                .outside_institution = "H41010500001", .outside_form = "WJ-7",
                                .outside_kind = 1, .cancel_msgid = "C-1"};
    l[2] = (struct line_record){.his_line_id = "L3", .seq = 9, .feedetl_sn = "F000009",
                                .state = "active", .list_code = "XB05BA",
                                .time = "2026-11-22 08:00:00", .qty_e4 = -30000,
                                .price_e6 = 12500000,
                                .split = {.amount = -3750, .preselfpay = -375, .inscp = -3375,
                                          .lv = LV_B, .category = 9, .selfpay_prop_e6 = 100000}};
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void assert_line_equal(const struct line_record *got, const struct line_record *want)
{
    assert_string_equal(got->his_line_id, want->his_line_id);
    assert_string_equal(got->feedetl_sn, want->feedetl_sn);
    assert_string_equal(got->state, want->state);
    assert_string_equal(got->list_code, or_empty(want->list_code));
    assert_string_equal(got->name, or_empty(want->name));
    assert_string_equal(got->time, or_empty(want->time));
    assert_string_equal(got->outside_institution, or_empty(want->outside_institution));
    assert_string_equal(got->outside_form, or_empty(want->outside_form));
    assert_string_equal(got->cancel_msgid, or_empty(want->cancel_msgid));
    assert_int_equal(got->seq, want->seq);
    assert_int_equal(got->qty_e4, want->qty_e4);
    assert_int_equal(got->price_e6, want->price_e6);
    assert_memory_equal(&got->split, &want->split, sizeof got->split);
    assert_int_equal(got->outside_kind, want->outside_kind);
    /* the set's columns are the caller's */
    assert_string_equal(got->visit_id, "");
    assert_string_equal(got->upload_msgid, "");
    assert_null(got->his_key);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct line_record in[3], *out = NULL;
    uint8_t *blob = NULL;
    size_t len = 0, n = 0;

    three_lines(in);
    assert_int_equal(fee_set_encode(in, 3, &blob, &len), 0);
    assert_int_equal(blob[0], 1);
    assert_int_equal(fee_set_decode(blob, len, &out, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_line_equal(&out[i], &in[i]);
    /* The strings are read in place: they point into the blob. */
    assert_true((const uint8_t *)out[0].name > blob && (const uint8_t *)out[0].name < blob + len);
    free(out);
    free(blob);
}

static void test_empty_set(void **state)
{
    (void)state;
    struct line_record *out = (struct line_record *)1;
    uint8_t *blob = NULL;
    size_t len = 0, n = 9;

    assert_int_equal(fee_set_encode(NULL, 0, &blob, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(fee_set_decode(blob, len, &out, &n), 0);
    assert_int_equal(n, 0);
    assert_null(out);
    free(blob);
}

/* A his_line_id that cannot come back into a line_record is not written. */
static void test_encode_refuses_what_cannot_come_back(void **state)
{
    (void)state;
    struct line_record in[3];
    uint8_t *blob = NULL;
    size_t len = 0;

    three_lines(in);
    memset(in[1].state, 'x', sizeof in[1].state); /* no NUL within */
    assert_int_equal(fee_set_encode(in, 3, &blob, &len), -EINVAL);
    assert_null(blob);
}

static int decode(const uint8_t *blob, size_t len)
{
    struct line_record *out = NULL;
    size_t n = 0;
    int rc = fee_set_decode(blob, len, &out, &n);

    assert_true(rc == 0 || out == NULL);
    free(out);
    return rc;
}

/* Every cut of a good blob, and each damage below, is refused: -EIO, nothing read past. */
static void test_damage_refused(void **state)
{
    (void)state;
    struct line_record in[3];
    uint8_t *blob = NULL, *copy;
    size_t len = 0;

    three_lines(in);
    assert_int_equal(fee_set_encode(in, 3, &blob, &len), 0);
    for (size_t cut = 0; cut < len; cut++) {
        copy = malloc(cut ? cut : 1); /* exact size: ASan sees a read past the end */
        memcpy(copy, blob, cut);
        assert_int_equal(decode(copy, cut), -EIO);
        free(copy);
    }
    copy = malloc(len + 1);
    memcpy(copy, blob, len);
    copy[len] = 0; /* a byte after the last line */
    assert_int_equal(decode(copy, len + 1), -EIO);
    copy[0] = 2; /* another layout */
    assert_int_equal(decode(copy, len), -EIO);
    copy[0] = 1;
    assert_int_equal(copy[1], 6); /* three lines: zigzag 6 */
    copy[1] = 4;                  /* two lines announced, three there */
    assert_int_equal(decode(copy, len), -EIO);
    copy[1] = 8; /* four announced */
    assert_int_equal(decode(copy, len), -EIO);
    copy[1] = 0x7e; /* 63: more lines than the bytes could hold */
    assert_int_equal(decode(copy, len), -EIO);
    copy[1] = 1; /* -1 */
    assert_int_equal(decode(copy, len), -EIO);
    copy[1] = 6;
    /* The first string is "L1": length 2 at [2], the bytes, its NUL at [5]. */
    assert_int_equal(copy[2], 4); /* zigzag 2 */
    copy[5] = 'x';                 /* its NUL gone */
    assert_int_equal(decode(copy, len), -EIO);
    copy[5] = 0;
    copy[4] = 0; /* a NUL inside it */
    assert_int_equal(decode(copy, len), -EIO);
    copy[4] = '1';
    assert_int_equal(decode(copy, len), 0);
    free(copy);
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_set),
        cmocka_unit_test(test_encode_refuses_what_cannot_come_back),
        cmocka_unit_test(test_damage_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
