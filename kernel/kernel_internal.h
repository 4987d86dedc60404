/*
 * kernel_internal.h — the kernel's context object and instances, shared by
 * kernel.c (lifecycle), kernel_config.c (config → instances) and
 * host_api.c (the table plugins call). Nothing outside kernel/ sees it.
 */
#ifndef KEEL_KERNEL_INTERNAL_H
#define KEEL_KERNEL_INTERNAL_H

#include "bus.h"
#include "kernel.h"
#include "loader.h"
#include "metrics.h"
#include "pipeline.h"
#include "timers.h"
#include "workers.h"

#include <stdatomic.h>

typedef enum kernel_phase {
    PHASE_NEW,
    PHASE_CONFIGURED,
    PHASE_INIT,    /* instances are being initialised */
    PHASE_RUNNING, /* after every start() */
    PHASE_STOPPING,
    PHASE_STOPPED,
} kernel_phase_t;

typedef struct string_list {
    const char **items; /* borrowed from the config document */
    size_t count;
} string_list_t;

/* One configured plugin instance: what plugins see as keel_plugin_t. */
struct keel_plugin {
    kernel_t *kernel;
    const char *name; /* from the config document */
    const module_t *module;
    const cfg_node_t *config;     /* the instance's `config:` map (may be NULL) */
    const cfg_node_t *entry;      /* its entry under `plugins:`, for messages */
    string_list_t publish_grants; /* topics it may publish to */
    string_list_t service_grants; /* instances whose services it may use */
    size_t *depends_on;           /* indices of instances it refers to */
    size_t depends_count;
    void *ctx;
    timer_owner_t *timers;
    bool inited;
    atomic_bool started; /* read by readiness checks on other threads */
};

typedef struct builtin {
    char *name;
    keel_plugin_entry_fn entry;
} builtin_t;

typedef struct service {
    const keel_plugin_t *provider;
    char *interface;
    uint32_t version;
    const void *vtable;
    void *ctx;
} service_t;

struct kernel {
    _Atomic kernel_phase_t phase; /* read by plugin threads */
    bool abandoned;               /* a stop timed out: plugin code may still run */
    logger_t log;
    cfg_doc_t *doc;
    char *exe_dir;

    int data_dir_lock_fd; /* holds flock(LOCK_EX) on data_dir/keeld.lock; -1 before */

    /* kernel: section */
    const char *data_dir;
    const char *plugin_dir;
    const char *log_file;
    keel_log_level_t log_level;
    log_format_t log_format;
    unsigned worker_threads;
    uint64_t shutdown_timeout_ms;

    builtin_t *builtins;
    size_t builtin_count;
    module_t *modules; /* one per distinct module file */
    size_t module_count;
    keel_plugin_t *instances; /* in config order */
    size_t instance_count;
    size_t *start_order; /* instance indices in dependency order */

    pipeline_config_t *pipeline_configs;
    size_t pipeline_count;
    pipelines_t *pipelines; /* running pipelines */

    keel_plugin_t *initialising; /* the instance inside init(), if any */
    service_t *services;
    size_t service_count;

    workers_t *workers;
    timers_t *timers;
    bus_t *bus;
    metrics_registry_t *metrics;
    atomic_uint_fast64_t clock_override_ms;
};

/* kernel_config.c */
int kernel_config_apply(kernel_t *k, cfg_errors_t *errs);
void kernel_config_release(kernel_t *k);

/* host_api.c */
const keel_host_api_t *host_api(void);
bool instance_may_publish(const keel_plugin_t *self, const char *topic);
int services_lookup(kernel_t *k, const keel_plugin_t *self, const char *instance,
                    const char *interface, uint32_t version, keel_service_t *out);

#endif
