/* Load client of the HIS benchmark: N keep-alive connections, each running complete
 * outpatient settlements back to back for a fixed time, either through posad's HIS API
 * (identify by ID number -> visit -> the plan's fee lines -> settle) or, for the baseline,
 * as the same national messages straight to posa-sandbox (1101 -> 2201 -> 2203 -> 2204 ->
 * 2207, the ones posad sends for that flow). Prints settlements/s and p50/p99.
 * bench/his/run_bench.py writes the plan and starts the processes.
 *
 * usage: bench_his --mode his|national --port P|--socket PATH --plan FILE [--sign-no S]
 *                  [--clients 1,8,64] [--seconds 3] [--clock "YYYY-MM-DD HH:MM:SS"]
 *                  [--idempotency-keys 1]  (every HIS call with its own Idempotency-Key)
 *                  [--msgid-from EPOCH]  (the national msgids' first second; each second
 *                  holds 10,000, and a direct run sends more than that a second, so a caller
 *                  running it again gives the next run seconds the last did not reach)
 * Plan lines: "P psn_no certno insuplc_admdvs insutype", "L list_code pric cnt amount".
 * One loop thread; one request in flight per connection. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "core/decimal.h"
#include "core/str.h"
#include "loadclient.h"
#include "plan.h"

struct bench {
    struct loadclient_bench super;
    const struct plan *plan;
    struct plan_msgids ids;
    const char *sign_no, *clock;
    unsigned run_id; /* one per level: visit numbers stay unique across levels */
    bool idempotency_keys; /* every HIS call carries an Idempotency-Key, as a careful HIS's */
    struct answer answer; /* the answer being checked (one loop thread) */
};

struct client {
    struct loadclient super;       /* first, as loadclient.h asks */
    char token[128], visit_id[80]; /* HIS: identity_token, visit_id */
    int64_t parts[4];              /* national: 2204's split sums, fen */
};

static const char *const part_names[4] = {"fulamt_ownpay_amt", "overlmt_amt", "preselfpay_amt",
                                          "inscp_scp_amt"};

static struct bench *bench_of(const struct loadclient *lc)
{
    return container_of(lc->bench, struct bench, super);
}

static struct client *client_of(struct loadclient *lc)
{
    return container_of(lc, struct client, super);
}

static const struct plan_person *person_of(const struct loadclient *lc)
{
    const struct plan *pl = bench_of(lc)->plan;

    return &pl->persons[lc->index % pl->n_persons];
}

/* Adds an amount's text ("12.34", core's exact money) to *sum: 0, or negative when it is no
 * amount. */
static int money_add(const char *text, size_t len, int64_t *sum)
{
    int64_t fen;
    int err = money_parse(text, len, &fen);

    if (!err)
        *sum += fen;
    return err;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* HIS API: identify, open the visit, upload the plan's fee lines, settle. */
static int build_his(struct loadclient *lc, char *path, size_t cap)
{
    const struct bench *b = bench_of(lc);
    const struct client *c = client_of(lc);
    const struct plan_person *p = person_of(lc);
    const struct plan *pl = b->plan;
    int rc = 0;

    if (b->idempotency_keys)
        snprintf(lc->header, sizeof lc->header, "Idempotency-Key: k%u-%u-%u-%d", b->run_id,
                 lc->index, lc->flows, lc->step);
    switch (lc->step) {
    case 0:
        snprintf(path, cap, "/v1/identify");
        return loadclient_printf(lc, "{\"source\":\"id\",\"certno\":\"%s\"}", p->certno);
    case 1:
        snprintf(path, cap, "/v1/visits");
        return loadclient_printf(lc, "{\"identity_token\":\"%s\",\"kind\":\"outpatient\","
                                 "\"insutype\":\"%s\",\"med_type\":\"11\","
                                 "\"his_visit_id\":\"BH%u-%u-%u\",\"dept_code\":\"A02\","
                                 "\"dept_name\":\"内科\",\"doctor_code\":\"D0002\","
                                 "\"doctor_name\":\"王医生\",\"begin_time\":\"%s\","
                                 "\"diagnoses\":[{\"code\":\"J06.900\",\"name\":\"急性上呼吸道感染\","
                                 "\"main\":true}]}", c->token, p->insutype, b->run_id, lc->index,
                                 lc->flows, b->clock);
    case 2:
        snprintf(path, cap, "/v1/visits/%s/fees", c->visit_id);
        rc = loadclient_append(lc, "{\"lines\":[");
        for (size_t i = 0; rc == 0 && i < pl->n_fees; i++) {
            const struct plan_fee *f = &pl->fees[i];
            char buf[STR_DECIMAL_MAX];
            const char *n = str_decimal(buf, i + 1);

            rc = loadclient_append(lc, i ? "," : "", "{\"his_line_id\":\"L", n,
                                   "\",\"list_code\":\"", f->code, "\",\"hosp_code\":\"H", n,
                                   "\",\"name\":\"项目", n, "\",\"qty\":\"", f->cnt,
                                   "\",\"price\":\"", f->pric, "\",\"amount\":\"", f->amount,
                                   "\",\"time\":\"", b->clock, "\"}");
        }
        return rc ? rc : loadclient_append(lc, "]}");
    case 3:
        snprintf(path, cap, "/v1/visits/%s/settle", c->visit_id);
        return loadclient_printf(lc, "{}");
    default:
        return -EINVAL;
    }
}

static const char *const national_infno[] = {"1101", "2201", "2203", "2204", "2207"};

static int build_national_input(struct loadclient *lc)
{
    const struct bench *b = bench_of(lc);
    const struct client *c = client_of(lc);
    const struct plan_person *p = person_of(lc);
    const struct plan *pl = b->plan;
    const char *now = b->clock;
    int64_t total = 0;
    char t[DEC_FORMAT_MAX], parts[4][DEC_FORMAT_MAX];

    switch (lc->step) {
    case 0:
        return loadclient_printf(lc, "{\"data\":{\"mdtrt_cert_type\":\"02\","
                                 "\"mdtrt_cert_no\":\"%s\",\"card_sn\":\"\",\"begntime\":\"\","
                                 "\"psn_cert_type\":\"01\",\"certno\":\"%s\",\"psn_name\":\"\"}}",
                                 p->certno, p->certno);
    case 1:
        return loadclient_printf(lc, "{\"data\":{\"psn_no\":\"%s\",\"insutype\":\"%s\","
                                 "\"begntime\":\"%s\",\"mdtrt_cert_type\":\"02\","
                                 "\"mdtrt_cert_no\":\"%s\",\"ipt_otp_no\":\"BN%u-%u-%u\","
                                 "\"atddr_no\":\"D0002\",\"dr_name\":\"王医生\",\"dept_code\":\"A02\","
                                 "\"dept_name\":\"内科\",\"caty\":\"A02\",\"med_type\":\"11\","
                                 "\"otp_er_refl_flag\":\"0\"}}", p->psn_no, p->insutype, now,
                                 p->certno, b->run_id, lc->index, lc->flows);
    case 2:
        return loadclient_printf(lc, "{\"mdtrtinfo\":{\"mdtrt_id\":\"%s\",\"psn_no\":\"%s\","
                                 "\"med_type\":\"11\",\"begntime\":\"%s\",\"main_cond_dscr\":\"\","
                                 "\"dise_codg\":\"J06.900\",\"dise_name\":\"急性上呼吸道感染\"},"
                                 "\"diseinfo\":[{\"diag_type\":\"1\",\"diag_srt_no\":\"1\","
                                 "\"diag_code\":\"J06.900\",\"diag_name\":\"急性上呼吸道感染\","
                                 "\"diag_dept\":\"内科\",\"dise_dor_no\":\"D0002\","
                                 "\"dise_dor_name\":\"王医生\",\"diag_time\":\"%s\","
                                 "\"vali_flag\":\"1\"}]}", c->visit_id, p->psn_no, now, now);
    case 3:
        return plan_feedetail(lc, pl, c->visit_id, p->psn_no, now, NULL);
    case 4:
        for (size_t i = 0; i < pl->n_fees; i++)
            if (money_add(pl->fees[i].amount, strlen(pl->fees[i].amount), &total) < 0)
                return -EINVAL;
        money_format(total, t, sizeof t);
        for (int i = 0; i < 4; i++)
            money_format(c->parts[i], parts[i], sizeof parts[i]);
        return loadclient_printf(lc, "{\"data\":{\"psn_no\":\"%s\",\"mdtrt_cert_type\":\"02\","
                                 "\"mdtrt_cert_no\":\"%s\",\"med_type\":\"11\","
                                 "\"medfee_sumamt\":\"%s\",\"psn_setlway\":\"01\","
                                 "\"mdtrt_id\":\"%s\",\"chrg_bchno\":\"B0001\","
                                 "\"acct_used_flag\":\"0\",\"insutype\":\"%s\",\"invono\":\"\","
                                 "\"pub_hosp_rfom_flag\":\"0\",\"fulamt_ownpay_amt\":\"%s\","
                                 "\"overlmt_selfpay\":\"%s\",\"preselfpay_amt\":\"%s\","
                                 "\"inscp_scp_amt\":\"%s\"}}", p->psn_no, p->certno, t, c->visit_id,
                                 p->insutype, parts[0], parts[1], parts[2], parts[3]);
    default:
        return -EINVAL;
    }
}

/* Every national message goes to the one service path, inside the interface's envelope. */
static int build_national(struct loadclient *lc, char *path, size_t cap)
{
    struct bench *b = bench_of(lc);
    char msgid[31];
    int rc;

    snprintf(path, cap, "/fsi/api/rsfComIfsService/callService");
    plan_next_msgid(&b->ids, msgid);
    rc = loadclient_printf(lc, "{\"infno\":\"%s\",\"msgid\":\"%s\",\"mdtrtarea_admvs\":\"310000\","
                           "\"insuplc_admdvs\":\"%s\",\"recer_sys_code\":\"YBXT\","
                           "\"infver\":\"V1.0\",\"opter_type\":\"1\",\"opter\":\"0001\","
                           "\"opter_name\":\"bench\",\"inf_time\":\"%s\",\"fixmedins_code\":\"" PLAN_INSTITUTION
                           "\",\"fixmedins_name\":\"bench\",\"sign_no\":\"%s\",\"input\":",
                           national_infno[lc->step], msgid, lc->step ? person_of(lc)->region : "",
                           b->clock, b->sign_no);
    if (rc == 0)
        rc = build_national_input(lc);
    return rc ? rc : loadclient_printf(lc, "}");
}

/* ---- answers ------------------------------------------------------------------------------ */

/* The string at token `at` into out; false when there is none or it does not fit. */
static bool copy_str(const struct answer *a, int at, char *out, size_t cap)
{
    size_t len = 0;
    const char *v = answer_text(a, at, &len);

    if (!v || a->tok[at].type != JSMN_STRING || len >= cap)
        return false;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

static bool his_answer(struct loadclient *lc, const struct answer *a)
{
    struct client *c = client_of(lc);

    switch (lc->step) {
    case 0:
        return lc->status == 200 &&
               copy_str(a, answer_at(a, 0, "identity_token"), c->token, sizeof c->token);
    case 1:
        return lc->status == 201 &&
               copy_str(a, answer_at(a, 0, "visit_id"), c->visit_id, sizeof c->visit_id);
    case 2: return lc->status == 200;
    default: return lc->status == 200 && answer_is(a, "settled", "state");
    }
}

static bool national_answer(struct loadclient *lc, const struct answer *a)
{
    struct client *c = client_of(lc);
    int res, row, v;
    size_t len = 0;
    const char *text;

    if (lc->status != 200 || !answer_is(a, "0", "infcode"))
        return false;
    if (lc->step == 1)
        return copy_str(a, answer_at(a, 0, "output", "data", "mdtrt_id"), c->visit_id,
                        sizeof c->visit_id);
    if (lc->step == 3) {
        res = answer_at(a, 0, "output", "result");
        memset(c->parts, 0, sizeof c->parts);
        row = answer_first(a, res);
        for (int i = 0; i < answer_count(a, res); i++, row = answer_next(a, row))
            for (int k = 0; k < 4; k++) {
                v = answer_at(a, row, part_names[k]);
                text = answer_text(a, v, &len);
                if (text && money_add(text, len, &c->parts[k]) < 0)
                    return false; /* not an amount: a bad answer */
            }
    }
    return true;
}

/* Hands the answer to read_answer(); false if it is not JSON. */
static bool check_json(struct loadclient *lc,
                       bool (*read_answer)(struct loadclient *lc, const struct answer *a))
{
    struct answer *a = &bench_of(lc)->answer;

    return answer_parse(a, lc->body, lc->body_len) == 0 && read_answer(lc, a);
}

static bool check_his(struct loadclient *lc)
{
    return check_json(lc, his_answer);
}

static bool check_national(struct loadclient *lc)
{
    return check_json(lc, national_answer);
}

static void report_refusal(const struct loadclient *lc)
{
    fprintf(stderr, "bench_his: step %d: HTTP %d %.300s\n", lc->step, lc->status, lc->body);
}

static const struct loadclient_ops his_flow = {
    .client_size = sizeof(struct client),
    .n_steps = 4,
    .content_type = "application/json",
    .build = build_his,
    .check = check_his,
    .report_refusal = report_refusal,
};

static const struct loadclient_ops national_flow = {
    .client_size = sizeof(struct client),
    .n_steps = 5,
    .content_type = "application/json",
    .build = build_national,
    .check = check_national,
    .report_refusal = report_refusal,
};

/* ---- levels ------------------------------------------------------------------------------- */

/* One line per level, parsed by run_bench.py: keep its shape. */
static int print_level(struct loadclient_bench *run, int n_clients)
{
    struct bench *b = container_of(run, struct bench, super);

    printf("clients=%-3d settlements=%-7" PRIu64 " errors=%-4" PRIu64
           " settlements/s=%-8.0f p50=%.2fms p99=%.2fms\n",
           n_clients, run->completed, run->errors, (double)run->completed / run->seconds,
           loadclient_samples_ms(&run->flow, 50), loadclient_samples_ms(&run->flow, 99));
    fflush(stdout);
    b->run_id++;
    return 0; /* the next level runs even after errors */
}

int main(int argc, char **argv)
{
    static struct plan plan;
    static struct bench b;
    const char *plan_path = NULL, *levels = "1,8,64", *mode = "his", *socket_path = NULL;
    double seconds = 3.0;
    time_t msgid_from = 0;
    int port = 0, rc;

    b.sign_no = "";
    b.clock = "2026-11-25 09:00:00";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--socket"))
            socket_path = argv[i + 1];
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
        else if (!strcmp(argv[i], "--idempotency-keys"))
            b.idempotency_keys = atoi(argv[i + 1]) != 0;
        else if (!strcmp(argv[i], "--msgid-from"))
            msgid_from = (time_t)atoll(argv[i + 1]);
    }
    if ((port <= 0 && !socket_path) || !plan_path || seconds <= 0 || (strcmp(mode, "his") && strcmp(mode, "national"))) {
        fprintf(stderr,
                "usage: %s --mode his|national --port P|--socket PATH --plan FILE [--sign-no S] "
                "[--clients 1,8,64] [--seconds 3] [--clock TIME] [--idempotency-keys 0|1] "
                "[--msgid-from EPOCH]\n",
                argv[0]);
        return 2;
    }
    if ((rc = plan_load(plan_path, &plan)) < 0) {
        fprintf(stderr, "bench_his: bad plan %s: %s\n", plan_path, strerror(-rc));
        return 2;
    }
    b.plan = &plan;
    b.ids.time = msgid_from ? msgid_from : time(NULL) - 2 * 86400; /* apart from bench_sandbox's */
    b.run_id = (unsigned)time(NULL) % 100000u;
    if (loadclient_bench_init(&b.super, "bench_his",
                              strcmp(mode, "his") ? &national_flow : &his_flow, port,
                              socket_path) < 0)
        return 1;
    loadclient_bench_levels(&b.super, levels, seconds, print_level);
    loadclient_bench_done(&b.super);
    answer_done(&b.answer);
    return 0;
}
