/* /metrics: posad's state as Prometheus text exposition format 0.0.4. The engine keeps the
 * counters in the plain structs below (a histogram is observed with a pure function) and
 * hands them over to be written; nothing here reads a clock or keeps state. */
#ifndef POSA_HIS_METRICS_H
#define POSA_HIS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interface/his/html.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Latency bucket bounds in milliseconds, fixed so that series from every posad add up: a
 * local answer takes 1-5 ms, a settlement through the platform 50 ms to seconds. They are
 * exposed in seconds (Prometheus' base unit), le="0.001" ... le="10". */
#define METRICS_BUCKETS 13
extern const uint32_t metrics_bucket_ms[METRICS_BUCKETS];

/* counts[i] holds observations in (bound[i-1], bound[i]] (not cumulative: the writer sums
 * them); counts[METRICS_BUCKETS] those above the last bound (+Inf). Zero-initialise it. */
struct metrics_histogram {
    uint64_t counts[METRICS_BUCKETS + 1];
    uint64_t count;
    uint64_t sum_us; /* microseconds, exact; exposed as seconds with six decimals */
};

/* The bucket of one latency: the first whose bound in ms is >= it; METRICS_BUCKETS (+Inf)
 * above the last. A latency of exactly a bound falls into that bound's bucket (le = "<="). */
size_t metrics_bucket_index(uint64_t latency_us);
/* Counts one request of latency_us. Pure; the caller owns h and serialises access. */
void metrics_histogram_observe(struct metrics_histogram *h, uint64_t latency_us);

struct metrics_status_count {
    int status; /* HTTP status, 100..599 */
    uint64_t count;
};

/* One route of the route table: its pattern ("POST /v1/visits/{id}/fees"), never the raw
 * path, so that the number of series stays the size of the route table. */
struct metrics_route {
    const char *route;
    const struct metrics_status_count *statuses;
    size_t n_statuses;
    struct metrics_histogram latency;
};

/* One national message's exchanges with the platform: from handing it to the HTTP client to
 * its outcome (an answer, a refusal, a timeout, a connection lost). */
struct metrics_infno {
    const char *infno; /* "2207" */
    struct metrics_histogram latency;
};

/* posa_database_state; ordered as the upstream's: an alert is "< 2". */
enum metrics_database {
    METRICS_DATABASE_FAILED = 0, /* an fsync failed (every request refused until a restart),
                                    or a page is damaged (restore: the log says) */
    METRICS_DATABASE_FULL = 1,   /* writes refused for want of space */
    METRICS_DATABASE_OK = 2,
};

/* The gauge's value; ordered by health so that an alert is "< 2". */
enum metrics_upstream {
    METRICS_UPSTREAM_OFFLINE = 0,
    METRICS_UPSTREAM_DEGRADED = 1,
    METRICS_UPSTREAM_ONLINE = 2,
};

struct metrics_state_count {
    const char *state; /* "settled", "unknown", "queued", "cancelled", ... */
    uint64_t count;
};

struct metrics_view {
    const char *version; /* posa_build_info{version=...}; NULL leaves it out */
    const struct metrics_route *routes;
    size_t n_routes;
    enum metrics_upstream upstream;
    enum metrics_database database;
    /* False when the database could not be read: the queue's, the settlements' and the
     * database counters' series are left out rather than shown as 0. */
    bool db_read;
    uint64_t queue_depth;        /* outbox rows waiting */
    uint64_t queue_oldest_age_s; /* age of the oldest; 0 when empty */
    uint64_t queue_unknown;      /* messages whose outcome is being resolved */
    const struct metrics_state_count *settlements;
    size_t n_settlements;
    uint64_t db_commits; /* database transactions committed since start */
    uint64_t db_jobs;    /* database jobs they carried (group commit: jobs / commits) */
    uint64_t db_syncs;   /* fsyncs of the WAL (commits / syncs: groups one fsync covered) */
    /* From a database job's submission to its result on the loop (the group's commit, and
     * the fsync when it waits for one); NULL leaves the family out. */
    const struct metrics_histogram *db_job_latency;
    const struct metrics_infno *upstream_latency; /* by infno, each once */
    size_t n_upstream_latency;
    uint64_t catalog_items;      /* the treating region's catalog the split uses; 0: none */
    int64_t catalog_loaded_at_s; /* Unix time of its download; 0: none */
};

/* Appends the whole page to out. Label values are escaped (\\, \", \n) and invalid UTF-8
 * becomes U+FFFD, so any route or state text yields a parseable page. Each series appears
 * once if the caller lists each route, status and state once. 0, POSA_ETOOLONG past out's
 * ceiling, POSA_ERANGE for an unknown upstream state, or -ENOMEM. */
int metrics_format(const struct metrics_view *view, struct html_buf *out);

/* Appends value escaped for a label value between double quotes. NULL is "". */
int metrics_label_escape(struct html_buf *out, const char *value);

#endif
