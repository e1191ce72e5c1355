/* translate: glossary-aware translation through a pro worker (see translate.h). */
#include "translate.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "jobwait.h"
#include "metrics.h"
#include "plan.h"
#include "product.h"
#include "redis/events.h"

static const char *code_of(const struct jobwait_result *res)
{
    switch (res->end) {
    case JOBWAIT_DONE: return NULL;
    case JOBWAIT_ERROR:
        return strcmp(res->code, "throttled") == 0 || strcmp(res->code, "timeout") == 0 ||
                       strcmp(res->code, "unavailable") == 0 || strcmp(res->code, "internal") == 0
                   ? res->code
                   : "model_error";
    case JOBWAIT_TIMEOUT: return "timeout";
    case JOBWAIT_GONE: return "gone";
    case JOBWAIT_OVERLOADED: return "overloaded";
    case JOBWAIT_FAILED: break;
    }
    return "unavailable";
}

const char *translate_phase(enum lang target)
{
    return target == LANG_KO ? PHASE_TRANSLATE_KO : PHASE_TRANSLATE_EN;
}

int translate_job(struct job *j, const struct app *app, const char *request, const char *text,
                  size_t len, enum lang target, bool named, long long created_ms,
                  long long deadline_ms)
{
    memset(j, 0, sizeof *j);
    const char *phase = translate_phase(target);
    if (strlen(request) >= sizeof j->request ||
        plan_job_id(j->id, sizeof j->id, request, phase, MODEL_PRO) < 0)
        return -1;
    memcpy(j->request, request, strlen(request) + 1);
    j->queue = QUEUE_PRO;
    j->model = MODEL_PRO;
    snprintf(j->phase, sizeof j->phase, "%s", phase);
    snprintf(j->model_id, sizeof j->model_id, "%s", app->cfg->pro_model);
    if (named)
        snprintf(j->system_sha256, sizeof j->system_sha256, "%s",
                 product_translate_prompt_sha256(app->product, target));
    else
        j->system = xstrdup(product_translate_prompt(app->product, target));
    j->cache_point = true; /* the glossary makes the prompt long and the same every time */
    j->converse = true;    /* the text is shown whole, so nothing is gained by streaming it */
    j->messages[0].role = xstrdup("user");
    j->messages[0].text = xstrndup(text, len);
    j->n_messages = 1;
    j->max_tokens = TRANSLATE_MAX_TOKENS;
    j->temperature = TRANSLATE_TEMPERATURE;
    j->top_p = -1;
    j->created_ms = created_ms;
    j->deadline_ms = deadline_ms;
    return 0;
}

int translate_event_json(struct buf *out, enum lang source, enum lang target,
                         const char *text, size_t len, const struct token_usage *usage)
{
    return event_translation_json(out, translate_phase(target), model_name(MODEL_PRO), text,
                                  len, lang_code(source), lang_code(target), usage);
}

int translate_run(struct req *rq, const char *request_id, const char *text, size_t len,
                  enum lang target, struct buf *out, struct token_usage *usage,
                  const char **code)
{
    struct app *app = rq->app;
    struct job j;
    char request[80];
    memset(usage, 0, sizeof *usage);
    long long now = clock_epoch_ms();
    int n = snprintf(request, sizeof request, "%s.translate", request_id);
    if (n < 0 || (size_t)n >= sizeof request ||
        translate_job(&j, app, request, text, len, target, false, now,
                      now + TRANSLATE_TIMEOUT_MS) < 0) {
        *code = "internal";
        return -1;
    }
    struct jobwait_result res;
    jobwait_run(rq, &j, TRANSLATE_TIMEOUT_MS, &res);
    job_free(&j);
    *code = code_of(&res);
    int rc = -1;
    if (!*code) {
        /* Models like to wrap a translation in blanks or quotes it was not given. */
        const char *s = buf_cstr(&res.text);
        size_t k = res.text.len;
        while (k && strchr(" \t\r\n", *s))
            s++, k--;
        while (k && strchr(" \t\r\n", s[k - 1]))
            k--;
        *usage = res.usage;
        if (k == 0) {
            *code = "model_error";
        } else if (buf_append(out, s, k) == 0) {
            rc = 0;
        } else {
            *code = "internal";
        }
    }
    if (rc < 0)
        log_rid(LOG_WARN, rq->id, "translation into %s failed: %s (%s)", lang_code(target), *code,
                res.message[0] ? res.message : "no detail");
    if (strcmp(*code ? *code : "", "gone") != 0) { /* a client that left says nothing of it */
        metrics_translation(rc == 0);
        metrics_tokens(MODEL_PRO, usage); /* a Pro call, outside the answer jobs */
    }
    jobwait_result_free(&res);
    return rc;
}

static void reply_translate_error(struct req *rq, const char *code)
{
    if (strcmp(code, "gone") == 0)
        return;
    if (strcmp(code, "overloaded") == 0)
        reply_error(rq, 429, "overloaded", "the translation queue is full; retry shortly",
                    "Retry-After: 5\r\n");
    else if (strcmp(code, "throttled") == 0)
        reply_error(rq, 429, "throttled", "the translation model is busy; retry shortly",
                    "Retry-After: 2\r\n");
    else if (strcmp(code, "timeout") == 0)
        reply_error(rq, 504, "timeout", "the translation did not finish in time", NULL);
    else if (strcmp(code, "model_error") == 0)
        reply_error(rq, 502, "model_error", "the translation model failed", NULL);
    else if (strcmp(code, "internal") == 0)
        reply_error(rq, 500, "internal", "the translation could not be made", NULL);
    else
        reply_error(rq, 503, "unavailable", "the translation service is unavailable", NULL);
}

void translate_post(struct req *rq)
{
    struct buf body;
    if (req_read_json_body(rq, &body) < 0)
        return;
    struct translatereq t;
    char err[256];
    int prc = translatereq_parse(buf_cstr(&body), body.len, &t, err, sizeof err);
    buf_free(&body);
    if (prc < 0) {
        reply_error(rq, 400, "bad_request", err, NULL);
        return;
    }
    enum lang detected = lang_detect(t.text, t.text_len);
    enum lang target = strcmp(t.target, "auto") != 0 ? lang_from_code(t.target)
                       : detected == LANG_KO       ? LANG_EN
                                                   : LANG_KO;
    if (strcmp(t.target, "auto") == 0 && detected == LANG_UNKNOWN)
        target = LANG_UNKNOWN;
    struct buf out;
    buf_init(&out, JOBWAIT_TEXT_MAX);
    struct token_usage usage = {0};
    const char *code = NULL;
    /* Nothing to translate: the same language, or no letters of either. */
    if (detected == target || detected == LANG_UNKNOWN || target == LANG_UNKNOWN)
        buf_append(&out, t.text, t.text_len);
    else if (translate_run(rq, rq->id, t.text, t.text_len, target, &out, &usage, &code) < 0)
        reply_translate_error(rq, code);
    if (!code) {
        json_object *o = json_object_new_object(), *u = json_object_new_object();
        json_object_object_add(o, "original_text", json_object_new_string(t.text));
        json_object_object_add(o, "detected_language", json_object_new_string(lang_code(detected)));
        json_object_object_add(o, "target_language",
                               json_object_new_string(target == LANG_UNKNOWN ? lang_code(detected)
                                                                             : lang_code(target)));
        json_object_object_add(o, "translated_text",
                               json_object_new_string_len(buf_cstr(&out), (int)out.len));
        json_object_object_add(u, "input_tokens", json_object_new_int64(usage.input_tokens));
        json_object_object_add(u, "output_tokens", json_object_new_int64(usage.output_tokens));
        json_object_object_add(u, "cache_read_tokens",
                               json_object_new_int64(usage.cache_read_tokens));
        json_object_object_add(u, "cache_write_tokens",
                               json_object_new_int64(usage.cache_write_tokens));
        json_object_object_add(o, "usage", u);
        json_object_object_add(
            o, "cost_usd",
            json_new_short_double(price_cost(&rq->app->product->prices, model_name(MODEL_PRO), &usage)));
        struct buf b;
        buf_init(&b, 4 * JOBWAIT_TEXT_MAX);
        json_append_put(o, &b);
        buf_putc(&b, '\n');
        reply_json(rq, 200, NULL, b.data, b.len);
        buf_free(&b);
    }
    buf_free(&out);
    translatereq_free(&t);
}
