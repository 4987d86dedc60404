/*
 * debug.h — a second service of queue_lmdb, for tests only: hold the
 * writer so that requests pile up into one group, and read how many
 * requests its commits carried. Not part of the public SDK.
 */
#ifndef QUEUE_LMDB_DEBUG_H
#define QUEUE_LMDB_DEBUG_H

#include <keel/keel.h>

#define QUEUE_LMDB_DEBUG_INTERFACE "queue_lmdb.debug"
#define QUEUE_LMDB_DEBUG_VERSION   KEEL_VERSION(1, 0)

typedef struct queue_lmdb_debug_api {
    uint32_t struct_size;
    /* While paused, the writer takes no request (stop() overrides). */
    void (*pause_writer)(void *ctx, bool paused);
    /* Commits that carried at least one request, and those requests. */
    void (*commit_counts)(void *ctx, uint64_t *commits, uint64_t *requests);
} queue_lmdb_debug_api_t;

#endif /* QUEUE_LMDB_DEBUG_H */
