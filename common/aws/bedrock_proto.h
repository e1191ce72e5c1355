/* bedrock_proto: Bedrock's operations as C types, and their JSON on both sides of the wire,
 * with no I/O.
 *
 * The types every layer of the client shares: the typed errors, a call's result, the Converse
 * request, Retrieve passages, and the two callbacks a result reaches its caller through. Then
 * the request bodies (Converse / ConverseStream, Retrieve), the classification of AWS error
 * names, and the parsers of what comes back: one ConverseStream event-stream message, a
 * Converse response, a Retrieve response, an error body. bedrock_call.c moves the bytes; this
 * file gives them meaning, which is what lets tests/fuzz/fuzz_bedrock_proto.c feed it arbitrary
 * input. Unknown JSON keys (Bedrock pads events with a random "p") are ignored.
 *
 * This is the lower layer: it includes nothing of the client (bedrock.h, the libcurl side,
 * includes it). */
#ifndef NOVA_BEDROCK_PROTO_H
#define NOVA_BEDROCK_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "aws/eventstream.h"
#include "core/buf.h"
#include "core/usage.h"

enum bedrock_error {
    BR_OK = 0,
    BR_ERR_VALIDATION,          /* 400 ValidationException, validationException event */
    BR_ERR_ACCESS_DENIED,       /* 403 AccessDeniedException */
    BR_ERR_INVALID_SIGNATURE,   /* 403 InvalidSignatureException, IncompleteSignature, Missing... */
    BR_ERR_UNRECOGNIZED_CLIENT, /* 403 UnrecognizedClientException */
    BR_ERR_EXPIRED_TOKEN,       /* 403 ExpiredTokenException (refreshable credentials) */
    BR_ERR_NOT_FOUND,           /* 404 ResourceNotFoundException */
    BR_ERR_MODEL_TIMEOUT,       /* 408 ModelTimeoutException */
    BR_ERR_QUOTA,               /* 400 ServiceQuotaExceededException */
    BR_ERR_MODEL_ERROR,         /* 424 ModelErrorException */
    BR_ERR_THROTTLING,          /* 429 ThrottlingException, throttlingException event */
    BR_ERR_MODEL_NOT_READY,     /* 429 ModelNotReadyException */
    BR_ERR_INTERNAL,            /* 500 InternalServerException, internalServerException event */
    BR_ERR_UNAVAILABLE,         /* 503 ServiceUnavailableException, serviceUnavailableException */
    BR_ERR_MODEL_STREAM,        /* modelStreamErrorException event */
    BR_ERR_HTTP,                /* any other non-2xx status */
    BR_ERR_TRANSPORT,           /* could not connect, connection reset */
    BR_ERR_IDLE_TIMEOUT,        /* no bytes for idle_timeout_s */
    BR_ERR_PROTOCOL,            /* corrupt or truncated event stream, unparseable JSON */
    BR_ERR_CREDENTIALS,         /* no usable credentials */
    BR_ERR_CANCELED,            /* bedrock_call_cancel() */
};

struct bedrock_error_info {
    enum bedrock_error code;
    bool retryable;
    int http_status;    /* 0 when none (transport) */
    char type[64];      /* AWS's name: "ThrottlingException", "modelStreamErrorException", "" */
    char message[512];
};

/* Stable snake_case name of a code ("throttling", "model_stream", ...). */
const char *bedrock_error_name(enum bedrock_error e);

struct bedrock_passage {  /* one Retrieve result */
    const char *text;
    const char *title;    /* metadata title, else the last path part of the URL */
    const char *url;      /* web URL or S3 URI; "" when none */
    double score;
};

struct bedrock_result {
    struct bedrock_error_info err;  /* err.code == BR_OK on success */
    char stop_reason[32];           /* "end_turn", "max_tokens", ... ("" when none came) */
    struct token_usage usage;
    long latency_ms;                /* Bedrock's metrics.latencyMs */
    double ttft_ms;                 /* measured here: call start to first delta (-1: none) */
    double elapsed_ms;              /* call start to end */
    unsigned long deltas;           /* text deltas delivered */
    char request_id[64];            /* x-amzn-RequestId, for AWS support cases */
    /* Valid only during on_done: */
    const char *text;               /* Converse: the whole answer; else NULL */
    size_t text_len;
    const struct bedrock_passage *passages; /* Retrieve */
    size_t n_passages;
};

/* How a call's answer reaches its caller. */
struct bedrock_callbacks {
    /* A piece of answer text, whole UTF-8 characters only (may be NULL for Converse). */
    void (*on_delta)(void *user, const char *text, size_t len);
    /* Exactly once per call, from bedrock_client_process(); the call handle is freed after
     * it. */
    void (*on_done)(void *user, const struct bedrock_result *res);
};

struct bedrock_message {
    const char *role;  /* "user" or "assistant" */
    const char *text;
};

/* A Bedrock guardrail applied to a Converse / ConverseStream call (guardrailConfig). */
enum bedrock_guardrail_mode { BR_GUARDRAIL_SYNC = 0, BR_GUARDRAIL_ASYNC };
enum bedrock_guardrail_trace { BR_TRACE_DISABLED = 0, BR_TRACE_ENABLED, BR_TRACE_ENABLED_FULL };
struct bedrock_guardrail {
    char id[256];                      /* guardrailIdentifier: an id or its ARN; "" = none */
    char version[16];                  /* guardrailVersion: "1".."99999999" or "DRAFT" */
    enum bedrock_guardrail_mode mode;  /* streamProcessingMode (ConverseStream only) */
    enum bedrock_guardrail_trace trace;
};
/* The stop reason a call ends with when its guardrail intervened. */
#define BEDROCK_STOP_GUARDRAIL "guardrail_intervened"

/* Checks g against AWS's patterns for guardrailIdentifier ([a-z0-9]+ or
 * arn:aws…:bedrock:REGION:ACCOUNT:guardrail/ID) and guardrailVersion. Returns 0, or -1 with
 * errstr. */
int bedrock_guardrail_check(const struct bedrock_guardrail *g, char *errstr, size_t errlen);
const char *bedrock_guardrail_mode_name(enum bedrock_guardrail_mode m);
const char *bedrock_guardrail_trace_name(enum bedrock_guardrail_trace t);

struct bedrock_converse_req {
    const char *model_id;        /* "amazon.nova-micro-v1:0", an inference profile or an ARN */
    const char *system;          /* cacheable system prefix, or NULL */
    bool cache_point;            /* put {"cachePoint":{"type":"default"}} after system */
    const char *system_suffix;   /* system text after the cache point, or NULL */
    const struct bedrock_message *messages;
    size_t n_messages;
    int max_tokens;              /* <= 0: omitted */
    double temperature;          /* < 0: omitted */
    double top_p;                /* < 0: omitted */
    /* Set by the client from its configuration (bedrock_config.guardrail), not by callers: */
    const struct bedrock_guardrail *guardrail; /* NULL or id "": no guardrailConfig */
    bool stream;                 /* ConverseStream: guardrailConfig carries streamProcessingMode */
};

/* Builds the Converse / ConverseStream request JSON into out: with r->guardrail, a
 * guardrailConfig after inferenceConfig (the bytes before it are those of a call without one).
 * Returns 0 or -1 (out full). */
int bedrock_converse_body(const struct bedrock_converse_req *r, struct buf *out);
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

/* Classification of AWS error names (HTTP x-amzn-ErrorType or :exception-type): fills code and
 * retryable from the name and status. */
void bedrock_classify_error(const char *type, int http_status, struct bedrock_error_info *e);

#endif
