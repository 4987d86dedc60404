/*
 * bench_json — the ingress hot path's JSON choice, measured: the order of
 * seed 004 turned into msgpack by three parsers, each used the way the
 * ingress would use it. Prints orders/s and MB/s for each, one thread.
 *
 *   jansson  parse into a DOM, walk it, pack, free the DOM
 *   yajl     stream callbacks straight into msgpack; map/array sizes are
 *            back-patched (headers reserved as map32/array32)
 *   jsmn     tokenize; tokens carry child counts, so msgpack is written in
 *            one pass (strings unescaped, numbers parsed with strtod)
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jansson.h>
#include <jsmn.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>

static const char order_json[] =
    "{\"orderId\":\"ORD-12345\",\"customerId\":\"CUST-6789\",\"orderDate\":\"2025-03-06T16:30:"
    "00Z\","
    "\"items\":[{\"productId\":\"PROD-001\",\"name\":\"Widget "
    "Pro\",\"quantity\":2,\"price\":19.99},"
    "{\"productId\":\"PROD-002\",\"name\":\"Super Gadget\",\"quantity\":1,\"price\":49.99}],"
    "\"shippingAddress\":{\"street\":\"123 Main St\",\"city\":\"Anytown\",\"state\":\"CA\","
    "\"zipCode\":\"12345\"},\"paymentMethod\":\"credit_card\",\"totalAmount\":89.97}";

static msgpack_sbuffer out;
static msgpack_packer pk;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- jansson ---------------------------------------------------------- */

static void pack_json(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        msgpack_pack_map(&pk, (uint32_t)json_object_size(v));
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)v, key, value)
        {
            msgpack_pack_str_with_body(&pk, key, strlen(key));
            pack_json(value);
        }
        break;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(&pk, (uint32_t)json_array_size(v));
        size_t i;
        json_t *value;
        json_array_foreach(v, i, value) pack_json(value);
        break;
    }
    case JSON_STRING:
        msgpack_pack_str_with_body(&pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(&pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(&pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(&pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(&pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil(&pk);
        break;
    }
}

static int convert_jansson(const char *text, size_t len)
{
    json_error_t error;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL)
        return -1;
    pack_json(root);
    json_decref(root);
    return 0;
}

/* ---- yajl ------------------------------------------------------------- */

typedef struct container {
    size_t header_at; /* offset of the 5-byte map32/array32 header */
    uint32_t count;
    int is_map;
} container_t;

static container_t stack[64];
static int depth;

static void count_value(void)
{
    if (depth > 0 && !stack[depth - 1].is_map)
        stack[depth - 1].count++;
}

static int y_null(void *ctx)
{
    (void)ctx;
    count_value();
    return msgpack_pack_nil(&pk) == 0;
}

static int y_bool(void *ctx, int b)
{
    (void)ctx;
    count_value();
    return (b ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) == 0;
}

static int y_number(void *ctx, const char *s, size_t len)
{
    (void)ctx;
    count_value();
    char buf[64];
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, '.', len) || memchr(buf, 'e', len) || memchr(buf, 'E', len))
        return msgpack_pack_double(&pk, strtod(buf, NULL)) == 0;
    return msgpack_pack_int64(&pk, strtoll(buf, NULL, 10)) == 0;
}

static int y_string(void *ctx, const unsigned char *s, size_t len)
{
    (void)ctx;
    count_value();
    return msgpack_pack_str_with_body(&pk, s, len) == 0;
}

static int y_key(void *ctx, const unsigned char *s, size_t len)
{
    (void)ctx;
    stack[depth - 1].count++;
    return msgpack_pack_str_with_body(&pk, s, len) == 0;
}

static int open_container(int is_map)
{
    count_value();
    if (depth == 64)
        return 0;
    stack[depth++] = (container_t){out.size, 0, is_map};
    /* map32/array32 with a count patched at the end. */
    const char header[5] = {(char)(is_map ? 0xdf : 0xdd), 0, 0, 0, 0};
    return msgpack_sbuffer_write(&out, header, 5) == 0;
}

static int close_container(void)
{
    container_t *c = &stack[--depth];
    unsigned char *h = (unsigned char *)out.data + c->header_at + 1;
    h[0] = (unsigned char)(c->count >> 24);
    h[1] = (unsigned char)(c->count >> 16);
    h[2] = (unsigned char)(c->count >> 8);
    h[3] = (unsigned char)c->count;
    return 1;
}

static int y_start_map(void *ctx)
{
    (void)ctx;
    return open_container(1);
}

static int y_end(void *ctx)
{
    (void)ctx;
    return close_container();
}

static int y_start_array(void *ctx)
{
    (void)ctx;
    return open_container(0);
}

static const yajl_callbacks callbacks = {
    y_null, y_bool, NULL, NULL, y_number, y_string, y_start_map, y_key, y_end, y_start_array, y_end,
};

static int convert_yajl(const char *text, size_t len)
{
    depth = 0;
    yajl_handle parser = yajl_alloc(&callbacks, NULL, NULL);
    yajl_status st = yajl_parse(parser, (const unsigned char *)text, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(parser);
    yajl_free(parser);
    return st == yajl_status_ok ? 0 : -1;
}

/* ---- jsmn ------------------------------------------------------------- */

static jsmntok_t tokens[256];

static int unescape_into(const char *s, int len, char *dst)
{
    int n = 0;
    for (int i = 0; i < len; i++) {
        if (s[i] != '\\') {
            dst[n++] = s[i];
            continue;
        }
        switch (s[++i]) {
        case 'n':
            dst[n++] = '\n';
            break;
        case 't':
            dst[n++] = '\t';
            break;
        case 'u':
            i += 4; /* a real decoder writes UTF-8 here */
            dst[n++] = '?';
            break;
        default:
            dst[n++] = s[i];
        }
    }
    return n;
}

/* Packs token t and returns the index after its subtree. */
static int pack_token(const char *text, int t)
{
    const jsmntok_t *tok = &tokens[t];
    char buf[512];
    switch (tok->type) {
    case JSMN_OBJECT: {
        msgpack_pack_map(&pk, (uint32_t)tok->size);
        int next = t + 1;
        for (int i = 0; i < tok->size; i++) {
            next = pack_token(text, next); /* key */
            next = pack_token(text, next); /* value */
        }
        return next;
    }
    case JSMN_ARRAY: {
        msgpack_pack_array(&pk, (uint32_t)tok->size);
        int next = t + 1;
        for (int i = 0; i < tok->size; i++)
            next = pack_token(text, next);
        return next;
    }
    case JSMN_STRING: {
        int len = tok->end - tok->start;
        const char *s = text + tok->start;
        if (memchr(s, '\\', (size_t)len)) {
            len = unescape_into(s, len, buf);
            s = buf;
        }
        msgpack_pack_str_with_body(&pk, s, (size_t)len);
        return t + 1;
    }
    default: {
        const char *s = text + tok->start;
        int len = tok->end - tok->start;
        if (*s == 't')
            msgpack_pack_true(&pk);
        else if (*s == 'f')
            msgpack_pack_false(&pk);
        else if (*s == 'n')
            msgpack_pack_nil(&pk);
        else {
            memcpy(buf, s, (size_t)len);
            buf[len] = '\0';
            if (strpbrk(buf, ".eE"))
                msgpack_pack_double(&pk, strtod(buf, NULL));
            else
                msgpack_pack_int64(&pk, strtoll(buf, NULL, 10));
        }
        return t + 1;
    }
    }
}

static int convert_jsmn(const char *text, size_t len)
{
    jsmn_parser parser;
    jsmn_init(&parser);
    int n = jsmn_parse(&parser, text, len, tokens, 256);
    if (n < 1)
        return -1;
    pack_token(text, 0);
    return 0;
}

/* ---- driver ----------------------------------------------------------- */

typedef int (*convert_fn)(const char *text, size_t len);

static double measure(convert_fn convert, long rounds, size_t *packed)
{
    double start = now_s();
    for (long i = 0; i < rounds; i++) {
        msgpack_sbuffer_clear(&out);
        if (convert(order_json, sizeof order_json - 1) != 0) {
            fprintf(stderr, "bench_json: parse failed\n");
            exit(1);
        }
    }
    *packed = out.size;
    return (double)rounds / (now_s() - start);
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 500000;
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    struct {
        const char *name;
        convert_fn fn;
    } parsers[] = {{"jansson (DOM, then pack)", convert_jansson},
                   {"yajl (stream into msgpack)", convert_yajl},
                   {"jsmn (tokens, then pack)", convert_jsmn}};
    printf("\n== JSON -> msgpack on the seed 004 order (%zu bytes), %ld rounds, 1 thread\n",
           sizeof order_json - 1, rounds);
    for (size_t p = 0; p < sizeof parsers / sizeof parsers[0]; p++) {
        size_t packed = 0;
        double best = 0;
        for (int r = 0; r < 3; r++) {
            double rate = measure(parsers[p].fn, rounds, &packed);
            best = rate > best ? rate : best;
        }
        printf("%-30s %10.0f orders/s %8.1f MB/s  (msgpack %zu bytes)\n", parsers[p].name, best,
               best * (double)(sizeof order_json - 1) / 1e6, packed);
    }
    msgpack_sbuffer_destroy(&out);
    return 0;
}
