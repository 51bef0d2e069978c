/* For fuzz targets whose parsers hand back strings borrowed from their input's tree:
 * read_str reads one in full, so ASan sees a string that points outside the tree. */
#ifndef POSA_TESTS_FUZZ_READ_STR_H
#define POSA_TESTS_FUZZ_READ_STR_H

#include <stddef.h>
#include <string.h>

static size_t fuzz_sink; /* keeps the reads from being optimized away */

static inline void read_str(const char *s)
{
    if (s)
        fuzz_sink += strlen(s);
}

#endif
