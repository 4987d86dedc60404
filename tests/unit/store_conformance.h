/*
 * store_conformance.h — the backend-agnostic conformance suite of the
 * "store" service (include/keel/store.h). Every provider must pass it.
 *
 * Each sc_test_* function takes a started harness and the name of the
 * instance providing the store; it relies on nothing but store.h and
 * keel_harness_set_time(). Ids and sequence names get a per-run prefix,
 * so the suite also runs against a shared, non-empty backend.
 *
 * Use: include it (it includes cmocka), then expand SC_CONFORMANCE_TESTS(X)
 * with X(name) to wrap each sc_test_<name> in a cmocka test that starts a
 * harness with the provider.
 */
#ifndef STORE_CONFORMANCE_H
#define STORE_CONFORMANCE_H

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
#define SC_T0     UINT64_C(1700000000000)

#define SC_CONFORMANCE_TESTS(X)                                                                    \
    X(put_creates)                                                                                 \
    X(put_again)                                                                                   \
    X(get_unknown)                                                                                 \
    X(update_versions)                                                                             \
    X(update_null_fields_keep)                                                                     \
    X(query_pages_newest_first)                                                                    \
    X(query_bad_cursor)                                                                            \
    X(sequence_sequential)                                                                         \
    X(sequence_concurrent)                                                                         \
    X(invalid_arguments)                                                                           \
    X(concurrent_puts)

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

static char *sc_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void sc_rec_copy(sc_rec_t *d, const keel_order_record_t *r)
{
    d->order_id = sc_dup(r->order_id, strlen(r->order_id));
    d->customer_id = sc_dup(r->customer_id, strlen(r->customer_id));
    d->status = sc_dup(r->status, strlen(r->status));
    d->confirmation_number = sc_dup(r->confirmation_number, strlen(r->confirmation_number));
    d->error = sc_dup(r->error, strlen(r->error));
    d->payload_hash = sc_dup(r->payload_hash, strlen(r->payload_hash));
    d->order_json = sc_dup(r->order_json, r->order_json_len);
    d->order_json_len = r->order_json_len;
    d->created_at_ms = r->created_at_ms;
    d->updated_at_ms = r->updated_at_ms;
    d->version = r->version;
}

static void sc_rec_free(sc_rec_t *r)
{
    free(r->order_id), free(r->customer_id), free(r->status);
    free(r->confirmation_number), free(r->error), free(r->payload_hash), free(r->order_json);
    memset(r, 0, sizeof *r);
}

static void sc_wait_init(sc_wait_t *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

static void sc_wait_free(sc_wait_t *w)
{
    sc_rec_free(&w->rec);
    for (size_t i = 0; i < w->count; i++)
        sc_rec_free(&w->page[i]);
    free(w->page);
    free(w->next_cursor);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

static void sc_signal(sc_wait_t *w)
{
    w->calls++;
    w->done = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void sc_on_record(void *arg, int status, const keel_order_record_t *record)
{
    sc_wait_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    if (record != NULL && w->rec.order_id == NULL)
        sc_rec_copy(&w->rec, record);
    sc_signal(w);
}

static void sc_on_page(void *arg, int status, const keel_order_record_t *records, size_t count,
                       const char *next_cursor)
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

static void sc_on_sequence(void *arg, int status, uint64_t first, uint64_t count)
{
    sc_wait_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->first = first;
    w->seq_count = count;
    sc_signal(w);
}

/* Waits up to SC_WAIT_S for the callback; false on timeout. Any thread. */
static bool sc_wait(sc_wait_t *w)
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

static void sc_open(sc_t *s, keel_harness_t *h, const char *instance)
{
    static atomic_uint run;
    keel_service_t svc;
    assert_int_equal(
        keel_harness_service(h, instance, KEEL_STORE_INTERFACE, KEEL_STORE_VERSION, &svc), 0);
    s->h = h;
    s->api = svc.vtable;
    s->ctx = svc.ctx;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(s->prefix, sizeof s->prefix, "t%llx%lx-%u", (unsigned long long)t.tv_sec,
             (long)t.tv_nsec, atomic_fetch_add(&run, 1));
}

/* A valid lowercase hex SHA-256-looking hash derived from `seed`. */
static void sc_hash(char out[65], unsigned seed)
{
    unsigned long long x = 0x9E3779B97F4A7C15ULL * (seed + 1);
    snprintf(out, 65, "%016llx%016llx%016llx%016llx", x, x ^ 0xABCDEFULL, x >> 3, ~x);
}

typedef struct sc_order {
    char order_id[96], customer_id[96], hash[65], json[128];
    keel_order_record_t r;
} sc_order_t;

static void sc_order(sc_t *s, sc_order_t *o, const char *id, const char *customer, unsigned seed)
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
static int sc_put(sc_t *s, const keel_order_record_t *r, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->put(s->ctx, r, sc_on_record, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static int sc_get(sc_t *s, const char *order_id, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->get(s->ctx, order_id, sc_on_record, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static int sc_update(sc_t *s, const char *order_id, uint64_t expected, const keel_order_update_t *u,
                     sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->update(s->ctx, order_id, expected, u, sc_on_record, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static int sc_query(sc_t *s, const char *customer, const char *cursor, size_t limit, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->query_customer(s->ctx, customer, cursor, limit, sc_on_page, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static int sc_seq(sc_t *s, const char *name, uint64_t count, sc_wait_t *w)
{
    sc_wait_init(w);
    int rc = s->api->sequence_next(s->ctx, name, count, sc_on_sequence, w);
    return rc < 0 ? rc : !sc_wait(w) ? KEEL_ETIMEDOUT : w->status;
}

static void sc_assert_same(const sc_rec_t *got, const keel_order_record_t *want)
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
}

/* ---- the tests ---- */

static void sc_test_put_creates(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    keel_harness_set_time(h, SC_T0 + 5);
    sc_order_t o;
    sc_order(&s, &o, "create", "cust", 1);
    static const char json[] = "{\"a\":\"\\u00e9\",\"b\":[1,2]}\n"; /* bytes kept exactly */
    o.r.order_json = json;
    o.r.order_json_len = sizeof json - 1;
    o.r.confirmation_number = "C-1";
    o.r.error = "none";
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_assert_same(&w.rec, &o.r);
    assert_int_equal(w.rec.version, 1);
    assert_int_equal(w.rec.created_at_ms, SC_T0 + 5);
    assert_int_equal(w.rec.updated_at_ms, SC_T0 + 5);
    assert_int_equal(w.calls, 1);
    sc_wait_free(&w);
    assert_int_equal(sc_get(&s, o.order_id, &w), 0);
    sc_assert_same(&w.rec, &o.r);
    assert_int_equal(w.rec.version, 1);
    assert_int_equal(w.rec.created_at_ms, SC_T0 + 5);
    assert_int_equal(w.rec.updated_at_ms, SC_T0 + 5);
    sc_wait_free(&w);
}

static void sc_test_put_again(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    keel_harness_set_time(h, SC_T0);
    sc_order_t o, retry, other;
    sc_order(&s, &o, "again", "cust", 7);
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_wait_free(&w);
    keel_harness_set_time(h, SC_T0 + 1000);
    sc_order(&s, &retry, "again", "cust", 7);
    retry.r.status = "PROCESSING"; /* ignored: the stored record is answered */
    assert_int_equal(sc_put(&s, &retry.r, &w), KEEL_EEXIST);
    sc_assert_same(&w.rec, &o.r);
    assert_int_equal(w.rec.version, 1);
    assert_int_equal(w.rec.created_at_ms, SC_T0);
    sc_wait_free(&w);
    sc_order(&s, &other, "again", "cust", 8);
    assert_int_equal(sc_put(&s, &other.r, &w), KEEL_ECONFLICT);
    sc_assert_same(&w.rec, &o.r);
    sc_wait_free(&w);
    assert_int_equal(sc_get(&s, o.order_id, &w), 0);
    sc_assert_same(&w.rec, &o.r);
    sc_wait_free(&w);
}

static void sc_test_get_unknown(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    char id[96];
    snprintf(id, sizeof id, "%s-missing", s.prefix);
    sc_wait_t w;
    assert_int_equal(sc_get(&s, id, &w), KEEL_ENOTFOUND);
    assert_null(w.rec.order_id);
    sc_wait_free(&w);
}

static void sc_test_update_versions(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    keel_harness_set_time(h, SC_T0);
    sc_order_t o;
    sc_order(&s, &o, "upd", "cust", 3);
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_wait_free(&w);

    keel_harness_set_time(h, SC_T0 + 2000);
    keel_order_update_t u = {"CONFIRMED", "CN-42", ""};
    assert_int_equal(sc_update(&s, o.order_id, 1, &u, &w), 0);
    assert_int_equal(w.rec.version, 2);
    assert_string_equal(w.rec.status, "CONFIRMED");
    assert_string_equal(w.rec.confirmation_number, "CN-42");
    assert_int_equal(w.rec.created_at_ms, SC_T0);
    assert_int_equal(w.rec.updated_at_ms, SC_T0 + 2000);
    assert_memory_equal(w.rec.order_json, o.json, o.r.order_json_len);
    sc_wait_free(&w);

    keel_order_update_t stale = {"FAILED", NULL, "late"};
    assert_int_equal(sc_update(&s, o.order_id, 1, &stale, &w), KEEL_ESTALE);
    assert_int_equal(w.rec.version, 2);
    assert_string_equal(w.rec.status, "CONFIRMED");
    sc_wait_free(&w);

    keel_harness_set_time(h, SC_T0 + 3000);
    assert_int_equal(sc_update(&s, o.order_id, 0, &stale, &w), 0); /* 0: always */
    assert_int_equal(w.rec.version, 3);
    assert_string_equal(w.rec.status, "FAILED");
    assert_string_equal(w.rec.error, "late");
    assert_string_equal(w.rec.confirmation_number, "CN-42");
    assert_int_equal(w.rec.updated_at_ms, SC_T0 + 3000);
    sc_wait_free(&w);

    assert_int_equal(sc_get(&s, o.order_id, &w), 0);
    assert_int_equal(w.rec.version, 3);
    assert_string_equal(w.rec.status, "FAILED");
    sc_wait_free(&w);

    char id[96];
    snprintf(id, sizeof id, "%s-nobody", s.prefix);
    assert_int_equal(sc_update(&s, id, 0, &u, &w), KEEL_ENOTFOUND);
    assert_null(w.rec.order_id);
    sc_wait_free(&w);
    assert_int_equal(sc_update(&s, id, 5, &u, &w), KEEL_ENOTFOUND);
    sc_wait_free(&w);
}

static void sc_test_update_null_fields_keep(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    sc_order_t o;
    sc_order(&s, &o, "keep", "cust", 4);
    o.r.confirmation_number = "CN-1";
    o.r.error = "first";
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_wait_free(&w);
    keel_order_update_t u = {"PROCESSING", NULL, NULL};
    assert_int_equal(sc_update(&s, o.order_id, 1, &u, &w), 0);
    assert_string_equal(w.rec.status, "PROCESSING");
    assert_string_equal(w.rec.confirmation_number, "CN-1");
    assert_string_equal(w.rec.error, "first");
    assert_string_equal(w.rec.customer_id, o.customer_id);
    assert_string_equal(w.rec.payload_hash, o.hash);
    sc_wait_free(&w);
    assert_int_equal(sc_get(&s, o.order_id, &w), 0);
    assert_string_equal(w.rec.status, "PROCESSING");
    assert_string_equal(w.rec.confirmation_number, "CN-1");
    assert_string_equal(w.rec.error, "first");
    assert_int_equal(w.rec.version, 2);
    sc_wait_free(&w);
}

static void sc_test_query_pages_newest_first(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    enum { N = 25 };
    sc_order_t o;
    sc_wait_t w;
    char ids[N][96];
    for (int i = 0; i < N; i++) {
        keel_harness_set_time(h, SC_T0 + (uint64_t)i * 1000);
        char id[32];
        snprintf(id, sizeof id, "q%02d", (i * 7) % N); /* id order != time order */
        sc_order(&s, &o, id, "alice", (unsigned)i);
        strcpy(ids[i], o.order_id);
        assert_int_equal(sc_put(&s, &o.r, &w), 0);
        sc_wait_free(&w);
        snprintf(id, sizeof id, "other%02d", i); /* interleaved, other customers */
        sc_order(&s, &o, id, i % 2 ? "alicf" : "alic", (unsigned)(100 + i));
        assert_int_equal(sc_put(&s, &o.r, &w), 0);
        sc_wait_free(&w);
    }
    char customer[96];
    snprintf(customer, sizeof customer, "%s-alice", s.prefix);
    char *cursor = NULL;
    const size_t expect[] = {10, 10, 5};
    int next = N - 1; /* newest first */
    for (int page = 0; page < 3; page++) {
        assert_int_equal(sc_query(&s, customer, cursor, 10, &w), 0);
        assert_int_equal(w.count, expect[page]);
        for (size_t i = 0; i < w.count; i++, next--) {
            assert_string_equal(w.page[i].order_id, ids[next]);
            assert_string_equal(w.page[i].customer_id, customer);
            assert_int_equal(w.page[i].created_at_ms, SC_T0 + (uint64_t)next * 1000);
        }
        free(cursor);
        cursor = w.next_cursor;
        w.next_cursor = NULL;
        if (page < 2)
            assert_non_null(cursor);
        else
            assert_null(cursor);
        sc_wait_free(&w);
    }
    assert_int_equal(next, -1); /* no gaps, no duplicates */
    snprintf(customer, sizeof customer, "%s-nobody", s.prefix);
    assert_int_equal(sc_query(&s, customer, NULL, 10, &w), 0);
    assert_int_equal(w.count, 0);
    assert_null(w.next_cursor);
    sc_wait_free(&w);
}

static void sc_test_query_bad_cursor(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    char customer[96];
    snprintf(customer, sizeof customer, "%s-bob", s.prefix);
    sc_wait_t w;
    sc_wait_init(&w);
    const char *bad[] = {"", "zz", "abc", "not a cursor", "00", "0g0g", "ABCDEF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(s.api->query_customer(s.ctx, customer, bad[i], 10, sc_on_page, &w),
                         KEEL_EINVAL);
    assert_int_equal(w.calls, 0);
    sc_wait_free(&w);
}

static void sc_test_sequence_sequential(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    char name[96], other[96];
    snprintf(name, sizeof name, "%s-seq", s.prefix);
    snprintf(other, sizeof other, "%s-seq2", s.prefix);
    uint64_t expect = 1;
    const uint64_t counts[] = {1, 5, 1, 1000000, 3};
    sc_wait_t w;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        assert_int_equal(sc_seq(&s, name, counts[i], &w), 0);
        assert_int_equal(w.first, expect);
        assert_int_equal(w.seq_count, counts[i]);
        expect += counts[i];
        sc_wait_free(&w);
    }
    assert_int_equal(sc_seq(&s, other, 2, &w), 0); /* sequences are independent */
    assert_int_equal(w.first, 1);
    sc_wait_free(&w);
}

enum { SC_THREADS = 8, SC_SEQ_CALLS = 200, SC_PUTS = 500 };

typedef struct sc_worker {
    sc_t *s;
    const char *name;
    int index;
    int failures;
    uint64_t first[SC_SEQ_CALLS], count[SC_SEQ_CALLS];
} sc_worker_t;

static void *sc_seq_worker(void *arg)
{
    sc_worker_t *wk = arg;
    unsigned seed = (unsigned)wk->index * 7919u + 1;
    for (int i = 0; i < SC_SEQ_CALLS; i++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t count = 1 + (seed >> 16) % 50;
        sc_wait_t w;
        if (sc_seq(wk->s, wk->name, count, &w) != 0 || w.seq_count != count)
            wk->failures++;
        wk->first[i] = w.first;
        wk->count[i] = w.seq_count;
        sc_wait_free(&w);
    }
    return NULL;
}

static int sc_cmp_range(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void sc_test_sequence_concurrent(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    char name[96];
    snprintf(name, sizeof name, "%s-conc", s.prefix);
    static sc_worker_t wk[SC_THREADS];
    pthread_t t[SC_THREADS];
    for (int i = 0; i < SC_THREADS; i++) {
        wk[i] = (sc_worker_t){.s = &s, .name = name, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, sc_seq_worker, &wk[i]), 0);
    }
    for (int i = 0; i < SC_THREADS; i++)
        pthread_join(t[i], NULL);
    static uint64_t ranges[SC_THREADS * SC_SEQ_CALLS][2];
    size_t n = 0;
    for (int i = 0; i < SC_THREADS; i++) {
        assert_int_equal(wk[i].failures, 0);
        for (int j = 0; j < SC_SEQ_CALLS; j++, n++) {
            ranges[n][0] = wk[i].first[j];
            ranges[n][1] = wk[i].count[j];
        }
    }
    qsort(ranges, n, sizeof ranges[0], sc_cmp_range);
    uint64_t expect = 1; /* disjoint and contiguous from 1 */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ranges[i][0], expect);
        expect += ranges[i][1];
    }
}

static void sc_test_invalid_arguments(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    sc_wait_t w;
    sc_wait_init(&w); /* no callback may run: checked at the end */
    char longid[KEEL_STORE_MAX_ID + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    sc_order_t o;
    sc_order(&s, &o, "inv", "cust", 9);
    const keel_store_api_t *a = s.api;
    assert_int_equal(a->put(s.ctx, NULL, sc_on_record, &w), KEEL_EINVAL);
    keel_order_record_t r = o.r;
    r.order_id = "";
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);
    r.order_id = longid;
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);
    r = o.r, r.customer_id = NULL;
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);
    r = o.r, r.customer_id = longid;
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);
    r = o.r, r.payload_hash = NULL;
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);
    r = o.r, r.order_json = NULL;
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);
    r = o.r, r.status = longid;
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);
    r = o.r, r.confirmation_number = longid;
    assert_int_equal(a->put(s.ctx, &r, sc_on_record, &w), KEEL_EINVAL);

    assert_int_equal(a->get(s.ctx, NULL, sc_on_record, &w), KEEL_EINVAL);
    assert_int_equal(a->get(s.ctx, "", sc_on_record, &w), KEEL_EINVAL);
    assert_int_equal(a->get(s.ctx, longid, sc_on_record, &w), KEEL_EINVAL);

    keel_order_update_t u = {"CONFIRMED", NULL, NULL}, no_status = {NULL, "CN", NULL},
                        long_status = {longid, NULL, NULL}, long_cn = {"CONFIRMED", longid, NULL};
    assert_int_equal(a->update(s.ctx, o.order_id, 0, NULL, sc_on_record, &w), KEEL_EINVAL);
    assert_int_equal(a->update(s.ctx, o.order_id, 0, &no_status, sc_on_record, &w), KEEL_EINVAL);
    assert_int_equal(a->update(s.ctx, o.order_id, 0, &long_status, sc_on_record, &w), KEEL_EINVAL);
    assert_int_equal(a->update(s.ctx, o.order_id, 0, &long_cn, sc_on_record, &w), KEEL_EINVAL);
    assert_int_equal(a->update(s.ctx, longid, 0, &u, sc_on_record, &w), KEEL_EINVAL);
    assert_int_equal(a->update(s.ctx, NULL, 0, &u, sc_on_record, &w), KEEL_EINVAL);

    assert_int_equal(a->query_customer(s.ctx, o.customer_id, NULL, 0, sc_on_page, &w), KEEL_EINVAL);
    assert_int_equal(
        a->query_customer(s.ctx, o.customer_id, NULL, KEEL_STORE_MAX_PAGE + 1, sc_on_page, &w),
        KEEL_EINVAL);
    assert_int_equal(a->query_customer(s.ctx, NULL, NULL, 10, sc_on_page, &w), KEEL_EINVAL);
    assert_int_equal(a->query_customer(s.ctx, "", NULL, 10, sc_on_page, &w), KEEL_EINVAL);
    assert_int_equal(a->query_customer(s.ctx, longid, NULL, 10, sc_on_page, &w), KEEL_EINVAL);

    assert_int_equal(a->sequence_next(s.ctx, "n", 0, sc_on_sequence, &w), KEEL_EINVAL);
    assert_int_equal(a->sequence_next(s.ctx, "n", 1000001, sc_on_sequence, &w), KEEL_EINVAL);
    assert_int_equal(a->sequence_next(s.ctx, NULL, 1, sc_on_sequence, &w), KEEL_EINVAL);
    assert_int_equal(a->sequence_next(s.ctx, "", 1, sc_on_sequence, &w), KEEL_EINVAL);
    assert_int_equal(a->sequence_next(s.ctx, longid, 1, sc_on_sequence, &w), KEEL_EINVAL);

    /* A round trip through both kinds of operation: nothing was queued. */
    sc_wait_t done;
    assert_int_equal(sc_put(&s, &o.r, &done), 0);
    sc_wait_free(&done);
    assert_int_equal(sc_get(&s, o.order_id, &done), 0);
    sc_wait_free(&done);
    assert_int_equal(w.calls, 0);
    sc_wait_free(&w);
}

typedef struct sc_putter {
    sc_t *s;
    int index;
    int failures;
} sc_putter_t;

static void *sc_put_worker(void *arg)
{
    sc_putter_t *p = arg;
    for (int i = 0; i < SC_PUTS; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%d-%d", p->index, i);
        sc_order_t o;
        sc_order(p->s, &o, id, p->index % 2 ? "odd" : "even", (unsigned)(p->index * SC_PUTS + i));
        sc_wait_t w;
        if (sc_put(p->s, &o.r, &w) != 0 || w.rec.version != 1)
            p->failures++;
        sc_wait_free(&w);
    }
    return NULL;
}

static void sc_test_concurrent_puts(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    sc_putter_t p[SC_THREADS];
    pthread_t t[SC_THREADS];
    for (int i = 0; i < SC_THREADS; i++) {
        p[i] = (sc_putter_t){.s = &s, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, sc_put_worker, &p[i]), 0);
    }
    for (int i = 0; i < SC_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SC_THREADS; i++)
        assert_int_equal(p[i].failures, 0);
    for (int i = 0; i < SC_THREADS; i++) {
        for (int j = 0; j < SC_PUTS; j++) {
            char id[32];
            snprintf(id, sizeof id, "c%d-%d", i, j);
            sc_order_t o;
            sc_order(&s, &o, id, i % 2 ? "odd" : "even", (unsigned)(i * SC_PUTS + j));
            sc_wait_t w;
            assert_int_equal(sc_get(&s, o.order_id, &w), 0);
            sc_assert_same(&w.rec, &o.r);
            sc_wait_free(&w);
        }
    }
}

#endif /* STORE_CONFORMANCE_H */
