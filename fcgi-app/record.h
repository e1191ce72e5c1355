/* record: one request as a reviewer reads it, rebuilt from its transcript (nova:log:<request>)
 * while Redis still holds it — the question and its translation, the glossary entities, the
 * sources (title, url, score), every phase's and model's final text with its model id, stop
 * reason and usage, the models and the system prompt's SHA-256 the jobs named (the prompt
 * version), the notices (the no-documents apology), the errors, and done's usage, cost and
 * elapsed time. The transcript expires; a record is what a feedback (feedback.h) or a handoff
 * keeps of the request for later.
 *
 * The builder does no I/O: record_add takes one transcript entry at a time (unit-tested with
 * made-up entries); record_read feeds it from Redis. One JSON object comes out:
 *
 *   {"request_id", "asked_ms", "asked_at" (ISO 8601 UTC, the meta entry's time), "ui_lang",
 *    "input_lang", "question" (null for a transcript written before meta carried it),
 *    "translation" (null when none), "entities" [{canonical, section, matched}],
 *    "sources" [{title, url, score}], "models" {"micro", "pro"}, "prompt_sha256",
 *    "answers" [{phase, model, model_id, text, stop_reason, usage, error}],
 *    "notices" [{code, text}], "errors" [{phase, model, code, message}],
 *    "usage", "cost_usd", "elapsed_ms" (null until done), "complete" (done was seen),
 *    "truncated" (an answer's text was longer than RECORD_TEXT_MAX bytes)} */
#ifndef NOVA_RECORD_H
#define NOVA_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/buf.h"

#define RECORD_MAX_ANSWERS 8         /* (phase, model) pairs kept; plan.h makes at most 4 */
#define RECORD_TEXT_MAX (64u * 1024u) /* bytes of one answer's text kept */
#define RECORD_PAGE 1024             /* transcript entries per XRANGE */

struct record_answer {
    char phase[24], model[8];
    struct buf text;
    json_object *done;  /* its model_done's data, or NULL */
    json_object *error; /* its error's data, or NULL */
};

/* The builder's state; its owner's alone. */
struct record {
    char request_id[80];
    long long asked_ms;
    json_object *meta, *translation, *notices, *errors, *done; /* owned */
    struct record_answer answers[RECORD_MAX_ANSWERS];
    size_t n_answers;
    bool truncated;
    size_t entries; /* entries taken */
};

void record_init(struct record *r, const char *request_id);
void record_free(struct record *r);

/* Takes one transcript entry: its id ("<ms>-<seq>"), type and data (JSON text). Entries that
 * are not understood (bad JSON, unknown type, a delta with no phase or model, more than
 * RECORD_MAX_ANSWERS answers) are skipped. */
void record_add(struct record *r, const char *id, size_t id_len, const char *type,
                size_t type_len, const char *data, size_t data_len);
/* Whether a meta entry was taken (a transcript always starts with one). */
bool record_found(const struct record *r);

/* The record as a new JSON object (the caller owns it), or NULL without meta. */
json_object *record_object(const struct record *r);
/* The same appended to out as compact JSON. 0, or -1 (no meta, or out full). */
int record_json(const struct record *r, struct buf *out);

/* Reads request_id's transcript into r (initialised), RECORD_PAGE entries at a time, on c.
 * Returns 1 (found), 0 (no transcript: unknown or expired), or -1 with errstr (c->err says
 * whether the connection broke). */
int record_read(redisContext *c, const char *request_id, struct record *r, char *errstr,
                size_t errlen);

#endif
