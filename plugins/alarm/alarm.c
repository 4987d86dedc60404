/*
 * alarm.c — the `alarm` plugin: watches the dead-letter queues of a queue
 * instance (spec §8, "a DLQ alarm"). Each rule reads one queue's stats every
 * `period` on the timer thread (a short synchronous read) and FIRES when the
 * DLQ holds more than `dlq_threshold` messages, continuously for `for`; it
 * clears once the DLQ is back at or under the threshold (purged, redriven
 * or expired). A transition writes one log line (WARN when firing, INFO when
 * clearing), sets the gauge keel_alarm_firing{alarm,queue} to 1 or 0 and,
 * when the rule has a webhook, queues a JSON POST for the sender thread
 * (webhook.c), so the timer thread never waits for the network.
 *
 * The state starts OK at every start: an alarm whose condition still holds
 * after a restart fires again, and its webhook hears about it again.
 */
#include "webhook.h"

#include <inttypes.h>
#include <keel/keel.h>
#include <keel/queue.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { NAME_MAX_LEN = 80, MAX_RULES = 256, MAX_PENDING = 64 };

typedef struct rule {
    struct alarm *alarm;
    char name[NAME_MAX_LEN + 1];
    const char *queue_name;
    int64_t threshold;
    uint64_t period_ms, for_ms;
    const char *webhook; /* NULL: none */
    keel_metric_t *m_firing, *m_dlq_depth;
    keel_timer_t *timer;
    /* Timer thread only, after start. */
    bool firing;
    bool stats_failing;
    uint64_t breach_since_ms; /* 0: not over the threshold */
} rule_t;

typedef struct alarm {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    const keel_queue_api_t *queue;
    void *queue_ctx;
    rule_t *rules;
    size_t rule_count;
    webhook_sender_t *sender; /* NULL when no rule has a webhook */
} alarm_t;

static const keel_config_key_t rule_keys[] = {
    {"name", KEEL_CFG_STRING, NULL,
     "alarm name (letters, digits, '_', '-', '.'; default: <queue_name>_dlq)", 0, NULL},
    {"queue_name", KEEL_CFG_STRING, NULL, "the queue whose DLQ is watched", KEEL_CFG_REQUIRED,
     NULL},
    {"dlq_threshold", KEEL_CFG_INT, NULL,
     "fires when the DLQ holds more than this many messages (>= 0)", KEEL_CFG_REQUIRED, NULL},
    {"period", KEEL_CFG_DURATION, "60s", "how often the DLQ depth is evaluated (100ms..1d)", 0,
     NULL},
    {"for", KEEL_CFG_DURATION, "0",
     "how long the DLQ must stay over the threshold before the alarm fires", 0, NULL},
    {"webhook", KEEL_CFG_STRING, NULL,
     "http(s) URL POSTed a JSON body {alarm, queue, state, dlq_depth, threshold, at} on each "
     "transition",
     0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t alarm_keys[] = {
    {"queue", KEEL_CFG_INSTANCE, NULL, "instance providing the queue service", KEEL_CFG_REQUIRED,
     NULL},
    {"rules", KEEL_CFG_SECTION_LIST, NULL, "the alarms, one per watched DLQ", KEEL_CFG_REQUIRED,
     rule_keys},
    {"webhook_timeout", KEEL_CFG_DURATION, "5s", "limit of one webhook attempt (100ms..60s)", 0,
     NULL},
    {"webhook_attempts", KEEL_CFG_INT, "6", "attempts per notification, the first included (1..20)",
     0, NULL},
    {"webhook_backoff", KEEL_CFG_DURATION, "500ms",
     "wait before the second attempt, doubled after each failure", 0, NULL},
    {"webhook_backoff_max", KEEL_CFG_DURATION, "30s", "longest wait between two attempts", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static bool name_is_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return false;
    return true;
}

/* Writes `ms` since the epoch as RFC 3339 UTC with milliseconds. */
static void format_time(uint64_t ms, char out[32])
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    size_t len = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, 32 - len, ".%03uZ", (unsigned)(ms % 1000));
}

static void notify(rule_t *r, uint64_t dlq_depth, uint64_t now_ms)
{
    alarm_t *a = r->alarm;
    if (r->webhook == NULL || a->sender == NULL)
        return;
    char at[32], json[512];
    format_time(now_ms, at);
    /* Names are restricted to [A-Za-z0-9_.-]: nothing to escape. */
    snprintf(json, sizeof json,
             "{\"alarm\":\"%s\",\"queue\":\"%s\",\"state\":\"%s\",\"dlq_depth\":%" PRIu64
             ",\"threshold\":%" PRId64 ",\"at\":\"%s\",\"instance\":\"%s\"}",
             r->name, r->queue_name, r->firing ? "FIRING" : "OK", dlq_depth, r->threshold, at,
             a->host->instance_name(a->self));
    int rc = webhook_send(a->sender, r->webhook, json);
    if (rc != 0)
        a->host->log(a->self, KEEL_LOG_WARN, "alarm %s: webhook notification not queued: %s",
                     r->name, a->host->strerror(rc));
}

static void transition(rule_t *r, bool firing, uint64_t dlq_depth, uint64_t now_ms)
{
    alarm_t *a = r->alarm;
    r->firing = firing;
    a->host->metric_set(r->m_firing, firing ? 1 : 0);
    if (firing)
        a->host->log(a->self, KEEL_LOG_WARN,
                     "alarm %s FIRING: queue '%s' DLQ holds %" PRIu64
                     " message(s), more than the threshold %" PRId64,
                     r->name, r->queue_name, dlq_depth, r->threshold);
    else
        a->host->log(a->self, KEEL_LOG_INFO,
                     "alarm %s OK: queue '%s' DLQ holds %" PRIu64
                     " message(s), at or under the threshold %" PRId64,
                     r->name, r->queue_name, dlq_depth, r->threshold);
    notify(r, dlq_depth, now_ms);
}

/* Timer callback: one evaluation of one rule. */
static void evaluate(void *arg)
{
    rule_t *r = arg;
    alarm_t *a = r->alarm;
    keel_queue_stats_t stats;
    int rc = a->queue->stats(a->queue_ctx, r->queue_name, &stats);
    if (rc != 0) {
        /* Keep the state: a storage hiccup is no reason to clear or fire. */
        if (!r->stats_failing)
            a->host->log(a->self, KEEL_LOG_WARN, "alarm %s: cannot read queue '%s' stats: %s",
                         r->name, r->queue_name, a->host->strerror(rc));
        r->stats_failing = true;
        return;
    }
    if (r->stats_failing)
        a->host->log(a->self, KEEL_LOG_INFO, "alarm %s: queue '%s' stats readable again", r->name,
                     r->queue_name);
    r->stats_failing = false;
    a->host->metric_set(r->m_dlq_depth, (double)stats.dlq_depth);
    uint64_t now_ms = a->host->now_ms(a->self);
    if (stats.dlq_depth > (uint64_t)r->threshold) {
        if (r->breach_since_ms == 0)
            r->breach_since_ms = now_ms > 0 ? now_ms : 1;
        if (!r->firing && now_ms >= r->breach_since_ms && now_ms - r->breach_since_ms >= r->for_ms)
            transition(r, true, stats.dlq_depth, now_ms);
    } else {
        r->breach_since_ms = 0;
        if (r->firing)
            transition(r, false, stats.dlq_depth, now_ms);
    }
}

static bool read_duration(alarm_t *a, const char *path, uint64_t min_ms, uint64_t max_ms,
                          uint64_t *out)
{
    int64_t value = 0;
    int rc = a->host->config_int(a->self, path, &value);
    if (rc < 0 || value < (int64_t)min_ms || value > (int64_t)max_ms) {
        a->host->log(a->self, KEEL_LOG_ERROR,
                     "%s: must be a duration of %" PRIu64 "ms..%" PRIu64 "ms", path, min_ms,
                     max_ms);
        return false;
    }
    *out = (uint64_t)value;
    return true;
}

static int load_rule(alarm_t *a, size_t index, bool *any_webhook)
{
    rule_t *r = &a->rules[index];
    const keel_host_api_t *host = a->host;
    char path[64];
    r->alarm = a;
    snprintf(path, sizeof path, "rules[%zu].queue_name", index);
    if (host->config_string(a->self, path, &r->queue_name) < 0 || !name_is_valid(r->queue_name)) {
        host->log(a->self, KEEL_LOG_ERROR, "%s: must name a queue", path);
        return KEEL_EINVAL;
    }
    const char *name = NULL;
    snprintf(path, sizeof path, "rules[%zu].name", index);
    if (host->config_string(a->self, path, &name) == 0) {
        if (!name_is_valid(name)) {
            host->log(a->self, KEEL_LOG_ERROR,
                      "%s: '%s' must be 1-%d letters, digits, '_', '-' or '.'", path, name,
                      NAME_MAX_LEN);
            return KEEL_EINVAL;
        }
        snprintf(r->name, sizeof r->name, "%s", name);
    } else if (snprintf(r->name, sizeof r->name, "%s_dlq", r->queue_name) >= (int)sizeof r->name) {
        host->log(a->self, KEEL_LOG_ERROR,
                  "rules[%zu]: the queue name is too long for a default "
                  "alarm name: set 'name'",
                  index);
        return KEEL_EINVAL;
    }
    for (size_t i = 0; i < index; i++) {
        if (strcmp(a->rules[i].name, r->name) == 0) {
            host->log(a->self, KEEL_LOG_ERROR, "rules[%zu]: alarm name '%s' is used twice", index,
                      r->name);
            return KEEL_EINVAL;
        }
    }
    snprintf(path, sizeof path, "rules[%zu].dlq_threshold", index);
    if (host->config_int(a->self, path, &r->threshold) < 0 || r->threshold < 0) {
        host->log(a->self, KEEL_LOG_ERROR, "%s: must be a count >= 0", path);
        return KEEL_EINVAL;
    }
    snprintf(path, sizeof path, "rules[%zu].period", index);
    if (!read_duration(a, path, 100, 86400000, &r->period_ms))
        return KEEL_EINVAL;
    snprintf(path, sizeof path, "rules[%zu].for", index);
    if (!read_duration(a, path, 0, 7 * 86400000ULL, &r->for_ms))
        return KEEL_EINVAL;
    snprintf(path, sizeof path, "rules[%zu].webhook", index);
    if (host->config_string(a->self, path, &r->webhook) == 0) {
        if (strncmp(r->webhook, "http://", 7) != 0 && strncmp(r->webhook, "https://", 8) != 0) {
            host->log(a->self, KEEL_LOG_ERROR, "%s: '%s' is not an http:// or https:// URL", path,
                      r->webhook);
            return KEEL_EINVAL;
        }
        *any_webhook = true;
    } else {
        r->webhook = NULL;
    }
    char labels[2 * NAME_MAX_LEN + 32];
    snprintf(labels, sizeof labels, "alarm=\"%s\",queue=\"%s\"", r->name, r->queue_name);
    int rc;
    if ((rc = host->metric_gauge(a->self, "keel_alarm_firing",
                                 "1 while the alarm fires (DLQ over its threshold), else 0", labels,
                                 &r->m_firing)) < 0 ||
        (rc = host->metric_gauge(a->self, "keel_alarm_dlq_depth",
                                 "DLQ depth at the alarm's last evaluation", labels,
                                 &r->m_dlq_depth)) < 0)
        return rc;
    host->metric_set(r->m_firing, 0);
    return 0;
}

static int load_sender(alarm_t *a)
{
    webhook_options_t options = {.max_pending = MAX_PENDING};
    int64_t attempts = 0;
    if (!read_duration(a, "webhook_timeout", 100, 60000, &options.timeout_ms) ||
        !read_duration(a, "webhook_backoff", 10, 3600000, &options.backoff_ms) ||
        !read_duration(a, "webhook_backoff_max", 10, 3600000, &options.backoff_max_ms))
        return KEEL_EINVAL;
    if (a->host->config_int(a->self, "webhook_attempts", &attempts) < 0 || attempts < 1 ||
        attempts > 20) {
        a->host->log(a->self, KEEL_LOG_ERROR, "webhook_attempts: must be 1..20");
        return KEEL_EINVAL;
    }
    options.attempts = (unsigned)attempts;
    if (options.backoff_max_ms < options.backoff_ms)
        options.backoff_max_ms = options.backoff_ms;
    return webhook_sender_new(a->self, a->host, &options, &a->sender);
}

static void alarm_destroy(void *ctx)
{
    alarm_t *a = ctx;
    if (a == NULL)
        return;
    webhook_sender_free(a->sender);
    a->host->free(a->rules);
    a->host->free(a);
}

static int alarm_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    alarm_t *a = host->calloc(1, sizeof *a);
    if (a == NULL)
        return KEEL_ENOMEM;
    a->self = self;
    a->host = host;
    int rc = KEEL_EINVAL;
    const char *queue = NULL;
    host->config_string(self, "queue", &queue);
    keel_service_t svc;
    /* 1.0: nothing newer is used; any 1.x provider will do. */
    rc = host->service_lookup(self, queue, KEEL_QUEUE_INTERFACE, KEEL_VERSION(1, 0), &svc);
    if (rc != 0) {
        host->log(self, KEEL_LOG_ERROR, "queue: instance '%s' has no queue service: %s", queue,
                  host->strerror(rc));
        goto fail;
    }
    a->queue = svc.vtable;
    a->queue_ctx = svc.ctx;
    size_t count = 0;
    if (host->config_count(self, "rules", &count) < 0 || count == 0 || count > MAX_RULES) {
        host->log(self, KEEL_LOG_ERROR, "rules: must list 1..%d alarms", MAX_RULES);
        rc = KEEL_EINVAL;
        goto fail;
    }
    a->rules = host->calloc(count, sizeof *a->rules);
    if (a->rules == NULL) {
        rc = KEEL_ENOMEM;
        goto fail;
    }
    a->rule_count = count;
    bool any_webhook = false;
    for (size_t i = 0; i < count; i++) {
        if ((rc = load_rule(a, i, &any_webhook)) != 0)
            goto fail;
    }
    if (any_webhook && (rc = load_sender(a)) != 0)
        goto fail;
    *ctx = a;
    return 0;
fail:
    alarm_destroy(a);
    return rc;
}

static int alarm_start(void *ctx)
{
    alarm_t *a = ctx;
    /* The queue instance started before us (we depend on it): a rule naming
     * a queue it does not have is a config error, said now. */
    for (size_t i = 0; i < a->rule_count; i++) {
        keel_queue_stats_t stats;
        int rc = a->queue->stats(a->queue_ctx, a->rules[i].queue_name, &stats);
        if (rc == KEEL_EINVAL) {
            a->host->log(a->self, KEEL_LOG_ERROR, "rules[%zu].queue_name: no queue '%s'", i,
                         a->rules[i].queue_name);
            return KEEL_EINVAL;
        }
    }
    if (a->sender != NULL && webhook_sender_start(a->sender) != 0)
        return KEEL_EFAILED;
    for (size_t i = 0; i < a->rule_count; i++) {
        rule_t *r = &a->rules[i];
        int rc = a->host->timer_add(a->self, 0, r->period_ms, evaluate, r, &r->timer);
        if (rc != 0) {
            a->host->log(a->self, KEEL_LOG_ERROR, "alarm %s: cannot arm its timer: %s", r->name,
                         a->host->strerror(rc));
            return rc;
        }
        a->host->log(a->self, KEEL_LOG_INFO,
                     "alarm %s watches queue '%s': DLQ > %" PRId64 " every %" PRIu64 " ms%s%s",
                     r->name, r->queue_name, r->threshold, r->period_ms,
                     r->webhook ? ", webhook " : "", r->webhook ? r->webhook : "");
    }
    return 0;
}

static void alarm_stop(void *ctx)
{
    alarm_t *a = ctx;
    /* Cancel first, so no evaluation queues a notification after the
     * sender is gone. */
    for (size_t i = 0; i < a->rule_count; i++)
        a->host->timer_cancel(a->rules[i].timer);
    webhook_sender_stop(a->sender);
}

KEEL_PLUGIN_DECLARE(.name = "alarm", .version = "1.0.0",
                    .description = "DLQ alarms: a log line, a gauge and an optional webhook when a "
                                   "dead-letter queue holds more than a threshold",
                    .config_keys = alarm_keys, .init = alarm_init, .start = alarm_start,
                    .stop = alarm_stop, .destroy = alarm_destroy);
