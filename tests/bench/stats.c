/* stats: sample vectors, percentiles, the delta timeline and process accounting (bench.h). */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/alloc.h"

void samples_add(struct samples *s, double ms)
{
    if (!s->max)
        s->max = 4u << 20; /* 4 Mi samples = 32 MiB: more than any bounded run makes */
    if (s->n == s->cap) {
        if (s->cap >= s->max) {
            s->dropped++;
            return;
        }
        s->cap = s->cap ? s->cap * 2 : 1024;
        if (s->cap > s->max)
            s->cap = s->max;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = ms;
}

void samples_free(struct samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double samples_q(struct samples *s, double q)
{
    if (!s->n)
        return -1;
    qsort(s->v, s->n, sizeof *s->v, cmp_double); /* sorted input sorts fast enough */
    size_t k = (size_t)ceil(q * (double)s->n);
    if (k < 1)
        k = 1;
    return s->v[k - 1];
}

void samples_json(FILE *f, const char *name, struct samples *s)
{
    if (!s->n) {
        fprintf(f, "\"%s\": {\"n\": 0}", name);
        return;
    }
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    double p50 = samples_q(s, 0.50), p95 = samples_q(s, 0.95), p99 = samples_q(s, 0.99);
    fprintf(f, "\"%s\": {\"n\": %zu, \"p50\": %.3f, \"p95\": %.3f, \"p99\": %.3f, "
               "\"max\": %.3f, \"mean\": %.3f}",
            name, s->n, p50, p95, p99, s->v[s->n - 1], sum / (double)s->n);
}

void timeline_init(struct timeline *t, double span_ms)
{
    t->n = (size_t)(span_ms / TL_BUCKET_MS) + 2;
    t->b = xcalloc(t->n, sizeof *t->b);
}

void timeline_add(struct timeline *t, double at_ms)
{
    size_t i = at_ms <= 0 ? 0 : (size_t)(at_ms / TL_BUCKET_MS);
    t->b[i < t->n ? i : t->n - 1]++;
}

double timeline_peak_per_s(const struct timeline *t)
{
    unsigned long best = 0, win = 0;
    for (size_t i = 0; i < t->n; i++) {
        win += t->b[i];
        if (i >= 10)
            win -= t->b[i - 10];
        if (win > best)
            best = win;
    }
    return (double)best; /* 10 buckets of 100 ms: already per second */
}

void timeline_free(struct timeline *t)
{
    free(t->b);
    memset(t, 0, sizeof *t);
}

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

long bench_maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

void bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

bool bench_response_sse(CURL *h, long *status)
{
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    return ct && strncmp(ct, "text/event-stream", 17) == 0;
}
