/*
 * queue_test_util.h — drives a queue_lmdb instance through the harness:
 * open/restart on a data directory, and synchronous wrappers around the
 * asynchronous queue calls (each waits for its callback with a deadline).
 */
#ifndef QUEUE_TEST_UTIL_H
#define QUEUE_TEST_UTIL_H

#include "../../plugins/queue_lmdb/debug.h"

#include <ftw.h>
#include <keel/harness.h>
#include <keel/queue.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define QT_T0       UINT64_C(1700000000000) /* an injected wall clock */
#define QT_WAIT_MS  30000
#define QT_INSTANCE "q"

/* The queue the tests use, and the config most of them open: it with a
 * 30 s visibility timeout, a second queue, and a quick sweep. */
#define Q "jobs"
#define QT_BASIC_CONFIG                                                                            \
    "sweep_interval: 20ms\n"                                                                       \
    "queues:\n"                                                                                    \
    "  - name: jobs\n"                                                                             \
    "    visibility_timeout: 30s\n"                                                                \
    "  - name: other\n"

typedef struct qt {
    keel_harness_t *h;
    const keel_queue_api_t *api;
    void *ctx;
    const queue_lmdb_debug_api_t *debug;
    void *debug_ctx;
    char dir[256];
} qt_t;

static inline uint64_t qt_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static inline void qt_pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&t, NULL);
}

static inline void qt_make_dir(qt_t *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/keel-qtest-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

static inline int qt_remove_entry(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void qt_remove_dir(const char *dir)
{
    nftw(dir, qt_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts a harness on t->dir with one queue_lmdb instance. Returns the
 * harness start status (the services are looked up when it is 0). */
static inline int qt_start(qt_t *t, const char *config_yaml, uint64_t clock_ms)
{
    char plugin[512];
    snprintf(plugin, sizeof plugin, "%s/queue_lmdb.so", KEEL_BUILTIN_PLUGIN_DIR);
    t->h = keel_harness_new(t->dir);
    assert_non_null(t->h);
    if (clock_ms)
        keel_harness_set_time(t->h, clock_ms);
    assert_int_equal(keel_harness_add(t->h, QT_INSTANCE, plugin, config_yaml), 0);
    int rc = keel_harness_start(t->h);
    if (rc != 0)
        return rc;
    keel_service_t svc;
    assert_int_equal(
        keel_harness_service(t->h, QT_INSTANCE, KEEL_QUEUE_INTERFACE, KEEL_QUEUE_VERSION, &svc), 0);
    t->api = svc.vtable;
    t->ctx = svc.ctx;
    assert_int_equal(keel_harness_service(t->h, QT_INSTANCE, QUEUE_LMDB_DEBUG_INTERFACE,
                                          QUEUE_LMDB_DEBUG_VERSION, &svc),
                     0);
    t->debug = svc.vtable;
    t->debug_ctx = svc.ctx;
    return 0;
}

static inline void qt_open(qt_t *t, const char *config_yaml, uint64_t clock_ms)
{
    qt_make_dir(t);
    assert_int_equal(qt_start(t, config_yaml, clock_ms), 0);
}

/* Stops the instance (flushing) and frees the harness; keeps the data. */
static inline void qt_stop(qt_t *t)
{
    keel_harness_free(t->h);
    t->h = NULL;
}

static inline void qt_close(qt_t *t)
{
    qt_stop(t);
    qt_remove_dir(t->dir);
}

static inline void qt_set_time(qt_t *t, uint64_t now_ms)
{
    keel_harness_set_time(t->h, now_ms);
}

/* ---- one asynchronous call and its outcome ---- */

typedef struct qt_call {
    atomic_int done;
    int status;
    size_t count;
    keel_queue_sent_t sent[KEEL_QUEUE_MAX_BATCH];
    int statuses[KEEL_QUEUE_MAX_BATCH];
    keel_queue_batch_t *batch;
    uint64_t affected;
} qt_call_t;

static inline void qt_on_sent(void *arg, const keel_queue_sent_t *results, size_t count)
{
    qt_call_t *c = arg;
    c->count = count;
    memcpy(c->sent, results, count * sizeof *results);
    atomic_store(&c->done, 1);
}

static inline void qt_on_received(void *arg, int status, keel_queue_batch_t *batch)
{
    qt_call_t *c = arg;
    c->status = status;
    c->batch = batch;
    atomic_store(&c->done, 1);
}

static inline void qt_on_settled(void *arg, int status, const int *statuses, size_t count)
{
    qt_call_t *c = arg;
    c->status = status;
    c->count = count;
    memcpy(c->statuses, statuses, count * sizeof *statuses);
    atomic_store(&c->done, 1);
}

static inline void qt_on_done(void *arg, int status, uint64_t affected)
{
    qt_call_t *c = arg;
    c->status = status;
    c->affected = affected;
    atomic_store(&c->done, 1);
}

/* Waits for the callback; false when the deadline passed. */
static inline bool qt_wait(qt_call_t *c, uint64_t timeout_ms)
{
    uint64_t deadline = qt_mono_ms() + timeout_ms;
    while (!atomic_load(&c->done)) {
        if (qt_mono_ms() > deadline)
            return false;
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
    }
    return true;
}

/* ---- synchronous wrappers ---- */

static inline keel_queue_sent_t qt_send_entry(qt_t *t, const char *queue,
                                              const keel_queue_entry_t *e)
{
    qt_call_t c = {0};
    assert_int_equal(t->api->send(t->ctx, queue, e, 1, qt_on_sent, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    return c.sent[0];
}

/* Sends a text body; asserts it was stored and returns the result. */
static inline keel_queue_sent_t qt_send(qt_t *t, const char *queue, const char *body)
{
    keel_queue_entry_t e = {.body = body, .body_len = strlen(body)};
    keel_queue_sent_t r = qt_send_entry(t, queue, &e);
    assert_int_equal(r.status, 0);
    return r;
}

static inline keel_queue_batch_t *qt_receive_wait(qt_t *t, const char *queue, size_t max,
                                                  uint32_t visibility_s, uint32_t wait_ms)
{
    qt_call_t c = {0};
    assert_int_equal(t->api->receive(t->ctx, queue, max, visibility_s, wait_ms, qt_on_received, &c),
                     0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, 0);
    assert_non_null(c.batch);
    return c.batch;
}

static inline keel_queue_batch_t *qt_receive(qt_t *t, const char *queue, size_t max)
{
    return qt_receive_wait(t, queue, max, 0, 0);
}

/* Receives one message, asserting there is exactly one to take. Copies
 * its receipt into `receipt` (may be NULL) and returns the batch. */
static inline keel_queue_batch_t *qt_receive_one(qt_t *t, const char *queue, char *receipt)
{
    keel_queue_batch_t *b = qt_receive(t, queue, 1);
    assert_int_equal(b->count, 1);
    if (receipt)
        strcpy(receipt, b->messages[0].receipt);
    return b;
}

static inline size_t qt_receive_count(qt_t *t, const char *queue)
{
    keel_queue_batch_t *b = qt_receive(t, queue, KEEL_QUEUE_MAX_BATCH);
    size_t n = b->count;
    t->api->batch_free(t->ctx, b);
    return n;
}

static inline int qt_settle(qt_t *t, const char *queue, const char *receipt, keel_result_t result,
                            const char *error, const char *step)
{
    keel_queue_settle_t item = {receipt, result, error, step};
    qt_call_t c = {0};
    assert_int_equal(t->api->settle(t->ctx, queue, &item, 1, qt_on_settled, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, 0);
    return c.statuses[0];
}

static inline int qt_change_visibility(qt_t *t, const char *queue, const char *receipt,
                                       uint32_t timeout_s)
{
    qt_call_t c = {0};
    assert_int_equal(t->api->change_visibility(t->ctx, queue, receipt, timeout_s, qt_on_done, &c),
                     0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    return c.status;
}

static inline uint64_t qt_purge(qt_t *t, const char *queue, bool dlq)
{
    qt_call_t c = {0};
    assert_int_equal(t->api->purge(t->ctx, queue, dlq, qt_on_done, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, 0);
    return c.affected;
}

static inline keel_queue_stats_t qt_stats(qt_t *t, const char *queue)
{
    keel_queue_stats_t s;
    assert_int_equal(t->api->stats(t->ctx, queue, &s), 0);
    return s;
}

/* Polls stats until `field` of `queue` equals `want` (or the deadline). */
#define QT_WAIT_STAT(t, queue, field, want)                                                        \
    do {                                                                                           \
        uint64_t qt_deadline_ = qt_mono_ms() + QT_WAIT_MS;                                         \
        while (qt_stats((t), (queue)).field != (uint64_t)(want) && qt_mono_ms() < qt_deadline_)    \
            qt_pause_ms(2);                                                                        \
        assert_int_equal(qt_stats((t), (queue)).field, (want));                                    \
    } while (0)

/* Moves one message to the DLQ: send, receive, settle FAIL. */
static inline keel_queue_sent_t qt_dead_letter(qt_t *t, const char *queue, const char *body,
                                               const char *error)
{
    keel_queue_sent_t sent = qt_send(t, queue, body);
    char receipt[64];
    keel_queue_batch_t *b = qt_receive_one(t, queue, receipt);
    assert_string_equal(b->messages[0].message_id, sent.message_id);
    t->api->batch_free(t->ctx, b);
    assert_int_equal(qt_settle(t, queue, receipt, KEEL_FAIL, error, "step"), 0);
    return sent;
}

static inline qt_call_t qt_send_batch(qt_t *t, const char *queue, const keel_queue_entry_t *e,
                                      size_t n)
{
    qt_call_t c = {0};
    assert_int_equal(t->api->send(t->ctx, queue, e, n, qt_on_sent, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    return c;
}

static inline qt_call_t qt_settle_batch(qt_t *t, const char *queue,
                                        const keel_queue_settle_t *items, size_t n)
{
    qt_call_t c = {0};
    assert_int_equal(t->api->settle(t->ctx, queue, items, n, qt_on_settled, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, 0);
    return c;
}

static inline void qt_free(qt_t *t, keel_queue_batch_t *b)
{
    t->api->batch_free(t->ctx, b);
}

static inline uint64_t qt_redrive(qt_t *t, const char *queue, const char *const *ids, size_t n,
                                  uint32_t rate)
{
    qt_call_t c = {0};
    assert_int_equal(t->api->dlq_redrive(t->ctx, queue, ids, n, rate, qt_on_done, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, 0);
    return c.affected;
}

enum { QT_BIG = 10 * 1024 };

/* Sends QT_BIG bodies (byte i of message n is n + i) until the map is full. */
static inline size_t qt_fill_map(qt_t *t, const char *queue, unsigned char *body)
{
    size_t accepted = 0;
    for (int attempt = 0; attempt < 400; attempt++) {
        for (size_t i = 0; i < QT_BIG; i++)
            body[i] = (unsigned char)(accepted + i);
        keel_queue_entry_t e = {.body = body, .body_len = QT_BIG};
        keel_queue_sent_t r = qt_send_entry(t, queue, &e);
        if (r.status == KEEL_EFULL)
            return accepted;
        assert_int_equal(r.status, 0);
        accepted++;
    }
    fail_msg("the 1 MiB map never filled up");
    return 0;
}

/* ---- the backoff test's per-message record ---- */

typedef struct tracked {
    char id[KEEL_ID_LEN + 1];
    uint64_t retried_at; /* when its last RETRY was settled */
    uint32_t retries;    /* receive count at that RETRY */
} tracked_t;

static inline tracked_t *track(tracked_t *list, size_t *count, const char *id)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp(list[i].id, id) == 0)
            return &list[i];
    memset(&list[*count], 0, sizeof list[*count]);
    strcpy(list[*count].id, id);
    return &list[(*count)++];
}

/* ---- a receive callback that frees its batch at once (for stop) ---- */

typedef struct poll_outcome {
    qt_t *t;
    atomic_int done;
    int status;
    size_t count;
} poll_outcome_t;

/* Frees the batch at once: after stop the instance may be gone. */
static inline void on_poll_ended(void *arg, int status, keel_queue_batch_t *batch)
{
    poll_outcome_t *p = arg;
    p->status = status;
    p->count = batch ? batch->count : 0;
    p->t->api->batch_free(p->t->ctx, batch);
    atomic_store(&p->done, 1);
}

/* ---- load: `senders` threads each sending `per_sender` one-entry messages
 * with up to `window` in flight, and `receivers` threads settling OK what
 * they receive and counting each message. No cmocka asserts off the main
 * thread: failures are counted. ---- */

typedef struct qt_load {
    qt_t *t;
    const char *queue;
    uint32_t senders, per_sender, window;
    atomic_uint_least64_t failures, received;
    atomic_uchar *seen;         /* senders * per_sender receive counts */
    uint64_t commits, requests; /* by the writer during the run */
} qt_load_t;

typedef struct qt_sender {
    qt_load_t *load;
    uint32_t index;
    atomic_uint in_flight;
} qt_sender_t;

static inline void qt_on_load_sent(void *arg, const keel_queue_sent_t *results, size_t count)
{
    qt_sender_t *s = arg;
    if (count != 1 || results[0].status != 0)
        atomic_fetch_add(&s->load->failures, 1);
    atomic_fetch_sub(&s->in_flight, 1);
}

static inline void *qt_sender_main(void *arg)
{
    qt_sender_t *s = arg;
    qt_load_t *load = s->load;
    for (uint32_t i = 0; i < load->per_sender; i++) {
        while (atomic_load(&s->in_flight) >= load->window)
            qt_pause_ms(0);
        uint32_t body[2] = {s->index, i};
        keel_queue_entry_t e = {.body = body, .body_len = sizeof body};
        atomic_fetch_add(&s->in_flight, 1);
        if (load->t->api->send(load->t->ctx, load->queue, &e, 1, qt_on_load_sent, s) != 0) {
            atomic_fetch_add(&load->failures, 1);
            atomic_fetch_sub(&s->in_flight, 1);
        }
    }
    while (atomic_load(&s->in_flight) > 0)
        qt_pause_ms(1);
    return NULL;
}

static inline void *qt_receiver_main(void *arg)
{
    qt_load_t *load = arg;
    qt_t *t = load->t;
    uint64_t total = (uint64_t)load->senders * load->per_sender, deadline = qt_mono_ms() + 120000;
    while (atomic_load(&load->received) < total && qt_mono_ms() < deadline) {
        qt_call_t r = {0}, c = {0};
        if (t->api->receive(t->ctx, load->queue, 10, 0, 100, qt_on_received, &r) != 0 ||
            !qt_wait(&r, QT_WAIT_MS) || r.status != 0) {
            atomic_fetch_add(&load->failures, 1);
            break;
        }
        keel_queue_batch_t *b = r.batch;
        keel_queue_settle_t items[KEEL_QUEUE_MAX_BATCH];
        for (size_t i = 0; i < b->count; i++) {
            uint32_t body[2];
            memcpy(body, b->messages[i].body, sizeof body);
            atomic_fetch_add(&load->seen[(size_t)body[0] * load->per_sender + body[1]], 1);
            items[i] = (keel_queue_settle_t){b->messages[i].receipt, KEEL_OK, NULL, NULL};
        }
        if (b->count &&
            (t->api->settle(t->ctx, load->queue, items, b->count, qt_on_settled, &c) != 0 ||
             !qt_wait(&c, QT_WAIT_MS) || c.status != 0)) {
            atomic_fetch_add(&load->failures, 1);
        } else {
            for (size_t i = 0; i < b->count; i++)
                if (c.statuses[i] != 0)
                    atomic_fetch_add(&load->failures, 1);
            atomic_fetch_add(&load->received, b->count);
        }
        t->api->batch_free(t->ctx, b);
    }
    return NULL;
}

/* Runs the load to its end; the caller frees load->seen. */
static inline void qt_run_load(qt_load_t *load, uint32_t receivers)
{
    enum { MAX_THREADS = 64 };
    assert_true(load->senders + receivers <= MAX_THREADS);
    load->seen = calloc((size_t)load->senders * load->per_sender, sizeof *load->seen);
    assert_non_null(load->seen);
    qt_sender_t senders[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    uint64_t commits0, requests0, commits1, requests1;
    load->t->debug->commit_counts(load->t->debug_ctx, &commits0, &requests0);
    for (uint32_t i = 0; i < load->senders; i++) {
        senders[i] = (qt_sender_t){.load = load, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, qt_sender_main, &senders[i]), 0);
    }
    for (uint32_t i = 0; i < receivers; i++)
        assert_int_equal(pthread_create(&threads[load->senders + i], NULL, qt_receiver_main, load),
                         0);
    for (uint32_t i = 0; i < load->senders + receivers; i++)
        pthread_join(threads[i], NULL);
    load->t->debug->commit_counts(load->t->debug_ctx, &commits1, &requests1);
    load->commits = commits1 - commits0;
    load->requests = requests1 - requests0;
}

#endif /* QUEUE_TEST_UTIL_H */
