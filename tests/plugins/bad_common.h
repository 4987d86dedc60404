/* Shared pieces of the deliberately broken plugins the loader tests use. */
#ifndef KEEL_BAD_COMMON_H
#define KEEL_BAD_COMMON_H

#include <keel/keel.h>

static inline int bad_init_ok(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    (void)self, (void)host;
    *ctx = NULL;
    return 0;
}

static inline void bad_destroy(void *ctx)
{
    (void)ctx;
}

#define BAD_DESCRIPTOR(magic_, major_, minor_)                                                     \
    KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void);                           \
    KEEL_EXPORT const keel_plugin_descriptor_t *keel_plugin_entry(void)                            \
    {                                                                                              \
        static const keel_plugin_descriptor_t d = {                                                \
            .magic = (magic_),                                                                     \
            .abi_major = (major_),                                                                 \
            .abi_minor = (minor_),                                                                 \
            .struct_size = sizeof(keel_plugin_descriptor_t),                                       \
            .name = "bad",                                                                         \
            .init = bad_init_ok,                                                                   \
            .destroy = bad_destroy,                                                                \
        };                                                                                         \
        return &d;                                                                                 \
    }

#endif
