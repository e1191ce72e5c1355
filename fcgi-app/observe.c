/* observe: GET /api/metrics and GET /status (see observe.h). */
#include "observe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "core/log.h"
#include "metrics.h"
#include "redis/contract.h"

#define OBSERVE_OUT_MAX (8u << 20) /* a page of metrics; thousands of workers fit */
#define OBSERVE_MAX_WORKERS 4096   /* heartbeats read per scrape, at most */

enum { N_QUEUES = QUEUE_COUNT };

/* The heartbeat counters of nova:worker:<id> (workers/reader.c), each a monotonic total. */
static const char *const wfields[] = {
    "jobs_done",      "jobs_failed",   "jobs_canceled", "jobs_expired",      "jobs_dead",
    "jobs_retried",   "jobs_reclaimed", "jobs_lost",    "events",            "events_dropped",
    "writes_refused", "tokens_input",  "tokens_output", "tokens_cache_read", "tokens_cache_write",
    "in_flight",      "started_ms",    "beat_ms",       "jobs_no_prompt",    "prompts_fetched",
    "writes_deferred", "events_resent", "jobs_refused"};
enum {
    W_DONE, W_FAILED, W_CANCELED, W_EXPIRED, W_DEAD, W_RETRIED, W_RECLAIMED, W_LOST, W_EVENTS,
    W_DROPPED, W_REFUSED, W_TOK_IN, W_TOK_OUT, W_TOK_CR, W_TOK_CW, W_IN_FLIGHT, W_STARTED,
    W_BEAT, W_NO_PROMPT, W_FETCHED, W_DEFERRED, W_RESENT, W_JOBS_REFUSED, N_WFIELDS
};
_Static_assert(sizeof wfields / sizeof wfields[0] == N_WFIELDS, "one name per field");

enum { Q_DEPTH, Q_PENDING, Q_DEAD, Q_WORKERS, N_QFIELDS };
struct qstat {
    long long v[N_QFIELDS];
};

struct wstat {
    char id[128];
    const char *queue; /* static (queue_name) */
    unsigned long long v[N_WFIELDS];
};

/* ---- replies ---------------------------------------------------------------------------- */

/* True when the query string has the word name (alone or as name=...), as php-fpm's
 * status page reads ?json&full. */
static bool query_flag(const char *q, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = q; *p;) {
        size_t len = strcspn(p, "&");
        size_t key = strcspn(p, "=&");
        if (key == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (p[len] == '&');
    }
    return false;
}

static void observe_status(struct req *rq)
{
    bool json = query_flag(rq->query, "json"), full = query_flag(rq->query, "full");
    struct buf out;
    buf_init(&out, OBSERVE_OUT_MAX);
    metrics_render_status(&out, json, full);
    reply_body(rq, 200, json ? "application/json" : "text/plain; charset=utf-8", out.data,
               out.len);
    buf_free(&out);
}

/* ---- what Redis knows ------------------------------------------------------------------- */

/* The value after name in a flat field/value reply array, or NULL. */
static const redisReply *field(const redisReply *a, const char *name)
{
    for (size_t i = 0; a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2)
        if (a->element[i]->type == REDIS_REPLY_STRING && strcmp(a->element[i]->str, name) == 0)
            return a->element[i + 1];
    return NULL;
}

static long long int_of(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

/* Reads one queue's replies (XLEN, XINFO GROUPS, XLEN dead, ZRANGEBYSCORE) and appends its
 * live worker ids to ids. Returns -1 when the connection failed. */
static int read_queue(redisContext *c, struct qstat *q, const char *queue, struct wstat *ws,
                      size_t *n_ws)
{
    redisReply *r[4] = {NULL};
    for (int i = 0; i < 4; i++)
        if (redisGetReply(c, (void **)&r[i]) != REDIS_OK) {
            for (int k = 0; k < i; k++)
                freeReplyObject(r[k]);
            return -1;
        }
    /* No group yet (no worker ever read the queue): every entry waits. */
    q->v[Q_DEPTH] = int_of(r[0]);
    for (size_t i = 0; r[1]->type == REDIS_REPLY_ARRAY && i < r[1]->elements; i++) {
        const redisReply *g = r[1]->element[i], *name = field(g, "name");
        if (!name || name->type != REDIS_REPLY_STRING || strcmp(name->str, KEYS_GROUP) != 0)
            continue;
        /* lag is nil when Redis cannot tell: pending alone is the floor (store.c does so). */
        q->v[Q_PENDING] = int_of(field(g, "pending"));
        q->v[Q_DEPTH] = q->v[Q_PENDING] + int_of(field(g, "lag"));
    }
    q->v[Q_DEAD] = int_of(r[2]);
    for (size_t i = 0; r[3]->type == REDIS_REPLY_ARRAY && i < r[3]->elements; i++) {
        const redisReply *id = r[3]->element[i];
        if (id->type != REDIS_REPLY_STRING || (size_t)id->len >= sizeof ws->id)
            continue;
        q->v[Q_WORKERS]++;
        if (*n_ws == OBSERVE_MAX_WORKERS)
            continue;
        struct wstat *w = &ws[(*n_ws)++];
        memset(w, 0, sizeof *w);
        memcpy(w->id, id->str, (size_t)id->len + 1);
        w->queue = queue;
    }
    for (int i = 0; i < 4; i++)
        freeReplyObject(r[i]);
    return 0;
}

/* Queue gauges and the live workers' heartbeats: two pipelined round trips. */
static int read_redis(redisContext *c, struct qstat *qs, struct wstat *ws, size_t *n_ws)
{
    char key[KEY_MAX], since[32];
    snprintf(since, sizeof since, "%lld", clock_epoch_ms() - CONTRACT_WORKER_LIVE_MS);
    for (size_t i = 0; i < N_QUEUES; i++) {
        key_jobs(key, sizeof key, (enum queue)i);
        redisAppendCommand(c, "XLEN %s", key);
        redisAppendCommand(c, "XINFO GROUPS %s", key);
        key_dead(key, sizeof key, (enum queue)i);
        redisAppendCommand(c, "XLEN %s", key);
        key_workers(key, sizeof key, (enum queue)i);
        redisAppendCommand(c, "ZRANGEBYSCORE %s %s +inf", key, since);
    }
    for (size_t i = 0; i < N_QUEUES; i++)
        if (read_queue(c, &qs[i], queue_name((enum queue)i), ws, n_ws) < 0)
            return -1;
    for (size_t i = 0; i < *n_ws; i++) {
        key_worker(key, sizeof key, ws[i].id);
        redisAppendCommand(c, "HGETALL %s", key);
    }
    for (size_t i = 0; i < *n_ws; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            return -1;
        for (size_t f = 0; f < N_WFIELDS; f++) {
            const redisReply *v = field(r, wfields[f]);
            ws[i].v[f] = v && v->type == REDIS_REPLY_STRING ? strtoull(v->str, NULL, 10) : 0;
        }
        freeReplyObject(r);
    }
    return 0;
}

/* ---- Prometheus text of the Redis part -------------------------------------------------- */

static void help(struct buf *out, const char *name, const char *type, const char *text)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void queue_gauge(struct buf *out, const char *name, const char *text,
                        const struct qstat *qs, int f)
{
    help(out, name, "gauge", text);
    for (size_t i = 0; i < N_QUEUES; i++)
        buf_printf(out, "%s{queue=\"%s\"} %lld\n", name, queue_name((enum queue)i), qs[i].v[f]);
}

/* One family over every worker; extra is a label pair ("outcome=\"done\"") or NULL. Worker ids
 * are [A-Za-z0-9_.:-] (job_id_valid): nothing in them needs escaping in a label. */
static void worker_series(struct buf *out, const char *name, const struct wstat *ws, size_t n,
                          int f, const char *extra, double scale)
{
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "%s{queue=\"%s\",worker=\"%s\"%s%s} ", name, ws[i].queue, ws[i].id,
                   extra ? "," : "", extra ? extra : "");
        if (scale == 1)
            buf_printf(out, "%llu\n", ws[i].v[f]);
        else
            buf_printf(out, "%.3f\n", (double)ws[i].v[f] * scale);
    }
}

static void render_workers(struct buf *out, const struct wstat *ws, size_t n)
{
    static const struct {
        const char *outcome;
        int f;
    } outcomes[] = {{"done", W_DONE}, {"failed", W_FAILED}, {"canceled", W_CANCELED},
                    {"expired", W_EXPIRED}};
    help(out, "nova_worker_jobs_total", "counter",
         "Jobs a live worker ended, by outcome (its heartbeat's jobs_* counters).");
    for (size_t k = 0; k < sizeof outcomes / sizeof outcomes[0]; k++) {
        char label[48];
        snprintf(label, sizeof label, "outcome=\"%s\"", outcomes[k].outcome);
        worker_series(out, "nova_worker_jobs_total", ws, n, outcomes[k].f, label, 1);
    }
    static const struct {
        const char *name, *text;
        int f;
    } counters[] = {
        {"nova_worker_dead_letters_total", "Jobs a worker wrote to nova:dead:{queue}.", W_DEAD},
        {"nova_worker_retries_total", "Calls started again after a retryable error.",
         W_RETRIED},
        {"nova_worker_jobs_reclaimed_total", "Jobs taken over from a worker that stopped.",
         W_RECLAIMED},
        {"nova_worker_jobs_lost_total", "Reclaimed jobs whose text was partly shown: answered "
                                        "worker_lost.", W_LOST},
        {"nova_worker_events_total", "Events a worker published.", W_EVENTS},
        {"nova_worker_events_dropped_total", "Events dropped while Redis was unreachable.",
         W_DROPPED},
        {"nova_worker_writes_refused_total", "Writes Redis answered with an error.", W_REFUSED},
        {"nova_worker_writes_deferred_total", "Batches of writes Redis refused for now (OOM, "
                                              "READONLY): kept and sent again.", W_DEFERRED},
        {"nova_worker_events_resent_total", "Events sent again that Redis had already "
                                            "appended (not appended twice).", W_RESENT},
        {"nova_worker_jobs_refused_total", "Jobs given up because Redis refused their writes "
                                           "too long: error unavailable.", W_JOBS_REFUSED},
        {"nova_worker_jobs_no_prompt_total", "Jobs failed because the system prompt they name "
                                             "was not in Redis.", W_NO_PROMPT},
        {"nova_worker_prompts_fetched_total", "System prompts read from Redis into a worker's "
                                              "cache.", W_FETCHED},
    };
    for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++) {
        help(out, counters[k].name, "counter", counters[k].text);
        worker_series(out, counters[k].name, ws, n, counters[k].f, NULL, 1);
    }
    help(out, "nova_worker_tokens_total", "counter",
         "Tokens of every call a worker ended well, as Bedrock reported them, by kind.");
    worker_series(out, "nova_worker_tokens_total", ws, n, W_TOK_IN, "kind=\"input\"", 1);
    worker_series(out, "nova_worker_tokens_total", ws, n, W_TOK_OUT, "kind=\"output\"", 1);
    worker_series(out, "nova_worker_tokens_total", ws, n, W_TOK_CR, "kind=\"cache_read\"", 1);
    worker_series(out, "nova_worker_tokens_total", ws, n, W_TOK_CW, "kind=\"cache_write\"", 1);
    help(out, "nova_worker_jobs_in_flight", "gauge", "Jobs a worker runs now (last heartbeat).");
    worker_series(out, "nova_worker_jobs_in_flight", ws, n, W_IN_FLIGHT, NULL, 1);
    help(out, "nova_worker_start_time_seconds", "gauge", "When the worker started.");
    worker_series(out, "nova_worker_start_time_seconds", ws, n, W_STARTED, NULL, 0.001);
    help(out, "nova_worker_heartbeat_time_seconds", "gauge", "The worker's last heartbeat.");
    worker_series(out, "nova_worker_heartbeat_time_seconds", ws, n, W_BEAT, NULL, 0.001);
}

static void observe_metrics(struct req *rq)
{
    struct buf out;
    buf_init(&out, OBSERVE_OUT_MAX);
    metrics_render_prometheus(&out);
    struct qstat qs[N_QUEUES];
    memset(qs, 0, sizeof qs);
    struct wstat *ws = calloc(OBSERVE_MAX_WORKERS, sizeof *ws);
    size_t n_ws = 0;
    char err[256];
    redisContext *c = ws ? app_redis(rq->app, err, sizeof err) : NULL;
    int rc = c ? read_redis(c, qs, ws, &n_ws) : -1;
    if (c && rc < 0)
        snprintf(err, sizeof err, "%s", c->errstr[0] ? c->errstr : "unreadable reply");
    app_redis_put(rq->app, c);
    if (rc < 0)
        log_rid(LOG_WARN, rq->id, "metrics without Redis: %s", ws ? err : "out of memory");
    help(&out, "nova_redis_up", "gauge", "1 when Redis answered this scrape.");
    buf_printf(&out, "nova_redis_up %d\n", rc == 0);
    if (rc == 0) {
        queue_gauge(&out, "nova_queue_depth",
                    "Jobs waiting or running: XINFO GROUPS lag + pending (what "
                    "NOVA_MAX_QUEUE_DEPTH bounds).",
                    qs, Q_DEPTH);
        queue_gauge(&out, "nova_queue_pending",
                    "Jobs delivered to a worker and not yet acknowledged.", qs,
                    Q_PENDING);
        queue_gauge(&out, "nova_queue_dead_letters", "Entries in nova:dead:{queue}.", qs,
                    Q_DEAD);
        queue_gauge(&out, "nova_queue_workers", "Workers whose heartbeat is under 15 s old.",
                    qs, Q_WORKERS);
        render_workers(&out, ws, n_ws);
    }
    free(ws);
    reply_body(rq, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    buf_free(&out);
}

void observe_get(struct req *rq)
{
    if (strcmp(rq->path, "/status") == 0)
        observe_status(rq);
    else
        observe_metrics(rq);
}
