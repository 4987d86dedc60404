/* auth.h — API keys: SHA-256 of the presented key compared in constant
 * time against configured hashes; the SHA-256 (OpenSSL's) also hashes
 * payloads on the order path. No libevent. */
#ifndef KEEL_HTTP_AUTH_H
#define KEEL_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_HASH_HEX 64 /* lowercase hex SHA-256, without NUL */

/** OpenSSL's SHA-256, fetched once per instance (OpenSSL 3 otherwise
 * looks it up on every digest). */
typedef struct auth_sha256 auth_sha256_t;

/** From init; NULL when OpenSSL has no SHA-256 (out of memory, a broken
 * provider set). Free with auth_sha256_free() after the instance's threads
 * stopped. */
auth_sha256_t *auth_sha256_new(void);
void auth_sha256_free(auth_sha256_t *sha);

/** SHA-256 of data[len] as lowercase hex into out[AUTH_HASH_HEX + 1]. Any
 * thread. */
void auth_sha256_hex(const auth_sha256_t *sha, const void *data, size_t len,
                     char out[AUTH_HASH_HEX + 1]);

/** True when s is exactly 64 lowercase hex digits. */
bool auth_hash_valid(const char *s);

/** Constant-time equality of two 64-char hashes. */
bool auth_hash_equal(const char *a, const char *b);

/** True when `hash` equals one of hashes[count]; looks at every entry
 * whatever matches, so timing does not reveal which one did. */
bool auth_hash_in(const char *const *hashes, size_t count, const char *hash);

/** The key a request presents: "Authorization: Bearer <key>" or, failing
 * that, "X-Api-Key: <key>". Either may be NULL. Returns NULL when none. */
const char *auth_presented_key(const char *authorization, const char *x_api_key);

#endif
