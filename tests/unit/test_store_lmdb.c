/* store_lmdb tests: the store conformance suite on the LMDB provider, plus
 * what only a local backend shows: restarts on the same data directory and
 * a full map. */
#include "store_conformance.h"
#include "store_lmdb_util.h"

#include <unistd.h>

#define SC_WRAP(name)                                                                              \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        keel_harness_t *h = start_store(NULL, NULL);                                               \
        sc_test_##name(h, "store");                                                                \
        keel_harness_free(h);                                                                      \
    }
SC_CONFORMANCE_TESTS(SC_WRAP)

static void test_restart_keeps_data(void **state)
{
    (void)state;
    char dir[] = "/tmp/keel-store-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    keel_harness_t *h = start_store(dir, NULL);
    char why[256];
    assert_int_equal(keel_harness_ready(h, why, sizeof why), 0);
    sc_t s;
    sc_open(&s, h, "store");
    sc_order_t a, b;
    sc_wait_t w;
    keel_harness_set_time(h, SC_T0);
    sc_order(&s, &a, "a", "cust", 1);
    assert_int_equal(sc_put(&s, &a.r, &w), 0);
    sc_wait_free(&w);
    keel_harness_set_time(h, SC_T0 + 10);
    sc_order(&s, &b, "b", "cust", 2);
    assert_int_equal(sc_put(&s, &b.r, &w), 0);
    sc_wait_free(&w);
    keel_order_update_t u = {"CONFIRMED", "CN-7", NULL};
    assert_int_equal(sc_update(&s, a.order_id, 1, &u, &w), 0);
    sc_wait_free(&w);
    assert_int_equal(sc_seq(&s, "confirmations", 100, &w), 0);
    assert_int_equal(w.first, 1);
    sc_wait_free(&w);
    keel_harness_free(h);

    h = restart_store(&s, dir);
    assert_int_equal(sc_get(&s, a.order_id, &w), 0);
    assert_int_equal(w.rec.version, 2);
    assert_string_equal(w.rec.status, "CONFIRMED");
    assert_string_equal(w.rec.confirmation_number, "CN-7");
    assert_int_equal(w.rec.created_at_ms, SC_T0);
    sc_wait_free(&w);
    assert_int_equal(sc_put(&s, &b.r, &w), KEEL_EEXIST);
    sc_wait_free(&w);
    assert_int_equal(sc_query(&s, b.customer_id, NULL, 10, &w), 0);
    assert_int_equal(w.count, 2);
    assert_string_equal(w.page[0].order_id, b.order_id);
    assert_string_equal(w.page[1].order_id, a.order_id);
    sc_wait_free(&w);
    assert_int_equal(sc_seq(&s, "confirmations", 5, &w), 0);
    assert_int_equal(w.first, 101); /* never reissued */
    sc_wait_free(&w);
    keel_harness_free(h);
    remove_tree(dir);
}

/* keelctl restore leaves <env>/restored: the next start makes every
 * sequence jump by restore_gap, once, so that numbers handed out after the
 * backup are not handed out again. */
static void test_restore_marker_advances_sequences(void **state)
{
    (void)state;
    char dir[] = "/tmp/keel-store-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    keel_harness_t *h = start_store(dir, NULL);
    sc_t s;
    sc_open(&s, h, "store");
    sc_wait_t w;
    assert_int_equal(sc_seq(&s, "confirmations", 100, &w), 0);
    sc_wait_free(&w);
    assert_int_equal(sc_seq(&s, "other", 7, &w), 0);
    sc_wait_free(&w);
    keel_harness_free(h);

    char marker[512];
    snprintf(marker, sizeof marker, "%s/store/restored", dir);
    FILE *f = fopen(marker, "w");
    assert_non_null(f);
    fclose(f);
    h = restart_store(&s, dir);
    assert_int_equal(access(marker, F_OK), -1); /* consumed */
    assert_int_equal(sc_seq(&s, "confirmations", 1, &w), 0);
    assert_int_equal(w.first, 101 + 10000000);
    sc_wait_free(&w);
    assert_int_equal(sc_seq(&s, "other", 1, &w), 0);
    assert_int_equal(w.first, 8 + 10000000);
    sc_wait_free(&w);
    keel_harness_free(h);

    h = restart_store(&s, dir); /* once only */
    assert_int_equal(sc_seq(&s, "confirmations", 1, &w), 0);
    assert_int_equal(w.first, 102 + 10000000);
    sc_wait_free(&w);
    keel_harness_free(h);
    remove_tree(dir);
}

enum { FULL_PUTS = 64, FULL_JSON = 3000 };

static void test_tiny_map_gives_efull(void **state)
{
    (void)state;
    keel_harness_t *h = start_store(NULL, "map_size: 64KiB\n");
    sc_t s;
    sc_open(&s, h, "store");
    static char json[FULL_JSON];
    memset(json, ' ', sizeof json);
    json[0] = '{', json[sizeof json - 1] = '}';
    static sc_order_t o[FULL_PUTS];
    static sc_wait_t w[FULL_PUTS];
    /* All at once, so that full and successful puts share commit groups. */
    for (int i = 0; i < FULL_PUTS; i++) {
        char id[16];
        snprintf(id, sizeof id, "big%d", i);
        sc_order(&s, &o[i], id, "cust", (unsigned)i);
        o[i].r.order_json = json;
        o[i].r.order_json_len = sizeof json;
        sc_wait_init(&w[i]);
        assert_int_equal(s.api->put(s.ctx, &o[i].r, sc_on_record, &w[i]), 0);
    }
    int ok = 0, full = 0;
    for (int i = 0; i < FULL_PUTS; i++) {
        assert_true(sc_wait(&w[i]));
        if (w[i].status == 0)
            ok++;
        else if (w[i].status == KEEL_EFULL)
            full++, assert_null(w[i].rec.order_id);
        else
            fail_msg("put %d: unexpected status %d", i, w[i].status);
    }
    assert_true(ok > 0);
    assert_true(full > 0);
    for (int i = 0; i < FULL_PUTS; i++) {
        sc_wait_t g;
        int expect = w[i].status == 0 ? 0 : KEEL_ENOTFOUND;
        assert_int_equal(sc_get(&s, o[i].order_id, &g), expect);
        sc_wait_free(&g);
        sc_wait_free(&w[i]);
    }
    assert_int_equal(keel_harness_ready(h, NULL, 0), 0); /* full is not broken */
    keel_harness_free(h);
}

int main(void)
{
#define SC_ENTRY(name) cmocka_unit_test(test_##name),
    const struct CMUnitTest tests[] = {
        SC_CONFORMANCE_TESTS(SC_ENTRY) cmocka_unit_test(test_restart_keeps_data),
        cmocka_unit_test(test_tiny_map_gives_efull),
        cmocka_unit_test(test_restore_marker_advances_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
