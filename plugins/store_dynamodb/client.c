/*
 * client.c — DynamoDB transport: a FIFO of calls served by worker threads,
 * each with one keep-alive curl easy handle; the retry profile of client.h.
 */
#include "client.h"
#include "errors.h"

#include <keel/keel.h>

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define DDB_MAX_BODY      (64u << 20) /* a response larger than this is an I/O error */
#define DDB_MAX_OPERATION 64
#define DDB_ETYPE_LEN     128
#define DDB_MSG_LEN       512

const double ddb_latency_bounds_ms[DDB_LATENCY_BUCKETS] = {5,   10,   25,   50,   100,   250,
                                                           500, 1000, 2500, 5000, 10000, 30000};

typedef struct ddb_item {
    struct ddb_item *next;
    char target[sizeof DDB_TARGET_PREFIX + DDB_MAX_OPERATION];
    char *body;
    size_t len;
    ddb_done_fn done;
    void *arg;
    int64_t start_ms;
} ddb_item_t;

typedef struct ddb_worker {
    ddb_client_t *c;
    pthread_t tid;
    bool started;
    CURL *h;
    char *buf; /* response body of the current attempt */
    size_t len, cap;
    bool overflow;
    char hdr_etype[DDB_ETYPE_LEN]; /* raw x-amzn-errortype */
    bool has_crc, crc_bad;
    uint32_t crc;
    char curl_err[CURL_ERROR_SIZE];
    char etype[DDB_ETYPE_LEN];
    char msg[DDB_MSG_LEN];
} ddb_worker_t;

struct ddb_client {
    char *url;  /* scheme://authority/ */
    char *host; /* Host header value */
    long connect_ms, request_ms, deadline_ms;
    unsigned max_attempts, quota_max;
    ddb_sign_fn sign;
    void *sign_arg;
    uint64_t (*rand64)(void *);
    void *rand_arg;
    void (*sleep_ms)(void *, long);
    void *sleep_arg;

    pthread_mutex_t lock;     /* queue, stopping */
    pthread_cond_t cond;      /* queue not empty or stopping */
    pthread_cond_t stop_cond; /* stopping: cuts backoff sleeps short */
    ddb_item_t *head, *tail;
    atomic_bool stopping;
    ddb_worker_t *workers;
    unsigned nworkers;

    pthread_mutex_t mlock; /* quota, rng, metrics */
    unsigned quota;
    uint64_t rng;
    ddb_client_metrics_t m;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool ddb_curl_init(void)
{
    return pthread_once(&curl_once, curl_init_once) == 0 && curl_init_rc == CURLE_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_err(char *err, size_t err_len, const char *msg)
{
    if (err && err_len)
        snprintf(err, err_len, "%s", msg);
}

/* ---- endpoint ---------------------------------------------------------- */

static int parse_endpoint(ddb_client_t *c, const char *ep, char *err, size_t err_len)
{
    const char *scheme;
    const char *rest;
    if (strncmp(ep, "https://", 8) == 0) {
        scheme = "https";
        rest = ep + 8;
    } else if (strncmp(ep, "http://", 7) == 0) {
        scheme = "http";
        rest = ep + 7;
    } else {
        set_err(err, err_len, "endpoint must start with http:// or https://");
        return KEEL_EINVAL;
    }
    size_t alen = strcspn(rest, "/?#");
    if (alen == 0 || memchr(rest, '@', alen) || strcspn(rest, " \t\r\n") < alen) {
        set_err(err, err_len, "endpoint has no valid host");
        return KEEL_EINVAL;
    }
    if (rest[alen] != '\0' && strcmp(rest + alen, "/") != 0) {
        set_err(err, err_len, "endpoint must not have a path, query or fragment");
        return KEEL_EINVAL;
    }
    /* Drop the scheme's default port, as curl does in the Host it sends. */
    size_t hlen = alen;
    const char *def = scheme[4] == 's' ? ":443" : ":80";
    size_t dlen = strlen(def);
    if (hlen > dlen && memcmp(rest + hlen - dlen, def, dlen) == 0 && rest[hlen - dlen - 1] != ':')
        hlen -= dlen;
    c->host = strndup(rest, hlen);
    size_t ulen = strlen(scheme) + 3 + alen + 2;
    c->url = malloc(ulen);
    if (!c->host || !c->url) {
        set_err(err, err_len, "out of memory");
        return KEEL_ENOMEM;
    }
    snprintf(c->url, ulen, "%s://%.*s/", scheme, (int)alen, rest);
    return 0;
}

/* ---- jitter, quota, metrics ---------------------------------------------- */

static uint64_t next_rand(ddb_client_t *c)
{
    if (c->rand64)
        return c->rand64(c->rand_arg);
    pthread_mutex_lock(&c->mlock);
    uint64_t x = c->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    pthread_mutex_unlock(&c->mlock);
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

long ddb_backoff_ms(ddb_client_t *c, unsigned attempt, bool throttle)
{
    uint64_t base = throttle ? DDB_BASE_THROTTLE_MS : DDB_BASE_TRANSIENT_MS;
    uint64_t cap = DDB_MAX_BACKOFF_MS;
    if (attempt < 32 && (base << attempt) < cap)
        cap = base << attempt;
    uint64_t r = next_rand(c) >> 32;
    return (long)((cap * r) >> 32);
}

/* Takes the retry's cost; false when the quota cannot pay it. */
static bool quota_take(ddb_client_t *c, unsigned cost)
{
    bool ok;
    pthread_mutex_lock(&c->mlock);
    ok = c->quota >= cost;
    if (ok)
        c->quota -= cost;
    else
        c->m.quota_exhausted++;
    pthread_mutex_unlock(&c->mlock);
    return ok;
}

static void quota_give(ddb_client_t *c, unsigned amount)
{
    pthread_mutex_lock(&c->mlock);
    c->quota = c->quota + amount > c->quota_max ? c->quota_max : c->quota + amount;
    pthread_mutex_unlock(&c->mlock);
}

void ddb_client_metrics(ddb_client_t *c, ddb_client_metrics_t *out)
{
    pthread_mutex_lock(&c->mlock);
    *out = c->m;
    out->quota_available = c->quota;
    pthread_mutex_unlock(&c->mlock);
}

static void count_call(ddb_client_t *c, int status, int64_t start_ms)
{
    double ms = (double)(now_ms() - start_ms);
    pthread_mutex_lock(&c->mlock);
    c->m.requests++;
    if (status != 0)
        c->m.failures++;
    c->m.latency_sum_ms += ms;
    c->m.latency_count++;
    for (unsigned i = 0; i < DDB_LATENCY_BUCKETS; i++)
        if (ms <= ddb_latency_bounds_ms[i])
            c->m.latency_bucket[i]++;
    pthread_mutex_unlock(&c->mlock);
}

/* ---- curl callbacks -------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    ddb_worker_t *w = ud;
    size_t len = size * n;
    if (len > DDB_MAX_BODY - w->len) {
        w->overflow = true;
        return 0;
    }
    if (w->len + len + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + len + 1)
            cap *= 2;
        char *p = realloc(w->buf, cap);
        if (!p)
            return 0;
        w->buf = p;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    w->buf[w->len] = '\0';
    return len;
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return false;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return true;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    ddb_worker_t *w = ud;
    size_t len = size * n;
    const char *v;
    size_t vlen;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) { /* a new response (after 1xx) */
        w->hdr_etype[0] = '\0';
        w->has_crc = false;
        w->crc_bad = false;
    } else if (header_is(line, len, "x-amzn-errortype", &v, &vlen)) {
        if (vlen >= sizeof w->hdr_etype)
            vlen = sizeof w->hdr_etype - 1;
        memcpy(w->hdr_etype, v, vlen);
        w->hdr_etype[vlen] = '\0';
    } else if (header_is(line, len, "x-amz-crc32", &v, &vlen)) {
        char tmp[16];
        char *end = NULL;
        unsigned long long x = 0;
        w->has_crc = true;
        w->crc_bad = true; /* an unparsable value never matches */
        if (vlen > 0 && vlen < sizeof tmp && isdigit((unsigned char)v[0])) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            errno = 0;
            x = strtoull(tmp, &end, 10);
            if (!*end && !errno && x <= UINT32_MAX) {
                w->crc = (uint32_t)x;
                w->crc_bad = false;
            }
        }
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    ddb_worker_t *w = ud;
    return atomic_load(&w->c->stopping) ? 1 : 0;
}

static int add_header(void *list, const char *line)
{
    struct curl_slist **l = list;
    if (!line || !*line || strpbrk(line, "\r\n"))
        return KEEL_EINVAL;
    struct curl_slist *n = curl_slist_append(*l, line);
    if (!n)
        return KEEL_ENOMEM;
    *l = n;
    return 0;
}

/* ---- classification -------------------------------------------------------- */

/* Classifies an HTTP answer (x-amz-crc32 first, then errors.c); *status
 * is set for DDB_FATAL. */
static enum ddb_class classify_http(ddb_client_t *c, ddb_worker_t *w, long http, int *status)
{
    if (w->has_crc &&
        (w->crc_bad || w->crc != (uint32_t)crc32(0L, (const Bytef *)w->buf, (uInt)w->len))) {
        pthread_mutex_lock(&c->mlock);
        c->m.crc_errors++;
        pthread_mutex_unlock(&c->mlock);
        snprintf(w->msg, sizeof w->msg, "x-amz-crc32 mismatch (HTTP %ld, %zu bytes)", http, w->len);
        return DDB_TRANSIENT;
    }
    if (w->has_crc) {
        pthread_mutex_lock(&c->mlock);
        c->m.crc_checked++;
        pthread_mutex_unlock(&c->mlock);
    }
    ddb_answer_t answer = {
        .http = http,
        .body = w->buf,
        .len = w->len,
        .header_etype = w->hdr_etype,
        .etype = w->etype,
        .etype_len = sizeof w->etype,
        .msg = w->msg,
        .msg_len = sizeof w->msg,
    };
    return ddb_classify_answer(&answer, status);
}

/* ---- one call -------------------------------------------------------------- */

static void backoff_sleep(ddb_client_t *c, long ms)
{
    if (ms <= 0)
        return;
    if (c->sleep_ms) {
        c->sleep_ms(c->sleep_arg, ms);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    while (!atomic_load(&c->stopping))
        if (pthread_cond_timedwait(&c->stop_cond, &c->lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&c->lock);
}

/* Runs one attempt; returns its class, *status for DDB_FATAL, *http. */
static enum ddb_class attempt(ddb_worker_t *w, ddb_item_t *it, long timeout_ms, int *status,
                              long *http)
{
    ddb_client_t *c = w->c;
    struct curl_slist *hdrs = NULL;
    char line[sizeof it->target + 32];
    int rc = 0;

    w->len = 0;
    if (w->buf)
        w->buf[0] = '\0';
    w->overflow = false;
    w->hdr_etype[0] = '\0';
    w->has_crc = false;
    w->curl_err[0] = '\0';
    w->etype[0] = '\0';
    w->msg[0] = '\0';
    *http = 0;

    size_t hl = strlen(c->host) + 8;
    char *host_line = malloc(hl);
    if (!host_line) {
        rc = KEEL_ENOMEM;
    } else {
        snprintf(host_line, hl, "Host: %s", c->host);
        rc = add_header(&hdrs, host_line);
        free(host_line);
    }
    if (!rc)
        rc = add_header(&hdrs, "Content-Type: application/x-amz-json-1.0");
    snprintf(line, sizeof line, "X-Amz-Target: %s", it->target);
    if (!rc)
        rc = add_header(&hdrs, line);
    if (!rc)
        rc = add_header(&hdrs, "Expect:");
    if (!rc && c->sign) {
        rc = c->sign(c->sign_arg, c->host, it->target, it->body, it->len, add_header, &hdrs);
        if (rc > 0)
            rc = KEEL_EINVAL;
        if (rc)
            snprintf(w->msg, sizeof w->msg, "signing failed (%d)", rc);
    }
    if (rc) {
        curl_slist_free_all(hdrs);
        if (!w->msg[0])
            snprintf(w->msg, sizeof w->msg, "cannot build request headers (%d)", rc);
        *status = rc;
        return DDB_FATAL;
    }

    long connect_ms = c->connect_ms < timeout_ms ? c->connect_ms : timeout_ms;
    curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->len);
    curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(w->h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);

    pthread_mutex_lock(&c->mlock);
    c->m.attempts++;
    pthread_mutex_unlock(&c->mlock);

    CURLcode cc = curl_easy_perform(w->h);
    curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);

    if (cc == CURLE_OK) {
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, http);
        return classify_http(c, w, *http, status);
    }
    snprintf(w->msg, sizeof w->msg, "%s", w->curl_err[0] ? w->curl_err : curl_easy_strerror(cc));
    if (w->overflow) {
        snprintf(w->msg, sizeof w->msg, "response body larger than %u bytes", DDB_MAX_BODY);
        *status = KEEL_EIO;
        return DDB_FATAL;
    }
    enum ddb_class cls = ddb_classify_curl(cc);
    if (cls == DDB_TRANSIENT) {
        pthread_mutex_lock(&c->mlock);
        c->m.transport_errors++;
        pthread_mutex_unlock(&c->mlock);
    }
    *status = cls == DDB_ABORTED ? KEEL_ESHUTDOWN : KEEL_EIO;
    w->len = 0; /* no answer: a partial body is not a body */
    return cls;
}

static void finish(ddb_worker_t *w, ddb_item_t *it, int status, long http, unsigned attempts)
{
    ddb_response_t r = {
        .status = status,
        .http_status = http,
        .error_type = w->etype,
        .message = w->msg,
        .body = w->buf && w->len ? w->buf : "",
        .body_len = w->len,
        .attempts = attempts,
    };
    count_call(w->c, status, it->start_ms);
    it->done(it->arg, &r);
}

static void run_call(ddb_worker_t *w, ddb_item_t *it)
{
    ddb_client_t *c = w->c;
    int64_t deadline = it->start_ms + c->deadline_ms;
    unsigned attempts = 0;
    unsigned last_cost = 0;
    int status = 0;
    long http = 0;

    w->len = 0;
    w->etype[0] = '\0';
    w->msg[0] = '\0';
    for (;;) {
        if (atomic_load(&c->stopping)) {
            snprintf(w->msg, sizeof w->msg, "client shutting down");
            status = KEEL_ESHUTDOWN;
            break;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            status = KEEL_ETIMEDOUT;
            break;
        }
        long tmo = c->request_ms < left ? c->request_ms : (long)left;
        attempts++;
        if (attempts > 1) {
            pthread_mutex_lock(&c->mlock);
            c->m.retries++;
            pthread_mutex_unlock(&c->mlock);
        }
        enum ddb_class cls = attempt(w, it, tmo, &status, &http);
        if (cls == DDB_OK) {
            status = 0;
            quota_give(c, attempts > 1 ? last_cost : DDB_NO_RETRY_INCREMENT);
            break;
        }
        if (cls == DDB_FATAL || cls == DDB_ABORTED)
            break;

        bool throttle = cls == DDB_THROTTLE;
        pthread_mutex_lock(&c->mlock);
        if (throttle)
            c->m.throttles++;
        else
            c->m.transient_errors++;
        pthread_mutex_unlock(&c->mlock);

        status = KEEL_EUNAVAIL;
        if (now_ms() >= deadline) {
            status = KEEL_ETIMEDOUT;
            break;
        }
        if (attempts >= c->max_attempts)
            break;
        long delay = ddb_backoff_ms(c, attempts - 1, throttle);
        if (now_ms() + delay >= deadline) {
            status = KEEL_ETIMEDOUT;
            break;
        }
        unsigned cost = throttle ? DDB_RETRY_COST_THROTTLE : DDB_RETRY_COST_TRANSIENT;
        if (!quota_take(c, cost))
            break;
        last_cost = cost;
        backoff_sleep(c, delay);
    }
    if (status == KEEL_ETIMEDOUT) {
        pthread_mutex_lock(&c->mlock);
        c->m.deadline_exceeded++;
        pthread_mutex_unlock(&c->mlock);
        char last[DDB_MSG_LEN];
        snprintf(last, sizeof last, "%s", w->msg);
        snprintf(w->msg, sizeof w->msg, "call deadline of %ld ms exceeded%s%.400s", c->deadline_ms,
                 last[0] ? ": " : "", last);
    }
    finish(w, it, status, http, attempts);
}

static void *worker_main(void *arg)
{
    ddb_worker_t *w = arg;
    ddb_client_t *c = w->c;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->head && !atomic_load(&c->stopping))
            pthread_cond_wait(&c->cond, &c->lock);
        ddb_item_t *it = c->head;
        if (it) {
            c->head = it->next;
            if (!c->head)
                c->tail = NULL;
        }
        pthread_mutex_unlock(&c->lock);
        if (!it)
            break;
        if (atomic_load(&c->stopping)) {
            w->len = 0;
            w->etype[0] = '\0';
            snprintf(w->msg, sizeof w->msg, "client shutting down");
            finish(w, it, KEEL_ESHUTDOWN, 0, 0);
        } else {
            run_call(w, it);
        }
        free(it->body);
        free(it);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------- */

static int worker_init(ddb_client_t *c, ddb_worker_t *w)
{
    w->c = c;
    w->h = curl_easy_init();
    if (!w->h)
        return KEEL_ENOMEM;
    CURL *h = w->h;
    int bad = 0;
    bad |= curl_easy_setopt(h, CURLOPT_URL, c->url);
    bad |= curl_easy_setopt(h, CURLOPT_POST, 1L);
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    bad |= curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
    bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->curl_err);
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
    bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
    bad |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    bad |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
    bad |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    return bad ? KEEL_EIO : 0;
}

int ddb_client_new(const ddb_client_config_t *cfg, ddb_client_t **out, char *err, size_t err_len)
{
    set_err(err, err_len, "");
    if (!cfg || !out || !cfg->endpoint) {
        set_err(err, err_len, "endpoint is required");
        return KEEL_EINVAL;
    }
    *out = NULL;
    if (cfg->connect_timeout_ms < 0 || cfg->request_timeout_ms < 0 || cfg->call_deadline_ms < 0) {
        set_err(err, err_len, "timeouts must not be negative");
        return KEEL_EINVAL;
    }
    if (cfg->threads > 256 || cfg->max_attempts > 100) {
        set_err(err, err_len, "threads (<= 256) or max_attempts (<= 100) out of range");
        return KEEL_EINVAL;
    }
    if (!ddb_curl_init()) {
        set_err(err, err_len, "curl_global_init failed");
        return KEEL_EIO;
    }
    ddb_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, err_len, "out of memory");
        return KEEL_ENOMEM;
    }
    int rc = parse_endpoint(c, cfg->endpoint, err, err_len);
    if (rc) {
        free(c->host);
        free(c->url);
        free(c);
        return rc;
    }
    c->connect_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DDB_DEFAULT_CONNECT_MS;
    c->request_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : DDB_DEFAULT_REQUEST_MS;
    c->deadline_ms = cfg->call_deadline_ms ? cfg->call_deadline_ms : DDB_DEFAULT_DEADLINE_MS;
    c->max_attempts = cfg->max_attempts ? cfg->max_attempts : DDB_DEFAULT_ATTEMPTS;
    c->quota_max = cfg->quota ? cfg->quota : DDB_DEFAULT_QUOTA;
    c->quota = c->quota_max;
    c->sign = cfg->sign;
    c->sign_arg = cfg->sign_arg;
    c->rand64 = cfg->rand64;
    c->rand_arg = cfg->rand_arg;
    c->sleep_ms = cfg->sleep_ms;
    c->sleep_arg = cfg->sleep_arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->rng = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
             (uint64_t)(uintptr_t)c;
    if (!c->rng)
        c->rng = UINT64_C(0x9E3779B97F4A7C15);
    atomic_init(&c->stopping, false);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->mlock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&c->cond, &ca);
    pthread_cond_init(&c->stop_cond, &ca); /* CLOCK_REALTIME: see backoff_sleep() */
    pthread_condattr_destroy(&ca);

    unsigned n = cfg->threads ? cfg->threads : DDB_DEFAULT_THREADS;
    c->workers = calloc(n, sizeof *c->workers);
    if (!c->workers) {
        ddb_client_free(c);
        set_err(err, err_len, "out of memory");
        return KEEL_ENOMEM;
    }
    c->nworkers = n;
    for (unsigned i = 0; i < n; i++) {
        rc = worker_init(c, &c->workers[i]);
        if (!rc && pthread_create(&c->workers[i].tid, NULL, worker_main, &c->workers[i]) != 0)
            rc = KEEL_ENOMEM;
        if (rc) {
            ddb_client_free(c);
            set_err(err, err_len, "cannot start worker threads");
            return rc;
        }
        c->workers[i].started = true;
    }
    *out = c;
    return 0;
}

int ddb_call(ddb_client_t *c, const char *operation, const char *body, size_t len, ddb_done_fn done,
             void *arg)
{
    if (!c || !operation || !done || (!body && len))
        return KEEL_EINVAL;
    size_t olen = strlen(operation);
    if (olen == 0 || olen > DDB_MAX_OPERATION)
        return KEEL_EINVAL;
    for (size_t i = 0; i < olen; i++)
        if (!isalnum((unsigned char)operation[i]))
            return KEEL_EINVAL;
    ddb_item_t *it = calloc(1, sizeof *it);
    char *copy = malloc(len + 1);
    if (!it || !copy) {
        free(it);
        free(copy);
        return KEEL_ENOMEM;
    }
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    snprintf(it->target, sizeof it->target, "%s%s", DDB_TARGET_PREFIX, operation);
    it->body = copy;
    it->len = len;
    it->done = done;
    it->arg = arg;
    it->start_ms = now_ms();

    pthread_mutex_lock(&c->lock);
    if (atomic_load(&c->stopping)) {
        pthread_mutex_unlock(&c->lock);
        free(copy);
        free(it);
        return KEEL_ESHUTDOWN;
    }
    if (c->tail)
        c->tail->next = it;
    else
        c->head = it;
    c->tail = it;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void ddb_client_shutdown(ddb_client_t *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    atomic_store(&c->stopping, true);
    pthread_cond_broadcast(&c->cond);
    pthread_cond_broadcast(&c->stop_cond);
    pthread_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < c->nworkers; i++) {
        ddb_worker_t *w = &c->workers[i];
        if (w->started)
            pthread_join(w->tid, NULL);
        w->started = false;
        if (w->h)
            curl_easy_cleanup(w->h);
        w->h = NULL;
        free(w->buf);
        w->buf = NULL;
    }
}

void ddb_client_free(ddb_client_t *c)
{
    if (!c)
        return;
    ddb_client_shutdown(c);
    /* Workers drain the queue; anything left means none ever started. */
    while (c->head) {
        ddb_item_t *it = c->head;
        c->head = it->next;
        free(it->body);
        free(it);
    }
    free(c->workers);
    pthread_cond_destroy(&c->cond);
    pthread_cond_destroy(&c->stop_cond);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->mlock);
    free(c->host);
    free(c->url);
    free(c);
}
