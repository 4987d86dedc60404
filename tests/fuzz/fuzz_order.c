/*
 * fuzz_order.c — order bodies through the validate plugin's order_parse():
 * yajl → tree, both shapes → canonical slots, the rules, canonical JSON and
 * msgpack. The plugin's validate.c is included for its static entry points.
 *
 * Every input runs under two configs (the defaults, and a lax one with six
 * decimals, unknown fields allowed, no total check). A valid order must
 * re-parse from its canonical JSON to the same canonical JSON, and its
 * msgpack must be one whole msgpack object.
 */
#include "../../plugins/validate/validate.c"

#include <msgpack.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ctx_init(validate_ctx_t *c, bool lax)
{
    memset(c, 0, sizeof *c);
    c->max_depth = 32;
    c->max_items = 100;
    c->max_quantity = 10000;
    c->max_id_length = 64;
    c->max_string_length = 256;
    c->max_decimals = lax ? 6 : 2;
    c->out_decimals = lax ? 6 : 2;
    c->scale = lax ? 1000000 : 100;
    c->check_total = !lax;
    c->allow_unknown_fields = lax;
    if (value_decimal("1000000.00", 10, c->max_decimals, c->out_decimals, &c->max_amount) !=
        VALUE_OK)
        abort();
}

static void check_valid(validate_ctx_t *c, const keel_order_t *o)
{
    if (o->order_id == NULL || o->customer_id == NULL || o->canonical_json == NULL ||
        strlen(o->canonical_json) != o->canonical_len || o->msgpack == NULL)
        abort();

    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_init(&zone, 2048);
    msgpack_unpack_return ur = msgpack_unpack(o->msgpack, o->msgpack_len, &off, &zone, &obj);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != o->msgpack_len || obj.type != MSGPACK_OBJECT_MAP)
        abort();
    msgpack_zone_destroy(&zone);

    keel_order_t *again = NULL;
    if (order_parse(c, o->canonical_json, o->canonical_len, NULL, &again) != 0)
        return; /* out of memory */
    if (again->status != 0 || again->canonical_len != o->canonical_len ||
        memcmp(again->canonical_json, o->canonical_json, o->canonical_len) != 0) {
        fprintf(stderr, "canonical JSON does not re-parse to itself:\n%s\n", o->canonical_json);
        abort();
    }
    order_free(c, again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int lax = 0; lax < 2; lax++) {
        validate_ctx_t c;
        ctx_init(&c, lax);
        keel_order_t *o = NULL;
        if (order_parse(&c, data, size, "ORD-ASSIGNED-1", &o) != 0)
            continue; /* out of memory */
        if (o->status == 0)
            check_valid(&c, o);
        else if (o->error_count == 0 || o->errors == NULL)
            abort();
        for (size_t i = 0; i < o->error_count; i++)
            if (o->errors[i].path == NULL || o->errors[i].code == NULL ||
                o->errors[i].message == NULL)
                abort();
        order_free(&c, o);
    }
    return 0;
}
