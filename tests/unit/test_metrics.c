/*
 * test_metrics.c — the metrics registry: exact Prometheus text output,
 * validation of names, labels and bounds, registration identity, and
 * exact totals under concurrent updates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Renders and checks the reported length; the caller frees. */
static char *render(metrics_registry_t *reg)
{
    char *text = NULL;
    size_t length = 0;
    assert_int_equal(metrics_render(reg, &text, &length), 0);
    assert_non_null(text);
    assert_int_equal(length, strlen(text));
    return text;
}

static void assert_renders(metrics_registry_t *reg, const char *expected)
{
    char *text = render(reg);
    assert_string_equal(text, expected);
    free(text);
}

static keel_metric_t *must_register(metrics_registry_t *reg, metric_type_t type, const char *name,
                                    const char *help, const char *labels, const double *bounds,
                                    size_t bound_count)
{
    keel_metric_t *metric = NULL;
    assert_int_equal(metrics_register(reg, type, name, help, labels, bounds, bound_count, &metric),
                     0);
    assert_non_null(metric);
    return metric;
}

static void test_empty_registry_renders_empty_string(void **state)
{
    metrics_registry_t *reg = metrics_new();
    assert_non_null(reg);
    assert_renders(reg, "");
    metrics_free(reg);
}

static void test_counter_renders_exactly(void **state)
{
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *plain = must_register(reg, METRIC_COUNTER, "keel_requests_total",
                                         "Requests handled.", NULL, NULL, 0);
    keel_metric_t *labelled = must_register(reg, METRIC_COUNTER, "keel_errors_total", "Errors.",
                                            "queue=\"orders\",instance=\"in1\"", NULL, 0);
    metrics_add(plain, 3);
    metrics_add(plain, 0.5);
    metrics_add(labelled, 7);
    assert_true(metrics_value(plain) == 3.5);
    assert_renders(reg, "# HELP keel_requests_total Requests handled.\n"
                        "# TYPE keel_requests_total counter\n"
                        "keel_requests_total 3.5\n"
                        "# HELP keel_errors_total Errors.\n"
                        "# TYPE keel_errors_total counter\n"
                        "keel_errors_total{queue=\"orders\",instance=\"in1\"} 7\n");
    metrics_free(reg);
}

static void test_gauge_renders_exactly(void **state)
{
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *depth =
        must_register(reg, METRIC_GAUGE, "keel_queue_depth", "Queued items.", "q=\"a\"", NULL, 0);
    keel_metric_t *temperature =
        must_register(reg, METRIC_GAUGE, "keel_temperature_celsius", NULL, NULL, NULL, 0);
    metrics_set(depth, 10);
    metrics_add(depth, -12.5); /* gauges go down too */
    metrics_set(temperature, -0.0);
    assert_renders(reg, "# HELP keel_queue_depth Queued items.\n"
                        "# TYPE keel_queue_depth gauge\n"
                        "keel_queue_depth{q=\"a\"} -2.5\n"
                        "# TYPE keel_temperature_celsius gauge\n"
                        "keel_temperature_celsius 0\n");
    metrics_free(reg);
}

static void test_histogram_renders_exactly(void **state)
{
    metrics_registry_t *reg = metrics_new();
    const double bounds[] = {0.005, 0.25, 1, 5};
    keel_metric_t *latency = must_register(reg, METRIC_HISTOGRAM, "http_latency_seconds",
                                           "Latency.", "route=\"/x\"", bounds, 4);
    /* A value equal to a bound belongs to that bound's bucket. */
    const double observations[] = {-1, 0.25, 0.25, 1, 3, 7};
    for (size_t i = 0; i < sizeof(observations) / sizeof(observations[0]); i++)
        metrics_observe(latency, observations[i]);
    assert_true(metrics_value(latency) == 10.5);
    assert_renders(reg, "# HELP http_latency_seconds Latency.\n"
                        "# TYPE http_latency_seconds histogram\n"
                        "http_latency_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n"
                        "http_latency_seconds_bucket{route=\"/x\",le=\"0.25\"} 3\n"
                        "http_latency_seconds_bucket{route=\"/x\",le=\"1\"} 4\n"
                        "http_latency_seconds_bucket{route=\"/x\",le=\"5\"} 5\n"
                        "http_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 6\n"
                        "http_latency_seconds_sum{route=\"/x\"} 10.5\n"
                        "http_latency_seconds_count{route=\"/x\"} 6\n");
    metrics_free(reg);
}

static void test_histogram_without_labels_or_bounds(void **state)
{
    metrics_registry_t *reg = metrics_new();
    const double bounds[] = {1};
    keel_metric_t *one = must_register(reg, METRIC_HISTOGRAM, "one", "h", NULL, bounds, 1);
    keel_metric_t *none = must_register(reg, METRIC_HISTOGRAM, "none", "h", "", NULL, 0);
    metrics_observe(one, 1);
    metrics_observe(one, 2);
    metrics_observe(none, 4);
    assert_renders(reg, "# HELP one h\n"
                        "# TYPE one histogram\n"
                        "one_bucket{le=\"1\"} 1\n"
                        "one_bucket{le=\"+Inf\"} 2\n"
                        "one_sum 3\n"
                        "one_count 2\n"
                        "# HELP none h\n"
                        "# TYPE none histogram\n"
                        "none_bucket{le=\"+Inf\"} 1\n"
                        "none_sum 4\n"
                        "none_count 1\n");
    metrics_free(reg);
}

static void test_series_grouped_under_one_help_and_type(void **state)
{
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *first = must_register(reg, METRIC_COUNTER, "a_total", "A.", "k=\"1\"", NULL, 0);
    keel_metric_t *other = must_register(reg, METRIC_GAUGE, "b", "B.", NULL, NULL, 0);
    keel_metric_t *second = must_register(reg, METRIC_COUNTER, "a_total", "A.", "k=\"2\"", NULL, 0);
    keel_metric_t *bare = must_register(reg, METRIC_COUNTER, "a_total", "A.", NULL, NULL, 0);
    metrics_add(first, 1);
    metrics_add(second, 2);
    metrics_add(bare, 3);
    metrics_set(other, 4);
    assert_renders(reg, "# HELP a_total A.\n"
                        "# TYPE a_total counter\n"
                        "a_total{k=\"1\"} 1\n"
                        "a_total{k=\"2\"} 2\n"
                        "a_total 3\n"
                        "# HELP b B.\n"
                        "# TYPE b gauge\n"
                        "b 4\n");
    metrics_free(reg);
}

static void test_help_and_label_escaping(void **state)
{
    metrics_registry_t *reg = metrics_new();
    const char *labels = "path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\\nbye\",utf8=\"caf\xc3\xa9\"";
    must_register(reg, METRIC_GAUGE, "escaped", "Line one\nback\\slash \"quoted\"", labels, NULL,
                  0);
    assert_renders(reg,
                   "# HELP escaped Line one\\nback\\\\slash \"quoted\"\n"
                   "# TYPE escaped gauge\n"
                   "escaped{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\\nbye\",utf8=\"caf\xc3\xa9\"} "
                   "0\n");
    metrics_free(reg);
}

static void test_number_formatting(void **state)
{
    static const struct {
        double value;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},
        {-42, "-42"},
        {1e300, "1e+300"},
        {1.0 / 3.0, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},       /* needs all 17 digits */
        {9007199254740991.0, "9007199254740991"}, /* 2^53 - 1: integral */
        {9007199254740992.0, "9007199254740992"}, /* 2^53: %g path, still exact */
        {123456789012.5, "123456789012.5"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {NAN, "NaN"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        metrics_registry_t *reg = metrics_new();
        metrics_set(must_register(reg, METRIC_GAUGE, "g", NULL, NULL, NULL, 0), cases[i].value);
        char expected[128];
        snprintf(expected, sizeof(expected), "# TYPE g gauge\ng %s\n", cases[i].text);
        assert_renders(reg, expected);
        metrics_free(reg);
    }
}

static void test_invalid_names_rejected(void **state)
{
    static const char *const invalid[] = {"",    "a-b", "1abc", "a b", "a{", "caf\xc3\xa9",
                                          "a.b", "a\n", "-"};
    static const char *const valid[] = {"a", ":a", "a:b_1", "_x", "A9:"};
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *metric = NULL;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_int_equal(
            metrics_register(reg, METRIC_COUNTER, invalid[i], "h", NULL, NULL, 0, &metric),
            KEEL_EINVAL);
    }
    assert_int_equal(metrics_register(reg, METRIC_COUNTER, NULL, "h", NULL, NULL, 0, &metric),
                     KEEL_EINVAL);
    assert_null(metric);
    assert_renders(reg, "");
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        must_register(reg, METRIC_COUNTER, valid[i], "h", NULL, NULL, 0);
    metrics_free(reg);
}

static void test_invalid_labels_rejected(void **state)
{
    static const char *const invalid[] = {
        "x=unquoted", "x=\"unterminated", "x=\"bad\\escape\"", "x=\"v\\\"",  "1x=\"v\"",
        "a-b=\"v\"",  "x:y=\"v\"",        "x=\"v\",",          ",x=\"v\"",   "x=\"v\" ",
        " x=\"v\"",   "x=\"v\"y=\"w\"",   "x=\"v\",x=\"w\"",   "x=\"a\nb\"", "x",
        "x=",         "x=\"v\",,y=\"w\"", "{x=\"v\"}",         "x='v'",      "x = \"v\"",
    };
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *metric = NULL;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_int_equal(
            metrics_register(reg, METRIC_GAUGE, "g", "h", invalid[i], NULL, 0, &metric),
            KEEL_EINVAL);
    }
    /* `le` is the renderer's on a histogram, but any other type may use it. */
    const double bounds[] = {1};
    assert_int_equal(
        metrics_register(reg, METRIC_HISTOGRAM, "h", "h", "le=\"1\"", bounds, 1, &metric),
        KEEL_EINVAL);
    assert_null(metric);
    assert_renders(reg, "");
    must_register(reg, METRIC_GAUGE, "g", "h", "le=\"1\",_a=\"\",b9=\"\\\\\\n\\\"\"", NULL, 0);
    metrics_free(reg);
}

static void test_invalid_bounds_rejected(void **state)
{
    double too_many[65];
    for (size_t i = 0; i < 65; i++)
        too_many[i] = (double)i;
    const double descending[] = {2, 1}, repeated[] = {1, 1}, nan[] = {NAN}, inf[] = {1, INFINITY};
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *metric = NULL;
    assert_int_equal(metrics_register(reg, METRIC_HISTOGRAM, "h", "", NULL, descending, 2, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_HISTOGRAM, "h", "", NULL, repeated, 2, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_HISTOGRAM, "h", "", NULL, nan, 1, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_HISTOGRAM, "h", "", NULL, inf, 2, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_HISTOGRAM, "h", "", NULL, too_many, 65, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_HISTOGRAM, "h", "", NULL, NULL, 2, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_COUNTER, "c", "", NULL, repeated, 1, &metric),
                     KEEL_EINVAL);
    assert_null(metric);
    must_register(reg, METRIC_HISTOGRAM, "h", "", NULL, too_many, 64);
    metrics_free(reg);
}

static void test_type_and_bounds_conflicts(void **state)
{
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *metric = NULL;
    const double bounds[] = {1, 2}, other_bounds[] = {1, 3};
    must_register(reg, METRIC_COUNTER, "m", "h", "k=\"v\"", NULL, 0);
    assert_int_equal(metrics_register(reg, METRIC_GAUGE, "m", "h", "k=\"v\"", NULL, 0, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_GAUGE, "m", "h", "k=\"w\"", NULL, 0, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_HISTOGRAM, "m", "h", NULL, bounds, 2, &metric),
                     KEEL_EINVAL);
    must_register(reg, METRIC_HISTOGRAM, "hist", "h", NULL, bounds, 2);
    assert_int_equal(
        metrics_register(reg, METRIC_HISTOGRAM, "hist", "h", NULL, other_bounds, 2, &metric),
        KEEL_EINVAL);
    assert_int_equal(
        metrics_register(reg, METRIC_HISTOGRAM, "hist", "h", "k=\"v\"", bounds, 1, &metric),
        KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_COUNTER, "hist", "h", NULL, NULL, 0, &metric),
                     KEEL_EINVAL);
    assert_null(metric);
    must_register(reg, METRIC_HISTOGRAM, "hist", "h", "k=\"v\"", bounds, 2);
    metrics_free(reg);
}

static void test_registration_is_idempotent(void **state)
{
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *first =
        must_register(reg, METRIC_COUNTER, "c_total", "First help.", "a=\"1\",b=\"2\"", NULL, 0);
    assert_ptr_equal(
        must_register(reg, METRIC_COUNTER, "c_total", "First help.", "a=\"1\",b=\"2\"", NULL, 0),
        first);
    /* Label order does not make another series; the first spelling renders. */
    assert_ptr_equal(
        must_register(reg, METRIC_COUNTER, "c_total", "Other help.", "b=\"2\",a=\"1\"", NULL, 0),
        first);
    keel_metric_t *unlabelled = must_register(reg, METRIC_COUNTER, "c_total", "", NULL, NULL, 0);
    assert_ptr_equal(must_register(reg, METRIC_COUNTER, "c_total", "", "", NULL, 0), unlabelled);
    assert_ptr_not_equal(unlabelled, first);
    assert_ptr_not_equal(
        must_register(reg, METRIC_COUNTER, "c_total", "", "a=\"1\",b=\"3\"", NULL, 0), first);
    /* A label name that is a prefix of another is still a different label. */
    keel_metric_t *prefix = must_register(reg, METRIC_COUNTER, "p", "", "a=\"1\"", NULL, 0);
    assert_ptr_not_equal(must_register(reg, METRIC_COUNTER, "p", "", "a1=\"1\"", NULL, 0), prefix);
    metrics_add(first, 1);
    assert_renders(reg, "# HELP c_total First help.\n"
                        "# TYPE c_total counter\n"
                        "c_total{a=\"1\",b=\"2\"} 1\n"
                        "c_total 0\n"
                        "c_total{a=\"1\",b=\"3\"} 0\n"
                        "# TYPE p counter\n"
                        "p{a=\"1\"} 0\n"
                        "p{a1=\"1\"} 0\n");
    metrics_free(reg);
}

static void test_updates_of_the_wrong_kind_are_ignored(void **state)
{
    metrics_registry_t *reg = metrics_new();
    const double bounds[] = {1};
    keel_metric_t *counter = must_register(reg, METRIC_COUNTER, "c", NULL, NULL, NULL, 0);
    keel_metric_t *histogram = must_register(reg, METRIC_HISTOGRAM, "h", NULL, NULL, bounds, 1);
    metrics_add(counter, 5);
    metrics_add(counter, -3);
    metrics_add(counter, NAN);
    metrics_add(counter, -INFINITY);
    metrics_set(counter, 100);
    metrics_observe(counter, 100);
    metrics_add(histogram, 2);
    metrics_set(histogram, 2);
    assert_true(metrics_value(counter) == 5);
    metrics_add(NULL, 1);
    metrics_set(NULL, 1);
    metrics_observe(NULL, 1);
    assert_true(metrics_value(NULL) == 0);
    assert_renders(reg, "# TYPE c counter\n"
                        "c 5\n"
                        "# TYPE h histogram\n"
                        "h_bucket{le=\"1\"} 0\n"
                        "h_bucket{le=\"+Inf\"} 0\n"
                        "h_sum 0\n"
                        "h_count 0\n");
    metrics_free(reg);
}

static void test_bad_arguments(void **state)
{
    metrics_registry_t *reg = metrics_new();
    keel_metric_t *metric = NULL;
    char *text = NULL;
    assert_int_equal(metrics_register(NULL, METRIC_COUNTER, "c", "", NULL, NULL, 0, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, METRIC_COUNTER, "c", "", NULL, NULL, 0, NULL),
                     KEEL_EINVAL);
    assert_int_equal(metrics_register(reg, (metric_type_t)7, "c", "", NULL, NULL, 0, &metric),
                     KEEL_EINVAL);
    assert_int_equal(metrics_render(NULL, &text, NULL), KEEL_EINVAL);
    assert_int_equal(metrics_render(reg, NULL, NULL), KEEL_EINVAL);
    assert_int_equal(metrics_render(reg, &text, NULL), 0); /* len is optional */
    free(text);
    metrics_free(reg);
    metrics_free(NULL);
}

/* Thousands of series across a few names: every lookup finds its own. */
static void test_many_series(void **state)
{
    enum { SERIES = 5000, NAMES = 7 };
    static keel_metric_t *metrics[SERIES];
    metrics_registry_t *reg = metrics_new();
    char name[16], labels[32];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < SERIES; i++) {
            snprintf(name, sizeof(name), "n%d", i % NAMES);
            snprintf(labels, sizeof(labels), "id=\"%d\"", i);
            keel_metric_t *metric = must_register(reg, METRIC_COUNTER, name, "", labels, NULL, 0);
            if (pass == 0)
                metrics[i] = metric;
            else
                assert_ptr_equal(metric, metrics[i]);
        }
    }
    for (int i = 0; i < SERIES; i++)
        metrics_add(metrics[i], i);
    for (int i = 0; i < SERIES; i++)
        assert_true(metrics_value(metrics[i]) == i);
    char *text = render(reg);
    size_t lines = 0;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, SERIES + NAMES);
    free(text);
    metrics_free(reg);
}

enum { THREADS = 4, ITERATIONS = 100000 };

typedef struct shared_metrics {
    metrics_registry_t *reg;
    keel_metric_t *counter;
    keel_metric_t *histogram;
    atomic_bool stop_rendering;
} shared_metrics_t;

typedef struct updater {
    shared_metrics_t *shared;
    keel_metric_t *registered; /* what this thread's registration returned */
} updater_t;

static void *update_metrics(void *arg)
{
    updater_t *updater = arg;
    shared_metrics_t *shared = updater->shared;
    /* Every thread registers the same series at once: all must get one pointer. */
    if (metrics_register(shared->reg, METRIC_COUNTER, "raced_total", "", "k=\"v\"", NULL, 0,
                         &updater->registered) != 0)
        return NULL;
    for (int i = 0; i < ITERATIONS; i++) {
        metrics_add(shared->counter, 1);
        metrics_observe(shared->histogram, i % 2 ? 0.5 : 2);
    }
    return NULL;
}

/* Rendering while others update must be race-free (TSan build). */
static void *render_until_stopped(void *arg)
{
    shared_metrics_t *shared = arg;
    while (!atomic_load(&shared->stop_rendering)) {
        char *text = NULL;
        if (metrics_render(shared->reg, &text, NULL) == 0)
            free(text);
    }
    return NULL;
}

static void test_concurrent_updates_are_exact(void **state)
{
    const double bounds[] = {1};
    shared_metrics_t shared = {.reg = metrics_new()};
    atomic_init(&shared.stop_rendering, false);
    shared.counter = must_register(shared.reg, METRIC_COUNTER, "ops_total", "", NULL, NULL, 0);
    shared.histogram = must_register(shared.reg, METRIC_HISTOGRAM, "op_size", "", NULL, bounds, 1);
    pthread_t threads[THREADS], renderer;
    updater_t updaters[THREADS] = {{0}};
    assert_int_equal(pthread_create(&renderer, NULL, render_until_stopped, &shared), 0);
    for (int i = 0; i < THREADS; i++) {
        updaters[i].shared = &shared;
        assert_int_equal(pthread_create(&threads[i], NULL, update_metrics, &updaters[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    atomic_store(&shared.stop_rendering, true);
    assert_int_equal(pthread_join(renderer, NULL), 0);

    assert_true(metrics_value(shared.counter) == THREADS * ITERATIONS);
    for (int i = 0; i < THREADS; i++) {
        assert_non_null(updaters[i].registered);
        assert_ptr_equal(updaters[i].registered, updaters[0].registered);
    }
    assert_renders(shared.reg, "# TYPE ops_total counter\n"
                               "ops_total 400000\n"
                               "# TYPE op_size histogram\n"
                               "op_size_bucket{le=\"1\"} 200000\n"
                               "op_size_bucket{le=\"+Inf\"} 400000\n"
                               "op_size_sum 500000\n"
                               "op_size_count 400000\n"
                               "# TYPE raced_total counter\n"
                               "raced_total{k=\"v\"} 0\n");
    metrics_free(shared.reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_registry_renders_empty_string),
        cmocka_unit_test(test_counter_renders_exactly),
        cmocka_unit_test(test_gauge_renders_exactly),
        cmocka_unit_test(test_histogram_renders_exactly),
        cmocka_unit_test(test_histogram_without_labels_or_bounds),
        cmocka_unit_test(test_series_grouped_under_one_help_and_type),
        cmocka_unit_test(test_help_and_label_escaping),
        cmocka_unit_test(test_number_formatting),
        cmocka_unit_test(test_invalid_names_rejected),
        cmocka_unit_test(test_invalid_labels_rejected),
        cmocka_unit_test(test_invalid_bounds_rejected),
        cmocka_unit_test(test_type_and_bounds_conflicts),
        cmocka_unit_test(test_registration_is_idempotent),
        cmocka_unit_test(test_updates_of_the_wrong_kind_are_ignored),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_many_series),
        cmocka_unit_test(test_concurrent_updates_are_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
