/*
 * store_dynamodb.c — the plugin: config, credentials and SigV4 signing of
 * every attempt, the table bootstrap, health for /readyz and metrics.
 *
 * The table is checked (and, with create_table, created) on a thread of
 * its own from start() on, retried until it works, so keeld comes up while
 * DynamoDB is unreachable: it accepts and queues orders, /readyz says why
 * it is not ready, and the pipeline's store step answers RETRY until the
 * table answers. A probe every 2 s keeps health current.
 */
#include "store_dynamodb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { PROBE_MS = 2000, CREATE_WAIT_S = 120, REFRESH_BACKOFF_S = 30 };

static const keel_config_key_t sd_config_keys[] = {
    {"table", KEEL_CFG_STRING, "keel-orders", "the orders table (with its GSI " SD_INDEX ")", 0,
     NULL},
    {"region", KEEL_CFG_STRING, NULL,
     "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, then the profile's config)", 0, NULL},
    {"endpoint", KEEL_CFG_STRING, NULL,
     "endpoint URL (default: AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, then AWS itself)", 0,
     NULL},
    {"access_key_id", KEEL_CFG_STRING, NULL, "credentials (default: env, profile, then IMDSv2)", 0,
     NULL},
    {"secret_access_key", KEEL_CFG_STRING, NULL, "with access_key_id", 0, NULL},
    {"session_token", KEEL_CFG_STRING, NULL, "with access_key_id, for temporary credentials", 0,
     NULL},
    {"profile", KEEL_CFG_STRING, NULL, "shared-file profile (default: AWS_PROFILE or default)", 0,
     NULL},
    {"create_table", KEEL_CFG_BOOL, "false",
     "create the table and its GSI when missing (on-demand billing, point-in-time recovery)", 0,
     NULL},
    {"threads", KEEL_CFG_INT, "8", "connections (one thread each) to DynamoDB (1..64)", 0, NULL},
    {"connect_timeout", KEEL_CFG_DURATION, "3s", "per attempt", 0, NULL},
    {"request_timeout", KEEL_CFG_DURATION, "10s", "per attempt", 0, NULL},
    {"call_deadline", KEEL_CFG_DURATION, "30s", "per call, retries and backoff included", 0, NULL},
    {"max_attempts", KEEL_CFG_INT, "4", "attempts per call (1..10)", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

/* ---- health ------------------------------------------------------------- */

/* why = prefix + detail (either may be ""), cut to fit. */
static void set_why(sd_t *sd, const char *prefix, const char *detail)
{
    pthread_mutex_lock(&sd->why_lock);
    snprintf(sd->why, sizeof sd->why, "%s%.*s", prefix, (int)(sizeof sd->why / 2), detail);
    pthread_mutex_unlock(&sd->why_lock);
}

void sd_note_outcome(sd_t *sd, int status, const char *message)
{
    switch (status) {
    case 0:
    case KEEL_ECONFLICT:
    case KEEL_EINVAL:
    case KEEL_EEXIST:
    case KEEL_EFULL:
        atomic_store(&sd->reachable, true);
        return;
    case KEEL_ENOTFOUND: /* only a missing table answers this */
        atomic_store(&sd->table_ready, false);
        set_why(sd, "the table is missing: ", message);
        return;
    case KEEL_ESHUTDOWN:
    case KEEL_ENOMEM:
        return;
    default:
        atomic_store(&sd->reachable, false);
        set_why(sd, "DynamoDB unreachable: ", message);
        return;
    }
}

static int sd_health(void *ctx, char *why, size_t why_len)
{
    sd_t *sd = ctx;
    if (atomic_load(&sd->reachable) && atomic_load(&sd->table_ready))
        return 0;
    pthread_mutex_lock(&sd->why_lock);
    snprintf(why, why_len, "%s", sd->why[0] ? sd->why : "connecting to DynamoDB");
    pthread_mutex_unlock(&sd->why_lock);
    return KEEL_EUNAVAIL;
}

/* ---- signing ------------------------------------------------------------ */

static int sign(void *arg, const char *host, const char *target, const char *body, size_t len,
                int (*add)(void *list, const char *line), void *list)
{
    sd_t *sd = arg;
    static __thread ddb_creds_t creds; /* per worker: 2 KB, off the stack */
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&sd->creds_lock);
    /* One worker refreshes (IMDS can take seconds), outside the lock; the
     * others keep signing with the current credentials meanwhile. A failed
     * refresh is tried again after REFRESH_BACKOFF_S. */
    bool refresh = ddb_creds_stale(&sd->creds, now) && !sd->refreshing && now >= sd->refresh_after;
    sd->refreshing |= refresh;
    creds = sd->creds;
    pthread_mutex_unlock(&sd->creds_lock);
    if (refresh) {
        ddb_creds_t fresh;
        char err[256];
        int rc = ddb_creds_resolve(&sd->creds_cfg, &fresh, err, sizeof err);
        pthread_mutex_lock(&sd->creds_lock);
        if (rc == 0)
            sd->creds = creds = fresh;
        else
            sd->refresh_after = now + REFRESH_BACKOFF_S;
        sd->refreshing = false;
        pthread_mutex_unlock(&sd->creds_lock);
        if (rc != 0)
            sd->host->log(sd->self, KEEL_LOG_WARN, "cannot refresh credentials: %s", err);
    }
    char date[SIGV4_AMZ_DATE_LEN + 1], auth[1024], line[2200];
    if (sigv4_amz_date(time(NULL), date) != 0)
        return KEEL_EINVAL;
    bool token = creds.session_token[0] != '\0';
    const sigv4_header_t headers[] = {
        {"content-type", "application/x-amz-json-1.0"},
        {"host", host},
        {"x-amz-date", date},
        {"x-amz-target", target},
        {"x-amz-security-token", creds.session_token},
    };
    const sigv4_creds_t keys = {creds.access_key, creds.secret_key, creds.session_token};
    if (sigv4_sign_cached(&sd->keys, &keys, sd->region, "dynamodb", "POST", "/", "", headers,
                          token ? 5 : 4, body, len, date, auth, sizeof auth) != 0)
        return KEEL_EINVAL;
    int rc;
    snprintf(line, sizeof line, "X-Amz-Date: %s", date);
    if ((rc = add(list, line)) != 0)
        return rc;
    snprintf(line, sizeof line, "Authorization: %s", auth);
    if ((rc = add(list, line)) != 0)
        return rc;
    if (token) {
        snprintf(line, sizeof line, "X-Amz-Security-Token: %s", creds.session_token);
        rc = add(list, line);
    }
    return rc;
}

/* ---- bootstrap ---------------------------------------------------------- */

typedef struct sync_call {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    json_t *body;
    char message[300];
} sync_call_t;

static void on_sync(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)sd;
    sync_call_t *s = arg;
    pthread_mutex_lock(&s->lock);
    s->status = status;
    s->body = json_incref(body);
    snprintf(s->message, sizeof s->message, "%s", message);
    s->done = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* One request, waited for (bootstrap thread only). */
static int call_sync(sd_t *sd, const char *op, json_t *body, json_t **out, char *msg,
                     size_t msg_len)
{
    sync_call_t s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    int rc = sd_request(sd, op, body, on_sync, &s);
    if (rc != 0) {
        snprintf(msg, msg_len, "%s", sd->host->strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&s.lock);
    while (!s.done)
        pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
    snprintf(msg, msg_len, "%s", s.message);
    if (out)
        *out = s.body;
    else
        json_decref(s.body);
    return s.status;
}

/* ACTIVE, with every GSI ACTIVE and ours among them. */
static bool table_active(json_t *describe, bool *has_index)
{
    json_t *t = json_object_get(describe, "Table");
    const char *status = json_string_value(json_object_get(t, "TableStatus"));
    bool active = status && strcmp(status, "ACTIVE") == 0;
    json_t *indexes = json_object_get(t, "GlobalSecondaryIndexes"), *gsi;
    size_t i;
    *has_index = false;
    json_array_foreach(indexes, i, gsi)
    {
        const char *name = json_string_value(json_object_get(gsi, "IndexName"));
        const char *st = json_string_value(json_object_get(gsi, "IndexStatus"));
        *has_index |= name && strcmp(name, SD_INDEX) == 0;
        active &= st && strcmp(st, "ACTIVE") == 0;
    }
    return active;
}

static int create_table(sd_t *sd, char *err, size_t err_len)
{
    json_t *body = json_pack(
        "{s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}], s:[{s:s, s:s}], s:s, "
        "s:[{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s}}]}",
        "AttributeDefinitions", "AttributeName", "order_id", "AttributeType", "S", "AttributeName",
        "customer_id", "AttributeType", "S", "AttributeName", "created_at", "AttributeType", "N",
        "KeySchema", "AttributeName", "order_id", "KeyType", "HASH", "BillingMode",
        "PAY_PER_REQUEST", "GlobalSecondaryIndexes", "IndexName", SD_INDEX, "KeySchema",
        "AttributeName", "customer_id", "KeyType", "HASH", "AttributeName", "created_at", "KeyType",
        "RANGE", "Projection", "ProjectionType", "ALL");
    int rc = call_sync(sd, "CreateTable", body, NULL, err, err_len);
    if (rc == KEEL_EEXIST)
        rc = 0; /* another node created it meanwhile */
    if (rc == 0)
        sd->host->log(sd->self, KEEL_LOG_INFO, "creating table '%s'", sd->table);
    return rc;
}

int sd_bootstrap(sd_t *sd, char *err, size_t err_len)
{
    bool created = false;
    for (int waited = 0; waited < CREATE_WAIT_S * 5 && !atomic_load(&sd->stopping); waited++) {
        json_t *describe = NULL;
        int rc = call_sync(sd, "DescribeTable", json_object(), &describe, err, err_len);
        if (rc == KEEL_ENOTFOUND && sd->create_table && !created) {
            if ((rc = create_table(sd, err, err_len)) != 0)
                return rc;
            created = true;
            continue;
        }
        if (rc == KEEL_ENOTFOUND && !created) {
            snprintf(err, err_len,
                     "table '%s' does not exist (create it, or set create_table: true)", sd->table);
            return rc;
        }
        if (rc != 0 && rc != KEEL_ENOTFOUND)
            return rc;
        bool has_index = false, active = rc == 0 && table_active(describe, &has_index);
        json_decref(describe);
        if (rc == 0 && active && !has_index) {
            snprintf(err, err_len, "table '%s' has no GSI " SD_INDEX, sd->table);
            return KEEL_EINVAL;
        }
        if (active) {
            if (created) { /* best effort: local servers do not have it */
                json_t *pitr = json_pack("{s:{s:b}}", "PointInTimeRecoverySpecification",
                                         "PointInTimeRecoveryEnabled", 1);
                char msg[300];
                if (call_sync(sd, "UpdateContinuousBackups", pitr, NULL, msg, sizeof msg) != 0)
                    sd->host->log(sd->self, KEEL_LOG_INFO, "point-in-time recovery not enabled: %s",
                                  msg);
            }
            return 0;
        }
        usleep(200 * 1000); /* CREATING: wait for ACTIVE */
    }
    snprintf(err, err_len, "table '%s' did not become ACTIVE", sd->table);
    return KEEL_ETIMEDOUT;
}

static void *bootstrap_thread(void *arg)
{
    sd_t *sd = arg;
    unsigned delay_ms = 500;
    while (!atomic_load(&sd->stopping)) {
        char err[300];
        int rc = sd_bootstrap(sd, err, sizeof err);
        if (rc == 0) {
            atomic_store(&sd->table_ready, true);
            atomic_store(&sd->reachable, true);
            sd->host->log(sd->self, KEEL_LOG_INFO, "table '%s' at %s is ready", sd->table,
                          sd->endpoint);
            return NULL;
        }
        set_why(sd, "", err);
        sd->host->log(sd->self, KEEL_LOG_WARN, "table '%s' not ready: %s (retrying)", sd->table,
                      err);
        for (unsigned slept = 0; slept < delay_ms && !atomic_load(&sd->stopping); slept += 50)
            usleep(50 * 1000);
        delay_ms = delay_ms * 2 > 10000 ? 10000 : delay_ms * 2;
    }
    return NULL;
}

/* ---- probe and metrics (timer thread) ------------------------------------ */

static void on_probe(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)arg, (void)message;
    bool has_index;
    if (status == 0)
        atomic_store(&sd->table_ready, table_active(body, &has_index) && has_index);
    atomic_store(&sd->probing, false);
}

static void export_metrics(sd_t *sd)
{
    ddb_client_metrics_t now;
    ddb_client_metrics(sd->client, &now);
    const keel_host_api_t *h = sd->host;
    h->metric_add(sd->m_requests, (double)(now.requests - sd->last.requests));
    h->metric_add(sd->m_failures, (double)(now.failures - sd->last.failures));
    h->metric_add(sd->m_retries, (double)(now.retries - sd->last.retries));
    h->metric_add(sd->m_throttles, (double)(now.throttles - sd->last.throttles));
    if (now.latency_count > sd->last.latency_count)
        h->metric_set(sd->m_latency, (now.latency_sum_ms - sd->last.latency_sum_ms) /
                                         (double)(now.latency_count - sd->last.latency_count) /
                                         1000.0);
    sd->last = now;
}

static void probe(void *arg)
{
    sd_t *sd = arg;
    export_metrics(sd);
    if (atomic_exchange(&sd->probing, true))
        return;
    if (sd_request(sd, "DescribeTable", json_object(), on_probe, NULL) != 0)
        atomic_store(&sd->probing, false);
}

/* ---- lifecycle ---------------------------------------------------------- */

static int config_load(sd_t *sd, ddb_client_config_t *cc)
{
    const keel_host_api_t *h = sd->host;
    keel_plugin_t *self = sd->self;
    const char *region = NULL, *endpoint = NULL;
    sd->table = "keel-orders";
    h->config_string(self, "table", &sd->table);
    h->config_string(self, "region", &region);
    h->config_string(self, "endpoint", &endpoint);
    h->config_string(self, "access_key_id", &sd->creds_cfg.access_key);
    h->config_string(self, "secret_access_key", &sd->creds_cfg.secret_key);
    h->config_string(self, "session_token", &sd->creds_cfg.session_token);
    h->config_string(self, "profile", &sd->creds_cfg.profile);
    h->config_bool(self, "create_table", &sd->create_table);
    int64_t threads = 8, connect = 3000, request = 10000, deadline = 30000, attempts = 4;
    h->config_int(self, "threads", &threads);
    h->config_int(self, "connect_timeout", &connect);
    h->config_int(self, "request_timeout", &request);
    h->config_int(self, "call_deadline", &deadline);
    h->config_int(self, "max_attempts", &attempts);
    if (sd->table[0] == '\0' || strlen(sd->table) > 255) {
        h->log(self, KEEL_LOG_ERROR, "table: the name must have 1..255 characters");
        return KEEL_EINVAL;
    }
    if (threads < 1 || threads > 64 || attempts < 1 || attempts > 10) {
        h->log(self, KEEL_LOG_ERROR, "threads must be 1..64 and max_attempts 1..10");
        return KEEL_EINVAL;
    }
    char err[300];
    if (ddb_region_resolve(region, sd->creds_cfg.profile, NULL, sd->region, sizeof sd->region, err,
                           sizeof err) != 0) {
        h->log(self, KEEL_LOG_ERROR, "region: %s", err);
        return KEEL_EINVAL;
    }
    if (endpoint == NULL || endpoint[0] == '\0')
        endpoint = getenv("AWS_ENDPOINT_URL_DYNAMODB");
    if (endpoint == NULL || endpoint[0] == '\0')
        endpoint = getenv("AWS_ENDPOINT_URL");
    if (endpoint != NULL && endpoint[0] != '\0')
        snprintf(sd->endpoint, sizeof sd->endpoint, "%s", endpoint);
    else
        snprintf(sd->endpoint, sizeof sd->endpoint, "https://dynamodb.%s.amazonaws.com",
                 sd->region);
    *cc = (ddb_client_config_t){
        .endpoint = sd->endpoint,
        .threads = (unsigned)threads,
        .connect_timeout_ms = (long)connect,
        .request_timeout_ms = (long)request,
        .call_deadline_ms = (long)deadline,
        .max_attempts = (unsigned)attempts,
        .sign = sign,
        .sign_arg = sd,
    };
    if (ddb_creds_resolve(&sd->creds_cfg, &sd->creds, err, sizeof err) != 0) {
        h->log(self, KEEL_LOG_ERROR, "credentials: %s", err);
        return KEEL_EINVAL;
    }
    return 0;
}

static void sd_destroy(void *ctx)
{
    sd_t *sd = ctx;
    if (sd == NULL)
        return;
    atomic_store(&sd->stopping, true);
    if (sd->boot_started) {
        pthread_join(sd->boot, NULL);
        sd->boot_started = false;
    }
    ddb_client_free(sd->client);
    sigv4_key_cache_destroy(&sd->keys);
    pthread_mutex_destroy(&sd->creds_lock);
    pthread_mutex_destroy(&sd->why_lock);
    free(sd);
}

static int sd_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    if (!KEEL_HAS(host, keel_host_api_t, batch_set_attr)) {
        host->log(self, KEEL_LOG_ERROR, "this keeld is too old for store_dynamodb (ABI 1.3)");
        return KEEL_EVERSION;
    }
    sd_t *sd = calloc(1, sizeof *sd);
    if (sd == NULL)
        return KEEL_ENOMEM;
    sd->self = self;
    sd->host = host;
    pthread_mutex_init(&sd->creds_lock, NULL);
    pthread_mutex_init(&sd->why_lock, NULL);
    sigv4_key_cache_init(&sd->keys);
    ddb_client_config_t cc;
    char err[300];
    int rc = config_load(sd, &cc);
    if (rc == 0 && (rc = ddb_client_new(&cc, &sd->client, err, sizeof err)) != 0)
        host->log(self, KEEL_LOG_ERROR, "DynamoDB client: %s", err);
    if (rc == 0 &&
        ((rc = host->metric_counter(self, "keel_dynamodb_requests_total",
                                    "DynamoDB calls completed", NULL, &sd->m_requests)) < 0 ||
         (rc = host->metric_counter(self, "keel_dynamodb_failures_total",
                                    "DynamoDB calls that failed", NULL, &sd->m_failures)) < 0 ||
         (rc = host->metric_counter(self, "keel_dynamodb_retries_total",
                                    "DynamoDB attempts after the first", NULL, &sd->m_retries)) <
             0 ||
         (rc = host->metric_counter(self, "keel_dynamodb_throttles_total",
                                    "DynamoDB attempts throttled", NULL, &sd->m_throttles)) < 0 ||
         (rc = host->metric_gauge(self, "keel_dynamodb_latency_seconds",
                                  "mean DynamoDB call latency over the last 2 s", NULL,
                                  &sd->m_latency)) < 0))
        host->log(self, KEEL_LOG_ERROR, "cannot register metrics");
    if (rc == 0 && (rc = host->service_provide(self, KEEL_STORE_INTERFACE, KEEL_STORE_VERSION,
                                               &sd_store_api, sd)) < 0)
        host->log(self, KEEL_LOG_ERROR, "cannot provide the store service: %s", host->strerror(rc));
    if (rc != 0) {
        sd_destroy(sd);
        return rc;
    }
    set_why(sd, "checking the table", "");
    host->log(self, KEEL_LOG_INFO, "orders in DynamoDB table '%s' (%s, %s), credentials from %s",
              sd->table, sd->region, sd->endpoint, sd->creds.source);
    *ctx = sd;
    return 0;
}

static int sd_start(void *ctx)
{
    sd_t *sd = ctx;
    if (pthread_create(&sd->boot, NULL, bootstrap_thread, sd) != 0)
        return KEEL_ENOMEM;
    sd->boot_started = true;
    return sd->host->timer_add(sd->self, PROBE_MS, PROBE_MS, probe, sd, &sd->probe);
}

/* Stops after every instance that uses the store: pending calls complete
 * now (cut short: KEEL_ESHUTDOWN), while their callers still exist. */
static void sd_stop(void *ctx)
{
    sd_t *sd = ctx;
    atomic_store(&sd->stopping, true);
    ddb_client_shutdown(sd->client);
    if (sd->boot_started) {
        pthread_join(sd->boot, NULL);
        sd->boot_started = false;
    }
}

KEEL_PLUGIN_DECLARE(.name = "store_dynamodb", .version = "1.0.0",
                    .description = "orders, a customer index and sequences, in DynamoDB",
                    .config_keys = sd_config_keys, .init = sd_init, .start = sd_start,
                    .stop = sd_stop, .destroy = sd_destroy, .health = sd_health, .step = sd_step);
