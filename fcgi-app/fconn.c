/* fconn: a FastCGI connection on the loop (see fconn.h).
 *
 * The writer keeps one record under way: its header, a slice at the head of the source and
 * its padding go out in one sendmsg (three iovecs), and the source is consumed as its bytes
 * reach the socket, so no response byte is copied into a second buffer. Records of the
 * parser (management answers, refusals) and the end (empty STDOUT, END_REQUEST) are whole in
 * ctl and go out between records. */
#include "fconn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/errstr.h"

#define FCONN_READ_CHUNK 16384
#define FCONN_READS_PER_EVENT 8  /* then the loop serves the others; level-triggered: it comes back */
#define FCONN_CTL_MAX (2 * FCGI_PROTO_REPLY_MAX)

struct fconn {
    struct loop *l;
    struct loop_io io;
    struct loop_timer timer; /* READING: the request deadline; SERVING, ENDING: the stall
                                check; CLOSED: on_close */
    struct fconn_opts o;
    struct fconn_ops ops;
    void *arg;
    enum fconn_state state;
    enum fconn_end end;
    struct fcgi_parser p;
    struct buf own;
    struct buf *src;
    void (*taken)(void *, size_t, long long);
    void *taken_arg;
    struct buf ctl;
    /* The STDOUT record under way. */
    unsigned char hdr[FCGI_HEADER_LEN];
    size_t hdr_left, content_left, pad_left;
    bool end_queued;
    uint32_t app_status;
    bool drained;          /* nothing waited when the writer last looked */
    bool was_blocked;      /* the socket was full since the last drain: on_drain is due */
    long long wait_since;  /* bytes have waited since (or since the last byte was taken) */
    bool want_write;
    struct fconn_stats st;
    char err[128];
};

static const unsigned char zeros[8];

const char *fconn_end_name(enum fconn_end e)
{
    switch (e) {
    case FCONN_END_DONE: return "done";
    case FCONN_END_GONE: return "gone";
    case FCONN_END_PROTOCOL: return "protocol";
    case FCONN_END_TIMEOUT: return "timeout";
    case FCONN_END_CUT: return "cut";
    case FCONN_END_CLOSED: return "closed";
    }
    return "?";
}

/* ---- the state ---------------------------------------------------------------------------- */

static void set_state(struct fconn *c, enum fconn_state st)
{
    c->state = st;
    switch (st) {
    case FCONN_READING:
        loop_timer_after(c->l, &c->timer, c->o.request_timeout_ms);
        break;
    case FCONN_SERVING:
        loop_timer_stop(c->l, &c->timer); /* armed again when bytes wait on a full socket */
        break;
    case FCONN_ENDING:
        break;
    case FCONN_CLOSED:
        loop_io_del(c->l, &c->io);
        if (c->end == FCONN_END_CUT)
            shutdown(c->io.fd, SHUT_RDWR);
        close(c->io.fd);
        c->io.fd = -1;
        fcgi_parser_free(&c->p);
        buf_free(&c->own);
        buf_free(&c->ctl);
        /* on_close runs on the next pass, never inside the caller's fconn_* call. */
        loop_timer_at(c->l, &c->timer, clock_mono_ms());
        break;
    }
}

static void close_with(struct fconn *c, enum fconn_end why)
{
    if (c->state == FCONN_CLOSED)
        return;
    c->end = why;
    set_state(c, FCONN_CLOSED);
}

static void want_write(struct fconn *c, bool on)
{
    char err[128];
    if (c->state == FCONN_CLOSED || c->want_write == on)
        return;
    c->want_write = on;
    if (loop_io_want(c->l, &c->io, LOOP_READ | LOOP_RDHUP | (on ? LOOP_WRITE : 0), err,
                     sizeof err) < 0) {
        errstr_set(c->err, sizeof c->err, "%s", err);
        close_with(c, FCONN_END_GONE);
    }
}

size_t fconn_pending(const struct fconn *c)
{
    if (c->state == FCONN_CLOSED)
        return 0;
    return c->src->len + c->hdr_left + c->pad_left + c->ctl.len;
}

/* ---- writing ------------------------------------------------------------------------------ */

static void blocked(struct fconn *c)
{
    c->st.blocked++;
    c->was_blocked = true;
    want_write(c, true);
    if (c->o.stall_ms > 0 && !loop_timer_armed(&c->timer) && c->state != FCONN_CLOSED)
        loop_timer_at(c->l, &c->timer, c->wait_since + c->o.stall_ms);
}

/* Sends iov; returns bytes written, 0 when the socket is full, -1 when the peer is gone. */
static ssize_t send_iov(struct fconn *c, struct iovec *iov, int n)
{
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    for (;;) {
        ssize_t w = sendmsg(c->io.fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w >= 0) {
            c->st.sends++;
            c->st.bytes_out += (unsigned long long)w;
            c->wait_since = clock_mono_ms();
            return w;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        errstr_set(c->err, sizeof c->err, "sendmsg: %s", strerror(errno));
        close_with(c, FCONN_END_GONE);
        return -1;
    }
}

static void consume_src(struct fconn *c, size_t n)
{
    if (c->taken)
        c->taken(c->taken_arg, n, clock_mono_ms());
    else
        buf_consume(c->src, n);
}

/* Writes what the socket takes now. */
static void flush(struct fconn *c)
{
    while (c->state != FCONN_CLOSED) {
        if (!c->hdr_left && !c->content_left && !c->pad_left) {
            if (c->ctl.len) {
                struct iovec v = {c->ctl.data, c->ctl.len};
                ssize_t w = send_iov(c, &v, 1);
                if (w < 0)
                    return;
                if (w == 0) {
                    blocked(c);
                    return;
                }
                buf_consume(&c->ctl, (size_t)w);
                continue;
            }
            if (c->src->len) {
                size_t max = c->o.max_record ? c->o.max_record : FCGI_MAX_LENGTH;
                size_t n = c->src->len < max ? c->src->len : max;
                c->pad_left = fcgi_header(c->hdr, FCGI_STDOUT, c->p.request_id, n);
                c->hdr_left = FCGI_HEADER_LEN;
                c->content_left = n;
                c->st.records_out++;
            } else if (c->state == FCONN_ENDING && !c->end_queued) {
                /* Both fit: ctl is empty here. */
                fcgi_encode_record(&c->ctl, FCGI_STDOUT, c->p.request_id, NULL, 0);
                fcgi_encode_end_request(&c->ctl, c->p.request_id, c->app_status,
                                        FCGI_REQUEST_COMPLETE);
                c->end_queued = true;
                continue;
            } else if (c->state == FCONN_ENDING) {
                close_with(c, FCONN_END_DONE);
                return;
            } else {
                c->drained = true;
                want_write(c, false);
                return;
            }
        }
        struct iovec v[3];
        int k = 0;
        if (c->hdr_left)
            v[k++] = (struct iovec){c->hdr + FCGI_HEADER_LEN - c->hdr_left, c->hdr_left};
        if (c->content_left)
            v[k++] = (struct iovec){c->src->data, c->content_left};
        if (c->pad_left)
            v[k++] = (struct iovec){(void *)zeros, c->pad_left};
        ssize_t w = send_iov(c, v, k);
        if (w < 0)
            return;
        if (w == 0) {
            blocked(c);
            return;
        }
        size_t n = (size_t)w, a = n < c->hdr_left ? n : c->hdr_left;
        c->hdr_left -= a;
        n -= a;
        size_t b = n < c->content_left ? n : c->content_left;
        if (b) {
            c->content_left -= b;
            n -= b;
            consume_src(c, b);
        }
        c->pad_left -= n < c->pad_left ? n : c->pad_left;
    }
}

/* Bytes were added: if nothing waited before, the stall clock starts now. */
static void added(struct fconn *c)
{
    if (c->drained) {
        c->drained = false;
        c->wait_since = clock_mono_ms();
    }
    if (!c->want_write) /* else EPOLLOUT comes when there is room */
        flush(c);
}

int fconn_write(struct fconn *c, const void *data, size_t n)
{
    if (c->state != FCONN_SERVING || buf_append(c->src, data, n) < 0)
        return -1;
    added(c);
    return 0;
}

void fconn_kick(struct fconn *c)
{
    if (c->state == FCONN_SERVING || c->state == FCONN_ENDING)
        added(c);
}

int fconn_source(struct fconn *c, struct buf *src, void (*taken)(void *, size_t, long long),
                 void *arg)
{
    if (c->state == FCONN_CLOSED || c->hdr_left || c->content_left || c->pad_left ||
        c->src->len)
        return -1;
    c->src = src ? src : &c->own;
    c->taken = src ? taken : NULL;
    c->taken_arg = arg;
    return 0;
}

void fconn_finish(struct fconn *c, uint32_t app_status)
{
    if (c->state != FCONN_SERVING)
        return;
    c->app_status = app_status;
    set_state(c, FCONN_ENDING);
    added(c);
}

void fconn_close(struct fconn *c)
{
    close_with(c, FCONN_END_CLOSED);
}

void fconn_cut(struct fconn *c)
{
    close_with(c, FCONN_END_CUT);
}

/* ---- reading ------------------------------------------------------------------------------ */

static void do_read(struct fconn *c)
{
    char b[FCONN_READ_CHUNK];
    for (int i = 0; i < FCONN_READS_PER_EVENT && c->state != FCONN_CLOSED; i++) {
        ssize_t n = recv(c->io.fd, b, sizeof b, MSG_DONTWAIT);
        if (n == 0) {
            close_with(c, FCONN_END_GONE);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            errstr_set(c->err, sizeof c->err, "recv: %s", strerror(errno));
            close_with(c, FCONN_END_GONE);
            return;
        }
        c->st.bytes_in += (unsigned long long)n;
        if (fcgi_parser_feed(&c->p, b, (size_t)n) < 0) {
            errstr_set(c->err, sizeof c->err, "%s", c->p.errstr);
            close_with(c, FCONN_END_PROTOCOL);
            return;
        }
        if (c->p.reply.len) {
            if (buf_append(&c->ctl, c->p.reply.data, c->p.reply.len) < 0) {
                errstr_set(c->err, sizeof c->err, "the peer reads none of our replies");
                close_with(c, FCONN_END_PROTOCOL);
                return;
            }
            buf_reset(&c->p.reply);
            added(c);
        }
        if (c->p.aborted) { /* FCGI_ABORT_REQUEST: the web server gave up on the request */
            close_with(c, FCONN_END_GONE);
            return;
        }
        if (c->state == FCONN_READING && c->p.state == FCGI_ST_DONE) {
            set_state(c, FCONN_SERVING);
            c->ops.on_request(c, c->arg);
        }
    }
}

static void on_io(struct loop *l, struct loop_io *io, unsigned events)
{
    (void)l;
    struct fconn *c = io->arg;
    if (events & (LOOP_READ | LOOP_RDHUP | LOOP_HUP))
        do_read(c);
    if (c->state != FCONN_CLOSED && (events & LOOP_WRITE))
        flush(c);
    if (c->state != FCONN_CLOSED && c->was_blocked && fconn_pending(c) == 0) {
        c->was_blocked = false;
        if (c->ops.on_drain)
            c->ops.on_drain(c, c->arg);
    }
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct fconn *c = t->arg;
    switch (c->state) {
    case FCONN_READING:
        close_with(c, FCONN_END_TIMEOUT);
        return;
    case FCONN_SERVING:
    case FCONN_ENDING:
        if (fconn_pending(c) == 0 || c->o.stall_ms <= 0)
            return;
        if (clock_mono_ms() - c->wait_since >= c->o.stall_ms)
            close_with(c, FCONN_END_CUT);
        else
            loop_timer_at(c->l, &c->timer, c->wait_since + c->o.stall_ms);
        return;
    case FCONN_CLOSED:
        c->ops.on_close(c, c->end, c->arg);
        free(c);
        return;
    }
}

/* ---- the API -------------------------------------------------------------------------------- */

struct fconn *fconn_new(struct loop *l, int fd, const struct fconn_opts *o,
                        const struct fconn_ops *ops, void *arg, char *errstr, size_t errlen)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        errstr_set(errstr, errlen, "fcntl(O_NONBLOCK): %s", strerror(errno));
        close(fd);
        return NULL;
    }
    struct fconn *c = xcalloc(1, sizeof *c);
    c->l = l;
    c->o = *o;
    c->ops = *ops;
    c->arg = arg;
    fcgi_parser_init(&c->p, &o->lim);
    buf_init(&c->own, o->out_max);
    buf_init(&c->ctl, FCONN_CTL_MAX);
    c->src = &c->own;
    c->drained = true;
    c->wait_since = clock_mono_ms();
    loop_timer_init(&c->timer, on_timer, c);
    loop_io_init(&c->io, fd, on_io, c);
    if (loop_io_want(l, &c->io, LOOP_READ | LOOP_RDHUP, errstr, errlen) < 0) {
        fcgi_parser_free(&c->p);
        close(fd);
        free(c);
        return NULL;
    }
    set_state(c, FCONN_READING);
    return c;
}

const struct fcgi_parser *fconn_request(const struct fconn *c)
{
    return &c->p;
}

void fconn_forget_request(struct fconn *c)
{
    fcgi_parser_forget(&c->p);
}

enum fconn_state fconn_state(const struct fconn *c)
{
    return c->state;
}

const char *fconn_error(const struct fconn *c)
{
    return c->err;
}

struct fconn_stats fconn_stats(const struct fconn *c)
{
    return c->st;
}
