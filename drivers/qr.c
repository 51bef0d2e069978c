/* QR line validation, stream splitting and de-duplication: pure. */
#include "drivers/qr.h"

#include <stdbool.h>
#include <string.h>

#include "core/err.h"

int qr_line_check(const uint8_t *line, size_t len)
{
    bool blank = true;

    if (len == 0 || len > BOUND_QR_LINE)
        return DRV_EQR_INVALID;
    for (size_t i = 0; i < len; i++) {
        if (line[i] < 0x20 || line[i] > 0x7E)
            return DRV_EQR_INVALID;
        blank &= line[i] == ' ';
    }
    return blank ? DRV_EQR_INVALID : 0; /* spaces alone (a wedge's stray keys) are no code */
}

void qr_line_init(struct qr_line *l)
{
    l->len = 0;
    l->dropped = 0;
    l->after_cr = false;
}

static void end_line(struct qr_line *l, qr_line_cb cb, void *data)
{
    size_t full = l->len + l->dropped;
    int status = l->dropped ? DRV_EQR_INVALID : qr_line_check(l->buf, l->len);

    /* A terminator with nothing before it is no scan: a suffix of LF CR, or CR CR, would
     * otherwise tell the cashier "invalid code" after every good one. */
    if (full == 0)
        return;
    cb(data, status, l->buf, full);
    l->len = 0;
    l->dropped = 0;
}

void qr_line_feed(struct qr_line *l, const uint8_t *bytes, size_t n, qr_line_cb cb, void *data)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = bytes[i];
        bool was_cr = l->after_cr;
        l->after_cr = c == '\r';
        if (c == '\n' && was_cr)
            continue; /* CRLF is one terminator */
        if (c == '\r' || c == '\n') {
            end_line(l, cb, data);
            continue;
        }
        if (l->len < sizeof l->buf)
            l->buf[l->len++] = c;
        else if (l->dropped < SIZE_MAX)
            l->dropped++;
    }
}

void qr_line_flush(struct qr_line *l, qr_line_cb cb, void *data)
{
    end_line(l, cb, data);
    l->after_cr = false;
}

bool qr_line_pending(const struct qr_line *l)
{
    return l->len + l->dropped > 0;
}

void qr_dedup_init(struct qr_dedup *d, int64_t window_ms)
{
    qr_dedup_forget(d);
    d->window_ms = window_ms;
}

void qr_dedup_forget(struct qr_dedup *d)
{
    d->last_len = 0;
    d->last_ms = 0;
}

bool qr_dedup_is_repeat(struct qr_dedup *d, const char *code, size_t len, int64_t now_ms)
{
    bool repeat = d->last_len != 0 && len == d->last_len && memcmp(code, d->last, len) == 0 &&
                  now_ms >= d->last_ms && now_ms - d->last_ms < d->window_ms;

    if (len > sizeof d->last) { /* never a valid code: forget the last one */
        d->last_len = 0;
        return false;
    }
    memcpy(d->last, code, len);
    d->last_len = len;
    d->last_ms = now_ms;
    return repeat;
}
