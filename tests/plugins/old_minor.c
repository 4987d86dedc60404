/*
 * A plugin built against ABI 1.0: its descriptor ends after `destroy`.
 * Garbage follows it in memory where 1.1 put `health`; the kernel must
 * neither read nor call it. It must load and run.
 */
#include <keel/keel.h>

/* keel_plugin_descriptor_t as ABI 1.0 defined it. */
typedef struct descriptor_1_0 {
    uint32_t magic;
    uint16_t abi_major, abi_minor;
    uint32_t struct_size;
    const char *name, *version, *description;
    const keel_config_key_t *config_keys;
    int (*init)(keel_plugin_t *self, const keel_host_api_t *host, void **ctx);
    int (*start)(void *ctx);
    void (*stop)(void *ctx);
    void (*destroy)(void *ctx);
} descriptor_1_0_t;

static const keel_config_key_t old_keys[] = {
    {"greeting", KEEL_CFG_STRING, "hello", "logged at init", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static int old_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    const char *greeting = NULL;
    host->config_string(self, "greeting", &greeting);
    host->log(self, KEEL_LOG_INFO, "old_minor says %s (host ABI %u.%u)", greeting, host->abi_major,
              host->abi_minor);
    *ctx = NULL;
    return 0;
}

static void old_destroy(void *ctx)
{
    (void)ctx;
}

static const struct {
    descriptor_1_0_t descriptor;
    uintptr_t poison[4]; /* where a 1.1 `health` would be */
} old_plugin = {
    {KEEL_PLUGIN_MAGIC, 1, 0, sizeof(descriptor_1_0_t), "old_minor", "0.9.0",
     "built against keel ABI 1.0", old_keys, old_init, NULL, NULL, old_destroy},
    {0xDEADBEEFu, 0xDEADBEEFu, 0xDEADBEEFu, 0xDEADBEEFu},
};

KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void);
KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void)
{
    return (const keel_plugin_descriptor_t *)(const void *)&old_plugin.descriptor;
}
