/* engine: the main thread's loop, which owns the Bedrock client and every running job.
 *
 * One loop: take the jobs and cancels the other threads queued, start and cancel calls, poll
 * the client (which also watches the signalfd), turn what the callbacks produced into events,
 * and write them all to Redis in one pipelined round trip (outbox.c). When Redis is
 * unreachable the writes wait in the outbox (bounded) and the streams keep going; writes
 * resume with capped backoff.
 *
 * The jobs themselves, each one's lifecycle from admission to its end, are flight.c's; the
 * loop decides when things happen to them. On SIGTERM the engine drains: no new jobs, running
 * ones may finish for NOVA_DRAIN_SECONDS, then the rest are handed back: stopped WITHOUT XACK,
 * so they stay pending for another worker. A second signal ends the drain at once. */
#include "engine.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "claims.h"
#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "flight.h"
#include "outbox.h"
#include "worker.h"
#include "worker_job.h"

struct engine {
    struct worker *w;
    int sigfd;
    struct flight fl;                      /* the jobs */
    struct outbox ob;
    char (*cancels)[JOB_ID_MAX];           /* this turn's cancels, copied out of the ring */
    char (*stolen)[EVENT_ID_MAX];          /* this turn's entries another worker took over */
    bool draining, handed_back_all;
    double drain_end;
    bool redis_down;
    double down_since, next_try;
    bool refusing;                         /* Redis answers but refuses writes (OOM, READONLY) */
    double refusing_since;
    struct backoff backoff;
    double next_trim_check;
    size_t trim_free;                      /* the allocator's free bytes after the last trim */
};

/* Memory the allocator holds free, how often the engine looks at it, and how much more than
 * after the last trim makes it give pages back. A burst of call starts builds every request
 * body (tens of KiB each) in one turn and frees each once its headers are in: glibc keeps those
 * pages, scattered between the live calls, so without a trim a worker would keep the peak of
 * its bursts, not what its open streams hold. */
#define ENGINE_TRIM_CHECK_MS 250
#define ENGINE_TRIM_BYTES (256u << 10)

static void trim_memory(struct engine *e)
{
#ifdef __GLIBC__
    double now = clock_mono_ms_f();
    if (now < e->next_trim_check)
        return;
    e->next_trim_check = now + ENGINE_TRIM_CHECK_MS;
    struct mallinfo2 mi = mallinfo2(); /* every arena: the reader's jobs are freed here */
    if (mi.fordblks < e->trim_free)
        e->trim_free = mi.fordblks;
    if (mi.fordblks - e->trim_free < ENGINE_TRIM_BYTES)
        return;
    malloc_trim(0); /* gives back the free pages inside the heaps, not only at their tops */
    e->trim_free = mallinfo2().fordblks;
#else
    (void)e;
#endif
}

static void on_ack(void *arg, const char *entry_id)
{
    claims_remove(arg, entry_id);
}

/* ---- the loop --------------------------------------------------------------------------- */

/* Moves what the other threads queued into the engine; returns the number of cancels. */
static size_t take_inputs(struct engine *e, struct worker_job **jobs, bool *resync,
                          size_t *n_stolen)
{
    struct worker *w = e->w;
    pthread_mutex_lock(&w->mu);
    *jobs = w->inbox;
    w->inbox = w->inbox_tail = NULL;
    size_t n = w->cancel_len;
    for (size_t i = 0; i < n; i++)
        memcpy(e->cancels[i], w->cancels[(w->cancel_head + i) % WORKER_CANCEL_RING],
               JOB_ID_MAX);
    w->cancel_head = w->cancel_len = 0;
    *resync = w->resync;
    w->resync = false;
    *n_stolen = w->n_stolen;
    memcpy(e->stolen, w->stolen, w->n_stolen * sizeof *e->stolen);
    w->n_stolen = 0;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static void drain_begin(struct engine *e, const char *why)
{
    struct worker *w = e->w;
    if (e->draining) {
        log_info("%s again: ending the drain now", why);
        e->drain_end = clock_mono_ms_f();
        return;
    }
    e->draining = true;
    e->drain_end = clock_mono_ms_f() + (double)w->cfg->drain_s * 1000.0;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    log_info("%s: reading no new jobs; %zu running may finish within %ld s", why, e->fl.n_active,
             w->cfg->drain_s);
}

static void read_signals(struct engine *e)
{
    struct signalfd_siginfo si;
    while (read(e->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        drain_begin(e, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Sends the outbox (and a pending resync) when Redis is due for another try. */
static void flush_writes(struct engine *e, bool *resync)
{
    struct worker *w = e->w;
    double now = clock_mono_ms_f();
    if ((e->ob.n == 0 && !*resync) || now < e->next_try)
        return;
    char err[256];
    redisContext *c = rpool_get(w->pool, 0, err, sizeof err);
    int rc = -1;
    if (c) {
        if (*resync) {
            flight_resync(&e->fl, c);
            *resync = c->err != 0;
        }
        if (c->err)
            snprintf(err, sizeof err, "%s", c->errstr);
        else
            rc = outbox_flush(&e->ob, c, err, sizeof err);
        rpool_put(w->pool, c, rc == -1 || c->err);
    }
    atomic_store(&w->writes_refused, e->ob.refused);
    atomic_store(&w->writes_deferred, e->ob.deferred);
    atomic_store(&w->events_resent, e->ob.resent);
    if (rc == OUTBOX_REFUSED) {
        /* Nothing of the batch was applied: it waits, in order, and no job is acknowledged
         * before its last event. Past the bound the running jobs are given up, so their calls
         * stop and their ends are queued. */
        if (!e->refusing) {
            log_warn("Redis refuses writes: %s; %zu queued, retrying with backoff; running "
                     "jobs are given up after %d s", err, e->ob.n,
                     WORKER_REFUSED_GIVE_UP_MS / 1000);
            e->refusing = true;
            e->refusing_since = now;
        }
        if (now - e->refusing_since >= WORKER_REFUSED_GIVE_UP_MS) {
            size_t n = flight_give_up(&e->fl);
            if (n)
                log_error("Redis has refused writes for %.0f ms: %zu running job(s) given up "
                          "(error unavailable, written when Redis takes writes again)",
                          now - e->refusing_since, n);
        }
        e->redis_down = false;
        e->next_try = now + (double)backoff_next(&e->backoff);
        return;
    }
    if (rc == 0 && e->refusing) {
        log_info("Redis takes writes again after %.0f ms of refusals", now - e->refusing_since);
        e->refusing = false;
    }
    if (rc < 0) {
        if (!e->redis_down)
            log_warn("Redis writes failing: %s; %zu queued, retrying with backoff", err,
                     e->ob.n);
        if (!e->redis_down)
            e->down_since = now;
        e->redis_down = true;
        e->next_try = now + (double)backoff_next(&e->backoff);
    } else {
        if (e->redis_down)
            log_info("Redis writes back after %.0f ms", now - e->down_since);
        e->redis_down = false;
        e->next_try = 0;
        backoff_reset(&e->backoff);
    }
}

static int poll_timeout(const struct engine *e, bool busy)
{
    if (busy)
        return 0;
    double now = clock_mono_ms_f(), t = e->fl.n_active ? 100 : 1000;
    if (e->ob.n && e->next_try - now < t)
        t = e->next_try - now;
    if (e->draining && e->drain_end - now < t)
        t = e->drain_end - now;
    double next_call = flight_next_call(&e->fl);
    if (next_call >= 0 && next_call - now < t)
        t = next_call - now;
    double next_flush = flight_next_flush(&e->fl); /* text held for its next delta */
    if (next_flush >= 0 && next_flush - now < t)
        t = next_flush - now;
    return t < 0 ? 0 : (int)t + (t > (int)t); /* rounded up: never wake just before it */
}

int engine_run(struct worker *w, int sigfd)
{
    struct engine *e = xcalloc(1, sizeof *e);
    e->w = w;
    e->sigfd = sigfd;
    backoff_init(&e->backoff, WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS);
    e->cancels = xcalloc(WORKER_CANCEL_RING, sizeof *e->cancels);
    e->stolen = xcalloc(WORKER_CANCEL_RING, sizeof *e->stolen);
    outbox_init(&e->ob, (size_t)w->cfg->worker_outbox_kb * 1024u);
    e->ob.on_ack = on_ack;
    e->ob.on_ack_arg = w;
    flight_init(&e->fl, w, &e->ob);
    int status = 0, poll_failures = 0;
    bool resync = false;
    char err[256];
    for (;;) {
        struct worker_job *jobs;
        bool want_resync;
        size_t n_stolen;
        size_t n_cancels = take_inputs(e, &jobs, &want_resync, &n_stolen);
        resync = resync || want_resync;
        while (jobs) {
            struct worker_job *wj = jobs;
            jobs = wj->next;
            if (e->draining) /* read just before the stop: never started, stays pending */
                flight_leave(&e->fl, wj);
            else
                flight_start(&e->fl, wj);
        }
        bool busy = n_stolen > 0; /* cancels issued: poll without waiting, so they end now */
        flight_take_over(&e->fl, e->stolen, n_stolen);
        for (size_t i = 0; i < n_cancels; i++)
            busy |= flight_cancel(&e->fl, e->cancels[i]);
        flight_between_calls(&e->fl);
        if (e->draining && e->fl.n_active == 0)
            break;
        if (e->draining && !e->handed_back_all && clock_mono_ms_f() >= e->drain_end) {
            log_info("drain time over: handing back %zu running job(s)", e->fl.n_active);
            flight_hand_back(&e->fl);
            e->handed_back_all = true;
            busy = true;
        }
        struct pollfd pfd[2] = {{sigfd, POLLIN, 0}, {bedrock_client_fd(w->client), POLLIN, 0}};
        long client_ms = bedrock_client_timeout_ms(w->client);
        int wait_ms = poll_timeout(e, busy);
        if (client_ms >= 0 && client_ms < wait_ms)
            wait_ms = (int)client_ms;
        int left = -1;
        if (poll(pfd, 2, wait_ms) < 0 && errno != EINTR)
            snprintf(err, sizeof err, "poll: %s", strerror(errno));
        else
            left = bedrock_client_process(w->client, err, sizeof err);
        if (left < 0) {
            /* libcurl's multi handle failed (out of memory, a bug): stop, handing every job
             * back. If it cannot even finish the cancels, abort: no XACK was sent for them,
             * so they stay pending all the same. */
            log_error("Bedrock client: %s; stopping", err);
            status = 1;
            if (++poll_failures > 50)
                abort();
            drain_begin(e, "client failure");
            e->drain_end = clock_mono_ms_f();
        } else {
            poll_failures = 0;
        }
        read_signals(e);
        flight_flush_text(&e->fl);
        flush_writes(e, &resync);
        trim_memory(e);
    }
    /* Last writes: one more try if Redis was merely between backoff steps. */
    e->next_try = 0;
    flush_writes(e, &resync);
    if (e->ob.n)
        log_warn("exiting with %zu Redis write(s) not done: %s", e->ob.n,
                 "Redis unreachable");
    log_info("engine stopped: %lu done, %lu failed, %lu canceled, %lu dead, %lu expired, "
             "%lu handed back, %lu retried, %lu reclaimed, %lu events, %lu dropped, "
             "%lu refused by Redis",
             atomic_load(&w->jobs_done), atomic_load(&w->jobs_failed),
             atomic_load(&w->jobs_canceled), atomic_load(&w->jobs_dead),
             atomic_load(&w->jobs_expired), e->fl.left, atomic_load(&w->jobs_retried),
             atomic_load(&w->jobs_reclaimed), atomic_load(&w->events),
             atomic_load(&w->events_dropped), e->ob.refused);
    outbox_free(&e->ob);
    flight_free(&e->fl);
    free(e->cancels);
    free(e->stolen);
    free(e);
    return status;
}
