/*
 * test_tagger.c — unit tests for the tagger plugin, run in-process with the
 * keel test harness (<keel/harness.h>): the real kernel loads the built
 * tagger.so, validates its config exactly as keeld would, and delivers
 * messages on its worker threads. No daemon is needed.
 *
 * Usage: test_tagger [PATH/TO/tagger.so]
 * Without an argument, the path compiled in as TAGGER_PATH is used.
 */
#include <keel/harness.h>

#include <setjmp.h> /* cmocka needs these three first */
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#ifndef TAGGER_PATH
#define TAGGER_PATH "./tagger.so"
#endif

#define WAIT_MS 5000

static const char *tagger_path = TAGGER_PATH;

/* The value of attribute `key` in `msg`, or NULL. */
static const char *attr_value(const keel_msg_t *msg, const char *key)
{
    for (size_t i = 0; i < msg->attr_count; i++) {
        if (strcmp(msg->attrs[i].key, key) == 0) {
            return msg->attrs[i].value;
        }
    }
    return NULL;
}

/* A harness running one tagger instance from "in" to "out", capturing "out".
 * Tests that need another config build their own. */
static int setup(void **state)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "tagger", tagger_path,
                                      "input: in\n"
                                      "output: out\n"
                                      "tag: unit-test\n"),
                     0);
    assert_int_equal(keel_harness_capture(h, "out", KEEL_OK), 0);
    assert_int_equal(keel_harness_start(h), 0);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    keel_harness_free(*state);
    return 0;
}

static void test_republishes_with_tag_and_same_body(void **state)
{
    keel_harness_t *h = *state;
    /* The body is opaque to the tagger: msgpack in practice, any bytes
     * here. {"order_id": "A1"} in msgpack: */
    static const unsigned char body[] = {0x81, 0xa8, 'o', 'r',  'd', 'e', 'r',
                                         '_',  'i',  'd', 0xa2, 'A', '1'};
    keel_result_t result = KEEL_FAIL;
    char error[256] = "";

    assert_int_equal(
        keel_harness_publish(h, "in", body, sizeof(body), &result, error, sizeof(error)), 0);
    assert_int_equal(result, KEEL_OK);

    assert_int_equal(keel_harness_wait(h, "out", 1, WAIT_MS), 1);
    const keel_msg_t *out = keel_harness_captured(h, "out", 0);
    assert_non_null(out);
    assert_string_equal(out->topic, "out");
    assert_non_null(attr_value(out, "tagged_by"));
    assert_string_equal(attr_value(out, "tagged_by"), "unit-test");
    assert_int_equal(out->body_len, sizeof(body));
    assert_memory_equal(out->body, body, sizeof(body));
}

static void test_default_tag(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "tagger", tagger_path, "input: in\noutput: out\n"), 0);
    assert_int_equal(keel_harness_capture(h, "out", KEEL_OK), 0);
    assert_int_equal(keel_harness_start(h), 0);

    keel_result_t result = KEEL_FAIL;
    assert_int_equal(keel_harness_publish(h, "in", "x", 1, &result, NULL, 0), 0);
    assert_int_equal(result, KEEL_OK);
    assert_int_equal(keel_harness_wait(h, "out", 1, WAIT_MS), 1);
    const keel_msg_t *out = keel_harness_captured(h, "out", 0);
    assert_non_null(out);
    assert_non_null(attr_value(out, "tagged_by"));
    assert_string_equal(attr_value(out, "tagged_by"), "template");
    keel_harness_free(h);
}

static void test_empty_body_fails_with_reason(void **state)
{
    keel_harness_t *h = *state;
    keel_result_t result = KEEL_OK;
    char error[256] = "";

    assert_int_equal(keel_harness_publish(h, "in", "", 0, &result, error, sizeof(error)), 0);
    assert_int_equal(result, KEEL_FAIL);
    assert_non_null(strstr(error, "empty body"));
    /* Nothing was republished. */
    assert_null(keel_harness_captured(h, "out", 0));
}

static void test_missing_output_fails_start(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "tagger", tagger_path, "input: in\n"), 0);
    /* The kernel rejects the config (a required key is missing) before the
     * plugin's init() runs; the error is printed to stderr. */
    assert_int_not_equal(keel_harness_start(h), 0);
    keel_harness_free(h);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        tagger_path = argv[1];
    }
    printf("testing plugin %s\n", tagger_path);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_republishes_with_tag_and_same_body, setup, teardown),
        cmocka_unit_test(test_default_tag),
        cmocka_unit_test_setup_teardown(test_empty_body_fails_with_reason, setup, teardown),
        cmocka_unit_test(test_missing_output_fails_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
