/* rconn: Redis connections for every dual-nova program (hiredis 0.14, RESP2, blocking).
 *
 * NOVA_REDIS_URL (rurl.h) is "redis://[[user:]password@]host:port[/db]", "rediss://..." (TLS,
 * rtls.h) or "unix://[[user:]password@]/path". rconn_connect opens one connection with
 * connect and command timeouts, TLS when asked, AUTH when there is a password and SELECT;
 * rpool is a small, bounded pool of such connections shared by a process's threads (get
 * blocks up to a timeout when all are busy; a connection that failed is dropped and reopened
 * on the next get; a connect Redis refused — wrong password, untrusted certificate — is not
 * tried again before a capped backoff, so a misconfiguration is no retry storm). */
#ifndef NOVA_RCONN_H
#define NOVA_RCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/config.h"
#include "redis/rurl.h"

/* A refused pool connect waits this long before the next try, doubled up to the cap. */
#define RPOOL_REFUSED_MIN_MS 500
#define RPOOL_REFUSED_MAX_MS 10000

/* Why a connect failed: Redis away (retry soon) or Redis said no (a configuration error). */
enum rconn_fail { RCONN_OK, RCONN_NET, RCONN_REFUSED };

/* The URL only (no TLS files): tests and tools that are given a URL. */
int rconn_parse_url(const char *url, struct rconn_addr *a, char *errstr, size_t errlen);
/* NOVA_REDIS_URL and the NOVA_REDIS_TLS_* files of the configuration. */
int rconn_addr_from_config(const struct nova_config *cfg, struct rconn_addr *a, char *errstr,
                           size_t errlen);
/* Returns a connected context (timeouts set, authenticated, database selected), or NULL with
 * errstr (never holding the password). */
redisContext *rconn_connect(const struct rconn_addr *a, int timeout_ms, char *errstr,
                            size_t errlen);
/* The same, saying why it failed in *fail (may be NULL). */
redisContext *rconn_connect_ex(const struct rconn_addr *a, int timeout_ms,
                               enum rconn_fail *fail, char *errstr, size_t errlen);
/* Connects, PINGs and closes: what a program checks at start. RCONN_REFUSED (a wrong
 * password, a server that wants one, an untrusted certificate) should stop the start. */
enum rconn_fail rconn_check(const struct rconn_addr *a, int timeout_ms, char *errstr,
                            size_t errlen);

struct rpool;
struct rpool *rpool_new(const struct rconn_addr *a, int size, int timeout_ms);
/* Borrows a connection, waiting up to wait_ms; NULL (errstr) when Redis is unreachable or the
 * pool stayed exhausted. */
redisContext *rpool_get(struct rpool *p, int wait_ms, char *errstr, size_t errlen);
/* Returns a connection; broken = true when a command on it failed (it is closed). */
void rpool_put(struct rpool *p, redisContext *c, bool broken);
void rpool_free(struct rpool *p);

#endif
