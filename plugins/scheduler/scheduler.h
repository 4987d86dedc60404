/*
 * scheduler.h — the scheduler plugin's internals, shared by scheduler.c
 * (firing) and config.c (reading and checking the config).
 */
#ifndef KEEL_SCHEDULER_H
#define KEEL_SCHEDULER_H

#include "cron.h"
#include "tz.h"

#include <keel/keel.h>
#include <keel/queue.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MAX_NAME = 64, MAX_ATTRS = 16, MAX_CATCH_UP = 64, PATH_BYTES = 96 };

typedef struct scheduler scheduler_t;

typedef struct schedule {
    scheduler_t *owner;
    char name[MAX_NAME + 1];
    const char *expression;
    sched_expr_t expr;
    tz_t *zone;
    bool enabled;
    const keel_queue_api_t *queue; /* NULL: publish to topic */
    void *queue_ctx;
    const char *queue_name, *topic, *message;
    keel_attr_t attrs[MAX_ATTRS + 2];
    char attr_keys[MAX_ATTRS][64];
    size_t attr_count; /* configured ones */
    bool has_next;
    int64_t next_s;
    bool catch_up;
    bool has_last; /* last_fired_s is known (catch_up only) */
    int64_t last_fired_s;
    keel_metric_t *m_firings, *m_failures;
} schedule_t;

struct scheduler {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    uint64_t tick_ms;
    size_t count;
    schedule_t *schedules;
    keel_timer_t *timer;
    char state_path[512]; /* "" unless a schedule has catch_up */
    pthread_mutex_t lock;
    pthread_cond_t drained;
    size_t pending; /* sends and publishes whose callback has not run */
};

/** The config keys (config.c). */
extern const keel_config_key_t sched_config_keys[];

/**
 * Reads and checks the config into s (allocated by the caller, self and
 * host set): tick, schedules (expressions, zones, targets, attributes,
 * metrics) and, for catch_up, the last firings. Logs every refusal with
 * the schedule it belongs to. 0 or KEEL_E*; on failure s->schedules holds
 * s->count entries to free.
 */
int sched_read_config(scheduler_t *s);

#endif
