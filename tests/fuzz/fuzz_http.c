/*
 * fuzz_http.c — the HTTP plugin's pure request helpers, on request bytes:
 * routing (route.c), request ids, path decoding (urlpath.c), API keys
 * (auth.c), CORS (cors.c), the body checks run before JSON parsing
 * (jsoncheck.c), conditional-request headers (mime.c), and query strings
 * as http_query_page reads them (evhttp_parse_query_str, limit, cursor),
 * and the request framing (parse.c) on the raw bytes: the end of the head
 * found in one pass or in two must agree, and a chunked body decoded at
 * once or a few bytes at a time must give the same bytes.
 *
 * Byte 0 picks the method and the limits; the rest is split at '\n' into
 * up to four fields (path or header values). Every helper sees the input.
 */
#include "auth.h"
#include "cors.h"
#include "jsoncheck.h"
#include "mime.h"
#include "parse.h"
#include "route.h"
#include "urlpath.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

/* The straightforward reading of RFC 3629, to check utf8_valid against. */
static bool utf8_reference(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n;
        if (s[i] < 0x80)
            n = 0, cp = s[i];
        else if ((s[i] & 0xE0) == 0xC0)
            n = 1, cp = s[i] & 0x1F;
        else if ((s[i] & 0xF0) == 0xE0)
            n = 2, cp = s[i] & 0x0F;
        else if ((s[i] & 0xF8) == 0xF0)
            n = 3, cp = s[i] & 0x07;
        else
            return false;
        if (len - i < n + 1)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* The depth of the JSON text as the old two-pass check read it: a
 * backslash in a string skips the next byte. */
static bool depth_reference(const uint8_t *s, size_t len, int max_depth)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if ((s[i] == '[' || s[i] == '{') && ++depth > max_depth) {
            return false;
        } else if (s[i] == ']' || s[i] == '}') {
            depth--;
        }
    }
    return true;
}

/* json_body_check as three separate passes, in its order. */
static json_check_t json_check_reference(const uint8_t *s, size_t len, int max_depth)
{
    return !utf8_reference(s, len)               ? JSON_CHECK_UTF8
           : memchr(s, 0, len) != NULL           ? JSON_CHECK_NUL
           : !depth_reference(s, len, max_depth) ? JSON_CHECK_DEPTH
                                                 : JSON_CHECK_OK;
}

static void fuzz_path(unsigned method, const char *path)
{
    route_match_t m;
    route_match(method, path, &m);
    if (m.route >= ROUTE_COUNT || strlen(m.param) > ROUTE_PARAM_MAX ||
        strlen(m.param2) > ROUTE_PARAM_MAX || route_name(m.route) == NULL)
        abort();
    char allow[128];
    route_allow_header(m.allowed, allow, sizeof allow);
    route_allow_header(m.allowed, allow, 8);
    sink += strlen(allow) + request_id_valid(path) + route_method_bit(path);

    static const size_t caps[] = {1, 7, 64, 4096};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        char *out = malloc(caps[i]);
        if (out == NULL)
            return;
        int rc = urlpath_decode(path, out, caps[i]);
        if (rc == URLPATH_OK) {
            size_t n = strlen(out);
            if (n >= caps[i] || out[0] != '/' || strstr(out, "/../") != NULL ||
                (n >= 3 && strcmp(out + n - 3, "/..") == 0) || strchr(out, '\\') != NULL)
                abort();
            for (size_t k = 0; k < n; k++)
                if ((unsigned char)out[k] < 0x20 || out[k] == 0x7f)
                    abort();
            sink += strlen(mime_for_path(out));
        } else if (rc != URLPATH_BAD && rc != URLPATH_TRAVERSAL && rc != URLPATH_TOO_LONG) {
            abort();
        }
        free(out);
    }
}

static void fuzz_headers(const char *a, const char *b, const char *c)
{
    static auth_sha256_t *sha; /* one for the fuzzer's whole run */
    if (sha == NULL && (sha = auth_sha256_new()) == NULL)
        abort();
    const char *key = auth_presented_key(a, b);
    if (key != NULL) {
        char hash[AUTH_HASH_HEX + 1];
        auth_sha256_hex(sha, key, strlen(key), hash);
        const char *hashes[] = {hash,
                                "0000000000000000000000000000000000000000000000000000000000000000"};
        if (!auth_hash_valid(hash) || !auth_hash_in(hashes, 2, hash))
            abort();
    }
    if (auth_hash_valid(a))
        sink += auth_hash_equal(a, a) + (auth_hash_valid(b) && auth_hash_equal(a, b));

    const char *origins[] = {"https://shop.example", b, "http://localhost:8080"};
    sink += cors_origin_allowed(origins, 3, a) + cors_origin_allowed(origins, 1, c);
    sink += cors_method_allowed(a, b) + cors_method_allowed("GET, POST, OPTIONS", c);

    time_t t;
    if (http_date_parse(a, &t)) {
        char text[64];
        http_date_format(t, text, sizeof text);
        time_t again;
        if (!http_date_parse(text, &again) || again != t)
            abort();
    }
    char etag[64];
    etag_format(etag, sizeof etag, 42, 1234, 1763793000123456789);
    sink += etag_matches(a, etag) + etag_matches(b, c) + http_not_modified(a, b, etag, 1763793000);
}

/* http_query_page without the exchange: parse, then limit and cursor. */
static void fuzz_query(const char *query)
{
    struct evkeyvalq q = {NULL, &q.tqh_first};
    if (evhttp_parse_query_str(query, &q) != 0)
        return; /* libevent frees what it parsed */
    const char *limit_text = evhttp_find_header(&q, "limit");
    const char *cursor = evhttp_find_header(&q, "cursor");
    if (limit_text != NULL) {
        char *end;
        long limit = strtol(limit_text, &end, 10);
        sink += *limit_text != '\0' && *end == '\0' && limit >= 1 && limit <= 100;
    }
    if (cursor != NULL)
        sink += strlen(cursor);
    evhttp_clear_headers(&q);
}

/* Decodes body[0..len) as chunked, all at once and `step` bytes at a time. */
static void fuzz_chunked(const char *body, size_t len, size_t step, size_t max_body)
{
    char *a = malloc(len + 1), *b = malloc(len + 1);
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return;
    }
    memcpy(a, body, len);
    memcpy(b, body, len);
    http_chunked_t ca = {0}, cb = {0};
    int ra = http_chunked_decode(&ca, a, len, max_body), rb = HTTP_PARSE_MORE;
    for (size_t have = 0; have < len && rb == HTTP_PARSE_MORE;) {
        have = have + step < len ? have + step : len;
        rb = http_chunked_decode(&cb, b, have, max_body);
    }
    if (ra != rb ||
        (ra == HTTP_PARSE_DONE && (ca.in != cb.in || ca.out != cb.out || ca.out > max_body ||
                                   ca.in > len || memcmp(a, b, ca.out) != 0)))
        abort();
    free(a);
    free(b);
}

static void fuzz_framing(const uint8_t *data, size_t size, unsigned knob)
{
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return;
    memcpy(buf, data, size);
    size_t scan = 0, split = size ? knob % (size + 1) : 0;
    size_t end = http_head_end(buf, split, &scan);
    if (end == 0)
        end = http_head_end(buf, size, &scan);
    size_t scan_once = 0;
    if (end != http_head_end(buf, size, &scan_once) || end > size)
        abort();
    http_header_t headers[16];
    http_head_t h = {.headers = headers, .header_cap = 1 + knob % 16};
    if (end > 0 && http_parse_head(buf, end, &h) == HTTP_PARSE_DONE) {
        if (h.method >= end || h.target >= end || h.header_count > h.header_cap ||
            strlen(buf + h.method) == 0 || strlen(buf + h.target) == 0)
            abort();
        for (size_t i = 0; i < h.header_count; i++)
            if (headers[i].name >= end || headers[i].value >= end ||
                http_head_get(buf, &h, buf + headers[i].name) == NULL)
                abort();
        sink += h.chunked + h.keep_alive + h.expect_continue + (size_t)h.content_length;
    }
    size_t body = end > 0 ? end : 0;
    fuzz_chunked(buf + body, size - body, 1 + knob % 7, 64 + knob * 16);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned method = 1U << (data[0] & 7);
    int max_depth = 1 + (data[0] >> 3);
    fuzz_framing(data + 1, size - 1, data[0]);
    data++, size--;

    if (utf8_valid(data, size) != utf8_reference(data, size))
        abort();
    if (json_body_check((const char *)data, size, max_depth) !=
        json_check_reference(data, size, max_depth))
        abort();

    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *field[4] = {"", "", "", ""};
    char *p = text;
    for (int i = 0; i < 4 && p != NULL; i++) {
        field[i] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
    fuzz_path(method, field[0]);
    fuzz_headers(field[1], field[2], field[3]);
    fuzz_query(field[3]);
    free(text);
    return 0;
}
