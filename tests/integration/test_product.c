/* test_product: what the customer-service user gets, through nginx against a whole stack with
 * the simulator — the dual response in both UI languages, the question's translation (its
 * `translation` event beside the answers: after meta, after the first Micro words, before
 * done, counted in done, replayed once by a resume; or first, before the search, when nothing
 * was found as asked), glossary entities, retrieval from the local knowledge base, the
 * no-documents apology, sessions, the translate box, usage and cost.
 *
 * tests/integration/product.sh starts one stack (tests/lib/stack.sh) and passes NOVA_URL,
 * NOVA_RUN_DIR and SIM_URL. Jobs are read back from Redis (redis_jobs.h) to see the prompts the
 * models were given; the simulator's counters prove which model calls were (not) made. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "../unit/test.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/utf8.h"
#include "product/price.h"
#include "redis/job.h"
#include "redis_jobs.h"
#include "simstats.h"
#include "sse_client.h"

static const char *base_url, *run_dir, *sim_url;
static struct price_table prices;

/* Paces the simulator so both models are seen streaming, quickly. */
#define FAST " #sim:tps=300 #sim:len=40"

static struct stream *post_json(const char *path, const char *method, json_object *o)
{
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    struct stream *s = stream_new(base_url, method, path, "application/json", js, strlen(js),
                                  NULL);
    json_object_put(o);
    return s;
}

/* POST /api/chat and read the whole stream. */
static struct stream *ask(const char *message, const char *ui_lang, const char *session)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(message));
    json_object_object_add(o, "ui_lang", json_object_new_string(ui_lang));
    if (session)
        json_object_object_add(o, "session_id", json_object_new_string(session));
    struct stream *s = post_json("/api/chat", NULL, o);
    drive_one(s, 30000);
    return s;
}

static bool has_entity(json_object *meta, const char *canonical, const char *matched)
{
    json_object *a = jget(meta, "entities");
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        if (jstr_is(e, "canonical", canonical) &&
            (!matched || jstr_is(e, "matched", matched)))
            return true;
    }
    return false;
}

static size_t count_type(const struct stream *s, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += strcmp(s->evs[i].type, type) == 0;
    return n;
}

static struct ev *last_of(struct stream *s, const char *type)
{
    for (size_t i = s->n; i-- > 0;)
        if (strcmp(s->evs[i].type, type) == 0)
            return &s->evs[i];
    return NULL;
}

static long usage_of(json_object *o, const char *field)
{
    json_object *v = jget(jget(o, "usage"), field);
    return v ? (long)json_object_get_int64(v) : -1;
}

static ssize_t index_of(const struct stream *s, const char *type)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->evs[i].type, type) == 0)
            return (ssize_t)i;
    return -1;
}

/* The index of the first delta of model (any phase), or -1. */
static ssize_t first_delta_of(struct stream *s, const char *model)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->evs[i].type, "delta") == 0 && jstr_is(ev_json(&s->evs[i]), "model", model))
            return (ssize_t)i;
    return -1;
}

/* No answer event carries a translation phase: its job ends with one `translation` event. */
static bool no_translation_job_events(struct stream *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *ph = jstr(ev_json(&s->evs[i]), "phase");
        if (ph && strncmp(ph, "translate", 9) == 0 && strcmp(s->evs[i].type, "translation") != 0)
            return false;
    }
    return true;
}

/* The translation beside the answers, as a stream must carry it: meta announces it (the
 * language it goes into) without a translated_query, exactly one `translation` event follows
 * meta and precedes done, with the languages and the text, and done's usage is the four
 * streams' plus its own. after_words: it also comes after the first Micro words (at the
 * simulator's default pacing Micro starts 250 ms after its call, Pro's Converse answers after
 * 500 ms; a #sim:ttft directive paces both). Returns the event (NULL when absent). */
static struct ev *check_translation_beside(struct stream *s, json_object *meta, const char *from,
                                           const char *to, bool after_words)
{
    CHECK(meta && jstr_is(meta, "translating", to) && !jget(meta, "translated_query"));
    CHECK(count_type(s, "translation") == 1 && no_translation_job_events(s));
    ssize_t at = index_of(s, "translation"), m = index_of(s, "meta"), d = index_of(s, "done");
    ssize_t first = first_delta_of(s, "micro");
    CHECK(at > m && m == 0 && d == (ssize_t)s->n - 1 && at < d);
    CHECK(first > 0 && (!after_words || at > first));
    if (at < 0)
        return NULL;
    struct ev *t = &s->evs[at];
    json_object *j = ev_json(t);
    CHECK(jstr_is(j, "source_language", from) && jstr_is(j, "target_language", to));
    CHECK(jstr(j, "translated_query") && *jstr(j, "translated_query"));
    CHECK(jstr_is(j, "model", "pro") && usage_of(j, "input_tokens") > 0);
    long streams_in = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->evs[i].type, "model_done") == 0)
            streams_in += usage_of(ev_json(&s->evs[i]), "input_tokens");
    CHECK(d >= 0 && usage_of(ev_json(&s->evs[d]), "input_tokens") ==
                        streams_in + usage_of(j, "input_tokens"));
    return t;
}

static char *user_text_of(const char *request_id, const char *queue, const char *phase);

/* ---- the dual response ------------------------------------------------------------------ */

static void test_korean_question_ko_mode(void)
{
    struct stream *s = ask("폴이 레벨업을 못 해요. 경험치는 가득 찼어요." FAST, "ko", NULL);
    struct chat c;
    chat_read(s, &c);
    CHECK(s->status == 200 && c.meta && c.done_last && c.n_errors == 0);
    CHECK(jstr_is(c.meta, "input_lang", "ko") && jstr_is(c.meta, "ui_lang", "ko"));
    /* Korean in ko mode: nothing to translate */
    CHECK(!jget(c.meta, "translated_query") && !jget(c.meta, "translating"));
    CHECK(count_type(s, "translation") == 0);
    CHECK(has_entity(c.meta, "Paul", "폴"));
    CHECK(has_entity(c.meta, "Level Up", "레벨업"));
    CHECK(has_entity(c.meta, "Experience Points", "경험치"));
    json_object *src = jget(c.meta, "sources");
    CHECK(src && json_object_array_length(src) >= 1 && json_object_array_length(src) <= 5);
    for (size_t i = 0; src && i < json_object_array_length(src); i++) {
        json_object *e = json_object_array_get_idx(src, i);
        const char *ex = jstr(e, "excerpt");
        CHECK(jstr(e, "title") && *jstr(e, "title") && jstr(e, "url") && ex);
        CHECK(ex && utf8_count(ex, strlen(ex)) <= 600);
        CHECK(jget(e, "score") && json_object_get_double(jget(e, "score")) > 0);
    }
    struct model_stream *mi = chat_ms(&c, "answer", "micro"), *pr = chat_ms(&c, "answer", "pro");
    CHECK(mi && mi->done && mi->text.len > 0 && has_hangul(mi->text.data, mi->text.len));
    CHECK(pr && pr->done && pr->text.len > 0 && has_hangul(pr->text.data, pr->text.len));
    if (!(s->status == 200 && c.done_last && mi && mi->done))
        stream_dump("ko chat", s);
    chat_free(&c);
    stream_free(s);
}

static void test_english_question_en_mode(void)
{
    /* Paced so that four streams of 30 tokens last about 600 ms each, from the same start. */
    struct stream *s = ask("I can't log in to my account and the password reset mail never "
                           "arrives. #sim:tps=50 #sim:len=30 #sim:ttft=100", "en", NULL);
    struct chat c;
    chat_read(s, &c);
    CHECK(s->status == 200 && c.meta && c.done_last && c.n_errors == 0);
    CHECK(jstr_is(c.meta, "input_lang", "en") && jstr_is(c.meta, "ui_lang", "en"));
    /* The staff read Korean: an English question in en mode comes with its Korean version,
     * made beside the answers. */
    check_translation_beside(s, c.meta, "en", "ko", false);
    json_object *ph = jget(c.meta, "phases");
    CHECK(ph && json_object_array_length(ph) == 2);
    struct model_stream *sk[2] = {chat_ms(&c, "staff_ko", "micro"), chat_ms(&c, "staff_ko", "pro")};
    struct model_stream *ce[2] = {chat_ms(&c, "customer_en", "micro"),
                                  chat_ms(&c, "customer_en", "pro")};
    for (int i = 0; i < 2; i++) {
        CHECK(sk[i] && sk[i]->done && has_hangul(sk[i]->text.data, sk[i]->text.len));
        CHECK(ce[i] && ce[i]->done && ce[i]->text.len > 0 &&
              !has_hangul(ce[i]->text.data, ce[i]->text.len));
    }
    /* Interleaved: every stream had begun before any of them ended. */
    double first_end = 1e18, last_start = 0;
    struct model_stream *all[] = {sk[0], sk[1], ce[0], ce[1]};
    for (int i = 0; i < 4; i++) {
        if (!all[i] || !all[i]->deltas)
            continue;
        last_start = all[i]->first_ms > last_start ? all[i]->first_ms : last_start;
        first_end = all[i]->last_ms < first_end ? all[i]->last_ms : first_end;
    }
    CHECK(last_start < first_end);
    chat_free(&c);
    stream_free(s);
}

static void test_korean_question_en_mode_translated(void)
{
    struct stream *s = ask("공대한에게 아이템을 선물하고 싶어요. 인벤토리가 꽉 찼어요." FAST, "en",
                           NULL);
    struct chat c;
    chat_read(s, &c);
    CHECK(s->status == 200 && c.meta && c.done_last);
    CHECK(jstr_is(c.meta, "input_lang", "ko"));
    struct ev *t = check_translation_beside(s, c.meta, "ko", "en", true);
    const char *tq = t ? jstr(ev_json(t), "translated_query") : NULL;
    /* The simulator translates the glossary's names: Hogan, Item, Inventory in English. */
    CHECK(tq && strstr(tq, "Hogan") && strstr(tq, "Inventory"));
    CHECK(has_entity(c.meta, "Hogan", "공대한"));
    /* done counts the translation: its usage is more than the four model streams'. */
    struct ev *done = last_of(s, "done");
    long streams_in = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->evs[i].type, "model_done") == 0)
            streams_in += usage_of(ev_json(&s->evs[i]), "input_tokens");
    CHECK(done && usage_of(ev_json(done), "input_tokens") > streams_in);
    /* The answers read the question as asked: no translation waited for in their prompts. */
    char *u = c.meta ? user_text_of(c.request_id, "micro", "customer_en") : NULL;
    const char *q = u ? strstr(u, "Question:\n") : NULL, *asked = "공대한에게 아이템을 선물하고";
    CHECK(q && strncmp(q + strlen("Question:\n"), asked, strlen(asked)) == 0);
    CHECK(u && !strstr(u, "The player wrote") && !strstr(u, "(In English:"));
    free(u);
    chat_free(&c);
    stream_free(s);
}

/* GET /api/chat/<request>/events with Last-Event-ID, read to its end. */
static struct stream *resume(const char *request_id, const char *after)
{
    char path[160];
    snprintf(path, sizeof path, "/api/chat/%s/events", request_id);
    struct stream *s = stream_new(base_url, NULL, path, NULL, NULL, 0, after);
    drive_one(s, 30000);
    return s;
}

/* A resume replays the translation once, at its place, and counts it in done; a resume
 * after it does not show it again; a client that drops right after meta gets it live on its
 * resume. */
static void test_translation_resume(void)
{
    struct stream *s = ask("인벤토리가 꽉 찼어요. 아이템을 어떻게 정리하나요?" FAST, "en", NULL);
    struct chat c;
    chat_read(s, &c);
    struct ev *t = check_translation_beside(s, c.meta, "ko", "en", true);
    struct stream *r = c.meta && t ? resume(c.request_id, c.meta_id) : NULL;
    CHECK(r && r->status == 200 && r->n == s->n - 1);
    CHECK(r && count_type(r, "translation") == 1 &&
          index_of(r, "translation") == index_of(s, "translation") - 1);
    struct ev *rt = r ? last_of(r, "translation") : NULL;
    CHECK(rt && t && strcmp(rt->id, t->id) == 0 && strcmp(rt->data, t->data) == 0);
    CHECK(r && strcmp(last_of(r, "done")->data, last_of(s, "done")->data) == 0);
    stream_free(r);
    r = t ? resume(c.request_id, t->id) : NULL;
    CHECK(r && (r->status == 204 || count_type(r, "translation") == 0));
    stream_free(r);
    chat_free(&c);
    stream_free(s);

    /* Dropped after meta: the resume (within the grace a dropped client's jobs get) carries
     * the translation, once, and done counts it. */
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string("던전 입장권이 부족해요" FAST));
    json_object_object_add(o, "ui_lang", json_object_new_string("en"));
    s = post_json("/api/chat", NULL, o);
    s->stop_after = 1;
    drive_one(s, 30000);
    chat_read(s, &c);
    CHECK(s->n == 1 && c.meta && jstr_is(c.meta, "translating", "en"));
    r = c.meta ? resume(c.request_id, c.meta_id) : NULL;
    CHECK(r && r->status == 200 && count_type(r, "translation") == 1);
    CHECK(r && r->n > 0 && strcmp(r->evs[r->n - 1].type, "done") == 0);
    struct ev *tr = r ? last_of(r, "translation") : NULL;
    CHECK(tr && usage_of(ev_json(tr), "input_tokens") > 0);
    long in = 0;
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->evs[i].type, "model_done") == 0 ||
            strcmp(r->evs[i].type, "translation") == 0)
            in += usage_of(ev_json(&r->evs[i]), "input_tokens");
    CHECK(r && last_of(r, "done") && usage_of(ev_json(last_of(r, "done")), "input_tokens") == in);
    if (!(r && count_type(r, "translation") == 1))
        stream_dump("resume after meta", r ? r : s);
    stream_free(r);
    chat_free(&c);
    stream_free(s);
}

/* Every character of the reference glossary, by its Korean name with a particle. */
static void test_entities_every_character(void)
{
    static const struct {
        const char *question, *canonical, *matched;
    } cases[] = {
        {"폴이 퀘스트를 못 깨요", "Paul", "폴"},
        {"공대한에게 말을 걸 수가 없어요", "Hogan", "공대한"},
        {"마누엘은 어디서 만나나요?", "Manuel", "마누엘"},
        {"에이전트 C를 파티에 넣고 싶어요", "Agent C", "에이전트 C"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[256];
        snprintf(q, sizeof q, "%s" FAST, cases[i].question);
        struct stream *s = ask(q, "ko", NULL);
        struct chat c;
        chat_read(s, &c);
        CHECK(c.meta && has_entity(c.meta, cases[i].canonical, cases[i].matched));
        if (!(c.meta && has_entity(c.meta, cases[i].canonical, cases[i].matched)))
            fprintf(stderr, "  %s: meta %s\n", cases[i].question,
                    c.meta ? json_object_to_json_string(jget(c.meta, "entities")) : "(none)");
        chat_free(&c);
        stream_free(s);
    }
}

/* A Korean question finds the English-only document about Paul through the glossary. */
static void test_cross_language_retrieval(void)
{
    struct stream *s = ask("폴 레벨업" FAST, "ko", NULL);
    struct chat c;
    chat_read(s, &c);
    json_object *src = c.meta ? jget(c.meta, "sources") : NULL;
    bool found = false;
    for (size_t i = 0; src && i < json_object_array_length(src); i++) {
        const char *url = jstr(json_object_array_get_idx(src, i), "url");
        found = found || (url && strcmp(url, "https://support.example.com/en/guide/level-up") == 0);
    }
    CHECK(found);
    if (!found)
        stream_dump("cross-language", s);
    chat_free(&c);
    stream_free(s);
}

static void test_no_documents_apology(void)
{
    long before = simstats_get(sim_url, "converse_stream");
    long conv_before = simstats_get(sim_url, "converse");
    struct stream *s = ask("zxqv blorp wuggle frandle?", "en", NULL);
    struct ev *n = last_of(s, "notice");
    CHECK(s->status == 200 && count_type(s, "meta") == 1 && n && count_type(s, "delta") == 0);
    /* Nothing found as asked: translated first, searched again, still nothing. The
     * translation is in meta and in its event, right after meta; done counts it. */
    json_object *meta = count_type(s, "meta") ? ev_json(&s->evs[0]) : NULL;
    CHECK(meta && jstr(meta, "translated_query") && !jget(meta, "translating"));
    CHECK(index_of(s, "translation") == 1 && count_type(s, "translation") == 1);
    struct ev *tr = last_of(s, "translation"), *dn = last_of(s, "done");
    CHECK(tr && dn && jstr_is(ev_json(tr), "source_language", "en") &&
          jstr_is(ev_json(tr), "translated_query", jstr(meta, "translated_query")) &&
          usage_of(ev_json(dn), "input_tokens") == usage_of(ev_json(tr), "input_tokens"));
    CHECK(n && jstr_is(ev_json(n), "code", "no_documents") && jstr(ev_json(n), "text"));
    CHECK(s->n > 0 && strcmp(s->evs[s->n - 1].type, "done") == 0);
    /* No answer was streamed for it (the en-mode translation is a Converse call). */
    CHECK(simstats_get(sim_url, "converse_stream") == before);
    CHECK(simstats_get(sim_url, "converse") == conv_before + 1);
    stream_free(s);
    /* In Korean too, with the Korean apology. */
    before = simstats_get(sim_url, "converse_stream");
    s = ask("ㅁㄴㅇㄹ 쀍쀍쀍 뚫뚫", "ko", NULL);
    n = last_of(s, "notice");
    CHECK(n && jstr_is(ev_json(n), "code", "no_documents"));
    CHECK(n && jstr(ev_json(n), "text") &&
          has_hangul(jstr(ev_json(n), "text"), strlen(jstr(ev_json(n), "text"))));
    CHECK(simstats_get(sim_url, "converse_stream") == before);
    stream_free(s);
}

/* ---- sessions --------------------------------------------------------------------------- */

static char *user_text_of(const char *request_id, const char *queue, const char *phase)
{
    redisContext *r = redis_open(run_dir);
    if (!r)
        return NULL;
    struct jobset js = {0};
    jobset_load(r, queue, &js);
    const struct job *j = jobset_find(&js, request_id, phase, queue);
    char *t = j ? xstrdup(j->messages[j->n_messages - 1].text) : NULL;
    jobset_free(&js);
    redisFree(r);
    return t;
}

static void test_follow_up_and_forget(void)
{
    const char *session = "product-test-session-01";
    struct stream *s1 = ask("환불은 어떻게 신청하나요?" FAST, "ko", session);
    struct chat c1;
    chat_read(s1, &c1);
    CHECK(c1.meta && jstr_is(c1.meta, "session_id", session) && c1.done_last);
    struct stream *s2 = ask("그럼 며칠 안에 처리되나요?" FAST, "ko", session);
    struct chat c2;
    chat_read(s2, &c2);
    char *t = c2.meta ? user_text_of(c2.request_id, "micro", "answer") : NULL;
    /* The follow-up's prompt carries the first question and the start of its answer. */
    struct model_stream *mi = chat_ms(&c1, "answer", "micro");
    char head[64] = "";
    if (mi && mi->text.len)
        snprintf(head, sizeof head, "%.*s", (int)utf8_whole_prefix(mi->text.data, 40),
                 mi->text.data);
    CHECK(t && strstr(t, "환불은 어떻게 신청하나요?"));
    CHECK(t && head[0] && strstr(t, head));
    free(t);
    /* Forget it: the next question has no history. */
    struct stream *d = stream_new(base_url, "DELETE", "/api/session/product-test-session-01",
                                  NULL, NULL, 0, NULL);
    drive_one(d, 5000);
    CHECK(d->status == 200 && strstr(buf_cstr(&d->raw), "\"deleted\":true"));
    stream_free(d);
    struct stream *s3 = ask("환불 기간이 궁금해요" FAST, "ko", session);
    struct chat c3;
    chat_read(s3, &c3);
    t = c3.meta ? user_text_of(c3.request_id, "micro", "answer") : NULL;
    CHECK(t && !strstr(t, "환불은 어떻게 신청하나요?"));
    free(t);
    d = stream_new(base_url, "DELETE", "/api/session/bad%20id", NULL, NULL, 0, NULL);
    drive_one(d, 5000);
    CHECK(d->status == 400);
    stream_free(d);
    chat_free(&c1);
    chat_free(&c2);
    chat_free(&c3);
    stream_free(s1);
    stream_free(s2);
    stream_free(s3);
}

/* ---- the translate box ------------------------------------------------------------------ */

static json_object *translate(const char *text, const char *target, long *status)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "text", json_object_new_string(text));
    if (target)
        json_object_object_add(o, "target", json_object_new_string(target));
    struct stream *s = post_json("/api/translate", NULL, o);
    drive_one(s, 30000);
    *status = s->status;
    json_object *r = json_tokener_parse(buf_cstr(&s->raw));
    stream_free(s);
    return r;
}

static void test_translate_box(void)
{
    long st;
    json_object *r = translate("폴이 레벨업을 못 해요", "en", &st);
    CHECK(st == 200 && jstr_is(r, "original_text", "폴이 레벨업을 못 해요"));
    CHECK(jstr_is(r, "detected_language", "ko") && jstr_is(r, "target_language", "en"));
    CHECK(jstr(r, "translated_text") && strstr(jstr(r, "translated_text"), "Paul") &&
          strstr(jstr(r, "translated_text"), "Level Up"));
    CHECK(usage_of(r, "input_tokens") > 0 && jget(r, "cost_usd"));
    json_object_put(r);
    r = translate("Paul cannot enter the dungeon", "auto", &st);
    CHECK(st == 200 && jstr_is(r, "detected_language", "en") &&
          jstr_is(r, "target_language", "ko"));
    /* The simulator swaps the glossary's names: Paul and dungeon come out in Korean. */
    CHECK(jstr(r, "translated_text") && !strstr(jstr(r, "translated_text"), "Paul") &&
          strstr(jstr(r, "translated_text"), "던전"));
    json_object_put(r);
    /* Already in the target language: back unchanged, no model call. */
    long conv = simstats_get(sim_url, "converse");
    r = translate("안녕하세요", "ko", &st);
    CHECK(st == 200 && jstr_is(r, "translated_text", "안녕하세요"));
    CHECK(simstats_get(sim_url, "converse") == conv);
    json_object_put(r);
    r = translate("", "en", &st);
    CHECK(st == 400 && jget(r, "error"));
    json_object_put(r);
    r = translate("hello", "jp", &st);
    CHECK(st == 400);
    json_object_put(r);
}

/* ---- usage and cost --------------------------------------------------------------------- */

static void test_usage_cost_and_cache(void)
{
    /* By now the system prompt (with the glossary) is cached: this request reads it. */
    struct stream *s = ask("결제 취소는 어떻게 하나요?" FAST, "ko", NULL);
    struct token_usage sum = {0};
    double usd = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->evs[i].type, "model_done") != 0)
            continue;
        json_object *j = ev_json(&s->evs[i]);
        struct token_usage u = {usage_of(j, "input_tokens"), usage_of(j, "output_tokens"),
                                  usage_of(j, "cache_read_tokens"),
                                  usage_of(j, "cache_write_tokens")};
        sum.input_tokens += u.input_tokens;
        sum.output_tokens += u.output_tokens;
        sum.cache_read_tokens += u.cache_read_tokens;
        sum.cache_write_tokens += u.cache_write_tokens;
        usd += price_cost(&prices, jstr(j, "model"), &u);
    }
    struct ev *done = last_of(s, "done");
    json_object *d = done ? ev_json(done) : NULL;
    CHECK(count_type(s, "model_done") == 2);
    CHECK(d && usage_of(d, "input_tokens") == sum.input_tokens &&
          usage_of(d, "output_tokens") == sum.output_tokens &&
          usage_of(d, "cache_read_tokens") == sum.cache_read_tokens &&
          usage_of(d, "cache_write_tokens") == sum.cache_write_tokens);
    double got = d && jget(d, "cost_usd") ? json_object_get_double(jget(d, "cost_usd")) : -1;
    CHECK(fabs(got - usd) < 1e-8 && usd > 0);
    CHECK(sum.cache_read_tokens > 0);
    if (!(sum.cache_read_tokens > 0) && done)
        fprintf(stderr, "  done: %s\n", done->data);
    stream_free(s);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    sim_url = getenv("SIM_URL");
    char err[256];
    if (!base_url || !run_dir || !sim_url) {
        fprintf(stderr, "NOVA_URL, NOVA_RUN_DIR and SIM_URL are required (product.sh)\n");
        return 2;
    }
    if (price_table_load("config/prices.json", &prices, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_korean_question_ko_mode);
    RUN(test_english_question_en_mode);
    RUN(test_korean_question_en_mode_translated);
    RUN(test_translation_resume);
    RUN(test_entities_every_character);
    RUN(test_cross_language_retrieval);
    RUN(test_no_documents_apology);
    RUN(test_follow_up_and_forget);
    RUN(test_translate_box);
    RUN(test_usage_cost_and_cache);
    curl_global_cleanup();
    return test_summary();
}
