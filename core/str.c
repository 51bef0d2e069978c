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

bool str_is_desk(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    if (len == 0 || len > BOUND_DESK || !utf8_is_valid(s, len, NULL))
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (c < 0x80 && !alnum && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
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
