/* rconn: Redis URLs, connections with timeouts, and a bounded connection pool (see rconn.h).
 *
 * The pool hands out blocking hiredis contexts. It never holds its mutex across network I/O:
 * a slot is reserved under the lock, then the connect happens outside it, so one thread stuck
 * in a connect timeout does not stall the others' get/put. */
#include "redis/rconn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/errstr.h"

/* ---- URLs ------------------------------------------------------------------------------- */

/* Parses 1..max decimal digits from s[0..n); -1 when not a number in range. */
static long parse_decimal(const char *s, size_t n, long max)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

static bool host_char_ok(char ch, bool ipv6)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ipv6 ? ch == ':' || ch == '.' : ch == '.' || ch == '-' || ch == '_';
}

static int parse_tcp(const char *url, const char *p, struct rconn_addr *a, char *errstr,
                     size_t errlen)
{
    if (strchr(p, '@')) {
        errstr_set(errstr, errlen, "%s: user names and passwords are not supported", url);
        return -1;
    }
    if (strchr(p, '?') || strchr(p, '#')) {
        errstr_set(errstr, errlen, "%s: query strings are not supported", url);
        return -1;
    }
    const char *host = p, *host_end, *rest;
    bool ipv6 = *p == '[';
    if (ipv6) {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) {
            errstr_set(errstr, errlen, "%s: unterminated [IPv6 address]", url);
            return -1;
        }
        rest = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":/");
        rest = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof a->host) {
        errstr_set(errstr, errlen, "%s: missing or too long host", url);
        return -1;
    }
    for (size_t i = 0; i < hlen; i++)
        if (!host_char_ok(host[i], ipv6)) {
            errstr_set(errstr, errlen, "%s: bad character in host", url);
            return -1;
        }
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    a->port = 6379;
    if (*rest == ':') {
        rest++;
        size_t n = strcspn(rest, "/");
        long port = parse_decimal(rest, n, 65535);
        if (port < 1) {
            errstr_set(errstr, errlen, "%s: port must be 1..65535", url);
            return -1;
        }
        a->port = (int)port;
        rest += n;
    }
    if (*rest == '/' && rest[1] != '\0') {
        long db = parse_decimal(rest + 1, strlen(rest + 1), 65535);
        if (db < 0) {
            errstr_set(errstr, errlen, "%s: database must be a number 0..65535", url);
            return -1;
        }
        a->db = (int)db;
    } else if (*rest != '\0' && strcmp(rest, "/") != 0) {
        errstr_set(errstr, errlen, "%s: unexpected \"%s\" after the host", url, rest);
        return -1;
    }
    return 0;
}

int rconn_parse_url(const char *url, struct rconn_addr *a, char *errstr, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!url || !*url) {
        errstr_set(errstr, errlen, "empty Redis URL");
        return -1;
    }
    if (strncmp(url, "redis://", 8) == 0)
        return parse_tcp(url, url + 8, a, errstr, errlen);
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        size_t n = strlen(path);
        /* sun_path bounds what connect() can reach, whatever our field could hold. */
        size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
        if (path[0] != '/' || n < 2) {
            errstr_set(errstr, errlen, "%s: want unix:///absolute/path", url);
            return -1;
        }
        if (n > max || n >= sizeof a->path) {
            errstr_set(errstr, errlen, "%s: socket path longer than %zu bytes", url, max);
            return -1;
        }
        if (strchr(path, '?')) {
            errstr_set(errstr, errlen, "%s: query strings are not supported", url);
            return -1;
        }
        a->is_unix = true;
        memcpy(a->path, path, n + 1);
        return 0;
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        errstr_set(errstr, errlen, "%s: TLS (rediss://) is not supported", url);
        return -1;
    }
    errstr_set(errstr, errlen, "%s: want redis://host:port[/db] or unix:///path", url);
    return -1;
}

/* ---- connections ------------------------------------------------------------------------ */

static void addr_name(const struct rconn_addr *a, char *out, size_t n)
{
    if (a->is_unix)
        snprintf(out, n, "unix://%s", a->path);
    else
        snprintf(out, n, "redis://%s:%d/%d", a->host, a->port, a->db);
}

redisContext *rconn_connect(const struct rconn_addr *a, int timeout_ms, char *errstr,
                            size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char name[600];
    addr_name(a, name, sizeof name);
    redisContext *c = a->is_unix ? redisConnectUnixWithTimeout(a->path, tv)
                                 : redisConnectWithTimeout(a->host, a->port, tv);
    if (!c) {
        errstr_set(errstr, errlen, "%s: cannot allocate a context", name);
        return NULL;
    }
    if (c->err) {
        errstr_set(errstr, errlen, "%s: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    /* hiredis 0.14 opens its socket without SOCK_CLOEXEC: a connection must not leak into a
     * program started with exec (it would hold Redis's socket open after we closed it). */
    int fl = fcntl(c->fd, F_GETFD);
    if (fl < 0 || fcntl(c->fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
        errstr_set(errstr, errlen, "%s: fcntl(FD_CLOEXEC): %s", name, strerror(errno));
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        errstr_set(errstr, errlen, "%s: setting the command timeout: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    /* A peer that vanished without a FIN is noticed by keepalive, not by a hung read. */
    if (!a->is_unix)
        redisEnableKeepAlive(c);
    if (a->db != 0) {
        redisReply *r = redisCommand(c, "SELECT %d", a->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            errstr_set(errstr, errlen, "%s: SELECT %d: %s", name, a->db,
                       r ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}

/* ---- the pool --------------------------------------------------------------------------- */

struct rpool {
    struct rconn_addr addr;
    int timeout_ms;
    int size;            /* at most this many connections exist (idle + borrowed + opening) */
    int open;            /* connections that exist, counting those being opened */
    int n_idle;
    redisContext **idle; /* a stack: the most recently used connection is handed out first */
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* signalled when a connection or a slot comes back */
};

struct rpool *rpool_new(const struct rconn_addr *a, int size, int timeout_ms)
{
    struct rpool *p = xcalloc(1, sizeof *p);
    p->addr = *a;
    p->size = size > 0 ? size : 1;
    p->timeout_ms = timeout_ms;
    p->idle = xcalloc((size_t)p->size, sizeof *p->idle);
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->cv);
    return p;
}

redisContext *rpool_get(struct rpool *p, int wait_ms, char *errstr, size_t errlen)
{
    struct timespec until;
    clock_deadline(&until, wait_ms);

    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->n_idle > 0) {
            redisContext *c = p->idle[--p->n_idle];
            if (!c->err) {
                pthread_mutex_unlock(&p->mu);
                return c;
            }
            redisFree(c); /* an idle connection cannot break, but a sticky err is final */
            p->open--;
        }
        if (p->open < p->size)
            break;
        if (wait_ms <= 0 || pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT) {
            if (p->n_idle > 0 || p->open < p->size)
                continue; /* a connection came back just as the wait ended */
            pthread_mutex_unlock(&p->mu);
            errstr_set(errstr, errlen, "Redis pool exhausted (%d connections busy)", p->size);
            return NULL;
        }
    }
    p->open++; /* the slot is ours; connect without holding the lock */
    pthread_mutex_unlock(&p->mu);
    redisContext *c = rconn_connect(&p->addr, p->timeout_ms, errstr, errlen);
    if (!c) {
        pthread_mutex_lock(&p->mu);
        p->open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return c;
}

void rpool_put(struct rpool *p, redisContext *c, bool broken)
{
    if (!c)
        return;
    /* A context with err set is unusable for good (hiredis errors are sticky). */
    bool drop = broken || c->err;
    if (drop)
        redisFree(c);
    pthread_mutex_lock(&p->mu);
    if (drop)
        p->open--;
    else
        p->idle[p->n_idle++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void rpool_free(struct rpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_idle; i++)
        redisFree(p->idle[i]);
    free(p->idle);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
