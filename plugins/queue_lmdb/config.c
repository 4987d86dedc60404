/*
 * config.c — the config keys of queue_lmdb and their validation. Every
 * refused value is logged with the queue and key it belongs to.
 */
#include "queue_lmdb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECOND_MS (INT64_C(1000))
#define DAY_MS    (INT64_C(86400000))

static const keel_config_key_t backoff_keys[] = {
    {"enabled", KEEL_CFG_BOOL, "false",
     "retry after a random delay in [0, min(max, base * 2^(receives-1))] instead of the "
     "visibility timeout",
     0, NULL},
    {"base", KEEL_CFG_DURATION, "1s", "backoff cap after the first receive", 0, NULL},
    {"max", KEEL_CFG_DURATION, "5m", "largest backoff cap", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t queue_keys[] = {
    {"name", KEEL_CFG_STRING, NULL, "queue name (letters, digits, '_', '-', '.'; 1-80 chars)",
     KEEL_CFG_REQUIRED, NULL},
    {"visibility_timeout", KEEL_CFG_DURATION, "60s",
     "how long a received message stays invisible (0-12h)", 0, NULL},
    {"max_receives", KEEL_CFG_INT, "3", "receives before a message goes to the DLQ (1-1000)", 0,
     NULL},
    {"retention", KEEL_CFG_DURATION, "4d", "how long a message is kept (60s-14d)", 0, NULL},
    {"dlq_retention", KEEL_CFG_DURATION, "14d",
     "how long a DLQ entry is kept, counted from its first send (60s-14d)", 0, NULL},
    {"delay", KEEL_CFG_DURATION, "0", "default delay of new messages (0-900s)", 0, NULL},
    {"dedup_window", KEEL_CFG_DURATION, "5m", "how long a dedup id is remembered (0: off)", 0,
     NULL},
    {"max_depth", KEEL_CFG_INT, "1000000", "most messages outside the DLQ (0: unlimited)", 0, NULL},
    {"max_bytes", KEEL_CFG_SIZE, "0", "most body bytes, DLQ included (0: unlimited)", 0, NULL},
    {"max_message_size", KEEL_CFG_SIZE, "256KiB", "largest body plus attributes (up to 1MiB)", 0,
     NULL},
    {"backoff", KEEL_CFG_SECTION, NULL, "exponential retry backoff with full jitter", 0,
     backoff_keys},
    {NULL, 0, NULL, NULL, 0, NULL},
};

const keel_config_key_t ql_config_keys[] = {
    {"path", KEEL_CFG_STRING, NULL,
     "directory of the LMDB environment (default: <data_dir>/<instance name>)", 0, NULL},
    {"map_size", KEEL_CFG_SIZE, "1GiB",
     "storage budget: the LMDB map size, fixed while running; when full, sends fail with "
     "KEEL_EFULL",
     0, NULL},
    {"max_batch_per_commit", KEEL_CFG_INT, "1024", "most requests committed in one transaction", 0,
     NULL},
    {"sweep_interval", KEEL_CFG_DURATION, "1s", "how often expiry, dedup trimming and gauges run",
     0, NULL},
    {"queues", KEEL_CFG_SECTION_LIST, NULL, "the queues of this instance", KEEL_CFG_REQUIRED,
     queue_keys},
    {NULL, 0, NULL, NULL, 0, NULL},
};

typedef struct reader {
    ql_t *ql;
    const char *queue; /* for messages; NULL at top level */
    char prefix[64];
    bool failed;
} reader_t;

static int64_t read_int(reader_t *r, const char *key, int64_t min, int64_t max, const char *unit)
{
    char path[128];
    snprintf(path, sizeof path, "%s%s", r->prefix, key);
    int64_t value = 0;
    int rc = r->ql->host->config_int(r->ql->self, path, &value);
    if (rc < 0) {
        r->ql->host->log(r->ql->self, KEEL_LOG_ERROR, "config '%s': cannot read it: %s", path,
                         r->ql->host->strerror(rc));
        r->failed = true;
        return min;
    }
    if (value < min || value > max) {
        if (r->queue)
            r->ql->host->log(r->ql->self, KEEL_LOG_ERROR,
                             "queue '%s': '%s' is %" PRId64 "%s, must be %" PRId64 "%s..%" PRId64
                             "%s",
                             r->queue, key, value, unit, min, unit, max, unit);
        else
            r->ql->host->log(r->ql->self, KEEL_LOG_ERROR,
                             "config '%s' is %" PRId64 "%s, must be %" PRId64 "%s..%" PRId64 "%s",
                             key, value, unit, min, unit, max, unit);
        r->failed = true;
        return min;
    }
    return value;
}

static bool name_is_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 80)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return false;
    return true;
}

static void load_queue(ql_t *ql, size_t index, reader_t *r)
{
    ql_queue_t *q = &ql->queues[index];
    char path[64];
    snprintf(path, sizeof path, "queues[%zu].name", index);
    if (ql->host->config_string(ql->self, path, &q->name) < 0 || !name_is_valid(q->name)) {
        ql->host->log(ql->self, KEEL_LOG_ERROR,
                      "queues[%zu]: 'name' must be 1-80 letters, digits, '_', '-' or '.'", index);
        r->failed = true;
        q->name = "";
        return;
    }
    for (size_t i = 0; i < index; i++) {
        if (strcmp(ql->queues[i].name, q->name) == 0) {
            ql->host->log(ql->self, KEEL_LOG_ERROR,
                          "queue '%s': 'name' is used twice (queues[%zu] and queues[%zu])", q->name,
                          i, index);
            r->failed = true;
        }
    }
    r->queue = q->name;
    snprintf(r->prefix, sizeof r->prefix, "queues[%zu].", index);
    q->visibility_ms =
        (uint64_t)read_int(r, "visibility_timeout", 0, QL_MAX_VISIBILITY_S * SECOND_MS, "ms");
    q->max_receives = (uint32_t)read_int(r, "max_receives", 1, 1000, "");
    q->retention_ms = (uint64_t)read_int(r, "retention", 60 * SECOND_MS, 14 * DAY_MS, "ms");
    q->dlq_retention_ms = (uint64_t)read_int(r, "dlq_retention", 60 * SECOND_MS, 14 * DAY_MS, "ms");
    q->delay_ms = (uint64_t)read_int(r, "delay", 0, QL_MAX_DELAY_S * SECOND_MS, "ms");
    q->dedup_window_ms = (uint64_t)read_int(r, "dedup_window", 0, 14 * DAY_MS, "ms");
    q->max_depth = (uint64_t)read_int(r, "max_depth", 0, INT64_MAX, "");
    q->max_bytes = (uint64_t)read_int(r, "max_bytes", 0, INT64_MAX, " bytes");
    q->max_message_size = (uint64_t)read_int(r, "max_message_size", 1, 1 << 20, " bytes");

    snprintf(path, sizeof path, "queues[%zu].backoff.enabled", index);
    if (ql->host->config_bool(ql->self, path, &q->backoff_enabled) < 0) {
        ql->host->log(ql->self, KEEL_LOG_ERROR, "queue '%s': cannot read 'backoff.enabled'",
                      q->name);
        r->failed = true;
    }
    q->backoff_base_ms =
        (uint64_t)read_int(r, "backoff.base", 1, QL_MAX_VISIBILITY_S * SECOND_MS, "ms");
    q->backoff_max_ms =
        (uint64_t)read_int(r, "backoff.max", 1, QL_MAX_VISIBILITY_S * SECOND_MS, "ms");
    if (q->backoff_max_ms < q->backoff_base_ms) {
        ql->host->log(ql->self, KEEL_LOG_ERROR,
                      "queue '%s': 'backoff.max' (%" PRIu64 "ms) is below 'backoff.base' (%" PRIu64
                      "ms)",
                      q->name, q->backoff_max_ms, q->backoff_base_ms);
        r->failed = true;
    }
}

static char *default_path(ql_t *ql)
{
    const char *dir = ql->host->data_dir(ql->self), *name = ql->host->instance_name(ql->self);
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s", dir, name);
    return path;
}

int config_load(ql_t *ql)
{
    const keel_host_api_t *host = ql->host;
    reader_t r = {.ql = ql};
    const char *path = NULL;
    if (host->config_string(ql->self, "path", &path) == 0 && path[0] != '\0')
        ql->path = strdup(path);
    else
        ql->path = default_path(ql);
    if (ql->path == NULL)
        return KEEL_ENOMEM;
    ql->map_size = (uint64_t)read_int(&r, "map_size", 256 << 10, INT64_C(1) << 40, " bytes");
    ql->max_batch_per_commit = (size_t)read_int(&r, "max_batch_per_commit", 1, 100000, "");
    ql->sweep_interval_ms = (uint64_t)read_int(&r, "sweep_interval", 10, 3600 * SECOND_MS, "ms");

    size_t count = 0;
    if (host->config_count(ql->self, "queues", &count) < 0 || count == 0) {
        host->log(ql->self, KEEL_LOG_ERROR, "config 'queues' must list at least one queue");
        return KEEL_EINVAL;
    }
    if (count > 4096) {
        host->log(ql->self, KEEL_LOG_ERROR, "config 'queues' lists %zu queues; at most 4096",
                  count);
        return KEEL_EINVAL;
    }
    ql->queues = calloc(count, sizeof *ql->queues);
    ql->queue_names = calloc(count, sizeof *ql->queue_names);
    if (ql->queues == NULL || ql->queue_names == NULL)
        return KEEL_ENOMEM;
    ql->queue_count = count;
    for (size_t i = 0; i < count; i++) {
        load_queue(ql, i, &r);
        ql->queue_names[i] = ql->queues[i].name;
    }
    return r.failed ? KEEL_EINVAL : 0;
}
