/*
 * reader.c — the reader lane: get() and query_customer(), each in its own
 * short read txn; everything is copied out before the txn ends and the
 * callback runs.
 */
#include "store_lmdb.h"

#include <stdlib.h>
#include <string.h>

static int read_record(sl_t *sl, MDB_txn *txn, const char *order_id, sl_rec_t *out)
{
    MDB_val k = {strlen(order_id), (void *)order_id}, v;
    int rc = mdb_get(txn, sl->orders, &k, &v);
    if (rc == MDB_NOTFOUND)
        return KEEL_ENOTFOUND;
    if (rc != 0)
        return lmdb_status(rc);
    return sl_rec_copy(out, order_id, v.mv_data, v.mv_size);
}

static int query(sl_t *sl, MDB_txn *txn, sl_req_t *req)
{
    uint8_t prefix[KEEL_STORE_MAX_ID + 1];
    size_t plen = strlen(req->key) + 1;
    memcpy(prefix, req->key, plen); /* the customer_id and its 0x00 */
    req->page = calloc(req->number, sizeof *req->page);
    if (req->page == NULL)
        return KEEL_ENOMEM;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, sl->by_customer, &cur);
    if (rc != 0)
        return lmdb_status(rc);
    MDB_val k = {plen, prefix}, v;
    if (req->cursor != NULL)
        k = (MDB_val){req->cursor_len, req->cursor};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && req->cursor != NULL && k.mv_size == req->cursor_len &&
        memcmp(k.mv_data, req->cursor, k.mv_size) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* the cursor names the last one seen */
    int status = 0;
    uint8_t last[SL_MAX_INDEX_KEY];
    size_t last_len = 0;
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= plen + 8 || k.mv_size - plen - 8 > KEEL_STORE_MAX_ID ||
            memcmp(k.mv_data, prefix, plen) != 0)
            break; /* past this customer */
        if (req->page_count == req->number) {
            req->next_cursor = sl_hex(last, last_len);
            if (req->next_cursor == NULL)
                status = KEEL_ENOMEM;
            break;
        }
        char order_id[KEEL_STORE_MAX_ID + 1];
        size_t olen = k.mv_size - plen - 8;
        memcpy(order_id, (const uint8_t *)k.mv_data + plen + 8, olen);
        order_id[olen] = '\0';
        memcpy(last, k.mv_data, k.mv_size);
        last_len = k.mv_size;
        status = read_record(sl, txn, order_id, &req->page[req->page_count]);
        if (status == KEEL_ENOTFOUND)
            status = KEEL_EIO; /* an index entry without its order */
        if (status < 0)
            break;
        req->page_count++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        status = lmdb_status(rc);
    mdb_cursor_close(cur);
    return status;
}

void sl_read_batch(sl_t *sl, sl_req_t *batch)
{
    while (batch != NULL) {
        sl_req_t *req = batch;
        batch = batch->next;
        MDB_txn *txn;
        int rc = mdb_txn_begin(sl->env, NULL, MDB_RDONLY, &txn);
        if (rc != 0) {
            req->status = lmdb_status(rc);
        } else {
            req->status =
                req->op == SL_GET ? read_record(sl, txn, req->key, &req->rec) : query(sl, txn, req);
            mdb_txn_abort(txn);
        }
        if (req->status < 0)
            sl_rec_free(&req->rec);
        sl_req_finish(req);
    }
}
