/* job: what nova-fcgi asks a worker to do, as it travels through Redis — one model call of
 * one phase of one request, or one knowledge-base search. It is XADDed to nova:jobs:{<queue>}
 * (contract.h) as the single field "job" whose value is the job JSON:
 *   {"v":1, "id":"<request>-<phase>-<model>", "request":"<request id>", "queue":"micro",
 *    "phase":"answer", "model":"micro", "model_id":"amazon.nova-micro-v1:0",
 *    "system":"...", "cache_point":true, "messages":[{"role":"user","text":"..."}],
 *    "converse":false, "max_tokens":1024, "temperature":0.3, "top_p":0.9, "created_ms":<epoch ms>,
 *    "deadline_ms":<epoch ms after which nobody waits>}
 * A kb job (queue "kb") carries "kb_id", "query" and "n" instead of the model fields. What a
 * job produces is a stream of events (events.h), appended and published by append.h.
 *
 * A job may name its system prompt instead of carrying it: "v":2 and
 * "system_sha256":"<64 lowercase hex>" in place of "system". The prompt is then the Redis
 * string nova:prompt:<that hash> (contract.h), which nova-fcgi stores once and each worker
 * fetches once into its cache (workers/shared_text.h): the prompt (role, rules, the whole
 * glossary, about 8 KB) is the same in every job, and carrying it cost every chat 2 x 8 KB
 * through Redis and the worker's parser. The version is 2 so that a worker older than this
 * refuses such a job (a dead letter) rather than run it without its system prompt. */
#ifndef NOVA_JOB_H
#define NOVA_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "redis/contract.h"

#define JOB_ID_MAX 160
#define JOB_MAX_MESSAGES 16
#define JOB_MAX_BYTES (256u * 1024u)
#define JOB_SHA256_HEX 64 /* a named system prompt: hex digits of its SHA-256 */

/* One turn of the conversation the model reads. */
struct job_message {
    const char *role;   /* "user" or "assistant"; owned by the job */
    const char *text;   /* owned by the job */
};

struct job {
    char id[JOB_ID_MAX];
    char request[80];
    enum queue queue;
    char phase[24];     /* "answer", "staff_ko", "customer_en", "translate" */
    enum model model;   /* the SSE "model" field; model jobs only */
    char model_id[256];
    char *system;       /* owned; may be NULL */
    /* "" or the SHA-256 (64 lowercase hex digits) of the system prompt the job names: written
     * as "system_sha256" instead of "system" (v 2). A parsed v 2 job has system NULL until the
     * worker puts the named text there. */
    char system_sha256[JOB_SHA256_HEX + 1];
    bool cache_point;
    bool converse;      /* the non-streaming Converse call (a translation): one delta at the end */
    struct job_message messages[JOB_MAX_MESSAGES];
    size_t n_messages;
    int max_tokens;
    double temperature, top_p;
    long long created_ms, deadline_ms;
    /* kb jobs */
    char kb_id[128];
    char *query;        /* owned */
    int n_results;
};

/* Job ids, request ids and kb ids are 1..size-1 bytes of [A-Za-z0-9_.:-]: they become parts of
 * Redis keys and channel names and travel bare in cancel messages, so no blanks, no braces
 * (hash tags) and nothing to escape. job_from_json also requires: "v" 1; "queue" micro, pro or
 * kb; "phase" [A-Za-z0-9_]{1,23} (optional for kb); "created_ms" and "deadline_ms" positive
 * integers. Model jobs: "model" micro or pro, "model_id" printable ASCII, "messages" 1..16
 * objects {"role": "user"|"assistant", "text": non-empty}, optional "system" (null or "" is
 * none), or with "v" 2 optional "system_sha256" (64 lowercase hex digits; not beside a
 * non-empty "system"), "cache_point" boolean, optional "converse" boolean (default false: ConverseStream),
 * "max_tokens" 1..10000, "temperature" and "top_p" 0..1 (absent: max_tokens 0, the others -1,
 * i.e. omitted from the Bedrock body). kb jobs: "query" non-empty, optional "kb_id" ("" = the
 * worker's NOVA_KB_ID), "n" 1..100 (default 5). Every string must be valid UTF-8 without NUL;
 * the text is at most JOB_MAX_BYTES; unknown keys are ignored (newer producers). */
bool job_id_valid(const char *s, size_t n);
/* True when s[0..n) is 64 lowercase hex digits (a prompt's name). */
bool job_sha256_valid(const char *s, size_t n);
/* The name of a system prompt: the lowercase hex SHA-256 of its len bytes, into out (NUL
 * terminated). */
void job_prompt_name(const char *text, size_t len, char out[JOB_SHA256_HEX + 1]);

/* Serialises j into out (appended): "v" 2 with "system_sha256" and no "system" when the job
 * names its prompt (whatever j->system holds), else "v" 1. Returns 0 or -1 (out full, or a
 * string that is not valid UTF-8 and so could not be read back). */
int job_to_json(const struct job *j, struct buf *out);
/* The receipt of a finished job (workers/retire.h): the job without its prompts and messages
 * (or kb query) — "id", "request", "queue", "phase", "model", "model_id", "system_sha256",
 * "created_ms", "deadline_ms" — what an operator's `novactl jobs show` reads. Appended to out;
 * returns 0 or -1 (out full). Not a job: job_from_json refuses it. */
int job_receipt_json(const struct job *j, struct buf *out);
/* Parses job JSON from outside (Redis); every string is length-checked. Returns 0, or -1 with
 * errstr; on error *j holds nothing to free. */
int job_from_json(const char *text, size_t len, struct job *j, char *errstr, size_t errlen);
void job_free(struct job *j);
/* The "model" of the job's events: "micro" or "pro", NULL for a kb job. */
const char *job_model_name(const struct job *j);

#endif
