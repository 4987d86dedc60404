/* http.h — internal types of the `http` plugin (the HTTP ingress).
 *
 * Threads: N event-loop threads, each with its own event_base and
 * SO_REUSEPORT listener. A connection lives on the loop that accepted it
 * and its requests are handled there (conn.c: HTTP/1.1 on plain sockets or
 * OpenSSL, framing by parse.c). Asynchronous queue calls complete on the
 * queue's threads; their results are posted to the owning loop's inbox and
 * the loop is woken with event_active() (libevent is set up for pthreads). */
#ifndef KEEL_HTTP_H
#define KEEL_HTTP_H

#include "auth.h"
#include "parse.h"
#include "route.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <keel/keel.h>
#include <keel/queue.h>
#include <keel/store.h>
#include <keel/validate.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct http_server http_server_t;
typedef struct http_loop http_loop_t;
typedef struct http_conn http_conn_t;
typedef struct http_exchange http_exchange_t;
typedef struct http_pending http_pending_t;

typedef struct http_config {
    const char *listen;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    bool loopback;
    int64_t threads;
    char *web_root; /* realpath, or NULL */
    const char *queue_instance;
    const char *validate_instance, *store_instance; /* NULL when unset */
    const char *orders_queue;
    int64_t max_body, max_header_bytes, max_headers;
    int64_t read_timeout_ms, write_timeout_ms, idle_timeout_ms;
    int64_t max_connections, max_json_depth;
    const char **api_keys, **admin_keys;
    size_t api_key_count, admin_key_count;
    bool allow_anonymous;
    const char **cors_origins;
    size_t cors_origin_count;
    char *cors_methods, *cors_headers, *cors_expose;
    int64_t cors_max_age_s;
    bool cors_credentials;
    double rate, burst;
    bool rate_by_key;
    bool access_log;
    const char *tls_cert, *tls_key; /* both or neither */
    bool tls_13_only;               /* tls.min_version: "1.3" */
} http_config_t;

typedef enum conn_state { CONN_READING, CONN_BUSY, CONN_IDLE } conn_state_t;

/* One accepted connection (loop thread), from accept to close. At most one
 * request is with a handler at a time; bytes that arrive meanwhile (a
 * pipelined request, the peer's EOF) wait in `in`. */
struct http_conn {
    http_loop_t *loop;
    http_conn_t *prev, *next; /* the loop's list */
    int fd;                   /* -1 once closed */
    struct ssl_st *ssl;       /* NULL without TLS */
    struct event *rev, *wev, *timer;
    conn_state_t state;
    bool in_request;     /* a request is being answered (counted in loop->busy) */
    bool handling;       /* a handler holds the exchange: free the conn after it answers */
    bool responded;      /* the current request's response is queued */
    bool reading;        /* rev is added */
    bool writing;        /* wev is added */
    bool peer_eof;       /* the peer closed its side (or a read failed) */
    bool close_after;    /* close once the current response is written */
    bool linger;         /* ...after reading and dropping what the client still sends */
    bool lingering;      /* answered; dropping input until EOF or the timer */
    bool tls_rw, tls_wr; /* TLS read wants writable / write wants readable */
    bool tls_failed;     /* a fatal TLS error: no close_notify (SSL_shutdown) */
    bool tls_notified;   /* close_notify was sent */
    bool processing;     /* conn_process is on the stack */
    char *in;            /* request bytes; the current request starts at in[0] */
    size_t in_len, in_cap;
    /* Framing of the current request. */
    int phase; /* PHASE_* (conn.c) */
    size_t scan;
    http_head_t head;
    http_chunked_t chunked;
    size_t req_end; /* where the next request starts, once framed */
    bool sent_continue;
    struct evbuffer *out;    /* response bytes not yet written */
    char peer[64];           /* client address, no port */
    http_header_t headers[]; /* limits.max_headers entries */
};

struct http_loop {
    http_server_t *srv;
    unsigned index;
    struct event_base *base;
    struct evconnlistener *listener; /* NULL once stopped */
    pthread_t thread;
    bool thread_started;
    struct event *wake_ev, *stop_ev, *drain_ev, *accept_ev;
    uint64_t accept_error_ms;                           /* last accept failure logged */
    const struct timeval *tv_read, *tv_write, *tv_idle; /* common timeouts */
    http_conn_t *conns;                                 /* open connections */
    unsigned busy;  /* connections with a request not yet answered and written */
    time_t date_at; /* second of `date` */
    char date[40];  /* Date header value */
    bool draining;
    uint64_t drain_deadline_ms;
    pthread_mutex_t inbox_lock;
    http_pending_t *inbox; /* completed queue calls, under inbox_lock */
    bool closed;           /* under inbox_lock: the loop no longer runs */
};

typedef struct http_metrics {
    keel_metric_t *requests[ROUTE_COUNT][8][4]; /* route, method, 2xx..5xx */
    keel_metric_t *seconds[ROUTE_COUNT];
    keel_metric_t *connections;
    keel_metric_t *rejected[8];
} http_metrics_t;

enum reject_reason {
    REJECT_MAX_CONNECTIONS,
    REJECT_READ_TIMEOUT,
    REJECT_RATE_LIMITED,
    REJECT_UNAUTHORIZED,
    REJECT_FORBIDDEN,
    REJECT_HEADERS,
    REJECT_BAD_BODY,
    REJECT_CORS,
    REJECT_COUNT
};

struct http_server {
    keel_plugin_t *self;
    const keel_host_api_t *host;
    auth_sha256_t *sha256;
    http_config_t cfg;
    const keel_queue_api_t *queue; /* NULL without `queue` */
    void *queue_ctx;
    const keel_validate_api_t *validate; /* NULL without `validate` */
    void *validate_ctx;
    const keel_store_api_t *store; /* NULL without `store` */
    void *store_ctx;
    struct accepted *accepted;   /* orders whose record is being stored (accepted.h) */
    struct http_backup *backup;  /* the running or last backup (backup.c) */
    struct ratelimit *ratelimit; /* NULL when rate is 0 */
    struct ssl_ctx_st *ssl_ctx;  /* NULL without TLS */
    http_loop_t *loops;
    unsigned loop_count;
    atomic_long connections;
    atomic_long outstanding; /* queue and store calls whose callback has not run */
    atomic_bool draining;    /* keeld is stopping: new orders get 503 */
    /* The store warning's rate limit (orders.c): next due, and held back. */
    _Atomic uint64_t store_warn_next_ms, store_warn_held;
    http_metrics_t metrics;
};

/* One request being answered (loop thread; freed by http_respond). Its
 * strings point into the connection's input, which stays put until the
 * answer is written. */
struct http_exchange {
    http_loop_t *loop;
    http_conn_t *conn;
    char *buf; /* the head's bytes (conn->in) */
    const http_head_t *head;
    const char *body; /* in conn->in, not NUL-terminated */
    size_t body_len;
    route_match_t match;
    unsigned method;
    const char *method_name;
    char request_id[ROUTE_PARAM_MAX + 1];
    const char *target_path; /* raw path, without query (in conn->in) */
    char path[512];          /* raw path for logs (truncated) */
    const char *query;
    const char *origin; /* allowed CORS origin, or NULL */
    struct timespec started;
    bool has_length;   /* a handler set Content-Length (HEAD of a file) */
    char *out_headers; /* "Name: value\r\n" lines added by handlers */
    size_t out_len, out_cap;
    char out_inline[256];
};

/* A queue call in flight: completes on a queue thread, answered on the
 * loop. `answered` is set when the wait deadline answered 202 first. */
typedef void (*http_pending_fn)(http_pending_t *p);
struct http_pending {
    http_exchange_t *ex; /* NULL once answered */
    http_loop_t *loop;
    http_pending_fn finish; /* loop thread: answer from status/affected */
    struct event *timer;    /* wait deadline, or NULL */
    int status;
    uint64_t affected;
    void *data; /* owned by the route (e.g. a json_t of ids) */
    void (*free_data)(void *data);
    http_pending_t *next;
};

/* server.c */
/* Loads tls.cert/tls.key into srv->ssl_ctx (nothing without TLS). */
int http_tls_init(http_server_t *srv);
void http_tls_free(http_server_t *srv);
int http_server_start(http_server_t *srv);
void http_server_stop(http_server_t *srv);

/* recover.c: rebuilds the QUEUED records of the queued orders the store
 * lacks (lost in a crash), before the listeners open. Main thread (start).
 * Always 0: failures are logged and left. */
int http_recover(http_server_t *srv);
void http_server_free(http_server_t *srv);
/* Queue callbacks: posts p to its loop (any thread). */
void http_pending_post(http_pending_t *p);
void http_pending_free(http_pending_t *p);

/* conn.c */
/* evconnlistener callback: adopts an accepted socket (arg: the loop). */
void http_conn_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int len, void *arg);
/* Closes every connection of the loop (the loop is stopping). */
void http_conn_close_all(http_loop_t *loop, bool idle_only);
/* Writes status, headers and body of the exchange's answer (then frees
 * nothing: http_respond does). */
/* The body is data[len], or the chains of `evbody` (moved, not copied)
 * when it is not NULL. */
void http_conn_send(http_exchange_t *ex, int status, const void *data, size_t len,
                    struct evbuffer *evbody, const char *type);
/* The handler is done with the connection (http_respond, after sending). */
void http_conn_answered(http_conn_t *c);

/* request.c */
/* A complete request (loop thread): routes it; every path answers. */
void http_handle(http_exchange_t *ex);
/* A request that could not be framed: answers `status` (400, 413, 431,
 * 500, 501, 505) as JSON with a request id; the connection then closes. */
void http_handle_error(http_exchange_t *ex, int status);
/* The value of request header `name`, or NULL. */
const char *http_header(const http_exchange_t *ex, const char *name);
/* Adds a response header (before http_respond). */
void http_add_header(http_exchange_t *ex, const char *name, const char *value);
void http_respond(http_exchange_t *ex, int status, struct evbuffer *body, const char *type);
void http_respond_json(http_exchange_t *ex, int status, const char *json);
/* Frees an exchange that will not be answered (its loop is gone). */
void http_exchange_free(http_exchange_t *ex);
/* http_respond with the body as bytes (NULL/0 for none). */
void http_respond_data(http_exchange_t *ex, int status, const void *data, size_t len,
                       const char *type);
/* `limit` and `cursor` of a paged GET. */
typedef struct http_page {
    size_t limit;
    const char *cursor; /* NULL: the first page; points into the query */
} http_page_t;
struct evkeyvalq;
/* Parses the query string into `query` (clear it with evhttp_clear_headers
 * when done) and its limit (default_limit when absent, 1..max_limit) and
 * cursor. On a malformed query or limit it answers 400 and returns false,
 * with nothing left to clear. */
bool http_query_page(http_exchange_t *ex, struct evkeyvalq *query, long default_limit,
                     long max_limit, http_page_t *page);
/* s as a JSON string with its quotes into out (quotes, backslashes and
 * control bytes escaped; valid UTF-8 passes through, otherwise each byte
 * >= 0x80 is escaped as \u00XX so the result is still valid JSON); its
 * length, or 0 when cap is too small. */
size_t http_json_quote(char *out, size_t cap, const char *s);
void http_error(http_exchange_t *ex, int status, const char *code, const char *fmt, ...)
    KEEL_PRINTF(4, 5);
void http_reject(http_server_t *srv, enum reject_reason reason);
/* Checks Content-Type, UTF-8, NUL bytes and depth; returns ex->body (not
 * NUL-terminated, ex->body_len bytes, valid while ex is) or NULL after
 * answering the error. */
const char *http_json_body_checked(http_exchange_t *ex);
/* The same checks; returns a NUL-terminated copy of the body (malloc'd)
 * or NULL after answering the error; *len gets its length. An empty body
 * returns "" with *len == 0 when allow_empty. */
char *http_json_body(http_exchange_t *ex, size_t *len, bool allow_empty);

/* static.c */
void http_static(http_exchange_t *ex);

/* admin.c */
void http_admin(http_exchange_t *ex);

/* backup.c: POST/GET /api/v1/admin/backup (hot backup of the queue and
 * store envs into a directory, one at a time, polled for progress). */
struct http_backup *http_backup_new(void);
/* False while a backup still runs (then it is leaked, not freed). */
bool http_backup_free(struct http_backup *b);
void http_backup(http_exchange_t *ex);

/* orders.c: /api/v1/orders (404 unless queue, validate and store are set). */
void http_orders(http_exchange_t *ex);

/* config.c */
extern const keel_config_key_t http_config_keys[];
int http_config_read(http_server_t *srv);
void http_config_free(http_server_t *srv, http_config_t *cfg);
int http_metrics_register(http_server_t *srv);

#endif
