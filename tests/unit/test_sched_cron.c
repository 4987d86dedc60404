/* Scheduler expressions: rate/cron/at parsing (EventBridge syntax, the
 * examples from AWS's documentation, errors with positions), next firing
 * times (day-of-week numbering, L, W, #, leap years) and time zones read
 * from TZif files (DST gaps skipped, repeated hours fired once, POSIX
 * footer rules after the last transition). */
#include "cron.h"
#include "tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* "2026-03-08T07:00:00Z" (or without Z) as Unix seconds. */
static int64_t utc(const char *iso)
{
    int y, m, d, h, mi, s;
    assert_int_equal(sscanf(iso, "%d-%d-%dT%d:%d:%d", &y, &m, &d, &h, &mi, &s), 6);
    return tz_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
}

static tz_t *zone(const char *name)
{
    tz_t *z = NULL;
    char err[300];
    int rc = tz_load(NULL, name, &z, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    return z;
}

static void parse_ok(const char *expr, sched_expr_t *e)
{
    char err[300];
    int rc = sched_parse(expr, e, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: %s", expr, err);
}

/* The next firing of `expr` in zone `tz_name` after `after`, as ISO UTC. */
static void expect_next_in(const char *tz_name, const char *expr, const char *after,
                           const char *want)
{
    sched_expr_t e;
    parse_ok(expr, &e);
    tz_t *z = zone(tz_name);
    int64_t next = 0;
    bool found = sched_next(&e, z, utc(after), &next);
    tz_free(z);
    if (want == NULL) {
        if (found)
            fail_msg("%s after %s: expected none, got %lld", expr, after, (long long)next);
        return;
    }
    if (!found)
        fail_msg("%s after %s: no firing, expected %s", expr, after, want);
    if (next != utc(want))
        fail_msg("%s after %s: got %lld, expected %s (%lld)", expr, after, (long long)next, want,
                 (long long)utc(want));
}

static void expect_next(const char *expr, const char *after, const char *want)
{
    expect_next_in("UTC", expr, after, want);
}

static void expect_error(const char *expr, int pos, const char *message)
{
    sched_expr_t e;
    char err[300];
    int rc = sched_parse(expr, &e, err, sizeof err);
    if (rc != pos)
        fail_msg("%s: position %d, expected %d (%s)", expr, rc, pos, err);
    assert_string_equal(err, message);
}

static void test_aws_documentation_examples(void **state)
{
    (void)state;
    /* 2026-11-22 is a Sunday. */
    expect_next("cron(0 10 * * ? *)", "2026-11-22T06:00:00Z", "2026-11-22T10:00:00Z");
    expect_next("cron(0 10 * * ? *)", "2026-11-22T10:00:00Z", "2026-11-23T10:00:00Z");
    expect_next("cron(15 12 * * ? *)", "2026-11-22T06:00:00Z", "2026-11-22T12:15:00Z");
    expect_next("cron(0 18 ? * MON-FRI *)", "2026-11-22T06:00:00Z", "2026-11-23T18:00:00Z");
    expect_next("cron(0 18 ? * MON-FRI *)", "2026-11-27T18:00:00Z", "2026-11-30T18:00:00Z");
    expect_next("cron(0 8 1 * ? *)", "2026-11-22T06:00:00Z", "2026-12-01T08:00:00Z");
    expect_next("cron(0/15 * * * ? *)", "2026-11-22T10:07:00Z", "2026-11-22T10:15:00Z");
    expect_next("cron(0/15 * * * ? *)", "2026-11-22T10:45:00Z", "2026-11-22T11:00:00Z");
    expect_next("cron(0/10 * ? * MON-FRI *)", "2026-11-22T23:55:00Z", "2026-11-23T00:00:00Z");
    expect_next("cron(0/10 * ? * MON-FRI *)", "2026-11-23T00:00:00Z", "2026-11-23T00:10:00Z");
    expect_next("cron(0/5 8-17 ? * MON-FRI *)", "2026-11-23T07:00:00Z", "2026-11-23T08:00:00Z");
    expect_next("cron(0/5 8-17 ? * MON-FRI *)", "2026-11-23T17:55:00Z", "2026-11-24T08:00:00Z");
    expect_next("cron(0 9 ? * 2#1 *)", "2026-11-22T06:00:00Z", "2026-12-07T09:00:00Z");
    expect_next("cron(0 12 * * ? *)", "2026-11-22T12:00:30Z", "2026-11-23T12:00:00Z");
    expect_next("cron(5,35 14 * * ? *)", "2026-11-22T14:05:00Z", "2026-11-22T14:35:00Z");
    expect_next("cron(15 10 ? * 6L 2019-2022)", "2019-01-01T00:00:00Z", "2019-01-25T10:15:00Z");
    expect_next("cron(15 10 ? * 6L 2019-2022)", "2022-12-30T10:15:00Z", NULL);
    expect_next("cron(0 0/4 ? * MON-FRI *)", "2026-11-23T04:00:00Z", "2026-11-23T08:00:00Z");

    sched_expr_t e;
    parse_ok("rate(5 minutes)", &e);
    assert_int_equal(e.kind, SCHED_RATE);
    assert_int_equal(e.rate_s, 300);
    parse_ok("rate(1 hour)", &e);
    assert_int_equal(e.rate_s, 3600);
    parse_ok("rate(7 days)", &e);
    assert_int_equal(e.rate_s, 7 * 86400);
    parse_ok("rate(1 minute)", &e);
    assert_int_equal(e.rate_s, 60);
    parse_ok("rate(1 day)", &e);
    assert_int_equal(e.rate_s, 86400);
    parse_ok("rate(12 hours)", &e);
    assert_int_equal(e.rate_s, 12 * 3600);
}

static void test_rate_counts_from_its_anchor(void **state)
{
    (void)state;
    sched_expr_t e;
    parse_ok("rate(5 minutes)", &e);
    e.rate_anchor_s = 1000;
    int64_t next;
    assert_true(sched_next(&e, NULL, 1000, &next));
    assert_int_equal(next, 1300);
    assert_true(sched_next(&e, NULL, 1299, &next));
    assert_int_equal(next, 1300);
    assert_true(sched_next(&e, NULL, 1300, &next));
    assert_int_equal(next, 1600);
    assert_true(sched_next(&e, NULL, 1000 + 3 * 3600 + 1, &next)); /* missed ones: not replayed */
    assert_int_equal(next, 1000 + 3 * 3600 + 300);
}

static void test_at_fires_once(void **state)
{
    (void)state;
    expect_next("at(2027-01-15T09:30:00)", "2026-11-22T06:00:00Z", "2027-01-15T09:30:00Z");
    expect_next("at(2027-01-15T09:30:00)", "2027-01-15T09:30:00Z", NULL);
    expect_next_in("Europe/Berlin", "at(2027-01-15T09:30:00)", "2026-11-22T06:00:00Z",
                   "2027-01-15T08:30:00Z");
    expect_next("at(2028-02-29T12:00:00)", "2026-11-22T06:00:00Z", "2028-02-29T12:00:00Z");
}

static void test_invalid_expressions_name_the_position(void **state)
{
    (void)state;
    expect_error("cron(0 12 * * * *)", 15,
                 "field 5 (day-of-week) at character 15: one of day-of-month and day-of-week "
                 "must be '?' (e.g. cron(0 12 * * ? *))");
    expect_error("cron(0 12 ? * ? *)", 15,
                 "field 5 (day-of-week) at character 15: day-of-month and day-of-week cannot "
                 "both be '?'");
    expect_error("cron(60 * * * ? *)", 6, "field 1 (minutes) at character 6: 60 is not in 0-59");
    expect_error("cron(0 24 * * ? *)", 8, "field 2 (hours) at character 8: 24 is not in 0-23");
    expect_error("cron(0 12 32 * ? *)", 11,
                 "field 3 (day-of-month) at character 11: 32 is not in 1-31");
    expect_error("cron(0 12 * 13 ? *)", 13,
                 "field 4 (month) at character 13: 13 is not in 1-12 or JAN-DEC");
    expect_error("cron(0 12 ? * 8 *)", 15,
                 "field 5 (day-of-week) at character 15: 8 is not in 1-7 (SUN-SAT)");
    expect_error("cron(0 12 ? * 0 *)", 15,
                 "field 5 (day-of-week) at character 15: 0 is not in 1-7 (SUN-SAT)");
    expect_error("cron(0 12 * * ? 1969)", 17,
                 "field 6 (year) at character 17: 1969 is not in 1970-2199");
    expect_error("cron(0 12 * * ? 2200)", 17,
                 "field 6 (year) at character 17: 2200 is not in 1970-2199");
    expect_error("cron(0 12 * * ?)", 16,
                 "at character 16: 5 fields, cron() needs 6 (minutes hours day-of-month month "
                 "day-of-week year)");
    expect_error("cron(0 12 * * ? * *)", 19,
                 "field 6 (year) at character 19: too many fields: cron() has 6 (minutes hours "
                 "day-of-month month day-of-week year)");
    expect_error("cron(0 12 ? * MON#6 *)", 19,
                 "field 5 (day-of-week) at character 19: after '#' comes the week of the month, "
                 "1-5");
    expect_error("cron(0 12 ? * FRI-MON *)", 19,
                 "field 5 (day-of-week) at character 19: range ends before it starts (ranges do "
                 "not wrap)");
    expect_error("cron(0 12 ? * FUN *)", 15,
                 "field 5 (day-of-week) at character 15: 'FUN' is not a value in 1-7 (SUN-SAT)");
    expect_error("cron(0/0 * * * ? *)", 8,
                 "field 1 (minutes) at character 8: after '/' comes a step of 1 or more");
    expect_error("cron(0 ? * * ? *)", 8,
                 "field 2 (hours) at character 8: '?' is only allowed in day-of-month and "
                 "day-of-week");
    expect_error("cron(0 12 1,,15 * ? *)", 13,
                 "field 3 (day-of-month) at character 13: empty "
                 "list item");
    expect_error("cron(0 12 W * ? *)", 11,
                 "field 3 (day-of-month) at character 11: 'W' is not a value in 1-31");
    expect_error("cron(0 12 ? * 5W *)", 16,
                 "field 5 (day-of-week) at character 16: unexpected 'W'");
    expect_error("cron(0 12 * * ? *", 18, "at character 18: missing ')'");
    expect_error("cron(0 12 * * ? *) x", 19, "at character 19: unexpected text after ')'");
    expect_error("rate(1 hours)", 8, "at character 8: use 'hour' for 1");
    expect_error("rate(5 minute)", 8, "at character 8: use 'minutes' for 5");
    expect_error("rate(0 minutes)", 6,
                 "at character 6: rate() needs a whole number of 1 or more (e.g. rate(5 minutes))");
    expect_error("rate(5 weeks)", 8,
                 "at character 8: 'weeks' is not a unit: minute(s), hour(s) or day(s)");
    expect_error("rate(5minutes)", 7,
                 "at character 7: expected a space and a unit (minutes, hours or days)");
    expect_error("every 5 minutes", 1, "at character 1: expected rate(...), cron(...) or at(...)");
    expect_error("at(2026-02-29T10:00:00)", 12, "at character 12: 2026-02 has no day 29");
    expect_error("at(2026-13-01T00:00:00)", 9, "at character 9: month 13 is not in 1-12");
    expect_error("at(2026-01-01 00:00:00)", 14,
                 "at character 14: at() takes yyyy-mm-ddThh:mm:ss (' ' here)");
    expect_error("at(2026-01-01T24:00:00)", 15, "at character 15: hour 24 is not in 0-23");
}

static void test_day_of_week_numbering(void **state)
{
    (void)state;
    /* EventBridge: 1 = SUN ... 7 = SAT (not Unix cron's 0 = SUN). */
    expect_next("cron(0 12 ? * 1 *)", "2026-11-23T00:00:00Z", "2026-11-29T12:00:00Z");
    expect_next("cron(0 12 ? * SUN *)", "2026-11-23T00:00:00Z", "2026-11-29T12:00:00Z");
    expect_next("cron(0 12 ? * sun *)", "2026-11-23T00:00:00Z", "2026-11-29T12:00:00Z");
    expect_next("cron(0 12 ? * 2 *)", "2026-11-23T13:00:00Z", "2026-11-30T12:00:00Z");
    expect_next("cron(0 12 ? * 7 *)", "2026-11-23T00:00:00Z", "2026-11-28T12:00:00Z");
    expect_next("cron(0 12 ? * SAT *)", "2026-11-23T00:00:00Z", "2026-11-28T12:00:00Z");
    expect_next("cron(0 12 ? * 1,7 *)", "2026-11-28T12:00:00Z", "2026-11-29T12:00:00Z");
    expect_next("cron(0 12 ? * MON-WED/2 *)", "2026-11-23T12:00:00Z", "2026-11-25T12:00:00Z");
    expect_next("cron(0 12 * JUN ? *)", "2026-11-23T00:00:00Z", "2027-06-01T12:00:00Z");
    expect_next("cron(0 12 * 6 ? *)", "2026-11-23T00:00:00Z", "2027-06-01T12:00:00Z");
}

static void test_last_weekday_and_nth(void **state)
{
    (void)state;
    /* L in day-of-month: the last day. */
    expect_next("cron(0 0 L * ? *)", "2026-11-22T00:00:00Z", "2026-11-30T00:00:00Z");
    expect_next("cron(0 0 L * ? *)", "2027-02-10T00:00:00Z", "2027-02-28T00:00:00Z");
    expect_next("cron(0 0 L * ? *)", "2028-02-10T00:00:00Z", "2028-02-29T00:00:00Z");
    /* L alone in day-of-week: the last day of the week, SAT; 6L: last FRI. */
    expect_next("cron(0 0 ? * L *)", "2026-11-22T00:00:00Z", "2026-11-28T00:00:00Z");
    expect_next("cron(0 0 ? * 6L *)", "2026-11-01T00:00:00Z", "2026-11-27T00:00:00Z");
    expect_next("cron(0 0 ? * FRIL *)", "2026-11-01T00:00:00Z", "2026-11-27T00:00:00Z");
    /* W: the weekday nearest to a day, within the month. */
    expect_next("cron(0 0 15W * ? *)", "2026-11-01T00:00:00Z", "2026-11-16T00:00:00Z");
    expect_next("cron(0 0 1W * ? *)", "2026-07-31T00:00:00Z", "2026-08-03T00:00:00Z");
    expect_next("cron(0 0 31W * ? *)", "2026-05-01T00:00:00Z", "2026-05-29T00:00:00Z");
    expect_next("cron(0 0 20W * ? *)", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z");
    expect_next("cron(0 0 LW * ? *)", "2027-01-01T00:00:00Z", "2027-01-29T00:00:00Z");
    expect_next("cron(0 0 LW * ? *)", "2026-10-01T00:00:00Z", "2026-10-30T00:00:00Z");
    /* #: the n-th such weekday of the month. */
    expect_next("cron(0 0 ? * 6#3 *)", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z");
    expect_next("cron(0 0 ? * FRI#3 *)", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z");
    expect_next("cron(0 0 ? * 2#5 *)", "2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z");
    expect_next("cron(0 0 ? * 2#5 *)", "2026-11-30T00:00:00Z", "2027-03-29T00:00:00Z");
}

static void test_leap_years(void **state)
{
    (void)state;
    expect_next("cron(0 0 29 2 ? *)", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z");
    expect_next("cron(0 0 29 FEB ? *)", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z");
    expect_next("cron(0 0 29 2 ? 2025-2027)", "2025-01-01T00:00:00Z", NULL);
    expect_next("cron(0 0 29 2 ? 2000)", "1999-01-01T00:00:00Z", "2000-02-29T00:00:00Z");
    expect_next("cron(0 0 30 2 ? *)", "2026-01-01T00:00:00Z", NULL);
    expect_next("cron(59 23 31 12 ? 2199)", "2026-01-01T00:00:00Z", "2199-12-31T23:59:00Z");
    expect_next("cron(59 23 31 12 ? 2199)", "2199-12-31T23:59:00Z", NULL);
}

static void test_time_zone_offsets(void **state)
{
    (void)state;
    tz_t *ny = zone("America/New_York"), *berlin = zone("Europe/Berlin");
    tz_t *sydney = zone("Australia/Sydney");
    assert_int_equal(tz_offset(ny, utc("2026-01-15T12:00:00")), -5 * 3600);
    assert_int_equal(tz_offset(ny, utc("2026-07-15T12:00:00")), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc("2026-03-08T06:59:59")), -5 * 3600);
    assert_int_equal(tz_offset(ny, utc("2026-03-08T07:00:00")), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc("2026-11-01T05:59:59")), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc("2026-11-01T06:00:00")), -5 * 3600);
    assert_int_equal(tz_offset(berlin, utc("2026-03-29T00:59:59")), 3600);
    assert_int_equal(tz_offset(berlin, utc("2026-03-29T01:00:00")), 7200);
    /* Past the last transition in the file: the POSIX footer rule. */
    assert_int_equal(tz_offset(ny, utc("2150-07-01T00:00:00")), -4 * 3600);
    assert_int_equal(tz_offset(ny, utc("2150-12-01T00:00:00")), -5 * 3600);
    assert_int_equal(tz_offset(berlin, utc("2150-07-01T00:00:00")), 7200);
    assert_int_equal(tz_offset(berlin, utc("2150-10-31T00:00:00")), 3600);
    assert_int_equal(tz_offset(sydney, utc("2150-01-01T00:00:00")), 11 * 3600);
    assert_int_equal(tz_offset(sydney, utc("2150-07-01T00:00:00")), 10 * 3600);
    assert_int_equal(tz_offset(NULL, 12345), 0);
    assert_string_equal(tz_name(berlin), "Europe/Berlin");
    tz_free(ny);
    tz_free(berlin);
    tz_free(sydney);

    tz_t *z = NULL;
    char err[300];
    assert_int_equal(tz_load(NULL, "Mars/Olympus_Mons", &z, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown time zone"));
    assert_int_equal(tz_load(NULL, "../../etc/passwd", &z, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an IANA time zone name"));
    const unsigned char junk[] = "not a zone file at all, really not one at all, no";
    assert_int_equal(tz_parse(junk, sizeof junk, "junk", &z, err, sizeof err), -1);
    assert_string_equal(err, "time zone 'junk': not a TZif file");
}

static void test_spring_forward_skips_the_gap(void **state)
{
    (void)state;
    /* New York, 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 does not exist. */
    expect_next_in("America/New_York", "cron(30 2 * * ? *)", "2026-03-07T12:00:00Z",
                   "2026-03-09T06:30:00Z");
    expect_next_in("America/New_York", "cron(30 2 * * ? *)", "2026-03-06T12:00:00Z",
                   "2026-03-07T07:30:00Z");
    expect_next_in("America/New_York", "cron(0 * * * ? *)", "2026-03-08T06:00:00Z",
                   "2026-03-08T07:00:00Z"); /* 01:00 EST, then 03:00 EDT */
    expect_next_in("America/New_York", "cron(0 3 * * ? *)", "2026-03-08T05:00:00Z",
                   "2026-03-08T07:00:00Z");
    expect_next_in("America/New_York", "at(2026-03-08T02:30:00)", "2026-01-01T00:00:00Z", NULL);
    /* Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST. */
    expect_next_in("Europe/Berlin", "cron(30 2 * * ? *)", "2026-03-28T12:00:00Z",
                   "2026-03-30T00:30:00Z");
    expect_next_in("Europe/Berlin", "cron(0 9 ? * MON-FRI *)", "2026-03-27T12:00:00Z",
                   "2026-03-30T07:00:00Z");
}

static void test_fall_back_fires_the_repeated_hour_once(void **state)
{
    (void)state;
    /* New York, 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice. */
    expect_next_in("America/New_York", "cron(30 1 * * ? *)", "2026-10-31T12:00:00Z",
                   "2026-11-01T05:30:00Z");
    expect_next_in("America/New_York", "cron(30 1 * * ? *)", "2026-11-01T05:30:00Z",
                   "2026-11-02T06:30:00Z");
    expect_next_in("America/New_York", "cron(0 * * * ? *)", "2026-11-01T05:00:00Z",
                   "2026-11-01T07:00:00Z"); /* 01:00 EDT, (01:00 EST skipped), 02:00 EST */
    expect_next_in("America/New_York", "cron(0/15 * * * ? *)", "2026-11-01T05:45:00Z",
                   "2026-11-01T07:00:00Z");
    /* Started inside the repeated hour (second pass): nothing until 02:00 EST. */
    expect_next_in("America/New_York", "cron(0/15 * * * ? *)", "2026-11-01T06:20:00Z",
                   "2026-11-01T07:00:00Z");
    expect_next_in("America/New_York", "cron(0 8 * * ? *)", "2026-10-31T13:00:00Z",
                   "2026-11-01T13:00:00Z");
    /* Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET. */
    expect_next_in("Europe/Berlin", "cron(30 2 * * ? *)", "2026-10-24T12:00:00Z",
                   "2026-10-25T00:30:00Z");
    expect_next_in("Europe/Berlin", "cron(30 2 * * ? *)", "2026-10-25T00:30:00Z",
                   "2026-10-26T01:30:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_documentation_examples),
        cmocka_unit_test(test_rate_counts_from_its_anchor),
        cmocka_unit_test(test_at_fires_once),
        cmocka_unit_test(test_invalid_expressions_name_the_position),
        cmocka_unit_test(test_day_of_week_numbering),
        cmocka_unit_test(test_last_weekday_and_nth),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_time_zone_offsets),
        cmocka_unit_test(test_spring_forward_skips_the_gap),
        cmocka_unit_test(test_fall_back_fires_the_repeated_hour_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
