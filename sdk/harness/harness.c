/*
 * harness.c — keel_harness_*: the real kernel, embedded in a test program.
 * It writes the instances into a config document, so a plugin under test
 * goes through exactly the validation, loading and lifecycle keeld uses.
 */
#include <keel/harness.h>

#include "clock.h"
#include "kernel.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct captured {
    keel_msg_t msg; /* points into the same allocation */
} captured_t;

typedef struct capture_topic {
    struct keel_harness *harness;
    char *topic;
    keel_result_t result;
    captured_t **items;
    size_t count, capacity;
} capture_topic_t;

struct keel_harness {
    kernel_t *kernel;
    char *data_dir;
    bool remove_data_dir;
    bool started;
    char *yaml; /* the config being built */
    size_t yaml_len;
    char *pipelines; /* the pipelines: section, appended at start */
    size_t pipelines_len;
    capture_topic_t **captures;
    size_t capture_count;
    pthread_mutex_t lock; /* guards captures' items */
    pthread_cond_t changed;
};

static int append_text(char **buffer, size_t *buffer_len, const char *text)
{
    size_t len = strlen(text);
    char *grown = realloc(*buffer, *buffer_len + len + 1);
    if (grown == NULL)
        return KEEL_ENOMEM;
    memcpy(grown + *buffer_len, text, len + 1);
    *buffer = grown;
    *buffer_len += len;
    return 0;
}

static int append_yaml(keel_harness_t *h, const char *text)
{
    return append_text(&h->yaml, &h->yaml_len, text);
}

/* Appends each line of `yaml`, indented by `indent` spaces. */
static int append_indented(char **buffer, size_t *buffer_len, const char *yaml, int indent)
{
    int rc = 0;
    for (const char *line = yaml; rc == 0 && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *indented = malloc(len + (size_t)indent + 2);
        if (indented == NULL)
            return KEEL_ENOMEM;
        snprintf(indented, len + (size_t)indent + 2, "%*s%.*s\n", indent, "", (int)len, line);
        rc = append_text(buffer, buffer_len, indented);
        free(indented);
        line += len + (end ? 1 : 0);
    }
    return rc;
}

keel_harness_t *keel_harness_new(const char *data_dir)
{
    keel_harness_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    if (data_dir) {
        h->data_dir = strdup(data_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        char pattern[4096];
        snprintf(pattern, sizeof pattern, "%s/keel-harness-XXXXXX", tmp ? tmp : "/tmp");
        if (mkdtemp(pattern)) {
            h->data_dir = strdup(pattern);
            h->remove_data_dir = true;
        }
    }
    h->kernel = kernel_new();
    char header[4300];
    snprintf(header, sizeof header,
             "kernel:\n  data_dir: \"%s\"\n  worker_threads: 2\n  shutdown_timeout: 30s\n"
             "plugins:\n",
             h->data_dir ? h->data_dir : "");
    if (h->data_dir == NULL || h->kernel == NULL || append_yaml(h, header) != 0) {
        keel_harness_free(h);
        return NULL;
    }
    return h;
}

int keel_harness_add(keel_harness_t *h, const char *instance, const char *module_path,
                     const char *config_yaml)
{
    if (h == NULL || instance == NULL || module_path == NULL)
        return KEEL_EINVAL;
    if (h->started)
        return KEEL_ESTATE;
    char head[4400];
    snprintf(head, sizeof head, "  - name: \"%s\"\n    module: \"%s\"\n", instance, module_path);
    int rc = append_yaml(h, head);
    if (rc != 0 || config_yaml == NULL)
        return rc;
    rc = append_yaml(h, "    config:\n");
    return rc ? rc : append_indented(&h->yaml, &h->yaml_len, config_yaml, 6);
}

int keel_harness_add_pipeline(keel_harness_t *h, const char *name, const char *pipeline_yaml)
{
    if (h == NULL || name == NULL || pipeline_yaml == NULL)
        return KEEL_EINVAL;
    if (h->started)
        return KEEL_ESTATE;
    char head[300];
    snprintf(head, sizeof head, "%s  - name: \"%s\"\n", h->pipelines ? "" : "pipelines:\n", name);
    int rc = append_text(&h->pipelines, &h->pipelines_len, head);
    return rc ? rc : append_indented(&h->pipelines, &h->pipelines_len, pipeline_yaml, 4);
}

static keel_result_t capture_handler(void *arg, const keel_msg_t *msg, keel_delivery_t *d)
{
    (void)d;
    capture_topic_t *ct = arg;
    keel_harness_t *h = ct->harness;
    size_t strings = strlen(msg->id) + 1 + strlen(msg->topic) + 1;
    for (size_t i = 0; i < msg->attr_count; i++)
        strings += strlen(msg->attrs[i].key) + strlen(msg->attrs[i].value) + 2;
    captured_t *c =
        malloc(sizeof *c + msg->attr_count * sizeof(keel_attr_t) + strings + msg->body_len + 1);
    if (c == NULL)
        return KEEL_RETRY;
    keel_attr_t *attrs = (keel_attr_t *)(c + 1);
    char *cursor = (char *)(attrs + msg->attr_count);
#define COPY_STRING(dst, src)                                                                      \
    do {                                                                                           \
        size_t n_ = strlen(src) + 1;                                                               \
        memcpy(cursor, src, n_);                                                                   \
        dst = cursor;                                                                              \
        cursor += n_;                                                                              \
    } while (0)
    COPY_STRING(c->msg.id, msg->id);
    COPY_STRING(c->msg.topic, msg->topic);
    for (size_t i = 0; i < msg->attr_count; i++) {
        COPY_STRING(attrs[i].key, msg->attrs[i].key);
        COPY_STRING(attrs[i].value, msg->attrs[i].value);
    }
#undef COPY_STRING
    c->msg.attrs = attrs;
    c->msg.attr_count = msg->attr_count;
    if (msg->body_len)
        memcpy(cursor, msg->body, msg->body_len);
    c->msg.body = cursor;
    c->msg.body_len = msg->body_len;

    pthread_mutex_lock(&h->lock);
    if (ct->count == ct->capacity) {
        size_t capacity = ct->capacity ? ct->capacity * 2 : 16;
        captured_t **items = realloc(ct->items, capacity * sizeof *items);
        if (items == NULL) {
            pthread_mutex_unlock(&h->lock);
            free(c);
            return KEEL_RETRY;
        }
        ct->items = items;
        ct->capacity = capacity;
    }
    ct->items[ct->count++] = c;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    return ct->result;
}

int keel_harness_capture(keel_harness_t *h, const char *topic, keel_result_t result)
{
    if (h == NULL || topic == NULL || *topic == '\0' || (unsigned)result > KEEL_FAIL)
        return KEEL_EINVAL;
    if (h->started)
        return KEEL_ESTATE;
    capture_topic_t **list = realloc(h->captures, (h->capture_count + 1) * sizeof *list);
    if (list == NULL)
        return KEEL_ENOMEM;
    h->captures = list;
    capture_topic_t *ct = calloc(1, sizeof *ct);
    if (ct == NULL || (ct->topic = strdup(topic)) == NULL) {
        free(ct);
        return KEEL_ENOMEM;
    }
    ct->harness = h;
    ct->result = result;
    h->captures[h->capture_count++] = ct;
    return 0;
}

int keel_harness_start(keel_harness_t *h)
{
    if (h == NULL)
        return KEEL_EINVAL;
    if (h->started)
        return KEEL_ESTATE;
    if (h->pipelines && append_yaml(h, h->pipelines) != 0)
        return KEEL_ENOMEM;
    cfg_errors_t errs;
    cfg_errors_init(&errs);
    cfg_doc_t *doc = cfg_doc_load_string("harness", h->yaml, &errs);
    int rc = doc ? kernel_configure(h->kernel, doc, &errs) : KEEL_EINVAL;
    if (rc != 0) {
        cfg_errors_print(&errs, stderr);
        cfg_errors_free(&errs);
        return KEEL_EINVAL;
    }
    cfg_errors_free(&errs);
    for (size_t i = 0; i < h->capture_count; i++) {
        rc = kernel_subscribe(h->kernel, h->captures[i]->topic, capture_handler, h->captures[i]);
        if (rc != 0)
            return rc;
    }
    rc = kernel_start(h->kernel);
    if (rc != 0)
        return KEEL_EFAILED;
    h->started = true;
    return 0;
}

typedef struct publish_wait {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    keel_result_t result;
    char error[512];
} publish_wait_t;

static void publish_done(void *arg, keel_result_t result, const char *error)
{
    publish_wait_t *w = arg;
    pthread_mutex_lock(&w->lock);
    w->result = result;
    snprintf(w->error, sizeof w->error, "%s", error ? error : "");
    w->done = true;
    pthread_cond_broadcast(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
}

int keel_harness_publish(keel_harness_t *h, const char *topic, const void *body, size_t body_len,
                         keel_result_t *result, char *error, size_t error_len)
{
    if (h == NULL || topic == NULL)
        return KEEL_EINVAL;
    if (!h->started)
        return KEEL_ESTATE;
    publish_wait_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return KEEL_ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->done_cond, NULL);
    keel_msg_t msg = {.topic = topic, .body = body, .body_len = body_len};
    if (!body_len)
        msg.body = NULL;
    int rc = kernel_publish(h->kernel, &msg, publish_done, w);
    if (rc != 0) {
        free(w);
        return rc;
    }
    struct timespec deadline = deadline_after_ms(CLOCK_REALTIME, 30000);
    pthread_mutex_lock(&w->lock);
    while (!w->done && rc == 0)
        rc = pthread_cond_timedwait(&w->done_cond, &w->lock, &deadline) == 0 ? 0 : KEEL_ETIMEDOUT;
    bool done = w->done;
    pthread_mutex_unlock(&w->lock);
    if (!done)
        return KEEL_ETIMEDOUT; /* w is leaked on purpose: a handler still holds it */
    if (result)
        *result = w->result;
    if (error && error_len)
        snprintf(error, error_len, "%s", w->error);
    if (w->result == KEEL_FAIL && strncmp(w->error, "no subscriber", 13) == 0)
        rc = KEEL_ENOTFOUND;
    pthread_cond_destroy(&w->done_cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return rc;
}

static capture_topic_t *find_capture(keel_harness_t *h, const char *topic)
{
    for (size_t i = 0; h && topic && i < h->capture_count; i++) {
        if (strcmp(h->captures[i]->topic, topic) == 0)
            return h->captures[i];
    }
    return NULL;
}

size_t keel_harness_wait(keel_harness_t *h, const char *topic, size_t count, uint64_t timeout_ms)
{
    capture_topic_t *ct = find_capture(h, topic);
    if (ct == NULL)
        return 0;
    struct timespec deadline = deadline_after_ms(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&h->lock);
    while (ct->count < count && pthread_cond_timedwait(&h->changed, &h->lock, &deadline) == 0) {
    }
    size_t n = ct->count;
    pthread_mutex_unlock(&h->lock);
    return n;
}

const keel_msg_t *keel_harness_captured(keel_harness_t *h, const char *topic, size_t index)
{
    capture_topic_t *ct = find_capture(h, topic);
    if (ct == NULL)
        return NULL;
    pthread_mutex_lock(&h->lock);
    const keel_msg_t *msg = index < ct->count ? &ct->items[index]->msg : NULL;
    pthread_mutex_unlock(&h->lock);
    return msg;
}

int keel_harness_service(keel_harness_t *h, const char *instance, const char *interface,
                         uint32_t version, keel_service_t *out)
{
    if (h == NULL)
        return KEEL_EINVAL;
    if (!h->started)
        return KEEL_ESTATE;
    return kernel_service_lookup(h->kernel, instance, interface, version, out);
}

int keel_harness_ready(keel_harness_t *h, char *why, size_t why_len)
{
    if (h == NULL)
        return KEEL_EINVAL;
    return kernel_readiness(h->kernel, why, why_len);
}

void keel_harness_set_time(keel_harness_t *h, uint64_t now_ms)
{
    if (h && h->kernel)
        kernel_set_clock(h->kernel, now_ms);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void keel_harness_free(keel_harness_t *h)
{
    if (h == NULL)
        return;
    /* Stops and destroys the instances first. When a stop timed out,
     * plugin code may still deliver to the captures: leak it all. */
    if (!kernel_free(h->kernel)) {
        fprintf(stderr, "keel_harness_free: work was still running at the shutdown deadline; "
                        "leaking the harness\n");
        return;
    }
    for (size_t i = 0; i < h->capture_count; i++) {
        capture_topic_t *ct = h->captures[i];
        for (size_t j = 0; j < ct->count; j++)
            free(ct->items[j]);
        free(ct->items);
        free(ct->topic);
        free(ct);
    }
    free(h->captures);
    if (h->remove_data_dir && h->data_dir)
        nftw(h->data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(h->data_dir);
    free(h->yaml);
    free(h->pipelines);
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
