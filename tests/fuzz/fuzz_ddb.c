/*
 * fuzz_ddb.c — what the DynamoDB store reads from the network: response
 * headers (x-amzn-errortype, x-amz-crc32), error bodies (__type, message)
 * and their classification, order items (sd_record_from_item) and the
 * paging cursors clients send back (sd_cursor_decode).
 *
 * The input is a response: header lines, an empty line, the body. client.c
 * is included for its static curl callbacks and classifiers; no request is
 * ever made.
 */
#include "../../plugins/store_dynamodb/client.c"

#include "store_dynamodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void check_record(json_t *item)
{
    sd_rec_t rec;
    if (sd_record_from_item(item, &rec) != 0)
        return;
    if (rec.r.order_id == NULL || rec.r.customer_id == NULL || rec.r.confirmation_number == NULL)
        abort();
    char *cursor = sd_cursor_encode(&rec);
    if (cursor != NULL) {
        /* A cursor of a record must decode for its own customer. */
        json_t *key = sd_cursor_decode(cursor, rec.r.customer_id);
        if (key == NULL && strlen(cursor) <= 4 * (2 * KEEL_STORE_MAX_ID + 64) &&
            strlen(rec.r.order_id) == strnlen(rec.r.order_id, KEEL_STORE_MAX_ID) &&
            strlen(rec.r.customer_id) == json_string_length(json_object_get(
                                             json_object_get(rec.item, "customer_id"), "S")) &&
            strlen(rec.r.order_id) ==
                json_string_length(json_object_get(json_object_get(rec.item, "order_id"), "S")))
            abort();
        json_decref(key);
        free(cursor);
    }
    sd_rec_free(&rec);
}

static void fuzz_response(const char *head, size_t head_len, const char *body, size_t body_len,
                          long http)
{
    ddb_client_t c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mlock, NULL);
    ddb_worker_t w;
    memset(&w, 0, sizeof w);
    w.c = &c;

    /* curl hands header lines over one at a time, with their CRLF. */
    for (const char *line = head, *end = head + head_len; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) + 1 : (size_t)(end - line);
        char *copy = malloc(len ? len : 1);
        if (copy == NULL)
            break;
        memcpy(copy, line, len);
        if (on_header(copy, 1, len, &w) != len)
            abort();
        free(copy);
        line += len;
    }
    if (body_len > 0 && on_body((char *)body, 1, body_len, &w) != body_len)
        abort();
    int status = 0;
    enum ddb_class cls = classify_http(&c, &w, http, &status);
    if (cls == DDB_FATAL && status >= 0)
        abort();
    if (strlen(w.etype) >= sizeof w.etype || strlen(w.msg) >= sizeof w.msg)
        abort();
    free(w.buf);
    pthread_mutex_destroy(&c.mlock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *split = NULL;
    for (size_t i = 0; i + 1 < size && split == NULL; i++)
        if (text[i] == '\n' &&
            (text[i + 1] == '\n' || (text[i + 1] == '\r' && i + 2 < size && text[i + 2] == '\n')))
            split = text + i + 1;
    size_t head_len = split ? (size_t)(split - text) : 0;
    const char *body = split ? split + (*split == '\r' ? 2 : 1) : text;
    size_t body_len = size - (size_t)(body - text);

    static const long codes[] = {200, 400, 429, 500};
    long http = codes[(size ? data[size - 1] : 0) & 3];
    fuzz_response(text, head_len, body, body_len, http);

    json_t *j = json_loadb(body, body_len, 0, NULL);
    if (json_is_object(j)) {
        check_record(j);
        check_record(json_object_get(j, "Item"));
        check_record(json_object_get(j, "Attributes"));
        json_t *items = json_object_get(j, "Items");
        for (size_t i = 0; i < json_array_size(items); i++)
            check_record(json_array_get(items, i));
    }
    json_decref(j);

    /* The first header line as a cursor (as it arrives in ?cursor=). */
    char *cursor = malloc(head_len + 1);
    if (cursor != NULL) {
        memcpy(cursor, text, head_len);
        cursor[head_len] = '\0';
        cursor[strcspn(cursor, "\r\n")] = '\0';
        json_t *key = sd_cursor_decode(cursor, "CUST-6789");
        sink += key != NULL;
        json_decref(key);
        free(cursor);
    }
    return 0;
}
