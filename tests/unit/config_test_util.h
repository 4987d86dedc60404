/* config_test_util.h — helpers and key tables shared by the config tests. */
#ifndef KEEL_CONFIG_TEST_UTIL_H
#define KEEL_CONFIG_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "config.h"

#define UNUSED __attribute__((unused))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

static inline cfg_doc_t *load_ok(const char *text)
{
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    cfg_doc_t *doc = cfg_doc_load_string("t.yaml", text, &errs);
    cfg_errors_print(&errs, stderr);
    assert_non_null(doc);
    assert_int_equal(errs.count, 0);
    cfg_errors_free(&errs);
    return doc;
}

/* Loading must fail with exactly `expected` (a NULL-terminated list). */
static inline void expect_load_errors(const char *text, const char *const *expected)
{
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    cfg_doc_t *doc = cfg_doc_load_string("t.yaml", text, &errs);
    assert_null(doc);
    size_t n = 0;
    for (; expected[n] != NULL; n++) {
        assert_true(n < errs.count);
        assert_string_equal(errs.items[n], expected[n]);
    }
    assert_int_equal(errs.count, n);
    cfg_errors_free(&errs);
}

static inline void expect_load_error(const char *text, const char *expected)
{
    const char *const list[] = {expected, NULL};
    expect_load_errors(text, list);
}

/* Validates the root of `text` and compares every message. */
static inline void expect_validation(const char *text, const keel_config_key_t *keys,
                                     const char *context, const cfg_instances_t *instances,
                                     const char *const *expected)
{
    cfg_doc_t *doc = load_ok(text);
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    size_t added = cfg_validate(cfg_doc_root(doc), keys, context, instances, &errs);
    size_t n = 0;
    for (; expected[n] != NULL; n++) {
        if (n >= errs.count)
            fail_msg("missing error: %s", expected[n]);
        assert_string_equal(errs.items[n], expected[n]);
    }
    if (errs.count > n)
        fail_msg("unexpected error: %s", errs.items[n]);
    assert_int_equal(added, n);
    cfg_errors_free(&errs);
    cfg_doc_free(doc);
}

UNUSED static const char *const no_errors[] = {NULL};

/* ---- key tables shared by the tests ------------------------------------- */

UNUSED static const keel_config_key_t queue_fields[] = {
    {"name", KEEL_CFG_STRING, NULL, "queue name", KEEL_CFG_REQUIRED, NULL},
    {"topic", KEEL_CFG_TOPIC, NULL, NULL, 0, NULL},
    {"visibility", KEEL_CFG_DURATION, "30s", "redelivery delay", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL}};

UNUSED static const keel_config_key_t tls_fields[] = {
    {"enabled", KEEL_CFG_BOOL, "false", NULL, 0, NULL},
    {"cert", KEEL_CFG_STRING, "/etc/cert.pem", NULL, 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL}};

UNUSED static const keel_config_key_t plugin_config_keys[] = {
    {"port", KEEL_CFG_INT, "8080", NULL, 0, NULL},
    {"queue", KEEL_CFG_INSTANCE, NULL, NULL, 0, NULL},
    {"path", KEEL_CFG_STRING, NULL, NULL, KEEL_CFG_REQUIRED, NULL},
    {"queues", KEEL_CFG_SECTION_LIST, NULL, NULL, 0, queue_fields},
    {"tls", KEEL_CFG_SECTION, NULL, NULL, 0, tls_fields},
    {NULL, 0, NULL, NULL, 0, NULL}};

UNUSED static const keel_config_key_t plugin_entry_keys[] = {
    {"name", KEEL_CFG_STRING, NULL, NULL, KEEL_CFG_REQUIRED, NULL},
    {"module", KEEL_CFG_STRING, NULL, NULL, KEEL_CFG_REQUIRED, NULL},
    {"config", KEEL_CFG_SECTION, NULL, NULL, 0, plugin_config_keys},
    {NULL, 0, NULL, NULL, 0, NULL}};

UNUSED static const keel_config_key_t kernel_keys[] = {
    {"data_dir", KEEL_CFG_STRING, "/var/lib/keel", NULL, 0, NULL},
    {"plugin_dir", KEEL_CFG_STRING, NULL, NULL, 0, NULL},
    {"log_level", KEEL_CFG_STRING, "info", NULL, 0, NULL},
    {"log_format", KEEL_CFG_STRING, "text", NULL, 0, NULL},
    {"log_file", KEEL_CFG_STRING, NULL, NULL, 0, NULL},
    {"worker_threads", KEEL_CFG_INT, "4", NULL, 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL}};

UNUSED static const keel_config_key_t top_keys[] = {
    {"kernel", KEEL_CFG_SECTION, NULL, NULL, 0, kernel_keys},
    {"plugins", KEEL_CFG_SECTION_LIST, NULL, NULL, 0, plugin_entry_keys},
    {NULL, 0, NULL, NULL, 0, NULL}};

#define KEY(name, type, def, flags, fields)                                                        \
    {                                                                                              \
        name, type, def, NULL, flags, fields                                                       \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, 0, NULL, NULL, 0, NULL                                                               \
    }

#endif
