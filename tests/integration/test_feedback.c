/* test_feedback: players' ratings of answers (issue 17, item 1) on two real stacks
 * (feedback.sh): stack 1 keeps its jobs (NOVA_KEEP_JOBS=1, so the record's model ids and
 * prompt version can be compared with the jobs'), stack 2 keeps only NOVA_FEEDBACK_MAX=3
 * ratings.
 *   - a chat in Korean and one in English, each rated: the stored record, field by field,
 *     against the stream the page saw and the jobs the workers ran (request id, time, UI
 *     language, question, translation, entities, sources' url and score, every phase's and
 *     model's final text, model ids, prompt_sha256, usage, cost, rating, reason, comment);
 *   - 404 for an unknown request; 400 with a clear message for each bad body (bad JSON,
 *     rating missing or other, reason unknown, comment over 1,000 characters, invalid UTF-8),
 *     413 for a body over 64 KiB; 1,000 Korean characters are taken;
 *   - the last feedback on a request wins: it replaces the request's entry (one per request),
 *     and feedback_latest (what the handoff document carries) and novactl's list and export
 *     show it;
 *   - the cap: stack 2 keeps three entries, and its index {nova:feedback}:last names only
 *     entries still there (a request whose ratings were all trimmed has no latest), also after
 *     a trim of many entries at once;
 *   - the record outlives the transcript: DEL nova:log:<request>, the export is still whole;
 *   - novactl feedback export --json and --csv parsed back (a comment with a comma, a quote
 *     and a line break; Korean text), --rating and --since filter, list is a table;
 *   - nova_feedback_total{rating,reason} moves by what was posted.
 * On main there is no feedback route (every POST is 404) and no novactl feedback, so every
 * check of a record fails there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "../unit/test.h"
#include "core/clock.h"
#include "../../fcgi-app/feedback.h"
#include "redis_jobs.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base_url, *base_url2, *run_dir, *run_dir2, *novactl;
static redisContext *R, *R2;
static char sock1[700], sock2[700];

/* What the page saw of one chat. */
struct asked {
    char request_id[80];
    json_object *meta, *done, *translation; /* owned references (NULL when not seen) */
    struct {
        char phase[24], model[16];
        struct buf text;
    } ans[MAX_MS];
    size_t n_ans;
    bool done_last;
};

static void asked_free(struct asked *a)
{
    json_object_put(a->meta);
    json_object_put(a->done);
    json_object_put(a->translation);
    for (size_t i = 0; i < a->n_ans; i++)
        buf_free(&a->ans[i].text);
    memset(a, 0, sizeof *a);
}

/* One chat to its end on base. */
static void ask(const char *base, const char *message, const char *ui, struct asked *out)
{
    memset(out, 0, sizeof *out);
    struct stream *s = chat_new_on(base, message, ui);
    drive_one(s, 30000);
    struct chat c;
    chat_read(s, &c);
    snprintf(out->request_id, sizeof out->request_id, "%s", c.request_id);
    out->meta = json_object_get(c.meta);
    for (size_t i = 0; i < s->n; i++) {
        json_object *j = ev_json(&s->evs[i]);
        if (strcmp(s->evs[i].type, "done") == 0)
            out->done = json_object_get(j);
        else if (strcmp(s->evs[i].type, "translation") == 0 && !out->translation)
            out->translation = json_object_get(jget(j, "translated_query"));
    }
    for (size_t i = 0; i < c.n_ms && out->n_ans < MAX_MS; i++) {
        snprintf(out->ans[out->n_ans].phase, sizeof out->ans[0].phase, "%s", c.ms[i].phase);
        snprintf(out->ans[out->n_ans].model, sizeof out->ans[0].model, "%s", c.ms[i].model);
        buf_init(&out->ans[out->n_ans].text, 4u << 20);
        buf_append(&out->ans[out->n_ans].text, c.ms[i].text.data ? c.ms[i].text.data : "",
                   c.ms[i].text.len);
        out->n_ans++;
    }
    out->done_last = c.done_last;
    printf("  %s -> %s, %zu answers%s\n", message, c.request_id, out->n_ans,
           out->translation ? ", translated" : "");
    if (!c.done_last)
        stream_dump(message, s);
    chat_free(&c);
    stream_free(s);
}

/* POST body to .../<rid>/feedback on base; the reply (caller frees). */
static void post_feedback(const char *base, const char *rid, const char *body, size_t len,
                          struct http_reply *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/chat/%s/feedback", base, rid);
    const char *h[] = {"Content-Type: application/json", NULL};
    http_do("POST", url, h, body, len, r);
}

/* {"rating", "reason", "comment"} (NULL: left out) posted; its status. */
static long rate(const char *base, const char *rid, const char *rating, const char *reason,
                 const char *comment)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "rating", json_object_new_string(rating));
    if (reason)
        json_object_object_add(o, "reason", json_object_new_string(reason));
    if (comment)
        json_object_object_add(o, "comment", json_object_new_string(comment));
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    struct http_reply r;
    post_feedback(base, rid, js, strlen(js), &r);
    long st = r.status;
    if (st != 202)
        fprintf(stderr, "  feedback on %s: %ld %.*s\n", rid, st, (int)r.body.len,
                r.body.data ? r.body.data : "");
    else {
        json_object *b = json_tokener_parse(buf_cstr(&r.body));
        CHECK(jstr_is(b, "request_id", rid) && jstr_is(b, "rating", rating) &&
              jstr_is(b, "status", "recorded"));
        json_object_put(b);
    }
    json_object_put(o);
    http_reply_free(&r);
    return st;
}

/* The feedback that counts on rid, through feedback.h's reader (the handoff's), or NULL. */
static json_object *latest(redisContext *r, const char *rid)
{
    struct buf out;
    buf_init(&out, 8u << 20);
    char err[256] = "";
    int rc = feedback_latest(r, rid, &out, err, sizeof err);
    json_object *o = rc == 1 ? json_tokener_parse(buf_cstr(&out)) : NULL;
    if (rc < 0)
        fprintf(stderr, "  feedback_latest %s: %s\n", rid, err);
    buf_free(&out);
    return o;
}

static bool json_same(json_object *a, json_object *b)
{
    return json_object_equal(a, b) == 1;
}

/* The jobs of rid on stack 1 (NOVA_KEEP_JOBS=1). */
static void jobs_of(const char *rid, struct jobset *out)
{
    struct jobset all = {0};
    jobset_load_key(R, "nova:jobs:{micro}", &all);
    jobset_load_key(R, "nova:jobs:{pro}", &all);
    memset(out, 0, sizeof *out);
    out->v = xcalloc(all.n ? all.n : 1, sizeof *out->v);
    for (size_t i = 0; i < all.n; i++) {
        if (strcmp(all.v[i].request, rid) == 0)
            out->v[out->n++] = all.v[i];
        else
            job_free(&all.v[i]);
    }
    free(all.v);
}

static void jobs_free(struct jobset *js)
{
    for (size_t i = 0; i < js->n; i++)
        job_free(&js->v[i]);
    free(js->v);
}

static struct asked ko, en;

/* The stored record of a against what the page saw and the jobs ran. */
static void check_record(const struct asked *a, json_object *d, const char *ui)
{
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK(jstr_is(d, "request_id", a->request_id));
    /* never the session id the chat was asked in */
    const char *sid = jstr(a->meta, "session_id");
    CHECK(!sid || !strstr(json_object_to_json_string(d), sid));
    /* its time: ISO 8601 UTC and created_ms, within the last two minutes */
    long long ms = json_object_get_int64(jget(d, "created_ms"));
    CHECK(ms > clock_epoch_ms() - 120000 && ms <= clock_epoch_ms() + 1000);
    const char *t = jstr(d, "time");
    CHECK(t && strlen(t) == 24 && t[10] == 'T' && t[23] == 'Z');
    CHECK(jstr_is(d, "ui_lang", ui));
    CHECK(json_same(jget(d, "question"), jget(a->meta, "question")) && jstr(d, "question"));
    json_object *tr = a->translation ? a->translation : jget(a->meta, "translated_query");
    CHECK(json_same(jget(d, "translation"), tr));
    CHECK(json_same(jget(d, "entities"), jget(a->meta, "entities")) ||
          (!jget(a->meta, "entities") && json_object_array_length(jget(d, "entities")) == 0));
    json_object *ds = jget(d, "sources"), *ms_ = jget(a->meta, "sources");
    CHECK(ds && ms_ && json_object_array_length(ds) == json_object_array_length(ms_));
    for (size_t i = 0; ds && ms_ && i < json_object_array_length(ds); i++) {
        json_object *x = json_object_array_get_idx(ds, i), *y = json_object_array_get_idx(ms_, i);
        CHECK(json_same(jget(x, "url"), jget(y, "url")) && jstr(x, "url"));
        CHECK(json_same(jget(x, "score"), jget(y, "score")) && jget(x, "score"));
    }
    /* every phase's and model's final text, byte for byte, with its model id */
    json_object *ans = jget(d, "answers");
    CHECK(ans && json_object_array_length(ans) == a->n_ans && a->n_ans >= 1);
    struct jobset js;
    jobs_of(a->request_id, &js);
    CHECK(js.n >= 1);
    for (size_t i = 0; i < a->n_ans; i++) {
        json_object *x = NULL;
        for (size_t k = 0; ans && k < json_object_array_length(ans); k++) {
            json_object *y = json_object_array_get_idx(ans, k);
            if (jstr_is(y, "phase", a->ans[i].phase) && jstr_is(y, "model", a->ans[i].model))
                x = y;
        }
        CHECK(x != NULL);
        const char *text = jstr(x, "text");
        CHECK(text && strlen(text) == a->ans[i].text.len &&
              memcmp(text, buf_cstr((struct buf *)&a->ans[i].text), a->ans[i].text.len) == 0);
        bool job_seen = false;
        for (size_t k = 0; k < js.n; k++)
            if (strcmp(js.v[k].phase, a->ans[i].phase) == 0 &&
                strcmp(model_name(js.v[k].model), a->ans[i].model) == 0) {
                job_seen = true;
                CHECK(jstr_is(x, "model_id", js.v[k].model_id));
                CHECK(jstr_is(jget(d, "models"), a->ans[i].model, js.v[k].model_id));
            }
        CHECK(job_seen);
    }
    /* the prompt version: the SHA-256 of the system prompt every answer's job names (a
     * translation job, answering no question, has the translator's own) */
    const char *sha = jstr(d, "prompt_sha256");
    CHECK(sha && strlen(sha) == 64);
    size_t answer_jobs = 0;
    for (size_t k = 0; k < js.n; k++) {
        bool answer = false;
        for (size_t i = 0; i < a->n_ans; i++)
            answer |= strcmp(js.v[k].phase, a->ans[i].phase) == 0 &&
                      strcmp(model_name(js.v[k].model), a->ans[i].model) == 0;
        if (!answer)
            continue;
        answer_jobs++;
        CHECK(sha && strcmp(js.v[k].system_sha256, sha) == 0);
    }
    CHECK(answer_jobs == a->n_ans);
    jobs_free(&js);
    CHECK(a->done && json_same(jget(d, "usage"), jget(a->done, "usage")) && jget(d, "usage"));
    CHECK(a->done && json_same(jget(d, "cost_usd"), jget(a->done, "cost_usd")) &&
          jget(d, "cost_usd"));
}

static void test_record_ko(void)
{
    ask(base_url, "환불 규정을 알려주세요", "ko", &ko);
    CHECK(ko.done_last && ko.meta);
    CHECK(rate(base_url, ko.request_id, "down", "wrong", "환불은 7일이 아니라 14일이에요") == 202);
    json_object *d = latest(R, ko.request_id);
    check_record(&ko, d, "ko");
    CHECK(jstr_is(d, "rating", "down") && jstr_is(d, "reason", "wrong"));
    CHECK(jstr_is(d, "comment", "환불은 7일이 아니라 14일이에요"));
    json_object_put(d);
}

static void test_record_en(void)
{
    ask(base_url, "how do refunds work?", "en", &en);
    CHECK(en.done_last && en.meta);
    CHECK(rate(base_url, en.request_id, "up", NULL, NULL) == 202);
    json_object *d = latest(R, en.request_id);
    check_record(&en, d, "en");
    CHECK(jstr_is(d, "rating", "up"));
    CHECK(d && jget(d, "reason") == NULL && jget(d, "comment") == NULL);
    json_object_put(d);
    /* at least one of the two was translated: the record's translation is not always null */
    CHECK(ko.translation || en.translation || jget(ko.meta, "translated_query") ||
          jget(en.meta, "translated_query"));
}

static void test_unknown_request(void)
{
    struct http_reply r;
    const char *body = "{\"rating\":\"up\"}";
    post_feedback(base_url, "0123456789abcdef0123456789abcdef", body, strlen(body), &r);
    CHECK(r.status == 404);
    CHECK(strstr(buf_cstr(&r.body), "no such request") != NULL);
    http_reply_free(&r);
}

/* body → status and a message holding want. */
static void expect_refused(const char *body, size_t len, long status, const char *want)
{
    struct http_reply r;
    post_feedback(base_url, ko.request_id, body, len, &r);
    json_object *o = json_tokener_parse(buf_cstr(&r.body));
    const char *msg = jstr(jget(o, "error"), "message");
    if (!msg)
        msg = jstr(o, "message");
    if (r.status != status || !msg || !strstr(msg, want))
        fprintf(stderr, "  %.60s: %ld %s (want %ld, '%s')\n", body, r.status,
                buf_cstr(&r.body), status, want);
    CHECK(r.status == status);
    CHECK(msg && strstr(msg, want));
    json_object_put(o);
    http_reply_free(&r);
}

static void test_bad_bodies(void)
{
    long long before = R ? 0 : -1;
    redisReply *x = redisCommand(R, "XLEN nova:feedback");
    before = x ? x->integer : -1;
    if (x)
        freeReplyObject(x);
    static const char *const bad[][2] = {
        {"{\"rating\":", "one JSON object"},
        {"[\"up\"]", "one JSON object"},
        {"{}", "\"rating\" is missing"},
        {"{\"reason\":\"wrong\"}", "\"rating\" is missing"},
        {"{\"rating\":\"meh\"}", "\"rating\" must be \"up\" or \"down\""},
        {"{\"rating\":1}", "\"rating\" must be \"up\" or \"down\""},
        {"{\"rating\":\"down\",\"reason\":\"boring\"}", "\"reason\" must be one of"},
        {"{\"rating\":\"down\",\"comment\":5}", "\"comment\" must be a string"},
        {"{\"rating\":\"up\",\"stars\":5}", "unknown member \"stars\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(bad[i][0], strlen(bad[i][0]), 400, bad[i][1]);
    const char invalid[] = "{\"rating\":\"down\",\"comment\":\"caf\xc3\x28\"}";
    expect_refused(invalid, sizeof invalid - 1, 400, "UTF-8");
    /* 1,001 Korean characters (3,003 bytes) refused, 1,000 taken */
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_printf(&b, "{\"rating\":\"down\",\"reason\":\"other\",\"comment\":\"");
    for (int i = 0; i < 1001; i++)
        buf_printf(&b, "가");
    buf_printf(&b, "\"}");
    expect_refused(b.data, b.len, 400, "1001 characters; at most 1000");
    buf_reset(&b);
    buf_printf(&b, "{\"rating\":\"down\",\"reason\":\"other\",\"comment\":\"");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "가");
    buf_printf(&b, "\"}");
    struct http_reply r;
    post_feedback(base_url, ko.request_id, b.data, b.len, &r);
    CHECK(r.status == 202);
    http_reply_free(&r);
    /* over 64 KiB: refused before it is read */
    buf_reset(&b);
    buf_printf(&b, "{\"rating\":\"down\",\"comment\":\"");
    for (int i = 0; i < 70000; i++)
        buf_append(&b, "x", 1);
    buf_printf(&b, "\"}");
    expect_refused(b.data, b.len, 413, "larger than 64 KiB");
    buf_free(&b);
    x = redisCommand(R, "XLEN nova:feedback");
    CHECK(x && x->integer == before); /* only the 1,000 characters, in place of ko's first */
    if (x)
        freeReplyObject(x);
    /* and it was the last one, so the Korean one is ko's now; rate it again as it was */
    CHECK(rate(base_url, ko.request_id, "down", "wrong", "환불은 7일이 아니라 14일이에요") == 202);
}

static long long xlen(redisContext *r, const char *key)
{
    redisReply *x = redisCommand(r, "XLEN %s", key);
    long long n = x && x->type == REDIS_REPLY_INTEGER ? x->integer : -1;
    if (x)
        freeReplyObject(x);
    return n;
}

/* The entries of rid in nova:feedback on r. */
static size_t entries_of(redisContext *r, const char *rid)
{
    redisReply *x = redisCommand(r, "XRANGE nova:feedback - +");
    size_t n = 0;
    for (size_t i = 0; x && x->type == REDIS_REPLY_ARRAY && i < x->elements; i++) {
        redisReply *f = x->element[i]->element[1];
        if (f->elements >= 2 && strcmp(f->element[1]->str, rid) == 0)
            n++;
    }
    if (x)
        freeReplyObject(x);
    return n;
}

static void test_last_wins(void)
{
    CHECK(entries_of(R, en.request_id) == 1);
    long long had = xlen(R, "nova:feedback");
    CHECK(rate(base_url, en.request_id, "down", "outdated", "the price changed last week") ==
          202);
    /* the new rating replaces the request's entry: one per request */
    CHECK(entries_of(R, en.request_id) == 1 && xlen(R, "nova:feedback") == had);
    json_object *d = latest(R, en.request_id);
    CHECK(jstr_is(d, "rating", "down") && jstr_is(d, "reason", "outdated"));
    CHECK(jstr_is(d, "comment", "the price changed last week"));
    check_record(&en, d, "en");
    json_object_put(d);
    /* never rated: none */
    CHECK(latest(R, "0123456789abcdef0123456789abcdef") == NULL);
}

/* Every field of {nova:feedback}:last on r names an entry of rid still in the stream. */
static bool index_consistent(redisContext *r, long long *fields)
{
    redisReply *h = redisCommand(r, "HGETALL {nova:feedback}:last");
    bool ok = h && h->type == REDIS_REPLY_ARRAY;
    *fields = ok ? (long long)h->elements / 2 : -1;
    for (size_t i = 0; ok && i + 1 < h->elements; i += 2) {
        redisReply *e = redisCommand(r, "XRANGE nova:feedback %s %s", h->element[i + 1]->str,
                                     h->element[i + 1]->str);
        ok = e && e->type == REDIS_REPLY_ARRAY && e->elements == 1 &&
             strcmp(e->element[0]->element[1]->element[1]->str, h->element[i]->str) == 0;
        if (!ok)
            fprintf(stderr, "  index %s -> %s: no such entry\n", h->element[i]->str,
                    h->element[i + 1]->str);
        if (e)
            freeReplyObject(e);
    }
    if (h)
        freeReplyObject(h);
    return ok;
}

static void test_cap(void)
{
    struct asked a[4];
    for (int i = 0; i < 4; i++) {
        char q[64];
        snprintf(q, sizeof q, "what is the refund policy? (%d)", i);
        ask(base_url2, q, "en", &a[i]);
        CHECK(a[i].done_last);
    }
    CHECK(rate(base_url2, a[0].request_id, "up", NULL, NULL) == 202);
    CHECK(rate(base_url2, a[1].request_id, "up", NULL, NULL) == 202);
    CHECK(rate(base_url2, a[0].request_id, "down", "unclear", NULL) == 202);
    CHECK(xlen(R2, "nova:feedback") == 2); /* a[0]'s first replaced */
    json_object *d = latest(R2, a[0].request_id);
    CHECK(jstr_is(d, "rating", "down"));
    json_object_put(d);
    long long fields;
    CHECK(index_consistent(R2, &fields) && fields == 2);
    /* a third request: three entries, three index fields */
    CHECK(rate(base_url2, a[2].request_id, "up", NULL, NULL) == 202);
    CHECK(xlen(R2, "nova:feedback") == 3);
    CHECK(index_consistent(R2, &fields) && fields == 3);
    /* the fourth trims the oldest, a[1]'s: no latest, no index field */
    CHECK(rate(base_url2, a[3].request_id, "down", "offensive", NULL) == 202);
    CHECK(xlen(R2, "nova:feedback") == 3);
    CHECK(latest(R2, a[1].request_id) == NULL);
    CHECK(index_consistent(R2, &fields) && fields == 3);
    d = latest(R2, a[0].request_id);
    CHECK(jstr_is(d, "rating", "down"));
    json_object_put(d);
    /* many entries over the cap at once (as after the cap was lowered): 100 made-up ratings of
     * 100 requests, each in the index; one more rating leaves three entries and an index that
     * names only them */
    for (int i = 0; i < 100; i++) {
        char rid[40];
        snprintf(rid, sizeof rid, "%032x", 0xabc000 + i);
        redisReply *x = redisCommand(R2, "XADD nova:feedback * request %s rating up d {}", rid);
        CHECK(x && x->type == REDIS_REPLY_STRING);
        redisReply *y = x ? redisCommand(R2, "HSET {nova:feedback}:last %s %s", rid, x->str) : NULL;
        if (x)
            freeReplyObject(x);
        if (y)
            freeReplyObject(y);
    }
    CHECK(xlen(R2, "nova:feedback") == 103);
    CHECK(rate(base_url2, a[1].request_id, "up", NULL, NULL) == 202);
    CHECK(xlen(R2, "nova:feedback") == 3);
    CHECK(index_consistent(R2, &fields) && fields == 3);
    d = latest(R2, a[1].request_id);
    CHECK(jstr_is(d, "rating", "up") && jstr_is(d, "request_id", a[1].request_id));
    json_object_put(d);
    CHECK(latest(R2, a[0].request_id) == NULL && latest(R2, a[3].request_id) == NULL);
    for (int i = 0; i < 4; i++)
        asked_free(&a[i]);
}

/* `novactl feedback ARGS` on stack 1's Redis: its stdout into out, its exit status. */
static int run_novactl(const char *args, struct buf *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL=unix://%s %s feedback %s 2>/dev/null", sock1,
             novactl, args);
    return run_command(cmd, out);
}

/* export's JSON lines: each line one object, into an array (NULL when a line is not one). */
static json_object *json_lines(const struct buf *out)
{
    json_object *arr = json_object_new_array();
    const char *p = out->data ? out->data : "", *end = p + out->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) {
            json_object_put(arr);
            return NULL; /* every line ends */
        }
        json_tokener *t = json_tokener_new();
        json_object *o = json_tokener_parse_ex(t, p, (int)(eol - p));
        bool ok = o && json_tokener_get_error(t) == json_tokener_success &&
                  json_tokener_get_parse_end(t) == (size_t)(eol - p) &&
                  json_object_is_type(o, json_type_object);
        json_tokener_free(t);
        if (!ok) {
            json_object_put(o);
            json_object_put(arr);
            return NULL;
        }
        json_object_array_add(arr, o);
        p = eol + 1;
    }
    return arr;
}

static json_object *line_of(json_object *lines, const char *rid, size_t *count)
{
    json_object *found = NULL;
    *count = 0;
    for (size_t i = 0; lines && i < json_object_array_length(lines); i++) {
        json_object *o = json_object_array_get_idx(lines, i);
        if (jstr_is(o, "request_id", rid)) {
            found = o;
            (*count)++;
        }
    }
    return found;
}

/* RFC 4180: rows of fields (an array of arrays of strings), or NULL when it is not CSV. */
static json_object *csv_parse(const char *p, size_t n)
{
    json_object *rows = json_object_new_array(), *row = json_object_new_array();
    struct buf f;
    buf_init(&f, 64u << 20);
    size_t i = 0;
    bool ok = true;
    while (i < n && ok) {
        buf_reset(&f);
        if (p[i] == '"') {
            for (i++;; i++) {
                if (i >= n) {
                    ok = false; /* an unclosed quote */
                    break;
                }
                if (p[i] == '"') {
                    if (i + 1 < n && p[i + 1] == '"') {
                        buf_append(&f, "\"", 1);
                        i++;
                    } else {
                        i++;
                        break;
                    }
                } else {
                    buf_append(&f, p + i, 1);
                }
            }
        } else {
            while (i < n && p[i] != ',' && p[i] != '\r' && p[i] != '\n') {
                if (p[i] == '"')
                    ok = false; /* a quote in an unquoted field */
                buf_append(&f, p + i++, 1);
            }
        }
        json_object_array_add(row, json_object_new_string_len(f.data ? f.data : "",
                                                               (int)f.len));
        if (i < n && p[i] == ',') {
            i++;
        } else if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') {
            i += 2;
            json_object_array_add(rows, row);
            row = json_object_new_array();
        } else {
            ok = false; /* a record ends with CRLF */
        }
    }
    json_object_put(row);
    buf_free(&f);
    if (!ok) {
        json_object_put(rows);
        return NULL;
    }
    return rows;
}

static const char *cell(json_object *rows, size_t r, size_t c)
{
    if (!rows)
        return "";
    json_object *row = json_object_array_get_idx(rows, r);
    json_object *v = row ? json_object_array_get_idx(row, c) : NULL;
    return v ? json_object_get_string(v) : ""; /* "" when absent: a check fails, none crashes */
}

static struct asked third;
static const char tricky[] = "좋아요, \"정말\" 도움이\n됐어요; 50% off?";

static void test_transcript_gone(void)
{
    /* the transcript expires an hour after the chat; the feedback stays */
    redisReply *x = redisCommand(R, "DEL nova:log:%s", ko.request_id);
    CHECK(x && x->integer == 1);
    if (x)
        freeReplyObject(x);
    CHECK(rate(base_url, ko.request_id, "up", NULL, NULL) == 404); /* nothing left to rate */
    struct buf out;
    buf_init(&out, 64u << 20);
    CHECK(run_novactl("export", &out) == 0);
    json_object *lines = json_lines(&out);
    CHECK(lines != NULL);
    size_t count;
    json_object *d = line_of(lines, ko.request_id, &count);
    CHECK(count == 1);
    check_record(&ko, d, "ko");
    CHECK(jstr_is(d, "rating", "down") && jstr_is(d, "reason", "wrong"));
    CHECK(jstr_is(d, "comment", "환불은 7일이 아니라 14일이에요"));
    json_object_put(lines);
    buf_free(&out);
}

static void test_export_json(void)
{
    ask(base_url, "what is the refund policy?", "en", &third);
    CHECK(third.done_last);
    CHECK(rate(base_url, third.request_id, "up", NULL, tricky) == 202);
    struct buf out;
    buf_init(&out, 64u << 20);
    CHECK(run_novactl("export --json --since 1h", &out) == 0);
    json_object *lines = json_lines(&out);
    CHECK(lines && json_object_array_length(lines) == 3); /* ko, en, third: one line each */
    /* newest first: third, en (rated again last), ko */
    CHECK(lines && jstr_is(json_object_array_get_idx(lines, 0), "request_id", third.request_id));
    CHECK(lines && jstr_is(json_object_array_get_idx(lines, 1), "request_id", en.request_id));
    CHECK(lines && jstr_is(json_object_array_get_idx(lines, 2), "request_id", ko.request_id));
    size_t count;
    json_object *d = line_of(lines, en.request_id, &count);
    CHECK(count == 1 && jstr_is(d, "rating", "down") && jstr_is(d, "reason", "outdated"));
    check_record(&en, d, "en");
    d = line_of(lines, third.request_id, &count);
    CHECK(count == 1 && jstr_is(d, "comment", tricky));
    check_record(&third, d, "en");
    json_object_put(lines);
    /* --rating: the last rating's; --since: the two-hour-old entry only without it */
    CHECK(run_novactl("export --rating up --since 1h", &out) == 0);
    lines = json_lines(&out);
    CHECK(lines && json_object_array_length(lines) == 1 &&
          jstr_is(json_object_array_get_idx(lines, 0), "request_id", third.request_id));
    json_object_put(lines);
    CHECK(run_novactl("export --rating down", &out) == 0);
    lines = json_lines(&out);
    CHECK(lines && json_object_array_length(lines) == 3); /* en, ko and the old one */
    CHECK(line_of(lines, "00000000000000000000000000000001", &count) && count == 1);
    json_object_put(lines);
    CHECK(run_novactl("export --since 3h", &out) == 0);
    lines = json_lines(&out);
    CHECK(lines && json_object_array_length(lines) == 4);
    json_object_put(lines);
    /* usage errors: exit 2 */
    CHECK(run_novactl("export --rating meh", &out) == 2);
    CHECK(run_novactl("export --since soon", &out) == 2);
    CHECK(run_novactl("export --json --csv", &out) == 2);
    buf_free(&out);
}

static void test_export_csv(void)
{
    struct buf out;
    buf_init(&out, 64u << 20);
    CHECK(run_novactl("export --csv --since 1h", &out) == 0);
    json_object *rows = csv_parse(out.data ? out.data : "", out.len);
    CHECK(rows != NULL);
    CHECK(rows && json_object_array_length(rows) == 4); /* the header and three requests */
    static const char *const header[] = {
        "request_id", "time",     "rating",        "reason",  "comment",      "ui_lang",
        "input_lang", "question", "translation",   "entities", "sources",     "models",
        "prompt_sha256", "answers", "input_tokens", "output_tokens", "cost_usd"};
    enum { N_COLS = sizeof header / sizeof header[0] };
    for (size_t c = 0; rows && c < N_COLS; c++)
        CHECK_STR_EQ(cell(rows, 0, c), header[c]);
    for (size_t r = 0; rows && r < json_object_array_length(rows); r++)
        CHECK(json_object_array_length(json_object_array_get_idx(rows, r)) == N_COLS);
    const struct asked *want[] = {&third, &en, &ko};
    const char *rating[] = {"up", "down", "down"}, *comment[] = {tricky,
        "the price changed last week", "환불은 7일이 아니라 14일이에요"};
    for (size_t r = 1; rows && r < 4 && r < json_object_array_length(rows); r++) {
        const struct asked *a = want[r - 1];
        CHECK_STR_EQ(cell(rows, r, 0), a->request_id);
        CHECK_STR_EQ(cell(rows, r, 2), rating[r - 1]);
        CHECK_STR_EQ(cell(rows, r, 4), comment[r - 1]);
        CHECK_STR_EQ(cell(rows, r, 7), jstr(a->meta, "question"));
        CHECK(cell(rows, r, 1) && strlen(cell(rows, r, 1)) == 24);
        /* every source's url, every answer's whole text */
        json_object *src = jget(a->meta, "sources");
        for (size_t i = 0; src && i < json_object_array_length(src); i++)
            CHECK(strstr(cell(rows, r, 10), jstr(json_object_array_get_idx(src, i), "url")));
        for (size_t i = 0; i < a->n_ans; i++) {
            char tag[64];
            snprintf(tag, sizeof tag, "[%s/%s] ", a->ans[i].phase, a->ans[i].model);
            const char *at = strstr(cell(rows, r, 13), tag);
            CHECK(at && strncmp(at + strlen(tag), buf_cstr((struct buf *)&a->ans[i].text),
                                a->ans[i].text.len) == 0);
        }
        CHECK(strlen(cell(rows, r, 12)) == 64);
        char cost[40];
        snprintf(cost, sizeof cost, "%s",
                 json_object_to_json_string_ext(jget(a->done, "cost_usd"),
                                                JSON_C_TO_STRING_PLAIN));
        CHECK_STR_EQ(cell(rows, r, 16), cost);
        CHECK(atol(cell(rows, r, 15)) > 0);
    }
    CHECK(rows && strcmp(cell(rows, 3, 5), "ko") == 0 && strcmp(cell(rows, 2, 5), "en") == 0);
    json_object_put(rows);
    /* a player's formula is shown, not run */
    CHECK(rate(base_url, third.request_id, "up", NULL, "=HYPERLINK(\"http://x\")") == 202);
    CHECK(run_novactl("export --csv --since 1h --rating up", &out) == 0);
    rows = csv_parse(out.data ? out.data : "", out.len);
    CHECK(rows && json_object_array_length(rows) == 2);
    CHECK_STR_EQ(cell(rows, 1, 4), "'=HYPERLINK(\"http://x\")");
    json_object_put(rows);
    CHECK(rate(base_url, third.request_id, "up", NULL, tricky) == 202); /* as it was */
    buf_free(&out);
}

static void test_list(void)
{
    struct buf out;
    buf_init(&out, 64u << 20);
    CHECK(run_novactl("list --since 1h", &out) == 0);
    const char *t = buf_cstr(&out);
    printf("%s", t);
    const char *a = strstr(t, third.request_id), *b = strstr(t, en.request_id),
               *c = strstr(t, ko.request_id);
    CHECK(strncmp(t, "time (UTC)", 10) == 0);
    CHECK(a && b && c && a < b && b < c); /* newest first */
    CHECK(strstr(t, "3 requests rated"));
    /* one line per request: en's says down and outdated (the last), never up */
    const char *eol = b ? strchr(b, '\n') : NULL;
    CHECK(eol && memmem(b, (size_t)(eol - b), " down ", 6) &&
          memmem(b, (size_t)(eol - b), "outdated", 8) && !memmem(b, (size_t)(eol - b), " up ", 4));
    CHECK(strstr(t, "how do refunds work?") && strstr(t, "the price changed last week"));
    /* the tricky comment on one line: its line break shown as a blank */
    CHECK(strstr(t, "도움이 됐어요"));
    CHECK(run_novactl("list --rating up --since 1h", &out) == 0);
    CHECK(strstr(buf_cstr(&out), third.request_id) && !strstr(buf_cstr(&out), en.request_id));
    buf_free(&out);
}

/* nova_feedback_total{rating, reason} of stack 1, -1 when absent. */
static long long counter(const char *metrics, const char *rating, const char *reason)
{
    char want[128];
    snprintf(want, sizeof want, "nova_feedback_total{rating=\"%s\",reason=\"%s\"} ", rating,
             reason);
    const char *p = metrics ? strstr(metrics, want) : NULL;
    return p ? atoll(p + strlen(want)) : -1;
}

static char *metrics_text(void)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/metrics", base_url);
    struct http_reply r;
    http_do("GET", url, NULL, NULL, 0, &r);
    char *t = r.status == 200 ? xstrdup(buf_cstr(&r.body)) : NULL;
    http_reply_free(&r);
    return t;
}

static char *metrics_before;

static void test_metrics(void)
{
    char *after = metrics_text();
    /* on stack 1: down/wrong twice (ko and its rating again), down/other once (1,000
     * characters), down/outdated once (en again); up/none: en, third three times */
    static const struct {
        const char *rating, *reason;
        long long by;
    } want[] = {{"down", "wrong", 2}, {"down", "other", 1}, {"down", "outdated", 1},
                {"up", "none", 4},    {"down", "none", 0},  {"down", "offensive", 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        long long b = counter(metrics_before, want[i].rating, want[i].reason),
                  a = counter(after, want[i].rating, want[i].reason);
        if (a - b != want[i].by)
            fprintf(stderr, "  %s/%s: %lld -> %lld, want +%lld\n", want[i].rating,
                    want[i].reason, b, a, want[i].by);
        CHECK(b >= 0 && a - b == want[i].by);
    }
    free(after);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    base_url2 = getenv("NOVA_URL2");
    run_dir = getenv("NOVA_RUN_DIR");
    run_dir2 = getenv("NOVA_RUN_DIR2");
    novactl = getenv("NOVACTL");
    snprintf(sock1, sizeof sock1, "%s/redis.sock", run_dir ? run_dir : ".");
    snprintf(sock2, sizeof sock2, "%s/redis.sock", run_dir2 ? run_dir2 : ".");
    if (!base_url || !base_url2 || !novactl || !(R = redis_at(sock1)) || !(R2 = redis_at(sock2))) {
        fprintf(stderr, "test_feedback: NOVA_URL(2), NOVA_RUN_DIR(2), NOVACTL and the Redis "
                        "needed\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    metrics_before = metrics_text();
    /* A rating two hours old, before any other (stream ids only grow), for --since. */
    char id[48];
    snprintf(id, sizeof id, "%lld-0", clock_epoch_ms() - 2 * 3600 * 1000LL);
    redisReply *r = redisCommand(R, "XADD nova:feedback %s request %s rating down d %s", id,
                                 "00000000000000000000000000000001",
                                 "{\"request_id\":\"00000000000000000000000000000001\","
                                 "\"rating\":\"down\",\"question\":\"an old one\"}");
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r)
        freeReplyObject(r);
    RUN(test_record_ko);
    RUN(test_record_en);
    RUN(test_unknown_request);
    RUN(test_bad_bodies);
    RUN(test_last_wins);
    RUN(test_transcript_gone);
    RUN(test_export_json);
    RUN(test_export_csv);
    RUN(test_list);
    RUN(test_metrics);
    RUN(test_cap);
    free(metrics_before);
    asked_free(&third);
    asked_free(&ko);
    asked_free(&en);
    redisFree(R);
    redisFree(R2);
    curl_global_cleanup();
    return test_summary();
}
