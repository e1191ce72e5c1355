/* test_worker_memory: what an open model stream costs a nova-worker (issue 15's memory target,
 * the workers' share).
 *
 * tests/integration/worker_memory.sh starts redis-server, bedrock-sim and two workers (micro and
 * pro, ids test-<queue>, NOVA_WORKER_MAX_JOBS above N) and passes REDIS_SOCK, SIM_URL and
 * WORKER_DIR. Per queue the test warms the worker up (a round of short jobs, so what a worker
 * keeps once it has run — libcurl's global state, the prompt cache, the outbox's buffers — is
 * in the idle figure), reads its PSS (/proc/PID/smaps_rollup) when it is idle, then queues N
 * jobs whose first token comes after HOLD_MS, waits until the simulator holds all N streams
 * open and reads the PSS again at the plateau. The cost per open stream is the difference over
 * N, and it must stay under WORKER_MEMORY_BOUND_KIB. Every held job must then end with the
 * simulator's exact answer: nothing saved may change what a reader sees.
 *
 * The jobs carry a production-sized prompt (a system prompt of about 12 KiB of documents, the
 * same for all, as nova-fcgi's KB prompt is; a question of about 1 KiB), so the request body
 * each call builds weighs what it does in production. Polling loops here are the test's own
 * bounded waits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_harness.h"

#define N_DEFAULT 250
#define HOLD_DEFAULT 8000
#define BOUND_DEFAULT 24.0 /* KiB per open stream, each worker (main: about 35) */
#define WARM_JOBS 32
#define SYSTEM_BYTES 12288
#define QUESTION_BYTES 1024

static int N = N_DEFAULT, HOLD_MS = HOLD_DEFAULT;
static double BOUND_KIB = BOUND_DEFAULT;

static pid_t worker_pid(const char *queue)
{
    char path[512], line[32] = "";
    snprintf(path, sizeof path, "%s/%s.pid", worker_dir, queue);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    return (pid_t)atol(line);
}

/* Proportional set size in KiB, from smaps_rollup; -1 when it cannot be read. */
static long pss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "Pss:", 4) == 0) {
            kib = atol(line + 4);
            break;
        }
    if (f)
        fclose(f);
    return kib;
}

/* The process's user + system CPU in ms, from /proc/PID/stat; -1 when it cannot be read. */
static double cpu_ms(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL; /* the name may hold blanks */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* The worker's in_flight from its heartbeat (written every 5 s), or -1. */
static long heartbeat_in_flight(const char *queue)
{
    redisReply *r = redisCommand(R, "HGET nova:worker:test-%s in_flight", queue);
    long v = r && r->type == REDIS_REPLY_STRING ? atol(r->str) : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

/* A production-sized job: one system prompt of SYSTEM_BYTES for all (shared by the worker's
 * cache, as a KB prompt is), a question of QUESTION_BYTES that ends in the directives. */
static void job_big(struct job *j, const char *model, const char *request, int variant,
                    const char *directives)
{
    struct buf q;
    buf_init(&q, 1u << 16);
    while (q.len < QUESTION_BYTES)
        buf_printf(&q, "%s ", questions[variant % 4]);
    buf_puts(&q, directives);
    job_make(j, model, request, "answer", variant, buf_cstr(&q));
    buf_free(&q);
    struct buf s;
    buf_init(&s, 1u << 20);
    buf_puts(&s, "You are the game's support agent. Answer from these documents only.\n");
    for (int i = 0; s.len < SYSTEM_BYTES; i++)
        buf_printf(&s, "%s", documents[i % 2]);
    free(j->system);
    j->system = buf_steal(&s, NULL);
}

struct round {
    struct job *jobs;
    struct tracked *t;
    struct listener L;
    int n;
};

static void round_queue(struct round *rd, const char *model, const char *tag, int n,
                        const char *directives)
{
    rd->n = n;
    rd->jobs = xcalloc((size_t)n, sizeof *rd->jobs);
    rd->t = xcalloc((size_t)n, sizeof *rd->t);
    for (int i = 0; i < n; i++) {
        char request[64];
        snprintf(request, sizeof request, "mem-%s-%s-%d", model, tag, i);
        job_big(&rd->jobs[i], model, request, i, directives);
        rd->t[i].job = &rd->jobs[i];
    }
    listen_start(&rd->L, rd->t, (size_t)n); /* subscribed before anything is queued */
    for (int i = 0; i < n; i++)
        job_queue(&rd->jobs[i], NULL, 0);
}

/* Waits for every job's end and checks each answer byte for byte; the number that match. */
static int round_finish(struct round *rd, double timeout_ms)
{
    CHECK(listen_until_done(&rd->L, timeout_ms));
    int exact = 0;
    for (int i = 0; i < rd->n; i++)
        exact += rd->t[i].done && check_answer(&rd->t[i]);
    check_log(rd->jobs[0].request, &rd->t[0], 1); /* and its transcript holds what was shown */
    listen_stop(&rd->L);
    for (int i = 0; i < rd->n; i++)
        job_free(&rd->jobs[i]);
    free(rd->jobs);
    free(rd->t);
    return exact;
}

/* Idle = nothing in flight, the pending list empty, and the PSS steady over 300 ms (the
 * engine's last writes and frees are done). Returns the PSS. */
static long idle_pss(const char *queue, pid_t pid)
{
    CHECK(pending_drains(queue, 10000));
    long prev = pss_kib(pid), cur = prev;
    for (int i = 0; i < 50; i++) {
        pause_ms(300);
        cur = pss_kib(pid);
        if (cur == prev)
            break;
        prev = cur;
    }
    return cur;
}

static double per_stream[2];

static void measure(const char *model, int slot)
{
    const char *queue = model;
    pid_t pid = worker_pid(queue);
    CHECK(pid > 0 && pss_kib(pid) > 0);
    if (pid <= 0)
        return;

    /* Warm-up: two short rounds, so the idle figure has what a worker keeps once it ran. */
    for (int k = 0; k < 2; k++) {
        struct round w;
        round_queue(&w, model, k ? "warm2" : "warm1", WARM_JOBS, "#sim:ttft=20 #sim:len=12");
        CHECK(round_finish(&w, 30000) == WARM_JOBS);
    }
    long idle = idle_pss(queue, pid);

    long open0 = sim_stat("streams_open");
    char dir[96];
    snprintf(dir, sizeof dir, "#sim:ttft=%d #sim:len=24 #sim:tps=200", HOLD_MS);
    struct round rd;
    double cpu0 = cpu_ms(pid);
    double t0 = now_ms();
    round_queue(&rd, model, "held", N, dir);

    /* The plateau: the simulator holds all N streams (their requests were sent and their
     * headers answered), none has a token yet. PSS sampled until shortly before the first:
     * the peak (the burst of starts included) and the plateau (the last sample). */
    double deadline = t0 + HOLD_MS - 1500;
    while (sim_stat("streams_open") - open0 < N && now_ms() < deadline)
        pause_ms(20);
    long opened = sim_stat("streams_open") - open0;
    double t_open = now_ms() - t0;
    CHECK(opened == N);
    CHECK(deadline - now_ms() > 2000); /* the plateau was seen, not cut short */
    long peak = 0, held = 0;
    while (now_ms() < deadline) {
        held = pss_kib(pid);
        if (held > peak)
            peak = held;
        pause_ms(100);
    }
    long in_flight = heartbeat_in_flight(queue);

    int exact = round_finish(&rd, 60000 + HOLD_MS);
    double cpu = cpu_ms(pid) - cpu0;
    CHECK(exact == N);
    long after = idle_pss(queue, pid);

    per_stream[slot] = (double)(held - idle) / N;
    printf("  %s worker: idle %ld KiB, %d streams open after %.0f ms (heartbeat in_flight "
           "%ld), peak %ld KiB (%.1f KiB per stream), plateau %ld KiB: %.1f KiB per open "
           "stream; after the round %ld KiB (+%ld); %d of %d answers exact; worker CPU over "
           "the round %.0f ms (%.1f ms per 1,000 tokens)\n",
           queue, idle, (int)opened, t_open, in_flight, peak, (double)(peak - idle) / N, held,
           per_stream[slot], after, after - idle, exact, N, cpu, cpu / (N * 24.0) * 1000.0);
    CHECK(per_stream[slot] <= BOUND_KIB);
}

static void test_micro_worker_memory_per_open_stream(void)
{
    measure("micro", 0);
}

static void test_pro_worker_memory_per_open_stream(void)
{
    measure("pro", 1);
}

int main(void)
{
    redis_sock = getenv("REDIS_SOCK");
    sim_url = getenv("SIM_URL");
    worker_dir = getenv("WORKER_DIR");
    if (!redis_sock || !sim_url || !worker_dir) {
        fprintf(stderr, "test_worker_memory: run by tests/integration/worker_memory.sh "
                        "(REDIS_SOCK, SIM_URL, WORKER_DIR)\n");
        return 2;
    }
    const char *v;
    if ((v = getenv("WORKER_MEMORY_N")) && atoi(v) >= 1)
        N = atoi(v);
    if ((v = getenv("WORKER_MEMORY_HOLD_MS")) && atoi(v) >= 3000)
        HOLD_MS = atoi(v);
    if ((v = getenv("WORKER_MEMORY_BOUND_KIB")) && atof(v) > 0)
        BOUND_KIB = atof(v);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    R = redis_open();
    printf("  N = %d streams per worker, first token after %d ms, bound %.1f KiB per stream\n",
           N, HOLD_MS, BOUND_KIB);
    RUN(test_micro_worker_memory_per_open_stream);
    RUN(test_pro_worker_memory_per_open_stream);
    redisFree(R);
    curl_global_cleanup();
    return test_summary();
}
