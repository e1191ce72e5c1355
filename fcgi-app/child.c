/* child: accept loop, worker threads, drain (see child.h). */
#include "child.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "app.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/wake.h"
#include "dispatch.h"
#include "lfconn.h"
#include "metrics.h"
#include "product.h"
#include "route.h"
#include "streams.h"

#define CHILD_POOL_SIZE 64          /* Redis command connections per child */
#define CHILD_REDIS_TIMEOUT_MS 2000 /* their connect and command timeout */
#define CHILD_READ_TIMEOUT_S 10     /* a FastCGI peer must send its request within this */
#define CHILD_WRITE_TIMEOUT_S 30    /* a write the peer does not take for this long fails */
#define CHILD_ACCEPT_PAUSE_MS 100   /* after EMFILE and the like: the socket stays readable */

/* Many threads, most of them waiting: small stacks. Sanitizers need more room per frame. */
#if defined(__SANITIZE_ADDRESS__)
#define CHILD_STACK (1024 * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHILD_STACK (1024 * 1024)
#endif
#endif
#ifndef CHILD_STACK
#define CHILD_STACK (256 * 1024)
#endif

struct child;

struct worker {
    struct child *ch;
    pthread_t tid;
    bool started;
    struct inbox *inbox;   /* its current one (under ch->mu when it changes: a stream that
                              goes to the loop takes it along, and spare takes its place) */
    struct inbox *spare;   /* NOVA_FCGI_STREAMS=loop: the next one, ready (NULL: none) */
    FCGX_Request fr;
};

struct child {
    struct app app;
    int listen_fd;
    int sig_fd;
    int wake_efd;          /* the main loop: a worker became idle, or the last one left */
    struct worker *workers;
    size_t n_workers;
    pthread_mutex_t mu;    /* everything below */
    pthread_cond_t cv;     /* a connection was queued, or the drain began */
    int *queue;            /* accepted connections waiting for a worker (ring) */
    size_t qhead, qlen;
    size_t idle;           /* workers waiting in the cv */
    size_t live;           /* worker threads not yet returned */
    struct streams_work *wq_head, *wq_tail; /* the loop's stream steps for the pool */
    bool stopping;
    bool main_waits;       /* the main loop stopped polling the socket: wake it on idle */
    int stops;             /* SIGTERM/SIGQUIT seen */
};

/* ---- workers ---------------------------------------------------------------------------- */

static void worker_serve(struct worker *w, int fd)
{
    /* FCGX_Accept_r reads the request from a connection already in ipcFd; keepConnection
     * keeps the FCGX_Finish_r it starts with from closing that connection. listen_sock is -1,
     * so a connection that sends no valid request just ends the call with an error. */
    w->fr.ipcFd = fd;
    w->fr.keepConnection = 1;
    int rc = FCGX_Accept_r(&w->fr);
    if (rc < 0) {
        log_debug("a FastCGI connection closed without a valid request (%d)", rc);
        if (w->fr.ipcFd >= 0) {
            close(w->fr.ipcFd);
            w->fr.ipcFd = -1;
        }
        return;
    }
    struct req rq;
    struct child *ch = w->ch;
    metrics_busy(+1);
    req_init(&rq, &ch->app, w->inbox, &lfconn_ops, &w->fr);
    rq.can_hand_off = ch->app.streams && w->spare;
    route_handle(&rq);
    /* Here, not in route_handle: every request is counted, however its handler returned. */
    metrics_request(rq.route, rq.status);
    metrics_busy(-1);
    if (rq.handed_off) {
        /* The loop has the connection (libfcgi's request is freed, its descriptor the
         * stream's) and the inbox: the spare takes its place, and a new spare is made. */
        pthread_mutex_lock(&ch->mu);
        w->inbox = w->spare;
        w->spare = NULL;
        pthread_mutex_unlock(&ch->mu);
        char err[128];
        w->spare = inbox_new(err, sizeof err);
        if (!w->spare)
            log_warn("no spare inbox (%s): this thread relays its next stream itself", err);
        return;
    }
    /* nginx runs with fastcgi_keep_conn off: closing is how each side learns the other is
     * done, so the connection is never kept whatever the request asked. */
    w->fr.keepConnection = 0;
    FCGX_Finish_r(&w->fr);
    inbox_reset(w->inbox);
}

/* ---- the pool the streams' loop steps its streams on (NOVA_FCGI_STREAMS=loop) ---------- */

static void child_pool_run(void *pool, struct streams_work *wk)
{
    struct child *ch = pool;
    wk->next = NULL;
    pthread_mutex_lock(&ch->mu);
    if (ch->wq_tail)
        ch->wq_tail->next = wk;
    else
        ch->wq_head = wk;
    ch->wq_tail = wk;
    pthread_cond_signal(&ch->cv);
    pthread_mutex_unlock(&ch->mu);
}

/* The last stream on the loop is gone: a draining child's threads may end. */
static void child_streams_idle(void *pool)
{
    struct child *ch = pool;
    pthread_mutex_lock(&ch->mu);
    pthread_cond_broadcast(&ch->cv);
    pthread_mutex_unlock(&ch->mu);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct child *ch = w->ch;
    FCGX_InitRequest(&w->fr, -1, 0);
    for (;;) {
        pthread_mutex_lock(&ch->mu);
        ch->idle++;
        if (ch->main_waits) {
            ch->main_waits = false;
            wake_signal(ch->wake_efd);
        }
        /* A draining child's threads stay while the loop holds streams: they run its steps. */
        while (ch->qlen == 0 && !ch->wq_head &&
               !(ch->stopping && streams_open(ch->app.streams) == 0))
            pthread_cond_wait(&ch->cv, &ch->mu);
        ch->idle--;
        if (ch->wq_head) {
            struct streams_work *wk = ch->wq_head;
            ch->wq_head = wk->next;
            if (!ch->wq_head)
                ch->wq_tail = NULL;
            pthread_mutex_unlock(&ch->mu);
            wk->fn(wk);
            continue;
        }
        if (ch->qlen == 0) { /* draining and nothing left to serve */
            if (--ch->live == 0)
                wake_signal(ch->wake_efd);
            pthread_mutex_unlock(&ch->mu);
            return NULL;
        }
        int fd = ch->queue[ch->qhead];
        ch->qhead = (ch->qhead + 1) % ch->n_workers;
        ch->qlen--;
        pthread_mutex_unlock(&ch->mu);
        worker_serve(w, fd);
    }
}

/* ---- the main thread -------------------------------------------------------------------- */

/* Accepts while a worker is free to take the connection. */
static void child_accept(struct child *ch, long long *pause_until)
{
    for (;;) {
        pthread_mutex_lock(&ch->mu);
        bool room = !ch->stopping && ch->idle > ch->qlen;
        pthread_mutex_unlock(&ch->mu);
        if (!room)
            return;
        int fd = accept4(ch->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_error("accept4: %s", strerror(errno));
                *pause_until = clock_mono_ms() + CHILD_ACCEPT_PAUSE_MS;
            }
            return; /* EAGAIN: a sibling took it, or nothing is waiting */
        }
        struct timeval rcv = {CHILD_READ_TIMEOUT_S, 0}, snd = {CHILD_WRITE_TIMEOUT_S, 0};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd) < 0)
            log_warn("setsockopt(SO_RCVTIMEO/SO_SNDTIMEO): %s", strerror(errno));
        pthread_mutex_lock(&ch->mu);
        ch->queue[(ch->qhead + ch->qlen) % ch->n_workers] = fd;
        ch->qlen++;
        pthread_cond_signal(&ch->cv);
        pthread_mutex_unlock(&ch->mu);
    }
}

static void child_stop(struct child *ch)
{
    long long now = clock_mono_ms();
    if (ch->stops++ == 0) {
        log_info("draining: accepting no more requests; open streams end within %ld s",
                 ch->app.cfg->drain_s);
        atomic_store(&ch->app.drain_deadline_ms, now + ch->app.cfg->drain_s * 1000);
        atomic_store(&ch->app.draining, true);
        metrics_child_state(METRICS_CHILD_DRAINING, 0);
        FCGX_ShutdownPending();
        pthread_mutex_lock(&ch->mu);
        ch->stopping = true;
        pthread_cond_broadcast(&ch->cv);
        pthread_mutex_unlock(&ch->mu);
        close(ch->listen_fd); /* the master and the siblings keep it open */
        ch->listen_fd = -1;
    } else {
        log_info("stop signal again: ending the open streams now");
        atomic_store(&ch->app.drain_deadline_ms, now);
    }
    pthread_mutex_lock(&ch->mu);
    for (size_t i = 0; i < ch->n_workers; i++)
        if (ch->workers[i].started)
            inbox_wake(ch->workers[i].inbox); /* their waits recompute the deadline */
    pthread_mutex_unlock(&ch->mu);
    streams_drain(ch->app.streams); /* and the loop's streams step at once */
}

static void child_signals(struct child *ch)
{
    struct signalfd_siginfo si;
    while (read(ch->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGQUIT)
            child_stop(ch);
}

static void child_loop(struct child *ch)
{
    long long pause_until = 0;
    for (;;) {
        pthread_mutex_lock(&ch->mu);
        bool over = ch->stopping && ch->live == 0;
        bool can_accept = !ch->stopping && ch->idle > ch->qlen;
        ch->main_waits = !can_accept;
        pthread_mutex_unlock(&ch->mu);
        if (over)
            return;
        long long wait = pause_until - clock_mono_ms();
        struct pollfd p[3] = {{ch->sig_fd, POLLIN, 0},
                              {ch->wake_efd, POLLIN, 0},
                              {can_accept && wait <= 0 ? ch->listen_fd : -1, POLLIN, 0}};
        int rc = poll(p, 3, wait > 0 ? (int)(wait < INT_MAX ? wait : INT_MAX) : -1);
        if (rc < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            continue;
        }
        if (p[0].revents & POLLIN)
            child_signals(ch);
        if (p[1].revents & POLLIN)
            wake_drain(ch->wake_efd);
        if (ch->listen_fd >= 0 && (p[2].revents & POLLIN))
            child_accept(ch, &pause_until);
    }
}

/* ---- set-up and tear-down --------------------------------------------------------------- */

static int child_setup_signals(struct child *ch, pid_t master)
{
    struct sigaction ign = {0}, dfl = {0};
    ign.sa_handler = SIG_IGN;
    dfl.sa_handler = SIG_DFL;
    /* Set before FCGX_Init: libfcgi installs its own SIGPIPE and SIGUSR1 handlers only where
     * the disposition is still the default. */
    const int ignored[] = {SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2};
    const int defaults[] = {SIGCHLD, SIGTERM, SIGQUIT};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        sigaction(ignored[i], &ign, NULL);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        sigaction(defaults[i], &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGQUIT);
    ch->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (ch->sig_fd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    /* Threads inherit this mask: TERM and QUIT reach only the signalfd. */
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
        log_warn("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
    if (getppid() != master) /* the master died before prctl took effect */
        child_stop(ch);
    return 0;
}

static int child_start_workers(struct child *ch)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, CHILD_STACK);
    char err[128];
    for (size_t i = 0; i < ch->n_workers; i++) {
        struct worker *w = &ch->workers[i];
        w->ch = ch;
        w->inbox = inbox_new(err, sizeof err);
        if (!w->inbox) {
            log_error("worker %zu: %s", i, err);
            break;
        }
        if (ch->app.streams && !(w->spare = inbox_new(err, sizeof err)))
            log_warn("worker %zu: no spare inbox (%s): it relays its streams itself", i, err);
        pthread_mutex_lock(&ch->mu);
        ch->live++;
        pthread_mutex_unlock(&ch->mu);
        int rc = pthread_create(&w->tid, &attr, worker_main, w);
        if (rc != 0) {
            log_error("pthread_create (worker %zu): %s", i, strerror(rc));
            inbox_delete(w->inbox);
            inbox_delete(w->spare);
            w->inbox = w->spare = NULL;
            pthread_mutex_lock(&ch->mu);
            ch->live--;
            pthread_mutex_unlock(&ch->mu);
            break;
        }
        w->started = true;
    }
    pthread_attr_destroy(&attr);
    size_t n = 0;
    for (size_t i = 0; i < ch->n_workers; i++)
        n += ch->workers[i].started;
    if (n < ch->n_workers)
        log_warn("running with %zu of %zu worker threads", n, ch->n_workers);
    return n > 0 ? 0 : -1;
}

int child_main(const struct nova_config *cfg, int listen_fd, pid_t master, int sb_slot)
{
    metrics_child_attach(sb_slot);
    struct child *ch = xcalloc(1, sizeof *ch);
    char err[256];
    ch->app.cfg = cfg;
    ch->listen_fd = listen_fd;
    ch->sig_fd = ch->wake_efd = -1;
    ch->n_workers = (size_t)cfg->fcgi_threads;
    ch->workers = xcalloc(ch->n_workers, sizeof *ch->workers);
    ch->queue = xcalloc(ch->n_workers, sizeof *ch->queue);
    pthread_mutex_init(&ch->mu, NULL);
    pthread_cond_init(&ch->cv, NULL);
    int code = 1;
    struct product product;
    bool have_product = false;
    if (child_setup_signals(ch, master) < 0)
        goto out;
    /* Loaded here, after fork: a reload's children read the files afresh, and each child has
     * its own SQLite connections. */
    if (product_load(&product, cfg, true, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out;
    }
    have_product = true;
    ch->app.product = &product;
    if (FCGX_Init() != 0) {
        log_error("FCGX_Init failed");
        goto out;
    }
    if (rconn_addr_from_config(cfg, &ch->app.redis, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out;
    }
    ch->wake_efd = wake_open();
    if (ch->wake_efd < 0) {
        log_error("eventfd: %s", strerror(errno));
        goto out;
    }
    ch->app.pool = rpool_new(&ch->app.redis, CHILD_POOL_SIZE, CHILD_REDIS_TIMEOUT_MS);
    ch->app.dispatch = dispatch_start(&ch->app.redis, err, sizeof err);
    if (!ch->app.dispatch) {
        log_error("pub/sub dispatcher: %s", err);
        goto out;
    }
    if (cfg->fcgi_streams_loop) {
        ch->app.streams = streams_start(&ch->app, child_pool_run, child_streams_idle, ch, err,
                                        sizeof err);
        if (!ch->app.streams) {
            log_error("the streams' loop: %s", err);
            goto out;
        }
        ch->app.stream_adopt = streams_adopt;
    }
    if (child_start_workers(ch) < 0)
        goto out;
    size_t started = 0;
    for (size_t i = 0; i < ch->n_workers; i++)
        started += ch->workers[i].started;
    if (!atomic_load(&ch->app.draining)) /* the master may have died during the start */
        metrics_child_state(METRICS_CHILD_RUNNING, (unsigned)started);
    log_info("child ready: %zu threads; open streams relayed by %s", ch->n_workers,
             ch->app.streams ? "the loop" : "their threads");
    child_loop(ch);
    code = 0;
out:
    if (code != 0 && ch->app.dispatch) { /* workers may be running: stop them first */
        pthread_mutex_lock(&ch->mu);
        ch->stopping = true;
        pthread_cond_broadcast(&ch->cv);
        pthread_mutex_unlock(&ch->mu);
    }
    for (size_t i = 0; i < ch->n_workers; i++)
        if (ch->workers[i].started) {
            pthread_join(ch->workers[i].tid, NULL);
            inbox_delete(ch->workers[i].inbox);
            inbox_delete(ch->workers[i].spare);
        }
    streams_stop(ch->app.streams); /* after the threads: they end once it holds no stream */
    dispatch_stop(ch->app.dispatch);
    rpool_free(ch->app.pool);
    if (have_product)
        product_free(&product);
    for (size_t i = 0; i < ch->qlen; i++) /* accepted, never served (a failed start) */
        close(ch->queue[(ch->qhead + i) % ch->n_workers]);
    if (ch->listen_fd >= 0)
        close(ch->listen_fd);
    if (ch->sig_fd >= 0)
        close(ch->sig_fd);
    if (ch->wake_efd >= 0)
        close(ch->wake_efd);
    pthread_cond_destroy(&ch->cv);
    pthread_mutex_destroy(&ch->mu);
    free(ch->queue);
    free(ch->workers);
    free(ch);
    if (code == 0)
        log_info("child drained");
    return code;
}
