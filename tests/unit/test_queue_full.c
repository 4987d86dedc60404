/*
 * queue_lmdb near a full storage budget (regressions from a review): large
 * bodies take whole overflow pages and must not eat the reserve consumers
 * need to drain; a group that overflows the map must not wedge the store;
 * a redrive that does not fit is refused cleanly and works once the map is
 * larger; a dedup entry added by an aborted group is undone.
 */
#include "queue_test_util.h"

#include <sys/stat.h>

/* Fill a small map with bodies of `size` bytes in big groups, then drain. */
static void fill_and_drain(size_t size, size_t per_group, const char *map)
{
    qt_t t;
    char config[256];
    snprintf(
        config, sizeof config,
        "map_size: %s\nsweep_interval: 1h\nqueues:\n  - name: jobs\n    max_message_size: 256KiB\n",
        map);
    qt_open(&t, config, QT_T0);
    unsigned char *body = calloc(1, size);
    size_t accepted = 0, full_groups = 0;
    static qt_call_t calls[4096];
    for (int round = 0; round < 200 && full_groups < 3; round++) {
        t.debug->pause_writer(t.debug_ctx, true);
        keel_queue_entry_t e[10];
        for (int i = 0; i < 10; i++)
            e[i] = (keel_queue_entry_t){.body = body, .body_len = size};
        memset(calls, 0, sizeof calls);
        for (size_t r = 0; r < per_group; r++)
            assert_int_equal(t.api->send(t.ctx, Q, e, 10, qt_on_sent, &calls[r]), 0);
        t.debug->pause_writer(t.debug_ctx, false);
        size_t ok = 0;
        for (size_t r = 0; r < per_group; r++) {
            assert_true(qt_wait(&calls[r], QT_WAIT_MS));
            for (int i = 0; i < 10; i++)
                ok += calls[r].sent[i].status == 0;
        }
        accepted += ok;
        if (ok == 0)
            full_groups++;
    }
    print_message("size %zu: accepted %zu\n", size, accepted);
    size_t drained = 0, efull = 0;
    for (size_t n = 0; n < accepted + 10; n++) {
        qt_call_t r = {0};
        assert_int_equal(t.api->receive(t.ctx, Q, 10, 0, 0, qt_on_received, &r), 0);
        assert_true(qt_wait(&r, QT_WAIT_MS));
        if (r.status != 0) {
            efull++;
            print_message("receive failed: %d\n", r.status);
            if (efull > 5)
                break;
            continue;
        }
        keel_queue_batch_t *b = r.batch;
        if (b->count == 0) {
            qt_free(&t, b);
            break;
        }
        keel_queue_settle_t items[10];
        for (size_t i = 0; i < b->count; i++)
            items[i] = (keel_queue_settle_t){b->messages[i].receipt, KEEL_OK, NULL, NULL};
        qt_call_t c = {0};
        assert_int_equal(t.api->settle(t.ctx, Q, items, b->count, qt_on_settled, &c), 0);
        assert_true(qt_wait(&c, QT_WAIT_MS));
        if (c.status != 0) {
            efull++;
            print_message("settle failed: %d\n", c.status);
            if (efull > 5) {
                qt_free(&t, b);
                break;
            }
        } else
            drained += b->count;
        qt_free(&t, b);
    }
    keel_queue_stats_t s = qt_stats(&t, Q);
    print_message("drained %zu of %zu; failures %zu; visible %llu in_flight %llu\n", drained,
                  accepted, efull, (unsigned long long)s.visible, (unsigned long long)s.in_flight);
    free(body);
    qt_close(&t);
    assert_int_equal(efull, 0);
    assert_int_equal(drained, accepted);
}

static void test_small_bodies_fill_and_drain(void **s)
{
    (void)s;
    fill_and_drain(100, 100, "1MiB");
}

/* Just over the node limit: each takes a whole 4 KiB overflow page. */
static void test_overflow_bodies_fill_and_drain(void **s)
{
    (void)s;
    fill_and_drain(2100, 23, "1MiB");
}

static void test_two_page_bodies_fill_and_drain(void **s)
{
    (void)s;
    fill_and_drain(4100, 20, "1MiB");
}

/* One group of 23 x 10 sends of 2100-byte bodies into an empty 1 MiB map,
 * then a restart, a purge and retention: the queue stays usable. */
static void test_large_bodies_never_eat_the_reserve(void **s)
{
    (void)s;
    const char *config = "map_size: 1MiB\nsweep_interval: 1h\nqueues:\n  - name: jobs\n";
    qt_t t;
    qt_open(&t, config, QT_T0);
    static unsigned char body[2100];
    static qt_call_t calls[23];
    memset(calls, 0, sizeof calls);
    keel_queue_entry_t e[10];
    for (int i = 0; i < 10; i++)
        e[i] = (keel_queue_entry_t){.body = body, .body_len = sizeof body};
    t.debug->pause_writer(t.debug_ctx, true);
    for (int r = 0; r < 23; r++)
        assert_int_equal(t.api->send(t.ctx, Q, e, 10, qt_on_sent, &calls[r]), 0);
    t.debug->pause_writer(t.debug_ctx, false);
    size_t ok = 0;
    for (int r = 0; r < 23; r++) {
        assert_true(qt_wait(&calls[r], QT_WAIT_MS));
        for (int i = 0; i < 10; i++)
            ok += calls[r].sent[i].status == 0;
    }
    assert_true(ok > 0 && ok < 230);
    qt_call_t r = {0};
    assert_int_equal(t.api->receive(t.ctx, Q, 1, 0, 0, qt_on_received, &r), 0);
    assert_true(qt_wait(&r, QT_WAIT_MS));
    assert_int_equal(r.status, 0);
    qt_free(&t, r.batch);
    qt_stop(&t);
    assert_int_equal(qt_start(&t, config, QT_T0), 0);
    qt_call_t r2 = {0};
    assert_int_equal(t.api->receive(t.ctx, Q, 1, 0, 0, qt_on_received, &r2), 0);
    assert_true(qt_wait(&r2, QT_WAIT_MS));
    assert_int_equal(r2.status, 0);
    qt_free(&t, r2.batch);
    qt_call_t p = {0};
    assert_int_equal(t.api->purge(t.ctx, Q, false, qt_on_done, &p), 0);
    assert_true(qt_wait(&p, QT_WAIT_MS));
    assert_int_equal(p.status, 0);
    assert_int_equal(p.affected, ok);
    qt_close(&t);
}

static void test_dedup_undo_after_map_full(void **s)
{
    (void)s;
    qt_t t;
    qt_open(&t, "map_size: 1MiB\nsweep_interval: 1h\nqueues:\n  - name: jobs\n", QT_T0);
    static unsigned char body[4100];
    static qt_call_t calls[21];
    memset(calls, 0, sizeof calls);
    keel_queue_entry_t e[10];
    for (int i = 0; i < 10; i++)
        e[i] = (keel_queue_entry_t){.body = body, .body_len = sizeof body};
    keel_queue_entry_t d = {.dedup_id = "k", .body = "x", .body_len = 1};
    t.debug->pause_writer(t.debug_ctx, true);
    assert_int_equal(t.api->send(t.ctx, Q, &d, 1, qt_on_sent, &calls[20]), 0);
    for (int r = 0; r < 20; r++)
        assert_int_equal(t.api->send(t.ctx, Q, e, 10, qt_on_sent, &calls[r]), 0);
    t.debug->pause_writer(t.debug_ctx, false);
    for (int r = 0; r < 21; r++)
        assert_true(qt_wait(&calls[r], QT_WAIT_MS));
    print_message("dedup send in the group: %d dup=%d; big[0]: %d\n", calls[20].sent[0].status,
                  calls[20].sent[0].duplicate, calls[0].sent[0].status);
    keel_queue_sent_t again = qt_send_entry(&t, Q, &d);
    print_message("again: %d dup=%d\n", again.status, again.duplicate);
    assert_int_equal(again.status, 0);
    if (calls[20].sent[0].status != 0)
        assert_false(again.duplicate);
    qt_close(&t);
}

/* Fill, dead-letter everything, redrive all: the copies do not fit, so the
 * redrive is refused (KEEL_EFULL, nothing moved, the DLQ intact) instead of
 * eating the reserve; with a larger map it moves them all. */
static void test_redrive_that_does_not_fit_is_refused(void **s)
{
    (void)s;
    const char *small = "map_size: 1MiB\nsweep_interval: 1h\nqueues:\n  - name: jobs\n";
    qt_t t;
    qt_open(&t, small, QT_T0);
    unsigned char *body = malloc(QT_BIG);
    size_t n = qt_fill_map(&t, Q, body);
    free(body);
    for (size_t i = 0; i < n; i++) {
        char receipt[64];
        qt_free(&t, qt_receive_one(&t, Q, receipt));
        assert_int_equal(qt_settle(&t, Q, receipt, KEEL_FAIL, "x", "y"), 0);
    }
    qt_call_t c = {0};
    assert_int_equal(t.api->dlq_redrive(t.ctx, Q, NULL, 0, 0, qt_on_done, &c), 0);
    assert_true(qt_wait(&c, QT_WAIT_MS));
    assert_int_equal(c.status, KEEL_EFULL);
    keel_queue_stats_t st = qt_stats(&t, Q);
    assert_int_equal(st.dlq_depth + c.affected, n);
    assert_int_equal(st.visible, c.affected);
    /* Receives and settles still work with the reserve intact. */
    qt_call_t r = {0};
    assert_int_equal(t.api->receive(t.ctx, Q, 1, 0, 0, qt_on_received, &r), 0);
    assert_true(qt_wait(&r, QT_WAIT_MS));
    assert_int_equal(r.status, 0);
    qt_free(&t, r.batch);
    qt_stop(&t);
    assert_int_equal(
        qt_start(&t, "map_size: 8MiB\nsweep_interval: 1h\nqueues:\n  - name: jobs\n", QT_T0), 0);
    qt_call_t c2 = {0};
    assert_int_equal(t.api->dlq_redrive(t.ctx, Q, NULL, 0, 0, qt_on_done, &c2), 0);
    assert_true(qt_wait(&c2, QT_WAIT_MS));
    assert_int_equal(c2.status, 0);
    assert_int_equal(qt_stats(&t, Q).dlq_depth, 0);
    qt_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_bodies_fill_and_drain),
        cmocka_unit_test(test_overflow_bodies_fill_and_drain),
        cmocka_unit_test(test_two_page_bodies_fill_and_drain),
        cmocka_unit_test(test_large_bodies_never_eat_the_reserve),
        cmocka_unit_test(test_dedup_undo_after_map_full),
        cmocka_unit_test(test_redrive_that_does_not_fit_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
