/* Every limit on input from outside, in one place. Parsers check against these; the HIS
 * API documents the configurable ones (body size, lines per request, string length). */
#ifndef POSA_CORE_BOUND_H
#define POSA_CORE_BOUND_H

#include <stdint.h>

#define BOUND_DECIMAL_TEXT 32           /* chars of one decimal literal, sign included */
#define BOUND_MONEY_FEN 100000000000000LL /* 1e12 yuan: anything above is absurd */
#define BOUND_BILL_FEN        BOUND_MONEY_FEN /* a visit's bill, all its lines: its sums stay exact */
#define BOUND_PRICE_E6 100000000000000000LL /* 1e11 yuan unit price at scale 6 */
#define BOUND_QTY_E4 1000000000000LL     /* 1e8 units at scale 4 */
#define BOUND_STRING 1024               /* bytes of one string field */
#define BOUND_CODE 64                   /* bytes of a code (list_code, dept_code, ...) */
#define BOUND_DESK 32                   /* bytes of a desk id, wherever it is named */
#define BOUND_PATH_ID         63 /* bytes of an id in a URL path (visit, settlement) */
#define BOUND_NAME 256                  /* bytes of a name */
#define BOUND_LINES 50000               /* fee lines in one request */
#define BOUND_DIAGNOSES 32              /* diagnoses on one visit */
#define BOUND_EMERGENCY_DEPTS 64        /* configured emergency departments */
#define BOUND_FILINGS 16                /* filings of one person */
#define BOUND_RATES 64                  /* rate rows of one insured region */
#define BOUND_INSUTYPE_RULES  8       /* insurance types with filing rules of their own */
#define BOUND_CATALOG_ITEMS   1000000 /* items of the treating region's catalog */
#define BOUND_BODY (16u << 20)          /* bytes of one HTTP body */
#define BOUND_QR_LINE 512               /* bytes of one scanned code */

#endif
