/* call: a job's Bedrock call, in and out (see call.h). */
#include "call.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/json.h"
#include "redis/events.h"

void call_request(const struct job *j, struct bedrock_message msgs[JOB_MAX_MESSAGES],
                  struct bedrock_converse_req *req)
{
    memset(req, 0, sizeof *req);
    for (size_t i = 0; i < j->n_messages && i < JOB_MAX_MESSAGES; i++)
        msgs[i] = (struct bedrock_message){j->messages[i].role, j->messages[i].text};
    req->model_id = j->model_id;
    req->system = j->system;
    req->cache_point = j->cache_point;
    req->messages = msgs;
    req->n_messages = j->n_messages;
    req->max_tokens = j->max_tokens;
    req->temperature = j->temperature;
    req->top_p = j->top_p;
}

static json_object *ms_value(double ms)
{
    return ms < 0 ? NULL : json_object_new_int64((int64_t)llround(ms));
}

int call_done_json(struct buf *out, const char *phase, const char *model,
                   const struct bedrock_result *r)
{
    json_object *o = json_object_new_object();
    event_add_phase_model(o, phase, model);
    json_object_object_add(o, "stop_reason",
                           json_new_text(r->stop_reason, strnlen(r->stop_reason,
                                                               sizeof r->stop_reason)));
    json_object_object_add(o, "usage", event_usage_object(&r->usage));
    json_object_object_add(o, "ttft_ms", ms_value(r->ttft_ms));
    json_object_object_add(o, "latency_ms", ms_value(r->elapsed_ms));
    return json_append_put(o, out);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int call_translation_json(struct buf *out, const char *phase, const char *model,
                          const char *target, const struct bedrock_result *r)
{
    /* Models like to wrap a translation in blanks it was not given. */
    const char *s = r->text ? r->text : "";
    size_t n = r->text ? r->text_len : 0;
    while (n && blank(*s))
        s++, n--;
    while (n && blank(s[n - 1]))
        n--;
    if (n == 0)
        return 1;
    const char *source = strcmp(target, "ko") == 0 ? "en" : "ko";
    return event_translation_json(out, phase, model, s, n, source, target, &r->usage);
}

int call_passages_json(struct buf *out, const struct bedrock_passage *p, size_t n)
{
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "title", json_new_text_cut(p[i].title, EVENT_PASSAGE_CHARS));
        double score = isfinite(p[i].score) ? p[i].score : 0;
        json_object_object_add(e, "score", json_new_short_double(score));
        json_object_object_add(e, "excerpt", json_new_text_cut(p[i].text, EVENT_EXCERPT_CHARS));
        json_object_object_add(e, "url", json_new_text_cut(p[i].url, EVENT_PASSAGE_CHARS));
        json_object_object_add(e, "text", json_new_text_cut(p[i].text, EVENT_PASSAGE_CHARS));
        json_object_array_add(arr, e);
    }
    json_object_object_add(o, "passages", arr);
    return json_append_put(o, out);
}

bool call_guardrail_intervened(const struct bedrock_result *r)
{
    return strncmp(r->stop_reason, BEDROCK_STOP_GUARDRAIL, sizeof r->stop_reason) == 0;
}

int call_guardrail_notice_json(struct buf *out, const char *phase, const char *model)
{
    size_t n = strlen(phase);
    bool en = n >= 3 && strcmp(phase + n - 3, "_en") == 0;
    return event_notice_json(out, phase, model, NOTICE_GUARDRAIL,
                             en ? "The content filter stopped this answer."
                                : "콘텐츠 필터가 이 답변을 중단했습니다.");
}

const char *call_error_code(enum bedrock_error e)
{
    switch (e) {
    case BR_ERR_THROTTLING:
    case BR_ERR_MODEL_NOT_READY:
    case BR_ERR_QUOTA:
        return "throttled";
    case BR_ERR_IDLE_TIMEOUT:
    case BR_ERR_MODEL_TIMEOUT:
        return "timeout";
    case BR_ERR_CANCELED:
        return "canceled";
    case BR_ERR_UNAVAILABLE:
    case BR_ERR_INTERNAL:
    case BR_ERR_TRANSPORT:
        return "unavailable";
    /* Our side is misconfigured (keys, grants, clock): the player can do nothing about it. */
    case BR_ERR_CREDENTIALS:
    case BR_ERR_ACCESS_DENIED:
    case BR_ERR_INVALID_SIGNATURE:
    case BR_ERR_UNRECOGNIZED_CLIENT:
    case BR_ERR_EXPIRED_TOKEN:
        return "internal";
    default: /* model_error, model_stream, protocol, validation, not_found, http */
        return "model_error";
    }
}

