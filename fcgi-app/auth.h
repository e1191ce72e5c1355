/* auth: the optional API key of /api/ (NOVA_API_KEY).
 *
 * With a key configured, a request is let in when it carries the key as
 * "Authorization: Bearer <key>" or "X-API-Key: <key>"; without one every request is. The
 * comparison takes the same time whatever the bytes: both sides are hashed (SHA-256) and the
 * digests compared with CRYPTO_memcmp, so neither a matching prefix nor the key's length shows
 * in the answer time. Pure: the caller passes the header values (or NULL). */
#ifndef NOVA_AUTH_H
#define NOVA_AUTH_H

#include <stdbool.h>

/* key: NOVA_API_KEY ("" when unset); authorization, x_api_key: the request's headers or NULL. */
bool auth_allows(const char *key, const char *authorization, const char *x_api_key);

#endif
