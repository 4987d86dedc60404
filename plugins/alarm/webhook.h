/*
 * webhook.h — the alarm plugin's webhook sender: one thread of its own that
 * POSTs queued JSON notifications in order, retrying each with exponential
 * backoff up to a bounded number of attempts. Timer callbacks only enqueue,
 * so a slow or dead webhook never holds the timer thread or a worker.
 */
#ifndef KEEL_ALARM_WEBHOOK_H
#define KEEL_ALARM_WEBHOOK_H

#include <keel/keel.h>
#include <stdint.h>

typedef struct webhook_sender webhook_sender_t;

typedef struct webhook_options {
    uint64_t timeout_ms;     /* one attempt, connect included */
    uint64_t backoff_ms;     /* wait before the second attempt; doubled after each failure */
    uint64_t backoff_max_ms; /* cap of the wait */
    unsigned attempts;       /* per notification, first one included */
    size_t max_pending;      /* notifications waiting; more are dropped with a log line */
} webhook_options_t;

/* Main thread (init). Registers its metrics. 0, KEEL_ENOMEM, KEEL_EFAILED. */
int webhook_sender_new(keel_plugin_t *self, const keel_host_api_t *host,
                       const webhook_options_t *options, webhook_sender_t **out);

/* Main thread (start): starts the thread. 0 or KEEL_EFAILED. */
int webhook_sender_start(webhook_sender_t *sender);

/* Any thread. Queues a POST of `json` (copied) to `url` (borrowed: must live
 * until webhook_sender_free). 0, KEEL_EFULL, KEEL_ESHUTDOWN, KEEL_ENOMEM. */
int webhook_send(webhook_sender_t *sender, const char *url, const char *json);

/* Main thread (stop): wakes and joins the thread; an attempt in progress is
 * aborted; notifications still queued are dropped (and logged). */
void webhook_sender_stop(webhook_sender_t *sender);

/* Main thread (destroy). NULL is ignored. */
void webhook_sender_free(webhook_sender_t *sender);

#endif
