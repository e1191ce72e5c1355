/* plan: what one chat request asks of the workers, with no I/O — its phases, and for each
 * phase one Micro and one Pro job (jobs.h), with the prompt and the inference settings.
 *
 *   ui_lang ko → phases ["answer"]                (answered in Korean)
 *   ui_lang en → phases ["staff_ko", "customer_en"] (Korean for staff, English for the player)
 *
 * Job ids are "<request>-<phase>-<model>", so the resume and cancel routes can rebuild them
 * from the phases in a request's meta event. Prompts come from the operator's templates
 * (product.h, prompt.h): every job names the same system prompt (role, guidelines, glossary:
 * the cacheable prefix, followed by a cachePoint) by its SHA-256 ("system_sha256", job.h; the
 * text is nova:prompt:<sha256> in Redis), and has a user message with the passages, the last
 * turns of the session and the question. */
#ifndef NOVA_PLAN_H
#define NOVA_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/config.h"
#include "product.h"
#include "product/chatreq.h"
#include "redis/job.h"

#define PLAN_MAX_PHASES 2
#define PLAN_MODELS MODEL_COUNT /* micro, pro */
#define PLAN_MAX_JOBS (PLAN_MAX_PHASES * PLAN_MODELS)

struct plan {
    const char *phases[PLAN_MAX_PHASES]; /* static strings */
    size_t n_phases;
    struct job jobs[PLAN_MAX_JOBS];      /* phase-major: phase 0 micro, phase 0 pro, ... */
    size_t n_jobs;
};

/* The phases of a UI language ("ko" or "en"); returns their number (0 for another value). */
size_t plan_phases(const char *ui_lang, const char **out);
/* The known phase name equal to s[0..n), or NULL. */
const char *plan_phase_name(const char *s, size_t n);
/* "<request>-<phase>-<model>" into out. Returns 0, or -1 when it does not fit. */
int plan_job_id(char *out, size_t n, const char *request_id, const char *phase,
                enum model model);

/* What the prompts are made of. */
struct plan_input {
    const struct product *product;
    const char *ui_lang;   /* "ko" or "en" */
    const char *question;  /* what the models answer: the translation when there is one */
    const char *passages;  /* knowledge_prompt() text */
    const char *history;   /* session_history() text, "" for a new session */
};

/* The user message of one job (the template of its model with the phase's language and
 * audience), appended to user. Returns 0 or -1 (user full). */
int plan_prompt(const struct plan_input *in, const char *phase, enum model model,
                struct buf *user);

/* Fills p with the jobs for request_id (created now_ms, epoch ms; deadline from
 * cfg->job_deadline_s). Returns 0 (free with plan_free), or -1 with errstr. */
int plan_build(struct plan *p, const struct nova_config *cfg, const char *request_id,
               const struct plan_input *in, long long now_ms, char *errstr, size_t errlen);
void plan_free(struct plan *p);

#endif
