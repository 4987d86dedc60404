/* Service interfaces of the test plugins, shared with the tests. */
#ifndef KEEL_TEST_SERVICES_H
#define KEEL_TEST_SERVICES_H

#include <stddef.h>
#include <stdint.h>

typedef struct test_counter_api {
    uint32_t struct_size;
    long long (*add)(void *ctx, long long delta);
    long long (*get)(void *ctx);
} test_counter_api_t;

/* What test_prober tried in start(), as KEEL_E* codes. */
typedef struct test_probe_results {
    int publish_granted;
    int publish_denied;
    int lookup_granted;
    int lookup_denied;
    int subscribe_after_init;
} test_probe_results_t;

typedef struct test_prober_api {
    uint32_t struct_size;
    const test_probe_results_t *(*results)(void *ctx);
} test_prober_api_t;

typedef struct test_capture_api {
    uint32_t struct_size;
    /* Messages handled so far (all topics). */
    uint64_t (*handled)(void *ctx);
} test_capture_api_t;

#endif
