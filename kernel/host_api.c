/*
 * host_api.c — the function table every plugin receives at init. Each
 * function checks the lifecycle phase and the instance's grants, then
 * hands over to the kernel module that does the work.
 */
#include "kernel_internal.h"

#include "id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const keel_config_key_t no_keys[] = {{NULL, 0, NULL, NULL, 0, NULL}};

static const keel_config_key_t *keys_of(const keel_plugin_t *self)
{
    const keel_config_key_t *keys = self->module->desc.config_keys;
    return keys ? keys : no_keys;
}

static int host_config_string(keel_plugin_t *self, const char *path, const char **out)
{
    if (self == NULL || path == NULL || out == NULL)
        return KEEL_EINVAL;
    return cfg_read_string(self->config, keys_of(self), path, out);
}

static int host_config_int(keel_plugin_t *self, const char *path, int64_t *out)
{
    if (self == NULL || path == NULL || out == NULL)
        return KEEL_EINVAL;
    return cfg_read_int(self->config, keys_of(self), path, out);
}

static int host_config_double(keel_plugin_t *self, const char *path, double *out)
{
    if (self == NULL || path == NULL || out == NULL)
        return KEEL_EINVAL;
    return cfg_read_double(self->config, keys_of(self), path, out);
}

static int host_config_bool(keel_plugin_t *self, const char *path, bool *out)
{
    if (self == NULL || path == NULL || out == NULL)
        return KEEL_EINVAL;
    return cfg_read_bool(self->config, keys_of(self), path, out);
}

static int host_config_count(keel_plugin_t *self, const char *path, size_t *out)
{
    if (self == NULL || path == NULL || out == NULL)
        return KEEL_EINVAL;
    return cfg_read_count(self->config, keys_of(self), path, out);
}

static bool host_config_is_set(keel_plugin_t *self, const char *path)
{
    return self && path && cfg_is_set(self->config, keys_of(self), path);
}

static const char *host_instance_name(keel_plugin_t *self)
{
    return self ? self->name : NULL;
}

static const char *host_data_dir(keel_plugin_t *self)
{
    return self ? self->kernel->data_dir : NULL;
}

static void host_log(keel_plugin_t *self, keel_log_level_t level, const char *fmt, ...)
{
    if (self == NULL || fmt == NULL || (unsigned)level > KEEL_LOG_DEBUG)
        return;
    va_list args;
    va_start(args, fmt);
    logger_vwrite(&self->kernel->log, level, self->name, fmt, args);
    va_end(args);
}

static bool host_log_enabled(keel_plugin_t *self, keel_log_level_t level)
{
    return self && logger_enabled(&self->kernel->log, level);
}

static void *host_alloc(size_t size)
{
    return malloc(size ? size : 1);
}

static void *host_calloc(size_t count, size_t size)
{
    return calloc(count ? count : 1, size ? size : 1);
}

static void *host_realloc(void *ptr, size_t size)
{
    return realloc(ptr, size ? size : 1);
}

static void host_free(void *ptr)
{
    free(ptr);
}

static bool in_own_init(const keel_plugin_t *self)
{
    return self->kernel->phase == PHASE_INIT && self->kernel->initialising == self;
}

static int host_subscribe(keel_plugin_t *self, const char *topic, keel_handler_fn fn, void *arg)
{
    if (self == NULL)
        return KEEL_EINVAL;
    if (!in_own_init(self))
        return KEEL_ESTATE;
    return bus_subscribe(self->kernel->bus, topic, fn, arg, self);
}

bool instance_may_publish(const keel_plugin_t *self, const char *topic)
{
    for (size_t i = 0; i < self->publish_grants.count; i++) {
        if (strcmp(self->publish_grants.items[i], topic) == 0)
            return true;
    }
    return false;
}

static int host_publish(keel_plugin_t *self, const keel_msg_t *msg, keel_publish_done_fn done,
                        void *done_arg)
{
    if (self == NULL || msg == NULL || msg->topic == NULL)
        return KEEL_EINVAL;
    kernel_t *k = self->kernel;
    if (k->phase != PHASE_RUNNING && k->phase != PHASE_STOPPING)
        return k->phase == PHASE_STOPPED ? KEEL_ESHUTDOWN : KEEL_ESTATE;
    if (!instance_may_publish(self, msg->topic)) {
        logger_write(&k->log, KEEL_LOG_WARN, self->name,
                     "refused: may not publish to topic '%s' (not granted; name it in a topic "
                     "key of the instance's config or in allow.publish)",
                     msg->topic);
        return KEEL_EPERM;
    }
    return bus_publish(k->bus, msg, done, done_arg);
}

static int host_complete(keel_delivery_t *delivery, keel_result_t result)
{
    return bus_complete(delivery, result);
}

static void host_delivery_error(keel_delivery_t *delivery, const char *reason)
{
    bus_delivery_error(delivery, reason);
}

static void host_new_id(char out[KEEL_ID_LEN + 1])
{
    id_generate(out);
}

static int host_service_provide(keel_plugin_t *self, const char *interface, uint32_t version,
                                const void *vtable, void *svc_ctx)
{
    if (self == NULL || interface == NULL || *interface == '\0' || vtable == NULL)
        return KEEL_EINVAL;
    if (!in_own_init(self))
        return KEEL_ESTATE;
    kernel_t *k = self->kernel;
    for (size_t i = 0; i < k->service_count; i++) {
        if (k->services[i].provider == self && strcmp(k->services[i].interface, interface) == 0)
            return KEEL_EEXIST;
    }
    service_t *list = realloc(k->services, (k->service_count + 1) * sizeof *list);
    if (list == NULL)
        return KEEL_ENOMEM;
    k->services = list;
    char *name = strdup(interface);
    if (name == NULL)
        return KEEL_ENOMEM;
    k->services[k->service_count++] = (service_t){self, name, version, vtable, svc_ctx};
    return 0;
}

static bool may_use(const keel_plugin_t *self, const char *instance)
{
    if (strcmp(self->name, instance) == 0)
        return true;
    for (size_t i = 0; i < self->service_grants.count; i++) {
        if (strcmp(self->service_grants.items[i], instance) == 0)
            return true;
    }
    return false;
}

/* self == NULL: the embedding program (harness, tests), which may use all. */
int services_lookup(kernel_t *k, const keel_plugin_t *self, const char *instance,
                    const char *interface, uint32_t version, keel_service_t *out)
{
    if (instance == NULL || interface == NULL || out == NULL)
        return KEEL_EINVAL;
    if (self && !may_use(self, instance)) {
        logger_write(&k->log, KEEL_LOG_WARN, self->name,
                     "refused: may not use services of instance '%s' (not granted; refer to it "
                     "in an instance key of the config or in allow.services)",
                     instance);
        return KEEL_EPERM;
    }
    for (size_t i = 0; i < k->service_count; i++) {
        const service_t *svc = &k->services[i];
        if (strcmp(svc->provider->name, instance) != 0 || strcmp(svc->interface, interface) != 0)
            continue;
        if (KEEL_VERSION_MAJOR(svc->version) != KEEL_VERSION_MAJOR(version) ||
            KEEL_VERSION_MINOR(svc->version) < KEEL_VERSION_MINOR(version))
            return KEEL_EVERSION;
        *out = (keel_service_t){svc->vtable, svc->ctx, svc->version};
        return 0;
    }
    return KEEL_ENOTFOUND;
}

static int host_service_lookup(keel_plugin_t *self, const char *instance, const char *interface,
                               uint32_t version, keel_service_t *out)
{
    if (self == NULL)
        return KEEL_EINVAL;
    kernel_phase_t phase = self->kernel->phase;
    if (phase != PHASE_INIT && phase != PHASE_RUNNING && phase != PHASE_STOPPING)
        return KEEL_ESTATE;
    return services_lookup(self->kernel, self, instance, interface, version, out);
}

static int host_timer_add(keel_plugin_t *self, uint64_t delay_ms, uint64_t interval_ms,
                          keel_timer_fn fn, void *arg, keel_timer_t **out)
{
    if (self == NULL || fn == NULL)
        return KEEL_EINVAL;
    kernel_phase_t phase = self->kernel->phase;
    if (phase < PHASE_RUNNING)
        return KEEL_ESTATE; /* from start() on: nothing fires before it */
    if (self->timers == NULL || phase == PHASE_STOPPED)
        return KEEL_ESHUTDOWN;
    return timer_add(self->timers, delay_ms, interval_ms, fn, arg, out);
}

static void host_timer_cancel(keel_timer_t *timer)
{
    timer_cancel(timer);
}

/* POSIX lets a function pointer travel through void * (as dlsym does). */
typedef union {
    keel_work_fn work;
    void *object;
} work_ptr_t;

static void run_work_item(void *fn, void *arg)
{
    work_ptr_t as = {.object = fn};
    as.work(arg);
}

static int host_submit(keel_plugin_t *self, keel_work_fn fn, void *arg)
{
    if (self == NULL || fn == NULL)
        return KEEL_EINVAL;
    if (self->kernel->workers == NULL)
        return KEEL_ESHUTDOWN;
    work_ptr_t as = {.work = fn};
    return workers_submit(self->kernel->workers, run_work_item, as.object, arg);
}

static uint64_t host_now_ms(keel_plugin_t *self)
{
    return self ? kernel_now_ms(self->kernel) : 0;
}

static int register_metric(keel_plugin_t *self, metric_type_t type, const char *name,
                           const char *help, const char *labels, const double *bounds,
                           size_t bound_count, keel_metric_t **out)
{
    if (self == NULL || name == NULL || out == NULL)
        return KEEL_EINVAL;
    char all_labels[1024];
    int n = snprintf(all_labels, sizeof all_labels, "instance=\"%s\"%s%s", self->name,
                     labels && *labels ? "," : "", labels ? labels : "");
    if (n < 0 || (size_t)n >= sizeof all_labels)
        return KEEL_EINVAL;
    return metrics_register(self->kernel->metrics, type, name, help ? help : "", all_labels, bounds,
                            bound_count, out);
}

static int host_metric_counter(keel_plugin_t *self, const char *name, const char *help,
                               const char *labels, keel_metric_t **out)
{
    return register_metric(self, METRIC_COUNTER, name, help, labels, NULL, 0, out);
}

static int host_metric_gauge(keel_plugin_t *self, const char *name, const char *help,
                             const char *labels, keel_metric_t **out)
{
    return register_metric(self, METRIC_GAUGE, name, help, labels, NULL, 0, out);
}

static int host_metric_histogram(keel_plugin_t *self, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t bound_count,
                                 keel_metric_t **out)
{
    return register_metric(self, METRIC_HISTOGRAM, name, help, labels, bounds, bound_count, out);
}

static void host_metric_add(keel_metric_t *metric, double value)
{
    if (metric)
        metrics_add(metric, value);
}

static void host_metric_set(keel_metric_t *metric, double value)
{
    if (metric)
        metrics_set(metric, value);
}

static void host_metric_observe(keel_metric_t *metric, double value)
{
    if (metric)
        metrics_observe(metric, value);
}

static const char *host_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case KEEL_EINVAL:
        return "KEEL_EINVAL: invalid argument";
    case KEEL_ENOMEM:
        return "KEEL_ENOMEM: out of memory";
    case KEEL_ENOTFOUND:
        return "KEEL_ENOTFOUND: not found";
    case KEEL_EPERM:
        return "KEEL_EPERM: not permitted for this instance";
    case KEEL_EEXIST:
        return "KEEL_EEXIST: already exists";
    case KEEL_ESTATE:
        return "KEEL_ESTATE: not allowed in this lifecycle phase";
    case KEEL_EVERSION:
        return "KEEL_EVERSION: incompatible interface version";
    case KEEL_ETYPE:
        return "KEEL_ETYPE: config value has another type";
    case KEEL_ESHUTDOWN:
        return "KEEL_ESHUTDOWN: shutting down";
    case KEEL_EFULL:
        return "KEEL_EFULL: capacity reached";
    case KEEL_EUNAVAIL:
        return "KEEL_EUNAVAIL: backend unavailable";
    case KEEL_ETIMEDOUT:
        return "KEEL_ETIMEDOUT: timed out";
    case KEEL_ESTALE:
        return "KEEL_ESTALE: stale token or handle";
    case KEEL_EIO:
        return "KEEL_EIO: input/output error";
    case KEEL_EFAILED:
        return "KEEL_EFAILED: the plugin reported a failure";
    case KEEL_ECONFLICT:
        return "KEEL_ECONFLICT: exists with other content";
    case KEEL_EAGAIN:
        return "KEEL_EAGAIN: cannot answer without waiting";
    default:
        return "unknown keel error";
    }
}

static int host_metrics_render(keel_plugin_t *self, char **out, size_t *len)
{
    if (self == NULL || out == NULL)
        return KEEL_EINVAL;
    size_t ignored;
    return metrics_render(self->kernel->metrics, out, len ? len : &ignored);
}

static int host_readiness(keel_plugin_t *self, char *why, size_t why_len)
{
    return self ? kernel_readiness(self->kernel, why, why_len) : KEEL_EINVAL;
}

static int host_instance_info(keel_plugin_t *self, size_t index, keel_instance_info_t *out)
{
    return self ? kernel_instance_info(self->kernel, index, out) : KEEL_EINVAL;
}

static const char *host_version(void)
{
    return KEEL_VERSION_STRING;
}

static const keel_host_api_t host_table = {
    .struct_size = sizeof(keel_host_api_t),
    .abi_major = KEEL_ABI_MAJOR,
    .abi_minor = KEEL_ABI_MINOR,
    .config_string = host_config_string,
    .config_int = host_config_int,
    .config_double = host_config_double,
    .config_bool = host_config_bool,
    .config_count = host_config_count,
    .config_is_set = host_config_is_set,
    .instance_name = host_instance_name,
    .data_dir = host_data_dir,
    .log = host_log,
    .log_enabled = host_log_enabled,
    .alloc = host_alloc,
    .calloc = host_calloc,
    .realloc = host_realloc,
    .free = host_free,
    .subscribe = host_subscribe,
    .publish = host_publish,
    .complete = host_complete,
    .delivery_error = host_delivery_error,
    .new_id = host_new_id,
    .service_provide = host_service_provide,
    .service_lookup = host_service_lookup,
    .timer_add = host_timer_add,
    .timer_cancel = host_timer_cancel,
    .submit = host_submit,
    .now_ms = host_now_ms,
    .metric_counter = host_metric_counter,
    .metric_gauge = host_metric_gauge,
    .metric_histogram = host_metric_histogram,
    .metric_add = host_metric_add,
    .metric_set = host_metric_set,
    .metric_observe = host_metric_observe,
    .strerror = host_strerror,
    .metrics_render = host_metrics_render,
    .batch_count = pipeline_batch_count,
    .batch_message = pipeline_batch_message,
    .batch_receive_count = pipeline_batch_receive_count,
    .batch_result = pipeline_batch_result,
    .batch_set_body = pipeline_batch_set_body,
    .batch_complete = pipeline_batch_complete,
    .readiness = host_readiness,
    .batch_set_attr = pipeline_batch_set_attr,
    .instance_info = host_instance_info,
    .version = host_version,
};

const keel_host_api_t *host_api(void)
{
    return &host_table;
}
