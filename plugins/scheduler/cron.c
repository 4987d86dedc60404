/*
 * cron.c — see cron.h. The parser keeps a pointer into the expression
 * everywhere so that each error names the exact character; the next-time
 * search walks wall-clock days in the schedule's zone and maps each
 * matching minute back to an instant with tz_resolve().
 */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { FIELD_MIN, FIELD_HOUR, FIELD_DOM, FIELD_MONTH, FIELD_DOW, FIELD_YEAR, FIELD_COUNT };

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

typedef struct field_def {
    const char *name;
    int min, max;
    const char *const *names; /* names of min, min + 1, ... or NULL */
    const char *range_text;
} field_def_t;

static const field_def_t fields[FIELD_COUNT] = {
    {"minutes", 0, 59, NULL, "0-59"},
    {"hours", 0, 23, NULL, "0-23"},
    {"day-of-month", 1, 31, NULL, "1-31"},
    {"month", 1, 12, month_names, "1-12 or JAN-DEC"},
    {"day-of-week", 1, 7, day_names, "1-7 (SUN-SAT)"},
    {"year", SCHED_MIN_YEAR, SCHED_MAX_YEAR, NULL, "1970-2199"},
};

typedef struct parser {
    const char *expr;
    char *err;
    size_t err_len;
    int field; /* FIELD_* being parsed, or -1 */
} parser_t;

/* Writes the message and returns the 1-based position of `at`. */
static int error_at(parser_t *p, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int error_at(parser_t *p, const char *at, const char *fmt, ...)
{
    int pos = (int)(at - p->expr) + 1;
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (p->field >= 0)
        snprintf(p->err, p->err_len, "field %d (%s) at character %d: %s", p->field + 1,
                 fields[p->field].name, pos, why);
    else
        snprintf(p->err, p->err_len, "at character %d: %s", pos, why);
    return pos;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* Reads digits in [*s, end) into *out (capped); false when there are none. */
static bool read_int(const char **s, const char *end, int *out)
{
    const char *q = *s;
    long v = 0;
    while (q < end && is_digit(*q)) {
        if (v < 100000)
            v = v * 10 + (*q - '0');
        q++;
    }
    if (q == *s)
        return false;
    *s = q;
    *out = (int)v;
    return true;
}

/* A number or a three-letter name of the field, checked against its range. */
static int read_value(parser_t *p, const char **s, const char *end, int *out)
{
    const field_def_t *f = &fields[p->field];
    const char *at = *s;
    if (read_int(s, end, out)) {
        if (*out < f->min || *out > f->max)
            return error_at(p, at, "%d is not in %s", *out, f->range_text);
        return 0;
    }
    if (f->names != NULL && end - at >= 3) {
        for (int i = 0; i <= f->max - f->min; i++) {
            const char *n = f->names[i];
            if (upper(at[0]) == n[0] && upper(at[1]) == n[1] && upper(at[2]) == n[2] &&
                (end - at == 3 || !((upper(at[3]) >= 'A' && upper(at[3]) <= 'Z')))) {
                *out = f->min + i;
                *s = at + 3;
                return 0;
            }
        }
    }
    return error_at(p, at, "'%.*s' is not a value in %s", (int)(end - at), at, f->range_text);
}

typedef struct bits {
    uint64_t w[4]; /* bit (value - field min) */
} bits_t;

static void set_bit(bits_t *b, int i)
{
    b->w[i / 64] |= UINT64_C(1) << (i % 64);
}

static bool get_bit(const uint64_t *w, int i)
{
    return (w[i / 64] >> (i % 64)) & 1;
}

/* Day-field specials; returns 1 when the item was not one. */
static int parse_day_special(parser_t *p, const char *s, const char *e, sched_expr_t *out)
{
    size_t n = (size_t)(e - s);
    if (p->field == FIELD_DOM) {
        if (n == 1 && upper(*s) == 'L') {
            out->dom_last = true;
            return 0;
        }
        if (n == 2 && upper(s[0]) == 'L' && upper(s[1]) == 'W') {
            out->dom_last_weekday = true;
            return 0;
        }
        if (n >= 2 && upper(e[-1]) == 'W') {
            const char *q = s;
            int v;
            if (!read_int(&q, e - 1, &v) || q != e - 1)
                return error_at(p, s, "W needs a day number before it (e.g. 15W)");
            if (v < 1 || v > 31)
                return error_at(p, s, "%d is not in 1-31", v);
            out->dom_weekday |= UINT32_C(1) << v;
            return 0;
        }
        return 1;
    }
    /* day-of-week */
    if (n == 1 && upper(*s) == 'L') {
        out->dow |= 1U << 7; /* alone, L is the last day of the week: SAT */
        return 0;
    }
    const char *hash = memchr(s, '#', n);
    if (hash != NULL) {
        const char *q = s;
        int day, nth;
        int rc = read_value(p, &q, hash, &day);
        if (rc != 0)
            return rc;
        if (q != hash)
            return error_at(p, q, "unexpected '%c' before '#'", *q);
        q = hash + 1;
        if (!read_int(&q, e, &nth) || q != e || nth < 1 || nth > 5)
            return error_at(p, hash + 1, "after '#' comes the week of the month, 1-5");
        out->dow_nth[day] |= (uint8_t)(1U << nth);
        return 0;
    }
    if (n >= 2 && upper(e[-1]) == 'L') {
        const char *q = s;
        int day;
        int rc = read_value(p, &q, e - 1, &day);
        if (rc != 0)
            return rc;
        if (q != e - 1)
            return error_at(p, q, "unexpected '%c' before 'L'", *q);
        out->dow_last |= (uint8_t)(1U << day);
        return 0;
    }
    return 1;
}

/* One list item in [s, e): *, a, a-b, with an optional /step. */
static int parse_item(parser_t *p, const char *s, const char *e, bits_t *b, sched_expr_t *out)
{
    const field_def_t *f = &fields[p->field];
    if (s == e)
        return error_at(p, s, "empty list item");
    if (p->field == FIELD_DOM || p->field == FIELD_DOW) {
        if (memchr(s, '?', (size_t)(e - s)) != NULL)
            return error_at(p, s, "'?' must be the whole field");
        int rc = parse_day_special(p, s, e, out);
        if (rc != 1)
            return rc;
    }
    const char *slash = memchr(s, '/', (size_t)(e - s));
    const char *base_end = slash ? slash : e;
    const char *q = s;
    int lo, hi, step = 1;
    if (*q == '*') {
        q++;
        lo = f->min;
        hi = f->max;
    } else {
        int rc = read_value(p, &q, base_end, &lo);
        if (rc != 0)
            return rc;
        hi = slash ? f->max : lo;
        if (q < base_end && *q == '-') {
            const char *at = ++q;
            if ((rc = read_value(p, &q, base_end, &hi)) != 0)
                return rc;
            if (hi < lo)
                return error_at(p, at, "range ends before it starts (ranges do not wrap)");
        }
    }
    if (q != base_end)
        return error_at(p, q, "unexpected '%c'", *q);
    if (slash != NULL) {
        q = slash + 1;
        if (!read_int(&q, e, &step) || q != e || step < 1)
            return error_at(p, slash + 1, "after '/' comes a step of 1 or more");
    }
    for (int v = lo; v <= hi; v += step)
        set_bit(b, v - f->min);
    return 0;
}

static int parse_field(parser_t *p, const char *s, const char *e, sched_expr_t *out)
{
    bits_t b = {{0}};
    if (e - s == 1 && *s == '?') {
        if (p->field != FIELD_DOM && p->field != FIELD_DOW)
            return error_at(p, s, "'?' is only allowed in day-of-month and day-of-week");
        if (p->field == FIELD_DOM)
            out->dom_any = true;
        else
            out->dow_any = true;
        return 0;
    }
    for (const char *item = s; item <= e;) {
        const char *comma = memchr(item, ',', (size_t)(e - item));
        const char *item_end = comma ? comma : e;
        int rc = parse_item(p, item, item_end, &b, out);
        if (rc != 0)
            return rc;
        item = item_end + 1;
    }
    switch (p->field) {
    case FIELD_MIN:
        out->minutes = b.w[0];
        break;
    case FIELD_HOUR:
        out->hours = (uint32_t)b.w[0];
        break;
    case FIELD_DOM:
        out->dom = (uint32_t)(b.w[0] << 1);
        break;
    case FIELD_MONTH:
        out->months = (uint32_t)(b.w[0] << 1);
        break;
    case FIELD_DOW:
        out->dow |= (uint8_t)(b.w[0] << 1);
        break;
    default:
        memcpy(out->years, b.w, sizeof out->years);
        break;
    }
    return 0;
}

static int parse_cron(parser_t *p, const char *s, const char *end, sched_expr_t *out)
{
    const char *starts[FIELD_COUNT];
    int count = 0;
    const char *q = s;
    for (;;) {
        while (q < end && *q == ' ')
            q++;
        if (q == end)
            break;
        if (count == FIELD_COUNT)
            return error_at(p, q,
                            "too many fields: cron() has 6 (minutes hours day-of-month "
                            "month day-of-week year)");
        starts[count] = q;
        while (q < end && *q != ' ')
            q++;
        p->field = count;
        int rc = parse_field(p, starts[count], q, out);
        if (rc != 0)
            return rc;
        count++;
    }
    p->field = -1;
    if (count < FIELD_COUNT)
        return error_at(p, end,
                        "%d field%s, cron() needs 6 (minutes hours day-of-month month "
                        "day-of-week year)",
                        count, count == 1 ? "" : "s");
    p->field = FIELD_DOW;
    if (out->dom_any && out->dow_any)
        return error_at(p, starts[FIELD_DOW], "day-of-month and day-of-week cannot both be '?'");
    if (!out->dom_any && !out->dow_any)
        return error_at(
            p, starts[FIELD_DOW],
            "one of day-of-month and day-of-week must be '?' (e.g. cron(0 12 * * ? *))");
    out->kind = SCHED_CRON;
    return 0;
}

static int parse_rate(parser_t *p, const char *s, const char *end, sched_expr_t *out)
{
    const char *q = s;
    int n;
    if (!read_int(&q, end, &n) || n < 1 || n > 99999)
        return error_at(p, s, "rate() needs a whole number of 1 or more (e.g. rate(5 minutes))");
    if (q == end || *q != ' ')
        return error_at(p, q, "expected a space and a unit (minutes, hours or days)");
    while (q < end && *q == ' ')
        q++;
    static const struct {
        const char *singular;
        int64_t seconds;
    } units[] = {{"minute", 60}, {"hour", 3600}, {"day", 86400}};
    size_t len = (size_t)(end - q);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t ul = strlen(units[i].singular);
        bool singular = len == ul && memcmp(q, units[i].singular, ul) == 0;
        bool plural = len == ul + 1 && memcmp(q, units[i].singular, ul) == 0 && q[ul] == 's';
        if (!singular && !plural)
            continue;
        if (n == 1 && plural)
            return error_at(p, q, "use '%s' for 1", units[i].singular);
        if (n > 1 && singular)
            return error_at(p, q, "use '%ss' for %d", units[i].singular, n);
        out->kind = SCHED_RATE;
        out->rate_s = n * units[i].seconds;
        return 0;
    }
    return error_at(p, q, "'%.*s' is not a unit: minute(s), hour(s) or day(s)", (int)len, q);
}

static int parse_at(parser_t *p, const char *s, const char *end, sched_expr_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (s + i >= end)
            return error_at(p, s + i, "at() takes yyyy-mm-ddThh:mm:ss");
        bool ok = shape[i] == 'd' ? is_digit(s[i]) : s[i] == shape[i];
        if (!ok)
            return error_at(p, s + i, "at() takes yyyy-mm-ddThh:mm:ss ('%c' here)", s[i]);
    }
    if (s + sizeof shape - 1 != end)
        return error_at(p, s + sizeof shape - 1, "unexpected text after the time");
    int v[6];
    const int offsets[6] = {0, 5, 8, 11, 14, 17}, widths[6] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        v[i] = 0;
        for (int j = 0; j < widths[i]; j++)
            v[i] = v[i] * 10 + (s[offsets[i] + j] - '0');
    }
    if (v[0] < SCHED_MIN_YEAR || v[0] > SCHED_MAX_YEAR)
        return error_at(p, s, "year %d is not in 1970-2199", v[0]);
    if (v[1] < 1 || v[1] > 12)
        return error_at(p, s + 5, "month %d is not in 1-12", v[1]);
    if (v[2] < 1 || v[2] > tz_month_days(v[0], v[1]))
        return error_at(p, s + 8, "%04d-%02d has no day %d", v[0], v[1], v[2]);
    if (v[3] > 23)
        return error_at(p, s + 11, "hour %d is not in 0-23", v[3]);
    if (v[4] > 59)
        return error_at(p, s + 14, "minute %d is not in 0-59", v[4]);
    if (v[5] > 59)
        return error_at(p, s + 17, "second %d is not in 0-59", v[5]);
    out->kind = SCHED_AT;
    out->at_local_s = tz_days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
    return 0;
}

int sched_parse(const char *expr, sched_expr_t *out, char *err, size_t err_len)
{
    parser_t p = {expr, err, err_len, -1};
    memset(out, 0, sizeof *out);
    if (err_len > 0)
        err[0] = '\0';
    static const struct {
        const char *prefix;
        int (*parse)(parser_t *, const char *, const char *, sched_expr_t *);
    } kinds[] = {{"rate(", parse_rate}, {"cron(", parse_cron}, {"at(", parse_at}};
    size_t len = strlen(expr);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t pl = strlen(kinds[i].prefix);
        if (strncmp(expr, kinds[i].prefix, pl) != 0)
            continue;
        const char *close = memchr(expr + pl, ')', len - pl);
        if (close == NULL)
            return error_at(&p, expr + len, "missing ')'");
        if (close != expr + len - 1)
            return error_at(&p, close + 1, "unexpected text after ')'");
        int rc = kinds[i].parse(&p, expr + pl, close, out);
        if (rc != 0)
            memset(out, 0, sizeof *out);
        return rc;
    }
    return error_at(&p, expr, "expected rate(...), cron(...) or at(...)");
}

/* ---- next firing ------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int weekday_of(int64_t y, int m, int d)
{
    return tz_weekday(tz_days_from_civil(y, m, d));
}

/* The weekday nearest to day n of the month, not leaving the month; 0 if
 * the month has no day n. */
static int nearest_weekday(int64_t y, int m, int n)
{
    int last = tz_month_days(y, m);
    if (n > last)
        return 0;
    int wd = weekday_of(y, m, n);
    if (wd == 6)
        return n == 1 ? 3 : n - 1;
    if (wd == 0)
        return n == last ? n - 2 : n + 1;
    return n;
}

static bool day_matches(const sched_expr_t *e, int64_t y, int m, int d, int64_t days)
{
    int last = tz_month_days(y, m);
    if (e->dow_any) {
        if ((e->dom >> d) & 1)
            return true;
        if (e->dom_last && d == last)
            return true;
        if (e->dom_last_weekday && d == nearest_weekday(y, m, last))
            return true;
        for (int n = 1; n <= 31 && e->dom_weekday >> n; n++)
            if (((e->dom_weekday >> n) & 1) && nearest_weekday(y, m, n) == d)
                return true;
        return false;
    }
    int wd = tz_weekday(days) + 1; /* 1 = SUN */
    if ((e->dow >> wd) & 1)
        return true;
    if (((e->dow_last >> wd) & 1) && d + 7 > last)
        return true;
    return (e->dow_nth[wd] >> ((d - 1) / 7 + 1)) & 1;
}

static bool next_cron(const sched_expr_t *e, const tz_t *zone, int64_t after, int64_t *next)
{
    int64_t local_after = after + tz_offset(zone, after);
    int64_t minute = floor_div(local_after, 60) + 1; /* first candidate, local */
    int64_t day = floor_div(minute, 1440);
    int first_minute = (int)(minute - day * 1440);
    int64_t min_day = tz_days_from_civil(SCHED_MIN_YEAR, 1, 1);
    if (day < min_day) {
        day = min_day;
        first_minute = 0;
    }
    for (;;) {
        int64_t y;
        int m, d;
        tz_civil_from_days(day, &y, &m, &d);
        if (y > SCHED_MAX_YEAR)
            return false;
        if (!get_bit(e->years, (int)(y - SCHED_MIN_YEAR))) {
            day = tz_days_from_civil(y + 1, 1, 1);
            first_minute = 0;
            continue;
        }
        if (!((e->months >> m) & 1)) {
            day = m == 12 ? tz_days_from_civil(y + 1, 1, 1) : tz_days_from_civil(y, m + 1, 1);
            first_minute = 0;
            continue;
        }
        if (day_matches(e, y, m, d, day)) {
            for (int h = first_minute / 60; h < 24; h++) {
                if (!((e->hours >> h) & 1))
                    continue;
                for (int mi = 0; mi < 60; mi++) {
                    if (!((e->minutes >> mi) & 1) || h * 60 + mi < first_minute)
                        continue;
                    int64_t local = day * 86400 + h * 3600 + mi * 60, first, second;
                    /* A gap skips the time; a repeated time counts once, at
                     * its first occurrence (already passed if <= after). */
                    if (tz_resolve(zone, local, &first, &second) && first > after) {
                        *next = first;
                        return true;
                    }
                }
            }
        }
        day++;
        first_minute = 0;
    }
}

bool sched_next(const sched_expr_t *e, const tz_t *zone, int64_t after_unix_s, int64_t *next_unix_s)
{
    switch (e->kind) {
    case SCHED_RATE: {
        if (e->rate_s <= 0)
            return false;
        int64_t k = floor_div(after_unix_s - e->rate_anchor_s, e->rate_s) + 1;
        *next_unix_s = e->rate_anchor_s + k * e->rate_s;
        return true;
    }
    case SCHED_AT: {
        int64_t first, second;
        if (!tz_resolve(zone, e->at_local_s, &first, &second) || first <= after_unix_s)
            return false;
        *next_unix_s = first;
        return true;
    }
    case SCHED_CRON:
        return next_cron(e, zone, after_unix_s, next_unix_s);
    }
    return false;
}
