/* heartbeat: nova:worker:<id> and this worker's entry in nova:workers:{queue} (heartbeat.c). */
#ifndef NOVA_HEARTBEAT_H
#define NOVA_HEARTBEAT_H

#include "worker.h"

/* Writes the heartbeat now (one pipelined round trip on a pooled connection). Returns 0 or -1
 * (logged). */
int heartbeat_write(struct worker *w);
/* Removes this worker's heartbeat hash and its zset entry (a clean exit). */
void heartbeat_remove(struct worker *w);

#endif
