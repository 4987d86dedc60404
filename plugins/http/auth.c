/* auth.c — see auth.h. SHA-256 is OpenSSL's (SHA-NI/AVX2 where the CPU has
 * them: about 6x the portable C it replaced, on the order hot path). */
#include "auth.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct auth_sha256 {
    EVP_MD *md;
};

auth_sha256_t *auth_sha256_new(void)
{
    auth_sha256_t *sha = malloc(sizeof *sha);
    if (sha != NULL && (sha->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        free(sha);
        sha = NULL;
    }
    return sha;
}

void auth_sha256_free(auth_sha256_t *sha)
{
    if (sha != NULL) {
        EVP_MD_free(sha->md);
        free(sha);
    }
}

void auth_sha256_hex(const auth_sha256_t *sha, const void *data, size_t len,
                     char out[AUTH_HASH_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, sha->md, NULL) != 1 || md_len != 32) {
        abort(); /* a fetched SHA-256 cannot fail on memory we own */
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
