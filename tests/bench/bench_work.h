/*
 * bench_work.h — the msgpack work of one pipeline step, shared by the
 * benchmark plugin and the plain function-call reference so both do
 * exactly the same thing.
 */
#ifndef KEEL_BENCH_WORK_H
#define KEEL_BENCH_WORK_H

#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_buffer {
    char *data;
    size_t len, capacity;
    int fixed; /* data is caller storage: never reallocated */
} bench_buffer_t;

static inline int bench_buffer_write(void *data, const char *buf, size_t len)
{
    bench_buffer_t *b = data;
    if (b->len + len > b->capacity) {
        if (b->fixed)
            return -1;
        size_t capacity = b->capacity ? b->capacity * 2 : 256;
        while (capacity < b->len + len)
            capacity *= 2;
        char *grown = realloc(b->data, capacity);
        if (grown == NULL)
            return -1;
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

static inline void bench_buffer_free(bench_buffer_t *b)
{
    if (!b->fixed)
        free(b->data);
    memset(b, 0, sizeof *b);
}

static const char bench_payload[] =
    "{\"orderId\":\"ORD-0001\",\"customerId\":\"C-42\",\"totalAmount\":59.97}";

/* {"seq": seq, "hops": hops, "payload": "..."} */
static inline void bench_pack(bench_buffer_t *out, uint64_t seq, uint64_t hops)
{
    out->len = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, bench_buffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "seq", 3);
    msgpack_pack_uint64(&pk, seq);
    msgpack_pack_str_with_body(&pk, "hops", 4);
    msgpack_pack_uint64(&pk, hops);
    msgpack_pack_str_with_body(&pk, "payload", 7);
    msgpack_pack_str_with_body(&pk, bench_payload, sizeof bench_payload - 1);
}

static inline void bench_make_message(bench_buffer_t *out, uint64_t seq)
{
    bench_pack(out, seq, 0);
}

/* Decodes a message, bumps "hops" and re-encodes it into out. */
static inline int bench_step_message(const void *body, size_t len, bench_buffer_t *out)
{
    msgpack_unpacked result;
    msgpack_unpacked_init(&result);
    int rc = -1;
    if (msgpack_unpack_next(&result, body, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        result.data.type == MSGPACK_OBJECT_MAP) {
        uint64_t seq = 0, hops = 0;
        const msgpack_object_map *map = &result.data.via.map;
        for (uint32_t i = 0; i < map->size; i++) {
            const msgpack_object *key = &map->ptr[i].key;
            const msgpack_object *val = &map->ptr[i].val;
            if (key->type != MSGPACK_OBJECT_STR || val->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                continue;
            if (key->via.str.size == 3 && memcmp(key->via.str.ptr, "seq", 3) == 0)
                seq = val->via.u64;
            else if (key->via.str.size == 4 && memcmp(key->via.str.ptr, "hops", 4) == 0)
                hops = val->via.u64;
        }
        bench_pack(out, seq, hops + 1);
        rc = 0;
    }
    msgpack_unpacked_destroy(&result);
    return rc;
}

#endif
