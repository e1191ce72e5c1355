/* test_max_streams: NOVA_MAX_STREAMS and the descriptor limits (issue 15, item 3). Two whole
 * stacks (max_streams.sh), each one nova-fcgi child with NOVA_MAX_STREAMS=3: stack 1 relays
 * its streams from their threads, stack 2 from the child's loop. On each:
 *
 *   - 3 chats held open (the simulator's first token after seconds): all have `meta`;
 *   - a 4th chat is answered 503 `unavailable` (API.md's error body) with Retry-After: 1 at
 *     once, and nothing was started for it: no job in either queue, no transcript;
 *   - a resume of one of the held chats is refused the same way (a resume holds a place too);
 *   - /status says max_streams_per_child 3 and streams_refused 2, /api/metrics
 *     nova_streams_refused_total 2;
 *   - once the first of the 3 ends, a new chat is accepted and answered to its `done`.
 *
 * And the descriptors: the suite starts the stacks with a soft open-file limit below the hard
 * one, and every nova-fcgi process runs with its soft limit raised to the hard one; a nova-fcgi
 * started with a hard limit below NOVA_FCGI_CHILDREN x (NOVA_MAX_STREAMS + 256) says so at
 * start. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "../unit/test.h"
#include "core/clock.h"
#include "sse_client.h"
#include "stack_util.h"

#define HELD 3
#define MSG "길드에 가입하는 방법"

static const char *run_dir; /* stack 1's, for the pid files of the descriptor checks */

static long long redis_int(redisContext *R, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(R, fmt, arg);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

/* Whether any entry of the queue stream names request id rid (its jobs' ids start with it). */
static bool queue_mentions(redisContext *R, const char *queue, const char *rid)
{
    redisReply *r = redisCommand(R, "XRANGE %s - +", queue);
    bool found = false;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && !found; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
            continue;
        redisReply *f = e->element[1];
        for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k < f->elements; k++)
            if (f->element[k]->type == REDIS_REPLY_STRING && strstr(f->element[k]->str, rid))
                found = true;
    }
    if (r)
        freeReplyObject(r);
    return found;
}

struct held {
    struct stream *s[HELD];
};

static int all_have_meta(void *user)
{
    struct held *h = user;
    for (int i = 0; i < HELD; i++)
        if (h->s[i]->n == 0)
            return 0;
    return 1;
}

static int first_finished(void *user)
{
    return ((struct held *)user)->s[0]->finished;
}

/* GET or POST on base; checks the 503 `unavailable` with Retry-After: 1, in under a second.
 * Writes the error's request_id to rid. */
static void expect_full(const char *what, const char *method, const char *url,
                        const char *const *headers, const char *body, char *rid, size_t rn)
{
    char retry[32] = "";
    long long t0 = clock_mono_ms();
    struct http_reply r;
    http_do(method, url, headers, body, body ? strlen(body) : 0, &r);
    long long ms = clock_mono_ms() - t0;
    json_object *o = json_tokener_parse(buf_cstr(&r.body));
    json_object *err = jget(o, "error");
    const char *id = jstr(err, "request_id");
    snprintf(rid, rn, "%s", id ? id : "");
    bool has_retry = http_header(&r, "Retry-After", retry, sizeof retry);
    printf("  %s: %ld in %lld ms, Retry-After %s, %s\n", what, r.status, ms,
           has_retry ? retry : "(none)", buf_cstr(&r.body));
    CHECK(r.status == 503);
    CHECK(jstr_is(err, "code", "unavailable") && jstr(err, "message") != NULL && id != NULL);
    CHECK(has_retry && strcmp(retry, "1") == 0);
    CHECK(ms < 1000);
    if (o)
        json_object_put(o);
    http_reply_free(&r);
}

static void run_limit(const char *base, const char *rdir, const char *mode)
{
    printf("  -- %s mode (%s)\n", mode, base);
    char sock[700], url[700];
    snprintf(sock, sizeof sock, "%s/redis.sock", rdir);
    redisContext *R = redis_at(sock);
    CHECK(R != NULL);
    if (!R)
        return;
    struct held h;
    struct loop l;
    loop_init(&l);
    for (int i = 0; i < HELD; i++) {
        char msg[256];
        /* The first ends after 4 s; the other two stay open until the suite drops them. */
        snprintf(msg, sizeof msg, MSG " (%s %d) #sim:ttft=%d #sim:len=3 #sim:tps=100", mode, i,
                 i == 0 ? 4000 : 60000);
        h.s[i] = chat_new_on(base, msg, "ko");
        loop_add(&l, h.s[i]);
    }
    loop_run(&l, 10000, all_have_meta, &h);
    CHECK(all_have_meta(&h));
    struct chat held1;
    chat_read(h.s[1], &held1);
    printf("  %d chats held open; chat 2 is %s\n", HELD, held1.request_id);

    long long micro0 = redis_int(R, "XLEN %s", "nova:jobs:{micro}"),
              pro0 = redis_int(R, "XLEN %s", "nova:jobs:{pro}");
    char rid[80] = "", body[512];
    snprintf(body, sizeof body, "{\"message\":\"" MSG " (%s, one too many) #sim:len=2\","
             "\"ui_lang\":\"ko\"}", mode);
    const char *json_hdr[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/api/chat", base);
    expect_full("a 4th chat", "POST", url, json_hdr, body, rid, sizeof rid);
    char key[200];
    snprintf(key, sizeof key, "nova:log:%s", rid);
    CHECK(rid[0] && redis_int(R, "EXISTS %s", key) == 0);
    CHECK(rid[0] && !queue_mentions(R, "nova:jobs:{micro}", rid) &&
          !queue_mentions(R, "nova:jobs:{pro}", rid));
    CHECK(redis_int(R, "XLEN %s", "nova:jobs:{micro}") == micro0);
    CHECK(redis_int(R, "XLEN %s", "nova:jobs:{pro}") == pro0);

    char lei[160];
    snprintf(lei, sizeof lei, "Last-Event-ID: %s", held1.meta_id);
    const char *resume_hdr[] = {lei, NULL};
    snprintf(url, sizeof url, "%s/api/chat/%s/events", base, held1.request_id);
    expect_full("a resume of chat 2", "GET", url, resume_hdr, NULL, rid, sizeof rid);
    chat_free(&held1);

    struct http_reply st;
    snprintf(url, sizeof url, "%s/status?json", base);
    http_do("GET", url, NULL, NULL, 0, &st);
    json_object *so = json_tokener_parse(buf_cstr(&st.body));
    json_object *v;
    long long max = json_object_object_get_ex(so, "max_streams_per_child", &v)
                        ? json_object_get_int64(v) : -1;
    long long refused = json_object_object_get_ex(so, "streams_refused", &v)
                            ? json_object_get_int64(v) : -1;
    printf("  /status: max_streams_per_child %lld, streams_refused %lld\n", max, refused);
    CHECK(st.status == 200 && max == 3 && refused == 2);
    if (so)
        json_object_put(so);
    http_reply_free(&st);
    snprintf(url, sizeof url, "%s/api/metrics", base);
    http_do("GET", url, NULL, NULL, 0, &st);
    CHECK(st.status == 200 && strstr(buf_cstr(&st.body), "\nnova_streams_refused_total 2\n"));
    http_reply_free(&st);

    /* The first chat ends: its place is free again. */
    loop_run(&l, 20000, first_finished, &h);
    struct chat c0;
    chat_read(h.s[0], &c0);
    CHECK(h.s[0]->finished && h.s[0]->status == 200 && c0.done_last && c0.n_errors == 0);
    chat_free(&c0);
    char msg[256];
    snprintf(msg, sizeof msg, MSG " (%s, after one ended) #sim:len=2 #sim:tps=200", mode);
    struct stream *next = chat_new_on(base, msg, "ko");
    drive_one(next, 20000);
    struct chat cn;
    chat_read(next, &cn);
    printf("  after the first ended: a new chat %ld, %zu events, done %s\n", next->status,
           next->n, cn.done_last ? "last" : "missing");
    CHECK(next->status == 200 && cn.meta && cn.done_last && cn.n_errors == 0);
    chat_free(&cn);
    stream_free(next);

    loop_free(&l); /* the two still held are dropped: their streams end as clients gone */
    for (int i = 0; i < HELD; i++)
        stream_free(h.s[i]);
    redisFree(R);
}

/* The "Max open files" soft and hard limits of pid; false when unreadable. */
static bool fd_limits(pid_t pid, unsigned long long *soft, unsigned long long *hard)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = false;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Max open files", 14) == 0)
            ok = sscanf(line + 14, "%llu %llu", soft, hard) == 2;
    fclose(f);
    return ok;
}

static void test_soft_limit_raised(void)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    printf("  the suite's own limit: soft %llu, hard %llu\n", (unsigned long long)rl.rlim_cur,
           (unsigned long long)rl.rlim_max);
    pid_t master = read_pid_file(run_dir, "nova-fcgi"), kids[8];
    size_t n = master > 0 ? proc_children(master, kids, 8) : 0;
    CHECK(master > 0 && n == 1);
    pid_t all[9] = {master};
    for (size_t i = 0; i < n; i++)
        all[i + 1] = kids[i];
    for (size_t i = 0; i <= n; i++) {
        unsigned long long soft = 0, hard = 0;
        CHECK(fd_limits(all[i], &soft, &hard));
        printf("  nova-fcgi %s %d: open files soft %llu, hard %llu\n", i ? "child" : "master",
               (int)all[i], soft, hard);
        CHECK(soft == hard && soft > 0);
    }
}

/* Waits (bounded) for text in the file at path. */
static bool file_has_within(const char *path, const char *text, long ms)
{
    long long deadline = clock_mono_ms() + ms;
    for (;;) {
        FILE *f = fopen(path, "r");
        bool found = false;
        if (f) {
            char line[4096];
            while (!found && fgets(line, sizeof line, f))
                found = strstr(line, text) != NULL;
            fclose(f);
        }
        if (found)
            return true;
        if (clock_mono_ms() > deadline)
            return false;
        sleep_ms(20); /* no event tells a log line; bounded */
    }
}

/* A nova-fcgi whose hard limit (400) is below 2 x (10000 + 256): the soft limit (200) is raised
 * to it, and the start says that it is short. Its own run dir; stack 1's Redis and index. */
static void test_short_limit_warned(void)
{
    const char *bin = getenv("NOVA_BIN");
    CHECK(bin != NULL);
    if (!bin)
        return;
    char dir[800], sock[900], log[900], kb[900], redis[900], fcgi[900];
    snprintf(dir, sizeof dir, "%s/../fdcheck", run_dir);
    mkdir(dir, 0700);
    snprintf(sock, sizeof sock, "NOVA_FCGI_SOCKET=%s/nova-fcgi.sock", dir);
    snprintf(log, sizeof log, "%s/nova-fcgi.log", dir);
    snprintf(kb, sizeof kb, "NOVA_KB_DB=%s/kb.sqlite", run_dir);
    snprintf(redis, sizeof redis, "NOVA_REDIS_URL=unix://%s/redis.sock", run_dir);
    snprintf(fcgi, sizeof fcgi, "%s/nova-fcgi", bin);
    char rund[900], asan[600];
    snprintf(rund, sizeof rund, "NOVA_RUN_DIR=%s", dir);
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s",
             getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
    char *envp[] = {rund, sock, kb, redis, "NOVA_FCGI_CHILDREN=2", "NOVA_MAX_STREAMS=10000",
                    "NOVA_FCGI_THREADS=2", "NOVA_LOG_LEVEL=info", asan, NULL};
    char *argv[] = {"/usr/bin/prlimit", "--nofile=200:400", "--", fcgi, NULL};
    pid_t pid = spawn_logged(argv, envp, log, NULL);
    CHECK(pid > 0);
    bool raised = file_has_within(log, "open-file limit raised from 200 to the hard limit 400",
                                  10000);
    bool warned = file_has_within(log, "open-file limit 400 is below the 20512", 2000);
    bool serving = file_has_within(log, "child ready", 10000);
    printf("  nova-fcgi under prlimit 200:400: raised %s, warned %s, serving %s\n",
           raised ? "yes" : "no", warned ? "yes" : "no", serving ? "yes" : "no");
    CHECK(raised && warned && serving);
    if (pid > 0) {
        kill(pid, SIGTERM);
        int st = reap_within(pid, 15000);
        if (st < 0) {
            kill(pid, SIGKILL);
            reap_within(pid, 5000);
        }
        CHECK(st >= 0);
    }
}

static void test_limit_thread_mode(void)
{
    run_limit(getenv("NOVA_URL"), getenv("NOVA_RUN_DIR"), "thread");
}

static void test_limit_loop_mode(void)
{
    run_limit(getenv("NOVA_URL2"), getenv("NOVA_RUN_DIR2"), "loop");
}

int main(void)
{
    run_dir = getenv("NOVA_RUN_DIR");
    if (!getenv("NOVA_URL") || !run_dir || !getenv("NOVA_URL2") || !getenv("NOVA_RUN_DIR2")) {
        fprintf(stderr, "test_max_streams: run max_streams.sh (two stacks)\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_soft_limit_raised);
    RUN(test_limit_thread_mode);
    RUN(test_limit_loop_mode);
    RUN(test_short_limit_warned);
    curl_global_cleanup();
    return test_summary();
}
