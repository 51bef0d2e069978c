/* The upstream client: national-interface requests POSTed to the provincial platform with
 * libcurl's multi_socket interface driven by libuv (uv_poll per socket, one uv_timer), as
 * in curl's docs/examples/multi-uv.c. Connections are reused (keep-alive), TLS uses the
 * configured CA file and optional client certificate, every transaction has a timeout,
 * the gateway seals each attempt, and bodies go with an empty "Expect:" header (libcurl
 * would otherwise stall on 100-continue for large bodies).
 *
 * The one fact the journal needs from a failure: did the request leave? libcurl silently
 * resends a request whose reused connection died before any answer; for a settlement that
 * could be a second settlement. So the body goes through a read callback whose rewind is
 * refused once any byte was handed over, and a failure is PLATFORM_LOST_BEFORE only when
 * no byte of the body ever was (the platform cannot have acted on a request it never got
 * whole); otherwise PLATFORM_LOST_AFTER.
 *
 * A connect_only request checks that the platform can be reached without sending it
 * anything (upstream's check while nothing else goes).
 *
 * Loop thread only. Requests are embedded by their owner and borrowed until done runs. */
#ifndef POSA_PLATFORM_CLIENT_H
#define POSA_PLATFORM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "interface/platform/gateway.h"

/* A lost outcome's words when the answer went past BOUND_BODY (16 MiB): the same message
 * would be answered so again (resolve.c parks its resend instead of sending it forever). */
#define PLATFORM_ANSWER_TOO_BIG "the platform's answer is larger than 16 MiB: not read"

struct platform_client;

struct platform_client_config {
    const char *url;             /* the full service URL */
    const char *ca_file;         /* NULL: the system's CAs */
    const char *cert_file;       /* client certificate (PEM), optional */
    const char *key_file;        /* its key, optional */
    uint32_t connect_timeout_ms; /* 0 = 3000 */
    uint32_t timeout_ms;         /* whole transaction, 0 = 30000; per request overridable */
    long max_connections;        /* to the platform, 0 = 16 */
    struct gateway *gateway;     /* borrowed for the client's life; NULL = none */
};

enum platform_outcome {
    PLATFORM_ANSWERED,    /* an HTTP answer came back (any status) */
    PLATFORM_LOST_BEFORE, /* no byte of the body left: safe to send again */
    PLATFORM_LOST_AFTER,  /* it may have landed: never resend, resolve */
};

struct platform_result {
    enum platform_outcome outcome;
    long http_status; /* when answered */
    const char *body; /* the answer (opened by the gateway), valid during the callback */
    size_t body_len;
    int err;           /* 0 when answered; else a posa or -errno code */
    const char *error; /* words for the log: curl's message */
    uint32_t elapsed_ms;
    bool reused; /* went over a connection already open (no new connect) */
};

struct platform_request;
typedef void (*platform_request_cb)(struct platform_request *req,
                                    const struct platform_result *result);

struct platform_request {
    const char *infno;
    const char *body; /* the envelope; borrowed until done */
    size_t body_len;
    uint32_t timeout_ms; /* 0 = the client's */
    const char *url;     /* NULL = the client's service URL (the e-voucher service has its own) */
    /* A reachability check: a new connection (TCP, and TLS with the client certificate) that
     * is closed once made; nothing is sent, so the platform cannot act on it. body may be
     * NULL. ANSWERED (http_status 0) when the connection was made, LOST_BEFORE when not. */
    bool connect_only;
    platform_request_cb done;
    void *data;
    /* private */
    struct platform_client *client;
    void *easy;
    struct curl_slist *headers;
    struct gateway_sealed sealed;
    const char *send;
    size_t send_len;
    size_t send_off;
    char *resp;
    size_t resp_len;
    size_t resp_cap;
    bool resp_too_big; /* the answer went past BOUND_BODY: abandoned */
    uint64_t started;
    struct platform_request *prev, *next; /* in flight */
    struct platform_request *wait_next;   /* waiting for a connection (client.c) */
    char errbuf[256];
};

int platform_client_new(uv_loop_t *loop, const struct platform_client_config *config,
                        struct platform_client **ret);

/* Starts req. On error (nothing started) done will not run. */
int platform_client_send(struct platform_client *client, struct platform_request *req);

/* Number of requests in flight, counting those waiting for a connection. */
int platform_client_in_flight(const struct platform_client *client);

/* Aborts what is in flight (each done runs with a LOST_* outcome), closes every handle and
 * frees the client; closed(data) runs once all is closed. */
void platform_client_close(struct platform_client *client, void (*closed)(void *data), void *data);

#endif
