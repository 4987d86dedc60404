/*
 * tz.c — see tz.h. A TZif reader (v2+ 64-bit data only; the 32-bit block is
 * skipped) plus the POSIX TZ rule of its footer for instants after the last
 * transition, e.g. "CET-1CEST,M3.5.0,M10.5.0/3".
 */
#include "tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TZIF_BYTES = 1 << 20, HEADER_BYTES = 44, MAX_NAME = 255 };

typedef struct rule_date {
    char kind; /* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' (month.week.day) */
    int a, b, c;
    int32_t time_s; /* local time of day of the change, may be negative or > 24h */
} rule_date_t;

typedef struct posix_rule {
    bool present;
    bool has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    rule_date_t start, end;
} posix_rule_t;

struct tz {
    char name[MAX_NAME + 1];
    size_t count;       /* transitions */
    int64_t *times;     /* ascending */
    unsigned char *idx; /* type index per transition */
    size_t type_count;
    int32_t *offsets; /* per type */
    posix_rule_t rule;
};

/* ---- calendar ----------------------------------------------------------- */

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int tz_weekday(int64_t days)
{
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

bool tz_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tz_month_days(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && tz_is_leap(y) ? 29 : days[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- POSIX TZ rule ------------------------------------------------------ */

static bool parse_number(const char **p, int min, int max, int *out)
{
    const char *s = *p;
    int v = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > max)
            return false;
    }
    if (v < min)
        return false;
    *out = v;
    *p = s;
    return true;
}

/* [+-]hh[:mm[:ss]] in seconds, hours up to max_hours. */
static bool parse_hms(const char **p, int max_hours, int32_t *out)
{
    int sign = 1, h = 0, m = 0, s = 0;
    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if (!parse_number(p, 0, max_hours, &h))
        return false;
    if (**p == ':') {
        (*p)++;
        if (!parse_number(p, 0, 59, &m))
            return false;
        if (**p == ':') {
            (*p)++;
            if (!parse_number(p, 0, 59, &s))
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool parse_abbr(const char **p)
{
    const char *s = *p;
    size_t n = 0;
    if (*s == '<') {
        for (s++; *s && *s != '>'; s++)
            n++;
        if (*s != '>')
            return false;
        s++;
    } else {
        for (; (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'); s++)
            n++;
    }
    *p = s;
    return n >= 3;
}

static bool parse_rule_date(const char **p, rule_date_t *out)
{
    out->time_s = 7200;
    if (**p == 'J') {
        (*p)++;
        out->kind = 'J';
        if (!parse_number(p, 1, 365, &out->a))
            return false;
    } else if (**p == 'M') {
        (*p)++;
        out->kind = 'M';
        if (!parse_number(p, 1, 12, &out->a) || *(*p)++ != '.' || !parse_number(p, 1, 5, &out->b) ||
            *(*p)++ != '.' || !parse_number(p, 0, 6, &out->c))
            return false;
    } else {
        out->kind = 'N';
        if (!parse_number(p, 0, 365, &out->a))
            return false;
    }
    if (**p == '/') {
        (*p)++;
        if (!parse_hms(p, 167, &out->time_s))
            return false;
    }
    return true;
}

static bool parse_posix(const char *s, posix_rule_t *r)
{
    memset(r, 0, sizeof *r);
    int32_t off;
    if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
        return false;
    r->std_off = -off; /* POSIX counts west of UTC */
    r->present = true;
    if (*s == '\0')
        return true;
    if (!parse_abbr(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!parse_hms(&s, 24, &off))
            return false;
        r->dst_off = -off;
    }
    if (*s == '\0') { /* the POSIX default: US rules */
        r->start = (rule_date_t){'M', 3, 2, 0, 7200};
        r->end = (rule_date_t){'M', 11, 1, 0, 7200};
        return true;
    }
    if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
        !parse_rule_date(&s, &r->end))
        return false;
    return *s == '\0';
}

static int64_t rule_day(const rule_date_t *d, int64_t year)
{
    int64_t jan1 = tz_days_from_civil(year, 1, 1);
    if (d->kind == 'J')
        return jan1 + d->a - 1 + (tz_is_leap(year) && d->a >= 60);
    if (d->kind == 'N')
        return jan1 + d->a;
    int64_t first = tz_days_from_civil(year, d->a, 1);
    int64_t day = first + (d->c - tz_weekday(first) + 7) % 7 + (int64_t)(d->b - 1) * 7;
    while (day >= first + tz_month_days(year, d->a))
        day -= 7;
    return day;
}

static int32_t posix_offset(const posix_rule_t *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int64_t y;
    int m, d;
    tz_civil_from_days(floor_div(t + r->std_off, 86400), &y, &m, &d);
    int64_t start = rule_day(&r->start, y) * 86400 + r->start.time_s - r->std_off;
    int64_t end = rule_day(&r->end, y) * 86400 + r->end.time_s - r->dst_off;
    bool dst = start < end ? t >= start && t < end : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

/* ---- TZif --------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct counts {
    uint32_t isut, isstd, leap, time, type, chars;
} counts_t;

static bool read_header(const unsigned char *p, size_t len, counts_t *c, char *version)
{
    if (len < HEADER_BYTES || memcmp(p, "TZif", 4) != 0)
        return false;
    *version = (char)p[4];
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    return c->type >= 1 && c->type <= 256 && c->time <= 1000000 && c->leap <= 100000 &&
           c->chars <= 100000 && c->isut <= 256 && c->isstd <= 256;
}

static int fail(char *err, size_t err_len, const char *name, const char *why)
{
    snprintf(err, err_len, "time zone '%s': %s", name, why);
    return -1;
}

static tz_t *new_zone(const char *name)
{
    tz_t *z = calloc(1, sizeof *z);
    if (z != NULL)
        snprintf(z->name, sizeof z->name, "%s", name);
    return z;
}

int tz_parse(const unsigned char *data, size_t len, const char *name, tz_t **out, char *err,
             size_t err_len)
{
    counts_t c;
    char version;
    if (!read_header(data, len, &c, &version))
        return fail(err, err_len, name, "not a TZif file");
    if (version < '2')
        return fail(err, err_len, name, "TZif version 1 has no 64-bit data; update tzdata");
    size_t v1 =
        (size_t)c.time * 5 + (size_t)c.type * 6 + c.chars + (size_t)c.leap * 8 + c.isstd + c.isut;
    if (len < HEADER_BYTES + v1)
        return fail(err, err_len, name, "truncated TZif file");
    const unsigned char *p = data + HEADER_BYTES + v1;
    size_t rest = len - HEADER_BYTES - v1;
    if (!read_header(p, rest, &c, &version))
        return fail(err, err_len, name, "bad second TZif header");
    size_t v2 =
        (size_t)c.time * 9 + (size_t)c.type * 6 + c.chars + (size_t)c.leap * 12 + c.isstd + c.isut;
    if (rest < HEADER_BYTES + v2)
        return fail(err, err_len, name, "truncated TZif file");
    p += HEADER_BYTES;
    const unsigned char *end = p + v2, *limit = data + len;

    tz_t *z = new_zone(name);
    if (z == NULL)
        return fail(err, err_len, name, "out of memory");
    z->count = c.time;
    z->type_count = c.type;
    z->times = calloc(c.time + 1, sizeof *z->times);
    z->idx = calloc(c.time + 1, 1);
    z->offsets = calloc(c.type, sizeof *z->offsets);
    if (z->times == NULL || z->idx == NULL || z->offsets == NULL) {
        tz_free(z);
        return fail(err, err_len, name, "out of memory");
    }
    for (size_t i = 0; i < c.time; i++) {
        z->times[i] = be64(p + i * 8);
        z->idx[i] = p[c.time * 8 + i];
        if (z->idx[i] >= c.type || (i > 0 && z->times[i] <= z->times[i - 1])) {
            tz_free(z);
            return fail(err, err_len, name, "bad transition data");
        }
    }
    const unsigned char *types = p + (size_t)c.time * 9;
    for (size_t i = 0; i < c.type; i++)
        z->offsets[i] = (int32_t)be32(types + i * 6);

    /* The footer: "\n<POSIX TZ>\n", possibly empty. */
    if (end < limit && *end == '\n') {
        const unsigned char *nl = memchr(end + 1, '\n', (size_t)(limit - end - 1));
        size_t n = nl ? (size_t)(nl - end - 1) : 0;
        if (nl != NULL && n > 0 && n < 128) {
            char footer[128];
            memcpy(footer, end + 1, n);
            footer[n] = '\0';
            if (!parse_posix(footer, &z->rule)) {
                tz_free(z);
                return fail(err, err_len, name, "cannot read the POSIX TZ footer");
            }
        }
    }
    *out = z;
    return 0;
}

static bool name_ok(const char *name)
{
    if (name[0] == '\0' || name[0] == '/' || strlen(name) > MAX_NAME)
        return false;
    for (const char *s = name; *s; s++) {
        bool ok = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= '0' && *s <= '9') || strchr("/_-+", *s) != NULL;
        if (!ok)
            return false;
    }
    return strstr(name, "..") == NULL;
}

int tz_load(const char *dir, const char *name, tz_t **out, char *err, size_t err_len)
{
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        tz_t *z = new_zone(name);
        if (z == NULL)
            return fail(err, err_len, name, "out of memory");
        *out = z; /* no transitions, no rule: offset 0 */
        return 0;
    }
    if (!name_ok(name))
        return fail(err, err_len, name, "not an IANA time zone name (e.g. Europe/Berlin)");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : TZ_DEFAULT_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        char why[600];
        snprintf(why, sizeof why, "unknown time zone (no %s; is the tzdata package installed?)",
                 path);
        return fail(err, err_len, name, why);
    }
    unsigned char *data = malloc(MAX_TZIF_BYTES);
    if (data == NULL) {
        fclose(f);
        return fail(err, err_len, name, "out of memory");
    }
    size_t len = fread(data, 1, MAX_TZIF_BYTES, f);
    fclose(f);
    int rc = tz_parse(data, len, name, out, err, err_len);
    free(data);
    return rc;
}

void tz_free(tz_t *zone)
{
    if (zone == NULL)
        return;
    free(zone->times);
    free(zone->idx);
    free(zone->offsets);
    free(zone);
}

const char *tz_name(const tz_t *zone)
{
    return zone ? zone->name : "UTC";
}

int32_t tz_offset(const tz_t *zone, int64_t unix_s)
{
    if (zone == NULL)
        return 0;
    if (zone->count == 0 || unix_s < zone->times[0]) {
        if (zone->count == 0 && zone->rule.present)
            return posix_offset(&zone->rule, unix_s);
        return zone->type_count > 0 ? zone->offsets[0] : 0;
    }
    if (unix_s >= zone->times[zone->count - 1] && zone->rule.present)
        return posix_offset(&zone->rule, unix_s);
    size_t lo = 0, hi = zone->count; /* the last transition <= unix_s is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (zone->times[mid] <= unix_s)
            lo = mid;
        else
            hi = mid;
    }
    return zone->offsets[zone->idx[lo]];
}

bool tz_resolve(const tz_t *zone, int64_t local_s, int64_t *first, int64_t *second)
{
    /* Any offset that can map to local_s is in effect within a day of it
     * (offsets stay within +-26 h of each other); this assumes at most one
     * transition within that window, true of every zone in use today. */
    int32_t candidates[3] = {tz_offset(zone, local_s - 86400), tz_offset(zone, local_s),
                             tz_offset(zone, local_s + 86400)};
    bool found = false;
    int64_t lo = 0, hi = 0;
    for (int i = 0; i < 3; i++) {
        int64_t t = local_s - candidates[i];
        if (tz_offset(zone, t) != candidates[i])
            continue;
        if (!found || t < lo)
            lo = t;
        if (!found || t > hi)
            hi = t;
        found = true;
    }
    if (found) {
        *first = lo;
        *second = hi;
    }
    return found;
}
