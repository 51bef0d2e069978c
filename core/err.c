/* The one error table: each posa code with the HIS API's code name and plain words. */
#include "core/err.h"

#include <stddef.h>
#include <string.h>

struct err_entry {
    int err;
    const char *code;
    const char *text;
};

static const struct err_entry err_table[] = {
    {POSA_EINVAL_DECIMAL, "BAD_REQUEST", "not a valid decimal number"},
    {POSA_ESCALE, "BAD_REQUEST", "too many decimal places"},
    {POSA_ERANGE, "BAD_REQUEST", "value out of range"},
    {POSA_EOVERFLOW, "BAD_REQUEST", "amount too large to compute"},
    {POSA_ETOOLONG, "BAD_REQUEST", "text or list too long"},
    {POSA_EAMOUNT, "BAD_REQUEST", "amount does not equal price times quantity"},
    {POSA_EFIELD, "BAD_REQUEST", "a required field is missing or malformed"},
    {POSA_EOUTSIDE, "BAD_REQUEST",
     "outside examination or purchase lines are only allowed on inpatient stays"},
    {POSA_ECATEGORY, "BAD_REQUEST", "fee category must be 01 to 14"},
    {POSA_ECLASS, "BAD_REQUEST", "catalog class must be 01, 02 or 03"},
    {POSA_ENEGATIVE, "BAD_REQUEST", "value must not be negative"},
    {POSA_EDATE, "BAD_REQUEST", "not a valid date or time"},
    {POSA_EFILING, "FILING_REQUIRED",
     "not filed for cross-province settlement and not an emergency: file first or self-pay"},
    {POSA_ENORATE, "BAD_REQUEST", "the insured region has no rate for this kind of visit"},
    {POSA_ESTATE, "CONFLICT", "not allowed in the current state"},
    {POSA_EAGAIN_MSGID, "RETRY", "message id sequence exhausted for this second"},
    {POSA_ENOLINES, "BAD_REQUEST", "there are no fee lines to settle"},
};

static const struct err_entry *err_find(int err)
{
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].err == err)
            return &err_table[i];
    return NULL;
}

const char *posa_strerror(int err)
{
    const struct err_entry *e = err_find(err);

    if (e)
        return e->text;
    if (err == 0)
        return "success";
    if (err < 0 && err > -1000)
        return strerror(-err); /* a -errno passed through */
    return "unknown error";
}

const char *posa_err_code(int err)
{
    const struct err_entry *e = err_find(err);

    return e ? e->code : "INTERNAL";
}
