/* interface/platform/client.c against a real HTTP/1.1 server on loopback (posa_http) in
 * the same loop: answers, keep-alive reuse, the gateway's headers on the wire, and the
 * classification the journal depends on: refused connection = lost before; a connection
 * dropped or reset after the request arrived, or a timeout = lost after; and never a
 * second copy of a request when a reused connection dies (libcurl would resend). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/err.h"
#include "interface/http/http_server.h"
#include "interface/platform/client.h"
#include "core/bound.h"
#include "interface/platform/gateway.h"

enum mode { MODE_OK, MODE_DROP, MODE_RESET, MODE_HOLD, MODE_HOLD_ALL, MODE_500, MODE_HUGE };

#define MANY 4

struct many {
    struct platform_request req[MANY];
    char body[MANY][32];
    struct platform_result res[MANY];
    char error[MANY][96];
    int order[MANY]; /* which request finished n-th */
    int done;
};

struct fx {
    uv_loop_t loop;
    struct http_server *server;
    int port;
    struct http_server *other_host; /* the same handler on 127.0.0.2, when a test starts it */
    struct platform_client *client;
    struct gateway gw;
    enum mode mode;
    int received; /* requests the server saw */
    char last_body[256];
    char last_sig[80];
    char last_ts[32];
    char last_nonce[32];
    bool saw_expect;
    bool saw_json_type;
    struct http_request *held;
    struct http_request *held_all[MANY]; /* MODE_HOLD_ALL, in arrival order */
    char held_body[MANY][32];
    int n_held;
    struct many *many; /* the requests of the tests that send several at once */
    /* the client side */
    struct platform_request req;
    struct platform_result res;
    char res_body[256];
    int done_calls;
    bool closed;
};

static void on_request(struct http_server *server, struct http_request *req, void *data)
{
    struct fx *fx = data;
    const char *v;
    static const char ok[] = "{\"infcode\":0,\"output\":{}}";

    (void)server;
    fx->received++;
    snprintf(fx->last_body, sizeof fx->last_body, "%.*s", (int)req->body_len, req->body);
    fx->saw_expect = http_request_header(req, "expect") != NULL;
    v = http_request_header(req, "content-type");
    fx->saw_json_type = v && strcmp(v, "application/json;charset=utf-8") == 0;
    v = http_request_header(req, "x-tif-signature");
    snprintf(fx->last_sig, sizeof fx->last_sig, "%s", v ? v : "");
    v = http_request_header(req, "x-tif-timestamp");
    snprintf(fx->last_ts, sizeof fx->last_ts, "%s", v ? v : "");
    v = http_request_header(req, "x-tif-nonce");
    snprintf(fx->last_nonce, sizeof fx->last_nonce, "%s", v ? v : "");
    switch (fx->mode) {
    case MODE_OK: http_respond(req, 200, NULL, 0, ok, strlen(ok)); break;
    case MODE_500: http_respond(req, 500, NULL, 0, "oops", 4); break;
    case MODE_HUGE: { /* past the bound of a body the client reads */
        size_t n = BOUND_BODY + 4096;
        char *big = malloc(n);

        assert_non_null(big);
        memset(big, ' ', n);
        http_respond(req, 200, NULL, 0, big, n);
        free(big);
        break;
    }
    case MODE_DROP: http_request_drop(req, false); break;
    case MODE_RESET: http_request_drop(req, true); break;
    case MODE_HOLD: fx->held = req; break;
    case MODE_HOLD_ALL:
        assert_true(fx->n_held < MANY);
        snprintf(fx->held_body[fx->n_held], sizeof fx->held_body[0], "%.31s", fx->last_body);
        fx->held_all[fx->n_held++] = req;
        break;
    }
}

static void on_done(struct platform_request *req, const struct platform_result *res)
{
    struct fx *fx = req->data;

    fx->done_calls++;
    fx->res = *res;
    snprintf(fx->res_body, sizeof fx->res_body, "%.*s", (int)res->body_len,
             res->body ? res->body : "");
    fx->res.body = fx->res_body;
    uv_stop(&fx->loop);
}

static int start_client_max(struct fx *fx, int port, struct gateway *gw, long max_connections)
{
    char url[128];
    struct platform_client_config cfg = {
        .url = url, .timeout_ms = 5000, .gateway = gw, .max_connections = max_connections};

    snprintf(url, sizeof url, "http://127.0.0.1:%d/fsi/api/rsfComIfsService/callService", port);
    return platform_client_new(&fx->loop, &cfg, &fx->client);
}

static int start_client(struct fx *fx, int port, struct gateway *gw)
{
    return start_client_max(fx, port, gw, 0);
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    struct http_server_config scfg = {0};

    assert_non_null(fx);
    fx->many = calloc(1, sizeof *fx->many);
    assert_non_null(fx->many);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(http_server_new(&fx->loop, &scfg, on_request, fx, &fx->server), 0);
    assert_int_equal(http_server_listen_tcp(fx->server, "127.0.0.1", 0), 0);
    fx->port = http_server_tcp_port(fx->server);
    assert_true(fx->port > 0);
    *state = fx;
    return 0;
}

static void on_client_closed(void *data)
{
    ((struct fx *)data)->closed = true;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    if (fx->held)
        http_request_drop(fx->held, false);
    for (int i = 0; i < fx->n_held; i++)
        if (fx->held_all[i])
            http_request_drop(fx->held_all[i], false);
    if (fx->client)
        platform_client_close(fx->client, on_client_closed, fx);
    else
        fx->closed = true; /* no client started, or closed by the test (checked there) */
    http_server_close(fx->server, NULL, NULL);
    if (fx->other_host)
        http_server_close(fx->other_host, NULL, NULL);
    /* on_done's uv_stop may still be pending from the last callback: run to the end. */
    int alive = 1;
    for (int i = 0; i < 10 && alive; i++)
        alive = uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(alive, 0);
    assert_true(fx->closed);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    if (fx->gw.ops)
        gateway_done(&fx->gw);
    free(fx->many);
    free(fx);
    return 0;
}

/* Sends body and runs the loop until the answer or the failure is known. */
static void send_one(struct fx *fx, const char *body, uint32_t timeout_ms)
{
    fx->req = (struct platform_request){.infno = "2207",
                                        .body = body,
                                        .body_len = strlen(body),
                                        .timeout_ms = timeout_ms,
                                        .done = on_done,
                                        .data = fx};
    int calls = fx->done_calls;
    assert_int_equal(platform_client_send(fx->client, &fx->req), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->done_calls, calls + 1);
}

static void test_answer_and_reuse(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, fx->port, NULL), 0);
    send_one(fx, "{\"infno\":\"2207\",\"n\":1}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    assert_int_equal(fx->res.http_status, 200);
    assert_string_equal(fx->res.body, "{\"infcode\":0,\"output\":{}}");
    assert_false(fx->res.reused);
    assert_string_equal(fx->last_body, "{\"infno\":\"2207\",\"n\":1}");
    assert_false(fx->saw_expect);
    assert_true(fx->saw_json_type);
    send_one(fx, "{\"infno\":\"2207\",\"n\":2}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    assert_true(fx->res.reused); /* keep-alive */
    assert_int_equal(fx->received, 2);
    fx->mode = MODE_500;
    send_one(fx, "{}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    assert_int_equal(fx->res.http_status, 500);
}

static void test_gateway_headers_on_the_wire(void **state)
{
    struct fx *fx = *state;
    struct gateway_config gcfg = {.kind = "tif", .tif_paasid = "p", .tif_token = "tok"};
    char expect[65];

    assert_int_equal(gateway_init(&fx->gw, &gcfg), 0);
    assert_int_equal(start_client(fx, fx->port, &fx->gw), 0);
    send_one(fx, "{}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    assert_int_equal(gateway_tif_signature(fx->last_ts, "tok", fx->last_nonce, expect), 0);
    assert_string_equal(fx->last_sig, expect);
    assert_int_equal(strlen(fx->last_nonce), 16);
}

/* A port that was free a moment ago and has no listener. */
static int closed_port(struct fx *fx)
{
    uv_tcp_t probe;
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    int port;

    uv_tcp_init(&fx->loop, &probe);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&probe, (const struct sockaddr *)&addr, 0), 0);
    uv_tcp_getsockname(&probe, (struct sockaddr *)&bound, &len);
    port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_close((uv_handle_t *)&probe, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    return port;
}

static void test_refused_is_lost_before(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, closed_port(fx), NULL), 0);
    send_one(fx, "{\"infno\":\"2207\"}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_BEFORE);
    assert_int_equal(fx->res.err, -ECONNREFUSED);
    assert_non_null(fx->res.error);
}

/* A connect-only check and runs the loop until its outcome is known. */
static void check_one(struct fx *fx)
{
    fx->req = (struct platform_request){
        .infno = "check", .connect_only = true, .done = on_done, .data = fx};
    int calls = fx->done_calls;
    assert_int_equal(platform_client_send(fx->client, &fx->req), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(fx->done_calls, calls + 1);
}

static void test_check_connects_and_sends_nothing(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, fx->port, NULL), 0);
    send_one(fx, "{\"infno\":\"2207\",\"n\":1}", 0);
    check_one(fx);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    assert_int_equal(fx->res.http_status, 0);
    assert_false(fx->res.reused); /* its own connection, not the kept-alive one */
    assert_int_equal(fx->received, 1);
    /* The message's connection is still there for the next message. */
    send_one(fx, "{\"infno\":\"2207\",\"n\":2}", 0);
    assert_true(fx->res.reused);
    assert_int_equal(fx->received, 2);
}

static void test_check_of_an_unreachable_platform_is_lost_before(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, closed_port(fx), NULL), 0);
    check_one(fx);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_BEFORE);
    assert_int_equal(fx->res.err, -ECONNREFUSED);
}

static void on_pair_readable(uv_poll_t *handle, int status, int events)
{
    (void)status;
    (void)events;
    *(bool *)handle->data = true;
    uv_poll_stop(handle);
}

static void on_give_up(uv_timer_t *t)
{
    (void)t;
}

/* The client gives up a connect that never completes (a listener whose accept queue is full
 * drops the SYN): libcurl before 8.2 closes that socket without on_close_socket, and the poll
 * left on its descriptor took the events of whatever got the number next (posad's HIS
 * connections: none was answered again). A descriptor made now gets its own events. */
static void test_a_connect_given_up_leaves_no_poll(void **state)
{
    struct fx *fx = *state;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    int full = socket(AF_INET, SOCK_STREAM, 0), queued[2], pair[2];
    bool readable = false;
    uv_poll_t poll;
    uv_timer_t deadline;

    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal(bind(full, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(full, 0), 0);
    assert_int_equal(getsockname(full, (struct sockaddr *)&addr, &len), 0);
    for (int i = 0; i < 2; i++) { /* fills the queue (backlog 0 takes one, maybe two) */
        queued[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(queued[i], (struct sockaddr *)&addr, sizeof addr);
    }
    usleep(100 * 1000);
    assert_int_equal(start_client(fx, ntohs(addr.sin_port), NULL), 0);
    send_one(fx, "{\"infno\":\"2207\"}", 300);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_BEFORE);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    assert_int_equal(uv_poll_init(&fx->loop, &poll, pair[0]), 0);
    poll.data = &readable;
    assert_int_equal(uv_poll_start(&poll, UV_READABLE, on_pair_readable), 0);
    assert_int_equal(write(pair[1], "x", 1), 1);
    uv_timer_init(&fx->loop, &deadline);
    uv_timer_start(&deadline, on_give_up, 1000, 0);
    while (!readable && uv_timer_get_due_in(&deadline) > 0)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_true(readable);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_close((uv_handle_t *)&poll, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    close(pair[0]);
    close(pair[1]);
    close(queued[0]);
    close(queued[1]);
    close(full);
}

static void test_drop_and_reset_are_lost_after(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, fx->port, NULL), 0);
    fx->mode = MODE_DROP;
    send_one(fx, "{\"infno\":\"2207\",\"n\":1}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_AFTER);
    assert_int_equal(fx->received, 1);
    fx->mode = MODE_RESET;
    send_one(fx, "{\"infno\":\"2207\",\"n\":2}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_AFTER);
    assert_int_equal(fx->received, 2);
}

/* An answer past any bound is not read, and the error says so in words (curl's were
 * "Failure writing output to destination"). */
static void test_an_answer_too_large_is_named(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, fx->port, NULL), 0);
    fx->mode = MODE_HUGE;
    send_one(fx, "{\"infno\":\"2207\",\"n\":1}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_AFTER);
    assert_non_null(strstr(fx->res.error, "larger than 16 MiB"));
}

/* The case libcurl would get wrong by itself: a reused keep-alive connection dies after
 * the request arrived and before any answer; curl's retry would send it a second time. */
static void test_reused_connection_never_resends(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, fx->port, NULL), 0);
    send_one(fx, "{\"n\":1}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    fx->mode = MODE_DROP;
    send_one(fx, "{\"n\":2}", 0);
    printf("# reused connection died: %s\n", fx->res.error);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_AFTER);
    assert_int_equal(fx->received, 2); /* exactly one copy of the second request */
    /* The client carries on with a fresh connection. */
    fx->mode = MODE_OK;
    send_one(fx, "{\"n\":3}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    assert_int_equal(fx->received, 3);
}

static void test_timeout_is_lost_after(void **state)
{
    struct fx *fx = *state;
    uint64_t t0;

    assert_int_equal(start_client(fx, fx->port, NULL), 0);
    fx->mode = MODE_HOLD;
    t0 = uv_hrtime();
    send_one(fx, "{\"infno\":\"2207\"}", 200);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_AFTER);
    assert_int_equal(fx->res.err, -ETIMEDOUT);
    assert_true((uv_hrtime() - t0) / 1000000 >= 190);
    assert_true((uv_hrtime() - t0) / 1000000 < 2000);
    assert_int_equal(fx->received, 1);
}

static void count_turn(uv_check_t *check)
{
    (*(int *)check->data)++;
}

static void stop_loop(uv_timer_t *timer)
{
    uv_stop(timer->loop);
}

/* A kept-alive connection stays polled between transfers (client.c): when the platform
 * closes it while idle, the client must stop polling it, not spin on its end of file, and
 * the next message goes out on a new connection. */
static void test_idle_connection_closed_by_the_server(void **state)
{
    struct fx *fx = *state;
    struct http_server_config scfg = {.idle_timeout_ms = 30};
    uv_check_t check;
    uv_timer_t timer;
    int turns = 0;

    http_server_close(fx->server, NULL, NULL);
    assert_int_equal(http_server_new(&fx->loop, &scfg, on_request, fx, &fx->server), 0);
    assert_int_equal(http_server_listen_tcp(fx->server, "127.0.0.1", 0), 0);
    assert_int_equal(start_client(fx, http_server_tcp_port(fx->server), NULL), 0);
    send_one(fx, "{\"n\":1}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    /* 300 ms, in which the server drops the idle connection after 30. */
    uv_check_init(&fx->loop, &check);
    check.data = &turns;
    uv_check_start(&check, count_turn);
    uv_timer_init(&fx->loop, &timer);
    uv_timer_start(&timer, stop_loop, 300, 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&check, NULL);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT); /* closed before a failed assert leaves this frame */
    printf("# loop turns in 300 ms with the idle connection closed: %d\n", turns);
    assert_true(turns < 50); /* spinning on the end of file makes thousands */
    send_one(fx, "{\"n\":2}", 0);
    assert_int_equal(fx->res.outcome, PLATFORM_ANSWERED);
    assert_false(fx->res.reused);
    assert_int_equal(fx->received, 2);
}

static void test_close_with_request_in_flight(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(start_client(fx, fx->port, NULL), 0);
    fx->mode = MODE_HOLD;
    fx->req = (struct platform_request){
        .infno = "2207", .body = "{}", .body_len = 2, .done = on_done, .data = fx};
    assert_int_equal(platform_client_send(fx->client, &fx->req), 0);
    /* Run until the server holds it. */
    while (!fx->held)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_int_equal(platform_client_in_flight(fx->client), 1);
    platform_client_close(fx->client, on_client_closed, fx);
    fx->client = NULL;
    assert_int_equal(fx->done_calls, 1);
    for (int i = 0; i < 100 && !fx->closed; i++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_true(fx->closed);
    assert_int_equal(fx->res.outcome, PLATFORM_LOST_AFTER);
}

/* ---- more messages than connections ------------------------------------------------------ */

static void on_done_many(struct platform_request *req, const struct platform_result *res)
{
    struct many *m = req->data;
    int i = (int)(req - m->req);

    m->res[i] = *res;
    snprintf(m->error[i], sizeof m->error[i], "%s", res->error ? res->error : "");
    m->res[i].body = NULL;
    m->res[i].error = m->error[i];
    m->order[m->done++] = i;
}

/* Sends request i of m (kept in fx, on the heap: teardown may end it after a failed assert),
 * with timeout_ms, to url (NULL: the client's). */
static void send_nth(struct fx *fx, int i, uint32_t timeout_ms, const char *url)
{
    struct many *m = fx->many;

    snprintf(m->body[i], sizeof m->body[i], "{\"n\":%d}", i);
    m->req[i] = (struct platform_request){.infno = "2207",
                                          .body = m->body[i],
                                          .body_len = strlen(m->body[i]),
                                          .timeout_ms = timeout_ms,
                                          .url = url,
                                          .done = on_done_many,
                                          .data = m};
    assert_int_equal(platform_client_send(fx->client, &m->req[i]), 0);
}

static void on_deadline(uv_timer_t *timer)
{
    *(bool *)timer->data = true;
    uv_stop(timer->loop);
}

/* Runs the loop until *count reaches n or 5 s pass; a test that waits for what never comes
 * fails here instead of hanging. */
static void run_until(struct fx *fx, const int *count, int n)
{
    uv_timer_t deadline;
    bool late = false;

    uv_timer_init(&fx->loop, &deadline);
    deadline.data = &late;
    uv_timer_start(&deadline, on_deadline, 5000, 0);
    while (*count < n && !late)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(*count, n);
}

static void answer_held(struct fx *fx, int i)
{
    static const char ok[] = "{\"infcode\":0,\"output\":{}}";

    http_respond(fx->held_all[i], 200, NULL, 0, ok, strlen(ok));
    fx->held_all[i] = NULL;
}

/* With max_connections 2, four messages: two go out, two wait in the client, and each goes
 * out, in the order sent, as an answer frees a connection. */
static void test_beyond_max_connections_messages_wait_in_order(void **state)
{
    struct fx *fx = *state;
    struct many *m = fx->many;

    assert_int_equal(start_client_max(fx, fx->port, NULL, 2), 0);
    fx->mode = MODE_HOLD_ALL;
    for (int i = 0; i < MANY; i++)
        send_nth(fx, i, 0, NULL);
    assert_int_equal(platform_client_in_flight(fx->client), MANY);
    run_until(fx, &fx->n_held, 2);
    for (int i = 0; i < 20; i++) /* a third would have arrived by now */
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(fx->received, 2);
    assert_string_equal(fx->held_body[0], "{\"n\":0}");
    assert_string_equal(fx->held_body[1], "{\"n\":1}");
    answer_held(fx, 1);
    run_until(fx, &fx->n_held, 3);
    assert_string_equal(fx->held_body[2], "{\"n\":2}");
    answer_held(fx, 0);
    run_until(fx, &fx->n_held, 4);
    assert_string_equal(fx->held_body[3], "{\"n\":3}");
    answer_held(fx, 2);
    answer_held(fx, 3);
    run_until(fx, &m->done, MANY);
    assert_int_equal(m->order[0], 1);
    assert_int_equal(m->order[1], 0);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(m->res[i].outcome, PLATFORM_ANSWERED);
        assert_int_equal(m->res[i].http_status, 200);
    }
    assert_int_equal(platform_client_in_flight(fx->client), 0);
    assert_int_equal(fx->received, MANY);
}

/* A message's time runs from when it was sent to the client, waiting included: one that
 * waits past its timeout ends then, as never sent (lost before, so never in doubt), without
 * waiting for a connection to come free. */
static void test_waiting_counts_against_the_timeout(void **state)
{
    struct fx *fx = *state;
    struct many *m = fx->many;
    uint64_t sent_at;

    assert_int_equal(start_client_max(fx, fx->port, NULL, 1), 0);
    fx->mode = MODE_HOLD_ALL;
    send_nth(fx, 0, 5000, NULL);
    send_nth(fx, 1, 100, NULL);
    sent_at = uv_now(&fx->loop); /* the client's clock, which its deadline is counted on */
    run_until(fx, &fx->n_held, 1);
    run_until(fx, &m->done, 1);
    assert_int_equal(m->order[0], 1);
    assert_int_equal(m->res[1].outcome, PLATFORM_LOST_BEFORE);
    assert_int_equal(m->res[1].err, -ETIMEDOUT);
    assert_non_null(strstr(m->error[1], "for a connection"));
    assert_true(uv_now(&fx->loop) - sent_at >= 100);
    answer_held(fx, 0); /* the first was not held up by the second's end */
    run_until(fx, &m->done, 2);
    assert_int_equal(m->res[0].outcome, PLATFORM_ANSWERED);
    assert_int_equal(fx->received, 1); /* the second never went out */
}

/* A message to a URL of its own (the e-voucher service, on another host) neither waits behind
 * the service's messages nor takes one of their connections. */
static void test_message_to_another_url_does_not_wait(void **state)
{
    struct fx *fx = *state;
    struct http_server_config scfg = {0};
    char url[128];

    assert_int_equal(http_server_new(&fx->loop, &scfg, on_request, fx, &fx->other_host), 0);
    assert_int_equal(http_server_listen_tcp(fx->other_host, "127.0.0.2", 0), 0);
    snprintf(url, sizeof url, "http://127.0.0.2:%d/ec/query", http_server_tcp_port(fx->other_host));
    assert_int_equal(start_client_max(fx, fx->port, NULL, 1), 0);
    fx->mode = MODE_HOLD_ALL;
    send_nth(fx, 0, 0, NULL);
    send_nth(fx, 1, 0, NULL); /* waits */
    send_nth(fx, 2, 0, url);  /* does not */
    run_until(fx, &fx->n_held, 2);
    assert_string_equal(fx->held_body[1], "{\"n\":2}");
    answer_held(fx, 1);
    run_until(fx, &fx->many->done, 1);
    assert_int_equal(fx->received, 2); /* its end freed nothing for the waiting one */
    answer_held(fx, 0);
    run_until(fx, &fx->n_held, 3);
    assert_string_equal(fx->held_body[2], "{\"n\":1}");
}

/* Closing ends what waits as never sent, and what is out as in doubt. */
static void test_close_with_messages_waiting(void **state)
{
    struct fx *fx = *state;
    struct many *m = fx->many;

    assert_int_equal(start_client_max(fx, fx->port, NULL, 1), 0);
    fx->mode = MODE_HOLD_ALL;
    for (int i = 0; i < 3; i++)
        send_nth(fx, i, 0, NULL);
    run_until(fx, &fx->n_held, 1);
    platform_client_close(fx->client, on_client_closed, fx);
    fx->client = NULL;
    assert_int_equal(m->done, 3);
    assert_int_equal(m->res[0].outcome, PLATFORM_LOST_AFTER);
    assert_int_equal(m->res[1].outcome, PLATFORM_LOST_BEFORE);
    assert_int_equal(m->res[2].outcome, PLATFORM_LOST_BEFORE);
    for (int i = 0; i < 100 && !fx->closed; i++)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_true(fx->closed);
    assert_int_equal(fx->received, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answer_and_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gateway_headers_on_the_wire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_is_lost_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_connects_and_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_of_an_unreachable_platform_is_lost_before, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_drop_and_reset_are_lost_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_connect_given_up_leaves_no_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_answer_too_large_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_connection_never_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_is_lost_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_request_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beyond_max_connections_messages_wait_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_waiting_counts_against_the_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_to_another_url_does_not_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_messages_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_closed_by_the_server, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
