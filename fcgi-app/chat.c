/* chat: POST /api/chat, its resume and its cancel (see chat.h). */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "gaps.h"
#include "jobwait.h"
#include "knowledge.h"
#include "lookup.h"
#include "metrics.h"
#include "plan.h"
#include "product.h"
#include "product/lang.h"
#include "redis/events.h"
#include "relay.h"
#include "session.h"
#include "store.h"
#include "translate.h"

#define CHAT_RETRY_AFTER "Retry-After: 5\r\n"

/* The queue backlog check, in two halves around the subscribe wait (store.h): 429 when a
 * queue this request uses is over NOVA_MAX_QUEUE_DEPTH. */
static const enum queue chat_queues[] = {QUEUE_MICRO, QUEUE_PRO};

static int check_backlog(struct req *rq, redisContext *c)
{
    char err[256], msg[160];
    long long depths[2];
    if (store_depths_read(c, chat_queues, 2, depths, err, sizeof err) < 0) {
        log_rid(LOG_WARN, rq->id, "%s", err);
        reply_error(rq, 503, "unavailable", "the job queue cannot be read", NULL);
        return -1;
    }
    for (size_t m = 0; m < 2; m++) {
        long long depth = depths[m];
        if (depth > rq->app->cfg->max_queue_depth) {
            log_rid(LOG_WARN, rq->id, "queue %s holds %lld jobs (max %ld): 429",
                    queue_name(chat_queues[m]), depth, rq->app->cfg->max_queue_depth);
            snprintf(msg, sizeof msg, "the %s queue is full (%lld jobs waiting); retry shortly",
                     queue_name(chat_queues[m]), depth);
            reply_error(rq, 429, "overloaded", msg, CHAT_RETRY_AFTER);
            return -1;
        }
    }
    return 0;
}

/* Subscribes, appends meta and queues the jobs: the backlog's commands go out first and their
 * replies are read after the SUBSCRIBE is confirmed (the two round trips overlap), then the
 * prompt (when due), meta and the jobs go in one pipeline (store_start), so a chat costs two
 * round trips on its pooled connection. The order the stream needs holds: the channels are
 * confirmed before meta is appended, meta is before the jobs in the pipeline, and the prompt
 * the jobs name before them. On failure the reply is sent; returns -1. */
static int chat_start(struct req *rq, struct relay *r, const struct plan *p, const char *meta,
                      size_t meta_len, const struct buf *turn_value, char *meta_id,
                      size_t idlen)
{
    struct app *app = rq->app;
    const struct product *prod = app->product;
    char err[256], bufs[RELAY_MAX_CHANNELS][KEY_MAX];
    const char *chans[RELAY_MAX_CHANNELS];
    redisContext *c = req_redis(rq);
    if (!c)
        return -1;
    store_depths_send(c, chat_queues, 2);
    size_t n = relay_channels(r, bufs, chans);
    int sub = dispatch_subscribe(app->dispatch, rq->inbox, chans, n, APP_SUBSCRIBE_WAIT_MS, err,
                                 sizeof err);
    if (sub < 0)
        log_rid(LOG_WARN, rq->id, "subscribe: %s", err);
    /* The backlog's replies are read either way, so the connection stays in step. */
    if (check_backlog(rq, c) < 0) {
        app_redis_put(app, c);
        return -1;
    }
    if (sub < 0) {
        app_redis_put(app, c);
        reply_error(rq, 503, "unavailable", "Redis did not confirm the reply channels", NULL);
        return -1;
    }
    /* The connection count is read after the confirmation: a chat confirmed on a new pub/sub
     * connection (Redis came back, maybe empty) stores the prompt again before its jobs. */
    unsigned long conns = dispatch_connections(app->dispatch);
    long long now = clock_epoch_ms();
    /* The answers' system prompt and the two translation prompts (a chat's translation job,
     * queued after this, names its prompt too). */
    const struct store_prompt sp[] = {
        {prod->system_sha256, prod->system_prompt, strlen(prod->system_prompt)},
        {prod->translate_to_ko_sha256, prod->translate_to_ko, strlen(prod->translate_to_ko)},
        {prod->translate_to_en_sha256, prod->translate_to_en, strlen(prod->translate_to_en)},
    };
    bool named = p->n_jobs > 0 && p->jobs[0].system_sha256[0];
    /* The turn to save when the answer is done, kept beside the request (session.h): the
     * transcript, which any holder of the request id reads back, has no session id. */
    char turn_key[KEY_MAX];
    struct store_turn turn = {turn_key, turn_value->data, turn_value->len,
                              app->cfg->log_ttl_s * 1000, false};
    bool keep_turn = key_turn(turn_key, sizeof turn_key, rq->id) == 0;
    bool store_prompt = named && store_prompts_due(conns, now), prompt_ok;
    /* Jobs stay in their stream until a worker has finished them (it deletes them then and
     * leaves a receipt); trimming far above the backlog cap bounds the stream anyway. */
    enum store_start_result sr =
        store_start(c, sp, store_prompt ? sizeof sp / sizeof sp[0] : 0, &prompt_ok,
                    keep_turn ? &turn : NULL, r->tr.key, r->channel, meta,
                    meta_len, app->cfg->log_ttl_s * 1000, p->jobs, p->n_jobs,
                    app->cfg->max_queue_depth * 2 + 1000, meta_id, idlen, err, sizeof err);
    app_redis_put(app, c);
    if (store_prompt && prompt_ok && sr != STORE_BROKEN)
        store_prompts_stored(conns, now);
    else if (store_prompt && sr != STORE_BROKEN)
        log_rid(LOG_WARN, rq->id, "the system prompt was not stored: %s", err);
    if (sr == STORE_STARTED && !turn.stored)
        log_rid(LOG_WARN, rq->id, "the session turn was not kept: the answer will not be saved");
    if (sr == STORE_STARTED)
        return 0;
    if (sr == STORE_META_FAILED) {
        log_rid(LOG_WARN, rq->id, "meta: %s", err);
        relay_cancel(r, true); /* whatever of the pipeline's jobs Redis took */
        reply_error(rq, 503, "unavailable", "Redis did not take the request", NULL);
        return -1;
    }
    log_rid(LOG_WARN, rq->id, "queueing: %s", err);
    relay_cancel(r, true);
    reply_error(rq, 503, "unavailable", "the jobs could not be queued", NULL);
    return -1;
}

bool chat_refuse_when_draining(struct req *rq)
{
    if (!atomic_load(&rq->app->draining))
        return false;
    reply_error(rq, 503, "unavailable", "this server is shutting down; retry",
                "Retry-After: 1\r\n");
    return true;
}

/* This child's stream places taken (each child is a process of its own: a per-process count
 * is the per-child one). Taken before the request's work, so two requests never both take
 * the last place. */
static atomic_long streams_held;

bool chat_stream_admit(struct req *rq)
{
    if (chat_refuse_when_draining(rq))
        return false;
    long max = rq->app->cfg->max_streams;
    if (atomic_fetch_add(&streams_held, 1) < max)
        return true;
    atomic_fetch_sub(&streams_held, 1);
    metrics_stream_refused();
    log_rid(LOG_WARN, rq->id, "refused: this child holds NOVA_MAX_STREAMS=%ld streams", max);
    reply_error(rq, 503, "unavailable", "this server holds as many streams as it may; retry",
                "Retry-After: 1\r\n");
    return false;
}

void chat_stream_leave(void)
{
    atomic_fetch_sub(&streams_held, 1);
}

/* Where the question's translation stands. Only a question that is translated at all
 * (lookup_translates) gets one; it runs beside the answers unless the search as asked found
 * nothing, when it comes first and the search is done again with both wordings. */
enum ask_translation {
    ASK_UNTRANSLATED, /* ko mode, a Korean question: nothing to translate */
    ASK_BESIDE,       /* a job queued with the answer jobs; its `translation` event follows */
    ASK_FIRST,        /* made before the search: in meta, and its event after meta */
    ASK_FIRST_FAILED, /* that one failed: answered as asked; its usage still counts */
};

/* What the request understood of the question before any answer job: its language, the
 * glossary entities in it, the passages found for it, and its translation's state. */
struct ask {
    struct chatreq cr;
    char session[CHATREQ_SESSION_MAX + 1];
    char session_tag[LOG_TAG_LEN + 1];     /* what the logs name it by */
    enum lang ui, input;
    enum ask_translation tr;
    struct buf translated;             /* ASK_FIRST: the translation ("" otherwise) */
    struct token_usage translate_usage; /* ASK_FIRST and ASK_FIRST_FAILED: its call's */
    struct lookup look;                /* entities and search terms (lookup.h) */
    struct buf previous;               /* a follow-up's previous questions (its context) */
    struct knowledge k;
};

static const char *ask_translation_name(enum ask_translation t)
{
    static const char *const names[] = {"none", "beside", "first", "first_failed"};
    return names[t];
}

/* The knowledge base asked with the question (and its translation, once there is one) and
 * the glossary's names of their entities. Returns 0 or -1 with *code (knowledge.h). */
static int chat_search(struct req *rq, struct ask *a, const char **code)
{
    struct buf query;
    buf_init(&query, 2 * CHATREQ_BODY_MAX + JOBWAIT_TEXT_MAX);
    lookup_query(&query, a->cr.message, a->cr.message_len, a->translated.data,
                 a->translated.len);
    /* A search again after the translation is a Retrieve job of its own (kb backend bedrock):
     * its own id and transcript, not the first one's answer read back. */
    char again[CHATREQ_REQUEST_ID_LEN + 16];
    snprintf(again, sizeof again, "%s-translated", rq->id);
    int rc = knowledge_find(rq, a->translated.len ? again : rq->id, query.data, query.len,
                            a->look.terms, a->look.n_terms, lookup_context(&a->look), &a->k,
                            code);
    buf_free(&query);
    return rc;
}

/* The search as asked found nothing it is sure of: the question translated first (a Korean
 * question about an English-only document in words the glossary does not know), then
 * searched again with both wordings and the translation's entities. Only these requests wait
 * for a translation. Returns 0 (answered as asked when the translation failed), or -1 with
 * *code ("gone", or the search's). */
static int chat_translate_first(struct req *rq, struct ask *a, const char **code)
{
    if (translate_run(rq, rq->id, a->cr.message, a->cr.message_len, lookup_target(a->input),
                      &a->translated, &a->translate_usage, code) < 0) {
        if (strcmp(*code, "gone") == 0 || strcmp(*code, "overloaded") == 0)
            return -1; /* overloaded: the pro queue the answers need is full too */
        buf_reset(&a->translated);
        a->tr = ASK_FIRST_FAILED;
        return 0;
    }
    a->tr = ASK_FIRST;
    /* a->translated is not appended to again: the entities point into it. */
    lookup_add_text(&a->look, rq->app->product->glossary, a->translated.data, a->translated.len);
    knowledge_free(&a->k);
    return chat_search(rq, a, code);
}

/* Language, entities, passages, and where the translation goes. Returns 0, or -1 with the
 * reply sent (or the client gone). */
static int chat_understand(struct req *rq, struct ask *a)
{
    const struct chatreq *cr = &a->cr;
    a->ui = lang_from_code(cr->ui_lang);
    a->input = lang_detect(cr->message, cr->message_len);
    if (a->input == LANG_UNKNOWN) /* emoji, digits: nothing to translate */
        a->input = a->ui;
    lookup_init(&a->look);
    lookup_add_text(&a->look, rq->app->product->glossary, cr->message, cr->message_len);
    lookup_add_synonyms(&a->look, rq->app->product->glossary, rq->app->product->synonyms,
                        cr->message, cr->message_len);
    /* A follow-up ("그럼 며칠 걸려요?") is searched with the session's previous question. */
    if (cr->session_id[0] && lookup_follows_up(cr->message, cr->message_len)) {
        char err[256];
        buf_init(&a->previous, SESSION_PROMPT_TURNS * (SESSION_TEXT_MAX + 1) + 1);
        if (session_questions(rq->app, a->session, &a->previous, err, sizeof err) < 0)
            log_rid(LOG_WARN, rq->id, "session %s: %s (searching without it)", a->session_tag,
                    err);
        else
            lookup_set_context(&a->look, rq->app->product->glossary, rq->app->product->synonyms,
                               cr->message, cr->message_len, buf_cstr(&a->previous),
                               a->previous.len);
    }
    /* As asked: both models read Korean and English, and the glossary's names carry the
     * search across languages, so nothing waits for a translation ... */
    const char *code = NULL;
    int rc = chat_search(rq, a, &code);
    a->tr = lookup_translates(a->ui, a->input) ? ASK_BESIDE : ASK_UNTRANSLATED;
    /* ... unless that found nothing it is sure of (lookup.h). */
    double sure = rq->app->product->kb ? LOOKUP_SURE_SCORE : 0;
    if (rc == 0 && lookup_translate_first(a->ui, a->input, a->k.n, a->k.n ? a->k.p[0].score : 0,
                                          sure))
        rc = chat_translate_first(rq, a, &code);
    if (rc < 0 && code && strcmp(code, "overloaded") == 0)
        reply_error(rq, 429, "overloaded", "the job queues are full; retry shortly",
                    CHAT_RETRY_AFTER);
    else if (rc < 0 && strcmp(code, "gone") != 0)
        reply_error(rq, code && strcmp(code, "timeout") == 0 ? 504 : 503,
                    code && strcmp(code, "timeout") == 0 ? "timeout" : "unavailable",
                    "the knowledge base cannot be searched right now", NULL);
    return rc;
}

static void ask_free(struct ask *a)
{
    knowledge_free(&a->k);
    buf_free(&a->translated);
    buf_free(&a->previous);
    chatreq_free(&a->cr);
}

/* meta's data; with_session: the session id too, for the client that asked alone (it is never
 * in the transcript, which a resume replays to whoever knows the request id). */
static void meta_json(struct req *rq, const struct ask *a, const struct plan *p,
                      bool with_session, struct buf *out)
{
    json_object *o = json_object_new_object(), *phases = json_object_new_array();
    json_object *ents = json_object_new_array(), *sources = json_object_new_array();
    json_object_object_add(o, "request_id", json_object_new_string(rq->id));
    if (with_session)
        json_object_object_add(o, "session_id", json_object_new_string(a->session));
    json_object_object_add(o, "input_lang", json_object_new_string(lang_code(a->input)));
    json_object_object_add(o, "ui_lang", json_object_new_string(a->cr.ui_lang));
    if (a->tr == ASK_FIRST)
        json_object_object_add(o, "translated_query",
                               json_object_new_string_len(a->translated.data,
                                                          (int)a->translated.len));
    else if (a->tr == ASK_BESIDE) /* its `translation` event follows; a resume waits for it */
        json_object_object_add(o, "translating",
                               json_object_new_string(lang_code(lookup_target(a->input))));
    for (size_t i = 0; i < a->look.n_ents; i++) {
        const struct glossary_match *m = &a->look.ents[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "canonical", json_object_new_string(m->entry->canonical));
        json_object_object_add(e, "section", json_object_new_string(m->entry->section));
        json_object_object_add(e, "matched",
                               json_object_new_string_len(a->look.ent_text[i] + m->offset,
                                                          (int)m->len));
        json_object_array_add(ents, e);
    }
    json_object_object_add(o, "entities", ents);
    knowledge_sources(&a->k, sources);
    json_object_object_add(o, "sources", sources);
    for (size_t i = 0; i < p->n_phases; i++)
        json_object_array_add(phases, json_object_new_string(p->phases[i]));
    json_object_object_add(o, "phases", phases);
    json_object_object_add(o, "backend", json_object_new_string(config_backend_name(rq->app->cfg->backend)));
    /* What a reviewer needs once the jobs are gone (record.h): the question as asked, the
     * model ids and the system prompt's SHA-256 (the prompt version) the jobs name. */
    json_object_object_add(o, "question", json_object_new_string_len(a->cr.message,
                                                                      (int)a->cr.message_len));
    json_object *models = json_object_new_object();
    for (size_t i = 0; i < p->n_jobs && i < PLAN_MODELS; i++)
        json_object_object_add(models, model_name(p->jobs[i].model),
                               json_object_new_string(p->jobs[i].model_id));
    json_object_object_add(o, "models", models);
    if (p->n_jobs && p->jobs[0].system_sha256[0])
        json_object_object_add(o, "prompt_sha256",
                               json_object_new_string(p->jobs[0].system_sha256));
    json_append_put(o, out);
}

/* What the answer jobs are made of. Only needed until the jobs and meta are in Redis: it is
 * released before the stream's long wait, so an open stream holds little more than its
 * relay (the prompts carry the glossary and five passages, some tens of KiB per chat). */
struct material {
    struct buf meta;        /* as the transcript keeps it: no session id */
    struct buf meta_own;    /* as the asking client gets it: with its session id */
    struct buf turn;        /* the session turn kept for when the answer is done */
    struct buf question, history, passages;
    struct buf translation; /* ASK_FIRST: the translation event's data */
    struct plan plan;
    struct job translate;   /* ASK_BESIDE: the translation job */
    bool has_translate;
};

static void material_free(struct material *m)
{
    buf_free(&m->meta);
    buf_free(&m->meta_own);
    buf_free(&m->turn);
    buf_free(&m->question);
    buf_free(&m->history);
    buf_free(&m->passages);
    buf_free(&m->translation);
    plan_free(&m->plan);
    if (m->has_translate)
        job_free(&m->translate);
    m->has_translate = false;
}

/* No passage good enough: meta (and the translation made in looking), the apology as a
 * notice, done — and no model call. */
static enum relay_end chat_no_documents(struct req *rq, struct relay *r, const struct ask *a,
                                        const struct material *m)
{
    static const char *const apology_ko =
        "죄송합니다. 문의하신 내용에 대한 안내를 도움말에서 찾지 못했습니다. 고객센터 "
        "1:1 문의로 남겨 주시면 담당자가 확인해 드리겠습니다.";
    static const char *const apology_en =
        "Sorry, we could not find anything in our help articles about your question. Please "
        "open a support ticket and an agent will look into it for you.";
    json_object *o = json_object_new_object();
    json_object_object_add(o, "code", json_object_new_string("no_documents"));
    json_object_object_add(o, "text",
                           json_object_new_string(a->ui == LANG_EN ? apology_en : apology_ko));
    struct buf notice;
    buf_init(&notice, 4096);
    json_append_put(o, &notice);
    enum relay_end end = RELAY_FAILED;
    if (relay_append_event_shown(r, "meta", m->meta.data, m->meta.len, m->meta_own.data,
                                 m->meta_own.len) == 0 &&
        (a->tr != ASK_FIRST ||
         relay_append_event(r, "translation", m->translation.data, m->translation.len) == 0) &&
        relay_append_event(r, "notice", notice.data, notice.len) == 0)
        end = relay_run(r); /* no jobs: straight to done */
    else if (!rq->headers_sent)
        reply_error(rq, 503, "unavailable", "Redis did not take the request", NULL);
    buf_free(&notice);
    return end;
}

/* The plan, meta and translation of an understood question. Returns 0, or -1 with the reply
 * sent. */
static int material_build(struct req *rq, const struct ask *a, struct material *m)
{
    struct app *app = rq->app;
    char err[256];
    memset(m, 0, sizeof *m);
    buf_init(&m->meta, 1u << 20);
    buf_init(&m->meta_own, 1u << 20);
    buf_init(&m->turn, 2 * SESSION_TEXT_MAX + 1024);
    buf_init(&m->history, 4 * SESSION_PROMPT_TURNS * SESSION_TEXT_MAX + 256);
    buf_init(&m->passages, JOB_MAX_BYTES / 2);
    buf_init(&m->question, 2 * CHATREQ_BODY_MAX);
    buf_init(&m->translation, 4 * JOBWAIT_TEXT_MAX);
    if (a->cr.session_id[0] && session_history(app, a->session, &m->history, err, sizeof err) < 0)
        log_rid(LOG_WARN, rq->id, "session %s: %s (answering without it)", a->session_tag, err);
    knowledge_prompt(&a->k, &m->passages);
    /* The question as asked: both models read Korean and English, and the prompts name the
     * answer's language. A translation made before the search is there already, so both
     * wordings then: the one in the UI language first, and the player's own words always
     * (names and tone a translation may lose). */
    if (a->tr != ASK_FIRST)
        buf_append(&m->question, a->cr.message, a->cr.message_len);
    else if (a->input == a->ui)
        buf_printf(&m->question, "%s\n(In %s: %s)", a->cr.message,
                   lang_name(a->input == LANG_KO ? LANG_EN : LANG_KO), a->translated.data);
    else
        buf_printf(&m->question, "%s\n(The player wrote: %s)", a->translated.data,
                   a->cr.message);
    struct plan_input in = {
        .product = app->product,
        .ui_lang = a->cr.ui_lang,
        .question = buf_cstr(&m->question),
        .passages = buf_cstr(&m->passages),
        .history = buf_cstr(&m->history),
    };
    long long now = clock_epoch_ms();
    int rc = plan_build(&m->plan, app->cfg, rq->id, &in, now, err, sizeof err);
    if (rc == 0 && a->tr == ASK_BESIDE) {
        rc = translate_job(&m->translate, app, rq->id, a->cr.message, a->cr.message_len,
                           lookup_target(a->input), true, now,
                           now + app->cfg->job_deadline_s * 1000);
        m->has_translate = rc == 0;
        if (rc < 0)
            snprintf(err, sizeof err, "the translation job does not fit");
    }
    if (rc == 0 && a->tr == ASK_FIRST &&
        (rc = translate_event_json(&m->translation, a->input, lookup_target(a->input),
                                   a->translated.data, a->translated.len,
                                   &a->translate_usage)) < 0)
        snprintf(err, sizeof err, "the translation event does not fit");
    if (rc < 0) {
        log_rid(LOG_ERROR, rq->id, "plan: %s", err);
        reply_error(rq, 500, "internal", "the request could not be planned", NULL);
        material_free(m);
        return -1;
    }
    meta_json(rq, a, &m->plan, false, &m->meta);
    meta_json(rq, a, &m->plan, true, &m->meta_own);
    session_turn_json(&m->turn, a->session, a->cr.message, a->cr.message_len);
    return 0;
}

/* The question's translation, queued after the answer jobs (subscribed with them): nothing
 * waits for it but `done`. When it cannot be queued its job ends with an error event, so
 * neither done nor a resume waits for it, and the answers go on. */
static void chat_queue_translation(struct req *rq, struct relay *r, const struct job *j)
{
    struct app *app = rq->app;
    char err[256];
    redisContext *c = app_redis(app, err, sizeof err);
    int rc = c ? store_enqueue(c, j, 1, app->cfg->max_queue_depth * 2 + 1000, err, sizeof err)
               : -1;
    app_redis_put(app, c);
    if (rc == 0)
        return;
    log_rid(LOG_WARN, rq->id, "queueing the translation: %s (answering without it)", err);
    struct buf data;
    buf_init(&data, 1024);
    event_error_json(&data, j->phase, model_name(j->model), "unavailable",
                     "the translation could not be queued", false);
    if (relay_post_event(r, "error", data.data, data.len) < 0)
        for (size_t i = 0; i < r->tally.n_jobs; i++)
            if (strcmp(r->tally.jobs[i].id, j->id) == 0)
                tally_end_job(&r->tally, i);
    buf_free(&data);
}

/* The answer jobs: subscribe, meta, queue, then (the material released) relay. */
static enum relay_end chat_answer(struct req *rq, struct relay *r, struct ask *a,
                                  struct material *m)
{
    char meta_id[EVENT_ID_MAX];
    const struct plan *p = &m->plan;
    if (chat_start(rq, r, p, m->meta.data, m->meta.len, &m->turn, meta_id, sizeof meta_id) < 0)
        return RELAY_FAILED;
    if (m->has_translate)
        chat_queue_translation(rq, r, &m->translate);
    /* Through the inbox, in order with the first deltas (relay.h). */
    if (a->tr == ASK_FIRST &&
        relay_post_event(r, "translation", m->translation.data, m->translation.len) < 0)
        tally_add_usage(&r->tally, MODEL_PRO, &a->translate_usage); /* still paid for */
    /* Sizes, never the question itself; the session as a tag (its id grants its history). */
    log_event(LOG_INFO, rq->id, "chat_start",
              "session=%s ui_lang=%s input_lang=%s chars=%zu translation=%s entities=%zu "
              "passages=%zu jobs=%zu",
              a->session_tag, a->cr.ui_lang, lang_code(a->input), a->cr.message_chars,
              ask_translation_name(a->tr), a->look.n_ents, a->k.n,
              p->n_jobs + m->has_translate);
    /* The transcript's meta has the same id: the asking client gets its own version. */
    bool ok = relay_event(r, meta_id, strlen(meta_id), "meta", 4, m->meta_own.data,
                          m->meta_own.len) == 0 &&
              relay_flush(r) == 0;
    material_free(m);
    knowledge_free(&a->k);
    if (ok)
        return relay_run(r);
    relay_cancel(r, false);
    return RELAY_GONE;
}

/* What a chat's stream needs at its end, which may come on another thread than the request's
 * (NOVA_FCGI_STREAMS=loop): copies, not pointers into the request's memory. */
struct chat_end {
    struct gap_note gap;
    bool save_turn;           /* the answer branch: the session turn at done */
    char *message;
    size_t message_len;
    char *translated;         /* the translation made before the search, or NULL */
    size_t translated_len;
    const char *input_lang;   /* static */
    char ui_lang[sizeof ((struct chatreq *)0)->ui_lang];
};

static char *chat_memdup(const char *p, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* The stream's end (relay_end_fn): the session turn, the gap, the log line. */
static void chat_end(struct relay *r, enum relay_end end, void *ctx)
{
    struct chat_end *ce = ctx;
    struct req *rq = r->rq;
    if (end == RELAY_DONE && ce->save_turn)
        relay_save_turn(r);
    if (end != RELAY_FAILED) { /* the stream has ended: nothing waits for this */
        struct gap_question gq = {rq->id,        ce->message,    ce->message_len,
                                  ce->input_lang, ce->ui_lang,   ce->translated,
                                  ce->translated_len};
        gaps_record(rq->app, &ce->gap, r->tally.guardrail, &gq);
        log_event(LOG_INFO, rq->id, "chat_done", "end=%s events=%lu elapsed_ms=%lld",
                  relay_end_name(end), r->out.written, clock_mono_ms() - rq->t0);
    }
    free(ce->message);
    free(ce->translated);
    free(ce);
    chat_stream_leave(); /* the place chat_post took */
}

void chat_post(struct req *rq)
{
    struct app *app = rq->app;
    char err[256];
    struct buf body;
    if (req_read_json_body(rq, &body) < 0)
        return;
    struct ask a;
    memset(&a, 0, sizeof a);
    buf_init(&a.translated, JOBWAIT_TEXT_MAX);
    int prc = chatreq_parse(buf_cstr(&body), body.len, &a.cr, err, sizeof err);
    buf_free(&body);
    if (prc < 0) {
        reply_error(rq, 400, "bad_request", err, NULL);
        buf_free(&a.translated);
        return;
    }
    if (a.cr.session_id[0])
        memcpy(a.session, a.cr.session_id, sizeof a.session);
    else
        app_random_hex(a.session, 32);
    log_tag(a.session, a.session_tag);
    struct material m;
    if (!chat_stream_admit(rq)) {
        ask_free(&a);
        return;
    }
    if (chat_understand(rq, &a) < 0 || material_build(rq, &a, &m) < 0) {
        chat_stream_leave();
        ask_free(&a);
        return;
    }
    long long now = clock_epoch_ms();
    struct relay r;
    relay_init(&r, rq, rq->id, true, now, now + app->cfg->job_deadline_s * 1000);
    /* A translation that failed before the search was still a Pro call of this request (one
     * that succeeded counts through its `translation` event). */
    if (a.tr == ASK_FIRST_FAILED)
        tally_add_usage(&r.tally, MODEL_PRO, &a.translate_usage);
    struct chat_end *ce = xcalloc(1, sizeof *ce);
    gaps_classify(&ce->gap, &a.k, app->cfg->gap_weak_score); /* before the answer frees them */
    ce->message = chat_memdup(a.cr.message, a.cr.message_len);
    ce->message_len = a.cr.message_len;
    if (a.tr == ASK_FIRST) {
        ce->translated = chat_memdup(a.translated.data ? a.translated.data : "",
                                     a.translated.len);
        ce->translated_len = a.translated.len;
    }
    ce->input_lang = lang_code(a.input);
    memcpy(ce->ui_lang, a.cr.ui_lang, sizeof ce->ui_lang);
    r.on_end = chat_end; /* the stream may go to the loop (relay_run), which ends it */
    r.end_ctx = ce;
    enum relay_end end;
    if (a.k.n == 0) {
        log_rid(LOG_INFO, rq->id, "no passage at or above %g: the apology, no model call",
                app->cfg->kb_min_score);
        end = chat_no_documents(rq, &r, &a, &m);
    } else {
        const struct plan *p = &m.plan;
        for (size_t i = 0; i < p->n_jobs; i++)
            relay_add_job(&r, p->jobs[i].id, p->phases[i / PLAN_MODELS], p->jobs[i].model);
        if (m.has_translate)
            tally_add_translation(&r.tally, m.translate.id,
                                  translate_phase(lookup_target(a.input)));
        tally_capture(&r.tally, p->phases[p->n_phases - 1], SESSION_TEXT_MAX);
        ce->save_turn = true;
        end = chat_answer(rq, &r, &a, &m);
    }
    if (end == RELAY_HANDED_OFF) { /* the loop ends the stream: only our own memory is ours */
        material_free(&m);
        ask_free(&a);
        return;
    }
    chat_end(&r, end, ce);
    dispatch_unsubscribe(app->dispatch, rq->inbox);
    material_free(&m);
    relay_free(&r);
    ask_free(&a);
}
