/* init() fails: start-up must stop, naming the instance. */
#include <keel/keel.h>

static int failing_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    (void)ctx;
    host->log(self, KEEL_LOG_ERROR, "cannot open the frobnicator");
    return KEEL_EFAILED;
}

static void failing_destroy(void *ctx)
{
    (void)ctx;
}

KEEL_PLUGIN_DECLARE(.name = "bad_initfail", .init = failing_init, .destroy = failing_destroy);
