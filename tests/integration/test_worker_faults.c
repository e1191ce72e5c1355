/* test_worker_faults: nova-worker's failure semantics against a real Redis and bedrock-sim.
 *
 * tests/integration/worker_faults.sh starts redis-server (unix socket) and bedrock-sim and
 * passes REDIS_SOCK, SIM_URL, WORKER_DIR (its temp dir) and WORKER_BIN. This program starts
 * the workers itself, because it kills them (-9) and restarts Redis on the same socket; every
 * PID it starts is written to WORKER_DIR/pids/<name>.pid until it has been reaped, so the
 * script's trap can stop them if this program dies. Workers run with a 2 s visibility timeout.
 *
 * Cases: a call throttled twice then answered; throttled past the attempts (and a
 * non-retryable error) → error + dead letter; a worker killed before the first token → another
 * reclaims the job, a worker_lost notice, the whole answer; killed after tokens → error
 * worker_lost; reclaimed entries by their progress marker and delivery count (too many → dead
 * letter); a cancel between two retries; a long live job is not stolen; Redis stopped and
 * restarted mid-stream → workers
 * alive, not spinning, the answer written after the restart, a given-up job ends "unavailable",
 * new jobs served. Polling loops here are the test's own bounded waits. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "stack_util.h"
#include "worker_harness.h"

#define VISIBILITY_S 2
#define MAX_DELIVERIES 3

static const char *worker_bin;

/* ---- processes -------------------------------------------------------------------------- */

struct proc {
    char name[32];
    pid_t pid;
};

static void pidfile_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/pids/%s.pid", worker_dir, name);
}

/* Forks and execs argv with envp, stderr to WORKER_DIR/<log>; records the PID. */
static pid_t spawn(const char *name, const char *log, char *const argv[], char *const envp[])
{
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s/%s", worker_dir, log);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int nul = open("/dev/null", O_RDWR);
        if (fd >= 0)
            dup2(fd, 2);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
        }
        execve(argv[0], argv, envp);
        _exit(127);
    }
    CHECK(pid > 0);
    char path[512];
    pidfile_path(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
    return pid;
}

/* Waits (bounded) for a child; removes its PID file once reaped. Returns the wait status,
 * or -1 when it did not end in time. */
static int reap(const char *name, pid_t pid, double ms)
{
    double end = now_ms() + ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 || now_ms() >= end)
            return -1;
        pause_ms(10);
    }
    char path[512];
    pidfile_path(path, sizeof path, name);
    unlink(path);
    return st;
}

/* A worker with the test's clean environment: the simulator's endpoint and example keys, no
 * instance metadata, no other AWS setting from outside. extra: "NAME=VALUE" strings, NULL-ended. */
static void worker_start(struct proc *p, const char *id, const char *queue,
                         const char *const *extra)
{
    char url[700], vis[48], deliveries[48];
    snprintf(url, sizeof url, "unix://%s", redis_sock);
    snprintf(vis, sizeof vis, "NOVA_VISIBILITY_TIMEOUT_S=%d", VISIBILITY_S);
    snprintf(deliveries, sizeof deliveries, "NOVA_MAX_DELIVERIES=%d", MAX_DELIVERIES);
    const char *more[16] = {"NOVA_DRAIN_SECONDS=2", vis, deliveries};
    for (size_t i = 0, k = 3; extra && extra[i] && k + 1 < sizeof more / sizeof more[0]; i++)
        more[k++] = extra[i];
    static struct su_env env;
    char *const *envp = su_worker_env(&env, url, sim_url, worker_dir, more);
    char log[64], idarg[64], qarg[16];
    snprintf(log, sizeof log, "worker-%s.log", id);
    snprintf(idarg, sizeof idarg, "%s", id);
    snprintf(qarg, sizeof qarg, "%s", queue);
    char *argv[] = {(char *)worker_bin, "--queue", qarg, "--id", idarg, NULL};
    snprintf(p->name, sizeof p->name, "%s", id);
    p->pid = spawn(id, log, argv, envp);
}

/* Ready = its heartbeat names its PID (a restarted worker reuses the id). */
static bool worker_ready(const struct proc *p, double ms)
{
    char key[KEY_MAX], pid[24];
    key_worker(key, sizeof key, p->name);
    snprintf(pid, sizeof pid, "%d", (int)p->pid);
    double end = now_ms() + ms;
    while (now_ms() < end) {
        redisReply *r = redisCommand(R, "HGET %s pid", key);
        bool ok = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, pid) == 0;
        if (r)
            freeReplyObject(r);
        if (ok)
            return true;
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
            return false;
        pause_ms(10);
    }
    return false;
}

static void worker_kill9(struct proc *p)
{
    CHECK(kill(p->pid, SIGKILL) == 0);
    int st = reap(p->name, p->pid, 5000);
    CHECK(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    p->pid = 0;
}

/* SIGTERM, then the exit status (0 expected: the drain, and no leak under ASan). */
static int worker_stop(struct proc *p)
{
    if (p->pid <= 0)
        return 0;
    kill(p->pid, SIGTERM);
    int st = reap(p->name, p->pid, 10000);
    if (st < 0) {
        kill(p->pid, SIGKILL);
        reap(p->name, p->pid, 5000);
    }
    p->pid = 0;
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold blanks */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

static bool alive(const struct proc *p)
{
    return p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) == 0 && kill(p->pid, 0) == 0;
}

/* ---- Redis helpers ---------------------------------------------------------------------- */

/* The consumer an entry is pending to ("" when none), and its idle ms. */
static void entry_owner(const char *queue, const char *entry, char *owner, size_t n,
                        long long *idle)
{
    char key[KEY_MAX];
    key_jobs(key, sizeof key, test_queue(queue));
    redisReply *r = redisCommand(R, "XPENDING %s %s %s %s 1", key, KEYS_GROUP, entry, entry);
    owner[0] = '\0';
    if (idle)
        *idle = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        snprintf(owner, n, "%s", r->element[0]->element[1]->str);
        if (idle)
            *idle = r->element[0]->element[2]->integer;
    }
    if (r)
        freeReplyObject(r);
}

/* The fields of the dead letter of entry in nova:dead:{queue}, waiting up to ms; NULL when
 * none came. The reply is the XRANGE element's field array's owner: free with freeReplyObject
 * on *whole. */
static redisReply *dead_fields(const char *queue, const char *entry, double ms,
                               redisReply **whole)
{
    char key[KEY_MAX];
    key_dead(key, sizeof key, test_queue(queue));
    double end = now_ms() + ms;
    for (;;) {
        redisReply *r = redisCommand(R, "XRANGE %s - +", key);
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            redisReply *f = r->element[i]->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (strcmp(f->element[k]->str, "entry") == 0 &&
                    strcmp(f->element[k + 1]->str, entry) == 0) {
                    *whole = r;
                    return f;
                }
        }
        if (r)
            freeReplyObject(r);
        if (now_ms() >= end)
            return NULL;
        pause_ms(20);
    }
}

static const char *field(const redisReply *f, const char *name)
{
    for (size_t k = 0; f && k + 1 < f->elements; k += 2)
        if (strcmp(f->element[k]->str, name) == 0)
            return f->element[k + 1]->str;
    return "";
}

static long dead_count(const char *queue)
{
    char key[KEY_MAX];
    key_dead(key, sizeof key, test_queue(queue));
    redisReply *r = redisCommand(R, "XLEN %s", key);
    long n = r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

/* Checks a dead letter's fields: reason and code as given, the job's JSON, this worker set. */
static void check_dead_letter(const char *queue, const char *entry, const struct job *j,
                              const char *reason, const char *code)
{
    redisReply *whole = NULL;
    redisReply *f = dead_fields(queue, entry, 5000, &whole);
    CHECK(f != NULL);
    if (!f)
        return;
    const char *got = field(f, "reason");
    if (!strstr(got, reason))
        fprintf(stderr, "  dead letter reason: [%s], want [%s]\n", got, reason);
    CHECK(strstr(got, reason) != NULL);
    CHECK_STR_EQ(field(f, "code"), code);
    CHECK(strstr(field(f, "job"), j->id) != NULL);
    struct job back;
    char err[256];
    const char *js = field(f, "job");
    bool parses = job_from_json(js, strlen(js), &back, err, sizeof err) == 0;
    CHECK(parses); /* it can be queued again as it is */
    if (parses)
        job_free(&back);
    CHECK(strncmp(field(f, "worker"), "f", 1) == 0 || strncmp(field(f, "worker"), "p", 1) == 0);
    long long failed = atoll(field(f, "failed_ms"));
    CHECK(failed > 0 && llabs(epoch_ms() - failed) < 60000);
    freeReplyObject(whole);
}

/* A stream's events of a type, from the transcript nova:log:<request>. */
struct logged {
    struct buf text;
    int deltas, notices, errors, dones;
    char last_type[32], last_code[32];
    bool last_retryable;
};

static void read_log(const char *request, struct logged *lg)
{
    memset(lg, 0, sizeof *lg);
    buf_init(&lg->text, 1u << 20);
    char key[KEY_MAX];
    key_log(key, sizeof key, request);
    redisReply *r = redisCommand(R, "XRANGE %s - +", key);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        const char *type = field(f, "t"), *data = field(f, "d");
        json_object *o = json_tokener_parse(data), *x;
        snprintf(lg->last_type, sizeof lg->last_type, "%s", type);
        if (strcmp(type, "delta") == 0) {
            lg->deltas++;
            if (o && json_object_object_get_ex(o, "text", &x))
                buf_append(&lg->text, json_object_get_string(x),
                           (size_t)json_object_get_string_len(x));
        } else if (strcmp(type, "notice") == 0) {
            lg->notices++;
        } else if (strcmp(type, "error") == 0) {
            lg->errors++;
            if (o && json_object_object_get_ex(o, "code", &x))
                snprintf(lg->last_code, sizeof lg->last_code, "%s", json_object_get_string(x));
            if (o && json_object_object_get_ex(o, "retryable", &x))
                lg->last_retryable = json_object_get_boolean(x);
        } else if (strcmp(type, "model_done") == 0) {
            lg->dones++;
        }
        if (o)
            json_object_put(o);
    }
    if (r)
        freeReplyObject(r);
}

/* got is want, or want with one contiguous run of it written twice: the outbox resends
 * what Redis may have run without answering, when the connection breaks (at-least-once). */
static bool text_matches(const char *got, size_t gl, const char *want, size_t wl, size_t *dup)
{
    *dup = 0;
    if (gl == wl)
        return memcmp(got, want, wl) == 0;
    if (gl < wl)
        return false;
    size_t d = gl - wl, p = 0;
    while (p < wl && got[p] == want[p])
        p++;
    for (size_t b = p; b >= d; b--) { /* the copy starts where got leaves want, or before */
        if (memcmp(got + b, want + b - d, d) == 0 && memcmp(got + b + d, want + b, wl - b) == 0) {
            *dup = d;
            return true;
        }
        if (b == 0)
            break;
    }
    return false;
}

static void redis_cmd(const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(R, fmt, a, b);
    if (r)
        freeReplyObject(r);
}

/* ---- the workers ------------------------------------------------------------------------ */

static struct proc fa, fb, pa;
/* The pro worker: a tiny outbox (the Redis restart gives its job up) and long retry waits (a
 * cancel meets a job between two calls). */
static const char *const pro_extra[] = {"NOVA_WORKER_OUTBOX_KB=16", "NOVA_RETRY_BASE_MS=3000",
                                        "NOVA_RETRY_CAP_MS=3000", NULL};

static long heartbeat_field(const char *id, const char *name)
{
    char key[KEY_MAX];
    key_worker(key, sizeof key, id);
    redisReply *r = redisCommand(R, "HGET %s %s", key, name);
    long v = r && r->type == REDIS_REPLY_STRING ? atol(r->str) : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

/* Waits for the job's entry to be pending to a worker; returns that worker (fa or fb). */
static struct proc *owner_of(const char *entry, double ms)
{
    char owner[64];
    double end = now_ms() + ms;
    while (now_ms() < end) {
        entry_owner("micro", entry, owner, sizeof owner, NULL);
        if (strcmp(owner, fa.name) == 0)
            return &fa;
        if (strcmp(owner, fb.name) == 0)
            return &fb;
        pause_ms(5);
    }
    return NULL;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_workers_start(void)
{
    worker_start(&fa, "fa", "micro", NULL);
    worker_start(&fb, "fb", "micro", NULL);
    CHECK(worker_ready(&fa, 5000));
    CHECK(worker_ready(&fb, 5000));
}

/* Two 429s then the answer: three calls, one clean answer, no error, no dead letter. */
static void test_throttled_twice_then_answered(void)
{
    struct job j;
    job_make(&j, "micro", "f1req", "answer", 0, "#sim:throttle=2 #sim:len=30 case-f1");
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    long calls = sim_stat("converse_stream"), throttled = sim_stat("throttled");
    long dead = dead_count("micro");
    double t0 = now_ms();
    job_queue(&j, NULL, 0);
    CHECK(listen_until_done(&L, 15000));
    printf("  answered after %.0f ms, %ld calls\n", now_ms() - t0,
           sim_stat("converse_stream") - calls);
    CHECK(check_answer(&t));
    CHECK(t.notices == 0);
    CHECK(sim_stat("converse_stream") - calls == 3);
    CHECK(sim_stat("throttled") - throttled == 2);
    CHECK(dead_count("micro") == dead);
    check_log("f1req", &t, 1);
    CHECK(pending_drains("micro", 3000));
    listen_stop(&L);
    job_free(&j);
}

/* Throttled on every call: NOVA_RETRY_MAX_ATTEMPTS (4) calls, then error throttled and a dead
 * letter; beside it a non-retryable error: one call, error, dead letter. */
static void test_failed_for_good_are_dead_letters(void)
{
    struct job jobs[2];
    job_make(&jobs[0], "micro", "f2req", "answer", 1, "#sim:throttle=50 case-f2");
    job_make(&jobs[1], "micro", "f2val", "answer", 2, "#sim:error=ValidationException");
    struct tracked t[2] = {{.job = &jobs[0]}, {.job = &jobs[1]}};
    struct listener L;
    listen_start(&L, t, 2);
    long calls = sim_stat("converse_stream");
    char entries[2][64];
    job_queue(&jobs[0], entries[0], sizeof entries[0]);
    job_queue(&jobs[1], entries[1], sizeof entries[1]);
    CHECK(listen_until_done(&L, 15000));
    CHECK_STR_EQ(t[0].end_type, "error");
    CHECK_STR_EQ(t[0].code, "throttled");
    CHECK(t[0].retryable);
    CHECK(t[0].n_evs == 1 && t[0].bad == 0);
    CHECK_STR_EQ(t[1].code, "model_error");
    CHECK(!t[1].retryable);
    CHECK(sim_stat("converse_stream") - calls == 4 + 1);
    check_dead_letter("micro", entries[0], &jobs[0], "retries exhausted after 4 call(s)",
                      "throttled");
    check_dead_letter("micro", entries[1], &jobs[1], "not retryable", "model_error");
    CHECK(pending_drains("micro", 3000));
    listen_stop(&L);
    job_free(&jobs[0]);
    job_free(&jobs[1]);
}

/* kill -9 while the job waits for its first token: the other worker reclaims it after the
 * visibility timeout, says so with a notice, and the whole answer follows. */
static void test_killed_before_first_token_runs_again(void)
{
    struct job j;
    job_make(&j, "micro", "f3req", "answer", 3, "#sim:ttft=2500 #sim:len=20");
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    long calls = sim_stat("converse_stream");
    char entry[64];
    job_queue(&j, entry, sizeof entry);
    struct proc *victim = owner_of(entry, 3000);
    CHECK(victim != NULL);
    double end = now_ms() + 3000;
    while (sim_stat("converse_stream") == calls && now_ms() < end) /* its call is open */
        pause_ms(5);
    if (!victim) {
        listen_stop(&L);
        job_free(&j);
        return;
    }
    double t0 = now_ms();
    worker_kill9(victim);
    CHECK(listen_until_done(&L, 15000));
    printf("  answered %.0f ms after the kill\n", now_ms() - t0);
    CHECK(t.notices == 1 && t.notice_first);
    CHECK_STR_EQ(t.notice_code, "worker_lost");
    CHECK(check_answer(&t));
    CHECK(sim_stat("converse_stream") - calls == 2);
    check_log("f3req", &t, 1);
    CHECK(pending_drains("micro", 3000));
    listen_stop(&L);
    job_free(&j);
    worker_start(victim, victim == &fa ? "fa" : "fb", "micro", NULL);
    CHECK(worker_ready(victim, 5000));
}

/* kill -9 after text was shown: the reclaimer answers worker_lost, it does not start over. */
static void test_killed_after_tokens_is_worker_lost(void)
{
    struct job j;
    job_make(&j, "micro", "f4req", "answer", 0, "#sim:len=400 #sim:tps=40 #sim:ttft=50");
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    long calls = sim_stat("converse_stream");
    char entry[64];
    job_queue(&j, entry, sizeof entry);
    struct proc *victim = owner_of(entry, 3000);
    double end = now_ms() + 5000;
    while (!t.t_first && now_ms() < end)
        listen_pump(&L, 20);
    CHECK(victim && t.t_first);
    if (!victim || !t.t_first) {
        listen_stop(&L);
        job_free(&j);
        return;
    }
    double t0 = now_ms();
    worker_kill9(victim);
    CHECK(listen_until_done(&L, 10000));
    printf("  worker_lost %.0f ms after the kill, %zu bytes shown\n", now_ms() - t0,
           t.text.len);
    CHECK_STR_EQ(t.end_type, "error");
    CHECK_STR_EQ(t.code, "worker_lost");
    CHECK(t.retryable);
    CHECK(t.text.len > 0 && t.notices == 0 && t.bad == 0);
    CHECK(sim_stat("converse_stream") - calls == 1);
    check_log("f4req", &t, 1);
    CHECK(pending_drains("micro", 3000));
    listen_stop(&L);
    job_free(&j);
    worker_start(victim, victim == &fa ? "fa" : "fb", "micro", NULL);
    CHECK(worker_ready(victim, 5000));
}

/* A job longer than the visibility timeout stays with its live worker: its entry is
 * refreshed, so nobody reclaims it, and it is answered once. */
static void test_live_long_job_is_not_stolen(void)
{
    struct job j;
    job_make(&j, "micro", "f5req", "answer", 1, "#sim:len=200 #sim:tps=40 #sim:ttft=50");
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    long calls = sim_stat("converse_stream");
    char entry[64];
    job_queue(&j, entry, sizeof entry);
    struct proc *owner = owner_of(entry, 3000);
    CHECK(owner != NULL);
    long long max_idle = 0;
    int changed = 0, samples = 0;
    double t0 = now_ms();
    while (!t.done && now_ms() - t0 < 15000) {
        listen_pump(&L, 100);
        char who[64];
        long long idle;
        entry_owner("micro", entry, who, sizeof who, &idle);
        if (!who[0])
            continue; /* acknowledged */
        samples++;
        changed += owner && strcmp(who, owner->name) != 0;
        max_idle = idle > max_idle ? idle : max_idle;
    }
    printf("  ran %.0f ms (visibility %d s): %d samples, max idle %lld ms\n", now_ms() - t0,
           VISIBILITY_S, samples, max_idle);
    CHECK(now_ms() - t0 > 2 * VISIBILITY_S * 1000);
    CHECK(changed == 0 && samples > 10);
    CHECK(max_idle < VISIBILITY_S * 1000);
    CHECK(check_answer(&t));
    CHECK(t.notices == 0);
    CHECK(sim_stat("converse_stream") - calls == 1);
    CHECK(pending_drains("micro", 3000));
    listen_stop(&L);
    job_free(&j);
}

/* Puts a pro job in the pending list of a consumer that will never answer ("ghost"), with
 * this delivery count and idle time, and optionally a progress marker. */
static void ghost_entry(const struct job *j, char *entry, size_t n, int deliveries,
                        const char *progress)
{
    char key[KEY_MAX];
    key_jobs(key, sizeof key, QUEUE_PRO);
    redisReply *r = redisCommand(R, "XGROUP CREATE %s %s $ MKSTREAM", key, KEYS_GROUP);
    if (r)
        freeReplyObject(r);
    job_queue(j, entry, n);
    r = redisCommand(R, "XREADGROUP GROUP %s ghost COUNT 1 STREAMS %s >", KEYS_GROUP, key);
    CHECK(r && r->type == REDIS_REPLY_ARRAY);
    if (r)
        freeReplyObject(r);
    char count[16];
    snprintf(count, sizeof count, "%d", deliveries);
    r = redisCommand(R, "XCLAIM %s %s ghost 0 %s IDLE 600000 RETRYCOUNT %s JUSTID", key,
                     KEYS_GROUP, entry, count);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r)
        freeReplyObject(r);
    if (progress) {
        char pk[KEY_MAX];
        key_progress(pk, sizeof pk, j->id);
        redis_cmd("SET %s %s PX 60000", pk, progress);
    }
}

/* Entries left by a dead consumer, judged by their marker and delivery count when a worker
 * reclaims them: too many deliveries → error worker_lost and a dead letter; text shown (the
 * marker) → error worker_lost; nothing shown → a notice and the answer. The pro worker starts
 * after the ghost entries exist, and reclaims them at once (idle for ten minutes). */
static void test_reclaimed_entries_by_marker_and_count(void)
{
    struct job jobs[3];
    job_make(&jobs[0], "pro", "f6many", "answer", 0, "#sim:len=10");
    job_make(&jobs[1], "pro", "f6shown", "answer", 1, "#sim:len=10");
    job_make(&jobs[2], "pro", "f6none", "answer", 3, "#sim:len=10 #sim:ttft=50");
    struct tracked t[3];
    memset(t, 0, sizeof t);
    for (int i = 0; i < 3; i++)
        t[i].job = &jobs[i];
    struct listener L;
    listen_start(&L, t, 3);
    char entries[3][64];
    ghost_entry(&jobs[0], entries[0], sizeof entries[0], MAX_DELIVERIES, NULL);
    ghost_entry(&jobs[1], entries[1], sizeof entries[1], 1, "shown");
    ghost_entry(&jobs[2], entries[2], sizeof entries[2], 1, NULL);
    long calls = sim_stat("converse_stream");
    worker_start(&pa, "pa", "pro", pro_extra);
    CHECK(worker_ready(&pa, 5000));
    CHECK(listen_until_done(&L, 10000));
    CHECK(pending_drains("pro", 5000));
    CHECK_STR_EQ(t[0].code, "worker_lost");
    CHECK(!t[0].retryable);
    check_dead_letter("pro", entries[0], &jobs[0], "reclaimed too many times", "worker_lost");
    CHECK_STR_EQ(t[1].code, "worker_lost");
    CHECK(t[1].retryable);
    CHECK(t[2].notices == 1 && t[2].notice_first);
    CHECK(check_answer(&t[2]));
    char pk[KEY_MAX]; /* the marker of an answered job is gone */
    key_progress(pk, sizeof pk, jobs[2].id);
    redisReply *ex = redisCommand(R, "EXISTS %s", pk);
    CHECK(ex && ex->type == REDIS_REPLY_INTEGER && ex->integer == 0);
    if (ex)
        freeReplyObject(ex);
    CHECK(sim_stat("converse_stream") - calls == 1); /* only the one never shown ran */
    redisReply *whole = NULL;
    CHECK(dead_fields("pro", entries[1], 0, &whole) == NULL); /* lost is not dead */
    if (whole)
        freeReplyObject(whole);
    listen_stop(&L);
    for (int i = 0; i < 3; i++)
        job_free(&jobs[i]);
}

/* A cancel reaches a job waiting between two throttled calls: it ends at once, canceled, and
 * is no dead letter. */
static void test_cancel_while_waiting_to_retry(void)
{
    struct job j;
    job_make(&j, "pro", "f8req", "answer", 2, "#sim:throttle=50 case-f8");
    struct tracked t = {.job = &j};
    struct listener L;
    listen_start(&L, &t, 1);
    long throttled = sim_stat("throttled"), dead = dead_count("pro");
    job_queue(&j, NULL, 0);
    double end = now_ms() + 5000;
    while (sim_stat("throttled") == throttled && now_ms() < end)
        pause_ms(5);
    CHECK(sim_stat("throttled") > throttled);
    pause_ms(20); /* the 429 is read: the job waits up to 3 s for its next call */
    double t0 = now_ms();
    redis_cmd("PUBLISH %s %s", "nova:cancel:{pro}", j.id);
    CHECK(listen_until_done(&L, 3000));
    printf("  canceled %.0f ms after the cancel, %ld call(s) throttled\n", t.t_end - t0,
           sim_stat("throttled") - throttled);
    CHECK(t.t_end - t0 < 1000);
    CHECK_STR_EQ(t.end_type, "error");
    CHECK_STR_EQ(t.code, "canceled");
    CHECK(t.n_evs == 1);
    CHECK(pending_drains("pro", 3000));
    CHECK(dead_count("pro") == dead);
    listen_stop(&L);
    job_free(&j);
}

static pid_t redis2_pid;

static void redis_restart(void)
{
    char logarg[512], dir[512];
    snprintf(logarg, sizeof logarg, "%s/redis2.log", worker_dir);
    snprintf(dir, sizeof dir, "%s", worker_dir);
    char *argv[] = {"/usr/bin/env", "redis-server", "--port", "0", "--unixsocket",
                    (char *)redis_sock, "--unixsocketperm", "700", "--dir", dir, "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--logfile", logarg, NULL};
    extern char **environ;
    redis2_pid = spawn("redis2", "redis2.stderr", argv, environ);
}

/* Stops Redis (SHUTDOWN SAVE, as an operator's restart keeps the data) and waits until it is
 * gone; true when it went. */
static bool redis_stop(void)
{
    redisReply *r = redisCommand(R, "SHUTDOWN SAVE");
    if (r)
        freeReplyObject(r);
    redisFree(R);
    R = NULL;
    struct stat sb;
    double end = now_ms() + 10000;
    while (stat(redis_sock, &sb) == 0 && now_ms() < end)
        pause_ms(10);
    return stat(redis_sock, &sb) != 0;
}

static bool redis_wait_up(double ms)
{
    double end = now_ms() + ms;
    while (now_ms() < end) {
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectUnixWithTimeout(redis_sock, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return true;
        } else if (c) {
            redisFree(c);
        }
        pause_ms(20);
    }
    return false;
}

/* Redis stopped and started again (same socket) while a micro answer streams and a pro answer
 * streams faster than the pro worker's 16 KiB outbox can hold: the workers stay up without
 * spinning, the micro answer is whole in the transcript after the restart, the pro job ends
 * "unavailable" with its dropped events counted, and new jobs and cancels work. */
static void test_redis_restart_mid_stream(void)
{
    struct job a, p;
    job_make(&a, "micro", "f7req", "answer", 0, "#sim:len=120 #sim:tps=40 #sim:ttft=50");
    /* Its text alone outgrows the outbox during the outage (a job's deltas are joined into
     * one event per WORKER_DELTA_SPACING_MS, so the events' own overhead no longer does). */
    job_make(&p, "pro", "f7pro", "answer", 1, "#sim:len=8000 #sim:tps=4000 #sim:ttft=50");
    p.max_tokens = 8000;
    struct tracked t[2] = {{.job = &a}, {.job = &p}};
    struct listener L;
    listen_start(&L, t, 2);
    job_queue(&a, NULL, 0);
    job_queue(&p, NULL, 0);
    double end = now_ms() + 5000;
    while ((!t[0].t_first || !t[1].t_first) && now_ms() < end)
        listen_pump(&L, 20);
    CHECK(t[0].t_first && t[1].t_first);
    listen_stop(&L);

    struct proc *ws[] = {&fa, &fb, &pa};
    long before[3];
    for (int i = 0; i < 3; i++)
        before[i] = cpu_ticks(ws[i]->pid);
    double t0 = now_ms();
    CHECK(redis_stop());
    double stopped = now_ms();
    pause_ms(2000); /* the outage */
    long used[3];
    long hz = sysconf(_SC_CLK_TCK);
    for (int i = 0; i < 3; i++) {
        used[i] = cpu_ticks(ws[i]->pid) - before[i];
        CHECK(alive(ws[i]));
    }
    double outage = now_ms() - stopped;
    printf("  Redis down %.0f ms (stop took %.0f ms); worker CPU over it: fa %ld, fb %ld, "
           "pa %ld ticks (%ld/s)\n", outage, stopped - t0, used[0], used[1], used[2], hz);
    /* Spinning would be about one tick per tick; the streams still arriving cost little. */
    for (int i = 0; i < 3; i++)
        CHECK(used[i] >= 0 && used[i] < (long)((double)hz * (now_ms() - t0) / 1000.0 * 0.15));
    long long restart_ms = epoch_ms();
    redis_restart();
    CHECK(redis_wait_up(10000));
    R = redis_open();

    /* The micro answer: events queued during the outage are written after it. */
    struct sim_reply want;
    CHECK(job_expect(&a, &want) == 0);
    struct logged lg;
    end = now_ms() + 10000;
    for (;;) {
        read_log("f7req", &lg);
        if (strcmp(lg.last_type, "model_done") == 0 || now_ms() >= end)
            break;
        buf_free(&lg.text);
        pause_ms(50);
    }
    size_t dup = 0;
    CHECK_STR_EQ(lg.last_type, "model_done");
    CHECK(lg.errors == 0 && lg.dones == 1);
    bool same = text_matches(lg.text.data ? lg.text.data : "", lg.text.len, want.text,
                             want.text_len, &dup);
    if (!same)
        fprintf(stderr, "  transcript text differs:\n    got  [%s]\n    want [%.*s]\n",
                buf_cstr(&lg.text), (int)want.text_len, want.text);
    if (dup)
        printf("  note: %zu bytes written twice after the reconnect (at-least-once)\n", dup);
    CHECK(same);
    buf_free(&lg.text);
    sim_reply_free(&want);

    /* The pro job outgrew its worker's outbox: given up, "unavailable", drops counted. */
    end = now_ms() + 10000;
    for (;;) {
        read_log("f7pro", &lg);
        if (strcmp(lg.last_type, "error") == 0 || now_ms() >= end)
            break;
        buf_free(&lg.text);
        pause_ms(50);
    }
    CHECK_STR_EQ(lg.last_type, "error");
    CHECK_STR_EQ(lg.last_code, "unavailable");
    CHECK(lg.last_retryable && lg.dones == 0);
    printf("  pro job given up: %d deltas written, %ld events dropped\n", lg.deltas,
           heartbeat_field("pa", "events_dropped"));
    buf_free(&lg.text);
    CHECK(pending_drains("micro", 5000) && pending_drains("pro", 5000));

    /* Heartbeats written since the restart, cancel subscriptions back. */
    end = now_ms() + 5000;
    long long beat = 0;
    while (now_ms() < end) {
        beat = heartbeat_field("fa", "beat_ms");
        if (beat >= restart_ms && heartbeat_field("fb", "beat_ms") >= restart_ms &&
            heartbeat_field("pa", "beat_ms") >= restart_ms)
            break;
        pause_ms(50);
    }
    CHECK(beat >= restart_ms);
    CHECK(heartbeat_field("pa", "events_dropped") > 0);
    long long subs = 0;
    end = now_ms() + 5000;
    while (now_ms() < end) {
        redisReply *r = redisCommand(R, "PUBSUB NUMSUB nova:cancel:{micro}");
        subs = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer
                                                                       : 0;
        if (r)
            freeReplyObject(r);
        if (subs == 2)
            break;
        pause_ms(50);
    }
    CHECK(subs == 2);
    printf("  heartbeats and cancel subscriptions back %.0f ms after the restart\n",
           (double)(epoch_ms() - restart_ms));

    /* New jobs are served, and a cancel reaches a running one. */
    struct job b, c;
    job_make(&b, "micro", "f7new", "answer", 2, NULL);
    job_make(&c, "micro", "f7cancel", "answer", 3, "#sim:len=2000 #sim:tps=20 #sim:ttft=50");
    struct tracked t2[2] = {{.job = &b}, {.job = &c}};
    listen_start(&L, t2, 2);
    job_queue(&b, NULL, 0);
    job_queue(&c, NULL, 0);
    end = now_ms() + 10000;
    while ((!t2[0].done || !t2[1].t_first) && now_ms() < end)
        listen_pump(&L, 20);
    CHECK(check_answer(&t2[0]));
    CHECK(t2[1].t_first > 0);
    double tc = now_ms();
    redis_cmd("PUBLISH %s %s", "nova:cancel:{micro}", c.id);
    CHECK(listen_until_done(&L, 3000));
    CHECK_STR_EQ(t2[1].code, "canceled");
    printf("  canceled %.0f ms after the cancel\n", t2[1].t_end - tc);
    CHECK(t2[1].t_end - tc < 1000);
    CHECK(pending_drains("micro", 3000));
    listen_stop(&L);
    job_free(&a);
    job_free(&p);
    job_free(&b);
    job_free(&c);
}

static void test_workers_exit_cleanly(void)
{
    struct proc *ws[] = {&fa, &fb, &pa};
    for (int i = 0; i < 3; i++) {
        int st = worker_stop(ws[i]);
        if (st != 0)
            fprintf(stderr, "  worker %s exited %d\n", ws[i]->name, st);
        CHECK(st == 0);
    }
}

int main(void)
{
    redis_sock = getenv("REDIS_SOCK");
    sim_url = getenv("SIM_URL");
    worker_dir = getenv("WORKER_DIR");
    worker_bin = getenv("WORKER_BIN");
    if (!redis_sock || !sim_url || !worker_dir || !worker_bin) {
        fprintf(stderr, "test_worker_faults: run by tests/integration/worker_faults.sh "
                        "(REDIS_SOCK, SIM_URL, WORKER_DIR, WORKER_BIN)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    R = redis_open();
    RUN(test_workers_start);
    RUN(test_throttled_twice_then_answered);
    RUN(test_failed_for_good_are_dead_letters);
    RUN(test_killed_before_first_token_runs_again);
    RUN(test_killed_after_tokens_is_worker_lost);
    RUN(test_live_long_job_is_not_stolen);
    RUN(test_reclaimed_entries_by_marker_and_count);
    RUN(test_cancel_while_waiting_to_retry);
    RUN(test_redis_restart_mid_stream);
    RUN(test_workers_exit_cleanly);
    if (R) {
        redisReply *r = redisCommand(R, "SHUTDOWN NOSAVE");
        if (r)
            freeReplyObject(r);
        redisFree(R);
    }
    if (redis2_pid > 0 && reap("redis2", redis2_pid, 5000) < 0) {
        kill(redis2_pid, SIGKILL);
        reap("redis2", redis2_pid, 5000);
    }
    curl_global_cleanup();
    return test_summary();
}
