/* jobwait: one job run to its end while the request waits — a translation that must come
 * first (a question whose search as asked found nothing; POST /api/translate) and the Retrieve
 * of NOVA_KB_BACKEND=bedrock, which must be done before the answer jobs can be written. The
 * web tier holds no AWS credentials, so these go through the workers like every model call:
 * subscribe to the job's channel (lossless: before queueing), queue it, collect its events
 * from the thread's inbox until model_done, translation, passages or error.
 *
 * The job's own events go to its own transcript (nova:log:<job.request>), not to the chat's:
 * a chat's transcript holds only what its stream shows. A gap in pub/sub (Redis reconnect) is
 * filled from that transcript. The wait ends early when the client leaves (the job is
 * canceled) or at the timeout (canceled too). */
#ifndef NOVA_JOBWAIT_H
#define NOVA_JOBWAIT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/usage.h"
#include "redis/job.h"
#include "req.h"

#define JOBWAIT_TEXT_MAX (64u * 1024u)

enum jobwait_end {
    JOBWAIT_DONE,      /* model_done, translation or passages: text / data hold the answer */
    JOBWAIT_ERROR,     /* the job's error event: code and message */
    JOBWAIT_TIMEOUT,   /* nothing conclusive before the timeout */
    JOBWAIT_GONE,      /* the client left */
    JOBWAIT_FAILED,    /* Redis: the job could not be queued or followed */
    JOBWAIT_OVERLOADED, /* its queue was over NOVA_MAX_QUEUE_DEPTH: nothing was queued */
};

struct jobwait_result {
    enum jobwait_end end;
    struct buf text;            /* the deltas, concatenated, or the translated text */
    struct buf data;            /* the last event's data JSON (model_done, passages, error) */
    struct token_usage usage; /* from model_done or translation */
    char code[32];              /* error: its code */
    char message[256];          /* error or failure, for the log */
};

/* Runs j (its id, queue and request must be set), waiting at most timeout_ms. Always fills
 * res (free it with jobwait_result_free). */
void jobwait_run(struct req *rq, const struct job *j, long long timeout_ms,
                 struct jobwait_result *res);
void jobwait_result_free(struct jobwait_result *res);

#endif
