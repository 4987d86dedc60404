/*
 * test_step — a pipeline step for tests. Per message, by body: FAIL the
 * bodies in `fail_on`, RETRY those in `retry_on`, abort() the process on
 * `abort_on` (a poison message), OK the rest. `mode` misbehaves on purpose:
 * "error" returns an error for the whole batch, "garbage" leaves the last
 * message without a result, "hang" sleeps past any timeout, "async"
 * completes from another worker. `record` appends "<id> <receive count>
 * <body>" for every message it sees ("attempt") and every OK ("ok"), with
 * one write(2) each, so a kill -9 loses nothing already written;
 * `record_attr` adds "attr <id> <receive count> <key>=<value>" per OK.
 * Attributes: `set_attr` ("key=value", in order) on every OK message;
 * `fail_attr` ("key=value") FAILs the messages carrying it, only while the
 * file `fail_while` exists when that is set (a poison that can be cured).
 * `stall_while` (a path) stalls each batch while that file exists, for at
 * most `stall_max` (a stall switched on and off from outside, for chaos).
 */
#include "test_services.h"

#include <fcntl.h>
#include <keel/keel.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef enum { MODE_NORMAL, MODE_ERROR, MODE_GARBAGE, MODE_HANG, MODE_ASYNC } step_mode_t;

typedef struct step {
    const keel_host_api_t *host;
    keel_plugin_t *self;
    step_mode_t mode;
    const char *abort_on;
    const char *tag;
    const char *record_attr, *fail_attr, *fail_while, *stall_while, *retry_attr;
    int64_t delay_ms, hang_ms, stall_max_ms;
    int record_fd;
    atomic_uint_fast64_t handled;
} step_t;

static const keel_config_key_t step_keys[] = {
    {"fail_on", KEEL_CFG_STRING_LIST, NULL, "bodies answered FAIL", 0, NULL},
    {"retry_on", KEEL_CFG_STRING_LIST, NULL, "bodies answered RETRY", 0, NULL},
    {"abort_on", KEEL_CFG_STRING, NULL, "a body that makes the step abort()", 0, NULL},
    {"mode", KEEL_CFG_STRING, "normal", "normal, error, garbage, hang or async", 0, NULL},
    {"hang_for", KEEL_CFG_DURATION, "60s", "how long mode hang sleeps", 0, NULL},
    {"delay", KEEL_CFG_DURATION, "0", "time each batch takes", 0, NULL},
    {"tag", KEEL_CFG_STRING, NULL, "appended to each OK body for the next steps", 0, NULL},
    {"record", KEEL_CFG_STRING, NULL, "file to append attempts and OKs to", 0, NULL},
    {"record_attr", KEEL_CFG_STRING, NULL, "attribute recorded for every OK", 0, NULL},
    {"set_attr", KEEL_CFG_STRING_LIST, NULL, "key=value attributes set on every OK", 0, NULL},
    {"fail_attr", KEEL_CFG_STRING, NULL, "key=value: FAIL the messages carrying it", 0, NULL},
    {"fail_while", KEEL_CFG_STRING, NULL, "fail_attr applies only while this file exists", 0, NULL},
    {"retry_attr", KEEL_CFG_STRING, NULL, "key=value: RETRY the messages carrying it", 0, NULL},
    {"stall_while", KEEL_CFG_STRING, NULL, "each batch waits while this file exists", 0, NULL},
    {"stall_max", KEEL_CFG_DURATION, "20s", "the longest stall_while wait of a batch", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static uint64_t step_handled(void *ctx)
{
    return atomic_load(&((step_t *)ctx)->handled);
}

static const test_capture_api_t step_api = {sizeof(test_capture_api_t), step_handled};

static void sleep_ms(int64_t ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

static bool body_is(const keel_msg_t *msg, const char *text)
{
    return text && msg->body_len == strlen(text) && memcmp(msg->body, text, msg->body_len) == 0;
}

static bool body_in_list(step_t *s, const char *key, const keel_msg_t *msg)
{
    size_t count = 0;
    s->host->config_count(s->self, key, &count);
    for (size_t i = 0; i < count; i++) {
        char path[48];
        const char *text = NULL;
        snprintf(path, sizeof path, "%s[%zu]", key, i);
        if (s->host->config_string(s->self, path, &text) == 0 && body_is(msg, text))
            return true;
    }
    return false;
}

static void record(step_t *s, const char *what, const keel_msg_t *msg, uint32_t receives)
{
    if (s->record_fd < 0)
        return;
    char line[512];
    int n = snprintf(line, sizeof line, "%s %s %u %.*s\n", what, msg->id, receives,
                     (int)(msg->body_len < 300 ? msg->body_len : 300), (const char *)msg->body);
    if (n > 0 && write(s->record_fd, line, (size_t)n) != n)
        s->host->log(s->self, KEEL_LOG_ERROR, "cannot write the record file");
}

static const char *attr_of(const keel_msg_t *msg, const char *key, size_t key_len)
{
    for (size_t i = 0; i < msg->attr_count; i++)
        if (strlen(msg->attrs[i].key) == key_len && memcmp(msg->attrs[i].key, key, key_len) == 0)
            return msg->attrs[i].value;
    return NULL;
}

/* The message carries the attribute "key=value" of spec (NULL: no). */
static bool carries(const keel_msg_t *msg, const char *spec)
{
    const char *eq = spec ? strchr(spec, '=') : NULL;
    const char *value = eq ? attr_of(msg, spec, (size_t)(eq - spec)) : NULL;
    return value && strcmp(value, eq + 1) == 0;
}

static bool poisoned(step_t *s, const keel_msg_t *msg)
{
    struct stat st;
    if (s->fail_attr == NULL || (s->fail_while && stat(s->fail_while, &st) != 0))
        return false;
    return carries(msg, s->fail_attr);
}

static void record_attr(step_t *s, const keel_msg_t *msg, uint32_t receives)
{
    if (s->record_fd < 0 || s->record_attr == NULL)
        return;
    const char *value = attr_of(msg, s->record_attr, strlen(s->record_attr));
    char line[512];
    int n = snprintf(line, sizeof line, "attr %s %u %s=%s\n", msg->id, receives, s->record_attr,
                     value ? value : "(none)");
    if (n > 0 && write(s->record_fd, line, (size_t)n) != n)
        s->host->log(s->self, KEEL_LOG_ERROR, "cannot write the record file");
}

static void set_attrs(step_t *s, keel_batch_t *batch, size_t index)
{
    size_t count = 0;
    s->host->config_count(s->self, "set_attr", &count);
    for (size_t i = 0; i < count; i++) {
        char path[48], key[64];
        const char *pair = NULL;
        snprintf(path, sizeof path, "set_attr[%zu]", i);
        if (s->host->config_string(s->self, path, &pair) != 0 || strchr(pair, '=') == NULL)
            continue;
        snprintf(key, sizeof key, "%.*s", (int)(strchr(pair, '=') - pair), pair);
        s->host->batch_set_attr(batch, index, key, strchr(pair, '=') + 1);
    }
}

static void process(step_t *s, keel_batch_t *batch)
{
    const keel_host_api_t *host = s->host;
    size_t count = host->batch_count(batch);
    for (size_t i = 0; i < count; i++) {
        const keel_msg_t *msg = host->batch_message(batch, i);
        uint32_t receives = host->batch_receive_count(batch, i);
        record(s, "attempt", msg, receives);
        if (body_is(msg, s->abort_on)) {
            host->log(s->self, KEEL_LOG_WARN, "poison message %s (receive %u): aborting", msg->id,
                      receives);
            abort();
        }
        atomic_fetch_add(&s->handled, 1);
        if (s->mode == MODE_GARBAGE && i + 1 == count)
            break; /* the last message gets no result */
        if (body_in_list(s, "fail_on", msg)) {
            host->batch_result(batch, i, KEEL_FAIL, "test_step: body is in fail_on");
        } else if (poisoned(s, msg)) {
            host->batch_result(batch, i, KEEL_FAIL, "test_step: the message carries fail_attr");
        } else if (body_in_list(s, "retry_on", msg)) {
            host->batch_result(batch, i, KEEL_RETRY, "test_step: body is in retry_on");
        } else if (carries(msg, s->retry_attr)) {
            host->batch_result(batch, i, KEEL_RETRY, "test_step: the message carries retry_attr");
        } else {
            record(s, "ok", msg, receives);
            record_attr(s, msg, receives);
            set_attrs(s, batch, i);
            if (s->tag) {
                char body[600];
                int n = snprintf(body, sizeof body, "%.*s%s",
                                 (int)(msg->body_len < 500 ? msg->body_len : 500),
                                 (const char *)msg->body, s->tag);
                host->batch_set_body(batch, i, body, (size_t)n);
            }
            host->batch_result(batch, i, KEEL_OK, NULL);
        }
    }
}

typedef struct later {
    step_t *step;
    keel_batch_t *batch;
} later_t;

static void process_later(void *arg)
{
    later_t *l = arg;
    process(l->step, l->batch);
    l->step->host->batch_complete(l->batch);
    l->step->host->free(l);
}

/* Waits in 10 ms steps while the stall_while file exists, up to stall_max. */
static void stall(step_t *s)
{
    struct stat st;
    int64_t waited = 0;
    while (s->stall_while && waited < s->stall_max_ms && stat(s->stall_while, &st) == 0) {
        sleep_ms(10);
        waited += 10;
    }
}

static int on_batch(void *ctx, keel_batch_t *batch)
{
    step_t *s = ctx;
    if (s->delay_ms > 0)
        sleep_ms(s->delay_ms);
    stall(s);
    switch (s->mode) {
    case MODE_ERROR:
        return KEEL_EFAILED;
    case MODE_HANG:
        sleep_ms(s->hang_ms);
        process(s, batch);
        return KEEL_OK;
    case MODE_ASYNC: {
        later_t *l = s->host->alloc(sizeof *l);
        if (l == NULL)
            return KEEL_ENOMEM;
        *l = (later_t){s, batch};
        if (s->host->submit(s->self, process_later, l) != 0) {
            s->host->free(l);
            return KEEL_ESHUTDOWN;
        }
        return KEEL_ASYNC;
    }
    default:
        process(s, batch);
        return KEEL_OK;
    }
}

static int step_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    step_t *s = host->calloc(1, sizeof *s);
    if (s == NULL)
        return KEEL_ENOMEM;
    *ctx = s;
    s->host = host;
    s->self = self;
    s->record_fd = -1;
    const char *mode = "normal", *path = NULL;
    host->config_string(self, "mode", &mode);
    if (host->config_string(self, "abort_on", &s->abort_on) != 0)
        s->abort_on = NULL;
    if (host->config_string(self, "tag", &s->tag) != 0)
        s->tag = NULL;
    if (host->config_string(self, "record_attr", &s->record_attr) != 0)
        s->record_attr = NULL;
    if (host->config_string(self, "fail_attr", &s->fail_attr) != 0)
        s->fail_attr = NULL;
    if (host->config_string(self, "retry_attr", &s->retry_attr) != 0)
        s->retry_attr = NULL;
    if (host->config_string(self, "fail_while", &s->fail_while) != 0)
        s->fail_while = NULL;
    if (host->config_string(self, "stall_while", &s->stall_while) != 0)
        s->stall_while = NULL;
    host->config_int(self, "stall_max", &s->stall_max_ms);
    host->config_int(self, "delay", &s->delay_ms);
    host->config_int(self, "hang_for", &s->hang_ms);
    static const char *const modes[] = {"normal", "error", "garbage", "hang", "async"};
    bool known = false;
    for (int m = 0; m < 5; m++) {
        if (strcmp(mode, modes[m]) == 0) {
            s->mode = (step_mode_t)m;
            known = true;
        }
    }
    if (!known) {
        host->log(self, KEEL_LOG_ERROR, "unknown mode '%s'", mode);
        return KEEL_EINVAL;
    }
    if (host->config_string(self, "record", &path) == 0) {
        s->record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->record_fd < 0) {
            host->log(self, KEEL_LOG_ERROR, "cannot open %s", path);
            return KEEL_EIO;
        }
    }
    return host->service_provide(self, "capture", KEEL_VERSION(1, 0), &step_api, s);
}

static void step_destroy(void *ctx)
{
    step_t *s = ctx;
    if (s->record_fd >= 0)
        close(s->record_fd);
    s->host->free(s);
}

KEEL_PLUGIN_DECLARE(.name = "test_step", .version = "1.0.0",
                    .description = "a pipeline step that misbehaves on request",
                    .config_keys = step_keys, .init = step_init, .destroy = step_destroy,
                    .step = on_batch);
