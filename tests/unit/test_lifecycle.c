/* Lifecycle edge cases from a review, each a former use-after-free or hang:
 * timers armed before start() or by a start() that fails, a timer handle
 * cancelled in destroy(), publishing from destroy(), a wrapped body
 * length. The sanitizer build checks the memory; these check the answers. */
#include <keel/harness.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "record_file.h"

/* The value recorded for `what`, or 1 when absent. */
static int recorded(const char *what)
{
    FILE *f = fopen(record_path, "r");
    if (f == NULL)
        return 1;
    char line[128];
    int value = 1;
    size_t len = strlen(what);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, what, len) == 0 && line[len] == '=')
            value = atoi(line + len + 1);
    }
    fclose(f);
    return value;
}

static int run(const char *mode, bool expect_start)
{
    keel_harness_t *h = keel_harness_new(NULL);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "mode: %s\nrecord: %s\n", mode, record_path);
    char so[512];
    snprintf(so, sizeof so, "%s/test_edge.so", KEEL_TEST_PLUGIN_DIR);
    assert_int_equal(keel_harness_add(h, "edge", so, cfg), 0);
    keel_harness_capture(h, "lifecycle.out", KEEL_OK);
    int rc = keel_harness_start(h);
    assert_int_equal(rc == 0, expect_start);
    keel_harness_free(h);
    return rc;
}

static void test_timer_before_start_is_refused(void **state)
{
    (void)state;
    run("timer_in_init", true);
    assert_int_equal(recorded("timer_add_in_init"), KEEL_ESTATE);
}

static void test_failed_start_with_a_timer_shuts_down(void **state)
{
    (void)state;
    assert_int_equal(run("timer_start_fail", false), KEEL_EFAILED);
    assert_int_equal(recorded("timer_add_in_start"), 0);
}

static void test_cancel_in_destroy_is_safe(void **state)
{
    (void)state;
    run("cancel_in_destroy", true);
    assert_int_equal(recorded("timer_add_in_start"), 0);
    assert_int_equal(recorded("cancel_in_destroy"), 0);
}

static void test_publish_in_destroy_is_refused(void **state)
{
    (void)state;
    run("publish_in_destroy", true);
    assert_int_equal(recorded("publish_in_destroy"), KEEL_ESHUTDOWN);
}

static void test_wrapped_body_length_is_refused(void **state)
{
    (void)state;
    run("huge_publish", true);
    assert_int_equal(recorded("huge_publish"), KEEL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timer_before_start_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_start_with_a_timer_shuts_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_destroy_is_safe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_in_destroy_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrapped_body_length_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
