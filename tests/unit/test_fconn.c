/* test_fconn: fcgi-app/fconn.c, a FastCGI connection on the loop, with the test as nginx on
 * the other end of a socketpair.
 *
 * A request written in pieces reaches on_request whole; a response larger than the socket
 * takes goes out as STDOUT records while the loop waits for EPOLLOUT, then the empty STDOUT
 * and END_REQUEST, then the close, and on_close comes from the loop, never from inside
 * fconn_finish. An outside source (what an SSE stream holds) is consumed only through its
 * taken callback. A client that takes nothing is cut after stall_ms while a second
 * connection on the same loop keeps flowing and no pass of the loop blocks. A hang-up while
 * the response waits, a malformed stream, a request that does not arrive, FCGI_GET_VALUES and
 * a second BEGIN_REQUEST on the wire, the own buffer's cap, fconn_close and on_drain. */
#include "../../fcgi-app/fconn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "test.h"

/* ---- the nginx side ----------------------------------------------------------------------- */

struct peer {
    int fd;
    struct buf raw;          /* bytes not yet decoded */
    struct buf out;          /* STDOUT content */
    int stdout_records;
    size_t max_content;
    bool stdout_end, ended, eof;
    unsigned end_id;
    uint32_t app_status;
    unsigned proto_status;
    unsigned other_types[16];
    unsigned other_ids[16];
    unsigned char other_body[16][64];
    size_t other_len[16];
    int n_other;
};

static void peer_init(struct peer *p, int fd)
{
    memset(p, 0, sizeof *p);
    p->fd = fd;
    buf_init(&p->raw, 1u << 24);
    buf_init(&p->out, 1u << 24);
}

static void peer_free(struct peer *p)
{
    buf_free(&p->raw);
    buf_free(&p->out);
}

/* Reads what is there (up to max bytes) and decodes whole records. */
static void peer_read(struct peer *p, size_t max)
{
    char tmp[65536];
    while (max > 0 && !p->eof) {
        ssize_t n = recv(p->fd, tmp, max < sizeof tmp ? max : sizeof tmp, MSG_DONTWAIT);
        if (n == 0)
            p->eof = true;
        if (n <= 0)
            break;
        buf_append(&p->raw, tmp, (size_t)n);
        max -= (size_t)n;
    }
    const unsigned char *d = (const unsigned char *)p->raw.data;
    size_t off = 0;
    while (p->raw.len - off >= 8) {
        const unsigned char *h = d + off;
        size_t clen = (size_t)h[4] << 8 | h[5], total = 8 + clen + h[6];
        if (p->raw.len - off < total)
            break;
        CHECK(h[0] == 1 && h[7] == 0 && (clen + h[6]) % 8 == 0);
        unsigned id = (unsigned)h[2] << 8 | h[3];
        if (h[1] == FCGI_STDOUT) {
            if (clen == 0)
                p->stdout_end = true;
            else {
                CHECK(!p->stdout_end);
                buf_append(&p->out, h + 8, clen);
                p->stdout_records++;
                if (clen > p->max_content)
                    p->max_content = clen;
            }
        } else if (h[1] == FCGI_END_REQUEST && id == 1) {
            CHECK(clen == 8);
            p->ended = true;
            p->end_id = id;
            p->app_status = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
            p->proto_status = h[12];
        } else if (p->n_other < 16) {
            p->other_types[p->n_other] = h[1];
            p->other_ids[p->n_other] = id;
            p->other_len[p->n_other] = clen < 64 ? clen : 64;
            memcpy(p->other_body[p->n_other], h + 8, p->other_len[p->n_other]);
            p->n_other++;
        }
        off += total;
    }
    buf_consume(&p->raw, off);
}

static void put_request(struct buf *b, const char *uri, const char *body, size_t len)
{
    unsigned char begin[8] = {0, FCGI_RESPONDER, 0, 0, 0, 0, 0, 0};
    fcgi_encode_record(b, FCGI_BEGIN_REQUEST, 1, begin, 8);
    struct buf s;
    buf_init(&s, 65536);
    fcgi_encode_pair(&s, "REQUEST_METHOD", 14, "POST", 4);
    fcgi_encode_pair(&s, "DOCUMENT_URI", 12, uri, strlen(uri));
    fcgi_encode_stream(b, FCGI_PARAMS, 1, s.data, s.len, 0);
    fcgi_encode_record(b, FCGI_PARAMS, 1, NULL, 0);
    fcgi_encode_stream(b, FCGI_STDIN, 1, body, len, 0);
    fcgi_encode_record(b, FCGI_STDIN, 1, NULL, 0);
    buf_free(&s);
}

/* ---- the owner ---------------------------------------------------------------------------- */

enum plan { PLAN_BIG, PLAN_WAIT, PLAN_SOURCE, PLAN_FLOOD };

struct owner {
    struct loop *l;
    struct fconn *c;
    enum plan plan;
    size_t big;             /* PLAN_BIG / PLAN_FLOOD: bytes to write */
    char *data;
    int requests, closes, drains;
    enum fconn_end end;
    long long closed_at;
    char uri[64];
    size_t body_len;
    bool in_api;            /* set around our fconn_* calls: on_close must not come then */
    bool sync_close;
    /* PLAN_SOURCE */
    struct buf src;
    size_t taken_total;
    struct loop_timer tick;
    int ticks;
};

static void on_taken(void *arg, size_t n, long long now)
{
    (void)now;
    struct owner *o = arg;
    buf_consume(&o->src, n);
    o->taken_total += n;
}

static void on_request(struct fconn *c, void *arg)
{
    struct owner *o = arg;
    o->requests++;
    const struct fcgi_parser *p = fconn_request(c);
    const char *uri = fcgi_parser_param(p, "DOCUMENT_URI", NULL);
    snprintf(o->uri, sizeof o->uri, "%s", uri ? uri : "");
    o->body_len = p->body.len;
    fconn_forget_request(c);
    o->in_api = true;
    switch (o->plan) {
    case PLAN_BIG:
        CHECK(fconn_write(c, o->data, o->big) == 0);
        fconn_finish(c, 3);
        break;
    case PLAN_FLOOD:
        CHECK(fconn_write(c, o->data, o->big) == 0);
        break;
    case PLAN_SOURCE:
        CHECK(fconn_source(c, &o->src, on_taken, o) == 0);
        break;
    case PLAN_WAIT:
        break;
    }
    o->in_api = false;
}

static void on_drain(struct fconn *c, void *arg)
{
    (void)c;
    struct owner *o = arg;
    o->drains++;
}

static void on_close(struct fconn *c, enum fconn_end why, void *arg)
{
    (void)c;
    struct owner *o = arg;
    if (o->in_api)
        o->sync_close = true;
    o->closes++;
    o->end = why;
    o->closed_at = clock_mono_ms();
    o->c = NULL;
    loop_timer_stop(o->l, &o->tick);
}

static const struct fconn_ops ops = {on_request, on_drain, on_close};

static struct fconn_opts opts(void)
{
    struct fconn_opts o = {0};
    o.lim = (struct fcgi_limits){10000, 10000, 64 * 1024};
    o.out_max = 4u << 20;
    o.request_timeout_ms = 2000;
    o.stall_ms = 0;
    return o;
}

static void owner_init(struct owner *o, struct loop *l, enum plan plan, size_t big)
{
    memset(o, 0, sizeof *o);
    o->l = l;
    o->plan = plan;
    o->big = big;
    o->data = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        o->data[i] = (char)('A' + i % 23);
    buf_init(&o->src, 1u << 20);
}

static void owner_free(struct owner *o)
{
    free(o->data);
    buf_free(&o->src);
}

/* A connected pair: [0] fconn's, [1] the peer's; small buffers so the socket fills. */
static struct fconn *start(struct loop *l, struct owner *o, const struct fconn_opts *fo,
                           struct peer *p, int sndbuf)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    if (sndbuf) {
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
    }
    char err[128];
    o->c = fconn_new(l, sv[0], fo, &ops, o, err, sizeof err);
    CHECK(o->c != NULL);
    peer_init(p, sv[1]);
    return o->c;
}

static void pass(struct loop *l, long long ms)
{
    char err[128];
    CHECK(loop_once(l, ms, err, sizeof err) == 0);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_request_and_big_response(void)
{
    struct loop *l = loop_new(NULL, 0);
    struct owner o;
    owner_init(&o, l, PLAN_BIG, 300000);
    struct peer p;
    struct fconn_opts fo = opts();
    struct fconn *c = start(l, &o, &fo, &p, 16384);
    struct buf req;
    buf_init(&req, 1u << 20);
    put_request(&req, "/api/chat", "{\"message\":\"hi\"}", 16);
    /* In pieces: a byte at a time for a while, then the rest. */
    for (size_t i = 0; i < 40; i++) {
        CHECK(write(p.fd, req.data + i, 1) == 1);
        pass(l, 0);
        CHECK(o.requests == 0);
    }
    CHECK(write(p.fd, req.data + 40, req.len - 40) == (ssize_t)(req.len - 40));
    long long until = clock_mono_ms() + 5000;
    while (!p.eof && clock_mono_ms() < until) {
        pass(l, 10);
        peer_read(&p, 1u << 20);
        if (o.requests == 1 && o.closes == 0)
            CHECK(fconn_state(c) == FCONN_ENDING);
    }
    CHECK(o.requests == 1 && strcmp(o.uri, "/api/chat") == 0 && o.body_len == 16);
    CHECK(p.out.len == o.big && memcmp(p.out.data, o.data, o.big) == 0);
    CHECK(p.stdout_end && p.ended && p.app_status == 3 && p.proto_status == FCGI_REQUEST_COMPLETE);
    CHECK(p.max_content <= FCGI_MAX_LENGTH && p.stdout_records >= 5);
    CHECK(p.eof);
    pass(l, 0);
    CHECK(o.closes == 1 && o.end == FCONN_END_DONE && !o.sync_close);
    buf_free(&req);
    peer_free(&p);
    close(p.fd);
    owner_free(&o);
    loop_free(l);
}

static void test_blocked_then_drain(void)
{
    struct loop *l = loop_new(NULL, 0);
    struct owner o;
    owner_init(&o, l, PLAN_FLOOD, 200000);
    struct peer p;
    struct fconn_opts fo = opts();
    fo.max_record = 1000;
    start(l, &o, &fo, &p, 8192);
    struct buf req;
    buf_init(&req, 65536);
    put_request(&req, "/x", "", 0);
    CHECK(write(p.fd, req.data, req.len) == (ssize_t)req.len);
    pass(l, 100);
    CHECK(o.requests == 1 && o.c && fconn_pending(o.c) > 0);
    struct fconn_stats s = fconn_stats(o.c);
    CHECK(s.blocked >= 1);
    /* The peer reads slowly; the rest goes out on EPOLLOUT; on_drain once all is out. */
    long long until = clock_mono_ms() + 5000;
    while (p.out.len < o.big && clock_mono_ms() < until) {
        peer_read(&p, 4096);
        pass(l, 5);
    }
    CHECK(p.out.len == o.big && p.max_content <= 1000);
    CHECK(o.drains == 1 && fconn_pending(o.c) == 0);
    /* Appending past the own buffer's cap is refused, nothing appended. */
    char *huge = malloc(fo.out_max + 1);
    memset(huge, 'z', fo.out_max + 1);
    CHECK(fconn_write(o.c, huge, fo.out_max + 1) == -1 && fconn_pending(o.c) == 0);
    free(huge);
    /* fconn_close: no END_REQUEST, an EOF, on_close(CLOSED) from the loop. */
    o.in_api = true;
    fconn_close(o.c);
    o.in_api = false;
    CHECK(o.closes == 0);
    pass(l, 0);
    peer_read(&p, 1u << 20);
    CHECK(o.closes == 1 && o.end == FCONN_END_CLOSED && !o.sync_close && p.eof && !p.ended);
    buf_free(&req);
    peer_free(&p);
    close(p.fd);
    owner_free(&o);
    loop_free(l);
}

static void on_tick(struct loop *l, struct loop_timer *t)
{
    struct owner *o = t->arg;
    if (!o->c)
        return;
    o->ticks++;
    char ev[64];
    int n = snprintf(ev, sizeof ev, "data: tick %d\n\n", o->ticks);
    CHECK(buf_append(&o->src, ev, (size_t)n) == 0);
    fconn_kick(o->c);
    if (o->ticks == 20)
        fconn_finish(o->c, 0);
    else
        loop_timer_after(l, t, 10);
}

static void test_source_and_slow_client_cut(void)
{
    struct loop *l = loop_new(NULL, 0);
    /* The slow one: 1 MiB for a peer that reads nothing. */
    struct owner slow;
    owner_init(&slow, l, PLAN_FLOOD, 1u << 20);
    struct peer ps;
    struct fconn_opts fo = opts();
    fo.stall_ms = 200;
    start(l, &slow, &fo, &ps, 8192);
    /* The live one: an event every 10 ms from an outside source, read as it comes. */
    struct owner live;
    owner_init(&live, l, PLAN_SOURCE, 0);
    struct peer pl;
    start(l, &live, &fo, &pl, 8192);
    loop_timer_init(&live.tick, on_tick, &live);
    struct buf req;
    buf_init(&req, 65536);
    put_request(&req, "/slow", "", 0);
    CHECK(write(ps.fd, req.data, req.len) == (ssize_t)req.len);
    CHECK(write(pl.fd, req.data, req.len) == (ssize_t)req.len);
    long long t_req = clock_mono_ms(); /* no byte of the flood can be taken before this */
    pass(l, 50);
    pass(l, 50);
    CHECK(slow.requests == 1 && live.requests == 1);
    loop_timer_after(l, &live.tick, 10);
    long long t0 = clock_mono_ms(), worst = 0;
    while ((slow.closes == 0 || live.closes == 0) && clock_mono_ms() < t0 + 5000) {
        long long a = clock_mono_ms();
        pass(l, 20);
        long long d = clock_mono_ms() - a;
        if (d > worst)
            worst = d;
        peer_read(&pl, 1u << 20);
    }
    CHECK(slow.closes == 1 && slow.end == FCONN_END_CUT);
    CHECK(slow.closed_at - t_req >= 200 && slow.closed_at - t0 < 1500);
    CHECK(worst < 100); /* no pass blocked on the full socket */
    /* The live one flowed the whole time and ended cleanly, its source consumed only
     * through taken. */
    CHECK(live.closes == 1 && live.end == FCONN_END_DONE && live.ticks == 20);
    for (int i = 0; i < 8 && !pl.eof; i++) {
        pass(l, 10);
        peer_read(&pl, 1u << 20);
    }
    CHECK(pl.ended && pl.eof && live.taken_total == pl.out.len && live.src.len == 0);
    CHECK(strstr(buf_cstr(&pl.out), "data: tick 20\n\n") != NULL);
    /* The cut peer finds the connection shut: what it reads ends without END_REQUEST. */
    for (int i = 0; i < 100 && !ps.eof; i++)
        peer_read(&ps, 1u << 20);
    CHECK(ps.eof && !ps.ended && ps.out.len < slow.big);
    buf_free(&req);
    peer_free(&ps);
    peer_free(&pl);
    close(ps.fd);
    close(pl.fd);
    owner_free(&slow);
    owner_free(&live);
    loop_free(l);
}

static void test_gone_while_waiting(void)
{
    struct loop *l = loop_new(NULL, 0);
    struct owner o;
    owner_init(&o, l, PLAN_WAIT, 0);
    struct peer p;
    struct fconn_opts fo = opts();
    start(l, &o, &fo, &p, 0);
    struct buf req;
    buf_init(&req, 65536);
    put_request(&req, "/wait", "", 0);
    CHECK(write(p.fd, req.data, req.len) == (ssize_t)req.len);
    pass(l, 100);
    CHECK(o.requests == 1 && o.closes == 0 && fconn_state(o.c) == FCONN_SERVING);
    close(p.fd); /* the browser left: nginx closes the FastCGI connection */
    long long t0 = clock_mono_ms();
    for (int i = 0; i < 5 && o.closes == 0; i++)
        pass(l, 100);
    CHECK(o.closes == 1 && o.end == FCONN_END_GONE && clock_mono_ms() - t0 < 300);
    buf_free(&req);
    peer_free(&p);
    owner_free(&o);
    loop_free(l);
}

static void test_protocol_error_and_timeout(void)
{
    struct loop *l = loop_new(NULL, 0);
    struct owner o;
    owner_init(&o, l, PLAN_WAIT, 0);
    struct peer p;
    struct fconn_opts fo = opts();
    start(l, &o, &fo, &p, 0);
    static const unsigned char v9[8] = {9, 1, 0, 1, 0, 8, 0, 0};
    CHECK(write(p.fd, v9, sizeof v9) == 8);
    for (int i = 0; i < 4 && o.closes == 0; i++)
        pass(l, 50);
    CHECK(o.closes == 1 && o.end == FCONN_END_PROTOCOL && o.requests == 0);
    peer_free(&p);
    close(p.fd);
    /* A request that stops half way: the request deadline. */
    struct owner t;
    owner_init(&t, l, PLAN_WAIT, 0);
    struct peer q;
    fo.request_timeout_ms = 80;
    long long t0 = clock_mono_ms();
    start(l, &t, &fo, &q, 0);
    struct buf req;
    buf_init(&req, 65536);
    put_request(&req, "/half", "", 0);
    CHECK(write(q.fd, req.data, 20) == 20);
    for (int i = 0; i < 20 && t.closes == 0; i++)
        pass(l, 50);
    CHECK(t.closes == 1 && t.end == FCONN_END_TIMEOUT && t.requests == 0);
    CHECK(t.closed_at - t0 >= 80 && t.closed_at - t0 < 800);
    buf_free(&req);
    peer_free(&q);
    close(q.fd);
    owner_free(&o);
    owner_free(&t);
    loop_free(l);
}

static void test_management_and_second_request(void)
{
    struct loop *l = loop_new(NULL, 0);
    struct owner o;
    owner_init(&o, l, PLAN_WAIT, 0);
    struct peer p;
    struct fconn_opts fo = opts();
    start(l, &o, &fo, &p, 0);
    struct buf in;
    buf_init(&in, 65536);
    struct buf gv;
    buf_init(&gv, 1024);
    fcgi_encode_pair(&gv, FCGI_MAX_CONNS, strlen(FCGI_MAX_CONNS), "", 0);
    fcgi_encode_record(&in, FCGI_GET_VALUES, 0, gv.data, gv.len);
    put_request(&in, "/mgmt", "", 0);
    CHECK(write(p.fd, in.data, in.len) == (ssize_t)in.len);
    pass(l, 100);
    peer_read(&p, 1u << 20);
    CHECK(o.requests == 1 && p.n_other == 1 && p.other_types[0] == FCGI_GET_VALUES_RESULT);
    static const char want[] = "\x0e\x05" FCGI_MAX_CONNS "10000";
    CHECK(p.other_len[0] == sizeof want - 1 && memcmp(p.other_body[0], want, sizeof want - 1) == 0);
    /* nginx does not multiplex, but if a server did: refused on the wire, the request goes on. */
    buf_reset(&in);
    unsigned char begin[8] = {0, FCGI_RESPONDER, 0, 0, 0, 0, 0, 0};
    fcgi_encode_record(&in, FCGI_BEGIN_REQUEST, 2, begin, 8);
    CHECK(write(p.fd, in.data, in.len) == (ssize_t)in.len);
    pass(l, 100);
    peer_read(&p, 1u << 20);
    CHECK(p.n_other == 2 && p.other_types[1] == FCGI_END_REQUEST && p.other_ids[1] == 2);
    CHECK(p.other_body[1][4] == FCGI_CANT_MPX_CONN);
    CHECK(o.closes == 0 && fconn_state(o.c) == FCONN_SERVING);
    o.in_api = true;
    CHECK(fconn_write(o.c, "Status: 204\r\n\r\n", 15) == 0);
    fconn_finish(o.c, 0);
    CHECK(fconn_write(o.c, "late", 4) == -1); /* ending: nothing more */
    o.in_api = false;
    for (int i = 0; i < 5 && !p.eof; i++) {
        pass(l, 20);
        peer_read(&p, 1u << 20);
    }
    CHECK(p.ended && p.eof && strcmp(buf_cstr(&p.out), "Status: 204\r\n\r\n") == 0);
    CHECK(o.closes == 1 && o.end == FCONN_END_DONE && !o.sync_close);
    buf_free(&gv);
    buf_free(&in);
    peer_free(&p);
    close(p.fd);
    owner_free(&o);
    loop_free(l);
}

int main(void)
{
    RUN(test_request_and_big_response);
    RUN(test_blocked_then_drain);
    RUN(test_source_and_slow_client_cut);
    RUN(test_gone_while_waiting);
    RUN(test_protocol_error_and_timeout);
    RUN(test_management_and_second_request);
    return test_summary();
}
