/*
 * dlq.c — listing without consuming: a DLQ, or every message a queue
 * holds. One short read txn per page, everything copied out before the txn
 * ends. The cursor is the hex of the last listed key ((dead-lettered time,
 * seq) for a DLQ, seq for the messages): opaque to callers, stable while
 * entries before it go away.
 */
#include "queue_lmdb.h"

#include <stdlib.h>
#include <string.h>

typedef struct dlq_page {
    keel_queue_dlq_page_t pub;
    char cursor[33];
    size_t block_count;
    void *blocks[]; /* one per entry */
} dlq_page_t;

void store_dlq_page_free(keel_queue_dlq_page_t *page)
{
    if (page == NULL)
        return;
    dlq_page_t *p = (dlq_page_t *)page;
    for (size_t i = 0; i < p->block_count; i++)
        free(p->blocks[i]);
    free(p->pub.entries);
    free(p);
}

static char *put_string(char *at, const char *text, size_t len, const char **out)
{
    memcpy(at, text, len);
    at[len] = '\0';
    *out = at;
    return at + len + 1;
}

/* Copies one DLQ entry (record + body) into out. */
static int copy_entry(MDB_txn *txn, ql_queue_t *q, const MDB_val *key, const MDB_val *value,
                      keel_queue_dlq_entry_t *out, void **block_out)
{
    ql_dlq_record_t d;
    if (codec_dlq_parse(value, &d) < 0)
        return KEEL_EIO;
    MDB_val k = {8, (uint8_t *)key->mv_data + 8}, v;
    ql_msg_view_t m;
    if (mdb_get(txn, q->dbi[QL_DB_MSG], &k, &v) != 0 || codec_msg_parse(&v, &m) < 0)
        return KEEL_EIO;
    /* With no error given, the reason (e.g. "max receives (3) exceeded")
     * stands in as the last error. */
    const char *last = d.last_error_len ? d.last_error : d.reason;
    size_t last_len = d.last_error_len ? d.last_error_len : d.reason_len;
    size_t prefix = d.first_error_len + last_len + d.failed_step_len + 3;
    keel_attr_t *attrs;
    const void *body;
    char *block = codec_msg_unpack(&m, prefix, &attrs, &body);
    if (block == NULL)
        return KEEL_ENOMEM;
    char *at = put_string(block, d.first_error, d.first_error_len, &out->first_error);
    at = put_string(at, last, last_len, &out->last_error);
    put_string(at, d.failed_step, d.failed_step_len, &out->failed_step);
    memcpy(out->message_id, d.message_id, sizeof out->message_id);
    out->attrs = attrs;
    out->attr_count = m.attr_count;
    out->body = body;
    out->body_len = m.body_len;
    out->receive_count = d.receive_count;
    out->sent_at_ms = d.sent_at_ms;
    out->first_received_at_ms = d.first_received_ms;
    out->last_received_at_ms = d.last_received_ms;
    out->dead_lettered_at_ms = d.dead_lettered_ms;
    *block_out = block;
    return 0;
}

int store_dlq_list(ql_t *ql, ql_queue_t *q, const char *cursor, size_t limit,
                   keel_queue_dlq_page_t **out)
{
    uint8_t after[16];
    if (out == NULL || limit < 1 || limit > 1000 ||
        (cursor && (strlen(cursor) != 32 || codec_unhex(after, cursor, 16) < 0)))
        return KEEL_EINVAL;
    dlq_page_t *page = calloc(1, sizeof *page + limit * sizeof(void *));
    keel_queue_dlq_entry_t *entries = calloc(limit, sizeof *entries);
    if (page == NULL || entries == NULL) {
        free(page);
        free(entries);
        return KEEL_ENOMEM;
    }
    page->pub.entries = entries;
    MDB_txn *txn;
    int rc = store_read_begin(ql, &txn);
    if (rc < 0) {
        store_dlq_page_free(&page->pub);
        return rc;
    }
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, q->dbi[QL_DB_DLQ], &cur) != 0) {
        store_read_end(ql, txn);
        store_dlq_page_free(&page->pub);
        return KEEL_EIO;
    }
    MDB_val k, v;
    int mrc;
    if (cursor) {
        k = (MDB_val){16, after};
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc == 0 && k.mv_size == 16 && memcmp(k.mv_data, after, 16) == 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    uint8_t last_key[16];
    for (; mrc == 0 && page->pub.count < limit; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16) {
            rc = KEEL_EIO;
            break;
        }
        size_t i = page->pub.count;
        if ((rc = copy_entry(txn, q, &k, &v, &entries[i], &page->blocks[i])) < 0)
            break;
        page->block_count = ++page->pub.count;
        memcpy(last_key, k.mv_data, 16);
    }
    mdb_cursor_close(cur);
    store_read_end(ql, txn);
    if (rc < 0) {
        store_dlq_page_free(&page->pub);
        return rc;
    }
    /* mrc == 0 here means one more entry exists after the page. */
    if (mrc == 0 && page->pub.count > 0) {
        codec_hex(page->cursor, last_key, 16);
        page->pub.next_cursor = page->cursor;
    }
    *out = &page->pub;
    return 0;
}

/* ---- every message, in send (seq) order ---- */

typedef struct list_page {
    keel_queue_list_page_t pub;
    char cursor[17];
    size_t block_count;
    void *blocks[]; /* one per message */
} list_page_t;

void store_list_page_free(keel_queue_list_page_t *page)
{
    if (page == NULL)
        return;
    list_page_t *p = (list_page_t *)page;
    for (size_t i = 0; i < p->block_count; i++)
        free(p->blocks[i]);
    free(p->pub.messages);
    free(p);
}

int store_list_messages(ql_t *ql, ql_queue_t *q, const char *cursor, size_t limit,
                        keel_queue_list_page_t **out)
{
    uint8_t after[8];
    if (out == NULL || limit < 1 || limit > 1000 ||
        (cursor && (strlen(cursor) != 16 || codec_unhex(after, cursor, 8) < 0)))
        return KEEL_EINVAL;
    list_page_t *page = calloc(1, sizeof *page + limit * sizeof(void *));
    keel_queue_listed_t *messages = calloc(limit, sizeof *messages);
    if (page == NULL || messages == NULL) {
        free(page);
        free(messages);
        return KEEL_ENOMEM;
    }
    page->pub.messages = messages;
    MDB_txn *txn;
    int rc = store_read_begin(ql, &txn);
    if (rc < 0) {
        store_list_page_free(&page->pub);
        return rc;
    }
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, q->dbi[QL_DB_MSG], &cur) != 0) {
        store_read_end(ql, txn);
        store_list_page_free(&page->pub);
        return KEEL_EIO;
    }
    MDB_val k, v;
    int mrc;
    if (cursor) {
        k = (MDB_val){8, after};
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc == 0 && k.mv_size == 8 && memcmp(k.mv_data, after, 8) == 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    uint8_t last_key[8];
    for (; mrc == 0 && page->pub.count < limit; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ql_msg_view_t m;
        if (k.mv_size != 8 || codec_msg_parse(&v, &m) < 0) {
            rc = KEEL_EIO;
            break;
        }
        size_t i = page->pub.count;
        keel_queue_listed_t *out_msg = &messages[i];
        keel_attr_t *attrs;
        const void *body;
        if ((page->blocks[i] = codec_msg_unpack(&m, 0, &attrs, &body)) == NULL) {
            rc = KEEL_ENOMEM;
            break;
        }
        memcpy(out_msg->message_id, m.message_id, sizeof out_msg->message_id);
        out_msg->attrs = attrs;
        out_msg->attr_count = m.attr_count;
        out_msg->body = body;
        out_msg->body_len = m.body_len;
        out_msg->sent_at_ms = m.sent_at_ms;
        page->block_count = ++page->pub.count;
        memcpy(last_key, k.mv_data, 8);
    }
    mdb_cursor_close(cur);
    store_read_end(ql, txn);
    if (rc < 0) {
        store_list_page_free(&page->pub);
        return rc;
    }
    if (mrc == 0 && page->pub.count > 0) {
        codec_hex(page->cursor, last_key, 8);
        page->pub.next_cursor = page->cursor;
    }
    *out = &page->pub;
    return 0;
}
