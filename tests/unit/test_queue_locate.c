/* queue_lmdb tests: locate() (queue API 1.1) follows a message by its id
 * through the queue, the DLQ, redrive, purge, expiry and restarts. */
#include "queue_test_util.h"

#include <lmdb.h>

static keel_queue_location_t locate(qt_t *t, const char *queue, const char *id)
{
    keel_queue_location_t loc;
    memset(&loc, 0x5a, sizeof loc); /* every field must be written */
    assert_int_equal(t->api->locate(t->ctx, queue, id, &loc), 0);
    return loc;
}

static void assert_where(qt_t *t, const char *id, keel_queue_where_t where, uint32_t count)
{
    keel_queue_location_t loc = locate(t, Q, id);
    assert_int_equal(loc.where, where);
    assert_int_equal(loc.receive_count, count);
    if (where != KEEL_QUEUE_DEAD && where != KEEL_QUEUE_RETRYING) {
        assert_string_equal(loc.last_error, "");
        assert_string_equal(loc.failed_step, "");
    }
    if (where != KEEL_QUEUE_DEAD)
        assert_int_equal(loc.dead_lettered_at_ms, 0);
}

/* Receives the one visible message, which must be `id`; its receipt into
 * `receipt`. */
static void receive_it(qt_t *t, const char *id, char *receipt)
{
    keel_queue_batch_t *b = qt_receive_one(t, Q, receipt);
    assert_string_equal(b->messages[0].message_id, id);
    qt_free(t, b);
}

/* Opens the stopped instance's store directly: the number of entries in
 * the id index of queue number 1 ("jobs"); with `drop`, drops the index
 * first, as a store written before queue API 1.1 lacks it. */
static size_t id_index(const qt_t *t, bool drop)
{
    char path[300];
    snprintf(path, sizeof path, "%s/" QT_INSTANCE, t->dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st = {0};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
    assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "q1.ids", 0, &dbi), 0);
    if (drop)
        assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    else
        assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    return st.ms_entries;
}

/* Stops the instance; the id index must hold `held` entries (one per
 * message still in the queue or the DLQ: none leaked). */
static void close_expecting(qt_t *t, size_t held)
{
    qt_stop(t);
    assert_int_equal(id_index(t, false), held);
    qt_remove_dir(t->dir);
}

static void test_locate_follows_a_message(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    assert_true(KEEL_HAS(t.api, keel_queue_api_t, locate));
    char receipt[64];

    /* send, receive, settle OK */
    keel_queue_sent_t ok = qt_send(&t, Q, "ok");
    assert_where(&t, ok.message_id, KEEL_QUEUE_WAITING, 0);
    receive_it(&t, ok.message_id, receipt);
    assert_where(&t, ok.message_id, KEEL_QUEUE_IN_FLIGHT, 1);
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_OK, NULL, NULL), 0);
    assert_where(&t, ok.message_id, KEEL_QUEUE_GONE, 0);

    /* RETRY: invisible while the retry delay runs (stats() counts it in
     * flight) but held by nobody: RETRYING, with the error; waiting once it
     * passed, then received again */
    keel_queue_sent_t retry = qt_send(&t, Q, "retry");
    receive_it(&t, retry.message_id, receipt);
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_RETRY, "busy", "reserve"), 0);
    assert_int_equal(qt_stats(&t, Q).in_flight, 1);
    assert_where(&t, retry.message_id, KEEL_QUEUE_RETRYING, 1);
    keel_queue_location_t retrying = locate(&t, Q, retry.message_id);
    assert_string_equal(retrying.last_error, "busy");
    assert_string_equal(retrying.failed_step, "reserve");
    qt_set_time(&t, QT_T0 + 29999);
    assert_where(&t, retry.message_id, KEEL_QUEUE_RETRYING, 1);
    qt_set_time(&t, QT_T0 + 30000);
    assert_int_equal(qt_stats(&t, Q).visible, 1);
    assert_where(&t, retry.message_id, KEEL_QUEUE_WAITING, 1);
    receive_it(&t, retry.message_id, receipt);
    assert_where(&t, retry.message_id, KEEL_QUEUE_IN_FLIGHT, 2);

    /* FAIL: dead, with the error and the step */
    qt_set_time(&t, QT_T0 + 31000);
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_FAIL, "bad order", "validate"), 0);
    keel_queue_location_t loc = locate(&t, Q, retry.message_id);
    assert_int_equal(loc.where, KEEL_QUEUE_DEAD);
    assert_int_equal(loc.receive_count, 2);
    assert_string_equal(loc.last_error, "bad order");
    assert_string_equal(loc.failed_step, "validate");
    assert_int_equal(loc.dead_lettered_at_ms, QT_T0 + 31000);

    /* redrive: waiting again under the same id, then in flight */
    const char *ids[] = {retry.message_id};
    assert_int_equal(qt_redrive(&t, Q, ids, 1, 0), 1);
    assert_where(&t, retry.message_id, KEEL_QUEUE_WAITING, 0);
    receive_it(&t, retry.message_id, receipt);
    assert_where(&t, retry.message_id, KEEL_QUEUE_IN_FLIGHT, 1);

    /* an expired visibility is waiting, as stats() and receive see it */
    qt_set_time(&t, QT_T0 + 61000);
    assert_int_equal(qt_stats(&t, Q).visible, 1);
    assert_where(&t, retry.message_id, KEEL_QUEUE_WAITING, 1);
    receive_it(&t, retry.message_id, receipt);
    assert_where(&t, retry.message_id, KEEL_QUEUE_IN_FLIGHT, 2);
    assert_int_equal(qt_change_visibility(&t, Q, receipt, 0), 0);
    assert_where(&t, retry.message_id, KEEL_QUEUE_WAITING, 2);
    receive_it(&t, retry.message_id, receipt);
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_OK, NULL, NULL), 0);
    assert_where(&t, retry.message_id, KEEL_QUEUE_GONE, 0);

    /* delayed: waiting; a duplicate send is the first message */
    keel_queue_entry_t e = {.dedup_id = "d-1", .body = "later", .body_len = 5, .delay_s = 60};
    keel_queue_sent_t later = qt_send_entry(&t, Q, &e);
    assert_int_equal(later.status, 0);
    assert_where(&t, later.message_id, KEEL_QUEUE_WAITING, 0);
    keel_queue_sent_t again = qt_send_entry(&t, Q, &e);
    assert_true(again.duplicate);
    assert_string_equal(again.message_id, later.message_id);
    assert_where(&t, later.message_id, KEEL_QUEUE_WAITING, 0);
    /* ids are per queue */
    assert_int_equal(locate(&t, "other", later.message_id).where, KEEL_QUEUE_GONE);
    close_expecting(&t, 1);
}

static void test_locate_max_receives(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t sent = qt_send(&t, Q, "crashes its consumer");
    uint64_t now = QT_T0;
    for (uint32_t round = 1; round <= 3; round++) {
        receive_it(&t, sent.message_id, NULL);
        assert_where(&t, sent.message_id, KEEL_QUEUE_IN_FLIGHT, round);
        now += 30000;
        qt_set_time(&t, now);
        assert_where(&t, sent.message_id, KEEL_QUEUE_WAITING, round);
    }
    assert_int_equal(qt_receive_count(&t, Q), 0); /* the 4th receive dead-letters it */
    keel_queue_location_t loc = locate(&t, Q, sent.message_id);
    assert_int_equal(loc.where, KEEL_QUEUE_DEAD);
    assert_int_equal(loc.receive_count, 3);
    assert_string_equal(loc.last_error, "max receives (3) exceeded");
    assert_string_equal(loc.failed_step, "");
    assert_int_equal(loc.dead_lettered_at_ms, now);
    close_expecting(&t, 1);
}

static void test_locate_truncates_long_errors(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    char error[900], step[300];
    memset(error, 'e', sizeof error - 1);
    error[sizeof error - 1] = '\0';
    memset(step, 's', sizeof step - 1);
    step[sizeof step - 1] = '\0';
    keel_queue_sent_t sent = qt_send(&t, Q, "x");
    char receipt[64];
    receive_it(&t, sent.message_id, receipt);
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_FAIL, error, step), 0);
    keel_queue_location_t loc = locate(&t, Q, sent.message_id);
    assert_int_equal(loc.where, KEEL_QUEUE_DEAD);
    assert_int_equal(strlen(loc.last_error), sizeof loc.last_error - 1);
    assert_memory_equal(loc.last_error, error, sizeof loc.last_error - 1);
    assert_int_equal(strlen(loc.failed_step), sizeof loc.failed_step - 1);
    close_expecting(&t, 1);
}

static void test_locate_after_purge(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t dead = qt_dead_letter(&t, Q, "dead", "bad");
    keel_queue_sent_t flying = qt_send(&t, Q, "in flight");
    receive_it(&t, flying.message_id, NULL);
    keel_queue_sent_t waiting = qt_send(&t, Q, "waiting");
    assert_int_equal(qt_purge(&t, Q, false), 2);
    assert_where(&t, flying.message_id, KEEL_QUEUE_GONE, 0);
    assert_where(&t, waiting.message_id, KEEL_QUEUE_GONE, 0);
    assert_int_equal(locate(&t, Q, dead.message_id).where, KEEL_QUEUE_DEAD);
    assert_int_equal(qt_purge(&t, Q, true), 1);
    assert_where(&t, dead.message_id, KEEL_QUEUE_GONE, 0);
    close_expecting(&t, 0);
}

static void test_locate_after_expiry(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t,
            "sweep_interval: 10ms\nqueues:\n  - name: jobs\n    retention: 60s\n"
            "    dlq_retention: 120s\n",
            QT_T0);
    keel_queue_sent_t dead = qt_dead_letter(&t, Q, "goes to the DLQ", "boom");
    keel_queue_sent_t live = qt_send(&t, Q, "stays in the queue");
    qt_set_time(&t, QT_T0 + 60000);
    QT_WAIT_STAT(&t, Q, expired, 1);
    assert_where(&t, live.message_id, KEEL_QUEUE_GONE, 0);
    assert_int_equal(locate(&t, Q, dead.message_id).where, KEEL_QUEUE_DEAD);
    qt_set_time(&t, QT_T0 + 120000);
    QT_WAIT_STAT(&t, Q, dlq_depth, 0);
    assert_where(&t, dead.message_id, KEEL_QUEUE_GONE, 0);
    close_expecting(&t, 0);
}

static void test_locate_refuses_bad_arguments(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t sent = qt_send(&t, Q, "x");
    keel_queue_location_t loc;
    assert_int_equal(t.api->locate(t.ctx, "nope", sent.message_id, &loc), KEEL_EINVAL);
    assert_int_equal(t.api->locate(t.ctx, NULL, sent.message_id, &loc), KEEL_EINVAL);
    assert_int_equal(t.api->locate(t.ctx, Q, sent.message_id, NULL), KEEL_EINVAL);
    const char *malformed[] = {
        NULL,
        "",
        "01ARZ3NDEKTSV4RRFFQ69G5FA",   /* 25 */
        "01ARZ3NDEKTSV4RRFFQ69G5FAVX", /* 27 */
        "01arz3ndektsv4rrffq69g5fav",  /* lower case */
        "01ARZ3NDEKTSV4RRFFQ69G5FAI",  /* not in the alphabet: I, L, O, U */
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",
        "01ARZ3NDEKTSV4RRFFQ69G5FA-",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        assert_int_equal(t.api->locate(t.ctx, Q, malformed[i], &loc), KEEL_EINVAL);
    /* Well formed but unknown: gone. */
    assert_where(&t, "01ARZ3NDEKTSV4RRFFQ69G5FAV", KEEL_QUEUE_GONE, 0);
    assert_where(&t, sent.message_id, KEEL_QUEUE_WAITING, 0);
    close_expecting(&t, 1);
}

static void test_locate_survives_restart(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t dead = qt_dead_letter(&t, Q, "dead", "bad");
    keel_queue_sent_t flying = qt_send(&t, Q, "in flight");
    char receipt[64];
    receive_it(&t, flying.message_id, receipt);
    keel_queue_sent_t waiting = qt_send(&t, Q, "waiting");
    qt_stop(&t);

    assert_int_equal(qt_start(&t, QT_BASIC_CONFIG, QT_T0 + 1000), 0);
    assert_where(&t, waiting.message_id, KEEL_QUEUE_WAITING, 0);
    assert_where(&t, flying.message_id, KEEL_QUEUE_IN_FLIGHT, 1);
    keel_queue_location_t loc = locate(&t, Q, dead.message_id);
    assert_int_equal(loc.where, KEEL_QUEUE_DEAD);
    assert_string_equal(loc.last_error, "bad");
    assert_string_equal(loc.failed_step, "step");
    assert_int_equal(loc.dead_lettered_at_ms, QT_T0);
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_OK, NULL, NULL), 0);
    assert_where(&t, flying.message_id, KEEL_QUEUE_GONE, 0);
    assert_int_equal(qt_redrive(&t, Q, NULL, 0, 0), 1);
    assert_where(&t, dead.message_id, KEEL_QUEUE_WAITING, 0);
    close_expecting(&t, 2);
}

static void test_locate_store_without_index(void **state)
{
    (void)state;
    qt_t t;
    qt_open(&t, QT_BASIC_CONFIG, QT_T0);
    keel_queue_sent_t dead = qt_dead_letter(&t, Q, "dead", "bad");
    keel_queue_sent_t flying = qt_send(&t, Q, "in flight");
    char receipt[64];
    receive_it(&t, flying.message_id, receipt);
    keel_queue_sent_t waiting = qt_send(&t, Q, "waiting");
    qt_stop(&t);
    id_index(&t, true);

    /* The index is created again; older messages are not in it. */
    assert_int_equal(qt_start(&t, QT_BASIC_CONFIG, QT_T0 + 1000), 0);
    assert_where(&t, waiting.message_id, KEEL_QUEUE_GONE, 0);
    assert_where(&t, flying.message_id, KEEL_QUEUE_GONE, 0);
    assert_where(&t, dead.message_id, KEEL_QUEUE_GONE, 0);
    /* Deleting them still works; redrive and new sends index them. */
    assert_int_equal(qt_settle(&t, Q, receipt, KEEL_OK, NULL, NULL), 0);
    assert_int_equal(qt_stats(&t, Q).deleted, 1);
    assert_int_equal(qt_redrive(&t, Q, NULL, 0, 0), 1);
    assert_where(&t, dead.message_id, KEEL_QUEUE_WAITING, 0);
    keel_queue_sent_t fresh = qt_send(&t, Q, "fresh");
    assert_where(&t, fresh.message_id, KEEL_QUEUE_WAITING, 0);
    assert_int_equal(qt_purge(&t, Q, false), 3);
    assert_where(&t, dead.message_id, KEEL_QUEUE_GONE, 0);
    assert_where(&t, fresh.message_id, KEEL_QUEUE_GONE, 0);
    close_expecting(&t, 0);
}

/* Readers on other threads while the writer sends, receives and settles:
 * locate() never blocks on the writer and sees only whole states. */
typedef struct reader {
    qt_t *t;
    char (*ids)[KEEL_ID_LEN + 1];
    size_t count;
    atomic_int stop;
    atomic_uint_least64_t calls, failures;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    for (size_t i = 0; !atomic_load(&r->stop); i = (i + 1) % r->count) {
        keel_queue_location_t loc;
        int rc = r->t->api->locate(r->t->ctx, Q, r->ids[i], &loc);
        if (rc != 0 || loc.where == KEEL_QUEUE_DEAD || loc.receive_count > 1)
            atomic_fetch_add(&r->failures, 1);
        atomic_fetch_add(&r->calls, 1);
    }
    return NULL;
}

static void test_locate_while_the_writer_works(void **state)
{
    (void)state;
    enum { N = 200 };
    qt_t t;
    qt_open(&t, "queues:\n  - name: jobs\n    visibility_timeout: 10m\n", 0);
    static char ids[N][KEEL_ID_LEN + 1];
    for (size_t i = 0; i < N; i++)
        strcpy(ids[i], qt_send(&t, Q, "body").message_id);
    reader_t r = {.t = &t, .ids = ids, .count = N};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &r), 0);
    for (size_t done = 0; done < N;) {
        keel_queue_batch_t *b = qt_receive(&t, Q, KEEL_QUEUE_MAX_BATCH);
        keel_queue_settle_t items[KEEL_QUEUE_MAX_BATCH];
        for (size_t i = 0; i < b->count; i++)
            items[i] = (keel_queue_settle_t){b->messages[i].receipt, KEEL_OK, NULL, NULL};
        if (b->count)
            qt_settle_batch(&t, Q, items, b->count);
        done += b->count;
        qt_free(&t, b);
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(atomic_load(&r.failures), 0);
    assert_true(atomic_load(&r.calls) > 0);
    for (size_t i = 0; i < N; i++)
        assert_where(&t, ids[i], KEEL_QUEUE_GONE, 0);
    close_expecting(&t, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locate_follows_a_message),
        cmocka_unit_test(test_locate_max_receives),
        cmocka_unit_test(test_locate_truncates_long_errors),
        cmocka_unit_test(test_locate_after_purge),
        cmocka_unit_test(test_locate_after_expiry),
        cmocka_unit_test(test_locate_refuses_bad_arguments),
        cmocka_unit_test(test_locate_survives_restart),
        cmocka_unit_test(test_locate_store_without_index),
        cmocka_unit_test(test_locate_while_the_writer_works),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
