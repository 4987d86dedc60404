/*
 * msgpool.h — memory for published messages.
 *
 * A message is usually allocated by one thread (an ingress, a handler) and
 * freed by another (the worker that ran its last delivery). With malloc
 * that pattern contends for the allocating thread's arena lock on every
 * message. Here each thread has a cache of blocks in a few size classes; a
 * block freed by another thread is pushed onto its owner's lock-free
 * "returned" stack, and the owner takes the whole stack back with one
 * atomic exchange when its cache runs dry.
 */
#ifndef KEEL_KERNEL_MSGPOOL_H
#define KEEL_KERNEL_MSGPOOL_H

#include <stddef.h>

typedef struct msgpool msgpool_t;

msgpool_t *msgpool_new(void);
/* Frees every cached block. Only once no thread uses the pool and every
 * block was released. */
void msgpool_free(msgpool_t *pool);

/* A block of at least `size` bytes, aligned for any object. Any thread.
 * NULL when out of memory. */
void *msgpool_alloc(msgpool_t *pool, size_t size);
/* Releases a block from msgpool_alloc(). Any thread. */
void msgpool_release(void *block);

#endif
