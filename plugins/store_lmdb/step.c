/*
 * step.c — store_lmdb as a pipeline step: confirms a batch of queued
 * orders (see "As a pipeline step" in keel/store.h). Each message becomes
 * one SL_CONFIRM request on the writer lane, so a batch shares its commit
 * with everything else waiting; the step completes asynchronously when
 * the last answer came back, from the writer thread.
 */
#include "store_lmdb.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct step_batch step_batch_t;

typedef struct step_item {
    step_batch_t *owner;
    size_t index;
} step_item_t;

struct step_batch {
    sl_t *sl;
    keel_batch_t *batch;
    atomic_size_t left; /* answers still due, +1 while the step is still queueing */
    step_item_t items[];
};

static const char *attr(const keel_msg_t *msg, const char *key)
{
    for (size_t i = 0; i < msg->attr_count; i++)
        if (strcmp(msg->attrs[i].key, key) == 0)
            return msg->attrs[i].value;
    return NULL;
}

/* One answer fewer; the last one finishes the batch. */
static void item_done(step_batch_t *sb)
{
    if (atomic_fetch_sub(&sb->left, 1) != 1)
        return;
    sb->sl->host->batch_complete(sb->batch);
    free(sb);
}

static void on_confirmed(void *arg, int status, const keel_order_record_t *record)
{
    step_item_t *item = arg;
    step_batch_t *sb = item->owner;
    const keel_host_api_t *host = sb->sl->host;
    if (status == 0) {
        /* The number that counts is the stored one (a redelivery keeps
         * its first number). */
        host->batch_set_attr(sb->batch, item->index, "confirmation_number",
                             record->confirmation_number);
        host->batch_result(sb->batch, item->index, KEEL_OK, NULL);
    } else if (status == KEEL_ECONFLICT) {
        host->batch_result(sb->batch, item->index, KEEL_FAIL,
                           "store: the order_id is already stored with another payload");
    } else {
        char reason[128];
        snprintf(reason, sizeof reason, "store: %s", host->strerror(status));
        host->batch_result(sb->batch, item->index, KEEL_RETRY, reason);
    }
    item_done(sb);
}

/* Queues the confirm write of message i, or gives it its result now. */
static void confirm_one(step_batch_t *sb, size_t i)
{
    sl_t *sl = sb->sl;
    const keel_host_api_t *host = sl->host;
    const keel_msg_t *msg = host->batch_message(sb->batch, i);
    keel_order_record_t r = {
        .order_id = attr(msg, "order_id"),
        .customer_id = attr(msg, "customer_id"),
        .status = "CONFIRMED",
        .confirmation_number = attr(msg, "confirmation_number"),
        .payload_hash = attr(msg, "payload_hash"),
        .order_json = msg->body,
        .order_json_len = msg->body_len,
        .message_id = msg->id,
    };
    if (r.confirmation_number == NULL || r.confirmation_number[0] == '\0') {
        host->batch_result(sb->batch, i, KEEL_FAIL,
                           "store: no confirmation_number attribute (is the confirm step "
                           "before the store step?)");
        return;
    }
    if (!sl_record_valid(&r)) {
        host->batch_result(sb->batch, i, KEEL_FAIL,
                           "store: not an order message (needs the attributes order_id, "
                           "customer_id and payload_hash, and the order JSON as body)");
        return;
    }
    sl_req_t *req = sl_new_record_request(sl, SL_CONFIRM, &r);
    int rc = KEEL_ENOMEM;
    if (req != NULL) {
        req->done.record = on_confirmed;
        req->arg = &sb->items[i];
        atomic_fetch_add(&sb->left, 1);
        if ((rc = sl_submit_write(sl, req)) == 0)
            return;
        atomic_fetch_sub(&sb->left, 1);
    }
    char reason[128];
    snprintf(reason, sizeof reason, "store: %s", host->strerror(rc));
    host->batch_result(sb->batch, i, KEEL_RETRY, reason);
}

int sl_step(void *ctx, keel_batch_t *batch)
{
    sl_t *sl = ctx;
    size_t count = sl->host->batch_count(batch);
    step_batch_t *sb = malloc(sizeof *sb + count * sizeof sb->items[0]);
    if (sb == NULL)
        return KEEL_ENOMEM;
    sb->sl = sl;
    sb->batch = batch;
    atomic_init(&sb->left, 1);
    for (size_t i = 0; i < count; i++) {
        sb->items[i] = (step_item_t){sb, i};
        confirm_one(sb, i);
    }
    if (atomic_fetch_sub(&sb->left, 1) != 1)
        return KEEL_ASYNC; /* the last answer completes it */
    free(sb);
    return KEEL_OK;
}
