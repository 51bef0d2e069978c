/* Packed BCD as social-security cards store it: cn dates (YYYYMMDD in 4 bytes) and
 * F-padded digit strings (birthplace). Pure. */
#ifndef POSA_DRIVERS_BCD_H
#define POSA_DRIVERS_BCD_H

#include <stddef.h>
#include <stdint.h>

/* 4 bytes 0xYY 0xYY 0xMM 0xDD into yyyymmdd, calendar-checked. 0 or DRV_EDATE. */
int bcd_date_decode(const uint8_t *bcd, size_t len, int32_t *ret);

/* Digits of len bytes, high nibble first, ending at the first F nibble (all following
 * nibbles must be F too) into out (cap >= 2*len+1). 0 or DRV_EFIELD. */
int bcd_digits_decode(const uint8_t *bcd, size_t len, char *out, size_t cap);

#endif
