/* test_creds: the credential chain against loopback stand-ins for the ECS agent and IMDS, and
 * the provider's background refresh (the parsers: test_creds_parse.c). Every config starts from
 * creds_config_defaults() and points only at 127.0.0.1, so the machine's own environment and
 * the real metadata addresses are never involved. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "aws/creds.h"
#include "test.h"
#include "testhttpd.h"

static char tmpdir[64];
static char tmpfiles[16][128];
static int ntmpfiles;

/* Writes text to a file in the test's temporary directory; path receives its name. */
static void write_tmp(const char *name, const char *text, size_t len, char *path, size_t plen)
{
    snprintf(path, plen, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(text, 1, len, f) == len);
    fclose(f);
    for (int i = 0; i < ntmpfiles; i++)
        if (strcmp(tmpfiles[i], path) == 0)
            return;
    if (ntmpfiles < 16)
        snprintf(tmpfiles[ntmpfiles++], sizeof tmpfiles[0], "%s", path);
}

/* A config that reaches nothing: no environment, no file, no ECS, IMDS off. */
static void quiet_config(struct creds_config *c)
{
    creds_config_defaults(c);
    c->imds_disabled = true;
    c->http_timeout_ms = 3000; /* generous for valgrind; loopback answers at once */
}

static void url(char *out, size_t n, const struct testhttpd *s, const char *path)
{
    snprintf(out, n, "http://127.0.0.1:%d%s", testhttpd_port(s), path);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The JSON both endpoints answer with (IMDS adds Code and Type). */
static void put_creds_json(struct buf *b, bool imds, const char *key, time_t exp)
{
    char ts[32];
    struct tm tm;
    gmtime_r(&exp, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf_printf(b, "{%s\"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"secret-%s\", "
                  "\"Token\": \"token-%s\", \"Expiration\": \"%s\"}\n",
               imds ? "\"Code\": \"Success\", \"Type\": \"AWS-HMAC\", " : "\"RoleArn\": \"x\", ",
               key, key, key, ts);
}

/* ---- an ECS agent stand-in ---- */

struct ecs_srv {
    const char *want_path;
    char want_auth[64]; /* "" = the header must be absent */
    unsigned requests, rejected;
};

static void ecs_handler(void *user, const struct http_request *req, struct testhttpd_response *r)
{
    struct ecs_srv *e = user;
    e->requests++;
    const struct http_span *auth = http_request_header(req, "Authorization");
    if (!http_span_eq(req->method, "GET") || !http_span_eq(req->path, e->want_path)) {
        r->status = 404;
    } else if (e->want_auth[0] ? !auth || !http_span_eq(*auth, e->want_auth) : auth != NULL) {
        e->rejected++;
        r->status = 401;
    } else {
        r->status = 200;
        snprintf(r->content_type, sizeof r->content_type, "application/json");
        put_creds_json(&r->body, false, "ASIAECS", time(NULL) + 3600);
    }
}

/* ---- an IMDSv2 stand-in ---- */

struct imds_srv {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *issue_token, *want_token; /* PUT hands out one, GETs must carry the other */
    const char *role_body;
    const char *code;
    int expires_in;   /* Expiration = now + this */
    unsigned fail_after; /* credential fetches after this many get HTTP 500 (0 = never) */
    size_t big;       /* when set, the credentials answer is this many bytes */
    bool block;       /* hold credential fetches until the test clears it */
    bool blocked;     /* a fetch is being held */
    unsigned fetches, bad_token, double_slash;
};

static void imds_init(struct imds_srv *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->issue_token = m->want_token = "AQAEAtoken==";
    m->role_body = "test-role\nother-role\n";
    m->code = "Success";
    m->expires_in = 3600;
}

static void imds_destroy(struct imds_srv *m)
{
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
}

static void imds_set_block(struct imds_srv *m, bool on)
{
    pthread_mutex_lock(&m->mu);
    m->block = on;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void imds_handler(void *user, const struct http_request *req,
                         struct testhttpd_response *r)
{
    static const char list[] = "/latest/meta-data/iam/security-credentials/";
    struct imds_srv *m = user;
    pthread_mutex_lock(&m->mu);
    const struct http_span *ttl = http_request_header(req, "X-aws-ec2-metadata-token-ttl-seconds");
    const struct http_span *tok = http_request_header(req, "X-aws-ec2-metadata-token");
    bool get = http_span_eq(req->method, "GET");
    r->status = 404;
    if (memmem(req->path.p, req->path.len, "//", 2)) {
        m->double_slash++;
    } else if (http_span_eq(req->method, "PUT") && http_span_eq(req->path, "/latest/api/token")) {
        r->status = ttl && http_span_eq(*ttl, "21600") ? 200 : 400;
        buf_puts(&r->body, m->issue_token);
    } else if (get && (!tok || !http_span_eq(*tok, m->want_token))) {
        m->bad_token++;
        r->status = 401;
    } else if (get && http_span_eq(req->path, list)) {
        r->status = 200;
        buf_puts(&r->body, m->role_body);
    } else if (get && req->path.len > sizeof list - 1 &&
               http_span_eq((struct http_span){req->path.p + sizeof list - 1,
                                               req->path.len - (sizeof list - 1)},
                            "test-role")) {
        /* Held requests give up after 10 s so a failing test cannot hang the suite. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        m->blocked = m->block;
        pthread_cond_broadcast(&m->cv);
        while (m->block && pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT)
            ;
        m->blocked = false;
        m->fetches++;
        char key[32];
        snprintf(key, sizeof key, "ASIA%04u", m->fetches);
        r->status = m->fail_after && m->fetches > m->fail_after ? 500 : 200;
        if (m->big)
            while (r->body.len < m->big && buf_puts(&r->body, "{\"pad\": 0}     ") == 0)
                ;
        else if (strcmp(m->code, "Success") != 0)
            buf_printf(&r->body, "{\"Code\": \"%s\", \"Message\": \"no role\"}", m->code);
        else
            put_creds_json(&r->body, true, key, time(NULL) + m->expires_in);
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- the environment link ---- */

static void test_env_link(void)
{
    struct creds_config c;
    struct aws_creds a;
    char err[1024];
    quiet_config(&c);
    strcpy(c.env_access_key_id, "AKIAIOSFODNN7EXAMPLE");
    strcpy(c.env_secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "environment");
    CHECK_STR_EQ(a.access_key_id, "AKIAIOSFODNN7EXAMPLE");
    CHECK_STR_EQ(a.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    CHECK_STR_EQ(a.session_token, "");
    CHECK(a.expiration == 0);

    strcpy(c.env_session_token, "FwoGZXIvYXdzEJr//////////token=");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.session_token, "FwoGZXIvYXdzEJr//////////token=");
}

static void test_env_key_without_secret(void)
{
    struct creds_config c;
    struct aws_creds a;
    char err[1024], path[128];
    quiet_config(&c);
    strcpy(c.env_access_key_id, "AKIDONLY");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "environment: AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY;"));

    /* The broken link explains itself and the chain goes on. */
    const char *ini = "[default]\naws_access_key_id=AKIDFILE\naws_secret_access_key=sfile\n";
    write_tmp("envfall", ini, strlen(ini), path, sizeof path);
    strcpy(c.shared_file, path);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "shared-file");

    quiet_config(&c);
    strcpy(c.env_access_key_id, "AKID WITH BLANK");
    strcpy(c.env_secret_access_key, "secret");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "environment: AWS_ACCESS_KEY_ID contains a blank"));
}

/* ---- the shared credentials file ---- */

/* Profiles for the file link; the syntax itself is covered in test_creds_parse.c. */
static const char ini_text[] = "[default]\naws_access_key_id = AKIDDEFAULT\n"
                               "aws_secret_access_key = secretdefault\n"
                               "[work]\naws_access_key_id = AKIDWORK\n"
                               "aws_secret_access_key = secretwork\naws_session_token = tokwork\n";

static void test_shared_file_link(void)
{
    struct creds_config c;
    struct aws_creds a;
    char err[1024], path[128];
    quiet_config(&c);
    write_tmp("credentials", ini_text, strlen(ini_text), path, sizeof path);
    strcpy(c.shared_file, path);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "shared-file");
    CHECK_STR_EQ(a.access_key_id, "AKIDDEFAULT");
    strcpy(c.profile, "work");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.access_key_id, "AKIDWORK");
    CHECK_STR_EQ(a.session_token, "tokwork");

    strcpy(c.profile, "missing");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    char want[256];
    snprintf(want, sizeof want, "shared-file: %s: no profile \"missing\";", path);
    CHECK(strstr(err, want));

    snprintf(c.shared_file, sizeof c.shared_file, "%s/does-not-exist", tmpdir);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    snprintf(want, sizeof want, "shared-file: %s/does-not-exist: No such file or directory;",
             tmpdir);
    CHECK(strstr(err, want));

    /* A FIFO is refused, not waited on. */
    snprintf(path, sizeof path, "%s/fifo", tmpdir);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(tmpfiles[ntmpfiles++], sizeof tmpfiles[0], "%s", path);
    strcpy(c.shared_file, path);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "fifo: not a regular file"));

    /* Over the 1 MiB cap: refused, not read without bound. */
    size_t big = 1024 * 1024 + 10;
    char *text = malloc(big);
    memset(text, '#', big);
    write_tmp("huge", text, big, path, sizeof path);
    free(text);
    strcpy(c.shared_file, path);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "larger than 1048576 bytes"));
}

static void test_config_from_env(void)
{
    static const char *const set[][2] = {
        {"AWS_ACCESS_KEY_ID", "AKIDENV"},
        {"AWS_SECRET_ACCESS_KEY", "secretenv"},
        {"AWS_SESSION_TOKEN", "tokenenv"},
        {"AWS_PROFILE", "work"},
        {"AWS_SHARED_CREDENTIALS_FILE", "~/creds"},
        {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"},
        {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"},
        {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"},
        {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/run/tok"},
        {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"},
        {"AWS_EC2_METADATA_DISABLED", "TrUe"}};
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        unsetenv(set[i][0]);
    struct creds_config c;

    setenv("HOME", "/nonexistent-home", 1);
    creds_config_from_env(&c);
    CHECK_STR_EQ(c.shared_file, "/nonexistent-home/.aws/credentials");
    CHECK_STR_EQ(c.profile, "default");
    CHECK_STR_EQ(c.imds_endpoint, "http://169.254.169.254");
    CHECK_STR_EQ(c.ecs_host, "http://169.254.170.2");
    CHECK(!c.imds_disabled && c.http_timeout_ms == 1000 && c.refresh_ahead_s == 300);
    CHECK(c.env_access_key_id[0] == '\0' && c.ecs_full_uri[0] == '\0');

    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        setenv(set[i][0], set[i][1], 1);
    creds_config_from_env(&c);
    CHECK_STR_EQ(c.env_access_key_id, "AKIDENV");
    CHECK_STR_EQ(c.env_secret_access_key, "secretenv");
    CHECK_STR_EQ(c.env_session_token, "tokenenv");
    CHECK_STR_EQ(c.profile, "work");
    CHECK_STR_EQ(c.shared_file, "/nonexistent-home/creds");
    CHECK_STR_EQ(c.ecs_relative_uri, "/v2/credentials/x");
    CHECK_STR_EQ(c.ecs_full_uri, "http://127.0.0.1:9/creds");
    CHECK_STR_EQ(c.ecs_auth_token, "tok");
    CHECK_STR_EQ(c.ecs_auth_token_file, "/run/tok");
    CHECK_STR_EQ(c.imds_endpoint, "http://127.0.0.1:9/");
    CHECK(c.imds_disabled);
    for (int i = 0; i < CREDS_LINKS; i++)
        CHECK(c.config_error[i][0] == '\0');

    setenv("AWS_EC2_METADATA_DISABLED", "1", 1); /* only "true" counts, as in the SDKs */
    char longkey[CREDS_KEY_MAX + 10];
    memset(longkey, 'K', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    setenv("AWS_ACCESS_KEY_ID", longkey, 1);
    creds_config_from_env(&c);
    CHECK(!c.imds_disabled);
    CHECK_STR_EQ(c.env_access_key_id, "");
    CHECK(strstr(c.config_error[CREDS_LINK_ENV], "AWS_ACCESS_KEY_ID too long"));
    /* The oversized link fails with that reason; no network is needed to see it. */
    c.shared_file[0] = '\0';
    c.ecs_relative_uri[0] = c.ecs_full_uri[0] = '\0';
    c.imds_disabled = true;
    struct aws_creds a;
    char err[1024];
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "environment: AWS_ACCESS_KEY_ID too long"));

    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        unsetenv(set[i][0]);
    if (home)
        setenv("HOME", home, 1);
    else
        unsetenv("HOME");
    free(home);
}

/* ---- ECS ---- */

static void test_ecs_full_uri_token(void)
{
    struct ecs_srv e = {.want_path = "/creds", .want_auth = "Bearer s3cret"};
    struct testhttpd *s = testhttpd_start(ecs_handler, &e);
    CHECK(s != NULL);
    if (!s)
        return;
    struct creds_config c;
    struct aws_creds a;
    char err[1024], path[128];
    quiet_config(&c);
    url(c.ecs_full_uri, sizeof c.ecs_full_uri, s, "/creds");
    strcpy(c.ecs_auth_token, "Bearer s3cret");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "ecs");
    CHECK_STR_EQ(a.access_key_id, "ASIAECS");
    CHECK_STR_EQ(a.secret_access_key, "secret-ASIAECS");
    CHECK_STR_EQ(a.session_token, "token-ASIAECS");
    CHECK(a.expiration > time(NULL) + 3500);

    strcpy(c.ecs_auth_token, "Bearer wrong");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "ecs: GET http://127.0.0.1:") && strstr(err, "/creds: HTTP 401;"));
    CHECK(e.rejected == 1);

    /* The file wins over the variable and is read again at every fetch. */
    write_tmp("ecs-token", "  file-token\n", 13, path, sizeof path);
    strcpy(c.ecs_auth_token_file, path);
    strcpy(e.want_auth, "file-token");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    write_tmp("ecs-token", "rotated-token\r\n", 15, path, sizeof path);
    strcpy(e.want_auth, "rotated-token");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);

    /* CR/LF would smuggle a header in: refused before connecting. */
    unsigned long before = testhttpd_connections(s);
    write_tmp("ecs-token", "abc\r\nX-Evil: 1\n", 16, path, sizeof path);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "ecs: authorization token contains CR, LF or NUL"));
    c.ecs_auth_token_file[0] = '\0';
    strcpy(c.ecs_auth_token, "abc\nX-Evil: 1");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "ecs: authorization token contains CR, LF or NUL"));
    snprintf(c.ecs_auth_token_file, sizeof c.ecs_auth_token_file, "%s/no-token", tmpdir);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "no-token: No such file or directory"));
    CHECK(testhttpd_connections(s) == before);

    /* localhost is loopback too; no token means no Authorization header. */
    c.ecs_auth_token_file[0] = c.ecs_auth_token[0] = '\0';
    e.want_auth[0] = '\0';
    snprintf(c.ecs_full_uri, sizeof c.ecs_full_uri, "http://localhost:%d/creds",
             testhttpd_port(s));
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    testhttpd_stop(s);
}

static void test_ecs_relative_uri(void)
{
    struct ecs_srv e = {.want_path = "/v2/credentials/abc-123"};
    struct testhttpd *s = testhttpd_start(ecs_handler, &e);
    CHECK(s != NULL);
    if (!s)
        return;
    struct creds_config c;
    struct aws_creds a;
    char err[1024];
    quiet_config(&c);
    url(c.ecs_host, sizeof c.ecs_host, s, "/"); /* a trailing slash must not give "//" */
    strcpy(c.ecs_relative_uri, "/v2/credentials/abc-123");
    /* The relative URI wins over a full one. */
    strcpy(c.ecs_full_uri, "http://127.0.0.1:1/never");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "ecs");
    CHECK_STR_EQ(a.access_key_id, "ASIAECS");
    CHECK(e.requests == 1);
    testhttpd_stop(s);
}

static void test_ecs_full_uri_refused(void)
{
    struct ecs_srv e = {.want_path = "/creds"};
    struct testhttpd *s = testhttpd_start(ecs_handler, &e);
    CHECK(s != NULL);
    if (!s)
        return;
    /* Each would reach this loopback server if the check let it through; none may. */
    static const char *const bad[] = {"http://0.0.0.0:%d/creds", "http://127.0.0.1@0.0.0.0:%d/",
                                      "ftp://127.0.0.1:%d/creds", "http://127.0.0.1:%d x/creds",
                                      "http://[::ffff:0.0.0.0]:%d/creds"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct creds_config c;
        struct aws_creds a;
        char err[1024];
        quiet_config(&c);
        snprintf(c.ecs_full_uri, sizeof c.ecs_full_uri, bad[i], testhttpd_port(s));
        CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
        CHECK(strstr(err, "refused: not https and not a loopback or ECS host"));
    }
    CHECK(testhttpd_connections(s) == 0);
    testhttpd_stop(s);
}

/* ---- IMDSv2 ---- */

static void test_imds(void)
{
    struct imds_srv m;
    imds_init(&m);
    struct testhttpd *s = testhttpd_start(imds_handler, &m);
    CHECK(s != NULL);
    if (!s)
        return;
    struct creds_config c;
    struct aws_creds a;
    char err[1024];
    quiet_config(&c);
    c.imds_disabled = false;
    url(c.imds_endpoint, sizeof c.imds_endpoint, s, "");
    time_t t0 = time(NULL);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "imds");
    CHECK_STR_EQ(a.access_key_id, "ASIA0001");
    CHECK_STR_EQ(a.secret_access_key, "secret-ASIA0001");
    CHECK_STR_EQ(a.session_token, "token-ASIA0001");
    CHECK(a.expiration >= t0 + 3599 && a.expiration <= time(NULL) + 3600);

    url(c.imds_endpoint, sizeof c.imds_endpoint, s, "/");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.access_key_id, "ASIA0002");
    CHECK(m.double_slash == 0 && m.bad_token == 0);

    /* The server insists on the token it issued: a GET without it is answered 401. */
    m.want_token = "other-token";
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "imds: GET http://127.0.0.1:") &&
          strstr(err, "/latest/meta-data/iam/security-credentials/: HTTP 401"));
    CHECK(m.bad_token == 1);
    m.want_token = m.issue_token;

    m.role_body = "\n";
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "no usable role name"));
    m.role_body = "../etc\n";
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "no usable role name"));
    m.role_body = "test-role";

    m.code = "AssumeRoleUnauthorizedAccess";
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "Code \"AssumeRoleUnauthorizedAccess\": no role"));
    m.code = "Success";

    m.big = 100 * 1024;
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "response larger than 65536 bytes"));
    m.big = 0;

    /* A hung endpoint costs one timeout, no more. */
    c.http_timeout_ms = 500;
    imds_set_block(&m, true);
    double t = now_mono();
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(now_mono() - t < 2.0);
    CHECK(strstr(err, "test-role: Timeout was reached"));
    imds_set_block(&m, false);

    c.imds_disabled = true;
    unsigned long before = testhttpd_connections(s);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK(strstr(err, "imds: disabled"));
    CHECK(testhttpd_connections(s) == before);
    testhttpd_stop(s);
    imds_destroy(&m);
}

/* ---- the chain ---- */

static void test_chain_order(void)
{
    struct ecs_srv e = {.want_path = "/creds"};
    struct imds_srv m;
    imds_init(&m);
    struct testhttpd *es = testhttpd_start(ecs_handler, &e);
    struct testhttpd *ms = testhttpd_start(imds_handler, &m);
    CHECK(es && ms);
    if (!es || !ms)
        goto out;
    struct creds_config c;
    struct aws_creds a;
    char err[1024], path[128];
    quiet_config(&c);
    strcpy(c.env_access_key_id, "AKIDENV");
    strcpy(c.env_secret_access_key, "secretenv");
    write_tmp("chain", ini_text, strlen(ini_text), path, sizeof path);
    strcpy(c.shared_file, path);
    url(c.ecs_full_uri, sizeof c.ecs_full_uri, es, "/creds");
    url(c.imds_endpoint, sizeof c.imds_endpoint, ms, "");
    c.imds_disabled = false;

    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "environment");
    c.env_access_key_id[0] = c.env_secret_access_key[0] = '\0';
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "shared-file");
    CHECK(testhttpd_connections(es) == 0 && testhttpd_connections(ms) == 0);
    strcpy(c.profile, "absent");
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "ecs");
    CHECK(testhttpd_connections(ms) == 0);
    c.ecs_full_uri[0] = '\0';
    CHECK(creds_resolve(&c, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.source, "imds");
out:
    testhttpd_stop(es);
    testhttpd_stop(ms);
    imds_destroy(&m);
}

static void test_total_failure_names_every_link(void)
{
    struct ecs_srv e = {.want_path = "/elsewhere"};
    struct testhttpd *es = testhttpd_start(ecs_handler, &e);
    struct testhttpd *gone = testhttpd_start(ecs_handler, &e);
    CHECK(es && gone);
    if (!es || !gone) {
        testhttpd_stop(es);
        testhttpd_stop(gone);
        return;
    }
    int closed_port = testhttpd_port(gone);
    testhttpd_stop(gone); /* nothing listens there any more: connection refused */
    struct creds_config c;
    struct aws_creds a;
    char err[2048], want[1024];
    quiet_config(&c);
    snprintf(c.shared_file, sizeof c.shared_file, "%s/absent", tmpdir);
    url(c.ecs_full_uri, sizeof c.ecs_full_uri, es, "/creds");
    snprintf(c.imds_endpoint, sizeof c.imds_endpoint, "http://127.0.0.1:%d", closed_port);
    c.imds_disabled = false;
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    snprintf(want, sizeof want,
             "environment: not set; shared-file: %s/absent: No such file or directory; "
             "ecs: GET http://127.0.0.1:%d/creds: HTTP 404; imds: PUT "
             "http://127.0.0.1:%d/latest/api/token: Couldn't connect to server",
             tmpdir, testhttpd_port(es), closed_port);
    CHECK_STR_EQ(err, want);
    CHECK(a.access_key_id[0] == '\0');

    quiet_config(&c);
    CHECK(creds_resolve(&c, &a, err, sizeof err) == -1);
    CHECK_STR_EQ(err, "environment: not set; shared-file: no file configured (HOME not set); "
                      "ecs: not configured; imds: disabled");
    testhttpd_stop(es);
}

/* ---- the provider ---- */

static bool wait_refreshes(struct creds_provider *p, unsigned long n, double timeout_s)
{
    double end = now_mono() + timeout_s;
    while (creds_provider_refreshes(p) < n) {
        if (now_mono() > end)
            return false;
        nap_ms(20);
    }
    return true;
}

struct prov_fixture {
    struct imds_srv m;
    struct testhttpd *s;
    struct creds_provider *p;
};

/* An IMDS server whose credentials expire expires_in s after each fetch (and fail after
 * fail_after fetches), and a provider on it refreshing refresh_ahead s before expiry. */
static bool prov_start(struct prov_fixture *f, int expires_in, unsigned fail_after,
                       int refresh_ahead)
{
    imds_init(&f->m);
    f->m.expires_in = expires_in;
    f->m.fail_after = fail_after;
    f->p = NULL;
    f->s = testhttpd_start(imds_handler, &f->m);
    CHECK(f->s != NULL);
    if (!f->s)
        return false;
    struct creds_config c;
    char err[1024];
    quiet_config(&c);
    c.imds_disabled = false;
    url(c.imds_endpoint, sizeof c.imds_endpoint, f->s, "");
    c.refresh_ahead_s = refresh_ahead;
    f->p = creds_provider_new(&c, err, sizeof err);
    CHECK(f->p != NULL);
    return f->p != NULL;
}

static void prov_stop(struct prov_fixture *f)
{
    double t = now_mono();
    creds_provider_free(f->p);
    CHECK(now_mono() - t < 0.5); /* the refresh thread is woken, not waited out */
    testhttpd_stop(f->s);
    imds_destroy(&f->m);
}

static void test_provider_refresh_swaps_key(void)
{
    struct prov_fixture f;
    struct aws_creds a;
    char err[1024];
    if (prov_start(&f, 3, 0, 1)) { /* first refresh about 2 s in */
        CHECK(creds_provider_get(f.p, &a, err, sizeof err) == 0);
        CHECK_STR_EQ(a.access_key_id, "ASIA0001");
        time_t first_exp = a.expiration;
        CHECK(creds_provider_refreshes(f.p) == 0);
        CHECK(wait_refreshes(f.p, 1, 6.0));
        CHECK(creds_provider_get(f.p, &a, err, sizeof err) == 0);
        CHECK_STR_EQ(a.access_key_id, "ASIA0002");
        CHECK_STR_EQ(a.session_token, "token-ASIA0002");
        CHECK(a.expiration >= first_exp);
    }
    prov_stop(&f);
}

/* Runs creds_provider_get on its own thread, so that a provider which wrongly makes readers
 * wait for the network shows up as a failed check rather than a hung test. */
struct get_call {
    struct creds_provider *p;
    struct aws_creds out;
    int rc;
};

static void *get_main(void *arg)
{
    struct get_call *g = arg;
    char err[256];
    g->rc = creds_provider_get(g->p, &g->out, err, sizeof err);
    return NULL;
}

static void test_provider_get_not_blocked_by_refresh(void)
{
    struct prov_fixture f;
    if (!prov_start(&f, 3, 0, 1)) {
        prov_stop(&f);
        return;
    }
    imds_set_block(&f.m, true);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 6;
    pthread_mutex_lock(&f.m.mu);
    while (!f.m.blocked && pthread_cond_timedwait(&f.m.cv, &f.m.mu, &until) != ETIMEDOUT)
        ;
    bool held = f.m.blocked;
    pthread_mutex_unlock(&f.m.mu);
    CHECK(held); /* the refresh is now stuck inside the server */

    struct get_call g = {.p = f.p, .rc = -2};
    pthread_t th;
    pthread_create(&th, NULL, get_main, &g);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    int jrc = pthread_timedjoin_np(th, NULL, &until);
    CHECK(jrc == 0);
    imds_set_block(&f.m, false); /* lets a misbehaving provider finish, so the join returns */
    if (jrc != 0)
        pthread_join(th, NULL);
    CHECK(g.rc == 0);
    CHECK_STR_EQ(g.out.access_key_id, "ASIA0001");

    CHECK(wait_refreshes(f.p, 1, 5.0));
    struct aws_creds a;
    char err[256];
    CHECK(creds_provider_get(f.p, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.access_key_id, "ASIA0002");
    prov_stop(&f);
}

static void test_provider_expired_after_failed_refresh(void)
{
    struct prov_fixture f;
    if (prov_start(&f, 2, 1, 1)) {
        struct aws_creds a;
        char err[1024];
        CHECK(creds_provider_get(f.p, &a, err, sizeof err) == 0);
        double end = now_mono() + 6.0;
        int rc;
        while ((rc = creds_provider_get(f.p, &a, err, sizeof err)) == 0 && now_mono() < end)
            nap_ms(50);
        CHECK(rc == -1);
        CHECK(strstr(err, "expired") && strstr(err, "test-role: HTTP 500"));
        CHECK(a.access_key_id[0] == '\0');
        CHECK(creds_provider_refreshes(f.p) == 0);
        pthread_mutex_lock(&f.m.mu);
        CHECK(f.m.fetches >= 2);
        pthread_mutex_unlock(&f.m.mu);
    }
    prov_stop(&f);
}

static void test_provider_free_is_prompt(void)
{
    struct prov_fixture f;
    prov_start(&f, 3600, 0, 300); /* the thread waits for about 55 minutes */
    prov_stop(&f);                /* and must be woken at once */

    /* Long-term keys: no thread, nothing to refresh, never expire. */
    struct creds_config c;
    char err[1024];
    quiet_config(&c);
    strcpy(c.env_access_key_id, "AKIDENV");
    strcpy(c.env_secret_access_key, "secretenv");
    struct creds_provider *p = creds_provider_new(&c, err, sizeof err);
    CHECK(p != NULL);
    struct aws_creds a;
    CHECK(p && creds_provider_get(p, &a, err, sizeof err) == 0);
    CHECK_STR_EQ(a.access_key_id, "AKIDENV");
    creds_provider_free(p);

    quiet_config(&c);
    CHECK(creds_provider_new(&c, err, sizeof err) == NULL);
    CHECK(strstr(err, "environment: not set;"));
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_creds.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_env_link);
    RUN(test_env_key_without_secret);
    RUN(test_shared_file_link);
    RUN(test_config_from_env);
    RUN(test_ecs_full_uri_token);
    RUN(test_ecs_relative_uri);
    RUN(test_ecs_full_uri_refused);
    RUN(test_imds);
    RUN(test_chain_order);
    RUN(test_total_failure_names_every_link);
    RUN(test_provider_refresh_swaps_key);
    RUN(test_provider_get_not_blocked_by_refresh);
    RUN(test_provider_expired_after_failed_refresh);
    RUN(test_provider_free_is_prompt);
    for (int i = 0; i < ntmpfiles; i++)
        unlink(tmpfiles[i]);
    rmdir(tmpdir);
    return test_summary();
}
