/* bench: the pieces of nova-load (the load generator of `make bench`) and what they share.
 *
 *   load.c    main(), options, the pipeline mode (POST /api/chat through nginx, SSE read with
 *             common/core/sse.h on one libcurl multi handle driven by epoll)
 *   direct.c  the direct mode (the same converse requests straight to bedrock-sim with
 *             common/aws/bedrock.h) and the prompt text both modes share
 *   ready.c   the ready mode (exec a program, time until its socket accepts or its heartbeat
 *             key appears in Redis)
 *   stats.c   sample vectors, percentiles, the JSON report
 *
 * Everything runs on one thread. */
#ifndef NOVA_BENCH_H
#define NOVA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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

/* ---- options shared by the modes -------------------------------------------------------- */

struct bench_opts {
    const char *mode;       /* "pipeline", "direct", "ready" */
    const char *url;        /* pipeline: nginx base URL */
    const char *out;        /* JSON report path ("-": stdout) */
    const char *message;    /* the chat question (a #sim:len directive is appended) */
    const char *lang;       /* ui_lang: "ko" */
    int n;                  /* concurrent chats */
    int len;                /* #sim:len=N per model stream (0: none) */
    int ramp_ms;            /* starts are spread evenly over this */
    int timeout_s;          /* the whole run's bound */
    /* ready mode */
    const char *unix_path;  /* ready when connect() to this unix socket succeeds */
    const char *redis_key;  /* ready when EXISTS key in NOVA_REDIS_URL's Redis */
    int reps;
    char **argv;            /* the program to run, NULL-terminated */
    /* direct mode */
    const char *request;    /* the warm-up chat whose queued jobs are replayed */
};


int bench_pipeline(const struct bench_opts *o);
int bench_direct(const struct bench_opts *o);
int bench_ready(const struct bench_opts *o);

#endif
