/* libFuzzer target: the desk flow's answer decoders (1101; 1312, the catalog by pages;
 * 2204/2301; 2206/2207, 2303/2304 and the cancels; 3201; 3202) on any bytes that parse as JSON.
 * Each decoder reads the document's `output`, as posad does after the envelope, or the document
 * itself when it has none. What a decoder hands back is borrowed from the tree: every string is
 * read through here, so ASan sees one that points outside it, and every count must stay in its
 * bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interface/json/catalog_json.h"
#include "interface/json/jsonmap.h"
#include "interface/platform/desk_msgs.h"
#include "tests/fuzz/read_str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_split(const struct desk_fee_split *row, void *data)
{
    (void)data;
    read_str(row->feedetl_sn);
    return 0;
}

static int on_mismatch(struct json_object *row, bool platform_only, void *data)
{
    (void)data;
    fuzz_sink += (size_t)platform_only + (row != NULL);
    return 0;
}

static void decode_person(struct json_object *output)
{
    struct desk_person p;
    struct jsonmap_error err;

    if (desk_1101_decode(output, &p, &err) < 0)
        return;
    if (p.n_insurance > DESK_INSURANCE_MAX || p.n_filings > BOUND_FILINGS)
        abort();
    read_str(p.psn_no);
    read_str(p.psn_name);
    read_str(p.certno);
    for (size_t i = 0; i < p.n_insurance; i++)
        read_str(p.insurance[i].insutype);
}

static void decode_settlement(struct json_object *output)
{
    struct desk_settlement s;
    struct jsonmap_error err;

    if (desk_settlement_decode(output, &s, &err) < 0)
        return;
    if (s.n_funds > DESK_FUNDS_MAX)
        abort();
    read_str(s.setl_id);
    read_str(s.mdtrt_id);
    read_str(s.setl_time);
    for (size_t i = 0; i < s.n_funds; i++)
        read_str(s.funds[i].fund_pay_type);
}

/* A page of the catalog as posad reads it: its count within the bound, its rows mapped. */
static void decode_catalog(struct json_object *output)
{
    struct catalog_item *items = NULL;
    struct json_object *rows;
    struct jsonmap_error err;
    int64_t pages, total;
    size_t n = 0, skipped = 0;

    if (desk_1312_decode(output, 1, 1000, &rows, &pages, &total, &err) < 0)
        return;
    if ((pages < 1 && pages != -1) || pages > 1000) /* -1: not given */
        abort();
    if (catalog_json_append(rows, &catalog_keys_1312, 20261127, &items, &n, &skipped, &err) == 0)
        for (size_t i = 0; i < n; i++) {
            read_str(items[i].list_code);
            read_str(items[i].name);
        }
    free(items);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *root, *output = NULL;
    struct jsonmap_error err;
    const char *text;
    bool match;

    if (jsonmap_parse((const char *)data, size, &root, &err) < 0)
        return 0;
    if (!json_object_object_get_ex(root, "output", &output) || !output)
        output = root;
    decode_person(output);
    decode_catalog(output);
    desk_fees_decode(output, on_split, NULL, &err);
    decode_settlement(output);
    if (desk_3201_decode(output, &match, &text, &err) == 0)
        read_str(text);
    desk_3202_decode(output, on_mismatch, NULL, &err);
    json_object_put(root);
    return 0;
}
