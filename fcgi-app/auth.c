/* auth: the optional API key, compared in constant time (see auth.h). */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define AUTH_VALUE_MAX 1024 /* longer header values are not a key of ours */

/* Whether value (n bytes) is key, in time that depends on neither. */
static bool same_secret(const char *key, const char *value, size_t n)
{
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int la = 0, lb = 0;
    if (!EVP_Digest(key, strlen(key), a, &la, EVP_sha256(), NULL) ||
        !EVP_Digest(value, n, b, &lb, EVP_sha256(), NULL) || la != lb)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* The value without surrounding blanks: *p and its length. */
static size_t trimmed(const char **p)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strnlen(s, AUTH_VALUE_MAX + 1);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *p = s;
    return n;
}

bool auth_allows(const char *key, const char *authorization, const char *x_api_key)
{
    if (!key[0])
        return true;
    bool ok = false;
    if (authorization) {
        const char *v = authorization;
        size_t n = trimmed(&v);
        /* RFC 6750: "Bearer" (any case), one or more blanks, the token. */
        if (n > 7 && n <= AUTH_VALUE_MAX && strncasecmp(v, "bearer", 6) == 0 &&
            (v[6] == ' ' || v[6] == '\t')) {
            const char *t = v + 6;
            size_t skip = 0;
            while (t[skip] == ' ' || t[skip] == '\t')
                skip++;
            ok |= same_secret(key, t + skip, n - 6 - skip);
        }
    }
    if (x_api_key) {
        const char *v = x_api_key;
        size_t n = trimmed(&v);
        if (n <= AUTH_VALUE_MAX)
            ok |= same_secret(key, v, n);
    }
    return ok;
}
