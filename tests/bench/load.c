/* nova-load: the load generator of `make bench` (see bench.h and tests/bench/run-bench).
 *
 *   nova-load pipeline --url http://127.0.0.1:PORT -n N [--len L] [--ramp-ms MS]
 *                      [--concurrency C] [--message TEXT] [--lang ko|en] [--out F]
 *   nova-load direct --request ID -n N [--ramp-ms MS] [--concurrency C] [--out F]
 *                      (NOVA_RUN_DIR's Redis, NOVA_BEDROCK_ENDPOINT, AWS_*)
 *   nova-load peer --url GATEWAY --custom-host URL --request ID -n N [--ramp-ms MS]
 *                      [--concurrency C] [--out F]      (NOVA_RUN_DIR's Redis, AWS_*)
 *   nova-load ready (--unix PATH | --redis-key KEY) [--reps R] -- PROGRAM ARGS...
 *   nova-load redis-mem [--out F]                       (NOVA_RUN_DIR's Redis)
 *   nova-load resume|kill --url URL -n N [...pipeline's options]   (resume.c)
 *
 * The pipeline mode opens N chats (POST /api/chat) through nginx, starts spread evenly over
 * --ramp-ms and at most --concurrency open at once, on one libcurl multi handle driven by
 * epoll (hloop.c), reads each SSE stream with common/core/sse.h and records per chat the time
 * to meta, to the first micro and the first pro delta (and to the first Micro delta of the
 * phase the player reads: "answer" in ko, "customer_en" in en), the gaps between deltas of one
 * model stream, the completion, the model tokens (model_done's output_tokens) and errors (HTTP
 * status, transport, error events, missing done). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "bench.h"
#include "core/alloc.h"
#include "core/sse.h"

struct chat {
    CURL *h;
    struct curl_slist *hdrs;
    struct sse_parser parser;
    struct prun *run;
    double t0;          /* start (ms, monotonic) */
    double now;         /* arrival time of the bytes being parsed */
    double t_meta, t_first[2], t_last[2], t_player, t_end;
    unsigned long deltas[2];
    long tokens;        /* output tokens of the model_done events */
    long status;
    int curl_rc;
    bool started, finished, typed, sse, done, error_ev, other_ev;
    char error_code[32];
};

struct prun {
    const struct bench_opts *o;
    struct hloop loop;
    struct hsched sched;
    const char *url, *body;
    const char *player_phase;   /* the phase whose Micro words the player reads first */
    struct chat *chats;
    struct samples meta, first[2], player, gap, completion;
    struct timeline tl;
    unsigned long deltas_total;
    long tokens_total;
    /* errors */
    int err_http, err_transport, err_event, err_no_done, err_no_delta, err_timeout, err_sse;
    char first_error[256];
};

static void note_error(struct prun *r, const char *fmt, const char *a, long b)
{
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof r->first_error, fmt, a, b);
}

static int on_event(void *user, const struct sse_event *e)
{
    struct chat *c = user;
    struct prun *r = c->run;
    double t = c->now - c->t0;
    if (strcmp(e->type, "delta") == 0) {
        int m = bench_delta_model(e->data, e->data_len);
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
        /* The phase is read (json-c) only until the player's first Micro delta is seen. */
        struct bench_fields f;
        if (m == BENCH_MICRO && c->t_player < 0 &&
            bench_event_fields(e->data, e->data_len, &f) == 0 &&
            strcmp(f.phase, r->player_phase) == 0) {
            c->t_player = t;
            samples_add(&r->player, t);
        }
        c->t_last[m] = t;
        c->deltas[m]++;
        r->deltas_total++;
        timeline_add(&r->tl, c->now - r->sched.t_start);
    } else if (strcmp(e->type, "meta") == 0) {
        c->t_meta = t;
        samples_add(&r->meta, t);
    } else if (strcmp(e->type, "model_done") == 0) {
        struct bench_fields f;
        if (bench_event_fields(e->data, e->data_len, &f) == 0 && f.output_tokens > 0) {
            c->tokens += f.output_tokens;
            r->tokens_total += f.output_tokens;
        }
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
        c->sse = bench_response_sse(c->h, &c->status);
        c->typed = true;
    }
    if (!c->sse)
        return n; /* an error body: the status says enough */
    c->now = bench_now_ms();
    return sse_parser_feed(&c->parser, p, n, on_event, c) == 0 ? n : 0;
}

static void chat_release(struct chat *c)
{
    if (c->h)
        curl_easy_cleanup(c->h);
    c->h = NULL;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    sse_parser_free(&c->parser);
}

static void chat_finish(void *user, CURL *h, CURLcode rc)
{
    struct prun *r = user;
    struct chat *c = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
    c->finished = true;
    c->curl_rc = rc;
    c->t_end = bench_now_ms() - c->t0;
    hsched_finished(&r->sched);
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
    } else if (!c->deltas[BENCH_MICRO] || !c->deltas[BENCH_PRO]) {
        r->err_no_delta++;
        note_error(r, "a model stream without deltas%s (chat %ld)", "", (long)i);
    } else {
        samples_add(&r->completion, c->t_end);
    }
    chat_release(c);
}

static void chat_start(void *user, int i)
{
    struct prun *r = user;
    struct chat *c = &r->chats[i];
    c->run = r;
    c->t_first[0] = c->t_first[1] = c->t_player = c->t_meta = -1;
    sse_parser_init(&c->parser, 1u << 20);
    c->h = curl_easy_init();
    curl_easy_setopt(c->h, CURLOPT_URL, r->url);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, r->body); /* not copied: it outlives the run */
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    c->t0 = bench_now_ms();
    c->started = true;
    curl_multi_add_handle(r->loop.m, c->h);
}

static int run_errors(const struct prun *r)
{
    return r->err_http + r->err_transport + r->err_event + r->err_no_done + r->err_no_delta +
           r->err_timeout + r->err_sse;
}

static void write_report(struct prun *r, double wall_ms, double cpu_s)
{
    const struct bench_opts *o = r->o;
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (!f) {
        fprintf(stderr, "nova-load: fopen(%s): %s\n", o->out, strerror(errno));
        return;
    }
    int errors = run_errors(r);
    fprintf(f, "{\"mode\": \"pipeline\", \"n\": %d, \"len\": %d, \"ramp_ms\": %d, "
               "\"concurrency\": %d, \"ui_lang\": \"%s\", \"player_phase\": \"%s\", "
               "\"started\": %d, \"ok\": %zu, \"errors\": %d, \"peak_open\": %d,\n",
            o->n, o->len, o->ramp_ms, o->concurrency, o->lang, r->player_phase,
            r->sched.started, r->completion.n, errors, r->sched.peak_open);
    fprintf(f, " \"error_kinds\": {\"http\": %d, \"transport\": %d, \"error_event\": %d, "
               "\"no_done\": %d, \"no_delta\": %d, \"timeout\": %d, \"sse\": %d},\n",
            r->err_http, r->err_transport, r->err_event, r->err_no_done, r->err_no_delta,
            r->err_timeout, r->err_sse);
    fprintf(f, " \"first_error\": \"");
    for (const char *p = r->first_error; *p; p++)
        fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 32 ? " " : "%c", *p);
    fprintf(f, "\",\n ");
    samples_json(f, "ttft_meta_ms", &r->meta);
    fprintf(f, ",\n ");
    samples_json(f, "ttft_micro_ms", &r->first[BENCH_MICRO]);
    fprintf(f, ",\n ");
    samples_json(f, "ttft_player_micro_ms", &r->player);
    fprintf(f, ",\n ");
    samples_json(f, "ttft_pro_ms", &r->first[BENCH_PRO]);
    fprintf(f, ",\n ");
    samples_json(f, "gap_ms", &r->gap);
    fprintf(f, ",\n ");
    samples_json(f, "completion_ms", &r->completion);
    fprintf(f, ",\n \"deltas\": %lu, \"output_tokens\": %ld, \"wall_ms\": %.1f, "
               "\"deltas_per_s_avg\": %.1f, \"deltas_per_s_peak\": %.1f, \"load_cpu_s\": %.3f, "
               "\"load_maxrss_kib\": %ld}\n",
            r->deltas_total, r->tokens_total, wall_ms,
            wall_ms > 0 ? r->deltas_total / (wall_ms / 1e3) : 0, timeline_peak_per_s(&r->tl),
            cpu_s, bench_maxrss_kib());
    if (f != stdout)
        fclose(f);
    fprintf(stderr, "nova-load pipeline n=%d %s: ok %zu, errors %d (%s), meta p50 %.1f ms, "
                    "micro ttft p50 %.1f ms, pro p50 %.1f ms, %lu deltas in %.1f s\n",
            o->n, o->lang, r->completion.n, errors, r->first_error[0] ? r->first_error : "none",
            samples_q(&r->meta, 0.5), samples_q(&r->first[BENCH_MICRO], 0.5),
            samples_q(&r->first[BENCH_PRO], 0.5), r->deltas_total, wall_ms / 1e3);
}

int bench_pipeline(const struct bench_opts *o)
{
    static struct prun run;
    struct prun *r = &run;
    r->o = o;
    r->player_phase = strcmp(o->lang, "en") == 0 ? "customer_en" : "answer";
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
    r->url = url;
    r->body = body;
    if (hloop_init(&r->loop, (long)o->n + 16, chat_finish, r) < 0) {
        fprintf(stderr, "nova-load: epoll_create1 or curl_multi_init failed\n");
        return 1;
    }
    double cpu0 = bench_cpu_s();
    hsched_init(&r->sched, o->n, o->ramp_ms, o->concurrency);
    hloop_run(&r->loop, &r->sched, r->sched.t_start + o->timeout_s * 1e3, chat_start);
    double wall = bench_now_ms() - r->sched.t_start;
    for (int i = 0; i < o->n; i++) {
        struct chat *c = &r->chats[i];
        if (c->started && !c->finished) {
            r->err_timeout++;
            note_error(r, "chat still open at the %ss timeout (%ld)", "run", (long)i);
            c->finished = true;
            curl_multi_remove_handle(r->loop.m, c->h);
            chat_release(c);
        } else if (!c->started) {
            r->err_timeout++;
        }
    }
    write_report(r, wall, bench_cpu_s() - cpu0);
    hloop_free(&r->loop);
    free(body);
    free(r->chats);
    return run_errors(r) ? 3 : 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: nova-load pipeline --url URL -n N [--len L] [--ramp-ms MS] "
               "[--concurrency C] [--message TEXT] [--lang ko|en] [--timeout-s S] [--out FILE]\n"
               "       nova-load direct --request ID -n N [--ramp-ms MS] [--concurrency C] "
               "[--timeout-s S] [--out FILE]\n"
               "           (replays request ID's queued jobs; NOVA_RUN_DIR's Redis, "
               "NOVA_BEDROCK_ENDPOINT, AWS_* from the environment)\n"
               "       nova-load peer --url GATEWAY --custom-host URL --request ID -n N "
               "[--ramp-ms MS] [--concurrency C] [--timeout-s S] [--out FILE]\n"
               "           (the same jobs as OpenAI chat completions through Portkey's gateway; "
               "AWS_* are the keys it signs with)\n"
               "       nova-load ready (--unix PATH | --redis-key KEY) [--reps R] -- PROGRAM "
               "ARGS...\n"
               "       nova-load redis-mem [--out FILE]   (NOVA_RUN_DIR's Redis)\n"
               "       nova-load keep --request ID        (copies its queued jobs)\n"
               "       nova-load resume|kill --url URL -n N [--len L] [--ramp-ms MS] [--message "
               "TEXT] [--lang ko|en] [--timeout-s S] [--out FILE]\n"
               "           (chats that resume with Last-Event-ID as the page does; kill: the "
               "nova-fcgi child holding the most streams gets SIGKILL while they are open)\n");
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
        {"request", required_argument, NULL, 'Q'},   {"lang", required_argument, NULL, 'L'},
        {"concurrency", required_argument, NULL, 'c'},
        {"custom-host", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "+n:c:", opts, NULL)) != -1) {
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
        case 'L': o.lang = optarg; break;
        case 'c': o.concurrency = atoi(optarg); break;
        case 'H': o.custom_host = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.n < 1 || o.n > 100000 || o.len < 0 || o.len > 10000 || o.ramp_ms < 0 ||
        o.concurrency < 0 || o.timeout_s < 1 || o.reps < 1 || o.reps > 100 ||
        strlen(o.message) > 1500 || strchr(o.message, '"') || strchr(o.message, '\\') ||
        (strcmp(o.lang, "ko") != 0 && strcmp(o.lang, "en") != 0)) {
        fprintf(stderr, "nova-load: bad option value (-n 1..100000, --len 0..10000, --lang ko|en, "
                        "--message without \" or \\)\n");
        return 2;
    }
    bench_raise_nofile();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(o.mode, "pipeline") == 0 && o.url) {
        rc = bench_pipeline(&o);
    } else if ((strcmp(o.mode, "resume") == 0 || strcmp(o.mode, "kill") == 0) && o.url) {
        rc = bench_resume(&o, strcmp(o.mode, "kill") == 0);
    } else if (strcmp(o.mode, "direct") == 0) {
        rc = bench_direct(&o);
    } else if (strcmp(o.mode, "peer") == 0 && o.url && o.custom_host && o.request) {
        rc = bench_peer(&o);
    } else if (strcmp(o.mode, "keep") == 0 && o.request) {
        rc = bench_keep(&o);
    } else if (strcmp(o.mode, "redis-mem") == 0) {
        rc = bench_redis_mem(&o);
    } else if (strcmp(o.mode, "ready") == 0 && optind < argc && !o.unix_path != !o.redis_key) {
        o.argv = argv + optind;
        rc = bench_ready(&o);
    } else {
        usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
