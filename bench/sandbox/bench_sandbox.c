/* Load client for posa-sandbox: N keep-alive connections, each running full inpatient
 * settlements (1101 -> 2401 -> 2301 with the plan's fee lines -> 2304) back to back for a
 * fixed time; prints settlements/s and the p50/p99 latency of a whole settlement and of
 * 2304 alone. bench/sandbox/run_bench.py writes the plan and starts the sandbox.
 *
 * usage: bench_sandbox --port P --plan FILE --sign-no S [--clients 1,8,64] [--seconds 3]
 * Plan lines: "P psn_no certno insuplc_admdvs insutype", "L list_code pric cnt amount",
 * "T medfee_sumamt". One loop thread; one client per connection, one request in flight. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <http_parser.h>
#include <json-c/json.h>
#include <uv.h>

#define CODE "H31010100001"
#define MAX_PERSONS 1024
#define MAX_LINES 500
#define MAX_SAMPLES (4u << 20)

struct person {
    char psn_no[40], certno[24], region[8], insutype[8];
};

struct fee {
    char code[48], pric[24], cnt[24], amount[24];
};

struct plan {
    struct person persons[MAX_PERSONS];
    size_t n_persons;
    struct fee fees[MAX_LINES];
    size_t n_fees;
    char medfee[24];
};

struct samples {
    uint32_t *us;
    size_t n;
};

struct bench {
    uv_loop_t *loop;
    struct sockaddr_in addr;
    const struct plan *plan;
    uint64_t deadline;           /* uv_hrtime() after which no settlement starts */
    size_t running;              /* clients not finished */
    uint64_t settled, errors;
    struct samples whole, settle;
    time_t msg_time;             /* synthetic msgid clock: one second per 10,000 ids */
    unsigned msg_seq;
    const char *sign_no;         /* from the runner's 9001 */
};

enum step { STEP_1101, STEP_2401, STEP_2301, STEP_2304, STEP__N };
static const char *const step_infno[STEP__N] = {"1101", "2401", "2301", "2304"};

struct client {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uv_buf_t wbuf;
    http_parser parser;
    struct bench *b;
    const struct person *p;
    enum step step;
    char mdtrt_id[64];
    char *req;                   /* current request (headers + body) */
    size_t req_len, req_cap;
    char *body;                  /* current response body */
    size_t body_len, body_cap;
    int status;
    bool complete;
    uint64_t t_settlement, t_request;
    unsigned visit;
};

static http_parser_settings parser_settings;

/* ---- plan and ids ----------------------------------------------------------------------- */

static int plan_load(const char *path, struct plan *pl)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (!f)
        return -errno;
    memset(pl, 0, sizeof(*pl));
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == 'P' && pl->n_persons < MAX_PERSONS) {
            struct person *p = &pl->persons[pl->n_persons];
            if (sscanf(line, "P %39s %23s %7s %7s", p->psn_no, p->certno, p->region,
                       p->insutype) == 4)
                pl->n_persons++;
        } else if (line[0] == 'L' && pl->n_fees < MAX_LINES) {
            struct fee *fe = &pl->fees[pl->n_fees];
            if (sscanf(line, "L %47s %23s %23s %23s", fe->code, fe->pric, fe->cnt,
                       fe->amount) == 4)
                pl->n_fees++;
        } else if (line[0] == 'T') {
            sscanf(line, "T %23s", pl->medfee);
        }
    }
    fclose(f);
    return pl->n_persons && pl->n_fees && pl->medfee[0] ? 0 : -EINVAL;
}

/* msgid = code + yyyyMMddHHmmss + 4 digits. The time part is synthetic so that more than
 * 10,000 messages a second stay unique; the sandbox checks only its shape. */
static void next_msgid(struct bench *b, char out[31])
{
    struct tm tm;
    char when[16];

    if (b->msg_seq > 9999) {
        b->msg_seq = 0;
        b->msg_time++;
    }
    gmtime_r(&b->msg_time, &tm);
    strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
    snprintf(out, 31, "%.12s%.14s%04u", CODE, when, b->msg_seq++ % 10000u);
}

static void now_text(char out[20])
{
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- request building ------------------------------------------------------------------ */

static int req_reserve(struct client *c, size_t more)
{
    if (c->req_len + more + 1 <= c->req_cap)
        return 0;
    size_t cap = c->req_cap ? c->req_cap : 4096;
    while (cap < c->req_len + more + 1)
        cap *= 2;
    char *n = realloc(c->req, cap);
    if (!n)
        return -ENOMEM;
    c->req = n;
    c->req_cap = cap;
    return 0;
}

static int req_printf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int req_printf(struct client *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(c->req + c->req_len, c->req_cap - c->req_len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -EINVAL;
        if (c->req_len + (size_t)n < c->req_cap) {
            c->req_len += (size_t)n;
            return 0;
        }
        if (req_reserve(c, (size_t)n) < 0)
            return -ENOMEM;
    }
}

static int build_input(struct client *c, const char *now)
{
    const struct person *p = c->p;
    const struct plan *pl = c->b->plan;

    switch (c->step) {
    case STEP_1101:
        return req_printf(c, "{\"data\":{\"mdtrt_cert_type\":\"02\",\"mdtrt_cert_no\":\"%s\","
                          "\"card_sn\":\"\",\"begntime\":\"\",\"psn_cert_type\":\"01\","
                          "\"certno\":\"%s\",\"psn_name\":\"\"}}", p->certno, p->certno);
    case STEP_2401:
        return req_printf(c, "{\"mdtrtinfo\":{\"psn_no\":\"%s\",\"insutype\":\"%s\","
                          "\"begntime\":\"%s\",\"mdtrt_cert_type\":\"02\","
                          "\"mdtrt_cert_no\":\"%s\",\"med_type\":\"21\",\"ipt_no\":\"B%u\","
                          "\"ipt_type\":\"1\",\"trum_flag\":\"0\",\"rel_ttp_flag\":\"0\","
                          "\"insuplc_admdvs\":\"%s\",\"mdtrtarea_admvs\":\"310000\","
                          "\"dise_codg\":\"K80.100\",\"dise_name\":\"胆囊结石\","
                          "\"adm_dept_codg\":\"A03\",\"adm_dept_name\":\"普外科\"},"
                          "\"diseinfo\":[]}", p->psn_no, p->insutype, now, p->certno,
                          c->visit, p->region);
    case STEP_2301: {
        int rc = req_printf(c, "{\"feedetail\":[");
        for (size_t i = 0; rc == 0 && i < pl->n_fees; i++) {
            const struct fee *f = &pl->fees[i];
            rc = req_printf(c, "%s{\"feedetl_sn\":\"%zu\",\"mdtrt_id\":\"%s\",\"psn_no\":\"%s\","
                            "\"chrg_bchno\":\"B1\",\"fee_ocur_time\":\"%s\","
                            "\"med_list_codg\":\"%s\",\"medins_list_codg\":\"H%zu\","
                            "\"det_item_fee_sumamt\":\"%s\",\"cnt\":\"%s\",\"pric\":\"%s\","
                            "\"etip_flag\":\"0\",\"init_feedetl_sn\":\"\",\"med_type\":\"21\"}",
                            i ? "," : "", i + 1, c->mdtrt_id, p->psn_no, now, f->code, i,
                            f->amount, f->cnt, f->pric);
        }
        return rc ? rc : req_printf(c, "]}");
    }
    case STEP_2304:
        return req_printf(c, "{\"data\":{\"psn_no\":\"%s\",\"mdtrt_cert_type\":\"02\","
                          "\"mdtrt_cert_no\":\"%s\",\"medfee_sumamt\":\"%s\","
                          "\"psn_setlway\":\"01\",\"mdtrt_id\":\"%s\",\"insutype\":\"%s\","
                          "\"acct_used_flag\":\"0\",\"mid_setl_flag\":\"0\",\"invono\":\"\","
                          "\"dscg_time\":\"%s\"}}", p->psn_no, p->certno, pl->medfee,
                          c->mdtrt_id, p->insutype, now);
    default:
        return -EINVAL;
    }
}

/* Builds the whole HTTP request of the client's step into c->req. */
static int build_request(struct client *c)
{
    char msgid[31], now[20], head[256];
    size_t body_at;
    int rc, n;

    next_msgid(c->b, msgid);
    now_text(now);
    c->req_len = 0;
    if ((rc = req_reserve(c, 256)) < 0)
        return rc;
    c->req_len = sizeof(head); /* room for the headers, written once the length is known */
    body_at = c->req_len;
    rc = req_printf(c, "{\"infno\":\"%s\",\"msgid\":\"%s\",\"mdtrtarea_admvs\":\"310000\","
                    "\"insuplc_admdvs\":\"%s\",\"recer_sys_code\":\"YBXT\",\"infver\":\"V1.0\","
                    "\"opter_type\":\"1\",\"opter\":\"0001\",\"opter_name\":\"bench\","
                    "\"inf_time\":\"%s\",\"fixmedins_code\":\"" CODE "\","
                    "\"fixmedins_name\":\"bench\",\"sign_no\":\"%s\",\"input\":",
                    step_infno[c->step], msgid, c->step == STEP_1101 ? "" : c->p->region, now,
                    c->b->sign_no);
    if (rc == 0)
        rc = build_input(c, now);
    if (rc == 0)
        rc = req_printf(c, "}");
    if (rc < 0)
        return rc;
    n = snprintf(head, sizeof(head), "POST /fsi/api/rsfComIfsService/callService HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\nContent-Type: application/json;charset=utf-8\r\n"
                 "Content-Length: %zu\r\n\r\n", c->req_len - body_at);
    /* move the headers right before the body */
    memcpy(c->req + body_at - (size_t)n, head, (size_t)n);
    c->wbuf = uv_buf_init(c->req + body_at - (size_t)n, (unsigned)(c->req_len - body_at + (size_t)n));
    return 0;
}

/* ---- the client state machine ----------------------------------------------------------- */

static void client_finish(struct client *c);
static void on_write(uv_write_t *req, int status);

static void client_send(struct client *c)
{
    if (c->step == STEP_1101) {
        if (uv_hrtime() >= c->b->deadline) {
            client_finish(c);
            return;
        }
        c->t_settlement = uv_hrtime();
        c->visit++;
    }
    c->status = 0;
    c->complete = false;
    c->body_len = 0;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    if (build_request(c) < 0 || uv_write(&c->write, (uv_stream_t *)&c->tcp, &c->wbuf, 1,
                                         on_write) < 0) {
        fprintf(stderr, "bench: cannot send\n");
        c->b->errors++;
        client_finish(c);
        return;
    }
    c->t_request = uv_hrtime();
}

static void sample_add(struct samples *s, uint64_t ns)
{
    if (s->n < MAX_SAMPLES)
        s->us[s->n++] = (uint32_t)(ns / 1000);
}

/* Checks the answer; takes mdtrt_id from 2401. false on a refusal. */
static bool answer_ok(struct client *c)
{
    struct json_object *root, *code, *out, *res, *id;
    bool ok = false;

    if (c->status != 200)
        return false;
    root = json_tokener_parse(c->body ? c->body : "");
    if (!root)
        return false;
    if (json_object_object_get_ex(root, "infcode", &code) &&
        strcmp(json_object_get_string(code), "0") == 0) {
        ok = true;
        if (c->step == STEP_2401) {
            ok = json_object_object_get_ex(root, "output", &out) &&
                 json_object_object_get_ex(out, "result", &res) &&
                 json_object_object_get_ex(res, "mdtrt_id", &id);
            if (ok)
                snprintf(c->mdtrt_id, sizeof(c->mdtrt_id), "%s", json_object_get_string(id));
        }
    }
    json_object_put(root);
    return ok;
}

static void on_answer(struct client *c)
{
    struct bench *b = c->b;
    uint64_t now = uv_hrtime();

    if (!answer_ok(c)) {
        if (b->errors++ < 3)
            fprintf(stderr, "bench: %s refused: %.400s\n", step_infno[c->step],
                    c->body ? c->body : "");
        c->step = STEP_1101; /* start over with a new visit */
    } else if (c->step == STEP_2304) {
        sample_add(&b->settle, now - c->t_request);
        sample_add(&b->whole, now - c->t_settlement);
        b->settled++;
        c->step = STEP_1101;
    } else {
        c->step++;
    }
    client_send(c);
}

static int on_status_cb(http_parser *p, const char *at, size_t len)
{
    (void)at;
    (void)len;
    ((struct client *)p->data)->status = (int)p->status_code;
    return 0;
}

static int on_body_cb(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;

    if (c->body_len + len + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 8192;
        while (cap < c->body_len + len + 1)
            cap *= 2;
        char *n = realloc(c->body, cap);
        if (!n)
            return 1;
        c->body = n;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_complete_cb(http_parser *p)
{
    struct client *c = p->data;

    c->status = (int)p->status_code;
    c->complete = true;
    if (c->body)
        c->body[c->body_len] = '\0';
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct client *c = (struct client *)s;

    if (n < 0) {
        fprintf(stderr, "bench: connection lost: %s\n", uv_strerror((int)n));
        c->b->errors++;
        free(buf->base);
        client_finish(c);
        return;
    }
    size_t used = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)n);
    free(buf->base);
    if (used != (size_t)n) {
        fprintf(stderr, "bench: bad HTTP answer\n");
        c->b->errors++;
        client_finish(c);
        return;
    }
    if (c->complete)
        on_answer(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct client *c = req->data;

    if (status < 0) {
        fprintf(stderr, "bench: write failed: %s\n", uv_strerror(status));
        c->b->errors++;
        client_finish(c);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct client *c = req->data;

    if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        fprintf(stderr, "bench: connect failed: %s\n", uv_strerror(status));
        c->b->errors++;
        client_finish(c);
        return;
    }
    client_send(c);
}

static void on_closed(uv_handle_t *h)
{
    struct client *c = (struct client *)h;

    free(c->req);
    free(c->body);
    free(c);
}

static void client_finish(struct client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    c->b->running--;
}

/* ---- one level -------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(struct samples *s, unsigned p)
{
    if (!s->n)
        return 0;
    size_t i = (s->n * p + 99) / 100;
    return s->us[i ? i - 1 : 0];
}

static int run_level(struct bench *b, unsigned n_clients, double seconds)
{
    uint64_t t0;

    b->settled = b->errors = 0;
    b->whole.n = b->settle.n = 0;
    b->running = n_clients;
    t0 = uv_hrtime();
    b->deadline = t0 + (uint64_t)(seconds * 1e9);
    for (unsigned i = 0; i < n_clients; i++) {
        struct client *c = calloc(1, sizeof(*c));
        if (!c)
            return -ENOMEM;
        c->b = b;
        c->p = &b->plan->persons[i % b->plan->n_persons];
        c->write.data = c;
        c->connect.data = c;
        uv_tcp_init(b->loop, &c->tcp);
        uv_tcp_nodelay(&c->tcp, 1);
        if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&b->addr,
                           on_connect) < 0) {
            b->errors++;
            client_finish(c);
        }
    }
    uv_run(b->loop, UV_RUN_DEFAULT);
    double took = (double)(uv_hrtime() - t0) / 1e9;
    qsort(b->whole.us, b->whole.n, sizeof(uint32_t), cmp_u32);
    qsort(b->settle.us, b->settle.n, sizeof(uint32_t), cmp_u32);
    printf("clients=%-3u settlements=%-7" PRIu64 " errors=%-4" PRIu64
           " settlements/s=%-8.0f settlement p50=%.2fms p99=%.2fms  2304 p50=%.2fms p99=%.2fms\n",
           n_clients, b->settled, b->errors, (double)b->settled / took,
           pct(&b->whole, 50) / 1000.0, pct(&b->whole, 99) / 1000.0,
           pct(&b->settle, 50) / 1000.0, pct(&b->settle, 99) / 1000.0);
    fflush(stdout);
    return b->errors && !b->settled ? -EIO : 0;
}

int main(int argc, char **argv)
{
    static struct plan plan;
    struct bench b;
    const char *plan_path = NULL, *levels = "1,8,64", *sign_no = "";
    double seconds = 3.0;
    int port = 0, rc = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--plan"))
            plan_path = argv[i + 1];
        else if (!strcmp(argv[i], "--clients"))
            levels = argv[i + 1];
        else if (!strcmp(argv[i], "--sign-no"))
            sign_no = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
    }
    if (port <= 0 || !plan_path || seconds <= 0) {
        fprintf(stderr, "usage: %s --port P --plan FILE [--clients 1,8,64] [--seconds 3]\n",
                argv[0]);
        return 2;
    }
    if ((rc = plan_load(plan_path, &plan)) < 0) {
        fprintf(stderr, "bench: bad plan %s: %s\n", plan_path, strerror(-rc));
        return 2;
    }
    memset(&b, 0, sizeof(b));
    b.loop = uv_default_loop();
    b.plan = &plan;
    b.sign_no = sign_no;
    b.msg_time = time(NULL) - 86400; /* yesterday: a real time, never colliding with now */
    b.whole.us = malloc(MAX_SAMPLES * sizeof(uint32_t));
    b.settle.us = malloc(MAX_SAMPLES * sizeof(uint32_t));
    if (!b.whole.us || !b.settle.us)
        return 1;
    uv_ip4_addr("127.0.0.1", port, &b.addr);
    http_parser_settings_init(&parser_settings);
    parser_settings.on_status = on_status_cb;
    parser_settings.on_body = on_body_cb;
    parser_settings.on_message_complete = on_complete_cb;

    char *copy = strdup(levels), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
         tok = strtok_r(NULL, ",", &save))
        rc = run_level(&b, (unsigned)atoi(tok), seconds);
    free(copy);
    free(b.whole.us);
    free(b.settle.us);
    uv_loop_close(b.loop);
    return rc ? 1 : 0;
}
