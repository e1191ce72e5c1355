/* creds_chain: the AWS credential chain (environment, shared file, ECS endpoint, IMDSv2) and
 * its configuration (see creds_chain.h); the parsers the links feed live in creds_parse.c. The
 * links block in libcurl easy handles, which is fine because only creds_provider_new and the
 * provider's refresh thread walk the chain. */
#include "aws/creds_chain.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/errstr.h"
#include "core/log.h"

#define CREDS_FILE_MAX (1024 * 1024)  /* shared credentials file */
#define CREDS_HTTP_MAX (64 * 1024)    /* one metadata response */
#define CREDS_LINK_ERR 512            /* one link's explanation */
#define CREDS_DEFAULT_ECS_HOST "http://169.254.170.2"
#define CREDS_DEFAULT_IMDS "http://169.254.169.254"

static const char *const creds_link_names[CREDS_LINKS] = {"environment", "shared-file", "ecs",
                                                          "imds"};

/* Everything a link needs: the config, and a flag the provider raises to abort transfers. */
struct creds_ctx {
    const struct creds_config *c;
    const atomic_bool *stop; /* NULL: never stopped */
};

/* Copies a string into a fixed field; false when it does not fit. */
static bool creds_strlcpy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* Wipes secrets before the memory goes back to the allocator. */
static void creds_buf_wipe(struct buf *b)
{
    if (b->data)
        explicit_bzero(b->data, b->cap);
    buf_free(b);
}

/* ---- configuration ---- */

void creds_config_defaults(struct creds_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->profile, "default");
    strcpy(c->ecs_host, CREDS_DEFAULT_ECS_HOST);
    strcpy(c->imds_endpoint, CREDS_DEFAULT_IMDS);
    c->http_timeout_ms = 1000;
    c->refresh_ahead_s = 300;
}

/* Copies one variable into a field; a value that does not fit fails its link rather than
 * being truncated into something that looks valid. */
static void creds_env_copy(struct creds_config *c, enum creds_link link, const char *var,
                           char *dst, size_t size)
{
    const char *v = getenv(var);
    if (!v)
        return;
    if (!creds_strlcpy(dst, size, v)) {
        dst[0] = '\0';
        snprintf(c->config_error[link], sizeof c->config_error[link],
                 "%s too long (%zu bytes, max %zu)", var, strlen(v), size - 1);
    }
}

void creds_config_from_env(struct creds_config *c)
{
    creds_config_defaults(c);
    creds_env_copy(c, CREDS_LINK_ENV, "AWS_ACCESS_KEY_ID", c->env_access_key_id,
                   sizeof c->env_access_key_id);
    creds_env_copy(c, CREDS_LINK_ENV, "AWS_SECRET_ACCESS_KEY", c->env_secret_access_key,
                   sizeof c->env_secret_access_key);
    creds_env_copy(c, CREDS_LINK_ENV, "AWS_SESSION_TOKEN", c->env_session_token,
                   sizeof c->env_session_token);

    const char *profile = getenv("AWS_PROFILE");
    if (profile && *profile)
        creds_env_copy(c, CREDS_LINK_FILE, "AWS_PROFILE", c->profile, sizeof c->profile);
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = getenv("HOME");
    int n = -1;
    if (file && *file) {
        if (strncmp(file, "~/", 2) == 0 && home) /* the SDKs expand ~ */
            n = snprintf(c->shared_file, sizeof c->shared_file, "%s/%s", home, file + 2);
        else
            n = snprintf(c->shared_file, sizeof c->shared_file, "%s", file);
    } else if (home && *home) {
        n = snprintf(c->shared_file, sizeof c->shared_file, "%s/.aws/credentials", home);
    }
    if (n >= (int)sizeof c->shared_file) {
        c->shared_file[0] = '\0';
        snprintf(c->config_error[CREDS_LINK_FILE], sizeof c->config_error[CREDS_LINK_FILE],
                 "credentials file path too long");
    }

    creds_env_copy(c, CREDS_LINK_ECS, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                   c->ecs_relative_uri, sizeof c->ecs_relative_uri);
    creds_env_copy(c, CREDS_LINK_ECS, "AWS_CONTAINER_CREDENTIALS_FULL_URI", c->ecs_full_uri,
                   sizeof c->ecs_full_uri);
    creds_env_copy(c, CREDS_LINK_ECS, "AWS_CONTAINER_AUTHORIZATION_TOKEN", c->ecs_auth_token,
                   sizeof c->ecs_auth_token);
    creds_env_copy(c, CREDS_LINK_ECS, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                   c->ecs_auth_token_file, sizeof c->ecs_auth_token_file);

    const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (ep && *ep)
        creds_env_copy(c, CREDS_LINK_IMDS, "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                       c->imds_endpoint, sizeof c->imds_endpoint);
    const char *off = getenv("AWS_EC2_METADATA_DISABLED");
    c->imds_disabled = off && strcasecmp(off, "true") == 0;
}

/* ---- HTTP (libcurl easy handles) ---- */

static pthread_once_t creds_curl_once = PTHREAD_ONCE_INIT;
static CURLcode creds_curl_rc = CURLE_FAILED_INIT;

static void creds_curl_init(void)
{
    creds_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct creds_http_sink {
    struct buf *body;
    bool too_large;
};

static size_t creds_http_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct creds_http_sink *s = ud;
    if (buf_append(s->body, p, size * nmemb) < 0) {
        s->too_large = true;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    return size * nmemb;
}

static size_t creds_http_read_none(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p, (void)size, (void)nmemb, (void)ud;
    return 0;
}

/* Lets creds_provider_free abort a refresh that is waiting on a slow endpoint. */
static int creds_http_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load((const atomic_bool *)ud) ? 1 : 0;
}

static struct curl_slist *creds_slist_add(struct curl_slist *l, const char *s)
{
    struct curl_slist *r = curl_slist_append(l, s);
    if (!r) { /* the project's allocation-failure policy (alloc.h) */
        log_error("curl_slist_append: out of memory");
        abort();
    }
    return r;
}

/* One metadata call: method "GET" or "PUT" (empty body), one optional extra header (it may
 * carry a token, so it is never logged). The body lands in `body` (capped by its max).
 * Returns 0 on HTTP 200, else -1 with "METHOD url: reason". */
static int creds_http(const struct creds_ctx *x, const char *method, const char *url,
                      const char *header, struct buf *body, char *err, size_t errlen)
{
    pthread_once(&creds_curl_once, creds_curl_init);
    if (creds_curl_rc != CURLE_OK) {
        errstr_set(err, errlen, "curl_global_init: %s", curl_easy_strerror(creds_curl_rc));
        return -1;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        errstr_set(err, errlen, "curl_easy_init failed");
        return -1;
    }
    long timeout = x->c->http_timeout_ms > 0 ? x->c->http_timeout_ms : 1000;
    struct creds_http_sink sink = {body, false};
    struct curl_slist *hdrs = NULL;
    if (header)
        hdrs = creds_slist_add(hdrs, header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* metadata endpoints are never proxied */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM from a worker thread */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dual-nova");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, creds_http_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, creds_http_read_none);
        hdrs = creds_slist_add(hdrs, "Expect:");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (x->stop) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, creds_http_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)x->stop);
    }
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (sink.too_large)
        errstr_set(err, errlen, "%s %s: response larger than %zu bytes", method, url, body->max);
    else if (rc != CURLE_OK)
        errstr_set(err, errlen, "%s %s: %s", method, url,
                  rc == CURLE_ABORTED_BY_CALLBACK ? "stopped" : curl_easy_strerror(rc));
    else if (status != 200)
        errstr_set(err, errlen, "%s %s: HTTP %ld", method, url, status);
    else
        return 0;
    return -1;
}

/* base + path without a doubled slash; -1 when it does not fit. */
static int creds_join_url(char *out, size_t outlen, const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    int w = snprintf(out, outlen, "%.*s%s", (int)n, base, path);
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

/* ---- the links ---- */

static int creds_from_env(const struct creds_ctx *x, struct aws_creds *out, char *err,
                          size_t errlen)
{
    const struct creds_config *c = x->c;
    const char *id = c->env_access_key_id, *secret = c->env_secret_access_key;
    if (!*id && !*secret) {
        errstr_set(err, errlen, "not set");
        return -1;
    }
    if (!*id || !*secret) {
        errstr_set(err, errlen, "%s set without %s",
                  *id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                  *id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->source = "environment";
    const char *tok = c->env_session_token;
    if (creds_copy_value(out->access_key_id, sizeof out->access_key_id, id, strlen(id),
                         "AWS_ACCESS_KEY_ID", err, errlen) < 0 ||
        creds_copy_value(out->secret_access_key, sizeof out->secret_access_key, secret,
                         strlen(secret), "AWS_SECRET_ACCESS_KEY", err, errlen) < 0 ||
        (*tok && creds_copy_value(out->session_token, sizeof out->session_token, tok,
                                  strlen(tok), "AWS_SESSION_TOKEN", err, errlen) < 0))
        return -1;
    return 0;
}

/* Reads a whole regular file of at most max bytes into b. */
static int creds_read_file(const char *path, size_t max, struct buf *b, char *err,
                           size_t errlen)
{
    char eb[128];
    /* O_NONBLOCK: open(2) of a FIFO would otherwise wait for a writer before fstat can
     * refuse it; regular files ignore the flag. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        errstr_set(err, errlen, "%s: %s", path, strerror_r(errno, eb, sizeof eb));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        errstr_set(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    buf_init(b, max);
    char chunk[8192];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            errstr_set(err, errlen, "%s: read: %s", path, strerror_r(errno, eb, sizeof eb));
            break;
        }
        if (r == 0) {
            close(fd);
            explicit_bzero(chunk, sizeof chunk);
            return 0;
        }
        if (buf_append(b, chunk, (size_t)r) < 0) {
            errstr_set(err, errlen, "%s: larger than %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    explicit_bzero(chunk, sizeof chunk);
    creds_buf_wipe(b);
    return -1;
}

static int creds_from_file(const struct creds_ctx *x, struct aws_creds *out, char *err,
                           size_t errlen)
{
    const struct creds_config *c = x->c;
    if (!c->shared_file[0]) {
        errstr_set(err, errlen, "no file configured (HOME not set)");
        return -1;
    }
    struct buf b;
    if (creds_read_file(c->shared_file, CREDS_FILE_MAX, &b, err, errlen) < 0)
        return -1;
    char e[CREDS_LINK_ERR / 2];
    int rc = creds_parse_shared_file(buf_cstr(&b), b.len, c->profile, out, e, sizeof e);
    if (rc < 0)
        errstr_set(err, errlen, "%s: %s", c->shared_file, e);
    creds_buf_wipe(&b);
    return rc;
}

/* The SDKs' rule for AWS_CONTAINER_CREDENTIALS_FULL_URI: https anywhere, plain http only to
 * this host or the ECS/EKS agent addresses, decided from the literal without any lookup. */
static bool creds_ecs_uri_allowed(const char *uri)
{
    for (const char *s = uri; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    if (strncasecmp(uri, "https://", 8) == 0)
        return true;
    if (strncasecmp(uri, "http://", 7) != 0)
        return false;
    const char *auth = uri + 7;
    size_t n = strcspn(auth, "/?#");
    if (n == 0 || n >= 300)
        return false;
    char host[300];
    memcpy(host, auth, n);
    host[n] = '\0';
    /* Only what curl reads the same way: no userinfo, no odd characters. */
    if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != n)
        return false;
    const char *port = "";
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        port = close[1] ? close + 2 : "";
        memmove(host, host + 1, (size_t)(close - host)); /* strip the brackets */
        host[close - host - 1] = '\0';
    } else {
        char *colon = strchr(host, ':');
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
    }
    if (strspn(port, "0123456789") != strlen(port))
        return false;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6, ecs6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 24) == 127 || a == 0xA9FEAA02u /* 169.254.170.2 */ ||
               a == 0xA9FEAA17u /* 169.254.170.23 */;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        inet_pton(AF_INET6, "fd00:ec2::23", &ecs6);
        return IN6_IS_ADDR_LOOPBACK(&a6) || memcmp(&a6, &ecs6, sizeof a6) == 0;
    }
    return false;
}

/* The Authorization value: the token file (read at every fetch, since the agent rotates
 * it) wins over the plain variable. "" when neither is set. */
static int creds_ecs_token(const struct creds_config *c, char *tok, size_t toklen, char *err,
                           size_t errlen)
{
    const char *p = c->ecs_auth_token;
    size_t n = strlen(p);
    struct buf b = {0};
    if (c->ecs_auth_token_file[0]) {
        if (creds_read_file(c->ecs_auth_token_file, CREDS_HTTP_MAX, &b, err, errlen) < 0)
            return -1;
        p = buf_cstr(&b);
        n = b.len;
    }
    while (n && memchr(" \t\r\n", p[0], 4))
        p++, n--;
    while (n && memchr(" \t\r\n", p[n - 1], 4))
        n--;
    int rc = 0;
    if (n >= toklen) {
        errstr_set(err, errlen, "authorization token too long");
        rc = -1;
    } else if (memchr(p, '\r', n) || memchr(p, '\n', n) || memchr(p, '\0', n)) {
        errstr_set(err, errlen, "authorization token contains CR, LF or NUL");
        rc = -1;
    } else {
        memcpy(tok, p, n);
        tok[n] = '\0';
    }
    creds_buf_wipe(&b);
    return rc;
}

static int creds_from_ecs(const struct creds_ctx *x, struct aws_creds *out, char *err,
                          size_t errlen)
{
    const struct creds_config *c = x->c;
    char url[CREDS_STR_MAX + CREDS_KEY_MAX];
    if (c->ecs_relative_uri[0]) {
        if (c->ecs_relative_uri[0] != '/' ||
            creds_join_url(url, sizeof url, c->ecs_host, c->ecs_relative_uri) < 0) {
            errstr_set(err, errlen, "bad relative URI \"%.200s\"", c->ecs_relative_uri);
            return -1;
        }
    } else if (c->ecs_full_uri[0]) {
        if (!creds_ecs_uri_allowed(c->ecs_full_uri)) {
            errstr_set(err, errlen,
                      "full URI %.300s refused: not https and not a loopback or ECS host",
                      c->ecs_full_uri);
            return -1;
        }
        snprintf(url, sizeof url, "%s", c->ecs_full_uri);
    } else {
        errstr_set(err, errlen, "not configured");
        return -1;
    }
    char tok[CREDS_TOKEN_MAX], header[CREDS_TOKEN_MAX + 32];
    if (creds_ecs_token(c, tok, sizeof tok, err, errlen) < 0)
        return -1;
    snprintf(header, sizeof header, "Authorization: %s", tok);
    struct buf body;
    buf_init(&body, CREDS_HTTP_MAX);
    int rc = creds_http(x, "GET", url, tok[0] ? header : NULL, &body, err, errlen);
    explicit_bzero(tok, sizeof tok);
    explicit_bzero(header, sizeof header);
    char e[CREDS_LINK_ERR / 2];
    if (rc == 0 && (rc = creds_parse_json(buf_cstr(&body), body.len, out, e, sizeof e)) < 0)
        errstr_set(err, errlen, "GET %s: %s", url, e);
    creds_buf_wipe(&body);
    if (rc == 0)
        out->source = "ecs";
    return rc;
}

static int creds_from_imds(const struct creds_ctx *x, struct aws_creds *out, char *err,
                           size_t errlen)
{
    static const char creds_path[] = "/latest/meta-data/iam/security-credentials/";
    const struct creds_config *c = x->c;
    if (c->imds_disabled) {
        errstr_set(err, errlen, "disabled");
        return -1;
    }
    const char *base = c->imds_endpoint[0] ? c->imds_endpoint : CREDS_DEFAULT_IMDS;
    char url[CREDS_STR_MAX + 128], header[256];
    struct buf body;
    buf_init(&body, CREDS_HTTP_MAX);
    int rc = -1;
    if (creds_join_url(url, sizeof url, base, "/latest/api/token") < 0) {
        errstr_set(err, errlen, "endpoint too long");
        goto out;
    }
    if (creds_http(x, "PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 21600", &body, err,
                   errlen) < 0)
        goto out;
    char tok[160];
    if (creds_copy_value(tok, sizeof tok, buf_cstr(&body), body.len, "IMDS token", err,
                         errlen) < 0)
        goto out;
    snprintf(header, sizeof header, "X-aws-ec2-metadata-token: %s", tok);
    explicit_bzero(tok, sizeof tok);

    creds_join_url(url, sizeof url, base, creds_path);
    buf_reset(&body);
    if (creds_http(x, "GET", url, header, &body, err, errlen) < 0)
        goto out;
    /* The first line names the role; IAM role names are [A-Za-z0-9+=,.@_-]. */
    const char *nl = memchr(buf_cstr(&body), '\n', body.len);
    size_t n = nl ? (size_t)(nl - buf_cstr(&body)) : body.len;
    char role[72], e[CREDS_LINK_ERR / 2];
    if (creds_copy_value(role, sizeof role, buf_cstr(&body), n, "role name", e, sizeof e) < 0 ||
        strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-") !=
            strlen(role)) {
        errstr_set(err, errlen, "GET %s: no usable role name", url);
        goto out;
    }

    size_t ulen = strlen(url);
    snprintf(url + ulen, sizeof url - ulen, "%s", role);
    buf_reset(&body);
    if (creds_http(x, "GET", url, header, &body, err, errlen) < 0)
        goto out;
    if (creds_parse_json(buf_cstr(&body), body.len, out, e, sizeof e) < 0) {
        errstr_set(err, errlen, "GET %s: %s", url, e);
        goto out;
    }
    out->source = "imds";
    rc = 0;
out:
    explicit_bzero(header, sizeof header);
    creds_buf_wipe(&body);
    return rc;
}

static int creds_resolve_ctx(const struct creds_ctx *x, struct aws_creds *out, char *errstr,
                             size_t errlen)
{
    typedef int (*link_fn)(const struct creds_ctx *, struct aws_creds *, char *, size_t);
    static const link_fn links[CREDS_LINKS] = {creds_from_env, creds_from_file,
                                               creds_from_ecs, creds_from_imds};
    char msg[CREDS_LINKS][CREDS_LINK_ERR];
    for (int i = 0; i < CREDS_LINKS; i++) {
        if (x->stop && atomic_load(x->stop)) {
            snprintf(msg[i], sizeof msg[i], "stopped");
            continue;
        }
        if (x->c->config_error[i][0]) {
            snprintf(msg[i], sizeof msg[i], "%s", x->c->config_error[i]);
            continue;
        }
        msg[i][0] = '\0';
        if (links[i](x, out, msg[i], sizeof msg[i]) == 0)
            return 0;
    }
    explicit_bzero(out, sizeof *out);
    errstr_set(errstr, errlen, "%s: %s; %s: %s; %s: %s; %s: %s", creds_link_names[0], msg[0],
              creds_link_names[1], msg[1], creds_link_names[2], msg[2], creds_link_names[3],
              msg[3]);
    return -1;
}

int creds_resolve(const struct creds_config *c, struct aws_creds *out, char *errstr,
                  size_t errlen)
{
    return creds_resolve_until(c, NULL, out, errstr, errlen);
}

int creds_resolve_until(const struct creds_config *c, const atomic_bool *stop,
                        struct aws_creds *out, char *errstr, size_t errlen)
{
    struct creds_ctx x = {c, stop};
    return creds_resolve_ctx(&x, out, errstr, errlen);
}
