/* posa_http, the HIS API's server, fed any bytes as one client's connection over a real Unix
 * socket: each request is answered at once, as a stream (a path starting /s) or dropped (/d;
 * /dr resets), an admit hook refuses requests carrying X-Deny, and the limits are small so
 * inputs reach them. The answers are read to the end, and the server must have closed the
 * connection within 3 s of the client's end (a hang is an abort, kept as a crash). First
 * written by a fuzzing review helper. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "interface/http/http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static struct http_server *server;
static char sock_path[108];
static size_t sink; /* what the handler read, so that it is read */

static int admit(const struct http_request *req, void *data)
{
    (void)data;
    return http_request_header(req, "X-Deny") ? 401 : 0;
}

static void on_request(struct http_server *s, struct http_request *req, void *data)
{
    struct http_header type = {"Content-Type", "application/octet-stream"};
    struct http_header events = {"Content-Type", "text/event-stream"};
    const char *v = http_request_header(req, "content-type");

    (void)s, (void)data;
    sink += strlen(req->method) + strlen(req->path) + strlen(req->query) + strlen(req->peer);
    sink += (v ? strlen(v) : 0) + http_request_header_count(req, "Idempotency-Key");
    if (req->body[req->body_len] != '\0') /* the server promises a terminated body */
        abort();
    if (strncmp(req->path, "/d", 2) == 0) {
        http_request_drop(req, req->path[2] == 'r');
    } else if (strncmp(req->path, "/s", 2) == 0) {
        if (http_stream_start(req, 200, &events, 1) == 0) {
            http_stream_write(req, req->body, req->body_len);
            http_stream_write(req, "x", 1);
        }
        http_stream_end(req);
    } else {
        http_respond(req, 200, &type, 1, req->body, req->body_len);
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void setup(void)
{
    struct http_server_config cfg = {.max_header_bytes = 600,
                                     .max_body_bytes = 1000,
                                     .max_buffered_bytes = 1500,
                                     .max_connections = 4,
                                     .admit = admit};

    snprintf(sock_path, sizeof sock_path, "/tmp/posa-fuzz-http-%d.sock", (int)getpid());
    unlink(sock_path);
    if (uv_loop_init(&loop) || http_server_new(&loop, &cfg, on_request, NULL, &server) ||
        http_server_listen_unix(server, sock_path, 0600))
        abort();
}

/* Sends the input, then its end; runs the server until it has closed the connection. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    char buf[65536];
    size_t sent = 0;
    bool shut = false, eof = false;
    double start, shut_at = 0;
    int fd;

    if (!ready) {
        setup();
        ready = true;
    }
    strcpy(addr.sun_path, sock_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        abort();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    start = now_s();
    for (;;) {
        if (sent < size && !shut) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);

            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = size; /* the server closed it: nothing more goes */
        }
        if (sent == size && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
            shut_at = now_s();
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        while (!eof) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);

            if (n > 0)
                continue;
            eof = n == 0 || errno != EAGAIN;
            break;
        }
        if (eof && http_server_connections(server) == 0)
            break;
        if ((shut && now_s() - shut_at > 3.0) || now_s() - start > 8.0) {
            fprintf(stderr, "hang: eof=%d connections=%zu sent=%zu/%zu\n", eof,
                    http_server_connections(server), sent, size);
            abort();
        }
    }
    close(fd);
    return 0;
}
