/* validate plugin, part 1: the two order shapes, the canonical JSON and
 * msgpack, bodies refused as malformed (400), id assignment and config.
 * The rules one by one are in test_validate_rules.c. Both load
 * validate.so through the harness, as keeld would. */
#include <keel/harness.h>
#include <keel/validate.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validate_test_util.h"

static keel_order_t *parse(vt_t *t, const char *json)
{
    return parse_n(t, json, strlen(json), "ASSIGNED-1");
}

/* Parses `json`, expects status 400 with exactly one error of `code`. */
static void expect_refused(vt_t *t, const char *json, size_t len, const char *code)
{
    keel_order_t *o = parse_n(t, json, len, NULL);
    if (o->status != KEEL_EINVAL || o->error_count != 1 || strcmp(o->errors[0].code, code) != 0)
        dump_errors(o);
    assert_int_equal(o->status, KEEL_EINVAL);
    assert_int_equal(o->error_count, 1);
    assert_string_equal(o->errors[0].path, "");
    assert_string_equal(o->errors[0].code, code);
    assert_true(strlen(o->errors[0].message) > 0);
    assert_null(o->canonical_json);
    t->api->order_free(t->ctx, o);
}

/* Returns a copy of the canonical JSON of a valid order. */
static char *canonical(vt_t *t, const char *json)
{
    keel_order_t *o = parse(t, json);
    dump_errors(o);
    assert_int_equal(o->status, 0);
    assert_int_equal(strlen(o->canonical_json), o->canonical_len);
    char *copy = strdup(o->canonical_json);
    t->api->order_free(t->ctx, o);
    return copy;
}

#define SEED_CAMEL                                                                                 \
    "{\n  \"orderId\": \"ORD-12345\",\n  \"customerId\": \"CUST-6789\",\n"                         \
    "  \"orderDate\": \"2025-03-06T16:30:00Z\",\n  \"items\": [\n    {\n"                          \
    "      \"productId\": \"PROD-001\",\n      \"name\": \"Widget Pro\",\n"                        \
    "      \"quantity\": 2,\n      \"price\": 19.99\n    },\n    {\n"                              \
    "      \"productId\": \"PROD-002\",\n      \"name\": \"Super Gadget\",\n"                      \
    "      \"quantity\": 1,\n      \"price\": 49.99\n    }\n  ],\n"                                \
    "  \"shippingAddress\": {\n    \"street\": \"123 Main St\",\n    \"city\": \"Anytown\",\n"     \
    "    \"state\": \"CA\",\n    \"zipCode\": \"12345\"\n  },\n"                                   \
    "  \"paymentMethod\": \"credit_card\",\n  \"totalAmount\": 89.97\n}"

#define SEED_SNAKE                                                                                 \
    "{\"order_id\":\"ORD-12345\",\"customer_id\":\"CUST-6789\","                                   \
    "\"order_date\":\"2025-03-06T16:30:00Z\",\"items\":[{\"product_id\":\"PROD-001\","             \
    "\"name\":\"Widget Pro\",\"quantity\":2,\"price\":19.99},{\"product_id\":\"PROD-002\","        \
    "\"name\":\"Super Gadget\",\"quantity\":1,\"price\":49.99}],\"shipping_address\":{"            \
    "\"street\":\"123 Main St\",\"city\":\"Anytown\",\"state\":\"CA\",\"zip_code\":\"12345\"},"    \
    "\"payment_method\":\"credit_card\",\"amount\":89.97}"

/* Keys reordered, other whitespace, 89.970 and 19.990 for 89.97 and 19.99,
 * total_amount for totalAmount. */
#define SEED_SHUFFLED                                                                              \
    "\t{ \"total_amount\" : 89.970 , \"paymentMethod\":\"credit_card\",\r\n"                       \
    "\"shipping_address\":{\"zipCode\":\"12345\",\"state\":\"CA\",\"city\":\"Anytown\","           \
    "\"street\":\"123 Main St\"},\"items\":[ {\"price\":19.990,\"quantity\":2,"                    \
    "\"name\":\"Widget Pro\",\"productId\":\"PROD-001\"},{\"quantity\":1,\"price\":49.99,"         \
    "\"product_id\":\"PROD-002\",\"name\":\"Super Gadget\"}],\"customerId\":\"CUST-6789\","        \
    "\"orderDate\":\"2025-03-06T16:30:00Z\",\"order_id\":\"ORD-12345\" }\n"

static const char seed_canonical[] =
    "{\"amount\":89.97,\"customer_id\":\"CUST-6789\",\"items\":[{\"name\":\"Widget Pro\","
    "\"price\":19.99,\"product_id\":\"PROD-001\",\"quantity\":2},{\"name\":\"Super Gadget\","
    "\"price\":49.99,\"product_id\":\"PROD-002\",\"quantity\":1}],\"order_date\":"
    "\"2025-03-06T16:30:00Z\",\"order_id\":\"ORD-12345\",\"payment_method\":\"credit_card\","
    "\"shipping_address\":{\"city\":\"Anytown\",\"state\":\"CA\",\"street\":\"123 Main St\","
    "\"zip_code\":\"12345\"}}";

static void test_seed_order_is_valid(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    keel_order_t *o = parse(&t, SEED_CAMEL);
    dump_errors(o);
    assert_int_equal(o->status, 0);
    assert_int_equal(o->error_count, 0);
    assert_string_equal(o->order_id, "ORD-12345");
    assert_false(o->id_assigned);
    assert_string_equal(o->customer_id, "CUST-6789");
    assert_string_equal(o->canonical_json, seed_canonical);
    assert_int_equal(o->canonical_len, strlen(seed_canonical));
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

static void test_both_shapes_give_identical_canonical_json(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    char *camel = canonical(&t, SEED_CAMEL);
    char *snake = canonical(&t, SEED_SNAKE);
    char *shuffled = canonical(&t, SEED_SHUFFLED);
    assert_string_equal(camel, snake);
    assert_string_equal(camel, shuffled);
    free(camel), free(snake), free(shuffled);

    /* 19.9 and 19.90 (and 1 and 1.0) are the same price. */
    char *a =
        canonical(&t, "{\"customer_id\":\"C\",\"order_id\":\"O\",\"items\":[{"
                      "\"product_id\":\"P\",\"quantity\":1,\"price\":19.9}],\"amount\":19.9}");
    char *b = canonical(&t, "{\"amount\":19.90,\"items\":[{\"price\":19.90,\"quantity\":1,"
                            "\"productId\":\"P\"}],\"orderId\":\"O\",\"customerId\":\"C\"}");
    assert_string_equal(a, b);
    assert_string_equal(a, "{\"amount\":19.90,\"customer_id\":\"C\",\"items\":[{\"price\":19.90,"
                           "\"product_id\":\"P\",\"quantity\":1}],\"order_id\":\"O\"}");
    free(a), free(b);
    vt_close(&t);
}

static void test_strings_are_escaped_minimally(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    /* \u00e9 and the raw é are the same string; / is not escaped; control
     * characters become \u00XX whatever the spelling sent. */
    char *a = canonical(&t, "{\"customer_id\":\"C\",\"order_id\":\"O\",\"items\":[{\"product_id\":"
                            "\"P\",\"quantity\":1,\"price\":0,\"name\":\"a\\\"b\\\\c\\/d\\te\\u00e9"
                            "\\u001f\"}]}");
    char *b = canonical(&t, "{\"customer_id\":\"C\",\"order_id\":\"O\",\"items\":[{\"product_id\":"
                            "\"P\",\"quantity\":1,\"price\":0.00,\"name\":\"a\\\"b\\\\c/d\\u0009e"
                            "\xc3\xa9\\u001F\"}]}");
    assert_string_equal(a, b);
    assert_string_equal(a, "{\"customer_id\":\"C\",\"items\":[{\"name\":\"a\\\"b\\\\c/d\\u0009e"
                           "\xc3\xa9\\u001f\",\"price\":0.00,\"product_id\":\"P\",\"quantity\":1}],"
                           "\"order_id\":\"O\"}");
    free(a), free(b);
    vt_close(&t);
}

/* ---- msgpack: a small decoder back to JSON text, for comparison -------- */

typedef struct mp {
    const unsigned char *p, *end;
    char out[2048];
    size_t len;
} mp_t;

static void mp_put(mp_t *m, const char *s, size_t n)
{
    assert_true(m->len + n < sizeof m->out);
    memcpy(m->out + m->len, s, n);
    m->len += n;
    m->out[m->len] = '\0';
}

static uint64_t mp_be(mp_t *m, int bytes)
{
    assert_true(m->end - m->p >= bytes);
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | *m->p++;
    return v;
}

/* Decodes one object (the kinds validate writes) as JSON text; strings in
 * quotes, unescaped (the test data has nothing to escape). */
static void mp_value(mp_t *m)
{
    assert_true(m->p < m->end);
    unsigned char c = *m->p++;
    uint64_t n;
    if (c <= 0x7f || c == 0xcc || c == 0xcd || c == 0xce || c == 0xcf) {
        n = c <= 0x7f ? c : mp_be(m, 1 << (c - 0xcc));
        char num[24];
        mp_put(m, num, (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)n));
    } else if ((c & 0xe0) == 0xa0 || c == 0xd9 || c == 0xda) {
        n = (c & 0xe0) == 0xa0 ? (uint64_t)(c & 0x1f) : mp_be(m, c == 0xd9 ? 1 : 2);
        assert_true((uint64_t)(m->end - m->p) >= n);
        mp_put(m, "\"", 1);
        mp_put(m, (const char *)m->p, n);
        mp_put(m, "\"", 1);
        m->p += n;
    } else if ((c & 0xf0) == 0x80 || (c & 0xf0) == 0x90 || c == 0xdc || c == 0xde) {
        bool map = (c & 0xf0) == 0x80 || c == 0xde;
        n = (c & 0xe0) == 0x80 ? (uint64_t)(c & 0x0f) : mp_be(m, 2);
        mp_put(m, map ? "{" : "[", 1);
        for (uint64_t i = 0; i < n; i++) {
            if (i)
                mp_put(m, ",", 1);
            mp_value(m);
            if (map) {
                mp_put(m, ":", 1);
                mp_value(m);
            }
        }
        mp_put(m, map ? "}" : "]", 1);
    } else {
        fail_msg("unexpected msgpack type 0x%02x", c);
    }
}

static void test_msgpack_holds_the_same_order(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    keel_order_t *o = parse(&t, SEED_CAMEL);
    assert_int_equal(o->status, 0);
    mp_t m = {.p = o->msgpack, .end = (const unsigned char *)o->msgpack + o->msgpack_len};
    mp_value(&m);
    assert_ptr_equal(m.p, m.end);
    /* The canonical JSON with money as decimal strings. */
    assert_string_equal(
        m.out, "{\"amount\":\"89.97\",\"customer_id\":\"CUST-6789\",\"items\":[{\"name\":\"Widget "
               "Pro\",\"price\":\"19.99\",\"product_id\":\"PROD-001\",\"quantity\":2},{\"name\":"
               "\"Super Gadget\",\"price\":\"49.99\",\"product_id\":\"PROD-002\",\"quantity\":1}],"
               "\"order_date\":\"2025-03-06T16:30:00Z\",\"order_id\":\"ORD-12345\","
               "\"payment_method\":\"credit_card\",\"shipping_address\":{\"city\":\"Anytown\","
               "\"state\":\"CA\",\"street\":\"123 Main St\",\"zip_code\":\"12345\"}}");
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

/* ---- bodies refused as a whole (400) ------------------------------------ */

static void test_malformed_bodies_are_refused(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    const char *bad[] = {
        "",     "{",    "{\"customer_id\":", "{\"a\":1,}", "{'a':1}",          "{\"a\":01}",
        "{} x", "{}{}", "{/* c */}",         "nul",        "{\"a\":\"\x01\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(&t, bad[i], strlen(bad[i]), "malformed_json");
    /* The seed order cut short anywhere. */
    for (size_t len = 1; len < strlen(SEED_CAMEL) - 1; len += 7)
        expect_refused(&t, SEED_CAMEL, len, "malformed_json");
    /* Not an object at the top. */
    expect_refused(&t, "[" SEED_SNAKE "]", strlen(SEED_SNAKE) + 2, "malformed_json");
    expect_refused(&t, "\"order\"", 7, "malformed_json");
    expect_refused(&t, "42", 2, "malformed_json");
    expect_refused(&t, "null", 4, "malformed_json");
    /* NULL body */
    keel_order_t *o = NULL;
    assert_int_equal(t.api->order_parse(t.ctx, NULL, 5, NULL, &o), KEEL_EINVAL);
    assert_int_equal(t.api->order_parse(t.ctx, "{}", 2, NULL, NULL), KEEL_EINVAL);
    t.api->order_free(t.ctx, NULL);
    vt_close(&t);
}

static void test_bad_utf8_and_nul_are_refused(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    const char *bad[] = {
        "{\"customer_id\":\"\xff\"}",
        "{\"customer_id\":\"\xc3\"}",
        "{\"customer_id\":\"\xc0\xaf\"}",     /* overlong */
        "{\"customer_id\":\"\xed\xa0\x80\"}", /* surrogate */
        "{\"customer_id\":\"\xf4\x90\x80\x80\"}",
        "{\"\xfe\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(&t, bad[i], strlen(bad[i]), "utf8");
    expect_refused(&t, "{\"customer_id\":\"a\\u0000b\"}", 26, "format");
    expect_refused(&t, "{\"a\\u0000\":1}", 13, "format");
    /* A raw NUL byte is no JSON at all. */
    expect_refused(&t, "{\"customer_id\":\"a\0b\"}", 21, "malformed_json");
    vt_close(&t);
}

/* Found by tests/fuzz/fuzz_order: yajl decodes an unpaired surrogate escape
 * into surrogate bytes (ED B8 80), which made a canonical JSON that is not
 * UTF-8 (and does not parse again). The decoded text is checked too. */
static void test_unpaired_surrogate_escapes_are_refused(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    const char *bad[] = {
        "{\"customer_id\":\"C-1\",\"items\":[{\"product_id\":\"P.1\",\"name\":\"\\ud41d\\ude00\","
        "\"quantity\":1,\"price\":0.5}]}",
        "{\"payment_method\":\"\\udfff\"}",
        "{\"\\udc00\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(&t, bad[i], strlen(bad[i]), "utf8");
    /* A proper pair is one code point (U+1F600) and stays valid. (A high
     * surrogate without its \\u pair, "\\ud800x", yajl reads as "?x".) */
    const char *good = "{\"customer_id\":\"C-1\",\"items\":[{\"product_id\":\"P.1\","
                       "\"name\":\"\\ud83d\\ude00\",\"quantity\":1,\"price\":0.5}]}";
    keel_order_t *o = parse(&t, good);
    assert_int_equal(o->status, 0);
    assert_non_null(strstr(o->canonical_json, "\"name\":\"\xf0\x9f\x98\x80\""));
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

/* prefix + depth × open + "1" + depth × close + "}" (when prefix is set) */
static char *nested(size_t depth, const char *open, const char *close, const char *prefix)
{
    size_t plen = strlen(prefix), olen = strlen(open), clen = strlen(close);
    char *s = malloc(plen + depth * (olen + clen) + 3);
    assert_non_null(s);
    char *p = s;
    memcpy(p, prefix, plen), p += plen;
    for (size_t i = 0; i < depth; i++)
        memcpy(p, open, olen), p += olen;
    *p++ = '1';
    for (size_t i = 0; i < depth; i++)
        memcpy(p, close, clen), p += clen;
    if (plen)
        *p++ = '}';
    *p = '\0';
    return s;
}

static void test_deep_nesting_is_refused_without_recursion(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    char *arrays = nested(100000, "[", "]", "{\"x\":");
    expect_refused(&t, arrays, strlen(arrays), "depth");
    free(arrays);
    char *objects = nested(100000, "{\"a\":", "}", "{\"x\":");
    expect_refused(&t, objects, strlen(objects), "depth");
    free(objects);
    char *top = nested(100000, "[", "]", "");
    expect_refused(&t, top, strlen(top), "malformed_json"); /* an array at the top */
    free(top);
    /* 32 levels (the default) pass the parser; 33 do not. */
    char *ok = nested(30, "[", "]", "{\"x\":");
    keel_order_t *o = parse(&t, ok);
    assert_int_equal(o->status, KEEL_EFAILED); /* unknown_field x, but parsed */
    t.api->order_free(t.ctx, o);
    free(ok);
    char *deep = nested(32, "[", "]", "{\"x\":");
    expect_refused(&t, deep, strlen(deep), "depth");
    free(deep);
    vt_close(&t);
}

static void test_body_over_1mib_is_refused(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    size_t len = ((size_t)1 << 20) + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    expect_refused(&t, big, len, "length");
    free(big);
    vt_close(&t);
}

/* ---- ids ---------------------------------------------------------------- */

#define NO_ID_ORDER                                                                                \
    "{\"customer_id\":\"C\",\"items\":[{\"product_id\":\"P\",\"quantity\":1,\"price\":1}]}"

static void test_missing_id_is_assigned(void **state)
{
    vt_t t;
    vt_open(&t, NULL);
    char id[] = "01JNQ0000000000000000000AB";
    keel_order_t *o = parse_n(&t, NO_ID_ORDER, strlen(NO_ID_ORDER), id);
    assert_int_equal(o->status, 0);
    assert_true(o->id_assigned);
    memset(id, 'X', sizeof id - 1); /* the order keeps its own copy */
    assert_string_equal(o->order_id, "01JNQ0000000000000000000AB");
    assert_non_null(strstr(o->canonical_json, "\"order_id\":\"01JNQ0000000000000000000AB\""));
    t.api->order_free(t.ctx, o);

    o = parse_n(&t, NO_ID_ORDER, strlen(NO_ID_ORDER), NULL);
    assert_int_equal(o->status, KEEL_EFAILED);
    assert_int_equal(o->error_count, 1);
    assert_string_equal(o->errors[0].path, "order_id");
    assert_string_equal(o->errors[0].code, "required");
    assert_null(o->canonical_json);
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

/* ---- config --------------------------------------------------------------- */

#define ITEM "{\"product_id\":\"P\",\"quantity\":1,\"price\":1.00}"

static void test_config_changes_the_rules(void **state)
{
    vt_t t;
    vt_open(&t, "max_items: 2\ncheck_total: false\nmax_decimals: 3\nmax_amount: \"50.5\"\n");
    keel_order_t *o = parse(&t, "{\"customer_id\":\"C\",\"items\":[" ITEM "," ITEM "," ITEM "]}");
    assert_int_equal(o->status, KEEL_EFAILED);
    assert_int_equal(o->error_count, 1);
    assert_string_equal(o->errors[0].path, "items");
    assert_string_equal(o->errors[0].code, "count");
    t.api->order_free(t.ctx, o);
    /* No total check; three decimals allowed and written; 50.5 the limit. */
    o = parse(&t, "{\"customer_id\":\"C\",\"amount\":7,\"items\":[{\"product_id\":\"P\","
                  "\"quantity\":1,\"price\":50.5}," ITEM "]}");
    dump_errors(o);
    assert_int_equal(o->status, 0);
    assert_non_null(strstr(o->canonical_json, "\"amount\":7.000,"));
    assert_non_null(strstr(o->canonical_json, "\"price\":50.500,"));
    t.api->order_free(t.ctx, o);
    o = parse(&t, "{\"customer_id\":\"C\",\"items\":[{\"product_id\":\"P\",\"quantity\":1,"
                  "\"price\":50.501}]}");
    assert_int_equal(o->status, KEEL_EFAILED);
    assert_string_equal(o->errors[0].code, "range");
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

static void test_bad_config_fails_init(void **state)
{
    const char *bad[] = {"max_amount: \"1e6\"\n", "max_amount: \"12.345\"\n", "max_depth: 1\n",
                         "max_decimals: 9\n", "max_items: 0\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        keel_harness_t *h = keel_harness_new(NULL);
        assert_non_null(h);
        assert_int_equal(keel_harness_add(h, "v", KEEL_BUILTIN_PLUGIN_DIR "/validate.so", bad[i]),
                         0);
        assert_int_not_equal(keel_harness_start(h), 0);
        keel_harness_free(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_order_is_valid),
        cmocka_unit_test(test_both_shapes_give_identical_canonical_json),
        cmocka_unit_test(test_strings_are_escaped_minimally),
        cmocka_unit_test(test_msgpack_holds_the_same_order),
        cmocka_unit_test(test_malformed_bodies_are_refused),
        cmocka_unit_test(test_bad_utf8_and_nul_are_refused),
        cmocka_unit_test(test_unpaired_surrogate_escapes_are_refused),
        cmocka_unit_test(test_deep_nesting_is_refused_without_recursion),
        cmocka_unit_test(test_body_over_1mib_is_refused),
        cmocka_unit_test(test_missing_id_is_assigned),
        cmocka_unit_test(test_config_changes_the_rules),
        cmocka_unit_test(test_bad_config_fails_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
