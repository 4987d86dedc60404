/* orders.c — /api/v1/orders: create (POST), read one (GET /{id}) and list
 * a customer's orders (GET ?customer_id=). Present only when the `queue`,
 * `validate` and `store` instances are all configured.
 *
 * POST, on the loop: order_parse() (synchronous, no I/O), then the
 * idempotency check: store->peek_hash when the backend answers at once
 * (LMDB), else store->get; then the accepted table (accepted.h) for
 * orders accepted a moment ago. A new order is claimed in that table and
 * sent to the queue. The 202 leaves only after the queue reported the
 * message committed; its QUEUED record is written in the background,
 * started from the queue's callback, and the table answers for it until
 * the store has it (the pipeline creates the record too if this write is
 * lost in a crash). Provider callbacks copy what they need into the
 * pending call's data and post it back to the owning loop
 * (http_pending_post), where the answer is sent. */
#include "accepted.h"
#include "auth.h"
#include "http.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { LIST_DEFAULT_LIMIT = 20 };

/* What one order request keeps between its asynchronous steps. */
typedef struct order_call {
    http_server_t *srv;
    keel_order_t *order;          /* POST: the parsed order */
    char hash[AUTH_HASH_HEX + 1]; /* POST: SHA-256 of the canonical JSON */
    char *found_hash;             /* store->get: the stored payload hash */
    json_t *result;               /* a record or a page, built off-loop */
    bool second_look;             /* store->get again: the message had left the queue */
    bool looked_again;            /* store->get again: missed by the store and the table */
    bool duplicate;               /* queue->send: the dedup id was seen */
    bool owner;                   /* POST: holds the accepted-table claim (released when freed) */
    char message_id[KEEL_ID_LEN + 1]; /* queue->send */
} order_call_t;

static void order_call_free(void *data)
{
    order_call_t *c = data;
    if (c->owner) /* claimed, and the order was not accepted after all */
        accepted_release(c->srv->accepted, c->order->order_id);
    if (c->order != NULL)
        c->srv->validate->order_free(c->srv->validate_ctx, c->order);
    free(c->found_hash);
    json_decref(c->result);
    free(c);
}

static http_pending_t *order_pending(http_exchange_t *ex, http_pending_fn finish)
{
    http_pending_t *p = calloc(1, sizeof *p);
    order_call_t *c = calloc(1, sizeof *c);
    if (p == NULL || c == NULL) {
        free(p);
        free(c);
        http_error(ex, 500, "internal", "out of memory");
        return NULL;
    }
    c->srv = ex->loop->srv;
    p->ex = ex;
    p->loop = ex->loop;
    p->finish = finish;
    p->data = c;
    p->free_data = order_call_free;
    return p;
}

/* Answers p's exchange with an error and frees p (loop thread). */
static void order_fail(http_pending_t *p, int status, const char *code, const char *message)
{
    http_exchange_t *ex = p->ex;
    p->ex = NULL;
    if (status == 503)
        http_add_header(ex, "Retry-After", "1");
    http_error(ex, status, code, "%s", message);
    http_pending_free(p);
}

static void backend_fail(http_pending_t *p, const char *what, int rc)
{
    const keel_host_api_t *host = p->loop->srv->host;
    char message[256];
    snprintf(message, sizeof message, "%s: %s", what, host->strerror(rc));
    bool retry = rc == KEEL_EUNAVAIL || rc == KEEL_EIO || rc == KEEL_ESHUTDOWN ||
                 rc == KEEL_EFULL || rc == KEEL_ENOMEM;
    order_fail(p, retry ? 503 : 500, retry ? "unavailable" : "internal", message);
}

/* Answers p's exchange with j (consumed) and frees p (loop thread). */
static void order_send_json(http_pending_t *p, int status, json_t *j)
{
    http_exchange_t *ex = p->ex;
    p->ex = NULL;
    /* Stored money (decimal text, loaded as a double) prints exactly with 15
     * significant digits, far above validate's max_amount. */
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    if (text == NULL)
        http_error(ex, 500, "internal", "out of memory");
    else
        http_respond_json(ex, status, text);
    free(text);
    json_decref(j);
    http_pending_free(p);
}

/* A call could not start (rc != 0, its callback will not run). */
static void start_failed(http_pending_t *p, const char *what, int rc)
{
    atomic_fetch_sub(&p->loop->srv->outstanding, 1);
    backend_fail(p, what, rc);
}

static json_t *rfc3339(uint64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char text[64];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(text);
}

/* What an order shows: the stored status, except while the store still
 * says QUEUED. Then the queue holds the order and says where it is:
 * waiting (QUEUED), received by a worker (PROCESSING) or dead-lettered
 * (FAILED, with the DLQ's reason; a redrive brings it back to QUEUED).
 * Returns where the queue has it, KEEL_QUEUE_GONE when it no longer does. */
typedef struct shown {
    const char *status;
    const char *error;
    keel_queue_location_t at;
} shown_t;

static keel_queue_where_t order_shown(const http_server_t *srv, const keel_order_record_t *r,
                                      shown_t *out)
{
    out->status = r->status;
    out->error = r->error;
    out->at.where = KEEL_QUEUE_WAITING;
    if (strcmp(r->status, "QUEUED") != 0 || r->message_id == NULL || r->message_id[0] == '\0' ||
        !KEEL_HAS(srv->queue, keel_queue_api_t, locate) ||
        srv->queue->locate(srv->queue_ctx, srv->cfg.orders_queue, r->message_id, &out->at) != 0)
        return KEEL_QUEUE_WAITING; /* nothing better known */
    switch (out->at.where) {
    case KEEL_QUEUE_IN_FLIGHT:
        out->status = "PROCESSING";
        break;
    case KEEL_QUEUE_RETRYING:
        /* Back in the queue until its retry: no worker has it. */
        out->error = out->at.last_error;
        break;
    case KEEL_QUEUE_DEAD:
        out->status = "FAILED";
        out->error = out->at.last_error[0] ? out->at.last_error : "dead-lettered";
        break;
    case KEEL_QUEUE_GONE:
        /* Settled without being confirmed: purged or expired (a confirmed
         * order is stored CONFIRMED before its message is deleted). */
        out->status = "FAILED";
        out->error = "the order left the queue unconfirmed (purged or expired)";
        break;
    default:
        break;
    }
    return out->at.where;
}

/* The API object of a stored order (any thread). */
static json_t *record_json(const keel_order_record_t *r, const shown_t *shown)
{
    json_t *order = json_loadb(r->order_json, r->order_json_len, 0, NULL);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "order_id", r->order_id, "customer_id",
                  r->customer_id, "status", shown->status, "created_at", rfc3339(r->created_at_ms),
                  "updated_at", rfc3339(r->updated_at_ms), "order", order ? order : json_null());
    if (j == NULL)
        return NULL;
    if (r->confirmation_number[0] != '\0')
        json_object_set_new(j, "confirmation_number", json_string(r->confirmation_number));
    if (shown->error[0] != '\0')
        json_object_set_new(j, "error", json_string(shown->error));
    return j;
}

/* ---- GET /api/v1/orders/{id} ---- */

static void on_record(void *arg, int status, const keel_order_record_t *record)
{
    http_pending_t *p = arg;
    order_call_t *c = p->data;
    http_server_t *srv = c->srv;
    accepted_copy_t pending = {0};
    /* Not stored yet: accepted a moment ago, its record on the way? */
    if (status == KEEL_ENOTFOUND && c->order == NULL) {
        if (accepted_lookup(srv->accepted, p->ex->match.param, &pending) == 0) {
            status = 0;
            record = &pending.record;
        } else if (!c->looked_again) {
            /* The record may have been committed, and its table entry
             * released, between the store's read and this lookup: the
             * entry goes only after the commit, so a second read finds
             * an order accepted before the first one. */
            c->looked_again = true;
            if (srv->store->get(srv->store_ctx, p->ex->match.param, on_record, p) == 0)
                return;
        }
    }
    p->status = status;
    if (status == 0 && record != NULL) {
        shown_t shown;
        /* Gone from the queue: the store step may have confirmed it since
         * the store was read; read it once more before calling it lost. */
        if (order_shown(srv, record, &shown) == KEEL_QUEUE_GONE && !c->second_look) {
            c->second_look = true;
            if (srv->store->get(srv->store_ctx, record->order_id, on_record, p) == 0) {
                accepted_copy_free(&pending);
                return;
            }
        }
        c->result = record_json(record, &shown);
        c->found_hash = strdup(record->payload_hash);
        if (c->result == NULL || c->found_hash == NULL)
            p->status = KEEL_ENOMEM;
    }
    accepted_copy_free(&pending);
    http_pending_post(p);
}

/* Answers 200 with the JSON the provider's callback prepared. */
static void send_result(http_pending_t *p)
{
    order_call_t *c = p->data;
    json_t *j = c->result;
    c->result = NULL;
    order_send_json(p, 200, j);
}

static void get_done(http_pending_t *p)
{
    if (p->status == KEEL_ENOTFOUND) {
        char message[256];
        snprintf(message, sizeof message, "no order '%s'", p->ex->match.param);
        order_fail(p, 404, "not_found", message);
    } else if (p->status != 0) {
        backend_fail(p, "store", p->status);
    } else {
        send_result(p);
    }
}

static void order_get(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    http_pending_t *p = order_pending(ex, get_done);
    if (p == NULL)
        return;
    atomic_fetch_add(&srv->outstanding, 1);
    int rc = srv->store->get(srv->store_ctx, ex->match.param, on_record, p);
    if (rc != 0)
        start_failed(p, "store", rc);
}

/* ---- GET /api/v1/orders?customer_id=C&limit=N&cursor=K ---- */

static void on_page(void *arg, int status, const keel_order_record_t *records, size_t count,
                    const char *next_cursor)
{
    http_pending_t *p = arg;
    order_call_t *c = p->data;
    p->status = status;
    if (status == 0) {
        json_t *orders = json_array();
        for (size_t i = 0; orders && i < count; i++) {
            shown_t shown;
            if (order_shown(c->srv, &records[i], &shown) == KEEL_QUEUE_GONE) {
                /* Possibly confirmed since the page was read: show what
                 * the store had rather than a FAILED that may be stale. */
                shown.status = records[i].status;
                shown.error = records[i].error;
            }
            if (json_array_append_new(orders, record_json(&records[i], &shown)) != 0) {
                json_decref(orders);
                orders = NULL;
            }
        }
        c->result = orders ? json_pack("{s:o, s:o}", "orders", orders, "next_cursor",
                                       next_cursor ? json_string(next_cursor) : json_null())
                           : NULL;
        if (c->result == NULL)
            p->status = KEEL_ENOMEM;
    }
    http_pending_post(p);
}

static void list_done(http_pending_t *p)
{
    if (p->status == KEEL_EINVAL) {
        order_fail(p, 400, "bad_request", "invalid cursor");
    } else if (p->status != 0) {
        backend_fail(p, "store", p->status);
    } else {
        send_result(p);
    }
}

static void order_list(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    struct evkeyvalq query;
    http_page_t paging;
    if (!http_query_page(ex, &query, LIST_DEFAULT_LIMIT, KEEL_STORE_MAX_PAGE, &paging))
        return;
    const char *customer = evhttp_find_header(&query, "customer_id");
    if (customer == NULL || *customer == '\0') {
        evhttp_clear_headers(&query);
        http_error(ex, 400, "bad_request", "the customer_id query parameter is required");
        return;
    }
    http_pending_t *p = order_pending(ex, list_done);
    if (p == NULL) {
        evhttp_clear_headers(&query);
        return;
    }
    atomic_fetch_add(&srv->outstanding, 1);
    int rc = srv->store->query_customer(srv->store_ctx, customer, paging.cursor, paging.limit,
                                        on_page, p);
    evhttp_clear_headers(&query);
    if (rc == KEEL_EINVAL) {
        atomic_fetch_sub(&srv->outstanding, 1);
        order_fail(p, 400, "bad_request", "invalid cursor or customer_id");
    } else if (rc != 0) {
        start_failed(p, "store", rc);
    }
}

/* ---- POST /api/v1/orders ---- */

/* A warning about the store, at most once per 10 s with the count of the
 * ones held back, so an outage does not flood the log (any thread). */
static void store_warning(http_server_t *srv, const char *order_id, const char *what, int rc)
{
    uint64_t now = srv->host->now_ms(srv->self), due = atomic_load(&srv->store_warn_next_ms);
    if (now < due || !atomic_compare_exchange_strong(&srv->store_warn_next_ms, &due, now + 10000)) {
        atomic_fetch_add(&srv->store_warn_held, 1);
        return;
    }
    srv->host->log(srv->self, KEEL_LOG_WARN,
                   "order %s: %s (%s); the pipeline will store it (%llu more like this since "
                   "the last warning)",
                   order_id, what, srv->host->strerror(rc),
                   (unsigned long long)atomic_exchange(&srv->store_warn_held, 0));
}

/* {"order_id":ID,"status":"QUEUED"}: the hot path's answer, formatted
 * here rather than built and dumped by jansson. */
static void answer_queued(http_pending_t *p, int status)
{
    order_call_t *c = p->data;
    const char *id = c->order->order_id;
    if (status == 202) {
        char location[64 + KEEL_STORE_MAX_ID];
        snprintf(location, sizeof location, "/api/v1/orders/%s", id);
        http_add_header(p->ex, "Location", location);
    }
    /* Room for every byte escaped: ids are at most KEEL_STORE_MAX_ID. */
    char quoted[6 * KEEL_STORE_MAX_ID + 3], text[sizeof quoted + 64];
    if (http_json_quote(quoted, sizeof quoted, id) == 0) {
        order_fail(p, 500, "internal", "order id too long to answer");
        return;
    }
    snprintf(text, sizeof text, "{\"order_id\":%s,\"status\":\"QUEUED\"}", quoted);
    http_exchange_t *ex = p->ex;
    p->ex = NULL;
    http_respond_json(ex, status, text);
    http_pending_free(p);
}

static void conflict(http_pending_t *p)
{
    order_call_t *c = p->data;
    char message[256];
    snprintf(message, sizeof message, "order '%s' already exists with a different payload",
             c->order->order_id);
    order_fail(p, 409, "conflict", message);
}

static void send_done(http_pending_t *p)
{
    order_call_t *c = p->data;
    if (p->status == KEEL_EFULL)
        order_fail(p, 503, "queue_full", "the order queue is full; retry later");
    else if (p->status != 0)
        backend_fail(p, "queue", p->status);
    else
        answer_queued(p, c->duplicate ? 200 : 202);
}

/* The background write of a QUEUED record (store thread). */
typedef struct record_write {
    http_server_t *srv;
    bool owned; /* releases the accepted-table entry when done */
    char order_id[];
} record_write_t;

static void on_record_written(void *arg, int status, const keel_order_record_t *record)
{
    record_write_t *w = arg;
    http_server_t *srv = w->srv;
    (void)record;
    /* KEEL_EEXIST: the pipeline was faster and stored it already. */
    if (status != 0 && status != KEEL_EEXIST)
        store_warning(srv, w->order_id, "queued, but its QUEUED record was not written", status);
    if (w->owned)
        accepted_release(srv->accepted, w->order_id);
    free(w);
    atomic_fetch_sub(&srv->outstanding, 1);
}

/* The queue committed the order: store its QUEUED record, in the
 * background (queue thread; c->order is alive until p is answered). The
 * write takes over the claim of the accepted table, if c holds it. */
static void write_record(http_server_t *srv, order_call_t *c)
{
    bool owned = c->owner;
    c->owner = false;
    const keel_order_t *o = c->order;
    size_t id_len = strlen(o->order_id) + 1;
    record_write_t *w = malloc(sizeof *w + id_len);
    keel_order_record_t record = {
        .order_id = o->order_id,
        .customer_id = o->customer_id,
        .status = "QUEUED",
        .confirmation_number = "",
        .error = "",
        .payload_hash = c->hash,
        .order_json = o->canonical_json,
        .order_json_len = o->canonical_len,
        .message_id = c->message_id,
    };
    int rc = KEEL_ENOMEM;
    if (w != NULL) {
        w->srv = srv;
        w->owned = owned;
        memcpy(w->order_id, o->order_id, id_len);
        atomic_fetch_add(&srv->outstanding, 1);
        /* Nobody waits on it: a lazy put lets the store write many in one
         * commit (the accepted table answers for it meanwhile). */
        rc = KEEL_HAS(srv->store, keel_store_api_t, put_lazy)
                 ? srv->store->put_lazy(srv->store_ctx, &record, on_record_written, w)
                 : srv->store->put(srv->store_ctx, &record, on_record_written, w);
        if (rc == 0)
            return;
        atomic_fetch_sub(&srv->outstanding, 1);
        free(w);
    }
    store_warning(srv, o->order_id, "queued, but its QUEUED record was not written", rc);
    if (owned)
        accepted_release(srv->accepted, o->order_id);
}

static void on_sent(void *arg, const keel_queue_sent_t *results, size_t count)
{
    http_pending_t *p = arg;
    order_call_t *c = p->data;
    http_server_t *srv = c->srv;
    p->status = count == 1 ? results[0].status : KEEL_EFAILED;
    if (count == 1) {
        c->duplicate = results[0].duplicate;
        memcpy(c->message_id, results[0].message_id, sizeof c->message_id);
    }
    if (p->status == 0 && !c->duplicate) {
        if (c->owner)
            accepted_set_message(srv->accepted, c->order->order_id, c->message_id);
        write_record(srv, c);
    }
    http_pending_post(p); /* a claim still held is released when p is freed */
}

static void enqueue(http_pending_t *p)
{
    http_server_t *srv = p->loop->srv;
    order_call_t *c = p->data;
    const keel_order_t *o = c->order;
    /* The dedup id stands for (order_id, payload hash): the same order sent
     * twice within the queue's window is enqueued once (the second gets
     * 200). Hashed, so any order_id length fits the queue's limit. */
    char key[KEEL_STORE_MAX_ID + AUTH_HASH_HEX + 2], dedup[AUTH_HASH_HEX + 1];
    int key_len = snprintf(key, sizeof key, "%s:%s", o->order_id, c->hash);
    auth_sha256_hex(srv->sha256, key, (size_t)key_len, dedup);
    const keel_attr_t attrs[] = {
        {"order_id", o->order_id},
        {"customer_id", o->customer_id},
        {"payload_hash", c->hash},
    };
    keel_queue_entry_t entry = {
        .dedup_id = dedup,
        .attrs = attrs,
        .attr_count = sizeof attrs / sizeof attrs[0],
        .body = o->canonical_json, /* what the store step records */
        .body_len = o->canonical_len,
    };
    p->finish = send_done;
    atomic_fetch_add(&srv->outstanding, 1);
    int rc = srv->queue->send(srv->queue_ctx, srv->cfg.orders_queue, &entry, 1, on_sent, p);
    if (rc != 0)
        start_failed(p, "queue", rc);
}

/* Claims the order's id in the accepted table before the store is asked,
 * so two requests for one id cannot both find it absent: the claim is only
 * released once the store has the record (or the order was refused).
 * Returns false after answering 409 (another payload is being accepted
 * under this id) or 503. Loop thread. */
static bool claim(http_pending_t *p)
{
    http_server_t *srv = p->loop->srv;
    order_call_t *c = p->data;
    const keel_order_t *o = c->order;
    keel_order_record_t r = {
        .order_id = o->order_id,
        .customer_id = o->customer_id,
        .payload_hash = c->hash,
        .order_json = o->canonical_json,
        .order_json_len = o->canonical_len,
    };
    int rc = accepted_claim(srv->accepted, &r, srv->host->now_ms(srv->self));
    if (rc == KEEL_ECONFLICT) {
        conflict(p);
        return false;
    }
    if (rc == KEEL_ENOMEM) {
        backend_fail(p, "ingress", rc);
        return false;
    }
    c->owner = rc == 0; /* KEEL_EEXIST: the same order, in flight: the queue's dedup decides */
    return true;
}

static http_server_t *srv_of(http_pending_t *p)
{
    return p->loop->srv;
}

static void lookup_done(http_pending_t *p)
{
    order_call_t *c = p->data;
    if (p->status == KEEL_ENOTFOUND) {
        enqueue(p);
    } else if (p->status == KEEL_EUNAVAIL || p->status == KEEL_EIO || p->status == KEEL_ETIMEDOUT) {
        /* The store is down: accept the order anyway, it waits safely in
         * the queue. Idempotency then rests on the queue's dedup window
         * and on the store step, which dead-letters another payload under
         * a stored id instead of overwriting it. */
        store_warning(srv_of(p), c->order->order_id, "accepted without the idempotency check",
                      p->status);
        enqueue(p);
    } else if (p->status != 0) {
        backend_fail(p, "store", p->status);
    } else if (strcmp(c->found_hash, c->hash) != 0) {
        conflict(p);
    } else {
        send_result(p);
    }
}

/* Answers 400/422 for an order that failed to parse or validate. */
static void invalid_order(http_exchange_t *ex, const keel_order_t *o)
{
    const char *first = o->error_count > 0 ? o->errors[0].message : "invalid order";
    if (o->status == KEEL_EINVAL) {
        http_error(ex, 400, "malformed_json", "%s", first);
        return;
    }
    json_t *details = json_array();
    for (size_t i = 0; details && i < o->error_count; i++)
        json_array_append_new(details,
                              json_pack("{s:s, s:s, s:s}", "path", o->errors[i].path, "code",
                                        o->errors[i].code, "message", o->errors[i].message));
    json_t *j = details ? json_pack("{s:s, s:s, s:s, s:o}", "error", "validation_failed", "message",
                                    first, "request_id", ex->request_id, "details", details)
                        : NULL;
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text == NULL)
        http_error(ex, 500, "internal", "out of memory");
    else
        http_respond_json(ex, 422, text);
    free(text);
    json_decref(j);
}

static void order_create(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    if (atomic_load(&srv->draining)) {
        http_add_header(ex, "Retry-After", "1");
        http_error(ex, 503, "shutting_down", "keeld is stopping; send the order again later");
        return;
    }
    const char *body = http_json_body_checked(ex); /* order_parse needs no copy */
    if (body == NULL)
        return;
    char id[KEEL_ID_LEN + 1];
    srv->host->new_id(id);
    keel_order_t *order = NULL;
    int rc = srv->validate->order_parse(srv->validate_ctx, body, ex->body_len, id, &order);
    if (rc != 0 || order == NULL) {
        http_error(ex, 500, "internal", "validate: %s", srv->host->strerror(rc));
        return;
    }
    if (order->status != 0) {
        invalid_order(ex, order);
        srv->validate->order_free(srv->validate_ctx, order);
        return;
    }
    http_pending_t *p = order_pending(ex, lookup_done);
    if (p == NULL) {
        srv->validate->order_free(srv->validate_ctx, order);
        return;
    }
    order_call_t *c = p->data;
    c->order = order;
    auth_sha256_hex(srv->sha256, order->canonical_json, order->canonical_len, c->hash);
    if (!claim(p))
        return;
    /* Most orders are new: a backend that can tell at once saves the
     * round trip through its threads. */
    char found[AUTH_HASH_HEX + 1];
    rc = KEEL_HAS(srv->store, keel_store_api_t, peek_hash)
             ? srv->store->peek_hash(srv->store_ctx, order->order_id, found)
             : KEEL_EAGAIN;
    if (rc == KEEL_ENOTFOUND) {
        enqueue(p);
        return;
    }
    if (rc == 0 && strcmp(found, c->hash) != 0) {
        conflict(p);
        return;
    }
    /* Stored (answer with the record), or the backend must be asked. */
    p->finish = lookup_done;
    atomic_fetch_add(&srv->outstanding, 1);
    rc = srv->store->get(srv->store_ctx, order->order_id, on_record, p);
    if (rc != 0)
        start_failed(p, "store", rc);
}

void http_orders(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    if (srv->queue == NULL || srv->validate == NULL || srv->store == NULL) {
        http_error(ex, 404, "not_found", "no API route %s %s", ex->method_name, ex->path);
        return;
    }
    switch (ex->match.route) {
    case ROUTE_ORDERS_CREATE:
        order_create(ex);
        return;
    case ROUTE_ORDERS_LIST:
        order_list(ex);
        return;
    case ROUTE_ORDER_GET:
        order_get(ex);
        return;
    default:
        http_error(ex, 404, "not_found", "no such route");
        return;
    }
}
