/* QR scans (medical-insurance e-voucher codes) as the engine receives them, and the pure
 * parts of every scanner source: line validation, splitting a byte stream into lines,
 * and de-duplication of a scanner's repeats. The code text is opaque: never parsed. */
#ifndef POSA_DRIVERS_QR_H
#define POSA_DRIVERS_QR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bound.h"

#define QR_DESK_MAX        32
#define QR_DEDUP_WINDOW_MS 2000 /* scanners repeat a code held under them about every 0.5 s */

/* One scan. status 0: code is a valid line; DRV_EQR_INVALID: garbage (code empty, len
 * the garbage length, so the engine can ask for a fresh scan). Empty lines are no scans. */
struct qr_scan {
    int status;
    char desk[QR_DESK_MAX + 1];
    char code[BOUND_QR_LINE + 1];
    size_t len;
    int64_t time_ms; /* CLOCK_REALTIME in ms when the line ended */
};

/* 0 if line (terminator already removed) is 1..BOUND_QR_LINE bytes of printable ASCII
 * (0x20..0x7E), not spaces alone, else DRV_EQR_INVALID. */
int qr_line_check(const uint8_t *line, size_t len);

/* Splits a byte stream into lines ended by CR, LF or CRLF. A line that grows past the
 * bound is dropped whole and reported invalid at its end, never cut into a valid one. */
struct qr_line {
    uint8_t buf[BOUND_QR_LINE];
    size_t len;
    size_t dropped; /* bytes beyond the bound in the current line */
    bool after_cr;
};

/* Called for each complete line that is not empty: status 0 or DRV_EQR_INVALID, the line's
 * bytes (the first BOUND_QR_LINE of an overlong one) and its full length. */
typedef void (*qr_line_cb)(void *data, int status, const uint8_t *line, size_t len);

void qr_line_init(struct qr_line *l);
void qr_line_feed(struct qr_line *l, const uint8_t *bytes, size_t n, qr_line_cb cb, void *data);
/* Ends the line begun, if any, as a terminator would: a scanner that sends no suffix, or
 * one cut off, after the source has been quiet a while (QR_LINE_GAP_MS). */
void qr_line_flush(struct qr_line *l, qr_line_cb cb, void *data);
/* Whether a line is begun and not ended. */
bool qr_line_pending(const struct qr_line *l);

/* A scanner sends a code in one burst: this long with nothing more ends the line. */
#define QR_LINE_GAP_MS 300

/* Remembers the last code of one source: the same code again within window_ms is a repeat. */
struct qr_dedup {
    char last[BOUND_QR_LINE];
    size_t last_len;
    int64_t last_ms;
    int64_t window_ms;
};

void qr_dedup_init(struct qr_dedup *d, int64_t window_ms);
/* True if code repeats the previous one within the window; a repeat extends the window
 * (a code held under the scanner stays one scan). Pure: now_ms is a parameter. */
bool qr_dedup_is_repeat(struct qr_dedup *d, const char *code, size_t len, int64_t now_ms);
/* Forgets the last code: the next is no repeat (a misread came between). */
void qr_dedup_forget(struct qr_dedup *d);

#endif
