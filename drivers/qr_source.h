/* QR scanner sources on the libuv loop: USB CDC serial (termios raw), evdev keyboard wedge
 * (exclusive grab), and TCP (a networked scanner or serial device server, reconnected).
 * Each source belongs to one desk and turns its bytes into de-duplicated, time-stamped
 * struct qr_scan values. A source whose device is missing or lost retries on its own. */
#ifndef POSA_DRIVERS_QR_SOURCE_H
#define POSA_DRIVERS_QR_SOURCE_H

#include <stdint.h>
#include <uv.h>

#include "drivers/qr.h"

struct qr_source;

enum qr_source_kind { QR_SRC_SERIAL, QR_SRC_EVDEV, QR_SRC_TCP };

/* Runs on the loop thread. scan is valid during the call only. Repeats inside the dedup
 * window are not reported; garbage lines are, with status DRV_EQR_INVALID. */
typedef void (*qr_scan_cb)(struct qr_source *src, const struct qr_scan *scan, void *data);
/* Runs on the loop thread when the device becomes ready (err 0: open or connected for
 * QR_READY_HELD_MS, or bytes came), and when it is lost or cannot be opened (err: -errno or
 * a libuv code), each time the state or the reason differs from the last one told: a device
 * retried every second, or taken and dropped at once every second, is told once. */
typedef void (*qr_state_cb)(struct qr_source *src, int err, void *data);

struct qr_source_cfg {
    enum qr_source_kind kind;
    const char *path;  /* /dev/ttyACM0, /dev/input/event3, or "host:port" for TCP */
    const char *desk;  /* desk id carried by every scan */
    int64_t dedup_ms;  /* 0 = QR_DEDUP_WINDOW_MS; < 0 = no de-duplication */
    unsigned retry_ms; /* reopen / reconnect interval; 0 = 1000 */
    qr_state_cb on_state; /* optional; data is qr_source_start's */
};

/* Parses a kind name of the configuration ("serial", "evdev", "tcp"). 0 or DRV_ECONFIG. */
int qr_source_kind_parse(const char *name, enum qr_source_kind *ret);

/* Whether cfg could start (kind, desk, path: serial and evdev an absolute path, tcp an
 * IP:PORT, names not being resolved), for checking a configuration. 0 or DRV_ECONFIG. */
int qr_source_check(const struct qr_source_cfg *cfg);

/* Starts the source; the device need not exist yet. 0, DRV_ECONFIG (bad path or desk)
 * or -ENOMEM. */
int qr_source_start(struct qr_source **ret, uv_loop_t *loop, const struct qr_source_cfg *cfg,
                    qr_scan_cb cb, void *data);

/* Closes the device; cb is not called again; frees src once its handles are closed, so
 * the loop must run on. NULL is a no-op. */
void qr_source_stop(struct qr_source *src);

/* True while the device is open and read (for TCP: connected, not while connecting). */
bool qr_source_is_open(const struct qr_source *src);
/* Why it last failed to open its device or connect, or was lost (-errno, a libuv code), or
 * 0: for the operator. */
int qr_source_error(const struct qr_source *src);

#endif
