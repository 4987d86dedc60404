/* Message pool tests: blocks are usable at every size, come back to their
 * owner when freed elsewhere, and a cache left by an exited thread is
 * adopted by the next one. The sanitizer build checks the memory. */
#include "msgpool.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

enum { BLOCKS = 20000 };

static void test_every_size_is_usable_and_aligned(void **state)
{
    (void)state;
    msgpool_t *pool = msgpool_new();
    for (size_t size = 0; size < 10000; size += 37) {
        unsigned char *p = msgpool_alloc(pool, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xAB, size);
        msgpool_release(p);
    }
    msgpool_release(NULL);
    msgpool_free(pool);
}

static void test_reuse_on_the_same_thread(void **state)
{
    (void)state;
    msgpool_t *pool = msgpool_new();
    void *first = msgpool_alloc(pool, 200);
    msgpool_release(first);
    void *second = msgpool_alloc(pool, 200);
    assert_ptr_equal(first, second);
    msgpool_release(second);
    msgpool_free(pool);
}

typedef struct handoff {
    msgpool_t *pool;
    void **blocks;
} handoff_t;

static void *release_all(void *arg)
{
    handoff_t *h = arg;
    for (int i = 0; i < BLOCKS; i++)
        msgpool_release(h->blocks[i]);
    return NULL;
}

static void *allocate_all(void *arg)
{
    handoff_t *h = arg;
    for (int i = 0; i < BLOCKS; i++) {
        h->blocks[i] = msgpool_alloc(h->pool, (size_t)(i % 3000));
        assert_non_null(h->blocks[i]);
        memset(h->blocks[i], i & 0xFF, (size_t)(i % 3000));
    }
    return NULL;
}

static void test_blocks_freed_elsewhere_return_to_their_owner(void **state)
{
    (void)state;
    static void *blocks[BLOCKS];
    handoff_t h = {msgpool_new(), blocks};
    allocate_all(&h);
    void *first = blocks[0];
    pthread_t t;
    pthread_create(&t, NULL, release_all, &h);
    pthread_join(t, NULL);
    /* The owner gets its own blocks back: no fresh malloc needed. */
    void *again = msgpool_alloc(h.pool, 0);
    bool recycled = false;
    for (int i = 0; i < BLOCKS && !recycled; i += 3)
        recycled = again == blocks[i];
    assert_true(recycled || again == first);
    msgpool_release(again);
    msgpool_free(h.pool);
}

static void test_exited_threads_cache_is_adopted(void **state)
{
    (void)state;
    static void *blocks[BLOCKS];
    handoff_t h = {msgpool_new(), blocks};
    for (int round = 0; round < 5; round++) {
        /* A short-lived producer thread, then its blocks freed here. */
        pthread_t t;
        pthread_create(&t, NULL, allocate_all, &h);
        pthread_join(t, NULL);
        release_all(&h);
    }
    msgpool_free(h.pool); /* the sanitizers report a leak if a cache was lost */
}

static void test_two_pools_on_one_thread(void **state)
{
    (void)state;
    msgpool_t *a = msgpool_new(), *b = msgpool_new();
    void *x = msgpool_alloc(a, 100), *y = msgpool_alloc(b, 100);
    msgpool_release(x);
    msgpool_release(y);
    assert_ptr_equal(msgpool_alloc(a, 100), x);
    msgpool_release(x);
    msgpool_free(a);
    msgpool_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_size_is_usable_and_aligned),
        cmocka_unit_test(test_reuse_on_the_same_thread),
        cmocka_unit_test(test_blocks_freed_elsewhere_return_to_their_owner),
        cmocka_unit_test(test_exited_threads_cache_is_adopted),
        cmocka_unit_test(test_two_pools_on_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
