/* bedrock_call: one Bedrock call's life, from its signed request to its on_done.
 *
 * Private to the client: bedrock.c (the multi handle, the loop hooks, the queue of starts and
 * cancels) and bedrock_call.c include it, no other file; programs see an opaque struct
 * bedrock_call through bedrock.h. A call is built here (request JSON, SigV4 signature, a
 * libcurl easy handle) and handed to the client, which adds it to its multi handle. libcurl
 * then feeds this file's header and body callbacks: the status, AWS's error names, the event
 * stream decoded into deltas. At CURLMSG_DONE bedrock_call_finish turns the transfer's end into
 * the call's result, and bedrock_call_end delivers on_done and frees the call.
 *
 * Nothing here calls libcurl's multi interface: libcurl forbids that from inside its callbacks,
 * which is where most of this file runs. */
#ifndef NOVA_BEDROCK_CALL_H
#define NOVA_BEDROCK_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "aws/bedrock_proto.h"
#include "aws/creds.h"
#include "aws/eventstream.h"
#include "core/buf.h"

#define BR_MAX_REQUEST_BYTES (2u * 1024u * 1024u) /* Bedrock's own request limit is similar */

enum bedrock_call_kind { BR_CALL_STREAM, BR_CALL_CONVERSE, BR_CALL_RETRIEVE };

/* Where a call is in its client: waiting to be added to the multi handle, in it, ended. */
enum bedrock_call_state { BR_CALL_QUEUED, BR_CALL_RUNNING, BR_CALL_DONE };

/* What a client lends its calls, owned by the client, which outlives every call. */
struct bedrock_call_env {
    struct creds_provider *creds;
    json_tokener *tok;             /* one per client: its calls all run on its thread */
    const char *region;
    long connect_timeout_ms;
    size_t max_response_bytes;     /* cap for non-streaming bodies */
    const char *runtime_endpoint;  /* base URLs, and the Host header each is signed with */
    const char *runtime_host;
    const char *agent_endpoint;
    const char *agent_host;
    const struct bedrock_guardrail *guardrail; /* NULL: none */
};

struct bedrock_call {
    /* The client's (bedrock.c), untouched here: */
    struct bedrock_client *client;
    enum bedrock_call_state state;
    bool on_todo;
    struct bedrock_call *todo_next;   /* singly linked: calls to add, cancel or fail */
    struct bedrock_call *prev, *next; /* every open call, for the idle scan and the free */

    const struct bedrock_call_env *env;
    enum bedrock_call_kind kind;
    bool canceled;                 /* set by the client; the body callback then aborts */
    bool got_stop;                 /* messageStop seen */
    CURL *easy;                    /* CURLOPT_PRIVATE is the call */
    struct curl_slist *headers;    /* with body: freed once a 200's headers are in */
    struct buf body;               /* request JSON */
    struct buf resp;               /* non-stream response or error body */
    struct es_decoder dec;
    char carry[4];                 /* bytes of a character split across deltas */
    size_t carry_len;
    int http_status;
    char curl_err[CURL_ERROR_SIZE];

    struct bedrock_callbacks cb;
    void *user;
    struct bedrock_result res;
    double t_start;
    double t_last;                 /* last byte received (or the start): the idle clock */
    json_object *parsed;           /* Converse / Retrieve response tree, freed with the call */
    struct bedrock_passage *passages;
};

/* A new call of kind for cb and user, its clock started, with no request yet; the client's
 * fields are zero. Never NULL (allocation failure aborts). env is borrowed. */
struct bedrock_call *bedrock_call_new(const struct bedrock_call_env *env,
                                      enum bedrock_call_kind kind,
                                      const struct bedrock_callbacks *cb, void *user);

/* Build, sign and prepare the easy handle of a Converse or ConverseStream request (the call's
 * kind says which; req and its strings are copied into the body) or of a Retrieve. A problem
 * found here (a bad id, a request too large, no credentials) marks the call failed instead:
 * the client then ends it without it reaching the network. */
void bedrock_call_prepare_converse(struct bedrock_call *call,
                                   const struct bedrock_converse_req *req);
void bedrock_call_prepare_retrieve(struct bedrock_call *call, const char *kb_id,
                                   const char *query, int n_results);

/* Records the first error of a call; later ones are consequences and are dropped. */
void bedrock_call_fail(struct bedrock_call *call, enum bedrock_error code, bool retryable,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The transfer ended with rc (CURLMSG_DONE): decides the call's result from rc, the status,
 * the error body or the response, unless an error was already recorded. */
void bedrock_call_finish(struct bedrock_call *call, CURLcode rc);

/* Delivers on_done (with BR_ERR_CANCELED if the call was canceled) and frees the call. Its
 * easy handle must no longer be in a multi handle. Never from inside a libcurl callback. */
void bedrock_call_end(struct bedrock_call *call);

#endif
