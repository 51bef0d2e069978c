/* USB CDC serial scanners (/dev/ttyACM*): termios raw mode, read through uv_poll. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include "core/err.h"
#include "drivers/qr_source_impl.h"

static int serial_check(struct qr_source *s)
{
    return s->path[0] == '/' ? 0 : DRV_ECONFIG;
}

/* Raw 8N1: no echo, no line editing, no CR/NL translation, so the scanner's own
 * terminator reaches the line splitter unchanged. CDC ACM ignores the speed. */
static int make_raw(int fd)
{
    struct termios t;

    if (tcgetattr(fd, &t) < 0)
        return -errno;
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, B115200);
    cfsetospeed(&t, B115200);
    if (tcsetattr(fd, TCSANOW, &t) < 0)
        return -errno;
    tcflush(fd, TCIFLUSH); /* stale bytes from before we opened are not a scan */
    return 0;
}

static int serial_open(struct qr_source *s)
{
    int fd = open(s->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* One reader of a scanner: another posad (or another program) would take half its scans. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

        close(fd);
        return err;
    }
    int rc = make_raw(fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    qr_source_fd_start(s, fd);
    return s->open ? 0 : DRV_ECONFIG;
}

const struct qr_kind qr_kind_serial = {"serial", serial_check, serial_open, qr_source_text};
