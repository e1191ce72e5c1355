/* stack_util: what the whole-stack fault tests (test_faults.c, test_badinput.c,
 * test_security.c) share besides sse_client.h — plain HTTP requests with extra headers, the
 * processes of a stack (pid files, children from /proc, CPU time), a Redis connection by socket
 * path, programs started and stopped by PID, and the simulator's model as the expected answer
 * of a job. Header-only (static functions): each .c file in tests/integration/ is a program. */
#ifndef NOVA_TEST_STACK_UTIL_H
#define NOVA_TEST_STACK_UTIL_H

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "../bedrock-sim/sim_model.h"
#include "aws/bedrock.h"
#include "core/buf.h"
#include "redis/job.h"
#include "workers/call.h"

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- plain HTTP ------------------------------------------------------------------------- */

struct http_reply {
    long status;             /* 0: transport error */
    struct buf body;
    struct buf headers;      /* every response header line, as received */
};

static inline size_t su_collect(char *p, size_t size, size_t n, void *user)
{
    return buf_append(user, p, size * n) == 0 ? size * n : 0;
}

/* One blocking request, over the unix socket sock when it is not NULL (the URL's host is then
 * only the Host header). headers: NULL-ended "Name: value" strings or NULL; body NULL: none
 * (method decides). Free with http_reply_free. */
static inline void http_do_via(const char *sock, const char *method, const char *url,
                               const char *const *headers, const char *body, size_t body_len,
                               struct http_reply *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->body, 4u << 20);
    buf_init(&out->headers, 1u << 16);
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (sock)
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, su_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, su_collect);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &out->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, body ? "POST" : "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
}

static inline void http_do(const char *method, const char *url, const char *const *headers,
                           const char *body, size_t body_len, struct http_reply *out)
{
    http_do_via(NULL, method, url, headers, body, body_len, out);
}

static inline void http_reply_free(struct http_reply *r)
{
    buf_free(&r->body);
    buf_free(&r->headers);
}

/* The value of response header name (case-insensitive) into out; false when absent. */
static inline bool http_header(const struct http_reply *r, const char *name, char *out,
                               size_t n)
{
    size_t nl = strlen(name);
    const char *p = buf_cstr((struct buf *)&r->headers);
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = len - (size_t)(v - p);
            snprintf(out, n, "%.*s", (int)vl, v);
            return true;
        }
        p = eol ? eol + 2 : NULL;
    }
    return false;
}

/* ---- processes -------------------------------------------------------------------------- */

static inline pid_t read_pid_file(const char *dir, const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.pid", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int p = 0;
    if (fscanf(f, "%d", &p) != 1)
        p = 0;
    fclose(f);
    return (pid_t)p;
}

/* Fields after the command name of /proc/<pid>/stat into out (NUL-terminated); false when the
 * process is gone. */
static inline bool proc_stat(pid_t pid, char *out, size_t n)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t k = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[k] = '\0';
    const char *rp = strrchr(line, ')'); /* the command name may hold blanks */
    if (!rp)
        return false;
    snprintf(out, n, "%s", rp + 2);
    return true;
}

/* Running and not a zombie. */
static inline bool proc_alive(pid_t pid)
{
    char st[1024];
    return pid > 0 && proc_stat(pid, st, sizeof st) && st[0] != 'Z' && st[0] != 'X';
}

/* Live children of pid, sorted. Returns how many were written to out. */
static inline size_t proc_children(pid_t pid, pid_t *out, size_t max)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char st[1024], state;
        int ppid;
        pid_t p = (pid_t)atoi(de->d_name);
        if (proc_stat(p, st, sizeof st) && sscanf(st, "%c %d", &state, &ppid) == 2 &&
            ppid == pid && state != 'Z')
            out[n++] = p;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful */
        for (size_t k = i; k > 0 && out[k - 1] > out[k]; k--) {
            pid_t t = out[k];
            out[k] = out[k - 1];
            out[k - 1] = t;
        }
    return n;
}

/* utime + stime in clock ticks (fields 14 and 15), -1 when the process is gone. */
static inline long proc_cpu_ticks(pid_t pid)
{
    char st[1024];
    unsigned long ut = 0, sy = 0;
    if (!proc_stat(pid, st, sizeof st) ||
        sscanf(st, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &sy) != 2)
        return -1;
    return (long)(ut + sy);
}

/* Forks and execs argv with envp (NULL: this environment), stdout and stderr appended to
 * logpath, and writes the PID to pidfile (so the suite's script can stop it if this program
 * dies). Returns the PID or -1. */
static inline pid_t spawn_logged(char *const argv[], char *const envp[], const char *logpath,
                                 const char *pidfile)
{
    extern char **environ;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execve(argv[0], argv, envp ? envp : environ);
        _exit(127);
    }
    if (pid > 0 && pidfile) {
        FILE *f = fopen(pidfile, "w");
        if (f) {
            fprintf(f, "%d\n", (int)pid);
            fclose(f);
        }
    }
    return pid;
}

/* The environment of a nova-worker a test starts by itself: PATH and the sanitizers' options
 * passed on, the simulator as Bedrock and knowledge base with the example keys, no instance
 * metadata and no AWS file from outside, NOVA_REDIS_URL (unless redis_url is NULL),
 * NOVA_RUN_DIR, NOVA_BACKEND=sim, NOVA_LOG_LEVEL=info, then extra ("NAME=VALUE" strings,
 * NULL-ended). Returns the NULL-ended envp, which points into e. */
struct su_env {
    char s[40][1024];
    char *envp[41];
};

static inline char *const *su_worker_env(struct su_env *e, const char *redis_url,
                                         const char *sim_url, const char *run_dir,
                                         const char *const *extra)
{
    const size_t max = sizeof e->s / sizeof e->s[0], w = sizeof e->s[0];
    size_t n = 0;
    const char *pass[] = {"PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
        if (getenv(pass[i]))
            snprintf(e->s[n++], w, "%s=%s", pass[i], getenv(pass[i]));
    if (redis_url)
        snprintf(e->s[n++], w, "NOVA_REDIS_URL=%s", redis_url);
    snprintf(e->s[n++], w, "NOVA_BEDROCK_ENDPOINT=%s", sim_url);
    snprintf(e->s[n++], w, "NOVA_KB_ENDPOINT=%s", sim_url);
    snprintf(e->s[n++], w, "NOVA_RUN_DIR=%s", run_dir);
    static const char *const fixed[] = {
        "NOVA_BACKEND=sim", "NOVA_LOG_LEVEL=info", "AWS_REGION=ap-northeast-1",
        "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_EC2_METADATA_DISABLED=true", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
        "AWS_CONFIG_FILE=/dev/null"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        snprintf(e->s[n++], w, "%s", fixed[i]);
    for (size_t i = 0; extra && extra[i] && n < max; i++)
        snprintf(e->s[n++], w, "%s", extra[i]);
    for (size_t i = 0; i < n; i++)
        e->envp[i] = e->s[i];
    e->envp[n] = NULL;
    return e->envp;
}

/* Waits up to ms for a child of ours to end; its wait status, or -1. */
static inline int reap_within(pid_t pid, long ms)
{
    for (long waited = 0;; waited += 10) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 || waited >= ms)
            return -1;
        sleep_ms(10);
    }
}

/* ---- Redis ------------------------------------------------------------------------------ */

static inline redisContext *redis_at(const char *sock)
{
    struct timeval tv = {5, 0};
    redisContext *r = redisConnectUnixWithTimeout(sock, tv);
    if (!r || r->err) {
        fprintf(stderr, "  redis %s: %s\n", sock, r ? r->errstr : "out of memory");
        if (r)
            redisFree(r);
        return NULL;
    }
    redisSetTimeout(r, tv);
    return r;
}

/* ---- the expected answer ---------------------------------------------------------------- */

/* What the simulator's model answers to job j (text, stop reason, token count). 0 or -1 with
 * why. Free with sim_reply_free. */
static inline int sim_expect(const struct job *j, struct sim_reply *want, char *why, size_t wn)
{
    struct bedrock_converse_req req;
    struct bedrock_message msgs[JOB_MAX_MESSAGES];
    call_request(j, msgs, &req);
    struct buf body;
    buf_init(&body, 8u << 20);
    if (bedrock_converse_body(&req, &body) < 0) {
        snprintf(why, wn, "bedrock_converse_body failed");
        buf_free(&body);
        return -1;
    }
    char err[256];
    int rc = sim_model_reply(j->model_id, body.data, body.len, want, err, sizeof err);
    buf_free(&body);
    if (rc != 0)
        snprintf(why, wn, "sim_model_reply: %s", err);
    return rc;
}

/* 0 when text (len) is what the simulator meant for j, else -1 with where it differs. */
static inline int sim_text_is(const struct job *j, const char *text, size_t len, char *why,
                              size_t wn)
{
    struct sim_reply want;
    if (sim_expect(j, &want, why, wn) < 0)
        return -1;
    int rc = 0;
    if (len != want.text_len || memcmp(text, want.text, len) != 0) {
        size_t k = 0;
        while (k < len && k < want.text_len && text[k] == want.text[k])
            k++;
        snprintf(why, wn, "text differs at byte %zu (got %zu bytes, want %zu): got [%.40s] "
                 "want [%.40s]", k, len, want.text_len, text ? text + k : "", want.text + k);
        rc = -1;
    }
    sim_reply_free(&want);
    return rc;
}

/* Runs a shell command line: what it writes to stdout into out (an initialised buf, reset
 * first), its exit status back (-1 when it did not run or did not exit). */
static inline int run_command(const char *cmd, struct buf *out)
{
    buf_reset(out);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_append(out, chunk, n);
    int st = pclose(p);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
