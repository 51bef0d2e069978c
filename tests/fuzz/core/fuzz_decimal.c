/* Fuzz target: the decimal parser at every scale, and that what it accepts formats back
 * to text that parses to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/decimal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int scales[] = {DEC_MONEY, DEC_QTY, DEC_PRICE};

    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        int64_t v, again;
        char text[DEC_FORMAT_MAX];
        int len;

        if (dec_parse((const char *)data, size, scales[i], &v) < 0)
            continue;
        len = dec_format(v, scales[i], text, sizeof text);
        if (len < 0 || dec_parse(text, (size_t)len, scales[i], &again) < 0 || again != v)
            abort();
    }
    return 0;
}
