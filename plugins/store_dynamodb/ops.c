/*
 * ops.c — the store functions on DynamoDB, and the pipeline step. Each
 * function checks its arguments, builds the request and returns; the
 * answer arrives on a client worker thread (sd_request), where the next
 * request of a multi-step operation starts or the caller's callback runs.
 */
#include "store_dynamodb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- requests ----------------------------------------------------------- */

typedef struct sd_call {
    sd_t *sd;
    sd_done_fn done;
    void *arg;
} sd_call_t;

static void on_response(void *arg, const ddb_response_t *r)
{
    sd_call_t *call = arg;
    json_t *body = NULL;
    int status = r->status;
    if ((status == 0 || status == KEEL_ECONFLICT) && r->body_len > 0) {
        body = json_loadb(r->body, r->body_len, 0, NULL);
        if (body == NULL && status == 0)
            status = KEEL_EIO; /* a 200 that is not JSON */
    }
    char message[300];
    snprintf(message, sizeof message, "%s%s%s", r->error_type, r->error_type[0] ? ": " : "",
             r->message);
    sd_note_outcome(call->sd, status, message);
    call->done(call->sd, call->arg, status, body, message);
    json_decref(body);
    free(call);
}

int sd_request(sd_t *sd, const char *operation, json_t *body, sd_done_fn done, void *arg)
{
    if (body == NULL)
        return KEEL_ENOMEM;
    json_object_set_new(body, "TableName", json_string(sd->table));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    sd_call_t *call = malloc(sizeof *call);
    if (text == NULL || call == NULL) {
        free(text);
        free(call);
        return KEEL_ENOMEM;
    }
    *call = (sd_call_t){sd, done, arg};
    int rc = ddb_call(sd->client, operation, text, strlen(text), on_response, call);
    free(text);
    if (rc != 0)
        free(call);
    return rc;
}

/* What a store caller is told about a failed request. */
static int backend_status(int status)
{
    switch (status) {
    case KEEL_EFULL:
    case KEEL_ESHUTDOWN:
    case KEEL_ENOMEM:
        return status;
    case KEEL_EINVAL: /* DynamoDB refused the request itself */
        return KEEL_EIO;
    default: /* outages, throttling, credentials, a missing table */
        return KEEL_EUNAVAIL;
    }
}

/* ---- argument checks (as store_lmdb's) ---------------------------------- */

static bool valid_text(const char *s, size_t max, bool empty_ok)
{
    if (s == NULL)
        return false;
    size_t n = strnlen(s, max + 1);
    return n <= max && (empty_ok || n > 0);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static bool valid_hash(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static bool valid_record(const keel_order_record_t *r)
{
    return r != NULL && valid_text(r->order_id, KEEL_STORE_MAX_ID, false) &&
           valid_text(r->customer_id, KEEL_STORE_MAX_ID, false) &&
           valid_text(or_empty(r->status), KEEL_STORE_MAX_ID, true) &&
           valid_text(or_empty(r->confirmation_number), KEEL_STORE_MAX_ID, true) &&
           valid_text(or_empty(r->error), SD_MAX_ERROR, true) &&
           valid_text(or_empty(r->message_id), KEEL_STORE_MAX_ID, true) &&
           valid_hash(r->payload_hash) && r->order_json != NULL && r->order_json_len > 0 &&
           r->order_json_len <= SD_MAX_JSON && strchr(r->order_id, '#') == NULL;
}

/* ---- operations on one record ------------------------------------------- */

typedef struct op {
    keel_store_record_fn done;
    void *arg;
    json_t *item;   /* put: what was written */
    char *order_id; /* put, update: for the re-read */
    uint64_t expected;
    char *upd[3];   /* update: status, confirmation_number, error (NULL: keep) */
    bool not_order; /* get: the key of a sequence counter, never an order */
} op_t;

static void op_free(op_t *op)
{
    json_decref(op->item);
    free(op->order_id);
    for (int i = 0; i < 3; i++)
        free(op->upd[i]);
    free(op);
}

/* Answers with the record in `item` (status unless it does not decode). */
static void answer_item(op_t *op, int status, json_t *item)
{
    sd_rec_t rec;
    if (item == NULL || sd_record_from_item(item, &rec) != 0) {
        op->done(op->arg, item == NULL && status != 0 ? status : KEEL_EIO, NULL);
    } else {
        op->done(op->arg, status, &rec.r);
        sd_rec_free(&rec);
    }
    op_free(op);
}

static json_t *get_body(const char *order_id)
{
    return json_pack("{s:o, s:b}", "Key", sd_key(order_id), "ConsistentRead", 1);
}

static void on_get(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)sd, (void)message;
    op_t *op = arg;
    json_t *item = json_object_get(body, "Item");
    if (status != 0)
        answer_item(op, backend_status(status), NULL);
    else if (item == NULL || op->not_order)
        answer_item(op, KEEL_ENOTFOUND, NULL); /* none, or a sequence counter */
    else
        answer_item(op, 0, item);
}

/* A conditional write failed: read the record and decide (put, update). */
static void on_reread(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)sd, (void)message;
    op_t *op = arg;
    json_t *item = json_object_get(body, "Item");
    sd_rec_t stored;
    if (status != 0) {
        answer_item(op, backend_status(status), NULL);
        return;
    }
    if (item == NULL || sd_record_from_item(item, &stored) != 0) {
        /* put: deleted in between; update: it does not exist. */
        answer_item(op, op->item ? KEEL_EUNAVAIL : KEEL_ENOTFOUND, NULL);
        return;
    }
    int answer;
    if (op->item != NULL) { /* put */
        const char *mine =
            json_string_value(json_object_get(json_object_get(op->item, "payload_hash"), "S"));
        answer = mine && strcmp(mine, stored.r.payload_hash) == 0 ? KEEL_EEXIST : KEEL_ECONFLICT;
    } else { /* update: our own write whose answer was lost looks like this */
        const keel_order_record_t *r = &stored.r;
        bool mine = op->expected != 0 && r->version == op->expected + 1 &&
                    strcmp(r->status, op->upd[0]) == 0 &&
                    (!op->upd[1] || strcmp(r->confirmation_number, op->upd[1]) == 0) &&
                    (!op->upd[2] || strcmp(r->error, op->upd[2]) == 0);
        answer = mine ? 0 : KEEL_ESTALE;
    }
    sd_rec_free(&stored);
    answer_item(op, answer, item);
}

static void reread(sd_t *sd, op_t *op)
{
    int rc = sd_request(sd, "GetItem", get_body(op->order_id), on_reread, op);
    if (rc != 0)
        answer_item(op, backend_status(rc), NULL);
}

static void on_put(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)body, (void)message;
    op_t *op = arg;
    if (status == KEEL_ECONFLICT)
        reread(sd, op);
    else if (status != 0)
        answer_item(op, backend_status(status), NULL);
    else
        answer_item(op, 0, op->item);
}

static int sd_put(void *ctx, const keel_order_record_t *record, keel_store_record_fn done,
                  void *arg)
{
    sd_t *sd = ctx;
    if (done == NULL || !valid_record(record))
        return KEEL_EINVAL;
    if (atomic_load(&sd->stopping))
        return KEEL_ESHUTDOWN;
    op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return KEEL_ENOMEM;
    op->done = done;
    op->arg = arg;
    op->order_id = strdup(record->order_id);
    op->item = sd_item_from_record(record, sd->host->now_ms(sd->self));
    json_t *body = op->item && op->order_id
                       ? json_pack("{s:O, s:s}", "Item", op->item, "ConditionExpression",
                                   "attribute_not_exists(order_id)")
                       : NULL;
    int rc = sd_request(sd, "PutItem", body, on_put, op);
    if (rc != 0)
        op_free(op);
    return rc;
}

static int sd_get(void *ctx, const char *order_id, keel_store_record_fn done, void *arg)
{
    sd_t *sd = ctx;
    if (done == NULL || !valid_text(order_id, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    if (atomic_load(&sd->stopping))
        return KEEL_ESHUTDOWN;
    op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return KEEL_ENOMEM;
    op->done = done;
    op->arg = arg;
    op->not_order = strchr(order_id, '#') != NULL;
    int rc = sd_request(sd, "GetItem", get_body(order_id), on_get, op);
    if (rc != 0)
        op_free(op);
    return rc;
}

static void on_update(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)message;
    op_t *op = arg;
    if (status == KEEL_ECONFLICT)
        reread(sd, op);
    else if (status != 0)
        answer_item(op, backend_status(status), NULL);
    else
        answer_item(op, 0, json_object_get(body, "Attributes"));
}

static int sd_update(void *ctx, const char *order_id, uint64_t expected_version,
                     const keel_order_update_t *update, keel_store_record_fn done, void *arg)
{
    sd_t *sd = ctx;
    if (done == NULL || update == NULL || !valid_text(order_id, KEEL_STORE_MAX_ID, false) ||
        !valid_text(update->status, KEEL_STORE_MAX_ID, false) ||
        (update->confirmation_number != NULL &&
         !valid_text(update->confirmation_number, KEEL_STORE_MAX_ID, true)) ||
        (update->error != NULL && !valid_text(update->error, SD_MAX_ERROR, true)))
        return KEEL_EINVAL;
    if (atomic_load(&sd->stopping))
        return KEEL_ESHUTDOWN;
    op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return KEEL_ENOMEM;
    op->done = done;
    op->arg = arg;
    op->expected = expected_version;
    op->order_id = strdup(order_id);
    const char *fields[3] = {update->status, update->confirmation_number, update->error};
    for (int i = 0; i < 3; i++)
        if (fields[i] != NULL)
            op->upd[i] = strdup(fields[i]);
    /* SET what is given (empty optional strings are REMOVEd: DynamoDB items
     * carry no empty confirmation_number or error). */
    char set[200] = "SET #s = :s, #u = :now", remove[64] = "";
    json_t *values = json_pack("{s:o, s:o, s:o}", ":s", sd_s(update->status), ":now",
                               sd_n(sd->host->now_ms(sd->self)), ":one", sd_n(1));
    /* DynamoDB refuses names and values that no expression uses. */
    json_t *names = json_pack("{s:s, s:s, s:s, s:s}", "#s", "status", "#u", "updated_at", "#v",
                              "version", "#id", "order_id");
    static const char *const placeholder[3] = {NULL, "#c", "#e"};
    static const char *const attribute[3] = {NULL, "confirmation_number", "error"};
    static const char *const value_name[3] = {NULL, ":c", ":e"};
    for (int i = 1; i < 3 && values && names; i++) {
        if (fields[i] == NULL)
            continue;
        json_object_set_new(names, placeholder[i], json_string(attribute[i]));
        if (fields[i][0] != '\0') {
            snprintf(set + strlen(set), sizeof set - strlen(set), ", %s = %s", placeholder[i],
                     value_name[i]);
            json_object_set_new(values, value_name[i], sd_s(fields[i]));
        } else {
            snprintf(remove + strlen(remove), sizeof remove - strlen(remove), "%s%s",
                     remove[0] ? ", " : " REMOVE ", placeholder[i]);
        }
    }
    char expression[300], condition[80] = "attribute_exists(#id)";
    snprintf(expression, sizeof expression, "%s%s ADD #v :one", set, remove);
    if (expected_version != 0 && values) {
        strcat(condition, " AND #v = :expected");
        json_object_set_new(values, ":expected", sd_n(expected_version));
    }
    json_t *body = values && names && op->order_id
                       ? json_pack("{s:o, s:s, s:s, s:o, s:o, s:s}", "Key", sd_key(order_id),
                                   "UpdateExpression", expression, "ConditionExpression", condition,
                                   "ExpressionAttributeNames", names, "ExpressionAttributeValues",
                                   values, "ReturnValues", "ALL_NEW")
                       : NULL;
    if (body == NULL) {
        json_decref(values);
        json_decref(names);
    }
    int rc = sd_request(sd, "UpdateItem", body, on_update, op);
    if (rc != 0)
        op_free(op);
    return rc;
}

/* ---- query_customer ------------------------------------------------------ */

typedef struct query {
    keel_store_page_fn done;
    void *arg;
    char *customer_id;
    size_t limit;
    json_t *items; /* gathered so far: up to limit + 1 */
} query_t;

static void query_free(query_t *q)
{
    free(q->customer_id);
    json_decref(q->items);
    free(q);
}

static int query_next(sd_t *sd, query_t *q, json_t *start_key);

/* Answers with the first `limit` items; one more means a next page. */
static void query_answer(query_t *q, int status)
{
    size_t n = json_array_size(q->items), count = n > q->limit ? q->limit : n;
    sd_rec_t *recs = calloc(count ? count : 1, sizeof *recs);
    keel_order_record_t *records = calloc(count ? count : 1, sizeof *records);
    char *cursor = NULL;
    size_t decoded = 0;
    if (status == 0 && (recs == NULL || records == NULL))
        status = KEEL_ENOMEM;
    for (; status == 0 && decoded < count; decoded++) {
        if (sd_record_from_item(json_array_get(q->items, decoded), &recs[decoded]) != 0)
            status = KEEL_EIO;
        else
            records[decoded] = recs[decoded].r;
    }
    if (status == 0 && n > q->limit && (cursor = sd_cursor_encode(&recs[count - 1])) == NULL)
        status = KEEL_ENOMEM;
    if (status == 0)
        q->done(q->arg, 0, records, count, cursor);
    else
        q->done(q->arg, status, NULL, 0, NULL);
    for (size_t i = 0; i < decoded && recs; i++)
        sd_rec_free(&recs[i]);
    free(recs);
    free(records);
    free(cursor);
    query_free(q);
}

static void on_query(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)message;
    query_t *q = arg;
    if (status != 0) {
        /* Cursors were checked before: a refused query is a backend fault
         * (e.g. a table without the GSI), not the caller's. */
        query_answer(q, backend_status(status));
        return;
    }
    json_t *items = json_object_get(body, "Items");
    for (size_t i = 0; i < json_array_size(items) && json_array_size(q->items) <= q->limit; i++)
        json_array_append(q->items, json_array_get(items, i));
    /* A page may end early (1 MB) with a LastEvaluatedKey: read on until
     * limit + 1 items tell whether another page exists. */
    json_t *last = json_object_get(body, "LastEvaluatedKey");
    if (json_array_size(q->items) > q->limit || last == NULL) {
        query_answer(q, 0);
        return;
    }
    int rc = query_next(sd, q, json_incref(last));
    if (rc != 0)
        query_answer(q, backend_status(rc));
}

static int query_next(sd_t *sd, query_t *q, json_t *start_key)
{
    json_t *body = json_pack("{s:s, s:s, s:{s:s}, s:{s:o}, s:b, s:I}", "IndexName", SD_INDEX,
                             "KeyConditionExpression", "#cu = :c", "ExpressionAttributeNames",
                             "#cu", "customer_id", "ExpressionAttributeValues", ":c",
                             sd_s(q->customer_id), "ScanIndexForward", 0, "Limit",
                             (json_int_t)(q->limit + 1 - json_array_size(q->items)));
    if (body != NULL && start_key != NULL)
        json_object_set(body, "ExclusiveStartKey", start_key);
    json_decref(start_key);
    return sd_request(sd, "Query", body, on_query, q);
}

static int sd_query_customer(void *ctx, const char *customer_id, const char *cursor, size_t limit,
                             keel_store_page_fn done, void *arg)
{
    sd_t *sd = ctx;
    if (done == NULL || limit < 1 || limit > KEEL_STORE_MAX_PAGE ||
        !valid_text(customer_id, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    json_t *start = NULL;
    if (cursor != NULL && (start = sd_cursor_decode(cursor, customer_id)) == NULL)
        return KEEL_EINVAL;
    if (atomic_load(&sd->stopping)) {
        json_decref(start);
        return KEEL_ESHUTDOWN;
    }
    query_t *q = calloc(1, sizeof *q);
    if (q == NULL || (q->customer_id = strdup(customer_id)) == NULL ||
        (q->items = json_array()) == NULL) {
        if (q)
            query_free(q);
        json_decref(start);
        return KEEL_ENOMEM;
    }
    q->done = done;
    q->arg = arg;
    q->limit = limit;
    int rc = query_next(sd, q, start);
    if (rc != 0)
        query_free(q);
    return rc;
}

/* ---- sequence_next ------------------------------------------------------- */

typedef struct seq {
    keel_store_sequence_fn done;
    void *arg;
    uint64_t count;
} seq_t;

static void on_sequence(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    (void)sd, (void)message;
    seq_t *q = arg;
    const char *text = json_string_value(
        json_object_get(json_object_get(json_object_get(body, "Attributes"), "next_value"), "N"));
    uint64_t high = 0;
    if (status == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = text ? strtoull(text, &end, 10) : 0;
        if (text == NULL || *end != '\0' || v < q->count)
            status = KEEL_EIO;
        else if (errno == ERANGE)
            status = KEEL_EFULL; /* past UINT64_MAX */
        high = v;
    }
    if (status == 0)
        q->done(q->arg, 0, high - q->count + 1, q->count);
    else
        q->done(q->arg,
                status == KEEL_EFULL || status == KEEL_EIO ? status : backend_status(status), 0, 0);
    free(q);
}

static int sd_sequence_next(void *ctx, const char *name, uint64_t count,
                            keel_store_sequence_fn done, void *arg)
{
    sd_t *sd = ctx;
    if (done == NULL || count < 1 || count > 1000000 || !valid_text(name, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    if (atomic_load(&sd->stopping))
        return KEEL_ESHUTDOWN;
    seq_t *q = malloc(sizeof *q);
    if (q == NULL)
        return KEEL_ENOMEM;
    *q = (seq_t){done, arg, count};
    char key[sizeof SD_SEQ_PREFIX + KEEL_STORE_MAX_ID];
    snprintf(key, sizeof key, "%s%s", SD_SEQ_PREFIX, name);
    /* The block is (H - count, H]: a retry whose answer was lost burns a
     * block (a gap), never hands one out twice. */
    json_t *body = json_pack("{s:o, s:s, s:{s:s}, s:{s:o}, s:s}", "Key", sd_key(key),
                             "UpdateExpression", "ADD #n :count", "ExpressionAttributeNames", "#n",
                             "next_value", "ExpressionAttributeValues", ":count", sd_n(count),
                             "ReturnValues", "UPDATED_NEW");
    int rc = sd_request(sd, "UpdateItem", body, on_sequence, q);
    if (rc != 0)
        free(q);
    return rc;
}

static int sd_peek_hash(void *ctx, const char *order_id, char hash_out[65])
{
    (void)ctx;
    if (hash_out == NULL || !valid_text(order_id, KEEL_STORE_MAX_ID, false))
        return KEEL_EINVAL;
    return KEEL_EAGAIN; /* every answer is a network round trip: use get() */
}

const keel_store_api_t sd_store_api = {
    .struct_size = sizeof(keel_store_api_t),
    .put = sd_put,
    .get = sd_get,
    .update = sd_update,
    .query_customer = sd_query_customer,
    .sequence_next = sd_sequence_next,
    .peek_hash = sd_peek_hash,
};

/* ---- the pipeline step (see "As a pipeline step" in keel/store.h) -------- */

typedef struct step_batch step_batch_t;

typedef struct step_item {
    step_batch_t *owner;
    size_t index;
    bool reread; /* the conditional write failed; the item was read back */
} step_item_t;

struct step_batch {
    sd_t *sd;
    keel_batch_t *batch;
    atomic_size_t left; /* answers due, +1 while the step is still sending */
    step_item_t items[];
};

static void item_done(step_batch_t *sb)
{
    if (atomic_fetch_sub(&sb->left, 1) != 1)
        return;
    sb->sd->host->batch_complete(sb->batch);
    free(sb);
}

static const char *attr(const keel_msg_t *msg, const char *key);
static void on_confirmed(sd_t *sd, void *arg, int status, json_t *body, const char *message);

/* The condition failed: another payload under this id, or the order is
 * CONFIRMED already (a redelivery: left untouched). The stored item says
 * which. */
static void on_confirm_reread(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    step_item_t *item = arg;
    const keel_msg_t *msg = sd->host->batch_message(item->owner->batch, item->index);
    json_t *stored = json_object_get(body, "Item");
    const char *hash =
        json_string_value(json_object_get(json_object_get(stored, "payload_hash"), "S"));
    if (status == 0 && stored != NULL && hash != NULL &&
        strcmp(hash, attr(msg, "payload_hash")) != 0) {
        on_confirmed(sd, arg, KEEL_ECONFLICT, NULL, message);
        return;
    }
    json_t *wrapped = status == 0 && stored ? json_pack("{s:O}", "Attributes", stored) : NULL;
    /* No number stored after all (changed meanwhile): try again later. */
    on_confirmed(sd, arg, status != 0 ? status : wrapped ? 0 : KEEL_EUNAVAIL, wrapped, message);
    json_decref(wrapped);
}

static void on_confirmed(sd_t *sd, void *arg, int status, json_t *body, const char *message)
{
    step_item_t *item = arg;
    step_batch_t *sb = item->owner;
    const keel_host_api_t *host = sd->host;
    const char *number = json_string_value(json_object_get(
        json_object_get(json_object_get(body, "Attributes"), "confirmation_number"), "S"));
    char reason[400];
    if (status == KEEL_ECONFLICT && !item->reread) { /* the condition failed: find out why */
        item->reread = true;
        const keel_msg_t *msg = host->batch_message(sb->batch, item->index);
        if (sd_request(sd, "GetItem", get_body(attr(msg, "order_id")), on_confirm_reread, item) ==
            0)
            return;
        status = KEEL_EUNAVAIL;
    }
    if (status == 0 && number != NULL) {
        /* The stored number counts: a redelivered order keeps its first. */
        host->batch_set_attr(sb->batch, item->index, "confirmation_number", number);
        host->batch_result(sb->batch, item->index, KEEL_OK, NULL);
    } else if (status == KEEL_ECONFLICT) {
        host->batch_result(sb->batch, item->index, KEEL_FAIL,
                           "store: the order_id is already stored with another payload");
    } else if (status == KEEL_EINVAL) {
        /* DynamoDB refused the item itself: retrying cannot help. */
        snprintf(reason, sizeof reason, "store: DynamoDB refused the order: %s", message);
        host->batch_result(sb->batch, item->index, KEEL_FAIL, reason);
    } else {
        /* An outage: the message stays safe in the queue for a later try. */
        snprintf(reason, sizeof reason, "store: %s%s%s", host->strerror(status ? status : KEEL_EIO),
                 message[0] ? ": " : "", message);
        host->batch_result(sb->batch, item->index, KEEL_RETRY, reason);
    }
    item_done(sb);
}

static const char *attr(const keel_msg_t *msg, const char *key)
{
    for (size_t i = 0; i < msg->attr_count; i++)
        if (strcmp(msg->attrs[i].key, key) == 0)
            return msg->attrs[i].value;
    return NULL;
}

/* CONFIRMED with the number; the item is created when missing. The
 * condition fails for another payload under the id, and for an order
 * already CONFIRMED (a redelivery, left untouched): on_confirmed reads the
 * item back to tell which. */
static json_t *confirm_body(const keel_order_record_t *r, uint64_t now)
{
    json_t *order = json_stringn(r->order_json, r->order_json_len);
    return order == NULL
               ? NULL
               : json_pack("{s:o, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
                           "s:s, s:s}, s:{s:o, s:o, s:o, s:o, s:o, s:{s:o}, s:o, s:o}, s:s}",
                           "Key", sd_key(r->order_id), "UpdateExpression",
                           "SET #s = :confirmed, #c = if_not_exists(#c, :c), "
                           "#m = if_not_exists(#m, :m), #cu = if_not_exists(#cu, :cu), "
                           "#h = if_not_exists(#h, :h), #o = if_not_exists(#o, :o), "
                           "#ca = if_not_exists(#ca, :now), #u = :now REMOVE #e ADD #v :one",
                           "ConditionExpression",
                           "attribute_not_exists(#id) OR (#h = :h AND "
                           "(attribute_not_exists(#c) OR #s <> :confirmed))",
                           "ExpressionAttributeNames", "#s", "status", "#c", "confirmation_number",
                           "#m", "message_id", "#cu", "customer_id", "#h", "payload_hash", "#o",
                           "order", "#ca", "created_at", "#u", "updated_at", "#e", "error", "#v",
                           "version", "#id", "order_id", "ExpressionAttributeValues", ":confirmed",
                           sd_s("CONFIRMED"), ":c", sd_s(r->confirmation_number), ":m",
                           sd_s(r->message_id), ":cu", sd_s(r->customer_id), ":h",
                           sd_s(r->payload_hash), ":o", "S", order, ":now", sd_n(now), ":one",
                           sd_n(1), "ReturnValues", "ALL_NEW");
}

static void confirm_one(step_batch_t *sb, size_t i)
{
    sd_t *sd = sb->sd;
    const keel_host_api_t *host = sd->host;
    const keel_msg_t *msg = host->batch_message(sb->batch, i);
    keel_order_record_t r = {
        .order_id = attr(msg, "order_id"),
        .customer_id = attr(msg, "customer_id"),
        .status = "CONFIRMED",
        .confirmation_number = attr(msg, "confirmation_number"),
        .payload_hash = attr(msg, "payload_hash"),
        .order_json = msg->body,
        .order_json_len = msg->body_len,
        .message_id = msg->id,
    };
    if (r.confirmation_number == NULL || r.confirmation_number[0] == '\0') {
        host->batch_result(sb->batch, i, KEEL_FAIL,
                           "store: no confirmation_number attribute (is the confirm step "
                           "before the store step?)");
        return;
    }
    if (!valid_record(&r)) {
        host->batch_result(sb->batch, i, KEEL_FAIL,
                           "store: not an order message (needs the attributes order_id, "
                           "customer_id and payload_hash, and the order JSON as body)");
        return;
    }
    atomic_fetch_add(&sb->left, 1);
    int rc = sd_request(sd, "UpdateItem", confirm_body(&r, host->now_ms(sd->self)), on_confirmed,
                        &sb->items[i]);
    if (rc == 0)
        return;
    atomic_fetch_sub(&sb->left, 1);
    char reason[128];
    snprintf(reason, sizeof reason, "store: %s", host->strerror(rc));
    host->batch_result(sb->batch, i, KEEL_RETRY, reason);
}

int sd_step(void *ctx, keel_batch_t *batch)
{
    sd_t *sd = ctx;
    size_t count = sd->host->batch_count(batch);
    step_batch_t *sb = malloc(sizeof *sb + count * sizeof sb->items[0]);
    if (sb == NULL)
        return KEEL_ENOMEM;
    sb->sd = sd;
    sb->batch = batch;
    atomic_init(&sb->left, 1);
    for (size_t i = 0; i < count; i++) {
        sb->items[i] = (step_item_t){sb, i, false};
        confirm_one(sb, i);
    }
    if (atomic_fetch_sub(&sb->left, 1) != 1)
        return KEEL_ASYNC; /* the last answer completes it */
    free(sb);
    return KEEL_OK;
}
