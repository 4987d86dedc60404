/*
 * codec.c — byte layouts of the records, keys and receipts.
 *
 * Everything is big-endian so that keys sort with memcmp and the files
 * mean the same on every machine. Records carry a version byte first.
 *
 * Body record (immutable):  u8 version, u64 sent_at, id[26], u16 attr
 *   count, per attr (u16 len, key, u32 len, value), u32 body len, body.
 * State record:  u8 where, u8 version, u16 0, u32 receive count, u64
 *   nonce, u64 due, u64 sent_at, u64 first/last received, u32 body bytes,
 *   then first error, last error, failed step as (u16 len, bytes).
 * DLQ record:  u8 version, 3 x 0, u32 receive count, u64 sent_at, u64
 *   first/last received, u64 dead-lettered, u32 body bytes, id[26], then
 *   first error, last error, failed step, reason as (u16 len, bytes).
 */
#include "queue_lmdb.h"

#include <stdlib.h>
#include <string.h>

enum { MSG_VERSION = 1, STATE_VERSION = 1, DLQ_VERSION = 1 };
enum { MSG_HEADER = 37, STATE_HEADER = 52, DLQ_HEADER = 70 };

void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void be64_put(uint8_t *p, uint64_t v)
{
    be32_put(p, (uint32_t)(v >> 32));
    be32_put(p + 4, (uint32_t)v);
}

uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t be64_get(const uint8_t *p)
{
    return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

static void be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t be16_get(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

void key_time_seq(uint8_t out[16], uint64_t time, uint64_t seq)
{
    be64_put(out, time);
    be64_put(out + 8, seq);
}

/* ---- body records ---- */

size_t codec_msg_record_size(const keel_attr_t *attrs, size_t attr_count, size_t body_len)
{
    size_t size = MSG_HEADER + 4 + body_len;
    for (size_t i = 0; i < attr_count; i++)
        size += 2 + strlen(attrs[i].key) + 4 + strlen(attrs[i].value);
    return size;
}

void codec_msg_record_write(uint8_t *out, const char *message_id, const keel_attr_t *attrs,
                            size_t attr_count, const void *body, size_t body_len)
{
    out[0] = MSG_VERSION;
    be64_put(out + 1, 0);
    memcpy(out + 9, message_id, KEEL_ID_LEN);
    be16_put(out + 35, (uint16_t)attr_count);
    uint8_t *p = out + MSG_HEADER;
    for (size_t i = 0; i < attr_count; i++) {
        size_t key_len = strlen(attrs[i].key), value_len = strlen(attrs[i].value);
        be16_put(p, (uint16_t)key_len);
        memcpy(p + 2, attrs[i].key, key_len);
        p += 2 + key_len;
        be32_put(p, (uint32_t)value_len);
        memcpy(p + 4, attrs[i].value, value_len);
        p += 4 + value_len;
    }
    be32_put(p, (uint32_t)body_len);
    if (body_len)
        memcpy(p + 4, body, body_len);
}

void codec_msg_set_sent_at(uint8_t *record, uint64_t sent_at_ms)
{
    be64_put(record + 1, sent_at_ms);
}

const char *codec_msg_id(const MDB_val *value)
{
    const uint8_t *p = value->mv_data;
    if (value->mv_size < MSG_HEADER + 4 || p[0] != MSG_VERSION)
        return NULL;
    return (const char *)p + 9;
}

int codec_msg_parse(const MDB_val *value, ql_msg_view_t *out)
{
    const uint8_t *p = value->mv_data, *end = p + value->mv_size;
    if (value->mv_size < MSG_HEADER + 4 || p[0] != MSG_VERSION)
        return KEEL_EIO;
    out->sent_at_ms = be64_get(p + 1);
    memcpy(out->message_id, p + 9, KEEL_ID_LEN);
    out->message_id[KEEL_ID_LEN] = '\0';
    out->attr_count = be16_get(p + 35);
    out->attrs = p + MSG_HEADER;
    const uint8_t *c = out->attrs;
    for (uint16_t i = 0; i < out->attr_count; i++) {
        if (end - c < 2 || (size_t)(end - c) < 2u + be16_get(c) + 4u)
            return KEEL_EIO;
        c += 2 + be16_get(c);
        if ((size_t)(end - c) < 4u + be32_get(c))
            return KEEL_EIO;
        c += 4 + be32_get(c);
    }
    out->attrs_len = (size_t)(c - out->attrs);
    if (end - c < 4 || (size_t)(end - c - 4) != be32_get(c))
        return KEEL_EIO;
    out->body_len = be32_get(c);
    out->body = c + 4;
    return 0;
}

void *codec_msg_unpack(const ql_msg_view_t *m, size_t prefix, keel_attr_t **attrs,
                       const void **body)
{
    size_t front = (prefix + _Alignof(keel_attr_t) - 1) & ~(_Alignof(keel_attr_t) - 1);
    /* Each attr's strings are at most its encoded size (the length fields
     * become NULs and spare bytes). */
    size_t size = front + m->attr_count * sizeof(keel_attr_t) + m->attrs_len + m->body_len + 1;
    uint8_t *block = malloc(size);
    if (block == NULL)
        return NULL;
    keel_attr_t *list = (keel_attr_t *)(void *)(block + front);
    char *text = (char *)(list + m->attr_count);
    const uint8_t *c = m->attrs;
    for (uint16_t i = 0; i < m->attr_count; i++) {
        uint16_t key_len = be16_get(c);
        memcpy(text, c + 2, key_len);
        text[key_len] = '\0';
        list[i].key = text;
        text += key_len + 1;
        c += 2 + key_len;
        uint32_t value_len = be32_get(c);
        memcpy(text, c + 4, value_len);
        text[value_len] = '\0';
        list[i].value = text;
        text += value_len + 1;
        c += 4 + value_len;
    }
    if (m->body_len)
        memcpy(text, m->body, m->body_len);
    text[m->body_len] = '\0'; /* convenience for text bodies; not counted */
    *attrs = m->attr_count ? list : NULL;
    *body = text;
    return block;
}

/* ---- strings inside records ---- */

static uint8_t *put_text(uint8_t *p, const char *text, uint16_t len)
{
    be16_put(p, len);
    if (len)
        memcpy(p + 2, text, len);
    return p + 2 + len;
}

/* The writers keep at most QL_MAX_TEXT bytes of a string, and readers copy
 * them into buffers of that size (ops.c's load_state) or write them back
 * into QL_STATE_MAX / QL_DLQ_MAX records: a longer one is a corrupt record. */
static int get_text(const uint8_t **p, const uint8_t *end, const char **text, uint16_t *len)
{
    if (end - *p < 2)
        return KEEL_EIO;
    *len = be16_get(*p);
    if (*len > QL_MAX_TEXT || (size_t)(end - *p - 2) < *len)
        return KEEL_EIO;
    *text = (const char *)*p + 2;
    *p += 2 + *len;
    return 0;
}

/* ---- state records ---- */

size_t codec_state_write(uint8_t *out, const ql_state_t *s)
{
    out[0] = (uint8_t)s->where;
    out[1] = STATE_VERSION;
    be16_put(out + 2, 0);
    be32_put(out + 4, s->receive_count);
    be64_put(out + 8, s->nonce);
    be64_put(out + 16, s->due_ms);
    be64_put(out + 24, s->sent_at_ms);
    be64_put(out + 32, s->first_received_ms);
    be64_put(out + 40, s->last_received_ms);
    be32_put(out + 48, s->body_bytes);
    uint8_t *p = out + STATE_HEADER;
    /* The strings may point into the LMDB value being replaced: `out` is
     * always a separate buffer, written before the put. */
    p = put_text(p, s->first_error, s->first_error_len);
    p = put_text(p, s->last_error, s->last_error_len);
    p = put_text(p, s->failed_step, s->failed_step_len);
    return (size_t)(p - out);
}

int codec_state_parse(const MDB_val *value, ql_state_t *out)
{
    const uint8_t *p = value->mv_data, *end = p + value->mv_size;
    if (value->mv_size < STATE_HEADER || p[1] != STATE_VERSION || p[0] < QL_READY ||
        p[0] > QL_DELAYED)
        return KEEL_EIO;
    out->where = (ql_where_t)p[0];
    out->receive_count = be32_get(p + 4);
    out->nonce = be64_get(p + 8);
    out->due_ms = be64_get(p + 16);
    out->sent_at_ms = be64_get(p + 24);
    out->first_received_ms = be64_get(p + 32);
    out->last_received_ms = be64_get(p + 40);
    out->body_bytes = be32_get(p + 48);
    p += STATE_HEADER;
    if (get_text(&p, end, &out->first_error, &out->first_error_len) < 0 ||
        get_text(&p, end, &out->last_error, &out->last_error_len) < 0 ||
        get_text(&p, end, &out->failed_step, &out->failed_step_len) < 0)
        return KEEL_EIO;
    return 0;
}

/* ---- DLQ records ---- */

size_t codec_dlq_write(uint8_t *out, const ql_dlq_record_t *d)
{
    memset(out, 0, 4);
    out[0] = DLQ_VERSION;
    be32_put(out + 4, d->receive_count);
    be64_put(out + 8, d->sent_at_ms);
    be64_put(out + 16, d->first_received_ms);
    be64_put(out + 24, d->last_received_ms);
    be64_put(out + 32, d->dead_lettered_ms);
    be32_put(out + 40, d->body_bytes);
    memcpy(out + 44, d->message_id, KEEL_ID_LEN);
    uint8_t *p = out + DLQ_HEADER;
    p = put_text(p, d->first_error, d->first_error_len);
    p = put_text(p, d->last_error, d->last_error_len);
    p = put_text(p, d->failed_step, d->failed_step_len);
    p = put_text(p, d->reason, d->reason_len);
    return (size_t)(p - out);
}

int codec_dlq_parse(const MDB_val *value, ql_dlq_record_t *out)
{
    const uint8_t *p = value->mv_data, *end = p + value->mv_size;
    if (value->mv_size < DLQ_HEADER || p[0] != DLQ_VERSION)
        return KEEL_EIO;
    out->receive_count = be32_get(p + 4);
    out->sent_at_ms = be64_get(p + 8);
    out->first_received_ms = be64_get(p + 16);
    out->last_received_ms = be64_get(p + 24);
    out->dead_lettered_ms = be64_get(p + 32);
    out->body_bytes = be32_get(p + 40);
    memcpy(out->message_id, p + 44, KEEL_ID_LEN);
    out->message_id[KEEL_ID_LEN] = '\0';
    p += DLQ_HEADER;
    if (get_text(&p, end, &out->first_error, &out->first_error_len) < 0 ||
        get_text(&p, end, &out->last_error, &out->last_error_len) < 0 ||
        get_text(&p, end, &out->failed_step, &out->failed_step_len) < 0 ||
        get_text(&p, end, &out->reason, &out->reason_len) < 0)
        return KEEL_EIO;
    return 0;
}

/* ---- hex, receipts ---- */

void codec_hex(char *out, const uint8_t *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int codec_unhex(uint8_t *out, const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int high = hex_value(text[2 * i]), low = high < 0 ? -1 : hex_value(text[2 * i + 1]);
        if (low < 0)
            return KEEL_EINVAL;
        out[i] = (uint8_t)(high << 4 | low);
    }
    return text[2 * len] == '\0' ? 0 : KEEL_EINVAL;
}

void codec_receipt_format(char out[QL_RECEIPT_LEN + 1], const ql_receipt_t *r)
{
    uint8_t raw[20];
    be64_put(raw, r->seq);
    be32_put(raw + 8, r->receive_count);
    be64_put(raw + 12, r->nonce);
    codec_hex(out, raw, sizeof raw);
}

int codec_receipt_parse(const char *text, ql_receipt_t *out)
{
    uint8_t raw[20];
    if (text == NULL || strnlen(text, QL_RECEIPT_LEN + 1) != QL_RECEIPT_LEN ||
        codec_unhex(raw, text, sizeof raw) < 0)
        return KEEL_EINVAL;
    out->seq = be64_get(raw);
    out->receive_count = be32_get(raw + 8);
    out->nonce = be64_get(raw + 12);
    return out->nonce == 0 ? KEEL_EINVAL : 0;
}
