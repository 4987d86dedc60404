/*
 * store.c — the LMDB environment of one instance: open (with its safety
 * checks), the schema, reopen after a panic, and the short read txns behind
 * stats(), locate() and dlq_list().
 *
 * Schema: a "meta" database (schema version, next seq, queue name ->
 * number, per-queue counters) and, per queue number N, the databases
 * "qN.msg", "qN.state", "qN.ready", "qN.inflight", "qN.delayed", "qN.dlq",
 * "qN.dlqage", "qN.dedup" and "qN.ids" (see ql_db_t). Queue numbers are
 * persistent, so queues added to the config later get new numbers and keep
 * old data.
 *
 * "qN.ids" (message id -> seq, behind locate()) came with queue API 1.1,
 * without a schema version change: open creates it when a store written
 * by an older version lacks it. Messages stored before then have no entry
 * and are located as GONE until they are dead-lettered or redriven (both
 * write one); deleting them finds no entry to drop, which is not an error.
 * Entries an older version left stale (after a downgrade) point to no
 * state or DLQ record any more (seqs are never reused): GONE as well.
 */
#include "queue_lmdb.h"

#include "lmdb_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

enum { SCHEMA_VERSION = 1, MAX_READERS = 512 };

static const char *const db_suffix[QL_DB_COUNT] = {
    "msg", "state", "ready", "inflight", "delayed", "dlq", "dlqage", "dedup", "ids",
};

static int meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, MDB_val *value)
{
    MDB_val k = {strlen(key), (void *)key};
    return mdb_get(txn, dbi, &k, value);
}

static int meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, const void *data, size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)data};
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* Pages listed in the free-page database (reusable space inside the
 * file). A short read txn; only called when the file nears the budget. */
static uint64_t free_pages(ql_t *ql)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    uint64_t pages = 0;
    MDB_envinfo info;
    if (mdb_env_info(ql->env, &info) != 0 || mdb_txn_begin(ql->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (mdb_cursor_open(txn, 0 /* FREE_DBI */, &cur) == 0) {
        MDB_val k, v;
        while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
            /* Keyed by the txn that freed them: the next writer may reuse
             * only pages freed before the last commit. */
            if (k.mv_size != sizeof(size_t) || *(const size_t *)k.mv_data >= info.me_last_txnid)
                continue;
            if (v.mv_size >= sizeof(size_t))
                pages += *(const size_t *)v.mv_data; /* an IDL: its length first */
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return pages;
}

int64_t store_space_left(ql_t *ql)
{
    MDB_envinfo info;
    if (ql->env == NULL || mdb_env_info(ql->env, &info) != 0)
        return 0;
    uint64_t end = ((uint64_t)info.me_last_pgno + 1) * ql->page_size;
    int64_t left = (int64_t)ql->map_size - (int64_t)ql->reserve_bytes - (int64_t)end;
    if (left > (int64_t)ql->reserve_bytes)
        return left; /* far from the end: free pages need not be counted */
    return left + (int64_t)(free_pages(ql) * ql->page_size);
}

static void counters_key(char out[16], uint32_t number)
{
    snprintf(out, 16, "c:%u", number);
}

static void counters_decode(const MDB_val *v, ql_counters_t *c)
{
    memset(c, 0, sizeof *c);
    uint64_t *fields[] = {&c->sent,          &c->received, &c->deleted, &c->retried,
                          &c->dead_lettered, &c->redriven, &c->expired, &c->bytes};
    for (size_t i = 0; i < 8 && v->mv_size >= (i + 1) * 8; i++)
        *fields[i] = be64_get((const uint8_t *)v->mv_data + i * 8);
}

int store_write_counters(MDB_txn *txn, const ql_t *ql, const ql_queue_t *q)
{
    const ql_counters_t *c = &q->working;
    const uint64_t fields[] = {c->sent,          c->received, c->deleted, c->retried,
                               c->dead_lettered, c->redriven, c->expired, c->bytes};
    uint8_t buf[64];
    for (size_t i = 0; i < 8; i++)
        be64_put(buf + i * 8, fields[i]);
    char key[16];
    counters_key(key, q->number);
    return meta_put(txn, ql->meta_dbi, key, buf, sizeof buf);
}

int store_write_next_seq(MDB_txn *txn, const ql_t *ql, uint64_t next_seq)
{
    uint8_t buf[8];
    be64_put(buf, next_seq);
    return meta_put(txn, ql->meta_dbi, "next_seq", buf, sizeof buf);
}

/* Finds or assigns the queue's number, opens its databases, reads its
 * counters. */
static int open_queue(MDB_txn *txn, ql_t *ql, ql_queue_t *q, uint32_t *next_number)
{
    char key[128];
    snprintf(key, sizeof key, "q:%s", q->name);
    MDB_val v;
    int rc = meta_get(txn, ql->meta_dbi, key, &v);
    if (rc == 0 && v.mv_size == 4) {
        q->number = be32_get(v.mv_data);
    } else if (rc == MDB_NOTFOUND) {
        q->number = (*next_number)++;
        uint8_t buf[4];
        be32_put(buf, q->number);
        if ((rc = meta_put(txn, ql->meta_dbi, key, buf, 4)) != 0)
            return rc;
    } else {
        return rc ? rc : MDB_CORRUPTED;
    }
    for (int i = 0; i < QL_DB_COUNT; i++) {
        char name[32];
        snprintf(name, sizeof name, "q%u.%s", q->number, db_suffix[i]);
        if ((rc = mdb_dbi_open(txn, name, MDB_CREATE, &q->dbi[i])) != 0)
            return rc;
    }
    char ckey[16];
    counters_key(ckey, q->number);
    rc = meta_get(txn, ql->meta_dbi, ckey, &v);
    if (rc == MDB_NOTFOUND)
        memset(&q->committed, 0, sizeof q->committed);
    else if (rc == 0)
        counters_decode(&v, &q->committed);
    else
        return rc;
    q->working = q->committed;
    return 0;
}

static int open_schema(ql_t *ql)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ql->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ql->meta_dbi)) != 0)
        goto fail;
    MDB_val v;
    rc = meta_get(txn, ql->meta_dbi, "schema", &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t buf[4];
        be32_put(buf, SCHEMA_VERSION);
        rc = meta_put(txn, ql->meta_dbi, "schema", buf, 4);
    } else if (rc == 0 && (v.mv_size != 4 || be32_get(v.mv_data) != SCHEMA_VERSION)) {
        ql->host->log(ql->self, KEEL_LOG_ERROR,
                      "'%s' holds an unknown schema version; refusing to touch it", ql->path);
        rc = MDB_INCOMPATIBLE;
    }
    if (rc != 0)
        goto fail;
    uint32_t next_number = 1;
    if ((rc = meta_get(txn, ql->meta_dbi, "next_queue", &v)) == 0 && v.mv_size == 4)
        next_number = be32_get(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        goto fail;
    uint32_t first_new = next_number;
    for (size_t i = 0; i < ql->queue_count; i++)
        if ((rc = open_queue(txn, ql, &ql->queues[i], &next_number)) != 0)
            goto fail;
    if (next_number != first_new) {
        uint8_t buf[4];
        be32_put(buf, next_number);
        if ((rc = meta_put(txn, ql->meta_dbi, "next_queue", buf, 4)) != 0)
            goto fail;
    }
    ql->next_seq = 1;
    if ((rc = meta_get(txn, ql->meta_dbi, "next_seq", &v)) == 0 && v.mv_size == 8)
        ql->next_seq = be64_get(v.mv_data);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        goto fail;
    return mdb_txn_commit(txn);
fail:
    mdb_txn_abort(txn);
    return rc;
}

int store_open(ql_t *ql)
{
    int rc = lmdb_make_dirs(ql->path);
    if (rc != 0) {
        ql->host->log(ql->self, KEEL_LOG_ERROR, "cannot create '%s': %s", ql->path, strerror(rc));
        return KEEL_EIO;
    }
    const char *network = lmdb_network_filesystem(ql->path);
    if (network) {
        ql->host->log(ql->self, KEEL_LOG_ERROR,
                      "'%s' is on a network filesystem (%s): LMDB's locks and memory map are "
                      "not safe there; set 'path' to a local disk",
                      ql->path, network);
        return KEEL_EINVAL;
    }
    const char *step = "mdb_env_create";
    if ((rc = mdb_env_create(&ql->env)) != 0)
        goto fail;
    step = "mdb_env_set_mapsize";
    if ((rc = mdb_env_set_mapsize(ql->env, (size_t)ql->map_size)) != 0)
        goto fail;
    /* Every queue's databases (QL_DB_COUNT of them, the id index
     * included) and "meta", with one to spare. */
    step = "mdb_env_set_maxdbs";
    if ((rc = mdb_env_set_maxdbs(ql->env, (MDB_dbi)(ql->queue_count * QL_DB_COUNT + 2))) != 0)
        goto fail;
    step = "mdb_env_set_maxreaders";
    if ((rc = mdb_env_set_maxreaders(ql->env, MAX_READERS)) != 0)
        goto fail;
    /* Default flags: full sync on commit. MDB_NOTLS: read txns are not
     * tied to threads. */
    step = "mdb_env_open";
    if ((rc = mdb_env_open(ql->env, ql->path, MDB_NOTLS, 0600)) != 0)
        goto fail;
    int dead = 0;
    mdb_reader_check(ql->env, &dead);
    if (dead > 0)
        ql->host->log(ql->self, KEEL_LOG_WARN, "cleared %d stale LMDB reader slot(s) in '%s'", dead,
                      ql->path);
    step = "opening the schema";
    if ((rc = open_schema(ql)) != 0)
        goto fail;
    MDB_stat st;
    mdb_env_stat(ql->env, &st);
    ql->page_size = st.ms_psize;
    /* LMDB needs free pages even to delete (copy-on-write): sends stop
     * short of the budget so that consumers can always drain. */
    ql->reserve_bytes = ql->map_size / 64;
    if (ql->reserve_bytes < 64 * ql->page_size)
        ql->reserve_bytes = 64 * ql->page_size;
    return 0;
fail:
    ql->host->log(ql->self, KEEL_LOG_ERROR, "cannot open the queue store at '%s' (%s): %s",
                  ql->path, step, mdb_strerror(rc));
    if (ql->env)
        mdb_env_close(ql->env);
    ql->env = NULL;
    return rc == MDB_MAP_FULL ? KEEL_EFULL : KEEL_EIO;
}

void store_close(ql_t *ql)
{
    if (ql->env)
        mdb_env_close(ql->env);
    ql->env = NULL;
}

int store_reopen(ql_t *ql)
{
    pthread_rwlock_wrlock(&ql->env_lock);
    store_close(ql);
    int rc = store_open(ql);
    /* A failed commit may still have reached the disk: take the dedup
     * index, counters and next seq from what is there. */
    if (rc == 0)
        rc = store_rebuild_dedup(ql);
    pthread_rwlock_unlock(&ql->env_lock);
    if (rc == 0)
        ql->host->log(ql->self, KEEL_LOG_WARN, "reopened the queue store at '%s'", ql->path);
    return rc;
}

int store_rebuild_dedup(ql_t *ql)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ql->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_status(rc);
    for (size_t i = 0; i < ql->queue_count && rc == 0; i++) {
        ql_queue_t *q = &ql->queues[i];
        dedup_free(&q->dedup);
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, q->dbi[QL_DB_DEDUP], &cur)) != 0)
            break;
        ql_dedup_log_t log = {txn, q->dbi[QL_DB_DEDUP]};
        MDB_val k, v;
        for (int op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
            if (k.mv_size != 16 || v.mv_size <= KEEL_ID_LEN || v.mv_size > 512)
                continue;
            char key[512];
            memcpy(key, (const char *)v.mv_data + KEEL_ID_LEN, v.mv_size - KEEL_ID_LEN);
            key[v.mv_size - KEEL_ID_LEN] = '\0';
            const uint8_t *kb = k.mv_data;
            /* A later record of the same id takes its place, as in sends. */
            ql_dedup_hit_t seen;
            int found = dedup_find(&q->dedup, &log, key, &seen);
            if (found != 0 && found != MDB_NOTFOUND) {
                rc = found;
                break;
            }
            if ((rc = dedup_put(&q->dedup, key, found == 0 ? &seen : NULL, be64_get(kb),
                                be64_get(kb + 8), NULL)) != 0)
                break;
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    mdb_txn_abort(txn);
    return lmdb_status(rc);
}

int store_read_begin(ql_t *ql, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&ql->env_lock);
    if (ql->env == NULL) {
        pthread_rwlock_unlock(&ql->env_lock);
        return KEEL_EUNAVAIL;
    }
    int rc = mdb_txn_begin(ql->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        pthread_rwlock_unlock(&ql->env_lock);
        return lmdb_status(rc);
    }
    return 0;
}

void store_read_end(ql_t *ql, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&ql->env_lock);
}

static uint64_t entries(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_stat st;
    return mdb_stat(txn, dbi, &st) == 0 ? st.ms_entries : 0;
}

/* How many keys of a (time, seq) index have a time <= now (bounded). */
static uint64_t count_due(MDB_txn *txn, MDB_dbi dbi, uint64_t now_ms)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur) != 0)
        return 0;
    uint64_t n = 0;
    MDB_val k, v;
    for (int op = MDB_FIRST; n < 100000 && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
        if (k.mv_size != 16 || be64_get(k.mv_data) > now_ms)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    return n;
}

/* The first key's leading u64 (a seq or a time), or false when empty. */
static bool first_key(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *value)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, dbi, &cur) != 0)
        return false;
    bool found = mdb_cursor_get(cur, key, value, MDB_FIRST) == 0 && key->mv_size >= 8;
    mdb_cursor_close(cur);
    return found;
}

int store_stats(ql_t *ql, ql_queue_t *q, uint64_t now_ms, keel_queue_stats_t *out)
{
    MDB_txn *txn;
    int rc = store_read_begin(ql, &txn);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof *out);
    uint64_t due = count_due(txn, q->dbi[QL_DB_DELAYED], now_ms);
    uint64_t expired = count_due(txn, q->dbi[QL_DB_INFLIGHT], now_ms);
    out->visible = entries(txn, q->dbi[QL_DB_READY]) + due + expired;
    out->delayed = entries(txn, q->dbi[QL_DB_DELAYED]) - due;
    out->in_flight = entries(txn, q->dbi[QL_DB_INFLIGHT]) - expired;
    out->dlq_depth = entries(txn, q->dbi[QL_DB_DLQ]);
    MDB_val k, v;
    if (first_key(txn, q->dbi[QL_DB_STATE], &k, &v)) {
        ql_state_t s;
        if (codec_state_parse(&v, &s) == 0 && now_ms > s.sent_at_ms)
            out->oldest_age_ms = now_ms - s.sent_at_ms;
    }
    if (first_key(txn, q->dbi[QL_DB_DLQ_AGE], &k, &v) && now_ms > be64_get(k.mv_data))
        out->dlq_oldest_age_ms = now_ms - be64_get(k.mv_data);
    char key[16];
    counters_key(key, q->number);
    ql_counters_t c = {0};
    if (meta_get(txn, ql->meta_dbi, key, &v) == 0)
        counters_decode(&v, &c);
    out->bytes = c.bytes;
    out->sent = c.sent;
    out->received = c.received;
    out->deleted = c.deleted;
    out->retried = c.retried;
    out->dead_lettered = c.dead_lettered;
    out->redriven = c.redriven;
    out->expired = c.expired;
    store_read_end(ql, txn);
    return 0;
}

/* Copies at most size - 1 bytes of `text` and a NUL. */
static void copy_text(char *out, size_t size, const char *text, size_t len)
{
    len = len < size - 1 ? len : size - 1;
    memcpy(out, text, len);
    out[len] = '\0';
}

/* The state or DLQ record an id index entry points to, decoded into out.
 * A missing record (possible only if an older version also wrote to the
 * store) means GONE. */
static int locate_entry(MDB_txn *txn, ql_queue_t *q, const MDB_val *entry, uint64_t now_ms,
                        keel_queue_location_t *out)
{
    if (entry->mv_size != 8 && entry->mv_size != 16)
        return KEEL_EIO;
    const uint8_t *p = entry->mv_data;
    uint64_t seq = be64_get(p);
    uint8_t key[16];
    MDB_val k, v;
    int rc;
    if (entry->mv_size == 8) {
        be64_put(key, seq);
        k = (MDB_val){8, key};
        if ((rc = mdb_get(txn, q->dbi[QL_DB_STATE], &k, &v)) != 0)
            return rc == MDB_NOTFOUND ? 0 : lmdb_status(rc);
        ql_state_t s;
        if (codec_state_parse(&v, &s) < 0)
            return KEEL_EIO;
        /* As stats() and receive: in flight until the deadline, then
         * waiting. A RETRY settle used the receipt up (nonce 0): until
         * its delay passes, no consumer holds it. */
        bool in_flight = s.where == QL_INFLIGHT && s.due_ms > now_ms;
        out->where = !in_flight     ? KEEL_QUEUE_WAITING
                     : s.nonce == 0 ? KEEL_QUEUE_RETRYING
                                    : KEEL_QUEUE_IN_FLIGHT;
        out->receive_count = s.receive_count;
        if (out->where == KEEL_QUEUE_RETRYING) {
            copy_text(out->last_error, sizeof out->last_error, s.last_error, s.last_error_len);
            copy_text(out->failed_step, sizeof out->failed_step, s.failed_step, s.failed_step_len);
        }
        return 0;
    }
    key_time_seq(key, be64_get(p + 8), seq);
    k = (MDB_val){16, key};
    if ((rc = mdb_get(txn, q->dbi[QL_DB_DLQ], &k, &v)) != 0)
        return rc == MDB_NOTFOUND ? 0 : lmdb_status(rc);
    ql_dlq_record_t d;
    if (codec_dlq_parse(&v, &d) < 0)
        return KEEL_EIO;
    out->where = KEEL_QUEUE_DEAD;
    out->receive_count = d.receive_count;
    /* As dlq_list(): with no error given, the reason stands in. */
    if (d.last_error_len)
        copy_text(out->last_error, sizeof out->last_error, d.last_error, d.last_error_len);
    else
        copy_text(out->last_error, sizeof out->last_error, d.reason, d.reason_len);
    copy_text(out->failed_step, sizeof out->failed_step, d.failed_step, d.failed_step_len);
    out->dead_lettered_at_ms = d.dead_lettered_ms;
    return 0;
}

int store_locate(ql_t *ql, ql_queue_t *q, const char *message_id, uint64_t now_ms,
                 keel_queue_location_t *out)
{
    memset(out, 0, sizeof *out); /* KEEL_QUEUE_GONE, empty strings */
    MDB_txn *txn;
    int rc = store_read_begin(ql, &txn);
    if (rc < 0)
        return rc;
    MDB_val k = {KEEL_ID_LEN, (void *)message_id}, v;
    rc = mdb_get(txn, q->dbi[QL_DB_IDS], &k, &v);
    if (rc == 0)
        rc = locate_entry(txn, q, &v, now_ms, out);
    else
        rc = rc == MDB_NOTFOUND ? 0 : lmdb_status(rc);
    store_read_end(ql, txn);
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}
