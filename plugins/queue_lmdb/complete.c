/*
 * complete.c — what happens after a group's txn: the writer's bookkeeping
 * (parking long polls, task progress, sweep rescheduling), then the
 * callers' callbacks, which run on a completion thread so that the writer
 * can start the next txn at once. Callbacks run in commit order.
 */
#include "queue_lmdb.h"

#include <stdlib.h>
#include <string.h>

int completer_init(ql_t *ql)
{
    pthread_mutex_init(&ql->done_lock, NULL);
    return pthread_cond_init(&ql->done_wake, NULL) == 0 ? 0 : KEEL_ENOMEM;
}

void completer_destroy(ql_t *ql)
{
    pthread_cond_destroy(&ql->done_wake);
    pthread_mutex_destroy(&ql->done_lock);
}

static void task_free(ql_task_t *task)
{
    for (size_t i = 0; i < task->id_count; i++)
        free(task->ids[i]);
    free(task->ids);
    free(task);
}

/* Runs a request's callback and frees it. */
static void run_callback(ql_t *ql, ql_request_t *req)
{
    int status = req->dropped ? req->status : 0;
    switch (req->kind) {
    case QL_REQ_SEND:
        req->u.send.done(req->arg, req->u.send.results, req->u.send.count);
        break;
    case QL_REQ_RECEIVE: {
        ql_batch_t *batch = req->u.receive.batch;
        req->u.receive.batch = NULL;
        if (status != 0) {
            ql_batch_free(batch);
        } else if (batch == NULL && (batch = calloc(1, sizeof *batch)) != NULL) {
            batch->pub.messages = batch->messages;
        }
        if (status == 0 && batch == NULL)
            status = KEEL_ENOMEM;
        req->u.receive.done(req->arg, status, status == 0 ? &batch->pub : NULL);
        break;
    }
    case QL_REQ_SETTLE:
        req->u.settle.done(req->arg, status, req->u.settle.statuses, req->u.settle.count);
        break;
    case QL_REQ_VISIBILITY:
        req->u.visibility.done(req->arg, req->dropped ? status : req->u.visibility.result, 1);
        break;
    case QL_REQ_TASK: {
        ql_task_t *task = req->u.task;
        if (task->kind == QL_TASK_REDRIVE) { /* the next redrive may start */
            pthread_mutex_lock(&ql->lock);
            task->queue->redriving = false;
            pthread_mutex_unlock(&ql->lock);
        }
        task->done(task->arg, status, task->affected);
        task_free(task);
        return;
    }
    case QL_REQ_SWEEP:
        return;
    }
    free(req);
}

/* Writer: queues a request's callback. */
static void deliver(ql_t *ql, ql_request_t *req)
{
    req->next = NULL;
    if (ql->outbox_tail)
        ql->outbox_tail->next = req;
    else
        ql->outbox_head = req;
    ql->outbox_tail = req;
}

void completer_flush(ql_t *ql)
{
    ql_request_t *list = ql->outbox_head;
    if (list == NULL)
        return;
    ql->outbox_head = ql->outbox_tail = NULL;
    if (!ql->completer_running) {
        while (list) {
            ql_request_t *req = list;
            list = req->next;
            run_callback(ql, req);
        }
        return;
    }
    pthread_mutex_lock(&ql->done_lock);
    ql_request_t *last = list;
    while (last->next)
        last = last->next;
    if (ql->inbox_tail)
        ql->inbox_tail->next = list;
    else
        ql->inbox_head = list;
    ql->inbox_tail = last;
    ql->inbox_flushes++;
    atomic_fetch_add(&ql->callbacks_running, 1);
    pthread_cond_signal(&ql->done_wake);
    pthread_mutex_unlock(&ql->done_lock);
}

/* Completer: a burst of callbacks ran; the writer may be holding its next
 * group back for the requests those callbacks made (see writer_main). */
static void callbacks_done(ql_t *ql, size_t groups)
{
    atomic_fetch_sub(&ql->callbacks_running, (unsigned)groups);
    pthread_mutex_lock(&ql->lock);
    if (ql->writer_sleeping)
        pthread_cond_signal(&ql->wake);
    pthread_mutex_unlock(&ql->lock);
}

static void *completer_main(void *arg)
{
    ql_t *ql = arg;
    pthread_mutex_lock(&ql->done_lock);
    for (;;) {
        while (ql->inbox_head == NULL && !ql->completer_stopping)
            pthread_cond_wait(&ql->done_wake, &ql->done_lock);
        ql_request_t *list = ql->inbox_head;
        size_t groups = ql->inbox_flushes;
        ql->inbox_head = ql->inbox_tail = NULL;
        ql->inbox_flushes = 0;
        if (list == NULL)
            break; /* stopping, and everything ran */
        pthread_mutex_unlock(&ql->done_lock);
        while (list) {
            ql_request_t *req = list;
            list = req->next;
            run_callback(ql, req);
        }
        callbacks_done(ql, groups);
        pthread_mutex_lock(&ql->done_lock);
    }
    pthread_mutex_unlock(&ql->done_lock);
    return NULL;
}

int completer_start(ql_t *ql)
{
    if (pthread_create(&ql->completer, NULL, completer_main, ql) != 0)
        return KEEL_ENOMEM;
    ql->completer_running = true;
    return 0;
}

void completer_stop(ql_t *ql)
{
    completer_flush(ql);
    if (!ql->completer_running)
        return;
    pthread_mutex_lock(&ql->done_lock);
    ql->completer_stopping = true;
    pthread_cond_signal(&ql->done_wake);
    pthread_mutex_unlock(&ql->done_lock);
    pthread_join(ql->completer, NULL);
    ql->completer_running = false;
}

/* ---- the writer's bookkeeping ---- */

static void park(ql_queue_t *q, ql_request_t *req)
{
    req->next = NULL;
    if (q->waiters_tail)
        q->waiters_tail->next = req;
    else
        q->waiters_head = req;
    q->waiters_tail = req;
}

void complete_task(ql_t *ql, ql_task_t *task, int status)
{
    if (task->listed) {
        ql_task_t **link = &ql->tasks;
        while (*link != task)
            link = &(*link)->next;
        *link = task->next;
        task->listed = false;
    }
    task->request.dropped = status != 0;
    task->request.status = status;
    deliver(ql, &task->request);
}

static void task_progress(ql_t *ql, ql_task_t *task)
{
    task->started = task->step.started;
    task->finished = task->step.finished;
    task->has_end = task->step.has_end;
    task->has_resume = task->step.has_resume;
    task->watermark_seq = task->step.watermark_seq;
    task->affected = task->step.affected;
    memcpy(task->end_key, task->step.end_key, 16);
    memcpy(task->resume_key, task->step.resume_key, 16);
    if (task->finished) {
        complete_task(ql, task, 0);
    } else if (!task->listed) {
        task->listed = true;
        task->next = ql->tasks;
        ql->tasks = task;
    }
}

void complete_group(ql_t *ql, ql_request_t *list, bool sweep_more)
{
    uint64_t now_mono = ql_monotonic_ms();
    while (list) {
        ql_request_t *req = list;
        list = req->next;
        int status = req->dropped ? req->status : 0;
        switch (req->kind) {
        case QL_REQ_SEND:
            for (size_t i = 0; i < req->u.send.count; i++) {
                keel_queue_sent_t *result = &req->u.send.results[i];
                if (req->dropped) {
                    result->status = status;
                    result->duplicate = false;
                }
                if (result->status == KEEL_EFULL)
                    ql->host->metric_add(req->queue->metrics.full, 1);
            }
            deliver(ql, req);
            break;
        case QL_REQ_RECEIVE:
            if (status == 0 && req->u.receive.batch->pub.count == 0 &&
                req->u.receive.wait_until_mono_ms > now_mono)
                park(req->queue, req);
            else
                deliver(ql, req);
            break;
        case QL_REQ_SETTLE:
            if (req->dropped)
                for (size_t i = 0; i < req->u.settle.count; i++)
                    req->u.settle.statuses[i] = status;
            deliver(ql, req);
            break;
        case QL_REQ_VISIBILITY:
            deliver(ql, req);
            break;
        case QL_REQ_SWEEP:
            if (ql->env) {
                int dead = 0;
                mdb_reader_check(ql->env, &dead);
            }
            pthread_mutex_lock(&ql->lock);
            ql->sweep_queued = false;
            pthread_mutex_unlock(&ql->lock);
            if (!req->dropped && sweep_more)
                writer_request_sweep(ql);
            break;
        case QL_REQ_TASK:
            if (req->dropped)
                complete_task(ql, req->u.task, status);
            else
                task_progress(ql, req->u.task);
            break;
        }
    }
}

void complete_expired_waiters(ql_t *ql, uint64_t now_mono, bool all)
{
    for (size_t i = 0; i < ql->queue_count; i++) {
        ql_queue_t *q = &ql->queues[i];
        ql_request_t **link = &q->waiters_head, *last = NULL;
        while (*link) {
            ql_request_t *req = *link;
            if (all || req->u.receive.wait_until_mono_ms <= now_mono) {
                *link = req->next;
                req->dropped = false;
                deliver(ql, req);
            } else {
                last = req;
                link = &req->next;
            }
        }
        q->waiters_tail = last;
    }
}
