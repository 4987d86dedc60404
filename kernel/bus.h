/*
 * bus.h — topics, subscriptions and message delivery.
 *
 * Subscriptions are made while plugins initialise, then the topic table is
 * frozen: publishing reads it without locks. A published message is copied
 * once into a single allocation shared by all of its deliveries; each
 * delivery runs as one worker job. The message is freed, and the
 * publisher's done callback runs, when the last delivery finishes.
 */
#ifndef KEEL_KERNEL_BUS_H
#define KEEL_KERNEL_BUS_H

#include "workers.h"

#include <keel/keel.h>

typedef struct bus bus_t;

/* Limits of one published message (KEEL_EINVAL beyond them). */
#define KEEL_MAX_BODY_BYTES ((size_t)1 << 30)
#define KEEL_MAX_ATTRS      1024

bus_t *bus_new(void);
/* Before the first publish: deliveries run on this pool. */
void bus_set_workers(bus_t *bus, workers_t *workers);
void bus_free(bus_t *bus);

/* Before bus_freeze() only; not thread-safe. `owner` identifies the
 * subscriber (an instance) for duplicate checks.
 * 0, KEEL_EINVAL, KEEL_ESTATE, KEEL_EEXIST, KEEL_ENOMEM. */
int bus_subscribe(bus_t *bus, const char *topic, keel_handler_fn fn, void *arg, const void *owner);
void bus_freeze(bus_t *bus);

/* True when some handler is subscribed to `topic`. */
bool bus_has_subscribers(const bus_t *bus, const char *topic);

/* See host->publish. Any thread. */
int bus_publish(bus_t *bus, const keel_msg_t *msg, keel_publish_done_fn done, void *done_arg);

/* See host->complete and host->delivery_error. */
int bus_complete(keel_delivery_t *delivery, keel_result_t result);
void bus_delivery_error(keel_delivery_t *delivery, const char *reason);

/* Deliveries whose handler returned KEEL_ASYNC and did not complete yet.
 * Together with workers_outstanding() this says whether work is in flight. */
size_t bus_async_pending(const bus_t *bus);

#endif
