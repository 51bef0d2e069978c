/* evdev keycode -> character map (US layout) and the shift state machine. */
#include "drivers/keymap.h"

#include <linux/input-event-codes.h>

/* [keycode] = { plain, shifted }. Scanners send letters with shift for upper case
 * (they do not rely on Caps Lock), so Caps Lock is ignored. */
static const char keymap[KEY_KPDOT + 1][2] = {
    [KEY_1] = {'1', '!'},           [KEY_2] = {'2', '@'},          [KEY_3] = {'3', '#'},
    [KEY_4] = {'4', '$'},           [KEY_5] = {'5', '%'},          [KEY_6] = {'6', '^'},
    [KEY_7] = {'7', '&'},           [KEY_8] = {'8', '*'},          [KEY_9] = {'9', '('},
    [KEY_0] = {'0', ')'},           [KEY_MINUS] = {'-', '_'},      [KEY_EQUAL] = {'=', '+'},
    [KEY_TAB] = {'\t', '\t'},       [KEY_Q] = {'q', 'Q'},          [KEY_W] = {'w', 'W'},
    [KEY_E] = {'e', 'E'},           [KEY_R] = {'r', 'R'},          [KEY_T] = {'t', 'T'},
    [KEY_Y] = {'y', 'Y'},           [KEY_U] = {'u', 'U'},          [KEY_I] = {'i', 'I'},
    [KEY_O] = {'o', 'O'},           [KEY_P] = {'p', 'P'},          [KEY_LEFTBRACE] = {'[', '{'},
    [KEY_RIGHTBRACE] = {']', '}'},  [KEY_ENTER] = {'\n', '\n'},    [KEY_A] = {'a', 'A'},
    [KEY_S] = {'s', 'S'},           [KEY_D] = {'d', 'D'},          [KEY_F] = {'f', 'F'},
    [KEY_G] = {'g', 'G'},           [KEY_H] = {'h', 'H'},          [KEY_J] = {'j', 'J'},
    [KEY_K] = {'k', 'K'},           [KEY_L] = {'l', 'L'},          [KEY_SEMICOLON] = {';', ':'},
    [KEY_APOSTROPHE] = {'\'', '"'}, [KEY_GRAVE] = {'`', '~'},      [KEY_BACKSLASH] = {'\\', '|'},
    [KEY_Z] = {'z', 'Z'},           [KEY_X] = {'x', 'X'},          [KEY_C] = {'c', 'C'},
    [KEY_V] = {'v', 'V'},           [KEY_B] = {'b', 'B'},          [KEY_N] = {'n', 'N'},
    [KEY_M] = {'m', 'M'},           [KEY_COMMA] = {',', '<'},      [KEY_DOT] = {'.', '>'},
    [KEY_SLASH] = {'/', '?'},       [KEY_KPASTERISK] = {'*', '*'}, [KEY_SPACE] = {' ', ' '},
    [KEY_KP7] = {'7', '7'},         [KEY_KP8] = {'8', '8'},        [KEY_KP9] = {'9', '9'},
    [KEY_KPMINUS] = {'-', '-'},     [KEY_KP4] = {'4', '4'},        [KEY_KP5] = {'5', '5'},
    [KEY_KP6] = {'6', '6'},         [KEY_KPPLUS] = {'+', '+'},     [KEY_KP1] = {'1', '1'},
    [KEY_KP2] = {'2', '2'},         [KEY_KP3] = {'3', '3'},        [KEY_KP0] = {'0', '0'},
    [KEY_KPDOT] = {'.', '.'},
};

char keymap_char(uint16_t keycode, bool shift)
{
    if (keycode == KEY_KPENTER)
        return '\n';
    if (keycode == KEY_KPSLASH)
        return '/';
    if (keycode >= sizeof keymap / sizeof keymap[0])
        return 0;
    return keymap[keycode][shift ? 1 : 0];
}

char keymap_feed(struct keymap_state *s, uint16_t type, uint16_t code, int32_t value)
{
    if (type != EV_KEY)
        return 0;
    if (code == KEY_LEFTSHIFT || code == KEY_RIGHTSHIFT) {
        bool *down = code == KEY_LEFTSHIFT ? &s->lshift : &s->rshift;
        *down = value != 0;
        return 0;
    }
    if (value != 1 && value != 2)
        return 0;
    return keymap_char(code, s->lshift || s->rshift);
}
