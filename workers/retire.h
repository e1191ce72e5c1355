/* retire: what a finished job leaves in Redis — its XACK, the XDEL of its entry from
 * nova:jobs:{queue}, and its receipt in nova:done:{queue}.
 *
 * A finished job's entry used to stay in its stream until MAXLEN trimming (2 × depth + 1000
 * entries a queue, each the whole job: its prompt, five passages, the history — 10 to 20 KiB).
 * Now it goes in the same pipeline as its XACK, and a receipt takes its place: the job without
 * its prompts and messages (job_receipt_json: id, request, queue, phase, model, model_id,
 * system_sha256, created_ms, deadline_ms) in field "job", the entry it was ("entry") and the
 * worker that finished it ("worker") — what `novactl jobs show` reads of a job that is done.
 * The receipts are capped like the jobs stream (MAXLEN ~ 2 × NOVA_MAX_QUEUE_DEPTH + 1000), so
 * a finished job costs Redis a few hundred bytes instead of its whole text. With
 * NOVA_KEEP_JOBS=1 the entry stays whole (an audit of what was queued; the test suites that
 * read the jobs back), and the receipt is written all the same.
 *
 * The three are one Lua script (redis/jobretire.h), so they happen together or not at all, and
 * only while the entry is still pending to this worker: a worker cut off from Redis while
 * another reclaimed its job takes nothing from the reclaimer when its late writes arrive. */
#ifndef NOVA_RETIRE_H
#define NOVA_RETIRE_H

#include <hiredis/hiredis.h>

#include "outbox.h"
#include "worker.h"
#include "worker_job.h"

/* Queues the retiring of a job the engine finished in its outbox, after its events
 * (outbox_retire: on_ack fires when Redis answers it). */
void retire_queue(struct worker *w, struct outbox *ob, const struct worker_job *wj);
/* The same now on c (one round trip), for an entry the reader answered itself: wj is its
 * job, or NULL for an entry that was no job (its dead letter keeps its bytes): then XACK and
 * XDEL only. A failure is c->err's to tell. */
void retire_now(struct worker *w, redisContext *c, const struct worker_job *wj,
                const char *entry_id);

#endif
