/* metrics: nova-fcgi's scoreboard — one shared memory mapping that the master makes before it
 * forks, every child writes with atomics, and any child reads to answer /status and
 * /api/metrics (php-fpm's fpm_scoreboard.c and fpm_status.c are the model).
 *
 * It holds
 *   - the server's monotonic counters and histograms: requests by endpoint and status, time to
 *     first token and stream duration by model, tokens by model and kind, errors by code,
 *     notices by code, translations, feedback by rating and reason. They are totals of the server, not of a child: a child
 *     that is respawned (or a reload's new generation) goes on adding to the same numbers;
 *   - one slot per child: pid, generation, state, start, requests served, threads, busy
 *     threads, open streams. The master gives a slot at fork and frees it when it reaps the
 *     child, so the gauges of a child that died go with it;
 *   - the master's pid, state, generation, start and respawn count.
 *
 * The hooks are one call each at the place the thing happens and cost a few relaxed atomic
 * adds. They do nothing until metrics_init has run (unit tests of other files). The mapping is
 * MAP_SHARED | MAP_ANONYMOUS: inherited across fork, gone with the last process; lock-free
 * atomics on it are address-free (C11 7.17.5), which static asserts in metrics.c check.
 *
 * Times are milliseconds from the request reaching nova-fcgi: what the page waited, including
 * a translation first. Only the stream that queued a request's jobs counts their events (a
 * resume replays events the origin may have counted already). */
#ifndef NOVA_METRICS_H
#define NOVA_METRICS_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/usage.h"
#include "redis/contract.h"
#include "routes.h"

enum metrics_master_state { METRICS_RUNNING, METRICS_RELOADING, METRICS_DRAINING };
enum metrics_child_state { METRICS_CHILD_FREE, METRICS_CHILD_STARTING, METRICS_CHILD_RUNNING,
                           METRICS_CHILD_DRAINING };
enum metrics_stage { METRICS_BEFORE_STREAM, METRICS_IN_STREAM };

/* ---- the master ------------------------------------------------------------------------- */

/* Maps the scoreboard: room for slots children at once (a reload runs two generations side
 * by side), children and threads as configured. Returns 0, or -1 (mmap failed; logged). */
int metrics_init(size_t slots, long children, long threads);
void metrics_master_state(enum metrics_master_state s, unsigned generation);
/* A free slot for a child about to be forked (STARTING, of generation), or -1 when all are
 * taken (the child then runs without one: its work is still counted in the totals). */
int metrics_slot_claim(unsigned generation);
void metrics_slot_forked(int slot, pid_t pid);
/* The child of slot was reaped (or never forked): its gauges go. */
void metrics_slot_release(int slot);
/* A child died unexpectedly and will be respawned. */
void metrics_respawned(void);

/* ---- a child ---------------------------------------------------------------------------- */

/* Called by the child right after fork with the slot the master claimed (or -1). */
void metrics_child_attach(int slot);
void metrics_child_state(enum metrics_child_state s, unsigned threads);

/* A worker thread took a request (+1) or finished it (-1). */
void metrics_busy(int delta);
/* A request ended: counted by the endpoint the router matched (its label: routes_name) and
 * status. */
void metrics_request(enum route route, int status);
/* An SSE stream opened (+1) or ended (-1). */
void metrics_stream(int delta);
/* A chat or resume refused at NOVA_MAX_STREAMS (503 before any work). */
void metrics_stream_refused(void);
/* NOVA_MAX_STREAMS, for /status (set before the master starts; the children inherit it). */
void metrics_set_max_streams(long max_per_child);
/* A model's first delta of a job, ms after the request arrived. */
void metrics_first_token(enum model model, long long ms);
/* A job's model_done: the stream duration and its tokens. */
void metrics_model_done(enum model model, long long ms, const struct token_usage *u);
/* Tokens of a call outside the jobs (a translation). */
void metrics_tokens(enum model model, const struct token_usage *u);
/* An error: a JSON error reply before any stream, or an error event in a stream (API.md's
 * codes; others are counted as "other"). */
void metrics_error(enum metrics_stage stage, const char *code);
/* A notice event (no_documents, worker_lost, guardrail). */
void metrics_notice(const char *code);
/* A translation finished, well or not. */
void metrics_translation(bool ok);
/* A feedback was recorded: rating "up" or "down", reason "none", "wrong", "outdated",
 * "unclear", "offensive" or "other" (feedback.h's names; another counts as "other"). */
void metrics_feedback(const char *rating, const char *reason);

/* ---- reading it (any process) ----------------------------------------------------------- */

/* The scoreboard's families in the Prometheus text format (0.0.4), appended to out. */
void metrics_render_prometheus(struct buf *out);
/* The /status page: "key: value" lines, or a JSON object; full adds one block per child. */
void metrics_render_status(struct buf *out, bool json, bool full);

#endif
