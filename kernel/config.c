/*
 * config.c — loads YAML into keel's own immutable node tree.
 *
 * libfyaml's event parser is used rather than its document API because
 * events carry a start mark for every node (mappings and sequences too),
 * which is what lets each error name file:line:column. Anchors and aliases
 * are resolved here while building: an alias shares the anchored subtree
 * (the tree is immutable, so sharing is safe), and `<<` merge keys copy in
 * the pairs the mapping does not set itself, as fy_document_resolve() does.
 *
 * Every node, string and child array of a document — and the builder's
 * scratch state — lives in one arena that cfg_doc_free() releases at once:
 * shared subtrees need no refcounts and error paths need no unwinding.
 */
#include "config.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cfg_node {
    cfg_kind_t kind;
    int line;
    int column;
    const char *file;
    const char *scalar;              /* SCALAR: text after substitution */
    size_t count;                    /* MAP: pairs; SEQ: items */
    const cfg_node_t *const *keys;   /* MAP: key scalars */
    const cfg_node_t *const *values; /* MAP: values; SEQ: items */
};

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t size;
    max_align_t data[];
} arena_chunk_t;

struct cfg_doc {
    arena_chunk_t *chunks;
    const char *name;
    const cfg_node_t *root;
};

/* ---- arena -------------------------------------------------------------- */

enum { ARENA_CHUNK_BYTES = 16384 };

static void *arena_alloc(cfg_doc_t *doc, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    arena_chunk_t *chunk = doc->chunks;
    if (chunk == NULL || chunk->size - chunk->used < size) {
        size_t capacity = size > ARENA_CHUNK_BYTES ? size : ARENA_CHUNK_BYTES;
        chunk = malloc(sizeof(*chunk) + capacity);
        if (chunk == NULL)
            return NULL;
        chunk->next = doc->chunks;
        chunk->used = 0;
        chunk->size = capacity;
        doc->chunks = chunk;
    }
    void *memory = (char *)chunk->data + chunk->used;
    chunk->used += size;
    memset(memory, 0, size);
    return memory;
}

static char *arena_strndup(cfg_doc_t *doc, const char *text, size_t length)
{
    char *copy = arena_alloc(doc, length + 1);
    if (copy != NULL)
        memcpy(copy, text, length);
    return copy;
}

void cfg_doc_free(cfg_doc_t *doc)
{
    if (doc == NULL)
        return;
    arena_chunk_t *chunk = doc->chunks;
    while (chunk != NULL) {
        arena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(doc);
}

/* ---- growable text (substitution output, error paths, file contents) ---- */

typedef struct text {
    char *data;
    size_t length;
    size_t capacity;
    bool failed;
} text_t;

static void text_append(text_t *text, const char *bytes, size_t n)
{
    if (text->failed)
        return;
    if (text->length + n + 1 > text->capacity) {
        size_t capacity = text->capacity ? text->capacity : 64;
        while (capacity < text->length + n + 1)
            capacity *= 2;
        char *data = realloc(text->data, capacity);
        if (data == NULL) {
            text->failed = true;
            return;
        }
        text->data = data;
        text->capacity = capacity;
    }
    memcpy(text->data + text->length, bytes, n);
    text->length += n;
    text->data[text->length] = '\0';
}

/* ---- builder state (all in the document's arena) ------------------------ */

typedef struct pair {
    const cfg_node_t *key; /* SEQ: NULL. MAP: NULL marks a `<<` merge source */
    const cfg_node_t *value;
    struct pair *next;
} pair_t;

typedef struct frame { /* an open mapping or sequence */
    cfg_node_t *node;
    pair_t *first;
    pair_t *last;
    size_t count;
    bool has_key;                  /* MAP: a key was read, its value is next */
    bool skip_value;               /* the pending key was rejected */
    const cfg_node_t *pending_key; /* NULL with has_key: a merge key */
    const char *anchor;
    struct frame *parent;
} frame_t;

typedef struct anchor {
    const char *name;
    const cfg_node_t *node;
    struct anchor *older;
} anchor_t;

typedef struct builder {
    cfg_doc_t *doc;
    cfg_errors_t *errs;
    frame_t *top;
    anchor_t *anchors; /* newest first: a redefined anchor shadows (YAML rule) */
    const cfg_node_t *root;
    int documents;
    bool failed; /* errors were reported; keep reading to report more */
    bool fatal;  /* stop reading events */
} builder_t;

static bool expecting_key(const builder_t *b)
{
    return b->top != NULL && b->top->node->kind == CFG_MAP && !b->top->has_key;
}

/* The path of the value being read ("plugins[0].config.port"), so that
 * load errors read like validation errors. */
static void append_path(const frame_t *frame, text_t *path)
{
    if (frame == NULL)
        return;
    append_path(frame->parent, path);
    char index[32];
    if (frame->node->kind == CFG_SEQ) {
        snprintf(index, sizeof(index), "[%zu]", frame->count);
        text_append(path, index, strlen(index));
    } else if (frame->has_key) {
        /* A refused key (empty, or a collection) has no text: "?". */
        const cfg_node_t *pending = frame->pending_key;
        const char *key = pending == NULL ? "<<" : pending->scalar ? pending->scalar : "?";
        if (path->length > 0)
            text_append(path, ".", 1);
        text_append(path, key, strlen(key));
    }
}

static void build_error(builder_t *b, const cfg_node_t *node, const char *fmt, ...)
    KEEL_PRINTF(3, 4);

static void build_error(builder_t *b, const cfg_node_t *node, const char *fmt, ...)
{
    char what[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(what, sizeof(what), fmt, args);
    va_end(args);
    text_t path = {0};
    append_path(b->top, &path);
    if (path.length > 0 && !path.failed)
        cfg_errors_add(b->errs, node, "%s: %s", path.data, what);
    else
        cfg_errors_add(b->errs, node, "%s", what);
    free(path.data);
    b->failed = true;
}

static void out_of_memory(builder_t *b)
{
    cfg_errors_add(b->errs, NULL, "%s: out of memory while loading the config", b->doc->name);
    b->failed = true;
    b->fatal = true;
}

static void *build_alloc(builder_t *b, size_t size)
{
    void *memory = arena_alloc(b->doc, size);
    if (memory == NULL)
        out_of_memory(b);
    return memory;
}

static const char *token_text(builder_t *b, struct fy_token *token)
{
    size_t length = 0;
    const char *text = token ? fy_token_get_text(token, &length) : NULL;
    return text ? arena_strndup(b->doc, text, length) : NULL;
}

/* ---- nodes -------------------------------------------------------------- */

static cfg_node_t *new_node(builder_t *b, cfg_kind_t kind, const struct fy_mark *mark)
{
    cfg_node_t *node = build_alloc(b, sizeof(*node));
    if (node == NULL)
        return NULL;
    node->kind = kind;
    node->file = b->doc->name;
    node->line = mark ? mark->line + 1 : 1;
    node->column = mark ? mark->column + 1 : 1;
    /* libfyaml gives no mark for an empty value: place it at its key (or
     * its list), so that "missing key" for `config:` points at `config`. */
    const cfg_node_t *near = NULL;
    if (mark == NULL && b->top != NULL)
        near = b->top->pending_key ? b->top->pending_key : b->top->node;
    if (near != NULL) {
        node->line = near->line;
        node->column = near->column;
    }
    return node;
}

static bool is_yaml_null(const char *text, size_t length, enum fy_scalar_style style, bool tagged)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; style == FYSS_PLAIN && !tagged && i < sizeof(nulls) / sizeof(*nulls); i++)
        if (strlen(nulls[i]) == length && memcmp(nulls[i], text, length) == 0)
            return true;
    return false;
}

static void register_anchor(builder_t *b, const char *name, const cfg_node_t *node)
{
    anchor_t *anchor = name ? build_alloc(b, sizeof(*anchor)) : NULL;
    if (anchor == NULL)
        return;
    *anchor = (anchor_t){name, node, b->anchors};
    b->anchors = anchor;
}

static const cfg_node_t *find_anchor(const builder_t *b, const char *name, size_t length)
{
    for (const anchor_t *anchor = b->anchors; anchor != NULL; anchor = anchor->older)
        if (strlen(anchor->name) == length && memcmp(anchor->name, name, length) == 0)
            return anchor->node;
    return NULL;
}

static void frame_append(builder_t *b, frame_t *frame, const cfg_node_t *key,
                         const cfg_node_t *value)
{
    pair_t *pair = build_alloc(b, sizeof(*pair));
    if (pair == NULL)
        return;
    *pair = (pair_t){key, value, NULL};
    if (frame->last != NULL)
        frame->last->next = pair;
    else
        frame->first = pair;
    frame->last = pair;
    frame->count++;
}

/* Places a finished value in the open collection (or as the root). */
static void attach_value(builder_t *b, const cfg_node_t *value)
{
    frame_t *frame = b->top;
    if (frame == NULL) {
        b->root = value;
    } else if (frame->node->kind == CFG_SEQ) {
        frame_append(b, frame, NULL, value);
    } else {
        if (!frame->skip_value)
            frame_append(b, frame, frame->pending_key, value);
        frame->has_key = false;
        frame->skip_value = false;
        frame->pending_key = NULL;
    }
}

static void accept_key(builder_t *b, const cfg_node_t *key, bool is_merge)
{
    frame_t *frame = b->top;
    const pair_t *first = frame->first;
    if (key->kind == CFG_SCALAR && !is_merge)
        while (first != NULL && (first->key == NULL || strcmp(first->key->scalar, key->scalar)))
            first = first->next;
    if (key->kind != CFG_SCALAR) {
        build_error(b, key, "mapping keys must be non-empty scalars");
        frame->skip_value = true;
    } else if (!is_merge && first != NULL) {
        build_error(b, key, "duplicate key '%s' (first at line %d, column %d)", key->scalar,
                    first->key->line, first->key->column);
        frame->skip_value = true;
    }
    frame->has_key = true;
    frame->pending_key = is_merge ? NULL : key;
}

/* ---- ${VAR} substitution ------------------------------------------------ */

static size_t variable_name_length(const char *text, size_t length)
{
    size_t n = 0;
    while (n < length &&
           (text[n] == '_' || (text[n] >= 'A' && text[n] <= 'Z') ||
            (text[n] >= 'a' && text[n] <= 'z') || (n > 0 && text[n] >= '0' && text[n] <= '9')))
        n++;
    return n;
}

/* Expands the body of one "${...}" (between the braces) into out. Like the
 * shell, ${NAME:-default} also takes the default when NAME is empty. */
static int expand_reference(builder_t *b, const cfg_node_t *node, const char *body, size_t length,
                            text_t *out)
{
    size_t name_length = variable_name_length(body, length);
    const char *rest = body + name_length;
    size_t rest_length = length - name_length;
    bool has_default = rest_length >= 2 && rest[0] == ':' && rest[1] == '-';
    char name[256];
    if (name_length == 0 || name_length >= sizeof(name) || (rest_length > 0 && !has_default)) {
        build_error(b, node, "invalid reference '${%.*s}': use ${NAME} or ${NAME:-default}",
                    (int)length, body);
        return -1;
    }
    snprintf(name, sizeof(name), "%.*s", (int)name_length, body);
    const char *value = getenv(name);
    if (has_default && (value == NULL || value[0] == '\0')) {
        text_append(out, rest + 2, rest_length - 2);
    } else if (value != NULL) {
        text_append(out, value, strlen(value));
    } else {
        build_error(b, node,
                    "environment variable '%s' is not set (give a default with ${%s:-default})",
                    name, name);
        return -1;
    }
    return 0;
}

/* Returns the substituted text (malloc'd) or NULL after reporting why. A
 * '$' not followed by '{' or '$' stays literal: passwords contain them. */
static char *substitute(builder_t *b, const cfg_node_t *node, const char *raw, size_t length)
{
    text_t out = {0};
    text_append(&out, "", 0);
    for (size_t i = 0; i < length;) {
        if (raw[i] != '$' || i + 1 == length || (raw[i + 1] != '$' && raw[i + 1] != '{')) {
            text_append(&out, &raw[i++], 1);
            continue;
        }
        if (raw[i + 1] == '$') {
            text_append(&out, "$", 1);
            i += 2;
            continue;
        }
        const char *body = raw + i + 2;
        const char *close = memchr(body, '}', length - i - 2);
        if (close == NULL) {
            build_error(b, node, "unterminated '${' (write $$ for a literal $)");
            free(out.data);
            return NULL;
        }
        if (expand_reference(b, node, body, (size_t)(close - body), &out) < 0) {
            free(out.data);
            return NULL;
        }
        i = (size_t)(close - raw) + 1;
    }
    if (out.failed) {
        out_of_memory(b);
        free(out.data);
        return NULL;
    }
    return out.data;
}

/* ---- events ------------------------------------------------------------- */

static void on_scalar(builder_t *b, struct fy_event *event)
{
    struct fy_token *token = event->scalar.value;
    size_t length = 0;
    const char *raw = fy_token_get_text(token, &length);
    if (raw == NULL) {
        raw = "";
        length = 0;
    }
    enum fy_scalar_style style = fy_token_scalar_style(token);
    bool is_null = is_yaml_null(raw, length, style, event->scalar.tag != NULL);
    bool is_key = expecting_key(b);
    cfg_node_t *node = new_node(b, is_null ? CFG_NULL : CFG_SCALAR, fy_event_start_mark(event));
    if (node == NULL)
        return;
    /* A quoted scalar's mark is at its content; point at the quote. */
    if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) && node->column > 1)
        node->column--;
    if (!is_null) {
        /* Keys are names, not values: no substitution in them. After a
         * reported substitution error keep the raw text and go on, so that
         * one run lists every unset variable. */
        char *text = is_key ? NULL : substitute(b, node, raw, length);
        if (b->fatal)
            return;
        node->scalar = arena_strndup(b->doc, text ? text : raw, text ? strlen(text) : length);
        free(text);
        if (node->scalar == NULL) {
            out_of_memory(b);
            return;
        }
    }
    register_anchor(b, token_text(b, event->scalar.anchor), node);
    if (is_key)
        accept_key(b, node, style == FYSS_PLAIN && !is_null && strcmp(node->scalar, "<<") == 0);
    else
        attach_value(b, node);
}

static void on_alias(builder_t *b, struct fy_event *event)
{
    size_t length = 0;
    const char *name = fy_token_get_text(event->alias.anchor, &length);
    cfg_node_t *node = new_node(b, CFG_NULL, fy_event_start_mark(event));
    if (node == NULL)
        return;
    if (node->column > 1) /* the mark is at the name; point at the '*' */
        node->column--;
    const cfg_node_t *target = name ? find_anchor(b, name, length) : NULL;
    if (target == NULL) {
        build_error(b, node, "unknown anchor '%.*s'", (int)length, name ? name : "");
    } else {
        /* Share the subtree; only the alias itself gets its own location. */
        int line = node->line, column = node->column;
        *node = *target;
        node->line = line;
        node->column = column;
    }
    if (expecting_key(b))
        accept_key(b, node, false);
    else
        attach_value(b, node);
}

static void open_collection(builder_t *b, struct fy_event *event, cfg_kind_t kind,
                            struct fy_token *anchor)
{
    cfg_node_t *node = new_node(b, kind, fy_event_start_mark(event));
    frame_t *frame = node ? build_alloc(b, sizeof(*frame)) : NULL;
    if (frame == NULL)
        return;
    if (expecting_key(b)) {
        build_error(b, node, "mapping keys must be scalars");
        b->fatal = true;
        return;
    }
    *frame = (frame_t){.node = node, .anchor = token_text(b, anchor), .parent = b->top};
    b->top = frame;
}

/* How many pairs a `<<` source may add: a mapping or a list of them. */
static size_t merge_capacity(builder_t *b, const cfg_node_t *source)
{
    if (source->kind == CFG_MAP)
        return source->count;
    /* Count every mapping of the list, also after an invalid element:
     * finish_collection merges each of them (the error fails the load). */
    size_t capacity = 0;
    bool valid = source->kind == CFG_SEQ;
    for (size_t i = 0; source->kind == CFG_SEQ && i < source->count; i++) {
        if (source->values[i]->kind == CFG_MAP)
            capacity += source->values[i]->count;
        else
            valid = false;
    }
    if (!valid)
        build_error(b, source, "'<<' merges a mapping or a list of mappings");
    return capacity;
}

/* Adds the pairs of `source` whose keys are not set yet: the mapping's own
 * keys, then earlier merge sources, win. */
static void merge_from(const cfg_node_t *source, const cfg_node_t **keys, const cfg_node_t **values,
                       size_t *count)
{
    for (size_t i = 0; source->kind == CFG_MAP && i < source->count; i++) {
        size_t j = 0;
        while (j < *count && strcmp(keys[j]->scalar, source->keys[i]->scalar) != 0)
            j++;
        if (j == *count) {
            keys[*count] = source->keys[i];
            values[(*count)++] = source->values[i];
        }
    }
}

static void finish_collection(builder_t *b, frame_t *frame)
{
    bool is_map = frame->node->kind == CFG_MAP;
    size_t capacity = 0, count = 0;
    for (const pair_t *pair = frame->first; pair != NULL; pair = pair->next)
        capacity += !is_map || pair->key ? 1 : merge_capacity(b, pair->value);
    const cfg_node_t **keys = build_alloc(b, capacity * sizeof(*keys));
    const cfg_node_t **values = build_alloc(b, capacity * sizeof(*values));
    if (keys == NULL || values == NULL)
        return;
    for (const pair_t *pair = frame->first; pair != NULL; pair = pair->next) {
        if (!is_map || pair->key) {
            keys[count] = pair->key;
            values[count++] = pair->value;
        }
    }
    for (const pair_t *pair = frame->first; is_map && pair != NULL; pair = pair->next) {
        for (size_t i = 0;
             pair->key == NULL && pair->value->kind == CFG_SEQ && i < pair->value->count; i++)
            merge_from(pair->value->values[i], keys, values, &count);
        if (pair->key == NULL)
            merge_from(pair->value, keys, values, &count);
    }
    frame->node->keys = is_map ? keys : NULL;
    frame->node->values = values;
    frame->node->count = count;
}

static void close_collection(builder_t *b)
{
    frame_t *frame = b->top;
    b->top = frame->parent;
    finish_collection(b, frame);
    register_anchor(b, frame->anchor, frame->node);
    attach_value(b, frame->node);
}

static void on_event(builder_t *b, struct fy_event *event)
{
    switch (event->type) {
    case FYET_DOCUMENT_START:
        if (b->documents++ > 0) {
            cfg_node_t *at = new_node(b, CFG_NULL, fy_event_start_mark(event));
            if (at != NULL)
                build_error(b, at, "only one YAML document is allowed");
            b->fatal = true;
        }
        break;
    case FYET_SCALAR:
        on_scalar(b, event);
        break;
    case FYET_ALIAS:
        on_alias(b, event);
        break;
    case FYET_MAPPING_START:
        open_collection(b, event, CFG_MAP, event->mapping_start.anchor);
        break;
    case FYET_SEQUENCE_START:
        open_collection(b, event, CFG_SEQ, event->sequence_start.anchor);
        break;
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        if (b->top != NULL)
            close_collection(b);
        break;
    default:
        break;
    }
}

/* libfyaml reports syntax errors to its diag object; collected there (and
 * with an output function that drops the rest) nothing reaches stderr. */
static void discard_diag_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
}

static void report_yaml_errors(builder_t *b, struct fy_diag *diag)
{
    size_t before = b->errs->count;
    void *iterator = NULL;
    struct fy_diag_error *error;
    while ((error = fy_diag_errors_iterate(diag, &iterator)) != NULL)
        if (error->type >= FYET_ERROR)
            cfg_errors_add(b->errs, NULL, "%s:%d:%d: invalid YAML: %s", b->doc->name, error->line,
                           error->column, error->msg ? error->msg : "syntax error");
    if (b->errs->count == before)
        cfg_errors_add(b->errs, NULL, "%s: invalid YAML", b->doc->name);
    b->failed = true;
}

/* YAML is Unicode text, and libfyaml 0.8 can loop forever on invalid UTF-8
 * (e.g. "%\xb2", a directive name): refuse it before parsing. */
static bool text_is_utf8(builder_t *b, const char *text)
{
    int line = 1, column = 1;
    for (const unsigned char *s = (const unsigned char *)text; *s != '\0'; column++) {
        size_t n = cfg_utf8_sequence_length(s);
        if (n == 0) {
            cfg_errors_add(b->errs, NULL, "%s:%d:%d: invalid YAML: the file is not UTF-8 text",
                           b->doc->name, line, column);
            b->failed = true;
            return false;
        }
        if (*s == '\n')
            line++, column = 0;
        s += n;
    }
    return true;
}

static void parse_events(builder_t *b, const char *text)
{
    if (!text_is_utf8(b, text))
        return;
    struct fy_diag_cfg diag_cfg;
    fy_diag_cfg_default(&diag_cfg);
    diag_cfg.fp = NULL;
    diag_cfg.output_fn = discard_diag_output;
    diag_cfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&diag_cfg);
    if (diag == NULL) {
        out_of_memory(b);
        return;
    }
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg parse_cfg = {.flags = FYPCF_QUIET, .diag = diag};
    struct fy_parser *parser = fy_parser_create(&parse_cfg);
    if (parser == NULL || fy_parser_set_string(parser, text, strlen(text)) != 0) {
        out_of_memory(b);
    } else {
        struct fy_event *event;
        while (!b->fatal && (event = fy_parser_parse(parser)) != NULL) {
            on_event(b, event);
            fy_parser_event_free(parser, event);
        }
        if (!b->fatal && (fy_parser_get_stream_error(parser) || fy_diag_got_error(diag)))
            report_yaml_errors(b, diag);
    }
    if (parser != NULL)
        fy_parser_destroy(parser);
    fy_diag_destroy(diag);
}

cfg_doc_t *cfg_doc_load_string(const char *name, const char *text, cfg_errors_t *errs)
{
    cfg_doc_t *doc = calloc(1, sizeof(*doc));
    if (doc == NULL) {
        cfg_errors_add(errs, NULL, "%s: out of memory while loading the config", name);
        return NULL;
    }
    builder_t b = {.doc = doc, .errs = errs};
    doc->name = arena_strndup(doc, name, strlen(name));
    if (doc->name == NULL) {
        doc->name = name; /* for the message only; doc is freed below */
        out_of_memory(&b);
    } else {
        parse_events(&b, text);
    }
    if (!b.failed && b.root == NULL)
        b.root = new_node(&b, CFG_NULL, NULL); /* an empty file is an empty config */
    if (b.failed) {
        cfg_doc_free(doc);
        return NULL;
    }
    doc->root = b.root;
    return doc;
}

cfg_doc_t *cfg_doc_load_file(const char *path, cfg_errors_t *errs)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        cfg_errors_add(errs, NULL, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    text_t content = {0};
    char buffer[8192];
    size_t n;
    text_append(&content, "", 0);
    while ((n = fread(buffer, 1, sizeof(buffer), file)) > 0)
        text_append(&content, buffer, n);
    bool failed = ferror(file) || content.failed;
    int read_errno = content.failed ? ENOMEM : errno;
    fclose(file);
    cfg_doc_t *doc = NULL;
    if (failed)
        cfg_errors_add(errs, NULL, "%s: cannot read: %s", path, strerror(read_errno));
    else
        doc = cfg_doc_load_string(path, content.data, errs);
    free(content.data);
    return doc;
}

/* ---- accessors ---------------------------------------------------------- */

const cfg_node_t *cfg_doc_root(const cfg_doc_t *doc)
{
    return doc ? doc->root : NULL;
}

cfg_kind_t cfg_node_kind(const cfg_node_t *node)
{
    return node ? node->kind : CFG_NULL;
}

const char *cfg_node_scalar(const cfg_node_t *node)
{
    return node && node->kind == CFG_SCALAR ? node->scalar : NULL;
}

const char *cfg_node_file(const cfg_node_t *node)
{
    return node ? node->file : NULL;
}

int cfg_node_line(const cfg_node_t *node)
{
    return node ? node->line : 0;
}

int cfg_node_column(const cfg_node_t *node)
{
    return node ? node->column : 0;
}

const cfg_node_t *cfg_map_get(const cfg_node_t *map, const char *key)
{
    for (size_t i = 0; key != NULL && i < cfg_map_size(map); i++)
        if (strcmp(map->keys[i]->scalar, key) == 0)
            return map->values[i];
    return NULL;
}

size_t cfg_map_size(const cfg_node_t *map)
{
    return map && map->kind == CFG_MAP ? map->count : 0;
}

const char *cfg_map_key_at(const cfg_node_t *map, size_t index)
{
    return index < cfg_map_size(map) ? map->keys[index]->scalar : NULL;
}

const cfg_node_t *cfg_map_key_node_at(const cfg_node_t *map, size_t index)
{
    return index < cfg_map_size(map) ? map->keys[index] : NULL;
}

const cfg_node_t *cfg_map_value_at(const cfg_node_t *map, size_t index)
{
    return index < cfg_map_size(map) ? map->values[index] : NULL;
}

size_t cfg_seq_len(const cfg_node_t *seq)
{
    return seq && seq->kind == CFG_SEQ ? seq->count : 0;
}

const cfg_node_t *cfg_seq_at(const cfg_node_t *seq, size_t index)
{
    return index < cfg_seq_len(seq) ? seq->values[index] : NULL;
}
