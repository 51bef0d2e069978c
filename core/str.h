/* Copying a C string into a fixed buffer. */
#ifndef POSA_CORE_STR_H
#define POSA_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src (NULL: "") into dst of cap bytes, cut to fit and terminated (cap 0: nothing is
 * written); true when all of it fit. What snprintf(dst, cap, "%s", src) does, without parsing a
 * format: the sandbox copies a dozen fields of every fee line this way. */
bool str_copy(char *dst, size_t cap, const char *src);

#endif
