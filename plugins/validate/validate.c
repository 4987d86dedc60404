/* validate.c — the plugin: its config keys, the service vtable
 * (KEEL_VALIDATE_INTERFACE) and order_parse()/order_free().
 *
 * The config is read once in init() into an immutable validate_ctx_t, and
 * each order_parse() works in its own arena, so calls from any number of
 * threads need no lock. See README.md for the rules and the output format. */
#include "validate_impl.h"

#include <stdlib.h>
#include <string.h>

static const keel_config_key_t validate_keys[] = {
    {"max_depth", KEEL_CFG_INT, "32", "deepest JSON nesting accepted (3..10000)", 0, NULL},
    {"max_items", KEEL_CFG_INT, "100", "most items in one order", 0, NULL},
    {"max_quantity", KEEL_CFG_INT, "10000", "largest quantity of one item", 0, NULL},
    {"max_id_length", KEEL_CFG_INT, "64",
     "longest order_id, customer_id or product_id (characters of [A-Za-z0-9._:-])", 0, NULL},
    {"max_string_length", KEEL_CFG_INT, "256",
     "longest free-text string (name, payment_method, address fields), in characters", 0, NULL},
    {"max_decimals", KEEL_CFG_INT, "2", "most decimals of a price or amount (0..6)", 0, NULL},
    {"max_amount", KEEL_CFG_STRING, "1000000.00",
     "largest price or amount, as decimal text (exact, never a float)", 0, NULL},
    {"check_total", KEEL_CFG_BOOL, "true",
     "when amount is given, it must equal the sum of quantity x price", 0, NULL},
    {"allow_unknown_fields", KEEL_CFG_BOOL, "false",
     "accept (and drop) fields the order shapes do not know, instead of refusing them", 0, NULL},
    {NULL, 0, NULL, NULL, 0, NULL},
};

void vr_error(vresult_t *r, const char *parent, long index, const char *field, const char *code,
              const char *fmt, ...)
{
    if (r->oom)
        return;
    if (r->error_count == r->error_cap) {
        size_t cap = r->error_cap ? r->error_cap * 2 : 8;
        keel_validation_error_t *grown = arena_alloc(r->arena, cap * sizeof *grown);
        if (grown == NULL) {
            r->oom = true;
            return;
        }
        if (r->error_count)
            memcpy(grown, r->errors, r->error_count * sizeof *grown);
        r->errors = grown;
        r->error_cap = cap;
    }
    char *path;
    if (parent != NULL && index >= 0)
        path = field != NULL ? arena_printf(r->arena, "%s[%ld].%s", parent, index, field)
                             : arena_printf(r->arena, "%s[%ld]", parent, index);
    else if (parent != NULL)
        path = field != NULL ? arena_printf(r->arena, "%s.%s", parent, field)
                             : arena_printf(r->arena, "%s", parent);
    else
        path = arena_printf(r->arena, "%s", field != NULL ? field : "");
    va_list ap;
    va_start(ap, fmt);
    char *message = arena_vprintf(r->arena, fmt, ap);
    va_end(ap);
    if (path == NULL || message == NULL) {
        r->oom = true;
        return;
    }
    r->errors[r->error_count++] = (keel_validation_error_t){path, code, message};
}

static int order_parse(void *svc_ctx, const void *json, size_t len, const char *assign_id,
                       keel_order_t **out)
{
    const validate_ctx_t *ctx = svc_ctx;
    if (ctx == NULL || out == NULL || (json == NULL && len > 0))
        return KEEL_EINVAL;
    *out = NULL;
    arena_t *arena = arena_new();
    if (arena == NULL)
        return KEEL_ENOMEM;
    vresult_t *r = arena_alloc(arena, sizeof *r);
    if (r == NULL) {
        arena_free(arena);
        return KEEL_ENOMEM;
    }
    memset(r, 0, sizeof *r);
    r->arena = arena;

    jv_t *root = NULL;
    json_failure_t why;
    int rc = json_tree_parse(arena, json != NULL ? json : "", len, ctx->max_depth, &root, &why);
    if (rc == 1) {
        r->pub.status = KEEL_EINVAL;
        vr_error(r, NULL, -1, NULL, why.code, "%s", why.message);
    } else if (rc == 0) {
        order_t order;
        rules_check(r, ctx, root, assign_id, &order);
        if (r->error_count > 0) {
            r->pub.status = KEEL_EFAILED;
        } else if (!r->oom) {
            rc = canon_write(r, ctx, &order);
            /* Both may point into the body or the caller's assign_id, which
             * may not outlive us. */
            r->pub.order_id = arena_strndup(arena, order.order_id.s, order.order_id.len);
            r->pub.customer_id = arena_strndup(arena, order.customer_id.s, order.customer_id.len);
            if (r->pub.order_id == NULL || r->pub.customer_id == NULL)
                rc = KEEL_ENOMEM;
        }
    }
    if (rc < 0 || r->oom) {
        arena_free(arena);
        return KEEL_ENOMEM;
    }
    if (r->pub.status != 0)
        r->pub.id_assigned = false;
    r->pub.errors = r->errors;
    r->pub.error_count = r->error_count;
    *out = &r->pub;
    return 0;
}

static void order_free(void *svc_ctx, keel_order_t *order)
{
    (void)svc_ctx;
    if (order != NULL)
        arena_free(((vresult_t *)order)->arena);
}

static const keel_validate_api_t validate_api = {
    .struct_size = sizeof(keel_validate_api_t),
    .order_parse = order_parse,
    .order_free = order_free,
};

/* Reads INT key `name` into *out, refusing values outside [lo, hi]. */
static int read_int(keel_plugin_t *self, const keel_host_api_t *host, const char *name, int64_t lo,
                    int64_t hi, int64_t *out)
{
    int rc = host->config_int(self, name, out);
    if (rc != 0) {
        host->log(self, KEEL_LOG_ERROR, "validate: cannot read %s (%d)", name, rc);
        return rc;
    }
    if (*out < lo || *out > hi) {
        host->log(self, KEEL_LOG_ERROR, "validate: %s is %lld; it must be between %lld and %lld",
                  name, (long long)*out, (long long)lo, (long long)hi);
        return KEEL_EINVAL;
    }
    return 0;
}

static int read_config(keel_plugin_t *self, const keel_host_api_t *host, validate_ctx_t *c)
{
    int64_t depth, items, quantity, id_len, str_len, decimals;
    int rc;
    if ((rc = read_int(self, host, "max_depth", 3, 10000, &depth)) != 0 ||
        (rc = read_int(self, host, "max_items", 1, 1000000, &items)) != 0 ||
        (rc = read_int(self, host, "max_quantity", 1, 1000000000, &quantity)) != 0 ||
        (rc = read_int(self, host, "max_id_length", 1, 4096, &id_len)) != 0 ||
        (rc = read_int(self, host, "max_string_length", 1, 1 << 20, &str_len)) != 0 ||
        (rc = read_int(self, host, "max_decimals", 0, 6, &decimals)) != 0)
        return rc;
    c->max_depth = (unsigned)depth;
    c->max_items = (size_t)items;
    c->max_quantity = quantity;
    c->max_id_length = (size_t)id_len;
    c->max_string_length = (size_t)str_len;
    c->max_decimals = (unsigned)decimals;
    c->out_decimals = c->max_decimals > 2 ? c->max_decimals : 2;
    c->scale = 1;
    for (unsigned k = 0; k < c->out_decimals; k++)
        c->scale *= 10;
    if ((rc = host->config_bool(self, "check_total", &c->check_total)) != 0 ||
        (rc = host->config_bool(self, "allow_unknown_fields", &c->allow_unknown_fields)) != 0) {
        host->log(self, KEEL_LOG_ERROR, "validate: cannot read a boolean key (%d)", rc);
        return rc;
    }
    const char *max_amount = NULL;
    if ((rc = host->config_string(self, "max_amount", &max_amount)) != 0)
        return rc;
    /* Same parser as the orders; yajl's number grammar is not enforced
     * here, so refuse anything but digits and one dot first. */
    size_t len = strlen(max_amount);
    bool plain = len > 0 && max_amount[0] != '.' && max_amount[len - 1] != '.' &&
                 strspn(max_amount, "0123456789.") == len &&
                 (strchr(max_amount, '.') == strrchr(max_amount, '.'));
    if (!plain || value_decimal(max_amount, len, c->max_decimals, c->out_decimals,
                                &c->max_amount) != VALUE_OK) {
        host->log(self, KEEL_LOG_ERROR,
                  "validate: max_amount \"%s\" must be a decimal such as 1000000.00 with at most "
                  "max_decimals (%u) decimals",
                  max_amount, c->max_decimals);
        return KEEL_EINVAL;
    }
    return 0;
}

static int validate_init(keel_plugin_t *self, const keel_host_api_t *host, void **ctx)
{
    validate_ctx_t *c = host->calloc(1, sizeof *c);
    if (c == NULL)
        return KEEL_ENOMEM;
    c->host = host;
    int rc = read_config(self, host, c);
    if (rc == 0)
        rc = host->service_provide(self, KEEL_VALIDATE_INTERFACE, KEEL_VALIDATE_VERSION,
                                   &validate_api, c);
    if (rc != 0) {
        host->free(c);
        return rc;
    }
    *ctx = c;
    return 0;
}

static void validate_destroy(void *ctx)
{
    validate_ctx_t *c = ctx;
    c->host->free(c);
}

KEEL_PLUGIN_DECLARE(.name = "validate", .version = "1.0.0",
                    .description = "parses, normalises and validates orders (both shapes)",
                    .config_keys = validate_keys, .init = validate_init,
                    .destroy = validate_destroy);
