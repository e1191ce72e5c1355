/* worker_job: one job on this worker (see worker_job.h). */
#include "worker_job.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/bedrock.h"
#include "core/alloc.h"
#include "core/log.h"
#include "worker.h"

struct worker_job *worker_job_new(struct worker *w, const char *json, size_t len,
                                  const char *entry_id, char *errstr, size_t errlen)
{
    struct worker_job *wj = xcalloc(1, sizeof *wj);
    char err[200];
    if (job_from_json(json, len, &wj->job, err, sizeof err) < 0) {
        snprintf(errstr, errlen, "bad job: %s", err);
        free(wj);
        return NULL;
    }
    if (wj->job.queue != w->queue) {
        snprintf(errstr, errlen, "job for queue \"%s\" on queue \"%s\"",
                 queue_name(wj->job.queue), queue_name(w->queue));
        job_free(&wj->job);
        free(wj);
        return NULL;
    }
    if (wj->job.system) /* carried (v 1): shared by content */
        wj->system_text = text_intern(&w->texts, &wj->job.system);
    else if (wj->job.system_sha256[0] &&
             (wj->system_text = text_lookup(&w->texts, wj->job.system_sha256)))
        wj->job.system = wj->system_text->s; /* named, and here already */
    snprintf(wj->entry_id, sizeof wj->entry_id, "%s", entry_id);
    snprintf(wj->rid, sizeof wj->rid, "%.*s", (int)strcspn(wj->job.request, "."),
             wj->job.request);
    char k[4][KEY_MAX];
    key_log(k[0], sizeof k[0], wj->job.request);
    key_out(k[1], sizeof k[1], wj->job.id);
    key_seq(k[2], sizeof k[2], wj->job.request);
    static atomic_ulong runs; /* jobs made by this process: each run's field is its own */
    snprintf(k[3], sizeof k[3], "%s/%s.%lu", wj->job.id, w->id, atomic_fetch_add(&runs, 1) + 1);
    size_t kl[4], total = 0;
    for (int i = 0; i < 4; i++)
        total += (kl[i] = strlen(k[i])) + 1;
    char *p = wj->keys = xmalloc(total), **dst[4] = {&wj->log_key, &wj->channel, &wj->seq_key,
                                                     &wj->seq_field};
    for (int i = 0; i < 4; i++) {
        memcpy(p, k[i], kl[i] + 1);
        *dst[i] = p;
        p += kl[i] + 1;
    }
    wj->w = w;
    return wj;
}

bool worker_job_needs_prompt(const struct worker_job *wj)
{
    return wj->job.system_sha256[0] && !wj->job.system;
}

void worker_job_set_prompt(struct worker *w, struct worker_job *wj, const char *text,
                           size_t len)
{
    if (!worker_job_needs_prompt(wj))
        return;
    struct shared_text *e = text_lookup(&w->texts, wj->job.system_sha256);
    char *copy = NULL;
    if (!e) {
        copy = xstrndup(text, len);
        e = text_add(&w->texts, wj->job.system_sha256, &copy, len);
    }
    wj->system_text = e;
    wj->job.system = e ? e->s : copy; /* no room in the cache: the job's own copy */
}

void worker_job_free(struct worker *w, struct worker_job *wj)
{
    if (wj->system_text) {
        wj->job.system = NULL; /* the table's */
        text_release(&w->texts, wj->system_text);
    }
    job_free(&wj->job);
    free(wj->keys);
    free(wj);
}

#define S(x) (1u << (x))

/* The transitions of worker_job.h, one mask of next states per state. */
static const unsigned next_states[JOB_STATES] = {
    [JOB_NEW] = S(JOB_RUNNING) | S(JOB_HANDED_BACK) | S(JOB_DONE),
    [JOB_RUNNING] = S(JOB_WAITING) | S(JOB_CANCELING) | S(JOB_LOST) | S(JOB_HANDED_BACK) |
                    S(JOB_TAKEN_OVER) | S(JOB_DONE),
    [JOB_WAITING] = S(JOB_RUNNING) | S(JOB_CANCELING) | S(JOB_HANDED_BACK) | S(JOB_TAKEN_OVER),
    [JOB_CANCELING] = S(JOB_LOST) | S(JOB_HANDED_BACK) | S(JOB_TAKEN_OVER) | S(JOB_DONE),
    [JOB_LOST] = S(JOB_HANDED_BACK) | S(JOB_TAKEN_OVER) | S(JOB_DONE),
    [JOB_HANDED_BACK] = S(JOB_TAKEN_OVER) | S(JOB_DONE),
    [JOB_TAKEN_OVER] = S(JOB_DONE),
    [JOB_DONE] = 0,
};

/* The states that stop a job's call. */
static const unsigned stopping = S(JOB_CANCELING) | S(JOB_LOST) | S(JOB_HANDED_BACK) |
                                 S(JOB_TAKEN_OVER);

const char *job_state_name(enum job_state s)
{
    static const char *const names[JOB_STATES] = {
        [JOB_NEW] = "new",         [JOB_RUNNING] = "running",
        [JOB_WAITING] = "waiting", [JOB_CANCELING] = "canceling",
        [JOB_LOST] = "lost",       [JOB_HANDED_BACK] = "handed_back",
        [JOB_TAKEN_OVER] = "taken_over", [JOB_DONE] = "done",
    };
    return (unsigned)s < JOB_STATES ? names[s] : "?";
}

bool job_state_allowed(enum job_state from, enum job_state to)
{
    return (unsigned)from < JOB_STATES && (unsigned)to < JOB_STATES &&
           (next_states[from] & S(to)) != 0;
}

void worker_job_set_state(struct worker_job *wj, enum job_state to)
{
    enum job_state from = wj->state;
    if (from == to)
        return;
    if (!job_state_allowed(from, to))
        log_rid(LOG_ERROR, wj->rid, "job %s: %s -> %s is not a transition of a job's lifecycle",
                wj->job.id, job_state_name(from), job_state_name(to));
    else
        log_rid(LOG_DEBUG, wj->rid, "job %s: %s -> %s", wj->job.id, job_state_name(from),
                job_state_name(to));
    wj->state = to;
    if (from == JOB_RUNNING && wj->call && (stopping & S(to)))
        bedrock_call_cancel(wj->call);
}
