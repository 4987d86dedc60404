/*
 * fuzz_msgpack.c — the queue's persisted binary records, as read back from
 * LMDB: message bodies (codec_msg_parse / codec_msg_unpack), live-message
 * state (codec_state_parse), dead letters (codec_dlq_parse) and receipts
 * (codec_receipt_parse). keel's msgpack is produced, never decoded, by the
 * kernel and plugins; these records are what it decodes from disk.
 *
 * Byte 0 picks the decoder, the rest is the stored value (copied to a
 * buffer of exactly its size). Whatever parses is used as the plugin uses
 * it: strings copied into QL_MAX_TEXT buffers, records re-encoded into
 * QL_STATE_MAX / QL_DLQ_MAX buffers and parsed back to the same fields.
 */
#include "queue_lmdb.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

/* Lengths in power-of-four buckets, as distinct edges: coverage alone does
 * not tell a 10-byte string from a 2000-byte one, and the consumers' fixed
 * buffers care. */
static void note_length(size_t len)
{
    if (len >= 4096)
        sink += 6;
    else if (len >= 1024)
        sink += 5;
    else if (len >= 256)
        sink += 4;
    else if (len >= 64)
        sink += 3;
    else if (len >= 16)
        sink += 2;
    else if (len > 0)
        sink += 1;
}

static void fuzz_msg(const MDB_val *v)
{
    ql_msg_view_t m;
    const char *id = codec_msg_id(v);
    if (codec_msg_parse(v, &m) != 0)
        return;
    if (id == NULL || memcmp(id, m.message_id, KEEL_ID_LEN) != 0)
        abort();
    keel_attr_t *attrs;
    const void *body;
    char *block = codec_msg_unpack(&m, 24, &attrs, &body);
    if (block == NULL)
        return;
    for (uint16_t i = 0; i < m.attr_count; i++)
        sink += strlen(attrs[i].key) + strlen(attrs[i].value);
    if (m.body_len && memcmp(body, m.body, m.body_len) != 0)
        abort();
    free(block);
}

/* As ops.c's load_state, then put_state: copy the strings out, write back. */
static void fuzz_state(const MDB_val *v)
{
    ql_state_t s;
    if (codec_state_parse(v, &s) != 0)
        return;
    note_length(s.first_error_len);
    note_length(s.last_error_len);
    note_length(s.failed_step_len);
    char text[3][QL_MAX_TEXT];
    memcpy(text[0], s.first_error, s.first_error_len);
    memcpy(text[1], s.last_error, s.last_error_len);
    memcpy(text[2], s.failed_step, s.failed_step_len);
    s.first_error = text[0];
    s.last_error = text[1];
    s.failed_step = text[2];

    uint8_t *buf = malloc(QL_STATE_MAX);
    if (buf == NULL)
        abort();
    MDB_val again = {codec_state_write(buf, &s), buf};
    ql_state_t t;
    if (again.mv_size > QL_STATE_MAX || codec_state_parse(&again, &t) != 0 || t.where != s.where ||
        t.receive_count != s.receive_count || t.nonce != s.nonce || t.due_ms != s.due_ms ||
        t.body_bytes != s.body_bytes || t.last_error_len != s.last_error_len ||
        memcmp(t.last_error, s.last_error, s.last_error_len) != 0)
        abort();
    free(buf);
}

static void fuzz_dlq(const MDB_val *v)
{
    ql_dlq_record_t d;
    if (codec_dlq_parse(v, &d) != 0)
        return;
    note_length(d.first_error_len);
    note_length(d.last_error_len);
    note_length(d.failed_step_len);
    note_length(d.reason_len);
    if (strlen(d.message_id) > KEEL_ID_LEN)
        abort();
    uint8_t *buf = malloc(QL_DLQ_MAX);
    if (buf == NULL)
        abort();
    MDB_val again = {codec_dlq_write(buf, &d), buf};
    ql_dlq_record_t e;
    if (again.mv_size > QL_DLQ_MAX || codec_dlq_parse(&again, &e) != 0 ||
        e.receive_count != d.receive_count || e.reason_len != d.reason_len ||
        memcmp(e.reason, d.reason, d.reason_len) != 0)
        abort();
    free(buf);
}

static void fuzz_receipt(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    ql_receipt_t r;
    if (codec_receipt_parse(text, &r) == 0) {
        char again[QL_RECEIPT_LEN + 1];
        codec_receipt_format(again, &r);
        if (strcmp(again, text) != 0)
            abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t kind = data[0] % 4;
    data++, size--;
    if (kind == 3) {
        fuzz_receipt(data, size);
        return 0;
    }
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    MDB_val v = {size, copy};
    if (kind == 0)
        fuzz_msg(&v);
    else if (kind == 1)
        fuzz_state(&v);
    else
        fuzz_dlq(&v);
    free(copy);
    return 0;
}
