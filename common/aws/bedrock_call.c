/* bedrock_call: one call's life (see bedrock_call.h): its request built and signed, its easy
 * handle, the HTTP headers and body libcurl hands over, the event stream turned into deltas, and
 * the result decided at the end. Owns the call's easy handle, header list, request body,
 * event-stream decoder, response buffer and parsed response, all freed by bedrock_call_end. */
#include "aws/bedrock_call.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/sigv4.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/utf8.h"

#define BR_MAX_ERROR_BODY 65536u

void bedrock_call_fail(struct bedrock_call *call, enum bedrock_error code, bool retryable,
                       const char *fmt, ...)
{
    struct bedrock_error_info *e = &call->res.err;
    if (e->code != BR_OK)
        return;
    e->code = code;
    e->retryable = retryable;
    e->http_status = call->http_status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- receiving --------------------------------------------------------------------------- */

/* Hands text to on_delta in whole characters, carrying a split character to the next delta. */
static void deliver_text(struct bedrock_call *call, const char *text, size_t len)
{
    struct buf joined, clean;
    buf_init(&joined, BR_MAX_REQUEST_BYTES);
    buf_init(&clean, 2 * (len + sizeof call->carry) + 16);
    const char *p = text;
    size_t n = len;
    if (call->carry_len) {
        buf_append(&joined, call->carry, call->carry_len);
        buf_append(&joined, text, len);
        p = buf_cstr(&joined);
        n = joined.len;
    }
    size_t whole = utf8_whole_prefix(p, n);
    memcpy(call->carry, p + whole, n - whole);
    call->carry_len = n - whole;
    if (whole > 0 && !utf8_valid(p, whole)) { /* AWS sends valid UTF-8; pass on nothing else */
        utf8_append_sanitized(&clean, p, whole);
        p = buf_cstr(&clean);
        whole = clean.len;
    }
    if (whole > 0) {
        if (call->res.ttft_ms < 0)
            call->res.ttft_ms = clock_mono_ms_f() - call->t_start;
        call->res.deltas++;
        if (call->cb.on_delta && !call->canceled)
            call->cb.on_delta(call->user, p, whole);
    }
    buf_free(&clean);
    buf_free(&joined);
}

/* Event-stream message handler: one ConverseStream event, exception or error. */
static int on_stream_message(void *user, const struct es_message *m)
{
    struct bedrock_call *call = user;
    struct bedrock_event ev;
    int rc = bedrock_event_parse(call->env->tok, m, call->http_status, &ev);
    switch (ev.kind) {
    case BR_EVENT_DELTA:
        deliver_text(call, ev.text, ev.text_len);
        break;
    case BR_EVENT_STOP:
        call->got_stop = true;
        memcpy(call->res.stop_reason, ev.stop_reason, sizeof call->res.stop_reason);
        break;
    case BR_EVENT_METADATA:
        call->res.usage = ev.usage;
        call->res.latency_ms = ev.latency_ms;
        break;
    case BR_EVENT_ERROR:
        if (call->res.err.code == BR_OK)
            call->res.err = ev.err;
        rc = -1;
        break;
    case BR_EVENT_IGNORED:
        break;
    }
    bedrock_event_release(&ev);
    return rc;
}

/* A stream's request (its body, the prompts: tens of KiB, and its header list) is only needed
 * until libcurl has sent it; a worker holds thousands of streams, each for as long as the model
 * takes to its first token and then to its end. Once the headers of a 200 are in and libcurl
 * reports every byte uploaded, nothing reads either again: libcurl resends a request only when
 * a connection dies before any response (or for a redirect, an auth round or a 100-continue,
 * none of which a call asks for). A retry builds a new call. */
static void release_request(struct bedrock_call *call)
{
    curl_off_t up = 0;
    if (!call->body.data ||
        curl_easy_getinfo(call->easy, CURLINFO_SIZE_UPLOAD_T, &up) != CURLE_OK ||
        up != (curl_off_t)call->body.len)
        return;
    buf_free(&call->body);
    curl_slist_free_all(call->headers); /* CURLOPT_HTTPHEADER is not copied: now unread */
    call->headers = NULL;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct bedrock_call *call = user;
    size_t n = size * nmemb;
    int status;
    call->t_last = clock_mono_ms_f();
    if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n')) {
        /* The end of a header block: a 200's is the final one (no 1xx is 200). */
        if (call->http_status == 200 && call->kind == BR_CALL_STREAM)
            release_request(call);
        return n;
    }
    if (n > 5 && memcmp(ptr, "HTTP/", 5) == 0 && sscanf(ptr, "HTTP/%*s %d", &status) == 1) {
        call->http_status = status; /* a later status line (after 100 Continue) replaces it */
        call->res.err.type[0] = '\0';
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - ptr);
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (nlen == 16 && strncasecmp(ptr, "x-amzn-ErrorType", 16) == 0) {
        /* "ThrottlingException:http://internal.amazon.com/coral/..." → the name */
        const char *end = memchr(v, ':', vlen);
        size_t tlen = end ? (size_t)(end - v) : vlen;
        snprintf(call->res.err.type, sizeof call->res.err.type, "%.*s", (int)tlen, v);
    } else if (nlen == 16 && strncasecmp(ptr, "x-amzn-RequestId", 16) == 0) {
        snprintf(call->res.request_id, sizeof call->res.request_id, "%.*s", (int)vlen, v);
    }
    return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct bedrock_call *call = user;
    size_t n = size * nmemb;
    call->t_last = clock_mono_ms_f();
    if (call->canceled)
        return 0; /* aborts the transfer; completion reports BR_ERR_CANCELED */
    if (call->http_status != 200 || call->kind != BR_CALL_STREAM) {
        if (buf_append(&call->resp, ptr, n) == 0)
            return n;
        if (call->http_status != 200)
            return n; /* an error body only needs its start */
        bedrock_call_fail(call, BR_ERR_PROTOCOL, false, "response larger than %zu bytes",
                          call->resp.max);
        return 0;
    }
    release_request(call); /* in case the headers' end was not seen as such */
    if (es_decoder_feed(&call->dec, ptr, n, on_stream_message, call) < 0) {
        if (call->dec.err != ES_ERR_CALLBACK)
            bedrock_call_fail(call, BR_ERR_PROTOCOL, true, "event stream: %s", call->dec.errstr);
        return 0;
    }
    return call->canceled ? 0 : n;
}

/* ---- completion -------------------------------------------------------------------------- */

static void finish_converse(struct bedrock_call *call)
{
    struct buf text;
    buf_init(&text, call->env->max_response_bytes);
    if (bedrock_converse_parse(call->env->tok, call->resp.data, call->resp.len, &text,
                               &call->res) < 0) {
        buf_free(&text);
        return;
    }
    /* The response buffer now holds the answer text, so res.text stays valid to on_done. */
    buf_free(&call->resp);
    call->resp = text;
    call->res.text = buf_cstr(&call->resp);
    call->res.text_len = call->resp.len;
    if (call->res.ttft_ms < 0)
        call->res.ttft_ms = clock_mono_ms_f() - call->t_start;
}

static void finish_retrieve(struct bedrock_call *call)
{
    char err[128];
    if (bedrock_retrieve_parse(call->env->tok, call->resp.data, call->resp.len,
                               &call->passages, &call->res.n_passages, &call->parsed, err,
                               sizeof err) < 0) {
        bedrock_call_fail(call, BR_ERR_PROTOCOL, true, "%s", err);
        return;
    }
    call->res.passages = call->passages;
}

static void finish_stream(struct bedrock_call *call)
{
    if (es_decoder_finish(&call->dec) < 0) {
        bedrock_call_fail(call, BR_ERR_PROTOCOL, true, "stream truncated mid-frame (%s)",
                          call->dec.errstr);
        return;
    }
    if (call->carry_len) { /* a character that never completed */
        call->carry_len = 0;
        deliver_text(call, "\xEF\xBF\xBD", 3);
    }
    if (!call->got_stop)
        bedrock_call_fail(call, BR_ERR_PROTOCOL, true, "stream ended before messageStop");
}

void bedrock_call_finish(struct bedrock_call *call, CURLcode rc)
{
    struct bedrock_error_info *e = &call->res.err;
    if (call->canceled || e->code != BR_OK) {
        /* already decided: canceled, an exception event, or a protocol error we raised */
    } else if (rc == CURLE_PARTIAL_FILE && call->http_status == 200) {
        bedrock_call_fail(call, BR_ERR_PROTOCOL, true, "connection closed mid-response (%s)",
                          call->curl_err);
    } else if (rc != CURLE_OK) {
        bedrock_call_fail(call, BR_ERR_TRANSPORT, true, "%s: %s", curl_easy_strerror(rc),
                          call->curl_err[0] ? call->curl_err : "no detail");
    } else if (call->http_status != 200) {
        char type[64];
        snprintf(type, sizeof type, "%s", e->type);
        bedrock_classify_error(type, call->http_status, e);
        bedrock_error_message_parse(call->env->tok, call->resp.data, call->resp.len,
                                    e->message, sizeof e->message);
    } else if (call->kind == BR_CALL_STREAM) {
        finish_stream(call);
    } else if (call->kind == BR_CALL_CONVERSE) {
        finish_converse(call);
    } else {
        finish_retrieve(call);
    }
}

/* ---- starting ---------------------------------------------------------------------------- */

struct bedrock_call *bedrock_call_new(const struct bedrock_call_env *env,
                                      enum bedrock_call_kind kind,
                                      const struct bedrock_callbacks *cb, void *user)
{
    struct bedrock_call *call = xcalloc(1, sizeof *call);
    call->env = env;
    call->kind = kind;
    call->cb = *cb;
    call->user = user;
    call->t_start = call->t_last = clock_mono_ms_f();
    call->res.ttft_ms = -1;
    buf_init(&call->body, BR_MAX_REQUEST_BYTES);
    buf_init(&call->resp, kind == BR_CALL_STREAM ? BR_MAX_ERROR_BODY : env->max_response_bytes);
    es_decoder_init(&call->dec);
    return call;
}

static void add_header(struct bedrock_call *call, const char *name, const char *value)
{
    char line[CREDS_TOKEN_MAX + 64];
    snprintf(line, sizeof line, "%s: %s", name, value);
    call->headers = curl_slist_append(call->headers, line);
}

/* Signs and prepares the easy handle for POST base+path with call->body. On failure the call
 * is marked failed, and the client ends it at its next turn. */
static void call_prepare(struct bedrock_call *call, const char *base, const char *host,
                         const char *path, const char *accept)
{
    const struct bedrock_call_env *env = call->env;
    if (call->res.err.code != BR_OK)
        return;
    struct aws_creds cr;
    char err[512];
    if (creds_provider_get(env->creds, &cr, err, sizeof err) < 0) {
        bedrock_call_fail(call, BR_ERR_CREDENTIALS, true, "no AWS credentials: %s", err);
        return;
    }
    struct sigv4_header hs[] = {{"content-type", "application/json"}, {"host", host}};
    struct sigv4_request sreq = {"POST", path, NULL, hs, 2, call->body.data, call->body.len};
    struct sigv4_params sp = {cr.access_key_id, cr.secret_access_key, cr.session_token,
                              env->region, "bedrock", time(NULL)};
    struct sigv4_result sig;
    if (sigv4_sign(&sp, &sreq, &sig, NULL, NULL, err, sizeof err) < 0) {
        bedrock_call_fail(call, BR_ERR_CREDENTIALS, false, "signing failed: %s", err);
        return;
    }
    char url[1024]; /* CURLOPT_URL is copied */
    snprintf(url, sizeof url, "%s%s", base, path);
    add_header(call, "Content-Type", "application/json");
    add_header(call, "Accept", accept);
    add_header(call, "Host", host);
    add_header(call, "X-Amz-Date", sig.amz_date);
    if (cr.session_token[0])
        add_header(call, "X-Amz-Security-Token", cr.session_token);
    add_header(call, "Authorization", sig.authorization);
    call->headers = curl_slist_append(call->headers, "Expect:"); /* no 100-continue round trip */
    memset(&cr, 0, sizeof cr);

    CURL *e = call->easy = curl_easy_init();
    if (!e) {
        bedrock_call_fail(call, BR_ERR_TRANSPORT, true, "curl_easy_init failed");
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "dual-nova/1.0");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, env->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* The receive buffer lives as long as the call. A stream's event-stream frames are a few
     * hundred bytes and come a few at a time, and a worker holds thousands of streams: 1 KiB
     * (libcurl's least; a frame split across reads is the decoder's ordinary case). The
     * short calls (Converse, Retrieve: whole JSON answers of KiB) read 4 KiB at a time. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, call->kind == BR_CALL_STREAM ? 1024L : 4096L);
}

/* The wire path of a model operation: the id percent-encoded once ("%3A"); SigV4 encodes it
 * again for the canonical URI, as AWS expects. */
static void model_path(char *out, size_t outlen, const char *model_id, const char *op)
{
    struct buf b;
    buf_init(&b, 900);
    buf_puts(&b, "/model/");
    sigv4_uri_encode(&b, model_id, strlen(model_id), false);
    buf_printf(&b, "/%s", op);
    snprintf(out, outlen, "%s", buf_cstr(&b));
    buf_free(&b);
}

void bedrock_call_prepare_converse(struct bedrock_call *call,
                                   const struct bedrock_converse_req *req)
{
    char path[1024];
    if (!req->model_id || !*req->model_id || strlen(req->model_id) > 512) {
        bedrock_call_fail(call, BR_ERR_VALIDATION, false, "model id is empty or too long");
        return;
    }
    bool stream = call->kind == BR_CALL_STREAM;
    struct bedrock_converse_req r = *req; /* the client's guardrail on every model call */
    r.guardrail = call->env->guardrail;
    r.stream = stream;
    if (bedrock_converse_body(&r, &call->body) < 0) {
        bedrock_call_fail(call, BR_ERR_VALIDATION, false, "request larger than %u bytes",
                          BR_MAX_REQUEST_BYTES);
        return;
    }
    model_path(path, sizeof path, req->model_id, stream ? "converse-stream" : "converse");
    call_prepare(call, call->env->runtime_endpoint, call->env->runtime_host, path,
                 stream ? "application/vnd.amazon.eventstream" : "application/json");
}

void bedrock_call_prepare_retrieve(struct bedrock_call *call, const char *kb_id,
                                   const char *query, int n_results)
{
    if (!kb_id || !*kb_id || strlen(kb_id) > 128) {
        bedrock_call_fail(call, BR_ERR_VALIDATION, false,
                          "knowledge base id is empty or too long");
        return;
    }
    if (bedrock_retrieve_body(query, n_results, &call->body) < 0) {
        bedrock_call_fail(call, BR_ERR_VALIDATION, false, "query too long");
        return;
    }
    struct buf path;
    buf_init(&path, 512);
    buf_puts(&path, "/knowledgebases/");
    sigv4_uri_encode(&path, kb_id, strlen(kb_id), false);
    buf_puts(&path, "/retrieve");
    call_prepare(call, call->env->agent_endpoint, call->env->agent_host, buf_cstr(&path),
                 "application/json");
    buf_free(&path);
}

/* ---- ending ------------------------------------------------------------------------------ */

static void call_free(struct bedrock_call *call)
{
    if (call->easy)
        curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->headers);
    buf_free(&call->body);
    buf_free(&call->resp);
    es_decoder_free(&call->dec);
    bedrock_passages_free(call->passages, call->parsed);
    free(call);
}

void bedrock_call_end(struct bedrock_call *call)
{
    call->res.elapsed_ms = clock_mono_ms_f() - call->t_start;
    if (call->canceled) { /* whatever the aborted transfer reported, the cancel came first */
        call->res.err.code = BR_OK;
        bedrock_call_fail(call, BR_ERR_CANCELED, false, "call canceled");
    }
    if (call->cb.on_done)
        call->cb.on_done(call->user, &call->res);
    call_free(call);
}
