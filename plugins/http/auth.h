/* auth.h — API keys: SHA-256 of the presented key compared in constant
 * time against configured hashes (pure; no libevent, no OpenSSL). */
#ifndef KEEL_HTTP_AUTH_H
#define KEEL_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_HASH_HEX 64 /* lowercase hex SHA-256, without NUL */

/** SHA-256 of data[len] as lowercase hex into out[AUTH_HASH_HEX + 1]. */
void auth_sha256_hex(const void *data, size_t len, char out[AUTH_HASH_HEX + 1]);

/** An instance that will hash (from init) and one that no longer will
 * (at its end, after its threads stopped): the last release frees what
 * auth_sha256_hex keeps between calls. */
void auth_acquire(void);
void auth_release(void);

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
