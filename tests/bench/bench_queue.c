/*
 * bench_queue — queue_lmdb's durable send rate and full send → receive →
 * settle cycle rate, beside the raw fdatasync rate of the same disk,
 * measured in the same run. Prints figures and targets; not pass/fail.
 *
 *   bench_queue QUEUE_LMDB_SO [DIR] [SECONDS]
 *
 * DIR (default ".") holds the fdatasync probe file and the queue's data
 * while the benchmark runs; both are removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <keel/harness.h>

#include "../../plugins/queue_lmdb/debug.h"
#include <keel/queue.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    SEND_PRODUCERS = 64,
    CYCLE_PRODUCERS = 16,
    CYCLE_RECEIVERS = 64,
    CYCLE_MAX_BACKLOG = 20000,
    BODY_BYTES = 256,
    FSYNC_SECONDS = 2,
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- a one-shot completion a thread can wait for ------------------------ */

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    size_t ok;
    keel_queue_batch_t *batch;
} waiter_t;

static void waiter_init(waiter_t *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

static void waiter_destroy(waiter_t *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

static void waiter_arm(waiter_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->done = false;
    pthread_mutex_unlock(&w->lock);
}

static void waiter_signal(waiter_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void waiter_wait(waiter_t *w)
{
    pthread_mutex_lock(&w->lock);
    while (!w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

static void on_sent(void *arg, const keel_queue_sent_t *results, size_t count)
{
    waiter_t *w = arg;
    size_t ok = 0;
    for (size_t i = 0; i < count; i++)
        ok += results[i].status == 0;
    w->ok = ok;
    w->status = count > 0 ? results[0].status : KEEL_EFAILED;
    waiter_signal(w);
}

static void on_received(void *arg, int status, keel_queue_batch_t *batch)
{
    waiter_t *w = arg;
    w->status = status;
    w->batch = batch;
    waiter_signal(w);
}

static void on_settled(void *arg, int status, const int *statuses, size_t count)
{
    waiter_t *w = arg;
    size_t ok = 0;
    for (size_t i = 0; status == 0 && i < count; i++)
        ok += statuses[i] == 0;
    w->status = status;
    w->ok = ok;
    waiter_signal(w);
}

/* ---- (a) fdatasync ------------------------------------------------------ */

static double fdatasync_rate(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_queue.fsync", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "bench_queue: cannot create %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char block[BODY_BYTES];
    memset(block, 'x', sizeof block);
    long n = 0;
    double start = now_s(), elapsed = 0;
    while (elapsed < FSYNC_SECONDS) {
        off_t at = (off_t)(n % 4096) * (off_t)sizeof block; /* within 1 MiB */
        if (pwrite(fd, block, sizeof block, at) != (ssize_t)sizeof block || fdatasync(fd) != 0) {
            fprintf(stderr, "bench_queue: write/fdatasync: %s\n", strerror(errno));
            exit(1);
        }
        n++;
        elapsed = now_s() - start;
    }
    close(fd);
    unlink(path);
    return (double)n / elapsed;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Send latencies of one producer; merged at the end for percentiles. */
typedef struct latency_log {
    uint32_t *us;
    size_t count, cap;
} latency_log_t;

static void latency_record(latency_log_t *log, double seconds)
{
    if (log->count == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 4096;
        uint32_t *grown = realloc(log->us, cap * sizeof *grown);
        if (grown == NULL)
            return;
        log->us = grown;
        log->cap = cap;
    }
    log->us[log->count++] = (uint32_t)(seconds * 1e6);
}

/* Appends `from` to `into` and empties `from`. */
static void latency_merge(latency_log_t *into, latency_log_t *from)
{
    for (size_t i = 0; i < from->count; i++)
        latency_record(into, from->us[i] / 1e6);
    free(from->us);
    *from = (latency_log_t){0};
}

/* p50 and p99 in milliseconds; frees the log. */
static void latency_percentiles(latency_log_t *log, double *p50, double *p99)
{
    *p50 = *p99 = 0;
    if (log->count > 0) {
        qsort(log->us, log->count, sizeof *log->us, compare_u32);
        *p50 = log->us[log->count / 2] / 1000.0;
        *p99 = log->us[(log->count * 99) / 100] / 1000.0;
    }
    free(log->us);
    *log = (latency_log_t){0};
}

/* ---- shared run state --------------------------------------------------- */

typedef struct bench {
    const keel_queue_api_t *q;
    void *ctx;
    const char *queue;
    size_t entries_per_send;
    int64_t max_backlog; /* producers pause beyond it; 0: never */
    atomic_bool stop;
    atomic_uint_fast64_t sent, send_failures, received, deleted, settle_failures;
} bench_t;

typedef struct producer {
    bench_t *b;
    unsigned index;
    pthread_t thread;
    latency_log_t latency;
} producer_t;

static void *produce(void *arg)
{
    producer_t *p = arg;
    bench_t *b = p->b;
    waiter_t w;
    waiter_init(&w);
    char body[KEEL_QUEUE_MAX_BATCH][BODY_BYTES];
    keel_queue_entry_t entries[KEEL_QUEUE_MAX_BATCH];
    for (size_t i = 0; i < KEEL_QUEUE_MAX_BATCH; i++) {
        memset(body[i], 'a' + (int)(i % 26), BODY_BYTES);
        entries[i] = (keel_queue_entry_t){.body = body[i], .body_len = BODY_BYTES};
    }
    uint64_t seq = 0;
    while (!atomic_load(&b->stop)) {
        if (b->max_backlog &&
            atomic_load(&b->sent) > atomic_load(&b->deleted) + (uint64_t)b->max_backlog) {
            struct timespec pause = {0, 200000}; /* let the receivers catch up */
            nanosleep(&pause, NULL);
            continue;
        }
        for (size_t i = 0; i < b->entries_per_send; i++)
            snprintf(body[i], 32, "%u-%llu-%zu", p->index, (unsigned long long)seq, i);
        seq++;
        waiter_arm(&w);
        double t0 = now_s();
        int rc = b->q->send(b->ctx, b->queue, entries, b->entries_per_send, on_sent, &w);
        if (rc != 0) {
            atomic_fetch_add(&b->send_failures, 1);
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
            continue;
        }
        waiter_wait(&w);
        double t1 = now_s();
        atomic_fetch_add(&b->sent, w.ok);
        if (w.ok < b->entries_per_send) {
            atomic_fetch_add(&b->send_failures, b->entries_per_send - w.ok);
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
            continue;
        }
        latency_record(&p->latency, t1 - t0);
    }
    waiter_destroy(&w);
    return NULL;
}

static void *consume(void *arg)
{
    bench_t *b = arg;
    waiter_t w;
    waiter_init(&w);
    while (!atomic_load(&b->stop)) {
        waiter_arm(&w);
        w.batch = NULL;
        if (b->q->receive(b->ctx, b->queue, KEEL_QUEUE_MAX_BATCH, 60, 100, on_received, &w) != 0)
            break;
        waiter_wait(&w);
        keel_queue_batch_t *batch = w.batch;
        if (w.status != 0 || batch == NULL || batch->count == 0) {
            b->q->batch_free(b->ctx, batch);
            continue;
        }
        atomic_fetch_add(&b->received, batch->count);
        keel_queue_settle_t items[KEEL_QUEUE_MAX_BATCH];
        for (size_t i = 0; i < batch->count; i++)
            items[i] =
                (keel_queue_settle_t){.receipt = batch->messages[i].receipt, .result = KEEL_OK};
        waiter_arm(&w);
        if (b->q->settle(b->ctx, b->queue, items, batch->count, on_settled, &w) == 0) {
            waiter_wait(&w);
            atomic_fetch_add(&b->deleted, w.ok);
            atomic_fetch_add(&b->settle_failures, batch->count - w.ok);
        } else {
            atomic_fetch_add(&b->settle_failures, batch->count);
        }
        b->q->batch_free(b->ctx, batch);
    }
    waiter_destroy(&w);
    return NULL;
}

/* ---- (b) durable sends -------------------------------------------------- */

static void bench_sends(bench_t *b, double seconds, double fsync_rate)
{
    producer_t producers[SEND_PRODUCERS];
    memset(producers, 0, sizeof producers);
    double start = now_s();
    for (unsigned i = 0; i < SEND_PRODUCERS; i++) {
        producers[i] = (producer_t){.b = b, .index = i};
        if (pthread_create(&producers[i].thread, NULL, produce, &producers[i]) != 0) {
            fprintf(stderr, "bench_queue: cannot start a producer thread\n");
            exit(1);
        }
    }
    struct timespec run = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&run, NULL);
    atomic_store(&b->stop, true);
    latency_log_t all = {0};
    for (unsigned i = 0; i < SEND_PRODUCERS; i++) {
        pthread_join(producers[i].thread, NULL);
        latency_merge(&all, &producers[i].latency);
    }
    double elapsed = now_s() - start;
    double p50, p99;
    latency_percentiles(&all, &p50, &p99);
    double rate = (double)atomic_load(&b->sent) / elapsed;
    printf("  durable sends, %d producers x 1 in flight: %10.0f msg/s  p50 %.2f ms  p99 %.2f ms  "
           "(target >= 50000/s)\n",
           SEND_PRODUCERS, rate, p50, p99);
    printf("  ratio to fdatasync:                        %10.1fx        (target >= 8x)\n",
           rate / fsync_rate);
    printf("BENCH_RESULT queue.sends_threads_per_s=%.0f\n", rate);
    if (atomic_load(&b->send_failures) > 0)
        printf("  (%llu sends failed)\n", (unsigned long long)atomic_load(&b->send_failures));
}

/* ---- (b') durable sends from callbacks ----------------------------------- */

/* The same 64 concurrent producers as an event loop has them: 64 sends in
 * flight, each re-sent from its own completion callback, so no thread is
 * woken per message (the HTTP ingress answers from its loop the same way). */
typedef struct async_producer {
    bench_t *b;
    unsigned index;
    uint64_t seq;
    double sent_at;
    char body[BODY_BYTES];
    latency_log_t latency;
} async_producer_t;

static atomic_uint async_in_flight;

static void async_send(async_producer_t *p);

static void on_async_sent(void *arg, const keel_queue_sent_t *results, size_t count)
{
    async_producer_t *p = arg;
    bench_t *b = p->b;
    double now = now_s();
    if (count == 1 && results[0].status == 0) {
        atomic_fetch_add(&b->sent, 1);
        latency_record(&p->latency, now - p->sent_at);
    } else {
        atomic_fetch_add(&b->send_failures, 1);
    }
    if (atomic_load(&b->stop))
        atomic_fetch_sub(&async_in_flight, 1);
    else
        async_send(p);
}

static void async_send(async_producer_t *p)
{
    snprintf(p->body, 32, "%u-%llu", p->index, (unsigned long long)p->seq++);
    keel_queue_entry_t entry = {.body = p->body, .body_len = BODY_BYTES};
    p->sent_at = now_s();
    if (p->b->q->send(p->b->ctx, p->b->queue, &entry, 1, on_async_sent, p) != 0) {
        atomic_fetch_add(&p->b->send_failures, 1);
        atomic_fetch_sub(&async_in_flight, 1);
    }
}

static const queue_lmdb_debug_api_t *debug_api;
static void *debug_ctx;

static void bench_sends_async(bench_t *b, double seconds, double fsync_rate)
{
    uint64_t commits0 = 0, requests0 = 0, commits1 = 0, requests1 = 0;
    if (debug_api)
        debug_api->commit_counts(debug_ctx, &commits0, &requests0);
    static async_producer_t producers[SEND_PRODUCERS];
    memset(producers, 0, sizeof producers);
    atomic_store(&b->stop, false);
    atomic_store(&b->sent, 0);
    atomic_store(&async_in_flight, SEND_PRODUCERS);
    double start = now_s();
    for (unsigned i = 0; i < SEND_PRODUCERS; i++) {
        producers[i] = (async_producer_t){.b = b, .index = i};
        memset(producers[i].body, 'a' + (int)(i % 26), BODY_BYTES);
        async_send(&producers[i]);
    }
    struct timespec run = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&run, NULL);
    atomic_store(&b->stop, true);
    double elapsed = now_s() - start;
    uint64_t sent = atomic_load(&b->sent);
    while (atomic_load(&async_in_flight) > 0) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    latency_log_t all = {0};
    for (unsigned i = 0; i < SEND_PRODUCERS; i++)
        latency_merge(&all, &producers[i].latency);
    double p50, p99;
    latency_percentiles(&all, &p50, &p99);
    double rate = (double)sent / elapsed;
    printf("  durable sends, %d in flight from callbacks: %9.0f msg/s  p50 %.2f ms  p99 %.2f ms  "
           "(target >= 50000/s)\n",
           SEND_PRODUCERS, rate, p50, p99);
    if (debug_api) {
        debug_api->commit_counts(debug_ctx, &commits1, &requests1);
        uint64_t commits = commits1 - commits0;
        printf("  commits: %llu (%.0f/s), %.1f sends per commit\n", (unsigned long long)commits,
               (double)commits / elapsed,
               commits ? (double)(requests1 - requests0) / (double)commits : 0.0);
    }
    printf("  ratio to fdatasync:                        %10.1fx        (target >= 8x)\n",
           rate / fsync_rate);
    printf("BENCH_RESULT queue.sends_async_per_s=%.0f\n", rate);
}

/* ---- (c) send → receive → settle --------------------------------------- */

static void bench_cycle(bench_t *b, double seconds)
{
    producer_t producers[CYCLE_PRODUCERS];
    pthread_t consumers[CYCLE_RECEIVERS];
    memset(producers, 0, sizeof producers);
    double start = now_s();
    for (unsigned i = 0; i < CYCLE_RECEIVERS; i++) {
        if (pthread_create(&consumers[i], NULL, consume, b) != 0) {
            fprintf(stderr, "bench_queue: cannot start a receiver thread\n");
            exit(1);
        }
    }
    for (unsigned i = 0; i < CYCLE_PRODUCERS; i++) {
        producers[i] = (producer_t){.b = b, .index = i};
        if (pthread_create(&producers[i].thread, NULL, produce, &producers[i]) != 0) {
            fprintf(stderr, "bench_queue: cannot start a producer thread\n");
            exit(1);
        }
    }
    struct timespec run = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&run, NULL);
    uint64_t deleted = atomic_load(&b->deleted);
    uint64_t sent = atomic_load(&b->sent);
    double elapsed = now_s() - start;
    atomic_store(&b->stop, true);
    for (unsigned i = 0; i < CYCLE_PRODUCERS; i++) {
        pthread_join(producers[i].thread, NULL);
        free(producers[i].latency.us);
    }
    for (unsigned i = 0; i < CYCLE_RECEIVERS; i++)
        pthread_join(consumers[i], NULL);
    printf("  full cycle, %d producers x %zu-message sends, %d receivers settling batches of %d:\n"
           "                                            %10.0f msg/s deleted, %.0f msg/s sent  "
           "(target >= 100000/s)\n",
           CYCLE_PRODUCERS, b->entries_per_send, CYCLE_RECEIVERS, KEEL_QUEUE_MAX_BATCH,
           (double)deleted / elapsed, (double)sent / elapsed);
    printf("BENCH_RESULT queue.cycle_deleted_per_s=%.0f\n", (double)deleted / elapsed);
    if (atomic_load(&b->send_failures) + atomic_load(&b->settle_failures) > 0)
        printf("  (%llu sends and %llu settles failed)\n",
               (unsigned long long)atomic_load(&b->send_failures),
               (unsigned long long)atomic_load(&b->settle_failures));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_queue QUEUE_LMDB_SO [DIR] [SECONDS]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *plugin = argv[1];
    const char *dir = argc > 2 ? argv[2] : ".";
    double seconds = argc > 3 ? atof(argv[3]) : 5.0;
    if (seconds <= 0)
        seconds = 5.0;

    printf("\n== queue_lmdb: durable sends and the full cycle, %d-byte bodies, data in %s\n",
           BODY_BYTES, dir);
    double fsync_rate = fdatasync_rate(dir);
    printf("  raw write(256 B) + fdatasync, one thread: %10.0f /s       (%.0f us each)\n",
           fsync_rate, 1e6 / fsync_rate);
    printf("BENCH_RESULT queue.fdatasync_per_s=%.0f\n", fsync_rate);

    char data[4096];
    snprintf(data, sizeof data, "%s/bench_queue.XXXXXX", dir);
    if (mkdtemp(data) == NULL) {
        fprintf(stderr, "bench_queue: cannot create a directory in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    keel_harness_t *h = keel_harness_new(data);
    if (h == NULL ||
        keel_harness_add(h, "queue", plugin,
                         "map_size: 8GiB\n"
                         "queues:\n"
                         "  - {name: sends, max_depth: 0}\n"
                         "  - {name: cycle, max_depth: 0}\n") != 0 ||
        keel_harness_start(h) != 0) {
        fprintf(stderr, "bench_queue: cannot start %s\n", plugin);
        keel_harness_free(h);
        nftw(data, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return 1;
    }
    keel_service_t svc;
    if (keel_harness_service(h, "queue", KEEL_QUEUE_INTERFACE, KEEL_QUEUE_VERSION, &svc) != 0) {
        fprintf(stderr, "bench_queue: %s provides no queue service\n", plugin);
        keel_harness_free(h);
        nftw(data, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        return 1;
    }

    keel_service_t debug;
    if (keel_harness_service(h, "queue", QUEUE_LMDB_DEBUG_INTERFACE, QUEUE_LMDB_DEBUG_VERSION,
                             &debug) == 0) {
        debug_api = debug.vtable;
        debug_ctx = debug.ctx;
    }
    bench_t sends = {.q = svc.vtable, .ctx = svc.ctx, .queue = "sends", .entries_per_send = 1};
    bench_sends(&sends, seconds, fsync_rate);
    bench_t async_sends = {
        .q = svc.vtable, .ctx = svc.ctx, .queue = "sends", .entries_per_send = 1};
    bench_sends_async(&async_sends, seconds, fsync_rate);
    bench_t cycle = {.q = svc.vtable,
                     .ctx = svc.ctx,
                     .queue = "cycle",
                     .entries_per_send = KEEL_QUEUE_MAX_BATCH,
                     .max_backlog = CYCLE_MAX_BACKLOG};
    bench_cycle(&cycle, seconds);

    keel_harness_free(h);
    nftw(data, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
