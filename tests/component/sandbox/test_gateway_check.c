/* The sandbox's gateway signature check on real HTTP requests: a server on a loop thread
 * answers 200 when gateway_check_request() accepts the request and 401 when it refuses.
 * Signatures are hand-computed vectors (Python hashlib/hmac), the clock is fixed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/gateway_check.h"

#define NOW_MS 1700000000000LL
/* sha256("1700000000" "tok" "abc123" "1700000000") */
#define TIF_SIG "0914dee6ecc3bee83db6ee6655adbc4223e5ededc90d8f0b06f38d1674aef5e1"
/* base64(hmac_sha1("sec", "_api_access_key=ak1&_api_name=hsa-fsi-2304&_api_timestamp=
 * 1700000000000&_api_version=1.0.0")) */
#define CSB_SIG "oPmrZuECy3flYeDBtu4t1vJkI2o="

static uv_loop_t loop;
static uv_async_t stop;
static pthread_t thread;
static struct http_server *server;
static struct gateway_check check;
static int port;

static void on_request(struct http_server *s, struct http_request *req, void *data)
{
    char why[256] = "";
    int rc = gateway_check_request(&check, req, "2304", NOW_MS, why, sizeof(why));

    (void)s;
    (void)data;
    http_respond(req, rc == 0 ? 200 : 401, NULL, 0, why, strlen(why));
}

static void on_closed(void *data)
{
    (void)data;
    uv_close((uv_handle_t *)&stop, NULL);
}

static void on_stop(uv_async_t *a)
{
    (void)a;
    http_server_close(server, on_closed, NULL);
}

static void *loop_main(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    uv_async_init(&loop, &stop, on_stop);
    if (http_server_new(&loop, NULL, on_request, NULL, &server) < 0 ||
        http_server_listen_tcp(server, "127.0.0.1", 0) < 0)
        return -1;
    port = http_server_tcp_port(server);
    return pthread_create(&thread, NULL, loop_main, NULL);
}

static int teardown(void **state)
{
    (void)state;
    uv_async_send(&stop);
    pthread_join(thread, NULL);
    return uv_loop_close(&loop) == 0 ? 0 : -1;
}

static int load(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    char msg[256];
    int rc = gateway_check_load(&check, o, msg, sizeof(msg));

    json_object_put(o);
    return rc;
}

/* Sends a POST with extra header lines; returns the status. */
static int post(const char *headers)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char req[2048], resp[2048];
    int fd = socket(AF_INET, SOCK_STREAM, 0), n;
    ssize_t got;

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        return -1;
    n = snprintf(
        req, sizeof(req),
        "POST /x HTTP/1.1\r\nHost: h\r\n%sContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        headers);
    send(fd, req, (size_t)n, MSG_NOSIGNAL);
    got = recv(fd, resp, sizeof(resp) - 1, MSG_WAITALL);
    close(fd);
    if (got < 12)
        return -1;
    resp[got] = '\0';
    return atoi(resp + 9);
}

#define TIF_OK(nonce)                                                                              \
    "x-tif-paasid: pid\r\nx-tif-timestamp: 1700000000\r\nx-tif-nonce: " nonce "\r\n"               \
    "x-tif-signature: " TIF_SIG "\r\n"

static void test_tif(void **state)
{
    (void)state;
    assert_int_equal(load("{\"gateway\":{\"kind\":\"tif\",\"tif_paasid\":\"pid\","
                          "\"tif_token\":\"tok\"}}"),
                     0);
    assert_int_equal(post(TIF_OK("abc123")), 200);
    assert_int_equal(post(TIF_OK("abc123")), 401); /* the nonce again: a replay */
    /* another nonce with the same signature: wrong */
    assert_int_equal(post(TIF_OK("abc124")), 401);
    assert_int_equal(post("x-tif-paasid: pid\r\nx-tif-timestamp: 1700000400\r\n"
                          "x-tif-nonce: n1\r\nx-tif-signature: " TIF_SIG "\r\n"),
                     401); /* 400 s late */
    assert_int_equal(post("x-tif-paasid: other\r\nx-tif-timestamp: 1700000000\r\n"
                          "x-tif-nonce: n2\r\nx-tif-signature: " TIF_SIG "\r\n"),
                     401);
    assert_int_equal(post(""), 401);
}

static void test_csb(void **state)
{
    static const char good[] = "_api_name: hsa-fsi-2304\r\n_api_version: 1.0.0\r\n"
                               "_api_timestamp: 1700000000000\r\n_api_access_key: ak1\r\n"
                               "_api_signature: " CSB_SIG "\r\n";

    (void)state;
    assert_int_equal(load("{\"gateway\":{\"kind\":\"csb\",\"csb_access_key\":\"ak1\","
                          "\"csb_secret_key\":\"sec\"}}"),
                     0);
    assert_int_equal(post(good), 200);
    assert_int_equal(post("_api_name: hsa-fsi-2304\r\n_api_version: 1.0.0\r\n"
                          "_api_timestamp: 1700000000001\r\n_api_access_key: ak1\r\n"
                          "_api_signature: " CSB_SIG "\r\n"),
                     401);
    assert_int_equal(post("_api_name: hsa-fsi-2207\r\n_api_version: 1.0.0\r\n"
                          "_api_timestamp: 1700000000000\r\n_api_access_key: ak1\r\n"
                          "_api_signature: " CSB_SIG "\r\n"),
                     401);
}

static void test_config(void **state)
{
    (void)state;
    assert_int_equal(load("{}"), 0);
    assert_int_equal(post(""), 200); /* no gateway: no check */
    assert_int_equal(load("{\"gateway\":{\"kind\":\"none\"}}"), 0);
    assert_int_equal(load("{\"gateway\":{\"kind\":\"sm\"}}"), -1);
    assert_int_equal(load("{\"gateway\":{\"kind\":\"tif\",\"tif_paasid\":\"p\"}}"), -1);
    assert_int_equal(load("{\"gateway\":\"tif\"}"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tif),
        cmocka_unit_test(test_csb),
        cmocka_unit_test(test_config),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
