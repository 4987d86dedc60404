/*
 * items.c — order records as DynamoDB items (AttributeValue JSON), and the
 * opaque cursors of query_customer (the key of a page's last item, as hex
 * of its JSON, so a cursor is one token in a URL).
 */
#include "store_dynamodb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *sd_s(const char *s)
{
    return json_pack("{s:s}", "S", s);
}

json_t *sd_n(uint64_t n)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, n);
    return json_pack("{s:s}", "N", text);
}

json_t *sd_key(const char *order_id)
{
    return json_pack("{s:o}", "order_id", sd_s(order_id));
}

static void set_if(json_t *item, const char *name, const char *value)
{
    if (value != NULL && value[0] != '\0')
        json_object_set_new(item, name, sd_s(value));
}

json_t *sd_item_from_record(const keel_order_record_t *r, uint64_t now_ms)
{
    json_t *order = json_stringn(r->order_json, r->order_json_len);
    json_t *item = order ? json_pack("{s:o, s:o, s:o, s:o, s:{s:o}, s:o, s:o, s:o}", "order_id",
                                     sd_s(r->order_id), "customer_id", sd_s(r->customer_id),
                                     "status", sd_s(r->status ? r->status : ""), "payload_hash",
                                     sd_s(r->payload_hash), "order", "S", order, "created_at",
                                     sd_n(now_ms), "updated_at", sd_n(now_ms), "version", sd_n(1))
                         : NULL;
    if (item == NULL)
        return NULL;
    set_if(item, "confirmation_number", r->confirmation_number);
    set_if(item, "error", r->error);
    set_if(item, "message_id", r->message_id);
    return item;
}

/* The string of an S attribute, or NULL. */
static const char *get_s(json_t *item, const char *name, size_t *len)
{
    json_t *s = json_object_get(json_object_get(item, name), "S");
    if (!json_is_string(s))
        return NULL;
    if (len)
        *len = json_string_length(s);
    return json_string_value(s);
}

/* An N attribute as an unsigned integer; false when absent or not one. */
static bool get_n(json_t *item, const char *name, uint64_t *out)
{
    const char *text = json_string_value(json_object_get(json_object_get(item, name), "N"));
    if (text == NULL || *text < '0' || *text > '9')
        return false;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    *out = v;
    return *end == '\0';
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int sd_record_from_item(json_t *item, sd_rec_t *out)
{
    memset(out, 0, sizeof *out);
    keel_order_record_t *r = &out->r;
    r->order_id = get_s(item, "order_id", NULL);
    r->customer_id = get_s(item, "customer_id", NULL);
    r->status = get_s(item, "status", NULL);
    r->payload_hash = get_s(item, "payload_hash", NULL);
    r->order_json = get_s(item, "order", &r->order_json_len);
    if (r->order_id == NULL || r->customer_id == NULL || r->status == NULL ||
        r->payload_hash == NULL || r->order_json == NULL ||
        !get_n(item, "created_at", &r->created_at_ms) ||
        !get_n(item, "updated_at", &r->updated_at_ms) || !get_n(item, "version", &r->version))
        return KEEL_EIO; /* not an order item */
    r->confirmation_number = or_empty(get_s(item, "confirmation_number", NULL));
    r->error = or_empty(get_s(item, "error", NULL));
    r->message_id = or_empty(get_s(item, "message_id", NULL));
    out->item = json_incref(item);
    return 0;
}

void sd_rec_free(sd_rec_t *rec)
{
    json_decref(rec->item);
    memset(rec, 0, sizeof *rec);
}

char *sd_cursor_encode(const sd_rec_t *last)
{
    json_t *key = json_pack("{s:o, s:o, s:o}", "order_id", sd_s(last->r.order_id), "customer_id",
                            sd_s(last->r.customer_id), "created_at", sd_n(last->r.created_at_ms));
    char *text = key ? json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(key);
    if (text == NULL)
        return NULL;
    static const char digits[] = "0123456789abcdef";
    size_t n = strlen(text);
    char *hex = malloc(2 * n + 1);
    for (size_t i = 0; hex && i < n; i++) {
        hex[2 * i] = digits[(unsigned char)text[i] >> 4];
        hex[2 * i + 1] = digits[(unsigned char)text[i] & 15];
    }
    if (hex)
        hex[2 * n] = '\0';
    free(text);
    return hex;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

json_t *sd_cursor_decode(const char *cursor, const char *customer_id)
{
    size_t n = strlen(cursor);
    if (n == 0 || n % 2 != 0 || n > 4 * (2 * KEEL_STORE_MAX_ID + 64))
        return NULL;
    char *text = malloc(n / 2 + 1);
    if (text == NULL)
        return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(cursor[2 * i]), lo = hex_value(cursor[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(text);
            return NULL;
        }
        text[i] = (char)(hi << 4 | lo);
    }
    text[n / 2] = '\0';
    json_t *key = json_loads(text, 0, NULL);
    free(text);
    uint64_t created;
    const char *id = key ? get_s(key, "order_id", NULL) : NULL;
    const char *customer = key ? get_s(key, "customer_id", NULL) : NULL;
    if (id == NULL || customer == NULL || strcmp(customer, customer_id) != 0 ||
        !get_n(key, "created_at", &created) || json_object_size(key) != 3) {
        json_decref(key);
        return NULL; /* not a cursor of this customer's listing */
    }
    return key;
}
