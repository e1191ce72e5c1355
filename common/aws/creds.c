/* creds: the credential provider (see creds.h): the credentials of one walk of the chain
 * (creds_chain.c), under a mutex, and the background thread that walks it again ahead of their
 * expiry, backing off after failures. */
#include "aws/creds.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"

#define CREDS_BACKOFF_MAX_S 60

struct creds_provider {
    struct creds_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cond;         /* monotonic (clock.h); signalled by creds_provider_free */
    struct aws_creds cur;        /* under mu */
    char last_err[1024];         /* under mu: the last failed refresh */
    unsigned long refreshes;     /* under mu */
    long retry_ms;               /* refresh thread only: the wait after a failure, 0 after a
                                    success */
    struct backoff backoff;
    atomic_bool stop;            /* written under mu; also read by curl's progress hook */
    bool has_thread;
    pthread_t thread;
};

/* Milliseconds until the next refresh attempt, from the expiry and the failure backoff. */
static long long creds_next_delay_ms(const struct creds_provider *p)
{
    long long remaining = (long long)p->cur.expiration * 1000 - clock_epoch_ms();
    if (p->retry_ms) {
        long long d = p->retry_ms;
        return remaining > 0 && remaining < d ? remaining : d;
    }
    long long ahead = p->cfg.refresh_ahead_s * 1000LL;
    if (remaining >= ahead)
        return remaining - ahead;
    return remaining / 2 > 1000 ? remaining / 2 : 1000;
}

static void *creds_refresh_main(void *arg)
{
    struct creds_provider *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->stop)) {
        struct timespec deadline;
        clock_deadline(&deadline, creds_next_delay_ms(p));
        int rc = 0;
        while (!atomic_load(&p->stop) && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&p->cond, &p->mu, &deadline);
        if (atomic_load(&p->stop))
            break;
        /* The network call runs unlocked so that readers are never held up by it. */
        pthread_mutex_unlock(&p->mu);
        struct aws_creds fresh;
        char err[sizeof p->last_err];
        rc = creds_resolve_until(&p->cfg, &p->stop, &fresh, err, sizeof err);
        pthread_mutex_lock(&p->mu);
        if (rc == 0) {
            char kb[16], ts[32];
            struct tm tm;
            p->cur = fresh;
            p->refreshes++;
            p->retry_ms = 0;
            backoff_reset(&p->backoff);
            gmtime_r(&fresh.expiration, &tm);
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
            log_info("credentials refreshed from %s, key %s, expiration %s", fresh.source,
                     creds_mask(fresh.access_key_id, kb, sizeof kb), ts);
            explicit_bzero(&fresh, sizeof fresh);
            if (p->cur.expiration == 0)
                break; /* the chain now yields long-term keys: nothing left to refresh */
        } else if (!atomic_load(&p->stop)) {
            memcpy(p->last_err, err, sizeof p->last_err);
            p->retry_ms = backoff_next(&p->backoff);
            log_warn("credential refresh failed (next try in %lds or less): %s",
                     p->retry_ms / 1000, err);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct creds_provider *creds_provider_new(const struct creds_config *c, char *errstr,
                                          size_t errlen)
{
    struct creds_provider *p = xcalloc(1, sizeof *p);
    p->cfg = *c;
    if (p->cfg.refresh_ahead_s < 0)
        p->cfg.refresh_ahead_s = 0;
    atomic_init(&p->stop, false);
    backoff_init(&p->backoff, 1000, CREDS_BACKOFF_MAX_S * 1000L);
    if (creds_resolve(&p->cfg, &p->cur, errstr, errlen) < 0) {
        explicit_bzero(p, sizeof *p);
        free(p);
        return NULL;
    }
    clock_cond_init(&p->cond);
    pthread_mutex_init(&p->mu, NULL);
    if (p->cur.expiration != 0) {
        /* Signals belong to the program's own threads (its self-pipe), not to this one. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&p->thread, NULL, creds_refresh_main, p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            char eb[128];
            errstr_set(errstr, errlen, "pthread_create: %s", strerror_r(rc, eb, sizeof eb));
            creds_provider_free(p);
            return NULL;
        }
        p->has_thread = true;
    }
    return p;
}

int creds_provider_get(struct creds_provider *p, struct aws_creds *out, char *errstr,
                       size_t errlen)
{
    pthread_mutex_lock(&p->mu);
    *out = p->cur;
    bool expired = out->expiration != 0 && out->expiration <= time(NULL);
    if (expired)
        errstr_set(errstr, errlen, "credentials from %s expired; last refresh: %s",
                  out->source, p->last_err[0] ? p->last_err : "not attempted yet");
    pthread_mutex_unlock(&p->mu);
    if (expired) {
        explicit_bzero(out, sizeof *out);
        return -1;
    }
    return 0;
}

unsigned long creds_provider_refreshes(struct creds_provider *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned long n = p->refreshes;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void creds_provider_free(struct creds_provider *p)
{
    if (!p)
        return;
    if (p->has_thread) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, true);
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    explicit_bzero(p, sizeof *p);
    free(p);
}
