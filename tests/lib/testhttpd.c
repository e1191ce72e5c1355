/* testhttpd: a one-thread HTTP/1.1 test server on loopback (see testhttpd.h). */
#include "testhttpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"

#define TESTHTTPD_HEADER_MAX (64 * 1024)
/* A client that neither sends nor closes for this long is dropped, so one broken test cannot
 * wedge the server thread (and with it testhttpd_stop) forever. */
#define TESTHTTPD_IDLE_MS 10000

struct testhttpd {
    int lfd;
    int wake[2]; /* testhttpd_stop writes a byte; every poll of the thread watches wake[0] */
    int port;
    testhttpd_handler handler;
    void *user;
    atomic_ulong connections;
    pthread_t thread;
};

/* Waits until fd is readable. False when stopping, idle too long or the poll failed. */
static bool testhttpd_wait(struct testhttpd *s, int fd)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->wake[0], .events = POLLIN}};
        int n = poll(p, 2, TESTHTTPD_IDLE_MS);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 && !p[1].revents && p[0].revents;
    }
}

static bool testhttpd_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads one request from fd, answers it, returns (the caller closes fd). */
static void testhttpd_serve(struct testhttpd *s, int fd)
{
    struct buf in;
    buf_init(&in, TESTHTTPD_HEADER_MAX + TESTHTTPD_BODY_MAX);
    const struct http_limits lim = {TESTHTTPD_HEADER_MAX, TESTHTTPD_BODY_MAX};
    struct http_request req;
    char err[256] = "";
    bool sent_continue = false;
    long n;
    for (;;) {
        memset(&req, 0, sizeof req);
        n = http_request_parse(buf_cstr(&in), in.len, &lim, &req, err, sizeof err);
        if (n != 0)
            break;
        if (req.header_len && req.expect_continue && !sent_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (!testhttpd_write_all(fd, cont, sizeof cont - 1))
                goto out;
            sent_continue = true;
        }
        char chunk[16384];
        ssize_t r;
        if (!testhttpd_wait(s, fd))
            goto out;
        do
            r = read(fd, chunk, sizeof chunk);
        while (r < 0 && errno == EINTR);
        if (r <= 0 || buf_append(&in, chunk, (size_t)r) < 0)
            goto out;
    }

    struct testhttpd_response resp = {.status = 200};
    snprintf(resp.content_type, sizeof resp.content_type, "text/plain");
    buf_init(&resp.body, TESTHTTPD_BODY_MAX);
    if (n < 0) {
        resp.status = (int)-n;
        buf_printf(&resp.body, "%s\n", err);
    } else {
        s->handler(s->user, &req, &resp);
    }
    if (resp.status > 0) {
        struct buf head;
        buf_init(&head, TESTHTTPD_HEADER_MAX);
        buf_printf(&head,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n%s\r\n",
                   resp.status, http_status_reason(resp.status), resp.content_type,
                   resp.body.len, resp.headers);
        if (testhttpd_write_all(fd, buf_cstr(&head), head.len))
            testhttpd_write_all(fd, buf_cstr(&resp.body), resp.body.len);
        buf_free(&head);
        shutdown(fd, SHUT_WR);
    }
    buf_free(&resp.body);
out:
    buf_free(&in);
}

static void *testhttpd_main(void *arg)
{
    struct testhttpd *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
                              {.fd = s->wake[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("testhttpd: poll");
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        atomic_fetch_add(&s->connections, 1);
        testhttpd_serve(s, fd);
        close(fd);
    }
    return NULL;
}

struct testhttpd *testhttpd_start(testhttpd_handler handler, void *user)
{
    struct testhttpd *s = xcalloc(1, sizeof *s);
    s->handler = handler;
    s->user = user;
    s->wake[0] = s->wake[1] = -1;
    atomic_init(&s->connections, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    const char *what = "socket";
    if ((s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        goto fail;
    what = "bind";
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) < 0)
        goto fail;
    what = "listen";
    if (listen(s->lfd, 64) < 0)
        goto fail;
    what = "getsockname";
    if (getsockname(s->lfd, (struct sockaddr *)&a, &alen) < 0)
        goto fail;
    s->port = ntohs(a.sin_port);
    what = "pipe2";
    if (pipe2(s->wake, O_CLOEXEC) < 0)
        goto fail;
    /* Signals are the test program's business, not the server thread's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, testhttpd_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        what = "pthread_create";
        goto fail;
    }
    return s;
fail:
    fprintf(stderr, "testhttpd: %s: %s\n", what, strerror(errno));
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->wake[0] >= 0) {
        close(s->wake[0]);
        close(s->wake[1]);
    }
    free(s);
    return NULL;
}

int testhttpd_port(const struct testhttpd *s)
{
    return s->port;
}

unsigned long testhttpd_connections(struct testhttpd *s)
{
    return atomic_load(&s->connections);
}

void testhttpd_stop(struct testhttpd *s)
{
    if (!s)
        return;
    ssize_t w;
    do
        w = write(s->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    free(s);
}
