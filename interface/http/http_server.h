/* posa_http: a small, generic HTTP/1.1 server on libuv and the packaged http-parser. Used by
 * posa-sandbox and posad's HIS API; it knows nothing of either.
 *
 * Contract:
 * - Everything runs on the loop thread given to http_server_new(); nothing here is
 *   thread-safe.
 * - Requests of one connection are handed to the callback one at a time and in order
 *   (pipelining-safe): the next request of a connection is not parsed before the current
 *   one is answered (http_respond) or dropped (http_request_drop).
 * - The callback may answer at once or later (asynchronously). The request, its strings
 *   and its body stay valid until it is answered or dropped, even if the peer went away
 *   meanwhile (answering a dead connection then just frees the request). Every request must
 *   be answered or dropped exactly once.
 * - An answer given later may hand the connection's next pipelined request to the callback
 *   before http_respond returns: let go of what the answered request held (a lock, a key)
 *   before answering it.
 * - Header bytes (request line + headers) beyond max_header_bytes get 431, a body beyond
 *   max_body_bytes gets 413, a body beyond what max_buffered_bytes leaves free 503, a
 *   malformed request 400; each then closes the connection.
 * - Errors are 0 or negative (libuv codes, or POSA_EFIELD for a bad address). */
#ifndef POSA_HTTP_SERVER_H
#define POSA_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

struct http_server;

struct http_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* the target before '?', not decoded, NUL-terminated */
    const char *query;  /* after '?', or "" */
    const char *body;   /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    bool peer_is_local; /* loopback TCP peer, or a Unix socket */
    const char *peer;   /* "127.0.0.1:54321", "[::1]:54321" or "unix", for logs */
    bool via_unix;      /* came over a Unix socket (its file permissions are its auth) */
    void *data;         /* the application's, untouched by the library */
};

struct http_header {
    const char *name;
    const char *value;
};

typedef void (*http_request_cb)(struct http_server *server, struct http_request *req, void *data);

struct http_server_config {
    size_t max_header_bytes;   /* request line + headers; 0 = 16 KiB */
    size_t max_body_bytes;     /* 0 = 1 MiB */
    /* The request bodies all connections hold at once; a body that would take more gets
     * 503 (retry once others are answered) and its connection is closed. 0 = 8 bodies of
     * max_body_bytes. */
    size_t max_buffered_bytes;
    size_t max_connections;    /* per transport (TCP, Unix socket); beyond: accepted and closed
                                  at once; 0 = 4096 */
    /* An idle keep-alive connection is closed after it; and a request, from its first byte,
     * must be whole within it (a slow sender is not idle); 0 = none. */
    uint64_t idle_timeout_ms;
    /* Until a connection is admitted (its first request head passed admit, or was read when
     * there is no admit), it is closed this long after it was accepted: a client without
     * a token holds a connection for seconds, not for the idle timeout. 0 = idle_timeout_ms. */
    uint64_t admit_timeout_ms;
    /* TCP connections from one address (loopback excepted) not yet admitted; beyond: accepted
     * and closed at once, so that one machine cannot take the connections everyone shares.
     * 0 = no bound. */
    size_t max_unadmitted_per_peer;
    /* Bytes of answers queued to a peer that does not read them; 0 = 1 MiB. Beyond it a
     * stream's writes fail, and a connection reads no further requests until they drain:
     * a client that pipelines requests and never reads costs a bounded amount. */
    size_t max_stream_backlog;
    /* Optional: the body of the library's own refusals (400, 413, 431, 501, and admit's) in
     * the application's error shape (data: the server's cb data). reason: what in the request
     * this server does not take, in words for its author ("HTTP/1.1 without a Host header"),
     * or NULL. Writes at most cap bytes into buf, sets *ret_type (a static string) and returns
     * the length. NULL: text/plain with the reason phrase. */
    size_t (*error_body)(int status, const char *reason, void *data, char *buf, size_t cap,
                         const char **ret_type);
    /* Optional: asked once a request's head is read, before its body (data: the server's
     * cb data). 0 reads on; an HTTP status (401) answers at once, as the library's own
     * refusals, and closes the connection: a body up to max_body_bytes is never buffered
     * for a client that may not send one. */
    int (*admit)(const struct http_request *req, void *data);
};

/* Creates a server on loop; cb runs for every complete request. Returns 0 or UV_ENOMEM. */
int http_server_new(uv_loop_t *loop, const struct http_server_config *config, http_request_cb cb,
                    void *data, struct http_server **ret);

/* Listens on host:port (IPv4 or IPv6 literal; port 0 picks a free one). */
int http_server_listen_tcp(struct http_server *server, const char *host, int port);
/* Listens on a Unix socket path with the file mode given (e.g. 0660). A stale socket file at
 * path is replaced; any other kind of file is an error (UV_EEXIST). */
int http_server_listen_unix(struct http_server *server, const char *path, int mode);

/* A TLS server context (TLS 1.2 or later) from a PEM certificate chain and its key, or NULL
 * with the file and OpenSSL's reason in why. */
SSL_CTX *http_tls_context(const char *cert_file, const char *key_file, char *why, size_t cap);
/* What is wrong now with the dates of ctx's certificate, into why: expired (since when), not
 * valid yet, or expiring within 30 days (when). false when nothing: every client that checks
 * the certificate refuses an expired one, and posad hears nothing of it. */
bool http_tls_dates_warning(SSL_CTX *ctx, char *why, size_t cap);
/* From now on, TCP connections speak TLS with ctx, which the server takes over (and frees);
 * the Unix socket stays plain. */
void http_server_use_tls(struct http_server *server, SSL_CTX *ctx);

/* The port of the first TCP listener (after port 0 was asked for), or -1. */
int http_server_tcp_port(const struct http_server *server);

/* Offline: stop listening (new connections are refused by the kernel) and close every
 * connection that has no request in flight; those with one close after their answer.
 * Online again: listen on the same addresses. Returns 0 or the first listen error. */
int http_server_set_offline(struct http_server *server, bool offline);

/* Closes the listeners and every connection; done(data) runs once all handles are closed
 * and the server is freed. Requests still unanswered are freed when answered or dropped. */
void http_server_close(struct http_server *server, void (*done)(void *data), void *data);
/* The first step of a graceful stop: no new connection, idle ones closed, and each one with
 * a request in hand closed once its answer is written (no further request read from it).
 * http_server_connections() tells when none is left; http_server_close() still frees. */
void http_server_drain(struct http_server *server);
size_t http_server_connections(const struct http_server *server);

/* A request header's value (name case-insensitive), or NULL. Repeated headers: the first. */
const char *http_request_header(const struct http_request *req, const char *name);
/* How many times the request carries the header (a key that must not be ambiguous). */
size_t http_request_header_count(const struct http_request *req, const char *name);

/* Answers req with status, extra headers (Content-Length and Connection are added) and a
 * body (copied). After this call req is gone. Returns 0, or UV_ENOMEM (req is dropped). */
int http_respond(struct http_request *req, int status, const struct http_header *headers,
                 size_t n_headers, const char *body, size_t body_len);

/* Closes req's connection without answering: a TCP reset when reset is true (where the
 * transport has one), else an orderly close. After this call req is gone. */
void http_request_drop(struct http_request *req, bool reset);

/* Streaming (server-sent events and the like): http_stream_start() sends the status and
 * headers with chunked transfer encoding; http_stream_write() sends one chunk (copied);
 * http_stream_end() sends the last chunk, after which req is gone (or http_request_drop()).
 * While a stream is open the connection is read, so a peer that goes away is noticed.
 * Writes return UV_ECONNRESET once the connection is gone and UV_ENOBUFS when more than
 * max_stream_backlog bytes wait for a slow peer (the caller may drop it). */
int http_stream_start(struct http_request *req, int status, const struct http_header *headers,
                      size_t n_headers);
int http_stream_write(struct http_request *req, const char *data, size_t len);
int http_stream_end(struct http_request *req);

typedef void (*http_close_cb)(struct http_request *req, void *data);
/* cb(req, data) runs once if req's connection closes before req is answered, ended or
 * dropped (the peer went away, or the server is closing), but not for a write that fails:
 * the caller learns that from what the write returns. req stays valid until the application
 * answers, ends or drops it. With cb set, the peer's end of its sending (EOF) is its going
 * away, as it is during a stream: without, a request the peer sent and then half-closed is
 * still answered. */
void http_request_on_close(struct http_request *req, http_close_cb cb, void *data);

/* The reason phrase of a status ("Not Found"), "" when unknown. */
const char *http_status_text(int status);

#endif
