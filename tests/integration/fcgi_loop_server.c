/* fcgi_loop_server: a FastCGI server made of nova-fcgi's loop pieces alone — fcgi-app/loop.c,
 * fconn.c and fcgi_proto.c on ONE thread — for tests/integration/fcgi_loop.sh, which puts
 * nginx (the shipped configuration template) in front of it and runs test_fcgi_loop.
 *
 *   fcgi_loop_server SOCKET STALL_MS     prints "ready <pid>" when it listens; SIGTERM ends it
 *
 * Endpoints (DOCUMENT_URI, under /api/ where the template passes it on; numbers from
 * QUERY_STRING):
 *   /t/echo            the method, path, query and body back as text
 *   /t/big?n=BYTES     a body of n pattern bytes
 *   /t/sse?n=N&ms=M    text/event-stream: N events, one every M ms (a loop timer each)
 *   /t/hold?ms=M       one event at once, then `done` after M ms: an open stream that waits
 *   /t/flood?n=BYTES   n bytes at once, for a client that does not read (the stall cut)
 *   /t/stats           JSON: open, max_open, requests and the connections' endings by kind
 * This is test code: the production wiring of these pieces is phase B (fcgi-app/README.md). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../fcgi-app/fconn.h"
#include "../../fcgi-app/loop.h"

struct srv {
    struct loop *l;
    int lfd;
    struct loop_io lio, sio;
    struct fconn_opts fo;
    long open, max_open, requests;
    long ends[FCONN_END_CLOSED + 1];
};

struct rq {
    struct srv *s;
    struct fconn *c;
    struct loop_timer t;
    long left, every_ms;
    long sent;
};

static long qnum(const char *q, const char *key, long dflt)
{
    size_t k = strlen(key);
    for (const char *p = q; p && *p;) {
        if (strncmp(p, key, k) == 0 && p[k] == '=')
            return strtol(p + k + 1, NULL, 10);
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return dflt;
}

static void reply(struct fconn *c, const char *status, const char *ctype, const char *body,
                  size_t len)
{
    char h[256];
    int n = snprintf(h, sizeof h, "Status: %s\r\nContent-Type: %s\r\n\r\n", status, ctype);
    fconn_write(c, h, (size_t)n);
    if (len)
        fconn_write(c, body, len);
    fconn_finish(c, 0);
}

static void on_sse_tick(struct loop *l, struct loop_timer *t)
{
    struct rq *r = t->arg;
    char ev[96];
    int n = snprintf(ev, sizeof ev, "id: %ld\nevent: tick\ndata: {\"n\":%ld}\n\n", r->sent,
                     r->sent);
    r->sent++;
    fconn_write(r->c, ev, (size_t)n);
    if (--r->left > 0) {
        loop_timer_after(l, t, r->every_ms);
    } else {
        fconn_write(r->c, "event: done\ndata: {}\n\n", 22);
        fconn_finish(r->c, 0);
    }
}

static void on_request(struct fconn *c, void *arg)
{
    struct rq *r = arg;
    struct srv *s = r->s;
    s->requests++;
    const struct fcgi_parser *p = fconn_request(c);
    const char *uri = fcgi_parser_param(p, "DOCUMENT_URI", NULL);
    const char *q = fcgi_parser_param(p, "QUERY_STRING", NULL);
    const char *m = fcgi_parser_param(p, "REQUEST_METHOD", NULL);
    uri = uri ? uri : "";
    if (strncmp(uri, "/api", 4) == 0) /* the template passes /api/ to FastCGI */
        uri += 4;
    if (strcmp(uri, "/t/echo") == 0) {
        struct buf b;
        buf_init(&b, 1u << 20);
        buf_printf(&b, "method=%s\nuri=%s\nquery=%s\nbody=%zu\n", m ? m : "", uri, q ? q : "",
                   p->body.len);
        buf_append(&b, p->body.data, p->body.len);
        reply(c, "200 OK", "text/plain", b.data, b.len);
        buf_free(&b);
    } else if (strcmp(uri, "/t/big") == 0 || strcmp(uri, "/t/flood") == 0) {
        long n = qnum(q, "n", 1000);
        char h[128];
        int hn = snprintf(h, sizeof h, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        fconn_write(c, h, (size_t)hn);
        char *d = malloc((size_t)n);
        for (long i = 0; i < n; i++)
            d[i] = (char)('a' + i % 26);
        if (fconn_write(c, d, (size_t)n) < 0)
            fprintf(stderr, "fcgi_loop_server: %ld bytes do not fit\n", n);
        free(d);
        if (uri[3] == 'b')
            fconn_finish(c, 0);
    } else if (strcmp(uri, "/t/sse") == 0 || strcmp(uri, "/t/hold") == 0) {
        static const char h[] = "Status: 200 OK\r\nContent-Type: text/event-stream\r\n"
                                "Cache-Control: no-cache\r\n\r\n";
        fconn_write(c, h, sizeof h - 1);
        int hold = uri[3] == 'h';
        r->left = hold ? 2 : qnum(q, "n", 10);
        r->every_ms = hold ? qnum(q, "ms", 1000) : qnum(q, "ms", 10);
        on_sse_tick(s->l, &r->t); /* the first event at once; the timer does the rest */
    } else if (strcmp(uri, "/t/stats") == 0) {
        char b[512];
        int n = snprintf(b, sizeof b,
                         "{\"open\":%ld,\"max_open\":%ld,\"requests\":%ld,\"done\":%ld,"
                         "\"gone\":%ld,\"protocol\":%ld,\"timeout\":%ld,\"cut\":%ld,"
                         "\"closed\":%ld}\n",
                         s->open, s->max_open, s->requests, s->ends[FCONN_END_DONE],
                         s->ends[FCONN_END_GONE], s->ends[FCONN_END_PROTOCOL],
                         s->ends[FCONN_END_TIMEOUT], s->ends[FCONN_END_CUT],
                         s->ends[FCONN_END_CLOSED]);
        reply(c, "200 OK", "application/json", b, (size_t)n);
    } else {
        reply(c, "404 Not Found", "text/plain", "no such test endpoint\n", 22);
    }
    fconn_forget_request(c);
}

static void on_close(struct fconn *c, enum fconn_end why, void *arg)
{
    (void)c;
    struct rq *r = arg;
    r->s->ends[why]++;
    r->s->open--;
    loop_timer_stop(r->s->l, &r->t);
    free(r);
}

static const struct fconn_ops ops = {on_request, NULL, on_close};

static void on_accept(struct loop *l, struct loop_io *io, unsigned ev)
{
    (void)ev;
    struct srv *s = io->arg;
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "fcgi_loop_server: accept4: %s\n", strerror(errno));
            return;
        }
        struct rq *r = calloc(1, sizeof *r);
        r->s = s;
        loop_timer_init(&r->t, on_sse_tick, r);
        char err[128];
        r->c = fconn_new(l, fd, &s->fo, &ops, r, err, sizeof err);
        if (!r->c) {
            fprintf(stderr, "fcgi_loop_server: %s\n", err);
            free(r);
            continue;
        }
        if (++s->open > s->max_open)
            s->max_open = s->open;
    }
}

static void on_signal(struct loop *l, struct loop_io *io, unsigned ev)
{
    (void)ev;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
        loop_stop(l);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCKET STALL_MS\n", argv[0]);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct srv s = {0};
    s.fo.lim = (struct fcgi_limits){10000, 10000, 64 * 1024};
    s.fo.out_max = 16u << 20;
    s.fo.request_timeout_ms = 10000;
    s.fo.stall_ms = atol(argv[2]);
    char err[128];
    s.l = loop_new(err, sizeof err);
    if (!s.l) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[1]);
    unlink(argv[1]);
    s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
        chmod(argv[1], 0666) < 0 || listen(s.lfd, 4096) < 0) {
        fprintf(stderr, "fcgi_loop_server: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    loop_io_init(&s.lio, s.lfd, on_accept, &s);
    loop_io_init(&s.sio, sfd, on_signal, &s);
    if (loop_io_want(s.l, &s.lio, LOOP_READ, err, sizeof err) < 0 ||
        loop_io_want(s.l, &s.sio, LOOP_READ, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    int rc = loop_run(s.l, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err);
    loop_io_del(s.l, &s.lio);
    loop_io_del(s.l, &s.sio);
    close(s.lfd);
    close(sfd);
    unlink(argv[1]);
    /* Open connections are the kernel's to close at exit; the loop goes first. */
    loop_free(s.l);
    return rc < 0 ? 1 : 0;
}
