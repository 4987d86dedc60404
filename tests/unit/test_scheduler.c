/* The scheduler plugin through the harness, with an injected clock: a
 * rate(1 minute) schedule fires on time into a real queue_lmdb queue whose
 * messages a pipeline (test_step) processes; missed firings are not
 * replayed; at() fires once; cron() publishes to a topic; disabled
 * schedules stay quiet; catch_up fires once after a restart that missed
 * firings; bad configs fail init with the position logged. */
#include "queue_client.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "record_file.h"

static const char *path_of(const char *dir, const char *name)
{
    static char paths[8][512];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 512, "%s/%s.so", dir, name);
    return out;
}

#define QUEUE_SO     path_of(KEEL_BUILTIN_PLUGIN_DIR, "queue_lmdb")
#define SCHEDULER_SO path_of(KEEL_BUILTIN_PLUGIN_DIR, "scheduler")
#define STEP_SO      path_of(KEEL_TEST_PLUGIN_DIR, "test_step")

/* 2026-11-22T10:00:00Z */
#define T0_MS    (UINT64_C(1795341600) * 1000)
#define MINUTE   (UINT64_C(60000))
#define QUIET_MS 150 /* 30 ticks of 5 ms: long enough to see a wrong firing */

static uint64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Waits until the queue has deleted (processed) `want` messages. */
static keel_queue_stats_t wait_processed(queue_client_t *q, uint64_t want)
{
    keel_queue_stats_t s;
    uint64_t deadline = monotonic_ms() + 10000;
    for (;;) {
        assert_int_equal(queue_stats_of(q, "orders", &s), 0);
        if (s.deleted >= want || monotonic_ms() > deadline)
            break;
        pause_ms(5);
    }
    assert_int_equal(s.deleted, want);
    return s;
}

static int count_lines(const char *prefix, const char *suffix)
{
    FILE *f = fopen(record_path, "r");
    if (f == NULL)
        return 0;
    char line[600];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        size_t len = strlen(line), sl = strlen(suffix);
        if (strncmp(line, prefix, strlen(prefix)) == 0 && len >= sl &&
            strcmp(line + len - sl, suffix) == 0)
            n++;
    }
    fclose(f);
    return n;
}

static void test_rate_fires_into_a_queue_on_time(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    keel_harness_set_time(h, T0_MS);
    assert_int_equal(keel_harness_add(h, "q", QUEUE_SO, "queues:\n  - name: orders\n"), 0);
    char step_cfg[400];
    snprintf(step_cfg, sizeof step_cfg, "record: %s\nrecord_attr: schedule\n", record_path);
    assert_int_equal(keel_harness_add(h, "check", STEP_SO, step_cfg), 0);
    assert_int_equal(keel_harness_add_pipeline(h, "orders", "queue: q\nsteps: [check]\n"), 0);
    assert_int_equal(keel_harness_add(h, "sched", SCHEDULER_SO,
                                      "tick: 5ms\n"
                                      "schedules:\n"
                                      "  - name: every-minute\n"
                                      "    expression: rate(1 minute)\n"
                                      "    queue: q\n"
                                      "    queue_name: orders\n"
                                      "    message: tick\n"
                                      "    attributes: [kind=heartbeat]\n"
                                      "  - name: sleeping\n"
                                      "    expression: rate(1 minute)\n"
                                      "    queue: q\n"
                                      "    queue_name: orders\n"
                                      "    message: never\n"
                                      "    enabled: false\n"),
                     0);
    assert_int_equal(keel_harness_start(h), 0);
    queue_client_t q = {0};
    assert_int_equal(queue_client_open(h, "q", &q), 0);

    /* Nothing before the first minute is up. */
    keel_harness_set_time(h, T0_MS + MINUTE - 1000);
    pause_ms(QUIET_MS);
    keel_queue_stats_t s = wait_processed(&q, 0);
    assert_int_equal(s.sent, 0);

    for (uint64_t i = 1; i <= 3; i++) {
        keel_harness_set_time(h, T0_MS + i * MINUTE);
        s = wait_processed(&q, i);
        assert_int_equal(s.sent, i);
    }
    /* Half a minute on: no firing. */
    keel_harness_set_time(h, T0_MS + 3 * MINUTE + 30000);
    pause_ms(QUIET_MS);
    s = wait_processed(&q, 3);
    assert_int_equal(s.sent, 3);

    /* Ten minutes pass at once (keel stalled): one firing, not ten. */
    keel_harness_set_time(h, T0_MS + 13 * MINUTE + 30000);
    s = wait_processed(&q, 4);
    pause_ms(QUIET_MS);
    s = wait_processed(&q, 4);
    assert_int_equal(s.sent, 4);
    /* ...and the schedule keeps its grid (a minute from the start). */
    keel_harness_set_time(h, T0_MS + 14 * MINUTE - 1000);
    pause_ms(QUIET_MS);
    assert_int_equal(wait_processed(&q, 4).sent, 4);
    keel_harness_set_time(h, T0_MS + 14 * MINUTE);
    assert_int_equal(wait_processed(&q, 5).sent, 5);

    assert_int_equal(count_lines("ok ", " tick"), 5);
    assert_int_equal(count_lines("ok ", " never"), 0);
    assert_int_equal(count_lines("attr ", " schedule=every-minute"), 5);
    assert_int_equal(s.dlq_depth, 0);
    keel_harness_free(h);
}

static const char *attr_of(const keel_msg_t *m, const char *key)
{
    for (size_t i = 0; i < m->attr_count; i++)
        if (strcmp(m->attrs[i].key, key) == 0)
            return m->attrs[i].value;
    return NULL;
}

static void test_at_and_cron_publish_to_a_topic(void **state)
{
    (void)state;
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    keel_harness_set_time(h, T0_MS);
    assert_int_equal(keel_harness_capture(h, "sched.once", KEEL_OK), 0);
    assert_int_equal(keel_harness_capture(h, "sched.cron", KEEL_OK), 0);
    assert_int_equal(keel_harness_add(h, "sched", SCHEDULER_SO,
                                      "tick: 5ms\n"
                                      "schedules:\n"
                                      "  - name: once\n"
                                      "    expression: at(2026-11-22T11:02:00)\n"
                                      "    timezone: Europe/Berlin\n"
                                      "    topic: sched.once\n"
                                      "    message: hello\n"
                                      "  - name: even-minutes\n"
                                      "    expression: cron(0/2 * * * ? *)\n"
                                      "    topic: sched.cron\n"
                                      "    message: cron\n"),
                     0);
    assert_int_equal(keel_harness_start(h), 0);

    keel_harness_set_time(h, T0_MS + MINUTE); /* 10:01Z */
    pause_ms(QUIET_MS);
    assert_int_equal(keel_harness_wait(h, "sched.once", 1, 0), 0);
    assert_int_equal(keel_harness_wait(h, "sched.cron", 1, 0), 0);

    keel_harness_set_time(h, T0_MS + 2 * MINUTE); /* 10:02Z = 11:02 in Berlin */
    assert_int_equal(keel_harness_wait(h, "sched.once", 1, 10000), 1);
    assert_int_equal(keel_harness_wait(h, "sched.cron", 1, 10000), 1);
    const keel_msg_t *m = keel_harness_captured(h, "sched.once", 0);
    assert_non_null(m);
    assert_int_equal(m->body_len, 5);
    assert_memory_equal(m->body, "hello", 5);
    assert_string_equal(attr_of(m, "schedule"), "once");
    assert_string_equal(attr_of(m, "scheduled_time"), "2026-11-22T10:02:00Z");

    /* Each even minute is seen by a tick before the clock moves on (a tick
     * that finds itself late fires once, then continues from now). */
    for (uint64_t minute = 3; minute <= 6; minute++) {
        keel_harness_set_time(h, T0_MS + minute * MINUTE);
        if (minute % 2 == 0)
            assert_int_equal(keel_harness_wait(h, "sched.cron", minute / 2, 10000), minute / 2);
        else
            pause_ms(20);
    }
    assert_int_equal(keel_harness_wait(h, "sched.cron", 3, 10000), 3);
    pause_ms(QUIET_MS);
    assert_int_equal(keel_harness_wait(h, "sched.once", 2, 0), 1); /* at() fired once */
    assert_int_equal(keel_harness_wait(h, "sched.cron", 4, 0), 3);
    m = keel_harness_captured(h, "sched.cron", 2);
    assert_string_equal(attr_of(m, "scheduled_time"), "2026-11-22T10:06:00Z");
    keel_harness_free(h);
}

static keel_harness_t *start_hourly(const char *data_dir, bool catch_up, uint64_t now_ms)
{
    keel_harness_t *h = keel_harness_new(data_dir);
    assert_non_null(h);
    keel_harness_set_time(h, now_ms);
    assert_int_equal(keel_harness_capture(h, "sched.hourly", KEEL_OK), 0);
    char cfg[400];
    snprintf(cfg, sizeof cfg,
             "tick: 5ms\nschedules:\n  - name: hourly\n    expression: cron(0 * * * ? *)\n"
             "    topic: sched.hourly\n    catch_up: %s\n",
             catch_up ? "true" : "false");
    assert_int_equal(keel_harness_add(h, "sched", SCHEDULER_SO, cfg), 0);
    assert_int_equal(keel_harness_start(h), 0);
    return h;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void test_catch_up_fires_once_after_missed_firings(void **state)
{
    (void)state;
    char dir[] = "/tmp/keel-sched-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const uint64_t hour = 60 * MINUTE;

    keel_harness_t *h = start_hourly(dir, true, T0_MS); /* 10:00Z */
    keel_harness_set_time(h, T0_MS + hour);
    assert_int_equal(keel_harness_wait(h, "sched.hourly", 1, 10000), 1);
    keel_harness_free(h);

    /* Down from 11:00 to 13:30: 12:00 and 13:00 were missed; one firing. */
    h = start_hourly(dir, true, T0_MS + 3 * hour + 30 * MINUTE);
    assert_int_equal(keel_harness_wait(h, "sched.hourly", 1, 10000), 1);
    pause_ms(QUIET_MS);
    assert_int_equal(keel_harness_wait(h, "sched.hourly", 2, 0), 1);
    const keel_msg_t *m = keel_harness_captured(h, "sched.hourly", 0);
    assert_string_equal(attr_of(m, "scheduled_time"), "2026-11-22T12:00:00Z");
    keel_harness_set_time(h, T0_MS + 4 * hour);
    assert_int_equal(keel_harness_wait(h, "sched.hourly", 2, 10000), 2);
    m = keel_harness_captured(h, "sched.hourly", 1);
    assert_string_equal(attr_of(m, "scheduled_time"), "2026-11-22T14:00:00Z");
    keel_harness_free(h);

    /* Restarted within the hour: nothing was missed, nothing fires. */
    h = start_hourly(dir, true, T0_MS + 4 * hour + 10 * MINUTE);
    pause_ms(QUIET_MS);
    assert_int_equal(keel_harness_wait(h, "sched.hourly", 1, 0), 0);
    keel_harness_free(h);

    /* Without catch_up, missed firings are simply gone. */
    h = start_hourly(dir, false, T0_MS + 8 * hour + 30 * MINUTE);
    pause_ms(QUIET_MS);
    assert_int_equal(keel_harness_wait(h, "sched.hourly", 1, 0), 0);
    keel_harness_free(h);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Starts a scheduler with `schedule` (one list entry) and returns what it
 * logged; init must fail. */
static char *start_failing(const char *schedule)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "q", QUEUE_SO, "queues:\n  - name: orders\n"), 0);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "schedules:\n  - name: nightly\n%s", schedule);
    assert_int_equal(keel_harness_add(h, "sched", SCHEDULER_SO, cfg), 0);
    fflush(stderr);
    FILE *capture = tmpfile();
    assert_non_null(capture);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
    int rc = keel_harness_start(h);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    keel_harness_free(h);
    assert_int_not_equal(rc, 0);
    static char text[8192];
    rewind(capture);
    size_t n = fread(text, 1, sizeof text - 1, capture);
    text[n] = '\0';
    fclose(capture);
    return text;
}

static void expect_logged(const char *schedule, const char *needle)
{
    const char *log = start_failing(schedule);
    if (strstr(log, needle) == NULL)
        fail_msg("expected \"%s\" in the log:\n%s", needle, log);
}

static void test_bad_configs_fail_init_with_the_position(void **state)
{
    (void)state;
    expect_logged("    expression: cron(0 12 * * * *)\n    queue: q\n    queue_name: orders\n",
                  "schedules[0] 'nightly': expression 'cron(0 12 * * * *)': field 5 "
                  "(day-of-week) at character 15: one of day-of-month and day-of-week must be "
                  "'?'");
    expect_logged("    expression: cron(0 25 * * ? *)\n    topic: t\n",
                  "field 2 (hours) at character 8: 25 is not in 0-23");
    expect_logged("    expression: rate(1 hours)\n    topic: t\n",
                  "expression 'rate(1 hours)': at character 8: use 'hour' for 1");
    expect_logged("    expression: rate(5 minutes)\n    timezone: Europe/Atlantis\n    topic: t\n",
                  "time zone 'Europe/Atlantis': unknown time zone");
    expect_logged("    expression: rate(5 minutes)\n    topic: t\n    queue: q\n"
                  "    queue_name: orders\n",
                  "set either queue (with queue_name) or topic");
    expect_logged("    expression: rate(5 minutes)\n    queue: q\n", "queue 'q' needs queue_name");
    expect_logged("    expression: rate(5 minutes)\n    queue: q\n    queue_name: nope\n",
                  "queue instance 'q' has no queue 'nope'");
    expect_logged("    expression: rate(5 minutes)\n    topic: t\n    attributes: [novalue]\n",
                  "attributes[0] 'novalue': expected key=value");
    expect_logged("    expression: rate(5 minutes)\n    topic: t\n"
                  "  - name: nightly\n    expression: rate(1 day)\n    topic: t\n",
                  "schedules[1] 'nightly': the name is already used by schedules[0]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rate_fires_into_a_queue_on_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_at_and_cron_publish_to_a_topic, setup, teardown),
        cmocka_unit_test(test_catch_up_fires_once_after_missed_firings),
        cmocka_unit_test(test_bad_configs_fail_init_with_the_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
