/* Calendar arithmetic on yyyymmdd / yyyymmddHHMMSS integers (proleptic Gregorian). */
#include "core/datetime.h"

#include "core/err.h"

static bool is_leap(int32_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int32_t days_in_month(int32_t y, int32_t m)
{
    static const int8_t days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool date_is_valid(int32_t d)
{
    int32_t y = d / 10000, m = d / 100 % 100, day = d % 100;

    return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && day >= 1 &&
           day <= days_in_month(y, m);
}

/* Reads n ASCII digits at text, or -1. */
static int32_t read_digits(const char *text, int n)
{
    int32_t v = 0;

    for (int i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    return v;
}

int date_parse(const char *text, size_t len, int32_t *ret)
{
    int32_t y, m, d;

    if (len != DATETIME_DATE_LEN || text[4] != '-' || text[7] != '-')
        return POSA_EDATE;
    y = read_digits(text, 4);
    m = read_digits(text + 5, 2);
    d = read_digits(text + 8, 2);
    if (y < 0 || m < 0 || d < 0 || !date_is_valid(y * 10000 + m * 100 + d))
        return POSA_EDATE;
    *ret = y * 10000 + m * 100 + d;
    return 0;
}

int datetime_parse(const char *text, size_t len, int64_t *ret)
{
    int32_t date, h, mi, s;

    if (len != DATETIME_TIME_LEN || text[10] != ' ' || text[13] != ':' || text[16] != ':')
        return POSA_EDATE;
    if (date_parse(text, DATETIME_DATE_LEN, &date) < 0)
        return POSA_EDATE;
    h = read_digits(text + 11, 2);
    mi = read_digits(text + 14, 2);
    s = read_digits(text + 17, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
        return POSA_EDATE;
    *ret = (int64_t)date * 1000000 + h * 10000 + mi * 100 + s;
    return 0;
}

static void put_digits(char *out, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
}

int date_period_parse(const char *text, size_t len, int32_t *ret)
{
    int32_t y, m;

    if (len != DATETIME_MONTH_LEN)
        return date_parse(text, len, ret);
    y = read_digits(text, 4);
    m = read_digits(text + 5, 2);
    if (text[4] != '-' || y < 0 || m < 0 || !date_is_valid(y * 10000 + m * 100 + 1))
        return POSA_EDATE;
    *ret = y * 10000 + m * 100;
    return 0;
}

void date_period_format(int32_t period, char buf[DATETIME_DATE_LEN + 1])
{
    date_format(date_period_first(period), buf);
    if (period % 100 == 0)
        buf[DATETIME_MONTH_LEN] = '\0';
}

int32_t date_period_first(int32_t period)
{
    return period % 100 ? period : period + 1;
}

int32_t date_period_last(int32_t period)
{
    int32_t last = period % 100 ? period : period + 31;

    while (!date_is_valid(last))
        last--;
    return last;
}

void date_format(int32_t date, char buf[DATETIME_DATE_LEN + 1])
{
    put_digits(buf, date / 10000, 4);
    buf[4] = '-';
    put_digits(buf + 5, date / 100 % 100, 2);
    buf[7] = '-';
    put_digits(buf + 8, date % 100, 2);
    buf[10] = '\0';
}

void datetime_format(int64_t time, char buf[DATETIME_TIME_LEN + 1])
{
    date_format((int32_t)(time / 1000000), buf);
    buf[10] = ' ';
    put_digits(buf + 11, time / 10000 % 100, 2);
    buf[13] = ':';
    put_digits(buf + 14, time / 100 % 100, 2);
    buf[16] = ':';
    put_digits(buf + 17, time % 100, 2);
    buf[19] = '\0';
}

int32_t datetime_date(int64_t time)
{
    return (int32_t)(time / 1000000);
}

/* Days since 1970-01-01 (Howard Hinnant's days_from_civil). */
static int32_t days_from_civil(int32_t date)
{
    int32_t y = date / 10000, m = date / 100 % 100, d = date % 100;
    int32_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int32_t civil_from_days(int32_t z)
{
    int32_t era, doe, yoe, y, doy, mp, d, m;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    return y * 10000 + m * 100 + d;
}

#define BEIJING_OFFSET_S (8 * 3600)
#define DAY_S            86400

int64_t datetime_of_unix(int64_t unix_s)
{
    int64_t local;

    /* Outside years 0000-9999 the days leave int32 (a time read from a file is any int64). */
    if (unix_s < DATETIME_UNIX_MIN)
        unix_s = DATETIME_UNIX_MIN;
    if (unix_s > DATETIME_UNIX_MAX)
        unix_s = DATETIME_UNIX_MAX;
    local = unix_s + BEIJING_OFFSET_S;
    int64_t days = (local >= 0 ? local : local - (DAY_S - 1)) / DAY_S; /* floor */
    int64_t in_day = local - days * DAY_S;

    return (int64_t)civil_from_days((int32_t)days) * 1000000 + in_day / 3600 * 10000 +
           in_day / 60 % 60 * 100 + in_day % 60;
}

int64_t datetime_to_unix(int64_t time)
{
    int64_t hms = time % 1000000;

    return (int64_t)days_from_civil(datetime_date(time)) * DAY_S + hms / 10000 * 3600 +
           hms / 100 % 100 * 60 + hms % 100 - BEIJING_OFFSET_S;
}

int64_t datetime_add_seconds(int64_t time, int64_t seconds)
{
    return datetime_of_unix(datetime_to_unix(time) + seconds);
}

int32_t date_add_days(int32_t date, int32_t days)
{
    return civil_from_days(days_from_civil(date) + days);
}

int32_t date_days_between(int32_t from, int32_t to)
{
    return days_from_civil(to) - days_from_civil(from);
}
