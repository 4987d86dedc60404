/* canon.c — the typed order written twice, from the same walk order:
 *
 *   canonical JSON  keys sorted (bytewise), no whitespace, money as a JSON
 *                   number with exactly out_decimals decimals (19.90),
 *                   quantities as integers, strings escaped minimally: only
 *                   " \ and control characters (as \u00XX); other UTF-8 kept.
 *   msgpack         a map with the same keys in the same order; money as
 *                   the same decimal text in a str ("19.90"), so the queue
 *                   never sees a float; quantity as a positive int.
 *
 * Absent optional fields are omitted from both. */
#include "validate_impl.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
} buf_t;

static void buf_grow_append(buf_t *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    {
        size_t cap = b->cap ? b->cap : 512;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->oom = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* The fast path inline: most appends are a few bytes into room we have. */
static inline void buf_append(buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len > n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    buf_grow_append(b, p, n);
}

static void buf_lit(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_string(buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_append(b, "\"", 1);
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, s + run, i - run);
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(b, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 6);
        }
        run = i + 1;
    }
    buf_append(b, s + run, len - run);
    buf_append(b, "\"", 1);
}

/* Writes `"key":` with a leading comma unless it is the first member. */
static void json_key(buf_t *b, bool *first, const char *key)
{
    if (!*first)
        buf_append(b, ",", 1);
    *first = false;
    buf_append(b, "\"", 1);
    buf_lit(b, key);
    buf_append(b, "\":", 2);
}

static void json_str_member(buf_t *b, bool *first, const char *key, vstr_t v)
{
    if (v.s == NULL)
        return;
    json_key(b, first, key);
    json_string(b, v.s, v.len);
}

static void json_money(buf_t *b, const validate_ctx_t *ctx, int64_t units)
{
    char text[32];
    buf_append(b, text, value_format_money(units, ctx->out_decimals, text));
}

static void write_json(buf_t *b, const validate_ctx_t *ctx, const order_t *o)
{
    bool first = true;
    buf_append(b, "{", 1);
    if (o->has_amount) {
        json_key(b, &first, "amount");
        json_money(b, ctx, o->amount);
    }
    json_str_member(b, &first, "customer_id", o->customer_id);
    json_key(b, &first, "items");
    buf_append(b, "[", 1);
    for (size_t i = 0; i < o->item_count; i++) {
        const order_item_t *it = &o->items[i];
        bool item_first = true;
        buf_lit(b, i ? ",{" : "{");
        json_str_member(b, &item_first, "name", it->name);
        json_key(b, &item_first, "price");
        json_money(b, ctx, it->price);
        json_str_member(b, &item_first, "product_id", it->product_id);
        json_key(b, &item_first, "quantity");
        char n[32];
        buf_append(b, n, value_format_money(it->quantity, 0, n));
        buf_append(b, "}", 1);
    }
    buf_append(b, "]", 1);
    json_str_member(b, &first, "order_date", o->order_date);
    json_str_member(b, &first, "order_id", o->order_id);
    json_str_member(b, &first, "payment_method", o->payment_method);
    if (o->has_address) {
        /* address[] is in struct order (street, city, state, zip_code);
         * written sorted: city, state, street, zip_code. */
        static const int sorted[A_COUNT] = {A_CITY, A_STATE, A_STREET, A_ZIP_CODE};
        bool addr_first = true;
        json_key(b, &first, "shipping_address");
        buf_append(b, "{", 1);
        for (int k = 0; k < A_COUNT; k++)
            json_str_member(b, &addr_first, normalise_name(SHAPE_ADDRESS, sorted[k]),
                            o->address[sorted[k]]);
        buf_append(b, "}", 1);
    }
    buf_append(b, "}", 1);
}

/* ---- msgpack -------------------------------------------------------------- */

static int pack_write(void *data, const char *p, size_t n)
{
    buf_append(data, p, n);
    return 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str_with_body(pk, s, len);
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    pack_str(pk, key, strlen(key));
}

static void pack_str_member(msgpack_packer *pk, const char *key, vstr_t v)
{
    if (v.s == NULL)
        return;
    pack_key(pk, key);
    pack_str(pk, v.s, v.len);
}

static void pack_money(msgpack_packer *pk, const validate_ctx_t *ctx, int64_t units)
{
    char text[32];
    pack_str(pk, text, value_format_money(units, ctx->out_decimals, text));
}

static uint32_t count_present(const vstr_t *v, size_t n)
{
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += v[i].s != NULL;
    return count;
}

static void write_msgpack(buf_t *b, const validate_ctx_t *ctx, const order_t *o)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, pack_write);
    vstr_t top[] = {o->customer_id, o->order_date, o->order_id, o->payment_method};
    msgpack_pack_map(&pk, count_present(top, 4) + 1 + o->has_amount + o->has_address);
    if (o->has_amount) {
        pack_key(&pk, "amount");
        pack_money(&pk, ctx, o->amount);
    }
    pack_str_member(&pk, "customer_id", o->customer_id);
    pack_key(&pk, "items");
    msgpack_pack_array(&pk, (uint32_t)o->item_count);
    for (size_t i = 0; i < o->item_count; i++) {
        const order_item_t *it = &o->items[i];
        msgpack_pack_map(&pk, 3 + (it->name.s != NULL));
        pack_str_member(&pk, "name", it->name);
        pack_key(&pk, "price");
        pack_money(&pk, ctx, it->price);
        pack_str_member(&pk, "product_id", it->product_id);
        pack_key(&pk, "quantity");
        msgpack_pack_uint64(&pk, (uint64_t)it->quantity);
    }
    pack_str_member(&pk, "order_date", o->order_date);
    pack_str_member(&pk, "order_id", o->order_id);
    pack_str_member(&pk, "payment_method", o->payment_method);
    if (o->has_address) {
        static const int sorted[A_COUNT] = {A_CITY, A_STATE, A_STREET, A_ZIP_CODE};
        pack_key(&pk, "shipping_address");
        msgpack_pack_map(&pk, count_present(o->address, A_COUNT));
        for (int k = 0; k < A_COUNT; k++)
            pack_str_member(&pk, normalise_name(SHAPE_ADDRESS, sorted[k]), o->address[sorted[k]]);
    }
}

int canon_write(vresult_t *r, const validate_ctx_t *ctx, const order_t *order)
{
    buf_t json = {0}, pack = {0};
    write_json(&json, ctx, order);
    write_msgpack(&pack, ctx, order);
    if (json.oom || pack.oom) {
        free(json.data);
        free(pack.data);
        return KEEL_ENOMEM;
    }
    if (arena_adopt(r->arena, json.data) != 0) {
        free(pack.data);
        return KEEL_ENOMEM;
    }
    if (arena_adopt(r->arena, pack.data) != 0)
        return KEEL_ENOMEM;
    r->pub.canonical_json = json.data;
    r->pub.canonical_len = json.len;
    r->pub.msgpack = pack.data;
    r->pub.msgpack_len = pack.len;
    return 0;
}
