/* peer: the same chats through another gateway — Portkey's AI gateway (npm
 * @portkey-ai/gateway, tests/bench/peer/), whose Bedrock provider relays each one to a
 * bedrock-sim. A chat is the warm-up chat's Micro and Pro jobs (the same system prompt with its
 * cache point, passages and question that the direct mode replays and the pipeline sends),
 * each as one streaming OpenAI chat completion (POST /v1/chat/completions, x-portkey-provider:
 * bedrock, the simulator's key pair as x-portkey-aws-*, x-portkey-custom-host). Both start
 * together; records the time to the first chunk with text per model, gaps, completion, and
 * errors (HTTP status, transport, an error chunk, a stream without [DONE] or without text). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aws/bedrock.h"
#include "bench.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/sse.h"

struct pstream {
    CURL *h;
    struct sse_parser parser;
    struct peerrun *run;
    int chat, model;
    double t0, now, t_first, t_last;
    unsigned long chunks;
    long tokens, status;
    bool typed, sse, done, error_chunk, bad_chunk;
    char error[160];
};

struct peerrun {
    const struct bench_opts *o;
    struct hloop loop;
    struct hsched sched;
    struct curl_slist *hdrs;    /* the same for every request */
    char url[1024];
    struct buf body[2];         /* per model */
    struct pstream *streams;    /* 2 per chat */
    unsigned char *left;        /* per chat: streams not yet done */
    struct samples first[2], gap, completion;
    struct timeline tl;
    unsigned long chunks_total;
    long tokens_total;
    int ok, errors, open, peak_open;
    char first_error[256];
};

static void note_error(struct peerrun *r, const char *what, const struct pstream *s)
{
    r->errors++;
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof r->first_error, "%.200s (chat %d, %s)", what, s->chat,
                 s->model == BENCH_MICRO ? "micro" : "pro");
}

/* The OpenAI chat completion a job's converse request becomes: what Portkey's Bedrock
 * provider turns back into the same Converse body (system text, cache point, messages,
 * inferenceConfig). */
static int peer_body(const struct bedrock_converse_req *q, struct buf *out)
{
    json_object *root = json_object_new_object(), *msgs = json_object_new_array();
    json_object_object_add(root, "model", json_object_new_string(q->model_id));
    json_object_object_add(root, "stream", json_object_new_boolean(1));
    if (q->system || q->system_suffix) {
        json_object *m = json_object_new_object(), *parts = json_object_new_array();
        json_object_object_add(m, "role", json_object_new_string("system"));
        if (q->system) {
            json_object *p = json_object_new_object();
            json_object_object_add(p, "type", json_object_new_string("text"));
            json_object_object_add(p, "text", json_object_new_string(q->system));
            if (q->cache_point) {
                json_object *cc = json_object_new_object();
                json_object_object_add(cc, "type", json_object_new_string("ephemeral"));
                json_object_object_add(p, "cache_control", cc);
            }
            json_object_array_add(parts, p);
        }
        if (q->system_suffix) {
            json_object *p = json_object_new_object();
            json_object_object_add(p, "type", json_object_new_string("text"));
            json_object_object_add(p, "text", json_object_new_string(q->system_suffix));
            json_object_array_add(parts, p);
        }
        json_object_object_add(m, "content", parts);
        json_object_array_add(msgs, m);
    }
    for (size_t i = 0; i < q->n_messages; i++) {
        json_object *m = json_object_new_object();
        json_object_object_add(m, "role", json_object_new_string(q->messages[i].role));
        json_object_object_add(m, "content", json_object_new_string(q->messages[i].text));
        json_object_array_add(msgs, m);
    }
    json_object_object_add(root, "messages", msgs);
    if (q->max_tokens > 0)
        json_object_object_add(root, "max_tokens", json_object_new_int(q->max_tokens));
    if (q->temperature >= 0)
        json_object_object_add(root, "temperature", json_new_short_double(q->temperature));
    if (q->top_p >= 0)
        json_object_object_add(root, "top_p", json_new_short_double(q->top_p));
    return json_append_put(root, out);
}

static int on_event(void *user, const struct sse_event *e)
{
    struct pstream *s = user;
    struct peerrun *r = s->run;
    struct bench_chunk c;
    if (bench_chunk_parse(e->data, e->data_len, &c) < 0) {
        s->bad_chunk = true;
        return 0;
    }
    if (c.done) {
        s->done = true;
        return 0;
    }
    if (c.error && !s->error_chunk) {
        s->error_chunk = true;
        snprintf(s->error, sizeof s->error, "%s", c.error_message);
    }
    if (c.completion_tokens > 0)
        s->tokens = c.completion_tokens;
    if (!c.text_bytes)
        return 0;
    double t = s->now - s->t0;
    if (!s->chunks) {
        s->t_first = t;
        samples_add(&r->first[s->model], t);
    } else {
        samples_add(&r->gap, t - s->t_last);
    }
    s->t_last = t;
    s->chunks++;
    r->chunks_total++;
    timeline_add(&r->tl, s->now - r->sched.t_start);
    return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    struct pstream *s = user;
    size_t n = size * nmemb;
    if (!s->typed) {
        char *ct = NULL;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
        curl_easy_getinfo(s->h, CURLINFO_CONTENT_TYPE, &ct);
        s->sse = ct && strncmp(ct, "text/event-stream", 17) == 0;
        s->typed = true;
    }
    if (!s->sse) { /* an error body: keep its start for the report */
        size_t k = strlen(s->error);
        if (k + 1 < sizeof s->error) {
            size_t take = n < sizeof s->error - 1 - k ? n : sizeof s->error - 1 - k;
            for (size_t i = 0; i < take; i++)
                s->error[k + i] = (unsigned char)p[i] < 32 || p[i] == '"' || p[i] == '\\'
                                      ? ' '
                                      : p[i];
            s->error[k + take] = '\0';
        }
        return n;
    }
    s->now = bench_now_ms();
    return sse_parser_feed(&s->parser, p, n, on_event, s) == 0 ? n : 0;
}

static void stream_done(void *user, CURL *h, CURLcode rc)
{
    struct peerrun *r = user;
    struct pstream *s = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&s);
    if (!s->typed)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s->status);
    r->open--;
    char what[256];
    if (s->status != 200) {
        snprintf(what, sizeof what, "HTTP status %ld: %.160s", s->status, s->error);
        note_error(r, what, s);
    } else if (rc != CURLE_OK) {
        snprintf(what, sizeof what, "transport: %s", curl_easy_strerror(rc));
        note_error(r, what, s);
    } else if (s->parser.err || s->bad_chunk) {
        note_error(r, "a chunk that is not JSON, or an SSE error", s);
    } else if (s->error_chunk) {
        snprintf(what, sizeof what, "error chunk: %.160s", s->error);
        note_error(r, what, s);
    } else if (!s->done) {
        note_error(r, "no [DONE]", s);
    } else if (!s->chunks) {
        note_error(r, "no text", s);
    } else {
        r->ok++;
        samples_add(&r->completion, bench_now_ms() - s->t0);
        if (s->tokens > 0)
            r->tokens_total += s->tokens;
    }
    curl_easy_cleanup(h);
    s->h = NULL;
    sse_parser_free(&s->parser);
    if (--r->left[s->chat] == 0)
        hsched_finished(&r->sched);
}

static void chat_start(void *user, int k)
{
    struct peerrun *r = user;
    r->left[k] = 2;
    for (int m = 0; m < 2; m++) {
        struct pstream *s = &r->streams[2 * k + m];
        s->run = r;
        s->chat = k;
        s->model = m;
        s->t_first = -1;
        sse_parser_init(&s->parser, 1u << 20);
        s->h = curl_easy_init();
        curl_easy_setopt(s->h, CURLOPT_URL, r->url);
        curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, r->body[m].data);
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)r->body[m].len);
        curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, r->hdrs);
        s->t0 = bench_now_ms();
        r->open++;
        if (r->open > r->peak_open)
            r->peak_open = r->open;
        curl_multi_add_handle(r->loop.m, s->h);
    }
}

static void write_report(struct peerrun *r, double wall, double cpu)
{
    const struct bench_opts *o = r->o;
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (!f) {
        fprintf(stderr, "nova-load: fopen(%s): %s\n", o->out, strerror(errno));
        return;
    }
    fprintf(f, "{\"mode\": \"peer\", \"n\": %d, \"calls\": %d, \"ramp_ms\": %d, "
               "\"concurrency\": %d, \"ok\": %d, \"errors\": %d, \"peak_open\": %d, "
               "\"first_error\": \"",
            o->n, 2 * o->n, o->ramp_ms, o->concurrency, r->ok, r->errors, r->peak_open);
    for (const char *p = r->first_error; *p; p++)
        fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 32 ? " " : "%c", *p);
    fprintf(f, "\",\n ");
    samples_json(f, "ttft_micro_ms", &r->first[BENCH_MICRO]);
    fprintf(f, ",\n ");
    samples_json(f, "ttft_pro_ms", &r->first[BENCH_PRO]);
    fprintf(f, ",\n ");
    samples_json(f, "gap_ms", &r->gap);
    fprintf(f, ",\n ");
    samples_json(f, "completion_ms", &r->completion);
    fprintf(f, ",\n \"chunks\": %lu, \"output_tokens\": %ld, \"wall_ms\": %.1f, "
               "\"deltas_per_s_peak\": %.1f, \"load_cpu_s\": %.3f, \"load_maxrss_kib\": %ld}\n",
            r->chunks_total, r->tokens_total, wall, timeline_peak_per_s(&r->tl), cpu,
            bench_maxrss_kib());
    if (f != stdout)
        fclose(f);
    fprintf(stderr, "nova-load peer n=%d: ok %d/%d, errors %d (%s), micro ttft p50 %.1f ms, "
                    "pro p50 %.1f ms\n",
            o->n, r->ok, 2 * o->n, r->errors, r->first_error[0] ? r->first_error : "none",
            samples_q(&r->first[BENCH_MICRO], 0.5), samples_q(&r->first[BENCH_PRO], 0.5));
}

int bench_peer(const struct bench_opts *o)
{
    const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *region = getenv("AWS_REGION");
    if (!key || !*key || !secret || !*secret) {
        fprintf(stderr, "nova-load: peer: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are the "
                        "keys the gateway signs with\n");
        return 2;
    }
    struct bench_jobs *jobs = bench_jobs_load(o->request);
    if (!jobs)
        return 2;
    static struct peerrun run;
    struct peerrun *r = &run;
    r->o = o;
    snprintf(r->url, sizeof r->url, "%s/v1/chat/completions", o->url);
    for (int m = 0; m < 2; m++) {
        buf_init(&r->body[m], 4u << 20);
        if (peer_body(bench_jobs_req(jobs, m), &r->body[m]) < 0) {
            fprintf(stderr, "nova-load: peer: the request body does not fit 4 MiB\n");
            bench_jobs_free(jobs);
            return 2;
        }
    }
    bench_jobs_free(jobs); /* the bodies are built */
    char h[1200];
    r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    r->hdrs = curl_slist_append(r->hdrs, "Expect:");
    r->hdrs = curl_slist_append(r->hdrs, "x-portkey-provider: bedrock");
    snprintf(h, sizeof h, "x-portkey-custom-host: %s", o->custom_host);
    r->hdrs = curl_slist_append(r->hdrs, h);
    snprintf(h, sizeof h, "x-portkey-aws-access-key-id: %s", key);
    r->hdrs = curl_slist_append(r->hdrs, h);
    snprintf(h, sizeof h, "x-portkey-aws-secret-access-key: %s", secret);
    r->hdrs = curl_slist_append(r->hdrs, h);
    snprintf(h, sizeof h, "x-portkey-aws-region: %s", region && *region ? region : "ap-northeast-1");
    r->hdrs = curl_slist_append(r->hdrs, h);

    r->streams = xcalloc(2 * (size_t)o->n, sizeof *r->streams);
    r->left = xcalloc((size_t)o->n, 1);
    timeline_init(&r->tl, (double)o->timeout_s * 1e3 + 1000);
    if (hloop_init(&r->loop, 2L * o->n + 16, stream_done, r) < 0) {
        fprintf(stderr, "nova-load: epoll_create1 or curl_multi_init failed\n");
        return 1;
    }
    double cpu0 = bench_cpu_s();
    hsched_init(&r->sched, o->n, o->ramp_ms, o->concurrency);
    hloop_run(&r->loop, &r->sched, r->sched.t_start + o->timeout_s * 1e3, chat_start);
    double wall = bench_now_ms() - r->sched.t_start, cpu = bench_cpu_s() - cpu0;
    for (int i = 0; i < 2 * o->n; i++) {
        struct pstream *s = &r->streams[i];
        if (s->h) {
            curl_multi_remove_handle(r->loop.m, s->h);
            curl_easy_cleanup(s->h);
            s->h = NULL;
            sse_parser_free(&s->parser);
        }
    }
    int missing = 2 * o->n - r->ok - r->errors;
    if (missing > 0) {
        r->errors += missing;
        if (!r->first_error[0])
            snprintf(r->first_error, sizeof r->first_error,
                     "%d calls open or not started at the %d s timeout", missing, o->timeout_s);
    }
    write_report(r, wall, cpu);
    hloop_free(&r->loop);
    curl_slist_free_all(r->hdrs);
    buf_free(&r->body[0]);
    buf_free(&r->body[1]);
    free(r->streams);
    free(r->left);
    return r->errors ? 3 : 0;
}
