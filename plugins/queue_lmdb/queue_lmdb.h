/*
 * queue_lmdb.h — internals shared by the files of the queue_lmdb plugin.
 *
 * Files, by concern:
 *   queue_lmdb.c  plugin glue: descriptor, lifecycle, metrics, debug service
 *   config.c      config keys and their validation
 *   api.c         the keel_queue_api_t functions: checks, copies, requests
 *   codec.c       record layouts, keys and receipts
 *   store.c       the LMDB environment: open, schema, reopen, short reads
 *   ops.c         transactional message operations inside a write txn
 *   sweep.c       expiry, dedup trimming, purge and redrive steps, backup
 *   dlq.c         listing a DLQ page in one short read txn
 *   writer.c      the writer thread: request queue, group commit
 *   complete.c    after a commit: long-poll parking, tasks, callbacks
 *   dedup.c       the in-memory dedup index: fingerprints, checked against the log
 *
 * Threads: exactly one writer thread owns every write txn and every field
 * marked "writer"; callbacks run on one completion thread, in commit
 * order. Read paths (stats, locate, dlq_list, backup) open short read
 * txns under env_lock held shared; a reopen after MDB_PANIC holds it
 * exclusively.
 * `lock` guards the request queue and the flags beside it.
 */
#ifndef QUEUE_LMDB_H
#define QUEUE_LMDB_H

#include "lmdb_common.h"
#include <keel/queue.h>
#include <lmdb.h>
#include <pthread.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
    QL_MAX_TEXT = 1024,      /* bytes kept of an error, failed step or reason */
    QL_RECEIPT_LEN = 40,     /* hex: seq 16 + receive count 8 + nonce 16 */
    QL_DELETE_BUDGET = 1000, /* deletions per maintenance txn */
    QL_MAX_WAITING = 100000, /* sends waiting for the writer: more get KEEL_EFULL */
    QL_MAX_ATTRS = 64,
    QL_MAX_ATTR_KEY = 256,
    QL_MAX_ATTR_VALUE = 65536,
    QL_MAX_DEDUP_ID = 128,
    QL_MAX_VISIBILITY_S = 43200, /* 12 hours, as SQS */
    QL_MAX_DELAY_S = 900,
    QL_POLL_TICK_MS = 20, /* how often parked receives and rate-limited tasks look again */
    QL_HOLD_FOR_CALLBACKS_US = 1000, /* longest a group waits for callbacks to finish */
    QL_SEND_SHARE = 256,             /* send entries per group while consumers' requests wait */
};

/* Per-queue LMDB databases ("q<number>.<suffix>"); keys are big-endian. */
typedef enum ql_db {
    QL_DB_MSG,      /* seq -> immutable body record (queue and DLQ messages) */
    QL_DB_STATE,    /* seq -> state record, for messages not in the DLQ */
    QL_DB_READY,    /* seq -> "" : visible, FIFO */
    QL_DB_INFLIGHT, /* (deadline, seq) -> "" */
    QL_DB_DELAYED,  /* (visible_at, seq) -> "" */
    QL_DB_DLQ,      /* (dead_lettered_at, seq) -> DLQ record */
    QL_DB_DLQ_AGE,  /* (sent_at, seq) -> dead_lettered_at, body bytes: DLQ expiry order */
    QL_DB_DEDUP,    /* (enqueued_at, seq) -> message id + dedup id */
    QL_DB_IDS,      /* message id -> seq, then dead_lettered_at when in the DLQ (see ops.c) */
    QL_DB_COUNT
} ql_db_t;

/* Where a message that is not in the DLQ sits. */
typedef enum ql_where { QL_READY = 1, QL_INFLIGHT = 2, QL_DELAYED = 3 } ql_where_t;

/* Persistent per-queue counters, written in the txn that changes them. */
typedef struct ql_counters {
    uint64_t sent, received, deleted, retried, dead_lettered, redriven, expired, bytes;
} ql_counters_t;

typedef struct ql_metrics {
    keel_metric_t *visible, *in_flight, *delayed, *dlq_depth, *oldest_age, *dlq_oldest_age, *bytes;
    keel_metric_t *sent, *received, *deleted, *retried, *dead_lettered, *redriven, *expired, *full;
} ql_metrics_t;

/* ---- dedup index (dedup.c) ---- */

/* One remembered dedup id: its fingerprint and the key of its dedup-log
 * record, which holds the id itself and the message id. */
typedef struct ql_dedup_slot {
    uint64_t fingerprint; /* 0: an empty slot */
    uint64_t seq;
    uint64_t enqueued_at_ms;
} ql_dedup_slot_t;

/* A 64-bit hash of a dedup id's `len` bytes. */
typedef uint64_t (*ql_dedup_hash_fn)(const char *key, size_t len);

typedef struct ql_dedup {
    ql_dedup_slot_t *slots;
    size_t capacity, count;
    ql_dedup_hash_fn hash; /* NULL: dedup_hash(); tests force collisions */
} ql_dedup_t;

/* Where fingerprint matches are verified: the dedup log (QL_DB_DEDUP) as
 * the caller's txn sees it. */
typedef struct ql_dedup_log {
    MDB_txn *txn;
    MDB_dbi dbi;
} ql_dedup_log_t;

/* A dedup id found, as its log record says. */
typedef struct ql_dedup_hit {
    uint64_t enqueued_at_ms, seq;
    char message_id[KEEL_ID_LEN + 1];
} ql_dedup_hit_t;

/* How to undo one change to a dedup index when a txn aborts. Entries move
 * inside the table: (fingerprint, seq) names the one changed. */
typedef struct ql_dedup_undo {
    ql_dedup_t *index;
    uint64_t fingerprint, seq;
    bool existed; /* false: remove it; true: restore the old values */
    uint64_t old_at_ms, old_seq;
} ql_dedup_undo_t;

uint64_t dedup_hash(const char *key, size_t len);
void dedup_free(ql_dedup_t *index);
/* Looks `key` up; a fingerprint match counts only once its log record,
 * read in `log`, holds `key`. 0 and `hit` filled; MDB_NOTFOUND; or the
 * LMDB error of that read. */
int dedup_find(ql_dedup_t *index, const ql_dedup_log_t *log, const char *key, ql_dedup_hit_t *hit);
/* Points `key` at (at_ms, seq). `existing`: what dedup_find() just found
 * for `key` (overwritten), or NULL when it found nothing (inserted). Sets
 * `undo` (may be NULL) to how to undo it. 0 or ENOMEM. */
int dedup_put(ql_dedup_t *index, const char *key, const ql_dedup_hit_t *existing, uint64_t at_ms,
              uint64_t seq, ql_dedup_undo_t *undo);
void dedup_undo(const ql_dedup_undo_t *undo);
/* Removes `key` if it still refers to `seq`: `key` is the id in the log
 * record of `seq` (only the fingerprint and seq are compared). */
void dedup_remove_if(ql_dedup_t *index, const char *key, uint64_t seq);

/* ---- queues ---- */

struct ql_request;

typedef struct ql_queue {
    /* config (immutable after init) */
    const char *name;
    uint64_t visibility_ms, retention_ms, dlq_retention_ms, delay_ms, dedup_window_ms;
    uint32_t max_receives;
    uint64_t max_depth, max_bytes, max_message_size;
    bool backoff_enabled;
    uint64_t backoff_base_ms, backoff_max_ms;

    bool redriving; /* under ql->lock: a redrive task runs (one at a time) */

    /* storage: set at open, replaced by a reopen (writer or init) */
    uint32_t number;
    MDB_dbi dbi[QL_DB_COUNT];

    /* writer */
    ql_counters_t committed, working;
    bool dirty;       /* working differs from committed in this txn */
    bool ready_added; /* the last commit made messages visible */
    ql_dedup_t dedup;
    struct ql_request *waiters_head, *waiters_tail; /* parked long polls */
    struct {
        uint64_t visible, in_flight, delayed, dlq, oldest_age_ms, dlq_oldest_age_ms;
        bool fresh, has_age; /* captured in the last txn, not yet published */
    } gauges;
    ql_metrics_t metrics;
} ql_queue_t;

/* ---- requests (writer.c) ---- */

typedef struct ql_receipt {
    uint64_t seq;
    uint32_t receive_count;
    uint64_t nonce;
} ql_receipt_t;

typedef struct ql_send_entry {
    uint8_t *record; /* the body record, its sent_at patched by the writer */
    size_t record_len;
    uint32_t body_len;
    const char *dedup_id; /* NULL or copied */
    uint64_t delay_ms;
    int status; /* KEEL_EINVAL when refused before queueing */
} ql_send_entry_t;

typedef struct ql_settle_item {
    ql_receipt_t receipt;
    bool valid; /* the receipt parsed and the result is known */
    keel_result_t result;
    const char *error;       /* copied, "" when none */
    const char *failed_step; /* copied, "" when none */
} ql_settle_item_t;

/* A received batch as allocated: `pub` is what callers see. */
typedef struct ql_batch {
    keel_queue_batch_t pub;
    keel_queue_message_t messages[KEEL_QUEUE_MAX_BATCH];
    void *blocks[KEEL_QUEUE_MAX_BATCH]; /* one allocation per message */
} ql_batch_t;

typedef enum ql_request_kind {
    QL_REQ_SEND,
    QL_REQ_RECEIVE,
    QL_REQ_SETTLE,
    QL_REQ_VISIBILITY,
    QL_REQ_SWEEP,
    QL_REQ_TASK,
} ql_request_kind_t;

struct ql_task;

typedef struct ql_request {
    struct ql_request *next;
    ql_request_kind_t kind;
    ql_queue_t *queue;
    bool dropped; /* left out of the group's txn; `status` says why */
    int status;
    void *arg;
    union {
        struct {
            keel_queue_send_fn done;
            size_t count;
            ql_send_entry_t entries[KEEL_QUEUE_MAX_BATCH];
            keel_queue_sent_t results[KEEL_QUEUE_MAX_BATCH];
        } send;
        struct {
            keel_queue_receive_fn done;
            size_t max;
            uint64_t visibility_ms;
            uint64_t wait_until_mono_ms; /* 0: no long poll */
            ql_batch_t *batch;           /* built inside the txn */
        } receive;
        struct {
            keel_queue_settle_fn done;
            size_t count;
            ql_settle_item_t items[KEEL_QUEUE_MAX_BATCH];
            int statuses[KEEL_QUEUE_MAX_BATCH];
        } settle;
        struct {
            keel_queue_done_fn done;
            ql_receipt_t receipt;
            bool valid;
            uint64_t timeout_ms;
            int result;
        } visibility;
        struct ql_task *task;
    } u;
} ql_request_t;

/* A background job run in bounded steps by the writer: purge or redrive. */
typedef enum ql_task_kind { QL_TASK_PURGE, QL_TASK_PURGE_DLQ, QL_TASK_REDRIVE } ql_task_kind_t;

typedef struct ql_task {
    struct ql_task *next;
    ql_request_t request; /* the step, queued into groups */
    ql_task_kind_t kind;
    ql_queue_t *queue;
    keel_queue_done_fn done;
    void *arg;
    bool listed; /* on the writer's task list */
    /* progress (applied after each committed step) */
    bool started, finished;
    uint64_t watermark_seq; /* purge: messages with seq below */
    uint8_t end_key[16];    /* DLQ key of the last entry when the task began */
    bool has_end;           /* false: the DLQ was empty */
    uint8_t resume_key[16]; /* redrive: continue after this key */
    bool has_resume;
    uint64_t affected; /* moved or deleted so far */
    uint32_t rate_per_s;
    uint64_t start_ms;
    char **ids; /* sorted; NULL: every entry */
    size_t id_count;
    /* the current step's outcome, applied only if its txn commits */
    struct {
        bool started, finished, has_end, has_resume;
        uint64_t watermark_seq, affected;
        uint8_t end_key[16], resume_key[16];
    } step;
} ql_task_t;

/* ---- the instance ---- */

typedef struct ql_lane {
    ql_request_t *head, *tail;
} ql_lane_t;

enum { QL_LANE_SENDS, QL_LANE_OTHERS };

typedef struct ql {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    char *path;
    uint64_t map_size;
    size_t max_batch_per_commit;
    uint64_t sweep_interval_ms;
    size_t queue_count;
    ql_queue_t *queues;
    const char **queue_names;

    /* storage */
    MDB_env *env; /* NULL after a failed reopen */
    MDB_dbi meta_dbi;
    pthread_rwlock_t env_lock;
    uint64_t next_seq; /* writer */
    uint64_t next_reopen_mono_ms;
    uint64_t page_size;
    uint64_t reserve_bytes; /* kept free for receives, settles and sweeps */

    /* the request queue: sends, and everything else */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    ql_lane_t lanes[2];
    size_t waiting_sends, taken;
    bool accepting, stopping, writer_sleeping, paused;
    uint64_t commit_failures, next_commit_failure_log_ms; /* writer only */
    bool sweep_queued;
    ql_request_t sweep_request;
    pthread_t writer;
    bool writer_running;

    /* writer */
    ql_task_t *tasks;
    uint64_t random_pool[64];
    size_t random_left;

    /* callbacks: the writer's outbox, handed to the completion thread */
    ql_request_t *outbox_head, *outbox_tail; /* writer */
    pthread_mutex_t done_lock;
    pthread_cond_t done_wake;
    ql_request_t *inbox_head, *inbox_tail;
    size_t inbox_flushes;          /* groups in the inbox (done_lock) */
    atomic_uint callbacks_running; /* groups handed over, not yet run */
    bool completer_stopping, completer_running;
    pthread_t completer;

    keel_timer_t *sweep_timer;
    keel_metric_t *commit_batch, *commit_seconds;
    _Atomic uint64_t commits, committed_requests;
} ql_t;

/* The state of a live message, decoded; strings point into the LMDB value
 * (valid until the next write in the txn). */
typedef struct ql_state {
    ql_where_t where;
    uint32_t receive_count;
    uint64_t nonce; /* 0: no valid receipt */
    uint64_t due_ms;
    uint64_t sent_at_ms, first_received_ms, last_received_ms;
    uint32_t body_bytes;
    const char *first_error, *last_error, *failed_step;
    uint16_t first_error_len, last_error_len, failed_step_len;
} ql_state_t;

typedef struct ql_dlq_record {
    uint32_t receive_count;
    uint64_t sent_at_ms, first_received_ms, last_received_ms, dead_lettered_ms;
    uint32_t body_bytes;
    char message_id[KEEL_ID_LEN + 1];
    const char *first_error, *last_error, *failed_step, *reason;
    uint16_t first_error_len, last_error_len, failed_step_len, reason_len;
} ql_dlq_record_t;

/* A body record, decoded; pointers into the value. */
typedef struct ql_msg_view {
    uint64_t sent_at_ms;
    char message_id[KEEL_ID_LEN + 1];
    uint16_t attr_count;
    const uint8_t *attrs; /* encoded */
    size_t attrs_len;
    const uint8_t *body;
    uint32_t body_len;
} ql_msg_view_t;

/* ---- codec.c ---- */

enum { QL_STATE_MAX = 64 + 3 * (2 + QL_MAX_TEXT), QL_DLQ_MAX = 96 + 4 * (2 + QL_MAX_TEXT) };

void be32_put(uint8_t *p, uint32_t v);
void be64_put(uint8_t *p, uint64_t v);
uint32_t be32_get(const uint8_t *p);
uint64_t be64_get(const uint8_t *p);
void key_time_seq(uint8_t out[16], uint64_t time, uint64_t seq);

size_t codec_msg_record_size(const keel_attr_t *attrs, size_t attr_count, size_t body_len);
void codec_msg_record_write(uint8_t *out, const char *message_id, const keel_attr_t *attrs,
                            size_t attr_count, const void *body, size_t body_len);
void codec_msg_set_sent_at(uint8_t *record, uint64_t sent_at_ms);
/* The KEEL_ID_LEN bytes of a body record's message id (in the value), or
 * NULL when the record is malformed. */
const char *codec_msg_id(const MDB_val *value);
int codec_msg_parse(const MDB_val *value, ql_msg_view_t *out);
/* Copies a message's attrs and body into one new block after `prefix`
 * bytes (for the caller's strings). NULL when out of memory. */
void *codec_msg_unpack(const ql_msg_view_t *m, size_t prefix, keel_attr_t **attrs,
                       const void **body);

size_t codec_state_write(uint8_t *out, const ql_state_t *s);
int codec_state_parse(const MDB_val *value, ql_state_t *out);
size_t codec_dlq_write(uint8_t *out, const ql_dlq_record_t *d);
int codec_dlq_parse(const MDB_val *value, ql_dlq_record_t *out);

void codec_receipt_format(char out[QL_RECEIPT_LEN + 1], const ql_receipt_t *r);
int codec_receipt_parse(const char *text, ql_receipt_t *out);
void codec_hex(char *out, const uint8_t *bytes, size_t len);
int codec_unhex(uint8_t *out, const char *text, size_t len);

/* ---- config.c ---- */

extern const keel_config_key_t ql_config_keys[];
int config_load(ql_t *ql);

/* ---- store.c ---- */

int store_open(ql_t *ql);   /* env, schema, counters, next_seq; logs why on error */
void store_close(ql_t *ql); /* caller holds env_lock exclusively or is alone */
int store_reopen(ql_t *ql); /* writer only */
int store_rebuild_dedup(ql_t *ql);
int store_read_begin(ql_t *ql, MDB_txn **txn); /* takes env_lock shared */
void store_read_end(ql_t *ql, MDB_txn *txn);
int store_write_counters(MDB_txn *txn, const ql_t *ql, const ql_queue_t *q);
int store_write_next_seq(MDB_txn *txn, const ql_t *ql, uint64_t next_seq);
/* Bytes sends may add before the budget's reserve is reached. Writer,
 * before its txn begins. */
int64_t store_space_left(ql_t *ql);
int64_t ops_entry_cost(const ql_t *ql, size_t record_len, bool dedup);
int store_stats(ql_t *ql, ql_queue_t *q, uint64_t now_ms, keel_queue_stats_t *out);
int store_dlq_list(ql_t *ql, ql_queue_t *q, const char *cursor, size_t limit,
                   keel_queue_dlq_page_t **out);
/* Where message `message_id` (KEEL_ID_LEN checked characters) is now. */
int store_locate(ql_t *ql, ql_queue_t *q, const char *message_id, uint64_t now_ms,
                 keel_queue_location_t *out);
void store_dlq_page_free(keel_queue_dlq_page_t *page);
/* Every message of q, in seq order (dlq.c). */
int store_list_messages(ql_t *ql, ql_queue_t *q, const char *cursor, size_t limit,
                        keel_queue_list_page_t **out);
void store_list_page_free(keel_queue_list_page_t *page);

/* ---- ops.c: inside the writer's txn. Return 0 or an LMDB error; an
 * error means the txn must be aborted. ---- */

typedef struct ql_wtxn {
    ql_t *ql;
    MDB_txn *txn;
    uint64_t now_ms;
    uint64_t next_seq;
    int64_t space_left; /* bytes sends may still add in this txn */
    ql_dedup_undo_t *undo;
    size_t undo_count, undo_cap;
    bool undo_failed; /* out of memory recording an undo: treat as an error */
} ql_wtxn_t;

int ops_send(ql_wtxn_t *w, ql_request_t *req);
int ops_receive(ql_wtxn_t *w, ql_request_t *req);
int ops_settle(ql_wtxn_t *w, ql_request_t *req);
int ops_change_visibility(ql_wtxn_t *w, ql_request_t *req);
/* Moves due delayed and expired in-flight messages to ready. */
int ops_promote_due(ql_wtxn_t *w, ql_queue_t *q, size_t limit, size_t *promoted);
/* Deletes a live message (index entry, state, body). */
int ops_delete_live(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, const ql_state_t *s);
/* Deletes a DLQ entry and its body. */
int ops_delete_dlq(ql_wtxn_t *w, ql_queue_t *q, const uint8_t dlq_key[16], uint64_t sent_at_ms,
                   uint32_t body_bytes);
int ops_put_ready(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, bool append);
/* Points the id index at `seq`; dead_lettered_ms != 0: the message is in
 * the DLQ under (dead_lettered_ms, seq). */
int ops_put_id(ql_wtxn_t *w, ql_queue_t *q, const char *message_id, uint64_t seq,
               uint64_t dead_lettered_ms);
uint64_t ql_random(ql_t *ql); /* writer only */
void ql_touch(ql_queue_t *q); /* working counters are about to change */

/* ---- sweep.c ---- */

int sweep_run(ql_wtxn_t *w, bool *more); /* expiry, promotion, dedup trim */
int sweep_task_step(ql_wtxn_t *w, ql_task_t *task);
bool sweep_task_runnable(ql_t *ql, const ql_task_t *task, uint64_t now_ms);
/* Reads the queue's gauges inside the txn (cheap; `oldest` reads one
 * more record); sweep_publish_gauges() sets them after the commit. */
void sweep_capture_gauges(ql_wtxn_t *w, ql_queue_t *q, bool oldest);
void sweep_publish_gauges(ql_t *ql);
int sweep_backup(ql_t *ql, const char *path, keel_queue_done_fn done, void *arg);

/* ---- writer.c ---- */

int writer_init(ql_t *ql);
int writer_start(ql_t *ql);
void writer_stop(ql_t *ql); /* drains, answers every request, joins */
void writer_destroy(ql_t *ql);
/* Queues a request; KEEL_EFULL, KEEL_ESHUTDOWN. Takes it on success. */
int writer_submit(ql_t *ql, ql_request_t *req);
void writer_request_sweep(ql_t *ql);
void writer_pause(ql_t *ql, bool paused);
void ql_batch_free(ql_batch_t *batch);

/* ---- complete.c ---- */

int completer_init(ql_t *ql);
void completer_destroy(ql_t *ql);
int completer_start(ql_t *ql);
void completer_stop(ql_t *ql);  /* after the writer ended: runs what is left */
void completer_flush(ql_t *ql); /* writer: hands queued callbacks over */
/* Writer: bookkeeping after a group's txn; queues the callbacks. */
void complete_group(ql_t *ql, ql_request_t *list, bool sweep_more);
void complete_task(ql_t *ql, ql_task_t *task, int status);
void complete_expired_waiters(ql_t *ql, uint64_t now_mono, bool all);

/* ---- api.c ---- */

extern const keel_queue_api_t ql_queue_api;
ql_queue_t *ql_find_queue(ql_t *ql, const char *name);
uint64_t ql_monotonic_ms(void);
uint64_t ql_monotonic_us(void);

#endif /* QUEUE_LMDB_H */
