/* Exact fixed-scale decimals: money in fen (scale 2), quantities at scale 4, unit prices
 * and ratios at scale 6, all int64. Parsed from and printed to text, never via double.
 *
 * Accepted text: an optional '-', then "0" or a digit 1-9 followed by digits, then
 * optionally '.' and one or more digits. No '+', no exponent, no leading zeros, no blanks,
 * ASCII digits only, at most BOUND_DECIMAL_TEXT characters. Decimals beyond the scale are
 * accepted only when they are zeros ("1234.567800" at scale 6 is exact); a non-zero digit
 * there is refused with POSA_ESCALE, never rounded away. Negative zero ("-0", "-0.00") is
 * refused: it means a sign was meant and lost.
 *
 * Bounds are symmetric: every value is within +-INT64_MAX, so negating never overflows.
 * INT64_MIN is not a decimal here: parsing it gives POSA_EOVERFLOW, formatting it
 * POSA_ERANGE, and arithmetic that would produce it POSA_EOVERFLOW. */
#ifndef POSA_CORE_DECIMAL_H
#define POSA_CORE_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

enum dec_scale {
    DEC_MONEY = 2, /* fen */
    DEC_QTY = 4,   /* quantities */
    DEC_PRICE = 6, /* unit prices */
    DEC_RATIO = 6, /* ratios and proportions: 0.90 = 900000 */
};

#define DEC_E2 100LL
#define DEC_E4 10000LL
#define DEC_E6 1000000LL

/* Room for any int64 at any scale: sign, 19 digits, '.', leading "0", NUL. */
#define DEC_FORMAT_MAX 24

/* Parses text[0..len) (not NUL-terminated) at scale into *ret (value x 10^scale).
 * Returns 0, POSA_EINVAL_DECIMAL, POSA_ESCALE, POSA_ETOOLONG or POSA_EOVERFLOW. */
int dec_parse(const char *text, size_t len, int scale, int64_t *ret);

/* Writes value / 10^scale with exactly scale decimals ("-12.30"). Returns the length,
 * POSA_ETOOLONG when cap is too small (use DEC_FORMAT_MAX), or POSA_ERANGE for INT64_MIN. */
int dec_format(int64_t value, int scale, char *buf, size_t cap);

/* *ret = round(a x b / 10^shift), rounding half away from zero (half-up on magnitudes, so a
 * refund is the exact mirror of its charge). Exact: the product is formed in 128 bits.
 * Returns 0 or POSA_EOVERFLOW. */
int dec_mul_round(int64_t a, int64_t b, int shift, int64_t *ret);

/* *ret = round(a x b x c / 10^shift) with one rounding at the end (same rule). */
int dec_mul3_round(int64_t a, int64_t b, int64_t c, int shift, int64_t *ret);

/* Checked addition and subtraction: 0 or POSA_EOVERFLOW. */
int dec_add(int64_t a, int64_t b, int64_t *ret);
int dec_sub(int64_t a, int64_t b, int64_t *ret);

/* Money conveniences (scale 2). */
int money_parse(const char *text, size_t len, int64_t *ret_fen);
int money_format(int64_t fen, char *buf, size_t cap);

#endif
