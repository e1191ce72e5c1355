/* status_read: the queues and workers from Redis (see status_read.h). */
#include "status_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "redis/contract.h"

/* Workers first: a queue's orphaned pending count needs to know which consumers are live. */
static int read_workers(redisContext *c, const char *group, struct status *s)
{
    size_t cap = 0;
    for (enum queue qi = 0; qi < QUEUE_COUNT; qi++) {
        char zkey[KEY_MAX];
        key_workers(zkey, sizeof zkey, qi);
        redisReply *z = ctl_cmd(c, group, "ZRANGE %s 0 -1", zkey);
        if (!z)
            return -1;
        for (size_t i = 0; z->type == REDIS_REPLY_ARRAY && i < z->elements; i++) {
            const char *id = ctl_str(z->element[i], NULL);
            char hkey[KEY_MAX];
            if (!id || key_worker(hkey, sizeof hkey, id) < 0)
                continue;
            redisReply *h = ctl_cmd(c, group, "HGETALL %s", hkey);
            if (!h) {
                freeReplyObject(z);
                return -1;
            }
            long long beat = ctl_int(ctl_field(h, "beat_ms"), 0);
            /* An expired hash is an empty reply: that worker stopped beating. */
            if (h->elements > 0 && beat > 0 && s->now_ms - beat < CONTRACT_WORKER_LIVE_MS) {
                if (s->n_workers == cap) {
                    cap = cap ? cap * 2 : 16;
                    s->w = xrealloc(s->w, cap * sizeof *s->w);
                }
                struct worker_status *w = &s->w[s->n_workers++];
                memset(w, 0, sizeof *w);
                snprintf(w->id, sizeof w->id, "%s", id);
                w->queue = qi;
                snprintf(w->host, sizeof w->host, "%s", ctl_str(ctl_field(h, "host"), "?"));
                w->pid = ctl_int(ctl_field(h, "pid"), 0);
                w->in_flight = ctl_int(ctl_field(h, "in_flight"), 0);
                w->started_ms = ctl_int(ctl_field(h, "started_ms"), 0);
                w->beat_ms = beat;
                w->jobs_done = ctl_int(ctl_field(h, "jobs_done"), 0);
                w->jobs_failed = ctl_int(ctl_field(h, "jobs_failed"), 0);
                w->jobs_canceled = ctl_int(ctl_field(h, "jobs_canceled"), 0);
                w->jobs_dead = ctl_int(ctl_field(h, "jobs_dead"), 0);
                w->jobs_retried = ctl_int(ctl_field(h, "jobs_retried"), 0);
                w->jobs_reclaimed = ctl_int(ctl_field(h, "jobs_reclaimed"), 0);
                s->q[qi].workers_live++;
                s->q[qi].in_flight += w->in_flight;
            }
            freeReplyObject(h);
        }
        freeReplyObject(z);
    }
    return 0;
}

static bool worker_live(const struct status *s, const char *id)
{
    for (size_t i = 0; i < s->n_workers; i++)
        if (strcmp(s->w[i].id, id) == 0)
            return true;
    return false;
}

/* The id of the first entry after `after` ("-" for the whole stream), 0 when none. */
static int first_after(redisContext *c, const char *group, const char *key, const char *after,
                       long long *ms)
{
    char start[80];
    snprintf(start, sizeof start, "%s%s", strcmp(after, "-") == 0 ? "" : "(", after);
    redisReply *r = ctl_cmd(c, group, "XRANGE %s %s + COUNT 1", key, start);
    if (!r)
        return -1;
    const char *id;
    const redisReply *fields;
    *ms = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && ctl_entry(r->element[0], &id, &fields))
        ctl_entry_id_parse(id, ms);
    freeReplyObject(r);
    return 0;
}

static int read_queue(redisContext *c, const char *group, struct status *s,
                      struct queue_status *q)
{
    char key[KEY_MAX], dkey[KEY_MAX];
    key_jobs(key, sizeof key, q->queue);
    key_dead(dkey, sizeof dkey, q->queue);
    redisReply *r = ctl_cmd(c, group, "XLEN %s", key);
    if (!r)
        return -1;
    q->length = ctl_int(r, 0);
    freeReplyObject(r);
    if ((r = ctl_cmd(c, group, "XLEN %s", dkey)) == NULL)
        return -1;
    q->dead = ctl_int(r, 0);
    freeReplyObject(r);

    /* No stream yet: XINFO answers "no such key", which here only means "nothing queued". */
    char last[64] = "-";
    bool has_group = false;
    r = redisCommand(c, "XINFO GROUPS %s", key);
    if (!r || (r->type == REDIS_REPLY_ERROR && !strstr(r->str, "no such key"))) {
        fprintf(stderr, "novactl %s: XINFO GROUPS %s: %s\n", group, key, r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *g = r->element[i];
        if (strcmp(ctl_str(ctl_field(g, "name"), ""), KEYS_GROUP) != 0)
            continue;
        has_group = true;
        q->consumers = ctl_int(ctl_field(g, "consumers"), 0);
        q->pending = ctl_int(ctl_field(g, "pending"), 0);
        q->lag = ctl_int(ctl_field(g, "lag"), -1); /* nil: Redis cannot tell */
        snprintf(last, sizeof last, "%s", ctl_str(ctl_field(g, "last-delivered-id"), "-"));
    }
    freeReplyObject(r);
    if (!has_group) /* no worker ever read this queue: every entry waits */
        q->lag = q->length;

    if (has_group && q->pending > 0) {
        if ((r = ctl_cmd(c, group, "XPENDING %s %s", key, KEYS_GROUP)) == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
            ctl_entry_id_parse(ctl_str(r->element[1], ""), &q->oldest_pending_ms);
            const redisReply *who = r->element[3];
            for (size_t i = 0; who->type == REDIS_REPLY_ARRAY && i < who->elements; i++) {
                const redisReply *p = who->element[i];
                if (p->type == REDIS_REPLY_ARRAY && p->elements == 2 &&
                    !worker_live(s, ctl_str(p->element[0], "")))
                    q->pending_orphaned += ctl_int(p->element[1], 0);
            }
        }
        freeReplyObject(r);
    }
    if (q->length > 0 && first_after(c, group, key, last, &q->oldest_waiting_ms) < 0)
        return -1;
    return 0;
}

int status_read(redisContext *c, const char *group, struct status *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < QUEUE_COUNT; i++) {
        s->q[i].queue = (enum queue)i;
        s->q[i].name = queue_name((enum queue)i);
        s->q[i].lag = 0;
    }
    if ((s->now_ms = ctl_time_ms(c, group)) < 0)
        return -1;
    redisReply *r = ctl_cmd(c, group, "INFO server");
    if (!r)
        return -1;
    const char *v = r->type == REDIS_REPLY_STRING ? strstr(r->str, "redis_version:") : NULL;
    snprintf(s->version, sizeof s->version, "%.*s", v ? (int)strcspn(v + 14, "\r\n") : 1,
             v ? v + 14 : "?");
    freeReplyObject(r);
    /* Memory and evictions: a Redis that refuses these INFO sections leaves them unknown. */
    meminfo_init(&s->mem);
    for (int k = 0; k < 2; k++) {
        r = redisCommand(c, k == 0 ? "INFO memory" : "INFO stats");
        if (!r) {
            fprintf(stderr, "novactl %s: INFO: %s\n", group, c->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_STRING)
            meminfo_parse(&s->mem, r->str, r->len);
        freeReplyObject(r);
    }
    if (read_workers(c, group, s) < 0)
        return -1;
    for (size_t i = 0; i < QUEUE_COUNT; i++)
        if (read_queue(c, group, s, &s->q[i]) < 0)
            return -1;
    return 0;
}

void status_free(struct status *s)
{
    free(s->w);
    s->w = NULL;
    s->n_workers = 0;
}
