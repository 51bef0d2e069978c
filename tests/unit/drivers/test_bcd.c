/* Unit tests of drivers/bcd.c: card dates and F-padded digit strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "drivers/bcd.h"
#include "core/err.h"

static void test_dates(void **state)
{
    static const struct {
        const char *bcd;
        size_t len;
        int rc;
        int32_t date;
    } cases[] = {
        {"\x20\x20\x10\x01", 4, 0, 20201001},  {"\x20\x24\x02\x29", 4, 0, 20240229}, /* leap year */
        {"\x20\x23\x02\x29", 4, DRV_EDATE, 0}, /* not a leap year */
        {"\x19\x00\x02\x29", 4, DRV_EDATE, 0}, /* century, not leap */
        {"\x20\x00\x02\x29", 4, 0, 20000229},  /* 400-year leap */
        {"\x20\x20\x13\x01", 4, DRV_EDATE, 0}, /* month 13 */
        {"\x20\x20\x00\x01", 4, DRV_EDATE, 0}, /* month 0 */
        {"\x20\x20\x04\x31", 4, DRV_EDATE, 0}, /* April 31 */
        {"\x20\x2A\x01\x01", 4, DRV_EDATE, 0}, /* nibble A */
        {"\xFF\xFF\xFF\xFF", 4, DRV_EDATE, 0}, /* blank */
        {"\x20\x20\x10", 3, DRV_EDATE, 0},     /* short */
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t d = -1;
        int rc = bcd_date_decode((const uint8_t *)cases[i].bcd, cases[i].len, &d);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(d, rc == 0 ? cases[i].date : -1);
    }
}

static void test_digits(void **state)
{
    char out[7];

    (void)state;
    assert_int_equal(bcd_digits_decode((const uint8_t *)"\x33\x01\x02", 3, out, sizeof out), 0);
    assert_string_equal(out, "330102");
    assert_int_equal(bcd_digits_decode((const uint8_t *)"\x33\x01\xFF", 3, out, sizeof out), 0);
    assert_string_equal(out, "3301");
    assert_int_equal(bcd_digits_decode((const uint8_t *)"\x33\x0F\xFF", 3, out, sizeof out), 0);
    assert_string_equal(out, "330");
    assert_int_equal(bcd_digits_decode((const uint8_t *)"\xFF\xFF\xFF", 3, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(bcd_digits_decode((const uint8_t *)"\x3F\x01\xFF", 3, out, sizeof out),
                     DRV_EFIELD); /* digit after padding */
    assert_int_equal(bcd_digits_decode((const uint8_t *)"\x3A\xFF\xFF", 3, out, sizeof out),
                     DRV_EFIELD);
    assert_int_equal(bcd_digits_decode((const uint8_t *)"\x33\x01\x02\x03", 4, out, sizeof out),
                     DRV_EFIELD); /* does not fit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
