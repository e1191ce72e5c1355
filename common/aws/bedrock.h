/* bedrock: Amazon Bedrock calls on the libcurl multi interface.
 *
 * One thread owns a client and drives many concurrent calls with bedrock_client_poll():
 * ConverseStream (POST /model/{id}/converse-stream, answered as an AWS event stream), Converse
 * (non-streaming) and the Agent Runtime Retrieve. Each request is signed with our own SigV4
 * (sigv4.h; libcurl's CURLOPT_AWS_SIGV4 signs the model id's "%3A" only once and AWS rejects it)
 * with credentials from a creds_provider. Text deltas reach on_delta as whole UTF-8 characters;
 * every call ends with exactly one on_done carrying the stop reason, usage, metrics, or a typed
 * error marked retryable or not (the types are bedrock_proto.h's). A call ends after
 * idle_timeout_s without a byte (checked every 100 ms), never after a total time: real Nova
 * streams can run for minutes.
 *
 * Threading: a client and its calls belong to the thread that polls it; other threads may only
 * call bedrock_client_wakeup(). */
#ifndef NOVA_BEDROCK_H
#define NOVA_BEDROCK_H

#include <stddef.h>

#include <curl/curl.h>

#include "aws/bedrock_proto.h"
#include "aws/creds.h"

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

#endif
