/* ratelimit.c — see ratelimit.h. Keys are stored as 64-bit FNV-1a
 * hashes: a collision only makes two clients share a bucket. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>

enum { PROBE = 8 };

typedef struct bucket {
    uint64_t key; /* 0: empty */
    double tokens;
    uint64_t last_ms;
} bucket_t;

struct ratelimit {
    double rate, burst;
    size_t mask;
    bucket_t *buckets;
    pthread_mutex_t lock;
};

ratelimit_t *ratelimit_new(double rate, double burst, size_t capacity)
{
    size_t size = PROBE;
    while (size < capacity)
        size *= 2;
    ratelimit_t *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->buckets = calloc(size, sizeof *rl->buckets);
    if (rl->buckets == NULL) {
        free(rl);
        return NULL;
    }
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    rl->mask = size - 1;
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void ratelimit_free(ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->buckets);
    free(rl);
}

static uint64_t key_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h == 0 ? 1 : h;
}

bool ratelimit_take(ratelimit_t *rl, const char *key, uint64_t now_ms, uint32_t *retry_after_s)
{
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&rl->lock);
    bucket_t *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        bucket_t *b = &rl->buckets[(h + i) & rl->mask];
        if (b->key == h) {
            slot = b;
            break;
        }
        if (oldest == NULL || b->key == 0 || (oldest->key != 0 && b->last_ms < oldest->last_ms))
            oldest = b;
    }
    if (slot == NULL) { /* new client: a full bucket in a free or evicted slot */
        slot = oldest;
        slot->key = h;
        slot->tokens = rl->burst;
        slot->last_ms = now_ms;
    }
    if (now_ms > slot->last_ms) {
        slot->tokens += (double)(now_ms - slot->last_ms) / 1000.0 * rl->rate;
        if (slot->tokens > rl->burst)
            slot->tokens = rl->burst;
        slot->last_ms = now_ms;
    }
    bool allowed = slot->tokens >= 1.0;
    if (allowed) {
        slot->tokens -= 1.0;
    } else {
        double wait_s = (1.0 - slot->tokens) / rl->rate;
        uint32_t whole = wait_s > 86400 ? 86400 : (uint32_t)wait_s;
        if ((double)whole < wait_s && whole < 86400)
            whole++; /* round up: a token is there after this many seconds */
        *retry_after_s = whole < 1 ? 1 : whole;
    }
    pthread_mutex_unlock(&rl->lock);
    return allowed;
}
