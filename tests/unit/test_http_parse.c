/* test_http_parse.c — the HTTP/1.x framing of the ingress (parse.c):
 * heads, their errors, persistence rules, and chunked bodies fed whole or
 * a byte at a time. */
#include "../../plugins/http/parse.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

typedef struct parsed {
    char buf[4096];
    http_header_t headers[8];
    http_head_t head;
    int rc;
} parsed_t;

/* Finds the head's end in `text` and parses it; rc is the parse result,
 * or HTTP_PARSE_MORE when the head is incomplete. */
static parsed_t *parse(const char *text, size_t cap)
{
    parsed_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    size_t len = strlen(text);
    assert_true(len < sizeof p->buf);
    memcpy(p->buf, text, len);
    p->head.headers = p->headers;
    p->head.header_cap = cap;
    size_t scan = 0, end = http_head_end(p->buf, len, &scan);
    p->rc = end == 0 ? HTTP_PARSE_MORE : http_parse_head(p->buf, end, &p->head);
    return p;
}

static void test_simple_get(void **state)
{
    (void)state;
    parsed_t *p = parse("GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\nX-Request-Id:  abc \t\r\n\r\n"
                        "GET /next",
                        8);
    assert_int_equal(p->rc, HTTP_PARSE_DONE);
    assert_string_equal(p->buf + p->head.method, "GET");
    assert_string_equal(p->buf + p->head.target, "/healthz?x=1");
    assert_int_equal(p->head.minor, 1);
    assert_int_equal(p->head.header_count, 2);
    assert_string_equal(http_head_get(p->buf, &p->head, "x-request-id"), "abc");
    assert_null(http_head_get(p->buf, &p->head, "Origin"));
    assert_int_equal(p->head.head_len, strlen("GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n"
                                              "X-Request-Id:  abc \t\r\n\r\n"));
    assert_true(p->head.keep_alive);
    assert_int_equal(p->head.content_length, -1);
    free(p);
}

static void test_head_end_incremental(void **state)
{
    (void)state;
    const char *req = "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    size_t len = strlen(req), want = len - 2, scan = 0, end = 0;
    for (size_t have = 1; have <= len && end == 0; have++)
        end = http_head_end(req, have, &scan);
    assert_int_equal(end, want);
    /* Bare LF line ends, and empty lines before the request line. */
    parsed_t *p = parse("\r\nPOST /o HTTP/1.0\nContent-Length: 12\nConnection: keep-alive\n\n", 8);
    assert_int_equal(p->rc, HTTP_PARSE_DONE);
    assert_string_equal(p->buf + p->head.method, "POST");
    assert_int_equal(p->head.content_length, 12);
    assert_true(p->head.keep_alive);
    free(p);
    p = parse("GET / HTTP/1.1\r\nHost: a\r\n", 8);
    assert_int_equal(p->rc, HTTP_PARSE_MORE);
    free(p);
    /* HTTP/1.0 may leave Host out. */
    p = parse("GET / HTTP/1.0\r\n\r\n", 8);
    assert_int_equal(p->rc, HTTP_PARSE_DONE);
    free(p);
}

static void test_persistence(void **state)
{
    (void)state;
    parsed_t *p = parse("GET / HTTP/1.0\r\n\r\n", 8);
    assert_int_equal(p->rc, HTTP_PARSE_DONE);
    assert_false(p->head.keep_alive);
    free(p);
    p = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, close\r\n\r\n", 8);
    assert_false(p->head.keep_alive);
    free(p);
    p = parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 8);
    assert_true(p->head.expect_continue);
    free(p);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
    } cases[] = {
        {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", -501},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
        {"GET / HTTP/2.0\r\n\r\n", -505},
        {"GET / FTP/1.1\r\n\r\n", -400},
        {"GET /a b HTTP/1.1\r\n\r\n", -400},
        {"G(T / HTTP/1.1\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA: \x01\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", -431},
        {"\r\n\r\n", -400},
        /* RFC 9112 3.2: HTTP/1.1 without Host, or two Host lines. */
        {"GET / HTTP/1.1\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nhost: a\r\nHost: b\r\n\r\n", -400},
        {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parsed_t *p = parse(cases[i].text, 2);
        if (p->rc != cases[i].rc)
            fail_msg("case %zu: %d, want %d", i, p->rc, cases[i].rc);
        free(p);
    }
}

/* Decodes `raw` whole and a byte at a time; both must give `want`. */
static void chunked_case(const char *raw, size_t max_body, int want_rc, const char *want)
{
    size_t len = strlen(raw);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        char *buf = malloc(len + 1);
        assert_non_null(buf);
        memcpy(buf, raw, len + 1);
        http_chunked_t c = {0};
        int rc = HTTP_PARSE_MORE;
        for (size_t have = bytewise ? 1 : len; rc == HTTP_PARSE_MORE && have <= len; have++)
            rc = http_chunked_decode(&c, buf, have, max_body);
        assert_int_equal(rc, want_rc);
        if (rc == HTTP_PARSE_DONE) {
            assert_int_equal(c.out, strlen(want));
            assert_memory_equal(buf, want, c.out);
        }
        free(buf);
    }
}

static void test_chunked(void **state)
{
    (void)state;
    chunked_case("5\r\nhello\r\n6;name=v\r\n world\r\n0\r\n\r\nNEXT", 100, HTTP_PARSE_DONE,
                 "hello world");
    chunked_case("3\nabc\n0\nTrailer: t\n\n", 100, HTTP_PARSE_DONE, "abc");
    chunked_case("A\r\n0123456789\r\n0\r\n\r\n", 100, HTTP_PARSE_DONE, "0123456789");
    chunked_case("5\r\nhello\r\n", 100, HTTP_PARSE_MORE, NULL);
    chunked_case("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 8, -413, NULL);
    chunked_case("zz\r\n", 100, -400, NULL);
    chunked_case("\r\n", 100, -400, NULL);
    chunked_case("3\r\nabcX\r\n", 100, -400, NULL);
    chunked_case("3\rX\nabc\r\n", 100, -400, NULL);
    chunked_case("1000000000000000\r\n", 100, -400, NULL);
    chunked_case("5 5\r\nhello\r\n0\r\n\r\n", 100, -400, NULL);
    chunked_case("5 \t;x\r\nhello\r\n0\r\n\r\n", 100, HTTP_PARSE_DONE, "hello");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),  cmocka_unit_test(test_head_end_incremental),
        cmocka_unit_test(test_persistence), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
