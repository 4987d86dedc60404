/* Loader tests: every deliberately broken plugin is refused with a message
 * naming the file; an ABI 1.0 plugin loads and its missing fields read as
 * absent. */
#include "loader.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void plugin_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s.so", KEEL_TEST_PLUGIN_DIR, name);
}

static void expect_refused(const char *name, const char *phrase)
{
    char path[512], err[1024] = "";
    plugin_path(path, sizeof path, name);
    module_t module;
    int rc = module_load(path, &module, err, sizeof err);
    if (rc == 0 || strstr(err, path) == NULL || strstr(err, phrase) == NULL)
        fail_msg("%s: rc=%d, message '%s' should name the file and say '%s'", name, rc, err,
                 phrase);
}

static void test_wrong_magic(void **state)
{
    (void)state;
    expect_refused("bad_magic", "bad magic");
}

static void test_other_major(void **state)
{
    (void)state;
    expect_refused("bad_major", "built for keel ABI 2.0");
}

static void test_newer_minor(void **state)
{
    (void)state;
    char phrase[64];
    snprintf(phrase, sizeof phrase, "needs keel ABI %d.%d", KEEL_ABI_MAJOR, KEEL_ABI_MINOR + 1);
    expect_refused("bad_minor", phrase);
}

static void test_no_entry_symbol(void **state)
{
    (void)state;
    expect_refused("bad_noentry", "no 'keel_plugin_entry' symbol");
}

static void test_unresolved_symbol(void **state)
{
    (void)state;
    expect_refused("bad_unresolved", "keel_function_that_does_not_exist");
}

static void test_null_mandatory_callback(void **state)
{
    (void)state;
    expect_refused("bad_nullinit", "no init callback");
}

static void test_missing_file(void **state)
{
    (void)state;
    expect_refused("no_such_plugin", "no such plugin file");
}

static void test_older_minor_loads_without_reading_past_its_size(void **state)
{
    (void)state;
    char path[512], err[1024] = "";
    plugin_path(path, sizeof path, "old_minor");
    module_t module;
    int rc = module_load(path, &module, err, sizeof err);
    if (rc != 0)
        fail_msg("old_minor refused: %s", err);
    assert_int_equal(module.desc.abi_minor, 0);
    assert_string_equal(module.desc.name, "old_minor");
    assert_non_null(module.desc.init);
    /* The bytes after its descriptor are 0xDEADBEEF: never copied. */
    assert_null(module.desc.health);
    module_unload(&module);
}

/* ABI 1.4 appended nothing to the descriptor; 1.5 appended `drain`. A 1.4
 * plugin's struct_size may be larger (its compiler's padding, or as here
 * on purpose): only what 1.4 defined is read. */
static void test_minor_4_never_gets_drain_read(void **state)
{
    (void)state;
    char path[512], err[1024] = "";
    plugin_path(path, sizeof path, "minor4");
    module_t module;
    int rc = module_load(path, &module, err, sizeof err);
    if (rc != 0)
        fail_msg("minor4 refused: %s", err);
    assert_int_equal(module.desc.abi_minor, 4);
    assert_non_null(module.desc.init);
    assert_null(module.desc.drain);
    module_unload(&module);
}

static void test_good_plugin_loads(void **state)
{
    (void)state;
    char path[512], err[1024] = "";
    plugin_path(path, sizeof path, "test_counter");
    module_t module;
    assert_int_equal(module_load(path, &module, err, sizeof err), 0);
    assert_string_equal(module.desc.name, "test_counter");
    assert_int_equal(module.desc.abi_minor, KEEL_ABI_MINOR);
    assert_non_null(module.desc.config_keys);
    module_unload(&module);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_other_major),
        cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_no_entry_symbol),
        cmocka_unit_test(test_unresolved_symbol),
        cmocka_unit_test(test_null_mandatory_callback),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_older_minor_loads_without_reading_past_its_size),
        cmocka_unit_test(test_minor_4_never_gets_drain_read),
        cmocka_unit_test(test_good_plugin_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
