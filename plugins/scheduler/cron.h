/*
 * cron.h — EventBridge schedule expressions: parse them and compute the
 * next firing. Pure (no keel headers, no global state).
 *
 *   rate(N unit)       unit minute|minutes|hour|hours|day|days; singular
 *                      only for N = 1 (as EventBridge: rate(1 hours) is
 *                      refused). Fires every N units from `rate_anchor_s`.
 *   cron(min hour day-of-month month day-of-week year)
 *                      six fields; `, - * /` everywhere; month JAN-DEC,
 *                      day-of-week 1-7 = SUN-SAT (or SUN..SAT); `?` and `L`
 *                      in the day fields, `W` (NW, LW) in day-of-month,
 *                      `#` (2#1: first Monday) and nL (6L: last Friday) in
 *                      day-of-week; exactly one day field must be `?`;
 *                      years 1970-2199. Ranges do not wrap (FRI-MON is
 *                      refused).
 *   at(yyyy-mm-ddThh:mm:ss)  one firing.
 *
 * cron and at are wall-clock times of the schedule's zone. A wall-clock
 * time that does not exist (spring-forward gap) is skipped; one that
 * exists twice (fall-back) fires once, at its first occurrence.
 */
#ifndef KEEL_SCHED_CRON_H
#define KEEL_SCHED_CRON_H

#include "tz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_MIN_YEAR 1970
#define SCHED_MAX_YEAR 2199

typedef enum sched_kind { SCHED_RATE = 1, SCHED_CRON, SCHED_AT } sched_kind_t;

typedef struct sched_expr {
    sched_kind_t kind;
    /* rate */
    int64_t rate_s;        /* period */
    int64_t rate_anchor_s; /* firings are anchor + k * period (0 by default) */
    /* at: wall-clock seconds, counted as if the zone were UTC */
    int64_t at_local_s;
    /* cron: bit sets */
    uint64_t minutes;      /* bits 0..59 */
    uint32_t hours;        /* bits 0..23 */
    uint32_t months;       /* bits 1..12 */
    uint64_t years[4];     /* bit (y - 1970), 230 years */
    bool dom_any;          /* day-of-month is '?' */
    uint32_t dom;          /* bits 1..31 */
    bool dom_last;         /* L */
    bool dom_last_weekday; /* LW */
    uint32_t dom_weekday;  /* NW: bits 1..31 */
    bool dow_any;          /* day-of-week is '?' */
    uint8_t dow;           /* bits 1..7 (1 = SUN) */
    uint8_t dow_last;      /* nL: bits 1..7 */
    uint8_t dow_nth[8];    /* n#k: dow_nth[n] has bit k (1..5) */
} sched_expr_t;

/**
 * Parses `expr`. Returns 0, or the 1-based character position in `expr`
 * of the mistake, with a message in err[err_len] naming the field, e.g.
 * "field 5 (day-of-week) at character 14: 8 is not in 1-7 (SUN-SAT)".
 */
int sched_parse(const char *expr, sched_expr_t *out, char *err, size_t err_len);

/**
 * The first firing strictly after `after_unix_s` in `zone` (NULL: UTC).
 * Returns false when there is none (an at() in the past, or no matching
 * time up to the end of 2199).
 */
bool sched_next(const sched_expr_t *e, const tz_t *zone, int64_t after_unix_s,
                int64_t *next_unix_s);

#endif
