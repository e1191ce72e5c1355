/* handoff: nova-worker --queue handoff — delivers each handoff to a person (a job that
 * fcgi-app/handoff.c queued on nova:jobs:{handoff}) as an HTTP POST of its JSON body to
 * NOVA_HANDOFF_URL, with libcurl's multi interface driven by this one thread's poll.
 *
 * A job is the body itself: the entry's "job" field is the JSON document the receiver gets,
 * built whole by nova-fcgi when the player asked (request id, handoff id, the conversation,
 * the answers, sources, feedback, note, contact). The worker adds nothing, so what the
 * signature covers is exactly what was queued.
 *
 *   - Each try: POST, Content-Type application/json, X-Nova-Handoff-Id, and X-Nova-Signature
 *     when NOVA_HANDOFF_SECRET is set (handoff_send.h), within NOVA_HANDOFF_TIMEOUT_MS.
 *   - 2xx: delivered; XACK and XDEL of the entry, a receipt in nova:done:{handoff}.
 *   - no connection, a timeout, 5xx, 429, 408: tried again after the capped, jittered wait of
 *     handoff_send.h (a timer of the loop, not a sleep), at most NOVA_HANDOFF_MAX_ATTEMPTS
 *     tries; then a dead letter in nova:dead:{handoff} (code "unavailable") and the XACK.
 *   - any other answer (400, 401, 404, a redirect): a dead letter at once (code "rejected").
 *   - the entry stays pending until then, kept young by the claim refresh (claims.c); a worker
 *     killed meanwhile leaves it to another's XAUTOCLAIM after NOVA_VISIBILITY_TIMEOUT_S, and
 *     one delivered more than NOVA_MAX_DELIVERIES times is a dead letter ("worker_lost").
 *   - SIGTERM / SIGINT: the transfers in flight are given NOVA_DRAIN_SECONDS (at most their
 *     timeout) to end; the rest stay pending for another worker.
 *
 * Delivery is at least once (a receiver's 2xx whose XACK was lost with the worker is sent
 * again by the next one): a receiver dedupes on handoff_id. */
#ifndef NOVA_HANDOFF_H
#define NOVA_HANDOFF_H

#include "worker.h"

/* Jobs in flight at once (sending or waiting for their next try). */
#define HANDOFF_MAX_JOBS 64

/* Runs the worker until a signal on sigfd and the drain. w is initialised as main.c does
 * (queue QUEUE_HANDOFF, keys, pool); w->client is NULL. Returns the exit status (0, or 1
 * when libcurl cannot start). */
int handoff_run(struct worker *w, int sigfd);

#endif
