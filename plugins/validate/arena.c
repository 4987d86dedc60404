/* arena.c — one bump allocator per order result. Everything a result points
 * to (tree, strings, errors, output buffers) lives in it, so order_free()
 * is one arena_free() and no error path has to free piece by piece. */
#include "validate_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_FIRST_BYTES 8192
#define ARENA_ALIGN       8

typedef struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    /* data follows, aligned */
} chunk_t;

typedef struct adopted {
    struct adopted *next;
    void *block;
} adopted_t;

struct arena {
    chunk_t *head;
    adopted_t *adopted;
    size_t next_size;
};

#define CHUNK_HEADER ((sizeof(chunk_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static chunk_t *chunk_new(size_t size)
{
    chunk_t *c = malloc(CHUNK_HEADER + size);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

arena_t *arena_new(void)
{
    arena_t *a = malloc(sizeof *a);
    if (a == NULL)
        return NULL;
    a->head = chunk_new(ARENA_FIRST_BYTES);
    if (a->head == NULL) {
        free(a);
        return NULL;
    }
    a->adopted = NULL;
    a->next_size = ARENA_FIRST_BYTES * 2;
    return a;
}

void arena_free(arena_t *a)
{
    if (a == NULL)
        return;
    for (adopted_t *d = a->adopted; d != NULL; d = d->next)
        free(d->block);
    chunk_t *c = a->head;
    while (c != NULL) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *arena_alloc(arena_t *a, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    chunk_t *c = a->head;
    if (c->size - c->used < size) {
        size_t want = a->next_size;
        if (want < size)
            want = size;
        chunk_t *fresh = chunk_new(want);
        if (fresh == NULL)
            return NULL;
        if (a->next_size < (size_t)1 << 24)
            a->next_size *= 2;
        fresh->next = a->head;
        a->head = fresh;
        c = fresh;
    }
    void *p = (char *)c + CHUNK_HEADER + c->used;
    c->used += size;
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_vprintf(arena_t *a, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(again);
        return NULL;
    }
    char *p = arena_alloc(a, (size_t)n + 1);
    if (p != NULL) {
        if ((size_t)n < sizeof small)
            memcpy(p, small, (size_t)n + 1);
        else
            vsnprintf(p, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

int arena_adopt(arena_t *a, void *block)
{
    adopted_t *d = arena_alloc(a, sizeof *d);
    if (d == NULL) {
        free(block);
        return -1;
    }
    d->block = block;
    d->next = a->adopted;
    a->adopted = d;
    return 0;
}
