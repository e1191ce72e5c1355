/* test_bedrock_wire: the Bedrock client (common/aws/bedrock.c) against a running bedrock-sim.
 *
 * tests/integration/bedrock_wire.sh starts the simulator on a free port with --split-writes
 * (every frame reaches us cut at random byte positions) and passes its URL in SIM_URL. The
 * expected answers come from the simulator's own model (sim_model_reply on the very body the
 * client sends), so "every byte right" is checked against what the server meant to send.
 *
 * One thread drives everything through bedrock_client_wait(), the hooks' turn for a program
 * with no loop of its own; a worker polls bedrock_client_fd() in its own loop instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "../bedrock-sim/sim_model.h"
#include "../unit/test.h"
#include "core/alloc.h"
#include "aws/bedrock.h"
#include "core/buf.h"
#include "aws/creds.h"
#include "simstats.h"
#include "core/utf8.h"

#define MICRO "amazon.nova-micro-v1:0"
#define PRO "amazon.nova-pro-v1:0"
#define SIM_KEY "AKIDEXAMPLE"
#define SIM_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static const char *sim_url;

/* One call's outcome, filled by the callbacks. */
struct outcome {
    struct buf text;
    unsigned long deltas;
    bool split_char;  /* a delta that was not whole UTF-8 */
    bool done;
    struct bedrock_result res;
    struct bedrock_call *call;
    int cancel_after; /* cancel once this many deltas arrived (0: never) */
    size_t held;      /* request body bytes the call still held at its last delta */
    size_t n_passages;
    char first_title[256];
};

static void on_delta(void *user, const char *text, size_t len)
{
    struct outcome *o = user;
    if (!utf8_valid(text, len))
        o->split_char = true;
    buf_append(&o->text, text, len);
    o->deltas++;
    o->held = bedrock_call_request_bytes(o->call);
    if (o->cancel_after && o->deltas == (unsigned long)o->cancel_after)
        bedrock_call_cancel(o->call);
}

static void on_done(void *user, const struct bedrock_result *res)
{
    struct outcome *o = user;
    o->res = *res;
    o->done = true;
    if (res->text)
        buf_append(&o->text, res->text, res->text_len);
    o->n_passages = res->n_passages;
    if (res->n_passages)
        snprintf(o->first_title, sizeof o->first_title, "%s", res->passages[0].title);
    o->res.text = NULL;
    o->res.passages = NULL;
}

static const struct bedrock_callbacks callbacks = {on_delta, on_done};

static void outcome_init(struct outcome *o)
{
    memset(o, 0, sizeof *o);
    buf_init(&o->text, 1u << 20);
}

static struct creds_provider *make_creds(const char *key, const char *secret, const char *token)
{
    struct creds_config cc;
    creds_config_defaults(&cc);
    snprintf(cc.env_access_key_id, sizeof cc.env_access_key_id, "%s", key);
    snprintf(cc.env_secret_access_key, sizeof cc.env_secret_access_key, "%s", secret);
    snprintf(cc.env_session_token, sizeof cc.env_session_token, "%s", token ? token : "");
    cc.imds_disabled = true;
    snprintf(cc.shared_file, sizeof cc.shared_file, "/nonexistent/credentials");
    char err[1024];
    struct creds_provider *p = creds_provider_new(&cc, err, sizeof err);
    if (!p)
        fprintf(stderr, "creds_provider_new: %s\n", err);
    return p;
}

static struct bedrock_client *make_client(struct creds_provider *cp, long idle_s)
{
    struct bedrock_config cfg;
    bedrock_config_defaults(&cfg, "ap-northeast-1");
    snprintf(cfg.runtime_endpoint, sizeof cfg.runtime_endpoint, "%s", sim_url);
    snprintf(cfg.agent_endpoint, sizeof cfg.agent_endpoint, "%s", sim_url);
    cfg.idle_timeout_s = idle_s;
    char err[256];
    struct bedrock_client *c = bedrock_client_new(&cfg, cp, err, sizeof err);
    if (!c)
        fprintf(stderr, "bedrock_client_new: %s\n", err);
    return c;
}

/* Polls until every call has ended, or fails the test after deadline_s. */
static void drive(struct bedrock_client *c, int deadline_s)
{
    time_t end = time(NULL) + deadline_s;
    char err[256];
    while (bedrock_client_active(c) > 0) {
        if (time(NULL) > end) {
            CHECK(!"calls did not finish before the deadline");
            return;
        }
        if (bedrock_client_wait(c, 200, err, sizeof err) < 0) {
            fprintf(stderr, "poll: %s\n", err);
            CHECK(!"bedrock_client_wait failed");
            return;
        }
    }
}

/* Runs one stream to the end with a user message; returns the outcome (caller frees text). */
static void run_one(struct bedrock_client *c, const char *model, const char *message,
                    struct outcome *o, int deadline_s)
{
    struct bedrock_message msg = {"user", message};
    struct bedrock_converse_req req = {.model_id = model, .system = "You are a test.",
                                       .cache_point = true, .messages = &msg, .n_messages = 1,
                                       .max_tokens = 1024, .temperature = 0.3, .top_p = 0.9};
    outcome_init(o);
    o->call = bedrock_converse_stream(c, &req, &callbacks, o);
    drive(c, deadline_s);
    CHECK(o->done);
}

static long sim_stat(const char *name)
{
    return simstats_get(sim_url, name);
}

/* ---- the 200-stream test ----------------------------------------------------------------- */

static const char *const questions[] = {
    "폴이 레벨업을 못 해요. 경험치가 안 올라요.",
    "How do I reset my password if I can't log in?",
    "환불은 어떻게 신청하나요? 결제한 지 3일 됐어요.",
    "When is the next server maintenance?",
    "공대한에게 아이템을 줄 수 있나요?",
    "My inventory is full, what can I do with old items?",
    "계정이 정지되었는데 이의 신청은 어디서 하나요?",
    "마누엘 퀘스트를 깨려면 어떻게 해야 하죠? 🙂",
};

static const char *const documents[] = {
    "<document index=\"1\" title=\"레벨업과 경험치\" url=\"https://support.example.com/ko/level\">\n"
    "폴의 레벨업에는 경험치가 필요합니다. 던전과 퀘스트에서 경험치를 얻을 수 있습니다. "
    "경험치가 오르지 않으면 게임을 재시작하고 최신 버전인지 확인하세요.\n</document>\n",
    "<document index=\"1\" title=\"Account and login\" url=\"https://support.example.com/en/login\">\n"
    "To reset your password, open the login screen and choose Forgot password. "
    "A reset link is sent to your registered e-mail within five minutes.\n</document>\n",
    "",
};

struct stream_case {
    struct outcome o;
    char *body;  /* the exact request body, to ask the simulator's model what it meant */
    size_t body_len;
    const char *model;
};

static void test_200_concurrent_streams_exact(void)
{
    enum { N = 200 };
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    CHECK(cp && c);
    if (!cp || !c)
        return;
    struct stream_case *cases = xcalloc(N, sizeof *cases);
    for (int i = 0; i < N; i++) {
        struct stream_case *k = &cases[i];
        char message[2048];
        snprintf(message, sizeof message,
                 "%sQuestion: %s (#%d)\n#sim:ttft=%d #sim:tps=%d",
                 documents[i % 3], questions[i % 8], i, 20 + i % 50, 400 + (i * 37) % 800);
        struct bedrock_message msg = {"user", message};
        k->model = i % 2 ? PRO : MICRO;
        struct bedrock_converse_req req = {
            .model_id = k->model, .system = "You are the game's support agent.",
            .cache_point = true, .messages = &msg, .n_messages = 1,
            .max_tokens = i % 2 ? 2048 : 1024, .temperature = i % 2 ? 0.5 : 0.3, .top_p = 0.9};
        struct buf body;
        buf_init(&body, 1u << 20);
        bedrock_converse_body(&req, &body);
        k->body = buf_steal(&body, &k->body_len);
        outcome_init(&k->o);
        k->o.call = bedrock_converse_stream(c, &req, &callbacks, &k->o);
    }
    drive(c, 120);
    int exact = 0, korean = 0;
    for (int i = 0; i < N; i++) {
        struct stream_case *k = &cases[i];
        struct sim_reply want;
        char err[256];
        CHECK(k->o.done);
        CHECK(k->o.res.err.code == BR_OK);
        if (k->o.res.err.code != BR_OK)
            fprintf(stderr, "  stream %d: %s: %s\n", i, bedrock_error_name(k->o.res.err.code),
                    k->o.res.err.message);
        if (sim_model_reply(k->model, k->body, k->body_len, &want, err, sizeof err) != 0) {
            fprintf(stderr, "  sim_model_reply: %s\n", err);
            CHECK(!"the simulator's model rejected the client's body");
            continue;
        }
        bool same = k->o.text.len == want.text_len &&
                    memcmp(k->o.text.data, want.text, want.text_len) == 0;
        if (!same)
            fprintf(stderr, "  stream %d differs:\n    got  [%s]\n    want [%.*s]\n", i,
                    buf_cstr(&k->o.text), (int)want.text_len, want.text);
        exact += same;
        CHECK(!k->o.split_char);
        CHECK(k->o.deltas > 0 && k->o.held == 0); /* the prompts went once they were sent */
        CHECK(k->o.res.usage.output_tokens == (long)want.n_cuts);
        CHECK(strcmp(k->o.res.stop_reason, want.stop_reason) == 0);
        CHECK(k->o.res.ttft_ms >= 0 && k->o.res.ttft_ms <= k->o.res.elapsed_ms);
        CHECK(k->o.res.request_id[0] != '\0');
        for (size_t j = 0; j + 2 < k->o.text.len; j++)
            if ((unsigned char)k->o.text.data[j] == 0xEA ||
                (unsigned char)k->o.text.data[j] == 0xEB ||
                (unsigned char)k->o.text.data[j] == 0xEC ||
                (unsigned char)k->o.text.data[j] == 0xED) {
                korean++; /* a Hangul syllable (U+AC00..U+D7A3) starts with EA..ED */
                break;
            }
        sim_reply_free(&want);
        free(k->body);
        buf_free(&k->o.text);
    }
    printf("  %d/%d streams byte-exact, %d with Korean text\n", exact, N, korean);
    CHECK(exact == N);
    CHECK(korean >= N / 4);
    free(cases);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

/* ---- typed errors ------------------------------------------------------------------------ */

static void check_error(const char *key, const char *secret, const char *message,
                        enum bedrock_error code, bool retryable, int status, const char *type)
{
    struct creds_provider *cp = make_creds(key, secret, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    struct outcome o;
    run_one(c, MICRO, message, &o, 30);
    if (o.res.err.code != code)
        fprintf(stderr, "  [%s] got %s (%d %s: %s)\n", message,
                bedrock_error_name(o.res.err.code), o.res.err.http_status, o.res.err.type,
                o.res.err.message);
    CHECK(o.res.err.code == code);
    CHECK(o.res.err.retryable == retryable);
    CHECK(o.res.err.http_status == status);
    CHECK_STR_EQ(o.res.err.type, type);
    CHECK(o.res.err.message[0] != '\0');
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_wrong_secret_is_invalid_signature(void)
{
    check_error(SIM_KEY, "not-the-secret", "hello", BR_ERR_INVALID_SIGNATURE, false, 403,
                "InvalidSignatureException");
}

static void test_unknown_key_is_unrecognized_client(void)
{
    check_error("AKIDUNKNOWN", SIM_SECRET, "hello", BR_ERR_UNRECOGNIZED_CLIENT, false, 403,
                "UnrecognizedClientException");
}

static void test_http_errors_are_typed(void)
{
    static const struct {
        const char *name;
        enum bedrock_error code;
        bool retryable;
        int status;
    } cases[] = {
        {"ValidationException", BR_ERR_VALIDATION, false, 400},
        {"AccessDeniedException", BR_ERR_ACCESS_DENIED, false, 403},
        {"ResourceNotFoundException", BR_ERR_NOT_FOUND, false, 404},
        {"ModelTimeoutException", BR_ERR_MODEL_TIMEOUT, true, 408},
        {"ModelErrorException", BR_ERR_MODEL_ERROR, false, 424},
        {"ThrottlingException", BR_ERR_THROTTLING, true, 429},
        {"ModelNotReadyException", BR_ERR_MODEL_NOT_READY, true, 429},
        {"InternalServerException", BR_ERR_INTERNAL, true, 500},
        {"ServiceUnavailableException", BR_ERR_UNAVAILABLE, true, 503},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "hello #sim:error=%s", cases[i].name);
        check_error(SIM_KEY, SIM_SECRET, msg, cases[i].code, cases[i].retryable,
                    cases[i].status, cases[i].name);
    }
}

static void test_throttle_then_success(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    char message[128];
    snprintf(message, sizeof message, "throttle me %ld #sim:throttle=2 #sim:ttft=5",
             (long)time(NULL));
    long before = sim_stat("throttled");
    for (int attempt = 0; attempt < 3; attempt++) {
        struct outcome o;
        run_one(c, MICRO, message, &o, 30);
        if (attempt < 2) {
            CHECK(o.res.err.code == BR_ERR_THROTTLING);
            CHECK(o.res.err.retryable);
            CHECK(o.res.err.http_status == 429);
            CHECK(o.deltas == 0);
        } else {
            CHECK(o.res.err.code == BR_OK);
            CHECK(o.deltas > 0);
        }
        buf_free(&o.text);
    }
    CHECK(sim_stat("throttled") == before + 2);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_stream_error_after_deltas(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    struct outcome o;
    run_one(c, PRO, "tell me about refunds #sim:stream-error=3 #sim:ttft=5", &o, 30);
    CHECK(o.deltas == 3);
    CHECK(o.res.err.code == BR_ERR_MODEL_STREAM);
    CHECK(o.res.err.retryable);
    CHECK_STR_EQ(o.res.err.type, "modelStreamErrorException");
    buf_free(&o.text);
    run_one(c, PRO, "again #sim:stream-error=1 #sim:stream-error-type=throttlingException", &o,
            30);
    CHECK(o.res.err.code == BR_ERR_THROTTLING && o.res.err.retryable);
    buf_free(&o.text);
    run_one(c, PRO, "again #sim:stream-error=1 #sim:stream-error-type=validationException", &o,
            30);
    CHECK(o.res.err.code == BR_ERR_VALIDATION && !o.res.err.retryable);
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_truncated_stream_is_protocol_error(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    struct outcome o;
    run_one(c, MICRO, "cut me off #sim:drop=4 #sim:ttft=5", &o, 30);
    CHECK(o.deltas == 4);
    CHECK(o.res.err.code == BR_ERR_PROTOCOL);
    CHECK(o.res.err.retryable);
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_idle_timeout_on_stall(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 1);
    struct outcome o;
    run_one(c, MICRO, "wait #sim:stall=4000 #sim:len=20 #sim:ttft=5", &o, 30);
    CHECK(o.res.err.code == BR_ERR_IDLE_TIMEOUT);
    CHECK(o.res.err.retryable);
    CHECK(o.deltas > 0 && o.deltas < 20);
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_cancel_aborts_the_simulator_stream(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    long aborted = sim_stat("streams_aborted");
    struct bedrock_message msg = {"user", "long answer please #sim:len=500 #sim:tps=50"};
    struct bedrock_converse_req req = {.model_id = PRO, .messages = &msg, .n_messages = 1,
                                       .max_tokens = 2048, .temperature = -1, .top_p = -1};
    struct outcome o;
    outcome_init(&o);
    o.cancel_after = 2;
    o.call = bedrock_converse_stream(c, &req, &callbacks, &o);
    drive(c, 30);
    CHECK(o.res.err.code == BR_ERR_CANCELED);
    CHECK(o.deltas == 2);
    /* The simulator notices the closed connection at its next write (within 1/50 s). */
    long now = aborted;
    for (int i = 0; i < 50 && now == aborted; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        now = sim_stat("streams_aborted");
    }
    CHECK(now == aborted + 1);
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

/* A stream waiting for its first token holds no request: the body (and header list) goes once
 * the 200's headers are in, not at the first event, which a slow model keeps back. */
static void test_request_freed_before_first_token(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    struct bedrock_message msg = {"user", "slow start #sim:ttft=2000 #sim:len=5"};
    struct bedrock_converse_req req = {.model_id = MICRO, .system = "You are a test.",
                                       .messages = &msg, .n_messages = 1, .max_tokens = 1024,
                                       .temperature = -1, .top_p = -1};
    struct outcome o;
    outcome_init(&o);
    o.call = bedrock_converse_stream(c, &req, &callbacks, &o);
    size_t at_start = bedrock_call_request_bytes(o.call), waiting = at_start;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[256];
    double ms = 0;
    while (o.deltas == 0 && !o.done && waiting > 0 && ms < 1500) {
        CHECK(bedrock_client_wait(c, 50, err, sizeof err) >= 0);
        if (!o.done)
            waiting = bedrock_call_request_bytes(o.call);
        clock_gettime(CLOCK_MONOTONIC, &t);
        ms = (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
    }
    printf("  request %zu bytes at the start, %zu after %.0f ms with no token yet\n", at_start,
           waiting, ms);
    CHECK(at_start > 0);
    CHECK(o.deltas == 0 && !o.done && waiting == 0);
    drive(c, 30);
    CHECK(o.done && o.res.err.code == BR_OK && o.deltas > 0);
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_session_token_is_signed(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, "FQoGZXIvYXdzEXAMPLETOKEN");
    struct bedrock_client *c = make_client(cp, 30);
    struct outcome o;
    run_one(c, MICRO, "token test #sim:ttft=5", &o, 30);
    CHECK(o.res.err.code == BR_OK);
    CHECK(o.deltas > 0);
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_converse_equals_stream(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    const char *message = "레벨업이 안 돼요 #sim:ttft=5";
    struct outcome streamed, whole;
    run_one(c, PRO, message, &streamed, 30);
    struct bedrock_message msg = {"user", message};
    struct bedrock_converse_req req = {.model_id = PRO, .system = "You are a test.",
                                       .cache_point = true, .messages = &msg, .n_messages = 1,
                                       .max_tokens = 1024, .temperature = 0.3, .top_p = 0.9};
    outcome_init(&whole);
    whole.call = bedrock_converse(c, &req, &callbacks, &whole);
    drive(c, 30);
    CHECK(whole.res.err.code == BR_OK);
    CHECK(streamed.text.len > 0);
    CHECK_STR_EQ(buf_cstr(&whole.text), buf_cstr(&streamed.text));
    CHECK(whole.res.usage.output_tokens == streamed.res.usage.output_tokens);
    /* The same cacheable prefix was sent before: Bedrock-style cache accounting. */
    CHECK(whole.res.usage.cache_read_tokens > 0);
    buf_free(&streamed.text);
    buf_free(&whole.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

static void test_retrieve_returns_passages(void)
{
    struct creds_provider *cp = make_creds(SIM_KEY, SIM_SECRET, NULL);
    struct bedrock_client *c = make_client(cp, 30);
    struct outcome o;
    outcome_init(&o);
    o.call = bedrock_retrieve(c, "KBTEST1234", "환불 신청 방법", 5, &callbacks, &o);
    drive(c, 30);
    CHECK(o.res.err.code == BR_OK);
    CHECK(o.n_passages > 0 && o.n_passages <= 5);
    CHECK(o.first_title[0] != '\0');
    buf_free(&o.text);
    bedrock_client_free(c);
    creds_provider_free(cp);
}

int main(void)
{
    sim_url = getenv("SIM_URL");
    if (!sim_url) {
        fprintf(stderr, "SIM_URL is not set (run tests/integration/bedrock_wire.sh)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_200_concurrent_streams_exact);
    RUN(test_wrong_secret_is_invalid_signature);
    RUN(test_unknown_key_is_unrecognized_client);
    RUN(test_http_errors_are_typed);
    RUN(test_throttle_then_success);
    RUN(test_stream_error_after_deltas);
    RUN(test_truncated_stream_is_protocol_error);
    RUN(test_idle_timeout_on_stall);
    RUN(test_cancel_aborts_the_simulator_stream);
    RUN(test_request_freed_before_first_token);
    RUN(test_session_token_is_signed);
    RUN(test_converse_equals_stream);
    RUN(test_retrieve_returns_passages);
    curl_global_cleanup();
    return test_summary();
}
