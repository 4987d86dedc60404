/*
 * test_producer — drives a queue service the way an ingress would, for the
 * queue's crash, poison, backpressure and full-disk tests.
 *
 * `producers` threads each send one message at a time to `queue_name` of
 * the `queue` instance and wait for its completion, so N producers keep N
 * sends in flight. Bodies are "<prefix>-<thread>-<seq>-<fill>#<fnv1a hex>",
 * padded to `body_size`: the 8 hex digits are the FNV-1a hash of everything
 * before the '#', so any body can be checked on its own. Thread 0 then
 * sends the `bodies` listed in the config verbatim (e.g. a poison message).
 * A send answered KEEL_EFULL or another error is retried with the same body
 * after 10 ms until it succeeds or the instance stops; `gate` holds every
 * producer until that file exists.
 *
 * `record` gets, with one write(2) each so a kill -9 loses no whole line:
 *   acked <message id> <body, first 300 bytes>   after a send completed with 0
 *   full <thread>-<seq> KEEL_EFULL              first EFULL of a body
 *   error <thread>-<seq> <code> <name>          first other failure of a body
 * stop() logs "test_producer: acked=A fulls=F errors=E" (every failed
 * attempt counted) and, with `report`, the queue's stats and every DLQ
 * entry ("dlq <id> receives=<n> step=<s> last_error=<e> body=<b>");
 * `report_every` logs the stats periodically too.
 *
 * The plugin is also a pipeline step that checks bodies: a body holding a
 * '#' whose hash does not match is answered FAIL and logged as
 * "corrupt body <id> len=<n>"; every other message is answered OK.
 */
#include <fcntl.h>
#include <keel/keel.h>
#include <keel/queue.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { RETRY_BACKOFF_MS = 10, RECORD_BODY_MAX = 300, DLQ_PAGE = 100 };

typedef struct producer producer_t;

/* One producer thread and its one send in flight. */
typedef struct worker {
    producer_t *p;
    unsigned index;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t sent;
    bool done; /* under lock */
    int status;
    char message_id[KEEL_ID_LEN + 1];
} worker_t;

struct producer {
    const keel_host_api_t *host;
    keel_plugin_t *self;
    const keel_queue_api_t *queue;
    void *queue_ctx;
    const char *queue_name, *prefix, *gate;
    int64_t producers, count, body_size, report_every_ms;
    bool report;
    int record_fd;
    worker_t *workers;
    size_t started;
    keel_timer_t *report_timer;
    atomic_bool stop;
    atomic_uint_fast64_t acked, fulls, errors, verified, corrupt;
};

static const keel_config_key_t producer_keys[] = {
    {"queue", KEEL_CFG_INSTANCE, NULL, "the instance providing the queue service",
     KEEL_CFG_REQUIRED, NULL},
    {"queue_name", KEEL_CFG_STRING, "orders", "queue to send to", 0, NULL},
    {"producers", KEEL_CFG_INT, "4", "producer threads, one send in flight each", 0, NULL},
    {"count", KEEL_CFG_INT, "0", "messages per producer; 0 = until stopped", 0, NULL},
    {"body_size", KEEL_CFG_SIZE, "64", "length of each generated body", 0, NULL},
    {"prefix", KEEL_CFG_STRING, "m", "first part of each generated body", 0, NULL},
    {"bodies", KEEL_CFG_STRING_LIST, NULL, "bodies thread 0 sends verbatim after its own", 0, NULL},
    {"record", KEEL_CFG_STRING, NULL, "file to append acked, full and error lines to", 0, NULL},
    {"gate", KEEL_CFG_STRING, NULL, "producers wait until this file exists", 0, NULL},
    {"report", KEEL_CFG_BOOL, "false", "on stop, log the queue's stats and DLQ entries", 0, NULL},
    {"report_every", KEEL_CFG_DURATION, "0", "log the queue's stats this often; 0 = never", 0,
     NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static uint32_t fnv1a(const void *data, size_t len)
{
    const unsigned char *bytes = data;
    uint32_t hash = 2166136261U;
    for (size_t i = 0; i < len; i++) {
        hash ^= bytes[i];
        hash *= 16777619U;
    }
    return hash;
}

static void sleep_ms(int64_t ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

static void write_record(producer_t *p, const char *line, int len)
{
    if (p->record_fd >= 0 && len > 0 && write(p->record_fd, line, (size_t)len) != len)
        p->host->log(p->self, KEEL_LOG_ERROR, "cannot write the record file");
}

/* Writes a generated body into buf (size >= body_size + 64); returns its length. */
static size_t make_body(const producer_t *p, unsigned thread, uint64_t seq, char *buf,
                        size_t buf_len)
{
    int head = snprintf(buf, buf_len, "%s-%u-%llu-", p->prefix, thread, (unsigned long long)seq);
    size_t len = head > 0 ? (size_t)head : 0;
    size_t target = (size_t)p->body_size;
    for (; len + 9 < target && len + 9 < buf_len; len++)
        buf[len] = (char)('a' + (seq * 7 + len * 13 + thread) % 26);
    uint32_t hash = fnv1a(buf, len);
    snprintf(buf + len, buf_len - len, "#%08x", (unsigned)hash);
    return len + 9;
}

/* True unless the body carries a '#' hash that does not match. */
static bool body_intact(const void *body, size_t len)
{
    const char *text = body;
    const char *mark = len >= 9 ? memchr(text + len - 9, '#', 1) : NULL;
    if (mark == NULL)
        return memchr(text, '#', len) == NULL; /* a plain body, e.g. from `bodies` */
    char expect[10];
    snprintf(expect, sizeof expect, "#%08x", (unsigned)fnv1a(text, len - 9));
    return memcmp(mark, expect, 9) == 0;
}

static void on_sent(void *arg, const keel_queue_sent_t *results, size_t count)
{
    worker_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = count == 1 ? results[0].status : KEEL_EFAILED;
    if (count == 1)
        memcpy(w->message_id, results[0].message_id, sizeof w->message_id);
    w->done = true;
    pthread_cond_signal(&w->sent);
    pthread_mutex_unlock(&w->lock);
}

/* Sends one body until it is committed; false when stopped first. */
static bool send_until_acked(worker_t *w, const char *label, const char *body, size_t len)
{
    producer_t *p = w->p;
    bool failed_before = false;
    while (!atomic_load(&p->stop)) {
        keel_queue_entry_t entry = {.body = body, .body_len = len};
        pthread_mutex_lock(&w->lock);
        w->done = false;
        pthread_mutex_unlock(&w->lock);
        int status = p->queue->send(p->queue_ctx, p->queue_name, &entry, 1, on_sent, w);
        if (status == 0) {
            pthread_mutex_lock(&w->lock);
            while (!w->done) {
                struct timespec deadline;
                clock_gettime(CLOCK_REALTIME, &deadline);
                deadline.tv_sec += 10;
                if (pthread_cond_timedwait(&w->sent, &w->lock, &deadline) != 0 && !w->done)
                    p->host->log(p->self, KEEL_LOG_WARN,
                                 "producer %u: send of %s not completed after 10 s", w->index,
                                 label);
            }
            status = w->status;
            pthread_mutex_unlock(&w->lock);
        }
        char line[RECORD_BODY_MAX + 128];
        if (status == 0) {
            int n = snprintf(line, sizeof line, "acked %s %.*s\n", w->message_id,
                             (int)(len < RECORD_BODY_MAX ? len : RECORD_BODY_MAX), body);
            write_record(p, line, n);
            atomic_fetch_add(&p->acked, 1);
            return true;
        }
        if (status == KEEL_ESHUTDOWN)
            return false;
        if (status == KEEL_EFULL) {
            atomic_fetch_add(&p->fulls, 1);
            if (!failed_before)
                write_record(p, line, snprintf(line, sizeof line, "full %s KEEL_EFULL\n", label));
        } else {
            atomic_fetch_add(&p->errors, 1);
            if (!failed_before)
                write_record(p, line,
                             snprintf(line, sizeof line, "error %s %d %s\n", label, status,
                                      p->host->strerror(status)));
        }
        failed_before = true;
        sleep_ms(RETRY_BACKOFF_MS);
    }
    return false;
}

static void *produce(void *arg)
{
    worker_t *w = arg;
    producer_t *p = w->p;
    while (p->gate && access(p->gate, F_OK) != 0 && !atomic_load(&p->stop))
        sleep_ms(RETRY_BACKOFF_MS);
    size_t buf_len = (size_t)p->body_size + 64;
    char *body = p->host->alloc(buf_len);
    if (body == NULL) {
        p->host->log(p->self, KEEL_LOG_ERROR, "producer %u: out of memory", w->index);
        return NULL;
    }
    char label[48];
    for (uint64_t seq = 0; p->count == 0 || seq < (uint64_t)p->count; seq++) {
        size_t len = make_body(p, w->index, seq, body, buf_len);
        snprintf(label, sizeof label, "%u-%llu", w->index, (unsigned long long)seq);
        if (!send_until_acked(w, label, body, len))
            break;
    }
    p->host->free(body);
    size_t listed = 0;
    if (w->index != 0 || p->host->config_count(p->self, "bodies", &listed) != 0)
        return NULL;
    for (size_t i = 0; i < listed && !atomic_load(&p->stop); i++) {
        char path[48];
        const char *text = NULL;
        snprintf(path, sizeof path, "bodies[%zu]", i);
        snprintf(label, sizeof label, "0-b%zu", i);
        if (p->host->config_string(p->self, path, &text) == 0 &&
            !send_until_acked(w, label, text, strlen(text)))
            break;
    }
    return NULL;
}

static void log_stats(producer_t *p)
{
    keel_queue_stats_t s;
    int rc = p->queue->stats(p->queue_ctx, p->queue_name, &s);
    if (rc != 0) {
        p->host->log(p->self, KEEL_LOG_ERROR, "stats of %s: %s", p->queue_name,
                     p->host->strerror(rc));
        return;
    }
    p->host->log(p->self, KEEL_LOG_INFO,
                 "stats queue=%s visible=%llu in_flight=%llu delayed=%llu dlq=%llu bytes=%llu "
                 "sent=%llu received=%llu deleted=%llu retried=%llu dead_lettered=%llu",
                 p->queue_name, (unsigned long long)s.visible, (unsigned long long)s.in_flight,
                 (unsigned long long)s.delayed, (unsigned long long)s.dlq_depth,
                 (unsigned long long)s.bytes, (unsigned long long)s.sent,
                 (unsigned long long)s.received, (unsigned long long)s.deleted,
                 (unsigned long long)s.retried, (unsigned long long)s.dead_lettered);
}

static void log_dlq(producer_t *p)
{
    keel_queue_dlq_page_t *page = NULL;
    size_t total = 0;
    int rc = p->queue->dlq_list(p->queue_ctx, p->queue_name, NULL, DLQ_PAGE, &page);
    while (rc == 0 && page != NULL) {
        for (size_t i = 0; i < page->count; i++) {
            const keel_queue_dlq_entry_t *e = &page->entries[i];
            p->host->log(p->self, KEEL_LOG_INFO,
                         "dlq %s receives=%u step=%s last_error=%s body=%.*s", e->message_id,
                         e->receive_count, e->failed_step ? e->failed_step : "",
                         e->last_error ? e->last_error : "",
                         (int)(e->body_len < RECORD_BODY_MAX ? e->body_len : RECORD_BODY_MAX),
                         (const char *)e->body);
        }
        total += page->count;
        keel_queue_dlq_page_t *next = NULL;
        if (page->next_cursor != NULL && page->count > 0)
            rc =
                p->queue->dlq_list(p->queue_ctx, p->queue_name, page->next_cursor, DLQ_PAGE, &next);
        p->queue->dlq_page_free(p->queue_ctx, page);
        page = next;
    }
    if (rc != 0)
        p->host->log(p->self, KEEL_LOG_ERROR, "dlq_list of %s: %s", p->queue_name,
                     p->host->strerror(rc));
    p->host->log(p->self, KEEL_LOG_INFO, "dlq listed=%zu", total);
}

static void report_tick(void *arg)
{
    log_stats(arg);
}

static int check_batch(void *ctx, keel_batch_t *batch)
{
    producer_t *p = ctx;
    const keel_host_api_t *host = p->host;
    size_t count = host->batch_count(batch);
    for (size_t i = 0; i < count; i++) {
        const keel_msg_t *msg = host->batch_message(batch, i);
        if (body_intact(msg->body, msg->body_len)) {
            atomic_fetch_add(&p->verified, 1);
            host->batch_result(batch, i, KEEL_OK, NULL);
        } else {
            atomic_fetch_add(&p->corrupt, 1);
            host->log(p->self, KEEL_LOG_ERROR, "corrupt body %s len=%zu", msg->id, msg->body_len);
            host->batch_result(batch, i, KEEL_FAIL, "test_producer: body checksum mismatch");
        }
    }
    return KEEL_OK;
}

static int producer_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    producer_t *p = host->calloc(1, sizeof *p);
    if (p == NULL)
        return KEEL_ENOMEM;
    *ctx = p;
    p->host = host;
    p->self = self;
    p->record_fd = -1;
    const char *queue = NULL, *record = NULL;
    host->config_string(self, "queue", &queue);
    host->config_string(self, "queue_name", &p->queue_name);
    host->config_string(self, "prefix", &p->prefix);
    host->config_int(self, "producers", &p->producers);
    host->config_int(self, "count", &p->count);
    host->config_int(self, "body_size", &p->body_size);
    host->config_int(self, "report_every", &p->report_every_ms);
    host->config_bool(self, "report", &p->report);
    if (host->config_string(self, "gate", &p->gate) != 0)
        p->gate = NULL;
    if (p->producers < 0 || p->producers > 1024 || p->count < 0 || p->body_size < 0 ||
        p->body_size > (16 << 20)) {
        host->log(self, KEEL_LOG_ERROR,
                  "producers (0..1024), count (>= 0) or body_size (0..16MiB) out of range");
        return KEEL_EINVAL;
    }
    if (host->config_string(self, "record", &record) == 0) {
        p->record_fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (p->record_fd < 0) {
            host->log(self, KEEL_LOG_ERROR, "cannot open %s", record);
            return KEEL_EIO;
        }
    }
    keel_service_t svc;
    int rc = host->service_lookup(self, queue, KEEL_QUEUE_INTERFACE, KEEL_QUEUE_VERSION, &svc);
    if (rc != 0) {
        host->log(self, KEEL_LOG_ERROR, "no queue service on '%s': %s", queue, host->strerror(rc));
        return rc;
    }
    p->queue = svc.vtable;
    p->queue_ctx = svc.ctx;
    return 0;
}

static void join_workers(producer_t *p)
{
    for (size_t i = 0; i < p->started; i++) {
        pthread_join(p->workers[i].thread, NULL);
        pthread_cond_destroy(&p->workers[i].sent);
        pthread_mutex_destroy(&p->workers[i].lock);
    }
    p->started = 0;
}

static int producer_start(void *ctx)
{
    producer_t *p = ctx;
    if (p->report_every_ms > 0 &&
        p->host->timer_add(p->self, (uint64_t)p->report_every_ms, (uint64_t)p->report_every_ms,
                           report_tick, p, &p->report_timer) != 0)
        return KEEL_ENOMEM;
    if (p->producers == 0)
        return 0;
    p->workers = p->host->calloc((size_t)p->producers, sizeof *p->workers);
    if (p->workers == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < (size_t)p->producers; i++) {
        worker_t *w = &p->workers[i];
        w->p = p;
        w->index = (unsigned)i;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->sent, NULL);
        if (pthread_create(&w->thread, NULL, produce, w) != 0) {
            pthread_cond_destroy(&w->sent);
            pthread_mutex_destroy(&w->lock);
            p->host->log(p->self, KEEL_LOG_ERROR, "cannot start producer %zu", i);
            atomic_store(&p->stop, true);
            join_workers(p);
            return KEEL_ENOMEM;
        }
        p->started++;
    }
    p->host->log(p->self, KEEL_LOG_INFO, "test_producer: %zu producers sending to '%s'", p->started,
                 p->queue_name);
    return 0;
}

static void producer_stop(void *ctx)
{
    producer_t *p = ctx;
    atomic_store(&p->stop, true);
    p->host->timer_cancel(p->report_timer);
    p->report_timer = NULL;
    join_workers(p);
    p->host->log(p->self, KEEL_LOG_INFO, "test_producer: acked=%llu fulls=%llu errors=%llu",
                 (unsigned long long)atomic_load(&p->acked),
                 (unsigned long long)atomic_load(&p->fulls),
                 (unsigned long long)atomic_load(&p->errors));
    if (p->report) {
        log_stats(p);
        log_dlq(p);
    }
}

static void producer_destroy(void *ctx)
{
    producer_t *p = ctx;
    if (atomic_load(&p->verified) || atomic_load(&p->corrupt))
        p->host->log(p->self, KEEL_LOG_INFO, "test_producer: verified=%llu corrupt=%llu",
                     (unsigned long long)atomic_load(&p->verified),
                     (unsigned long long)atomic_load(&p->corrupt));
    if (p->record_fd >= 0)
        close(p->record_fd);
    p->host->free(p->workers);
    p->host->free(p);
}

KEEL_PLUGIN_DECLARE(.name = "test_producer", .version = "1.0.0",
                    .description = "sends checkable bodies to a queue from its own threads",
                    .config_keys = producer_keys, .init = producer_init, .start = producer_start,
                    .stop = producer_stop, .destroy = producer_destroy, .step = check_batch);
