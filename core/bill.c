/* Bills: split lines aggregated into totals and the 14 national fee categories (§32). */
#include "core/split.h"

#include <string.h>

#include "core/decimal.h"
#include "core/err.h"

static const char *const category_names[CATEGORY_MAX + 1] = {
    "", "床位费", "诊察费", "检查费", "化验费", "治疗费", "手术费", "护理费",
    "卫生材料费", "西药费", "中药饮片费", "中成药费", "一般诊疗费", "挂号费", "其他费",
};

const char *category_name(uint8_t category)
{
    return category >= CATEGORY_MIN && category <= CATEGORY_MAX ? category_names[category] : "";
}

void bill_init(struct bill *bill)
{
    memset(bill, 0, sizeof *bill);
}

static int totals_add(struct split_totals *t, const struct split *line)
{
    struct split_totals r;

    if (dec_add(t->amount, line->amount, &r.amount) < 0 ||
        dec_add(t->fulamt_ownpay, line->fulamt_ownpay, &r.fulamt_ownpay) < 0 ||
        dec_add(t->overlmt, line->overlmt, &r.overlmt) < 0 ||
        dec_add(t->preselfpay, line->preselfpay, &r.preselfpay) < 0 ||
        dec_add(t->inscp, line->inscp, &r.inscp) < 0)
        return POSA_EOVERFLOW;
    *t = r;
    return 0;
}

int bill_add(struct bill *bill, const struct split *line)
{
    struct split_totals total = bill->total;
    struct split_totals category;

    if (line->category < CATEGORY_MIN || line->category > CATEGORY_MAX)
        return POSA_ECATEGORY;
    category = bill->by_category[line->category];
    if (totals_add(&total, line) < 0 || totals_add(&category, line) < 0)
        return POSA_EOVERFLOW;
    bill->total = total;
    bill->by_category[line->category] = category;
    bill->lines++;
    return 0;
}
