/* Unit tests of drivers/ssc.c: record TLV, field decoding and the plain read against the
 * C fake card (T=0, strict Le, missing EF06, card leaving mid-read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "drivers/card_profile.h"
#include "core/err.h"
#include "drivers/ssc.h"
#include "fake_card.h"

static void test_record_parse(void **state)
{
    const uint8_t *v;
    size_t n;
    const uint8_t ok[] = {0x07, 0x03, 'A', 'B', 'C'};
    const uint8_t short_rec[] = {0x07, 0x04, 'A', 'B', 'C'};
    const uint8_t trailing[] = {0x07, 0x01, 'A', 'B'};

    (void)state;
    assert_int_equal(ssc_record_parse(ok, sizeof ok, 0x07, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_ptr_equal(v, ok + 2);
    assert_int_equal(ssc_record_parse(ok, sizeof ok, 0x08, &v, &n), DRV_ERECORD);
    assert_int_equal(ssc_record_parse(short_rec, sizeof short_rec, 0x07, &v, &n), DRV_ERECORD);
    assert_int_equal(ssc_record_parse(ok, 1, 0x07, &v, &n), DRV_ERECORD);
    assert_int_equal(ssc_record_parse(ok, 0, 0x07, &v, &n), DRV_ERECORD);
    /* bytes after the value are tolerated (some cards pad the answer to Le) */
    assert_int_equal(ssc_record_parse(trailing, sizeof trailing, 0x07, &v, &n), 0);
    assert_int_equal(n, 1);
}

static void test_fields(void **state)
{
    struct card_identity id = {0};
    const uint8_t sn[16] = {0x63, 0x99, 0x00, 0xD1, 0x56, 0x00, 0x00, 0x05,
                            0x00, 0xBF, 0x7C, 0x7A, 0x48, 0xFB, 0x49, 0x66};

    (void)state;
    assert_int_equal(ssc_field_decode(&id, 0x01, sn, 16), 0);
    assert_string_equal(id.card_sn, "639900D15600000500BF7C7A48FB4966");
    assert_string_equal(id.region, "639900");
    assert_int_equal(ssc_field_decode(&id, 0x01, sn, 15), DRV_EFIELD);
    assert_int_equal(ssc_field_decode(&id, 0x03, (const uint8_t *)"2.00", 4), 0);
    assert_string_equal(id.spec_version, "2.00");
    assert_int_equal(ssc_field_decode(&id, 0x03, (const uint8_t *)"2-00", 4), DRV_EFIELD);
    assert_int_equal(ssc_field_decode(&id, 0x07, (const uint8_t *)"X00000019\0\0", 11), 0);
    assert_string_equal(id.card_no, "X00000019");
    assert_int_equal(ssc_field_decode(&id, 0x07, (const uint8_t *)"X0000001", 8), DRV_EFIELD);
    assert_int_equal(ssc_field_decode(&id, 0x08, (const uint8_t *)"11111119810101111x", 18), 0);
    assert_string_equal(id.certno, "11111119810101111X");
    assert_int_equal(ssc_field_decode(&id, 0x08, (const uint8_t *)"1111111981010111X1", 18),
                     DRV_EFIELD);
    assert_int_equal(ssc_field_decode(&id, 0x08, (const uint8_t *)"111111810101111", 15), 0);
    assert_int_equal(ssc_field_decode(&id, 0x0A, (const uint8_t *)"2", 1), 0);
    assert_int_equal(id.sex, '2');
    assert_int_equal(ssc_field_decode(&id, 0x0A, (const uint8_t *)"M", 1), DRV_EFIELD);
    assert_int_equal(ssc_field_decode(&id, 0x0B, (const uint8_t *)"\x56", 1), 0);
    assert_int_equal(id.nation, 56);
    assert_int_equal(ssc_field_decode(&id, 0x0B, (const uint8_t *)"\x5A", 1), DRV_EFIELD);
    assert_int_equal(ssc_field_decode(&id, 0x0C, (const uint8_t *)"\x63\x99\xFF", 3), 0);
    assert_string_equal(id.birthplace, "6399");
    assert_int_equal(ssc_field_decode(&id, 0x0D, (const uint8_t *)"\x19\x81\x01\x01", 4), 0);
    assert_int_equal(id.birth_date, 19810101);
    assert_int_equal(ssc_field_decode(&id, 0x0D, (const uint8_t *)"\x19\x81\x02\x30", 4),
                     DRV_EDATE);
    assert_int_equal(ssc_field_decode(&id, 0x77, (const uint8_t *)"x", 1), 0); /* ignored */
}

static void test_name_and_extension(void **state)
{
    struct card_identity id = {0};
    /* 朱 in 姓名 (space-padded), 镕基 in 姓名扩展 (00-padded). */
    const uint8_t name[30] = {0xD6, 0xEC, ' ', ' ', ' '};
    const uint8_t ext[20] = {0xE9, 0x46, 0xBB, 0xF9};

    (void)state;
    assert_int_equal(ssc_field_decode(&id, 0x09, name, sizeof name), 0);
    assert_string_equal(id.name, "\xE6\x9C\xB1");
    assert_int_equal(ssc_field_decode(&id, 0x4E, ext, sizeof ext), 0);
    assert_string_equal(id.name, "\xE6\x9C\xB1\xE9\x95\x95\xE5\x9F\xBA"); /* 朱镕基 */

    /* FF-padded, as other fields may be (it was "not valid GBK" for good) */
    uint8_t ff[30];
    memset(ff, 0xFF, sizeof ff);
    memcpy(ff, "\xD5\xC5\xBD\xA8\xB9\xFA", 6); /* 张建国 */
    memset(&id, 0, sizeof id);
    assert_int_equal(ssc_field_decode(&id, 0x09, ff, sizeof ff), 0);
    assert_string_equal(id.name, "\xE5\xBC\xA0\xE5\xBB\xBA\xE5\x9B\xBD");
    ff[2] = 0xFF; /* inside the name: no padding, and no GBK */
    memset(&id, 0, sizeof id);
    assert_int_equal(ssc_field_decode(&id, 0x09, ff, sizeof ff), DRV_EGBK);
}

static struct fake_card card_default(void)
{
    struct fake_card c = {
        .recs = fake_recs_default, .nrecs = fake_recs_default_n, .has_ssse = true};
    return c;
}

static void check_default_identity(const struct card_identity *id)
{
    assert_string_equal(id->card_no, "A00000001");
    assert_string_equal(id->card_sn, "331100D15600000599110145ABCDEF01");
    assert_string_equal(id->region, "331100");
    assert_string_equal(id->certno, "33010219900307123X");
    assert_string_equal(id->name, "\xE5\xBC\xA0\xE4\xB8\x89"); /* 张三 */
    assert_string_equal(id->spec_version, "3.00");
    assert_int_equal(id->card_type, '3');
    assert_int_equal(id->issue_date, 20201001);
    assert_int_equal(id->expiry_date, 20301001);
    assert_int_equal(id->birth_date, 19900307);
    assert_string_equal(id->birthplace, "330102");
    assert_int_equal(id->sex, '1');
    assert_int_equal(id->nation, 1);
    assert_string_equal(id->profile, "ssc");
}

static void test_read_plain(void **state)
{
    struct fake_card c = card_default();
    struct apdu_io io = {fake_card_transmit, &c};
    struct card_identity id;

    (void)state;
    assert_int_equal(ssc_read_identity(&io, &id), 0);
    check_default_identity(&id);
}

static void test_read_t0_and_strict_le(void **state)
{
    struct fake_card c = card_default();
    struct apdu_io io = {fake_card_transmit, &c};
    struct card_identity id;

    (void)state;
    c.t0 = true;
    c.strict_le = true;
    assert_int_equal(ssc_read_identity(&io, &id), 0);
    check_default_identity(&id);
}

static void test_read_strict_le_shorter_record(void **state)
{
    /* A card whose 姓名 record is 20 bytes, not 30: 6C16 then the resend. */
    struct fake_rec recs[16];
    memcpy(recs, fake_recs_default, fake_recs_default_n * sizeof recs[0]);
    recs[8].len = 20;
    struct fake_card c = card_default();
    c.recs = recs;
    c.strict_le = true;
    struct apdu_io io = {fake_card_transmit, &c};
    struct card_identity id;

    (void)state;
    assert_int_equal(ssc_read_identity(&io, &id), 0);
    assert_string_equal(id.name, "\xE5\xBC\xA0\xE4\xB8\x89");
}

static void test_read_ef06_missing(void **state)
{
    struct fake_card c = card_default();
    struct apdu_io io = {fake_card_transmit, &c};
    struct card_identity id;

    (void)state;
    memset(&id, 0x5A, sizeof id);
    c.missing_fid = 0xEF06;
    assert_int_equal(ssc_read_identity(&io, &id), DRV_ESW_FILE);
    assert_int_equal((uint8_t)id.card_no[0], 0x5A); /* untouched: nothing half-filled */
}

static void test_read_required_record_absent(void **state)
{
    struct fake_rec recs[16];
    memcpy(recs, fake_recs_default, fake_recs_default_n * sizeof recs[0]);
    recs[7].val = NULL; /* 社会保障号码 */
    struct fake_card c = card_default();
    c.recs = recs;
    struct apdu_io io = {fake_card_transmit, &c};
    struct card_identity id;

    (void)state;
    assert_int_equal(ssc_read_identity(&io, &id), DRV_ESW_RECORD);
    recs[7] = fake_recs_default[7];
    recs[1].val = NULL; /* 卡的类别 is optional */
    c.apdus = 0;
    assert_int_equal(ssc_read_identity(&io, &id), 0);
    assert_int_equal(id.card_type, 0);
}

/* Optional records present but never written (all 00, 20 or FF, as issuers leave them):
 * read as absent, the card still readable. A written but malformed one is still refused. */
static void test_read_blank_optional_records(void **state)
{
    static const uint8_t ff[4] = {0xFF, 0xFF, 0xFF, 0xFF}, zero[20] = {0}, spaces[1] = {0x20};
    struct fake_rec recs[16];
    memcpy(recs, fake_recs_default, fake_recs_default_n * sizeof recs[0]);
    recs[1].val = ff;    /* 卡的类别 */
    recs[4].val = zero;  /* 发卡日期 */
    recs[5].val = ff;    /* 卡有效期 */
    recs[10].val = ff;   /* 民族 */
    recs[11].val = ff;   /* 出生地 */
    recs[12].val = zero; /* 出生日期 */
    struct fake_card c = card_default();
    c.recs = recs;
    struct apdu_io io = {fake_card_transmit, &c};
    struct card_identity id;

    (void)state;
    assert_int_equal(ssc_read_identity(&io, &id), 0);
    assert_string_equal(id.certno, "33010219900307123X");
    assert_int_equal(id.card_type, 0);
    assert_int_equal(id.issue_date, 0);
    assert_int_equal(id.expiry_date, 0);
    assert_int_equal(id.nation, 0);
    assert_string_equal(id.birthplace, "");
    assert_int_equal(id.birth_date, 0);
    assert_int_equal(id.sex, '1');
    recs[9].val = spaces; /* 性别 blank too */
    c.apdus = 0;
    assert_int_equal(ssc_read_identity(&io, &id), 0);
    assert_int_equal(id.sex, 0);
    recs[10].val = spaces; /* 民族 0x20 is a value: code 20 (傈僳族), not padding */
    c.apdus = 0;
    assert_int_equal(ssc_read_identity(&io, &id), 0);
    assert_int_equal(id.nation, 20);
    recs[10].val = (const uint8_t *)"\xA1"; /* 民族 written, not BCD: damage */
    c.apdus = 0;
    assert_int_equal(ssc_read_identity(&io, &id), DRV_EFIELD);
}

static void test_read_card_leaves_midway(void **state)
{
    struct fake_card c = card_default();
    struct apdu_io io = {fake_card_transmit, &c};
    struct card_identity id;

    (void)state;
    for (int n = 1; n < 17; n++) {
        c = card_default();
        c.fail_after = n;
        assert_int_equal(ssc_read_identity(&io, &id), DRV_EGONE);
    }
}

static void test_profiles(void **state)
{
    struct card_probe p = {NULL, 0, 0, false};

    (void)state;
    assert_string_equal(card_profile_find(&p)->name, "ssc");
    p.vendor_loaded = true;
    assert_string_equal(card_profile_find(&p)->name, "vendor");
    p.ssse = DRV_ESW_FILE;
    assert_string_equal(card_profile_find(&p)->name, "iso");
    p.ssse = DRV_ESW_INS;
    assert_string_equal(card_profile_find(&p)->name, "iso");
    p.ssse = DRV_EGONE;
    assert_null(card_profile_find(&p));

    struct fake_card c = card_default();
    struct card_io io = {{fake_card_transmit, &c}, NULL};
    struct card_identity id;
    c.has_ssse = false;
    p = (struct card_probe){NULL, 0, ssc_select(&io.apdu), false};
    const struct card_profile *prof = card_profile_find(&p);
    assert_string_equal(prof->name, "iso");
    assert_int_equal(prof->read_identity(&io, &id), DRV_ENOT_SSC);
}

static void test_expiry(void **state)
{
    struct card_identity id = {.expiry_date = 20240301};

    (void)state;
    card_identity_check_expiry(&id, 20240301);
    assert_false(id.expired);
    card_identity_check_expiry(&id, 20240302);
    assert_true(id.expired);
    id.expiry_date = 0;
    card_identity_check_expiry(&id, 20240302);
    assert_false(id.expired);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_parse),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_name_and_extension),
        cmocka_unit_test(test_read_plain),
        cmocka_unit_test(test_read_t0_and_strict_le),
        cmocka_unit_test(test_read_strict_le_shorter_record),
        cmocka_unit_test(test_read_ef06_missing),
        cmocka_unit_test(test_read_blank_optional_records),
        cmocka_unit_test(test_read_required_record_absent),
        cmocka_unit_test(test_read_card_leaves_midway),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
