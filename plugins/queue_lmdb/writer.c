/*
 * writer.c — the one thread that writes. Requests wait in two FIFOs, sends
 * and everything else; the writer takes what is waiting (up to
 * max_batch_per_commit requests) into ONE write txn, commits it
 * (fdatasync), then hands the callbacks to the completion thread: group
 * commit, so a send completes only after its commit and many sends share
 * one sync. While consumers' requests wait, sends get a bounded share of
 * each group (QL_SEND_SHARE entries), so a flood of producers cannot
 * starve the receives and settles that drain the queue.
 *
 * A request whose operation fails inside the txn must not poison the
 * others: LMDB needs the txn aborted after a failed put, so the group is
 * redone without that request (without every send when the map is full).
 * Long polls that found nothing are parked per queue and retried when a
 * commit makes messages visible, or every QL_POLL_TICK_MS to catch due
 * delays and expired visibility; purge and redrive tasks run one bounded
 * step per group.
 */
#include "queue_lmdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t ql_monotonic_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

uint64_t ql_monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

void ql_batch_free(ql_batch_t *batch)
{
    if (batch == NULL)
        return;
    for (size_t i = 0; i < batch->pub.count; i++)
        free(batch->blocks[i]);
    free(batch);
}

int writer_init(ql_t *ql)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&ql->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return KEEL_ENOMEM;
    pthread_mutex_init(&ql->lock, NULL);
    if (completer_init(ql) < 0)
        return KEEL_ENOMEM;
    ql->sweep_request.kind = QL_REQ_SWEEP;
    ql->accepting = true;
    return 0;
}

void writer_destroy(ql_t *ql)
{
    completer_destroy(ql);
    pthread_cond_destroy(&ql->wake);
    pthread_mutex_destroy(&ql->lock);
}

/* Caller holds the lock. */
static void append_locked(ql_t *ql, ql_request_t *req)
{
    ql_lane_t *lane = &ql->lanes[req->kind == QL_REQ_SEND ? QL_LANE_SENDS : QL_LANE_OTHERS];
    req->next = NULL;
    if (lane->tail)
        lane->tail->next = req;
    else
        lane->head = req;
    lane->tail = req;
    if (ql->writer_sleeping)
        pthread_cond_signal(&ql->wake);
}

int writer_submit(ql_t *ql, ql_request_t *req)
{
    bool send = req->kind == QL_REQ_SEND;
    pthread_mutex_lock(&ql->lock);
    int rc = !ql->accepting                                ? KEEL_ESHUTDOWN
             : send && ql->waiting_sends >= QL_MAX_WAITING ? KEEL_EFULL
                                                           : 0;
    if (rc == 0) {
        ql->waiting_sends += send;
        append_locked(ql, req);
    }
    pthread_mutex_unlock(&ql->lock);
    return rc;
}

void writer_request_sweep(ql_t *ql)
{
    pthread_mutex_lock(&ql->lock);
    if (ql->accepting && !ql->sweep_queued) {
        ql->sweep_queued = true;
        append_locked(ql, &ql->sweep_request);
    }
    pthread_mutex_unlock(&ql->lock);
}

void writer_pause(ql_t *ql, bool paused)
{
    pthread_mutex_lock(&ql->lock);
    ql->paused = paused;
    pthread_cond_signal(&ql->wake);
    pthread_mutex_unlock(&ql->lock);
}

/* ---- one group ---- */

static void reset_outputs(ql_request_t *req)
{
    if (req->kind == QL_REQ_RECEIVE && req->u.receive.batch) {
        ql_batch_t *batch = req->u.receive.batch;
        for (size_t i = 0; i < batch->pub.count; i++)
            free(batch->blocks[i]);
        batch->pub.count = 0;
    }
}

static int execute(ql_wtxn_t *w, ql_request_t *req, bool *sweep_more)
{
    switch (req->kind) {
    case QL_REQ_SEND:
        return ops_send(w, req);
    case QL_REQ_RECEIVE:
        if (req->u.receive.batch == NULL) {
            req->u.receive.batch = calloc(1, sizeof(ql_batch_t));
            if (req->u.receive.batch == NULL)
                return ENOMEM;
            req->u.receive.batch->pub.messages = req->u.receive.batch->messages;
        }
        return ops_receive(w, req);
    case QL_REQ_SETTLE:
        return ops_settle(w, req);
    case QL_REQ_VISIBILITY:
        return ops_change_visibility(w, req);
    case QL_REQ_SWEEP:
        return sweep_run(w, sweep_more);
    case QL_REQ_TASK:
        return sweep_task_step(w, req->u.task);
    }
    return EINVAL;
}

static void drop(ql_request_t *req, int status)
{
    reset_outputs(req);
    req->dropped = true;
    req->status = status;
}

/* Counters and next_seq, written last in the txn; gauges captured. */
static int finish_txn(ql_wtxn_t *w)
{
    ql_t *ql = w->ql;
    int rc = 0;
    for (size_t i = 0; i < ql->queue_count && rc == 0; i++) {
        ql_queue_t *q = &ql->queues[i];
        if (!q->dirty)
            continue;
        if (memcmp(&q->working, &q->committed, sizeof q->working) != 0)
            rc = store_write_counters(w->txn, ql, q);
        if (!q->gauges.fresh)
            sweep_capture_gauges(w, q, false);
    }
    if (rc == 0 && w->next_seq != ql->next_seq)
        rc = store_write_next_seq(w->txn, ql, w->next_seq);
    return rc;
}

static void publish_counters(ql_t *ql, ql_queue_t *q)
{
    const keel_host_api_t *host = ql->host;
    const ql_counters_t *a = &q->committed, *b = &q->working;
    struct {
        keel_metric_t *metric;
        uint64_t before, after;
    } deltas[] = {
        {q->metrics.sent, a->sent, b->sent},
        {q->metrics.received, a->received, b->received},
        {q->metrics.deleted, a->deleted, b->deleted},
        {q->metrics.retried, a->retried, b->retried},
        {q->metrics.dead_lettered, a->dead_lettered, b->dead_lettered},
        {q->metrics.redriven, a->redriven, b->redriven},
        {q->metrics.expired, a->expired, b->expired},
    };
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++)
        if (deltas[i].after > deltas[i].before)
            host->metric_add(deltas[i].metric, (double)(deltas[i].after - deltas[i].before));
}

static void undo_dedup(ql_wtxn_t *w)
{
    while (w->undo_count > 0)
        dedup_undo(&w->undo[--w->undo_count]);
}

static bool group_has_sends(ql_request_t *list)
{
    for (ql_request_t *r = list; r; r = r->next)
        if (!r->dropped && r->kind == QL_REQ_SEND)
            return true;
    return false;
}

static void maybe_reopen(ql_t *ql)
{
    uint64_t now = ql_monotonic_ms();
    if (now < ql->next_reopen_mono_ms)
        return;
    ql->next_reopen_mono_ms = now + 1000;
    store_reopen(ql);
}

/* At most one line a second: a full disk fails every commit, and a log
 * that fills the same disk helps nobody. */
static void log_commit_failure(ql_t *ql, int rc)
{
    uint64_t now = ql_monotonic_ms();
    ql->commit_failures++;
    if (now < ql->next_commit_failure_log_ms)
        return;
    ql->next_commit_failure_log_ms = now + 1000;
    ql->host->log(ql->self, KEEL_LOG_ERROR, "commit failed: %s (%llu failed commit(s) so far)",
                  mdb_strerror(rc), (unsigned long long)ql->commit_failures);
}

/* Runs the group in one txn, redoing it without failing requests. Returns
 * how many requests were committed. */
static size_t run_txn(ql_t *ql, ql_request_t *list, ql_wtxn_t *w, bool *sweep_more)
{
    int group_status = 0;
    bool reopened = false;
    w->now_ms = ql->host->now_ms(ql->self);
    for (;;) {
        for (ql_request_t *r = list; r; r = r->next)
            if (!r->dropped)
                reset_outputs(r);
        for (size_t i = 0; i < ql->queue_count; i++) {
            ql->queues[i].dirty = false;
            ql->queues[i].gauges.fresh = false;
        }
        w->undo_count = 0;
        w->next_seq = ql->next_seq;
        if (ql->env == NULL)
            maybe_reopen(ql);
        if (ql->env == NULL) {
            group_status = KEEL_EUNAVAIL;
            break;
        }
        w->space_left = store_space_left(ql); /* sends and redrives draw on it */
        int rc = mdb_txn_begin(ql->env, NULL, 0, &w->txn);
        if (rc == MDB_PANIC && !reopened) {
            reopened = true;
            store_reopen(ql);
            continue;
        }
        if (rc != 0) {
            ql->host->log(ql->self, KEEL_LOG_ERROR, "cannot begin a write txn: %s",
                          mdb_strerror(rc));
            group_status = lmdb_status(rc);
            break;
        }
        ql_request_t *failed = NULL;
        for (ql_request_t *r = list; r && rc == 0; r = r->next)
            if (!r->dropped && (rc = execute(w, r, sweep_more)) != 0)
                failed = r;
        if (rc == 0)
            rc = finish_txn(w);
        if (rc != 0) {
            mdb_txn_abort(w->txn);
            undo_dedup(w);
            int status = lmdb_status(rc);
            if (rc == MDB_MAP_FULL && group_has_sends(list)) {
                for (ql_request_t *r = list; r; r = r->next)
                    if (!r->dropped && r->kind == QL_REQ_SEND)
                        drop(r, KEEL_EFULL);
            } else if (failed) {
                if (rc != MDB_MAP_FULL)
                    ql->host->log(ql->self, KEEL_LOG_ERROR,
                                  "queue '%s': a request failed in its txn: %s; redoing the "
                                  "others",
                                  failed->queue ? failed->queue->name : "-", mdb_strerror(rc));
                drop(failed, status);
            } else {
                group_status = status;
                break;
            }
            continue;
        }
        rc = mdb_txn_commit(w->txn); /* aborts the txn when it fails */
        if (rc == MDB_MAP_FULL && group_has_sends(list)) {
            undo_dedup(w);
            for (ql_request_t *r = list; r; r = r->next)
                if (!r->dropped && r->kind == QL_REQ_SEND)
                    drop(r, KEEL_EFULL);
            continue;
        }
        if (rc != 0) {
            undo_dedup(w);
            log_commit_failure(ql, rc);
            /* A panicked env is unusable: reopen it now. EIO also comes from
             * a short write on a full disk, on every commit while it stays
             * full: reopen (and rebuild the dedup index) at most once a
             * second, as for a missing env. */
            if (rc == MDB_PANIC)
                store_reopen(ql);
            else if (rc == EIO)
                maybe_reopen(ql);
            /* A full disk or a failing device: shed the sends, which only
             * add data, and redo the rest, whose deletes free space. */
            if ((rc == ENOSPC || rc == EIO || rc == MDB_PANIC) && group_has_sends(list)) {
                for (ql_request_t *r = list; r; r = r->next)
                    if (!r->dropped && r->kind == QL_REQ_SEND)
                        drop(r, lmdb_status(rc));
                continue;
            }
            group_status = lmdb_status(rc);
            break;
        }
        ql->next_seq = w->next_seq;
        for (size_t i = 0; i < ql->queue_count; i++) {
            ql_queue_t *q = &ql->queues[i];
            if (q->dirty) {
                publish_counters(ql, q);
                q->committed = q->working;
                q->dirty = false;
            }
        }
        w->undo_count = 0;
        sweep_publish_gauges(ql);
        break;
    }
    size_t committed = 0;
    for (ql_request_t *r = list; r; r = r->next) {
        if (group_status != 0 && !r->dropped)
            drop(r, group_status);
        committed += !r->dropped;
    }
    return committed;
}

static void run_group(ql_t *ql, ql_request_t *list)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ql_wtxn_t w = {.ql = ql};
    bool sweep_more = false;
    size_t committed = run_txn(ql, list, &w, &sweep_more);
    free(w.undo);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (committed > 0) {
        double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        ql->host->metric_observe(ql->commit_batch, (double)committed);
        ql->host->metric_observe(ql->commit_seconds, seconds);
        atomic_fetch_add(&ql->commits, 1);
        atomic_fetch_add(&ql->committed_requests, committed);
    }
    complete_group(ql, list, sweep_more);
}

/* ---- the loop ---- */

static bool has_timed_work(const ql_t *ql)
{
    if (ql->tasks)
        return true;
    for (size_t i = 0; i < ql->queue_count; i++)
        if (ql->queues[i].waiters_head)
            return true;
    return false;
}

/* A commit made messages visible in a queue with parked receives. */
static bool waiters_can_run(const ql_t *ql)
{
    for (size_t i = 0; i < ql->queue_count; i++)
        if (ql->queues[i].waiters_head && ql->queues[i].ready_added)
            return true;
    return false;
}

/* Takes up to `max` requests (the sweep not counted) and up to `entries`
 * send entries from a lane; sets ql->taken. Caller holds the lock. */
static ql_request_t *take(ql_t *ql, ql_lane_t *lane, size_t max, size_t entries)
{
    ql_request_t *first = lane->head, *last = NULL;
    size_t taken = 0, sent = 0;
    for (ql_request_t *r = first; r && taken < max; r = r->next) {
        size_t n = r->kind == QL_REQ_SEND ? r->u.send.count : 0;
        if (sent > 0 && sent + n > entries)
            break;
        sent += n;
        last = r;
        taken += r != &ql->sweep_request;
    }
    ql->taken = taken;
    if (last == NULL)
        return NULL;
    lane->head = last->next;
    if (lane->head == NULL)
        lane->tail = NULL;
    last->next = NULL;
    return first;
}

/* Builds the next group: the sends taken, parked receives worth retrying,
 * runnable task steps, then the other requests in arrival order. */
static ql_request_t *build_group(ql_t *ql, ql_request_t *sends, ql_request_t *others, bool tick)
{
    ql_request_t *head = sends, **tail = &head;
    while (*tail)
        tail = &(*tail)->next;
    for (size_t i = 0; i < ql->queue_count; i++) {
        ql_queue_t *q = &ql->queues[i];
        if (q->waiters_head && (tick || q->ready_added)) {
            *tail = q->waiters_head;
            tail = &q->waiters_tail->next;
            q->waiters_head = q->waiters_tail = NULL;
        }
        q->ready_added = false;
    }
    uint64_t now_ms = ql->host->now_ms(ql->self);
    for (ql_task_t *task = ql->tasks; task; task = task->next) {
        if (sweep_task_runnable(ql, task, now_ms)) {
            *tail = &task->request;
            tail = &task->request.next;
        }
    }
    *tail = others;
    for (ql_request_t *r = head; r; r = r->next)
        r->dropped = false;
    return head;
}

/*
 * Group commit works best when a group holds everyone who is ready. Right
 * after a commit, the completion thread runs that group's callbacks, and
 * producers answered there send again at once: taking the first of those
 * requests alone would commit groups of one or two. So while callbacks
 * are running, wait (briefly, bounded) for them to finish, then take
 * everything that arrived. Caller holds the lock.
 */
static void hold_for_callbacks(ql_t *ql)
{
    if (atomic_load(&ql->callbacks_running) == 0 || ql->stopping)
        return;
    uint64_t deadline_us = ql_monotonic_us() + QL_HOLD_FOR_CALLBACKS_US;
    struct timespec until = {(time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000};
    ql->writer_sleeping = true;
    while (atomic_load(&ql->callbacks_running) > 0 && !ql->stopping &&
           pthread_cond_timedwait(&ql->wake, &ql->lock, &until) == 0) {
    }
    ql->writer_sleeping = false;
}

static void *writer_main(void *arg)
{
    ql_t *ql = arg;
    uint64_t next_tick = 0;
    for (;;) {
        pthread_mutex_lock(&ql->lock);
        for (;;) {
            bool hold = ql->paused && !ql->stopping;
            bool queued = ql->lanes[0].head || ql->lanes[1].head;
            if (queued && !hold)
                break;
            if (ql->stopping && !queued)
                break;
            uint64_t now = ql_monotonic_ms();
            bool timed = !hold && has_timed_work(ql);
            if (timed && (now >= next_tick || waiters_can_run(ql)))
                break;
            ql->writer_sleeping = true;
            if (timed) {
                struct timespec until = {(time_t)(next_tick / 1000),
                                         (long)(next_tick % 1000) * 1000000};
                pthread_cond_timedwait(&ql->wake, &ql->lock, &until);
            } else {
                pthread_cond_wait(&ql->wake, &ql->lock);
            }
            ql->writer_sleeping = false;
        }
        hold_for_callbacks(ql);
        ql_request_t *others =
            take(ql, &ql->lanes[QL_LANE_OTHERS], ql->max_batch_per_commit, SIZE_MAX);
        size_t taken_others = ql->taken;
        /* Producers must not starve consumers: when other requests wait,
         * sends get a bounded share of the group. */
        ql_request_t *sends =
            take(ql, &ql->lanes[QL_LANE_SENDS], ql->max_batch_per_commit - taken_others,
                 taken_others || has_timed_work(ql) ? QL_SEND_SHARE : SIZE_MAX);
        ql->waiting_sends -= ql->taken;
        bool stop_now = ql->stopping && !ql->lanes[0].head && !ql->lanes[1].head;
        pthread_mutex_unlock(&ql->lock);

        uint64_t now = ql_monotonic_ms();
        complete_expired_waiters(ql, now, false);
        bool tick = now >= next_tick;
        if (tick)
            next_tick = now + QL_POLL_TICK_MS;
        ql_request_t *group = build_group(ql, sends, others, tick);
        if (group)
            run_group(ql, group);
        completer_flush(ql);
        if (stop_now)
            break;
    }
    complete_expired_waiters(ql, 0, true);
    while (ql->tasks)
        complete_task(ql, ql->tasks, KEEL_ESHUTDOWN);
    completer_flush(ql);
    return NULL;
}

int writer_start(ql_t *ql)
{
    if (completer_start(ql) < 0)
        return KEEL_ENOMEM;
    if (pthread_create(&ql->writer, NULL, writer_main, ql) != 0) {
        completer_stop(ql);
        return KEEL_ENOMEM;
    }
    ql->writer_running = true;
    return 0;
}

void writer_stop(ql_t *ql)
{
    pthread_mutex_lock(&ql->lock);
    ql->accepting = false;
    ql->stopping = true;
    pthread_cond_signal(&ql->wake);
    pthread_mutex_unlock(&ql->lock);
    if (ql->writer_running) {
        pthread_join(ql->writer, NULL);
        ql->writer_running = false;
    } else if (ql->env) {
        writer_main(ql); /* never started: answer what was queued */
    }
    completer_stop(ql);
}
