/* Unit tests of the queue's dedup index (plugins/queue_lmdb/dedup.c) against
 * a real dedup log in LMDB and a plain reference model: random sends,
 * overwrites and expiries with a fixed seed, fingerprints forced to collide,
 * undo after an aborted txn, growth and shrinking, rebuild from the log. */
#include "../../plugins/queue_lmdb/codec.c"
#include "../../plugins/queue_lmdb/dedup.c"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

enum { KEYS = 2000, MAX_LOG = 200000 };

/* A dedup log in a scratch env, and what the index should say. */
typedef struct fixture {
    char dir[64];
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn; /* the open write txn */
    ql_dedup_t index;
    uint64_t next_seq, now_ms, random;
    /* the model: key number -> its live entry, seq 0 when none */
    struct model {
        uint64_t seq, at_ms;
    } model[KEYS];
    /* the log records, oldest first, as sweep.c trims them */
    struct record {
        uint64_t at_ms, seq;
        uint32_t key;
    } log[MAX_LOG];
    size_t log_head, log_tail;
} fixture_t;

static uint64_t next_random(fixture_t *f)
{
    uint64_t x = f->random; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return f->random = x;
}

/* Dedup ids shaped like the HTTP ingest's: 64 hex characters. */
static void key_text(char out[65], uint32_t key)
{
    uint64_t x = key * 0x9e3779b97f4a7c15u + 1;
    for (int i = 0; i < 64; i += 16, x = x * 6364136223846793005u + 1442695040888963407u)
        snprintf(out + i, 17, "%016llx", (unsigned long long)x);
}

static void message_id_of(char out[KEEL_ID_LEN + 1], uint64_t seq)
{
    snprintf(out, KEEL_ID_LEN + 1, "M%025llu", (unsigned long long)seq);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/keel-dedup-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(mdb_env_create(&f->env), 0);
    assert_int_equal(mdb_env_set_mapsize(f->env, (size_t)1 << 30), 0);
    assert_int_equal(mdb_env_set_maxdbs(f->env, 2), 0);
    assert_int_equal(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &f->txn), 0);
    assert_int_equal(mdb_dbi_open(f->txn, "dedup", MDB_CREATE, &f->dbi), 0);
    f->next_seq = 1;
    f->now_ms = UINT64_C(1700000000000);
    f->random = 0x2545f4914f6cdd1du;
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->txn)
        mdb_txn_abort(f->txn);
    mdb_env_close(f->env);
    nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    dedup_free(&f->index);
    free(f);
    return 0;
}

static ql_dedup_log_t log_of(fixture_t *f)
{
    return (ql_dedup_log_t){f->txn, f->dbi};
}

static void commit(fixture_t *f)
{
    assert_int_equal(mdb_txn_commit(f->txn), 0);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &f->txn), 0);
}

/* The send path of ops.c: a duplicate when found (unless `overwrite`, as
 * once the window passed), else a log record and an index entry. */
static void send_id(fixture_t *f, uint32_t key, bool overwrite, ql_dedup_undo_t *undo)
{
    char text[65], message_id[KEEL_ID_LEN + 1];
    key_text(text, key);
    ql_dedup_log_t log = log_of(f);
    ql_dedup_hit_t hit;
    int rc = dedup_find(&f->index, &log, text, &hit);
    struct model *m = &f->model[key];
    if (m->seq == 0) {
        assert_int_equal(rc, MDB_NOTFOUND);
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(hit.seq, m->seq);
        assert_int_equal(hit.enqueued_at_ms, m->at_ms);
        message_id_of(message_id, m->seq);
        assert_string_equal(hit.message_id, message_id);
        if (!overwrite)
            return;
    }
    uint64_t seq = f->next_seq++;
    uint8_t k[16], value[KEEL_ID_LEN + 64];
    key_time_seq(k, f->now_ms, seq);
    message_id_of(message_id, seq);
    memcpy(value, message_id, KEEL_ID_LEN);
    memcpy(value + KEEL_ID_LEN, text, 64);
    MDB_val mk = {16, k}, mv = {sizeof value, value};
    assert_int_equal(mdb_put(f->txn, f->dbi, &mk, &mv, 0), 0);
    assert_int_equal(dedup_put(&f->index, text, rc == 0 ? &hit : NULL, f->now_ms, seq, undo), 0);
    *m = (struct model){.seq = seq, .at_ms = f->now_ms};
    assert_true(f->log_tail < MAX_LOG);
    f->log[f->log_tail++] = (struct record){.at_ms = f->now_ms, .seq = seq, .key = key};
}

/* sweep.c's trim: the oldest log record goes, and its entry if current. */
static void expire_oldest(fixture_t *f)
{
    if (f->log_head == f->log_tail)
        return;
    struct record *r = &f->log[f->log_head++];
    uint8_t k[16];
    key_time_seq(k, r->at_ms, r->seq);
    MDB_val mk = {16, k};
    assert_int_equal(mdb_del(f->txn, f->dbi, &mk, NULL), 0);
    char text[65];
    key_text(text, r->key);
    dedup_remove_if(&f->index, text, r->seq);
    if (f->model[r->key].seq == r->seq)
        f->model[r->key].seq = 0;
}

/* Every key is found exactly as the model says. */
static void check_all(fixture_t *f)
{
    size_t live = 0;
    ql_dedup_log_t log = log_of(f);
    for (uint32_t key = 0; key < KEYS; key++) {
        char text[65];
        key_text(text, key);
        ql_dedup_hit_t hit;
        int rc = dedup_find(&f->index, &log, text, &hit);
        if (f->model[key].seq == 0) {
            assert_int_equal(rc, MDB_NOTFOUND);
            continue;
        }
        live++;
        assert_int_equal(rc, 0);
        assert_int_equal(hit.seq, f->model[key].seq);
        assert_int_equal(hit.enqueued_at_ms, f->model[key].at_ms);
    }
    assert_int_equal(f->index.count, live);
}

static int compare_slots(const void *a, const void *b)
{
    const ql_dedup_slot_t *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The live entries of an index, by seq. */
static size_t sorted_slots(const ql_dedup_t *index, ql_dedup_slot_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < index->capacity; i++)
        if (index->slots[i].fingerprint != 0)
            out[n++] = index->slots[i];
    qsort(out, n, sizeof *out, compare_slots);
    return n;
}

/* Reads the log back in key order as store_rebuild_dedup() does, and
 * expects the same entries as the live index. */
static void check_rebuild(fixture_t *f)
{
    ql_dedup_t rebuilt = {.hash = f->index.hash};
    ql_dedup_log_t log = log_of(f);
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(f->txn, f->dbi, &cur), 0);
    MDB_val k, v;
    int rc;
    for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
        char key[QL_MAX_DEDUP_ID + 1];
        memcpy(key, (const char *)v.mv_data + KEEL_ID_LEN, v.mv_size - KEEL_ID_LEN);
        key[v.mv_size - KEEL_ID_LEN] = '\0';
        ql_dedup_hit_t hit;
        int found = dedup_find(&rebuilt, &log, key, &hit);
        assert_true(found == 0 || found == MDB_NOTFOUND);
        assert_int_equal(dedup_put(&rebuilt, key, found == 0 ? &hit : NULL, be64_get(k.mv_data),
                                   be64_get((const uint8_t *)k.mv_data + 8), NULL),
                         0);
    }
    assert_int_equal(rc, MDB_NOTFOUND);
    mdb_cursor_close(cur);
    assert_int_equal(rebuilt.count, f->index.count);
    ql_dedup_slot_t *a = malloc((f->index.count + 1) * sizeof *a);
    ql_dedup_slot_t *b = malloc((f->index.count + 1) * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    size_t n = sorted_slots(&f->index, a);
    assert_int_equal(sorted_slots(&rebuilt, b), n);
    assert_memory_equal(a, b, n * sizeof *a);
    free(a);
    free(b);
    dedup_free(&rebuilt);
}

/* Random sends, re-sends, overwrites and expiries; every eighth batch is
 * aborted and undone, as writer.c does, and must leave the index as the
 * last commit left it. */
static void run_random(fixture_t *f, size_t batches, size_t keys)
{
    static struct model saved[KEYS];
    ql_dedup_undo_t *undo = malloc(64 * sizeof *undo);
    assert_non_null(undo);
    for (size_t batch = 0; batch < batches; batch++) {
        bool abort_it = batch % 8 == 7;
        memcpy(saved, f->model, sizeof saved);
        size_t saved_head = f->log_head, saved_tail = f->log_tail, undo_count = 0;
        uint64_t saved_seq = f->next_seq;
        f->now_ms += 1 + next_random(f) % 50;
        for (size_t op = 0; op < 64; op++) {
            uint64_t r = next_random(f);
            if (!abort_it && r % 4 == 0) {
                expire_oldest(f); /* an expiry is never undone: not in aborted batches */
                continue;
            }
            send_id(f, (uint32_t)((r >> 8) % keys), (r >> 40) % 3 == 0, &undo[undo_count]);
            /* send_id() recorded an undo only when it changed the index */
            if (f->next_seq != saved_seq + undo_count)
                undo_count++;
        }
        if (!abort_it) {
            commit(f);
        } else {
            mdb_txn_abort(f->txn);
            while (undo_count > 0)
                dedup_undo(&undo[--undo_count]);
            memcpy(f->model, saved, sizeof saved);
            f->log_head = saved_head;
            f->log_tail = saved_tail;
            f->next_seq = saved_seq;
            assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &f->txn), 0);
        }
        if (batch % 64 == 0)
            check_all(f);
    }
    check_all(f);
    check_rebuild(f);
    free(undo);
}

static void test_random_against_model(void **state)
{
    fixture_t *f = *state;
    run_random(f, 2000, KEYS);
}

/* Only 7 fingerprints for every id: each find must read the log and step
 * past the ids that only share a fingerprint. */
static uint64_t seven_fingerprints(const char *key, size_t len)
{
    return (dedup_hash(key, len) % 7 + 1) * 0x9e3779b97f4a7c15u;
}

static void test_random_with_collisions(void **state)
{
    fixture_t *f = *state;
    f->index.hash = seven_fingerprints;
    run_random(f, 400, 300);
}

/* Every id the same fingerprint, 0 (which marks an empty slot) at that. */
static uint64_t zero_fingerprint(const char *key, size_t len)
{
    (void)key;
    (void)len;
    return 0;
}

static void test_colliding_ids_kept_apart(void **state)
{
    fixture_t *f = *state;
    f->index.hash = zero_fingerprint;
    send_id(f, 1, false, NULL);
    /* Another id with the same fingerprint is not taken for the first. */
    send_id(f, 2, false, NULL);
    send_id(f, 3, false, NULL);
    assert_int_equal(f->index.count, 3);
    check_all(f);
    send_id(f, 2, false, NULL); /* a duplicate: found, nothing changes */
    send_id(f, 2, true, NULL);  /* overwritten: 2 now refers to its new seq */
    check_all(f);
    /* An expiry removes exactly the entry of its seq. */
    char text[65];
    key_text(text, 3);
    dedup_remove_if(&f->index, text, f->next_seq); /* no entry has that seq */
    check_all(f);
    expire_oldest(f); /* 1, not 2 nor 3 */
    expire_oldest(f); /* 2's old record: 2 stays */
    check_all(f);
    assert_int_equal(f->index.count, 2);
    check_rebuild(f);
}

/* A record gone from the log (or another id's) is no match. */
static void test_unverified_match_is_a_miss(void **state)
{
    fixture_t *f = *state;
    send_id(f, 5, false, NULL);
    char text[65];
    key_text(text, 5);
    uint8_t k[16];
    key_time_seq(k, f->model[5].at_ms, f->model[5].seq);
    MDB_val mk = {16, k};
    assert_int_equal(mdb_del(f->txn, f->dbi, &mk, NULL), 0);
    ql_dedup_log_t log = log_of(f);
    ql_dedup_hit_t hit;
    assert_int_equal(dedup_find(&f->index, &log, text, &hit), MDB_NOTFOUND);
}

static void test_undo_insert_and_overwrite(void **state)
{
    fixture_t *f = *state;
    for (uint32_t key = 0; key < 40; key++)
        send_id(f, key, false, NULL);
    commit(f);
    ql_dedup_slot_t before[64];
    size_t n = sorted_slots(&f->index, before);
    size_t capacity = f->index.capacity;
    /* Overwrites, then enough inserts to grow the table under the undo
     * entries, then overwrites of what this txn inserted. */
    ql_dedup_undo_t undo[1200];
    size_t count = 0;
    for (uint32_t key = 0; key < 40; key += 3)
        send_id(f, key, true, &undo[count++]);
    for (uint32_t key = 40; key < 1000; key++)
        send_id(f, key, false, &undo[count++]);
    for (uint32_t key = 500; key < 600; key++)
        send_id(f, key, true, &undo[count++]);
    assert_true(f->index.capacity > capacity);
    mdb_txn_abort(f->txn);
    f->txn = NULL;
    while (count > 0)
        dedup_undo(&undo[--count]);
    ql_dedup_slot_t after[64];
    assert_int_equal(f->index.count, n);
    assert_int_equal(sorted_slots(&f->index, after), n);
    assert_memory_equal(before, after, n * sizeof *before);
}

/* 24-byte slots, grown by a third at 4/5 full: at most 40 bytes a live
 * entry once past the smallest table, and memory back after a burst. */
static void test_growth_and_bytes_per_entry(void **state)
{
    fixture_t *f = *state;
    size_t grows = 0, capacity = 0;
    for (uint32_t key = 0; key < KEYS; key++) {
        send_id(f, key, false, NULL);
        if (f->index.capacity != capacity)
            grows++;
        capacity = f->index.capacity;
        if (f->index.count >= 40)
            assert_true(f->index.capacity * sizeof(ql_dedup_slot_t) <= 40 * f->index.count);
        assert_true(f->index.count * 5 <= f->index.capacity * 4);
    }
    assert_int_equal(sizeof(ql_dedup_slot_t), 24);
    print_message("%d entries: %zu slots (%zu grows), %.1f bytes per entry\n", KEYS, capacity,
                  grows, (double)(capacity * sizeof(ql_dedup_slot_t)) / KEYS);
    check_all(f);
    while (f->log_tail - f->log_head > 10)
        expire_oldest(f);
    check_all(f);
    assert_true(f->index.capacity <= 64);
    for (uint32_t key = 0; key < KEYS; key++)
        send_id(f, key, false, NULL);
    check_all(f);
}

static void test_hash_spreads(void **state)
{
    (void)state;
    /* One bit or one more byte changes the fingerprint. */
    assert_int_not_equal(dedup_hash("order-1", 7), dedup_hash("order-3", 7));
    assert_int_not_equal(dedup_hash("abcdefgh", 8), dedup_hash("abcdefgh", 7));
    assert_int_not_equal(dedup_hash("", 0), dedup_hash("\0", 1));
    /* The home slots of sequential ids are spread: no slot of 1024 takes
     * more than a few of 1024 ids. */
    unsigned homes[1024] = {0}, most = 0;
    for (int i = 0; i < 1024; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "order-%d", i);
        unsigned *h = &homes[home(1024, dedup_hash(text, (size_t)len))];
        if (++*h > most)
            most = *h;
    }
    assert_true(most <= 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_against_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_with_collisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_colliding_ids_kept_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unverified_match_is_a_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undo_insert_and_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_growth_and_bytes_per_entry, setup, teardown),
        cmocka_unit_test(test_hash_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
