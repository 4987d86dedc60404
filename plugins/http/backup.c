/* backup.c — POST /api/v1/admin/backup {"dest": "/abs/dir"} and GET
 * /api/v1/admin/backup: a hot backup of the queue and store instances
 * while keel runs, polled for progress (keelctl backup).
 *
 * DEST must be absent or an empty directory; it receives
 * DEST/<queue instance>/data.mdb, DEST/<store instance>/data.mdb (when the
 * store provides backup()) and DEST/manifest.json, written last, so a
 * directory with a manifest is a complete backup. Each copy is a
 * consistent point in time of its env (LMDB copies from one read txn);
 * the queue is copied first, then the store: the recovery point of each
 * file is the start of its copy (its "started_at" in the manifest).
 *
 * One backup runs at a time (another POST answers 409). The POST answers
 * 202 at once; the copies run on the providers' worker threads, whose
 * callbacks update the state under its lock. The state holds everything
 * the callbacks need (never the server), so a backup still running at
 * shutdown only leaks it. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { BACKUP_FILES = 2, DEST_MAX = 2048 };

typedef enum backup_state {
    BACKUP_IDLE,
    BACKUP_RUNNING,
    BACKUP_DONE,
    BACKUP_FAILED
} backup_state_t;

typedef struct backup_file {
    char instance[ROUTE_PARAM_MAX + 1];
    char module[ROUTE_PARAM_MAX + 1];
    const char *service; /* "queue" or "store" */
    const char *what;
    uint64_t started_at_ms, finished_at_ms, bytes;
    int status;
    bool done;
} backup_file_t;

struct http_backup {
    pthread_mutex_t lock;
    /* fixed for the process: */
    keel_plugin_t *self;
    const keel_host_api_t *host;
    /* under lock: the running or last backup */
    backup_state_t state;
    char id[KEEL_ID_LEN + 1];
    char dest[DEST_MAX];
    char error[512];
    uint64_t started_at_ms, finished_at_ms;
    backup_file_t files[BACKUP_FILES];
    size_t file_count;
    const keel_queue_api_t *queue;
    void *queue_ctx;
    const keel_store_api_t *store; /* NULL: the store is not copied */
    void *store_ctx;
};

struct http_backup *http_backup_new(void)
{
    struct http_backup *b = calloc(1, sizeof *b);
    if (b != NULL && pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        return NULL;
    }
    return b;
}

bool http_backup_free(struct http_backup *b)
{
    pthread_mutex_lock(&b->lock);
    bool running = b->state == BACKUP_RUNNING;
    pthread_mutex_unlock(&b->lock);
    if (running)
        return false;
    pthread_mutex_destroy(&b->lock);
    free(b);
    return true;
}

static json_t *time_json(uint64_t ms)
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

/* The state as JSON (lock held). */
static json_t *state_json(const struct http_backup *b, bool manifest)
{
    static const char *const names[] = {"idle", "running", "done", "failed"};
    json_t *files = json_array();
    size_t done = 0;
    for (size_t i = 0; i < b->file_count; i++) {
        const backup_file_t *f = &b->files[i];
        char path[ROUTE_PARAM_MAX + 16];
        snprintf(path, sizeof path, "%s/data.mdb", f->instance);
        done += f->done;
        json_t *item =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "file", path, "instance",
                      f->instance, "module", f->module, "service", f->service, "what", f->what,
                      "bytes", (json_int_t)f->bytes, "started_at", time_json(f->started_at_ms),
                      "finished_at", time_json(f->finished_at_ms));
        if (item != NULL && !manifest)
            json_object_set_new(item, "done", json_boolean(f->done));
        json_array_append_new(files, item);
    }
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o}", "backup_id", b->id, "dest", b->dest,
                          "started_at", time_json(b->started_at_ms), "finished_at",
                          time_json(b->finished_at_ms), "files", files);
    if (j == NULL)
        return NULL;
    if (manifest) {
        json_object_set_new(j, "format", json_integer(1));
        json_object_set_new(
            j, "keel_version",
            json_string(KEEL_HAS(b->host, keel_host_api_t, version) ? b->host->version() : ""));
        json_object_set_new(j, "consistency",
                            json_string("each file is a consistent point-in-time copy of one "
                                        "LMDB env as of its started_at; the queue is copied "
                                        "before the store"));
    } else {
        json_object_set_new(j, "state", json_string(names[b->state]));
        json_object_set_new(j, "steps_total", json_integer((json_int_t)b->file_count + 1));
        json_object_set_new(j, "steps_done",
                            json_integer((json_int_t)(done + (b->state == BACKUP_DONE))));
        if (b->error[0])
            json_object_set_new(j, "error", json_string(b->error));
    }
    return j;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* DEST/manifest.json, written like the copies: temp file, fsync, rename,
 * fsync the directory. Lock held. */
static int write_manifest(struct http_backup *b)
{
    json_t *j = state_json(b, true);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (text == NULL)
        return ENOMEM;
    char tmp[DEST_MAX + 32], path[DEST_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/.manifest.json.tmp", b->dest);
    snprintf(path, sizeof path, "%s/manifest.json", b->dest);
    int rc = 0;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        rc = errno;
    } else {
        if (fputs(text, f) == EOF || fputc('\n', f) == EOF || fflush(f) != 0 ||
            fsync(fileno(f)) != 0)
            rc = errno ? errno : EIO;
        if (fclose(f) != 0 && rc == 0)
            rc = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc == 0 && fsync_dir(b->dest) != 0)
        rc = errno;
    if (rc != 0)
        unlink(tmp);
    free(text);
    return rc;
}

/* Ends the backup (lock held). */
static void finish(struct http_backup *b, int status, const char *what)
{
    b->finished_at_ms = b->host->now_ms(b->self);
    if (status == 0) {
        int rc = write_manifest(b);
        if (rc != 0) {
            snprintf(b->error, sizeof b->error, "cannot write manifest.json: %s", strerror(rc));
            status = KEEL_EIO;
        }
    } else if (b->error[0] == '\0') {
        snprintf(b->error, sizeof b->error, "%s: %s", what, b->host->strerror(status));
    }
    b->state = status == 0 ? BACKUP_DONE : BACKUP_FAILED;
    b->host->log(b->self, status == 0 ? KEEL_LOG_INFO : KEEL_LOG_ERROR, "backup %s to '%s' %s%s",
                 b->id, b->dest, status == 0 ? "complete" : "failed: ", status ? b->error : "");
}

static void on_store_done(void *arg, int status, uint64_t bytes)
{
    struct http_backup *b = arg;
    pthread_mutex_lock(&b->lock);
    backup_file_t *f = &b->files[1];
    f->status = status;
    f->bytes = bytes;
    f->finished_at_ms = b->host->now_ms(b->self);
    f->done = status == 0;
    finish(b, status, "store copy");
    pthread_mutex_unlock(&b->lock);
}

static void file_path(const struct http_backup *b, const backup_file_t *f, char *out, size_t cap)
{
    snprintf(out, cap, "%.2047s/%.128s/data.mdb", b->dest, f->instance);
}

/* Runs on a queue thread: starts the store's copy, or finishes. */
static void on_queue_done(void *arg, int status, uint64_t bytes)
{
    struct http_backup *b = arg;
    pthread_mutex_lock(&b->lock);
    backup_file_t *f = &b->files[0];
    f->status = status;
    f->bytes = bytes;
    f->finished_at_ms = b->host->now_ms(b->self);
    f->done = status == 0;
    if (status != 0 || b->file_count < 2) {
        finish(b, status, "queue copy");
        pthread_mutex_unlock(&b->lock);
        return;
    }
    char path[DEST_MAX + ROUTE_PARAM_MAX + 32];
    file_path(b, &b->files[1], path, sizeof path);
    b->files[1].started_at_ms = b->host->now_ms(b->self);
    pthread_mutex_unlock(&b->lock);
    int rc = b->store->backup(b->store_ctx, path, on_store_done, b);
    if (rc != 0) {
        pthread_mutex_lock(&b->lock);
        finish(b, rc, "store copy");
        pthread_mutex_unlock(&b->lock);
    }
}

static void module_of(http_server_t *srv, const char *instance, char *out, size_t cap)
{
    snprintf(out, cap, "%s", "");
    if (!KEEL_HAS(srv->host, keel_host_api_t, instance_info))
        return;
    keel_instance_info_t info;
    for (size_t i = 0; srv->host->instance_info(srv->self, i, &info) == 0; i++)
        if (strcmp(info.name, instance) == 0) {
            snprintf(out, cap, "%s", info.module ? info.module : "");
            return;
        }
}

static void send_state(http_exchange_t *ex, int status, struct http_backup *b)
{
    pthread_mutex_lock(&b->lock);
    json_t *j = state_json(b, false);
    pthread_mutex_unlock(&b->lock);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        http_error(ex, 500, "internal", "out of memory");
    else
        http_respond_json(ex, status, text);
    free(text);
}

/* Checks DEST and creates it with one directory per copied instance; 0,
 * or answers the error and returns -1. */
static int prepare_dest(http_exchange_t *ex, const char *dest, const backup_file_t *files,
                        size_t count)
{
    struct stat st;
    if (stat(dest, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            http_error(ex, 409, "conflict", "'%s' exists and is not a directory", dest);
            return -1;
        }
        char probe[DEST_MAX + 32];
        snprintf(probe, sizeof probe, "%s/manifest.json", dest);
        bool used = access(probe, F_OK) == 0;
        for (size_t i = 0; i < count && !used; i++) {
            snprintf(probe, sizeof probe, "%s/%s", dest, files[i].instance);
            used = access(probe, F_OK) == 0;
        }
        if (used) {
            http_error(ex, 409, "conflict", "'%s' already holds a backup; choose a new directory",
                       dest);
            return -1;
        }
    } else if (mkdir(dest, 0700) != 0) {
        http_error(ex, errno == ENOENT ? 400 : 500, errno == ENOENT ? "bad_request" : "internal",
                   "cannot create '%s': %s", dest, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        char dir[DEST_MAX + ROUTE_PARAM_MAX + 2];
        snprintf(dir, sizeof dir, "%s/%s", dest, files[i].instance);
        if (mkdir(dir, 0700) != 0) {
            http_error(ex, 500, "internal", "cannot create '%s': %s", dir, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void backup_start(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    struct http_backup *b = srv->backup;
    if (srv->queue == NULL || !KEEL_HAS(srv->queue, keel_queue_api_t, backup)) {
        http_error(ex, 404, "not_found", "no queue instance to back up (http config `queue`)");
        return;
    }
    size_t len;
    char *text = http_json_body(ex, &len, false);
    if (text == NULL)
        return;
    json_error_t err;
    json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    const char *dest = json_string_value(json_object_get(body, "dest"));
    if (dest == NULL || dest[0] != '/' || strlen(dest) >= DEST_MAX - 256 ||
        json_object_size(body) != 1) {
        json_decref(body);
        http_error(ex, 400, "bad_request",
                   "expected {\"dest\": \"/absolute/directory\"} (absent or empty)");
        return;
    }
    char dest_copy[DEST_MAX];
    snprintf(dest_copy, sizeof dest_copy, "%s", dest);
    json_decref(body);
    size_t n = strlen(dest_copy);
    while (n > 1 && dest_copy[n - 1] == '/')
        dest_copy[--n] = '\0';

    backup_file_t files[BACKUP_FILES];
    memset(files, 0, sizeof files);
    size_t count = 1;
    snprintf(files[0].instance, sizeof files[0].instance, "%s", srv->cfg.queue_instance);
    module_of(srv, files[0].instance, files[0].module, sizeof files[0].module);
    files[0].service = "queue";
    files[0].what = "LMDB env of the queue instance: messages, DLQ, counters, dedup window";
    bool store = srv->store != NULL && KEEL_HAS(srv->store, keel_store_api_t, backup) &&
                 srv->cfg.store_instance != NULL;
    if (store) {
        snprintf(files[1].instance, sizeof files[1].instance, "%s", srv->cfg.store_instance);
        module_of(srv, files[1].instance, files[1].module, sizeof files[1].module);
        files[1].service = "store";
        files[1].what = "LMDB env of the store instance: orders, customer index, sequences";
        count = 2;
    }

    pthread_mutex_lock(&b->lock);
    if (b->state == BACKUP_RUNNING) {
        pthread_mutex_unlock(&b->lock);
        http_error(ex, 409, "conflict", "backup %s to '%s' is still running", b->id, b->dest);
        return;
    }
    if (prepare_dest(ex, dest_copy, files, count) != 0) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    b->self = srv->self;
    b->host = srv->host;
    b->queue = srv->queue;
    b->queue_ctx = srv->queue_ctx;
    b->store = store ? srv->store : NULL;
    b->store_ctx = store ? srv->store_ctx : NULL;
    b->state = BACKUP_RUNNING;
    srv->host->new_id(b->id);
    snprintf(b->dest, sizeof b->dest, "%s", dest_copy);
    b->error[0] = '\0';
    b->started_at_ms = srv->host->now_ms(srv->self);
    b->finished_at_ms = 0;
    memcpy(b->files, files, sizeof files);
    b->file_count = count;
    b->files[0].started_at_ms = b->started_at_ms;
    char path[DEST_MAX + ROUTE_PARAM_MAX + 32];
    file_path(b, &b->files[0], path, sizeof path);
    pthread_mutex_unlock(&b->lock);
    srv->host->log(srv->self, KEEL_LOG_INFO, "backup %s to '%s' started", b->id, dest_copy);

    int rc = srv->queue->backup(srv->queue_ctx, path, on_queue_done, b);
    if (rc != 0) {
        pthread_mutex_lock(&b->lock);
        finish(b, rc, "queue copy");
        pthread_mutex_unlock(&b->lock);
        send_state(ex, rc == KEEL_ESHUTDOWN ? 503 : 500, b);
        return;
    }
    send_state(ex, 202, b);
}

void http_backup(http_exchange_t *ex)
{
    if (ex->match.route == ROUTE_ADMIN_BACKUP_START)
        backup_start(ex);
    else
        send_state(ex, 200, ex->loop->srv->backup);
}
