/* creds: the credential provider: the chain (creds_chain.h) resolved once, synchronously, at
 * creation, then kept fresh.
 *
 * Temporary credentials (those with an Expiration) are refreshed by a background thread ahead
 * of expiry; readers copy the current credentials under a mutex and never wait for the
 * network, so streams in flight are never blocked by a refresh. */
#ifndef NOVA_CREDS_H
#define NOVA_CREDS_H

#include <stddef.h>

#include "aws/creds_chain.h"

struct creds_provider;

/* Returns NULL with errstr when no link of the chain yields credentials. c is copied. */
struct creds_provider *creds_provider_new(const struct creds_config *c, char *errstr,
                                          size_t errlen);
/* Copies the current credentials. Never blocks on the network. Returns 0, or -1 when the
 * credentials have expired and no refresh has succeeded (errstr says the last failure). */
int creds_provider_get(struct creds_provider *p, struct aws_creds *out, char *errstr,
                       size_t errlen);
/* Number of successful refreshes after the first resolve (for tests and the status page). */
unsigned long creds_provider_refreshes(struct creds_provider *p);
void creds_provider_free(struct creds_provider *p);

#endif
