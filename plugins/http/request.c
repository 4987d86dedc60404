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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A static name for the method token (logs and metrics keep it). */
enum { RESPOND_COPY_MAX = 16384 }; /* larger bodies are not pulled up */

static const char *method_name(const char *token)
{
    static const char *const known[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(token, known[i]) == 0)
            return known[i];
    return "OTHER";
}

const char *http_header(const http_exchange_t *ex, const char *name)
{
    return ex->head ? http_head_get(ex->buf, ex->head, name) : NULL;
}

void http_add_header(http_exchange_t *ex, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value), need = ex->out_len + nl + vl + 4;
    if (need > ex->out_cap) {
        size_t cap = ex->out_cap * 2 > need ? ex->out_cap * 2 : need;
        char *grown =
            ex->out_headers == ex->out_inline ? malloc(cap) : realloc(ex->out_headers, cap);
        if (grown == NULL)
            return;
        if (ex->out_headers == ex->out_inline)
            memcpy(grown, ex->out_inline, ex->out_len);
        ex->out_headers = grown;
        ex->out_cap = cap;
    }
    char *p = ex->out_headers + ex->out_len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    ex->out_len = need;
    if (strcasecmp(name, "Content-Length") == 0)
        ex->has_length = true;
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

/* One JSON line per answer, formatted here (no jansson tree per request):
 * {"method","path","query","status","bytes","latency_ms","request_id",
 * "client"}. */
static void access_log(http_exchange_t *ex, int status, size_t bytes, double seconds)
{
    http_server_t *srv = ex->loop->srv;
    if (!srv->cfg.access_log || !srv->host->log_enabled(srv->self, KEEL_LOG_INFO))
        return;
    char path[6 * sizeof ex->path + 3], query[6 * 512 + 3] = "null", latency[32];
    if (http_json_quote(path, sizeof path, ex->path) == 0)
        snprintf(path, sizeof path, "\"-\"");
    if (ex->query != NULL && http_json_quote(query, sizeof query, ex->query) == 0)
        snprintf(query, sizeof query, "\"(too long)\"");
    int n = snprintf(latency, sizeof latency, "%.4g", seconds * 1000.0);
    if (n > 0 && (size_t)n < sizeof latency - 2 && strpbrk(latency, ".e") == NULL)
        memcpy(latency + n, ".0", 3); /* a JSON real, as before */
    srv->host->log(srv->self, KEEL_LOG_INFO,
                   "access {\"method\":\"%s\",\"path\":%s,\"query\":%s,\"status\":%d,"
                   "\"bytes\":%zu,\"latency_ms\":%s,\"request_id\":\"%s\",\"client\":\"%s\"}",
                   ex->method_name, path, query, status, bytes, latency, ex->request_id,
                   ex->conn ? ex->conn->peer : "?");
}

static void respond(http_exchange_t *ex, int status, const void *data, size_t bytes,
                    struct evbuffer *body, const char *type);

void http_respond(http_exchange_t *ex, int status, struct evbuffer *body, const char *type)
{
    size_t bytes = body ? evbuffer_get_length(body) : 0;
    if (bytes > RESPOND_COPY_MAX) { /* a file: its chains move, never copied */
        respond(ex, status, NULL, bytes, body, type);
        return;
    }
    const void *data = bytes > 0 ? evbuffer_pullup(body, -1) : NULL;
    respond(ex, status, data, data ? bytes : 0, NULL, type);
}

void http_respond_data(http_exchange_t *ex, int status, const void *data, size_t bytes,
                       const char *type)
{
    respond(ex, status, data, bytes, NULL, type);
}

void http_exchange_free(http_exchange_t *ex)
{
    if (ex != NULL && ex->out_headers != ex->out_inline)
        free(ex->out_headers);
    free(ex);
}

static void respond(http_exchange_t *ex, int status, const void *data, size_t bytes,
                    struct evbuffer *body, const char *type)
{
    http_server_t *srv = ex->loop->srv;
    http_add_header(ex, "X-Request-Id", ex->request_id);
    if (ex->origin != NULL && ex->match.route != ROUTE_PREFLIGHT) {
        http_add_header(ex, "Access-Control-Allow-Origin", ex->origin);
        http_add_header(ex, "Vary", "Origin");
        http_add_header(ex, "Access-Control-Expose-Headers", srv->cfg.cors_expose);
        if (srv->cfg.cors_credentials)
            http_add_header(ex, "Access-Control-Allow-Credentials", "true");
    }
    http_conn_send(ex, status, data, bytes, body, type);

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double seconds = (double)(now.tv_sec - ex->started.tv_sec) +
                     (double)(now.tv_nsec - ex->started.tv_nsec) / 1e9;
    int cls = status / 100 - 2;
    cls = cls < 0 ? 0 : cls > 3 ? 3 : cls;
    srv->host->metric_add(srv->metrics.requests[ex->match.route][method_index(ex->method)][cls], 1);
    srv->host->metric_observe(srv->metrics.seconds[ex->match.route], seconds);
    access_log(ex, status, bytes, seconds);
    http_conn_t *conn = ex->conn;
    http_exchange_free(ex);
    if (conn != NULL)
        http_conn_answered(conn);
}

void http_respond_json(http_exchange_t *ex, int status, const char *json)
{
    size_t len = strlen(json);
    char stack[1024];
    char *text = len + 1 <= sizeof stack ? stack : malloc(len + 1);
    if (text == NULL) {
        http_respond_data(ex, 500, NULL, 0, NULL);
        return;
    }
    memcpy(text, json, len);
    text[len] = '\n';
    http_respond_data(ex, status, text, len + 1, "application/json");
    if (text != stack)
        free(text);
}

size_t http_json_quote(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    bool raw_ok = utf8_valid(s, strlen(s)); /* else bytes >= 0x80 are escaped too */
    size_t n = 0;
    if (cap < 3)
        return 0;
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (cap - n < 8)
            return 0; /* room for the longest escape, the quote and the NUL */
        if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
            out[n++] = (char)*p;
        } else if (*p < 0x20 || (*p >= 0x80 && !raw_ok)) {
            memcpy(out + n, "\\u00", 4);
            out[n + 4] = hex[*p >> 4];
            out[n + 5] = hex[*p & 15];
            n += 6;
        } else {
            out[n++] = (char)*p;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    return n;
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

const char *http_json_body_checked(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    const char *type = http_header(ex, "Content-Type");
    if (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
        (type[16] != '\0' && type[16] != ';' && type[16] != ' ')) {
        http_reject(srv, REJECT_BAD_BODY);
        http_error(ex, 415, "unsupported_media_type",
                   "the body must be JSON (Content-Type: application/json)");
        return NULL;
    }
    static const char *const problems[] = {
        [JSON_CHECK_UTF8] = "the body is not valid UTF-8",
        [JSON_CHECK_NUL] = "the body contains a NUL byte",
        [JSON_CHECK_DEPTH] = "the JSON body nests deeper than limits.max_json_depth",
    };
    json_check_t check = json_body_check(ex->body, ex->body_len, (int)srv->cfg.max_json_depth);
    if (check != JSON_CHECK_OK) {
        http_reject(srv, REJECT_BAD_BODY);
        http_error(ex, 400, "bad_request", "%s", problems[check]);
        return NULL;
    }
    return ex->body;
}

char *http_json_body(http_exchange_t *ex, size_t *len, bool allow_empty)
{
    size_t n = ex->body_len;
    *len = n;
    if (n == 0 && allow_empty)
        return strdup("");
    if (http_json_body_checked(ex) == NULL)
        return NULL;
    char *body = malloc(n + 1);
    if (body == NULL) {
        http_error(ex, 500, "internal", "out of memory");
        return NULL;
    }
    memcpy(body, ex->body, n);
    body[n] = '\0';
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
    bool any = cors_origin_allowed(cfg->cors_origins, cfg->cors_origin_count, "*") &&
               !cfg->cors_credentials;
    char max_age[32];
    snprintf(max_age, sizeof max_age, "%lld", (long long)cfg->cors_max_age_s);
    http_add_header(ex, "Access-Control-Allow-Origin", any ? "*" : origin);
    http_add_header(ex, "Vary", "Origin");
    http_add_header(ex, "Access-Control-Allow-Methods", cfg->cors_methods);
    http_add_header(ex, "Access-Control-Allow-Headers", cfg->cors_headers);
    http_add_header(ex, "Access-Control-Max-Age", max_age);
    if (cfg->cors_credentials)
        http_add_header(ex, "Access-Control-Allow-Credentials", "true");
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
        http_add_header(ex, "WWW-Authenticate", "Bearer");
        http_error(ex, 401, "unauthorized",
                   "an API key is required (Authorization: Bearer <key> or X-Api-Key)");
        return false;
    }
    char hash[AUTH_HASH_HEX + 1];
    auth_sha256_hex(srv->sha256, key, strlen(key), hash);
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
        auth_sha256_hex(srv->sha256, key, strlen(key), bucket + 2);
    } else {
        snprintf(bucket, sizeof bucket, "a:%s", ex->conn ? ex->conn->peer : "?");
    }
    uint32_t retry_after = 1;
    if (ratelimit_take(srv->ratelimit, bucket, srv->host->now_ms(srv->self), &retry_after))
        return false;
    char value[16];
    snprintf(value, sizeof value, "%u", retry_after);
    http_add_header(ex, "Retry-After", value);
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
        http_add_header(ex, "Retry-After", "1");
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

/* Splits the request target into the path (NUL-terminated in place) and
 * the query; an absolute-form target loses its scheme and authority. */
static char *split_target(char *target, const char **query)
{
    *query = NULL;
    if (strncasecmp(target, "http://", 7) == 0 || strncasecmp(target, "https://", 8) == 0) {
        char *slash = strchr(strchr(target, ':') + 3, '/');
        if (slash == NULL)
            return "/";
        target = slash;
    }
    char *hash = strchr(target, '#');
    if (hash != NULL)
        *hash = '\0';
    char *q = strchr(target, '?');
    if (q != NULL) {
        *q = '\0';
        *query = q + 1;
    }
    return target;
}

static void exchange_start(http_exchange_t *ex, const char *method)
{
    clock_gettime(CLOCK_MONOTONIC, &ex->started);
    ex->method_name = method_name(method);
    ex->method = route_method_bit(ex->method_name);
    ex->match.route = ROUTE_STATIC;
    const char *rid = http_header(ex, "X-Request-Id");
    if (request_id_valid(rid))
        snprintf(ex->request_id, sizeof ex->request_id, "%s", rid);
    else
        ex->loop->srv->host->new_id(ex->request_id);
}

void http_handle_error(http_exchange_t *ex, int status)
{
    exchange_start(ex, "");
    ex->match.route = ROUTE_API_UNKNOWN;
    ex->target_path = "-";
    snprintf(ex->path, sizeof ex->path, "-");
    http_server_t *srv = ex->loop->srv;
    switch (status) {
    case 413:
        http_reject(srv, REJECT_BAD_BODY);
        http_error(ex, 413, "payload_too_large",
                   "the body is larger than limits.max_body (%lld bytes)",
                   (long long)srv->cfg.max_body);
        break;
    case 431:
        http_reject(srv, REJECT_HEADERS);
        http_error(ex, 431, "headers_too_large",
                   "the request head is over limits.max_header_bytes (%lld bytes) or has more than "
                   "limits.max_headers (%lld) headers",
                   (long long)srv->cfg.max_header_bytes, (long long)srv->cfg.max_headers);
        break;
    case 501:
        http_error(ex, 501, "not_implemented", "only the chunked transfer coding is supported");
        break;
    case 505:
        http_error(ex, 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
        break;
    case 500:
        http_error(ex, 500, "internal", "out of memory");
        break;
    default:
        http_error(ex, 400, "bad_request", "malformed HTTP request");
        break;
    }
}

void http_handle(http_exchange_t *ex)
{
    http_server_t *srv = ex->loop->srv;
    exchange_start(ex, ex->buf + ex->head->method);
    const char *path = split_target(ex->buf + ex->head->target, &ex->query);
    ex->target_path = path;
    snprintf(ex->path, sizeof ex->path, "%s", *path ? path : "/");
    if (*path != '/') {
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

    const char *origin = http_header(ex, "Origin");
    if (origin != NULL &&
        cors_origin_allowed(srv->cfg.cors_origins, srv->cfg.cors_origin_count, origin))
        ex->origin = cors_origin_allowed(srv->cfg.cors_origins, srv->cfg.cors_origin_count, "*") &&
                             !srv->cfg.cors_credentials
                         ? "*"
                         : origin;
    const char *want_method = http_header(ex, "Access-Control-Request-Method");
    if (ex->method == HTTP_M_OPTIONS && origin != NULL && want_method != NULL) {
        ex->match.route = ROUTE_PREFLIGHT;
        preflight(ex, origin, want_method);
        return;
    }

    /* Routed by the decoded path: %3A in an order id is its ':' (decoding
     * refused encoded slashes, so the segments are those that were sent). */
    route_match(ex->method, path_rc == URLPATH_OK ? decoded : path, &ex->match);
    if (!ex->match.method_allowed) {
        char allow[96];
        route_allow_header(ex->match.allowed, allow, sizeof allow);
        http_add_header(ex, "Allow", allow);
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
    const char *key =
        auth_presented_key(http_header(ex, "Authorization"), http_header(ex, "X-Api-Key"));
    if (!authorize(ex, key) || rate_limited(ex, key))
        return;
    if (ex->match.route == ROUTE_API_UNKNOWN)
        http_error(ex, 404, "not_found", "no API route %s %s", ex->method_name, ex->path);
    else if (ex->match.is_admin)
        http_admin(ex);
    else
        http_orders(ex);
}
