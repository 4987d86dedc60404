/* msgpool.c — see msgpool.h. */
#include "msgpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

enum {
    CLASS_COUNT = 6,    /* 128, 256, ... 4096 bytes with the header */
    SMALLEST_SHIFT = 7, /* 128 bytes */
    CACHE_LIMIT = 4096, /* blocks a thread keeps per class */
    NO_CLASS = 0xFF,    /* too big: plain malloc */
};

typedef struct thread_cache thread_cache_t;

/* Sits before every block; 16 bytes keep the payload max-aligned. */
typedef struct block_header {
    thread_cache_t *owner; /* NULL for blocks from plain malloc */
    union {
        struct block_header *next; /* while free */
        uint64_t size_class;
    };
} block_header_t;

struct thread_cache {
    msgpool_t *pool;
    block_header_t *free_list[CLASS_COUNT]; /* owner thread only */
    size_t free_count[CLASS_COUNT];
    _Atomic(block_header_t *) returned; /* pushed by other threads */
    atomic_bool orphaned;               /* its thread exited */
    thread_cache_t *next_cache;         /* pool's list, under pool->lock */
};

struct msgpool {
    uint64_t id; /* tells pools apart even at a reused address */
    pthread_key_t key;
    pthread_mutex_t lock;
    thread_cache_t *caches;
};

/* This thread's cache for the pool it used last. */
static _Thread_local struct {
    uint64_t pool_id;
    thread_cache_t *cache;
} current;

static atomic_uint_fast64_t next_pool_id = 1;

static void orphan_cache(void *cache)
{
    atomic_store(&((thread_cache_t *)cache)->orphaned, true);
}

msgpool_t *msgpool_new(void)
{
    msgpool_t *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    if (pthread_key_create(&pool->key, orphan_cache) != 0) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pool->id = atomic_fetch_add(&next_pool_id, 1);
    return pool;
}

static void free_chain(block_header_t *block)
{
    while (block) {
        block_header_t *next = block->next;
        free(block);
        block = next;
    }
}

void msgpool_free(msgpool_t *pool)
{
    if (pool == NULL)
        return;
    thread_cache_t *cache = pool->caches;
    while (cache) {
        thread_cache_t *next = cache->next_cache;
        for (int c = 0; c < CLASS_COUNT; c++)
            free_chain(cache->free_list[c]);
        free_chain(atomic_load(&cache->returned));
        free(cache);
        cache = next;
    }
    pthread_key_delete(pool->key);
    pthread_mutex_destroy(&pool->lock);
    if (current.pool_id == pool->id)
        current.pool_id = 0;
    free(pool);
}

/* A cache for this thread: its own if it has one for this pool, else an
 * orphan left by an exited thread, else a new one. */
static thread_cache_t *cache_for_thread(msgpool_t *pool)
{
    if (current.pool_id == pool->id)
        return current.cache;
    thread_cache_t *cache = pthread_getspecific(pool->key);
    if (cache == NULL) {
        pthread_mutex_lock(&pool->lock);
        for (cache = pool->caches; cache; cache = cache->next_cache) {
            bool orphaned = true;
            if (atomic_compare_exchange_strong(&cache->orphaned, &orphaned, false))
                break;
        }
        if (cache == NULL && (cache = calloc(1, sizeof *cache)) != NULL) {
            cache->pool = pool;
            cache->next_cache = pool->caches;
            pool->caches = cache;
        }
        pthread_mutex_unlock(&pool->lock);
        if (cache == NULL)
            return NULL;
        pthread_setspecific(pool->key, cache);
    }
    current.pool_id = pool->id;
    current.cache = cache;
    return cache;
}

static unsigned size_class(size_t total)
{
    for (unsigned c = 0; c < CLASS_COUNT; c++) {
        if (total <= ((size_t)1 << (SMALLEST_SHIFT + c)))
            return c;
    }
    return NO_CLASS;
}

static void take_back_returned(thread_cache_t *cache)
{
    block_header_t *block = atomic_exchange_explicit(&cache->returned, NULL, memory_order_acquire);
    while (block) {
        block_header_t *next = block->next;
        unsigned c = (unsigned)(uintptr_t)block->owner; /* see msgpool_release */
        block->owner = cache;
        block->next = cache->free_list[c];
        cache->free_list[c] = block;
        cache->free_count[c]++;
        block = next;
    }
}

void *msgpool_alloc(msgpool_t *pool, size_t size)
{
    if (size > SIZE_MAX - sizeof(block_header_t))
        return NULL;
    size_t total = size + sizeof(block_header_t);
    unsigned c = size_class(total);
    thread_cache_t *cache = c == NO_CLASS ? NULL : cache_for_thread(pool);
    if (cache == NULL) {
        block_header_t *block = malloc(total);
        if (block == NULL)
            return NULL;
        block->owner = NULL;
        return block + 1;
    }
    if (cache->free_list[c] == NULL)
        take_back_returned(cache);
    block_header_t *block = cache->free_list[c];
    if (block) {
        cache->free_list[c] = block->next;
        cache->free_count[c]--;
    } else if ((block = malloc((size_t)1 << (SMALLEST_SHIFT + c))) == NULL) {
        return NULL;
    }
    block->owner = cache;
    block->size_class = c;
    return block + 1;
}

void msgpool_release(void *ptr)
{
    if (ptr == NULL)
        return;
    block_header_t *block = (block_header_t *)ptr - 1;
    thread_cache_t *owner = block->owner;
    if (owner == NULL) {
        free(block);
        return;
    }
    unsigned c = (unsigned)block->size_class;
    if (current.pool_id == owner->pool->id && current.cache == owner) {
        if (owner->free_count[c] >= CACHE_LIMIT) {
            free(block);
            return;
        }
        block->next = owner->free_list[c];
        owner->free_list[c] = block;
        owner->free_count[c]++;
        return;
    }
    /* Another thread's block: while on the returned stack, `owner` holds
     * the class (the owner is known: it is the stack's cache) and `next`
     * the link. */
    block->owner = (thread_cache_t *)(uintptr_t)c;
    block_header_t *head = atomic_load_explicit(&owner->returned, memory_order_relaxed);
    do {
        block->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&owner->returned, &head, block,
                                                    memory_order_release, memory_order_relaxed));
}
