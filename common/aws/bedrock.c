/* bedrock: ConverseStream, Converse and Retrieve on one libcurl multi handle (see bedrock.h).
 *
 * Owns: the multi handle, every call's easy handle, request body, event-stream decoder and
 * response buffer. A call lives from bedrock_converse_stream() & co. until its on_done returns.
 * libcurl forbids multi calls from inside its callbacks, so starting and cancelling only queue
 * the call on c->todo; bedrock_client_poll() applies the queue outside any callback. */
#include "aws/bedrock.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aws/bedrock_proto.h"
#include "aws/eventstream.h"
#include "aws/sigv4.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/utf8.h"
#include "core/wake.h"

#define BR_MAX_REQUEST_BYTES (2u * 1024u * 1024u) /* Bedrock's own request limit is similar */
#define BR_MAX_ERROR_BODY 65536u

enum call_kind { CALL_STREAM, CALL_CONVERSE, CALL_RETRIEVE };
enum call_state { CALL_QUEUED, CALL_RUNNING, CALL_DONE };

struct bedrock_call {
    struct bedrock_client *client;
    enum call_kind kind;
    enum call_state state;
    bool canceled;
    bool on_todo;
    bool got_stop;                 /* messageStop seen */
    struct bedrock_call *todo_next;
    struct bedrock_call *prev, *next; /* every open call, for bedrock_client_free */

    CURL *easy;
    struct curl_slist *headers;
    char url[1024];
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

struct bedrock_client {
    struct bedrock_config cfg;
    struct creds_provider *creds;
    CURLM *multi;
    char runtime_host[256];        /* Host header values (signed and sent) */
    char agent_host[256];
    struct bedrock_call *calls;    /* doubly linked: every call not yet done */
    size_t n_active;
    struct bedrock_call *todo;     /* singly linked: calls to add, cancel or fail */
    json_tokener *tok;
    double last_idle_scan;
    /* libcurl's sockets live in an epoll set (CURLMOPT_SOCKETFUNCTION) and its timer in
     * timer_at, so a turn touches only the sockets that are ready: curl_multi_poll and
     * curl_multi_perform walk every transfer on every call, which costs O(open streams). */
    int epfd;
    int wakefd;            /* bedrock_client_wakeup rings it */
    double timer_at;       /* when libcurl wants CURL_SOCKET_TIMEOUT (ms), < 0: never */
};

/* How often open calls are checked against the idle timeout, and so its precision. */
#define BR_IDLE_SCAN_MS 100

static void call_fail(struct bedrock_call *call, enum bedrock_error code, bool retryable,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records the first error of a call; later ones are consequences and are dropped. */
static void call_fail(struct bedrock_call *call, enum bedrock_error code, bool retryable,
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

/* "https://host:port/..." → the Host header libcurl would send ("host" or "host:port"). */
static int endpoint_host(const char *endpoint, char *out, size_t outlen, char *errstr,
                         size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(errstr, errlen, "endpoint \"%s\" is not a URL", endpoint);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        snprintf(errstr, errlen, "endpoint \"%s\": scheme must be http or https", endpoint);
        goto out;
    }
    const char *dflt = strcmp(scheme, "https") == 0 ? "443" : "80";
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && strcmp(port, dflt) != 0)
        snprintf(out, outlen, "%s:%s", host, port);
    else
        snprintf(out, outlen, "%s", host);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

void bedrock_config_defaults(struct bedrock_config *c, const char *region)
{
    memset(c, 0, sizeof *c);
    snprintf(c->region, sizeof c->region, "%s", region && *region ? region : "ap-northeast-1");
    snprintf(c->runtime_endpoint, sizeof c->runtime_endpoint,
             "https://bedrock-runtime.%s.amazonaws.com", c->region);
    snprintf(c->agent_endpoint, sizeof c->agent_endpoint,
             "https://bedrock-agent-runtime.%s.amazonaws.com", c->region);
    c->connect_timeout_ms = 5000;
    c->idle_timeout_s = 60;
    c->max_response_bytes = 4u * 1024u * 1024u;
}

/* ---- client ------------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* CURLMOPT_SOCKETFUNCTION: mirror libcurl's interest in a socket into the epoll set. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *user, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct bedrock_client *c = user;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL); /* ENOENT/EBADF: already gone */
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev) < 0 &&
        (errno != ENOENT || epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) < 0)) {
        log_error("epoll_ctl(%d): %s", (int)s, strerror(errno));
        return -1;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: remember when libcurl wants to be called for its timeouts. */
static int on_timer(CURLM *multi, long timeout_ms, void *user)
{
    (void)multi;
    struct bedrock_client *c = user;
    c->timer_at = timeout_ms < 0 ? -1.0 : clock_mono_ms_f() + (double)timeout_ms;
    return 0;
}

struct bedrock_client *bedrock_client_new(const struct bedrock_config *cfg,
                                          struct creds_provider *creds, char *errstr,
                                          size_t errlen)
{
    pthread_once(&curl_once, curl_init_once);
    struct bedrock_client *c = xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    c->creds = creds;
    if (endpoint_host(cfg->runtime_endpoint, c->runtime_host, sizeof c->runtime_host, errstr,
                      errlen) < 0 ||
        endpoint_host(cfg->agent_endpoint, c->agent_host, sizeof c->agent_host, errstr,
                      errlen) < 0) {
        free(c);
        return NULL;
    }
    c->multi = curl_multi_init();
    c->tok = json_tokener_new();
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->wakefd = wake_open();
    c->timer_at = -1;
    if (!c->multi || !c->tok || c->epfd < 0 || c->wakefd < 0) {
        snprintf(errstr, errlen, "curl_multi_init/json_tokener_new/epoll/eventfd failed");
        if (c->multi)
            curl_multi_cleanup(c->multi);
        if (c->tok)
            json_tokener_free(c->tok);
        if (c->epfd >= 0)
            close(c->epfd);
        if (c->wakefd >= 0)
            close(c->wakefd);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    if (cfg->max_host_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, cfg->max_host_connections);
    return c;
}

size_t bedrock_client_active(const struct bedrock_client *c)
{
    return c->n_active;
}

void bedrock_client_wakeup(struct bedrock_client *c)
{
    wake_signal(c->wakefd);
}

static void todo_push(struct bedrock_call *call)
{
    if (call->on_todo)
        return;
    call->on_todo = true;
    call->todo_next = call->client->todo;
    call->client->todo = call;
}

static void todo_remove(struct bedrock_call *call)
{
    if (!call->on_todo)
        return;
    for (struct bedrock_call **pp = &call->client->todo; *pp; pp = &(*pp)->todo_next)
        if (*pp == call) {
            *pp = call->todo_next;
            break;
        }
    call->on_todo = false;
}

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

/* Delivers on_done and frees the call. Never called from inside a libcurl callback. */
static void call_complete(struct bedrock_call *call)
{
    struct bedrock_client *c = call->client;
    if (call->state == CALL_RUNNING)
        curl_multi_remove_handle(c->multi, call->easy);
    call->state = CALL_DONE;
    todo_remove(call);
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    c->n_active--;
    call->res.elapsed_ms = clock_mono_ms_f() - call->t_start;
    if (call->canceled)
        call->res.err.code = BR_OK, call_fail(call, BR_ERR_CANCELED, false, "call canceled");
    if (call->cb.on_done)
        call->cb.on_done(call->user, &call->res);
    call_free(call);
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
    int rc = bedrock_event_parse(call->client->tok, m, call->http_status, &ev);
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

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct bedrock_call *call = user;
    size_t n = size * nmemb;
    int status;
    call->t_last = clock_mono_ms_f();
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

/* A stream's request body (the prompts: tens of KiB) is only needed until libcurl has sent
 * it; a worker holds thousands of streams for seconds each. Once event-stream bytes of a 200
 * arrive and libcurl reports every byte uploaded, nothing reads it again (no redirects are
 * followed, and a request is only resent before any response). A retry builds a new call. */
static void release_body(struct bedrock_call *call)
{
    curl_off_t up = 0;
    if (!call->body.data ||
        curl_easy_getinfo(call->easy, CURLINFO_SIZE_UPLOAD_T, &up) != CURLE_OK ||
        up != (curl_off_t)call->body.len)
        return;
    buf_free(&call->body);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct bedrock_call *call = user;
    size_t n = size * nmemb;
    call->t_last = clock_mono_ms_f();
    if (call->canceled)
        return 0; /* aborts the transfer; completion reports BR_ERR_CANCELED */
    if (call->http_status != 200 || call->kind != CALL_STREAM) {
        if (buf_append(&call->resp, ptr, n) == 0)
            return n;
        if (call->http_status != 200)
            return n; /* an error body only needs its start */
        call_fail(call, BR_ERR_PROTOCOL, false, "response larger than %zu bytes",
                  call->resp.max);
        return 0;
    }
    release_body(call);
    if (es_decoder_feed(&call->dec, ptr, n, on_stream_message, call) < 0) {
        if (call->dec.err != ES_ERR_CALLBACK)
            call_fail(call, BR_ERR_PROTOCOL, true, "event stream: %s", call->dec.errstr);
        return 0;
    }
    return call->canceled ? 0 : n;
}

/* ---- completion -------------------------------------------------------------------------- */

static void finish_converse(struct bedrock_call *call)
{
    struct buf text;
    buf_init(&text, call->client->cfg.max_response_bytes);
    if (bedrock_converse_parse(call->client->tok, call->resp.data, call->resp.len, &text,
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
    if (bedrock_retrieve_parse(call->client->tok, call->resp.data, call->resp.len,
                               &call->passages, &call->res.n_passages, &call->parsed, err,
                               sizeof err) < 0) {
        call_fail(call, BR_ERR_PROTOCOL, true, "%s", err);
        return;
    }
    call->res.passages = call->passages;
}

static void finish_stream(struct bedrock_call *call)
{
    if (es_decoder_finish(&call->dec) < 0) {
        call_fail(call, BR_ERR_PROTOCOL, true, "stream truncated mid-frame (%s)",
                  call->dec.errstr);
        return;
    }
    if (call->carry_len) { /* a character that never completed */
        call->carry_len = 0;
        deliver_text(call, "\xEF\xBF\xBD", 3);
    }
    if (!call->got_stop)
        call_fail(call, BR_ERR_PROTOCOL, true, "stream ended before messageStop");
}

static void call_finished(struct bedrock_call *call, CURLcode rc)
{
    struct bedrock_error_info *e = &call->res.err;
    if (call->canceled || e->code != BR_OK) {
        /* already decided: canceled, an exception event, or a protocol error we raised */
    } else if (rc == CURLE_PARTIAL_FILE && call->http_status == 200) {
        call_fail(call, BR_ERR_PROTOCOL, true, "connection closed mid-response (%s)",
                  call->curl_err);
    } else if (rc != CURLE_OK) {
        call_fail(call, BR_ERR_TRANSPORT, true, "%s: %s", curl_easy_strerror(rc),
                  call->curl_err[0] ? call->curl_err : "no detail");
    } else if (call->http_status != 200) {
        char type[64];
        snprintf(type, sizeof type, "%s", e->type);
        bedrock_classify_error(type, call->http_status, e);
        bedrock_error_message_parse(call->client->tok, call->resp.data, call->resp.len,
                                    e->message, sizeof e->message);
    } else if (call->kind == CALL_STREAM) {
        finish_stream(call);
    } else if (call->kind == CALL_CONVERSE) {
        finish_converse(call);
    } else {
        finish_retrieve(call);
    }
    call_complete(call);
}

/* ---- starting ---------------------------------------------------------------------------- */

static struct bedrock_call *call_new(struct bedrock_client *c, enum call_kind kind,
                                     const struct bedrock_callbacks *cb, void *user)
{
    struct bedrock_call *call = xcalloc(1, sizeof *call);
    call->client = c;
    call->kind = kind;
    call->state = CALL_QUEUED;
    call->cb = *cb;
    call->user = user;
    call->t_start = call->t_last = clock_mono_ms_f();
    call->res.ttft_ms = -1;
    buf_init(&call->body, BR_MAX_REQUEST_BYTES);
    buf_init(&call->resp, kind == CALL_STREAM ? BR_MAX_ERROR_BODY : c->cfg.max_response_bytes);
    es_decoder_init(&call->dec);
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->n_active++;
    todo_push(call);
    return call;
}

static void add_header(struct bedrock_call *call, const char *name, const char *value)
{
    char line[CREDS_TOKEN_MAX + 64];
    snprintf(line, sizeof line, "%s: %s", name, value);
    call->headers = curl_slist_append(call->headers, line);
}

/* Signs and prepares the easy handle for POST base+path with call->body. On failure the call
 * is marked failed; it completes at the next poll either way. */
static void call_prepare(struct bedrock_call *call, const char *base, const char *host,
                         const char *path, const char *accept)
{
    struct bedrock_client *c = call->client;
    if (call->res.err.code != BR_OK)
        return;
    struct aws_creds cr;
    char err[512];
    if (creds_provider_get(c->creds, &cr, err, sizeof err) < 0) {
        call_fail(call, BR_ERR_CREDENTIALS, true, "no AWS credentials: %s", err);
        return;
    }
    struct sigv4_header hs[] = {{"content-type", "application/json"}, {"host", host}};
    struct sigv4_request sreq = {"POST", path, NULL, hs, 2, call->body.data, call->body.len};
    struct sigv4_params sp = {cr.access_key_id, cr.secret_access_key, cr.session_token,
                              c->cfg.region, "bedrock", time(NULL)};
    struct sigv4_result sig;
    if (sigv4_sign(&sp, &sreq, &sig, NULL, NULL, err, sizeof err) < 0) {
        call_fail(call, BR_ERR_CREDENTIALS, false, "signing failed: %s", err);
        return;
    }
    snprintf(call->url, sizeof call->url, "%s%s", base, path);
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
        call_fail(call, BR_ERR_TRANSPORT, true, "curl_easy_init failed");
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, call->url);
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
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* The receive buffer lives as long as the call; event-stream frames are a few hundred
     * bytes, and a worker holds thousands of calls: 4 KiB (about 20 frames a read) instead
     * of the default 16. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
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

static struct bedrock_call *start_converse(struct bedrock_client *c,
                                           const struct bedrock_converse_req *req,
                                           const struct bedrock_callbacks *cb, void *user,
                                           enum call_kind kind)
{
    struct bedrock_call *call = call_new(c, kind, cb, user);
    char path[1024];
    if (!req->model_id || !*req->model_id || strlen(req->model_id) > 512) {
        call_fail(call, BR_ERR_VALIDATION, false, "model id is empty or too long");
        return call;
    }
    if (bedrock_converse_body(req, &call->body) < 0) {
        call_fail(call, BR_ERR_VALIDATION, false, "request larger than %u bytes",
                  BR_MAX_REQUEST_BYTES);
        return call;
    }
    model_path(path, sizeof path, req->model_id,
               kind == CALL_STREAM ? "converse-stream" : "converse");
    call_prepare(call, c->cfg.runtime_endpoint, c->runtime_host, path,
                 kind == CALL_STREAM ? "application/vnd.amazon.eventstream" : "application/json");
    return call;
}

struct bedrock_call *bedrock_converse_stream(struct bedrock_client *c,
                                             const struct bedrock_converse_req *req,
                                             const struct bedrock_callbacks *cb, void *user)
{
    return start_converse(c, req, cb, user, CALL_STREAM);
}

struct bedrock_call *bedrock_converse(struct bedrock_client *c,
                                      const struct bedrock_converse_req *req,
                                      const struct bedrock_callbacks *cb, void *user)
{
    return start_converse(c, req, cb, user, CALL_CONVERSE);
}

struct bedrock_call *bedrock_retrieve(struct bedrock_client *c, const char *kb_id,
                                      const char *query, int n_results,
                                      const struct bedrock_callbacks *cb, void *user)
{
    struct bedrock_call *call = call_new(c, CALL_RETRIEVE, cb, user);
    if (!kb_id || !*kb_id || strlen(kb_id) > 128) {
        call_fail(call, BR_ERR_VALIDATION, false, "knowledge base id is empty or too long");
        return call;
    }
    int rc = bedrock_retrieve_body(query, n_results, &call->body);
    if (rc < 0) {
        call_fail(call, BR_ERR_VALIDATION, false, "query too long");
        return call;
    }
    struct buf path;
    buf_init(&path, 512);
    buf_puts(&path, "/knowledgebases/");
    sigv4_uri_encode(&path, kb_id, strlen(kb_id), false);
    buf_puts(&path, "/retrieve");
    call_prepare(call, c->cfg.agent_endpoint, c->agent_host, buf_cstr(&path), "application/json");
    buf_free(&path);
    return call;
}

size_t bedrock_call_request_bytes(const struct bedrock_call *call)
{
    return call->body.data ? call->body.cap : 0;
}

void bedrock_call_cancel(struct bedrock_call *call)
{
    if (call->state == CALL_DONE || call->canceled)
        return;
    call->canceled = true;
    todo_push(call);
}

/* Applies queued starts, cancels and early failures, outside any libcurl callback. */
static void client_apply_todo(struct bedrock_client *c)
{
    while (c->todo) {
        struct bedrock_call *call = c->todo;
        c->todo = call->todo_next;
        call->on_todo = false;
        if (call->canceled || call->res.err.code != BR_OK || call->state == CALL_RUNNING) {
            call_complete(call);
            continue;
        }
        CURLMcode mc = curl_multi_add_handle(c->multi, call->easy);
        if (mc != CURLM_OK) {
            call_fail(call, BR_ERR_TRANSPORT, true, "curl_multi_add_handle: %s",
                      curl_multi_strerror(mc));
            call_complete(call);
            continue;
        }
        call->state = CALL_RUNNING;
    }
}

/* Ends the calls that have received nothing for the idle timeout. Ours, not libcurl's
 * LOW_SPEED_TIME: that one averages over a window of seconds, so a burst of tokens before a
 * stall hides the stall for a while; a total timeout would cut long, healthy streams. */
static void client_check_idle(struct bedrock_client *c)
{
    double now = clock_mono_ms_f();
    if (now - c->last_idle_scan < BR_IDLE_SCAN_MS)
        return;
    c->last_idle_scan = now;
    double limit = (double)c->cfg.idle_timeout_s * 1000.0;
    for (struct bedrock_call *call = c->calls; call; call = call->next) {
        if (call->state != CALL_RUNNING || now - call->t_last < limit)
            continue;
        call_fail(call, BR_ERR_IDLE_TIMEOUT, true, "no data from Bedrock for %ld s",
                  c->cfg.idle_timeout_s);
        todo_push(call);
    }
}

int bedrock_client_poll(struct bedrock_client *c, int timeout_ms, struct curl_waitfd *extra,
                        unsigned n_extra, char *errstr, size_t errlen)
{
    enum { MAX_EXTRA = 8, MAX_EVENTS = 256 };
    client_apply_todo(c);
    if (c->n_active > 0 && (timeout_ms < 0 || timeout_ms > BR_IDLE_SCAN_MS))
        timeout_ms = BR_IDLE_SCAN_MS; /* wake up to keep the idle clock */
    if (c->timer_at >= 0) {
        double wait = ceil(c->timer_at - clock_mono_ms_f());
        if (wait < 0)
            wait = 0;
        if (timeout_ms < 0 || wait < timeout_ms)
            timeout_ms = (int)wait;
    }
    if (n_extra > MAX_EXTRA) {
        snprintf(errstr, errlen, "at most %d extra descriptors", MAX_EXTRA);
        return -1;
    }
    struct pollfd pfd[2 + MAX_EXTRA] = {{c->epfd, POLLIN, 0}, {c->wakefd, POLLIN, 0}};
    for (unsigned i = 0; i < n_extra; i++) {
        short ev = (short)((extra[i].events & CURL_WAIT_POLLIN ? POLLIN : 0) |
                           (extra[i].events & CURL_WAIT_POLLPRI ? POLLPRI : 0) |
                           (extra[i].events & CURL_WAIT_POLLOUT ? POLLOUT : 0));
        pfd[2 + i] = (struct pollfd){extra[i].fd, ev, 0};
    }
    if (poll(pfd, 2 + n_extra, timeout_ms) < 0 && errno != EINTR) {
        snprintf(errstr, errlen, "poll: %s", strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < n_extra; i++)
        extra[i].revents = (short)((pfd[2 + i].revents & POLLIN ? CURL_WAIT_POLLIN : 0) |
                                   (pfd[2 + i].revents & POLLPRI ? CURL_WAIT_POLLPRI : 0) |
                                   (pfd[2 + i].revents & POLLOUT ? CURL_WAIT_POLLOUT : 0));
    if (pfd[1].revents & POLLIN)
        wake_drain(c->wakefd);
    int running = 0;
    CURLMcode mc = CURLM_OK;
    if (pfd[0].revents & POLLIN) {
        struct epoll_event evs[MAX_EVENTS];
        int n = epoll_wait(c->epfd, evs, MAX_EVENTS, 0);
        for (int i = 0; i < n && mc == CURLM_OK; i++) {
            int flags = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                        (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            mc = curl_multi_socket_action(c->multi, evs[i].data.fd, flags, &running);
        }
    }
    if (mc == CURLM_OK && c->timer_at >= 0 && clock_mono_ms_f() >= c->timer_at) {
        c->timer_at = -1; /* the call may arm a new one */
        mc = curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    if (mc != CURLM_OK) {
        snprintf(errstr, errlen, "curl multi: %s", curl_multi_strerror(mc));
        return -1;
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct bedrock_call *call = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        call_finished(call, msg->data.result);
    }
    client_check_idle(c);
    client_apply_todo(c); /* cancels, idle ends and starts made from the callbacks just run */
    return (int)c->n_active;
}

void bedrock_client_free(struct bedrock_client *c)
{
    if (!c)
        return;
    while (c->calls) {
        c->calls->canceled = true;
        call_complete(c->calls);
    }
    curl_multi_cleanup(c->multi);
    json_tokener_free(c->tok);
    close(c->epfd);
    close(c->wakefd);
    free(c);
}
