/* Unit tests for common/core/config.c and common/aws/aws_config.c: defaults, validation, and
 * that printing never shows a secret. Each test sets the variables it needs and clears the
 * rest. A program that calls AWS reads both; the tests do too. */
#include "core/config.h"

#include <stdlib.h>

#include "aws/aws_config.h"

#include "test.h"

static const char *const vars[] = {
    "NOVA_BACKEND", "NOVA_MICRO_MODEL", "NOVA_PRO_MODEL", "NOVA_KB_BACKEND", "NOVA_KB_ID",
    "NOVA_LOG_LEVEL", "AWS_REGION", "AWS_DEFAULT_REGION", "NOVA_BEDROCK_ENDPOINT",
    "NOVA_KB_ENDPOINT", "NOVA_BEDROCK_IDLE_TIMEOUT_S", "NOVA_BEDROCK_CONNECT_TIMEOUT_MS",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "NOVA_RUN_DIR", "NOVA_REDIS_URL", "NOVA_RETRY_MAX_ATTEMPTS", "NOVA_RETRY_BASE_MS",
    "NOVA_RETRY_CAP_MS", "NOVA_VISIBILITY_TIMEOUT_S", "NOVA_MAX_DELIVERIES",
    "NOVA_WORKER_OUTBOX_KB", "NOVA_API_KEY", "NOVA_MAX_RESUMES_PER_REQUEST",
    "NOVA_FCGI_SOCKET_MODE", "NOVA_FCGI_SOCKET_GROUP", "NOVA_FEEDBACK_MAX", "NOVA_REDIS_TLS_CA_FILE",
    "NOVA_REDIS_TLS_CERT_FILE", "NOVA_REDIS_TLS_KEY_FILE",
    "NOVA_GUARDRAIL_ID", "NOVA_GUARDRAIL_VERSION", "NOVA_GUARDRAIL_STREAM_MODE", "NOVA_GUARDRAIL_TRACE",
    "NOVA_GAP_WEAK_SCORE", "NOVA_GAPS_MAX", "NOVA_FCGI_STREAMS", "NOVA_FCGI_THREADS",
    "NOVA_MAX_STREAMS",
    "NOVA_HANDOFF_URL", "NOVA_HANDOFF_SECRET", "NOVA_HANDOFF_TIMEOUT_MS",
    "NOVA_HANDOFF_MAX_ATTEMPTS", "NOVA_HANDOFF_RETRY_BASE_MS", "NOVA_HANDOFF_RETRY_CAP_MS",
};

struct cfgs {
    struct nova_config core;
    struct aws_config aws;
};

/* Both, as nova-worker reads them: -1 when either refuses. */
static int load(struct cfgs *c, char *err, size_t errlen)
{
    return config_from_env(&c->core, err, errlen) == 0 &&
                   aws_config_from_env(&c->aws, err, errlen) == 0
               ? 0
               : -1;
}

static void print_both(const struct cfgs *c, FILE *f)
{
    config_print(&c->core, f);
    aws_config_print(&c->aws, f);
}

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

/* What the programs print at start for c (free it). */
static char *printed(const struct cfgs *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    print_both(c, f);
    fclose(f);
    return text;
}

/* Each of the n values of var is refused with a message naming var; var is unset after. */
static void refuses(const char *var, const char *const *bad, size_t n)
{
    struct cfgs c;
    char err[256];
    for (size_t i = 0; i < n; i++) {
        setenv(var, bad[i], 1);
        err[0] = '\0';
        CHECK(load(&c, err, sizeof err) == -1 && strstr(err, var) != NULL);
    }
    unsetenv(var);
}

/* Each {variable, value}, set alone, is refused with a message naming the variable. */
static void refuses_alone(const char *const (*bad)[2], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        clear_env();
        refuses(bad[i][0], &bad[i][1], 1);
    }
    clear_env();
}

static void test_defaults(void)
{
    clear_env();
    struct cfgs c;
    char err[256];
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.core.backend == BACKEND_SIM);
    CHECK_STR_EQ(c.core.micro_model, "amazon.nova-micro-v1:0");
    CHECK_STR_EQ(c.core.pro_model, "amazon.nova-pro-v1:0");
    CHECK(c.core.kb_backend == KB_LOCAL);
    CHECK_STR_EQ(c.aws.bedrock.region, "ap-northeast-1");
    CHECK_STR_EQ(c.aws.bedrock.runtime_endpoint, "https://bedrock-runtime.ap-northeast-1.amazonaws.com");
    CHECK_STR_EQ(c.aws.bedrock.agent_endpoint,
                 "https://bedrock-agent-runtime.ap-northeast-1.amazonaws.com");
    CHECK(c.aws.bedrock.idle_timeout_s == 60);
    CHECK(c.core.run_dir[0] == '/'); /* made absolute, so the default socket URL parses */
    CHECK(strncmp(c.core.redis_url, "unix:///", 8) == 0);
    CHECK(strstr(c.core.redis_url, "/run/redis.sock") != NULL);
}

static void test_region_and_endpoints_from_env(void)
{
    clear_env();
    setenv("AWS_REGION", "us-west-2", 1);
    setenv("NOVA_KB_ENDPOINT", "http://127.0.0.1:9", 1);
    setenv("NOVA_BEDROCK_IDLE_TIMEOUT_S", "5", 1);
    struct cfgs c;
    char err[256];
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK_STR_EQ(c.aws.bedrock.runtime_endpoint, "https://bedrock-runtime.us-west-2.amazonaws.com");
    CHECK_STR_EQ(c.aws.bedrock.agent_endpoint, "http://127.0.0.1:9");
    CHECK(c.aws.bedrock.idle_timeout_s == 5);
    clear_env();
}

static void test_bad_values_name_the_variable(void)
{
    static const char *const bad[][2] = {
        {"NOVA_BACKEND", "aws"},
        {"NOVA_KB_BACKEND", "pinecone"},
        {"NOVA_LOG_LEVEL", "loud"},
        {"NOVA_BEDROCK_IDLE_TIMEOUT_S", "0"},
        {"NOVA_BEDROCK_IDLE_TIMEOUT_S", "12abc"},
        {"NOVA_BEDROCK_CONNECT_TIMEOUT_MS", "99999999999999999999"},
    };
    refuses_alone(bad, sizeof bad / sizeof bad[0]);
    char longval[400];
    memset(longval, 'x', sizeof longval - 1);
    longval[sizeof longval - 1] = '\0';
    setenv("NOVA_MICRO_MODEL", longval, 1);
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == -1);
    CHECK(strstr(err, "NOVA_MICRO_MODEL") != NULL);
    clear_env();
}

static void test_print_masks_secrets(void)
{
    clear_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    setenv("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN", 1);
    struct cfgs c;
    char err[256];
    CHECK(load(&c, err, sizeof err) == 0);
    char *text = printed(&c);
    CHECK(strstr(text, "wJal") == NULL);
    CHECK(strstr(text, "FQoG") == NULL);
    CHECK(strstr(text, "AKIDEXAMPLE") == NULL);
    CHECK(strstr(text, "aws_secret_access_key: (set)") != NULL);
    CHECK(strstr(text, "backend: sim") != NULL);
    free(text);
    /* the start-up log line: the same settings as one JSON object, masked the same way */
    struct log_line l;
    log_line_begin(&l, LOG_INFO, NULL, "config");
    config_log_fields(&c.core, &l);
    aws_config_log_fields(&c.aws, &l);
    log_line_end(&l);
    CHECK(!l.cut && l.buf[l.len - 1] == '\n');
    CHECK(strstr(l.buf, "wJal") == NULL && strstr(l.buf, "FQoG") == NULL &&
          strstr(l.buf, "AKIDEXAMPLE") == NULL);
    CHECK(strstr(l.buf, "\"event\":\"config\"") != NULL);
    CHECK(strstr(l.buf, "\"aws_secret_access_key\":\"(set)\"") != NULL);
    CHECK(strstr(l.buf, "\"fcgi_children\":2,") != NULL);   /* numbers as numbers */
    CHECK(strstr(l.buf, "\"kb_min_score\":0.2,") != NULL);
    CHECK(strstr(l.buf, "\"backend\":\"sim\"") != NULL);
    clear_env();
}

static void test_failure_settings(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.aws.retry_max_attempts == 4 && c.aws.retry_base_ms == 200 && c.aws.retry_cap_ms == 5000);
    CHECK(c.core.visibility_timeout_s == 30 && c.core.max_deliveries == 3);
    CHECK(c.core.worker_outbox_kb == 65536);
    setenv("NOVA_RETRY_MAX_ATTEMPTS", "1", 1);
    setenv("NOVA_VISIBILITY_TIMEOUT_S", "2", 1);
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.aws.retry_max_attempts == 1 && c.core.visibility_timeout_s == 2);
    char *text = printed(&c);
    CHECK(strstr(text, "retry_max_attempts: 1\n") != NULL);
    CHECK(strstr(text, "visibility_timeout_seconds: 2\n") != NULL);
    free(text);
    /* the base above the cap is refused, naming both */
    clear_env();
    setenv("NOVA_RETRY_BASE_MS", "6000", 1);
    CHECK(load(&c, err, sizeof err) == -1);
    CHECK(strstr(err, "NOVA_RETRY_BASE_MS") && strstr(err, "NOVA_RETRY_CAP_MS"));
    clear_env();
    setenv("NOVA_MAX_DELIVERIES", "0", 1);
    CHECK(load(&c, err, sizeof err) == -1);
    CHECK(strstr(err, "NOVA_MAX_DELIVERIES") != NULL);
    clear_env();
}

/* The guardrail: none by default; id and version together, each by AWS's pattern; the mode
 * and the trace by their values; printed. */
static void test_guardrail(void)
{
    clear_env();
    struct cfgs c;
    char err[256];
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.aws.bedrock.guardrail.id[0] == '\0');
    setenv("NOVA_GUARDRAIL_ID", "gr0abc12", 1);
    setenv("NOVA_GUARDRAIL_VERSION", "7", 1);
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK_STR_EQ(c.aws.bedrock.guardrail.id, "gr0abc12");
    CHECK_STR_EQ(c.aws.bedrock.guardrail.version, "7");
    CHECK(c.aws.bedrock.guardrail.mode == BR_GUARDRAIL_SYNC);
    CHECK(c.aws.bedrock.guardrail.trace == BR_TRACE_DISABLED);
    setenv("NOVA_GUARDRAIL_STREAM_MODE", "async", 1);
    setenv("NOVA_GUARDRAIL_TRACE", "enabled_full", 1);
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.aws.bedrock.guardrail.mode == BR_GUARDRAIL_ASYNC);
    CHECK(c.aws.bedrock.guardrail.trace == BR_TRACE_ENABLED_FULL);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    aws_config_print(&c.aws, f);
    fclose(f);
    CHECK(strstr(out, "guardrail_id: gr0abc12\n") != NULL);
    CHECK(strstr(out, "guardrail_version: 7\n") != NULL);
    CHECK(strstr(out, "guardrail_stream_mode: async\n") != NULL);
    free(out);
    static const struct { const char *var, *value, *named; } bad[] = {
        {"NOVA_GUARDRAIL_STREAM_MODE", "fast", "NOVA_GUARDRAIL_STREAM_MODE"},
        {"NOVA_GUARDRAIL_TRACE", "on", "NOVA_GUARDRAIL_TRACE"},
        {"NOVA_GUARDRAIL_VERSION", "v1", "NOVA_GUARDRAIL_VERSION"},
        {"NOVA_GUARDRAIL_ID", "My Guardrail", "NOVA_GUARDRAIL_ID"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("NOVA_GUARDRAIL_ID", "gr0abc12", 1);
        setenv("NOVA_GUARDRAIL_VERSION", "7", 1);
        setenv("NOVA_GUARDRAIL_STREAM_MODE", "sync", 1);
        setenv("NOVA_GUARDRAIL_TRACE", "disabled", 1);
        setenv(bad[i].var, bad[i].value, 1);
        err[0] = '\0';
        CHECK(load(&c, err, sizeof err) == -1);
        CHECK(strstr(err, bad[i].named) != NULL);
    }
    clear_env();
    setenv("NOVA_GUARDRAIL_ID", "gr0abc12", 1); /* no version */
    CHECK(load(&c, err, sizeof err) == -1);
    CHECK(strstr(err, "NOVA_GUARDRAIL_VERSION") != NULL);
    clear_env();
}

static void test_api_key(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0 && c.core.api_key[0] == '\0');
    setenv("NOVA_API_KEY", "Zq7-secret-key-0123456789", 1);
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK_STR_EQ(c.core.api_key, "Zq7-secret-key-0123456789");
    char *text = printed(&c);
    CHECK(strstr(text, "api_key: (set)\n") != NULL);
    CHECK(strstr(text, "Zq7") == NULL);
    free(text);
    const char *bad[] = {"short-key", "has a blank in it 0123", "tab\there-0123456789",
                         "k\xc3\xa9y-not-ascii-0123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("NOVA_API_KEY", bad[i], 1);
        err[0] = '\0';
        CHECK(load(&c, err, sizeof err) == -1);
        CHECK(strstr(err, "NOVA_API_KEY") != NULL);
        CHECK(strstr(err, bad[i]) == NULL); /* the message never repeats the key */
    }
    clear_env();
}

/* The cap on live resumes of one request: 4 by default, 1..1000. */
/* NOVA_REDIS_URL's password never shows in --print-config or the config log line. */
static void test_redis_url_masked(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    setenv("NOVA_REDIS_URL", "rediss://nova:Hunter2%40x@cache.example:6380/1", 1);
    setenv("NOVA_REDIS_TLS_CA_FILE", "/etc/nova/redis-ca.pem", 1);
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK_STR_EQ(c.core.redis_tls_ca_file, "/etc/nova/redis-ca.pem");
    char *text = printed(&c);
    CHECK(strstr(text, "redis_url: rediss://nova:***@cache.example:6380/1\n") != NULL);
    CHECK(strstr(text, "redis_tls_ca_file: /etc/nova/redis-ca.pem\n") != NULL);
    CHECK(strstr(text, "Hunter2") == NULL);
    free(text);
    /* the log line too */
    struct log_line l;
    log_line_begin(&l, LOG_INFO, NULL, "config");
    config_log_fields(&c.core, &l);
    l.buf[l.len < sizeof l.buf ? l.len : sizeof l.buf - 1] = '\0';
    CHECK(strstr(l.buf, "Hunter2") == NULL);
    CHECK(strstr(l.buf, "nova:***@cache.example") != NULL);

    char out[128];
    config_mask_url("redis://Hunter2@h:1", out, sizeof out);
    CHECK_STR_EQ(out, "redis://***@h:1");
    config_mask_url("redis://:Hunter2@h:1", out, sizeof out);
    CHECK_STR_EQ(out, "redis://:***@h:1");
    config_mask_url("redis://u:a@Hunter2@h:1", out, sizeof out); /* the last '@' ends it */
    CHECK_STR_EQ(out, "redis://u:***@h:1");
    config_mask_url("unix://u:Hunter2@/run/r.sock", out, sizeof out);
    CHECK_STR_EQ(out, "unix://u:***@/run/r.sock");
    config_mask_url("redis://h:1", out, sizeof out);
    CHECK_STR_EQ(out, "redis://h:1");
    config_mask_url("unix:///run/r.sock", out, sizeof out);
    CHECK_STR_EQ(out, "unix:///run/r.sock");
    config_mask_url("https://h.example/x?token=Tk@1", out, sizeof out); /* '@' in a query */
    CHECK_STR_EQ(out, "https://h.example/x?***");

    /* a client certificate needs its key */
    setenv("NOVA_REDIS_TLS_CERT_FILE", "/etc/nova/client.pem", 1);
    CHECK(load(&c, err, sizeof err) == -1);
    CHECK(strstr(err, "NOVA_REDIS_TLS_KEY_FILE") != NULL);
    setenv("NOVA_REDIS_TLS_KEY_FILE", "/etc/nova/client.key", 1);
    CHECK(load(&c, err, sizeof err) == 0);
    clear_env();
}

static void test_max_resumes(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0 && c.core.max_resumes == 4);
    setenv("NOVA_MAX_RESUMES_PER_REQUEST", "3", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.max_resumes == 3);
    static const char *const bad[] = {"0", "1001", "two"};
    refuses("NOVA_MAX_RESUMES_PER_REQUEST", bad, sizeof bad / sizeof bad[0]);
}

/* The unanswered questions' settings: defaults, bounds, and both in the printed config. */
static void test_gaps(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0 && c.core.gap_weak_score == 0.3 &&
          c.core.gaps_max == 10000);
    setenv("NOVA_GAP_WEAK_SCORE", "0", 1);
    setenv("NOVA_GAPS_MAX", "0", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.gap_weak_score == 0 && c.core.gaps_max == 0);
    setenv("NOVA_GAP_WEAK_SCORE", "0.45", 1);
    setenv("NOVA_GAPS_MAX", "5", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.gap_weak_score == 0.45 &&
          c.core.gaps_max == 5);
    char *text = printed(&c);
    CHECK(strstr(text, "gap_weak_score: 0.45\n") && strstr(text, "gaps_max: 5\n"));
    free(text);
    static const char *const bad_score[] = {"-0.1", "1.5", "weak"};
    refuses("NOVA_GAP_WEAK_SCORE", bad_score, sizeof bad_score / sizeof bad_score[0]);
    static const char *const bad_max[] = {"-1", "10000001", "many"};
    refuses("NOVA_GAPS_MAX", bad_max, sizeof bad_max / sizeof bad_max[0]);
}

/* The cap of nova:feedback: 100000 by default, at least 1, shown by --print-config. */
static void test_feedback_max(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0 && c.core.feedback_max == 100000);
    setenv("NOVA_FEEDBACK_MAX", "25", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.feedback_max == 25);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_print(&c.core, f);
    fclose(f);
    CHECK(text && strstr(text, "feedback_max: 25\n"));
    free(text);
    static const char *const bad[] = {"0", "-3", "100000001", "many"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("NOVA_FEEDBACK_MAX", bad[i], 1);
        err[0] = '\0';
        CHECK(load(&c, err, sizeof err) == -1);
        CHECK(strstr(err, "NOVA_FEEDBACK_MAX") != NULL);
    }
    clear_env();
}

/* Who may connect to the FastCGI socket: 0660 by default, the group resolved at start. */
static void test_socket_access(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.core.fcgi_socket_mode == 0660 && c.core.fcgi_socket_gid == -1);
    char *text = printed(&c);
    CHECK(strstr(text, "fcgi_socket_mode: 0660\n") != NULL);
    CHECK(strstr(text, "fcgi_socket_group: (unset)\n") != NULL);
    free(text);
    setenv("NOVA_FCGI_SOCKET_MODE", "600", 1);
    setenv("NOVA_FCGI_SOCKET_GROUP", "root", 1); /* gid 0 has that name everywhere we run */
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.core.fcgi_socket_mode == 0600 && c.core.fcgi_socket_gid == 0);
    setenv("NOVA_FCGI_SOCKET_GROUP", "4242", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.fcgi_socket_gid == 4242);
    static const char *const bad_modes[] = {"0777", "0466", "0060", "66o", "-0660", "01660", "x"};
    refuses("NOVA_FCGI_SOCKET_MODE", bad_modes, sizeof bad_modes / sizeof bad_modes[0]);
    setenv("NOVA_FCGI_SOCKET_GROUP", "no-such-group-here", 1);
    err[0] = '\0';
    CHECK(load(&c, err, sizeof err) == -1);
    CHECK(strstr(err, "NOVA_FCGI_SOCKET_GROUP") && strstr(err, "no such group"));
    clear_env();
}

/* The handoff: unset by default (503 at the route), an http(s) URL, the secret and any
 * password or query of the URL never printed. */
static void test_handoff(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.core.handoff_url[0] == '\0' && c.core.handoff_secret[0] == '\0');
    CHECK(c.core.handoff_timeout_ms == 10000 && c.core.handoff_max_attempts == 8);
    CHECK(c.core.handoff_retry_base_ms == 1000 && c.core.handoff_retry_cap_ms == 60000);
    setenv("NOVA_HANDOFF_URL", "https://desk:Pw9zz@support.example/hook?token=Tk77", 1);
    setenv("NOVA_HANDOFF_SECRET", "Hs-secret-4242", 1);
    setenv("NOVA_HANDOFF_MAX_ATTEMPTS", "3", 1);
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK_STR_EQ(c.core.handoff_url, "https://desk:Pw9zz@support.example/hook?token=Tk77");
    CHECK(c.core.handoff_max_attempts == 3);
    char *text = printed(&c);
    CHECK(strstr(text, "handoff_url: https://desk:***@support.example/hook?***\n") != NULL);
    CHECK(strstr(text, "handoff_secret: (set)\n") != NULL);
    CHECK(strstr(text, "Pw9zz") == NULL && strstr(text, "Tk77") == NULL &&
          strstr(text, "Hs-secret") == NULL);
    free(text);
    static const char *const bad[][2] = {
        {"NOVA_HANDOFF_URL", "ftp://x.example/"}, {"NOVA_HANDOFF_URL", "http://a b/"},
        {"NOVA_HANDOFF_TIMEOUT_MS", "5"},         {"NOVA_HANDOFF_MAX_ATTEMPTS", "0"},
        {"NOVA_HANDOFF_RETRY_CAP_MS", "10"},
    };
    refuses_alone(bad, sizeof bad / sizeof bad[0]);
}

/* Who relays an open stream: the request's thread by default, the child's loop on asking. */
static void test_fcgi_streams(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0 && c.core.fcgi_streams_loop); /* the default */
    setenv("NOVA_FCGI_STREAMS", "thread", 1);
    CHECK(load(&c, err, sizeof err) == 0 && !c.core.fcgi_streams_loop);
    setenv("NOVA_FCGI_STREAMS", "loop", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.fcgi_streams_loop);
    static const char *const bad[] = {"epoll", "LOOP", "thread,loop"};
    refuses("NOVA_FCGI_STREAMS", bad, sizeof bad / sizeof bad[0]);
}

/* NOVA_MAX_STREAMS per child, and NOVA_FCGI_THREADS's default by who relays the streams: on
 * the loop the threads are the pre-stream pool only (16), in the thread mode one per stream. */
static void test_max_streams_and_threads(void)
{
    clear_env();
    struct cfgs c;
    char err[256] = "";
    CHECK(load(&c, err, sizeof err) == 0);
    CHECK(c.core.max_streams == 10000 && c.core.fcgi_threads == 16); /* loop, the default */
    char *text = printed(&c);
    CHECK(strstr(text, "max_streams: 10000\n") != NULL);
    CHECK(strstr(text, "fcgi_threads: 16\n") != NULL);
    free(text);
    setenv("NOVA_FCGI_STREAMS", "thread", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.fcgi_threads == 256);
    setenv("NOVA_FCGI_STREAMS", "loop", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.fcgi_threads == 16);
    setenv("NOVA_FCGI_THREADS", "40", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.fcgi_threads == 40);
    setenv("NOVA_FCGI_STREAMS", "thread", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.fcgi_threads == 40);
    setenv("NOVA_MAX_STREAMS", "1", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.max_streams == 1);
    setenv("NOVA_MAX_STREAMS", "1000000", 1);
    CHECK(load(&c, err, sizeof err) == 0 && c.core.max_streams == 1000000);
    static const char *const bad[] = {"0", "1000001", "-3", "many"};
    refuses("NOVA_MAX_STREAMS", bad, sizeof bad / sizeof bad[0]);
    static const char *const bad_threads[] = {"0", "8193"};
    refuses("NOVA_FCGI_THREADS", bad_threads, sizeof bad_threads / sizeof bad_threads[0]);
    clear_env();
}

int main(void)
{
    RUN(test_fcgi_streams);
    RUN(test_max_streams_and_threads);
    RUN(test_handoff);
    RUN(test_defaults);
    RUN(test_region_and_endpoints_from_env);
    RUN(test_bad_values_name_the_variable);
    RUN(test_print_masks_secrets);
    RUN(test_failure_settings);
    RUN(test_api_key);
    RUN(test_max_resumes);
    RUN(test_redis_url_masked);
    RUN(test_feedback_max);
    RUN(test_socket_access);
    RUN(test_guardrail);
    RUN(test_gaps);
    return test_summary();
}
