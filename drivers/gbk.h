/* GBK (decoded as its superset GB18030, so rare name characters survive) to UTF-8, for the
 * name fields of cards and of the vendor library's output. Uses glibc iconv, which does no
 * I/O once its converter is loaded; pure otherwise. */
#ifndef POSA_DRIVERS_GBK_H
#define POSA_DRIVERS_GBK_H

#include <stddef.h>
#include <stdint.h>

/* Converts a card text field: the text ends at the first 0x00 byte and trailing spaces
 * are padding. out gets NUL-terminated UTF-8 (possibly empty). 0, DRV_EGBK (invalid or
 * truncated sequence) or POSA_ETOOLONG (does not fit cap). */
int gbk_to_utf8(const uint8_t *in, size_t len, char *out, size_t cap);

/* Length of the GB18030 character starting at s (1, 2 or 4), or 0 if s[0..avail) does not
 * start a valid one. Lets parsers split GBK text on ASCII separators safely: 0x7C '|' is
 * also a valid second byte of a two-byte character. */
size_t gbk_char_len(const uint8_t *s, size_t avail);

#endif
