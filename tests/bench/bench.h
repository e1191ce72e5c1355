/* bench: the pieces of nova-load (the load generator of `make bench`) and what they share.
 *
 *   load.c    main(), options, the pipeline mode (POST /api/chat through nginx, SSE read with
 *             common/core/sse.h)
 *   direct.c  the direct mode (the same converse requests straight to bedrock-sim with
 *             common/aws/bedrock.h) and the warm-up chat's jobs that it and the peer replay
 *   peer.c    the peer mode (the same requests, as OpenAI chat completions, through another
 *             gateway: Portkey's, whose Bedrock provider relays them to a bedrock-sim)
 *   ready.c   the ready mode (exec a program, time until its socket accepts or its heartbeat
 *             key appears in Redis)
 *   rmem.c    the redis-mem mode (what the stack's Redis holds: used_memory, the job streams
 *             kept, the transcripts)
 *   resume.c  the resume and kill modes (chats that reconnect with Last-Event-ID as the page
 *             does; kill: the busiest nova-fcgi child SIGKILLed while they are open)
 *   hloop.c   the start schedule (ramp, concurrency) and one libcurl multi handle on epoll
 *   events.c  what is read out of the events received (no I/O; fuzzed)
 *   stats.c   sample vectors, percentiles, the JSON report
 *
 * Everything runs on one thread. */
#ifndef NOVA_BENCH_H
#define NOVA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>

/* ---- samples ---------------------------------------------------------------------------- */

struct samples {      /* a growable vector of milliseconds; capped (max) so memory is bounded */
    double *v;
    size_t n, cap, max, dropped;
};

void samples_add(struct samples *s, double ms);
void samples_free(struct samples *s);
/* Sorts s (once) and returns the nearest-rank q-quantile (0 < q <= 1); -1 when empty. */
double samples_q(struct samples *s, double q);
/* Writes "name": {"n":..,"p50":..,"p95":..,"p99":..,"max":..,"mean":..} (no trailing comma). */
void samples_json(FILE *f, const char *name, struct samples *s);

/* ---- the delta timeline: deltas per 100 ms bucket since the run's start ------------------ */

#define TL_BUCKET_MS 100.0
struct timeline {
    unsigned long *b;
    size_t n;
};
void timeline_init(struct timeline *t, double span_ms);
void timeline_add(struct timeline *t, double at_ms);
/* The most deltas in any 1 s window (10 adjacent buckets), per second. */
double timeline_peak_per_s(const struct timeline *t);
void timeline_free(struct timeline *t);

double bench_now_ms(void);      /* CLOCK_MONOTONIC */
double bench_cpu_s(void);       /* this process's user + system CPU seconds */
long bench_maxrss_kib(void);    /* this process's peak RSS */
void bench_raise_nofile(void);  /* soft RLIMIT_NOFILE up to the hard limit */
/* At a transfer's first body bytes: its status into *status; whether the body is an SSE
 * stream (else an error body, which the status says enough about). */
bool bench_response_sse(CURL *h, long *status);

/* ---- events: no I/O, bytes from the servers measured ------------------------------------ */

enum { BENCH_MICRO = 0, BENCH_PRO = 1 };

/* The "model" of a delta event's JSON ("model":"micro" anywhere, json-c may put spaces), cheap
 * enough for every delta: BENCH_MICRO, BENCH_PRO or -1. */
int bench_delta_model(const char *d, size_t n);

struct bench_fields {   /* of a delta or model_done event (API.md) */
    char phase[24];     /* "" when absent; cut to fit */
    int model;          /* BENCH_MICRO, BENCH_PRO or -1 */
    long output_tokens; /* usage.output_tokens, -1 when absent */
};
/* Parses one event's data with json-c. 0, or -1 when it is not a JSON object (*f then holds
 * the defaults: "", -1, -1). */
int bench_event_fields(const char *d, size_t n, struct bench_fields *f);

struct bench_chunk {    /* one SSE data of an OpenAI-style streaming chat completion */
    bool done;          /* the "[DONE]" sentinel */
    bool error;         /* an "error" member */
    char error_message[160];
    size_t text_bytes;  /* bytes of choices[0].delta.content */
    bool finished;      /* choices[0].finish_reason is a string */
    long completion_tokens; /* usage.completion_tokens, -1 when absent */
};
/* 0, or -1 when d is neither the sentinel nor a JSON object. */
int bench_chunk_parse(const char *d, size_t n, struct bench_chunk *c);

/* ---- the start schedule and the libcurl loop (hloop.c) ---------------------------------- */

struct hsched {         /* n units (chats); unit i is due ramp_ms * i / n after t_start, and */
    int n, ramp_ms;     /* starts then only while fewer than concurrency are open (0: any) */
    int concurrency;
    int started, open, finished, peak_open;
    double t_start;
};
void hsched_init(struct hsched *s, int n, int ramp_ms, int concurrency);
/* When the next unit is due (ms, monotonic), or -1 when none may start now. */
double hsched_due(const struct hsched *s);
void hsched_started(struct hsched *s);
void hsched_finished(struct hsched *s);

/* Called for every transfer that ended (already removed from the multi handle; the callee
 * cleans it up). */
typedef void (*hloop_done_fn)(void *user, CURL *h, CURLcode rc);
/* Called when unit i is due: it adds its transfers with curl_multi_add_handle(l->m, ...). */
typedef void (*hloop_start_fn)(void *user, int i);

struct hloop {
    CURLM *m;
    int ep;
    long timer_ms;      /* libcurl's requested timeout, -1 none */
    double timer_at;    /* when it expires */
    hloop_done_fn done;
    void *user;
};
int hloop_init(struct hloop *l, long max_connects, hloop_done_fn done, void *user);
void hloop_free(struct hloop *l);
/* Starts units as s allows and drives the transfers until every unit has finished (the mode
 * calls hsched_finished) or the deadline (ms, monotonic) passes: 0 or -1 (deadline). */
int hloop_run(struct hloop *l, struct hsched *s, double deadline, hloop_start_fn start);

/* ---- options shared by the modes -------------------------------------------------------- */

struct bench_opts {
    const char *mode;       /* "pipeline", "direct", "peer", "ready", "redis-mem" */
    const char *url;        /* pipeline: nginx base URL; peer: the gateway's base URL */
    const char *out;        /* JSON report path ("-": stdout) */
    const char *message;    /* the chat question (a #sim:len directive is appended) */
    const char *lang;       /* ui_lang: "ko" or "en" */
    int n;                  /* chats */
    int len;                /* #sim:len=N per model stream (0: none) */
    int ramp_ms;            /* starts are spread evenly over this */
    int concurrency;        /* at most this many chats open at once (0: no limit) */
    int timeout_s;          /* the whole run's bound */
    /* ready mode */
    const char *unix_path;  /* ready when connect() to this unix socket succeeds */
    const char *redis_key;  /* ready when EXISTS key in NOVA_REDIS_URL's Redis */
    int reps;
    char **argv;            /* the program to run, NULL-terminated */
    /* direct and peer modes */
    const char *request;    /* the warm-up chat whose queued jobs are replayed */
    const char *custom_host; /* peer: where the gateway sends the Bedrock calls */
};


int bench_pipeline(const struct bench_opts *o);
int bench_direct(const struct bench_opts *o);
int bench_ready(const struct bench_opts *o);
int bench_peer(const struct bench_opts *o);
int bench_redis_mem(const struct bench_opts *o);
/* The resume mode (kill_child false) and the kill mode (true): resume.c. */
int bench_resume(const struct bench_opts *o, bool kill_child);

/* ---- the warm-up chat's jobs (direct.c), replayed by the direct and the peer modes ------- */

struct bedrock_converse_req;
struct bench_jobs;
/* Reads the answer jobs (micro, pro) of request from NOVA_RUN_DIR's Redis, as the workers see
 * them. NULL with a message on stderr when they are not there. */
/* The copies of the warm-up chat's jobs (nova-load keep makes them while the workers are
 * paused, since a worker deletes a job it answered). */
#define BENCH_KEPT_MICRO "bench:warm:{micro}"
#define BENCH_KEPT_PRO "bench:warm:{pro}"
/* nova-load keep --request ID: copies the request's answer jobs while they are queued. */
int bench_keep(const struct bench_opts *o);
struct bench_jobs *bench_jobs_load(const char *request);
void bench_jobs_free(struct bench_jobs *j);
/* The converse request of model m (BENCH_MICRO, BENCH_PRO): pointers into j. */
const struct bedrock_converse_req *bench_jobs_req(const struct bench_jobs *j, int m);

#endif
