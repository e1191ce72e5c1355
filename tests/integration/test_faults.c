/* test_faults: the failure semantics of issue 7 through nginx, as a browser sees them.
 *
 * tests/integration/faults.sh starts two stacks and passes NOVA_URL, NOVA_RUN_DIR, SIM_URL
 * (stack 1: an outside Redis at REDIS_SOCK whose data lives in REDIS_DIR, two nova-fcgi
 * children, a 2 s Bedrock idle timeout, a 2 s visibility timeout, queue depth cap 4),
 * NOVA_URL2, NOVA_RUN_DIR2, SIM_URL2 (stack 2: one nova-fcgi child, the simulator cutting its
 * writes at random bytes), FAULTS_DIR (PID files of what this program starts go to
 * FAULTS_DIR/pids) and WORKER_BIN.
 *
 * Cases, each with the simulator's counters as the witness of what was paid for:
 *   throttling before the first token is retried and answered; after it, a typed error;
 *   a stalled model ends with `timeout`, a half frame and a closed connection with
 *   `model_error`; a client leaving before the first token and while streaming aborts both model
 *   calls within 1 s; a nova-fcgi child killed mid-stream: the client resumes on any child and
 *   gets the rest, each model called once; a worker killed mid-stream (one job with tokens
 *   shown, one without): `worker_lost` error / notice + the whole answer, then `done`; the
 *   queue over its cap: 429 `overloaded` with Retry-After; Redis stopped and started again
 *   mid-stream: /api/health 503 then 200, streams end with `done`, no process exits or spins;
 *   Korean answers through a simulator that splits its writes: whole characters, byte-exact;
 *   a client that reads nothing on a one-child stack: the others finish on time, it is cut
 *   off, and a resume gets the whole answer.
 * Polling loops here are the test's own bounded waits. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "simstats.h"
#include "../unit/test.h"
#include "redis/contract.h"
#include "redis_jobs.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base_url, *run_dir, *sim_url;    /* stack 1 */
static const char *base_url2, *run_dir2, *sim_url2; /* stack 2 */
static const char *base_url3, *run_dir3, *sim_url3; /* stack 3 (make chaos only) */
static const char *redis_sock, *redis_dir, *faults_dir, *worker_bin;

static uint32_t rnd_u32(void)
{
    static uint64_t x = 0x2545F4914F6CDD1DULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)(x >> 16);
}

static long sim1(const char *name)
{
    return simstats_get(sim_url, name);
}

/* Waits (bounded) until the simulator has no open stream. */
static bool sim_idle(const char *url, int ms)
{
    double end = now_ms() + ms;
    while (simstats_get(url, "streams_open") != 0) {
        if (now_ms() > end)
            return false;
        sleep_ms(20);
    }
    return true;
}

static struct stream *chat1(const char *message, const char *lang)
{
    return chat_new_on(base_url, message, lang);
}

/* Deltas of model so far. */
static size_t deltas_of(struct stream *s, const char *model)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->evs[i].type, "delta") == 0 && jstr_is(ev_json(&s->evs[i]), "model", model))
            n++;
    return n;
}

/* The error or notice event of model (phase answer) with code, or NULL. */
static struct ev *event_of(struct stream *s, const char *type, const char *model,
                           const char *code)
{
    for (size_t i = 0; i < s->n; i++) {
        json_object *j = ev_json(&s->evs[i]);
        if (strcmp(s->evs[i].type, type) == 0 && jstr_is(j, "model", model) &&
            jstr_is(j, "code", code))
            return &s->evs[i];
    }
    return NULL;
}

/* Every job of request in the stack's Redis at sock, checked against the simulator's model
 * for the texts in c. Returns how many model streams were byte-exact; prints the others. */
static int exact_streams(redisContext *r, struct chat *c)
{
    struct jobset js = {0};
    jobset_load(r, "micro", &js);
    jobset_load(r, "pro", &js);
    int exact = 0;
    for (size_t k = 0; k < c->n_ms; k++) {
        struct model_stream *m = &c->ms[k];
        const struct job *j = jobset_find(&js, c->request_id, m->phase, m->model);
        char why[512] = "no job in Redis";
        if (j && m->done && sim_text_is(j, m->text.data, m->text.len, why, sizeof why) == 0)
            exact++;
        else
            fprintf(stderr, "  %s %s %s: %s\n", c->request_id, m->phase, m->model,
                    m->done ? why : "no model_done");
    }
    jobset_free(&js);
    return exact;
}

/* The shape of a whole chat: meta first, done last and once, increasing ids, valid UTF-8. */
static bool chat_whole(struct stream *s, struct chat *c, const char *what)
{
    int before = test_cur_failures;
    CHECK(s->finished && !s->dropped && s->result == CURLE_OK && s->status == 200);
    CHECK(s->n >= 2 && strcmp(s->evs[0].type, "meta") == 0);
    CHECK(c->done_last && c->n_done == 1);
    CHECK(c->ids_increasing && c->utf8_ok && c->json_ok);
    if (test_cur_failures != before) {
        stream_dump(what, s);
        return false;
    }
    return true;
}

/* ---- throttling ------------------------------------------------------------------------- */

static void test_throttled_before_first_token_is_answered(void)
{
    long thr0 = sim1("throttled"), calls0 = sim1("converse_stream");
    struct stream *s = chat1("폴이 레벨업을 못 해요. 경험치가 안 올라요. #sim:throttle=2 "
                             "#sim:tps=400 #sim:len=30", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (chat_whole(s, &c, "throttled chat")) {
        CHECK(c.n_errors == 0 && c.n_ms == 2);
        redisContext *r = redis_at(redis_sock);
        CHECK(r && exact_streams(r, &c) == 2);
        if (r)
            redisFree(r);
    }
    long thr = sim1("throttled") - thr0, calls = sim1("converse_stream") - calls0;
    /* Micro and Pro have different prompts, so each is throttled twice, then answered. */
    printf("  throttled twice per model: %ld 429s, %ld calls, answer whole in %.0f ms\n", thr,
           calls, s->t_end);
    CHECK(thr == 4 && calls == 6);
    chat_free(&c);
    stream_free(s);
}

static void test_throttled_after_first_token_is_error(void)
{
    long calls0 = sim1("converse_stream");
    struct stream *s = chat1("환불은 어떻게 신청하나요? #sim:stream-error=3 "
                             "#sim:stream-error-type=throttlingException #sim:tps=200", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (chat_whole(s, &c, "throttled after tokens")) {
        const char *models[] = {"micro", "pro"};
        for (int i = 0; i < 2; i++) {
            struct model_stream *m = chat_ms(&c, "answer", models[i]);
            CHECK(m && m->deltas >= 1 && !m->done);
            CHECK(m && strcmp(m->error_code, "throttled") == 0);
        }
        struct ev *e = event_of(s, "error", "micro", "throttled");
        json_object *rt = e ? jget(ev_json(e), "retryable") : NULL;
        CHECK(rt && json_object_get_boolean(rt));
    }
    long calls = sim1("converse_stream") - calls0;
    printf("  throttled after the first tokens: error throttled per model, %ld calls\n", calls);
    CHECK(calls == 2); /* text was shown: no retry */
    chat_free(&c);
    stream_free(s);
}

/* ---- a slow or broken model ------------------------------------------------------------- */

static void test_stalled_model_ends_with_timeout(void)
{
    long ab0 = sim1("streams_aborted");
    struct stream *s = chat1("계정 로그인이 안 돼요 #sim:stall=8000 #sim:len=40 #sim:tps=200",
                             "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (chat_whole(s, &c, "stalled model")) {
        CHECK(event_of(s, "error", "micro", "timeout") && event_of(s, "error", "pro", "timeout"));
        CHECK(deltas_of(s, "micro") >= 1 && deltas_of(s, "pro") >= 1);
    }
    /* ttft + half the tokens + the 2 s idle timeout, well before the 8 s stall ends. */
    printf("  stall past the 2 s idle timeout: error timeout per model, stream ended after "
           "%.0f ms\n", s->t_end);
    CHECK(s->t_end < 6000);
    double took;
    double t = now_ms();
    long ab;
    while ((ab = sim1("streams_aborted") - ab0) < 2 && (took = now_ms() - t) < 3000)
        sleep_ms(20);
    CHECK(ab == 2); /* the workers hung up on the stalled calls */
    chat_free(&c);
    stream_free(s);
}

static void test_half_frame_then_close_is_model_error(void)
{
    long drop0 = sim1("streams_dropped"), calls0 = sim1("converse_stream");
    struct stream *s = chat1("정기 서버 점검은 언제 하나요? #sim:drop=5 #sim:tps=200", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (chat_whole(s, &c, "dropped model stream")) {
        CHECK(event_of(s, "error", "micro", "model_error") &&
              event_of(s, "error", "pro", "model_error"));
        CHECK(deltas_of(s, "micro") >= 1 && deltas_of(s, "pro") >= 1);
    }
    long drops = sim1("streams_dropped") - drop0, calls = sim1("converse_stream") - calls0;
    printf("  half a frame, then the connection closed: error model_error per model after "
           "%.0f ms (%ld dropped, %ld calls)\n", s->t_end, drops, calls);
    CHECK(drops == 2 && calls == 2);
    CHECK(s->t_end < 5000);
    chat_free(&c);
    stream_free(s);
}

/* ---- the client leaves ------------------------------------------------------------------ */

struct leave_ctx {
    struct stream *s;
    bool before_first_token;
    long open_at_start;
    double t_drop;
};

static int leave_tick(void *user)
{
    struct leave_ctx *x = user;
    if (x->t_drop > 0)
        return 1;
    if (now_ms() - x->s->t0 > 10000)
        return 1;
    bool ready;
    if (x->before_first_token) /* meta seen and both calls reached the simulator */
        ready = x->s->n >= 1 && sim1("streams_open") >= x->open_at_start + 2;
    else
        ready = deltas_of(x->s, "micro") >= 2 && deltas_of(x->s, "pro") >= 2;
    if (ready) {
        x->s->drop = true;
        x->t_drop = now_ms();
    }
    return 0;
}

static void client_leaves(bool before_first_token)
{
    CHECK(sim_idle(sim_url, 5000));
    long ab0 = sim1("streams_aborted");
    struct leave_ctx x = {
        .s = chat1(before_first_token ? "로그인이 안 돼요 #sim:ttft=4000 #sim:len=50"
                                      : "로그인이 안 돼요 #sim:len=3000 #sim:tps=20", "ko"),
        .before_first_token = before_first_token,
        .open_at_start = sim1("streams_open"),
    };
    struct loop l;
    loop_init(&l);
    loop_add(&l, x.s);
    loop_run(&l, 15000, leave_tick, &x);
    loop_run(&l, 100, NULL, NULL); /* carries out the drop */
    loop_free(&l);
    CHECK(x.t_drop > 0);
    if (x.t_drop <= 0) {
        stream_dump("chat to leave", x.s);
        stream_free(x.s);
        return;
    }
    if (before_first_token)
        CHECK(deltas_of(x.s, "micro") == 0 && deltas_of(x.s, "pro") == 0);
    double took = 0;
    long ab;
    while ((ab = sim1("streams_aborted") - ab0) < 2 && (took = now_ms() - x.t_drop) < 3000)
        sleep_ms(5);
    took = now_ms() - x.t_drop;
    printf("  client left %s: %ld model calls aborted at the simulator %.0f ms later\n",
           before_first_token ? "before the first token" : "while both models streamed", ab,
           took);
    CHECK(ab == 2);
    CHECK(took < 1000);
    stream_free(x.s);
}

static void test_client_leaves_before_first_token(void)
{
    client_leaves(true);
}

static void test_client_leaves_while_streaming(void)
{
    client_leaves(false);
}

/* ---- a nova-fcgi child killed ----------------------------------------------------------- */

struct kill_ctx {
    struct stream *s;
    pid_t master;
    pid_t kids[16];
    size_t n_kids, killed;
    double t_kill;
};

/* Kills the children one at a time (SIGKILL) until the stream breaks: which child serves a
 * connection is the kernel's choice. */
static int kill_tick(void *user)
{
    struct kill_ctx *x = user;
    if (x->s->finished)
        return 1;
    if (!x->killed) {
        if (deltas_of(x->s, "micro") < 5 || deltas_of(x->s, "pro") < 5)
            return now_ms() - x->s->t0 > 10000;
    } else if (now_ms() - x->t_kill < 500) {
        return 0;
    }
    if (x->killed == x->n_kids)
        return 1;
    kill(x->kids[x->killed++], SIGKILL);
    x->t_kill = now_ms();
    return 0;
}

/* Resumes request after last_id on base, retrying while no child is there (502/503). */
static struct stream *resume_on(const char *base, const char *request, const char *last_id,
                                int timeout_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/api/chat/%s/events", request);
    double end = now_ms() + timeout_ms;
    for (;;) {
        struct stream *r = stream_new(base, NULL, path, NULL, NULL, 0, last_id);
        drive_one(r, timeout_ms);
        if ((r->status != 502 && r->status != 503) || now_ms() > end)
            return r;
        stream_free(r);
        sleep_ms(50);
    }
}

static void test_killed_child_resume_pays_once(void)
{
    pid_t master = read_pid_file(run_dir, "nova-fcgi");
    struct kill_ctx x = {.master = master};
    x.n_kids = proc_children(master, x.kids, 16);
    CHECK(master > 0 && x.n_kids == 2);
    CHECK(sim_idle(sim_url, 5000));
    long calls0 = sim1("converse_stream"), ab0 = sim1("streams_aborted");
    x.s = chat1("인벤토리가 가득 찼어요. 아이템은 어디로 가나요? #sim:len=240 #sim:tps=60", "ko");
    drive(&x.s, 1, 20000, kill_tick, &x);
    struct stream *s = x.s;
    struct chat c;
    chat_read(s, &c);
    CHECK(x.killed >= 1 && s->finished && c.n_done == 0);
    CHECK(c.request_id[0] && s->n > 2);
    if (!x.killed || c.n_done || !c.request_id[0] || s->n <= 2) {
        stream_dump("stream whose child was killed", s);
        chat_free(&c);
        stream_free(s);
        return;
    }
    double broke = s->t0 + s->t_end - x.t_kill;
    struct stream *r = resume_on(base_url, c.request_id, s->evs[s->n - 1].id, 20000);
    /* The two halves as one stream: no event twice, none missing, done once and last. */
    struct stream *all = joined(s, r);
    struct chat w;
    chat_read(all, &w);
    CHECK(r->status == 200 && r->finished && r->result == CURLE_OK);
    CHECK(w.done_last && w.n_done == 1 && w.ids_increasing && w.utf8_ok && w.n_errors == 0);
    CHECK(w.n_ms == 2);
    redisContext *rc = redis_at(redis_sock);
    CHECK(rc && exact_streams(rc, &w) == 2);
    /* ... and the same events as the transcript. */
    if (rc) {
        redisReply *rep = redisCommand(rc, "XLEN nova:log:%s", c.request_id);
        CHECK(rep && rep->type == REDIS_REPLY_INTEGER && (size_t)rep->integer == all->n);
        if (rep)
            freeReplyObject(rep);
        redisFree(rc);
    }
    long calls = sim1("converse_stream") - calls0, ab = sim1("streams_aborted") - ab0;
    pid_t after[16];
    size_t n_after = 0;
    for (double end = now_ms() + 5000; now_ms() < end; sleep_ms(20))
        if ((n_after = proc_children(master, after, 16)) == x.n_kids)
            break;
    printf("  killed %zu child(ren): the stream broke %.0f ms later after %zu events; the "
           "resume on a new child brought %zu more, done last; %ld model calls, %ld aborted; "
           "%zu children again\n", x.killed, broke, s->n, r->n, calls, ab, n_after);
    CHECK(calls == 2 && ab == 0);
    CHECK(n_after == x.n_kids && proc_alive(master));
    if (test_cur_failures) {
        stream_dump("first half", s);
        stream_dump("resume", r);
    }
    joined_free(all, s, r);
    chat_free(&w);
    chat_free(&c);
    stream_free(s);
    stream_free(r);
}

/* After a child was killed, its stream's entry in nova:readers must stop counting: a client
 * that resumed and then leaves gets its jobs canceled like any other. */
static void test_killed_child_then_resumed_client_leaves(void)
{
    pid_t master = read_pid_file(run_dir, "nova-fcgi");
    struct kill_ctx x = {.master = master};
    x.n_kids = proc_children(master, x.kids, 16);
    CHECK(sim_idle(sim_url, 5000));
    long ab0 = sim1("streams_aborted");
    x.s = chat1("로그인이 안 돼요 #sim:len=3000 #sim:tps=20", "ko");
    drive(&x.s, 1, 20000, kill_tick, &x);
    struct chat c;
    chat_read(x.s, &c);
    CHECK(x.killed >= 1 && x.s->finished && c.n_done == 0 && c.request_id[0]);
    if (!c.request_id[0] || !x.s->n) {
        stream_dump("stream whose child was killed", x.s);
        chat_free(&c);
        stream_free(x.s);
        return;
    }
    /* The resumed client reads for 3.5 s (past the dead stream's last renewal + 3 s), then
     * leaves. */
    char path[128];
    snprintf(path, sizeof path, "/api/chat/%s/events", c.request_id);
    struct stream *r = NULL;
    for (double end = now_ms() + 5000; now_ms() < end;) {
        r = stream_new(base_url, NULL, path, NULL, NULL, 0, x.s->evs[x.s->n - 1].id);
        struct loop l;
        loop_init(&l);
        loop_add(&l, r);
        loop_run(&l, 3500, NULL, NULL);
        bool ok = r->status == 200 && !r->finished;
        if (ok) {
            r->drop = true;
            loop_run(&l, 100, NULL, NULL);
        }
        loop_free(&l);
        if (ok)
            break;
        stream_free(r);
        r = NULL;
        sleep_ms(50);
    }
    CHECK(r != NULL);
    double t_drop = now_ms(), took = 0;
    long ab = 0;
    while ((ab = sim1("streams_aborted") - ab0) < 2 && (took = now_ms() - t_drop) < 5000)
        sleep_ms(10);
    took = now_ms() - t_drop;
    printf("  child killed, client resumed on another, read %zu events and left: %ld model "
           "calls aborted %.0f ms later\n", r ? r->n : 0, ab, took);
    CHECK(ab == 2 && took < 1500);
    chat_free(&c);
    stream_free(x.s);
    stream_free(r);
}

/* ---- a worker killed -------------------------------------------------------------------- */

static pid_t worker_spawn(const char *id, const char *queue)
{
    char url[700];
    snprintf(url, sizeof url, "unix://%s", redis_sock);
    static struct su_env env;
    const char *extra[] = {"NOVA_VISIBILITY_TIMEOUT_S=2", "NOVA_BEDROCK_IDLE_TIMEOUT_S=2", NULL};
    char *const *envp = su_worker_env(&env, url, sim_url, run_dir, extra);
    char log[700], pidfile[700], idarg[64], qarg[16];
    snprintf(log, sizeof log, "%s/nova-worker-%s.log", run_dir, id); /* checked for sanitizer reports */
    snprintf(pidfile, sizeof pidfile, "%s/pids/worker-%s.pid", faults_dir, id);
    snprintf(idarg, sizeof idarg, "%s", id);
    snprintf(qarg, sizeof qarg, "%s", queue);
    char *argv[] = {(char *)worker_bin, "--queue", qarg, "--id", idarg, NULL};
    return spawn_logged(argv, envp, log, pidfile);
}

static void worker_forget(const char *id, pid_t pid)
{
    char pidfile[700];
    reap_within(pid, 5000);
    snprintf(pidfile, sizeof pidfile, "%s/pids/worker-%s.pid", faults_dir, id);
    unlink(pidfile);
}

/* Its heartbeat names its PID. */
static bool worker_beats(redisContext *r, const char *id, pid_t pid, int ms)
{
    char key[KEY_MAX], want[24];
    key_worker(key, sizeof key, id);
    snprintf(want, sizeof want, "%d", (int)pid);
    for (double end = now_ms() + ms; now_ms() < end; sleep_ms(20)) {
        redisReply *rep = redisCommand(r, "HGET %s pid", key);
        bool ok = rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, want) == 0;
        if (rep)
            freeReplyObject(rep);
        if (ok)
            return true;
    }
    return false;
}

/* Entries of the micro queue pending to consumer. */
static long long pending_to(redisContext *r, const char *consumer)
{
    redisReply *rep = redisCommand(r, "XPENDING nova:jobs:{micro} " KEYS_GROUP);
    long long n = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 4 &&
        rep->element[3]->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < rep->element[3]->elements; i++) {
            redisReply *e = rep->element[3]->element[i];
            if (e->elements == 2 && strcmp(e->element[0]->str, consumer) == 0)
                n = atoll(e->element[1]->str);
        }
    if (rep)
        freeReplyObject(rep);
    return n;
}

struct wkill_ctx {
    struct stream *fresh, *shown; /* no micro token yet / micro tokens shown */
    redisContext *r;
    pid_t victim, keeper;
    double t_kill;
};

static int wkill_tick(void *user)
{
    struct wkill_ctx *x = user;
    if (x->t_kill > 0)
        return x->fresh->finished && x->shown->finished;
    if (now_ms() - x->fresh->t0 > 10000)
        return 1;
    if (x->fresh->n < 1 || deltas_of(x->shown, "micro") < 3 ||
        pending_to(x->r, "faults-w2") != 2)
        return 0;
    CHECK(deltas_of(x->fresh, "micro") == 0);
    kill(x->victim, SIGKILL);
    kill(x->keeper, SIGCONT);
    x->t_kill = now_ms();
    return 0;
}

static void test_killed_worker_reclaimed_end_to_end(void)
{
    pid_t w1 = read_pid_file(run_dir, "nova-worker-micro");
    redisContext *r = redis_at(redis_sock);
    CHECK(w1 > 0 && r);
    if (w1 <= 0 || !r)
        return;
    pid_t w2 = worker_spawn("faults-w2", "micro");
    CHECK(w2 > 0 && worker_beats(r, "faults-w2", w2, 5000));
    /* The stack's own micro worker stops taking jobs: its XREADGROUP BLOCK (1 s) runs out
     * while it is stopped, so the new jobs go to the worker this test will kill. */
    CHECK(kill(w1, SIGSTOP) == 0);
    sleep_ms(1300);
    struct wkill_ctx x = {
        .fresh = chat1("환불은 어떻게 신청하나요? #sim:ttft=1500 #sim:len=30 #sim:tps=100", "ko"),
        .shown = chat1("비밀번호를 잊어버렸어요 #sim:len=300 #sim:tps=50", "ko"),
        .r = r,
        .victim = w2,
        .keeper = w1,
    };
    struct stream *v[2] = {x.fresh, x.shown};
    drive(v, 2, 30000, wkill_tick, &x);
    if (x.t_kill <= 0)
        kill(w1, SIGCONT);
    CHECK(x.t_kill > 0);
    worker_forget("faults-w2", w2);
    struct chat a, b;
    chat_read(x.fresh, &a);
    chat_read(x.shown, &b);
    if (x.t_kill > 0 && chat_whole(x.fresh, &a, "job reclaimed before its first token") &&
        chat_whole(x.shown, &b, "job reclaimed after tokens")) {
        /* No token shown: a notice, then the whole answer from the other worker. */
        CHECK(event_of(x.fresh, "notice", "micro", "worker_lost") != NULL);
        CHECK(a.n_errors == 0 && exact_streams(r, &a) == 2);
        /* Tokens shown: error worker_lost for micro; pro untouched. */
        CHECK(event_of(x.shown, "error", "micro", "worker_lost") != NULL);
        struct model_stream *pro = chat_ms(&b, "answer", "pro");
        CHECK(pro && pro->done && b.n_errors == 1);
        double ea = x.fresh->t0 + x.fresh->t_end - x.t_kill;
        double eb = x.shown->t0 + x.shown->t_end - x.t_kill;
        printf("  worker killed: no token yet → notice worker_lost and the whole answer, "
               "stream done %.0f ms after the kill; tokens shown → error worker_lost, done "
               "%.0f ms after it\n", ea, eb);
        CHECK(ea < 15000 && eb < 15000);
    }
    chat_free(&a);
    chat_free(&b);
    stream_free(x.fresh);
    stream_free(x.shown);
    redisFree(r);
}

/* ---- overload --------------------------------------------------------------------------- */

static int all_have_meta(void *user)
{
    struct stream **v = user;
    for (int i = 0; i < 5; i++)
        if (v[i]->n < 1)
            return now_ms() - v[0]->t0 > 15000;
    return 1;
}

static void test_queue_over_cap_is_429_overloaded(void)
{
    /* NOVA_MAX_QUEUE_DEPTH=4: five chats in flight make each queue's backlog 5. */
    struct stream *v[5];
    struct loop l;
    loop_init(&l);
    for (int i = 0; i < 5; i++) {
        v[i] = chat1("로그인이 안 돼요 #sim:len=3000 #sim:tps=20", "ko");
        loop_add(&l, v[i]);
    }
    loop_run(&l, 20000, all_have_meta, v);
    char url[600];
    snprintf(url, sizeof url, "%s/api/chat", base_url);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    const char *body = "{\"message\":\"정기 점검은 언제인가요?\",\"ui_lang\":\"ko\"}";
    struct http_reply rep;
    http_do("POST", url, hdr, body, strlen(body), &rep);
    char ra[32] = "", ct[64] = "";
    http_header(&rep, "Retry-After", ra, sizeof ra);
    http_header(&rep, "Content-Type", ct, sizeof ct);
    json_object *o = json_tokener_parse(buf_cstr(&rep.body)), *e = jget(o, "error");
    printf("  6th chat with 5 in flight (cap 4): %ld %s, Retry-After %s: %.160s", rep.status,
           jstr(e, "code") ? jstr(e, "code") : "?", ra, buf_cstr(&rep.body));
    CHECK(rep.status == 429);
    CHECK(strncmp(ct, "application/json", 16) == 0);
    CHECK(jstr_is(e, "code", "overloaded") && jstr(e, "message") && jstr(e, "request_id"));
    CHECK(atoi(ra) >= 1);
    if (o)
        json_object_put(o);
    http_reply_free(&rep);
    loop_free(&l); /* the five leave: their jobs are canceled */
    for (int i = 0; i < 5; i++) {
        CHECK(v[i]->n >= 1 && strcmp(v[i]->evs[0].type, "meta") == 0);
        stream_free(v[i]);
    }
    CHECK(sim_idle(sim_url, 5000));
    /* The backlog is gone with them: the next chat is served. */
    struct stream *s = chat1("정기 점검은 언제인가요? #sim:tps=400 #sim:len=20", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (chat_whole(s, &c, "chat after the overload"))
        CHECK(c.n_errors == 0);
    chat_free(&c);
    stream_free(s);
}

/* ---- Redis restarted -------------------------------------------------------------------- */

static pid_t redis_start(void)
{
    char pidfile[700], log[700];
    snprintf(pidfile, sizeof pidfile, "%s/pids/redis2.pid", faults_dir);
    snprintf(log, sizeof log, "%s/redis2.log", redis_dir);
    char *argv[] = {"/usr/bin/env", "redis-server", "--port", "0", "--unixsocket",
                    (char *)redis_sock, "--unixsocketperm", "700", "--dir", (char *)redis_dir,
                    "--save", "", "--appendonly", "no", "--daemonize", "no", NULL};
    return spawn_logged(argv, NULL, log, pidfile);
}

static long health_status(const char *base, char *body, size_t n)
{
    char url[600];
    snprintf(url, sizeof url, "%s/api/health", base);
    struct http_reply rep;
    http_do("GET", url, NULL, NULL, 0, &rep);
    if (body)
        snprintf(body, n, "%s", buf_cstr(&rep.body));
    long st = rep.status;
    http_reply_free(&rep);
    return st;
}

enum { N_WATCH = 6 }; /* master, two children, three workers */

struct restart_ctx {
    struct stream **s;
    size_t n;
    pid_t pids[N_WATCH];
    long ticks0[N_WATCH], used[N_WATCH];
    int stage; /* 0 streaming, 1 Redis down, 2 Redis started again, 3 healthy */
    double t_down, t_up, t_healthy, outage_ms;
    long health_down;   /* /api/health during the outage */
    char health_body[512];
    double next_health;
};

static int restart_tick(void *user)
{
    struct restart_ctx *x = user;
    double now = now_ms();
    if (x->stage == 0) {
        for (size_t i = 0; i < x->n; i++)
            if (deltas_of(x->s[i], "micro") < 3 || deltas_of(x->s[i], "pro") < 3)
                return now - x->s[0]->t0 > 10000;
        for (int i = 0; i < N_WATCH; i++)
            x->ticks0[i] = proc_cpu_ticks(x->pids[i]);
        redisContext *r = redis_at(redis_sock);
        if (r) {
            redisReply *rep = redisCommand(r, "SHUTDOWN SAVE"); /* an operator's restart */
            if (rep)
                freeReplyObject(rep);
            redisFree(r);
        }
        struct stat sb;
        for (double end = now_ms() + 10000; stat(redis_sock, &sb) == 0 && now_ms() < end;)
            sleep_ms(10);
        x->t_down = now_ms();
        x->stage = 1;
        return 0;
    }
    if (x->stage == 1) {
        if (!x->health_down && now - x->t_down > 500)
            x->health_down = health_status(base_url, x->health_body, sizeof x->health_body);
        if (now - x->t_down < 3000)
            return 0;
        for (int i = 0; i < N_WATCH; i++)
            x->used[i] = proc_cpu_ticks(x->pids[i]) - x->ticks0[i];
        x->outage_ms = now - x->t_down;
        CHECK(redis_start() > 0);
        x->t_up = now_ms();
        x->stage = 2;
        return 0;
    }
    if (x->stage == 2 && now >= x->next_health) {
        x->next_health = now + 100;
        if (health_status(base_url, NULL, 0) == 200) {
            x->t_healthy = now_ms();
            x->stage = 3;
        } else if (now - x->t_up > 20000) {
            return 1;
        }
    }
    if (x->stage == 3)
        for (size_t i = 0; i < x->n; i++)
            if (!x->s[i]->finished)
                return 0;
    return x->stage == 3;
}

static void test_redis_restart_mid_stream(void)
{
    enum { N = 3 };
    struct restart_ctx x = {0};
    pid_t master = read_pid_file(run_dir, "nova-fcgi");
    pid_t kids[4];
    size_t nk = proc_children(master, kids, 4);
    CHECK(nk == 2);
    x.pids[0] = master;
    x.pids[1] = kids[0];
    x.pids[2] = nk > 1 ? kids[1] : 0;
    x.pids[3] = read_pid_file(run_dir, "nova-worker-micro");
    x.pids[4] = read_pid_file(run_dir, "nova-worker-pro");
    x.pids[5] = read_pid_file(run_dir, "nova-worker-kb");
    struct stream *s[N];
    for (int i = 0; i < N; i++)
        s[i] = chat1(i == 2 ? "How do I reset my password? #sim:len=250 #sim:tps=50"
                            : "비밀번호를 바꿨는데 로그인이 안 돼요 #sim:len=250 #sim:tps=50",
                     i == 2 ? "en" : "ko");
    x.s = s;
    x.n = N;
    drive(s, N, 60000, restart_tick, &x);
    CHECK(x.stage == 3);
    long hz = sysconf(_SC_CLK_TCK);
    static const char *const names[N_WATCH] = {"nova-fcgi master", "child", "child",
                                               "worker micro", "worker pro", "worker kb"};
    printf("  Redis down %.0f ms: /api/health %ld (%.80s); healthy again %.0f ms after the "
           "restart\n", x.outage_ms, x.health_down, x.health_body, x.t_healthy - x.t_up);
    printf("  CPU over the outage (ticks of 1/%ld s):", hz);
    for (int i = 0; i < N_WATCH; i++) {
        printf(" %s %ld%s", names[i], x.used[i], i + 1 < N_WATCH ? "," : "\n");
        /* Spinning would be about one tick per tick of the outage. */
        CHECK(x.used[i] >= 0 && x.used[i] < (long)(hz * x.outage_ms / 1000.0 * 0.10) + 2);
        CHECK(proc_alive(x.pids[i]));
    }
    CHECK(x.health_down == 503);
    CHECK(strstr(x.health_body, "\"status\":\"unavailable\"") != NULL);
    pid_t kids2[4];
    CHECK(proc_children(master, kids2, 4) == nk && kids2[0] == kids[0] &&
          (nk < 2 || kids2[1] == kids[1]));
    size_t whole = 0, unavailable = 0;
    for (int i = 0; i < N; i++) {
        struct chat c;
        chat_read(s[i], &c);
        int before = test_cur_failures;
        CHECK(s[i]->finished && s[i]->status == 200 && c.done_last && c.n_done == 1);
        CHECK(c.ids_increasing && c.utf8_ok);
        size_t done = 0, unav = 0;
        for (size_t k = 0; k < c.n_ms; k++) {
            done += c.ms[k].done;
            unav += strcmp(c.ms[k].error_code, "unavailable") == 0;
        }
        CHECK(done + unav == c.n_ms && c.n_errors == unav);
        whole += unav == 0;
        unavailable += unav;
        double end_after = s[i]->t0 + s[i]->t_end - x.t_up;
        if (i == 0)
            printf("  streams over the restart: ");
        printf("%s%zu of %zu models whole, %zu unavailable, done %.0f ms after the restart",
               i ? "; " : "", done, c.n_ms, unav, end_after);
        if (test_cur_failures != before)
            stream_dump("stream over the Redis restart", s[i]);
        chat_free(&c);
        stream_free(s[i]);
    }
    printf("\n");
    (void)whole;
    (void)unavailable;
    /* Everything serves again. */
    struct stream *t = chat1("정기 점검은 언제인가요? #sim:tps=400 #sim:len=20", "ko");
    drive_one(t, 20000);
    struct chat c;
    chat_read(t, &c);
    if (chat_whole(t, &c, "chat after the Redis restart"))
        CHECK(c.n_errors == 0 && c.n_ms == 2);
    chat_free(&c);
    stream_free(t);
}

/* ---- stack 2: whole characters through split writes -------------------------------------- */

static void test_split_writes_whole_characters(void)
{
    enum { N = 16 };
    static const char *const qs[] = {
        "폴이 레벨업을 못 해요. 경험치가 안 올라요",
        "환불은 어떻게 신청하나요? 결제한 지 3일 됐어요",
        "계정이 정지되었는데 이의 신청은 어디서 하나요?",
        "인벤토리가 가득 찼어요. 아이템은 어디로 가나요?",
    };
    struct stream *s[N];
    int expected = 0;
    for (int i = 0; i < N; i++) {
        char msg[256];
        bool en = i % 8 == 7;
        snprintf(msg, sizeof msg, "%s (%d) #sim:tps=300 #sim:len=%d", qs[i % 4], i, 30 + i * 3);
        s[i] = chat_new_on(base_url2, msg, en ? "en" : "ko");
        expected += en ? 4 : 2;
    }
    drive(s, N, 30000, NULL, NULL);
    redisContext *r = redis_open(run_dir2);
    CHECK(r != NULL);
    int exact = 0, whole = 0, deltas = 0;
    for (int i = 0; i < N; i++) {
        struct chat c;
        chat_read(s[i], &c);
        if (chat_whole(s[i], &c, "chat through split writes") && c.n_errors == 0)
            whole++;
        for (size_t k = 0; k < c.n_ms; k++)
            deltas += (int)c.ms[k].deltas;
        if (r)
            exact += exact_streams(r, &c);
        chat_free(&c);
        stream_free(s[i]);
    }
    if (r)
        redisFree(r);
    printf("  %d chats through a simulator splitting every write: %d whole, %d of %d model "
           "streams byte-exact, %d deltas, each whole UTF-8\n", N, whole, exact, expected,
           deltas);
    CHECK(whole == N && exact == expected);
}

/* ---- stack 2: a client that reads nothing ------------------------------------------------ */

/* A connection to base's port whose receive buffer is as small as the kernel allows. */
static int tiny_window_connect(const char *base)
{
    const char *colon = strrchr(base, ':');
    int port = colon ? atoi(colon + 1) : 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small); /* before connect: the window */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads what arrives on fd into raw until it holds needle (or EOF / ms pass). */
static bool read_until(int fd, struct buf *raw, const char *needle, int ms)
{
    double end = now_ms() + ms;
    char chunk[4096];
    while (!(needle && raw->len && strstr(buf_cstr(raw), needle))) {
        int wait = (int)(end - now_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (wait <= 0 || poll(&p, 1, wait) < 1)
            return false;
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0)
            return needle == NULL;
        if (buf_append(raw, chunk, (size_t)n) < 0)
            return false;
    }
    return true;
}

/* The body of a chunked HTTP/1.1 response (raw holds headers and all), events fed to s.
 * Returns true when the last chunk was there. */
static bool dechunk_events(const struct buf *raw, struct stream *s)
{
    const char *p = strstr(buf_cstr(raw), "\r\n\r\n");
    const char *end = raw->data + raw->len;
    if (!p)
        return false;
    p += 4;
    while (p < end) {
        char *q;
        unsigned long n = strtoul(p, &q, 16);
        const char *data = strstr(q, "\r\n");
        if (!data || q == p)
            return false;
        data += 2;
        if (n == 0)
            return true;
        size_t have = (size_t)(end - data) < n ? (size_t)(end - data) : n;
        sse_parser_feed(&s->parser, data, have, on_event, s);
        p = data + n + 2;
    }
    return false;
}

struct slow_ctx {
    redisContext *r;
    char request[40];
    struct loop *l;
    struct stream *others[12];
    int n_others;
    double t0, t_cut;
    bool seen_reader;
};

static int slow_tick(void *user)
{
    struct slow_ctx *x = user;
    double t = now_ms() - x->t0;
    /* A wave of three chats at 1, 3, 5 and 7 s: before and after the slow stream backs up. */
    if (x->n_others < 12 && t > 1000 + 2000.0 * (x->n_others / 3)) {
        for (int i = 0; i < 3; i++) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s (%d) #sim:len=100 #sim:tps=100",
                     i % 2 ? "정기 서버 점검은 언제 하나요?" : "환불은 어떻게 신청하나요?",
                     x->n_others);
            struct stream *o = chat_new_on(base_url2, msg, "ko");
            x->others[x->n_others++] = o;
            loop_add(x->l, o);
        }
    }
    if (!x->t_cut) {
        /* The origin's entry: there once its relay began, gone when its stream ended. */
        redisReply *rep = redisCommand(x->r, "ZCARD nova:readers:%s", x->request);
        long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        if (n > 0)
            x->seen_reader = true;
        else if (n == 0 && x->seen_reader)
            x->t_cut = t;
        if (rep)
            freeReplyObject(rep);
    }
    bool others_done = x->n_others == 12;
    for (int i = 0; i < x->n_others; i++)
        others_done &= x->others[i]->finished;
    return (x->t_cut && others_done) || t > 40000;
}

static void test_slow_client_is_cut_others_on_time(void)
{
    int fd = tiny_window_connect(base_url2);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    const char *body = "{\"message\":\"How do I reset my password if I can't log in? "
                       "#sim:tps=200 #sim:len=3000\",\"ui_lang\":\"en\"}";
    char req[512];
    int n = snprintf(req, sizeof req, "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s", strlen(body), body);
    CHECK(write(fd, req, (size_t)n) == n);
    double t0 = now_ms();
    /* It reads its headers and meta, then nothing. */
    struct buf raw;
    buf_init(&raw, 8u << 20);
    CHECK(read_until(fd, &raw, "\"request_id\":\"", 10000));
    const char *rid = strstr(buf_cstr(&raw), "\"request_id\":\"");
    struct slow_ctx x = {.t0 = t0};
    if (rid)
        snprintf(x.request, sizeof x.request, "%.32s", rid + 14);
    x.r = redis_open(run_dir2);
    CHECK(x.r && strlen(x.request) == 32);
    if (!x.r || strlen(x.request) != 32) {
        close(fd);
        buf_free(&raw);
        if (x.r)
            redisFree(x.r);
        return;
    }
    struct loop l;
    loop_init(&l);
    x.l = &l;
    /* loop_run returns as soon as nothing is open; the waves come in between. */
    while (!slow_tick(&x)) {
        double t = now_ms();
        loop_run(&l, 50, NULL, NULL);
        if (now_ms() - t < 20)
            sleep_ms(20);
    }
    loop_free(&l);
    /* The others: whole, and on time (1.5 s of answer each). */
    double slowest = 0;
    int whole = 0;
    for (int i = 0; i < x.n_others; i++) {
        struct chat c;
        chat_read(x.others[i], &c);
        if (chat_whole(x.others[i], &c, "chat beside the slow client") && c.n_errors == 0)
            whole++;
        if (x.others[i]->t_end > slowest)
            slowest = x.others[i]->t_end;
        chat_free(&c);
        stream_free(x.others[i]);
    }
    printf("  a client reading nothing: its stream was cut %.0f ms after it began; %d chats "
           "beside it on the same child all whole: %d, the slowest in %.0f ms\n", x.t_cut,
           x.n_others, whole, slowest);
    CHECK(x.n_others == 12 && whole == 12);
    CHECK(slowest < 4000);
    CHECK(x.t_cut > 0);
    /* Now it reads: what was buffered, then the end of the response, without done. */
    CHECK(read_until(fd, &raw, NULL, 10000));
    close(fd);
    struct stream *s = xcalloc(1, sizeof *s);
    sse_parser_init(&s->parser, 1u << 20);
    buf_init(&s->raw, 1);
    bool ended = dechunk_events(&raw, s);
    CHECK(ended && s->n > 1 && strcmp(s->evs[s->n - 1].type, "done") != 0);
    /* The jobs went on: a resume after its last event brings the whole answer. */
    struct stream *r = s->n ? resume_on(base_url2, x.request, s->evs[s->n - 1].id, 20000) : NULL;
    CHECK(r && r->status == 200 && r->n > 0);
    if (r) {
        struct stream *all = joined(s, r);
        struct chat w;
        chat_read(all, &w);
        CHECK(w.done_last && w.n_done == 1 && w.ids_increasing && w.n_errors == 0);
        CHECK(w.n_ms == 4 && exact_streams(x.r, &w) == 4);
        printf("  it had %zu events (%zu bytes) when cut; the resume brought %zu more and "
               "done: 4 of 4 model streams whole\n", s->n, raw.len, r->n);
        joined_free(all, s, r);
        chat_free(&w);
        stream_free(r);
    }
    stream_free(s);
    buf_free(&raw);
    redisFree(x.r);
}

/* ---- make chaos (FAULTS_CHAOS=1): longer and rougher ---------------------------------- */

struct rough_chat {
    struct stream *cur;      /* the open connection (the first, then resumes) */
    struct stream *parts[64];
    size_t n_parts;
    bool whole;              /* done seen */
    double next_try;         /* a resume waiting for a child to be back */
};

struct rough_ctx {
    struct rough_chat *c;
    size_t n;
    struct loop *l;
    pid_t master;
    double t_start, next_kill, kill_until;
    int kills;
};

static int rough_tick(void *user)
{
    struct rough_ctx *x = user;
    double now = now_ms();
    bool all_meta = true, all_whole = true;
    for (size_t i = 0; i < x->n; i++) {
        struct rough_chat *c = &x->c[i];
        all_meta &= c->parts[0]->n >= 1;
        if (c->whole)
            continue;
        all_whole = false;
        struct stream *s = c->cur;
        if (s && !s->finished)
            continue;
        if (s && s->n && strcmp(s->evs[s->n - 1].type, "done") == 0) {
            c->whole = true;
            continue;
        }
        if (now < c->next_try || c->n_parts == 64)
            continue;
        /* Broken (or a 502/503 while no child was there): resume after the last event seen. */
        const char *last = NULL, *rid = NULL;
        for (size_t k = c->n_parts; k-- > 0 && !last;)
            if (c->parts[k]->n)
                last = c->parts[k]->evs[c->parts[k]->n - 1].id;
        json_object *meta = c->parts[0]->n ? ev_json(&c->parts[0]->evs[0]) : NULL;
        rid = jstr(meta, "request_id");
        if (!rid || !last)
            return 1; /* broken before meta: the chat is lost, the test says so */
        char path[128];
        snprintf(path, sizeof path, "/api/chat/%s/events", rid);
        c->cur = stream_new(base_url3, NULL, path, NULL, NULL, 0, last);
        c->parts[c->n_parts++] = c->cur;
        c->next_try = now + 100;
        loop_add(x->l, c->cur);
    }
    /* The children die at random once every chat has its meta. */
    if (all_meta && now >= x->next_kill && now < x->kill_until) {
        pid_t kids[8];
        size_t nk = proc_children(x->master, kids, 8);
        if (nk) {
            kill(kids[rnd_u32() % nk], SIGKILL);
            x->kills++;
        }
        x->next_kill = now + 400 + rnd_u32() % 600;
    }
    return all_whole || now - x->t_start > 60000;
}

static void test_chaos_children_killed_under_load(void)
{
    enum { N = 16 };
    CHECK(base_url3 && run_dir3 && sim_url3);
    if (!base_url3 || !run_dir3 || !sim_url3)
        return;
    CHECK(sim_idle(sim_url3, 5000));
    long calls0 = simstats_get(sim_url3, "converse_stream");
    long aborted0 = simstats_get(sim_url3, "streams_aborted");
    struct rough_chat c[N];
    memset(c, 0, sizeof c);
    struct loop l;
    loop_init(&l);
    int streams = 0;
    for (int i = 0; i < N; i++) {
        bool en = i % 4 == 3;
        char msg[200];
        snprintf(msg, sizeof msg, "%s (%d) #sim:len=%d #sim:tps=60",
                 en ? "How do I get a refund?" : "환불은 어떻게 신청하나요?", i, 150 + 20 * i);
        c[i].cur = c[i].parts[0] = chat_new_on(base_url3, msg, en ? "en" : "ko");
        c[i].n_parts = 1;
        streams += en ? 4 : 2;
        loop_add(&l, c[i].cur);
    }
    struct rough_ctx x = {.c = c, .n = N, .l = &l,
                          .master = read_pid_file(run_dir3, "nova-fcgi"), .t_start = now_ms()};
    x.next_kill = x.t_start + 1000;
    x.kill_until = x.t_start + 7000;
    while (!rough_tick(&x)) {
        double t = now_ms();
        loop_run(&l, 50, NULL, NULL);
        if (now_ms() - t < 10)
            sleep_ms(10);
    }
    loop_free(&l);
    redisContext *r = redis_open(run_dir3);
    int whole = 0, exact = 0, resumes = 0;
    for (int i = 0; i < N; i++) {
        struct stream *all = c[i].parts[0];
        struct stream *joinedv[64];
        size_t nj = 0;
        for (size_t k = 1; k < c[i].n_parts; k++) { /* fold the parts into one */
            joinedv[nj] = joined(all, c[i].parts[k]);
            all = joinedv[nj++];
        }
        struct chat w;
        chat_read(all, &w);
        whole += c[i].whole && w.done_last && w.n_done == 1 && w.ids_increasing &&
                 w.n_errors == 0;
        if (r)
            exact += exact_streams(r, &w);
        resumes += (int)c[i].n_parts - 1;
        chat_free(&w);
        for (size_t k = nj; k-- > 0;)
            joined_free(joinedv[k], k ? joinedv[k - 1] : c[i].parts[0], c[i].parts[k + 1]);
        for (size_t k = 0; k < c[i].n_parts; k++)
            stream_free(c[i].parts[k]);
    }
    if (r)
        redisFree(r);
    long calls = simstats_get(sim_url3, "converse_stream") - calls0;
    long aborted = simstats_get(sim_url3, "streams_aborted") - aborted0;
    printf("  %d chats while %d children were killed at random: %d whole after %d resumes, %d "
           "of %d model streams byte-exact, %ld model calls (%ld aborted)\n", N, x.kills, whole,
           resumes, exact, streams, calls, aborted);
    CHECK(x.kills >= 5 && whole == N && exact == streams);
    CHECK(calls == streams && aborted == 0); /* each model paid once */
}

static void test_chaos_redis_loses_its_data(void)
{
    char pidfile[700], dump[700];
    snprintf(pidfile, sizeof pidfile, "%s/pids/redis2.pid", faults_dir);
    snprintf(dump, sizeof dump, "%s/dump.rdb", redis_dir);
    FILE *f = fopen(pidfile, "r");
    int rp = 0;
    if (f) {
        if (fscanf(f, "%d", &rp) != 1)
            rp = 0;
        fclose(f);
    }
    if (rp <= 0 || !proc_alive(rp)) /* not restarted yet: the script's own */
        rp = (int)read_pid_file(faults_dir, "redis");
    CHECK(rp > 0 && proc_alive(rp));
    if (rp <= 0)
        return;
    struct stream *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = chat1("비밀번호를 잊어버렸어요 #sim:len=250 #sim:tps=50", "ko");
    struct loop l;
    loop_init(&l);
    for (int i = 0; i < 3; i++)
        loop_add(&l, s[i]);
    double t0 = now_ms();
    while (now_ms() - t0 < 2000)
        loop_run(&l, 50, NULL, NULL);
    kill(rp, SIGKILL); /* no save: everything in Redis is gone */
    reap_within(rp, 5000);
    for (double end = now_ms() + 5000; proc_alive(rp) && now_ms() < end;)
        sleep_ms(10);
    unlink(dump);
    double t_down = now_ms();
    long health_down = 0;
    while (now_ms() - t_down < 2000) {
        loop_run(&l, 50, NULL, NULL);
        if (!health_down && now_ms() - t_down > 500)
            health_down = health_status(base_url, NULL, 0);
    }
    CHECK(redis_start() > 0);
    double t_up = now_ms(), t_healthy = 0;
    while (now_ms() - t_up < 30000) {
        loop_run(&l, 50, NULL, NULL);
        if (!t_healthy && health_status(base_url, NULL, 0) == 200)
            t_healthy = now_ms();
        bool open = false;
        for (int i = 0; i < 3; i++)
            open |= !s[i]->finished;
        if (t_healthy && !open)
            break;
    }
    loop_free(&l);
    int ended = 0;
    for (int i = 0; i < 3; i++) {
        struct chat c;
        chat_read(s[i], &c);
        ended += c.done_last && c.n_done == 1;
        if (!(c.done_last && c.n_done == 1))
            stream_dump("stream over the lost Redis", s[i]);
        chat_free(&c);
        stream_free(s[i]);
    }
    printf("  Redis killed and started empty: /api/health %ld while down, 200 %.0f ms after; "
           "%d of 3 open streams ended with done (the workers' jobs went on)\n", health_down,
           t_healthy - t_up, ended);
    CHECK(health_down == 503 && t_healthy > 0 && ended == 3);
    struct stream *t = chat1("정기 점검은 언제인가요? #sim:tps=400 #sim:len=20", "ko");
    drive_one(t, 20000);
    struct chat c;
    chat_read(t, &c);
    if (chat_whole(t, &c, "chat on the empty Redis"))
        CHECK(c.n_errors == 0 && c.n_ms == 2);
    chat_free(&c);
    stream_free(t);
}

/* FAULTS_ONLY=<part of a name> runs only the cases whose name has it (while working on one). */
#define FAULT(fn)                                                                            \
    do {                                                                                     \
        const char *only_ = getenv("FAULTS_ONLY");                                           \
        if (!only_ || strstr(#fn, only_))                                                    \
            RUN(fn);                                                                         \
    } while (0)

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    sim_url = getenv("SIM_URL");
    base_url2 = getenv("NOVA_URL2");
    run_dir2 = getenv("NOVA_RUN_DIR2");
    sim_url2 = getenv("SIM_URL2");
    base_url3 = getenv("NOVA_URL3");
    run_dir3 = getenv("NOVA_RUN_DIR3");
    sim_url3 = getenv("SIM_URL3");
    redis_sock = getenv("REDIS_SOCK");
    redis_dir = getenv("REDIS_DIR");
    faults_dir = getenv("FAULTS_DIR");
    worker_bin = getenv("WORKER_BIN");
    if (!base_url || !run_dir || !sim_url || !base_url2 || !run_dir2 || !sim_url2 ||
        !redis_sock || !redis_dir || !faults_dir || !worker_bin) {
        fprintf(stderr, "test_faults: run it through tests/integration/faults.sh\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    FAULT(test_throttled_before_first_token_is_answered);
    FAULT(test_throttled_after_first_token_is_error);
    FAULT(test_stalled_model_ends_with_timeout);
    FAULT(test_half_frame_then_close_is_model_error);
    FAULT(test_client_leaves_before_first_token);
    FAULT(test_client_leaves_while_streaming);
    FAULT(test_killed_child_resume_pays_once);
    FAULT(test_killed_child_then_resumed_client_leaves);
    FAULT(test_killed_worker_reclaimed_end_to_end);
    FAULT(test_queue_over_cap_is_429_overloaded);
    FAULT(test_redis_restart_mid_stream); /* last on stack 1: its Redis is a new process after */
    FAULT(test_split_writes_whole_characters);
    FAULT(test_slow_client_is_cut_others_on_time);
    if (getenv("FAULTS_CHAOS") && atoi(getenv("FAULTS_CHAOS"))) {
        FAULT(test_chaos_children_killed_under_load);
        FAULT(test_chaos_redis_loses_its_data);
    }

    curl_global_cleanup();
    return test_summary();
}
