/* Exact fixed-scale decimal parsing, formatting and rounding arithmetic on int64. */
#include "core/decimal.h"

#include <stdbool.h>

#include "core/bound.h"
#include "core/err.h"

#define SCALE_MAX 12 /* beyond any field's needs; keeps 10^scale well inside int64 */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Accumulates magnitude = magnitude * 10 + digit, refusing to pass INT64_MAX. */
static int push_digit(uint64_t *magnitude, char c)
{
    uint64_t d = (uint64_t)(c - '0');

    if (*magnitude > ((uint64_t)INT64_MAX - d) / 10)
        return POSA_EOVERFLOW;
    *magnitude = *magnitude * 10 + d;
    return 0;
}

int dec_parse(const char *text, size_t len, int scale, int64_t *ret)
{
    size_t i = 0;
    bool negative = false;
    uint64_t magnitude = 0;
    int decimals = 0;
    int err;

    if (scale < 0 || scale > SCALE_MAX)
        return POSA_ERANGE;
    if (len == 0)
        return POSA_EINVAL_DECIMAL;
    if (len > BOUND_DECIMAL_TEXT)
        return POSA_ETOOLONG;
    if (text[0] == '-') {
        negative = true;
        i++;
    }
    /* Integer part: "0" alone, or 1-9 then digits. */
    if (i == len || !is_digit(text[i]))
        return POSA_EINVAL_DECIMAL;
    if (text[i] == '0' && i + 1 < len && is_digit(text[i + 1]))
        return POSA_EINVAL_DECIMAL;
    for (; i < len && is_digit(text[i]); i++)
        if ((err = push_digit(&magnitude, text[i])) < 0)
            return err;
    if (i < len) {
        if (text[i] != '.' || i + 1 == len)
            return POSA_EINVAL_DECIMAL;
        for (i++; i < len; i++) {
            if (!is_digit(text[i]))
                return POSA_EINVAL_DECIMAL;
            if (decimals == scale) {
                if (text[i] != '0')
                    return POSA_ESCALE; /* refused, never rounded away */
                continue;
            }
            if ((err = push_digit(&magnitude, text[i])) < 0)
                return err;
            decimals++;
        }
    }
    for (; decimals < scale; decimals++)
        if ((err = push_digit(&magnitude, '0')) < 0)
            return err;
    if (negative && magnitude == 0)
        return POSA_EINVAL_DECIMAL; /* "-0": a sign was meant and lost */
    *ret = negative ? -(int64_t)magnitude : (int64_t)magnitude;
    return 0;
}

int dec_format(int64_t value, int scale, char *buf, size_t cap)
{
    char digits[24];
    int n = 0;
    size_t len = 0;
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;

    if (scale < 0 || scale > SCALE_MAX || value == INT64_MIN)
        return POSA_ERANGE;
    do {
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0 || n <= scale);
    if ((size_t)n + (value < 0) + (scale > 0) + 1 > cap)
        return POSA_ETOOLONG;
    if (value < 0)
        buf[len++] = '-';
    while (n > 0) {
        if (n == scale)
            buf[len++] = '.';
        buf[len++] = digits[--n];
    }
    buf[len] = '\0';
    return (int)len;
}

/* Divides a 128-bit product by 10^shift, rounding half away from zero. */
static int round_div(__int128 product, int shift, int64_t *ret)
{
    __int128 divisor = 1, magnitude = product < 0 ? -product : product, q;

    if (shift < 0 || shift > 36)
        return POSA_ERANGE;
    for (int i = 0; i < shift; i++)
        divisor *= 10;
    q = magnitude / divisor;
    if ((magnitude % divisor) * 2 >= divisor)
        q++;
    if (q > INT64_MAX)
        return POSA_EOVERFLOW;
    *ret = product < 0 ? -(int64_t)q : (int64_t)q;
    return 0;
}

int dec_mul_round(int64_t a, int64_t b, int shift, int64_t *ret)
{
    return round_div((__int128)a * b, shift, ret);
}

int dec_mul3_round(int64_t a, int64_t b, int64_t c, int shift, int64_t *ret)
{
    __int128 ab = (__int128)a * b;
    /* |a*b| < 2^126; refuse when multiplying by c could leave 128 bits. */
    __int128 limit = ((__int128)1 << 126) / (c < 0 ? -(__int128)c : (c ? c : 1));

    if ((ab < 0 ? -ab : ab) > limit)
        return POSA_EOVERFLOW;
    return round_div(ab * c, shift, ret);
}

int dec_add(int64_t a, int64_t b, int64_t *ret)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r) || r == INT64_MIN)
        return POSA_EOVERFLOW;
    *ret = r;
    return 0;
}

int dec_sub(int64_t a, int64_t b, int64_t *ret)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r) || r == INT64_MIN)
        return POSA_EOVERFLOW;
    *ret = r;
    return 0;
}

int money_parse(const char *text, size_t len, int64_t *ret_fen)
{
    return dec_parse(text, len, DEC_MONEY, ret_fen);
}

int money_format(int64_t fen, char *buf, size_t cap)
{
    return dec_format(fen, DEC_MONEY, buf, cap);
}
