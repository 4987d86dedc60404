/* parse.c — HTTP/1.x request framing, in place (see parse.h). Strict where
 * leniency lets two parsers disagree about where a request ends (folded
 * lines, both Content-Length and Transfer-Encoding, repeated lengths, bare
 * CR, chunked in HTTP/1.0), lenient where it costs nothing (bare LF line
 * ends, an empty line before the request line). */
#include "parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(extra, c) != NULL);
}

size_t http_head_end(const char *buf, size_t len, size_t *scan)
{
    size_t i = *scan;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (nl == NULL) {
            *scan = len;
            return 0;
        }
        size_t p = (size_t)(nl - buf) + 1;
        if (p < len && buf[p] == '\n')
            return p + 1;
        if (p + 1 < len && buf[p] == '\r' && buf[p + 1] == '\n')
            return p + 2;
        if (p >= len || (p + 1 >= len && buf[p] == '\r')) {
            *scan = p - 1; /* look at this line end again with more bytes */
            return 0;
        }
        i = p;
    }
    *scan = i;
    return 0;
}

/* The end of the line starting at i (its '\n'), and where its content ends
 * (before an optional CR). A CR anywhere else is an error (-1). */
static long line_at(const char *buf, size_t head_len, size_t i, size_t *content_end)
{
    const char *nl = memchr(buf + i, '\n', head_len - i);
    if (nl == NULL)
        return -1;
    size_t eol = (size_t)(nl - buf);
    size_t end = eol > i && buf[eol - 1] == '\r' ? eol - 1 : eol;
    if (memchr(buf + i, '\r', end - i) != NULL)
        return -1;
    *content_end = end;
    return (long)eol;
}

/* Case-insensitive search for `token` in a comma-separated list. */
static bool has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - start) == n && strncasecmp(start, token, n) == 0)
            return true;
    }
    return false;
}

/* What a header means for framing and persistence. */
/* What the head's headers said about the connection and the host. */
typedef struct head_seen {
    bool conn_close, conn_keep;
    unsigned hosts;
} head_seen_t;

static int apply_header(const char *name, const char *value, http_head_t *h, head_seen_t *seen)
{
    if (strcasecmp(name, "Host") == 0) {
        seen->hosts++;
    } else if (strcasecmp(name, "Content-Length") == 0) {
        if (h->content_length >= 0 || *value == '\0' || strlen(value) > 18)
            return -400;
        int64_t n = 0;
        for (const char *p = value; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return -400;
            n = n * 10 + (*p - '0');
        }
        h->content_length = n;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        if (h->chunked || h->minor == 0)
            return -400; /* repeated, or in HTTP/1.0: faulty framing (RFC 9112 6.1) */
        if (strcasecmp(value, "chunked") != 0)
            return -501;
        h->chunked = true;
    } else if (strcasecmp(name, "Connection") == 0) {
        seen->conn_close = seen->conn_close || has_token(value, "close");
        seen->conn_keep = seen->conn_keep || has_token(value, "keep-alive");
    } else if (strcasecmp(name, "Expect") == 0) {
        h->expect_continue = strcasecmp(value, "100-continue") == 0;
    }
    return 0;
}

static int parse_request_line(char *buf, size_t i, size_t end, http_head_t *h)
{
    size_t m = i;
    while (i < end && is_tchar((unsigned char)buf[i]))
        i++;
    if (i == m || i - m > 32 || i >= end || buf[i] != ' ')
        return -400;
    buf[i++] = '\0';
    h->method = (uint32_t)m;
    size_t t = i;
    while (i < end && (unsigned char)buf[i] > 0x20 && (unsigned char)buf[i] != 0x7f)
        i++;
    if (i == t || i >= end || buf[i] != ' ')
        return -400;
    buf[i++] = '\0';
    h->target = (uint32_t)t;
    const char *v = buf + i;
    if (end - i != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return -400;
    if (v[5] != '1')
        return -505;
    h->minor = v[7] - '0';
    return 0;
}

int http_parse_head(char *buf, size_t head_len, http_head_t *h)
{
    size_t i = 0, end;
    while (i < head_len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (head_len > UINT32_MAX)
        return -431;
    long eol = line_at(buf, head_len, i, &end);
    int rc;
    if (eol < 0 || (rc = parse_request_line(buf, i, end, h)) < 0)
        return eol < 0 ? -400 : rc;
    h->header_count = 0;
    h->content_length = -1;
    h->chunked = h->expect_continue = false;
    head_seen_t seen = {0};
    for (i = (size_t)eol + 1; i < head_len; i = (size_t)eol + 1) {
        if ((eol = line_at(buf, head_len, i, &end)) < 0)
            return -400;
        if (end == i)
            break; /* the empty line */
        if (buf[i] == ' ' || buf[i] == '\t')
            return -400; /* obsolete line folding */
        size_t n = i;
        while (i < end && is_tchar((unsigned char)buf[i]))
            i++;
        if (i == n || i >= end || buf[i] != ':')
            return -400;
        buf[i++] = '\0';
        while (i < end && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        size_t v = i, e = end;
        while (e > v && (buf[e - 1] == ' ' || buf[e - 1] == '\t'))
            e--;
        for (size_t k = v; k < e; k++) {
            unsigned char c = (unsigned char)buf[k];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return -400;
        }
        buf[e] = '\0';
        if (h->header_count == h->header_cap)
            return -431;
        h->headers[h->header_count++] = (http_header_t){(uint32_t)n, (uint32_t)v};
        if ((rc = apply_header(buf + n, buf + v, h, &seen)) < 0)
            return rc;
    }
    if (h->chunked && h->content_length >= 0)
        return -400; /* both framings: a smuggling attempt */
    if (seen.hosts > 1 || (seen.hosts == 0 && h->minor >= 1))
        return -400; /* RFC 9112 3.2: HTTP/1.1 needs exactly one Host */
    if (h->minor == 0)
        h->expect_continue = false;
    h->keep_alive = !seen.conn_close && (h->minor >= 1 || seen.conn_keep);
    h->head_len = head_len;
    return HTTP_PARSE_DONE;
}

const char *http_head_get(const char *buf, const http_head_t *h, const char *name)
{
    for (size_t i = 0; i < h->header_count; i++)
        if (strcasecmp(buf + h->headers[i].name, name) == 0)
            return buf + h->headers[i].value;
    return NULL;
}

enum { CK_SIZE, CK_SIZE_WS, CK_EXT, CK_DATA, CK_DATA_END, CK_TRAILER };
enum { MAX_CHUNK_EXT = 1024, MAX_TRAILER = 8192, MAX_SIZE_DIGITS = 15 };

int http_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A line end inside the chunk framing: CRLF or LF; returns 1 when the line
 * ended at body[c->in] (consumed), 0 for another byte, -1 for a bare CR. */
static int line_end(http_chunked_t *c, const char *body, bool *cr)
{
    char ch = body[c->in];
    if (*cr) {
        *cr = false;
        if (ch != '\n')
            return -1;
        c->in++;
        return 1;
    }
    if (ch == '\r') {
        *cr = true;
        c->in++;
        return 2; /* wait for the LF */
    }
    if (ch == '\n') {
        c->in++;
        return 1;
    }
    return 0;
}

int http_chunked_decode(http_chunked_t *c, char *body, size_t len, size_t max_body)
{
    bool cr = (c->line & ((size_t)1 << 62)) != 0;
    c->line &= ~((size_t)1 << 62);
    int rc = HTTP_PARSE_MORE;
    while (c->in < len && rc == HTTP_PARSE_MORE) {
        if (c->state == CK_DATA) {
            size_t n = len - c->in;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            memmove(body + c->out, body + c->in, n);
            c->out += n, c->in += n, c->remaining -= n;
            if (c->remaining == 0)
                c->state = CK_DATA_END;
            continue;
        }
        int end = line_end(c, body, &cr);
        if (end < 0)
            return -400;
        if (end == 2)
            continue;
        char ch = body[c->in];
        switch (c->state) {
        case CK_SIZE:
        case CK_SIZE_WS:
        case CK_EXT:
            if (end == 0 && c->state == CK_SIZE && http_hex_digit(ch) >= 0) {
                if (++c->line > MAX_SIZE_DIGITS)
                    return -400;
                c->remaining = c->remaining * 16 + (uint64_t)http_hex_digit(ch);
                c->in++;
            } else if (end == 0) {
                if (c->line == 0 || ++c->trailer > MAX_CHUNK_EXT)
                    return -400; /* no size digits, or a runaway extension */
                /* After the size: blanks, then only ';' opens an extension. */
                if (c->state != CK_EXT) {
                    if (ch == ';')
                        c->state = CK_EXT;
                    else if (ch == ' ' || ch == '\t')
                        c->state = CK_SIZE_WS;
                    else
                        return -400;
                }
                c->in++;
            } else if (c->line == 0) {
                return -400;
            } else {
                c->line = c->trailer = 0;
                if (c->remaining == 0)
                    c->state = CK_TRAILER;
                else if (c->remaining > max_body - c->out)
                    return -413;
                else
                    c->state = CK_DATA;
            }
            break;
        case CK_DATA_END:
            if (end == 0)
                return -400;
            c->state = CK_SIZE;
            break;
        default: /* CK_TRAILER */
            if (end == 0) {
                c->line++, c->in++;
                if (++c->trailer > MAX_TRAILER)
                    return -400;
            } else if (c->line == 0) {
                rc = HTTP_PARSE_DONE;
            } else {
                c->line = 0;
            }
            break;
        }
    }
    if (cr)
        c->line |= (size_t)1 << 62;
    return rc;
}
