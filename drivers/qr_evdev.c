/* Keyboard-wedge scanners (/dev/input/event*): exclusive grab so codes do not reach the
 * console, key events decoded by keymap.c, Enter ends the line. */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/err.h"
#include "drivers/qr_source_impl.h"

static int evdev_check(struct qr_source *s)
{
    return s->path[0] == '/' ? 0 : DRV_ECONFIG;
}

static int evdev_open(struct qr_source *s)
{
    int fd = open(s->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* ENOTTY/EINVAL: not an evdev node (a recorded event stream through a FIFO), read it
     * anyway. EBUSY: another program holds the grab, and would see our codes: refuse. */
    if (ioctl(fd, EVIOCGRAB, (void *)1) < 0 && errno != ENOTTY && errno != EINVAL) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    qr_source_fd_start(s, fd);
    return s->open ? 0 : DRV_ECONFIG;
}

static void evdev_bytes(struct qr_source *s, const uint8_t *b, size_t n)
{
    struct input_event ev;

    _Static_assert(sizeof ev <= sizeof s->partial, "partial buffer holds one event");
    while (n > 0) {
        size_t take = sizeof ev - s->npartial;
        if (take > n)
            take = n;
        memcpy(s->partial + s->npartial, b, take);
        s->npartial += take;
        b += take;
        n -= take;
        if (s->npartial < sizeof ev)
            return;
        memcpy(&ev, s->partial, sizeof ev);
        s->npartial = 0;
        char c = keymap_feed(&s->keys, ev.type, ev.code, ev.value);
        if (c)
            qr_source_text(s, (const uint8_t *)&c, 1);
    }
}

const struct qr_kind qr_kind_evdev = {"evdev", evdev_check, evdev_open, evdev_bytes};
