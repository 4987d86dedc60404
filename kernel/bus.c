/* bus.c — see bus.h. */
#include "bus.h"

#include "id.h"
#include "msgpool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct subscription {
    keel_handler_fn fn;
    void *arg;
    const void *owner;
} subscription_t;

typedef struct topic {
    char *name;
    size_t name_len;
    uint64_t hash;
    subscription_t *subs;
    size_t sub_count;
} topic_t;

struct bus {
    _Atomic(workers_t *) workers; /* NULL before start and after the pool stopped */
    msgpool_t *messages;
    topic_t *slots; /* open addressing; name == NULL marks an empty slot */
    size_t capacity;
    size_t topic_count;
    bool frozen;
    atomic_long async_pending; /* may dip below 0 briefly */
};

struct keel_delivery {
    struct bus_msg *message;
    const subscription_t *sub;
    keel_result_t result;
    char *error;
};

/* One published message and its deliveries, in a single allocation:
 * [bus_msg][deliveries][attrs][id, attribute strings][body]. */
typedef struct bus_msg {
    bus_t *bus;
    keel_publish_done_fn done;
    void *done_arg;
    atomic_uint remaining;
    unsigned delivery_count;
    keel_msg_t msg;
    struct keel_delivery deliveries[];
} bus_msg_t;

static uint64_t hash_name(const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static topic_t *find_slot(topic_t *slots, size_t capacity, const char *name, size_t len,
                          uint64_t hash)
{
    size_t i = hash & (capacity - 1);
    while (slots[i].name != NULL) {
        if (slots[i].hash == hash && slots[i].name_len == len &&
            memcmp(slots[i].name, name, len) == 0)
            return &slots[i];
        i = (i + 1) & (capacity - 1);
    }
    return &slots[i];
}

static const topic_t *find_topic(const bus_t *bus, const char *name)
{
    if (bus->capacity == 0)
        return NULL;
    size_t len = strlen(name);
    const topic_t *slot = find_slot(bus->slots, bus->capacity, name, len, hash_name(name, len));
    return slot->name ? slot : NULL;
}

static int grow(bus_t *bus)
{
    size_t capacity = bus->capacity ? bus->capacity * 2 : 16;
    topic_t *slots = calloc(capacity, sizeof *slots);
    if (slots == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < bus->capacity; i++) {
        topic_t *old = &bus->slots[i];
        if (old->name)
            *find_slot(slots, capacity, old->name, old->name_len, old->hash) = *old;
    }
    free(bus->slots);
    bus->slots = slots;
    bus->capacity = capacity;
    return 0;
}

void bus_set_workers(bus_t *bus, workers_t *workers)
{
    atomic_store(&bus->workers, workers);
}

bus_t *bus_new(void)
{
    bus_t *bus = calloc(1, sizeof *bus);
    if (bus == NULL)
        return NULL;
    bus->messages = msgpool_new();
    if (bus->messages == NULL) {
        free(bus);
        return NULL;
    }
    atomic_init(&bus->async_pending, 0);
    return bus;
}

void bus_free(bus_t *bus)
{
    if (bus == NULL)
        return;
    for (size_t i = 0; i < bus->capacity; i++) {
        free(bus->slots[i].name);
        free(bus->slots[i].subs);
    }
    free(bus->slots);
    msgpool_free(bus->messages);
    free(bus);
}

int bus_subscribe(bus_t *bus, const char *topic, keel_handler_fn fn, void *arg, const void *owner)
{
    if (topic == NULL || *topic == '\0' || fn == NULL)
        return KEEL_EINVAL;
    if (bus->frozen)
        return KEEL_ESTATE;
    if ((bus->topic_count + 1) * 4 > bus->capacity * 3 && grow(bus) != 0)
        return KEEL_ENOMEM;
    size_t len = strlen(topic);
    uint64_t hash = hash_name(topic, len);
    topic_t *slot = find_slot(bus->slots, bus->capacity, topic, len, hash);
    for (size_t i = 0; slot->name && i < slot->sub_count; i++) {
        if (slot->subs[i].fn == fn && slot->subs[i].owner == owner)
            return KEEL_EEXIST;
    }
    /* Grow the subscriber list before creating the topic: a topic must
     * never exist without subscribers (publish would lose messages). */
    subscription_t *subs = realloc(slot->subs, (slot->sub_count + 1) * sizeof *subs);
    if (subs == NULL)
        return KEEL_ENOMEM;
    slot->subs = subs;
    if (slot->name == NULL) {
        slot->name = strdup(topic);
        if (slot->name == NULL) {
            free(slot->subs);
            slot->subs = NULL;
            return KEEL_ENOMEM;
        }
        slot->name_len = len;
        slot->hash = hash;
        bus->topic_count++;
    }
    subs[slot->sub_count++] = (subscription_t){fn, arg, owner};
    return 0;
}

void bus_freeze(bus_t *bus)
{
    bus->frozen = true;
}

bool bus_has_subscribers(const bus_t *bus, const char *topic)
{
    return find_topic(bus, topic) != NULL;
}

static void finish_message(bus_msg_t *m)
{
    keel_result_t worst = KEEL_OK;
    const char *error = NULL;
    for (unsigned i = 0; i < m->delivery_count; i++) {
        const struct keel_delivery *d = &m->deliveries[i];
        if (d->result > worst || (d->result == worst && error == NULL && d->error)) {
            worst = d->result;
            error = d->error;
        }
    }
    if (m->done)
        m->done(m->done_arg, worst, worst == KEEL_OK ? NULL : error);
    for (unsigned i = 0; i < m->delivery_count; i++)
        free(m->deliveries[i].error);
    msgpool_release(m);
}

static void finish_delivery(struct keel_delivery *d, keel_result_t result)
{
    if ((unsigned)result > KEEL_FAIL) {
        char reason[64];
        snprintf(reason, sizeof reason, "handler returned invalid result %d", (int)result);
        bus_delivery_error(d, reason);
        result = KEEL_FAIL;
    }
    d->result = result;
    bus_msg_t *m = d->message;
    /* acq_rel: the last finisher must see every other delivery's result. */
    if (atomic_fetch_sub_explicit(&m->remaining, 1, memory_order_acq_rel) == 1)
        finish_message(m);
}

static void deliver_job(void *a, void *b)
{
    (void)b;
    struct keel_delivery *d = a;
    bus_t *bus = d->message->bus; /* d may be gone once the handler returns ASYNC */
    keel_result_t result = d->sub->fn(d->sub->arg, &d->message->msg, d);
    if (result == KEEL_ASYNC) {
        atomic_fetch_add(&bus->async_pending, 1);
        return;
    }
    finish_delivery(d, result);
}

/* Bytes of the single allocation holding a copy of msg and its deliveries;
 * 0 when the sizes overflow (a plugin passing a garbage length). */
static size_t message_size(const keel_msg_t *msg, unsigned deliveries)
{
    size_t size = sizeof(bus_msg_t) + KEEL_ID_LEN + 1, part;
    if (__builtin_mul_overflow((size_t)deliveries, sizeof(struct keel_delivery), &part) ||
        __builtin_add_overflow(size, part, &size) ||
        __builtin_mul_overflow(msg->attr_count, sizeof(keel_attr_t), &part) ||
        __builtin_add_overflow(size, part, &size) ||
        __builtin_add_overflow(size, msg->body_len, &size))
        return 0;
    if (msg->id)
        size += strlen(msg->id);
    for (size_t i = 0; i < msg->attr_count; i++) {
        if (__builtin_add_overflow(
                size, strlen(msg->attrs[i].key) + strlen(msg->attrs[i].value) + 2, &size))
            return 0;
    }
    return size;
}

static char *copy_string(char **cursor, const char *text)
{
    size_t len = strlen(text) + 1;
    char *out = memcpy(*cursor, text, len);
    *cursor += len;
    return out;
}

static bus_msg_t *copy_message(bus_t *bus, const keel_msg_t *msg, const topic_t *topic)
{
    size_t size = message_size(msg, (unsigned)topic->sub_count);
    bus_msg_t *m = size ? msgpool_alloc(bus->messages, size) : NULL;
    if (m == NULL)
        return NULL;
    m->delivery_count = (unsigned)topic->sub_count;
    keel_attr_t *attrs = (keel_attr_t *)(m->deliveries + m->delivery_count);
    char *cursor = (char *)(attrs + msg->attr_count);
    if (msg->id) {
        m->msg.id = copy_string(&cursor, msg->id);
    } else {
        id_generate(cursor);
        m->msg.id = cursor;
        cursor += KEEL_ID_LEN + 1;
    }
    for (size_t i = 0; i < msg->attr_count; i++) {
        attrs[i].key = copy_string(&cursor, msg->attrs[i].key);
        attrs[i].value = copy_string(&cursor, msg->attrs[i].value);
    }
    m->msg.topic = topic->name;
    m->msg.attrs = msg->attr_count ? attrs : NULL;
    m->msg.attr_count = msg->attr_count;
    if (msg->body_len)
        memcpy(cursor, msg->body, msg->body_len);
    m->msg.body = cursor;
    m->msg.body_len = msg->body_len;
    return m;
}

static bool message_valid(const keel_msg_t *msg)
{
    if (msg == NULL || msg->topic == NULL || (msg->body == NULL && msg->body_len != 0) ||
        (msg->attrs == NULL && msg->attr_count != 0) || msg->body_len > KEEL_MAX_BODY_BYTES ||
        msg->attr_count > KEEL_MAX_ATTRS)
        return false;
    if (msg->id && (*msg->id == '\0' || strlen(msg->id) > 256))
        return false;
    for (size_t i = 0; i < msg->attr_count; i++) {
        if (msg->attrs[i].key == NULL || msg->attrs[i].value == NULL || *msg->attrs[i].key == 0)
            return false;
    }
    return true;
}

int bus_publish(bus_t *bus, const keel_msg_t *msg, keel_publish_done_fn done, void *done_arg)
{
    if (!message_valid(msg))
        return KEEL_EINVAL;
    workers_t *workers = atomic_load(&bus->workers);
    if (workers == NULL)
        return KEEL_ESHUTDOWN;
    const topic_t *topic = find_topic(bus, msg->topic);
    if (topic == NULL) {
        if (done == NULL)
            return KEEL_ENOTFOUND;
        char reason[300];
        snprintf(reason, sizeof reason, "no subscriber for topic '%.256s'", msg->topic);
        done(done_arg, KEEL_FAIL, reason);
        return 0;
    }
    bus_msg_t *m = copy_message(bus, msg, topic);
    if (m == NULL)
        return KEEL_ENOMEM;
    m->bus = bus;
    m->done = done;
    m->done_arg = done_arg;
    atomic_init(&m->remaining, m->delivery_count);
    for (unsigned i = 0; i < m->delivery_count; i++)
        m->deliveries[i] = (struct keel_delivery){m, &topic->subs[i], KEEL_OK, NULL};

    /* Once the first delivery is submitted a worker may finish them all
     * and free m: nothing below reads m except through what it owns. */
    unsigned count = m->delivery_count;
    for (unsigned i = 0; i < count; i++) {
        int rc = workers_submit(workers, deliver_job, &m->deliveries[i], NULL);
        if (rc == 0)
            continue;
        if (i == 0) {
            msgpool_release(m);
            return rc;
        }
        /* Some handlers already have it: the rest count as retriable. The
         * deliveries not yet submitted keep m alive until they finish. */
        for (unsigned j = i; j < count; j++) {
            bus_delivery_error(&m->deliveries[j], "could not schedule delivery");
            finish_delivery(&m->deliveries[j], KEEL_RETRY);
        }
        break;
    }
    return 0;
}

int bus_complete(keel_delivery_t *delivery, keel_result_t result)
{
    if (delivery == NULL)
        return KEEL_EINVAL;
    bus_t *bus = delivery->message->bus;
    int rc = (unsigned)result > KEEL_FAIL ? KEEL_EINVAL : 0;
    finish_delivery(delivery, result);
    atomic_fetch_sub(&bus->async_pending, 1);
    return rc;
}

void bus_delivery_error(keel_delivery_t *delivery, const char *reason)
{
    if (delivery == NULL || reason == NULL)
        return;
    char *copy = strdup(reason);
    if (copy == NULL)
        return;
    free(delivery->error);
    delivery->error = copy;
}

size_t bus_async_pending(const bus_t *bus)
{
    long pending = atomic_load(&((bus_t *)bus)->async_pending);
    return pending > 0 ? (size_t)pending : 0;
}
