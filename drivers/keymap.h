/* Keyboard-wedge scanners: evdev key events (US layout, as scanners emit by default) to
 * characters, with shift, Enter ending the line. Pure: the evdev source feeds it events. */
#ifndef POSA_DRIVERS_KEYMAP_H
#define POSA_DRIVERS_KEYMAP_H

#include <stdbool.h>
#include <stdint.h>

/* The character keycode gives (shifted or not), 0 for keys that type nothing, '\n' for
 * Enter and keypad Enter. */
char keymap_char(uint16_t keycode, bool shift);

/* Decoder state of one device: which shift keys are down. */
struct keymap_state {
    bool lshift, rshift;
};

/* Feeds one input event (type, code, value as in struct input_event). Returns the
 * character a key press typed, or 0 (releases, modifiers, SYN, unmapped keys). Value 2
 * (autorepeat) types again, as a held key would. */
char keymap_feed(struct keymap_state *s, uint16_t type, uint16_t code, int32_t value);

#endif
