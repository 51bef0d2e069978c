/* bench_loadclient: the keep-alive HTTP/1.1 load client (libuv + http-parser) shared by
 * bench/his/bench_his.c and bench/sandbox/bench_sandbox.c. It opens N connections to a port
 * on 127.0.0.1 and has each run its benchmark's flow (requests of steps 0..n_steps-1, one in
 * flight per connection) back to back for a fixed time, counting whole flows and errors and
 * keeping the latency of each flow and of its last request. What a flow sends and how its
 * answers are read stay in the benchmark, behind struct loadclient_ops.
 *
 * Contract:
 * - One loop thread (uv_default_loop()); nothing here is thread-safe.
 * - The benchmark's client struct has struct loadclient as its FIRST member (the library
 *   allocates ops->client_size bytes, zeroed, and frees them); its extra members start at 0
 *   on each level.
 * - A flow under way when the time is up still ends: every counted flow is whole.
 * - A bad answer counts an error and starts the client over at step 0; a lost connection or
 *   a failed send counts an error and ends the client for the level.
 * - Errors are 0 or negative (-errno, which libuv codes are on Linux). */
#ifndef BENCH_LOADCLIENT_H
#define BENCH_LOADCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>
#include <uv.h>

#include "core/container_of.h"

struct loadclient;
struct loadclient_bench;

/* A benchmark's flow. The callbacks run on the loop thread. */
struct loadclient_ops {
    size_t client_size;       /* of the benchmark's client, >= sizeof(struct loadclient) */
    int n_steps;              /* requests in one flow */
    const char *content_type; /* of every request */
    /* Writes the body of step client->step with loadclient_printf() and its target into
     * path; 0 or negative (the client then counts an error and stops). */
    int (*build)(struct loadclient *client, char *path, size_t path_cap);
    /* Whether the answer (client->status, client->body) to client->step is good; takes
     * from it what the next steps need. */
    bool (*check)(struct loadclient *client);
    /* Says on stderr why client->step was refused; only for the first three errors of a
     * level, so that a broken server does not flood the output. */
    void (*report_refusal)(const struct loadclient *client);
};

struct loadclient {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } conn; /* TCP, or the Unix socket of bench->socket_path */
    uv_connect_t connect;
    uv_write_t write;
    uv_buf_t wbuf;
    http_parser parser;
    struct loadclient_bench *bench;
    unsigned index;             /* 0..n_clients-1 within its level */
    int step;                   /* in the flow; 0 starts a new one */
    unsigned flows;             /* flows started, 1 during the first: unique visit numbers */
    uint64_t t_flow, t_request; /* uv_hrtime() at the start of the flow, of the request */
    char *req;                  /* the request being built: free room for the headers, body */
    char header[96];            /* build may set one more header line ("Name: value"), or "" */
    size_t req_len, req_cap;
    char *body; /* the answer's body, always NUL-terminated ("" if none) */
    size_t body_len, body_cap;
    int status;    /* the answer's HTTP status */
    bool complete; /* the whole answer is in */
};

struct loadclient_samples {
    uint32_t *us; /* microseconds, sorted once the level is over */
    size_t n;
};

struct loadclient_bench {
    const char *name; /* prefix of the stderr lines */
    const struct loadclient_ops *ops;
    uv_loop_t *loop;
    struct sockaddr_in addr;
    const char *socket_path; /* set: clients connect here instead of addr */
    uint64_t deadline; /* uv_hrtime() after which no flow starts */
    /* The figures of the last level run: */
    uint64_t completed, errors;
    struct loadclient_samples flow, last; /* latency of whole flows, of their last request */
    double seconds;                       /* the level's length as measured */
};

/* Prints one level's figures from bench; nonzero stops the levels that follow. */
typedef int (*loadclient_report_cb)(struct loadclient_bench *bench, int n_clients);

/* Prepares bench for a server on 127.0.0.1:port, or on the Unix socket socket_path when
 * that is not NULL; ops and socket_path must outlive it. 0, or negative with nothing held. */
int loadclient_bench_init(struct loadclient_bench *bench, const char *name,
                          const struct loadclient_ops *ops, int port, const char *socket_path);
/* Frees what init took and closes the loop. */
void loadclient_bench_done(struct loadclient_bench *bench);

/* Runs n_clients clients for seconds and returns once every one of them is closed; the
 * figures are then in bench. */
void loadclient_bench_run(struct loadclient_bench *bench, unsigned n_clients, double seconds);
/* Runs one level per number of clients in levels ("1,8,64"), calling report after each.
 * Returns the first nonzero report, -ENOMEM, or 0. */
int loadclient_bench_levels(struct loadclient_bench *bench, const char *levels, double seconds,
                            loadclient_report_cb report);

/* The pct-th percentile of sorted samples, in milliseconds; 0 without any. */
double loadclient_samples_ms(const struct loadclient_samples *samples, unsigned pct);

/* Appends to the body of the request being built. 0, -EINVAL or -ENOMEM. */
int loadclient_printf(struct loadclient *client, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends the strings given to the body: for a long body of many short parts (a bill's
 * lines), where vsnprintf reading its format again for every line was a fifth of the
 * client's CPU. The parts are an array ending in NULL, built by the macro, so each is
 * type-checked as a string and there is no variadic sentinel. 0 or -ENOMEM. */
int loadclient_append_parts(struct loadclient *client, const char *const *parts);
#define loadclient_append(client, ...)                                                            \
    loadclient_append_parts((client), (const char *const[]){__VA_ARGS__, NULL})

#endif
