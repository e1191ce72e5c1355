/* test_rasync: fcgi-app/rasync.c, hiredis 0.14's async API on the child's loop, against a
 * real redis-server (tests/integration/rasync.sh starts it and passes its URL).
 *
 * Commands: a thousand pipelined, replies in order; stream commands; a forgotten callback
 * that never runs. Pub/sub: subscribe acknowledgements and messages to the one handler,
 * routed by channel and in publish order, an unsubscribed channel silent (checked with a
 * barrier message on another channel). Keep-alives on silent connections of both kinds (seen
 * from Redis's CLIENT LIST), without a reconnect. A connection Redis kills: pending callbacks
 * get NULL, the owner hears IDLE with why, then READY again. A reply that does not come
 * within reply_timeout_ms: dropped and reconnected. An unreachable Redis: tries with backoff,
 * commands refused meanwhile. rasync_free from inside a reply callback. And the loop is never
 * blocked by any of it: a 20 ms ticker keeps its pace throughout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "../../fcgi-app/loop.h"
#include "../../fcgi-app/rasync.h"
#include "../unit/test.h"
#include "core/clock.h"
#include "redis/rconn.h"

static struct rconn_addr addr;
static redisContext *blocking;
static struct loop *L;

/* A ticker: the loop's pace while Redis work goes on. */
static struct loop_timer tick;
static long long tick_last, tick_worst;

static void on_tick(struct loop *l, struct loop_timer *t)
{
    long long now = clock_mono_ms();
    if (tick_last && now - tick_last > tick_worst)
        tick_worst = now - tick_last;
    tick_last = now;
    loop_timer_after(l, t, 20);
}

static void run_until(const int *flag, long long ms)
{
    long long until = clock_mono_ms() + ms;
    char err[128];
    while (!*flag && clock_mono_ms() < until)
        CHECK(loop_once(L, until - clock_mono_ms(), err, sizeof err) == 0);
}

static void run_for(long long ms)
{
    int never = 0;
    run_until(&never, ms);
}

static struct rasync_opts opts(enum rasync_kind kind)
{
    struct rasync_opts o = {kind, 1000, 2000, 0, 50, 400};
    return o;
}

/* What an owner saw. */
struct seen {
    int ready, idle;
    char why[200];
    int replies, nulls;
    long long last_int;
    int out_of_order;
    int done;
    int want;
    /* pub/sub */
    char msgs[64][64];
    int n_msgs;
    int acks;
    struct rasync *ra;
    int free_at;         /* rasync_free from the free_at-th reply callback */
};

static void on_state(struct rasync *ra, enum rasync_state st, const char *why, void *arg)
{
    (void)ra;
    struct seen *s = arg;
    if (st == RASYNC_READY)
        s->ready++;
    if (st == RASYNC_IDLE) {
        s->idle++;
        snprintf(s->why, sizeof s->why, "%s", why);
    }
}

static void on_push(struct rasync *ra, const redisReply *r, void *arg)
{
    (void)ra;
    struct seen *s = arg;
    CHECK(r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0)
        s->acks++;
    else if (strcmp(kind, "message") == 0 && s->n_msgs < 64)
        snprintf(s->msgs[s->n_msgs++], 64, "%s=%s", r->element[1]->str, r->element[2]->str);
}

static void on_reply(struct rasync *ra, const redisReply *r, void *arg)
{
    struct seen *s = arg;
    if (!r) {
        s->nulls++;
    } else {
        s->replies++;
        if (r->type == REDIS_REPLY_INTEGER) {
            if (r->integer != s->last_int + 1)
                s->out_of_order++;
            s->last_int = r->integer;
        }
    }
    if (s->free_at && s->replies + s->nulls == s->free_at) {
        rasync_free(ra);
        s->ra = NULL;
    }
    if (s->replies + s->nulls == s->want)
        s->done = 1;
}

static int cmd(struct rasync *ra, struct seen *s, const char *a0, const char *a1,
               const char *a2)
{
    const char *argv[3] = {a0, a1, a2};
    size_t len[3] = {strlen(a0), a1 ? strlen(a1) : 0, a2 ? strlen(a2) : 0};
    char err[128];
    return rasync_command(ra, on_reply, s, a2 ? 3 : a1 ? 2 : 1, argv, len, err, sizeof err);
}

static void blocking_cmd(const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(blocking, fmt, arg);
    CHECK(r != NULL);
    if (r)
        freeReplyObject(r);
}

static void test_commands(void)
{
    struct seen s = {0};
    struct rasync *ra = rasync_new(L, &addr, &(struct rasync_opts){RASYNC_COMMANDS, 1000, 2000, 0, 50, 400}, on_state, NULL, &s);
    CHECK(rasync_state(ra) == RASYNC_IDLE); /* the first try is the loop's */
    run_until(&s.ready, 2000);
    CHECK(s.ready == 1 && rasync_state(ra) == RASYNC_READY && rasync_connects(ra) == 1);
    blocking_cmd("DEL %s", "rasync:n");
    s.want = 1000;
    for (int i = 0; i < 1000; i++)
        CHECK(cmd(ra, &s, "INCR", "rasync:n", NULL) == 0);
    CHECK(rasync_pending(ra) == 1000);
    run_until(&s.done, 5000);
    CHECK(s.replies == 1000 && s.out_of_order == 0 && s.last_int == 1000);
    CHECK(rasync_pending(ra) == 0);
    /* Stream commands, and a forgotten callback: its reply is read, nobody is called. */
    struct seen f = {0}, x = {0};
    const char *xadd[5] = {"XADD", "rasync:log", "*", "type", "delta"};
    size_t xl[5] = {4, 10, 1, 4, 5};
    char err[128];
    x.want = 2;
    CHECK(rasync_command(ra, on_reply, &f, 5, xadd, xl, err, sizeof err) == 0);
    rasync_forget(ra, &f);
    CHECK(rasync_command(ra, on_reply, &x, 5, xadd, xl, err, sizeof err) == 0);
    CHECK(cmd(ra, &x, "XLEN", "rasync:log", NULL) == 0);
    run_until(&x.done, 2000);
    CHECK(x.replies == 2 && f.replies == 0 && f.nulls == 0 && rasync_pending(ra) == 0);
    /* Subscribing on a command connection is refused. */
    const char *ch = "c";
    CHECK(rasync_subscribe(ra, &ch, NULL, 1, err, sizeof err) == -1);
    rasync_free(ra);
    CHECK(s.idle == 0 && s.nulls == 0);
}

static void test_pubsub(void)
{
    struct seen s = {0};
    struct rasync_opts o = opts(RASYNC_PUBSUB);
    struct rasync *ra = rasync_new(L, &addr, &o, on_state, on_push, &s);
    run_until(&s.ready, 2000);
    CHECK(s.ready == 1);
    const char *chans[3] = {"rasync:a", "rasync:b", "rasync:c"};
    char err[128];
    CHECK(rasync_subscribe(ra, chans, NULL, 3, err, sizeof err) == 0);
    CHECK(cmd(ra, &s, "PING", NULL, NULL) == -1); /* a pub/sub connection takes no commands */
    long long until = clock_mono_ms() + 2000;
    while (s.acks < 3 && clock_mono_ms() < until)
        run_for(10);
    CHECK(s.acks == 3);
    blocking_cmd("PUBLISH rasync:a %s", "1");
    blocking_cmd("PUBLISH rasync:b %s", "2");
    blocking_cmd("PUBLISH rasync:nobody %s", "x");
    blocking_cmd("PUBLISH rasync:a %s", "3");
    until = clock_mono_ms() + 2000;
    while (s.n_msgs < 3 && clock_mono_ms() < until)
        run_for(10);
    CHECK(s.n_msgs == 3);
    CHECK_STR_EQ(s.msgs[0], "rasync:a=1");
    CHECK_STR_EQ(s.msgs[1], "rasync:b=2");
    CHECK_STR_EQ(s.msgs[2], "rasync:a=3");
    /* Unsubscribed: silent. The barrier on another channel comes after anything before it. */
    CHECK(rasync_unsubscribe(ra, chans, NULL, 1, err, sizeof err) == 0);
    run_for(50);
    blocking_cmd("PUBLISH rasync:a %s", "4");
    blocking_cmd("PUBLISH rasync:c %s", "barrier");
    until = clock_mono_ms() + 2000;
    while (s.n_msgs < 4 && clock_mono_ms() < until)
        run_for(10);
    CHECK(s.n_msgs == 4);
    CHECK_STR_EQ(s.msgs[3], "rasync:c=barrier");
    rasync_free(ra);
}

static bool client_list_has(const char *type, const char *what)
{
    redisReply *r = redisCommand(blocking, "CLIENT LIST TYPE %s", type);
    bool has = r && r->type == REDIS_REPLY_STRING && strstr(r->str, what);
    if (r)
        freeReplyObject(r);
    return has;
}

static void test_keepalive(void)
{
    struct seen s = {0}, p = {0};
    struct rasync_opts o = opts(RASYNC_COMMANDS);
    o.idle_ping_ms = 100;
    o.reply_timeout_ms = 300;
    struct rasync *ra = rasync_new(L, &addr, &o, on_state, NULL, &s);
    o.kind = RASYNC_PUBSUB;
    struct rasync *ps = rasync_new(L, &addr, &o, on_state, on_push, &p);
    run_until(&s.ready, 2000);
    run_until(&p.ready, 2000);
    const char *ch = "rasync:quiet";
    char err[128];
    CHECK(rasync_subscribe(ps, &ch, NULL, 1, err, sizeof err) == 0);
    run_for(700); /* several idle intervals, past the reply timeout */
    CHECK(rasync_state(ra) == RASYNC_READY && rasync_state(ps) == RASYNC_READY);
    CHECK(rasync_connects(ra) == 1 && rasync_connects(ps) == 1 && s.idle == 0 && p.idle == 0);
    CHECK(client_list_has("normal", "cmd=ping"));
    CHECK(client_list_has("pubsub", "cmd=unsubscribe"));
    CHECK(client_list_has("pubsub", "sub=1")); /* the keep-alive changed no subscription */
    CHECK(p.acks == 1);
    rasync_free(ra);
    rasync_free(ps);
}

static void test_killed_and_reconnected(void)
{
    struct seen s = {0};
    struct rasync *ra = rasync_new(L, &addr, &(struct rasync_opts){RASYNC_COMMANDS, 1000, 10000, 0, 50, 400}, on_state, NULL, &s);
    run_until(&s.ready, 2000);
    /* A reply that waits server-side, then Redis drops the connection. */
    s.want = 1;
    CHECK(cmd(ra, &s, "BLPOP", "rasync:never", "5") == 0);
    run_for(50);
    blocking_cmd("CLIENT KILL TYPE %s SKIPME yes", "normal");
    run_until(&s.done, 2000);
    CHECK(s.nulls == 1 && s.replies == 0);
    run_for(20);
    CHECK(s.idle == 1 && strstr(s.why, "connection") != NULL);
    CHECK(cmd(ra, &s, "PING", NULL, NULL) == -1); /* not connected: refused, not queued */
    int again = 0;
    long long until = clock_mono_ms() + 3000;
    while (s.ready < 2 && clock_mono_ms() < until)
        run_for(10);
    again = s.ready == 2;
    CHECK(again && rasync_connects(ra) == 2);
    s.done = 0;
    s.want = 2;
    CHECK(cmd(ra, &s, "PING", NULL, NULL) == 0);
    run_until(&s.done, 2000);
    CHECK(s.replies == 1);
    rasync_free(ra);
}

static void test_reply_timeout(void)
{
    struct seen s = {0};
    struct rasync_opts o = opts(RASYNC_COMMANDS);
    o.reply_timeout_ms = 200;
    struct rasync *ra = rasync_new(L, &addr, &o, on_state, NULL, &s);
    run_until(&s.ready, 2000);
    s.want = 1;
    long long t0 = clock_mono_ms();
    CHECK(cmd(ra, &s, "BLPOP", "rasync:never", "5") == 0);
    run_until(&s.done, 3000);
    long long took = clock_mono_ms() - t0;
    CHECK(s.nulls == 1 && took >= 200 && took < 1500);
    run_for(10);
    CHECK(s.idle == 1 && strstr(s.why, "no answer from Redis within 200 ms") != NULL);
    long long until = clock_mono_ms() + 3000;
    while (s.ready < 2 && clock_mono_ms() < until)
        run_for(10);
    CHECK(s.ready == 2);
    rasync_free(ra);
}

static void test_unreachable(void)
{
    struct seen s = {0};
    struct rconn_addr nowhere = {0};
    nowhere.is_unix = true;
    snprintf(nowhere.path, sizeof nowhere.path, "/nonexistent/redis.sock");
    struct rasync *ra = rasync_new(L, &nowhere, &(struct rasync_opts){RASYNC_COMMANDS, 1000, 2000, 0, 50, 400}, on_state, NULL, &s);
    run_for(600);
    /* Tries at once, then after 50, 100, 200 ms ...: at least four in 600 ms, not hundreds. */
    CHECK(s.idle >= 4 && s.idle <= 8 && s.ready == 0);
    CHECK(strstr(s.why, "connect") != NULL);
    CHECK(cmd(ra, &s, "PING", NULL, NULL) == -1);
    rasync_free(ra);
    /* TCP too: nothing listens on port 1. */
    struct seen t = {0};
    struct rconn_addr closed = {0};
    snprintf(closed.host, sizeof closed.host, "127.0.0.1");
    closed.port = 1;
    ra = rasync_new(L, &closed, &(struct rasync_opts){RASYNC_COMMANDS, 1000, 2000, 0, 50, 400}, on_state, NULL, &t);
    run_for(200);
    CHECK(t.idle >= 2 && t.ready == 0);
    rasync_free(ra);
}

static void test_free_inside_callback(void)
{
    struct seen s = {0};
    s.ra = rasync_new(L, &addr, &(struct rasync_opts){RASYNC_COMMANDS, 1000, 2000, 0, 50, 400}, on_state, NULL, &s);
    run_until(&s.ready, 2000);
    s.free_at = 3;
    s.want = 10;
    for (int i = 0; i < 10; i++)
        CHECK(cmd(s.ra, &s, "PING", NULL, NULL) == 0);
    run_until(&s.done, 2000);
    /* The third callback freed the connection: the other seven ran, with NULL. */
    CHECK(s.ra == NULL && s.replies == 3 && s.nulls == 7);
    CHECK(s.idle == 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s REDIS_URL\n", argv[0]);
        return 2;
    }
    char err[256];
    if (rconn_parse_url(argv[1], &addr, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    blocking = rconn_connect(&addr, 2000, err, sizeof err);
    L = loop_new(err, sizeof err);
    if (!blocking || !L) {
        fprintf(stderr, "set-up: %s\n", err);
        return 2;
    }
    loop_timer_init(&tick, on_tick, NULL);
    loop_timer_after(L, &tick, 20);
    RUN(test_commands);
    RUN(test_pubsub);
    RUN(test_keepalive);
    RUN(test_killed_and_reconnected);
    RUN(test_reply_timeout);
    RUN(test_unreachable);
    RUN(test_free_inside_callback);
    test_begin("test_loop_never_blocked");
    CHECK(tick_worst > 0 && tick_worst < 100);
    if (tick_worst >= 100)
        fprintf(stderr, "    the 20 ms ticker once waited %lld ms\n", tick_worst);
    test_end();
    loop_timer_stop(L, &tick);
    loop_free(L);
    redisFree(blocking);
    return test_summary();
}
