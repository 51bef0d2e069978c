/* Unit tests of drivers/keymap.c: keycodes to characters, shift, Enter, a recorded scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/input-event-codes.h>

#include "drivers/keymap.h"

static void test_chars(void **state)
{
    (void)state;
    assert_int_equal(keymap_char(KEY_A, false), 'a');
    assert_int_equal(keymap_char(KEY_A, true), 'A');
    assert_int_equal(keymap_char(KEY_1, false), '1');
    assert_int_equal(keymap_char(KEY_1, true), '!');
    assert_int_equal(keymap_char(KEY_0, true), ')');
    assert_int_equal(keymap_char(KEY_SLASH, true), '?');
    assert_int_equal(keymap_char(KEY_EQUAL, false), '=');
    assert_int_equal(keymap_char(KEY_ENTER, false), '\n');
    assert_int_equal(keymap_char(KEY_KPENTER, false), '\n');
    assert_int_equal(keymap_char(KEY_KP7, false), '7');
    assert_int_equal(keymap_char(KEY_LEFTCTRL, false), 0);
    assert_int_equal(keymap_char(KEY_F1, false), 0);
    assert_int_equal(keymap_char(0xFFFF, false), 0);
}

/* A scanner typing "aB:" then Enter: shift pressed around B and ':' (events as evdev
 * delivers them, EV_SYN between). */
static void test_recorded_stream(void **state)
{
    static const struct {
        uint16_t type, code;
        int32_t value;
    } evs[] = {
        {EV_MSC, MSC_SCAN, 0x70004}, {EV_KEY, KEY_A, 1},         {EV_SYN, SYN_REPORT, 0},
        {EV_KEY, KEY_A, 0},          {EV_SYN, SYN_REPORT, 0},    {EV_KEY, KEY_LEFTSHIFT, 1},
        {EV_KEY, KEY_B, 1},          {EV_KEY, KEY_B, 0},         {EV_KEY, KEY_RIGHTSHIFT, 1},
        {EV_KEY, KEY_LEFTSHIFT, 0},  {EV_KEY, KEY_SEMICOLON, 1}, {EV_KEY, KEY_SEMICOLON, 0},
        {EV_KEY, KEY_RIGHTSHIFT, 0}, {EV_KEY, KEY_SEMICOLON, 2}, /* autorepeat */
        {EV_KEY, KEY_ENTER, 1},      {EV_KEY, KEY_ENTER, 0},
    };
    struct keymap_state s = {0};
    char out[16];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        char c = keymap_feed(&s, evs[i].type, evs[i].code, evs[i].value);
        if (c)
            out[n++] = c;
    }
    out[n] = '\0';
    assert_string_equal(out, "aB:;\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chars),
        cmocka_unit_test(test_recorded_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
