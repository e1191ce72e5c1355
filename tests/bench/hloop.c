/* hloop: the start schedule of a run and a libcurl multi handle driven by epoll (bench.h),
 * shared by the pipeline and the peer modes. curl_multi_socket_action as in curl's
 * ephiperfifo example: the loop computes its wait from libcurl's timer and the next due start,
 * and never sleeps. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* ---- the schedule ----------------------------------------------------------------------- */

void hsched_init(struct hsched *s, int n, int ramp_ms, int concurrency)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->ramp_ms = ramp_ms;
    s->concurrency = concurrency;
    s->t_start = bench_now_ms();
}

double hsched_due(const struct hsched *s)
{
    if (s->started >= s->n || (s->concurrency > 0 && s->open >= s->concurrency))
        return -1;
    return s->t_start + (double)s->ramp_ms * s->started / s->n;
}

void hsched_started(struct hsched *s)
{
    s->started++;
    s->open++;
    if (s->open > s->peak_open)
        s->peak_open = s->open;
}

void hsched_finished(struct hsched *s)
{
    s->open--;
    s->finished++;
}

/* ---- libcurl multi on epoll ------------------------------------------------------------- */

static int on_socket(CURL *e, curl_socket_t fd, int what, void *user, void *sockp)
{
    (void)e;
    (void)sockp;
    struct hloop *l = user;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(l->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
        epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *user)
{
    (void)m;
    struct hloop *l = user;
    l->timer_ms = timeout_ms;
    l->timer_at = bench_now_ms() + (double)(timeout_ms < 0 ? 0 : timeout_ms);
    return 0;
}

int hloop_init(struct hloop *l, long max_connects, hloop_done_fn done, void *user)
{
    memset(l, 0, sizeof *l);
    l->timer_ms = -1;
    l->done = done;
    l->user = user;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0)
        return -1;
    l->m = curl_multi_init();
    if (!l->m) {
        close(l->ep);
        return -1;
    }
    curl_multi_setopt(l->m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l->m, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(l->m, CURLMOPT_TIMERDATA, l);
    curl_multi_setopt(l->m, CURLMOPT_MAXCONNECTS, max_connects);
    return 0;
}

void hloop_free(struct hloop *l)
{
    if (l->m)
        curl_multi_cleanup(l->m);
    if (l->ep >= 0)
        close(l->ep);
    l->m = NULL;
    l->ep = -1;
}

static void read_done(struct hloop *l)
{
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(l->m, &q))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *h = msg->easy_handle;
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(l->m, h);
        l->done(l->user, h, rc); /* the mode frees h */
    }
}

int hloop_run(struct hloop *l, struct hsched *s, double deadline, hloop_start_fn start)
{
    static struct epoll_event evs[512];
    int running;
    while (s->finished < s->n) {
        double now = bench_now_ms();
        for (double due; (due = hsched_due(s)) >= 0 && due <= now;) {
            int i = s->started;
            hsched_started(s);
            start(l->user, i);
        }
        /* A fresh clock: adding a transfer just re-armed curl's timer past the "now" sampled
         * above, and with one added on every pass the timeout would never be seen as due. */
        if (s->started > 0 && l->timer_ms >= 0 && l->timer_at <= bench_now_ms()) {
            l->timer_ms = -1;
            curl_multi_socket_action(l->m, CURL_SOCKET_TIMEOUT, 0, &running);
            read_done(l);
        }
        if (s->finished >= s->n)
            break;
        if (now >= deadline)
            return -1;
        double wait = 100;
        if (l->timer_ms >= 0 && l->timer_at - now < wait)
            wait = l->timer_at - now;
        double due = hsched_due(s);
        if (due >= 0 && due - now < wait)
            wait = due - now;
        if (deadline - now < wait)
            wait = deadline - now;
        int k = epoll_wait(l->ep, evs, 512, wait <= 0 ? 0 : (int)ceil(wait));
        for (int i = 0; i < k; i++) {
            int flags = 0;
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(l->m, evs[i].data.fd, flags, &running);
        }
        if (k > 0)
            read_done(l);
    }
    return 0;
}
