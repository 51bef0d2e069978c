/* Unit tests of interface/his/metrics.c: the fixed latency buckets, and the exact
 * exposition text for a small input, hostile label values included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "interface/his/metrics.h"

struct bucket_case {
    uint64_t us;
    size_t index;
};

/* Bounds are 1 2 5 10 25 50 100 250 500 1000 2500 5000 10000 ms; "le" means <=. */
static const struct bucket_case bucket_cases[] = {
    {0, 0},        {1, 0},        {1000, 0},      {1001, 1},      {2000, 1},
    {2001, 2},     {5000, 2},     {9999, 3},      {25000, 4},     {25001, 5},
    {100000, 6},   {120000, 7},   {250000, 7},    {999999, 9},    {1000000, 9},
    {2500000, 10}, {5000001, 12}, {10000000, 12}, {10000001, 13}, {UINT64_MAX, 13},
};

static void test_bucket_index(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bucket_cases / sizeof bucket_cases[0]; i++) {
        size_t got = metrics_bucket_index(bucket_cases[i].us);

        if (got != bucket_cases[i].index)
            print_error("%llu us: bucket %zu\n", (unsigned long long)bucket_cases[i].us, got);
        assert_int_equal(got, bucket_cases[i].index);
    }
}

static void test_observe(void **state)
{
    struct metrics_histogram h;

    (void)state;
    memset(&h, 0, sizeof h);
    metrics_histogram_observe(&h, 800);
    metrics_histogram_observe(&h, 1000);
    metrics_histogram_observe(&h, 3000);
    metrics_histogram_observe(&h, 20000000);
    assert_int_equal(h.counts[0], 2);
    assert_int_equal(h.counts[1], 0);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.counts[METRICS_BUCKETS], 1);
    assert_int_equal(h.count, 4);
    assert_int_equal(h.sum_us, 20004800);
    metrics_histogram_observe(&h, UINT64_MAX); /* the sum saturates, never wraps */
    assert_true(h.sum_us == UINT64_MAX);
    assert_int_equal(h.counts[METRICS_BUCKETS], 2);
}

/* clang-format off: one exposition line per source line */
static const char expected_page[] =
    "# HELP posa_build_info posad's version.\n"
    "# TYPE posa_build_info gauge\n"
    "posa_build_info{version=\"0.1.0\"} 1\n"
    "# HELP posa_his_requests_total HIS API requests by route and status.\n"
    "# TYPE posa_his_requests_total counter\n"
    "posa_his_requests_total{route=\"GET /v1/health\",status=\"200\"} 5\n"
    "posa_his_requests_total{route=\"POST /v1/visits/{id}/settle\",status=\"200\"} 2\n"
    "posa_his_requests_total{route=\"POST /v1/visits/{id}/settle\",status=\"409\"} 1\n"
    "# HELP posa_his_request_duration_seconds HIS API request latency by route.\n"
    "# TYPE posa_his_request_duration_seconds histogram\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.001\"} 2\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.002\"} 2\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.005\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.01\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.025\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.05\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.1\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.25\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"0.5\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"1\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"2.5\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"5\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"10\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"GET /v1/health\",le=\"+Inf\"} 3\n"
    "posa_his_request_duration_seconds_sum{route=\"GET /v1/health\"} 0.004800\n"
    "posa_his_request_duration_seconds_count{route=\"GET /v1/health\"} 3\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.001\"} "
    "0\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.002\"} "
    "0\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.005\"} "
    "0\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.01\"} "
    "0\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.025\"} "
    "0\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.05\"} "
    "0\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.1\"} 0\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.25\"} "
    "1\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"0.5\"} 1\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"1\"} 1\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"2.5\"} 1\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"5\"} 1\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"10\"} 1\n"
    "posa_his_request_duration_seconds_bucket{route=\"POST /v1/visits/{id}/settle\",le=\"+Inf\"} "
    "2\n"
    "posa_his_request_duration_seconds_sum{route=\"POST /v1/visits/{id}/settle\"} 15.120000\n"
    "posa_his_request_duration_seconds_count{route=\"POST /v1/visits/{id}/settle\"} 2\n"
    "# HELP posa_upstream_state Provincial platform link: 0 offline, 1 degraded, 2 online.\n"
    "# TYPE posa_upstream_state gauge\n"
    "posa_upstream_state 1\n"
    "# HELP posa_database_state posad's database: 0 failed (restart posad) or damaged (restore "
    "posad.db: the log says how), 1 disk full, 2 ok.\n"
    "# TYPE posa_database_state gauge\n"
    "posa_database_state 2\n"
    "# HELP posa_queue_depth Upstream messages waiting in the outbox.\n"
    "# TYPE posa_queue_depth gauge\n"
    "posa_queue_depth 3\n"
    "# HELP posa_queue_oldest_age_seconds Age of the oldest waiting message.\n"
    "# TYPE posa_queue_oldest_age_seconds gauge\n"
    "posa_queue_oldest_age_seconds 42\n"
    "# HELP posa_queue_unknown Messages whose outcome is being resolved.\n"
    "# TYPE posa_queue_unknown gauge\n"
    "posa_queue_unknown 1\n"
    "# HELP posa_catalog_items Items of the treating region's catalog the split uses.\n"
    "# TYPE posa_catalog_items gauge\n"
    "posa_catalog_items 100267\n"
    "# HELP posa_catalog_loaded_timestamp_seconds When the catalog in use was downloaded (Unix "
    "time); 0: none.\n"
    "# TYPE posa_catalog_loaded_timestamp_seconds gauge\n"
    "posa_catalog_loaded_timestamp_seconds 1795708800\n"
    "# HELP posa_upstream_request_duration_seconds Exchanges of national messages with the "
    "provincial platform, by infno: from sending to the answer or the failure.\n"
    "# TYPE posa_upstream_request_duration_seconds histogram\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.001\"} 0\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.002\"} 0\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.005\"} 1\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.01\"} 1\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.025\"} 1\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.05\"} 1\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.1\"} 1\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.25\"} 1\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"0.5\"} 2\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"1\"} 2\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"2.5\"} 2\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"5\"} 2\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"10\"} 2\n"
    "posa_upstream_request_duration_seconds_bucket{infno=\"2207\",le=\"+Inf\"} 2\n"
    "posa_upstream_request_duration_seconds_sum{infno=\"2207\"} 0.264000\n"
    "posa_upstream_request_duration_seconds_count{infno=\"2207\"} 2\n"
    "# HELP posa_settlements Settlements by state.\n"
    "# TYPE posa_settlements gauge\n"
    /* every known state, 0 when none is in it; an unknown one after them, escaped */
    "posa_settlements{state=\"pending\"} 0\n"
    "posa_settlements{state=\"queued\"} 0\n"
    "posa_settlements{state=\"unknown\"} 1\n"
    "posa_settlements{state=\"settled\"} 2\n"
    "posa_settlements{state=\"refused\"} 0\n"
    "posa_settlements{state=\"reversed\"} 0\n"
    "posa_settlements{state=\"cancelled\"} 0\n"
    "posa_settlements{state=\"failed\"} 0\n"
    "posa_settlements{state=\"a\\\"b\\\\c\\nd\xEF\xBF\xBD\"} 7\n"
    "# HELP posa_db_commits_total Database transactions committed since start.\n"
    "# TYPE posa_db_commits_total counter\n"
    "posa_db_commits_total 40\n"
    "# HELP posa_db_jobs_total Database jobs run since start; jobs per commit is the group "
    "commit's grouping.\n"
    "# TYPE posa_db_jobs_total counter\n"
    "posa_db_jobs_total 250\n"
    "# HELP posa_db_syncs_total Fsyncs of the database's WAL since start; commits per sync is "
    "how many groups one covered.\n"
    "# TYPE posa_db_syncs_total counter\n"
    "posa_db_syncs_total 31\n"
    "# HELP posa_db_job_duration_seconds Database jobs, from submission to their result: the "
    "group's commit, and the WAL's fsync for a write that must be on disk first.\n"
    "# TYPE posa_db_job_duration_seconds histogram\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.001\"} 1\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.002\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.005\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.01\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.025\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.05\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.1\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.25\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"0.5\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"1\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"2.5\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"5\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"10\"} 2\n"
    "posa_db_job_duration_seconds_bucket{le=\"+Inf\"} 2\n"
    "posa_db_job_duration_seconds_sum 0.002500\n"
    "posa_db_job_duration_seconds_count 2\n";
/* clang-format on */

static void test_page(void **state)
{
    static const struct metrics_status_count health[] = {{200, 5}};
    static const struct metrics_status_count settle[] = {{200, 2}, {409, 1}};
    static const struct metrics_state_count states[] = {
        {"settled", 2}, {"unknown", 1}, {"a\"b\\c\nd\xff", 7}};
    struct metrics_infno infnos[1] = {{.infno = "2207"}};
    struct metrics_histogram db_jobs = {0};
    struct metrics_route routes[2] = {
        {.route = "GET /v1/health", .statuses = health, .n_statuses = 1},
        {.route = "POST /v1/visits/{id}/settle", .statuses = settle, .n_statuses = 2},
    };
    struct metrics_view view = {
        .version = "0.1.0",
        .routes = routes,
        .n_routes = 2,
        .upstream = METRICS_UPSTREAM_DEGRADED,
        .database = METRICS_DATABASE_OK,
        .db_read = true,
        .queue_depth = 3,
        .queue_oldest_age_s = 42,
        .queue_unknown = 1,
        .settlements = states,
        .n_settlements = 3,
        .db_commits = 40,
        .db_jobs = 250,
        .db_syncs = 31,
        .catalog_items = 100267,
        .catalog_loaded_at_s = 1795708800,
        .upstream_latency = infnos,
        .n_upstream_latency = 1,
        .db_job_latency = &db_jobs,
    };
    struct html_buf buf;

    (void)state;
    metrics_histogram_observe(&routes[0].latency, 800);
    metrics_histogram_observe(&routes[0].latency, 1000);
    metrics_histogram_observe(&routes[0].latency, 3000);
    metrics_histogram_observe(&routes[1].latency, 120000);
    metrics_histogram_observe(&routes[1].latency, 15000000);
    metrics_histogram_observe(&infnos[0].latency, 4000);
    metrics_histogram_observe(&infnos[0].latency, 260000);
    metrics_histogram_observe(&db_jobs, 1500);
    metrics_histogram_observe(&db_jobs, 1000); /* a bound's own bucket */
    html_buf_init(&buf, HTML_BUF_CEILING);
    assert_int_equal(metrics_format(&view, &buf), 0);
    assert_string_equal(buf.data, expected_page);
    html_buf_done(&buf);

    /* The same page does not fit under a ceiling one byte short of it. */
    html_buf_init(&buf, sizeof expected_page - 2);
    assert_int_equal(metrics_format(&view, &buf), POSA_ETOOLONG);
    html_buf_done(&buf);
    html_buf_init(&buf, sizeof expected_page - 1);
    assert_int_equal(metrics_format(&view, &buf), 0);
    html_buf_done(&buf);
}

static void test_label_escape(void **state)
{
    struct html_buf buf;

    (void)state;
    html_buf_init(&buf, 256);
    assert_int_equal(metrics_label_escape(&buf, "x\\y\"z\nw 张"), 0);
    assert_string_equal(buf.data, "x\\\\y\\\"z\\nw 张");
    html_buf_done(&buf);
}

static uint32_t next_random(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

/* Any bytes in: one line of well-formed UTF-8 out, every backslash starting \\, \" or \n,
 * and no bare double quote that would end the label value early. */
static void test_label_escape_random(void **state)
{
    static const char special[] = "\\\"\n\r{}=,\x80\xc3\xe5\xff";
    uint32_t seed = 4;

    (void)state;
    for (int round = 0; round < 3000; round++) {
        char in[65];
        size_t n = next_random(&seed) % 65;
        struct html_buf buf;

        for (size_t i = 0; i < n; i++) {
            uint32_t r = next_random(&seed);
            char c = (r & 1) ? special[(r >> 1) % (sizeof special - 1)] : (char)(r >> 1);

            in[i] = c ? c : 'x';
        }
        in[n] = '\0';
        html_buf_init(&buf, HTML_BUF_CEILING);
        assert_int_equal(metrics_label_escape(&buf, in), 0);
        for (size_t i = 0; i < buf.len;) {
            size_t len = html_utf8_len(buf.data + i, buf.len - i);

            assert_true(len > 0);
            assert_true(buf.data[i] != '\n' && buf.data[i] != '"');
            if (buf.data[i] == '\\') {
                assert_true(i + 1 < buf.len);
                assert_non_null(strchr("\\\"n", buf.data[i + 1]));
                len = 2;
            }
            i += len;
        }
        html_buf_done(&buf);
    }
}

static void test_bad_upstream(void **state)
{
    struct metrics_view views[] = {{.upstream = (enum metrics_upstream)7},
                                   {.database = (enum metrics_database)3}};
    struct html_buf buf;

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        html_buf_init(&buf, 256);
        assert_int_equal(metrics_format(&views[i], &buf), POSA_ERANGE);
        assert_int_equal(buf.len, 0);
        html_buf_done(&buf);
    }
}

/* A failed database runs no job: the page says so, and leaves out what it could not read
 * rather than show a queue of 0 and counters gone back to 0. */
static void test_database_unread(void **state)
{
    struct metrics_view view = {.upstream = METRICS_UPSTREAM_ONLINE,
                                .database = METRICS_DATABASE_FAILED,
                                .queue_depth = 5,
                                .db_commits = 9};
    struct html_buf buf;

    (void)state;
    html_buf_init(&buf, HTML_BUF_CEILING);
    assert_int_equal(metrics_format(&view, &buf), 0);
    assert_non_null(strstr(buf.data, "\nposa_database_state 0\n"));
    assert_non_null(strstr(buf.data, "\nposa_upstream_state 2\n"));
    assert_null(strstr(buf.data, "posa_queue_depth"));
    assert_null(strstr(buf.data, "posa_settlements"));
    assert_null(strstr(buf.data, "posa_db_commits_total"));
    html_buf_done(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_index),
        cmocka_unit_test(test_observe),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_label_escape),
        cmocka_unit_test(test_bad_upstream),
        cmocka_unit_test(test_label_escape_random),
        cmocka_unit_test(test_database_unread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
