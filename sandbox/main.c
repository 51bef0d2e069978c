/* posa-sandbox: the provincial platform on one machine (sandbox.md). Parses the command line,
 * loads the scenario, opens the ledger, serves HTTP on the loop until SIGTERM/SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/bound.h"
#include "core/datetime.h"
#include "core/err.h"
#include "sandbox/sandbox.h"

#define SERVICE_PATH  "/fsi/api/rsfComIfsService/callService"
#define EVOUCHER_PATH "/localcfc/api/hsecfc/localQrCodeQuery"
#define ADMIN_PREFIX  "/sandbox/"

struct options {
    const char *scenario;
    const char *listen;
    const char *data_dir;
    const char *checkpoint_pages;
};

static struct sandbox sb;
static uv_signal_t sig_term, sig_int;

int64_t sandbox_now(const struct sandbox *s)
{
    return s->clock ? s->clock : datetime_of_unix((int64_t)time(NULL));
}

static void on_request(struct http_server *server, struct http_request *req, void *data)
{
    struct sandbox *s = data;

    (void)server;
    if (strcmp(req->path, SERVICE_PATH) == 0) {
        service_handle(s, req);
    } else if (strcmp(req->path, EVOUCHER_PATH) == 0) {
        evoucher_handle(s, req);
    } else if (strncmp(req->path, ADMIN_PREFIX, strlen(ADMIN_PREFIX)) == 0) {
        admin_handle(s, req);
    } else {
        static const struct http_header h[] = {{"Content-Type", "application/json"}};
        static const char body[] = "{\"error\":\"no such path\"}";

        http_respond(req, 404, h, 1, body, sizeof(body) - 1);
    }
}

/* The HTTP layer's own refusals (oversized, malformed) in the platform's shape. */
static size_t error_body(int status, const char *reason, void *data, char *buf, size_t cap,
                         const char **ret_type)
{
    (void)data;
    const char *why = status == 413   ? "the request body is larger than 16 MiB"
                      : status == 431 ? "the request headers are too large"
                      : reason        ? reason
                                      : "the request is not valid HTTP";
    int n = snprintf(buf, cap, "{\"infcode\":-1,\"err_msg\":\"%s\",\"output\":null}", why);

    *ret_type = "application/json;charset=utf-8";
    return n < 0 ? 0 : (size_t)n;
}

static void usage(void)
{
    fprintf(stderr, "usage: posa-sandbox --scenario FILE --listen HOST:PORT --data-dir DIR"
                    " [--checkpoint-pages N]\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;

        if (strcmp(argv[i], "--scenario") == 0)
            slot = &o->scenario;
        else if (strcmp(argv[i], "--listen") == 0)
            slot = &o->listen;
        else if (strcmp(argv[i], "--data-dir") == 0)
            slot = &o->data_dir;
        else if (strcmp(argv[i], "--checkpoint-pages") == 0)
            slot = &o->checkpoint_pages;
        if (!slot || i + 1 == argc)
            return -1;
        *slot = argv[++i];
    }
    return o->scenario && o->listen && o->data_dir ? 0 : -1;
}

/* A page count of 1 to 1000000. */
static int parse_pages(const char *text, int *ret)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(text, &end, 10);
    if (errno || end == text || *end || n < 1 || n > 1000000)
        return -1;
    *ret = (int)n;
    return 0;
}

/* "127.0.0.1:8080" or "[::1]:8080" into host and port. */
static int parse_listen(const char *text, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t len;
    char *end;
    long p;

    if (!colon)
        return -1;
    len = (size_t)(colon - text);
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        h = text + 1;
        len -= 2;
    }
    if (len == 0 || len >= cap)
        return -1;
    memcpy(host, h, len);
    host[len] = '\0';
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_http_closed(void *data)
{
    (void)data;
    uv_close((uv_handle_t *)&sig_term, on_closed);
    uv_close((uv_handle_t *)&sig_int, on_closed);
    uv_close((uv_handle_t *)&sb.offline_timer, on_closed);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)handle;
    fprintf(stderr, "posa-sandbox: signal %d, stopping\n", signum);
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    service_close(&sb);
    http_server_close(sb.http, on_http_closed, NULL);
}

static int start(const struct options *o, uv_loop_t *loop)
{
    const struct http_server_config config = {.max_header_bytes = 64 << 10,
                                              .max_body_bytes = BOUND_BODY,
                                              .idle_timeout_ms = 120000,
                                              .error_body = error_body};
    char msg[512], host[64];
    int port, rc;

    if (parse_listen(o->listen, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "posa-sandbox: --listen %s: expected HOST:PORT\n", o->listen);
        return -1;
    }
    sb.checkpoint.pages = SANDBOX_CHECKPOINT_PAGES;
    if (o->checkpoint_pages && parse_pages(o->checkpoint_pages, &sb.checkpoint.pages) < 0) {
        fprintf(stderr, "posa-sandbox: --checkpoint-pages %s: expected 1 to 1000000\n",
                o->checkpoint_pages);
        return -1;
    }
    sb.checkpoint.due = sb.checkpoint.pages;
    if ((rc = scenario_load(o->scenario, &sb.scenario, msg, sizeof(msg))) < 0) {
        /* A field's message starts with its JSON path, the others with the file's. */
        if (rc == POSA_EFIELD)
            fprintf(stderr, "posa-sandbox: scenario %s: %s\n", o->scenario, msg);
        else
            fprintf(stderr, "posa-sandbox: scenario %s\n", msg);
        return -1;
    }
    if (gateway_check_load(&sb.gateway, sb.scenario.root, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "posa-sandbox: scenario %s: %s\n", o->scenario, msg);
        return -1;
    }
    if (mkdir(o->data_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "posa-sandbox: --data-dir %s: %s\n", o->data_dir, strerror(errno));
        return -1;
    }
    if (ledger_open(o->data_dir, &sb.ledger, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "posa-sandbox: ledger %s\n", msg);
        return -1;
    }
    if (sandbox_apply_filing_ops(&sb) < 0) {
        fprintf(stderr, "posa-sandbox: ledger: cannot read the filing changes\n");
        return -1;
    }
    sb.loop = loop;
    uv_timer_init(loop, &sb.offline_timer);
    if (http_server_new(loop, &config, on_request, &sb, &sb.http) < 0)
        return -1;
    service_init(&sb); /* from here on sb.http is set: shutdown closes both */
    rc = http_server_listen_tcp(sb.http, host, port);
    if (rc < 0) {
        fprintf(stderr, "posa-sandbox: listen %s: %s\n", o->listen, uv_strerror(rc));
        return -1;
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    fprintf(stderr, "posa-sandbox: listening on %s:%d, institution %s, %zu persons, %zu items\n",
            host, http_server_tcp_port(sb.http), sb.scenario.inst_code, sb.scenario.n_persons,
            sb.scenario.n_items);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    uv_loop_t loop;
    int rc;

    if (parse_options(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    umask(077); /* the ledger holds personal data */
    /* One thread in libuv's pool (unless the operator says otherwise): a big message's tree
     * is then parsed, read and freed on the same thread, where with four it was mostly freed
     * on another, and mimalloc's cross-thread frees and cold lines were a sixth of the CPU.
     * bench/sandbox, 64 clients: 8-19% more settlements/s, 9-16% less CPU per settlement. */
    setenv("UV_THREADPOOL_SIZE", "1", 0);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stderr, NULL, _IOLBF, 0);
    uv_loop_init(&loop);
    rc = start(&o, &loop);
    if (rc == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    else if (sb.http) {
        service_close(&sb);
        http_server_close(sb.http, NULL, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ledger_close(sb.ledger);
    scenario_done(&sb.scenario);
    gateway_check_done(&sb.gateway);
    return rc == 0 ? 0 : 1;
}
