/*
 * store_lmdb_util.h — what the store_lmdb tests share: the plugin started
 * in a harness, the writer's counters (from the test-only
 * "store_lmdb.debug" service), a monotonic clock and removing a data
 * directory.
 */
#ifndef STORE_LMDB_UTIL_H
#define STORE_LMDB_UTIL_H

#include "../../plugins/store_lmdb/debug.h"
#include "store_client.h"

#include <ftw.h>
#include <sys/stat.h>

#define STORE_SO KEEL_BUILTIN_PLUGIN_DIR "/store_lmdb.so"

/* A started harness with store_lmdb as instance "store" (dir NULL: a
 * fresh temporary data directory). */
static inline keel_harness_t *start_store(const char *dir, const char *config_yaml)
{
    keel_harness_t *h = keel_harness_new(dir);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "store", STORE_SO, config_yaml), 0);
    assert_int_equal(keel_harness_start(h), 0);
    return h;
}

/* Restarts the store on `dir` (after the harness before it was freed) and
 * points s at it, keeping s's id prefix so that the orders written before
 * can be read back. */
static inline keel_harness_t *restart_store(sc_t *s, const char *dir)
{
    keel_harness_t *h = start_store(dir, NULL);
    sc_attach(s, h, "store");
    return h;
}

/* The writer's commits, the requests they carried and the batches
 * commit_delay held back, so far. */
typedef struct counts {
    uint64_t commits, requests, delayed_groups;
} counts_t;

static inline counts_t read_counts(keel_harness_t *h)
{
    keel_service_t svc;
    assert_int_equal(keel_harness_service(h, "store", STORE_LMDB_DEBUG_INTERFACE,
                                          STORE_LMDB_DEBUG_VERSION, &svc),
                     0);
    const store_lmdb_debug_api_t *debug = svc.vtable;
    counts_t c;
    debug->commit_counts(svc.ctx, &c.commits, &c.requests, &c.delayed_groups);
    return c;
}

static inline uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static inline int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes the directory tree at dir. */
static inline void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
