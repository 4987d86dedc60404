/* Worker pool tests: jobs from outside and from inside the pool all run,
 * wait_idle sees the end of nested work, stop runs what is queued. */
#include "workers.h"

#include <keel/keel.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

typedef struct tally {
    workers_t *pool;
    atomic_int runs;
    atomic_int on_worker;
} tally_t;

static void count_job(void *a, void *b)
{
    (void)b;
    tally_t *t = a;
    if (workers_on_worker(t->pool))
        atomic_fetch_add(&t->on_worker, 1);
    atomic_fetch_add(&t->runs, 1);
}

/* Each job spawns `depth` more levels of two children. */
static void fan_out_job(void *a, void *b)
{
    tally_t *t = a;
    intptr_t depth = (intptr_t)b;
    atomic_fetch_add(&t->runs, 1);
    if (depth > 0) {
        assert_int_equal(workers_submit(t->pool, fan_out_job, t, (void *)(depth - 1)), 0);
        assert_int_equal(workers_submit(t->pool, fan_out_job, t, (void *)(depth - 1)), 0);
    }
}

static void test_external_jobs_all_run_on_workers(void **state)
{
    (void)state;
    tally_t t = {0};
    t.pool = workers_start(2, "t");
    assert_non_null(t.pool);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(workers_submit(t.pool, count_job, &t, NULL), 0);
    assert_true(workers_wait_idle(t.pool, 10000));
    assert_int_equal(atomic_load(&t.runs), 10000);
    assert_int_equal(atomic_load(&t.on_worker), 10000);
    assert_false(workers_on_worker(t.pool));
    workers_stop(t.pool);
}

static void test_nested_jobs_are_waited_for(void **state)
{
    (void)state;
    tally_t t = {0};
    t.pool = workers_start(3, "t");
    assert_int_equal(workers_submit(t.pool, fan_out_job, &t, (void *)(intptr_t)14), 0);
    assert_true(workers_wait_idle(t.pool, 20000));
    assert_int_equal(atomic_load(&t.runs), (1 << 15) - 1);
    assert_int_equal(workers_outstanding(t.pool), 0);
    workers_stop(t.pool);
}

static void test_stop_runs_queued_jobs_then_refuses(void **state)
{
    (void)state;
    tally_t t = {0};
    t.pool = workers_start(1, "t");
    for (int i = 0; i < 1000; i++)
        workers_submit(t.pool, count_job, &t, NULL);
    workers_t *pool = t.pool;
    workers_stop(pool);
    assert_int_equal(atomic_load(&t.runs), 1000);
}

static void test_wait_idle_times_out_while_busy(void **state)
{
    (void)state;
    tally_t t = {0};
    t.pool = workers_start(1, "t");
    /* A deep fan-out keeps the pool busy far longer than 1 ms. */
    workers_submit(t.pool, fan_out_job, &t, (void *)(intptr_t)18);
    assert_false(workers_wait_idle(t.pool, 1));
    assert_true(workers_wait_idle(t.pool, 60000));
    workers_stop(t.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_external_jobs_all_run_on_workers),
        cmocka_unit_test(test_nested_jobs_are_waited_for),
        cmocka_unit_test(test_stop_runs_queued_jobs_then_refuses),
        cmocka_unit_test(test_wait_idle_times_out_while_busy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
