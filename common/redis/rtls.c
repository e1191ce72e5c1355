/* rtls: TLS to Redis with OpenSSL, pumped to hiredis over a socketpair (see rtls.h).
 *
 * The pump is one thread per connection, both descriptors non-blocking, driven by poll: a
 * chunk read from hiredis is written to the TLS session (retried as OpenSSL asks, WANT_READ
 * or WANT_WRITE), a chunk read from the session is written to hiredis; neither direction
 * waits on the other, so a quiet subscriber and a command in flight never deadlock. Each
 * direction holds at most one chunk (16 KiB): the kernel's socket buffers do the rest. */
#include "redis/rtls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/errstr.h"

#define RTLS_CHUNK 16384

/* ---- the client context, one per process (per set of files) ------------------------------ */

static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *ctx_cached;
static char ctx_key[3 * 512 + 3];
static pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
static int live_pumps;

static void ssl_errstr(const char *what, char *errstr, size_t errlen)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    errstr_set(errstr, errlen, "%s: %s", what, buf);
}

/* Returns a context with a reference for the caller (SSL_CTX_free it), or NULL. */
static SSL_CTX *ctx_get(const struct rconn_addr *a, char *errstr, size_t errlen)
{
    char key[sizeof ctx_key];
    snprintf(key, sizeof key, "%s\n%s\n%s", a->tls_ca_file, a->tls_cert_file, a->tls_key_file);
    pthread_mutex_lock(&ctx_mu);
    if (ctx_cached && strcmp(key, ctx_key) == 0) {
        SSL_CTX_up_ref(ctx_cached);
        SSL_CTX *c = ctx_cached;
        pthread_mutex_unlock(&ctx_mu);
        return c;
    }
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        pthread_mutex_unlock(&ctx_mu);
        ssl_errstr("TLS: SSL_CTX_new", errstr, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int ok = a->tls_ca_file[0] ? SSL_CTX_load_verify_locations(c, a->tls_ca_file, NULL)
                               : SSL_CTX_set_default_verify_paths(c);
    if (ok != 1) {
        char what[600];
        snprintf(what, sizeof what, "TLS: CA file %s", a->tls_ca_file[0] ? a->tls_ca_file
                                                                         : "(system store)");
        ssl_errstr(what, errstr, errlen);
        goto fail;
    }
    if (a->tls_cert_file[0]) {
        if (SSL_CTX_use_certificate_chain_file(c, a->tls_cert_file) != 1) {
            ssl_errstr("TLS: client certificate (NOVA_REDIS_TLS_CERT_FILE)", errstr, errlen);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(c, a->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(c) != 1) {
            ssl_errstr("TLS: client key (NOVA_REDIS_TLS_KEY_FILE)", errstr, errlen);
            goto fail;
        }
    }
    if (ctx_cached)
        SSL_CTX_free(ctx_cached);
    ctx_cached = c;
    memcpy(ctx_key, key, sizeof ctx_key);
    SSL_CTX_up_ref(c);
    pthread_mutex_unlock(&ctx_mu);
    return c;
fail:
    pthread_mutex_unlock(&ctx_mu);
    SSL_CTX_free(c);
    return NULL;
}

/* ---- connect and handshake ---------------------------------------------------------------- */

static int wait_fd(int fd, short events, long long deadline_ms)
{
    for (;;) {
        long long left = deadline_ms - clock_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

static int tcp_connect(const struct rconn_addr *a, long long deadline_ms, char *errstr,
                       size_t errlen)
{
    char port[16];
    snprintf(port, sizeof port, "%d", a->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0) {
        errstr_set(errstr, errlen, "getaddrinfo(%s): %s", a->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    errstr_set(errstr, errlen, "connect: no address");
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            errstr_set(errstr, errlen, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int n = wait_fd(fd, POLLOUT, deadline_ms);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            errstr_set(errstr, errlen, "connect: %s", n == 0 ? "timed out" : strerror(soerr));
        } else {
            errstr_set(errstr, errlen, "connect: %s", strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1; /* commands are small and latency-bound; a dead peer is found by keepalive */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
    return fd;
}

/* SSL_connect on a non-blocking socket, up to the deadline. */
static int handshake(SSL *ssl, int fd, long long deadline_ms, enum rtls_fail *fail,
                     char *errstr, size_t errlen)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(ssl, r);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (ev) {
            if (wait_fd(fd, ev, deadline_ms) <= 0) {
                *fail = RTLS_NET;
                errstr_set(errstr, errlen, "TLS handshake: no answer in time");
                return -1;
            }
            continue;
        }
        long v = SSL_get_verify_result(ssl);
        *fail = RTLS_REFUSED;
        if (v != X509_V_OK) {
            errstr_set(errstr, errlen, "TLS: the server's certificate is not trusted: %s",
                       X509_verify_cert_error_string(v));
            ERR_clear_error();
        } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            *fail = RTLS_NET;
            errstr_set(errstr, errlen, "TLS handshake: connection closed by the server (%s)",
                       errno ? strerror(errno) : "EOF");
        } else {
            ssl_errstr("TLS handshake", errstr, errlen);
        }
        return -1;
    }
}

/* ---- the pump ---------------------------------------------------------------------------- */

struct pump {
    SSL *ssl;
    int tcp, plain;
    struct pump *prev, *next; /* the live pumps, under ctx_mu */
};

static struct pump *pumps;

/* At exit: every live pump's hiredis side is shut down, so each ends its session (one
 * close_notify) and its thread exits, taking OpenSSL's per-thread state with it; bounded. */
static void pumps_end_at_exit(void)
{
    pthread_mutex_lock(&ctx_mu);
    for (struct pump *p = pumps; p; p = p->next)
        shutdown(p->plain, SHUT_RDWR);
    pthread_mutex_unlock(&ctx_mu);
    rtls_wait_idle(1000);
}

static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static void exit_hook(void)
{
    atexit(pumps_end_at_exit);
}

static void pump_end(struct pump *p)
{
    SSL_shutdown(p->ssl); /* one close_notify, not waiting for the peer's */
    SSL_free(p->ssl);
    close(p->tcp);
    ERR_clear_error();
    /* OpenSSL's per-thread state goes now, not in a key destructor after we said we ended:
     * whoever waits in rtls_wait_idle may exit the process right after. */
    OPENSSL_thread_stop();
    pthread_mutex_lock(&ctx_mu);
    close(p->plain); /* under the lock: pumps_end_at_exit never shuts a reused number */
    if (p->prev)
        p->prev->next = p->next;
    else
        pumps = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
    live_pumps--;
    pthread_cond_broadcast(&live_cv);
    pthread_mutex_unlock(&ctx_mu);
}

static void *pump_run(void *arg)
{
    struct pump *p = arg;
    char out[RTLS_CHUNK], in[RTLS_CHUNK]; /* out: hiredis -> TLS; in: TLS -> hiredis */
    size_t olen = 0, ooff = 0, ilen = 0, ioff = 0;
    for (;;) {
        bool progress = false;
        short tcp_ev = 0, plain_ev = 0;
        if (olen == 0) {
            ssize_t n = read(p->plain, out, sizeof out);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                break; /* hiredis closed its end */
            if (n > 0) {
                olen = (size_t)n;
                ooff = 0;
                progress = true;
            } else {
                plain_ev |= POLLIN;
            }
        }
        if (olen > 0) {
            ERR_clear_error();
            int r = SSL_write(p->ssl, out + ooff, (int)(olen - ooff));
            if (r > 0) {
                ooff += (size_t)r;
                if (ooff == olen)
                    olen = 0;
                progress = true;
            } else {
                int e = SSL_get_error(p->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    tcp_ev |= POLLIN;
                else if (e == SSL_ERROR_WANT_WRITE)
                    tcp_ev |= POLLOUT;
                else
                    break;
            }
        }
        if (ilen == 0) {
            ERR_clear_error();
            int r = SSL_read(p->ssl, in, sizeof in);
            if (r > 0) {
                ilen = (size_t)r;
                ioff = 0;
                progress = true;
            } else {
                int e = SSL_get_error(p->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    tcp_ev |= POLLIN;
                else if (e == SSL_ERROR_WANT_WRITE)
                    tcp_ev |= POLLOUT;
                else
                    break; /* the server closed, or the session broke */
            }
        }
        if (ilen > 0) {
            ssize_t n = send(p->plain, in + ioff, ilen - ioff, MSG_NOSIGNAL);
            if (n > 0) {
                ioff += (size_t)n;
                if (ioff == ilen)
                    ilen = 0;
                progress = true;
            } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                plain_ev |= POLLOUT;
            } else {
                break;
            }
        }
        if (progress)
            continue;
        struct pollfd fds[2] = {{p->plain, plain_ev, 0}, {p->tcp, tcp_ev, 0}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if ((fds[0].revents & (POLLERR | POLLNVAL)) || (fds[1].revents & POLLNVAL))
            break;
    }
    pump_end(p);
    return NULL;
}

/* ---- the API ------------------------------------------------------------------------------ */

int rtls_connect(const struct rconn_addr *a, int timeout_ms, enum rtls_fail *fail,
                 char *errstr, size_t errlen)
{
    long long deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1000);
    *fail = RTLS_NET;
    /* A server that closes mid-handshake must be an error return, not SIGPIPE: block it in
     * this thread for the handshake and swallow one that became pending. */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int result = -1, tcp = -1, pair[2] = {-1, -1};
    SSL *ssl = NULL;
    SSL_CTX *ctx = ctx_get(a, errstr, errlen);
    if (!ctx) {
        *fail = RTLS_REFUSED;
        goto out;
    }
    tcp = tcp_connect(a, deadline, errstr, errlen);
    if (tcp < 0)
        goto out;
    ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, tcp) != 1) {
        ssl_errstr("TLS: SSL_new", errstr, errlen);
        goto out;
    }
    struct in6_addr ip;
    bool is_ip = inet_pton(AF_INET, a->host, &ip) == 1 || inet_pton(AF_INET6, a->host, &ip) == 1;
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), a->host) != 1
              : (SSL_set1_host(ssl, a->host) != 1 ||
                 SSL_set_tlsext_host_name(ssl, a->host) != 1)) {
        ssl_errstr("TLS: setting the name to verify", errstr, errlen);
        goto out;
    }
    if (handshake(ssl, tcp, deadline, fail, errstr, errlen) < 0)
        goto out;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        errstr_set(errstr, errlen, "socketpair: %s", strerror(errno));
        goto out;
    }
    int fl = fcntl(pair[1], F_GETFL);
    if (fl < 0 || fcntl(pair[1], F_SETFL, fl | O_NONBLOCK) < 0) {
        errstr_set(errstr, errlen, "fcntl(O_NONBLOCK): %s", strerror(errno));
        goto out;
    }
    struct pump *p = xmalloc(sizeof *p);
    p->ssl = ssl;
    p->tcp = tcp;
    p->plain = pair[1];
    /* The pump takes no signals: they belong to the program's own threads. */
    sigset_t all, prev;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &prev);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 128 * 1024 + 2 * RTLS_CHUNK);
    pthread_once(&exit_once, exit_hook);
    pthread_mutex_lock(&ctx_mu);
    live_pumps++;
    p->prev = NULL;
    p->next = pumps;
    if (pumps)
        pumps->prev = p;
    pumps = p;
    pthread_mutex_unlock(&ctx_mu);
    pthread_t t;
    int rc = pthread_create(&t, &attr, pump_run, p);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    if (rc != 0) {
        pthread_mutex_lock(&ctx_mu);
        live_pumps--;
        pumps = p->next;
        if (pumps)
            pumps->prev = NULL;
        pthread_mutex_unlock(&ctx_mu);
        free(p);
        errstr_set(errstr, errlen, "pthread_create (TLS pump): %s", strerror(rc));
        goto out;
    }
    ssl = NULL;
    tcp = pair[1] = -1; /* the pump's now */
    result = pair[0];
    pair[0] = -1;
    *fail = RTLS_OK;
out:
    if (ssl)
        SSL_free(ssl);
    if (ctx)
        SSL_CTX_free(ctx);
    if (tcp >= 0)
        close(tcp);
    if (pair[0] >= 0)
        close(pair[0]);
    if (pair[1] >= 0)
        close(pair[1]);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return result;
}

bool rtls_wait_idle(int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ctx_mu);
    int rc = 0;
    while (live_pumps > 0 && rc == 0)
        rc = pthread_cond_timedwait(&live_cv, &ctx_mu, &until);
    bool idle = live_pumps == 0;
    pthread_mutex_unlock(&ctx_mu);
    return idle;
}
