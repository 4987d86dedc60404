/* server.c — the event loops: one per thread, each with its own
 * SO_REUSEPORT listener (the kernel spreads connections over them), an
 * inbox for queue and store completions, and the stop/drain sequence.
 * Connections themselves are conn.c's.
 *
 * TLS: one SSL_CTX loaded at init; conn.c makes an SSL per connection. */
#include "http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { DRAIN_MS = 3000, DRAIN_POLL_MS = 20, ACCEPT_PAUSE_MS = 100 };

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
    /* conn.c retries writes from a buffer that may move, a part at a time. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
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

void http_pending_free(http_pending_t *p)
{
    if (p->timer)
        event_free(p->timer);
    if (p->free_data)
        p->free_data(p->data);
    http_exchange_free(p->ex); /* only set when never answered */
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
    if (loop->listener != NULL) {
        evconnlistener_free(loop->listener);
        loop->listener = NULL;
    }
    loop->draining = true;
    http_conn_close_all(loop, true);
    loop->drain_deadline_ms = mono_ms() + DRAIN_MS;
    struct timeval tv = tv_ms(DRAIN_POLL_MS);
    event_add(loop->drain_ev, &tv);
    on_drain(-1, 0, loop);
}

/* accept() failed (EMFILE, ENFILE, ENOMEM...): the connection stays in
 * the backlog and would wake the loop at once, so the listener rests for
 * ACCEPT_PAUSE_MS, and says why at most once a second. */
static void on_accept_error(struct evconnlistener *listener, void *arg)
{
    http_loop_t *loop = arg;
    http_server_t *srv = loop->srv;
    int err = EVUTIL_SOCKET_ERROR();
    uint64_t now = mono_ms();
    if (now - loop->accept_error_ms >= 1000) {
        loop->accept_error_ms = now;
        srv->host->log(srv->self, KEEL_LOG_WARN, "accept on %s failed: %s; pausing %d ms",
                       srv->cfg.listen, evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
    }
    evconnlistener_disable(listener);
    struct timeval tv = tv_ms(ACCEPT_PAUSE_MS);
    event_add(loop->accept_ev, &tv);
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    http_loop_t *loop = arg;
    if (loop->listener != NULL)
        evconnlistener_enable(loop->listener);
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
    loop->wake_ev = event_new(loop->base, -1, 0, on_wake, loop);
    loop->stop_ev = event_new(loop->base, -1, 0, on_stop, loop);
    loop->drain_ev = event_new(loop->base, -1, EV_PERSIST, on_drain, loop);
    loop->accept_ev = evtimer_new(loop->base, on_accept_resume, loop);
    if (!loop->wake_ev || !loop->stop_ev || !loop->drain_ev || !loop->accept_ev)
        return KEEL_ENOMEM;
    struct timeval tv_read = tv_ms(cfg->read_timeout_ms), tv_write = tv_ms(cfg->write_timeout_ms),
                   tv_idle = tv_ms(cfg->idle_timeout_ms);
    loop->tv_read = event_base_init_common_timeout(loop->base, &tv_read);
    loop->tv_write = event_base_init_common_timeout(loop->base, &tv_write);
    loop->tv_idle = event_base_init_common_timeout(loop->base, &tv_idle);
    if (!loop->tv_read || !loop->tv_write || !loop->tv_idle)
        return KEEL_ENOMEM;
    loop->listener = evconnlistener_new_bind(
        loop->base, http_conn_accept, loop,
        LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_CLOSE_ON_FREE,
        1024, (const struct sockaddr *)&cfg->addr, (int)cfg->addr_len);
    if (loop->listener == NULL) {
        srv->host->log(srv->self, KEEL_LOG_ERROR, "cannot listen on %s: %s", cfg->listen,
                       evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return KEEL_EIO;
    }
    evconnlistener_set_error_cb(loop->listener, on_accept_error);
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
    http_conn_close_all(loop, false);
    if (loop->listener)
        evconnlistener_free(loop->listener);
    if (loop->wake_ev)
        event_free(loop->wake_ev);
    if (loop->stop_ev)
        event_free(loop->stop_ev);
    if (loop->drain_ev)
        event_free(loop->drain_ev);
    if (loop->accept_ev)
        event_free(loop->accept_ev);
    if (loop->base)
        event_base_free(loop->base);
    pthread_mutex_destroy(&loop->inbox_lock);
}

/* The event loops share the port through SO_REUSEPORT, which would as well
 * let a second keeld (or anything of the same user) bind it silently: the
 * kernel would then split the connections between two daemons. A plain
 * bind first finds anyone already listening there. */
static int check_port_free(http_server_t *srv)
{
    const http_config_t *cfg = &srv->cfg;
    int fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0; /* the listeners' own bind reports the cause */
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is fine */
    int err = bind(fd, (const struct sockaddr *)&cfg->addr, cfg->addr_len) == 0 ? 0 : errno;
    close(fd);
    if (err != EADDRINUSE)
        return 0;
    srv->host->log(srv->self, KEEL_LOG_ERROR,
                   "cannot listen on %s: the address is in use (another keeld, or another "
                   "program, listens there); choose another listen address",
                   cfg->listen);
    return KEEL_EIO;
}

int http_server_start(http_server_t *srv)
{
    int rc = check_port_free(srv);
    if (rc != 0)
        return rc;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    srv->loop_count = srv->cfg.threads > 0 ? (unsigned)srv->cfg.threads
                      : cpus > 0           ? (unsigned)cpus
                                           : 1;
    srv->loops = calloc(srv->loop_count, sizeof *srv->loops);
    if (srv->loops == NULL)
        return KEEL_ENOMEM;
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
