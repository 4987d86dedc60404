/* Calls a function nothing defines: dlopen(RTLD_NOW) must fail. */
#include <keel/keel.h>

void keel_function_that_does_not_exist(void);

static int unresolved_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    (void)self, (void)host, (void)ctx;
    keel_function_that_does_not_exist();
    return 0;
}

static void unresolved_destroy(void *ctx)
{
    (void)ctx;
}

KEEL_PLUGIN_DECLARE(.name = "bad_unresolved", .init = unresolved_init,
                    .destroy = unresolved_destroy);
