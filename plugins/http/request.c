/* request.c — what every request goes through: request id, header limits,
 * CORS, routing, auth, rate limit; and how every response leaves: request
 * id, CORS headers, access log line, metrics. */
#include "auth.h"
#include "cors.h"
#include "http.h"
#include "jsoncheck.h"
#include "ratelimit.h"
#include "urlpath.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

void http_reject(http_server_t *srv, enum reject_reason reason)
{
    srv->host->metric_add(srv->metrics.rejected[reason], 1);
}

static unsigned method_index(unsigned bit)
{
    unsigned i = 0;
    while (i < 7 && (bit >> i) != 1)
        i++;
    return i;
}

static void access_log(http_exchange_t *ex, int status, size_t bytes, double seconds)
{
    http_server_t *srv = ex->loop->srv;
    if (!srv->cfg.access_log || !srv->host->log_enabled(srv->self, KEEL_LOG_INFO))
        return;
    json_t *line = json_pack("{s:s, s:s, s:s?, s:i, s:I, s:f, s:s, s:s}", "method", ex->method_name,
                             "path", ex->path, "query", ex->query, "status", status, "bytes",
                             (json_int_t)bytes, "latency_ms", seconds * 1000.0, "request_id",
                             ex->request_id, "client", ex->conn ? ex->conn->peer : "?");
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(4)) : NULL;
    if (text != NULL)
        srv->host->log(srv->self, KEEL_LOG_INFO, "access %s", text);
    free(text);
    json_decref(line);
}

/* Reason phrases libevent 2.1 does not know (it would say "Client Error"). */
static const char *reason_phrase(int status)
{
    switch (status) {
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return NULL; /* libevent's own */
    }
}

void http_respond(http_exchange_t *ex, int status, struct evbuffer *body, const char *type)
{
    http_server_t *srv = ex->loop->srv;
    struct evkeyvalq *out = evhttp_request_get_output_headers(ex->req);
    evhttp_add_header(out, "X-Request-Id", ex->request_id);
    if (type != NULL)
        evhttp_add_header(out, "Content-Type", type);
    if (ex->origin != NULL && ex->match.route != ROUTE_PREFLIGHT) {
        evhttp_add_header(out, "Access-Control-Allow-Origin", ex->origin);
        evhttp_add_header(out, "Vary", "Origin");
        evhttp_add_header(out, "Access-Control-Expose-Headers", srv->cfg.cors_expose);
        if (srv->cfg.cors_credentials)
            evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
    }
    if (ex->loop->draining)
        evhttp_add_header(out, "Connection", "close");
    size_t bytes = body ? evbuffer_get_length(body) : 0;
    evhttp_send_reply(ex->req, status, reason_phrase(status), body);

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - ex->started.tv_sec) +
                     (double)(now.tv_nsec - ex->started.tv_nsec) / 1e9;
    int cls = status / 100 - 2;
    cls = cls < 0 ? 0 : cls > 3 ? 3 : cls;
    srv->host->metric_add(srv->metrics.requests[ex->match.route][method_index(ex->method)][cls], 1);
    srv->host->metric_observe(srv->metrics.seconds[ex->match.route], seconds);
    access_log(ex, status, bytes, seconds);
    free(ex);
}

void http_respond_json(http_exchange_t *ex, int status, const char *json)
{
    struct evbuffer *body = evbuffer_new();
    if (body != NULL) {
        evbuffer_add(body, json, strlen(json));
        evbuffer_add(body, "\n", 1);
    }
    http_respond(ex, status, body, "application/json");
    if (body != NULL)
        evbuffer_free(body);
}

void http_error(http_exchange_t *ex, int status, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_t *err = json_pack("{s:s, s:s, s:s}", "error", code, "message", message, "request_id",
                            ex->request_id);
    char *text = err ? json_dumps(err, JSON_COMPACT) : NULL;
    http_respond_json(ex, status, text ? text : "{\"error\":\"internal\"}");
    free(text);
    json_decref(err);
}

char *http_json_body(http_exchange_t *ex, size_t *len, bool allow_empty)
{
    http_server_t *srv = ex->loop->srv;
    struct evbuffer *in = evhttp_request_get_input_buffer(ex->req);
    size_t n = evbuffer_get_length(in);
    *len = n;
    if (n == 0 && allow_empty)
        return strdup("");
    const char *type =
        evhttp_find_header(evhttp_request_get_input_headers(ex->req), "Content-Type");
    if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
        (type[16] != '\0' && type[16] != ';' && type[16] != ' ')) {
        http_reject(srv, REJECT_BAD_BODY);
        http_error(ex, 415, "unsupported_media_type",
                   "the body must be JSON (Content-Type: application/json)");
        return NULL;
    }
    char *body = malloc(n + 1);
    if (body == NULL) {
        http_error(ex, 500, "internal", "out of memory");
        return NULL;
    }
    evbuffer_copyout(in, body, n);
    body[n] = '\0';
    const char *problem = NULL;
    if (!utf8_valid(body, n))
        problem = "the body is not valid UTF-8";
    else if (memchr(body, '\0', n) != NULL)
        problem = "the body contains a NUL byte";
    else if (!json_depth_ok(body, n, (int)srv->cfg.max_json_depth))
        problem = "the JSON body nests deeper than limits.max_json_depth";
    if (problem != NULL) {
        free(body);
        http_reject(srv, REJECT_BAD_BODY);
        http_error(ex, 400, "bad_request", "%s", problem);
        return NULL;
    }
    return body;
}

/* CORS preflight: OPTIONS with Origin and Access-Control-Request-Method. */
static void preflight(http_exchange_t *ex, const char *origin, const char *want_method)
{
    const http_config_t *cfg = &ex->loop->srv->cfg;
    if (!cors_origin_allowed(cfg->cors_origins, cfg->cors_origin_count, origin) ||
        !cors_method_allowed(cfg->cors_methods, want_method)) {
        http_reject(ex->loop->srv, REJECT_CORS);
        http_error(ex, 403, "cors_denied", "origin or method not allowed by the CORS policy");
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(ex->req);
    bool any = cors_origin_allowed(cfg->cors_origins, cfg->cors_origin_count, "*") &&
               !cfg->cors_credentials;
    char max_age[32];
    snprintf(max_age, sizeof max_age, "%lld", (long long)cfg->cors_max_age_s);
    evhttp_add_header(out, "Access-Control-Allow-Origin", any ? "*" : origin);
    evhttp_add_header(out, "Vary", "Origin");
    evhttp_add_header(out, "Access-Control-Allow-Methods", cfg->cors_methods);
    evhttp_add_header(out, "Access-Control-Allow-Headers", cfg->cors_headers);
    evhttp_add_header(out, "Access-Control-Max-Age", max_age);
    if (cfg->cors_credentials)
        evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
    http_respond(ex, 204, NULL, NULL);
}

/* Returns true when the request may go on; otherwise it was answered. */
static bool authorize(http_exchange_t *ex, const char *key)
{
    http_server_t *srv = ex->loop->srv;
    const http_config_t *cfg = &srv->cfg;
    if (cfg->api_key_count == 0 && cfg->admin_key_count == 0)
        return true;
    if (key == NULL) {
        http_reject(srv, REJECT_UNAUTHORIZED);
        evhttp_add_header(evhttp_request_get_output_headers(ex->req), "WWW-Authenticate", "Bearer");
        http_error(ex, 401, "unauthorized",
                   "an API key is required (Authorization: Bearer <key> or X-Api-Key)");
        return false;
    }
    char hash[AUTH_HASH_HEX + 1];
    auth_sha256_hex(key, strlen(key), hash);
    bool admin = auth_hash_in(cfg->admin_keys, cfg->admin_key_count, hash);
    bool client = auth_hash_in(cfg->api_keys, cfg->api_key_count, hash);
    bool ok = ex->match.is_admin && cfg->admin_key_count > 0 ? admin : admin || client;
    if (!ok) {
        http_reject(srv, REJECT_FORBIDDEN);
        http_error(ex, 403, "forbidden",
                   ex->match.is_admin ? "this key may not use the admin API"
                                      : "the API key is not valid");
    }
    return ok;
}

static bool rate_limited(http_exchange_t *ex, const char *key)
{
    http_server_t *srv = ex->loop->srv;
    if (srv->ratelimit == NULL)
        return false;
    char bucket[AUTH_HASH_HEX + 8];
    if (key != NULL && srv->cfg.rate_by_key) {
        memcpy(bucket, "k:", 2);
        auth_sha256_hex(key, strlen(key), bucket + 2);
    } else {
        snprintf(bucket, sizeof bucket, "a:%s", ex->conn ? ex->conn->peer : "?");
    }
    uint32_t retry_after = 1;
    if (ratelimit_take(srv->ratelimit, bucket, srv->host->now_ms(srv->self), &retry_after))
        return false;
    char value[16];
    snprintf(value, sizeof value, "%u", retry_after);
    evhttp_add_header(evhttp_request_get_output_headers(ex->req), "Retry-After", value);
    http_reject(srv, REJECT_RATE_LIMITED);
    http_error(ex, 429, "rate_limited", "too many requests; retry after %u s", retry_after);
    return true;
}

static void health(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    if (ex->match.route == ROUTE_HEALTHZ) {
        http_respond_json(ex, 200, "{\"status\":\"ok\"}");
        return;
    }
    if (ex->match.route == ROUTE_READYZ) {
        char why[256] = "";
        int rc = srv->host->readiness(srv->self, why, sizeof why);
        if (rc == 0) {
            http_respond_json(ex, 200, "{\"status\":\"ready\"}");
            return;
        }
        json_t *j = json_pack("{s:s, s:s}", "status", "not ready", "reason",
                              why[0] ? why : srv->host->strerror(rc));
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        evhttp_add_header(evhttp_request_get_output_headers(ex->req), "Retry-After", "1");
        http_respond_json(ex, 503, text ? text : "{\"status\":\"not ready\"}");
        free(text);
        json_decref(j);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = srv->host->metrics_render(srv->self, &text, &len);
    if (rc != 0) {
        http_error(ex, 500, "internal", "cannot render metrics: %s", srv->host->strerror(rc));
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (body != NULL)
        evbuffer_add(body, text, len);
    srv->host->free(text);
    http_respond(ex, 200, body, "text/plain; version=0.0.4; charset=utf-8");
    if (body != NULL)
        evbuffer_free(body);
}

bool http_query_page(http_exchange_t *ex, struct evkeyvalq *query, long default_limit,
                     long max_limit, http_page_t *page)
{
    query->tqh_first = NULL;
    query->tqh_last = &query->tqh_first;
    if (ex->query != NULL && evhttp_parse_query_str(ex->query, query) != 0) {
        http_error(ex, 400, "bad_request", "malformed query string");
        return false;
    }
    const char *limit_text = evhttp_find_header(query, "limit");
    const char *cursor = evhttp_find_header(query, "cursor");
    page->cursor = cursor && *cursor ? cursor : NULL;
    page->limit = (size_t)default_limit;
    if (limit_text != NULL) {
        char *end;
        long limit = strtol(limit_text, &end, 10);
        if (*limit_text == '\0' || *end != '\0' || limit < 1 || limit > max_limit) {
            evhttp_clear_headers(query);
            http_error(ex, 400, "bad_request", "limit must be an integer from 1 to %ld", max_limit);
            return false;
        }
        page->limit = (size_t)limit;
    }
    return true;
}

void http_handle(struct evhttp_request *req, void *arg)
{
    http_loop_t *loop = arg;
    http_server_t *srv = loop->srv;
    http_exchange_t *ex = calloc(1, sizeof *ex);
    if (ex == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ex->started);
    ex->loop = loop;
    ex->req = req;
    ex->conn = http_conn_find(loop, evhttp_request_get_connection(req));
    http_conn_busy(ex->conn, req);
    ex->method_name = method_name(evhttp_request_get_command(req));
    ex->method = route_method_bit(ex->method_name);
    ex->match.route = ROUTE_STATIC;

    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *rid = evhttp_find_header(in, "X-Request-Id");
    if (request_id_valid(rid))
        snprintf(ex->request_id, sizeof ex->request_id, "%s", rid);
    else
        srv->host->new_id(ex->request_id);

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    ex->query = uri ? evhttp_uri_get_query(uri) : NULL;
    snprintf(ex->path, sizeof ex->path, "%s", path && *path ? path : "/");
    if (path == NULL || *path != '/') {
        http_error(ex, 400, "bad_request", "the request target must be an absolute path");
        return;
    }

    char decoded[sizeof ex->path];
    int path_rc = urlpath_decode(path, decoded, sizeof decoded);
    if (path_rc == URLPATH_BAD || path_rc == URLPATH_TRAVERSAL) {
        http_error(ex, 400, "bad_request",
                   "invalid path (NUL, control byte, encoded slash or '..')");
        return;
    }

    size_t header_count = 0;
    for (struct evkeyval *h = in->tqh_first; h != NULL; h = h->next.tqe_next)
        header_count++;
    if (header_count > (size_t)srv->cfg.max_headers) {
        http_reject(srv, REJECT_HEADERS);
        http_error(ex, 431, "headers_too_large", "more than %lld request headers",
                   (long long)srv->cfg.max_headers);
        return;
    }

    const char *origin = evhttp_find_header(in, "Origin");
    if (origin != NULL &&
        cors_origin_allowed(srv->cfg.cors_origins, srv->cfg.cors_origin_count, origin))
        ex->origin = cors_origin_allowed(srv->cfg.cors_origins, srv->cfg.cors_origin_count, "*") &&
                             !srv->cfg.cors_credentials
                         ? "*"
                         : origin;
    const char *want_method = evhttp_find_header(in, "Access-Control-Request-Method");
    if (ex->method == HTTP_M_OPTIONS && origin != NULL && want_method != NULL) {
        ex->match.route = ROUTE_PREFLIGHT;
        preflight(ex, origin, want_method);
        return;
    }

    route_match(ex->method, path, &ex->match);
    if (!ex->match.method_allowed) {
        char allow[96];
        route_allow_header(ex->match.allowed, allow, sizeof allow);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        http_error(ex, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
                   ex->method_name, allow);
        return;
    }
    switch (ex->match.route) {
    case ROUTE_HEALTHZ:
    case ROUTE_READYZ:
    case ROUTE_METRICS:
        health(ex);
        return;
    case ROUTE_STATIC:
        if (!rate_limited(ex, NULL))
            http_static(ex);
        return;
    default:
        break;
    }
    const char *key = auth_presented_key(evhttp_find_header(in, "Authorization"),
                                         evhttp_find_header(in, "X-Api-Key"));
    if (!authorize(ex, key) || rate_limited(ex, key))
        return;
    if (ex->match.route == ROUTE_API_UNKNOWN)
        http_error(ex, 404, "not_found", "no API route %s %s", ex->method_name, ex->path);
    else if (ex->match.is_admin)
        http_admin(ex);
    else
        http_orders(ex);
}
