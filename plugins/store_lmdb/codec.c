/*
 * codec.c — the record format, index keys, cursors and error mapping.
 *
 * A record value: version, created_at, updated_at (BE u64 each), then
 * customer_id, status, confirmation_number, error, payload_hash and
 * order_json, each as a BE u32 length, the bytes and a NUL (so decoded
 * strings can point straight into the value), then message_id the same
 * way (records written before it existed end after order_json).
 */
#include "store_lmdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { FIELDS = 7, HEADER = 24, JSON_FIELD = 5 };

void sl_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

uint64_t sl_be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int sl_encode(const keel_order_record_t *r, uint8_t **out, size_t *out_len)
{
    const char *f[FIELDS] = {r->customer_id,  r->status,     r->confirmation_number, r->error,
                             r->payload_hash, r->order_json, r->message_id};
    size_t len[FIELDS], total = HEADER;
    for (int i = 0; i < FIELDS; i++) {
        len[i] = f[i] == NULL ? 0 : i == JSON_FIELD ? r->order_json_len : strlen(f[i]);
        total += 4 + len[i] + 1;
    }
    uint8_t *buf = malloc(total), *p = buf + HEADER;
    if (buf == NULL)
        return KEEL_ENOMEM;
    sl_be64_put(buf, r->version);
    sl_be64_put(buf + 8, r->created_at_ms);
    sl_be64_put(buf + 16, r->updated_at_ms);
    for (int i = 0; i < FIELDS; i++) {
        be32_put(p, (uint32_t)len[i]);
        if (len[i] > 0)
            memcpy(p + 4, f[i], len[i]);
        p[4 + len[i]] = '\0';
        p += 4 + len[i] + 1;
    }
    *out = buf;
    *out_len = total;
    return 0;
}

int sl_decode(const void *data, size_t len, keel_order_record_t *r)
{
    const uint8_t *p = data, *end = p + len;
    if (len < HEADER)
        return KEEL_EIO;
    r->version = sl_be64_get(p);
    r->created_at_ms = sl_be64_get(p + 8);
    r->updated_at_ms = sl_be64_get(p + 16);
    const char **f[FIELDS] = {&r->customer_id,  &r->status,     &r->confirmation_number, &r->error,
                              &r->payload_hash, &r->order_json, &r->message_id};
    p += HEADER;
    r->message_id = "";
    for (int i = 0; i < FIELDS; i++) {
        if (i == FIELDS - 1 && p == end)
            break; /* written before message_id existed */
        if (end - p < 5)
            return KEEL_EIO;
        size_t n = be32_get(p);
        if ((size_t)(end - p) < 4 + n + 1 || p[4 + n] != '\0')
            return KEEL_EIO;
        *f[i] = (const char *)p + 4;
        if (i == JSON_FIELD)
            r->order_json_len = n;
        p += 4 + n + 1;
    }
    return 0;
}

int sl_rec_copy(sl_rec_t *dst, const char *order_id, const void *data, size_t len)
{
    size_t id_len = strlen(order_id) + 1;
    dst->mem = malloc(id_len + len);
    if (dst->mem == NULL)
        return KEEL_ENOMEM;
    memcpy(dst->mem, order_id, id_len);
    memcpy(dst->mem + id_len, data, len);
    dst->r.order_id = dst->mem;
    int rc = sl_decode(dst->mem + id_len, len, &dst->r);
    if (rc < 0)
        sl_rec_free(dst);
    return rc;
}

void sl_rec_free(sl_rec_t *rec)
{
    free(rec->mem);
    memset(rec, 0, sizeof *rec);
}

size_t sl_index_key(uint8_t *out, const char *customer_id, uint64_t created_at,
                    const char *order_id)
{
    size_t c = strlen(customer_id), o = strlen(order_id);
    memcpy(out, customer_id, c);
    out[c] = 0x00;
    sl_be64_put(out + c + 1, ~created_at); /* newest first */
    memcpy(out + c + 9, order_id, o);
    return c + 9 + o;
}

char *sl_hex(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    char *s = malloc(len * 2 + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[len * 2] = '\0';
    return s;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Lowercase hex only, so every key has exactly one cursor spelling. */
int sl_unhex(const char *hex, char **out, size_t *out_len)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 != 0 || n > 2 * SL_MAX_INDEX_KEY)
        return KEEL_EINVAL;
    char *buf = malloc(n / 2 + 1);
    if (buf == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return KEEL_EINVAL;
        }
        buf[i] = (char)(hi << 4 | lo);
    }
    buf[n / 2] = '\0';
    *out = buf;
    *out_len = n / 2;
    return 0;
}
