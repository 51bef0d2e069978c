#include "core/str.h"

#include <string.h>

#include "core/bound.h"
#include "core/utf8.h"

bool str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    bool fits = n < cap;

    if (cap == 0)
        return false;
    if (!fits) { /* cut before the character the end would split: the text stays UTF-8 */
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return fits;
}

const char *str_decimal(char buf[STR_DECIMAL_MAX], uint64_t n)
{
    char *p = buf + STR_DECIMAL_MAX;

    *--p = '\0';
    do
        *--p = (char)('0' + n % 10);
    while (n /= 10);
    return p;
}

bool str_index(char *dst, size_t cap, const char *name, size_t i)
{
    char num[STR_DECIMAL_MAX], part[STR_DECIMAL_MAX + 2] = "[";
    size_t n = name ? strlen(name) : 0;

    strcat(strcat(part, str_decimal(num, i)), "]");
    if (cap == 0)
        return false;
    if (n >= cap) {
        str_copy(dst, cap, name);
        return false;
    }
    memcpy(dst, name ? name : "", n);
    return str_copy(dst + n, cap - n, part);
}

uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether code point u (not ASCII) may be in a desk id: not a control, a blank, a separator
 * or punctuation of the blocks that hold them (C1 and Latin-1's, General Punctuation with its
 * spaces and U+2028/9, CJK Symbols and Punctuation with U+3000, the BOM, specials). */
static bool desk_char_ok(uint32_t u)
{
    return u > 0xBF && !(u >= 0x2000 && u <= 0x206F) && !(u >= 0x3000 && u <= 0x303F) &&
           u != 0xFEFF && !(u >= 0xFFF0 && u <= 0xFFFF);
}

bool str_is_desk(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    if (len == 0 || len > BOUND_DESK || !utf8_is_valid(s, len, NULL))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned c = *p, n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        uint32_t u = n == 1 ? c : c & (0x7F >> n);
        bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');

        for (unsigned i = 1; i < n; i++) /* well-formed: utf8_is_valid said so */
            u = u << 6 | (p[i] & 0x3F);
        if (n == 1 ? !alnum && c != '-' && c != '_' && c != '.' : !desk_char_ok(u))
            return false;
        p += n;
    }
    return true;
}

int str_hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool str_is_code(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}
