#include "core/str.h"

#include <string.h>

bool str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    bool fits = n < cap;

    if (cap == 0)
        return false;
    if (!fits)
        n = cap - 1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    return fits;
}

bool str_index(char *dst, size_t cap, const char *name, size_t i)
{
    char num[24], *p = num + sizeof(num);
    size_t n = name ? strlen(name) : 0;

    *--p = '\0';
    *--p = ']';
    do
        *--p = (char)('0' + i % 10);
    while (i /= 10);
    *--p = '[';
    if (cap == 0)
        return false;
    if (n >= cap) {
        str_copy(dst, cap, name);
        return false;
    }
    memcpy(dst, name ? name : "", n);
    return str_copy(dst + n, cap - n, p);
}
