/*
 * validate_test_util.h — the validate plugin loaded through the harness,
 * as keeld would load it, for the validate tests.
 */
#ifndef KEEL_VALIDATE_TEST_UTIL_H
#define KEEL_VALIDATE_TEST_UTIL_H

#include <keel/harness.h>
#include <keel/validate.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

typedef struct vt {
    keel_harness_t *h;
    const keel_validate_api_t *api;
    void *ctx;
} vt_t;

static inline void vt_open(vt_t *t, const char *config_yaml)
{
    t->h = keel_harness_new(NULL);
    assert_non_null(t->h);
    assert_int_equal(
        keel_harness_add(t->h, "v", KEEL_BUILTIN_PLUGIN_DIR "/validate.so", config_yaml), 0);
    assert_int_equal(keel_harness_start(t->h), 0);
    keel_service_t svc;
    assert_int_equal(
        keel_harness_service(t->h, "v", KEEL_VALIDATE_INTERFACE, KEEL_VALIDATE_VERSION, &svc), 0);
    t->api = svc.vtable;
    t->ctx = svc.ctx;
}

static inline void vt_close(vt_t *t)
{
    keel_harness_free(t->h);
}

static inline keel_order_t *parse_n(vt_t *t, const char *json, size_t len, const char *assign_id)
{
    keel_order_t *o = NULL;
    assert_int_equal(t->api->order_parse(t->ctx, json, len, assign_id, &o), 0);
    assert_non_null(o);
    return o;
}

static inline void dump_errors(const keel_order_t *o)
{
    for (size_t i = 0; i < o->error_count; i++)
        print_message("  error %zu: %s %s: %s\n", i, o->errors[i].path, o->errors[i].code,
                      o->errors[i].message);
}

#endif
