/* dispatch: the shared pub/sub connection (see dispatch.h).
 *
 * Confirmation uses tickets: every registration of a channel takes the next number of that
 * channel's SUBSCRIBE count (ch->sent), and queues one SUBSCRIBE, under the map mutex; the
 * thread sends queued commands in order, so the k-th "subscribe" reply for a channel answers
 * the k-th SUBSCRIBE, and a registration is confirmed once acked >= its ticket. This stays
 * right when a channel is unsubscribed and subscribed again before Redis answered. */
#include "dispatch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "core/wake.h"

#define DISPATCH_BUCKETS 4096
#define DISPATCH_CONNECT_MS 1000
#define DISPATCH_BACKOFF_MIN_MS 100
#define DISPATCH_BACKOFF_MAX_MS 5000
#define DISPATCH_PING_IDLE_MS 15000 /* a quiet connection is checked with a PING ... */
#define DISPATCH_PING_WAIT_MS 5000  /* ... and dropped when no answer comes */
#define DISPATCH_PER_CMD 256        /* channels per SUBSCRIBE / UNSUBSCRIBE command */
#define DISPATCH_OPS_MAX (4u << 20) /* queued commands; past it the thread resyncs */

struct dchan;

struct dsub {
    struct dchan *ch;
    struct inbox *in;
    unsigned long ticket;
    bool confirmed;
    bool resub;          /* was confirmed before a reconnect: a gap when confirmed again */
    struct dsub *next;   /* in ch->subs */
};

struct dchan {
    struct dchan *next;  /* bucket chain */
    unsigned long sent;  /* SUBSCRIBEs queued for it on the current connection */
    unsigned long acked; /* "subscribe" replies received for it */
    struct dsub *subs;
    size_t len;
    char name[];
};

struct dispatch {
    struct rconn_addr addr;
    pthread_t tid;
    int ctl_efd;
    pthread_mutex_t mu;   /* the map, ops, stop, connected */
    struct dchan *buckets[DISPATCH_BUCKETS];
    struct buf ops;       /* 'S' or 'U', 4-byte length, channel name; in order */
    bool ops_overflow;
    bool stop;
    bool connected;
    unsigned long connections; /* made so far (dispatch_connections) */
    /* The thread's own: */
    redisContext *c;
    bool want_write;
    long long last_rx_ms, ping_sent_ms, next_try_ms;
    struct backoff backoff;
    bool warned, ever_connected;
    const char *argv[DISPATCH_PER_CMD + 1];
    size_t argvlen[DISPATCH_PER_CMD + 1];
};

/* ---- the channel map (under d->mu) ------------------------------------------------------ */

static size_t chan_bucket(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % DISPATCH_BUCKETS;
}

static struct dchan *chan_find(struct dispatch *d, const char *name, size_t len, bool create)
{
    size_t b = chan_bucket(name, len);
    for (struct dchan *ch = d->buckets[b]; ch; ch = ch->next)
        if (ch->len == len && memcmp(ch->name, name, len) == 0)
            return ch;
    if (!create)
        return NULL;
    struct dchan *ch = xcalloc(1, sizeof *ch + len + 1);
    memcpy(ch->name, name, len);
    ch->len = len;
    ch->next = d->buckets[b];
    d->buckets[b] = ch;
    return ch;
}

static void chan_remove(struct dispatch *d, struct dchan *ch)
{
    struct dchan **pp = &d->buckets[chan_bucket(ch->name, ch->len)];
    while (*pp && *pp != ch)
        pp = &(*pp)->next;
    if (*pp)
        *pp = ch->next;
    free(ch);
}

static void ops_push(struct dispatch *d, char kind, const char *name, size_t len)
{
    uint32_t n = (uint32_t)len;
    if (d->ops.len + 5 + len > d->ops.max) {
        d->ops_overflow = true; /* the thread reconnects, which resubscribes from the map */
        return;
    }
    buf_putc(&d->ops, kind);
    buf_append(&d->ops, &n, 4);
    buf_append(&d->ops, name, len);
}

/* ---- the thread ------------------------------------------------------------------------- */

static void dispatch_drop(struct dispatch *d)
{
    redisFree(d->c);
    d->c = NULL;
    d->want_write = false;
    d->next_try_ms = clock_mono_ms(); /* the first retry at once, then backoff */
    pthread_mutex_lock(&d->mu);
    d->connected = false;
    pthread_mutex_unlock(&d->mu);
}

/* Appends one command for argv[1..n] (argv[0] set by the caller). */
static void dispatch_command(struct dispatch *d, size_t n)
{
    if (n > 0) {
        redisAppendCommandArgv(d->c, (int)n + 1, d->argv, d->argvlen);
        d->want_write = true;
    }
}

static int dispatch_connect(struct dispatch *d)
{
    char err[256];
    redisContext *c = rconn_connect(&d->addr, DISPATCH_CONNECT_MS, err, sizeof err);
    if (!c) {
        if (!d->warned)
            log_warn("pub/sub: cannot connect to Redis (retrying with backoff): %s", err);
        d->warned = true;
        return -1;
    }
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        log_error("pub/sub: fcntl(O_NONBLOCK): %s", strerror(errno));
        redisFree(c);
        return -1;
    }
    c->flags &= ~REDIS_BLOCK; /* hiredis then treats EAGAIN as "try later" */
    d->c = c;
    d->last_rx_ms = clock_mono_ms();
    d->ping_sent_ms = 0;
    if (d->ever_connected)
        log_info("pub/sub: connected to Redis again; subscribing every open stream again");
    d->warned = false;
    d->ever_connected = true;
    /* Everything the map holds is subscribed afresh; queued ops are covered by that. */
    pthread_mutex_lock(&d->mu);
    buf_reset(&d->ops);
    d->ops_overflow = false;
    size_t n = 0;
    d->argv[0] = "SUBSCRIBE";
    d->argvlen[0] = 9;
    for (size_t b = 0; b < DISPATCH_BUCKETS; b++) {
        struct dchan *ch = d->buckets[b], *next;
        for (; ch; ch = next) {
            next = ch->next;
            if (!ch->subs) {
                chan_remove(d, ch);
                continue;
            }
            ch->sent = 1;
            ch->acked = 0;
            for (struct dsub *s = ch->subs; s; s = s->next) {
                s->ticket = 1;
                if (s->confirmed && !s->resub) {
                    s->resub = true;
                    pthread_mutex_lock(&s->in->mu);
                    s->in->resyncing++;
                    pthread_mutex_unlock(&s->in->mu);
                }
            }
            d->argv[n + 1] = ch->name;
            d->argvlen[n + 1] = ch->len;
            if (++n == DISPATCH_PER_CMD) {
                dispatch_command(d, n);
                n = 0;
            }
        }
    }
    dispatch_command(d, n);
    d->connected = true;
    d->connections++;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

/* Turns the queued ops into commands, consecutive ops of one kind sharing a command. */
static void dispatch_flush_ops(struct dispatch *d)
{
    pthread_mutex_lock(&d->mu);
    bool overflow = d->ops_overflow;
    struct buf ops = d->ops;
    buf_init(&d->ops, DISPATCH_OPS_MAX);
    d->ops_overflow = false;
    pthread_mutex_unlock(&d->mu);
    if (overflow) {
        log_warn("pub/sub: %u bytes of commands queued; resubscribing from scratch",
                 DISPATCH_OPS_MAX);
        dispatch_drop(d);
    } else {
        size_t off = 0, n = 0;
        char kind = 0;
        while (off + 5 <= ops.len) {
            char k = ops.data[off];
            uint32_t len;
            memcpy(&len, ops.data + off + 1, 4);
            if (n > 0 && (k != kind || n == DISPATCH_PER_CMD)) {
                dispatch_command(d, n);
                n = 0;
            }
            kind = k;
            d->argv[0] = k == 'S' ? "SUBSCRIBE" : "UNSUBSCRIBE";
            d->argvlen[0] = strlen(d->argv[0]);
            d->argv[n + 1] = ops.data + off + 5;
            d->argvlen[n + 1] = len;
            n++;
            off += 5 + len;
        }
        dispatch_command(d, n); /* copies the names: ops can go */
    }
    buf_free(&ops);
}

static void dispatch_ack(struct dispatch *d, const char *name, size_t len)
{
    pthread_mutex_lock(&d->mu);
    struct dchan *ch = chan_find(d, name, len, false);
    if (ch) {
        ch->acked++;
        for (struct dsub *s = ch->subs; s; s = s->next) {
            if (s->ticket > ch->acked || (s->confirmed && !s->resub))
                continue;
            pthread_mutex_lock(&s->in->mu);
            if (!s->confirmed)
                s->in->unconfirmed--;
            else if (--s->in->resyncing == 0)
                s->in->flags |= INBOX_GAP;
            pthread_mutex_unlock(&s->in->mu);
            s->confirmed = true;
            s->resub = false;
            inbox_wake(s->in); /* its eventfd, or its loop once handed over */
        }
        if (!ch->subs && ch->acked >= ch->sent)
            chan_remove(d, ch);
    }
    pthread_mutex_unlock(&d->mu);
}

static void dispatch_deliver(struct dispatch *d, const char *name, size_t len, const char *msg,
                             size_t msg_len)
{
    pthread_mutex_lock(&d->mu);
    struct dchan *ch = chan_find(d, name, len, false);
    for (struct dsub *s = ch ? ch->subs : NULL; s; s = s->next)
        inbox_put(s->in, msg, msg_len);
    pthread_mutex_unlock(&d->mu);
}

static bool reply_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static void dispatch_reply(struct dispatch *d, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("pub/sub: Redis answered an error: %s", r->str);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || !reply_str(r->element[0]))
        return;
    const char *kind = r->element[0]->str;
    const redisReply *ch = r->element[1];
    if (strcmp(kind, "message") == 0 && r->elements == 3 && reply_str(ch) &&
        reply_str(r->element[2]))
        dispatch_deliver(d, ch->str, ch->len, r->element[2]->str, r->element[2]->len);
    else if (strcmp(kind, "subscribe") == 0 && reply_str(ch))
        dispatch_ack(d, ch->str, ch->len);
    /* "unsubscribe" needs nothing; "pong" only proves the connection, as any byte does */
}

static void dispatch_read(struct dispatch *d)
{
    if (redisBufferRead(d->c) != REDIS_OK) {
        log_warn("pub/sub: connection to Redis lost: %s", d->c->errstr);
        dispatch_drop(d);
        return;
    }
    d->last_rx_ms = clock_mono_ms();
    d->ping_sent_ms = 0;
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(d->c, &r) != REDIS_OK) {
            log_warn("pub/sub: unreadable reply from Redis: %s", d->c->errstr);
            dispatch_drop(d);
            return;
        }
        if (!r)
            return;
        dispatch_reply(d, r);
        freeReplyObject(r);
    }
}

static void dispatch_write(struct dispatch *d)
{
    int done = 0;
    if (redisBufferWrite(d->c, &done) != REDIS_OK) {
        log_warn("pub/sub: writing to Redis failed: %s", d->c->errstr);
        dispatch_drop(d);
        return;
    }
    d->want_write = !done;
}

/* Over a quiet link a dead peer shows only when asked: PING after a while, give up later. */
static void dispatch_check_ping(struct dispatch *d, long long now)
{
    if (d->ping_sent_ms && now - d->ping_sent_ms >= DISPATCH_PING_WAIT_MS) {
        log_warn("pub/sub: no answer to PING within %d ms; reconnecting", DISPATCH_PING_WAIT_MS);
        dispatch_drop(d);
    } else if (!d->ping_sent_ms && now - d->last_rx_ms >= DISPATCH_PING_IDLE_MS) {
        d->argv[0] = "PING";
        d->argvlen[0] = 4;
        redisAppendCommandArgv(d->c, 1, d->argv, d->argvlen);
        d->want_write = true;
        d->ping_sent_ms = now;
    }
}

static int dispatch_timeout(struct dispatch *d, long long now)
{
    long long due = !d->c             ? d->next_try_ms
                    : d->ping_sent_ms ? d->ping_sent_ms + DISPATCH_PING_WAIT_MS
                                      : d->last_rx_ms + DISPATCH_PING_IDLE_MS;
    long long t = due - now;
    return t < 0 ? 0 : t > INT_MAX ? INT_MAX : (int)t;
}

static void *dispatch_main(void *arg)
{
    struct dispatch *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        bool stop = d->stop;
        pthread_mutex_unlock(&d->mu);
        if (stop)
            break;
        long long now = clock_mono_ms();
        if (!d->c && now >= d->next_try_ms) {
            if (dispatch_connect(d) == 0)
                backoff_reset(&d->backoff);
            else
                d->next_try_ms = clock_mono_ms() + backoff_next(&d->backoff);
        }
        if (d->c)
            dispatch_flush_ops(d);
        if (d->c && d->want_write)
            dispatch_write(d);
        struct pollfd p[2] = {{d->ctl_efd, POLLIN, 0}, {-1, 0, 0}};
        if (d->c) {
            p[1].fd = d->c->fd;
            p[1].events = POLLIN | (d->want_write ? POLLOUT : 0);
        }
        int rc = poll(p, 2, dispatch_timeout(d, clock_mono_ms()));
        if (rc < 0 && errno != EINTR)
            log_error("pub/sub: poll: %s", strerror(errno));
        if (rc <= 0) {
            if (d->c)
                dispatch_check_ping(d, clock_mono_ms());
            continue;
        }
        if (p[0].revents)
            wake_drain(d->ctl_efd);
        if (d->c && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
            dispatch_read(d);
        if (d->c && (p[1].revents & POLLOUT))
            dispatch_write(d);
        if (d->c)
            dispatch_check_ping(d, clock_mono_ms());
    }
    if (d->c)
        redisFree(d->c);
    d->c = NULL;
    return NULL;
}

/* ---- the API ---------------------------------------------------------------------------- */

struct dispatch *dispatch_start(const struct rconn_addr *a, char *errstr, size_t errlen)
{
    struct dispatch *d = xcalloc(1, sizeof *d);
    d->addr = *a;
    backoff_init(&d->backoff, DISPATCH_BACKOFF_MIN_MS, DISPATCH_BACKOFF_MAX_MS);
    d->ctl_efd = wake_open();
    if (d->ctl_efd < 0) {
        errstr_set(errstr, errlen, "eventfd: %s", strerror(errno));
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    buf_init(&d->ops, DISPATCH_OPS_MAX);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&d->tid, &attr, dispatch_main, d);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        errstr_set(errstr, errlen, "pthread_create: %s", strerror(rc));
        close(d->ctl_efd);
        buf_free(&d->ops);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

void dispatch_stop(struct dispatch *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_mutex_unlock(&d->mu);
    wake_signal(d->ctl_efd);
    pthread_join(d->tid, NULL);
    for (size_t b = 0; b < DISPATCH_BUCKETS; b++) {
        struct dchan *ch = d->buckets[b], *next;
        for (; ch; ch = next) {
            next = ch->next;
            for (struct dsub *s = ch->subs, *sn; s; s = sn) {
                sn = s->next;
                free(s);
            }
            free(ch);
        }
    }
    close(d->ctl_efd);
    buf_free(&d->ops);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int dispatch_subscribe(struct dispatch *d, struct inbox *in, const char *const *channels,
                       size_t n, int timeout_ms, char *errstr, size_t errlen)
{
    size_t added = 0;
    pthread_mutex_lock(&d->mu);
    for (; added < n && in->n_subs < INBOX_MAX_CHANNELS; added++) {
        size_t len = strlen(channels[added]);
        struct dchan *ch = chan_find(d, channels[added], len, true);
        struct dsub *s = xcalloc(1, sizeof *s);
        s->ch = ch;
        s->in = in;
        s->ticket = ++ch->sent;
        s->next = ch->subs;
        ch->subs = s;
        in->subs[in->n_subs++] = s;
        ops_push(d, 'S', channels[added], len);
    }
    pthread_mutex_lock(&in->mu);
    in->unconfirmed += (int)added;
    pthread_mutex_unlock(&in->mu);
    pthread_mutex_unlock(&d->mu);
    wake_signal(d->ctl_efd);
    if (added < n) {
        errstr_set(errstr, errlen, "more than %d channels for one stream", INBOX_MAX_CHANNELS);
        return -1;
    }
    long long until = clock_mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&in->mu);
        int left = in->unconfirmed;
        pthread_mutex_unlock(&in->mu);
        if (left == 0)
            return 0;
        long long rest = until - clock_mono_ms();
        if (rest <= 0) {
            errstr_set(errstr, errlen, "Redis did not confirm the subscription within %d ms",
                       timeout_ms);
            return -1;
        }
        struct pollfd p = {in->efd, POLLIN, 0};
        if (poll(&p, 1, (int)rest) > 0)
            wake_drain(in->efd); /* messages stay queued; the stream takes them later */
    }
}

void dispatch_unsubscribe(struct dispatch *d, struct inbox *in)
{
    bool any = false;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < in->n_subs; i++) {
        struct dsub *s = in->subs[i];
        struct dchan *ch = s->ch;
        struct dsub **pp = &ch->subs;
        while (*pp && *pp != s)
            pp = &(*pp)->next;
        if (*pp)
            *pp = s->next;
        free(s);
        if (!ch->subs) {
            ops_push(d, 'U', ch->name, ch->len);
            any = true;
            if (ch->acked >= ch->sent) /* else a reply is still due: keep the count */
                chan_remove(d, ch);
        }
    }
    in->n_subs = 0;
    pthread_mutex_lock(&in->mu);
    in->unconfirmed = 0;
    in->resyncing = 0;
    pthread_mutex_unlock(&in->mu);
    pthread_mutex_unlock(&d->mu);
    if (any)
        wake_signal(d->ctl_efd);
}

bool dispatch_connected(struct dispatch *d)
{
    pthread_mutex_lock(&d->mu);
    bool c = d->connected;
    pthread_mutex_unlock(&d->mu);
    return c;
}

unsigned long dispatch_connections(struct dispatch *d)
{
    pthread_mutex_lock(&d->mu);
    unsigned long n = d->connections;
    pthread_mutex_unlock(&d->mu);
    return n;
}
