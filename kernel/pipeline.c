/*
 * pipeline.c — see pipeline.h.
 *
 * Each poller is a chain of asynchronous calls: receive → run the steps on
 * a worker → settle, and receive again at the same time (the two share a
 * queue commit). A batch's "run" is reference counted:
 * the runner holds one reference until the settle completes, and each step
 * call holds one until the step returns (or completes, for KEEL_ASYNC), so
 * a step that outlives its timeout never reads freed messages.
 */
#include "pipeline.h"

#include "clock.h"
#include "kernel_internal.h"

#include <keel/queue.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { POLL_WAIT_MS = 500, RECEIVE_ERROR_BACKOFF_MS = 200 };

enum step_state { STEP_RUNNING, STEP_DONE, STEP_TIMED_OUT };

typedef struct pipeline pipeline_t;

typedef struct run_message {
    keel_msg_t view;
    uint32_t receive_count;
    void *replaced_body; /* owned; set by batch_set_body */
    keel_attr_t *attrs;  /* owned once batch_set_attr ran (else view.attrs is the queue's) */
    char **strings;      /* the keys and values batch_set_attr copied */
    size_t string_count;
    keel_result_t result;
    char *reason;
    const char *failed_step;
    bool alive; /* still passing through the steps */
} run_message_t;

typedef struct run {
    pipeline_t *pipeline;
    keel_queue_batch_t *received;
    run_message_t *messages;
    size_t count;
    size_t step;
    atomic_int refs;
    uint64_t step_started_ns;
} run_t;

struct keel_batch {
    run_t *run;
    atomic_int state;
    size_t count;
    size_t *index;          /* batch position → run message */
    keel_result_t *results; /* per batch position */
    char **reasons;
    bool *has_result;
    keel_timer_t *timeout;
    pthread_mutex_t lock; /* results vs. the runner reading them */
};

struct pipeline {
    const pipeline_config_t *config;
    kernel_t *kernel;
    pipelines_t *all;
    const keel_queue_api_t *queue;
    void *queue_ctx;
    keel_metric_t *ok, *retried, *failed, *batch_failures;
    keel_metric_t **step_seconds; /* one per step, labelled step="<instance>" */
};

struct pipelines {
    kernel_t *kernel;
    timer_owner_t *timers;
    pipeline_t *items;
    size_t count;
    atomic_bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned active_pollers; /* under lock */
    unsigned live_runs;      /* under lock: a timed-out step may outlive its poller */
};

static void poll_next(pipeline_t *p);
static void run_step(void *a, void *b);

static void log_pipeline(pipeline_t *p, keel_log_level_t level, const char *fmt, ...)
    KEEL_PRINTF(3, 4);

static void log_pipeline(pipeline_t *p, keel_log_level_t level, const char *fmt, ...)
{
    char source[96];
    snprintf(source, sizeof source, "pipeline:%s", p->config->name);
    va_list args;
    va_start(args, fmt);
    logger_vwrite(&p->kernel->log, level, source, fmt, args);
    va_end(args);
}

static void change_live_runs(pipelines_t *all, int delta)
{
    pthread_mutex_lock(&all->lock);
    all->live_runs = (unsigned)((int)all->live_runs + delta);
    if (all->live_runs == 0 && all->active_pollers == 0)
        pthread_cond_broadcast(&all->idle);
    pthread_mutex_unlock(&all->lock);
}

static void run_unref(run_t *run)
{
    if (atomic_fetch_sub(&run->refs, 1) != 1)
        return;
    pipeline_t *p = run->pipeline;
    for (size_t i = 0; i < run->count; i++) {
        run_message_t *m = &run->messages[i];
        free(m->replaced_body);
        free(m->reason);
        free(m->attrs);
        for (size_t j = 0; j < m->string_count; j++)
            free(m->strings[j]);
        free(m->strings);
    }
    free(run->messages);
    p->queue->batch_free(p->queue_ctx, run->received);
    free(run);
    change_live_runs(p->all, -1);
}

static void batch_free(keel_batch_t *batch)
{
    for (size_t i = 0; i < batch->count; i++)
        free(batch->reasons[i]);
    pthread_mutex_destroy(&batch->lock);
    free(batch);
}

/* ---- pollers ---------------------------------------------------------- */

static void poller_exit(pipeline_t *p)
{
    pipelines_t *all = p->all;
    pthread_mutex_lock(&all->lock);
    if (--all->active_pollers == 0 && all->live_runs == 0)
        pthread_cond_broadcast(&all->idle);
    pthread_mutex_unlock(&all->lock);
}

static void retry_poll(void *arg)
{
    poll_next(arg);
}

static void received(void *arg, int status, keel_queue_batch_t *batch)
{
    pipeline_t *p = arg;
    if (status == 0 && (batch == NULL || batch->count > KEEL_QUEUE_MAX_BATCH)) {
        /* A queue breaking its contract: leave the messages to their
         * visibility timeout. */
        if (batch)
            p->queue->batch_free(p->queue_ctx, batch);
        batch = NULL;
        status = KEEL_EIO;
    }
    if (status != 0) {
        log_pipeline(p, KEEL_LOG_WARN, "receive from queue '%s' failed: %s", p->config->source,
                     host_api()->strerror(status));
        if (atomic_load(&p->all->stopping) ||
            timer_add(p->all->timers, RECEIVE_ERROR_BACKOFF_MS, 0, retry_poll, p, NULL) != 0)
            poller_exit(p);
        return;
    }
    if (batch->count == 0) {
        p->queue->batch_free(p->queue_ctx, batch);
        poll_next(p);
        return;
    }
    run_t *run = calloc(1, sizeof *run);
    run_message_t *messages = calloc(batch->count, sizeof *messages);
    if (run == NULL || messages == NULL) {
        /* Nothing settled: the messages come back after their visibility. */
        free(run);
        free(messages);
        p->queue->batch_free(p->queue_ctx, batch);
        poll_next(p);
        return;
    }
    change_live_runs(p->all, +1);
    run->pipeline = p;
    run->received = batch;
    run->messages = messages;
    run->count = batch->count;
    atomic_init(&run->refs, 1);
    for (size_t i = 0; i < batch->count; i++) {
        const keel_queue_message_t *m = &batch->messages[i];
        messages[i] = (run_message_t){
            .view = {m->message_id, p->config->name, m->attrs, m->attr_count, m->body, m->body_len},
            .receive_count = m->receive_count,
            .result = KEEL_OK,
            .alive = true,
        };
    }
    if (workers_submit(p->kernel->workers, run_step, run, NULL) != 0) {
        run_unref(run);
        poller_exit(p);
    }
}

static void poll_next(pipeline_t *p)
{
    if (atomic_load(&p->all->stopping)) {
        poller_exit(p);
        return;
    }
    const pipeline_config_t *c = p->config;
    int rc = p->queue->receive(p->queue_ctx, c->source, c->batch_size, c->visibility_s,
                               POLL_WAIT_MS, received, p);
    if (rc != 0)
        received(p, rc, NULL);
}

/* ---- settling --------------------------------------------------------- */

static void settled(void *arg, int status, const int *statuses, size_t count)
{
    run_t *run = arg;
    pipeline_t *p = run->pipeline;
    if (status != 0)
        log_pipeline(p, KEEL_LOG_WARN,
                     "settling a batch failed (%s); its messages return "
                     "after their visibility timeout",
                     host_api()->strerror(status));
    for (size_t i = 0; statuses && i < count; i++) {
        if (statuses[i] == KEEL_ESTALE)
            log_pipeline(p, KEEL_LOG_WARN,
                         "message %s was redelivered while this batch ran (visibility timeout "
                         "shorter than the pipeline?); its result was not applied",
                         run->messages[i].view.id);
    }
    run_unref(run);
}

/* Settles the batch and, at the same time, asks for the next one: both
 * requests then usually share one queue commit, where receiving only once
 * the settle had committed cost every batch a commit of its own. The run
 * stays live until its settle completes, so a stop still waits for it. */
static void finish_run(run_t *run)
{
    pipeline_t *p = run->pipeline;
    keel_queue_settle_t items[KEEL_QUEUE_MAX_BATCH];
    for (size_t i = 0; i < run->count; i++) {
        run_message_t *m = &run->messages[i];
        items[i] = (keel_queue_settle_t){run->received->messages[i].receipt, m->result, m->reason,
                                         m->failed_step};
        metrics_add(m->result == KEEL_OK      ? p->ok
                    : m->result == KEEL_RETRY ? p->retried
                                              : p->failed,
                    1);
    }
    int rc = p->queue->settle(p->queue_ctx, p->config->source, items, run->count, settled, run);
    if (rc != 0)
        settled(run, rc, NULL, 0);
    poll_next(p);
}

static void set_reason(run_message_t *m, keel_result_t result, const char *reason, const char *step)
{
    m->alive = false;
    m->result = result;
    m->failed_step = step;
    free(m->reason);
    m->reason = strdup(reason ? reason : "");
}

/* The whole batch failed: every message goes back, nothing is deleted. */
static void fail_batch(run_t *run, const char *step, const char *reason)
{
    pipeline_t *p = run->pipeline;
    log_pipeline(p, KEEL_LOG_WARN, "batch of %zu failed at step '%s': %s; all will be retried",
                 run->count, step, reason);
    metrics_add(p->batch_failures, 1);
    for (size_t i = 0; i < run->count; i++)
        set_reason(&run->messages[i], KEEL_RETRY, reason, step);
}

/* ---- steps ------------------------------------------------------------ */

static void step_timed_out(void *arg)
{
    keel_batch_t *batch = arg;
    int expected = STEP_RUNNING;
    if (!atomic_compare_exchange_strong(&batch->state, &expected, STEP_TIMED_OUT))
        return;
    run_t *run = batch->run;
    pipeline_t *p = run->pipeline;
    const char *step = p->config->steps[run->step]->name;
    char reason[160];
    snprintf(reason, sizeof reason, "step '%s' did not finish within %llu ms", step,
             (unsigned long long)p->config->timeout_ms);
    fail_batch(run, step, reason);
    /* Settles with the runner's reference; the step keeps its own until it
     * returns, so the messages it may still read stay valid. */
    finish_run(run);
}

/* Applies a finished step's results and moves on, releasing the step's
 * hold on the run. Worker thread (or whichever completed an async step). */
static void step_finished(keel_batch_t *batch, int rc)
{
    int expected = STEP_RUNNING;
    bool mine = atomic_compare_exchange_strong(&batch->state, &expected, STEP_DONE);
    run_t *run = batch->run;
    if (!mine) {
        /* Timed out: the runner already settled the batch. */
        timer_cancel(batch->timeout);
        batch_free(batch);
        run_unref(run);
        return;
    }
    timer_cancel(batch->timeout);
    pipeline_t *p = run->pipeline;
    const char *step = p->config->steps[run->step]->name;
    metrics_observe(p->step_seconds[run->step],
                    (double)(monotonic_ns() - run->step_started_ns) / 1e9);
    char reason[160];
    if (rc != KEEL_OK) {
        snprintf(reason, sizeof reason, "step '%s' returned %d instead of KEEL_OK", step, rc);
        fail_batch(run, step, reason);
    } else {
        size_t missing = SIZE_MAX;
        for (size_t i = 0; i < batch->count && missing == SIZE_MAX; i++) {
            if (!batch->has_result[i])
                missing = i;
        }
        if (missing != SIZE_MAX) {
            snprintf(reason, sizeof reason, "step '%s' gave message %zu of %zu no result", step,
                     missing + 1, batch->count);
            fail_batch(run, step, reason);
        } else {
            for (size_t i = 0; i < batch->count; i++) {
                if (batch->results[i] != KEEL_OK)
                    set_reason(&run->messages[batch->index[i]], batch->results[i],
                               batch->reasons[i], step);
            }
        }
    }
    batch_free(batch);
    /* The runner's own reference keeps the run alive from here on. */
    run_unref(run);
    run->step++;
    /* An async step may complete on any thread (its own, a queue's, the
     * timer thread): the next step still runs on a worker. */
    workers_t *workers = p->kernel->workers;
    if (workers == NULL || workers_on_worker(workers) ||
        workers_submit(workers, run_step, run, NULL) != 0)
        run_step(run, NULL);
}

static keel_batch_t *new_batch(run_t *run)
{
    size_t alive = 0;
    for (size_t i = 0; i < run->count; i++)
        alive += run->messages[i].alive;
    if (alive == 0)
        return NULL;
    keel_batch_t *batch =
        calloc(1, sizeof *batch + alive * (sizeof(size_t) + sizeof(keel_result_t) + sizeof(char *) +
                                           sizeof(bool)));
    if (batch == NULL)
        return NULL;
    batch->run = run;
    batch->count = alive;
    batch->reasons = (char **)(batch + 1);
    batch->index = (size_t *)(batch->reasons + alive);
    batch->results = (keel_result_t *)(batch->index + alive);
    batch->has_result = (bool *)(batch->results + alive);
    atomic_init(&batch->state, STEP_RUNNING);
    pthread_mutex_init(&batch->lock, NULL);
    for (size_t i = 0, n = 0; i < run->count; i++) {
        if (run->messages[i].alive)
            batch->index[n++] = i;
    }
    return batch;
}

static void run_step(void *a, void *b)
{
    (void)b;
    run_t *run = a;
    pipeline_t *p = run->pipeline;
    bool any_alive = false;
    for (size_t i = 0; i < run->count; i++)
        any_alive |= run->messages[i].alive;
    if (run->step >= p->config->step_count || !any_alive) {
        finish_run(run);
        return;
    }
    keel_plugin_t *step = p->config->steps[run->step];
    keel_batch_t *batch = new_batch(run);
    if (batch == NULL) {
        fail_batch(run, step->name, "out of memory");
        finish_run(run);
        return;
    }
    atomic_fetch_add(&run->refs, 1); /* held by the step call */
    run->step_started_ns = monotonic_ns();
    if (timer_add(p->all->timers, p->config->timeout_ms, 0, step_timed_out, batch,
                  &batch->timeout) != 0)
        batch->timeout = NULL;
    int rc = step->module->desc.step(step->ctx, batch);
    if (rc != KEEL_ASYNC)
        step_finished(batch, rc);
}

/* ---- host API --------------------------------------------------------- */

size_t pipeline_batch_count(const keel_batch_t *batch)
{
    return batch ? batch->count : 0;
}

const keel_msg_t *pipeline_batch_message(const keel_batch_t *batch, size_t index)
{
    if (batch == NULL || index >= batch->count)
        return NULL;
    return &batch->run->messages[batch->index[index]].view;
}

uint32_t pipeline_batch_receive_count(const keel_batch_t *batch, size_t index)
{
    if (batch == NULL || index >= batch->count)
        return 0;
    return batch->run->messages[batch->index[index]].receive_count;
}

int pipeline_batch_result(keel_batch_t *batch, size_t index, keel_result_t result,
                          const char *reason)
{
    if (batch == NULL || index >= batch->count || (unsigned)result > KEEL_FAIL)
        return KEEL_EINVAL;
    char *copy = reason ? strdup(reason) : NULL;
    if (reason && copy == NULL)
        return KEEL_ENOMEM;
    pthread_mutex_lock(&batch->lock);
    free(batch->reasons[index]);
    batch->reasons[index] = copy;
    batch->results[index] = result;
    batch->has_result[index] = true;
    pthread_mutex_unlock(&batch->lock);
    return 0;
}

int pipeline_batch_set_body(keel_batch_t *batch, size_t index, const void *body, size_t len)
{
    if (batch == NULL || index >= batch->count || (body == NULL && len > 0))
        return KEEL_EINVAL;
    if (atomic_load(&batch->state) != STEP_RUNNING)
        return KEEL_ESTATE;
    run_message_t *m = &batch->run->messages[batch->index[index]];
    void *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return KEEL_ENOMEM;
    if (len)
        memcpy(copy, body, len);
    free(m->replaced_body);
    m->replaced_body = copy;
    m->view.body = copy;
    m->view.body_len = len;
    return 0;
}

int pipeline_batch_set_attr(keel_batch_t *batch, size_t index, const char *key, const char *value)
{
    if (batch == NULL || index >= batch->count || key == NULL || *key == '\0' || value == NULL)
        return KEEL_EINVAL;
    if (atomic_load(&batch->state) != STEP_RUNNING)
        return KEEL_ESTATE;
    run_message_t *m = &batch->run->messages[batch->index[index]];
    size_t at = 0;
    while (at < m->view.attr_count && strcmp(m->view.attrs[at].key, key) != 0)
        at++;
    size_t count = m->view.attr_count + (at == m->view.attr_count);
    char **strings = realloc(m->strings, (m->string_count + 2) * sizeof *strings);
    if (strings == NULL)
        return KEEL_ENOMEM;
    m->strings = strings;
    char *k = strdup(key), *v = strdup(value);
    keel_attr_t *attrs = k && v ? malloc(count * sizeof *attrs) : NULL;
    if (attrs == NULL) {
        free(k);
        free(v);
        return KEEL_ENOMEM;
    }
    if (m->view.attr_count > 0)
        memcpy(attrs, m->view.attrs, m->view.attr_count * sizeof *attrs);
    if (at < m->view.attr_count) {
        /* A key set again: drop the strings an earlier call copied. */
        for (size_t j = 0; j < m->string_count;) {
            if (m->strings[j] == m->view.attrs[at].key ||
                m->strings[j] == m->view.attrs[at].value) {
                free(m->strings[j]);
                m->strings[j] = m->strings[--m->string_count];
            } else {
                j++;
            }
        }
    }
    attrs[at] = (keel_attr_t){k, v};
    strings[m->string_count++] = k;
    strings[m->string_count++] = v;
    free(m->attrs);
    m->attrs = attrs;
    m->view.attrs = attrs;
    m->view.attr_count = count;
    return 0;
}

int pipeline_batch_complete(keel_batch_t *batch)
{
    if (batch == NULL)
        return KEEL_EINVAL;
    step_finished(batch, KEEL_OK);
    return 0;
}

/* ---- start and stop --------------------------------------------------- */

static int register_metrics(pipeline_t *p)
{
    metrics_registry_t *reg = p->kernel->metrics;
    char labels[160], result_labels[200];
    snprintf(labels, sizeof labels, "pipeline=\"%s\"", p->config->name);
    /* Steps take from tens of microseconds (confirm from a reserved block)
     * to seconds (a remote store): buckets fine enough for quantiles. */
    static const double seconds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                     1,      2.5,     5,      10,    30};
    int rc = 0;
    const char *help = "Messages settled by a pipeline, by result";
    snprintf(result_labels, sizeof result_labels, "%s,result=\"ok\"", labels);
    rc |= metrics_register(reg, METRIC_COUNTER, "keel_pipeline_messages_total", help, result_labels,
                           NULL, 0, &p->ok);
    snprintf(result_labels, sizeof result_labels, "%s,result=\"retry\"", labels);
    rc |= metrics_register(reg, METRIC_COUNTER, "keel_pipeline_messages_total", help, result_labels,
                           NULL, 0, &p->retried);
    snprintf(result_labels, sizeof result_labels, "%s,result=\"fail\"", labels);
    rc |= metrics_register(reg, METRIC_COUNTER, "keel_pipeline_messages_total", help, result_labels,
                           NULL, 0, &p->failed);
    rc |= metrics_register(reg, METRIC_COUNTER, "keel_pipeline_batch_failures_total",
                           "Batches failed whole (step error, timeout or missing result)", labels,
                           NULL, 0, &p->batch_failures);
    p->step_seconds =
        calloc(p->config->step_count ? p->config->step_count : 1, sizeof *p->step_seconds);
    if (p->step_seconds == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < p->config->step_count; i++) {
        char step_labels[320];
        snprintf(step_labels, sizeof step_labels, "%s,step=\"%s\"", labels,
                 p->config->steps[i]->name);
        rc |= metrics_register(reg, METRIC_HISTOGRAM, "keel_pipeline_step_seconds",
                               "Time a step took for one batch", step_labels, seconds,
                               sizeof seconds / sizeof seconds[0], &p->step_seconds[i]);
    }
    return rc ? KEEL_ENOMEM : 0;
}

/* Finds p's queue service and checks its source queue exists. A queue
 * name that does not exist would make every receive fail while the daemon
 * looks ready and orders pile up unprocessed. */
static int resolve_queue(pipeline_t *p)
{
    keel_service_t svc;
    int rc = services_lookup(p->kernel, NULL, p->config->queue_instance, KEEL_QUEUE_INTERFACE,
                             KEEL_VERSION(1, 0), &svc); /* locate() is not needed */
    if (rc != 0) {
        log_pipeline(p, KEEL_LOG_ERROR, "instance '%s' provides no queue service: %s",
                     p->config->queue_instance, host_api()->strerror(rc));
        return rc;
    }
    p->queue = svc.vtable;
    p->queue_ctx = svc.ctx;
    keel_queue_stats_t st;
    if (p->queue->stats(p->queue_ctx, p->config->source, &st) != KEEL_EINVAL)
        return 0;
    const char *names[16];
    size_t n = p->queue->list_queues(p->queue_ctx, names, 16);
    char known[512] = "";
    for (size_t q = 0, used = 0; q < n && q < 16 && used < sizeof known; q++) {
        int w = snprintf(known + used, sizeof known - used, "%s%s", q ? ", " : "", names[q]);
        used += w > 0 ? (size_t)w : 0;
    }
    log_pipeline(p, KEEL_LOG_ERROR,
                 "queue instance '%s' has no queue named '%s' (it has: %s); set the pipeline's "
                 "`source` to one of them",
                 p->config->queue_instance, p->config->source, known[0] ? known : "none");
    return KEEL_ENOTFOUND;
}

int pipelines_check(kernel_t *k, const pipeline_config_t *configs, size_t count)
{
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        pipeline_t p = {.config = &configs[i], .kernel = k};
        if (resolve_queue(&p) != 0)
            rc = KEEL_EFAILED;
    }
    return rc;
}

int pipelines_start(kernel_t *k, const pipeline_config_t *configs, size_t count, pipelines_t **out)
{
    pipelines_t *all = calloc(1, sizeof *all);
    if (all == NULL)
        return KEEL_ENOMEM;
    all->kernel = k;
    all->items = calloc(count ? count : 1, sizeof *all->items);
    all->timers = timer_owner_new(k->timers);
    pthread_mutex_init(&all->lock, NULL);
    pthread_cond_init(&all->idle, NULL);
    *out = all;
    if (all->items == NULL || all->timers == NULL)
        return KEEL_ENOMEM;
    all->count = count;
    for (size_t i = 0; i < count; i++) {
        pipeline_t *p = &all->items[i];
        p->config = &configs[i];
        p->kernel = k;
        p->all = all;
        int rc = resolve_queue(p);
        if (rc != 0)
            return rc;
        if ((rc = register_metrics(p)) != 0)
            return rc;
    }
    for (size_t i = 0; i < count; i++) {
        pipeline_t *p = &all->items[i];
        pthread_mutex_lock(&all->lock);
        all->active_pollers += p->config->concurrency;
        pthread_mutex_unlock(&all->lock);
        for (unsigned c = 0; c < p->config->concurrency; c++)
            poll_next(p);
        log_pipeline(p, KEEL_LOG_INFO,
                     "running: queue %s/%s, %zu step(s), batches of %u, %u "
                     "in flight",
                     p->config->queue_instance, p->config->source, p->config->step_count,
                     p->config->batch_size, p->config->concurrency);
    }
    return 0;
}

bool pipelines_stop(pipelines_t *all, uint64_t timeout_ms)
{
    if (all == NULL)
        return true;
    atomic_store(&all->stopping, true);
    struct timespec deadline = deadline_after_ms(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&all->lock);
    int rc = 0;
    while ((all->active_pollers > 0 || all->live_runs > 0) && rc == 0)
        rc = pthread_cond_timedwait(&all->idle, &all->lock, &deadline);
    bool idle = all->active_pollers == 0 && all->live_runs == 0;
    pthread_mutex_unlock(&all->lock);
    if (!idle) {
        logger_write(&all->kernel->log, KEEL_LOG_ERROR, "keel",
                     "pipelines: batches still running at the deadline; their messages return "
                     "to their queues after the visibility timeout");
        return false; /* still referenced by running batches: not freed */
    }
    timer_owner_free(all->timers);
    pthread_cond_destroy(&all->idle);
    pthread_mutex_destroy(&all->lock);
    for (size_t i = 0; i < all->count; i++)
        free(all->items[i].step_seconds);
    free(all->items);
    free(all);
    return true;
}
