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
