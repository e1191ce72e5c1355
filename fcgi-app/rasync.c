/* rasync: hiredis 0.14's async API on the child's loop (see rasync.h).
 *
 * hiredis calls four kinds of code of ours: the ev hooks (interest changes, cleanup just
 * before it frees the context), onConnect and onDisconnect, and the reply trampolines, which
 * run the owner's callbacks under hiredis's REDIS_IN_CALLBACK flag. Neither a hook nor
 * onConnect/onDisconnect may free the context, so they only note what happened; every entry
 * into hiredis is bracketed (depth), and when the outermost one returns, after_hiredis acts:
 * a requested drop, the state change, the owner's on_state, a free the owner asked for. A
 * free asked from a reply callback goes through redisAsyncFree, which hiredis defers until
 * that callback returns, and ra itself goes once hiredis has let go of it. */
#include "rasync.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/errstr.h"

/* One command's reply callback, on the connection's list until it ran. */
struct rcall {
    struct rcall *prev, *next;
    struct rasync *ra;
    rasync_reply_fn *fn; /* NULL: forgotten */
    void *arg;
};

struct rasync {
    struct loop *l;
    struct rconn_addr addr;
    struct rasync_opts o;
    rasync_state_fn *on_state;
    rasync_push_fn *push;
    void *arg;
    enum rasync_state state;
    redisAsyncContext *ac;    /* NULL once hiredis freed it (cleanup hook) */
    struct loop_io io;
    unsigned want;
    struct loop_timer timer;  /* IDLE: the retry; CONNECTING: the deadline; READY: watchdog */
    struct backoff backoff;
    struct rcall calls;       /* list sentinel */
    size_t pending;
    long long progress_ms;    /* last byte read, or when the wait for replies began */
    bool ping_out;            /* a pub/sub keep-alive is unanswered */
    int depth;                /* inside hiredis or an owner callback */
    bool free_pending;
    bool connected;           /* onConnect (and AUTH) said OK: READY when hiredis returns */
    bool auth_pending;        /* AUTH sent, its answer not yet read */
    bool drop;                /* tear the connection down when hiredis returns */
    char why[160];            /* what ended the connection */
    unsigned long connects;
};

static void after_hiredis(struct rasync *ra);
static void on_io(struct loop *l, struct loop_io *io, unsigned events);

const char *rasync_state_name(enum rasync_state st)
{
    switch (st) {
    case RASYNC_IDLE: return "idle";
    case RASYNC_CONNECTING: return "connecting";
    case RASYNC_READY: return "ready";
    case RASYNC_CLOSED: return "closed";
    }
    return "?";
}

static void note_why(struct rasync *ra, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_why(struct rasync *ra, const char *fmt, ...)
{
    if (ra->why[0])
        return; /* the first cause is the one worth telling */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ra->why, sizeof ra->why, fmt, ap);
    va_end(ap);
}

/* ---- the ev hooks ------------------------------------------------------------------------ */

static void ev_update(struct rasync *ra)
{
    char err[128];
    if (ra->ac && loop_io_want(ra->l, &ra->io, ra->want, err, sizeof err) < 0) {
        note_why(ra, "%s", err);
        ra->drop = true;
    }
}

static void ev_add_read(void *p)
{
    struct rasync *ra = p;
    ra->want |= LOOP_READ;
    ev_update(ra);
}

static void ev_del_read(void *p)
{
    struct rasync *ra = p;
    ra->want &= ~LOOP_READ;
    ev_update(ra);
}

static void ev_add_write(void *p)
{
    struct rasync *ra = p;
    ra->want |= LOOP_WRITE;
    ev_update(ra);
}

static void ev_del_write(void *p)
{
    struct rasync *ra = p;
    ra->want &= ~LOOP_WRITE;
    ev_update(ra);
}

/* hiredis is about to free the context and close its descriptor. */
static void ev_cleanup(void *p)
{
    struct rasync *ra = p;
    loop_io_del(ra->l, &ra->io);
    ra->want = 0;
    ra->ac = NULL;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rasync *ra = ac->data;
    if (status == REDIS_OK)
        ra->connected = !ra->auth_pending; /* with a password, READY waits for AUTH's OK */
    else
        note_why(ra, "connect: %s", ac->errstr ? ac->errstr : "failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rasync *ra = ac->data;
    if (status != REDIS_OK)
        note_why(ra, "connection lost: %s", ac->errstr ? ac->errstr : "error");
    else
        note_why(ra, "connection closed");
}

/* ---- replies ---------------------------------------------------------------------------- */

static void call_unlink(struct rasync *ra, struct rcall *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    ra->pending--;
}

static void reply_tramp(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct rcall *c = priv;
    struct rasync *ra = c->ra;
    call_unlink(ra, c);
    if (c->fn)
        c->fn(ra, reply, c->arg);
    free(c);
}

static void push_tramp(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    struct rasync *ra = priv;
    if (reply && ra->push && !ra->free_pending)
        ra->push(ra, reply, ra->arg);
}

/* Queues a command whose reply goes to fn (NULL: to nobody). Inside or outside hiredis. */
static int send_call(struct rasync *ra, rasync_reply_fn *fn, void *arg, int argc,
                     const char **argv, const size_t *argvlen)
{
    struct rcall *c = xmalloc(sizeof *c);
    c->ra = ra;
    c->fn = fn;
    c->arg = arg;
    if (redisAsyncCommandArgv(ra->ac, reply_tramp, c, argc, argv, argvlen) != REDIS_OK) {
        free(c);
        return -1;
    }
    c->next = &ra->calls;
    c->prev = ra->calls.prev;
    ra->calls.prev->next = c;
    ra->calls.prev = c;
    if (ra->pending++ == 0 && !ra->ping_out) {
        /* Waiting for replies starts now; the watchdog must not count the quiet before. */
        ra->progress_ms = clock_mono_ms();
        long long due = ra->progress_ms + ra->o.reply_timeout_ms;
        if (ra->state == RASYNC_READY &&
            (!loop_timer_armed(&ra->timer) || ra->timer.due_ms > due))
            loop_timer_at(ra->l, &ra->timer, due);
    }
    return 0;
}

static void auth_done(struct rasync *ra, const redisReply *r, void *arg)
{
    (void)arg;
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        /* Redis's text names the failure, never the secret; no READY, so the backoff grows */
        note_why(ra, "AUTH%s%s refused: %s", ra->addr.user[0] ? " as " : "", ra->addr.user,
                 r->str);
        ra->drop = true;
        return;
    }
    ra->auth_pending = false;
    ra->connected = true;
}

static void select_done(struct rasync *ra, const redisReply *r, void *arg)
{
    (void)arg;
    if (r && r->type == REDIS_REPLY_ERROR) {
        note_why(ra, "SELECT %d: %s", ra->addr.db, r->str);
        ra->drop = true;
    }
}

/* ---- the state ---------------------------------------------------------------------------- */

/* Arms the timer for what the state waits on. */
static void watch_rearm(struct rasync *ra)
{
    bool awaiting = ra->pending > 0 || ra->ping_out;
    if (awaiting)
        loop_timer_at(ra->l, &ra->timer, ra->progress_ms + ra->o.reply_timeout_ms);
    else if (ra->o.idle_ping_ms > 0)
        loop_timer_at(ra->l, &ra->timer, ra->progress_ms + ra->o.idle_ping_ms);
    else
        loop_timer_stop(ra->l, &ra->timer);
}

/* Tells the owner; false when the owner freed ra meanwhile (ra is gone then). */
static void release(struct rasync *ra);

static bool tell_owner(struct rasync *ra, enum rasync_state st, const char *why)
{
    if (!ra->on_state)
        return true;
    ra->depth++;
    ra->on_state(ra, st, why, ra->arg);
    ra->depth--;
    if (ra->free_pending && ra->depth == 0) {
        release(ra);
        return false;
    }
    return true;
}

/* The one place the state changes. Returns false when the owner freed ra. */
static bool set_state(struct rasync *ra, enum rasync_state st, const char *why)
{
    ra->state = st;
    switch (st) {
    case RASYNC_IDLE:
        loop_timer_after(ra->l, &ra->timer, backoff_next(&ra->backoff));
        break;
    case RASYNC_CONNECTING:
        loop_timer_after(ra->l, &ra->timer, ra->o.connect_timeout_ms);
        break;
    case RASYNC_READY:
        backoff_reset(&ra->backoff);
        ra->progress_ms = clock_mono_ms();
        ra->connects++;
        watch_rearm(ra);
        break;
    case RASYNC_CLOSED:
        loop_timer_stop(ra->l, &ra->timer);
        return true;
    }
    return tell_owner(ra, st, why);
}

static void connect_now(struct rasync *ra)
{
    if (ra->addr.tls) {
        /* The TLS handshake (rtls.h) blocks; this loop must not. nova-fcgi's Redis paths are
         * the blocking rconn ones, which do TLS. */
        set_state(ra, RASYNC_IDLE, "rediss:// is not supported on the event loop");
        return;
    }
    redisAsyncContext *ac = ra->addr.is_unix ? redisAsyncConnectUnix(ra->addr.path)
                                             : redisAsyncConnect(ra->addr.host, ra->addr.port);
    ra->why[0] = '\0';
    ra->connected = ra->drop = ra->ping_out = ra->auth_pending = false;
    if (!ac || ac->err) {
        char why[160];
        snprintf(why, sizeof why, "connect: %s", ac && ac->errstr ? ac->errstr : "no memory");
        if (ac)
            redisAsyncFree(ac); /* no hooks attached yet: nothing of ours runs */
        set_state(ra, RASYNC_IDLE, why);
        return;
    }
    ra->ac = ac;
    ac->data = ra;
    loop_io_init(&ra->io, ac->c.fd, on_io, ra);
    ac->ev.data = ra;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ra->state = RASYNC_CONNECTING; /* the owner hears of READY or IDLE, not of this */
    loop_timer_after(ra->l, &ra->timer, ra->o.connect_timeout_ms);
    ra->depth++;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncSetConnectCallback(ac, on_connect); /* asks for the first write event */
    if (ra->addr.password[0]) {
        const char *argv[3] = {"AUTH", ra->addr.user, ra->addr.password};
        size_t argvlen[3] = {4, strlen(ra->addr.user), strlen(ra->addr.password)};
        int argc = 3;
        if (!ra->addr.user[0]) {
            argv[1] = argv[2];
            argvlen[1] = argvlen[2];
            argc = 2;
        }
        ra->auth_pending = true;
        if (send_call(ra, auth_done, NULL, argc, argv, argvlen) < 0) {
            note_why(ra, "AUTH: hiredis refused the command");
            ra->drop = true;
        }
    }
    if (ra->o.kind == RASYNC_COMMANDS && ra->addr.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof db, "%d", ra->addr.db);
        const char *argv[2] = {"SELECT", db};
        size_t argvlen[2] = {6, (size_t)n};
        if (send_call(ra, select_done, NULL, 2, argv, argvlen) < 0) {
            note_why(ra, "SELECT: hiredis refused the command");
            ra->drop = true;
        }
    }
    after_hiredis(ra);
}

/* At depth 0 with free_pending: the connection goes (its callbacks run with NULL), then ra. */
static void release(struct rasync *ra)
{
    if (ra->ac) {
        ra->depth++;
        redisAsyncFree(ra->ac);
        ra->depth--;
    }
    loop_timer_stop(ra->l, &ra->timer);
    loop_io_del(ra->l, &ra->io);
    free(ra);
}

/* The outermost entry into hiredis (or into the owner) returned: act on what was noted. */
static void after_hiredis(struct rasync *ra)
{
    if (--ra->depth > 0)
        return;
    if (ra->free_pending) {
        release(ra);
        return;
    }
    if (ra->ac && ra->drop) {
        ra->depth++;
        redisAsyncFree(ra->ac); /* pending callbacks run with NULL; cleanup clears ra->ac */
        if (--ra->depth == 0 && ra->free_pending) {
            release(ra);
            return;
        }
    }
    if (ra->ac && ra->connected && ra->state == RASYNC_CONNECTING) {
        ra->connected = false;
        if (!set_state(ra, RASYNC_READY, ""))
            return;
    }
    if (!ra->ac && (ra->state == RASYNC_CONNECTING || ra->state == RASYNC_READY)) {
        note_why(ra, "connection ended");
        char why[sizeof ra->why];
        memcpy(why, ra->why, sizeof why);
        set_state(ra, RASYNC_IDLE, why);
    }
}

static void on_io(struct loop *l, struct loop_io *io, unsigned events)
{
    struct rasync *ra = io->arg;
    ra->depth++;
    if (events & (LOOP_READ | LOOP_HUP)) {
        ra->progress_ms = loop_now(l);
        ra->ping_out = false;
        redisAsyncHandleRead(ra->ac);
    }
    if (ra->ac && (events & LOOP_WRITE) && !ra->free_pending)
        redisAsyncHandleWrite(ra->ac);
    after_hiredis(ra);
}

static void keepalive(struct rasync *ra)
{
    static const char *ping[1] = {"PING"};
    static const size_t ping_len[1] = {4};
    if (ra->o.kind == RASYNC_PUBSUB && (ra->ac->c.flags & REDIS_SUBSCRIBED)) {
        /* Subscribed: PING would leave its callback queued in hiredis 0.14 for good (the
         * answer is a push it cannot match), so ask for an UNSUBSCRIBE of a name nobody
         * subscribes; Redis answers it in any mode, and hiredis drops the answer. */
        const char *argv[2] = {"UNSUBSCRIBE", ""};
        size_t argvlen[2] = {11, 0};
        if (redisAsyncCommandArgv(ra->ac, NULL, NULL, 2, argv, argvlen) == REDIS_OK)
            ra->ping_out = true;
        ra->progress_ms = clock_mono_ms();
        return;
    }
    send_call(ra, NULL, NULL, 1, ping, ping_len);
}

static void on_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct rasync *ra = t->arg;
    switch (ra->state) {
    case RASYNC_IDLE:
        connect_now(ra);
        return;
    case RASYNC_CONNECTING:
        note_why(ra, "connect: no connection within %d ms", ra->o.connect_timeout_ms);
        ra->drop = true;
        ra->depth++;
        after_hiredis(ra);
        return;
    case RASYNC_READY: {
        long long now = clock_mono_ms();
        bool awaiting = ra->pending > 0 || ra->ping_out;
        if (awaiting && now - ra->progress_ms >= ra->o.reply_timeout_ms) {
            note_why(ra, "no answer from Redis within %d ms", ra->o.reply_timeout_ms);
            ra->drop = true;
            ra->depth++;
            after_hiredis(ra);
            return;
        }
        if (!awaiting && ra->o.idle_ping_ms > 0 && now - ra->progress_ms >= ra->o.idle_ping_ms) {
            ra->depth++;
            keepalive(ra);
            after_hiredis(ra);
            if (ra->state != RASYNC_READY)
                return;
        }
        watch_rearm(ra);
        return;
    }
    case RASYNC_CLOSED:
        return;
    }
}

/* ---- the API ---------------------------------------------------------------------------- */

struct rasync *rasync_new(struct loop *l, const struct rconn_addr *a,
                          const struct rasync_opts *o, rasync_state_fn *on_state,
                          rasync_push_fn *push, void *arg)
{
    struct rasync *ra = xcalloc(1, sizeof *ra);
    ra->l = l;
    ra->addr = *a;
    ra->o = *o;
    ra->on_state = on_state;
    ra->push = push;
    ra->arg = arg;
    ra->calls.next = ra->calls.prev = &ra->calls;
    ra->state = RASYNC_IDLE;
    backoff_init(&ra->backoff, o->backoff_min_ms, o->backoff_max_ms);
    loop_timer_init(&ra->timer, on_timer, ra);
    loop_io_init(&ra->io, -1, on_io, ra);
    /* The first try runs on the loop's next pass, so the owner is never called from here. */
    loop_timer_at(l, &ra->timer, clock_mono_ms());
    return ra;
}

void rasync_free(struct rasync *ra)
{
    if (!ra || ra->free_pending)
        return;
    ra->free_pending = true;
    ra->state = RASYNC_CLOSED;
    loop_timer_stop(ra->l, &ra->timer);
    if (ra->depth > 0) {
        /* Inside a callback: from a reply callback hiredis defers the free until it
         * returns; after_hiredis finishes either way. */
        if (ra->ac)
            redisAsyncFree(ra->ac);
        return;
    }
    release(ra);
}

int rasync_command(struct rasync *ra, rasync_reply_fn *fn, void *arg, int argc,
                   const char **argv, const size_t *argvlen, char *errstr, size_t errlen)
{
    if (ra->o.kind != RASYNC_COMMANDS) {
        errstr_set(errstr, errlen, "a pub/sub connection takes no commands");
        return -1;
    }
    if (ra->state != RASYNC_READY && ra->state != RASYNC_CONNECTING) {
        errstr_set(errstr, errlen, "not connected to Redis (%s)", rasync_state_name(ra->state));
        return -1;
    }
    if (!ra->ac || ra->drop || send_call(ra, fn, arg, argc, argv, argvlen) < 0) {
        errstr_set(errstr, errlen, "Redis connection is going down");
        return -1;
    }
    return 0;
}

void rasync_forget(struct rasync *ra, void *arg)
{
    for (struct rcall *c = ra->calls.next; c != &ra->calls; c = c->next)
        if (c->arg == arg)
            c->fn = NULL;
}

static int pubsub_command(struct rasync *ra, const char *cmd, const char *const *channels,
                          const size_t *lens, size_t n, char *errstr, size_t errlen)
{
    if (ra->o.kind != RASYNC_PUBSUB) {
        errstr_set(errstr, errlen, "%s needs a pub/sub connection", cmd);
        return -1;
    }
    if (!ra->ac || ra->drop || (ra->state != RASYNC_READY && ra->state != RASYNC_CONNECTING)) {
        errstr_set(errstr, errlen, "not connected to Redis (%s)", rasync_state_name(ra->state));
        return -1;
    }
    if (n == 0)
        return 0;
    if (cmd[0] == 'U' && !(ra->ac->c.flags & REDIS_SUBSCRIBED))
        return 0; /* nothing is subscribed: nothing to undo */
    const char **argv = xmalloc((n + 1) * sizeof *argv);
    size_t *argvlen = xmalloc((n + 1) * sizeof *argvlen);
    argv[0] = cmd;
    argvlen[0] = strlen(cmd);
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = channels[i];
        argvlen[i + 1] = lens ? lens[i] : strlen(channels[i]);
    }
    int rc = redisAsyncCommandArgv(ra->ac, cmd[0] == 'S' ? push_tramp : NULL, ra, (int)n + 1,
                                   argv, argvlen);
    free(argv);
    free(argvlen);
    if (rc != REDIS_OK) {
        errstr_set(errstr, errlen, "%s: hiredis refused the command", cmd);
        return -1;
    }
    return 0;
}

int rasync_subscribe(struct rasync *ra, const char *const *channels, const size_t *lens,
                     size_t n, char *errstr, size_t errlen)
{
    return pubsub_command(ra, "SUBSCRIBE", channels, lens, n, errstr, errlen);
}

int rasync_unsubscribe(struct rasync *ra, const char *const *channels, const size_t *lens,
                       size_t n, char *errstr, size_t errlen)
{
    return pubsub_command(ra, "UNSUBSCRIBE", channels, lens, n, errstr, errlen);
}

enum rasync_state rasync_state(const struct rasync *ra)
{
    return ra->state;
}

size_t rasync_pending(const struct rasync *ra)
{
    return ra->pending;
}

unsigned long rasync_connects(const struct rasync *ra)
{
    return ra->connects;
}
