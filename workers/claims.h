/* claims: this worker's hold on its pending entries, and its reclaim of dead workers' ones
 * (claims.c says how). Run by the reader; the engine forgets the entries it has finished. */
#ifndef NOVA_CLAIMS_H
#define NOVA_CLAIMS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "worker.h"

#define WORKER_RECLAIM_COUNT 64     /* entries per XAUTOCLAIM, at most */
#define WORKER_REFRESH_BATCH 500    /* entry ids per refresh script call */

/* The claim period: how often the reader refreshes its entries, so that they never look idle
 * for a visibility timeout while the worker lives (a third of it, at most the heartbeat's). */
long claims_refresh_ms(const struct worker *w);
/* Registers an entry handed to the engine. The caller holds w->mu. */
void claims_add_locked(struct worker *w, const char *entry_id);
/* Forgets an entry (its XACK was answered, or it was handed back); takes w->mu. */
void claims_remove(struct worker *w, const char *entry_id);
/* XCLAIMs (JUSTID, min-idle 0) every registered entry that is still this worker's, so its
 * idle time restarts; entries another worker took meanwhile are forgotten and passed to the
 * engine to stop. Returns 0, or -1 (logged at debug: the reader's reconnect logs the outage). */
int claims_refresh(struct worker *w);
/* XAUTOCLAIMs up to count entries idle past the visibility timeout, continuing the scan where
 * the last call left it. Returns the reply (the caller frees it) with *entries pointing at its
 * entry array, of which the first *n_entries are to be handled, and deliveries[i] (the
 * caller's array of count) the delivery count of entry i after this claim (0 when unknown);
 * NULL when nothing was claimed or Redis failed. */
redisReply *claims_reclaim(struct worker *w, size_t count, const redisReply **entries,
                           size_t *n_entries, long *deliveries);

#endif
