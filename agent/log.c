/* One line per event, text or JSON, to stderr or a file reopened on SIGHUP. */
#include "agent/log.h"
#include "core/mask.h"
#include "core/str.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    int fd;
    char path[256];
    enum log_level level;
    bool json;
} log_state = {.fd = 2, .level = LOGL_INFO};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static int log_open_file(void)
{
    struct stat st;
    int fd;

    if (!log_state.path[0])
        return 2;
    /* A file posad creates is 0640 whatever its umask (077 once started: a log reopened
     * after rotation would be 0600, and the log readers' group would lose it); one that
     * exists keeps its owner's and group's bits (a logrotate `create` mode), but not
     * others': the log names the patients' visits, masked or not. Nor a file another
     * account owns, or one a symbolic link names (planted where others may write, it would
     * have posad write its lines, and narrow the modes, of a file of the link's choosing). */
    fd =
        open(log_state.path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd >= 0) {
        (void)fchmod(fd, 0640); /* best effort: the file is posad's either way */
        return fd;
    }
    if (errno == EEXIST)
        fd = open(log_state.path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) /* a device: /dev/null */
        return fd;
    if (st.st_uid != geteuid()) {
        close(fd);
        return -EPERM;
    }
    if (st.st_mode & 0007)
        (void)fchmod(fd, st.st_mode & 0770); /* best effort, as above */
    return fd;
}

int log_open(const char *path, const char *level, const char *format)
{
    int fd;

    str_copy(log_state.path, sizeof(log_state.path), path);
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, level_names[i]) == 0)
            log_state.level = (enum log_level)i;
    log_state.json = format && strcmp(format, "json") == 0;
    fd = log_open_file();
    if (fd < 0)
        return fd;
    log_state.fd = fd;
    return 0;
}

const char *log_open_why(int err)
{
    if (err == -ELOOP)
        return "a symbolic link: posad does not follow one for its log (name the file itself)";
    if (err == -EPERM)
        return "the file is another account's, which would read every line posad writes: make "
               "it posad's, or remove it";
    if (err == -EACCES) /* logrotate's "create 0640 root root", a directory not posad's */
        return "posad's account may not write it or its directory: make the file posad's (in "
               "logrotate: create 0640 <posad's user> <its group>), or the directory";
    return strerror(-err);
}

int log_reopen(void)
{
    int fd = log_open_file();

    if (fd < 0)
        return fd;
    if (log_state.fd > 2)
        close(log_state.fd);
    log_state.fd = fd;
    return 0;
}

void log_close(void)
{
    if (log_state.fd > 2)
        close(log_state.fd);
    log_state.fd = 2;
}

bool log_enabled(enum log_level level)
{
    return level >= log_state.level;
}

bool log_every_second(struct log_every *e, uint64_t now_ms, char n[24])
{
    e->count++;
    if (e->last_ms && now_ms - e->last_ms < 1000)
        return false;
    snprintf(n, 24, "%" PRIu64, e->count);
    e->last_ms = now_ms;
    e->count = 0;
    return true;
}

/* Appends s to buf at *n, escaped for JSON or for a text value (quoted when it has blanks
 * or quotes). */
static void log_put(char *buf, size_t cap, size_t *n, const char *s, bool quote_json)
{
    bool quote = quote_json || (!log_state.json && strpbrk(s, " \"=\t") != NULL);

    if (quote && *n < cap)
        buf[(*n)++] = '"';
    for (; *s && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = (char)c;
        } else if (c < 0x20) {
            *n += (size_t)snprintf(buf + *n, cap - *n, "\\u%04x", c);
        } else {
            buf[(*n)++] = (char)c;
        }
    }
    if (quote && *n < cap)
        buf[(*n)++] = '"';
}

void log_event(enum log_level level, const char *event, ...)
{
    char buf[4096], ts[40];
    size_t n = 0;
    struct timeval tv;
    struct tm tm;
    va_list ap;
    const char *k, *v;

    if (!log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    if (log_state.json)
        n = (size_t)snprintf(buf, sizeof buf, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"",
                             ts, level_names[level], event);
    else
        n = (size_t)snprintf(buf, sizeof buf, "%s level=%s event=%s", ts, level_names[level],
                             event);
    va_start(ap, event);
    while ((k = va_arg(ap, const char *)) && n + 16 < sizeof buf) {
        char masked[512];

        v = va_arg(ap, const char *);
        if (!v)
            continue;
        /* The platform's own words (err_msg) may name the patient (numbers, a name): masked here,
         * once, for every event that carries them. */
        if (strcmp(k, "err_msg") == 0) {
            mask_free_text(v, masked, sizeof masked);
            v = masked;
        }
        if (log_state.json) {
            buf[n++] = ',';
            log_put(buf, sizeof buf, &n, k, true);
            buf[n++] = ':';
            log_put(buf, sizeof buf, &n, v, true);
        } else {
            n += (size_t)snprintf(buf + n, sizeof buf - n, " %s=", k);
            if (n < sizeof buf)
                log_put(buf, sizeof buf, &n, v, false);
        }
    }
    va_end(ap);
    if (n > sizeof buf - 3)
        n = sizeof buf - 3;
    if (log_state.json)
        buf[n++] = '}';
    buf[n++] = '\n';
    /* One write per line: lines from one process never interleave. */
    ssize_t w = write(log_state.fd, buf, n);
    (void)w;
}
