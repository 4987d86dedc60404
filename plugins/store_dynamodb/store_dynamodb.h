/*
 * store_dynamodb.h — internals of the DynamoDB "store" provider.
 *
 * Table layout (SPEC §6; other tools read it): key order_id (S). An order
 * item has customer_id, status, payload_hash, order (the canonical order
 * JSON as S), created_at and updated_at (N, epoch ms), version (N), and
 * confirmation_number, error and message_id (S) when they are set. The GSI
 * customer_id-created_at-index (customer_id, created_at; projection ALL)
 * serves query_customer. Sequences are items of the same table, keyed
 * "keel#sequence#<name>" (order ids never contain '#'), with next_value
 * (N) advanced atomically by ADD.
 *
 * Files: store_dynamodb.c (plugin glue, credentials, signing, health,
 * metrics, table bootstrap), items.c (records <-> items, cursors), ops.c
 * (the store functions and the pipeline step).
 */
#ifndef STORE_DYNAMODB_H
#define STORE_DYNAMODB_H

#include "client.h"
#include "creds.h"
#include "sigv4.h"

#include <jansson.h>
#include <keel/keel.h>
#include <keel/store.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define SD_INDEX        "customer_id-created_at-index"
#define SD_SEQ_PREFIX   "keel#sequence#"
#define SD_MAX_ERROR    4096
#define SD_MAX_JSON     (350u * 1024) /* an item is at most 400 KB */
#define SD_MAX_ORDER_ID KEEL_STORE_MAX_ID

typedef struct sd {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    const char *table;
    char region[64];
    char endpoint[512];
    bool create_table;
    ddb_client_t *client;

    ddb_creds_config_t creds_cfg;
    pthread_mutex_t creds_lock;
    ddb_creds_t creds; /* under creds_lock, with the two below */
    bool refreshing;
    int64_t refresh_after;
    sigv4_key_cache_t keys;

    /* Health: the outcome of the last call that reached (or failed to
     * reach) DynamoDB, and of the periodic probe. */
    atomic_bool reachable;
    atomic_bool table_ready;
    pthread_mutex_t why_lock;
    char why[256];
    keel_timer_t *probe;
    atomic_bool probing;
    atomic_bool stopping;
    pthread_t boot; /* the table bootstrap */
    bool boot_started;

    keel_metric_t *m_requests, *m_failures, *m_retries, *m_throttles, *m_latency;
    ddb_client_metrics_t last; /* what was exported (timer thread only) */
} sd_t;

/* A record decoded from an item: fields point into `item` (hold a ref). */
typedef struct sd_rec {
    keel_order_record_t r;
    json_t *item;
} sd_rec_t;

/* items.c */
json_t *sd_item_from_record(const keel_order_record_t *r, uint64_t now_ms);
int sd_record_from_item(json_t *item, sd_rec_t *out); /* takes a ref on item */
void sd_rec_free(sd_rec_t *rec);
json_t *sd_key(const char *order_id);
json_t *sd_s(const char *s);
json_t *sd_n(uint64_t n);
/* The opaque cursor of the item after which a page ends, and back. */
char *sd_cursor_encode(const sd_rec_t *last);
json_t *sd_cursor_decode(const char *cursor, const char *customer_id);

/* ops.c */
extern const keel_store_api_t sd_store_api;
int sd_step(void *ctx, keel_batch_t *batch);
/* Sends one request; done gets the parsed body (NULL unless status 0 or
 * KEEL_ECONFLICT with a body). Notes reachability for health. */
typedef void (*sd_done_fn)(sd_t *sd, void *arg, int status, json_t *body, const char *message);
int sd_request(sd_t *sd, const char *operation, json_t *body, sd_done_fn done, void *arg);
void sd_note_outcome(sd_t *sd, int status, const char *message);

/* store_dynamodb.c */
int sd_bootstrap(sd_t *sd, char *err, size_t err_len);

#endif /* STORE_DYNAMODB_H */
