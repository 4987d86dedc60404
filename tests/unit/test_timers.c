/* Timer tests: one-shot and repeating timers fire; cancel and owner close
 * stop them; a closed owner refuses new timers. Waits poll with deadlines. */
#include "timers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static bool wait_for(atomic_int *value, int at_least, uint64_t timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    while (atomic_load(value) < at_least && now_ms() < deadline) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    return atomic_load(value) >= at_least;
}

static void bump(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_one_shot_fires_once(void **state)
{
    (void)state;
    timers_t *timers = timers_start();
    timer_owner_t *owner = timer_owner_new(timers);
    atomic_int fired = 0;
    uint64_t start = now_ms();
    assert_int_equal(timer_add(owner, 20, 0, bump, &fired, NULL), 0);
    assert_true(wait_for(&fired, 1, 5000));
    assert_true(now_ms() - start >= 19);
    /* No second firing arrives within a generous window. */
    assert_false(wait_for(&fired, 2, 100));
    timer_owner_free(owner);
    timers_stop(timers);
}

static void test_repeating_fires_until_cancelled(void **state)
{
    (void)state;
    timers_t *timers = timers_start();
    timer_owner_t *owner = timer_owner_new(timers);
    atomic_int fired = 0;
    keel_timer_t *timer = NULL;
    assert_int_equal(timer_add(owner, 0, 5, bump, &fired, &timer), 0);
    assert_true(wait_for(&fired, 5, 5000));
    timer_cancel(timer);
    int after_cancel = atomic_load(&fired);
    assert_false(wait_for(&fired, after_cancel + 1, 100));
    timer_owner_free(owner);
    timers_stop(timers);
}

static void test_owner_close_cancels_and_refuses(void **state)
{
    (void)state;
    timers_t *timers = timers_start();
    timer_owner_t *owner = timer_owner_new(timers);
    atomic_int fired = 0;
    assert_int_equal(timer_add(owner, 0, 2, bump, &fired, NULL), 0);
    assert_int_equal(timer_add(owner, 60000, 0, bump, &fired, NULL), 0);
    assert_true(wait_for(&fired, 3, 5000));
    timer_owner_close(owner);
    int after_close = atomic_load(&fired);
    assert_false(wait_for(&fired, after_close + 1, 50));
    assert_int_equal(timer_add(owner, 0, 0, bump, &fired, NULL), KEEL_ESHUTDOWN);
    timer_owner_free(owner);
    timers_stop(timers);
}

static keel_timer_t *self_cancelling;
static atomic_int self_cancel_runs;

static void cancel_self(void *arg)
{
    (void)arg;
    if (atomic_fetch_add(&self_cancel_runs, 1) == 2)
        timer_cancel(self_cancelling);
}

static void test_cancel_from_own_callback(void **state)
{
    (void)state;
    timers_t *timers = timers_start();
    timer_owner_t *owner = timer_owner_new(timers);
    assert_int_equal(timer_add(owner, 0, 2, cancel_self, NULL, &self_cancelling), 0);
    assert_true(wait_for(&self_cancel_runs, 3, 5000));
    assert_false(wait_for(&self_cancel_runs, 4, 100));
    timer_owner_free(owner);
    timers_stop(timers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_shot_fires_once),
        cmocka_unit_test(test_repeating_fires_until_cancelled),
        cmocka_unit_test(test_owner_close_cancels_and_refuses),
        cmocka_unit_test(test_cancel_from_own_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
