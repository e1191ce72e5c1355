/* test_fcgi_dispatch: nova-fcgi's pub/sub dispatcher (fcgi-app/dispatch.c) against a real
 * redis-server (tests/integration/fcgi_dispatch.sh starts it and passes its URL).
 *
 * What a stream relies on: a subscription is confirmed only once Redis has it, messages come
 * in publish order to every inbox registered for the channel and to no other, churn on one
 * channel (subscribe, unsubscribe, subscribe again) never confirms early, a dropped connection
 * is re-established and reported as a gap, an inbox that is not read is cut instead of
 * holding the connection up, and an unreachable Redis fails a subscribe within its timeout.
 * Absence is checked with a barrier: a message published later on another channel of the
 * same connection arrives after anything published before it. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "../../fcgi-app/dispatch.h"
#include "../unit/test.h"
#include "redis/rconn.h"

static struct rconn_addr addr;
static redisContext *pub;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void publish(const char *ch, const char *msg)
{
    redisReply *r = redisCommand(pub, "PUBLISH %s %s", ch, msg);
    CHECK(r && r->type == REDIS_REPLY_INTEGER);
    if (r)
        freeReplyObject(r);
}

/* Collected messages of one inbox, each as its own C string. */
struct got {
    char msg[512][64];
    size_t n;
    unsigned flags;
};

/* Takes what in holds into g, waiting up to timeout_ms until g has want messages (or a flag
 * in stop_flags). Returns g->n. */
static size_t collect(struct inbox *in, struct got *g, size_t want, unsigned stop_flags,
                      int timeout_ms)
{
    struct buf taken;
    buf_init(&taken, INBOX_CAP);
    long long until = now_ms() + timeout_ms;
    for (;;) {
        unsigned f = inbox_take(in, &taken);
        g->flags |= f;
        size_t off = 0, len;
        const char *m;
        while (inbox_next(&taken, &off, &m, &len) == 0) {
            if (g->n < 512)
                snprintf(g->msg[g->n], sizeof g->msg[0], "%.*s", (int)len, m);
            g->n++;
        }
        buf_reset(&taken);
        long long rest = until - now_ms();
        if (g->n >= want || (g->flags & stop_flags) || rest <= 0)
            break;
        struct pollfd p = {in->efd, POLLIN, 0};
        if (poll(&p, 1, (int)rest) > 0)
            inbox_clear_wake(in);
    }
    buf_free(&taken);
    return g->n;
}

/* Everything published before this call has reached the dispatcher once it returns. */
static void barrier(struct dispatch *d)
{
    static int k;
    char ch[32];
    snprintf(ch, sizeof ch, "t:barrier:%d", k++);
    struct inbox b;
    char err[128];
    CHECK(inbox_init(&b, err, sizeof err) == 0);
    const char *chans[] = {ch};
    CHECK(dispatch_subscribe(d, &b, chans, 1, 3000, err, sizeof err) == 0);
    publish(ch, "mark");
    struct got g = {0};
    CHECK(collect(&b, &g, 1, 0, 3000) == 1);
    dispatch_unsubscribe(d, &b);
    inbox_destroy(&b);
}

static struct dispatch *d;

static void test_subscribe_and_receive_in_order(void)
{
    struct inbox in;
    char err[128];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    const char *chans[] = {"t:a", "t:b", "t:c"};
    CHECK(dispatch_subscribe(d, &in, chans, 3, 3000, err, sizeof err) == 0);
    CHECK(dispatch_connected(d));
    publish("t:a", "1");
    publish("t:other", "not ours");
    publish("t:b", "2");
    publish("t:c", "3");
    publish("t:a", "4");
    struct got g = {0};
    CHECK(collect(&in, &g, 4, 0, 3000) == 4);
    CHECK_STR_EQ(g.msg[0], "1");
    CHECK_STR_EQ(g.msg[1], "2");
    CHECK_STR_EQ(g.msg[2], "3");
    CHECK_STR_EQ(g.msg[3], "4");
    dispatch_unsubscribe(d, &in);
    inbox_reset(&in);
    publish("t:a", "after unsubscribe");
    barrier(d);
    struct got none = {0};
    CHECK(collect(&in, &none, 1, 0, 0) == 0);
    inbox_destroy(&in);
}

static void test_two_inboxes_one_channel(void)
{
    struct inbox a, b;
    char err[128];
    CHECK(inbox_init(&a, err, sizeof err) == 0 && inbox_init(&b, err, sizeof err) == 0);
    const char *chans[] = {"t:shared"};
    CHECK(dispatch_subscribe(d, &a, chans, 1, 3000, err, sizeof err) == 0);
    CHECK(dispatch_subscribe(d, &b, chans, 1, 3000, err, sizeof err) == 0);
    publish("t:shared", "x");
    struct got ga = {0}, gb = {0};
    CHECK(collect(&a, &ga, 1, 0, 3000) == 1 && collect(&b, &gb, 1, 0, 3000) == 1);
    dispatch_unsubscribe(d, &a); /* b keeps the channel */
    inbox_reset(&a);
    publish("t:shared", "y");
    CHECK(collect(&b, &gb, 2, 0, 3000) == 2);
    CHECK_STR_EQ(gb.msg[1], "y");
    struct got none = {0};
    CHECK(collect(&a, &none, 1, 0, 0) == 0);
    dispatch_unsubscribe(d, &b);
    inbox_destroy(&a);
    inbox_destroy(&b);
}

struct churn {
    int rounds, failures;
};

/* Subscribe, unsubscribe, subscribe again on one channel, from two threads at once: every
 * subscribe must be confirmed, and a message published after the last one must arrive. */
static void *churn_main(void *arg)
{
    struct churn *c = arg;
    struct inbox in;
    char err[128];
    if (inbox_init(&in, err, sizeof err) < 0) {
        c->failures++;
        return NULL;
    }
    const char *chans[] = {"t:churn"};
    for (int i = 0; i < c->rounds; i++) {
        if (dispatch_subscribe(d, &in, chans, 1, 3000, err, sizeof err) < 0)
            c->failures++;
        dispatch_unsubscribe(d, &in);
        inbox_reset(&in);
    }
    inbox_destroy(&in);
    return NULL;
}

static void test_churn_on_one_channel(void)
{
    struct churn c1 = {300, 0}, c2 = {300, 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, churn_main, &c1);
    pthread_create(&t2, NULL, churn_main, &c2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(c1.failures == 0 && c2.failures == 0);
    struct inbox in;
    char err[128];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    const char *chans[] = {"t:churn"};
    CHECK(dispatch_subscribe(d, &in, chans, 1, 3000, err, sizeof err) == 0);
    publish("t:churn", "final");
    struct got g = {0};
    CHECK(collect(&in, &g, 1, 0, 3000) == 1);
    CHECK_STR_EQ(g.msg[0], "final");
    dispatch_unsubscribe(d, &in);
    inbox_destroy(&in);
}

struct stream_thread {
    pthread_t tid;
    int idx;
    struct inbox in;
    bool subscribed;
    struct got g;
    pthread_barrier_t *ready;
};

enum { STREAMS = 48, PER_CHANNEL = 100 };

static void *stream_main(void *arg)
{
    struct stream_thread *s = arg;
    char err[128], c0[32], c1[32];
    snprintf(c0, sizeof c0, "t:s%d:0", s->idx);
    snprintf(c1, sizeof c1, "t:s%d:1", s->idx);
    const char *chans[] = {c0, c1};
    s->subscribed = inbox_init(&s->in, err, sizeof err) == 0 &&
                    dispatch_subscribe(d, &s->in, chans, 2, 5000, err, sizeof err) == 0;
    pthread_barrier_wait(s->ready);
    if (s->subscribed)
        collect(&s->in, &s->g, 2 * PER_CHANNEL, 0, 10000);
    return NULL;
}

static void test_many_streams_in_order(void)
{
    static struct stream_thread st[STREAMS];
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, STREAMS + 1);
    for (int i = 0; i < STREAMS; i++) {
        memset(&st[i], 0, sizeof st[i]);
        st[i].idx = i;
        st[i].ready = &ready;
        pthread_create(&st[i].tid, NULL, stream_main, &st[i]);
    }
    pthread_barrier_wait(&ready);
    /* Interleaved across all channels, pipelined. */
    size_t sent = 0;
    for (int k = 0; k < PER_CHANNEL; k++)
        for (int i = 0; i < STREAMS; i++)
            for (int c = 0; c < 2; c++) {
                redisAppendCommand(pub, "PUBLISH t:s%d:%d %d:%d", i, c, c, k);
                sent++;
            }
    for (size_t i = 0; i < sent; i++) {
        redisReply *r = NULL;
        CHECK(redisGetReply(pub, (void **)&r) == REDIS_OK);
        if (r)
            freeReplyObject(r);
    }
    int bad = 0;
    for (int i = 0; i < STREAMS; i++) {
        pthread_join(st[i].tid, NULL);
        CHECK(st[i].subscribed);
        CHECK(st[i].g.n == 2 * PER_CHANNEL);
        int next[2] = {0, 0};
        for (size_t m = 0; m < st[i].g.n && m < 512; m++) {
            int c, k;
            if (sscanf(st[i].g.msg[m], "%d:%d", &c, &k) != 2 || c < 0 || c > 1 ||
                k != next[c]++)
                bad++;
        }
        dispatch_unsubscribe(d, &st[i].in);
        inbox_destroy(&st[i].in);
    }
    CHECK(bad == 0);
    pthread_barrier_destroy(&ready);
}

static void test_unread_inbox_is_cut(void)
{
    struct inbox in;
    char err[128];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    const char *chans[] = {"t:flood"};
    CHECK(dispatch_subscribe(d, &in, chans, 1, 3000, err, sizeof err) == 0);
    char big[4096];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (size_t i = 0; i < INBOX_CAP / (sizeof big - 1) + 8; i++)
        publish("t:flood", big);
    barrier(d); /* the dispatcher has handed every message on (or dropped it) */
    struct got g = {0};
    collect(&in, &g, 1000, INBOX_CUT, 3000);
    CHECK(g.flags & INBOX_CUT);
    /* The connection is still fine for everyone else. */
    CHECK(dispatch_connected(d));
    barrier(d);
    dispatch_unsubscribe(d, &in);
    inbox_destroy(&in);
}

static void test_reconnect_reports_a_gap(void)
{
    struct inbox in;
    char err[128];
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    const char *chans[] = {"t:g1", "t:g2"};
    CHECK(dispatch_subscribe(d, &in, chans, 2, 3000, err, sizeof err) == 0);
    redisReply *r = redisCommand(pub, "CLIENT KILL TYPE pubsub");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1);
    if (r)
        freeReplyObject(r);
    struct got g = {0};
    collect(&in, &g, 1000, INBOX_GAP, 5000);
    CHECK(g.flags & INBOX_GAP);
    publish("t:g2", "after");
    struct got g2 = {0};
    CHECK(collect(&in, &g2, 1, 0, 3000) == 1);
    CHECK_STR_EQ(g2.msg[0], "after");
    dispatch_unsubscribe(d, &in);
    inbox_destroy(&in);
}

static void test_unreachable_redis_times_out(void)
{
    struct rconn_addr nowhere = {.is_unix = true};
    snprintf(nowhere.path, sizeof nowhere.path, "/nonexistent/nova-test.sock");
    char err[128];
    struct dispatch *dd = dispatch_start(&nowhere, err, sizeof err);
    CHECK(dd != NULL);
    if (!dd)
        return;
    struct inbox in;
    CHECK(inbox_init(&in, err, sizeof err) == 0);
    const char *chans[] = {"t:x"};
    long long t0 = now_ms();
    CHECK(dispatch_subscribe(dd, &in, chans, 1, 300, err, sizeof err) == -1);
    long long took = now_ms() - t0;
    CHECK(took >= 290 && took < 1500);
    CHECK(!dispatch_connected(dd));
    dispatch_unsubscribe(dd, &in);
    dispatch_stop(dd);
    inbox_destroy(&in);
}

int main(int argc, char **argv)
{
    char err[256];
    if (argc < 2 || rconn_parse_url(argv[1], &addr, err, sizeof err) < 0 ||
        !(pub = rconn_connect(&addr, 2000, err, sizeof err))) {
        fprintf(stderr, "usage: test_fcgi_dispatch REDIS_URL (%s)\n", argc < 2 ? "" : err);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    d = dispatch_start(&addr, err, sizeof err);
    if (!d) {
        fprintf(stderr, "dispatch_start: %s\n", err);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_subscribe_and_receive_in_order);
    RUN(test_two_inboxes_one_channel);
    RUN(test_churn_on_one_channel);
    RUN(test_many_streams_in_order);
    RUN(test_unread_inbox_is_cut);
    RUN(test_reconnect_reports_a_gap);
    RUN(test_unreachable_redis_times_out);
    dispatch_stop(d);
    redisFree(pub);
    return test_summary();
}
