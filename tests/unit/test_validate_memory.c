/* validate plugin, part 3: where a result's memory comes from. The tree
 * points into the request body while order_parse runs and yajl's state,
 * the tree and the outputs share one arena per result; these tests pin the
 * cases that design makes tricky: nothing returned may point into the
 * body or assign_id, strings sent with and without escapes must give the
 * same result, and results larger than the first arena chunk (or parses
 * that grow yajl's stack far) must still come out whole. The sanitizer
 * build turns any slip here into a failure. */
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

/* Parses a heap copy of `json`, then scribbles over and frees the copy
 * (and the assign_id buffer) before the caller reads the result. */
static keel_order_t *parse_then_drop_body(vt_t *t, const char *json, bool assign)
{
    size_t len = strlen(json);
    char *body = malloc(len);
    char *id = strdup("ASSIGNED-9");
    assert_non_null(body);
    assert_non_null(id);
    memcpy(body, json, len);
    keel_order_t *o = parse_n(t, body, len, assign ? id : NULL);
    memset(body, 'X', len);
    memset(id, 'Y', strlen(id));
    free(body);
    free(id);
    return o;
}

static const keel_validation_error_t *find(const keel_order_t *o, const char *path,
                                           const char *code)
{
    for (size_t i = 0; i < o->error_count; i++)
        if (strcmp(o->errors[i].path, path) == 0 && strcmp(o->errors[i].code, code) == 0)
            return &o->errors[i];
    return NULL;
}

static void test_valid_result_outlives_the_body(void **state)
{
    (void)state;
    vt_t t;
    vt_open(&t, NULL);
    keel_order_t *o = parse_then_drop_body(
        &t,
        "{\"orderId\":\"ORD-1\",\"customerId\":\"CUST-2\",\"items\":[{\"productId\":\"P-3\","
        "\"name\":\"W\\u0069dget\",\"quantity\":2,\"price\":1.5}],\"paymentMethod\":\"card\"}",
        true);
    dump_errors(o);
    assert_int_equal(o->status, 0);
    assert_string_equal(o->order_id, "ORD-1");
    assert_false(o->id_assigned);
    assert_string_equal(o->customer_id, "CUST-2");
    assert_string_equal(o->canonical_json,
                        "{\"customer_id\":\"CUST-2\",\"items\":[{\"name\":\"Widget\",\"price\":"
                        "1.50,\"product_id\":\"P-3\",\"quantity\":2}],\"order_id\":\"ORD-1\","
                        "\"payment_method\":\"card\"}");
    t.api->order_free(t.ctx, o);

    o = parse_then_drop_body(
        &t, "{\"customer_id\":\"C\",\"items\":[{\"product_id\":\"P\",\"quantity\":1,\"price\":1}]}",
        true);
    assert_int_equal(o->status, 0);
    assert_true(o->id_assigned);
    assert_string_equal(o->order_id, "ASSIGNED-9");
    assert_string_equal(o->customer_id, "C");
    assert_non_null(strstr(o->canonical_json, "\"order_id\":\"ASSIGNED-9\""));
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

/* Member names reach error paths and messages: spelled plainly (kept as a
 * slice of the body while parsing) or with escapes (decoded, copied). */
static void test_errors_outlive_the_body(void **state)
{
    (void)state;
    vt_t t;
    vt_open(&t, NULL);
    keel_order_t *o = parse_then_drop_body(
        &t,
        "{\"customer_id\":\"C\",\"customerId\":\"D\",\"items\":[{\"product_id\":\"P\","
        "\"quantity\":1,\"price\":1,\"colour\":\"red\",\"si\\u007ae\":3}],\"gift\":true,"
        "\"n\\u006fte\":\"x\",\"order_date\":\"tomorrow\",\"amount\":1e3}",
        false);
    assert_int_equal(o->status, KEEL_EFAILED);
    const keel_validation_error_t *e = find(o, "customer_id", "duplicate_field");
    assert_non_null(e);
    assert_string_equal(e->message, "given more than once (as \"customer_id\" and \"customerId\")");
    assert_non_null(find(o, "items[0].colour", "unknown_field"));
    e = find(o, "items[0].size", "unknown_field");
    assert_non_null(e);
    assert_non_null(strstr(e->message, "unknown field \"size\""));
    assert_non_null(find(o, "gift", "unknown_field"));
    assert_non_null(find(o, "note", "unknown_field"));
    assert_non_null(find(o, "order_date", "format"));
    e = find(o, "amount", "type");
    assert_non_null(e);
    assert_non_null(strstr(e->message, "got 1e3"));
    assert_non_null(find(o, "order_id", "required"));
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

/* A duplicate spelled once with escapes and once without. */
static void test_escaped_member_names_match_like_plain_ones(void **state)
{
    (void)state;
    vt_t t;
    vt_open(&t, NULL);
    const char *body = "{\"order\\u005fid\":\"O\",\"customer_id\":\"C\",\"orderId\":\"P\","
                       "\"items\":[{\"product\\u0049d\":\"P\",\"quantity\":1,\"price\":1}]}";
    keel_order_t *o = parse_n(&t, body, strlen(body), NULL);
    assert_int_equal(o->status, KEEL_EFAILED);
    assert_int_equal(o->error_count, 1);
    assert_string_equal(o->errors[0].path, "order_id");
    assert_string_equal(o->errors[0].code, "duplicate_field");
    assert_string_equal(o->errors[0].message,
                        "given more than once (as \"order_id\" and \"orderId\")");
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

/* Appends to a growing string. */
typedef struct text {
    char *s;
    size_t len, cap;
} text_t;

static void put(text_t *x, const char *s)
{
    size_t n = strlen(s);
    if (x->len + n + 1 > x->cap) {
        x->cap = (x->len + n + 1) * 2;
        x->s = realloc(x->s, x->cap);
        assert_non_null(x->s);
    }
    memcpy(x->s + x->len, s, n + 1);
    x->len += n;
}

/* 100 items with 150-character names: several times the first arena
 * chunk, for the tree, yajl's decode buffer and both outputs. The letters
 * are sent as \u escapes or as they are (even items then need no escaping
 * at all; odd ones also hold a tab and a quote, which can only be sent
 * escaped), and both spellings must give the same results. */
static char *big_order(bool escaped_letters)
{
    text_t x = {0};
    put(&x, "{\"customer_id\":\"C\",\"order_id\":\"O\",\"items\":[");
    for (int i = 0; i < 100; i++) {
        char head[80];
        snprintf(head, sizeof head, "%s{\"product_id\":\"P-%d\",\"quantity\":1,\"price\":1,",
                 i ? "," : "", i);
        put(&x, head);
        put(&x, "\"name\":\"");
        for (int k = 0; k < 25; k++) {
            put(&x, escaped_letters ? "\\u0061bc\\u00e9" : "abc\xc3\xa9");
            put(&x, i % 2 ? "\\t\\\"" : "xy");
        }
        put(&x, "\"}");
    }
    put(&x, "],\"amount\":100}");
    return x.s;
}

static void test_results_larger_than_one_chunk(void **state)
{
    (void)state;
    vt_t t;
    vt_open(&t, "max_string_length: 1000\n");
    char *a_body = big_order(true), *b_body = big_order(false);
    keel_order_t *a = parse_n(&t, a_body, strlen(a_body), NULL);
    keel_order_t *b = parse_n(&t, b_body, strlen(b_body), NULL);
    free(a_body);
    free(b_body);
    dump_errors(a);
    assert_int_equal(a->status, 0);
    assert_int_equal(b->status, 0);
    assert_true(a->canonical_len > 3 * 8192);
    assert_int_equal(strlen(a->canonical_json), a->canonical_len);
    assert_int_equal(a->canonical_len, b->canonical_len);
    assert_memory_equal(a->canonical_json, b->canonical_json, a->canonical_len);
    assert_int_equal(a->msgpack_len, b->msgpack_len);
    assert_memory_equal(a->msgpack, b->msgpack, a->msgpack_len);
    assert_non_null(strstr(a->canonical_json, "[{\"name\":\"abc\xc3\xa9xyabc\xc3\xa9xy"));
    assert_non_null(strstr(a->canonical_json, ",{\"name\":\"abc\xc3\xa9\\u0009\\\"abc"));
    assert_non_null(strstr(a->canonical_json, ",\"product_id\":\"P-99\",\"quantity\":1}],"));
    t.api->order_free(t.ctx, a);
    t.api->order_free(t.ctx, b);
    vt_close(&t);
}

/* yajl's state stack grows a little per level; with a high max_depth it
 * grows many times inside the arena. */
static void test_deep_but_allowed_nesting(void **state)
{
    (void)state;
    vt_t t;
    vt_open(&t, "max_depth: 10000\n");
    text_t x = {0};
    put(&x, "{\"customer_id\":\"C\",\"deep\":");
    for (int i = 0; i < 9000; i++)
        put(&x, i % 2 ? "[" : "{\"k\":");
    for (int i = 9000; i-- > 0;)
        put(&x, i % 2 ? "]" : "}");
    put(&x, "}");
    keel_order_t *o = parse_n(&t, x.s, x.len, "A");
    free(x.s);
    assert_int_equal(o->status, KEEL_EFAILED);
    assert_non_null(find(o, "deep", "unknown_field"));
    assert_non_null(find(o, "items", "required"));
    t.api->order_free(t.ctx, o);
    vt_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_result_outlives_the_body),
        cmocka_unit_test(test_errors_outlive_the_body),
        cmocka_unit_test(test_escaped_member_names_match_like_plain_ones),
        cmocka_unit_test(test_results_larger_than_one_chunk),
        cmocka_unit_test(test_deep_but_allowed_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
