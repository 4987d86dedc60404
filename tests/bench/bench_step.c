/*
 * bench_step — the trivial plugin of the pipeline benchmark. As a source it
 * publishes `count` msgpack messages from its own thread; as a step it
 * decodes each message, bumps its hop count, re-encodes it and publishes
 * it to `output`, or, as the last step, counts it.
 */
#include "bench_work.h"

#include <keel/keel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

typedef struct bench_api {
    uint32_t struct_size;
    uint64_t (*finished)(void *ctx);
} bench_api_t;

typedef struct step {
    const keel_host_api_t *host;
    keel_plugin_t *self;
    const char *output; /* NULL for the last step */
    int64_t count, inflight;
    bool is_source;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_uint_fast64_t published, released, finished;
    /* The source sleeps while its window is full; released() wakes it
     * once half the window drained. */
    pthread_mutex_t lock;
    pthread_cond_t window;
    atomic_bool waiting;
} step_t;

static const keel_config_key_t step_keys[] = {
    {"role", KEEL_CFG_STRING, "step", "source or step", 0, NULL},
    {"input", KEEL_CFG_STRING, NULL, "topic to consume (steps)", 0, NULL},
    {"output", KEEL_CFG_TOPIC, NULL, "topic to publish to; absent for the last step", 0, NULL},
    {"count", KEEL_CFG_INT, "1000000", "messages a source publishes", 0, NULL},
    {"inflight", KEEL_CFG_INT, "8192", "most messages a source keeps in flight", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static uint64_t step_finished(void *ctx)
{
    return atomic_load(&((step_t *)ctx)->finished);
}

static const bench_api_t bench_api = {sizeof(bench_api_t), step_finished};

static void released(void *arg, keel_result_t result, const char *error)
{
    (void)result, (void)error;
    step_t *s = arg;
    uint64_t done = atomic_fetch_add(&s->released, 1) + 1;
    if (atomic_load_explicit(&s->waiting, memory_order_relaxed) &&
        (int64_t)(atomic_load(&s->published) - done) <= s->inflight / 2) {
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->waiting, false);
        pthread_cond_signal(&s->window);
        pthread_mutex_unlock(&s->lock);
    }
}

static bool window_full(step_t *s)
{
    return (int64_t)(atomic_load(&s->published) - atomic_load(&s->released)) >= s->inflight;
}

static void *source_main(void *arg)
{
    step_t *s = arg;
    bench_buffer_t buf = {0};
    for (int64_t i = 0; i < s->count && !atomic_load(&s->stop); i++) {
        if (window_full(s)) {
            pthread_mutex_lock(&s->lock);
            atomic_store(&s->waiting, true);
            while (window_full(s) && !atomic_load(&s->stop)) {
                struct timespec soon;
                clock_gettime(CLOCK_REALTIME, &soon);
                soon.tv_nsec += 1000000; /* re-check: a wake-up may race */
                if (soon.tv_nsec >= 1000000000L) {
                    soon.tv_sec++;
                    soon.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&s->window, &s->lock, &soon);
            }
            atomic_store(&s->waiting, false);
            pthread_mutex_unlock(&s->lock);
            if (atomic_load(&s->stop))
                break;
        }
        bench_make_message(&buf, (uint64_t)i);
        keel_msg_t msg = {.topic = s->output, .body = buf.data, .body_len = buf.len};
        if (s->host->publish(s->self, &msg, released, s) != 0)
            break;
        atomic_fetch_add(&s->published, 1);
    }
    bench_buffer_free(&buf);
    return NULL;
}

static keel_result_t on_message(void *arg, const keel_msg_t *msg, keel_delivery_t *d)
{
    (void)d;
    step_t *s = arg;
    char storage[512];
    bench_buffer_t step_buffer = {storage, 0, sizeof storage, 1};
    if (bench_step_message(msg->body, msg->body_len, &step_buffer) != 0)
        return KEEL_FAIL;
    if (s->output == NULL) {
        atomic_fetch_add_explicit(&s->finished, 1, memory_order_relaxed);
        return KEEL_OK;
    }
    keel_msg_t next = {.topic = s->output, .body = step_buffer.data, .body_len = step_buffer.len};
    return s->host->publish(s->self, &next, NULL, NULL) == 0 ? KEEL_OK : KEEL_RETRY;
}

static int step_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    step_t *s = host->calloc(1, sizeof *s);
    if (s == NULL)
        return KEEL_ENOMEM;
    *ctx = s;
    s->host = host;
    s->self = self;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->window, NULL);
    const char *role = "step", *input = NULL;
    host->config_string(self, "role", &role);
    if (host->config_string(self, "output", &s->output) != 0)
        s->output = NULL;
    host->config_int(self, "count", &s->count);
    host->config_int(self, "inflight", &s->inflight);
    s->is_source = role[0] == 's' && role[1] == 'o';
    if (!s->is_source) {
        if (host->config_string(self, "input", &input) != 0)
            return KEEL_EINVAL;
        int rc = host->subscribe(self, input, on_message, s);
        if (rc != 0)
            return rc;
    }
    return host->service_provide(self, "bench", KEEL_VERSION(1, 0), &bench_api, s);
}

static int step_start(void *ctx)
{
    step_t *s = ctx;
    if (!s->is_source)
        return 0;
    if (pthread_create(&s->thread, NULL, source_main, s) != 0)
        return KEEL_ENOMEM;
    s->running = true;
    return 0;
}

static void step_stop(void *ctx)
{
    step_t *s = ctx;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, true);
    pthread_cond_signal(&s->window);
    pthread_mutex_unlock(&s->lock);
    if (s->running)
        pthread_join(s->thread, NULL);
    s->running = false;
}

static void step_destroy(void *ctx)
{
    step_t *s = ctx;
    s->host->free(s);
}

KEEL_PLUGIN_DECLARE(.name = "bench_step", .version = "1.0.0",
                    .description = "msgpack decode/bump/encode step for the pipeline benchmark",
                    .config_keys = step_keys, .init = step_init, .start = step_start,
                    .stop = step_stop, .destroy = step_destroy);
