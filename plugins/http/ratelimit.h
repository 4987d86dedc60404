/* ratelimit.h — token buckets per client (API key or address) in a
 * bounded table: a full neighbourhood evicts its least recently used
 * bucket, so memory stays fixed whatever the number of clients. */
#ifndef KEEL_HTTP_RATELIMIT_H
#define KEEL_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

/** rate tokens per second (> 0), burst bucket size (>= 1), capacity
 * buckets (rounded up to a power of two). NULL on ENOMEM. */
ratelimit_t *ratelimit_new(double rate, double burst, size_t capacity);
void ratelimit_free(ratelimit_t *rl);

/** Takes one token for `key` at now_ms. False when the bucket is empty;
 * then *retry_after_s (>= 1) says when a token will be there. Any thread. */
bool ratelimit_take(ratelimit_t *rl, const char *key, uint64_t now_ms, uint32_t *retry_after_s);

#endif
