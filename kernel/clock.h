/*
 * clock.h — time helpers shared inside the kernel (not part of the SDK).
 */
#ifndef KEEL_KERNEL_CLOCK_H
#define KEEL_KERNEL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* `ms` milliseconds from now on `clock`, as an absolute deadline for
 * pthread_cond_timedwait (use the clock the condition variable uses). */
static inline struct timespec deadline_after_ms(clockid_t clock, uint64_t ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Milliseconds on the monotonic clock: for durations and deadlines that
 * must not follow wall-clock jumps or an injected test clock. */
static inline uint64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Nanoseconds on the monotonic clock: for latencies under a millisecond
 * (a step that takes 200 µs must not be observed as 0). */
static inline uint64_t monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#endif
