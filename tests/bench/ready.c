/* ready: time from exec to ready, for nova-fcgi (its unix socket accepts a connection) and for
 * a worker (its heartbeat key nova:worker:<id> exists in Redis). Each repetition forks and
 * execs the program, probes every 1 ms (the probe is the measurement: there is no event to wait
 * on across processes), then stops the program with SIGTERM (KILL after 15 s) and reaps it. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "redis/rconn.h"

static bool unix_accepts(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return false;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int key_exists(redisContext *rc, const char *key)
{
    redisReply *r = redisCommand(rc, "EXISTS %s", key);
    int v = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

static void del_key(redisContext *rc, const char *key)
{
    redisReply *r = redisCommand(rc, "DEL %s", key);
    if (r)
        freeReplyObject(r);
}

static void stop_child(pid_t pid)
{
    kill(pid, SIGTERM);
    double deadline = bench_now_ms() + 15000;
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (bench_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_ready(const struct bench_opts *o)
{
    redisContext *rc = NULL;
    char err[512];
    if (o->redis_key) {
        struct rconn_addr a;
        const char *url = getenv("NOVA_REDIS_URL");
        if (!url || rconn_parse_url(url, &a, err, sizeof err) < 0 ||
            !(rc = rconn_connect(&a, 2000, err, sizeof err))) {
            fprintf(stderr, "nova-load: redis: %s\n", url ? err : "NOVA_REDIS_URL not set");
            return 2;
        }
    }
    double ms[100];
    int ok = 0;
    for (int i = 0; i < o->reps; i++) {
        if (o->unix_path)
            unlink(o->unix_path);
        else
            del_key(rc, o->redis_key);
        double t0 = bench_now_ms();
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "nova-load: fork: %s\n", strerror(errno));
            break;
        }
        if (pid == 0) {
            execvp(o->argv[0], o->argv);
            _exit(127);
        }
        double t = -1;
        while (bench_now_ms() - t0 < 5000) {
            if (o->unix_path ? unix_accepts(o->unix_path) : key_exists(rc, o->redis_key) == 1) {
                t = bench_now_ms() - t0;
                break;
            }
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                pid = -1;
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (pid > 0)
            stop_child(pid);
        if (t < 0) {
            fprintf(stderr, "nova-load: %s not ready within 5 s (rep %d)\n", o->argv[0], i + 1);
            continue;
        }
        ms[ok++] = t;
    }
    if (rc)
        redisFree(rc);
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (!f)
        return 1;
    fprintf(f, "{\"mode\": \"ready\", \"program\": \"%s\", \"reps\": %d, \"ok\": %d, \"ms\": [",
            o->argv[0], o->reps, ok);
    for (int i = 0; i < ok; i++)
        fprintf(f, "%s%.2f", i ? ", " : "", ms[i]);
    qsort(ms, (size_t)ok, sizeof ms[0], cmp_double);
    fprintf(f, "], \"median_ms\": %.2f}\n", ok ? ms[ok / 2] : -1.0);
    if (f != stdout)
        fclose(f);
    return ok == o->reps ? 0 : 3;
}
