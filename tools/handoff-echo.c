/* handoff-echo: a receiver for NOVA_HANDOFF_URL that prints every handoff it gets — the
 * newcomer's way to see a handoff to a person arrive, and the operator's way to check a
 * secret, without writing a receiver first.
 *
 *   handoff-echo [--host ADDR] [--secret S] [--status CODE] [--count N] [--port-file FILE]
 *                [--quiet] PORT
 *
 * Listens on ADDR (127.0.0.1) port PORT (0: any free one, printed and written to FILE), takes
 * HTTP/1.1 POSTs and prints, per delivery, one line
 *
 *   delivery N handoff=<X-Nova-Handoff-Id> request=<request_id> bytes=<body> signature=<s> status=<answered>
 *
 * then (without --quiet) the document, indented. <s> is "valid" when X-Nova-Signature is
 * sha256=<HMAC-SHA256 of the body's bytes keyed by S> (compared in constant time), "invalid"
 * when it is not, "missing" when the header is absent, "unchecked" without a secret. The
 * secret comes from --secret or NOVA_HANDOFF_SECRET. It answers CODE (200) with
 * {"ok":true|false} and closes the connection; a body that is not valid JSON, or an invalid
 * signature, is answered 400 (so the worker dead-letters it at once). After N deliveries
 * (--count) it exits 0; SIGINT/SIGTERM end it too. Exit 2 on bad usage, 1 when it cannot
 * listen.
 *
 * One thread, one poll loop over the listening socket and up to ECHO_CONNS connections; each
 * connection's request is capped (headers ECHO_HEAD_MAX, body ECHO_BODY_MAX: 413 beyond) and
 * timed out after ECHO_IDLE_MS of silence. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ECHO_CONNS 32
#define ECHO_HEAD_MAX (16 * 1024)
#define ECHO_BODY_MAX (1024 * 1024) /* twice the largest document nova-fcgi queues */
#define ECHO_IDLE_MS 10000

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

struct conn {
    int fd;
    char *buf;          /* the request as read so far */
    size_t len, cap;
    size_t head_len;    /* bytes up to and including the blank line, 0 until seen */
    size_t body_len;    /* Content-Length */
    long long last_ms;  /* monotonic: the last byte read */
};

struct opts {
    const char *host, *secret, *port_file;
    int port, status;
    long count;
    bool quiet;
};

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: handoff-echo [--host ADDR] [--secret S] [--status CODE] [--count N]\n"
            "                    [--port-file FILE] [--quiet] PORT\n"
            "  prints each handoff POSTed to http://ADDR:PORT/ and whether its\n"
            "  X-Nova-Signature verifies with S (or $NOVA_HANDOFF_SECRET); PORT 0 picks one\n");
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* The value of header name in the head [p, p + n), into out (trimmed); false when absent. */
static bool header(const char *p, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *end = p + n, *line = memchr(p, '\n', n); /* skip the request line */
    while (line && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            size_t k = (size_t)(e - v) < outlen ? (size_t)(e - v) : outlen - 1;
            memcpy(out, v, k);
            out[k] = '\0';
            return true;
        }
        line = eol;
    }
    return false;
}

static void respond(struct conn *c, int status, const char *body)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 405 ? "Method Not Allowed"
                         : status == 411 ? "Length Required"
                         : status == 413 ? "Payload Too Large"
                                         : "Answer";
    char out[512];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, reason, strlen(body), body);
    /* A short answer to a blocking-enough socket: what does not fit is the client's loss. */
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = send(c->fd, out + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
}

/* "valid", "invalid", "missing" or "unchecked" for the body and its header. */
static const char *verify(const char *secret, const char *sig, bool has_sig, const char *body,
                          size_t len)
{
    if (!secret || !secret[0])
        return "unchecked";
    if (!has_sig)
        return "missing";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
              &mlen))
        return "invalid";
    char want[7 + 2 * EVP_MAX_MD_SIZE + 1] = "sha256=";
    for (unsigned i = 0; i < mlen; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
    size_t wl = strlen(want);
    return strlen(sig) == wl && CRYPTO_memcmp(sig, want, wl) == 0 ? "valid" : "invalid";
}

static unsigned long deliveries;

/* A whole request is in c->buf: print it and answer. */
static void serve(struct conn *c, const struct opts *o)
{
    const char *head = c->buf, *body = c->buf + c->head_len;
    if (strncmp(head, "POST ", 5) != 0) {
        respond(c, 405, "{\"ok\":false,\"error\":\"POST a handoff here\"}");
        return;
    }
    char sig[256] = "", hid[128] = "";
    bool has_sig = header(head, c->head_len, "X-Nova-Signature", sig, sizeof sig);
    header(head, c->head_len, "X-Nova-Handoff-Id", hid, sizeof hid);
    const char *check = verify(o->secret, sig, has_sig, body, c->body_len);
    json_tokener *tok = json_tokener_new();
    json_object *doc = tok ? json_tokener_parse_ex(tok, body, (int)c->body_len) : NULL;
    if (tok)
        json_tokener_free(tok);
    json_object *rid = NULL;
    const char *request = doc && json_object_object_get_ex(doc, "request_id", &rid) &&
                                  json_object_is_type(rid, json_type_string)
                              ? json_object_get_string(rid) : "-";
    int status = !doc ? 400 : strcmp(check, "invalid") == 0 ? 400 : o->status;
    respond(c, status, status >= 200 && status < 300 ? "{\"ok\":true}" : "{\"ok\":false}");
    deliveries++;
    printf("delivery %lu handoff=%s request=%s bytes=%zu signature=%s status=%d\n", deliveries,
           hid[0] ? hid : "-", request, c->body_len, check, status);
    if (!o->quiet) {
        if (doc)
            printf("%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
        else
            printf("(not JSON: %zu bytes)\n", c->body_len);
    }
    fflush(stdout);
    json_object_put(doc);
}

/* Reads what c has; 1 when its request is whole (served), 0 for more, -1 to drop it. */
static int conn_read(struct conn *c, const struct opts *o)
{
    for (;;) {
        if (c->len == c->cap) {
            size_t want = c->head_len ? c->head_len + c->body_len : ECHO_HEAD_MAX;
            if (c->cap >= want)
                break;
            char *nb = realloc(c->buf, want + 1);
            if (!nb)
                return -1;
            c->buf = nb;
            c->cap = want;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        c->last_ms = mono_ms();
        if (!c->head_len) {
            char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (!end) {
                if (c->len >= ECHO_HEAD_MAX) {
                    respond(c, 413, "{\"ok\":false,\"error\":\"headers too large\"}");
                    return -1;
                }
                continue;
            }
            c->head_len = (size_t)(end - c->buf) + 4;
            char v[64];
            if (header(c->buf, c->head_len, "Transfer-Encoding", v, sizeof v) ||
                !header(c->buf, c->head_len, "Content-Length", v, sizeof v)) {
                if (strncmp(c->buf, "POST ", 5) == 0) {
                    respond(c, 411, "{\"ok\":false,\"error\":\"send a Content-Length\"}");
                    return -1;
                }
                v[0] = '0', v[1] = '\0';
            }
            char *e;
            unsigned long long n = strtoull(v, &e, 10);
            if (*e || n > ECHO_BODY_MAX) {
                respond(c, 413, "{\"ok\":false,\"error\":\"body too large\"}");
                return -1;
            }
            c->body_len = (size_t)n;
        }
        if (c->len >= c->head_len + c->body_len) {
            serve(c, o);
            return 1;
        }
    }
    return c->head_len && c->len >= c->head_len + c->body_len ? (serve(c, o), 1) : 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        {"host", required_argument, NULL, 'H'},   {"secret", required_argument, NULL, 's'},
        {"status", required_argument, NULL, 'S'}, {"count", required_argument, NULL, 'n'},
        {"port-file", required_argument, NULL, 'p'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    *o = (struct opts){.host = "127.0.0.1", .status = 200, .secret = getenv("NOVA_HANDOFF_SECRET")};
    int ch;
    char *e;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'H': o->host = optarg; break;
        case 's': o->secret = optarg; break;
        case 'p': o->port_file = optarg; break;
        case 'q': o->quiet = true; break;
        case 'S':
            o->status = (int)strtol(optarg, &e, 10);
            if (*e || o->status < 200 || o->status > 599) {
                fprintf(stderr, "handoff-echo: --status wants an HTTP status, 200 to 599\n");
                return -1;
            }
            break;
        case 'n':
            o->count = strtol(optarg, &e, 10);
            if (*e || o->count < 1) {
                fprintf(stderr, "handoff-echo: --count wants a positive number\n");
                return -1;
            }
            break;
        case 'h': usage(); exit(0);
        default: usage(); return -1;
        }
    }
    if (optind != argc - 1) {
        usage();
        return -1;
    }
    long port = strtol(argv[optind], &e, 10);
    if (*e || port < 0 || port > 65535) {
        fprintf(stderr, "handoff-echo: '%s' is not a port\n", argv[optind]);
        return -1;
    }
    o->port = (int)port;
    return 0;
}

static int listen_on(const struct opts *o, int *port_out)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &a.sin_addr) != 1) {
        fprintf(stderr, "handoff-echo: --host wants an IPv4 address, not '%s'\n", o->host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0) {
        fprintf(stderr, "handoff-echo: listen on %s:%d: %s\n", o->host, o->port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port_out = ntohs(a.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int port, lfd = listen_on(&o, &port);
    if (lfd < 0)
        return 1;
    if (o.port_file) {
        /* Written whole, then renamed: a reader never sees half a number. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", o.port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, o.port_file) < 0) {
            fprintf(stderr, "handoff-echo: %s: %s\n", o.port_file, strerror(errno));
            return 1;
        }
    }
    fprintf(stderr, "handoff-echo: listening on http://%s:%d/ (signature %s)\n", o.host, port,
            o.secret && o.secret[0] ? "checked" : "not checked: no secret");
    struct conn conns[ECHO_CONNS];
    for (size_t i = 0; i < ECHO_CONNS; i++)
        conns[i] = (struct conn){.fd = -1};
    while (!stop_signal && (o.count == 0 || (long)deliveries < o.count)) {
        struct pollfd pf[ECHO_CONNS + 1];
        size_t idx[ECHO_CONNS + 1], n = 0, open = 0;
        long long now = mono_ms(), wake = now + ECHO_IDLE_MS;
        for (size_t i = 0; i < ECHO_CONNS; i++)
            if (conns[i].fd >= 0) {
                if (now - conns[i].last_ms >= ECHO_IDLE_MS) {
                    conn_close(&conns[i]); /* silent too long */
                    continue;
                }
                if (conns[i].last_ms + ECHO_IDLE_MS < wake)
                    wake = conns[i].last_ms + ECHO_IDLE_MS;
                pf[n] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
                idx[n++] = i;
                open++;
            }
        if (open < ECHO_CONNS) /* full: new connections wait in the backlog */
            pf[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        int r = poll(pf, n, (int)(wake - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "handoff-echo: poll: %s\n", strerror(errno));
            return 1;
        }
        for (size_t k = 0; k < n; k++) {
            if (!pf[k].revents)
                continue;
            if (pf[k].fd == lfd) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                for (size_t i = 0; fd >= 0 && i < ECHO_CONNS; i++)
                    if (conns[i].fd < 0) {
                        conns[i] = (struct conn){.fd = fd, .last_ms = mono_ms()};
                        fd = -1;
                    }
                if (fd >= 0)
                    close(fd);
                continue;
            }
            struct conn *c = &conns[idx[k]];
            if (conn_read(c, &o) != 0)
                conn_close(c);
        }
    }
    for (size_t i = 0; i < ECHO_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    close(lfd);
    fprintf(stderr, "handoff-echo: %lu deliver%s\n", deliveries, deliveries == 1 ? "y" : "ies");
    return 0;
}
