/* retire: a finished job's XACK, the deletion of its entry and its receipt (see retire.h). */
#include "retire.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"

#define RECEIPT_MAX 4096 /* a receipt is ids, names and two numbers: well under this */

/* The XDEL and the receipt's XADD of one job, as argument vectors over strings it holds. */
struct retire_cmds {
    const char *del[3];
    size_t del_len[3];
    const char *add[12];
    size_t add_len[12];
    int add_argc;             /* 0: no receipt (no job, or it did not serialise) */
    char done_key[KEY_MAX], trim[24];
    struct buf receipt;
};

static void cmds_fill(struct retire_cmds *rc, struct worker *w, const struct worker_job *wj,
                      const char *entry_id)
{
    rc->del[0] = "XDEL";
    rc->del[1] = w->jobs_key;
    rc->del[2] = entry_id;
    for (int i = 0; i < 3; i++)
        rc->del_len[i] = strlen(rc->del[i]);
    rc->add_argc = 0;
    buf_init(&rc->receipt, RECEIPT_MAX);
    if (!wj || key_done(rc->done_key, sizeof rc->done_key, w->queue) < 0 ||
        job_receipt_json(&wj->job, &rc->receipt) < 0)
        return;
    snprintf(rc->trim, sizeof rc->trim, "%ld", w->cfg->max_queue_depth * 2 + 1000);
    const char *v[12] = {"XADD", rc->done_key, "MAXLEN", "~", rc->trim, "*", "job",
                         rc->receipt.data, "entry", entry_id, "worker", w->id};
    for (int i = 0; i < 12; i++) {
        rc->add[i] = v[i];
        rc->add_len[i] = i == 7 ? rc->receipt.len : strlen(v[i]);
    }
    rc->add_argc = 12;
}

void retire_queue(struct worker *w, struct outbox *ob, const struct worker_job *wj)
{
    struct retire_cmds rc;
    cmds_fill(&rc, w, wj, wj->entry_id);
    outbox_ack(ob, wj->entry_id);
    /* "must": small, and without them a finished job would keep its whole text. */
    if (!w->cfg->keep_jobs)
        outbox_command(ob, 3, rc.del, rc.del_len, true);
    if (rc.add_argc)
        outbox_command(ob, rc.add_argc, rc.add, rc.add_len, true);
    buf_free(&rc.receipt);
}

void retire_now(struct worker *w, redisContext *c, const struct worker_job *wj,
                const char *entry_id)
{
    struct retire_cmds rc;
    cmds_fill(&rc, w, wj, entry_id);
    int sent = 1;
    redisAppendCommand(c, "XACK %s %s %s", w->jobs_key, KEYS_GROUP, entry_id);
    if (!w->cfg->keep_jobs) {
        redisAppendCommandArgv(c, 3, rc.del, rc.del_len);
        sent++;
    }
    if (rc.add_argc) {
        redisAppendCommandArgv(c, rc.add_argc, rc.add, rc.add_len);
        sent++;
    }
    for (int i = 0; i < sent; i++) { /* every reply read: the connection stays in step */
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            break;
        if (r->type == REDIS_REPLY_ERROR)
            log_warn("retiring entry %s of %s: %s", entry_id, w->jobs_key, r->str);
        freeReplyObject(r);
    }
    buf_free(&rc.receipt);
}
