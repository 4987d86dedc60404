/* Unit tests of the http plugin's request guards: UTF-8 and JSON depth
 * checks, SHA-256 key hashes and their constant-time comparison, token
 * buckets and CORS decisions. */
#include "../../plugins/http/auth.c"
#include "../../plugins/http/cors.c"
#include "../../plugins/http/jsoncheck.c"
#include "../../plugins/http/ratelimit.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static bool utf8(const char *s)
{
    return utf8_valid(s, strlen(s));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(utf8("plain ascii"));
    assert_true(utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_true(utf8_valid("", 0));
    assert_false(utf8("\xff"));
    assert_false(utf8("\xc3"));             /* truncated */
    assert_false(utf8("\xc0\xaf"));         /* overlong '/' */
    assert_false(utf8("\xe0\x80\xaf"));     /* overlong */
    assert_false(utf8("\xed\xa0\x80"));     /* surrogate */
    assert_false(utf8("\xf4\x90\x80\x80")); /* above U+10FFFF */
    assert_false(utf8("\xe2\x82"));         /* truncated at the end */
    assert_false(utf8("a\x80z"));           /* lone continuation */
    /* Every offset against the word-at-a-time path. */
    for (size_t at = 0; at < 24; at++) {
        char buf[25];
        memset(buf, 'a', 24);
        buf[24] = '\0';
        buf[at] = (char)0xff;
        assert_false(utf8(buf));
        if (at + 2 <= 24) {
            memcpy(buf + at, "\xc3\xa9", 2);
            assert_true(utf8(buf));
        }
    }
}

static json_check_t check(const char *s, int max_depth)
{
    return json_body_check(s, strlen(s), max_depth);
}

static void test_json_body_check(void **state)
{
    (void)state;
    const char *ok = "{\"a\":[1,{\"b\":[]}]}";
    assert_int_equal(check(ok, 4), JSON_CHECK_OK);
    assert_int_equal(check(ok, 3), JSON_CHECK_DEPTH);
    const char *in_string = "{\"a\":\"[[[[[[\\\"[[[[\"}";
    assert_int_equal(check(in_string, 1), JSON_CHECK_OK);
    /* An escaped backslash ends the escape: the quote after it closes. */
    assert_int_equal(check("[\"\\\\\",[[]]]", 2), JSON_CHECK_DEPTH);
    assert_int_equal(check("[\"\\\\\",[[]]]", 3), JSON_CHECK_OK);
    size_t n = 100000;
    char *deep = malloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    assert_int_equal(json_body_check(deep, 2 * n, 32), JSON_CHECK_DEPTH);
    assert_int_equal(json_body_check(deep, 2 * n, (int)n), JSON_CHECK_OK);
    free(deep);
    /* UTF-8 anywhere, also escaped or past a depth failure. */
    assert_int_equal(check("{\"caf\xc3\xa9\":\"\xe2\x82\xac\"}", 1), JSON_CHECK_OK);
    assert_int_equal(check("{\"a\":\"\xc0\xaf\"}", 1), JSON_CHECK_UTF8);
    assert_int_equal(check("[\"\\\xff\"]", 1), JSON_CHECK_UTF8);
    assert_int_equal(check("[[[[\"\xed\xa0\x80\"]]]]", 1), JSON_CHECK_UTF8);
    assert_int_equal(check("\xe2\x82", 1), JSON_CHECK_UTF8);
    /* NUL: before the depth, after UTF-8; escaped too. */
    assert_int_equal(json_body_check("[[[\0]]]", 7, 1), JSON_CHECK_NUL);
    assert_int_equal(json_body_check("[\"\\\0\"]", 6, 1), JSON_CHECK_NUL);
    assert_int_equal(json_body_check("[\0\xff]", 4, 1), JSON_CHECK_UTF8);
    assert_int_equal(json_body_check("", 0, 1), JSON_CHECK_OK);
}

static void test_sha256(void **state)
{
    (void)state;
    auth_sha256_t *sha = auth_sha256_new();
    assert_non_null(sha);
    char hex[AUTH_HASH_HEX + 1];
    auth_sha256_hex(sha, "", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    auth_sha256_hex(sha, "abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes */
    auth_sha256_hex(sha, two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char million[1000];
    memset(million, 'a', sizeof million);
    auth_sha256_hex(sha, million, sizeof million, hex);
    assert_string_equal(hex, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    auth_sha256_free(sha);
}

static void test_hash_compare(void **state)
{
    (void)state;
    auth_sha256_t *sha = auth_sha256_new();
    assert_non_null(sha);
    char a[AUTH_HASH_HEX + 1], b[AUTH_HASH_HEX + 1];
    auth_sha256_hex(sha, "key-1", 5, a);
    auth_sha256_hex(sha, "key-2", 5, b);
    auth_sha256_free(sha);
    assert_true(auth_hash_valid(a));
    assert_false(auth_hash_valid("ABCDEF"));
    char upper[AUTH_HASH_HEX + 1];
    memcpy(upper, a, sizeof upper);
    upper[0] = 'A';
    assert_false(auth_hash_valid(upper));
    assert_true(auth_hash_equal(a, a));
    assert_false(auth_hash_equal(a, b));
    const char *list[] = {b, a};
    assert_true(auth_hash_in(list, 2, a));
    assert_false(auth_hash_in(list, 1, a));
    assert_false(auth_hash_in(NULL, 0, a));
}

static void test_presented_key(void **state)
{
    (void)state;
    assert_string_equal(auth_presented_key("Bearer abc", NULL), "abc");
    assert_string_equal(auth_presented_key("bearer  abc", "x"), "abc");
    assert_string_equal(auth_presented_key("Basic zzz", "x"), "x");
    assert_string_equal(auth_presented_key(NULL, "x"), "x");
    assert_null(auth_presented_key("Bearer ", ""));
    assert_null(auth_presented_key(NULL, NULL));
}

static void test_token_bucket(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(2.0, 3, 64);
    assert_non_null(rl);
    uint32_t retry = 0;
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(rl, "a", t, &retry));
    assert_false(ratelimit_take(rl, "a", t, &retry));
    assert_int_equal(retry, 1);
    assert_true(ratelimit_take(rl, "b", t, &retry)); /* another client */
    assert_false(ratelimit_take(rl, "a", t + 400, &retry));
    assert_true(ratelimit_take(rl, "a", t + 500, &retry)); /* 2/s: one token per 500 ms */
    assert_false(ratelimit_take(rl, "a", t + 500, &retry));
    assert_true(ratelimit_take(rl, "a", t + 100000, &retry)); /* refilled, capped at burst */
    assert_true(ratelimit_take(rl, "a", t + 100000, &retry));
    assert_true(ratelimit_take(rl, "a", t + 100000, &retry));
    assert_false(ratelimit_take(rl, "a", t + 100000, &retry));
    ratelimit_free(rl);

    rl = ratelimit_new(0.1, 1, 8); /* slow: Retry-After rounds up */
    assert_true(ratelimit_take(rl, "c", t, &retry));
    assert_false(ratelimit_take(rl, "c", t, &retry));
    assert_int_equal(retry, 10);
    ratelimit_free(rl);
}

static void test_bucket_table_is_bounded(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(1.0, 1, 8);
    uint32_t retry;
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "client-%d", i);
        assert_true(ratelimit_take(rl, key, 1000 + (uint64_t)i, &retry));
    }
    assert_int_equal(rl->mask + 1, 8); /* still 8 buckets: old clients were evicted */
    ratelimit_free(rl);
}

static void test_cors(void **state)
{
    (void)state;
    const char *origins[] = {"https://shop.example"};
    assert_true(cors_origin_allowed(origins, 1, "https://shop.example"));
    assert_true(cors_origin_allowed(origins, 1, "HTTPS://SHOP.EXAMPLE"));
    assert_false(cors_origin_allowed(origins, 1, "https://shop.example.evil"));
    assert_false(cors_origin_allowed(origins, 1, NULL));
    assert_false(cors_origin_allowed(NULL, 0, "https://shop.example"));
    const char *any[] = {"*"};
    assert_true(cors_origin_allowed(any, 1, "https://x"));
    assert_true(cors_method_allowed("GET, POST, DELETE", "POST"));
    assert_true(cors_method_allowed("GET,POST", "post"));
    assert_false(cors_method_allowed("GET, POST", "PUT"));
    assert_false(cors_method_allowed("GET, POSTX", "POST"));
    assert_false(cors_method_allowed("GET", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_json_body_check),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hash_compare),
        cmocka_unit_test(test_presented_key),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_bucket_table_is_bounded),
        cmocka_unit_test(test_cors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
