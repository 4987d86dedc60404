/*
 * api.c — the keel_store_api_t functions: validate synchronously (bad
 * arguments answer KEEL_EINVAL and done never runs), copy the inputs into
 * a request and queue it on the writer or reader lane.
 */
#include "store_lmdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1..max characters (0..max when `empty_ok`). */
static bool valid_text(const char *s, size_t max, bool empty_ok)
{
    if (s == NULL)
        return false;
    size_t n = strnlen(s, max + 1);
    return n <= max && (empty_ok || n > 0);
}

static bool valid_hash(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    for (const char *c = s; *c != '\0'; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static sl_req_t *request(sl_op_t op, const char *key)
{
    sl_req_t *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->op = op;
    if ((req->key = strdup(key)) == NULL) {
        free(req);
        return NULL;
    }
    return req;
}

/* Queues the request, or frees it and returns why not. */
static int submit(sl_t *sl, sl_lane_t *lane, sl_req_t *req)
{
    int rc = sl->stopping ? KEEL_ESHUTDOWN : sl_lane_push(lane, req);
    if (rc < 0)
        sl_req_free(req);
    return rc;
}

static const char *or_empty(const char *s)
{
    return s == NULL ? "" : s;
}

bool sl_record_valid(const keel_order_record_t *record)
{
    return record != NULL && valid_text(record->order_id, KEEL_STORE_MAX_ID, false) &&
           valid_text(record->customer_id, KEEL_STORE_MAX_ID, false) &&
           valid_text(or_empty(record->status), KEEL_STORE_MAX_ID, true) &&
           valid_text(or_empty(record->confirmation_number), KEEL_STORE_MAX_ID, true) &&
           valid_text(or_empty(record->error), SL_MAX_ERROR, true) &&
           valid_text(or_empty(record->message_id), KEEL_STORE_MAX_ID, true) &&
           valid_hash(record->payload_hash) && record->order_json != NULL &&
           record->order_json_len > 0 && record->order_json_len <= SL_MAX_JSON;
}

/* A new record as put() and the confirm step write it: version 1,
 * created_at = updated_at = now, NULL strings as "". */
sl_req_t *sl_new_record_request(sl_t *sl, sl_op_t op, const keel_order_record_t *record)
{
    sl_req_t *req = request(op, record->order_id);
    if (req == NULL)
        return NULL;
    keel_order_record_t r = *record;
    r.status = or_empty(r.status);
    r.confirmation_number = or_empty(r.confirmation_number);
    r.error = or_empty(r.error);
    r.message_id = or_empty(r.message_id);
    r.version = 1;
    r.created_at_ms = r.updated_at_ms = req->now = sl->host->now_ms(sl->self);
    if (sl_encode(&r, &req->value, &req->value_len) < 0) {
        sl_req_free(req);
        return NULL;
    }
    return req;
}

int sl_submit_write(sl_t *sl, sl_req_t *req)
{
    return submit(sl, &sl->writer, req);
}

static int put(sl_t *sl, const keel_order_record_t *record, bool lazy, keel_store_record_fn done,
               void *arg)
{
    if (done == NULL || !sl_record_valid(record))
        return KEEL_EINVAL;
    if (sl->stopping)
        return KEEL_ESHUTDOWN;
    sl_req_t *req = sl_new_record_request(sl, SL_PUT, record);
    if (req == NULL)
        return KEEL_ENOMEM;
    req->lazy = lazy;
    req->done.record = done;
    req->arg = arg;
    return submit(sl, &sl->writer, req);
}

static int sl_put(void *ctx, const keel_order_record_t *record, keel_store_record_fn done,
                  void *arg)
{
    return put(ctx, record, false, done, arg);
}

/* Waits for the writer's lazy_delay at most (see lanes.c). */
static int sl_put_lazy(void *ctx, const keel_order_record_t *record, keel_store_record_fn done,
                       void *arg)
{
    return put(ctx, record, true, done, arg);
}

static int sl_get(void *ctx, const char *order_id, keel_store_record_fn done, void *arg)
{
    sl_t *sl = ctx;
    if (done == NULL || !valid_text(order_id, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    sl_req_t *req = request(SL_GET, order_id);
    if (req == NULL)
        return KEEL_ENOMEM;
    req->done.record = done;
    req->arg = arg;
    return submit(sl, &sl->reader, req);
}

static int sl_update(void *ctx, const char *order_id, uint64_t expected_version,
                     const keel_order_update_t *update, keel_store_record_fn done, void *arg)
{
    sl_t *sl = ctx;
    if (done == NULL || update == NULL || !valid_text(order_id, KEEL_STORE_MAX_ID, false) ||
        !valid_text(update->status, KEEL_STORE_MAX_ID, false) ||
        (update->confirmation_number != NULL &&
         !valid_text(update->confirmation_number, KEEL_STORE_MAX_ID, true)) ||
        (update->error != NULL && !valid_text(update->error, SL_MAX_ERROR, true)))
        return KEEL_EINVAL;
    sl_req_t *req = request(SL_UPDATE, order_id);
    if (req == NULL)
        return KEEL_ENOMEM;
    const char *fields[3] = {update->status, update->confirmation_number, update->error};
    for (int i = 0; i < 3; i++) {
        if (fields[i] != NULL && (req->upd[i] = strdup(fields[i])) == NULL) {
            sl_req_free(req);
            return KEEL_ENOMEM;
        }
    }
    req->number = expected_version;
    req->now = sl->host->now_ms(sl->self);
    req->done.record = done;
    req->arg = arg;
    return submit(sl, &sl->writer, req);
}

static int sl_query_customer(void *ctx, const char *customer_id, const char *cursor, size_t limit,
                             keel_store_page_fn done, void *arg)
{
    sl_t *sl = ctx;
    if (done == NULL || limit < 1 || limit > KEEL_STORE_MAX_PAGE ||
        !valid_text(customer_id, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    sl_req_t *req = request(SL_QUERY, customer_id);
    if (req == NULL)
        return KEEL_ENOMEM;
    if (cursor != NULL) {
        int rc = sl_unhex(cursor, &req->cursor, &req->cursor_len);
        size_t plen = strlen(customer_id) + 1;
        /* Must be an index key of this customer: prefix, 8 bytes, an id. */
        if (rc == 0 &&
            (req->cursor_len <= plen + 8 || req->cursor_len - plen - 8 > KEEL_STORE_MAX_ID ||
             memcmp(req->cursor, customer_id, plen) != 0 ||
             memchr(req->cursor + plen + 8, 0, req->cursor_len - plen - 8) != NULL))
            rc = KEEL_EINVAL;
        if (rc < 0) {
            sl_req_free(req);
            return rc;
        }
    }
    req->number = limit;
    req->done.page = done;
    req->arg = arg;
    return submit(sl, &sl->reader, req);
}

static int sl_sequence_next(void *ctx, const char *name, uint64_t count,
                            keel_store_sequence_fn done, void *arg)
{
    sl_t *sl = ctx;
    if (done == NULL || count < 1 || count > 1000000 || !valid_text(name, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    sl_req_t *req = request(SL_SEQUENCE, name);
    if (req == NULL)
        return KEEL_ENOMEM;
    req->number = count;
    req->done.sequence = done;
    req->arg = arg;
    return submit(sl, &sl->writer, req);
}

static int sl_peek_hash(void *ctx, const char *order_id, char hash_out[65])
{
    sl_t *sl = ctx;
    if (hash_out == NULL || !valid_text(order_id, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    if (sl->env == NULL || sl->broken)
        return KEEL_EUNAVAIL;
    MDB_txn *txn;
    int rc = mdb_txn_begin(sl->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_status(rc);
    MDB_val k = {strlen(order_id), (void *)order_id}, v;
    keel_order_record_t r;
    hash_out[0] = '\0';
    rc = mdb_get(txn, sl->orders, &k, &v);
    if (rc == 0 && sl_decode(v.mv_data, v.mv_size, &r) == 0)
        snprintf(hash_out, 65, "%s", r.payload_hash);
    int status = rc == MDB_NOTFOUND ? KEEL_ENOTFOUND : rc != 0 ? lmdb_status(rc) : 0;
    if (rc == 0 && strlen(hash_out) != 64)
        status = KEEL_EIO; /* a record that does not decode */
    mdb_txn_abort(txn);
    return status;
}

const keel_store_api_t sl_store_api = {
    .struct_size = sizeof(keel_store_api_t),
    .put = sl_put,
    .get = sl_get,
    .update = sl_update,
    .query_customer = sl_query_customer,
    .sequence_next = sl_sequence_next,
    .peek_hash = sl_peek_hash,
    .backup = sl_backup,
    .put_lazy = sl_put_lazy,
};
