/* rconn: Redis connections for every dual-nova program (hiredis 0.14, RESP2, blocking).
 *
 * NOVA_REDIS_URL is "redis://host:port" (optionally "/db") or "unix:///path". rconn_connect
 * opens one connection with connect and command timeouts; rpool is a small, bounded pool of
 * such connections shared by a process's threads (get blocks up to a timeout when all are
 * busy; a connection that failed is dropped and reopened on the next get). */
#ifndef NOVA_RCONN_H
#define NOVA_RCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

struct rconn_addr {
    bool is_unix;
    char host[256];
    int port;
    char path[512];
    int db;
};

int rconn_parse_url(const char *url, struct rconn_addr *a, char *errstr, size_t errlen);
/* Returns a connected context (timeouts set), or NULL with errstr. */
redisContext *rconn_connect(const struct rconn_addr *a, int timeout_ms, char *errstr,
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
