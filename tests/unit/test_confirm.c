/* The orders pipeline in-process: a real queue_lmdb feeding the confirm
 * step and the store_lmdb step (then a test_step that records the
 * confirmation_number attribute it sees). Numbers are distinct, valid
 * and kept across redeliveries; a missing record is created; a conflicting
 * payload is dead-lettered; blocks never overlap across restarts; bad
 * confirm configs fail at init. */
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

static const char *so(const char *dir, const char *name)
{
    static char paths[8][512];
    static int next;
    char *out = paths[next++ % 8];
    snprintf(out, 512, "%s/%s.so", dir, name);
    return out;
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* queue + store + confirm + recorder, pipeline orders: confirm_steps. */
static keel_harness_t *start(const char *dir, const char *confirm_cfg, const char *steps)
{
    keel_harness_t *h = keel_harness_new(dir);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "q", so(KEEL_BUILTIN_PLUGIN_DIR, "queue_lmdb"),
                                      "queues:\n  - name: orders\n    visibility_timeout: 1s\n"
                                      "    max_receives: 2\n"),
                     0);
    assert_int_equal(keel_harness_add(h, "store", so(KEEL_BUILTIN_PLUGIN_DIR, "store_lmdb"), ""),
                     0);
    assert_int_equal(keel_harness_add(h, "confirm", so(KEEL_BUILTIN_PLUGIN_DIR, "confirm"),
                                      confirm_cfg ? confirm_cfg : "store: store\nblock: 10\n"),
                     0);
    char rec_cfg[400];
    snprintf(rec_cfg, sizeof rec_cfg, "record: %s\nrecord_attr: confirmation_number\n",
             record_path);
    assert_int_equal(
        keel_harness_add(h, "recorder", so(KEEL_TEST_PLUGIN_DIR, "test_step"), rec_cfg), 0);
    char pipeline[200];
    snprintf(pipeline, sizeof pipeline, "queue: q\nsteps: [%s]\nbatch_size: 10\n",
             steps ? steps : "confirm, store, recorder");
    assert_int_equal(keel_harness_add_pipeline(h, "orders", pipeline), 0);
    assert_int_equal(keel_harness_start(h), 0);
    return h;
}

/* Sends an order message as the ingress does: JSON body + attributes. */
static void send_order(queue_client_t *q, const char *id, const char *customer, const char *hash,
                       char *message_id)
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

static bool wait_settled(queue_client_t *q, uint64_t deleted, uint64_t dead)
{
    uint64_t deadline = now_ms() + 15000;
    keel_queue_stats_t s;
    do {
        assert_int_equal(q->api->stats(q->ctx, "orders", &s), 0);
        if (s.deleted >= deleted && s.dlq_depth >= dead)
            return s.deleted == deleted && s.dlq_depth == dead;
        pause_ms(5);
    } while (now_ms() < deadline);
    return false;
}

/* The stored record of id (status 0) into w; the caller frees w. */
static int get(sc_t *s, const char *id, sc_wait_t *w)
{
    return sc_get(s, id, w);
}

/* Record-file lines "<what> <id> <n> <text>" whose text equals `text`. */
static int record_count(const char *what, const char *text)
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

enum { MAX_NUMBERS = 256 };

/* Checks n orders "<prefix>-<i>" are CONFIRMED with distinct valid numbers
 * (appended to numbers[]), each as the recorder saw it. */
static void expect_confirmed(sc_t *s, const char *prefix, int n, char numbers[][64], int *have)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        sc_wait_t w;
        assert_int_equal(get(s, id, &w), 0);
        assert_string_equal(w.rec.status, "CONFIRMED");
        const char *number = w.rec.confirmation_number;
        assert_true(confirm_damm_valid(number, strlen(number)));
        assert_int_equal(strncmp(number, "KEEL-", 5), 0);
        for (int j = 0; j < *have; j++)
            assert_string_not_equal(numbers[j], number);
        char attr[96];
        snprintf(attr, sizeof attr, "confirmation_number=%s", number);
        assert_true(record_count("attr", attr) >= 1);
        assert_true(*have < MAX_NUMBERS);
        snprintf(numbers[(*have)++], 64, "%s", number);
        sc_wait_free(&w);
    }
}

static void test_orders_get_distinct_valid_numbers(void **state)
{
    (void)state;
    keel_harness_t *h = start(NULL, NULL, NULL);
    queue_client_t q;
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    sc_t s;
    sc_open(&s, h, "store");
    char hash[65];
    sc_hash(hash, 7);
    for (int i = 0; i < 45; i++) { /* several blocks of 10 */
        char id[64];
        snprintf(id, sizeof id, "a-%d", i);
        send_order(&q, id, "cust-a", hash, NULL);
    }
    assert_true(wait_settled(&q, 45, 0));
    static char numbers[MAX_NUMBERS][64];
    int have = 0;
    expect_confirmed(&s, "a", 45, numbers, &have);
    keel_harness_free(h);
}

/* A record already CONFIRMED keeps its number (a redelivery after a crash
 * between the store's commit and the queue's ack); a QUEUED one becomes
 * CONFIRMED and keeps what the ingress stored. */
static void test_stored_numbers_are_kept(void **state)
{
    (void)state;
    keel_harness_t *h = start(NULL, NULL, NULL);
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
    send_order(&q, done.order_id, done.customer_id, done.hash, NULL);
    send_order(&q, queued.order_id, queued.customer_id, queued.hash, NULL);
    assert_true(wait_settled(&q, 2, 0));

    assert_int_equal(get(&s, done.order_id, &w), 0);
    assert_string_equal(w.rec.status, "CONFIRMED");
    assert_string_equal(w.rec.confirmation_number, "KEEL-20250101-000000001");
    assert_int_equal(w.rec.version, 1); /* untouched */
    sc_wait_free(&w);
    /* The next step sees the kept number, not the fresh one. */
    assert_int_equal(record_count("attr", "confirmation_number=KEEL-20250101-000000001"), 1);

    assert_int_equal(get(&s, queued.order_id, &w), 0);
    assert_string_equal(w.rec.status, "CONFIRMED");
    assert_true(confirm_damm_valid(w.rec.confirmation_number, strlen(w.rec.confirmation_number)));
    assert_string_equal(w.rec.message_id, "01JD0000000000000000000001");
    assert_int_equal(w.rec.order_json_len, queued.r.order_json_len); /* the stored order */
    assert_int_equal(w.rec.version, 2);
    sc_wait_free(&w);
    keel_harness_free(h);
}

static void expect_dead(queue_client_t *q, const char *reason_part)
{
    keel_queue_dlq_page_t *page = NULL;
    assert_int_equal(q->api->dlq_list(q->ctx, "orders", NULL, 10, &page), 0);
    assert_int_equal(page->count, 1);
    assert_non_null(strstr(page->entries[0].last_error, reason_part));
    q->api->dlq_page_free(q->ctx, page);
}

/* Same order_id, another payload: the message is dead-lettered at once
 * and the stored order is left alone. */
static void test_conflicting_payload_is_dead_lettered(void **state)
{
    (void)state;
    keel_harness_t *h = start(NULL, NULL, NULL);
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
    send_order(&q, o.order_id, o.customer_id, other, NULL);
    assert_true(wait_settled(&q, 0, 1));
    expect_dead(&q, "another payload");
    assert_int_equal(get(&s, o.order_id, &w), 0);
    assert_string_equal(w.rec.status, "QUEUED");
    assert_string_equal(w.rec.confirmation_number, "");
    sc_wait_free(&w);
    keel_harness_free(h);
}

/* A store step without the confirm step before it, and messages that are
 * not orders, fail with a reason that says so. */
static void test_store_step_needs_a_number_and_an_order(void **state)
{
    (void)state;
    keel_harness_t *h = start(NULL, NULL, "store");
    queue_client_t q;
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    char hash[65];
    sc_hash(hash, 3);
    send_order(&q, "lonely", "cust-d", hash, NULL);
    assert_true(wait_settled(&q, 0, 1));
    expect_dead(&q, "no confirmation_number");
    keel_harness_free(h);

    h = start(NULL, NULL, "confirm, store");
    assert_int_equal(queue_client_open(h, "q", &q), 0);
    assert_int_equal(queue_send_text(&q, "orders", "not an order", NULL), 0);
    assert_true(wait_settled(&q, 0, 1));
    expect_dead(&q, "not an order message");
    keel_harness_free(h);
}

/* The numbers of a second run all come after the first run's: a restart
 * skips the rest of a reserved block, never reuses it. */
static void test_blocks_never_overlap_across_restarts(void **state)
{
    (void)state;
    char dir[] = "/tmp/keel-confirm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static char numbers[MAX_NUMBERS][64];
    int have = 0;
    char hash[65];
    sc_hash(hash, 5);
    for (int run = 0; run < 3; run++) {
        keel_harness_t *h = start(dir, NULL, NULL);
        queue_client_t q;
        assert_int_equal(queue_client_open(h, "q", &q), 0);
        sc_t s;
        sc_open(&s, h, "store");
        char prefix[16];
        snprintf(prefix, sizeof prefix, "r%d", run);
        for (int i = 0; i < 13; i++) {
            char id[64];
            snprintf(id, sizeof id, "%s-%d", prefix, i);
            send_order(&q, id, "cust-e", hash, NULL);
        }
        assert_true(wait_settled(&q, 13 * (uint64_t)(run + 1), 0));
        int before = have;
        expect_confirmed(&s, prefix, 13, numbers, &have);
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

static void expect_bad_config(const char *cfg)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "store", so(KEEL_BUILTIN_PLUGIN_DIR, "store_lmdb"), ""),
                     0);
    assert_int_equal(keel_harness_add(h, "confirm", so(KEEL_BUILTIN_PLUGIN_DIR, "confirm"), cfg),
                     0);
    assert_int_not_equal(keel_harness_start(h), 0);
    keel_harness_free(h);
}

static void test_bad_configs_fail_at_init(void **state)
{
    (void)state;
    expect_bad_config("store: store\nformat: \"KEEL-{yyyy}\"\n");  /* no {seq} */
    expect_bad_config("store: store\nformat: \"{check}{seq}\"\n"); /* check first */
    expect_bad_config("store: store\nformat: \"{seq}{nope}\"\n");  /* unknown */
    expect_bad_config("store: store\nblock: 5\n");                 /* too small */
    expect_bad_config("store: store\nsequence_digits: 0\n");
    expect_bad_config("store: store\nsequence: \"\"\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_orders_get_distinct_valid_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_numbers_are_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflicting_payload_is_dead_lettered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_step_needs_a_number_and_an_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blocks_never_overlap_across_restarts, setup, teardown),
        cmocka_unit_test(test_bad_configs_fail_at_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
