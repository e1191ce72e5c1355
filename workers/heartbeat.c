/* heartbeat: this worker's liveness and counters in Redis, for /api/health and /api/metrics.
 *
 * nova:worker:<id> is a hash (queue, host, pid, in_flight, started_ms, beat_ms and the monotonic
 * counters of struct worker) that expires WORKER_BEAT_TTL_MS after its last write, and
 * nova:workers:{queue} a sorted set of <beat ms> <id> from which entries older than
 * WORKER_STALE_MS are dropped on each beat. The reader writes it every WORKER_BEAT_MS on its
 * pooled connection; main removes both at a clean exit. */
#include "heartbeat.h"

#include <stdio.h>

#include "core/clock.h"
#include "core/log.h"

int heartbeat_write(struct worker *w)
{
    char err[256];
    redisContext *c = rpool_get(w->pool, WORKER_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        log_debug("heartbeat: %s", err);
        return -1;
    }
    long long now = clock_epoch_ms();
    pthread_mutex_lock(&w->mu);
    size_t in_flight = w->in_flight;
    pthread_mutex_unlock(&w->mu);
    /* The counters are monotonic totals of this worker's life: /api/metrics reads them as
     * nova_worker_* series labelled with the worker and its queue (README, Operations). */
    const struct {
        const char *name;
        atomic_ulong *v;
    } counters[] = {
        {"jobs_done", &w->jobs_done},           {"jobs_failed", &w->jobs_failed},
        {"jobs_canceled", &w->jobs_canceled},   {"jobs_dead", &w->jobs_dead},
        {"jobs_expired", &w->jobs_expired},     {"jobs_retried", &w->jobs_retried},
        {"jobs_reclaimed", &w->jobs_reclaimed}, {"jobs_lost", &w->jobs_lost},
        {"events", &w->events},                 {"events_dropped", &w->events_dropped},
        {"writes_refused", &w->writes_refused}, {"writes_deferred", &w->writes_deferred},
        {"events_resent", &w->events_resent},   {"jobs_refused", &w->jobs_refused},
        {"tokens_input", &w->tokens_input},     {"tokens_output", &w->tokens_output},
        {"tokens_cache_read", &w->tokens_cache_read},
        {"tokens_cache_write", &w->tokens_cache_write},
        {"jobs_no_prompt", &w->jobs_no_prompt}, {"prompts_fetched", &w->prompts_fetched},
    };
    enum { N_COUNTERS = sizeof counters / sizeof counters[0], N_FIXED = 14 };
    char nums[N_COUNTERS][24], pid[24], inf[24], started[24], beat[24], stale[32];
    snprintf(pid, sizeof pid, "%d", (int)w->pid);
    snprintf(inf, sizeof inf, "%zu", in_flight);
    snprintf(started, sizeof started, "%lld", w->started_ms);
    snprintf(beat, sizeof beat, "%lld", now);
    snprintf(stale, sizeof stale, "(%lld", now - WORKER_STALE_MS);
    const char *hset[N_FIXED + 2 * N_COUNTERS] = {
        "HSET",    w->worker_key, "queue",      queue_name(w->queue), "host",    w->host, "pid",
        pid,       "in_flight",   inf,          "started_ms", started, "beat_ms", beat};
    for (size_t i = 0; i < N_COUNTERS; i++) {
        snprintf(nums[i], sizeof nums[i], "%lu", atomic_load(counters[i].v));
        hset[N_FIXED + 2 * i] = counters[i].name;
        hset[N_FIXED + 2 * i + 1] = nums[i];
    }
    redisAppendCommandArgv(c, N_FIXED + 2 * N_COUNTERS, hset, NULL);
    redisAppendCommand(c, "PEXPIRE %s %d", w->worker_key, WORKER_BEAT_TTL_MS);
    redisAppendCommand(c, "ZADD %s %s %s", w->workers_key, beat, w->id);
    redisAppendCommand(c, "ZREMRANGEBYSCORE %s -inf %s", w->workers_key, stale);
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            log_warn("heartbeat: %s", c->errstr);
            rc = -1;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            log_warn("heartbeat: %s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    rpool_put(w->pool, c, c->err != 0);
    return rc;
}

void heartbeat_remove(struct worker *w)
{
    char err[256];
    redisContext *c = rpool_get(w->pool, WORKER_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        log_warn("could not remove the heartbeat: %s (it expires in %d s)", err,
                 WORKER_BEAT_TTL_MS / 1000);
        return;
    }
    redisAppendCommand(c, "DEL %s", w->worker_key);
    redisAppendCommand(c, "ZREM %s %s", w->workers_key, w->id);
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            break;
        freeReplyObject(r);
    }
    rpool_put(w->pool, c, c->err != 0);
}
