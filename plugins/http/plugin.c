/* plugin.c — the `http` module: HTTP ingress (health, readiness, metrics,
 * queue admin API, static files). See http.h for the threading model. */
#include "accepted.h"
#include "auth.h"
#include "http.h"
#include "ratelimit.h"

#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RATELIMIT_CLIENTS = 65536 };

static void server_free(http_server_t *srv)
{
    if (atomic_load(&srv->outstanding) > 0)
        return; /* a late callback may still use it: leaked (logged by http_server_free) */
    http_tls_free(srv);
    accepted_free(srv->accepted);
    if (srv->backup != NULL)
        http_backup_free(srv->backup);
    ratelimit_free(srv->ratelimit);
    http_config_free(srv, &srv->cfg);
    auth_sha256_free(srv->sha256);
    free(srv);
}

static int check_orders_queue(http_server_t *srv);

static int http_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    if (!KEEL_HAS(host, keel_host_api_t, readiness) ||
        !KEEL_HAS(host, keel_host_api_t, metrics_render)) {
        host->log(self, KEEL_LOG_ERROR, "this keeld is too old for the http plugin (ABI 1.2)");
        return KEEL_EVERSION;
    }
    /* Loops are woken from queue threads with event_active(). */
    if (evthread_use_pthreads() != 0) {
        host->log(self, KEEL_LOG_ERROR, "libevent: cannot enable pthreads support");
        return KEEL_EFAILED;
    }
    http_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return KEEL_ENOMEM;
    srv->self = self;
    srv->host = host;
    if ((srv->sha256 = auth_sha256_new()) == NULL) {
        host->log(self, KEEL_LOG_ERROR, "OpenSSL: cannot fetch SHA-256");
        free(srv);
        return KEEL_EFAILED;
    }
    int rc = http_config_read(srv);
    if (rc == 0)
        rc = http_tls_init(srv);
    if (rc == 0 && srv->cfg.queue_instance != NULL) {
        keel_service_t svc;
        /* 1.0 is enough: locate() (1.1) is used when present. */
        rc = host->service_lookup(self, srv->cfg.queue_instance, KEEL_QUEUE_INTERFACE,
                                  KEEL_VERSION(1, 0), &svc);
        if (rc != 0)
            host->log(self, KEEL_LOG_ERROR, "queue: instance '%s' has no queue service: %s",
                      srv->cfg.queue_instance, host->strerror(rc));
        else if (!KEEL_HAS((const keel_queue_api_t *)svc.vtable, keel_queue_api_t, list_queues))
            rc = KEEL_EVERSION;
        srv->queue = svc.vtable;
        srv->queue_ctx = svc.ctx;
    }
    if (rc == 0 && srv->cfg.validate_instance != NULL) {
        keel_service_t svc;
        rc = host->service_lookup(self, srv->cfg.validate_instance, KEEL_VALIDATE_INTERFACE,
                                  KEEL_VALIDATE_VERSION, &svc);
        if (rc != 0)
            host->log(self, KEEL_LOG_ERROR, "validate: instance '%s' has no validate service: %s",
                      srv->cfg.validate_instance, host->strerror(rc));
        srv->validate = rc == 0 ? svc.vtable : NULL;
        srv->validate_ctx = rc == 0 ? svc.ctx : NULL;
    }
    if (rc == 0 && srv->cfg.store_instance != NULL) {
        keel_service_t svc;
        /* 2.0: put_lazy (2.1) is used only when the provider has it. */
        rc = host->service_lookup(self, srv->cfg.store_instance, KEEL_STORE_INTERFACE,
                                  KEEL_VERSION(2, 0), &svc);
        if (rc != 0)
            host->log(self, KEEL_LOG_ERROR, "store: instance '%s' has no store service: %s",
                      srv->cfg.store_instance, host->strerror(rc));
        srv->store = rc == 0 ? svc.vtable : NULL;
        srv->store_ctx = rc == 0 ? svc.ctx : NULL;
    }
    if (rc == 0 && srv->queue != NULL && srv->validate != NULL && srv->store != NULL)
        rc = check_orders_queue(srv);
    if (rc == 0 && srv->store != NULL && (srv->accepted = accepted_new()) == NULL)
        rc = KEEL_ENOMEM;
    if (rc == 0 && (srv->backup = http_backup_new()) == NULL)
        rc = KEEL_ENOMEM;
    if (rc == 0 && srv->cfg.rate > 0) {
        srv->ratelimit = ratelimit_new(srv->cfg.rate, srv->cfg.burst, RATELIMIT_CLIENTS);
        if (srv->ratelimit == NULL)
            rc = KEEL_ENOMEM;
    }
    if (rc == 0)
        rc = http_metrics_register(srv);
    if (rc != 0) {
        server_free(srv);
        return rc;
    }
    *ctx = srv;
    return 0;
}

/* The order routes send to `orders_queue`: a name the queue instance does
 * not have would answer every order 500 while the daemon looks ready. */
static int check_orders_queue(http_server_t *srv)
{
    keel_queue_stats_t st;
    if (srv->queue->stats(srv->queue_ctx, srv->cfg.orders_queue, &st) != KEEL_EINVAL)
        return 0;
    const char *names[16];
    size_t n = srv->queue->list_queues(srv->queue_ctx, names, 16);
    char known[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && i < 16 && used < sizeof known; i++) {
        int w = snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", names[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (n > 16 && used + 5 < sizeof known)
        strcat(known, ", ...");
    srv->host->log(srv->self, KEEL_LOG_ERROR,
                   "orders_queue: queue instance '%s' has no queue named '%s' (it has: %s)",
                   srv->cfg.queue_instance, srv->cfg.orders_queue, known[0] ? known : "none");
    return KEEL_ENOTFOUND;
}

static int http_start(void *ctx)
{
    http_server_t *srv = ctx;
    /* Before any order is taken: until then the store could not tell
     * another payload under a lost id (409) from a new order. */
    int rc = http_recover(srv);
    return rc == 0 ? http_server_start(srv) : rc;
}

/* A stop began: the pipelines are finishing their batches, and the
 * listeners stay open until stop() so that status reads, probes (/readyz
 * says 503) and the answers in flight still get through; new orders are
 * refused (orders.c) so that they go to another instance or come back. */
static void http_drain(void *ctx)
{
    http_server_t *srv = ctx;
    atomic_store(&srv->draining, true);
}

static void http_stop(void *ctx)
{
    http_server_stop(ctx);
}

static void http_destroy(void *ctx)
{
    http_server_t *srv = ctx;
    http_server_free(srv);
    server_free(srv);
}

KEEL_PLUGIN_DECLARE(.name = "http", .version = "0.1.0",
                    .description = "HTTP ingress: health, readiness, metrics, queue admin API "
                                   "and static files on libevent",
                    .config_keys = http_config_keys, .init = http_init, .start = http_start,
                    .stop = http_stop, .destroy = http_destroy, .drain = http_drain);
