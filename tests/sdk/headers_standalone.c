/*
 * Compiled, never run, by the ctest sdk.headers_standalone: once as C11 and
 * once as C++11, with -Wall -Wextra -Werror -pedantic. It proves the public
 * headers need nothing but the C standard library and each other, and that
 * their macros expand cleanly in a third party's strictest build.
 */
#include <keel/harness.h>
#include <keel/keel.h>
#include <keel/queue.h>
#include <keel/store.h>
#include <keel/validate.h>

int headers_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx);
void headers_destroy(void *ctx);
int headers_harness(void);
size_t headers_services(const keel_queue_api_t *queue, const keel_validate_api_t *validate,
                        const keel_store_api_t *store);

/* The service interfaces' macros and KEEL_HAS on their vtables. */
size_t headers_services(const keel_queue_api_t *queue, const keel_validate_api_t *validate,
                        const keel_store_api_t *store)
{
    size_t usable = KEEL_HAS(store, keel_store_api_t, sequence_next) + KEEL_STORE_MAX_PAGE;
    usable += KEEL_HAS(queue, keel_queue_api_t, backup);
    usable += KEEL_HAS(queue, keel_queue_api_t, locate) + sizeof(keel_queue_location_t);
    usable += KEEL_HAS(validate, keel_validate_api_t, order_free);
    return usable + KEEL_QUEUE_MAX_BATCH + KEEL_VERSION_MAJOR(KEEL_QUEUE_VERSION) +
           KEEL_VERSION_MINOR(KEEL_VALIDATE_VERSION);
}

int headers_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    (void)ctx;
    /* KEEL_HAS on the host table, as a plugin needing ABI 1.1 would do. */
    if (!KEEL_HAS(host, keel_host_api_t, metrics_render)) {
        return KEEL_EVERSION;
    }
    host->log(self, KEEL_LOG_INFO, "abi %u.%u, version %u.%u", (unsigned)host->abi_major,
              (unsigned)host->abi_minor, (unsigned)KEEL_VERSION_MAJOR(KEEL_VERSION(1, 2)),
              (unsigned)KEEL_VERSION_MINOR(KEEL_VERSION(1, 2)));
    return 0;
}

void headers_destroy(void *ctx)
{
    (void)ctx;
}

#ifndef __cplusplus
/* Designated initialisers are C only (C++ has them from C++20 on). Written
 * as keel.h documents it, with a trailing semicolon. */
KEEL_PLUGIN_DECLARE(.name = "headers", .version = "0.0.0", .init = headers_init,
                    .destroy = headers_destroy);
#endif

/* Every harness function, so that a prototype mismatch shows up here. */
int headers_harness(void)
{
    keel_harness_t *h = keel_harness_new(NULL);
    keel_result_t result = KEEL_OK;
    keel_service_t service;
    char error[64];
    int err = keel_harness_add(h, "x", "./x.so", NULL);
    err |= keel_harness_capture(h, "t", KEEL_OK);
    err |= keel_harness_start(h);
    err |= keel_harness_publish(h, "t", "", 0, &result, error, sizeof(error));
    err |= keel_harness_wait(h, "t", 1, 10) != 1;
    err |= keel_harness_captured(h, "t", 0) != NULL;
    err |= keel_harness_service(h, "x", "store", KEEL_VERSION(1, 0), &service);
    keel_harness_set_time(h, 0);
    keel_harness_free(h);
    return err;
}
