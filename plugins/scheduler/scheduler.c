/*
 * scheduler.c — the `scheduler` plugin: EventBridge-style schedules that
 * send a configured message to a queue (durably: counted as sent only once
 * the queue committed it) or publish it to a topic.
 *
 *     - name: ticker
 *       module: scheduler
 *       config:
 *         schedules:
 *           - name: nightly-report
 *             expression: cron(0 2 ? * MON-FRI *)  # 02:00 on weekdays
 *             timezone: Europe/Berlin
 *             queue: q
 *             queue_name: reports
 *             message: '{"report": "daily"}'
 *           - name: heartbeat
 *             expression: rate(5 minutes)
 *             topic: scheduler.heartbeat
 *
 * Expressions (cron.h): rate(N minute[s]|hour[s]|day[s]), cron() with the
 * six EventBridge fields (day-of-week 1-7 = SUN-SAT, one day field `?`),
 * at(yyyy-mm-ddThh:mm:ss). An invalid expression fails init with the field
 * and character position in the log.
 *
 * Semantics, and why:
 *  - A timer ticks every `tick` (250 ms) and compares host->now_ms() with
 *    each schedule's next firing, so an injected clock drives it in tests.
 *  - rate() counts from the moment the plugin started (as an EventBridge
 *    rule counts from its creation); cron() and at() are wall-clock times
 *    of the schedule's `timezone` (UTC by default).
 *  - Daylight saving: a wall-clock time in a spring-forward gap does not
 *    exist and is skipped (no firing that day); a time repeated by a
 *    fall-back fires once, at its first occurrence (as EventBridge
 *    Scheduler does); "once a day" stays once a day.
 *  - Missed firings are not replayed: firings that fell while keel was
 *    down are lost (like EventBridge without a dead-letter queue), and a
 *    tick that finds itself late (process suspended, clock jumped) fires
 *    once for the earliest missed time, then continues from now.
 *  - `catch_up: true` makes a schedule fire once at start (on the first
 *    tick) when at least one firing was missed while keel was down; only
 *    one, for the first missed time. It needs the schedule's last firing,
 *    kept in "<data_dir>/<instance>/last_fired" (rewritten atomically after
 *    each firing of such a schedule); a schedule with no record yet (first
 *    run, or catch_up just turned on) does not catch up.
 *  - Each queue message carries the dedup id "<instance>:<schedule>:<unix
 *    time>", so a firing sent twice within the queue's dedup window (e.g.
 *    a quick restart) is stored once. Messages get the attributes
 *    `schedule` (its name) and `scheduled_time` (ISO 8601 UTC) besides the
 *    configured ones.
 *  - A failed send or publish is logged and counted
 *    (keel_scheduler_failures_total{schedule=...}); it is not retried.
 *  - Time zones come from TZif files (tz.c, the `tzdata` package) read
 *    once at init, never through the process-wide TZ variable.
 *  - Metrics: keel_scheduler_firings_total{schedule=...} and
 *    keel_scheduler_failures_total{schedule=...}; each firing is logged at
 *    debug level.
 *
 * Files: scheduler.c (firing), config.c (config keys and checks), cron.c
 * (expressions, next firing), tz.c (TZif reader), last_fired.c (catch_up
 * state). cron.c and tz.c are pure and unit-tested on their own.
 */
#include "scheduler.h"
#include "last_fired.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

enum { DRAIN_WAIT_S = 30 };

static void format_utc(int64_t unix_s, char out[32])
{
    int64_t y;
    int m, d;
    int64_t days = unix_s / 86400 - (unix_s % 86400 < 0);
    int64_t rest = unix_s - days * 86400;
    tz_civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(rest / 3600),
             (int)(rest / 60 % 60), (int)(rest % 60));
}

static void settled(schedule_t *sc, bool ok, const char *why)
{
    scheduler_t *s = sc->owner;
    if (!ok) {
        s->host->metric_add(sc->m_failures, 1);
        s->host->log(s->self, KEEL_LOG_WARN, "schedule '%s': the message was not delivered: %s",
                     sc->name, why);
    }
    pthread_mutex_lock(&s->lock);
    if (--s->pending == 0)
        pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->lock);
}

static void on_sent(void *arg, const keel_queue_sent_t *results, size_t count)
{
    schedule_t *sc = arg;
    int status = count > 0 ? results[0].status : KEEL_EFAILED;
    settled(sc, status == 0, status == 0 ? NULL : sc->owner->host->strerror(status));
}

static void on_published(void *arg, keel_result_t result, const char *error)
{
    schedule_t *sc = arg;
    settled(sc, result == KEEL_OK, error ? error : "a subscriber did not answer OK");
}

/* Sends or publishes one firing. Timer thread. */
static void fire(scheduler_t *s, schedule_t *sc, int64_t planned_s)
{
    const keel_host_api_t *host = s->host;
    char when[32];
    format_utc(planned_s, when);
    size_t n = sc->attr_count;
    sc->attrs[n] = (keel_attr_t){"schedule", sc->name};
    sc->attrs[n + 1] = (keel_attr_t){"scheduled_time", when};
    host->metric_add(sc->m_firings, 1);
    pthread_mutex_lock(&s->lock);
    s->pending++;
    pthread_mutex_unlock(&s->lock);
    int rc;
    if (sc->queue != NULL) {
        char dedup[128];
        snprintf(dedup, sizeof dedup, "%.40s:%s:%lld", host->instance_name(s->self), sc->name,
                 (long long)planned_s);
        keel_queue_entry_t entry = {dedup, sc->attrs, n + 2, sc->message, strlen(sc->message), 0};
        rc = sc->queue->send(sc->queue_ctx, sc->queue_name, &entry, 1, on_sent, sc);
    } else {
        keel_msg_t msg = {NULL, sc->topic, sc->attrs, n + 2, sc->message, strlen(sc->message)};
        rc = host->publish(s->self, &msg, on_published, sc);
    }
    if (host->log_enabled(s->self, KEEL_LOG_DEBUG))
        host->log(s->self, KEEL_LOG_DEBUG, "schedule '%s' fired for %s -> %s%s%s", sc->name, when,
                  sc->queue ? "queue " : "topic ", sc->queue ? sc->queue_name : sc->topic,
                  rc == 0 ? "" : " (failed)");
    if (rc != 0)
        settled(sc, false, host->strerror(rc));
}

static void log_next(scheduler_t *s, const schedule_t *sc)
{
    if (!sc->has_next) {
        s->host->log(s->self, KEEL_LOG_INFO, "schedule '%s' (%s): no further firings", sc->name,
                     sc->expression);
        return;
    }
    char when[32];
    format_utc(sc->next_s, when);
    s->host->log(s->self, KEEL_LOG_DEBUG, "schedule '%s': next firing at %s", sc->name, when);
}

/* Records the last firing of the catch_up schedules. Timer thread. */
static void save_last_fired(scheduler_t *s)
{
    last_fired_t items[MAX_CATCH_UP];
    size_t n = 0;
    for (size_t i = 0; i < s->count && n < sizeof items / sizeof items[0]; i++) {
        const schedule_t *sc = &s->schedules[i];
        if (!sc->catch_up || !sc->has_last)
            continue;
        snprintf(items[n].name, sizeof items[n].name, "%s", sc->name);
        items[n++].unix_s = sc->last_fired_s;
    }
    int rc = last_fired_save(s->state_path, items, n);
    if (rc != 0)
        s->host->log(s->self, KEEL_LOG_WARN,
                     "cannot write %s: %s (catch_up may miss or repeat "
                     "a firing after a restart)",
                     s->state_path, strerror(-rc));
}

static void on_tick(void *arg)
{
    scheduler_t *s = arg;
    int64_t now_s = (int64_t)(s->host->now_ms(s->self) / 1000);
    for (size_t i = 0; i < s->count; i++) {
        schedule_t *sc = &s->schedules[i];
        if (!sc->enabled || !sc->has_next || now_s < sc->next_s)
            continue;
        fire(s, sc, sc->next_s);
        if (sc->catch_up) {
            sc->last_fired_s = sc->next_s;
            sc->has_last = true;
            save_last_fired(s);
        }
        /* Continue from now: firings missed meanwhile are not replayed. */
        sc->has_next = sched_next(&sc->expr, sc->zone, now_s, &sc->next_s);
        log_next(s, sc);
    }
}

static int scheduler_start(void *ctx)
{
    scheduler_t *s = ctx;
    int64_t now_s = (int64_t)(s->host->now_ms(s->self) / 1000);
    for (size_t i = 0; i < s->count; i++) {
        schedule_t *sc = &s->schedules[i];
        sc->expr.rate_anchor_s = now_s;
        sc->has_next = sc->enabled && sched_next(&sc->expr, sc->zone, now_s, &sc->next_s);
        if (sc->enabled && sc->catch_up && sc->has_last) {
            /* The first firing after the last recorded one: due already? */
            sched_expr_t since_last = sc->expr;
            since_last.rate_anchor_s = sc->last_fired_s;
            int64_t missed;
            if (sched_next(&since_last, sc->zone, sc->last_fired_s, &missed) && missed <= now_s) {
                char when[32];
                format_utc(missed, when);
                s->host->log(s->self, KEEL_LOG_INFO,
                             "schedule '%s': catching up the firing missed at %s", sc->name, when);
                sc->next_s = missed;
                sc->has_next = true;
            }
        }
        if (!sc->enabled)
            s->host->log(s->self, KEEL_LOG_INFO, "schedule '%s' is disabled", sc->name);
        else if (!sc->has_next)
            s->host->log(s->self, KEEL_LOG_WARN,
                         "schedule '%s' (%s): its time has passed; it "
                         "will not fire",
                         sc->name, sc->expression);
        else
            log_next(s, sc);
    }
    return s->host->timer_add(s->self, s->tick_ms, s->tick_ms, on_tick, s, &s->timer);
}

static void scheduler_stop(void *ctx)
{
    scheduler_t *s = ctx;
    s->host->timer_cancel(s->timer);
    s->timer = NULL;
    /* The queue's callbacks point into ctx: wait for them before destroy. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += DRAIN_WAIT_S;
    pthread_mutex_lock(&s->lock);
    while (s->pending > 0 && pthread_cond_timedwait(&s->drained, &s->lock, &deadline) == 0) {
    }
    size_t left = s->pending;
    pthread_mutex_unlock(&s->lock);
    if (left > 0)
        s->host->log(s->self, KEEL_LOG_WARN, "%zu firings still unconfirmed at stop", left);
}

static void scheduler_destroy(void *ctx)
{
    scheduler_t *s = ctx;
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->count; i++)
        tz_free(s->schedules[i].zone);
    s->host->free(s->schedules);
    pthread_cond_destroy(&s->drained);
    pthread_mutex_destroy(&s->lock);
    s->host->free(s);
}

static int scheduler_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    scheduler_t *s = host->calloc(1, sizeof *s);
    if (s == NULL)
        return KEEL_ENOMEM;
    s->self = self;
    s->host = host;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->drained, NULL);
    int rc = sched_read_config(s);
    if (rc != 0) {
        scheduler_destroy(s);
        return rc;
    }
    *ctx = s;
    return 0;
}

KEEL_PLUGIN_DECLARE(.name = "scheduler", .version = "1.0.0",
                    .description = "EventBridge-style schedules (rate, cron, at) that send a "
                                   "message to a queue or topic",
                    .config_keys = sched_config_keys, .init = scheduler_init,
                    .start = scheduler_start, .stop = scheduler_stop, .destroy = scheduler_destroy);
