/* Queries: 5203 a settlement (by setl_id, or the active one of a visit), 5205 a person's
 * drug lines of a period, 1312 the catalog in pages. */
#include <stdio.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/split.h"
#include "sandbox/txn.h"

#define PAGE_SIZE_MAX 1000

int txn_5203_settlement(struct txn *t)
{
    struct json_object *d = txn_node(t, "data"), *setl = NULL;
    const char *psn, *setl_id, *mdtrt_id;
    struct ledger_settlement s = {0};
    struct sc_person *p = NULL;
    int rc;

    if (!d || txn_str(t, d, "data", "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_str(t, d, "data", "setl_id", BOUND_CODE, false, &setl_id) < 0 ||
        txn_str(t, d, "data", "mdtrt_id", BOUND_CODE, false, &mdtrt_id) < 0 ||
        txn_person(t, psn, &p) < 0)
        return -1;
    if (!setl_id[0] && !mdtrt_id[0])
        return txn_refuse(t, "data.setl_id or data.mdtrt_id is required");
    rc = setl_id[0] ? ledger_settlement_get(t->sb->ledger, setl_id, &s)
                    : ledger_settlement_active(t->sb->ledger, mdtrt_id, &s);
    if (rc < 0)
        return txn_ledger_error(t, rc);
    if (rc == 0 || strcmp(s.psn_no, p->psn_no) != 0 ||
        (mdtrt_id[0] && strcmp(s.mdtrt_id, mdtrt_id) != 0)) {
        ledger_settlement_free(&s);
        return txn_refuse(t, "not found: no %s settlement %s", setl_id[0] ? "such" : "active",
                          setl_id[0] ? setl_id : mdtrt_id);
    }
    t->output = s.output ? json_tokener_parse(s.output) : NULL;
    if (!t->output)
        t->output = json_object_new_object();
    if (json_object_object_get_ex(t->output, "setlinfo", &setl)) {
        /* Whether it still stands, for a client resolving an unknown outcome. */
        out_str(setl, "vali_flag", strcmp(s.state, "active") == 0 ? "1" : "0");
        out_str(setl, "setl_state", s.state);
    }
    ledger_settlement_free(&s);
    return 0;
}

struct drug_rows {
    struct json_object *out;
    struct txn *t;
    int64_t from, to;
};

static void add_drug(const struct ledger_fee *f, void *data)
{
    struct drug_rows *dr = data;
    const struct catalog_item *item;
    struct json_object *r;

    if (strcmp(f->state, "active") != 0 || f->time < dr->from || f->time > dr->to ||
        f->split.category < 9 || f->split.category > 11)
        return;
    item = catalog_index_find(&dr->t->sb->scenario.catalog, f->list_code);
    r = json_object_new_object();
    out_str(r, "mdtrt_id", f->mdtrt_id);
    out_str(r, "feedetl_sn", f->feedetl_sn);
    out_time(r, "fee_ocur_time", f->time);
    out_str(r, "med_list_codg", f->list_code);
    out_str(r, "hilist_name", item ? item->name : "");
    out_dec(r, "cnt", f->qty_e4, DEC_QTY);
    out_dec(r, "pric", f->price_e6, DEC_PRICE);
    out_money(r, "det_item_fee_sumamt", f->split.amount);
    out_str(r, "setl_id", f->setl_id);
    json_object_array_add(dr->out, r);
}

int txn_5205_drug_record(struct txn *t)
{
    struct json_object *d = txn_node(t, "data");
    struct drug_rows dr = {.t = t};
    const char *psn;
    struct sc_person *p = NULL;

    if (!d || txn_str(t, d, "data", "psn_no", BOUND_CODE, true, &psn) < 0 ||
        txn_time(t, d, "data", "begntime", 0, &dr.from) < 0 ||
        txn_time(t, d, "data", "endtime", 99991231235959LL, &dr.to) < 0 ||
        txn_person(t, psn, &p) < 0)
        return -1;
    if (dr.to < 99991231235959LL && dr.to % 1000000 == 0)
        dr.to += 235959; /* a date alone means the whole day */
    dr.out = json_object_new_array();
    if (ledger_fees_each(t->sb->ledger, p->psn_no, false, add_drug, &dr) < 0) {
        json_object_put(dr.out);
        return txn_ledger_error(t, -5);
    }
    t->output = json_object_new_object();
    json_object_object_add(t->output, "feedetail", dr.out);
    return 0;
}

static const char *list_type_of(uint8_t category)
{
    switch (category) {
    case 9: return "101";  /* western medicine */
    case 10: return "103"; /* herbal pieces */
    case 11: return "102"; /* Chinese patent medicine */
    case 8: return "301";  /* medical materials */
    default: return "201"; /* services */
    }
}

struct catalog_filter {
    const char *code, *category, *lv, *list_type;
};

static bool item_matches(const struct catalog_item *it, const struct catalog_filter *f)
{
    char cat[3], lv[3];

    return (!f->code[0] || strcmp(f->code, it->list_code) == 0) &&
           (!f->category[0] || strcmp(f->category, two_digit_code(it->category, cat)) == 0) &&
           (!f->lv[0] || strcmp(f->lv, two_digit_code(it->lv, lv)) == 0) &&
           (!f->list_type[0] || strcmp(f->list_type, list_type_of(it->category)) == 0);
}

static struct json_object *catalog_row(const struct txn *t, const struct catalog_item *it,
                                       size_t rid)
{
    struct json_object *r = json_object_new_object();
    char cat[3], lv[3], id[24];

    snprintf(id, sizeof(id), "%zu", rid);
    out_str(r, "hilist_code", it->list_code);
    out_str(r, "hilist_name", it->name);
    out_str(r, "insu_admdvs", t->sb->scenario.treating_region);
    out_str(r, "begndate", "2020-01-01");
    out_str(r, "enddate", NULL);
    out_str(r, "med_chrgitm_type", two_digit_code(it->category, cat));
    out_str(r, "chrgitm_lv", two_digit_code(it->lv, lv));
    out_str(r, "lmt_used_flag", it->price_limit_e6 != PRICE_NO_LIMIT ? "1" : "0");
    out_str(r, "list_type", list_type_of(it->category));
    out_str(r, "vali_flag", "1");
    out_str(r, "rid", id);
    out_str(r, "updt_time", "2020-01-01 00:00:00");
    out_dec(r, "selfpay_prop", it->selfpay_prop_e6, DEC_RATIO);
    if (it->price_limit_e6 != PRICE_NO_LIMIT)
        out_dec(r, "hilist_pric_uplmt_amt", it->price_limit_e6, DEC_PRICE);
    else
        json_object_object_add(r, "hilist_pric_uplmt_amt", NULL);
    return r;
}

int txn_1312_catalog(struct txn *t)
{
    struct json_object *d = txn_node(t, "data"), *rows;
    const struct catalog_index *cat = &t->sb->scenario.catalog;
    struct catalog_filter f;
    int64_t page = 0, size = 0;
    size_t matched = 0, first;

    if (!d || txn_str(t, d, "data", "hilist_code", BOUND_CODE, false, &f.code) < 0 ||
        txn_str(t, d, "data", "med_chrgitm_type", 2, false, &f.category) < 0 ||
        txn_str(t, d, "data", "chrgitm_lv", 2, false, &f.lv) < 0 ||
        txn_str(t, d, "data", "list_type", 3, false, &f.list_type) < 0 ||
        txn_dec(t, d, "data", "page_num", 0, true, &page) < 0 ||
        txn_dec(t, d, "data", "page_size", 0, true, &size) < 0)
        return -1;
    if (page < 1 || size < 1 || size > PAGE_SIZE_MAX)
        return txn_refuse(t, "data.page_num must be >= 1 and data.page_size 1..%d", PAGE_SIZE_MAX);
    /* The page's first and last rows must be numbers: a page far past them wrapped round. */
    if (page - 1 > (INT64_MAX - size) / size)
        return txn_refuse(t, "data.page_num %lld is past the last page any catalog can have",
                          (long long)page);
    rows = json_object_new_array();
    first = (size_t)((page - 1) * size);
    for (size_t i = 0; i < cat->n; i++) {
        if (!item_matches(&cat->items[i], &f))
            continue;
        if (matched >= first && matched < first + (size_t)size)
            json_object_array_add(rows, catalog_row(t, &cat->items[i], i + 1));
        matched++;
    }
    t->output = json_object_new_object();
    json_object_object_add(t->output, "data", rows);
    json_object_object_add(t->output, "recordCounts", json_object_new_int64((int64_t)matched));
    json_object_object_add(
        t->output, "pages",
        json_object_new_int64((int64_t)((matched + (size_t)size - 1) / (size_t)size)));
    json_object_object_add(t->output, "pageNum", json_object_new_int64(page));
    json_object_object_add(t->output, "pageSize", json_object_new_int64(size));
    return 0;
}
