/* worker_harness: what the worker tests (test_worker.c, test_worker_faults.c) need to play
 * nova-fcgi against running workers: a command connection, jobs built, queued and predicted
 * (the simulator's model on the exact body the worker will send), a pub/sub listener that
 * collects each job's events, and checks of answers, transcripts and pending lists. Static
 * functions in a header because every .c file in tests/integration is its own program. */
#ifndef NOVA_WORKER_HARNESS_H
#define NOVA_WORKER_HARNESS_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "../bedrock-sim/sim_model.h"
#include "../unit/test.h"
#include "core/alloc.h"
#include "core/utf8.h"
#include "redis/append.h"
#include "redis/contract.h"
#include "redis/events.h"
#include "redis/job.h"
#include "simstats.h"
#include "workers/call.h"

#define MICRO_ID "amazon.nova-micro-v1:0"
#define PRO_ID "amazon.nova-pro-v1:0"

static const char *redis_sock, *sim_url, *worker_dir; /* from the environment */
static redisContext *R; /* commands */

/* The queue a test names ("micro", "pro", "kb"); a name that is none is the test's bug. */
static enum queue test_queue(const char *name)
{
    enum queue q = QUEUE_MICRO;
    if (queue_parse(name, strlen(name), &q) < 0)
        fprintf(stderr, "test: no queue named %s\n", name);
    return q;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long long epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static redisContext *redis_open(void)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectUnixWithTimeout(redis_sock, tv);
    if (!c || c->err) {
        fprintf(stderr, "redis %s: %s\n", redis_sock, c ? c->errstr : "alloc");
        exit(1);
    }
    redisSetTimeout(c, tv);
    return c;
}

/* ---- the simulator's counters ----------------------------------------------------------- */

static long sim_stat(const char *name)
{
    return simstats_get(sim_url, name);
}

/* ---- jobs ------------------------------------------------------------------------------- */

static const char *const documents[] = {
    "<document index=\"1\" title=\"레벨업과 경험치\" url=\"https://support.example.com/ko/level\">\n"
    "폴의 레벨업에는 경험치가 필요합니다. 던전과 퀘스트에서 경험치를 얻을 수 있습니다. "
    "경험치가 오르지 않으면 게임을 재시작하고 최신 버전인지 확인하세요.\n</document>\n",
    "<document index=\"1\" title=\"Account and login\" "
    "url=\"https://support.example.com/en/login\">\n"
    "To reset your password, open the login screen and choose Forgot password. "
    "A reset link is sent to your registered e-mail within five minutes.\n</document>\n",
};
static const char *const questions[] = {
    "폴이 레벨업을 못 해요. 경험치가 안 올라요.",
    "How do I reset my password if I can't log in?",
    "환불은 어떻게 신청하나요? 결제한 지 3일 됐어요.",
    "My inventory is full, what can I do with old items? 🙂",
};

/* A model job as nova-fcgi would queue it. */
static void job_make(struct job *j, const char *model, const char *request, const char *phase,
                     int variant, const char *extra)
{
    memset(j, 0, sizeof *j);
    bool pro = strcmp(model, "pro") == 0;
    snprintf(j->id, sizeof j->id, "%s-%s-%s", request, phase, model);
    snprintf(j->request, sizeof j->request, "%s", request);
    j->model = pro ? MODEL_PRO : MODEL_MICRO;
    j->queue = model_queue(j->model);
    snprintf(j->phase, sizeof j->phase, "%s", phase);
    snprintf(j->model_id, sizeof j->model_id, "%s", pro ? PRO_ID : MICRO_ID);
    struct buf b;
    buf_init(&b, 1u << 16);
    buf_printf(&b, "You are the game's support agent.\n%s", documents[variant % 2]);
    j->system = buf_steal(&b, NULL);
    j->cache_point = true;
    buf_init(&b, 1u << 16);
    buf_printf(&b, "%s%s%s", questions[variant % 4], extra ? " " : "", extra ? extra : "");
    j->messages[0].role = xstrdup("user");
    j->messages[0].text = buf_steal(&b, NULL);
    j->n_messages = 1;
    j->max_tokens = pro ? 2048 : 1024;
    j->temperature = pro ? 0.5 : 0.3;
    j->top_p = 0.9;
    j->created_ms = epoch_ms();
    j->deadline_ms = j->created_ms + 120000;
}

/* XADDs the job; entry gets the stream id. */
static void job_queue(const struct job *j, char *entry, size_t n)
{
    struct buf json;
    buf_init(&json, JOB_MAX_BYTES);
    CHECK(job_to_json(j, &json) == 0);
    char key[KEY_MAX];
    key_jobs(key, sizeof key, j->queue);
    redisReply *r = redisCommand(R, "XADD %s * job %b", key, json.data, json.len);
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (entry)
        snprintf(entry, n, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
    if (r)
        freeReplyObject(r);
    buf_free(&json);
}

/* What the simulator will answer: its model on the body built from the job as the worker
 * reads it (serialised and parsed back, exactly as it travels). */
static int job_expect(const struct job *j, struct sim_reply *want)
{
    struct buf json, body;
    buf_init(&json, JOB_MAX_BYTES);
    buf_init(&body, 1u << 20);
    job_to_json(j, &json);
    struct job back;
    char err[256];
    int rc = job_from_json(json.data, json.len, &back, err, sizeof err);
    if (rc == 0) {
        struct bedrock_converse_req req;
        struct bedrock_message msgs[JOB_MAX_MESSAGES];
        call_request(&back, msgs, &req);
        bedrock_converse_body(&req, &body);
        rc = sim_model_reply(back.model_id, body.data, body.len, want, err, sizeof err);
        job_free(&back);
    }
    if (rc != 0)
        fprintf(stderr, "  job_expect: %s\n", err);
    buf_free(&json);
    buf_free(&body);
    return rc;
}

/* ---- the listener (plays nova-fcgi's subscriber) ---------------------------------------- */

struct ev {
    char id[EVENT_ID_MAX];
    char type[32];
    char *data;
};

struct tracked {
    const struct job *job;
    char channel[KEY_MAX];
    struct buf text;
    struct ev *evs;
    size_t n_evs;
    bool done;
    int notices;          /* notice events (not an end) */
    char notice_code[32]; /* the last one's */
    bool notice_first;    /* a notice came before any delta */
    char end_type[32];
    char code[32];        /* error events */
    bool retryable;
    json_object *end;     /* the terminal event's data */
    double t_first, t_end;
    int bad;              /* deltas with a wrong shape, phase, model or split UTF-8 */
};

struct listener {
    redisContext *c;
    struct tracked *t;
    size_t n;
};

static void track_event(struct tracked *t, const struct event_msg *m)
{
    t->evs = xrealloc(t->evs, (t->n_evs + 1) * sizeof *t->evs);
    struct ev *e = &t->evs[t->n_evs++];
    snprintf(e->id, sizeof e->id, "%.*s", (int)m->id_len, m->id);
    snprintf(e->type, sizeof e->type, "%.*s", (int)m->type_len, m->type);
    e->data = xstrndup(m->data, m->data_len);
    json_object *o = json_tokener_parse(e->data), *x;
    if (!o) {
        t->bad++;
        return;
    }
    if (strcmp(e->type, "delta") == 0) {
        const char *txt = json_object_object_get_ex(o, "text", &x) ? json_object_get_string(x)
                                                                   : NULL;
        size_t n = txt ? (size_t)json_object_get_string_len(x) : 0;
        if (!txt || n == 0 || !utf8_valid(txt, n))
            t->bad++;
        else
            buf_append(&t->text, txt, n);
        if (!json_object_object_get_ex(o, "phase", &x) ||
            strcmp(json_object_get_string(x), t->job->phase) != 0 ||
            !json_object_object_get_ex(o, "model", &x) ||
            strcmp(json_object_get_string(x), model_name(t->job->model)) != 0 ||
            json_object_object_length(o) != 3)
            t->bad++;
        if (!t->t_first)
            t->t_first = now_ms();
        json_object_put(o);
        return;
    }
    if (strcmp(e->type, "notice") == 0) { /* information along the way, not an end */
        if (t->done)
            t->bad++;
        t->notice_first |= t->notices == 0 && t->text.len == 0;
        t->notices++;
        if (json_object_object_get_ex(o, "code", &x))
            snprintf(t->notice_code, sizeof t->notice_code, "%s", json_object_get_string(x));
        json_object_put(o);
        return;
    }
    if (t->done) /* nothing may follow the end */
        t->bad++;
    t->done = true;
    t->t_end = now_ms();
    snprintf(t->end_type, sizeof t->end_type, "%s", e->type);
    if (json_object_object_get_ex(o, "code", &x))
        snprintf(t->code, sizeof t->code, "%s", json_object_get_string(x));
    if (json_object_object_get_ex(o, "retryable", &x))
        t->retryable = json_object_get_boolean(x);
    json_object_put(t->end);
    t->end = o;
}

static void listen_start(struct listener *L, struct tracked *t, size_t n)
{
    L->c = redis_open();
    L->t = t;
    L->n = n;
    const char **argv = xcalloc(n + 1, sizeof *argv);
    argv[0] = "SUBSCRIBE";
    for (size_t i = 0; i < n; i++) {
        buf_init(&t[i].text, 1u << 20);
        key_out(t[i].channel, sizeof t[i].channel, t[i].job->id);
        argv[i + 1] = t[i].channel;
    }
    redisAppendCommandArgv(L->c, (int)n + 1, argv, NULL);
    for (size_t i = 0; i < n; i++) { /* one confirmation per channel */
        redisReply *r = NULL;
        CHECK(redisGetReply(L->c, (void **)&r) == REDIS_OK && r);
        if (r)
            freeReplyObject(r);
    }
    free(argv);
}

static void listen_handle(struct listener *L, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        strcmp(r->element[0]->str, "message") != 0)
        return;
    for (size_t i = 0; i < L->n; i++) {
        if (strcmp(L->t[i].channel, r->element[1]->str) != 0)
            continue;
        struct event_msg m;
        if (event_msg_parse(r->element[2]->str, (size_t)r->element[2]->len, &m) < 0)
            L->t[i].bad++;
        else
            track_event(&L->t[i], &m);
    }
}

/* Reads what arrives for up to ms. */
static void listen_pump(struct listener *L, int ms)
{
    void *reply;
    while (redisGetReplyFromReader(L->c, &reply) == REDIS_OK && reply) {
        listen_handle(L, reply);
        freeReplyObject(reply);
    }
    struct pollfd p = {L->c->fd, POLLIN, 0};
    if (poll(&p, 1, ms) > 0 && redisBufferRead(L->c) == REDIS_OK)
        while (redisGetReplyFromReader(L->c, &reply) == REDIS_OK && reply) {
            listen_handle(L, reply);
            freeReplyObject(reply);
        }
}

static bool all_done(const struct listener *L)
{
    for (size_t i = 0; i < L->n; i++)
        if (!L->t[i].done)
            return false;
    return true;
}

/* Pumps until every tracked job ended or timeout_ms passed; true when all ended. */
static bool listen_until_done(struct listener *L, double timeout_ms)
{
    double end = now_ms() + timeout_ms;
    while (!all_done(L) && now_ms() < end)
        listen_pump(L, 50);
    return all_done(L);
}

static void listen_stop(struct listener *L)
{
    for (size_t i = 0; i < L->n; i++) {
        struct tracked *t = &L->t[i];
        for (size_t k = 0; k < t->n_evs; k++)
            free(t->evs[k].data);
        free(t->evs);
        buf_free(&t->text);
        json_object_put(t->end);
    }
    redisFree(L->c);
}

/* The job's answer is the simulator's, byte for byte, and its model_done says so. */
static bool check_answer(struct tracked *t)
{
    struct sim_reply want;
    if (job_expect(t->job, &want) != 0) {
        CHECK(!"sim_model_reply refused the job's body");
        return false;
    }
    bool same = t->text.len == want.text_len && memcmp(t->text.data, want.text, want.text_len) == 0;
    if (!same)
        fprintf(stderr, "  %s differs:\n    got  [%s]\n    want [%.*s]\n", t->job->id,
                buf_cstr(&t->text), (int)want.text_len, want.text);
    CHECK(same);
    CHECK(t->bad == 0);
    CHECK_STR_EQ(t->end_type, "model_done");
    json_object *u, *x;
    CHECK(t->end && json_object_object_get_ex(t->end, "usage", &u) &&
          json_object_object_get_ex(u, "output_tokens", &x) &&
          json_object_get_int64(x) == (int64_t)want.n_cuts);
    CHECK(t->end && json_object_object_get_ex(t->end, "stop_reason", &x) &&
          strcmp(json_object_get_string(x), want.stop_reason) == 0);
    CHECK(t->end && json_object_object_get_ex(t->end, "ttft_ms", &x) &&
          json_object_get_int64(x) >= 0);
    CHECK(t->end && json_object_object_get_ex(t->end, "phase", &x) &&
          strcmp(json_object_get_string(x), t->job->phase) == 0);
    sim_reply_free(&want);
    return same && t->bad == 0;
}

/* Stream ids compare as (ms, seq). */
static int id_cmp(const char *a, const char *b)
{
    unsigned long long am, as, bm, bs;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am != bm ? (am < bm ? -1 : 1) : as != bs ? (as < bs ? -1 : 1) : 0;
}

/* The transcript nova:log:<request> holds exactly what was published on the request's job
 * channels, in increasing id order, and expires. */
static void check_log(const char *request, struct tracked *t, size_t n)
{
    char key[KEY_MAX];
    key_log(key, sizeof key, request);
    redisReply *r = redisCommand(R, "XRANGE %s - +", key);
    CHECK(r && r->type == REDIS_REPLY_ARRAY);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    size_t published = 0, matched = 0;
    for (size_t i = 0; i < n; i++) {
        published += t[i].n_evs;
        for (size_t k = 1; k < t[i].n_evs; k++)
            CHECK(id_cmp(t[i].evs[k - 1].id, t[i].evs[k].id) < 0);
    }
    CHECK(r->elements == published);
    for (size_t e = 0; e < r->elements; e++) {
        redisReply *ent = r->element[e], *f = ent->element[1];
        if (e > 0)
            CHECK(id_cmp(r->element[e - 1]->element[0]->str, ent->element[0]->str) < 0);
        CHECK(f->elements == 4 && strcmp(f->element[0]->str, "t") == 0 &&
              strcmp(f->element[2]->str, "d") == 0);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < t[i].n_evs; k++)
                if (strcmp(t[i].evs[k].id, ent->element[0]->str) == 0 &&
                    strcmp(t[i].evs[k].type, f->element[1]->str) == 0 &&
                    strcmp(t[i].evs[k].data, f->element[3]->str) == 0)
                    matched++;
    }
    CHECK(matched == published);
    freeReplyObject(r);
    r = redisCommand(R, "PTTL %s", key);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 3600 * 1000);
    if (r)
        freeReplyObject(r);
}

static long long pending(const char *queue)
{
    char key[KEY_MAX];
    key_jobs(key, sizeof key, test_queue(queue));
    redisReply *r = redisCommand(R, "XPENDING %s %s", key, KEYS_GROUP);
    long long n = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1
                      ? r->element[0]->integer
                      : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

/* Waits (bounded) for the queue's pending list to empty: acks follow the last event. */
static bool pending_drains(const char *queue, double ms)
{
    double end = now_ms() + ms;
    while (pending(queue) != 0 && now_ms() < end)
        pause_ms(10);
    return pending(queue) == 0;
}

#endif
