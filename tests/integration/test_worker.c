/* test_worker: nova-worker against a real Redis and bedrock-sim.
 *
 * tests/integration/worker.sh starts redis-server (unix socket), bedrock-sim and three workers
 * (micro, pro, kb; ids test-<queue>) and passes REDIS_SOCK, SIM_URL, WORKER_DIR (where each
 * worker's <queue>.pid and, once it has exited, <queue>.exit are) and WORKER_DRAIN_S (the pro
 * worker's NOVA_DRAIN_SECONDS). The test plays nova-fcgi: it subscribes to nova:out:<job>
 * first, XADDs jobs, and checks every byte against the simulator's own model
 * (sim_model_reply on the very body the worker sends). The SIGTERM tests come last: they stop
 * the workers. Polling loops here are the test's own bounded waits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_harness.h"

static long drain_s; /* WORKER_DRAIN_S */

/* ---- tests ------------------------------------------------------------------------------ */

static void test_heartbeats(void)
{
    static const char *const queues[] = {"micro", "pro", "kb"};
    for (int i = 0; i < 3; i++) {
        char path[512], id[64], key[KEY_MAX], pid[32] = "";
        snprintf(path, sizeof path, "%s/%s.pid", worker_dir, queues[i]);
        FILE *f = fopen(path, "r");
        CHECK(f && fgets(pid, sizeof pid, f));
        if (f)
            fclose(f);
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(id, sizeof id, "test-%s", queues[i]);
        key_worker(key, sizeof key, id);
        redisReply *r = redisCommand(R, "HGETALL %s", key);
        CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 16);
        long long beat = 0, started = 0;
        bool q_ok = false, pid_ok = false, host_ok = false;
        for (size_t k = 0; r && k + 1 < r->elements; k += 2) {
            const char *name = r->element[k]->str, *v = r->element[k + 1]->str;
            q_ok |= strcmp(name, "queue") == 0 && strcmp(v, queues[i]) == 0;
            pid_ok |= strcmp(name, "pid") == 0 && strcmp(v, pid) == 0;
            host_ok |= strcmp(name, "host") == 0 && v[0];
            if (strcmp(name, "beat_ms") == 0)
                beat = atoll(v);
            if (strcmp(name, "started_ms") == 0)
                started = atoll(v);
        }
        CHECK(q_ok && pid_ok && host_ok);
        CHECK(started > 0 && started <= beat && epoch_ms() - beat < 10000);
        if (r)
            freeReplyObject(r);
        r = redisCommand(R, "PTTL %s", key);
        CHECK(r && r->integer > 0 && r->integer <= 15000);
        if (r)
            freeReplyObject(r);
        char zkey[KEY_MAX];
        key_workers(zkey, sizeof zkey, test_queue(queues[i]));
        r = redisCommand(R, "ZSCORE %s %s", zkey, id);
        CHECK(r && r->type == REDIS_REPLY_STRING && epoch_ms() - atoll(r->str) < 10000);
        if (r)
            freeReplyObject(r);
    }
}

static void test_micro_and_pro_exact_with_transcript(void)
{
    struct job jobs[2];
    job_make(&jobs[0], "micro", "t1req", "answer", 0, NULL);
    job_make(&jobs[1], "pro", "t1req", "answer", 0, "#sim:tps=400");
    struct tracked t[2] = {{.job = &jobs[0]}, {.job = &jobs[1]}};
    struct listener L;
    listen_start(&L, t, 2); /* subscribed before the jobs exist: nothing can be missed */
    job_queue(&jobs[0], NULL, 0);
    job_queue(&jobs[1], NULL, 0);
    CHECK(listen_until_done(&L, 30000));
    for (int i = 0; i < 2; i++)
        check_answer(&t[i]);
    CHECK(t[0].n_evs > 2 && t[1].n_evs > 2);
    check_log("t1req", t, 2);
    CHECK(pending_drains("micro", 3000) && pending_drains("pro", 3000));
    listen_stop(&L);
    job_free(&jobs[0]);
    job_free(&jobs[1]);
}

static void test_100_concurrent_jobs_exact(void)
{
    enum { N = 100 };
    struct job *jobs = xcalloc(N, sizeof *jobs);
    struct tracked *t = xcalloc(N, sizeof *t);
    for (int i = 0; i < N; i++) {
        char req[32], extra[64];
        snprintf(req, sizeof req, "t2req%03d", i);
        snprintf(extra, sizeof extra, "#sim:len=%d #sim:tps=%d #sim:ttft=%d", 20 + i % 60,
                 200 + (i * 37) % 400, 10 + i % 40);
        job_make(&jobs[i], i % 2 ? "pro" : "micro", req, i % 3 ? "answer" : "staff_ko", i,
                 extra);
        t[i].job = &jobs[i];
    }
    struct listener L;
    listen_start(&L, t, N);
    double t0 = now_ms();
    for (int i = 0; i < N; i++)
        job_queue(&jobs[i], NULL, 0);
    CHECK(listen_until_done(&L, 60000));
    int exact = 0;
    for (int i = 0; i < N; i++)
        exact += check_answer(&t[i]);
    printf("  %d/%d jobs byte-exact in %.0f ms\n", exact, N, now_ms() - t0);
    CHECK(exact == N);
    check_log("t2req007", &t[7], 1);
    CHECK(pending_drains("micro", 3000) && pending_drains("pro", 3000));
    listen_stop(&L);
    for (int i = 0; i < N; i++)
        job_free(&jobs[i]);
    free(jobs);
    free(t);
}

static void test_cancel_stops_a_running_job(void)
{
    struct job j;
    job_make(&j, "pro", "t3req", "answer", 1, "#sim:len=2000 #sim:tps=20 #sim:ttft=50");
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    long aborted = sim_stat("streams_aborted");
    job_queue(&j, NULL, 0);
    double end = now_ms() + 10000;
    while (!t.t_first && !t.done && now_ms() < end)
        listen_pump(&L, 50);
    CHECK(t.t_first > 0 && !t.done);
    char chan[KEY_MAX];
    key_cancel(chan, sizeof chan, QUEUE_PRO);
    double t0 = now_ms();
    redisReply *r = redisCommand(R, "PUBLISH %s %s", chan, j.id);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1); /* the worker listens */
    if (r)
        freeReplyObject(r);
    CHECK(listen_until_done(&L, 3000));
    double took = t.t_end - t0;
    printf("  canceled after %.0f ms\n", took);
    CHECK(took <= 1000);
    CHECK_STR_EQ(t.end_type, "error");
    CHECK_STR_EQ(t.code, "canceled");
    CHECK(!t.retryable);
    CHECK(t.bad == 0);
    end = now_ms() + 3000; /* the simulator notices the closed connection on its own time */
    while (sim_stat("streams_aborted") <= aborted && now_ms() < end)
        pause_ms(20);
    CHECK(sim_stat("streams_aborted") > aborted);
    CHECK(pending_drains("pro", 3000));
    check_log("t3req", &t, 1);
    listen_stop(&L);
    job_free(&j);
}

/* An operator's SCRIPT FLUSH: the next EVALSHA gets NOSCRIPT and must fall back to EVAL. */
static void script_flush(void)
{
    redisReply *r = redisCommand(R, "SCRIPT FLUSH");
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r)
        freeReplyObject(r);
}

/* Jobs that must never reach the simulator: canceled before they were read, and expired. */
static void test_unstarted_jobs_are_answered(void)
{
    script_flush();
    struct job jobs[2];
    job_make(&jobs[0], "micro", "t4req", "answer", 0, NULL);
    job_make(&jobs[1], "micro", "t4exp", "answer", 1, NULL);
    jobs[1].deadline_ms = epoch_ms() - 1000;
    char key[KEY_MAX];
    key_canceled(key, sizeof key, jobs[0].id);
    redisReply *r = redisCommand(R, "SET %s 1 PX 60000", key);
    if (r)
        freeReplyObject(r);
    struct tracked t[2] = {{.job = &jobs[0]}, {.job = &jobs[1]}};
    struct listener L;
    listen_start(&L, t, 2);
    long calls = sim_stat("converse_stream");
    job_queue(&jobs[0], NULL, 0);
    job_queue(&jobs[1], NULL, 0);
    CHECK(listen_until_done(&L, 5000));
    CHECK_STR_EQ(t[0].end_type, "error");
    CHECK_STR_EQ(t[0].code, "canceled");
    CHECK_STR_EQ(t[1].end_type, "error");
    CHECK_STR_EQ(t[1].code, "timeout");
    CHECK(t[0].n_evs == 1 && t[1].n_evs == 1);
    CHECK(sim_stat("converse_stream") == calls);
    CHECK(pending_drains("micro", 3000));
    listen_stop(&L);
    job_free(&jobs[0]);
    job_free(&jobs[1]);
}

static void test_wire_error_becomes_error_event(void)
{
    script_flush();
    struct job jobs[2];
    job_make(&jobs[0], "micro", "t5req", "answer", 0, "#sim:error=ThrottlingException");
    job_make(&jobs[1], "pro", "t5req", "answer", 1, "#sim:stream-error=3");
    struct tracked t[2] = {{.job = &jobs[0]}, {.job = &jobs[1]}};
    struct listener L;
    listen_start(&L, t, 2);
    job_queue(&jobs[0], NULL, 0);
    job_queue(&jobs[1], NULL, 0);
    CHECK(listen_until_done(&L, 15000));
    CHECK_STR_EQ(t[0].code, "throttled");
    CHECK(t[0].retryable);
    CHECK_STR_EQ(t[1].code, "model_error"); /* modelStreamErrorException, after 3 deltas */
    CHECK(t[1].retryable);
    CHECK(t[1].text.len > 0);
    json_object *x;
    CHECK(t[0].end && json_object_object_get_ex(t[0].end, "message", &x) &&
          strstr(json_object_get_string(x), "throttling") != NULL);
    check_log("t5req", t, 2);
    CHECK(pending_drains("micro", 3000) && pending_drains("pro", 3000));
    listen_stop(&L);
    job_free(&jobs[0]);
    job_free(&jobs[1]);
}

/* Returns the entry of nova:dead:{micro} whose "entry" field is id (NULL after 5 s). */
static redisReply *dead_entry(const char *id)
{
    double end = now_ms() + 5000;
    while (now_ms() < end) {
        redisReply *r = redisCommand(R, "XRANGE nova:dead:{micro} - +");
        for (size_t i = 0; r && i < r->elements; i++) {
            redisReply *f = r->element[i]->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (strcmp(f->element[k]->str, "entry") == 0 &&
                    strcmp(f->element[k + 1]->str, id) == 0)
                    return r;
        }
        if (r)
            freeReplyObject(r);
        pause_ms(20);
    }
    return NULL;
}

static bool dead_has(const char *id, const char *field, const char *needle)
{
    redisReply *r = dead_entry(id);
    bool found = false;
    for (size_t i = 0; r && i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        bool mine = false;
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            mine |= strcmp(f->element[k]->str, "entry") == 0 &&
                    strcmp(f->element[k + 1]->str, id) == 0;
        for (size_t k = 0; mine && k + 1 < f->elements; k += 2)
            found |= strcmp(f->element[k]->str, field) == 0 &&
                     strstr(f->element[k + 1]->str, needle) != NULL;
    }
    if (r)
        freeReplyObject(r);
    return found;
}

static void test_garbage_goes_to_dead_letters(void)
{
    char ids[3][64] = {"", "", ""};
    redisReply *r = redisCommand(R, "XADD nova:jobs:{micro} * job %s", "{\"v\":1,\"id\":");
    snprintf(ids[0], sizeof ids[0], "%s", r && r->str ? r->str : "");
    freeReplyObject(r);
    r = redisCommand(R, "XADD nova:jobs:{micro} * something else");
    snprintf(ids[1], sizeof ids[1], "%s", r && r->str ? r->str : "");
    freeReplyObject(r);
    struct job wrong;
    job_make(&wrong, "pro", "t6wrong", "answer", 0, NULL);
    wrong.queue = QUEUE_PRO;
    struct buf json;
    buf_init(&json, JOB_MAX_BYTES);
    job_to_json(&wrong, &json);
    r = redisCommand(R, "XADD nova:jobs:{micro} * job %b", json.data, json.len);
    snprintf(ids[2], sizeof ids[2], "%s", r && r->str ? r->str : "");
    freeReplyObject(r);
    buf_free(&json);
    job_free(&wrong);

    CHECK(dead_has(ids[0], "reason", "not one JSON value"));
    CHECK(dead_has(ids[0], "job", "{\"v\":1,\"id\":"));
    CHECK(dead_has(ids[0], "worker", "test-micro"));
    CHECK(dead_has(ids[1], "reason", "no \"job\" field"));
    CHECK(dead_has(ids[2], "reason", "queue \"pro\""));
    CHECK(pending_drains("micro", 3000));

    /* and the worker keeps serving */
    struct job j;
    job_make(&j, "micro", "t6req", "answer", 3, NULL);
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    job_queue(&j, NULL, 0);
    CHECK(listen_until_done(&L, 15000));
    check_answer(&t);
    listen_stop(&L);
    job_free(&j);
}

static void test_kb_job_gives_passages(void)
{
    struct job j;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "t7req-retrieve-kb");
    snprintf(j.request, sizeof j.request, "t7req");
    j.queue = QUEUE_KB;
    snprintf(j.kb_id, sizeof j.kb_id, "KBTEST1234");
    j.query = xstrdup("환불 refund 결제");
    j.n_results = 3;
    j.temperature = j.top_p = -1;
    j.created_ms = epoch_ms();
    j.deadline_ms = j.created_ms + 60000;
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    job_queue(&j, NULL, 0);
    CHECK(listen_until_done(&L, 15000));
    CHECK_STR_EQ(t.end_type, "passages");
    json_object *arr;
    CHECK(t.end && json_object_object_get_ex(t.end, "passages", &arr) &&
          json_object_array_length(arr) >= 1 && json_object_array_length(arr) <= 3);
    for (size_t i = 0; t.end && arr && i < json_object_array_length(arr); i++) {
        json_object *p = json_object_array_get_idx(arr, i), *x;
        static const char *const keys[] = {"title", "score", "excerpt", "url", "text"};
        for (int k = 0; k < 5; k++)
            CHECK(json_object_object_get_ex(p, keys[k], &x));
        json_object_object_get_ex(p, "excerpt", &x);
        const char *ex = json_object_get_string(x);
        CHECK(utf8_valid(ex, strlen(ex)) && utf8_count(ex, strlen(ex)) <= EVENT_EXCERPT_CHARS);
        json_object_object_get_ex(p, "text", &x);
        const char *tx = json_object_get_string(x);
        CHECK(utf8_count(tx, strlen(tx)) <= EVENT_PASSAGE_CHARS);
    }
    CHECK(pending_drains("kb", 3000));
    listen_stop(&L);
    job_free(&j);
}

/* A question's translation (contract.h: a translation phase, a Converse call) ends with one
 * `translation` event carrying the simulator's text whole, trimmed, with both languages and
 * the usage; no delta, no model_done; in the transcript; acknowledged. A job of another
 * phase still gets its Converse text as one delta and model_done. */
static void test_translation_job_gives_translation(void)
{
    struct job j[2];
    for (int i = 0; i < 2; i++) {
        job_make(&j[i], "pro", "t8req", i ? "translate" : PHASE_TRANSLATE_EN, 0, NULL);
        free(j[i].system);
        j[i].system = xstrdup("You translate game support text from Korean to English.\n"
                              "- Paul (주인공, 폴): the hero [protagonist]\n"
                              "- Level Up (레벨업): a level gained [basic]");
        free((char *)j[i].messages[0].text);
        j[i].messages[0].text = xstrdup("폴이 레벨업을 못 해요");
        j[i].converse = true;
        j[i].max_tokens = 500;
        j[i].temperature = 0.1;
        j[i].top_p = -1;
    }
    struct tracked t[2] = {{.job = &j[0]}, {.job = &j[1]}};
    struct listener L;
    listen_start(&L, t, 2);
    long conv = sim_stat("converse");
    job_queue(&j[0], NULL, 0);
    job_queue(&j[1], NULL, 0);
    CHECK(listen_until_done(&L, 15000));
    CHECK(sim_stat("converse") == conv + 2);
    struct sim_reply want;
    CHECK(job_expect(&j[0], &want) == 0);
    CHECK_STR_EQ(t[0].end_type, "translation");
    CHECK(t[0].n_evs == 1 && t[0].text.len == 0 && t[0].bad == 0);
    json_object *x, *u;
    const char *got = t[0].end && json_object_object_get_ex(t[0].end, "translated_query", &x)
                          ? json_object_get_string(x) : NULL;
    CHECK(got && strstr(got, "Paul") && strstr(got, "Level Up") && got[0] != ' ');
    CHECK(got && strlen(got) <= want.text_len && strstr(want.text, got));
    CHECK(t[0].end && json_object_object_get_ex(t[0].end, "source_language", &x) &&
          strcmp(json_object_get_string(x), "ko") == 0);
    CHECK(t[0].end && json_object_object_get_ex(t[0].end, "target_language", &x) &&
          strcmp(json_object_get_string(x), "en") == 0);
    CHECK(t[0].end && json_object_object_get_ex(t[0].end, "phase", &x) &&
          strcmp(json_object_get_string(x), PHASE_TRANSLATE_EN) == 0);
    CHECK(t[0].end && json_object_object_get_ex(t[0].end, "usage", &u) &&
          json_object_object_get_ex(u, "output_tokens", &x) &&
          json_object_get_int64(x) == (int64_t)want.n_cuts);
    sim_reply_free(&want);
    check_answer(&t[1]); /* phase "translate": the Converse text as delta, then model_done */
    check_log("t8req", t, 2);
    CHECK(pending_drains("pro", 3000));
    listen_stop(&L);
    job_free(&j[0]);
    job_free(&j[1]);
}

/* Polls (bounded) for WORKER_DIR/<queue>.exit; returns the status, or -1. */
static int worker_exit(const char *queue, double ms)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.exit", worker_dir, queue);
    double end = now_ms() + ms;
    for (;;) {
        FILE *f = fopen(path, "r");
        int st = -1;
        if (f) {
            if (fscanf(f, "%d", &st) != 1)
                st = -1;
            fclose(f);
            if (st >= 0)
                return st;
        }
        if (now_ms() >= end)
            return -1;
        pause_ms(20);
    }
}

static pid_t worker_pid(const char *queue)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.pid", worker_dir, queue);
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return (pid_t)pid;
}

static bool heartbeat_gone(const char *queue)
{
    char id[64], key[KEY_MAX], zkey[KEY_MAX];
    snprintf(id, sizeof id, "test-%s", queue);
    key_worker(key, sizeof key, id);
    key_workers(zkey, sizeof zkey, test_queue(queue));
    redisReply *a = redisCommand(R, "EXISTS %s", key);
    redisReply *b = redisCommand(R, "ZSCORE %s %s", zkey, id);
    bool gone = a && a->integer == 0 && b && b->type == REDIS_REPLY_NIL;
    if (a)
        freeReplyObject(a);
    if (b)
        freeReplyObject(b);
    return gone;
}

/* SIGTERM with two jobs in flight: the short one finishes within the drain, the long one is
 * handed back (no event, no XACK: still pending), the worker exits 0, its heartbeat gone. */
static void test_sigterm_drains_then_hands_back(void)
{
    struct job jobs[2];
    job_make(&jobs[0], "pro", "t8req", "answer", 0, "#sim:len=25 #sim:tps=20 #sim:ttft=50");
    job_make(&jobs[1], "pro", "t8long", "answer", 1, "#sim:len=2000 #sim:tps=20 #sim:ttft=50");
    struct tracked t[2] = {{.job = &jobs[0]}, {.job = &jobs[1]}};
    struct listener L;
    listen_start(&L, t, 2);
    char long_entry[64];
    job_queue(&jobs[0], NULL, 0);
    job_queue(&jobs[1], long_entry, sizeof long_entry);
    double end = now_ms() + 10000;
    while ((!t[0].t_first || !t[1].t_first) && now_ms() < end)
        listen_pump(&L, 50);
    CHECK(t[0].t_first && t[1].t_first);
    pid_t pid = worker_pid("pro");
    CHECK(pid > 0);
    double t0 = now_ms();
    CHECK(kill(pid, SIGTERM) == 0);
    int st = worker_exit("pro", (double)drain_s * 1000 + 5000);
    double took = now_ms() - t0;
    printf("  pro worker exited %d after %.0f ms (drain %ld s)\n", st, took, drain_s);
    CHECK(st == 0);
    CHECK(took <= (double)drain_s * 1000 + 1500);
    listen_pump(&L, 100);
    CHECK(t[0].done);
    check_answer(&t[0]);
    CHECK(!t[1].done); /* handed back: no event */
    CHECK(heartbeat_gone("pro"));
    redisReply *r = redisCommand(R, "XPENDING nova:jobs:{pro} workers - + 10");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
          strcmp(r->element[0]->element[0]->str, long_entry) == 0 &&
          strcmp(r->element[0]->element[1]->str, "test-pro") == 0);
    if (r)
        freeReplyObject(r);
    listen_stop(&L);
    job_free(&jobs[0]);
    job_free(&jobs[1]);
}

static void test_idle_workers_exit_cleanly(void)
{
    static const char *const queues[] = {"micro", "kb"};
    for (int i = 0; i < 2; i++) {
        pid_t pid = worker_pid(queues[i]);
        CHECK(pid > 0 && kill(pid, SIGTERM) == 0);
        double t0 = now_ms();
        int st = worker_exit(queues[i], 5000);
        printf("  %s worker exited %d after %.0f ms\n", queues[i], st, now_ms() - t0);
        CHECK(st == 0);
        CHECK(now_ms() - t0 < 1500);
        CHECK(heartbeat_gone(queues[i]));
    }
}

int main(void)
{
    redis_sock = getenv("REDIS_SOCK");
    sim_url = getenv("SIM_URL");
    worker_dir = getenv("WORKER_DIR");
    const char *d = getenv("WORKER_DRAIN_S");
    if (!redis_sock || !sim_url || !worker_dir || !d) {
        fprintf(stderr, "test_worker: run by tests/integration/worker.sh "
                        "(REDIS_SOCK, SIM_URL, WORKER_DIR, WORKER_DRAIN_S)\n");
        return 2;
    }
    drain_s = atol(d);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    R = redis_open();
    RUN(test_heartbeats);
    RUN(test_micro_and_pro_exact_with_transcript);
    RUN(test_100_concurrent_jobs_exact);
    RUN(test_cancel_stops_a_running_job);
    RUN(test_unstarted_jobs_are_answered);
    RUN(test_wire_error_becomes_error_event);
    RUN(test_garbage_goes_to_dead_letters);
    RUN(test_kb_job_gives_passages);
    RUN(test_translation_job_gives_translation);
    RUN(test_sigterm_drains_then_hands_back);
    RUN(test_idle_workers_exit_cleanly);
    redisFree(R);
    curl_global_cleanup();
    return test_summary();
}
