/*
 * A plugin built against ABI 1.4 whose struct_size claims the whole
 * current descriptor, with garbage where 1.5 put `drain`: the kernel must
 * read only what ABI 1.4 defined, so it never calls that garbage.
 */
#include <keel/keel.h>

#include <stdint.h>

static int minor4_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    host->log(self, KEEL_LOG_INFO, "minor4 loaded");
    *ctx = NULL;
    return 0;
}

static void minor4_destroy(void *ctx)
{
    (void)ctx;
}

static const keel_plugin_descriptor_t minor4 = {
    .magic = KEEL_PLUGIN_MAGIC,
    .abi_major = 1,
    .abi_minor = 4,
    .struct_size = sizeof(keel_plugin_descriptor_t),
    .name = "minor4",
    .version = "1.4.0",
    .description = "built against keel ABI 1.4",
    .init = minor4_init,
    .destroy = minor4_destroy,
    .drain = (void (*)(void *))(uintptr_t)0xDEADBEEFu, /* not 1.4's: never read */
};

KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void);
KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void)
{
    return &minor4;
}
