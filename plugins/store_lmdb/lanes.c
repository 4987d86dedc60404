/*
 * lanes.c — a lane is a request queue drained by one thread: each wake-up
 * takes every waiting request and hands the whole batch to the lane's run
 * function (the writer group-commits it, the reader reads it). stop()
 * refuses new requests, lets the thread drain what was accepted and joins.
 */
#include "store_lmdb.h"

#include <stdlib.h>

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

static void *lane_main(void *arg)
{
    sl_lane_t *lane = arg;
    pthread_mutex_lock(&lane->lock);
    for (;;) {
        while (lane->head == NULL && !lane->closing)
            pthread_cond_wait(&lane->wake, &lane->lock);
        if (lane->head == NULL)
            break; /* closing and drained */
        sl_req_t *batch = lane->head;
        lane->head = lane->tail = NULL;
        pthread_mutex_unlock(&lane->lock);
        lane->run(lane->sl, batch);
        pthread_mutex_lock(&lane->lock);
    }
    pthread_mutex_unlock(&lane->lock);
    return NULL;
}

int sl_lane_start(sl_t *sl, sl_lane_t *lane, void (*run)(sl_t *, sl_req_t *))
{
    lane->sl = sl;
    lane->run = run;
    pthread_mutex_init(&lane->lock, NULL);
    pthread_cond_init(&lane->wake, NULL);
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
    if (lane->tail != NULL)
        lane->tail->next = req;
    else
        lane->head = req;
    lane->tail = req;
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
