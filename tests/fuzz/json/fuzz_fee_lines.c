/* Fuzz target: the HIS fee-line JSON parser, and the split of whatever it accepts against a
 * small catalog (the four parts must always sum to the amount). */
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/split.h"
#include "interface/json/fee_lines.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct catalog_item items[] = {
        {"A1", "a", LV_A, 1, 0, PRICE_NO_LIMIT, 0},
        {"B1", "b", LV_B, 9, 100000, 12500000, 0},
        {"C1", "c", LV_C, 14, 0, PRICE_NO_LIMIT, 0},
    };
    struct catalog_index index;
    struct fee_lines lines;
    struct jsonmap_error err;
    size_t bad;

    if (catalog_index_init(&index, items, 3, &bad) < 0)
        abort();
    int rc = fee_lines_parse((const char *)data, size, 1000, &lines, &err);

    if (rc == POSA_EDUPLICATE && !err.field[0]) /* a key given twice is named */
        abort();
    if (rc < 0)
        return 0;
    for (size_t i = 0; i < lines.n; i++) {
        struct split s;
        const struct fee_line *f = &lines.lines[i].fee;

        if (split_line(f, catalog_index_find(&index, f->list_code), &s) < 0)
            continue;
        if (s.fulamt_ownpay + s.overlmt + s.preselfpay + s.inscp != f->amount_fen)
            abort();
    }
    fee_lines_done(&lines);
    return 0;
}
