/* jobs: what travels through Redis between nova-fcgi and nova-worker — the job, the events a
 * job produces, and the atomic "append to the transcript and publish" step (see keys.h).
 *
 * A job is one model call of one phase of one request. It is XADDed to nova:jobs:{<queue>} as
 * the single field "job" whose value is the job JSON:
 *   {"v":1, "id":"<request>-<phase>-<model>", "request":"<request id>", "queue":"micro",
 *    "phase":"answer", "model":"micro", "model_id":"amazon.nova-micro-v1:0",
 *    "system":"...", "cache_point":true, "messages":[{"role":"user","text":"..."}],
 *    "converse":false, "max_tokens":1024, "temperature":0.3, "top_p":0.9, "created_ms":<epoch ms>,
 *    "deadline_ms":<epoch ms after which nobody waits>}
 * A kb job (queue "kb") carries "kb_id", "query" and "n" instead of the model fields.
 *
 * Events are the SSE events of API.md: type "meta", "delta", "model_done", "notice", "error",
 * "done" with their data JSON. Each is appended to nova:log:<request> (fields "t" = type,
 * "d" = data JSON; the entry id is the SSE id) and published on a channel as
 * "<entry id> <type> <data JSON>", in ONE Lua script, so publish order equals id order even
 * when two workers write to the same request at once. Workers publish on nova:out:<job>;
 * nova-fcgi publishes its own events (meta, notice, done) on nova:out:<request>. */
#ifndef NOVA_JOBS_H
#define NOVA_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "bedrock.h"
#include "buf.h"

#define JOB_ID_MAX 160
#define JOB_MAX_MESSAGES 16
#define JOB_MAX_BYTES (256u * 1024u)

struct job {
    char id[JOB_ID_MAX];
    char request[80];
    char queue[16];     /* "micro", "pro", "kb" */
    char phase[24];     /* "answer", "staff_ko", "customer_en", "translate" */
    char model[16];     /* "micro" or "pro" (the SSE "model" field) */
    char model_id[256];
    char *system;       /* owned; may be NULL */
    bool cache_point;
    bool converse;      /* the non-streaming Converse call (a translation): one delta at the end */
    struct bedrock_message messages[JOB_MAX_MESSAGES]; /* role/text owned by the job */
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
 * none), "cache_point" boolean, optional "converse" boolean (default false: ConverseStream), "max_tokens" 1..10000, "temperature" and "top_p" 0..1 (absent:
 * max_tokens 0, the others -1, i.e. omitted from the Bedrock body). kb jobs: "query"
 * non-empty, optional "kb_id" ("" = the worker's NOVA_KB_ID), "n" 1..100 (default 5). Every
 * string must be valid UTF-8 without NUL; the text is at most JOB_MAX_BYTES; unknown keys are
 * ignored (newer producers). */
bool job_id_valid(const char *s, size_t n);

/* Serialises j into out (appended). Returns 0 or -1 (out full, or a string that is not valid
 * UTF-8 and so could not be read back). */
int job_to_json(const struct job *j, struct buf *out);
/* Parses job JSON from outside (Redis); every string is length-checked. Returns 0, or -1 with
 * errstr; on error *j holds nothing to free. */
int job_from_json(const char *text, size_t len, struct job *j, char *errstr, size_t errlen);
void job_free(struct job *j);
/* The converse request the job describes (pointers into j). */
void job_converse_req(const struct job *j, struct bedrock_converse_req *req);

/* Event data builders (API.md shapes), appended to out as one JSON object. */
int event_delta_json(struct buf *out, const char *phase, const char *model, const char *text,
                     size_t len);
int event_model_done_json(struct buf *out, const char *phase, const char *model,
                          const struct bedrock_result *r);
int event_error_json(struct buf *out, const char *phase, const char *model, const char *code,
                     const char *message, bool retryable);
/* A worker's notice about one job: {"phase", "model", "code", "text"}. */
int event_notice_json(struct buf *out, const char *phase, const char *model, const char *code,
                      const char *text);
/* model_done's ttft_ms and latency_ms are what the worker measured (call start to first delta,
 * call start to end), in whole milliseconds; ttft_ms is null when no text came. phase and model
 * of an error are left out when NULL or "". Invalid UTF-8 in any text becomes U+FFFD. */

/* The kb queue's answer: event type "passages", data {"passages": [{title, score, excerpt,
 * url, text}]} with excerpt the first EVENT_EXCERPT_CHARS characters of the passage and text
 * the first EVENT_PASSAGE_CHARS (cut between characters, never inside one). */
#define EVENT_EXCERPT_CHARS 600
#define EVENT_PASSAGE_CHARS 1000
int event_passages_json(struct buf *out, const struct bedrock_passage *p, size_t n);

/* API.md's stream error code for a wire-layer error: throttled, model_error, timeout,
 * unavailable, canceled, internal. */
const char *event_error_code(enum bedrock_error e);

/* The "usage" object of a model_done event's data (API.md's names) into u; missing or
 * non-integer fields count 0. */
void event_usage_parse(json_object *usage, struct bedrock_usage *u);

/* One XRANGE entry of a transcript: its id and its "t" (type) and "d" (data) fields. Returns 0,
 * or -1 when the entry does not have that shape (pointers into e, valid while e is). */
int event_entry_parse(const redisReply *e, const redisReply **id, const redisReply **type,
                      const redisReply **data);

/* A published message "<id> <type> <data>" split into its parts (pointers into msg). */
struct event_msg {
    const char *id;   size_t id_len;
    const char *type; size_t type_len;
    const char *data; size_t data_len;
};
int event_msg_parse(const char *msg, size_t len, struct event_msg *out);

/* The Lua script (and its SHA-1) that XADDs an event to the log, sets the log's expiry and
 * publishes it: EVALSHA sha 1 <log key> <channel> <type> <data> <ttl ms> <maxlen>. Returns the
 * entry id. */
extern const char EVENT_APPEND_LUA[];
extern const char EVENT_APPEND_SHA[41]; /* hex SHA-1 of EVENT_APPEND_LUA (checked by test_jobs) */

/* A transcript keeps about this many events (XADD MAXLEN ~): four long streams of one request
 * fit, a runaway producer cannot grow it without bound. */
#define EVENT_LOG_MAXLEN 20000
#define EVENT_ID_MAX 48 /* "<ms>-<seq>" */

/* The argument vector of one append, for callers that pipeline it (redisAppendCommandArgv):
 * EVALSHA, or EVAL with the script text when eval is true (after a NOSCRIPT reply). The
 * strings are borrowed, except the numbers, which live in a. */
struct event_append_args {
    int argc;
    const char *argv[9];
    size_t argvlen[9];
    char ttl[24], maxlen[24];
};
void event_append_args_fill(struct event_append_args *a, bool eval, const char *log_key,
                            const char *channel, const char *type, const char *data,
                            size_t data_len, long ttl_ms);
/* True for the NOSCRIPT error (the script cache was flushed: send it again with EVAL). */
bool event_reply_noscript(const redisReply *r);

/* Appends one event and publishes it, in one round trip (two after a NOSCRIPT). id_out gets
 * the entry id. Returns 0, or -1 with errstr; c->err != 0 afterwards means the connection is
 * broken (return it to its pool as such). */
int event_append(redisContext *c, const char *log_key, const char *channel, const char *type,
                 const char *data, size_t data_len, long ttl_ms, char *id_out, size_t id_len,
                 char *errstr, size_t errlen);

#endif
