/* Benchmark of drivers/ through pcscd + vpcd + the virtual card: READ RECORD round trip
 * and the full social-security read, posad's path against a minimal PC/SC client sending
 * the same APDUs (ratio target: <= 1.2), and card inserted -> identity ready. Runs in its
 * own namespaces like the integration tests (exit 77 where that is not allowed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winscard.h>

#include "drivers/apdu.h"
#include "drivers/pcsc_card.h"
#include "drivers/ssc.h"
#include "harness.h"

#define RR_N     1000
#define READ_N   200
#define INSERT_N 20
#define SEQ_MAX  32

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void stats(const char *what, uint64_t *ns, int n, uint64_t *ret_median)
{
    qsort(ns, (size_t)n, sizeof ns[0], cmp_u64);
    uint64_t med = ns[n / 2], p99 = ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
    printf("%-44s n=%-5d median %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what, n, (double)med / 1e6,
           (double)p99 / 1e6, (double)ns[n - 1] / 1e6);
    if (ret_median)
        *ret_median = med;
}

/* Records the APDUs ssc_read_identity sends, to replay them raw. */
struct recorder {
    struct pcsc_card *card;
    uint8_t cmd[SEQ_MAX][APDU_MAX_CMD];
    size_t len[SEQ_MAX];
    int n;
};

static int record_transmit(void *ctx, const uint8_t *cmd, size_t cmd_len, uint8_t *resp, size_t cap,
                           size_t *ret_len)
{
    struct recorder *r = ctx;
    if (r->n < SEQ_MAX) {
        memcpy(r->cmd[r->n], cmd, cmd_len);
        r->len[r->n++] = cmd_len;
    }
    return pcsc_card_transmit(r->card, cmd, cmd_len, resp, cap, ret_len);
}

static void raw(struct pcsc_card *c, const uint8_t *cmd, size_t len)
{
    uint8_t resp[258];
    DWORD n = sizeof resp;
    if (SCardTransmit(c->h, SCARD_PCI_T0, cmd, (DWORD)len, NULL, resp, &n) != SCARD_S_SUCCESS)
        abort();
}

static void bench_apdus(void)
{
    static uint64_t t_raw[RR_N], t_posa[RR_N], f_raw[READ_N], f_posa[READ_N];
    static const uint8_t sel_aid[] = {0x00, 0xA4, 0x04, 0x00, 0x0F, 0x73, 0x78, 0x31, 0x2E, 0x73,
                                      0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF};
    static const uint8_t sel_ef05[] = {0x00, 0xA4, 0x02, 0x00, 0x02, 0xEF, 0x05};
    static const uint8_t rr07[] = {0x00, 0xB2, 0x07, 0x00, 0x0B};
    SCARDCONTEXT ctx;
    struct pcsc_card card = {0};
    SCARD_READERSTATE rs = {.szReader = READER0, .dwCurrentState = SCARD_STATE_EMPTY};

    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS)
        abort();
    while (!(rs.dwEventState & SCARD_STATE_PRESENT)) { /* wait for the card, no sleep */
        rs.dwCurrentState = rs.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
        if (SCardGetStatusChange(ctx, 10000, &rs, 1) != SCARD_S_SUCCESS)
            abort();
    }
    if (SCardConnect(ctx, READER0, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                     &card.h, &card.proto) != SCARD_S_SUCCESS)
        abort();
    raw(&card, sel_aid, sizeof sel_aid);
    raw(&card, sel_ef05, sizeof sel_ef05);
    struct apdu_io io = {pcsc_card_transmit, &card};
    for (int i = 0; i < RR_N; i++) { /* interleaved, so drift hits both alike */
        uint64_t t0 = uv_hrtime();
        raw(&card, rr07, sizeof rr07);
        uint64_t t1 = uv_hrtime();
        uint8_t out[258];
        size_t n;
        uint16_t sw;
        if (apdu_exchange(&io, rr07, sizeof rr07, out, sizeof out, &n, &sw) < 0 ||
            apdu_sw_err(sw) < 0)
            abort();
        t_raw[i] = t1 - t0;
        t_posa[i] = uv_hrtime() - t1;
    }
    struct recorder rec = {.card = &card};
    struct apdu_io rio = {record_transmit, &rec};
    struct card_identity id;
    if (ssc_read_identity(&rio, &id) < 0)
        abort();
    for (int i = 0; i < READ_N; i++) {
        uint64_t t0 = uv_hrtime();
        for (int k = 0; k < rec.n; k++)
            raw(&card, rec.cmd[k], rec.len[k]);
        uint64_t t1 = uv_hrtime();
        if (ssc_read_identity(&io, &id) < 0)
            abort();
        f_raw[i] = t1 - t0;
        f_posa[i] = uv_hrtime() - t1;
    }
    SCardDisconnect(card.h, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);

    uint64_t m_raw, m_posa, fm_raw, fm_posa;
    stats("READ RECORD, minimal PC/SC client", t_raw, RR_N, &m_raw);
    stats("READ RECORD, drivers apdu_exchange", t_posa, RR_N, &m_posa);
    printf("  ratio drivers/raw (median): %.3f (target <= 1.2)\n", (double)m_posa / m_raw);
    char what[64];
    snprintf(what, sizeof what, "full SSC read (%d APDUs), raw replay", rec.n);
    stats(what, f_raw, READ_N, &fm_raw);
    stats("full SSC read, ssc_read_identity", f_posa, READ_N, &fm_posa);
    printf("  ratio drivers/raw (median): %.3f (target <= 1.2)\n", (double)fm_posa / fm_raw);
}

static void bench_insert(struct harness *h)
{
    static uint64_t read_ns[INSERT_N], ready_ns[INSERT_N];
    struct pcsc_watch_cfg cfg = {0};

    h_watch_start(h, &cfg);
    if (!h_wait(h, CARD_EV_READER_ADDED, READER0, 15000))
        abort();
    for (int i = 0; i < INSERT_N; i++) {
        pid_t pid = h_card_start(h, "zhang_3_0.json", 35963, 0);
        const struct card_event *ins = h_wait(h, CARD_EV_INSERTED, READER0, 5000);
        if (!ins)
            abort();
        int64_t t_ins = ins->time_ms;
        const struct card_event *rd = h_wait(h, CARD_EV_READ, READER0, 5000);
        if (!rd || rd->status != 0)
            abort();
        /* ms stamps of the thread: inserted seen -> identity posted; and to the loop. */
        read_ns[i] = (uint64_t)(rd->time_ms - t_ins) * 1000000u;
        ready_ns[i] = (uint64_t)(h->delivered_ms - t_ins) * 1000000u;
        h_card_stop(h, pid);
        if (!h_wait(h, CARD_EV_REMOVED, READER0, 5000))
            abort();
    }
    stats("inserted seen -> identity read (thread, ms res)", read_ns, INSERT_N, NULL);
    stats("inserted seen -> identity on the loop (ms res)", ready_ns, INSERT_N, NULL);
    printf("  (pcscd polls vpcd every 400 ms, so insertion itself is seen 0-400 ms late)\n");
    pcsc_watch_stop(h->watch);
    h->watch = NULL;
}

int main(void)
{
    static struct harness h;

    h_isolate(&h);
    h_pcscd_start(&h);
    bench_insert(&h);
    pid_t pid = h_card_start(&h, "zhang_3_0.json", 35963, 0);
    bench_apdus();
    h_card_stop(&h, pid);
    h_done(&h);
    return 0;
}
