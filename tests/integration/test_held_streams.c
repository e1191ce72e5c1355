/* test_held_streams: an open stream holds no thread (issue 15 phase B). Against a whole stack
 * (held_streams.sh: 2 children × NOVA_FCGI_THREADS=8, NOVA_FCGI_STREAMS=loop) through nginx:
 *
 *   - N chats at once, each with the simulator's first token after HOLD_MS: while they are
 *     held (PROBE_BEFORE before the first tokens) every one has its `meta` — with a thread per open
 *     stream only 2 × 8 could, the rest waiting for a thread;
 *   - meanwhile each nova-fcgi child has at most THREADS_MAX threads (the 8 request threads,
 *     the dispatcher, the loop, the main thread: none per stream);
 *   - every chat then ends with `done` and no `error`;
 *   - nova-fcgi's PSS (master + children, /proc/PID/smaps_rollup: the measure) grew by
 *     at most PSS_MAX KiB per held model stream (2 per chat) over the warm idle children
 *     (not checked in the ASan build).
 *
 * Printed: threads and VmRSS of each child idle and while the N are held, PSS idle, held and
 * after the run with the growth per held stream and per model stream, and nova-fcgi's CPU
 * per chat over the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "../unit/test.h"
#include "sse_client.h"
#include "stack_util.h"

#define N_DEFAULT 200     /* HELD_STREAMS_N: more for a measurement (up to N_MAX) */
#define N_MAX 5000
#define HOLD_DEFAULT 6000 /* HELD_STREAMS_HOLD_MS: the simulator's first token after this */
#define PROBE_BEFORE 1000 /* the probe, this long before the first tokens */
#define WARM 64           /* chats run to their end first: the baseline is a warm child
                            (each request thread's SQLite page cache and arena filled) */
#define THREADS_MAX 16 /* per child: 8 request threads and a few of the child's own */
#define MODEL_STREAMS 2 /* per chat in ko: one Micro and one Pro job */
/* HELD_STREAMS_PSS_MAX_KIB: nova-fcgi's PSS (master + children, smaps_rollup) grown per held
 * model stream over the warm idle children may be at most this (the target is 32 KiB
 * per model stream across nova-fcgi and the workers together). */
#define PSS_MAX_DEFAULT 7.0 /* s23 before this bound: 9.7 at N = 200, 11.2 at N = 1,000 */

static const char *base_url, *run_dir;
static int N = N_DEFAULT, HOLD_MS = HOLD_DEFAULT;
static double PSS_MAX = PSS_MAX_DEFAULT;

struct child_probe {
    pid_t pid[8];
    size_t n;
    long threads[8], rss_kib[8], cpu_ticks[8];
    long pss_kib; /* master + children: the measure (shared pages counted once) */
};

/* The Pss line of /proc/PID/smaps_rollup (KiB), or -1. */
static long pss_of(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Pss:", 4) == 0) {
            v = atol(line + 4);
            break;
        }
    fclose(f);
    return v;
}

static long status_field(pid_t pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            v = atol(line + nl + 1);
            break;
        }
    fclose(f);
    return v;
}

static void probe(struct child_probe *p)
{
    pid_t master = read_pid_file(run_dir, "nova-fcgi");
    p->n = master > 0 ? proc_children(master, p->pid, 8) : 0;
    p->pss_kib = master > 0 ? pss_of(master) : -1;
    for (size_t i = 0; i < p->n; i++) {
        long pss = pss_of(p->pid[i]);
        p->pss_kib = p->pss_kib < 0 || pss < 0 ? -1 : p->pss_kib + pss;
        p->threads[i] = status_field(p->pid[i], "Threads");
        p->rss_kib[i] = status_field(p->pid[i], "VmRSS");
        p->cpu_ticks[i] = proc_cpu_ticks(p->pid[i]);
    }
}

static long sum_rss(const struct child_probe *p)
{
    long s = 0;
    for (size_t i = 0; i < p->n; i++)
        s += p->rss_kib[i];
    return s;
}

struct held {
    struct stream **s;
    double t0;
    bool probed;
    struct child_probe during;
    size_t with_meta; /* at the probe */
};

static int tick(void *user)
{
    struct held *h = user;
    if (!h->probed && now_ms() - h->t0 >= HOLD_MS - PROBE_BEFORE) {
        h->probed = true;
        probe(&h->during);
        for (size_t i = 0; i < (size_t)N; i++)
            h->with_meta += h->s[i]->n > 0 && strcmp(h->s[i]->evs[0].type, "meta") == 0;
    }
    return 0;
}

static void test_held_streams_hold_no_thread(void)
{
    struct stream *warm[WARM];
    for (int i = 0; i < WARM; i++)
        warm[i] = chat_new_on(base_url, "길드에 가입하는 방법 #sim:len=4 #sim:tps=200", "ko");
    drive(warm, WARM, 20000, NULL, NULL);
    for (int i = 0; i < WARM; i++)
        stream_free(warm[i]);
    struct child_probe idle;
    probe(&idle);
    CHECK(idle.n == 2);
    struct stream **s = calloc((size_t)N, sizeof *s);
    for (int i = 0; i < N; i++) {
        char msg[256];
        snprintf(msg, sizeof msg, "길드에 가입하는 방법 (문의 %d) #sim:ttft=%d #sim:len=12 #sim:tps=100",
                 i, HOLD_MS);
        s[i] = chat_new_on(base_url, msg, "ko");
    }
    struct held h = {s, now_ms(), false, {{0}}, 0};
    drive(s, (size_t)N, 60000 + HOLD_MS * 2, tick, &h);
    int complete = 0, reported = 0;
    double meta_max = 0;
    for (int i = 0; i < N; i++) {
        struct chat c;
        chat_read(s[i], &c);
        bool ok = s[i]->finished && !s[i]->dropped && s[i]->result == CURLE_OK &&
                  s[i]->status == 200 && c.done_last && c.n_done == 1 && c.n_errors == 0;
        if (!ok && reported++ < 3)
            stream_dump("incomplete chat", s[i]);
        if (s[i]->n && s[i]->evs[0].t_ms > meta_max)
            meta_max = s[i]->evs[0].t_ms;
        complete += ok;
        chat_free(&c);
        stream_free(s[i]);
    }
    free(s);
    struct child_probe after;
    probe(&after);
    long cpu = 0;
    for (size_t i = 0; i < after.n && i < idle.n; i++)
        cpu += after.cpu_ticks[i] - idle.cpu_ticks[i];
    long held_rss = sum_rss(&h.during), idle_rss = sum_rss(&idle);
    for (size_t i = 0; i < h.during.n; i++)
        printf("  child %d: threads %ld idle, %ld with the streams held; VmRSS %ld KiB idle, "
               "%ld KiB held\n", (int)h.during.pid[i], i < idle.n ? idle.threads[i] : -1,
               h.during.threads[i], i < idle.n ? idle.rss_kib[i] : -1, h.during.rss_kib[i]);
    printf("  %d chats held %d ms: %zu had meta at %d ms (the last meta at %.0f ms); %d "
           "complete; nova-fcgi VmRSS +%ld KiB over the warm idle children, %.1f KiB per "
           "held stream\n",
           N, HOLD_MS, h.with_meta, HOLD_MS - PROBE_BEFORE, meta_max, complete, held_rss - idle_rss,
           (double)(held_rss - idle_rss) / N);
    long held_pss = h.during.pss_kib, idle_pss = idle.pss_kib;
    double pss_per_model = (double)(held_pss - idle_pss) / N / MODEL_STREAMS;
    printf("  nova-fcgi PSS (master + children, smaps_rollup): %ld KiB idle, %ld KiB held, %ld "
           "KiB after: +%ld KiB, %.1f KiB per held stream, %.1f KiB per model stream (bound "
           "%.1f)\n",
           idle_pss, held_pss, after.pss_kib, held_pss - idle_pss,
           (double)(held_pss - idle_pss) / N, pss_per_model, PSS_MAX);
    printf("  nova-fcgi CPU over the run: %.0f ms, %.2f ms per chat (user + system)\n",
           cpu * 1000.0 / sysconf(_SC_CLK_TCK), cpu * 1000.0 / sysconf(_SC_CLK_TCK) / N);
    CHECK(h.probed);
    CHECK(h.with_meta == (size_t)N);
    CHECK(h.during.n == 2);
    for (size_t i = 0; i < h.during.n; i++)
        CHECK(h.during.threads[i] > 0 && h.during.threads[i] <= THREADS_MAX);
    CHECK(complete == N);
    CHECK(idle_pss > 0 && held_pss > 0);
#ifndef __SANITIZE_ADDRESS__ /* ASan's allocator (redzones, quarantine) is not the measure */
    CHECK(pss_per_model <= PSS_MAX);
#endif
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    if (!base_url || !run_dir) {
        fprintf(stderr, "NOVA_URL and NOVA_RUN_DIR must be set (run held_streams.sh)\n");
        return 2;
    }
    const char *v = getenv("HELD_STREAMS_N");
    if (v && atoi(v) > 0)
        N = atoi(v) < N_MAX ? atoi(v) : N_MAX;
    if ((v = getenv("HELD_STREAMS_HOLD_MS")) && atoi(v) >= 1000)
        HOLD_MS = atoi(v);
    if ((v = getenv("HELD_STREAMS_PSS_MAX_KIB")) && atof(v) > 0)
        PSS_MAX = atof(v);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_held_streams_hold_no_thread);
    curl_global_cleanup();
    return test_summary();
}
