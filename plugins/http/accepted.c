/*
 * accepted.c — the table of accepted orders whose record is being stored
 * (see accepted.h): a chained hash table keyed by order_id. It holds at
 * most the orders of the last few milliseconds, so it stays small.
 */
#include "accepted.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { BUCKETS = 4096 };

typedef struct entry {
    struct entry *next;
    uint64_t created_at_ms;
    size_t json_len;
    char hash[65];
    char message_id[KEEL_ID_LEN + 1];
    char *customer_id, *json; /* point into order_id's allocation */
    char order_id[];
} entry_t;

struct accepted {
    pthread_mutex_t lock;
    entry_t *buckets[BUCKETS];
};

static size_t bucket_of(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % BUCKETS);
}

/* The entry of id and the link pointing at it (lock held). */
static entry_t **find(accepted_t *a, const char *id)
{
    entry_t **at = &a->buckets[bucket_of(id)];
    while (*at != NULL && strcmp((*at)->order_id, id) != 0)
        at = &(*at)->next;
    return at;
}

accepted_t *accepted_new(void)
{
    accepted_t *a = calloc(1, sizeof *a);
    if (a != NULL)
        pthread_mutex_init(&a->lock, NULL);
    return a;
}

void accepted_free(accepted_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        while (a->buckets[i] != NULL) {
            entry_t *e = a->buckets[i];
            a->buckets[i] = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&a->lock);
    free(a);
}

int accepted_claim(accepted_t *a, const keel_order_record_t *r, uint64_t now_ms)
{
    size_t id_len = strlen(r->order_id) + 1, customer_len = strlen(r->customer_id) + 1;
    entry_t *e = malloc(sizeof *e + id_len + customer_len + r->order_json_len + 1);
    if (e == NULL)
        return KEEL_ENOMEM;
    memcpy(e->order_id, r->order_id, id_len);
    e->customer_id = e->order_id + id_len;
    memcpy(e->customer_id, r->customer_id, customer_len);
    e->json = e->customer_id + customer_len;
    memcpy(e->json, r->order_json, r->order_json_len);
    e->json[r->order_json_len] = '\0';
    e->json_len = r->order_json_len;
    memcpy(e->hash, r->payload_hash, sizeof e->hash - 1);
    e->hash[sizeof e->hash - 1] = '\0';
    e->message_id[0] = '\0';
    e->created_at_ms = now_ms;
    pthread_mutex_lock(&a->lock);
    entry_t **at = find(a, r->order_id);
    int rc = 0;
    if (*at != NULL) {
        rc = strcmp((*at)->hash, e->hash) == 0 ? KEEL_EEXIST : KEEL_ECONFLICT;
    } else {
        e->next = NULL;
        *at = e;
        e = NULL;
    }
    pthread_mutex_unlock(&a->lock);
    free(e);
    return rc;
}

void accepted_set_message(accepted_t *a, const char *order_id, const char *message_id)
{
    pthread_mutex_lock(&a->lock);
    entry_t *e = *find(a, order_id);
    if (e != NULL)
        memcpy(e->message_id, message_id, sizeof e->message_id);
    pthread_mutex_unlock(&a->lock);
}

void accepted_release(accepted_t *a, const char *order_id)
{
    pthread_mutex_lock(&a->lock);
    entry_t **at = find(a, order_id), *e = *at;
    if (e != NULL)
        *at = e->next;
    pthread_mutex_unlock(&a->lock);
    free(e);
}

int accepted_lookup(accepted_t *a, const char *order_id, accepted_copy_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&a->lock);
    entry_t *e = *find(a, order_id);
    if (e == NULL) {
        pthread_mutex_unlock(&a->lock);
        return KEEL_ENOTFOUND;
    }
    size_t id_len = strlen(e->order_id) + 1, customer_len = strlen(e->customer_id) + 1;
    char *m =
        malloc(id_len + customer_len + e->json_len + 1 + sizeof e->hash + sizeof e->message_id);
    if (m != NULL) {
        keel_order_record_t *r = &out->record;
        char *p = m;
        r->order_id = memcpy(p, e->order_id, id_len), p += id_len;
        r->customer_id = memcpy(p, e->customer_id, customer_len), p += customer_len;
        r->order_json = memcpy(p, e->json, e->json_len + 1), p += e->json_len + 1;
        r->order_json_len = e->json_len;
        r->payload_hash = memcpy(p, e->hash, sizeof e->hash), p += sizeof e->hash;
        r->message_id = memcpy(p, e->message_id, sizeof e->message_id);
        r->status = "QUEUED";
        r->confirmation_number = "";
        r->error = "";
        r->created_at_ms = r->updated_at_ms = e->created_at_ms;
        r->version = 0;
        out->mem = m;
    }
    pthread_mutex_unlock(&a->lock);
    return m == NULL ? KEEL_ENOMEM : 0;
}

void accepted_copy_free(accepted_copy_t *c)
{
    free(c->mem);
    c->mem = NULL;
}
