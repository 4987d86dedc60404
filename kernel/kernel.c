/* kernel.c — the kernel context and the instance lifecycle. See kernel.h. */
#include "clock.h"
#include "kernel_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

kernel_t *kernel_new(void)
{
    kernel_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    logger_init(&k->log);
    k->data_dir_lock_fd = -1;
    atomic_init(&k->clock_override_ms, 0);
    k->metrics = metrics_new();
    k->bus = bus_new();
    if (k->metrics == NULL || k->bus == NULL) {
        metrics_free(k->metrics);
        bus_free(k->bus);
        free(k);
        return NULL;
    }
    k->phase = PHASE_NEW;
    return k;
}

int kernel_set_exe_dir(kernel_t *k, const char *exe_dir)
{
    char *copy = strdup(exe_dir);
    if (copy == NULL)
        return KEEL_ENOMEM;
    free(k->exe_dir);
    k->exe_dir = copy;
    return 0;
}

int kernel_add_builtin(kernel_t *k, const char *module, keel_plugin_entry_fn entry)
{
    for (size_t i = 0; i < k->builtin_count; i++) {
        if (strcmp(k->builtins[i].name, module) == 0)
            return KEEL_EEXIST;
    }
    builtin_t *list = realloc(k->builtins, (k->builtin_count + 1) * sizeof *list);
    if (list == NULL)
        return KEEL_ENOMEM;
    k->builtins = list;
    char *name = strdup(module);
    if (name == NULL)
        return KEEL_ENOMEM;
    k->builtins[k->builtin_count++] = (builtin_t){name, entry};
    return 0;
}

int kernel_configure(kernel_t *k, cfg_doc_t *doc, cfg_errors_t *errs)
{
    if (k->phase != PHASE_NEW) {
        cfg_doc_free(doc);
        return KEEL_ESTATE;
    }
    k->doc = doc;
    int rc = kernel_config_apply(k, errs);
    if (rc == 0)
        k->phase = PHASE_CONFIGURED;
    return rc;
}

logger_t *kernel_logger(kernel_t *k)
{
    return &k->log;
}

int kernel_reopen_logs(kernel_t *k)
{
    return logger_reopen(&k->log);
}

void kernel_set_clock(kernel_t *k, uint64_t now_ms)
{
    atomic_store(&k->clock_override_ms, now_ms);
}

uint64_t kernel_now_ms(kernel_t *k)
{
    uint64_t fixed = atomic_load_explicit(&k->clock_override_ms, memory_order_relaxed);
    if (fixed)
        return fixed;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

size_t kernel_instance_count(const kernel_t *k)
{
    return k->instance_count;
}

static int make_dirs(const char *path)
{
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

/*
 * One keeld per data dir. A second one would open the same LMDB files
 * (LMDB allows it) but keep its own view of what they hold in memory (the
 * queue's sequence and dedup index, sequence blocks, claims), and two
 * daemons would then hand out the same numbers. The lock lasts as long as
 * the process: the kernel releases it on any exit, kill -9 included.
 */
static int lock_data_dir(kernel_t *k)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/keeld.lock", k->data_dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        logger_write(&k->log, KEEL_LOG_ERROR, "keel", "data dir path too long: %s", k->data_dir);
        return KEEL_EINVAL;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        logger_write(&k->log, KEEL_LOG_ERROR, "keel", "cannot open %s: %s", path, strerror(errno));
        return KEEL_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char holder[32] = "";
        ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
        holder[got > 0 ? got : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        if (err == EWOULDBLOCK)
            logger_write(&k->log, KEEL_LOG_ERROR, "keel",
                         "data dir %s is in use by another keeld (pid %s); run one keeld per "
                         "data dir (set kernel.data_dir or KEEL_DATA_DIR)",
                         k->data_dir, holder[0] ? holder : "unknown");
        else
            logger_write(&k->log, KEEL_LOG_ERROR, "keel", "cannot lock %s: %s", path,
                         strerror(err));
        close(fd);
        return KEEL_ESTATE;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        logger_write(&k->log, KEEL_LOG_WARN, "keel", "cannot write the pid into %s: %s", path,
                     strerror(errno));
    k->data_dir_lock_fd = fd;
    return 0;
}

static void log_plugin_failure(kernel_t *k, keel_plugin_t *inst, const char *what, int rc)
{
    logger_write(&k->log, KEEL_LOG_ERROR, "keel",
                 "plugin instance '%s' (module %s, %s) failed to %s: %s", inst->name,
                 inst->module->desc.name, inst->module->path, what, host_api()->strerror(rc));
}

/* Stops started instances in reverse start order. */
static void stop_instances(kernel_t *k)
{
    for (size_t i = k->instance_count; i-- > 0;) {
        keel_plugin_t *inst = &k->instances[k->start_order[i]];
        if (!inst->started)
            continue;
        logger_write(&k->log, KEEL_LOG_DEBUG, "keel", "stopping '%s'", inst->name);
        if (inst->module->desc.stop)
            inst->module->desc.stop(inst->ctx);
        timer_owner_close(inst->timers);
        inst->started = false;
    }
}

static void destroy_instances(kernel_t *k)
{
    for (size_t i = k->instance_count; i-- > 0;) {
        keel_plugin_t *inst = &k->instances[k->start_order[i]];
        if (!inst->inited)
            continue;
        inst->module->desc.destroy(inst->ctx);
        inst->inited = false;
    }
}

/* Waits until no delivery or work item is queued, running or pending
 * completion, up to the shutdown timeout (real time: tests may freeze the
 * plugins' clock). */
static bool drain(kernel_t *k)
{
    uint64_t deadline = monotonic_ms() + k->shutdown_timeout_ms;
    for (;;) {
        uint64_t now = monotonic_ms();
        uint64_t left = deadline > now ? deadline - now : 0;
        bool idle = workers_wait_idle(k->workers, left < 50 ? left : 50);
        if (idle && bus_async_pending(k->bus) == 0 && workers_outstanding(k->workers) == 0)
            return true;
        if (left == 0)
            return false;
    }
}

/* Timers need the timer thread's event base: close every instance's (also
 * of instances whose start failed) before that thread goes. Handles stay
 * valid until free_timer_owners(), after destroy(). */
static void stop_threads(kernel_t *k)
{
    for (size_t i = 0; i < k->instance_count; i++)
        timer_owner_close(k->instances[i].timers);
    timers_stop(k->timers);
    k->timers = NULL;
    bus_set_workers(k->bus, NULL); /* publish now fails with KEEL_ESHUTDOWN */
    workers_stop(k->workers);
    k->workers = NULL;
}

static void free_timer_owners(kernel_t *k)
{
    for (size_t i = 0; i < k->instance_count; i++) {
        timer_owner_free(k->instances[i].timers);
        k->instances[i].timers = NULL;
    }
}

/* A stop begins: every started instance refuses new outside work. */
static void drain_instances(kernel_t *k)
{
    for (size_t i = k->instance_count; i-- > 0;) {
        keel_plugin_t *inst = &k->instances[k->start_order[i]];
        if (inst->started && inst->module->desc.drain)
            inst->module->desc.drain(inst->ctx);
    }
}

/*
 * Stops whatever runs: pipelines, then every started instance, then waits
 * for in-flight work, joins the threads and destroys the instances. When
 * work is still running at the deadline nothing is destroyed (plugins'
 * code may still run) and the kernel is marked abandoned.
 */
static bool shut_down(kernel_t *k)
{
    drain_instances(k); /* first: once /readyz says stopping, orders are refused */
    k->phase = PHASE_STOPPING;
    /* Pipelines first: their batches finish and settle while every
     * instance they use still runs. */
    bool clean = pipelines_stop(k->pipelines, k->shutdown_timeout_ms);
    if (clean) {
        k->pipelines = NULL;
        stop_instances(k);
        clean = k->workers == NULL || drain(k);
    }
    if (!clean) {
        logger_write(&k->log, KEEL_LOG_ERROR, "keel",
                     "work still running after %llu ms (%zu work item(s), %zu async "
                     "delivery(ies)); exiting without destroying plugins",
                     (unsigned long long)k->shutdown_timeout_ms,
                     k->workers ? workers_outstanding(k->workers) : 0, bus_async_pending(k->bus));
        k->abandoned = true;
        k->phase = PHASE_STOPPED;
        return false;
    }
    stop_threads(k);
    destroy_instances(k);
    free_timer_owners(k);
    k->phase = PHASE_STOPPED;
    return true;
}

static int start_runtime(kernel_t *k)
{
    int rc = logger_open(&k->log, k->log_file, k->log_level, k->log_format);
    if (rc != 0) {
        logger_write(&k->log, KEEL_LOG_ERROR, "keel", "cannot open log file %s: %s", k->log_file,
                     strerror(errno));
        return rc;
    }
    if (make_dirs(k->data_dir) != 0) {
        logger_write(&k->log, KEEL_LOG_ERROR, "keel", "cannot create data dir %s: %s", k->data_dir,
                     strerror(errno));
        return KEEL_EIO;
    }
    rc = lock_data_dir(k);
    if (rc != 0)
        return rc;
    k->workers = workers_start(k->worker_threads, "keel");
    k->timers = timers_start();
    if (k->workers == NULL || k->timers == NULL) {
        logger_write(&k->log, KEEL_LOG_ERROR, "keel", "cannot start worker or timer threads");
        return KEEL_ENOMEM;
    }
    bus_set_workers(k->bus, k->workers);
    for (size_t i = 0; i < k->instance_count; i++) {
        k->instances[i].timers = timer_owner_new(k->timers);
        if (k->instances[i].timers == NULL)
            return KEEL_ENOMEM;
    }
    return 0;
}

static int init_instances(kernel_t *k)
{
    k->phase = PHASE_INIT;
    for (size_t i = 0; i < k->instance_count; i++) {
        keel_plugin_t *inst = &k->instances[k->start_order[i]];
        k->initialising = inst;
        int rc = inst->module->desc.init(inst, host_api(), &inst->ctx);
        k->initialising = NULL;
        if (rc != 0) {
            log_plugin_failure(k, inst, "init", rc);
            return KEEL_EFAILED;
        }
        inst->inited = true;
    }
    bus_freeze(k->bus);
    return 0;
}

static int start_instances(kernel_t *k)
{
    for (size_t i = 0; i < k->instance_count; i++) {
        keel_plugin_t *inst = &k->instances[k->start_order[i]];
        int rc = inst->module->desc.start ? inst->module->desc.start(inst->ctx) : 0;
        if (rc != 0) {
            log_plugin_failure(k, inst, "start", rc);
            return KEEL_EFAILED;
        }
        inst->started = true;
    }
    return 0;
}

int kernel_check(kernel_t *k, const char *scratch_dir)
{
    if (k->phase != PHASE_CONFIGURED)
        return KEEL_ESTATE;
    k->data_dir = scratch_dir;
    k->log_file = NULL;
    if (k->log_level > KEEL_LOG_WARN)
        k->log_level = KEEL_LOG_WARN;
    int rc = start_runtime(k);
    if (rc == 0)
        rc = init_instances(k);
    if (rc == 0 && k->pipeline_count > 0)
        rc = pipelines_check(k, k->pipeline_configs, k->pipeline_count);
    shut_down(k); /* destroys what was inited; nothing was started */
    return rc;
}

int kernel_start(kernel_t *k)
{
    if (k->phase != PHASE_CONFIGURED)
        return KEEL_ESTATE;
    int rc = start_runtime(k);
    if (rc == 0)
        rc = init_instances(k);
    if (rc == 0) {
        k->phase = PHASE_RUNNING;
        rc = start_instances(k);
    }
    if (rc == 0 && k->pipeline_count > 0)
        rc = pipelines_start(k, k->pipeline_configs, k->pipeline_count, &k->pipelines);
    if (rc != 0) {
        shut_down(k);
        return rc;
    }
    logger_write(&k->log, KEEL_LOG_INFO, "keel",
                 "keel started: %zu plugin instance(s), %u worker thread(s), data in %s",
                 k->instance_count, k->worker_threads, k->data_dir);
    return 0;
}

int kernel_stop(kernel_t *k)
{
    if (k->phase != PHASE_RUNNING)
        return k->abandoned ? KEEL_ETIMEDOUT : 0;
    logger_write(&k->log, KEEL_LOG_INFO, "keel", "stopping: no new work is accepted");
    if (!shut_down(k))
        return KEEL_ETIMEDOUT;
    logger_write(&k->log, KEEL_LOG_INFO, "keel", "keel stopped cleanly");
    return 0;
}

bool kernel_free(kernel_t *k)
{
    if (k == NULL)
        return true;
    if (k->phase == PHASE_RUNNING)
        kernel_stop(k);
    if (k->abandoned) {
        /* Plugins still run code: unloading them would crash. Leak instead;
         * the process is about to exit. */
        return false;
    }
    bus_free(k->bus);
    for (size_t i = 0; i < k->service_count; i++)
        free(k->services[i].interface);
    free(k->services);
    kernel_config_release(k);
    cfg_doc_free(k->doc);
    for (size_t i = 0; i < k->builtin_count; i++)
        free(k->builtins[i].name);
    free(k->builtins);
    metrics_free(k->metrics);
    logger_close(&k->log);
    if (k->data_dir_lock_fd >= 0)
        close(k->data_dir_lock_fd);
    free(k->exe_dir);
    free(k);
    return true;
}

int kernel_subscribe(kernel_t *k, const char *topic, keel_handler_fn fn, void *arg)
{
    if (k->phase != PHASE_CONFIGURED && k->phase != PHASE_NEW)
        return KEEL_ESTATE;
    return bus_subscribe(k->bus, topic, fn, arg, k);
}

int kernel_publish(kernel_t *k, const keel_msg_t *msg, keel_publish_done_fn done, void *done_arg)
{
    if (k->phase != PHASE_RUNNING && k->phase != PHASE_STOPPING)
        return KEEL_ESTATE;
    return bus_publish(k->bus, msg, done, done_arg);
}

int kernel_service_lookup(kernel_t *k, const char *instance, const char *interface,
                          uint32_t version, keel_service_t *out)
{
    if (k->phase != PHASE_RUNNING)
        return KEEL_ESTATE;
    return services_lookup(k, NULL, instance, interface, version, out);
}

int kernel_instance_info(kernel_t *k, size_t index, keel_instance_info_t *out)
{
    if (out == NULL)
        return KEEL_EINVAL;
    memset(out, 0, sizeof *out);
    if (index >= k->instance_count)
        return KEEL_ENOTFOUND;
    const keel_plugin_t *inst = &k->instances[index];
    out->name = inst->name;
    out->module = inst->module->desc.name;
    out->version = inst->module->desc.version ? inst->module->desc.version : "";
    out->started = inst->started && k->phase == PHASE_RUNNING;
    out->has_health = inst->module->desc.health != NULL;
    if (out->started && out->has_health) {
        out->health = inst->module->desc.health(inst->ctx, out->why, sizeof out->why);
        if (out->health != 0 && out->why[0] == '\0')
            snprintf(out->why, sizeof out->why, "%s", host_api()->strerror(out->health));
    }
    return 0;
}

int kernel_readiness(kernel_t *k, char *why, size_t why_len)
{
    char none[1];
    if (why == NULL || why_len == 0) {
        why = none;
        why_len = sizeof none;
    }
    why[0] = '\0';
    kernel_phase_t phase = k->phase;
    if (phase != PHASE_RUNNING) {
        snprintf(why, why_len, "keel: %s", phase < PHASE_RUNNING ? "starting" : "stopping");
        return KEEL_ESTATE;
    }
    for (size_t i = 0; i < k->instance_count; i++) {
        const keel_plugin_t *inst = &k->instances[i];
        if (!inst->started || inst->module->desc.health == NULL)
            continue;
        char reason[256] = "";
        int rc = inst->module->desc.health(inst->ctx, reason, sizeof reason);
        if (rc != 0) {
            snprintf(why, why_len, "%s: %s", inst->name,
                     reason[0] ? reason : host_api()->strerror(rc));
            return rc;
        }
    }
    return 0;
}
