/*
 * recover.c — after a crash, the QUEUED records the ingress accepted but
 * had not yet written. An order's record is written after its 202 (the
 * queue holds the order durably by then), lazily, a few milliseconds
 * later; a kill -9 or a power cut loses those still waiting. Without its
 * record, GET /api/v1/orders/{id} answers 404 until the order is
 * processed, and for good when it dead-letters.
 *
 * So at start, before the listeners open, the ingress lists every message
 * of the orders queue (waiting, in flight, delayed, dead-lettered) and
 * writes the QUEUED record of each order the store does not have, from
 * what the message carries (its attributes and canonical body). Before
 * the listeners: until then the store could not tell another payload
 * under a lost id (409) from a new order. It costs a read per queued order
 * at start (107,000 queued orders took 0.28 s with store_lmdb). put() never
 * overwrites: a record the pipeline wrote meanwhile stays. It needs a
 * store that can tell at once whether it has a record (peek_hash, as
 * store_lmdb); without one it does nothing, rather than asking a remote
 * store about every queued order.
 */
#include "auth.h"
#include "http.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { RECOVER_PAGE = 256 };

typedef struct http_recover {
    http_server_t *srv;
    pthread_mutex_t lock;
    pthread_cond_t done;
    size_t pending; /* puts whose callback has not run */
    size_t written, failed;
    int last_failure;
} http_recover_t;

static const char *attr(const keel_queue_listed_t *m, const char *key)
{
    for (size_t i = 0; i < m->attr_count; i++)
        if (strcmp(m->attrs[i].key, key) == 0)
            return m->attrs[i].value;
    return NULL;
}

static void on_put(void *arg, int status, const keel_order_record_t *record)
{
    http_recover_t *r = arg;
    http_server_t *srv = r->srv; /* r may be freed once the lock is released */
    (void)record;
    pthread_mutex_lock(&r->lock);
    if (status == 0)
        r->written++;
    else if (status != KEEL_EEXIST) { /* EEXIST: stored meanwhile */
        r->failed++;
        r->last_failure = status;
    }
    r->pending--;
    pthread_cond_signal(&r->done);
    pthread_mutex_unlock(&r->lock);
    atomic_fetch_sub(&srv->outstanding, 1);
}

/* Writes the record of one listed order when the store lacks it. */
static void recover_one(http_recover_t *r, const keel_queue_listed_t *m)
{
    http_server_t *srv = r->srv;
    const char *order_id = attr(m, "order_id"), *customer_id = attr(m, "customer_id"),
               *hash = attr(m, "payload_hash");
    char found[AUTH_HASH_HEX + 1];
    if (order_id == NULL || customer_id == NULL || hash == NULL ||
        srv->store->peek_hash(srv->store_ctx, order_id, found) != KEEL_ENOTFOUND)
        return; /* not an order of ours, or stored (or the store cannot say) */
    keel_order_record_t record = {
        .order_id = order_id,
        .customer_id = customer_id,
        .status = "QUEUED",
        .confirmation_number = "",
        .error = "",
        .payload_hash = hash,
        .order_json = m->body,
        .order_json_len = m->body_len,
        .message_id = m->message_id,
    };
    pthread_mutex_lock(&r->lock);
    r->pending++;
    pthread_mutex_unlock(&r->lock);
    atomic_fetch_add(&srv->outstanding, 1);
    int rc = srv->store->put(srv->store_ctx, &record, on_put, r);
    if (rc != 0)
        on_put(r, rc, NULL);
}

static void recover_all(http_recover_t *r)
{
    http_server_t *srv = r->srv;
    char cursor[64] = "";
    size_t listed = 0;
    int rc = 0;
    for (;;) {
        keel_queue_list_page_t *page = NULL;
        rc = srv->queue->list_messages(srv->queue_ctx, srv->cfg.orders_queue,
                                       cursor[0] ? cursor : NULL, RECOVER_PAGE, &page);
        if (rc != 0)
            break;
        for (size_t i = 0; i < page->count; i++)
            recover_one(r, &page->messages[i]);
        listed += page->count;
        bool more = page->next_cursor != NULL;
        if (more && strlen(page->next_cursor) >= sizeof cursor) {
            srv->host->log(srv->self, KEEL_LOG_WARN,
                           "queue '%s' hands out cursors too long to follow; order records "
                           "lost in a crash were recovered only from its first %zu messages",
                           srv->cfg.orders_queue, listed);
            more = false;
        } else if (more) {
            strcpy(cursor, page->next_cursor);
        }
        srv->queue->list_page_free(srv->queue_ctx, page);
        /* The page's records were written: the store never holds more than
         * a page of them for us. */
        pthread_mutex_lock(&r->lock);
        while (r->pending > 0)
            pthread_cond_wait(&r->done, &r->lock);
        pthread_mutex_unlock(&r->lock);
        if (!more)
            break;
    }
    if (rc != 0)
        srv->host->log(srv->self, KEEL_LOG_WARN,
                       "could not list queue '%s' to recover lost order records: %s",
                       srv->cfg.orders_queue, srv->host->strerror(rc));
    if (r->written > 0 || r->failed > 0)
        srv->host->log(srv->self, r->failed ? KEEL_LOG_WARN : KEEL_LOG_INFO,
                       "recovered %zu QUEUED order record(s) lost in a crash (of %zu queued "
                       "order(s))%s%s",
                       r->written, listed, r->failed ? "; could not write some: " : "",
                       r->failed ? srv->host->strerror(r->last_failure) : "");
}

int http_recover(http_server_t *srv)
{
    if (srv->queue == NULL || srv->store == NULL || srv->validate == NULL ||
        !KEEL_HAS(srv->queue, keel_queue_api_t, list_page_free) ||
        !KEEL_HAS(srv->store, keel_store_api_t, peek_hash))
        return 0; /* nothing to recover with */
    http_recover_t r = {.srv = srv};
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.done, NULL);
    recover_all(&r);
    pthread_cond_destroy(&r.done);
    pthread_mutex_destroy(&r.lock);
    return 0;
}
