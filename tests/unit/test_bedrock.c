/* Unit tests for the Bedrock client that need no server: the protocol layer of
 * common/aws/bedrock_proto.c and delta_scan.c (request bodies, events, responses, the error
 * classification) and the loop hooks of common/aws/bedrock.c. The wire behaviour is tested
 * against bedrock-sim in tests/integration/test_bedrock_wire.c. */
#include "aws/bedrock.h"
#include "aws/bedrock_proto.h"

#include <poll.h>
#include <pthread.h>
#include <time.h>

#include <json-c/json.h>

#include "test.h"

/* json-c's reading of root.delta.text, or NULL: what bedrock_delta_scan must agree with. */
static const char *jsonc_delta_text(const char *p, size_t *len, json_object **owner)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, p, (int)strlen(p)), *d, *t;
    json_tokener_free(tok);
    *owner = o;
    if (!o || !json_object_object_get_ex(o, "delta", &d) ||
        !json_object_object_get_ex(d, "text", &t) || !json_object_is_type(t, json_type_string))
        return NULL;
    *len = (size_t)json_object_get_string_len(t);
    return json_object_get_string(t);
}

static void test_delta_scan_agrees_with_jsonc(void)
{
    static const struct { const char *payload, *want; bool sure; } cases[] = {
        {"{\"contentBlockIndex\":0,\"delta\":{\"text\":\"폴은\"},\"p\":\"abcdefgh\"}", "폴은", true},
        {" {\"p\":\"x\", \"delta\" : { \"text\" : \"a \\\"b\\\" \\\\ \\/ \\n\\t\" } } ", "a \"b\" \\ / \n\t", true},
        {"{\"delta\":{\"text\":\"\\uD55C\\uAE00 \\u00e9\"}}", "한글 é", true},
        {"{\"delta\":{\"text\":\"\\ud83d\\ude00\"}}", NULL, false},   /* surrogates: json-c's */
        {"{\"a\":[1,-2.5e+3,true,false,null,{\"b\":[]}],\"delta\":{\"x\":{},\"text\":\"\"}}", "", true},
        {"{\"delta\":{\"text\":\"a\",\"text\":\"b\"}}", NULL, false},      /* twice: json-c's call */
        {"{\"delt\\u0061\":{\"text\":\"a\"}}", NULL, false},              /* an escaped key */
        {"{\"delta\":{\"text\":\"\\ud800\"}}", NULL, false},             /* a lone surrogate */
        {"{\"delta\":{\"text\":\"a\\u0000b\"}}", NULL, false},           /* NUL inside */
        {"{\"delta\":{\"text\":\"a\"}} x", NULL, false},                 /* bytes after */
        {"{\"delta\":{\"toolUse\":{\"input\":\"{}\"}}}", NULL, false},     /* no text */
        {"{\"n\":12345678901234567890,\"delta\":{\"text\":\"a\"}}", NULL, false}, /* long number */
        {"{\"delta\":{\"text\":\"a\"},}", NULL, false},                  /* trailing comma */
        {"[{\"delta\":{\"text\":\"a\"}}]", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = cases[i].payload, *text = NULL;
        size_t len = 0, jlen = 0;
        char room[512];
        int sure = bedrock_delta_scan(p, strlen(p), &text, &len, room, sizeof room);
        CHECK(sure == cases[i].sure);
        if (!sure)
            continue;
        CHECK(len == strlen(cases[i].want) && memcmp(text, cases[i].want, len) == 0);
        json_object *owner;
        const char *jt = jsonc_delta_text(p, &jlen, &owner);
        CHECK(jt && jlen == len && memcmp(jt, text, len) == 0);
        json_object_put(owner);
    }
    /* A text whose decoded escapes do not fit the room: json-c's turn. */
    char big[2048] = "{\"delta\":{\"text\":\"";
    for (int i = 0; i < 200; i++)
        strcat(big, "\\n\\t");
    strcat(big, "\"}}");
    const char *text;
    size_t len;
    char room[64];
    CHECK(bedrock_delta_scan(big, strlen(big), &text, &len, room, sizeof room) == 0);
}

static void test_body_has_cache_point_after_system(void)
{
    struct bedrock_message msgs[] = {{"user", "폴이 뭐예요?"}, {"assistant", "주인공입니다."},
                                     {"user", "Tell me \"more\""}};
    struct bedrock_converse_req req = {.model_id = "amazon.nova-pro-v1:0",
                                       .system = "You are support.",
                                       .cache_point = true,
                                       .system_suffix = "Today is Monday.",
                                       .messages = msgs,
                                       .n_messages = 3,
                                       .max_tokens = 2048,
                                       .temperature = 0.5,
                                       .top_p = 0.9};
    struct buf b;
    buf_init(&b, 1 << 16);
    CHECK(bedrock_converse_body(&req, &b) == 0);
    CHECK_STR_EQ(buf_cstr(&b),
                 "{\"system\":[{\"text\":\"You are support.\"},{\"cachePoint\":{\"type\":"
                 "\"default\"}},{\"text\":\"Today is Monday.\"}],\"messages\":[{\"role\":"
                 "\"user\",\"content\":[{\"text\":\"폴이 뭐예요?\"}]},{\"role\":\"assistant\","
                 "\"content\":[{\"text\":\"주인공입니다.\"}]},{\"role\":\"user\",\"content\":"
                 "[{\"text\":\"Tell me \\\"more\\\"\"}]}],\"inferenceConfig\":{\"maxTokens\":"
                 "2048,\"temperature\":0.5,\"topP\":0.9}}");
    buf_free(&b);
}

static void test_body_omits_unset_fields(void)
{
    struct bedrock_message m = {"user", "hi"};
    struct bedrock_converse_req req = {.model_id = "m", .messages = &m, .n_messages = 1,
                                       .max_tokens = 0, .temperature = -1, .top_p = -1};
    struct buf b;
    buf_init(&b, 1 << 16);
    CHECK(bedrock_converse_body(&req, &b) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
                               "\"hi\"}]}],\"inferenceConfig\":{}}");
    buf_free(&b);
}

/* With a guardrail the body gains one member, guardrailConfig, after inferenceConfig; the bytes
 * before it are those of the body without one, and without one (or with an empty id) nothing
 * changes. ConverseStream's carries streamProcessingMode, Converse's does not. */
static void test_body_guardrail(void)
{
    struct bedrock_message msgs[] = {{"user", "환불 규정"}};
    struct bedrock_converse_req req = {.model_id = "amazon.nova-pro-v1:0", .system = "S",
                                       .cache_point = true, .messages = msgs, .n_messages = 1,
                                       .max_tokens = 512, .temperature = -1, .top_p = -1};
    static const char plain[] =
        "{\"system\":[{\"text\":\"S\"},{\"cachePoint\":{\"type\":\"default\"}}],\"messages\":"
        "[{\"role\":\"user\",\"content\":[{\"text\":\"환불 규정\"}]}],\"inferenceConfig\":"
        "{\"maxTokens\":512}}";
    struct buf b;
    buf_init(&b, 1 << 16);
    CHECK(bedrock_converse_body(&req, &b) == 0);
    CHECK_STR_EQ(buf_cstr(&b), plain);
    struct bedrock_guardrail none = {.id = "", .version = "1"};
    req.guardrail = &none;
    req.stream = true;
    buf_reset(&b);
    CHECK(bedrock_converse_body(&req, &b) == 0);
    CHECK_STR_EQ(buf_cstr(&b), plain);

    struct bedrock_guardrail g = {.id = "gr0abc12", .version = "3", .mode = BR_GUARDRAIL_SYNC};
    req.guardrail = &g;
    buf_reset(&b);
    CHECK(bedrock_converse_body(&req, &b) == 0);
    CHECK(strncmp(buf_cstr(&b), plain, sizeof plain - 2) == 0);
    CHECK_STR_EQ(buf_cstr(&b) + sizeof plain - 2,
                 ",\"guardrailConfig\":{\"guardrailIdentifier\":\"gr0abc12\",\"guardrailVersion\":"
                 "\"3\",\"trace\":\"disabled\",\"streamProcessingMode\":\"sync\"}}");
    g.mode = BR_GUARDRAIL_ASYNC;
    g.trace = BR_TRACE_ENABLED;
    buf_reset(&b);
    CHECK(bedrock_converse_body(&req, &b) == 0);
    CHECK(strstr(buf_cstr(&b), "\"trace\":\"enabled\",\"streamProcessingMode\":\"async\"}}") != NULL);
    req.stream = false; /* Converse: a GuardrailConfiguration */
    buf_reset(&b);
    CHECK(bedrock_converse_body(&req, &b) == 0);
    CHECK_STR_EQ(buf_cstr(&b) + sizeof plain - 2,
                 ",\"guardrailConfig\":{\"guardrailIdentifier\":\"gr0abc12\",\"guardrailVersion\":"
                 "\"3\",\"trace\":\"enabled\"}}");
    buf_free(&b);
}

static void test_guardrail_check(void)
{
    static const struct { const char *id, *version; int ok; } cases[] = {
        {"gr0abc12", "1", 0},
        {"gr0abc12", "DRAFT", 0},
        {"gr0abc12", "99999999", 0},
        {"arn:aws:bedrock:ap-northeast-1:123456789012:guardrail/abc123", "2", 0},
        {"arn:aws-cn:bedrock:cn-north-1:123456789012:guardrail/abc123", "2", 0},
        {"GR0ABC", "1", -1},                 /* upper case */
        {"gr 1", "1", -1},
        {"", "1", -1},
        {"gr1", "0", -1},
        {"gr1", "01", -1},
        {"gr1", "123456789", -1},            /* 9 digits */
        {"gr1", "draft", -1},
        {"gr1", "", -1},
        {"arn:aws:bedrock:ap-northeast-1:12345678901:guardrail/abc", "1", -1}, /* 11 digits */
        {"arn:aws:bedrock:ap-northeast-1:123456789012:guardrail/", "1", -1},
        {"arn:aws:s3:ap-northeast-1:123456789012:guardrail/abc", "1", -1},
        {"arn:aws:bedrock:ap-northeast-1", "1", -1},
        {"arn:aws:bedrock:ap-northeast-1:123456789012:agent/abc", "1", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct bedrock_guardrail g = {0};
        snprintf(g.id, sizeof g.id, "%s", cases[i].id);
        snprintf(g.version, sizeof g.version, "%s", cases[i].version);
        char err[256] = "";
        int rc = bedrock_guardrail_check(&g, err, sizeof err);
        if (rc != cases[i].ok)
            fprintf(stderr, "  case %zu: %s / %s → %d (%s)\n", i, cases[i].id, cases[i].version,
                    rc, err);
        CHECK(rc == cases[i].ok);
        CHECK(rc == 0 || err[0] != '\0');
    }
}

static void test_body_respects_cap(void)
{
    struct bedrock_message m = {"user", "a long enough message"};
    struct bedrock_converse_req req = {.model_id = "m", .messages = &m, .n_messages = 1};
    struct buf b;
    buf_init(&b, 16);
    CHECK(bedrock_converse_body(&req, &b) == -1);
    CHECK(b.len == 0);
    buf_free(&b);
}

static void test_classify_http_error_types(void)
{
    static const struct {
        const char *type;
        int status;
        enum bedrock_error code;
        bool retryable;
    } cases[] = {
        {"ValidationException", 400, BR_ERR_VALIDATION, false},
        {"AccessDeniedException", 403, BR_ERR_ACCESS_DENIED, false},
        {"InvalidSignatureException", 403, BR_ERR_INVALID_SIGNATURE, false},
        {"UnrecognizedClientException", 403, BR_ERR_UNRECOGNIZED_CLIENT, false},
        {"ExpiredTokenException", 403, BR_ERR_EXPIRED_TOKEN, true},
        {"ResourceNotFoundException", 404, BR_ERR_NOT_FOUND, false},
        {"ModelTimeoutException", 408, BR_ERR_MODEL_TIMEOUT, true},
        {"ModelErrorException", 424, BR_ERR_MODEL_ERROR, false},
        {"ThrottlingException", 429, BR_ERR_THROTTLING, true},
        {"ModelNotReadyException", 429, BR_ERR_MODEL_NOT_READY, true},
        {"InternalServerException", 500, BR_ERR_INTERNAL, true},
        {"ServiceUnavailableException", 503, BR_ERR_UNAVAILABLE, true},
        /* exception events after a 200 use lowerCamelCase names */
        {"throttlingException", 200, BR_ERR_THROTTLING, true},
        {"modelStreamErrorException", 200, BR_ERR_MODEL_STREAM, true},
        {"validationException", 200, BR_ERR_VALIDATION, false},
        {"internalServerException", 200, BR_ERR_INTERNAL, true},
        {"serviceUnavailableException", 200, BR_ERR_UNAVAILABLE, true},
        /* unknown names: the status decides */
        {"SomethingNewException", 502, BR_ERR_HTTP, true},
        {"SomethingNewException", 409, BR_ERR_HTTP, false},
        {"", 429, BR_ERR_HTTP, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct bedrock_error_info e = {0};
        bedrock_classify_error(cases[i].type, cases[i].status, &e);
        CHECK(e.code == cases[i].code);
        CHECK(e.retryable == cases[i].retryable);
        CHECK(e.http_status == cases[i].status);
        CHECK_STR_EQ(e.type, cases[i].type);
    }
}

static void test_error_names_are_distinct(void)
{
    for (int a = BR_OK; a <= BR_ERR_CANCELED; a++) {
        CHECK(strcmp(bedrock_error_name((enum bedrock_error)a), "unknown") != 0);
        for (int b = a + 1; b <= BR_ERR_CANCELED; b++)
            CHECK(strcmp(bedrock_error_name((enum bedrock_error)a),
                         bedrock_error_name((enum bedrock_error)b)) != 0);
    }
}

static void test_client_rejects_bad_endpoint(void)
{
    struct bedrock_config cfg;
    bedrock_config_defaults(&cfg, "us-east-1");
    CHECK_STR_EQ(cfg.runtime_endpoint, "https://bedrock-runtime.us-east-1.amazonaws.com");
    CHECK_STR_EQ(cfg.agent_endpoint, "https://bedrock-agent-runtime.us-east-1.amazonaws.com");
    snprintf(cfg.runtime_endpoint, sizeof cfg.runtime_endpoint, "ftp://example.com");
    char err[256] = "";
    CHECK(bedrock_client_new(&cfg, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "scheme") != NULL);
}

struct hook_done {
    int calls;
    enum bedrock_error code;
};

static void hook_on_done(void *user, const struct bedrock_result *res)
{
    struct hook_done *d = user;
    d->calls++;
    d->code = res->err.code;
}

static bool fd_readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The hooks a program's loop drives, without a server: an idle client asks for no turn and its
 * descriptor is quiet; a wakeup makes the descriptor readable until the next process; a call
 * that fails at start asks for a turn at once and ends in it, never inside the start. */
static void test_client_hooks(void)
{
    struct bedrock_config cfg;
    bedrock_config_defaults(&cfg, "us-east-1");
    char err[256] = "";
    struct bedrock_client *c = bedrock_client_new(&cfg, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (!c)
        return;
    int fd = bedrock_client_fd(c);
    CHECK(fd >= 0);
    CHECK(bedrock_client_timeout_ms(c) == -1);
    CHECK(!fd_readable(fd));
    bedrock_client_wakeup(c);
    CHECK(fd_readable(fd));
    CHECK(bedrock_client_process(c, err, sizeof err) == 0);
    CHECK(!fd_readable(fd));

    struct hook_done bad = {0}, canceled = {0};
    struct bedrock_callbacks cb = {NULL, hook_on_done};
    struct bedrock_converse_req req = {.model_id = ""};
    bedrock_converse_stream(c, &req, &cb, &bad);
    struct bedrock_call *call = bedrock_converse(c, &req, &cb, &canceled);
    bedrock_call_cancel(call);
    CHECK(bedrock_client_active(c) == 2);
    CHECK(bedrock_client_timeout_ms(c) == 0);
    CHECK(bad.calls == 0 && canceled.calls == 0);
    CHECK(bedrock_client_process(c, err, sizeof err) == 0);
    CHECK(bad.calls == 1 && bad.code == BR_ERR_VALIDATION);
    CHECK(canceled.calls == 1 && canceled.code == BR_ERR_CANCELED);
    CHECK(bedrock_client_active(c) == 0);
    CHECK(bedrock_client_timeout_ms(c) == -1);
    CHECK(bedrock_client_wait(c, 0, err, sizeof err) == 0);
    bedrock_client_free(c);
}

static void *ring(void *arg)
{
    bedrock_client_wakeup(arg);
    return NULL;
}

/* A wakeup from another thread ends a wait that nothing else would end for 10 s. */
static void test_client_wakeup_ends_wait(void)
{
    struct bedrock_config cfg;
    bedrock_config_defaults(&cfg, "us-east-1");
    char err[256] = "";
    struct bedrock_client *c = bedrock_client_new(&cfg, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (!c)
        return;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, ring, c) == 0);
    time_t t0 = time(NULL);
    CHECK(bedrock_client_wait(c, 10000, err, sizeof err) == 0);
    CHECK(time(NULL) - t0 < 5);
    pthread_join(t, NULL);
    bedrock_client_free(c);
}

/* Encodes one event-stream message with string headers and decodes it back for the parser. */
struct one_event {
    struct bedrock_event ev;
    int rc;
    json_tokener *tok;
};

static int on_msg(void *user, const struct es_message *m)
{
    struct one_event *o = user;
    o->rc = bedrock_event_parse(o->tok, m, 200, &o->ev);
    return 0;
}

static void parse_event(const char *mtype, const char *kind_header, const char *kind,
                        const char *payload, struct one_event *o)
{
    const char *names[3] = {":message-type", kind_header, ":content-type"};
    const char *values[3] = {mtype, kind, "application/json"};
    struct buf frame;
    buf_init(&frame, 1 << 20);
    CHECK(es_encode_strings(&frame, names, values, kind_header ? 3 : 1, payload,
                            strlen(payload)) == 0);
    struct es_decoder d;
    es_decoder_init(&d);
    memset(o, 0, sizeof *o);
    o->tok = json_tokener_new();
    o->rc = 99;
    CHECK(es_decoder_feed(&d, frame.data, frame.len, on_msg, o) == 0);
    es_decoder_free(&d);
    buf_free(&frame);
}

static void done_event(struct one_event *o)
{
    bedrock_event_release(&o->ev);
    json_tokener_free(o->tok);
}

static void test_event_delta_ignores_padding(void)
{
    struct one_event o;
    parse_event("event", ":event-type", "contentBlockDelta",
                "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"폴이 \"},\"p\":\"abcdefgh\"}", &o);
    CHECK(o.rc == 0);
    CHECK(o.ev.kind == BR_EVENT_DELTA);
    CHECK(o.ev.text_len == strlen("폴이 ") && memcmp(o.ev.text, "폴이 ", o.ev.text_len) == 0);
    done_event(&o);
}

static void test_event_stop_and_metadata(void)
{
    struct one_event o;
    parse_event("event", ":event-type", "messageStop",
                "{\"p\":\"xy\",\"stopReason\":\"max_tokens\"}", &o);
    CHECK(o.rc == 0 && o.ev.kind == BR_EVENT_STOP);
    CHECK_STR_EQ(o.ev.stop_reason, "max_tokens");
    done_event(&o);
    parse_event("event", ":event-type", "metadata",
                "{\"metrics\":{\"latencyMs\":812},\"p\":\"q\",\"usage\":{\"inputTokens\":"
                "120,\"outputTokens\":48,\"totalTokens\":168,\"cacheReadInputTokens\":100,"
                "\"cacheWriteInputTokens\":7}}",
                &o);
    CHECK(o.rc == 0 && o.ev.kind == BR_EVENT_METADATA);
    CHECK(o.ev.latency_ms == 812);
    CHECK(o.ev.usage.input_tokens == 120 && o.ev.usage.output_tokens == 48);
    CHECK(o.ev.usage.cache_read_tokens == 100 && o.ev.usage.cache_write_tokens == 7);
    done_event(&o);
}

static void test_event_exception_is_typed(void)
{
    struct one_event o;
    parse_event("exception", ":exception-type", "throttlingException",
                "{\"message\":\"Too many tokens, please wait before trying again.\"}", &o);
    CHECK(o.rc == 0 && o.ev.kind == BR_EVENT_ERROR);
    CHECK(o.ev.err.code == BR_ERR_THROTTLING && o.ev.err.retryable);
    CHECK_STR_EQ(o.ev.err.type, "throttlingException");
    CHECK_STR_EQ(o.ev.err.message, "Too many tokens, please wait before trying again.");
    done_event(&o);
}

static void test_event_malformed(void)
{
    struct one_event o;
    parse_event("event", NULL, NULL, "{}", &o); /* no :event-type */
    CHECK(o.rc == -1 && o.ev.kind == BR_EVENT_ERROR && o.ev.err.code == BR_ERR_PROTOCOL);
    done_event(&o);
    parse_event("event", ":event-type", "contentBlockDelta", "{\"delta\":", &o);
    CHECK(o.rc == -1 && o.ev.err.code == BR_ERR_PROTOCOL);
    done_event(&o);
    parse_event("event", ":event-type", "messageStart", "not json, not read", &o);
    CHECK(o.rc == 0 && o.ev.kind == BR_EVENT_IGNORED);
    done_event(&o);
}

static void test_converse_parse(void)
{
    const char *body = "{\"metrics\":{\"latencyMs\":300},\"output\":{\"message\":{\"content\":"
                       "[{\"text\":\"첫째 \"},{\"text\":\"둘째\"}],\"role\":\"assistant\"}},"
                       "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":9,"
                       "\"outputTokens\":3}}";
    json_tokener *tok = json_tokener_new();
    struct bedrock_result res = {0};
    struct buf text;
    buf_init(&text, 1 << 16);
    CHECK(bedrock_converse_parse(tok, body, strlen(body), &text, &res) == 0);
    CHECK_STR_EQ(buf_cstr(&text), "첫째 둘째");
    CHECK_STR_EQ(res.stop_reason, "end_turn");
    CHECK(res.usage.input_tokens == 9 && res.usage.output_tokens == 3 && res.latency_ms == 300);
    buf_reset(&text);
    CHECK(bedrock_converse_parse(tok, "{\"output\":{}}", 13, &text, &res) == -1);
    CHECK(res.err.code == BR_ERR_PROTOCOL);
    buf_free(&text);
    json_tokener_free(tok);
}

static void test_retrieve_parse(void)
{
    const char *body =
        "{\"retrievalResults\":[{\"content\":{\"text\":\"환불은 7일 이내\"},\"location\":"
        "{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://s.example.com/ko/refund\"}},"
        "\"metadata\":{\"x-amz-bedrock-kb-title\":\"환불 정책\"},\"score\":0.71},"
        "{\"content\":{\"text\":\"s3 doc\"},\"location\":{\"s3Location\":{\"uri\":"
        "\"s3://bucket/guide.md\"}},\"score\":0.2},{\"content\":{}}]}";
    json_tokener *tok = json_tokener_new();
    struct bedrock_passage *ps;
    size_t n;
    json_object *owner;
    char err[128];
    CHECK(bedrock_retrieve_parse(tok, body, strlen(body), &ps, &n, &owner, err, sizeof err) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK_STR_EQ(ps[0].title, "환불 정책");
        CHECK_STR_EQ(ps[0].url, "https://s.example.com/ko/refund");
        CHECK(ps[0].score > 0.7 && ps[0].score < 0.72);
        CHECK_STR_EQ(ps[1].title, "guide.md"); /* no title: the URL's last part */
        CHECK_STR_EQ(ps[1].url, "s3://bucket/guide.md");
    }
    bedrock_passages_free(ps, owner);
    CHECK(bedrock_retrieve_parse(tok, "[]", 2, &ps, &n, &owner, err, sizeof err) == -1);
    json_tokener_free(tok);
}

static void error_message(json_tokener *tok, const char *body, char *msg, size_t len)
{
    bedrock_error_message_parse(tok, body, strlen(body), msg, len);
}

static void test_error_body_message(void)
{
    json_tokener *tok = json_tokener_new();
    char msg[64];
    error_message(tok, "{\"message\":\"The model is not ready\"}", msg, sizeof msg);
    CHECK_STR_EQ(msg, "The model is not ready");
    error_message(tok, "{\"Message\":\"User: arn:x is not authorized\"}", msg, sizeof msg);
    CHECK_STR_EQ(msg, "User: arn:x is not authorized");
    error_message(tok, "<html>\n502 Bad\x01Gateway", msg, sizeof msg);
    CHECK_STR_EQ(msg, "<html>?502 Bad?Gateway");
    json_tokener_free(tok);
}

int main(void)
{
    RUN(test_event_delta_ignores_padding);
    RUN(test_event_stop_and_metadata);
    RUN(test_event_exception_is_typed);
    RUN(test_event_malformed);
    RUN(test_delta_scan_agrees_with_jsonc);
    RUN(test_converse_parse);
    RUN(test_retrieve_parse);
    RUN(test_error_body_message);
    RUN(test_body_has_cache_point_after_system);
    RUN(test_body_omits_unset_fields);
    RUN(test_body_guardrail);
    RUN(test_guardrail_check);
    RUN(test_body_respects_cap);
    RUN(test_classify_http_error_types);
    RUN(test_error_names_are_distinct);
    RUN(test_client_rejects_bad_endpoint);
    RUN(test_client_hooks);
    RUN(test_client_wakeup_ends_wait);
    return test_summary();
}
