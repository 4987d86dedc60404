/* id.c — see id.h. */
#include "id.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Per-thread state: the last timestamp and its 80-bit random part, so ids
 * from one thread within one millisecond are strictly increasing. */
static _Thread_local struct {
    uint64_t last_ms;
    uint8_t random[10];
    char time_chars[10];
} id_state;

/* getrandom() cannot fail on Linux >= 3.17 once the pool is ready, but if
 * it does (ENOSYS in an odd sandbox), ids must stay unique, not loop: fall
 * back to mixing the clock and a per-thread counter (splitmix64). */
static void fill_random(uint8_t *buf, size_t len)
{
    size_t got = 0;
    int failures = 0;
    while (got < len && failures < 3) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            failures++;
    }
    static _Thread_local uint64_t counter;
    while (got < len) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t z = (uint64_t)now.tv_nsec ^ ((uint64_t)now.tv_sec << 32) ^ (uintptr_t)&counter;
        z += ++counter * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        for (int i = 0; i < 8 && got < len; i++)
            buf[got++] = (uint8_t)(z >> (8 * i));
    }
}

static void increment_random(uint8_t random[10])
{
    for (int i = 9; i >= 0; i--) {
        if (++random[i] != 0)
            return;
    }
}

/* Writes `count` base32 digits of `value` (low bits last) into out. */
static void encode(uint64_t value, char *out, int count)
{
    for (int i = count - 1; i >= 0; i--) {
        out[i] = crockford[value & 31U];
        value >>= 5;
    }
}

void id_new(uint64_t now_ms, char out[KEEL_ID_LEN + 1])
{
    if (now_ms > id_state.last_ms) {
        id_state.last_ms = now_ms;
        fill_random(id_state.random, sizeof id_state.random);
        /* The time part changes at most once per millisecond. */
        encode(now_ms & ((1ULL << 48) - 1), id_state.time_chars, 10);
    } else {
        /* Same (or earlier) millisecond: keep order by counting up. */
        increment_random(id_state.random);
    }
    memcpy(out, id_state.time_chars, 10);
    /* 80 random bits = two 40-bit halves of 8 digits each. */
    uint64_t high = 0, low = 0;
    for (int i = 0; i < 5; i++) {
        high = (high << 8) | id_state.random[i];
        low = (low << 8) | id_state.random[5 + i];
    }
    encode(high, out + 10, 8);
    encode(low, out + 18, 8);
    out[KEEL_ID_LEN] = '\0';
}

void id_generate(char out[KEEL_ID_LEN + 1])
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    id_new((uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000, out);
}
