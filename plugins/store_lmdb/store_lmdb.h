/*
 * store_lmdb.h — internals of the LMDB "store" provider.
 *
 * Schema (one env, three named databases):
 *   orders       order_id -> record (see codec.c)
 *   by_customer  customer_id, 0x00, ~created_at (BE u64), order_id -> empty
 *   sequences    name -> next value (BE u64)
 *
 * Threads: a writer lane owns every write txn and group-commits all
 * waiting writes, then runs their callbacks; a reader lane runs reads in
 * short read txns, copying data out before calling back.
 */
#ifndef STORE_LMDB_H
#define STORE_LMDB_H

#include "lmdb_common.h"

#include <keel/keel.h>
#include <keel/store.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Longest error text and order_json accepted by put()/update(). */
#define SL_MAX_ERROR 4096
#define SL_MAX_JSON  (16u << 20)
/* An index key: customer_id, 0x00, 8 bytes, order_id. */
#define SL_MAX_INDEX_KEY (2 * KEEL_STORE_MAX_ID + 9)

/* SL_CONFIRM: the pipeline step's write (see step.c). */
typedef enum sl_op { SL_PUT, SL_UPDATE, SL_SEQUENCE, SL_GET, SL_QUERY, SL_CONFIRM } sl_op_t;

/* A record owning its memory: the fields of r point into mem. */
typedef struct sl_rec {
    keel_order_record_t r;
    char *mem;
} sl_rec_t;

typedef struct sl_req {
    struct sl_req *next;
    sl_op_t op;
    int status;
    bool skip; /* failed inside a group: left out of the redo */
    bool lazy; /* put_lazy: may wait for the lane's lazy_delay */
    /* inputs (copies) */
    char *key;    /* order_id, customer_id or sequence name */
    char *cursor; /* query: decoded index key, or NULL */
    size_t cursor_len;
    uint8_t *value; /* put, confirm: the encoded record */
    size_t value_len;
    char *upd[3];    /* update: status, confirmation_number, error (NULL: keep) */
    uint64_t number; /* update: expected_version; sequence: count; query: limit */
    uint64_t now;    /* put, update, confirm: the new updated_at */
    /* outputs */
    sl_rec_t rec;
    sl_rec_t *page;
    size_t page_count;
    char *next_cursor;
    uint64_t first;
    /* completion */
    union {
        keel_store_record_fn record;
        keel_store_page_fn page;
        keel_store_sequence_fn sequence;
    } done;
    void *arg;
} sl_req_t;

typedef struct sl sl_t;

/* Most requests a lane waits for before it stops holding a group back. */
#define SL_GROUP_MAX 256
/* Largest accepted commit_delay. */
#define SL_MAX_COMMIT_DELAY_MS 100
/* Lazy puts held at most: more are written at once. */
#define SL_LAZY_MAX 512
/* Largest accepted lazy_delay. */
#define SL_MAX_LAZY_DELAY_MS 1000

typedef struct sl_lane {
    sl_t *sl;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC for its timed waits */
    sl_req_t *head, *tail;
    size_t pending; /* requests in head..tail */
    bool closing, running;
    /* Group delay (0: none): when the last batch held >= 2 requests and
     * the lane was not idle longer than the delay, wait up to delay_ns
     * after waking (or until SL_GROUP_MAX are pending, or closing) so
     * that one batch carries more requests. */
    uint64_t delay_ns;
    bool delaying;           /* in that wait: push signals only at SL_GROUP_MAX */
    size_t last_batch;       /* requests in the previous batch */
    uint64_t last_done_ns;   /* CLOCK_MONOTONIC when the previous batch was run */
    uint64_t delayed_groups; /* batches held back by the delay (under lock) */
    /* Lazy hold (0: none): while every pending request is lazy, wait
     * until lazy_ns after the oldest arrived, an eager request, SL_LAZY_MAX
     * pending or closing. */
    uint64_t lazy_ns;
    size_t eager;      /* pending requests that are not lazy */
    uint64_t first_ns; /* CLOCK_MONOTONIC arrival of the oldest pending */
    bool holding;      /* in that wait: push signals only when it ends it */
    pthread_t thread;
    void (*run)(sl_t *sl, sl_req_t *batch);
} sl_lane_t;

struct sl {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    char *path;
    uint64_t map_size;
    MDB_env *env;
    MDB_dbi orders, by_customer, sequences;
    _Atomic bool broken; /* MDB_PANIC seen: the env needs a reopen */
    _Atomic bool stopping;
    bool full_logged;         /* writer only: one MAP_FULL line per batch */
    uint64_t commit_delay_ms; /* config: the writer lane's group delay */
    uint64_t lazy_delay_ms;   /* config: how long lazy puts may wait */
    uint64_t restore_gap;     /* config: how far sequences jump after a restore */
    sl_lane_t writer, reader;
    keel_metric_t *m_commits, *m_failed, *m_batch_size;
    /* For the debug service: commits and the requests they carried. */
    _Atomic uint64_t commits, committed_requests;
};

/* codec.c */
void sl_be64_put(uint8_t *p, uint64_t v);
uint64_t sl_be64_get(const uint8_t *p);
int sl_encode(const keel_order_record_t *r, uint8_t **out, size_t *out_len);
int sl_decode(const void *data, size_t len, keel_order_record_t *r);
int sl_rec_copy(sl_rec_t *dst, const char *order_id, const void *data, size_t len);
void sl_rec_free(sl_rec_t *rec);
size_t sl_index_key(uint8_t *out, const char *customer_id, uint64_t created_at,
                    const char *order_id);
char *sl_hex(const void *data, size_t len);
int sl_unhex(const char *hex, char **out, size_t *out_len);

/* lanes.c */
int sl_lane_start(sl_t *sl, sl_lane_t *lane, void (*run)(sl_t *, sl_req_t *), uint64_t delay_ms,
                  uint64_t lazy_ms);
int sl_lane_push(sl_lane_t *lane, sl_req_t *req);
void sl_lane_stop(sl_lane_t *lane);
void sl_req_free(sl_req_t *req);
void sl_req_finish(sl_req_t *req);

/* writer.c, reader.c */
void sl_write_batch(sl_t *sl, sl_req_t *batch);
void sl_read_batch(sl_t *sl, sl_req_t *batch);

/* api.c */
extern const keel_store_api_t sl_store_api;
bool sl_record_valid(const keel_order_record_t *record);
sl_req_t *sl_new_record_request(sl_t *sl, sl_op_t op, const keel_order_record_t *record);
int sl_submit_write(sl_t *sl, sl_req_t *req);

/* backup.c: the service's backup() (hot, compact copy of the env) */
int sl_backup(void *ctx, const char *path, keel_store_backup_fn done, void *arg);

/* step.c: the descriptor's `step` (confirms orders in a pipeline) */
int sl_step(void *ctx, keel_batch_t *batch);

#endif /* STORE_LMDB_H */
