/* Prometheus text exposition (format 0.0.4) of posad's counters, histograms and gauges. */
#include "interface/his/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

const uint32_t metrics_bucket_ms[METRICS_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

size_t metrics_bucket_index(uint64_t latency_us)
{
    size_t i = 0;

    while (i < METRICS_BUCKETS && latency_us > (uint64_t)metrics_bucket_ms[i] * 1000)
        i++;
    return i;
}

void metrics_histogram_observe(struct metrics_histogram *h, uint64_t latency_us)
{
    h->counts[metrics_bucket_index(latency_us)]++;
    h->count++;
    /* Saturate rather than wrap: 584,000 years of latency is not reached by honest input. */
    h->sum_us = latency_us > UINT64_MAX - h->sum_us ? UINT64_MAX : h->sum_us + latency_us;
}

int metrics_label_escape(struct html_buf *out, const char *value)
{
    size_t n = value ? strlen(value) : 0, i = 0, run = 0;

    while (i < n) {
        size_t len = html_utf8_len(value + i, n - i);
        const char *sub = NULL;

        if (len == 0)
            sub = HTML_REPLACEMENT;
        else if (value[i] == '\\')
            sub = "\\\\";
        else if (value[i] == '"')
            sub = "\\\"";
        else if (value[i] == '\n')
            sub = "\\n";
        if (!sub) {
            i += len;
            continue;
        }
        html_buf_putn(out, value + run, i - run);
        html_buf_put(out, sub);
        i += len ? len : 1;
        run = i;
    }
    html_buf_putn(out, value ? value + run : "", i - run);
    return out->err;
}

static void family(struct html_buf *out, const char *name, const char *type, const char *help)
{
    html_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Bounds are whole milliseconds, so seconds need at most three decimals: 2500 -> "2.5". */
static void le_seconds(struct html_buf *out, uint32_t ms)
{
    char frac[4];
    int digits = 3;

    snprintf(frac, sizeof frac, "%03u", (unsigned)(ms % 1000));
    while (digits > 0 && frac[digits - 1] == '0')
        frac[--digits] = '\0';
    html_buf_printf(out, "%u%s%s", (unsigned)(ms / 1000), digits ? "." : "", frac);
}

static void requests(struct html_buf *out, const struct metrics_view *v)
{
    family(out, "posa_his_requests_total", "counter", "HIS API requests by route and status.");
    for (size_t r = 0; r < v->n_routes; r++) {
        const struct metrics_route *route = &v->routes[r];

        for (size_t s = 0; s < route->n_statuses; s++) {
            html_buf_put(out, "posa_his_requests_total{route=\"");
            metrics_label_escape(out, route->route);
            html_buf_printf(out, "\",status=\"%d\"} %" PRIu64 "\n", route->statuses[s].status,
                            route->statuses[s].count);
        }
    }
}

/* One histogram's series: name_bucket{label="value",le="..."}, _sum and _count; label NULL
 * for a histogram without labels. */
static void histogram_series(struct html_buf *out, const char *name, const char *label,
                             const char *value, const struct metrics_histogram *h)
{
    static const char *const parts[] = {"_sum", "_count"};
    uint64_t cumulative = 0;

    for (size_t i = 0; i <= METRICS_BUCKETS; i++) {
        cumulative += h->counts[i];
        html_buf_printf(out, "%s_bucket{", name);
        if (label) {
            html_buf_printf(out, "%s=\"", label);
            metrics_label_escape(out, value);
            html_buf_put(out, "\",");
        }
        html_buf_put(out, "le=\"");
        if (i < METRICS_BUCKETS)
            le_seconds(out, metrics_bucket_ms[i]);
        else
            html_buf_put(out, "+Inf");
        html_buf_printf(out, "\"} %" PRIu64 "\n", cumulative);
    }
    for (size_t p = 0; p < 2; p++) {
        html_buf_printf(out, "%s%s", name, parts[p]);
        if (label) {
            html_buf_printf(out, "{%s=\"", label);
            metrics_label_escape(out, value);
            html_buf_put(out, "\"}");
        }
        if (p == 0)
            html_buf_printf(out, " %" PRIu64 ".%06" PRIu64 "\n", h->sum_us / 1000000,
                            h->sum_us % 1000000);
        else
            html_buf_printf(out, " %" PRIu64 "\n", h->count);
    }
}

static void gauge(struct html_buf *out, const char *name, const char *help, uint64_t value)
{
    family(out, name, "gauge", help);
    html_buf_printf(out, "%s %" PRIu64 "\n", name, value);
}

/* Every state a settlement has, 0 when none is in it: a series that vanished when its count
 * went to 0 would read as "no data", not as none. Another state the records hold follows. */
static void settlements(struct html_buf *out, const struct metrics_view *v)
{
    static const char *const states[] = {"pending", "queued",   "unknown",   "settled",
                                         "refused", "reversed", "cancelled", "failed"};
    size_t n_states = sizeof states / sizeof states[0];

    family(out, "posa_settlements", "gauge", "Settlements by state.");
    for (size_t k = 0; k < n_states; k++) {
        uint64_t count = 0;

        for (size_t i = 0; i < v->n_settlements; i++)
            if (strcmp(v->settlements[i].state, states[k]) == 0)
                count = v->settlements[i].count;
        html_buf_printf(out, "posa_settlements{state=\"%s\"} %" PRIu64 "\n", states[k], count);
    }
    for (size_t i = 0; i < v->n_settlements; i++) {
        size_t k = 0;

        while (k < n_states && strcmp(v->settlements[i].state, states[k]) != 0)
            k++;
        if (k < n_states)
            continue;
        html_buf_put(out, "posa_settlements{state=\"");
        metrics_label_escape(out, v->settlements[i].state);
        html_buf_printf(out, "\"} %" PRIu64 "\n", v->settlements[i].count);
    }
}

int metrics_format(const struct metrics_view *v, struct html_buf *out)
{
    if ((unsigned)v->upstream > METRICS_UPSTREAM_ONLINE ||
        (unsigned)v->database > METRICS_DATABASE_OK)
        return POSA_ERANGE;
    if (v->version) {
        family(out, "posa_build_info", "gauge", "posad's version.");
        html_buf_put(out, "posa_build_info{version=\"");
        metrics_label_escape(out, v->version);
        html_buf_put(out, "\"} 1\n");
    }
    requests(out, v);
    family(out, "posa_his_request_duration_seconds", "histogram",
           "HIS API request latency by route.");
    for (size_t r = 0; r < v->n_routes; r++)
        histogram_series(out, "posa_his_request_duration_seconds", "route", v->routes[r].route,
                         &v->routes[r].latency);
    /* One series whatever the state: a label that followed the value would leave the old
     * series to go stale instead of changing. */
    gauge(out, "posa_upstream_state", "Provincial platform link: 0 offline, 1 degraded, 2 online.",
          (uint64_t)v->upstream);
    gauge(out, "posa_database_state",
          "posad's database: 0 failed (restart posad) or damaged (restore posad.db: the log "
          "says how), 1 disk full, 2 ok.",
          (uint64_t)v->database);
    if (v->db_read) {
        gauge(out, "posa_queue_depth", "Upstream messages waiting in the outbox.", v->queue_depth);
        gauge(out, "posa_queue_oldest_age_seconds", "Age of the oldest waiting message.",
              v->queue_oldest_age_s);
        gauge(out, "posa_queue_unknown", "Messages whose outcome is being resolved.",
              v->queue_unknown);
    }
    gauge(out, "posa_catalog_items", "Items of the treating region's catalog the split uses.",
          v->catalog_items);
    gauge(out, "posa_catalog_loaded_timestamp_seconds",
          "When the catalog in use was downloaded (Unix time); 0: none.",
          v->catalog_loaded_at_s > 0 ? (uint64_t)v->catalog_loaded_at_s : 0);
    family(out, "posa_upstream_request_duration_seconds", "histogram",
           "Exchanges of national messages with the provincial platform, by infno: from "
           "sending to the answer or the failure.");
    for (size_t i = 0; i < v->n_upstream_latency; i++)
        histogram_series(out, "posa_upstream_request_duration_seconds", "infno",
                         v->upstream_latency[i].infno, &v->upstream_latency[i].latency);
    if (v->db_read) { /* counted on the database thread, read by a job there */
        settlements(out, v);
        family(out, "posa_db_commits_total", "counter",
               "Database transactions committed since start.");
        html_buf_printf(out, "posa_db_commits_total %" PRIu64 "\n", v->db_commits);
        family(out, "posa_db_jobs_total", "counter",
               "Database jobs run since start; jobs per commit is the group commit's grouping.");
        html_buf_printf(out, "posa_db_jobs_total %" PRIu64 "\n", v->db_jobs);
        family(out, "posa_db_syncs_total", "counter",
               "Fsyncs of the database's WAL since start; commits per sync is how many groups "
               "one covered.");
        html_buf_printf(out, "posa_db_syncs_total %" PRIu64 "\n", v->db_syncs);
    }
    if (v->db_job_latency) {
        family(out, "posa_db_job_duration_seconds", "histogram",
               "Database jobs, from submission to their result: the group's commit, and the "
               "WAL's fsync for a write that must be on disk first.");
        histogram_series(out, "posa_db_job_duration_seconds", NULL, NULL, v->db_job_latency);
    }
    return out->err;
}
