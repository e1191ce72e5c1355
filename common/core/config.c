/* config: the environment, read once (see config.h). */
#include "core/config.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* NOVA_FCGI_SOCKET_MODE and NOVA_FCGI_SOCKET_GROUP: who may speak FastCGI to nova-fcgi. The
 * group is resolved here, once, so a name that does not exist stops the start. */
static int socket_access_from_env(struct nova_config *c, char *errstr, size_t errlen)
{
    const char *mode = env_or("NOVA_FCGI_SOCKET_MODE", "0660");
    char *end;
    errno = 0;
    unsigned long m = strtoul(mode, &end, 8);
    /* Owner read-write so nova-fcgi's own probes work; no execute, setuid or sticky bits. */
    if (errno || *end || *mode < '0' || *mode > '7' || (m & ~0666UL) || (m & 0600) != 0600) {
        snprintf(errstr, errlen,
                 "NOVA_FCGI_SOCKET_MODE=\"%s\": want an octal mode of read-write bits with "
                 "the owner's set (0600, 0660, 0666)", mode);
        return -1;
    }
    c->fcgi_socket_mode = (unsigned)m;
    c->fcgi_socket_gid = -1;
    if (env_copy(c->fcgi_socket_group, sizeof c->fcgi_socket_group, "NOVA_FCGI_SOCKET_GROUP", "",
                 errstr, errlen) < 0)
        return -1;
    const char *g = c->fcgi_socket_group;
    if (!*g)
        return 0;
    errno = 0;
    unsigned long gid = strtoul(g, &end, 10);
    if (*g >= '0' && *g <= '9' && !*end && !errno && gid < 0x7fffffffUL) {
        c->fcgi_socket_gid = (long)gid;
        return 0;
    }
    struct group *gr = getgrnam(g);
    if (!gr) {
        snprintf(errstr, errlen, "NOVA_FCGI_SOCKET_GROUP=\"%s\": no such group", g);
        return -1;
    }
    c->fcgi_socket_gid = (long)gr->gr_gid;
    return 0;
}

/* NOVA_HANDOFF_*: where a handoff to a person goes, how it is signed, timed and retried. */
static int handoff_from_env(struct nova_config *c, char *errstr, size_t errlen)
{
    if (env_copy(c->handoff_url, sizeof c->handoff_url, "NOVA_HANDOFF_URL", "", errstr,
                 errlen) < 0 ||
        env_copy(c->handoff_secret, sizeof c->handoff_secret, "NOVA_HANDOFF_SECRET", "", errstr,
                 errlen) < 0 ||
        env_long(&c->handoff_timeout_ms, "NOVA_HANDOFF_TIMEOUT_MS", 10000, 100, 300000, errstr,
                 errlen) < 0 ||
        env_long(&c->handoff_max_attempts, "NOVA_HANDOFF_MAX_ATTEMPTS", 8, 1, 100, errstr,
                 errlen) < 0 ||
        env_long(&c->handoff_retry_base_ms, "NOVA_HANDOFF_RETRY_BASE_MS", 1000, 1, 3600000,
                 errstr, errlen) < 0 ||
        env_long(&c->handoff_retry_cap_ms, "NOVA_HANDOFF_RETRY_CAP_MS", 60000, 1, 3600000,
                 errstr, errlen) < 0)
        return -1;
    const char *u = c->handoff_url;
    if (*u && strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        snprintf(errstr, errlen, "NOVA_HANDOFF_URL: want an http:// or https:// URL");
        return -1;
    }
    for (const char *p = u; *p; p++)
        if (*p <= ' ' || *p > '~') {
            snprintf(errstr, errlen, "NOVA_HANDOFF_URL: no blanks or control characters");
            return -1;
        }
    if (c->handoff_retry_cap_ms < c->handoff_retry_base_ms) {
        snprintf(errstr, errlen, "NOVA_HANDOFF_RETRY_CAP_MS: at least NOVA_HANDOFF_RETRY_BASE_MS");
        return -1;
    }
    return 0;
}

int config_from_env(struct nova_config *c, char *errstr, size_t errlen)
{
    memset(c, 0, sizeof *c);
    char backend[16], kb_backend[16];
    if (env_copy(backend, sizeof backend, "NOVA_BACKEND", "sim", errstr, errlen) < 0 ||
        env_copy(c->micro_model, sizeof c->micro_model, "NOVA_MICRO_MODEL",
                 "amazon.nova-micro-v1:0", errstr, errlen) < 0 ||
        env_copy(c->pro_model, sizeof c->pro_model, "NOVA_PRO_MODEL", "amazon.nova-pro-v1:0",
                 errstr, errlen) < 0 ||
        env_copy(kb_backend, sizeof kb_backend, "NOVA_KB_BACKEND", "local", errstr,
                 errlen) < 0 ||
        env_copy(c->kb_id, sizeof c->kb_id, "NOVA_KB_ID", "", errstr, errlen) < 0)
        return -1;
    if (strcmp(backend, "sim") == 0) {
        c->backend = BACKEND_SIM;
    } else if (strcmp(backend, "bedrock") == 0) {
        c->backend = BACKEND_BEDROCK;
    } else {
        snprintf(errstr, errlen, "NOVA_BACKEND=\"%s\": want sim or bedrock", backend);
        return -1;
    }
    if (strcmp(kb_backend, "local") == 0) {
        c->kb_backend = KB_LOCAL;
    } else if (strcmp(kb_backend, "bedrock") == 0) {
        c->kb_backend = KB_BEDROCK;
    } else {
        snprintf(errstr, errlen, "NOVA_KB_BACKEND=\"%s\": want local or bedrock", kb_backend);
        return -1;
    }
    if (log_level_parse(env_or("NOVA_LOG_LEVEL", "info"), &c->log_level) < 0) {
        snprintf(errstr, errlen, "NOVA_LOG_LEVEL=\"%s\": want error, warn, info or debug",
                 env_or("NOVA_LOG_LEVEL", ""));
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
    if (env_copy(c->redis_url, sizeof c->redis_url, "NOVA_REDIS_URL", dflt, errstr, errlen) < 0 ||
        env_copy(c->redis_tls_ca_file, sizeof c->redis_tls_ca_file, "NOVA_REDIS_TLS_CA_FILE", "",
                 errstr, errlen) < 0 ||
        env_copy(c->redis_tls_cert_file, sizeof c->redis_tls_cert_file,
                 "NOVA_REDIS_TLS_CERT_FILE", "", errstr, errlen) < 0 ||
        env_copy(c->redis_tls_key_file, sizeof c->redis_tls_key_file, "NOVA_REDIS_TLS_KEY_FILE",
                 "", errstr, errlen) < 0)
        return -1;
    if (!c->redis_tls_cert_file[0] != !c->redis_tls_key_file[0]) {
        snprintf(errstr, errlen, "NOVA_REDIS_TLS_CERT_FILE and NOVA_REDIS_TLS_KEY_FILE go "
                 "together: set both or neither");
        return -1;
    }
    snprintf(dflt, sizeof dflt, "%s/nova-fcgi.sock", c->run_dir);
    if (env_copy(c->fcgi_socket, sizeof c->fcgi_socket, "NOVA_FCGI_SOCKET", dflt, errstr,
                 errlen) < 0 ||
        socket_access_from_env(c, errstr, errlen) < 0 ||
        env_long(&c->fcgi_children, "NOVA_FCGI_CHILDREN", 2, 1, 256, errstr, errlen) < 0 ||
        env_long(&c->drain_s, "NOVA_DRAIN_SECONDS", 20, 0, 3600, errstr, errlen) < 0 ||
        env_long(&c->keepalive_s, "NOVA_KEEPALIVE_SECONDS", 15, 1, 300, errstr, errlen) < 0 ||
        env_long(&c->log_ttl_s, "NOVA_LOG_TTL_SECONDS", 3600, 10, 7 * 86400, errstr, errlen) < 0 ||
        env_long(&c->job_deadline_s, "NOVA_JOB_DEADLINE_SECONDS", 300, 1, 86400, errstr,
                 errlen) < 0 ||
        env_long(&c->worker_max_jobs, "NOVA_WORKER_MAX_JOBS", 256, 1, 10000, errstr, errlen) < 0 ||
        env_long(&c->max_queue_depth, "NOVA_MAX_QUEUE_DEPTH", 10000, 1, 10000000, errstr,
                 errlen) < 0 ||
        env_long(&c->max_resumes, "NOVA_MAX_RESUMES_PER_REQUEST", 4, 1, 1000, errstr,
                 errlen) < 0)
        return -1;
    if (env_long(&c->feedback_max, "NOVA_FEEDBACK_MAX", 100000, 1, 100000000, errstr,
                 errlen) < 0)
        return -1;
    char streams[16];
    if (env_copy(streams, sizeof streams, "NOVA_FCGI_STREAMS", "loop", errstr, errlen) < 0)
        return -1;
    if (strcmp(streams, "loop") != 0 && strcmp(streams, "thread") != 0) {
        snprintf(errstr, errlen, "NOVA_FCGI_STREAMS=\"%s\": want thread or loop", streams);
        return -1;
    }
    c->fcgi_streams_loop = strcmp(streams, "loop") == 0;
    /* On the loop an open stream holds no thread: the threads are only the pre-stream pool
     * (validation, search, queueing, the stream steps), so a few are enough. A thread per
     * open stream is the thread mode's sizing rule. */
    if (env_long(&c->fcgi_threads, "NOVA_FCGI_THREADS", c->fcgi_streams_loop ? 16 : 256, 1,
                 8192, errstr, errlen) < 0 ||
        env_long(&c->max_streams, "NOVA_MAX_STREAMS", 10000, 1, 1000000, errstr, errlen) < 0)
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
        env_copy(c->synonyms_file, sizeof c->synonyms_file, "NOVA_SYNONYMS_FILE",
                 "config/synonyms.tsv", errstr, errlen) < 0 ||
        env_copy(c->prompts_dir, sizeof c->prompts_dir, "NOVA_PROMPTS_DIR", "config/prompts",
                 errstr, errlen) < 0 ||
        env_copy(c->prices_file, sizeof c->prices_file, "NOVA_PRICES_FILE", "config/prices.json",
                 errstr, errlen) < 0 ||
        env_copy(c->kb_db, sizeof c->kb_db, "NOVA_KB_DB", dflt, errstr, errlen) < 0 ||
        env_copy(c->kb_dir, sizeof c->kb_dir, "NOVA_KB_DIR", "kb/sample", errstr, errlen) < 0 ||
        env_double(&c->kb_min_score, "NOVA_KB_MIN_SCORE", 0.2, 0, 1, errstr, errlen) < 0 ||
        env_long(&c->session_ttl_s, "NOVA_SESSION_TTL_SECONDS", 86400, 10, 90 * 86400, errstr,
                 errlen) < 0 ||
        env_double(&c->gap_weak_score, "NOVA_GAP_WEAK_SCORE", 0.3, 0, 1, errstr, errlen) < 0 ||
        env_long(&c->gaps_max, "NOVA_GAPS_MAX", 10000, 0, 10000000, errstr, errlen) < 0)
        return -1;
    if (env_long(&c->visibility_timeout_s, "NOVA_VISIBILITY_TIMEOUT_S", 30, 1, 3600, errstr,
                 errlen) < 0 ||
        env_long(&c->max_deliveries, "NOVA_MAX_DELIVERIES", 3, 1, 100, errstr, errlen) < 0 ||
        env_long(&c->worker_outbox_kb, "NOVA_WORKER_OUTBOX_KB", 65536, 16, 4194304, errstr,
                 errlen) < 0 ||
        env_long(&c->keep_jobs, "NOVA_KEEP_JOBS", 0, 0, 1, errstr, errlen) < 0)
        return -1;
    return handoff_from_env(c, errstr, errlen);
}

const char *config_backend_name(enum backend b)
{
    return b == BACKEND_BEDROCK ? "bedrock" : "sim";
}

const char *config_kb_backend_name(enum kb_backend k)
{
    return k == KB_BEDROCK ? "bedrock" : "local";
}

void config_mask_url(const char *url, char *out, size_t n)
{
    if (n == 0)
        return;
    /* A query may carry a token (a webhook's ?token=): everything after '?' is masked. */
    const char *q = strchr(url, '?');
    int ulen = (int)(q ? (size_t)(q - url) : strlen(url));
    const char *tail = q ? "?***" : "";
    const char *start = strstr(url, "://");
    const char *at = NULL;
    if (start && start < url + ulen) {
        start += 3;
        for (const char *p = start; p < url + ulen; p++)
            if (*p == '@')
                at = p;
    }
    if (!at) {
        snprintf(out, n, "%.*s%s", ulen, url, tail);
        return;
    }
    /* "user:secret@" keeps the user; a lone "secret@" is all secret. */
    const char *colon = memchr(start, ':', (size_t)(at - start));
    if (colon)
        snprintf(out, n, "%.*s:***%.*s%s", (int)(colon - url), url, (int)(url + ulen - at), at,
                 tail);
    else
        snprintf(out, n, "%.*s***%.*s%s", (int)(start - url), url, (int)(url + ulen - at), at,
                 tail);
}

/* Every setting, in print order, secrets masked. */
void config_visit(const struct nova_config *c, setting_fn fn, void *arg)
{
    char num[32];
    fn(arg, "backend", config_backend_name(c->backend), false);
    fn(arg, "micro_model", c->micro_model, false);
    fn(arg, "pro_model", c->pro_model, false);
    fn(arg, "kb_backend", config_kb_backend_name(c->kb_backend), false);
    fn(arg, "kb_id", c->kb_id[0] ? c->kb_id : "(unset)", false);
    fn(arg, "log_level", log_level_name(c->log_level), false);
    fn(arg, "run_dir", c->run_dir, false);
    char url[sizeof c->redis_url];
    config_mask_url(c->redis_url, url, sizeof url);
    fn(arg, "redis_url", url, false);
    fn(arg, "redis_tls_ca_file", c->redis_tls_ca_file[0] ? c->redis_tls_ca_file : "(unset)",
       false);
    fn(arg, "redis_tls_cert_file",
       c->redis_tls_cert_file[0] ? c->redis_tls_cert_file : "(unset)", false);
    fn(arg, "fcgi_socket", c->fcgi_socket, false);
    snprintf(num, sizeof num, "%04o", c->fcgi_socket_mode);
    fn(arg, "fcgi_socket_mode", num, false);
    fn(arg, "fcgi_socket_group", c->fcgi_socket_gid >= 0 ? c->fcgi_socket_group : "(unset)",
       false);
    setting_long(fn, arg, "fcgi_children", c->fcgi_children);
    setting_long(fn, arg, "fcgi_threads", c->fcgi_threads);
    fn(arg, "fcgi_streams", c->fcgi_streams_loop ? "loop" : "thread", false);
    setting_long(fn, arg, "max_streams", c->max_streams);
    setting_long(fn, arg, "drain_seconds", c->drain_s);
    setting_long(fn, arg, "keepalive_seconds", c->keepalive_s);
    setting_long(fn, arg, "log_ttl_seconds", c->log_ttl_s);
    setting_long(fn, arg, "job_deadline_seconds", c->job_deadline_s);
    setting_long(fn, arg, "worker_max_jobs", c->worker_max_jobs);
    setting_long(fn, arg, "max_queue_depth", c->max_queue_depth);
    setting_long(fn, arg, "max_resumes_per_request", c->max_resumes);
    setting_long(fn, arg, "feedback_max", c->feedback_max);
    fn(arg, "glossary_file", c->glossary_file, false);
    fn(arg, "synonyms_file", c->synonyms_file[0] ? c->synonyms_file : "(none)", false);
    fn(arg, "prompts_dir", c->prompts_dir, false);
    fn(arg, "prices_file", c->prices_file, false);
    fn(arg, "kb_db", c->kb_db, false);
    fn(arg, "kb_dir", c->kb_dir, false);
    snprintf(num, sizeof num, "%g", c->kb_min_score);
    fn(arg, "kb_min_score", num, true);
    setting_long(fn, arg, "session_ttl_seconds", c->session_ttl_s);
    snprintf(num, sizeof num, "%g", c->gap_weak_score);
    fn(arg, "gap_weak_score", num, true);
    setting_long(fn, arg, "gaps_max", c->gaps_max);
    fn(arg, "api_key", c->api_key[0] ? "(set)" : "(unset)", false);
    setting_long(fn, arg, "visibility_timeout_seconds", c->visibility_timeout_s);
    setting_long(fn, arg, "max_deliveries", c->max_deliveries);
    setting_long(fn, arg, "worker_outbox_kb", c->worker_outbox_kb);
    setting_long(fn, arg, "keep_jobs", c->keep_jobs);
    char hurl[sizeof c->handoff_url];
    config_mask_url(c->handoff_url, hurl, sizeof hurl);
    fn(arg, "handoff_url", c->handoff_url[0] ? hurl : "(unset)", false);
    fn(arg, "handoff_secret", c->handoff_secret[0] ? "(set)" : "(unset)", false);
    setting_long(fn, arg, "handoff_timeout_ms", c->handoff_timeout_ms);
    setting_long(fn, arg, "handoff_max_attempts", c->handoff_max_attempts);
    setting_long(fn, arg, "handoff_retry_base_ms", c->handoff_retry_base_ms);
    setting_long(fn, arg, "handoff_retry_cap_ms", c->handoff_retry_cap_ms);
}

void config_print(const struct nova_config *c, FILE *out)
{
    config_visit(c, setting_print, out);
}

void config_log_fields(const struct nova_config *c, struct log_line *l)
{
    config_visit(c, setting_log, l);
}
