/* test_config.c — loading, substitution, validation and typed reads of
 * keel's YAML config (kernel/config*.c). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------ */

static cfg_doc_t *load_ok(const char *text)
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
static void expect_load_errors(const char *text, const char *const *expected)
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

static void expect_load_error(const char *text, const char *expected)
{
    const char *const list[] = {expected, NULL};
    expect_load_errors(text, list);
}

/* Validates the root of `text` and compares every message. */
static void expect_validation(const char *text, const keel_config_key_t *keys, const char *context,
                              const cfg_instances_t *instances, const char *const *expected)
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

static const char *const no_errors[] = {NULL};

/* ---- key tables shared by the tests ------------------------------------- */

static const keel_config_key_t queue_fields[] = {
    {"name", KEEL_CFG_STRING, NULL, "queue name", KEEL_CFG_REQUIRED, NULL},
    {"topic", KEEL_CFG_TOPIC, NULL, NULL, 0, NULL},
    {"visibility", KEEL_CFG_DURATION, "30s", "redelivery delay", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL}};

static const keel_config_key_t tls_fields[] = {
    {"enabled", KEEL_CFG_BOOL, "false", NULL, 0, NULL},
    {"cert", KEEL_CFG_STRING, "/etc/cert.pem", NULL, 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL}};

static const keel_config_key_t plugin_config_keys[] = {
    {"port", KEEL_CFG_INT, "8080", NULL, 0, NULL},
    {"queue", KEEL_CFG_INSTANCE, NULL, NULL, 0, NULL},
    {"path", KEEL_CFG_STRING, NULL, NULL, KEEL_CFG_REQUIRED, NULL},
    {"queues", KEEL_CFG_SECTION_LIST, NULL, NULL, 0, queue_fields},
    {"tls", KEEL_CFG_SECTION, NULL, NULL, 0, tls_fields},
    {NULL, 0, NULL, NULL, 0, NULL}};

static const keel_config_key_t plugin_entry_keys[] = {
    {"name", KEEL_CFG_STRING, NULL, NULL, KEEL_CFG_REQUIRED, NULL},
    {"module", KEEL_CFG_STRING, NULL, NULL, KEEL_CFG_REQUIRED, NULL},
    {"config", KEEL_CFG_SECTION, NULL, NULL, 0, plugin_config_keys},
    {NULL, 0, NULL, NULL, 0, NULL}};

static const keel_config_key_t kernel_keys[] = {
    {"data_dir", KEEL_CFG_STRING, "/var/lib/keel", NULL, 0, NULL},
    {"plugin_dir", KEEL_CFG_STRING, NULL, NULL, 0, NULL},
    {"log_level", KEEL_CFG_STRING, "info", NULL, 0, NULL},
    {"log_format", KEEL_CFG_STRING, "text", NULL, 0, NULL},
    {"log_file", KEEL_CFG_STRING, NULL, NULL, 0, NULL},
    {"worker_threads", KEEL_CFG_INT, "4", NULL, 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL}};

static const keel_config_key_t top_keys[] = {
    {"kernel", KEEL_CFG_SECTION, NULL, NULL, 0, kernel_keys},
    {"plugins", KEEL_CFG_SECTION_LIST, NULL, NULL, 0, plugin_entry_keys},
    {NULL, 0, NULL, NULL, 0, NULL}};

/* ---- loading ------------------------------------------------------------ */

static void test_load_tree_and_accessors(void **state)
{
    cfg_doc_t *doc = load_ok("name: keel\n"
                             "list:\n"
                             "  - 1\n"
                             "  - \"two\"\n"
                             "map: {a: 1, b: x}\n");
    const cfg_node_t *root = cfg_doc_root(doc);
    assert_int_equal(cfg_node_kind(root), CFG_MAP);
    assert_int_equal(cfg_map_size(root), 3);
    assert_string_equal(cfg_map_key_at(root, 0), "name");
    assert_string_equal(cfg_map_key_at(root, 2), "map");
    assert_null(cfg_map_key_at(root, 3));
    const cfg_node_t *key = cfg_map_key_node_at(root, 1);
    assert_string_equal(cfg_node_scalar(key), "list");
    assert_int_equal(cfg_node_line(key), 2);
    assert_int_equal(cfg_node_column(key), 1);
    assert_string_equal(cfg_node_file(key), "t.yaml");
    assert_ptr_equal(cfg_map_value_at(root, 0), cfg_map_get(root, "name"));
    assert_null(cfg_map_value_at(root, 3));
    assert_null(cfg_map_get(root, "nope"));

    const cfg_node_t *name = cfg_map_get(root, "name");
    assert_int_equal(cfg_node_kind(name), CFG_SCALAR);
    assert_string_equal(cfg_node_scalar(name), "keel");
    assert_int_equal(cfg_node_line(name), 1);
    assert_int_equal(cfg_node_column(name), 7);

    const cfg_node_t *list = cfg_map_get(root, "list");
    assert_int_equal(cfg_node_kind(list), CFG_SEQ);
    assert_int_equal(cfg_seq_len(list), 2);
    assert_string_equal(cfg_node_scalar(cfg_seq_at(list, 0)), "1");
    assert_string_equal(cfg_node_scalar(cfg_seq_at(list, 1)), "two");
    assert_int_equal(cfg_node_column(cfg_seq_at(list, 1)), 5); /* the opening quote */
    assert_null(cfg_seq_at(list, 2));
    assert_null(cfg_node_scalar(list));
    assert_int_equal(cfg_map_size(list), 0);

    const cfg_node_t *map = cfg_map_get(root, "map");
    assert_int_equal(cfg_node_line(map), 5);
    assert_int_equal(cfg_node_column(map), 6);
    assert_string_equal(cfg_node_scalar(cfg_map_get(map, "b")), "x");
    assert_int_equal(cfg_seq_len(map), 0);

    /* NULL-safe accessors. */
    assert_int_equal(cfg_node_kind(NULL), CFG_NULL);
    assert_null(cfg_node_scalar(NULL));
    assert_null(cfg_node_file(NULL));
    assert_int_equal(cfg_node_line(NULL), 0);
    assert_int_equal(cfg_node_column(NULL), 0);
    assert_null(cfg_map_get(NULL, "a"));
    assert_int_equal(cfg_seq_len(NULL), 0);
    assert_null(cfg_doc_root(NULL));
    cfg_doc_free(doc);
    cfg_doc_free(NULL);
}

static void test_load_nulls_and_empty(void **state)
{
    cfg_doc_t *doc = load_ok("config:\nother: ~\nquoted: 'null'\nn: null\nlist:\n  -\n");
    const cfg_node_t *root = cfg_doc_root(doc);
    const cfg_node_t *config = cfg_map_get(root, "config");
    assert_non_null(config);
    assert_int_equal(cfg_node_kind(config), CFG_NULL);
    assert_int_equal(cfg_node_line(config), 1); /* an empty value sits at its key */
    assert_int_equal(cfg_node_column(config), 1);
    assert_int_equal(cfg_node_kind(cfg_map_get(root, "other")), CFG_NULL);
    assert_int_equal(cfg_node_column(cfg_map_get(root, "other")), 8);
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "quoted")), "null");
    assert_int_equal(cfg_node_kind(cfg_map_get(root, "n")), CFG_NULL);
    assert_int_equal(cfg_node_kind(cfg_seq_at(cfg_map_get(root, "list"), 0)), CFG_NULL);
    cfg_doc_free(doc);

    doc = load_ok("");
    assert_int_equal(cfg_node_kind(cfg_doc_root(doc)), CFG_NULL);
    cfg_doc_free(doc);
    doc = load_ok("# only a comment\n");
    assert_int_equal(cfg_node_kind(cfg_doc_root(doc)), CFG_NULL);
    cfg_doc_free(doc);
}

static void test_substitution(void **state)
{
    setenv("KEEL_TEST_USER", "alice", 1);
    setenv("KEEL_TEST_EMPTY", "", 1);
    unsetenv("KEEL_TEST_UNSET");
    cfg_doc_t *doc = load_ok("user: ${KEEL_TEST_USER}\n"
                             "greeting: \"hi ${KEEL_TEST_USER}!\"\n"
                             "fallback: ${KEEL_TEST_UNSET:-guest}\n"
                             "empty_default: ${KEEL_TEST_EMPTY:-x}\n"
                             "empty: ${KEEL_TEST_EMPTY}\n"
                             "no_default_text: ${KEEL_TEST_UNSET:-}\n"
                             "dollars: $$HOME $$${KEEL_TEST_USER}\n"
                             "price: cost $5 $\n"
                             "${KEEL_TEST_USER}: keys are not substituted\n"
                             "list: [\"${KEEL_TEST_USER}\", '${KEEL_TEST_UNSET:-a b}']\n");
    const cfg_node_t *root = cfg_doc_root(doc);
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "user")), "alice");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "greeting")), "hi alice!");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "fallback")), "guest");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "empty_default")), "x");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "empty")), "");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "no_default_text")), "");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "dollars")), "$HOME $alice");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "price")), "cost $5 $");
    assert_non_null(cfg_map_get(root, "${KEEL_TEST_USER}"));
    const cfg_node_t *list = cfg_map_get(root, "list");
    assert_string_equal(cfg_node_scalar(cfg_seq_at(list, 0)), "alice");
    assert_string_equal(cfg_node_scalar(cfg_seq_at(list, 1)), "a b");
    cfg_doc_free(doc);
}

static void test_substitution_errors(void **state)
{
    unsetenv("KEEL_TEST_UNSET");
    unsetenv("KEEL_TEST_UNSET2");
    expect_load_error("db:\n  password: ${KEEL_TEST_UNSET}\n",
                      "t.yaml:2:13: db.password: environment variable 'KEEL_TEST_UNSET' is not "
                      "set (give a default with ${KEEL_TEST_UNSET:-default})");
    /* Every unset variable is reported, not only the first. */
    const char *const both[] = {
        "t.yaml:2:5: l[0]: environment variable 'KEEL_TEST_UNSET' is not set (give a default "
        "with ${KEEL_TEST_UNSET:-default})",
        "t.yaml:3:5: l[1]: environment variable 'KEEL_TEST_UNSET2' is not set (give a default "
        "with ${KEEL_TEST_UNSET2:-default})",
        NULL};
    expect_load_errors("l:\n  - ${KEEL_TEST_UNSET}\n  - \"${KEEL_TEST_UNSET2}\"\n", both);
    expect_load_error("x: abc ${KEEL_TEST_USER\n",
                      "t.yaml:1:4: x: unterminated '${' (write $$ for a literal $)");
    expect_load_error("x: ${1A}\n",
                      "t.yaml:1:4: x: invalid reference '${1A}': use ${NAME} or ${NAME:-default}");
    expect_load_error("x: ${A-b}\n",
                      "t.yaml:1:4: x: invalid reference '${A-b}': use ${NAME} or ${NAME:-default}");
    expect_load_error("x: ${}\n",
                      "t.yaml:1:4: x: invalid reference '${}': use ${NAME} or ${NAME:-default}");
}

static void test_anchors_aliases_and_merges(void **state)
{
    cfg_doc_t *doc = load_ok("base: &base\n"
                             "  port: 80\n"
                             "  host: h\n"
                             "list: &l [a, b]\n"
                             "copy: *l\n"
                             "srv:\n"
                             "  <<: *base\n"
                             "  port: 8080\n"
                             "multi:\n"
                             "  <<: [*base, {extra: 1, host: other}]\n"
                             "word: &w hello\n"
                             "again: *w\n"
                             "\"<<\": quoted is a plain key\n");
    const cfg_node_t *root = cfg_doc_root(doc);
    const cfg_node_t *copy = cfg_map_get(root, "copy");
    assert_int_equal(cfg_seq_len(copy), 2);
    assert_string_equal(cfg_node_scalar(cfg_seq_at(copy, 1)), "b");
    assert_int_equal(cfg_node_line(copy), 5); /* the alias keeps its own location */
    assert_int_equal(cfg_node_column(copy), 7);
    const cfg_node_t *srv = cfg_map_get(root, "srv");
    assert_int_equal(cfg_map_size(srv), 2);
    assert_string_equal(cfg_node_scalar(cfg_map_get(srv, "port")), "8080");
    assert_string_equal(cfg_node_scalar(cfg_map_get(srv, "host")), "h");
    const cfg_node_t *multi = cfg_map_get(root, "multi");
    assert_int_equal(cfg_map_size(multi), 3);
    assert_string_equal(cfg_node_scalar(cfg_map_get(multi, "host")), "h");
    assert_string_equal(cfg_node_scalar(cfg_map_get(multi, "extra")), "1");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "again")), "hello");
    assert_string_equal(cfg_node_scalar(cfg_map_get(root, "<<")), "quoted is a plain key");
    cfg_doc_free(doc);

    expect_load_error("a: *nope\n", "t.yaml:1:4: a: unknown anchor 'nope'");
    expect_load_error("a: &x [*x]\n", "t.yaml:1:8: a[0]: unknown anchor 'x'");
    expect_load_error("a:\n  <<: 5\n",
                      "t.yaml:2:7: a: '<<' merges a mapping or a list of mappings");
}

static void test_duplicate_and_bad_keys(void **state)
{
    const char *const dups[] = {"t.yaml:4:3: b: duplicate key 'c' (first at line 3, column 3)",
                                "t.yaml:5:1: duplicate key 'a' (first at line 1, column 1)", NULL};
    expect_load_errors("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", dups);
    expect_load_error("{x: 1, x: 2}\n",
                      "t.yaml:1:8: duplicate key 'x' (first at line 1, column 2)");
    expect_load_error("? [a, b]\n: 1\n", "t.yaml:1:3: mapping keys must be scalars");
    expect_load_error("~: 1\n", "t.yaml:1:1: mapping keys must be non-empty scalars");
    expect_load_error("a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is allowed");
}

static void test_bad_yaml_reports_location_quietly(void **state)
{
    /* libfyaml must not print anything itself: capture fd 2 meanwhile. */
    fflush(stderr);
    FILE *capture = tmpfile();
    assert_non_null(capture);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    cfg_doc_t *doc1 = cfg_doc_load_string("t.yaml", "a: 1\nb: [1, 2\n", &errs);
    cfg_doc_t *doc2 = cfg_doc_load_string("t.yaml", "a: 1\n  b: 2\n", &errs);
    cfg_doc_t *doc3 = cfg_doc_load_string("t.yaml", "key: value\nx: 'open\n", &errs);
    cfg_doc_t *doc4 = cfg_doc_load_string("t.yaml", "a:\n\tb: 1\n", &errs);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(fseek(capture, 0, SEEK_END), 0);
    assert_int_equal(ftell(capture), 0);
    fclose(capture);

    assert_null(doc1);
    assert_null(doc2);
    assert_null(doc3);
    assert_null(doc4);
    assert_int_equal(errs.count, 4);
    assert_string_equal(errs.items[0],
                        "t.yaml:3:1: invalid YAML: flow sequence without a closing bracket");
    assert_string_equal(errs.items[1], "t.yaml:1:4: invalid YAML: invalid multiline plain key");
    assert_string_equal(errs.items[2],
                        "t.yaml:2:5: invalid YAML: single-quoted scalar without closing quote");
    assert_string_equal(errs.items[3],
                        "t.yaml:2:1: invalid YAML: tab character may not be used as indentation");
    cfg_errors_free(&errs);
}

static void test_load_file(void **state)
{
    char path[] = "/tmp/keel_test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "kernel:\n  worker_threads: 2\nbroken: [\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    assert_null(cfg_doc_load_file(path, &errs));
    assert_int_equal(errs.count, 1);
    char expected[128];
    snprintf(expected, sizeof(expected), "%s:4:1: invalid YAML: ", path);
    assert_int_equal(strncmp(errs.items[0], expected, strlen(expected)), 0);
    cfg_errors_free(&errs);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, text, 28), 28); /* the valid first two lines */
    close(fd);
    cfg_doc_t *doc = cfg_doc_load_file(path, &errs);
    assert_non_null(doc);
    const cfg_node_t *threads =
        cfg_map_get(cfg_map_get(cfg_doc_root(doc), "kernel"), "worker_threads");
    assert_string_equal(cfg_node_file(threads), path);
    assert_string_equal(cfg_node_scalar(threads), "2");
    cfg_doc_free(doc);
    unlink(path);

    assert_null(cfg_doc_load_file("/nonexistent/keel.yaml", &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.items[0],
                        "/nonexistent/keel.yaml: cannot open: No such file or directory");
    cfg_errors_free(&errs);
}

static void test_errors_helpers(void **state)
{
    cfg_doc_t *doc = load_ok("a:\n  b: 1\n");
    const cfg_node_t *b = cfg_map_get(cfg_map_get(cfg_doc_root(doc), "a"), "b");
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    for (int i = 0; i < 20; i++) /* grows past the first allocation */
        cfg_errors_add(&errs, i == 0 ? b : NULL, "problem %d", i);
    assert_int_equal(errs.count, 20);
    assert_string_equal(errs.items[0], "t.yaml:2:6: problem 0");
    assert_string_equal(errs.items[19], "problem 19");
    char *printed = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&printed, &size);
    cfg_errors_print(&errs, out);
    fclose(out);
    assert_int_equal(strncmp(printed, "t.yaml:2:6: problem 0\nproblem 1\nproblem 2\n", 41), 0);
    free(printed);
    cfg_errors_free(&errs);
    assert_int_equal(errs.count, 0);
    assert_null(errs.items);
    cfg_doc_free(doc);
}

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

static void test_type_names(void **state)
{
    assert_string_equal(cfg_type_name(KEEL_CFG_STRING), "string");
    assert_string_equal(cfg_type_name(KEEL_CFG_INT), "int");
    assert_string_equal(cfg_type_name(KEEL_CFG_DOUBLE), "double");
    assert_string_equal(cfg_type_name(KEEL_CFG_BOOL), "bool");
    assert_string_equal(cfg_type_name(KEEL_CFG_DURATION), "duration");
    assert_string_equal(cfg_type_name(KEEL_CFG_SIZE), "size");
    assert_string_equal(cfg_type_name(KEEL_CFG_STRING_LIST), "string list");
    assert_string_equal(cfg_type_name(KEEL_CFG_INSTANCE), "instance");
    assert_string_equal(cfg_type_name(KEEL_CFG_TOPIC), "topic");
    assert_string_equal(cfg_type_name(KEEL_CFG_SECTION), "section");
    assert_string_equal(cfg_type_name(KEEL_CFG_SECTION_LIST), "section list");
    assert_string_equal(cfg_type_name((keel_config_type_t)99), "unknown");
}

/* ---- validation --------------------------------------------------------- */

static const keel_config_key_t sub_fields[] = {{"x", KEEL_CFG_INT, NULL, NULL, 0, NULL},
                                               {NULL, 0, NULL, NULL, 0, NULL}};

static const keel_config_key_t all_types[] = {
    {"s", KEEL_CFG_STRING, NULL, NULL, 0, NULL},
    {"i", KEEL_CFG_INT, NULL, NULL, 0, NULL},
    {"d", KEEL_CFG_DOUBLE, NULL, NULL, 0, NULL},
    {"b", KEEL_CFG_BOOL, NULL, NULL, 0, NULL},
    {"t", KEEL_CFG_DURATION, NULL, NULL, 0, NULL},
    {"z", KEEL_CFG_SIZE, NULL, NULL, 0, NULL},
    {"l", KEEL_CFG_STRING_LIST, NULL, NULL, 0, NULL},
    {"l2", KEEL_CFG_STRING_LIST, NULL, NULL, 0, NULL},
    {"inst", KEEL_CFG_INSTANCE, NULL, NULL, 0, NULL},
    {"topic", KEEL_CFG_TOPIC, NULL, NULL, 0, NULL},
    {"sec", KEEL_CFG_SECTION, NULL, NULL, 0, sub_fields},
    {"secs", KEEL_CFG_SECTION_LIST, NULL, NULL, 0, sub_fields},
    {NULL, 0, NULL, NULL, 0, NULL}};

static const char *const instance_names[] = {"http", "q1"};
static const cfg_instances_t instances = {instance_names, 2};

static void test_validate_accepts_every_type(void **state)
{
    expect_validation("s: text\ni: -12\nd: 2.5\nb: off\nt: 250ms\nz: 64KiB\n"
                      "l: [a, 'b c', 3]\ninst: q1\ntopic: orders.accepted\n"
                      "sec: {x: 1}\nsecs: [{x: 1}, {}]\n",
                      all_types, "cfg", &instances, no_errors);
    /* A null section is an empty one; empty lists are fine. */
    expect_validation("sec:\nsecs: []\nl: []\n", all_types, "cfg", &instances, no_errors);
    /* Without an instance list, INSTANCE values are not checked. */
    expect_validation("inst: anything\n", all_types, "cfg", NULL, no_errors);
    expect_validation("", all_types, "cfg", NULL, no_errors);
}

static void test_validate_rejects_every_type(void **state)
{
    const char *const expected[] = {"t.yaml:1:4: cfg.s: expected string, got a list",
                                    "t.yaml:2:4: cfg.i: expected int, got 'abc'",
                                    "t.yaml:3:4: cfg.d: expected double, got '1.5x'",
                                    "t.yaml:4:4: cfg.b: expected bool, got 'maybe'",
                                    "t.yaml:5:4: cfg.t: expected duration, got '5 min'",
                                    "t.yaml:6:4: cfg.z: expected size, got '10 KiB'",
                                    "t.yaml:7:4: cfg.l: expected string list, got 'notalist'",
                                    "t.yaml:8:9: cfg.l2[1]: expected string, got a mapping",
                                    "t.yaml:9:7: cfg.inst: expected instance, got a mapping",
                                    "t.yaml:10:8: cfg.topic: expected topic, got 'a b'",
                                    "t.yaml:11:6: cfg.sec: expected section, got '5'",
                                    "t.yaml:12:8: cfg.secs[0]: expected section, got '1'",
                                    "t.yaml:12:15: cfg.secs[1].x: expected int, got 'y'",
                                    NULL};
    expect_validation("s: [1]\ni: abc\nd: 1.5x\nb: maybe\nt: 5 min\nz: 10 KiB\nl: notalist\n"
                      "l2: [a, {b: 1}]\ninst: {a: 1}\ntopic: \"a b\"\nsec: 5\nsecs: [1, {x: y}]\n",
                      all_types, "cfg", &instances, expected);
}

static void test_validate_nulls_and_odd_values(void **state)
{
    const char *const expected[] = {
        "t.yaml:1:1: cfg.i: expected int, got null",
        "t.yaml:2:4: cfg.d: expected double, got null",
        "t.yaml:3:1: cfg.l: expected string list, got null",
        "t.yaml:4:1: cfg.secs: expected section list, got null",
        "t.yaml:5:8: cfg.topic: expected topic, got ''",
        "t.yaml:6:4: cfg.s: expected string, got null",
        "t.yaml:7:4: cfg.b: expected bool, got "
        "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'",
        NULL};
    char text[256] = "i:\nd: ~\nl:\nsecs:\ntopic: ''\ns: null\nb: ";
    memset(text + strlen(text), 'a', 70);
    strcat(text, "\n");
    expect_validation(text, all_types, "cfg", &instances, expected);

    const char *const not_a_map[] = {"t.yaml:1:1: cfg: expected section, got a list", NULL};
    expect_validation("- a\n", all_types, "cfg", &instances, not_a_map);
    /* An empty context gives messages without the "context: " part. */
    const char *const no_context[] = {
        "t.yaml:1:1: unknown key 'q'; allowed keys: s, i, d, b, t, z, l, l2, inst, topic, sec, "
        "secs",
        "t.yaml:2:4: i: expected int, got 'x'", NULL};
    expect_validation("q: 1\ni: x\n", all_types, "", NULL, no_context);
}

/* The shape of keel.yaml: contexts name the full path of each value. */
static void test_validate_nested_config(void **state)
{
    const char *const expected[] = {
        "t.yaml:3:3: kernel: unknown key 'log_levl'; allowed keys: data_dir, plugin_dir, "
        "log_level, log_format, log_file, worker_threads",
        "t.yaml:4:19: kernel.worker_threads: expected int, got 'four'",
        "t.yaml:12:18: plugins[0].config.queues[1].topic: expected topic, got 'b c'",
        "t.yaml:12:11: plugins[0].config.queues[1]: missing required key 'name'",
        "t.yaml:13:17: plugins[0].config.queues[2].name: expected string, got a list",
        "t.yaml:16:5: plugins[1].config: missing required key 'path'",
        "t.yaml:20:13: plugins[2].config.port: expected int, got 'abc'",
        "t.yaml:21:14: plugins[2].config.queue: no instance named 'q2'; instances: http, q1",
        "t.yaml:23:5: plugins[3]: missing required key 'module'",
        NULL};
    expect_validation("kernel:\n"
                      "  data_dir: /var/lib/keel\n"
                      "  log_levl: debug\n"
                      "  worker_threads: four\n"
                      "plugins:\n"
                      "  - name: q1\n"
                      "    module: queue\n"
                      "    config:\n"
                      "      path: /data\n"
                      "      queues:\n"
                      "        - name: a\n"
                      "        - topic: b c\n"
                      "        - name: [x]\n"
                      "  - name: http\n"
                      "    module: http\n"
                      "    config:\n"
                      "  - name: w\n"
                      "    module: worker\n"
                      "    config:\n"
                      "      port: abc\n"
                      "      queue: q2\n"
                      "      path: /x\n"
                      "  - name: nomodule\n",
                      top_keys, "", &instances, expected);
}

static void test_validate_instances(void **state)
{
    static const keel_config_key_t keys[] = {{"store", KEEL_CFG_INSTANCE, "store", NULL, 0, NULL},
                                             {"queue", KEEL_CFG_INSTANCE, NULL, NULL, 0, NULL},
                                             {NULL, 0, NULL, NULL, 0, NULL}};
    /* An absent key's default must name an instance too. */
    const char *const expected[] = {
        "t.yaml:1:1: p.config.store: no instance named 'store' (the default); instances: http, q1",
        NULL};
    expect_validation("queue: q1\n", keys, "p.config", &instances, expected);
    const cfg_instances_t none = {NULL, 0};
    const char *const no_instances[] = {
        "t.yaml:1:8: p.queue: no instance named 'q1'; instances: (none)",
        "t.yaml:1:1: p.store: no instance named 'store' (the default); instances: (none)", NULL};
    expect_validation("queue: q1\n", keys, "p", &none, no_instances);
}

static void test_validate_missing_keys(void **state)
{
    const char *const in_map[] = {"t.yaml:1:1: p: missing required key 'path'", NULL};
    expect_validation("port: 1\n", plugin_config_keys, "p", NULL, in_map);
    /* NULL map (no config at all): no location to give. */
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    assert_int_equal(cfg_validate(NULL, plugin_config_keys, "plugins[0].config", NULL, &errs), 1);
    assert_string_equal(errs.items[0], "plugins[0].config: missing required key 'path'");
    cfg_errors_free(&errs);
    /* No keys declared: everything is unknown. */
    const char *const none[] = {"t.yaml:1:1: p: unknown key 'a'; allowed keys: (none)", NULL};
    expect_validation("a: 1\n", NULL, "p", NULL, none);
}

/* ---- key tables --------------------------------------------------------- */

static size_t check_table(const keel_config_key_t *keys, const char *expected)
{
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    size_t added = cfg_check_key_table(keys, "echo", &errs);
    assert_int_equal(added, errs.count);
    if (expected != NULL) {
        assert_true(errs.count >= 1);
        assert_string_equal(errs.items[0], expected);
    }
    cfg_errors_free(&errs);
    return added;
}

#define KEY(name, type, def, flags, fields)                                                        \
    {                                                                                              \
        name, type, def, NULL, flags, fields                                                       \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, 0, NULL, NULL, 0, NULL                                                               \
    }

static void test_check_key_table(void **state)
{
    assert_int_equal(check_table(top_keys, NULL), 0);
    assert_int_equal(check_table(all_types, NULL), 0);
    assert_int_equal(check_table(NULL, NULL), 0);

    const keel_config_key_t bad_default[] = {KEY("port", KEEL_CFG_INT, "eighty", 0, NULL), END};
    check_table(bad_default, "echo: config key 'port': default 'eighty' is not a valid int");
    const keel_config_key_t bad_duration[] = {KEY("t", KEEL_CFG_DURATION, "soon", 0, NULL), END};
    check_table(bad_duration, "echo: config key 't': default 'soon' is not a valid duration");
    const keel_config_key_t bad_topic[] = {KEY("out", KEEL_CFG_TOPIC, "a b", 0, NULL), END};
    check_table(bad_topic, "echo: config key 'out': default 'a b' is not a valid topic");
    const keel_config_key_t required_default[] = {
        KEY("path", KEEL_CFG_STRING, "/tmp", KEEL_CFG_REQUIRED, NULL), END};
    check_table(required_default,
                "echo: config key 'path': is required and has default '/tmp'; drop one");
    const keel_config_key_t dup[] = {KEY("a", KEEL_CFG_INT, NULL, 0, NULL),
                                     KEY("b", KEEL_CFG_INT, NULL, 0, NULL),
                                     KEY("a", KEEL_CFG_STRING, NULL, 0, NULL), END};
    check_table(dup, "echo: config key 'a': declared twice");
    const keel_config_key_t bad_names[] = {
        KEY("bad name", KEEL_CFG_INT, NULL, 0, NULL), KEY("", KEEL_CFG_INT, NULL, 0, NULL),
        KEY("a.b", KEEL_CFG_INT, NULL, 0, NULL), KEY("1st", KEEL_CFG_INT, NULL, 0, NULL), END};
    assert_int_equal(check_table(bad_names, "echo: config key 'bad name': invalid name (use "
                                            "letters, digits, '_' and '-')"),
                     4);
    const keel_config_key_t bad_type[] = {KEY("x", (keel_config_type_t)99, NULL, 0, NULL), END};
    check_table(bad_type, "echo: config key 'x': unknown type 99");
    const keel_config_key_t bad_flags[] = {KEY("x", KEEL_CFG_INT, NULL, 0x10, NULL), END};
    check_table(bad_flags, "echo: config key 'x': unknown flags 0x10");
    const keel_config_key_t no_fields[] = {KEY("s", KEEL_CFG_SECTION_LIST, NULL, 0, NULL), END};
    check_table(no_fields, "echo: config key 's': section list keys need fields");
    const keel_config_key_t stray_fields[] = {KEY("s", KEEL_CFG_INT, NULL, 0, sub_fields), END};
    check_table(stray_fields, "echo: config key 's': only section keys have fields");
    const keel_config_key_t list_default[] = {KEY("l", KEEL_CFG_STRING_LIST, "a", 0, NULL), END};
    check_table(list_default, "echo: config key 'l': string list keys cannot have a default");
    const keel_config_key_t nested_bad[] = {KEY("vis", KEEL_CFG_DURATION, "soon", 0, NULL),
                                            KEY("n", KEEL_CFG_INT, "1", KEEL_CFG_REQUIRED, NULL),
                                            END};
    const keel_config_key_t nested[] = {KEY("queues", KEEL_CFG_SECTION_LIST, NULL, 0, nested_bad),
                                        END};
    assert_int_equal(
        check_table(nested,
                    "echo: config key 'queues.vis': default 'soon' is not a valid duration"),
        2);
    /* A table whose section refers back to itself stops, with an error. */
    static keel_config_key_t loop[2];
    loop[0] = (keel_config_key_t)KEY("self", KEEL_CFG_SECTION, NULL, 0, loop);
    assert_int_equal(check_table(loop, NULL), 1);
}

/* ---- references --------------------------------------------------------- */

static void collect_ref(void *arg, keel_config_type_t type, const char *value)
{
    char *out = arg;
    size_t used = strlen(out);
    snprintf(out + used, 512 - used, "%s%s:%s", used ? " " : "",
             type == KEEL_CFG_TOPIC ? "topic" : "instance", value);
}

static void test_for_each_ref(void **state)
{
    static const keel_config_key_t route_fields[] = {
        KEY("target", KEEL_CFG_INSTANCE, NULL, 0, NULL),
        KEY("publish", KEEL_CFG_TOPIC, "default.topic", 0, NULL), END};
    static const keel_config_key_t keys[] = {
        KEY("store", KEEL_CFG_INSTANCE, "store", 0, NULL),
        KEY("out", KEEL_CFG_TOPIC, NULL, 0, NULL),
        KEY("name", KEEL_CFG_STRING, NULL, 0, NULL),
        KEY("routes", KEEL_CFG_SECTION_LIST, NULL, 0, route_fields),
        KEY("sec", KEEL_CFG_SECTION, NULL, 0, route_fields),
        END};
    cfg_doc_t *doc = load_ok("name: not.a.ref\nout: orders.out\nroutes:\n  - target: q1\n"
                             "  - target: q2\n    publish: t2\n");
    char refs[512] = "";
    cfg_for_each_ref(cfg_doc_root(doc), keys, collect_ref, refs);
    assert_string_equal(refs, "instance:store topic:orders.out instance:q1 topic:default.topic "
                              "instance:q2 topic:t2 topic:default.topic");
    refs[0] = '\0';
    cfg_for_each_ref(NULL, keys, collect_ref, refs);
    assert_string_equal(refs, "instance:store topic:default.topic");
    cfg_doc_free(doc);
}

/* ---- describe ----------------------------------------------------------- */

static void test_describe(void **state)
{
    static const keel_config_key_t keys[] = {
        {"path", KEEL_CFG_STRING, NULL, "Where to write", KEEL_CFG_REQUIRED, NULL},
        {"interval", KEEL_CFG_DURATION, "60s", "How often", 0, NULL},
        {"tags", KEEL_CFG_STRING_LIST, NULL, NULL, 0, NULL},
        {"queues", KEEL_CFG_SECTION_LIST, NULL, "Queues to serve", 0, queue_fields},
        END};
    char *printed = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&printed, &size);
    cfg_describe(out, keys, 2);
    fclose(out);
    assert_string_equal(printed, "  path      string        (required)  Where to write\n"
                                 "  interval  duration      60s         How often\n"
                                 "  tags      string list   -\n"
                                 "  queues    section list  -           Queues to serve\n"
                                 "    name        string        (required)  queue name\n"
                                 "    topic       topic         -\n"
                                 "    visibility  duration      30s         redelivery delay\n");
    free(printed);
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

/* One-line read checks: the return code, and the value when it is 0. */
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
        cmocka_unit_test(test_load_tree_and_accessors),
        cmocka_unit_test(test_load_nulls_and_empty),
        cmocka_unit_test(test_substitution),
        cmocka_unit_test(test_substitution_errors),
        cmocka_unit_test(test_anchors_aliases_and_merges),
        cmocka_unit_test(test_duplicate_and_bad_keys),
        cmocka_unit_test(test_bad_yaml_reports_location_quietly),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_errors_helpers),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_double),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_validate_accepts_every_type),
        cmocka_unit_test(test_validate_rejects_every_type),
        cmocka_unit_test(test_validate_nulls_and_odd_values),
        cmocka_unit_test(test_validate_nested_config),
        cmocka_unit_test(test_validate_instances),
        cmocka_unit_test(test_validate_missing_keys),
        cmocka_unit_test(test_check_key_table),
        cmocka_unit_test(test_for_each_ref),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_reads_values_and_defaults),
        cmocka_unit_test(test_reads_errors),
        cmocka_unit_test(test_is_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
