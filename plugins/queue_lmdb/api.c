/*
 * api.c — the keel_queue_api_t functions. Each checks its arguments, copies
 * everything it needs into one request (callers' memory is borrowed only
 * for the call) and hands it to the writer; stats(), locate() and
 * dlq_list() are short reads on the calling thread.
 */
#include "queue_lmdb.h"

#include <stdlib.h>
#include <string.h>

ql_queue_t *ql_find_queue(ql_t *ql, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < ql->queue_count; i++)
        if (strcmp(ql->queues[i].name, name) == 0)
            return &ql->queues[i];
    return NULL;
}

/* A zeroed request of `size` bytes (the struct and what follows it). */
static ql_request_t *request_new(ql_request_kind_t kind, ql_queue_t *q, size_t size, void *arg)
{
    ql_request_t *req = calloc(1, size);
    if (req != NULL) {
        req->kind = kind;
        req->queue = q;
        req->arg = arg;
    }
    return req;
}

static int submit(ql_t *ql, ql_request_t *req)
{
    int rc = writer_submit(ql, req);
    if (rc == KEEL_EFULL && req->kind == QL_REQ_SEND)
        ql->host->metric_add(req->queue->metrics.full, (double)req->u.send.count);
    if (rc != 0)
        free(req);
    return rc;
}

/* At most QL_MAX_ATTRS attributes, each with a non-empty key. */
static bool attrs_valid(const keel_queue_entry_t *e)
{
    if (e->attr_count > QL_MAX_ATTRS || (e->attr_count && e->attrs == NULL))
        return false;
    for (size_t i = 0; i < e->attr_count; i++) {
        const keel_attr_t *a = &e->attrs[i];
        if (a->key == NULL || a->value == NULL || a->key[0] == '\0' ||
            strnlen(a->key, QL_MAX_ATTR_KEY + 1) > QL_MAX_ATTR_KEY ||
            strnlen(a->value, QL_MAX_ATTR_VALUE + 1) > QL_MAX_ATTR_VALUE)
            return false;
    }
    return true;
}

static bool entry_valid(const ql_queue_t *q, const keel_queue_entry_t *e, size_t *record_len)
{
    if ((e->body == NULL && e->body_len > 0) || e->delay_s > QL_MAX_DELAY_S || !attrs_valid(e))
        return false;
    if (e->dedup_id &&
        (e->dedup_id[0] == '\0' || strnlen(e->dedup_id, QL_MAX_DEDUP_ID + 1) > QL_MAX_DEDUP_ID))
        return false;
    if (e->body_len > q->max_message_size)
        return false;
    *record_len = codec_msg_record_size(e->attrs, e->attr_count, e->body_len);
    /* Attribute keys and values count towards the size limit, as in SQS. */
    size_t overhead = codec_msg_record_size(NULL, 0, 0) + 6 * e->attr_count;
    return *record_len - overhead <= q->max_message_size;
}

static int api_send(void *ctx, const char *queue, const keel_queue_entry_t *entries, size_t count,
                    keel_queue_send_fn done, void *arg)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL || entries == NULL || done == NULL || count < 1 || count > KEEL_QUEUE_MAX_BATCH)
        return KEEL_EINVAL;
    size_t lengths[KEEL_QUEUE_MAX_BATCH], total = sizeof(ql_request_t);
    bool valid[KEEL_QUEUE_MAX_BATCH];
    for (size_t i = 0; i < count; i++) {
        valid[i] = entry_valid(q, &entries[i], &lengths[i]);
        if (valid[i])
            total += lengths[i] + (entries[i].dedup_id ? strlen(entries[i].dedup_id) + 1 : 0);
    }
    ql_request_t *req = request_new(QL_REQ_SEND, q, total, arg);
    if (req == NULL)
        return KEEL_ENOMEM;
    req->u.send.done = done;
    req->u.send.count = count;
    uint8_t *at = (uint8_t *)(req + 1);
    for (size_t i = 0; i < count; i++) {
        ql_send_entry_t *e = &req->u.send.entries[i];
        const keel_queue_entry_t *in = &entries[i];
        if (!valid[i]) {
            e->status = KEEL_EINVAL;
            continue;
        }
        char id[KEEL_ID_LEN + 1];
        ql->host->new_id(id);
        e->record = at;
        e->record_len = lengths[i];
        codec_msg_record_write(at, id, in->attrs, in->attr_count, in->body, in->body_len);
        at += lengths[i];
        e->body_len = (uint32_t)in->body_len;
        e->delay_ms = in->delay_s ? (uint64_t)in->delay_s * 1000 : q->delay_ms;
        if (in->dedup_id) {
            size_t len = strlen(in->dedup_id) + 1;
            memcpy(at, in->dedup_id, len);
            e->dedup_id = (const char *)at;
            at += len;
        }
    }
    return submit(ql, req);
}

static int api_receive(void *ctx, const char *queue, size_t max, uint32_t visibility_s,
                       uint32_t wait_ms, keel_queue_receive_fn done, void *arg)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL || done == NULL || max < 1 || max > KEEL_QUEUE_MAX_BATCH ||
        visibility_s > QL_MAX_VISIBILITY_S || wait_ms > 20000)
        return KEEL_EINVAL;
    ql_request_t *req = request_new(QL_REQ_RECEIVE, q, sizeof(ql_request_t), arg);
    if (req == NULL)
        return KEEL_ENOMEM;
    req->u.receive.done = done;
    req->u.receive.max = max;
    req->u.receive.visibility_ms = visibility_s ? (uint64_t)visibility_s * 1000 : q->visibility_ms;
    req->u.receive.wait_until_mono_ms = wait_ms ? ql_monotonic_ms() + wait_ms : 0;
    return submit(ql, req);
}

static void api_batch_free(void *ctx, keel_queue_batch_t *batch)
{
    (void)ctx;
    if (batch)
        ql_batch_free((ql_batch_t *)batch);
}

static size_t text_size(const char *text)
{
    size_t len = text ? strnlen(text, QL_MAX_TEXT) : 0;
    return len + 1;
}

static const char *copy_text(uint8_t **at, const char *text)
{
    size_t len = text_size(text) - 1;
    char *out = (char *)*at;
    if (len)
        memcpy(out, text, len);
    out[len] = '\0';
    *at += len + 1;
    return out;
}

static int api_settle(void *ctx, const char *queue, const keel_queue_settle_t *items, size_t count,
                      keel_queue_settle_fn done, void *arg)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL || items == NULL || done == NULL || count < 1 || count > KEEL_QUEUE_MAX_BATCH)
        return KEEL_EINVAL;
    size_t total = sizeof(ql_request_t);
    for (size_t i = 0; i < count; i++)
        total += text_size(items[i].error) + text_size(items[i].failed_step);
    ql_request_t *req = request_new(QL_REQ_SETTLE, q, total, arg);
    if (req == NULL)
        return KEEL_ENOMEM;
    req->u.settle.done = done;
    req->u.settle.count = count;
    uint8_t *at = (uint8_t *)(req + 1);
    for (size_t i = 0; i < count; i++) {
        ql_settle_item_t *item = &req->u.settle.items[i];
        keel_result_t result = items[i].result;
        item->valid = codec_receipt_parse(items[i].receipt, &item->receipt) == 0 &&
                      (result == KEEL_OK || result == KEEL_RETRY || result == KEEL_FAIL);
        item->result = result;
        item->error = copy_text(&at, items[i].error);
        item->failed_step = copy_text(&at, items[i].failed_step);
    }
    return submit(ql, req);
}

static int api_change_visibility(void *ctx, const char *queue, const char *receipt,
                                 uint32_t timeout_s, keel_queue_done_fn done, void *arg)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    ql_receipt_t parsed;
    if (q == NULL || done == NULL || timeout_s > QL_MAX_VISIBILITY_S ||
        codec_receipt_parse(receipt, &parsed) < 0)
        return KEEL_EINVAL;
    ql_request_t *req = request_new(QL_REQ_VISIBILITY, q, sizeof(ql_request_t), arg);
    if (req == NULL)
        return KEEL_ENOMEM;
    req->u.visibility.done = done;
    req->u.visibility.receipt = parsed;
    req->u.visibility.valid = true;
    req->u.visibility.timeout_ms = (uint64_t)timeout_s * 1000;
    return submit(ql, req);
}

static int api_stats(void *ctx, const char *queue, keel_queue_stats_t *out)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL || out == NULL)
        return KEEL_EINVAL;
    return store_stats(ql, q, ql->host->now_ms(ql->self), out);
}

static int api_dlq_list(void *ctx, const char *queue, const char *cursor, size_t limit,
                        keel_queue_dlq_page_t **out)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL)
        return KEEL_EINVAL;
    return store_dlq_list(ql, q, cursor, limit, out);
}

static void api_dlq_page_free(void *ctx, keel_queue_dlq_page_t *page)
{
    (void)ctx;
    store_dlq_page_free(page);
}

/* Exactly KEEL_ID_LEN characters of the alphabet of the host's ids
 * (Crockford base32, upper case): anything else cannot be a message id. */
static bool id_valid(const char *id)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    return id != NULL && strnlen(id, KEEL_ID_LEN + 1) == KEEL_ID_LEN &&
           strspn(id, alphabet) == KEEL_ID_LEN;
}

static int api_locate(void *ctx, const char *queue, const char *message_id,
                      keel_queue_location_t *out)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL || out == NULL || !id_valid(message_id))
        return KEEL_EINVAL;
    return store_locate(ql, q, message_id, ql->host->now_ms(ql->self), out);
}

static int api_list_messages(void *ctx, const char *queue, const char *cursor, size_t limit,
                             keel_queue_list_page_t **out)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL)
        return KEEL_EINVAL;
    return store_list_messages(ql, q, cursor, limit, out);
}

static void api_list_page_free(void *ctx, keel_queue_list_page_t *page)
{
    (void)ctx;
    store_list_page_free(page);
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int submit_task(ql_t *ql, ql_task_t *task)
{
    task->request.kind = QL_REQ_TASK;
    task->request.queue = task->queue;
    task->request.u.task = task;
    task->start_ms = ql->host->now_ms(ql->self);
    int rc = writer_submit(ql, &task->request);
    if (rc != 0) {
        for (size_t i = 0; i < task->id_count; i++)
            free(task->ids[i]);
        free(task->ids);
        free(task);
    }
    return rc;
}

static int redrive_submit(ql_t *ql, ql_queue_t *q, const char *const *ids, size_t id_count,
                          uint32_t rate_per_s, keel_queue_done_fn done, void *arg);

static int api_dlq_redrive(void *ctx, const char *queue, const char *const *ids, size_t id_count,
                           uint32_t rate_per_s, keel_queue_done_fn done, void *arg)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL || done == NULL || (ids == NULL && id_count > 0))
        return KEEL_EINVAL;
    for (size_t i = 0; ids && i < id_count; i++)
        if (ids[i] == NULL)
            return KEEL_EINVAL;
    /* One redrive per queue at a time: a second one would bypass the
     * first one's rate limit. Cleared when its callback runs. */
    pthread_mutex_lock(&ql->lock);
    bool running = q->redriving;
    q->redriving = true;
    pthread_mutex_unlock(&ql->lock);
    if (running)
        return KEEL_EEXIST;
    int rc = redrive_submit(ql, q, ids, id_count, rate_per_s, done, arg);
    if (rc != 0) {
        pthread_mutex_lock(&ql->lock);
        q->redriving = false;
        pthread_mutex_unlock(&ql->lock);
    }
    return rc;
}

static int redrive_submit(ql_t *ql, ql_queue_t *q, const char *const *ids, size_t id_count,
                          uint32_t rate_per_s, keel_queue_done_fn done, void *arg)
{
    ql_task_t *task = calloc(1, sizeof *task);
    if (task == NULL)
        return KEEL_ENOMEM;
    task->kind = QL_TASK_REDRIVE;
    task->queue = q;
    task->done = done;
    task->arg = arg;
    task->rate_per_s = rate_per_s;
    if (ids) {
        /* An empty list still means "only these": nothing moves. */
        task->ids = calloc(id_count ? id_count : 1, sizeof *task->ids);
        for (size_t i = 0; task->ids && i < id_count; i++, task->id_count++)
            if ((task->ids[i] = strdup(ids[i])) == NULL)
                break;
        if (task->ids == NULL || task->id_count < id_count) {
            for (size_t i = 0; i < task->id_count; i++)
                free(task->ids[i]);
            free(task->ids);
            free(task);
            return KEEL_ENOMEM;
        }
        qsort(task->ids, task->id_count, sizeof *task->ids, compare_ids);
    }
    return submit_task(ql, task);
}

static int api_purge(void *ctx, const char *queue, bool dlq, keel_queue_done_fn done, void *arg)
{
    ql_t *ql = ctx;
    ql_queue_t *q = ql_find_queue(ql, queue);
    if (q == NULL || done == NULL)
        return KEEL_EINVAL;
    ql_task_t *task = calloc(1, sizeof *task);
    if (task == NULL)
        return KEEL_ENOMEM;
    task->kind = dlq ? QL_TASK_PURGE_DLQ : QL_TASK_PURGE;
    task->queue = q;
    task->done = done;
    task->arg = arg;
    return submit_task(ql, task);
}

static int api_backup(void *ctx, const char *path, keel_queue_done_fn done, void *arg)
{
    ql_t *ql = ctx;
    if (path == NULL || path[0] == '\0' || done == NULL)
        return KEEL_EINVAL;
    pthread_mutex_lock(&ql->lock);
    bool accepting = ql->accepting;
    pthread_mutex_unlock(&ql->lock);
    if (!accepting)
        return KEEL_ESHUTDOWN;
    return sweep_backup(ql, path, done, arg);
}

static size_t api_list_queues(void *ctx, const char **names, size_t max)
{
    ql_t *ql = ctx;
    for (size_t i = 0; names && i < max && i < ql->queue_count; i++)
        names[i] = ql->queue_names[i];
    return ql->queue_count;
}

const keel_queue_api_t ql_queue_api = {
    .struct_size = sizeof(keel_queue_api_t),
    .send = api_send,
    .receive = api_receive,
    .batch_free = api_batch_free,
    .settle = api_settle,
    .change_visibility = api_change_visibility,
    .stats = api_stats,
    .dlq_list = api_dlq_list,
    .dlq_page_free = api_dlq_page_free,
    .dlq_redrive = api_dlq_redrive,
    .purge = api_purge,
    .backup = api_backup,
    .list_queues = api_list_queues,
    .locate = api_locate,
    .list_messages = api_list_messages,
    .list_page_free = api_list_page_free,
};
