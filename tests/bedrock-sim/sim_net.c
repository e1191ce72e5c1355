/* sim_net: listener and connections for the simulator (see sim_net.h). */
#include "sim_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "sim_util.h"

#define ACCEPT_BATCH 256
#define ACCEPT_PAUSE_MS 100
#define MAX_SEGMENTS 65536

/* A delayed piece of output (split-writes): len bytes of held, released at due. */
struct seg {
    size_t len;
    uint64_t due;
};

struct sim_conn {
    struct sim_io io;
    struct sim_net *net;
    struct sim_conn *prev, *next; /* live list */
    struct sim_conn *next_dead;   /* reap list */
    struct buf in;                /* read, not yet consumed by a request */
    struct buf out;               /* queued for the socket, from out_off */
    size_t out_off;
    struct buf held;              /* split-writes: not yet released to out, from held_off */
    size_t held_off;
    struct seg *segs;
    size_t seg_head, seg_n, seg_cap;
    uint64_t last_due;
    struct sim_timer release;
    void *resp;
    void (*resp_abort)(void *resp);
    int http_minor;
    bool busy;          /* a request is being answered; the next one waits */
    bool held_resp;     /* ... and its answer continues after the handler returned */
    bool keep_alive;
    bool want_close;    /* close once everything queued is flushed */
    bool continue_sent;
    bool read_blocked;  /* stopped reading because in was full */
    bool in_process;
    bool dead;
};

struct sim_net {
    struct sim_io io;
    struct sim_loop *loop;
    struct sim_net_config cfg;
    sim_request_fn fn;
    void *user;
    int port;
    struct sim_conn *conns;
    size_t n_conns;
    struct sim_conn *dead;
    struct sim_timer accept_resume;
    bool accept_paused;
    struct sim_rng rng;
    unsigned long slow_cutoffs;
};

static void conn_process(struct sim_conn *c);
static void conn_read(struct sim_conn *c);

static void conn_kill(struct sim_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    c->next_dead = c->net->dead;
    c->net->dead = c;
}

static size_t out_pending(const struct sim_conn *c)
{
    return c->out.len - c->out_off;
}

static bool segs_pending(const struct sim_conn *c)
{
    return c->seg_head < c->seg_n;
}

/* Closes a connection that asked for it once nothing is left to send. */
static void conn_maybe_close(struct sim_conn *c)
{
    if (c->want_close && !c->busy && out_pending(c) == 0 && !segs_pending(c))
        conn_kill(c);
}

static int conn_flush(struct sim_conn *c)
{
    while (!c->dead && out_pending(c) > 0) {
        ssize_t n = send(c->io.fd, c->out.data + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        log_debug("conn fd %d: send: %s", c->io.fd, n < 0 ? strerror(errno) : "0 bytes");
        conn_kill(c);
        return -1;
    }
    if (c->dead)
        return -1;
    buf_reset(&c->out);
    c->out_off = 0;
    conn_maybe_close(c);
    return 0;
}

/* Appends to out within the cap; a client that stopped reading is cut off. */
static int out_append(struct sim_conn *c, const void *p, size_t n)
{
    if (c->dead)
        return -1;
    if (out_pending(c) + n > c->net->cfg.out_cap) {
        log_warn("conn fd %d: client not reading (%zu bytes queued, cap %zu); closing",
                 c->io.fd, out_pending(c), c->net->cfg.out_cap);
        c->net->slow_cutoffs++;
        conn_kill(c);
        return -1;
    }
    if (c->out_off > 0 && c->out_off >= c->out.len / 2) {
        buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    if (buf_append(&c->out, p, n) < 0) {
        conn_kill(c);
        return -1;
    }
    return 0;
}

static void release_due(struct sim_timer *t)
{
    struct sim_conn *c = sim_container_of(t, struct sim_conn, release);
    if (c->dead)
        return;
    uint64_t now = sim_now_ms();
    while (segs_pending(c) && c->segs[c->seg_head].due <= now) {
        struct seg *s = &c->segs[c->seg_head++];
        if (out_append(c, c->held.data + c->held_off, s->len) < 0)
            return;
        c->held_off += s->len;
    }
    if (!segs_pending(c)) {
        c->seg_head = c->seg_n = 0;
        buf_reset(&c->held);
        c->held_off = 0;
    } else {
        uint64_t due = c->segs[c->seg_head].due;
        sim_timer_arm(c->net->loop, &c->release, due > now ? due : now + 1);
    }
    conn_flush(c);
}

/* Queues bytes to be released to out at due (never before earlier segments). */
static int held_enqueue(struct sim_conn *c, const void *p, size_t n, uint64_t due)
{
    if (c->dead)
        return -1;
    if (c->held.len - c->held_off + n > c->net->cfg.out_cap || c->seg_n - c->seg_head >= MAX_SEGMENTS) {
        log_warn("conn fd %d: too much delayed output; closing", c->io.fd);
        conn_kill(c);
        return -1;
    }
    if (c->held_off > 0 && c->held_off >= c->held.len / 2) {
        buf_consume(&c->held, c->held_off);
        c->held_off = 0;
    }
    if (c->seg_n == c->seg_cap) {
        if (c->seg_head > 0) {
            memmove(c->segs, c->segs + c->seg_head, (c->seg_n - c->seg_head) * sizeof *c->segs);
            c->seg_n -= c->seg_head;
            c->seg_head = 0;
        } else {
            c->seg_cap = c->seg_cap ? c->seg_cap * 2 : 16;
            c->segs = xrealloc(c->segs, c->seg_cap * sizeof *c->segs);
        }
    }
    if (due < c->last_due)
        due = c->last_due;
    if (buf_append(&c->held, p, n) < 0) {
        conn_kill(c);
        return -1;
    }
    c->segs[c->seg_n++] = (struct seg){.len = n, .due = due};
    c->last_due = due;
    if (!sim_timer_armed(&c->release))
        sim_timer_arm(c->net->loop, &c->release, c->segs[c->seg_head].due);
    return 0;
}

int sim_conn_write(struct sim_conn *c, const void *p, size_t n)
{
    if (c->dead)
        return -1;
    if (n == 0)
        return 0;
    if (segs_pending(c))
        return held_enqueue(c, p, n, c->last_due);
    if (out_append(c, p, n) < 0)
        return -1;
    return conn_flush(c);
}

int sim_conn_write_frame(struct sim_conn *c, const void *p, size_t n)
{
    if (!c->net->cfg.split_writes || n < 2 || c->dead)
        return sim_conn_write(c, p, n);
    size_t pieces = n >= 3 ? 2 + sim_rng_below(&c->net->rng, 2) : 2;
    size_t cut[3] = {0, 0, n};
    cut[1] = 1 + sim_rng_below(&c->net->rng, (uint32_t)(n - 1));
    if (pieces == 3) {
        size_t a = 1 + sim_rng_below(&c->net->rng, (uint32_t)(n - 1));
        if (a == cut[1]) {
            pieces = 2;
        } else {
            cut[2] = a > cut[1] ? a : cut[1];
            cut[1] = a > cut[1] ? cut[1] : a;
        }
    }
    const char *s = p;
    uint64_t now = sim_now_ms();
    uint64_t base = segs_pending(c) && c->last_due > now ? c->last_due : now;
    size_t start = 0;
    for (size_t k = 0; k < pieces; k++) {
        size_t end = k + 1 < pieces ? cut[k + 1] : n;
        int rc = k == 0 && !segs_pending(c) ? sim_conn_write(c, s, end)
                                             : held_enqueue(c, s + start, end - start, base + k);
        if (rc < 0)
            return -1;
        start = end;
    }
    return 0;
}

void sim_conn_hold(struct sim_conn *c, void *resp, void (*abort)(void *resp))
{
    c->held_resp = true;
    c->resp = resp;
    c->resp_abort = abort;
}

void sim_conn_release(struct sim_conn *c)
{
    c->held_resp = false;
    c->resp = NULL;
    c->resp_abort = NULL;
    if (c->dead)
        return;
    if (c->in_process) {
        c->busy = false; /* conn_process's loop goes on with the next request */
        return;
    }
    c->busy = false;
    if (!c->keep_alive)
        c->want_close = true;
    conn_maybe_close(c);
    if (!c->dead && !c->want_close) {
        conn_process(c);
        if (c->read_blocked)
            conn_read(c);
    }
}

void sim_conn_set_close(struct sim_conn *c)
{
    c->keep_alive = false;
}

bool sim_conn_keep_alive(const struct sim_conn *c)
{
    return c->keep_alive;
}

bool sim_conn_failed(const struct sim_conn *c)
{
    return c->dead;
}

int sim_conn_http_minor(const struct sim_conn *c)
{
    return c->http_minor;
}

struct sim_loop *sim_conn_loop(const struct sim_conn *c)
{
    return c->net->loop;
}

/* A request the parser rejects gets a short JSON error and the connection closes. */
static void answer_parse_error(struct sim_conn *c, int status, const char *why)
{
    struct buf b;
    buf_init(&b, 4096);
    struct buf body;
    buf_init(&body, 1024);
    buf_puts(&body, "{\"message\":");
    sim_json_str(&body, why, strlen(why));
    buf_putc(&body, '}');
    buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n%s", status, http_status_reason(status), body.len,
               buf_cstr(&body));
    log_info("- - %d (%s)", status, why);
    sim_conn_write(c, b.data, b.len);
    buf_free(&body);
    buf_free(&b);
}

static void conn_process(struct sim_conn *c)
{
    struct http_limits lim = {.max_header_bytes = c->net->cfg.max_header_bytes,
                              .max_body_bytes = c->net->cfg.max_body_bytes};
    c->in_process = true;
    while (!c->dead && !c->busy && !c->want_close && c->in.len > 0) {
        struct http_request req;
        char err[160] = "";
        long rc = http_request_parse(buf_cstr(&c->in), c->in.len, &lim, &req, err, sizeof err);
        if (rc == 0) {
            if (req.header_len > 0 && req.expect_continue && !c->continue_sent) {
                c->continue_sent = true;
                sim_conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            }
            break;
        }
        if (rc < 0) {
            c->keep_alive = false;
            c->want_close = true;
            answer_parse_error(c, (int)-rc, err[0] ? err : "bad request");
            break;
        }
        c->continue_sent = false;
        c->keep_alive = req.keep_alive;
        c->http_minor = req.minor_version;
        c->busy = true;
        c->net->fn(c->net->user, c, &req);
        buf_consume(&c->in, (size_t)rc);
        if (!c->held_resp) {
            c->busy = false;
            if (!c->keep_alive)
                c->want_close = true;
        }
    }
    c->in_process = false;
    if (!c->dead && !c->busy && !c->keep_alive)
        c->want_close = true;
    if (!c->dead)
        conn_maybe_close(c);
}

static void conn_read(struct sim_conn *c)
{
    char tmp[16384];
    for (;;) {
        bool eof = false;
        while (!c->dead) {
            size_t room = c->in.max - c->in.len;
            if (room == 0) {
                c->read_blocked = true;
                break;
            }
            ssize_t n = recv(c->io.fd, tmp, room < sizeof tmp ? room : sizeof tmp, 0);
            if (n > 0) {
                buf_append(&c->in, tmp, (size_t)n);
                continue;
            }
            if (n == 0) {
                eof = true;
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_debug("conn fd %d: recv: %s", c->io.fd, strerror(errno));
                conn_kill(c);
                return;
            }
            c->read_blocked = false;
            break;
        }
        if (c->dead)
            return;
        size_t before = c->in.len;
        conn_process(c);
        if (eof) {
            /* The client is gone (or half-closed, which no HTTP client here does). */
            conn_kill(c);
            return;
        }
        if (!c->read_blocked || c->in.len == before || c->dead)
            return;
    }
}

static void conn_on_event(struct sim_io *io, uint32_t events)
{
    struct sim_conn *c = sim_container_of(io, struct sim_conn, io);
    if (c->dead)
        return;
    if (events & EPOLLERR) {
        conn_kill(c);
        return;
    }
    if (events & EPOLLOUT)
        conn_flush(c);
    if (!c->dead && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
        conn_read(c);
}

static void conn_free(struct sim_conn *c)
{
    struct sim_net *n = c->net;
    if (c->resp_abort) {
        void (*abort_fn)(void *) = c->resp_abort;
        c->resp_abort = NULL;
        abort_fn(c->resp);
    }
    sim_timer_cancel(n->loop, &c->release);
    sim_loop_del(n->loop, &c->io);
    close(c->io.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n->n_conns--;
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->held);
    free(c->segs);
    free(c);
}

void sim_net_reap(struct sim_net *n)
{
    while (n->dead) {
        struct sim_conn *c = n->dead;
        n->dead = c->next_dead;
        conn_free(c);
    }
}

static void accept_resume(struct sim_timer *t)
{
    struct sim_net *n = sim_container_of(t, struct sim_net, accept_resume);
    if (sim_loop_mod(n->loop, &n->io, EPOLLIN) == 0)
        n->accept_paused = false;
}

static void net_on_accept(struct sim_io *io, uint32_t events)
{
    (void)events;
    struct sim_net *n = sim_container_of(io, struct sim_net, io);
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(n->io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop listening for a while instead of spinning. */
                log_warn("accept4: %s (%zu connections); pausing accepts for %d ms",
                         strerror(errno), n->n_conns, ACCEPT_PAUSE_MS);
                if (sim_loop_mod(n->loop, &n->io, 0) == 0) {
                    n->accept_paused = true;
                    sim_timer_arm(n->loop, &n->accept_resume, sim_now_ms() + ACCEPT_PAUSE_MS);
                }
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_error("accept4: %s", strerror(errno));
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sim_conn *c = xcalloc(1, sizeof *c);
        c->io.fd = fd;
        c->io.on_event = conn_on_event;
        c->net = n;
        c->keep_alive = true;
        buf_init(&c->in, n->cfg.max_header_bytes + n->cfg.max_body_bytes);
        buf_init(&c->out, 2 * n->cfg.out_cap + 1);
        buf_init(&c->held, 2 * n->cfg.out_cap + 1);
        sim_timer_init(&c->release, release_due);
        if (sim_loop_add(n->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
            log_error("epoll_ctl(ADD): %s", strerror(errno));
            close(fd);
            buf_free(&c->in);
            free(c);
            continue;
        }
        c->next = n->conns;
        if (n->conns)
            n->conns->prev = c;
        n->conns = c;
        n->n_conns++;
    }
}

struct sim_net *sim_net_new(struct sim_loop *loop, const struct sim_net_config *cfg,
                            sim_request_fn fn, void *user, char *errstr, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(errstr, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    const char *addr = cfg->bind ? cfg->bind : "127.0.0.1";
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        snprintf(errstr, errlen, "bind address %s: not an IPv4 address", addr);
        close(fd);
        return NULL;
    }
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(errstr, errlen, "bind(%s:%d): %s", addr, cfg->port, strerror(errno));
        close(fd);
        return NULL;
    }
    if (listen(fd, 4096) < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        snprintf(errstr, errlen, "listen: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    struct sim_net *n = xcalloc(1, sizeof *n);
    n->io.fd = fd;
    n->io.on_event = net_on_accept;
    n->loop = loop;
    n->cfg = *cfg;
    n->fn = fn;
    n->user = user;
    n->port = ntohs(sa.sin_port);
    sim_timer_init(&n->accept_resume, accept_resume);
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = sim_now_ms() ^ (uint64_t)getpid() << 32;
    sim_rng_seed(&n->rng, seed);
    if (sim_loop_add(loop, &n->io, EPOLLIN) < 0) {
        snprintf(errstr, errlen, "epoll_ctl(ADD listener): %s", strerror(errno));
        close(fd);
        free(n);
        return NULL;
    }
    return n;
}

int sim_net_port(const struct sim_net *n)
{
    return n->port;
}

size_t sim_net_conn_count(const struct sim_net *n)
{
    return n->n_conns;
}

unsigned long sim_net_slow_cutoffs(const struct sim_net *n)
{
    return n->slow_cutoffs;
}

void sim_net_free(struct sim_net *n)
{
    if (!n)
        return;
    for (struct sim_conn *c = n->conns; c; c = c->next)
        conn_kill(c);
    sim_net_reap(n);
    sim_timer_cancel(n->loop, &n->accept_resume);
    sim_loop_del(n->loop, &n->io);
    close(n->io.fd);
    free(n);
}
