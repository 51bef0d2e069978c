/* Scanner sources over real descriptors: a pty pair for the serial path, a TCP socket for
 * networked scanners, a FIFO carrying a recorded evdev event stream for the keyboard
 * wedge (uinput is not available in this container). */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include "core/err.h"
#include "drivers/qr_source.h"

#define SCANS_MAX 16
#define T_WAIT    3000

struct collect {
    struct qr_scan scans[SCANS_MAX];
    int n;
    int states[SCANS_MAX]; /* what on_state was told, in order */
    int n_states;
};

static uv_loop_t loop;
static struct collect got;

static void on_scan(struct qr_source *src, const struct qr_scan *scan, void *data)
{
    struct collect *c = data;
    (void)src;
    if (c->n < SCANS_MAX)
        c->scans[c->n++] = *scan;
}

static void on_state(struct qr_source *src, int err, void *data)
{
    struct collect *c = data;
    (void)src;
    if (c->n_states < SCANS_MAX)
        c->states[c->n_states++] = err;
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop until *cond says so or T_WAIT passes; returns the final answer. */
static bool run_until(bool (*cond)(void *), void *arg)
{
    uv_timer_t timer;
    bool expired = false;

    uv_timer_init(&loop, &timer);
    timer.data = &expired;
    uv_timer_start(&timer, on_deadline, T_WAIT, 0);
    while (!cond(arg) && !expired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return cond(arg);
}

static bool have_n(void *arg)
{
    return got.n >= *(int *)arg;
}

static bool wait_scans(int n)
{
    return run_until(have_n, &n);
}

static bool have_states(void *arg)
{
    return got.n_states >= *(int *)arg;
}

static bool wait_states(int n)
{
    return run_until(have_states, &n);
}

static bool is_closed(void *arg)
{
    return !qr_source_is_open(arg);
}

static void write_all(int fd, const void *buf, size_t n)
{
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
}

static int setup(void **state)
{
    (void)state;
    memset(&got, 0, sizeof got);
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    (void)state;
    uv_run(&loop, UV_RUN_DEFAULT); /* closes what the test stopped */
    return uv_loop_close(&loop) == 0 ? 0 : -1;
}

static void test_serial_pty(void **state)
{
    struct qr_source *src;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    char big[600];

    (void)state;
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    struct qr_source_cfg cfg = {QR_SRC_SERIAL, ptsname(master), "D01", 0, 50, on_state};
    assert_int_equal(qr_source_start(&src, &loop, &cfg, on_scan, &got), 0);
    assert_true(qr_source_is_open(src));

    /* One reader of a scanner: a second source of the same device does not open it (it
     * took every other scan before). */
    struct qr_source *other;
    struct qr_source_cfg other_cfg = cfg;
    other_cfg.on_state = NULL;
    assert_int_equal(qr_source_start(&other, &loop, &other_cfg, on_scan, &got), 0);
    assert_false(qr_source_is_open(other));
    qr_source_stop(other);

    /* The slave is raw now: no canonical mode, no echo, CR not turned into NL. */
    int probe = open(cfg.path, O_RDWR | O_NOCTTY);
    struct termios t;
    assert_int_equal(tcgetattr(probe, &t), 0);
    assert_false(t.c_lflag & (ICANON | ECHO | ISIG));
    assert_false(t.c_iflag & ICRNL);
    close(probe);

    write_all(master, "630000ec7ioqup8p1o0761820a\r\n", 28);
    write_all(master, "630000ec7ioqup8p1o0761820a\r\n", 28); /* scanner repeat */
    write_all(master, "\x01\x02\xFE\r\n", 5);                /* binary */
    memset(big, 'Q', sizeof big);
    write_all(master, big, sizeof big); /* too long */
    write_all(master, "\r\nSECOND-CODE\r", 14);
    assert_true(wait_scans(4));
    assert_int_equal(got.scans[0].status, 0);
    assert_string_equal(got.scans[0].code, "630000ec7ioqup8p1o0761820a");
    assert_string_equal(got.scans[0].desk, "D01");
    assert_true(got.scans[0].time_ms > 1700000000000LL);
    assert_int_equal(got.scans[1].status, DRV_EQR_INVALID);
    assert_string_equal(got.scans[1].code, "");
    assert_int_equal(got.scans[2].status, DRV_EQR_INVALID);
    assert_int_equal(got.scans[2].len, 600);
    assert_string_equal(got.scans[3].code, "SECOND-CODE");
    assert_int_equal(got.n, 4);

    /* A scanner set to send no suffix (or one cut off): the quiet after it ends the line,
     * which is not glued to the next patient's code. */
    write_all(master, "NO-SUFFIX-CODE", 14);
    assert_true(wait_scans(5));
    assert_string_equal(got.scans[4].code, "NO-SUFFIX-CODE");
    write_all(master, "NEXT-CODE\r\n", 11);
    assert_true(wait_scans(6));
    assert_string_equal(got.scans[5].code, "NEXT-CODE");

    close(master); /* unplugged: the source notices and retries */
    assert_true(run_until(is_closed, src));
    /* Told as the end of the device (or its I/O error), not as libuv's EBADF for POLLERR,
     * which read like a fault of posad's. */
    assert_true(wait_states(2));
    assert_int_equal(got.states[0], 0);
    assert_true(got.states[1] == UV_EOF || got.states[1] == UV_EIO);
    qr_source_stop(src);
}

/* A scanner whose SYNs go unanswered (a listener whose backlog is full): not open while the
 * connection is being made (it showed "present"), and given up after QR_TCP_CONNECT_MS
 * (5 s) with ETIMEDOUT instead of the kernel's two minutes. */
static void test_tcp_connect_unanswered(void **state)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
    char path[64];
    struct qr_source *src;

    (void)state;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &len), 0);
    for (int i = 0; i < 4; i++) { /* fill the backlog; never accepted */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&addr, sizeof addr);
    }
    snprintf(path, sizeof path, "127.0.0.1:%d", ntohs(addr.sin_port));
    struct qr_source_cfg cfg = {QR_SRC_TCP, path, "D01", 0, 60000, on_state};
    assert_int_equal(qr_source_start(&src, &loop, &cfg, on_scan, &got), 0);
    assert_false(wait_states(1)); /* 3 s: still connecting, nothing told */
    assert_false(qr_source_is_open(src));
    assert_true(wait_states(1));
    assert_int_equal(got.states[0], UV_ETIMEDOUT);
    assert_int_equal(qr_source_error(src), UV_ETIMEDOUT);
    assert_false(qr_source_is_open(src));
    qr_source_stop(src);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

static void on_conn_closed(uv_handle_t *h)
{
    free(h);
}

struct server {
    uv_tcp_t listener;
    uv_tcp_t *conn;
    int accepted;
};

static void on_accept(uv_stream_t *l, int status)
{
    struct server *sv = l->data;
    assert_int_equal(status, 0);
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(&loop, c);
    assert_int_equal(uv_accept(l, (uv_stream_t *)c), 0);
    sv->conn = c;
    sv->accepted++;
}

static bool accepted_n(void *arg)
{
    struct server *sv = arg;
    return sv->accepted >= 2 || (sv->accepted == 1 && sv->conn);
}

static bool accepted_2(void *arg)
{
    return ((struct server *)arg)->accepted >= 2;
}

static void send_text(struct server *sv, const char *text)
{
    uv_buf_t b = uv_buf_init((char *)(uintptr_t)text, (unsigned)strlen(text));
    assert_int_equal(uv_try_write((uv_stream_t *)sv->conn, &b, 1), (int)strlen(text));
}

/* A networked scanner's end: sv listens on a free loopback port, path is its "IP:PORT";
 * accept takes each connection. */
static void listen_scanner_with(struct server *sv, char *path, size_t cap, uv_connection_cb accept)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;

    uv_tcp_init(&loop, &sv->listener);
    sv->listener.data = sv;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&sv->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&sv->listener, 4, accept), 0);
    uv_tcp_getsockname(&sv->listener, (struct sockaddr *)&bound, &len);
    snprintf(path, cap, "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&bound)->sin_port));
}

static void listen_scanner(struct server *sv, char *path, size_t cap)
{
    listen_scanner_with(sv, path, cap, on_accept);
}

static void test_tcp_source(void **state)
{
    struct server sv = {0};
    char path[64];
    struct qr_source *src;

    (void)state;
    listen_scanner(&sv, path, sizeof path);

    struct qr_source_cfg cfg = {QR_SRC_TCP, path, "D07", 0, 50, on_state};
    assert_int_equal(qr_source_start(&src, &loop, &cfg, on_scan, &got), 0);
    assert_true(run_until(accepted_n, &sv));
    send_text(&sv, "NET-CODE-1\nNET-");
    send_text(&sv, "CODE-2\n\n\x01\n");
    assert_true(wait_scans(3));
    assert_string_equal(got.scans[0].code, "NET-CODE-1");
    assert_string_equal(got.scans[1].code, "NET-CODE-2");
    /* the binary line; the empty one before it is no scan */
    assert_int_equal(got.scans[2].status, DRV_EQR_INVALID);
    assert_int_equal(got.scans[2].len, 1);
    assert_string_equal(got.scans[0].desk, "D07");
    assert_int_equal(got.n_states, 1);
    assert_int_equal(got.states[0], 0); /* connected */

    /* The scanner drops the connection mid-line: that half line is not a scan, and the
     * source connects again; each change is told. */
    send_text(&sv, "HALF");
    uv_close((uv_handle_t *)sv.conn, on_conn_closed);
    sv.conn = NULL;
    assert_true(run_until(accepted_2, &sv));
    send_text(&sv, "AFTER-RECONNECT\r\n");
    assert_true(wait_scans(4));
    assert_string_equal(got.scans[3].code, "AFTER-RECONNECT");
    assert_int_equal(got.n, 4);
    assert_int_equal(got.n_states, 3);
    assert_int_equal(got.states[1], UV_EOF);
    assert_int_equal(got.states[2], 0);

    qr_source_stop(src);
    uv_close((uv_handle_t *)sv.conn, on_conn_closed);
    uv_close((uv_handle_t *)&sv.listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT); /* sv lives on this stack: close it before returning */
}

/* A scanner that drops mid-line and is slow to come back (retry 5 s): the half line is not
 * ended by the quiet after it as a scan (the gap timer outlived the loss). */
static void test_tcp_line_cut_by_a_loss_is_no_scan(void **state)
{
    struct server sv = {0};
    char path[64];
    struct qr_source *src;

    (void)state;
    listen_scanner(&sv, path, sizeof path);

    struct qr_source_cfg cfg = {QR_SRC_TCP, path, "D07", 0, 5000, NULL};
    assert_int_equal(qr_source_start(&src, &loop, &cfg, on_scan, &got), 0);
    assert_true(run_until(accepted_n, &sv));
    send_text(&sv, "SBQR320200");
    uv_close((uv_handle_t *)sv.conn, on_conn_closed);
    sv.conn = NULL;
    assert_true(run_until(is_closed, src));
    assert_false(wait_scans(1)); /* T_WAIT, well past the gap */

    qr_source_stop(src);
    uv_close((uv_handle_t *)&sv.listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void on_accept_and_drop(uv_stream_t *l, int status)
{
    struct server *sv = l->data;
    uv_tcp_t *c = malloc(sizeof *c);

    assert_int_equal(status, 0);
    uv_tcp_init(&loop, c);
    assert_int_equal(uv_accept(l, (uv_stream_t *)c), 0);
    uv_close((uv_handle_t *)c, on_conn_closed);
    sv->accepted++;
}

static bool accepted_10(void *arg)
{
    return ((struct server *)arg)->accepted >= 10;
}

/* A device server that takes the connection and drops it at once (one serving another
 * client already), every retry: told lost once, not "ready, lost" each time. */
static void test_tcp_taken_and_dropped_is_told_once(void **state)
{
    struct server sv = {0};
    char path[64];
    struct qr_source *src;

    (void)state;
    listen_scanner_with(&sv, path, sizeof path, on_accept_and_drop);
    struct qr_source_cfg cfg = {QR_SRC_TCP, path, "D07", 0, 50, on_state};
    assert_int_equal(qr_source_start(&src, &loop, &cfg, on_scan, &got), 0);
    assert_true(run_until(accepted_10, &sv));
    assert_int_equal(got.n_states, 1);
    assert_int_equal(got.states[0], UV_EOF);

    qr_source_stop(src);
    uv_close((uv_handle_t *)&sv.listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void key(int fd, uint16_t code, int32_t value)
{
    struct input_event ev = {.type = EV_KEY, .code = code, .value = value};
    struct input_event syn = {.type = EV_SYN, .code = SYN_REPORT, .value = 0};
    write_all(fd, &ev, sizeof ev);
    write_all(fd, &syn, sizeof syn);
}

static void tap(int fd, uint16_t code, bool shift)
{
    if (shift)
        key(fd, KEY_LEFTSHIFT, 1);
    key(fd, code, 1);
    key(fd, code, 0);
    if (shift)
        key(fd, KEY_LEFTSHIFT, 0);
}

static void test_evdev_recorded_stream(void **state)
{
    char dir[] = "/tmp/posa-evdev-XXXXXX";
    char path[64];
    struct qr_source *src;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/event0", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int w = open(path, O_RDWR | O_NONBLOCK); /* a writer, so the reader sees no EOF */
    assert_true(w >= 0);
    struct qr_source_cfg cfg = {QR_SRC_EVDEV, path, "D03", -1, 50, NULL};
    assert_int_equal(qr_source_start(&src, &loop, &cfg, on_scan, &got), 0);

    tap(w, KEY_A, true);
    tap(w, KEY_B, false);
    tap(w, KEY_1, false);
    tap(w, KEY_SEMICOLON, true);
    tap(w, KEY_ENTER, false);
    tap(w, KEY_A, false); /* no dedup configured (-1): repeats are reported */
    tap(w, KEY_KPENTER, false);
    tap(w, KEY_A, false);
    tap(w, KEY_KPENTER, false);
    assert_true(wait_scans(3));
    assert_string_equal(got.scans[0].code, "Ab1:");
    assert_string_equal(got.scans[0].desk, "D03");
    assert_string_equal(got.scans[1].code, "a");
    assert_string_equal(got.scans[2].code, "a");

    qr_source_stop(src);
    close(w);
    unlink(path);
    rmdir(dir);
}

static void test_config_errors(void **state)
{
    struct qr_source *src = NULL;
    static const struct qr_source_cfg bad[] = {
        {QR_SRC_TCP, "nohost", "D01", 0, 0, NULL},
        {QR_SRC_TCP, "scanner.local:9100", "D01", 0, 0, NULL},
        {QR_SRC_TCP, "127.0.0.1:70000", "D01", 0, 0, NULL},
        {QR_SRC_TCP, "127.0.0.1:", "D01", 0, 0, NULL},
        {QR_SRC_SERIAL, "ttyACM0", "D01", 0, 0, NULL},
        {QR_SRC_SERIAL, "/dev/ttyACM0", "", 0, 0, NULL},
        {QR_SRC_SERIAL, "", "D01", 0, 0, NULL},
    };
    enum qr_source_kind k;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(qr_source_start(&src, &loop, &bad[i], on_scan, &got), DRV_ECONFIG);
    assert_null(src);
    assert_int_equal(qr_source_kind_parse("evdev", &k), 0);
    assert_int_equal(k, QR_SRC_EVDEV);
    assert_int_equal(qr_source_kind_parse("hid", &k), DRV_ECONFIG);
    /* A device that is not there yet: started, retrying, not open. */
    struct qr_source_cfg later = {QR_SRC_SERIAL, "/dev/posa-no-such-tty", "D01", 0, 50, on_state};
    assert_int_equal(qr_source_start(&src, &loop, &later, on_scan, &got), 0);
    assert_false(qr_source_is_open(src));
    /* Tried every 50 ms, and told once why, not once a try. */
    assert_false(wait_states(2));
    assert_int_equal(got.n_states, 1);
    assert_int_equal(got.states[0], -ENOENT);
    assert_int_equal(qr_source_error(src), -ENOENT);
    qr_source_stop(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serial_pty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_line_cut_by_a_loss_is_no_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_connect_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_taken_and_dropped_is_told_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evdev_recorded_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
