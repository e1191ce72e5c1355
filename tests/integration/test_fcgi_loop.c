/* test_fcgi_loop: nginx (the shipped template's FastCGI settings) in front of
 * fcgi_loop_server — nova-fcgi's loop, connection and codec on one thread — as
 * tests/integration/fcgi_loop.sh sets them up.
 *
 *   test_fcgi_loop BASE_URL SOCKET SERVER_PID
 *
 * What nginx and our FastCGI must agree on: a POST's params and body, a 3 MB body through
 * fastcgi_buffering off, an SSE stream's events as they are written, 500 streams held open at
 * once by the one thread (all answered, together, not one after another), a browser that
 * leaves seen by the server while its stream waits, a client that stops reading cut without
 * slowing a live stream beside it, and — straight on the socket, without nginx — a malformed
 * stream closed and FCGI_GET_VALUES answered, the server unharmed. */
#include <errno.h>
#include <fastcgi.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../unit/test.h"
#include "sse_client.h"
#include "stack_util.h"

static const char *base, *sock_path;
static pid_t server;

static json_object *stats(void)
{
    struct http_reply r;
    char url[512];
    snprintf(url, sizeof url, "%s/api/t/stats", base);
    http_do("GET", url, NULL, NULL, 0, &r);
    json_object *o = r.status == 200 ? json_tokener_parse(buf_cstr(&r.body)) : NULL;
    http_reply_free(&r);
    return o;
}

static long stat_of(const char *key)
{
    json_object *o = stats(), *v = NULL;
    long n = o && json_object_object_get_ex(o, key, &v) ? (long)json_object_get_int64(v) : -1;
    if (o)
        json_object_put(o);
    return n;
}

static void test_echo(void)
{
    char body[10000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('0' + i % 10);
    struct http_reply r;
    char url[512];
    snprintf(url, sizeof url, "%s/api/t/echo?a=1&b=two", base);
    http_do("POST", url, NULL, body, sizeof body, &r);
    CHECK(r.status == 200);
    const char *b = buf_cstr(&r.body);
    static const char head[] = "method=POST\nuri=/t/echo\nquery=a=1&b=two\nbody=10000\n";
    CHECK(strncmp(b, head, sizeof head - 1) == 0);
    const char *echoed = strstr(b, "body=10000\n");
    CHECK(echoed && strlen(echoed + 11) == sizeof body &&
          memcmp(echoed + 11, body, sizeof body) == 0);
    http_reply_free(&r);
    snprintf(url, sizeof url, "%s/api/t/nothing", base);
    http_do("GET", url, NULL, NULL, 0, &r);
    CHECK(r.status == 404);
    http_reply_free(&r);
}

static void test_big(void)
{
    struct http_reply r;
    char url[512];
    snprintf(url, sizeof url, "%s/api/t/big?n=3000000", base);
    http_do("GET", url, NULL, NULL, 0, &r);
    CHECK(r.status == 200 && r.body.len == 3000000);
    bool ok = r.body.len == 3000000;
    for (size_t i = 0; ok && i < r.body.len; i++)
        ok = r.body.data[i] == (char)('a' + i % 26);
    CHECK(ok);
    http_reply_free(&r);
}

static void test_sse(void)
{
    struct stream *s = stream_new(base, NULL, "/api/t/sse?n=20&ms=20", NULL, NULL, 0, NULL);
    drive_one(s, 5000);
    CHECK(s->status == 200 && s->sse && s->n == 21);
    bool in_order = true;
    double worst = 0;
    for (size_t i = 0; i + 1 < s->n; i++) {
        char want[32];
        snprintf(want, sizeof want, "%zu", i);
        in_order = in_order && strcmp(s->evs[i].id, want) == 0;
        if (i > 0 && s->evs[i].t_ms - s->evs[i - 1].t_ms > worst)
            worst = s->evs[i].t_ms - s->evs[i - 1].t_ms;
    }
    CHECK(in_order && strcmp(s->evs[20].type, "done") == 0);
    /* Written every 20 ms, relayed as written (nginx buffers nothing). */
    CHECK(s->evs[19].t_ms >= 19 * 20 && worst < 200);
    stream_free(s);
}

static void test_held_together(void)
{
    enum { N = 500 };
    struct stream *v[N];
    for (int i = 0; i < N; i++)
        v[i] = stream_new(base, NULL, "/api/t/hold?ms=1500", NULL, NULL, 0, NULL);
    double t0 = now_ms();
    drive(v, N, 20000, NULL, NULL);
    double took = now_ms() - t0;
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += v[i]->status == 200 && v[i]->n == 3 && strcmp(v[i]->evs[2].type, "done") == 0;
    CHECK(ok == N);
    /* Held at once: about 1.5 s in all, not 500 × 1.5 s, and by one thread. */
    CHECK(took < 8000);
    CHECK(stat_of("max_open") >= N);
    char st[4096];
    CHECK(proc_stat(server, st, sizeof st));
    FILE *f;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)server);
    int threads = -1;
    if ((f = fopen(path, "r"))) {
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Threads: %d", &threads) == 1)
                break;
        fclose(f);
    }
    CHECK(threads == 1);
    for (int i = 0; i < N; i++)
        stream_free(v[i]);
}

static void test_client_leaves(void)
{
    long gone0 = stat_of("gone");
    struct stream *s = stream_new(base, NULL, "/api/t/hold?ms=10000", NULL, NULL, 0, NULL);
    s->stop_after = 1; /* the browser leaves after the first event */
    drive_one(s, 5000);
    CHECK(s->n == 1);
    stream_free(s);
    long gone = gone0;
    for (int i = 0; i < 50 && gone == gone0; i++) {
        sleep_ms(20);
        gone = stat_of("gone");
    }
    CHECK(gone == gone0 + 1); /* seen while the response waited, long before its 10 s */
}

/* A raw HTTP client that asks and then reads nothing. */
static int raw_request(const char *path)
{
    const char *hp = strstr(base, "://");
    char host[128];
    snprintf(host, sizeof host, "%s", hp ? hp + 3 : base);
    char *colon = strchr(host, ':');
    int port = colon ? atoi(colon + 1) : 80;
    if (colon)
        *colon = '\0';
    struct addrinfo *ai;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, NULL, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        freeaddrinfo(ai);
        close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    CHECK(write(fd, req, (size_t)n) == n);
    return fd;
}

static void test_slow_client_cut(void)
{
    long cut0 = stat_of("cut");
    int fd = raw_request("/api/t/flood?n=8000000");
    CHECK(fd >= 0);
    /* Beside it, a live stream must keep its pace. */
    struct stream *s = stream_new(base, NULL, "/api/t/sse?n=100&ms=30", NULL, NULL, 0, NULL);
    drive_one(s, 10000);
    CHECK(s->n == 101);
    double worst = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->evs[i].t_ms - s->evs[i - 1].t_ms > worst)
            worst = s->evs[i].t_ms - s->evs[i - 1].t_ms;
    CHECK(worst < 300);
    stream_free(s);
    /* The server's stall allowance is 500 ms: cut long before the flood could drain. */
    long cut = stat_of("cut");
    for (int i = 0; i < 100 && cut == cut0; i++) {
        sleep_ms(50);
        cut = stat_of("cut");
    }
    CHECK(cut == cut0 + 1);
    if (fd >= 0)
        close(fd);
}

/* Straight on the FastCGI socket: what nginx never sends. */
static int unix_connect(void)
{
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void test_raw_socket(void)
{
    long proto0 = stat_of("protocol");
    int fd = unix_connect();
    CHECK(fd >= 0);
    CHECK(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18); /* HTTP, not FastCGI */
    char b[256];
    CHECK(read(fd, b, sizeof b) == 0); /* closed, nothing answered */
    close(fd);
    CHECK(stat_of("protocol") == proto0 + 1);
    /* FCGI_GET_VALUES is answered. */
    fd = unix_connect();
    CHECK(fd >= 0);
    static const unsigned char gv[] = {1, FCGI_GET_VALUES, 0, 0, 0, 16, 0, 0,
                                       14, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_',
                                       'C', 'O', 'N', 'N', 'S'};
    CHECK(write(fd, gv, sizeof gv) == (ssize_t)sizeof gv);
    unsigned char got[64];
    ssize_t n = read(fd, got, sizeof got);
    static const unsigned char want[] = {1, FCGI_GET_VALUES_RESULT, 0, 0, 0, 21, 3, 0,
                                         14, 5, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_',
                                         'C', 'O', 'N', 'N', 'S', '1', '0', '0', '0', '0'};
    CHECK(n == 32 && memcmp(got, want, sizeof want) == 0);
    close(fd);
    /* And the server still serves. */
    struct http_reply r;
    char url[512];
    snprintf(url, sizeof url, "%s/api/t/echo", base);
    http_do("GET", url, NULL, NULL, 0, &r);
    CHECK(r.status == 200);
    http_reply_free(&r);
}

static void test_all_closed(void)
{
    /* Every connection the tests opened has ended: only the one asking is open. */
    long open = -1;
    for (int i = 0; i < 50; i++) {
        open = stat_of("open");
        if (open == 1)
            break;
        sleep_ms(20);
    }
    CHECK(open == 1);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s BASE_URL SOCKET SERVER_PID\n", argv[0]);
        return 2;
    }
    base = argv[1];
    sock_path = argv[2];
    server = (pid_t)atoi(argv[3]);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_echo);
    RUN(test_big);
    RUN(test_sse);
    RUN(test_held_together);
    RUN(test_client_leaves);
    RUN(test_slow_client_cut);
    RUN(test_raw_socket);
    RUN(test_all_closed);
    curl_global_cleanup();
    return test_summary();
}
