/* test_capture — subscribes to the configured topics and answers each
 * message with the configured result, optionally after a delay or
 * asynchronously from another worker. Counts what it handled. */
#include "test_services.h"

#include <keel/keel.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct capture {
    const keel_host_api_t *host;
    keel_plugin_t *self;
    keel_result_t result;
    const char *reason;
    int64_t delay_ms;
    bool async;
    const char *unhealthy;
    atomic_uint_fast64_t handled;
} capture_t;

typedef struct pending {
    capture_t *capture;
    keel_delivery_t *delivery;
} pending_t;

static const keel_config_key_t topic_keys[] = {
    {"topics", KEEL_CFG_STRING_LIST, NULL, "topics to subscribe to", KEEL_CFG_REQUIRED, NULL},
    {"result", KEEL_CFG_STRING, "ok", "ok, retry or fail", 0, NULL},
    {"reason", KEEL_CFG_STRING, "test failure", "reason attached to retry/fail", 0, NULL},
    {"delay", KEEL_CFG_DURATION, "0", "time each message takes", 0, NULL},
    {"async", KEEL_CFG_BOOL, "false", "complete from another worker", 0, NULL},
    {"unhealthy", KEEL_CFG_STRING, NULL, "when set, health() reports this reason", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static uint64_t capture_handled(void *ctx)
{
    return atomic_load(&((capture_t *)ctx)->handled);
}

static const test_capture_api_t capture_api = {sizeof(test_capture_api_t), capture_handled};

static void sleep_ms(int64_t ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

static keel_result_t finish(capture_t *c, keel_delivery_t *d)
{
    if (c->delay_ms > 0)
        sleep_ms(c->delay_ms);
    atomic_fetch_add(&c->handled, 1);
    if (c->result != KEEL_OK)
        c->host->delivery_error(d, c->reason);
    return c->result;
}

static void complete_later(void *arg)
{
    pending_t *p = arg;
    capture_t *c = p->capture;
    c->host->complete(p->delivery, finish(c, p->delivery));
    c->host->free(p);
}

static keel_result_t on_message(void *arg, const keel_msg_t *msg, keel_delivery_t *d)
{
    (void)msg;
    capture_t *c = arg;
    if (!c->async)
        return finish(c, d);
    pending_t *p = c->host->alloc(sizeof *p);
    if (p == NULL)
        return KEEL_RETRY;
    p->capture = c;
    p->delivery = d;
    if (c->host->submit(c->self, complete_later, p) != 0) {
        c->host->free(p);
        return KEEL_RETRY;
    }
    return KEEL_ASYNC;
}

static int capture_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    capture_t *c = host->calloc(1, sizeof *c);
    if (c == NULL)
        return KEEL_ENOMEM;
    *ctx = c;
    c->host = host;
    c->self = self;
    const char *result = "ok";
    host->config_string(self, "result", &result);
    host->config_string(self, "reason", &c->reason);
    host->config_int(self, "delay", &c->delay_ms);
    host->config_bool(self, "async", &c->async);
    if (host->config_string(self, "unhealthy", &c->unhealthy) != 0)
        c->unhealthy = NULL;
    if (strcmp(result, "ok") == 0) {
        c->result = KEEL_OK;
    } else if (strcmp(result, "retry") == 0) {
        c->result = KEEL_RETRY;
    } else if (strcmp(result, "fail") == 0) {
        c->result = KEEL_FAIL;
    } else {
        host->log(self, KEEL_LOG_ERROR, "result must be ok, retry or fail, not '%s'", result);
        return KEEL_EINVAL;
    }
    size_t count = 0;
    host->config_count(self, "topics", &count);
    for (size_t i = 0; i < count; i++) {
        char path[32];
        const char *topic = NULL;
        snprintf(path, sizeof path, "topics[%zu]", i);
        int rc = host->config_string(self, path, &topic);
        if (rc == 0)
            rc = host->subscribe(self, topic, on_message, c);
        if (rc != 0)
            return rc;
    }
    return host->service_provide(self, "capture", KEEL_VERSION(1, 0), &capture_api, c);
}

static int capture_health(void *ctx, char *why, size_t why_len)
{
    capture_t *c = ctx;
    if (c->unhealthy == NULL)
        return 0;
    snprintf(why, why_len, "%s", c->unhealthy);
    return KEEL_EUNAVAIL;
}

static void capture_destroy(void *ctx)
{
    capture_t *c = ctx;
    c->host->log(c->self, KEEL_LOG_INFO, "test_capture: handled=%llu",
                 (unsigned long long)atomic_load(&c->handled));
    c->host->free(c);
}

KEEL_PLUGIN_DECLARE(.name = "test_capture", .version = "1.0.0",
                    .description = "subscribes to topics and answers with a fixed result",
                    .config_keys = topic_keys, .init = capture_init, .destroy = capture_destroy,
                    .health = capture_health);
