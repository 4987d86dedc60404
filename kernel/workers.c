/* workers.c — see workers.h. */
#include "workers.h"

#include "clock.h"

#include <errno.h>
#include <keel/keel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    job_fn fn;
    void *a;
    void *b;
} job_t;

/* A growable ring of jobs. Not synchronised: the owner locks if needed. */
typedef struct job_ring {
    job_t *slots;
    size_t capacity; /* a power of two */
    size_t head;     /* index of the oldest job */
    size_t count;
} job_ring_t;

typedef struct worker {
    workers_t *pool;
    pthread_t thread;
    job_ring_t local; /* touched only by this worker's thread */
    unsigned index;
} worker_t;

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t work_ready; /* signalled when the shared queue gets jobs */
    pthread_cond_t idle;       /* broadcast when outstanding drops to 0 */
    job_ring_t shared;
    atomic_size_t shared_hint; /* shared.count, readable without the lock */
    unsigned sleeping;         /* workers waiting on work_ready (under lock) */
    atomic_uint sleeping_hint; /* copy of `sleeping` readable without lock */
    /* Jobs in the shared queue or running from it. A worker's local jobs
     * are not counted: they only exist while one of its counted jobs runs,
     * so outstanding == 0 still means the pool is idle, and the hot path of
     * a handler publishing downstream touches no shared cache line. */
    atomic_size_t outstanding;
    bool stopping;
    unsigned count;
    worker_t *workers;
};

static _Thread_local worker_t *current_worker;

enum { RING_INITIAL = 64, SHARED_BATCH = 32, SPIN_ROUNDS = 64 };

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Before sleeping, an idle worker watches the shared queue for a couple
 * of microseconds (PAUSE costs ~40-140 cycles): a producer feeding the pool steadily then never
 * pays a futex wake-up per job. Called and returns with the lock held. */
static void spin_for_work(workers_t *pool)
{
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (atomic_load_explicit(&pool->shared_hint, memory_order_relaxed) > 0)
            break;
        for (int j = 0; j < 4; j++)
            cpu_relax();
    }
    pthread_mutex_lock(&pool->lock);
}

static int ring_push(job_ring_t *ring, job_t job)
{
    if (ring->count == ring->capacity) {
        size_t capacity = ring->capacity ? ring->capacity * 2 : RING_INITIAL;
        job_t *slots = malloc(capacity * sizeof *slots);
        if (slots == NULL)
            return KEEL_ENOMEM;
        for (size_t i = 0; i < ring->count; i++)
            slots[i] = ring->slots[(ring->head + i) & (ring->capacity - 1)];
        free(ring->slots);
        ring->slots = slots;
        ring->capacity = capacity;
        ring->head = 0;
    }
    ring->slots[(ring->head + ring->count) & (ring->capacity - 1)] = job;
    ring->count++;
    return 0;
}

static job_t ring_pop(job_ring_t *ring)
{
    job_t job = ring->slots[ring->head];
    ring->head = (ring->head + 1) & (ring->capacity - 1);
    ring->count--;
    return job;
}

static void finish_jobs(workers_t *pool, size_t n)
{
    if (atomic_fetch_sub(&pool->outstanding, n) == n) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->idle);
        pthread_mutex_unlock(&pool->lock);
    }
}

/* Moves half of a busy worker's local jobs to the shared queue when other
 * workers sleep, so a burst published from one handler spreads out. */
static void share_local_jobs(worker_t *self)
{
    workers_t *pool = self->pool;
    if (self->local.count < 2 ||
        atomic_load_explicit(&pool->sleeping_hint, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&pool->lock);
    size_t give = self->local.count / 2;
    atomic_fetch_add(&pool->outstanding, give);
    size_t moved = 0;
    for (; moved < give; moved++) {
        /* Give away the newest jobs: the oldest stay hot here. */
        job_ring_t *local = &self->local;
        size_t tail = (local->head + local->count - 1) & (local->capacity - 1);
        if (ring_push(&pool->shared, local->slots[tail]) != 0)
            break;
        local->count--;
    }
    atomic_store_explicit(&pool->shared_hint, pool->shared.count, memory_order_relaxed);
    if (moved < give)
        atomic_fetch_sub(&pool->outstanding, give - moved);
    if (moved > 0)
        pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);
}

static void run_local_jobs(worker_t *self)
{
    while (self->local.count > 0) {
        job_t job = ring_pop(&self->local);
        job.fn(job.a, job.b);
        share_local_jobs(self);
    }
}

static void *worker_main(void *arg)
{
    worker_t *self = arg;
    workers_t *pool = self->pool;
    current_worker = self;
    char name[16];
    snprintf(name, sizeof name, "keel-w%u", self->index);
    pthread_setname_np(pthread_self(), name);

    job_t batch[SHARED_BATCH];
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->shared.count == 0 && !pool->stopping)
            spin_for_work(pool);
        while (pool->shared.count == 0 && !pool->stopping) {
            pool->sleeping++;
            atomic_store_explicit(&pool->sleeping_hint, pool->sleeping, memory_order_relaxed);
            pthread_cond_wait(&pool->work_ready, &pool->lock);
            pool->sleeping--;
            atomic_store_explicit(&pool->sleeping_hint, pool->sleeping, memory_order_relaxed);
        }
        if (pool->shared.count == 0 && pool->stopping)
            break;
        /* Take a fair share, not everything, so other workers get some. */
        size_t want = pool->shared.count / pool->count + 1;
        size_t n = 0;
        while (n < want && n < SHARED_BATCH && pool->shared.count > 0)
            batch[n++] = ring_pop(&pool->shared);
        atomic_store_explicit(&pool->shared_hint, pool->shared.count, memory_order_relaxed);
        if (pool->shared.count > 0)
            pthread_cond_signal(&pool->work_ready);
        pthread_mutex_unlock(&pool->lock);

        for (size_t i = 0; i < n; i++) {
            batch[i].fn(batch[i].a, batch[i].b);
            run_local_jobs(self);
        }
        finish_jobs(pool, n);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    current_worker = NULL;
    return NULL;
}

workers_t *workers_start(unsigned threads, const char *name)
{
    (void)name;
    if (threads == 0)
        threads = 1;
    workers_t *pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return NULL;
    pool->workers = calloc(threads, sizeof *pool->workers);
    if (pool->workers == NULL) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->idle, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&pool->outstanding, 0);
    atomic_init(&pool->shared_hint, 0);
    atomic_init(&pool->sleeping_hint, 0);
    for (unsigned i = 0; i < threads; i++) {
        worker_t *w = &pool->workers[i];
        w->pool = pool;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pool->count = i;
            workers_stop(pool);
            return NULL;
        }
        pool->count = i + 1;
    }
    return pool;
}

int workers_submit(workers_t *pool, job_fn fn, void *a, void *b)
{
    job_t job = {fn, a, b};
    worker_t *self = current_worker;
    if (self != NULL && self->pool == pool) {
        return ring_push(&self->local, job);
    }
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        return KEEL_ESHUTDOWN;
    }
    int rc = ring_push(&pool->shared, job);
    if (rc == 0) {
        atomic_store_explicit(&pool->shared_hint, pool->shared.count, memory_order_relaxed);
        atomic_fetch_add_explicit(&pool->outstanding, 1, memory_order_relaxed);
        if (pool->sleeping > 0)
            pthread_cond_signal(&pool->work_ready);
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

bool workers_on_worker(const workers_t *pool)
{
    return current_worker != NULL && current_worker->pool == pool;
}

size_t workers_outstanding(const workers_t *pool)
{
    return atomic_load(&((workers_t *)pool)->outstanding);
}

bool workers_wait_idle(workers_t *pool, uint64_t timeout_ms)
{
    struct timespec deadline = deadline_after_ms(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&pool->lock);
    int rc = 0;
    while (atomic_load(&pool->outstanding) != 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&pool->idle, &pool->lock, &deadline);
    bool idle = atomic_load(&pool->outstanding) == 0;
    pthread_mutex_unlock(&pool->lock);
    return idle;
}

void workers_stop(workers_t *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->count; i++) {
        pthread_join(pool->workers[i].thread, NULL);
        free(pool->workers[i].local.slots);
    }
    free(pool->shared.slots);
    pthread_cond_destroy(&pool->work_ready);
    pthread_cond_destroy(&pool->idle);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

unsigned workers_count(const workers_t *pool)
{
    return pool->count;
}
