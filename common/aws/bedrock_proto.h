/* bedrock_proto: Bedrock's JSON on both sides of the wire, with no I/O.
 *
 * Request bodies (Converse / ConverseStream, Retrieve), the classification of AWS error names,
 * and the parsers of what comes back: one ConverseStream event-stream message, a Converse
 * response, a Retrieve response, an error body. bedrock.c moves the bytes; this file gives them
 * meaning, which is what lets tests/fuzz/fuzz_bedrock_proto.c feed it arbitrary input.
 * Unknown JSON keys (Bedrock pads events with a random "p") are ignored. */
#ifndef NOVA_BEDROCK_PROTO_H
#define NOVA_BEDROCK_PROTO_H

#include <json-c/json.h>

#include "aws/bedrock.h"
#include "core/buf.h"
#include "aws/eventstream.h"

/* The Retrieve request body for query (n_results <= 0 means 5). Returns 0 or -1 (out full). */
int bedrock_retrieve_body(const char *query, int n_results, struct buf *out);

enum bedrock_event_kind {
    BR_EVENT_IGNORED = 0, /* messageStart, contentBlockStart/Stop, future event types */
    BR_EVENT_DELTA,       /* contentBlockDelta with text */
    BR_EVENT_STOP,        /* messageStop */
    BR_EVENT_METADATA,    /* usage and metrics */
    BR_EVENT_ERROR,       /* an exception or error message: err says which */
};

struct bedrock_event {
    enum bedrock_event_kind kind;
    const char *text;         /* DELTA: not NUL-terminated; valid until bedrock_event_release */
    size_t text_len;
    char stop_reason[32];     /* STOP */
    struct token_usage usage; /* METADATA */
    long latency_ms;          /* METADATA */
    struct bedrock_error_info err; /* ERROR */
    json_object *owner;       /* the parsed payload the text points into */
    char room[512];           /* DELTA: a short text, read by bedrock_delta_scan; the last
                                 member (bedrock_event_parse does not clear it) */
};

/* Interprets one decoded ConverseStream message. tok is a reusable tokener (the caller's, so a
 * hot stream does not allocate one per event); http_status is recorded in errors. Returns 0
 * with *ev filled, or -1 for a malformed message (ev->err is a BR_ERR_PROTOCOL description). */
int bedrock_event_parse(json_tokener *tok, const struct es_message *m, int http_status,
                        struct bedrock_event *ev);
void bedrock_event_release(struct bedrock_event *ev);

/* The text of a contentBlockDelta payload, read without building a JSON tree (delta_scan.c):
 * 1 with *text and *text_len — pointing into the payload, or into room when the text had escapes
 * to decode — or 0 when it is not sure json-c would read the payload the same way (then
 * json-c decides). Whenever it answers 1, json-c's root.delta.text is the same bytes. */
int bedrock_delta_scan(const char *payload, size_t len, const char **text, size_t *text_len,
                       char *room, size_t room_len);

/* A Converse response: the answer's text blocks appended to text (invalid UTF-8 replaced),
 * stop reason, usage and latency into res. Returns 0, or -1 with res->err set (protocol). */
int bedrock_converse_parse(json_tokener *tok, const char *body, size_t len, struct buf *text,
                           struct bedrock_result *res);

/* A Retrieve response: *out gets an array of passages pointing into *owner (free both with
 * bedrock_passages_free). Results without text are skipped. Returns 0, or -1 with errstr. */
int bedrock_retrieve_parse(json_tokener *tok, const char *body, size_t len,
                           struct bedrock_passage **out, size_t *n, json_object **owner,
                           char *errstr, size_t errlen);
void bedrock_passages_free(struct bedrock_passage *p, json_object *owner);

/* The "message" of an AWS error body ({"message"} or {"Message"}); else the body's start. */
void bedrock_error_message_parse(json_tokener *tok, const char *body, size_t len, char *out,
                                 size_t outlen);

#endif
