/* sim_server: routes, SigV4 checks, counters and tables of the simulator (see sim_server.h). */
#include "sim_server.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "aws/sigv4.h"
#include "sim_http.h"
#include "sim_model.h"
#include "sim_stream.h"
#include "core/utf8.h"

#define HEADER_MAX (64u * 1024u)
#define PARSER_BODY_MAX (8u * 1024u * 1024u) /* beyond Bedrock's 2 MiB so we can say why */
#define AUTH_ERR_MAX 8192
#define KB_ID_MAX 64
#define RETRIEVE_MAX_RESULTS 100
#define RETRIEVE_DEFAULT_RESULTS 5

/* Per-request facts the handlers share. */
struct req_ctx {
    char id[37];
    uint64_t t0;
    char method[16];
    char path[256]; /* as received, cut for the log */
};

void sim_config_defaults(struct sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = 0;
    snprintf(c->bind, sizeof c->bind, "127.0.0.1");
    snprintf(c->region, sizeof c->region, "ap-northeast-1");
    snprintf(c->access_key_id, sizeof c->access_key_id, "AKIDEXAMPLE");
    snprintf(c->secret_access_key, sizeof c->secret_access_key,
             "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    c->ttft_ms = -1;
    c->tps = -1;
    c->out_cap = 1024 * 1024;
}

uint32_t sim_seen_bump(struct sim_seen *t, uint64_t key)
{
    if (key == 0)
        key = 1;
    if (t->used >= SIM_SEEN_SLOTS * 3 / 4) {
        memset(t, 0, sizeof *t);
    }
    size_t i = (size_t)(key % SIM_SEEN_SLOTS);
    while (t->key[i] != 0 && t->key[i] != key)
        i = (i + 1) % SIM_SEEN_SLOTS;
    if (t->key[i] == 0) {
        t->key[i] = key;
        t->used++;
    }
    if (t->count[i] < UINT32_MAX)
        t->count[i]++;
    return t->count[i];
}

void sim_server_log(const struct sim_server *s, const char *method, const char *path,
                    int status, const char *model, unsigned in_tokens, size_t out_tokens,
                    uint64_t started_ms, const char *note, const char *request_id)
{
    (void)s;
    /* Every status here is one the simulator chose to send (5xx only when a test asked for
     * it), so all are info; its own failures are logged as errors where they happen. */
    log_info("%s %s %d model=%s in=%u out=%zu ms=%llu%s%s rid=%s", method, path, status,
             model && model[0] ? model : "-", in_tokens, out_tokens,
             (unsigned long long)(sim_now_ms() - started_ms), note ? " " : "", note ? note : "",
             request_id);
}

/* ---- small helpers -------------------------------------------------------------------- */

static void span_copy(char *dst, size_t cap, struct http_span sp)
{
    size_t n = sp.len < cap - 1 ? sp.len : cap - 1;
    memcpy(dst, sp.p, n);
    dst[n] = '\0';
}


/* Percent-decodes p[0..n) into out (cap bytes). Returns 0, or -1 for a bad escape, a control
 * character or an id too long. */
static int percent_decode(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];
        if (c == '%') {
            int hi = i + 2 < n ? hex_digit_value((unsigned char)p[i + 1]) : -1;
            int lo = i + 2 < n ? hex_digit_value((unsigned char)p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7F || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o ? 0 : -1;
}

static void count_error(struct sim_server *s, int status, const char *type)
{
    if (strcmp(type, "ValidationException") == 0 && status == 400)
        s->stats.validation_errors++;
}

static void answer_error(struct sim_server *s, struct sim_conn *c, const struct req_ctx *rq,
                         int status, const char *type, const char *ns, const char *msg,
                         const char *model)
{
    count_error(s, status, type);
    sim_http_aws_error(c, status, type, ns, rq->id, msg);
    sim_server_log(s, rq->method, rq->path, status, model, 0, 0, rq->t0, type, rq->id);
}

/* ---- SigV4 ------------------------------------------------------------------------------ */

static const char *secret_of(void *user, const char *access_key_id)
{
    const struct sim_server *s = user;
    return strcmp(access_key_id, s->cfg.access_key_id) == 0 ? s->cfg.secret_access_key : NULL;
}

/* Verifies the request's signature; answers 403 and returns -1 when it is not valid. */
static int check_auth(struct sim_server *s, struct sim_conn *c, const struct http_request *req,
                      const struct req_ctx *rq)
{
    /* NUL-terminated copies of everything the verifier reads, in one block. */
    size_t need = req->method.len + req->path.len + req->query.len + 3;
    for (size_t i = 0; i < req->n_headers; i++)
        need += req->names[i].len + req->values[i].len + 2;
    char *arena = xmalloc(need), *p = arena;
    struct sigv4_header hdrs[HTTP_MAX_HEADERS];
#define COPY_SPAN(dst, sp)                                                                   \
    do {                                                                                     \
        memcpy(p, (sp).p, (sp).len);                                                         \
        p[(sp).len] = '\0';                                                                  \
        (dst) = p;                                                                           \
        p += (sp).len + 1;                                                                   \
    } while (0)
    struct sigv4_request sr = {0};
    COPY_SPAN(sr.method, req->method);
    COPY_SPAN(sr.path, req->path);
    if (req->query.len)
        COPY_SPAN(sr.query, req->query);
    for (size_t i = 0; i < req->n_headers; i++) {
        COPY_SPAN(hdrs[i].name, req->names[i]);
        COPY_SPAN(hdrs[i].value, req->values[i]);
    }
#undef COPY_SPAN
    sr.headers = hdrs;
    sr.n_headers = req->n_headers;
    sr.payload = req->body.p;
    sr.payload_len = req->body.len;
    char *err = xmalloc(AUTH_ERR_MAX);
    err[0] = '\0';
    enum sigv4_verdict v = sigv4_verify(&sr, s->cfg.region, "bedrock", time(NULL), secret_of, s,
                                        err, AUTH_ERR_MAX);
    free(arena);
    if (v == SIGV4_OK) {
        free(err);
        return 0;
    }
    s->stats.auth_failures++;
    const char *msg = v == SIGV4_UNKNOWN_KEY ? "The security token included in the request is "
                                               "invalid."
                                             : (err[0] ? err : "Request signature rejected.");
    answer_error(s, c, rq, 403, sigv4_verdict_error_type(v), SIM_NS_CORAL, msg, NULL);
    free(err);
    return -1;
}

/* ---- #sim:error and #sim:throttle ------------------------------------------------------- */

static const struct {
    const char *type;
    int status;
    const char *msg;
} injected[] = {
    {"ValidationException", 400, "The request failed validation (simulated by #sim:error)."},
    {"AccessDeniedException", 403, "You don't have access to the model with the specified "
                                   "model ID."},
    {"ResourceNotFoundException", 404, "The requested resource could not be found."},
    {"ModelTimeoutException", 408, "Model has timed out in processing the request. Try your "
                                   "request again."},
    {"ModelErrorException", 424, "The system encountered an unexpected error during "
                                 "processing. Try your request again."},
    {"ThrottlingException", 429, "Too many requests, please wait before trying again."},
    {"ModelNotReadyException", 429, "Model is not ready to serve inference requests. Try your "
                                    "request again."},
    {"InternalServerException", 500, "The server encountered an internal error while "
                                     "processing the request. Try your request again."},
    {"ServiceUnavailableException", 503, "Service is temporarily unavailable. Try again "
                                         "later."},
};

/* Answers the directives that replace the response; returns 1 when it answered. */
static int answer_directives(struct sim_server *s, struct sim_conn *c, const struct req_ctx *rq,
                             const struct sim_directives *d, uint64_t throttle_key,
                             const char *model)
{
    if (d->error[0]) {
        for (size_t i = 0; i < sizeof injected / sizeof injected[0]; i++) {
            if (strcmp(d->error, injected[i].type) != 0)
                continue;
            s->stats.injected_errors++;
            sim_http_aws_error(c, injected[i].status, injected[i].type, SIM_NS_BEDROCK, rq->id,
                               injected[i].msg);
            sim_server_log(s, rq->method, rq->path, injected[i].status, model, 0, 0, rq->t0,
                           injected[i].type, rq->id);
            return 1;
        }
        char msg[160];
        snprintf(msg, sizeof msg, "bedrock-sim: unknown #sim:error name '%s'.", d->error);
        answer_error(s, c, rq, 400, "ValidationException", SIM_NS_BEDROCK, msg, model);
        return 1;
    }
    if (d->throttle > 0 && sim_seen_bump(&s->throttle, throttle_key) <= (uint32_t)d->throttle) {
        s->stats.throttled++;
        sim_http_aws_error(c, 429, "ThrottlingException", SIM_NS_BEDROCK, rq->id,
                           "Too many requests, please wait before trying again.");
        sim_server_log(s, rq->method, rq->path, 429, model, 0, 0, rq->t0, "throttled", rq->id);
        return 1;
    }
    return 0;
}

/* ---- ConverseStream / Converse ---------------------------------------------------------- */

static uint64_t hex_key(const char *hex)
{
    char head[17];
    memcpy(head, hex, 16); /* hex is a 64-digit SHA-256 */
    head[16] = '\0';
    return strtoull(head, NULL, 16);
}

static void handle_converse(struct sim_server *s, struct sim_conn *c,
                            const struct http_request *req, const struct req_ctx *rq,
                            const char *model_id, bool events)
{
    struct sim_reply r;
    char err[512];
    if (sim_model_reply_cached(&s->replies, model_id, req->body.p ? req->body.p : "",
                               req->body.len, &r, err, sizeof err) < 0) {
        answer_error(s, c, rq, 400, "ValidationException", SIM_NS_BEDROCK, err, model_id);
        return;
    }
    if (r.guardrail_stream_mode && !events) {
        /* Converse's GuardrailConfiguration has no streamProcessingMode. */
        sim_reply_free(&r);
        answer_error(s, c, rq, 400, "ValidationException", SIM_NS_BEDROCK,
                     "Malformed input request: extraneous key [streamProcessingMode] is not "
                     "permitted in guardrailConfig, please reformat your input and try again.",
                     model_id);
        return;
    }
    if (answer_directives(s, c, rq, &r.dir, hex_key(r.last_user_sha256) ^ 0x6d6f64656cull,
                          model_id)) {
        sim_reply_free(&r);
        return;
    }
    if (r.guardrail) {
        s->stats.guardrail_calls++;
        if (strcmp(r.stop_reason, "guardrail_intervened") == 0)
            s->stats.guardrail_interventions++;
    }
    static const int ttft_of[] = {0, 250, 300, 500}, tps_of[] = {1, 200, 150, 80};
    enum sim_model_size size = sim_model_size(model_id);
    struct sim_stream_params p = {
        .events = events,
        .ttft_ms = s->cfg.ttft_ms >= 0 ? s->cfg.ttft_ms : ttft_of[size],
        .tps = s->cfg.tps > 0 ? s->cfg.tps : tps_of[size],
        .input_tokens = r.input_tokens - r.prefix_tokens,
        .model_id = model_id,
        .path = rq->path,
        .request_id = rq->id,
        .started_ms = rq->t0,
    };
    if (r.dir.ttft_ms >= 0)
        p.ttft_ms = r.dir.ttft_ms;
    if (r.dir.tps > 0)
        p.tps = r.dir.tps;
    if (r.prefix_sha256[0] && r.prefix_tokens > 0) {
        if (sim_seen_bump(&s->cache, hex_key(r.prefix_sha256)) == 1)
            p.cache_write = r.prefix_tokens;
        else
            p.cache_read = r.prefix_tokens;
    }
    sim_stream_start(s, c, &r, &p);
}

/* ---- Retrieve --------------------------------------------------------------------------- */

static void handle_retrieve(struct sim_server *s, struct sim_conn *c,
                            const struct http_request *req, const struct req_ctx *rq,
                            struct http_span kb_id)
{
    char msg[512];
    int ok_id = kb_id.len >= 1 && kb_id.len <= KB_ID_MAX;
    for (size_t i = 0; ok_id && i < kb_id.len; i++) {
        char ch = kb_id.p[i];
        ok_id = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
    }
    if (!ok_id) {
        snprintf(msg, sizeof msg, "1 validation error detected: Value '%.*s' at "
                 "'knowledgeBaseId' failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: [0-9a-zA-Z]{1,64}", (int)(kb_id.len > 80 ? 80 : kb_id.len),
                 kb_id.p);
        answer_error(s, c, rq, 400, "ValidationException", SIM_NS_BEDROCK, msg, NULL);
        return;
    }
    if (req->body.len > SIM_MAX_BODY) {
        answer_error(s, c, rq, 400, "ValidationException", SIM_NS_BEDROCK,
                     "The request body is larger than 2 MiB.", NULL);
        return;
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = json_tokener_parse_ex(tok, req->body.p ? req->body.p : "",
                                                     (int)req->body.len);
    int complete = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    struct json_object *q = NULL, *text = NULL, *cfg, *vec, *nres;
    long want = RETRIEVE_DEFAULT_RESULTS;
    const char *bad = NULL;
    if (!root || !complete || !json_object_is_type(root, json_type_object))
        bad = "Malformed input request, please reformat your input and try again.";
    else if (!json_object_object_get_ex(root, "retrievalQuery", &q) ||
             !json_object_is_type(q, json_type_object))
        bad = "1 validation error detected: Value null at 'retrievalQuery' failed to satisfy "
              "constraint: Member must not be null";
    else if (!json_object_object_get_ex(q, "text", &text) ||
             !json_object_is_type(text, json_type_string) || json_object_get_string_len(text) == 0)
        bad = "1 validation error detected: Value at 'retrievalQuery.text' failed to satisfy "
              "constraint: Member must have length greater than or equal to 1";
    else if (json_object_object_get_ex(root, "retrievalConfiguration", &cfg) &&
             json_object_object_get_ex(cfg, "vectorSearchConfiguration", &vec) &&
             json_object_object_get_ex(vec, "numberOfResults", &nres)) {
        want = json_object_is_type(nres, json_type_int) ? (long)json_object_get_int64(nres) : -1;
        if (want < 1 || want > RETRIEVE_MAX_RESULTS) {
            snprintf(msg, sizeof msg, "1 validation error detected: Value '%s' at "
                     "'retrievalConfiguration.vectorSearchConfiguration.numberOfResults' failed "
                     "to satisfy constraint: Member must have value %s",
                     json_object_to_json_string(nres),
                     want > RETRIEVE_MAX_RESULTS ? "less than or equal to 100"
                                                 : "greater than or equal to 1");
            bad = msg;
        }
    }
    if (bad) {
        answer_error(s, c, rq, 400, "ValidationException", SIM_NS_BEDROCK, bad, NULL);
        json_object_put(root);
        return;
    }
    const char *qt = json_object_get_string(text);
    size_t qn = (size_t)json_object_get_string_len(text);
    struct sim_directives d;
    sim_directives_init(&d);
    sim_directives_parse(qt, qn, &d);
    if (answer_directives(s, c, rq, &d, sim_hash64(qt, qn) ^ 0x6b62ull, NULL)) {
        json_object_put(root);
        return;
    }
    if (s->kb.n_passages == 0) {
        snprintf(msg, sizeof msg, "Knowledge base %.*s has no documents (bedrock-sim loaded none;"
                 " see --kb-dir).", (int)kb_id.len, kb_id.p);
        answer_error(s, c, rq, 404, "ResourceNotFoundException", SIM_NS_BEDROCK, msg, NULL);
        json_object_put(root);
        return;
    }
    struct buf query;
    buf_init(&query, qn + 1);
    sim_directives_strip(qt, qn, &query);
    struct sim_kb_hit *hits = xmalloc((size_t)want * sizeof *hits);
    size_t n = sim_kb_search(&s->kb, buf_cstr(&query), query.len, (size_t)want, hits);
    struct buf out;
    buf_init(&out, 64u * 1024u * 1024u);
    buf_puts(&out, "{\"retrievalResults\":[");
    for (size_t i = 0; i < n; i++) {
        const struct sim_kb_passage *ps = hits[i].passage;
        const struct sim_kb_doc *doc = hits[i].doc;
        buf_puts(&out, i ? ",{\"content\":{\"text\":" : "{\"content\":{\"text\":");
        sim_json_str(&out, ps->text, ps->len);
        buf_puts(&out, ",\"type\":\"TEXT\"},\"location\":{\"type\":\"WEB\",\"webLocation\":"
                       "{\"url\":");
        sim_json_str(&out, doc->url, strlen(doc->url));
        buf_puts(&out, "}},\"metadata\":{\"x-amz-bedrock-kb-source-uri\":");
        sim_json_str(&out, doc->url, strlen(doc->url));
        buf_puts(&out, ",\"x-amz-bedrock-kb-title\":");
        sim_json_str(&out, doc->title, strlen(doc->title));
        buf_printf(&out, ",\"x-amz-bedrock-kb-chunk-id\":\"%s#%u\"},\"score\":%.6f}", doc->name,
                   ps->seq, hits[i].score);
    }
    buf_puts(&out, "]}");
    sim_http_respond(c, 200, "application/json", rq->id, NULL, out.data, out.len);
    sim_server_log(s, rq->method, rq->path, 200, NULL, 0, n, rq->t0, "retrieve", rq->id);
    buf_free(&out);
    free(hits);
    buf_free(&query);
    json_object_put(root);
}

/* ---- /_sim ------------------------------------------------------------------------------ */

static void handle_stats(struct sim_server *s, struct sim_conn *c, const struct req_ctx *rq)
{
    const struct sim_stats *t = &s->stats;
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b,
               "{\"requests\":%lu,\"converse_stream\":%lu,\"converse\":%lu,\"retrieve\":%lu,"
               "\"streams_open\":%lu,\"streams_completed\":%lu,\"streams_aborted\":%lu,"
               "\"streams_dropped\":%lu,\"stream_exceptions\":%lu,\"throttled\":%lu,"
               "\"auth_failures\":%lu,\"validation_errors\":%lu,\"injected_errors\":%lu,"
               "\"not_found\":%lu,\"output_tokens\":%lu,\"slow_client_cutoffs\":%lu,"
               "\"guardrail_calls\":%lu,\"guardrail_interventions\":%lu,"
               "\"connections\":%zu,\"kb_documents\":%zu,\"kb_passages\":%zu}\n",
               t->requests, t->converse_stream, t->converse, t->retrieve, t->streams_open,
               t->streams_completed, t->streams_aborted, t->streams_dropped,
               t->stream_exceptions, t->throttled, t->auth_failures, t->validation_errors,
               t->injected_errors, t->not_found, t->output_tokens, sim_net_slow_cutoffs(s->net),
               t->guardrail_calls, t->guardrail_interventions,
               sim_net_conn_count(s->net),
               s->kb.n_docs, s->kb.n_passages);
    sim_http_respond(c, 200, "application/json", rq->id, "Cache-Control: no-store\r\n", b.data,
                     b.len);
    buf_free(&b);
}

/* ---- routing ---------------------------------------------------------------------------- */

static bool has_prefix(struct http_span sp, const char *prefix)
{
    size_t n = strlen(prefix);
    return sp.len >= n && memcmp(sp.p, prefix, n) == 0;
}

static void not_found(struct sim_server *s, struct sim_conn *c, const struct req_ctx *rq,
                      bool aws)
{
    s->stats.not_found++;
    if (aws) {
        char msg[400];
        snprintf(msg, sizeof msg, "Unknown operation: %s %s", rq->method, rq->path);
        answer_error(s, c, rq, 404, "UnknownOperationException", SIM_NS_CORAL, msg, NULL);
        return;
    }
    sim_http_respond(c, 404, "text/plain", rq->id, NULL, "not found\n", 10);
    sim_server_log(s, rq->method, rq->path, 404, NULL, 0, 0, rq->t0, NULL, rq->id);
}

static void on_request(void *user, struct sim_conn *c, const struct http_request *req)
{
    struct sim_server *s = user;
    struct req_ctx rq;
    sim_uuid4(&s->rng, rq.id);
    rq.t0 = sim_now_ms();
    span_copy(rq.method, sizeof rq.method, req->method);
    span_copy(rq.path, sizeof rq.path, req->target);
    bool post = http_span_eq(req->method, "POST"), get = http_span_eq(req->method, "GET");

    if (has_prefix(req->path, "/_sim/")) {
        if (get && http_span_eq(req->path, "/_sim/health"))
            sim_http_respond(c, 200, "text/plain", rq.id, NULL, "ok", 2);
        else if (get && http_span_eq(req->path, "/_sim/stats"))
            handle_stats(s, c, &rq);
        else
            not_found(s, c, &rq, false);
        return;
    }
    s->stats.requests++;

    if (has_prefix(req->path, "/model/")) {
        /* /model/{modelId}/{operation}: the id may hold an (encoded or not) ARN's '/'. */
        const char *id = req->path.p + 7, *end = req->path.p + req->path.len;
        const char *slash = memrchr(id, '/', (size_t)(end - id));
        struct http_span op = {slash ? slash + 1 : end, slash ? (size_t)(end - slash - 1) : 0};
        bool stream = http_span_eq(op, "converse-stream"), whole = http_span_eq(op, "converse");
        if (!post || !slash || slash == id || (!stream && !whole)) {
            not_found(s, c, &rq, true);
            return;
        }
        if (stream)
            s->stats.converse_stream++;
        else
            s->stats.converse++;
        if (check_auth(s, c, req, &rq) < 0)
            return;
        char model_id[512];
        if (percent_decode(id, (size_t)(slash - id), model_id, sizeof model_id) < 0 ||
            sim_model_size(model_id) == SIM_SIZE_INVALID) {
            answer_error(s, c, &rq, 400, "ValidationException", SIM_NS_BEDROCK,
                         "The provided model identifier is invalid.", NULL);
            return;
        }
        handle_converse(s, c, req, &rq, model_id, stream);
        return;
    }
    if (has_prefix(req->path, "/knowledgebases/")) {
        const char *id = req->path.p + 16, *end = req->path.p + req->path.len;
        const char *slash = memchr(id, '/', (size_t)(end - id));
        if (!post || !slash || !http_span_eq((struct http_span){slash, (size_t)(end - slash)},
                                             "/retrieve")) {
            not_found(s, c, &rq, true);
            return;
        }
        s->stats.retrieve++;
        if (check_auth(s, c, req, &rq) < 0)
            return;
        handle_retrieve(s, c, req, &rq, (struct http_span){id, (size_t)(slash - id)});
        return;
    }
    not_found(s, c, &rq, false);
}

/* ---- process lifecycle ------------------------------------------------------------------ */

static void on_signal(struct sim_io *io, uint32_t events)
{
    (void)events;
    struct sim_server *s = sim_container_of(io, struct sim_server, sig);
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        log_info("signal %u: shutting down", si.ssi_signo);
        s->stop = 1;
    }
}

int sim_server_init(struct sim_server *s, const struct sim_config *cfg, char *errstr,
                    size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->sig.fd = -1;
    sim_kb_init(&s->kb);
    buf_init(&s->frame, 32u * 1024u * 1024u);
    buf_init(&s->payload, 32u * 1024u * 1024u);
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = sim_now_ms() ^ ((uint64_t)getpid() << 32);
    sim_rng_seed(&s->rng, seed);

    if (cfg->kb_dir[0]) {
        char err[512];
        long n = sim_kb_load_dir(&s->kb, cfg->kb_dir, err, sizeof err);
        if (n < 0 && cfg->kb_dir_required) {
            snprintf(errstr, errlen, "knowledge base: %s", err);
            sim_server_free(s);
            return -1;
        }
        if (n < 0)
            log_warn("knowledge base: %s; Retrieve will answer 404", err);
        else
            log_info("knowledge base: %ld documents, %zu passages from %s", n,
                     s->kb.n_passages, cfg->kb_dir);
    }

    s->loop = sim_loop_new(errstr, errlen);
    if (!s->loop) {
        sim_server_free(s);
        return -1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, &s->old_mask);
    s->mask_set = true;
    s->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    s->sig.on_event = on_signal;
    if (s->sig.fd < 0 || sim_loop_add(s->loop, &s->sig, EPOLLIN) < 0) {
        snprintf(errstr, errlen, "signalfd: %s", strerror(errno));
        sim_server_free(s);
        return -1;
    }
    struct sim_net_config nc = {
        .bind = cfg->bind,
        .port = cfg->port,
        .split_writes = cfg->split_writes,
        .out_cap = cfg->out_cap,
        .max_header_bytes = HEADER_MAX,
        .max_body_bytes = PARSER_BODY_MAX,
    };
    s->net = sim_net_new(s->loop, &nc, on_request, s, errstr, errlen);
    if (!s->net) {
        sim_server_free(s);
        return -1;
    }
    return 0;
}

int sim_server_port(const struct sim_server *s)
{
    return sim_net_port(s->net);
}

int sim_server_run(struct sim_server *s)
{
    char err[256];
    while (!s->stop) {
        if (sim_loop_run_once(s->loop, err, sizeof err) < 0) {
            log_error("%s", err);
            return -1;
        }
        sim_net_reap(s->net);
    }
    return 0;
}

void sim_server_free(struct sim_server *s)
{
    sim_net_free(s->net);
    s->net = NULL;
    if (s->sig.fd >= 0)
        close(s->sig.fd);
    s->sig.fd = -1;
    if (s->mask_set)
        sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
    s->mask_set = false;
    sim_loop_free(s->loop);
    s->loop = NULL;
    sim_kb_free(&s->kb);
    sim_reply_cache_free(&s->replies);
    buf_free(&s->frame);
    buf_free(&s->payload);
}
