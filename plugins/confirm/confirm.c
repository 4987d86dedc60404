/*
 * confirm.c — the `confirm` pipeline step: gives every order of a batch a
 * confirmation number, passed on to the next step (the store) as the
 * attribute `confirmation_number`.
 *
 * Numbers come from a store sequence, reserved in blocks (sequence_next is
 * durable before it answers), so a number is never handed out twice: not
 * after a crash (the rest of a reserved block is skipped) and not by
 * several nodes sharing one store. The next block is fetched in the
 * background when the current one runs low, so batches seldom wait. A
 * redelivered order gets a fresh number here, and the store step keeps
 * the one it stored first: the number an order shows never changes.
 */
#include "number.h"

#include <keel/keel.h>
#include <keel/store.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MIN_BLOCK = 10, MAX_BLOCK = 1000000 };

typedef struct waiter {
    struct waiter *next;
    keel_batch_t *batch;
    uint64_t first; /* once served */
} waiter_t;

typedef struct confirm {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    const keel_store_api_t *store;
    void *store_ctx;
    const char *sequence;
    uint64_t block;
    confirm_format_t *format;
    keel_metric_t *m_numbers, *m_blocks;

    pthread_mutex_t lock;
    uint64_t next, end;              /* the current block: [next, end) */
    uint64_t spare_first, spare_end; /* a block fetched ahead (empty when equal) */
    bool fetching;
    int last_error;            /* of the last failed fetch, for health */
    waiter_t *waiting, **tail; /* batches waiting for numbers, FIFO */
} confirm_t;

static const keel_config_key_t confirm_keys[] = {
    {"store", KEEL_CFG_INSTANCE, NULL, "store instance whose sequence numbers the orders",
     KEEL_CFG_REQUIRED, NULL},
    {"sequence", KEEL_CFG_STRING, "confirmation", "name of the store sequence", 0, NULL},
    {"block", KEEL_CFG_INT, "1000",
     "numbers reserved per store write (10..1000000); a crash skips the rest of a block", 0, NULL},
    {"format", KEEL_CFG_STRING, CONFIRM_DEFAULT_FORMAT,
     "number format: {yyyy} {yy} {mm} {dd} (UTC day), {seq} (required), {check} (Damm digit "
     "over the digits before it); other text is literal",
     0, NULL},
    {"sequence_digits", KEEL_CFG_INT, "8", "{seq} is zero-padded to at least this many digits", 0,
     NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static void fetch(confirm_t *c);

/* Takes n numbers, or returns false (lock held). */
static bool take(confirm_t *c, size_t n, uint64_t *first)
{
    if (c->end - c->next < n && c->spare_end > c->spare_first) {
        /* The rest of the current block (fewer than a batch) is skipped. */
        c->next = c->spare_first;
        c->end = c->spare_end;
        c->spare_first = c->spare_end = 0;
    }
    if (c->end - c->next < n)
        return false;
    *first = c->next;
    c->next += n;
    return true;
}

/* Starts fetching the next block if it will be needed soon (lock held). */
static void maybe_fetch(confirm_t *c)
{
    bool low = c->end - c->next < c->block / 2 && c->spare_end == c->spare_first;
    if (!c->fetching && (low || c->waiting != NULL))
        fetch(c);
}

/* Numbers the batch's messages first, first + 1, ... and finishes them. */
static void number_batch(confirm_t *c, keel_batch_t *batch, uint64_t first)
{
    const keel_host_api_t *host = c->host;
    size_t n = host->batch_count(batch);
    int64_t now_s = (int64_t)(host->now_ms(c->self) / 1000);
    for (size_t i = 0; i < n; i++) {
        char number[KEEL_STORE_MAX_ID];
        int len = confirm_format_render(c->format, first + i, now_s, number, sizeof number);
        int rc =
            len < 0 ? KEEL_EINVAL : host->batch_set_attr(batch, i, "confirmation_number", number);
        if (rc == 0)
            host->batch_result(batch, i, KEEL_OK, NULL);
        else
            host->batch_result(batch, i, KEEL_RETRY, "confirm: cannot attach the number");
    }
    host->metric_add(c->m_numbers, n);
}

static void retry_batch(confirm_t *c, keel_batch_t *batch, int status)
{
    char reason[128];
    snprintf(reason, sizeof reason, "confirm: no confirmation numbers: store sequence: %s",
             c->host->strerror(status));
    size_t n = c->host->batch_count(batch);
    for (size_t i = 0; i < n; i++)
        c->host->batch_result(batch, i, KEEL_RETRY, reason);
}

/* Finishes served (status 0) or failed batches, outside the lock. */
static void finish(confirm_t *c, waiter_t *list, int status)
{
    while (list != NULL) {
        waiter_t *w = list;
        list = w->next;
        if (status == 0)
            number_batch(c, w->batch, w->first);
        else
            retry_batch(c, w->batch, status);
        c->host->batch_complete(w->batch);
        free(w);
    }
}

static void on_block(void *arg, int status, uint64_t first, uint64_t count)
{
    confirm_t *c = arg;
    waiter_t *served = NULL, **served_tail = &served, *failed = NULL;
    pthread_mutex_lock(&c->lock);
    c->fetching = false;
    c->last_error = status;
    if (status == 0) {
        c->host->metric_add(c->m_blocks, 1);
        if (c->next == c->end) {
            c->next = first;
            c->end = first + count;
        } else {
            c->spare_first = first;
            c->spare_end = first + count;
        }
        /* Serve the waiting batches in order, as far as the numbers go. */
        while (c->waiting != NULL &&
               take(c, c->host->batch_count(c->waiting->batch), &c->waiting->first)) {
            waiter_t *w = c->waiting;
            c->waiting = w->next;
            w->next = NULL;
            *served_tail = w;
            served_tail = &w->next;
        }
        maybe_fetch(c);
    } else {
        failed = c->waiting; /* retried later by the queue */
        c->waiting = NULL;
    }
    if (c->waiting == NULL)
        c->tail = &c->waiting;
    pthread_mutex_unlock(&c->lock);
    if (status != 0)
        c->host->log(c->self, KEEL_LOG_WARN, "cannot reserve confirmation numbers: %s",
                     c->host->strerror(status));
    finish(c, served, 0);
    finish(c, failed, status);
}

/* Asks the store for the next block (lock held). */
static void fetch(confirm_t *c)
{
    c->fetching = true;
    int rc = c->store->sequence_next(c->store_ctx, c->sequence, c->block, on_block, c);
    if (rc != 0) {
        /* No callback will come: the waiting batches are answered by the
         * caller's next look (step), or retried now. */
        c->fetching = false;
        c->last_error = rc;
    }
}

static int confirm_step(void *ctx, keel_batch_t *batch)
{
    confirm_t *c = ctx;
    size_t n = c->host->batch_count(batch);
    uint64_t first = 0;
    pthread_mutex_lock(&c->lock);
    if (c->waiting == NULL && take(c, n, &first)) {
        maybe_fetch(c);
        pthread_mutex_unlock(&c->lock);
        number_batch(c, batch, first);
        return KEEL_OK;
    }
    waiter_t *w = calloc(1, sizeof *w);
    if (w == NULL) {
        pthread_mutex_unlock(&c->lock);
        return KEEL_ENOMEM;
    }
    w->batch = batch;
    *c->tail = w;
    c->tail = &w->next;
    maybe_fetch(c);
    int rc = c->fetching ? 0 : c->last_error;
    if (rc != 0) {
        /* The fetch could not even start: answer the waiting batches now. */
        waiter_t *failed = c->waiting;
        c->waiting = NULL;
        c->tail = &c->waiting;
        pthread_mutex_unlock(&c->lock);
        finish(c, failed, rc);
        return KEEL_ASYNC; /* this batch, too, was completed by finish() */
    }
    pthread_mutex_unlock(&c->lock);
    return KEEL_ASYNC;
}

static int confirm_health(void *ctx, char *why, size_t why_len)
{
    confirm_t *c = ctx;
    pthread_mutex_lock(&c->lock);
    int rc = c->last_error;
    pthread_mutex_unlock(&c->lock);
    if (rc == 0)
        return 0;
    snprintf(why, why_len, "cannot reserve confirmation numbers from the store: %s",
             c->host->strerror(rc));
    return KEEL_EUNAVAIL;
}

static void confirm_destroy(void *ctx)
{
    confirm_t *c = ctx;
    if (c == NULL)
        return;
    confirm_format_free(c->format);
    pthread_mutex_destroy(&c->lock);
    c->host->free(c);
}

static int confirm_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    confirm_t *c = host->calloc(1, sizeof *c);
    if (c == NULL)
        return KEEL_ENOMEM;
    c->self = self;
    c->host = host;
    pthread_mutex_init(&c->lock, NULL);
    c->tail = &c->waiting;
    const char *store = NULL, *format = CONFIRM_DEFAULT_FORMAT;
    int64_t block = 1000, digits = 8;
    c->sequence = "confirmation";
    host->config_string(self, "store", &store);
    host->config_string(self, "sequence", &c->sequence);
    host->config_string(self, "format", &format);
    host->config_int(self, "block", &block);
    host->config_int(self, "sequence_digits", &digits);
    if (block < MIN_BLOCK || block > MAX_BLOCK) {
        host->log(self, KEEL_LOG_ERROR, "block: %lld is not in %d..%d", (long long)block, MIN_BLOCK,
                  MAX_BLOCK);
        goto invalid;
    }
    c->block = (uint64_t)block;
    if (c->sequence[0] == '\0' || strlen(c->sequence) > KEEL_STORE_MAX_ID) {
        host->log(self, KEEL_LOG_ERROR, "sequence: the name must have 1..%d characters",
                  KEEL_STORE_MAX_ID);
        goto invalid;
    }
    int rc;
    char err[256];
    if (digits < 1 || digits > 20) {
        host->log(self, KEEL_LOG_ERROR, "sequence_digits: %lld is not in 1..20", (long long)digits);
        goto invalid;
    }
    if (confirm_format_parse(format, (unsigned)digits, &c->format, err, sizeof err) != 0) {
        host->log(self, KEEL_LOG_ERROR, "format '%s': %s", format, err);
        goto invalid;
    }
    keel_service_t svc;
    /* Uses 2.0's functions only: any 2.x provider will do. */
    rc = host->service_lookup(self, store, KEEL_STORE_INTERFACE, KEEL_VERSION(2, 0), &svc);
    if (rc != 0) {
        host->log(self, KEEL_LOG_ERROR, "store: instance '%s' has no store service: %s", store,
                  host->strerror(rc));
        goto fail;
    }
    c->store = svc.vtable;
    c->store_ctx = svc.ctx;
    if ((rc = host->metric_counter(self, "keel_confirm_numbers_total",
                                   "confirmation numbers handed out", NULL, &c->m_numbers)) < 0 ||
        (rc = host->metric_counter(self, "keel_confirm_blocks_total",
                                   "blocks of numbers reserved in the store", NULL, &c->m_blocks)) <
            0)
        goto fail;
    *ctx = c;
    return 0;
invalid:
    rc = KEEL_EINVAL;
fail:
    confirm_destroy(c);
    return rc;
}

KEEL_PLUGIN_DECLARE(.name = "confirm", .version = "1.0.0",
                    .description = "pipeline step: gives each order a unique confirmation number",
                    .config_keys = confirm_keys, .init = confirm_init, .destroy = confirm_destroy,
                    .health = confirm_health, .step = confirm_step);
