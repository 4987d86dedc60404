/* Pipeline runner tests: a real queue_lmdb instance feeding test_step
 * instances through the kernel's runner. Per-message OK/RETRY/FAIL, steps
 * chained with a replaced body, whole-batch failures (error, missing
 * result, timeout) that delete nothing, async steps, max receives → DLQ. */
#include "queue_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "record_file.h"

static const char *path_of(const char *dir, const char *name)
{
    static char paths[8][512];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 512, "%s/%s.so", dir, name);
    return out;
}

#define QUEUE_SO path_of(KEEL_BUILTIN_PLUGIN_DIR, "queue_lmdb")
#define STEP_SO  path_of(KEEL_TEST_PLUGIN_DIR, "test_step")

static uint64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Polls the queue's stats until `done` says so, up to timeout_ms. */
typedef bool (*stats_pred_t)(const keel_queue_stats_t *s, uint64_t want);
static bool wait_stats(queue_client_t *c, stats_pred_t pred, uint64_t want, uint64_t timeout_ms,
                       keel_queue_stats_t *out)
{
    uint64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        assert_int_equal(queue_stats_of(c, "orders", out), 0);
        if (pred(out, want))
            return true;
        if (monotonic_ms() > deadline)
            return false;
        pause_ms(5);
    }
}

static bool deleted_at_least(const keel_queue_stats_t *s, uint64_t want)
{
    return s->deleted >= want;
}

static bool dead_at_least(const keel_queue_stats_t *s, uint64_t want)
{
    return s->dlq_depth >= want;
}

static bool retried_at_least(const keel_queue_stats_t *s, uint64_t want)
{
    return s->retried >= want;
}

static keel_harness_t *start(const char *queue_cfg, const char *const *steps,
                             const char *const *step_cfgs, size_t n, const char *pipeline_extra)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "queues:\n  - name: orders\n%s", queue_cfg);
    assert_int_equal(keel_harness_add(h, "q", QUEUE_SO, cfg), 0);
    char step_list[256] = "";
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(keel_harness_add(h, steps[i], STEP_SO, step_cfgs[i]), 0);
        strcat(step_list, i ? ", " : "");
        strcat(step_list, steps[i]);
    }
    char pipeline[512];
    snprintf(pipeline, sizeof pipeline, "queue: q\nsteps: [%s]\n%s", step_list,
             pipeline_extra ? pipeline_extra : "");
    assert_int_equal(keel_harness_add_pipeline(h, "orders", pipeline), 0);
    assert_int_equal(keel_harness_start(h), 0);
    return h;
}

/* Lines in the record file that start with `what` and contain `body`. */
static int count_records(const char *what, const char *body)
{
    FILE *f = fopen(record_path, "r");
    if (f == NULL)
        return 0;
    char line[600];
    int n = 0;
    size_t what_len = strlen(what);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *last = strrchr(line, ' ');
        if (strncmp(line, what, what_len) == 0 && line[what_len] == ' ' && last &&
            strcmp(last + 1, body) == 0)
            n++;
    }
    fclose(f);
    return n;
}

static void test_ok_retry_fail_per_message(void **state)
{
    (void)state;
    const char *steps[] = {"check"};
    char step_cfg[400];
    snprintf(step_cfg, sizeof step_cfg, "fail_on: [bad]\nretry_on: [later]\nrecord: %s\n",
             record_path);
    const char *cfgs[] = {step_cfg};
    keel_harness_t *h = start("    visibility_timeout: 60s\n", steps, cfgs, 1, NULL);
    queue_client_t q = {0};
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    assert_int_equal(queue_send_text(&q, "orders", "good", NULL), 0);
    assert_int_equal(queue_send_text(&q, "orders", "bad", NULL), 0);
    assert_int_equal(queue_send_text(&q, "orders", "later", NULL), 0);
    keel_queue_stats_t s;
    assert_true(wait_stats(&q, deleted_at_least, 1, 10000, &s));
    assert_true(wait_stats(&q, dead_at_least, 1, 10000, &s));
    assert_true(wait_stats(&q, retried_at_least, 1, 10000, &s));
    assert_int_equal(s.deleted, 1);
    assert_int_equal(s.dlq_depth, 1);
    /* "later" waits out its 60 s visibility: in flight, not lost. */
    assert_int_equal(s.in_flight + s.visible, 1);

    keel_queue_dlq_page_t *page = NULL;
    assert_int_equal(q.api->dlq_list(q.ctx, "orders", NULL, 10, &page), 0);
    assert_int_equal(page->count, 1);
    assert_memory_equal(page->entries[0].body, "bad", 3);
    assert_string_equal(page->entries[0].failed_step, "check");
    assert_string_equal(page->entries[0].last_error, "test_step: body is in fail_on");
    q.api->dlq_page_free(q.ctx, page);
    assert_int_equal(count_records("ok", "good"), 1);
    keel_harness_free(h);
}

static void test_steps_chain_and_see_replaced_bodies(void **state)
{
    (void)state;
    const char *steps[] = {"first", "second"};
    char second_cfg[300];
    snprintf(second_cfg, sizeof second_cfg, "record: %s\nrecord_attr: stage\n", record_path);
    const char *cfgs[] = {"tag: \"+first\"\nset_attr: [stage=one, other=x, stage=two]\n",
                          second_cfg};
    keel_harness_t *h = start("", steps, cfgs, 2, NULL);
    queue_client_t q = {0};
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    for (int i = 0; i < 20; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        assert_int_equal(queue_send_text(&q, "orders", body, NULL), 0);
    }
    keel_queue_stats_t s;
    assert_true(wait_stats(&q, deleted_at_least, 20, 10000, &s));
    assert_int_equal(count_records("ok", "m7+first"), 1);
    assert_int_equal(count_records("ok", "m7"), 0);
    /* batch_set_attr: the next step sees the last value set for a key. */
    assert_int_equal(count_records("attr", "stage=two"), 20);
    assert_int_equal(count_records("attr", "stage=one"), 0);
    keel_harness_free(h);
}

/* A whole-batch failure: every message is retried, none deleted. */
static void expect_nothing_deleted(const char *mode, const char *pipeline_extra)
{
    const char *steps[] = {"broken"};
    char cfg[200];
    snprintf(cfg, sizeof cfg, "mode: %s\nhang_for: 2s\n", mode);
    const char *cfgs[] = {cfg};
    keel_harness_t *h = start("    visibility_timeout: 60s\n", steps, cfgs, 1, pipeline_extra);
    queue_client_t q = {0};
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(queue_send_text(&q, "orders", "x", NULL), 0);
    keel_queue_stats_t s;
    assert_true(wait_stats(&q, retried_at_least, 3, 10000, &s));
    assert_int_equal(s.deleted, 0);
    assert_int_equal(s.dlq_depth, 0);
    assert_int_equal(s.in_flight + s.visible, 3);
    keel_harness_free(h);
}

static void test_step_error_fails_whole_batch(void **state)
{
    (void)state;
    expect_nothing_deleted("error", NULL);
}

static void test_missing_result_fails_whole_batch(void **state)
{
    (void)state;
    expect_nothing_deleted("garbage", "batch_size: 10\n");
}

static void test_timeout_fails_whole_batch(void **state)
{
    (void)state;
    uint64_t started = monotonic_ms();
    expect_nothing_deleted("hang", "timeout: 200ms\n");
    /* Shutdown waited for the hung step (2 s), then freed everything. */
    assert_true(monotonic_ms() - started >= 1900);
}

static void test_async_step(void **state)
{
    (void)state;
    const char *steps[] = {"later"};
    const char *cfgs[] = {"mode: async\n"};
    keel_harness_t *h = start("", steps, cfgs, 1, "concurrency: 4\n");
    queue_client_t q = {0};
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(queue_send_text(&q, "orders", "async", NULL), 0);
    keel_queue_stats_t s;
    assert_true(wait_stats(&q, deleted_at_least, 50, 10000, &s));
    keel_harness_free(h);
}

static void test_retries_end_in_dlq_after_max_receives(void **state)
{
    (void)state;
    const char *steps[] = {"picky"};
    char cfg[300];
    snprintf(cfg, sizeof cfg, "retry_on: [flaky]\nrecord: %s\n", record_path);
    const char *cfgs[] = {cfg};
    keel_harness_t *h =
        start("    visibility_timeout: 1s\n    max_receives: 3\n", steps, cfgs, 1, NULL);
    queue_client_t q = {0};
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    assert_int_equal(queue_send_text(&q, "orders", "flaky", NULL), 0);
    keel_queue_stats_t s;
    assert_true(wait_stats(&q, dead_at_least, 1, 15000, &s));
    assert_int_equal(count_records("attempt", "flaky"), 3);
    keel_queue_dlq_page_t *page = NULL;
    assert_int_equal(q.api->dlq_list(q.ctx, "orders", NULL, 10, &page), 0);
    assert_int_equal(page->count, 1);
    assert_int_equal(page->entries[0].receive_count, 3);
    assert_string_equal(page->entries[0].last_error, "test_step: body is in retry_on");
    q.api->dlq_page_free(q.ctx, page);
    keel_harness_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_retry_fail_per_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps_chain_and_see_replaced_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_error_fails_whole_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_result_fails_whole_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_fails_whole_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_end_in_dlq_after_max_receives, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
