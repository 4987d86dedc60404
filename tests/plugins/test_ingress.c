/* test_ingress — publishes messages to a topic from a thread of its own,
 * like a network ingress would, keeping a bounded number in flight. On
 * destroy it logs how many it published and how many completed, so tests
 * can prove that a shutdown lost nothing. */
#include <keel/keel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

typedef struct ingress {
    const keel_host_api_t *host;
    keel_plugin_t *self;
    const char *topic;
    const char *body;
    int64_t count;    /* 0: until stopped */
    int64_t inflight; /* most messages outstanding at once */
    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_uint_fast64_t published, completed, ok, retry, fail;
    pthread_mutex_t lock;
    pthread_cond_t slot_free;
} ingress_t;

static const keel_config_key_t ingress_keys[] = {
    {"topic", KEEL_CFG_TOPIC, NULL, "topic to publish to", KEEL_CFG_REQUIRED, NULL},
    {"count", KEEL_CFG_INT, "0", "messages to publish; 0 = until stopped", 0, NULL},
    {"inflight", KEEL_CFG_INT, "256", "most messages outstanding at once", 0, NULL},
    {"body", KEEL_CFG_STRING, "hello", "body of each message", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static void on_done(void *arg, keel_result_t result, const char *error)
{
    (void)error;
    ingress_t *in = arg;
    atomic_fetch_add(result == KEEL_OK      ? &in->ok
                     : result == KEEL_RETRY ? &in->retry
                                            : &in->fail,
                     1);
    pthread_mutex_lock(&in->lock);
    atomic_fetch_add(&in->completed, 1);
    pthread_cond_signal(&in->slot_free);
    pthread_mutex_unlock(&in->lock);
}

static void *produce(void *arg)
{
    ingress_t *in = arg;
    keel_msg_t msg = {.topic = in->topic, .body = in->body, .body_len = strlen(in->body)};
    while (!atomic_load(&in->stop) && (in->count == 0 || (int64_t)in->published < in->count)) {
        pthread_mutex_lock(&in->lock);
        while ((int64_t)(in->published - in->completed) >= in->inflight && !atomic_load(&in->stop))
            pthread_cond_wait(&in->slot_free, &in->lock);
        pthread_mutex_unlock(&in->lock);
        if (atomic_load(&in->stop))
            break;
        int rc = in->host->publish(in->self, &msg, on_done, in);
        if (rc != 0) {
            in->host->log(in->self, KEEL_LOG_ERROR, "publish failed: %s", in->host->strerror(rc));
            break;
        }
        uint64_t published = atomic_fetch_add(&in->published, 1) + 1;
        if (published % 1000 == 0)
            in->host->log(in->self, KEEL_LOG_INFO, "test_ingress: progress published=%llu",
                          (unsigned long long)published);
    }
    return NULL;
}

static int ingress_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    ingress_t *in = host->calloc(1, sizeof *in);
    if (in == NULL)
        return KEEL_ENOMEM;
    in->host = host;
    in->self = self;
    host->config_string(self, "topic", &in->topic);
    host->config_string(self, "body", &in->body);
    host->config_int(self, "count", &in->count);
    host->config_int(self, "inflight", &in->inflight);
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->slot_free, NULL);
    *ctx = in;
    return 0;
}

static int ingress_start(void *ctx)
{
    ingress_t *in = ctx;
    if (pthread_create(&in->thread, NULL, produce, in) != 0)
        return KEEL_ENOMEM;
    in->running = true;
    in->host->log(in->self, KEEL_LOG_INFO, "test_ingress: producing to '%s'", in->topic);
    return 0;
}

static void ingress_stop(void *ctx)
{
    ingress_t *in = ctx;
    pthread_mutex_lock(&in->lock);
    atomic_store(&in->stop, true);
    pthread_cond_broadcast(&in->slot_free);
    pthread_mutex_unlock(&in->lock);
    if (in->running)
        pthread_join(in->thread, NULL);
    in->running = false;
}

static void ingress_destroy(void *ctx)
{
    ingress_t *in = ctx;
    unsigned long long published = atomic_load(&in->published);
    unsigned long long completed = atomic_load(&in->completed);
    in->host->log(in->self, published == completed ? KEEL_LOG_INFO : KEEL_LOG_ERROR,
                  "test_ingress: published=%llu completed=%llu ok=%llu retry=%llu fail=%llu%s",
                  published, completed, (unsigned long long)atomic_load(&in->ok),
                  (unsigned long long)atomic_load(&in->retry),
                  (unsigned long long)atomic_load(&in->fail),
                  published == completed ? "" : " LOST");
    pthread_cond_destroy(&in->slot_free);
    pthread_mutex_destroy(&in->lock);
    in->host->free(in);
}

KEEL_PLUGIN_DECLARE(.name = "test_ingress", .version = "1.0.0",
                    .description = "publishes messages from its own thread",
                    .config_keys = ingress_keys, .init = ingress_init, .start = ingress_start,
                    .stop = ingress_stop, .destroy = ingress_destroy);
