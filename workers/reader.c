/* reader: the thread that takes jobs off nova:jobs:{queue} and keeps the heartbeat.
 *
 * It owns one blocking connection for XREADGROUP ... BLOCK, asks only for as many jobs as the
 * engine has room for (NOVA_WORKER_MAX_JOBS), and checks each before handing it over: a job
 * that does not parse goes to nova:dead:{queue} and is acknowledged (a poison message must not
 * come back forever); a job past its deadline or with a cancel marker is answered with an
 * error event and acknowledged without ever reaching Bedrock. Its other commands (marker
 * checks, dead letters, heartbeats) go through the shared pool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "worker.h"

#define READ_COUNT_MAX 64 /* jobs per XREADGROUP, at most */

/* ---- the heartbeat ---------------------------------------------------------------------- */

int heartbeat_write(struct worker *w)
{
    char err[256];
    redisContext *c = rpool_get(w->pool, WORKER_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        log_debug("heartbeat: %s", err);
        return -1;
    }
    long long now = worker_epoch_ms();
    pthread_mutex_lock(&w->mu);
    size_t in_flight = w->in_flight;
    pthread_mutex_unlock(&w->mu);
    char pid[24], inf[24], started[24], beat[24], done[24], failed[24], canceled[24], dead[24];
    char stale[32];
    snprintf(pid, sizeof pid, "%d", (int)w->pid);
    snprintf(inf, sizeof inf, "%zu", in_flight);
    snprintf(started, sizeof started, "%lld", w->started_ms);
    snprintf(beat, sizeof beat, "%lld", now);
    snprintf(done, sizeof done, "%lu", atomic_load(&w->jobs_done));
    snprintf(failed, sizeof failed, "%lu", atomic_load(&w->jobs_failed));
    snprintf(canceled, sizeof canceled, "%lu", atomic_load(&w->jobs_canceled));
    snprintf(dead, sizeof dead, "%lu", atomic_load(&w->jobs_dead));
    snprintf(stale, sizeof stale, "(%lld", now - WORKER_STALE_MS);
    const char *hset[] = {"HSET", w->worker_key, "queue", w->queue, "host", w->host,
                          "pid", pid, "in_flight", inf, "started_ms", started,
                          "beat_ms", beat, "jobs_done", done, "jobs_failed", failed,
                          "jobs_canceled", canceled, "jobs_dead", dead};
    enum { N_HSET = sizeof hset / sizeof hset[0] };
    redisAppendCommandArgv(c, N_HSET, hset, NULL);
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

/* ---- the group -------------------------------------------------------------------------- */

/* XGROUP CREATE ... 0 MKSTREAM; an existing group is fine. From 0, not $: jobs queued before
 * the first worker ever started are served too (stale ones fail their deadline check). */
static int group_ensure(struct worker *w, redisContext *c)
{
    redisReply *r = redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM", w->jobs_key, KEYS_GROUP);
    if (!r) {
        log_warn("XGROUP CREATE %s: %s", w->jobs_key, c->errstr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        log_error("XGROUP CREATE %s: %s", w->jobs_key, r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* ---- one batch of jobs ------------------------------------------------------------------ */

enum verdict { V_RUN, V_DEAD, V_EXPIRED, V_CANCELED };

struct candidate {
    struct worker_job *wj;          /* NULL for a dead letter */
    const redisReply *entry_id;
    const redisReply *raw;          /* the "job" field value, NULL when missing */
    enum verdict v;
    char reason[256];
};

/* The value of field name in an entry's [f1, v1, f2, v2, ...] array, or NULL. */
static const redisReply *entry_field(const redisReply *fields, const char *name)
{
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i], *v = fields->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, name) == 0 &&
            v->type == REDIS_REPLY_STRING)
            return v;
    }
    return NULL;
}

static void judge(struct worker *w, const redisReply *entry, struct candidate *cd,
                  long long now)
{
    memset(cd, 0, sizeof *cd);
    cd->v = V_DEAD;
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(cd->reason, sizeof cd->reason, "malformed stream entry");
        return;
    }
    cd->entry_id = entry->element[0];
    cd->raw = entry_field(entry->element[1], "job");
    if (!cd->raw) {
        snprintf(cd->reason, sizeof cd->reason, "no \"job\" field");
        return;
    }
    struct worker_job *wj = xcalloc(1, sizeof *wj);
    char err[200];
    if (job_from_json(cd->raw->str, cd->raw->len, &wj->job, err, sizeof err) < 0) {
        snprintf(cd->reason, sizeof cd->reason, "bad job: %s", err);
        free(wj);
        return;
    }
    if (strcmp(wj->job.queue, w->queue) != 0) {
        snprintf(cd->reason, sizeof cd->reason, "job for queue \"%s\" on queue \"%s\"",
                 wj->job.queue, w->queue);
        job_free(&wj->job);
        free(wj);
        return;
    }
    snprintf(wj->entry_id, sizeof wj->entry_id, "%s", cd->entry_id->str);
    key_log(wj->log_key, sizeof wj->log_key, wj->job.request);
    key_out(wj->channel, sizeof wj->channel, wj->job.id);
    wj->w = w;
    cd->wj = wj;
    cd->v = wj->job.deadline_ms < now ? V_EXPIRED : V_RUN;
}

static void dead_letter(struct worker *w, redisContext *c, const struct candidate *cd)
{
    const char *id = cd->entry_id ? cd->entry_id->str : "?";
    log_warn("dead letter %s: %s", id, cd->reason);
    char maxlen[16];
    snprintf(maxlen, sizeof maxlen, "%d", WORKER_DEAD_MAXLEN);
    const char *argv[] = {"XADD", w->dead_key, "MAXLEN", "~", maxlen, "*", "reason",
                          cd->reason, "entry", id, "worker", w->id, "job",
                          cd->raw ? cd->raw->str : ""};
    size_t lens[14];
    for (int i = 0; i < 14; i++)
        lens[i] = strlen(argv[i]);
    lens[13] = cd->raw ? cd->raw->len : 0; /* binary-safe: whatever was there */
    redisReply *r = redisCommandArgv(c, 14, argv, lens);
    if (r)
        freeReplyObject(r);
    atomic_fetch_add(&w->jobs_dead, 1);
}

/* Answers a job that never starts (expired, canceled) so nobody waits for it. */
static void answer_unstarted(struct worker *w, redisContext *c, const struct worker_job *wj,
                             const char *code, const char *message)
{
    struct buf data;
    buf_init(&data, 4096);
    event_error_json(&data, wj->job.phase, wj->job.model, code, message, false);
    char id[EVENT_ID_MAX], err[256];
    if (event_append(c, wj->log_key, wj->channel, "error", data.data, data.len,
                     w->cfg->log_ttl_s * 1000, id, sizeof id, err, sizeof err) < 0)
        log_warn("job %s: %s", wj->job.id, err);
    else
        log_info("job %s: %s (%s)", wj->job.id, code, message);
    buf_free(&data);
}

static void ack(struct worker *w, redisContext *c, const char *entry_id)
{
    redisReply *r = redisCommand(c, "XACK %s %s %s", w->jobs_key, KEYS_GROUP, entry_id);
    if (r)
        freeReplyObject(r);
}

/* Checks, answers and hands over one XREADGROUP reply's entries. */
static void handle_entries(struct worker *w, const redisReply *entries)
{
    size_t n = entries->elements;
    struct candidate *cds = xcalloc(n ? n : 1, sizeof *cds);
    long long now = worker_epoch_ms();
    for (size_t i = 0; i < n; i++)
        judge(w, entries->element[i], &cds[i], now);

    char err[256];
    redisContext *c = rpool_get(w->pool, WORKER_REDIS_TIMEOUT_MS, err, sizeof err);
    if (c) {
        /* One round trip for the cancel markers of the whole batch. */
        size_t asked = 0;
        char key[KEY_MAX];
        for (size_t i = 0; i < n; i++)
            if (cds[i].v == V_RUN) {
                key_canceled(key, sizeof key, cds[i].wj->job.id);
                redisAppendCommand(c, "EXISTS %s", key);
                asked++;
            }
        for (size_t i = 0; i < n && asked > 0; i++) {
            if (cds[i].v != V_RUN)
                continue;
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
                break; /* unknown: run the job; a cancel can still stop it */
            asked--;
            if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
                cds[i].v = V_CANCELED;
            freeReplyObject(r);
        }
        for (size_t i = 0; i < n && !c->err; i++) {
            struct candidate *cd = &cds[i];
            if (cd->v == V_DEAD)
                dead_letter(w, c, cd);
            else if (cd->v == V_EXPIRED)
                answer_unstarted(w, c, cd->wj, "timeout", "the job's deadline passed before "
                                                          "a worker took it");
            else if (cd->v == V_CANCELED)
                answer_unstarted(w, c, cd->wj, "canceled", "canceled before it started");
            if (cd->v != V_RUN && cd->entry_id)
                ack(w, c, cd->entry_id->str);
            if (cd->v == V_EXPIRED)
                atomic_fetch_add(&w->jobs_expired, 1);
            else if (cd->v == V_CANCELED)
                atomic_fetch_add(&w->jobs_canceled, 1);
        }
        rpool_put(w->pool, c, c->err != 0);
    } else {
        /* Left pending: after the reclaim issue another worker picks them up. */
        log_warn("%s; jobs that need an answer stay pending", err);
    }

    size_t handed = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        struct worker_job *wj = cds[i].wj;
        if (!wj)
            continue;
        if (cds[i].v != V_RUN) {
            job_free(&wj->job);
            free(wj);
            continue;
        }
        wj->next = NULL;
        if (w->inbox_tail)
            w->inbox_tail->next = wj;
        else
            w->inbox = wj;
        w->inbox_tail = wj;
        w->in_flight++;
        handed++;
    }
    pthread_mutex_unlock(&w->mu);
    if (handed)
        bedrock_client_wakeup(w->client);
    free(cds);
}

/* ---- the loop --------------------------------------------------------------------------- */

/* Waits on w->cv until ms pass or the state changes; returns with w->mu held. */
static void wait_locked(struct worker *w, long ms)
{
    struct timespec until;
    worker_deadline(&until, ms);
    pthread_cond_timedwait(&w->cv, &w->mu, &until);
}

static void reader_disconnect(struct worker *w, redisContext **rc)
{
    pthread_mutex_lock(&w->mu);
    w->reader_fd = -1; /* main's shutdown() kick must not hit a reused descriptor */
    pthread_mutex_unlock(&w->mu);
    redisFree(*rc);
    *rc = NULL;
}

void *reader_main(void *arg)
{
    struct worker *w = arg;
    redisContext *rc = NULL;
    bool group_ok = false, ready = false, down_logged = false;
    long backoff = WORKER_BACKOFF_MIN_MS;
    double next_beat = 0;
    char err[256];
    pthread_mutex_lock(&w->mu);
    while (!w->exiting) {
        pthread_mutex_unlock(&w->mu);
        if (!rc) {
            rc = rconn_connect(&w->addr, WORKER_READ_BLOCK_MS + 2000, err, sizeof err);
            if (rc) {
                pthread_mutex_lock(&w->mu);
                w->reader_fd = rc->fd;
                pthread_mutex_unlock(&w->mu);
            }
        }
        if (rc && !group_ok)
            group_ok = group_ensure(w, rc) == 0;
        if (!rc || !group_ok) {
            if (!down_logged)
                log_warn("job queue %s unreachable: %s; retrying", w->jobs_key,
                         rc ? "XGROUP CREATE failed" : err);
            down_logged = true;
            if (rc)
                reader_disconnect(w, &rc);
            pthread_mutex_lock(&w->mu);
            wait_locked(w, backoff);
            backoff = worker_backoff_next(backoff);
            continue;
        }
        if (down_logged)
            log_info("job queue %s reachable again", w->jobs_key);
        down_logged = false;
        backoff = WORKER_BACKOFF_MIN_MS;

        pthread_mutex_lock(&w->mu);
        if (!ready) {
            /* "ready" means jobs are read and cancels heard: wait for the subscription. */
            while (!w->subscribed && !w->exiting)
                wait_locked(w, 1000);
            if (w->exiting)
                continue;
            ready = true;
            pthread_mutex_unlock(&w->mu);
            log_info("ready: queue %s, group %s, consumer %s, max_jobs %ld", w->jobs_key,
                     KEYS_GROUP, w->id, w->cfg->worker_max_jobs);
            pthread_mutex_lock(&w->mu);
        }
        if (worker_now_ms() >= next_beat) {
            pthread_mutex_unlock(&w->mu);
            heartbeat_write(w);
            next_beat = worker_now_ms() + WORKER_BEAT_MS;
            pthread_mutex_lock(&w->mu);
        }
        size_t max = (size_t)w->cfg->worker_max_jobs;
        if (w->exiting || w->stopping || w->in_flight >= max) {
            /* Nothing to read: sleep until a job ends, a stop, or the next beat. */
            long ms = (long)(next_beat - worker_now_ms());
            if (!w->exiting)
                wait_locked(w, ms > 1 ? ms : 1);
            continue;
        }
        size_t room = max - w->in_flight;
        pthread_mutex_unlock(&w->mu);

        int count = room < READ_COUNT_MAX ? (int)room : READ_COUNT_MAX;
        redisReply *r = redisCommand(rc, "XREADGROUP GROUP %s %s COUNT %d BLOCK %d STREAMS %s >",
                                     KEYS_GROUP, w->id, count, WORKER_READ_BLOCK_MS, w->jobs_key);
        pthread_mutex_lock(&w->mu);
        bool stop = w->stopping || w->exiting;
        pthread_mutex_unlock(&w->mu);
        if (!r) {
            if (!stop)
                log_warn("XREADGROUP %s: %s", w->jobs_key, rc->errstr);
            reader_disconnect(w, &rc);
            group_ok = false;
            pthread_mutex_lock(&w->mu);
            continue;
        }
        bool refused = r->type == REDIS_REPLY_ERROR;
        if (refused) {
            /* NOGROUP: the stream or group was deleted (a Redis restart without data); other
             * refusals (OOM, BUSY) must not turn this loop into a spin: back off. */
            log_warn("XREADGROUP %s: %s", w->jobs_key, r->str);
            group_ok = false;
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && !stop) {
            const redisReply *stream = r->element[0];
            if (stream->type == REDIS_REPLY_ARRAY && stream->elements == 2 &&
                stream->element[1]->type == REDIS_REPLY_ARRAY)
                handle_entries(w, stream->element[1]);
        } else if (r->type == REDIS_REPLY_ARRAY && stop) {
            /* Read while stopping: left pending for another worker ("handed back"). */
            log_info("stopping: jobs read at the last moment stay pending");
        }
        freeReplyObject(r);
        pthread_mutex_lock(&w->mu);
        if (refused && !w->exiting) {
            wait_locked(w, backoff);
            backoff = worker_backoff_next(backoff);
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (rc)
        reader_disconnect(w, &rc);
    return NULL;
}
