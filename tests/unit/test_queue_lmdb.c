/* queue_lmdb tests: the built-in queue plugin through the harness, with an
 * injected clock. Each test is one item of the queue's acceptance list. */
#include "queue_test_util.h"

#include <sys/stat.h>

static void test_visibility_expiry_redelivers(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t sent = qt_send(&t, Q, "hello");
    keel_queue_batch_t *b = qt_receive_one(&t, Q, NULL);
    assert_string_equal(b->messages[0].message_id, sent.message_id);
    assert_int_equal(b->messages[0].receive_count, 1);
    assert_memory_equal(b->messages[0].body, "hello", 5);
    assert_int_equal(b->messages[0].first_received_at_ms, QT_T0);
    qt_free(&t, b);
    assert_int_equal(qt_receive_count(&t, Q), 0); /* invisible */
    qt_set_time(&t, QT_T0 + 29999);
    assert_int_equal(qt_receive_count(&t, Q), 0);
    qt_set_time(&t, QT_T0 + 30000);
    b = qt_receive_one(&t, Q, NULL);
    assert_string_equal(b->messages[0].message_id, sent.message_id);
    assert_int_equal(b->messages[0].receive_count, 2);
    assert_int_equal(b->messages[0].first_received_at_ms, QT_T0);
    qt_free(&t, b);
    qt_close(&t);
}

static void test_fourth_receive_dead_letters(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t quiet = qt_send(&t, Q, "crashes its consumer");
    keel_queue_sent_t noisy = qt_send(&t, Q, "fails with an error");
    uint64_t now = QT_T0;
    for (uint32_t round = 1; round <= 3; round++) {
        keel_queue_batch_t *b = qt_receive(&t, Q, 10);
        assert_int_equal(b->count, 2);
        for (size_t i = 0; i < 2; i++) {
            assert_int_equal(b->messages[i].receive_count, round);
            if (strcmp(b->messages[i].message_id, noisy.message_id) == 0)
                assert_int_equal(
                    qt_settle(&t, Q, b->messages[i].receipt, KEEL_RETRY, "timeout", "charge"), 0);
        }
        qt_free(&t, b);
        now += 30000;
        qt_set_time(&t, now);
    }
    /* The 4th receive dead-letters both instead of delivering them. */
    assert_int_equal(qt_receive_count(&t, Q), 0);
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.dlq_depth, 2);
    assert_int_equal(s.dead_lettered, 2);
    assert_int_equal(s.received, 6);
    keel_queue_dlq_page_t *page;
    assert_int_equal(t.api->dlq_list(t.ctx, Q, NULL, 10, &page), 0);
    assert_int_equal(page->count, 2);
    for (size_t i = 0; i < 2; i++) {
        const keel_queue_dlq_entry_t *e = &page->entries[i];
        assert_int_equal(e->receive_count, 3);
        assert_int_equal(e->dead_lettered_at_ms, now);
        if (strcmp(e->message_id, quiet.message_id) == 0) {
            assert_string_equal(e->last_error, "max receives (3) exceeded");
            assert_string_equal(e->first_error, "");
        } else {
            assert_string_equal(e->message_id, noisy.message_id);
            assert_string_equal(e->first_error, "timeout"); /* the last error is kept */
            assert_string_equal(e->last_error, "timeout");
            assert_string_equal(e->failed_step, "charge");
        }
    }
    t.api->dlq_page_free(t.ctx, page);
    qt_close(&t);
}

static void test_stale_receipt_refused(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    qt_send(&t, Q, "x");
    char old[64], fresh[64];
    qt_free(&t, qt_receive_one(&t, Q, old));
    qt_set_time(&t, QT_T0 + 30000);
    qt_free(&t, qt_receive_one(&t, Q, fresh));
    assert_string_not_equal(old, fresh);
    assert_int_equal(qt_settle(&t, Q, old, KEEL_OK, NULL, NULL), KEEL_ESTALE);
    assert_int_equal(qt_change_visibility(&t, Q, old, 10), KEEL_ESTALE);
    /* A forged receipt for the same message and count is refused too. */
    char forged[64];
    strcpy(forged, fresh);
    forged[39] = forged[39] == '0' ? '1' : '0';
    assert_int_equal(qt_settle(&t, Q, forged, KEEL_OK, NULL, NULL), KEEL_ESTALE);
    assert_int_equal(qt_settle(&t, Q, "not a receipt", KEEL_OK, NULL, NULL), KEEL_EINVAL);
    assert_int_equal(qt_settle(&t, Q, fresh, KEEL_OK, NULL, NULL), 0);
    assert_int_equal(qt_settle(&t, Q, fresh, KEEL_OK, NULL, NULL), KEEL_ESTALE);
    assert_int_equal(qt_stats(&t, Q).deleted, 1);
    qt_close(&t);
}

static void test_settle_ok_retry_fail(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = qt_send(&t, Q, i == 0 ? "ok" : i == 1 ? "retry" : "fail");
    keel_queue_batch_t *b = qt_receive(&t, Q, 10);
    assert_int_equal(b->count, 3);
    keel_queue_settle_t items[3] = {
        {b->messages[0].receipt, KEEL_OK, NULL, NULL},
        {b->messages[1].receipt, KEEL_RETRY, "busy", "reserve"},
        {b->messages[2].receipt, KEEL_FAIL, "bad order", "validate"},
    };
    qt_call_t c = qt_settle_batch(&t, Q, items, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(c.statuses[i], 0);
    qt_free(&t, b);
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.deleted, 1);
    assert_int_equal(s.retried, 1);
    assert_int_equal(s.dead_lettered, 1);
    assert_int_equal(s.in_flight, 1); /* the retry waits out the visibility timeout */
    assert_int_equal(s.dlq_depth, 1);
    assert_int_equal(qt_receive_count(&t, Q), 0);
    qt_set_time(&t, QT_T0 + 30000);
    b = qt_receive_one(&t, Q, NULL);
    assert_string_equal(b->messages[0].message_id, ids[1].message_id);
    assert_int_equal(b->messages[0].receive_count, 2);
    qt_free(&t, b);
    keel_queue_dlq_page_t *page;
    assert_int_equal(t.api->dlq_list(t.ctx, Q, NULL, 10, &page), 0);
    assert_int_equal(page->count, 1);
    assert_string_equal(page->entries[0].message_id, ids[2].message_id);
    assert_string_equal(page->entries[0].first_error, "bad order");
    assert_string_equal(page->entries[0].last_error, "bad order");
    assert_string_equal(page->entries[0].failed_step, "validate");
    assert_memory_equal(page->entries[0].body, "fail", 4);
    t.api->dlq_page_free(t.ctx, page);
    qt_close(&t);
}

static void test_delay(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, "queues:\n  - name: jobs\n  - name: slow\n    delay: 5s\n", QT_T0);
    keel_queue_entry_t e = {.body = "later", .body_len = 5, .delay_s = 10};
    assert_int_equal(qt_send_entry(&t, Q, &e).status, 0);
    qt_send(&t, "slow", "default delay");
    assert_int_equal(qt_stats(&t, Q).delayed, 1);
    assert_int_equal(qt_receive_count(&t, Q), 0);
    assert_int_equal(qt_receive_count(&t, "slow"), 0);
    qt_set_time(&t, QT_T0 + 5000);
    assert_int_equal(qt_receive_count(&t, "slow"), 1);
    qt_set_time(&t, QT_T0 + 9999);
    assert_int_equal(qt_receive_count(&t, Q), 0);
    qt_set_time(&t, QT_T0 + 10000);
    assert_int_equal(qt_stats(&t, Q).visible, 1);
    assert_int_equal(qt_receive_count(&t, Q), 1);
    e.delay_s = 901;
    assert_int_equal(qt_send_entry(&t, Q, &e).status, KEEL_EINVAL);
    qt_close(&t);
}

static void test_retention_and_dlq_retention(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t,
            "sweep_interval: 10ms\nqueues:\n  - name: jobs\n    retention: 60s\n"
            "    dlq_retention: 120s\n",
            QT_T0);
    qt_dead_letter(&t, Q, "goes to the DLQ", "boom");
    qt_send(&t, Q, "stays in the queue");
    qt_set_time(&t, QT_T0 + 59999);
    assert_int_equal(qt_stats(&t, Q).visible, 1);
    qt_set_time(&t, QT_T0 + 60000);
    QT_WAIT_STAT(&t, Q, expired, 1);
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.visible, 0);
    assert_int_equal(s.dlq_depth, 1);
    /* DLQ expiry counts from the original send, as SQS does. */
    qt_set_time(&t, QT_T0 + 120000);
    QT_WAIT_STAT(&t, Q, dlq_depth, 0);
    s = qt_stats(&t, Q);
    assert_int_equal(s.expired, 2);
    assert_int_equal(s.bytes, 0);
    qt_close(&t);
}

static void test_redrive_resets_count(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t sent[5];
    for (int i = 0; i < 5; i++)
        sent[i] = qt_dead_letter(&t, Q, "poison", "bad");
    const char *listed[] = {sent[1].message_id, sent[3].message_id, "01HNOTINTHEDLQ0000000000000"};
    assert_int_equal(qt_redrive(&t, Q, listed, 3, 0), 2);
    keel_queue_batch_t *b = qt_receive(&t, Q, 10);
    assert_int_equal(b->count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(b->messages[i].message_id, sent[1 + 2 * i].message_id);
        assert_int_equal(b->messages[i].receive_count, 1);
    }
    qt_free(&t, b);
    assert_int_equal(qt_stats(&t, Q).dlq_depth, 3);
    assert_int_equal(qt_redrive(&t, Q, NULL, 0, 0), 3);
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.dlq_depth, 0);
    assert_int_equal(s.visible, 3);
    assert_int_equal(s.redriven, 5);
    assert_int_equal(qt_receive_count(&t, Q), 3);
    qt_close(&t);
}

static void test_redrive_rate_limit(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    for (int i = 0; i < 25; i++)
        qt_dead_letter(&t, Q, "poison", "bad");
    qt_call_t c = {0};
    assert_int_equal(t.api->dlq_redrive(t.ctx, Q, NULL, 0, 10, qt_on_done, &c), 0);
    /* One redrive at a time: a second one would bypass the rate. */
    qt_call_t second = {0};
    assert_int_equal(t.api->dlq_redrive(t.ctx, Q, NULL, 0, 0, qt_on_done, &second), KEEL_EEXIST);
    /* The clock stands still: 10 move in the first second, then none. */
    QT_WAIT_STAT(&t, Q, visible, 10);
    for (int i = 0; i < 5; i++)
        qt_send(&t, "other", "a round trip through the writer");
    qt_pause_ms(100); /* several writer ticks: a non-event cannot be awaited */
    assert_int_equal(qt_stats(&t, Q).visible, 10);
    assert_false(atomic_load(&c.done));
    qt_set_time(&t, QT_T0 + 1000);
    QT_WAIT_STAT(&t, Q, visible, 20);
    qt_set_time(&t, QT_T0 + 2000);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, 0);
    assert_int_equal(c.affected, 25);
    assert_int_equal(qt_stats(&t, Q).visible, 25);
    assert_false(atomic_load(&second.done)); /* refused: its callback never runs */
    /* Finished: the next one may start (and finds nothing to move). */
    qt_call_t third = {0};
    assert_int_equal(t.api->dlq_redrive(t.ctx, Q, NULL, 0, 0, qt_on_done, &third), 0);
    assert_true(qt_wait(&third, QT_WAIT_MS));
    assert_int_equal(third.status, 0);
    assert_int_equal(third.affected, 0);
    qt_close(&t);
}

static void test_purge_queue_and_dlq(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    for (int i = 0; i < 3; i++)
        qt_dead_letter(&t, Q, "dead", "bad");
    for (int i = 0; i < 20; i++)
        qt_send(&t, Q, "live");
    keel_queue_entry_t e = {.body = "delayed", .body_len = 7, .delay_s = 60};
    qt_send_entry(&t, Q, &e);
    keel_queue_batch_t *b = qt_receive(&t, Q, 5);
    assert_int_equal(b->count, 5);
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.in_flight, 5);
    assert_int_equal(qt_purge(&t, Q, false), 21);
    s = qt_stats(&t, Q);
    assert_int_equal(s.visible + s.in_flight + s.delayed, 0);
    assert_int_equal(s.dlq_depth, 3);
    assert_int_equal(qt_settle(&t, Q, b->messages[0].receipt, KEEL_OK, NULL, NULL), KEEL_ESTALE);
    qt_free(&t, b);
    assert_int_equal(qt_purge(&t, Q, true), 3);
    s = qt_stats(&t, Q);
    assert_int_equal(s.dlq_depth, 0);
    assert_int_equal(s.bytes, 0);
    qt_send(&t, Q, "after the purge");
    assert_int_equal(qt_receive_count(&t, Q), 1);
    qt_close(&t);
}

static void test_dedup_window(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, "queues:\n  - name: jobs\n    dedup_window: 5m\n", QT_T0);
    keel_queue_entry_t e = {.dedup_id = "order-42", .body = "a", .body_len = 1};
    keel_queue_sent_t first = qt_send_entry(&t, Q, &e);
    assert_int_equal(first.status, 0);
    assert_false(first.duplicate);
    /* Two more in one call: both duplicates of the first. */
    keel_queue_entry_t two[2] = {e, e};
    qt_call_t c = qt_send_batch(&t, Q, two, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c.sent[i].status, 0);
        assert_true(c.sent[i].duplicate);
        assert_string_equal(c.sent[i].message_id, first.message_id);
    }
    assert_int_equal(qt_stats(&t, Q).sent, 1);
    qt_set_time(&t, QT_T0 + 5 * 60000 - 1);
    assert_true(qt_send_entry(&t, Q, &e).duplicate);
    qt_set_time(&t, QT_T0 + 5 * 60000);
    keel_queue_sent_t later = qt_send_entry(&t, Q, &e);
    assert_false(later.duplicate);
    assert_string_not_equal(later.message_id, first.message_id);
    assert_int_equal(qt_stats(&t, Q).visible, 2);
    qt_close(&t);
}

/* Many messages retried over and over with backoff (base 1s, max 4s),
 * the clock moving in steps: each observed delay stays within
 * min(max, base * 2^(n-1)) plus one step, and the upper envelope grows
 * with n, then caps. */
static void test_backoff_grows_and_caps(void **state)
{
    (void)state;
    enum { MESSAGES = 60, STEP_MS = 50, ROUNDS = 5 };
    qt_t t;
    qt_open(&t,
            "queues:\n  - name: jobs\n    max_receives: 100\n"
            "    backoff: {enabled: true, base: 1s, max: 4s}\n",
            QT_T0);
    for (int i = 0; i < MESSAGES; i++)
        qt_send(&t, Q, "flaky");
    tracked_t list[MESSAGES];
    size_t tracked = 0, finished = 0;
    uint64_t now = QT_T0, max_delay[ROUNDS + 1] = {0};
    while (finished < MESSAGES) {
        keel_queue_batch_t *b;
        while ((b = qt_receive(&t, Q, 10))->count > 0) {
            for (size_t i = 0; i < b->count; i++) {
                const keel_queue_message_t *m = &b->messages[i];
                tracked_t *entry = track(list, &tracked, m->message_id);
                if (entry->retries > 0) {
                    uint32_t n = entry->retries;
                    uint64_t delay = now - entry->retried_at;
                    uint64_t cap = n >= 3 ? 4000 : 1000u << (n - 1);
                    if (delay >= cap + STEP_MS)
                        fail_msg("retry %u waited %llu ms, cap %llu", n, (unsigned long long)delay,
                                 (unsigned long long)cap);
                    max_delay[n] = delay > max_delay[n] ? delay : max_delay[n];
                }
                bool last = m->receive_count > ROUNDS;
                assert_int_equal(
                    qt_settle(&t, Q, m->receipt, last ? KEEL_OK : KEEL_RETRY, "flaky", NULL), 0);
                entry->retried_at = now;
                entry->retries = m->receive_count;
                finished += last;
            }
            qt_free(&t, b);
        }
        qt_free(&t, b);
        now += STEP_MS;
        qt_set_time(&t, now);
        assert_true(now < QT_T0 + 60000);
    }
    /* With 60 samples each, the maxima sit near the caps. */
    assert_true(max_delay[1] > 700 && max_delay[1] < 1000 + STEP_MS);
    assert_true(max_delay[2] > 1000 + STEP_MS);
    assert_true(max_delay[3] > 2000 + STEP_MS);
    for (int n = 3; n <= ROUNDS; n++)
        assert_true(max_delay[n] > 3000 && max_delay[n] < 4000 + STEP_MS);
    assert_int_equal(qt_stats(&t, Q).retried, MESSAGES * ROUNDS);
    qt_close(&t);
}

static void test_long_poll_wakes_on_send(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, 0);
    qt_call_t poll = {0};
    uint64_t started = qt_mono_ms();
    assert_int_equal(t.api->receive(t.ctx, Q, 10, 0, 10000, qt_on_received, &poll), 0);
    /* A send to another queue goes through the writer; the poll stays. */
    qt_send(&t, "other", "not for the poller");
    assert_false(atomic_load(&poll.done));
    keel_queue_sent_t sent = qt_send(&t, Q, "wake up");
    assert_true(qt_wait(&poll, QT_WAIT_MS));
    assert_true(qt_mono_ms() - started < 5000);
    assert_int_equal(poll.status, 0);
    assert_int_equal(poll.batch->count, 1);
    assert_string_equal(poll.batch->messages[0].message_id, sent.message_id);
    qt_free(&t, poll.batch);
    /* With nothing sent, the wait ends with an empty batch. */
    started = qt_mono_ms();
    keel_queue_batch_t *b = qt_receive_wait(&t, Q, 1, 0, 200);
    assert_int_equal(b->count, 0);
    assert_true(qt_mono_ms() - started >= 200);
    qt_free(&t, b);
    qt_close(&t);
}

static void test_max_depth_full_then_recovers(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, "queues:\n  - name: jobs\n    max_depth: 5\n", QT_T0);
    for (int i = 0; i < 4; i++)
        qt_send(&t, Q, "fits");
    keel_queue_entry_t three[3] = {
        {.body = "a", .body_len = 1}, {.body = "b", .body_len = 1}, {.body = "c", .body_len = 1}};
    qt_call_t c = qt_send_batch(&t, Q, three, 3);
    assert_int_equal(c.sent[0].status, 0);
    assert_int_equal(c.sent[1].status, KEEL_EFULL);
    assert_int_equal(c.sent[2].status, KEEL_EFULL);
    keel_queue_entry_t e = {.body = "x", .body_len = 1};
    assert_int_equal(qt_send_entry(&t, Q, &e).status, KEEL_EFULL);
    char receipt[64];
    qt_free(&t, qt_receive_one(&t, Q, receipt));
    assert_int_equal(qt_send_entry(&t, Q, &e).status, KEEL_EFULL); /* in flight still counts */
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_OK, NULL, NULL), 0);
    assert_int_equal(qt_send_entry(&t, Q, &e).status, 0);
    assert_int_equal(qt_stats(&t, Q).visible, 5);
    qt_close(&t);
}

static void test_tiny_map_is_backpressure(void **state)
{
    (void)state;
    qt_t t;
    const char *config = "map_size: 1MiB\nqueues:\n  - name: jobs\n";
    qt_open(&t, config, QT_T0);
    unsigned char *body = malloc(QT_BIG);
    size_t accepted = qt_fill_map(&t, Q, body);
    assert_true(accepted > 10);
    for (int i = 0; i < 5; i++) {
        keel_queue_entry_t e = {.body = body, .body_len = QT_BIG};
        assert_int_equal(qt_send_entry(&t, Q, &e).status, KEEL_EFULL);
    }
    qt_stop(&t);
    assert_int_equal(qt_start(&t, config, QT_T0), 0);
    assert_int_equal(qt_stats(&t, Q).visible, accepted);
    for (size_t n = 0; n < accepted; n++) {
        keel_queue_batch_t *b = qt_receive_one(&t, Q, NULL);
        assert_int_equal(b->messages[0].body_len, QT_BIG);
        const unsigned char *got = b->messages[0].body;
        for (size_t i = 0; i < QT_BIG; i += 997)
            assert_int_equal(got[i], (unsigned char)(n + i));
        qt_free(&t, b);
    }
    free(body);
    qt_close(&t);
}

/* One group holding sends that hit MDB_MAP_FULL and a settle: the group
 * is redone without the sends, and the settle still commits. */
static void test_full_map_group_keeps_settle(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, "map_size: 1MiB\nsweep_interval: 1h\nqueues:\n  - name: jobs\n", QT_T0);
    qt_send(&t, Q, "in flight");
    char receipt[64];
    qt_free(&t, qt_receive_one(&t, Q, receipt));
    unsigned char *body = malloc(QT_BIG);
    qt_fill_map(&t, Q, body);
    t.debug->pause_writer(t.debug_ctx, true);
    keel_queue_entry_t e = {.body = body, .body_len = QT_BIG};
    keel_queue_settle_t item = {receipt, KEEL_OK, NULL, NULL};
    qt_call_t before = {0}, settle = {0}, after = {0};
    uint64_t commits0, requests0, commits1, requests1;
    t.debug->commit_counts(t.debug_ctx, &commits0, &requests0);
    assert_int_equal(t.api->send(t.ctx, Q, &e, 1, qt_on_sent, &before), 0);
    assert_int_equal(t.api->settle(t.ctx, Q, &item, 1, qt_on_settled, &settle), 0);
    assert_int_equal(t.api->send(t.ctx, Q, &e, 1, qt_on_sent, &after), 0);
    t.debug->pause_writer(t.debug_ctx, false);
    assert_true(qt_wait(&before, QT_WAIT_MS) && qt_wait(&settle, QT_WAIT_MS) &&
                qt_wait(&after, QT_WAIT_MS));
    assert_int_equal(before.sent[0].status, KEEL_EFULL);
    assert_int_equal(after.sent[0].status, KEEL_EFULL);
    assert_int_equal(settle.status, 0);
    assert_int_equal(settle.statuses[0], 0);
    t.debug->commit_counts(t.debug_ctx, &commits1, &requests1);
    assert_int_equal(commits1 - commits0, 1); /* one group */
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.deleted, 1);
    free(body);
    qt_close(&t);
}

static void test_restart_keeps_everything(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    qt_dead_letter(&t, Q, "three", "bad");
    keel_attr_t attrs[2] = {{"tenant", "acme"}, {"kind", "order"}};
    keel_queue_entry_t e = {
        .dedup_id = "d-1", .attrs = attrs, .attr_count = 2, .body = "one", .body_len = 3};
    keel_queue_sent_t one = qt_send_entry(&t, Q, &e);
    qt_send(&t, Q, "two");
    char receipt[64];
    qt_free(&t, qt_receive_one(&t, Q, receipt)); /* "one" is in flight */
    qt_stop(&t);

    assert_int_equal(qt_start(&t, QT_BASIC_CONFIG, QT_T0 + 1000), 0);
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.visible, 1);
    assert_int_equal(s.in_flight, 1);
    assert_int_equal(s.dlq_depth, 1);
    assert_int_equal(s.sent, 3);
    assert_int_equal(s.received, 2);
    assert_int_equal(s.dead_lettered, 1);
    assert_int_equal(s.bytes, 11);
    assert_int_equal(s.oldest_age_ms, 1000);
    /* The dedup index is rebuilt, the receipt still works. */
    keel_queue_sent_t again = qt_send_entry(&t, Q, &e);
    assert_true(again.duplicate);
    assert_string_equal(again.message_id, one.message_id);
    assert_int_equal(qt_change_visibility(&t, Q, receipt, 0), 0);
    keel_queue_batch_t *b = qt_receive(&t, Q, 10);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->messages[0].message_id, one.message_id);
    assert_int_equal(b->messages[0].receive_count, 2);
    assert_int_equal(b->messages[0].attr_count, 2);
    assert_string_equal(b->messages[0].attrs[1].key, "kind");
    assert_string_equal(b->messages[0].attrs[1].value, "order");
    assert_memory_equal(b->messages[1].body, "two", 3);
    qt_free(&t, b);
    qt_close(&t);
}

static void test_stats_counts(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    for (int i = 0; i < 6; i++)
        qt_send(&t, Q, "12345");
    keel_queue_entry_t e = {.body = "later", .body_len = 5, .delay_s = 30};
    qt_send_entry(&t, Q, &e);
    keel_queue_batch_t *b = qt_receive(&t, Q, 3);
    assert_int_equal(qt_settle(&t, Q, b->messages[0].receipt, KEEL_OK, NULL, NULL), 0);
    assert_int_equal(qt_settle(&t, Q, b->messages[1].receipt, KEEL_FAIL, "x", NULL), 0);
    qt_free(&t, b);
    qt_set_time(&t, QT_T0 + 4000);
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.visible, 3);
    assert_int_equal(s.in_flight, 1);
    assert_int_equal(s.delayed, 1);
    assert_int_equal(s.dlq_depth, 1);
    assert_int_equal(s.bytes, 30);
    assert_int_equal(s.oldest_age_ms, 4000);
    assert_int_equal(s.dlq_oldest_age_ms, 4000);
    assert_int_equal(s.sent, 7);
    assert_int_equal(s.received, 3);
    assert_int_equal(s.deleted, 1);
    assert_int_equal(s.dead_lettered, 1);
    assert_int_equal(s.retried + s.redriven + s.expired, 0);
    keel_queue_stats_t other = qt_stats(&t, "other");
    assert_int_equal(other.visible + other.sent, 0);
    assert_int_equal(t.api->stats(t.ctx, "nope", &s), KEEL_EINVAL);
    const char *names[4];
    assert_int_equal(t.api->list_queues(t.ctx, names, 4), 2);
    assert_string_equal(names[1], "other");
    qt_close(&t);
}

static void test_backup_restores(void **state)
{
    (void)state;
    qt_t t, restored;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    qt_dead_letter(&t, Q, "dead", "bad");
    for (int i = 0; i < 10; i++)
        qt_send(&t, Q, "kept");
    qt_make_dir(&restored);
    char target[512];
    snprintf(target, sizeof target, "%s/copy", restored.dir);
    assert_int_equal(mkdir(target, 0700), 0);
    snprintf(target, sizeof target, "%s/copy/data.mdb", restored.dir);
    qt_call_t c = {0};
    assert_int_equal(t.api->backup(t.ctx, target, qt_on_done, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, 0);
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal((uint64_t)st.st_size, c.affected);
    qt_close(&t);
    /* The copy is an LMDB environment the plugin opens as its store. */
    char config[768];
    snprintf(config, sizeof config, "path: %s/copy\n%s", restored.dir, QT_BASIC_CONFIG);
    assert_int_equal(qt_start(&restored, config, QT_T0), 0);
    keel_queue_stats_t s = qt_stats(&restored, Q);
    assert_int_equal(s.visible, 10);
    assert_int_equal(s.dlq_depth, 1);
    assert_int_equal(s.sent, 11);
    keel_queue_batch_t *b = qt_receive(&restored, Q, 10);
    assert_int_equal(b->count, 10);
    assert_memory_equal(b->messages[9].body, "kept", 4);
    qt_free(&restored, b);
    qt_close(&restored);
}

static void test_concurrent_exactly_once(void **state)
{
    (void)state;
    enum { SENDERS = 8, PER_SENDER = 5000 };
    qt_t t;
    qt_open(&t, "queues:\n  - name: jobs\n    visibility_timeout: 10m\n", 0);
    qt_load_t load = {
        .t = &t, .queue = Q, .senders = SENDERS, .per_sender = PER_SENDER, .window = 64};
    qt_run_load(&load, 2);
    assert_int_equal(atomic_load(&load.failures), 0);
    assert_int_equal(atomic_load(&load.received), SENDERS * PER_SENDER);
    for (size_t i = 0; i < SENDERS * PER_SENDER; i++)
        if (atomic_load(&load.seen[i]) != 1)
            fail_msg("message %zu was received %d times", i, atomic_load(&load.seen[i]));
    keel_queue_stats_t s = qt_stats(&t, Q);
    assert_int_equal(s.sent, SENDERS * PER_SENDER);
    assert_int_equal(s.deleted, SENDERS * PER_SENDER);
    assert_int_equal(s.visible + s.in_flight, 0);
    free(load.seen);
    qt_close(&t);
}

/* 16 producers, each waiting for its send before the next: the commits
 * carry several sends each. */
static void test_group_commit_groups(void **state)
{
    (void)state;
    qt_t t;
    /* No sweep during the run: its request would be counted as a send. */
    qt_open(&t, "sweep_interval: 1h\nqueues:\n  - name: jobs\n", 0);
    /* The sweep of the start (it sets the gauges) commits first. */
    uint64_t commits = 0, requests = 0, deadline_ms = qt_mono_ms() + QT_WAIT_MS;
    while (requests == 0 && qt_mono_ms() < deadline_ms) {
        t.debug->commit_counts(t.debug_ctx, &commits, &requests);
        qt_pause_ms(1);
    }
    assert_int_equal(requests, 1);
    qt_load_t load = {.t = &t, .queue = Q, .senders = 16, .per_sender = 300, .window = 1};
    qt_run_load(&load, 0);
    assert_int_equal(atomic_load(&load.failures), 0);
    assert_int_equal(load.requests, 16 * 300);
    print_message("%llu sends in %llu commits\n", (unsigned long long)load.requests,
                  (unsigned long long)load.commits);
    assert_true(load.requests > 2 * load.commits);
    free(load.seen);
    qt_close(&t);
}

static void test_config_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "queues:\n  - name: a\n  - name: a\n",
        "queues:\n  - name: a\n    delay: 901s\n",
        "queues:\n  - name: a\n    max_receives: 0\n",
        "queues:\n  - name: a\n    retention: 30s\n",
        "queues:\n  - name: a\n    max_message_size: 2MiB\n",
        "queues:\n  - name: 'bad name'\n",
        "queues:\n  - name: a\n    backoff: {base: 10s, max: 1s}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qt_t t;
        qt_make_dir(&t);
        assert_int_equal(qt_start(&t, bad[i], 0), KEEL_EFAILED);
        qt_close(&t);
    }
}

static void test_invalid_entries_fail_alone(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, "queues:\n  - name: jobs\n    max_message_size: 1KiB\n", QT_T0);
    static char big[2048];
    keel_attr_t bad_attr = {"", "empty key"};
    keel_queue_entry_t entries[4] = {
        {.body = "ok", .body_len = 2},
        {.body = big, .body_len = sizeof big},
        {.body = "late", .body_len = 4, .delay_s = 1000},
        {.body = "x", .body_len = 1, .attrs = &bad_attr, .attr_count = 1},
    };
    qt_call_t c = qt_send_batch(&t, Q, entries, 4);
    assert_int_equal(c.sent[0].status, 0);
    for (int i = 1; i < 4; i++)
        assert_int_equal(c.sent[i].status, KEEL_EINVAL);
    assert_int_equal(qt_stats(&t, Q).sent, 1);
    assert_int_equal(t.api->send(t.ctx, "nope", entries, 1, qt_on_sent, &c), KEEL_EINVAL);
    assert_int_equal(t.api->send(t.ctx, Q, entries, 0, qt_on_sent, &c), KEEL_EINVAL);
    assert_int_equal(t.api->receive(t.ctx, Q, 11, 0, 0, qt_on_received, &c), KEEL_EINVAL);
    qt_close(&t);
}

/* stop() answers every accepted request, even those still queued. */
static void test_stop_answers_every_request(void **state)
{
    (void)state;
    enum { N = 200 };
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    static qt_call_t calls[N];
    memset(calls, 0, sizeof calls);
    poll_outcome_t poll = {.t = &t, .count = 99};
    assert_int_equal(t.api->receive(t.ctx, "other", 1, 0, 20000, on_poll_ended, &poll), 0);
    t.debug->pause_writer(t.debug_ctx, true);
    keel_queue_entry_t e = {.body = "queued", .body_len = 6};
    for (int i = 0; i < N; i++)
        assert_int_equal(t.api->send(t.ctx, Q, &e, 1, qt_on_sent, &calls[i]), 0);
    qt_stop(&t); /* still paused: stop overrides it */
    for (int i = 0; i < N; i++) {
        assert_true(atomic_load(&calls[i].done));
        assert_int_equal(calls[i].sent[0].status, 0);
    }
    assert_true(atomic_load(&poll.done));
    assert_int_equal(poll.status, 0);
    assert_int_equal(poll.count, 0);
    assert_int_equal(qt_start(&t, QT_BASIC_CONFIG, QT_T0), 0);
    assert_int_equal(qt_stats(&t, Q).visible, N);
    qt_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visibility_expiry_redelivers),
        cmocka_unit_test(test_fourth_receive_dead_letters),
        cmocka_unit_test(test_stale_receipt_refused),
        cmocka_unit_test(test_settle_ok_retry_fail),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_retention_and_dlq_retention),
        cmocka_unit_test(test_redrive_resets_count),
        cmocka_unit_test(test_redrive_rate_limit),
        cmocka_unit_test(test_purge_queue_and_dlq),
        cmocka_unit_test(test_dedup_window),
        cmocka_unit_test(test_backoff_grows_and_caps),
        cmocka_unit_test(test_long_poll_wakes_on_send),
        cmocka_unit_test(test_max_depth_full_then_recovers),
        cmocka_unit_test(test_tiny_map_is_backpressure),
        cmocka_unit_test(test_full_map_group_keeps_settle),
        cmocka_unit_test(test_restart_keeps_everything),
        cmocka_unit_test(test_stats_counts),
        cmocka_unit_test(test_backup_restores),
        cmocka_unit_test(test_concurrent_exactly_once),
        cmocka_unit_test(test_group_commit_groups),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_invalid_entries_fail_alone),
        cmocka_unit_test(test_stop_answers_every_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
