/* posa_http: listeners, the connection list, offline mode and the server's lifetime. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>

#include "http_internal.h"

#define DEFAULT_MAX_HEADER (16u << 10)
#define DEFAULT_MAX_BODY   (1u << 20)
#define DEFAULT_MAX_CONNS  4096

int http_server_new(uv_loop_t *loop, const struct http_server_config *config, http_request_cb cb,
                    void *data, struct http_server **ret)
{
    struct http_server *s = calloc(1, sizeof(*s));

    if (!s)
        return UV_ENOMEM;
    s->loop = loop;
    if (config)
        s->config = *config;
    if (!s->config.max_header_bytes)
        s->config.max_header_bytes = DEFAULT_MAX_HEADER;
    if (!s->config.max_body_bytes)
        s->config.max_body_bytes = DEFAULT_MAX_BODY;
    if (!s->config.max_buffered_bytes)
        s->config.max_buffered_bytes = 8 * s->config.max_body_bytes;
    if (!s->config.max_connections)
        s->config.max_connections = DEFAULT_MAX_CONNS;
    if (!s->config.max_stream_backlog)
        s->config.max_stream_backlog = 1u << 20;
    s->cb = cb;
    s->data = data;
    *ret = s;
    return 0;
}

static void on_connection(uv_stream_t *stream, int status)
{
    struct http_listener *l = stream->data;

    if (status < 0 || l->server->closing)
        return;
    http_conn_accept(l->server, stream, !l->is_unix);
}

static void server_maybe_done(struct http_server *s)
{
    if (!s->closing || s->handles_open || s->conns)
        return;
    void (*done)(void *) = s->done;
    void *done_data = s->done_data;
    SSL_CTX_free(s->tls);
    free(s);
    if (done)
        done(done_data);
}

/* A key with a passphrase is refused, not asked for: OpenSSL would ask on posad's terminal,
 * and a SIGHUP reload would then hold the loop, every desk with it, until someone typed. */
static int no_passphrase(char *buf, int size, int rwflag, void *data)
{
    (void)buf, (void)size, (void)rwflag, (void)data;
    return 0;
}

SSL_CTX *http_tls_context(const char *cert_file, const char *key_file, char *why, size_t cap)
{
    SSL_CTX *ctx = NULL;
    const char *step = "cannot create a TLS context";

    /* OpenSSL says a missing file as "system lib": the file's own error is clearer. */
    for (const char *const *f = (const char *const[]){cert_file, key_file, NULL}; *f; f++)
        if (access(*f, R_OK) != 0) {
            snprintf(why, cap, "%s: %s", *f, strerror(errno));
            return NULL;
        }
    ctx = SSL_CTX_new(TLS_server_method());
    ERR_clear_error();
    if (ctx)
        SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    /* TLS 1.2 with forward secrecy and AEAD only (OpenSSL's default list keeps CBC suites
     * with SHA-1 MACs); TLS 1.3's suites are all AEAD. */
    if (ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") == 1 &&
        (step = cert_file, SSL_CTX_use_certificate_chain_file(ctx, cert_file) == 1) &&
        (step = key_file, SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) == 1) &&
        (step = "the key does not match the certificate", SSL_CTX_check_private_key(ctx) == 1)) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
        return ctx;
    }
    char reason[160];
    unsigned long e = ERR_peek_last_error();

    ERR_error_string_n(e, reason, sizeof reason);
    /* OpenSSL 3 finds a key of another certificate as it loads it. */
    if (step == key_file && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
        snprintf(why, cap, "%s: the key does not match the certificate (%s)", step, reason);
    else if (step == key_file)
        snprintf(why, cap, "%s: not a PEM private key without a passphrase (%s)", step, reason);
    else
        snprintf(why, cap, "%s: %s", step, reason);
    SSL_CTX_free(ctx);
    return NULL;
}

/* ASN1_TIME t as OpenSSL prints it ("Nov 27 12:00:00 2026 GMT"), into buf. */
static void tls_time(const ASN1_TIME *t, char *buf, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = b && ASN1_TIME_print(b, t) == 1 ? BIO_read(b, buf, (int)cap - 1) : 0;

    buf[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

bool http_tls_dates_warning(SSL_CTX *ctx, char *why, size_t cap)
{
    X509 *cert = ctx ? SSL_CTX_get0_certificate(ctx) : NULL;
    int days = 0, secs = 0;
    char when[64];

    if (!cert || ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) != 1)
        return false;
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
        tls_time(X509_get0_notBefore(cert), when, sizeof when);
        snprintf(why, cap, "the certificate is not valid before %s: clients refuse it until then",
                 when);
        return true;
    }
    tls_time(X509_get0_notAfter(cert), when, sizeof when);
    if (days < 0 || secs < 0)
        snprintf(why, cap,
                 "the certificate expired on %s: clients refuse it; renew it, then "
                 "SIGHUP posad",
                 when);
    else if (days < 30)
        snprintf(why, cap, "the certificate expires on %s: renew it, then SIGHUP posad", when);
    else
        return false;
    return true;
}

void http_server_use_tls(struct http_server *server, SSL_CTX *ctx)
{
    SSL_CTX_free(server->tls);
    server->tls = ctx;
}

static void on_listener_closed(uv_handle_t *handle)
{
    struct http_listener *l = handle->data;
    struct http_server *s = l->server;

    l->close_pending = false;
    s->handles_open--;
    server_maybe_done(s);
}

static int listener_start_tcp(struct http_server *s, struct http_listener *l)
{
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(l->host, l->port, (struct sockaddr_in *)&addr);

    if (rc < 0)
        rc = uv_ip6_addr(l->host, l->port, (struct sockaddr_in6 *)&addr);
    if (rc < 0)
        return rc;
    rc = uv_tcp_init(s->loop, &l->h.tcp);
    if (rc < 0)
        return rc;
    l->h.handle.data = l;
    s->handles_open++;
    l->active = true;
    rc = uv_tcp_bind(&l->h.tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen(&l->h.stream, SOMAXCONN, on_connection);
    if (rc == 0) {
        struct sockaddr_storage bound;
        int len = sizeof(bound);

        rc = uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&bound, &len);
        if (rc == 0)
            l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);
    }
    if (rc < 0) {
        l->active = false;
        l->close_pending = true;
        uv_close(&l->h.handle, on_listener_closed);
    }
    return rc;
}

/* Is a process listening on the socket at path? A connection says so (or a full backlog);
 * a refusal says the socket is a stale one, left by a process that died. */
static bool socket_in_use(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool in_use;

    if (fd < 0)
        return false;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    in_use = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EAGAIN;
    close(fd);
    return in_use;
}

static int unlink_stale_socket(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return UV_EEXIST;
    if (socket_in_use(path))
        return UV_EADDRINUSE; /* never take another process's socket away */
    return unlink(path) < 0 ? -errno : 0;
}

static int listener_start_unix(struct http_server *s, struct http_listener *l)
{
    int rc = unlink_stale_socket(l->path);

    if (rc < 0)
        return rc;
    rc = uv_pipe_init(s->loop, &l->h.pipe, 0);
    if (rc < 0)
        return rc;
    l->h.handle.data = l;
    s->handles_open++;
    l->active = true;
    rc = uv_pipe_bind(&l->h.pipe, l->path);
    /* No connection can arrive before listen(), so the mode is set before anyone connects. */
    if (rc == 0 && chmod(l->path, (mode_t)l->mode) < 0)
        rc = -errno;
    if (rc == 0)
        rc = uv_listen(&l->h.stream, SOMAXCONN, on_connection);
    if (rc < 0) {
        l->active = false;
        l->close_pending = true;
        uv_close(&l->h.handle, on_listener_closed);
    }
    return rc;
}

static int listener_start(struct http_server *s, struct http_listener *l)
{
    if (l->close_pending)
        return UV_EBUSY; /* its handle memory is still libuv's */
    l->server = s;
    return l->is_unix ? listener_start_unix(s, l) : listener_start_tcp(s, l);
}

int http_server_listen_tcp(struct http_server *server, const char *host, int port)
{
    struct http_listener *l;
    int rc;

    if (server->n_listeners == HTTP_LISTENERS_MAX)
        return UV_EMFILE;
    if (!host || strlen(host) >= sizeof(l->host) || port < 0 || port > 65535)
        return UV_EINVAL;
    l = &server->listeners[server->n_listeners];
    memset(l, 0, sizeof(*l));
    snprintf(l->host, sizeof(l->host), "%s", host);
    l->port = port;
    rc = listener_start(server, l);
    if (rc == 0)
        server->n_listeners++;
    return rc;
}

int http_server_listen_unix(struct http_server *server, const char *path, int mode)
{
    struct http_listener *l;
    int rc;

    if (server->n_listeners == HTTP_LISTENERS_MAX)
        return UV_EMFILE;
    if (!path || strlen(path) >= sizeof(l->path))
        return UV_ENAMETOOLONG;
    l = &server->listeners[server->n_listeners];
    memset(l, 0, sizeof(*l));
    l->is_unix = true;
    snprintf(l->path, sizeof(l->path), "%s", path);
    l->mode = mode;
    rc = listener_start(server, l);
    if (rc == 0)
        server->n_listeners++;
    return rc;
}

int http_server_tcp_port(const struct http_server *server)
{
    for (size_t i = 0; i < server->n_listeners; i++)
        if (!server->listeners[i].is_unix)
            return server->listeners[i].port;
    return -1;
}

static void listeners_stop(struct http_server *s)
{
    for (size_t i = 0; i < s->n_listeners; i++) {
        struct http_listener *l = &s->listeners[i];

        if (l->active) {
            l->active = false;
            l->close_pending = true;
            uv_close(&l->h.handle, on_listener_closed);
        }
    }
}

void http_server_drain(struct http_server *server)
{
    listeners_stop(server);
    for (struct http_conn *c = server->conns, *next; c; c = next) {
        next = c->next;
        http_conn_close_when_idle(c);
    }
}

int http_server_set_offline(struct http_server *server, bool offline)
{
    int first = 0;

    if (server->closing || server->offline == offline)
        return 0;
    server->offline = offline;
    if (offline) {
        http_server_drain(server);
        return 0;
    }
    /* Listen again on the very addresses (the port found for port 0 included). */
    for (size_t i = 0; i < server->n_listeners; i++) {
        int rc = listener_start(server, &server->listeners[i]);

        if (rc < 0 && first == 0)
            first = rc;
    }
    return first;
}

void http_server_conn_gone(struct http_server *server, struct http_conn *conn)
{
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        server->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    server->n_conns--;
    server->n_tcp_conns -= conn->is_tcp;
    server_maybe_done(server);
}

size_t http_server_connections(const struct http_server *server)
{
    return server->n_conns;
}

void http_server_close(struct http_server *server, void (*done)(void *data), void *data)
{
    if (server->closing)
        return;
    server->closing = true;
    server->done = done;
    server->done_data = data;
    listeners_stop(server);
    for (struct http_conn *c = server->conns, *next; c; c = next) {
        next = c->next;
        http_conn_close(c);
    }
    server_maybe_done(server);
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

size_t http_request_header_count(const struct http_request *req, const char *name)
{
    const struct http_req_impl *r = (const struct http_req_impl *)req;
    size_t n = 0;

    for (size_t i = 0; i < r->n_headers; i++)
        n += strcasecmp(r->names[i], name) == 0;
    return n;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    const struct http_req_impl *r = (const struct http_req_impl *)req;

    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}
