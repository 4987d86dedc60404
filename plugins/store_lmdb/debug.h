/*
 * debug.h — a second service of store_lmdb, for tests only: how many
 * write txns the writer committed, the requests they carried and how many
 * batches commit_delay held back. Not part of the public SDK.
 */
#ifndef STORE_LMDB_DEBUG_H
#define STORE_LMDB_DEBUG_H

#include <keel/keel.h>

#define STORE_LMDB_DEBUG_INTERFACE "store_lmdb.debug"
#define STORE_LMDB_DEBUG_VERSION   KEEL_VERSION(1, 0)

typedef struct store_lmdb_debug_api {
    uint32_t struct_size;
    /* Any thread. Commits, the requests they carried, and the batches the
     * writer held back for commit_delay. */
    void (*commit_counts)(void *ctx, uint64_t *commits, uint64_t *requests,
                          uint64_t *delayed_groups);
} store_lmdb_debug_api_t;

#endif /* STORE_LMDB_DEBUG_H */
