/* SigV4 signer tests: AWS test-suite and DynamoDB-shaped vectors signed at test time by
 * @smithy/signature-v4 (tests/node/sigv4_vectors.mjs), a few hard-coded vectors that were
 * cross-checked with it (so the test never passes with nothing checked), the signing-key cache,
 * and header/path/query canonicalisation edge cases. */
#include "sigv4.h"

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define SUITE_AKID   "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE   "20150830T123600Z"
#define SUITE_TOKEN                                                                                \
    "AQoDYXdzEPT//////////"                                                                        \
    "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf"                     \
    "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7" \
    "WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"         \
    "scqKmlzm8"                                                                                    \
    "FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define SUITE_AUTH(signed, sig)                                                                    \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "            \
    "SignedHeaders=" signed ", Signature=" sig

static const sigv4_creds_t suite_creds = {SUITE_AKID, SUITE_SECRET, NULL};

static void assert_signs(sigv4_key_cache_t *cache, const sigv4_creds_t *creds, const char *region,
                         const char *service, const char *method, const char *path,
                         const char *query, const sigv4_header_t *h, size_t n, const char *body,
                         const char *date, const char *expected)
{
    char out[1024];
    int rc = sigv4_sign_cached(cache, creds, region, service, method, path, query, h, n, body,
                               strlen(body), date, out, sizeof out);
    assert_int_equal(rc, 0);
    assert_string_equal(out, expected);
}

/* ---- (a) hard-coded vectors (values from the AWS SigV4 test suite, identical to what
 * tests/node/sigv4_vectors.mjs prints with @smithy/signature-v4 5.7.5) ---- */

static void test_suite_post_vanilla(void **state)
{
    const sigv4_header_t h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", SUITE_DATE}};
    assert_signs(NULL, &suite_creds, "us-east-1", "service", "POST", "/", "", h, 2, "", SUITE_DATE,
                 SUITE_AUTH("host;x-amz-date",
                            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
}

static void test_suite_get_header_value_trim(void **state)
{
    const sigv4_header_t h[] = {{"Host", "example.amazonaws.com"},
                                {"My-Header1", " value1"},
                                {"My-Header2", " \"a   b   c\""},
                                {"X-Amz-Date", SUITE_DATE}};
    assert_signs(NULL, &suite_creds, "us-east-1", "service", "GET", "/", "", h, 4, "", SUITE_DATE,
                 SUITE_AUTH("host;my-header1;my-header2;x-amz-date",
                            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"));
}

static void test_suite_post_sts_header_before(void **state)
{
    const sigv4_creds_t creds = {SUITE_AKID, SUITE_SECRET, SUITE_TOKEN};
    const sigv4_header_t h[] = {{"Host", "example.amazonaws.com"},
                                {"X-Amz-Date", SUITE_DATE},
                                {"X-Amz-Security-Token", SUITE_TOKEN}};
    assert_signs(NULL, &creds, "us-east-1", "service", "POST", "/", "", h, 3, "", SUITE_DATE,
                 SUITE_AUTH("host;x-amz-date;x-amz-security-token",
                            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"));
}

#define DDB_GET_BODY                                                                               \
    "{\"TableName\":\"keel-orders\",\"Key\":{\"order_id\":{\"S\":\"o-1\"}},\"ConsistentRead\":"    \
    "true}"
#define DDB_TOKEN "FwoGZXIvYXdzEXAMPLEtoken/with+slash=="

static void test_ddb_get_with_token(void **state)
{
    const sigv4_creds_t creds = {"ASIAEXAMPLEKEY12345", "9drTJvcXLB89EXAMPLELB8923FB892xMFI",
                                 DDB_TOKEN};
    const sigv4_header_t h[] = {{"Content-Type", "application/x-amz-json-1.0"},
                                {"Host", "dynamodb.us-west-2.amazonaws.com"},
                                {"X-Amz-Date", "20240229T120000Z"},
                                {"X-Amz-Target", "DynamoDB_20120810.GetItem"},
                                {"X-Amz-Security-Token", DDB_TOKEN}};
    assert_signs(NULL, &creds, "us-west-2", "dynamodb", "POST", "/", "", h, 5, DDB_GET_BODY,
                 "20240229T120000Z",
                 "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY12345/20240229/us-west-2/dynamodb/"
                 "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                 "x-amz-target, "
                 "Signature=5196981c17e284164df7b226a5e82559764aa9bb68e9b11956d0e12a0172fe3e");
}

/* ---- (a) vectors generated at test time by @smithy/signature-v4 ---- */

static const char *json_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("vector without string field \"%s\"", key);
    return s;
}

static void check_vector(json_t *v, sigv4_key_cache_t *cache)
{
    const char *name = json_str(v, "name");
    json_t *hs = json_object_get(v, "headers");
    assert_true(json_is_array(hs));
    size_t n = json_array_size(hs);
    sigv4_header_t *h = calloc(n ? n : 1, sizeof *h);
    assert_non_null(h);
    for (size_t i = 0; i < n; i++) {
        json_t *pair = json_array_get(hs, i);
        h[i].name = json_string_value(json_array_get(pair, 0));
        h[i].value = json_string_value(json_array_get(pair, 1));
        assert_non_null(h[i].name);
        assert_non_null(h[i].value);
    }
    const sigv4_creds_t creds = {json_str(v, "access_key"), json_str(v, "secret_key"),
                                 json_str(v, "session_token")};
    const char *body = json_str(v, "body");
    const char *expected = json_str(v, "authorization");
    char out[4096];
    for (int pass = 0; pass < 2; pass++) {
        int rc = sigv4_sign_cached(pass ? cache : NULL, &creds, json_str(v, "region"),
                                   json_str(v, "service"), json_str(v, "method"),
                                   json_str(v, "path"), json_str(v, "query"), h, n, body,
                                   strlen(body), json_str(v, "amz_date"), out, sizeof out);
        if (rc != 0)
            fail_msg("%s: sigv4_sign failed", name);
        if (strcmp(out, expected) != 0)
            fail_msg("%s (%s):\n  keel:   %s\n  smithy: %s", name, pass ? "cached" : "uncached",
                     out, expected);
    }
    free(h);
}

static void test_smithy_vectors(void **state)
{
    char script[1024], modules[2][1024];
    snprintf(script, sizeof script, "%s/tests/node/sigv4_vectors.mjs", KEEL_SOURCE_DIR);
    snprintf(modules[0], sizeof modules[0],
             "%s/tests/node/node_modules/@smithy/signature-v4/package.json", KEEL_SOURCE_DIR);
    snprintf(modules[1], sizeof modules[1],
             "%s/tests/node/node_modules/@aws-crypto/sha256-js/package.json", KEEL_SOURCE_DIR);
    if (system("command -v node >/dev/null 2>&1") != 0) {
        print_message(
            "SKIP smithy vectors: node is not installed (hard-coded vectors still ran)\n");
        skip();
    }
    for (int i = 0; i < 2; i++) {
        if (access(modules[i], R_OK) != 0) {
            print_message("SKIP smithy vectors: %s missing (run npm ci in tests/node; "
                          "hard-coded vectors still ran)\n",
                          modules[i]);
            skip();
        }
    }
    char cmd[2100];
    snprintf(cmd, sizeof cmd, "node '%s'", script);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    sigv4_key_cache_t cache;
    assert_int_equal(sigv4_key_cache_init(&cache), 0);
    const char *required[] = {"post-vanilla", "post-x-www-form-urlencoded", "post-header-key-sort",
                              "get-header-value-trim", "post-sts-header-before"};
    int seen_required = 0, checked = 0, with_token = 0, dynamodb = 0;
    char line[65536];
    while (fgets(line, sizeof line, p)) {
        json_error_t jerr;
        json_t *v = json_loads(line, 0, &jerr);
        if (!v)
            fail_msg("bad vector line (%s): %s", jerr.text, line);
        check_vector(v, &cache);
        const char *name = json_str(v, "name");
        for (size_t i = 0; i < sizeof required / sizeof *required; i++)
            seen_required += strcmp(name, required[i]) == 0;
        with_token += *json_str(v, "session_token") != '\0';
        dynamodb += strcmp(json_str(v, "service"), "dynamodb") == 0;
        print_message("  ok %-36s SignedHeaders=%s\n", name, json_str(v, "signed_headers"));
        checked++;
        json_decref(v);
    }
    int status = pclose(p);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s failed (status %d): see its stderr above", script, status);
    print_message("  %d smithy vectors matched (%d with a session token, %d DynamoDB-shaped)\n",
                  checked, with_token, dynamodb);
    assert_int_equal(seen_required, 5);
    assert_true(checked >= 15);
    assert_true(with_token >= 3);
    assert_true(dynamodb >= 5);
    sigv4_key_cache_destroy(&cache);
}

/* ---- (b) signing-key cache ---- */

static void sign_ddb(sigv4_key_cache_t *cache, const char *secret, const char *region,
                     const char *date, char *out, size_t out_len)
{
    const sigv4_creds_t creds = {"AKIAIOSFODNN7EXAMPLE", secret, NULL};
    char host[128];
    snprintf(host, sizeof host, "dynamodb.%s.amazonaws.com", region);
    const sigv4_header_t h[] = {{"content-type", "application/x-amz-json-1.0"},
                                {"host", host},
                                {"x-amz-date", date},
                                {"x-amz-target", "DynamoDB_20120810.GetItem"}};
    int rc = sigv4_sign_cached(cache, &creds, region, "dynamodb", "POST", "/", "", h, 4,
                               DDB_GET_BODY, strlen(DDB_GET_BODY), date, out, out_len);
    assert_int_equal(rc, 0);
}

static void assert_cache_matches(sigv4_key_cache_t *cache, const char *secret, const char *region,
                                 const char *date, unsigned long derivations)
{
    char a[512], b[512];
    sign_ddb(cache, secret, region, date, a, sizeof a);
    sign_ddb(NULL, secret, region, date, b, sizeof b);
    assert_string_equal(a, b);
    assert_int_equal(sigv4_key_cache_derivations(cache), derivations);
}

static void test_key_cache(void **state)
{
    sigv4_key_cache_t cache;
    assert_int_equal(sigv4_key_cache_init(&cache), 0);
    assert_int_equal(sigv4_key_cache_derivations(&cache), 0);
    const char *s1 = "secret-one", *s2 = "secret-two";

    /* The same day: one derivation, whatever the time of day. */
    assert_cache_matches(&cache, s1, "us-east-1", "20261122T000000Z", 1);
    assert_cache_matches(&cache, s1, "us-east-1", "20261122T063000Z", 1);
    assert_cache_matches(&cache, s1, "us-east-1", "20261122T235959Z", 1);
    for (int i = 0; i < 20; i++)
        assert_cache_matches(&cache, s1, "us-east-1", "20261122T120000Z", 1);
    /* A new day recomputes once. */
    assert_cache_matches(&cache, s1, "us-east-1", "20261123T000000Z", 2);
    assert_cache_matches(&cache, s1, "us-east-1", "20261123T000001Z", 2);
    /* So do a new region and a new secret (rotated credentials). */
    assert_cache_matches(&cache, s1, "eu-west-1", "20261123T000001Z", 3);
    assert_cache_matches(&cache, s2, "eu-west-1", "20261123T000001Z", 4);
    assert_cache_matches(&cache, s2, "eu-west-1", "20261123T100000Z", 4);
    /* One entry: going back recomputes. */
    assert_cache_matches(&cache, s1, "eu-west-1", "20261123T100000Z", 5);

    /* The cached key changes the signature exactly as the uncached one does. */
    char d1[512], d2[512];
    sign_ddb(&cache, s1, "eu-west-1", "20261123T100000Z", d1, sizeof d1);
    sign_ddb(&cache, s1, "eu-west-1", "20261124T100000Z", d2, sizeof d2);
    assert_string_not_equal(d1, d2);
    sigv4_key_cache_destroy(&cache);
}

typedef struct cache_thread {
    sigv4_key_cache_t *cache;
    const char *region;
    char expected[512];
    int mismatches;
} cache_thread_t;

static void *cache_worker(void *arg)
{
    cache_thread_t *t = arg;
    for (int i = 0; i < 200; i++) {
        char out[512];
        sign_ddb(t->cache, "shared-secret", t->region, "20261122T010203Z", out, sizeof out);
        t->mismatches += strcmp(out, t->expected) != 0;
    }
    return NULL;
}

static void test_key_cache_threads(void **state)
{
    sigv4_key_cache_t cache;
    assert_int_equal(sigv4_key_cache_init(&cache), 0);
    const char *regions[] = {"us-east-1", "us-east-1", "eu-west-1", "us-east-1"};
    cache_thread_t ts[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&ts[i], 0, sizeof ts[i]);
        ts[i].cache = &cache;
        ts[i].region = regions[i];
        sign_ddb(NULL, "shared-secret", regions[i], "20261122T010203Z", ts[i].expected,
                 sizeof ts[i].expected);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, cache_worker, &ts[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ts[i].mismatches, 0);
    }
    sigv4_key_cache_destroy(&cache);
}

/* ---- (c) canonicalisation ---- */

static void assert_canonical(const char *method, const char *path, const char *query,
                             const sigv4_header_t *h, size_t n, const char *body,
                             const char *expected)
{
    char out[2048];
    int len =
        sigv4_canonical_request(method, path, query, h, n, body, strlen(body), out, sizeof out);
    assert_int_equal(len, (int)strlen(expected));
    assert_string_equal(out, expected);
}

static void test_canonical_headers(void **state)
{
    const sigv4_header_t h[] = {
        {"X-Amz-Date", SUITE_DATE},        {"zz-empty", ""},
        {"My-Header1", "  a   b\t\t c  "}, {"HOST", "example.amazonaws.com"},
        {"my-header1", "\tsecond\t"},      {"My-Header1-X", "dash sorts before digits"},
        {"my-header10", " ten "},          {"Content-Type", "application/x-amz-json-1.0"},
        {"MY-HEADER1", "third  value"},    {"spaces-only", "   \t "},
    };
    assert_canonical("POST", "/", "", h, sizeof h / sizeof *h, "",
                     "POST\n/\n\n"
                     "content-type:application/x-amz-json-1.0\n"
                     "host:example.amazonaws.com\n"
                     "my-header1:a b c,second,third value\n"
                     "my-header1-x:dash sorts before digits\n"
                     "my-header10:ten\n"
                     "spaces-only:\n"
                     "x-amz-date:20150830T123600Z\n"
                     "zz-empty:\n"
                     "\n"
                     "content-type;host;my-header1;my-header1-x;my-header10;spaces-only;"
                     "x-amz-date;zz-empty\n" EMPTY_SHA256);
}

static void test_canonical_path_and_query(void **state)
{
    const sigv4_header_t h[] = {{"host", "h"}, {"x-amz-date", SUITE_DATE}};
    const char *tail = "\nhost:h\nx-amz-date:" SUITE_DATE "\n\nhost;x-amz-date\n" EMPTY_SHA256;
    struct {
        const char *path, *query, *canon_path, *canon_query;
    } cases[] = {
        {"/", "", "/", ""},
        {"/a/./b/../c//d/", "", "/a/c/d/", ""},
        {"/..", "", "/", ""},
        {"/a/b/../..", "", "/", ""},
        {"/example space/", "", "/example%20space/", ""},
        {"/%41", "", "/%2541", ""},
        {"/\xe1\x88\xb4", "", "/%E1%88%B4", ""},
        {"/", "b=2&a=z&a=y&c", "/", "a=y&a=z&b=2&c="},
        {"/", "&&x=1&&", "/", "x=1"},
        {"/", "k=a b&p=1+2&s=%2f&u=%41~", "/", "k=a%20b&p=1%2B2&s=%2F&u=A~"},
        {"/", "bad=%zz&pct=%", "/", "bad=%25zz&pct=%25"},
        {"/", "Param2=value2&Param1=value1&param1=v", "/", "Param1=value1&Param2=value2&param1=v"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char expected[512];
        snprintf(expected, sizeof expected, "GET\n%s\n%s%s", cases[i].canon_path,
                 cases[i].canon_query, tail);
        assert_canonical("GET", cases[i].path, cases[i].query, h, 2, "", expected);
    }
}

static void test_sign_rejects_bad_input(void **state)
{
    char out[1024];
    const sigv4_header_t ok[] = {{"host", "h"}, {"x-amz-date", SUITE_DATE}};
    const sigv4_header_t no_host[] = {{"x-amz-date", SUITE_DATE}};
    const sigv4_header_t no_date[] = {{"host", "h"}};
    const sigv4_header_t crlf[] = {{"host", "h"}, {"x-amz-date", SUITE_DATE}, {"a", "x\r\nb: c"}};
    const sigv4_header_t empty_name[] = {{"host", "h"}, {"x-amz-date", SUITE_DATE}, {"", "x"}};
    const sigv4_header_t colon[] = {{"host", "h"}, {"x-amz-date", SUITE_DATE}, {"a:b", "x"}};
    const sigv4_header_t space[] = {{"host", "h"}, {"x-amz-date", SUITE_DATE}, {"a b", "x"}};
    const sigv4_header_t other_date[] = {{"host", "h"}, {"x-amz-date", "20150830T123601Z"}};
    const sigv4_header_t two_dates[] = {
        {"host", "h"}, {"x-amz-date", SUITE_DATE}, {"X-Amz-Date", SUITE_DATE}};
    const sigv4_header_t token[] = {
        {"host", "h"}, {"x-amz-date", SUITE_DATE}, {"x-amz-security-token", "T1"}};
    const sigv4_creds_t with_token = {SUITE_AKID, SUITE_SECRET, "T1"};
    const sigv4_creds_t other_token = {SUITE_AKID, SUITE_SECRET, "T2"};
    const sigv4_creds_t no_secret = {SUITE_AKID, "", NULL};
    const sigv4_creds_t no_akid = {NULL, SUITE_SECRET, NULL};

#define SIGN(c, r, s, m, p, h, n, d, o, ol) sigv4_sign(c, r, s, m, p, "", h, n, NULL, 0, d, o, ol)
    assert_int_equal(
        SIGN(&suite_creds, "us-east-1", "service", "GET", "/", ok, 2, SUITE_DATE, out, sizeof out),
        0);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", no_host, 1, SUITE_DATE, out, 1024),
                     -1);
    assert_string_equal(out, "");
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", no_date, 1, SUITE_DATE, out, 1024),
                     -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", crlf, 3, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", empty_name, 3, SUITE_DATE, out, 1024),
                     -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", colon, 3, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", space, 3, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", other_date, 2, SUITE_DATE, out, 1024),
                     -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", two_dates, 3, SUITE_DATE, out, 1024),
                     -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "a", ok, 2, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "", ok, 2, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&suite_creds, "r", "s", "", "/", ok, 2, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&suite_creds, "", "s", "GET", "/", ok, 2, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&suite_creds, "r", "a/b", "GET", "/", ok, 2, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&no_secret, "r", "s", "GET", "/", ok, 2, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&no_akid, "r", "s", "GET", "/", ok, 2, SUITE_DATE, out, 1024), -1);
    /* Malformed dates. */
    const char *bad_dates[] = {"20150830T123600", "20150830 123600Z", "2015-08-30T12:36Z",
                               "2015083OT123600Z", ""};
    for (size_t i = 0; i < sizeof bad_dates / sizeof *bad_dates; i++)
        assert_int_equal(SIGN(&suite_creds, "r", "s", "GET", "/", ok, 2, bad_dates[i], out, 1024),
                         -1);
    /* A session token must be sent, and be the one signed. */
    assert_int_equal(SIGN(&with_token, "r", "s", "GET", "/", ok, 2, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&other_token, "r", "s", "GET", "/", token, 3, SUITE_DATE, out, 1024), -1);
    assert_int_equal(SIGN(&with_token, "r", "s", "GET", "/", token, 3, SUITE_DATE, out, 1024), 0);

    /* Output exactly large enough, and one byte too small. */
    char big[1024];
    assert_int_equal(
        SIGN(&suite_creds, "us-east-1", "service", "GET", "/", ok, 2, SUITE_DATE, big, sizeof big),
        0);
    size_t need = strlen(big) + 1;
    char *exact = malloc(need);
    assert_non_null(exact);
    assert_int_equal(
        SIGN(&suite_creds, "us-east-1", "service", "GET", "/", ok, 2, SUITE_DATE, exact, need), 0);
    assert_string_equal(exact, big);
    assert_int_equal(
        SIGN(&suite_creds, "us-east-1", "service", "GET", "/", ok, 2, SUITE_DATE, exact, need - 1),
        -1);
    assert_string_equal(exact, "");
    free(exact);
    /* Canonical request into a too-small buffer. */
    assert_int_equal(sigv4_canonical_request("GET", "/", "", ok, 2, NULL, 0, out, 10), -1);
#undef SIGN
}

static void test_helpers(void **state)
{
    char d[SIGV4_AMZ_DATE_LEN + 1];
    assert_int_equal(sigv4_amz_date((time_t)1440938160, d), 0);
    assert_string_equal(d, SUITE_DATE);
    assert_int_equal(sigv4_amz_date((time_t)0, d), 0);
    assert_string_equal(d, "19700101T000000Z");
    assert_int_equal(sigv4_amz_date((time_t)1709208000, d), 0); /* leap day */
    assert_string_equal(d, "20240229T120000Z");

    char h[65];
    sigv4_sha256_hex(NULL, 0, h);
    assert_string_equal(h, EMPTY_SHA256);
    sigv4_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_post_vanilla),
        cmocka_unit_test(test_suite_get_header_value_trim),
        cmocka_unit_test(test_suite_post_sts_header_before),
        cmocka_unit_test(test_ddb_get_with_token),
        cmocka_unit_test(test_smithy_vectors),
        cmocka_unit_test(test_key_cache),
        cmocka_unit_test(test_key_cache_threads),
        cmocka_unit_test(test_canonical_headers),
        cmocka_unit_test(test_canonical_path_and_query),
        cmocka_unit_test(test_sign_rejects_bad_input),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
