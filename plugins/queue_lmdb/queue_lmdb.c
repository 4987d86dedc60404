/*
 * queue_lmdb.c — the plugin: descriptor, lifecycle, metrics and services.
 *
 * init() reads the config, opens the LMDB environment and rebuilds the
 * dedup index, and provides the "queue" service (plus "queue_lmdb.debug"
 * for tests); nothing runs callbacks yet. start() starts the writer and
 * the sweep timer. stop() refuses new calls, answers every accepted
 * request and joins the writer. destroy() closes the environment.
 */
#include "queue_lmdb.h"
#include "debug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int register_queue_metrics(ql_t *ql, ql_queue_t *q)
{
    const keel_host_api_t *host = ql->host;
    char labels[128];
    snprintf(labels, sizeof labels, "queue=\"%s\"", q->name);
    ql_metrics_t *m = &q->metrics;
    struct {
        bool counter;
        const char *name, *help;
        keel_metric_t **out;
    } list[] = {
        {false, "keel_queue_visible", "messages that can be received now", &m->visible},
        {false, "keel_queue_in_flight", "received messages not settled yet", &m->in_flight},
        {false, "keel_queue_delayed", "messages waiting for their delay", &m->delayed},
        {false, "keel_queue_dlq_depth", "messages in the dead-letter queue", &m->dlq_depth},
        {false, "keel_queue_oldest_age_seconds", "age of the oldest message not in the DLQ",
         &m->oldest_age},
        {false, "keel_queue_dlq_oldest_age_seconds",
         "time the oldest DLQ message has been there (0: none)", &m->dlq_oldest_age},
        {false, "keel_queue_bytes", "body bytes held, DLQ included", &m->bytes},
        {true, "keel_queue_sent_total", "messages stored", &m->sent},
        {true, "keel_queue_received_total", "deliveries", &m->received},
        {true, "keel_queue_deleted_total", "messages settled OK", &m->deleted},
        {true, "keel_queue_retried_total", "messages settled RETRY", &m->retried},
        {true, "keel_queue_dead_lettered_total", "messages moved to the DLQ", &m->dead_lettered},
        {true, "keel_queue_redriven_total", "DLQ messages moved back", &m->redriven},
        {true, "keel_queue_expired_total", "messages dropped by retention", &m->expired},
        {true, "keel_queue_full_total", "sends refused by backpressure", &m->full},
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        int rc =
            list[i].counter
                ? host->metric_counter(ql->self, list[i].name, list[i].help, labels, list[i].out)
                : host->metric_gauge(ql->self, list[i].name, list[i].help, labels, list[i].out);
        if (rc < 0) {
            host->log(ql->self, KEEL_LOG_ERROR, "queue '%s': cannot register metric %s: %s",
                      q->name, list[i].name, host->strerror(rc));
            return rc;
        }
    }
    host->metric_set(m->bytes, (double)q->committed.bytes);
    return 0;
}

static int register_metrics(ql_t *ql)
{
    static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
    static const double second_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                           0.01,   0.025,   0.05,   0.1,   0.25,   1};
    const keel_host_api_t *host = ql->host;
    int rc = host->metric_histogram(
        ql->self, "keel_queue_commit_batch_size", "requests carried by one commit", NULL,
        batch_bounds, sizeof batch_bounds / sizeof batch_bounds[0], &ql->commit_batch);
    if (rc == 0)
        rc = host->metric_histogram(
            ql->self, "keel_queue_commit_seconds", "time to run and commit one group", NULL,
            second_bounds, sizeof second_bounds / sizeof second_bounds[0], &ql->commit_seconds);
    for (size_t i = 0; rc == 0 && i < ql->queue_count; i++)
        rc = register_queue_metrics(ql, &ql->queues[i]);
    return rc;
}

static void debug_pause(void *ctx, bool paused)
{
    writer_pause(ctx, paused);
}

static void debug_counts(void *ctx, uint64_t *commits, uint64_t *requests)
{
    ql_t *ql = ctx;
    *commits = atomic_load(&ql->commits);
    *requests = atomic_load(&ql->committed_requests);
}

static const queue_lmdb_debug_api_t debug_api = {
    .struct_size = sizeof(queue_lmdb_debug_api_t),
    .pause_writer = debug_pause,
    .commit_counts = debug_counts,
};

static void ql_free(ql_t *ql)
{
    store_close(ql);
    for (size_t i = 0; ql->queues && i < ql->queue_count; i++)
        dedup_free(&ql->queues[i].dedup);
    writer_destroy(ql);
    pthread_rwlock_destroy(&ql->env_lock);
    free(ql->queues);
    free(ql->queue_names);
    free(ql->path);
    free(ql);
}

static int ql_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    ql_t *ql = calloc(1, sizeof *ql);
    if (ql == NULL)
        return KEEL_ENOMEM;
    ql->self = self;
    ql->host = host;
    pthread_rwlock_init(&ql->env_lock, NULL);
    int rc = writer_init(ql);
    if (rc < 0) {
        pthread_rwlock_destroy(&ql->env_lock);
        free(ql);
        return rc;
    }
    if ((rc = config_load(ql)) < 0 || (rc = store_open(ql)) < 0)
        goto fail;
    if ((rc = store_rebuild_dedup(ql)) < 0) {
        host->log(self, KEEL_LOG_ERROR, "cannot rebuild the dedup index from '%s': %s", ql->path,
                  host->strerror(rc));
        goto fail;
    }
    if ((rc = register_metrics(ql)) < 0)
        goto fail;
    rc = host->service_provide(self, KEEL_QUEUE_INTERFACE, KEEL_QUEUE_VERSION, &ql_queue_api, ql);
    if (rc == 0)
        rc = host->service_provide(self, QUEUE_LMDB_DEBUG_INTERFACE, QUEUE_LMDB_DEBUG_VERSION,
                                   &debug_api, ql);
    if (rc < 0) {
        host->log(self, KEEL_LOG_ERROR, "cannot provide the queue service: %s", host->strerror(rc));
        goto fail;
    }
    host->log(self, KEEL_LOG_INFO, "queue store '%s' open: %zu queue(s), budget %llu bytes",
              ql->path, ql->queue_count, (unsigned long long)ql->map_size);
    *ctx = ql;
    return 0;
fail:
    ql_free(ql);
    return rc;
}

static void sweep_tick(void *arg)
{
    writer_request_sweep(arg);
}

static int ql_start(void *ctx)
{
    ql_t *ql = ctx;
    int rc = writer_start(ql);
    if (rc < 0) {
        ql->host->log(ql->self, KEEL_LOG_ERROR, "cannot start the writer thread");
        return rc;
    }
    writer_request_sweep(ql); /* the gauges from the start, not one interval later */
    rc = ql->host->timer_add(ql->self, ql->sweep_interval_ms, ql->sweep_interval_ms, sweep_tick, ql,
                             &ql->sweep_timer);
    if (rc < 0)
        ql->host->log(ql->self, KEEL_LOG_ERROR, "cannot arm the sweep timer: %s",
                      ql->host->strerror(rc));
    return rc;
}

static void ql_stop(void *ctx)
{
    ql_t *ql = ctx;
    ql->host->timer_cancel(ql->sweep_timer);
    ql->sweep_timer = NULL;
    writer_stop(ql);
}

static void ql_destroy(void *ctx)
{
    ql_t *ql = ctx;
    writer_stop(ql); /* answers requests made when start() never ran */
    ql_free(ql);
}

static int ql_health(void *ctx, char *why, size_t why_len)
{
    ql_t *ql = ctx;
    pthread_rwlock_rdlock(&ql->env_lock);
    bool open = ql->env != NULL;
    pthread_rwlock_unlock(&ql->env_lock);
    if (open)
        return 0;
    snprintf(why, why_len, "the queue store at '%s' is not open (see the log)", ql->path);
    return KEEL_EUNAVAIL;
}

KEEL_PLUGIN_DECLARE(.name = "queue_lmdb", .version = "1.0.0",
                    .description = "durable SQS-like queues with DLQs, on LMDB",
                    .config_keys = ql_config_keys, .init = ql_init, .start = ql_start,
                    .stop = ql_stop, .destroy = ql_destroy, .health = ql_health);
