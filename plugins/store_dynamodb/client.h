/*
 * client.h — DynamoDB JSON-protocol transport with the SDKs' retry profile.
 *
 * A client owns `threads` worker threads fed by one FIFO. Each worker owns one
 * curl easy handle reused across calls (HTTP keep-alive). A call is POST
 * endpoint + "/" with
 *     Host: <host[:port] as in the endpoint, default port omitted>
 *     Content-Type: application/x-amz-json-1.0
 *     X-Amz-Target: DynamoDB_20120810.<operation>
 *     Expect:                      (empty: no 100-continue)
 *     ... lines added by the sign callback, re-run before every attempt
 * No Accept-Encoding is sent (no gzip). The response's x-amz-crc32, when
 * present, must equal the zlib CRC-32 of the raw body bytes.
 *
 * Retries (attempt n = 1..max_attempts; "retry index" i = n - 1 after attempt
 * n failed, i.e. 0 before the second attempt):
 *   throttling  HTTP 429, or error type ProvisionedThroughputExceededException,
 *               ThrottlingException, RequestLimitExceeded, LimitExceededException,
 *               TransactionInProgressException (any status)
 *               base 1000 ms, costs DDB_RETRY_COST_THROTTLE (5) tokens.
 *   transient   HTTP 500/502/503/504, curl timeouts / connect failures /
 *               resets / empty replies / truncated bodies, CRC mismatch,
 *               InvalidSignatureException "Signature expired..." and
 *               RequestTimeTooSkewed (clock skew)
 *               base 25 ms, costs DDB_RETRY_COST_TRANSIENT (14) tokens.
 *   delay       r * min(base * 2^i, 20000 ms), r uniform in [0, 1) taken from
 *               the top 32 bits of rand64(): delay = (cap * (x >> 32)) >> 32.
 *   quota       `quota` tokens per client (one client per process), starting
 *               full. A retry takes its cost; too few tokens means no retry
 *               (the call fails, metrics.quota_exhausted++). A success that
 *               needed retries gives back the cost of its last retry (as the
 *               AWS SDKs' standard retry mode); a first-try success gives 1.
 *               Never above `quota`.
 *   deadline    call_deadline_ms counts from ddb_call() and covers queueing,
 *               attempts and backoff. Each attempt's timeout is clamped to
 *               what is left; a backoff that would end past the deadline is
 *               not slept. Either way the call fails with KEEL_ETIMEDOUT.
 *
 * Status mapping (ddb_response_t.status):
 *   HTTP 200, CRC ok                           0
 *   ConditionalCheckFailedException            KEEL_ECONFLICT (body available)
 *   TransactionCanceledException               KEEL_ECONFLICT (body has reasons)
 *   ValidationException, SerializationException KEEL_EINVAL
 *   ResourceNotFoundException                  KEEL_ENOTFOUND
 *   ResourceInUseException                     KEEL_EEXIST
 *   ItemCollectionSizeLimitExceededException   KEEL_EFULL
 *   AccessDeniedException, UnrecognizedClientException, InvalidSignatureException
 *   (not expired), MissingAuthenticationToken(Exception),
 *   IncompleteSignature(Exception), ExpiredTokenException,
 *   InvalidClientTokenId                        KEEL_EPERM
 *   any other 4xx                              KEEL_EINVAL
 *   throttling/transient, attempts exhausted or quota empty  KEEL_EUNAVAIL
 *   call deadline reached                      KEEL_ETIMEDOUT
 *   other status (3xx, 501, ...), other curl errors (bad URL, TLS setup...)
 *                                              KEEL_EIO
 *   client shutting down                       KEEL_ESHUTDOWN
 *   sign() returned a negative code            that code (not retried)
 *
 * Threads: ddb_call() and ddb_client_metrics() from any thread; done() runs
 * on a worker thread exactly once per accepted call. ddb_client_free() must
 * not be called from done().
 */
#ifndef STORE_DYNAMODB_CLIENT_H
#define STORE_DYNAMODB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DDB_TARGET_PREFIX        "DynamoDB_20120810."
#define DDB_DEFAULT_THREADS      8u
#define DDB_DEFAULT_ATTEMPTS     4u
#define DDB_DEFAULT_QUOTA        500u
#define DDB_RETRY_COST_TRANSIENT 14u
#define DDB_RETRY_COST_THROTTLE  5u
#define DDB_NO_RETRY_INCREMENT   1u
#define DDB_BASE_TRANSIENT_MS    25L
#define DDB_BASE_THROTTLE_MS     1000L
#define DDB_MAX_BACKOFF_MS       20000L
/* Defaults for the timeouts left at 0 in the config. */
#define DDB_DEFAULT_CONNECT_MS  3000L
#define DDB_DEFAULT_REQUEST_MS  10000L
#define DDB_DEFAULT_DEADLINE_MS 30000L

typedef struct ddb_client ddb_client_t;

/*
 * Adds auth headers for one attempt; called before every attempt (fresh
 * X-Amz-Date each time). host is exactly the Host header sent, target the
 * X-Amz-Target value, body/len the exact bytes sent. Content-Type is
 * "application/x-amz-json-1.0". Append full header lines ("Name: value") with
 * add(list, line), which copies and returns 0 or KEEL_ENOMEM. Return 0, or a
 * negative keel code: the call then fails with that code, without retry.
 */
typedef int (*ddb_sign_fn)(void *arg, const char *host, const char *target, const char *body,
                           size_t len, int (*add)(void *list, const char *line), void *list);

typedef struct ddb_client_config {
    const char *endpoint; /* "https://dynamodb.us-east-1.amazonaws.com", "http://127.0.0.1:8000" */
    unsigned threads;     /* workers, one keep-alive curl handle each; 0: 8 */
    long connect_timeout_ms; /* per attempt; 0: default */
    long request_timeout_ms; /* per attempt; 0: default */
    long call_deadline_ms;   /* whole call incl. retries and backoff; 0: default */
    unsigned max_attempts;   /* 0: 4 */
    unsigned quota;          /* retry tokens; 0: 500 */
    ddb_sign_fn sign;        /* NULL: unsigned requests (local servers only) */
    void *sign_arg;
    uint64_t (*rand64)(void *); /* jitter source; NULL: internal */
    void *rand_arg;
    void (*sleep_ms)(void *, long); /* backoff sleep; NULL: real (cut short by free) */
    void *sleep_arg;
} ddb_client_config_t;

typedef struct ddb_response {
    int status;             /* 0 or a keel error code (table above) */
    long http_status;       /* 0 when no HTTP answer */
    const char *error_type; /* "ConditionalCheckFailedException", "" when none */
    const char *message;    /* error message or transport error text, "" when none */
    const char *body;       /* response body of the last attempt ("" when none), NUL-ended */
    size_t body_len;
    unsigned attempts; /* attempts started, signing included (0: none, e.g. shut down) */
} ddb_response_t;

/* Runs on a client worker thread, once per accepted call; r is borrowed. */
typedef void (*ddb_done_fn)(void *arg, const ddb_response_t *r);

/*
 * Counters since ddb_client_new(); monotonic except quota_available. Latency is
 * per call (ddb_call() to done), in a cumulative Prometheus-style histogram
 * with upper bounds ddb_latency_bounds_ms[] (+Inf is latency_count).
 */
#define DDB_LATENCY_BUCKETS 12
extern const double ddb_latency_bounds_ms[DDB_LATENCY_BUCKETS];

typedef struct ddb_client_metrics {
    uint64_t requests;         /* calls completed (any status) */
    uint64_t failures;         /* calls completed with status != 0 */
    uint64_t attempts;         /* HTTP attempts */
    uint64_t retries;          /* attempts after the first */
    uint64_t throttles;        /* attempts answered with a throttling error */
    uint64_t transient_errors; /* attempts failing transiently (incl. below) */
    uint64_t transport_errors; /* attempts with no complete HTTP answer */
    uint64_t crc_errors;       /* attempts whose x-amz-crc32 did not match */
    uint64_t crc_checked;      /* answers whose x-amz-crc32 matched */
    uint64_t quota_exhausted;  /* retries refused for lack of tokens */
    uint64_t deadline_exceeded;
    uint64_t quota_available; /* tokens now (a gauge) */
    double latency_sum_ms;
    uint64_t latency_count;
    uint64_t latency_bucket[DDB_LATENCY_BUCKETS]; /* cumulative: <= bound */
} ddb_client_metrics_t;

/* Returns 0 or KEEL_EINVAL (bad config, text in err) / KEEL_ENOMEM / KEEL_EIO. */
int ddb_client_new(const ddb_client_config_t *cfg, ddb_client_t **out, char *err, size_t err_len);

/*
 * Queues a call: operation e.g. "PutItem", body JSON (copied). Returns 0 (done
 * will run) or KEEL_ESHUTDOWN / KEEL_ENOMEM / KEEL_EINVAL (done will not run).
 */
int ddb_call(ddb_client_t *c, const char *operation, const char *body, size_t len, ddb_done_fn done,
             void *arg);

/* Backoff before retry index `attempt` (0 before the 2nd try), with the
 * client's jitter source: for callers looping on UnprocessedItems. */
long ddb_backoff_ms(ddb_client_t *c, unsigned attempt, bool throttle);

void ddb_client_metrics(ddb_client_t *c, ddb_client_metrics_t *out);

/* Stops the workers: an attempt in flight is aborted, queued calls complete
 * with KEEL_ESHUTDOWN; returns after every done() ran. NULL is fine. */
/* Stops the workers: every pending and running call completes (running ones
 * cut short, pending ones with KEEL_ESHUTDOWN) before this returns; later
 * ddb_call()s answer KEEL_ESHUTDOWN. Idempotent; not from done(). */
void ddb_client_shutdown(ddb_client_t *c);
void ddb_client_free(ddb_client_t *c);

/* libcurl's process-wide init, once for every user in the process (the
 * client and the IMDS credentials fetch); false when it failed. */
bool ddb_curl_init(void);

#endif
