/* Unit tests of the http plugin's path decoding, MIME types and ETags. */
#include "../../plugins/http/mime.c"
#include "../../plugins/http/parse.c"
#include "../../plugins/http/urlpath.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static int decode(const char *raw, char *out)
{
    return urlpath_decode(raw, out, 256);
}

static void test_decode(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(decode("/a%20b/c.html", out), URLPATH_OK);
    assert_string_equal(out, "/a b/c.html");
    assert_int_equal(decode("/", out), URLPATH_OK);
    assert_string_equal(out, "/");
    assert_int_equal(decode("/caf%C3%A9", out), URLPATH_OK);
    assert_int_equal(decode("/..foo/x..", out), URLPATH_OK); /* not a ".." segment */
    assert_int_equal(decode("/./a", out), URLPATH_OK);
}

static void test_refused(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(decode("/../etc/passwd", out), URLPATH_TRAVERSAL);
    assert_int_equal(decode("/a/..", out), URLPATH_TRAVERSAL);
    assert_int_equal(decode("/%2e%2e/x", out), URLPATH_TRAVERSAL);
    assert_int_equal(decode("/%2E%2e/x", out), URLPATH_TRAVERSAL);
    assert_int_equal(decode("/a/.%2e", out), URLPATH_TRAVERSAL);
    assert_int_equal(decode("/..%2fx", out), URLPATH_BAD);
    assert_int_equal(decode("/a%2Fb", out), URLPATH_BAD);
    assert_int_equal(decode("/a%5cb", out), URLPATH_BAD);
    assert_int_equal(decode("/a\\b", out), URLPATH_BAD);
    assert_int_equal(decode("/a%00.html", out), URLPATH_BAD);
    assert_int_equal(decode("/a%0a", out), URLPATH_BAD);
    assert_int_equal(decode("/a%", out), URLPATH_BAD);
    assert_int_equal(decode("/a%4", out), URLPATH_BAD);
    assert_int_equal(decode("/a%zz", out), URLPATH_BAD);
    assert_int_equal(decode("relative", out), URLPATH_BAD);
    char small[4];
    assert_int_equal(urlpath_decode("/abcdef", small, sizeof small), URLPATH_TOO_LONG);
}

static void test_mime(void **state)
{
    (void)state;
    assert_string_equal(mime_for_path("/w/index.html"), "text/html; charset=utf-8");
    assert_string_equal(mime_for_path("a.CSS"), "text/css; charset=utf-8");
    assert_string_equal(mime_for_path("a.js"), "text/javascript; charset=utf-8");
    assert_string_equal(mime_for_path("a.json"), "application/json");
    assert_string_equal(mime_for_path("a.svg"), "image/svg+xml");
    assert_string_equal(mime_for_path("a.png"), "image/png");
    assert_string_equal(mime_for_path("favicon.ico"), "image/x-icon");
    assert_string_equal(mime_for_path("f.woff2"), "font/woff2");
    assert_string_equal(mime_for_path("r.txt"), "text/plain; charset=utf-8");
    assert_string_equal(mime_for_path("noext"), "application/octet-stream");
    assert_string_equal(mime_for_path("dir.d/noext"), "application/octet-stream");
    assert_string_equal(mime_for_path("trailing."), "application/octet-stream");
}

static void test_etag(void **state)
{
    (void)state;
    char etag[64];
    etag_format(etag, sizeof etag, 0x10, 0x20, 0x30);
    assert_string_equal(etag, "\"10-20-30\"");
    assert_true(etag_matches("\"10-20-30\"", etag));
    assert_true(etag_matches("W/\"10-20-30\"", etag));
    assert_true(etag_matches("\"x\", \"10-20-30\"", etag));
    assert_true(etag_matches("*", etag));
    assert_false(etag_matches("\"10-20-31\"", etag));
    assert_false(etag_matches("\"10-20-30", etag));
    assert_false(etag_matches("", etag));
}

static void test_dates_and_304(void **state)
{
    (void)state;
    char text[40];
    http_date_format(784111777, text, sizeof text);
    assert_string_equal(text, "Sun, 06 Nov 1994 08:49:37 GMT");
    time_t t;
    assert_true(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    assert_int_equal(t, 784111777);
    assert_false(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    assert_false(http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC", &t));
    assert_false(http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &t));
    const char *etag = "\"1-2-3\"";
    assert_true(http_not_modified("\"1-2-3\"", NULL, etag, 100));
    assert_false(http_not_modified("\"9\"", "Sun, 06 Nov 1994 08:49:37 GMT", etag, 100));
    assert_true(http_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", etag, 784111777));
    assert_false(http_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 GMT", etag, 784111778));
    assert_false(http_not_modified(NULL, "garbage", etag, 1));
    assert_false(http_not_modified(NULL, NULL, etag, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_mime),          cmocka_unit_test(test_etag),
        cmocka_unit_test(test_dates_and_304),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
