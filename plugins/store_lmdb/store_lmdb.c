/*
 * store_lmdb.c — the plugin: config, opening the env (refusing network
 * filesystems, clearing stale readers), the lanes' lifecycle and health,
 * and the test-only debug service (debug.h).
 */
#include "store_lmdb.h"

#include "debug.h"
#include "lmdb_common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

enum { MAX_READERS = 126 };

static const keel_config_key_t sl_config_keys[] = {
    {"path", KEEL_CFG_STRING, NULL,
     "directory of the LMDB environment (default: <data_dir>/<instance name>)", 0, NULL},
    {"map_size", KEEL_CFG_SIZE, "1GiB",
     "storage budget (the LMDB map size); when full, writes fail with KEEL_EFULL", 0, NULL},
    {"commit_delay", KEEL_CFG_DURATION, "0",
     "under concurrent load (the previous commit carried 2 or more writes), how long the writer "
     "waits for more writes before committing, so that one fsync serves more of them (0-100ms; "
     "0: commit at once); a lone write never waits",
     0, NULL},
    {"lazy_delay", KEEL_CFG_DURATION, "10ms",
     "how long a lazy put (the HTTP ingress's QUEUED record, whose order is already durable in "
     "the queue) may wait so that one commit writes many (0-1s; 0: at once); any other write "
     "takes the waiting ones along",
     0, NULL},
    {"restore_gap", KEEL_CFG_INT, "10000000",
     "how far every sequence jumps on the first start after `keelctl restore`: numbers handed "
     "out after the backup must not be handed out again (1-1000000000000)",
     0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

/* A duration key of 0 (off) to max_ms. */
static int read_delay(sl_t *sl, const char *key, int max_ms, uint64_t *out)
{
    const keel_host_api_t *h = sl->host;
    int64_t ms = 0;
    int rc = h->config_int(sl->self, key, &ms);
    if (rc < 0) {
        h->log(sl->self, KEEL_LOG_ERROR, "config '%s': cannot read it: %s", key, h->strerror(rc));
        return KEEL_EINVAL;
    }
    if (ms < 0 || ms > max_ms) {
        h->log(sl->self, KEEL_LOG_ERROR, "config '%s' is %" PRId64 "ms, must be 0 (off) to %dms",
               key, ms, max_ms);
        return KEEL_EINVAL;
    }
    *out = (uint64_t)ms;
    return 0;
}

static int config_load(sl_t *sl)
{
    const keel_host_api_t *h = sl->host;
    int64_t map_size = 0;
    int rc = h->config_int(sl->self, "map_size", &map_size);
    if (rc < 0 || map_size < 16384) {
        h->log(sl->self, KEEL_LOG_ERROR, "config 'map_size': must be at least 16KiB");
        return KEEL_EINVAL;
    }
    sl->map_size = (uint64_t)map_size;
    if ((rc = read_delay(sl, "commit_delay", SL_MAX_COMMIT_DELAY_MS, &sl->commit_delay_ms)) < 0 ||
        (rc = read_delay(sl, "lazy_delay", SL_MAX_LAZY_DELAY_MS, &sl->lazy_delay_ms)) < 0)
        return rc;
    int64_t gap = 0;
    if (h->config_int(sl->self, "restore_gap", &gap) < 0 || gap < 1 || gap > 1000000000000LL) {
        h->log(sl->self, KEEL_LOG_ERROR, "config 'restore_gap': must be 1 to 1000000000000");
        return KEEL_EINVAL;
    }
    sl->restore_gap = (uint64_t)gap;
    const char *path = NULL;
    if (h->config_string(sl->self, "path", &path) == 0 && path != NULL && path[0] != '\0') {
        sl->path = strdup(path);
    } else {
        const char *dir = h->data_dir(sl->self), *name = h->instance_name(sl->self);
        size_t n = strlen(dir) + strlen(name) + 2;
        if ((sl->path = malloc(n)) != NULL)
            snprintf(sl->path, n, "%s/%s", dir, name);
    }
    return sl->path == NULL ? KEEL_ENOMEM : 0;
}

static int open_dbs(sl_t *sl)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(sl->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, "orders", MDB_CREATE, &sl->orders)) != 0 ||
        (rc = mdb_dbi_open(txn, "by_customer", MDB_CREATE, &sl->by_customer)) != 0 ||
        (rc = mdb_dbi_open(txn, "sequences", MDB_CREATE, &sl->sequences)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

static int env_open(sl_t *sl)
{
    const char *fs, *step = "creating the directory";
    int rc = lmdb_make_dirs(sl->path);
    if (rc == 0 && (fs = lmdb_network_filesystem(sl->path)) != NULL) {
        sl->host->log(sl->self, KEEL_LOG_ERROR,
                      "refusing '%s': it is on %s (LMDB needs local locks and mmap)", sl->path, fs);
        return KEEL_EINVAL;
    }
    if (rc == 0 && (step = "mdb_env_create", rc = mdb_env_create(&sl->env)) == 0 &&
        (step = "mdb_env_set_mapsize", rc = mdb_env_set_mapsize(sl->env, sl->map_size)) == 0 &&
        (step = "mdb_env_set_maxdbs", rc = mdb_env_set_maxdbs(sl->env, 3)) == 0 &&
        (step = "mdb_env_set_maxreaders", rc = mdb_env_set_maxreaders(sl->env, MAX_READERS)) == 0)
        /* Default sync flags (durable commits); MDB_NOTLS: txns are not
         * tied to the thread's reader slot. */
        step = "mdb_env_open", rc = mdb_env_open(sl->env, sl->path, MDB_NOTLS, 0600);
    if (rc == 0) {
        int dead = 0;
        mdb_reader_check(sl->env, &dead);
        if (dead > 0)
            sl->host->log(sl->self, KEEL_LOG_WARN, "cleared %d stale reader slot(s)", dead);
        step = "opening the databases";
        rc = open_dbs(sl);
    }
    if (rc == 0)
        return 0;
    sl->host->log(sl->self, KEEL_LOG_ERROR, "cannot open the order store at '%s' (%s): %s",
                  sl->path, step, mdb_strerror(rc));
    if (sl->env != NULL)
        mdb_env_close(sl->env);
    sl->env = NULL;
    return lmdb_status(rc) == KEEL_EFULL ? KEEL_EFULL : KEEL_EIO;
}

static void debug_commit_counts(void *ctx, uint64_t *commits, uint64_t *requests,
                                uint64_t *delayed_groups)
{
    sl_t *sl = ctx;
    *commits = atomic_load(&sl->commits);
    *requests = atomic_load(&sl->committed_requests);
    pthread_mutex_lock(&sl->writer.lock);
    *delayed_groups = sl->writer.delayed_groups;
    pthread_mutex_unlock(&sl->writer.lock);
}

static const store_lmdb_debug_api_t debug_api = {
    .struct_size = sizeof(store_lmdb_debug_api_t),
    .commit_counts = debug_commit_counts,
};

static void sl_stop(void *ctx)
{
    sl_t *sl = ctx;
    sl->stopping = true; /* new requests: KEEL_ESHUTDOWN */
    if (sl->writer.sl != NULL)
        sl_lane_stop(&sl->writer);
    if (sl->reader.sl != NULL)
        sl_lane_stop(&sl->reader);
}

static void sl_destroy(void *ctx)
{
    sl_t *sl = ctx;
    sl_stop(sl);
    sl_lane_t *lanes[2] = {&sl->writer, &sl->reader};
    for (int i = 0; i < 2; i++) {
        if (lanes[i]->sl != NULL) {
            pthread_mutex_destroy(&lanes[i]->lock);
            pthread_cond_destroy(&lanes[i]->wake);
        }
    }
    if (sl->env != NULL)
        mdb_env_close(sl->env);
    free(sl->path);
    free(sl);
}

/*
 * `keelctl restore` leaves a file named "restored" in each environment it
 * wrote. The sequences went back to the backup's values, so the numbers
 * handed out since the backup (confirmation numbers among them) would be
 * handed out again: every sequence jumps ahead by restore_gap, once, in
 * one commit, before anyone may ask for a number.
 */
static int advance_restored_sequences(sl_t *sl)
{
    char marker[4096];
    int n = snprintf(marker, sizeof marker, "%s/restored", sl->path);
    struct stat st;
    if (n < 0 || (size_t)n >= sizeof marker || stat(marker, &st) != 0)
        return 0;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(sl->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, sl->sequences, &cur);
    size_t moved = 0;
    MDB_val k, v;
    for (int op = MDB_FIRST; rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, op)) == 0;
         op = MDB_NEXT) {
        if (v.mv_size != 8)
            continue;
        uint64_t next = sl_be64_get(v.mv_data);
        uint8_t bytes[8];
        sl_be64_put(bytes,
                    next > UINT64_MAX - sl->restore_gap ? UINT64_MAX : next + sl->restore_gap);
        MDB_val nv = {sizeof bytes, bytes};
        rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT);
        moved++;
    }
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = mdb_txn_commit(txn);
    else if (txn != NULL && rc != 0)
        mdb_txn_abort(txn);
    if (rc != 0) {
        sl->host->log(sl->self, KEEL_LOG_ERROR,
                      "restored from a backup, but cannot advance the sequences: %s",
                      mdb_strerror(rc));
        return KEEL_EIO;
    }
    /* Gone for good before any number is handed out: a second start must
     * not jump again (harmless, but numbers are not to be wasted). */
    int dir = -1;
    if (unlink(marker) != 0 || (dir = open(sl->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        fsync(dir) != 0)
        sl->host->log(sl->self, KEEL_LOG_WARN, "cannot remove %s: %s", marker, strerror(errno));
    if (dir >= 0)
        close(dir);
    sl->host->log(sl->self, KEEL_LOG_WARN,
                  "restored from a backup: %zu sequence(s) advanced by %" PRIu64
                  ", so that no number handed out after the backup is handed out again",
                  moved, sl->restore_gap);
    return 0;
}

static int sl_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
    sl_t *sl = calloc(1, sizeof *sl);
    if (sl == NULL)
        return KEEL_ENOMEM;
    sl->self = self;
    sl->host = host;
    int rc;
    if ((rc = config_load(sl)) < 0 || (rc = env_open(sl)) < 0 ||
        (rc = advance_restored_sequences(sl)) < 0)
        goto fail;
    if ((rc = host->metric_counter(self, "keel_store_commits_total", "write transactions committed",
                                   NULL, &sl->m_commits)) < 0 ||
        (rc = host->metric_counter(self, "keel_store_write_failures_total",
                                   "writes answered with a backend error", NULL, &sl->m_failed)) <
            0 ||
        (rc = host->metric_histogram(
             self, "keel_store_commit_batch_size", "requests carried by one commit", NULL,
             batch_bounds, sizeof batch_bounds / sizeof batch_bounds[0], &sl->m_batch_size)) < 0)
        goto fail;
    /* The lanes run from init on: instances initialised after this one
     * may call the service before start(). */
    if ((rc = sl_lane_start(sl, &sl->writer, sl_write_batch, sl->commit_delay_ms,
                            sl->lazy_delay_ms)) < 0 ||
        (rc = sl_lane_start(sl, &sl->reader, sl_read_batch, 0, 0)) < 0) {
        host->log(self, KEEL_LOG_ERROR, "cannot start the store threads");
        goto fail;
    }
    if ((rc = host->service_provide(self, KEEL_STORE_INTERFACE, KEEL_STORE_VERSION, &sl_store_api,
                                    sl)) < 0 ||
        (rc = host->service_provide(self, STORE_LMDB_DEBUG_INTERFACE, STORE_LMDB_DEBUG_VERSION,
                                    &debug_api, sl)) < 0) {
        host->log(self, KEEL_LOG_ERROR, "cannot provide the store service: %s", host->strerror(rc));
        goto fail;
    }
    host->log(self, KEEL_LOG_INFO,
              "order store '%s' open, budget %llu bytes, commit_delay %llums, lazy_delay %llums",
              sl->path, (unsigned long long)sl->map_size, (unsigned long long)sl->commit_delay_ms,
              (unsigned long long)sl->lazy_delay_ms);
    *ctx = sl;
    return 0;
fail:
    sl_destroy(sl);
    return rc;
}

static int sl_health(void *ctx, char *why, size_t why_len)
{
    sl_t *sl = ctx;
    if (sl->env != NULL && !sl->broken)
        return 0;
    snprintf(why, why_len, "the order store at '%s' is not open (see the log)", sl->path);
    return KEEL_EUNAVAIL;
}

KEEL_PLUGIN_DECLARE(.name = "store_lmdb", .version = "1.1.0",
                    .description = "orders, a customer index and sequences, on LMDB",
                    .config_keys = sl_config_keys, .init = sl_init, .stop = sl_stop,
                    .destroy = sl_destroy, .health = sl_health, .step = sl_step);
