/* rules.c — the configured rules applied to the normalised slots. Every
 * violation is recorded (not just the first) with its canonical path; what
 * passes is copied into the typed order that canon.c writes. */
#include "validate_impl.h"

#include <string.h>

#define SHOWN_CHARS 40 /* of a bad value quoted in a message */

typedef struct where {
    const char *parent;
    long index;
    const char *field;
} where_t;

#define ERR(r, w, code, ...) vr_error((r), (w).parent, (w).index, (w).field, (code), __VA_ARGS__)

static int shown(size_t len)
{
    return len > SHOWN_CHARS ? SHOWN_CHARS : (int)len;
}

static bool present(const jv_t *v)
{
    return v != NULL && v->type != JV_NULL; /* null reads as absent */
}

static bool expect_type(vresult_t *r, where_t w, const jv_t *v, jv_type_t type, const char *what)
{
    if (v->type == type)
        return true;
    ERR(r, w, "type", "must be %s, got %s", what, jv_type_name(v->type));
    return false;
}

/* True when v is a string; reports "required" (absent and required) or
 * "type" (present, not a string) otherwise. */
static bool string_present(vresult_t *r, where_t w, const jv_t *v, bool required)
{
    if (!present(v)) {
        if (required)
            ERR(r, w, "required", "is required");
        return false;
    }
    return expect_type(r, w, v, JV_STRING, "a string");
}

/* An optional (or required) free-text string of at most max_string_length. */
static vstr_t text_field(vresult_t *r, const validate_ctx_t *ctx, where_t w, const jv_t *v,
                         bool required)
{
    vstr_t out = {NULL, 0, false};
    if (!string_present(r, w, v, required))
        return out;
    /* Never more characters than bytes: count only when it may matter. */
    size_t chars = v->len > ctx->max_string_length ? value_utf8_length(v->text, v->len) : v->len;
    if (chars > ctx->max_string_length) {
        ERR(r, w, "length", "must be at most %zu characters, got %zu", ctx->max_string_length,
            chars);
        return out;
    }
    out.s = v->text;
    out.len = v->len;
    out.plain = v->raw;
    return out;
}

/* An identifier: 1..max_id_length of [A-Za-z0-9._:-]. */
static vstr_t id_field(vresult_t *r, const validate_ctx_t *ctx, where_t w, const jv_t *v,
                       bool required)
{
    vstr_t out = {NULL, 0, false};
    if (!string_present(r, w, v, required))
        return out;
    if (v->len == 0) {
        ERR(r, w, "required", "must not be empty");
        return out;
    }
    if (v->len > ctx->max_id_length) {
        ERR(r, w, "length", "must be at most %zu characters, got %zu", ctx->max_id_length,
            value_utf8_length(v->text, v->len));
        return out;
    }
    size_t bad = value_id_bad_char(v->text, v->len);
    if (bad < v->len) {
        ERR(r, w, "format",
            "may only contain letters, digits and . _ : - (bad character at position %zu)", bad);
        return out;
    }
    out.s = v->text;
    out.len = v->len;
    out.plain = true; /* [A-Za-z0-9._:-] only */
    return out;
}

/* Money: plain decimal text, ≥ 0, ≤ max_decimals decimals, ≤ max_amount. */
static bool money_field(vresult_t *r, const validate_ctx_t *ctx, where_t w, const jv_t *v,
                        int64_t *units)
{
    if (!expect_type(r, w, v, JV_NUMBER, "a decimal number such as 19.90"))
        return false;
    char limit[32];
    switch (value_decimal(v->text, v->len, ctx->max_decimals, ctx->out_decimals, units)) {
    case VALUE_OK:
        if (*units <= ctx->max_amount)
            return true;
        /* fall through */
    case VALUE_RANGE:
        value_format_money(ctx->max_amount, ctx->out_decimals, limit);
        ERR(r, w, "range", "must be at most %s, got %.*s", limit, shown(v->len), v->text);
        return false;
    case VALUE_TYPE:
        ERR(r, w, "type", "must be a plain decimal number such as 19.90 (no exponent), got %.*s",
            shown(v->len), v->text);
        return false;
    case VALUE_NEGATIVE:
        ERR(r, w, "range", "must not be negative, got %.*s", shown(v->len), v->text);
        return false;
    case VALUE_DECIMALS:
        ERR(r, w, "decimals", "must have at most %u decimals, got %.*s", ctx->max_decimals,
            shown(v->len), v->text);
        return false;
    }
    return false;
}

static bool quantity_field(vresult_t *r, const validate_ctx_t *ctx, where_t w, const jv_t *v,
                           int64_t *quantity)
{
    if (!present(v)) {
        ERR(r, w, "required", "is required");
        return false;
    }
    if (!expect_type(r, w, v, JV_NUMBER, "a positive integer"))
        return false;
    switch (value_positive_int(v->text, v->len, quantity)) {
    case VALUE_OK:
        if (*quantity <= ctx->max_quantity)
            return true;
        /* fall through */
    case VALUE_RANGE:
        ERR(r, w, "range", "must be at most %lld, got %.*s", (long long)ctx->max_quantity,
            shown(v->len), v->text);
        return false;
    case VALUE_TYPE:
        ERR(r, w, "type", "must be a positive integer, got %.*s", shown(v->len), v->text);
        return false;
    case VALUE_NEGATIVE:
    case VALUE_DECIMALS:
        ERR(r, w, "range", "must be a positive integer, got %.*s", shown(v->len), v->text);
        return false;
    }
    return false;
}

/* Checks item i; returns true when its quantity and price are usable. */
static bool check_item(vresult_t *r, const validate_ctx_t *ctx, const jv_t *v, long i,
                       order_item_t *item)
{
    memset(item, 0, sizeof *item);
    where_t self = {"items", i, NULL};
    if (!expect_type(r, self, v, JV_OBJECT, "an object"))
        return false;
    const jv_t *f[I_COUNT];
    normalise_object(r, ctx, v, SHAPE_ITEM, "items", i, f);
    item->product_id = id_field(r, ctx, (where_t){"items", i, "product_id"}, f[I_PRODUCT_ID], true);
    item->name = text_field(r, ctx, (where_t){"items", i, "name"}, f[I_NAME], false);
    bool ok =
        quantity_field(r, ctx, (where_t){"items", i, "quantity"}, f[I_QUANTITY], &item->quantity);
    where_t price_at = {"items", i, "price"};
    if (!present(f[I_PRICE])) {
        ERR(r, price_at, "required", "is required");
        return false;
    }
    return money_field(r, ctx, price_at, f[I_PRICE], &item->price) && ok;
}

static void check_items(vresult_t *r, const validate_ctx_t *ctx, const jv_t *v, order_t *order,
                        bool *totals_known, int64_t *total, bool *total_overflow)
{
    where_t w = {NULL, -1, "items"};
    *totals_known = false;
    if (!present(v)) {
        ERR(r, w, "required", "is required (an array of 1 to %zu items)", ctx->max_items);
        return;
    }
    if (!expect_type(r, w, v, JV_ARRAY, "an array of items"))
        return;
    if (v->count == 0 || v->count > ctx->max_items)
        ERR(r, w, "count", "must hold 1 to %zu items, got %zu", ctx->max_items, v->count);
    if (v->count == 0)
        return;
    order->items = arena_alloc(r->arena, sizeof(order_item_t) * v->count);
    if (order->items == NULL) {
        r->oom = true;
        return;
    }
    order->item_count = v->count;
    bool all_ok = true;
    *total = 0;
    *total_overflow = false;
    long i = 0;
    for (const jv_t *e = v->first; e != NULL; e = e->next, i++) {
        order_item_t *item = &order->items[i];
        if (!check_item(r, ctx, e, i, item)) {
            all_ok = false;
            continue;
        }
        int64_t line;
        if (__builtin_mul_overflow(item->quantity, item->price, &line) ||
            __builtin_add_overflow(*total, line, total))
            *total_overflow = true;
    }
    *totals_known = all_ok;
}

static void check_address(vresult_t *r, const validate_ctx_t *ctx, const jv_t *v, order_t *order)
{
    if (!present(v))
        return;
    if (!expect_type(r, (where_t){NULL, -1, "shipping_address"}, v, JV_OBJECT, "an object"))
        return;
    const jv_t *f[A_COUNT];
    normalise_object(r, ctx, v, SHAPE_ADDRESS, "shipping_address", -1, f);
    order->has_address = true;
    for (int k = 0; k < A_COUNT; k++)
        order->address[k] =
            text_field(r, ctx, (where_t){"shipping_address", -1, normalise_name(SHAPE_ADDRESS, k)},
                       f[k], false);
}

void rules_check(vresult_t *r, const validate_ctx_t *ctx, const jv_t *root, const char *assign_id,
                 order_t *order)
{
    memset(order, 0, sizeof *order);
    const jv_t *f[F_ORDER_COUNT];
    normalise_object(r, ctx, root, SHAPE_ORDER, NULL, -1, f);

    where_t order_id_at = {NULL, -1, "order_id"};
    order->order_id = id_field(r, ctx, order_id_at, f[F_ORDER_ID], false);
    if (!present(f[F_ORDER_ID])) {
        if (assign_id != NULL) {
            order->order_id.s = assign_id;
            order->order_id.len = strlen(assign_id);
            r->pub.id_assigned = true;
        } else {
            ERR(r, order_id_at, "required", "is required (the server assigns none here)");
        }
    }
    order->customer_id =
        id_field(r, ctx, (where_t){NULL, -1, "customer_id"}, f[F_CUSTOMER_ID], true);

    where_t date_at = {NULL, -1, "order_date"};
    order->order_date = text_field(r, ctx, date_at, f[F_ORDER_DATE], false);
    if (order->order_date.s != NULL &&
        !value_is_rfc3339(order->order_date.s, order->order_date.len)) {
        ERR(r, date_at, "format", "must be an RFC 3339 date-time such as 2025-03-06T16:30:00Z");
        order->order_date.s = NULL;
    }
    order->payment_method =
        text_field(r, ctx, (where_t){NULL, -1, "payment_method"}, f[F_PAYMENT_METHOD], false);

    where_t amount_at = {NULL, -1, "amount"};
    if (present(f[F_AMOUNT]))
        order->has_amount = money_field(r, ctx, amount_at, f[F_AMOUNT], &order->amount);

    bool totals_known = false, total_overflow = false;
    int64_t total = 0;
    check_items(r, ctx, f[F_ITEMS], order, &totals_known, &total, &total_overflow);
    check_address(r, ctx, f[F_SHIPPING], order);

    if (ctx->check_total && order->has_amount && totals_known &&
        (total_overflow || total != order->amount)) {
        char given[32], sum[32];
        value_format_money(order->amount, ctx->out_decimals, given);
        if (total_overflow)
            ERR(r, amount_at, "total_mismatch",
                "is %s but the items (quantity x price) add up to more than can be represented",
                given);
        else {
            value_format_money(total, ctx->out_decimals, sum);
            ERR(r, amount_at, "total_mismatch",
                "is %s but the items add up to %s (sum of quantity x price)", given, sum);
        }
    }
}
