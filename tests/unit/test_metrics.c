/* metrics: Prometheus text 0.0.4, escaped labels, sorted families and series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static int setup(void **state)
{
    *state = metrics_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    metrics_free(*state);
    return 0;
}

/* The render without the process_resident_memory_bytes family, whose value changes from run to run. */
static char *render_without_rss(struct metrics *m)
{
    char *text = metrics_render(m);
    assert_non_null(text);
    char *at = strstr(text, "# HELP process_resident_memory_bytes");
    if (at) {
        char *end = strstr(at, "\nprocess_resident_memory_bytes ");
        assert_non_null(end);
        end = strchr(end + 1, '\n');
        assert_non_null(end);
        memmove(at, end + 1, strlen(end + 1) + 1);
    }
    return text;
}

static void test_render_sorts_families_and_series(void **state)
{
    struct metrics *m = *state;
    assert_int_equal(metrics_counter_add(m, "flinkop_reconciles_total", "Reconciles finished, by kind and result.",
                                         L("result", "ok", "kind", "FlinkDeployment"), 1), 0);
    assert_int_equal(metrics_counter_add(m, "flinkop_api_requests_total", "API requests, by verb and code.",
                                         L("verb", "PATCH", "code", "200"), 3), 0);
    assert_int_equal(metrics_counter_add(m, "flinkop_api_requests_total", NULL, L("code", "200", "verb", "GET"), 2),
                     0);
    assert_int_equal(metrics_counter_add(m, "flinkop_api_requests_total", NULL, L("verb", "GET", "code", "200"), 5),
                     0);
    assert_int_equal(metrics_counter_add(m, "flinkop_reconciles_total", NULL,
                                         L("kind", "FlinkDeployment", "result", "error"), 1), 0);
    assert_int_equal(metrics_gauge_set(m, "flinkop_queue_depth", "Keys waiting in the work queue.", NULL, 4), 0);
    assert_int_equal(metrics_gauge_add(m, "flinkop_queue_depth", NULL, NULL, -1), 0);
    char *text = render_without_rss(m);
    assert_string_equal(text, "# HELP flinkop_api_requests_total API requests, by verb and code.\n"
                              "# TYPE flinkop_api_requests_total counter\n"
                              "flinkop_api_requests_total{code=\"200\",verb=\"GET\"} 7\n"
                              "flinkop_api_requests_total{code=\"200\",verb=\"PATCH\"} 3\n"
                              "# HELP flinkop_queue_depth Keys waiting in the work queue.\n"
                              "# TYPE flinkop_queue_depth gauge\n"
                              "flinkop_queue_depth 3\n"
                              "# HELP flinkop_reconciles_total Reconciles finished, by kind and result.\n"
                              "# TYPE flinkop_reconciles_total counter\n"
                              "flinkop_reconciles_total{kind=\"FlinkDeployment\",result=\"error\"} 1\n"
                              "flinkop_reconciles_total{kind=\"FlinkDeployment\",result=\"ok\"} 1\n");
    free(text);
}

static void test_label_values_and_help_are_escaped(void **state)
{
    struct metrics *m = *state;
    assert_int_equal(metrics_counter_add(m, "flinkop_policy_errors_total", "Policy errors.\nBy \"policy\" \\ name.",
                                         L("policy", "a\\b \"c\"\nd"), 1), 0);
    char *text = render_without_rss(m);
    assert_string_equal(text, "# HELP flinkop_policy_errors_total Policy errors.\\nBy \"policy\" \\\\ name.\n"
                              "# TYPE flinkop_policy_errors_total counter\n"
                              "flinkop_policy_errors_total{policy=\"a\\\\b \\\"c\\\"\\nd\"} 1\n");
    free(text);
}

static void test_histogram_renders_cumulative_buckets_sum_and_count(void **state)
{
    struct metrics *m = *state;
    const double bounds[] = {0.001, 0.01, 0.1};
    assert_int_equal(metrics_declare_histogram(m, "flinkop_policy_evaluation_seconds",
                                               "Time to evaluate a policy.", bounds, 3), 0);
    assert_int_equal(metrics_histogram_observe(m, "flinkop_policy_evaluation_seconds", NULL, L("policy", "p"),
                                               0.0005), 0);
    assert_int_equal(metrics_histogram_observe(m, "flinkop_policy_evaluation_seconds", NULL, L("policy", "p"),
                                               0.005), 0);
    assert_int_equal(metrics_histogram_observe(m, "flinkop_policy_evaluation_seconds", NULL, L("policy", "p"), 2),
                     0);
    assert_int_equal(metrics_histogram_observe(m, "flinkop_policy_evaluation_seconds", NULL, NULL, 0.25), 0);
    char *text = render_without_rss(m);
    assert_string_equal(text, "# HELP flinkop_policy_evaluation_seconds Time to evaluate a policy.\n"
                              "# TYPE flinkop_policy_evaluation_seconds histogram\n"
                              "flinkop_policy_evaluation_seconds_bucket{le=\"0.001\"} 0\n"
                              "flinkop_policy_evaluation_seconds_bucket{le=\"0.01\"} 0\n"
                              "flinkop_policy_evaluation_seconds_bucket{le=\"0.1\"} 0\n"
                              "flinkop_policy_evaluation_seconds_bucket{le=\"+Inf\"} 1\n"
                              "flinkop_policy_evaluation_seconds_sum 0.25\n"
                              "flinkop_policy_evaluation_seconds_count 1\n"
                              "flinkop_policy_evaluation_seconds_bucket{policy=\"p\",le=\"0.001\"} 1\n"
                              "flinkop_policy_evaluation_seconds_bucket{policy=\"p\",le=\"0.01\"} 2\n"
                              "flinkop_policy_evaluation_seconds_bucket{policy=\"p\",le=\"0.1\"} 2\n"
                              "flinkop_policy_evaluation_seconds_bucket{policy=\"p\",le=\"+Inf\"} 3\n"
                              "flinkop_policy_evaluation_seconds_sum{policy=\"p\"} 2.0055\n"
                              "flinkop_policy_evaluation_seconds_count{policy=\"p\"} 3\n");
    free(text);
    assert_true(metrics_value(m, "flinkop_policy_evaluation_seconds", L("policy", "p")) == 3);
}

static void test_default_histogram_buckets_exist(void **state)
{
    struct metrics *m = *state;
    assert_int_equal(metrics_histogram_observe(m, "h_seconds", "h", NULL, 0.002), 0);
    char *text = render_without_rss(m);
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"0.0005\"} 0\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"+Inf\"} 1\n"));
    free(text);
}

static void test_info_gauge_reset_replaces_hash(void **state)
{
    struct metrics *m = *state;
    metrics_gauge_set(m, "flinkop_policy_info", "The loaded policies.", L("hash", "aaa"), 1);
    metrics_reset(m, "flinkop_policy_info");
    metrics_gauge_set(m, "flinkop_policy_info", NULL, L("hash", "bbb"), 1);
    char *text = render_without_rss(m);
    assert_string_equal(text, "# HELP flinkop_policy_info The loaded policies.\n"
                              "# TYPE flinkop_policy_info gauge\n"
                              "flinkop_policy_info{hash=\"bbb\"} 1\n");
    free(text);
    metrics_reset(m, "no_such_family");
}

static void test_numbers_print_exactly(void **state)
{
    struct metrics *m = *state;
    metrics_gauge_set(m, "g", "g", L("v", "big"), 1e15);
    metrics_gauge_set(m, "g", NULL, L("v", "frac"), 0.1);
    metrics_gauge_set(m, "g", NULL, L("v", "neg"), -2.5);
    metrics_gauge_set(m, "g", NULL, L("v", "nan"), NAN);
    metrics_gauge_set(m, "g", NULL, L("v", "inf"), INFINITY);
    char *text = render_without_rss(m);
    assert_non_null(strstr(text, "g{v=\"big\"} 1000000000000000\n"));
    assert_non_null(strstr(text, "g{v=\"frac\"} 0.1\n"));
    assert_non_null(strstr(text, "g{v=\"neg\"} -2.5\n"));
    assert_non_null(strstr(text, "g{v=\"nan\"} NaN\n"));
    assert_non_null(strstr(text, "g{v=\"inf\"} +Inf\n"));
    free(text);
}

static void test_invalid_input_is_refused(void **state)
{
    struct metrics *m = *state;
    assert_int_equal(metrics_counter_add(m, "1bad", "h", NULL, 1), -1);
    assert_int_equal(metrics_counter_add(m, "bad-name", "h", NULL, 1), -1);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", L("bad-label", "x"), 1), -1);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", L("__reserved", "x"), 1), -1);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", L("a", "x", "a", "y"), 1), -1);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", NULL, -1), -1); /* counters never go down */
    assert_int_equal(metrics_counter_add(m, "c_total", "h", NULL, NAN), -1);
    assert_int_equal(metrics_counter_add(m, "c_total", "h", NULL, 1), 0);
    assert_int_equal(metrics_gauge_set(m, "c_total", "h", NULL, 1), -1); /* another type */
    assert_int_equal(metrics_histogram_observe(m, "h", "h", L("le", "1"), 1), -1);
    const double unsorted[] = {1, 0.5};
    assert_int_equal(metrics_declare_histogram(m, "h2", "h", unsorted, 2), -1);
    assert_int_equal(metrics_declare(m, "c_total", METRICS_COUNTER, "h"), 0);
    assert_int_equal(metrics_declare(m, "c_total", METRICS_GAUGE, "h"), -1);
    assert_true(metrics_value(m, "c_total", NULL) == 1);
    assert_true(isnan(metrics_value(m, "c_total", L("a", "b"))));
    assert_true(isnan(metrics_value(m, "nope", NULL)));
}

static void test_declared_family_without_series_is_not_rendered(void **state)
{
    struct metrics *m = *state;
    assert_int_equal(metrics_declare(m, "flinkop_watch_restarts_total", METRICS_COUNTER, "Watch restarts."), 0);
    char *text = render_without_rss(m);
    assert_string_equal(text, "");
    free(text);
    metrics_counter_add(m, "flinkop_watch_restarts_total", NULL, L("resource", "pods"), 1);
    text = render_without_rss(m);
    assert_string_equal(text, "# HELP flinkop_watch_restarts_total Watch restarts.\n"
                              "# TYPE flinkop_watch_restarts_total counter\n"
                              "flinkop_watch_restarts_total{resource=\"pods\"} 1\n");
    free(text);
}

static void test_render_reports_resident_memory(void **state)
{
    struct metrics *m = *state;
    char *text = metrics_render(m);
    assert_non_null(text);
    const char *at = strstr(text, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ");
    assert_non_null(at);
    double rss = strtod(strchr(at, '\n') + strlen("\nprocess_resident_memory_bytes "), NULL);
    assert_true(rss > 4096);
    free(text);
}

static void test_many_series_are_all_kept(void **state)
{
    struct metrics *m = *state;
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "p%04d", i);
        assert_int_equal(metrics_counter_add(m, "flinkop_policy_errors_total", "e", L("policy", name), 1), 0);
        snprintf(name, sizeof name, "fam_%04d", 1999 - i);
        assert_int_equal(metrics_gauge_set(m, name, "g", NULL, i), 0);
    }
    char *text = render_without_rss(m);
    assert_non_null(strstr(text, "flinkop_policy_errors_total{policy=\"p0000\"} 1\n"
                                 "flinkop_policy_errors_total{policy=\"p0001\"} 1\n"));
    assert_non_null(strstr(text, "flinkop_policy_errors_total{policy=\"p1999\"} 1\n"));
    const char *a = strstr(text, "fam_0000 1999\n"), *b = strstr(text, "fam_1999 0\n");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_render_sorts_families_and_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_values_and_help_are_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram_renders_cumulative_buckets_sum_and_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_histogram_buckets_exist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_info_gauge_reset_replaces_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_print_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_family_without_series_is_not_rendered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_reports_resident_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_series_are_all_kept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
