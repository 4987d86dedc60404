/*
 * test_edge — does one lifecycle edge case, chosen by `mode`, and
 * appends what the host answered to `record` ("<what>=<rc>" lines):
 *   timer_in_init      timer_add() from init()                 (KEEL_ESTATE)
 *   timer_start_fail   arms a timer in start(), then fails start()
 *   cancel_in_destroy  arms a timer with a handle, cancels it in destroy()
 *   publish_in_destroy publishes from destroy()                (KEEL_ESHUTDOWN)
 *   huge_publish       publishes a body whose length wrapped   (KEEL_EINVAL)
 */
#include <fcntl.h>
#include <keel/keel.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct lifecycle {
    const keel_host_api_t *host;
    keel_plugin_t *self;
    const char *mode, *topic, *record;
    keel_timer_t *timer;
} lifecycle_t;

static const keel_config_key_t lifecycle_keys[] = {
    {"mode", KEEL_CFG_STRING, NULL, "the edge case to exercise", KEEL_CFG_REQUIRED, NULL},
    {"topic", KEEL_CFG_TOPIC, "lifecycle.out", "topic it publishes to", 0, NULL},
    {"record", KEEL_CFG_STRING, NULL, "file to append results to", KEEL_CFG_REQUIRED, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static void record(lifecycle_t *l, const char *what, int rc)
{
    int fd = open(l->record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[128];
    int n = snprintf(line, sizeof line, "%s=%d\n", what, rc);
    if (write(fd, line, (size_t)n) != n)
        l->host->log(l->self, KEEL_LOG_ERROR, "cannot write %s", l->record);
    close(fd);
}

static void tick(void *arg)
{
    (void)arg;
}

static bool is(const lifecycle_t *l, const char *mode)
{
    return strcmp(l->mode, mode) == 0;
}

static int lifecycle_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    lifecycle_t *l = host->calloc(1, sizeof *l);
    if (l == NULL)
        return KEEL_ENOMEM;
    *ctx = l;
    l->host = host;
    l->self = self;
    host->config_string(self, "mode", &l->mode);
    host->config_string(self, "topic", &l->topic);
    host->config_string(self, "record", &l->record);
    if (is(l, "timer_in_init"))
        record(l, "timer_add_in_init", host->timer_add(self, 0, 1, tick, l, NULL));
    return 0;
}

static int lifecycle_start(void *ctx)
{
    lifecycle_t *l = ctx;
    if (is(l, "timer_start_fail")) {
        record(l, "timer_add_in_start", l->host->timer_add(l->self, 1, 1, tick, l, &l->timer));
        return KEEL_EFAILED;
    }
    if (is(l, "cancel_in_destroy"))
        record(l, "timer_add_in_start",
               l->host->timer_add(l->self, 1000, 1000, tick, l, &l->timer));
    if (is(l, "huge_publish")) {
        keel_msg_t msg = {.topic = l->topic, .body = "x", .body_len = (size_t)-100};
        record(l, "huge_publish", l->host->publish(l->self, &msg, NULL, NULL));
    }
    return 0;
}

static void lifecycle_destroy(void *ctx)
{
    lifecycle_t *l = ctx;
    if (is(l, "cancel_in_destroy")) {
        l->host->timer_cancel(l->timer);
        record(l, "cancel_in_destroy", 0);
    }
    if (is(l, "publish_in_destroy")) {
        keel_msg_t msg = {.topic = l->topic, .body = "x", .body_len = 1};
        record(l, "publish_in_destroy", l->host->publish(l->self, &msg, NULL, NULL));
    }
    l->host->free(l);
}

KEEL_PLUGIN_DECLARE(.name = "test_edge", .version = "1.0.0",
                    .description = "exercises lifecycle edge cases", .config_keys = lifecycle_keys,
                    .init = lifecycle_init, .start = lifecycle_start, .destroy = lifecycle_destroy);
