/*
 * loader.h — opens plugin modules and checks their descriptors: magic, ABI
 * major/minor, struct size, mandatory callbacks, config key table. The
 * kernel keeps its own copy of the descriptor and never reads past the
 * plugin's struct size.
 */
#ifndef KEEL_KERNEL_LOADER_H
#define KEEL_KERNEL_LOADER_H

#include <keel/keel.h>

typedef struct module {
    char *path;                    /* resolved file path, or "builtin:<name>" */
    void *handle;                  /* dlopen handle; NULL for built-in modules */
    keel_plugin_descriptor_t desc; /* zero beyond what the plugin declared */
} module_t;

/*
 * Loads the plugin at `path` with dlopen(RTLD_NOW | RTLD_LOCAL). On error
 * writes a message naming the file and the fix into err and returns
 * KEEL_EINVAL (not a keel plugin / incompatible) or KEEL_ENOTFOUND.
 */
int module_load(const char *path, module_t *out, char *err, size_t err_len);

/* Same checks for a plugin linked into the process (tests, harness). */
int module_from_entry(const char *name, keel_plugin_entry_fn entry, module_t *out, char *err,
                      size_t err_len);

void module_unload(module_t *module);

#endif
