/* arena.c — one bump allocator per order result. Everything a result points
 * to (tree, strings, errors, output buffers, even yajl's own state) lives
 * in it, so order_free() is one arena_free() and no error path has to free
 * piece by piece. */
#include "validate_impl.h"

#include <stddef.h>
#include <stdint.h>
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

/* The first chunk lives in the same block as the arena, so a result that
 * fits in ARENA_FIRST_BYTES (every ordinary order) costs one malloc. */
struct arena {
    chunk_t *head; /* newest first; the last one is `first` */
    size_t next_size;
    chunk_t first; /* its data follows the arena, aligned */
};

#define CHUNK_HEADER ((sizeof(chunk_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static size_t aligned(size_t size)
{
    return (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static char *chunk_data(chunk_t *c)
{
    return (char *)c + CHUNK_HEADER;
}

arena_t *arena_new(void)
{
    arena_t *a = malloc(offsetof(arena_t, first) + CHUNK_HEADER + ARENA_FIRST_BYTES);
    if (a == NULL)
        return NULL;
    a->first.next = NULL;
    a->first.size = ARENA_FIRST_BYTES;
    a->first.used = 0;
    a->head = &a->first;
    a->next_size = ARENA_FIRST_BYTES * 2;
    return a;
}

void arena_free(arena_t *a)
{
    if (a == NULL)
        return;
    chunk_t *c = a->head;
    while (c != &a->first) {
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
    size = aligned(size);
    chunk_t *c = a->head;
    if (c->size - c->used < size) {
        size_t want = a->next_size;
        if (want < size)
            want = size;
        chunk_t *fresh = malloc(CHUNK_HEADER + want);
        if (fresh == NULL)
            return NULL;
        fresh->size = want;
        fresh->used = 0;
        if (a->next_size < (size_t)1 << 24)
            a->next_size *= 2;
        fresh->next = a->head;
        a->head = fresh;
        c = fresh;
    }
    void *p = chunk_data(c) + c->used;
    c->used += size;
    return p;
}

void *arena_realloc(arena_t *a, void *p, size_t old_size, size_t size)
{
    if (p == NULL)
        return arena_alloc(a, size);
    if (size <= old_size)
        return p;
    if (size > SIZE_MAX / 2)
        return NULL;
    /* The newest block grows in place while its chunk has room. */
    chunk_t *c = a->head;
    uintptr_t at = (uintptr_t)p, base = (uintptr_t)chunk_data(c);
    if (at >= base && at - base + aligned(old_size) == c->used &&
        c->size - (at - base) >= aligned(size)) {
        c->used = at - base + aligned(size);
        return p;
    }
    void *grown = arena_alloc(a, size);
    if (grown != NULL)
        memcpy(grown, p, old_size);
    return grown;
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
