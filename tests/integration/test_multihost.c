/* Integration test across hosts (run by multihost.sh, inside the "front" host's namespace):
 * chats through the front nginx, which has two web hosts as upstreams, answered by workers on
 * three worker hosts, all on one Redis host. Links are cut with `ip -n HUB link set … down`.
 *
 *   - spread: chats answered by both web hosts and all three worker hosts, byte-exact;
 *   - a worker host cut off mid-stream: its jobs are reclaimed by the others and every stream
 *     ends whole (its shown answers typed worker_lost); when the link comes back, no
 *     transcript gains an event and a replay from the start is the stream as it was read;
 *   - a web host cut off mid-stream: the front cuts its silent streams, their clients resume
 *     through the front on the other web host and get whole answers; when the link comes back,
 *     nothing is answered twice (one done, one end per model in every transcript);
 *   - after both: new chats work on both web hosts; novactl status names the worker hosts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/test.h"
#include "redis_jobs.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *front_url, *redis_host, *redis_password, *hub, *tag, *tmp_dir, *novactl,
    *redis_url;

static redisContext *redis_tcp(void)
{
    struct timeval tv = {5, 0};
    redisContext *r = redisConnectWithTimeout(redis_host, 6379, tv);
    if (!r || r->err) {
        fprintf(stderr, "  redis %s: %s\n", redis_host, r ? r->errstr : "out of memory");
        if (r)
            redisFree(r);
        return NULL;
    }
    redisSetTimeout(r, tv);
    redisReply *a = redisCommand(r, "AUTH %s", redis_password);
    bool ok = a && a->type == REDIS_REPLY_STATUS;
    if (a)
        freeReplyObject(a);
    if (!ok) {
        redisFree(r);
        return NULL;
    }
    return r;
}

/* Sets host's link (its veth on the hub's bridge) down or up. */
static bool link_set(const char *host, bool up)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip -n %s link set dev v%s%s %s", hub, tag, host,
             up ? "up" : "down");
    return system(cmd) == 0;
}

/* How many lines of web host n's nginx access log hold needle. */
static int access_lines(int n, const char *needle)
{
    char path[700], line[4096];
    snprintf(path, sizeof path, "%s/web%d/nginx-access.log", tmp_dir, n);
    FILE *f = fopen(path, "r");
    int k = 0;
    while (f && fgets(line, sizeof line, f))
        k += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return k;
}

/* Every model stream of c byte-exact against the simulator's model of its job, except those
 * named in typed (an error code expected instead, e.g. worker_lost); returns the count. */
static size_t exact_or_typed(redisContext *r, struct chat *c, const char *typed_code)
{
    struct jobset js = {0};
    jobset_load(r, "micro", &js);
    jobset_load(r, "pro", &js);
    size_t good = 0;
    for (size_t k = 0; k < c->n_ms; k++) {
        struct model_stream *m = &c->ms[k];
        const struct job *j = jobset_find(&js, c->request_id, m->phase, m->model);
        char why[512] = "no job in Redis";
        if (typed_code && strcmp(m->error_code, typed_code) == 0)
            good++;
        else if (j && m->done && sim_text_is(j, m->text.data, m->text.len, why, sizeof why) == 0)
            good++;
        else
            fprintf(stderr, "  %s %s %s: %s (error %s)\n", c->request_id, m->phase, m->model,
                    m->done ? why : "no model_done", m->error_code[0] ? m->error_code : "none");
    }
    jobset_free(&js);
    return good;
}

/* A whole chat: meta first, done last and once, ids increasing, a model stream of each model
 * per phase (two in ko; four in en: the player's answer and the staff's Korean one). */
static bool whole(struct stream *s, struct chat *c, const char *what)
{
    int before = test_cur_failures;
    CHECK(s->n >= 2 && strcmp(s->evs[0].type, "meta") == 0);
    CHECK(c->done_last && c->n_done == 1 && c->ids_increasing && c->utf8_ok && c->json_ok);
    CHECK(c->n_ms == 2 || c->n_ms == 4);
    if (test_cur_failures != before) {
        stream_dump(what, s);
        return false;
    }
    return true;
}

static const char *const questions[][2] = {
    {"폴이 레벨업을 못 해요", "ko"},      {"환불은 어떻게 신청하나요?", "ko"},
    {"how do I join a guild?", "en"},     {"비밀번호를 잊어버렸어요", "ko"},
    {"how do refunds work?", "en"},       {"길드에 가입하는 방법", "ko"},
};
#define NQ (sizeof questions / sizeof questions[0])

static struct stream *chat_with(size_t i, const char *sim)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s %s", questions[i % NQ][0], sim);
    return chat_new_on(front_url, msg, questions[i % NQ][1]);
}

/* The worker ids in nova:done:{queue} receipts. */
static bool done_by_host(redisContext *r, const char *host)
{
    bool found = false;
    const char *queues[] = {"nova:done:{micro}", "nova:done:{pro}"};
    for (int q = 0; q < 2 && !found; q++) {
        redisReply *rep = redisCommand(r, "XRANGE %s - +", queues[q]);
        for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
            redisReply *f = rep->element[i]->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (strcmp(f->element[k]->str, "worker") == 0 &&
                    strncmp(f->element[k + 1]->str, host, strlen(host)) == 0 &&
                    f->element[k + 1]->str[strlen(host)] == '-')
                    found = true;
        }
        if (rep)
            freeReplyObject(rep);
    }
    return found;
}

/* n quick chats at once through the front; checks each is whole, returns how many were, and
 * sets *exact and *streams to its byte-exact and all model streams. web[2] gets each web host's
 * share of them from its access log. */
static size_t quick_chats(redisContext *r, int n, const char *what, size_t *exact,
                          size_t *streams, int web[2])
{
    int web0[2] = {access_lines(1, "POST /api/chat"), access_lines(2, "POST /api/chat")};
    struct stream *v[32];
    if (n > 32)
        n = 32;
    struct loop l;
    loop_init(&l);
    for (int i = 0; i < n; i++) {
        v[i] = chat_with((size_t)i, "#sim:len=20 #sim:tps=100");
        loop_add(&l, v[i]);
    }
    loop_run(&l, 30000, NULL, NULL);
    loop_free(&l);
    size_t whole_n = 0;
    *exact = *streams = 0;
    for (int i = 0; i < n; i++) {
        struct chat c;
        chat_read(v[i], &c);
        *streams += c.n_ms;
        if (whole(v[i], &c, what)) {
            whole_n++;
            *exact += exact_or_typed(r, &c, NULL);
        }
        chat_free(&c);
        stream_free(v[i]);
    }
    web[0] = access_lines(1, "POST /api/chat") - web0[0];
    web[1] = access_lines(2, "POST /api/chat") - web0[1];
    return whole_n;
}

static void test_spread_over_hosts(void)
{
    redisContext *r = redis_tcp();
    CHECK(r != NULL);
    if (!r)
        return;
    enum { N = 18 };
    size_t exact, streams;
    int web[2];
    size_t whole_n = quick_chats(r, N, "spread chat", &exact, &streams, web);
    bool hosts[3] = {done_by_host(r, "w1"), done_by_host(r, "w2"), done_by_host(r, "w3")};
    printf("  %d chats: %zu whole, %zu of %zu model streams byte-exact; web1 %d, web2 %d; "
           "worker hosts answering: w1 %s, w2 %s, w3 %s\n", N, whole_n, exact, streams, web[0],
           web[1], hosts[0] ? "yes" : "no", hosts[1] ? "yes" : "no", hosts[2] ? "yes" : "no");
    CHECK(whole_n == N && exact == streams);
    CHECK(web[0] > 0 && web[1] > 0 && web[0] + web[1] == N);
    CHECK(hosts[0] && hosts[1] && hosts[2]);
    redisFree(r);
}

/* ---- a worker host cut off ------------------------------------------------------------------ */

/* The worker host (w1..w3) holding the most pending jobs of the requests in rids, and how many. */
static int busiest_host(redisContext *r, int *held)
{
    int count[3] = {0};
    const char *keys[] = {"nova:jobs:{micro}", "nova:jobs:{pro}"};
    for (int q = 0; q < 2; q++) {
        redisReply *rep = redisCommand(r, "XPENDING %s workers - + 200", keys[q]);
        for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
            const char *consumer = rep->element[i]->element[1]->str;
            if (consumer[0] == 'w' && consumer[1] >= '1' && consumer[1] <= '3' &&
                consumer[2] == '-')
                count[consumer[1] - '1']++;
        }
        if (rep)
            freeReplyObject(rep);
    }
    int best = 0;
    for (int i = 1; i < 3; i++)
        if (count[i] > count[best])
            best = i;
    *held = count[best];
    return best + 1;
}

static long long transcript_len(redisContext *r, const char *rid)
{
    redisReply *rep = redisCommand(r, "XLEN nova:log:%s", rid);
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    return n;
}

/* Ends of each (phase, model) and dones in a request's transcript: each must be one. */
static bool answered_once(redisContext *r, const char *rid)
{
    redisReply *rep = redisCommand(r, "XRANGE nova:log:%s - +", rid);
    int dones = 0, ends = 0;
    char seen[8][64];
    int n_seen = 0;
    bool twice = false;
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        redisReply *f = rep->element[i]->element[1];
        const char *type = NULL, *data = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "t") == 0)
                type = f->element[k + 1]->str;
            else if (strcmp(f->element[k]->str, "d") == 0)
                data = f->element[k + 1]->str;
        }
        if (!type)
            continue;
        if (strcmp(type, "done") == 0)
            dones++;
        if ((strcmp(type, "model_done") == 0 || strcmp(type, "error") == 0) && data) {
            json_object *j = json_tokener_parse(data);
            char key[64];
            snprintf(key, sizeof key, "%s/%s", jstr(j, "phase") ? jstr(j, "phase") : "",
                     jstr(j, "model") ? jstr(j, "model") : "");
            for (int s = 0; s < n_seen; s++)
                twice |= strcmp(seen[s], key) == 0;
            if (n_seen < 8)
                snprintf(seen[n_seen++], sizeof seen[0], "%s", key);
            ends++;
            json_object_put(j);
        }
    }
    if (rep)
        freeReplyObject(rep);
    if (dones != 1 || twice)
        fprintf(stderr, "  %s: %d done, %d ends%s\n", rid, dones, ends,
                twice ? ", a model ended twice" : "");
    return dones == 1 && !twice;
}

/* A replay of the whole transcript from the start: the events as the live stream read them
 * (ids, types, data), none more; its meta is the live one's but for the session id, which
 * only the stream that asked carries. */
static bool replay_matches(const char *rid, const struct stream *live)
{
    char path[700];
    snprintf(path, sizeof path, "/api/chat/%s/events", rid);
    struct stream *s = stream_new(front_url, NULL, path, NULL, NULL, 0, NULL);
    drive_one(s, 15000);
    bool same = s->n == live->n && s->n > 0 && strcmp(s->evs[0].id, live->evs[0].id) == 0 &&
                strcmp(s->evs[0].type, "meta") == 0;
    size_t i = 1;
    for (; same && i < s->n; i++)
        same = same_event(&s->evs[i], &live->evs[i]);
    if (!same) {
        fprintf(stderr, "  %s: the replay has %zu events, the live stream had %zu\n", rid, s->n,
                live->n);
        if (i > 0 && i <= s->n && i <= live->n)
            fprintf(stderr, "    first difference at %zu: replay [%s] %s %.200s / live [%s] %s "
                    "%.200s\n", i - 1, s->evs[i - 1].id, s->evs[i - 1].type, s->evs[i - 1].data,
                    live->evs[i - 1].id, live->evs[i - 1].type, live->evs[i - 1].data);
    }
    stream_free(s);
    return same;
}

struct cut_ctx {
    struct stream **v;
    size_t n;
    redisContext *r;
    int host;        /* the worker host cut, 0: not yet */
    int held;
    double t_cut;
};

static size_t micro_deltas(struct stream *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += strcmp(s->evs[i].type, "delta") == 0 && jstr_is(ev_json(&s->evs[i]), "model", "micro");
    return n;
}

static int worker_cut_tick(void *user)
{
    struct cut_ctx *x = user;
    if (x->host)
        return 0;
    for (size_t i = 0; i < x->n; i++)
        if (micro_deltas(x->v[i]) < 3)
            return now_ms() - x->v[0]->t0 > 15000;
    x->host = busiest_host(x->r, &x->held);
    char name[16];
    snprintf(name, sizeof name, "w%d", x->host);
    CHECK(x->held > 0 && link_set(name, false));
    x->t_cut = now_ms();
    return 0;
}

static void test_worker_host_cut_off(void)
{
    redisContext *r = redis_tcp();
    CHECK(r != NULL);
    if (!r)
        return;
    enum { N = 6 };
    struct stream *v[N];
    struct loop l;
    loop_init(&l);
    for (size_t i = 0; i < N; i++) {
        v[i] = chat_with(i, "#sim:len=300 #sim:tps=50");
        loop_add(&l, v[i]);
    }
    struct cut_ctx x = {.v = v, .n = N, .r = r};
    loop_run(&l, 40000, worker_cut_tick, &x);
    loop_free(&l);
    CHECK(x.host > 0);
    double t_end = now_ms();
    size_t good = 0, whole_n = 0, lost = 0, streams = 0;
    char rids[N][80];
    long long lens[N];
    for (size_t i = 0; i < N; i++) {
        struct chat c;
        chat_read(v[i], &c);
        snprintf(rids[i], sizeof rids[i], "%s", c.request_id);
        lens[i] = transcript_len(r, c.request_id);
        streams += c.n_ms;
        if (whole(v[i], &c, "chat with a worker host cut off")) {
            whole_n++;
            good += exact_or_typed(r, &c, "worker_lost");
            for (size_t k = 0; k < c.n_ms; k++)
                lost += strcmp(c.ms[k].error_code, "worker_lost") == 0;
        }
        chat_free(&c);
    }
    printf("  worker host w%d cut off holding %d jobs: %zu of %d streams whole %.0f ms after the "
           "cut, %zu answers ended worker_lost, the rest byte-exact (%zu of %zu)\n", x.host,
           x.held, whole_n, N, t_end - x.t_cut, lost, good, streams);
    CHECK(whole_n == N && good == streams && lost > 0);
    /* The link comes back: whatever the cut worker still had to write must change nothing. */
    char name[16];
    snprintf(name, sizeof name, "w%d", x.host > 0 ? x.host : 1);
    CHECK(link_set(name, true));
    sleep_ms(5000); /* the observation window: the cut worker reconnects and flushes in ~1 s */
    size_t unchanged = 0, once = 0, replayed = 0;
    for (size_t i = 0; i < N; i++) {
        unchanged += transcript_len(r, rids[i]) == lens[i];
        once += answered_once(r, rids[i]);
        replayed += replay_matches(rids[i], v[i]);
        stream_free(v[i]);
    }
    for (size_t i = 0; i < N; i++)
        if (transcript_len(r, rids[i]) != lens[i])
            fprintf(stderr, "  %s: the transcript had %lld events at the stream's end, %lld now\n",
                    rids[i], lens[i], transcript_len(r, rids[i]));
    printf("  link back: %zu of %d transcripts unchanged, %zu answered once, %zu replays "
           "identical to the live streams\n", unchanged, N, once, replayed);
    CHECK(unchanged == N && once == N && replayed == N);
    redisFree(r);
}

/* ---- a web host cut off --------------------------------------------------------------------- */

struct webcut_ctx {
    struct stream **v;
    size_t n;
    double t_cut;
};

static int web_cut_tick(void *user)
{
    struct webcut_ctx *x = user;
    if (x->t_cut > 0)
        return 0;
    for (size_t i = 0; i < x->n; i++)
        if (micro_deltas(x->v[i]) < 3)
            return now_ms() - x->v[0]->t0 > 15000;
    CHECK(link_set("web1", false));
    x->t_cut = now_ms();
    return 0;
}

static void test_web_host_cut_off(void)
{
    redisContext *r = redis_tcp();
    CHECK(r != NULL);
    if (!r)
        return;
    enum { N = 6 };
    struct stream *v[N], *again[N] = {0};
    struct loop l;
    loop_init(&l);
    for (size_t i = 0; i < N; i++) {
        v[i] = chat_with(i, "#sim:len=250 #sim:tps=40");
        loop_add(&l, v[i]);
    }
    struct webcut_ctx x = {.v = v, .n = N};
    loop_run(&l, 30000, web_cut_tick, &x);
    loop_free(&l);
    CHECK(x.t_cut > 0);
    /* The streams the front cut (silent for 3 s) resume with their last id, through the front. */
    struct loop l2;
    loop_init(&l2);
    size_t cut = 0;
    char rids[N][80];
    for (size_t i = 0; i < N; i++) {
        struct chat c;
        chat_read(v[i], &c);
        snprintf(rids[i], sizeof rids[i], "%s", c.request_id);
        if (!c.done_last && c.request_id[0] && v[i]->n > 0) {
            char path[700];
            snprintf(path, sizeof path, "/api/chat/%s/events", c.request_id);
            again[i] = stream_new(front_url, NULL, path, NULL, NULL, 0, v[i]->evs[v[i]->n - 1].id);
            loop_add(&l2, again[i]);
            cut++;
        }
        chat_free(&c);
    }
    double t_resume = now_ms();
    loop_run(&l2, 40000, NULL, NULL);
    loop_free(&l2);
    size_t whole_n = 0, exact = 0, streams = 0;
    for (size_t i = 0; i < N; i++) {
        struct stream *s = again[i] ? joined(v[i], again[i]) : v[i];
        struct chat c;
        chat_read(s, &c);
        streams += c.n_ms;
        if (whole(s, &c, again[i] ? "chat resumed on the other web host" : "chat on web2")) {
            whole_n++;
            exact += exact_or_typed(r, &c, NULL);
        }
        chat_free(&c);
        if (again[i])
            joined_free(s, v[i], again[i]);
    }
    printf("  web host web1 cut off: %zu of %d streams cut by the front and resumed through it "
           "(%.0f ms to resume all); %zu of %d whole, %zu of %zu model streams byte-exact\n", cut,
           N, now_ms() - t_resume, whole_n, N, exact, streams);
    CHECK(cut > 0 && cut < N && whole_n == N && exact == streams);
    CHECK(link_set("web1", true));
    sleep_ms(5000); /* web1 sees its clients gone and its Redis again */
    size_t once = 0;
    for (size_t i = 0; i < N; i++)
        once += answered_once(r, rids[i]);
    printf("  link back: %zu of %d requests answered once\n", once, N);
    CHECK(once == N);
    for (size_t i = 0; i < N; i++) {
        stream_free(v[i]);
        if (again[i])
            stream_free(again[i]);
    }
    redisFree(r);
}

/* ---- after the cuts ------------------------------------------------------------------------- */

static void test_after_the_cuts(void)
{
    redisContext *r = redis_tcp();
    CHECK(r != NULL);
    if (!r)
        return;
    sleep_ms(2100); /* the front's fail_timeout for web1 */
    size_t exact, streams;
    int web[2];
    quick_chats(r, 6, "chat after the cuts", &exact, &streams, web);
    printf("  after the cuts: %zu of %zu model streams byte-exact; web1 %d, web2 %d\n", exact,
           streams, web[0], web[1]);
    CHECK(exact == streams && web[0] > 0 && web[1] > 0);
    /* novactl status names every worker host. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL='%s' '%s' status 2>&1", redis_url, novactl);
    struct buf status;
    buf_init(&status, 1u << 20);
    run_command(cmd, &status);
    const char *out = buf_cstr(&status);
    bool named = strstr(out, "host=mh-w1,") && strstr(out, "host=mh-w2,") &&
                 strstr(out, "host=mh-w3,");
    printf("  novactl status names hosts mh-w1, mh-w2, mh-w3: %s\n", named ? "yes" : "no");
    if (!named)
        fprintf(stderr, "%.2000s\n", out);
    CHECK(named);
    buf_free(&status);
    redisFree(r);
}

int main(void)
{
    front_url = getenv("MH_URL");
    redis_host = getenv("MH_REDIS_HOST");
    redis_password = getenv("MH_REDIS_PASSWORD");
    hub = getenv("MH_HUB");
    tag = getenv("MH_TAG");
    tmp_dir = getenv("MH_TMP");
    novactl = getenv("MH_NOVACTL");
    redis_url = getenv("MH_REDIS_URL");
    if (!front_url || !redis_host || !redis_password || !hub || !tag || !tmp_dir || !novactl ||
        !redis_url) {
        fprintf(stderr, "test_multihost: run it through tests/integration/multihost.sh\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_spread_over_hosts);
    RUN(test_worker_host_cut_off);
    RUN(test_web_host_cut_off);
    RUN(test_after_the_cuts);
    curl_global_cleanup();
    return test_summary();
}
