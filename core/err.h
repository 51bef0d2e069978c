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
    POSA_EFIELD = -1006,         /* a field missing, or not of its type or form */
    POSA_EOUTSIDE = -1007,       /* outside exam/purchase line on an outpatient visit */
    POSA_ECATEGORY = -1008,      /* med_chrgitm_type outside 01..14 */
    POSA_ECLASS = -1009,         /* chrgitm_lv outside 01..03 */
    POSA_ENEGATIVE = -1010,      /* negative where only positive makes sense */
    POSA_EDATE = -1011,          /* not a valid date or time */
    POSA_EDUPLICATE = -1012,     /* the same id twice in one request */
    POSA_EUTF8 = -1013,          /* text that is not UTF-8 (an HIS sending GBK) */
    POSA_EUNKNOWN_FIELD = -1014, /* a field the request does not have (misspelt?) */
    POSA_EJSON = -1015,          /* not one JSON document, or not the object expected */
    POSA_ECERTNO = -1016,        /* not a resident ID number (length, digits, check digit) */
    POSA_EDECIMALS = -1017,      /* fewer decimals than a field written to the fen takes */
    POSA_EMEDTYPE = -1018,       /* a med_type of the other kind of visit (1x / 2x) */
    POSA_ENOTSTRING = -1019,     /* a decimal sent as a JSON number, not as a string */
    POSA_EONEOF = -1020,         /* both of two fields that exclude each other, or neither */
    POSA_ENOTPOSITIVE = -1021,   /* zero or negative where only more than zero makes sense */
    POSA_EPERIOD = -1022,        /* not a day (YYYY-MM-DD) or a month (YYYY-MM) to reconcile */
    /* core: policy and state (-1100..-1199) */
    POSA_EFILING = -1100,  /* not filed, not emergency: direct settlement refused */
    POSA_ENORATE = -1101,  /* the insured region has no rate for this visit */
    POSA_ESTATE = -1102,   /* transition not allowed from this state */
    POSA_ENOLINES = -1104, /* settlement of a bill with no lines */
    /* drivers (-1200..-1299): what the engine acts on first, then the causes of a failed
     * read, carried beside CARD_UNREADABLE for the log */
    DRV_ECARD_UNREADABLE = -1200, /* card removed mid-read, mute, or refused the plain reads */
    DRV_ENOT_SSC = -1201,         /* a working ISO card that is not a social-security card */
    DRV_EQR_INVALID = -1202,      /* scanned line empty, too long or not printable ASCII */
    DRV_ESW_FILE = -1210,         /* 6A82 file or application not found */
    DRV_ESW_RECORD = -1211,       /* 6A83 record not found */
    DRV_ESW_SECURITY = -1212,     /* 6982 security status not satisfied (PSAM needed) */
    DRV_ESW_LENGTH = -1213,       /* 6700 / 6Cxx not resolved: wrong length */
    DRV_ESW_PARAM = -1214,        /* 6A86 / 6B00 / 6A81 wrong P1-P2 or function */
    DRV_ESW_INS = -1215,          /* 6D00 instruction not supported */
    DRV_ESW_CLA = -1216,          /* 6E00 class not supported */
    DRV_ESW_OTHER = -1217,        /* any other status word */
    DRV_ESW_CHAIN = -1218,        /* 61xx chain longer than the response buffer */
    DRV_ERECORD = -1220,          /* record is not the expected T L V */
    DRV_EFIELD = -1221,           /* a field's value is malformed (digits, length) */
    DRV_EDATE = -1222,            /* BCD date not a valid calendar date */
    DRV_EGBK = -1223,             /* bytes are not valid GB18030 */
    DRV_EVENDOR = -1224,          /* vendor library missing, failing or its output malformed */
    DRV_EPCSC = -1230,            /* PC/SC call failed (card still there) */
    DRV_EGONE = -1231,            /* card left or reader reset during the transaction */
    DRV_ECONFIG = -1232,          /* desk binding or source configuration invalid */
    /* cache (-1300..-1399): SQLite's codes become these or -errno at cache/'s edge
     * (SQLITE_FULL -> -ENOSPC, SQLITE_IOERR -> -EIO, SQLITE_BUSY -> -EBUSY) */
    POSA_EDB = -1300,       /* any other database failure; see db_errmsg() */
    POSA_EEXISTS = -1301,   /* a row with this key (msgid, idempotency key) exists */
    POSA_ENOTFOUND = -1302, /* no such row */
    POSA_ESCHEMA = -1303,   /* the file's schema is newer than this program */
    POSA_ECORRUPT = -1304,  /* a stored value posad cannot read back (a sealed one that does
                               not open, a field not as posad wrote it) */
    POSA_ESEALED = -1305,   /* sealed rows: no key given, or not the key that sealed them */
    POSA_EDAMAGED = -1306,  /* SQLite: the file is damaged (a page), or not a database */
    /* interface/platform (-1500..-1599) */
    POSA_ECRYPTO = -1500,    /* a cryptographic operation failed (bad key, bad input) */
    POSA_EGATEWAY = -1501,   /* unknown gateway kind or a key it needs is missing */
    POSA_ESIGNATURE = -1502, /* a signature does not verify */
    /* the engine and the HIS API (-1600..-1699): what a cashier is told */
    POSA_EUNAUTHORIZED = -1600, /* no or an unknown bearer token */
    POSA_EFORBIDDEN = -1601,    /* the token's role or desks do not allow this */
    POSA_ENOSUCH = -1602,       /* no such visit, settlement, message or route */
    POSA_ECARD_NOT_PRESENT = -1603,
    POSA_EQR_EXPIRED = -1604, /* the e-voucher code is no longer valid: scan again */
    POSA_ENOT_CROSS_PROVINCE = -1605,
    POSA_EUPSTREAM_OFFLINE = -1606,
    POSA_EUPSTREAM_REFUSED = -1607, /* the platform said no; its words go with it */
    POSA_EOUTCOME_UNKNOWN = -1608,  /* sent, answer lost: being resolved, never resent */
    POSA_ECONFLICT = -1609,         /* idempotency key reused with another body */
    POSA_ETOOLARGE = -1610,         /* body or list over its limit */
    POSA_ECATALOG_MISS = -1611,     /* a code the treating region's catalog does not know */
    POSA_ETOKEN_EXPIRED = -1612,    /* identity_token too old: identify the patient again */
    POSA_EMETHOD = -1613,           /* the path exists, the method does not */
    POSA_ECARD_UNREADABLE = -1614,  /* the card could not be read whole: insert it again */
    POSA_EQR_INVALID = -1615,       /* the scanned code is not an e-voucher */
    POSA_ENOT_READY = -1616,        /* posad is starting: the catalog is not loaded yet */
    POSA_EBUSY = -1617,             /* the same request, or an earlier step of the visit, is
                                       still on its way: retry shortly */
    POSA_EOVERLOAD = -1618,         /* posad holds as many request bodies as it may: retry */
    POSA_EFOREIGN = -1619,          /* from a web page, or for a host name that is not local */
};

/* A short, plain description of err, for logs and cashiers; never NULL. Also names
 * -errno values (through strerror) and libuv codes are left to uv_strerror(). */
const char *posa_strerror(int err);

/* The HIS API's error code name for err ("BAD_REQUEST", "FILING_REQUIRED", ...);
 * "INTERNAL" for codes that are not posa's (a -errno, a libuv code). */
const char *posa_err_code(int err);

/* The HTTP status the HIS API answers err with (500 for codes that are not posa's). */
int posa_err_http_status(int err);

/* Whether the same request may succeed if sent again later unchanged. */
bool posa_err_retryable(int err);

#endif
