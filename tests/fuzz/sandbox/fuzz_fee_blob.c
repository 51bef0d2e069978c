/* fee_blob_decode on any bytes (a damaged ledger file): it refuses or decodes within bounds,
 * and the lines it decodes encode to a blob that decodes to the same lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/fee_blob.h"

static struct ledger_fee *decoded(const uint8_t *data, size_t size, int *ret_n)
{
    int n = fee_blob_count(data, size);
    struct ledger_fee *lines;

    if (n < 0)
        return NULL;
    if (!(lines = calloc((size_t)n + 1, sizeof(*lines))))
        abort();
    if (fee_blob_decode(data, size, lines) < 0) {
        free(lines);
        return NULL;
    }
    *ret_n = n;
    return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct ledger_fee **ptrs;
    struct ledger_fee *lines, *back;
    uint8_t *blob = NULL;
    size_t len = 0;
    int n = 0, n_back = -1;

    if (!(lines = decoded(data, size, &n)))
        return 0;
    if (!(ptrs = calloc((size_t)n + 1, sizeof(*ptrs))))
        abort();
    for (int i = 0; i < n; i++)
        ptrs[i] = &lines[i];
    if (fee_blob_encode(ptrs, (size_t)n, &blob, &len) < 0)
        abort();
    back = decoded(blob, len, &n_back);
    if (!back || n_back != n || memcmp(back, lines, (size_t)n * sizeof(*lines)) != 0)
        abort();
    free(back);
    free(blob);
    free(ptrs);
    free(lines);
    return 0;
}
