/* Scanner sources: the table of kinds, lifecycle, retry, and bytes -> scans. */
#include "drivers/qr_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "drivers/qr_source_impl.h"

static const struct qr_kind *const kinds[] = {
    [QR_SRC_SERIAL] = &qr_kind_serial,
    [QR_SRC_EVDEV] = &qr_kind_evdev,
    [QR_SRC_TCP] = &qr_kind_tcp,
};

int qr_source_kind_parse(const char *name, enum qr_source_kind *ret)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->name, name) == 0) {
            *ret = (enum qr_source_kind)i;
            return 0;
        }
    return DRV_ECONFIG;
}

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_line(void *data, int status, const uint8_t *line, size_t len)
{
    struct qr_source *s = data;
    struct qr_scan scan = {.status = status, .len = len, .time_ms = realtime_ms()};

    if (s->stopping || !s->cb)
        return;
    if (status == 0) {
        /* uv_now is monotonic: a clock step cannot make a repeat look new, or vice versa. */
        if (s->dedup_on &&
            qr_dedup_is_repeat(&s->dedup, (const char *)line, len, (int64_t)uv_now(s->loop)))
            return;
        memcpy(scan.code, line, len);
        scan.code[len] = '\0';
    } else { /* a misread between two scans of one code: the second is a scan */
        qr_dedup_forget(&s->dedup);
    }
    memcpy(scan.desk, s->desk, sizeof scan.desk);
    s->cb(s, &scan, s->data);
}

static void on_gap(uv_timer_t *t)
{
    struct qr_source *s = t->data;

    qr_line_flush(&s->line, on_line, s);
}

void qr_source_text(struct qr_source *s, const uint8_t *b, size_t n)
{
    qr_source_tell(s, 0); /* bytes came: it works */
    qr_line_feed(&s->line, b, n, on_line, s);
    /* A line left open (no suffix, or cut off) would be glued to the next patient's code. */
    if (qr_line_pending(&s->line))
        uv_timer_start(&s->gap, on_gap, QR_LINE_GAP_MS, 0);
    else
        uv_timer_stop(&s->gap);
}

static void on_closed(uv_handle_t *handle)
{
    struct qr_source *s = handle->data;

    if (handle == (uv_handle_t *)&s->io) {
        s->io_closing = false;
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
    }
    if (--s->handles == 0 && s->stopping)
        free(s);
}

static void on_retry(uv_timer_t *t)
{
    struct qr_source *s = t->data;

    if (s->open || s->stopping)
        return;
    if (s->io_closing) {
        uv_timer_start(&s->retry, on_retry, s->retry_ms, 0);
        return;
    }
    qr_line_init(&s->line); /* a line cut by the loss is not half-kept */
    s->keys = (struct keymap_state){false, false};
    s->npartial = 0;
    int rc = s->kind->open(s); /* 0 for a connection begun: the last error stands till made */
    if (rc < 0) {
        s->error = rc;
        qr_source_tell(s, s->error);
        uv_timer_start(&s->retry, on_retry, s->retry_ms, 0);
    }
}

static void on_ready_held(uv_timer_t *t)
{
    struct qr_source *s = t->data;

    if (s->open)
        qr_source_tell(s, 0);
}

void qr_source_opened(struct qr_source *s)
{
    s->error = 0;
    s->ready = true;
    /* The retry timer is idle while the device is open; a loss restarts it for the retry. */
    if (!s->stopping)
        uv_timer_start(&s->retry, on_ready_held, QR_READY_HELD_MS, 0);
}

void qr_source_tell(struct qr_source *s, int err)
{
    int state = err < 0 ? err : 1;

    if (state == s->told || s->stopping)
        return;
    s->told = state;
    if (s->on_state)
        s->on_state(s, err, s->data);
}

void qr_source_lost(struct qr_source *s, int err)
{
    /* A line the loss cut is not half-kept: not ended by the gap as a scan either. */
    uv_timer_stop(&s->gap);
    qr_line_init(&s->line);
    s->error = err;
    s->ready = false;
    qr_source_tell(s, err);
    if (s->open) {
        s->open = false;
        s->io_closing = true;
        uv_close((uv_handle_t *)&s->io, on_closed);
    }
    if (!s->stopping)
        uv_timer_start(&s->retry, on_retry, s->retry_ms, 0);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    struct qr_source *s = p->data;
    uint8_t buf[512];

    (void)events;
    if (status < 0) { /* POLLERR, which libuv says as EBADF: read says what it was */
        ssize_t n = read(s->fd, buf, sizeof buf);
        qr_source_lost(s, n == 0 ? UV_EOF : n < 0 && errno != EAGAIN ? -errno : status);
        return;
    }
    for (int i = 0; i < 16 && s->open; i++) { /* bounded: other handles get their turn */
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n > 0) {
            s->kind->on_bytes(s, buf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        qr_source_lost(s, n == 0 ? UV_EOF : -errno); /* EOF or EIO: unplugged */
        return;
    }
}

void qr_source_fd_start(struct qr_source *s, int fd)
{
    s->fd = fd;
    if (uv_poll_init(s->loop, &s->io.poll, fd) != 0) {
        close(fd);
        s->fd = -1;
        return;
    }
    s->io.poll.data = s;
    s->handles++;
    s->open = true;
    uv_poll_start(&s->io.poll, UV_READABLE, on_readable);
    qr_source_opened(s);
}

static int copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n == 0 || n >= cap)
        return DRV_ECONFIG;
    memcpy(dst, src, n + 1);
    return 0;
}

int qr_source_check(const struct qr_source_cfg *cfg)
{
    struct qr_source s; /* a kind's check reads the path and may set the address */
    int rc;

    if ((unsigned)cfg->kind >= sizeof kinds / sizeof kinds[0])
        return DRV_ECONFIG;
    memset(&s, 0, sizeof s);
    s.kind = kinds[cfg->kind];
    rc = copy_bounded(s.desk, sizeof s.desk, cfg->desk);
    if (rc == 0)
        rc = copy_bounded(s.path, sizeof s.path, cfg->path);
    return rc == 0 ? s.kind->check(&s) : rc;
}

int qr_source_start(struct qr_source **ret, uv_loop_t *loop, const struct qr_source_cfg *cfg,
                    qr_scan_cb cb, void *data)
{
    int rc = qr_source_check(cfg);

    if (rc < 0)
        return rc;
    struct qr_source *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->kind = kinds[cfg->kind];
    s->loop = loop;
    s->cb = cb;
    s->on_state = cfg->on_state;
    s->data = data;
    s->fd = -1;
    s->retry_ms = cfg->retry_ms ? cfg->retry_ms : 1000;
    s->dedup_on = cfg->dedup_ms >= 0;
    qr_dedup_init(&s->dedup, cfg->dedup_ms > 0 ? cfg->dedup_ms : QR_DEDUP_WINDOW_MS);
    qr_line_init(&s->line);
    rc = copy_bounded(s->desk, sizeof s->desk, cfg->desk);
    if (rc == 0)
        rc = copy_bounded(s->path, sizeof s->path, cfg->path);
    if (rc == 0)
        rc = s->kind->check(s);
    if (rc < 0) {
        free(s);
        return rc;
    }
    uv_timer_init(loop, &s->retry);
    s->retry.data = s;
    uv_timer_init(loop, &s->gap);
    s->gap.data = s;
    s->handles = 2;
    on_retry(&s->retry);
    *ret = s;
    return 0;
}

void qr_source_stop(struct qr_source *s)
{
    if (!s)
        return;
    s->stopping = true;
    s->cb = NULL;
    s->ready = false;
    if (s->open) {
        s->open = false;
        s->io_closing = true;
        uv_close((uv_handle_t *)&s->io, on_closed);
    }
    uv_close((uv_handle_t *)&s->retry, on_closed);
    uv_close((uv_handle_t *)&s->gap, on_closed);
}

int qr_source_error(const struct qr_source *s)
{
    return s->error;
}

bool qr_source_is_open(const struct qr_source *s)
{
    return s->ready;
}
