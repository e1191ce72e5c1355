/* test_kill_child: a nova-fcgi child killed with SIGKILL while it holds many open streams
 * (issue 15's kill target, small). Against whole stacks through nginx (kill_child.sh: stack 1
 * with NOVA_FCGI_STREAMS=loop, stack 2 with thread; two children each):
 *
 *   - N chats (KILL_CHILD_N, default 150) are opened at once; once every one has its first
 *     delta, the child that /status?full says holds the most open streams is killed (SIGKILL);
 *   - every client whose connection broke reconnects as the page does (static/js/stream.js):
 *     GET /api/chat/<request_id>/events with Last-Event-ID = the last id it saw, after a capped
 *     exponential backoff with jitter (300 ms base, 5 s cap), retrying 429 and 5xx, giving up
 *     after 6 attempts in a row without progress or on 404, and keeping only events newer than
 *     the last one seen;
 *   - every chat ends with `done` — whole after its resumes, or typed (an `error` with a code,
 *     then `done`) — within BOUND_MS of the kill: none hangs, none is lost;
 *   - each chat's events, joined over its connections, are exactly its transcript
 *     (nova:log:<request>: the same ids, types and data, in order — the first meta has the
 *     asking client's session id besides): no gap, no duplicate;
 *   - the master is alive and has both children again.
 *
 * Printed per mode: the streams the victim held, connections broken, resumes, typed endings,
 * and the time from the kill to the last `done`. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "../unit/test.h"
#include "redis_jobs.h"
#include "sse_client.h"
#include "stack_util.h"

#define N_DEFAULT 150   /* KILL_CHILD_N */
#define N_MAX 1000
#define BOUND_MS 30000  /* every chat has ended this long after the kill */
#define KILL_BY_MS 20000 /* the kill comes once every chat has a delta, or the test fails */
#define PARTS_MAX 16
/* The page's resume policy (static/js/stream.js). */
#define RESUME_ATTEMPTS 6
#define BACKOFF_BASE_MS 300
#define BACKOFF_CAP_MS 5000

static int N = N_DEFAULT;

static uint32_t rnd_u32(void)
{
    static uint64_t x = 0x9E3779B97F4A7C15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)(x >> 16);
}

enum kstate { K_OPEN, K_WAIT, K_DONE, K_LOST };

struct kchat {
    enum kstate state;
    struct stream *part[PARTS_MAX];  /* the POST, then each resume */
    size_t n_parts;
    struct ev **evs;                 /* the events passed on (newer than the last seen) */
    size_t n_evs, cap_evs;
    char request_id[80];
    char last_id[64];
    int attempt;                     /* resumes in a row without progress */
    double next_try;
    double t_done;
    bool broken;                     /* its first connection ended before done */
    char lost_why[64];
};

struct krun {
    const char *base, *run_dir, *mode;
    struct kchat *c;
    struct loop l;
    double t0, t_kill;
    pid_t master, victim;
    long victim_streams, total_streams;
    int resumes;
};

static void set_state(struct kchat *c, enum kstate s, const char *why)
{
    c->state = s;
    if (why && !c->lost_why[0])
        snprintf(c->lost_why, sizeof c->lost_why, "%s", why);
}

/* Passes on a finished connection's events newer than the last seen (the page's dispatch);
 * returns how many. */
static size_t fold(struct kchat *c, struct stream *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct ev *e = &s->evs[i];
        if (e->id[0]) {
            if (c->last_id[0] && id_cmp(e->id, c->last_id) != 1)
                continue;
            snprintf(c->last_id, sizeof c->last_id, "%s", e->id);
        }
        if (c->n_evs == c->cap_evs) {
            c->cap_evs = c->cap_evs ? c->cap_evs * 2 : 64;
            c->evs = xrealloc(c->evs, c->cap_evs * sizeof *c->evs);
        }
        c->evs[c->n_evs++] = e;
        n++;
        if (strcmp(e->type, "meta") == 0 && !c->request_id[0]) {
            const char *rid = jstr(ev_json(e), "request_id");
            snprintf(c->request_id, sizeof c->request_id, "%s", rid ? rid : "");
        }
    }
    return n;
}

static bool saw_done(const struct kchat *c)
{
    return c->n_evs && strcmp(c->evs[c->n_evs - 1]->type, "done") == 0;
}

/* One chat's connection ended: done, or resume later as the page would, or give up. */
static void chat_ended(struct krun *x, struct kchat *c, double now)
{
    struct stream *s = c->part[c->n_parts - 1];
    size_t progress = fold(c, s);
    if (saw_done(c)) {
        set_state(c, K_DONE, NULL);
        c->t_done = now;
        return;
    }
    if (c->n_parts == 1)
        c->broken = true;
    if (!c->request_id[0])
        return set_state(c, K_LOST, "dropped before meta");
    if (s->status == 404)
        return set_state(c, K_LOST, "gone (404)");
    if (s->status && s->status != 200 && s->status != 429 && s->status < 500)
        return set_state(c, K_LOST, "refused resume");
    if (progress)
        c->attempt = 0;
    if (c->attempt >= RESUME_ATTEMPTS || c->n_parts == PARTS_MAX)
        return set_state(c, K_LOST, "resume attempts exhausted");
    int wait = BACKOFF_BASE_MS << c->attempt;
    if (wait > BACKOFF_CAP_MS)
        wait = BACKOFF_CAP_MS;
    c->next_try = now + wait / 2 + rnd_u32() % (unsigned)(wait / 2);
    set_state(c, K_WAIT, NULL);
    (void)x;
}

static void chat_resume(struct krun *x, struct kchat *c)
{
    char path[160];
    snprintf(path, sizeof path, "/api/chat/%s/events", c->request_id);
    struct stream *r = stream_new(x->base, NULL, path, NULL, NULL, 0,
                                  c->last_id[0] ? c->last_id : NULL);
    c->part[c->n_parts++] = r;
    c->attempt++;
    x->resumes++;
    set_state(c, K_OPEN, NULL);
    loop_add(&x->l, r);
}

/* The child holding the most open streams, from /status?full ("pid: P" ... "open_streams: S"
 * per process block); 0 when none is listed. */
static pid_t busiest_child(const char *base, long *streams, long *total)
{
    char url[512];
    snprintf(url, sizeof url, "%s/status?full", base);
    struct http_reply rep;
    http_do("GET", url, NULL, NULL, 0, &rep);
    pid_t best = 0, cur = 0;
    *streams = -1;
    *total = 0;
    const char *p = rep.status == 200 ? buf_cstr(&rep.body) : "";
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > 5 && strncmp(p, "pid: ", 5) == 0) {
            cur = (pid_t)atol(p + 5);
        } else if (cur && len > 14 && strncmp(p, "open_streams: ", 14) == 0) {
            long v = atol(p + 14);
            *total += v;
            if (v > *streams) {
                *streams = v;
                best = cur;
            }
            cur = 0;
        }
        p += len + (eol != NULL);
    }
    http_reply_free(&rep);
    return best;
}

static int kill_tick(void *user)
{
    struct krun *x = user;
    double now = now_ms();
    size_t ended = 0, with_delta = 0;
    for (int i = 0; i < N; i++) {
        struct kchat *c = &x->c[i];
        if (c->state == K_OPEN && c->part[c->n_parts - 1]->finished)
            chat_ended(x, c, now);
        if (c->state == K_WAIT && now >= c->next_try)
            chat_resume(x, c);
        ended += c->state == K_DONE || c->state == K_LOST;
        struct stream *s0 = c->part[0];
        for (size_t k = 0; k < s0->n && c->n_parts == 1; k++)
            if (strcmp(s0->evs[k].type, "delta") == 0) {
                with_delta++;
                break;
            }
    }
    if (!x->t_kill) {
        if (with_delta == (size_t)N) {
            x->victim = busiest_child(x->base, &x->victim_streams, &x->total_streams);
            if (x->victim > 0 && kill(x->victim, SIGKILL) == 0)
                x->t_kill = now_ms();
            else
                return 1;
        } else if (now - x->t0 > KILL_BY_MS || ended) {
            return 1; /* no kill: the checks below say why */
        }
        return 0;
    }
    return ended == (size_t)N || now - x->t_kill > BOUND_MS;
}

/* The asking client's meta is the transcript's with its session id added (chat.c): the same
 * JSON once that is taken out. */
static bool meta_same(const char *kept, const char *read)
{
    json_object *a = json_tokener_parse(kept), *b = json_tokener_parse(read);
    bool same = false;
    if (a && b && jstr(b, "session_id") && !jget(a, "session_id")) {
        json_object_object_del(b, "session_id");
        same = json_object_equal(a, b);
    }
    json_object_put(a);
    json_object_put(b);
    return same;
}

/* The chat's events equal its transcript: the same ids, types and data, in order. */
static bool matches_transcript(redisContext *r, const struct kchat *c, char *why, size_t wn)
{
    redisReply *rep = redisCommand(r, "XRANGE nova:log:%s - +", c->request_id);
    bool ok = rep && rep->type == REDIS_REPLY_ARRAY;
    if (!ok)
        snprintf(why, wn, "XRANGE failed");
    if (ok && rep->elements != c->n_evs) {
        snprintf(why, wn, "%zu events read, %zu in the transcript", c->n_evs, rep->elements);
        ok = false;
    }
    for (size_t i = 0; ok && i < rep->elements; i++) {
        redisReply *e = rep->element[i];
        const struct ev *v = c->evs[i];
        const char *t = NULL, *d = NULL;
        size_t dl = 0;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(why, wn, "entry %zu unreadable", i);
            ok = false;
            break;
        }
        redisReply *f = e->element[1];
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "t") == 0)
                t = f->element[k + 1]->str;
            else if (strcmp(f->element[k]->str, "d") == 0) {
                d = f->element[k + 1]->str;
                dl = f->element[k + 1]->len;
            }
        }
        bool same = d && dl == v->len && memcmp(d, v->data, dl) == 0;
        if (!same && d && t && strcmp(t, "meta") == 0 && strcmp(v->type, "meta") == 0)
            same = meta_same(d, v->data);
        if (strcmp(e->element[0]->str, v->id) != 0 || !t || strcmp(t, v->type) != 0 || !same) {
            snprintf(why, wn, "event %zu: read [%s] %s, transcript [%s] %s", i, v->id, v->type,
                     e->element[0]->str, t ? t : "?");
            ok = false;
        }
    }
    if (rep)
        freeReplyObject(rep);
    return ok;
}

static void kill_child_under(const char *base, const char *run_dir, const char *mode)
{
    CHECK(base && run_dir);
    if (!base || !run_dir)
        return;
    struct krun x = {.base = base, .run_dir = run_dir, .mode = mode};
    x.master = read_pid_file(run_dir, "nova-fcgi");
    pid_t kids[8];
    size_t n_kids = x.master > 0 ? proc_children(x.master, kids, 8) : 0;
    CHECK(x.master > 0 && n_kids == 2);
    x.c = xcalloc((size_t)N, sizeof *x.c);
    loop_init(&x.l);
    for (int i = 0; i < N; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "길드에 가입하는 방법 (문의 %d) #sim:len=80 #sim:tps=20", i);
        struct kchat *c = &x.c[i];
        c->part[c->n_parts++] = chat_new_on(base, msg, "ko");
        loop_add(&x.l, c->part[0]);
    }
    x.t0 = now_ms();
    while (!kill_tick(&x)) {
        /* Between resumes no transfer may be open: loop_run returns at once, so wait out a
         * turn of the backoff timers here. */
        double t = now_ms();
        loop_run(&x.l, 50, kill_tick, &x);
        if (now_ms() - t < 5)
            sleep_ms(5);
    }
    loop_free(&x.l);

    redisContext *r = redis_open(run_dir);
    CHECK(r != NULL);
    int done = 0, typed = 0, resumed = 0, broken = 0, lost = 0, hung = 0, exact = 0;
    int reported = 0;
    double last_done = 0;
    for (int i = 0; i < N; i++) {
        struct kchat *c = &x.c[i];
        if (c->state == K_OPEN && c->part[c->n_parts - 1]->finished)
            chat_ended(&x, c, now_ms()); /* ended on the loop's last turn */
        broken += c->broken;
        resumed += c->n_parts > 1 && c->state == K_DONE;
        lost += c->state == K_LOST;
        hung += c->state == K_OPEN || c->state == K_WAIT;
        if (c->state == K_DONE) {
            done++;
            if (c->t_done - x.t_kill > last_done)
                last_done = c->t_done - x.t_kill;
            bool err = false, once = true;
            for (size_t k = 0; k < c->n_evs; k++) {
                if (strcmp(c->evs[k]->type, "error") == 0 && jstr(ev_json(c->evs[k]), "code"))
                    err = true;
                if (k + 1 < c->n_evs && strcmp(c->evs[k]->type, "done") == 0)
                    once = false;
            }
            typed += err;
            char why[256] = "";
            bool ok = once && r && matches_transcript(r, c, why, sizeof why);
            exact += ok;
            if (!ok && reported++ < 3)
                fprintf(stderr, "  %s chat %d (%s): not its transcript: %s\n", mode, i,
                        c->request_id, once ? why : "done twice");
        } else if (reported++ < 3) {
            fprintf(stderr, "  %s chat %d (%s): %s after %zu connection(s), %zu events, last "
                    "id %s\n", mode, i, c->request_id,
                    c->state == K_LOST ? c->lost_why : "still open at the bound", c->n_parts,
                    c->n_evs, c->last_id);
            stream_dump("its last connection", c->part[c->n_parts - 1]);
        }
    }
    if (r)
        redisFree(r);
    pid_t after[8];
    size_t n_after = 0;
    for (double end = now_ms() + 5000; now_ms() < end; sleep_ms(20))
        if ((n_after = x.master > 0 ? proc_children(x.master, after, 8) : 0) == 2)
            break;
    printf("  %s: %d chats; killed child %d holding %ld of %ld open streams %.0f ms after the "
           "start; %d connections broke, %d resumes; %d ended with done (%d resumed, %d typed), "
           "%d lost, %d hung; %d equal to their transcript; the last done %.0f ms after the "
           "kill; %zu children again\n",
           mode, N, (int)x.victim, x.victim_streams, x.total_streams,
           x.t_kill ? x.t_kill - x.t0 : -1.0, broken, x.resumes, done, resumed, typed, lost,
           hung, exact, last_done, n_after);
    CHECK(x.t_kill > 0 && x.victim > 0);
    CHECK(x.victim_streams * 3 >= N); /* the busier of two children held a good share */
    CHECK(broken >= 1 && broken <= x.victim_streams + 2);
    CHECK(hung == 0 && lost == 0 && done == N);
    CHECK(exact == N);
    CHECK(proc_alive(x.master) && n_after == 2);
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < x.c[i].n_parts; k++)
            stream_free(x.c[i].part[k]);
        free(x.c[i].evs);
    }
    free(x.c);
}

static void test_kill_child_loop(void)
{
    kill_child_under(getenv("NOVA_URL"), getenv("NOVA_RUN_DIR"), "loop");
}

static void test_kill_child_thread(void)
{
    kill_child_under(getenv("NOVA_URL2"), getenv("NOVA_RUN_DIR2"), "thread");
}

int main(void)
{
    if (!getenv("NOVA_URL") || !getenv("NOVA_RUN_DIR")) {
        fprintf(stderr, "NOVA_URL and NOVA_RUN_DIR must be set (run kill_child.sh)\n");
        return 2;
    }
    const char *v = getenv("KILL_CHILD_N");
    if (v && atoi(v) > 0)
        N = atoi(v) < N_MAX ? atoi(v) : N_MAX;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_kill_child_loop);
    if (getenv("NOVA_URL2"))
        RUN(test_kill_child_thread);
    curl_global_cleanup();
    return test_summary();
}
