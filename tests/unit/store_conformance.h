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

#include "store_client.h"
#define SC_T0 UINT64_C(1700000000000)

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
    X(concurrent_puts)                                                                             \
    X(peek_hash)

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
    o.r.message_id = "01JD0000000000000000000000";
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

/* peek_hash is optional; a backend that has it answers like get(), or
 * KEEL_EAGAIN when it cannot answer without waiting. */
static void sc_test_peek_hash(keel_harness_t *h, const char *instance)
{
    sc_t s;
    sc_open(&s, h, instance);
    if (!KEEL_HAS(s.api, keel_store_api_t, peek_hash))
        return;
    sc_order_t o;
    sc_order(&s, &o, "peek", "cust", 11);
    char hash[65];
    int rc = s.api->peek_hash(s.ctx, o.order_id, hash);
    if (rc == KEEL_EAGAIN)
        return;
    assert_int_equal(rc, KEEL_ENOTFOUND);
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_wait_free(&w);
    assert_int_equal(s.api->peek_hash(s.ctx, o.order_id, hash), 0);
    assert_string_equal(hash, o.hash);
    assert_int_equal(s.api->peek_hash(s.ctx, "", hash), KEEL_EINVAL);
}

#endif /* STORE_CONFORMANCE_H */
