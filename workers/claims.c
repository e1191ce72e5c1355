/* claims: this worker's hold on its pending entries, and its reclaim of dead workers' ones.
 *
 * A job stays in the group's pending list from XREADGROUP to XACK, and its idle time grows from
 * its last delivery. A worker killed mid-job leaves its entries there; any live worker's
 * XAUTOCLAIM moves those idle past NOVA_VISIBILITY_TIMEOUT_S to itself (run by the reader every
 * half timeout). Model streams run for minutes, so a live worker keeps its own entries young:
 * every claim period it XCLAIMs them to itself with min-idle 0 and JUSTID (which resets the
 * idle time and leaves the delivery count alone). That runs in a Lua script that first checks
 * each entry is still this worker's: one another worker reclaimed meanwhile (this one was cut
 * off from Redis past the timeout) must not be taken back; it is reported "stolen" instead and
 * the engine stops that job without a word, since its new owner answers it.
 *
 * The registry of entries to refresh lives in struct worker under mu: an array (it holds about
 * NOVA_WORKER_MAX_JOBS ids), filled by the reader at hand-over, emptied by the engine when Redis
 * has answered an XACK or a job is handed back. */
#include "claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "worker.h"

/* KEYS[1] the jobs stream; ARGV[1] the group, ARGV[2] this consumer, ARGV[3..] entry ids.
 * Entries pending to this consumer are claimed again (idle 0); entries pending to another are
 * returned; entries no longer pending (acknowledged, or a Redis restarted without its data) are
 * left alone: the job goes on and its XACK will be a harmless no-op. */
static const char REFRESH_LUA[] =
    "local mine, stolen = {}, {}\n"
    "for i = 3, #ARGV do\n"
    "  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)\n"
    "  if #p == 1 then\n"
    "    if p[1][2] == ARGV[2] then mine[#mine + 1] = ARGV[i]\n"
    "    else stolen[#stolen + 1] = ARGV[i] end\n"
    "  end\n"
    "end\n"
    "if #mine > 0 then\n"
    "  mine[#mine + 1] = 'JUSTID'\n"
    "  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(mine))\n"
    "end\n"
    "return stolen\n";

long claims_refresh_ms(const struct worker *w)
{
    long third = w->cfg->visibility_timeout_s * 1000 / 3;
    return third < WORKER_BEAT_MS ? third : WORKER_BEAT_MS;
}

void claims_add_locked(struct worker *w, const char *entry_id)
{
    if (w->n_claims == w->cap_claims) {
        w->cap_claims = w->cap_claims ? w->cap_claims * 2 : 64;
        w->claims = xrealloc(w->claims, w->cap_claims * sizeof *w->claims);
    }
    snprintf(w->claims[w->n_claims++], EVENT_ID_MAX, "%s", entry_id);
}

void claims_remove(struct worker *w, const char *entry_id)
{
    pthread_mutex_lock(&w->mu);
    /* From the newest: short jobs end soonest. */
    for (size_t i = w->n_claims; i-- > 0;) {
        if (strcmp(w->claims[i], entry_id) == 0) {
            if (i != w->n_claims - 1)
                memcpy(w->claims[i], w->claims[w->n_claims - 1], EVENT_ID_MAX);
            w->n_claims--;
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
}

/* Hands the stolen entries of one script reply to the engine. */
static void stolen_push(struct worker *w, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *id = r->element[i];
        if (id->type != REDIS_REPLY_STRING || (size_t)id->len >= EVENT_ID_MAX)
            continue;
        log_warn("entry %s was reclaimed by another worker: stopping its job here", id->str);
        claims_remove(w, id->str);
        pthread_mutex_lock(&w->mu);
        if (w->n_stolen < WORKER_CANCEL_RING)
            snprintf(w->stolen[w->n_stolen++], EVENT_ID_MAX, "%s", id->str);
        pthread_mutex_unlock(&w->mu);
    }
    if (w->client) /* the handoff worker has none: its one thread looks each turn */
        bedrock_client_wakeup(w->client);
}

int claims_refresh(struct worker *w)
{
    /* A snapshot: the script must not run under mu (the engine takes it every turn). */
    pthread_mutex_lock(&w->mu);
    size_t n = w->n_claims;
    char (*ids)[EVENT_ID_MAX] = n ? xmalloc(n * sizeof *ids) : NULL;
    if (n)
        memcpy(ids, w->claims, n * sizeof *ids);
    pthread_mutex_unlock(&w->mu);
    if (n == 0)
        return 0;
    char err[256];
    redisContext *c = rpool_get(w->pool, WORKER_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        log_debug("refresh: %s", err);
        free(ids);
        return -1;
    }
    enum { FIXED = 7 }; /* EVAL script 1 key group consumer */
    const char **argv = xcalloc(FIXED + WORKER_REFRESH_BATCH, sizeof *argv);
    argv[0] = "EVAL";
    argv[1] = REFRESH_LUA;
    argv[2] = "1";
    argv[3] = w->jobs_key;
    argv[4] = KEYS_GROUP;
    argv[5] = w->id;
    size_t calls = 0;
    for (size_t off = 0; off < n; off += WORKER_REFRESH_BATCH, calls++) {
        size_t k = n - off < WORKER_REFRESH_BATCH ? n - off : WORKER_REFRESH_BATCH;
        for (size_t i = 0; i < k; i++)
            argv[6 + i] = ids[off + i];
        redisAppendCommandArgv(c, (int)(6 + k), argv, NULL);
    }
    int rc = 0;
    for (size_t i = 0; i < calls; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            log_debug("refresh: %s", c->errstr);
            rc = -1;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            /* NOGROUP after a Redis restart without data: the reader recreates the group. */
            log_debug("refresh: %s", r->str);
            rc = -1;
        } else {
            stolen_push(w, r);
        }
        freeReplyObject(r);
    }
    rpool_put(w->pool, c, c->err != 0);
    free(argv);
    free(ids);
    return rc;
}

redisReply *claims_reclaim(struct worker *w, size_t count, const redisReply **entries,
                           size_t *n_entries, long *deliveries)
{
    char err[256];
    redisContext *c = rpool_get(w->pool, WORKER_REDIS_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        log_debug("reclaim: %s", err);
        return NULL;
    }
    if (!w->reclaim_cursor[0])
        snprintf(w->reclaim_cursor, sizeof w->reclaim_cursor, "0-0");
    char idle[24], cnt[24];
    snprintf(idle, sizeof idle, "%ld", w->cfg->visibility_timeout_s * 1000);
    snprintf(cnt, sizeof cnt, "%zu", count);
    const char *argv[] = {"XAUTOCLAIM", w->jobs_key, KEYS_GROUP, w->id, idle,
                          w->reclaim_cursor, "COUNT", cnt};
    redisReply *r = redisCommandArgv(c, 8, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        log_debug("XAUTOCLAIM %s: %s", w->jobs_key,
                  !r ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        if (r)
            freeReplyObject(r);
        rpool_put(w->pool, c, c->err != 0);
        return NULL;
    }
    /* "0-0": the scan went round the whole pending list; the next one starts over. */
    snprintf(w->reclaim_cursor, sizeof w->reclaim_cursor, "%s", r->element[0]->str);
    const redisReply *list = r->element[1];
    if (list->elements == 0) {
        freeReplyObject(r);
        rpool_put(w->pool, c, false);
        return NULL;
    }
    /* The delivery counts, which XAUTOCLAIM does not return: one pipelined XPENDING each. The
     * entries are ours now and young, so nobody else moves them in between. */
    size_t asked = 0;
    for (size_t i = 0; i < list->elements && i < count; i++) {
        deliveries[i] = 0;
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue; /* Redis 6.2 answers a deleted entry as nil */
        const char *id = e->element[0]->str;
        const char *xp[] = {"XPENDING", w->jobs_key, KEYS_GROUP, id, id, "1"};
        redisAppendCommandArgv(c, 6, xp, NULL);
        asked++;
    }
    for (size_t i = 0; i < list->elements && i < count && asked > 0; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        redisReply *p = NULL;
        if (redisGetReply(c, (void **)&p) != REDIS_OK || !p)
            break; /* unknown counts stay 0: the job runs, which is what a first claim does */
        asked--;
        if (p->type == REDIS_REPLY_ARRAY && p->elements == 1 &&
            p->element[0]->type == REDIS_REPLY_ARRAY && p->element[0]->elements == 4 &&
            p->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
            deliveries[i] = (long)p->element[0]->element[3]->integer;
        freeReplyObject(p);
    }
    rpool_put(w->pool, c, c->err != 0);
    size_t n = list->elements < count ? list->elements : count;
    log_info("reclaimed %zu job(s) left idle for more than %ld s by a worker that stopped "
             "refreshing them", n, w->cfg->visibility_timeout_s);
    atomic_fetch_add(&w->jobs_reclaimed, n);
    *entries = list;
    *n_entries = n;
    return r;
}
