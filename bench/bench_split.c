/* Benchmark: split and aggregate a generated 10,000-line inpatient bill, from pre-parsed
 * structs and from the HIS's JSON, median of repeated runs. Prints lines/s, ns/line and the
 * ratio to the target (2,000,000 lines/s, architecture.md) and to a baseline loop that only
 * sums the amounts (the floor cost of touching each line). Not a test: it never fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/split.h"
#include "interface/json/fee_lines.h"

#define ITEMS 2000
#define LINES 10000
#define RUNS 31
#define TARGET_LINES_PER_S 2000000.0

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static char codes[ITEMS + 100][24];
static struct catalog_item items[ITEMS];
static struct fee_line lines[LINES];

static void make_catalog(struct catalog_index *index)
{
    size_t bad;

    for (int i = 0; i < ITEMS; i++) {
        snprintf(codes[i], sizeof codes[i], "XB%05d%08u", i, next_u32() % 100000000u);
        items[i] = (struct catalog_item){
            .list_code = codes[i], .lv = (enum chrgitm_lv)(1 + next_u32() % 3),
            .category = (uint8_t)(1 + next_u32() % 14),
            .selfpay_prop_e6 = (next_u32() % 5) * 50000,
            .price_limit_e6 = next_u32() % 4 ? PRICE_NO_LIMIT : (int64_t)(5000000 + next_u32() % 100000000)};
    }
    for (int i = ITEMS; i < ITEMS + 100; i++) /* codes the catalog does not list */
        snprintf(codes[i], sizeof codes[i], "ZZ%05d", i);
    if (catalog_index_init(index, items, ITEMS, &bad) < 0) {
        fprintf(stderr, "bench_split: bad catalog item %zu\n", bad);
        exit(1);
    }
}

/* Lines over the catalog, with 5% codes not in it; the JSON text mirrors them. */
static char *make_bill(const struct catalog_index *index)
{
    size_t cap = (size_t)LINES * 200 + 16, len = 0;
    char *json = malloc(cap);

    if (!json)
        exit(1);
    len += (size_t)snprintf(json, cap, "{\"lines\":[");
    for (int i = 0; i < LINES; i++) {
        const char *code = next_u32() % 20 ? index->items[next_u32() % ITEMS].list_code
                                          : codes[ITEMS + next_u32() % 100];
        int64_t price = 10000 + next_u32() % 50000000, qty = 10000 * (1 + next_u32() % 9);
        int64_t amount = (price * qty + 50000000) / 100000000;

        lines[i] = (struct fee_line){code, price, qty, amount};
        len += (size_t)snprintf(json + len, cap - len,
                                "%s{\"his_line_id\":\"L%d\",\"list_code\":\"%s\",\"name\":\"x\","
                                "\"qty\":\"%lld.%04lld\",\"price\":\"%lld.%06lld\","
                                "\"amount\":\"%lld.%02lld\"}",
                                i ? "," : "", i, code, (long long)(qty / 10000),
                                (long long)(qty % 10000), (long long)(price / 1000000),
                                (long long)(price % 1000000), (long long)(amount / 100),
                                (long long)(amount % 100));
    }
    snprintf(json + len, cap - len, "]}");
    return json;
}

static int split_all(const struct catalog_index *index, const struct fee_line *ls, size_t n,
                     struct bill *bill)
{
    bill_init(bill);
    for (size_t i = 0; i < n; i++) {
        struct split s;

        if (split_line(&ls[i], catalog_index_find(index, ls[i].list_code), &s) < 0 ||
            bill_add(bill, &s) < 0)
            return -1;
    }
    return 0;
}

static double run_structs(const struct catalog_index *index, struct bill *bill)
{
    double t0 = now_ns();

    if (split_all(index, lines, LINES, bill) < 0)
        exit(1);
    return now_ns() - t0;
}

static double run_json(const struct catalog_index *index, const char *json, struct bill *bill)
{
    struct fee_lines parsed;
    struct jsonmap_error err;
    struct fee_line ls[LINES];
    double t0 = now_ns();

    if (fee_lines_parse(json, strlen(json), LINES, &parsed, &err) < 0) {
        fprintf(stderr, "bench_split: JSON refused at %s\n", err.field);
        exit(1);
    }
    for (size_t i = 0; i < parsed.n; i++)
        ls[i] = parsed.lines[i].fee;
    if (split_all(index, ls, parsed.n, bill) < 0)
        exit(1);
    fee_lines_done(&parsed);
    return now_ns() - t0;
}

static double run_baseline(int64_t *sink)
{
    double t0 = now_ns();
    int64_t sum = 0;

    for (int i = 0; i < LINES; i++)
        sum += lines[i].amount_fen + (int64_t)lines[i].list_code[3];
    *sink += sum;
    return now_ns() - t0;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

static void report(const char *what, double ns, double baseline_ns)
{
    double per_s = LINES / (ns / 1e9);

    printf("%-28s %10.0f lines/s %8.1f ns/line  %.2fx target  %.1fx baseline\n", what, per_s,
           ns / LINES, per_s / TARGET_LINES_PER_S, ns / baseline_ns);
}

int main(void)
{
    struct catalog_index index;
    double t_struct[RUNS], t_json[RUNS], t_base[RUNS];
    struct bill bill;
    int64_t sink = 0;
    char *json;

    make_catalog(&index);
    json = make_bill(&index);
    for (int r = 0; r < RUNS; r++) {
        t_base[r] = run_baseline(&sink);
        t_struct[r] = run_structs(&index, &bill);
        t_json[r] = run_json(&index, json, &bill);
    }
    printf("bench_split: %d-line bill over %d catalog items, %zu KiB JSON, median of %d runs\n",
           LINES, ITEMS, strlen(json) / 1024, RUNS);
    report("split+aggregate (structs)", median(t_struct, RUNS), median(t_base, RUNS));
    report("parse+split+agg (JSON)", median(t_json, RUNS), median(t_base, RUNS));
    printf("bill total %lld fen in %zu lines (checksum %lld)\n", (long long)bill.total.amount,
           bill.lines, (long long)(sink % 1000));
    free(json);
    return 0;
}
