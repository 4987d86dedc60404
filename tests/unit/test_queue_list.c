/* queue_lmdb tests: listing without consuming: a DLQ page by page
 * (dlq_list), and every message a queue holds (list_messages, queue API
 * 1.2). */
#include "queue_test_util.h"

/* list_messages: every message the queue holds (waiting, delayed, in
 * flight, dead-lettered), in send order, with its attributes, paged. */
static void test_list_messages(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t sent[4];
    sent[0] = qt_dead_letter(&t, Q, "m0", "bad");
    const keel_attr_t attrs[] = {{"order_id", "O-1"}};
    keel_queue_entry_t e = {.body = "m1", .body_len = 2, .attrs = attrs, .attr_count = 1};
    sent[1] = qt_send_entry(&t, Q, &e);
    keel_queue_entry_t delayed = {.body = "m2", .body_len = 2, .delay_s = 60};
    sent[2] = qt_send_entry(&t, Q, &delayed);
    sent[3] = qt_send(&t, Q, "m3");
    keel_queue_batch_t *b = qt_receive(&t, Q, 2); /* m1 and m3 in flight */
    assert_int_equal(b->count, 2);
    t.api->batch_free(t.ctx, b);
    keel_queue_list_page_t *page;
    assert_int_equal(t.api->list_messages(t.ctx, Q, NULL, 3, &page), 0);
    assert_int_equal(page->count, 3);
    assert_non_null(page->next_cursor);
    for (size_t i = 0; i < 3; i++) {
        char body[4];
        snprintf(body, sizeof body, "m%zu", i);
        assert_string_equal(page->messages[i].message_id, sent[i].message_id);
        assert_int_equal(page->messages[i].body_len, 2);
        assert_memory_equal(page->messages[i].body, body, 2);
        assert_int_equal(page->messages[i].sent_at_ms, QT_T0);
    }
    assert_int_equal(page->messages[1].attr_count, 1);
    assert_string_equal(page->messages[1].attrs[0].key, "order_id");
    assert_string_equal(page->messages[1].attrs[0].value, "O-1");
    keel_queue_list_page_t *next;
    assert_int_equal(t.api->list_messages(t.ctx, Q, page->next_cursor, 3, &next), 0);
    assert_int_equal(next->count, 1);
    assert_string_equal(next->messages[0].message_id, sent[3].message_id);
    assert_null(next->next_cursor);
    t.api->list_page_free(t.ctx, page);
    t.api->list_page_free(t.ctx, next);
    assert_int_equal(t.api->list_messages(t.ctx, Q, "zz", 3, &page), KEEL_EINVAL);
    assert_int_equal(t.api->list_messages(t.ctx, Q, NULL, 0, &page), KEEL_EINVAL);
    assert_int_equal(t.api->list_messages(t.ctx, "nope", NULL, 3, &page), KEEL_EINVAL);
    assert_int_equal(qt_stats(&t, Q).dlq_depth, 1); /* nothing consumed */
    assert_int_equal(qt_stats(&t, Q).in_flight, 2);
    qt_close(&t);
}

static void test_dlq_list_pages_without_consuming(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t sent[7];
    for (int i = 0; i < 7; i++) {
        qt_set_time(&t, QT_T0 + (uint64_t)i * 10);
        char body[8];
        snprintf(body, sizeof body, "m%d", i);
        sent[i] = qt_dead_letter(&t, Q, body, "bad");
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *cursor = NULL;
        keel_queue_dlq_page_t *pages[3];
        for (int p = 0; p < 3; p++) {
            assert_int_equal(t.api->dlq_list(t.ctx, Q, cursor, 3, &pages[p]), 0);
            assert_int_equal(pages[p]->count, p < 2 ? 3 : 1);
            for (size_t i = 0; i < pages[p]->count; i++) {
                const keel_queue_dlq_entry_t *e = &pages[p]->entries[i];
                int n = p * 3 + (int)i;
                char body[8];
                snprintf(body, sizeof body, "m%d", n);
                assert_string_equal(e->message_id, sent[n].message_id);
                assert_int_equal(e->body_len, strlen(body));
                assert_memory_equal(e->body, body, e->body_len);
                assert_int_equal(e->dead_lettered_at_ms, QT_T0 + (uint64_t)n * 10);
                assert_int_equal(e->sent_at_ms, QT_T0 + (uint64_t)n * 10);
                assert_int_equal(e->first_received_at_ms, e->sent_at_ms);
                assert_int_equal(e->last_received_at_ms, e->sent_at_ms);
                assert_string_equal(e->failed_step, "step");
            }
            cursor = pages[p]->next_cursor;
            assert_true(p < 2 ? cursor != NULL : cursor == NULL);
        }
        for (int p = 0; p < 3; p++)
            t.api->dlq_page_free(t.ctx, pages[p]);
    }
    keel_queue_dlq_page_t *page;
    assert_int_equal(t.api->dlq_list(t.ctx, Q, "zz", 3, &page), KEEL_EINVAL);
    assert_int_equal(t.api->dlq_list(t.ctx, Q, NULL, 0, &page), KEEL_EINVAL);
    assert_int_equal(qt_stats(&t, Q).dlq_depth, 7);
    qt_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dlq_list_pages_without_consuming),
        cmocka_unit_test(test_list_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
