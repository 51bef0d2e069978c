/* The ledger's blobs on any bytes (a damaged ledger file): fee_blob_decode and fee_cover_each
 * refuse or decode within bounds, and what they decode encodes to a blob that decodes to the
 * same (a line's setl_id, in layout 1 only, is not written again). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/fee_blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    for (int i = 0; i < n; i++)
        memset(lines[i].setl_id, 0, sizeof(lines[i].setl_id));
    *ret_n = n;
    return lines;
}

static const struct ledger_fee **pointers(struct ledger_fee *lines, size_t n)
{
    const struct ledger_fee **p = calloc(n + 1, sizeof(*p));

    if (!p)
        abort();
    for (size_t i = 0; i < n; i++)
        p[i] = &lines[i];
    return p;
}

static void lines_round_trip(const uint8_t *data, size_t size)
{
    const struct ledger_fee **ptrs;
    struct ledger_fee *lines, *back;
    uint8_t *blob = NULL;
    size_t len = 0;
    int n = 0, n_back = -1;

    if (!(lines = decoded(data, size, &n)))
        return;
    ptrs = pointers(lines, (size_t)n);
    if (fee_blob_encode(ptrs, (size_t)n, &blob, &len) < 0)
        abort();
    back = decoded(blob, len, &n_back);
    if (!back || n_back != n || memcmp(back, lines, (size_t)n * sizeof(*lines)) != 0)
        abort();
    free(back);
    free(blob);
    free(ptrs);
    free(lines);
}

struct pairs {
    struct ledger_fee *f;
    size_t n, cap;
};

static int collect(const char *msgid, const char *sn, void *data)
{
    struct pairs *p = data;

    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        if (!(p->f = realloc(p->f, p->cap * sizeof(*p->f))))
            abort();
    }
    memset(&p->f[p->n], 0, sizeof(p->f[0]));
    strcpy(p->f[p->n].msgid, msgid);
    strcpy(p->f[p->n++].feedetl_sn, sn);
    return 0;
}

static void cover_round_trip(const uint8_t *data, size_t size)
{
    struct pairs first = {0}, again = {0};
    const struct ledger_fee **ptrs;
    uint8_t *blob = NULL;
    size_t len = 0;

    if (fee_cover_each(data, size, collect, &first) < 0) {
        free(first.f);
        return;
    }
    ptrs = pointers(first.f, first.n);
    if (fee_cover_encode(ptrs, first.n, &blob, &len) < 0 ||
        fee_cover_each(blob, len, collect, &again) < 0 || again.n != first.n ||
        (first.n && memcmp(again.f, first.f, first.n * sizeof(*first.f)) != 0))
        abort();
    free(blob);
    free(ptrs);
    free(first.f);
    free(again.f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lines_round_trip(data, size);
    cover_round_trip(data, size);
    return 0;
}
