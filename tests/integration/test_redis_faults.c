/* test_redis_faults: no silent loss when Redis refuses writes (issue 16, item 5), on a whole
 * stack through nginx, as a page sees it. tests/integration/redis_faults.sh starts the stack
 * (NOVA_KEEP_JOBS=1, so the jobs can be read back and each answer checked byte for byte
 * against the simulator's model) and passes NOVA_URL, NOVA_RUN_DIR, SIM_URL, FAULTS_DIR and
 * WORKER_BIN.
 *
 *   - Redis full (maxmemory tiny, noeviction) while both models stream, for a few seconds:
 *     the jobs stay pending (no XACK while their events are refused) and no model ends; once
 *     memory is freed the answers complete, whole, each byte once.
 *   - Redis full for longer than the workers' bound (WORKER_REFUSED_GIVE_UP_MS): the calls are
 *     stopped, and once Redis takes writes the page gets what was held, then `error`
 *     `unavailable` per model and `done` at once — not a wait for the job deadline; the jobs
 *     are acknowledged only after.
 *   - Redis made a read-only replica (REPLICAOF a master that never answers, as in a
 *     failover) mid-stream, then master again (REPLICAOF NO ONE): the same as the first case.
 *   - A re-sent append is applied once: the sequenced script called twice with one number
 *     appends once; and end to end, a worker whose replies are held back past its command
 *     timeout (a proxy between it and Redis) sends its writes again and the page still gets
 *     each delta once.
 *   - /api/health's warnings and novactl status's: none normally; one for a policy other than
 *     noeviction, for evicted keys and for used memory near maxmemory.
 * Every wait is on an event with a bound; the test's own processes (a worker, the proxy
 * thread) are stopped by PID. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <curl/curl.h>

#include "../unit/test.h"
#include "redis/append.h"
#include "redis/jobretire.h"
#include "redis/contract.h"
#include "redis_jobs.h"
#include "simstats.h"
#include "sse_client.h"
#include "stack_util.h"
#include "workers/worker.h"

static const char *base_url, *run_dir, *sim_url, *faults_dir, *worker_bin;
static char redis_sock[600];
static redisContext *R;

/* ---- helpers ---------------------------------------------------------------------------- */

static struct stream *chat1(const char *message)
{
    return chat_new_on(base_url, message, "ko");
}

static size_t deltas_of(struct stream *s, const char *model)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->evs[i].type, "delta") == 0 && jstr_is(ev_json(&s->evs[i]), "model", model))
            n++;
    return n;
}

static size_t events_of(struct stream *s, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += strcmp(s->evs[i].type, type) == 0;
    return n;
}

static bool redis_ok(const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(R, fmt, arg);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        fprintf(stderr, "  redis %s %s: %s\n", fmt, arg, r ? r->str : R->errstr);
    if (r)
        freeReplyObject(r);
    return ok;
}

/* Entries delivered to a worker and not acknowledged, both answer queues. */
static long long pending_answers(void)
{
    long long n = 0;
    const char *keys[] = {"nova:jobs:{micro}", "nova:jobs:{pro}"};
    for (size_t i = 0; i < 2; i++) {
        redisReply *r = redisCommand(R, "XPENDING %s " KEYS_GROUP, keys[i]);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
            r->element[0]->type == REDIS_REPLY_INTEGER)
            n += r->element[0]->integer;
        if (r)
            freeReplyObject(r);
    }
    return n;
}

static bool pending_drains(int ms)
{
    for (double end = now_ms() + ms; now_ms() < end; sleep_ms(20))
        if (pending_answers() == 0)
            return true;
    return pending_answers() == 0;
}

/* The sum of one heartbeat counter over the live workers of queue. */
static long long worker_counter(const char *queue, const char *field)
{
    char key[KEY_MAX];
    snprintf(key, sizeof key, "nova:workers:{%s}", queue);
    redisReply *r = redisCommand(R, "ZRANGE %s 0 -1", key);
    long long sum = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        key_worker(key, sizeof key, r->element[i]->str);
        redisReply *h = redisCommand(R, "HGET %s %s", key, field);
        if (h && h->type == REDIS_REPLY_STRING)
            sum += atoll(h->str);
        if (h)
            freeReplyObject(h);
    }
    if (r)
        freeReplyObject(r);
    return sum;
}

/* Every model stream of c is the simulator's text for its job, byte for byte (so nothing was
 * lost or shown twice); prints the others. Returns how many were exact. */
static int exact_streams(struct chat *c, bool want_done)
{
    struct jobset js = {0};
    jobset_load(R, "micro", &js);
    jobset_load(R, "pro", &js);
    int exact = 0;
    for (size_t k = 0; k < c->n_ms; k++) {
        struct model_stream *m = &c->ms[k];
        const struct job *j = jobset_find(&js, c->request_id, m->phase, m->model);
        char why[512] = "no job in Redis";
        if (j && m->done == want_done && sim_text_is(j, m->text.data, m->text.len, why,
                                                     sizeof why) == 0)
            exact++;
        else
            fprintf(stderr, "  %s %s %s: %s\n", c->request_id, m->phase, m->model,
                    m->done == want_done ? why : "model_done unexpected or missing");
    }
    jobset_free(&js);
    return exact;
}

/* Every model stream of c is a prefix of the simulator's text for its job (cut, not
 * repeated). Returns how many were. */
static int prefix_streams(struct chat *c)
{
    struct jobset js = {0};
    jobset_load(R, "micro", &js);
    jobset_load(R, "pro", &js);
    int ok = 0;
    for (size_t k = 0; k < c->n_ms; k++) {
        struct model_stream *m = &c->ms[k];
        const struct job *j = jobset_find(&js, c->request_id, m->phase, m->model);
        struct sim_reply want;
        char why[512];
        if (!j || sim_expect(j, &want, why, sizeof why) < 0) {
            fprintf(stderr, "  %s %s: no job or no model answer\n", m->phase, m->model);
            continue;
        }
        bool prefix = m->text.len <= want.text_len &&
                      memcmp(m->text.data ? m->text.data : "", want.text, m->text.len) == 0;
        if (prefix)
            ok++;
        else
            fprintf(stderr, "  %s %s: %zu bytes shown are not the start of the %zu of the "
                    "answer\n", m->phase, m->model, m->text.len, want.text_len);
        sim_reply_free(&want);
    }
    jobset_free(&js);
    return ok;
}

static bool chat_whole(struct stream *s, struct chat *c, const char *what)
{
    int before = test_cur_failures;
    CHECK(s->finished && !s->dropped && s->result == CURLE_OK && s->status == 200);
    CHECK(s->n >= 2 && strcmp(s->evs[0].type, "meta") == 0);
    CHECK(c->done_last && c->n_done == 1);
    CHECK(c->ids_increasing && c->utf8_ok && c->json_ok);
    CHECK(c->n_ms == 2);
    if (test_cur_failures != before) {
        stream_dump(what, s);
        return false;
    }
    return true;
}

/* ---- a Redis that refuses writes for a while -------------------------------------------- */

enum fault { FAULT_OOM, FAULT_READONLY };

struct refusal {
    struct stream *s;
    enum fault fault;
    double hold_ms;          /* at least this long refused */
    long aborted_want;       /* the simulator's streams_aborted must grow by this first */
    long open0, aborted0;    /* the simulator's gauges before */
    int dummy_master;        /* FAULT_READONLY: a listening socket that never answers */
    double t_fault, t_free;
    long long pending_during;
    size_t ends_during;      /* model_done and error events the page got while refused */
};

static int listen_dummy(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static bool fault_begin(struct refusal *x)
{
    if (x->fault == FAULT_OOM)
        return redis_ok("CONFIG SET maxmemory-policy %s", "noeviction") &&
               redis_ok("CONFIG SET maxmemory %s", "1");
    int port = 0;
    x->dummy_master = listen_dummy(&port);
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    return x->dummy_master >= 0 && redis_ok("REPLICAOF 127.0.0.1 %s", p);
}

static void fault_end(struct refusal *x)
{
    if (x->fault == FAULT_OOM) {
        redis_ok("CONFIG SET maxmemory %s", "0");
        return;
    }
    redis_ok("REPLICAOF NO %s", "ONE");
    if (x->dummy_master >= 0)
        close(x->dummy_master);
    x->dummy_master = -1;
}

/* Whether Redis refuses a write now (the fault is in effect). */
static bool refusing(void)
{
    redisReply *r = redisCommand(R, "SET redis-faults:probe x");
    bool refused = r && redis_reply_refused(r);
    if (r)
        freeReplyObject(r);
    return refused;
}

static int refusal_tick(void *user)
{
    struct refusal *x = user;
    double now = now_ms();
    if (x->t_free > 0)
        return x->s->finished;
    if (x->t_fault == 0) {
        if (now - x->s->t0 > 15000)
            return 1;
        if (deltas_of(x->s, "micro") < 1 || deltas_of(x->s, "pro") < 1)
            return 0;
        CHECK(fault_begin(x));
        CHECK(refusing());
        x->t_fault = now;
        return 0;
    }
    /* Refused long enough, and the calls are over at the simulator: finished (their whole
     * answer waits in the workers) or stopped (given up). */
    bool calls_over = simstats_get(sim_url, "streams_open") <= x->open0 &&
                      simstats_get(sim_url, "streams_aborted") - x->aborted0 >= x->aborted_want;
    if (now - x->t_fault < x->hold_ms || (!calls_over && now - x->t_fault < 40000))
        return 0;
    CHECK(calls_over);
    x->pending_during = pending_answers();
    x->ends_during = events_of(x->s, "model_done") + events_of(x->s, "error");
    fault_end(x);
    x->t_free = now_ms();
    return 0;
}

/* One chat refused for hold_ms mid-stream; fills x. */
static void run_refusal(struct refusal *x, const char *message)
{
    x->open0 = simstats_get(sim_url, "streams_open");
    x->aborted0 = simstats_get(sim_url, "streams_aborted");
    x->dummy_master = -1;
    x->s = chat1(message);
    drive(&x->s, 1, 90000, refusal_tick, x);
    if (x->t_fault > 0 && x->t_free == 0)
        fault_end(x);
    CHECK(x->t_fault > 0 && x->t_free > 0);
}

static void test_full_redis_then_freed(void)
{
    struct refusal x = {.fault = FAULT_OOM, .hold_ms = 2500};
    run_refusal(&x, "폴이 레벨업을 못 해요 #sim:len=40 #sim:tps=20");
    double after = x.s->t0 + x.s->t_end - x.t_free;
    printf("  OOM for %.0f ms mid-stream: %lld jobs pending and %zu ends shown meanwhile; "
           "stream done %.0f ms after memory was freed\n", x.t_free - x.t_fault,
           x.pending_during, x.ends_during, after);
    CHECK(x.pending_during == 2); /* nothing acknowledged while its events are refused */
    CHECK(x.ends_during == 0);
    struct chat c;
    chat_read(x.s, &c);
    if (chat_whole(x.s, &c, "OOM, then freed")) {
        CHECK(c.n_errors == 0);
        CHECK(exact_streams(&c, true) == 2); /* nothing lost, nothing twice */
        CHECK(after < 5000);
    }
    CHECK(pending_drains(3000));
    chat_free(&c);
    stream_free(x.s);
}

static void test_full_redis_past_the_bound(void)
{
    long long refused0 = worker_counter("micro", "jobs_refused") +
                         worker_counter("pro", "jobs_refused");
    long long deferred0 = worker_counter("micro", "writes_deferred");
    struct refusal x = {.fault = FAULT_OOM, .hold_ms = WORKER_REFUSED_GIVE_UP_MS + 500,
                        .aborted_want = 2};
    run_refusal(&x, "계정 로그인이 안 돼요 #sim:len=1000 #sim:tps=25");
    double after = x.s->t0 + x.s->t_end - x.t_free;
    printf("  OOM for %.0f ms (bound %d ms): %lld jobs pending, calls stopped; stream ended "
           "%.0f ms after memory was freed\n", x.t_free - x.t_fault, WORKER_REFUSED_GIVE_UP_MS,
           x.pending_during, after);
    CHECK(x.pending_during == 2); /* given up, but not acknowledged before its end is written */
    CHECK(x.ends_during == 0);
    struct chat c;
    chat_read(x.s, &c);
    if (chat_whole(x.s, &c, "OOM past the bound")) {
        for (size_t k = 0; k < c.n_ms; k++) {
            CHECK_STR_EQ(c.ms[k].error_code, "unavailable");
            CHECK(!c.ms[k].done);
        }
        CHECK(prefix_streams(&c) == 2);
        CHECK(after < 5000); /* typed at once, not at the job deadline */
    }
    CHECK(pending_drains(3000));
    /* counted: both jobs given up, flushes deferred (the heartbeat comes every 5 s) */
    long long refused = 0, deferred = 0;
    for (double end = now_ms() + 7000; now_ms() < end; sleep_ms(100)) {
        refused = worker_counter("micro", "jobs_refused") +
                  worker_counter("pro", "jobs_refused") - refused0;
        deferred = worker_counter("micro", "writes_deferred") - deferred0;
        if (refused >= 2 && deferred > 0)
            break;
    }
    printf("  heartbeats: jobs_refused +%lld, micro writes_deferred +%lld\n", refused, deferred);
    CHECK(refused == 2 && deferred > 0);
    chat_free(&c);
    stream_free(x.s);
}

static void test_read_only_replica_then_master(void)
{
    struct refusal x = {.fault = FAULT_READONLY, .hold_ms = 2500};
    run_refusal(&x, "비밀번호를 잊어버렸어요 #sim:len=40 #sim:tps=20");
    double after = x.s->t0 + x.s->t_end - x.t_free;
    printf("  read-only replica for %.0f ms mid-stream: %lld jobs pending, %zu ends shown; "
           "stream done %.0f ms after REPLICAOF NO ONE\n", x.t_free - x.t_fault,
           x.pending_during, x.ends_during, after);
    CHECK(x.pending_during == 2);
    CHECK(x.ends_during == 0);
    struct chat c;
    chat_read(x.s, &c);
    if (chat_whole(x.s, &c, "READONLY, then master")) {
        CHECK(c.n_errors == 0);
        CHECK(exact_streams(&c, true) == 2);
        CHECK(after < 5000);
    }
    CHECK(pending_drains(3000));
    chat_free(&c);
    stream_free(x.s);
}

/* ---- a re-sent append ------------------------------------------------------------------- */

static void test_resent_append_applied_once(void)
{
    const char *log = "nova:log:redis-faults-seq", *chan = "nova:out:redis-faults-seq";
    char key[KEY_MAX], id[EVENT_ID_MAX], err[256];
    key_seq(key, sizeof key, "redis-faults-seq");
    redisReply *r = redisCommand(R, "DEL %s %s", log, key);
    if (r)
        freeReplyObject(r);
    struct event_seq s1 = {key, "job-a/w.1", 1}, s2 = {key, "job-a/w.1", 2};
    struct event_seq other = {key, "job-a/w.2", 1}; /* another run of the job: its own numbers */
    CHECK(event_append_seq(R, log, chan, "delta", "{\"t\":1}", 7, 60000, &s1, id, sizeof id,
                           err, sizeof err) == 0);
    CHECK(event_append_seq(R, log, chan, "delta", "{\"t\":1}", 7, 60000, &s1, id, sizeof id,
                           err, sizeof err) == 1); /* sent again: already applied */
    CHECK(id[0] == '\0');
    CHECK(event_append_seq(R, log, chan, "delta", "{\"t\":2}", 7, 60000, &s2, id, sizeof id,
                           err, sizeof err) == 0);
    CHECK(event_append_seq(R, log, chan, "delta", "{\"t\":1}", 7, 60000, &s1, id, sizeof id,
                           err, sizeof err) == 1); /* an older one late: not applied either */
    CHECK(event_append_seq(R, log, chan, "notice", "{}", 2, 60000, &other, id, sizeof id, err,
                           sizeof err) == 0);
    r = redisCommand(R, "XLEN %s", log);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 3);
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "PTTL %s", key);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 60000);
    if (r)
        freeReplyObject(r);
    /* unnumbered (nova-fcgi's one-shot appends): unchanged, each call appends */
    CHECK(event_append(R, log, chan, "meta", "{}", 2, 60000, id, sizeof id, err, sizeof err) ==
          0);
    CHECK(event_append(R, log, chan, "meta", "{}", 2, 60000, id, sizeof id, err, sizeof err) ==
          0);
    r = redisCommand(R, "XLEN %s", log);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 5);
    if (r)
        freeReplyObject(r);
}

/* A run that lost its job (partitioned, paused) comes back with writes still queued: the run
 * that reclaimed it holds a higher token, and after the job's end nobody appends to it. */
static void test_fenced_append_refuses_a_lost_run(void)
{
    const char *log = "nova:log:redis-faults-fence", *chan = "nova:out:redis-faults-fence";
    char key[KEY_MAX], id[EVENT_ID_MAX], err[256];
    key_seq(key, sizeof key, "redis-faults-fence");
    redisReply *r = redisCommand(R, "DEL %s %s", log, key);
    if (r)
        freeReplyObject(r);
    struct event_seq a1 = {key, "job-f/w1.1", 1, 1, false}, a2 = {key, "job-f/w1.1", 2, 1, false};
    struct event_seq a3 = {key, "job-f/w1.1", 3, 1, true};
    struct event_seq b1 = {key, "job-f/w2.1", 1, 2, false}, b2 = {key, "job-f/w2.1", 2, 2, true};
    struct event_seq c1 = {key, "job-f/w3.1", 1, 3, false};
    CHECK(event_append_seq(R, log, chan, "delta", "{\"t\":1}", 7, 60000, &a1, id, sizeof id,
                           err, sizeof err) == 0);
    /* reclaimed (delivery 2): its notice is in, the first run's late delta is not */
    CHECK(event_append_seq(R, log, chan, "notice", "{}", 2, 60000, &b1, id, sizeof id, err,
                           sizeof err) == 0);
    CHECK(event_append_seq(R, log, chan, "delta", "{\"t\":2}", 7, 60000, &a2, id, sizeof id,
                           err, sizeof err) == 1 && id[0] == '\0');
    CHECK(event_append_seq(R, log, chan, "model_done", "{}", 2, 60000, &a3, id, sizeof id, err,
                           sizeof err) == 1);
    CHECK(event_append_seq(R, log, chan, "error", "{}", 2, 60000, &b2, id, sizeof id, err,
                           sizeof err) == 0);
    /* ended: even a higher token appends nothing more */
    CHECK(event_append_seq(R, log, chan, "delta", "{}", 2, 60000, &c1, id, sizeof id, err,
                           sizeof err) == 1);
    r = redisCommand(R, "XLEN %s", log);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 3);
    if (r)
        freeReplyObject(r);
}

/* The retiring of a job (redis/jobretire.h) is fenced too: a worker whose job another worker
 * reclaimed while it was cut off takes nothing away when its queued retiring arrives — the
 * entry stays in the stream, pending to the reclaimer, with no receipt — and the reclaimer's
 * own retiring then does all three. */
static long long retire_as(const char *stream, const char *done, const char *entry,
                           const char *consumer)
{
    struct job_retire_args a;
    const char receipt[] = "{\"job\":\"fence\"}";
    job_retire_args_fill(&a, stream, done, entry, consumer, true, "1000", receipt,
                         sizeof receipt - 1);
    redisReply *r = redisCommandArgv(R, a.argc, a.argv, a.argvlen);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r && r->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "retiring as %s: %s\n", consumer, r->str);
    if (r)
        freeReplyObject(r);
    return v;
}

static void test_fenced_retire_keeps_a_reclaimed_job(void)
{
    const char *stream = "nova:jobs:{fence}", *done = "nova:done:{fence}";
    redisReply *r = redisCommand(R, "DEL %s %s", stream, done);
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "XGROUP CREATE %s %s 0 MKSTREAM", stream, KEYS_GROUP);
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "XADD %s * job {}", stream);
    char entry[64] = "";
    if (r && r->type == REDIS_REPLY_STRING)
        snprintf(entry, sizeof entry, "%s", r->str);
    if (r)
        freeReplyObject(r);
    CHECK(entry[0]);
    r = redisCommand(R, "XREADGROUP GROUP %s w1 COUNT 1 STREAMS %s >", KEYS_GROUP, stream);
    if (r)
        freeReplyObject(r);
    /* w1 is cut off; w2 reclaims the entry (as XAUTOCLAIM does once it looks idle) */
    r = redisCommand(R, "XCLAIM %s %s w2 0 %s JUSTID", stream, KEYS_GROUP, entry);
    if (r)
        freeReplyObject(r);
    CHECK(retire_as(stream, done, entry, "w1") == 0);
    r = redisCommand(R, "XPENDING %s %s - + 10 w2", stream, KEYS_GROUP);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "XLEN %s", stream);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "XLEN %s", done);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    if (r)
        freeReplyObject(r);
    /* the reclaimer finishes: acknowledged, deleted, one receipt naming it */
    CHECK(retire_as(stream, done, entry, "w2") == 1);
    CHECK(retire_as(stream, done, entry, "w2") == 0); /* sent again: nothing more */
    r = redisCommand(R, "XPENDING %s %s", stream, KEYS_GROUP);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
          r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 0);
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "XLEN %s", stream);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "XRANGE %s - +", done);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    if (r && r->elements == 1) {
        redisReply *f = r->element[0]->element[1];
        bool named = false;
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            named = named || (strcmp(f->element[k]->str, "worker") == 0 &&
                              strcmp(f->element[k + 1]->str, "w2") == 0);
        CHECK(named);
    }
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "DEL %s %s", stream, done);
    if (r)
        freeReplyObject(r);
}

/* A TCP proxy to the stack's Redis socket that can hold Redis's replies back: a worker behind
 * it times out (WORKER_REDIS_TIMEOUT_MS), drops the connection and sends its writes again on a
 * new one, after Redis had run them. */
#define PROXY_PAIRS 64
static struct {
    int lfd, port;
    atomic_bool stop;
    _Atomic double hold_until;
    pthread_t th;
} px = {.lfd = -1};

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof a.sun_path) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memcpy(a.sun_path, path, len + 1);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

static bool write_all(int fd, const char *p, ssize_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= w;
    }
    return true;
}

static void *proxy_main(void *arg)
{
    (void)arg;
    int cli[PROXY_PAIRS], srv[PROXY_PAIRS];
    size_t n = 0;
    char b[65536];
    while (!atomic_load(&px.stop)) {
        struct pollfd p[1 + 2 * PROXY_PAIRS];
        bool hold = now_ms() < atomic_load(&px.hold_until);
        p[0] = (struct pollfd){px.lfd, POLLIN, 0};
        for (size_t i = 0; i < n; i++) {
            p[1 + 2 * i] = (struct pollfd){cli[i], POLLIN, 0};
            p[2 + 2 * i] = (struct pollfd){hold ? -1 : srv[i], POLLIN, 0}; /* held: unread */
        }
        if (poll(p, 1 + 2 * n, 20) < 0 && errno != EINTR)
            break;
        if ((p[0].revents & POLLIN) && n < PROXY_PAIRS) {
            int c = accept4(px.lfd, NULL, NULL, SOCK_CLOEXEC);
            int s = c >= 0 ? unix_connect(redis_sock) : -1;
            if (c >= 0 && s >= 0) {
                cli[n] = c;
                srv[n++] = s;
            } else if (c >= 0) {
                close(c);
            }
        }
        for (size_t i = n; i-- > 0;) {
            bool gone = false;
            for (int side = 0; side < 2 && !gone; side++) {
                if (!(p[1 + 2 * i + side].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                int from = side ? srv[i] : cli[i], to = side ? cli[i] : srv[i];
                ssize_t got = read(from, b, sizeof b);
                gone = got <= 0 || !write_all(to, b, got);
            }
            if (gone) { /* either side closed: so does the other (held replies go with it) */
                close(cli[i]);
                close(srv[i]);
                cli[i] = cli[n - 1];
                srv[i] = srv[n - 1];
                n--;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        close(cli[i]);
        close(srv[i]);
    }
    return NULL;
}

static bool proxy_start(void)
{
    px.lfd = listen_dummy(&px.port);
    atomic_store(&px.stop, false);
    atomic_store(&px.hold_until, 0.0);
    return px.lfd >= 0 && pthread_create(&px.th, NULL, proxy_main, NULL) == 0;
}

static void proxy_stop(void)
{
    atomic_store(&px.stop, true);
    pthread_join(px.th, NULL);
    close(px.lfd);
    px.lfd = -1;
}

static pid_t worker_spawn(const char *id, const char *queue, const char *redis_url)
{
    static struct su_env env;
    const char *extra[] = {"NOVA_KEEP_JOBS=1", NULL};
    char *const *envp = su_worker_env(&env, redis_url, sim_url, run_dir, extra);
    char log[700], pidfile[700], idarg[64], qarg[16];
    snprintf(log, sizeof log, "%s/nova-worker-%s.log", run_dir, id); /* sanitizer reports */
    snprintf(pidfile, sizeof pidfile, "%s/pids/worker-%s.pid", faults_dir, id);
    snprintf(idarg, sizeof idarg, "%s", id);
    snprintf(qarg, sizeof qarg, "%s", queue);
    char *argv[] = {(char *)worker_bin, "--queue", qarg, "--id", idarg, NULL};
    return spawn_logged(argv, envp, log, pidfile);
}

static long long info_blocked_clients(void)
{
    redisReply *r = redisCommand(R, "INFO clients");
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "blocked_clients:") : NULL;
    long long n = p ? atoll(p + 16) : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

static long long heartbeat_of(const char *id, const char *field)
{
    char key[KEY_MAX];
    key_worker(key, sizeof key, id);
    redisReply *r = redisCommand(R, "HGET %s %s", key, field);
    long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

struct resend {
    struct stream *s;
    double t_hold;
};

static int resend_tick(void *user)
{
    struct resend *x = user;
    if (x->t_hold == 0 && deltas_of(x->s, "micro") >= 1) {
        x->t_hold = now_ms();
        /* past the worker's 1 s command timeout, and its reconnects' too */
        atomic_store(&px.hold_until, x->t_hold + 2.5 * WORKER_REDIS_TIMEOUT_MS);
    }
    return 0;
}

static void test_resent_writes_shown_once(void)
{
    pid_t own = read_pid_file(run_dir, "nova-worker-micro");
    CHECK(own > 0 && proxy_start());
    if (own <= 0 || px.lfd < 0)
        return;
    /* The stack's micro worker stops taking jobs: once its blocking read has run out (the
     * micro reader no longer blocked), the new jobs go to the worker behind the proxy. */
    long long blocked0 = info_blocked_clients();
    CHECK(kill(own, SIGSTOP) == 0);
    int below = 0; /* twice in a row: not another reader between two of its reads */
    for (double end = now_ms() + 3000; now_ms() < end && below < 2; sleep_ms(50))
        below = info_blocked_clients() < blocked0 ? below + 1 : 0;
    CHECK(below == 2);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", px.port);
    pid_t w = worker_spawn("rf-proxied", "micro", url);
    bool beats = false;
    for (double end = now_ms() + 5000; w > 0 && !beats && now_ms() < end; sleep_ms(20))
        beats = heartbeat_of("rf-proxied", "pid") == w &&
                info_blocked_clients() >= blocked0; /* its reader is waiting for jobs */
    CHECK(beats);
    struct resend x = {.s = chat1("환불은 어떻게 신청하나요? #sim:len=80 #sim:tps=20")};
    if (beats)
        drive(&x.s, 1, 30000, resend_tick, &x);
    struct chat c;
    chat_read(x.s, &c);
    printf("  replies held back %.0f ms from the first micro delta; %zu micro deltas shown\n",
           2.5 * WORKER_REDIS_TIMEOUT_MS, deltas_of(x.s, "micro"));
    CHECK(x.t_hold > 0);
    if (chat_whole(x.s, &c, "replies held back")) {
        CHECK(c.n_errors == 0);
        CHECK(exact_streams(&c, true) == 2); /* each delta once */
    }
    /* the worker did send again, and Redis answered "already applied" */
    long long resent = -1;
    for (double end = now_ms() + 7000; now_ms() < end; sleep_ms(100))
        if ((resent = heartbeat_of("rf-proxied", "events_resent")) > 0)
            break;
    printf("  the proxied worker's events_resent: %lld\n", resent);
    CHECK(resent > 0);
    if (w > 0) {
        kill(w, SIGTERM);
        CHECK(reap_within(w, 10000) == 0);
        char pidfile[700];
        snprintf(pidfile, sizeof pidfile, "%s/pids/worker-rf-proxied.pid", faults_dir);
        unlink(pidfile);
    }
    kill(own, SIGCONT);
    proxy_stop();
    chat_free(&c);
    stream_free(x.s);
}

/* ---- warnings --------------------------------------------------------------------------- */

/* /api/health's warning codes, comma-joined, into out; its status in *status. */
static void health_warnings(long *status, char *out, size_t n)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/health", base_url);
    struct http_reply r;
    http_do("GET", url, NULL, NULL, 0, &r);
    *status = r.status;
    out[0] = '\0';
    json_object *o = json_tokener_parse(buf_cstr(&r.body));
    json_object *w = jget(o, "warnings");
    if (!w || !json_object_is_type(w, json_type_array))
        snprintf(out, n, "(no warnings array)");
    for (size_t i = 0; w && json_object_is_type(w, json_type_array) &&
                       i < json_object_array_length(w); i++) {
        const char *code = jstr(json_object_array_get_idx(w, i), "code");
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", l ? "," : "", code ? code : "?");
    }
    if (o)
        json_object_put(o);
    http_reply_free(&r);
}

/* novactl status's "warnings: N" and each warning_<i> line's code, comma-joined. */
static int novactl_warnings(char *out, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL=unix://%s %s/novactl status", redis_sock,
             getenv("NOVACTL_DIR") ? getenv("NOVACTL_DIR") : ".");
    FILE *f = popen(cmd, "r");
    int count = -1;
    char line[1024];
    out[0] = '\0';
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "warnings: %d", &count) == 1)
            continue;
        if (strncmp(line, "warning_", 8) == 0) {
            const char *code = strchr(line, ':');
            size_t l = strlen(out), cl = code ? strcspn(code + 2, ":") : 0;
            if (code)
                snprintf(out + l, n - l, "%s%.*s", l ? "," : "", (int)cl, code + 2);
        }
    }
    if (f)
        pclose(f);
    return count;
}

static void expect_warnings(const char *what, const char *want)
{
    long status;
    char got[256], ctl[256];
    health_warnings(&status, got, sizeof got);
    int n = novactl_warnings(ctl, sizeof ctl);
    printf("  %s: /api/health %ld [%s], novactl status %d [%s]\n", what, status, got, n, ctl);
    CHECK(status == 200); /* a warning is not an outage */
    CHECK_STR_EQ(got, want);
    CHECK_STR_EQ(ctl, want);
    CHECK(n >= 0 && (n == 0) == (want[0] == '\0'));
}

static long long info_used_memory(void)
{
    redisReply *r = redisCommand(R, "INFO memory");
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
    long long n = p ? atoll(p + 12) : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

static void test_memory_warnings(void)
{
    expect_warnings("normal", "");
    CHECK(redis_ok("CONFIG SET maxmemory-policy %s", "allkeys-lru"));
    expect_warnings("allkeys-lru", "redis_eviction_policy");
    CHECK(redis_ok("CONFIG SET maxmemory-policy %s", "noeviction"));
    char max[32];
    snprintf(max, sizeof max, "%lld", info_used_memory() * 100 / 95); /* used is ~95 % */
    CHECK(redis_ok("CONFIG SET maxmemory %s", max));
    expect_warnings("used memory at ~95% of maxmemory", "redis_near_maxmemory");
    CHECK(redis_ok("CONFIG SET maxmemory %s", "0"));
    expect_warnings("back to normal", "");
    /* evictions: volatile-ttl and a tight limit evict the keys with the nearest expiry: the
     * ones this test writes (10 min), before the stack's (its transcripts live for hours) */
    redisReply *r = redisCommand(R, "INFO stats");
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "evicted_keys:") : NULL;
    CHECK(p && atoll(p + 13) == 0);
    if (r)
        freeReplyObject(r);
    snprintf(max, sizeof max, "%lld", info_used_memory() + 200000);
    CHECK(redis_ok("CONFIG SET maxmemory %s", max));
    CHECK(redis_ok("CONFIG SET maxmemory-policy %s", "volatile-ttl"));
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        r = redisCommand(R, "SET redis-faults:evict:%d %s PX 600000", i, big);
        if (r)
            freeReplyObject(r);
    }
    CHECK(redis_ok("CONFIG SET maxmemory-policy %s", "noeviction"));
    CHECK(redis_ok("CONFIG SET maxmemory %s", "0"));
    for (int i = 0; i < 200; i++) {
        r = redisCommand(R, "DEL redis-faults:evict:%d", i);
        if (r)
            freeReplyObject(r);
    }
    expect_warnings("keys evicted", "redis_evicted_keys");
    CHECK(redis_ok("CONFIG RESETSTAT%s", ""));
    expect_warnings("after CONFIG RESETSTAT", "");
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    sim_url = getenv("SIM_URL");
    faults_dir = getenv("FAULTS_DIR");
    worker_bin = getenv("WORKER_BIN");
    if (!base_url || !run_dir || !sim_url || !faults_dir || !worker_bin) {
        fprintf(stderr, "need NOVA_URL, NOVA_RUN_DIR, SIM_URL, FAULTS_DIR, WORKER_BIN\n");
        return 1;
    }
    snprintf(redis_sock, sizeof redis_sock, "%s/redis.sock", run_dir);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    R = redis_open(run_dir);
    if (!R) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(test_resent_append_applied_once);
    RUN(test_fenced_append_refuses_a_lost_run);
    RUN(test_fenced_retire_keeps_a_reclaimed_job);
    RUN(test_full_redis_then_freed);
    RUN(test_read_only_replica_then_master);
    RUN(test_full_redis_past_the_bound);
    RUN(test_resent_writes_shown_once);
    RUN(test_memory_warnings);
    redisFree(R);
    curl_global_cleanup();
    return test_summary();
}
