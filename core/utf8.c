/* Well-formed UTF-8, as RFC 3629 table 3-7 defines it. */
#include "core/utf8.h"

#include <stdint.h>
#include <string.h>

#define HIGH_BITS 0x8080808080808080ULL

/* Length of the sequence at s (up to n bytes), or 0 when it is not well-formed. */
static size_t sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

bool utf8_is_valid(const char *text, size_t len, size_t *ret_offset)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        size_t n;
        uint64_t word;

        /* JSON is mostly ASCII: eight bytes at a time while none has its high bit. */
        while (len - i >= 8 && (memcpy(&word, s + i, 8), (word & HIGH_BITS) == 0))
            i += 8;
        if (i == len)
            break;
        n = sequence(s + i, len - i);

        if (n == 0) {
            if (ret_offset)
                *ret_offset = i;
            return false;
        }
        i += n;
    }
    return true;
}

size_t utf8_uncut_len(const char *text, size_t len)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t start = len;

    while (start > 0 && len - start < 4 && (t[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0 || t[start - 1] < 0xC0)
        return len; /* ends in ASCII, or in stray continuation bytes: no cut to undo */
    start--;        /* the lead byte */
    size_t need = t[start] >= 0xF0 ? 4 : t[start] >= 0xE0 ? 3 : 2;
    return len - start < need ? start : len;
}
