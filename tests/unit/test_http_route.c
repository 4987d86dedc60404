/* Unit tests of the http plugin's router and request-id check. */
#include "../../plugins/http/route.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void test_exact_routes(void **state)
{
    (void)state;
    route_match_t m;
    route_match(HTTP_M_GET, "/healthz", &m);
    assert_int_equal(m.route, ROUTE_HEALTHZ);
    assert_true(m.method_allowed);
    assert_false(m.is_api);
    route_match(HTTP_M_HEAD, "/readyz", &m);
    assert_int_equal(m.route, ROUTE_READYZ);
    route_match(HTTP_M_GET, "/metrics", &m);
    assert_int_equal(m.route, ROUTE_METRICS);
    route_match(HTTP_M_GET, "/api/v1/admin/queues", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_QUEUES);
    assert_true(m.is_admin && m.is_api);
}

static void test_params_and_methods(void **state)
{
    (void)state;
    route_match_t m;
    route_match(HTTP_M_GET, "/api/v1/admin/queues/orders/dlq", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_DLQ_LIST);
    assert_string_equal(m.param, "orders");
    route_match(HTTP_M_DELETE, "/api/v1/admin/queues/orders.v2/dlq", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_DLQ_PURGE);
    assert_string_equal(m.param, "orders.v2");
    route_match(HTTP_M_POST, "/api/v1/admin/queues/q_1/dlq/redrive", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_DLQ_REDRIVE);
    assert_true(m.method_allowed);
    route_match(HTTP_M_PUT, "/api/v1/admin/queues/q/dlq", &m);
    assert_false(m.method_allowed);
    assert_int_equal(m.allowed, HTTP_M_GET | HTTP_M_HEAD | HTTP_M_DELETE);
    char allow[64];
    route_allow_header(m.allowed, allow, sizeof allow);
    assert_string_equal(allow, "GET, HEAD, DELETE");
    route_match(HTTP_M_GET, "/api/v1/admin/queues/q/dlq/redrive", &m);
    assert_false(m.method_allowed);
    assert_int_equal(m.allowed, HTTP_M_POST);
    route_match(HTTP_M_GET, "/api/v1/admin/queues/orders/dlq/01ABC", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_DLQ_SHOW);
    assert_true(m.is_admin && m.method_allowed);
    assert_string_equal(m.param, "orders");
    assert_string_equal(m.param2, "01ABC");
    route_match(HTTP_M_POST, "/api/v1/admin/backup", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_BACKUP_START);
    assert_true(m.is_admin);
    route_match(HTTP_M_GET, "/api/v1/admin/backup", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_BACKUP_STATUS);
    route_match(HTTP_M_GET, "/api/v1/admin/plugins", &m);
    assert_int_equal(m.route, ROUTE_ADMIN_PLUGINS);
    assert_true(m.is_admin);
    assert_string_equal(route_name(ROUTE_ADMIN_PLUGINS), "admin_plugins");
}

static void test_unknown_and_static(void **state)
{
    (void)state;
    route_match_t m;
    route_match(HTTP_M_GET, "/api/v1/nothing", &m);
    assert_int_equal(m.route, ROUTE_API_UNKNOWN);
    assert_true(m.is_api);
    route_match(HTTP_M_GET, "/api/v1/orders", &m);
    assert_int_equal(m.route, ROUTE_ORDERS_LIST);
    route_match(HTTP_M_POST, "/api/v1/orders", &m);
    assert_int_equal(m.route, ROUTE_ORDERS_CREATE);
    route_match(HTTP_M_GET, "/api/v1/orders/ORD:12.3-x_y", &m);
    assert_int_equal(m.route, ROUTE_ORDER_GET);
    assert_string_equal(m.param, "ORD:12.3-x_y");
    route_match(HTTP_M_GET, "/api/v1/admin/queues/a%2fb/dlq", &m); /* no decoding in params */
    assert_int_equal(m.route, ROUTE_API_UNKNOWN);
    route_match(HTTP_M_GET, "/api/v1/admin/queues//dlq", &m);
    assert_int_equal(m.route, ROUTE_API_UNKNOWN);
    route_match(HTTP_M_GET, "/api", &m);
    assert_int_equal(m.route, ROUTE_API_UNKNOWN);
    route_match(HTTP_M_GET, "/apiary.html", &m);
    assert_int_equal(m.route, ROUTE_STATIC);
    route_match(HTTP_M_GET, "/healthz/", &m);
    assert_int_equal(m.route, ROUTE_STATIC);
    route_match(HTTP_M_POST, "/index.html", &m);
    assert_int_equal(m.route, ROUTE_STATIC);
    assert_false(m.method_allowed);
    assert_int_equal(m.allowed, HTTP_M_GET | HTTP_M_HEAD);
}

static void test_methods_and_names(void **state)
{
    (void)state;
    assert_int_equal(route_method_bit("GET"), HTTP_M_GET);
    assert_int_equal(route_method_bit("OPTIONS"), HTTP_M_OPTIONS);
    assert_int_equal(route_method_bit("BREW"), HTTP_M_OTHER);
    assert_string_equal(route_name(ROUTE_ADMIN_DLQ_LIST), "admin_dlq_list");
    assert_string_equal(route_name(ROUTE_COUNT), "unknown");
}

static void test_request_id(void **state)
{
    (void)state;
    assert_true(request_id_valid("a"));
    assert_true(request_id_valid("abc.DEF_123-x"));
    char id[130];
    memset(id, 'a', 128);
    id[128] = '\0';
    assert_true(request_id_valid(id));
    id[128] = 'a';
    id[129] = '\0';
    assert_false(request_id_valid(id));
    assert_false(request_id_valid(""));
    assert_false(request_id_valid(NULL));
    assert_false(request_id_valid("a b"));
    assert_false(request_id_valid("a/b"));
    assert_false(request_id_valid("é"));
    assert_false(request_id_valid("a\r\nX-Evil: 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_routes),       cmocka_unit_test(test_params_and_methods),
        cmocka_unit_test(test_unknown_and_static), cmocka_unit_test(test_methods_and_names),
        cmocka_unit_test(test_request_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
