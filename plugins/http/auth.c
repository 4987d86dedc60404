/* auth.c — see auth.h. SHA-256 is OpenSSL's (SHA-NI/AVX2 where the CPU has
 * them: about 6x the portable C it replaced, on the order hot path). */
#include "auth.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t sha256_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_MD *_Atomic sha256_md;
static unsigned sha256_users; /* under sha256_lock: auth_acquire() calls */

/* The fetched SHA-256: fetched once (OpenSSL 3 otherwise looks it up on
 * every digest), freed when the last user calls auth_release(). */
static const EVP_MD *sha256(void)
{
    EVP_MD *md = atomic_load_explicit(&sha256_md, memory_order_acquire);
    if (md != NULL)
        return md;
    pthread_mutex_lock(&sha256_lock);
    md = atomic_load_explicit(&sha256_md, memory_order_relaxed);
    if (md == NULL && (md = EVP_MD_fetch(NULL, "SHA256", NULL)) != NULL)
        atomic_store_explicit(&sha256_md, md, memory_order_release);
    pthread_mutex_unlock(&sha256_lock);
    return md != NULL ? md : EVP_sha256();
}

void auth_acquire(void)
{
    pthread_mutex_lock(&sha256_lock);
    sha256_users++;
    pthread_mutex_unlock(&sha256_lock);
}

void auth_release(void)
{
    pthread_mutex_lock(&sha256_lock);
    if (sha256_users > 0 && --sha256_users == 0)
        EVP_MD_free(atomic_exchange(&sha256_md, NULL));
    pthread_mutex_unlock(&sha256_lock);
}

void auth_sha256_hex(const void *data, size_t len, char out[AUTH_HASH_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, sha256(), NULL) != 1 || md_len != 32) {
        abort(); /* SHA-256 is in every OpenSSL provider set; nothing sane to do */
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[AUTH_HASH_HEX] = '\0';
}

bool auth_hash_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == AUTH_HASH_HEX;
}

bool auth_hash_equal(const char *a, const char *b)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < AUTH_HASH_HEX; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

bool auth_hash_in(const char *const *hashes, size_t count, const char *hash)
{
    bool found = false;
    for (size_t i = 0; i < count; i++)
        found |= auth_hash_equal(hashes[i], hash);
    return found;
}

const char *auth_presented_key(const char *authorization, const char *x_api_key)
{
    if (authorization != NULL && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *key = authorization + 7;
        while (*key == ' ')
            key++;
        if (*key != '\0')
            return key;
    }
    if (x_api_key != NULL && *x_api_key != '\0')
        return x_api_key;
    return NULL;
}
