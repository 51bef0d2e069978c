/* fee_set_decode on any bytes (a damaged database file): it refuses or decodes within
 * bounds, and what it decodes encodes to a blob that decodes to the same lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/fee_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_line(const struct line_record *a, const struct line_record *b)
{
    const char *sa[] = {a->list_code,           a->name,         a->time,
                        a->outside_institution, a->outside_form, a->cancel_msgid};
    const char *sb[] = {b->list_code,           b->name,         b->time,
                        b->outside_institution, b->outside_form, b->cancel_msgid};

    if (strcmp(a->his_line_id, b->his_line_id) || strcmp(a->feedetl_sn, b->feedetl_sn) ||
        strcmp(a->state, b->state) || a->seq != b->seq || a->qty_e4 != b->qty_e4 ||
        a->price_e6 != b->price_e6 || memcmp(&a->split, &b->split, sizeof a->split) ||
        a->outside_kind != b->outside_kind)
        abort();
    for (size_t k = 0; k < sizeof sa / sizeof sa[0]; k++)
        if (strcmp(sa[k], sb[k]) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct line_record *lines = NULL, *back = NULL;
    size_t n = 0, n_back = 0, len = 0;
    uint8_t *blob = NULL;

    if (fee_set_decode(data, size, &lines, &n) < 0)
        return 0;
    if (fee_set_encode(lines, n, &blob, &len) < 0 ||
        fee_set_decode(blob, len, &back, &n_back) < 0 || n_back != n)
        abort();
    for (size_t i = 0; i < n; i++)
        same_line(&lines[i], &back[i]);
    free(back);
    free(blob);
    free(lines);
    return 0;
}
