/* rconn: Redis URLs, connections with timeouts, and a bounded connection pool (see rconn.h).
 *
 * The pool hands out blocking hiredis contexts. It never holds its mutex across network I/O:
 * a slot is reserved under the lock, then the connect happens outside it, so one thread stuck
 * in a connect timeout does not stall the others' get/put. */
#include "redis/rconn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "redis/rtls.h"

/* ---- connections ------------------------------------------------------------------------ */

int rconn_parse_url(const char *url, struct rconn_addr *a, char *errstr, size_t errlen)
{
    return rurl_parse(url, a, errstr, errlen);
}

int rconn_addr_from_config(const struct nova_config *cfg, struct rconn_addr *a, char *errstr,
                           size_t errlen)
{
    char err[400];
    if (rurl_parse(cfg->redis_url, a, err, sizeof err) < 0) {
        errstr_set(errstr, errlen, "NOVA_REDIS_URL: %s", err);
        return -1;
    }
    if (!a->tls && (cfg->redis_tls_ca_file[0] || cfg->redis_tls_cert_file[0])) {
        errstr_set(errstr, errlen, "NOVA_REDIS_TLS_*_FILE set but NOVA_REDIS_URL is not "
                   "rediss://");
        return -1;
    }
    snprintf(a->tls_ca_file, sizeof a->tls_ca_file, "%s", cfg->redis_tls_ca_file);
    snprintf(a->tls_cert_file, sizeof a->tls_cert_file, "%s", cfg->redis_tls_cert_file);
    snprintf(a->tls_key_file, sizeof a->tls_key_file, "%s", cfg->redis_tls_key_file);
    return 0;
}

/* Sends AUTH (with the ACL user when there is one); 0, or -1 with errstr. The reply's text is
 * Redis's ("WRONGPASS invalid username-password pair ..."): it never holds the secret. */
static int send_auth(redisContext *c, const struct rconn_addr *a, const char *name,
                     char *errstr, size_t errlen)
{
    const char *argv[3] = {"AUTH", a->user, a->password};
    size_t argvlen[3] = {4, strlen(a->user), strlen(a->password)};
    int argc = a->user[0] ? 3 : 2;
    if (!a->user[0]) {
        argv[1] = a->password;
        argvlen[1] = argvlen[2];
    }
    redisReply *r = redisCommandArgv(c, argc, argv, argvlen);
    if (r && r->type != REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        return 0;
    }
    errstr_set(errstr, errlen, "%s: AUTH%s%s refused: %s", name, a->user[0] ? " as " : "",
               a->user, r ? r->str : c->errstr);
    if (r)
        freeReplyObject(r);
    return -1;
}

/* A reply error that says the credentials are wrong or missing, not that Redis is away. */
static bool auth_error(const char *s)
{
    return strncmp(s, "WRONGPASS", 9) == 0 || strncmp(s, "NOAUTH", 6) == 0 ||
           strncmp(s, "NOPERM", 6) == 0 || strstr(s, "invalid password") != NULL ||
           strstr(s, "without any password configured") != NULL;
}

redisContext *rconn_connect_ex(const struct rconn_addr *a, int timeout_ms,
                               enum rconn_fail *fail, char *errstr, size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char name[700];
    rurl_name(a, name, sizeof name);
    enum rconn_fail dummy;
    if (!fail)
        fail = &dummy;
    *fail = RCONN_NET;
    redisContext *c;
    if (a->tls) {
        enum rtls_fail tf;
        char err[400];
        int fd = rtls_connect(a, timeout_ms, &tf, err, sizeof err);
        if (fd < 0) {
            *fail = tf == RTLS_REFUSED ? RCONN_REFUSED : RCONN_NET;
            errstr_set(errstr, errlen, "%s: %s", name, err);
            return NULL;
        }
        c = redisConnectFd(fd);
        if (!c)
            close(fd);
    } else {
        c = a->is_unix ? redisConnectUnixWithTimeout(a->path, tv)
                       : redisConnectWithTimeout(a->host, a->port, tv);
    }
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
    /* A peer that vanished without a FIN is noticed by keepalive, not by a hung read (the
     * TLS pump sets it on its own TCP socket). */
    if (!a->is_unix && !a->tls)
        redisEnableKeepAlive(c);
    if (a->password[0] && send_auth(c, a, name, errstr, errlen) < 0) {
        if (!c->err)
            *fail = RCONN_REFUSED;
        redisFree(c);
        return NULL;
    }
    if (a->db != 0) {
        redisReply *r = redisCommand(c, "SELECT %d", a->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            errstr_set(errstr, errlen, "%s: SELECT %d: %s", name, a->db,
                       r ? r->str : c->errstr);
            if (r && auth_error(r->str))
                *fail = RCONN_REFUSED;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    *fail = RCONN_OK;
    return c;
}

redisContext *rconn_connect(const struct rconn_addr *a, int timeout_ms, char *errstr,
                            size_t errlen)
{
    return rconn_connect_ex(a, timeout_ms, NULL, errstr, errlen);
}

enum rconn_fail rconn_check(const struct rconn_addr *a, int timeout_ms, char *errstr,
                            size_t errlen)
{
    enum rconn_fail fail;
    redisContext *c = rconn_connect_ex(a, timeout_ms, &fail, errstr, errlen);
    if (!c) {
        if (a->tls)
            rtls_wait_idle(1000); /* a refused AUTH closed a TLS connection: its pump ends */
        return fail;
    }
    /* Without a password a server that wants one answers the first command with NOAUTH. */
    redisReply *r = redisCommand(c, "PING");
    if (!r || r->type == REDIS_REPLY_ERROR) {
        char name[700];
        rurl_name(a, name, sizeof name);
        errstr_set(errstr, errlen, "%s: PING: %s", name, r ? r->str : c->errstr);
        fail = r && auth_error(r->str) ? RCONN_REFUSED : RCONN_NET;
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    if (a->tls)
        rtls_wait_idle(1000);
    return fail;
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
    /* Refused connects (a wrong password, an untrusted certificate) are not retried by every
     * request: until retry_at_ms a get fails at once with the reason. */
    struct backoff refused;
    long long retry_at_ms;
    char refused_why[300];
};

struct rpool *rpool_new(const struct rconn_addr *a, int size, int timeout_ms)
{
    struct rpool *p = xcalloc(1, sizeof *p);
    p->addr = *a;
    p->size = size > 0 ? size : 1;
    p->timeout_ms = timeout_ms;
    p->idle = xcalloc((size_t)p->size, sizeof *p->idle);
    backoff_init(&p->refused, RPOOL_REFUSED_MIN_MS, RPOOL_REFUSED_MAX_MS);
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
        if (p->retry_at_ms > 0 && clock_mono_ms() < p->retry_at_ms) {
            long long left = p->retry_at_ms - clock_mono_ms();
            errstr_set(errstr, errlen, "%s (next try in %lld ms)", p->refused_why, left);
            pthread_mutex_unlock(&p->mu);
            return NULL;
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
    enum rconn_fail fail;
    redisContext *c = rconn_connect_ex(&p->addr, p->timeout_ms, &fail, errstr, errlen);
    pthread_mutex_lock(&p->mu);
    if (!c) {
        p->open--;
        if (fail == RCONN_REFUSED) {
            p->retry_at_ms = clock_mono_ms() + backoff_next(&p->refused);
            snprintf(p->refused_why, sizeof p->refused_why, "%s", errstr);
        }
        pthread_cond_signal(&p->cv);
    } else if (p->retry_at_ms > 0) {
        p->retry_at_ms = 0;
        backoff_reset(&p->refused);
    }
    pthread_mutex_unlock(&p->mu);
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
