/* test_pipeline: the whole serving pipeline through nginx, as a browser or load generator sees it.
 *
 * tests/integration/pipeline.sh starts one stack (scripts/nova-run: redis, bedrock-sim, three
 * workers, nova-fcgi, nginx) in a temp run dir on a free port, plus a second one beside it, and
 * passes NOVA_URL, NOVA_RUN_DIR, SIM_URL (and NOVA_URL2, NOVA_RUN_DIR2). Every HTTP exchange
 * goes through libcurl's multi interface on this one thread; streams are read with the SSE
 * parser of common/core/sse.h. What the answers must contain comes from the simulator's own model:
 * each job is read back from Redis (nova:jobs:{micro|pro}), its request body rebuilt with
 * bedrock_converse_body(job_converse_req(job)) and given to sim_model_reply.
 *
 * What is checked, in this order: /api/health; the 4xx JSON errors; a ko chat (meta, both
 * models, model_done, done last, increasing ids, whole UTF-8); Micro and Pro streaming at the
 * same time; an en chat (staff_ko + customer_en, four streams); resume by Last-Event-ID, both
 * while the first reader is still connected (replay, then live) and after it dropped; 200
 * concurrent chats, every model stream byte-exact against the simulator's model; cancel and
 * client disconnect each aborting both model calls at the simulator; a SIGKILLed nova-fcgi child
 * respawned; a second stack beside the first; SIGTERM to the nova-fcgi master ending open streams
 * with error unavailable + done. The order keeps the simulator's counters readable (nothing else
 * streams while cancel and disconnect are measured); the SIGTERM test stops nova-fcgi, so it is
 * last. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "../bedrock-sim/sim_model.h"
#include "../unit/test.h"
#include "aws/bedrock.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/sse.h"
#include "core/utf8.h"
#include "redis/job.h"
#include "redis_jobs.h"
#include "simstats.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base_url; /* http://127.0.0.1:PORT (no trailing slash) */
static const char *run_dir;
static const char *sim_url;
static const char *base_url2, *run_dir2; /* the second stack (optional) */
static long drain_s = 3;

static struct stream *chat_new(const char *message, const char *ui_lang)
{
    return chat_new_on(base_url, message, ui_lang);
}

/* The shape every complete chat stream has (API.md); returns true when it holds. */
static bool check_complete_chat(struct stream *s, struct chat *c, const char *what)
{
    int before = test_cur_failures;
    CHECK(s->finished && !s->dropped && s->result == CURLE_OK);
    CHECK(s->status == 200);
    CHECK(s->sse);
    CHECK(s->n >= 2);
    CHECK(s->n > 0 && strcmp(s->evs[0].type, "meta") == 0);
    CHECK(c->done_last);
    CHECK(c->n_done == 1);
    CHECK(c->ids_increasing);
    CHECK(c->utf8_ok);
    CHECK(c->json_ok);
    CHECK(c->request_id[0] != '\0');
    if (test_cur_failures != before) {
        stream_dump(what, s);
        return false;
    }
    return true;
}

/* ---- side channels: the simulator's counters, Redis, processes --------------------------- */

static size_t collect(char *p, size_t size, size_t n, void *user)
{
    return buf_append(user, p, size * n) == 0 ? size * n : 0;
}

/* One blocking request; returns the status (0 on transport error), body into out. */
static long http_simple(const char *method, const char *url, struct buf *out)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

static long sim_stat(const char *name)
{
    return simstats_get(sim_url, name);
}

/* Waits (bounded) until the simulator has no open stream; returns streams_aborted then. */
static long sim_quiet_aborted(int timeout_ms)
{
    double end = now_ms() + timeout_ms;
    while (sim_stat("streams_open") != 0 && now_ms() < end)
        usleep(20 * 1000);
    long open = sim_stat("streams_open");
    if (open != 0)
        fprintf(stderr, "  simulator still has %ld open streams\n", open);
    return sim_stat("streams_aborted");
}

/* Polls streams_aborted until it reaches want or timeout_ms passes; returns the last value and
 * the time it took in *took_ms. */
static long sim_wait_aborted(long want, int timeout_ms, double since, double *took_ms)
{
    long v;
    for (;;) {
        v = sim_stat("streams_aborted");
        *took_ms = now_ms() - since;
        if (v >= want || *took_ms > timeout_ms)
            return v;
        usleep(10 * 1000);
    }
}

static long long redis_int(redisContext *r, const char *fmt, const char *arg)
{
    redisReply *rep = redisCommand(r, fmt, arg);
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    return v;
}

/* Compares one model stream with what the simulator meant for its job (text, stop reason,
 * token count). 0 when equal. */
static int expect_sim_text(const struct job *j, const struct model_stream *m, char *why,
                           size_t wn)
{
    if (sim_text_is(j, m->text.data, m->text.len, why, wn) < 0)
        return -1;
    struct sim_reply want;
    if (sim_expect(j, &want, why, wn) < 0)
        return -1;
    int rc = 0;
    if (strcmp(m->stop_reason, want.stop_reason) != 0) {
        snprintf(why, wn, "stop_reason %s, want %s", m->stop_reason, want.stop_reason);
        rc = -1;
    } else if (m->output_tokens != (long)want.n_cuts) {
        snprintf(why, wn, "usage.output_tokens %ld, want %zu", m->output_tokens, want.n_cuts);
        rc = -1;
    }
    sim_reply_free(&want);
    return rc;
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_health_lists_workers(void)
{
    char url[600];
    snprintf(url, sizeof url, "%s/api/health", base_url);
    struct buf b;
    buf_init(&b, 1u << 20);
    long st = http_simple("GET", url, &b);
    CHECK(st == 200);
    json_object *o = json_tokener_parse(buf_cstr(&b));
    CHECK(o != NULL);
    CHECK(jstr_is(o, "status", "ok"));
    json_object *w = jget(o, "workers");
    CHECK(w != NULL);
    const char *ws = w ? json_object_to_json_string(w) : "";
    CHECK(strstr(ws, "micro") && strstr(ws, "pro") && strstr(ws, "kb"));
    if (test_cur_failures)
        fprintf(stderr, "  GET /api/health: %ld %s\n", st, buf_cstr(&b));
    if (o)
        json_object_put(o);
    buf_free(&b);
}

struct bad_case {
    const char *what;
    const char *method;
    const char *content_type;
    char *body;
    size_t len;
    long want_status;
    const char *want_code;
};

static void test_bad_input_json_errors(void)
{
    static char big[100 * 1024 + 64];
    memset(big, 'a', sizeof big);
    memcpy(big, "{\"message\":\"", 12);
    memcpy(big + sizeof big - 2, "\"}", 2);
    char toolong[4001 * 3 + 32];
    size_t k = (size_t)snprintf(toolong, sizeof toolong, "{\"message\":\"");
    for (int i = 0; i < 4001; i++, k += 3)
        memcpy(toolong + k, "가", 3);
    memcpy(toolong + k, "\"}", 3);
    static char badutf8[] = "{\"message\":\"abc \xff\xfe def\",\"ui_lang\":\"ko\"}";
    struct bad_case cases[] = {
        {"not JSON", NULL, "application/json", "{not json", 9, 400, "bad_request"},
        {"empty message", NULL, "application/json", "{\"message\":\"\"}", 14, 400,
         "bad_request"},
        {"invalid UTF-8", NULL, "application/json", badutf8, sizeof badutf8 - 1, 400,
         "bad_request"},
        {"bad ui_lang", NULL, "application/json", "{\"message\":\"hi\",\"ui_lang\":\"fr\"}", 31,
         400, "bad_request"},
        {"message not a string", NULL, "application/json", "{\"message\":5}", 13, 400,
         "bad_request"},
        {"4001 characters", NULL, "application/json", toolong, strlen(toolong), 400,
         "bad_request"},
        {"text/plain", NULL, "text/plain", "{\"message\":\"hi\"}", 16, 415,
         "unsupported_media_type"},
        {"GET /api/chat", "GET", NULL, NULL, 0, 405, "method_not_allowed"},
        {"100 KiB body", NULL, "application/json", big, sizeof big, 413, "payload_too_large"},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    struct stream *s[N];
    for (size_t i = 0; i < N; i++)
        s[i] = stream_new(base_url, cases[i].method, "/api/chat", cases[i].content_type,
                          cases[i].body, cases[i].len, NULL);
    drive(s, N, 10000, NULL, NULL);
    for (size_t i = 0; i < N; i++) {
        int before = test_cur_failures;
        json_object *o = json_tokener_parse(buf_cstr(&s[i]->raw)), *e = jget(o, "error");
        CHECK(s[i]->finished && s[i]->result == CURLE_OK);
        CHECK(s[i]->status == cases[i].want_status);
        CHECK(strncmp(s[i]->ctype, "application/json", 16) == 0);
        CHECK(jstr_is(e, "code", cases[i].want_code));
        CHECK(jstr(e, "message") && *jstr(e, "message"));
        CHECK(jstr(e, "request_id") && *jstr(e, "request_id"));
        if (test_cur_failures != before)
            fprintf(stderr, "  case \"%s\": status %ld (want %ld), type %s, body %.300s\n",
                    cases[i].what, s[i]->status, cases[i].want_status, s[i]->ctype,
                    buf_cstr(&s[i]->raw));
        if (o)
            json_object_put(o);
        stream_free(s[i]);
    }
}

static void test_ko_chat_streams_both_models(void)
{
    struct stream *s = chat_new("폴이 레벨업을 못 해요. 경험치가 가득 찼는데 레벨이 안 올라요. #sim:tps=400",
                                "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (check_complete_chat(s, &c, "ko chat")) {
        json_object *m = c.meta;
        CHECK(jstr(m, "request_id") != NULL);
        const char *sid = jstr(m, "session_id");
        CHECK(sid && strlen(sid) >= 8 && strlen(sid) <= 64);
        CHECK(jstr_is(m, "input_lang", "ko"));
        CHECK(jstr_is(m, "ui_lang", "ko"));
        CHECK(jstr(m, "backend") != NULL);
        CHECK(json_object_is_type(jget(m, "entities"), json_type_array));
        json_object *src = jget(m, "sources");
        CHECK(json_object_is_type(src, json_type_array));
        if (src && json_object_is_type(src, json_type_array) && json_object_array_length(src)) {
            json_object *s0 = json_object_array_get_idx(src, 0);
            CHECK(jstr(s0, "title") && jget(s0, "score") && jstr(s0, "excerpt") &&
                  jstr(s0, "url"));
        }
        json_object *ph = jget(m, "phases");
        CHECK(ph && json_object_is_type(ph, json_type_array) && json_object_array_length(ph) == 1 &&
              strcmp(json_object_get_string(json_object_array_get_idx(ph, 0)), "answer") == 0);
        CHECK(c.n_ms == 2);
        const char *models[] = {"micro", "pro"};
        for (int i = 0; i < 2; i++) {
            struct model_stream *ms = chat_ms(&c, "answer", models[i]);
            CHECK(ms && ms->deltas > 0);
            CHECK(ms && ms->done && ms->stop_reason[0]);
            CHECK(ms && has_hangul(ms->text.data ? ms->text.data : "", ms->text.len));
        }
        /* model_done and done carry their documented fields. */
        for (size_t i = 0; i < s->n; i++) {
            json_object *j = ev_json(&s->evs[i]);
            if (strcmp(s->evs[i].type, "model_done") == 0) {
                json_object *u = jget(j, "usage");
                CHECK(jget(u, "input_tokens") && jget(u, "output_tokens") &&
                      jget(u, "cache_read_tokens") && jget(u, "cache_write_tokens"));
                CHECK(jget(j, "ttft_ms") && jget(j, "latency_ms"));
            } else if (strcmp(s->evs[i].type, "done") == 0) {
                CHECK(jget(j, "usage") && jget(j, "cost_usd") && jget(j, "elapsed_ms"));
            }
        }
        CHECK(c.n_errors == 0);
        if (test_cur_failures)
            stream_dump("ko chat", s);
    }
    chat_free(&c);
    stream_free(s);
}

static void test_micro_and_pro_in_parallel(void)
{
    /* Both models get the same directives: 150 tokens at 100/s. Micro starts at ~250 ms and
     * ends at ~1.75 s; Pro starts at ~500 ms. Sequential models could not do that. */
    struct stream *s = chat_new("계정 로그인이 안 돼요. 비밀번호를 바꿔도 접속이 안 됩니다. "
                                "#sim:len=150 #sim:tps=100", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (check_complete_chat(s, &c, "parallel chat")) {
        struct model_stream *mi = chat_ms(&c, "answer", "micro"), *pr = chat_ms(&c, "answer", "pro");
        CHECK(mi->deltas > 1 && pr->deltas > 1);
        CHECK(pr->first_ms < mi->last_ms);
        printf("  micro deltas %.0f..%.0f ms, pro deltas %.0f..%.0f ms\n", mi->first_ms,
               mi->last_ms, pr->first_ms, pr->last_ms);
        /* Interleaved on the wire: a pro delta sits between two micro deltas. */
        bool interleaved = false, seen_micro = false, pro_after_micro = false;
        for (size_t i = 0; i < s->n && !interleaved; i++) {
            json_object *j = ev_json(&s->evs[i]);
            if (strcmp(s->evs[i].type, "delta") != 0)
                continue;
            if (jstr_is(j, "model", "micro")) {
                if (pro_after_micro)
                    interleaved = true;
                seen_micro = true;
            } else if (seen_micro) {
                pro_after_micro = true;
            }
        }
        CHECK(interleaved);
    }
    chat_free(&c);
    stream_free(s);
}

static void test_en_chat_two_phases_four_streams(void)
{
    struct stream *s = chat_new("I can't log in to my account. How do I reset my password? "
                                "#sim:tps=400", "en");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (check_complete_chat(s, &c, "en chat")) {
        json_object *ph = jget(c.meta, "phases");
        CHECK(ph && json_object_is_type(ph, json_type_array) && json_object_array_length(ph) == 2);
        if (ph && json_object_is_type(ph, json_type_array) && json_object_array_length(ph) == 2) {
            CHECK(strcmp(json_object_get_string(json_object_array_get_idx(ph, 0)), "staff_ko") == 0);
            CHECK(strcmp(json_object_get_string(json_object_array_get_idx(ph, 1)), "customer_en") == 0);
        }
        CHECK(jstr_is(c.meta, "ui_lang", "en"));
        CHECK(jstr_is(c.meta, "input_lang", "en"));
        CHECK(c.n_ms == 4);
        const char *phases[] = {"staff_ko", "customer_en"}, *models[] = {"micro", "pro"};
        for (int p = 0; p < 2; p++)
            for (int m = 0; m < 2; m++) {
                struct model_stream *ms = chat_ms(&c, phases[p], models[m]);
                CHECK(ms->deltas > 0 && ms->done);
                if (p == 0)
                    CHECK(has_hangul(ms->text.data ? ms->text.data : "", ms->text.len));
            }
        if (test_cur_failures)
            stream_dump("en chat", s);
    }
    chat_free(&c);
    stream_free(s);
}

static int until_8_events(void *user)
{
    struct stream *s = user;
    return s->n >= 8 || s->finished;
}

static void test_resume_while_open_continues_live(void)
{
    enum { K = 8 };
    struct stream *s = chat_new("환불은 어떻게 신청하나요? 결제한 지 5일 됐어요. "
                                "#sim:len=60 #sim:tps=60", "ko");
    struct loop l;
    loop_init(&l);
    loop_add(&l, s);
    loop_run(&l, 20000, until_8_events, s);
    CHECK(!s->finished && s->n >= K && strcmp(s->evs[0].type, "meta") == 0);
    if (s->finished || s->n < K || strcmp(s->evs[0].type, "meta") != 0) {
        stream_dump("chat", s);
        loop_free(&l);
        stream_free(s);
        return;
    }
    struct chat c;
    chat_read(s, &c);
    char path[256], from[64];
    snprintf(path, sizeof path, "/api/chat/%s/events", c.request_id);
    snprintf(from, sizeof from, "%s", s->evs[K - 1].id);
    chat_free(&c);
    /* A second reader joins while the first still streams: replay after K, then live. */
    struct stream *r = stream_new(base_url, NULL, path, NULL, NULL, 0, from);
    loop_add(&l, r);
    loop_run(&l, 20000, NULL, NULL);
    loop_free(&l);
    chat_read(s, &c);
    if (check_complete_chat(s, &c, "chat read to its end")) {
        CHECK(c.n_errors == 0);
        CHECK(r->finished && r->result == CURLE_OK && r->status == 200 && r->sse);
        CHECK(r->n == s->n - K);
        size_t bad = 0;
        for (size_t i = 0; i < r->n && K + i < s->n; i++)
            if (!same_event(&r->evs[i], &s->evs[K + i]) && bad++ < 3)
                fprintf(stderr, "  event %zu: [%s %s %.80s] vs [%s %s %.80s]\n", K + i,
                        r->evs[i].id, r->evs[i].type, r->evs[i].data, s->evs[K + i].id,
                        s->evs[K + i].type, s->evs[K + i].data);
        CHECK(bad == 0);
        /* It did wait for live events: its last one came well after it connected. */
        CHECK(r->n > 0 && r->evs[r->n - 1].t_ms > 200);
        printf("  second reader after event %d: %zu events, the last %.0f ms after it joined\n",
               K, r->n, r->n ? r->evs[r->n - 1].t_ms : 0.0);
        if (test_cur_failures)
            stream_dump("second reader", r);
    }
    chat_free(&c);
    stream_free(s);
    stream_free(r);
}

static void test_resume_with_last_event_id(void)
{
    enum { K = 8 };
    struct stream *s = chat_new("환불은 어떻게 신청하나요? 결제한 지 3일 됐어요. "
                                "#sim:len=60 #sim:tps=60", "ko");
    s->stop_after = K;
    drive_one(s, 20000);
    CHECK(s->dropped && s->n == K);
    struct chat c;
    chat_read(s, &c);
    CHECK(c.request_id[0] && strcmp(s->evs[0].type, "meta") == 0);
    if (test_cur_failures || s->n != K) {
        stream_dump("first connection", s);
        chat_free(&c);
        stream_free(s);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "/api/chat/%s/events", c.request_id);
    /* The rest, from where the first connection stopped. */
    struct stream *r1 = stream_new(base_url, NULL, path, NULL, NULL, 0, s->evs[K - 1].id);
    drive_one(r1, 20000);
    /* Everything after meta, once the request is over. */
    struct stream *r2 = stream_new(base_url, NULL, path, NULL, NULL, 0, c.meta_id);
    drive_one(r2, 20000);

    CHECK(r1->status == 200 && r1->sse && r1->result == CURLE_OK);
    CHECK(r2->status == 200 && r2->sse && r2->result == CURLE_OK);
    CHECK(r1->n > 0 && strcmp(r1->evs[r1->n - 1].type, "done") == 0);
    CHECK(r2->n > 0 && strcmp(r2->evs[r2->n - 1].type, "done") == 0);
    for (size_t i = 0; i < r1->n; i++)
        CHECK(id_cmp(s->evs[K - 1].id, r1->evs[i].id) == -1);
    /* first K + rest == meta + full replay, event for event, without duplicates */
    CHECK(K + r1->n == 1 + r2->n);
    size_t n = K + r1->n < 1 + r2->n ? K + r1->n : 1 + r2->n, bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ev *a = i < K ? &s->evs[i] : &r1->evs[i - K];
        const struct ev *b = i == 0 ? &s->evs[0] : &r2->evs[i - 1];
        if (!same_event(a, b) && bad++ < 3)
            fprintf(stderr, "  event %zu: [%s %s %.80s] vs [%s %s %.80s]\n", i, a->id, a->type,
                    a->data, b->id, b->type, b->data);
    }
    CHECK(bad == 0);
    /* ... and the transcript in Redis says the same. */
    redisContext *r = redis_open(run_dir);
    CHECK(r != NULL);
    if (r) {
        char key[128];
        snprintf(key, sizeof key, "nova:log:%s", c.request_id);
        redisReply *rep = redisCommand(r, "XRANGE %s - +", key);
        CHECK(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 + r2->n);
        if (rep && rep->type == REDIS_REPLY_ARRAY) {
            size_t diff = 0;
            for (size_t i = 0; i < rep->elements && i < 1 + r2->n; i++) {
                const struct ev *b = i == 0 ? &s->evs[0] : &r2->evs[i - 1];
                redisReply *e = rep->element[i], *f = e->element[1];
                const char *t = NULL, *d = NULL;
                size_t dl = 0;
                for (size_t k = 0; k + 1 < f->elements; k += 2) {
                    if (strcmp(f->element[k]->str, "t") == 0)
                        t = f->element[k + 1]->str;
                    else if (strcmp(f->element[k]->str, "d") == 0) {
                        d = f->element[k + 1]->str;
                        dl = f->element[k + 1]->len;
                    }
                }
                /* The transcript's meta is the asking client's without its session id
                 * (a resume replays it to whoever knows the request id). */
                const char *want = b->data;
                size_t wl = b->len;
                char own[16384];
                const char *sid = i == 0 ? strstr(b->data, "\"session_id\":\"") : NULL;
                const char *sid_end = sid ? strstr(sid + 14, "\",") : NULL;
                if (i == 0 && (!sid || !sid_end || b->len >= sizeof own))
                    diff++;
                else if (i == 0) {
                    size_t pre = (size_t)(sid - b->data), cut = (size_t)(sid_end + 2 - sid);
                    memcpy(own, b->data, pre);
                    memcpy(own + pre, sid_end + 2, b->len - pre - cut);
                    want = own;
                    wl = b->len - cut;
                }
                if (strcmp(e->element[0]->str, b->id) != 0 || !t || strcmp(t, b->type) != 0 ||
                    !d || dl != wl || memcmp(d, want, dl) != 0 ||
                    (i == 0 && memmem(d, dl, "session_id", 10)))
                    diff++;
            }
            CHECK(diff == 0);
            if (diff || rep->elements != 1 + r2->n)
                fprintf(stderr, "  nova:log has %zu entries, replay %zu + meta; %zu differ\n",
                        rep->elements, r2->n, diff);
        }
        if (rep)
            freeReplyObject(rep);
        redisFree(r);
    }
    {
        struct chat rc;
        chat_read(r1, &rc);
        printf("  resumed after event %d: %zu more events, ending %s%s\n", K, r1->n,
               rc.n_errors ? "with error " : "normally", rc.n_errors ? rc.first_error_code : "");
        /* Resumed within the grace: the answer was not canceled but completed. */
        CHECK(rc.n_errors == 0 && rc.n_done == 1);
        struct model_stream *mi = chat_ms(&rc, "answer", "micro"), *pr = chat_ms(&rc, "answer", "pro");
        CHECK(mi && mi->done && pr && pr->done);
        chat_free(&rc);
    }
    if (test_cur_failures) {
        stream_dump("resume after the K-th id", r1);
        stream_dump("resume after meta", r2);
    }
    chat_free(&c);
    stream_free(s);
    stream_free(r1);
    stream_free(r2);
}

static const char *const ko_questions[] = {
    "폴이 레벨업을 못 해요. 경험치가 안 올라요",
    "환불은 어떻게 신청하나요? 결제한 지 3일 됐어요",
    "계정이 정지되었는데 이의 신청은 어디서 하나요?",
    "정기 서버 점검은 언제 하나요?",
    "로그인이 안 되고 비밀번호도 기억이 안 나요",
    "인벤토리가 가득 찼어요. 아이템은 어디로 가나요?",
};
static const char *const en_questions[] = {
    "How do I reset my password if I can't log in?",
    "Can I get a refund for paid currency I bought yesterday?",
    "My inventory is full, what happens to new items?",
    "Paul does not level up even though his XP bar is full.",
};

static void test_200_concurrent_chats_exact(void)
{
    enum { N = 200 };
    struct stream *s[N];
    int streams_expected = 0;
    for (int i = 0; i < N; i++) {
        char msg[512];
        bool en = i % 10 == 9;
        snprintf(msg, sizeof msg, "%s (문의 %d) #sim:tps=200 #sim:len=%d",
                 en ? en_questions[i % 4] : ko_questions[i % 6], i, 20 + (i * 7) % 40);
        s[i] = chat_new(msg, en ? "en" : "ko");
        streams_expected += en ? 4 : 2;
    }
    double t0 = now_ms();
    drive(s, N, 45000, NULL, NULL);
    double took = now_ms() - t0;

    redisContext *r = redis_open(run_dir);
    CHECK(r != NULL);
    struct jobset js = {0};
    if (r) {
        jobset_load(r, "micro", &js);
        jobset_load(r, "pro", &js);
        redisFree(r);
    }
    int complete = 0, exact = 0, missing = 0, wrong = 0, streams = 0, reported = 0;
    for (int i = 0; i < N; i++) {
        struct chat c;
        chat_read(s[i], &c);
        bool ok = s[i]->finished && !s[i]->dropped && s[i]->result == CURLE_OK &&
                  s[i]->status == 200 && c.done_last && c.n_done == 1 && c.ids_increasing &&
                  c.utf8_ok && c.json_ok && c.n_errors == 0 && c.request_id[0];
        if (!ok && reported++ < 3)
            stream_dump("incomplete chat", s[i]);
        complete += ok;
        for (size_t k = 0; k < c.n_ms; k++) {
            struct model_stream *m = &c.ms[k];
            streams++;
            const struct job *j = jobset_find(&js, c.request_id, m->phase, m->model);
            char why[512];
            if (!j) {
                if (missing++ < 3)
                    fprintf(stderr, "  no job in Redis for %s %s %s\n", c.request_id, m->phase,
                            m->model);
            } else if (!m->done || expect_sim_text(j, m, why, sizeof why) != 0) {
                if (wrong++ < 3)
                    fprintf(stderr, "  %s %s %s: %s\n", c.request_id, m->phase, m->model,
                            m->done ? why : "no model_done");
            } else {
                exact++;
            }
        }
        chat_free(&c);
        stream_free(s[i]);
    }
    printf("  %d chats in %.0f ms: %d complete; %d of %d model streams byte-exact "
           "(%d without a job, %d wrong); %zu jobs read\n", N, took, complete, exact,
           streams_expected, missing, wrong, js.n);
    CHECK(complete == N);
    CHECK(streams == streams_expected);
    CHECK(exact == streams_expected);
    CHECK(missing == 0 && wrong == 0);
    jobset_free(&js);
}

/* A chat whose models both stream slowly for minutes unless stopped. */
static struct stream *long_chat(void)
{
    return chat_new("로그인이 안 돼요. 도와주세요. #sim:len=3000 #sim:tps=20", "ko");
}

static bool both_models_streaming(struct stream *s)
{
    bool micro = false, pro = false;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->evs[i].type, "delta") != 0)
            continue;
        json_object *j = ev_json(&s->evs[i]);
        micro |= jstr_is(j, "model", "micro");
        pro |= jstr_is(j, "model", "pro");
    }
    return micro && pro;
}

struct cancel_ctx {
    struct stream *s;
    bool sent;
    long status;
    double t_cancel;
    struct buf body;
};

static int cancel_tick(void *user)
{
    struct cancel_ctx *x = user;
    if (!x->sent && now_ms() - x->s->t0 > 8000)
        return 1; /* both models never streamed: give up */
    if (x->sent || !both_models_streaming(x->s))
        return 0;
    struct chat c;
    chat_read(x->s, &c);
    char url[600];
    snprintf(url, sizeof url, "%s/api/chat/%s/cancel", base_url, c.request_id);
    chat_free(&c);
    x->t_cancel = now_ms();
    x->status = http_simple("POST", url, &x->body);
    x->sent = true;
    return 0;
}

static void test_cancel_ends_stream_and_model_calls(void)
{
    long base = sim_quiet_aborted(5000);
    struct cancel_ctx x = {.s = long_chat()};
    buf_init(&x.body, 65536);
    drive(&x.s, 1, 20000, cancel_tick, &x);
    double end = x.s->t0 + x.s->t_end;
    struct chat c;
    chat_read(x.s, &c);
    CHECK(x.sent);
    if (!x.sent) {
        stream_dump("chat that was to be canceled", x.s);
        chat_free(&c);
        buf_free(&x.body);
        stream_free(x.s);
        return;
    }
    CHECK(x.status >= 200 && x.status < 300);
    CHECK(x.s->finished && !x.s->dropped && x.s->result == CURLE_OK);
    CHECK(c.done_last && c.n_done == 1);
    CHECK(c.n_errors >= 1 && strcmp(c.first_error_code, "canceled") == 0);
    CHECK(end - x.t_cancel < 2000);
    double took;
    long aborted = sim_wait_aborted(base + 2, 2000, x.t_cancel, &took);
    CHECK(aborted - base == 2);
    printf("  cancel: HTTP %ld, stream ended %.0f ms after it, %ld model streams aborted "
           "(%.0f ms)\n", x.status, end - x.t_cancel, aborted - base, took);
    if (test_cur_failures) {
        stream_dump("canceled chat", x.s);
        fprintf(stderr, "  cancel answer: %s\n", buf_cstr(&x.body));
    }
    chat_free(&c);
    buf_free(&x.body);
    stream_free(x.s);
}

struct drop_ctx {
    struct stream *s;
    double t_drop;
};

static int drop_tick(void *user)
{
    struct drop_ctx *x = user;
    if (!x->s->drop && now_ms() - x->s->t0 > 8000)
        return 1;
    if (!x->s->drop && both_models_streaming(x->s)) {
        x->s->drop = true;
        x->t_drop = now_ms();
    }
    return 0;
}

static void test_client_disconnect_aborts_model_calls(void)
{
    long base = sim_quiet_aborted(5000);
    struct drop_ctx x = {.s = long_chat()};
    drive(&x.s, 1, 20000, drop_tick, &x);
    CHECK(x.s->dropped && x.t_drop > 0);
    if (x.t_drop <= 0) {
        stream_dump("chat that was to be dropped", x.s);
        stream_free(x.s);
        return;
    }
    double took = 0;
    long aborted = sim_wait_aborted(base + 2, 1000, x.t_drop, &took);
    CHECK(aborted - base == 2);
    printf("  disconnect: %ld model streams aborted %.0f ms after the client left\n",
           aborted - base, took);
    if (test_cur_failures)
        stream_dump("dropped chat", x.s);
    stream_free(x.s);
}

static void test_killed_child_is_respawned(void)
{
    pid_t master = read_pid_file(run_dir, "nova-fcgi");
    CHECK(master > 0 && kill(master, 0) == 0);
    if (master <= 0)
        return;
    pid_t before[64], after[64];
    size_t nb = proc_children(master, before, 64), na = 0;
    CHECK(nb >= 1);
    if (nb < 1)
        return;
    pid_t victim = before[0];
    CHECK(kill(victim, SIGKILL) == 0);
    double end = now_ms() + 5000;
    bool back = false;
    while (!back && now_ms() < end) {
        na = proc_children(master, after, 64);
        bool victim_gone = true;
        for (size_t i = 0; i < na; i++)
            victim_gone &= after[i] != victim;
        back = victim_gone && na == nb;
        if (!back)
            usleep(20 * 1000);
    }
    CHECK(back);
    printf("  killed child %d; master %d has %zu children again\n", (int)victim, (int)master, na);
    struct stream *s = chat_new("정기 서버 점검은 언제 하나요? #sim:tps=400 #sim:len=30", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (check_complete_chat(s, &c, "chat after respawn")) {
        CHECK(c.n_ms == 2 && c.n_errors == 0);
        for (size_t i = 0; i < c.n_ms; i++)
            CHECK(c.ms[i].deltas > 0 && c.ms[i].done);
    }
    chat_free(&c);
    stream_free(s);
}

static void test_two_stacks_side_by_side(void)
{
    CHECK(base_url2 && run_dir2);
    if (!base_url2 || !run_dir2)
        return;
    char url[600];
    struct buf b;
    buf_init(&b, 1u << 20);
    snprintf(url, sizeof url, "%s/api/health", base_url2);
    CHECK(http_simple("GET", url, &b) == 200);
    buf_reset(&b);
    snprintf(url, sizeof url, "%s/api/health", base_url);
    CHECK(http_simple("GET", url, &b) == 200);
    buf_free(&b);
    struct stream *s = chat_new_on(base_url2, "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=20", "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    if (check_complete_chat(s, &c, "chat on the second stack")) {
        /* Its transcript is in the second stack's Redis, not the first's. */
        redisContext *r1 = redis_open(run_dir), *r2 = redis_open(run_dir2);
        CHECK(r1 && r2);
        if (r1 && r2) {
            char key[128];
            snprintf(key, sizeof key, "nova:log:%s", c.request_id);
            CHECK(redis_int(r2, "EXISTS %s", key) == 1);
            CHECK(redis_int(r1, "EXISTS %s", key) == 0);
        }
        if (r1)
            redisFree(r1);
        if (r2)
            redisFree(r2);
    }
    chat_free(&c);
    stream_free(s);
}

struct term_ctx {
    struct stream **s;
    size_t n;
    pid_t master;
    double t_term;
};

static int term_tick(void *user)
{
    struct term_ctx *x = user;
    if (x->t_term > 0)
        return 0;
    if (now_ms() - x->s[0]->t0 > 8000)
        return 1;
    for (size_t i = 0; i < x->n; i++)
        if (!both_models_streaming(x->s[i]))
            return 0;
    kill(x->master, SIGTERM);
    x->t_term = now_ms();
    return 0;
}

static void test_sigterm_ends_open_streams_unavailable(void)
{
    enum { N = 3 };
    pid_t master = read_pid_file(run_dir, "nova-fcgi");
    CHECK(master > 0 && kill(master, 0) == 0);
    if (master <= 0)
        return;
    struct stream *s[N];
    for (int i = 0; i < N; i++)
        s[i] = long_chat();
    struct term_ctx x = {s, N, master, 0};
    drive(s, N, (int)(drain_s + 10) * 1000, term_tick, &x);
    CHECK(x.t_term > 0);
    if (x.t_term <= 0) {
        for (int i = 0; i < N; i++) {
            stream_dump("stream that was to be open at SIGTERM", s[i]);
            stream_free(s[i]);
        }
        return;
    }
    for (int i = 0; i < N; i++) {
        int before = test_cur_failures;
        struct chat c;
        chat_read(s[i], &c);
        CHECK(s[i]->finished && !s[i]->dropped && s[i]->result == CURLE_OK);
        CHECK(c.done_last && c.n_done == 1);
        /* The last events: error unavailable (one per open model stream), then done. */
        CHECK(c.n_errors >= 1 && strcmp(c.first_error_code, "unavailable") == 0);
        CHECK(s[i]->n >= 2 && strcmp(s[i]->evs[s[i]->n - 2].type, "error") == 0);
        double end = s[i]->t0 + s[i]->t_end;
        CHECK(x.t_term > 0 && end - x.t_term < (drain_s + 2) * 1000.0);
        if (i == 0)
            printf("  SIGTERM: stream ended %.0f ms after it (drain %ld s)\n", end - x.t_term,
                   drain_s);
        if (test_cur_failures != before)
            stream_dump("stream open at SIGTERM", s[i]);
        chat_free(&c);
        stream_free(s[i]);
    }
    /* Not part of the contract yet: are the model calls of the drained streams stopped too? */
    double end = now_ms() + 1000;
    long open;
    while ((open = sim_stat("streams_open")) > 0 && now_ms() < end)
        usleep(20 * 1000);
    printf("  model streams still open at the simulator 1 s after the drain: %ld\n", open);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    sim_url = getenv("SIM_URL");
    base_url2 = getenv("NOVA_URL2");
    run_dir2 = getenv("NOVA_RUN_DIR2");
    if (getenv("NOVA_DRAIN_SECONDS"))
        drain_s = atol(getenv("NOVA_DRAIN_SECONDS"));
    if (!base_url || !run_dir || !sim_url) {
        fprintf(stderr, "test_pipeline: set NOVA_URL, NOVA_RUN_DIR and SIM_URL "
                        "(tests/integration/pipeline.sh does)\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    RUN(test_health_lists_workers);
    RUN(test_bad_input_json_errors);
    RUN(test_ko_chat_streams_both_models);
    RUN(test_micro_and_pro_in_parallel);
    RUN(test_en_chat_two_phases_four_streams);
    RUN(test_resume_while_open_continues_live);
    RUN(test_resume_with_last_event_id);
    RUN(test_200_concurrent_chats_exact);
    RUN(test_cancel_ends_stream_and_model_calls);
    RUN(test_client_disconnect_aborts_model_calls);
    RUN(test_killed_child_is_respawned);
    RUN(test_two_stacks_side_by_side);
    RUN(test_sigterm_ends_open_streams_unavailable); /* last: nova-fcgi is gone after it */

    curl_global_cleanup();
    return test_summary();
}
