/* status_read: reads the queues' and the workers' state from Redis into plain structs, for
 * `novactl status` (which prints them) and `novactl health` (which judges them). */
#ifndef NOVACTL_STATUS_READ_H
#define NOVACTL_STATUS_READ_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "ctl.h"
#include "redis/contract.h"
#include "redis/meminfo.h"

struct queue_status {
    enum queue queue;
    const char *name;            /* its name (queue_name) */
    long long length;            /* XLEN nova:jobs:{q} */
    long long pending;           /* the group's pending entries (delivered, not acknowledged) */
    long long pending_orphaned;  /* of those, held by consumers without a live heartbeat */
    long long lag;               /* entries not yet delivered; -1 when Redis cannot tell */
    long long consumers;         /* consumer names the group holds */
    long long oldest_pending_ms; /* epoch ms in the oldest pending entry's id; 0 when none */
    long long oldest_waiting_ms; /* the same for the first entry not yet delivered */
    long long dead;              /* XLEN nova:dead:{q} */
    long long workers_live, in_flight;
};

struct worker_status {
    char id[72], host[256];
    enum queue queue;
    long long pid, in_flight, started_ms, beat_ms;
    long long jobs_done, jobs_failed, jobs_canceled, jobs_dead, jobs_retried, jobs_reclaimed;
};

struct status {
    long long now_ms;            /* Redis's clock */
    char version[32];
    struct redis_meminfo mem;    /* INFO memory and stats; fields -1 / "" when unknown */
    struct queue_status q[QUEUE_COUNT]; /* in enum queue order */
    struct worker_status *w;     /* live workers, by queue then id; owned */
    size_t n_workers;
};

/* Fills s (free it with status_free, also after a failure). Returns 0, or -1 said on stderr
 * as "novactl <group>: ...". */
int status_read(redisContext *c, const char *group, struct status *s);
void status_free(struct status *s);

#endif
