/* reader: the thread that takes jobs off nova:jobs:{queue} and runs the worker's timers.
 *
 * It owns one blocking connection for XREADGROUP ... BLOCK, asks only for as many jobs as the
 * engine has room for (NOVA_WORKER_MAX_JOBS), and checks each before handing it over: a job
 * that does not parse goes to nova:dead:{queue} and is acknowledged (a poison message must not
 * come back forever); a job past its deadline or with a cancel marker is answered with an
 * error event and acknowledged without ever reaching Bedrock. On its timers it also writes the
 * heartbeat, refreshes its claim on the jobs in flight and reclaims dead workers' jobs
 * (claims.c); reclaimed jobs go through the same checks plus their progress marker and
 * delivery count (worker.h). Its other commands go through the shared pool. */
#include "reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/utf8.h"
#include "dead_letter.h"
#include "heartbeat.h"
#include "redis/events.h"
#include "retire.h"
#include "worker.h"
#include "worker_job.h"

#define READ_COUNT_MAX 64 /* jobs per XREADGROUP, at most */

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

enum verdict {
    V_RUN,
    V_DEAD,        /* unreadable: a dead letter */
    V_EXPIRED,     /* past its deadline: "timeout" */
    V_CANCELED,    /* cancel marker: "canceled" */
    V_SHOWN,       /* reclaimed, progress "shown": "worker_lost" error */
    V_TOO_MANY,    /* reclaimed past NOVA_MAX_DELIVERIES: "worker_lost" error, a dead letter */
    V_UNKNOWN,     /* reclaimed, its progress unread (Redis failed): left pending */
    V_NO_PROMPT,   /* the system prompt it names is not in Redis (or not what it names) */
};

struct candidate {
    struct worker_job *wj;          /* NULL for a dead letter */
    const redisReply *entry_id;
    const redisReply *raw;          /* the "job" field value, NULL when missing */
    enum verdict v;
    long deliveries;                /* reclaimed: deliveries so far; 0 for a fresh read */
    bool shown;                     /* reclaimed: its progress marker is set */
    bool canceled;                  /* its cancel marker is set */
    const char *prompt_code;        /* set when its named prompt could not be had: the
                                       error code, "unavailable" (missing) or "internal" */
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
    struct worker_job *wj = worker_job_new(w, cd->raw->str, cd->raw->len, cd->entry_id->str,
                                           cd->reason, sizeof cd->reason);
    if (!wj)
        return;
    cd->wj = wj;
    cd->v = wj->job.deadline_ms < now ? V_EXPIRED : V_RUN;
}

static void dead_letter(struct worker *w, redisContext *c, const struct candidate *cd,
                        const char *code)
{
    dead_letter_write(w, c, cd->raw ? cd->raw->str : "", cd->raw ? cd->raw->len : 0,
                      cd->reason, code, cd->entry_id ? cd->entry_id->str : "?");
}

/* Writes one event of a job the engine will not run (or not yet: a notice), numbered and
 * fenced as the job's run (append.h): a run that lost the job cannot overwrite it. Returns 0,
 * or -1 when it is not in Redis (refused, or the connection failed). */
static int answer_event(struct worker *w, redisContext *c, struct worker_job *wj,
                        const char *type, const struct buf *data, const char *what)
{
    char id[EVENT_ID_MAX], err[256];
    struct event_seq seq = {wj->seq_key, wj->seq_field, wj->seq + 1, wj->token,
                            event_ends_job(type)};
    int rc = event_append_seq(c, wj->log_key, wj->channel, type, data->data, data->len,
                              w->cfg->log_ttl_s * 1000, &seq, id, sizeof id, err, sizeof err);
    if (rc < 0) {
        log_rid(LOG_WARN, wj->rid, "job %s: %s", wj->job.id, err);
        return -1;
    }
    wj->seq++;
    log_rid(LOG_INFO, wj->rid, "job %s: %s%s", wj->job.id, what,
            rc == 1 ? " (superseded: another run owns it)" : "");
    return 0;
}

/* Answers a job that never starts (expired, canceled, lost) so nobody waits for it. Returns
 * answer_event's verdict. */
static int answer_unstarted(struct worker *w, redisContext *c, struct worker_job *wj,
                            const char *code, const char *message, bool retryable)
{
    struct buf data;
    buf_init(&data, 4096);
    event_error_json(&data, wj->job.phase, job_model_name(&wj->job), code, message, retryable);
    char what[400];
    snprintf(what, sizeof what, "%s (%s)", code, message);
    int rc = answer_event(w, c, wj, "error", &data, what);
    buf_free(&data);
    return rc;
}

/* The XACK of an entry the reader answered, its deletion and the job's receipt (retire.h). */
static void ack(struct worker *w, redisContext *c, const char *entry_id,
                const struct worker_job *wj)
{
    retire_now(w, c, wj, entry_id);
}

/* The fetched text of a named prompt, checked: a string of at most JOB_MAX_BYTES of UTF-8
 * without NUL whose SHA-256 is the name. Gives it to every job of the batch that waits for
 * it, or marks them with why not. */
static void take_prompt(struct worker *w, const char *name, const redisReply *r,
                        struct candidate *cds, size_t n)
{
    const char *code = NULL;
    char why[200];
    if (r->type == REDIS_REPLY_NIL) {
        code = "unavailable";
        snprintf(why, sizeof why, "its system prompt nova:prompt:%.12s... is not in Redis",
                 name);
    } else if (r->type != REDIS_REPLY_STRING || r->len == 0 || (size_t)r->len > JOB_MAX_BYTES ||
               memchr(r->str, '\0', r->len) || !utf8_valid(r->str, r->len)) {
        code = "internal";
        snprintf(why, sizeof why, "its system prompt nova:prompt:%.12s... is not a prompt%s%s",
                 name, r->type == REDIS_REPLY_ERROR ? ": " : "",
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    } else {
        char got[JOB_SHA256_HEX + 1];
        job_prompt_name(r->str, r->len, got);
        if (strcmp(got, name) != 0) {
            code = "internal";
            snprintf(why, sizeof why,
                     "its system prompt nova:prompt:%.12s... holds other text (SHA-256 %.12s...)",
                     name, got);
        }
    }
    if (!code)
        atomic_fetch_add(&w->prompts_fetched, 1);
    for (size_t i = 0; i < n; i++) {
        struct worker_job *wj = cds[i].wj;
        if (!wj || !worker_job_needs_prompt(wj) || strcmp(wj->job.system_sha256, name) != 0)
            continue;
        if (code) {
            cds[i].prompt_code = code;
            snprintf(cds[i].reason, sizeof cds[i].reason, "%s", why);
        } else {
            worker_job_set_prompt(w, wj, r->str, r->len);
        }
    }
    if (code)
        log_warn("%s (jobs naming it fail with %s)", why, code);
}

/* One round trip for the batch: the named prompts its jobs did not find in the cache, the
 * progress of every reclaimed job that parsed, the cancel marker of every one that would run.
 * A fresh job whose marker is unread runs (a cancel can still stop it); a reclaimed one whose
 * progress is unread stays pending, since running it again could repeat text the page already
 * has; a job whose prompt is unread stays pending too (it never runs without it). */
static void read_markers(struct worker *w, redisContext *c, struct candidate *cds, size_t n,
                         bool reclaimed)
{
    char key[KEY_MAX];
    const char **names = xcalloc(n ? n : 1, sizeof *names);
    size_t n_names = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cds[i].wj || !worker_job_needs_prompt(cds[i].wj))
            continue;
        const char *name = cds[i].wj->job.system_sha256;
        bool seen = false;
        for (size_t k = 0; k < n_names && !seen; k++)
            seen = strcmp(names[k], name) == 0;
        if (!seen) {
            names[n_names++] = name;
            key_prompt(key, sizeof key, name);
            redisAppendCommand(c, "GET %s", key);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!cds[i].wj)
            continue;
        if (reclaimed) {
            key_progress(key, sizeof key, cds[i].wj->job.id);
            redisAppendCommand(c, "EXISTS %s", key);
            cds[i].v = cds[i].v == V_RUN ? V_UNKNOWN : cds[i].v;
        }
        key_canceled(key, sizeof key, cds[i].wj->job.id);
        redisAppendCommand(c, "EXISTS %s", key);
    }
    for (size_t k = 0; k < n_names; k++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            free(names);
            return;
        }
        take_prompt(w, names[k], r, cds, n);
        freeReplyObject(r);
    }
    free(names);
    for (size_t i = 0; i < n; i++) {
        if (!cds[i].wj)
            continue;
        for (int k = reclaimed ? 0 : 1; k < 2; k++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
                return;
            if (k == 0 && r->type == REDIS_REPLY_INTEGER)
                cds[i].shown = r->integer > 0;
            if (k == 1 && r->type == REDIS_REPLY_INTEGER)
                cds[i].canceled = r->integer > 0;
            freeReplyObject(r);
        }
        if (cds[i].v == V_UNKNOWN)
            cds[i].v = V_RUN; /* both replies read */
    }
}

/* The verdict once the markers are known: the delivery count first, then the deadline, a
 * cancel, and shown text. */
static void judge_markers(const struct worker *w, struct candidate *cd)
{
    if (cd->v == V_DEAD || cd->v == V_UNKNOWN)
        return;
    if (cd->deliveries > w->cfg->max_deliveries) {
        cd->v = V_TOO_MANY;
        snprintf(cd->reason, sizeof cd->reason,
                 "reclaimed too many times: %ld deliveries, NOVA_MAX_DELIVERIES is %ld",
                 cd->deliveries, w->cfg->max_deliveries);
    } else if (cd->v == V_EXPIRED) {
        return;
    } else if (cd->canceled) {
        cd->v = V_CANCELED;
    } else if (cd->shown) {
        cd->v = V_SHOWN;
    } else if (cd->prompt_code || worker_job_needs_prompt(cd->wj)) {
        cd->v = cd->prompt_code ? V_NO_PROMPT : V_UNKNOWN; /* unread: left pending */
    }
}

/* Writes what one candidate's verdict calls for, then its XACK when it is finished here. */
static void answer(struct worker *w, redisContext *c, struct candidate *cd)
{
    struct worker_job *wj = cd->wj;
    int said = 0; /* -1: the job's answer is not in Redis: no XACK, it stays pending */
    switch (cd->v) {
    case V_DEAD:
        dead_letter(w, c, cd, "internal");
        break;
    case V_EXPIRED:
        said = answer_unstarted(w, c, wj, "timeout",
                                "the job's deadline passed before a worker took it", false);
        atomic_fetch_add(&w->jobs_expired, 1);
        break;
    case V_CANCELED:
        said = answer_unstarted(w, c, wj, "canceled", "canceled before it started", false);
        atomic_fetch_add(&w->jobs_canceled, 1);
        break;
    case V_SHOWN:
        said = answer_unstarted(w, c, wj, "worker_lost", "the worker writing this answer "
                                "stopped after part of it was sent; ask again", true);
        atomic_fetch_add(&w->jobs_lost, 1);
        atomic_fetch_add(&w->jobs_failed, 1);
        break;
    case V_TOO_MANY:
        said = answer_unstarted(w, c, wj, "worker_lost", "the workers running this answer "
                                "kept stopping; it was set aside", false);
        dead_letter(w, c, cd, "worker_lost");
        atomic_fetch_add(&w->jobs_failed, 1);
        break;
    case V_RUN:
        if (cd->deliveries > 0) { /* reclaimed, nothing shown: the page is told, it runs */
            struct buf data;
            buf_init(&data, 4096);
            event_notice_json(&data, wj->job.phase, job_model_name(&wj->job), "worker_lost",
                              "The worker answering this stopped; another one starts the "
                              "answer again.");
            answer_event(w, c, wj, "notice", &data, "reclaimed: worker_lost notice, running "
                                                    "it again");
            buf_free(&data);
        }
        return;
    case V_NO_PROMPT:
        /* Never to Bedrock without its system prompt. Missing is retryable: nova-fcgi stores
         * its prompt again within PROMPT_STORE_PERIOD_S (at once after a Redis restart), and
         * the dead letter can be retried once it is back. */
        said = answer_unstarted(w, c, wj, cd->prompt_code,
                                strcmp(cd->prompt_code, "unavailable") == 0
                                    ? "the system prompt of this answer is not in Redis; ask "
                                      "again"
                                    : "the system prompt of this answer is corrupt in Redis",
                                strcmp(cd->prompt_code, "unavailable") == 0);
        dead_letter(w, c, cd, cd->prompt_code);
        atomic_fetch_add(&w->jobs_no_prompt, 1);
        atomic_fetch_add(&w->jobs_failed, 1);
        break;
    case V_UNKNOWN:
        return;
    }
    if (said < 0) {
        /* Refused (OOM, READONLY) or cut off: acknowledged without its answer, the job would
         * leave its page waiting for the deadline; pending, it is answered on a reclaim. */
        log_rid(LOG_WARN, wj->rid, "job %s: its answer was not written; left pending",
                wj->job.id);
        return;
    }
    if (cd->entry_id)
        ack(w, c, cd->entry_id->str, wj);
    if (cd->shown) { /* after the XACK, as the engine does: the marker has done its work */
        char key[KEY_MAX];
        key_progress(key, sizeof key, wj->job.id);
        redisReply *r = redisCommand(c, "DEL %s", key);
        if (r)
            freeReplyObject(r);
    }
}

/* Checks, answers and hands over the first n entries of an XREADGROUP or XAUTOCLAIM reply.
 * deliveries is NULL for a fresh read, else each entry's delivery count (reclaimed). */
static void handle_entries(struct worker *w, const redisReply *entries, size_t n,
                           const long *deliveries)
{
    struct candidate *cds = xcalloc(n ? n : 1, sizeof *cds);
    long long now = clock_epoch_ms();
    for (size_t i = 0; i < n; i++) {
        judge(w, entries->element[i], &cds[i], now);
        if (deliveries) /* a count Redis did not give is taken as a second delivery */
            cds[i].deliveries = deliveries[i] > 0 ? deliveries[i] : 2;
        if (cds[i].wj) /* the run's fencing token (append.h) */
            cds[i].wj->token = deliveries ? cds[i].deliveries : 1;
    }

    char err[256];
    redisContext *c = rpool_get(w->pool, WORKER_REDIS_TIMEOUT_MS, err, sizeof err);
    if (c) {
        read_markers(w, c, cds, n, deliveries != NULL);
        for (size_t i = 0; i < n && !c->err; i++) {
            judge_markers(w, &cds[i]);
            answer(w, c, &cds[i]);
        }
        rpool_put(w->pool, c, c->err != 0);
    } else {
        /* Left pending: once idle past the visibility timeout, a worker reclaims them. */
        log_warn("%s; jobs that need an answer stay pending", err);
        for (size_t i = 0; i < n; i++)
            if (cds[i].v == V_RUN && (deliveries || worker_job_needs_prompt(cds[i].wj)))
                cds[i].v = V_UNKNOWN;
    }

    size_t handed = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        struct worker_job *wj = cds[i].wj;
        if (!wj)
            continue;
        /* Never to the engine without its system prompt: a job whose prompt could not be
         * read (Redis failed midway) is left pending, to be reclaimed. */
        if (cds[i].v != V_RUN || worker_job_needs_prompt(wj)) {
            worker_job_free(w, wj);
            continue;
        }
        wj->next = NULL;
        if (w->inbox_tail)
            w->inbox_tail->next = wj;
        else
            w->inbox = wj;
        w->inbox_tail = wj;
        w->in_flight++;
        claims_add_locked(w, wj->entry_id);
        handed++;
    }
    pthread_mutex_unlock(&w->mu);
    if (handed)
        bedrock_client_wakeup(w->client);
    free(cds);
}

/* Reclaims dead workers' jobs while there is room, a few scan steps per period. */
static void reclaim(struct worker *w)
{
    long deliveries[WORKER_RECLAIM_COUNT];
    for (int step = 0; step < 8; step++) {
        pthread_mutex_lock(&w->mu);
        size_t max = (size_t)w->cfg->worker_max_jobs;
        size_t room = w->stopping || w->in_flight >= max ? 0 : max - w->in_flight;
        pthread_mutex_unlock(&w->mu);
        if (room == 0)
            return;
        size_t count = room < WORKER_RECLAIM_COUNT ? room : WORKER_RECLAIM_COUNT;
        const redisReply *entries = NULL;
        size_t n = 0;
        redisReply *r = claims_reclaim(w, count, &entries, &n, deliveries);
        if (r) {
            handle_entries(w, entries, n, deliveries);
            freeReplyObject(r);
        }
        if (strcmp(w->reclaim_cursor, "0-0") == 0)
            return; /* went round the pending list */
    }
}

/* ---- the loop --------------------------------------------------------------------------- */

/* Waits on w->cv until ms pass or the state changes; returns with w->mu held. */
static void wait_locked(struct worker *w, long ms)
{
    struct timespec until;
    clock_deadline(&until, ms);
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

/* The reader's clocks (monotonic ms) and the backoff of the ones that failed. */
struct timers {
    double beat, refresh, reclaim;
    struct backoff beat_backoff, refresh_backoff;
};

/* A timer's next time: its period after a success; after a failure a backoff step, shorter
 * than the period at first: after a Redis restart the first command on a pooled connection
 * fails, and neither the heartbeat nor the claims may lapse for a whole period. */
static double timer_next(int rc, long period, struct backoff *backoff)
{
    if (rc == 0) {
        backoff_reset(backoff);
        return clock_mono_ms_f() + (double)period;
    }
    long ms = backoff_next(backoff);
    return clock_mono_ms_f() + (double)(ms < period ? ms : period);
}

/* Runs the timers that are due: heartbeat, claim refresh, reclaim. Called without mu. */
static void run_timers(struct worker *w, struct timers *t)
{
    if (clock_mono_ms_f() >= t->beat)
        t->beat = timer_next(heartbeat_write(w), WORKER_BEAT_MS, &t->beat_backoff);
    /* Also while stopping: the jobs of the drain are still this worker's. */
    if (clock_mono_ms_f() >= t->refresh)
        t->refresh = timer_next(claims_refresh(w), claims_refresh_ms(w), &t->refresh_backoff);
    if (clock_mono_ms_f() >= t->reclaim) {
        reclaim(w);
        t->reclaim = clock_mono_ms_f() + (double)w->cfg->visibility_timeout_s * 500.0;
    }
}

/* Milliseconds until the first of the timers, within 1..WORKER_READ_BLOCK_MS. */
static long until_timers(const struct timers *t)
{
    double first = t->beat < t->refresh ? t->beat : t->refresh;
    first = first < t->reclaim ? first : t->reclaim;
    long ms = (long)(first - clock_mono_ms_f()) + 1;
    return ms < 1 ? 1 : ms > WORKER_READ_BLOCK_MS ? WORKER_READ_BLOCK_MS : ms;
}

void *reader_main(void *arg)
{
    struct worker *w = arg;
    redisContext *rc = NULL;
    bool group_ok = false, ready = false, down_logged = false;
    struct backoff backoff;
    backoff_init(&backoff, WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS);
    struct timers tm = {0};
    backoff_init(&tm.beat_backoff, WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS);
    backoff_init(&tm.refresh_backoff, WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS);
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
            wait_locked(w, backoff_next(&backoff));
            continue;
        }
        if (down_logged) {
            log_info("job queue %s reachable again", w->jobs_key);
            /* At once, not a period later: /api/health and the claims must not lapse. Reclaims
             * wait half a timeout: after a long outage every live worker's entries look idle,
             * and each must first get the chance to refresh its own. */
            tm.beat = tm.refresh = 0;
            double later = clock_mono_ms_f() + (double)w->cfg->visibility_timeout_s * 500.0;
            tm.reclaim = tm.reclaim > later ? tm.reclaim : later;
        }
        down_logged = false;
        backoff_reset(&backoff);

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
        pthread_mutex_unlock(&w->mu);
        run_timers(w, &tm);
        pthread_mutex_lock(&w->mu);
        size_t max = (size_t)w->cfg->worker_max_jobs;
        if (w->exiting || w->stopping || w->in_flight >= max) {
            /* Nothing to read: sleep until a job ends, a stop, or the next timer. */
            long ms = until_timers(&tm);
            if (!w->exiting)
                wait_locked(w, ms);
            continue;
        }
        size_t room = max - w->in_flight;
        pthread_mutex_unlock(&w->mu);

        int count = room < READ_COUNT_MAX ? (int)room : READ_COUNT_MAX;
        long block = until_timers(&tm);
        redisReply *r = redisCommand(rc, "XREADGROUP GROUP %s %s COUNT %d BLOCK %ld STREAMS %s >",
                                     KEYS_GROUP, w->id, count, block, w->jobs_key);
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
                handle_entries(w, stream->element[1], stream->element[1]->elements, NULL);
        } else if (r->type == REDIS_REPLY_ARRAY && stop) {
            /* Read while stopping: left pending for another worker ("handed back"). */
            log_info("stopping: jobs read at the last moment stay pending");
        }
        freeReplyObject(r);
        pthread_mutex_lock(&w->mu);
        if (refused && !w->exiting) {
            wait_locked(w, backoff_next(&backoff));
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (rc)
        reader_disconnect(w, &rc);
    return NULL;
}
