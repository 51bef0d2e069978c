/* The per-line split by the treating region's catalog, its in-memory index, and bills. */
#include "core/split.h"

#include <stdlib.h>
#include <string.h>

#include "core/bound.h"
#include "core/decimal.h"
#include "core/err.h"

static int item_cmp(const void *a, const void *b)
{
    const struct catalog_item *x = a, *y = b;

    return strcmp(x->list_code, y->list_code);
}

static int catalog_item_check(const struct catalog_item *item)
{
    if (!item->list_code || !item->list_code[0] || strlen(item->list_code) >= BOUND_CODE)
        return POSA_EFIELD;
    if (item->lv < LV_A || item->lv > LV_C)
        return POSA_ECLASS;
    if (item->category < CATEGORY_MIN || item->category > CATEGORY_MAX)
        return POSA_ECATEGORY;
    if (item->selfpay_prop_e6 < 0 || item->selfpay_prop_e6 > DEC_E6)
        return POSA_ERANGE;
    if (item->price_limit_e6 != PRICE_NO_LIMIT &&
        (item->price_limit_e6 < 0 || item->price_limit_e6 > BOUND_PRICE_E6))
        return POSA_ERANGE;
    return 0;
}

static int item_period_cmp(const void *a, const void *b)
{
    const struct catalog_item *x = a, *y = b;
    int c = strcmp(x->list_code, y->list_code);

    return c ? c : (x->valid_from > y->valid_from) - (x->valid_from < y->valid_from);
}

size_t catalog_items_latest(struct catalog_item *items, size_t n)
{
    size_t kept = 0;

    qsort(items, n, sizeof items[0], item_period_cmp);
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && strcmp(items[kept - 1].list_code, items[i].list_code) == 0)
            kept--; /* a later period of the same code takes its place */
        items[kept++] = items[i];
    }
    return kept;
}

int catalog_index_init(struct catalog_index *index, struct catalog_item *items, size_t n,
                       size_t *ret_bad)
{
    int err;

    for (size_t i = 0; i < n; i++) {
        if ((err = catalog_item_check(&items[i])) < 0) {
            *ret_bad = i;
            return err;
        }
    }
    qsort(items, n, sizeof items[0], item_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(items[i - 1].list_code, items[i].list_code) == 0) {
            *ret_bad = i;
            return POSA_EFIELD; /* duplicate code: which price applies would be a guess */
        }
    }
    index->items = items;
    index->n = n;
    return 0;
}

const struct catalog_item *catalog_index_find(const struct catalog_index *index,
                                              const char *list_code)
{
    size_t lo = 0, hi = index->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(list_code, index->items[mid].list_code);

        if (c == 0)
            return &index->items[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Parses a two-digit code "01".."max" into 1..max. */
static int two_digit_parse(const char *text, int max, int *ret)
{
    int v;

    if (!text || text[0] < '0' || text[0] > '9' || text[1] < '0' || text[1] > '9' || text[2])
        return -1;
    v = (text[0] - '0') * 10 + (text[1] - '0');
    if (v < 1 || v > max)
        return -1;
    *ret = v;
    return 0;
}

int chrgitm_lv_parse(const char *text, enum chrgitm_lv *ret)
{
    int v;

    if (two_digit_parse(text, LV_C, &v) < 0)
        return POSA_ECLASS;
    *ret = (enum chrgitm_lv)v;
    return 0;
}

int category_parse(const char *text, uint8_t *ret)
{
    int v;

    if (two_digit_parse(text, CATEGORY_MAX, &v) < 0)
        return POSA_ECATEGORY;
    *ret = (uint8_t)v;
    return 0;
}

const char *two_digit_code(unsigned value, char out[3])
{
    out[0] = (char)('0' + value / 10 % 10);
    out[1] = (char)('0' + value % 10);
    out[2] = '\0';
    return out;
}

/* For amounts already within their bounds (never INT64_MIN). */
static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* -bound <= v <= bound, without negating v (INT64_MIN has no positive). */
static bool within(int64_t v, int64_t bound)
{
    return v >= -bound && v <= bound;
}

const char *fee_line_out_of_range(const struct fee_line *line)
{
    if (line->price_e6 > BOUND_PRICE_E6)
        return "price";
    if (line->qty_e4 == 0 || !within(line->qty_e4, BOUND_QTY_E4))
        return "qty";
    if (!within(line->amount_fen, BOUND_MONEY_FEN))
        return "amount";
    return NULL;
}

/* Checks bounds and that the amount is round(price x qty) within one fen, in the qty's sign. */
static int fee_line_check(const struct fee_line *line)
{
    int64_t expected;
    int err;

    if (line->price_e6 < 0)
        return POSA_ENEGATIVE;
    if (fee_line_out_of_range(line))
        return POSA_ERANGE;
    if ((line->qty_e4 < 0 && line->amount_fen > 0) || (line->qty_e4 > 0 && line->amount_fen < 0))
        return POSA_EAMOUNT;
    /* price (scale 6) x qty (scale 4) is at scale 10; fen are scale 2. Both amounts are
     * within the bound here, so their difference cannot overflow. A product too large to
     * compute is no bounded amount either: the amount is not price x qty. */
    if ((err = dec_mul_round(line->price_e6, line->qty_e4, 8, &expected)) < 0)
        return err == POSA_EOVERFLOW ? POSA_EAMOUNT : err;
    if (!within(expected, BOUND_MONEY_FEN + 1) || !within(line->amount_fen - expected, 1))
        return POSA_EAMOUNT;
    return 0;
}

int split_line(const struct fee_line *line, const struct catalog_item *item,
               struct split *ret)
{
    struct split s = {.amount = line->amount_fen, .category = CATEGORY_OTHER};
    int64_t base;
    int err;

    if ((err = fee_line_check(line)) < 0)
        return err;
    if (!item || item->lv == LV_C) {
        s.fulamt_ownpay = line->amount_fen;
        s.selfpay_prop_e6 = DEC_E6;
        if (item) {
            s.lv = item->lv;
            s.category = item->category;
        }
        *ret = s;
        return 0;
    }
    s.lv = item->lv;
    s.category = item->category;
    if (item->price_limit_e6 != PRICE_NO_LIMIT && line->price_e6 > item->price_limit_e6) {
        if ((err = dec_mul_round(line->price_e6 - item->price_limit_e6, line->qty_e4, 8,
                                 &s.overlmt)) < 0)
            return err;
        /* The HIS's amount may be a fen under price x qty: never split more than it. */
        if (abs64(s.overlmt) > abs64(line->amount_fen))
            s.overlmt = line->amount_fen;
    }
    base = line->amount_fen - s.overlmt;
    if (item->lv == LV_B) {
        s.selfpay_prop_e6 = item->selfpay_prop_e6;
        if ((err = dec_mul_round(base, item->selfpay_prop_e6, 6, &s.preselfpay)) < 0)
            return err;
    }
    s.inscp = base - s.preselfpay;
    *ret = s;
    return 0;
}

void split_take(struct split *line, const struct split *platform)
{
    line->amount = platform->amount;
    line->fulamt_ownpay = platform->fulamt_ownpay;
    line->overlmt = platform->overlmt;
    line->preselfpay = platform->preselfpay;
    line->inscp = platform->inscp;
    if (platform->category)
        line->category = platform->category;
}
