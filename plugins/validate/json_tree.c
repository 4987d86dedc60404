/* json_tree.c — the request body into a small tree in the result's arena.
 *
 * yajl does the lexing (strict: no comments, no trailing garbage) with its
 * own heap stack, and our callbacks keep an explicit stack of open
 * containers bounded by max_depth, so no nesting depth reaches the C stack.
 * Numbers are kept as the text that was sent: money is parsed later from
 * that text, exactly.
 *
 * UTF-8 is checked once, over the whole body, before yajl runs; yajl's own
 * check is weaker (it lets overlong forms and surrogates through), so it is
 * turned off. A string yajl hands over as a slice of the body (it had no
 * escapes) is therefore valid UTF-8 and has no NUL; only a decoded string
 * (with escapes) is checked again. */
#include "validate_impl.h"

#include <stdint.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define BODY_MAX_BYTES ((size_t)1 << 20)

typedef struct builder {
    arena_t *arena;
    const unsigned char *body; /* the text being parsed, body_len bytes */
    size_t body_len;
    jv_t **stack; /* open containers; stack[0] is the root */
    unsigned depth;
    unsigned max_depth;
    const char *key; /* member name waiting for its value */
    size_t key_len;
    jv_t *root;
    const char *fail_code; /* set when a callback cancels the parse */
    const char *fail_message;
    bool oom;
} builder_t;

const char *jv_type_name(jv_type_t type)
{
    switch (type) {
    case JV_NULL:
        return "null";
    case JV_BOOL:
        return "boolean";
    case JV_NUMBER:
        return "number";
    case JV_STRING:
        return "string";
    case JV_OBJECT:
        return "object";
    case JV_ARRAY:
        return "array";
    }
    return "value";
}

static int cancel(builder_t *b, const char *code, const char *message)
{
    b->fail_code = code;
    b->fail_message = message;
    return 0;
}

/* Creates a node and links it into the open container (or as the root). */
static jv_t *add_node(builder_t *b, jv_type_t type)
{
    if (b->depth == 0 && type != JV_OBJECT) {
        cancel(b, "malformed_json", "the body must be a JSON object");
        return NULL;
    }
    jv_t *v = arena_alloc(b->arena, sizeof *v);
    if (v == NULL) {
        b->oom = true;
        return NULL;
    }
    memset(v, 0, sizeof *v);
    v->type = type;
    if (b->depth == 0) {
        b->root = v;
        return v;
    }
    jv_t *parent = b->stack[b->depth - 1];
    if (parent->type == JV_OBJECT) {
        v->key = b->key;
        v->key_len = b->key_len;
    }
    if (parent->last != NULL)
        parent->last->next = v;
    else
        parent->first = v;
    parent->last = v;
    parent->count++;
    return v;
}

static int on_null(void *ctx)
{
    return add_node(ctx, JV_NULL) != NULL;
}

static int on_boolean(void *ctx, int value)
{
    jv_t *v = add_node(ctx, JV_BOOL);
    if (v != NULL)
        v->boolean = value != 0;
    return v != NULL;
}

/* True when yajl passed `text` straight from the body, as sent: a string
 * without escapes (exactly the bytes between two quotes of a body already
 * checked to be valid UTF-8, and yajl refuses raw control characters) or a
 * number. Anything else is in a yajl buffer that the next token reuses. */
static bool from_body(const builder_t *b, const void *text)
{
    uintptr_t p = (uintptr_t)text, start = (uintptr_t)b->body;
    return p >= start && p - start < b->body_len;
}

/* Text the tree can point to: the body itself (it outlives the tree, which
 * is only read during order_parse), or else a copy in the arena. */
static const char *keep(builder_t *b, const void *text, size_t len)
{
    if (from_body(b, text))
        return text;
    const char *copy = arena_strndup(b->arena, text, len);
    if (copy == NULL)
        b->oom = true;
    return copy;
}

static int on_number(void *ctx, const char *text, size_t len)
{
    builder_t *b = ctx;
    jv_t *v = add_node(b, JV_NUMBER);
    if (v == NULL)
        return 0;
    v->text = keep(b, text, len);
    v->len = len;
    return v->text != NULL;
}

static size_t utf8_invalid_at(const unsigned char *s, size_t len);

/* The body is valid UTF-8, but yajl decodes an unpaired \uD800-\uDFFF
 * escape into the bytes of a surrogate, which no UTF-8 consumer of the
 * canonical order accepts: check the decoded text as well. */
static bool decoded_utf8_ok(const unsigned char *text, size_t len)
{
    return utf8_invalid_at(text, len) == len;
}

static int on_string(void *ctx, const unsigned char *text, size_t len)
{
    builder_t *b = ctx;
    bool raw = from_body(b, text);
    if (!raw) {
        if (memchr(text, '\0', len) != NULL)
            return cancel(b, "format", "strings must not contain NUL characters (\\u0000)");
        if (!decoded_utf8_ok(text, len))
            return cancel(b, "utf8",
                          "strings must not contain unpaired surrogate escapes (\\uD800-\\uDFFF)");
    }
    jv_t *v = add_node(b, JV_STRING);
    if (v == NULL)
        return 0;
    v->text = keep(b, text, len);
    v->len = len;
    v->raw = raw;
    return v->text != NULL;
}

static int on_key(void *ctx, const unsigned char *text, size_t len)
{
    builder_t *b = ctx;
    if (!from_body(b, text)) {
        if (memchr(text, '\0', len) != NULL)
            return cancel(b, "format", "member names must not contain NUL characters (\\u0000)");
        if (!decoded_utf8_ok(text, len))
            return cancel(
                b, "utf8",
                "member names must not contain unpaired surrogate escapes (\\uD800-\\uDFFF)");
    }
    b->key = keep(b, text, len);
    b->key_len = len;
    return b->key != NULL;
}

static int open_container(builder_t *b, jv_type_t type)
{
    if (b->depth >= b->max_depth && b->depth > 0)
        return cancel(b, "depth", "the body nests deeper than allowed");
    jv_t *v = add_node(b, type);
    if (v == NULL)
        return 0;
    b->stack[b->depth++] = v;
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, JV_OBJECT);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, JV_ARRAY);
}

static int on_end(void *ctx)
{
    builder_t *b = ctx;
    b->depth--;
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

/* Offset of the first byte that is not part of valid UTF-8 (no overlong
 * forms, no surrogates, nothing above U+10FFFF), or len. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* Orders are mostly ASCII: skip eight such bytes at a time. */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (word & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i == len)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return len;
}

/* yajl's allocations (handle, lexer, buffers, state stack) come from the
 * result's arena too: no malloc per parse, and nothing to free by hand.
 * Each block records its size in front for realloc. */
typedef struct yajl_block {
    size_t size;
    /* ARENA_ALIGN'ed data follows */
} yajl_block_t;

static void *yajl_arena_malloc(void *arena, size_t size)
{
    if (size > SIZE_MAX / 4)
        return NULL;
    yajl_block_t *blk = arena_alloc(arena, sizeof *blk + size);
    if (blk == NULL)
        return NULL;
    blk->size = size;
    return blk + 1;
}

static void *yajl_arena_realloc(void *arena, void *p, size_t size)
{
    if (p == NULL)
        return yajl_arena_malloc(arena, size);
    if (size > SIZE_MAX / 4)
        return NULL;
    yajl_block_t *blk = (yajl_block_t *)p - 1;
    size_t old = blk->size;
    if (size <= old)
        return p;
    yajl_block_t *grown = arena_realloc(arena, blk, sizeof *blk + old, sizeof *blk + size);
    if (grown == NULL)
        return NULL;
    grown->size = size;
    return grown + 1;
}

static void yajl_arena_free(void *arena, void *p)
{
    (void)arena; /* freed with the arena */
    (void)p;
}

/* yajl's own message, e.g. "parse error: premature EOF", trimmed. */
static char *yajl_message(arena_t *a, yajl_handle h, const char *text, size_t len, size_t at)
{
    unsigned char *raw = yajl_get_error(h, 0, (const unsigned char *)text, len);
    const char *s = raw != NULL ? (const char *)raw : "parse error";
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    char *m = arena_printf(a, "malformed JSON near byte %zu: %.*s", at, (int)n, s);
    if (raw != NULL)
        yajl_free_error(h, raw);
    return m;
}

int json_tree_parse(arena_t *a, const char *text, size_t len, unsigned max_depth, jv_t **root,
                    json_failure_t *why)
{
    *root = NULL;
    why->code = NULL;
    why->message = NULL;
    if (len > BODY_MAX_BYTES) {
        why->code = "length";
        why->message =
            arena_printf(a, "the body is %zu bytes; at most %zu are accepted", len, BODY_MAX_BYTES);
        return why->message != NULL ? 1 : KEEL_ENOMEM;
    }
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len) {
        why->code = "utf8";
        why->message = arena_printf(a, "invalid UTF-8 at byte %zu", bad);
        return why->message != NULL ? 1 : KEEL_ENOMEM;
    }
    builder_t b = {
        .arena = a, .body = (const unsigned char *)text, .body_len = len, .max_depth = max_depth};
    b.stack = arena_alloc(a, sizeof(jv_t *) * (max_depth + 1));
    if (b.stack == NULL)
        return KEEL_ENOMEM;
    yajl_alloc_funcs funcs = {yajl_arena_malloc, yajl_arena_realloc, yajl_arena_free, a};
    yajl_handle h = yajl_alloc(&callbacks, &funcs, &b);
    if (h == NULL)
        return KEEL_ENOMEM;
    /* The strict defaults, stated since they are the contract; UTF-8 was
     * checked above, more strictly than yajl would. */
    yajl_config(h, yajl_allow_comments, 0);
    yajl_config(h, yajl_dont_validate_strings, 1);
    yajl_config(h, yajl_allow_trailing_garbage, 0);
    yajl_config(h, yajl_allow_multiple_values, 0);
    yajl_config(h, yajl_allow_partial_values, 0);
    yajl_status st = yajl_parse(h, (const unsigned char *)text, len);
    size_t at = yajl_get_bytes_consumed(h);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
        at = len; /* the end came too soon */
    }
    int rc = 0;
    if (b.oom) {
        rc = KEEL_ENOMEM;
    } else if (st == yajl_status_client_canceled) {
        why->code = b.fail_code != NULL ? b.fail_code : "malformed_json";
        why->message = arena_strndup(a, b.fail_message != NULL ? b.fail_message : "refused",
                                     strlen(b.fail_message != NULL ? b.fail_message : "refused"));
        rc = why->message != NULL ? 1 : KEEL_ENOMEM;
    } else if (st != yajl_status_ok || b.root == NULL) {
        why->code = "malformed_json";
        why->message = yajl_message(a, h, text, len, at);
        rc = why->message != NULL ? 1 : KEEL_ENOMEM;
    } else {
        *root = b.root;
    }
    yajl_free(h);
    return rc;
}
