/*
 * sweep.c — maintenance in bounded steps through the writer: promotion of
 * due messages, retention and DLQ expiry, dedup-log trimming, gauges; the
 * purge and redrive tasks; and the hot backup (on a worker thread).
 */
#include "queue_lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { REDRIVE_STEP = 256, SCAN_STEP = 1000 };

static uint64_t db_entries(ql_wtxn_t *w, ql_queue_t *q, ql_db_t db)
{
    MDB_stat st;
    return mdb_stat(w->txn, q->dbi[db], &st) == 0 ? st.ms_entries : 0;
}

void sweep_capture_gauges(ql_wtxn_t *w, ql_queue_t *q, bool oldest)
{
    q->gauges.visible = db_entries(w, q, QL_DB_READY);
    q->gauges.in_flight = db_entries(w, q, QL_DB_INFLIGHT);
    q->gauges.delayed = db_entries(w, q, QL_DB_DELAYED);
    q->gauges.dlq = db_entries(w, q, QL_DB_DLQ);
    q->gauges.fresh = true;
    q->gauges.has_age = oldest;
    if (!oldest)
        return;
    q->gauges.oldest_age_ms = 0;
    MDB_cursor *cur;
    if (mdb_cursor_open(w->txn, q->dbi[QL_DB_STATE], &cur) != 0)
        return;
    MDB_val k, v;
    ql_state_t s;
    if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && codec_state_parse(&v, &s) == 0 &&
        w->now_ms > s.sent_at_ms)
        q->gauges.oldest_age_ms = w->now_ms - s.sent_at_ms;
    mdb_cursor_close(cur);
    /* As the admin API's dlq_oldest_age_seconds (store_stats). */
    q->gauges.dlq_oldest_age_ms = 0;
    if (mdb_cursor_open(w->txn, q->dbi[QL_DB_DLQ_AGE], &cur) != 0)
        return;
    if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && k.mv_size >= 8 &&
        w->now_ms > be64_get(k.mv_data))
        q->gauges.dlq_oldest_age_ms = w->now_ms - be64_get(k.mv_data);
    mdb_cursor_close(cur);
}

void sweep_publish_gauges(ql_t *ql)
{
    const keel_host_api_t *host = ql->host;
    for (size_t i = 0; i < ql->queue_count; i++) {
        ql_queue_t *q = &ql->queues[i];
        if (!q->gauges.fresh)
            continue;
        q->gauges.fresh = false;
        host->metric_set(q->metrics.visible, (double)q->gauges.visible);
        host->metric_set(q->metrics.in_flight, (double)q->gauges.in_flight);
        host->metric_set(q->metrics.delayed, (double)q->gauges.delayed);
        host->metric_set(q->metrics.dlq_depth, (double)q->gauges.dlq);
        host->metric_set(q->metrics.bytes, (double)q->committed.bytes);
        if (q->gauges.has_age) {
            host->metric_set(q->metrics.oldest_age, (double)q->gauges.oldest_age_ms / 1000.0);
            host->metric_set(q->metrics.dlq_oldest_age,
                             (double)q->gauges.dlq_oldest_age_ms / 1000.0);
        }
    }
}

/* Expires live messages past their retention, oldest seq first. */
static int expire_live(ql_wtxn_t *w, ql_queue_t *q, size_t *budget)
{
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(w->txn, q->dbi[QL_DB_STATE], &cur);
    MDB_val k, v;
    while (rc == 0 && *budget > 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        ql_state_t s;
        if (codec_state_parse(&v, &s) < 0 || k.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        if (s.sent_at_ms + q->retention_ms > w->now_ms)
            break;
        if ((rc = ops_delete_live(w, q, be64_get(k.mv_data), &s)) != 0)
            break;
        q->working.expired++;
        (*budget)--;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Expires DLQ entries dlq_retention after their original send. */
static int expire_dlq(ql_wtxn_t *w, ql_queue_t *q, size_t *budget)
{
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(w->txn, q->dbi[QL_DB_DLQ_AGE], &cur);
    MDB_val k, v;
    while (rc == 0 && *budget > 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        if (k.mv_size != 16 || v.mv_size != 12) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint64_t sent_at = be64_get(k.mv_data);
        if (sent_at + q->dlq_retention_ms > w->now_ms)
            break;
        uint8_t dlq_key[16];
        key_time_seq(dlq_key, be64_get(v.mv_data), be64_get((const uint8_t *)k.mv_data + 8));
        uint32_t body_bytes = be32_get((const uint8_t *)v.mv_data + 8);
        if ((rc = ops_delete_dlq(w, q, dlq_key, sent_at, body_bytes)) != 0)
            break;
        q->working.expired++;
        (*budget)--;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Drops dedup-log records older than the window, and their index entries
 * (an entry past its window is never a match, so dropping it before the
 * commit is safe even if the txn aborts). */
static int trim_dedup(ql_wtxn_t *w, ql_queue_t *q, size_t *budget)
{
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(w->txn, q->dbi[QL_DB_DEDUP], &cur);
    MDB_val k, v;
    while (rc == 0 && *budget > 0 && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        if (k.mv_size != 16 || be64_get(k.mv_data) + q->dedup_window_ms > w->now_ms)
            break;
        char key[QL_MAX_DEDUP_ID + 1];
        size_t len = v.mv_size > KEEL_ID_LEN ? v.mv_size - KEEL_ID_LEN : 0;
        len = len > QL_MAX_DEDUP_ID ? QL_MAX_DEDUP_ID : len;
        memcpy(key, (const char *)v.mv_data + KEEL_ID_LEN, len);
        key[len] = '\0';
        uint64_t seq = be64_get((const uint8_t *)k.mv_data + 8);
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        dedup_remove_if(&q->dedup, key, seq);
        (*budget)--;
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int sweep_run(ql_wtxn_t *w, bool *more)
{
    size_t budget = QL_DELETE_BUDGET;
    *more = false;
    for (size_t i = 0; i < w->ql->queue_count; i++) {
        ql_queue_t *q = &w->ql->queues[i];
        size_t promoted = 0;
        int rc = ops_promote_due(w, q, budget, &promoted);
        budget -= promoted;
        if (rc == 0)
            rc = expire_live(w, q, &budget);
        if (rc == 0)
            rc = expire_dlq(w, q, &budget);
        if (rc == 0)
            rc = trim_dedup(w, q, &budget);
        if (rc != 0)
            return rc;
        sweep_capture_gauges(w, q, true);
    }
    *more = budget == 0;
    return 0;
}

/* ---- purge and redrive ---- */

bool sweep_task_runnable(ql_t *ql, const ql_task_t *task, uint64_t now_ms)
{
    (void)ql;
    if (task->finished)
        return false;
    if (task->rate_per_s == 0)
        return true;
    uint64_t seconds = now_ms > task->start_ms ? (now_ms - task->start_ms) / 1000 : 0;
    return task->affected < (uint64_t)task->rate_per_s * (seconds + 1);
}

static bool id_listed(const ql_task_t *task, const char *id)
{
    size_t low = 0, high = task->id_count;
    while (low < high) {
        size_t mid = (low + high) / 2;
        int cmp = strcmp(task->ids[mid], id);
        if (cmp == 0)
            return true;
        if (cmp < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return false;
}

/* Moves one DLQ entry back to the queue under a new seq, as a new send
 * with the same message id: receive count and errors reset; the id index
 * entry is pointed at the new seq. */
static int redrive_one(ql_wtxn_t *w, ql_queue_t *q, const uint8_t dlq_key[16],
                       const ql_dlq_record_t *d)
{
    uint64_t old_seq = be64_get(dlq_key + 8), seq = w->next_seq;
    uint8_t old_key[8], key[8];
    be64_put(old_key, old_seq);
    be64_put(key, seq);
    MDB_val k = {8, old_key}, v;
    int rc = mdb_get(w->txn, q->dbi[QL_DB_MSG], &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    /* The old copy is freed only at commit: the new one needs room. */
    int64_t cost = ops_entry_cost(w->ql, v.mv_size, false);
    if (w->space_left < cost)
        return MDB_MAP_FULL;
    w->space_left -= cost;
    uint8_t *record = malloc(v.mv_size);
    if (record == NULL)
        return ENOMEM;
    memcpy(record, v.mv_data, v.mv_size);
    codec_msg_set_sent_at(record, w->now_ms);
    MDB_val nk = {8, key}, nv = {v.mv_size, record};
    uint64_t sent_at = d->sent_at_ms;
    uint32_t body_bytes = d->body_bytes;
    rc = mdb_put(w->txn, q->dbi[QL_DB_MSG], &nk, &nv, MDB_APPEND);
    free(record);
    if (rc != 0)
        return rc;
    w->next_seq++;
    ql_state_t s = {.where = QL_READY,
                    .sent_at_ms = w->now_ms,
                    .body_bytes = body_bytes,
                    .first_error = "",
                    .last_error = "",
                    .failed_step = ""};
    uint8_t buf[QL_STATE_MAX], age_key[16];
    size_t len = codec_state_write(buf, &s);
    MDB_val sv = {len, buf};
    key_time_seq(age_key, sent_at, old_seq);
    MDB_val dk = {16, (void *)dlq_key}, ak = {16, age_key};
    if ((rc = mdb_put(w->txn, q->dbi[QL_DB_STATE], &nk, &sv, MDB_APPEND)) != 0 ||
        (rc = ops_put_ready(w, q, seq, true)) != 0 ||
        (rc = ops_put_id(w, q, d->message_id, seq, 0)) != 0 ||
        (rc = mdb_del(w->txn, q->dbi[QL_DB_MSG], &k, NULL)) != 0 ||
        (rc = mdb_del(w->txn, q->dbi[QL_DB_DLQ], &dk, NULL)) != 0 ||
        ((rc = mdb_del(w->txn, q->dbi[QL_DB_DLQ_AGE], &ak, NULL)) != 0 && rc != MDB_NOTFOUND))
        return rc;
    ql_touch(q);
    q->working.redriven++;
    return 0;
}

/* Positions on the first DLQ key after `after` (or the first key). */
static int dlq_next(MDB_cursor *cur, const uint8_t *after, MDB_val *k, MDB_val *v)
{
    if (after == NULL)
        return mdb_cursor_get(cur, k, v, MDB_FIRST);
    MDB_val seek = {16, (void *)after};
    *k = seek;
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && k->mv_size == 16 && memcmp(k->mv_data, after, 16) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
}

static int step_dlq(ql_wtxn_t *w, ql_task_t *task, MDB_cursor *cur)
{
    ql_queue_t *q = task->queue;
    uint64_t allowed = REDRIVE_STEP;
    if (task->kind == QL_TASK_REDRIVE && task->rate_per_s) {
        uint64_t seconds = w->now_ms > task->start_ms ? (w->now_ms - task->start_ms) / 1000 : 0;
        uint64_t total = (uint64_t)task->rate_per_s * (seconds + 1);
        allowed = total > task->step.affected ? total - task->step.affected : 0;
        allowed = allowed < REDRIVE_STEP ? allowed : REDRIVE_STEP;
    }
    int rc = 0;
    uint64_t moved = 0;
    for (size_t examined = 0; examined < SCAN_STEP && moved < allowed; examined++) {
        MDB_val k, v;
        bool from_start = task->kind != QL_TASK_REDRIVE || !task->step.has_resume;
        rc = dlq_next(cur, from_start ? NULL : task->step.resume_key, &k, &v);
        if (rc == 0 && (k.mv_size != 16 || memcmp(k.mv_data, task->step.end_key, 16) > 0))
            rc = MDB_NOTFOUND;
        if (rc != 0)
            break;
        uint8_t key[16];
        memcpy(key, k.mv_data, 16);
        ql_dlq_record_t d;
        if (codec_dlq_parse(&v, &d) < 0)
            return MDB_CORRUPTED;
        if (task->kind == QL_TASK_REDRIVE) {
            memcpy(task->step.resume_key, key, 16);
            task->step.has_resume = true;
            if (task->ids && !id_listed(task, d.message_id))
                continue;
            rc = redrive_one(w, q, key, &d);
            if (rc == MDB_MAP_FULL && moved > 0)
                return 0; /* moved what fits; the rest in a later step */
        } else {
            rc = ops_delete_dlq(w, q, key, d.sent_at_ms, d.body_bytes);
        }
        if (rc != 0)
            return rc;
        task->step.affected++;
        moved++;
    }
    if (rc == MDB_NOTFOUND) {
        task->step.finished = true;
        rc = 0;
    }
    return rc;
}

static int step_purge(ql_wtxn_t *w, ql_task_t *task, MDB_cursor *cur)
{
    int rc = 0;
    for (size_t n = 0; n < SCAN_STEP; n++) {
        MDB_val k, v;
        ql_state_t s;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) != 0)
            break;
        uint64_t seq = be64_get(k.mv_data);
        if (seq >= task->step.watermark_seq) {
            rc = MDB_NOTFOUND;
            break;
        }
        if (codec_state_parse(&v, &s) < 0)
            return MDB_CORRUPTED;
        if ((rc = ops_delete_live(w, task->queue, seq, &s)) != 0)
            return rc;
        task->step.affected++;
    }
    if (rc == MDB_NOTFOUND) {
        task->step.finished = true;
        rc = 0;
    }
    return rc;
}

int sweep_task_step(ql_wtxn_t *w, ql_task_t *task)
{
    ql_queue_t *q = task->queue;
    task->step.started = task->started;
    task->step.finished = task->finished;
    task->step.has_end = task->has_end;
    task->step.has_resume = task->has_resume;
    task->step.watermark_seq = task->watermark_seq;
    task->step.affected = task->affected;
    memcpy(task->step.end_key, task->end_key, 16);
    memcpy(task->step.resume_key, task->resume_key, 16);
    bool purge = task->kind == QL_TASK_PURGE;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(w->txn, q->dbi[purge ? QL_DB_STATE : QL_DB_DLQ], &cur);
    if (rc != 0)
        return rc;
    if (!task->step.started) {
        /* Only what exists when the task begins: later sends (purge) and
         * later dead letters (redrive, purge of the DLQ) are left alone. */
        task->step.started = true;
        task->step.watermark_seq = w->next_seq;
        MDB_val k, v;
        if (!purge) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
            if (rc == 0 && k.mv_size == 16) {
                memcpy(task->step.end_key, k.mv_data, 16);
                task->step.has_end = true;
            } else if (rc == 0 || rc == MDB_NOTFOUND) {
                task->step.finished = true;
                rc = 0;
            }
        }
    }
    if (rc == 0 && !task->step.finished)
        rc = purge ? step_purge(w, task, cur) : step_dlq(w, task, cur);
    mdb_cursor_close(cur);
    return rc;
}

/* ---- hot backup ---- */

typedef struct backup_job {
    ql_t *ql;
    keel_queue_done_fn done;
    void *arg;
    char path[];
} backup_job_t;

static void backup_work(void *arg)
{
    backup_job_t *job = arg;
    ql_t *ql = job->ql;
    uint64_t bytes = 0;
    char err[512];
    pthread_rwlock_rdlock(&ql->env_lock); /* no reopen while copying */
    int rc = ql->env ? lmdb_backup(ql->env, job->path, &bytes, err, sizeof err) : EIO;
    pthread_rwlock_unlock(&ql->env_lock);
    int status = rc == 0 ? 0 : rc == ENOSPC ? KEEL_EFULL : rc == ENOMEM ? KEEL_ENOMEM : KEEL_EIO;
    if (rc != 0)
        ql->host->log(ql->self, KEEL_LOG_ERROR, "backup: %s",
                      ql->env ? err : "the queue store is not open");
    else
        ql->host->log(ql->self, KEEL_LOG_INFO, "backup written to '%s' (%llu bytes)", job->path,
                      (unsigned long long)bytes);
    job->done(job->arg, status, bytes);
    free(job);
}

int sweep_backup(ql_t *ql, const char *path, keel_queue_done_fn done, void *arg)
{
    size_t len = strlen(path);
    backup_job_t *job = malloc(sizeof *job + len + 1);
    if (job == NULL)
        return KEEL_ENOMEM;
    job->ql = ql;
    job->done = done;
    job->arg = arg;
    memcpy(job->path, path, len + 1);
    int rc = ql->host->submit(ql->self, backup_work, job);
    if (rc != 0)
        free(job);
    return rc;
}
