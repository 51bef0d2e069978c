/* Dates and times of the national interface as plain integers: a date is yyyymmdd, a time
 * yyyymmddHHMMSS. Integer order is time order, so comparisons need no calendar. core/ never
 * reads the clock: callers pass "now" in. */
#ifndef POSA_CORE_DATETIME_H
#define POSA_CORE_DATETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DATETIME_DATE_LEN 10 /* "YYYY-MM-DD" */
#define DATETIME_TIME_LEN 19 /* "YYYY-MM-DD HH:MM:SS" */

/* Parses "YYYY-MM-DD" into yyyymmdd; checks the calendar (leap years). 0 or POSA_EDATE. */
int date_parse(const char *text, size_t len, int32_t *ret);
/* Parses "YYYY-MM-DD HH:MM:SS" into yyyymmddHHMMSS. 0 or POSA_EDATE. */
int datetime_parse(const char *text, size_t len, int64_t *ret);
/* Formats into buf (>= 11 / 20 bytes). */
void date_format(int32_t date, char buf[DATETIME_DATE_LEN + 1]);
void datetime_format(int64_t time, char buf[DATETIME_TIME_LEN + 1]);

/* A reconciliation's period: a day "YYYY-MM-DD" (yyyymmdd) or a month "YYYY-MM" (yyyymm00,
 * day 0). 0 or POSA_EDATE. Formatted back as it was written; its first and last days. */
#define DATETIME_MONTH_LEN 7 /* "YYYY-MM" */
int date_period_parse(const char *text, size_t len, int32_t *ret);
void date_period_format(int32_t period, char buf[DATETIME_DATE_LEN + 1]);
int32_t date_period_first(int32_t period);
int32_t date_period_last(int32_t period);

bool date_is_valid(int32_t yyyymmdd);
int32_t datetime_date(int64_t time); /* yyyymmdd of a time */
/* The national interface's times are Beijing time (UTC+8, no daylight saving) whatever
 * zone the machine is set to: yyyymmddHHMMSS of a Unix time, and the Unix time of one. */
int64_t datetime_of_unix(int64_t unix_s); /* clamped to 0000-01-01 .. 9999-12-31 23:59:59 */
#define DATETIME_UNIX_MIN INT64_C(-62167248000) /* 0000-01-01 00:00:00 Beijing time */
#define DATETIME_UNIX_MAX INT64_C(253402271999) /* 9999-12-31 23:59:59 Beijing time */
int64_t datetime_to_unix(int64_t time);
int64_t datetime_add_seconds(int64_t time, int64_t seconds);
int32_t date_add_days(int32_t date, int32_t days);
int32_t date_days_between(int32_t from, int32_t to); /* to - from, in days */

#endif
