/* parse.h — HTTP/1.x request framing (RFC 9112), pure and in place: the
 * request line and header block, and chunked bodies. No libevent, no
 * allocation; the server (conn.c) feeds it the bytes it has read, and the
 * fuzzer feeds it anything.
 *
 * Errors are HTTP statuses, negated: -400 malformed, -413 body over the
 * limit, -431 header block or count over the limit, -501 a transfer coding
 * other than chunked, -505 a version other than HTTP/1.0 and 1.1. */
#ifndef KEEL_HTTP_PARSE_H
#define KEEL_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { HTTP_PARSE_MORE = 0, HTTP_PARSE_DONE = 1 };

/* A header as offsets into the buffer parsed; both NUL-terminated there,
 * the value without surrounding blanks. */
typedef struct http_header {
    uint32_t name, value;
} http_header_t;

typedef struct http_head {
    uint32_t method, target; /* offsets of NUL-terminated strings */
    int minor;               /* HTTP/1.<minor> */
    http_header_t *headers;  /* caller's array */
    size_t header_cap;       /* its size: more headers is -431 */
    size_t header_count;
    size_t head_len;        /* request line + headers + the empty line */
    int64_t content_length; /* -1: none */
    bool chunked, keep_alive, expect_continue;
} http_head_t;

/** Finds the end of a header block in buf[0..len), starting the search at
 * *scan (kept between calls so each byte is looked at about once). Returns
 * the block's length including its empty line, or 0 when it is not all
 * there yet. Lines may end in CRLF or a bare LF. */
size_t http_head_end(const char *buf, size_t len, size_t *scan);

/** Parses the head buf[0..head_len) (head_len from http_head_end), writing
 * NULs into it. h->headers and h->header_cap must be set. Returns
 * HTTP_PARSE_DONE or a negated status. */
int http_parse_head(char *buf, size_t head_len, http_head_t *h);

/** The value of header `name` (case-insensitive), or NULL. */
const char *http_head_get(const char *buf, const http_head_t *h, const char *name);

/* Chunked body decoding, incremental and in place: the decoded bytes are
 * moved to the start of the body region, ahead of the raw bytes still to
 * decode. Zero-initialise before the first call. */
typedef struct http_chunked {
    int state;
    uint64_t remaining; /* of the current chunk's data */
    size_t in;          /* raw bytes consumed */
    size_t out;         /* decoded bytes so far, at body[0..out) */
    size_t line;        /* length of the size or trailer line so far */
    size_t trailer;     /* trailer bytes so far */
} http_chunked_t;

/** Decodes body[c->in..len). Returns HTTP_PARSE_MORE, HTTP_PARSE_DONE
 * (c->in is then the raw length, c->out the body's), -400 or -413 (over
 * max_body decoded). */
int http_chunked_decode(http_chunked_t *c, char *body, size_t len, size_t max_body);

/** The value of hex digit c (either case), or -1. */
int http_hex_digit(char c);

#endif
