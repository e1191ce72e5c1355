/* health: GET /api/health — readiness, truthfully. 200 when Redis answers PING, this child's
 * pub/sub connection is up, it is not draining, and the micro and pro queues each have a
 * worker whose heartbeat (nova:workers:{queue}, score = last beat in epoch ms) is less than
 * 15 s old; else 503 with the reason. The kb queue's count is reported but not required. */
#ifndef NOVA_HEALTH_H
#define NOVA_HEALTH_H

#include "req.h"

void health_get(struct req *rq);

#endif
