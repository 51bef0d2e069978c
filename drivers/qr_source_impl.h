/* Internals shared by the scanner kinds of qr_source.c: one table row per kind. */
#ifndef POSA_DRIVERS_QR_SOURCE_IMPL_H
#define POSA_DRIVERS_QR_SOURCE_IMPL_H

#include <stdbool.h>
#include <sys/socket.h>

#include "drivers/keymap.h"
#include "drivers/qr_source.h"

#define QR_PATH_MAX 255
/* A device open this long, or that sent bytes, is told ready: a device server that takes the
 * connection and drops it at once is not "ready, lost" every second in the log. */
#define QR_READY_HELD_MS 2000

struct qr_source {
    const struct qr_kind *kind;
    uv_loop_t *loop;
    qr_scan_cb cb;
    qr_state_cb on_state;
    int told; /* the state last given on_state: 1 ready, an error, 0 none yet */
    void *data;
    char desk[QR_DESK_MAX + 1];
    char path[QR_PATH_MAX + 1];
    unsigned retry_ms;
    struct qr_line line;
    struct qr_dedup dedup;
    bool dedup_on;
    struct keymap_state keys; /* evdev */
    uint8_t partial[24];      /* evdev: bytes of an incomplete input_event */
    size_t npartial;
    struct sockaddr_storage addr; /* tcp */
    uv_timer_t retry;
    uv_timer_t gap; /* a line begun ends after QR_LINE_GAP_MS of quiet */
    union {
        uv_poll_t poll; /* serial, evdev: fd below */
        uv_tcp_t tcp;
    } io;
    uv_connect_t connect;
    int fd;
    bool open;       /* io handle initialised and not closing */
    bool ready;      /* open and reading (a connection made, not only begun) */
    int error;       /* why it last failed to open or connect (-errno), or 0 */
    bool io_closing; /* io handle closing: its memory is not free yet */
    bool stopping;
    int handles; /* initialised handles not yet closed */
};

struct qr_kind {
    const char *name;
    int (*check)(struct qr_source *s); /* validate path at start (pure) */
    int (*open)(struct qr_source *s);  /* opens the device, starts reading */
    void (*on_bytes)(struct qr_source *s, const uint8_t *b, size_t n);
};

extern const struct qr_kind qr_kind_serial, qr_kind_evdev, qr_kind_tcp;

/* Common paths, in qr_source.c. */
void qr_source_text(struct qr_source *s, const uint8_t *b, size_t n); /* bytes -> lines */
void qr_source_lost(struct qr_source *s, int err);    /* why; close io, retry later */
void qr_source_fd_start(struct qr_source *s, int fd); /* uv_poll reading fd */
void qr_source_tell(struct qr_source *s, int err);    /* on_state, when it changed */
void qr_source_opened(struct qr_source *s);           /* ready, told once it holds */

#endif
