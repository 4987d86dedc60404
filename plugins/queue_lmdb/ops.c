/*
 * ops.c — message operations inside the writer's write txn: send, receive,
 * settle, change visibility, promotion of due messages and dead-lettering.
 *
 * Every function returns 0 or an LMDB error (or ENOMEM); after an error
 * the caller aborts the txn. Outcomes a caller sees (KEEL_ESTALE, a
 * duplicate, KEEL_EFULL for a full queue) are written to the request.
 * Values read from LMDB are copied before the next write: a write may move
 * or spill the page they point into.
 */
#include "queue_lmdb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* A state record with its strings copied out of LMDB. */
typedef struct owned_state {
    ql_state_t s;
    char text[3][QL_MAX_TEXT];
} owned_state_t;

uint64_t ql_random(ql_t *ql)
{
    while (ql->random_left == 0) {
        ssize_t n = getrandom(ql->random_pool, sizeof ql->random_pool, 0);
        if (n == (ssize_t)sizeof ql->random_pool)
            ql->random_left = sizeof ql->random_pool / sizeof ql->random_pool[0];
    }
    return ql->random_pool[--ql->random_left];
}

void ql_touch(ql_queue_t *q)
{
    if (!q->dirty) {
        q->working = q->committed;
        q->dirty = true;
    }
}

static int put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len, const void *value,
               size_t value_len, unsigned flags)
{
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    return mdb_put(txn, dbi, &k, &v, flags);
}

/* Deleting a key that is already gone is not an error (and does not
 * poison the txn). */
static int del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len)
{
    MDB_val k = {key_len, (void *)key};
    int rc = mdb_del(txn, dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int del_seq(MDB_txn *txn, MDB_dbi dbi, uint64_t seq)
{
    uint8_t key[8];
    be64_put(key, seq);
    return del(txn, dbi, key, 8);
}

static int del_timed(MDB_txn *txn, MDB_dbi dbi, uint64_t time, uint64_t seq)
{
    uint8_t key[16];
    key_time_seq(key, time, seq);
    return del(txn, dbi, key, 16);
}

static int put_timed(MDB_txn *txn, MDB_dbi dbi, uint64_t time, uint64_t seq)
{
    uint8_t key[16];
    key_time_seq(key, time, seq);
    return put(txn, dbi, key, 16, "", 0, 0);
}

/*
 * The id index (QL_DB_IDS): message id (KEEL_ID_LEN bytes) -> seq (BE u64),
 * followed by the dead-lettered time (BE u64) while the message is in the
 * DLQ, so that locate() reaches its DLQ key (dead_lettered_at, seq). It is
 * written in the txn of every change: put on send, rewritten on
 * dead-lettering and on redrive (a new seq, the same id), deleted with the
 * body record (ops_delete_live, ops_delete_dlq). Ids are time-ordered, so
 * sends mostly add at the right edge of the tree.
 */
int ops_put_id(ql_wtxn_t *w, ql_queue_t *q, const char *message_id, uint64_t seq,
               uint64_t dead_lettered_ms)
{
    uint8_t value[16];
    be64_put(value, seq);
    be64_put(value + 8, dead_lettered_ms);
    return put(w->txn, q->dbi[QL_DB_IDS], message_id, KEEL_ID_LEN, value, dead_lettered_ms ? 16 : 8,
               0);
}

/* Drops the id index entry of message `seq`, whose body is still there.
 * An entry already gone (a message stored before the index existed) is
 * not an error. */
static int del_id(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq)
{
    uint8_t key[8];
    be64_put(key, seq);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(w->txn, q->dbi[QL_DB_MSG], &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? 0 : rc;
    const char *id = codec_msg_id(&v);
    if (id == NULL)
        return MDB_CORRUPTED;
    char copy[KEEL_ID_LEN]; /* the value's page may move on the next write */
    memcpy(copy, id, KEEL_ID_LEN);
    return del(w->txn, q->dbi[QL_DB_IDS], copy, KEEL_ID_LEN);
}

int ops_put_ready(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, bool append)
{
    uint8_t key[8];
    be64_put(key, seq);
    q->ready_added = true; /* a hint for long polls; harmless if the txn aborts */
    return put(w->txn, q->dbi[QL_DB_READY], key, 8, "", 0, append ? MDB_APPEND : 0);
}

/* Reads a state record and copies its strings. MDB_NOTFOUND when absent. */
static int load_state(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, owned_state_t *out)
{
    uint8_t key[8];
    be64_put(key, seq);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(w->txn, q->dbi[QL_DB_STATE], &k, &v);
    if (rc != 0)
        return rc;
    if (codec_state_parse(&v, &out->s) < 0)
        return MDB_CORRUPTED;
    memcpy(out->text[0], out->s.first_error, out->s.first_error_len);
    memcpy(out->text[1], out->s.last_error, out->s.last_error_len);
    memcpy(out->text[2], out->s.failed_step, out->s.failed_step_len);
    out->s.first_error = out->text[0];
    out->s.last_error = out->text[1];
    out->s.failed_step = out->text[2];
    return 0;
}

static int put_state(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, const ql_state_t *s, unsigned flags)
{
    uint8_t key[8], buf[QL_STATE_MAX];
    be64_put(key, seq);
    size_t len = codec_state_write(buf, s);
    return put(w->txn, q->dbi[QL_DB_STATE], key, 8, buf, len, flags);
}

static int del_index(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, const ql_state_t *s)
{
    switch (s->where) {
    case QL_READY:
        return del_seq(w->txn, q->dbi[QL_DB_READY], seq);
    case QL_INFLIGHT:
        return del_timed(w->txn, q->dbi[QL_DB_INFLIGHT], s->due_ms, seq);
    default:
        return del_timed(w->txn, q->dbi[QL_DB_DELAYED], s->due_ms, seq);
    }
}

static uint16_t text_len(const char *text)
{
    size_t len = text ? strlen(text) : 0;
    return (uint16_t)(len > QL_MAX_TEXT ? QL_MAX_TEXT : len);
}

int ops_delete_live(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, const ql_state_t *s)
{
    int rc;
    if ((rc = del_index(w, q, seq, s)) != 0 || (rc = del_id(w, q, seq)) != 0 ||
        (rc = del_seq(w->txn, q->dbi[QL_DB_MSG], seq)) != 0 ||
        (rc = del_seq(w->txn, q->dbi[QL_DB_STATE], seq)) != 0)
        return rc;
    ql_touch(q);
    q->working.bytes -= q->working.bytes < s->body_bytes ? q->working.bytes : s->body_bytes;
    return 0;
}

int ops_delete_dlq(ql_wtxn_t *w, ql_queue_t *q, const uint8_t dlq_key[16], uint64_t sent_at_ms,
                   uint32_t body_bytes)
{
    uint64_t seq = be64_get(dlq_key + 8);
    int rc;
    if ((rc = del(w->txn, q->dbi[QL_DB_DLQ], dlq_key, 16)) != 0 ||
        (rc = del_timed(w->txn, q->dbi[QL_DB_DLQ_AGE], sent_at_ms, seq)) != 0 ||
        (rc = del_id(w, q, seq)) != 0 || (rc = del_seq(w->txn, q->dbi[QL_DB_MSG], seq)) != 0)
        return rc;
    ql_touch(q);
    q->working.bytes -= q->working.bytes < body_bytes ? q->working.bytes : body_bytes;
    return 0;
}

/* The body record of message `seq`, parsed (views into the txn's pages).
 * A state without its body is corruption, not absence. */
static int load_message(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, ql_msg_view_t *m)
{
    uint8_t key[8];
    be64_put(key, seq);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(w->txn, q->dbi[QL_DB_MSG], &k, &v);
    if (rc == 0 && codec_msg_parse(&v, m) < 0)
        rc = MDB_CORRUPTED;
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* Moves a live message whose index entry is already gone to the DLQ. */
static int dead_letter(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, const ql_state_t *s,
                       const char *reason, const char *error, const char *failed_step)
{
    ql_msg_view_t m;
    int rc = load_message(w, q, seq, &m);
    if (rc != 0)
        return rc;
    ql_dlq_record_t d = {
        .receive_count = s->receive_count,
        .sent_at_ms = s->sent_at_ms,
        .first_received_ms = s->first_received_ms,
        .last_received_ms = s->last_received_ms,
        .dead_lettered_ms = w->now_ms,
        .body_bytes = s->body_bytes,
        .first_error = s->first_error,
        .first_error_len = s->first_error_len,
        .last_error = s->last_error,
        .last_error_len = s->last_error_len,
        .failed_step = s->failed_step,
        .failed_step_len = s->failed_step_len,
        .reason = reason,
        .reason_len = text_len(reason),
    };
    memcpy(d.message_id, m.message_id, sizeof d.message_id);
    if (error && *error) {
        if (d.first_error_len == 0) {
            d.first_error = error;
            d.first_error_len = text_len(error);
        }
        d.last_error = error;
        d.last_error_len = text_len(error);
    }
    if (failed_step && *failed_step) {
        d.failed_step = failed_step;
        d.failed_step_len = text_len(failed_step);
    }
    uint8_t buf[QL_DLQ_MAX], dlq_key[16], age_value[12];
    size_t len = codec_dlq_write(buf, &d);
    key_time_seq(dlq_key, w->now_ms, seq);
    be64_put(age_value, w->now_ms);
    be32_put(age_value + 8, s->body_bytes);
    uint8_t age_key[16];
    key_time_seq(age_key, s->sent_at_ms, seq);
    if ((rc = del_seq(w->txn, q->dbi[QL_DB_STATE], seq)) != 0 ||
        (rc = put(w->txn, q->dbi[QL_DB_DLQ], dlq_key, 16, buf, len, 0)) != 0 ||
        (rc = put(w->txn, q->dbi[QL_DB_DLQ_AGE], age_key, 16, age_value, 12, 0)) != 0 ||
        (rc = ops_put_id(w, q, d.message_id, seq, w->now_ms)) != 0)
        return rc;
    ql_touch(q);
    q->working.dead_lettered++;
    return 0;
}

/*
 * Bytes a new message may take in the store, as LMDB lays it out. A record
 * beyond the node limit (about half a page) goes to overflow pages and
 * takes whole pages; smaller ones share leaf pages, counted twice to allow
 * for half-full pages and branch pages. Its state record and its ready, id
 * and dedup index entries come on top. Overestimating only stops sends a
 * little early; underestimating can eat the reserve consumers need.
 */
int64_t ops_entry_cost(const ql_t *ql, size_t record_len, bool dedup)
{
    size_t page = ql->page_size;
    size_t node_max = ((page - 16) / 2) & ~(size_t)1; /* LMDB's me_nodemax */
    size_t node = record_len + 8 /* key */ + 8 /* node header */;
    int64_t message = node > node_max ? (int64_t)(((16 + record_len + page - 1) / page) * page)
                                      : (int64_t)node * 2;
    /* A new state record holds no error yet: about 64 bytes. The id index
     * entry takes a node of its own (header, id, seq and dead-letter time). */
    int64_t indexes =
        2 * (96 + 24 + 8 + KEEL_ID_LEN + 16 + (dedup ? 16 + KEEL_ID_LEN + QL_MAX_DEDUP_ID : 0));
    return message + indexes;
}

int ops_send(ql_wtxn_t *w, ql_request_t *req)
{
    ql_queue_t *q = req->queue;
    for (size_t i = 0; i < req->u.send.count; i++) {
        ql_send_entry_t *e = &req->u.send.entries[i];
        keel_queue_sent_t *result = &req->u.send.results[i];
        result->duplicate = false;
        result->status = e->status;
        if (e->status != 0) {
            result->message_id[0] = '\0';
            continue;
        }
        memcpy(result->message_id, e->record + 9, KEEL_ID_LEN);
        result->message_id[KEEL_ID_LEN] = '\0';
        bool dedup = e->dedup_id && q->dedup_window_ms > 0, seen_before = false;
        ql_dedup_hit_t seen;
        int rc;
        if (dedup) {
            ql_dedup_log_t log = {w->txn, q->dbi[QL_DB_DEDUP]};
            rc = dedup_find(&q->dedup, &log, e->dedup_id, &seen);
            if (rc != 0 && rc != MDB_NOTFOUND)
                return rc;
            seen_before = rc == 0;
            if (seen_before && seen.enqueued_at_ms + q->dedup_window_ms > w->now_ms) {
                result->duplicate = true;
                memcpy(result->message_id, seen.message_id, sizeof result->message_id);
                continue;
            }
        }
        MDB_stat st;
        rc = mdb_stat(w->txn, q->dbi[QL_DB_STATE], &st);
        if (rc != 0)
            return rc;
        ql_touch(q);
        int64_t cost = ops_entry_cost(w->ql, e->record_len, dedup);
        if ((q->max_depth && st.ms_entries >= q->max_depth) ||
            (q->max_bytes && q->working.bytes + e->body_len > q->max_bytes) ||
            w->space_left < cost) {
            result->status = KEEL_EFULL;
            continue;
        }
        w->space_left -= cost;
        uint64_t seq = w->next_seq++;
        uint8_t key[8];
        be64_put(key, seq);
        codec_msg_set_sent_at(e->record, w->now_ms);
        ql_state_t s = {.where = e->delay_ms ? QL_DELAYED : QL_READY,
                        .due_ms = e->delay_ms ? w->now_ms + e->delay_ms : 0,
                        .sent_at_ms = w->now_ms,
                        .body_bytes = e->body_len,
                        .first_error = "",
                        .last_error = "",
                        .failed_step = ""};
        if ((rc = put(w->txn, q->dbi[QL_DB_MSG], key, 8, e->record, e->record_len, MDB_APPEND)) !=
                0 ||
            (rc = put_state(w, q, seq, &s, MDB_APPEND)) != 0)
            return rc;
        rc = e->delay_ms ? put_timed(w->txn, q->dbi[QL_DB_DELAYED], s.due_ms, seq)
                         : ops_put_ready(w, q, seq, true);
        if (rc == 0)
            rc = ops_put_id(w, q, result->message_id, seq, 0);
        if (rc != 0)
            return rc;
        if (dedup) {
            uint8_t dkey[16], value[KEEL_ID_LEN + QL_MAX_DEDUP_ID];
            size_t id_len = strlen(e->dedup_id);
            key_time_seq(dkey, w->now_ms, seq);
            memcpy(value, result->message_id, KEEL_ID_LEN);
            memcpy(value + KEEL_ID_LEN, e->dedup_id, id_len);
            if ((rc = put(w->txn, q->dbi[QL_DB_DEDUP], dkey, 16, value, KEEL_ID_LEN + id_len, 0)) !=
                0)
                return rc;
            if (w->undo_count == w->undo_cap) {
                size_t cap = w->undo_cap ? w->undo_cap * 2 : 64;
                ql_dedup_undo_t *grown = realloc(w->undo, cap * sizeof *grown);
                if (grown == NULL)
                    return ENOMEM;
                w->undo = grown;
                w->undo_cap = cap;
            }
            if ((rc = dedup_put(&q->dedup, e->dedup_id, seen_before ? &seen : NULL, w->now_ms, seq,
                                &w->undo[w->undo_count])) != 0)
                return rc;
            w->undo_count++;
        }
        q->working.sent++;
        q->working.bytes += e->body_len;
    }
    return 0;
}

int ops_promote_due(ql_wtxn_t *w, ql_queue_t *q, size_t limit, size_t *promoted)
{
    static const ql_db_t sources[] = {QL_DB_DELAYED, QL_DB_INFLIGHT};
    size_t done = 0;
    for (size_t i = 0; i < 2; i++) {
        MDB_cursor *cur;
        int rc = mdb_cursor_open(w->txn, q->dbi[sources[i]], &cur);
        if (rc != 0)
            return rc;
        MDB_val k, v;
        while (done < limit && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
            if (k.mv_size != 16 || be64_get(k.mv_data) > w->now_ms)
                break;
            uint64_t seq = be64_get((const uint8_t *)k.mv_data + 8);
            owned_state_t st;
            if ((rc = mdb_cursor_del(cur, 0)) != 0)
                break;
            rc = load_state(w, q, seq, &st);
            if (rc == MDB_NOTFOUND)
                continue; /* a stray index entry: dropped */
            st.s.where = QL_READY;
            st.s.due_ms = 0;
            if (rc != 0 || (rc = put_state(w, q, seq, &st.s, 0)) != 0 ||
                (rc = ops_put_ready(w, q, seq, false)) != 0)
                break;
            done++;
        }
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    if (promoted)
        *promoted = done;
    return 0;
}

/* Copies message `seq` into the batch. */
static int deliver(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, const ql_state_t *s,
                   ql_batch_t *batch)
{
    ql_msg_view_t m;
    int rc = load_message(w, q, seq, &m);
    if (rc != 0)
        return rc;
    keel_queue_message_t *out = &batch->messages[batch->pub.count];
    keel_attr_t *attrs;
    const void *body;
    char *block = codec_msg_unpack(&m, QL_RECEIPT_LEN + 1, &attrs, &body);
    if (block == NULL)
        return ENOMEM;
    ql_receipt_t receipt = {seq, s->receive_count, s->nonce};
    codec_receipt_format(block, &receipt);
    memcpy(out->message_id, m.message_id, sizeof out->message_id);
    out->receipt = block;
    out->attrs = attrs;
    out->attr_count = m.attr_count;
    out->body = body;
    out->body_len = m.body_len;
    out->receive_count = s->receive_count;
    out->sent_at_ms = m.sent_at_ms;
    out->first_received_at_ms = s->first_received_ms;
    batch->blocks[batch->pub.count++] = block;
    return 0;
}

int ops_receive(ql_wtxn_t *w, ql_request_t *req)
{
    ql_queue_t *q = req->queue;
    ql_batch_t *batch = req->u.receive.batch;
    int rc = ops_promote_due(w, q, 256, NULL);
    MDB_cursor *cur;
    if (rc != 0 || (rc = mdb_cursor_open(w->txn, q->dbi[QL_DB_READY], &cur)) != 0)
        return rc;
    size_t dead = 0;
    char reason[64];
    snprintf(reason, sizeof reason, "max receives (%u) exceeded", q->max_receives);
    MDB_val k, v;
    while (batch->pub.count < req->u.receive.max && dead < 1000 &&
           (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        uint64_t seq = be64_get(k.mv_data);
        owned_state_t st;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        rc = load_state(w, q, seq, &st);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0)
            break;
        if (st.s.receive_count >= q->max_receives) {
            if ((rc = dead_letter(w, q, seq, &st.s, reason, NULL, NULL)) != 0)
                break;
            dead++;
            continue;
        }
        st.s.receive_count++;
        do
            st.s.nonce = ql_random(w->ql);
        while (st.s.nonce == 0);
        st.s.where = QL_INFLIGHT;
        st.s.due_ms = w->now_ms + req->u.receive.visibility_ms;
        if (st.s.first_received_ms == 0)
            st.s.first_received_ms = w->now_ms;
        st.s.last_received_ms = w->now_ms;
        if ((rc = deliver(w, q, seq, &st.s, batch)) != 0 ||
            (rc = put_state(w, q, seq, &st.s, 0)) != 0 ||
            (rc = put_timed(w->txn, q->dbi[QL_DB_INFLIGHT], st.s.due_ms, seq)) != 0)
            break;
        ql_touch(q);
        q->working.received++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Loads the state a receipt names; *status = KEEL_ESTALE unless the
 * message is in flight under exactly that receipt. */
static int check_receipt(ql_wtxn_t *w, ql_queue_t *q, const ql_receipt_t *r, owned_state_t *st,
                         int *status)
{
    int rc = load_state(w, q, r->seq, st);
    *status = KEEL_ESTALE;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc == 0 && st->s.where == QL_INFLIGHT && st->s.receive_count == r->receive_count &&
        st->s.nonce == r->nonce)
        *status = 0;
    return rc;
}

static uint64_t retry_delay_ms(ql_wtxn_t *w, const ql_queue_t *q, uint32_t receive_count)
{
    if (!q->backoff_enabled)
        return q->visibility_ms;
    uint32_t shift = receive_count > 0 ? receive_count - 1 : 0;
    uint64_t cap = q->backoff_max_ms;
    if (shift < 40 && (q->backoff_base_ms << shift) < cap)
        cap = q->backoff_base_ms << shift;
    return ql_random(w->ql) % (cap + 1); /* full jitter */
}

static int retry(ql_wtxn_t *w, ql_queue_t *q, uint64_t seq, ql_state_t *s,
                 const ql_settle_item_t *item)
{
    uint16_t error_len = text_len(item->error), step_len = text_len(item->failed_step);
    if (error_len) {
        if (s->first_error_len == 0) {
            s->first_error = item->error;
            s->first_error_len = error_len;
        }
        s->last_error = item->error;
        s->last_error_len = error_len;
    }
    if (step_len) {
        s->failed_step = item->failed_step;
        s->failed_step_len = step_len;
    }
    uint64_t delay = retry_delay_ms(w, q, s->receive_count);
    s->nonce = 0; /* the receipt is used up */
    int rc;
    if (delay == 0) {
        s->where = QL_READY;
        s->due_ms = 0;
        rc = ops_put_ready(w, q, seq, false);
    } else {
        s->due_ms = w->now_ms + delay;
        rc = put_timed(w->txn, q->dbi[QL_DB_INFLIGHT], s->due_ms, seq);
    }
    if (rc == 0)
        rc = put_state(w, q, seq, s, 0);
    ql_touch(q);
    q->working.retried++;
    return rc;
}

int ops_settle(ql_wtxn_t *w, ql_request_t *req)
{
    ql_queue_t *q = req->queue;
    for (size_t i = 0; i < req->u.settle.count; i++) {
        const ql_settle_item_t *item = &req->u.settle.items[i];
        int *status = &req->u.settle.statuses[i];
        *status = KEEL_EINVAL;
        if (!item->valid)
            continue;
        owned_state_t st;
        int rc = check_receipt(w, q, &item->receipt, &st, status);
        if (rc != 0)
            return rc;
        if (*status != 0)
            continue;
        uint64_t seq = item->receipt.seq;
        switch (item->result) {
        case KEEL_OK:
            if ((rc = ops_delete_live(w, q, seq, &st.s)) == 0)
                q->working.deleted++;
            break;
        case KEEL_RETRY:
            if ((rc = del_index(w, q, seq, &st.s)) == 0)
                rc = retry(w, q, seq, &st.s, item);
            break;
        default:
            if ((rc = del_index(w, q, seq, &st.s)) == 0)
                rc = dead_letter(w, q, seq, &st.s, "failed permanently", item->error,
                                 item->failed_step);
            break;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ops_change_visibility(ql_wtxn_t *w, ql_request_t *req)
{
    ql_queue_t *q = req->queue;
    req->u.visibility.result = KEEL_EINVAL;
    if (!req->u.visibility.valid)
        return 0;
    owned_state_t st;
    const ql_receipt_t *r = &req->u.visibility.receipt;
    int rc = check_receipt(w, q, r, &st, &req->u.visibility.result);
    if (rc != 0 || req->u.visibility.result != 0)
        return rc;
    if ((rc = del_index(w, q, r->seq, &st.s)) != 0)
        return rc;
    if (req->u.visibility.timeout_ms == 0) {
        st.s.where = QL_READY;
        st.s.due_ms = 0;
        rc = ops_put_ready(w, q, r->seq, false);
    } else {
        st.s.due_ms = w->now_ms + req->u.visibility.timeout_ms;
        rc = put_timed(w->txn, q->dbi[QL_DB_INFLIGHT], st.s.due_ms, r->seq);
    }
    return rc ? rc : put_state(w, q, r->seq, &st.s, 0);
}
