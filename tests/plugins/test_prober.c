/* test_prober — tries, in start(), what its grants allow and what they do
 * not, and offers the outcomes as a "prober" service. */
#include "test_services.h"

#include <keel/keel.h>

typedef struct prober {
    const keel_host_api_t *host;
    keel_plugin_t *self;
    test_probe_results_t results;
} prober_t;

static const keel_config_key_t prober_keys[] = {
    {"granted_topic", KEEL_CFG_TOPIC, NULL, "a topic it may publish to", KEEL_CFG_REQUIRED, NULL},
    {"target", KEEL_CFG_INSTANCE, NULL, "an instance it may use", KEEL_CFG_REQUIRED, NULL},
    {"denied_topic", KEEL_CFG_STRING, NULL, "a topic it tries without a grant", KEEL_CFG_REQUIRED,
     NULL},
    {"denied_instance", KEEL_CFG_STRING, NULL, "an instance it tries without a grant",
     KEEL_CFG_REQUIRED, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const test_probe_results_t *prober_results(void *ctx)
{
    return &((prober_t *)ctx)->results;
}

static const test_prober_api_t prober_api = {sizeof(test_prober_api_t), prober_results};

static keel_result_t ignore(void *arg, const keel_msg_t *msg, keel_delivery_t *d)
{
    (void)arg, (void)msg, (void)d;
    return KEEL_OK;
}

static int prober_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    prober_t *p = host->calloc(1, sizeof *p);
    if (p == NULL)
        return KEEL_ENOMEM;
    p->host = host;
    p->self = self;
    *ctx = p;
    return host->service_provide(self, "prober", KEEL_VERSION(1, 0), &prober_api, p);
}

static int prober_start(void *ctx)
{
    prober_t *p = ctx;
    const keel_host_api_t *host = p->host;
    const char *topic = NULL, *target = NULL, *denied_topic = NULL, *denied_instance = NULL;
    host->config_string(p->self, "granted_topic", &topic);
    host->config_string(p->self, "target", &target);
    host->config_string(p->self, "denied_topic", &denied_topic);
    host->config_string(p->self, "denied_instance", &denied_instance);

    keel_msg_t msg = {.topic = topic};
    /* A done callback makes "no subscriber" a result instead of an error. */
    p->results.publish_granted = host->publish(p->self, &msg, NULL, NULL);
    msg.topic = denied_topic;
    p->results.publish_denied = host->publish(p->self, &msg, NULL, NULL);
    keel_service_t svc;
    p->results.lookup_granted =
        host->service_lookup(p->self, target, "counter", KEEL_VERSION(1, 0), &svc);
    p->results.lookup_denied =
        host->service_lookup(p->self, denied_instance, "counter", KEEL_VERSION(1, 0), &svc);
    p->results.subscribe_after_init = host->subscribe(p->self, topic, ignore, NULL);
    host->log(p->self, KEEL_LOG_INFO,
              "probe: publish_granted=%d publish_denied=%d lookup_granted=%d lookup_denied=%d "
              "subscribe_after_init=%d",
              p->results.publish_granted, p->results.publish_denied, p->results.lookup_granted,
              p->results.lookup_denied, p->results.subscribe_after_init);
    return 0;
}

static void prober_destroy(void *ctx)
{
    prober_t *p = ctx;
    p->host->free(p);
}

KEEL_PLUGIN_DECLARE(.name = "test_prober", .version = "1.0.0",
                    .description = "probes its own grants", .config_keys = prober_keys,
                    .init = prober_init, .start = prober_start, .destroy = prober_destroy);
