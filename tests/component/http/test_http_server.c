/* posa_http with a real loop and real sockets in one process: the server's loop runs on a
 * thread, the test speaks HTTP over blocking sockets. Keep-alive, pipelining with an answer
 * given later, size limits, dropping, a Unix socket with its mode, many connections,
 * the bounds on connections not yet admitted, offline mode, and a loop that closes empty. */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "interface/http/http_server.h"

#define CAP      300 /* connections per transport */
#define PER_PEER 4   /* connections not yet admitted from one address, loopback excepted */

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct http_server *server;
    int port;
    char host[INET_ADDRSTRLEN]; /* where the server listens and the client connects */
    char sock_path[108];
    char dir[64];
    bool closed;
};

static struct fixture fx;

/* --- the server side (loop thread) --------------------------------------------------- */

struct later {
    uv_timer_t timer;
    struct http_request *req;
};

static void answer_echo(struct http_request *req)
{
    char body[512];
    const char *x = http_request_header(req, "x-test");
    int n = snprintf(body, sizeof(body), "%s %s ?%s x=%s local=%d len=%zu body=%s", req->method,
                     req->path, req->query, x ? x : "-", req->peer_is_local, req->body_len,
                     req->body_len < 64 ? req->body : "(long)");
    const struct http_header h[] = {{"Content-Type", "text/plain"}};

    http_respond(req, 200, h, 1, body, (size_t)n);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_later(uv_timer_t *t)
{
    struct later *l = t->data;

    answer_echo(l->req);
    t->data = l;
    uv_close((uv_handle_t *)t, on_timer_closed);
}

static int stream_closed_seen;

static void on_stream_tick(uv_timer_t *t)
{
    struct later *l = t->data;

    http_stream_write(l->req, "data: b\n\n", 9);
    http_stream_end(l->req);
    uv_close((uv_handle_t *)t, on_timer_closed);
}

static void on_stream_peer_gone(struct http_request *req, void *data)
{
    (void)data;
    stream_closed_seen++;
    http_stream_end(req); /* the application lets go of it */
}

static void on_online(uv_timer_t *t)
{
    http_server_set_offline(fx.server, false);
    uv_close((uv_handle_t *)t, on_timer_closed);
}

static void on_request(struct http_server *server, struct http_request *req, void *data)
{
    (void)data;
    if (strcmp(req->path, "/later") == 0) {
        struct later *l = calloc(1, sizeof(*l));

        uv_timer_init(&fx.loop, &l->timer);
        l->timer.data = l;
        l->req = req;
        uv_timer_start(&l->timer, on_later, 50, 0);
        return;
    }
    if (strcmp(req->path, "/stream") == 0) {
        const struct http_header h[] = {{"Content-Type", "text/event-stream"}};
        struct later *l = calloc(1, sizeof(*l));

        http_stream_start(req, 200, h, 1);
        http_stream_write(req, "data: a\n\n", 9);
        uv_timer_init(&fx.loop, &l->timer);
        l->timer.data = l;
        l->req = req;
        uv_timer_start(&l->timer, on_stream_tick, 30, 0);
        return;
    }
    if (strcmp(req->path, "/stream-forever") == 0) {
        http_stream_start(req, 200, NULL, 0);
        http_stream_write(req, "hello", 5);
        http_request_on_close(req, on_stream_peer_gone, NULL);
        return;
    }
    if (strcmp(req->path, "/kb2") == 0) { /* 2 KiB: its query, then spaces */
        char b[2048];

        memset(b, ' ', sizeof b);
        memcpy(b, req->query, strnlen(req->query, 64));
        http_respond(req, 200, NULL, 0, b, sizeof b);
        return;
    }
    if (strcmp(req->path, "/peer") == 0) {
        http_respond(req, 200, NULL, 0, req->peer, strlen(req->peer));
        return;
    }
    if (strcmp(req->path, "/closed-seen") == 0) {
        char b[16];
        int n = snprintf(b, sizeof(b), "%d", stream_closed_seen);

        http_respond(req, 200, NULL, 0, b, (size_t)n);
        return;
    }
    if (strcmp(req->path, "/drop") == 0) {
        http_request_drop(req, true);
        return;
    }
    if (strcmp(req->path, "/offline") == 0) {
        uv_timer_t *t = calloc(1, sizeof(*t));

        http_respond(req, 200, NULL, 0, "off", 3);
        http_server_set_offline(server, true);
        uv_timer_init(&fx.loop, t);
        t->data = t;
        uv_timer_start(t, on_online, 300, 0);
        return;
    }
    answer_echo(req);
}

static void on_server_closed(void *data)
{
    (void)data;
    fx.closed = true;
    uv_close((uv_handle_t *)&fx.stop, NULL);
}

static void on_stop(uv_async_t *a)
{
    (void)a;
    http_server_close(fx.server, on_server_closed, NULL);
}

static void *loop_main(void *arg)
{
    (void)arg;
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    return NULL;
}

static size_t error_body(int status, const char *reason, void *data, char *buf, size_t cap,
                         const char **ret_type)
{
    (void)data;
    (void)reason;
    *ret_type = "application/json";
    return (size_t)snprintf(buf, cap, "{\"error\":%d}", status);
}

static int start(const char *host)
{
    const struct http_server_config config = {.max_header_bytes = 2048,
                                              .max_body_bytes = 4096,
                                              .max_connections = CAP,
                                              .idle_timeout_ms = 5000,
                                              .admit_timeout_ms = 2000,
                                              .max_unadmitted_per_peer = PER_PEER,
                                              .error_body = error_body};

    memset(&fx, 0, sizeof(fx));
    snprintf(fx.host, sizeof(fx.host), "%s", host);
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/posa-http-XXXXXX");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.sock_path, sizeof(fx.sock_path), "%s/s.sock", fx.dir);
    if (uv_loop_init(&fx.loop) < 0 || uv_async_init(&fx.loop, &fx.stop, on_stop) < 0)
        return -1;
    if (http_server_new(&fx.loop, &config, on_request, NULL, &fx.server) < 0)
        return -1;
    if (http_server_listen_tcp(fx.server, fx.host, 0) < 0)
        return -1;
    if (http_server_listen_unix(fx.server, fx.sock_path, 0600) < 0)
        return -1;
    fx.port = http_server_tcp_port(fx.server);
    return pthread_create(&fx.thread, NULL, loop_main, NULL) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    return start("127.0.0.1");
}

/* A server on one of this machine's own addresses that is not loopback: connections from
 * here to it come from that address, a peer as one on the LAN. None: its tests skip. */
static int setup_lan(void **state)
{
    struct ifaddrs *all, *i;
    char host[INET_ADDRSTRLEN] = "";

    (void)state;
    if (getifaddrs(&all) < 0)
        return -1;
    for (i = all; i && !host[0]; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
            const struct in_addr *a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;

            if ((ntohl(a->s_addr) >> 24) != 127)
                inet_ntop(AF_INET, a, host, sizeof(host));
        }
    freeifaddrs(all);
    if (!host[0]) {
        memset(&fx, 0, sizeof(fx));
        return 0;
    }
    return start(host);
}

static int teardown(void **state)
{
    (void)state;
    if (!fx.host[0])
        return 0; /* setup_lan found no address: nothing started */
    uv_async_send(&fx.stop);
    pthread_join(fx.thread, NULL);
    unlink(fx.sock_path);
    rmdir(fx.dir);
    /* Every handle of the server is closed: the loop closes empty. */
    return fx.closed && uv_loop_close(&fx.loop) == 0 ? 0 : -1;
}

/* --- the client side (test thread, blocking sockets) --------------------------------- */

static int connect_tcp(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, fx.host, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -errno;
    }
    return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one response (headers + Content-Length body) into buf; returns the status, 0 on
 * EOF or reset before a response. rest keeps bytes read past this response. */
struct reader {
    char buf[65536];
    size_t len;
};

static int read_response(int fd, struct reader *r, char *body, size_t cap)
{
    for (;;) {
        char *end = memmem(r->buf, r->len, "\r\n\r\n", 4);

        if (end) {
            size_t head = (size_t)(end - r->buf) + 4;
            const char *cl = strcasestr(r->buf, "Content-Length:");
            size_t blen = cl ? strtoul(cl + 15, NULL, 10) : 0;
            int status = atoi(r->buf + 9);

            while (r->len < head + blen) {
                ssize_t n = recv(fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);

                if (n <= 0)
                    return 0;
                r->len += (size_t)n;
            }
            if (body) {
                size_t c = blen < cap - 1 ? blen : cap - 1;

                memcpy(body, r->buf + head, c);
                body[c] = '\0';
            }
            memmove(r->buf, r->buf + head + blen, r->len - head - blen);
            r->len -= head + blen;
            return status;
        }
        ssize_t n = recv(fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len, 0);

        if (n <= 0)
            return 0;
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
    }
}

static int request(int fd, const char *raw, char *body, size_t cap)
{
    struct reader *r = calloc(1, sizeof(*r));
    int status;

    send_all(fd, raw, strlen(raw));
    status = read_response(fd, r, body, cap);
    free(r);
    return status;
}

static void test_get_with_query_and_header(void **state)
{
    char body[512];
    int fd = connect_tcp();

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(request(fd, "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Test: hello\r\n\r\n",
                             body, sizeof(body)),
                     200);
    assert_string_equal(body, "GET /a/b ?x=1&y=2 x=hello local=1 len=0 body=");
    assert_int_equal(request(fd, "GET /peer HTTP/1.1\r\nHost: h\r\n\r\n", body, sizeof(body)), 200);
    assert_true(strncmp(body, "127.0.0.1:", 10) == 0);
    close(fd);
}

static void test_keep_alive_post(void **state)
{
    char body[512];
    int fd = connect_tcp();

    (void)state;
    assert_int_equal(request(fd, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
                             body, sizeof(body)),
                     200);
    assert_string_equal(body, "POST /p ? x=- local=1 len=5 body=hello");
    /* The same connection answers again. */
    assert_int_equal(request(fd,
                             "POST /q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n0\r\n\r\n",
                             body, sizeof(body)),
                     200);
    assert_string_equal(body, "POST /q ? x=- local=1 len=3 body=abc");
    close(fd);
}

/* A chunked body's trailer is ignored: the request's own headers stay readable (a trailer
 * once counted as a header with no name, crashing the first lookup of an absent one) and a
 * long trailer does not move the strings the request points into (ASan tells). */
static void test_chunked_trailer_ignored(void **state)
{
    char body[512], req[4096], pad[2049];
    int fd = connect_tcp();

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(request(fd,
                             "POST /t HTTP/1.1\r\nHost: h\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n"
                             "X-Test: trailer\r\n\r\n",
                             body, sizeof(body)),
                     200);
    assert_string_equal(body, "POST /t ? x=- local=1 len=1 body=A");
    memset(pad, 'z', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(req, sizeof req,
             "POST /long HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "2\r\nok\r\n0\r\nX-Test: trailer\r\nX-Long: %s\r\n\r\n",
             pad);
    assert_int_equal(request(fd, req, body, sizeof(body)), 200);
    assert_string_equal(body, "POST /long ? x=- local=1 len=2 body=ok");
    close(fd);
}

/* Heads this server does not read as others may are refused: a field name with a blank
 * ("Host :" was no Host here, a Host to a proxy), HTTP/1.1 without Host, and a body coding
 * other than chunked alone (it was read as chunked). HTTP/1.0 needs no Host. */
static void test_heads_read_otherwise_elsewhere_are_refused(void **state)
{
    static const struct {
        const char *head;
        int status;
    } cases[] = {
        {"GET /a HTTP/1.1\r\n\r\n", 400},
        {"GET /a HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        {"GET /a HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", 400},
        {"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
         "2\r\nok\r\n0\r\n\r\n",
         501},
        {"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
         "2\r\nok\r\n0\r\n\r\n",
         200},
        {"GET /a HTTP/1.0\r\n\r\n", 200},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = connect_tcp();

        int got;

        assert_true(fd >= 0);
        if ((got = request(fd, cases[i].head, NULL, 0)) != cases[i].status)
            print_error("%s", cases[i].head);
        assert_int_equal(got, cases[i].status);
        close(fd);
    }
}

static void test_pipelined_answers_stay_in_order(void **state)
{
    struct reader *r = calloc(1, sizeof(*r));
    char body[512];
    int fd = connect_tcp();

    (void)state;
    /* The first is answered 50 ms later; the second and third must still come after it. */
    send_all(fd,
             "GET /later?n=1 HTTP/1.1\r\nHost: h\r\n\r\n"
             "GET /now?n=2 HTTP/1.1\r\nHost: h\r\n\r\n"
             "POST /now?n=3 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok",
             strlen("GET /later?n=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "GET /now?n=2 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "POST /now?n=3 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"));
    assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
    assert_string_equal(body, "GET /later ?n=1 x=- local=1 len=0 body=");
    assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
    assert_string_equal(body, "GET /now ?n=2 x=- local=1 len=0 body=");
    assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
    assert_string_equal(body, "POST /now ?n=3 x=- local=1 len=2 body=ok");
    free(r);
    close(fd);
}

/* Reading goes on while a request waits for its answer, until the connection's buffer is
 * full: 500 requests pipelined behind a slow one overflow it, and reading must resume once
 * the buffered ones are answered, every answer in order. */
static void test_pipelined_past_the_read_buffer(void **state)
{
    struct reader *r = calloc(1, sizeof(*r));
    char *burst = malloc(32768), body[512], want[64];
    size_t len = 0;
    int fd = connect_tcp();

    (void)state;
    len += (size_t)sprintf(burst, "GET /later?n=0 HTTP/1.1\r\nHost: h\r\n\r\n");
    for (int i = 1; i <= 500; i++)
        len += (size_t)sprintf(burst + len, "GET /now?n=%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    assert_true(len > 16384); /* more than HTTP_READ_CHUNK */
    assert_int_equal(send_all(fd, burst, len), 0);
    assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
    assert_string_equal(body, "GET /later ?n=0 x=- local=1 len=0 body=");
    for (int i = 1; i <= 500; i++) {
        snprintf(want, sizeof want, "GET /now ?n=%d x=- local=1 len=0 body=", i);
        assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
        assert_string_equal(body, want);
    }
    free(burst);
    free(r);
    close(fd);
}

/* The peer's end of stream, seen while its first request waits for an answer, must not
 * cost the requests it sent before it: all are answered, then the connection closes. */
static void test_requests_before_eof_are_answered(void **state)
{
    struct reader *r = calloc(1, sizeof(*r));
    char body[512];
    const char *two = "GET /later?n=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                      "GET /now?n=2 HTTP/1.1\r\nHost: h\r\n\r\n";
    int fd = connect_tcp();

    (void)state;
    assert_int_equal(send_all(fd, two, strlen(two)), 0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
    assert_string_equal(body, "GET /later ?n=1 x=- local=1 len=0 body=");
    assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
    assert_string_equal(body, "GET /now ?n=2 x=- local=1 len=0 body=");
    assert_int_equal(read_response(fd, r, body, sizeof(body)), 0); /* then closed */
    free(r);
    close(fd);
}

static void test_body_too_large_is_413(void **state)
{
    int fd = connect_tcp();
    char body[64];
    char *big;

    (void)state;
    assert_int_equal(request(fd, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4097\r\n\r\n",
                             body, sizeof(body)),
                     413);
    assert_string_equal(body, "{\"error\":413}"); /* the application's error shape */
    close(fd);
    /* Chunked: the limit is counted as the body arrives. */
    fd = connect_tcp();
    big = malloc(6000);
    memcpy(big, "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n", 63);
    memset(big + 63, 'a', 5000);
    big[5063] = '\0';
    assert_int_equal(request(fd, big, NULL, 0), 413);
    free(big);
    close(fd);
    /* A chunk declared larger than the bound: refused at its header, its bytes not awaited. */
    fd = connect_tcp();
    assert_int_equal(request(fd,
                             "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "2\r\nok\r\n1000\r\n",
                             NULL, 0),
                     413);
    close(fd);
}

static void test_body_too_large_sent_anyway_still_reads_413(void **state)
{
    size_t big = 8u << 20;
    char *raw = malloc(big + 200);
    int fd = connect_tcp();
    int n = snprintf(raw, 200, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", big);
    struct reader *r = calloc(1, sizeof(*r));

    (void)state;
    /* A client that sends the whole refused body (far more than the socket buffers hold)
     * before it reads, as most do: the server must not reset it midway. */
    memset(raw + n, 'x', big);
    assert_int_equal(send_all(fd, raw, (size_t)n + big), 0);
    shutdown(fd, SHUT_WR);
    assert_int_equal(read_response(fd, r, NULL, 0), 413);
    free(r);
    free(raw);
    close(fd);
}

/* Sends a small POST on a new connection; its status (body: the answer's). */
static int post_small(char *body, size_t cap)
{
    int fd = connect_tcp();
    int status =
        request(fd, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", body, cap);

    close(fd);
    return status;
}

/* Bodies held at once are bounded across connections (8 x max_body_bytes by default): a
 * body beyond gets 503 in the application's shape, and once a held one is let go, requests
 * go through again. A request without a body takes no buffer at all. */
static void test_bodies_held_at_once_are_bounded(void **state)
{
    const char *head = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4000\r\n\r\n";
    char part[3000], body[64];
    int held[8], status = 0;

    (void)state;
    memset(part, 'x', sizeof part);
    for (int i = 0; i < 8; i++) { /* each takes a 4 KiB buffer once the server reads it */
        held[i] = connect_tcp();
        assert_int_equal(send_all(held[i], head, strlen(head)), 0);
        assert_int_equal(send_all(held[i], part, sizeof part), 0);
    }
    for (int tries = 0; tries < 100 && status != 503; tries++)
        if ((status = post_small(body, sizeof body)) != 503)
            usleep(20000); /* answered before the server had read all eight */
    assert_int_equal(status, 503);
    assert_string_equal(body, "{\"error\":503}");
    int fd = connect_tcp();
    assert_int_equal(request(fd, "GET /g HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 200);
    close(fd);
    close(held[0]);
    for (int tries = 0; tries < 100 && status != 200; tries++)
        if ((status = post_small(body, sizeof body)) != 200)
            usleep(20000); /* until the server has seen the close */
    assert_int_equal(status, 200);
    for (int i = 1; i < 8; i++)
        close(held[i]);
}

static void test_header_too_large_is_431(void **state)
{
    char raw[4096];
    int fd = connect_tcp();
    int n = snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
    char head[1024] = "";
    size_t got = 0;
    ssize_t r;

    (void)state;
    memset(raw + n, 'b', 3000);
    memcpy(raw + n + 3000, "\r\n\r\n", 5);
    assert_int_equal(send_all(fd, raw, strlen(raw)), 0);
    while (!strstr(head, "\r\n\r\n") && got < sizeof head - 1 &&
           (r = recv(fd, head + got, sizeof head - 1 - got, 0)) > 0) {
        got += (size_t)r;
        head[got] = '\0';
    }
    assert_int_equal(atoi(head + 9), 431);
    /* The library's own refusals are not kept by caches either, as every answer. */
    assert_non_null(strcasestr(head, "Cache-Control: no-store"));
    close(fd);
}

/* A client that asks to be told before it sends its body is told at once (100 Continue),
 * and its request is then answered as any other. */
static void test_expect_continue(void **state)
{
    static const char head[] = "POST /now HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                               "Expect: 100-continue\r\n\r\n";
    struct reader *r = calloc(1, sizeof(*r));
    struct pollfd p;
    char body[512];
    int fd = connect_tcp();

    (void)state;
    assert_int_equal(send_all(fd, head, strlen(head)), 0);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 500), 1); /* not after the client's own second */
    assert_int_equal(read_response(fd, r, NULL, 0), 100);
    assert_int_equal(send_all(fd, "ok", 2), 0);
    assert_int_equal(read_response(fd, r, body, sizeof body), 200);
    assert_string_equal(body, "POST /now ? x=- local=1 len=2 body=ok");
    free(r);
    close(fd);
}

static void test_malformed_is_400(void **state)
{
    int fd = connect_tcp();

    (void)state;
    assert_int_equal(request(fd, "HELLO WORLD\r\n\r\n", NULL, 0), 400);
    close(fd);
    /* HTTP/1.0 and 1.1 only: no version (0.9), or another one, is refused, not answered. */
    fd = connect_tcp();
    assert_int_equal(request(fd, "GET /x\r\n\r\n", NULL, 0), 400);
    close(fd);
    fd = connect_tcp();
    assert_int_equal(request(fd, "GET /x HTTP/2.0\r\nHost: h\r\n\r\n", NULL, 0), 400);
    close(fd);
    /* A header that means one thing, twice (the first was taken; a proxy in front may have
     * checked the other); any case. A list header twice is fine. */
    static const char *const twice[] = {
        "GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: h\r\nHost: evil\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: h\r\nOrigin: http://h\r\nOrigin: http://e\r\n\r\n",
        ("POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n"
         "Content-Length: 0\r\n\r\n"),
    };
    for (size_t i = 0; i < sizeof twice / sizeof twice[0]; i++) {
        fd = connect_tcp();
        assert_int_equal(request(fd, twice[i], NULL, 0), 400);
        close(fd);
    }
    fd = connect_tcp();
    assert_int_equal(
        request(fd, "GET /x HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n", NULL, 0), 200);
    close(fd);
}

static void test_drop_closes_without_answer(void **state)
{
    int fd = connect_tcp();

    (void)state;
    assert_int_equal(request(fd, "GET /drop HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 0);
    close(fd);
    /* The server goes on serving others. */
    fd = connect_tcp();
    assert_int_equal(request(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 200);
    close(fd);
}

static void test_http10_closes_after_answer(void **state)
{
    char buf[1024];
    int fd = connect_tcp();
    ssize_t n;

    (void)state;
    assert_int_equal(request(fd, "GET / HTTP/1.0\r\n\r\n", NULL, 0), 200);
    n = recv(fd, buf, sizeof(buf), 0); /* then EOF */
    assert_int_equal(n, 0);
    close(fd);
}

static void test_stream_then_keep_alive(void **state)
{
    char buf[4096], body[512];
    size_t len = 0;
    int fd = connect_tcp();

    (void)state;
    send_all(fd, "GET /stream HTTP/1.1\r\nHost: h\r\n\r\n",
             strlen("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n"));
    /* Read until the last chunk. */
    while (!memmem(buf, len, "\r\n0\r\n\r\n", 7)) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

        assert_true(n > 0);
        len += (size_t)n;
        buf[len] = '\0';
    }
    assert_non_null(strstr(buf, "Transfer-Encoding: chunked"));
    assert_non_null(strstr(buf, "9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\n0\r\n\r\n"));
    /* The same connection serves the next request. */
    assert_int_equal(request(fd, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n", body, sizeof(body)),
                     200);
    assert_string_equal(body, "GET /after ? x=- local=1 len=0 body=");
    close(fd);
}

static void test_stream_notices_peer_leaving(void **state)
{
    char buf[1024], body[64];
    int fd = connect_tcp();

    (void)state;
    send_all(fd, "GET /stream-forever HTTP/1.1\r\nHost: h\r\n\r\n",
             strlen("GET /stream-forever HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
    close(fd);
    for (int i = 0; i < 100; i++) {
        fd = connect_tcp();
        assert_int_equal(
            request(fd, "GET /closed-seen HTTP/1.1\r\nHost: h\r\n\r\n", body, sizeof(body)), 200);
        close(fd);
        if (strcmp(body, "1") == 0)
            break;
        usleep(10 * 1000);
    }
    assert_string_equal(body, "1");
}

static void test_unix_socket_mode_and_request(void **state)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct stat st;
    char body[512];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    (void)state;
    assert_int_equal(stat(fx.sock_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", fx.sock_path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(request(fd, "GET /u HTTP/1.1\r\nHost: h\r\n\r\n", body, sizeof(body)), 200);
    assert_string_equal(body, "GET /u ? x=- local=1 len=0 body=");
    close(fd);
}

/* A peer that pipelines requests and never reads the answers is read no further once they
 * back up (max_stream_backlog, 1 MiB by default): what it can send stops at what the socket
 * and that backlog hold, where before the server read on and kept every answer. All it sent
 * is then answered, in order. */
#define FLOOD_MAX 40000
#define FLOOD_REQ "GET /kb2?n=%05d HTTP/1.1\r\nHost: h\r\n\r\n"

static void test_pipelined_without_reading_is_held(void **state)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 5};
    struct reader *r = calloc(1, sizeof(*r));
    size_t req_len = (size_t)snprintf(NULL, 0, FLOOD_REQ, 0), len = 0, sent = 0;
    char *flood = malloc(req_len * FLOOD_MAX + 1), body[64], want[32];
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    (void)state;
    for (int i = 0; i < FLOOD_MAX; i++)
        len += (size_t)sprintf(flood + len, FLOOD_REQ, i);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", fx.sock_path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (sent < len) { /* until the server stops taking them for half a second */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        ssize_t n = send(fd, flood + sent, len - sent, MSG_NOSIGNAL);

        if (n > 0)
            sent += (size_t)n;
        else if (poll(&p, 1, 500) == 0)
            break;
    }
    printf("# %zu of %d requests taken\n", sent / req_len, FLOOD_MAX);
    assert_true(sent / req_len < FLOOD_MAX / 2);
    fcntl(fd, F_SETFL, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (size_t i = 0; i < sent / req_len; i++) {
        snprintf(want, sizeof want, "n=%05zu ", i);
        assert_int_equal(read_response(fd, r, body, sizeof(body)), 200);
        assert_memory_equal(body, want, strlen(want));
    }
    free(flood);
    free(r);
    close(fd);
}

/* A request must be whole within the idle timeout (5 s here) from its first byte: a peer
 * that sends a header line a second never finishing its head is closed, where each byte
 * used to start the timer again. */
/* Sends bytes on fd once a second, up to `most` times, until the server closes it; asserts
 * it did, within `seconds`: a trickle must not hold a connection past the idle timeout. */
static void trickle_until_closed(int fd, const char *bytes, int most, long seconds)
{
    struct timespec t0, t1;
    size_t len = strlen(bytes);
    int sent = 0;
    char c;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (; sent < most; sent++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        if (poll(&p, 1, 1000) == 1) /* closed: recv sees the end */
            break;
        if (send(fd, bytes, len, MSG_NOSIGNAL) != (ssize_t)len)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(sent < most);
    assert_true(recv(fd, &c, 1, 0) <= 0);
    assert_true(t1.tv_sec - t0.tv_sec < seconds);
    close(fd);
}

static void test_slow_head_is_closed(void **state)
{
    int fd = connect_tcp();

    (void)state;
    assert_int_equal(send_all(fd, "GET /slow HTTP/1.1\r\n", 20), 0);
    trickle_until_closed(fd, "X-A: b\r\n", 10, 8);
}

/* Empty lines between requests (skipped by the parser) are no request: a CRLF now and then
 * kept a connection open for ever, past the idle timeout (5 s here). */
static void test_blank_lines_do_not_hold_the_connection(void **state)
{
    (void)state;
    trickle_until_closed(connect_tcp(), "\r\n", 12, 9);
}

/* Whether the server closed fd within ms (its end read). */
static bool closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    return poll(&p, 1, ms) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* max_connections bounds each transport on its own: with TCP full (clients that hold a
 * connection without a request, as ones without a token may), the Unix socket still
 * answers, where one cap for both locked it out. And a new TCP connection is not refused:
 * the oldest that sent nothing makes room for it (any local account could hold them all,
 * and a LAN HIS with its token was refused until they let go). */
static void test_tcp_full_leaves_the_unix_socket(void **state)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int fds[CAP + 10], ufd = socket(AF_UNIX, SOCK_STREAM, 0), kept = 0;
    char body[512];

    (void)state;
    for (int i = 0; i < CAP + 10; i++)
        fds[i] = connect_tcp(); /* each past CAP displaces the oldest one */
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", fx.sock_path);
    assert_int_equal(connect(ufd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(request(ufd, "GET /u HTTP/1.1\r\nHost: h\r\n\r\n", body, sizeof(body)), 200);
    close(ufd);
    int fd = connect_tcp();
    assert_int_equal(request(fd, "GET /u HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 200);
    close(fd);
    /* The oldest went, the newest stay. */
    assert_true(closed_within(fds[0], 2000));
    assert_true(closed_within(fds[10], 2000));
    for (int i = CAP + 10 - 20; i < CAP + 10; i++)
        kept += !closed_within(fds[i], 0);
    assert_int_equal(kept, 20);
    for (int i = 0; i < CAP + 10; i++)
        close(fds[i]);
    /* The server sees those closes when its loop gets to them (late on a busy machine):
     * until then the TCP side is full of connections that each sent a request or are
     * closing, and a new one is closed unanswered. The next test wants it back. */
    for (int i = 0, status = 0; status != 200; i++) {
        int again = connect_tcp();

        assert_true(again >= 0 && i < 250);
        status = request(again, "GET /u HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
        close(again);
        if (status != 200)
            usleep(20 * 1000);
    }
}

/* A connection that sends no request is closed after admit_timeout_ms (2 s here), not the
 * idle timeout (5 s): a client without a token held a connection for the idle timeout. One
 * that was admitted keeps the idle timeout. */
static void test_silent_connection_closed_before_idle_timeout(void **state)
{
    struct timespec t0, t1;
    int silent = connect_tcp(), admitted = connect_tcp();

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(request(admitted, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 200);
    assert_true(closed_within(silent, 4500));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec >= 1 && t1.tv_sec - t0.tv_sec < 5);
    assert_false(closed_within(admitted, 0));
    close(silent);
    close(admitted);
}

/* From one address that is not loopback, at most PER_PEER connections wait unadmitted: one
 * more is closed at once, and one admitted (a request read) makes room again. */
static void test_unadmitted_bounded_per_peer(void **state)
{
    int fds[PER_PEER], extra;

    (void)state;
    if (!fx.host[0])
        skip(); /* no address here but loopback */
    for (int i = 0; i < PER_PEER; i++)
        assert_true((fds[i] = connect_tcp()) >= 0);
    extra = connect_tcp();
    assert_true(closed_within(extra, 1000));
    close(extra);
    for (int i = 0; i < PER_PEER; i++)
        assert_false(closed_within(fds[i], 0));
    assert_int_equal(request(fds[0], "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 200);
    extra = connect_tcp();
    assert_int_equal(request(extra, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 200);
    close(extra);
    for (int i = 0; i < PER_PEER; i++)
        close(fds[i]);
}

#define MANY 200

static void test_many_concurrent_connections(void **state)
{
    int fds[MANY];
    char body[512];

    (void)state;
    for (int i = 0; i < MANY; i++) {
        fds[i] = connect_tcp();
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < MANY; i++)
        send_all(fds[i], "GET /later HTTP/1.1\r\nHost: h\r\n\r\n",
                 strlen("GET /later HTTP/1.1\r\nHost: h\r\n\r\n"));
    for (int i = 0; i < MANY; i++) {
        struct reader *r = calloc(1, sizeof(*r));

        assert_int_equal(read_response(fds[i], r, body, sizeof(body)), 200);
        free(r);
        close(fds[i]);
    }
}

static void test_offline_refuses_then_recovers(void **state)
{
    int fd = connect_tcp();
    int rc = 0;

    (void)state;
    assert_int_equal(request(fd, "GET /offline HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0), 200);
    close(fd);
    usleep(50 * 1000);
    fd = connect_tcp();
    assert_int_equal(fd, -ECONNREFUSED);
    for (int i = 0; i < 50; i++) { /* back after 300 ms */
        usleep(20 * 1000);
        fd = connect_tcp();
        if (fd >= 0)
            break;
    }
    assert_true(fd >= 0);
    rc = request(fd, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 0);
    assert_int_equal(rc, 200);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_with_query_and_header),
        cmocka_unit_test(test_keep_alive_post),
        cmocka_unit_test(test_chunked_trailer_ignored),
        cmocka_unit_test(test_heads_read_otherwise_elsewhere_are_refused),
        cmocka_unit_test(test_pipelined_answers_stay_in_order),
        cmocka_unit_test(test_pipelined_past_the_read_buffer),
        cmocka_unit_test(test_requests_before_eof_are_answered),
        cmocka_unit_test(test_body_too_large_is_413),
        cmocka_unit_test(test_body_too_large_sent_anyway_still_reads_413),
        cmocka_unit_test(test_header_too_large_is_431),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_malformed_is_400),
        cmocka_unit_test(test_drop_closes_without_answer),
        cmocka_unit_test(test_http10_closes_after_answer),
        cmocka_unit_test(test_stream_then_keep_alive),
        cmocka_unit_test(test_stream_notices_peer_leaving),
        cmocka_unit_test(test_unix_socket_mode_and_request),
        cmocka_unit_test(test_pipelined_without_reading_is_held),
        cmocka_unit_test(test_slow_head_is_closed),
        cmocka_unit_test(test_blank_lines_do_not_hold_the_connection),
        cmocka_unit_test(test_many_concurrent_connections),
        cmocka_unit_test(test_bodies_held_at_once_are_bounded),
        cmocka_unit_test(test_tcp_full_leaves_the_unix_socket),
        cmocka_unit_test(test_offline_refuses_then_recovers),
        cmocka_unit_test(test_silent_connection_closed_before_idle_timeout),
    };
    const struct CMUnitTest lan_tests[] = {
        cmocka_unit_test(test_unadmitted_bounded_per_peer),
    };
    int failed = cmocka_run_group_tests_name("loopback", tests, setup, teardown);

    return failed + cmocka_run_group_tests_name("lan", lan_tests, setup_lan, teardown);
}
