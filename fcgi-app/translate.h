/* translate: text from Korean into English or back, with the glossary's names, by Nova Pro's
 * Converse call (temperature 0.1, at most 500 tokens) through a pro worker — the web tier holds
 * no AWS credentials. A chat's question is translated by a job queued beside its answer jobs
 * (chat.c: it never delays them) or, when its search as asked found nothing, before the
 * search (translate_run, waited for); POST /api/translate waits for its job too:
 *
 *   {"text": "...", "target": "ko"|"en"|"auto"}
 *   → 200 {"original_text", "detected_language", "target_language", "translated_text",
 *          "usage": {...}, "cost_usd"}
 *
 * "auto" means the other language than the text's. Text already in the target language, or
 * with no letters of either language (emoji, digits), comes back unchanged with no model call.
 * Errors: 400 bad_request, 413, 415 (req.h), 504 timeout, 502 model_error (the model
 * failed), 429 throttled, 503 unavailable (Redis or workers). */
#ifndef NOVA_TRANSLATE_H
#define NOVA_TRANSLATE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/usage.h"
#include "app.h"
#include "redis/job.h"
#include "product/lang.h"
#include "req.h"

#define TRANSLATE_TIMEOUT_MS 30000
#define TRANSLATE_MAX_TOKENS 500
#define TRANSLATE_TEMPERATURE 0.1

/* The translation phase (contract.h: PHASE_TRANSLATE_KO or _EN) of a target language. */
const char *translate_phase(enum lang target);

/* The job that translates text[0..len) into target: a Converse call of the pro model on the
 * pro queue with the glossary-aware prompt (config/prompts/translate.txt),
 * TRANSLATE_TEMPERATURE and TRANSLATE_MAX_TOKENS, in the transcript of request (job.request),
 * id "<request>-<phase>-pro". Its phase makes the worker end it with a `translation` event.
 * named: the job names its system prompt by its hash (a chat's translation, queued after
 * chat_start stored the child's prompts) instead of carrying it (POST /api/translate, which
 * stores nothing). Returns 0 (free j with job_free), or -1 when the ids do not fit (nothing to
 * free). */
int translate_job(struct job *j, const struct app *app, const char *request, const char *text,
                  size_t len, enum lang target, bool named, long long created_ms,
                  long long deadline_ms);

/* The `translation` event of text[0..len), the question translated from source into target
 * before its search (chat.c's fallback), with the call's usage (events.h's shape, the same a
 * worker writes). Appended to out; 0 or -1 (out full). */
int translate_event_json(struct buf *out, enum lang source, enum lang target,
                         const char *text, size_t len, const struct token_usage *usage);

/* Translates text[0..len) into target and waits for it (jobwait.h); the job is
 * translate_job's for the request "<request_id>.translate", with its own transcript. Returns 0
 * with the translation appended to out and usage set, or -1 with *code one of the stream
 * error codes of API.md (throttled, model_error, timeout, unavailable, internal) or "gone"
 * when the client left. */
int translate_run(struct req *rq, const char *request_id, const char *text, size_t len,
                  enum lang target, struct buf *out, struct token_usage *usage,
                  const char **code);

void translate_post(struct req *rq);

#endif
