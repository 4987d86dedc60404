/*
 * store.h — the "store" service: where orders live once accepted, with
 * their status, confirmation number and history-free current state.
 * Providers: `store_lmdb` (local) and, later, `store_dynamodb`; swapping
 * them is a one-line config change, so callers must rely on nothing beyond
 * this header. Every provider passes the same conformance tests.
 *
 * Semantics:
 *  - put() creates an order once. Again with the same payload hash (a
 *    client retry of the same order) it answers KEEL_EEXIST with the stored
 *    record: replay it. With another payload hash it answers KEEL_ECONFLICT
 *    (HTTP 409). A completed put is durable.
 *  - update() changes status / confirmation number / error, optionally
 *    only if the stored version still equals the one the caller read
 *    (optimistic concurrency); each update bumps the version.
 *  - query_customer() pages a customer's orders newest first (created_at
 *    descending) with an opaque cursor; orders created in the same
 *    millisecond come in an order of the backend's (store_lmdb: order_id
 *    ascending) that paging keeps: none is skipped or repeated.
 *  - sequence_next() hands out blocks of a named counter; a number is
 *    never handed out twice, also across crashes and across nodes sharing
 *    one backend (e.g. for confirmation numbers).
 *
 * Threads: every function may be called from any thread; completion
 * callbacks run on one of the provider's own threads, once, after the
 * operation is durable (writes) or read (reads). Records passed to a
 * callback are borrowed for its duration. Keep callbacks short; they may
 * start further calls but must not wait for them.
 *
 * As a pipeline step (config `pipelines:`), a store provider confirms
 * orders: for every message (an order queued by the ingress: body = the
 * canonical order JSON, attributes order_id, customer_id, payload_hash and
 * confirmation_number, the latter set by the confirm step) it makes the
 * record CONFIRMED with that number, creating the record when it is
 * missing, in one durable write. A record that already has a number keeps
 * it (a redelivered order keeps its first number; the step passes the kept
 * number on as the attribute). A record of the same order_id with another
 * payload hash fails the message (KEEL_FAIL: dead-lettered).
 *
 * Versions: 2.0 appended keel_order_record_t.message_id (a major change:
 * callers pass records to put(), so a provider must not read the field
 * from a 1.x caller), peek_hash() and backup() (both optional). 2.1
 * appended put_lazy() (optional). A consumer that only checks optional
 * functions with KEEL_HAS may ask for 2.0 and so accept 2.0 providers.
 *
 * EXPERIMENTAL until the DynamoDB provider passes the same conformance
 * suite: the interface may still change before 1.0 is frozen.
 */
#ifndef KEEL_STORE_H
#define KEEL_STORE_H

#include <keel/keel.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_STORE_INTERFACE "store"
#define KEEL_STORE_VERSION   KEEL_VERSION(2, 1)

/** Longest order_id / customer_id / status / confirmation number. */
#define KEEL_STORE_MAX_ID 128
/** Most records in one query_customer() page. */
#define KEEL_STORE_MAX_PAGE 100

/** An order as stored. Strings are never NULL ("" when unset). */
typedef struct keel_order_record {
    const char *order_id;
    const char *customer_id;
    const char *status; /* "QUEUED", "PROCESSING", "CONFIRMED", "FAILED" */
    const char *confirmation_number;
    const char *error;        /* why it FAILED */
    const char *payload_hash; /* lowercase hex SHA-256 of order_json */
    const char *order_json;   /* the canonical order (see validate.h) */
    size_t order_json_len;
    uint64_t created_at_ms;
    uint64_t updated_at_ms;
    uint64_t version; /* 1 when created, +1 per update */
    /* 2.0: the id of the order's queue message ("" when unknown): where to
     * ask the queue whether the order is waiting, in flight or failed. */
    const char *message_id;
} keel_order_record_t;

/** What update() changes: the status always; NULL confirmation_number or
 * error keep their stored values. */
typedef struct keel_order_update {
    const char *status; /* required */
    const char *confirmation_number;
    const char *error;
} keel_order_update_t;

/** `record` is the stored record (NULL when status is KEEL_ENOTFOUND or a
 * failure). */
typedef void (*keel_store_record_fn)(void *arg, int status, const keel_order_record_t *record);
/** `next_cursor` is NULL on the last page. */
typedef void (*keel_store_page_fn)(void *arg, int status, const keel_order_record_t *records,
                                   size_t count, const char *next_cursor);
/** The block [first, first + count) is yours. */
typedef void (*keel_store_sequence_fn)(void *arg, int status, uint64_t first, uint64_t count);
/** `bytes` is the size of the copy written (0 on failure). */
typedef void (*keel_store_backup_fn)(void *arg, int status, uint64_t bytes);

typedef struct keel_store_api {
    uint32_t struct_size;

    /**
     * Creates `record` (copied before put() returns; its version and
     * timestamps are set by the store:
     * version 1, created_at = updated_at = now). done(arg, status, stored):
     * 0 created; KEEL_EEXIST same order_id and payload_hash already stored;
     * KEEL_ECONFLICT same order_id, another payload_hash; KEEL_EUNAVAIL /
     * KEEL_EIO backend failure (retry later); KEEL_EFULL out of space.
     * Returns 0, or KEEL_EINVAL (missing/too long fields), KEEL_ESHUTDOWN,
     * KEEL_ENOMEM (done will not run).
     */
    int (*put)(void *ctx, const keel_order_record_t *record, keel_store_record_fn done, void *arg);

    /** done(arg, 0, record) or KEEL_ENOTFOUND, KEEL_EUNAVAIL, KEEL_EIO.
     * Returns 0, KEEL_EINVAL, KEEL_ESHUTDOWN, KEEL_ENOMEM. */
    int (*get)(void *ctx, const char *order_id, keel_store_record_fn done, void *arg);

    /**
     * Applies `update` if the stored version equals `expected_version` (0:
     * whatever it is). done(arg, status, record): 0 with the new record;
     * KEEL_ESTALE the version differs (record = the current one);
     * KEEL_ENOTFOUND; KEEL_EUNAVAIL / KEEL_EIO. Returns 0, KEEL_EINVAL
     * (status NULL or too long), KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*update)(void *ctx, const char *order_id, uint64_t expected_version,
                  const keel_order_update_t *update, keel_store_record_fn done, void *arg);

    /**
     * A customer's orders, newest first, up to `limit` (1..100) after
     * `cursor` (NULL: from the newest). done(arg, status, records, count,
     * next_cursor). Returns 0, KEEL_EINVAL (bad limit or cursor),
     * KEEL_ESHUTDOWN, KEEL_ENOMEM.
     */
    int (*query_customer)(void *ctx, const char *customer_id, const char *cursor, size_t limit,
                          keel_store_page_fn done, void *arg);

    /**
     * Reserves the next `count` (1..1000000) numbers of the sequence
     * `name` (created at 1 on first use); durable before done runs.
     * done(arg, status, first, count); status KEEL_EFULL if the sequence
     * would pass UINT64_MAX. Returns 0, KEEL_EINVAL, KEEL_ESHUTDOWN,
     * KEEL_ENOMEM.
     */
    int (*sequence_next)(void *ctx, const char *name, uint64_t count, keel_store_sequence_fn done,
                         void *arg);

    /* ---- appended in 2.0 ---- */

    /**
     * Optional (check with KEEL_HAS): the payload hash of `order_id`, read
     * at once on the calling thread by a backend that can answer without
     * waiting for I/O (a local database), so an event loop can check
     * idempotency without a thread hop. 0 with the hash in hash_out;
     * KEEL_ENOTFOUND; KEEL_EAGAIN when it cannot answer without waiting
     * (use get()); KEEL_EINVAL; KEEL_EUNAVAIL / KEEL_EIO.
     */
    int (*peek_hash)(void *ctx, const char *order_id, char hash_out[65]);

    /**
     * Optional (check with KEEL_HAS), appended in 2.0: hot backup. Writes
     * a compact, consistent point-in-time copy of every order, index entry
     * and sequence to the file `path` while the store keeps running; the
     * copy is fsynced, then renamed into place (and its directory
     * fsynced), so `path` is either absent or complete. Providers whose
     * backend has its own backups (a cloud database) leave it NULL.
     * done(arg, status, bytes) runs once on a provider thread: 0;
     * KEEL_EIO (cannot write the copy); KEEL_EFULL (disk full);
     * KEEL_EUNAVAIL (the store is not open). Returns 0, KEEL_EINVAL
     * (empty path, no done), KEEL_ESHUTDOWN, KEEL_ENOMEM (done will not
     * run).
     */
    int (*backup)(void *ctx, const char *path, keel_store_backup_fn done, void *arg);

    /* ---- appended in 2.1 ---- */

    /**
     * Optional (check with KEEL_HAS): put() for a record nobody waits on
     * (the ingress's QUEUED record, whose order is already durable in the
     * queue). Same arguments, answers and guarantees as put(), except when
     * the write happens: the provider may hold it back for a bounded time
     * it documents, to write many such records in one commit; a put(),
     * update() or sequence_next() arriving meanwhile takes the held
     * records along, and stopping the provider writes them first. A
     * provider without it: call put().
     */
    int (*put_lazy)(void *ctx, const keel_order_record_t *record, keel_store_record_fn done,
                    void *arg);
} keel_store_api_t;

#ifdef __cplusplus
}
#endif

#endif /* KEEL_STORE_H */
