/*
 * store_step_conformance.h — the backend-independent checks of a store
 * provider used as the orders pipeline's last step (include/keel/store.h,
 * "As a pipeline step"), in-process: a real queue_lmdb feeding the confirm
 * step and the store step under test, then a test_step that records the
 * confirmation_number attribute it sees. Numbers are distinct, valid and
 * kept across redeliveries; a missing record is created; a conflicting
 * payload is dead-lettered; blocks never overlap across restarts.
 *
 * Use: include it after record_file.h (setup/teardown make the record file);
 * set ssc_store_so (the provider's .so) and ssc_store_config (its config
 * YAML, the same for every start within one test: a restart must find the
 * same data) and optionally ssc_after_start before each ssc_test_*; wrap each in a cmocka test with
 * setup/teardown. SSC_STEP_TESTS(X) lists them. The file that includes this
 * compiles plugins/confirm/number.c in (confirm_damm_valid).
 */
#ifndef STORE_STEP_CONFORMANCE_H
#define STORE_STEP_CONFORMANCE_H

#include "number.h"
#include "queue_client.h"

#include <keel/store.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "record_file.h"
#include "store_client.h"

#ifndef SSC_SETTLE_MS
#define SSC_SETTLE_MS 15000 /* how long a test waits for its messages to settle */
#endif

#define SSC_STEP_TESTS(X)                                                                          \
    X(orders_get_distinct_valid_numbers)                                                           \
    X(stored_numbers_are_kept)                                                                     \
    X(conflicting_payload_is_dead_lettered)                                                        \
    X(store_step_needs_a_number_and_an_order)                                                      \
    X(blocks_never_overlap_across_restarts)

/* The store provider under test and its config. */
static const char *ssc_store_so;
static const char *ssc_store_config = "";
/* Optional: runs after each start (e.g. waits until a remote store is ready). */
static void (*ssc_after_start)(keel_harness_t *h);

static inline const char *ssc_so(const char *dir, const char *name)
{
    static char paths[8][512];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 512, "%s/%s.so", dir, name);
    return out;
}

static inline uint64_t ssc_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static inline void ssc_pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* queue + store + confirm + recorder, pipeline orders: confirm_steps. */
static keel_harness_t *ssc_start(const char *dir, const char *confirm_cfg, const char *steps)
{
    keel_harness_t *h = keel_harness_new(dir);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "q", ssc_so(KEEL_BUILTIN_PLUGIN_DIR, "queue_lmdb"),
                                      "queues:\n  - name: orders\n    visibility_timeout: 1s\n"
                                      "    max_receives: 2\n"),
                     0);
    assert_int_equal(keel_harness_add(h, "store", ssc_store_so, ssc_store_config), 0);
    assert_int_equal(keel_harness_add(h, "confirm", ssc_so(KEEL_BUILTIN_PLUGIN_DIR, "confirm"),
                                      confirm_cfg ? confirm_cfg : "store: store\nblock: 10\n"),
                     0);
    char rec_cfg[400];
    snprintf(rec_cfg, sizeof rec_cfg, "record: %s\nrecord_attr: confirmation_number\n",
             record_path);
    assert_int_equal(
        keel_harness_add(h, "recorder", ssc_so(KEEL_TEST_PLUGIN_DIR, "test_step"), rec_cfg), 0);
    char pipeline[200];
    snprintf(pipeline, sizeof pipeline, "queue: q\nsteps: [%s]\nbatch_size: 10\n",
             steps ? steps : "confirm, store, recorder");
    assert_int_equal(keel_harness_add_pipeline(h, "orders", pipeline), 0);
    assert_int_equal(keel_harness_start(h), 0);
    if (ssc_after_start)
        ssc_after_start(h);
    return h;
}

/* Sends an order message as the ingress does: JSON body + attributes. */
static void ssc_send_order(queue_client_t *q, const char *id, const char *customer,
                           const char *hash, char *message_id)
{
    char body[200];
    snprintf(body, sizeof body, "{\"customer_id\":\"%s\",\"order_id\":\"%s\"}", customer, id);
    const keel_attr_t attrs[] = {
        {"order_id", id}, {"customer_id", customer}, {"payload_hash", hash}};
    keel_queue_entry_t e = {
        .attrs = attrs, .attr_count = 3, .body = body, .body_len = strlen(body)};
    queue_wait_t w;
    queue_wait_init(&w);
    assert_int_equal(q->api->send(q->ctx, "orders", &e, 1, queue_sent_cb, &w), 0);
    assert_true(queue_wait_for(&w));
    assert_int_equal(w.sent[0].status, 0);
    if (message_id)
        memcpy(message_id, w.sent[0].message_id, KEEL_ID_LEN + 1);
}

static bool ssc_wait_settled(queue_client_t *q, uint64_t deleted, uint64_t dead)
{
    uint64_t deadline = ssc_now_ms() + SSC_SETTLE_MS;
    keel_queue_stats_t s;
    do {
        assert_int_equal(q->api->stats(q->ctx, "orders", &s), 0);
        if (s.deleted >= deleted && s.dlq_depth >= dead)
            return s.deleted == deleted && s.dlq_depth == dead;
        ssc_pause_ms(5);
    } while (ssc_now_ms() < deadline);
    return false;
}

/* The stored record of id (status 0) into w; the caller frees w. */
static int ssc_get(sc_t *s, const char *id, sc_wait_t *w)
{
    return sc_get(s, id, w);
}

/* Record-file lines "<what> <id> <n> <text>" whose text equals `text`. */
static int ssc_record_count(const char *what, const char *text)
{
    FILE *f = fopen(record_path, "r");
    if (f == NULL)
        return 0;
    char line[600];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *last = strrchr(line, ' ');
        n += strncmp(line, what, strlen(what)) == 0 && last && strcmp(last + 1, text) == 0;
    }
    fclose(f);
    return n;
}

enum { SSC_MAX_NUMBERS = 256 };

/* Checks n orders "<prefix>-<i>" are CONFIRMED with distinct valid numbers
 * (appended to numbers[]), each as the recorder saw it. */
static void ssc_expect_confirmed(sc_t *s, const char *prefix, int n, char numbers[][64], int *have)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        sc_wait_t w;
        assert_int_equal(ssc_get(s, id, &w), 0);
        assert_string_equal(w.rec.status, "CONFIRMED");
        const char *number = w.rec.confirmation_number;
        assert_true(confirm_damm_valid(number, strlen(number)));
        assert_int_equal(strncmp(number, "KEEL-", 5), 0);
        for (int j = 0; j < *have; j++)
            assert_string_not_equal(numbers[j], number);
        char attr[96];
        snprintf(attr, sizeof attr, "confirmation_number=%s", number);
        assert_true(ssc_record_count("attr", attr) >= 1);
        assert_true(*have < SSC_MAX_NUMBERS);
        snprintf(numbers[(*have)++], 64, "%s", number);
        sc_wait_free(&w);
    }
}

static void ssc_test_orders_get_distinct_valid_numbers(void)
{
    keel_harness_t *h = ssc_start(NULL, NULL, NULL);
    queue_client_t q;
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    sc_t s;
    sc_open(&s, h, "store");
    char hash[65];
    sc_hash(hash, 7);
    for (int i = 0; i < 45; i++) { /* several blocks of 10 */
        char id[64];
        snprintf(id, sizeof id, "a-%d", i);
        ssc_send_order(&q, id, "cust-a", hash, NULL);
    }
    assert_true(ssc_wait_settled(&q, 45, 0));
    static char numbers[SSC_MAX_NUMBERS][64];
    int have = 0;
    ssc_expect_confirmed(&s, "a", 45, numbers, &have);
    keel_harness_free(h);
}

/* A record already CONFIRMED keeps its number (a redelivery after a crash
 * between the store's commit and the queue's ack); a QUEUED one becomes
 * CONFIRMED and keeps what the ingress stored. */
static void ssc_test_stored_numbers_are_kept(void)
{
    keel_harness_t *h = ssc_start(NULL, NULL, NULL);
    queue_client_t q;
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    sc_t s;
    sc_open(&s, h, "store");
    sc_order_t done, queued;
    sc_order(&s, &done, "done", "cust-b", 1);
    done.r.status = "CONFIRMED";
    done.r.confirmation_number = "KEEL-20250101-000000001";
    sc_order(&s, &queued, "queued", "cust-b", 2);
    queued.r.message_id = "01JD0000000000000000000001";
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &done.r, &w), 0);
    sc_wait_free(&w);
    assert_int_equal(sc_put(&s, &queued.r, &w), 0);
    sc_wait_free(&w);
    ssc_send_order(&q, done.order_id, done.customer_id, done.hash, NULL);
    ssc_send_order(&q, queued.order_id, queued.customer_id, queued.hash, NULL);
    assert_true(ssc_wait_settled(&q, 2, 0));

    assert_int_equal(ssc_get(&s, done.order_id, &w), 0);
    assert_string_equal(w.rec.status, "CONFIRMED");
    assert_string_equal(w.rec.confirmation_number, "KEEL-20250101-000000001");
    assert_int_equal(w.rec.version, 1); /* untouched */
    sc_wait_free(&w);
    /* The next step sees the kept number, not the fresh one. */
    assert_int_equal(ssc_record_count("attr", "confirmation_number=KEEL-20250101-000000001"), 1);

    assert_int_equal(ssc_get(&s, queued.order_id, &w), 0);
    assert_string_equal(w.rec.status, "CONFIRMED");
    assert_true(confirm_damm_valid(w.rec.confirmation_number, strlen(w.rec.confirmation_number)));
    assert_string_equal(w.rec.message_id, "01JD0000000000000000000001");
    assert_int_equal(w.rec.order_json_len, queued.r.order_json_len); /* the stored order */
    assert_int_equal(w.rec.version, 2);
    sc_wait_free(&w);
    keel_harness_free(h);
}

static void ssc_expect_dead(queue_client_t *q, const char *reason_part)
{
    keel_queue_dlq_page_t *page = NULL;
    assert_int_equal(q->api->dlq_list(q->ctx, "orders", NULL, 10, &page), 0);
    assert_int_equal(page->count, 1);
    assert_non_null(strstr(page->entries[0].last_error, reason_part));
    q->api->dlq_page_free(q->ctx, page);
}

/* Same order_id, another payload: the message is dead-lettered at once
 * and the stored order is left alone. */
static void ssc_test_conflicting_payload_is_dead_lettered(void)
{
    keel_harness_t *h = ssc_start(NULL, NULL, NULL);
    queue_client_t q;
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    sc_t s;
    sc_open(&s, h, "store");
    sc_order_t o;
    sc_order(&s, &o, "x", "cust-c", 1);
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_wait_free(&w);
    char other[65];
    sc_hash(other, 99);
    ssc_send_order(&q, o.order_id, o.customer_id, other, NULL);
    assert_true(ssc_wait_settled(&q, 0, 1));
    ssc_expect_dead(&q, "another payload");
    assert_int_equal(ssc_get(&s, o.order_id, &w), 0);
    assert_string_equal(w.rec.status, "QUEUED");
    assert_string_equal(w.rec.confirmation_number, "");
    sc_wait_free(&w);
    keel_harness_free(h);
}

/* A store step without the confirm step before it, and messages that are
 * not orders, fail with a reason that says so. */
static void ssc_test_store_step_needs_a_number_and_an_order(void)
{
    keel_harness_t *h = ssc_start(NULL, NULL, "store");
    queue_client_t q;
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    char hash[65];
    sc_hash(hash, 3);
    ssc_send_order(&q, "lonely", "cust-d", hash, NULL);
    assert_true(ssc_wait_settled(&q, 0, 1));
    ssc_expect_dead(&q, "no confirmation_number");
    keel_harness_free(h);

    h = ssc_start(NULL, NULL, "confirm, store");
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    assert_int_equal(queue_send_text(&q, "orders", "not an order", NULL), 0);
    assert_true(ssc_wait_settled(&q, 0, 1));
    ssc_expect_dead(&q, "not an order message");
    keel_harness_free(h);
}

/* The numbers of a second run all come after the first run's: a restart
 * skips the rest of a reserved block, never reuses it. */
static void ssc_test_blocks_never_overlap_across_restarts(void)
{
    char dir[] = "/tmp/keel-confirm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static char numbers[SSC_MAX_NUMBERS][64];
    int have = 0;
    char hash[65];
    sc_hash(hash, 5);
    for (int run = 0; run < 3; run++) {
        keel_harness_t *h = ssc_start(dir, NULL, NULL);
        queue_client_t q;
        assert_int_equal(queue_client_open(h, "q", &q), 0);
        sc_t s;
        sc_open(&s, h, "store");
        char prefix[16];
        snprintf(prefix, sizeof prefix, "r%d", run);
        for (int i = 0; i < 13; i++) {
            char id[64];
            snprintf(id, sizeof id, "%s-%d", prefix, i);
            ssc_send_order(&q, id, "cust-e", hash, NULL);
        }
        assert_true(ssc_wait_settled(&q, 13 * (uint64_t)(run + 1), 0));
        int before = have;
        ssc_expect_confirmed(&s, prefix, 13, numbers, &have);
        /* Sequences ("-<seq><check>") of this run exceed every earlier one. */
        for (int i = before; i < have; i++)
            for (int j = 0; j < before; j++)
                assert_true(strcmp(strrchr(numbers[i], '-'), strrchr(numbers[j], '-')) > 0);
        keel_harness_free(h);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

#endif
