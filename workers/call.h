/* call: where a job (redis/job.h) meets the Bedrock client (aws/bedrock.h) — the request a job
 * describes, and what a finished call becomes among the job's events (redis/events.h): its
 * model_done, translation or passages data, and API.md's stream error code for a wire-layer error. No I/O;
 * the wire format knows nothing of AWS and the AWS code nothing of jobs, so this is the one
 * place both meet. */
#ifndef NOVA_CALL_H
#define NOVA_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/bedrock.h"
#include "core/buf.h"
#include "redis/job.h"

/* The converse request j describes: pointers into j, the messages through msgs (the caller's,
 * JOB_MAX_MESSAGES of them; the client copies everything when the call starts). */
void call_request(const struct job *j, struct bedrock_message msgs[JOB_MAX_MESSAGES],
                  struct bedrock_converse_req *req);

/* model_done's data: stop reason, usage, and ttft_ms / latency_ms as the worker measured them
 * (call start to first delta, call start to end) in whole milliseconds, ttft_ms null when no
 * text came. Appended to out; 0 or -1 (out full). */
int call_done_json(struct buf *out, const char *phase, const char *model,
                   const struct bedrock_result *r);
/* The end of a translation job (contract.h: phase PHASE_TRANSLATE_KO or _EN, a Converse
 * call), the `translation` event's data (events.h): translated_query is the answer text
 * without the blanks models put around it, target_language is target ("ko" or "en"),
 * source_language the other one. Appended to out;
 * 0, 1 when the text is empty once trimmed (nothing appended: the caller ends the job with an
 * error instead), or -1 (out full). */
int call_translation_json(struct buf *out, const char *phase, const char *model,
                          const char *target, const struct bedrock_result *r);
/* The kb queue's answer, the passages event's data (events.h: EVENT_EXCERPT_CHARS,
 * EVENT_PASSAGE_CHARS). */
int call_passages_json(struct buf *out, const struct bedrock_passage *p, size_t n);
/* Whether the call's guardrail intervened (stop reason "guardrail_intervened"). */
bool call_guardrail_intervened(const struct bedrock_result *r);
/* The `notice` {phase, model, code "guardrail", text} of that intervention, its text in the
 * phase's language (the page shows its own words for the code). Appended to out; 0 or -1. */
int call_guardrail_notice_json(struct buf *out, const char *phase, const char *model);
/* API.md's stream error code for a wire-layer error: throttled, model_error, timeout,
 * unavailable, canceled, internal. */
const char *call_error_code(enum bedrock_error e);

#endif
