/* aws_config: the AWS side's settings (see aws_config.h). */
#include "aws/aws_config.h"

#include <string.h>

/* NOVA_GUARDRAIL_ID and NOVA_GUARDRAIL_VERSION, both or neither; NOVA_GUARDRAIL_STREAM_MODE
 * (sync, the default: every chunk checked before it is sent, or async) and
 * NOVA_GUARDRAIL_TRACE (disabled, enabled, enabled_full). */
static int guardrail_from_env(struct bedrock_guardrail *g, char *errstr, size_t errlen)
{
    char mode[16], trace[16];
    if (env_copy(g->id, sizeof g->id, "NOVA_GUARDRAIL_ID", "", errstr, errlen) < 0 ||
        env_copy(g->version, sizeof g->version, "NOVA_GUARDRAIL_VERSION", "", errstr,
                 errlen) < 0 ||
        env_copy(mode, sizeof mode, "NOVA_GUARDRAIL_STREAM_MODE", "sync", errstr, errlen) < 0 ||
        env_copy(trace, sizeof trace, "NOVA_GUARDRAIL_TRACE", "disabled", errstr, errlen) < 0)
        return -1;
    if (strcmp(mode, "sync") == 0)
        g->mode = BR_GUARDRAIL_SYNC;
    else if (strcmp(mode, "async") == 0)
        g->mode = BR_GUARDRAIL_ASYNC;
    else {
        snprintf(errstr, errlen, "NOVA_GUARDRAIL_STREAM_MODE=%s: sync or async", mode);
        return -1;
    }
    if (strcmp(trace, "disabled") == 0)
        g->trace = BR_TRACE_DISABLED;
    else if (strcmp(trace, "enabled") == 0)
        g->trace = BR_TRACE_ENABLED;
    else if (strcmp(trace, "enabled_full") == 0)
        g->trace = BR_TRACE_ENABLED_FULL;
    else {
        snprintf(errstr, errlen, "NOVA_GUARDRAIL_TRACE=%s: disabled, enabled or enabled_full",
                 trace);
        return -1;
    }
    if (!g->id[0] && !g->version[0])
        return 0; /* no guardrail */
    if (!g->id[0] || !g->version[0]) {
        snprintf(errstr, errlen, "NOVA_GUARDRAIL_ID and NOVA_GUARDRAIL_VERSION go together: "
                 "%s is unset", g->id[0] ? "NOVA_GUARDRAIL_VERSION" : "NOVA_GUARDRAIL_ID");
        return -1;
    }
    char why[256];
    if (bedrock_guardrail_check(g, why, sizeof why) < 0) {
        snprintf(errstr, errlen, "NOVA_GUARDRAIL_ID / NOVA_GUARDRAIL_VERSION: %s", why);
        return -1;
    }
    return 0;
}

int aws_config_from_env(struct aws_config *a, char *errstr, size_t errlen)
{
    memset(a, 0, sizeof *a);
    char region[32];
    if (env_copy(region, sizeof region, "AWS_REGION",
                 env_or("AWS_DEFAULT_REGION", "ap-northeast-1"), errstr, errlen) < 0)
        return -1;
    struct bedrock_config *b = &a->bedrock;
    bedrock_config_defaults(b, region);
    if (env_copy(b->runtime_endpoint, sizeof b->runtime_endpoint, "NOVA_BEDROCK_ENDPOINT",
                 b->runtime_endpoint, errstr, errlen) < 0 ||
        env_copy(b->agent_endpoint, sizeof b->agent_endpoint, "NOVA_KB_ENDPOINT",
                 b->agent_endpoint, errstr, errlen) < 0 ||
        env_long(&b->idle_timeout_s, "NOVA_BEDROCK_IDLE_TIMEOUT_S", 60, 1, 3600, errstr,
                 errlen) < 0 ||
        env_long(&b->connect_timeout_ms, "NOVA_BEDROCK_CONNECT_TIMEOUT_MS", 5000, 100, 60000,
                 errstr, errlen) < 0)
        return -1;
    if (guardrail_from_env(&b->guardrail, errstr, errlen) < 0)
        return -1;
    creds_config_from_env(&a->creds);
    if (env_long(&a->retry_max_attempts, "NOVA_RETRY_MAX_ATTEMPTS", 4, 1, 20, errstr,
                 errlen) < 0 ||
        env_long(&a->retry_base_ms, "NOVA_RETRY_BASE_MS", 200, 1, 60000, errstr, errlen) < 0 ||
        env_long(&a->retry_cap_ms, "NOVA_RETRY_CAP_MS", 5000, 1, 600000, errstr, errlen) < 0)
        return -1;
    if (a->retry_base_ms > a->retry_cap_ms) {
        snprintf(errstr, errlen, "NOVA_RETRY_BASE_MS=%ld is above NOVA_RETRY_CAP_MS=%ld",
                 a->retry_base_ms, a->retry_cap_ms);
        return -1;
    }
    return 0;
}

void aws_config_visit(const struct aws_config *a, setting_fn fn, void *arg)
{
    char mask[32];
    fn(arg, "aws_region", a->bedrock.region, false);
    fn(arg, "bedrock_endpoint", a->bedrock.runtime_endpoint, false);
    fn(arg, "kb_endpoint", a->bedrock.agent_endpoint, false);
    setting_long(fn, arg, "bedrock_idle_timeout_s", a->bedrock.idle_timeout_s);
    setting_long(fn, arg, "bedrock_connect_timeout_ms", a->bedrock.connect_timeout_ms);
    const struct bedrock_guardrail *g = &a->bedrock.guardrail;
    fn(arg, "guardrail_id", g->id[0] ? g->id : "(unset)", false);
    fn(arg, "guardrail_version", g->id[0] ? g->version : "(unset)", false);
    fn(arg, "guardrail_stream_mode", bedrock_guardrail_mode_name(g->mode), false);
    fn(arg, "guardrail_trace", bedrock_guardrail_trace_name(g->trace), false);
    fn(arg, "aws_access_key_id", creds_mask(a->creds.env_access_key_id, mask, sizeof mask),
       false);
    fn(arg, "aws_secret_access_key", a->creds.env_secret_access_key[0] ? "(set)" : "(unset)",
       false);
    fn(arg, "aws_session_token", a->creds.env_session_token[0] ? "(set)" : "(unset)", false);
    fn(arg, "aws_profile", a->creds.profile, false);
    fn(arg, "aws_shared_credentials_file", a->creds.shared_file, false);
    fn(arg, "aws_ec2_metadata_disabled", a->creds.imds_disabled ? "true" : "false", false);
    setting_long(fn, arg, "retry_max_attempts", a->retry_max_attempts);
    setting_long(fn, arg, "retry_base_ms", a->retry_base_ms);
    setting_long(fn, arg, "retry_cap_ms", a->retry_cap_ms);
}

void aws_config_print(const struct aws_config *a, FILE *out)
{
    aws_config_visit(a, setting_print, out);
}

void aws_config_log_fields(const struct aws_config *a, struct log_line *l)
{
    aws_config_visit(a, setting_log, l);
}
