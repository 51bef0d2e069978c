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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "loadclient.h"
#include "plan.h"

struct bench {
    struct loadclient_bench super;
    const struct plan *plan;
    struct plan_msgids ids;
    const char *sign_no; /* from the runner's 9001 */
    struct answer answer; /* the answer being checked (one loop thread) */
};

enum step { STEP_1101, STEP_2401, STEP_2301, STEP_2304, STEP__N };
static const char *const step_infno[STEP__N] = {"1101", "2401", "2301", "2304"};

struct client {
    struct loadclient super; /* first, as loadclient.h asks */
    char mdtrt_id[64];
};

static struct bench *bench_of(const struct loadclient *lc)
{
    return container_of(lc->bench, struct bench, super);
}

static const struct plan_person *person_of(const struct loadclient *lc)
{
    const struct plan *pl = bench_of(lc)->plan;

    return &pl->persons[lc->index % pl->n_persons];
}

/* ---- plan and ids ----------------------------------------------------------------------- */

static void now_text(char out[20])
{
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- requests and answers -------------------------------------------------------------- */

static int build_input(struct loadclient *lc, const char *now)
{
    const struct client *c = container_of(lc, struct client, super);
    const struct plan_person *p = person_of(lc);
    const struct plan *pl = bench_of(lc)->plan;

    switch (lc->step) {
    case STEP_1101:
        return loadclient_printf(lc, "{\"data\":{\"mdtrt_cert_type\":\"02\","
                                 "\"mdtrt_cert_no\":\"%s\",\"card_sn\":\"\",\"begntime\":\"\","
                                 "\"psn_cert_type\":\"01\",\"certno\":\"%s\",\"psn_name\":\"\"}}",
                                 p->certno, p->certno);
    case STEP_2401:
        return loadclient_printf(lc, "{\"mdtrtinfo\":{\"psn_no\":\"%s\",\"insutype\":\"%s\","
                                 "\"begntime\":\"%s\",\"mdtrt_cert_type\":\"02\","
                                 "\"mdtrt_cert_no\":\"%s\",\"med_type\":\"21\",\"ipt_no\":\"B%u\","
                                 "\"ipt_type\":\"1\",\"trum_flag\":\"0\",\"rel_ttp_flag\":\"0\","
                                 "\"insuplc_admdvs\":\"%s\",\"mdtrtarea_admvs\":\"310000\","
                                 "\"dise_codg\":\"K80.100\",\"dise_name\":\"胆囊结石\","
                                 "\"adm_dept_codg\":\"A03\",\"adm_dept_name\":\"普外科\"},"
                                 "\"diseinfo\":[]}", p->psn_no, p->insutype, now, p->certno,
                                 lc->flows, p->region);
    case STEP_2301:
        return plan_feedetail(lc, pl, c->mdtrt_id, p->psn_no, now, "21");
    case STEP_2304:
        return loadclient_printf(lc, "{\"data\":{\"psn_no\":\"%s\",\"mdtrt_cert_type\":\"02\","
                                 "\"mdtrt_cert_no\":\"%s\",\"medfee_sumamt\":\"%s\","
                                 "\"psn_setlway\":\"01\",\"mdtrt_id\":\"%s\",\"insutype\":\"%s\","
                                 "\"acct_used_flag\":\"0\",\"mid_setl_flag\":\"0\",\"invono\":\"\","
                                 "\"dscg_time\":\"%s\"}}", p->psn_no, p->certno, pl->medfee,
                                 c->mdtrt_id, p->insutype, now);
    default:
        return -EINVAL;
    }
}

/* The envelope of the national interface around the step's input; every step goes to the
 * one service path. */
static int build_request(struct loadclient *lc, char *path, size_t path_cap)
{
    struct bench *b = bench_of(lc);
    char msgid[31], now[20];
    int rc;

    plan_next_msgid(&b->ids, msgid);
    now_text(now);
    snprintf(path, path_cap, "/fsi/api/rsfComIfsService/callService");
    rc = loadclient_printf(lc, "{\"infno\":\"%s\",\"msgid\":\"%s\",\"mdtrtarea_admvs\":\"310000\","
                           "\"insuplc_admdvs\":\"%s\",\"recer_sys_code\":\"YBXT\","
                           "\"infver\":\"V1.0\",\"opter_type\":\"1\",\"opter\":\"0001\","
                           "\"opter_name\":\"bench\",\"inf_time\":\"%s\",\"fixmedins_code\":\"" PLAN_INSTITUTION
                           "\",\"fixmedins_name\":\"bench\",\"sign_no\":\"%s\",\"input\":",
                           step_infno[lc->step], msgid,
                           lc->step == STEP_1101 ? "" : person_of(lc)->region, now, b->sign_no);
    if (rc == 0)
        rc = build_input(lc, now);
    return rc ? rc : loadclient_printf(lc, "}");
}

/* Checks the answer; takes mdtrt_id from 2401. false on a refusal. */
static bool check_answer(struct loadclient *lc)
{
    struct client *c = container_of(lc, struct client, super);
    struct answer *a = &bench_of(lc)->answer;
    const char *id;
    size_t len = 0;

    if (lc->status != 200 || answer_parse(a, lc->body, lc->body_len) < 0 ||
        !answer_is(a, "0", "infcode"))
        return false;
    if (lc->step != STEP_2401)
        return true;
    id = answer_find(a, &len, "output", "result", "mdtrt_id");
    if (!id || len >= sizeof(c->mdtrt_id))
        return false;
    memcpy(c->mdtrt_id, id, len);
    c->mdtrt_id[len] = '\0';
    return true;
}

static void report_refusal(const struct loadclient *lc)
{
    fprintf(stderr, "bench: %s refused: %.400s\n", step_infno[lc->step], lc->body);
}

static const struct loadclient_ops settlement_flow = {
    .client_size = sizeof(struct client),
    .n_steps = STEP__N,
    .content_type = "application/json;charset=utf-8",
    .build = build_request,
    .check = check_answer,
    .report_refusal = report_refusal,
};

/* ---- levels ----------------------------------------------------------------------------- */

/* One line per level, parsed by run_bench.py (bench/sandbox, bench/agent): keep its shape. */
static int print_level(struct loadclient_bench *run, int n_clients)
{
    printf("clients=%-3u settlements=%-7" PRIu64 " errors=%-4" PRIu64
           " settlements/s=%-8.0f settlement p50=%.2fms p99=%.2fms  2304 p50=%.2fms p99=%.2fms\n",
           (unsigned)n_clients, run->completed, run->errors, (double)run->completed / run->seconds,
           loadclient_samples_ms(&run->flow, 50), loadclient_samples_ms(&run->flow, 99),
           loadclient_samples_ms(&run->last, 50), loadclient_samples_ms(&run->last, 99));
    fflush(stdout);
    return run->errors && !run->completed ? -EIO : 0; /* nothing got through: stop */
}

int main(int argc, char **argv)
{
    static struct plan plan;
    struct bench b = {0};
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
    if ((rc = plan_load(plan_path, &plan)) < 0 || (!plan.medfee[0] && (rc = -EINVAL))) {
        fprintf(stderr, "bench: bad plan %s: %s\n", plan_path, strerror(-rc));
        return 2;
    }
    b.plan = &plan;
    b.sign_no = sign_no;
    b.ids.time = time(NULL) - 86400; /* yesterday: a real time, never colliding with now */
    if (loadclient_bench_init(&b.super, "bench", &settlement_flow, port, NULL) < 0)
        return 1;
    rc = loadclient_bench_levels(&b.super, levels, seconds, print_level);
    loadclient_bench_done(&b.super);
    answer_done(&b.answer);
    return rc ? 1 : 0;
}
