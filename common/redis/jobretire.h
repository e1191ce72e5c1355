/* jobretire: what a finished job leaves in its queue, fenced like its appends (append.h).
 *
 * When a job has ended, its worker acknowledges the entry (XACK), deletes it (XDEL, unless
 * NOVA_KEEP_JOBS) and leaves a receipt in nova:done:{queue}: one Lua script, which does the
 * three only while the entry is pending to that worker. A worker cut off from Redis whose job
 * another worker reclaimed (XAUTOCLAIM made that one its owner) may deliver its queued writes
 * when it comes back: its appends are answered "superseded", and without this fence its XACK
 * and XDEL would take the entry off the pending list and out of the stream while the reclaimer
 * still answers it — were the reclaimer to die too, no one could reclaim the job. The script
 * answers 1 (retired) or 0 (not pending to this consumer: retired before, or another's now:
 * nothing is written). Both keys carry the queue's hash tag: one slot in a cluster.
 *
 *   EVAL JOB_RETIRE_LUA 2 <jobs stream> <done stream> <group> <entry> <consumer> <xdel: 1|0>
 *        <done MAXLEN> <receipt JSON, "" for none>
 *
 * Sent with EVAL every time (it runs once a job, its text is short), so no NOSCRIPT handling
 * is needed in a pipeline or after a script flush. */
#ifndef NOVA_JOBRETIRE_H
#define NOVA_JOBRETIRE_H

#include <stdbool.h>
#include <stddef.h>

extern const char JOB_RETIRE_LUA[];

struct job_retire_args {
    int argc;
    const char *argv[11];
    size_t argvlen[11];
};
/* Fills a with the script's command over the given strings (borrowed: they must outlive
 * the command's sending); receipt may be NULL (no receipt). */
void job_retire_args_fill(struct job_retire_args *a, const char *jobs_key, const char *done_key,
                          const char *entry, const char *consumer, bool xdel,
                          const char *done_maxlen, const char *receipt, size_t receipt_len);

#endif
