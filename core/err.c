/* The one error table: each posa code with the HIS API's code name and plain words. */
#include "core/err.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct err_entry {
    int err;
    const char *code;  /* the HIS API's name */
    short http_status;
    bool retryable;
    const char *text;  /* plain words for a cashier */
};

static const struct err_entry err_table[] = {
    {POSA_EINVAL_DECIMAL, "BAD_REQUEST", 400, false, "not a valid decimal number"},
    {POSA_ESCALE, "BAD_REQUEST", 400, false, "too many decimal places"},
    {POSA_EDECIMALS, "BAD_REQUEST", 400, false,
     "money is written with exactly two decimal places, as 12.30"},
    {POSA_ENOTSTRING, "BAD_REQUEST", 400, false,
     "must be a JSON string, as \"45.50\", not a number (a number's decimals are not exact)"},
    {POSA_EONEOF, "BAD_REQUEST", 400, false,
     "exactly one of these is wanted: not both, and not neither"},
    {POSA_ERANGE, "BAD_REQUEST", 400, false, "value out of range"},
    {POSA_EOVERFLOW, "BAD_REQUEST", 400, false, "amount too large to compute"},
    {POSA_ETOOLONG, "BAD_REQUEST", 400, false, "text or list too long"},
    {POSA_EAMOUNT, "BAD_REQUEST", 400, false, "amount does not equal price times quantity"},
    {POSA_EFIELD, "BAD_REQUEST", 400, false,
     "missing, or not of the type or form this field takes"},
    {POSA_EUNKNOWN_FIELD, "BAD_REQUEST", 400, false,
     "unknown field: check its name (a misspelt one would be ignored otherwise)"},
    {POSA_EOUTSIDE, "BAD_REQUEST", 400, false,
     "outside examination or purchase lines are only allowed on inpatient stays"},
    {POSA_ECATEGORY, "BAD_REQUEST", 400, false, "fee category must be 01 to 14"},
    {POSA_ECLASS, "BAD_REQUEST", 400, false, "catalog class must be 01, 02 or 03"},
    {POSA_ENEGATIVE, "BAD_REQUEST", 400, false, "value must not be negative"},
    {POSA_ENOTPOSITIVE, "BAD_REQUEST", 400, false, "must be more than zero"},
    {POSA_EPERIOD, "BAD_REQUEST", 400, false, "a date is YYYY-MM-DD, a month YYYY-MM"},
    {POSA_EDATE, "BAD_REQUEST", 400, false,
     "not a valid date or time: a time is YYYY-MM-DD HH:MM:SS, a date YYYY-MM-DD"},
    {POSA_EDUPLICATE, "BAD_REQUEST", 400, false, "appears twice in this request"},
    {POSA_EMEDTYPE, "BAD_REQUEST", 400, false,
     "not a med_type of this kind of visit: 1x for outpatient (11 普通门诊), 2x for inpatient "
     "(21 普通住院)"},
    {POSA_EUTF8, "BAD_REQUEST", 400, false, "the text is not UTF-8 (is it GBK?)"},
    {POSA_EJSON, "BAD_REQUEST", 400, false, "not valid JSON: one {...} object is expected"},
    {POSA_ECERTNO, "BAD_REQUEST", 400, false,
     "not a resident ID number: 17 digits with a birth date from 1900 (characters 7 to 14) "
     "and a check character (a digit or X) that must match them; check for a typo"},
    {POSA_EFILING, "FILING_REQUIRED", 422, false,
     "not filed for cross-province settlement and not an emergency: file first or self-pay"},
    {POSA_ENORATE, "BAD_REQUEST", 422, false,
     "the insured region has no rate for this kind of visit"},
    {POSA_ESTATE, "CONFLICT", 409, false, "not allowed in the current state"},
    {POSA_ENOLINES, "BAD_REQUEST", 422, false, "there are no fee lines to settle"},
    {DRV_ECARD_UNREADABLE, "CARD_UNREADABLE", 422, true,
     "card unreadable (removed during the read, mute, or refused)"},
    {DRV_ENOT_SSC, "CARD_UNREADABLE", 422, false, "not a social-security card"},
    {DRV_EQR_INVALID, "QR_INVALID", 422, false,
     "scanned code invalid (empty, too long or not printable)"},
    /* The card's data itself (the same at every read): inserting it again does not help. */
    {DRV_ESW_FILE, "CARD_UNREADABLE", 422, false, "card: file not found (6A82)"},
    {DRV_ESW_RECORD, "CARD_UNREADABLE", 422, false, "card: record not found (6A83)"},
    {DRV_ESW_SECURITY, "CARD_UNREADABLE", 422, false,
     "card: security status not satisfied (6982): a card that needs PSAM authentication reads "
     "only through its vendor's library ([desks] card_library); identify by ID number or "
     "e-voucher meanwhile"},
    {DRV_ESW_LENGTH, "CARD_UNREADABLE", 422, true, "card: wrong length (6700/6Cxx)"},
    {DRV_ESW_PARAM, "CARD_UNREADABLE", 422, true, "card: wrong parameters P1-P2 (6A86/6B00/6A81)"},
    {DRV_ESW_INS, "CARD_UNREADABLE", 422, true, "card: instruction not supported (6D00)"},
    {DRV_ESW_CLA, "CARD_UNREADABLE", 422, true, "card: class not supported (6E00)"},
    {DRV_ESW_OTHER, "CARD_UNREADABLE", 422, true, "card: unexpected status word"},
    {DRV_ESW_CHAIN, "CARD_UNREADABLE", 422, true,
     "card: response longer than allowed (61xx chain)"},
    {DRV_ERECORD, "CARD_UNREADABLE", 422, false, "card: record is not the expected TLV"},
    {DRV_EFIELD, "CARD_UNREADABLE", 422, false, "card: field value malformed"},
    {DRV_EDATE, "CARD_UNREADABLE", 422, false, "card: date is not a valid BCD date"},
    {DRV_EGBK, "CARD_UNREADABLE", 422, false, "card: text is not valid GBK/GB18030"},
    {DRV_EVENDOR, "CARD_UNREADABLE", 422, true,
     "vendor card library failed or returned malformed output"},
    {DRV_EPCSC, "CARD_UNREADABLE", 422, true, "PC/SC call failed"},
    {DRV_EGONE, "CARD_UNREADABLE", 422, true, "card removed or reset during the transaction"},
    {DRV_ECONFIG, "INTERNAL", 500, false, "drivers configuration invalid"},
    {POSA_EDB, "INTERNAL", 503, true, "database error"},
    {-ENOSPC, "STORAGE_FULL", 507, true,
     "posad's disk is full, so nothing was recorded: free space on it, then try again"},
    {POSA_EEXISTS, "CONFLICT", 409, false, "already journaled under this key"},
    {POSA_ENOTFOUND, "NOT_FOUND", 404, false, "no such record on this posad: check the id"},
    {POSA_ESCHEMA, "INTERNAL", 500, false,
     "the database was written by a newer posad: run that version, or restore a backup this "
     "version made"},
    {POSA_ECORRUPT, "INTERNAL", 500, false,
     "a record of the database does not read back: that part of the file is damaged"},
    {POSA_EDAMAGED, "INTERNAL", 500, false, "the database file is damaged or not a database"},
    {POSA_ESEALED, "INTERNAL", 500, false,
     "the database's sealed rows do not open: [posad] seal_key_file must name the key that "
     "sealed them"},
    {POSA_ECRYPTO, "INTERNAL", 500, false,
     "a cryptographic operation failed (bad key or bad input)"},
    {POSA_EGATEWAY, "INTERNAL", 500, false, "unknown gateway kind, or a key it needs is missing"},
    {POSA_ESIGNATURE, "UPSTREAM_REFUSED", 502, false, "a signature does not verify"},
    {POSA_EUNAUTHORIZED, "UNAUTHORIZED", 401, false,
     "sign in: the access token is missing or unknown"},
    {POSA_EFORBIDDEN, "FORBIDDEN", 403, false, "this desk or role may not do that"},
    {POSA_ENOSUCH, "NOT_FOUND", 404, false, "no such record on this posad: check the id"},
    {POSA_ECARD_NOT_PRESENT, "CARD_NOT_PRESENT", 409, true, "no card in the desk's reader"},
    {POSA_EQR_EXPIRED, "QR_EXPIRED", 410, false,
     "the e-voucher code has expired: ask the patient to show a fresh one"},
    {POSA_ENOT_CROSS_PROVINCE, "NOT_CROSS_PROVINCE", 422, false,
     "the patient is insured in this province: use local settlement"},
    {POSA_EUPSTREAM_OFFLINE, "UPSTREAM_OFFLINE", 503, true,
     "the insurance platform cannot be reached: try again shortly"},
    {POSA_EUPSTREAM_REFUSED, "UPSTREAM_REFUSED", 422, false, "the insurance platform refused"},
    {POSA_EOUTCOME_UNKNOWN, "OUTCOME_UNKNOWN", 504, true,
     "the answer was lost and is being checked: do not settle again, look up the settlement"},
    {POSA_ECONFLICT, "CONFLICT", 409, false,
     "this request key was already used for a different request"},
    {POSA_ETOOLARGE, "PAYLOAD_TOO_LARGE", 413, false, "the request is too large"},
    {POSA_ECATALOG_MISS, "CATALOG_MISS", 422, false,
     "an item is not in the treating region's catalog"},
    {POSA_ETOKEN_EXPIRED, "BAD_REQUEST", 400, false,
     "the identification has expired: read the card or scan the code again"},
    {POSA_EMETHOD, "METHOD_NOT_ALLOWED", 405, false, "this address does not accept that method"},
    {POSA_ECARD_UNREADABLE, "CARD_UNREADABLE", 422, true,
     "the card could not be read: take it out and insert it again"},
    {POSA_EQR_INVALID, "QR_INVALID", 422, false,
     "this is not a medical-insurance e-voucher code: ask the patient to show it again"},
    {POSA_EBUSY, "CONFLICT", 409, true,
     "the same request, or an earlier step of this visit, is still in progress: retry shortly"},
    {POSA_ENOT_READY, "UPSTREAM_OFFLINE", 503, true,
     "the treating region's catalog is not loaded yet: try again shortly"},
    {POSA_EFOREIGN, "FORBIDDEN", 403, false,
     "refused: a request from a web page, or for a host name that is not this machine's "
     "(ask 127.0.0.1, localhost or this machine's own name, or use tokens)"},
    {POSA_EOVERLOAD, "INTERNAL", 503, true,
     "posad is receiving too many large requests at once: try again shortly"},
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

int posa_err_http_status(int err)
{
    const struct err_entry *e = err_find(err);

    return e ? e->http_status : 500;
}

bool posa_err_retryable(int err)
{
    const struct err_entry *e = err_find(err);

    return e && e->retryable;
}
