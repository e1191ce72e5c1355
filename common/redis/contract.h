/* contract: what nova-fcgi, nova-worker and novactl agree on, written once — the queues and
 * the models, the event types of a stream, how long a worker's heartbeat counts, and every
 * Redis key and channel name (the operator's map in DESIGN.md and docs/redis.md). Braces are
 * Redis Cluster hash tags.
 *
 *   nova:jobs:{<queue>}        stream, group "workers"   jobs; XPENDING shows the in-flight ones
 *   nova:out:<job>             pub/sub channel           one job's events, "<log id> <type> <json>"
 *   nova:log:<request>         stream, expires           a request's whole event transcript
 *   nova:dead:{<queue>}        stream                    jobs that failed for good, with the reason
 *   nova:worker:<id>           hash, expires             heartbeat: queue, host, pid, in_flight, ...
 *   nova:workers:{<queue>}     sorted set                worker id → last heartbeat (ms): /api/health
 *   nova:cancel:{<queue>}      pub/sub channel           job ids to stop now
 *   nova:canceled:<job>        string, expires           cancel marker for a job not yet started
 *   nova:session:<id>          list, expires             conversation turns
 *   nova:readers:<request>     zset, expires             live streams of a request, scored by
 *                                                        their last renewal (a dropped client's
 *                                                        jobs wait for a resume)
 *   nova:turn:<request>        string, expires           the session turn a request saves when it
 *                                                        ends: {session, question}, taken once by
 *                                                        the first stream that sees its done
 *   nova:progress:<job>        string, expires           set once a job's first delta is out, gone
 *                                                        after its XACK; read when it is reclaimed
 *   nova:prompt:<sha256>       string, expires           a system prompt, named by its hash in the
 *                                                        jobs that use it (job.h, "system_sha256")
 *   nova:done:{<queue>}        stream, capped            receipts of finished jobs (their entries
 *                                                        leave nova:jobs:{<queue>} with the XACK)
 *
 * Names cross the wire as text; inside a program they are these enums, and only this file
 * turns one into the other. Key builders write into a caller buffer and return 0, or -1 when
 * it is too small. */
#ifndef NOVA_CONTRACT_H
#define NOVA_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>

/* ---- queues and models ----------------------------------------------------------------- */

/* The job queues, one kind of worker each. */
enum queue { QUEUE_MICRO, QUEUE_PRO, QUEUE_KB, QUEUE_COUNT };
/* The models of an answer (the SSE "model" field, the price table's names). */
enum model { MODEL_MICRO, MODEL_PRO, MODEL_COUNT };

/* "micro", "pro", "kb". */
const char *queue_name(enum queue q);
/* The queue named s[0..n). Returns 0, or -1 for no queue. */
int queue_parse(const char *s, size_t n, enum queue *q);
/* "micro", "pro". */
const char *model_name(enum model m);
int model_parse(const char *s, size_t n, enum model *m);
/* The queue a model's calls go through. */
enum queue model_queue(enum model m);

/* A worker counts as live while its last heartbeat (nova:workers:{queue}) is at most this old:
 * three missed beats of WORKER_BEAT_MS, then it is gone (/api/health, /api/metrics, novactl). */
#define CONTRACT_WORKER_LIVE_MS 15000
/* The consumer group every worker of a queue reads in. */
#define KEYS_GROUP "workers"

/* ---- events ---------------------------------------------------------------------------- */

/* The SSE event types of API.md, plus "passages" (a kb job's answer, never on a page). */
enum event_type {
    EV_META,
    EV_DELTA,
    EV_MODEL_DONE,
    EV_TRANSLATION,
    EV_NOTICE,
    EV_ERROR,
    EV_DONE,
    EV_PASSAGES,
    EV_COUNT,
    EV_OTHER = EV_COUNT, /* a type none of the above: relayed, not interpreted */
};
const char *event_type_name(enum event_type t);
/* The type named s[0..n), EV_OTHER when none is. */
enum event_type event_type_parse(const char *s, size_t n);

/* ---- phases ---------------------------------------------------------------------------- */

/* The phase of a question's translation job, into Korean or English: a Converse call on the
 * pro queue (model "pro") whose end is one `translation` event — translated_query,
 * source_language, target_language, usage — instead of delta and model_done. It runs beside
 * the answer jobs, in the chat's transcript, or alone (POST /api/translate). The answer
 * phases are nova-fcgi's (fcgi-app/plan.h). */
#define PHASE_TRANSLATE_KO "translate_ko"
#define PHASE_TRANSLATE_EN "translate_en"
/* The language code a translation phase translates into ("ko" or "en"), or NULL for every
 * other phase (and NULL). */
const char *phase_translation_target(const char *phase);

/* The `notice` codes (API.md) a worker writes: a Bedrock guardrail intervened in a job's
 * call (stop reason "guardrail_intervened"); what the model sent is the guardrail's message. */
#define NOTICE_GUARDRAIL "guardrail"

/* ---- keys ------------------------------------------------------------------------------- */

#define KEY_MAX 256

/* nova:gaps: the questions answered with the apology, only weak passages or a guardrail's
 * intervention (fcgi-app/gaps.h writes it, novactl kb gaps reads it); capped, no expiry. */
#define KEY_GAPS "nova:gaps"

int key_jobs(char *out, size_t n, enum queue q);
int key_out(char *out, size_t n, const char *job_id);
int key_log(char *out, size_t n, const char *request_id);
int key_dead(char *out, size_t n, enum queue q);
int key_worker(char *out, size_t n, const char *worker_id);
int key_workers(char *out, size_t n, enum queue q);
int key_cancel(char *out, size_t n, enum queue q);
int key_canceled(char *out, size_t n, const char *job_id);
int key_session(char *out, size_t n, const char *session_id);
int key_readers(char *out, size_t n, const char *request_id);
int key_turn(char *out, size_t n, const char *request_id);
int key_progress(char *out, size_t n, const char *job_id);
int key_prompt(char *out, size_t n, const char *sha256_hex);
int key_done(char *out, size_t n, enum queue q);
/* nova:seq:<request>: a hash beside the transcript, one field per run of a worker's job, the
 * number of its last event applied (append.h); the transcript's TTL. */
int key_seq(char *out, size_t n, const char *request_id);

/* nova:prompt:<sha256> outlives the last store of it by this much. Each nova-fcgi child stores
 * its prompts again every PROMPT_STORE_PERIOD_S while it queues jobs (and at once after its
 * pub/sub connection comes back: Redis may have restarted empty), so a prompt in use never
 * expires, and one no child renders any more (a reload changed it) goes a week later: a dead
 * letter that names it can be retried until then. */
#define PROMPT_TTL_S (7 * 86400)
#define PROMPT_STORE_PERIOD_S 60

#endif
