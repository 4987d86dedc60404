/*
 * queue_client.h — synchronous wrappers over the asynchronous queue
 * service, for tests: each call waits (with a deadline) for its callback.
 */
#ifndef KEEL_TEST_QUEUE_CLIENT_H
#define KEEL_TEST_QUEUE_CLIENT_H

#include <keel/harness.h>
#include <keel/queue.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct queue_client {
    const keel_queue_api_t *api;
    void *ctx;
} queue_client_t;

typedef struct queue_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    uint64_t affected;
    keel_queue_sent_t sent[KEEL_QUEUE_MAX_BATCH];
} queue_wait_t;

static inline void queue_wait_init(queue_wait_t *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

static inline void queue_wait_signal(queue_wait_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits up to 30 s; false on timeout. */
static inline bool queue_wait_for(queue_wait_t *w)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&w->lock);
    while (!w->done && pthread_cond_timedwait(&w->cond, &w->lock, &deadline) == 0) {
    }
    bool done = w->done;
    pthread_mutex_unlock(&w->lock);
    return done;
}

static inline void queue_sent_cb(void *arg, const keel_queue_sent_t *results, size_t count)
{
    queue_wait_t *w = arg;
    for (size_t i = 0; i < count && i < KEEL_QUEUE_MAX_BATCH; i++)
        w->sent[i] = results[i];
    w->status = count ? results[0].status : 0;
    queue_wait_signal(w);
}

static inline void queue_done_cb(void *arg, int status, uint64_t affected)
{
    queue_wait_t *w = arg;
    w->status = status;
    w->affected = affected;
    queue_wait_signal(w);
}

static inline int queue_client_open(keel_harness_t *h, const char *instance, queue_client_t *out)
{
    keel_service_t svc;
    int rc = keel_harness_service(h, instance, KEEL_QUEUE_INTERFACE, KEEL_QUEUE_VERSION, &svc);
    if (rc == 0) {
        out->api = svc.vtable;
        out->ctx = svc.ctx;
    }
    return rc;
}

/* Sends one text body; returns the entry's status, id in id_out (may be NULL). */
static inline int queue_send_text(queue_client_t *c, const char *queue, const char *body,
                                  char *id_out)
{
    queue_wait_t w;
    queue_wait_init(&w);
    keel_queue_entry_t entry = {.body = body, .body_len = strlen(body)};
    int rc = c->api->send(c->ctx, queue, &entry, 1, queue_sent_cb, &w);
    if (rc != 0)
        return rc;
    if (!queue_wait_for(&w))
        return KEEL_ETIMEDOUT;
    if (id_out)
        snprintf(id_out, KEEL_ID_LEN + 1, "%s", w.sent[0].message_id);
    return w.sent[0].status;
}

static inline int queue_stats_of(queue_client_t *c, const char *queue, keel_queue_stats_t *out)
{
    return c->api->stats(c->ctx, queue, out);
}

#endif
