/* observe: the operator's two endpoints, restricted to loopback by nginx (nova.conf.template).
 *
 *   GET /api/metrics   Prometheus text: the scoreboard's counters and histograms, summed over
 *                      every child (metrics.h), then what Redis knows — each queue's depth,
 *                      pending jobs, dead letters and live workers, and every live worker's
 *                      heartbeat counters as nova_worker_* series labelled queue and worker.
 *                      When Redis does not answer, the scoreboard part is still served, with
 *                      nova_redis_up 0.
 *   GET /status        the scoreboard in php-fpm's style: "key: value" lines; ?json for a JSON
 *                      object; ?full adds one block per child (both: ?json&full).
 *
 * The worker series come from the heartbeat hashes nova:worker:<id> of the workers that beat
 * within 15 s (nova:workers:{queue}); each worker's counters are its own monotonic totals, so
 * sums by queue belong in the query (sum by (queue) (rate(...))), where a worker's restart is
 * a series ending rather than a counter going down. */
#ifndef NOVA_OBSERVE_H
#define NOVA_OBSERVE_H

#include "req.h"

/* Answers GET (or HEAD) /api/metrics or /status, by rq->path. */
void observe_get(struct req *rq);

#endif
