/* redis_jobs: what integration tests read from a stack's Redis — a connection to the
 * run dir's socket and the jobs queued in nova:jobs:{<queue>}, read back as the workers see
 * them: a job that names its system prompt (job.h, "system_sha256") gets the text of
 * nova:prompt:<name> as its system. A finished job's entry is deleted unless the stack runs
 * with NOVA_KEEP_JOBS=1 (workers/retire.h): suites that read jobs back after they ran set it.
 * Header-only (static functions): each .c file in tests/integration/ is a program. */
#ifndef NOVA_TEST_REDIS_JOBS_H
#define NOVA_TEST_REDIS_JOBS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "core/alloc.h"
#include "redis/job.h"

static inline redisContext *redis_open(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/redis.sock", dir);
    struct timeval tv = {5, 0};
    redisContext *r = redisConnectUnixWithTimeout(path, tv);
    if (!r || r->err) {
        fprintf(stderr, "  redis %s: %s\n", path, r ? r->errstr : "out of memory");
        if (r)
            redisFree(r);
        return NULL;
    }
    redisSetTimeout(r, tv);
    return r;
}

struct jobset {
    struct job *v;
    size_t n, cap;
};

/* The jobs of one stream (their named prompts filled in from Redis) appended to js. */
static inline void jobset_load_key(redisContext *r, const char *key, struct jobset *js)
{
    char start[64] = "-";
    for (;;) {
        redisReply *rep = redisCommand(r, "XRANGE %s %s + COUNT 500", key, start);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "  XRANGE %s: %s\n", key,
                    rep && rep->type == REDIS_REPLY_ERROR ? rep->str : r->errstr);
            if (rep)
                freeReplyObject(rep);
            return;
        }
        size_t got = rep->elements;
        for (size_t i = 0; i < rep->elements; i++) {
            redisReply *ent = rep->element[i];
            if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2)
                continue;
            snprintf(start, sizeof start, "(%s", ent->element[0]->str);
            redisReply *f = ent->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                if (strcmp(f->element[k]->str, "job") != 0)
                    continue;
                if (js->n == js->cap) {
                    js->cap = js->cap ? js->cap * 2 : 256;
                    js->v = xrealloc(js->v, js->cap * sizeof *js->v);
                }
                char err[256];
                if (job_from_json(f->element[k + 1]->str, f->element[k + 1]->len,
                                  &js->v[js->n], err, sizeof err) == 0) {
                    struct job *j = &js->v[js->n++];
                    if (j->system_sha256[0]) {
                        redisReply *p = redisCommand(r, "GET nova:prompt:%s", j->system_sha256);
                        if (p && p->type == REDIS_REPLY_STRING)
                            j->system = xstrndup(p->str, p->len);
                        else
                            fprintf(stderr, "  job %s: its prompt %s is not in Redis\n", j->id,
                                    j->system_sha256);
                        if (p)
                            freeReplyObject(p);
                    }
                }
                else
                    fprintf(stderr, "  job_from_json (%s): %s\n", key, err);
            }
        }
        freeReplyObject(rep);
        if (got < 500)
            return;
    }
}

/* The jobs still in nova:jobs:{queue} (a finished job is deleted unless NOVA_KEEP_JOBS=1). */
static inline void jobset_load(redisContext *r, const char *queue, struct jobset *js)
{
    char key[64];
    snprintf(key, sizeof key, "nova:jobs:{%s}", queue);
    jobset_load_key(r, key, js);
}

static inline void jobset_free(struct jobset *js)
{
    for (size_t i = 0; i < js->n; i++)
        job_free(&js->v[i]);
    free(js->v);
}

static inline const struct job *jobset_find(const struct jobset *js, const char *request,
                                      const char *phase, const char *model)
{
    for (size_t i = 0; i < js->n; i++)
        if (strcmp(js->v[i].request, request) == 0 && strcmp(js->v[i].phase, phase) == 0 &&
            strcmp(model_name(js->v[i].model), model) == 0)
            return &js->v[i];
    return NULL;
}

#endif
