/* bedrock_proto: request bodies, error classification and response parsing (see
 * bedrock_proto.h). Pure functions over bytes; json-c does the JSON. */
#include "aws/bedrock_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/utf8.h"

/* ---- errors ------------------------------------------------------------------------------ */

static const struct {
    const char *type; /* AWS name, compared case-insensitively (events use lowerCamelCase) */
    enum bedrock_error code;
    bool retryable;
} error_types[] = {
    {"ValidationException", BR_ERR_VALIDATION, false},
    {"AccessDeniedException", BR_ERR_ACCESS_DENIED, false},
    {"InvalidSignatureException", BR_ERR_INVALID_SIGNATURE, false},
    {"IncompleteSignatureException", BR_ERR_INVALID_SIGNATURE, false},
    {"MissingAuthenticationTokenException", BR_ERR_INVALID_SIGNATURE, false},
    {"UnrecognizedClientException", BR_ERR_UNRECOGNIZED_CLIENT, false},
    /* Temporary credentials ran out between refreshes: a new signature will do. */
    {"ExpiredTokenException", BR_ERR_EXPIRED_TOKEN, true},
    {"ResourceNotFoundException", BR_ERR_NOT_FOUND, false},
    {"ModelTimeoutException", BR_ERR_MODEL_TIMEOUT, true},
    {"ServiceQuotaExceededException", BR_ERR_QUOTA, false},
    {"ModelErrorException", BR_ERR_MODEL_ERROR, false},
    {"ThrottlingException", BR_ERR_THROTTLING, true},
    {"ModelNotReadyException", BR_ERR_MODEL_NOT_READY, true},
    {"InternalServerException", BR_ERR_INTERNAL, true},
    {"ServiceUnavailableException", BR_ERR_UNAVAILABLE, true},
    /* AWS: "An error occurred while streaming the response. Retry your request." */
    {"ModelStreamErrorException", BR_ERR_MODEL_STREAM, true},
};

static const char *const error_names[] = {
    [BR_OK] = "ok",
    [BR_ERR_VALIDATION] = "validation",
    [BR_ERR_ACCESS_DENIED] = "access_denied",
    [BR_ERR_INVALID_SIGNATURE] = "invalid_signature",
    [BR_ERR_UNRECOGNIZED_CLIENT] = "unrecognized_client",
    [BR_ERR_EXPIRED_TOKEN] = "expired_token",
    [BR_ERR_NOT_FOUND] = "not_found",
    [BR_ERR_MODEL_TIMEOUT] = "model_timeout",
    [BR_ERR_QUOTA] = "quota_exceeded",
    [BR_ERR_MODEL_ERROR] = "model_error",
    [BR_ERR_THROTTLING] = "throttling",
    [BR_ERR_MODEL_NOT_READY] = "model_not_ready",
    [BR_ERR_INTERNAL] = "internal",
    [BR_ERR_UNAVAILABLE] = "unavailable",
    [BR_ERR_MODEL_STREAM] = "model_stream",
    [BR_ERR_HTTP] = "http",
    [BR_ERR_TRANSPORT] = "transport",
    [BR_ERR_IDLE_TIMEOUT] = "idle_timeout",
    [BR_ERR_PROTOCOL] = "protocol",
    [BR_ERR_CREDENTIALS] = "credentials",
    [BR_ERR_CANCELED] = "canceled",
};

const char *bedrock_error_name(enum bedrock_error e)
{
    if ((size_t)e < sizeof error_names / sizeof error_names[0] && error_names[e])
        return error_names[e];
    return "unknown";
}

void bedrock_classify_error(const char *type, int http_status, struct bedrock_error_info *e)
{
    e->http_status = http_status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "");
    for (size_t i = 0; i < sizeof error_types / sizeof error_types[0]; i++) {
        if (type && strcasecmp(type, error_types[i].type) == 0) {
            e->code = error_types[i].code;
            e->retryable = error_types[i].retryable;
            return;
        }
    }
    /* An unknown name: the status decides, as the SDKs' default retry policy does. */
    e->code = BR_ERR_HTTP;
    e->retryable = http_status == 408 || http_status == 429 || http_status >= 500;
}

/* ---- request building -------------------------------------------------------------------- */

static json_object *json_text_block(const char *text)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "text", json_object_new_string(text));
    return o;
}


int bedrock_converse_body(const struct bedrock_converse_req *r, struct buf *out)
{
    json_object *root = json_object_new_object();
    if (r->system || r->system_suffix) {
        json_object *sys = json_object_new_array();
        if (r->system)
            json_object_array_add(sys, json_text_block(r->system));
        if (r->system && r->cache_point) {
            json_object *cp = json_object_new_object(), *inner = json_object_new_object();
            json_object_object_add(inner, "type", json_object_new_string("default"));
            json_object_object_add(cp, "cachePoint", inner);
            json_object_array_add(sys, cp);
        }
        if (r->system_suffix)
            json_object_array_add(sys, json_text_block(r->system_suffix));
        json_object_object_add(root, "system", sys);
    }
    json_object *msgs = json_object_new_array();
    for (size_t i = 0; i < r->n_messages; i++) {
        json_object *m = json_object_new_object(), *content = json_object_new_array();
        json_object_object_add(m, "role", json_object_new_string(r->messages[i].role));
        json_object_array_add(content, json_text_block(r->messages[i].text));
        json_object_object_add(m, "content", content);
        json_object_array_add(msgs, m);
    }
    json_object_object_add(root, "messages", msgs);
    json_object *inf = json_object_new_object();
    if (r->max_tokens > 0)
        json_object_object_add(inf, "maxTokens", json_object_new_int(r->max_tokens));
    if (r->temperature >= 0)
        json_object_object_add(inf, "temperature", json_new_short_double(r->temperature));
    if (r->top_p >= 0)
        json_object_object_add(inf, "topP", json_new_short_double(r->top_p));
    json_object_object_add(root, "inferenceConfig", inf);
    const struct bedrock_guardrail *g = r->guardrail;
    if (g && g->id[0]) {
        /* Converse takes a GuardrailConfiguration, ConverseStream a
         * GuardrailStreamConfiguration: the same plus streamProcessingMode. */
        json_object *gc = json_object_new_object();
        json_object_object_add(gc, "guardrailIdentifier", json_object_new_string(g->id));
        json_object_object_add(gc, "guardrailVersion", json_object_new_string(g->version));
        json_object_object_add(gc, "trace",
                               json_object_new_string(bedrock_guardrail_trace_name(g->trace)));
        if (r->stream)
            json_object_object_add(gc, "streamProcessingMode",
                                   json_object_new_string(bedrock_guardrail_mode_name(g->mode)));
        json_object_object_add(root, "guardrailConfig", gc);
    }
    return json_append_put(root, out);
}

const char *bedrock_guardrail_mode_name(enum bedrock_guardrail_mode m)
{
    return m == BR_GUARDRAIL_ASYNC ? "async" : "sync";
}

const char *bedrock_guardrail_trace_name(enum bedrock_guardrail_trace t)
{
    return t == BR_TRACE_ENABLED ? "enabled" : t == BR_TRACE_ENABLED_FULL ? "enabled_full"
                                                                         : "disabled";
}

static bool all_of(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i]))
            return false;
    return n > 0;
}

int bedrock_guardrail_check(const struct bedrock_guardrail *g, char *errstr, size_t errlen)
{
    static const char lower_digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    const char *id = g->id, *v = g->version;
    size_t n = strlen(id);
    bool id_ok = all_of(id, n, lower_digits);
    if (!id_ok && strncmp(id, "arn:aws", 7) == 0) {
        /* arn:aws(-PARTITION)?:bedrock:REGION:ACCOUNT:guardrail/ID */
        const char *p = id + 7;
        if (*p == '-')
            p += strcspn(p, ":");
        const char *region = p + (strncmp(p, ":bedrock:", 9) == 0 ? 9 : 0);
        size_t rn = region > p ? strcspn(region, ":") : 0;
        const char *acct = region + rn + 1;
        const char *tail = acct + 12;
        id_ok = rn >= 1 && rn <= 20 && all_of(region, rn, "abcdefghijklmnopqrstuvwxyz0123456789-") &&
                region[rn] == ':' && strlen(acct) > 12 && all_of(acct, 12, "0123456789") &&
                strncmp(tail, ":guardrail/", 11) == 0 &&
                all_of(tail + 11, strlen(tail + 11), lower_digits);
    }
    if (!id_ok) {
        snprintf(errstr, errlen, "guardrail identifier \"%s\" is neither an id ([a-z0-9]+) "
                 "nor a guardrail ARN", id);
        return -1;
    }
    size_t vn = strlen(v);
    if (!(strcmp(v, "DRAFT") == 0 ||
          (vn >= 1 && vn <= 8 && v[0] != '0' && all_of(v, vn, "0123456789")))) {
        snprintf(errstr, errlen, "guardrail version \"%s\" is neither DRAFT nor a number "
                 "1..99999999", v);
        return -1;
    }
    return 0;
}

int bedrock_retrieve_body(const char *query, int n_results, struct buf *out)
{
    json_object *root = json_object_new_object(), *q = json_object_new_object();
    json_object *conf = json_object_new_object(), *vec = json_object_new_object();
    json_object_object_add(q, "text", json_object_new_string(query ? query : ""));
    json_object_object_add(root, "retrievalQuery", q);
    json_object_object_add(vec, "numberOfResults",
                           json_object_new_int(n_results > 0 ? n_results : 5));
    json_object_object_add(conf, "vectorSearchConfiguration", vec);
    json_object_object_add(root, "retrievalConfiguration", conf);
    return json_append_put(root, out);
}

/* ---- parsing responses ------------------------------------------------------------------- */

/* Parses exactly n bytes of JSON with a reused tokener; NULL when it is not one JSON value. */
static json_object *json_parse_n(json_tokener *tok, const char *p, size_t n)
{
    if (n > (size_t)INT32_MAX)
        return NULL;
    json_tokener_reset(tok);
    json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    if (!o || json_tokener_get_error(tok) != json_tokener_success) {
        if (o)
            json_object_put(o);
        return NULL;
    }
    return o;
}

static void read_usage_metrics(json_object *root, struct token_usage *u, long *latency_ms)
{
    json_object *usage = json_get(root, "usage");
    if (usage) {
        u->input_tokens = (long)json_get_int(usage, "inputTokens");
        u->output_tokens = (long)json_get_int(usage, "outputTokens");
        u->cache_read_tokens = (long)json_get_int(usage, "cacheReadInputTokens");
        u->cache_write_tokens = (long)json_get_int(usage, "cacheWriteInputTokens");
    }
    json_object *m = json_get(root, "metrics");
    if (m)
        *latency_ms = (long)json_get_int(m, "latencyMs");
}

static void read_stop_reason(json_object *root, char *out, size_t outlen)
{
    json_object *s = json_get(root, "stopReason");
    if (s)
        snprintf(out, outlen, "%s", json_object_get_string(s));
}

void bedrock_error_message_parse(json_tokener *tok, const char *body, size_t len, char *out,
                                 size_t outlen)
{
    json_object *o = json_parse_n(tok, body, len);
    json_object *m = json_get(o, "message");
    if (!m)
        m = json_get(o, "Message");
    if (m && json_object_is_type(m, json_type_string) && outlen > 0) {
        size_t mlen = (size_t)json_object_get_string_len(m);
        struct buf b;
        buf_init(&b, 3 * mlen + 16);
        utf8_append_sanitized(&b, json_object_get_string(m), mlen);
        /* AWS's signature-mismatch message can be long: keep whole characters that fit. */
        size_t keep = utf8_whole_prefix(buf_cstr(&b), b.len < outlen ? b.len : outlen - 1);
        for (size_t i = 0; i < keep; i++) /* one log line: no control characters */
            out[i] = (unsigned char)b.data[i] < 0x20 ? ' ' : b.data[i];
        out[keep] = '\0';
        buf_free(&b);
    } else {
        size_t n = len > 200 ? 200 : len;
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < outlen; i++) /* printable ASCII only: it is logged */
            out[k++] = body[i] >= 0x20 && body[i] < 0x7F ? body[i] : '?';
        if (outlen)
            out[k] = '\0';
    }
    if (o)
        json_object_put(o);
}

static int event_fail(struct bedrock_event *ev, int http_status, const char *msg)
{
    ev->kind = BR_EVENT_ERROR;
    ev->err.code = BR_ERR_PROTOCOL;
    ev->err.retryable = true;
    ev->err.http_status = http_status;
    snprintf(ev->err.message, sizeof ev->err.message, "%s", msg);
    return -1;
}

static bool span_is(const char *p, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

int bedrock_event_parse(json_tokener *tok, const struct es_message *m, int http_status,
                        struct bedrock_event *ev)
{
    /* Everything but the text room (the last member, written only as far as a text goes):
     * this runs once per event of every stream. */
    memset(ev, 0, offsetof(struct bedrock_event, room));
    const char *mtype, *etype;
    size_t mlen, elen;
    if (es_message_string(m, ":message-type", &mtype, &mlen) < 0)
        return event_fail(ev, http_status, "event without :message-type");
    if (span_is(mtype, mlen, "exception") || span_is(mtype, mlen, "error")) {
        bool exception = mlen == 9;
        const char *type = "", *msg = "";
        size_t tlen = 0, msglen = 0;
        es_message_string(m, exception ? ":exception-type" : ":error-code", &type, &tlen);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(tlen < 63 ? tlen : 63), type);
        ev->kind = BR_EVENT_ERROR;
        bedrock_classify_error(name, http_status, &ev->err);
        if (exception) {
            bedrock_error_message_parse(tok, (const char *)m->payload, m->payload_len,
                                        ev->err.message, sizeof ev->err.message);
        } else {
            es_message_string(m, ":error-message", &msg, &msglen);
            snprintf(ev->err.message, sizeof ev->err.message, "%.*s",
                     (int)(msglen < 400 ? msglen : 400), msg);
        }
        return 0;
    }
    if (!span_is(mtype, mlen, "event"))
        return 0; /* a message type from the future: not ours to interpret */
    if (es_message_string(m, ":event-type", &etype, &elen) < 0)
        return event_fail(ev, http_status, "event without :event-type");
    bool delta = span_is(etype, elen, "contentBlockDelta");
    bool stop = span_is(etype, elen, "messageStop");
    bool meta = span_is(etype, elen, "metadata");
    if (!delta && !stop && !meta)
        return 0; /* messageStart, contentBlockStart/Stop carry nothing we report */
    /* The common case, without a json-c tree per event. The text is kept in ev->room, so that
     * it outlives the message as the json-c path's does; a longer one goes that path. */
    const char *text;
    size_t text_len;
    if (delta && bedrock_delta_scan((const char *)m->payload, m->payload_len, &text, &text_len,
                                    ev->room, sizeof ev->room) == 1 &&
        text_len <= sizeof ev->room) {
        if (text != ev->room)
            memcpy(ev->room, text, text_len);
        ev->kind = BR_EVENT_DELTA;
        ev->text = ev->room;
        ev->text_len = text_len;
        return 0;
    }
    json_object *root = json_parse_n(tok, (const char *)m->payload, m->payload_len);
    if (!root)
        return event_fail(ev, http_status, "event payload is not JSON");
    ev->owner = root;
    if (delta) {
        json_object *t = json_get(json_get(root, "delta"), "text");
        if (t && json_object_is_type(t, json_type_string)) {
            ev->kind = BR_EVENT_DELTA;
            ev->text = json_object_get_string(t);
            ev->text_len = (size_t)json_object_get_string_len(t);
        } /* else a tool-use or reasoning delta: not text, nothing to show */
    } else if (stop) {
        ev->kind = BR_EVENT_STOP;
        read_stop_reason(root, ev->stop_reason, sizeof ev->stop_reason);
    } else {
        ev->kind = BR_EVENT_METADATA;
        read_usage_metrics(root, &ev->usage, &ev->latency_ms);
    }
    return 0;
}

void bedrock_event_release(struct bedrock_event *ev)
{
    if (ev->owner)
        json_object_put(ev->owner);
    ev->owner = NULL;
    ev->text = NULL;
}

int bedrock_converse_parse(json_tokener *tok, const char *body, size_t len, struct buf *text,
                           struct bedrock_result *res)
{
    json_object *root = json_parse_n(tok, body, len);
    json_object *content = json_get(json_get(json_get(root, "output"), "message"), "content");
    if (!content || !json_object_is_type(content, json_type_array)) {
        if (root)
            json_object_put(root);
        res->err.code = BR_ERR_PROTOCOL;
        res->err.retryable = true;
        snprintf(res->err.message, sizeof res->err.message,
                 "Converse response without output.message.content");
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *t = json_get(json_object_array_get_idx(content, i), "text");
        if (t && json_object_is_type(t, json_type_string))
            utf8_append_sanitized(text, json_object_get_string(t),
                                  (size_t)json_object_get_string_len(t));
    }
    read_stop_reason(root, res->stop_reason, sizeof res->stop_reason);
    read_usage_metrics(root, &res->usage, &res->latency_ms);
    json_object_put(root);
    return 0;
}

static const char *basename_of(const char *url)
{
    const char *slash = strrchr(url, '/');
    return slash && slash[1] ? slash + 1 : url;
}

int bedrock_retrieve_parse(json_tokener *tok, const char *body, size_t len,
                           struct bedrock_passage **out, size_t *n, json_object **owner,
                           char *errstr, size_t errlen)
{
    *out = NULL;
    *n = 0;
    *owner = NULL;
    json_object *root = json_parse_n(tok, body, len);
    json_object *results = json_get(root, "retrievalResults");
    if (!results || !json_object_is_type(results, json_type_array)) {
        if (root)
            json_object_put(root);
        snprintf(errstr, errlen, "Retrieve response without retrievalResults");
        return -1;
    }
    size_t count = json_object_array_length(results), k = 0;
    struct bedrock_passage *ps = xcalloc(count ? count : 1, sizeof *ps);
    for (size_t i = 0; i < count; i++) {
        json_object *r = json_object_array_get_idx(results, i);
        const char *text = json_get_str(json_get(r, "content"), "text", NULL);
        if (!text)
            continue;
        json_object *loc = json_get(r, "location"), *meta = json_get(r, "metadata");
        const char *url = json_get_str(json_get(loc, "webLocation"), "url", NULL);
        if (!url)
            url = json_get_str(json_get(loc, "s3Location"), "uri", NULL);
        if (!url)
            url = json_get_str(meta, "x-amz-bedrock-kb-source-uri", NULL);
        const char *title = json_get_str(meta, "x-amz-bedrock-kb-title", NULL);
        if (!title)
            title = json_get_str(meta, "title", NULL);
        json_object *score = json_get(r, "score");
        ps[k].text = text;
        ps[k].url = url ? url : "";
        ps[k].title = title ? title : basename_of(ps[k].url);
        ps[k].score = score ? json_object_get_double(score) : 0.0;
        k++;
    }
    *out = ps;
    *n = k;
    *owner = root;
    return 0;
}

void bedrock_passages_free(struct bedrock_passage *p, json_object *owner)
{
    free(p);
    if (owner)
        json_object_put(owner);
}
