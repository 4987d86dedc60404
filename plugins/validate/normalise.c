/* normalise.c — the two order shapes of SPEC §3 (snake_case and the
 * camelCase of seed 004) onto one set of canonical slots. A slot given
 * twice, in either spelling or both, is "duplicate_field"; a member no
 * shape knows is "unknown_field" unless allow_unknown_fields drops it. */
#include "validate_impl.h"

#include <string.h>

typedef struct spelling {
    const char *name;
    size_t len;
    int slot;
} spelling_t;

#define S(name, slot)                                                                              \
    {                                                                                              \
        name, sizeof name - 1, slot                                                                \
    }

static const spelling_t order_spellings[] = {
    S("order_id", F_ORDER_ID),
    S("orderId", F_ORDER_ID),
    S("customer_id", F_CUSTOMER_ID),
    S("customerId", F_CUSTOMER_ID),
    S("order_date", F_ORDER_DATE),
    S("orderDate", F_ORDER_DATE),
    S("payment_method", F_PAYMENT_METHOD),
    S("paymentMethod", F_PAYMENT_METHOD),
    S("amount", F_AMOUNT),
    S("total_amount", F_AMOUNT),
    S("totalAmount", F_AMOUNT),
    S("items", F_ITEMS),
    S("shipping_address", F_SHIPPING),
    S("shippingAddress", F_SHIPPING),
    {NULL, 0, 0},
};

static const spelling_t item_spellings[] = {
    S("product_id", I_PRODUCT_ID), S("productId", I_PRODUCT_ID), S("name", I_NAME),
    S("quantity", I_QUANTITY),     S("price", I_PRICE),          {NULL, 0, 0},
};

static const spelling_t address_spellings[] = {
    S("street", A_STREET),     S("city", A_CITY),        S("state", A_STATE),
    S("zip_code", A_ZIP_CODE), S("zipCode", A_ZIP_CODE), {NULL, 0, 0},
};

static const char *const order_names[F_ORDER_COUNT] = {
    "order_id", "customer_id", "order_date",      "payment_method",
    "amount",   "items",       "shipping_address"};
static const char *const item_names[I_COUNT] = {"product_id", "name", "quantity", "price"};
static const char *const address_names[A_COUNT] = {"street", "city", "state", "zip_code"};

const char *normalise_name(shape_kind_t kind, int slot)
{
    switch (kind) {
    case SHAPE_ORDER:
        return order_names[slot];
    case SHAPE_ITEM:
        return item_names[slot];
    case SHAPE_ADDRESS:
        return address_names[slot];
    }
    return "";
}

static const spelling_t *spellings_of(shape_kind_t kind, int *slot_count)
{
    switch (kind) {
    case SHAPE_ORDER:
        *slot_count = F_ORDER_COUNT;
        return order_spellings;
    case SHAPE_ITEM:
        *slot_count = I_COUNT;
        return item_spellings;
    case SHAPE_ADDRESS:
        *slot_count = A_COUNT;
        return address_spellings;
    }
    *slot_count = 0;
    return NULL;
}

static int lookup(const spelling_t *table, const char *key, size_t key_len)
{
    for (const spelling_t *s = table; s->name != NULL; s++)
        if (s->len == key_len && memcmp(s->name, key, key_len) == 0)
            return s->slot;
    return -1;
}

/* Member names are not NUL-terminated (see jv_t); the path needs a copy. */
static void unknown_field(vresult_t *r, const jv_t *m, shape_kind_t kind, const char *parent,
                          long index)
{
    char *name = arena_strndup(r->arena, m->key, m->key_len);
    if (name == NULL) {
        r->oom = true;
        return;
    }
    vr_error(r, parent, index, name, "unknown_field", "unknown field \"%s\"; allowed here: %s",
             name,
             kind == SHAPE_ORDER  ? "order_id, customer_id, order_date, payment_method, "
                                    "amount, items, shipping_address (or camelCase)"
             : kind == SHAPE_ITEM ? "product_id, name, quantity, price (or productId)"
                                  : "street, city, state, zip_code (or zipCode)");
}

void normalise_object(vresult_t *r, const validate_ctx_t *ctx, const jv_t *object,
                      shape_kind_t kind, const char *parent, long index, const jv_t **slots)
{
    int slot_count = 0;
    const spelling_t *table = spellings_of(kind, &slot_count);
    for (int i = 0; i < slot_count; i++)
        slots[i] = NULL;
    for (const jv_t *m = object->first; m != NULL; m = m->next) {
        int slot = lookup(table, m->key, m->key_len);
        if (slot < 0) {
            if (!ctx->allow_unknown_fields)
                unknown_field(r, m, kind, parent, index);
            continue;
        }
        if (slots[slot] != NULL) {
            const jv_t *first = slots[slot];
            vr_error(r, parent, index, normalise_name(kind, slot), "duplicate_field",
                     "given more than once (as \"%.*s\" and \"%.*s\")", (int)first->key_len,
                     first->key, (int)m->key_len, m->key);
            continue; /* the first one is checked */
        }
        slots[slot] = m;
    }
}
