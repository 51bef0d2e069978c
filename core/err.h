/* posa's own error codes: one table for every module, so one posa_strerror() names them all.
 *
 * Functions return int: 0 on success, negative on failure. posa's codes live in
 * -1000..-1999 (a hundred per module); libuv and -errno values pass through untouched. */
#ifndef POSA_CORE_ERR_H
#define POSA_CORE_ERR_H

#include <stdbool.h>

enum posa_err {
    /* core: input validation (-1000..-1099) */
    POSA_EINVAL_DECIMAL = -1000, /* not a decimal number in the accepted form */
    POSA_ESCALE = -1001,         /* more decimals than the field allows */
    POSA_ERANGE = -1002,         /* outside the field's bounds */
    POSA_EOVERFLOW = -1003,      /* arithmetic would overflow int64 */
    POSA_ETOOLONG = -1004,       /* a string or list longer than its bound */
    POSA_EAMOUNT = -1005,        /* amount != round(price x qty) beyond 0.01 */
    POSA_EFIELD = -1006,         /* a required field is missing or malformed */
    POSA_EOUTSIDE = -1007,       /* outside exam/purchase line on an outpatient visit */
    POSA_ECATEGORY = -1008,      /* med_chrgitm_type outside 01..14 */
    POSA_ECLASS = -1009,         /* chrgitm_lv outside 01..03 */
    POSA_ENEGATIVE = -1010,      /* negative where only positive makes sense */
    POSA_EDATE = -1011,          /* not a valid date or time */
    /* core: policy and state (-1100..-1199) */
    POSA_EFILING = -1100,        /* not filed, not emergency: direct settlement refused */
    POSA_ENORATE = -1101,        /* the insured region has no rate for this visit */
    POSA_ESTATE = -1102,         /* transition not allowed from this state */
    POSA_EAGAIN_MSGID = -1103,   /* msgid sequence exhausted for this second */
    POSA_ENOLINES = -1104,       /* settlement of a bill with no lines */
};

/* A short, plain description of err, for logs and cashiers; never NULL. Also names
 * -errno values (through strerror) and libuv codes are left to uv_strerror(). */
const char *posa_strerror(int err);

/* The HIS API's error code name for err ("BAD_REQUEST", "FILING_REQUIRED", ...). */
const char *posa_err_code(int err);

#endif
