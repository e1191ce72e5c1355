/* config: the environment, read once (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* Copies a variable into a fixed field; a value that does not fit is an error, not a cut. */
static int env_copy(char *dst, size_t n, const char *name, const char *dflt, char *errstr,
                    size_t errlen)
{
    const char *v = env_or(name, dflt);
    if (strlen(v) >= n) {
        snprintf(errstr, errlen, "%s is longer than %zu bytes", name, n - 1);
        return -1;
    }
    memmove(dst, v, strlen(v) + 1); /* v may be dst itself (the default already in place) */
    return 0;
}

static int env_double(double *dst, const char *name, double dflt, double lo, double hi,
                      char *errstr, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *dst = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !(x >= lo && x <= hi)) {
        snprintf(errstr, errlen, "%s=\"%s\": want a number in %g..%g", name, v, lo, hi);
        return -1;
    }
    *dst = x;
    return 0;
}

static int env_long(long *dst, const char *name, long dflt, long lo, long hi, char *errstr,
                    size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *dst = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        snprintf(errstr, errlen, "%s=\"%s\": want an integer in %ld..%ld", name, v, lo, hi);
        return -1;
    }
    *dst = x;
    return 0;
}

int config_from_env(struct nova_config *c, char *errstr, size_t errlen)
{
    memset(c, 0, sizeof *c);
    char region[32];
    if (env_copy(c->backend, sizeof c->backend, "NOVA_BACKEND", "sim", errstr, errlen) < 0 ||
        env_copy(c->micro_model, sizeof c->micro_model, "NOVA_MICRO_MODEL",
                 "amazon.nova-micro-v1:0", errstr, errlen) < 0 ||
        env_copy(c->pro_model, sizeof c->pro_model, "NOVA_PRO_MODEL", "amazon.nova-pro-v1:0",
                 errstr, errlen) < 0 ||
        env_copy(c->kb_backend, sizeof c->kb_backend, "NOVA_KB_BACKEND", "local", errstr,
                 errlen) < 0 ||
        env_copy(c->kb_id, sizeof c->kb_id, "NOVA_KB_ID", "", errstr, errlen) < 0 ||
        env_copy(region, sizeof region, "AWS_REGION", env_or("AWS_DEFAULT_REGION",
                 "ap-northeast-1"), errstr, errlen) < 0)
        return -1;
    if (strcmp(c->backend, "sim") != 0 && strcmp(c->backend, "bedrock") != 0) {
        snprintf(errstr, errlen, "NOVA_BACKEND=\"%s\": want sim or bedrock", c->backend);
        return -1;
    }
    if (strcmp(c->kb_backend, "local") != 0 && strcmp(c->kb_backend, "bedrock") != 0) {
        snprintf(errstr, errlen, "NOVA_KB_BACKEND=\"%s\": want local or bedrock",
                 c->kb_backend);
        return -1;
    }
    if (log_level_parse(env_or("NOVA_LOG_LEVEL", "info"), &c->log_level) < 0) {
        snprintf(errstr, errlen, "NOVA_LOG_LEVEL: want error, warn, info or debug");
        return -1;
    }
    if (env_copy(c->run_dir, sizeof c->run_dir, "NOVA_RUN_DIR", "run", errstr, errlen) < 0)
        return -1;
    if (c->run_dir[0] != '/') { /* sockets in URLs need an absolute path */
        char cwd[256], rel[sizeof c->run_dir];
        snprintf(rel, sizeof rel, "%s", c->run_dir);
        int n = getcwd(cwd, sizeof cwd) ? snprintf(c->run_dir, sizeof c->run_dir, "%s/%s", cwd, rel)
                                         : -1;
        if (n < 0 || (size_t)n >= sizeof c->run_dir) {
            snprintf(errstr, errlen, "NOVA_RUN_DIR: cannot make \"%s\" absolute", rel);
            return -1;
        }
    }
    char dflt[sizeof c->redis_url];
    snprintf(dflt, sizeof dflt, "unix://%s/redis.sock", c->run_dir);
    if (env_copy(c->redis_url, sizeof c->redis_url, "NOVA_REDIS_URL", dflt, errstr, errlen) < 0)
        return -1;
    snprintf(dflt, sizeof dflt, "%s/nova-fcgi.sock", c->run_dir);
    if (env_copy(c->fcgi_socket, sizeof c->fcgi_socket, "NOVA_FCGI_SOCKET", dflt, errstr,
                 errlen) < 0 ||
        env_long(&c->fcgi_children, "NOVA_FCGI_CHILDREN", 2, 1, 256, errstr, errlen) < 0 ||
        env_long(&c->fcgi_threads, "NOVA_FCGI_THREADS", 256, 1, 8192, errstr, errlen) < 0 ||
        env_long(&c->drain_s, "NOVA_DRAIN_SECONDS", 20, 0, 3600, errstr, errlen) < 0 ||
        env_long(&c->keepalive_s, "NOVA_KEEPALIVE_SECONDS", 15, 1, 300, errstr, errlen) < 0 ||
        env_long(&c->log_ttl_s, "NOVA_LOG_TTL_SECONDS", 3600, 10, 7 * 86400, errstr, errlen) < 0 ||
        env_long(&c->job_deadline_s, "NOVA_JOB_DEADLINE_SECONDS", 300, 1, 86400, errstr,
                 errlen) < 0 ||
        env_long(&c->worker_max_jobs, "NOVA_WORKER_MAX_JOBS", 256, 1, 10000, errstr, errlen) < 0 ||
        env_long(&c->max_queue_depth, "NOVA_MAX_QUEUE_DEPTH", 10000, 1, 10000000, errstr,
                 errlen) < 0)
        return -1;
    if (env_copy(c->api_key, sizeof c->api_key, "NOVA_API_KEY", "", errstr, errlen) < 0)
        return -1;
    /* A key short enough to guess, or one no header can carry, is a mistake to stop at. */
    size_t klen = strlen(c->api_key);
    for (size_t i = 0; i < klen; i++)
        if (c->api_key[i] <= ' ' || c->api_key[i] > '~') {
            snprintf(errstr, errlen, "NOVA_API_KEY: only visible ASCII characters, no blanks");
            return -1;
        }
    if (klen && klen < 16) {
        snprintf(errstr, errlen, "NOVA_API_KEY: at least 16 characters (it has %zu)", klen);
        return -1;
    }
    snprintf(dflt, sizeof dflt, "%s/kb.sqlite", c->run_dir);
    if (env_copy(c->glossary_file, sizeof c->glossary_file, "NOVA_GLOSSARY_FILE",
                 "config/game_glossary.json", errstr, errlen) < 0 ||
        env_copy(c->prompts_dir, sizeof c->prompts_dir, "NOVA_PROMPTS_DIR", "config/prompts",
                 errstr, errlen) < 0 ||
        env_copy(c->prices_file, sizeof c->prices_file, "NOVA_PRICES_FILE", "config/prices.json",
                 errstr, errlen) < 0 ||
        env_copy(c->kb_db, sizeof c->kb_db, "NOVA_KB_DB", dflt, errstr, errlen) < 0 ||
        env_copy(c->kb_dir, sizeof c->kb_dir, "NOVA_KB_DIR", "kb/sample", errstr, errlen) < 0 ||
        env_double(&c->kb_min_score, "NOVA_KB_MIN_SCORE", 0.2, 0, 1, errstr, errlen) < 0 ||
        env_long(&c->session_ttl_s, "NOVA_SESSION_TTL_SECONDS", 86400, 10, 90 * 86400, errstr,
                 errlen) < 0)
        return -1;
    struct bedrock_config *b = &c->bedrock;
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
    creds_config_from_env(&c->creds);
    if (env_long(&c->retry_max_attempts, "NOVA_RETRY_MAX_ATTEMPTS", 4, 1, 20, errstr,
                 errlen) < 0 ||
        env_long(&c->retry_base_ms, "NOVA_RETRY_BASE_MS", 200, 1, 60000, errstr, errlen) < 0 ||
        env_long(&c->retry_cap_ms, "NOVA_RETRY_CAP_MS", 5000, 1, 600000, errstr, errlen) < 0 ||
        env_long(&c->visibility_timeout_s, "NOVA_VISIBILITY_TIMEOUT_S", 30, 1, 3600, errstr,
                 errlen) < 0 ||
        env_long(&c->max_deliveries, "NOVA_MAX_DELIVERIES", 3, 1, 100, errstr, errlen) < 0 ||
        env_long(&c->worker_outbox_kb, "NOVA_WORKER_OUTBOX_KB", 65536, 16, 4194304, errstr,
                 errlen) < 0)
        return -1;
    if (c->retry_base_ms > c->retry_cap_ms) {
        snprintf(errstr, errlen, "NOVA_RETRY_BASE_MS=%ld is above NOVA_RETRY_CAP_MS=%ld",
                 c->retry_base_ms, c->retry_cap_ms);
        return -1;
    }
    return 0;
}

void config_print(const struct nova_config *c, FILE *out)
{
    static const char *levels[] = {"error", "warn", "info", "debug"};
    char mask[32];
    fprintf(out, "backend: %s\n", c->backend);
    fprintf(out, "aws_region: %s\n", c->bedrock.region);
    fprintf(out, "bedrock_endpoint: %s\n", c->bedrock.runtime_endpoint);
    fprintf(out, "kb_endpoint: %s\n", c->bedrock.agent_endpoint);
    fprintf(out, "micro_model: %s\n", c->micro_model);
    fprintf(out, "pro_model: %s\n", c->pro_model);
    fprintf(out, "kb_backend: %s\n", c->kb_backend);
    fprintf(out, "kb_id: %s\n", c->kb_id[0] ? c->kb_id : "(unset)");
    fprintf(out, "bedrock_idle_timeout_s: %ld\n", c->bedrock.idle_timeout_s);
    fprintf(out, "bedrock_connect_timeout_ms: %ld\n", c->bedrock.connect_timeout_ms);
    fprintf(out, "log_level: %s\n", levels[c->log_level]);
    fprintf(out, "run_dir: %s\n", c->run_dir);
    fprintf(out, "redis_url: %s\n", c->redis_url);
    fprintf(out, "fcgi_socket: %s\n", c->fcgi_socket);
    fprintf(out, "fcgi_children: %ld\nfcgi_threads: %ld\n", c->fcgi_children, c->fcgi_threads);
    fprintf(out, "drain_seconds: %ld\nkeepalive_seconds: %ld\n", c->drain_s, c->keepalive_s);
    fprintf(out, "log_ttl_seconds: %ld\njob_deadline_seconds: %ld\n", c->log_ttl_s,
            c->job_deadline_s);
    fprintf(out, "worker_max_jobs: %ld\nmax_queue_depth: %ld\n", c->worker_max_jobs,
            c->max_queue_depth);
    fprintf(out, "glossary_file: %s\nprompts_dir: %s\nprices_file: %s\n", c->glossary_file,
            c->prompts_dir, c->prices_file);
    fprintf(out, "kb_db: %s\nkb_dir: %s\nkb_min_score: %g\n", c->kb_db, c->kb_dir,
            c->kb_min_score);
    fprintf(out, "session_ttl_seconds: %ld\n", c->session_ttl_s);
    fprintf(out, "api_key: %s\n", c->api_key[0] ? "(set)" : "(unset)");
    fprintf(out, "aws_access_key_id: %s\n",
            creds_mask(c->creds.env_access_key_id, mask, sizeof mask));
    /* Not even a prefix of the secret or the token is printed. */
    fprintf(out, "aws_secret_access_key: %s\n",
            c->creds.env_secret_access_key[0] ? "(set)" : "(unset)");
    fprintf(out, "aws_session_token: %s\n", c->creds.env_session_token[0] ? "(set)" : "(unset)");
    fprintf(out, "aws_profile: %s\n", c->creds.profile);
    fprintf(out, "aws_shared_credentials_file: %s\n", c->creds.shared_file);
    fprintf(out, "aws_ec2_metadata_disabled: %s\n", c->creds.imds_disabled ? "true" : "false");
    fprintf(out, "retry_max_attempts: %ld\nretry_base_ms: %ld\nretry_cap_ms: %ld\n",
            c->retry_max_attempts, c->retry_base_ms, c->retry_cap_ms);
    fprintf(out, "visibility_timeout_seconds: %ld\nmax_deliveries: %ld\n",
            c->visibility_timeout_s, c->max_deliveries);
    fprintf(out, "worker_outbox_kb: %ld\n", c->worker_outbox_kb);
}
