/* route.h — pure request routing and request-id checks (no libevent). */
#ifndef KEEL_HTTP_ROUTE_H
#define KEEL_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/* Method bits. */
enum {
    HTTP_M_GET = 1U << 0,
    HTTP_M_HEAD = 1U << 1,
    HTTP_M_POST = 1U << 2,
    HTTP_M_PUT = 1U << 3,
    HTTP_M_DELETE = 1U << 4,
    HTTP_M_OPTIONS = 1U << 5,
    HTTP_M_PATCH = 1U << 6,
    HTTP_M_OTHER = 1U << 7,
};

/* Every route, also the metric label set. New API routes (orders) are
 * appended here and to the table in route.c. */
typedef enum http_route {
    ROUTE_HEALTHZ = 0,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_ADMIN_QUEUES,
    ROUTE_ADMIN_DLQ_LIST,
    ROUTE_ADMIN_DLQ_PURGE,
    ROUTE_ADMIN_DLQ_REDRIVE,
    ROUTE_API_UNKNOWN, /* any other /api path: 404 JSON */
    ROUTE_STATIC,      /* everything else: files from web_root */
    ROUTE_PREFLIGHT,   /* CORS OPTIONS, decided before routing */
    /* Order routes (404 unless queue, validate and store are configured): */
    ROUTE_ORDERS_CREATE, /* POST /api/v1/orders */
    ROUTE_ORDERS_LIST,   /* GET /api/v1/orders?customer_id= */
    ROUTE_ORDER_GET,     /* GET /api/v1/orders/{id} */
    /* Operators' admin routes (keelctl): */
    ROUTE_ADMIN_DLQ_SHOW,      /* GET /api/v1/admin/queues/{q}/dlq/{id} */
    ROUTE_ADMIN_BACKUP_START,  /* POST /api/v1/admin/backup */
    ROUTE_ADMIN_BACKUP_STATUS, /* GET /api/v1/admin/backup */
    ROUTE_ADMIN_PLUGINS,       /* GET /api/v1/admin/plugins */
    ROUTE_COUNT
} http_route_t;

#define ROUTE_PARAM_MAX 128

typedef struct route_match {
    http_route_t route;
    bool method_allowed;              /* false: answer 405 with `allowed` */
    unsigned allowed;                 /* methods the path accepts */
    bool is_api;                      /* under /api: JSON errors, auth, rate limit */
    bool is_admin;                    /* needs an admin key when admin keys exist */
    char param[ROUTE_PARAM_MAX + 1];  /* the first {q} or {id} segment, if any */
    char param2[ROUTE_PARAM_MAX + 1]; /* the second one (.../{q}/dlq/{id}) */
} route_match_t;

/** Matches `path` (the raw, still percent-encoded path, without query) for
 * `method` (one HTTP_M_* bit). Always fills *out. */
void route_match(unsigned method, const char *path, route_match_t *out);

/** Name of a route for metrics and logs ("healthz", "admin_dlq_list"...). */
const char *route_name(http_route_t route);

/** HTTP_M_* bit of a method name; HTTP_M_OTHER when unknown. */
unsigned route_method_bit(const char *method);

/** Writes "GET, HEAD" style text for an Allow header. */
void route_allow_header(unsigned methods, char *out, size_t cap);

/** True for a usable incoming X-Request-Id: 1-128 chars of [A-Za-z0-9._-]. */
bool request_id_valid(const char *id);

#endif
