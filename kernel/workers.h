/*
 * workers.h — the kernel's worker pool.
 *
 * Jobs submitted from outside the pool go to a shared queue. Jobs submitted
 * by a job running on a worker (a handler publishing downstream) go to that
 * worker's own local queue, which needs no lock and keeps a message's
 * pipeline hot in one core's cache; a worker shares half of its local queue
 * with the others whenever some of them are idle.
 */
#ifndef KEEL_KERNEL_WORKERS_H
#define KEEL_KERNEL_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct workers workers_t;
typedef void (*job_fn)(void *a, void *b);

/* Creates a pool of `threads` workers (at least 1) and starts them.
 * `name` prefixes the thread names. NULL on failure. */
workers_t *workers_start(unsigned threads, const char *name);

/* Queues fn(a, b). Any thread. 0, KEEL_ESHUTDOWN (pool stopped) or
 * KEEL_ENOMEM. */
int workers_submit(workers_t *pool, job_fn fn, void *a, void *b);

/* True on one of this pool's worker threads. */
bool workers_on_worker(const workers_t *pool);

/* Waits until no job is queued or running, up to timeout_ms (0 = no wait).
 * True when the pool went idle. Jobs may still be submitted meanwhile. */
bool workers_wait_idle(workers_t *pool, uint64_t timeout_ms);

/* Number of jobs queued or running. */
size_t workers_outstanding(const workers_t *pool);

/* Refuses new jobs, runs what is queued, joins the threads and frees the
 * pool. NULL is ignored. */
void workers_stop(workers_t *pool);

unsigned workers_count(const workers_t *pool);

#endif
