/* Config reading tests: strict scalar conversions and typed reads by path with declared defaults.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_test_util.h"

/* ---- scalar conversions ------------------------------------------------- */

static void test_parse_int(void **state)
{
    static const struct {
        const char *text;
        int64_t value;
    } good[] = {{"0", 0},
                {"42", 42},
                {"-7", -7},
                {"+7", 7},
                {"007", 7},
                {"9223372036854775807", INT64_MAX},
                {"-9223372036854775808", INT64_MIN}};
    static const char *const bad[] = {"",
                                      "-",
                                      "+",
                                      "1.5",
                                      "0x10",
                                      " 1",
                                      "1 ",
                                      "1e3",
                                      "abc",
                                      "--1",
                                      "9223372036854775808",
                                      "-9223372036854775809",
                                      "99999999999999999999"};
    int64_t value;
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        assert_int_equal(cfg_parse_int(good[i].text, &value), 0);
        assert_true(value == good[i].value);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(cfg_parse_int(bad[i], &value), KEEL_EINVAL);
    assert_int_equal(cfg_parse_int(NULL, &value), KEEL_EINVAL);
}

static void test_parse_double(void **state)
{
    double value;
    assert_int_equal(cfg_parse_double("0.25", &value), 0);
    assert_true(value == 0.25);
    assert_int_equal(cfg_parse_double("-3", &value), 0);
    assert_true(value == -3.0);
    assert_int_equal(cfg_parse_double("1e3", &value), 0);
    assert_true(value == 1000.0);
    static const char *const bad[] = {"", " 1", "1 ", "1.5x", "abc", "inf", "nan", "1e999", "-"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(cfg_parse_double(bad[i], &value), KEEL_EINVAL);
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "True", "yes", "Yes", "on", "ON"};
    static const char *const no[] = {"false", "FALSE", "no", "No", "off", "Off"};
    static const char *const bad[] = {"", "1", "0", "y", "n", "truth", " true", "enabled"};
    bool value;
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        value = false;
        assert_int_equal(cfg_parse_bool(yes[i], &value), 0);
        assert_true(value);
    }
    for (size_t i = 0; i < ARRAY_LEN(no); i++) {
        value = true;
        assert_int_equal(cfg_parse_bool(no[i], &value), 0);
        assert_false(value);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(cfg_parse_bool(bad[i], &value), KEEL_EINVAL);
}

static void test_parse_duration(void **state)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"250ms", 250},    {"60s", 60000}, {"5m", 300000}, {"2h", 7200000},
                {"4d", 345600000}, {"1500", 1500}, {"0", 0},       {"0s", 0}};
    static const char *const bad[] = {"",
                                      "s",
                                      "-5s",
                                      "+5s",
                                      "1.5s",
                                      "5 s",
                                      "5S",
                                      "5sec",
                                      "5ms ",
                                      "10w",
                                      "ms",
                                      "9223372036854775807s",
                                      "106751991167301d"};
    int64_t value;
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        assert_int_equal(cfg_parse_duration_ms(good[i].text, &value), 0);
        assert_true(value == good[i].ms);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(cfg_parse_duration_ms(bad[i], &value), KEEL_EINVAL);
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        int64_t bytes;
    } good[] = {{"512", 512},
                {"512B", 512},
                {"64KiB", 65536},
                {"256KiB", 262144},
                {"1MiB", 1048576},
                {"2GiB", INT64_C(2147483648)},
                {"1TiB", INT64_C(1099511627776)},
                {"3KB", 3000},
                {"5MB", 5000000},
                {"2GB", INT64_C(2000000000)},
                {"0", 0}};
    static const char *const bad[] = {"",
                                      "-1",
                                      "1.5MiB",
                                      "1 MiB",
                                      "1kib",
                                      "1KiBs",
                                      "1K",
                                      "MiB",
                                      "1XB",
                                      "8589934592GiB",
                                      "9223372036854775808"};
    int64_t value;
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        assert_int_equal(cfg_parse_size_bytes(good[i].text, &value), 0);
        assert_true(value == good[i].bytes);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(cfg_parse_size_bytes(bad[i], &value), KEEL_EINVAL);
}

/* ---- typed reads -------------------------------------------------------- */

static const keel_config_key_t read_keys[] = {
    KEY("port", KEEL_CFG_INT, "8080", 0, NULL),
    KEY("ratio", KEEL_CFG_DOUBLE, "0.25", 0, NULL),
    KEY("count", KEEL_CFG_INT, NULL, 0, NULL),
    KEY("debug", KEEL_CFG_BOOL, "no", 0, NULL),
    KEY("timeout", KEEL_CFG_DURATION, "5s", 0, NULL),
    KEY("max_body", KEEL_CFG_SIZE, "1MiB", 0, NULL),
    KEY("name", KEEL_CFG_STRING, "anon", 0, NULL),
    KEY("tags", KEEL_CFG_STRING_LIST, NULL, 0, NULL),
    KEY("store", KEEL_CFG_INSTANCE, "store", 0, NULL),
    KEY("out", KEEL_CFG_TOPIC, "orders.out", 0, NULL),
    KEY("tls", KEEL_CFG_SECTION, NULL, 0, tls_fields),
    KEY("queues", KEEL_CFG_SECTION_LIST, NULL, 0, queue_fields),
    END};

static void assert_read_int(const cfg_node_t *map, const char *path, int rc, int64_t value)
{
    int64_t out = -1;
    assert_int_equal(cfg_read_int(map, read_keys, path, &out), rc);
    if (rc == 0 && out != value)
        fail_msg("%s: %lld != %lld", path, (long long)out, (long long)value);
}

static void assert_read_double(const cfg_node_t *map, const char *path, int rc, double value)
{
    double out = -1;
    assert_int_equal(cfg_read_double(map, read_keys, path, &out), rc);
    if (rc == 0 && out != value)
        fail_msg("%s: %g != %g", path, out, value);
}

static void assert_read_bool(const cfg_node_t *map, const char *path, int rc, bool value)
{
    bool out = !value;
    assert_int_equal(cfg_read_bool(map, read_keys, path, &out), rc);
    if (rc == 0)
        assert_true(out == value);
}

static void assert_read_string(const cfg_node_t *map, const char *path, int rc, const char *value)
{
    const char *out = NULL;
    assert_int_equal(cfg_read_string(map, read_keys, path, &out), rc);
    if (rc == 0)
        assert_string_equal(out, value);
}

static void assert_read_count(const cfg_node_t *map, const char *path, int rc, size_t value)
{
    size_t out = 99;
    assert_int_equal(cfg_read_count(map, read_keys, path, &out), rc);
    if (rc == 0)
        assert_int_equal(out, value);
}

static void test_reads_values_and_defaults(void **state)
{
    cfg_doc_t *doc = load_ok("port: 9000\nratio: 3\ntags: [a, b, c]\nqueues:\n"
                             "  - name: q1\n  - name: q2\n    visibility: 2m\n"
                             "tls:\n  enabled: yes\n");
    const cfg_node_t *map = cfg_doc_root(doc);
    assert_read_int(map, "port", 0, 9000);
    assert_read_double(map, "port", 0, 9000.0); /* an INT reads as a double too */
    assert_read_double(map, "ratio", 0, 3.0);
    assert_read_int(map, "count", KEEL_ENOTFOUND, 0); /* absent, no default */
    assert_read_bool(map, "debug", 0, false);
    assert_read_int(map, "timeout", 0, 5000);
    assert_read_int(map, "max_body", 0, 1048576);
    assert_read_string(map, "name", 0, "anon");
    assert_read_string(map, "store", 0, "store");
    assert_read_string(map, "out", 0, "orders.out");
    assert_read_string(map, "tags[1]", 0, "b");
    assert_read_string(map, "tags[3]", KEEL_ENOTFOUND, NULL);
    assert_read_count(map, "tags", 0, 3);
    assert_read_count(map, "queues", 0, 2);
    assert_read_string(map, "queues[1].name", 0, "q2");
    assert_read_int(map, "queues[1].visibility", 0, 120000);
    assert_read_int(map, "queues[0].visibility", 0, 30000);
    /* No element, so no default either. */
    assert_read_int(map, "queues[5].visibility", KEEL_ENOTFOUND, 0);
    assert_read_bool(map, "tls.enabled", 0, true);
    assert_read_string(map, "tls.cert", 0, "/etc/cert.pem");
    cfg_doc_free(doc);

    /* Absent sections and lists: defaults inside, counts of 0. */
    doc = load_ok("port: 1\n");
    map = cfg_doc_root(doc);
    assert_read_bool(map, "tls.enabled", 0, false);
    assert_read_count(map, "queues", 0, 0);
    assert_read_count(map, "tags", 0, 0);
    assert_read_int(NULL, "port", 0, 8080);
    cfg_doc_free(doc);
}

static void test_reads_errors(void **state)
{
    cfg_doc_t *doc = load_ok("port: 9000\ntags: [a]\nqueues:\n  - name: q1\nname: n\n");
    const cfg_node_t *map = cfg_doc_root(doc);
    /* Declared with another type. */
    assert_read_string(map, "port", KEEL_ETYPE, NULL);
    assert_read_int(map, "name", KEEL_ETYPE, 0);
    assert_read_double(map, "timeout", KEEL_ETYPE, 0);
    assert_read_bool(map, "port", KEEL_ETYPE, false);
    assert_read_count(map, "port", KEEL_ETYPE, 0);
    assert_read_count(map, "tags[0]", KEEL_ETYPE, 0);
    assert_read_int(map, "tags[0]", KEEL_ETYPE, 0);
    assert_read_string(map, "queues[0]", KEEL_ETYPE, NULL);
    assert_read_string(map, "queues.name", KEEL_ETYPE, NULL);
    assert_read_string(map, "port.x", KEEL_ETYPE, NULL);
    assert_read_string(map, "port[0]", KEEL_ETYPE, NULL);
    assert_read_string(map, "tls", KEEL_ETYPE, NULL);
    /* Undeclared. */
    assert_read_string(map, "nope", KEEL_ENOTFOUND, NULL);
    assert_read_string(map, "tls.nope", KEEL_ENOTFOUND, NULL);
    const char *s;
    assert_int_equal(cfg_read_string(map, NULL, "port", &s), KEEL_ENOTFOUND);
    /* Malformed paths and arguments. */
    static const char *const bad_paths[] = {"",      ".port",    "port.",     "a..b",
                                            "tags[", "tags[]",   "tags[x]",   "tags[1]x",
                                            "tags]", "tags[-1]", "tags[0][0]"};
    for (size_t k = 0; k < ARRAY_LEN(bad_paths); k++)
        assert_read_string(map, bad_paths[k], KEEL_EINVAL, NULL);
    assert_read_string(map, NULL, KEEL_EINVAL, NULL);
    assert_int_equal(cfg_read_string(map, read_keys, "name", NULL), KEEL_EINVAL);
    assert_int_equal(cfg_read_int(map, read_keys, "port", NULL), KEEL_EINVAL);
    cfg_doc_free(doc);

    /* An unvalidated wrong value reads as a type error, not garbage. */
    doc = load_ok("port: abc\nname: [x]\n");
    assert_read_int(cfg_doc_root(doc), "port", KEEL_ETYPE, 0);
    assert_read_string(cfg_doc_root(doc), "name", KEEL_ETYPE, NULL);
    cfg_doc_free(doc);
}

static void test_is_set(void **state)
{
    cfg_doc_t *doc = load_ok("port: 9000\ntags: [a]\nqueues:\n  - name: q1\n"
                             "  - name: q2\n    visibility: 1s\ntls:\n");
    const cfg_node_t *map = cfg_doc_root(doc);
    assert_true(cfg_is_set(map, read_keys, "port"));
    assert_false(cfg_is_set(map, read_keys, "debug"));
    assert_true(cfg_is_set(map, read_keys, "tags[0]"));
    assert_false(cfg_is_set(map, read_keys, "tags[1]"));
    assert_true(cfg_is_set(map, read_keys, "queues[1].visibility"));
    assert_false(cfg_is_set(map, read_keys, "queues[0].visibility"));
    assert_true(cfg_is_set(map, read_keys, "tls")); /* written, though empty */
    assert_false(cfg_is_set(map, read_keys, "tls.enabled"));
    assert_false(cfg_is_set(map, read_keys, "nope"));
    assert_false(cfg_is_set(map, read_keys, "port."));
    cfg_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int),    cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_parse_bool),   cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_size),   cmocka_unit_test(test_reads_values_and_defaults),
        cmocka_unit_test(test_reads_errors), cmocka_unit_test(test_is_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
