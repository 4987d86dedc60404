/*
 * lanes.c — a lane is a request queue drained by one thread: each wake-up
 * takes every waiting request and hands the whole batch to the lane's run
 * function (the writer group-commits it, the reader reads it). A lane
 * with a group delay (the writer's commit_delay, like PostgreSQL's
 * commit_delay/commit_siblings) holds a batch back briefly under
 * concurrent load so that one commit carries more requests; one with a
 * lazy delay holds a batch of lazy puts only (records nobody waits on)
 * until the oldest has waited that long, an eager request comes or
 * SL_LAZY_MAX are pending, so that a stream of them costs one commit per
 * delay instead of one per wake-up. stop()
 * refuses new requests, ends any such wait, lets the thread drain what was
 * accepted and joins.
 */
#include "store_lmdb.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

void sl_req_free(sl_req_t *req)
{
    free(req->key);
    free(req->cursor);
    free(req->value);
    for (int i = 0; i < 3; i++)
        free(req->upd[i]);
    sl_rec_free(&req->rec);
    for (size_t i = 0; i < req->page_count; i++)
        sl_rec_free(&req->page[i]);
    free(req->page);
    free(req->next_cursor);
    free(req);
}

/* Runs the callback with the request's result, then frees the request. */
void sl_req_finish(sl_req_t *req)
{
    switch (req->op) {
    case SL_PUT:
    case SL_UPDATE:
    case SL_GET:
    case SL_CONFIRM:
        req->done.record(req->arg, req->status, req->rec.mem != NULL ? &req->rec.r : NULL);
        break;
    case SL_QUERY: {
        keel_order_record_t *records = NULL;
        if (req->status == 0 && req->page_count > 0) {
            records = calloc(req->page_count, sizeof *records);
            if (records == NULL)
                req->status = KEEL_ENOMEM;
            for (size_t i = 0; records != NULL && i < req->page_count; i++)
                records[i] = req->page[i].r;
        }
        if (req->status == 0)
            req->done.page(req->arg, 0, records, req->page_count, req->next_cursor);
        else
            req->done.page(req->arg, req->status, NULL, 0, NULL);
        free(records);
        break;
    }
    case SL_SEQUENCE:
        req->done.sequence(req->arg, req->status, req->status == 0 ? req->first : 0,
                           req->status == 0 ? req->number : 0);
        break;
    }
    sl_req_free(req);
}

static uint64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Whether the batch about to be taken should wait for more requests: only
 * under concurrent load (the previous batch held several and the lane has
 * not been idle since for longer than the delay), so that an isolated
 * request never pays the delay. */
static bool group_worth_delaying(const sl_lane_t *lane, uint64_t woke_ns)
{
    return lane->delay_ns > 0 && !lane->closing && lane->pending < SL_GROUP_MAX &&
           lane->last_batch >= 2 && woke_ns - lane->last_done_ns <= lane->delay_ns;
}

/* Lock held, requests pending: holds the batch back until delay_ns after
 * `woke_ns`, SL_GROUP_MAX pending or closing, whichever comes first. */
static void gather(sl_lane_t *lane, uint64_t woke_ns)
{
    uint64_t deadline_ns = woke_ns + lane->delay_ns;
    struct timespec deadline = {(time_t)(deadline_ns / 1000000000u),
                                (long)(deadline_ns % 1000000000u)};
    lane->delaying = true;
    lane->delayed_groups++;
    while (!lane->closing && lane->pending < SL_GROUP_MAX)
        if (pthread_cond_timedwait(&lane->wake, &lane->lock, &deadline) == ETIMEDOUT)
            break;
    lane->delaying = false;
}

/* Lock held, only lazy requests pending: holds them until lazy_ns after
 * the oldest arrived, an eager request, SL_LAZY_MAX pending or closing. */
static void hold_lazy(sl_lane_t *lane)
{
    uint64_t deadline_ns = lane->first_ns + lane->lazy_ns;
    struct timespec deadline = {(time_t)(deadline_ns / 1000000000u),
                                (long)(deadline_ns % 1000000000u)};
    lane->holding = true;
    while (!lane->closing && lane->eager == 0 && lane->pending < SL_LAZY_MAX)
        if (pthread_cond_timedwait(&lane->wake, &lane->lock, &deadline) == ETIMEDOUT)
            break;
    lane->holding = false;
}

static void *lane_main(void *arg)
{
    sl_lane_t *lane = arg;
    pthread_mutex_lock(&lane->lock);
    for (;;) {
        while (lane->head == NULL && !lane->closing)
            pthread_cond_wait(&lane->wake, &lane->lock);
        if (lane->head == NULL)
            break; /* closing and drained */
        if (lane->lazy_ns > 0 && lane->eager == 0)
            hold_lazy(lane);
        if (lane->delay_ns > 0 && lane->eager > 0) {
            uint64_t woke_ns = monotonic_ns();
            if (group_worth_delaying(lane, woke_ns))
                gather(lane, woke_ns);
        }
        sl_req_t *batch = lane->head;
        lane->last_batch = lane->pending;
        lane->head = lane->tail = NULL;
        lane->pending = lane->eager = 0;
        pthread_mutex_unlock(&lane->lock);
        lane->run(lane->sl, batch);
        uint64_t done_ns = lane->delay_ns > 0 ? monotonic_ns() : 0;
        pthread_mutex_lock(&lane->lock);
        lane->last_done_ns = done_ns;
    }
    pthread_mutex_unlock(&lane->lock);
    return NULL;
}

int sl_lane_start(sl_t *sl, sl_lane_t *lane, void (*run)(sl_t *, sl_req_t *), uint64_t delay_ms,
                  uint64_t lazy_ms)
{
    lane->sl = sl;
    lane->run = run;
    lane->delay_ns = delay_ms * 1000000u;
    lane->lazy_ns = lazy_ms * 1000000u;
    pthread_mutex_init(&lane->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&lane->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&lane->thread, NULL, lane_main, lane) != 0) {
        lane->closing = true;
        return KEEL_ENOMEM;
    }
    lane->running = true;
    return 0;
}

int sl_lane_push(sl_lane_t *lane, sl_req_t *req)
{
    pthread_mutex_lock(&lane->lock);
    if (lane->closing || !lane->running) {
        pthread_mutex_unlock(&lane->lock);
        return KEEL_ESHUTDOWN;
    }
    req->next = NULL;
    if (lane->tail != NULL) {
        lane->tail->next = req;
    } else {
        lane->head = req;
        if (lane->lazy_ns > 0)
            lane->first_ns = monotonic_ns();
    }
    lane->tail = req;
    lane->pending++;
    lane->eager += !req->lazy;
    bool wake = lane->holding    ? !req->lazy || lane->pending >= SL_LAZY_MAX
                : lane->delaying ? lane->pending >= SL_GROUP_MAX
                                 : true;
    if (wake)
        pthread_cond_signal(&lane->wake);
    pthread_mutex_unlock(&lane->lock);
    return 0;
}

/* Idempotent. Only for a lane whose sl_lane_start() ran. */
void sl_lane_stop(sl_lane_t *lane)
{
    pthread_mutex_lock(&lane->lock);
    bool join = lane->running && !lane->closing;
    lane->closing = true;
    pthread_cond_signal(&lane->wake);
    pthread_mutex_unlock(&lane->lock);
    if (join)
        pthread_join(lane->thread, NULL);
}
