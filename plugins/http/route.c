/* route.c — the route table: METHOD + path pattern ({name} matches one
 * segment of [A-Za-z0-9._:-]). Exact literal patterns come first, so an
 * exact match wins over a pattern with a variable. */
#include "route.h"

#include <stdio.h>
#include <string.h>

typedef struct route_entry {
    const char *pattern;
    unsigned methods;
    http_route_t route;
    bool admin;
} route_entry_t;

static const route_entry_t routes[] = {
    {"/healthz", HTTP_M_GET | HTTP_M_HEAD, ROUTE_HEALTHZ, false},
    {"/readyz", HTTP_M_GET | HTTP_M_HEAD, ROUTE_READYZ, false},
    {"/metrics", HTTP_M_GET | HTTP_M_HEAD, ROUTE_METRICS, false},
    {"/api/v1/admin/queues", HTTP_M_GET | HTTP_M_HEAD, ROUTE_ADMIN_QUEUES, true},
    {"/api/v1/admin/queues/{q}/dlq", HTTP_M_GET | HTTP_M_HEAD, ROUTE_ADMIN_DLQ_LIST, true},
    {"/api/v1/admin/queues/{q}/dlq", HTTP_M_DELETE, ROUTE_ADMIN_DLQ_PURGE, true},
    {"/api/v1/admin/queues/{q}/dlq/redrive", HTTP_M_POST, ROUTE_ADMIN_DLQ_REDRIVE, true},
    /* Answered 404 by orders.c unless queue, validate and store are set. */
    {"/api/v1/orders", HTTP_M_POST, ROUTE_ORDERS_CREATE, false},
    {"/api/v1/orders", HTTP_M_GET | HTTP_M_HEAD, ROUTE_ORDERS_LIST, false},
    {"/api/v1/orders/{id}", HTTP_M_GET | HTTP_M_HEAD, ROUTE_ORDER_GET, false},
    /* After .../dlq/redrive, which keeps that path (GET there is 405). */
    {"/api/v1/admin/queues/{q}/dlq/{id}", HTTP_M_GET | HTTP_M_HEAD, ROUTE_ADMIN_DLQ_SHOW, true},
    {"/api/v1/admin/backup", HTTP_M_POST, ROUTE_ADMIN_BACKUP_START, true},
    {"/api/v1/admin/backup", HTTP_M_GET | HTTP_M_HEAD, ROUTE_ADMIN_BACKUP_STATUS, true},
    {"/api/v1/admin/plugins", HTTP_M_GET | HTTP_M_HEAD, ROUTE_ADMIN_PLUGINS, true},
};

static const char *const route_names[ROUTE_COUNT] = {
    "healthz",
    "readyz",
    "metrics",
    "admin_queues",
    "admin_dlq_list",
    "admin_dlq_purge",
    "admin_dlq_redrive",
    "api_unknown",
    "static",
    "preflight",
    "orders_create",
    "orders_list",
    "order_get",
    "admin_dlq_show",
    "admin_backup_start",
    "admin_backup_status",
    "admin_plugins",
};

const char *route_name(http_route_t route)
{
    return route < ROUTE_COUNT ? route_names[route] : "unknown";
}

static bool param_char(char c)
{
    /* Queue names and order ids ([A-Za-z0-9._:-], see validate.h). */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':';
}

/* Matches one pattern; copies the variable segments into params[0..1]. */
static bool pattern_match(const char *pattern, const char *path,
                          char params[2][ROUTE_PARAM_MAX + 1], int *var_count)
{
    const char *p = pattern, *s = path;
    int vars = 0;
    while (*p != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (close == NULL)
                return false;
            size_t n = 0;
            while (param_char(s[n]))
                n++;
            if (n == 0 || n > ROUTE_PARAM_MAX || (s[n] != '/' && s[n] != '\0') || vars > 1)
                return false;
            memcpy(params[vars], s, n);
            params[vars++][n] = '\0';
            s += n;
            p = close + 1;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    *var_count = vars;
    return *s == '\0';
}

void route_match(unsigned method, const char *path, route_match_t *out)
{
    memset(out, 0, sizeof *out);
    char params[2][ROUTE_PARAM_MAX + 1];
    bool found = false;
    int found_vars = 0, vars = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        params[0][0] = params[1][0] = '\0';
        if (!pattern_match(routes[i].pattern, path, params, &vars))
            continue;
        /* The first pattern that matched decides: one with more variables
         * (.../dlq/{id} for .../dlq/redrive) does not add its methods. */
        if (found && vars != found_vars)
            continue;
        found_vars = vars;
        out->allowed |= routes[i].methods;
        if (!found || (routes[i].methods & method) != 0) {
            out->route = routes[i].route;
            out->is_admin = routes[i].admin;
            out->method_allowed = (routes[i].methods & method) != 0;
            memcpy(out->param, params[0], sizeof out->param);
            memcpy(out->param2, params[1], sizeof out->param2);
            found = true;
        }
    }
    if (found) {
        out->is_api = strncmp(path, "/api/", 5) == 0;
        return;
    }
    if (strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0) {
        out->route = ROUTE_API_UNKNOWN;
        out->is_api = true;
        out->method_allowed = true;
        return;
    }
    out->route = ROUTE_STATIC;
    out->allowed = HTTP_M_GET | HTTP_M_HEAD;
    out->method_allowed = (method & out->allowed) != 0;
}

unsigned route_method_bit(const char *method)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"GET", HTTP_M_GET},    {"HEAD", HTTP_M_HEAD},     {"POST", HTTP_M_POST},
                 {"PUT", HTTP_M_PUT},    {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
                 {"PATCH", HTTP_M_PATCH}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(method, names[i].name) == 0)
            return names[i].bit;
    return HTTP_M_OTHER;
}

void route_allow_header(unsigned methods, char *out, size_t cap)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((methods & (1U << i)) == 0)
            continue;
        int n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
}

bool request_id_valid(const char *id)
{
    if (id == NULL)
        return false;
    size_t n = 0;
    for (; id[n] != '\0'; n++)
        if (n >= 128 || !param_char(id[n]))
            return false;
    return n >= 1;
}
