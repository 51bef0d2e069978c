/* libcurl multi_socket on libuv (curl's docs/examples/multi-uv.c), with the gateway's seal
 * per attempt and the before/after classification of failures the journal relies on. */
#include "interface/platform/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "core/bound.h"
#include "core/container_of.h"
#include "core/err.h"

_Static_assert(BOUND_BODY == 16u << 20, "PLATFORM_ANSWER_TOO_BIG says 16 MiB");

/* A socket curl watches. A connection's socket (opened by on_open_socket) that carried a
 * whole transfer keeps its poll from then to its close: curl's REMOVE at the end of each
 * transfer only marks it unwanted, and the next transfer on the kept-alive connection finds it
 * again, so that a message costs no epoll_ctl at all (a poll stopped and started again costs
 * three, and a new poll handle three more). Until then REMOVE stops its poll: libcurl before
 * 8.2 closes a socket whose connect it gave up (a timeout, the loser of happy eyeballs)
 * without on_close_socket (curl PR #11439), and a poll left on the closed descriptor took the
 * events of whatever got its number next (an HIS connection: posad answered no one). Any
 * other socket curl hands us (the resolver's) lives from its first watch to REMOVE. */
struct client_socket {
    uv_poll_t poll;
    curl_socket_t fd;
    int events;     /* what the poll watches now (0: stopped) */
    bool wanted;    /* curl watches it (between a watch and its REMOVE) */
    bool connection; /* opened by on_open_socket: closed by on_close_socket */
    bool proven;     /* ... and carried a whole transfer: curl closes it through that */
    struct platform_client *client;
    struct client_socket *prev, *next;
};

struct platform_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;      /* curl's */
    uv_timer_t wait_timer; /* the earliest deadline of a waiting request */
    char *url;
    char *ca_file;
    char *cert_file;
    char *key_file;
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;
    struct gateway *gateway;
    struct platform_request *in_flight; /* list head: every request not yet done */
    int n_in_flight;
    /* At most max_active requests to the service URL are in curl's multi; the rest wait
     * here, in order. curl would keep them pending itself, but each time a connection came
     * free it ran every pending one's connect phase again (its URL parsed anew): at 64 HIS
     * clients on 16 connections, curl's share of a settlement went from 608 K instructions to
     * 369 K. A request to a URL of its own (the e-voucher service: another host) neither
     * counts nor waits; curl's per-host limit keeps it. */
    long max_active;
    int n_active;
    struct platform_request *wait_head, *wait_tail;
    struct client_socket *sockets; /* list head */
    int open_handles;              /* timers + sockets not yet closed */
    bool closing;
    void (*closed)(void *data);
    void *closed_data;
};

static uint64_t client_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_handle_closed(uv_handle_t *handle);

static void client_maybe_done(struct platform_client *c)
{
    if (!c->closing || c->open_handles > 0)
        return;
    void (*closed)(void *) = c->closed;
    void *data = c->closed_data;
    free(c->url);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c);
    if (closed)
        closed(data);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct platform_client *c = handle->data;

    if (handle != (uv_handle_t *)&c->timer && handle != (uv_handle_t *)&c->wait_timer)
        free(container_of((uv_poll_t *)handle, struct client_socket, poll));
    c->open_handles--;
    client_maybe_done(c);
}

static struct client_socket *socket_find(struct platform_client *c, curl_socket_t fd)
{
    struct client_socket *s = c->sockets;

    while (s && s->fd != fd)
        s = s->next;
    return s;
}

static struct client_socket *socket_new(struct platform_client *c, curl_socket_t fd)
{
    struct client_socket *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->fd = fd;
    s->client = c;
    if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
        free(s);
        return NULL;
    }
    s->poll.data = c;
    c->open_handles++;
    s->next = c->sockets;
    if (s->next)
        s->next->prev = s;
    c->sockets = s;
    return s;
}

static void socket_close(struct client_socket *s)
{
    struct platform_client *c = s->client;

    if (s->prev)
        s->prev->next = s->next;
    else
        c->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
    /* Closing a poll takes its number out of the loop's epoll set. One curl closed behind
     * our back (stopped at REMOVE while it was still ours) is closed when curl opens a socket
     * on that number again (on_open_socket), or with the client, when posad stops, after the
     * HIS connections and scanners (main.c): no descriptor of the loop's own can have its
     * number then, and taking an unwatched number out of the set changes nothing. */
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

/* --- request lifecycle --- */

static void request_unlink(struct platform_request *req)
{
    struct platform_client *c = req->client;

    if (req->prev)
        req->prev->next = req->next;
    else
        c->in_flight = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    c->n_in_flight--;
}

static void request_cleanup(struct platform_request *req)
{
    curl_slist_free_all(req->headers);
    req->headers = NULL;
    gateway_sealed_done(&req->sealed);
    free(req->resp);
    req->resp = NULL;
    req->resp_len = req->resp_cap = 0;
}

/* Hands the outcome to the owner. easy is already out of the multi. */
static void request_finish(struct platform_request *req, CURLcode rc)
{
    struct platform_client *c = req->client;
    struct platform_result res = {0};
    char *opened = NULL;
    size_t opened_len = 0;
    long status = 0;

    long connects = 0;

    res.elapsed_ms = (uint32_t)(uv_now(c->loop) - req->started);
    curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &connects);
    res.reused = connects == 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        res.outcome = PLATFORM_ANSWERED;
        res.http_status = status;
        res.body = req->resp ? req->resp : "";
        res.body_len = req->resp_len;
        if (c->gateway && status == 200) {
            res.err = gateway_open(c->gateway, res.body, res.body_len, &opened, &opened_len);
            if (opened) {
                res.body = opened;
                res.body_len = opened_len;
            }
        }
    } else {
        /* The platform cannot have acted on a request whose body never left. */
        res.outcome = req->send_off == 0 ? PLATFORM_LOST_BEFORE : PLATFORM_LOST_AFTER;
        res.err = rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                  : rc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
                                                 : -EIO;
        if (req->resp_too_big) /* curl says "Failure writing output to destination" */
            snprintf(req->errbuf, sizeof req->errbuf, "%s", PLATFORM_ANSWER_TOO_BIG);
        else if (rc == CURLE_SEND_FAIL_REWIND) /* curl: "seek callback returned error 2" */
            snprintf(req->errbuf, sizeof req->errbuf,
                     "the connection closed after the request was sent, with no answer: not "
                     "sent again");
        res.error = req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc);
    }
    curl_easy_cleanup(req->easy);
    req->easy = NULL;
    request_unlink(req);
    req->done(req, &res);
    free(opened);
    /* req may be gone (or reused) now: only our own copies are freed above and below. */
}

/* Whether req counts against max_active and waits its turn: a message to the service URL
 * (a check takes no connection a message could reuse). */
static bool shares_limit(const struct platform_request *req)
{
    return req->url == NULL && !req->connect_only;
}

/* Ends req with rc, taking it out of curl's multi when it is in there. */
static void request_end(struct platform_request *req, CURLcode rc, bool in_multi)
{
    struct platform_client *c = req->client;
    /* request_finish calls done, which may reuse req: free what we own first. */
    char *resp = req->resp;

    if (in_multi) {
        curl_socket_t fd = CURL_SOCKET_BAD;
        struct client_socket *s;

        /* A transfer done whole on a connection: curl holds that socket as the connection's,
         * and closes it through on_close_socket. */
        if (rc == CURLE_OK &&
            curl_easy_getinfo(req->easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
            fd != CURL_SOCKET_BAD && (s = socket_find(c, fd)) && s->connection)
            s->proven = true;
        curl_multi_remove_handle(c->multi, req->easy);
        c->n_active -= shares_limit(req);
    }
    curl_slist_free_all(req->headers);
    req->headers = NULL;
    gateway_sealed_done(&req->sealed);
    request_finish(req, rc);
    free(resp);
}

static uint64_t request_limit_ms(const struct platform_client *c,
                                 const struct platform_request *req)
{
    return req->timeout_ms ? req->timeout_ms : c->timeout_ms;
}

/* Whether req's time ran out before it could start (then says so in its errbuf). */
static bool wait_expired(struct platform_client *c, struct platform_request *req)
{
    uint64_t waited = uv_now(c->loop) - req->started;

    if (waited < request_limit_ms(c, req))
        return false;
    snprintf(req->errbuf, sizeof req->errbuf, "waited %" PRIu64 " ms for a connection", waited);
    return true;
}

/* Hands req to curl with what is left of its time (waiting counts), or says why not. */
static CURLcode request_start(struct platform_client *c, struct platform_request *req)
{
    if (wait_expired(c, req))
        return CURLE_OPERATION_TIMEDOUT;
    curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS,
                     (long)(request_limit_ms(c, req) - (uv_now(c->loop) - req->started)));
    if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    c->n_active += shares_limit(req);
    return CURLE_OK;
}

/* Takes req out of the waiting list; prev is the one before it (NULL: it is the head). */
static void wait_unlink(struct platform_client *c, struct platform_request *prev,
                        struct platform_request *req)
{
    if (prev)
        prev->wait_next = req->wait_next;
    else
        c->wait_head = req->wait_next;
    if (c->wait_tail == req)
        c->wait_tail = prev;
    req->wait_next = NULL;
}

static struct platform_request *wait_pop(struct platform_client *c)
{
    struct platform_request *req = c->wait_head;

    wait_unlink(c, NULL, req);
    return req;
}

static void on_wait_timeout(uv_timer_t *handle);

/* The wait timer fires at the earliest deadline among the waiting requests. Armed from
 * on_wait_timeout, every deadline left is ahead (that one ended the others): a zero timeout
 * started inside a timer's callback would have libuv run it again and again in one turn. */
static void wait_timer_arm(struct platform_client *c)
{
    uint64_t now = uv_now(c->loop), first = UINT64_MAX;

    for (struct platform_request *r = c->wait_head; r; r = r->wait_next) {
        uint64_t deadline = r->started + request_limit_ms(c, r);

        if (deadline < first)
            first = deadline;
    }
    if (first == UINT64_MAX)
        uv_timer_stop(&c->wait_timer);
    else
        uv_timer_start(&c->wait_timer, on_wait_timeout, first > now ? first - now : 0, 0);
}

/* Moves waiting requests into curl while connections are free. A request ended here never
 * left: its owner hears LOST_BEFORE. */
static void start_waiting(struct platform_client *c)
{
    bool moved = false; /* the deadlines changed only if a request left the list */

    while (c->wait_head && c->n_active < c->max_active && !c->closing) {
        struct platform_request *req = wait_pop(c);
        CURLcode rc = request_start(c, req);

        moved = true;
        if (rc != CURLE_OK)
            request_end(req, rc, false);
    }
    if (moved && !c->closing)
        wait_timer_arm(c);
}

/* Ends the waiting requests whose time is up, wherever they are in the list: each ending
 * may send or close (its owner's done runs), so the list is searched again after each. */
static void on_wait_timeout(uv_timer_t *handle)
{
    struct platform_client *c = handle->data;
    bool again = true;

    while (again && !c->closing) {
        struct platform_request *prev = NULL, *r = c->wait_head;

        while (r && !wait_expired(c, r)) {
            prev = r;
            r = r->wait_next;
        }
        again = r != NULL;
        if (r) {
            wait_unlink(c, prev, r);
            request_end(r, CURLE_OPERATION_TIMEDOUT, false);
        }
    }
    if (!c->closing)
        wait_timer_arm(c);
}

static void client_check_done(struct platform_client *c)
{
    CURLMsg *msg;
    int pending;

    while ((msg = curl_multi_info_read(c->multi, &pending))) {
        struct platform_request *req = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        request_end(req, rc, true);
    }
    start_waiting(c);
}

/* --- curl <-> libuv glue --- */

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct client_socket *s = container_of(handle, struct client_socket, poll);
    struct platform_client *c = s->client;
    int flags = 0, running;

    if (!s->wanted) { /* an idle kept-alive connection stirred (the peer closed it) */
        uv_poll_stop(&s->poll);
        s->events = 0;
        return; /* curl finds it dead when it next takes it from its cache */
    }
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
        s->events = 0; /* libuv stopped the poll: a later watch must start it again */
    }
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    client_check_done(c);
}

static void on_timeout(uv_timer_t *handle)
{
    struct platform_client *c = handle->data;
    int running;

    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    client_check_done(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct platform_client *c = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    struct platform_client *c = userp;
    /* Found by its descriptor, never by curl's socketp: a connection closed in on_close_socket
     * may still be curl's socketp for a moment, and its descriptor a new connection's. */
    struct client_socket *s = socket_find(c, fd);
    int events = 0;

    (void)easy;
    (void)socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s && s->connection && s->proven) {
            s->wanted = false; /* still polled: the next transfer may want the same */
        } else if (s && s->connection) {
            uv_poll_stop(&s->poll); /* while the descriptor is surely still its own */
            s->events = 0;
            s->wanted = false;
        } else if (s) {
            socket_close(s);
        }
        return 0;
    }
    if (!s && !(s = socket_new(c, fd)))
        return -1;
    s->wanted = true;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    if (events != s->events && uv_poll_start(&s->poll, events, on_poll) == 0)
        s->events = events;
    return 0;
}

/* curl's connections: their sockets are opened and closed here, so that a poll can outlive
 * the transfers on one connection and still end before its descriptor is closed. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    struct platform_client *c = clientp;
    curl_socket_t fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    struct client_socket *s;

    if (fd == CURL_SOCKET_BAD || purpose != CURLSOCKTYPE_IPCXN)
        return fd;
    /* One left on this number was closed by curl without on_close_socket (its poll stopped
     * at REMOVE): the number is this new socket's now. */
    if ((s = socket_find(c, fd)))
        socket_close(s);
    if (!(s = socket_new(c, fd))) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    s->connection = true;
    return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd)
{
    struct client_socket *s = socket_find(clientp, fd);

    if (s)
        socket_close(s); /* the poll ends before the descriptor does */
    return close(fd);
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userp)
{
    struct platform_request *req = userp;
    size_t n = size * nitems, left = req->send_len - req->send_off;

    if (n > left)
        n = left;
    memcpy(buf, req->send + req->send_off, n);
    req->send_off += n;
    return n;
}

/* A rewind before any byte left is harmless (curl retrying a dead reused connection
 * before sending); after, it would be a second send of a message that may have landed. */
static int on_seek(void *userp, curl_off_t offset, int origin)
{
    struct platform_request *req = userp;

    if (offset != 0 || origin != SEEK_SET || req->send_off != 0)
        return CURL_SEEKFUNC_CANTSEEK;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct platform_request *req = userp;
    size_t n = size * nmemb;

    if (req->resp_len + n + 1 > req->resp_cap) {
        size_t cap = req->resp_cap ? req->resp_cap : 4096;
        char *p;

        while (cap < req->resp_len + n + 1)
            cap *= 2;
        if (cap > BOUND_BODY + 1) {
            req->resp_too_big = true;
            return 0; /* an answer beyond any bound: abort (CURLE_WRITE_ERROR) */
        }
        p = realloc(req->resp, cap);
        if (!p)
            return 0;
        req->resp = p;
        req->resp_cap = cap;
    }
    memcpy(req->resp + req->resp_len, ptr, n);
    req->resp_len += n;
    req->resp[req->resp_len] = '\0';
    return n;
}

/* --- public --- */

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int platform_client_new(uv_loop_t *loop, const struct platform_client_config *config,
                        struct platform_client **ret)
{
    struct platform_client *c;

    if (!config->url || !*config->url)
        return POSA_EFIELD;
    c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->loop = loop;
    c->url = strdup(config->url);
    c->ca_file = dup_or_null(config->ca_file);
    c->cert_file = dup_or_null(config->cert_file);
    c->key_file = dup_or_null(config->key_file);
    c->connect_timeout_ms = config->connect_timeout_ms ? config->connect_timeout_ms : 3000;
    c->timeout_ms = config->timeout_ms ? config->timeout_ms : 30000;
    c->gateway = config->gateway;
    c->multi = curl_multi_init();
    if (!c->url || !c->multi) {
        curl_multi_cleanup(c->multi);
        free(c->url);
        free(c->ca_file);
        free(c->cert_file);
        free(c->key_file);
        free(c);
        return -ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    c->max_active = config->max_connections > 0 ? config->max_connections : 16L;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_active);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->max_active);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_init(loop, &c->wait_timer);
    c->wait_timer.data = c;
    c->open_handles = 2;
    *ret = c;
    return 0;
}

static int request_headers(struct platform_request *req)
{
    struct curl_slist *h = NULL, *t;
    static const char *const fixed[] = {
        "Content-Type: application/json;charset=utf-8",
        "Expect:", /* no 100-continue stall on large bodies */
    };

    for (size_t i = 0; i < 2; i++) {
        t = curl_slist_append(h, fixed[i]);
        if (!t)
            goto fail;
        h = t;
    }
    for (int i = 0; i < req->sealed.n_headers; i++) {
        t = curl_slist_append(h, req->sealed.headers[i]);
        if (!t)
            goto fail;
        h = t;
    }
    req->headers = h;
    return 0;
fail:
    curl_slist_free_all(h);
    return -ENOMEM;
}

static int request_seal(struct platform_client *c, struct platform_request *req)
{
    struct gateway_msg msg = {.infno = req->infno,
                              .body = req->body,
                              .body_len = req->body_len,
                              .now_ms = (int64_t)client_wall_ms()};
    int err;

    memset(&req->sealed, 0, sizeof req->sealed);
    req->send = req->body;
    req->send_len = req->body_len;
    /* A gateway seals the platform's transactions (an infno, an SM envelope around input);
     * a service of its own URL (the e-voucher decode, national-interface.md §5) has its own
     * format, which the SM envelope refused and the CSB's api name misnamed. */
    if (!c->gateway || req->connect_only || req->url)
        return 0;
    if (c->gateway->ops->nonce && RAND_bytes((unsigned char *)&msg.random, sizeof msg.random) != 1)
        return POSA_ECRYPTO;
    err = gateway_seal(c->gateway, &msg, &req->sealed);
    if (err)
        return err;
    if (req->sealed.body) {
        req->send = req->sealed.body;
        req->send_len = req->sealed.body_len;
    }
    return 0;
}

static void request_setopt(struct platform_client *c, struct platform_request *req, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_URL, req->url ? req->url : c->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    /* curl neither reuses a connection for a connect-only transfer nor keeps its own. */
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, req->connect_only ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->send_len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, req);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, req);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
}

int platform_client_send(struct platform_client *c, struct platform_request *req)
{
    CURL *e;
    int err;

    if (c->closing)
        return -ECANCELED;
    if (req->connect_only) {
        req->body = "";
        req->body_len = 0;
    }
    if (!req->body || req->body_len > BOUND_BODY || !req->done)
        return POSA_EFIELD;
    req->client = c;
    req->send_off = 0;
    req->resp = NULL;
    req->resp_len = req->resp_cap = 0;
    req->resp_too_big = false;
    req->headers = NULL;
    req->errbuf[0] = '\0';
    err = request_seal(c, req);
    if (!err)
        err = request_headers(req);
    e = err ? NULL : curl_easy_init();
    if (!err && !e)
        err = -ENOMEM;
    if (err)
        goto fail;
    req->easy = e;
    request_setopt(c, req, e);
    req->started = uv_now(c->loop);
    req->prev = NULL;
    req->next = c->in_flight;
    if (req->next)
        req->next->prev = req;
    c->in_flight = req;
    c->n_in_flight++;
    req->wait_next = NULL;
    if (shares_limit(req) && (c->wait_head || c->n_active >= c->max_active)) { /* in turn */
        if (c->wait_tail)
            c->wait_tail->wait_next = req;
        else
            c->wait_head = req;
        c->wait_tail = req;
        wait_timer_arm(c);
        return 0;
    }
    if (request_start(c, req) != CURLE_OK) {
        request_unlink(req);
        curl_easy_cleanup(e);
        req->easy = NULL;
        err = -ENOMEM;
        goto fail;
    }
    return 0;
fail:
    request_cleanup(req);
    return err;
}

int platform_client_in_flight(const struct platform_client *c)
{
    return c->n_in_flight;
}

void platform_client_close(struct platform_client *c, void (*closed)(void *data), void *data)
{
    c->closing = true;
    c->closed = closed;
    c->closed_data = data;
    while (c->wait_head || c->in_flight) {
        bool waiting = c->wait_head != NULL;
        struct platform_request *req = waiting ? wait_pop(c) : c->in_flight;

        snprintf(req->errbuf, sizeof req->errbuf, "client closed");
        request_end(req, CURLE_ABORTED_BY_CALLBACK, !waiting);
    }
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->sockets)
        socket_close(c->sockets);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_timer_stop(&c->wait_timer);
    uv_close((uv_handle_t *)&c->wait_timer, on_handle_closed);
}
