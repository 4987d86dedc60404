/* Config schema tests: validation messages, key tables, references, describe. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_test_util.h"

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

/* One-line read checks: the return code, and the value when it is 0. */

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
