/*
 * fuzz_cron.c — the scheduler's schedule expressions (rate, cron, at) and
 * next-firing search, plus its TZif reader.
 *
 * An input starting "TZif" is a zone file: it is parsed with tz_parse and,
 * when accepted, offsets and local-time resolution are asked of it. Any
 * other input is an expression; when it parses, sched_next runs from a few
 * fixed instants in UTC and must return a time strictly after each one.
 */
#include "cron.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile int64_t sink;

static const int64_t instants[] = {
    -1,                    /* before the epoch */
    0,                     /* 1970-01-01 */
    1763793000,            /* 2025-11-22T06:30:00Z */
    4102444799,            /* 2099-12-31T23:59:59Z */
    7258118399,            /* 2199-12-31T23:59:59Z: the last year searched */
    INT64_C(253402300799), /* 9999-12-31 */
};

static void fuzz_zone(const uint8_t *data, size_t size)
{
    char err[256];
    tz_t *zone = NULL;
    if (tz_parse(data, size, "Fuzz/Zone", &zone, err, sizeof err) != 0) {
        if (zone != NULL)
            abort();
        return;
    }
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        int64_t first, second;
        sink += tz_offset(zone, instants[i]);
        if (tz_resolve(zone, instants[i], &first, &second))
            sink += first + second;
    }
    sched_expr_t e;
    int64_t next;
    if (sched_parse("cron(30 2 ? * SUN *)", &e, err, sizeof err) != 0)
        abort();
    if (sched_next(&e, zone, instants[2], &next) && next <= instants[2])
        abort();
    tz_free(zone);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4 && memcmp(data, "TZif", 4) == 0) {
        fuzz_zone(data, size);
        return 0;
    }
    char *expr = malloc(size + 1);
    if (expr == NULL)
        return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';

    char err[256];
    sched_expr_t e;
    int rc = sched_parse(expr, &e, err, sizeof err);
    if (rc < 0 || (rc > 0 && (size_t)rc > size + 1))
        abort(); /* a position must lie in (or just after) the text */
    if (rc == 0) {
        for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
            int64_t next;
            if (sched_next(&e, NULL, instants[i], &next) && next <= instants[i])
                abort();
        }
    } else if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') {
        abort(); /* a refusal must say why */
    }
    free(expr);
    return 0;
}
