/* test_loop: fcgi-app/loop.c, the child's event loop — timers in due order and never early,
 * stopped and moved ones, a thousand of them against a sorted reference, the wait computed
 * from the next timer (an idle loop sleeps: a handful of epoll_wait calls, not a spin), read
 * and write interest and hang-ups on real descriptors, a registration deleted by an earlier
 * callback of the same batch, posts from four threads in each thread's order, a timer that
 * re-arms itself for "now" without starving the descriptors, and loop_run / loop_stop. */
#include "../../fcgi-app/loop.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "test.h"

static struct loop *new_loop(void)
{
    char err[128];
    struct loop *l = loop_new(err, sizeof err);
    if (!l)
        fprintf(stderr, "loop_new: %s\n", err);
    return l;
}

/* Runs passes until *done or until ms passed. */
static void run_until(struct loop *l, const int *done, long long ms)
{
    long long until = clock_mono_ms() + ms;
    char err[128];
    while (!*done && clock_mono_ms() < until)
        CHECK(loop_once(l, until - clock_mono_ms(), err, sizeof err) == 0);
}

/* ---- timers ------------------------------------------------------------------------------- */

struct fired {
    int order[2048];
    long long at[2048];
    int n;
    int want;
    int done;
};

struct tnode {
    struct loop_timer t;
    int id;
    struct fired *f;
};

static void on_tnode(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct tnode *x = t->arg;
    x->f->at[x->f->n] = clock_mono_ms();
    x->f->order[x->f->n++] = x->id;
    if (x->f->n == x->f->want)
        x->f->done = 1;
}

static void test_timer_order(void)
{
    struct loop *l = new_loop();
    struct fired f = {.want = 5};
    struct tnode x[5];
    long long now = clock_mono_ms();
    const long long after[5] = {30, 10, 20, 10, 0};
    for (int i = 0; i < 5; i++) {
        x[i] = (struct tnode){.id = i, .f = &f};
        loop_timer_init(&x[i].t, on_tnode, &x[i]);
        loop_timer_at(l, &x[i].t, now + after[i]);
        CHECK(loop_timer_armed(&x[i].t));
    }
    CHECK(loop_next_timeout(l) == 0);
    run_until(l, &f.done, 2000);
    const int want[5] = {4, 1, 3, 2, 0}; /* equal times: first armed first */
    for (int i = 0; i < 5; i++) {
        CHECK(f.order[i] == want[i]);
        CHECK(f.at[i] >= now + after[want[i]]); /* never early */
        CHECK(!loop_timer_armed(&x[i].t));
    }
    CHECK(loop_next_timeout(l) == -1);
    loop_free(l);
}

static void test_timer_stop_and_move(void)
{
    struct loop *l = new_loop();
    struct fired f = {.want = 1};
    struct tnode a = {.id = 1, .f = &f}, b = {.id = 2, .f = &f};
    loop_timer_init(&a.t, on_tnode, &a);
    loop_timer_init(&b.t, on_tnode, &b);
    long long now = clock_mono_ms();
    loop_timer_at(l, &a.t, now + 500);
    loop_timer_at(l, &b.t, now + 20);
    loop_timer_stop(l, &b.t);
    loop_timer_stop(l, &b.t); /* twice: a no-op */
    loop_timer_at(l, &a.t, now + 10); /* moved earlier */
    CHECK(loop_next_timeout(l) <= 10);
    run_until(l, &f.done, 1000);
    CHECK(f.n == 1 && f.order[0] == 1 && f.at[0] >= now + 10 && f.at[0] < now + 400);
    /* Nothing else comes. */
    int never = 0;
    run_until(l, &never, 60);
    CHECK(f.n == 1);
    loop_free(l);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void test_timer_heap(void)
{
    struct loop *l = new_loop();
    enum { N = 1000 };
    static struct tnode x[N];
    static struct fired f;
    memset(&f, 0, sizeof f);
    long long now = clock_mono_ms();
    long long dues[N];
    size_t nd = 0;
    srand(7);
    for (int i = 0; i < N; i++) {
        x[i] = (struct tnode){.id = i, .f = &f};
        loop_timer_init(&x[i].t, on_tnode, &x[i]);
        loop_timer_at(l, &x[i].t, now + rand() % 80);
    }
    /* Stop a third, move a third (some twice), keep a third. */
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            loop_timer_stop(l, &x[i].t);
        else if (i % 3 == 1)
            loop_timer_at(l, &x[i].t, now + rand() % 80);
        if (i % 3 != 0)
            dues[nd++] = x[i].t.due_ms;
    }
    f.want = (int)nd;
    run_until(l, &f.done, 3000);
    CHECK(f.n == (int)nd);
    qsort(dues, nd, sizeof dues[0], cmp_ll);
    for (size_t i = 0; i < nd && i < (size_t)f.n; i++) {
        CHECK(x[f.order[i]].t.due_ms == dues[i]); /* fired in due order */
        CHECK(f.order[i] % 3 != 0);
    }
    loop_free(l);
}

static void test_no_busy_wait(void)
{
    struct loop *l = new_loop();
    struct fired f = {.want = 1};
    struct tnode a = {.id = 1, .f = &f};
    loop_timer_init(&a.t, on_tnode, &a);
    long long t0 = clock_mono_ms();
    loop_timer_after(l, &a.t, 200);
    struct loop_stats s0 = loop_stats(l);
    run_until(l, &f.done, 2000);
    struct loop_stats s1 = loop_stats(l);
    CHECK(f.done && f.at[0] - t0 >= 200 && f.at[0] - t0 < 600);
    CHECK(s1.waits - s0.waits <= 3); /* it slept until the timer, it did not spin */
    CHECK(s1.timers - s0.timers == 1);
    /* Nothing armed: a bounded pass sleeps its whole bound in one wait. */
    char err[128];
    t0 = clock_mono_ms();
    CHECK(loop_once(l, 100, err, sizeof err) == 0);
    CHECK(clock_mono_ms() - t0 >= 99 && loop_stats(l).waits == s1.waits + 1);
    loop_free(l);
}

/* A timer that re-arms itself for now: one firing per pass, the descriptors still served. */
struct greedy {
    struct loop_timer t;
    int fired;
    struct loop_io io;
    int reads;
};

static void on_greedy(struct loop *l, struct loop_timer *t)
{
    struct greedy *g = t->arg;
    g->fired++;
    loop_timer_at(l, t, loop_now(l));
}

static void on_greedy_read(struct loop *l, struct loop_io *io, unsigned ev)
{
    (void)l;
    struct greedy *g = io->arg;
    char c;
    if (ev & LOOP_READ)
        CHECK(read(io->fd, &c, 1) == 1);
    g->reads++;
}

static void test_timer_now_does_not_starve(void)
{
    struct loop *l = new_loop();
    struct greedy g = {0};
    int p[2];
    CHECK(pipe(p) == 0);
    loop_timer_init(&g.t, on_greedy, &g);
    loop_io_init(&g.io, p[0], on_greedy_read, &g);
    char err[128];
    CHECK(loop_io_want(l, &g.io, LOOP_READ, err, sizeof err) == 0);
    loop_timer_after(l, &g.t, 0);
    for (int i = 0; i < 10; i++) {
        CHECK(write(p[1], "x", 1) == 1);
        CHECK(loop_once(l, 1000, err, sizeof err) == 0);
    }
    CHECK(g.reads == 10);
    CHECK(g.fired >= 9 && g.fired <= 10);
    loop_timer_stop(l, &g.t);
    loop_io_del(l, &g.io);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

/* ---- descriptors ------------------------------------------------------------------------- */

struct ionode {
    struct loop_io io;
    unsigned events;
    int calls;
    struct ionode *victim; /* deleted (and poisoned) by this one's callback */
};

static void on_ionode(struct loop *l, struct loop_io *io, unsigned ev)
{
    struct ionode *x = io->arg;
    x->events |= ev;
    x->calls++;
    if (ev & LOOP_READ) {
        char b[64];
        ssize_t n = read(io->fd, b, sizeof b);
        (void)n;
    }
    if (x->victim) {
        loop_io_del(l, &x->victim->io);
        x->victim->io.arg = NULL; /* a callback for it now would crash */
    }
}

static void test_io_interest(void)
{
    struct loop *l = new_loop();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct ionode a = {0};
    loop_io_init(&a.io, sv[0], on_ionode, &a);
    char err[128];
    CHECK(loop_io_want(l, &a.io, LOOP_READ, err, sizeof err) == 0);
    CHECK(loop_once(l, 20, err, sizeof err) == 0 && a.calls == 0); /* nothing to read */
    CHECK(write(sv[1], "hi", 2) == 2);
    CHECK(loop_once(l, 1000, err, sizeof err) == 0 && a.calls == 1 && a.events == LOOP_READ);
    /* Writable: at once. */
    a.calls = 0;
    a.events = 0;
    CHECK(loop_io_want(l, &a.io, LOOP_WRITE, err, sizeof err) == 0);
    CHECK(loop_once(l, 1000, err, sizeof err) == 0 && a.calls == 1 && a.events == LOOP_WRITE);
    /* No interest: bytes arrive, nothing is called. */
    a.calls = 0;
    CHECK(loop_io_want(l, &a.io, 0, err, sizeof err) == 0);
    CHECK(write(sv[1], "x", 1) == 1);
    CHECK(loop_once(l, 30, err, sizeof err) == 0 && a.calls == 0);
    /* A hang-up is reported without interest; with LOOP_RDHUP asked, as that too. */
    CHECK(loop_io_want(l, &a.io, LOOP_RDHUP, err, sizeof err) == 0);
    close(sv[1]);
    CHECK(loop_once(l, 1000, err, sizeof err) == 0 && a.calls == 1);
    CHECK((a.events & LOOP_HUP) && (a.events & LOOP_RDHUP) && !(a.events & LOOP_READ));
    loop_io_del(l, &a.io);
    loop_io_del(l, &a.io); /* twice: a no-op */
    /* Registering a closed descriptor fails with the call named. */
    struct ionode bad = {0};
    loop_io_init(&bad.io, 999, on_ionode, &bad);
    CHECK(loop_io_want(l, &bad.io, LOOP_READ, err, sizeof err) == -1);
    CHECK(strstr(err, "epoll_ctl(ADD, fd 999)") != NULL);
    close(sv[0]);
    loop_free(l);
}

static void test_delete_within_batch(void)
{
    struct loop *l = new_loop();
    int p[2], q[2];
    CHECK(pipe(p) == 0 && pipe(q) == 0);
    struct ionode a = {0}, b = {0};
    a.victim = &b;
    b.victim = &a;
    loop_io_init(&a.io, p[0], on_ionode, &a);
    loop_io_init(&b.io, q[0], on_ionode, &b);
    char err[128];
    CHECK(loop_io_want(l, &a.io, LOOP_READ, err, sizeof err) == 0);
    CHECK(loop_io_want(l, &b.io, LOOP_READ, err, sizeof err) == 0);
    CHECK(write(p[1], "x", 1) == 1 && write(q[1], "y", 1) == 1);
    CHECK(loop_once(l, 1000, err, sizeof err) == 0);
    /* Both were ready in one batch; whichever ran first deleted the other. */
    CHECK(a.calls + b.calls == 1);
    CHECK(loop_stats(l).io_events == 1);
    loop_io_del(l, &a.io);
    loop_io_del(l, &b.io);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    loop_free(l);
}

/* ---- posts ------------------------------------------------------------------------------- */

enum { POSTERS = 4, PER_POSTER = 20000 };

struct post {
    struct loop_post m;
    int thread, seq;
};

struct posted {
    struct loop *l;
    int last[POSTERS];
    int got;
    int out_of_order;
    int done;
    struct post *all;
};

static struct posted g_posted;

static void on_post(struct loop *l, void *arg)
{
    (void)l;
    struct post *p = arg;
    if (p->seq != g_posted.last[p->thread] + 1)
        g_posted.out_of_order++;
    g_posted.last[p->thread] = p->seq;
    if (++g_posted.got == POSTERS * PER_POSTER)
        g_posted.done = 1;
}

static void *poster(void *arg)
{
    int t = (int)(long)arg;
    for (int i = 0; i < PER_POSTER; i++) {
        struct post *p = &g_posted.all[t * PER_POSTER + i];
        p->thread = t;
        p->seq = i;
        loop_post(g_posted.l, &p->m, on_post, p);
    }
    return NULL;
}

static void test_posts(void)
{
    struct loop *l = new_loop();
    memset(&g_posted, 0, sizeof g_posted);
    g_posted.l = l;
    for (int t = 0; t < POSTERS; t++)
        g_posted.last[t] = -1;
    g_posted.all = calloc(POSTERS * PER_POSTER, sizeof *g_posted.all);
    pthread_t th[POSTERS];
    for (long t = 0; t < POSTERS; t++)
        pthread_create(&th[t], NULL, poster, (void *)t);
    run_until(l, &g_posted.done, 20000);
    for (int t = 0; t < POSTERS; t++)
        pthread_join(th[t], NULL);
    CHECK(g_posted.got == POSTERS * PER_POSTER);
    CHECK(g_posted.out_of_order == 0);
    CHECK(loop_stats(l).posts == POSTERS * PER_POSTER);
    /* The doorbell rang once per empty-to-queued change, not per post. */
    CHECK(loop_stats(l).waits < POSTERS * PER_POSTER);
    free(g_posted.all);
    loop_free(l);
}

/* ---- run and stop ----------------------------------------------------------------------- */

static void on_stop(struct loop *l, struct loop_timer *t)
{
    int *n = t->arg;
    if (++*n == 3)
        loop_stop(l);
    else
        loop_timer_after(l, t, 5);
}

static void test_run_stop(void)
{
    struct loop *l = new_loop();
    int n = 0;
    struct loop_timer t;
    loop_timer_init(&t, on_stop, &n);
    loop_timer_after(l, &t, 5);
    char err[128];
    CHECK(loop_run(l, err, sizeof err) == 0);
    CHECK(n == 3 && !loop_timer_armed(&t));
    loop_free(l);
}

int main(void)
{
    RUN(test_timer_order);
    RUN(test_timer_stop_and_move);
    RUN(test_timer_heap);
    RUN(test_no_busy_wait);
    RUN(test_timer_now_does_not_starve);
    RUN(test_io_interest);
    RUN(test_delete_within_batch);
    RUN(test_posts);
    RUN(test_run_stop);
    return test_summary();
}
