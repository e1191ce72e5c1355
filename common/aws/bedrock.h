/* bedrock: the Amazon Bedrock client, many concurrent calls on the libcurl multi interface.
 *
 * ConverseStream (POST /model/{id}/converse-stream, answered as an AWS event stream), Converse
 * (non-streaming) and the Agent Runtime Retrieve. Each request is signed with our own SigV4
 * (sigv4.h; libcurl's CURLOPT_AWS_SIGV4 signs the model id's "%3A" only once and AWS rejects it)
 * with credentials from a creds_provider. Text deltas reach on_delta as whole UTF-8 characters;
 * every call ends with exactly one on_done carrying the stop reason, usage, metrics, or a typed
 * error marked retryable or not (the types are bedrock_proto.h's). A call ends after
 * idle_timeout_s without a byte (checked every 100 ms), never after a total time: real Nova
 * streams can run for minutes.
 *
 * The client does not own the loop. A program has one event loop, and its other descriptors
 * (a worker's signalfd) and timers must wake it as promptly as Bedrock's sockets do, so the
 * client exposes what that loop needs, as libcurl's multi_socket interface and hiredis's
 * adapters do: one descriptor, a timeout, and a call that does what is due.
 *
 *     struct pollfd p[] = {{bedrock_client_fd(c), POLLIN, 0}, ...the program's own...};
 *     poll(p, n, min(the program's timeout, bedrock_client_timeout_ms(c)));
 *     bedrock_client_process(c, err, sizeof err);
 *
 * bedrock_client_wait() is that turn for programs with nothing else to wait on.
 *
 * Threading: a client and its calls belong to the thread that drives it; other threads may
 * only call bedrock_client_wakeup(). */
#ifndef NOVA_BEDROCK_H
#define NOVA_BEDROCK_H

#include <stddef.h>

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
    struct bedrock_guardrail guardrail; /* id "" (the default): none; else every Converse and
                                           ConverseStream call carries it */
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
 * request too large) is reported through on_done at the next bedrock_client_process(). The
 * returned handle is valid until on_done returns. req and its strings are copied. */
struct bedrock_call *bedrock_converse_stream(struct bedrock_client *c,
                                             const struct bedrock_converse_req *req,
                                             const struct bedrock_callbacks *cb, void *user);
struct bedrock_call *bedrock_converse(struct bedrock_client *c,
                                      const struct bedrock_converse_req *req,
                                      const struct bedrock_callbacks *cb, void *user);
struct bedrock_call *bedrock_retrieve(struct bedrock_client *c, const char *kb_id,
                                      const char *query, int n_results,
                                      const struct bedrock_callbacks *cb, void *user);

/* Stops a call: no more deltas; on_done with BR_ERR_CANCELED at the next
 * bedrock_client_process(). Calling it for a call already finishing is harmless. */
void bedrock_call_cancel(struct bedrock_call *call);
/* Bytes of the request body the call still holds: the body until libcurl has sent all of it
 * and the stream's first bytes arrived, then 0 (for tests and memory accounting). */
size_t bedrock_call_request_bytes(const struct bedrock_call *call);

/* ---- driving the client from a program's loop ---- */

/* The descriptor to wait on for reading (POLLIN): readable while a call's socket is ready or
 * after bedrock_client_wakeup(). It is the client's epoll set; do not read, change or close it. */
int bedrock_client_fd(const struct bedrock_client *c);
/* Milliseconds until the client needs bedrock_client_process() even if its descriptor stays
 * quiet: 0 when starts or cancels are queued, else the nearer of libcurl's next timeout and,
 * while calls are open, the next idle check (every 100 ms); -1 when nothing is due. It changes
 * with every start, cancel and process: ask again before each wait. */
long bedrock_client_timeout_ms(const struct bedrock_client *c);
/* Does what is due, without blocking: applies queued starts and cancels, moves the transfers
 * whose sockets are ready forward (epoll, so a turn costs what is ready, not what is open),
 * runs libcurl's timeouts, ends idle calls, and delivers callbacks. Call it when the descriptor
 * is readable or the timeout has passed; at any other time it is merely cheap.
 * Returns the number of calls still open, or -1 on a libcurl multi error (errstr). */
int bedrock_client_process(struct bedrock_client *c, char *errstr, size_t errlen);

/* One turn for a program with no loop of its own: waits for the descriptor, at most until the
 * client's timeout or timeout_ms (-1: no limit of the caller's), then bedrock_client_process().
 * Returns what that returns, or -1 on a poll error (errstr). */
int bedrock_client_wait(struct bedrock_client *c, int timeout_ms, char *errstr, size_t errlen);

/* Makes a wait on the descriptor return early; safe from any thread. */
void bedrock_client_wakeup(struct bedrock_client *c);
/* Calls not yet ended. */
size_t bedrock_client_active(const struct bedrock_client *c);

#endif
