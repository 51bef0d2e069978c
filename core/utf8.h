/* UTF-8 validation of text from outside: the HIS API and the national interface are UTF-8
 * JSON, and an HIS that sends GBK must hear so on its first request, not pass bytes on. */
#ifndef POSA_CORE_UTF8_H
#define POSA_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Is text[0..len) well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF)?
 * On false, *ret_offset (may be NULL) is the offset of the first bad byte. */
bool utf8_is_valid(const char *text, size_t len, size_t *ret_offset);

/* len, less a last character cut short (by a fixed buffer that ended inside it), so that the
 * text does not end in half a character. */
size_t utf8_uncut_len(const char *text, size_t len);

#endif
