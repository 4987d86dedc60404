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
#include <stdint.h>
#include <string.h>

/* Output grows inside the result's arena (no malloc of its own): a buffer
 * that outgrows its block moves to one twice the size, which wastes at
 * most as much again and is freed with the rest of the result. */
typedef struct buf {
    arena_t *arena;
    char *data;
    size_t len;
    size_t cap; /* one byte always stays free for the final NUL */
    bool oom;
} buf_t;

static void buf_grow_append(buf_t *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    size_t cap = b->cap ? b->cap : 512;
    while (cap - b->len < n + 1) {
        if (cap > SIZE_MAX / 4) {
            b->oom = true;
            return;
        }
        cap *= 2;
    }
    char *grown = arena_alloc(b->arena, cap);
    if (grown == NULL) {
        b->oom = true;
        return;
    }
    if (b->len)
        memcpy(grown, b->data, b->len);
    b->data = grown;
    b->cap = cap;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* The fast path inline: most appends are a few bytes into room we have. */
static inline void buf_append(buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len > n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return;
    }
    buf_grow_append(b, p, n);
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_string(buf_t *b, vstr_t v)
{
    static const char hex[] = "0123456789abcdef";
    const char *s = v.s;
    size_t len = v.len;
    buf_append(b, "\"", 1);
    if (v.plain) {
        buf_append(b, s, len);
        buf_append(b, "\"", 1);
        return;
    }
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

/* `"name":` for a literal name, with its length known at compile time. */
#define JSON_KEY(name) "\"" name "\":", sizeof("\"" name "\":") - 1

/* Writes a JSON_KEY with a leading comma unless it is the first member. */
static void json_key(buf_t *b, bool *first, const char *quoted_key, size_t len)
{
    if (!*first)
        buf_append(b, ",", 1);
    *first = false;
    buf_append(b, quoted_key, len);
}

static void json_str_member(buf_t *b, bool *first, const char *quoted_key, size_t len, vstr_t v)
{
    if (v.s == NULL)
        return;
    json_key(b, first, quoted_key, len);
    json_string(b, v);
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
        json_key(b, &first, JSON_KEY("amount"));
        json_money(b, ctx, o->amount);
    }
    json_str_member(b, &first, JSON_KEY("customer_id"), o->customer_id);
    json_key(b, &first, JSON_KEY("items"));
    buf_append(b, "[", 1);
    for (size_t i = 0; i < o->item_count; i++) {
        const order_item_t *it = &o->items[i];
        bool item_first = true;
        buf_append(b, i ? ",{" : "{", i ? 2 : 1);
        json_str_member(b, &item_first, JSON_KEY("name"), it->name);
        json_key(b, &item_first, JSON_KEY("price"));
        json_money(b, ctx, it->price);
        json_str_member(b, &item_first, JSON_KEY("product_id"), it->product_id);
        json_key(b, &item_first, JSON_KEY("quantity"));
        char n[32];
        buf_append(b, n, value_format_money(it->quantity, 0, n));
        buf_append(b, "}", 1);
    }
    buf_append(b, "]", 1);
    json_str_member(b, &first, JSON_KEY("order_date"), o->order_date);
    json_str_member(b, &first, JSON_KEY("order_id"), o->order_id);
    json_str_member(b, &first, JSON_KEY("payment_method"), o->payment_method);
    if (o->has_address) {
        /* address[] is in struct order (street, city, state, zip_code);
         * written sorted: city, state, street, zip_code. */
        bool addr_first = true;
        json_key(b, &first, JSON_KEY("shipping_address"));
        buf_append(b, "{", 1);
        json_str_member(b, &addr_first, JSON_KEY("city"), o->address[A_CITY]);
        json_str_member(b, &addr_first, JSON_KEY("state"), o->address[A_STATE]);
        json_str_member(b, &addr_first, JSON_KEY("street"), o->address[A_STREET]);
        json_str_member(b, &addr_first, JSON_KEY("zip_code"), o->address[A_ZIP_CODE]);
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

/* A literal key, its length known at compile time. */
#define PACK_KEY(pk, name) pack_str((pk), name, sizeof name - 1)

static void pack_str_member(msgpack_packer *pk, const char *key, size_t key_len, vstr_t v)
{
    if (v.s == NULL)
        return;
    pack_str(pk, key, key_len);
    pack_str(pk, v.s, v.len);
}

#define PACK_STR_MEMBER(pk, name, v) pack_str_member((pk), name, sizeof name - 1, (v))

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
        PACK_KEY(&pk, "amount");
        pack_money(&pk, ctx, o->amount);
    }
    PACK_STR_MEMBER(&pk, "customer_id", o->customer_id);
    PACK_KEY(&pk, "items");
    msgpack_pack_array(&pk, (uint32_t)o->item_count);
    for (size_t i = 0; i < o->item_count; i++) {
        const order_item_t *it = &o->items[i];
        msgpack_pack_map(&pk, 3 + (it->name.s != NULL));
        PACK_STR_MEMBER(&pk, "name", it->name);
        PACK_KEY(&pk, "price");
        pack_money(&pk, ctx, it->price);
        PACK_STR_MEMBER(&pk, "product_id", it->product_id);
        PACK_KEY(&pk, "quantity");
        msgpack_pack_uint64(&pk, (uint64_t)it->quantity);
    }
    PACK_STR_MEMBER(&pk, "order_date", o->order_date);
    PACK_STR_MEMBER(&pk, "order_id", o->order_id);
    PACK_STR_MEMBER(&pk, "payment_method", o->payment_method);
    if (o->has_address) {
        PACK_KEY(&pk, "shipping_address");
        msgpack_pack_map(&pk, count_present(o->address, A_COUNT));
        PACK_STR_MEMBER(&pk, "city", o->address[A_CITY]);
        PACK_STR_MEMBER(&pk, "state", o->address[A_STATE]);
        PACK_STR_MEMBER(&pk, "street", o->address[A_STREET]);
        PACK_STR_MEMBER(&pk, "zip_code", o->address[A_ZIP_CODE]);
    }
}

int canon_write(vresult_t *r, const validate_ctx_t *ctx, const order_t *order)
{
    buf_t json = {.arena = r->arena}, pack = {.arena = r->arena};
    write_json(&json, ctx, order);
    write_msgpack(&pack, ctx, order);
    if (json.oom || pack.oom || json.data == NULL || pack.data == NULL)
        return KEEL_ENOMEM;
    json.data[json.len] = '\0';
    r->pub.canonical_json = json.data;
    r->pub.canonical_len = json.len;
    r->pub.msgpack = pack.data;
    r->pub.msgpack_len = pack.len;
    return 0;
}
