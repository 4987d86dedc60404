/* config.c — the `http` plugin's config keys, their checks and the
 * metrics it registers. */
#include "auth.h"
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY_LIMIT (1024 * 1024)

static const keel_config_key_t limit_keys[] = {
    {"max_body", KEEL_CFG_SIZE, "256KiB", "largest request body (up to 1MiB); larger: 413", 0,
     NULL},
    {"max_header_bytes", KEEL_CFG_SIZE, "8KiB", "largest request line + headers; larger: 431", 0,
     NULL},
    {"max_headers", KEEL_CFG_INT, "64", "most request headers; more: 431", 0, NULL},
    {"read_timeout", KEEL_CFG_DURATION, "10s",
     "a whole request (headers and body) must arrive within this", 0, NULL},
    {"write_timeout", KEEL_CFG_DURATION, "10s", "a stalled response write is dropped after this", 0,
     NULL},
    {"idle_timeout", KEEL_CFG_DURATION, "60s", "an idle keep-alive connection is closed after this",
     0, NULL},
    {"max_connections", KEEL_CFG_INT, "10000", "most open connections; more are closed at accept",
     0, NULL},
    {"max_json_depth", KEEL_CFG_INT, "32", "deepest JSON nesting in a body; deeper: 400", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t auth_keys[] = {
    {"api_keys", KEEL_CFG_STRING_LIST, NULL,
     "lowercase hex SHA-256 of each client key (sent as 'Authorization: Bearer <key>' or "
     "'X-Api-Key')",
     0, NULL},
    {"admin_keys", KEEL_CFG_STRING_LIST, NULL,
     "SHA-256 hex of each admin key; when set, only these open /api/v1/admin", 0, NULL},
    {"allow_anonymous", KEEL_CFG_BOOL, "false",
     "allow listening on a non-loopback address without any key", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t cors_keys[] = {
    {"allow_origins", KEEL_CFG_STRING_LIST, NULL, "origins allowed (\"*\" for any); none: CORS off",
     0, NULL},
    {"allow_methods", KEEL_CFG_STRING_LIST, NULL,
     "methods allowed in preflight (default GET, HEAD, POST, DELETE)", 0, NULL},
    {"allow_headers", KEEL_CFG_STRING_LIST, NULL,
     "request headers allowed (default Content-Type, Authorization, X-Api-Key, X-Request-Id)", 0,
     NULL},
    {"expose_headers", KEEL_CFG_STRING_LIST, NULL,
     "response headers exposed (X-Request-Id is always exposed)", 0, NULL},
    {"max_age", KEEL_CFG_DURATION, "10m", "how long a browser may cache a preflight", 0, NULL},
    {"allow_credentials", KEEL_CFG_BOOL, "false", "send Access-Control-Allow-Credentials", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t rate_keys[] = {
    {"rate", KEEL_CFG_DOUBLE, "0", "requests per second per client (0: no limit)", 0, NULL},
    {"burst", KEEL_CFG_INT, "20", "requests a client may make at once", 0, NULL},
    {"by", KEEL_CFG_STRING, "key", "\"key\" (the API key, else the address) or \"address\"", 0,
     NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static const keel_config_key_t tls_keys[] = {
    {"cert", KEEL_CFG_STRING, NULL,
     "PEM certificate chain file (server certificate first); set with key to serve HTTPS", 0, NULL},
    {"key", KEEL_CFG_STRING, NULL, "PEM private key file of cert", 0, NULL},
    {"min_version", KEEL_CFG_STRING, "1.2", "oldest TLS version accepted: \"1.2\" or \"1.3\"", 0,
     NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

const keel_config_key_t http_config_keys[] = {
    {"listen", KEEL_CFG_STRING, "127.0.0.1:8080", "host:port to listen on ([::1]:port for IPv6)", 0,
     NULL},
    {"threads", KEEL_CFG_INT, "0", "event-loop threads (0: one per CPU)", 0, NULL},
    {"web_root", KEEL_CFG_STRING, NULL, "directory of static files (none: no static files)", 0,
     NULL},
    {"queue", KEEL_CFG_INSTANCE, NULL,
     "queue instance behind /api/v1/admin/queues and the order routes", 0, NULL},
    {"validate", KEEL_CFG_INSTANCE, NULL,
     "validate instance for POST /api/v1/orders (order routes need queue, validate and store)", 0,
     NULL},
    {"store", KEEL_CFG_INSTANCE, NULL, "store instance behind /api/v1/orders", 0, NULL},
    {"orders_queue", KEEL_CFG_STRING, "orders", "queue that accepted orders are sent to", 0, NULL},
    {"limits", KEEL_CFG_SECTION, NULL, "request limits and timeouts", 0, limit_keys},
    {"auth", KEEL_CFG_SECTION, NULL, "API keys (none configured: no authentication)", 0, auth_keys},
    {"cors", KEEL_CFG_SECTION, NULL, "cross-origin resource sharing", 0, cors_keys},
    {"rate_limit", KEEL_CFG_SECTION, NULL, "token bucket per client", 0, rate_keys},
    {"tls", KEEL_CFG_SECTION, NULL, "HTTPS (no cert and key: plain HTTP)", 0, tls_keys},
    {"access_log", KEEL_CFG_BOOL, "true", "one JSON log line per request", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

static int parse_listen(http_server_t *srv, const char *listen)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof host)
            goto bad;
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (colon == NULL || (size_t)(colon - listen) >= sizeof host)
            goto bad;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    char *end;
    long port_num = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || port_num < 0 || port_num > 65535)
        goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        srv->host->log(srv->self, KEEL_LOG_ERROR, "listen: cannot resolve '%s': %s", listen,
                       gai_strerror(rc));
        return KEEL_EINVAL;
    }
    memcpy(&srv->cfg.addr, res->ai_addr, res->ai_addrlen);
    srv->cfg.addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    if (srv->cfg.addr.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&srv->cfg.addr;
        srv->cfg.loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&srv->cfg.addr;
        srv->cfg.loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return 0;
bad:
    srv->host->log(srv->self, KEEL_LOG_ERROR,
                   "listen: '%s' is not host:port (e.g. 127.0.0.1:8080 or [::1]:8080)", listen);
    return KEEL_EINVAL;
}

/* Reads a STRING_LIST into a malloc'd array of host-owned strings. */
static int read_list(http_server_t *srv, const char *path, const char ***out, size_t *count)
{
    const keel_host_api_t *host = srv->host;
    *out = NULL;
    *count = 0;
    size_t n = 0;
    if (host->config_count(srv->self, path, &n) != 0 || n == 0)
        return 0;
    *out = calloc(n, sizeof **out);
    if (*out == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char item[128];
        snprintf(item, sizeof item, "%s[%zu]", path, i);
        if (host->config_string(srv->self, item, &(*out)[i]) != 0)
            return KEEL_EINVAL;
    }
    *count = n;
    return 0;
}

/* Joins a STRING_LIST with ", ", or copies `fallback` when absent. */
static char *join_list(http_server_t *srv, const char *path, const char *fallback)
{
    const char **items;
    size_t n;
    if (read_list(srv, path, &items, &n) != 0)
        return NULL;
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 2;
    char *text = n ? malloc(len) : strdup(fallback);
    if (text != NULL && n) {
        text[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (i)
                strcat(text, ", ");
            strcat(text, items[i]);
        }
    }
    free(items);
    return text;
}

static int check_hashes(http_server_t *srv, const char *what, const char **hashes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!auth_hash_valid(hashes[i])) {
            srv->host->log(srv->self, KEEL_LOG_ERROR,
                           "auth.%s[%zu]: not a lowercase hex SHA-256 (64 chars); store "
                           "`printf %%s KEY | sha256sum`, not the key",
                           what, i);
            return KEEL_EINVAL;
        }
    }
    return 0;
}

int http_config_read(http_server_t *srv)
{
    const keel_host_api_t *host = srv->host;
    keel_plugin_t *self = srv->self;
    http_config_t *c = &srv->cfg;
    int rc;
    const char *web_root = NULL, *by = NULL, *tls_min = NULL;
    host->config_string(self, "listen", &c->listen);
    host->config_int(self, "threads", &c->threads);
    if (host->config_string(self, "web_root", &web_root) != 0)
        web_root = NULL;
    if (host->config_string(self, "queue", &c->queue_instance) != 0)
        c->queue_instance = NULL;
    if (host->config_string(self, "validate", &c->validate_instance) != 0)
        c->validate_instance = NULL;
    if (host->config_string(self, "store", &c->store_instance) != 0)
        c->store_instance = NULL;
    if (host->config_string(self, "orders_queue", &c->orders_queue) != 0)
        c->orders_queue = "orders";
    host->config_int(self, "limits.max_body", &c->max_body);
    host->config_int(self, "limits.max_header_bytes", &c->max_header_bytes);
    host->config_int(self, "limits.max_headers", &c->max_headers);
    host->config_int(self, "limits.read_timeout", &c->read_timeout_ms);
    host->config_int(self, "limits.write_timeout", &c->write_timeout_ms);
    host->config_int(self, "limits.idle_timeout", &c->idle_timeout_ms);
    host->config_int(self, "limits.max_connections", &c->max_connections);
    host->config_int(self, "limits.max_json_depth", &c->max_json_depth);
    host->config_bool(self, "auth.allow_anonymous", &c->allow_anonymous);
    host->config_int(self, "cors.max_age", &c->cors_max_age_s);
    c->cors_max_age_s /= 1000;
    host->config_bool(self, "cors.allow_credentials", &c->cors_credentials);
    int64_t burst = 0;
    host->config_double(self, "rate_limit.rate", &c->rate);
    host->config_int(self, "rate_limit.burst", &burst);
    c->burst = (double)burst;
    host->config_string(self, "rate_limit.by", &by);
    host->config_bool(self, "access_log", &c->access_log);
    if (host->config_string(self, "tls.cert", &c->tls_cert) != 0)
        c->tls_cert = NULL;
    if (host->config_string(self, "tls.key", &c->tls_key) != 0)
        c->tls_key = NULL;
    if (host->config_string(self, "tls.min_version", &tls_min) != 0)
        tls_min = NULL;

    if ((rc = parse_listen(srv, c->listen)) != 0)
        return rc;
    if (c->threads < 0 || c->threads > 256) {
        host->log(self, KEEL_LOG_ERROR, "threads: %lld is out of range (0-256)",
                  (long long)c->threads);
        return KEEL_EINVAL;
    }
    if (c->max_body < 1 || c->max_body > MAX_BODY_LIMIT) {
        host->log(self, KEEL_LOG_ERROR, "limits.max_body: %lld bytes; allowed 1 byte to 1MiB",
                  (long long)c->max_body);
        return KEEL_EINVAL;
    }
    if (c->max_header_bytes < 256 || c->max_headers < 1 || c->max_connections < 1 ||
        c->max_json_depth < 1 || c->read_timeout_ms < 1 || c->write_timeout_ms < 1 ||
        c->idle_timeout_ms < 1) {
        host->log(self, KEEL_LOG_ERROR,
                  "limits: max_header_bytes must be >= 256, and max_headers, max_connections, "
                  "max_json_depth and the timeouts >= 1");
        return KEEL_EINVAL;
    }
    if (by != NULL && strcmp(by, "key") != 0 && strcmp(by, "address") != 0) {
        host->log(self, KEEL_LOG_ERROR, "rate_limit.by: '%s'; allowed: key, address", by);
        return KEEL_EINVAL;
    }
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        host->log(self, KEEL_LOG_ERROR, "tls: set both cert and key, or neither (%s is missing)",
                  c->tls_cert == NULL ? "cert" : "key");
        return KEEL_EINVAL;
    }
    if (tls_min != NULL && strcmp(tls_min, "1.2") != 0 && strcmp(tls_min, "1.3") != 0) {
        host->log(self, KEEL_LOG_ERROR, "tls.min_version: '%s'; allowed: 1.2, 1.3", tls_min);
        return KEEL_EINVAL;
    }
    c->tls_13_only = tls_min != NULL && strcmp(tls_min, "1.3") == 0;
    c->rate_by_key = by == NULL || strcmp(by, "key") == 0;
    if (c->rate < 0 || (c->rate > 0 && burst < 1)) {
        host->log(self, KEEL_LOG_ERROR, "rate_limit: rate must be >= 0 and burst >= 1");
        return KEEL_EINVAL;
    }
    if (web_root != NULL) {
        c->web_root = realpath(web_root, NULL);
        if (c->web_root == NULL) {
            host->log(self, KEEL_LOG_ERROR, "web_root: '%s': %s", web_root, strerror(errno));
            return KEEL_EINVAL;
        }
    }
    if ((rc = read_list(srv, "auth.api_keys", &c->api_keys, &c->api_key_count)) != 0 ||
        (rc = read_list(srv, "auth.admin_keys", &c->admin_keys, &c->admin_key_count)) != 0 ||
        (rc = read_list(srv, "cors.allow_origins", &c->cors_origins, &c->cors_origin_count)) != 0)
        return rc;
    if ((rc = check_hashes(srv, "api_keys", c->api_keys, c->api_key_count)) != 0 ||
        (rc = check_hashes(srv, "admin_keys", c->admin_keys, c->admin_key_count)) != 0)
        return rc;
    if (!c->loopback && c->api_key_count == 0 && c->admin_key_count == 0 && !c->allow_anonymous) {
        host->log(self, KEEL_LOG_ERROR,
                  "listen: '%s' is not a loopback address and no API keys are configured; set "
                  "auth.api_keys / auth.admin_keys, or auth.allow_anonymous: true to serve "
                  "anyone",
                  c->listen);
        return KEEL_EINVAL;
    }
    c->cors_methods = join_list(srv, "cors.allow_methods", "GET, HEAD, POST, DELETE");
    c->cors_headers = join_list(srv, "cors.allow_headers",
                                "Content-Type, Authorization, X-Api-Key, X-Request-Id");
    c->cors_expose = join_list(srv, "cors.expose_headers", "X-Request-Id");
    if (c->cors_methods == NULL || c->cors_headers == NULL || c->cors_expose == NULL)
        return KEEL_ENOMEM;
    return 0;
}

void http_config_free(http_server_t *srv, http_config_t *c)
{
    (void)srv;
    free(c->web_root);
    free(c->api_keys);
    free(c->admin_keys);
    free(c->cors_origins);
    free(c->cors_methods);
    free(c->cors_headers);
    free(c->cors_expose);
}

static const char *const method_labels[8] = {"GET",    "HEAD",    "POST",  "PUT",
                                             "DELETE", "OPTIONS", "PATCH", "other"};
static const char *const reject_labels[REJECT_COUNT] = {
    "max_connections", "read_timeout", "rate_limited", "unauthorized",
    "forbidden",       "headers",      "bad_body",     "cors"};

int http_metrics_register(http_server_t *srv)
{
    const keel_host_api_t *host = srv->host;
    http_metrics_t *m = &srv->metrics;
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};
    char labels[160];
    int rc = 0;
    for (int r = 0; r < ROUTE_COUNT && rc == 0; r++) {
        snprintf(labels, sizeof labels, "route=\"%s\"", route_name((http_route_t)r));
        rc = host->metric_histogram(srv->self, "keel_http_request_seconds",
                                    "HTTP request latency by route", labels, bounds,
                                    sizeof bounds / sizeof bounds[0], &m->seconds[r]);
        for (int meth = 0; meth < 8 && rc == 0; meth++)
            for (int cls = 0; cls < 4 && rc == 0; cls++) {
                snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%dxx\"",
                         route_name((http_route_t)r), method_labels[meth], cls + 2);
                rc = host->metric_counter(srv->self, "keel_http_requests_total",
                                          "HTTP requests answered", labels,
                                          &m->requests[r][meth][cls]);
            }
    }
    if (rc == 0)
        rc = host->metric_gauge(srv->self, "keel_http_connections", "open HTTP connections", NULL,
                                &m->connections);
    for (int i = 0; i < REJECT_COUNT && rc == 0; i++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", reject_labels[i]);
        rc = host->metric_counter(srv->self, "keel_http_rejected_total",
                                  "requests and connections refused", labels, &m->rejected[i]);
    }
    if (rc != 0)
        host->log(srv->self, KEEL_LOG_ERROR, "cannot register metrics: %s", host->strerror(rc));
    return rc;
}
