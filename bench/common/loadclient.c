/* bench_loadclient: keep-alive HTTP load client of bench_his and bench_sandbox (see
 * loadclient.h). */
#include "loadclient.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES (4u << 20) /* per level: 4 Mi flows, far more than a level runs */
#define REQ_START   16384      /* a 50-line bill fits without growing */
#define BODY_START  8192
#define BODY_MAX    (16u << 20) /* an answer beyond is a broken server, not a benchmark */

/* Room left before the body for the headers: they are written once the body's length is
 * known, right before it, so that one buffer goes out in one write. Holds the request line
 * with a path of up to PATH_CAP bytes, the three headers and the build's own one. */
enum { HEAD_ROOM = 420, PATH_CAP = 160 };

static void client_send(struct loadclient *c);

/* ---- buffers ------------------------------------------------------------------------------ */

static int buf_reserve(char **buf, size_t *cap, size_t need)
{
    size_t n = *cap ? *cap : 1;
    char *m;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    m = realloc(*buf, n);
    if (!m)
        return -ENOMEM;
    *buf = m;
    *cap = n;
    return 0;
}

int loadclient_printf(struct loadclient *c, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    for (;;) {
        size_t room = c->req_cap - c->req_len;
        va_start(ap, fmt);
        n = vsnprintf(c->req + c->req_len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -EINVAL;
        if ((size_t)n < room) {
            c->req_len += (size_t)n;
            return 0;
        }
        rc = buf_reserve(&c->req, &c->req_cap, c->req_len + (size_t)n + 1);
        if (rc < 0)
            return rc;
    }
}

int loadclient_append_parts(struct loadclient *c, const char *const *parts)
{
    for (; *parts; parts++) {
        size_t n = strlen(*parts);
        int rc = buf_reserve(&c->req, &c->req_cap, c->req_len + n + 1);

        if (rc < 0)
            return rc;
        memcpy(c->req + c->req_len, *parts, n);
        c->req_len += n;
        c->req[c->req_len] = '\0';
    }
    return 0;
}

/* ---- samples ------------------------------------------------------------------------------ */

static void samples_add(struct loadclient_samples *s, uint64_t ns)
{
    if (s->n < MAX_SAMPLES)
        s->us[s->n++] = (uint32_t)(ns / 1000);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static void samples_sort(struct loadclient_samples *s)
{
    qsort(s->us, s->n, sizeof *s->us, cmp_u32);
}

double loadclient_samples_ms(const struct loadclient_samples *s, unsigned pct)
{
    size_t i = (s->n * pct + 99) / 100;

    return s->n ? s->us[i ? i - 1 : 0] / 1000.0 : 0;
}

/* ---- one request -------------------------------------------------------------------------- */

static int request_build(struct loadclient *c)
{
    const struct loadclient_ops *ops = c->bench->ops;
    char path[PATH_CAP] = "", head[HEAD_ROOM];
    size_t body_len;
    char *start;
    int rc, n;

    c->req_len = HEAD_ROOM; /* req_cap >= REQ_START > HEAD_ROOM since the client started */
    c->header[0] = '\0';
    rc = ops->build(c, path, sizeof path);
    if (rc < 0)
        return rc;
    body_len = c->req_len - HEAD_ROOM;
    n = snprintf(head, sizeof head,
                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n%s%s\r\n",
                 path, ops->content_type, body_len, c->header, c->header[0] ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return -EINVAL;
    start = c->req + HEAD_ROOM - (size_t)n;
    memcpy(start, head, (size_t)n);
    c->wbuf = uv_buf_init(start, (unsigned)(body_len + (size_t)n));
    return 0;
}

static int on_body(http_parser *parser, const char *at, size_t len)
{
    struct loadclient *c = parser->data;

    if (c->body_len + len + 1 > BODY_MAX ||
        buf_reserve(&c->body, &c->body_cap, c->body_len + len + 1) < 0)
        return 1; /* stops the parser: the read callback calls it a bad answer */
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_complete(http_parser *parser)
{
    struct loadclient *c = parser->data;

    c->status = (int)parser->status_code;
    c->complete = true;
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_body = on_body,
    .on_message_complete = on_complete,
};

/* ---- the client --------------------------------------------------------------------------- */

/* Allocates the benchmark's whole client (struct loadclient first), buffers included. */
static struct loadclient *client_new(struct loadclient_bench *b, unsigned index)
{
    struct loadclient *c = calloc(1, b->ops->client_size);

    if (!c)
        return NULL;
    if (buf_reserve(&c->req, &c->req_cap, REQ_START) < 0 ||
        buf_reserve(&c->body, &c->body_cap, BODY_START) < 0) {
        free(c->req);
        free(c->body);
        free(c);
        return NULL;
    }
    c->bench = b;
    c->index = index;
    c->body[0] = '\0';
    return c;
}

static void client_free(struct loadclient *c)
{
    if (!c)
        return;
    free(c->req);
    free(c->body);
    free(c);
}

static void on_closed(uv_handle_t *handle)
{
    client_free(container_of(handle, struct loadclient, conn.handle));
}

static void client_close(struct loadclient *c)
{
    if (!uv_is_closing(&c->conn.handle))
        uv_close(&c->conn.handle, on_closed);
}

/* Counts an error that ends the client for this level. */
static void client_fail(struct loadclient *c, const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", c->bench->name, what, uv_strerror(err));
    c->bench->errors++;
    client_close(c);
}

/* The answer to the current step is in: the next step, or the next flow. */
static void client_answered(struct loadclient *c)
{
    struct loadclient_bench *b = c->bench;
    uint64_t now = uv_hrtime();

    if (!b->ops->check(c)) {
        if (b->errors++ < 3)
            b->ops->report_refusal(c);
        c->step = 0; /* start over with a new flow */
    } else if (++c->step == b->ops->n_steps) {
        samples_add(&b->flow, now - c->t_flow);
        samples_add(&b->last, now - c->t_request);
        b->completed++;
        c->step = 0;
    }
    client_send(c);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct loadclient *c = container_of(stream, struct loadclient, conn.stream);
    size_t used =
        n > 0 ? http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)n) : 0;

    free(buf->base);
    if (n < 0)
        client_fail(c, "connection lost", (int)n);
    else if (used != (size_t)n)
        client_fail(c, "bad HTTP answer", UV_EPROTO);
    else if (c->complete)
        client_answered(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct loadclient *c = container_of(req, struct loadclient, write);

    if (status < 0)
        client_fail(c, "write failed", status);
}

/* Sends the current step, or closes the client once the level's time is up (checked only
 * between flows, so that a flow under way ends). */
static void client_send(struct loadclient *c)
{
    int rc;

    if (c->step == 0) {
        if (uv_hrtime() >= c->bench->deadline) {
            client_close(c);
            return;
        }
        c->t_flow = uv_hrtime();
        c->flows++;
    }
    c->status = 0;
    c->complete = false;
    c->body_len = 0;
    c->body[0] = '\0'; /* an answer without a body must not show the last one's */
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    rc = request_build(c);
    if (rc == 0)
        rc = uv_write(&c->write, &c->conn.stream, &c->wbuf, 1, on_write);
    if (rc < 0) {
        client_fail(c, "cannot send", rc);
        return;
    }
    c->t_request = uv_hrtime();
}

static void on_connect(uv_connect_t *req, int status)
{
    struct loadclient *c = container_of(req, struct loadclient, connect);

    if (status == 0)
        status = uv_read_start(&c->conn.stream, on_alloc, on_read);
    if (status < 0) {
        client_fail(c, "connect failed", status);
        return;
    }
    client_send(c);
}

/* Starts client number index of this level: it connects, then runs flows. */
static void client_start(struct loadclient_bench *b, unsigned index)
{
    struct loadclient *c = client_new(b, index);
    const struct sockaddr *addr = (const struct sockaddr *)&b->addr;

    if (!c || (b->socket_path ? uv_pipe_init(b->loop, &c->conn.pipe, 0)
                              : uv_tcp_init(b->loop, &c->conn.tcp)) < 0) {
        client_free(c);
        b->errors++;
        return;
    }
    if (b->socket_path) {
        uv_pipe_connect(&c->connect, &c->conn.pipe, b->socket_path, on_connect);
        return;
    }
    uv_tcp_nodelay(&c->conn.tcp, 1);
    if (uv_tcp_connect(&c->connect, &c->conn.tcp, addr, on_connect) < 0) {
        b->errors++;
        client_close(c);
    }
}

/* ---- levels ------------------------------------------------------------------------------- */

int loadclient_bench_init(struct loadclient_bench *b, const char *name,
                          const struct loadclient_ops *ops, int port, const char *socket_path)
{
    int rc;

    memset(b, 0, sizeof *b);
    b->name = name;
    b->ops = ops;
    b->socket_path = socket_path;
    b->loop = uv_default_loop();
    b->flow.us = malloc(MAX_SAMPLES * sizeof *b->flow.us);
    b->last.us = malloc(MAX_SAMPLES * sizeof *b->last.us);
    rc = b->flow.us && b->last.us ? uv_ip4_addr("127.0.0.1", port, &b->addr) : -ENOMEM;
    if (rc < 0)
        loadclient_bench_done(b);
    return rc;
}

void loadclient_bench_done(struct loadclient_bench *b)
{
    free(b->flow.us);
    free(b->last.us);
    b->flow.us = b->last.us = NULL;
    uv_loop_close(b->loop);
}

void loadclient_bench_run(struct loadclient_bench *b, unsigned n_clients, double seconds)
{
    uint64_t t0 = uv_hrtime();

    b->completed = b->errors = 0;
    b->flow.n = b->last.n = 0;
    b->deadline = t0 + (uint64_t)(seconds * 1e9);
    for (unsigned i = 0; i < n_clients; i++)
        client_start(b, i);
    uv_run(b->loop, UV_RUN_DEFAULT);
    b->seconds = (double)(uv_hrtime() - t0) / 1e9;
    samples_sort(&b->flow);
    samples_sort(&b->last);
}

int loadclient_bench_levels(struct loadclient_bench *b, const char *levels, double seconds,
                            loadclient_report_cb report)
{
    char *copy = strdup(levels), *save = NULL;
    int rc = copy ? 0 : -ENOMEM;

    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        int n_clients = atoi(tok);
        loadclient_bench_run(b, n_clients > 0 ? (unsigned)n_clients : 0, seconds);
        rc = report(b, n_clients);
    }
    free(copy);
    return rc;
}
