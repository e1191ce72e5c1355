/* nova-load: the load generator of `make bench` (see bench.h and tests/bench/run-bench).
 *
 *   nova-load pipeline --url http://127.0.0.1:PORT -n N [--len L] [--ramp-ms MS] [--out F]
 *   nova-load direct -n N [--len L] [--ramp-ms MS] [--out F]     (NOVA_BEDROCK_ENDPOINT, AWS_*)
 *   nova-load ready (--unix PATH | --redis-key KEY) [--reps R] -- PROGRAM ARGS...
 *
 * The pipeline mode opens N chats (POST /api/chat, ko) through nginx, starts spread evenly over
 * --ramp-ms, on one libcurl multi handle driven by epoll (curl_multi_socket_action, as curl's
 * ephiperfifo example), reads each SSE stream with common/core/sse.h and records per chat the time
 * to meta, to the first micro and the first pro delta, the gaps between deltas of one model
 * stream, the completion, and errors (HTTP status, transport, error events, missing done). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/alloc.h"
#include "bench.h"
#include "core/sse.h"

enum { M_MICRO = 0, M_PRO = 1 };

struct chat {
    CURL *h;
    struct curl_slist *hdrs;
    struct sse_parser parser;
    struct prun *run;
    double t0;          /* start (ms, monotonic) */
    double now;         /* arrival time of the bytes being parsed */
    double t_meta, t_first[2], t_last[2], t_end;
    unsigned long deltas[2];
    long status;
    int curl_rc;
    bool started, finished, typed, sse, done, error_ev, other_ev;
    char error_code[32];
};

struct prun {
    const struct bench_opts *o;
    CURLM *m;
    int ep;
    long timer_ms;       /* libcurl's requested timeout, -1 none */
    double timer_at;     /* when it expires */
    double t_start;
    struct chat *chats;
    int started, finished, open, peak_open;
    struct samples meta, first[2], gap, completion;
    struct timeline tl;
    unsigned long deltas_total;
    /* errors */
    int err_http, err_transport, err_event, err_no_done, err_no_delta, err_timeout, err_sse;
    char first_error[256];
};

static void note_error(struct prun *r, const char *fmt, const char *a, long b)
{
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof r->first_error, fmt, a, b);
}

/* "model":"pro" / "model":"micro" anywhere in the delta's JSON (json-c may put spaces). */
static int delta_model(const char *d, size_t n)
{
    const char *k = memmem(d, n, "\"model\"", 7);
    if (!k)
        return -1;
    const char *p = k + 7, *end = d + n;
    while (p < end && (*p == ' ' || *p == ':'))
        p++;
    if (end - p >= 5 && memcmp(p, "\"pro\"", 5) == 0)
        return M_PRO;
    if (end - p >= 7 && memcmp(p, "\"micro\"", 7) == 0)
        return M_MICRO;
    return -1;
}

static int on_event(void *user, const struct sse_event *e)
{
    struct chat *c = user;
    struct prun *r = c->run;
    double t = c->now - c->t0;
    if (strcmp(e->type, "delta") == 0) {
        int m = delta_model(e->data, e->data_len);
        if (m < 0) {
            c->other_ev = true;
            return 0;
        }
        if (!c->deltas[m]) {
            c->t_first[m] = t;
            samples_add(&r->first[m], t);
        } else {
            samples_add(&r->gap, t - c->t_last[m]);
        }
        c->t_last[m] = t;
        c->deltas[m]++;
        r->deltas_total++;
        timeline_add(&r->tl, c->now - r->t_start);
    } else if (strcmp(e->type, "meta") == 0) {
        c->t_meta = t;
        samples_add(&r->meta, t);
    } else if (strcmp(e->type, "error") == 0) {
        if (!c->error_ev) {
            const char *k = memmem(e->data, e->data_len, "\"code\"", 6);
            snprintf(c->error_code, sizeof c->error_code, "%.24s", k ? k + 6 : "?");
        }
        c->error_ev = true;
    } else if (strcmp(e->type, "done") == 0) {
        c->done = true;
    }
    return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    struct chat *c = user;
    size_t n = size * nmemb;
    if (!c->typed) {
        char *ct = NULL;
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
        curl_easy_getinfo(c->h, CURLINFO_CONTENT_TYPE, &ct);
        c->sse = ct && strncmp(ct, "text/event-stream", 17) == 0;
        c->typed = true;
    }
    if (!c->sse)
        return n; /* an error body: the status says enough */
    c->now = bench_now_ms();
    return sse_parser_feed(&c->parser, p, n, on_event, c) == 0 ? n : 0;
}

/* ---- libcurl multi on epoll ------------------------------------------------------------- */

static int on_socket(CURL *e, curl_socket_t s, int what, void *user, void *sockp)
{
    (void)e;
    (void)sockp;
    struct prun *r = user;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.data.fd = s};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(r->ep, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
        epoll_ctl(r->ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *user)
{
    (void)m;
    struct prun *r = user;
    r->timer_ms = timeout_ms;
    r->timer_at = bench_now_ms() + (double)(timeout_ms < 0 ? 0 : timeout_ms);
    return 0;
}

static void chat_finish(struct prun *r, struct chat *c, int rc)
{
    c->finished = true;
    c->curl_rc = rc;
    c->t_end = bench_now_ms() - c->t0;
    r->finished++;
    r->open--;
    if (!c->typed)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    int i = (int)(c - r->chats);
    if (c->status != 200) {
        r->err_http++;
        note_error(r, "chat %s: HTTP status %ld", "", c->status);
    } else if (rc != CURLE_OK) {
        r->err_transport++;
        note_error(r, "transport: %s (%ld)", curl_easy_strerror(rc), (long)i);
    } else if (c->parser.err) {
        r->err_sse++;
        note_error(r, "SSE parser error in chat %s%ld", "", (long)i);
    } else if (c->error_ev) {
        r->err_event++;
        note_error(r, "error event, code%s (chat %ld)", c->error_code, (long)i);
    } else if (!c->done) {
        r->err_no_done++;
        note_error(r, "no done event%s (chat %ld)", "", (long)i);
    } else if (!c->deltas[M_MICRO] || !c->deltas[M_PRO]) {
        r->err_no_delta++;
        note_error(r, "a model stream without deltas%s (chat %ld)", "", (long)i);
    } else {
        samples_add(&r->completion, c->t_end);
    }
    curl_multi_remove_handle(r->m, c->h);
    curl_easy_cleanup(c->h);
    c->h = NULL;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    sse_parser_free(&c->parser);
}

static void read_done(struct prun *r)
{
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(r->m, &q))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct chat *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        chat_finish(r, c, msg->data.result);
    }
}

static void chat_start(struct prun *r, struct chat *c, const char *url, const char *body)
{
    c->run = r;
    c->t_first[0] = c->t_first[1] = -1;
    sse_parser_init(&c->parser, 1u << 20);
    c->h = curl_easy_init();
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body); /* not copied: body outlives the run */
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    c->t0 = bench_now_ms();
    c->started = true;
    r->started++;
    r->open++;
    if (r->open > r->peak_open)
        r->peak_open = r->open;
    curl_multi_add_handle(r->m, c->h);
}

static void write_report(struct prun *r, double wall_ms, double cpu_s)
{
    const struct bench_opts *o = r->o;
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (!f) {
        fprintf(stderr, "nova-load: fopen(%s): %s\n", o->out, strerror(errno));
        return;
    }
    int errors = r->err_http + r->err_transport + r->err_event + r->err_no_done +
                 r->err_no_delta + r->err_timeout + r->err_sse;
    fprintf(f, "{\"mode\": \"pipeline\", \"n\": %d, \"len\": %d, \"ramp_ms\": %d, "
               "\"started\": %d, \"ok\": %zu, \"errors\": %d, \"peak_open\": %d,\n",
            o->n, o->len, o->ramp_ms, r->started, r->completion.n, errors, r->peak_open);
    fprintf(f, " \"error_kinds\": {\"http\": %d, \"transport\": %d, \"error_event\": %d, "
               "\"no_done\": %d, \"no_delta\": %d, \"timeout\": %d, \"sse\": %d},\n",
            r->err_http, r->err_transport, r->err_event, r->err_no_done, r->err_no_delta,
            r->err_timeout, r->err_sse);
    fprintf(f, " \"first_error\": \"");
    for (const char *p = r->first_error; *p; p++)
        fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    fprintf(f, "\",\n ");
    samples_json(f, "ttft_meta_ms", &r->meta);
    fprintf(f, ",\n ");
    samples_json(f, "ttft_micro_ms", &r->first[M_MICRO]);
    fprintf(f, ",\n ");
    samples_json(f, "ttft_pro_ms", &r->first[M_PRO]);
    fprintf(f, ",\n ");
    samples_json(f, "gap_ms", &r->gap);
    fprintf(f, ",\n ");
    samples_json(f, "completion_ms", &r->completion);
    fprintf(f, ",\n \"deltas\": %lu, \"wall_ms\": %.1f, \"deltas_per_s_avg\": %.1f, "
               "\"deltas_per_s_peak\": %.1f, \"load_cpu_s\": %.3f, \"load_maxrss_kib\": %ld}\n",
            r->deltas_total, wall_ms, wall_ms > 0 ? r->deltas_total / (wall_ms / 1e3) : 0,
            timeline_peak_per_s(&r->tl), cpu_s, bench_maxrss_kib());
    if (f != stdout)
        fclose(f);
    fprintf(stderr, "nova-load pipeline n=%d: ok %zu, errors %d (%s), micro ttft p50 %.1f ms, "
                    "pro p50 %.1f ms, %lu deltas in %.1f s\n",
            o->n, r->completion.n, errors, r->first_error[0] ? r->first_error : "none",
            samples_q(&r->first[M_MICRO], 0.5), samples_q(&r->first[M_PRO], 0.5),
            r->deltas_total, wall_ms / 1e3);
}

int bench_pipeline(const struct bench_opts *o)
{
    static struct prun run;
    struct prun *r = &run;
    r->o = o;
    r->timer_ms = -1;
    r->chats = xcalloc((size_t)o->n, sizeof *r->chats);
    timeline_init(&r->tl, (double)o->timeout_s * 1e3 + 1000);
    char url[1024], text[2048];
    snprintf(url, sizeof url, "%s/api/chat", o->url);
    if (o->len > 0)
        snprintf(text, sizeof text, "%s #sim:len=%d", o->message, o->len);
    else
        snprintf(text, sizeof text, "%s", o->message);
    char *body = NULL;
    if (asprintf(&body, "{\"message\":\"%s\",\"ui_lang\":\"%s\"}", text, o->lang) < 0)
        return 1;
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    r->m = curl_multi_init();
    curl_multi_setopt(r->m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(r->m, CURLMOPT_SOCKETDATA, r);
    curl_multi_setopt(r->m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(r->m, CURLMOPT_TIMERDATA, r);
    curl_multi_setopt(r->m, CURLMOPT_MAXCONNECTS, (long)o->n + 16);

    double cpu0 = bench_cpu_s();
    r->t_start = bench_now_ms();
    double deadline = r->t_start + o->timeout_s * 1e3;
    static struct epoll_event evs[512];
    int running;
    while (r->finished < o->n) {
        double now = bench_now_ms();
        /* Starts that are due. */
        while (r->started < o->n) {
            double due = r->t_start + (double)o->ramp_ms * r->started / o->n;
            if (due > now)
                break;
            chat_start(r, &r->chats[r->started], url, body);
        }
        /* A fresh clock: adding a chat just re-armed curl's timer past the "now" sampled above,
         * and with a chat added on every pass the timeout would never be seen as due. */
        if (r->started > 0 && r->timer_ms >= 0 && r->timer_at <= bench_now_ms()) {
            r->timer_ms = -1;
            curl_multi_socket_action(r->m, CURL_SOCKET_TIMEOUT, 0, &running);
            read_done(r);
        }
        if (now >= deadline)
            break;
        double wait = 100;
        if (r->timer_ms >= 0 && r->timer_at - now < wait)
            wait = r->timer_at - now;
        if (r->started < o->n) {
            double due = r->t_start + (double)o->ramp_ms * r->started / o->n;
            if (due - now < wait)
                wait = due - now;
        }
        int k = epoll_wait(r->ep, evs, 512, wait <= 0 ? 0 : (int)ceil(wait));
        for (int i = 0; i < k; i++) {
            int flags = 0;
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(r->m, evs[i].data.fd, flags, &running);
        }
        if (k > 0)
            read_done(r);
    }
    double wall = bench_now_ms() - r->t_start;
    for (int i = 0; i < o->n; i++) {
        struct chat *c = &r->chats[i];
        if (c->started && !c->finished) {
            r->err_timeout++;
            note_error(r, "chat still open at the %ss timeout (%ld)", "run", (long)i);
            c->finished = true;
            curl_multi_remove_handle(r->m, c->h);
            curl_easy_cleanup(c->h);
            curl_slist_free_all(c->hdrs);
            sse_parser_free(&c->parser);
        } else if (!c->started) {
            r->err_timeout++;
        }
    }
    write_report(r, wall, bench_cpu_s() - cpu0);
    curl_multi_cleanup(r->m);
    close(r->ep);
    free(body);
    free(r->chats);
    int errors = r->err_http + r->err_transport + r->err_event + r->err_no_done +
                 r->err_no_delta + r->err_timeout + r->err_sse;
    return errors ? 3 : 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: nova-load pipeline --url URL -n N [--len L] [--ramp-ms MS] "
               "[--timeout-s S] [--out FILE]\n"
               "       nova-load direct --request ID -n N [--ramp-ms MS] [--timeout-s S] "
               "[--out FILE]\n"
               "           (replays request ID's queued jobs; NOVA_RUN_DIR's Redis, "
               "NOVA_BEDROCK_ENDPOINT, AWS_* from the environment)\n"
               "       nova-load ready (--unix PATH | --redis-key KEY) [--reps R] -- PROGRAM "
               "ARGS...\n");
}

int main(int argc, char **argv)
{
    struct bench_opts o = {.out = "-", .message = "폴이 레벨업을 못 해요", .lang = "ko",
                           .n = 100, .len = 200, .ramp_ms = 1000, .timeout_s = 120, .reps = 5};
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    o.mode = argv[1];
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},       {"out", required_argument, NULL, 'o'},
        {"len", required_argument, NULL, 'l'},       {"ramp-ms", required_argument, NULL, 'r'},
        {"timeout-s", required_argument, NULL, 't'}, {"message", required_argument, NULL, 'm'},
        {"unix", required_argument, NULL, 'U'},      {"redis-key", required_argument, NULL, 'K'},
        {"reps", required_argument, NULL, 'R'},      {"help", no_argument, NULL, 'h'},
        {"request", required_argument, NULL, 'Q'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "+n:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': o.n = atoi(optarg); break;
        case 'u': o.url = optarg; break;
        case 'o': o.out = optarg; break;
        case 'l': o.len = atoi(optarg); break;
        case 'r': o.ramp_ms = atoi(optarg); break;
        case 't': o.timeout_s = atoi(optarg); break;
        case 'm': o.message = optarg; break;
        case 'U': o.unix_path = optarg; break;
        case 'K': o.redis_key = optarg; break;
        case 'R': o.reps = atoi(optarg); break;
        case 'Q': o.request = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.n < 1 || o.n > 100000 || o.len < 0 || o.len > 10000 || o.ramp_ms < 0 ||
        o.timeout_s < 1 || o.reps < 1 || o.reps > 100 || strchr(o.message, '"') ||
        strchr(o.message, '\\')) {
        fprintf(stderr, "nova-load: bad option value\n");
        return 2;
    }
    bench_raise_nofile();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(o.mode, "pipeline") == 0) {
        if (!o.url) {
            usage(stderr);
            return 2;
        }
        rc = bench_pipeline(&o);
    } else if (strcmp(o.mode, "direct") == 0) {
        rc = bench_direct(&o);
    } else if (strcmp(o.mode, "ready") == 0) {
        if (optind >= argc || (!o.unix_path == !o.redis_key)) {
            usage(stderr);
            return 2;
        }
        o.argv = argv + optind;
        rc = bench_ready(&o);
    } else {
        usage(stderr);
        return 2;
    }
    curl_global_cleanup();
    return rc;
}
