/* admin.c — /api/v1/admin/queues...: queue stats, DLQ peek (a page, or
 * one message by id), redrive and purge against the configured queue
 * instance; /api/v1/admin/plugins (instances, modules, versions, health).
 * The backup routes are in backup.c.
 *
 * stats() and dlq_list() are short synchronous reads and run on the loop.
 * Redrive and purge are asynchronous: their completion runs on a queue
 * thread and is posted back to the loop (http_pending_post). The request
 * waits for it up to ASYNC_WAIT_MS: finished by then, it answers 200
 * {"moved": N} / {"deleted": N}; otherwise 202 {"redriving": true} /
 * {"purging": true} and the outcome is only logged. */
#include "http.h"
#include "jsoncheck.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ASYNC_WAIT_MS = 2000, MAX_QUEUES = 256, DLQ_DEFAULT_LIMIT = 100, DLQ_MAX_LIMIT = 1000 };

static void send_json(http_exchange_t *ex, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    if (text == NULL)
        http_error(ex, 500, "internal", "out of memory");
    else
        http_respond_json(ex, status, text);
    free(text);
    json_decref(j);
}

static void queue_error(http_exchange_t *ex, int rc)
{
    const keel_host_api_t *host = ex->loop->srv->host;
    if (rc == KEEL_ESHUTDOWN || rc == KEEL_EUNAVAIL || rc == KEEL_EFULL) {
        http_add_header(ex, "Retry-After", "1");
        http_error(ex, 503, "unavailable", "queue: %s", host->strerror(rc));
    } else if (rc == KEEL_EEXIST) { /* only a redrive says so */
        http_error(ex, 409, "conflict",
                   "a redrive of this queue is still running; try again once it finished");
    } else {
        http_error(ex, 500, "internal", "queue: %s", host->strerror(rc));
    }
}

static bool queue_exists(http_server_t *srv, const char *name)
{
    const char *names[MAX_QUEUES];
    size_t n = srv->queue->list_queues(srv->queue_ctx, names, MAX_QUEUES);
    for (size_t i = 0; i < n && i < MAX_QUEUES; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static json_t *rfc3339(uint64_t ms)
{
    if (ms == 0)
        return json_null();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char text[64];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(text);
}

static void list_queues(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    const char *names[MAX_QUEUES];
    size_t n = srv->queue->list_queues(srv->queue_ctx, names, MAX_QUEUES);
    json_t *queues = json_array();
    for (size_t i = 0; i < n && i < MAX_QUEUES; i++) {
        keel_queue_stats_t st;
        int rc = srv->queue->stats(srv->queue_ctx, names[i], &st);
        if (rc != 0) {
            json_decref(queues);
            queue_error(ex, rc);
            return;
        }
        json_array_append_new(
            queues,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
                      "s:I}}",
                      "name", names[i], "visible", (json_int_t)st.visible, "in_flight",
                      (json_int_t)st.in_flight, "delayed", (json_int_t)st.delayed, "dlq_depth",
                      (json_int_t)st.dlq_depth, "bytes", (json_int_t)st.bytes, "oldest_age_seconds",
                      (double)st.oldest_age_ms / 1000.0, "dlq_oldest_age_seconds",
                      (double)st.dlq_oldest_age_ms / 1000.0, "counters", "sent",
                      (json_int_t)st.sent, "received", (json_int_t)st.received, "deleted",
                      (json_int_t)st.deleted, "retried", (json_int_t)st.retried, "dead_lettered",
                      (json_int_t)st.dead_lettered, "redriven", (json_int_t)st.redriven, "expired",
                      (json_int_t)st.expired));
    }
    send_json(ex, 200, json_pack("{s:o}", "queues", queues));
}

static json_t *dlq_entry_json(const keel_queue_dlq_entry_t *e)
{
    json_t *attrs = json_object();
    for (size_t i = 0; i < e->attr_count; i++)
        json_object_set_new(attrs, e->attrs[i].key, json_string(e->attrs[i].value));
    json_t *body;
    const char *encoding = "utf-8";
    if (utf8_valid(e->body, e->body_len)) {
        body = json_stringn(e->body, e->body_len);
    } else {
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *s = e->body;
        size_t n = e->body_len, o = 0;
        char *text = malloc((n + 2) / 3 * 4 + 1);
        for (size_t i = 0; text && i < n; i += 3) {
            unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                         (i + 2 < n ? s[i + 2] : 0);
            text[o++] = b64[v >> 18 & 63];
            text[o++] = b64[v >> 12 & 63];
            text[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
            text[o++] = i + 2 < n ? b64[v & 63] : '=';
        }
        body = text ? json_stringn(text, o) : json_null();
        free(text);
        encoding = "base64";
    }
    return json_pack("{s:s, s:o, s:s, s:o, s:i, s:s, s:s, s:s?, s:o, s:o, s:o, s:o}", "message_id",
                     e->message_id, "body", body, "body_encoding", encoding, "attributes", attrs,
                     "receive_count", (int)e->receive_count, "first_error",
                     e->first_error ? e->first_error : "", "last_error",
                     e->last_error ? e->last_error : "", "failed_step", e->failed_step, "sent_at",
                     rfc3339(e->sent_at_ms), "first_received_at", rfc3339(e->first_received_at_ms),
                     "last_received_at", rfc3339(e->last_received_at_ms), "dead_lettered_at",
                     rfc3339(e->dead_lettered_at_ms));
}

static void dlq_list(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    struct evkeyvalq query;
    http_page_t paging;
    if (!http_query_page(ex, &query, DLQ_DEFAULT_LIMIT, DLQ_MAX_LIMIT, &paging))
        return;
    keel_queue_dlq_page_t *page = NULL;
    int rc =
        srv->queue->dlq_list(srv->queue_ctx, ex->match.param, paging.cursor, paging.limit, &page);
    evhttp_clear_headers(&query);
    if (rc == KEEL_EINVAL) {
        http_error(ex, 400, "bad_request", "invalid cursor");
        return;
    }
    if (rc != 0) {
        queue_error(ex, rc);
        return;
    }
    json_t *entries = json_array();
    for (size_t i = 0; i < page->count; i++)
        json_array_append_new(entries, dlq_entry_json(&page->entries[i]));
    json_t *next = page->next_cursor ? json_string(page->next_cursor) : json_null();
    srv->queue->dlq_page_free(srv->queue_ctx, page);
    send_json(ex, 200,
              json_pack("{s:s, s:o, s:o}", "queue", ex->match.param, "messages", entries,
                        "next_cursor", next));
}

/* One DLQ message by id: locate() says at once whether it is dead; then
 * the DLQ is scanned page by page (oldest first) for its entry. */
static void dlq_show(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    const char *queue = ex->match.param, *id = ex->match.param2;
    if (KEEL_HAS(srv->queue, keel_queue_api_t, locate)) {
        keel_queue_location_t where;
        int rc = srv->queue->locate(srv->queue_ctx, queue, id, &where);
        if (rc == KEEL_EINVAL || (rc == 0 && where.where != KEEL_QUEUE_DEAD)) {
            http_error(ex, 404, "not_found", "no message '%s' in the DLQ of '%s'", id, queue);
            return;
        }
        if (rc != 0) {
            queue_error(ex, rc);
            return;
        }
    }
    char *cursor = NULL;
    for (;;) {
        keel_queue_dlq_page_t *page = NULL;
        int rc = srv->queue->dlq_list(srv->queue_ctx, queue, cursor, DLQ_MAX_LIMIT, &page);
        free(cursor);
        cursor = NULL;
        if (rc != 0) {
            queue_error(ex, rc);
            return;
        }
        for (size_t i = 0; i < page->count; i++) {
            if (strcmp(page->entries[i].message_id, id) != 0)
                continue;
            json_t *entry = dlq_entry_json(&page->entries[i]);
            srv->queue->dlq_page_free(srv->queue_ctx, page);
            if (entry != NULL)
                json_object_set_new(entry, "queue", json_string(queue));
            send_json(ex, 200, entry);
            return;
        }
        if (page->next_cursor != NULL && (cursor = strdup(page->next_cursor)) == NULL) {
            srv->queue->dlq_page_free(srv->queue_ctx, page);
            http_error(ex, 500, "internal", "out of memory");
            return;
        }
        srv->queue->dlq_page_free(srv->queue_ctx, page);
        if (cursor == NULL)
            break;
    }
    http_error(ex, 404, "not_found", "no message '%s' in the DLQ of '%s'", id, queue);
}

/* Every instance of the configuration with its module, version and health
 * (host API 1.4; an older keeld answers 501). */
static void list_plugins(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    const keel_host_api_t *host = srv->host;
    if (!KEEL_HAS(host, keel_host_api_t, instance_info)) {
        http_error(ex, 501, "not_implemented", "this keeld cannot list its instances (ABI < 1.4)");
        return;
    }
    json_t *list = json_array();
    keel_instance_info_t info;
    for (size_t i = 0; host->instance_info(srv->self, i, &info) == 0; i++) {
        const char *health = !info.started      ? "stopped"
                             : !info.has_health ? "unknown"
                             : info.health == 0 ? "ok"
                                                : "unhealthy";
        json_t *item = json_pack("{s:s, s:s, s:s, s:b, s:s}", "name", info.name, "module",
                                 info.module ? info.module : "", "version", info.version, "started",
                                 info.started, "health", health);
        if (item != NULL && info.health != 0)
            json_object_set_new(item, "reason", json_string(info.why));
        json_array_append_new(list, item);
    }
    const char *version = KEEL_HAS(host, keel_host_api_t, version) ? host->version() : "";
    send_json(ex, 200, json_pack("{s:s, s:o}", "keel_version", version, "plugins", list));
}

/* ---- asynchronous calls ---- */

static void on_queue_done(void *arg, int status, uint64_t affected)
{
    http_pending_t *p = arg;
    p->status = status;
    p->affected = affected;
    http_pending_post(p);
}

static void finish_async(http_pending_t *p, bool timed_out)
{
    http_server_t *srv = p->loop->srv;
    bool redrive = p->ex && p->ex->match.route == ROUTE_ADMIN_DLQ_REDRIVE;
    if (p->ex != NULL) {
        http_exchange_t *ex = p->ex;
        p->ex = NULL;
        if (timed_out) {
            http_respond_json(ex, 202, redrive ? "{\"redriving\":true}" : "{\"purging\":true}");
            return; /* p lives on until the queue's callback */
        }
        if (p->status != 0) {
            queue_error(ex, p->status);
        } else {
            char text[64];
            snprintf(text, sizeof text, redrive ? "{\"moved\":%llu}" : "{\"deleted\":%llu}",
                     (unsigned long long)p->affected);
            http_respond_json(ex, 200, text);
        }
    } else {
        srv->host->log(srv->self, p->status ? KEEL_LOG_WARN : KEEL_LOG_INFO,
                       "background DLQ operation finished: status %s, %llu messages",
                       p->status ? srv->host->strerror(p->status) : "ok",
                       (unsigned long long)p->affected);
    }
    http_pending_free(p);
}

static void on_finish(http_pending_t *p)
{
    finish_async(p, false);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    finish_async(arg, true);
}

/* What a redrive keeps until its callback: the parsed body owns the id
 * strings, the array points into it. */
typedef struct redrive_data {
    json_t *body;
    const char **ids;
} redrive_data_t;

static void free_redrive_data(void *data)
{
    redrive_data_t *d = data;
    json_decref(d->body);
    free(d->ids);
    free(d);
}

static http_pending_t *pending_new(http_exchange_t *ex)
{
    http_pending_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->ex = ex;
    p->loop = ex->loop;
    p->finish = on_finish;
    p->timer = evtimer_new(ex->loop->base, on_wait_timeout, p);
    if (p->timer == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

/* Starts the call (0) or answers the error and frees p. */
static void pending_started(http_pending_t *p, int rc)
{
    http_server_t *srv = p->loop->srv;
    if (rc != 0) {
        atomic_fetch_sub(&srv->outstanding, 1);
        http_exchange_t *ex = p->ex;
        p->ex = NULL;
        queue_error(ex, rc);
        http_pending_free(p);
        return;
    }
    struct timeval tv = {.tv_sec = ASYNC_WAIT_MS / 1000, .tv_usec = ASYNC_WAIT_MS % 1000 * 1000};
    evtimer_add(p->timer, &tv);
}

static void dlq_redrive(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    size_t len;
    char *text = http_json_body(ex, &len, true);
    if (text == NULL)
        return;
    json_t *body = NULL, *ids = NULL;
    json_int_t rate = 0;
    if (len > 0) {
        json_error_t err;
        body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
        free(text);
        text = NULL;
        if (body == NULL || !json_is_object(body)) {
            json_decref(body);
            http_error(ex, 400, "bad_request", "malformed JSON: %s",
                       body ? "expected an object" : err.text);
            return;
        }
        ids = json_object_get(body, "ids");
        json_t *rate_json = json_object_get(body, "rate_per_second");
        bool ok = ids == NULL || json_is_array(ids);
        for (size_t i = 0; ok && ids && i < json_array_size(ids); i++)
            ok = json_is_string(json_array_get(ids, i));
        if (rate_json != NULL) {
            ok = ok && json_is_integer(rate_json);
            rate = ok ? json_integer_value(rate_json) : 0;
            ok = ok && rate >= 0 && rate <= 100000;
        }
        if (!ok || json_object_size(body) > (size_t)(ids != NULL) + (rate_json != NULL)) {
            json_decref(body);
            http_error(ex, 400, "bad_request",
                       "expected {\"ids\": [string...], \"rate_per_second\": integer >= 0}, "
                       "both optional");
            return;
        }
    }
    free(text);
    http_pending_t *p = pending_new(ex);
    size_t id_count = ids ? json_array_size(ids) : 0;
    redrive_data_t *data = calloc(1, sizeof *data);
    if (data != NULL) {
        data->body = body;
        data->ids = calloc(id_count ? id_count : 1, sizeof *data->ids);
    }
    if (p == NULL || data == NULL || data->ids == NULL) {
        if (p != NULL) {
            p->ex = NULL;
            http_pending_free(p);
        }
        if (data != NULL)
            free_redrive_data(data);
        else
            json_decref(body);
        http_error(ex, 500, "internal", "out of memory");
        return;
    }
    for (size_t i = 0; i < id_count; i++)
        data->ids[i] = json_string_value(json_array_get(ids, i));
    p->data = data;
    p->free_data = free_redrive_data;
    atomic_fetch_add(&srv->outstanding, 1);
    int rc = srv->queue->dlq_redrive(srv->queue_ctx, ex->match.param,
                                     ids ? (const char *const *)data->ids : NULL, id_count,
                                     (uint32_t)rate, on_queue_done, p);
    pending_started(p, rc);
}

static void dlq_purge(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    http_pending_t *p = pending_new(ex);
    if (p == NULL) {
        http_error(ex, 500, "internal", "out of memory");
        return;
    }
    atomic_fetch_add(&srv->outstanding, 1);
    int rc = srv->queue->purge(srv->queue_ctx, ex->match.param, true, on_queue_done, p);
    pending_started(p, rc);
}

void http_admin(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    switch (ex->match.route) {
    case ROUTE_ADMIN_PLUGINS:
        list_plugins(ex);
        return;
    case ROUTE_ADMIN_BACKUP_START:
    case ROUTE_ADMIN_BACKUP_STATUS:
        http_backup(ex);
        return;
    default:
        break;
    }
    if (srv->queue == NULL) {
        http_error(ex, 404, "not_found", "no queue instance is configured (http config `queue`)");
        return;
    }
    if (ex->match.route != ROUTE_ADMIN_QUEUES && !queue_exists(srv, ex->match.param)) {
        http_error(ex, 404, "not_found", "no queue named '%s'", ex->match.param);
        return;
    }
    switch (ex->match.route) {
    case ROUTE_ADMIN_QUEUES:
        list_queues(ex);
        return;
    case ROUTE_ADMIN_DLQ_LIST:
        dlq_list(ex);
        return;
    case ROUTE_ADMIN_DLQ_REDRIVE:
        dlq_redrive(ex);
        return;
    case ROUTE_ADMIN_DLQ_PURGE:
        dlq_purge(ex);
        return;
    case ROUTE_ADMIN_DLQ_SHOW:
        dlq_show(ex);
        return;
    default:
        http_error(ex, 404, "not_found", "no such route");
        return;
    }
}
