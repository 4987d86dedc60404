/*
 * tz.h — time zones for the scheduler, without touching the process-wide
 * TZ variable (setenv("TZ") + localtime_r is unsafe with threads).
 *
 * A zone is read from a TZif file (RFC 8536 / tzfile(5), version 2 or
 * later: the 64-bit section and the POSIX TZ footer that describes times
 * after the last transition). Debian ships them in the `tzdata` package
 * under /usr/share/zoneinfo. "UTC" always works, even without tzdata.
 *
 * Pure: no keel headers, no global state; every function is thread-safe
 * on a loaded zone.
 */
#ifndef KEEL_SCHED_TZ_H
#define KEEL_SCHED_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

typedef struct tz tz_t;

/**
 * Loads the zone `name` (an IANA name such as "Europe/Berlin", or "UTC")
 * from `dir` (NULL: TZ_DEFAULT_DIR). Returns 0 and *out (free with
 * tz_free), or -1 with a reason in err[err_len] (unknown zone, not a TZif
 * file, no v2 data, bad footer).
 */
int tz_load(const char *dir, const char *name, tz_t **out, char *err, size_t err_len);

/** Parses a TZif image from memory (for tests); as tz_load. */
int tz_parse(const unsigned char *data, size_t len, const char *name, tz_t **out, char *err,
             size_t err_len);

void tz_free(tz_t *zone);

/** The zone's name as given to tz_load. */
const char *tz_name(const tz_t *zone);

/** Seconds east of UTC in effect at the instant `unix_s`. NULL zone: UTC. */
int32_t tz_offset(const tz_t *zone, int64_t unix_s);

/**
 * Local wall-clock time `local_s` (civil seconds counted as if the zone
 * were UTC) back to an instant. Returns false when that wall-clock time
 * does not exist (a spring-forward gap). When it exists twice (fall-back),
 * *first is the earlier instant and *second the later one; otherwise both
 * are the same.
 */
bool tz_resolve(const tz_t *zone, int64_t local_s, int64_t *first, int64_t *second);

/* ---- civil calendar helpers (proleptic Gregorian), shared with cron.c ---- */

/** Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
int64_t tz_days_from_civil(int64_t y, int m, int d);
/** The date of `days` since 1970-01-01. */
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/** 0 = Sunday .. 6 = Saturday. */
int tz_weekday(int64_t days);
bool tz_is_leap(int64_t y);
int tz_month_days(int64_t y, int m);

#endif
