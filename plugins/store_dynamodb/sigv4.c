/* sigv4.c — AWS Signature Version 4 on OpenSSL HMAC/SHA-256. See sigv4.h. */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_TYPE "aws4_request"

/* ---- a growable string; any failure sticks and is checked once at the end ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void sb_putn(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_putc(sbuf_t *b, char c)
{
    sb_putn(b, &c, 1);
}

static void sb_free(sbuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- hashing ---- */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    static const unsigned char empty[1];
    SHA256(data ? data : empty, len, md);
    to_hex(md, sizeof md, out);
}

static int hmac256(const void *key, size_t key_len, const void *data, size_t len,
                   unsigned char out[32])
{
    unsigned int out_len = 0;
    if (key_len > INT32_MAX)
        return -1;
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) || out_len != 32)
        return -1;
    return 0;
}

static int derive_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key[32])
{
    size_t slen = strlen(secret);
    char *k = malloc(slen + 5);
    if (!k)
        return -1;
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, slen + 1);
    unsigned char a[32], b[32];
    int rc = hmac256(k, slen + 4, date8, 8, a);
    rc = rc ? rc : hmac256(a, 32, region, strlen(region), b);
    rc = rc ? rc : hmac256(b, 32, service, strlen(service), a);
    rc = rc ? rc : hmac256(a, 32, KEY_TYPE, strlen(KEY_TYPE), key);
    OPENSSL_cleanse(k, slen + 4);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    free(k);
    return rc;
}

/* ---- key cache ---- */

int sigv4_key_cache_init(sigv4_key_cache_t *cache)
{
    memset(cache, 0, sizeof *cache);
    return pthread_mutex_init(&cache->lock, NULL) == 0 ? 0 : -1;
}

void sigv4_key_cache_destroy(sigv4_key_cache_t *cache)
{
    OPENSSL_cleanse(cache->key, sizeof cache->key);
    cache->valid = false;
    pthread_mutex_destroy(&cache->lock);
}

unsigned long sigv4_key_cache_derivations(sigv4_key_cache_t *cache)
{
    pthread_mutex_lock(&cache->lock);
    unsigned long n = cache->derivations;
    pthread_mutex_unlock(&cache->lock);
    return n;
}

static int signing_key(sigv4_key_cache_t *cache, const char *secret, const char *date8,
                       const char *region, const char *service, unsigned char key[32])
{
    if (!cache || strlen(region) > SIGV4_CACHE_NAME_MAX || strlen(service) > SIGV4_CACHE_NAME_MAX)
        return derive_key(secret, date8, region, service, key);

    unsigned char sh[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)secret, strlen(secret), sh);
    int rc = 0;
    pthread_mutex_lock(&cache->lock);
    if (cache->valid && memcmp(cache->date, date8, 8) == 0 && strcmp(cache->region, region) == 0 &&
        strcmp(cache->service, service) == 0 &&
        CRYPTO_memcmp(cache->secret_hash, sh, sizeof sh) == 0) {
        memcpy(key, cache->key, 32);
    } else {
        rc = derive_key(secret, date8, region, service, key);
        if (rc == 0) {
            memcpy(cache->date, date8, 8);
            cache->date[8] = '\0';
            strcpy(cache->region, region);
            strcpy(cache->service, service);
            memcpy(cache->secret_hash, sh, sizeof sh);
            memcpy(cache->key, key, 32);
            cache->valid = true;
            cache->derivations++;
        } else {
            cache->valid = false;
        }
    }
    pthread_mutex_unlock(&cache->lock);
    OPENSSL_cleanse(sh, sizeof sh);
    return rc;
}

/* ---- dates ---- */

int sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN + 1])
{
    struct tm tm;
    out[0] = '\0';
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return -1;
    if (strftime(out, SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != SIGV4_AMZ_DATE_LEN) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool valid_amz_date(const char *d)
{
    if (!d || strlen(d) != SIGV4_AMZ_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && !is_digit(d[i]))
            return false;
    return true;
}

/* ---- percent-encoding ---- */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit((char)c) || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void sb_encode(sbuf_t *b, const char *s, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            sb_putc(b, (char)c);
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            sb_putn(b, esc, 3);
        }
    }
}

static int hexval(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (which has room for n + 1); returns the decoded length. An
 * invalid escape is kept literally. */
static size_t decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

/* ---- canonical parts ---- */

static int canonical_path(sbuf_t *b, const char *path)
{
    if (!path || path[0] != '/')
        return -1;
    size_t n = strlen(path);
    /* Segment offsets; at most n/2 + 1 non-empty segments. */
    size_t max = n / 2 + 2, count = 0;
    size_t *start = malloc(max * sizeof *start), *len = malloc(max * sizeof *len);
    if (!start || !len) {
        free(start);
        free(len);
        return -1;
    }
    for (size_t i = 0; i < n;) {
        while (i < n && path[i] == '/')
            i++;
        size_t s = i;
        while (i < n && path[i] != '/')
            i++;
        size_t l = i - s;
        if (l == 0 || (l == 1 && path[s] == '.'))
            continue;
        if (l == 2 && path[s] == '.' && path[s + 1] == '.') {
            if (count > 0)
                count--;
            continue;
        }
        start[count] = s;
        len[count] = l;
        count++;
    }
    sb_putc(b, '/');
    for (size_t k = 0; k < count; k++) {
        if (k > 0)
            sb_putc(b, '/');
        sb_encode(b, path + start[k], len[k]);
    }
    if (count > 0 && path[n - 1] == '/')
        sb_putc(b, '/');
    free(start);
    free(len);
    return 0;
}

typedef struct qparam {
    char *key, *value; /* encoded */
} qparam_t;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_part(const char *s, size_t n)
{
    char *tmp = malloc(n + 1);
    if (!tmp)
        return NULL;
    size_t dn = decode(s, n, tmp);
    sbuf_t b = {0};
    sb_encode(&b, tmp, dn);
    sb_putn(&b, "", 0);
    free(tmp);
    if (b.failed || !b.p) {
        sb_free(&b);
        return NULL;
    }
    return b.p;
}

static int canonical_query(sbuf_t *b, const char *query)
{
    if (!query || !*query)
        return 0;
    size_t n = strlen(query), cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += query[i] == '&';
    qparam_t *ps = calloc(cap, sizeof *ps);
    if (!ps)
        return -1;
    size_t count = 0;
    int rc = 0;
    for (const char *p = query; *p && rc == 0;) {
        const char *end = strchr(p, '&');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l > 0) {
            const char *eq = memchr(p, '=', l);
            size_t kl = eq ? (size_t)(eq - p) : l;
            ps[count].key = encode_part(p, kl);
            ps[count].value = eq ? encode_part(eq + 1, l - kl - 1) : encode_part("", 0);
            if (!ps[count].key || !ps[count].value)
                rc = -1;
            count++;
        }
        p += l + (end ? 1 : 0);
    }
    if (rc == 0) {
        qsort(ps, count, sizeof *ps, qparam_cmp);
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                sb_putc(b, '&');
            sb_puts(b, ps[i].key);
            sb_putc(b, '=');
            sb_puts(b, ps[i].value);
        }
    }
    for (size_t i = 0; i < count; i++) {
        free(ps[i].key);
        free(ps[i].value);
    }
    free(ps);
    return rc;
}

typedef struct chdr {
    char *name;  /* lowercase */
    char *value; /* trimmed, whitespace runs collapsed */
    size_t index;
} chdr_t;

static int chdr_cmp(const void *a, const void *b)
{
    const chdr_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static char *lower_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return NULL;
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i < n && (c <= 0x20 || c >= 0x7f || c == ':')) {
            free(o);
            return NULL;
        }
        o[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    return o;
}

static char *canonical_value(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    bool pending_space = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\r' || c == '\n') {
            free(out);
            return NULL;
        }
        if (c == ' ' || c == '\t') {
            pending_space = o > 0;
            continue;
        }
        if (pending_space)
            out[o++] = ' ';
        pending_space = false;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

typedef struct canon {
    sbuf_t request;
    sbuf_t signed_headers;
} canon_t;

static void canon_free(canon_t *c)
{
    sb_free(&c->request);
    sb_free(&c->signed_headers);
}

/* Builds the canonical request. amz_date (if not NULL) must equal the x-amz-date header;
 * token (if non-empty) must equal the x-amz-security-token header. */
static int build_canonical(canon_t *c, const char *method, const char *path, const char *query,
                           const sigv4_header_t *headers, size_t header_count, const void *body,
                           size_t body_len, const char *amz_date, const char *token)
{
    memset(c, 0, sizeof *c);
    if (!method || !*method || strpbrk(method, " \t\r\n") || (!headers && header_count) ||
        (!body && body_len))
        return -1;
    chdr_t *hs = calloc(header_count ? header_count : 1, sizeof *hs);
    if (!hs)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < header_count && rc == 0; i++) {
        if (!headers[i].name || !headers[i].value) {
            rc = -1;
            break;
        }
        hs[i].name = lower_name(headers[i].name);
        hs[i].value = canonical_value(headers[i].value);
        hs[i].index = i;
        if (!hs[i].name || !hs[i].value)
            rc = -1;
    }
    bool has_host = false, has_date = false, has_token = false;
    if (rc == 0) {
        qsort(hs, header_count, sizeof *hs, chdr_cmp);
        for (size_t i = 0; i < header_count; i++) {
            if (strcmp(hs[i].name, "host") == 0) {
                has_host = true;
            } else if (strcmp(hs[i].name, "x-amz-date") == 0) {
                if (has_date || (amz_date && strcmp(hs[i].value, amz_date) != 0))
                    rc = -1;
                has_date = true;
            } else if (strcmp(hs[i].name, "x-amz-security-token") == 0) {
                if (has_token || (token && *token && strcmp(hs[i].value, token) != 0))
                    rc = -1;
                has_token = true;
            }
        }
        if (!has_host || !has_date || (token && *token && !has_token))
            rc = -1;
    }
    if (rc == 0) {
        sb_puts(&c->request, method);
        sb_putc(&c->request, '\n');
        rc = canonical_path(&c->request, path);
    }
    if (rc == 0) {
        sb_putc(&c->request, '\n');
        rc = canonical_query(&c->request, query);
    }
    if (rc == 0) {
        sb_putc(&c->request, '\n');
        for (size_t i = 0; i < header_count; i++) {
            bool first = i == 0 || strcmp(hs[i - 1].name, hs[i].name) != 0;
            if (first) {
                if (i > 0) {
                    sb_putc(&c->request, '\n');
                    sb_putc(&c->signed_headers, ';');
                }
                sb_puts(&c->request, hs[i].name);
                sb_putc(&c->request, ':');
                sb_puts(&c->signed_headers, hs[i].name);
            } else {
                sb_putc(&c->request, ',');
            }
            sb_puts(&c->request, hs[i].value);
        }
        sb_puts(&c->request, "\n\n");
        sb_puts(&c->request, c->signed_headers.p ? c->signed_headers.p : "");
        sb_putc(&c->request, '\n');
        char hash[65];
        sigv4_sha256_hex(body, body_len, hash);
        sb_puts(&c->request, hash);
        if (c->request.failed || c->signed_headers.failed)
            rc = -1;
    }
    for (size_t i = 0; i < header_count; i++) {
        free(hs[i].name);
        free(hs[i].value);
    }
    free(hs);
    if (rc != 0)
        canon_free(c);
    return rc;
}

int sigv4_canonical_request(const char *method, const char *path, const char *query,
                            const sigv4_header_t *headers, size_t header_count, const void *body,
                            size_t body_len, char *out, size_t out_len)
{
    canon_t c;
    if (out && out_len)
        out[0] = '\0';
    if (build_canonical(&c, method, path, query, headers, header_count, body, body_len, NULL,
                        NULL) != 0)
        return -1;
    int rc = -1;
    if (out && c.request.len < out_len && c.request.len <= INT32_MAX) {
        memcpy(out, c.request.p, c.request.len + 1);
        rc = (int)c.request.len;
    }
    canon_free(&c);
    return rc;
}

static bool valid_scope_part(const char *s)
{
    return s && *s && !strpbrk(s, "/ \t\r\n");
}

int sigv4_sign_cached(sigv4_key_cache_t *cache, const sigv4_creds_t *creds, const char *region,
                      const char *service, const char *method, const char *path, const char *query,
                      const sigv4_header_t *headers, size_t header_count, const void *body,
                      size_t body_len, const char *amz_date, char *out, size_t out_len)
{
    if (out && out_len)
        out[0] = '\0';
    if (!out || !creds || !valid_scope_part(creds->access_key) || !creds->secret_key ||
        !*creds->secret_key || !valid_scope_part(region) || !valid_scope_part(service) ||
        !valid_amz_date(amz_date))
        return -1;

    canon_t c;
    if (build_canonical(&c, method, path, query, headers, header_count, body, body_len, amz_date,
                        creds->session_token) != 0)
        return -1;

    char date8[9];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';

    char creq_hash[65];
    sigv4_sha256_hex(c.request.p, c.request.len, creq_hash);
    sbuf_t sts = {0};
    sb_puts(&sts, SIGV4_ALGORITHM "\n");
    sb_puts(&sts, amz_date);
    sb_putc(&sts, '\n');
    sb_puts(&sts, date8);
    sb_putc(&sts, '/');
    sb_puts(&sts, region);
    sb_putc(&sts, '/');
    sb_puts(&sts, service);
    sb_puts(&sts, "/" KEY_TYPE "\n");
    sb_puts(&sts, creq_hash);

    unsigned char key[32], sig[32];
    char sig_hex[65];
    int rc = sts.failed ? -1 : 0;
    rc = rc ? rc : signing_key(cache, creds->secret_key, date8, region, service, key);
    rc = rc ? rc : hmac256(key, sizeof key, sts.p, sts.len, sig);
    if (rc == 0) {
        to_hex(sig, sizeof sig, sig_hex);
        int n = snprintf(out, out_len,
                         SIGV4_ALGORITHM " Credential=%s/%s/%s/%s/" KEY_TYPE
                                         ", SignedHeaders=%s, Signature=%s",
                         creds->access_key, date8, region, service, c.signed_headers.p, sig_hex);
        if (n < 0 || (size_t)n >= out_len) {
            out[0] = '\0';
            rc = -1;
        }
    }
    OPENSSL_cleanse(key, sizeof key);
    sb_free(&sts);
    canon_free(&c);
    return rc;
}

int sigv4_sign(const sigv4_creds_t *creds, const char *region, const char *service,
               const char *method, const char *path, const char *query,
               const sigv4_header_t *headers, size_t header_count, const void *body,
               size_t body_len, const char *amz_date, char *out, size_t out_len)
{
    return sigv4_sign_cached(NULL, creds, region, service, method, path, query, headers,
                             header_count, body, body_len, amz_date, out, out_len);
}
