/* metrics: the shared scoreboard, its hooks and its two renderings (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* Atomics in memory shared between processes must not hide a lock inside the process. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "atomic long long must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic int must be lock-free");

/* ---- the label sets (fixed: the scoreboard is a fixed-size mapping) ---------------------- */

enum { N_ENDPOINTS = ROUTE_COUNT }; /* labelled by routes_name */

static const int statuses[] = {200, 202, 204, 400, 401, 403, 404, 405,
                               413, 415, 429, 500, 502, 503, 504};
enum { N_STATUSES = sizeof statuses / sizeof statuses[0] + 1 }; /* + "other" */

enum { N_MODELS = MODEL_COUNT };

static const char *const kinds[] = {"input", "output", "cache_read", "cache_write"};
enum { N_KINDS = 4 };

/* API.md's error codes, before and inside a stream, plus the access refusals (unauthorized:
 * no API key; forbidden), so a refused client is counted apart from a bad request. */
static const char *const codes[] = {
    "bad_request", "unauthorized", "forbidden", "not_found", "method_not_allowed",
    "payload_too_large", "unsupported_media_type", "rate_limited", "overloaded", "throttled",
    "model_error", "timeout", "worker_lost", "canceled", "unavailable", "internal", "other"};
enum { N_CODES = sizeof codes / sizeof codes[0] };

static const char *const stages[] = {"request", "stream"};

static const char *const notices[] = {"no_documents", "worker_lost", "guardrail", "other"};
enum { N_NOTICES = sizeof notices / sizeof notices[0] };

/* Feedback (feedback.h): the ratings and the reasons a 👎 may give ("none": no reason). */
static const char *const ratings[] = {"up", "down"};
static const char *const reasons[] = {"none",    "wrong",     "outdated",
                                      "unclear", "offensive", "other"};
enum { N_RATINGS = sizeof ratings / sizeof ratings[0], N_REASONS = sizeof reasons / sizeof reasons[0] };

/* Histogram bounds in ms (rendered in seconds); a last bucket takes the rest (+Inf). Time to
 * first token is about a second at most when all is well; streams run up to minutes. */
static const long long ttft_bounds[] = {100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000,
                                        10000, 30000};
static const long long duration_bounds[] = {500, 1000, 2000, 5000, 10000, 20000, 30000, 60000,
                                            120000, 300000};
#define HIST_MAX 12

struct hist {
    atomic_ullong bucket[HIST_MAX + 1]; /* not cumulative here; the rendering adds them up */
    atomic_ullong sum_ms;
};

struct slot {
    atomic_int pid;           /* 0 while free */
    atomic_int state;         /* enum metrics_child_state */
    atomic_uint generation;
    atomic_llong started_ms;  /* epoch */
    atomic_ullong requests;
    atomic_uint threads, busy, streams;
};

struct scoreboard {
    pid_t master_pid;
    long long started_ms;     /* epoch */
    long children, threads;   /* as configured */
    atomic_int master_state;
    atomic_uint generation;
    atomic_ullong respawns;
    atomic_ullong requests[N_ENDPOINTS][N_STATUSES];
    struct hist ttft[N_MODELS], duration[N_MODELS];
    atomic_ullong tokens[N_MODELS][N_KINDS];
    atomic_ullong errors[2][N_CODES];
    atomic_ullong notices[N_NOTICES];
    atomic_ullong translations[2]; /* ok, failed */
    atomic_ullong streams_refused; /* at NOVA_MAX_STREAMS */
    atomic_ullong feedback[N_RATINGS][N_REASONS];
    size_t n_slots;
    struct slot slots[];
};

/* The process's view: set by metrics_init in the master, inherited by its children. */
static struct scoreboard *sb;
static size_t sb_bytes;
static int my_slot = -1;
static long max_streams; /* per child, as configured (metrics_set_max_streams) */

static long long epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add(atomic_ullong *c, unsigned long long n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long long get(atomic_ullong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* ---- the master ------------------------------------------------------------------------- */

int metrics_init(size_t slots, long children, long threads)
{
    size_t bytes = sizeof *sb + slots * sizeof sb->slots[0];
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_error("mmap(scoreboard, %zu bytes): %s", bytes, strerror(errno));
        return -1;
    }
    if (sb) /* a second init (tests): the old mapping goes */
        munmap(sb, sb_bytes);
    sb = p; /* zero-filled: every counter 0, every slot free */
    sb_bytes = bytes;
    sb->master_pid = getpid();
    sb->started_ms = epoch_ms();
    sb->children = children;
    sb->threads = threads;
    sb->n_slots = slots;
    atomic_store(&sb->generation, 1);
    my_slot = -1;
    return 0;
}

void metrics_master_state(enum metrics_master_state s, unsigned generation)
{
    if (!sb)
        return;
    atomic_store(&sb->master_state, (int)s);
    atomic_store(&sb->generation, generation);
}

int metrics_slot_claim(unsigned generation)
{
    for (size_t i = 0; sb && i < sb->n_slots; i++) {
        struct slot *s = &sb->slots[i];
        if (atomic_load(&s->state) != METRICS_CHILD_FREE)
            continue;
        atomic_store(&s->pid, 0);
        atomic_store(&s->generation, generation);
        atomic_store(&s->started_ms, epoch_ms());
        atomic_store(&s->requests, 0);
        atomic_store(&s->threads, 0);
        atomic_store(&s->busy, 0);
        atomic_store(&s->streams, 0);
        atomic_store(&s->state, METRICS_CHILD_STARTING);
        return (int)i;
    }
    return -1;
}

void metrics_slot_forked(int slot, pid_t pid)
{
    if (sb && slot >= 0 && (size_t)slot < sb->n_slots)
        atomic_store(&sb->slots[slot].pid, (int)pid);
}

void metrics_slot_release(int slot)
{
    if (!sb || slot < 0 || (size_t)slot >= sb->n_slots)
        return;
    atomic_store(&sb->slots[slot].pid, 0);
    atomic_store(&sb->slots[slot].state, METRICS_CHILD_FREE);
}

void metrics_respawned(void)
{
    if (sb)
        add(&sb->respawns, 1);
}

/* ---- a child ---------------------------------------------------------------------------- */

static struct slot *mine(void)
{
    return sb && my_slot >= 0 ? &sb->slots[my_slot] : NULL;
}

void metrics_child_attach(int slot)
{
    my_slot = sb && slot >= 0 && (size_t)slot < sb->n_slots ? slot : -1;
    if (mine())
        atomic_store(&mine()->pid, (int)getpid()); /* the master may not have stored it yet */
}

void metrics_child_state(enum metrics_child_state s, unsigned threads)
{
    struct slot *m = mine();
    if (!m)
        return;
    if (threads)
        atomic_store(&m->threads, threads);
    atomic_store(&m->state, (int)s);
}

void metrics_busy(int delta)
{
    struct slot *m = mine();
    if (m)
        atomic_fetch_add_explicit(&m->busy, (unsigned)delta, memory_order_relaxed);
}

void metrics_stream(int delta)
{
    struct slot *m = mine();
    if (m)
        atomic_fetch_add_explicit(&m->streams, (unsigned)delta, memory_order_relaxed);
}

void metrics_stream_refused(void)
{
    if (sb)
        add(&sb->streams_refused, 1);
}

void metrics_set_max_streams(long max_per_child)
{
    max_streams = max_per_child;
}

void metrics_request(enum route route, int status)
{
    if (!sb)
        return;
    int st = N_STATUSES - 1;
    for (int i = 0; i < N_STATUSES - 1; i++)
        if (statuses[i] == status)
            st = i;
    add(&sb->requests[(unsigned)route < N_ENDPOINTS ? route : ROUTE_OTHER][st], 1);
    struct slot *m = mine();
    if (m)
        add(&m->requests, 1);
}

static void observe(struct hist *h, const long long *bounds, size_t n, long long ms)
{
    size_t i = 0;
    if (ms < 0)
        ms = 0;
    while (i < n && ms > bounds[i])
        i++;
    add(&h->bucket[i], 1);
    add(&h->sum_ms, (unsigned long long)ms);
}

void metrics_first_token(enum model model, long long ms)
{
    int m = (unsigned)model < N_MODELS ? (int)model : -1;
    if (sb && m >= 0)
        observe(&sb->ttft[m], ttft_bounds, sizeof ttft_bounds / sizeof ttft_bounds[0], ms);
}

void metrics_tokens(enum model model, const struct token_usage *u)
{
    int m = (unsigned)model < N_MODELS ? (int)model : -1;
    if (!sb || m < 0)
        return;
    const long v[N_KINDS] = {u->input_tokens, u->output_tokens, u->cache_read_tokens,
                             u->cache_write_tokens};
    for (int k = 0; k < N_KINDS; k++)
        if (v[k] > 0)
            add(&sb->tokens[m][k], (unsigned long long)v[k]);
}

void metrics_model_done(enum model model, long long ms, const struct token_usage *u)
{
    int m = (unsigned)model < N_MODELS ? (int)model : -1;
    if (!sb || m < 0)
        return;
    observe(&sb->duration[m], duration_bounds, sizeof duration_bounds / sizeof duration_bounds[0],
            ms);
    metrics_tokens(model, u);
}

void metrics_error(enum metrics_stage stage, const char *code)
{
    int c = index_of(codes, N_CODES, code);
    if (sb)
        add(&sb->errors[stage == METRICS_IN_STREAM][c >= 0 ? c : N_CODES - 1], 1);
}

void metrics_notice(const char *code)
{
    int c = index_of(notices, N_NOTICES, code);
    if (sb)
        add(&sb->notices[c >= 0 ? c : N_NOTICES - 1], 1);
}

void metrics_translation(bool ok)
{
    if (sb)
        add(&sb->translations[ok ? 0 : 1], 1);
}

void metrics_feedback(const char *rating, const char *reason)
{
    int r = index_of(ratings, N_RATINGS, rating), c = index_of(reasons, N_REASONS, reason);
    if (sb && r >= 0)
        add(&sb->feedback[r][c >= 0 ? c : N_REASONS - 1], 1);
}

/* ---- Prometheus text -------------------------------------------------------------------- */

static void family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_hist(struct buf *out, const char *name, struct hist *h, const char *model,
                        const long long *bounds, size_t n)
{
    unsigned long long cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += get(&h->bucket[i]);
        if (i < n)
            buf_printf(out, "%s_bucket{model=\"%s\",le=\"%g\"} %llu\n", name, model,
                       (double)bounds[i] / 1000.0, cum);
        else
            buf_printf(out, "%s_bucket{model=\"%s\",le=\"+Inf\"} %llu\n", name, model, cum);
    }
    buf_printf(out, "%s_sum{model=\"%s\"} %.3f\n%s_count{model=\"%s\"} %llu\n", name, model,
               (double)get(&h->sum_ms) / 1000.0, name, model, cum);
}

/* The children's gauges, summed over the live slots. */
struct totals {
    unsigned children, threads, busy, streams;
};

static struct totals sum_slots(void)
{
    struct totals t = {0};
    for (size_t i = 0; i < sb->n_slots; i++) {
        struct slot *s = &sb->slots[i];
        if (atomic_load(&s->state) == METRICS_CHILD_FREE)
            continue;
        t.children++;
        t.threads += atomic_load(&s->threads);
        t.busy += atomic_load(&s->busy);
        t.streams += atomic_load(&s->streams);
    }
    return t;
}

void metrics_render_prometheus(struct buf *out)
{
    if (!sb)
        return;
    family(out, "nova_http_requests_total", "counter",
           "Requests nova-fcgi answered, by endpoint and status.");
    for (int e = 0; e < N_ENDPOINTS; e++)
        for (int s = 0; s < N_STATUSES; s++) {
            unsigned long long v = get(&sb->requests[e][s]);
            if (!v)
                continue;
            char st[16];
            if (s < N_STATUSES - 1)
                snprintf(st, sizeof st, "%d", statuses[s]);
            else
                snprintf(st, sizeof st, "other");
            buf_printf(out, "nova_http_requests_total{endpoint=\"%s\",status=\"%s\"} %llu\n",
                       routes_name((enum route)e), st, v);
        }
    family(out, "nova_time_to_first_token_seconds", "histogram",
           "From the request reaching nova-fcgi to the first delta of a job, by model.");
    for (int m = 0; m < N_MODELS; m++)
        render_hist(out, "nova_time_to_first_token_seconds", &sb->ttft[m], model_name((enum model)m),
                    ttft_bounds, sizeof ttft_bounds / sizeof ttft_bounds[0]);
    family(out, "nova_stream_duration_seconds", "histogram",
           "From the request reaching nova-fcgi to a job's model_done, by model.");
    for (int m = 0; m < N_MODELS; m++)
        render_hist(out, "nova_stream_duration_seconds", &sb->duration[m], model_name((enum model)m),
                    duration_bounds, sizeof duration_bounds / sizeof duration_bounds[0]);
    family(out, "nova_tokens_total", "counter",
           "Tokens of the answers streamed (model_done usage) and of translations, by model "
           "and kind.");
    for (int m = 0; m < N_MODELS; m++)
        for (int k = 0; k < N_KINDS; k++)
            buf_printf(out, "nova_tokens_total{model=\"%s\",kind=\"%s\"} %llu\n", model_name((enum model)m),
                       kinds[k], get(&sb->tokens[m][k]));
    family(out, "nova_errors_total", "counter",
           "Errors by API.md code: replies before a stream (stage request) and error events "
           "in streams (stage stream).");
    for (int st = 0; st < 2; st++)
        for (int c = 0; c < N_CODES; c++) {
            unsigned long long v = get(&sb->errors[st][c]);
            if (v)
                buf_printf(out, "nova_errors_total{code=\"%s\",stage=\"%s\"} %llu\n", codes[c],
                           stages[st], v);
        }
    family(out, "nova_notices_total", "counter", "Notice events in streams, by code.");
    for (int c = 0; c < N_NOTICES; c++)
        buf_printf(out, "nova_notices_total{code=\"%s\"} %llu\n", notices[c],
                   get(&sb->notices[c]));
    family(out, "nova_translations_total", "counter", "Question translations, by result.");
    buf_printf(out, "nova_translations_total{result=\"ok\"} %llu\n"
                    "nova_translations_total{result=\"failed\"} %llu\n",
               get(&sb->translations[0]), get(&sb->translations[1]));
    family(out, "nova_feedback_total", "counter",
           "Feedback recorded on answers, by rating and reason (every POST; a request rated "
           "again counts again).");
    for (int r = 0; r < N_RATINGS; r++)
        for (int c = 0; c < N_REASONS; c++)
            buf_printf(out, "nova_feedback_total{rating=\"%s\",reason=\"%s\"} %llu\n",
                       ratings[r], reasons[c], get(&sb->feedback[r][c]));
    struct totals t = sum_slots();
    family(out, "nova_streams_open", "gauge", "SSE streams open now, over all children.");
    buf_printf(out, "nova_streams_open %u\n", t.streams);
    family(out, "nova_streams_refused_total", "counter",
           "Chats and resumes refused with 503 because their child held NOVA_MAX_STREAMS.");
    buf_printf(out, "nova_streams_refused_total %llu\n", get(&sb->streams_refused));
    family(out, "nova_fcgi_threads", "gauge", "Request threads of the live children, by state.");
    buf_printf(out, "nova_fcgi_threads{state=\"active\"} %u\n", t.busy);
    buf_printf(out, "nova_fcgi_threads{state=\"idle\"} %u\n",
               t.threads > t.busy ? t.threads - t.busy : 0);
    family(out, "nova_fcgi_children", "gauge", "nova-fcgi children alive now.");
    buf_printf(out, "nova_fcgi_children %u\n", t.children);
    family(out, "nova_fcgi_children_respawned_total", "counter",
           "Children that died unexpectedly and were started again.");
    buf_printf(out, "nova_fcgi_children_respawned_total %llu\n", get(&sb->respawns));
    family(out, "nova_fcgi_start_time_seconds", "gauge", "When the nova-fcgi master started.");
    buf_printf(out, "nova_fcgi_start_time_seconds %.3f\n", (double)sb->started_ms / 1000.0);
}

/* ---- /status ---------------------------------------------------------------------------- */

static const char *master_state_name(int s)
{
    static const char *const n[] = {"running", "reloading", "draining"};
    return s >= 0 && s <= 2 ? n[s] : "unknown";
}

static const char *child_state_name(int s)
{
    static const char *const n[] = {"free", "starting", "running", "draining"};
    return s >= 0 && s <= 3 ? n[s] : "unknown";
}

/* One "key: value" line or one JSON member; first says no comma before it. */
static void kv_num(struct buf *out, bool json, bool *first, const char *key, long long v)
{
    if (json)
        buf_printf(out, "%s\"%s\":%lld", *first ? "" : ",", key, v);
    else
        buf_printf(out, "%s: %lld\n", key, v);
    *first = false;
}

static void kv_str(struct buf *out, bool json, bool *first, const char *key, const char *v)
{
    if (json) /* values are our own names: nothing to escape */
        buf_printf(out, "%s\"%s\":\"%s\"", *first ? "" : ",", key, v);
    else
        buf_printf(out, "%s: %s\n", key, v);
    *first = false;
}

static void render_child(struct buf *out, bool json, size_t i, long long now)
{
    struct slot *s = &sb->slots[i];
    bool first = true;
    unsigned threads = atomic_load(&s->threads), busy = atomic_load(&s->busy);
    long long started = atomic_load(&s->started_ms);
    kv_num(out, json, &first, "pid", atomic_load(&s->pid));
    kv_num(out, json, &first, "slot", (long long)i);
    kv_num(out, json, &first, "generation", atomic_load(&s->generation));
    kv_str(out, json, &first, "state", child_state_name(atomic_load(&s->state)));
    kv_num(out, json, &first, "start_time", started / 1000);
    kv_num(out, json, &first, "start_since", (now - started) / 1000);
    kv_num(out, json, &first, "requests", (long long)get(&s->requests));
    kv_num(out, json, &first, "active_threads", busy);
    kv_num(out, json, &first, "idle_threads", threads > busy ? threads - busy : 0);
    kv_num(out, json, &first, "total_threads", threads);
    kv_num(out, json, &first, "open_streams", atomic_load(&s->streams));
}

void metrics_render_status(struct buf *out, bool json, bool full)
{
    if (!sb)
        return;
    long long now = epoch_ms();
    struct totals t = sum_slots();
    unsigned long long accepted = 0;
    for (int e = 0; e < N_ENDPOINTS; e++)
        for (int s = 0; s < N_STATUSES; s++)
            accepted += get(&sb->requests[e][s]);
    bool first = true;
    if (json)
        buf_putc(out, '{');
    kv_str(out, json, &first, "pool", "nova-fcgi");
    kv_str(out, json, &first, "process_manager", "static");
    kv_num(out, json, &first, "master_pid", sb->master_pid);
    kv_str(out, json, &first, "state", master_state_name(atomic_load(&sb->master_state)));
    kv_num(out, json, &first, "generation", atomic_load(&sb->generation));
    kv_num(out, json, &first, "start_time", sb->started_ms / 1000);
    kv_num(out, json, &first, "start_since", (now - sb->started_ms) / 1000);
    kv_num(out, json, &first, "accepted_conn", (long long)accepted);
    kv_num(out, json, &first, "active_threads", t.busy);
    kv_num(out, json, &first, "idle_threads", t.threads > t.busy ? t.threads - t.busy : 0);
    kv_num(out, json, &first, "total_threads", t.threads);
    kv_num(out, json, &first, "open_streams", t.streams);
    kv_num(out, json, &first, "max_streams_per_child", max_streams);
    kv_num(out, json, &first, "streams_refused", (long long)get(&sb->streams_refused));
    kv_num(out, json, &first, "children", t.children);
    kv_num(out, json, &first, "max_children", sb->children);
    kv_num(out, json, &first, "threads_per_child", sb->threads);
    kv_num(out, json, &first, "children_respawned", (long long)get(&sb->respawns));
    if (full) {
        if (json)
            buf_puts(out, ",\"processes\":[");
        bool first_child = true;
        for (size_t i = 0; i < sb->n_slots; i++) {
            if (atomic_load(&sb->slots[i].state) == METRICS_CHILD_FREE)
                continue;
            if (json)
                buf_puts(out, first_child ? "{" : ",{");
            else
                buf_puts(out, "\n************************\n");
            render_child(out, json, i, now);
            if (json)
                buf_putc(out, '}');
            first_child = false;
        }
        if (json)
            buf_putc(out, ']');
    }
    if (json)
        buf_puts(out, "}\n");
}
