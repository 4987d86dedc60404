/*
 * last_fired.h — the small state file behind `catch_up`: one line per
 * schedule, "<name> <unix seconds of its last firing>". Pure (no keel
 * headers); the caller serialises calls.
 */
#ifndef KEEL_SCHED_LAST_FIRED_H
#define KEEL_SCHED_LAST_FIRED_H

#include <stddef.h>
#include <stdint.h>

#define LAST_FIRED_MAX_NAME 64

typedef struct last_fired {
    char name[LAST_FIRED_MAX_NAME + 1];
    int64_t unix_s;
} last_fired_t;

/**
 * Reads up to `max` entries of `path` into out[]; *count says how many.
 * A missing file is empty (0). Malformed lines are skipped. Returns 0, or
 * -errno when the file exists but cannot be read.
 */
int last_fired_load(const char *path, last_fired_t *out, size_t max, size_t *count);

/**
 * Replaces `path` with `count` entries: written to "<path>.tmp", fsynced,
 * then renamed over it, so a crash leaves the old or the new file. Returns
 * 0 or -errno.
 */
int last_fired_save(const char *path, const last_fired_t *items, size_t count);

#endif
