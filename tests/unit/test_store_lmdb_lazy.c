/* store_lmdb's put_lazy (store API 2.1): lazy puts wait for lazy_delay
 * and share one commit; an eager write, SL_LAZY_MAX pending or stopping
 * the store ends the wait; 0 writes them at once; the answers are put()'s.
 * The writer's counters come from the test-only "store_lmdb.debug"
 * service. */
#include "../../plugins/store_lmdb/store_lmdb.h"
#include "store_lmdb_util.h"

/* n lazy puts of fresh orders "<tag><i>", submitted back to back. */
typedef struct lazy_run {
    int n;
    sc_order_t *orders;
    sc_wait_t *waits;
} lazy_run_t;

static lazy_run_t submit_lazy(sc_t *s, const char *tag, int n)
{
    lazy_run_t run = {n, calloc((size_t)n, sizeof(sc_order_t)),
                      calloc((size_t)n, sizeof(sc_wait_t))};
    assert_non_null(run.orders);
    assert_non_null(run.waits);
    assert_true(KEEL_HAS(s->api, keel_store_api_t, put_lazy));
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s%d", tag, i);
        sc_order(s, &run.orders[i], id, tag, (unsigned)i);
        sc_wait_init(&run.waits[i]);
        assert_int_equal(s->api->put_lazy(s->ctx, &run.orders[i].r, sc_on_record, &run.waits[i]),
                         0);
    }
    return run;
}

/* Waits for every answer: each 0 and called once. */
static void wait_all(lazy_run_t *run)
{
    for (int i = 0; i < run->n; i++) {
        assert_true(sc_wait(&run->waits[i]));
        assert_int_equal(run->waits[i].status, 0);
        assert_int_equal(run->waits[i].calls, 1);
    }
}

static void run_free(lazy_run_t *run)
{
    for (int i = 0; i < run->n; i++)
        sc_wait_free(&run->waits[i]);
    free(run->orders);
    free(run->waits);
}

/* Each order of the run reads back as written. */
static void assert_stored(sc_t *s, const lazy_run_t *run)
{
    for (int i = 0; i < run->n; i++) {
        sc_wait_t g;
        assert_int_equal(sc_get(s, run->orders[i].order_id, &g), 0);
        sc_assert_same(&g.rec, &run->orders[i].r);
        sc_wait_free(&g);
    }
}

/* Lazy puts wait out the delay, then one commit writes them all. */
static void test_lazy_puts_wait_and_share_one_commit(void **state)
{
    (void)state;
    keel_harness_t *h = start_store(NULL, "lazy_delay: 300ms\n");
    sc_t s;
    sc_open(&s, h, "store");
    uint64_t before = read_counts(h).commits;
    uint64_t t0 = now_ms();
    lazy_run_t run = submit_lazy(&s, "wait", 50);
    wait_all(&run);
    uint64_t elapsed = now_ms() - t0;
    print_message("50 lazy puts answered after %llu ms in %llu commit(s)\n",
                  (unsigned long long)elapsed,
                  (unsigned long long)(read_counts(h).commits - before));
    assert_true(elapsed >= 250); /* held for the delay, give or take the clock */
    assert_int_equal(read_counts(h).commits - before, 1);
    assert_stored(&s, &run);
    run_free(&run);
    keel_harness_free(h);
}

/* An eager put arriving while lazy ones wait takes them along at once. */
static void test_eager_write_takes_lazy_along(void **state)
{
    (void)state;
    keel_harness_t *h = start_store(NULL, "lazy_delay: 1s\n");
    sc_t s;
    sc_open(&s, h, "store");
    uint64_t before = read_counts(h).commits;
    uint64_t t0 = now_ms();
    lazy_run_t run = submit_lazy(&s, "along", 20);
    sc_order_t eager;
    sc_order(&s, &eager, "eager", "along", 99);
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &eager.r, &w), 0);
    sc_wait_free(&w);
    wait_all(&run);
    uint64_t elapsed = now_ms() - t0;
    print_message("20 lazy + 1 put answered after %llu ms in %llu commit(s)\n",
                  (unsigned long long)elapsed,
                  (unsigned long long)(read_counts(h).commits - before));
    assert_true(elapsed < 900);
    assert_int_equal(read_counts(h).commits - before, 1);
    /* A sequence reservation is eager too. */
    lazy_run_t more = submit_lazy(&s, "seq", 5);
    assert_int_equal(sc_seq(&s, "n", 1, &w), 0);
    sc_wait_free(&w);
    wait_all(&more);
    assert_true(now_ms() - t0 < 900);
    assert_stored(&s, &run);
    assert_stored(&s, &more);
    run_free(&run);
    run_free(&more);
    keel_harness_free(h);
}

/* SL_LAZY_MAX waiting: written without waiting for the delay. */
static void test_full_hold_is_written_at_once(void **state)
{
    (void)state;
    keel_harness_t *h = start_store(NULL, "lazy_delay: 1s\n");
    sc_t s;
    sc_open(&s, h, "store");
    uint64_t t0 = now_ms();
    lazy_run_t run = submit_lazy(&s, "full", SL_LAZY_MAX);
    wait_all(&run);
    uint64_t elapsed = now_ms() - t0;
    print_message("%d lazy puts answered after %llu ms\n", SL_LAZY_MAX,
                  (unsigned long long)elapsed);
    assert_true(elapsed < 900);
    run_free(&run);
    keel_harness_free(h);
}

/* lazy_delay 0: a lazy put is written as soon as the writer wakes. */
static void test_zero_delay_writes_at_once(void **state)
{
    (void)state;
    keel_harness_t *h = start_store(NULL, "lazy_delay: 0\n");
    sc_t s;
    sc_open(&s, h, "store");
    uint64_t before = read_counts(h).commits;
    lazy_run_t run = submit_lazy(&s, "zero", 1);
    wait_all(&run);
    assert_int_equal(read_counts(h).commits - before, 1);
    run_free(&run);
    keel_harness_free(h);
}

/* The answers are put()'s: the same payload again is KEEL_EEXIST, another
 * payload under the id KEEL_ECONFLICT, bad arguments KEEL_EINVAL. */
static void test_answers_are_puts(void **state)
{
    (void)state;
    keel_harness_t *h = start_store(NULL, "lazy_delay: 5ms\n");
    sc_t s;
    sc_open(&s, h, "store");
    lazy_run_t run = submit_lazy(&s, "same", 1);
    wait_all(&run);
    sc_wait_t w;
    sc_wait_init(&w);
    assert_int_equal(s.api->put_lazy(s.ctx, &run.orders[0].r, sc_on_record, &w), 0);
    assert_true(sc_wait(&w));
    assert_int_equal(w.status, KEEL_EEXIST);
    assert_string_equal(w.rec.order_id, run.orders[0].order_id);
    sc_wait_free(&w);
    sc_order_t other;
    sc_order(&s, &other, "same0", "same", 1234); /* same id, another hash */
    sc_wait_init(&w);
    assert_int_equal(s.api->put_lazy(s.ctx, &other.r, sc_on_record, &w), 0);
    assert_true(sc_wait(&w));
    assert_int_equal(w.status, KEEL_ECONFLICT);
    sc_wait_free(&w);
    assert_int_equal(s.api->put_lazy(s.ctx, &other.r, NULL, NULL), KEEL_EINVAL);
    other.r.payload_hash = "not a hash";
    assert_int_equal(s.api->put_lazy(s.ctx, &other.r, sc_on_record, &w), KEEL_EINVAL);
    run_free(&run);
    keel_harness_free(h);
}

/* Stopping the store writes waiting lazy puts without waiting out the
 * delay: all answered 0 and stored after a restart. */
static void test_stop_writes_waiting_lazy_puts(void **state)
{
    (void)state;
    char dir[] = "/tmp/keel-store-lazy-XXXXXX";
    assert_non_null(mkdtemp(dir));
    keel_harness_t *h = start_store(dir, "lazy_delay: 1s\n");
    sc_t s;
    sc_open(&s, h, "store");
    lazy_run_t run = submit_lazy(&s, "stop", 100);
    uint64_t t0 = now_ms();
    keel_harness_free(h);
    uint64_t stop_ms = now_ms() - t0;
    print_message("stopped in %llu ms\n", (unsigned long long)stop_ms);
    assert_true(stop_ms < 900);
    for (int i = 0; i < run.n; i++) {
        assert_true(run.waits[i].done); /* answered before the writer was joined */
        assert_int_equal(run.waits[i].status, 0);
    }
    h = restart_store(&s, dir);
    assert_stored(&s, &run);
    run_free(&run);
    keel_harness_free(h);
    remove_tree(dir);
}

/* Start fails with a message naming the key and its limit. */
static void test_lazy_delay_range(void **state)
{
    (void)state;
    const char *accepted[] = {"lazy_delay: 0\n", "lazy_delay: 10ms\n", "lazy_delay: 1s\n"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        keel_harness_t *h = keel_harness_new(NULL);
        assert_non_null(h);
        assert_int_equal(keel_harness_add(h, "store", STORE_SO, accepted[i]), 0);
        assert_int_equal(keel_harness_start(h), 0);
        keel_harness_free(h);
    }
    const char *refused[] = {"lazy_delay: 1001ms\n", "lazy_delay: 5s\n"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        keel_harness_t *h = keel_harness_new(NULL);
        assert_non_null(h);
        assert_int_equal(keel_harness_add(h, "store", STORE_SO, refused[i]), 0);
        assert_int_not_equal(keel_harness_start(h), 0);
        keel_harness_free(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_puts_wait_and_share_one_commit),
        cmocka_unit_test(test_eager_write_takes_lazy_along),
        cmocka_unit_test(test_full_hold_is_written_at_once),
        cmocka_unit_test(test_zero_delay_writes_at_once),
        cmocka_unit_test(test_answers_are_puts),
        cmocka_unit_test(test_stop_writes_waiting_lazy_puts),
        cmocka_unit_test(test_lazy_delay_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
