/* streams: open streams on the child's loop, their steps on the pool (see streams.h). */
#include "streams.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "fcgi_proto.h"
#include "inbox.h"
#include "loop.h"
#include "readers.h"
#include "relay.h"
#include "req.h"

struct stream {
    struct streams *ss;
    struct stream *prev, *next; /* the loop's list (loop thread) */
    struct loop_io io;
    struct loop_timer timer;
    struct loop_post post;      /* adopt, a step's return, the end's: one at a time */
    struct loop_post wake_post; /* the inbox's ring */
    atomic_bool wake_posted;
    struct streams_work work;
    /* Loop thread only: */
    bool adopted;
    bool on_pool;   /* a step (or the end) is queued or running */
    bool woken;     /* an event came while it was */
    bool hup;       /* the descriptor is out of the epoll set for good */
    bool peer_gone; /* epoll saw the hang-up (EPOLLRDHUP, EPOLLHUP, EPOLLERR) */
    bool stepping;  /* a step runs on the loop's thread now (dc_wait looks, never polls) */
    bool ended;     /* the end is under way: no more steps */
    bool renewing;  /* its reader entry is in a renewal sweep on the pool (on_renew_tick) */
    bool pool_held; /* a step (or the end) for the pool waits for that sweep to come back */
    /* The step's (pool thread, then read on the loop after its post): */
    int result;
    struct relay_wait w;
    /* The connection: */
    int fd;
    unsigned fcgi_id;
    struct buf pend;            /* encoded STDOUT records the socket did not take yet (its
                                   memory freed once empty: an idle stream keeps none) */
    struct req rq;
    struct relay r;
};

struct streams {
    struct app *app;
    struct loop *loop;
    pthread_t tid;
    bool started;
    streams_pool_fn *run;
    streams_idle_fn *idle;
    void *pool;
    atomic_size_t n_open;
    struct stream *head;        /* loop thread */
    struct loop_post drain_post, stop_post;
    atomic_bool drain_posted;
    struct loop_timer renew_timer; /* the readers sweep (loop thread) */
    bool renew_busy;               /* a sweep is on the pool */
};

/* The readers sweep: every STREAMS_RENEW_MS the loop renews the reader entries of all its
 * streams due within that time in one pool step (one pipeline), instead of one pool step per
 * stream every READERS_BEAT_MS. A swept stream's own pool steps wait for the sweep (a
 * renewal must not come after the end's removal of the entry). */
#define STREAMS_RENEW_MS 500
struct renew_work {
    struct streams_work work;
    struct loop_post post;
    struct streams *ss;
    size_t n;
    struct stream **s;
    struct readers *rds;
};

/* ---- the connection after libfcgi: STDOUT records on the detached descriptor ------------- */

static const char *dc_param(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL; /* every parameter was copied into struct req before the stream started */
}

static long dc_read_body(void *ctx, char *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;
}

/* Writes all of b, waiting (the descriptor is blocking, with the SO_SNDTIMEO set at accept as
 * the backstop): only at the end, on a pool thread. */
static int dc_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sends what the socket takes now of the records not yet written, never waiting (the step
 * may run on the loop's thread): 0, or -1 (the connection is broken). */
static int dc_send_pend(struct stream *s)
{
    size_t done = 0;
    while (done < s->pend.len) {
        ssize_t k = send(s->fd, s->pend.data + done, s->pend.len - done,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    if (done == s->pend.len)
        buf_free(&s->pend);
    else
        buf_consume(&s->pend, done);
    return 0;
}

/* STDOUT records of p, sent without waiting: sseout writes a piece only after the socket said
 * it takes bytes (a unix socket then takes SSEOUT_PUSH_CHUNK whole), and what it does not
 * take of a record all the same stays in pend, sent before anything else. */
static int dc_write(void *ctx, const char *p, size_t n)
{
    struct stream *s = ctx;
    if (fcgi_encode_stream(&s->pend, FCGI_STDOUT, s->fcgi_id, p, n, 0) < 0)
        return -1;
    return dc_send_pend(s);
}

/* As req_poll_fd, but the connection takes bytes only once pend is sent. On the loop's thread
 * the look for a hang-up makes no system call (the loop watches the descriptor for it); the
 * look for room still polls: a unix socket that says writable takes a whole piece, so
 * records stay whole and a cut (a shutdown) never leaves nginx half a record. */
static unsigned dc_wait(void *ctx, int efd, bool want_write, long long wait_ms)
{
    struct stream *s = ctx;
    if (s->stepping && efd < 0 && wait_ms == 0) {
        if (s->peer_gone || (s->pend.len && dc_send_pend(s) < 0))
            return REQ_GONE;
        if (!want_write || s->pend.len)
            return 0;
        unsigned got = req_poll_fd(s->fd, -1, true, 0);
        if (got & REQ_GONE)
            s->peer_gone = true;
        return got;
    }
    long long until = clock_mono_ms() + wait_ms;
    for (;;) {
        if (s->pend.len && dc_send_pend(s) < 0)
            return REQ_GONE;
        if (!s->pend.len || !want_write)
            return req_poll_fd(s->fd, efd, want_write, wait_ms);
        unsigned got = req_poll_fd(s->fd, efd, true, wait_ms) & ~REQ_WRITABLE;
        wait_ms = until - clock_mono_ms();
        if (got || wait_ms <= 0)
            return got;
    }
}

static void dc_shutdown(void *ctx)
{
    struct stream *s = ctx;
    shutdown(s->fd, SHUT_RDWR);
}

static const struct req_conn_ops dconn_ops = {
    .param = dc_param,
    .read_body = dc_read_body,
    .write = dc_write,
    .wait = dc_wait,
    .shutdown = dc_shutdown,
    .detach = NULL,
};

/* ---- the loop's side ------------------------------------------------------------------ */

static void step_work(struct streams_work *w);
static void stream_schedule(struct stream *s);

static void renew_done(struct loop *l, void *arg);

static void renew_work_run(struct streams_work *w)
{
    struct renew_work *rw = (struct renew_work *)((char *)w - offsetof(struct renew_work, work));
    readers_renew_many(rw->ss->app, rw->rds, rw->n);
    loop_post(rw->ss->loop, &rw->post, renew_done, rw);
}

/* The sweep is back: the streams' held pool steps go now. */
static void renew_done(struct loop *l, void *arg)
{
    (void)l;
    struct renew_work *rw = arg;
    for (size_t i = 0; i < rw->n; i++) {
        struct stream *s = rw->s[i];
        s->renewing = false;
        if (s->pool_held) { /* its step (or end_work) is ready in s->work */
            s->pool_held = false;
            if (!s->ended)
                s->work.fn = step_work;
            s->ss->run(s->ss->pool, &s->work);
        }
    }
    rw->ss->renew_busy = false;
    free(rw->s);
    free(rw->rds);
    free(rw);
}

/* The sweep's tick: the reader entries due within STREAMS_RENEW_MS of the streams not on the
 * pool, renewed early rather than late (their next beat set here, on the loop). */
static void on_renew_tick(struct loop *l, struct loop_timer *t)
{
    struct streams *ss = t->arg;
    if (!ss->head)
        return; /* re-armed by the next adoption */
    loop_timer_after(l, &ss->renew_timer, STREAMS_RENEW_MS);
    if (ss->renew_busy)
        return;
    long long now = loop_now(l), soon = now + STREAMS_RENEW_MS;
    size_t n = 0, cap = 0;
    struct renew_work *rw = NULL;
    for (struct stream *s = ss->head; s; s = s->next) {
        if (!s->adopted || s->on_pool || s->ended || readers_due(&s->r.readers) > soon)
            continue;
        if (!rw) {
            rw = xcalloc(1, sizeof *rw);
            rw->ss = ss;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            rw->s = xrealloc(rw->s, cap * sizeof *rw->s);
            rw->rds = xrealloc(rw->rds, cap * sizeof *rw->rds);
        }
        rw->s[n] = s;
        rw->rds[n] = s->r.readers;
        s->r.readers.beat_ms = clock_mono_ms() + READERS_BEAT_MS;
        s->renewing = true;
        n++;
    }
    if (!rw)
        return;
    rw->n = n;
    ss->renew_busy = true;
    rw->work.fn = renew_work_run;
    ss->run(ss->pool, &rw->work);
}

/* The step that needs Redis, on a pool thread (once the stream's renewal is back). */
static void stream_to_pool(struct stream *s)
{
    s->on_pool = true; /* events meanwhile: woken, stepped again when it is back */
    s->woken = false;
    loop_timer_stop(s->ss->loop, &s->timer);
    if (!s->hup && (s->io.want & LOOP_WRITE)) {
        char err[128];
        if (loop_io_want(s->ss->loop, &s->io, LOOP_RDHUP, err, sizeof err) < 0)
            log_rid(LOG_WARN, s->rq.id, "%s", err);
    }
    if (s->renewing) {
        s->pool_held = true; /* renew_done sends it */
        return;
    }
    s->work.fn = step_work;
    s->ss->run(s->ss->pool, &s->work);
}

static void stream_unwatch(struct stream *s)
{
    loop_io_del(s->ss->loop, &s->io);
    s->hup = true;
}

static void on_io(struct loop *l, struct loop_io *io, unsigned events)
{
    (void)l;
    struct stream *s = io->arg;
    if (events & (LOOP_RDHUP | LOOP_HUP)) {
        s->peer_gone = true; /* what the steps on the loop go by; a pool step polls itself */
        stream_unwatch(s);
    }
    stream_schedule(s);
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    stream_schedule(t->arg);
}

static void on_wake(struct loop *l, void *arg)
{
    (void)l;
    struct stream *s = arg;
    atomic_store(&s->wake_posted, false);
    stream_schedule(s);
}

/* The dispatcher rang the inbox (its locks held: only a post). */
static void stream_notify(void *arg)
{
    struct stream *s = arg;
    if (!atomic_exchange(&s->wake_posted, true))
        loop_post(s->ss->loop, &s->wake_post, on_wake, s);
}

static void end_work(struct streams_work *w);

/* What the step said, on the loop: the end (to the pool: Redis, the caller's end), or what to
 * wait for. Returns true when the stream is to be stepped again at once. */
static bool stream_settle(struct stream *s)
{
    struct loop *l = s->ss->loop;
    if (s->result >= 0) {
        s->ended = true;
        s->on_pool = true;
        stream_unwatch(s);
        loop_timer_stop(l, &s->timer);
        s->work.fn = end_work;
        if (s->renewing)
            s->pool_held = true; /* the sweep's return sends it */
        else
            s->ss->run(s->ss->pool, &s->work);
        return false;
    }
    if (s->w.inbox_only && !s->hup)
        stream_unwatch(s); /* the client is gone: only the inbox and the time matter */
    if (s->woken || s->w.due_ms <= loop_now(l))
        return true;
    if (s->w.due_ms != LLONG_MAX) {
        if (!loop_timer_armed(&s->timer) || s->timer.due_ms != s->w.due_ms)
            loop_timer_at(l, &s->timer, s->w.due_ms);
    }
    else
        loop_timer_stop(l, &s->timer);
    if (!s->hup) {
        char err[128];
        bool want_write = s->w.want_write || s->pend.len > 0;
        if (loop_io_want(l, &s->io, LOOP_RDHUP | (want_write ? LOOP_WRITE : 0), err,
                         sizeof err) < 0) {
            log_rid(LOG_WARN, s->rq.id, "%s", err);
            stream_unwatch(s);
            return true; /* the step finds out what became of the connection */
        }
    }
    return false;
}

#define STREAM_LOOP_STEPS 4 /* steps in a row on the loop before the pool takes the next */

/* Something happened: the stream is stepped on the loop's thread (a delta to write, a ping,
 * room to write: one wake-up per event, as a thread of its own would have), and only a step
 * that needs Redis goes to a pool thread; unless a step is on the pool already (then once
 * more when it is back). */
static void stream_schedule(struct stream *s)
{
    if (s->ended || !s->adopted)
        return;
    if (s->on_pool) {
        s->woken = true;
        return;
    }
    for (int i = 0; i < STREAM_LOOP_STEPS; i++) {
        s->woken = false;
        s->r.no_block = s->stepping = true;
        s->result = relay_step(&s->r, &s->w);
        s->r.no_block = s->stepping = false;
        if (s->result == RELAY_STEP_POOL)
            break;
        if (!stream_settle(s))
            return;
    }
    stream_to_pool(s);
}

static void on_stepped(struct loop *l, void *arg)
{
    (void)l;
    struct stream *s = arg;
    s->on_pool = false;
    if (stream_settle(s))
        stream_schedule(s);
}

static void on_adopt(struct loop *l, void *arg)
{
    struct stream *s = arg;
    struct streams *ss = s->ss;
    s->next = ss->head;
    if (ss->head)
        ss->head->prev = s;
    ss->head = s;
    loop_io_init(&s->io, s->fd, on_io, s);
    loop_timer_init(&s->timer, on_timer, s);
    s->adopted = true;
    if (!loop_timer_armed(&ss->renew_timer))
        loop_timer_after(l, &ss->renew_timer, STREAMS_RENEW_MS);
    stream_schedule(s); /* what came meanwhile, and the first wait */
}

static void on_freed(struct loop *l, void *arg)
{
    (void)l;
    struct stream *s = arg;
    struct streams *ss = s->ss;
    if (s->prev)
        s->prev->next = s->next;
    else
        ss->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    if (atomic_fetch_sub(&ss->n_open, 1) == 1 && ss->idle)
        ss->idle(ss->pool);
}

static void on_drain(struct loop *l, void *arg)
{
    (void)l;
    struct streams *ss = arg;
    atomic_store(&ss->drain_posted, false);
    for (struct stream *s = ss->head; s; s = s->next)
        stream_schedule(s);
}

static void on_stop(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

/* ---- the pool's side ------------------------------------------------------------------- */

static void step_work(struct streams_work *w)
{
    struct stream *s = (struct stream *)((char *)w - offsetof(struct stream, work));
    s->result = relay_step(&s->r, &s->w);
    loop_post(s->ss->loop, &s->post, on_stepped, s);
}

static void end_work(struct streams_work *w)
{
    struct stream *s = (struct stream *)((char *)w - offsetof(struct stream, work));
    struct inbox *in = s->rq.inbox;
    relay_ended(&s->r, (enum relay_end)s->result); /* unsubscribed: no more rings */
    /* The end of STDOUT and END_REQUEST, as FCGX_Finish_r writes them (a cut or a gone
     * client makes this fail, which changes nothing), then the close nginx waits for. */
    struct buf b;
    buf_init(&b, 64);
    if (s->pend.len && dc_write_all(s->fd, s->pend.data, s->pend.len) < 0)
        buf_reset(&s->pend); /* broken: nothing more is written */
    else if (fcgi_encode_record(&b, FCGI_STDOUT, s->fcgi_id, NULL, 0) == 0 &&
             fcgi_encode_end_request(&b, s->fcgi_id, 0, FCGI_REQUEST_COMPLETE) == 0)
        dc_write_all(s->fd, b.data, b.len);
    buf_free(&b);
    buf_free(&s->pend);
    close(s->fd);
    s->fd = -1;
    inbox_delete(in);
    loop_post(s->ss->loop, &s->post, on_freed, s);
}

/* ---- the API ---------------------------------------------------------------------------- */

static void *streams_main(void *arg)
{
    struct streams *ss = arg;
    char err[256];
    if (loop_run(ss->loop, err, sizeof err) < 0)
        log_error("the streams' loop: %s", err);
    return NULL;
}

struct streams *streams_start(struct app *app, streams_pool_fn *run, streams_idle_fn *idle,
                              void *pool, char *errstr, size_t errlen)
{
    struct streams *ss = xcalloc(1, sizeof *ss);
    ss->app = app;
    ss->run = run;
    ss->idle = idle;
    ss->pool = pool;
    atomic_init(&ss->n_open, 0);
    atomic_init(&ss->drain_posted, false);
    loop_timer_init(&ss->renew_timer, on_renew_tick, ss);
    ss->loop = loop_new(errstr, errlen);
    if (!ss->loop) {
        free(ss);
        return NULL;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    int rc = pthread_create(&ss->tid, &attr, streams_main, ss);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errstr_set(errstr, errlen, "pthread_create (the streams' loop): %s", strerror(rc));
        loop_free(ss->loop);
        free(ss);
        return NULL;
    }
    ss->started = true;
    return ss;
}

void streams_stop(struct streams *ss)
{
    if (!ss)
        return;
    if (ss->started) {
        loop_post(ss->loop, &ss->stop_post, on_stop, ss);
        pthread_join(ss->tid, NULL);
    }
    if (atomic_load(&ss->n_open))
        log_warn("the streams' loop stopped with %zu streams open", atomic_load(&ss->n_open));
    loop_free(ss->loop);
    free(ss);
}

int streams_adopt(struct streams *ss, struct relay *r)
{
    struct req *rq = r->rq;
    if (!ss || !rq->can_hand_off || !rq->conn->detach || rq->client_gone)
        return -1;
    struct stream *s = xcalloc(1, sizeof *s);
    if (rq->conn->detach(rq->conn_ctx, &s->fd, &s->fcgi_id) < 0) {
        free(s);
        return -1;
    }
    s->ss = ss;
    buf_init(&s->pend, 2 * FCGI_MAX_LENGTH);
    atomic_init(&s->wake_posted, false);
    s->rq = *rq;
    s->rq.conn = &dconn_ops;
    s->rq.conn_ctx = s;
    s->r = *r;
    s->r.rq = &s->rq;
    s->r.on_loop = true;
    rq->handed_off = true;
    atomic_fetch_add(&ss->n_open, 1);
    /* Before the adoption is posted: the stream may end (and free the inbox) once it is. A
     * ring before on_adopt is dropped there; on_adopt steps the stream anyway. */
    inbox_hand_to(s->rq.inbox, stream_notify, s);
    loop_post(ss->loop, &s->post, on_adopt, s);
    return 0;
}

void streams_drain(struct streams *ss)
{
    if (ss && !atomic_exchange(&ss->drain_posted, true))
        loop_post(ss->loop, &ss->drain_post, on_drain, ss);
}

size_t streams_open(const struct streams *ss)
{
    return ss ? atomic_load(&ss->n_open) : 0;
}
