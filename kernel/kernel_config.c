/*
 * kernel_config.c — turns a validated config document into the kernel's
 * settings and instances: checks the top level and each `plugins:` entry,
 * loads modules, validates each instance's config against its module's
 * declared keys, derives grants and the start order.
 */
#include "kernel_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const keel_config_key_t kernel_keys[] = {
    {"data_dir", KEEL_CFG_STRING, "./var", "directory for all persistent data", 0, NULL},
    {"plugin_dir", KEEL_CFG_STRING, NULL,
     "where modules named without a path are found (default: <keeld dir>/../lib/keel/plugins)", 0,
     NULL},
    {"log_level", KEEL_CFG_STRING, "info", "error, warn, info or debug", 0, NULL},
    {"log_format", KEEL_CFG_STRING, "text", "text or json (one JSON object per line)", 0, NULL},
    {"log_file", KEEL_CFG_STRING, NULL, "log to this file instead of stderr; SIGHUP reopens it", 0,
     NULL},
    {"worker_threads", KEEL_CFG_INT, "0", "worker pool size; 0 means one per CPU", 0, NULL},
    {"shutdown_timeout", KEEL_CFG_DURATION, "30s",
     "how long a graceful stop waits for in-flight work", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t allow_keys[] = {
    {"publish", KEEL_CFG_STRING_LIST, NULL, "topics the instance may publish to", 0, NULL},
    {"services", KEEL_CFG_STRING_LIST, NULL, "instances whose services it may use", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t pipeline_keys[] = {
    {"name", KEEL_CFG_STRING, NULL, "pipeline name; its messages carry it as their topic",
     KEEL_CFG_REQUIRED, NULL},
    {"queue", KEEL_CFG_INSTANCE, NULL, "the instance providing the queue service",
     KEEL_CFG_REQUIRED, NULL},
    {"source", KEEL_CFG_STRING, NULL, "queue name within it (default: the pipeline name)", 0, NULL},
    {"steps", KEEL_CFG_STRING_LIST, NULL, "step instances, in order", KEEL_CFG_REQUIRED, NULL},
    {"batch_size", KEEL_CFG_INT, "5", "messages per batch (1-10)", 0, NULL},
    {"concurrency", KEEL_CFG_INT, "10", "batches in flight at once (1-256)", 0, NULL},
    {"timeout", KEEL_CFG_DURATION, "30s", "longest one step may take for one batch", 0, NULL},
    {"visibility", KEEL_CFG_DURATION, "0",
     "visibility timeout of received batches; 0 = the queue's own", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const char *const top_keys[] = {"kernel", "plugins", "pipelines", NULL};
static const char *const entry_keys[] = {"name", "module", "config", "allow", NULL};

/* Reports keys of `map` not in `allowed`, in cfg_validate's format. */
static size_t check_keys(const cfg_node_t *map, const char *const *allowed, const char *context,
                         cfg_errors_t *errs)
{
    size_t bad = 0;
    for (size_t i = 0; i < cfg_map_size(map); i++) {
        const char *key = cfg_map_key_at(map, i);
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (known)
            continue;
        char list[256] = "";
        for (const char *const *a = allowed; *a; a++) {
            strncat(list, *a, sizeof list - strlen(list) - 1);
            if (a[1])
                strncat(list, ", ", sizeof list - strlen(list) - 1);
        }
        cfg_errors_add(errs, cfg_map_key_node_at(map, i), "%s: unknown key '%s'; allowed keys: %s",
                       context, key, list);
        bad++;
    }
    return bad;
}

static bool valid_instance_name(const char *name)
{
    if (*name == '\0' || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++) {
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            *p != '_' && *p != '-' && *p != '.')
            return false;
    }
    return true;
}

static const char *scalar_field(const cfg_node_t *entry, const char *key, const char *context,
                                cfg_errors_t *errs)
{
    const cfg_node_t *node = cfg_map_get(entry, key);
    if (node == NULL) {
        cfg_errors_add(errs, entry, "%s: missing required key '%s'", context, key);
        return NULL;
    }
    if (cfg_node_kind(node) != CFG_SCALAR) {
        cfg_errors_add(errs, node, "%s.%s: expected string", context, key);
        return NULL;
    }
    return cfg_node_scalar(node);
}

static void read_kernel_section(kernel_t *k, const cfg_node_t *section, cfg_errors_t *errs)
{
    if (cfg_validate(section, kernel_keys, "kernel", NULL, errs) > 0)
        return;
    int64_t threads = 0, timeout_ms = 0;
    const char *level = NULL, *format = NULL;
    cfg_read_string(section, kernel_keys, "data_dir", &k->data_dir);
    if (cfg_read_string(section, kernel_keys, "plugin_dir", &k->plugin_dir) != 0)
        k->plugin_dir = NULL;
    if (cfg_read_string(section, kernel_keys, "log_file", &k->log_file) != 0)
        k->log_file = NULL;
    cfg_read_string(section, kernel_keys, "log_level", &level);
    cfg_read_string(section, kernel_keys, "log_format", &format);
    cfg_read_int(section, kernel_keys, "worker_threads", &threads);
    cfg_read_int(section, kernel_keys, "shutdown_timeout", &timeout_ms);

    const cfg_node_t *where = section ? cfg_map_get(section, "data_dir") : NULL;
    if (k->data_dir == NULL || k->data_dir[0] == '\0')
        cfg_errors_add(errs, where,
                       "kernel.data_dir: empty; name the directory for keel's data (a variable "
                       "set to \"\" needs ${VAR:-./var} for a default)");
    where = section ? cfg_map_get(section, "log_level") : NULL;
    if (log_level_parse(level, &k->log_level) != 0)
        cfg_errors_add(errs, where,
                       "kernel.log_level: '%s' is not a level; use error, warn, "
                       "info or debug",
                       level);
    where = section ? cfg_map_get(section, "log_format") : NULL;
    if (strcmp(format, "text") == 0)
        k->log_format = LOG_FORMAT_TEXT;
    else if (strcmp(format, "json") == 0)
        k->log_format = LOG_FORMAT_JSON;
    else
        cfg_errors_add(errs, where, "kernel.log_format: '%s' is not a format; use text or json",
                       format);
    where = section ? cfg_map_get(section, "worker_threads") : NULL;
    if (threads < 0 || threads > 256)
        cfg_errors_add(errs, where, "kernel.worker_threads: %lld is out of range 0..256",
                       (long long)threads);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    k->worker_threads = threads > 0 ? (unsigned)threads : (cpus > 0 ? (unsigned)cpus : 1);
    k->shutdown_timeout_ms = timeout_ms > 0 ? (uint64_t)timeout_ms : 0;
}

static const module_t *find_loaded(const kernel_t *k, const char *path)
{
    for (size_t i = 0; i < k->module_count; i++) {
        if (strcmp(k->modules[i].path, path) == 0)
            return &k->modules[i];
    }
    return NULL;
}

static const module_t *load_module(kernel_t *k, const char *name, const cfg_node_t *where,
                                   const char *context, cfg_errors_t *errs)
{
    char err[1024];
    module_t module;
    int rc = KEEL_ENOTFOUND;
    char label[PATH_MAX];
    for (size_t i = 0; i < k->builtin_count; i++) {
        if (strcmp(k->builtins[i].name, name) != 0)
            continue;
        snprintf(label, sizeof label, "builtin:%s", name);
        const module_t *loaded = find_loaded(k, label);
        if (loaded)
            return loaded;
        rc = module_from_entry(name, k->builtins[i].entry, &module, err, sizeof err);
        goto loaded;
    }
    if (kernel_module_path(k, k->plugin_dir, name, label, sizeof label) != 0) {
        cfg_errors_add(errs, where, "%s.module: %s", context, label);
        return NULL;
    }
    const module_t *loaded = find_loaded(k, label);
    if (loaded)
        return loaded;
    rc = module_load(label, &module, err, sizeof err);
loaded:
    if (rc != 0) {
        cfg_errors_add(errs, where, "%s.module: %s", context, err);
        return NULL;
    }
    /* Instances point into this array: it is sized for every entry up
     * front, so it never moves. */
    k->modules[k->module_count] = module;
    return &k->modules[k->module_count++];
}

static int add_string(string_list_t *list, const char *item)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i], item) == 0)
            return 0;
    }
    const char **items = realloc(list->items, (list->count + 1) * sizeof *items);
    if (items == NULL)
        return KEEL_ENOMEM;
    items[list->count++] = item;
    list->items = items;
    return 0;
}

static void collect_ref(void *arg, keel_config_type_t type, const char *value)
{
    keel_plugin_t *inst = arg;
    add_string(type == KEEL_CFG_TOPIC ? &inst->publish_grants : &inst->service_grants, value);
}

static size_t instance_index(const kernel_t *k, const char *name)
{
    for (size_t i = 0; i < k->instance_count; i++) {
        if (strcmp(k->instances[i].name, name) == 0)
            return i;
    }
    return SIZE_MAX;
}

static void read_allow(keel_plugin_t *inst, const cfg_node_t *allow, const char *context,
                       const cfg_instances_t *names, cfg_errors_t *errs)
{
    if (allow == NULL || cfg_validate(allow, allow_keys, context, NULL, errs) > 0)
        return;
    const cfg_node_t *publish = cfg_map_get(allow, "publish");
    for (size_t i = 0; publish && i < cfg_seq_len(publish); i++)
        add_string(&inst->publish_grants, cfg_node_scalar(cfg_seq_at(publish, i)));
    const cfg_node_t *services = cfg_map_get(allow, "services");
    for (size_t i = 0; services && i < cfg_seq_len(services); i++) {
        const cfg_node_t *item = cfg_seq_at(services, i);
        if (instance_index(inst->kernel, cfg_node_scalar(item)) == SIZE_MAX) {
            cfg_errors_add(errs, item, "%s.services[%zu]: no instance named '%s'", context, i,
                           cfg_node_scalar(item));
            continue;
        }
        add_string(&inst->service_grants, cfg_node_scalar(item));
    }
}

/* Kahn's algorithm; ties keep config order. */
static int order_instances(kernel_t *k, cfg_errors_t *errs)
{
    size_t n = k->instance_count;
    size_t *pending = calloc(n ? n : 1, sizeof *pending);
    k->start_order = calloc(n ? n : 1, sizeof *k->start_order);
    if (pending == NULL || k->start_order == NULL) {
        free(pending);
        return KEEL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        pending[i] = k->instances[i].depends_count;
    size_t placed = 0;
    bool progress = true;
    while (placed < n && progress) {
        progress = false;
        for (size_t i = 0; i < n; i++) {
            if (pending[i] != 0)
                continue;
            pending[i] = SIZE_MAX;
            k->start_order[placed++] = i;
            progress = true;
            for (size_t j = 0; j < n; j++) {
                for (size_t d = 0; d < k->instances[j].depends_count; d++) {
                    if (k->instances[j].depends_on[d] == i && pending[j] != SIZE_MAX)
                        pending[j]--;
                }
            }
            break;
        }
    }
    for (size_t i = 0; placed < n && i < n; i++) {
        if (pending[i] != SIZE_MAX)
            cfg_errors_add(errs, k->instances[i].entry,
                           "plugins: instance '%s' is part of a reference cycle",
                           k->instances[i].name);
    }
    free(pending);
    return placed == n ? 0 : KEEL_EINVAL;
}

static void read_dependencies(keel_plugin_t *inst)
{
    kernel_t *k = inst->kernel;
    inst->depends_on = calloc(inst->service_grants.count + 1, sizeof *inst->depends_on);
    for (size_t i = 0; inst->depends_on && i < inst->service_grants.count; i++) {
        size_t index = instance_index(k, inst->service_grants.items[i]);
        if (index != SIZE_MAX && &k->instances[index] != inst)
            inst->depends_on[inst->depends_count++] = index;
    }
}

static size_t read_instances(kernel_t *k, const cfg_node_t *plugins, cfg_errors_t *errs)
{
    size_t before = errs->count;
    size_t n = cfg_seq_len(plugins);
    k->instances = calloc(n ? n : 1, sizeof *k->instances);
    k->modules = calloc(n ? n : 1, sizeof *k->modules);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (k->instances == NULL || k->modules == NULL || names == NULL) {
        free(names);
        cfg_errors_add(errs, NULL, "out of memory");
        return 1;
    }
    char context[64];
    /* Pass 1: names, so that references can be checked in pass 2. */
    for (size_t i = 0; i < n; i++) {
        const cfg_node_t *entry = cfg_seq_at(plugins, i);
        snprintf(context, sizeof context, "plugins[%zu]", i);
        keel_plugin_t *inst = &k->instances[k->instance_count];
        if (cfg_node_kind(entry) != CFG_MAP) {
            cfg_errors_add(errs, entry, "%s: expected a mapping with name, module, config",
                           context);
            continue;
        }
        check_keys(entry, entry_keys, context, errs);
        const char *name = scalar_field(entry, "name", context, errs);
        if (name == NULL)
            continue;
        if (!valid_instance_name(name)) {
            cfg_errors_add(errs, cfg_map_get(entry, "name"),
                           "%s.name: '%s' is not a valid instance name (letters, digits, "
                           "'_', '-', '.'; at most 64)",
                           context, name);
            continue;
        }
        size_t dup = instance_index(k, name);
        if (dup != SIZE_MAX) {
            cfg_errors_add(errs, cfg_map_get(entry, "name"),
                           "%s.name: duplicate instance name '%s' (first defined at line %d)",
                           context, name, cfg_node_line(k->instances[dup].entry));
            continue;
        }
        inst->kernel = k;
        inst->name = name;
        inst->entry = entry;
        names[k->instance_count++] = name;
    }
    cfg_instances_t known = {names, k->instance_count};
    /* Pass 2: modules and each instance's config against its module. */
    for (size_t i = 0; i < k->instance_count; i++) {
        keel_plugin_t *inst = &k->instances[i];
        snprintf(context, sizeof context, "plugins[%zu]", i);
        const char *module_name = scalar_field(inst->entry, "module", context, errs);
        if (module_name == NULL)
            continue;
        inst->module =
            load_module(k, module_name, cfg_map_get(inst->entry, "module"), context, errs);
        inst->config = cfg_map_get(inst->entry, "config");
        if (inst->module == NULL)
            continue;
        snprintf(context, sizeof context, "plugins[%zu].config", i);
        if (inst->config && cfg_node_kind(inst->config) != CFG_MAP &&
            cfg_node_kind(inst->config) != CFG_NULL) {
            cfg_errors_add(errs, inst->config, "%s: expected a mapping", context);
            continue;
        }
        static const keel_config_key_t no_keys[] = {{NULL, 0, NULL, NULL, 0, NULL}};
        const keel_config_key_t *keys =
            inst->module->desc.config_keys ? inst->module->desc.config_keys : no_keys;
        if (cfg_validate(inst->config, keys, context, &known, errs) > 0)
            continue;
        cfg_for_each_ref(inst->config, keys, collect_ref, inst);
        snprintf(context, sizeof context, "plugins[%zu].allow", i);
        read_allow(inst, cfg_map_get(inst->entry, "allow"), context, &known, errs);
        read_dependencies(inst);
    }
    free(names);
    return errs->count - before;
}

static void read_pipeline(kernel_t *k, const cfg_node_t *entry, size_t i,
                          const cfg_instances_t *known, cfg_errors_t *errs)
{
    char context[64];
    snprintf(context, sizeof context, "pipelines[%zu]", i);
    if (cfg_node_kind(entry) != CFG_MAP) {
        cfg_errors_add(errs, entry, "%s: expected a mapping with name, queue, steps", context);
        return;
    }
    if (cfg_validate(entry, pipeline_keys, context, known, errs) > 0)
        return;
    pipeline_config_t *p = &k->pipeline_configs[k->pipeline_count];
    int64_t batch = 0, concurrency = 0, timeout_ms = 0, visibility_ms = 0;
    cfg_read_string(entry, pipeline_keys, "name", &p->name);
    cfg_read_string(entry, pipeline_keys, "queue", &p->queue_instance);
    if (cfg_read_string(entry, pipeline_keys, "source", &p->source) != 0)
        p->source = p->name;
    cfg_read_int(entry, pipeline_keys, "batch_size", &batch);
    cfg_read_int(entry, pipeline_keys, "concurrency", &concurrency);
    cfg_read_int(entry, pipeline_keys, "timeout", &timeout_ms);
    cfg_read_int(entry, pipeline_keys, "visibility", &visibility_ms);
    size_t before = errs->count;
    if (batch < 1 || batch > 10)
        cfg_errors_add(errs, cfg_map_get(entry, "batch_size"),
                       "%s.batch_size: %lld is out of range 1..10", context, (long long)batch);
    if (concurrency < 1 || concurrency > 256)
        cfg_errors_add(errs, cfg_map_get(entry, "concurrency"),
                       "%s.concurrency: %lld is out of range 1..256", context,
                       (long long)concurrency);
    if (timeout_ms < 1)
        cfg_errors_add(errs, cfg_map_get(entry, "timeout"), "%s.timeout: must be positive",
                       context);
    for (size_t j = 0; j < k->pipeline_count; j++) {
        if (strcmp(k->pipeline_configs[j].name, p->name) == 0)
            cfg_errors_add(errs, cfg_map_get(entry, "name"),
                           "%s.name: duplicate pipeline name '%s'", context, p->name);
    }
    const cfg_node_t *steps = cfg_map_get(entry, "steps");
    size_t count = cfg_seq_len(steps);
    p->steps = calloc(count ? count : 1, sizeof *p->steps);
    if (count == 0)
        cfg_errors_add(errs, steps, "%s.steps: name at least one step instance", context);
    for (size_t s = 0; p->steps && s < count; s++) {
        const cfg_node_t *item = cfg_seq_at(steps, s);
        size_t index = instance_index(k, cfg_node_scalar(item));
        if (index == SIZE_MAX) {
            cfg_errors_add(errs, item, "%s.steps[%zu]: no instance named '%s'", context, s,
                           cfg_node_scalar(item));
            continue;
        }
        keel_plugin_t *step = &k->instances[index];
        if (step->module && step->module->desc.step == NULL) {
            cfg_errors_add(errs, item,
                           "%s.steps[%zu]: instance '%s' (module %s) cannot be a pipeline "
                           "step: its plugin has no step callback",
                           context, s, step->name, step->module->desc.name);
            continue;
        }
        p->steps[p->step_count++] = step;
    }
    p->batch_size = (unsigned)batch;
    p->concurrency = (unsigned)concurrency;
    p->timeout_ms = (uint64_t)timeout_ms;
    p->visibility_s = (uint32_t)((visibility_ms + 999) / 1000);
    if (errs->count == before && p->steps)
        k->pipeline_count++;
    else {
        free(p->steps);
        p->steps = NULL;
    }
}

static void read_pipelines(kernel_t *k, const cfg_node_t *pipelines, cfg_errors_t *errs)
{
    if (pipelines == NULL || cfg_node_kind(pipelines) == CFG_NULL)
        return;
    if (cfg_node_kind(pipelines) != CFG_SEQ) {
        cfg_errors_add(errs, pipelines, "pipelines: expected a list of pipelines");
        return;
    }
    size_t n = cfg_seq_len(pipelines);
    const char **names = calloc(k->instance_count + 1, sizeof *names);
    k->pipeline_configs = calloc(n ? n : 1, sizeof *k->pipeline_configs);
    if (names == NULL || k->pipeline_configs == NULL) {
        free(names);
        cfg_errors_add(errs, NULL, "out of memory");
        return;
    }
    for (size_t i = 0; i < k->instance_count; i++)
        names[i] = k->instances[i].name;
    cfg_instances_t known = {names, k->instance_count};
    for (size_t i = 0; i < n; i++)
        read_pipeline(k, cfg_seq_at(pipelines, i), i, &known, errs);
    free(names);
}

int kernel_config_apply(kernel_t *k, cfg_errors_t *errs)
{
    size_t before = errs->count;
    const cfg_node_t *root = cfg_doc_root(k->doc);
    if (root == NULL || cfg_node_kind(root) != CFG_MAP) {
        cfg_errors_add(errs, root, "the config must be a mapping with 'kernel' and 'plugins'");
        return KEEL_EINVAL;
    }
    check_keys(root, top_keys, "config", errs);
    const cfg_node_t *kernel_section = cfg_map_get(root, "kernel");
    if (kernel_section && cfg_node_kind(kernel_section) == CFG_NULL)
        kernel_section = NULL;
    read_kernel_section(k, kernel_section, errs);
    const cfg_node_t *plugins = cfg_map_get(root, "plugins");
    if (plugins && cfg_node_kind(plugins) != CFG_SEQ && cfg_node_kind(plugins) != CFG_NULL)
        cfg_errors_add(errs, plugins, "plugins: expected a list of plugin instances");
    else if (plugins && cfg_node_kind(plugins) == CFG_SEQ)
        read_instances(k, plugins, errs);
    if (errs->count == before)
        read_pipelines(k, cfg_map_get(root, "pipelines"), errs);
    if (errs->count == before)
        order_instances(k, errs);
    return errs->count == before ? 0 : KEEL_EINVAL;
}

void kernel_config_release(kernel_t *k)
{
    for (size_t i = 0; i < k->pipeline_count; i++)
        free(k->pipeline_configs[i].steps);
    free(k->pipeline_configs);
    k->pipeline_configs = NULL;
    k->pipeline_count = 0;
    for (size_t i = 0; i < k->instance_count; i++) {
        keel_plugin_t *inst = &k->instances[i];
        free(inst->publish_grants.items);
        free(inst->service_grants.items);
        free(inst->depends_on);
    }
    free(k->instances);
    k->instances = NULL;
    k->instance_count = 0;
    for (size_t i = 0; i < k->module_count; i++)
        module_unload(&k->modules[i]);
    free(k->modules);
    k->modules = NULL;
    k->module_count = 0;
    free(k->start_order);
    k->start_order = NULL;
}

int kernel_module_path(kernel_t *k, const char *plugin_dir, const char *module, char *out,
                       size_t out_len)
{
    if (strchr(module, '/')) {
        if (access(module, F_OK) == 0) {
            snprintf(out, out_len, "%s", module);
            return 0;
        }
        snprintf(out, out_len, "%s: no such plugin file", module);
        return KEEL_ENOTFOUND;
    }
    char dir[PATH_MAX];
    if (plugin_dir)
        snprintf(dir, sizeof dir, "%s", plugin_dir);
    else if (k->exe_dir)
        snprintf(dir, sizeof dir, "%s/../%s", k->exe_dir, KEEL_PLUGIN_SUBDIR);
    else
        snprintf(dir, sizeof dir, "./%s", KEEL_PLUGIN_SUBDIR);
    int n = snprintf(out, out_len, "%s/%s.so", dir, module);
    if (n < 0 || (size_t)n >= out_len || access(out, F_OK) != 0) {
        snprintf(out, out_len, "no plugin module '%s' in %s (looked for %s/%s.so)", module, dir,
                 dir, module);
        return KEEL_ENOTFOUND;
    }
    return 0;
}
