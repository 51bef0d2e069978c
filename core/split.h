/* The per-line split by the treating region's catalog (policy.md, "Per-line split"), the
 * in-memory catalog index it looks items up in, and the bill that aggregates split lines
 * into totals and the 14 national fee categories. */
#ifndef POSA_CORE_SPLIT_H
#define POSA_CORE_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum chrgitm_lv {
    LV_NONE = 0, /* not in the catalog */
    LV_A = 1,    /* 甲 "01": fully in scope */
    LV_B = 2,    /* 乙 "02": in scope after a first self-paid share */
    LV_C = 3,    /* 丙 "03": fully self-paid */
};

#define CATEGORY_MIN 1   /* "01" bed */
#define CATEGORY_MAX 14  /* "14" other */
#define CATEGORY_OTHER 14
#define PRICE_NO_LIMIT INT64_C(-1)

struct catalog_item {
    const char *list_code;    /* the national code (med_list_codg); storage is the caller's */
    const char *name;
    enum chrgitm_lv lv;
    uint8_t category;         /* med_chrgitm_type 1..14 */
    int64_t selfpay_prop_e6;  /* first self-pay ratio, scale 6 (0.10 = 100000) */
    int64_t price_limit_e6;   /* unit price limit at scale 6, or PRICE_NO_LIMIT */
    int32_t valid_from;       /* yyyymmdd it is in force from (1312's begndate), 0: unknown */
};

/* A sorted view over the caller's items; core allocates nothing. */
struct catalog_index {
    struct catalog_item *items;
    size_t n;
};

/* Sorts items in place by list_code and checks them (class, category, ratio within 0..1,
 * non-negative limit, no duplicate code). 0, or POSA_ECLASS / POSA_ECATEGORY / POSA_ERANGE /
 * POSA_EFIELD, with *ret_bad set to the index of the first bad item (after sorting). */
int catalog_index_init(struct catalog_index *index, struct catalog_item *items, size_t n,
                       size_t *ret_bad);
/* Keeps one item per list_code, the one in force from the latest day: the platform lists a
 * code once per validity period. Sorts items by list_code; returns how many are kept (the
 * first ones). Among items of one code in force from the same day, one of them is kept. */
size_t catalog_items_latest(struct catalog_item *items, size_t n);
/* The item with list_code, or NULL when it is not in the catalog. */
const struct catalog_item *catalog_index_find(const struct catalog_index *index,
                                              const char *list_code);

/* Parses "01".."03" into a class and "01".."14" into a category. */
int chrgitm_lv_parse(const char *text, enum chrgitm_lv *ret);
int category_parse(const char *text, uint8_t *ret);
/* The other way: a class or category (0..99) as its national two-digit code, 1 -> "01";
 * returns out. */
const char *two_digit_code(unsigned value, char out[3]);

struct fee_line {
    const char *list_code; /* storage is the caller's */
    int64_t price_e6;      /* unit price, scale 6 */
    int64_t qty_e4;        /* quantity, scale 4; negative for a refund line */
    int64_t amount_fen;    /* the HIS's amount */
};

struct split {
    int64_t amount;        /* = the four parts below */
    int64_t fulamt_ownpay; /* fully self-paid (丙 or not in catalog) */
    int64_t overlmt;       /* over the price limit */
    int64_t preselfpay;    /* first self-paid share of a 乙 item */
    int64_t inscp;         /* in payment scope */
    enum chrgitm_lv lv;       /* LV_NONE when not in the catalog */
    uint8_t category;         /* the item's; CATEGORY_OTHER when not in the catalog */
    int64_t selfpay_prop_e6;  /* the self-pay ratio reported upstream (selfpay_prop): 0 for
                                 甲, the item's for 乙, 1.000000 for 丙 and not-in-catalog */
};

/* Splits one line. item is NULL when the code is not in the catalog. The amount must equal
 * round(price x qty) within one fen and have the quantity's sign, else POSA_EAMOUNT; a zero
 * quantity (a line that bills nothing) or values beyond core/bound.h give POSA_ERANGE, a
 * negative price POSA_ENEGATIVE. Rounding is
 * half-up to the fen per line. The four parts always sum to the amount. ret is written only
 * on success. */
int split_line(const struct fee_line *line, const struct catalog_item *item,
               struct split *ret);

/* The platform's split of a line taken for posad's (policy.md §33: the treating region
 * splits every line): its amount and four parts, and its category when it said one (0: it
 * did not). lv and the ratio stay the line's. */
void split_take(struct split *line, const struct split *platform);

/* The five amounts of a bill, a category or a line. */
struct split_totals {
    int64_t amount;
    int64_t fulamt_ownpay;
    int64_t overlmt;
    int64_t preselfpay;
    int64_t inscp;
};

struct bill {
    struct split_totals total;
    struct split_totals by_category[CATEGORY_MAX + 1]; /* [1..14]; [0] unused */
    size_t lines;
};

/* The category's Chinese name ("西药费"), or "" outside 1..14. */
const char *category_name(uint8_t category);

void bill_init(struct bill *bill);
/* Adds a split line to the bill and its category. 0 or POSA_EOVERFLOW (bill unchanged). */
int bill_add(struct bill *bill, const struct split *line);

/* Which of a line's numbers is beyond its bound (POSA_ERANGE): "price" (over 100,000,000,000
 * a unit), "qty" (0, or over 100,000,000 either way), "amount" (over 1,000,000,000,000.00
 * either way); NULL when none is. */
const char *fee_line_out_of_range(const struct fee_line *line);

#endif
