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

/*
 * One page of database `db` in key order, after the key whose hex is
 * `cursor` (NULL: from the first), in one short read txn: copy() takes
 * entry `index` of the page out before the txn ends. Sets *count, and the
 * hex of the last key into next_cursor when more entries follow ("" when
 * none). Keys are key_len (at most 16) bytes.
 */
typedef int (*copy_fn)(MDB_txn *txn, ql_queue_t *q, const MDB_val *key, const MDB_val *value,
                       void *page, size_t index);

static int read_page(ql_t *ql, ql_queue_t *q, ql_db_t db, size_t key_len, const char *cursor,
                     size_t limit, copy_fn copy, void *page, size_t *count, char *next_cursor)
{
    uint8_t after[16], last_key[16];
    *count = 0;
    next_cursor[0] = '\0';
    if (cursor && (strlen(cursor) != 2 * key_len || codec_unhex(after, cursor, key_len) < 0))
        return KEEL_EINVAL;
    MDB_txn *txn;
    int rc = store_read_begin(ql, &txn);
    if (rc < 0)
        return rc;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, q->dbi[db], &cur) != 0) {
        store_read_end(ql, txn);
        return KEEL_EIO;
    }
    MDB_val k, v;
    int mrc;
    if (cursor) {
        k = (MDB_val){key_len, after};
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc == 0 && k.mv_size == key_len && memcmp(k.mv_data, after, key_len) == 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    for (; mrc == 0 && *count < limit; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != key_len) {
            rc = KEEL_EIO;
            break;
        }
        if ((rc = copy(txn, q, &k, &v, page, *count)) < 0)
            break;
        ++*count;
        memcpy(last_key, k.mv_data, key_len);
    }
    mdb_cursor_close(cur);
    store_read_end(ql, txn);
    /* mrc == 0 here means one more entry exists after the page. */
    if (rc == 0 && mrc == 0 && *count > 0)
        codec_hex(next_cursor, last_key, key_len);
    return rc;
}

static int copy_dlq_entry(MDB_txn *txn, ql_queue_t *q, const MDB_val *key, const MDB_val *value,
                          void *page, size_t index)
{
    dlq_page_t *p = page;
    int rc = copy_entry(txn, q, key, value, &p->pub.entries[index], &p->blocks[index]);
    if (rc == 0)
        p->block_count = index + 1;
    return rc;
}

int store_dlq_list(ql_t *ql, ql_queue_t *q, const char *cursor, size_t limit,
                   keel_queue_dlq_page_t **out)
{
    if (out == NULL || limit < 1 || limit > 1000)
        return KEEL_EINVAL;
    dlq_page_t *page = calloc(1, sizeof *page + limit * sizeof(void *));
    keel_queue_dlq_entry_t *entries = calloc(limit, sizeof *entries);
    if (page == NULL || entries == NULL) {
        free(page);
        free(entries);
        return KEEL_ENOMEM;
    }
    page->pub.entries = entries;
    int rc = read_page(ql, q, QL_DB_DLQ, 16, cursor, limit, copy_dlq_entry, page, &page->pub.count,
                       page->cursor);
    if (rc < 0) {
        store_dlq_page_free(&page->pub);
        return rc;
    }
    page->pub.next_cursor = page->cursor[0] ? page->cursor : NULL;
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

static int copy_message(MDB_txn *txn, ql_queue_t *q, const MDB_val *key, const MDB_val *value,
                        void *page, size_t index)
{
    (void)txn;
    (void)q;
    (void)key;
    list_page_t *p = page;
    ql_msg_view_t m;
    if (codec_msg_parse(value, &m) < 0)
        return KEEL_EIO;
    keel_queue_listed_t *out = &p->pub.messages[index];
    keel_attr_t *attrs;
    const void *body;
    if ((p->blocks[index] = codec_msg_unpack(&m, 0, &attrs, &body)) == NULL)
        return KEEL_ENOMEM;
    p->block_count = index + 1;
    memcpy(out->message_id, m.message_id, sizeof out->message_id);
    out->attrs = attrs;
    out->attr_count = m.attr_count;
    out->body = body;
    out->body_len = m.body_len;
    out->sent_at_ms = m.sent_at_ms;
    return 0;
}

int store_list_messages(ql_t *ql, ql_queue_t *q, const char *cursor, size_t limit,
                        keel_queue_list_page_t **out)
{
    if (out == NULL || limit < 1 || limit > 1000)
        return KEEL_EINVAL;
    list_page_t *page = calloc(1, sizeof *page + limit * sizeof(void *));
    keel_queue_listed_t *messages = calloc(limit, sizeof *messages);
    if (page == NULL || messages == NULL) {
        free(page);
        free(messages);
        return KEEL_ENOMEM;
    }
    page->pub.messages = messages;
    int rc = read_page(ql, q, QL_DB_MSG, 8, cursor, limit, copy_message, page, &page->pub.count,
                       page->cursor);
    if (rc < 0) {
        store_list_page_free(&page->pub);
        return rc;
    }
    page->pub.next_cursor = page->cursor[0] ? page->cursor : NULL;
    *out = &page->pub;
    return 0;
}
