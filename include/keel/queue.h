/*
 * queue.h — the "queue" service: durable, SQS-like queues with dead-letter
 * queues, provided by a plugin instance (the built-in one is `queue_lmdb`)
 * and used by producers (the HTTP ingress), the kernel's pipeline runner
 * and operators' tools. Find it with
 *
 *     keel_service_t svc;
 *     host->service_lookup(self, "queue", KEEL_QUEUE_INTERFACE,
 *                          KEEL_QUEUE_VERSION, &svc);
 *     const keel_queue_api_t *q = svc.vtable;
 *     q->send(svc.ctx, "orders", entries, n, on_sent, arg);
 *
 * Semantics (SQS standard queue + Lambda's partial batch response):
 *  - At-least-once. A send completes only after the message is committed
 *    to disk; a crash after that never loses it. Consumers must be
 *    idempotent: a message can be delivered again (crash, timeout, retry).
 *  - A receive makes messages invisible for the visibility timeout and
 *    increments their receive count, committed before the batch is handed
 *    over: a message that crashes its consumer is still counted.
 *  - Each receive gives a new receipt token; settling with an older token
 *    (the message was redelivered meanwhile) fails with KEEL_ESTALE.
 *  - Settle per message: OK deletes, RETRY makes it visible again after
 *    the retry delay (the visibility timeout, or the queue's backoff),
 *    FAIL moves it to the dead-letter queue at once.
 *  - A receive that finds a message already received `max_receives` times
 *    moves it to the DLQ instead of delivering it. DLQ entries keep the
 *    body, attributes, receive count, first and last error, the failing
 *    step and timestamps, and can be listed without being consumed and
 *    redriven (which resets the receive count).
 *  - Backpressure: past the queue's max depth or max bytes, or when the
 *    storage budget is full, sends fail fast with KEEL_EFULL.
 *
 * Threads: every function may be called from any thread. Completion
 * callbacks run on one of the queue's own threads, after the commit: keep
 * them short (hand longer work to host->submit()). They may start further
 * asynchronous calls, but must not wait for one to complete.
 *
 * This interface is versioned KEEL_QUEUE_VERSION; functions are only ever
 * appended (check with KEEL_HAS(api, keel_queue_api_t, fn)).
 *  1.0  send() up to list_queues().
 *  1.1  appended locate(): where a message is now, by its id (waiting, in
 *       flight, dead-lettered with the reason, or gone).
 *  1.2  appended list_messages() and list_page_free(): every message a
 *       queue holds, without consuming it; dlq_redrive() may answer
 *       KEEL_EEXIST; locate() tells KEEL_QUEUE_RETRYING from IN_FLIGHT.
 */
#ifndef KEEL_QUEUE_H
#define KEEL_QUEUE_H

#include <keel/keel.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_QUEUE_INTERFACE "queue"
#define KEEL_QUEUE_VERSION   KEEL_VERSION(1, 2)

/** Most messages in one send, receive or settle call (as SQS). */
#define KEEL_QUEUE_MAX_BATCH 10

/** One message to send. Everything is copied before send() returns. */
typedef struct keel_queue_entry {
    /** NULL, or an id unique to this message's content: another send with
     * the same dedup_id within the queue's dedup window stores nothing and
     * completes with the first message's id (duplicate = true). */
    const char *dedup_id;
    const keel_attr_t *attrs;
    size_t attr_count;
    const void *body;
    size_t body_len;
    /** Seconds before the message can be received (1..900); 0 means the
     * queue's configured default delay (as an absent DelaySeconds in SQS). */
    uint32_t delay_s;
} keel_queue_entry_t;

/** The outcome of one sent entry. */
typedef struct keel_queue_sent {
    /** 0 when committed; KEEL_EFULL (queue full, storage budget or disk
     * full: back off and retry), KEEL_EINVAL (too large, bad delay or
     * attributes), KEEL_EIO or KEEL_EUNAVAIL (storage failure: retry
     * later). */
    int status;
    bool duplicate; /* the dedup_id was seen: nothing new stored */
    char message_id[KEEL_ID_LEN + 1];
} keel_queue_sent_t;

/** A received message. Borrowed from its batch. */
typedef struct keel_queue_message {
    char message_id[KEEL_ID_LEN + 1];
    const char *receipt; /* for settle() and change_visibility() */
    const keel_attr_t *attrs;
    size_t attr_count;
    const void *body;
    size_t body_len;
    uint32_t receive_count; /* including this receive */
    uint64_t sent_at_ms;
    uint64_t first_received_at_ms;
} keel_queue_message_t;

/** Messages from one receive(). Free with batch_free(). */
typedef struct keel_queue_batch {
    size_t count;
    keel_queue_message_t *messages;
} keel_queue_batch_t;

/** How a received message ends up. */
typedef struct keel_queue_settle {
    const char *receipt;
    keel_result_t result;    /* KEEL_OK, KEEL_RETRY or KEEL_FAIL */
    const char *error;       /* why (RETRY/FAIL); may be NULL */
    const char *failed_step; /* which step failed; may be NULL */
} keel_queue_settle_t;

/** A dead-lettered message, as listed. Borrowed from its page. */
typedef struct keel_queue_dlq_entry {
    char message_id[KEEL_ID_LEN + 1];
    const keel_attr_t *attrs;
    size_t attr_count;
    const void *body;
    size_t body_len;
    uint32_t receive_count;
    const char *first_error; /* "" when none was given */
    const char *last_error;  /* or why it was dead-lettered, when no step
                                gave an error ("max receives (3) exceeded") */
    const char *failed_step;
    uint64_t sent_at_ms;
    uint64_t first_received_at_ms;
    uint64_t last_received_at_ms;
    uint64_t dead_lettered_at_ms;
} keel_queue_dlq_entry_t;

/** One page of a DLQ listing, oldest first. Free with dlq_page_free(). */
typedef struct keel_queue_dlq_page {
    size_t count;
    keel_queue_dlq_entry_t *entries;
    const char *next_cursor; /* NULL on the last page */
} keel_queue_dlq_page_t;

/** A queue's numbers at one instant. */
typedef struct keel_queue_stats {
    uint64_t visible;   /* can be received now */
    uint64_t in_flight; /* received, not settled, visibility not expired */
    uint64_t delayed;   /* sent with a delay that has not passed */
    uint64_t dlq_depth;
    uint64_t bytes;         /* body bytes held (queue + DLQ) */
    uint64_t oldest_age_ms; /* age of the oldest message not in the DLQ */
    uint64_t dlq_oldest_age_ms;
    /* Counters since the queue was created (they survive restarts). */
    uint64_t sent, received, deleted, retried, dead_lettered, redriven, expired;
} keel_queue_stats_t;

/** Where a message is now (see locate()). */
typedef enum keel_queue_where {
    KEEL_QUEUE_GONE = 0,      /* not held: deleted after success, expired, purged, or unknown */
    KEEL_QUEUE_WAITING = 1,   /* visible or delayed: waiting for a consumer */
    KEEL_QUEUE_IN_FLIGHT = 2, /* received and not settled, visibility not expired */
    KEEL_QUEUE_DEAD = 3,      /* in the dead-letter queue */
    /* 1.2: settled RETRY and waiting out its retry delay: invisible (stats()
     * counts it in flight) but held by no consumer. Providers before 1.2
     * say IN_FLIGHT. */
    KEEL_QUEUE_RETRYING = 4,
} keel_queue_where_t;

typedef struct keel_queue_location {
    keel_queue_where_t where;
    uint32_t receive_count;
    /* DEAD: why it was dead-lettered (as dlq_list's last_error, truncated);
     * RETRYING: the error of the RETRY; else "" */
    char last_error[512];
    char failed_step[128];        /* DEAD, RETRYING: the failing step, or "" */
    uint64_t dead_lettered_at_ms; /* DEAD only */
} keel_queue_location_t;

/** A message as list_messages() shows it. Borrowed from its page. */
typedef struct keel_queue_listed {
    char message_id[KEEL_ID_LEN + 1];
    const keel_attr_t *attrs;
    size_t attr_count;
    const void *body;
    size_t body_len;
    uint64_t sent_at_ms;
} keel_queue_listed_t;

/** One page of list_messages(), in send order. Free with list_page_free(). */
typedef struct keel_queue_list_page {
    size_t count;
    keel_queue_listed_t *messages;
    const char *next_cursor; /* NULL on the last page */
} keel_queue_list_page_t;

typedef void (*keel_queue_send_fn)(void *arg, const keel_queue_sent_t *results, size_t count);
/** `batch` is NULL when status != 0; the callee frees it with batch_free(). */
typedef void (*keel_queue_receive_fn)(void *arg, int status, keel_queue_batch_t *batch);
/** `statuses[i]`: 0, or KEEL_ESTALE (receipt no longer current), KEEL_EINVAL. */
typedef void (*keel_queue_settle_fn)(void *arg, int status, const int *statuses, size_t count);
typedef void (*keel_queue_done_fn)(void *arg, int status, uint64_t affected);

typedef struct keel_queue_api {
    uint32_t struct_size;

    /**
     * Sends 1..KEEL_QUEUE_MAX_BATCH entries to `queue`. done(arg, results,
     * count) runs once, after the commit, with one result per entry in
     * order. Returns 0 when the request was accepted (done will run), or
     * KEEL_EINVAL (no such queue, count out of range), KEEL_EFULL (too many
     * requests waiting), KEEL_ESHUTDOWN, KEEL_ENOMEM (done will not run).
     */
    int (*send)(void *ctx, const char *queue, const keel_queue_entry_t *entries, size_t count,
                keel_queue_send_fn done, void *arg);

    /**
     * Receives up to `max` (1..KEEL_QUEUE_MAX_BATCH) visible messages,
     * making them invisible for `visibility_s` seconds (0: the queue's
     * default). Waits up to `wait_ms` (at most 20000, as SQS) for a first
     * message (long polling; 0: answer at once, possibly with an empty
     * batch). done(arg, status,
     * batch) runs once, after the receive counts were committed.
     * Returns 0, or KEEL_EINVAL, KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*receive)(void *ctx, const char *queue, size_t max, uint32_t visibility_s,
                   uint32_t wait_ms, keel_queue_receive_fn done, void *arg);

    /** Frees a batch from receive(). Any thread. NULL is ignored. */
    void (*batch_free)(void *ctx, keel_queue_batch_t *batch);

    /**
     * Settles 1..KEEL_QUEUE_MAX_BATCH received messages (see the file
     * comment). done(arg, status, statuses, count) runs after the commit.
     * Returns 0, or KEEL_EINVAL, KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*settle)(void *ctx, const char *queue, const keel_queue_settle_t *items, size_t count,
                  keel_queue_settle_fn done, void *arg);

    /**
     * Changes how long a received message stays invisible, counted from
     * now (0: visible at once). done(arg, status, 1) with status 0 or
     * KEEL_ESTALE. Returns 0, KEEL_EINVAL, KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*change_visibility)(void *ctx, const char *queue, const char *receipt, uint32_t timeout_s,
                             keel_queue_done_fn done, void *arg);

    /** Current numbers of `queue`. Synchronous (a short read). 0 or
     * KEEL_EINVAL (no such queue), KEEL_EIO. */
    int (*stats)(void *ctx, const char *queue, keel_queue_stats_t *out);

    /**
     * Lists up to `limit` (1..1000) DLQ entries after `cursor` (NULL: from
     * the oldest) without consuming them. Synchronous. *out is freed with
     * dlq_page_free(). 0, KEEL_EINVAL (bad queue, limit or cursor), KEEL_EIO,
     * KEEL_ENOMEM.
     */
    int (*dlq_list)(void *ctx, const char *queue, const char *cursor, size_t limit,
                    keel_queue_dlq_page_t **out);
    void (*dlq_page_free)(void *ctx, keel_queue_dlq_page_t *page);

    /**
     * Moves DLQ messages back to the queue with their receive count and
     * errors reset: the listed ids (ids == NULL: all), at most
     * `rate_per_s` per second (0: no limit). A redriven message keeps its
     * id, joins the back of the queue and its retention starts again.
     * Runs in the background; done(arg, status, moved) when finished. Ids
     * not in the DLQ are skipped. One redrive per queue at a time (another
     * would bypass the first one's rate): the next may start from the
     * first one's callback on.
     * Returns 0, KEEL_EEXIST (a redrive of `queue` is running),
     * KEEL_EINVAL, KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*dlq_redrive)(void *ctx, const char *queue, const char *const *ids, size_t id_count,
                       uint32_t rate_per_s, keel_queue_done_fn done, void *arg);

    /**
     * Deletes every message of the queue sent before the call, in flight
     * ones included (dlq = false), or every DLQ entry (dlq = true), in
     * bounded steps. done(arg, status, deleted). Returns 0, KEEL_EINVAL, KEEL_ESHUTDOWN,
     * KEEL_ENOMEM.
     */
    int (*purge)(void *ctx, const char *queue, bool dlq, keel_queue_done_fn done, void *arg);

    /**
     * Hot backup: writes a compact, consistent copy of all of the
     * instance's data to `path` while it keeps running; the copy is
     * fsynced, then renamed into place (and its directory fsynced), so
     * `path` is either absent or complete. done(arg, status, bytes).
     * Returns 0, KEEL_EINVAL, KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*backup)(void *ctx, const char *path, keel_queue_done_fn done, void *arg);

    /**
     * Names of the instance's queues: writes up to `max` borrowed names
     * (valid until the provider is destroyed) and returns how many exist.
     */
    size_t (*list_queues)(void *ctx, const char **names, size_t max);

    /* ---- appended in 1.1 ---- */

    /**
     * Where the message `message_id` of `queue` is now. Synchronous: one
     * short read txn, never waits for the writer; callable from any thread,
     * including event loops. A redriven message is found under its (kept)
     * id. As in stats(), a message whose visibility (or retry delay, after a
     * RETRY settle) has passed is WAITING; one still inside its visibility
     * is IN_FLIGHT, one inside its retry delay RETRYING (1.2).
     * 0, or KEEL_EINVAL (no such queue, malformed id), KEEL_EIO,
     * KEEL_EUNAVAIL (the store is being reopened: try again).
     */
    int (*locate)(void *ctx, const char *queue, const char *message_id, keel_queue_location_t *out);

    /* ---- appended in 1.2 ---- */

    /**
     * Lists up to `limit` (1..1000) of the messages `queue` holds, in send
     * order, after `cursor` (NULL: from the oldest), wherever they are:
     * waiting, delayed, in flight or in the DLQ. Nothing is consumed: how a
     * producer finds, after a crash, what it sent but did not get to
     * record (the http ingress rebuilds lost order records so). A redriven
     * message keeps its place. Synchronous (one short read txn), any
     * thread. *out is freed with list_page_free(). 0, KEEL_EINVAL (bad
     * queue, limit or cursor), KEEL_EIO, KEEL_ENOMEM, KEEL_EUNAVAIL.
     */
    int (*list_messages)(void *ctx, const char *queue, const char *cursor, size_t limit,
                         keel_queue_list_page_t **out);
    void (*list_page_free)(void *ctx, keel_queue_list_page_t *page);
} keel_queue_api_t;

#ifdef __cplusplus
}
#endif

#endif /* KEEL_QUEUE_H */
