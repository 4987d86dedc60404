/* The orders pipeline in-process with store_lmdb: a real queue_lmdb feeding
 * the confirm step and the store_lmdb step (then a test_step that records
 * the confirmation_number attribute it sees). The backend-independent checks
 * (store_step_conformance.h, also run on store_dynamodb): numbers are
 * distinct, valid and kept across redeliveries; a missing record is created;
 * a conflicting payload is dead-lettered; blocks never overlap across
 * restarts. Here too: bad confirm configs fail at init. */
#include "store_step_conformance.h"

#define SSC_WRAP(name)                                                                             \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        ssc_store_so = ssc_so(KEEL_BUILTIN_PLUGIN_DIR, "store_lmdb");                              \
        ssc_store_config = "";                                                                     \
        ssc_test_##name();                                                                         \
    }
SSC_STEP_TESTS(SSC_WRAP)

static void expect_bad_config(const char *cfg)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(
        keel_harness_add(h, "store", ssc_so(KEEL_BUILTIN_PLUGIN_DIR, "store_lmdb"), ""), 0);
    assert_int_equal(
        keel_harness_add(h, "confirm", ssc_so(KEEL_BUILTIN_PLUGIN_DIR, "confirm"), cfg), 0);
    assert_int_not_equal(keel_harness_start(h), 0);
    keel_harness_free(h);
}

static void test_bad_configs_fail_at_init(void **state)
{
    (void)state;
    expect_bad_config("store: store\nformat: \"KEEL-{yyyy}\"\n");  /* no {seq} */
    expect_bad_config("store: store\nformat: \"{check}{seq}\"\n"); /* check first */
    expect_bad_config("store: store\nformat: \"{seq}{nope}\"\n");  /* unknown */
    expect_bad_config("store: store\nblock: 5\n");                 /* too small */
    expect_bad_config("store: store\nsequence_digits: 0\n");
    expect_bad_config("store: store\nsequence: \"\"\n");
}

int main(void)
{
#define SSC_ENTRY(name) cmocka_unit_test_setup_teardown(test_##name, setup, teardown),
    const struct CMUnitTest tests[] = {
        SSC_STEP_TESTS(SSC_ENTRY) cmocka_unit_test(test_bad_configs_fail_at_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
