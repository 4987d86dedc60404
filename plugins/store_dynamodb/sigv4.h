/* sigv4.h — AWS Signature Version 4 (header signing, AWS4-HMAC-SHA256) on OpenSSL libcrypto.
 *
 * The caller builds the request's headers itself, including "host" and "x-amz-date" (see
 * sigv4_amz_date()) and, when the credentials carry a session token, "x-amz-security-token"
 * with that token; every header passed is signed, so pass only headers that are sent unchanged
 * (never "user-agent", "expect", "content-length" set later by curl, ...). The result is the
 * value of the Authorization header.
 *
 * Canonical form (as the AWS SigV4 test suite and @smithy/signature-v4 build it):
 *   - header names lowercased, sorted (stable: duplicates keep their order) and joined with
 *     ',' when repeated; values trimmed and runs of spaces/tabs collapsed to one space;
 *   - path: must start with '/'; empty and "." segments dropped, ".." pops; each segment
 *     percent-encoded once (RFC 3986 unreserved set kept); a trailing '/' is kept;
 *   - query: the raw query string is split on '&' and the first '=', each part is
 *     percent-decoded ('+' stays a literal '+') and re-encoded (unreserved set kept), then
 *     sorted by key, then by value;
 *   - payload: hex SHA-256 of the body bytes.
 *
 * Apart from sigv4_key_cache_t (a mutex inside), everything is pure and thread-safe.
 */
#ifndef KEEL_DDB_SIGV4_H
#define KEEL_DDB_SIGV4_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* Length of an x-amz-date value ("YYYYMMDDTHHMMSSZ"), without the NUL. */
#define SIGV4_AMZ_DATE_LEN 16
/* Longest region / service name the key cache holds (longer ones are signed uncached). */
#define SIGV4_CACHE_NAME_MAX 63

typedef struct sigv4_header {
    const char *name;
    const char *value;
} sigv4_header_t;

typedef struct sigv4_creds {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL or "" when none */
} sigv4_creds_t;

/*
 * A one-entry cache of the derived signing key (the four HMACs of "AWS4"+secret → date →
 * region → service → "aws4_request"), keyed by date, region, service and the SHA-256 of the
 * secret (the secret itself is not stored). Any change of one of them recomputes the key.
 * Thread-safe: a mutex guards the entry, so one cache may be shared by every thread of a
 * store instance (the lock is held only to copy 32 bytes, or for the four HMACs on a miss).
 * Initialise with sigv4_key_cache_init(), release with sigv4_key_cache_destroy().
 */
typedef struct sigv4_key_cache {
    pthread_mutex_t lock;
    bool valid;
    char date[9];
    char region[SIGV4_CACHE_NAME_MAX + 1];
    char service[SIGV4_CACHE_NAME_MAX + 1];
    unsigned char secret_hash[32];
    unsigned char key[32];
    unsigned long derivations; /* key chains computed through this cache (for tests/metrics) */
} sigv4_key_cache_t;

/* Returns 0, or -1 when the mutex cannot be created. */
int sigv4_key_cache_init(sigv4_key_cache_t *cache);
void sigv4_key_cache_destroy(sigv4_key_cache_t *cache);
/* Number of key chains the cache has computed so far. */
unsigned long sigv4_key_cache_derivations(sigv4_key_cache_t *cache);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ". Returns 0, or -1 when t is not representable. */
int sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN + 1]);

/* Lowercase hex SHA-256 of data[0..len). data may be NULL when len is 0. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * Signs one request and writes the Authorization header value
 *   "AWS4-HMAC-SHA256 Credential=<akid>/<date>/<region>/<service>/aws4_request,
 *    SignedHeaders=<names>, Signature=<hex>"   (one line, ", " separators)
 * to out (NUL-terminated). amz_date must be "YYYYMMDDTHHMMSSZ" and equal the x-amz-date header.
 * Returns 0, or -1 on bad input (missing host/x-amz-date header, x-amz-security-token missing
 * or different from creds->session_token, CR/LF or an empty/invalid header name, path not
 * starting with '/', malformed date, empty region/service/keys), allocation failure, or when
 * out is too small (out is then "").
 */
int sigv4_sign(const sigv4_creds_t *creds, const char *region, const char *service,
               const char *method, const char *path, const char *query,
               const sigv4_header_t *headers, size_t header_count, const void *body,
               size_t body_len, const char *amz_date, char *out, size_t out_len);

/* sigv4_sign() taking the signing key from cache (NULL: no cache). */
int sigv4_sign_cached(sigv4_key_cache_t *cache, const sigv4_creds_t *creds, const char *region,
                      const char *service, const char *method, const char *path, const char *query,
                      const sigv4_header_t *headers, size_t header_count, const void *body,
                      size_t body_len, const char *amz_date, char *out, size_t out_len);

/*
 * The canonical request sigv4_sign() hashes (method, path, query, headers, signed header list
 * and payload hash, '\n'-separated), for tests and debugging. Same validation as
 * sigv4_sign() minus the credential checks; the session-token header check is skipped.
 * Returns its length, or -1 (bad input, allocation failure, or out too small).
 */
int sigv4_canonical_request(const char *method, const char *path, const char *query,
                            const sigv4_header_t *headers, size_t header_count, const void *body,
                            size_t body_len, char *out, size_t out_len);

#endif /* KEEL_DDB_SIGV4_H */
