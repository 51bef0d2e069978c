/* Networked scanners (or serial device servers): posad connects to host:port and reads
 * lines; a lost connection is retried. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "drivers/qr_source_impl.h"

/* Idle seconds before the first probe; Linux then probes 9 times, 75 s apart, by default. */
#define QR_TCP_KEEPALIVE_S 15
/* A connection not made in this long is given up and tried again: a device server whose
 * SYNs go unanswered (switched off, a full backlog) would hold a connect some 127 s. */
#define QR_TCP_CONNECT_MS 5000

/* "1.2.3.4:9100" or "[::1]:9100". Names are not resolved: a scanner's address is fixed
 * in the configuration, and a DNS lookup would block the loop. */
static int tcp_check(struct qr_source *s)
{
    char host[64];
    const char *colon = strrchr(s->path, ':');
    const char *h = s->path;
    size_t hlen = colon ? (size_t)(colon - s->path) : 0;

    if (!colon || hlen == 0)
        return DRV_ECONFIG;
    if (h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return DRV_ECONFIG;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 1 || port > 65535)
        return DRV_ECONFIG;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&s->addr) == 0 ||
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&s->addr) == 0)
        return 0;
    return DRV_ECONFIG;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char slab[1024]; /* loop thread only; consumed before the next read */

    (void)h;
    (void)hint;
    *buf = uv_buf_init(slab, sizeof slab);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct qr_source *s = stream->data;

    if (n > 0)
        qr_source_text(s, (const uint8_t *)buf->base, (size_t)n);
    else if (n < 0)
        qr_source_lost(s, (int)n);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct qr_source *s = req->data;

    if (s->stopping || !s->open)
        return;
    /* posad never writes to a scanner: without keepalive probes, a device server that lost
     * power or a pulled cable would look connected forever, and no scan would come. */
    if (status == 0 && (status = uv_tcp_keepalive(&s->io.tcp, 1, QR_TCP_KEEPALIVE_S)) == 0)
        status = uv_read_start((uv_stream_t *)&s->io.tcp, on_alloc, on_read);
    if (status < 0) {
        qr_source_lost(s, status);
        return;
    }
    qr_source_opened(s);
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct qr_source *s = t->data;

    if (s->open && !s->ready && !s->stopping)
        qr_source_lost(s, UV_ETIMEDOUT); /* closing the handle cancels the connect */
}

static int tcp_open(struct qr_source *s)
{
    int rc = uv_tcp_init(s->loop, &s->io.tcp);
    if (rc < 0)
        return rc;
    s->io.tcp.data = s;
    s->handles++;
    s->open = true;
    s->connect.data = s;
    rc = uv_tcp_connect(&s->connect, &s->io.tcp, (const struct sockaddr *)&s->addr, on_connect);
    if (rc < 0) {
        qr_source_lost(s, rc); /* closes the handle and schedules the retry itself */
        return 0;
    }
    /* The retry timer is idle while open: opened() or lost() restart it for their own use. */
    uv_timer_start(&s->retry, on_connect_timeout, QR_TCP_CONNECT_MS, 0);
    return 0;
}

const struct qr_kind qr_kind_tcp = {"tcp", tcp_check, tcp_open, qr_source_text};
