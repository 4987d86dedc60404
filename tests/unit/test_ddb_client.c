/* DynamoDB transport tests: a scripted HTTP/1.1 fault-injection server on 127.0.0.1 (a thread
 * per connection) answers each request from a script: status, x-amzn-errortype, body and a
 * right/wrong/absent x-amz-crc32, or a reset, a delay, a truncated body. Backoff sleeps are
 * injected and recorded, jitter is fixed (r = 0.75), so the exact delays are checked. Optional:
 * the same client against a real dynalite when tests/node has it. */
#include "ddb_script.h"
#include "dynalite.h"

/* ---- tests ------------------------------------------------------------------------------ */

static void test_success_first_try(void **state)
{
    fixture_t *f = fixture_new(NULL, 0, NULL);
    result_t r;
    call_sync(f, "ListTables", "{}", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.http, 200);
    assert_int_equal(r.attempts, 1);
    assert_string_equal(r.etype, "");
    assert_string_equal(r.body, DEFAULT_BODY);
    assert_int_equal(r.body_len, strlen(DEFAULT_BODY));
    ddb_client_metrics_t m = metrics(f);
    assert_int_equal(m.requests, 1);
    assert_int_equal(m.attempts, 1);
    assert_int_equal(m.retries, 0);
    assert_int_equal(m.failures, 0);
    assert_int_equal(m.quota_available, 500); /* +1, capped at the maximum */
    assert_int_equal(m.crc_checked, 1);
    assert_int_equal(m.latency_count, 1);
    assert_int_equal(m.latency_bucket[DDB_LATENCY_BUCKETS - 1], 1);

    /* What went on the wire. */
    req_rec_t *q = &f->srv->recs[0];
    assert_int_equal(f->srv->nreqs, 1);
    assert_string_equal(q->target, "DynamoDB_20120810.ListTables");
    assert_string_equal(q->ctype, "application/x-amz-json-1.0");
    assert_string_equal(q->host, f->host);
    assert_string_equal(q->body, "{}");
    assert_false(q->expect);
    assert_false(q->accept_encoding);
    assert_string_equal(q->date, "20261122T000001Z");
    assert_non_null(strstr(q->auth, "AWS4-HMAC-SHA256"));
    assert_int_equal(f->nsign, 1);
    assert_false(f->sign_bad);
    assert_int_equal(f->nsleeps, 0);
    result_destroy(&r);
    fixture_free(f);
}

static void test_transient_then_success(void **state)
{
    step_t steps[] = {ERR_STEP(500, "InternalServerError", "oops"),
                      {.act = ACT_RESPOND, .status = 503, .body = "", .crc = CRC_NONE},
                      OK_STEP};
    fixture_t *f = fixture_new(steps, 3, NULL);
    const char *body = "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}";
    result_t r;
    call_sync(f, "GetItem", body, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 3);
    assert_string_equal(r.body, "{\"Item\":{}}");
    /* 0.75 * 25 * 2^0, 0.75 * 25 * 2^1, rounded down */
    assert_int_equal(f->nsleeps, 2);
    assert_int_equal(f->sleeps[0], 18);
    assert_int_equal(f->sleeps[1], 37);
    /* Signed once per attempt, same body every time, fresh X-Amz-Date each time. */
    assert_int_equal(f->nsign, 3);
    assert_false(f->sign_bad);
    assert_int_equal(f->srv->nreqs, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(f->srv->recs[i].body, body);
        assert_string_equal(f->srv->recs[i].target, "DynamoDB_20120810.GetItem");
    }
    assert_string_not_equal(f->srv->recs[0].date, f->srv->recs[1].date);
    assert_string_not_equal(f->srv->recs[1].date, f->srv->recs[2].date);
    ddb_client_metrics_t m = metrics(f);
    assert_int_equal(m.attempts, 3);
    assert_int_equal(m.retries, 2);
    assert_int_equal(m.transient_errors, 2);
    assert_int_equal(m.throttles, 0);
    /* Two retries took 14 each, the success refunded the last one: 500 - 28 + 14. */
    assert_int_equal(m.quota_available, 486);
    result_destroy(&r);

    /* A first-try success adds 1. */
    call_sync(f, "GetItem", body, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(metrics(f).quota_available, 487);
    result_destroy(&r);
    fixture_free(f);
}

static void test_throttling_exhausted(void **state)
{
    /* The type from the JSON body (no header), then from the header (which wins). */
    step_t steps[] = {
        ERR_STEP(400, "ThrottlingException", "slow down"),
        ERR_STEP(400, "ThrottlingException", "slow down"),
        {.act = ACT_RESPOND,
         .status = 400,
         .etype_hdr = "ProvisionedThroughputExceededException:http://internal.amazon.com/x",
         .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#Other\",\"message\":\"p\"}",
         .crc = CRC_RIGHT},
        ERR_STEP(400, "ThrottlingException", "slow down"),
        OK_STEP,
    };
    fixture_t *f = fixture_new(steps, 5, NULL);
    result_t r;
    call_sync(f, "PutItem", "{}", &r);
    assert_int_equal(r.status, KEEL_EUNAVAIL);
    assert_int_equal(r.attempts, 4);
    assert_int_equal(r.http, 400);
    assert_string_equal(r.etype, "ThrottlingException");
    assert_string_equal(r.message, "slow down");
    assert_int_equal(f->nsleeps, 3);
    assert_int_equal(f->sleeps[0], 750);
    assert_int_equal(f->sleeps[1], 1500);
    assert_int_equal(f->sleeps[2], 3000);
    ddb_client_metrics_t m = metrics(f);
    assert_int_equal(m.throttles, 4);
    assert_int_equal(m.failures, 1);
    assert_int_equal(m.quota_available, 500 - 3 * 5);
    result_destroy(&r);
    fixture_free(f);

    /* HTTP 429 without a type is throttling too. */
    step_t s429[] = {{.act = ACT_RESPOND, .status = 429, .body = "", .crc = CRC_NONE}, OK_STEP};
    f = fixture_new(s429, 2, NULL);
    call_sync(f, "PutItem", "{}", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(f->sleeps[0], 750);
    assert_int_equal(metrics(f).quota_available, 500);
    result_destroy(&r);
    fixture_free(f);
}

static void test_transport_faults_then_success(void **state)
{
    step_t steps[] = {
        {.act = ACT_RESET},
        OK_STEP,                                                             /* call 1 */
        {.act = ACT_RESPOND, .status = 200, .body = "{}", .crc = CRC_WRONG}, /* call 2 */
        OK_STEP,
        {.act = ACT_TRUNCATE, .status = 200, .body = "{\"Item\":", .crc = CRC_NONE}, /* 3 */
        OK_STEP,
    };
    fixture_t *f = fixture_new(steps, 6, &(ddb_client_config_t){.threads = 1});
    result_t r;
    call_sync(f, "GetItem", "{}", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(metrics(f).transport_errors, 1);
    result_destroy(&r);

    call_sync(f, "GetItem", "{}", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    assert_string_equal(r.body, "{\"Item\":{}}");
    assert_int_equal(metrics(f).crc_errors, 1);
    result_destroy(&r);

    call_sync(f, "GetItem", "{}", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    result_destroy(&r);

    ddb_client_metrics_t m = metrics(f);
    assert_int_equal(m.transport_errors, 2);
    assert_int_equal(m.transient_errors, 3);
    assert_int_equal(m.retries, 3);
    assert_int_equal(f->nsleeps, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->sleeps[i], 18);
    fixture_free(f);
}

static void test_crc_wrong_on_every_attempt(void **state)
{
    step_t bad = {.act = ACT_RESPOND, .status = 200, .body = "{}", .crc = CRC_WRONG};
    step_t steps[] = {bad, bad, bad, bad};
    fixture_t *f = fixture_new(steps, 4, NULL);
    result_t r;
    call_sync(f, "GetItem", "{}", &r);
    assert_int_equal(r.status, KEEL_EUNAVAIL);
    assert_int_equal(r.attempts, 4);
    assert_non_null(strstr(r.message, "crc32"));
    assert_int_equal(metrics(f).crc_errors, 4);
    assert_int_equal(metrics(f).quota_available, 500 - 3 * 14);
    result_destroy(&r);
    fixture_free(f);
}

static void test_not_retried(void **state)
{
    struct {
        step_t step;
        int status;
        const char *etype;
    } cases[] = {
        {{.act = ACT_RESPOND,
          .status = 400,
          .etype_hdr = "ValidationException:http://internal.amazon.com/coral/validate/",
          .body = "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                  "\"message\":\"One or more parameter values were invalid\"}",
          .crc = CRC_RIGHT},
         KEEL_EINVAL,
         "ValidationException"},
        {ERR_STEP(400, "SerializationException", "x"), KEEL_EINVAL, "SerializationException"},
        {ERR_STEP(400, "ResourceNotFoundException", "x"), KEEL_ENOTFOUND,
         "ResourceNotFoundException"},
        {ERR_STEP(400, "ResourceInUseException", "x"), KEEL_EEXIST, "ResourceInUseException"},
        {ERR_STEP(400, "AccessDeniedException", "x"), KEEL_EPERM, "AccessDeniedException"},
        {ERR_STEP(400, "UnrecognizedClientException", "x"), KEEL_EPERM,
         "UnrecognizedClientException"},
        {ERR_STEP(400, "InvalidSignatureException",
                  "The request signature we calculated does "
                  "not match"),
         KEEL_EPERM, "InvalidSignatureException"},
        {ERR_STEP(403, "MissingAuthenticationTokenException", "x"), KEEL_EPERM,
         "MissingAuthenticationTokenException"},
        {ERR_STEP(400, "IncompleteSignatureException", "x"), KEEL_EPERM,
         "IncompleteSignatureException"},
        {ERR_STEP(400, "SomethingNewException", "x"), KEEL_EINVAL, "SomethingNewException"},
        {ERR_STEP(501, "NotImplemented", "x"), KEEL_EIO, "NotImplemented"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    step_t steps[MAX_STEPS];
    for (size_t i = 0; i < n; i++)
        steps[i] = cases[i].step;
    fixture_t *f = fixture_new(steps, n, &(ddb_client_config_t){.threads = 1});
    for (size_t i = 0; i < n; i++) {
        result_t r;
        call_sync(f, "PutItem", "{}", &r);
        if (r.status != cases[i].status || strcmp(r.etype, cases[i].etype) != 0 || r.attempts != 1)
            fail_msg("case %zu: status %d type '%s' attempts %u", i, r.status, r.etype, r.attempts);
        assert_string_not_equal(r.message, "");
        assert_true(r.body_len > 0);
        result_destroy(&r);
    }
    assert_int_equal(f->nsleeps, 0);
    assert_int_equal(metrics(f).retries, 0);
    assert_int_equal(metrics(f).failures, n);
    fixture_free(f);
}

static void test_conditional_check_failed(void **state)
{
    const char *body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                       "ConditionalCheckFailedException\",\"message\":\"The conditional request "
                       "failed\",\"Item\":{\"pk\":{\"S\":\"a\"}}}";
    step_t steps[] = {{.act = ACT_RESPOND, .status = 400, .body = body, .crc = CRC_RIGHT}};
    fixture_t *f = fixture_new(steps, 1, NULL);
    result_t r;
    call_sync(f, "PutItem", "{}", &r);
    assert_int_equal(r.status, KEEL_ECONFLICT);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(r.http, 400);
    assert_string_equal(r.etype, "ConditionalCheckFailedException");
    assert_string_equal(r.message, "The conditional request failed");
    assert_string_equal(r.body, body);
    assert_int_equal(f->nsleeps, 0);
    result_destroy(&r);
    fixture_free(f);
}

static void test_signature_expired_retried(void **state)
{
    step_t steps[] = {
        ERR_STEP(400, "InvalidSignatureException",
                 "Signature expired: 20261122T000000Z is now earlier than 20261122T000500Z"),
        OK_STEP};
    fixture_t *f = fixture_new(steps, 2, NULL);
    result_t r;
    call_sync(f, "PutItem", "{}", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(f->nsign, 2);
    assert_int_equal(f->sleeps[0], 18);
    result_destroy(&r);
    fixture_free(f);
}

static void test_sign_failure(void **state)
{
    fixture_t *f = fixture_new(NULL, 0, NULL);
    f->sign_rc = KEEL_EPERM;
    result_t r;
    call_sync(f, "PutItem", "{}", &r);
    assert_int_equal(r.status, KEEL_EPERM);
    assert_int_equal(r.http, 0);
    assert_int_equal(f->srv->nreqs, 0);
    assert_int_equal(f->nsleeps, 0);
    result_destroy(&r);
    fixture_free(f);
}

static void test_quota_exhaustion(void **state)
{
    step_t e500 = ERR_STEP(500, "InternalServerError", "x");
    step_t steps[] = {e500, e500, OK_STEP};
    fixture_t *f = fixture_new(steps, 3, &(ddb_client_config_t){.quota = 20});
    result_t r;
    call_sync(f, "PutItem", "{}", &r);
    /* First retry: 20 -> 6; the second would cost 14: refused. */
    assert_int_equal(r.status, KEEL_EUNAVAIL);
    assert_int_equal(r.attempts, 2);
    assert_string_equal(r.etype, "InternalServerError");
    ddb_client_metrics_t m = metrics(f);
    assert_int_equal(m.quota_exhausted, 1);
    assert_int_equal(m.quota_available, 6);
    assert_int_equal(f->nsleeps, 1);
    result_destroy(&r);

    call_sync(f, "PutItem", "{}", &r); /* the OK step: first try, +1 */
    assert_int_equal(r.status, 0);
    assert_int_equal(metrics(f).quota_available, 7);
    result_destroy(&r);
    fixture_free(f);
}

static void test_attempt_timeout_then_success(void **state)
{
    step_t steps[] = {{.act = ACT_DELAY, .status = 200, .body = "{}", .delay_ms = 1500}, OK_STEP};
    fixture_t *f = fixture_new(steps, 2, &(ddb_client_config_t){.request_timeout_ms = 200});
    result_t r;
    int64_t t0 = mono_ms();
    call_sync(f, "GetItem", "{}", &r);
    int64_t took = mono_ms() - t0;
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 2);
    assert_true(took >= 190 && took < 1400);
    assert_int_equal(metrics(f).transport_errors, 1);
    result_destroy(&r);
    fixture_free(f);
}

static void test_call_deadline(void **state)
{
    step_t slow = {.act = ACT_DELAY, .status = 200, .body = "{}", .delay_ms = 3000};
    step_t steps[] = {slow, slow, slow, slow};
    fixture_t *f = fixture_new(
        steps, 4, &(ddb_client_config_t){.request_timeout_ms = 250, .call_deadline_ms = 400});
    result_t r;
    int64_t t0 = mono_ms();
    call_sync(f, "GetItem", "{}", &r);
    int64_t took = mono_ms() - t0;
    assert_int_equal(r.status, KEEL_ETIMEDOUT);
    assert_int_equal(r.attempts, 2); /* 250 ms, then the 150 ms left */
    assert_true(took >= 390 && took < 1500);
    assert_non_null(strstr(r.message, "deadline"));
    assert_int_equal(metrics(f).deadline_exceeded, 1);
    result_destroy(&r);
    fixture_free(f);
}

static void test_keepalive_reuse(void **state)
{
    fixture_t *f = fixture_new(NULL, 0, &(ddb_client_config_t){.threads = 1});
    for (int i = 0; i < 5; i++) {
        result_t r;
        call_sync(f, "GetItem", "{}", &r);
        assert_int_equal(r.status, 0);
        result_destroy(&r);
    }
    assert_int_equal(f->srv->nreqs, 5);
    assert_int_equal(f->srv->nconns, 1);
    fixture_free(f);
}

static void test_shutdown_pending(void **state)
{
    step_t steps[] = {{.act = ACT_DELAY, .status = 200, .body = "{}", .delay_ms = 5000}};
    fixture_t *f = fixture_new(steps, 1, &(ddb_client_config_t){.threads = 1});
    result_t r[5];
    for (int i = 0; i < 5; i++) {
        result_init(&r[i]);
        assert_int_equal(ddb_call(f->c, "GetItem", "{}", 2, on_done, &r[i]), 0);
    }
    /* Wait until the first call is on the wire, then stop the client. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&f->srv->lock);
        size_t n = f->srv->nreqs;
        pthread_mutex_unlock(&f->srv->lock);
        if (n)
            break;
        sleep_ms_real(5);
    }
    int64_t t0 = mono_ms();
    ddb_client_free(f->c);
    f->c = NULL;
    assert_true(mono_ms() - t0 < 2500);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(r[i].ndone, 1);
        assert_int_equal(r[i].status, KEEL_ESHUTDOWN);
        assert_int_equal(r[i].attempts, i == 0 ? 1 : 0);
        result_destroy(&r[i]);
    }
    fixture_free(f);
}

#define CALLERS     4
#define CALLS_EACH  50
#define TOTAL_CALLS (CALLERS * CALLS_EACH)

typedef struct many {
    ddb_client_t *c;
    atomic_int done[TOTAL_CALLS];
    atomic_int bad;
    atomic_int total;
} many_t;

typedef struct many_slot {
    many_t *m;
    int idx;
} many_slot_t;

static many_slot_t slots[TOTAL_CALLS];

static void many_done(void *arg, const ddb_response_t *r)
{
    many_slot_t *s = arg;
    atomic_fetch_add(&s->m->done[s->idx], 1);
    if (r->status != 0 || r->attempts != 1)
        atomic_fetch_add(&s->m->bad, 1);
    atomic_fetch_add(&s->m->total, 1);
}

typedef struct caller {
    many_t *m;
    int base;
    int rc;
} caller_t;

static void *caller_main(void *arg)
{
    caller_t *ct = arg;
    char body[64];
    for (int i = 0; i < CALLS_EACH; i++) {
        int idx = ct->base + i;
        slots[idx] = (many_slot_t){ct->m, idx};
        int n = snprintf(body, sizeof body, "{\"n\":%d}", idx);
        int rc = ddb_call(ct->m->c, "PutItem", body, (size_t)n, many_done, &slots[idx]);
        if (rc)
            ct->rc = rc;
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    fixture_t *f = fixture_new(NULL, 0, &(ddb_client_config_t){.threads = 4});
    many_t *m = calloc(1, sizeof *m);
    m->c = f->c;
    pthread_t t[CALLERS];
    caller_t ct[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        ct[i] = (caller_t){m, i * CALLS_EACH, 0};
        assert_int_equal(pthread_create(&t[i], NULL, caller_main, &ct[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(ct[i].rc, 0);
    }
    for (int i = 0; i < 2000 && atomic_load(&m->total) < TOTAL_CALLS; i++)
        sleep_ms_real(5);
    assert_int_equal(atomic_load(&m->total), TOTAL_CALLS);
    for (int i = 0; i < TOTAL_CALLS; i++)
        assert_int_equal(atomic_load(&m->done[i]), 1);
    assert_int_equal(atomic_load(&m->bad), 0);
    ddb_client_metrics_t mt = metrics(f);
    assert_int_equal(mt.requests, TOTAL_CALLS);
    assert_int_equal(mt.attempts, TOTAL_CALLS);
    assert_true(f->srv->nconns <= 4);
    fixture_free(f);
    free(m);
}

static void test_backoff_helper(void **state)
{
    ddb_client_config_t cfg = {.endpoint = "http://127.0.0.1:9", .threads = 1};
    ddb_client_t *c;
    cfg.rand64 = rand_075;
    assert_int_equal(ddb_client_new(&cfg, &c, NULL, 0), 0);
    assert_int_equal(ddb_backoff_ms(c, 0, false), 18);
    assert_int_equal(ddb_backoff_ms(c, 3, false), 150);
    assert_int_equal(ddb_backoff_ms(c, 0, true), 750);
    assert_int_equal(ddb_backoff_ms(c, 3, true), 6000);
    assert_int_equal(ddb_backoff_ms(c, 5, true), 15000); /* 32 s capped at 20 s */
    assert_int_equal(ddb_backoff_ms(c, 40, true), 15000);
    assert_int_equal(ddb_backoff_ms(c, 100, false), 15000);
    ddb_client_free(c);

    /* The internal source stays within [0, cap). */
    cfg.rand64 = NULL;
    assert_int_equal(ddb_client_new(&cfg, &c, NULL, 0), 0);
    for (int i = 0; i < 1000; i++) {
        long d = ddb_backoff_ms(c, (unsigned)(i % 8), i % 2);
        assert_true(d >= 0 && d < ((i % 2) ? 20000 : 25L << (i % 8)));
    }
    ddb_client_free(c);
}

static void test_config(void **state)
{
    const char *bad[] = {"ftp://x",      "http://",    "127.0.0.1:8000", "http://h/path",
                         "http://u@h:1", "http://h?x", "https:// h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ddb_client_config_t cfg = {.endpoint = bad[i]};
        ddb_client_t *c = (ddb_client_t *)&cfg;
        char err[128] = "";
        assert_int_equal(ddb_client_new(&cfg, &c, err, sizeof err), KEEL_EINVAL);
        assert_null(c);
        assert_string_not_equal(err, "");
    }
    ddb_client_t *c;
    assert_int_equal(ddb_client_new(NULL, &c, NULL, 0), KEEL_EINVAL);
    ddb_client_config_t cfg = {.endpoint = "https://dynamodb.us-east-1.amazonaws.com/"};
    assert_int_equal(ddb_client_new(&cfg, &c, NULL, 0), 0);
    ddb_client_metrics_t m;
    ddb_client_metrics(c, &m);
    assert_int_equal(m.quota_available, DDB_DEFAULT_QUOTA);
    assert_int_equal(ddb_call(c, "", "{}", 2, on_done, NULL), KEEL_EINVAL);
    assert_int_equal(ddb_call(c, "Put Item", "{}", 2, on_done, NULL), KEEL_EINVAL);
    assert_int_equal(ddb_call(c, "PutItem", NULL, 2, on_done, NULL), KEEL_EINVAL);
    assert_int_equal(ddb_call(c, "PutItem", "{}", 2, NULL, NULL), KEEL_EINVAL);
    ddb_client_free(c);
    ddb_client_free(NULL);

    /* A trailing '/' is accepted; the Host given to the signer is host:port. */
    fixture_t *f = fixture_new(NULL, 0, NULL);
    ddb_client_free(f->c);
    snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%d/", f->srv->port);
    ddb_client_config_t c2 = {
        .endpoint = f->endpoint, .threads = 1, .sign = test_sign, .sign_arg = f};
    assert_int_equal(ddb_client_new(&c2, &f->c, NULL, 0), 0);
    result_t r;
    call_sync(f, "DescribeTable", "{\"TableName\":\"t\"}", &r);
    assert_int_equal(r.status, 0);
    assert_false(f->sign_bad);
    assert_string_equal(f->srv->recs[0].host, f->host);
    result_destroy(&r);
    fixture_free(f);
}

/* ---- optional: a real dynalite -------------------------------------------------------------- */

static dynalite_t dynalite = {.pid = -1};

/* Teardown: stops dynalite (by its PID) even when an assertion failed. */
static int stop_dynalite(void **state)
{
    (void)state;
    dynalite_stop(&dynalite);
    return 0;
}

static void test_dynalite(void **state)
{
    int rc = dynalite_start(&dynalite);
    if (rc > 0)
        skip();
    if (rc < 0)
        fail_msg("dynalite did not start");
    int port = dynalite.port;

    fixture_t *f = calloc(1, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    snprintf(f->endpoint, sizeof f->endpoint, "http://127.0.0.1:%d", port);
    snprintf(f->host, sizeof f->host, "127.0.0.1:%d", port);
    ddb_client_config_t cfg = {.endpoint = f->endpoint,
                               .threads = 2,
                               .sign = test_sign,
                               .sign_arg = f,
                               .sleep_ms = record_sleep,
                               .sleep_arg = f};
    assert_int_equal(ddb_client_new(&cfg, &f->c, NULL, 0), 0);

    result_t r;
    call_sync(f, "ListTables", "{}", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.attempts, 1);
    assert_non_null(strstr(r.body, "TableNames"));
    result_destroy(&r);

    call_sync(f, "DescribeTable", "{\"TableName\":\"missing\"}", &r);
    assert_int_equal(r.status, KEEL_ENOTFOUND);
    assert_string_equal(r.etype, "ResourceNotFoundException");
    result_destroy(&r);

    call_sync(f, "CreateTable",
              "{\"TableName\":\"keel_test\",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\","
              "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":"
              "\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\"}",
              &r);
    if (r.status != 0)
        fail_msg("CreateTable: %d %s: %s", r.status, r.etype, r.message);
    result_destroy(&r);
    /* Even with --createTableMs 0 the table is CREATING for a moment: wait for ACTIVE. */
    bool active = false;
    for (int i = 0; i < 250 && !active; i++) {
        call_sync(f, "DescribeTable", "{\"TableName\":\"keel_test\"}", &r);
        assert_int_equal(r.status, 0);
        active = strstr(r.body, "\"TableStatus\":\"ACTIVE\"") != NULL;
        result_destroy(&r);
        if (!active)
            sleep_ms_real(20);
    }
    assert_true(active);
    call_sync(f, "PutItem",
              "{\"TableName\":\"keel_test\",\"Item\":{\"pk\":{\"S\":\"a\"},\"v\":{\"S\":"
              "\"\\u00e9t\\u00e9\"}"
              "},\"ConditionExpression\":\"attribute_not_exists(pk)\"}",
              &r);
    assert_int_equal(r.status, 0);
    result_destroy(&r);
    call_sync(
        f, "PutItem",
        "{\"TableName\":\"keel_test\",\"Item\":{\"pk\":{\"S\":\"a\"}},\"ConditionExpression\":"
        "\"attribute_not_exists(pk)\"}",
        &r);
    assert_int_equal(r.status, KEEL_ECONFLICT);
    assert_string_equal(r.etype, "ConditionalCheckFailedException");
    result_destroy(&r);
    call_sync(
        f, "GetItem",
        "{\"TableName\":\"keel_test\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"ConsistentRead\":true}", &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.body, "\"pk\""));
    result_destroy(&r);
    call_sync(f, "PutItem", "{\"TableName\":\"keel_test\",\"Item\":{}}", &r);
    assert_int_equal(r.status, KEEL_EINVAL);
    assert_string_equal(r.etype, "ValidationException");
    result_destroy(&r);

    /* dynalite sends x-amz-crc32 on every answer: all verified. */
    ddb_client_metrics_t m = metrics(f);
    assert_int_equal(m.crc_errors, 0);
    assert_int_equal(m.crc_checked, m.attempts);
    assert_true(m.attempts >= 8);
    assert_int_equal(m.retries, 0);
    assert_int_equal(f->nsleeps, 0);

    ddb_client_free(f->c);
    pthread_mutex_destroy(&f->lock);
    free(f);
    dynalite_stop(&dynalite);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_first_try),
        cmocka_unit_test(test_transient_then_success),
        cmocka_unit_test(test_throttling_exhausted),
        cmocka_unit_test(test_transport_faults_then_success),
        cmocka_unit_test(test_crc_wrong_on_every_attempt),
        cmocka_unit_test(test_not_retried),
        cmocka_unit_test(test_conditional_check_failed),
        cmocka_unit_test(test_signature_expired_retried),
        cmocka_unit_test(test_sign_failure),
        cmocka_unit_test(test_quota_exhaustion),
        cmocka_unit_test(test_attempt_timeout_then_success),
        cmocka_unit_test(test_call_deadline),
        cmocka_unit_test(test_keepalive_reuse),
        cmocka_unit_test(test_shutdown_pending),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_backoff_helper),
        cmocka_unit_test(test_config),
        cmocka_unit_test_teardown(test_dynalite, stop_dynalite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
