/* test_admission: every request that would queue paid work is refused at once with 429
 * `overloaded` and Retry-After when the queue it needs is full, before anything is queued
 * (issue 16, item 2). The stack runs with NOVA_MAX_QUEUE_DEPTH=1; the pro worker is stopped
 * (SIGSTOP) and two entries wait in nova:jobs:{pro}, so the pro backlog is 2:
 *   - POST /api/translate (a Pro Converse call waited for) used to be queued with no check and
 *     to hang until its 30 s timeout;
 *   - an English chat (the answers and its translation go to pro);
 *   - a Korean chat in the English UI about a document only in English, whose search is not
 *     sure of itself: it would translate first (a Pro job it waits for) before its answers.
 * Each must be answered 429 `overloaded` with Retry-After within a second, and the pro
 * stream must hold exactly what it held before. Then the worker goes on. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../unit/test.h"
#include "core/clock.h"
#include "stack_util.h"

static const char *base_url, *run_dir;
static redisContext *R;

static long long pro_len(void)
{
    redisReply *r = redisCommand(R, "XLEN nova:jobs:{pro}");
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

/* Whether every thread of pid is stopped: a SIGSTOP stops a process's threads one by one, so
 * kill() returning is not yet "stopped". */
static bool all_threads_stopped(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool stopped = true, any = false;
    struct dirent *e;
    while ((e = readdir(d)) && stopped) {
        if (e->d_name[0] == '.')
            continue;
        char path[384], line[512];
        snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[k] = '\0';
        const char *rp = strrchr(line, ')');
        any = true;
        stopped = rp && rp[1] == ' ' && (rp[2] == 'T' || rp[2] == 't');
    }
    closedir(d);
    return any && stopped;
}

/* POSTs body to path and checks the 429 overloaded reply, its speed and that nothing was
 * queued. */
static void expect_refused(const char *what, const char *path, const char *body)
{
    char url[512], retry[32] = "";
    snprintf(url, sizeof url, "%s%s", base_url, path);
    const char *headers[] = {"Content-Type: application/json", NULL};
    long long before = pro_len(), t0 = clock_mono_ms();
    struct http_reply r;
    http_do("POST", url, headers, body, strlen(body), &r);
    long long ms = clock_mono_ms() - t0;
    bool overloaded = strstr(buf_cstr(&r.body), "\"code\":\"overloaded\"") != NULL;
    printf("  %s: %ld in %lld ms, Retry-After %s, pro stream %lld -> %lld\n", what, r.status,
           ms, http_header(&r, "Retry-After", retry, sizeof retry) ? retry : "(none)", before,
           pro_len());
    CHECK(r.status == 429 && overloaded);
    CHECK(retry[0] != '\0');
    CHECK(ms < 1000);
    CHECK(pro_len() == before);
    http_reply_free(&r);
}

static void test_full_pro_queue_refuses_paid_work(void)
{
    pid_t pro = read_pid_file(run_dir, "nova-worker-pro");
    CHECK(pro > 0 && kill(pro, SIGSTOP) == 0);
    long long deadline = clock_mono_ms() + 5000;
    while (!all_threads_stopped(pro) && clock_mono_ms() < deadline)
        usleep(2000); /* no event tells a stop; bounded */
    CHECK(all_threads_stopped(pro));
    for (int i = 0; i < 2; i++) {
        redisReply *r = redisCommand(R, "XADD nova:jobs:{pro} * job admission-filler");
        CHECK(r && r->type == REDIS_REPLY_STRING);
        if (r)
            freeReplyObject(r);
    }
    expect_refused("translate", "/api/translate",
                   "{\"text\":\"how do I reset my password\",\"target\":\"ko\"}");
    expect_refused("English chat", "/api/chat",
                   "{\"message\":\"How do I reset my password?\",\"ui_lang\":\"en\"}");
    expect_refused("Korean chat about an English-only document", "/api/chat",
                   "{\"message\":\"폴의 추천 장비는 뭔가요?\",\"ui_lang\":\"en\"}");
    if (pro > 0)
        kill(pro, SIGCONT); /* it takes the fillers as dead letters: unreadable jobs */
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    char sock[700];
    snprintf(sock, sizeof sock, "%s/redis.sock", run_dir ? run_dir : ".");
    if (!base_url || !run_dir || !(R = redis_at(sock))) {
        fprintf(stderr, "test_admission: NOVA_URL, NOVA_RUN_DIR and the stack's Redis needed\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_full_pro_queue_refuses_paid_work);
    redisFree(R);
    curl_global_cleanup();
    return test_summary();
}
