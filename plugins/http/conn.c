/* conn.c — HTTP/1.1 connections, on their loop's thread.
 *
 * Each connection reads into one buffer (`in`) that holds the current
 * request from its first byte; parse.c frames it in place (head, then a
 * Content-Length or chunked body) and the exchange handed to request.c
 * points into it. While a handler holds the exchange the buffer neither
 * moves nor grows; bytes that arrive meanwhile (a pipelined request) wait
 * behind it, and reading pauses when it is full. Requests on a connection
 * are answered in order, one at a time.
 *
 * Answers are written at once: one writev() of head and body on a plain
 * socket (the common case needs no EV_WRITE and no copy); what the socket
 * does not take waits in `out` for EV_WRITE. With TLS the same paths go
 * through SSL_read/SSL_write on a non-blocking SSL (handshake included),
 * with OpenSSL's "wants read/write" turned into the other event.
 *
 * One timer per connection: read_timeout from a request's first byte until
 * it is complete (a client sending a byte a second is cut off), the write
 * timeout while an answer waits for the socket, idle_timeout between
 * requests. A connection is freed only when no handler holds its exchange
 * and conn_process is not on the stack; until then a closed one keeps
 * fd == -1. */
#include "http.h"
#include "mime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { PHASE_HEAD, PHASE_BODY, PHASE_CHUNKED };
enum { IN_INITIAL = 4096, IN_KEEP = 65536, TLS_CHUNK = 16384, HEAD_STACK = 2048, LINGER_S = 2 };

static void conn_process(http_conn_t *c);
static void conn_flush(http_conn_t *c);

static void conn_arm(http_conn_t *c, conn_state_t state)
{
    c->state = state;
    const struct timeval *tv = state == CONN_READING ? c->loop->tv_read
                               : state == CONN_IDLE  ? c->loop->tv_idle
                                                     : NULL;
    if (tv != NULL)
        evtimer_add(c->timer, tv);
    else
        evtimer_del(c->timer);
}

static void set_reading(http_conn_t *c, bool on)
{
    if (on && !c->reading)
        event_add(c->rev, NULL);
    else if (!on && c->reading)
        event_del(c->rev);
    c->reading = on;
    /* Bytes OpenSSL already decrypted (a record larger than our room)
     * never show on the socket again: have on_read take them. */
    if (on && c->ssl != NULL && SSL_pending(c->ssl) > 0)
        event_active(c->rev, EV_READ, 0);
}

static void set_writing(http_conn_t *c, bool on)
{
    if (on && !c->writing)
        event_add(c->wev, NULL);
    else if (!on && c->writing)
        event_del(c->wev);
    c->writing = on;
}

static void conn_free(http_conn_t *c)
{
    http_loop_t *loop = c->loop;
    http_server_t *srv = loop->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        loop->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->out != NULL)
        evbuffer_free(c->out);
    free(c->in);
    free(c);
    long open = atomic_fetch_sub(&srv->connections, 1) - 1;
    srv->host->metric_set(srv->metrics.connections, (double)open);
}

/* A clean TLS close sends close_notify, so that the client can tell the
 * end from a truncation: once, one try, never waited on (everything before
 * it was written). */
static void tls_close_notify(http_conn_t *c)
{
    if (c->tls_failed || c->tls_notified || !SSL_is_init_finished(c->ssl))
        return;
    c->tls_notified = true;
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    ERR_clear_error();
}

/* Closes the socket now; frees the connection when nothing holds it. */
static void conn_close(http_conn_t *c)
{
    if (c->fd >= 0) {
        if (c->in_request) {
            c->in_request = false;
            c->loop->busy--;
        }
        event_free(c->rev);
        event_free(c->wev);
        event_free(c->timer);
        c->rev = c->wev = c->timer = NULL;
        c->reading = c->writing = false;
        if (c->ssl != NULL) {
            tls_close_notify(c);
            SSL_free(c->ssl);
            c->ssl = NULL;
        }
        close(c->fd);
        c->fd = -1;
    }
    if (!c->handling && !c->processing)
        conn_free(c);
}

/* How far `in` may grow for the current phase. */
static size_t in_limit(const http_conn_t *c)
{
    const http_config_t *cfg = &c->loop->srv->cfg;
    switch (c->phase) {
    case PHASE_HEAD:
        return (size_t)cfg->max_header_bytes;
    case PHASE_BODY:
        return c->head.head_len + (size_t)c->head.content_length;
    default: /* chunk framing on top of the body: generous, still bounded */
        return c->head.head_len + 2 * (size_t)cfg->max_body + 65536;
    }
}

/* Makes room for at least `want` bytes in all; false when not allowed. */
static bool in_reserve(http_conn_t *c, size_t want)
{
    if (want <= c->in_cap)
        return true;
    if (c->in_request) /* a handler points into `in` */
        return false;
    size_t cap = c->in_cap ? c->in_cap : IN_INITIAL;
    while (cap < want)
        cap *= 2;
    char *in = realloc(c->in, cap);
    if (in == NULL)
        return false;
    c->in = in;
    c->in_cap = cap;
    return true;
}

/* One read: >0 bytes, 0 at EOF, -EAGAIN to wait, -EIO on an error. */
static ssize_t conn_recv(http_conn_t *c, char *p, size_t n)
{
    if (c->ssl == NULL) {
        ssize_t r;
        do
            r = read(c->fd, p, n);
        while (r < 0 && errno == EINTR);
        if (r >= 0)
            return r;
        return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -EIO;
    }
    ERR_clear_error();
    int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0)
        return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->tls_rw = true;
        set_writing(c, true);
        set_reading(c, false); /* on_write resumes it */
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        c->tls_failed = true;
        return -EIO;
    }
}

/* Reads what there is room for; EOF and errors set peer_eof. */
static void conn_fill(http_conn_t *c)
{
    while (c->fd >= 0 && !c->peer_eof) {
        if (c->in_len == c->in_cap) {
            size_t limit = in_limit(c);
            size_t want = c->in_cap ? c->in_cap * 2 : IN_INITIAL;
            if (want > limit)
                want = limit;
            if (c->in_len >= want || !in_reserve(c, want)) {
                set_reading(c, false); /* full: conn_process decides */
                return;
            }
        }
        size_t room = c->in_cap - c->in_len;
        ssize_t n = conn_recv(c, c->in + c->in_len, room);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            c->peer_eof = true;
            set_reading(c, false);
            return;
        }
        c->in_len += (size_t)n;
        if (c->ssl == NULL && (size_t)n < room)
            return; /* level-triggered: more will wake us */
    }
}

/* Queues bytes behind what is pending and writes what the socket takes. */
static void conn_write(http_conn_t *c, const char *a, size_t alen, const void *b, size_t blen)
{
    if (c->fd < 0)
        return;
    size_t done = 0;
    if (c->ssl == NULL && evbuffer_get_length(c->out) == 0) {
        struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
        ssize_t n;
        do
            n = writev(c->fd, iov, blen > 0 ? 2 : 1);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_close(c);
            return;
        }
        done = n > 0 ? (size_t)n : 0;
        if (done == alen + blen) {
            conn_flush(c);
            return;
        }
    }
    int rc = 0;
    if (done < alen) {
        rc = evbuffer_add(c->out, a + done, alen - done);
        done = 0;
    } else {
        done -= alen;
    }
    if (rc == 0 && blen > done)
        rc = evbuffer_add(c->out, (const char *)b + done, blen - done);
    if (rc != 0) {
        conn_close(c); /* out of memory: a cut answer must not look whole */
        return;
    }
    conn_flush(c);
}

static void conn_complete(http_conn_t *c);

/* Writes `out`; when it is empty and the answer is complete, the request is. */
static void conn_flush(http_conn_t *c)
{
    while (c->fd >= 0 && evbuffer_get_length(c->out) > 0) {
        if (c->ssl == NULL) {
            int n = evbuffer_write(c->out, c->fd);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                conn_close(c);
                return;
            }
            if (n <= 0)
                break;
            continue;
        }
        size_t len = evbuffer_get_length(c->out);
        if (len > TLS_CHUNK)
            len = TLS_CHUNK;
        unsigned char *p = evbuffer_pullup(c->out, (ev_ssize_t)len);
        ERR_clear_error();
        int n = p ? SSL_write(c->ssl, p, (int)len) : -1;
        if (n > 0) {
            evbuffer_drain(c->out, (size_t)n);
            continue;
        }
        int err = p ? SSL_get_error(c->ssl, n) : SSL_ERROR_SSL;
        if (err == SSL_ERROR_WANT_WRITE)
            break;
        if (err == SSL_ERROR_WANT_READ && !c->peer_eof) {
            c->tls_wr = true;
            set_reading(c, true);
            break;
        }
        ERR_clear_error();
        c->tls_failed = true;
        conn_close(c);
        return;
    }
    if (c->fd < 0)
        return;
    bool pending = evbuffer_get_length(c->out) > 0;
    set_writing(c, (pending && !c->tls_wr) || c->tls_rw);
    if (pending) {
        evtimer_add(c->timer, c->loop->tv_write); /* restarted by each write */
        return;
    }
    if (c->in_request && c->responded && !c->handling)
        conn_complete(c);
}

/* The answer is written: the next request may start. */
static void conn_complete(http_conn_t *c)
{
    c->in_request = false;
    c->loop->busy--;
    if (c->close_after && c->linger && (c->ssl == NULL || !c->tls_failed)) {
        /* The client may still be sending what we refused (a body over the
         * limit): closing now would reset the connection and could destroy
         * our answer before it is read. End our side (after close_notify
         * over TLS), then read and drop for a while: TLS records unread,
         * as nothing more is answered. */
        if (c->ssl != NULL)
            tls_close_notify(c);
        if (shutdown(c->fd, SHUT_WR) != 0) {
            conn_close(c);
            return;
        }
        c->lingering = true;
        c->in_len = 0; /* what was read of the refused request goes too */
        c->state = CONN_IDLE;
        struct timeval tv = {.tv_sec = LINGER_S};
        evtimer_add(c->timer, &tv);
        set_reading(c, true);
        return;
    }
    if (c->close_after) {
        conn_close(c);
        return;
    }
    size_t rest = c->in_len - c->req_end;
    memmove(c->in, c->in + c->req_end, rest);
    c->in_len = rest;
    if (c->in_cap > IN_KEEP && rest <= IN_INITIAL) {
        char *in = realloc(c->in, IN_INITIAL);
        if (in != NULL) {
            c->in = in;
            c->in_cap = IN_INITIAL;
        }
    }
    c->phase = PHASE_HEAD;
    c->scan = 0;
    c->req_end = 0;
    c->sent_continue = false;
    conn_arm(c, rest > 0 ? CONN_READING : CONN_IDLE);
    if (!c->peer_eof && !c->tls_rw)
        set_reading(c, true);
    conn_process(c);
}

/* Frames the request at in[0]: HTTP_PARSE_MORE, HTTP_PARSE_DONE (body at
 * in[head_len], req_end set) or a negated status. */
static int conn_frame(http_conn_t *c, size_t *body_len)
{
    const http_config_t *cfg = &c->loop->srv->cfg;
    if (c->phase == PHASE_HEAD) {
        size_t end = http_head_end(c->in, c->in_len, &c->scan);
        if (end == 0)
            return c->in_len >= (size_t)cfg->max_header_bytes ? -431 : HTTP_PARSE_MORE;
        if (end > (size_t)cfg->max_header_bytes)
            return -431;
        c->head.headers = c->headers;
        c->head.header_cap = (size_t)cfg->max_headers;
        int rc = http_parse_head(c->in, end, &c->head);
        if (rc < 0)
            return rc;
        if (c->head.content_length > cfg->max_body)
            return -413;
        c->phase = c->head.chunked ? PHASE_CHUNKED : PHASE_BODY;
        memset(&c->chunked, 0, sizeof c->chunked);
    }
    size_t head_len = c->head.head_len;
    if (c->phase == PHASE_BODY) {
        size_t need = head_len + (size_t)(c->head.content_length > 0 ? c->head.content_length : 0);
        if (c->in_len < need)
            return in_reserve(c, need) ? HTTP_PARSE_MORE : -500;
        c->req_end = need;
        *body_len = need - head_len;
        return HTTP_PARSE_DONE;
    }
    int rc = http_chunked_decode(&c->chunked, c->in + head_len, c->in_len - head_len,
                                 (size_t)cfg->max_body);
    if (rc == HTTP_PARSE_MORE && c->in_len >= in_limit(c))
        return -413;
    if (rc != HTTP_PARSE_DONE)
        return rc;
    c->req_end = head_len + c->chunked.in;
    *body_len = c->chunked.out;
    return HTTP_PARSE_DONE;
}

/* Hands the framed request (or a framing error) to request.c. */
static void conn_dispatch(http_conn_t *c, int error, size_t body_len)
{
    http_exchange_t *ex = calloc(1, sizeof *ex);
    if (ex == NULL) {
        conn_close(c);
        return;
    }
    ex->loop = c->loop;
    ex->conn = c;
    ex->buf = c->in;
    ex->out_headers = ex->out_inline;
    ex->out_cap = sizeof ex->out_inline;
    c->in_request = c->handling = true;
    c->responded = false;
    c->loop->busy++;
    conn_arm(c, CONN_BUSY);
    if (error != 0) {
        c->close_after = c->linger = true; /* the framing is lost */
        c->req_end = c->in_len;
        http_handle_error(ex, error);
        return;
    }
    ex->head = &c->head;
    ex->body = c->in + c->head.head_len;
    ex->body_len = body_len;
    if (!c->head.keep_alive)
        c->close_after = true;
    http_handle(ex);
}

/* Frames and dispatches buffered requests, one at a time. */
static void conn_process(http_conn_t *c)
{
    if (c->processing)
        return; /* the caller's loop goes on */
    c->processing = true;
    while (c->fd >= 0 && !c->in_request && !c->lingering) {
        if (c->in_len == 0) {
            if (c->peer_eof)
                conn_close(c);
            break;
        }
        size_t body_len = 0;
        int rc = conn_frame(c, &body_len);
        if (rc == HTTP_PARSE_MORE) {
            if (c->peer_eof) {
                conn_close(c); /* a truncated request: nobody to answer */
                break;
            }
            if (c->state == CONN_IDLE)
                conn_arm(c, CONN_READING);
            if (c->phase != PHASE_HEAD && c->head.expect_continue && !c->sent_continue) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                c->sent_continue = true;
                conn_write(c, cont, sizeof cont - 1, NULL, 0);
            }
            if (c->fd >= 0 && !c->reading && c->in_len < in_limit(c))
                set_reading(c, true);
            break;
        }
        conn_dispatch(c, rc < 0 ? -rc : 0, body_len);
    }
    c->processing = false;
    if (c->fd < 0 && !c->handling)
        conn_free(c);
}

/* A lingering close: drops what the client still sends until it closes
 * or the timer ends it. */
static void linger_drain(http_conn_t *c)
{
    char sink[16384];
    ssize_t n;
    do
        n = read(c->fd, sink, sizeof sink);
    while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        conn_close(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    http_conn_t *c = arg;
    if (c->lingering) {
        linger_drain(c);
        return;
    }
    if (c->tls_wr) {
        c->tls_wr = false;
        c->processing = true; /* conn_flush may close: keep c until below */
        conn_flush(c);
        c->processing = false;
        if (c->fd < 0) {
            if (!c->handling)
                conn_free(c);
            return;
        }
    }
    conn_fill(c);
    conn_process(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    http_conn_t *c = arg;
    if (c->tls_rw) {
        c->tls_rw = false;
        set_writing(c, evbuffer_get_length(c->out) > 0 && !c->tls_wr);
        set_reading(c, !c->peer_eof);
        conn_fill(c);
        conn_process(c); /* may free c */
        return;
    }
    conn_flush(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    http_conn_t *c = arg;
    http_server_t *srv = c->loop->srv;
    if (c->state == CONN_READING) {
        http_reject(srv, REJECT_READ_TIMEOUT);
        srv->host->log(srv->self, KEEL_LOG_INFO,
                       "closing connection from %s: request not received within read_timeout",
                       c->peer);
    } else if (c->state == CONN_BUSY) {
        srv->host->log(srv->self, KEEL_LOG_INFO,
                       "closing connection from %s: answer not taken within write_timeout",
                       c->peer);
    }
    conn_close(c);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* Appenders for the answer head (the caller sized the buffer). */
static char *put_text(char *at, const char *s)
{
    size_t n = strlen(s);
    memcpy(at, s, n);
    return at + n;
}

static char *put_uint(char *at, uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        *at++ = digits[--n];
    return at;
}

static const char *loop_date(http_loop_t *loop)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != loop->date_at) {
        http_date_format(ts.tv_sec, loop->date, sizeof loop->date);
        loop->date_at = ts.tv_sec;
    }
    return loop->date;
}

void http_conn_send(http_exchange_t *ex, int status, const void *body, size_t len,
                    struct evbuffer *evbody, const char *type)
{
    http_conn_t *c = ex->conn;
    if (c == NULL || c->fd < 0)
        return;
    c->responded = true;
    if (c->loop->draining)
        c->close_after = true;
    bool bodyless = status < 200 || status == 204 || status == 304;
    size_t need = 256 + (type ? strlen(type) : 0) + ex->out_len;
    char stack[HEAD_STACK];
    char *head = need <= sizeof stack ? stack : malloc(need);
    if (head == NULL) {
        conn_close(c);
        return;
    }
    char *at = head;
    at = put_text(at, "HTTP/1.1 ");
    at = put_uint(at, (unsigned)status);
    *at++ = ' ';
    at = put_text(at, reason_phrase(status));
    at = put_text(at, "\r\nDate: ");
    at = put_text(at, loop_date(c->loop));
    at = put_text(at, "\r\n");
    if (type != NULL) {
        at = put_text(at, "Content-Type: ");
        at = put_text(at, type);
        at = put_text(at, "\r\n");
    }
    if (!bodyless && !ex->has_length) {
        at = put_text(at, "Content-Length: ");
        at = put_uint(at, len);
        at = put_text(at, "\r\n");
    }
    memcpy(at, ex->out_headers, ex->out_len);
    at += ex->out_len;
    if (c->close_after)
        at = put_text(at, "Connection: close\r\n");
    else if (c->head.minor == 0)
        at = put_text(at, "Connection: keep-alive\r\n");
    at = put_text(at, "\r\n");
    size_t n = (size_t)(at - head);
    bool no_body = bodyless || ex->method == HTTP_M_HEAD;
    if (evbody != NULL && !no_body) {
        if (evbuffer_add(c->out, head, n) == 0 && evbuffer_add_buffer(c->out, evbody) == 0)
            conn_flush(c);
        else
            conn_close(c);
    } else {
        conn_write(c, head, n, no_body ? NULL : body, no_body ? 0 : len);
    }
    if (head != stack)
        free(head);
}

void http_conn_answered(http_conn_t *c)
{
    c->handling = false;
    if (c->fd < 0) {
        if (!c->processing)
            conn_free(c);
        return;
    }
    if (!c->responded) { /* a handler gave up without answering */
        conn_close(c);
        return;
    }
    if (evbuffer_get_length(c->out) == 0 && c->in_request)
        conn_complete(c);
}

void http_conn_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int addr_len, void *arg)
{
    http_loop_t *loop = arg;
    http_server_t *srv = loop->srv;
    const http_config_t *cfg = &srv->cfg;
    long open = atomic_fetch_add(&srv->connections, 1) + 1;
    http_conn_t *c = NULL;
    if (open > cfg->max_connections || loop->draining) {
        http_reject(srv, REJECT_MAX_CONNECTIONS);
        goto refuse;
    }
    c = calloc(1, sizeof *c + (size_t)cfg->max_headers * sizeof(http_header_t));
    if (c == NULL)
        goto refuse;
    c->loop = loop;
    c->fd = fd;
    c->out = evbuffer_new();
    c->rev = event_new(loop->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(loop->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    c->timer = evtimer_new(loop->base, on_timer, c);
    if (srv->ssl_ctx != NULL && (c->ssl = SSL_new(srv->ssl_ctx)) != NULL) {
        SSL_set_fd(c->ssl, fd);
        SSL_set_accept_state(c->ssl);
    }
    if (c->out == NULL || c->rev == NULL || c->wev == NULL || c->timer == NULL ||
        (srv->ssl_ctx != NULL && c->ssl == NULL)) {
        ERR_clear_error();
        if (c->out)
            evbuffer_free(c->out);
        if (c->rev)
            event_free(c->rev);
        if (c->wev)
            event_free(c->wev);
        if (c->timer)
            event_free(c->timer);
        SSL_free(c->ssl);
        free(c);
        goto refuse;
    }
    const void *ip = addr->sa_family == AF_INET6
                         ? (const void *)&((struct sockaddr_in6 *)addr)->sin6_addr
                         : (const void *)&((struct sockaddr_in *)addr)->sin_addr;
    if (addr_len <= 0 || inet_ntop(addr->sa_family, ip, c->peer, sizeof c->peer) == NULL)
        snprintf(c->peer, sizeof c->peer, "?");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->next = loop->conns;
    if (loop->conns != NULL)
        loop->conns->prev = c;
    loop->conns = c;
    srv->host->metric_set(srv->metrics.connections, (double)open);
    set_reading(c, true);
    conn_arm(c, CONN_READING);
    return;
refuse:
    atomic_fetch_sub(&srv->connections, 1);
    close(fd);
}

void http_conn_close_all(http_loop_t *loop, bool idle_only)
{
    for (http_conn_t *c = loop->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (idle_only && c->in_request)
            continue;
        if (!idle_only)
            c->handling = c->processing = false; /* the loop is gone: nobody answers */
        conn_close(c);
    }
}
