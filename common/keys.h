/* keys: every Redis key and channel name dual-nova uses, in one place (the operator's map in
 * DESIGN.md and the README). Braces are Redis Cluster hash tags.
 *
 *   nova:jobs:{<queue>}        stream, group "workers"   jobs; XPENDING shows the in-flight ones
 *   nova:out:<job>             pub/sub channel           one job's events, "<log id> <type> <json>"
 *   nova:log:<request>         stream, expires           a request's whole event transcript
 *   nova:dead:{<queue>}        stream                    jobs that failed for good, with the reason
 *   nova:worker:<id>           hash, expires             heartbeat: queue, host, pid, in_flight, ...
 *   nova:workers:{<queue>}     sorted set                worker id → last heartbeat (ms): /api/health
 *   nova:cancel:{<queue>}      pub/sub channel           job ids to stop now
 *   nova:canceled:<job>        string, expires           cancel marker for a job not yet started
 *   nova:session:<id>          list, expires             conversation turns
 *   nova:readers:<request>     zset, expires             live streams of a request, scored by
 *                                                        their last renewal (a dropped client's
 *                                                        jobs wait for a resume)
 *   nova:stats:*               reserved, unused          (the counters: nova-fcgi's scoreboard and
 *                                                        the heartbeats, GET /api/metrics)
 *   nova:progress:<job>        string, expires           set once a job's first delta is out, gone
 *                                                        after its XACK; read when it is reclaimed
 *
 * Builders write into a caller buffer and return 0, or -1 when it is too small. */
#ifndef NOVA_KEYS_H
#define NOVA_KEYS_H

#include <stddef.h>

#define KEY_MAX 256
#define KEYS_GROUP "workers"

int key_jobs(char *out, size_t n, const char *queue);
int key_out(char *out, size_t n, const char *job_id);
int key_log(char *out, size_t n, const char *request_id);
int key_dead(char *out, size_t n, const char *queue);
int key_worker(char *out, size_t n, const char *worker_id);
int key_workers(char *out, size_t n, const char *queue);
int key_cancel(char *out, size_t n, const char *queue);
int key_canceled(char *out, size_t n, const char *job_id);
int key_session(char *out, size_t n, const char *session_id);
int key_readers(char *out, size_t n, const char *request_id);
int key_progress(char *out, size_t n, const char *job_id);

#endif
