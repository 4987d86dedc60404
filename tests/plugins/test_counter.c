/* test_counter — provides a "counter" service whose state is per instance.
 * Used to show that one module loaded twice keeps separate state. */
#include "test_services.h"

#include <keel/keel.h>
#include <stdatomic.h>

typedef struct counter {
    const keel_host_api_t *host;
    atomic_llong value;
} counter_t;

static const keel_config_key_t counter_keys[] = {
    {"start", KEEL_CFG_INT, "0", "initial value", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static long long counter_add(void *ctx, long long delta)
{
    counter_t *c = ctx;
    return atomic_fetch_add(&c->value, delta) + delta;
}

static long long counter_get(void *ctx)
{
    counter_t *c = ctx;
    return atomic_load(&c->value);
}

static const test_counter_api_t counter_api = {
    .struct_size = sizeof(test_counter_api_t),
    .add = counter_add,
    .get = counter_get,
};

static int counter_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    counter_t *c = host->calloc(1, sizeof *c);
    if (c == NULL)
        return KEEL_ENOMEM;
    c->host = host;
    int64_t start = 0;
    host->config_int(self, "start", &start);
    atomic_init(&c->value, start);
    int rc = host->service_provide(self, "counter", KEEL_VERSION(1, 2), &counter_api, c);
    if (rc != 0) {
        host->free(c);
        return rc;
    }
    *ctx = c;
    return 0;
}

static void counter_destroy(void *ctx)
{
    counter_t *c = ctx;
    c->host->free(c);
}

KEEL_PLUGIN_DECLARE(.name = "test_counter", .version = "1.0.0",
                    .description = "a counter service with per-instance state",
                    .config_keys = counter_keys, .init = counter_init, .destroy = counter_destroy);
