/*
 * config.c — the scheduler's config keys and their checks. Every refusal
 * is logged with the schedule it belongs to; an invalid expression with
 * the field and character position sched_parse() found.
 */
#include "last_fired.h"
#include "scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const keel_config_key_t schedule_keys[] = {
    {"name", KEEL_CFG_STRING, NULL,
     "schedule name (letters, digits, '_', '-', '.'; 1-64 chars), in logs and metrics",
     KEEL_CFG_REQUIRED, NULL},
    {"expression", KEEL_CFG_STRING, NULL,
     "rate(5 minutes), cron(min hour day-of-month month day-of-week year) with day-of-week "
     "1-7 = SUN-SAT and one day field '?', or at(yyyy-mm-ddThh:mm:ss)",
     KEEL_CFG_REQUIRED, NULL},
    {"timezone", KEEL_CFG_STRING, "UTC",
     "IANA time zone of cron() and at() (e.g. Europe/Berlin); times in a DST gap are skipped, "
     "a repeated hour fires once",
     0, NULL},
    {"queue", KEEL_CFG_INSTANCE, NULL, "target: instance providing the queue service", 0, NULL},
    {"queue_name", KEEL_CFG_STRING, NULL, "target: the queue of that instance", 0, NULL},
    {"topic", KEEL_CFG_TOPIC, NULL, "target: topic to publish to (instead of a queue)", 0, NULL},
    {"message", KEEL_CFG_STRING, "", "message body", 0, NULL},
    {"attributes", KEEL_CFG_STRING_LIST, NULL,
     "message attributes as key=value (schedule and scheduled_time are added)", 0, NULL},
    {"enabled", KEEL_CFG_BOOL, "true", "false: configured, checked, never fired", 0, NULL},
    {"catch_up", KEEL_CFG_BOOL, "false",
     "fire once at start if firings were missed while keel was down (keeps the last firing "
     "time in <data_dir>/<instance>/last_fired)",
     0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

const keel_config_key_t sched_config_keys[] = {
    {"tick", KEEL_CFG_DURATION, "250ms",
     "how often schedules are compared with the clock (1ms-60s)", 0, NULL},
    {"timezone_dir", KEEL_CFG_STRING, TZ_DEFAULT_DIR, "where TZif time zone files are read from", 0,
     NULL},
    {"schedules", KEEL_CFG_SECTION_LIST, NULL, "the schedules", KEEL_CFG_REQUIRED, schedule_keys},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static bool name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return false;
    return true;
}

static const char *read_string(scheduler_t *s, const char *prefix, const char *key)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s%s", prefix, key);
    const char *value = NULL;
    if (s->host->config_string(s->self, path, &value) != 0)
        return NULL;
    return value;
}

static bool queue_exists(const schedule_t *sc)
{
    const char *names[256];
    size_t n = sc->queue->list_queues(sc->queue_ctx, names, 256);
    for (size_t i = 0; i < n && i < 256; i++)
        if (strcmp(names[i], sc->queue_name) == 0)
            return true;
    return false;
}

static int read_target(scheduler_t *s, schedule_t *sc, const char *prefix, const char *where)
{
    const keel_host_api_t *host = s->host;
    const char *queue = read_string(s, prefix, "queue");
    sc->topic = read_string(s, prefix, "topic");
    sc->queue_name = read_string(s, prefix, "queue_name");
    if ((queue == NULL) == (sc->topic == NULL)) {
        host->log(s->self, KEEL_LOG_ERROR, "%s: set either queue (with queue_name) or topic",
                  where);
        return KEEL_EINVAL;
    }
    if (queue == NULL)
        return 0;
    if (sc->queue_name == NULL || sc->queue_name[0] == '\0') {
        host->log(s->self, KEEL_LOG_ERROR, "%s: queue '%s' needs queue_name", where, queue);
        return KEEL_EINVAL;
    }
    keel_service_t svc;
    /* 1.0: nothing newer is used; any 1.x provider will do. */
    int rc = host->service_lookup(s->self, queue, KEEL_QUEUE_INTERFACE, KEEL_VERSION(1, 0), &svc);
    if (rc != 0) {
        host->log(s->self, KEEL_LOG_ERROR, "%s: instance '%s' has no queue service: %s", where,
                  queue, host->strerror(rc));
        return rc;
    }
    sc->queue = svc.vtable;
    sc->queue_ctx = svc.ctx;
    if (!queue_exists(sc)) {
        host->log(s->self, KEEL_LOG_ERROR, "%s: queue instance '%s' has no queue '%s'", where,
                  queue, sc->queue_name);
        return KEEL_EINVAL;
    }
    return 0;
}

static int read_attributes(scheduler_t *s, schedule_t *sc, const char *prefix, const char *where)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%sattributes", prefix);
    size_t n = 0;
    s->host->config_count(s->self, path, &n);
    if (n > MAX_ATTRS) {
        s->host->log(s->self, KEEL_LOG_ERROR, "%s: at most %d attributes", where, MAX_ATTRS);
        return KEEL_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char item[PATH_BYTES + 24];
        snprintf(item, sizeof item, "%s[%zu]", path, i);
        const char *text = NULL;
        s->host->config_string(s->self, item, &text);
        const char *eq = text ? strchr(text, '=') : NULL;
        size_t key_len = eq ? (size_t)(eq - text) : 0;
        if (key_len == 0 || key_len >= sizeof sc->attr_keys[i] ||
            (key_len == 8 && memcmp(text, "schedule", 8) == 0) ||
            (key_len == 14 && memcmp(text, "scheduled_time", 14) == 0)) {
            s->host->log(s->self, KEEL_LOG_ERROR,
                         "%s: attributes[%zu] '%s': expected key=value with a key of 1-63 "
                         "characters other than schedule and scheduled_time",
                         where, i, text ? text : "");
            return KEEL_EINVAL;
        }
        memcpy(sc->attr_keys[i], text, key_len);
        sc->attr_keys[i][key_len] = '\0';
        sc->attrs[i] = (keel_attr_t){sc->attr_keys[i], eq + 1};
    }
    sc->attr_count = n;
    return 0;
}

static int read_schedule(scheduler_t *s, size_t index, const char *tz_dir)
{
    const keel_host_api_t *host = s->host;
    schedule_t *sc = &s->schedules[index];
    sc->owner = s;
    char prefix[48], where[160], err[300];
    snprintf(prefix, sizeof prefix, "schedules[%zu].", index);
    const char *name = read_string(s, prefix, "name");
    if (name == NULL || !name_ok(name)) {
        host->log(s->self, KEEL_LOG_ERROR,
                  "schedules[%zu]: name '%s' must have 1-64 letters, digits, '_', '-' or '.'",
                  index, name ? name : "");
        return KEEL_EINVAL;
    }
    snprintf(sc->name, sizeof sc->name, "%s", name);
    snprintf(where, sizeof where, "schedules[%zu] '%s'", index, name);
    for (size_t i = 0; i < index; i++) {
        if (strcmp(s->schedules[i].name, name) == 0) {
            host->log(s->self, KEEL_LOG_ERROR, "%s: the name is already used by schedules[%zu]",
                      where, i);
            return KEEL_EINVAL;
        }
    }
    sc->expression = read_string(s, prefix, "expression");
    if (sc->expression == NULL || sched_parse(sc->expression, &sc->expr, err, sizeof err) != 0) {
        host->log(s->self, KEEL_LOG_ERROR, "%s: expression '%s': %s", where,
                  sc->expression ? sc->expression : "", sc->expression ? err : "missing");
        return KEEL_EINVAL;
    }
    const char *zone = read_string(s, prefix, "timezone");
    if (tz_load(tz_dir, zone ? zone : "UTC", &sc->zone, err, sizeof err) != 0) {
        host->log(s->self, KEEL_LOG_ERROR, "%s: %s", where, err);
        return KEEL_EINVAL;
    }
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%senabled", prefix);
    sc->enabled = true;
    host->config_bool(s->self, path, &sc->enabled);
    snprintf(path, sizeof path, "%scatch_up", prefix);
    host->config_bool(s->self, path, &sc->catch_up);
    sc->message = read_string(s, prefix, "message");
    if (sc->message == NULL)
        sc->message = "";
    int rc = read_target(s, sc, prefix, where);
    if (rc == 0)
        rc = read_attributes(s, sc, prefix, where);
    if (rc != 0)
        return rc;
    char labels[MAX_NAME + 16];
    snprintf(labels, sizeof labels, "schedule=\"%s\"", sc->name);
    if ((rc = host->metric_counter(s->self, "keel_scheduler_firings_total",
                                   "times a schedule fired", labels, &sc->m_firings)) < 0 ||
        (rc = host->metric_counter(s->self, "keel_scheduler_failures_total",
                                   "firings whose message could not be sent or published", labels,
                                   &sc->m_failures)) < 0)
        return rc;
    return 0;
}

/* Reads the last firings of the catch_up schedules, if any has it. */
static int load_last_fired(scheduler_t *s)
{
    size_t wanted = 0;
    for (size_t i = 0; i < s->count; i++)
        wanted += s->schedules[i].catch_up;
    if (wanted == 0)
        return 0;
    if (wanted > MAX_CATCH_UP) {
        s->host->log(s->self, KEEL_LOG_ERROR, "catch_up: at most %d schedules may set it",
                     MAX_CATCH_UP);
        return KEEL_EINVAL;
    }
    char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", s->host->data_dir(s->self), s->host->instance_name(s->self));
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        s->host->log(s->self, KEEL_LOG_ERROR, "catch_up: cannot create %s: %s", dir,
                     strerror(errno));
        return KEEL_EIO;
    }
    snprintf(s->state_path, sizeof s->state_path, "%s/last_fired", dir);
    last_fired_t items[MAX_CATCH_UP];
    size_t n = 0;
    int rc = last_fired_load(s->state_path, items, sizeof items / sizeof items[0], &n);
    if (rc != 0) {
        s->host->log(s->self, KEEL_LOG_ERROR, "catch_up: cannot read %s: %s", s->state_path,
                     strerror(-rc));
        return KEEL_EIO;
    }
    for (size_t i = 0; i < s->count; i++) {
        schedule_t *sc = &s->schedules[i];
        for (size_t j = 0; j < n && sc->catch_up; j++) {
            if (strcmp(items[j].name, sc->name) == 0) {
                sc->last_fired_s = items[j].unix_s;
                sc->has_last = true;
            }
        }
    }
    return 0;
}

int sched_read_config(scheduler_t *s)
{
    const keel_host_api_t *host = s->host;
    keel_plugin_t *self = s->self;
    int64_t tick_ms = 250;
    host->config_int(self, "tick", &tick_ms);
    if (tick_ms < 1 || tick_ms > 60000) {
        host->log(self, KEEL_LOG_ERROR, "tick: %lldms is not in 1ms..60s", (long long)tick_ms);
        return KEEL_EINVAL;
    }
    s->tick_ms = (uint64_t)tick_ms;
    const char *tz_dir = TZ_DEFAULT_DIR;
    host->config_string(self, "timezone_dir", &tz_dir);
    size_t count = 0;
    host->config_count(self, "schedules", &count);
    if (count == 0) {
        host->log(self, KEEL_LOG_ERROR, "schedules: the list is empty");
        return KEEL_EINVAL;
    }
    s->schedules = host->calloc(count, sizeof *s->schedules);
    if (s->schedules == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        s->count = i + 1; /* destroy frees what was loaded */
        int rc = read_schedule(s, i, tz_dir);
        if (rc != 0)
            return rc;
    }
    return load_last_fired(s);
}
