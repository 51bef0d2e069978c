/* posa-split: the split of a bill by the treating region's catalog, offline, as a table.
 * For cashiers' questions ("why is this line self-paid?") and as the core demo:
 *   posa-split [--outpatient] CATALOG.json BILL.json
 * CATALOG.json is a scenario file (its "catalog") or a bare catalog array; BILL.json is the
 * body of POST /v1/visits/{id}/fees. Exit 0 ok, 1 a refused line, 2 bad usage or input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"
#include "core/flags.h"
#include "core/split.h"
#include "interface/json/catalog_json.h"
#include "interface/json/fee_lines.h"
#include "interface/json/jsonmap.h"

static const char *const lv_names[] = {"目录外", "甲类", "乙类", "丙类"};

static const char *yuan(int64_t fen, char buf[DEC_FORMAT_MAX])
{
    money_format(fen, buf, DEC_FORMAT_MAX);
    return buf;
}

/* Prints text in exactly cols terminal columns (CJK characters take two), cut at a
 * character boundary, padded with blanks. */
static void print_cell(const char *text, int cols)
{
    int used = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        int len = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
        int width = len >= 3 ? 2 : 1;

        if (used + width > cols)
            break;
        fwrite(p, 1, (size_t)len, stdout);
        used += width;
        for (int i = 0; i < len && *p; i++)
            p++;
    }
    printf("%*s", cols - used + 1, "");
}

static void print_totals(const char *label, const struct split_totals *t)
{
    char a[DEC_FORMAT_MAX], b[DEC_FORMAT_MAX], c[DEC_FORMAT_MAX], d[DEC_FORMAT_MAX],
        e[DEC_FORMAT_MAX];

    printf("  ");
    print_cell(label, 44);
    printf("%12s %12s %12s %12s %12s\n", yuan(t->amount, a),
           yuan(t->fulamt_ownpay, b), yuan(t->overlmt, c), yuan(t->preselfpay, d),
           yuan(t->inscp, e));
}

static int split_bill(const struct catalog_index *index, const struct fee_lines *bill,
                      enum visit_kind kind)
{
    struct bill totals;

    bill_init(&totals);
    printf("  %-5s %-30s %-6s %12s %12s %12s %12s %12s\n", "line", "item", "class", "amount",
           "fulamt_own", "overlmt", "preselfpay", "inscp");
    for (size_t i = 0; i < bill->n; i++) {
        const struct his_fee_line *l = &bill->lines[i];
        struct split s;
        struct flag outside;
        char a[DEC_FORMAT_MAX], b[DEC_FORMAT_MAX], c[DEC_FORMAT_MAX], d[DEC_FORMAT_MAX],
            e[DEC_FORMAT_MAX];
        int rc = split_line(&l->fee, catalog_index_find(index, l->fee.list_code), &s);

        if (rc == 0 && l->has_outside)
            rc = flags_tag_outside(kind, &l->outside, &outside);
        if (rc == 0)
            rc = bill_add(&totals, &s);
        if (rc < 0) {
            fprintf(stderr, "posa-split: line %s refused: %s\n", l->his_line_id,
                    posa_strerror(rc));
            return 1;
        }
        printf("  %-5s ", l->his_line_id);
        print_cell(l->name ? l->name : l->fee.list_code, 30);
        print_cell(lv_names[s.lv], 6);
        printf("%12s %12s %12s %12s %12s%s\n", yuan(s.amount, a),
               yuan(s.fulamt_ownpay, b), yuan(s.overlmt, c), yuan(s.preselfpay, d),
               yuan(s.inscp, e), l->has_outside ? "  [outside]" : "");
    }
    printf("\n  by category (med_chrgitm_type)\n");
    for (int k = CATEGORY_MIN; k <= CATEGORY_MAX; k++) {
        char label[48];

        if (totals.by_category[k].amount == 0)
            continue;
        snprintf(label, sizeof label, "%02d %s", k, category_name((uint8_t)k));
        print_totals(label, &totals.by_category[k]);
    }
    print_totals("total", &totals.total);
    return 0;
}

int main(int argc, char **argv)
{
    enum visit_kind kind = VISIT_INPATIENT;
    struct json_object *catalog_doc = NULL, *array;
    struct catalog_item *items = NULL;
    struct catalog_index index;
    struct fee_lines bill = {0};
    struct jsonmap_error err = {0};
    char *catalog_text = NULL, *bill_text = NULL;
    size_t catalog_len, bill_len;
    int argi = 1, rc = 2;

    if (argc > 1 && strcmp(argv[1], "--outpatient") == 0) {
        kind = VISIT_OUTPATIENT;
        argi++;
    }
    if (argc - argi != 2) {
        fprintf(stderr, "usage: posa-split [--outpatient] CATALOG.json BILL.json\n");
        return 2;
    }
    if (jsonmap_read_file(argv[argi], BOUND_BODY, &catalog_text, &catalog_len) < 0 ||
        jsonmap_read_file(argv[argi + 1], BOUND_BODY, &bill_text, &bill_len) < 0) {
        fprintf(stderr, "posa-split: cannot read %s\n", catalog_text ? argv[argi + 1] : argv[argi]);
        goto out;
    }
    if (jsonmap_parse(catalog_text, catalog_len, &catalog_doc, &err) < 0) {
        fprintf(stderr, "posa-split: %s: not JSON\n", argv[argi]);
        goto out;
    }
    array = catalog_doc;
    if (json_object_is_type(catalog_doc, json_type_object))
        json_object_object_get_ex(catalog_doc, "catalog", &array);
    if (catalog_json_map(array, &index, &items, &err) < 0) {
        fprintf(stderr, "posa-split: %s: %s: %s\n", argv[argi], err.field, posa_strerror(err.err));
        goto out;
    }
    if (fee_lines_parse(bill_text, bill_len, 50000, &bill, &err) < 0) {
        fprintf(stderr, "posa-split: %s: %s: %s\n", argv[argi + 1], err.field[0] ? err.field : "body",
                posa_strerror(err.err));
        goto out;
    }
    printf("posa-split: %zu lines against %zu catalog items (%s visit)\n\n", bill.n, index.n,
           visit_kind_name(kind));
    rc = split_bill(&index, &bill, kind);
out:
    fee_lines_done(&bill);
    free(items);
    json_object_put(catalog_doc);
    free(catalog_text);
    free(bill_text);
    return rc;
}
