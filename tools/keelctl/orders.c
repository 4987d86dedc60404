/* orders.c — keelctl orders get|list and submit. */
#include "keelctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void order_lines(json_t *d)
{
    static const char *const keys[] = {
        "order_id", "customer_id", "status",    "confirmation_number",
        "error",    "created_at",  "updated_at"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = jstr(d, keys[i]);
        if (*v)
            printf("%-20s %s\n", keys[i], v);
    }
    json_t *order = json_object_get(d, "order");
    if (order != NULL) {
        char *text =
            json_dumps(order, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        printf("order\n%s\n", text ? text : "");
        free(text);
    }
}

static int order_get(const opts_t *o)
{
    if (o->nargs != 2) {
        fprintf(stderr, "usage: keelctl orders get ID\n");
        return EXIT_USAGE;
    }
    char *id = url_escape(o->args[1]);
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/orders/%s", id ? id : "");
    free(id);
    reply_t r;
    int rc = client_call(o, "GET", path, NULL, &r);
    if (rc != EXIT_OK)
        return rc;
    if (r.status != 200 || r.json == NULL) {
        rc = report_failure(o, path, &r);
        if (r.status == 404)
            fprintf(stderr, "keelctl: no order '%s'\n", o->args[1]);
        reply_free(&r);
        return rc ? rc : EXIT_SERVER;
    }
    if (o->json)
        print_json(r.json);
    else
        order_lines(r.json);
    reply_free(&r);
    return EXIT_OK;
}

static int order_list(const opts_t *o)
{
    if (o->customer == NULL || o->nargs != 1) {
        fprintf(stderr, "usage: keelctl orders list --customer C [--limit N] [--all]\n");
        return EXIT_USAGE;
    }
    long limit = o->limit ? o->limit : 20;
    if (limit > 100) {
        fprintf(stderr, "keelctl: orders list: --limit is at most 100\n");
        return EXIT_USAGE;
    }
    char *customer = url_escape(o->customer);
    json_t *all = json_array(), *next = json_null();
    char *cursor = NULL;
    int rc = EXIT_OK;
    for (;;) {
        char path[2048];
        snprintf(path, sizeof path, "/api/v1/orders?customer_id=%s&limit=%ld%s%s",
                 customer ? customer : "", limit, cursor ? "&cursor=" : "", cursor ? cursor : "");
        free(cursor);
        cursor = NULL;
        reply_t r;
        if ((rc = client_call(o, "GET", path, NULL, &r)) != EXIT_OK)
            break;
        if (r.status != 200 || r.json == NULL) {
            rc = r.status == 200 ? EXIT_SERVER : report_failure(o, "GET /api/v1/orders", &r);
            reply_free(&r);
            break;
        }
        json_array_extend(all, json_object_get(r.json, "orders"));
        json_decref(next);
        next = json_incref(json_object_get(r.json, "next_cursor"));
        if (next == NULL)
            next = json_null();
        const char *text = json_string_value(next);
        if (o->all && text != NULL)
            cursor = url_escape(text);
        reply_free(&r);
        if (cursor == NULL)
            break;
    }
    free(customer);
    if (rc == EXIT_OK) {
        if (o->json) {
            json_t *j = json_pack("{s:s, s:O, s:O}", "customer_id", o->customer, "orders", all,
                                  "next_cursor", next);
            print_json(j);
            json_decref(j);
        } else {
            static const char *const head[] = {"ORDER_ID", "STATUS", "CONFIRMATION", "CREATED_AT",
                                               "UPDATED_AT"};
            table_t *t = table_new(head, 5);
            json_t *d;
            size_t i;
            json_array_foreach(all, i, d)
            {
                const char *row[] = {jstr(d, "order_id"), jstr(d, "status"),
                                     jstr(d, "confirmation_number"), jstr(d, "created_at"),
                                     jstr(d, "updated_at")};
                table_row(t, row);
            }
            table_print(t);
            table_free(t);
            if (json_is_string(next))
                printf("(more: --all, or the next page's cursor %s)\n", json_string_value(next));
        }
    }
    json_decref(all);
    json_decref(next);
    return rc;
}

int cmd_orders(const opts_t *o)
{
    const char *sub = o->nargs > 0 ? o->args[0] : "";
    if (strcmp(sub, "get") == 0)
        return order_get(o);
    if (strcmp(sub, "list") == 0)
        return order_list(o);
    fprintf(stderr,
            "usage: keelctl orders get ID | orders list --customer C [--limit N] [--all]\n");
    return EXIT_USAGE;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                free(buf);
                return NULL;
            }
            break;
        }
        cap *= 2;
        char *grown = realloc(buf, cap + 1);
        if (grown == NULL)
            free(buf);
        buf = grown;
    }
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

int cmd_submit(const opts_t *o)
{
    if (o->nargs != 1) {
        fprintf(stderr, "usage: keelctl submit FILE (or - for stdin)\n");
        return EXIT_USAGE;
    }
    const char *name = o->args[0];
    FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
    if (f == NULL)
        return fail_local(o, "bad_input", EXIT_USAGE, "%s: %s", name, strerror(errno));
    size_t len = 0;
    char *body = read_all(f, &len);
    if (f != stdin)
        fclose(f);
    if (body == NULL)
        return fail_local(o, "bad_input", EXIT_USAGE, "cannot read %s", name);
    if (strlen(body) != len) {
        free(body);
        return fail_local(o, "bad_input", EXIT_USAGE, "%s holds a NUL byte; an order is JSON text",
                          name);
    }
    reply_t r;
    int rc = client_call(o, "POST", "/api/v1/orders", body, &r);
    free(body);
    if (rc != EXIT_OK)
        return rc;
    if (r.status != 202 && r.status != 200) {
        rc = report_failure(o, "POST /api/v1/orders", &r);
        json_t *details = json_object_get(r.json, "details");
        if (!o->json && details != NULL) {
            char *text = json_dumps(details, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
            fprintf(stderr, "%s\n", text ? text : "");
            free(text);
        }
        reply_free(&r);
        return rc;
    }
    if (o->json)
        print_json(r.json);
    else
        printf("%s %s%s\n", jstr(r.json, "order_id"), jstr(r.json, "status"),
               r.status == 200 ? " (already submitted: nothing new stored)" : "");
    reply_free(&r);
    return EXIT_OK;
}
