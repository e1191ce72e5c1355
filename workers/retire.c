/* retire: a finished job's XACK, the deletion of its entry and its receipt (see retire.h). */
#include "retire.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "redis/jobretire.h"

#define RECEIPT_MAX 4096 /* a receipt is ids, names and two numbers: well under this */

/* The retiring script's command of one job and the strings it holds. */
struct retire_cmd {
    struct job_retire_args a;
    char done_key[KEY_MAX], trim[24];
    struct buf receipt;
};

/* Returns 0, or -1 when the queue has no done key (nothing to send). */
static int cmd_fill(struct retire_cmd *rc, struct worker *w, const struct worker_job *wj,
                    const char *entry_id)
{
    buf_init(&rc->receipt, RECEIPT_MAX);
    if (key_done(rc->done_key, sizeof rc->done_key, w->queue) < 0)
        return -1;
    bool receipt = wj && job_receipt_json(&wj->job, &rc->receipt) == 0;
    snprintf(rc->trim, sizeof rc->trim, "%ld", w->cfg->max_queue_depth * 2 + 1000);
    job_retire_args_fill(&rc->a, w->jobs_key, rc->done_key, entry_id, w->id, !w->cfg->keep_jobs,
                         rc->trim, receipt ? rc->receipt.data : NULL, rc->receipt.len);
    return 0;
}

void retire_queue(struct worker *w, struct outbox *ob, const struct worker_job *wj)
{
    struct retire_cmd rc;
    if (cmd_fill(&rc, w, wj, wj->entry_id) == 0)
        outbox_retire(ob, wj->entry_id, rc.a.argc, rc.a.argv, rc.a.argvlen);
    buf_free(&rc.receipt);
}

void retire_now(struct worker *w, redisContext *c, const struct worker_job *wj,
                const char *entry_id)
{
    struct retire_cmd rc;
    if (cmd_fill(&rc, w, wj, entry_id) == 0) {
        redisReply *r = redisCommandArgv(c, rc.a.argc, rc.a.argv, rc.a.argvlen);
        if (r && r->type == REDIS_REPLY_ERROR)
            log_warn("retiring entry %s of %s: %s", entry_id, w->jobs_key, r->str);
        else if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0)
            log_info("entry %s of %s is no longer pending to this worker: left to its owner",
                     entry_id, w->jobs_key);
        if (r)
            freeReplyObject(r);
    }
    buf_free(&rc.receipt);
}
