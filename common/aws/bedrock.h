/* bedrock: Amazon Bedrock calls on the libcurl multi interface.
 *
 * One thread owns a client and drives many concurrent calls with bedrock_client_poll():
 * ConverseStream (POST /model/{id}/converse-stream, answered as an AWS event stream), Converse
 * (non-streaming) and the Agent Runtime Retrieve. Each request is signed with our own SigV4
 * (sigv4.h; libcurl's CURLOPT_AWS_SIGV4 signs the model id's "%3A" only once and AWS rejects it)
 * with credentials from a creds_provider. Text deltas reach on_delta as whole UTF-8 characters;
 * every call ends with exactly one on_done carrying the stop reason, usage, metrics, or a typed
 * error marked retryable or not. A call ends after idle_timeout_s without a byte (checked every
 * 100 ms), never after a total time: real Nova streams can run for minutes.
 *
 * Threading: a client and its calls belong to the thread that polls it; other threads may only
 * call bedrock_client_wakeup(). */
#ifndef NOVA_BEDROCK_H
#define NOVA_BEDROCK_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "core/buf.h"
#include "core/usage.h"
#include "aws/creds.h"

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

struct bedrock_message {
    const char *role;  /* "user" or "assistant" */
    const char *text;
};

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
};

/* Builds the Converse / ConverseStream request JSON into out. Returns 0 or -1 (out full). */
int bedrock_converse_body(const struct bedrock_converse_req *r, struct buf *out);

struct bedrock_callbacks {
    /* A piece of answer text, whole UTF-8 characters only (may be NULL for Converse). */
    void (*on_delta)(void *user, const char *text, size_t len);
    /* Exactly once per call, from bedrock_client_poll(); the call handle is freed after it. */
    void (*on_done)(void *user, const struct bedrock_result *res);
};

struct bedrock_config {
    char region[32];              /* "ap-northeast-1" */
    char runtime_endpoint[256];   /* "https://bedrock-runtime.<region>.amazonaws.com" */
    char agent_endpoint[256];     /* "https://bedrock-agent-runtime.<region>.amazonaws.com" */
    long connect_timeout_ms;      /* default 5000 */
    long idle_timeout_s;          /* no bytes for this long ends a call; default 60 */
    size_t max_response_bytes;    /* cap for non-streaming bodies; default 4 MiB */
    long max_host_connections;    /* 0 = unlimited (HTTP/1.1 needs one per open stream) */
};

/* Defaults for region (endpoints derived from it). */
void bedrock_config_defaults(struct bedrock_config *c, const char *region);

struct bedrock_client;
struct bedrock_call;

/* creds is borrowed and must outlive the client. Returns NULL with errstr on failure. */
struct bedrock_client *bedrock_client_new(const struct bedrock_config *cfg,
                                          struct creds_provider *creds, char *errstr,
                                          size_t errlen);
/* Ends every call still open (each gets on_done with BR_ERR_CANCELED), then frees. */
void bedrock_client_free(struct bedrock_client *c);

/* Start calls. They never fail synchronously: a problem found at start (no credentials, a
 * request too large) is reported through on_done at the next poll. The returned handle is
 * valid until on_done returns. req and its strings are copied. */
struct bedrock_call *bedrock_converse_stream(struct bedrock_client *c,
                                             const struct bedrock_converse_req *req,
                                             const struct bedrock_callbacks *cb, void *user);
struct bedrock_call *bedrock_converse(struct bedrock_client *c,
                                      const struct bedrock_converse_req *req,
                                      const struct bedrock_callbacks *cb, void *user);
struct bedrock_call *bedrock_retrieve(struct bedrock_client *c, const char *kb_id,
                                      const char *query, int n_results,
                                      const struct bedrock_callbacks *cb, void *user);

/* Stops a call: no more deltas; on_done with BR_ERR_CANCELED at the next poll. Calling it for
 * a call already finishing is harmless. */
void bedrock_call_cancel(struct bedrock_call *call);
/* Bytes of the request body the call still holds: the body until libcurl has sent all of it
 * and the stream's first bytes arrived, then 0 (for tests and memory accounting). */
size_t bedrock_call_request_bytes(const struct bedrock_call *call);

/* One turn of the loop: waits up to timeout_ms (at most 100 ms while calls are open, for the
 * idle clock) for network activity, the caller's extra descriptors (at most 8; their revents
 * are filled) or a wakeup, moves the transfers whose sockets are ready forward (epoll, so a
 * turn costs what is ready, not what is open), and delivers callbacks.
 * Returns the number of calls still open, or -1 on a poll or libcurl multi error (errstr). */
int bedrock_client_poll(struct bedrock_client *c, int timeout_ms, struct curl_waitfd *extra,
                        unsigned n_extra, char *errstr, size_t errlen);
/* Makes a poll in progress return early; safe from any thread. */
void bedrock_client_wakeup(struct bedrock_client *c);
/* Calls not yet ended. */
size_t bedrock_client_active(const struct bedrock_client *c);

/* Classification of AWS error names (HTTP x-amzn-ErrorType or :exception-type), exposed for
 * tests: fills code and retryable from the name and status. */
void bedrock_classify_error(const char *type, int http_status, struct bedrock_error_info *e);

#endif
