/*
 * accepted.h — orders the ingress has accepted whose QUEUED record is not
 * stored yet. The 202 leaves as soon as the queue committed the order; the
 * record is written in the background. Until it is, this table answers
 * GET /api/v1/orders/{id} and makes a concurrent POST of the same id with
 * another payload a 409. Any thread; one mutex, short critical sections.
 */
#ifndef HTTP_ACCEPTED_H
#define HTTP_ACCEPTED_H

#include <keel/keel.h>
#include <keel/store.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct accepted accepted_t;

/* An entry copied out: record points into mem. */
typedef struct accepted_copy {
    keel_order_record_t record;
    char *mem;
} accepted_copy_t;

accepted_t *accepted_new(void);
void accepted_free(accepted_t *a);

/*
 * Records that an order is being enqueued. 0: the caller owns the entry
 * (it must release it); KEEL_EEXIST: an entry with the same hash exists
 * (not owned: the queue's dedup decides); KEEL_ECONFLICT: another payload
 * is being accepted under this id; KEEL_ENOMEM.
 */
int accepted_claim(accepted_t *a, const keel_order_record_t *r, uint64_t now_ms);
/* The queue committed the owned entry's message. */
void accepted_set_message(accepted_t *a, const char *order_id, const char *message_id);
/* Removes the owned entry of order_id. */
void accepted_release(accepted_t *a, const char *order_id);
/* 0 and a copy of the entry as a QUEUED record (free with
 * accepted_copy_free), or KEEL_ENOTFOUND / KEEL_ENOMEM. */
int accepted_lookup(accepted_t *a, const char *order_id, accepted_copy_t *out);
void accepted_copy_free(accepted_copy_t *c);

#endif
