/* Unit tests of drivers/vendor.c: ReadCardBas output parsing and the dlopen'd library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "drivers/vendor.h"

/* The documented sample, with 张三 in GBK. */
#define SAMPLE                                                                                     \
    "639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|"                        \
    "\xD5\xC5\xC8\xFD|00814E43238697159900BF7C7A|1.00|20101001|20201001|"                          \
    "410100813475|T0001|"

static int parse(const char *s, struct card_identity *id)
{
    return vendor_out_parse((const uint8_t *)s, strlen(s), id);
}

static void test_sample(void **state)
{
    struct card_identity id;

    (void)state;
    assert_int_equal(parse(SAMPLE, &id), 0);
    assert_string_equal(id.region, "639900");
    assert_string_equal(id.certno, "111111198101011110");
    assert_string_equal(id.card_no, "X00000019");
    assert_string_equal(id.card_sn, "639900D15600000500BF7C7A48FB4966");
    assert_string_equal(id.name, "\xE5\xBC\xA0\xE4\xB8\x89");
    assert_string_equal(id.spec_version, "1.00");
    assert_int_equal(id.issue_date, 20101001);
    assert_int_equal(id.expiry_date, 20201001);
    assert_string_equal(id.profile, "vendor");
}

static void test_variants(void **state)
{
    struct card_identity id;

    (void)state;
    /* A leading status field, as some wrappers add. */
    assert_int_equal(parse("0|" SAMPLE, &id), 0);
    assert_string_equal(id.card_no, "X00000019");
    /* Lower-case hex card_sn is normalised. */
    assert_int_equal(parse("639900|111111198101011110|X00000019|639900d15600000500bf7c7a48fb4966|"
                           "AB|atr|3.00|20101001|20301001|",
                           &id),
                     0);
    assert_string_equal(id.card_sn, "639900D15600000500BF7C7A48FB4966");
    /* 亅 (81 7C): the 7C is part of the name, not a separator. */
    assert_int_equal(parse("639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|"
                           "\xD5\xC5\x81\x7C|atr|3.00|20101001|20301001|",
                           &id),
                     0);
    assert_string_equal(id.name, "\xE5\xBC\xA0\xE4\xBA\x85");
}

static void test_malformed(void **state)
{
    static const struct {
        const char *text;
        int rc;
    } cases[] = {
        {"", DRV_EVENDOR},
        {"639900|111111198101011110|X00000019|", DRV_EVENDOR},
        {"63990|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|AB|a|1.00|"
         "20101001|20201001|",
         DRV_EVENDOR},
        {"639900|11111119810101111|X00000019|639900D15600000500BF7C7A48FB4966|AB|a|1.00|"
         "20101001|20201001|",
         DRV_EFIELD},
        {"639900|111111198101011110|X0000001|639900D15600000500BF7C7A48FB4966|AB|a|1.00|"
         "20101001|20201001|",
         DRV_EFIELD},
        {"639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB496|AB|a|1.00|"
         "20101001|20201001|",
         DRV_EFIELD},
        {"639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB496G|AB|a|1.00|"
         "20101001|20201001|",
         DRV_EFIELD},
        {"639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966||a|1.00|"
         "20101001|20201001|",
         DRV_EFIELD},
        {"639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|AB|a|1.0|"
         "20101001|20201001|",
         DRV_EFIELD},
        {"639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|AB|a|1.00|"
         "20101301|20201001|",
         DRV_EDATE},
        {"639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|AB|a|1.00|"
         "20101001||",
         DRV_EDATE},
        {"639900|111111198101011110|X00000019|639900D15600000500BF7C7A48FB4966|\xFF|a|1.00|"
         "20101001|20201001|",
         DRV_EGBK},
    };
    struct card_identity id;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(parse(cases[i].text, &id), cases[i].rc);
}

static void test_library(void **state)
{
    struct vendor_lib lib;
    struct card_identity id;
    char path[] = "/tmp/posa-cardbas-XXXXXX";
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, SAMPLE, strlen(SAMPLE)), (ssize_t)strlen(SAMPLE));
    close(fd);
    assert_int_equal(vendor_lib_open(&lib, "/nonexistent/libx.so", NULL), DRV_EVENDOR);
    setenv("POSA_FAKE_INIT_RC", "-11", 1);
    assert_int_equal(vendor_lib_open(&lib, FAKE_LIB_PATH, "{}"), DRV_EVENDOR);
    assert_int_equal(lib.last_rc, -11);
    unsetenv("POSA_FAKE_INIT_RC");
    assert_int_equal(vendor_lib_open(&lib, FAKE_LIB_PATH, "{}"), 0);
    setenv("POSA_FAKE_CARDBAS_FILE", path, 1);
    assert_int_equal(vendor_read_identity(&lib, &id), 0);
    assert_string_equal(id.card_no, "X00000019");
    setenv("POSA_FAKE_CARDBAS_RC", "-2", 1);
    assert_int_equal(vendor_read_identity(&lib, &id), DRV_EVENDOR);
    assert_int_equal(lib.last_rc, -2);
    unsetenv("POSA_FAKE_CARDBAS_RC");
    vendor_lib_close(&lib);
    vendor_lib_close(&lib); /* twice is harmless */
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
