/* validate plugin, part 2: each default rule accepted and rejected, with
 * its canonical path and stable code; several violations reported at once.
 * (Shapes, canonical output and malformed bodies: test_validate.c.) */
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

static int vt_setup(void **state, const char *config_yaml)
{
    vt_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    vt_open(t, config_yaml);
    *state = t;
    return 0;
}

static int setup_default(void **state)
{
    return vt_setup(state, NULL);
}

static int setup_unknown_allowed(void **state)
{
    return vt_setup(state, "allow_unknown_fields: true\n");
}

static int teardown(void **state)
{
    vt_t *t = *state;
    vt_close(t);
    free(t);
    return 0;
}

static keel_order_t *parse(vt_t *t, const char *json)
{
    return parse_n(t, json, strlen(json), "ASSIGNED");
}

static const keel_validation_error_t *find(const keel_order_t *o, const char *path,
                                           const char *code)
{
    for (size_t i = 0; i < o->error_count; i++)
        if (strcmp(o->errors[i].path, path) == 0 && strcmp(o->errors[i].code, code) == 0)
            return &o->errors[i];
    return NULL;
}

/* Expects status 422 with exactly one error, at `path` with `code`, whose
 * message contains `needle` (when not NULL). */
static void expect_one(vt_t *t, const char *json, const char *path, const char *code,
                       const char *needle)
{
    keel_order_t *o = parse(t, json);
    if (o->status != KEEL_EFAILED || o->error_count != 1 || find(o, path, code) == NULL) {
        print_message("body: %s\n", json);
        dump_errors(o);
    }
    assert_int_equal(o->status, KEEL_EFAILED);
    assert_int_equal(o->error_count, 1);
    assert_non_null(find(o, path, code));
    if (needle != NULL && strstr(o->errors[0].message, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", o->errors[0].message, needle);
    assert_null(o->canonical_json);
    t->api->order_free(t->ctx, o);
}

static void expect_valid(vt_t *t, const char *json)
{
    keel_order_t *o = parse(t, json);
    if (o->status != 0) {
        print_message("body: %s\n", json);
        dump_errors(o);
    }
    assert_int_equal(o->status, 0);
    assert_int_equal(o->error_count, 0);
    assert_non_null(o->canonical_json);
    t->api->order_free(t->ctx, o);
}

#define ITEM "{\"product_id\":\"P-1\",\"quantity\":1,\"price\":1.00}"
/* An order around one item given as text. */
#define WITH_ITEM(item)  "{\"order_id\":\"O-1\",\"customer_id\":\"C-1\",\"items\":[" item "]}"
#define WITH_PRICE(p)    WITH_ITEM("{\"product_id\":\"P\",\"quantity\":1,\"price\":" p "}")
#define WITH_QUANTITY(q) WITH_ITEM("{\"product_id\":\"P\",\"quantity\":" q ",\"price\":1}")
/* An order with one more top-level member. */
#define WITH(member)                                                                               \
    "{\"order_id\":\"O-1\",\"customer_id\":\"C-1\",\"items\":[" ITEM "]," member "}"

static void test_customer_id(void **state)
{
    vt_t *t = *state;
    expect_valid(t, WITH("\"payment_method\":\"card\""));
    expect_one(t, "{\"order_id\":\"O\",\"items\":[" ITEM "]}", "customer_id", "required", NULL);
    expect_one(t, "{\"customer_id\":null,\"items\":[" ITEM "]}", "customer_id", "required", NULL);
    expect_one(t, "{\"customer_id\":\"\",\"items\":[" ITEM "]}", "customer_id", "required", NULL);
    expect_one(t, "{\"customer_id\":42,\"items\":[" ITEM "]}", "customer_id", "type", "string");
    expect_one(t, "{\"customer_id\":\"C 1\",\"items\":[" ITEM "]}", "customer_id", "format", NULL);
    expect_one(t, "{\"customer_id\":\"C\\u00e9\",\"items\":[" ITEM "]}", "customer_id", "format",
               NULL);
    char body[512];
    snprintf(body, sizeof body, "{\"customer_id\":\"%065d\",\"items\":[" ITEM "]}", 1);
    expect_one(t, body, "customer_id", "length", "64");
    snprintf(body, sizeof body, "{\"customer_id\":\"%064d\",\"items\":[" ITEM "]}", 1);
    expect_valid(t, body);
    expect_valid(t, "{\"customer_id\":\"a.b_c:d-E9\",\"items\":[" ITEM "]}");
}

static void test_ids_of_orders_and_products(void **state)
{
    vt_t *t = *state;
    expect_one(t, "{\"order_id\":\"O/1\",\"customer_id\":\"C\",\"items\":[" ITEM "]}", "order_id",
               "format", NULL);
    expect_one(t, "{\"order_id\":7,\"customer_id\":\"C\",\"items\":[" ITEM "]}", "order_id", "type",
               NULL);
    expect_one(t, WITH_ITEM("{\"quantity\":1,\"price\":1}"), "items[0].product_id", "required",
               NULL);
    expect_one(t, WITH_ITEM("{\"product_id\":\"P?\",\"quantity\":1,\"price\":1}"),
               "items[0].product_id", "format", NULL);
}

static void test_items_count(void **state)
{
    vt_t *t = *state;
    expect_one(t, "{\"customer_id\":\"C\"}", "items", "required", NULL);
    expect_one(t, "{\"customer_id\":\"C\",\"items\":[]}", "items", "count", "1 to 100");
    expect_one(t, "{\"customer_id\":\"C\",\"items\":{}}", "items", "type", "array");
    expect_one(t, "{\"customer_id\":\"C\",\"items\":[" ITEM ",3]}", "items[1]", "type", "object");
    char *body = malloc(101 * sizeof ITEM + 64);
    assert_non_null(body);
    strcpy(body, "{\"customer_id\":\"C\",\"items\":[");
    for (int i = 0; i < 101; i++)
        strcat(strcat(body, i ? "," : ""), ITEM);
    strcat(body, "]}");
    expect_one(t, body, "items", "count", "got 101");
    /* 100 pass */
    strcpy(body + strlen(body) - (sizeof ITEM + 2), "]}");
    expect_valid(t, body);
    free(body);
}

static void test_quantity(void **state)
{
    vt_t *t = *state;
    expect_valid(t, WITH_QUANTITY("10000"));
    expect_one(t, WITH_QUANTITY("0"), "items[0].quantity", "range",
               "must be a positive integer, got 0");
    expect_one(t, WITH_QUANTITY("-3"), "items[0].quantity", "range", "got -3");
    expect_one(t, WITH_QUANTITY("1.5"), "items[0].quantity", "type", "got 1.5");
    expect_one(t, WITH_QUANTITY("2.0"), "items[0].quantity", "type", NULL);
    expect_one(t, WITH_QUANTITY("1e2"), "items[0].quantity", "type", NULL);
    expect_one(t, WITH_QUANTITY("\"2\""), "items[0].quantity", "type", "got string");
    expect_one(t, WITH_QUANTITY("10001"), "items[0].quantity", "range", "10000");
    expect_one(t, WITH_QUANTITY("99999999999999999999999"), "items[0].quantity", "range", NULL);
    expect_one(t, WITH_ITEM("{\"product_id\":\"P\",\"price\":1}"), "items[0].quantity", "required",
               NULL);
}

static void test_price(void **state)
{
    vt_t *t = *state;
    expect_valid(t, WITH_PRICE("0"));
    expect_valid(t, WITH_PRICE("1000000.00"));
    expect_valid(t, WITH_PRICE("12.300000"));
    expect_one(t, WITH_PRICE("-1"), "items[0].price", "range", "negative");
    expect_one(t, WITH_PRICE("1.234"), "items[0].price", "decimals", "got 1.234");
    expect_one(t, WITH_PRICE("1e3"), "items[0].price", "type", "got 1e3");
    expect_one(t, WITH_PRICE("1.5E+2"), "items[0].price", "type", NULL);
    expect_one(t, WITH_PRICE("\"19.90\""), "items[0].price", "type", NULL);
    expect_one(t, WITH_PRICE("1000000.01"), "items[0].price", "range", "1000000.00");
    expect_one(t, WITH_PRICE("92233720368547758070"), "items[0].price", "range", NULL);
    expect_one(t, WITH_ITEM("{\"product_id\":\"P\",\"quantity\":1}"), "items[0].price", "required",
               NULL);
}

static void test_amount(void **state)
{
    vt_t *t = *state;
    expect_valid(t, WITH("\"amount\":1"));
    expect_one(t, WITH("\"amount\":1.001"), "amount", "decimals", NULL);
    expect_one(t, WITH("\"amount\":-0.5"), "amount", "range", NULL);
    expect_one(t, WITH("\"totalAmount\":\"1.00\""), "amount", "type", NULL);
    expect_one(t, WITH("\"amount\":1.01"), "amount", "total_mismatch", "1.01");
    keel_order_t *o = parse(t, WITH("\"total_amount\":2.5"));
    assert_int_equal(o->error_count, 1);
    assert_string_equal(o->errors[0].path, "amount");
    assert_string_equal(o->errors[0].code, "total_mismatch");
    assert_non_null(strstr(o->errors[0].message, "2.50"));
    assert_non_null(strstr(o->errors[0].message, "1.00"));
    t->api->order_free(t->ctx, o);
}

/* 3 × 0.10 + 0.20 is 0.50 exactly (in doubles it is 0.5000000000000001). */
static void test_total_is_exact(void **state)
{
    vt_t *t = *state;
    expect_valid(t, "{\"customer_id\":\"C\",\"amount\":0.50,\"items\":["
                    "{\"product_id\":\"A\",\"quantity\":3,\"price\":0.10},"
                    "{\"product_id\":\"B\",\"quantity\":1,\"price\":0.2}]}");
    /* 100 lines alternating 3 × 0.1 and 7 × 0.01, summed exactly. */
    char *body = malloc(100 * 64 + 128);
    assert_non_null(body);
    strcpy(body, "{\"customer_id\":\"C\",\"amount\":37.00,\"items\":[");
    for (int i = 0; i < 100; i++) {
        if (i)
            strcat(body, ",");
        strcat(body, i % 2 ? "{\"product_id\":\"A\",\"quantity\":7,\"price\":0.01}"
                           : "{\"product_id\":\"B\",\"quantity\":3,\"price\":0.1}");
    }
    strcat(body, "]}");
    /* 50 × 0.07 + 50 × 0.30 = 3.50 + 15.00 = 18.50; fix the amount */
    memcpy(strstr(body, "37.00"), "18.50", 5);
    expect_valid(t, body);
    memcpy(strstr(body, "18.50"), "18.49", 5);
    expect_one(t, body, "amount", "total_mismatch", "18.50");
    free(body);
}

static void test_strings(void **state)
{
    vt_t *t = *state;
    char long_text[300];
    memset(long_text, 'x', 257);
    long_text[257] = '\0';
    char body[1024];
    snprintf(body, sizeof body, WITH("\"payment_method\":\"%s\""), long_text);
    expect_one(t, body, "payment_method", "length", "256");
    snprintf(body, sizeof body,
             WITH_ITEM("{\"product_id\":\"P\",\"quantity\":1,\"price\":1,\"name\":\"%s\"}"),
             long_text);
    expect_one(t, body, "items[0].name", "length", NULL);
    snprintf(body, sizeof body, WITH("\"shippingAddress\":{\"city\":\"%s\"}"), long_text);
    expect_one(t, body, "shipping_address.city", "length", NULL);
    long_text[256] = '\0';
    snprintf(body, sizeof body, WITH("\"payment_method\":\"%s\""), long_text);
    expect_valid(t, body);
    /* Characters, not bytes: 256 × é (512 bytes) fit. */
    char accents[600] = "";
    for (int i = 0; i < 256; i++)
        strcat(accents, "\xc3\xa9");
    snprintf(body, sizeof body, WITH("\"payment_method\":\"%s\""), accents);
    expect_valid(t, body);
    expect_one(t, WITH("\"payment_method\":true"), "payment_method", "type", "string");
}

static void test_order_date(void **state)
{
    vt_t *t = *state;
    expect_valid(t, WITH("\"order_date\":\"2025-03-06T16:30:00Z\""));
    expect_valid(t, WITH("\"orderDate\":\"2024-02-29T23:59:60.123+05:30\""));
    const char *bad[] = {"2025-03-06",
                         "2025-03-06 16:30:00Z",
                         "2025-02-29T10:00:00Z",
                         "2025-13-01T10:00:00Z",
                         "2025-03-06T24:00:00Z",
                         "2025-03-06T16:30:00",
                         "2025-03-06T16:30:00+1",
                         "06/03/2025"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, WITH("\"order_date\":\"%s\""), bad[i]);
        expect_one(t, body, "order_date", "format", "RFC 3339");
    }
    expect_one(t, WITH("\"order_date\":20250306"), "order_date", "type", NULL);
}

static void test_shipping_address(void **state)
{
    vt_t *t = *state;
    expect_valid(t, WITH("\"shipping_address\":{\"street\":\"1 A St\",\"zip_code\":\"9\"}"));
    expect_one(t, WITH("\"shipping_address\":\"1 Main St\""), "shipping_address", "type", "object");
    expect_one(t, WITH("\"shipping_address\":[]"), "shipping_address", "type", NULL);
    expect_one(t, WITH("\"shipping_address\":{\"zip\":\"1\"}"), "shipping_address.zip",
               "unknown_field", NULL);
    expect_one(t, WITH("\"shipping_address\":{\"state\":5}"), "shipping_address.state", "type",
               NULL);
}

static void test_unknown_and_duplicate_fields(void **state)
{
    vt_t *t = *state;
    expect_one(t, WITH("\"coupon\":\"X\""), "coupon", "unknown_field", "coupon");
    expect_one(t, WITH_ITEM("{\"product_id\":\"P\",\"quantity\":1,\"price\":1,\"sku\":1}"),
               "items[0].sku", "unknown_field", NULL);
    expect_one(t, WITH("\"orderId\":\"O-2\""), "order_id", "duplicate_field", "orderId");
    expect_one(t, WITH("\"customer_id\":\"C-1\""), "customer_id", "duplicate_field", NULL);
    expect_one(t, WITH("\"amount\":1,\"totalAmount\":1"), "amount", "duplicate_field", NULL);
    expect_one(t,
               WITH_ITEM("{\"productId\":\"P\",\"product_id\":\"P\",\"quantity\":1,"
                         "\"price\":1}"),
               "items[0].product_id", "duplicate_field", NULL);
}

static void test_unknown_fields_allowed_are_dropped(void **state)
{
    vt_t *t = *state;
    keel_order_t *o = parse(t, WITH("\"coupon\":{\"deep\":[1,2]},\"shippingAddress\":{"
                                    "\"city\":\"X\",\"country\":\"FR\"}"));
    dump_errors(o);
    assert_int_equal(o->status, 0);
    assert_null(strstr(o->canonical_json, "coupon"));
    assert_null(strstr(o->canonical_json, "country"));
    assert_non_null(strstr(o->canonical_json, "\"shipping_address\":{\"city\":\"X\"}"));
    t->api->order_free(t->ctx, o);
    /* Duplicates are still refused. */
    expect_one(t, WITH("\"orderId\":\"O-2\""), "order_id", "duplicate_field", NULL);
}

static void test_every_violation_is_reported(void **state)
{
    vt_t *t = *state;
    keel_order_t *o =
        parse(t, "{\"orderId\":\"bad id\",\"customer_id\":\"\",\"amount\":1.234,\"extra\":1,"
                 "\"orderDate\":\"yesterday\",\"items\":["
                 "{\"product_id\":\"P\",\"quantity\":0,\"price\":1.234},"
                 "{\"productId\":\"P\",\"quantity\":1.5,\"price\":-1,\"name\":7},"
                 "\"nope\"],\"shipping_address\":5}");
    dump_errors(o);
    assert_int_equal(o->status, KEEL_EFAILED);
    const char *expected[][2] = {
        {"extra", "unknown_field"},     {"order_id", "format"},    {"customer_id", "required"},
        {"order_date", "format"},       {"amount", "decimals"},    {"items[0].quantity", "range"},
        {"items[0].price", "decimals"}, {"items[1].name", "type"}, {"items[1].quantity", "type"},
        {"items[1].price", "range"},    {"items[2]", "type"},      {"shipping_address", "type"},
    };
    size_t n = sizeof expected / sizeof expected[0];
    for (size_t i = 0; i < n; i++)
        if (find(o, expected[i][0], expected[i][1]) == NULL)
            fail_msg("missing %s %s", expected[i][0], expected[i][1]);
    assert_int_equal(o->error_count, n);
    assert_null(o->order_id);
    t->api->order_free(t->ctx, o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_customer_id, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_ids_of_orders_and_products, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_items_count, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_quantity, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_price, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_amount, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_total_is_exact, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_order_date, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_shipping_address, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_duplicate_fields, setup_default, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_fields_allowed_are_dropped,
                                        setup_unknown_allowed, teardown),
        cmocka_unit_test_setup_teardown(test_every_violation_is_reported, setup_default, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
