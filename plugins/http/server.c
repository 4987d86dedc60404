/* server.c — event loops, listeners and connection tracking.
 *
 * libevent 2.1's evhttp has no accept hook, so connections are tracked
 * through the bufferevent factory (evhttp_set_bevcb): it runs once per
 * accepted connection, just before evhttp wires the bufferevent to its
 * evhttp_connection. We create the bufferevent there and queue an "adopt"
 * event; it runs in the same loop iteration, after evhttp finished
 * setting the connection up and before any read on it, and then finds the
 * evhttp_connection (the bufferevent's callback argument), enforces
 * max_connections and installs a close callback. An evbuffer callback on
 * the input tells when a request starts arriving, so a whole request must
 * arrive within read_timeout (libevent's own timeout is per read, which a
 * client sending one byte a second never trips).
 *
 * With TLS the factory makes an OpenSSL bufferevent (accepting state) on
 * the one SSL_CTX loaded at init. evhttp installs its callbacks on it the
 * same way, so adoption finds the connection as above; the input buffer
 * watched for the read deadline holds decrypted bytes, and the deadline
 * also bounds the handshake. */
#include "http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { DRAIN_MS = 3000, DRAIN_POLL_MS = 20 };

static struct timeval tv_ms(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t conn_bucket(struct evhttp_connection *evcon)
{
    return ((uintptr_t)evcon >> 4) % CONN_BUCKETS;
}

http_conn_t *http_conn_find(http_loop_t *loop, struct evhttp_connection *evcon)
{
    for (http_conn_t *c = loop->conns[conn_bucket(evcon)]; c != NULL; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

static void conn_set_state(http_conn_t *conn, conn_state_t state)
{
    const http_config_t *cfg = &conn->loop->srv->cfg;
    conn->state = state;
    int64_t ms = state == CONN_READING ? cfg->read_timeout_ms
                 : state == CONN_BUSY  ? cfg->write_timeout_ms
                                       : cfg->idle_timeout_ms;
    struct timeval tv = tv_ms(ms);
    evhttp_connection_set_timeout_tv(conn->evcon, &tv);
    if (state == CONN_READING)
        evtimer_add(conn->deadline, &tv);
    else
        evtimer_del(conn->deadline);
}

/* Input arrived: an idle connection starts a new request. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    http_conn_t *conn = arg;
    if (info->n_added > 0 && conn->state == CONN_IDLE)
        conn_set_state(conn, CONN_READING);
}

static void on_request_done(struct evhttp_request *req, void *arg)
{
    http_conn_t *conn = arg;
    if (conn->state == CONN_BUSY) {
        conn->loop->busy--;
        conn_set_state(conn, CONN_IDLE);
    }
}

void http_conn_busy(http_conn_t *conn, struct evhttp_request *req)
{
    if (conn == NULL)
        return;
    conn->loop->busy++;
    conn_set_state(conn, CONN_BUSY);
    evhttp_request_set_on_complete_cb(req, on_request_done, conn);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    http_conn_t *conn = arg;
    http_loop_t *loop = conn->loop;
    http_server_t *srv = loop->srv;
    if (conn->state == CONN_BUSY)
        loop->busy--;
    evbuffer_remove_cb(bufferevent_get_input(conn->bev), on_input, conn);
    http_conn_t **link = &loop->conns[conn_bucket(evcon)];
    while (*link != NULL && *link != conn)
        link = &(*link)->next;
    if (*link == conn)
        *link = conn->next;
    event_free(conn->deadline);
    free(conn);
    long open = atomic_fetch_sub(&srv->connections, 1) - 1;
    srv->host->metric_set(srv->metrics.connections, (double)open);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    http_conn_t *conn = arg;
    http_server_t *srv = conn->loop->srv;
    http_reject(srv, REJECT_READ_TIMEOUT);
    srv->host->log(srv->self, KEEL_LOG_INFO,
                   "closing connection from %s: request not received within read_timeout",
                   conn->peer);
    evhttp_connection_free(conn->evcon); /* runs on_close */
}

/* Logs "tls.WHAT: 'file': reason" from OpenSSL's error queue. */
static int tls_fail(http_server_t *srv, const char *what, const char *file)
{
    char reason[256] = "unknown error";
    unsigned long err = ERR_get_error();
    if (err != 0)
        ERR_error_string_n(err, reason, sizeof reason);
    ERR_clear_error();
    srv->host->log(srv->self, KEEL_LOG_ERROR, "tls.%s: '%s': %s", what, file, reason);
    return KEEL_EINVAL;
}

int http_tls_init(http_server_t *srv)
{
    const http_config_t *cfg = &srv->cfg;
    if (cfg->tls_cert == NULL)
        return 0;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return tls_fail(srv, "cert", cfg->tls_cert);
    srv->ssl_ctx = ctx;
    if (!SSL_CTX_set_min_proto_version(ctx, cfg->tls_13_only ? TLS1_3_VERSION : TLS1_2_VERSION))
        return tls_fail(srv, "min_version", cfg->tls_13_only ? "1.3" : "1.2");
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
        return tls_fail(srv, "cert", cfg->tls_cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
        return tls_fail(srv, "key", cfg->tls_key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return tls_fail(srv, "key", cfg->tls_key);
    return 0;
}

void http_tls_free(http_server_t *srv)
{
    SSL_CTX_free(srv->ssl_ctx);
    srv->ssl_ctx = NULL;
}

static struct bufferevent *new_bev(http_server_t *srv, struct event_base *base)
{
    if (srv->ssl_ctx == NULL)
        return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    SSL *ssl = SSL_new(srv->ssl_ctx);
    /* On failure with BEV_OPT_CLOSE_ON_FREE, libevent frees ssl itself. */
    struct bufferevent *bev =
        ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE)
            : NULL;
    if (bev != NULL) {
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        return bev;
    }
    /* Out of memory. Returning NULL would make evhttp serve plain HTTP on
     * the TLS port: give it a socket bufferevent whose input is frozen
     * instead, so the first read fails and evhttp closes the connection. */
    ERR_clear_error();
    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev != NULL)
        evbuffer_freeze(bufferevent_get_input(bev), 0);
    return bev;
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    http_loop_t *loop = arg;
    struct bufferevent *bev = new_bev(loop->srv, base);
    http_conn_t *conn = bev ? calloc(1, sizeof *conn) : NULL;
    if (conn == NULL)
        return bev; /* untracked; still served */
    conn->loop = loop;
    conn->bev = bev;
    conn->next = loop->adopt_list;
    loop->adopt_list = conn;
    event_active(loop->adopt_ev, EV_TIMEOUT, 0);
    return bev;
}

static void adopt_one(http_loop_t *loop, http_conn_t *conn)
{
    http_server_t *srv = loop->srv;
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *cbarg = NULL;
    bufferevent_getcb(conn->bev, &rcb, &wcb, &ecb, &cbarg);
    conn->evcon = cbarg;
    conn->deadline = conn->evcon ? evtimer_new(loop->base, on_deadline, conn) : NULL;
    if (conn->deadline == NULL) {
        free(conn);
        return;
    }
    long open = atomic_fetch_add(&srv->connections, 1) + 1;
    conn->next = loop->conns[conn_bucket(conn->evcon)];
    loop->conns[conn_bucket(conn->evcon)] = conn;
    evhttp_connection_set_closecb(conn->evcon, on_close, conn);
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn->evcon, &addr, &port);
    snprintf(conn->peer, sizeof conn->peer, "%s", addr ? addr : "?");
    if (open > srv->cfg.max_connections || loop->draining) {
        http_reject(srv, REJECT_MAX_CONNECTIONS);
        evhttp_connection_free(conn->evcon);
        return;
    }
    srv->host->metric_set(srv->metrics.connections, (double)open);
    evbuffer_add_cb(bufferevent_get_input(conn->bev), on_input, conn);
    conn_set_state(conn, CONN_READING);
}

static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    http_loop_t *loop = arg;
    http_conn_t *list = loop->adopt_list;
    loop->adopt_list = NULL;
    while (list != NULL) {
        http_conn_t *next = list->next;
        list->next = NULL;
        adopt_one(loop, list);
        list = next;
    }
}

void http_pending_free(http_pending_t *p)
{
    if (p->timer)
        event_free(p->timer);
    if (p->free_data)
        p->free_data(p->data);
    free(p->ex); /* only set when never answered */
    free(p);
}

void http_pending_post(http_pending_t *p)
{
    http_loop_t *loop = p->loop;
    http_server_t *srv = loop->srv;
    pthread_mutex_lock(&loop->inbox_lock);
    bool closed = loop->closed;
    if (!closed) {
        p->next = loop->inbox;
        loop->inbox = p;
        event_active(loop->wake_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&loop->inbox_lock);
    if (closed) /* the loop no longer runs (its base lives until destroy) */
        http_pending_free(p);
    atomic_fetch_sub(&srv->outstanding, 1);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    http_loop_t *loop = arg;
    pthread_mutex_lock(&loop->inbox_lock);
    http_pending_t *list = loop->inbox;
    loop->inbox = NULL;
    pthread_mutex_unlock(&loop->inbox_lock);
    while (list != NULL) {
        http_pending_t *next = list->next;
        list->finish(list);
        list = next;
    }
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    http_loop_t *loop = arg;
    if (loop->busy == 0 || mono_ms() >= loop->drain_deadline_ms)
        event_base_loopbreak(loop->base);
}

/* Loop thread: stop accepting, then let in-flight responses finish. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    http_loop_t *loop = arg;
    if (loop->bound != NULL) {
        evhttp_del_accept_socket(loop->http, loop->bound);
        loop->bound = NULL;
    }
    loop->draining = true;
    loop->drain_deadline_ms = mono_ms() + DRAIN_MS;
    struct timeval tv = tv_ms(DRAIN_POLL_MS);
    event_add(loop->drain_ev, &tv);
    on_drain(-1, 0, loop);
}

static void *loop_main(void *arg)
{
    http_loop_t *loop = arg;
    event_base_dispatch(loop->base);
    return NULL;
}

static int loop_init(http_server_t *srv, http_loop_t *loop)
{
    const http_config_t *cfg = &srv->cfg;
    loop->srv = srv;
    pthread_mutex_init(&loop->inbox_lock, NULL);
    loop->base = event_base_new();
    if (loop->base == NULL)
        return KEEL_ENOMEM;
    loop->http = evhttp_new(loop->base);
    loop->adopt_ev = event_new(loop->base, -1, 0, on_adopt, loop);
    loop->wake_ev = event_new(loop->base, -1, 0, on_wake, loop);
    loop->stop_ev = event_new(loop->base, -1, 0, on_stop, loop);
    loop->drain_ev = event_new(loop->base, -1, EV_PERSIST, on_drain, loop);
    if (loop->http == NULL || !loop->adopt_ev || !loop->wake_ev || !loop->stop_ev ||
        !loop->drain_ev)
        return KEEL_ENOMEM;
    evhttp_set_max_body_size(loop->http, (ev_ssize_t)cfg->max_body);
    evhttp_set_max_headers_size(loop->http, (ev_ssize_t)cfg->max_header_bytes);
    struct timeval tv = tv_ms(cfg->read_timeout_ms);
    evhttp_set_timeout_tv(loop->http, &tv);
    evhttp_set_allowed_methods(loop->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                               EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(loop->http, "application/json");
    evhttp_set_bevcb(loop->http, make_bev, loop);
    evhttp_set_gencb(loop->http, http_handle, loop);
    struct evconnlistener *listener = evconnlistener_new_bind(
        loop->base, NULL, NULL,
        LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_CLOSE_ON_FREE,
        1024, (const struct sockaddr *)&cfg->addr, (int)cfg->addr_len);
    if (listener == NULL) {
        srv->host->log(srv->self, KEEL_LOG_ERROR, "cannot listen on %s: %s", cfg->listen,
                       evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return KEEL_EIO;
    }
    loop->bound = evhttp_bind_listener(loop->http, listener);
    if (loop->bound == NULL) {
        evconnlistener_free(listener);
        return KEEL_ENOMEM;
    }
    return 0;
}

static void loop_free(http_loop_t *loop)
{
    pthread_mutex_lock(&loop->inbox_lock);
    loop->closed = true;
    http_pending_t *inbox = loop->inbox;
    loop->inbox = NULL;
    pthread_mutex_unlock(&loop->inbox_lock);
    for (http_pending_t *p = inbox, *next; p != NULL; p = next) {
        next = p->next;
        http_pending_free(p);
    }
    if (loop->http)
        evhttp_free(loop->http); /* closes connections: on_close frees them */
    for (http_conn_t *c = loop->adopt_list, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    if (loop->adopt_ev)
        event_free(loop->adopt_ev);
    if (loop->wake_ev)
        event_free(loop->wake_ev);
    if (loop->stop_ev)
        event_free(loop->stop_ev);
    if (loop->drain_ev)
        event_free(loop->drain_ev);
    if (loop->base)
        event_base_free(loop->base);
    pthread_mutex_destroy(&loop->inbox_lock);
}

int http_server_start(http_server_t *srv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    srv->loop_count = srv->cfg.threads > 0 ? (unsigned)srv->cfg.threads
                      : cpus > 0           ? (unsigned)cpus
                                           : 1;
    srv->loops = calloc(srv->loop_count, sizeof *srv->loops);
    if (srv->loops == NULL)
        return KEEL_ENOMEM;
    int rc = 0;
    for (unsigned i = 0; i < srv->loop_count && rc == 0; i++) {
        srv->loops[i].index = i;
        rc = loop_init(srv, &srv->loops[i]);
    }
    for (unsigned i = 0; i < srv->loop_count && rc == 0; i++) {
        if (pthread_create(&srv->loops[i].thread, NULL, loop_main, &srv->loops[i]) != 0)
            rc = KEEL_ENOMEM;
        else
            srv->loops[i].thread_started = true;
    }
    if (rc != 0) {
        http_server_stop(srv);
        return rc;
    }
    srv->host->log(srv->self, KEEL_LOG_INFO, "listening on %s://%s with %u event loops",
                   srv->ssl_ctx ? "https" : "http", srv->cfg.listen, srv->loop_count);
    return 0;
}

void http_server_stop(http_server_t *srv)
{
    if (srv->loops == NULL)
        return;
    for (unsigned i = 0; i < srv->loop_count; i++)
        if (srv->loops[i].thread_started)
            event_active(srv->loops[i].stop_ev, EV_TIMEOUT, 0);
    for (unsigned i = 0; i < srv->loop_count; i++) {
        if (srv->loops[i].thread_started)
            pthread_join(srv->loops[i].thread, NULL);
        srv->loops[i].thread_started = false;
    }
    /* Queue calls still running answer nobody: their loop is closed. */
    for (unsigned i = 0; i < srv->loop_count; i++) {
        http_loop_t *loop = &srv->loops[i];
        pthread_mutex_lock(&loop->inbox_lock);
        loop->closed = true;
        pthread_mutex_unlock(&loop->inbox_lock);
    }
}

void http_server_free(http_server_t *srv)
{
    if (srv->loops == NULL)
        return;
    /* The queue instance stopped after us: its callbacks have run. Wait a
     * little in case one is still finishing, and leak rather than free
     * memory a late callback would touch. */
    for (int i = 0; i < 500 && atomic_load(&srv->outstanding) > 0; i++)
        usleep(10000);
    if (atomic_load(&srv->outstanding) > 0) {
        srv->host->log(srv->self, KEEL_LOG_ERROR,
                       "%ld queue or store calls never completed; leaking the server",
                       atomic_load(&srv->outstanding));
        return;
    }
    for (unsigned i = 0; i < srv->loop_count; i++)
        loop_free(&srv->loops[i]);
    free(srv->loops);
    srv->loops = NULL;
}
