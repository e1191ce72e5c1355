/* events: the data of the events a request's stream is made of — the SSE events of API.md,
 * "meta", "delta", "model_done", "translation", "notice", "error", "done" (contract.h), each
 * with its data JSON — built by whoever produces them and read by whoever relays them. A
 * transcript entry (nova:log:<request>) holds fields "t" (type) and "d" (data); its entry id
 * is the SSE id. A published message is "<entry id> <type> <data JSON>" (append.h). Workers
 * publish on nova:out:<job>; nova-fcgi its own events (meta, notice, done) on
 * nova:out:<request>. No I/O. */
#ifndef NOVA_EVENTS_H
#define NOVA_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/buf.h"
#include "core/usage.h"

/* Event data builders (API.md shapes), appended to out as one JSON object. phase and model
 * are left out when NULL or ""; invalid UTF-8 in any text becomes U+FFFD. */
int event_delta_json(struct buf *out, const char *phase, const char *model, const char *text,
                     size_t len);
int event_error_json(struct buf *out, const char *phase, const char *model, const char *code,
                     const char *message, bool retryable);
/* A worker's notice about one job: {"phase", "model", "code", "text"}. */
int event_notice_json(struct buf *out, const char *phase, const char *model, const char *code,
                      const char *text);
/* A translation job's end (contract.h, PHASE_TRANSLATE_*): {"phase", "model",
 * "translated_query", "source_language", "target_language", "usage"}, the languages "ko" or
 * "en". */
int event_translation_json(struct buf *out, const char *phase, const char *model,
                           const char *text, size_t len, const char *source,
                           const char *target, const struct token_usage *u);
/* The "usage" object of model_done and translation: API.md's four names. */
json_object *event_usage_object(const struct token_usage *u);
/* The phase and model members every job event starts with, added to o. */
void event_add_phase_model(json_object *o, const char *phase, const char *model);

/* The kb queue's answer: event type "passages", data {"passages": [{title, score, excerpt,
 * url, text}]} with excerpt the first EVENT_EXCERPT_CHARS characters of the passage and text
 * the first EVENT_PASSAGE_CHARS (cut between characters, never inside one). */
#define EVENT_EXCERPT_CHARS 600
#define EVENT_PASSAGE_CHARS 1000

/* The "usage" object of a model_done or translation event's data (API.md's names) into u;
 * missing or non-integer fields count 0, negative ones 0, larger ones than EVENT_USAGE_MAX
 * that (the data comes from Redis: a hostile count must not overflow done's sum). */
#define EVENT_USAGE_MAX 1000000000000L
void event_usage_parse(json_object *usage, struct token_usage *u);

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

#endif
