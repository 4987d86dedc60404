/*
 * webhook.c — see webhook.h. Delivery is in order: an OK notification never
 * overtakes the FIRING one it clears, even while that one is being retried.
 * A 2xx answer delivers; transport errors, 408, 429 and 5xx are retried;
 * any other answer is final (the receiver refused the notification).
 */
#include "webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct notification {
    struct notification *next;
    const char *url;
    char *json;
} notification_t;

struct webhook_sender {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    webhook_options_t options;
    keel_metric_t *m_delivered, *m_failed, *m_retries;
    bool curl_ready, thread_started;
    pthread_t thread;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    notification_t *head, **tail;
    size_t pending;
    atomic_bool stopping;
};

static void free_notification(notification_t *n)
{
    free(n->json);
    free(n);
}

static size_t discard_body(char *data, size_t size, size_t count, void *arg)
{
    (void)data;
    (void)arg;
    return size * count;
}

/* Aborts a transfer in progress once stop() began. */
static int abort_on_stop(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                         curl_off_t ulnow)
{
    webhook_sender_t *s = arg;
    return atomic_load(&s->stopping) ? 1 : 0;
}

/* One attempt. Returns 0 (delivered), KEEL_EUNAVAIL (retry) or KEEL_EFAILED
 * (final); `why` says what happened. */
static int post_once(webhook_sender_t *s, CURL *curl, const notification_t *n, char *why,
                     size_t why_len)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (headers == NULL) {
        snprintf(why, why_len, "out of memory");
        return KEEL_EUNAVAIL;
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, n->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "keel-alarm/1.0");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, n->json);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(n->json));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)s->options.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)s->options.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(why, why_len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return KEEL_EUNAVAIL;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    snprintf(why, why_len, "HTTP %ld", status);
    if (status >= 200 && status < 300)
        return 0;
    if (status == 408 || status == 429 || status >= 500)
        return KEEL_EUNAVAIL;
    return KEEL_EFAILED;
}

/* Waits up to `ms` or until stop(); true when stopping (lock held). */
static bool wait_or_stop(webhook_sender_t *s, uint64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!atomic_load(&s->stopping)) {
        if (pthread_cond_timedwait(&s->wake, &s->lock, &until) != 0)
            break;
    }
    return atomic_load(&s->stopping);
}

static void deliver(webhook_sender_t *s, CURL *curl, const notification_t *n)
{
    uint64_t backoff_ms = s->options.backoff_ms;
    char why[CURL_ERROR_SIZE + 32];
    for (unsigned attempt = 1;; attempt++) {
        int rc = post_once(s, curl, n, why, sizeof why);
        if (rc == 0) {
            s->host->metric_add(s->m_delivered, 1);
            s->host->log(s->self, KEEL_LOG_DEBUG, "webhook %s: delivered (attempt %u, %s)", n->url,
                         attempt, why);
            return;
        }
        if (rc == KEEL_EFAILED || attempt >= s->options.attempts || atomic_load(&s->stopping)) {
            s->host->metric_add(s->m_failed, 1);
            s->host->log(s->self, KEEL_LOG_WARN,
                         "webhook %s: notification dropped after %u attempt(s): %s", n->url,
                         attempt, why);
            return;
        }
        s->host->metric_add(s->m_retries, 1);
        s->host->log(s->self, KEEL_LOG_INFO,
                     "webhook %s: attempt %u failed (%s); retrying in %llu ms", n->url, attempt,
                     why, (unsigned long long)backoff_ms);
        pthread_mutex_lock(&s->lock);
        bool stopping = wait_or_stop(s, backoff_ms);
        pthread_mutex_unlock(&s->lock);
        if (stopping) {
            s->host->metric_add(s->m_failed, 1);
            s->host->log(s->self, KEEL_LOG_WARN,
                         "webhook %s: notification dropped at shutdown after %u attempt(s)", n->url,
                         attempt);
            return;
        }
        backoff_ms =
            backoff_ms * 2 > s->options.backoff_max_ms ? s->options.backoff_max_ms : backoff_ms * 2;
    }
}

static void *sender_main(void *arg)
{
    webhook_sender_t *s = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !atomic_load(&s->stopping))
            pthread_cond_wait(&s->wake, &s->lock);
        if (atomic_load(&s->stopping))
            break;
        notification_t *n = s->head;
        s->head = n->next;
        if (s->head == NULL)
            s->tail = &s->head;
        s->pending--;
        pthread_mutex_unlock(&s->lock);
        if (curl != NULL) {
            deliver(s, curl, n);
        } else {
            s->host->metric_add(s->m_failed, 1);
            s->host->log(s->self, KEEL_LOG_ERROR, "webhook %s: curl_easy_init failed", n->url);
        }
        free_notification(n);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    curl_easy_cleanup(curl);
    return NULL;
}

int webhook_sender_new(keel_plugin_t *self, const keel_host_api_t *host,
                       const webhook_options_t *options, webhook_sender_t **out)
{
    webhook_sender_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return KEEL_ENOMEM;
    s->self = self;
    s->host = host;
    s->options = *options;
    s->tail = &s->head;
    atomic_init(&s->stopping, false);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = KEEL_EFAILED;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        host->log(self, KEEL_LOG_ERROR, "webhook: curl_global_init failed");
        goto fail;
    }
    s->curl_ready = true;
    if ((rc = host->metric_counter(self, "keel_alarm_webhook_deliveries_total",
                                   "webhook notifications by outcome", "result=\"delivered\"",
                                   &s->m_delivered)) < 0 ||
        (rc = host->metric_counter(self, "keel_alarm_webhook_deliveries_total",
                                   "webhook notifications by outcome", "result=\"dropped\"",
                                   &s->m_failed)) < 0 ||
        (rc = host->metric_counter(self, "keel_alarm_webhook_retries_total",
                                   "webhook attempts that failed and were retried", NULL,
                                   &s->m_retries)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    webhook_sender_free(s);
    return rc;
}

int webhook_sender_start(webhook_sender_t *s)
{
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        s->host->log(s->self, KEEL_LOG_ERROR, "webhook: cannot start the sender thread");
        return KEEL_EFAILED;
    }
    s->thread_started = true;
    return 0;
}

int webhook_send(webhook_sender_t *s, const char *url, const char *json)
{
    notification_t *n = calloc(1, sizeof *n);
    char *copy = strdup(json);
    if (n == NULL || copy == NULL) {
        free(n);
        free(copy);
        return KEEL_ENOMEM;
    }
    n->url = url;
    n->json = copy;
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    if (atomic_load(&s->stopping) || !s->thread_started)
        rc = KEEL_ESHUTDOWN;
    else if (s->pending >= s->options.max_pending)
        rc = KEEL_EFULL;
    if (rc == 0) {
        *s->tail = n;
        s->tail = &n->next;
        s->pending++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != 0)
        free_notification(n);
    return rc;
}

void webhook_sender_stop(webhook_sender_t *s)
{
    if (s == NULL || !s->thread_started)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
    if (s->pending > 0)
        s->host->log(s->self, KEEL_LOG_WARN,
                     "webhook: %zu notification(s) not sent before shutdown", s->pending);
}

void webhook_sender_free(webhook_sender_t *s)
{
    if (s == NULL)
        return;
    webhook_sender_stop(s);
    while (s->head != NULL) {
        notification_t *n = s->head;
        s->head = n->next;
        free_notification(n);
    }
    if (s->curl_ready)
        curl_global_cleanup();
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
