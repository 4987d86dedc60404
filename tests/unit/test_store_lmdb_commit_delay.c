/* store_lmdb's commit_delay (group commit under load): a lone put never
 * waits, concurrent puts share far fewer commits, 0 turns it off, the
 * range is checked at init, and stopping drains without waiting it out.
 * The writer's counters come from the test-only "store_lmdb.debug"
 * service. */
#include "store_lmdb_util.h"

#include <unistd.h>

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* One put on an otherwise idle store: its time, and it was not held back. */
static uint64_t timed_lone_put(keel_harness_t *h, sc_t *s, const char *id, unsigned seed)
{
    sc_order_t o;
    sc_wait_t w;
    sc_order(s, &o, id, "lone", seed);
    uint64_t delayed = read_counts(h).delayed_groups;
    uint64_t t0 = now_ms();
    assert_int_equal(sc_put(s, &o.r, &w), 0);
    uint64_t elapsed = now_ms() - t0;
    sc_wait_free(&w);
    assert_int_equal(read_counts(h).delayed_groups, delayed);
    print_message("lone put '%s': %llu ms\n", id, (unsigned long long)elapsed);
    return elapsed;
}

static void test_lone_put_is_not_delayed(void **state)
{
    (void)state;
    keel_harness_t *h = start_store(NULL, "commit_delay: 100ms\n");
    sc_t s;
    sc_open(&s, h, "store");
    /* First write, then one after a single-request batch. */
    assert_true(timed_lone_put(h, &s, "first", 1) < 500);
    assert_true(timed_lone_put(h, &s, "second", 2) < 500);

    /* A burst leaves the writer's last batch with several requests; once
     * the lane has been idle for longer than the delay, a lone put is
     * committed at once again. */
    enum { BURST = 300 };
    sc_order_t *o = calloc(BURST, sizeof *o);
    sc_wait_t *w = calloc(BURST, sizeof *w);
    assert_non_null(o);
    assert_non_null(w);
    for (int i = 0; i < BURST; i++) {
        char id[16];
        snprintf(id, sizeof id, "burst%d", i);
        sc_order(&s, &o[i], id, "burst", (unsigned)i + 10);
        sc_wait_init(&w[i]);
        assert_int_equal(s.api->put(s.ctx, &o[i].r, sc_on_record, &w[i]), 0);
    }
    for (int i = 0; i < BURST; i++) {
        assert_true(sc_wait(&w[i]));
        assert_int_equal(w[i].status, 0);
        sc_wait_free(&w[i]);
    }
    counts_t c = read_counts(h);
    assert_true(c.commits < c.requests); /* the burst was grouped */
    pause_ms(300);                       /* idle for three times the delay */
    assert_true(timed_lone_put(h, &s, "after-burst", 3) < 500);
    free(o);
    free(w);
    keel_harness_free(h);
}

enum { PRODUCERS = 4, PUTS_EACH = 500, PUTS = PRODUCERS * PUTS_EACH, BURST_PUTS = 5 };

typedef struct producer {
    sc_t *s;
    sc_order_t *orders;
    sc_wait_t *waits;
    int failed_calls;
} producer_t;

/* Puts its orders asynchronously in small bursts 1 ms apart (a steady
 * load rather than one pile), then waits for every answer. */
static void *produce(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; i < PUTS_EACH; i++) {
        sc_wait_init(&p->waits[i]);
        if (p->s->api->put(p->s->ctx, &p->orders[i].r, sc_on_record, &p->waits[i]) != 0)
            p->failed_calls++;
        if (i % BURST_PUTS == BURST_PUTS - 1)
            pause_ms(1);
    }
    return NULL;
}

/* PUTS concurrent puts from PRODUCERS threads; every one answered 0 and
 * readable afterwards. Returns the writer's counters for the run. */
static counts_t run_concurrent_puts(const char *config_yaml)
{
    keel_harness_t *h = start_store(NULL, config_yaml);
    sc_t s;
    sc_open(&s, h, "store");
    sc_order_t *orders = calloc(PUTS, sizeof *orders);
    sc_wait_t *waits = calloc(PUTS, sizeof *waits);
    assert_non_null(orders);
    assert_non_null(waits);
    for (int i = 0; i < PUTS; i++) {
        char id[16];
        snprintf(id, sizeof id, "o%d", i);
        sc_order(&s, &orders[i], id, "many", (unsigned)i);
    }
    counts_t before = read_counts(h);
    producer_t producers[PRODUCERS];
    pthread_t threads[PRODUCERS];
    for (int t = 0; t < PRODUCERS; t++) {
        producers[t] = (producer_t){&s, orders + t * PUTS_EACH, waits + t * PUTS_EACH, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, produce, &producers[t]), 0);
    }
    for (int t = 0; t < PRODUCERS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(producers[t].failed_calls, 0);
    }
    for (int i = 0; i < PUTS; i++) {
        assert_true(sc_wait(&waits[i]));
        assert_int_equal(waits[i].status, 0);
        assert_int_equal(waits[i].calls, 1);
        sc_wait_free(&waits[i]);
    }
    counts_t after = read_counts(h);
    for (int i = 0; i < PUTS; i++) {
        sc_wait_t g;
        assert_int_equal(sc_get(&s, orders[i].order_id, &g), 0);
        sc_assert_same(&g.rec, &orders[i].r);
        sc_wait_free(&g);
    }
    free(orders);
    free(waits);
    keel_harness_free(h);
    counts_t run = {after.commits - before.commits, after.requests - before.requests,
                    after.delayed_groups - before.delayed_groups};
    print_message("%.*s: %d puts in %llu commits, %llu held back\n",
                  (int)strcspn(config_yaml, "\n"), config_yaml, PUTS,
                  (unsigned long long)run.commits, (unsigned long long)run.delayed_groups);
    assert_int_equal(run.requests, PUTS);
    return run;
}

static void test_concurrent_puts_share_commits(void **state)
{
    (void)state;
    counts_t c = run_concurrent_puts("commit_delay: 20ms\n");
    assert_true(c.delayed_groups > 0);
    assert_true(c.commits * 10 <= PUTS); /* expected: tens of commits */
}

static void test_zero_delay_commits_at_once(void **state)
{
    (void)state;
    counts_t c = run_concurrent_puts("commit_delay: 0\n");
    assert_int_equal(c.delayed_groups, 0);
}

/* Starts a store with `config_yaml`; returns its start result and (in
 * `log`) what it wrote to stderr. */
static int start_capturing(const char *config_yaml, char *log, size_t log_len)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "store", STORE_SO, config_yaml), 0);
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
    rewind(capture);
    size_t n = fread(log, 1, log_len - 1, capture);
    log[n] = '\0';
    fclose(capture);
    return rc;
}

static void test_commit_delay_range(void **state)
{
    (void)state;
    static char log[8192];
    const char *accepted[] = {"commit_delay: 0\n", "commit_delay: 2ms\n", "commit_delay: 100ms\n"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        if (start_capturing(accepted[i], log, sizeof log) != 0)
            fail_msg("'%s' refused:\n%s", accepted[i], log);
    const char *refused[] = {"commit_delay: 101ms\n", "commit_delay: 1s\n", "commit_delay: 5s\n"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_not_equal(start_capturing(refused[i], log, sizeof log), 0);
        if (strstr(log, "config 'commit_delay'") == NULL || strstr(log, "100ms") == NULL)
            fail_msg("'%s': expected an error naming commit_delay and its limit:\n%s", refused[i],
                     log);
    }
}

/* Stopping right after a burst (the writer may be holding a group back)
 * drains every accepted put: all answered 0 and stored after a restart. */
static void test_stop_drains_delayed_group(void **state)
{
    (void)state;
    char dir[] = "/tmp/keel-store-delay-XXXXXX";
    assert_non_null(mkdtemp(dir));
    enum { N = 400 };
    keel_harness_t *h = start_store(dir, "commit_delay: 100ms\n");
    sc_t s;
    sc_open(&s, h, "store");
    sc_order_t *o = calloc(N, sizeof *o);
    sc_wait_t *w = calloc(N, sizeof *w);
    assert_non_null(o);
    assert_non_null(w);
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%d", i);
        sc_order(&s, &o[i], id, "drain", (unsigned)i);
        sc_wait_init(&w[i]);
        assert_int_equal(s.api->put(s.ctx, &o[i].r, sc_on_record, &w[i]), 0);
    }
    uint64_t t0 = now_ms();
    keel_harness_free(h);
    uint64_t stop_ms = now_ms() - t0;
    print_message("stopped in %llu ms\n", (unsigned long long)stop_ms);
    for (int i = 0; i < N; i++) {
        assert_true(w[i].done); /* answered before the writer was joined */
        assert_int_equal(w[i].status, 0);
        sc_wait_free(&w[i]);
    }
    h = restart_store(&s, dir);
    for (int i = 0; i < N; i++) {
        sc_wait_t g;
        assert_int_equal(sc_get(&s, o[i].order_id, &g), 0);
        sc_wait_free(&g);
    }
    keel_harness_free(h);
    free(o);
    free(w);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lone_put_is_not_delayed),
        cmocka_unit_test(test_concurrent_puts_share_commits),
        cmocka_unit_test(test_zero_delay_commits_at_once),
        cmocka_unit_test(test_commit_delay_range),
        cmocka_unit_test(test_stop_drains_delayed_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
