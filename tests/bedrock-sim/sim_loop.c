/* sim_loop: epoll plus a timer min-heap (see sim_loop.h). */
#include "sim_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/alloc.h"
#include "sim_util.h"

#define SIM_LOOP_MAX_EVENTS 256

struct sim_loop {
    int epfd;
    struct sim_timer **heap;
    size_t n, cap;
};

struct sim_loop *sim_loop_new(char *errstr, size_t errlen)
{
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errlen, "epoll_create1: %s", strerror(errno));
        return NULL;
    }
    struct sim_loop *l = xcalloc(1, sizeof *l);
    l->epfd = fd;
    return l;
}

void sim_loop_free(struct sim_loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    free(l->heap);
    free(l);
}

int sim_loop_add(struct sim_loop *l, struct sim_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int sim_loop_mod(struct sim_loop *l, struct sim_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void sim_loop_del(struct sim_loop *l, struct sim_io *io)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void sim_timer_init(struct sim_timer *t, void (*fn)(struct sim_timer *t))
{
    t->due = 0;
    t->slot = SIZE_MAX;
    t->fn = fn;
}

bool sim_timer_armed(const struct sim_timer *t)
{
    return t->slot != SIZE_MAX;
}

size_t sim_loop_timer_count(const struct sim_loop *l)
{
    return l->n;
}

static void heap_set(struct sim_loop *l, size_t i, struct sim_timer *t)
{
    l->heap[i] = t;
    t->slot = i;
}

static void heap_up(struct sim_loop *l, size_t i)
{
    struct sim_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->due <= t->due)
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void heap_down(struct sim_loop *l, size_t i)
{
    struct sim_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n)
            break;
        if (c + 1 < l->n && l->heap[c + 1]->due < l->heap[c]->due)
            c++;
        if (t->due <= l->heap[c]->due)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

void sim_timer_cancel(struct sim_loop *l, struct sim_timer *t)
{
    if (t->slot == SIZE_MAX)
        return;
    size_t i = t->slot;
    t->slot = SIZE_MAX;
    l->n--;
    if (i == l->n)
        return;
    struct sim_timer *moved = l->heap[l->n];
    heap_set(l, i, moved);
    heap_up(l, i);
    heap_down(l, moved->slot);
}

void sim_timer_arm(struct sim_loop *l, struct sim_timer *t, uint64_t due)
{
    if (t->slot != SIZE_MAX) {
        uint64_t old = t->due;
        t->due = due;
        if (due < old)
            heap_up(l, t->slot);
        else
            heap_down(l, t->slot);
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->heap = xrealloc(l->heap, l->cap * sizeof *l->heap);
    }
    t->due = due;
    heap_set(l, l->n, t);
    l->n++;
    heap_up(l, l->n - 1);
}

static void run_timers(struct sim_loop *l)
{
    uint64_t now = sim_now_ms();
    while (l->n > 0 && l->heap[0]->due <= now) {
        struct sim_timer *t = l->heap[0];
        sim_timer_cancel(l, t);
        t->fn(t);
    }
}

int sim_loop_run_once(struct sim_loop *l, char *errstr, size_t errlen)
{
    int timeout = -1;
    if (l->n > 0) {
        uint64_t now = sim_now_ms(), due = l->heap[0]->due;
        uint64_t wait = due > now ? due - now : 0;
        timeout = wait > 60000 ? 60000 : (int)wait;
    }
    struct epoll_event evs[SIM_LOOP_MAX_EVENTS];
    int n = epoll_wait(l->epfd, evs, SIM_LOOP_MAX_EVENTS, timeout);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        snprintf(errstr, errlen, "epoll_wait: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct sim_io *io = evs[i].data.ptr;
        io->on_event(io, evs[i].events);
    }
    run_timers(l);
    return 0;
}
