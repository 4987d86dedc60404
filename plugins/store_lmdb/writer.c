/*
 * writer.c — the writer lane: every put, update and sequence_next waiting
 * when it wakes goes into one write txn and one commit; callbacks run
 * after the commit. A request whose LMDB call fails is answered with that
 * error and the txn is aborted and redone without it (LMDB requires the
 * abort). When the commit itself fails, each request is retried in its
 * own txn so one cannot fail the others. Under load the lane holds a
 * batch back for up to commit_delay first (see lanes.c).
 */
#include "store_lmdb.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void reset(sl_req_t *req)
{
    sl_rec_free(&req->rec);
    req->status = 0;
    req->first = 0;
}

/* The stored record of `order_id`, or MDB_NOTFOUND. */
static int load(sl_t *sl, MDB_txn *txn, const char *order_id, MDB_val *v, keel_order_record_t *r)
{
    MDB_val k = {strlen(order_id), (void *)order_id};
    int rc = mdb_get(txn, sl->orders, &k, v);
    if (rc == 0 && sl_decode(v->mv_data, v->mv_size, r) < 0)
        rc = MDB_CORRUPTED;
    return rc;
}

/* The answer carries a record: copy it (ENOMEM replaces the status). */
static void answer(sl_req_t *req, int status, const char *order_id, const void *data, size_t len)
{
    int rc = sl_rec_copy(&req->rec, order_id, data, len);
    req->status = rc < 0 ? rc : status;
}

/* Writes the new record req->value and its index entry. */
static int insert(sl_t *sl, MDB_txn *txn, sl_req_t *req)
{
    keel_order_record_t fresh;
    sl_decode(req->value, req->value_len, &fresh);
    uint8_t index[SL_MAX_INDEX_KEY];
    MDB_val k = {strlen(req->key), req->key}, val = {req->value_len, req->value};
    MDB_val ik = {sl_index_key(index, fresh.customer_id, fresh.created_at_ms, req->key), index};
    MDB_val empty = {0, NULL};
    int rc;
    if ((rc = mdb_put(txn, sl->orders, &k, &val, 0)) != 0 ||
        (rc = mdb_put(txn, sl->by_customer, &ik, &empty, 0)) != 0)
        return rc;
    answer(req, 0, req->key, req->value, req->value_len);
    return 0;
}

/* Writes r (pointing into the txn) back as the record of req->key, one
 * version later. */
static int rewrite(sl_t *sl, MDB_txn *txn, sl_req_t *req, keel_order_record_t *r)
{
    r->version++;
    r->updated_at_ms = req->now;
    uint8_t *buf;
    size_t len;
    if (sl_encode(r, &buf, &len) < 0) { /* r points into the txn: encode before the put */
        req->status = KEEL_ENOMEM;
        return 0;
    }
    MDB_val k = {strlen(req->key), req->key}, val = {len, buf};
    int rc = mdb_put(txn, sl->orders, &k, &val, 0);
    if (rc == 0)
        answer(req, 0, req->key, buf, len);
    free(buf);
    return rc;
}

static bool same_payload(const keel_order_record_t *stored, const sl_req_t *req)
{
    keel_order_record_t fresh;
    sl_decode(req->value, req->value_len, &fresh);
    return strcmp(stored->payload_hash, fresh.payload_hash) == 0;
}

static int apply_put(sl_t *sl, MDB_txn *txn, sl_req_t *req)
{
    keel_order_record_t stored;
    MDB_val v;
    int rc = load(sl, txn, req->key, &v, &stored);
    if (rc == 0) {
        answer(req, same_payload(&stored, req) ? KEEL_EEXIST : KEEL_ECONFLICT, req->key, v.mv_data,
               v.mv_size);
        return 0;
    }
    return rc == MDB_NOTFOUND ? insert(sl, txn, req) : rc;
}

/* The pipeline step: CONFIRMED with req's number, unless the record
 * already has one (then it is kept); created from req->value if missing. */
static int apply_confirm(sl_t *sl, MDB_txn *txn, sl_req_t *req)
{
    keel_order_record_t r;
    MDB_val v;
    int rc = load(sl, txn, req->key, &v, &r);
    if (rc == MDB_NOTFOUND)
        return insert(sl, txn, req);
    if (rc != 0)
        return rc;
    if (!same_payload(&r, req)) {
        answer(req, KEEL_ECONFLICT, req->key, v.mv_data, v.mv_size);
        return 0;
    }
    if (r.confirmation_number[0] != '\0' && strcmp(r.status, "CONFIRMED") == 0) {
        answer(req, 0, req->key, v.mv_data, v.mv_size); /* a redelivery: keep it all */
        return 0;
    }
    keel_order_record_t fresh;
    sl_decode(req->value, req->value_len, &fresh);
    r.status = "CONFIRMED";
    r.error = "";
    if (r.confirmation_number[0] == '\0')
        r.confirmation_number = fresh.confirmation_number;
    if (r.message_id[0] == '\0')
        r.message_id = fresh.message_id;
    return rewrite(sl, txn, req, &r);
}

static int apply_update(sl_t *sl, MDB_txn *txn, sl_req_t *req)
{
    keel_order_record_t r;
    MDB_val v;
    int rc = load(sl, txn, req->key, &v, &r);
    if (rc == MDB_NOTFOUND) {
        req->status = KEEL_ENOTFOUND;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (req->number != 0 && r.version != req->number) {
        answer(req, KEEL_ESTALE, req->key, v.mv_data, v.mv_size);
        return 0;
    }
    const char **fields[3] = {&r.status, &r.confirmation_number, &r.error};
    for (int i = 0; i < 3; i++)
        if (req->upd[i] != NULL)
            *fields[i] = req->upd[i];
    return rewrite(sl, txn, req, &r);
}

static int apply_sequence(sl_t *sl, MDB_txn *txn, sl_req_t *req)
{
    MDB_val k = {strlen(req->key), req->key}, v;
    int rc = mdb_get(txn, sl->sequences, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    uint64_t first = rc == 0 && v.mv_size == 8 ? sl_be64_get(v.mv_data) : 1;
    if (first > UINT64_MAX - req->number) {
        req->status = KEEL_EFULL; /* the sequence is exhausted */
        return 0;
    }
    uint8_t next[8];
    sl_be64_put(next, first + req->number);
    MDB_val nv = {sizeof next, next};
    if ((rc = mdb_put(txn, sl->sequences, &k, &nv, 0)) != 0)
        return rc;
    req->first = first;
    return 0;
}

static int apply(sl_t *sl, MDB_txn *txn, sl_req_t *req)
{
    reset(req);
    switch (req->op) {
    case SL_PUT:
        return apply_put(sl, txn, req);
    case SL_UPDATE:
        return apply_update(sl, txn, req);
    case SL_CONFIRM:
        return apply_confirm(sl, txn, req);
    default:
        return apply_sequence(sl, txn, req);
    }
}

static bool active(const sl_req_t *r, const sl_req_t *only)
{
    return !r->skip && (only == NULL || r == only);
}

static void fail(sl_t *sl, sl_req_t *req, int mdb_rc)
{
    reset(req);
    req->skip = true;
    req->status = lmdb_status(mdb_rc);
    if (mdb_rc == MDB_PANIC)
        sl->broken = true;
    sl->host->metric_add(sl->m_failed, 1);
    if (mdb_rc != MDB_MAP_FULL)
        sl->host->log(sl->self, KEEL_LOG_ERROR, "write of '%s' failed: %s", req->key,
                      mdb_strerror(mdb_rc));
    else if (!sl->full_logged)
        sl->host->log(sl->self, KEEL_LOG_WARN,
                      "the store is full (map_size %llu bytes): writes fail with KEEL_EFULL",
                      (unsigned long long)sl->map_size);
    sl->full_logged |= mdb_rc == MDB_MAP_FULL;
}

/* Commits the active requests of `batch` (or only `only`) in one txn. */
static void run_txn(sl_t *sl, sl_req_t *batch, sl_req_t *only)
{
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(sl->env, NULL, 0, &txn);
        if (rc != 0) {
            for (sl_req_t *r = batch; r != NULL; r = r->next)
                if (active(r, only))
                    fail(sl, r, rc);
            return;
        }
        sl_req_t *bad = NULL;
        for (sl_req_t *r = batch; r != NULL && bad == NULL; r = r->next)
            if (active(r, only) && (rc = apply(sl, txn, r)) != 0)
                bad = r;
        if (bad != NULL) {
            mdb_txn_abort(txn);
            fail(sl, bad, rc);
            continue; /* redo without it */
        }
        size_t n = 0;
        for (sl_req_t *r = batch; r != NULL; r = r->next)
            n += active(r, only);
        if (n == 0) {
            mdb_txn_abort(txn);
            return;
        }
        if ((rc = mdb_txn_commit(txn)) == 0) {
            sl->host->metric_add(sl->m_commits, 1);
            sl->host->metric_observe(sl->m_batch_size, (double)n);
            atomic_fetch_add_explicit(&sl->commits, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&sl->committed_requests, n, memory_order_relaxed);
            return;
        }
        for (sl_req_t *r = batch; r != NULL; r = r->next) {
            if (!active(r, only))
                continue;
            if (n == 1)
                fail(sl, r, rc);
            else
                run_txn(sl, batch, r); /* alone, so it cannot fail the others */
        }
        return;
    }
}

void sl_write_batch(sl_t *sl, sl_req_t *batch)
{
    sl->full_logged = false;
    run_txn(sl, batch, NULL);
    while (batch != NULL) { /* every answer after the commit */
        sl_req_t *next = batch->next;
        sl_req_finish(batch);
        batch = next;
    }
}
