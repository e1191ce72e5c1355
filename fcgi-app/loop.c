/* loop: epoll, a timer heap and a post queue on one thread (see loop.h).
 *
 * A pass: wait (timeout from the earliest timer), run the descriptor callbacks of the events
 * fetched, then the timers due. Posts ride on the eventfd like any descriptor. Deleting a
 * registration clears the events of the current batch that point at it, as libuv does, so a
 * callback never runs for memory its owner has freed. */
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/wake.h"

struct loop {
    int epfd;
    struct epoll_event ev[LOOP_BATCH];
    int ev_n, ev_at;             /* the batch being dispatched, and where */
    long long now;
    bool stop;
    /* Timers: a binary min-heap on (due_ms, seq). */
    struct loop_timer **heap;
    size_t heap_n, heap_cap;
    unsigned long long seq;
    /* Posts. */
    struct loop_io wake_io;
    int wake_fd;
    pthread_mutex_t mu;
    struct loop_post *post_head, *post_tail;
    struct loop_stats stats;
};

/* ---- timers ----------------------------------------------------------------------------- */

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_place(struct loop *l, size_t i, struct loop_timer *t)
{
    l->heap[i] = t;
    t->slot = i + 1;
}

static void heap_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, l->heap[parent]))
            break;
        heap_place(l, i, l->heap[parent]);
        i = parent;
    }
    heap_place(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_n)
            break;
        if (c + 1 < l->heap_n && timer_before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_before(l->heap[c], t))
            break;
        heap_place(l, i, l->heap[c]);
        i = c;
    }
    heap_place(l, i, t);
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *arg)
{
    memset(t, 0, sizeof *t);
    t->fn = fn;
    t->arg = arg;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
    if (!t->slot)
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    struct loop_timer *last = l->heap[--l->heap_n];
    if (i == l->heap_n)
        return;
    heap_place(l, i, last);
    if (i > 0 && timer_before(last, l->heap[(i - 1) / 2]))
        heap_up(l, i);
    else
        heap_down(l, i);
}

void loop_timer_at(struct loop *l, struct loop_timer *t, long long due_ms)
{
    loop_timer_stop(l, t);
    if (l->heap_n == l->heap_cap) {
        l->heap_cap = l->heap_cap ? 2 * l->heap_cap : 64;
        l->heap = xrealloc(l->heap, l->heap_cap * sizeof *l->heap);
    }
    t->due_ms = due_ms;
    t->seq = ++l->seq;
    heap_place(l, l->heap_n++, t);
    heap_up(l, l->heap_n - 1);
}

void loop_timer_after(struct loop *l, struct loop_timer *t, long long ms)
{
    loop_timer_at(l, t, clock_mono_ms() + ms);
}

long long loop_next_timeout(const struct loop *l)
{
    if (l->heap_n == 0)
        return -1;
    long long t = l->heap[0]->due_ms - clock_mono_ms();
    return t < 0 ? 0 : t;
}

/* Fires what is due, but not what was armed during this pass (it waits for the next). */
static void timers_run(struct loop *l)
{
    long long now = clock_mono_ms();
    unsigned long long limit = l->seq;
    while (l->heap_n > 0) {
        struct loop_timer *t = l->heap[0];
        if (t->due_ms > now || t->seq > limit)
            break;
        loop_timer_stop(l, t);
        l->stats.timers++;
        t->fn(l, t);
    }
}

/* ---- descriptors ------------------------------------------------------------------------ */

void loop_io_init(struct loop_io *io, int fd, loop_io_fn *fn, void *arg)
{
    memset(io, 0, sizeof *io);
    io->fd = fd;
    io->fn = fn;
    io->arg = arg;
}

int loop_io_want(struct loop *l, struct loop_io *io, unsigned want, char *errstr,
                 size_t errlen)
{
    if (io->added && io->want == want)
        return 0;
    struct epoll_event e = {0};
    e.events = (want & LOOP_READ ? EPOLLIN : 0) | (want & LOOP_WRITE ? EPOLLOUT : 0) |
               (want & LOOP_RDHUP ? EPOLLRDHUP : 0);
    e.data.ptr = io;
    if (epoll_ctl(l->epfd, io->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io->fd, &e) < 0) {
        errstr_set(errstr, errlen, "epoll_ctl(%s, fd %d): %s", io->added ? "MOD" : "ADD",
                   io->fd, strerror(errno));
        return -1;
    }
    io->added = true;
    io->want = want;
    return 0;
}

void loop_io_del(struct loop *l, struct loop_io *io)
{
    if (!io->added)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL); /* fails only if fd is already closed */
    io->added = false;
    io->want = 0;
    for (int i = l->ev_at; i < l->ev_n; i++)
        if (l->ev[i].data.ptr == io)
            l->ev[i].data.ptr = NULL;
}

/* ---- posts ------------------------------------------------------------------------------ */

void loop_post(struct loop *l, struct loop_post *m, loop_post_fn *fn, void *arg)
{
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_lock(&l->mu);
    bool was_empty = l->post_head == NULL;
    if (was_empty)
        l->post_head = m;
    else
        l->post_tail->next = m;
    l->post_tail = m;
    pthread_mutex_unlock(&l->mu);
    /* A queue that was not empty has rung already, and the loop takes it whole. */
    if (was_empty)
        wake_signal(l->wake_fd);
}

static void posts_run(struct loop *l, struct loop_io *io, unsigned events)
{
    (void)io;
    (void)events;
    wake_drain(l->wake_fd); /* before taking: a post after this rings again */
    pthread_mutex_lock(&l->mu);
    struct loop_post *m = l->post_head;
    l->post_head = l->post_tail = NULL;
    pthread_mutex_unlock(&l->mu);
    while (m) {
        struct loop_post *next = m->next;
        loop_post_fn *fn = m->fn;
        void *arg = m->arg;
        l->stats.posts++;
        fn(l, arg); /* may free m */
        m = next;
    }
}

/* ---- the loop --------------------------------------------------------------------------- */

struct loop *loop_new(char *errstr, size_t errlen)
{
    struct loop *l = xcalloc(1, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        errstr_set(errstr, errlen, "epoll_create1: %s", strerror(errno));
        free(l);
        return NULL;
    }
    l->wake_fd = wake_open();
    if (l->wake_fd < 0) {
        errstr_set(errstr, errlen, "eventfd: %s", strerror(errno));
        close(l->epfd);
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->now = clock_mono_ms();
    loop_io_init(&l->wake_io, l->wake_fd, posts_run, l);
    if (loop_io_want(l, &l->wake_io, LOOP_READ, errstr, errlen) < 0) {
        loop_free(l);
        return NULL;
    }
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->heap_n; i++)
        l->heap[i]->slot = 0;
    free(l->heap);
    close(l->wake_fd);
    close(l->epfd);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int loop_once(struct loop *l, long long max_wait_ms, char *errstr, size_t errlen)
{
    long long wait = loop_next_timeout(l);
    if (max_wait_ms >= 0 && (wait < 0 || max_wait_ms < wait))
        wait = max_wait_ms;
    l->stats.waits++;
    int n = epoll_wait(l->epfd, l->ev, LOOP_BATCH, wait > INT_MAX ? INT_MAX : (int)wait);
    l->now = clock_mono_ms();
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        errstr_set(errstr, errlen, "epoll_wait: %s", strerror(errno));
        return -1;
    }
    l->ev_n = n;
    for (l->ev_at = 0; l->ev_at < l->ev_n; l->ev_at++) {
        struct epoll_event *e = &l->ev[l->ev_at];
        struct loop_io *io = e->data.ptr;
        if (!io)
            continue; /* deleted by an earlier callback of this batch */
        unsigned got = 0;
        if (e->events & EPOLLIN)
            got |= LOOP_READ;
        if (e->events & EPOLLOUT)
            got |= LOOP_WRITE;
        if (e->events & EPOLLRDHUP)
            got |= LOOP_RDHUP;
        if (e->events & (EPOLLHUP | EPOLLERR))
            got |= LOOP_HUP | (io->want & LOOP_RDHUP);
        l->stats.io_events++;
        io->fn(l, io, got);
    }
    l->ev_n = l->ev_at = 0;
    timers_run(l);
    return 0;
}

int loop_run(struct loop *l, char *errstr, size_t errlen)
{
    l->stop = false;
    while (!l->stop)
        if (loop_once(l, -1, errstr, errlen) < 0)
            return -1;
    return 0;
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

long long loop_now(const struct loop *l)
{
    return l->now;
}

struct loop_stats loop_stats(const struct loop *l)
{
    return l->stats;
}
