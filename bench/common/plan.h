/* The plan file run_bench.py writes for bench_sandbox and bench_his, and the msgids they
 * make up. Plan lines: "P psn_no certno insuplc_admdvs insutype", "L list_code pric cnt
 * amount" and, for the inpatient bill, "T medfee_sumamt". */
#ifndef BENCH_PLAN_H
#define BENCH_PLAN_H

#include <stddef.h>
#include <time.h>

#define PLAN_INSTITUTION "H31010100001"
#define PLAN_PERSONS_MAX 1024
#define PLAN_LINES_MAX   500

struct plan_person {
    char psn_no[40], certno[24], region[8], insutype[8];
};

struct plan_fee {
    char code[48], pric[24], cnt[24], amount[24];
};

struct plan {
    struct plan_person persons[PLAN_PERSONS_MAX];
    size_t n_persons;
    struct plan_fee fees[PLAN_LINES_MAX];
    size_t n_fees;
    char medfee[24]; /* "T" line; "" when the plan has none */
};

/* Reads path into pl: 0, -errno, or -EINVAL without persons or fee lines. */
int plan_load(const char *path, struct plan *pl);

struct loadclient;
/* Appends {"feedetail":[...]}, the plan's fee lines of one visit as 2204/2301 carry them, to
 * the request being built; med_type NULL leaves it out. 0, or -ENOMEM. */
int plan_feedetail(struct loadclient *lc, const struct plan *pl, const char *mdtrt_id,
                   const char *psn_no, const char *fee_time, const char *med_type);

/* msgid = institution + yyyyMMddHHmmss + 4 digits. The time part is synthetic (one second
 * per 10,000 ids from a start the caller picks), so more than 10,000 messages a second stay
 * unique; the sandbox checks only the shape. */
struct plan_msgids {
    time_t time;
    unsigned seq;
};
void plan_next_msgid(struct plan_msgids *ids, char out[31]);

#endif
