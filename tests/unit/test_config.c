/* Config loading tests: the tree, ${VAR} substitution, anchors, YAML errors with their locations,
 * error lists. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_test_util.h"

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

/* Found by tests/fuzz/fuzz_config: an error in the value of a refused key
 * (empty or a collection, which has no text) built its path from a NULL
 * key name and crashed the loader instead of reporting. */
static void test_error_under_refused_key_is_reported(void **state)
{
    unsetenv("KEEL_TEST_UNSET");
    const char *const alias[] = {"t.yaml:1:1: mapping keys must be non-empty scalars",
                                 "t.yaml:1:3: ?: unknown anchor 'nope'", NULL};
    expect_load_errors(": *nope\n", alias);
    const char *const variable[] = {
        "t.yaml:2:3: a: mapping keys must be non-empty scalars",
        "t.yaml:2:5: a.?: environment variable 'KEEL_TEST_UNSET' is not set (give a default "
        "with ${KEEL_TEST_UNSET:-default})",
        NULL};
    expect_load_errors("a:\n  : ${KEEL_TEST_UNSET}\n", variable);
    expect_load_error("? [1]\n: *nope\n", "t.yaml:1:3: mapping keys must be scalars");
}

/* Found by tests/fuzz/fuzz_config: libfyaml 0.8 never returns from "%\xb2"
 * (invalid UTF-8 in a directive). Text that is not UTF-8 is refused first. */
static void test_invalid_utf8_is_refused_before_parsing(void **state)
{
    expect_load_error("%\xb2", "t.yaml:1:2: invalid YAML: the file is not UTF-8 text");
    expect_load_error("a: 1\nb: caf\xc3\n", "t.yaml:2:7: invalid YAML: the file is not UTF-8 text");
    expect_load_error("a: \xed\xa0\x80\n", "t.yaml:1:4: invalid YAML: the file is not UTF-8 text");
    cfg_doc_t *doc = load_ok("\xef\xbb\xbf"
                             "a: caf\xc3\xa9 \xf0\x9f\x98\x80\n");
    assert_string_equal(cfg_node_scalar(cfg_map_get(cfg_doc_root(doc), "a")),
                        "caf\xc3\xa9 \xf0\x9f\x98\x80");
    cfg_doc_free(doc);
}

/* Found by tests/fuzz/fuzz_config: a `<<` list with a non-mapping before a
 * mapping sized the merged map without the later mapping's keys, then merged
 * them anyway: a write past the keys array, then a crash. */
static void test_merge_list_with_invalid_element_is_reported(void **state)
{
    expect_load_error("<<:\n  -\n  - s:\n    f:\n",
                      "t.yaml:2:3: '<<' merges a mapping or a list of mappings");
    expect_load_error("a: &m {x: 1, z: 3}\nb:\n  <<: [3, *m]\n  y: 2\n",
                      "t.yaml:3:7: b: '<<' merges a mapping or a list of mappings");
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
        cmocka_unit_test(test_error_under_refused_key_is_reported),
        cmocka_unit_test(test_invalid_utf8_is_refused_before_parsing),
        cmocka_unit_test(test_merge_list_with_invalid_element_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
