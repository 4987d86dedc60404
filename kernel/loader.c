/* loader.c — see loader.h. */
#include "loader.h"

#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Size of the descriptor as each minor of ABI 1 defined it. */
static size_t descriptor_size_for_minor(uint16_t minor)
{
    switch (minor) {
    case 0:
        return offsetof(keel_plugin_descriptor_t, health);
    case 1:
        return offsetof(keel_plugin_descriptor_t, step);
    case 2: /* 1.3 and 1.4 appended host functions only */
    case 3:
    case 4:
        return offsetof(keel_plugin_descriptor_t, drain);
    default:
        return sizeof(keel_plugin_descriptor_t);
    }
}

static int check_descriptor(const char *path, const keel_plugin_descriptor_t *plugin, module_t *out,
                            char *err, size_t err_len)
{
    if (plugin == NULL) {
        snprintf(err, err_len, "%s: keel_plugin_entry() returned NULL", path);
        return KEEL_EINVAL;
    }
    if (plugin->magic != KEEL_PLUGIN_MAGIC) {
        snprintf(err, err_len,
                 "%s: bad magic 0x%08X in the plugin descriptor (expected 0x%08X): not a keel "
                 "plugin, or built without KEEL_PLUGIN_DECLARE",
                 path, plugin->magic, KEEL_PLUGIN_MAGIC);
        return KEEL_EINVAL;
    }
    if (plugin->abi_major != KEEL_ABI_MAJOR) {
        snprintf(err, err_len,
                 "%s: built for keel ABI %u.%u but this keeld speaks ABI %d.%d; rebuild the "
                 "plugin against this keel SDK",
                 path, plugin->abi_major, plugin->abi_minor, KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
        return KEEL_EINVAL;
    }
    if (plugin->abi_minor > KEEL_ABI_MINOR) {
        snprintf(err, err_len,
                 "%s: needs keel ABI %u.%u but this keeld speaks ABI %d.%d; upgrade keeld or "
                 "build the plugin against an older SDK",
                 path, plugin->abi_major, plugin->abi_minor, KEEL_ABI_MAJOR, KEEL_ABI_MINOR);
        return KEEL_EINVAL;
    }
    size_t expected = descriptor_size_for_minor(plugin->abi_minor);
    if (plugin->struct_size < descriptor_size_for_minor(0)) {
        snprintf(err, err_len, "%s: descriptor size %u is smaller than any keel ABI %d.x allows",
                 path, plugin->struct_size, KEEL_ABI_MAJOR);
        return KEEL_EINVAL;
    }
    /* Read only what both the plugin's struct and its minor contain. */
    size_t readable = plugin->struct_size < expected ? plugin->struct_size : expected;
    memset(&out->desc, 0, sizeof out->desc);
    memcpy(&out->desc, plugin, readable);

    const char *missing = out->desc.name == NULL      ? "name"
                          : out->desc.init == NULL    ? "init callback"
                          : out->desc.destroy == NULL ? "destroy callback"
                                                      : NULL;
    if (missing) {
        snprintf(err, err_len, "%s: the plugin descriptor has no %s (it is mandatory)", path,
                 missing);
        return KEEL_EINVAL;
    }
    if (out->desc.config_keys) {
        cfg_errors_t errs;
        cfg_errors_init(&errs);
        if (cfg_check_key_table(out->desc.config_keys, out->desc.name, &errs) > 0) {
            snprintf(err, err_len, "%s: invalid config key table: %s", path, errs.items[0]);
            cfg_errors_free(&errs);
            return KEEL_EINVAL;
        }
        cfg_errors_free(&errs);
    }
    return 0;
}

int module_load(const char *path, module_t *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, err_len, "%s: no such plugin file", path);
        return KEEL_ENOTFOUND;
    }
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(err, err_len, "%s: cannot load plugin: %s", path, why ? why : "unknown error");
        return KEEL_EINVAL;
    }
    /* POSIX allows converting a data pointer from dlsym to a function
     * pointer; the union keeps -pedantic quiet about it. */
    union {
        void *object;
        keel_plugin_entry_fn entry;
    } symbol = {.object = dlsym(handle, KEEL_PLUGIN_ENTRY_SYMBOL)};
    if (symbol.object == NULL) {
        snprintf(err, err_len,
                 "%s: no '%s' symbol: not a keel plugin (declare it with KEEL_PLUGIN_DECLARE)",
                 path, KEEL_PLUGIN_ENTRY_SYMBOL);
        dlclose(handle);
        return KEEL_EINVAL;
    }
    int rc = check_descriptor(path, symbol.entry(), out, err, err_len);
    if (rc != 0) {
        dlclose(handle);
        return rc;
    }
    out->path = strdup(path);
    if (out->path == NULL) {
        dlclose(handle);
        snprintf(err, err_len, "%s: out of memory", path);
        return KEEL_ENOMEM;
    }
    out->handle = handle;
    return 0;
}

int module_from_entry(const char *name, keel_plugin_entry_fn entry, module_t *out, char *err,
                      size_t err_len)
{
    memset(out, 0, sizeof *out);
    char label[256];
    snprintf(label, sizeof label, "builtin:%s", name);
    int rc = check_descriptor(label, entry(), out, err, err_len);
    if (rc != 0)
        return rc;
    out->path = strdup(label);
    return out->path ? 0 : KEEL_ENOMEM;
}

void module_unload(module_t *module)
{
    if (module->handle)
        dlclose(module->handle);
    free(module->path);
    memset(module, 0, sizeof *module);
}
