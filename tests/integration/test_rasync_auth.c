/* test_rasync_auth: fcgi-app/rasync.c with a password in the URL, against the requirepass
 * Redis that tests/integration/redis_tls.sh starts (argv[1]: its port, argv[2]: the password).
 * Right password: READY only after AUTH, commands answered, on both kinds of connection.
 * Wrong password: never READY, IDLE naming WRONGPASS, and the tries back off (a handful in a
 * second, not one per loop turn). rediss://: refused on the loop with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "../../fcgi-app/loop.h"
#include "../../fcgi-app/rasync.h"
#include "../unit/test.h"
#include "core/clock.h"
#include "redis/rconn.h"

static struct loop *L;
static const char *port, *password;

struct seen {
    int ready, idle, replies;
    char why[200];
    char last[64];
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

static void on_reply(struct rasync *ra, const redisReply *r, void *arg)
{
    (void)ra;
    struct seen *s = arg;
    if (r) {
        s->replies++;
        snprintf(s->last, sizeof s->last, "%s", r->str ? r->str : "");
    }
}

static void on_push(struct rasync *ra, const redisReply *r, void *arg)
{
    (void)ra;
    (void)r;
    struct seen *s = arg;
    s->replies++;
}

static void run_until(const int *flag, int want, long long ms)
{
    long long until = clock_mono_ms() + ms;
    char err[128];
    while (*flag < want && clock_mono_ms() < until)
        CHECK(loop_once(L, until - clock_mono_ms(), err, sizeof err) == 0);
}

static struct rasync *open_url(const char *url, enum rasync_kind kind, struct seen *s)
{
    struct rconn_addr a;
    char err[256];
    if (rconn_parse_url(url, &a, err, sizeof err) < 0) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    struct rasync_opts o = {kind, 1000, 2000, 0, 100, 800};
    return rasync_new(L, &a, &o, on_state, kind == RASYNC_PUBSUB ? on_push : NULL, s);
}

static void test_right_password(void)
{
    char url[400];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%s/3", password, port);
    struct seen s = {0}, p = {0};
    struct rasync *ra = open_url(url, RASYNC_COMMANDS, &s);
    struct rasync *ps = open_url(url, RASYNC_PUBSUB, &p);
    CHECK(ra && ps);
    if (!ra || !ps)
        return;
    run_until(&s.ready, 1, 3000);
    run_until(&p.ready, 1, 3000);
    CHECK(s.ready == 1 && s.idle == 0 && p.ready == 1 && p.idle == 0);
    const char *argv[1] = {"PING"};
    size_t len[1] = {4};
    char err[128];
    CHECK(rasync_command(ra, on_reply, &s, 1, argv, len, err, sizeof err) == 0);
    run_until(&s.replies, 2, 3000); /* SELECT's and PING's */
    CHECK_STR_EQ(s.last, "PONG");
    const char *ch[1] = {"nova:test:rasync-auth"};
    CHECK(rasync_subscribe(ps, ch, NULL, 1, err, sizeof err) == 0);
    run_until(&p.replies, 1, 3000); /* the subscribe acknowledgement */
    CHECK(p.replies == 1);
    rasync_free(ra);
    rasync_free(ps);
}

static void test_wrong_password_backs_off(void)
{
    char url[400];
    snprintf(url, sizeof url, "redis://:wrong-%s@127.0.0.1:%s", password, port);
    struct seen s = {0};
    struct rasync *ra = open_url(url, RASYNC_COMMANDS, &s);
    CHECK(ra != NULL);
    if (!ra)
        return;
    int never = 0;
    run_until(&never, 1, 1500);
    printf("  wrong password: %d tries in 1.5 s, never ready; why: %s\n", s.idle, s.why);
    CHECK(s.ready == 0);
    CHECK(s.idle >= 2 && s.idle <= 6); /* 100, 200, 400, 800 ms apart */
    CHECK(strstr(s.why, "WRONGPASS") != NULL || strstr(s.why, "invalid") != NULL);
    CHECK(strstr(s.why, password) == NULL);
    rasync_free(ra);
}

static void test_tls_refused_on_the_loop(void)
{
    char url[400];
    snprintf(url, sizeof url, "rediss://:%s@127.0.0.1:%s", password, port);
    struct seen s = {0};
    struct rasync *ra = open_url(url, RASYNC_COMMANDS, &s);
    CHECK(ra != NULL);
    if (!ra)
        return;
    run_until(&s.idle, 1, 2000);
    CHECK(s.ready == 0 && strstr(s.why, "not supported") != NULL);
    rasync_free(ra);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s REDIS_PORT PASSWORD (run by redis_tls.sh)\n", argv[0]);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    port = argv[1];
    password = argv[2];
    char err[128];
    L = loop_new(err, sizeof err);
    if (!L) {
        fprintf(stderr, "loop_new: %s\n", err);
        return 1;
    }
    RUN(test_right_password);
    RUN(test_wrong_password_backs_off);
    RUN(test_tls_refused_on_the_loop);
    loop_free(L);
    return test_summary();
}
