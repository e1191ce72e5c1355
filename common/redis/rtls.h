/* rtls: rediss:// for hiredis 0.14, which has no TLS of its own (OpenSSL, in-process).
 *
 * rtls_connect makes the TCP connection and the TLS handshake (TLS 1.2 or later, the chain
 * verified against the CA file or the system's store, the host name or IP address checked
 * against the certificate), then hands back one end of a socketpair: hiredis reads and writes
 * plain RESP on it, and a small thread per connection pumps the bytes between that pair and
 * the TLS session. Closing hiredis's end (redisFree) ends the thread, which closes the TLS
 * session; the TLS side closing closes hiredis's end (hiredis sees EOF). At exit, the pumps
 * still running are ended (bounded, 1 s), each with its close_notify. Why this and not
 * stunnel: common/redis/README.md. */
#ifndef NOVA_RTLS_H
#define NOVA_RTLS_H

#include <stdbool.h>
#include <stddef.h>

#include "redis/rurl.h"

/* What went wrong, for the caller's retry policy: a network failure is worth retrying soon; a
 * refused handshake (certificate, host name, protocol) is a configuration error. */
enum rtls_fail { RTLS_OK, RTLS_NET, RTLS_REFUSED };

/* Returns the plain descriptor (close-on-exec, blocking) for redisConnectFd, or -1 with
 * errstr and *fail. timeout_ms bounds the connect and the handshake together. */
int rtls_connect(const struct rconn_addr *a, int timeout_ms, enum rtls_fail *fail,
                 char *errstr, size_t errlen);

/* Waits until no pump thread runs (every TLS connection closed), up to timeout_ms; false when
 * some still run. A process that forks after using Redis over TLS calls it first, so no
 * thread holds a lock of OpenSSL's or of malloc's across the fork. */
bool rtls_wait_idle(int timeout_ms);

#endif
