/* translate: text from Korean into English or back, with the glossary's names, by Nova Pro's
 * Converse call (temperature 0.1, at most 500 tokens) through a pro worker — the web tier holds
 * no AWS credentials. Used for a question whose language differs from the UI language and by
 * POST /api/translate:
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
#include "product/lang.h"
#include "req.h"

#define TRANSLATE_TIMEOUT_MS 30000
#define TRANSLATE_MAX_TOKENS 500
#define TRANSLATE_TEMPERATURE 0.1

/* Translates text[0..len) into target; the job is "<request_id>.translate-pro", with its own
 * transcript. Returns 0 with the translation appended to out and usage set, or -1 with *code
 * one of the stream error codes of API.md (throttled, model_error, timeout, unavailable,
 * internal) or "gone" when the client left. */
int translate_run(struct req *rq, const char *request_id, const char *text, size_t len,
                  enum lang target, struct buf *out, struct token_usage *usage,
                  const char **code);

void translate_post(struct req *rq);

#endif
