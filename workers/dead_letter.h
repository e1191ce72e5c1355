/* dead_letter: an entry of nova:dead:{queue}, a job that failed for good (worker.h says which).
 *
 * One format for both writers: the reader writes the dead letters of jobs it refuses (unreadable,
 * delivered too often) at once on its connection; the engine queues those of failed calls in
 * its outbox, in order after the job's error event. */
#ifndef NOVA_DEAD_LETTER_H
#define NOVA_DEAD_LETTER_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "outbox.h"
#include "redis/job.h"
#include "worker.h"

#define WORKER_DEAD_MAXLEN 10000    /* nova:dead:{queue} keeps about this many entries */

/* A dead letter's XADD: job, reason, code, worker, failed_ms, entry (MAXLEN ~
 * WORKER_DEAD_MAXLEN), as argv and lens for redisCommandArgv or the outbox. */
struct dead_letter_args {
    int argc;
    const char *argv[18];
    size_t lens[18];
    char maxlen[16], failed_ms[24];
};

/* Fills a with the XADD of one dead letter, failed now. The strings are borrowed (a points at
 * them); job is job_len bytes, anything (an unreadable job is kept as it was). */
void dead_letter_args_fill(struct dead_letter_args *a, const struct worker *w, const char *job,
                           size_t job_len, const char *reason, const char *code,
                           const char *entry_id);
/* Writes one dead letter now on c, logs it and counts it (jobs_dead). A failed write is the
 * caller's to see in c->err. */
void dead_letter_write(struct worker *w, redisContext *c, const char *job, size_t job_len,
                       const char *reason, const char *code, const char *entry_id);
/* Queues the dead letter of job j (entry entry_id) in the engine's outbox, after the job's error
 * event; logged with rid and counted. The job is serialised again from what was parsed. Not
 * past the outbox's cap (it carries the whole job, and it is only a record): when full it is
 * dropped, and logged so. */
void dead_letter_queue(struct worker *w, struct outbox *ob, const struct job *j,
                       const char *entry_id, const char *rid, const char *reason,
                       const char *code);

#endif
