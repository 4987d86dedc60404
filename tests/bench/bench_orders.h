/*
 * bench_orders.h — shared by the JSON benchmarks: the order of seed 004, a
 * clock, and the reference converter "yajl streaming into msgpack" (map and
 * array headers reserved as map32/array32 and back-patched), which packs
 * into the file's `out` buffer through `pk`.
 */
#ifndef KEEL_BENCH_ORDERS_H
#define KEEL_BENCH_ORDERS_H

#include <msgpack.h>
#include <stdint.h>
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

#endif
