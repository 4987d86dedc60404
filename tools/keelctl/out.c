/* out.c — what keelctl prints: aligned tables, JSON, a progress bar. */
#include "keelctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { CELL_MAX = 60 };

struct table {
    size_t columns, rows, cap;
    char **cells; /* rows + 1 (headers) times columns */
    size_t *width;
};

table_t *table_new(const char *const *headers, size_t columns)
{
    table_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->columns = columns;
    t->width = calloc(columns, sizeof *t->width);
    if (t->width == NULL) {
        free(t);
        return NULL;
    }
    table_row(t, headers);
    return t;
}

void table_row(table_t *t, const char *const *cells)
{
    if (t == NULL)
        return;
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **grown = realloc(t->cells, cap * t->columns * sizeof *grown);
        if (grown == NULL)
            return;
        t->cells = grown;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->columns; c++) {
        const char *text = cells[c] ? cells[c] : "";
        size_t n = strlen(text);
        char *cell = malloc(n + 1);
        if (cell != NULL) {
            /* One line per row: newlines and tabs become spaces. */
            for (size_t i = 0; i <= n; i++)
                cell[i] = text[i] == '\n' || text[i] == '\t' || text[i] == '\r' ? ' ' : text[i];
            if (n > CELL_MAX && c + 1 < t->columns) {
                memcpy(cell + CELL_MAX - 3, "...", 4);
                n = CELL_MAX;
            }
        }
        t->cells[t->rows * t->columns + c] = cell;
        if (cell != NULL && n > t->width[c])
            t->width[c] = n;
    }
    t->rows++;
}

void table_print(table_t *t)
{
    if (t == NULL)
        return;
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->columns; c++) {
            const char *cell = t->cells[r * t->columns + c];
            if (c + 1 < t->columns)
                printf("%-*s  ", (int)t->width[c], cell ? cell : "");
            else
                printf("%s", cell ? cell : "");
        }
        putchar('\n');
    }
}

void table_free(table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->rows * t->columns; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->width);
    free(t);
}

void print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (text != NULL)
        printf("%s\n", text);
    free(text);
}

int fail_local(const opts_t *o, const char *code, int exit_code, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "keelctl: %s\n", message);
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s}", "error", code, "message", message);
        if (j != NULL)
            print_json(j);
        json_decref(j);
    }
    return exit_code;
}

void progress(const opts_t *o, const char *label, double done, double total, const char *unit)
{
    if (!o->progress || !isatty(STDERR_FILENO))
        return;
    enum { WIDTH = 30 };
    double f = total > 0 ? done / total : 0;
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    char bar[WIDTH + 1];
    int fill = (int)(f * WIDTH);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %.0f/%.0f %s ", label, bar, (int)(f * 100), done, total, unit);
    fflush(stderr);
}

void progress_end(const opts_t *o)
{
    if (o->progress && isatty(STDERR_FILENO))
        fputc('\n', stderr);
}

const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

const char *jnum(json_t *obj, const char *key, char *buf, size_t cap)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, cap, "%.1f", json_real_value(v));
    else
        snprintf(buf, cap, "%s", "");
    return buf;
}

void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
    nanosleep(&ts, NULL);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
