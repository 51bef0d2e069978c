/* Load client of the HIS benchmark: N keep-alive connections, each running complete
 * outpatient settlements back to back for a fixed time, either through posad's HIS API
 * (identify by ID number -> visit -> the plan's fee lines -> settle) or, for the baseline,
 * as the same national messages straight to posa-sandbox (1101 -> 2201 -> 2203 -> 2204 ->
 * 2207, the ones posad sends for that flow). Prints settlements/s and p50/p99.
 * bench/his/run_bench.py writes the plan and starts the processes.
 *
 * usage: bench_his --mode his|national --port P --plan FILE [--sign-no S]
 *                  [--clients 1,8,64] [--seconds 3] [--clock "YYYY-MM-DD HH:MM:SS"]
 * Plan lines: "P psn_no certno insuplc_admdvs insutype", "L list_code pric cnt amount".
 * One loop thread; one request in flight per connection. */
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

#define CODE        "H31010100001"
#define MAX_PERSONS 1024
#define MAX_LINES   200
#define MAX_SAMPLES (1u << 22)

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
};

enum mode { MODE_HIS, MODE_NATIONAL };
enum { STEPS_MAX = 5 };

struct bench {
    uv_loop_t *loop;
    struct sockaddr_in addr;
    const struct plan *plan;
    enum mode mode;
    int n_steps;
    uint64_t deadline;
    uint64_t settled, errors;
    uint32_t *us;
    size_t n_us;
    time_t msg_time; /* synthetic msgid clock, as bench_sandbox's */
    unsigned msg_seq;
    const char *sign_no, *clock;
    unsigned run_id;
};

struct client {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uv_buf_t wbuf;
    http_parser parser;
    struct bench *b;
    const struct person *p;
    int step, id;
    unsigned visit;
    char token[128], visit_id[80];     /* HIS: identity_token, visit_id */
    int64_t parts[4];                  /* national: 2204's split sums, fen */
    char *req, *body;
    size_t req_len, req_cap, body_len, body_cap;
    int status;
    bool complete;
    uint64_t t0;
};

static http_parser_settings settings;

static const char *const part_names[4] = {"fulamt_ownpay_amt", "overlmt_amt", "preselfpay_amt",
                                          "inscp_scp_amt"};

/* ---- plan, ids, money text ---------------------------------------------------------------- */

static int plan_load(const char *path, struct plan *pl)
{
    FILE *f = fopen(path, "r");
    char line[512];

    if (!f)
        return -errno;
    while (fgets(line, sizeof line, f)) {
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
        }
    }
    fclose(f);
    return pl->n_persons && pl->n_fees ? 0 : -EINVAL;
}

static void next_msgid(struct bench *b, char out[31])
{
    struct tm tm;
    char when[16];

    if (b->msg_seq > 9999) {
        b->msg_seq = 0;
        b->msg_time++;
    }
    gmtime_r(&b->msg_time, &tm);
    strftime(when, sizeof when, "%Y%m%d%H%M%S", &tm);
    snprintf(out, 31, "%.12s%.14s%04u", CODE, when, b->msg_seq++ % 10000u);
}

/* "12.34" (at most 2 decimals, sign allowed) -> fen; the sandbox's own text, never a float. */
static int64_t fen_parse(const char *s)
{
    int64_t sign = 1, units = 0, frac = 0;
    int digits = 0;

    if (*s == '-') {
        sign = -1;
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++)
        units = units * 10 + (*s - '0');
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9' && digits < 2; s++, digits++)
            frac = frac * 10 + (*s - '0');
    while (digits++ < 2)
        frac *= 10;
    return sign * (units * 100 + frac);
}

static void fen_format(int64_t fen, char out[24])
{
    snprintf(out, 24, "%s%" PRId64 ".%02" PRId64, fen < 0 ? "-" : "", (fen < 0 ? -fen : fen) / 100,
             (fen < 0 ? -fen : fen) % 100);
}

/* ---- request text ------------------------------------------------------------------------- */

static int req_printf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int req_printf(struct client *c, const char *fmt, ...)
{
    va_list ap;

    for (;;) {
        size_t room = c->req_cap - c->req_len;
        va_start(ap, fmt);
        int n = vsnprintf(c->req + c->req_len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -EINVAL;
        if ((size_t)n < room) {
            c->req_len += (size_t)n;
            return 0;
        }
        size_t cap = c->req_cap * 2 + (size_t)n;
        char *m = realloc(c->req, cap);
        if (!m)
            return -ENOMEM;
        c->req = m;
        c->req_cap = cap;
    }
}

/* HIS API bodies: path into ret_path. */
static int build_his(struct client *c, char *path, size_t cap)
{
    const struct person *p = c->p;
    const struct plan *pl = c->b->plan;
    int rc = 0;

    switch (c->step) {
    case 0:
        snprintf(path, cap, "/v1/identify");
        return req_printf(c, "{\"source\":\"id\",\"certno\":\"%s\"}", p->certno);
    case 1:
        snprintf(path, cap, "/v1/visits");
        return req_printf(c, "{\"identity_token\":\"%s\",\"kind\":\"outpatient\","
                          "\"insutype\":\"%s\",\"med_type\":\"11\",\"his_visit_id\":\"BH%u-%d-%u\","
                          "\"dept_code\":\"A02\",\"dept_name\":\"内科\",\"doctor_code\":\"D0002\","
                          "\"doctor_name\":\"王医生\",\"begin_time\":\"%s\",\"diagnoses\":"
                          "[{\"code\":\"J06.900\",\"name\":\"急性上呼吸道感染\",\"main\":true}]}",
                          c->token, p->insutype, c->b->run_id, c->id, c->visit, c->b->clock);
    case 2:
        snprintf(path, cap, "/v1/visits/%s/fees", c->visit_id);
        rc = req_printf(c, "{\"lines\":[");
        for (size_t i = 0; rc == 0 && i < pl->n_fees; i++) {
            const struct fee *f = &pl->fees[i];
            rc = req_printf(c, "%s{\"his_line_id\":\"L%zu\",\"list_code\":\"%s\","
                            "\"hosp_code\":\"H%zu\",\"name\":\"项目%zu\",\"qty\":\"%s\","
                            "\"price\":\"%s\",\"amount\":\"%s\",\"time\":\"%s\"}",
                            i ? "," : "", i + 1, f->code, i + 1, i + 1, f->cnt, f->pric,
                            f->amount, c->b->clock);
        }
        return rc ? rc : req_printf(c, "]}");
    case 3:
        snprintf(path, cap, "/v1/visits/%s/settle", c->visit_id);
        return req_printf(c, "{}");
    default:
        return -EINVAL;
    }
}

static const char *const national_infno[] = {"1101", "2201", "2203", "2204", "2207"};

static int build_national_input(struct client *c)
{
    const struct person *p = c->p;
    const struct plan *pl = c->b->plan;
    const char *now = c->b->clock;
    int64_t total = 0;
    char t[24], parts[4][24];
    int rc = 0;

    switch (c->step) {
    case 0:
        return req_printf(c, "{\"data\":{\"mdtrt_cert_type\":\"02\",\"mdtrt_cert_no\":\"%s\","
                          "\"card_sn\":\"\",\"begntime\":\"\",\"psn_cert_type\":\"01\","
                          "\"certno\":\"%s\",\"psn_name\":\"\"}}", p->certno, p->certno);
    case 1:
        return req_printf(c, "{\"data\":{\"psn_no\":\"%s\",\"insutype\":\"%s\",\"begntime\":\"%s\","
                          "\"mdtrt_cert_type\":\"02\",\"mdtrt_cert_no\":\"%s\","
                          "\"ipt_otp_no\":\"BN%u-%d-%u\",\"atddr_no\":\"D0002\","
                          "\"dr_name\":\"王医生\",\"dept_code\":\"A02\",\"dept_name\":\"内科\","
                          "\"caty\":\"A02\",\"med_type\":\"11\",\"otp_er_refl_flag\":\"0\"}}",
                          p->psn_no, p->insutype, now, p->certno, c->b->run_id, c->id, c->visit);
    case 2:
        return req_printf(c, "{\"mdtrtinfo\":{\"mdtrt_id\":\"%s\",\"psn_no\":\"%s\","
                          "\"med_type\":\"11\",\"begntime\":\"%s\",\"main_cond_dscr\":\"\","
                          "\"dise_codg\":\"J06.900\",\"dise_name\":\"急性上呼吸道感染\"},"
                          "\"diseinfo\":[{\"diag_type\":\"1\",\"diag_srt_no\":\"1\","
                          "\"diag_code\":\"J06.900\",\"diag_name\":\"急性上呼吸道感染\","
                          "\"diag_dept\":\"内科\",\"dise_dor_no\":\"D0002\","
                          "\"dise_dor_name\":\"王医生\",\"diag_time\":\"%s\",\"vali_flag\":\"1\"}]}",
                          c->visit_id, p->psn_no, now, now);
    case 3:
        rc = req_printf(c, "{\"feedetail\":[");
        for (size_t i = 0; rc == 0 && i < pl->n_fees; i++) {
            const struct fee *f = &pl->fees[i];
            rc = req_printf(c, "%s{\"feedetl_sn\":\"%zu\",\"mdtrt_id\":\"%s\",\"psn_no\":\"%s\","
                            "\"chrg_bchno\":\"B0001\",\"fee_ocur_time\":\"%s\","
                            "\"med_list_codg\":\"%s\",\"medins_list_codg\":\"H%zu\","
                            "\"det_item_fee_sumamt\":\"%s\",\"cnt\":\"%s\",\"pric\":\"%s\","
                            "\"etip_flag\":\"0\",\"init_feedetl_sn\":\"\"}",
                            i ? "," : "", i + 1, c->visit_id, p->psn_no, now, f->code, i + 1,
                            f->amount, f->cnt, f->pric);
        }
        return rc ? rc : req_printf(c, "]}");
    case 4:
        for (size_t i = 0; i < pl->n_fees; i++)
            total += fen_parse(pl->fees[i].amount);
        fen_format(total, t);
        for (int i = 0; i < 4; i++)
            fen_format(c->parts[i], parts[i]);
        return req_printf(c, "{\"data\":{\"psn_no\":\"%s\",\"mdtrt_cert_type\":\"02\","
                          "\"mdtrt_cert_no\":\"%s\",\"med_type\":\"11\",\"medfee_sumamt\":\"%s\","
                          "\"psn_setlway\":\"01\",\"mdtrt_id\":\"%s\",\"chrg_bchno\":\"B0001\","
                          "\"acct_used_flag\":\"0\",\"insutype\":\"%s\",\"invono\":\"\","
                          "\"pub_hosp_rfom_flag\":\"0\",\"fulamt_ownpay_amt\":\"%s\","
                          "\"overlmt_selfpay\":\"%s\",\"preselfpay_amt\":\"%s\","
                          "\"inscp_scp_amt\":\"%s\"}}", p->psn_no, p->certno, t, c->visit_id,
                          p->insutype, parts[0], parts[1], parts[2], parts[3]);
    default:
        return -EINVAL;
    }
}

static int build_request(struct client *c)
{
    char path[160], head[320], msgid[31];
    size_t body_at = sizeof head;
    int rc, n;

    c->req_len = body_at; /* the headers go right before the body once its length is known */
    if (c->b->mode == MODE_HIS) {
        rc = build_his(c, path, sizeof path);
    } else {
        snprintf(path, sizeof path, "/fsi/api/rsfComIfsService/callService");
        next_msgid(c->b, msgid);
        rc = req_printf(c, "{\"infno\":\"%s\",\"msgid\":\"%s\",\"mdtrtarea_admvs\":\"310000\","
                        "\"insuplc_admdvs\":\"%s\",\"recer_sys_code\":\"YBXT\","
                        "\"infver\":\"V1.0\",\"opter_type\":\"1\",\"opter\":\"0001\","
                        "\"opter_name\":\"bench\",\"inf_time\":\"%s\",\"fixmedins_code\":\"" CODE
                        "\",\"fixmedins_name\":\"bench\",\"sign_no\":\"%s\",\"input\":",
                        national_infno[c->step], msgid, c->step ? c->p->region : "",
                        c->b->clock, c->b->sign_no);
        if (rc == 0)
            rc = build_national_input(c);
        if (rc == 0)
            rc = req_printf(c, "}");
    }
    if (rc)
        return rc;
    n = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", path,
                 c->req_len - body_at);
    if (n < 0 || (size_t)n >= sizeof head)
        return -EINVAL;
    memcpy(c->req + body_at - (size_t)n, head, (size_t)n);
    c->wbuf = uv_buf_init(c->req + body_at - (size_t)n, (unsigned)(c->req_len - body_at + (size_t)n));
    return 0;
}

/* ---- answers ------------------------------------------------------------------------------ */

static bool copy_str(struct json_object *o, const char *key, char *out, size_t cap)
{
    struct json_object *v;

    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return false;
    snprintf(out, cap, "%s", json_object_get_string(v));
    return true;
}

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;

    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static bool his_answer(struct client *c, struct json_object *root)
{
    switch (c->step) {
    case 0: return c->status == 200 && copy_str(root, "identity_token", c->token, sizeof c->token);
    case 1: return c->status == 201 && copy_str(root, "visit_id", c->visit_id, sizeof c->visit_id);
    case 2: return c->status == 200;
    default: {
        char state[16];
        return c->status == 200 && copy_str(root, "state", state, sizeof state) &&
               strcmp(state, "settled") == 0;
    }
    }
}

static bool national_answer(struct client *c, struct json_object *root)
{
    struct json_object *code = get(root, "infcode"), *out = get(root, "output"), *res;

    if (c->status != 200 || !code || strcmp(json_object_get_string(code), "0") != 0)
        return false;
    if (c->step == 1)
        return copy_str(get(out, "data"), "mdtrt_id", c->visit_id, sizeof c->visit_id);
    if (c->step == 3) {
        res = get(out, "result");
        memset(c->parts, 0, sizeof c->parts);
        for (size_t i = 0; res && i < json_object_array_length(res); i++)
            for (int k = 0; k < 4; k++) {
                struct json_object *v = get(json_object_array_get_idx(res, i), part_names[k]);
                if (v)
                    c->parts[k] += fen_parse(json_object_get_string(v));
            }
    }
    return true;
}

/* ---- the client --------------------------------------------------------------------------- */

static void client_finish(struct client *c);
static void on_write(uv_write_t *req, int status);

static void client_send(struct client *c)
{
    if (c->step == 0) {
        if (uv_hrtime() >= c->b->deadline) {
            client_finish(c);
            return;
        }
        c->t0 = uv_hrtime();
        c->visit++;
    }
    c->status = 0;
    c->complete = false;
    c->body_len = 0;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    if (build_request(c) < 0 ||
        uv_write(&c->write, (uv_stream_t *)&c->tcp, &c->wbuf, 1, on_write) < 0) {
        c->b->errors++;
        client_finish(c);
    }
}

static void on_answer(struct client *c)
{
    struct bench *b = c->b;
    struct json_object *root = json_tokener_parse(c->body ? c->body : "");
    bool ok = root && (b->mode == MODE_HIS ? his_answer(c, root) : national_answer(c, root));

    json_object_put(root);
    if (!ok) {
        if (b->errors++ < 3)
            fprintf(stderr, "bench_his: step %d: HTTP %d %.300s\n", c->step, c->status,
                    c->body ? c->body : "");
        c->step = 0;
    } else if (++c->step == b->n_steps) {
        if (b->n_us < MAX_SAMPLES)
            b->us[b->n_us++] = (uint32_t)((uv_hrtime() - c->t0) / 1000);
        b->settled++;
        c->step = 0;
    }
    client_send(c);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct client *c = p->data;

    if (c->body_len + len + 1 > c->body_cap) {
        size_t cap = (c->body_len + len + 1) * 2;
        char *m = realloc(c->body, cap);
        if (!m)
            return 1;
        c->body = m;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_complete(http_parser *p)
{
    struct client *c = p->data;

    c->status = (int)p->status_code;
    c->complete = true;
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
    size_t used = n > 0 ? http_parser_execute(&c->parser, &settings, buf->base, (size_t)n) : 0;

    free(buf->base);
    if (n < 0 || used != (size_t)n) {
        fprintf(stderr, "bench_his: %s\n", n < 0 ? uv_strerror((int)n) : "bad HTTP answer");
        c->b->errors++;
        client_finish(c);
    } else if (c->complete) {
        on_answer(c);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct client *c = req->data;

    if (status < 0) {
        c->b->errors++;
        client_finish(c);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct client *c = req->data;

    if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
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
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* ---- levels ------------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const struct bench *b, unsigned p)
{
    size_t i = (b->n_us * p + 99) / 100;
    return b->n_us ? b->us[i ? i - 1 : 0] / 1000.0 : 0;
}

static void run_level(struct bench *b, int n_clients, double seconds)
{
    uint64_t t0 = uv_hrtime();

    b->settled = b->errors = 0;
    b->n_us = 0;
    b->deadline = t0 + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < n_clients; i++) {
        struct client *c = calloc(1, sizeof *c);
        if (!c || !(c->req = malloc(c->req_cap = 16384))) {
            free(c);
            b->errors++;
            continue;
        }
        c->b = b;
        c->id = i;
        c->p = &b->plan->persons[i % b->plan->n_persons];
        c->write.data = c->connect.data = c;
        uv_tcp_init(b->loop, &c->tcp);
        uv_tcp_nodelay(&c->tcp, 1);
        if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&b->addr, on_connect)) {
            b->errors++;
            client_finish(c);
        }
    }
    uv_run(b->loop, UV_RUN_DEFAULT);
    double took = (double)(uv_hrtime() - t0) / 1e9;
    qsort(b->us, b->n_us, sizeof *b->us, cmp_u32);
    printf("clients=%-3d settlements=%-7" PRIu64 " errors=%-4" PRIu64
           " settlements/s=%-8.0f p50=%.2fms p99=%.2fms\n",
           n_clients, b->settled, b->errors, (double)b->settled / took, pct_ms(b, 50),
           pct_ms(b, 99));
    fflush(stdout);
    b->run_id++;
}

int main(int argc, char **argv)
{
    static struct plan plan;
    static struct bench b;
    const char *plan_path = NULL, *levels = "1,8,64", *mode = "his";
    double seconds = 3.0;
    int port = 0, rc;

    b.sign_no = "";
    b.clock = "2026-11-25 09:00:00";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--plan"))
            plan_path = argv[i + 1];
        else if (!strcmp(argv[i], "--clients"))
            levels = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--mode"))
            mode = argv[i + 1];
        else if (!strcmp(argv[i], "--sign-no"))
            b.sign_no = argv[i + 1];
        else if (!strcmp(argv[i], "--clock"))
            b.clock = argv[i + 1];
    }
    if (port <= 0 || !plan_path || seconds <= 0 || (strcmp(mode, "his") && strcmp(mode, "national"))) {
        fprintf(stderr, "usage: %s --mode his|national --port P --plan FILE [--sign-no S] "
                "[--clients 1,8,64] [--seconds 3] [--clock TIME]\n", argv[0]);
        return 2;
    }
    if ((rc = plan_load(plan_path, &plan)) < 0) {
        fprintf(stderr, "bench_his: bad plan %s: %s\n", plan_path, strerror(-rc));
        return 2;
    }
    b.mode = strcmp(mode, "his") ? MODE_NATIONAL : MODE_HIS;
    b.n_steps = b.mode == MODE_HIS ? 4 : 5;
    b.loop = uv_default_loop();
    b.plan = &plan;
    b.msg_time = time(NULL) - 2 * 86400; /* apart from bench_sandbox's ids */
    b.run_id = (unsigned)time(NULL) % 100000u;
    b.us = malloc(MAX_SAMPLES * sizeof *b.us);
    if (!b.us)
        return 1;
    uv_ip4_addr("127.0.0.1", port, &b.addr);
    http_parser_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_complete;
    char *copy = strdup(levels), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        run_level(&b, atoi(tok), seconds);
    free(copy);
    free(b.us);
    uv_loop_close(b.loop);
    return 0;
}
