/* Runtime tests: the real kernel in-process (through the SDK harness) with
 * the test plugins: routing, results, services, instances, grants,
 * lifecycle failures and stopping during work. */
#include "../plugins/test_services.h"

#include <keel/harness.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static const char *plugin(const char *name)
{
    static char paths[8][512];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 512, "%s/%s.so", KEEL_TEST_PLUGIN_DIR, name);
    return out;
}

static uint64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static uint64_t handled(keel_harness_t *h, const char *instance)
{
    keel_service_t svc;
    assert_int_equal(keel_harness_service(h, instance, "capture", KEEL_VERSION(1, 0), &svc), 0);
    const test_capture_api_t *api = svc.vtable;
    return api->handled(svc.ctx);
}

static uint64_t wait_handled(keel_harness_t *h, const char *instance, uint64_t want,
                             uint64_t timeout_ms)
{
    uint64_t deadline = monotonic_ms() + timeout_ms;
    uint64_t n;
    while ((n = handled(h, instance)) < want && monotonic_ms() < deadline) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    return n;
}

static void test_message_reaches_exactly_the_subscribers(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    assert_int_equal(keel_harness_add(h, "cap_a", plugin("test_capture"), "topics: [a]\n"), 0);
    assert_int_equal(keel_harness_add(h, "cap_b", plugin("test_capture"), "topics: [b]\n"), 0);
    assert_int_equal(keel_harness_add(h, "cap_ab", plugin("test_capture"), "topics: [a, b]\n"), 0);
    assert_int_equal(keel_harness_start(h), 0);
    for (int i = 0; i < 10; i++) {
        keel_result_t result = KEEL_FAIL;
        assert_int_equal(keel_harness_publish(h, "a", "x", 1, &result, NULL, 0), 0);
        assert_int_equal(result, KEEL_OK);
    }
    assert_int_equal(keel_harness_publish(h, "b", "y", 1, NULL, NULL, 0), 0);
    assert_int_equal(handled(h, "cap_a"), 10);
    assert_int_equal(handled(h, "cap_ab"), 11);
    assert_int_equal(handled(h, "cap_b"), 1);
    assert_int_equal(keel_harness_publish(h, "nobody", "z", 1, NULL, NULL, 0), KEEL_ENOTFOUND);
    keel_harness_free(h);
}

static void test_retry_and_fail_reach_the_publisher(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "retrier", plugin("test_capture"),
                     "topics: [r]\nresult: retry\nreason: backend busy\n");
    keel_harness_add(h, "failer", plugin("test_capture"),
                     "topics: [f, mixed]\nresult: fail\nreason: bad order\n");
    keel_harness_add(h, "okayer", plugin("test_capture"), "topics: [mixed, ok]\n");
    keel_harness_add(h, "later", plugin("test_capture"),
                     "topics: [async]\nresult: retry\nasync: true\nreason: later\n");
    assert_int_equal(keel_harness_start(h), 0);

    keel_result_t result;
    char error[128];
    assert_int_equal(keel_harness_publish(h, "r", "1", 1, &result, error, sizeof error), 0);
    assert_int_equal(result, KEEL_RETRY);
    assert_string_equal(error, "backend busy");
    assert_int_equal(keel_harness_publish(h, "f", "1", 1, &result, error, sizeof error), 0);
    assert_int_equal(result, KEEL_FAIL);
    assert_string_equal(error, "bad order");
    /* Two handlers, one OK and one FAIL: the worst result wins. */
    assert_int_equal(keel_harness_publish(h, "mixed", "1", 1, &result, error, sizeof error), 0);
    assert_int_equal(result, KEEL_FAIL);
    assert_string_equal(error, "bad order");
    assert_int_equal(keel_harness_publish(h, "ok", "1", 1, &result, error, sizeof error), 0);
    assert_int_equal(result, KEEL_OK);
    assert_string_equal(error, "");
    /* Completed later from another worker thread. */
    assert_int_equal(keel_harness_publish(h, "async", "1", 1, &result, error, sizeof error), 0);
    assert_int_equal(result, KEEL_RETRY);
    assert_string_equal(error, "later");
    keel_harness_free(h);
}

static void test_one_module_two_instances_keep_separate_state(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "left", plugin("test_counter"), "start: 10\n");
    keel_harness_add(h, "right", plugin("test_counter"), "start: 100\n");
    assert_int_equal(keel_harness_start(h), 0);
    keel_service_t left, right;
    assert_int_equal(keel_harness_service(h, "left", "counter", KEEL_VERSION(1, 0), &left), 0);
    assert_int_equal(keel_harness_service(h, "right", "counter", KEEL_VERSION(1, 2), &right), 0);
    assert_ptr_not_equal(left.ctx, right.ctx);
    const test_counter_api_t *api = left.vtable;
    assert_int_equal(api->add(left.ctx, 5), 15);
    assert_int_equal(api->add(left.ctx, 1), 16);
    assert_int_equal(api->get(right.ctx), 100);
    assert_int_equal(api->add(right.ctx, -1), 99);
    assert_int_equal(api->get(left.ctx), 16);
    keel_harness_free(h);
}

static void test_service_versions_and_names(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "c", plugin("test_counter"), NULL);
    assert_int_equal(keel_harness_start(h), 0);
    keel_service_t svc;
    assert_int_equal(keel_harness_service(h, "c", "counter", KEEL_VERSION(1, 1), &svc), 0);
    assert_int_equal(svc.version, KEEL_VERSION(1, 2));
    assert_int_equal(keel_harness_service(h, "c", "counter", KEEL_VERSION(1, 3), &svc),
                     KEEL_EVERSION);
    assert_int_equal(keel_harness_service(h, "c", "counter", KEEL_VERSION(2, 0), &svc),
                     KEEL_EVERSION);
    assert_int_equal(keel_harness_service(h, "c", "store", KEEL_VERSION(1, 0), &svc),
                     KEEL_ENOTFOUND);
    assert_int_equal(keel_harness_service(h, "nobody", "counter", KEEL_VERSION(1, 0), &svc),
                     KEEL_ENOTFOUND);
    keel_harness_free(h);
}

static void test_grants_are_enforced(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "mine", plugin("test_counter"), NULL);
    keel_harness_add(h, "theirs", plugin("test_counter"), NULL);
    keel_harness_add(h, "probe", plugin("test_prober"),
                     "granted_topic: allowed\ntarget: mine\ndenied_topic: secret\n"
                     "denied_instance: theirs\n");
    /* Both topics have a subscriber: a refusal can only be the grant. */
    keel_harness_capture(h, "allowed", KEEL_OK);
    keel_harness_capture(h, "secret", KEEL_OK);
    assert_int_equal(keel_harness_start(h), 0);
    keel_service_t svc;
    assert_int_equal(keel_harness_service(h, "probe", "prober", KEEL_VERSION(1, 0), &svc), 0);
    const test_probe_results_t *r = ((const test_prober_api_t *)svc.vtable)->results(svc.ctx);
    assert_int_equal(r->publish_granted, 0);
    assert_int_equal(r->publish_denied, KEEL_EPERM);
    assert_int_equal(r->lookup_granted, 0);
    assert_int_equal(r->lookup_denied, KEEL_EPERM);
    assert_int_equal(r->subscribe_after_init, KEEL_ESTATE);
    assert_int_equal(keel_harness_wait(h, "allowed", 1, 5000), 1);
    assert_int_equal(keel_harness_wait(h, "secret", 1, 50), 0);
    keel_harness_free(h);
}

static void test_dangling_reference_and_failed_init_stop_start_up(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "probe", plugin("test_prober"),
                     "granted_topic: a\ntarget: ghost\ndenied_topic: b\ndenied_instance: c\n");
    assert_int_equal(keel_harness_start(h), KEEL_EINVAL);
    keel_harness_free(h);

    h = keel_harness_new(NULL);
    keel_harness_add(h, "fine", plugin("test_counter"), NULL);
    keel_harness_add(h, "broken", plugin("bad_initfail"), NULL);
    assert_int_equal(keel_harness_start(h), KEEL_EFAILED);
    keel_harness_free(h);
}

static void test_readiness_reports_the_first_unhealthy_instance(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "fine", plugin("test_capture"), "topics: [a]\n");
    keel_harness_add(h, "old", plugin("old_minor"), NULL); /* ABI 1.0: no health */
    char why[128];
    assert_int_equal(keel_harness_ready(h, why, sizeof why), KEEL_ESTATE);
    assert_string_equal(why, "keel: starting");
    assert_int_equal(keel_harness_start(h), 0);
    assert_int_equal(keel_harness_ready(h, why, sizeof why), 0);
    assert_string_equal(why, "");
    keel_harness_free(h);

    h = keel_harness_new(NULL);
    keel_harness_add(h, "fine", plugin("test_capture"), "topics: [a]\n");
    keel_harness_add(h, "sick", plugin("test_capture"),
                     "topics: [b]\nunhealthy: backend unreachable\n");
    assert_int_equal(keel_harness_start(h), 0);
    assert_int_equal(keel_harness_ready(h, why, sizeof why), KEEL_EUNAVAIL);
    assert_string_equal(why, "sick: backend unreachable");
    keel_harness_free(h);
}

static void test_stopping_during_work_finishes_it(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "source", plugin("test_ingress"), "topic: work\ninflight: 64\n");
    keel_harness_add(h, "slow", plugin("test_capture"), "topics: [work]\ndelay: 1ms\n");
    keel_harness_add(h, "slower", plugin("test_capture"),
                     "topics: [work]\ndelay: 2ms\nasync: true\n");
    assert_int_equal(keel_harness_start(h), 0);
    assert_true(wait_handled(h, "slower", 20, 10000) >= 20);
    uint64_t started = monotonic_ms();
    keel_harness_free(h); /* stop + drain + destroy; the sanitizers watch */
    assert_true(monotonic_ms() - started < 10000);
}

static void test_bounded_ingress_is_fully_delivered(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    keel_harness_add(h, "source", plugin("test_ingress"), "topic: work\ncount: 5000\n");
    keel_harness_add(h, "sink", plugin("test_capture"), "topics: [work]\n");
    assert_int_equal(keel_harness_start(h), 0);
    assert_int_equal(wait_handled(h, "sink", 5000, 20000), 5000);
    keel_harness_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_reaches_exactly_the_subscribers),
        cmocka_unit_test(test_retry_and_fail_reach_the_publisher),
        cmocka_unit_test(test_one_module_two_instances_keep_separate_state),
        cmocka_unit_test(test_service_versions_and_names),
        cmocka_unit_test(test_grants_are_enforced),
        cmocka_unit_test(test_dangling_reference_and_failed_init_stop_start_up),
        cmocka_unit_test(test_readiness_reports_the_first_unhealthy_instance),
        cmocka_unit_test(test_stopping_during_work_finishes_it),
        cmocka_unit_test(test_bounded_ingress_is_fully_delivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
