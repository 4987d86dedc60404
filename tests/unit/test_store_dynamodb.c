/* store_dynamodb tests against a real dynalite (npm, tests/node), started
 * once for the whole group on a random 127.0.0.1 port and stopped by PID:
 *  - the store conformance suite (store_conformance.h), all on one table
 *    that the first start creates (create_table: true) and later starts find;
 *  - the pipeline-step checks (store_step_conformance.h: queue_lmdb +
 *    confirm + store_dynamodb + recorder), a fresh table per test;
 *  - what only a remote, shared backend shows: data and sequences survive a
 *    restart on the same table; two nodes on one table share sequences
 *    without overlap and see each other's orders, and one put of an order
 *    wins a race; the endpoint comes from the config, then
 *    AWS_ENDPOINT_URL_DYNAMODB, then AWS_ENDPOINT_URL; an unreachable
 *    endpoint makes the store not ready and calls fail with EUNAVAIL/EIO in
 *    bounded time; a missing table without create_table is not "ready".
 * Skipped (cmocka skip) when node or dynalite is not installed. */
#define SSC_SETTLE_MS 30000
#include "dynalite.h"
#include "store_conformance.h"
#include "store_step_conformance.h"

#define STORE_SO KEEL_BUILTIN_PLUGIN_DIR "/store_dynamodb.so"

static dynalite_t dynalite = {.pid = -1};
static bool have_dynalite;

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* One DynamoDB call to dynalite as another tool would make it (dynalite
 * checks only the shape of the signature): the HTTP status, the response
 * body in out (NUL-terminated), or -1. */
static int dynalite_call(const char *target, const char *body, char *out, size_t out_len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)dynalite.port)};
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char head[700];
    int n = snprintf(head, sizeof head,
                     "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Content-Type: application/x-amz-json-1.0\r\n"
                     "X-Amz-Target: DynamoDB_20120810.%s\r\n"
                     "X-Amz-Date: 20150830T123600Z\r\n"
                     "Authorization: AWS4-HMAC-SHA256 "
                     "Credential=AKID/20150830/us-east-1/dynamodb/aws4_request, "
                     "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     dynalite.port, target, strlen(body));
    bool ok =
        write(fd, head, (size_t)n) == n && write(fd, body, strlen(body)) == (ssize_t)strlen(body);
    static char resp[65536];
    size_t got = 0;
    ssize_t r;
    while (ok && got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = '\0';
    int status = -1;
    if (!ok || sscanf(resp, "HTTP/1.1 %d", &status) != 1)
        return -1;
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(out, out_len, "%s", b ? b + 4 : "");
    return status;
}

static int group_setup(void **state)
{
    (void)state;
    int rc = dynalite_start(&dynalite);
    if (rc != 0) {
        print_message(rc > 0 ? "the DynamoDB tests are skipped\n" : "dynalite failed to start\n");
        return rc > 0 ? 0 : -1;
    }
    /* What keeld gets from the tests' environment: dummy keys, a region,
     * the endpoint; nothing from this machine's AWS set-up. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDKEELTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "keel-test-secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite.endpoint, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/keel-test-credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/keel-test-config", 1);
    have_dynalite = true;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    dynalite_stop(&dynalite);
    return 0;
}

#define NEED_DYNALITE()                                                                            \
    do {                                                                                           \
        if (!have_dynalite)                                                                        \
            skip();                                                                                \
    } while (0)

/* A table name unique to this process and call. */
static void table_name(char *out, size_t n, const char *what)
{
    static atomic_uint next;
    snprintf(out, n, "keel-%s-%d-%u", what, (int)getpid(), atomic_fetch_add(&next, 1));
}

/* A remote store checks its table in the background after start: wait
 * (20 s at most) until it says it is ready. */
static void wait_ready(keel_harness_t *h)
{
    char why[256] = "";
    uint64_t deadline = mono_ms() + 20000;
    while (keel_harness_ready(h, why, sizeof why) != 0) {
        if (mono_ms() > deadline)
            fail_msg("store_dynamodb on dynalite not ready within 20 s: %s", why);
        ssc_pause_ms(20);
    }
}

static keel_harness_t *start_store(const char *config_yaml)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "store", STORE_SO, config_yaml), 0);
    int rc = keel_harness_start(h);
    if (rc != 0)
        fail_msg("store_dynamodb did not start (%d) with config:\n%s", rc, config_yaml);
    wait_ready(h);
    return h;
}

/* ---- the conformance suite: one table for all, created by the first ---- */

static char conformance_config[256];

#define SC_WRAP(name)                                                                              \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        NEED_DYNALITE();                                                                           \
        if (conformance_config[0] == '\0') {                                                       \
            char t[96];                                                                            \
            table_name(t, sizeof t, "conf");                                                       \
            snprintf(conformance_config, sizeof conformance_config,                                \
                     "table: %s\ncreate_table: true\n", t);                                        \
        }                                                                                          \
        keel_harness_t *h = start_store(conformance_config);                                       \
        sc_test_##name(h, "store");                                                                \
        keel_harness_free(h);                                                                      \
    }
SC_CONFORMANCE_TESTS(SC_WRAP)

/* ---- the pipeline step: a fresh table per test ---- */

static char step_config[256];

#define SSC_WRAP(name)                                                                             \
    static void test_step_##name(void **state)                                                     \
    {                                                                                              \
        (void)state;                                                                               \
        NEED_DYNALITE();                                                                           \
        char t[96];                                                                                \
        table_name(t, sizeof t, "step");                                                           \
        snprintf(step_config, sizeof step_config, "table: %s\ncreate_table: true\n", t);           \
        ssc_store_so = STORE_SO;                                                                   \
        ssc_store_config = step_config;                                                            \
        ssc_after_start = wait_ready;                                                              \
        ssc_test_##name();                                                                         \
    }
SSC_STEP_TESTS(SSC_WRAP)

/* ---- DynamoDB only ---- */

/* A second start on the same table (another process, as after a restart or
 * on another node) finds the orders, versions and sequences. */
static void test_restart_keeps_data(void **state)
{
    (void)state;
    NEED_DYNALITE();
    char t[96], cfg[256];
    table_name(t, sizeof t, "restart");
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: true\n", t);
    keel_harness_t *h = start_store(cfg);
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
    assert_int_equal(w.seq_count, 100);
    sc_wait_free(&w);
    keel_harness_free(h);

    /* The table exists now: create_table false finds it. */
    snprintf(cfg, sizeof cfg, "table: %s\n", t);
    h = start_store(cfg);
    sc_attach(&s, h, "store");
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
    assert_null(w.next_cursor);
    sc_wait_free(&w);
    assert_int_equal(sc_seq(&s, "confirmations", 5, &w), 0);
    assert_int_equal(w.first, 101); /* never reissued */
    sc_wait_free(&w);
    keel_harness_free(h);
}

enum { NODE_SEQ_CALLS = 40 };

/* Two nodes on one table at once: sequence blocks never overlap, each node
 * reads what the other wrote, and of two puts of one new order exactly one
 * creates it. */
static void test_two_nodes_share_one_table(void **state)
{
    (void)state;
    NEED_DYNALITE();
    char t[96], cfg[256];
    table_name(t, sizeof t, "nodes");
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: true\n", t);
    keel_harness_t *h1 = start_store(cfg);
    keel_harness_t *h2 = start_store(cfg);
    sc_t s1, s2;
    sc_open(&s1, h1, "store");
    sc_open(&s2, h2, "store");
    static sc_wait_t w[2][NODE_SEQ_CALLS];
    for (int i = 0; i < NODE_SEQ_CALLS; i++)
        for (int n = 0; n < 2; n++) {
            sc_t *s = n ? &s2 : &s1;
            sc_wait_init(&w[n][i]);
            assert_int_equal(s->api->sequence_next(s->ctx, "shared", 7, sc_on_sequence, &w[n][i]),
                             0);
        }
    static uint8_t seen[2 * NODE_SEQ_CALLS * 7 + 1];
    memset(seen, 0, sizeof seen);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < NODE_SEQ_CALLS; i++) {
            assert_true(sc_wait(&w[n][i]));
            assert_int_equal(w[n][i].status, 0);
            assert_int_equal(w[n][i].seq_count, 7);
            for (uint64_t k = w[n][i].first; k < w[n][i].first + 7; k++) {
                /* Gaps are allowed (a retry burns a block), duplicates never. */
                assert_true(k >= 1);
                if (k < sizeof seen) {
                    if (seen[k])
                        fail_msg("sequence number %llu handed out twice", (unsigned long long)k);
                    seen[k] = 1;
                }
            }
            sc_wait_free(&w[n][i]);
        }
    for (int n = 0; n < 2; n++) /* no duplicates above the array either */
        for (int i = 0; i < NODE_SEQ_CALLS; i++)
            for (int m = 0; m < 2; m++)
                for (int j = 0; j < NODE_SEQ_CALLS; j++)
                    if ((n != m || i != j) && w[n][i].first == w[m][j].first)
                        fail_msg("two blocks start at %llu", (unsigned long long)w[n][i].first);

    sc_order_t o;
    sc_wait_t r;
    sc_order(&s1, &o, "from1", "cust", 4);
    assert_int_equal(sc_put(&s1, &o.r, &r), 0);
    sc_wait_free(&r);
    assert_int_equal(sc_get(&s2, o.order_id, &r), 0);
    sc_assert_same(&r.rec, &o.r);
    sc_wait_free(&r);
    keel_order_update_t u = {"CONFIRMED", "CN-2", NULL};
    assert_int_equal(sc_update(&s2, o.order_id, 1, &u, &r), 0);
    sc_wait_free(&r);
    /* Node 1 read version 1 too: its update is stale. (Not the same update
     * as node 2's: the provider may take an identical one for its own retry
     * whose answer was lost.) */
    keel_order_update_t late = {"FAILED", NULL, "late"};
    assert_int_equal(sc_update(&s1, o.order_id, 1, &late, &r), KEEL_ESTALE);
    assert_int_equal(r.rec.version, 2);
    assert_string_equal(r.rec.status, "CONFIRMED");
    sc_wait_free(&r);
    assert_int_equal(sc_query(&s1, o.customer_id, NULL, 10, &r), 0);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.page[0].status, "CONFIRMED");
    sc_wait_free(&r);

    /* A race: the same new order put through both nodes at once. */
    for (int k = 0; k < 10; k++) {
        char id[32];
        snprintf(id, sizeof id, "race%d", k);
        sc_order_t a, b;
        sc_order(&s1, &a, id, "cust", 9);
        sc_order(&s1, &b, id, "cust", 9);
        sc_wait_t wa, wb;
        sc_wait_init(&wa);
        sc_wait_init(&wb);
        assert_int_equal(s1.api->put(s1.ctx, &a.r, sc_on_record, &wa), 0);
        assert_int_equal(s2.api->put(s2.ctx, &b.r, sc_on_record, &wb), 0);
        assert_true(sc_wait(&wa));
        assert_true(sc_wait(&wb));
        bool one = (wa.status == 0 && wb.status == KEEL_EEXIST) ||
                   (wa.status == KEEL_EEXIST && wb.status == 0);
        if (!one)
            fail_msg("racing puts of %s: %d and %d (want one 0, one EEXIST)", a.order_id, wa.status,
                     wb.status);
        assert_int_equal(wa.rec.version, 1);
        assert_int_equal(wb.rec.version, 1);
        sc_wait_free(&wa);
        sc_wait_free(&wb);
    }
    keel_harness_free(h1);
    keel_harness_free(h2);
}

/* A put then a get work through the store (a round trip on dynalite). */
static void round_trip(keel_harness_t *h)
{
    sc_t s;
    sc_open(&s, h, "store");
    sc_order_t o;
    sc_order(&s, &o, "rt", "cust", 1);
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_wait_free(&w);
    assert_int_equal(sc_get(&s, o.order_id, &w), 0);
    sc_assert_same(&w.rec, &o.r);
    sc_wait_free(&w);
}

/* The endpoint: `endpoint:` beats AWS_ENDPOINT_URL_DYNAMODB, which beats
 * AWS_ENDPOINT_URL. (The environment is restored after.) */
static void test_endpoint_precedence(void **state)
{
    (void)state;
    NEED_DYNALITE();
    int dead = free_port(); /* nothing listens there */
    char dead_url[64], t[96], cfg[384];
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d", dead);
    table_name(t, sizeof t, "ep");

    setenv("AWS_ENDPOINT_URL_DYNAMODB", dead_url, 1);
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: true\nendpoint: %s\n", t,
             dynalite.endpoint);
    keel_harness_t *h = start_store(cfg);
    round_trip(h);
    keel_harness_free(h);

    unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
    setenv("AWS_ENDPOINT_URL", dynalite.endpoint, 1);
    snprintf(cfg, sizeof cfg, "table: %s\n", t);
    h = start_store(cfg);
    round_trip(h);
    keel_harness_free(h);

    unsetenv("AWS_ENDPOINT_URL");
    setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite.endpoint, 1);
}

/* Nothing listens at the endpoint: the store says it is not ready, and a
 * call fails with EUNAVAIL or EIO within its deadline instead of hanging.
 * (Starting may refuse too: then there is nothing more to check.) */
static void test_unreachable_endpoint(void **state)
{
    (void)state;
    NEED_DYNALITE();
    int dead = free_port();
    char cfg[384];
    snprintf(cfg, sizeof cfg,
             "table: keel-unreachable\nendpoint: http://127.0.0.1:%d\nconnect_timeout: 1s\n"
             "request_timeout: 2s\ncall_deadline: 3s\nmax_attempts: 2\n",
             dead);
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "store", STORE_SO, cfg), 0);
    if (keel_harness_start(h) != 0) {
        print_message("store_dynamodb refuses to start on an unreachable endpoint\n");
        keel_harness_free(h);
        return;
    }
    char why[256] = "";
    uint64_t deadline = mono_ms() + 15000;
    bool not_ready = false;
    while (!not_ready && mono_ms() < deadline) {
        not_ready = keel_harness_ready(h, why, sizeof why) != 0;
        if (!not_ready)
            ssc_pause_ms(100);
    }
    if (!not_ready)
        fail_msg("store_dynamodb reports ready for 15 s with nothing at its endpoint");
    print_message("not ready: %s\n", why);
    sc_t s;
    sc_open(&s, h, "store");
    uint64_t t0 = mono_ms();
    sc_wait_t w;
    int rc = sc_get(&s, "keel-unreachable-order", &w);
    if (rc != KEEL_EUNAVAIL && rc != KEEL_EIO)
        fail_msg("get on an unreachable endpoint: %d, want KEEL_EUNAVAIL or KEEL_EIO", rc);
    assert_null(w.rec.order_id);
    sc_wait_free(&w);
    if (mono_ms() - t0 > 10000)
        fail_msg("get took %llu ms with call_deadline 3s", (unsigned long long)(mono_ms() - t0));
    sc_order_t o;
    sc_order(&s, &o, "unreach", "cust", 1);
    rc = sc_put(&s, &o.r, &w);
    if (rc != KEEL_EUNAVAIL && rc != KEEL_EIO)
        fail_msg("put on an unreachable endpoint: %d, want KEEL_EUNAVAIL or KEEL_EIO", rc);
    sc_wait_free(&w);
    keel_harness_free(h);
}

/* The table does not exist and create_table is false: the store must not
 * pretend to work (start fails, or it is not ready). */
static void test_missing_table_without_create(void **state)
{
    (void)state;
    NEED_DYNALITE();
    char t[96], cfg[256];
    table_name(t, sizeof t, "missing");
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: false\n", t);
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "store", STORE_SO, cfg), 0);
    if (keel_harness_start(h) == 0) {
        char why[256] = "";
        uint64_t deadline = mono_ms() + 10000;
        bool not_ready = false;
        while (!not_ready && mono_ms() < deadline) {
            not_ready = keel_harness_ready(h, why, sizeof why) != 0;
            if (!not_ready)
                ssc_pause_ms(100);
        }
        if (!not_ready)
            fail_msg("table %s does not exist, create_table false, yet the store is ready", t);
        print_message("not ready: %s\n", why);
    }
    keel_harness_free(h);
}

/* Bad configs fail at init. */
static void test_bad_configs(void **state)
{
    (void)state;
    NEED_DYNALITE();
    static const char *const bad[] = {
        "table: \"\"\n",
        "threads: 0\n",
        "max_attempts: 0\n",
        "table: t\nnot_a_key: 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        keel_harness_t *h = keel_harness_new(NULL);
        assert_non_null(h);
        int rc = keel_harness_add(h, "store", STORE_SO, bad[i]);
        if (rc == 0 && keel_harness_start(h) == 0)
            fail_msg("store_dynamodb started with the bad config: %s", bad[i]);
        keel_harness_free(h);
    }
}

/* What store_dynamodb writes, read raw: the layout's names and types;
 * confirmation_number, error and message_id absent when "", created_at and
 * version numbers. */
static void test_item_layout_raw(void **state)
{
    (void)state;
    NEED_DYNALITE();
    char t[96], cfg[256];
    table_name(t, sizeof t, "raw");
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: true\n", t);
    keel_harness_t *h = start_store(cfg);
    sc_t s;
    sc_open(&s, h, "store");
    keel_harness_set_time(h, SC_T0 + 42);
    sc_order_t o;
    sc_order(&s, &o, "raw", "cust", 5);
    sc_wait_t w;
    assert_int_equal(sc_put(&s, &o.r, &w), 0);
    sc_wait_free(&w);
    char body[1024];
    static char out[65536];
    snprintf(body, sizeof body,
             "{\"TableName\":\"%s\",\"Key\":{\"order_id\":{\"S\":\"%s\"}},\"ConsistentRead\":true}",
             t, o.order_id);
    assert_int_equal(dynalite_call("GetItem", body, out, sizeof out), 200);
    print_message("GetItem: %.600s\n", out);
    char want[256];
    snprintf(want, sizeof want, "\"order_id\":{\"S\":\"%s\"}", o.order_id);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "\"customer_id\":{\"S\":\"%s\"}", o.customer_id);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "\"payload_hash\":{\"S\":\"%s\"}", o.hash);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "\"status\":{\"S\":\"QUEUED\"}"));
    assert_non_null(strstr(out, "\"created_at\":{\"N\":\"1700000000042\"}"));
    assert_non_null(strstr(out, "\"updated_at\":{\"N\":\"1700000000042\"}"));
    assert_non_null(strstr(out, "\"version\":{\"N\":\"1\"}"));
    assert_non_null(strstr(out, "\"order\":{\"S\":"));
    assert_null(strstr(out, "\"confirmation_number\""));
    assert_null(strstr(out, "\"error\""));
    assert_null(strstr(out, "\"message_id\""));

    /* An item another tool wrote, with only the required attributes. */
    snprintf(body, sizeof body,
             "{\"TableName\":\"%s\",\"Item\":{\"order_id\":{\"S\":\"%s-foreign\"},"
             "\"customer_id\":{\"S\":\"%s\"},\"status\":{\"S\":\"CONFIRMED\"},"
             "\"confirmation_number\":{\"S\":\"X-1\"},\"payload_hash\":{\"S\":\"%s\"},"
             "\"order\":{\"S\":\"{}\"},\"created_at\":{\"N\":\"1700000000100\"},"
             "\"updated_at\":{\"N\":\"1700000000200\"},\"version\":{\"N\":\"3\"}}}",
             t, s.prefix, o.customer_id, o.hash);
    assert_int_equal(dynalite_call("PutItem", body, out, sizeof out), 200);
    char id[128];
    snprintf(id, sizeof id, "%s-foreign", s.prefix);
    assert_int_equal(sc_get(&s, id, &w), 0);
    assert_string_equal(w.rec.status, "CONFIRMED");
    assert_string_equal(w.rec.confirmation_number, "X-1");
    assert_string_equal(w.rec.error, "");
    assert_string_equal(w.rec.message_id, "");
    assert_int_equal(w.rec.order_json_len, 2);
    assert_int_equal(w.rec.created_at_ms, 1700000000100);
    assert_int_equal(w.rec.updated_at_ms, 1700000000200);
    assert_int_equal(w.rec.version, 3);
    sc_wait_free(&w);
    assert_int_equal(sc_query(&s, o.customer_id, NULL, 10, &w), 0);
    assert_int_equal(w.count, 2);
    assert_string_equal(w.page[0].order_id, id); /* newer */
    assert_string_equal(w.page[1].order_id, o.order_id);
    sc_wait_free(&w);
    keel_harness_free(h);
}

/* A sequence near UINT64_MAX hands out the last numbers, then KEEL_EFULL;
 * the counter lives under order_id "keel#sequence#<name>" in next_value. */
static void test_sequence_end_is_efull(void **state)
{
    (void)state;
    NEED_DYNALITE();
    char t[96], cfg[256];
    table_name(t, sizeof t, "seqend");
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: true\n", t);
    keel_harness_t *h = start_store(cfg);
    sc_t s;
    sc_open(&s, h, "store");
    sc_wait_t w;
    assert_int_equal(sc_seq(&s, "probe", 3, &w), 0);
    assert_int_equal(w.first, 1);
    sc_wait_free(&w);
    char body[1024];
    static char out[65536];
    snprintf(body, sizeof body,
             "{\"TableName\":\"%s\",\"Key\":{\"order_id\":{\"S\":\"keel#sequence#probe\"}},"
             "\"ConsistentRead\":true}",
             t);
    assert_int_equal(dynalite_call("GetItem", body, out, sizeof out), 200);
    if (strstr(out, "\"next_value\":{\"N\":\"3\"}") == NULL)
        fail_msg("counter item of sequence 'probe' after 3 numbers: %s", out);
    snprintf(body, sizeof body,
             "{\"TableName\":\"%s\",\"Item\":{\"order_id\":{\"S\":\"keel#sequence#end\"},"
             "\"next_value\":{\"N\":\"18446744073709551610\"}}}",
             t);
    assert_int_equal(dynalite_call("PutItem", body, out, sizeof out), 200);
    assert_int_equal(sc_seq(&s, "end", 5, &w), 0);
    assert_true(w.first == UINT64_C(18446744073709551611));
    assert_int_equal(w.seq_count, 5);
    sc_wait_free(&w);
    assert_int_equal(sc_seq(&s, "end", 1, &w), KEEL_EFULL);
    sc_wait_free(&w);
    keel_harness_free(h);
}

/* The counters share the table with the orders: they are not orders. get()
 * of a counter's key finds no order, and a put() under that key must not
 * take over the counter (refused as EINVAL, or anything but success), and
 * the sequence goes on afterwards without reissuing a number. */
static void test_counter_items_are_not_orders(void **state)
{
    (void)state;
    NEED_DYNALITE();
    char t[96], cfg[256];
    table_name(t, sizeof t, "ctr");
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: true\n", t);
    keel_harness_t *h = start_store(cfg);
    sc_t s;
    sc_open(&s, h, "store");
    char problems[1024] = "";
    size_t plen = 0;
#define PROBLEM(...)                                                                               \
    plen += (size_t)snprintf(problems + plen, plen < sizeof problems ? sizeof problems - plen : 0, \
                             __VA_ARGS__)
    sc_wait_t w;
    assert_int_equal(sc_seq(&s, "c", 10, &w), 0);
    assert_int_equal(w.first, 1);
    sc_wait_free(&w);
    int rc = sc_get(&s, "keel#sequence#c", &w);
    if (rc != KEEL_ENOTFOUND && rc != KEEL_EINVAL)
        PROBLEM("get of the counter item 'keel#sequence#c': %d (want KEEL_ENOTFOUND); ", rc);
    sc_wait_free(&w);
    sc_order_t o;
    sc_order(&s, &o, "x", "cust", 1);
    o.r.order_id = "keel#sequence#c";
    sc_wait_init(&w);
    rc = s.api->put(s.ctx, &o.r, sc_on_record, &w);
    if (rc == 0) {
        assert_true(sc_wait(&w));
        rc = w.status;
    }
    print_message("put under the counter's key: %d\n", rc);
    if (rc == 0 || rc == KEEL_EEXIST)
        PROBLEM("put of order 'keel#sequence#c' answered %d: an order took the counter's key; ",
                rc);
    else if (rc != KEEL_EINVAL)
        PROBLEM("put of order 'keel#sequence#c' answered %d (a retryable error for a key that "
                "can never be stored; want KEEL_EINVAL); ",
                rc);
    sc_wait_free(&w);
    assert_int_equal(sc_seq(&s, "c", 10, &w), 0);
    assert_true(w.first >= 11);
    sc_wait_free(&w);
    /* And the other way round: an order first, then a sequence of that name. */
    sc_order(&s, &o, "y", "cust", 2);
    o.r.order_id = "keel#sequence#d";
    sc_wait_init(&w);
    rc = s.api->put(s.ctx, &o.r, sc_on_record, &w);
    if (rc == 0) {
        assert_true(sc_wait(&w));
        rc = w.status;
    }
    sc_wait_free(&w);
    if (rc == 0) {
        int q = sc_seq(&s, "d", 5, &w);
        sc_wait_free(&w);
        sc_wait_t g;
        int grc = sc_get(&s, "keel#sequence#d", &g);
        sc_wait_free(&g);
        PROBLEM("put of order 'keel#sequence#d' succeeded; sequence 'd' then answered %d and the "
                "order's get %d: orders and counters share keys; ",
                q, grc);
    }
#undef PROBLEM
    keel_harness_free(h);
    if (problems[0])
        fail_msg("%s", problems);
}

/* Orders created in the same millisecond (a burst): the listing is
 * created_at descending, and paging through a run of equal created_at
 * neither skips nor repeats an order. store.h leaves the order within a tie
 * to the backend; store_lmdb promises order_id ascending (`by_id`). */
static void query_ties(const char *so, const char *cfg, bool by_id)
{
    keel_harness_t *h = keel_harness_new(NULL);
    assert_non_null(h);
    assert_int_equal(keel_harness_add(h, "store", so, cfg), 0);
    assert_int_equal(keel_harness_start(h), 0);
    if (strstr(so, "dynamodb"))
        wait_ready(h);
    sc_t s;
    sc_open(&s, h, "store");
    enum { N = 23 };
    sc_order_t o;
    sc_wait_t w;
    for (int i = 0; i < N; i++) {
        /* Three instants; ids not in time or id order. */
        keel_harness_set_time(h, SC_T0 + (uint64_t)(i % 3) * 1000);
        char id[32];
        snprintf(id, sizeof id, "tie%02d", (i * 11) % N);
        sc_order(&s, &o, id, "burst", (unsigned)i);
        assert_int_equal(sc_put(&s, &o.r, &w), 0);
        sc_wait_free(&w);
    }
    char customer[96];
    snprintf(customer, sizeof customer, "%s-burst", s.prefix);
    char *cursor = NULL;
    char prev_id[128] = "";
    uint64_t prev_t = UINT64_MAX;
    int total = 0, pages = 0;
    char seen[N] = {0};
    char order_error[400] = "";
    do {
        assert_int_equal(sc_query(&s, customer, cursor, 4, &w), 0);
        pages++;
        for (size_t i = 0; i < w.count; i++) {
            const sc_rec_t *r = &w.page[i];
            if ((r->created_at_ms > prev_t ||
                 (by_id && r->created_at_ms == prev_t && strcmp(r->order_id, prev_id) <= 0)) &&
                order_error[0] == '\0')
                snprintf(order_error, sizeof order_error,
                         "page %d item %zu: %s at %llu after %s at %llu (want created_at "
                         "descending%s)",
                         pages, i, r->order_id, (unsigned long long)r->created_at_ms, prev_id,
                         (unsigned long long)prev_t, by_id ? ", then order_id ascending" : "");
            int k = atoi(strrchr(r->order_id, '-') + 4);
            assert_true(k >= 0 && k < N);
            if (seen[k]++)
                fail_msg("%s listed twice", r->order_id);
            prev_t = r->created_at_ms;
            snprintf(prev_id, sizeof prev_id, "%s", r->order_id);
            total++;
        }
        free(cursor);
        cursor = w.next_cursor;
        w.next_cursor = NULL;
        sc_wait_free(&w);
    } while (cursor != NULL && pages < 50);
    assert_int_equal(total, N); /* none skipped (and none twice, above) */
    keel_harness_free(h);
    if (order_error[0])
        fail_msg("all %d listed once each, but out of order: %s", N, order_error);
}

static void test_query_ties(void **state)
{
    (void)state;
    NEED_DYNALITE();
    char t[96], cfg[256];
    table_name(t, sizeof t, "ties");
    snprintf(cfg, sizeof cfg, "table: %s\ncreate_table: true\n", t);
    query_ties(STORE_SO, cfg, false);
}

/* The same on store_lmdb, which also orders ties by order_id. */
static void test_query_ties_lmdb_reference(void **state)
{
    (void)state;
    query_ties(KEEL_BUILTIN_PLUGIN_DIR "/store_lmdb.so", "", true);
}

int main(void)
{
#define SC_ENTRY(name)  cmocka_unit_test(test_##name),
#define SSC_ENTRY(name) cmocka_unit_test_setup_teardown(test_step_##name, setup, teardown),
    const struct CMUnitTest tests[] = {
        SC_CONFORMANCE_TESTS(SC_ENTRY) SSC_STEP_TESTS(SSC_ENTRY)
            cmocka_unit_test(test_restart_keeps_data),
        cmocka_unit_test(test_two_nodes_share_one_table),
        cmocka_unit_test(test_endpoint_precedence),
        cmocka_unit_test(test_unreachable_endpoint),
        cmocka_unit_test(test_missing_table_without_create),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_item_layout_raw),
        cmocka_unit_test(test_sequence_end_is_efull),
        cmocka_unit_test(test_counter_items_are_not_orders),
        cmocka_unit_test(test_query_ties_lmdb_reference),
        cmocka_unit_test(test_query_ties),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
