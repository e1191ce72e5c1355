/* test_redis_tls: a whole stack on a Redis reached over TLS (rediss://) as an ACL user, driven
 * by tests/integration/redis_tls.sh, which makes the CA and the server certificate and starts
 * redis-server with --tls-port only. Shown here: chats stream byte-exact through it (the jobs
 * read back over TLS with the same rconn code the programs use); /api/health is 200; when the
 * user's password is changed under the running stack and its connections are killed, health
 * is 503 naming the refusal and the stack makes no retry storm (AUTH failures and new
 * connections counted in Redis's INFO stats while health is asked hundreds of times); when the
 * password is back, the stack recovers by itself. Last, what TLS costs: PING round trips and
 * a PUBLISH relayed to a subscriber, over TLS and over plain TCP (REDIS_PLAIN_URL). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test.h"
#include "redis/rconn.h"
#include "redis_jobs.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base_url, *redis_url, *admin_url, *plain_url, *ca_file, *user, *password;

static redisContext *connect_url(const char *url)
{
    struct rconn_addr a;
    char err[512];
    if (rconn_parse_url(url, &a, err, sizeof err) < 0) {
        fprintf(stderr, "  %s\n", err);
        return NULL;
    }
    if (a.tls)
        snprintf(a.tls_ca_file, sizeof a.tls_ca_file, "%s", ca_file);
    redisContext *c = rconn_connect(&a, 5000, err, sizeof err);
    if (!c)
        fprintf(stderr, "  connect: %s\n", err);
    return c;
}

static long long info_stat(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "INFO stats");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        char pat[80];
        snprintf(pat, sizeof pat, "\r\n%s:", key);
        const char *p = strstr(r->str, pat);
        if (p)
            v = atoll(p + strlen(pat));
    }
    if (r)
        freeReplyObject(r);
    return v;
}

/* AUTH failures Redis logged since the last ACL LOG RESET: the "count" of each ACL LOG entry
 * whose reason is "auth" (Redis 7.0 folds repeats of one entry into its count). */
static long long auth_failures(redisContext *c)
{
    redisReply *r = redisCommand(c, "ACL LOG 1000");
    long long n = -1;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        n = 0;
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *e = r->element[i];
            long long count = 0;
            bool auth = false;
            for (size_t k = 0; e->type == REDIS_REPLY_ARRAY && k + 1 < e->elements; k += 2) {
                const char *key = e->element[k]->str;
                redisReply *v = e->element[k + 1];
                if (key && strcmp(key, "count") == 0 && v->type == REDIS_REPLY_INTEGER)
                    count = v->integer;
                if (key && strcmp(key, "reason") == 0 && v->str && strcmp(v->str, "auth") == 0)
                    auth = true;
            }
            if (auth)
                n += count;
        }
    }
    if (r)
        freeReplyObject(r);
    return n;
}

/* GET /api/health: the status, and the body in out. */
static long health(char *out, size_t n)
{
    char url[600];
    snprintf(url, sizeof url, "%s/api/health", base_url);
    struct http_reply r;
    http_do("GET", url, NULL, NULL, 0, &r);
    snprintf(out, n, "%.*s", (int)r.body.len, r.body.data ? r.body.data : "");
    long st = r.status;
    http_reply_free(&r);
    return st;
}

static bool health_within(long want, int ms, char *body, size_t n)
{
    double end = now_ms() + ms;
    for (;;) {
        if (health(body, n) == want)
            return true;
        if (now_ms() > end)
            return false;
        sleep_ms(100);
    }
}

static void test_chats_stream_byte_exact_over_tls(void)
{
    static const char *const msgs[] = {
        "폴이 레벨업을 못 해요. #sim:tps=400 #sim:len=60",
        "How do I reset my password? #sim:tps=400 #sim:len=80",
        "결제가 두 번 됐어요. 환불 가능한가요? #sim:tps=400 #sim:len=40",
        "My guild chat is gone after the update #sim:tps=400 #sim:len=70",
        "아이템이 사라졌어요 #sim:tps=400 #sim:len=50",
        "Where are the server maintenance notes? #sim:tps=400 #sim:len=30",
    };
    enum { N = sizeof msgs / sizeof msgs[0] };
    struct stream *v[N];
    for (size_t i = 0; i < N; i++)
        v[i] = chat_new_on(base_url, msgs[i], i % 2 ? "en" : "ko");
    drive(v, N, 30000, NULL, NULL);
    redisContext *r = connect_url(redis_url);
    CHECK(r != NULL);
    struct jobset js = {0};
    if (r) {
        jobset_load(r, "micro", &js);
        jobset_load(r, "pro", &js);
    }
    size_t exact = 0, streams = 0;
    for (size_t i = 0; i < N; i++) {
        struct chat c;
        chat_read(v[i], &c);
        CHECK(v[i]->finished && v[i]->status == 200 && c.done_last && c.n_done == 1);
        CHECK(c.ids_increasing && c.utf8_ok && c.json_ok && c.n_errors == 0);
        for (size_t k = 0; k < c.n_ms; k++) {
            struct model_stream *m = &c.ms[k];
            const struct job *j = jobset_find(&js, c.request_id, m->phase, m->model);
            char why[512] = "no job in Redis";
            streams++;
            if (j && m->done && sim_text_is(j, m->text.data, m->text.len, why, sizeof why) == 0)
                exact++;
            else
                fprintf(stderr, "  %s %s %s: %s\n", c.request_id, m->phase, m->model, why);
        }
        chat_free(&c);
        stream_free(v[i]);
    }
    printf("  %zu of %zu model streams byte-exact over rediss://\n", exact, streams);
    CHECK(streams >= N && exact == streams);
    jobset_free(&js);
    if (r)
        redisFree(r);
}

static void test_health_ok_over_tls(void)
{
    char body[2048];
    CHECK(health_within(200, 10000, body, sizeof body));
    CHECK(strstr(body, "\"redis\":\"ok\"") != NULL);
}

/* Runs cmd on the admin connection; true when Redis said OK (or a number). */
static bool admin(redisContext *a, const char *fmt, const char *arg1, const char *arg2)
{
    redisReply *r = redisCommand(a, fmt, arg1, arg2);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        fprintf(stderr, "  %s: %s\n", fmt, r ? r->str : a->errstr);
    if (r)
        freeReplyObject(r);
    return ok;
}

static void test_wrong_password_is_503_and_no_retry_storm(void)
{
    redisContext *a = connect_url(admin_url);
    CHECK(a != NULL);
    if (!a)
        return;
    char newpw[64];
    snprintf(newpw, sizeof newpw, ">rotated-%ld", (long)getpid());
    CHECK(admin(a, "ACL SETUSER %s resetpass %s", user, newpw));
    CHECK(admin(a, "CLIENT KILL USER %s", user, ""));
    char body[2048];
    bool down = health_within(503, 10000, body, sizeof body);
    CHECK(down);
    printf("  health after the password changed: %.300s\n", body);
    CHECK(strstr(body, "WRONGPASS") != NULL || strstr(body, "AUTH") != NULL);
    CHECK(strstr(body, password) == NULL);

    /* A storm would be one AUTH per request: ask health 300 times in a few seconds. */
    CHECK(admin(a, "ACL LOG RESET", "", ""));
    long long auth0 = auth_failures(a);
    long long conn0 = info_stat(a, "total_connections_received");
    double t0 = now_ms();
    int n503 = 0;
    for (int i = 0; i < 300; i++) {
        if (health(body, sizeof body) == 503)
            n503++;
        sleep_ms(10);
    }
    double secs = (now_ms() - t0) / 1000.0;
    long long auth1 = auth_failures(a);
    long long conn1 = info_stat(a, "total_connections_received");
    printf("  over %.1f s and 300 health requests (%d answered 503): %lld AUTH failures, "
           "%lld new connections\n", secs, n503, auth1 - auth0, conn1 - conn0);
    CHECK(n503 == 300);
    /* About 17 connection owners (each child's pool and subscriber, each worker's reader,
     * subscriber and pool), each backing off from 500 ms: some 3 tries each. A storm is at
     * least one per health request. */
    CHECK(auth0 == 0 && auth1 > 0 && auth1 - auth0 <= 90);
    CHECK(conn1 - conn0 <= 100);

    /* The password back: the stack comes back by itself (the backoff is capped). */
    char oldpw[300];
    snprintf(oldpw, sizeof oldpw, ">%s", password);
    CHECK(admin(a, "ACL SETUSER %s %s", user, oldpw));
    double t1 = now_ms();
    bool up = health_within(200, 30000, body, sizeof body);
    CHECK(up);
    printf("  healthy again %.1f s after the password was restored\n", (now_ms() - t1) / 1000);
    redisFree(a);
}

/* ---- what TLS costs ------------------------------------------------------------------------ */

static double ping_us(redisContext *c, int n)
{
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        redisReply *r = redisCommand(c, "PING");
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    return (now_ms() - t0) * 1000.0 / n;
}

/* A 60-byte delta PUBLISHed and read by a subscriber, one at a time: the relay's hop. */
static double relay_us(const char *url, int n)
{
    redisContext *sub = connect_url(url), *pub = connect_url(url);
    double us = -1;
    if (!sub || !pub)
        goto out;
    redisReply *r = redisCommand(sub, "SUBSCRIBE nova:bench:tls");
    if (!r)
        goto out;
    freeReplyObject(r);
    static const char delta[] = "{\"type\":\"delta\",\"model\":\"micro\",\"text\":\"0123456789ab\"}";
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        r = redisCommand(pub, "PUBLISH nova:bench:tls %s", delta);
        if (!r)
            goto out;
        freeReplyObject(r);
        void *m = NULL;
        if (redisGetReply(sub, &m) != REDIS_OK)
            goto out;
        freeReplyObject(m);
    }
    us = (now_ms() - t0) * 1000.0 / n;
out:
    if (sub)
        redisFree(sub);
    if (pub)
        redisFree(pub);
    return us;
}

static void test_tls_cost(void)
{
    redisContext *t = connect_url(redis_url), *p = plain_url ? connect_url(plain_url) : NULL;
    CHECK(t != NULL);
    if (!t || !p) {
        if (t)
            redisFree(t);
        if (p)
            redisFree(p);
        return;
    }
    enum { N = 5000 };
    ping_us(t, 200); /* warm */
    ping_us(p, 200);
    double tp = ping_us(t, N), pp = ping_us(p, N);
    double tr = relay_us(redis_url, N), pr = relay_us(plain_url, N);
    printf("  bench: PING round trip %.1f us over TLS, %.1f us plain TCP (+%.1f us)\n", tp, pp,
           tp - pp);
    printf("  bench: PUBLISH -> subscriber relay %.1f us over TLS, %.1f us plain (+%.1f us)\n",
           tr, pr, tr - pr);
    CHECK(tp > 0 && pp > 0 && tr > 0 && pr > 0);
    redisFree(t);
    redisFree(p);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    redis_url = getenv("REDIS_URL");
    admin_url = getenv("REDIS_ADMIN_URL");
    plain_url = getenv("REDIS_PLAIN_URL");
    ca_file = getenv("REDIS_CA");
    user = getenv("REDIS_USER");
    password = getenv("REDIS_PASSWORD");
    if (!base_url || !redis_url || !admin_url || !ca_file || !user || !password) {
        fprintf(stderr, "test_redis_tls: run it through tests/integration/redis_tls.sh\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_health_ok_over_tls);
    RUN(test_chats_stream_byte_exact_over_tls);
    RUN(test_wrong_password_is_503_and_no_retry_storm);
    RUN(test_tls_cost);
    curl_global_cleanup();
    return test_summary();
}
