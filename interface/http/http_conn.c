/* posa_http: one connection. Parses one request at a time (the parser is paused at the end
 * of each message and nothing more is parsed until it is answered, which is what keeps
 * pipelined requests in order), bounds header and body sizes, writes answers, closes.
 * On a plain connection reading goes on meanwhile, into the bounded rbuf, and stops only
 * when that is full: a read stopped and started again per request cost two epoll_ctl calls,
 * and most clients send nothing while they wait. A TLS connection stops reading, as its
 * ciphertext would pile up in the SSL object unbounded. The end of the peer's stream, seen
 * while a request is pending, is kept until every request it sent before is answered.
 * A peer that pipelines requests without reading the answers is read no further once
 * max_stream_backlog bytes of answers wait for it, until they drain (write_backlogged).
 *
 * TLS runs over memory BIOs: ciphertext read goes into the SSL object and plaintext comes
 * out into rbuf, where the parser takes it as on a plain connection; everything written goes
 * through conn_send(), which encrypts on a TLS connection. */
#define _GNU_SOURCE /* struct ucred */
#include <assert.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http_internal.h"

static const http_parser_settings parser_settings;

static void conn_process(struct http_conn *c);
static int tls_start(struct http_conn *c, SSL_CTX *ctx);
static int tls_pull(struct http_conn *c);
static int send_continue(struct http_conn *c);

/* Whether the TCP peer is on loopback; its address goes into c->peer for logs, and into
 * c->peer_addr when it is not loopback (max_unadmitted_per_peer: an IPv6 peer by its /64). */
static bool peer_is_loopback(struct http_conn *c)
{
    struct sockaddr_storage addr;
    int len = sizeof(addr);
    char ip[48] = "?";
    bool loopback = false;
    const void *bytes = NULL;
    size_t n = 0;

    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&addr, &len) < 0)
        return false;
    if (addr.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;

        uv_ip4_name(in, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(in->sin_port));
        loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        bytes = &in->sin_addr, n = 4;
    } else if (addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr;
        const struct in6_addr *a = &in6->sin6_addr;

        uv_ip6_name(in6, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(in6->sin6_port));
        loopback = IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
        /* One machine holds a whole /64 (privacy addresses, or any it picks): counted as one
         * peer, or it would take 32 connections per address it makes up. */
        bytes = a, n = IN6_IS_ADDR_V4MAPPED(a) ? 16 : 8;
    }
    if (!loopback && bytes) {
        c->peer_family = addr.ss_family;
        memcpy(c->peer_addr, bytes, n);
    }
    return loopback;
}

/* A Unix socket's peer by its user (the audit log's "who" on a socket without tokens). */
static void unix_peer(struct http_conn *c)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    uv_os_fd_t fd;

    if (uv_fileno(&c->h.handle, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        snprintf(c->peer, sizeof(c->peer), "unix uid %u", (unsigned)cred.uid);
    else
        snprintf(c->peer, sizeof(c->peer), "unix");
}

/* Whether c's peer has more connections not yet admitted than the server allows one peer. */
static bool peer_over_bound(const struct http_conn *c)
{
    size_t max = c->server->config.max_unadmitted_per_peer, n = 0;

    if (!max || !c->peer_family)
        return false;
    for (const struct http_conn *o = c->server->conns; o; o = o->next)
        n += !o->admitted && o->peer_family == c->peer_family &&
             memcmp(o->peer_addr, c->peer_addr, sizeof(o->peer_addr)) == 0;
    return n > max;
}

/* A request's body buffer is given back once it is answered: to the allocator, and to the
 * server's count of what all connections hold (max_buffered_bytes), so that idle
 * keep-alive connections hold none. */
static void body_release(struct http_conn *c)
{
    struct http_req_impl *r = &c->req;

    c->server->body_bytes -= r->body_cap;
    free(r->body);
    r->body = NULL;
    r->body_len = r->body_cap = 0;
}

static void conn_maybe_free(struct http_conn *c)
{
    if (c->handles_open || c->pending)
        return;
    body_release(c); /* before the server may go with its last connection */
    http_server_conn_gone(c->server, c);
    SSL_free(c->ssl);
    free(c->cbuf);
    free(c->rbuf);
    free(c->req.head);
    free(c);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct http_conn *c = handle->data;

    c->handles_open--;
    conn_maybe_free(c);
}

static void conn_close_stream(struct http_conn *c, bool reset)
{
    http_close_cb cb = c->req.close_cb;

    if (c->closing)
        return;
    c->closing = true;
    uv_read_stop(&c->h.stream);
    if (!reset || !c->is_tcp || uv_tcp_close_reset(&c->h.tcp, on_handle_closed) < 0)
        uv_close(&c->h.handle, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
    c->req.close_cb = NULL;
    if (c->pending && cb) /* the handles close later, so c outlives this call */
        cb(&c->req.pub, c->req.close_data);
}

void http_conn_close(struct http_conn *c)
{
    conn_close_stream(c, false);
}

void http_conn_close_when_idle(struct http_conn *c)
{
    if (c->pending || c->writes)
        c->close_after = true;
    else
        http_conn_close(c);
}

static void on_idle(uv_timer_t *timer)
{
    struct http_conn *c = http_container_of(timer, struct http_conn, idle);

    http_conn_close_when_idle(c);
}

static void idle_restart(struct http_conn *c)
{
    const struct http_server_config *cfg = &c->server->config;
    uint64_t ms =
        !c->admitted && cfg->admit_timeout_ms ? cfg->admit_timeout_ms : cfg->idle_timeout_ms;

    if (ms && !c->closing)
        uv_timer_start(&c->idle, on_idle, ms, 0);
}

/* Whether what is read and not yet parsed holds more than line ends. */
static bool begins_a_request(const struct http_conn *c)
{
    for (size_t i = c->rpos; i < c->rlen; i++)
        if (c->rbuf[i] != '\r' && c->rbuf[i] != '\n')
            return true;
    return false;
}

/* The free end of rbuf (the parsed bytes dropped first), or an empty buffer. */
static uv_buf_t rbuf_room(struct http_conn *c)
{
    if (!c->rbuf && !(c->rbuf = malloc(HTTP_READ_CHUNK)))
        return uv_buf_init(NULL, 0);
    if (c->rpos) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    return uv_buf_init(c->rbuf + c->rlen, (unsigned)(HTTP_READ_CHUNK - c->rlen));
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct http_conn *c = handle->data;

    (void)suggested;
    if (!c->ssl)
        *buf = rbuf_room(c);
    else if (c->cbuf || (c->cbuf = malloc(HTTP_READ_CHUNK)))
        *buf = uv_buf_init(c->cbuf, HTTP_READ_CHUNK);
    else
        *buf = uv_buf_init(NULL, 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = stream->data;

    if (nread == UV_ENOBUFS) {
        uv_read_stop(stream); /* resumes once the buffered requests are parsed */
        return;
    }
    if (c->lingering) {
        c->rpos = c->rlen = 0; /* dropped */
        c->discarded += nread > 0 ? (size_t)nread : 0;
        if (nread < 0 || c->discarded > HTTP_LINGER_MAX)
            http_conn_close(c);
        return;
    }
    if (nread > 0 && c->ssl) {
        BIO_write(SSL_get_rbio(c->ssl), buf->base, (int)nread);
        if (tls_pull(c) < 0)
            nread = UV_EPROTO; /* a failed handshake, a bad record or the peer's close */
    } else if (nread > 0) {
        c->rlen += (size_t)nread;
    }
    if (nread < 0) {
        uv_read_stop(stream);
        /* A request waiting on the peer (http_request_on_close: a long wait for a card)
         * ends with it: a peer that gave up waiting closed, rather than half-closed. */
        if (c->pending && !c->streaming && c->req.close_cb) {
            http_conn_close(c);
            return;
        }
        if (c->pending && !c->streaming) {
            c->peer_done = true; /* conn_process closes once what it sent is answered */
            return;
        }
        if (c->streaming)
            http_conn_close(c); /* the peer left a stream: nothing more to send it */
        else
            http_conn_close_when_idle(c); /* EOF or error; a last answer may be in flight */
        return;
    }
    if (nread == 0)
        return;
    if (c->streaming) {
        if (c->rlen == HTTP_READ_CHUNK)
            uv_read_stop(stream); /* kept for after the stream; a full buffer waits */
        return;
    }
    /* The application's time is not idle time; and a request, once begun, must be whole
     * within the timeout: a byte now and then must not hold the connection for ever, nor
     * must empty lines between requests (the parser skips them). */
    if (c->admitted && !c->pending && !c->in_message && begins_a_request(c))
        idle_restart(c); /* before admission, the time counts from the connection's start */
    conn_process(c);
}

/* TCP is full: the oldest connection that has sent no request head yet (none admitted)
 * makes room for c, rather than c being refused. Whoever holds many idle connections
 * without a token (any local account may, past the per-peer bound that loopback is exempt
 * from) then only displaces connections like its own, never the HIS that sends its request
 * at once. False when every other connection was admitted. */
static bool make_room(struct http_server *server, const struct http_conn *c)
{
    struct http_conn *oldest = NULL;

    for (struct http_conn *o = server->conns; o; o = o->next) /* newest first */
        if (o != c && o->is_tcp && !o->admitted && !o->closing)
            oldest = o;
    if (oldest)
        conn_close_stream(oldest, true);
    return oldest != NULL;
}

int http_conn_accept(struct http_server *server, uv_stream_t *listener, bool is_tcp)
{
    struct http_conn *c = calloc(1, sizeof(*c));
    int rc;

    if (!c)
        return UV_ENOMEM;
    c->server = server;
    c->is_tcp = is_tcp;
    rc = is_tcp ? uv_tcp_init(server->loop, &c->h.tcp) : uv_pipe_init(server->loop, &c->h.pipe, 0);
    if (rc < 0) {
        free(c);
        return rc;
    }
    uv_timer_init(server->loop, &c->idle);
    c->h.handle.data = c;
    c->idle.data = c;
    c->handles_open = 2;
    c->next = server->conns;
    if (c->next)
        c->next->prev = c;
    server->conns = c;
    server->n_conns++;
    server->n_tcp_conns += is_tcp;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;

    rc = uv_accept(listener, &c->h.stream);
    if (rc == 0 && is_tcp) {
        uv_tcp_nodelay(&c->h.tcp, 1);
        c->local = peer_is_loopback(c);
    } else if (rc == 0) {
        c->local = true;
        unix_peer(c);
    }
    /* Each transport has its own cap: clients on TCP, who may hold a connection without a
     * token, must not lock the Unix socket (posactl, the local HIS) out. */
    if (rc == 0 && (server->offline || peer_over_bound(c) ||
                    ((is_tcp ? server->n_tcp_conns : server->n_conns - server->n_tcp_conns) >
                         server->config.max_connections &&
                     !(is_tcp && make_room(server, c)))))
        rc = UV_EMFILE;
    if (rc == 0)
        rc = uv_read_start(&c->h.stream, on_alloc, on_read);
    if (rc < 0) {
        conn_close_stream(c, true);
        return rc;
    }
    if (rc == 0 && is_tcp && server->tls)
        rc = tls_start(c, server->tls);
    if (rc < 0) {
        conn_close_stream(c, true);
        return rc;
    }
    idle_restart(c);
    return 0;
}

/* --- parsing ------------------------------------------------------------------------- */

static int head_append(struct http_conn *c, const char *at, size_t len)
{
    struct http_req_impl *r = &c->req;

    if (r->head_len + len + 1 > c->server->config.max_header_bytes) {
        c->err_status = 431;
        return -1;
    }
    if (r->head_len + len + 1 > r->head_cap) {
        size_t cap = r->head_cap ? r->head_cap : 1024;
        char *p;

        while (cap < r->head_len + len + 1)
            cap *= 2;
        p = realloc(r->head, cap);
        if (!p) {
            c->err_status = 500;
            return -1;
        }
        r->head = p;
        r->head_cap = cap;
    }
    memcpy(r->head + r->head_len, at, len);
    r->head_len += len;
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;
    struct http_req_impl *r = &c->req;

    c->in_message = true;
    r->head_len = 0;
    r->url_end = 0;
    r->n_headers = 0;
    r->last_cb = 0;
    r->body_len = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    return head_append(p->data, at, len);
}

/* Ends the url, a name or a value with a NUL (the buffer may move, so offsets are kept). */
static int head_terminate(struct http_conn *c)
{
    struct http_req_impl *r = &c->req;

    if (r->last_cb == 0)
        r->url_end = r->head_len;
    /* A value's trailing spaces and tabs are not part of it (RFC 9110 5.5): "Bearer t " is
     * the token t, as any client means it. http_parser drops the leading ones. */
    if (r->last_cb == 2)
        while (r->head_len > r->value_off[r->n_headers - 1] &&
               (r->head[r->head_len - 1] == ' ' || r->head[r->head_len - 1] == '\t'))
            r->head_len--;
    return head_append(c, "", 1);
}

/* last_cb: 0 in the url, 1 in a header's name, 2 in its value, 3 once the headers are
 * complete. http_parser reports a chunked body's trailer through the same two callbacks after
 * that: it is ignored (the parser bounds its size), for appending it would move the buffer
 * the request's strings already point into, and leave names without values. */
#define IN_TRAILER 3

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct http_req_impl *r = &c->req;

    if (r->last_cb == IN_TRAILER)
        return 0;
    if (r->last_cb != 1) {
        if (head_terminate(c) < 0)
            return -1;
        if (r->n_headers == HTTP_HEADERS_MAX) {
            c->err_status = 431;
            return -1;
        }
        r->name_off[r->n_headers++] = r->head_len;
        r->last_cb = 1;
    }
    return head_append(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct http_req_impl *r = &c->req;

    if (r->last_cb == IN_TRAILER)
        return 0;
    if (r->last_cb != 2) {
        if (head_terminate(c) < 0)
            return -1;
        r->value_off[r->n_headers - 1] = r->head_len;
        r->last_cb = 2;
    }
    return head_append(c, at, len);
}

/* Whether a header that means one thing (who asks, for which host, from which page, in
 * what form) comes twice: the first was taken, and a proxy or a check in front may have read
 * the other. Refused, as RFC 9110 lets a server do with a field that is not a list. */
static bool single_header_repeated(const struct http_req_impl *r)
{
    static const char *const single[] = {"Authorization", "Host", "Origin", "Content-Type"};

    for (size_t k = 0; k < sizeof single / sizeof single[0]; k++)
        if (http_request_header_count(&r->pub, single[k]) > 1)
            return true;
    return false;
}

/* Whether every field name is a token (RFC 9110 §5.1): "Host : evil" was no Host to this
 * server, where a proxy in front, or a browser's idea of the page, may take it for one. */
static bool names_are_tokens(const struct http_req_impl *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *n = r->names[i];

        if (!*n || n[strspn(n, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ")])
            return false;
    }
    return true;
}

/* 0, or the status a head this server does not take is refused with, *why saying what: a
 * name that is no token, an HTTP/1.1 request without Host (RFC 9112 §3.2: 400), a coding of
 * the body other than chunked alone, which would be read as chunked and its bytes taken as
 * the body (501). */
static int head_refused(const struct http_req_impl *r, const http_parser *p, const char **why)
{
    const char *te = http_request_header(&r->pub, "Transfer-Encoding");

    if (!names_are_tokens(r)) {
        *why = "a header name that is not a token (a blank before its ':'?)";
        return 400;
    }
    if (p->http_minor == 1 && !http_request_header(&r->pub, "Host")) {
        *why = "HTTP/1.1 without a Host header: send one (Host: localhost)";
        return 400;
    }
    if (te && strcasecmp(te, "chunked") != 0) {
        *why = "a Transfer-Encoding other than chunked: send the body as it is, or chunked";
        return 501;
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    struct http_req_impl *r = &c->req;
    const char *expect;
    char *q;

    if (head_terminate(c) < 0)
        return -1;
    if (r->last_cb == 1) /* a name without a value */
        r->value_off[r->n_headers - 1] = r->head_len - 1;
    for (size_t i = 0; i < r->n_headers; i++) {
        r->names[i] = r->head + r->name_off[i];
        r->values[i] = r->head + r->value_off[i];
    }
    r->pub.path = r->head;
    q = memchr(r->head, '?', r->url_end);
    if (q) {
        *q = '\0';
        r->pub.query = q + 1;
    } else {
        r->pub.query = "";
    }
    r->pub.method = http_method_str((enum http_method)p->method);
    r->last_cb = IN_TRAILER;
    if (single_header_repeated(r)) {
        c->err_status = 400;
        return -1;
    }
    if ((c->err_status = head_refused(r, p, &c->err_reason)) != 0)
        return -1;
    /* HTTP/1.0 and 1.1 only: http_parser also takes a line without a version (0.9) and any
     * other number, which this server would then answer as 1.x. */
    if (p->upgrade || p->http_major != 1 || p->http_minor > 1) {
        c->err_status = 400; /* no upgrades or CONNECT here either */
        return -1;
    }
    if (p->content_length != ULLONG_MAX && p->content_length > c->server->config.max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    r->pub.via_unix = !c->is_tcp;
    r->pub.peer_is_local = c->local; /* admit may log who it refused */
    r->pub.peer = c->peer[0] ? c->peer : "?";
    if (c->server->config.admit &&
        (c->err_status = c->server->config.admit(&r->pub, c->server->data)) != 0)
        return -1;
    if (!c->admitted) {
        c->admitted = true;
        idle_restart(c); /* the rest of the request has the idle timeout */
    }
    expect = http_request_header(&r->pub, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor == 1 &&
        send_continue(c) < 0)
        return -1;
    return 0;
}

/* Grows the body buffer to cap bytes within the server's bound on the bodies all
 * connections hold at once: 0, or the status to refuse the request with (503: retry later,
 * when others are done). */
static int body_grow(struct http_conn *c, size_t cap)
{
    struct http_server *s = c->server;
    struct http_req_impl *r = &c->req;
    size_t more = cap - r->body_cap;
    char *b;

    if (s->body_bytes + more > s->config.max_buffered_bytes)
        return 503;
    if (!(b = realloc(r->body, cap)))
        return 500;
    r->body = b;
    r->body_cap = cap;
    s->body_bytes += more;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct http_req_impl *r = &c->req;

    if (r->body_len + len > c->server->config.max_body_bytes) {
        c->err_status = 413;
        return -1;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;

        while (cap < r->body_len + len + 1)
            cap *= 2;
        if (cap > c->server->config.max_body_bytes + 1) /* the largest body and its NUL */
            cap = c->server->config.max_body_bytes + 1;
        if ((c->err_status = body_grow(c, cap)) != 0)
            return -1;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

/* A chunk that would take the body past its bound is refused at its header (content_length
 * is the chunk's size here), not once its bytes have come. */
static int on_chunk_header(http_parser *p)
{
    struct http_conn *c = p->data;

    if (p->content_length > c->server->config.max_body_bytes - c->req.body_len) {
        c->err_status = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    struct http_req_impl *r = &c->req;

    if (r->body)
        r->body[r->body_len] = '\0';
    r->pub.body = r->body ? r->body : ""; /* no buffer for a request without a body */
    r->pub.body_len = r->body_len;
    r->keep_alive = http_should_keep_alive(p) != 0;
    c->in_message = false;
    http_parser_pause(p, 1); /* one request at a time: resumed once answered */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

/* --- answering ----------------------------------------------------------------------- */

struct write_job {
    uv_write_t req;
    struct http_conn *conn;
    char data[];
};

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status;
}

/* A rejected peer may still be sending the body we refused: closing now, with its bytes
 * unread, would reset the connection and could destroy our answer before it reads it. So
 * the write side is shut down and what still arrives is read and dropped, for a while. */
static void conn_linger(struct http_conn *c)
{
    if (c->closing)
        return;
    c->rpos = c->rlen = 0;
    if (uv_shutdown(&c->shutdown, &c->h.stream, on_shutdown) < 0 ||
        uv_read_start(&c->h.stream, on_alloc, on_read) < 0) {
        http_conn_close(c);
        return;
    }
    uv_timer_start(&c->idle, on_idle, HTTP_LINGER_MS, 0);
}

/* Answers waiting for a peer that does not read them: no more of its requests meanwhile. */
static bool write_backlogged(struct http_conn *c)
{
    return c->h.stream.write_queue_size > c->server->config.max_stream_backlog;
}

static void on_write(uv_write_t *wr, int status)
{
    struct write_job *job = http_container_of(wr, struct write_job, req);
    struct http_conn *c = job->conn;

    free(job);
    c->writes--;
    if (status < 0)
        http_conn_close(c);
    else if (c->close_after && !c->pending && c->writes == 0 && c->lingering)
        conn_linger(c);
    else if (c->close_after && !c->pending && c->writes == 0)
        http_conn_close(c);
    else if (c->read_held && !write_backlogged(c)) {
        c->read_held = false;
        conn_process(c); /* the requests it sent meanwhile, and reading again */
    }
}

/* Writes job->data[0..len) as it is; job is freed on failure. */
static int send_raw(struct http_conn *c, struct write_job *job, size_t len)
{
    uv_buf_t buf = uv_buf_init(job->data, (unsigned)len);
    int rc;

    job->conn = c;
    if ((rc = uv_write(&job->req, &c->h.stream, &buf, 1, on_write)) < 0) {
        free(job);
        return rc;
    }
    c->writes++;
    return 0;
}

/* Sends what the SSL object has written (records, handshake messages, alerts). */
static int tls_flush(struct http_conn *c)
{
    BIO *out = SSL_get_wbio(c->ssl);
    size_t n = BIO_ctrl_pending(out);
    struct write_job *job;

    if (n == 0)
        return 0;
    if (!(job = malloc(sizeof(*job) + n)))
        return UV_ENOMEM;
    if (BIO_read(out, job->data, (int)n) != (int)n) {
        free(job);
        return UV_EPROTO;
    }
    return send_raw(c, job, n);
}

/* Sends job->data[0..len): encrypted on a TLS connection. job is consumed either way; on an
 * error the caller closes the connection. */
static int conn_send(struct http_conn *c, struct write_job *job, size_t len)
{
    int n;

    if (!c->ssl)
        return send_raw(c, job, len);
    n = SSL_write(c->ssl, job->data, (int)len); /* into a memory BIO: all of it, or nothing */
    free(job);
    return n == (int)len ? tls_flush(c) : UV_EPROTO;
}

/* A client that waits for "100 Continue" before it sends its body (curl does past 1 MiB)
 * gets it at once; else it waits a second for nothing. */
static int send_continue(struct http_conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct write_job *job = malloc(sizeof(*job) + sizeof line);

    if (!job)
        return UV_ENOMEM;
    memcpy(job->data, line, sizeof line - 1);
    return conn_send(c, job, sizeof line - 1);
}

static int tls_start(struct http_conn *c, SSL_CTX *ctx)
{
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());

    if (!in || !out || !(c->ssl = SSL_new(ctx))) {
        BIO_free(in);
        BIO_free(out);
        return UV_ENOMEM;
    }
    SSL_set_bio(c->ssl, in, out);
    SSL_set_accept_state(c->ssl);
    return 0;
}

/* Moves the plaintext the SSL object has (after the ciphertext read was given to it) into
 * rbuf, as much as fits, and sends what the handshake wants sent. Returns the bytes added, 0
 * when none (not a TLS connection, a handshake in progress, rbuf full), or UV_EPROTO when
 * the connection is over: a failed handshake, a bad record, or the peer's close_notify. */
static int tls_pull(struct http_conn *c)
{
    int added = 0, n = 0;
    uv_buf_t room;

    if (!c->ssl)
        return 0;
    while ((room = rbuf_room(c)).len > 0 && (n = SSL_read(c->ssl, room.base, (int)room.len)) > 0) {
        c->rlen += (size_t)n;
        added += n;
    }
    /* The peer's close_notify: what it sent before stands, and is answered (it may come in
     * one read with the request), then the connection closes. */
    if (n <= 0 && room.len > 0 && SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN)
        c->peer_done = true;
    else if (n <= 0 && room.len > 0 && SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ) {
        tls_flush(c); /* the alert, if any */
        return UV_EPROTO;
    }
    return tls_flush(c) < 0 ? UV_EPROTO : added;
}

static int conn_write(struct http_conn *c, int status, const struct http_header *headers,
                      size_t n_headers, const char *body, size_t body_len, bool keep,
                      bool head_only)
{
    char line[256];
    size_t size = 0, off = 0;
    struct write_job *job;
    int n;

    n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    size += (size_t)n;
    for (size_t i = 0; i < n_headers; i++)
        size += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    size += 96 + (head_only ? 0 : body_len);
    job = malloc(sizeof(*job) + size);
    if (!job)
        return UV_ENOMEM;
    off += (size_t)snprintf(job->data + off, size - off, "%s", line);
    for (size_t i = 0; i < n_headers; i++)
        off += (size_t)snprintf(job->data + off, size - off, "%s: %s\r\n", headers[i].name,
                                headers[i].value);
    off += (size_t)snprintf(job->data + off, size - off,
                            "Content-Length: %zu\r\nConnection: %s\r\n\r\n", body_len,
                            keep ? "keep-alive" : "close");
    if (!head_only && body_len) {
        memcpy(job->data + off, body, body_len);
        off += body_len;
    }
    if (conn_send(c, job, off) < 0)
        http_conn_close(c);
    return 0;
}

static void conn_reject(struct http_conn *c, int status)
{
    /* A 401 names the scheme to answer it with (RFC 9110 §11.6.1: it must). */
    struct http_header h[] = {{"Content-Type", "text/plain"},
                              {"Cache-Control", "no-store"},
                              {"WWW-Authenticate", "Bearer"}};
    const char *body = http_status_text(status);
    char buf[512];
    size_t len = strlen(body);

    if (c->server->config.error_body) {
        len = c->server->config.error_body(status, c->err_reason, c->server->data, buf, sizeof(buf),
                                           &h[0].value);
        body = buf;
        if (len > sizeof(buf))
            len = sizeof(buf);
    }
    c->close_after = true;
    c->lingering = true;
    uv_read_stop(&c->h.stream);
    if (conn_write(c, status, h, status == 401 ? 3 : 2, body, len, false, false) < 0)
        http_conn_close(c);
}

int http_respond(struct http_request *req, int status, const struct http_header *headers,
                 size_t n_headers, const char *body, size_t body_len)
{
    struct http_conn *c = http_container_of(req, struct http_conn, req.pub);
    struct http_server *s = c->server;
    bool keep;
    int rc;

    assert(c->pending && !c->streaming);
    c->pending = false;
    c->req.close_cb = NULL;
    if (c->closing) { /* the peer or the server went away meanwhile */
        conn_maybe_free(c);
        return 0;
    }
    keep = c->req.keep_alive && !c->close_after && !s->closing && !s->offline;
    if (!keep)
        c->close_after = true;
    rc = conn_write(c, status, headers, n_headers, body, body_len, keep,
                    strcmp(req->method, "HEAD") == 0);
    body_release(c);
    if (rc < 0) {
        http_conn_close(c);
        return rc;
    }
    if (!keep) {
        if (c->writes == 0)
            http_conn_close(c);
        return 0;
    }
    idle_restart(c);
    if (!c->in_dispatch)
        conn_process(c); /* answered later: go on with what the peer sent meanwhile */
    return 0;
}

void http_request_drop(struct http_request *req, bool reset)
{
    struct http_conn *c = http_container_of(req, struct http_conn, req.pub);

    assert(c->pending);
    c->pending = false;
    c->streaming = false;
    c->req.close_cb = NULL;
    body_release(c);
    if (c->closing)
        conn_maybe_free(c);
    else
        conn_close_stream(c, reset);
}

int http_stream_start(struct http_request *req, int status, const struct http_header *headers,
                      size_t n_headers)
{
    struct http_conn *c = http_container_of(req, struct http_conn, req.pub);
    struct http_header all[HTTP_HEADERS_MAX + 1];
    char line[256];
    struct write_job *job;
    size_t off = 0, size;

    assert(c->pending && !c->streaming);
    if (c->closing)
        return UV_ECONNRESET;
    if (n_headers > HTTP_HEADERS_MAX)
        return UV_EINVAL;
    if (n_headers)
        memcpy(all, headers, n_headers * sizeof(*headers));
    all[n_headers].name = "Transfer-Encoding";
    all[n_headers].value = "chunked";
    size = (size_t)snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status,
                            http_status_text(status)) +
           3;
    for (size_t i = 0; i <= n_headers; i++)
        size += strlen(all[i].name) + strlen(all[i].value) + 4;
    if (!(job = malloc(sizeof(*job) + size)))
        return UV_ENOMEM;
    off += (size_t)snprintf(job->data + off, size - off, "%s", line);
    for (size_t i = 0; i <= n_headers; i++)
        off +=
            (size_t)snprintf(job->data + off, size - off, "%s: %s\r\n", all[i].name, all[i].value);
    off += (size_t)snprintf(job->data + off, size - off, "\r\n");
    if (conn_send(c, job, off) < 0) {
        http_conn_close(c);
        return UV_ECONNRESET;
    }
    c->streaming = true;
    uv_timer_stop(&c->idle);
    uv_read_start(&c->h.stream, on_alloc, on_read); /* to notice the peer leaving */
    return 0;
}

static int stream_chunk(struct http_conn *c, const char *data, size_t len)
{
    struct write_job *job;
    int n;

    if (c->closing)
        return UV_ECONNRESET;
    if (c->h.stream.write_queue_size > c->server->config.max_stream_backlog)
        return UV_ENOBUFS;
    if (!(job = malloc(sizeof(*job) + len + 24)))
        return UV_ENOMEM;
    n = snprintf(job->data, 24, "%zx\r\n", len);
    memcpy(job->data + n, data, len);
    memcpy(job->data + n + len, "\r\n", 2);
    if (conn_send(c, job, (size_t)n + len + 2) < 0) {
        /* The caller hears of it from what this returns, and lets go of the request then:
         * the close callback would have it do so twice. */
        c->req.close_cb = NULL;
        http_conn_close(c);
        return UV_ECONNRESET;
    }
    return 0;
}

int http_stream_write(struct http_request *req, const char *data, size_t len)
{
    struct http_conn *c = http_container_of(req, struct http_conn, req.pub);

    assert(c->pending && c->streaming);
    return len ? stream_chunk(c, data, len) : 0; /* an empty chunk would end the stream */
}

int http_stream_end(struct http_request *req)
{
    struct http_conn *c = http_container_of(req, struct http_conn, req.pub);
    static const char last[] = "0\r\n\r\n";
    struct write_job *job;

    assert(c->pending && c->streaming);
    c->pending = false;
    c->streaming = false;
    c->req.close_cb = NULL; /* req is gone: its owner hears nothing of the connection now */
    body_release(c);
    if (c->closing) {
        conn_maybe_free(c);
        return 0;
    }
    if (!(job = malloc(sizeof(*job) + sizeof(last)))) {
        http_conn_close(c);
        return UV_ENOMEM;
    }
    memcpy(job->data, last, sizeof(last) - 1);
    if (conn_send(c, job, sizeof(last) - 1) < 0) {
        http_conn_close(c);
        return 0;
    }
    if (!c->req.keep_alive || c->close_after || c->server->closing || c->server->offline) {
        c->close_after = true;
        return 0;
    }
    idle_restart(c);
    if (!c->in_dispatch)
        conn_process(c);
    return 0;
}

void http_request_on_close(struct http_request *req, http_close_cb cb, void *data)
{
    struct http_conn *c = http_container_of(req, struct http_conn, req.pub);

    c->req.close_cb = cb;
    c->req.close_data = data;
}

static void conn_dispatch(struct http_conn *c)
{
    struct http_server *s = c->server;

    c->pending = true;
    c->req.pub.peer_is_local = c->local;
    c->req.pub.peer = c->peer[0] ? c->peer : "?";
    c->req.pub.via_unix = !c->is_tcp;
    c->req.pub.data = NULL;
    c->req.close_cb = NULL;
    if (c->ssl)
        uv_read_stop(&c->h.stream); /* ciphertext is not bounded by rbuf */
    uv_timer_stop(&c->idle); /* the application's time is not idle time */
    c->in_dispatch = true;
    s->cb(s, &c->req.pub, s->data);
    c->in_dispatch = false;
}

static void conn_process(struct http_conn *c)
{
    int pulled = 0;

    /* On TLS, plaintext that did not fit in rbuf waits in the SSL object: pulled here. */
    while (!c->closing && !c->pending && !c->close_after && !write_backlogged(c) &&
           (c->rpos < c->rlen || (pulled = tls_pull(c)) > 0)) {
        size_t n =
            http_parser_execute(&c->parser, &parser_settings, c->rbuf + c->rpos, c->rlen - c->rpos);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

        c->rpos += n;
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            conn_dispatch(c);
            continue;
        }
        if (e != HPE_OK) {
            conn_reject(c, c->err_status ? c->err_status : 400);
            return;
        }
    }
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    if (pulled < 0 || (c->peer_done && !c->pending && c->rpos == c->rlen))
        http_conn_close_when_idle(c); /* all it sent before is answered */
    else if (!c->closing && !c->pending && !c->close_after && write_backlogged(c)) {
        c->read_held = true; /* on_write goes on once the answers drain */
        uv_read_stop(&c->h.stream);
    } else if (!c->closing && !c->pending && !c->close_after)
        uv_read_start(&c->h.stream, on_alloc, on_read);
}
