/* Shared by http_server.c (listeners, server lifetime) and http_conn.c (one connection:
 * parsing, answering). Not part of the library's interface. */
#ifndef POSA_HTTP_INTERNAL_H
#define POSA_HTTP_INTERNAL_H

#include <stddef.h>

#include <http_parser.h>
#include <openssl/ssl.h>

#include "http_server.h"

#define HTTP_LISTENERS_MAX 8
#define HTTP_HEADERS_MAX   64
#define HTTP_LINGER_MAX    (64u << 20) /* and how much it may send meanwhile */
#define HTTP_LINGER_MS     5000        /* how long a rejected peer may go on sending */
#define HTTP_READ_CHUNK    16384       /* per connection, kept while it lives */

#define http_container_of(ptr, type, member)                                                       \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct http_listener {
    bool is_unix;
    bool active;
    bool close_pending; /* uv_close called, its callback not yet run */
    char host[64];
    int port; /* as bound (the real port after port 0) */
    char path[108];
    int mode;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_handle_t handle;
        uv_stream_t stream;
    } h;
    struct http_server *server;
};

/* One request being read or answered; embedded in its connection. */
struct http_req_impl {
    struct http_request pub;
    char *head; /* url, then header names and values, NUL-separated */
    size_t head_len, head_cap;
    size_t url_end; /* head[0..url_end) is the url */
    size_t name_off[HTTP_HEADERS_MAX], value_off[HTTP_HEADERS_MAX];
    const char *names[HTTP_HEADERS_MAX], *values[HTTP_HEADERS_MAX];
    size_t n_headers;
    int last_cb; /* 0 none, 1 field, 2 value */
    char *body;
    size_t body_len, body_cap;
    bool keep_alive;
    http_close_cb close_cb;
    void *close_data;
};

struct http_conn {
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;
        uv_handle_t handle;
        uv_stream_t stream;
    } h;
    uv_timer_t idle;
    int handles_open; /* 0..2: the stream and the idle timer */
    struct http_server *server;
    struct http_conn *prev, *next;
    http_parser parser;
    char *rbuf; /* bytes read and not yet parsed: rbuf[rpos..rlen) */
    size_t rpos, rlen;
    struct http_req_impl req;
    bool pending;     /* req was handed out and is not answered yet */
    bool in_dispatch; /* inside the request callback */
    bool closing;     /* close requested: no more reads or requests */
    bool close_after; /* close once the current answer is written */
    bool is_tcp, local;
    bool streaming; /* a chunked answer is open */
    bool in_message; /* a request has begun and is not complete: its bytes keep no timer */
    bool read_held; /* not read while its answers are backlogged (write_backlogged) */
    char peer[64];
    /* The TCP peer's address (family and bytes) for max_unadmitted_per_peer; family 0 for a
     * Unix socket or a loopback peer, which are not counted. */
    int peer_family;
    unsigned char peer_addr[16];
    bool admitted;  /* a request head passed admit: from now on the idle timeout applies */
    bool lingering; /* after a rejection: reading and discarding until EOF */
    size_t discarded;
    uv_shutdown_t shutdown;
    int err_status; /* set by a parser callback that rejects: 413, 431 */
    const char *err_reason; /* ... and what it refused, in words (static), or NULL */
    int writes;     /* writes in flight */
    SSL *ssl;       /* a TLS connection: bytes read go through it into rbuf */
    /* The peer sent all it will (TLS close_notify, or EOF or an error while a request was
     * pending): what came before stands and is answered, then the connection closes. */
    bool peer_done;
    char *cbuf;     /* a TLS connection's ciphertext as read */
};

struct http_server {
    uv_loop_t *loop;
    struct http_server_config config;
    http_request_cb cb;
    void *data;
    struct http_listener listeners[HTTP_LISTENERS_MAX];
    size_t n_listeners;
    struct http_conn *conns;
    size_t n_conns;
    size_t n_tcp_conns; /* of n_conns: max_connections bounds each transport on its own */
    size_t body_bytes;  /* the body buffers of all connections (max_buffered_bytes) */
    int handles_open; /* listeners open */
    SSL_CTX *tls; /* TCP connections speak TLS when set */
    bool offline;
    bool closing;
    void (*done)(void *);
    void *done_data;
};

/* http_conn.c */
int http_conn_accept(struct http_server *server, uv_stream_t *listener, bool is_tcp);
void http_conn_close(struct http_conn *conn);
/* Closes conn now when it has no request in flight, else once it is answered. */
void http_conn_close_when_idle(struct http_conn *conn);

/* http_server.c: a connection is gone (all its handles closed). */
void http_server_conn_gone(struct http_server *server, struct http_conn *conn);

#endif
