/* Fuzz target: masking of the platform's free text for the log (mask_free_text), at every
 * buffer size from 0 to past the input's: the output ends in a NUL within the buffer, and
 * no run of 15 or more digits of the input shows whole in it. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, *out;

    if (size > 4096)
        return 0;
    text = malloc(size + 1);
    out = malloc(size + 16);
    if (!text || !out)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t cap = 0; cap <= size + 16; cap += cap < 32 ? 1 : 61) {
        memset(out, 'Z', size + 16);
        mask_free_text(text, out, cap);
        if (cap && !memchr(out, '\0', cap))
            abort();
    }
    mask_free_text(text, out, size + 16);
    for (size_t i = 0; i + 15 <= strlen(text); i++)
        if (strspn(text + i, "0123456789") >= 15 && memmem(out, strlen(out), text + i, 15))
            abort(); /* a whole ID number in the log */
    free(text);
    free(out);
    return 0;
}
