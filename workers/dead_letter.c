/* dead_letter: an entry of nova:dead:{queue} (see dead_letter.h). */
#include "dead_letter.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "redis/job.h"

void dead_letter_args_fill(struct dead_letter_args *a, const struct worker *w, const char *job,
                           size_t job_len, const char *reason, const char *code,
                           const char *entry_id)
{
    snprintf(a->maxlen, sizeof a->maxlen, "%d", WORKER_DEAD_MAXLEN);
    snprintf(a->failed_ms, sizeof a->failed_ms, "%lld", clock_epoch_ms());
    const char *v[] = {"XADD", w->dead_key, "MAXLEN", "~", a->maxlen, "*",
                       "job", job, "reason", reason, "code", code, "worker", w->id,
                       "failed_ms", a->failed_ms, "entry", entry_id};
    a->argc = (int)(sizeof v / sizeof v[0]);
    for (int i = 0; i < a->argc; i++) {
        a->argv[i] = v[i];
        a->lens[i] = strlen(v[i]);
    }
    a->lens[7] = job_len; /* binary-safe: whatever was there */
}

void dead_letter_write(struct worker *w, redisContext *c, const char *job, size_t job_len,
                       const char *reason, const char *code, const char *entry_id)
{
    log_warn("dead letter %s: %s", entry_id, reason);
    struct dead_letter_args a;
    dead_letter_args_fill(&a, w, job, job_len, reason, code, entry_id);
    redisReply *r = redisCommandArgv(c, a.argc, a.argv, a.lens);
    if (r)
        freeReplyObject(r);
    atomic_fetch_add(&w->jobs_dead, 1);
}

void dead_letter_queue(struct worker *w, struct outbox *ob, const struct job *j,
                       const char *entry_id, const char *rid, const char *reason,
                       const char *code)
{
    struct buf json;
    buf_init(&json, 2 * JOB_MAX_BYTES);
    if (job_to_json(j, &json) < 0)
        buf_reset(&json);
    struct dead_letter_args a;
    dead_letter_args_fill(&a, w, json.data ? json.data : "", json.len, reason, code, entry_id);
    if (outbox_command(ob, a.argc, a.argv, a.lens, false) < 0)
        log_rid(LOG_ERROR, rid, "job %s: dead letter not written (outbox full): %s", j->id,
                reason);
    else
        log_rid(LOG_WARN, rid, "job %s: dead letter: %s", j->id, reason);
    atomic_fetch_add(&w->jobs_dead, 1);
    buf_free(&json);
}
