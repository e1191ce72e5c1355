/* worker_job: one job on this worker (see worker_job.h). */
#include "worker_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
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
    if (wj->job.system)
        wj->system_text = text_intern(&w->texts, &wj->job.system);
    snprintf(wj->entry_id, sizeof wj->entry_id, "%s", entry_id);
    snprintf(wj->rid, sizeof wj->rid, "%.*s", (int)strcspn(wj->job.request, "."),
             wj->job.request);
    key_log(wj->log_key, sizeof wj->log_key, wj->job.request);
    key_out(wj->channel, sizeof wj->channel, wj->job.id);
    wj->w = w;
    return wj;
}

void worker_job_free(struct worker *w, struct worker_job *wj)
{
    if (wj->system_text) {
        wj->job.system = NULL; /* the table's */
        text_release(&w->texts, wj->system_text);
    }
    job_free(&wj->job);
    free(wj);
}
