/*
 * store_client.h — a synchronous client of the "store" service for tests:
 * records copied out of callbacks, wrappers that wait (sc_put, sc_get,
 * sc_update, sc_query, sc_seq) and order fixtures with per-run unique ids.
 * Used by the conformance suite (store_conformance.h) and by pipeline
 * tests that look at what the store step wrote.
 */
#ifndef STORE_CLIENT_H
#define STORE_CLIENT_H

#include <keel/harness.h>
#include <keel/store.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define SC_WAIT_S 30

typedef struct sc {
    keel_harness_t *h;
    const keel_store_api_t *api;
    void *ctx;
    char prefix[48]; /* unique per run */
} sc_t;

/* A record copied out of a callback. */
typedef struct sc_rec {
    char *order_id, *customer_id, *status, *confirmation_number, *error, *payload_hash;
    char *order_json;
    size_t order_json_len;
    char *message_id;
    uint64_t created_at_ms, updated_at_ms, version;
} sc_rec_t;

typedef struct sc_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int calls;
    int status;
    sc_rec_t rec; /* order_id NULL when no record came */
    sc_rec_t *page;
    size_t count;
    char *next_cursor;
    uint64_t first, seq_count;
} sc_wait_t;

static inline char *sc_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static inline void sc_rec_copy(sc_rec_t *d, const keel_order_record_t *r)
{
    d->order_id = sc_dup(r->order_id, strlen(r->order_id));
    d->customer_id = sc_dup(r->customer_id, strlen(r->customer_id));
    d->status = sc_dup(r->status, strlen(r->status));
    d->confirmation_number = sc_dup(r->confirmation_number, strlen(r->confirmation_number));
    d->error = sc_dup(r->error, strlen(r->error));
    d->payload_hash = sc_dup(r->payload_hash, strlen(r->payload_hash));
    d->order_json = sc_dup(r->order_json, r->order_json_len);
    d->order_json_len = r->order_json_len;
    d->message_id = sc_dup(r->message_id, strlen(r->message_id));
    d->created_at_ms = r->created_at_ms;
    d->updated_at_ms = r->updated_at_ms;
    d->version = r->version;
}

static inline void sc_rec_free(sc_rec_t *r)
{
    free(r->order_id), free(r->customer_id), free(r->status);
    free(r->confirmation_number), free(r->error), free(r->payload_hash), free(r->order_json);
    free(r->message_id);
    memset(r, 0, sizeof *r);
}

static inline void sc_wait_init(sc_wait_t *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

static inline void sc_wait_free(sc_wait_t *w)
{
    sc_rec_free(&w->rec);
    for (size_t i = 0; i < w->count; i++)
        sc_rec_free(&w->page[i]);
    free(w->page);
    free(w->next_cursor);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

static inline void sc_signal(sc_wait_t *w)
{
    w->calls++;
    w->done = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static inline void sc_on_record(void *arg, int status, const keel_order_record_t *record)
{
    sc_wait_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    if (record != NULL && w->rec.order_id == NULL)
        sc_rec_copy(&w->rec, record);
    sc_signal(w);
}

static inline void sc_on_page(void *arg, int status, const keel_order_record_t *records,
                              size_t count, const char *next_cursor)
{
    sc_wait_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    if (w->page == NULL && count > 0 && (w->page = calloc(count, sizeof *w->page)) != NULL) {
        for (size_t i = 0; i < count; i++)
            sc_rec_copy(&w->page[i], &records[i]);
        w->count = count;
    }
    if (next_cursor != NULL && w->next_cursor == NULL)
        w->next_cursor = sc_dup(next_cursor, strlen(next_cursor));
    sc_signal(w);
}

static inline void sc_on_sequence(void *arg, int status, uint64_t first, uint64_t count)
{
    sc_wait_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->first = first;
    w->seq_count = count;
    sc_signal(w);
}

/* Waits up to SC_WAIT_S for the callback; false on timeout. Any thread. */
static inline bool sc_wait(sc_wait_t *w)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SC_WAIT_S;
    pthread_mutex_lock(&w->lock);
    int rc = 0;
    while (!w->done && rc == 0)
        rc = pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
    bool done = w->done;
    pthread_mutex_unlock(&w->lock);
    return done;
}

/* Points s at the store `instance` of h, keeping s's id prefix: after a
 * restart, the orders written before can be read back. */
static inline void sc_attach(sc_t *s, keel_harness_t *h, const char *instance)
{
    keel_service_t svc;
    assert_int_equal(
        keel_harness_service(h, instance, KEEL_STORE_INTERFACE, KEEL_STORE_VERSION, &svc), 0);
    s->h = h;
    s->api = svc.vtable;
    s->ctx = svc.ctx;
}

static inline void sc_open(sc_t *s, keel_harness_t *h, const char *instance)
{
    static atomic_uint run;
    sc_attach(s, h, instance);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(s->prefix, sizeof s->prefix, "t%llx%lx-%u", (unsigned long long)t.tv_sec,
             (long)t.tv_nsec, atomic_fetch_add(&run, 1));
}

/* A valid lowercase hex SHA-256-looking hash derived from `seed`. */
static inline void sc_hash(char out[65], unsigned seed)
{
    unsigned long long x = 0x9E3779B97F4A7C15ULL * (seed + 1);
    snprintf(out, 65, "%016llx%016llx%016llx%016llx", x, x ^ 0xABCDEFULL, x >> 3, ~x);
}

typedef struct sc_order {
    char order_id[96], customer_id[96], hash[65], json[128];
    keel_order_record_t r;
} sc_order_t;

static inline void sc_order(sc_t *s, sc_order_t *o, const char *id, const char *customer,
                            unsigned seed)
{
    memset(o, 0, sizeof *o);
    snprintf(o->order_id, sizeof o->order_id, "%s-%s", s->prefix, id);
    snprintf(o->customer_id, sizeof o->customer_id, "%s-%s", s->prefix, customer);
    sc_hash(o->hash, seed);
    int n = snprintf(o->json, sizeof o->json, "{\"id\":\"%s\",\"seed\":%u}", id, seed);
    o->r.order_id = o->order_id;
    o->r.customer_id = o->customer_id;
    o->r.status = "QUEUED";
    o->r.confirmation_number = "";
    o->r.error = "";
    o->r.payload_hash = o->hash;
    o->r.order_json = o->json;
    o->r.order_json_len = (size_t)n;
}

/* Synchronous wrappers: return the callback status (or the call's error);
 * the caller frees *w with sc_wait_free(). Safe from any thread. */
static inline int sc_put(sc_t *s, const keel_order_record_t *r, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->put(s->ctx, r, sc_on_record, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static inline int sc_get(sc_t *s, const char *order_id, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->get(s->ctx, order_id, sc_on_record, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static inline int sc_update(sc_t *s, const char *order_id, uint64_t expected,
                            const keel_order_update_t *u, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->update(s->ctx, order_id, expected, u, sc_on_record, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static inline int sc_query(sc_t *s, const char *customer, const char *cursor, size_t limit,
                           sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->query_customer(s->ctx, customer, cursor, limit, sc_on_page, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static inline int sc_seq(sc_t *s, const char *name, uint64_t count, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->sequence_next(s->ctx, name, count, sc_on_sequence, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static inline void sc_assert_same(const sc_rec_t *got, const keel_order_record_t *want)
{
    assert_non_null(got->order_id);
    assert_string_equal(got->order_id, want->order_id);
    assert_string_equal(got->customer_id, want->customer_id);
    assert_string_equal(got->status, want->status);
    assert_string_equal(got->confirmation_number, want->confirmation_number);
    assert_string_equal(got->error, want->error);
    assert_string_equal(got->payload_hash, want->payload_hash);
    assert_int_equal(got->order_json_len, want->order_json_len);
    assert_memory_equal(got->order_json, want->order_json, want->order_json_len);
    assert_string_equal(got->message_id, want->message_id ? want->message_id : "");
}

#endif /* STORE_CLIENT_H */
