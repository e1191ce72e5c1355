/* app: the pooled Redis connections and random ids the handlers share (see app.h). */
#include "app.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/random.h>

#include "core/errstr.h"

/* Enough tries to get past every stale idle connection to a fresh connect. */
#define APP_REDIS_TRIES 20

void app_random_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t need = (n + 1) / 2, got = 0;
    if (need > sizeof raw)
        need = sizeof raw;
    while (got < need) {
        ssize_t k = getrandom(raw + got, need - got, 0);
        if (k > 0)
            got += (size_t)k;
        /* getrandom only fails with EINTR here (the pool is initialised long after boot) */
    }
    size_t i = 0;
    for (; i < n && i / 2 < need; i++)
        out[i] = hex[i % 2 ? raw[i / 2] & 15 : raw[i / 2] >> 4];
    out[i] = '\0';
}

/* An idle pooled connection has nothing to read. If its socket is readable, Redis closed it
 * (a restart: the end of file is there) or sent something unasked; either way it is not
 * used. One non-blocking peek instead of a PING round trip before every use. */
static bool conn_quiet(redisContext *c, char *errstr, size_t errlen)
{
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    errstr_set(errstr, errlen, "pooled connection %s", n == 0 ? "closed by Redis"
                                                               : n > 0 ? "has unread bytes"
                                                                       : strerror(errno));
    return false;
}

redisContext *app_redis(struct app *app, char *errstr, size_t errlen)
{
    for (int i = 0; i < APP_REDIS_TRIES; i++) {
        redisContext *c = rpool_get(app->pool, APP_REDIS_WAIT_MS, errstr, errlen);
        if (!c)
            return NULL;
        if (conn_quiet(c, errstr, errlen))
            return c;
        rpool_put(app->pool, c, true);
    }
    return NULL;
}

void app_redis_put(struct app *app, redisContext *c)
{
    if (c)
        rpool_put(app->pool, c, c->err != 0);
}
