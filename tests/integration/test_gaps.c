/* test_gaps: the questions it could not answer, recorded in nova:gaps by nova-fcgi and listed
 * by `novactl kb gaps` (issue 17, items 2 and 5), against two real stacks (gaps.sh): stack 1
 * with a guardrail configured, stack 2 with NOVA_GAPS_MAX=2.
 *   - "그럼 며칠 걸려요?" (no conversation to refer to): the apology, recorded as
 *     no_documents with its request id, question, languages and no best match; never the
 *     session id it was asked in;
 *   - "how do I trade pets with aliens?": answered from a passage under NOVA_GAP_WEAK_SCORE
 *     (0.3), recorded as weak with meta's first source as its best match;
 *   - "what is the refund policy?" (well answered) is not recorded;
 *   - two near-identical wordings of the first question make one group of three in
 *     `novactl kb gaps --json` (first and last seen the first and the last entry's times),
 *     newest group first, and one line "3 ... no_documents:3" in the text form;
 *   - "#sim:guardrail": the guardrail's notice in words in the stream, counted in
 *     /api/metrics' nova_notices_total{code="guardrail"}, and recorded as reason guardrail;
 *   - --since: an entry two hours old is left out by --since 1h and shown by --since 3h and
 *     without --since; a bad duration is a usage error (exit 2);
 *   - stack 2 keeps only its last two gaps.
 * On main nothing is recorded (there is no nova:gaps) and `novactl kb gaps` is an unknown
 * command, so every check of a record fails there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <curl/curl.h>

#include "../unit/test.h"
#include "core/clock.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base_url, *base_url2, *run_dir, *run_dir2, *novactl;
static redisContext *R, *R2;
static char sock1[700];

struct asked {
    char request_id[80];
    char first_title[256], first_url[512];
    double first_score;
    size_t n_sources;
    bool apology, guardrail_notice, guardrail_in_words, done_last;
};

/* One chat to its end on base (session NULL: none). */
static void ask(const char *base, const char *session, const char *message, const char *ui,
                struct asked *out)
{
    memset(out, 0, sizeof *out);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(message));
    json_object_object_add(o, "ui_lang", json_object_new_string(ui));
    if (session)
        json_object_object_add(o, "session_id", json_object_new_string(session));
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    struct stream *s = stream_new(base, NULL, "/api/chat", "application/json", js, strlen(js),
                                  NULL);
    json_object_put(o);
    drive_one(s, 30000);
    struct chat c;
    chat_read(s, &c);
    snprintf(out->request_id, sizeof out->request_id, "%s", c.request_id);
    json_object *src = jget(c.meta, "sources");
    out->n_sources = src ? json_object_array_length(src) : 0;
    if (out->n_sources) {
        json_object *f = json_object_array_get_idx(src, 0);
        const char *title = jstr(f, "title"), *url = jstr(f, "url");
        if (title)
            snprintf(out->first_title, sizeof out->first_title, "%s", title);
        if (url)
            snprintf(out->first_url, sizeof out->first_url, "%s", url);
        out->first_score = json_object_get_double(jget(f, "score"));
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->evs[i].type, "notice") != 0)
            continue;
        json_object *n = ev_json(&s->evs[i]);
        if (jstr_is(n, "code", "no_documents"))
            out->apology = true;
        if (jstr_is(n, "code", "guardrail")) {
            const char *t = jstr(n, "text");
            out->guardrail_notice = true;
            /* words for the player, not the stop reason */
            out->guardrail_in_words = t && strlen(t) > 10 && !strstr(t, "guardrail_intervened");
        }
    }
    out->done_last = c.done_last;
    printf("  %s -> %s, %zu sources%s%s (best %.3f)\n", message, c.request_id, out->n_sources,
           out->apology ? ", the apology" : "", out->guardrail_notice ? ", guardrail" : "",
           out->first_score);
    if (!c.done_last)
        stream_dump(message, s);
    chat_free(&c);
    stream_free(s);
}

/* A field of a stream entry's flat field array, or NULL. */
static const char *field(const redisReply *f, const char *name)
{
    for (size_t i = 0; f && f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2)
        if (strcmp(f->element[i]->str, name) == 0)
            return f->element[i + 1]->str;
    return NULL;
}

static bool field_is(const redisReply *f, const char *name, const char *want)
{
    const char *v = field(f, name);
    return v && strcmp(v, want) == 0;
}

/* The nova:gaps entry of request_id on r, waiting up to 5 s for it (it is written as the
 * stream ends); NULL when there is none. Free with freeReplyObject(*all). */
static const redisReply *gap_of(redisContext *r, const char *request_id, redisReply **all,
                                long wait_ms)
{
    for (long waited = 0;; waited += 20) {
        *all = redisCommand(r, "XRANGE nova:gaps - +");
        for (size_t i = 0; *all && (*all)->type == REDIS_REPLY_ARRAY && i < (*all)->elements;
             i++) {
            const redisReply *e = (*all)->element[i];
            const char *rid = field(e->element[1], "request_id");
            if (rid && strcmp(rid, request_id) == 0)
                return e;
        }
        if (waited >= wait_ms)
            return NULL;
        if (*all)
            freeReplyObject(*all);
        *all = NULL;
        sleep_ms(20);
    }
}

/* No field name or value holds s. */
static bool entry_lacks(const redisReply *e, const char *s)
{
    const redisReply *f = e->element[1];
    for (size_t i = 0; i < f->elements; i++)
        if (strstr(f->element[i]->str, s))
            return false;
    return true;
}

static void test_no_documents_recorded(void)
{
    struct asked a;
    ask(base_url, "gaps-session-0001", "그럼 며칠 걸려요?", "ko", &a);
    CHECK(a.done_last && a.apology && a.n_sources == 0);
    redisReply *all;
    const redisReply *e = gap_of(R, a.request_id, &all, 5000);
    CHECK(e != NULL);
    if (e) {
        const redisReply *f = e->element[1];
        CHECK(field_is(f, "reason", "no_documents"));
        CHECK(field_is(f, "question", "그럼 며칠 걸려요?"));
        CHECK(field_is(f, "input_lang", "ko"));
        CHECK(field_is(f, "ui_lang", "ko"));
        CHECK(!field(f, "best_title") && !field(f, "best_score"));
        /* Its time is the entry id's, within the last minute. */
        long long ms = atoll(e->element[0]->str);
        CHECK(ms > clock_epoch_ms() - 60000 && ms <= clock_epoch_ms() + 1000);
        CHECK(entry_lacks(e, "gaps-session-0001") && entry_lacks(e, "session"));
    }
    if (all)
        freeReplyObject(all);
}

static void test_weak_recorded(void)
{
    struct asked a;
    ask(base_url, "gaps-session-0002", "how do I trade pets with aliens?", "en", &a);
    CHECK(a.done_last && !a.apology && a.n_sources > 0 && a.first_score < 0.3);
    redisReply *all;
    const redisReply *e = gap_of(R, a.request_id, &all, 5000);
    CHECK(e != NULL);
    if (e) {
        const redisReply *f = e->element[1];
        CHECK(field_is(f, "reason", "weak"));
        CHECK(field_is(f, "input_lang", "en"));
        CHECK(field_is(f, "ui_lang", "en"));
        CHECK(field_is(f, "best_title", a.first_title));
        CHECK(field_is(f, "best_url", a.first_url));
        double score = field(f, "best_score") ? atof(field(f, "best_score")) : -1;
        CHECK(score > a.first_score - 0.001 && score < a.first_score + 0.001);
        CHECK(entry_lacks(e, "gaps-session-0002") && entry_lacks(e, "session"));
    }
    if (all)
        freeReplyObject(all);
}

static void test_well_answered_not_recorded(void)
{
    struct asked a, marker;
    ask(base_url, NULL, "what is the refund policy?", "en", &a);
    CHECK(a.done_last && !a.apology && a.first_score >= 0.3);
    /* A gap asked after it is recorded; by then its own would have been too. */
    ask(base_url, NULL, "그럼 며칠 걸려요", "ko", &marker);
    redisReply *all;
    CHECK(gap_of(R, marker.request_id, &all, 5000) != NULL);
    if (all)
        freeReplyObject(all);
    CHECK(gap_of(R, a.request_id, &all, 0) == NULL);
    if (all)
        freeReplyObject(all);
}

/* `novactl kb gaps ARGS` on stack 1's Redis: its stdout into out, its exit status. */
static int run_novactl(const char *args, struct buf *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL=unix://%s %s kb gaps %s 2>/dev/null", sock1,
             novactl, args);
    return run_command(cmd, out);
}

/* The group of --json's groups whose normalised form is key, and its index. */
static json_object *group_of(json_object *root, const char *key, int *index)
{
    json_object *g = jget(root, "groups");
    for (size_t i = 0; g && i < json_object_array_length(g); i++) {
        json_object *x = json_object_array_get_idx(g, i);
        if (jstr_is(x, "normalised", key)) {
            *index = (int)i;
            return x;
        }
    }
    *index = -1;
    return NULL;
}

static long long jint(json_object *o, const char *key)
{
    return json_object_get_int64(jget(o, key));
}

static void test_grouped_by_novactl(void)
{
    struct asked a;
    ask(base_url, NULL, "그럼   며칠 걸려요？", "ko", &a); /* blanks, a full-width "?" */
    CHECK(a.apology);
    redisReply *all;
    const redisReply *e = gap_of(R, a.request_id, &all, 5000);
    long long last_ms = e ? atoll(e->element[0]->str) : -1;
    /* The first of the group is the first entry's time (the oldest entry is the --since one). */
    long long first_ms = all && all->elements > 1 ? atoll(all->element[1]->element[0]->str) : -2;
    if (all)
        freeReplyObject(all);
    struct buf out;
    buf_init(&out, 1u << 22);
    CHECK(run_novactl("--json", &out) == 0);
    json_object *root = out.data ? json_tokener_parse(out.data) : NULL;
    CHECK(root != NULL);
    int gi = -1, wi = -1;
    json_object *g = group_of(root, "그럼 며칠 걸려요", &gi);
    json_object *w = group_of(root, "how do i trade pets with aliens", &wi);
    CHECK(g != NULL && w != NULL);
    if (g && w) {
        printf("  group: %s\n", json_object_to_json_string(g));
        CHECK(jint(g, "count") == 3);
        CHECK(jint(jget(g, "reasons"), "no_documents") == 3);
        CHECK(jstr_is(g, "question", "그럼   며칠 걸려요？")); /* the newest wording */
        CHECK(jint(g, "first_seen_ms") == first_ms && jint(g, "last_seen_ms") == last_ms);
        CHECK(jstr(g, "first_seen") && jstr(g, "last_seen") &&
              strlen(jstr(g, "last_seen")) == 20);
        CHECK(jget(g, "best") == NULL);
        CHECK(jint(w, "count") == 1 && jint(jget(w, "reasons"), "weak") == 1);
        CHECK(jstr(jget(w, "best"), "url") && jstr(jget(w, "best"), "url")[0]);
        /* Newest first: the 그럼 group was seen last. */
        CHECK(gi >= 0 && wi > gi);
        CHECK(jint(root, "records") >= 5);
    }
    json_object_put(root);
    /* The text form: one line for the group, its count and reasons. */
    CHECK(run_novactl("", &out) == 0);
    const char *line = out.data ? strstr(out.data, "\n    3  ") : NULL;
    const char *eol = line ? strchr(line + 1, '\n') : NULL;
    CHECK(line && eol);
    if (line && eol) {
        char l[1024];
        snprintf(l, sizeof l, "%.*s", (int)(eol - line - 1), line + 1);
        printf("  text: %s\n", l);
        CHECK(strstr(l, "no_documents:3") && strstr(l, "ko/ko") && strstr(l, "그럼"));
    }
    CHECK(out.data && strstr(out.data, "best: ") && strstr(out.data, "Items and Inventory"));
    buf_free(&out);
}

static long long guardrail_notices(void)
{
    struct http_reply r;
    char url[1024];
    snprintf(url, sizeof url, "%s/api/metrics", base_url);
    http_do("GET", url, NULL, NULL, 0, &r);
    const char *p = r.body.data ? strstr(r.body.data, "nova_notices_total{code=\"guardrail\"} ")
                                : NULL;
    long long n = p ? atoll(p + strlen("nova_notices_total{code=\"guardrail\"} ")) : -1;
    http_reply_free(&r);
    return n;
}

static void test_guardrail(void)
{
    long long before = guardrail_notices();
    struct asked a;
    ask(base_url, "gaps-session-0003", "환불 규정을 알려주세요 #sim:guardrail", "ko", &a);
    CHECK(a.done_last && a.guardrail_notice && a.guardrail_in_words);
    /* Counted: one notice per intervened call (micro and pro). Metrics are summed over the
     * children, each counting its own streams, so wait for the scoreboard. */
    long long after = -1;
    for (long waited = 0; waited <= 3000; waited += 50) {
        after = guardrail_notices();
        if (after >= before + 2)
            break;
        sleep_ms(50);
    }
    printf("  nova_notices_total{code=\"guardrail\"}: %lld -> %lld\n", before, after);
    CHECK(before >= 0 && after >= before + 2);
    redisReply *all;
    const redisReply *e = gap_of(R, a.request_id, &all, 5000);
    CHECK(e != NULL);
    if (e) {
        const redisReply *f = e->element[1];
        CHECK(field_is(f, "reason", "guardrail"));
        CHECK(field(f, "question") &&
              strcmp(field(f, "question"), "환불 규정을 알려주세요 #sim:guardrail") == 0);
        CHECK(field(f, "best_url") &&
              strcmp(field(f, "best_url"), "https://support.example.com/ko/billing/refund") == 0);
        CHECK(entry_lacks(e, "gaps-session-0003"));
    }
    if (all)
        freeReplyObject(all);
    struct buf out;
    buf_init(&out, 1u << 22);
    CHECK(run_novactl("--json", &out) == 0);
    json_object *root = out.data ? json_tokener_parse(out.data) : NULL;
    int gi = -1;
    json_object *g = group_of(root, "환불 규정을 알려주세요 sim guardrail", &gi);
    CHECK(g && gi == 0 && jint(jget(g, "reasons"), "guardrail") == 1);
    json_object_put(root);
    buf_free(&out);
}

static void test_since(void)
{
    struct buf out;
    buf_init(&out, 1u << 22);
    CHECK(run_novactl("--since 1h --json", &out) == 0);
    CHECK(out.data && !strstr(out.data, "an old question") && strstr(out.data, "그럼"));
    CHECK(out.data && strstr(out.data, "\"since_ms\":"));
    CHECK(run_novactl("--since 3h", &out) == 0);
    CHECK(out.data && strstr(out.data, "an old question") && strstr(out.data, "gaps since "));
    CHECK(run_novactl("", &out) == 0);
    CHECK(out.data && strstr(out.data, "an old question"));
    CHECK(run_novactl("--since 90m", &out) == 0);
    CHECK(out.data && !strstr(out.data, "an old question"));
    CHECK(run_novactl("--since 5x", &out) == 2);
    CHECK(run_novactl("--since", &out) == 2);
    CHECK(run_novactl("extra", &out) == 2);
    buf_free(&out);
}

static void test_cap(void)
{
    static const char *const q[] = {"qwxz vbnm plok", "qwxz vbnm zrut", "qwxz vbnm frub"};
    struct asked a[3];
    for (int i = 0; i < 3; i++) {
        ask(base_url2, NULL, q[i], "ko", &a[i]);
        CHECK(a[i].apology);
        redisReply *all;
        CHECK(gap_of(R2, a[i].request_id, &all, 5000) != NULL);
        if (all)
            freeReplyObject(all);
    }
    redisReply *r = redisCommand(R2, "XLEN nova:gaps");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 2);
    if (r)
        freeReplyObject(r);
    redisReply *all;
    CHECK(gap_of(R2, a[0].request_id, &all, 0) == NULL); /* the oldest was trimmed */
    if (all)
        freeReplyObject(all);
    CHECK(gap_of(R2, a[2].request_id, &all, 0) != NULL);
    if (all)
        freeReplyObject(all);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    base_url2 = getenv("NOVA_URL2");
    run_dir = getenv("NOVA_RUN_DIR");
    run_dir2 = getenv("NOVA_RUN_DIR2");
    novactl = getenv("NOVACTL");
    char sock2[700];
    snprintf(sock1, sizeof sock1, "%s/redis.sock", run_dir ? run_dir : ".");
    snprintf(sock2, sizeof sock2, "%s/redis.sock", run_dir2 ? run_dir2 : ".");
    if (!base_url || !base_url2 || !novactl || !(R = redis_at(sock1)) || !(R2 = redis_at(sock2))) {
        fprintf(stderr, "test_gaps: NOVA_URL(2), NOVA_RUN_DIR(2), NOVACTL and the Redis needed\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* An entry two hours old, before any other (stream ids only grow), for --since. */
    char id[48];
    snprintf(id, sizeof id, "%lld-0", clock_epoch_ms() - 2 * 3600 * 1000LL);
    redisReply *r = redisCommand(R, "XADD nova:gaps %s reason no_documents request_id "
                                    "00000000000000000000000000000000 question %s input_lang en "
                                    "ui_lang en", id, "an old question");
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r)
        freeReplyObject(r);
    RUN(test_no_documents_recorded);
    RUN(test_weak_recorded);
    RUN(test_well_answered_not_recorded);
    RUN(test_grouped_by_novactl);
    RUN(test_guardrail);
    RUN(test_since);
    RUN(test_cap);
    redisFree(R);
    redisFree(R2);
    curl_global_cleanup();
    return test_summary();
}
