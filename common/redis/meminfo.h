/* meminfo: what Redis says of its memory and evictions (INFO memory, INFO stats), and the
 * warnings an operator needs from it.
 *
 * dual-nova needs Redis to keep what it is given: transcripts, jobs, sessions and feedback are
 * nowhere else. Under maxmemory-policy noeviction a full Redis refuses writes (the workers hold
 * and retry theirs, workers/outbox.h), any other policy silently deletes keys. So /api/health
 * and `novactl status` warn when the policy is not noeviction, when Redis has evicted keys,
 * and when used memory is near maxmemory. A parser: bytes in, numbers out, no I/O. */
#ifndef NOVA_MEMINFO_H
#define NOVA_MEMINFO_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#define MEMINFO_NEAR_PCT 90    /* used_memory at or past this % of maxmemory: a warning */
#define MEMINFO_WARN_MAX 3     /* one per kind */
#define MEMINFO_MSG_MAX 200

struct redis_meminfo {
    long long used_memory;     /* bytes; -1 when INFO did not say */
    long long maxmemory;       /* bytes, 0 for no limit; -1 when INFO did not say */
    long long evicted_keys;    /* since Redis started (or CONFIG RESETSTAT); -1 unknown */
    char policy[32];           /* maxmemory_policy, "" when INFO did not say */
};

struct meminfo_warning {
    const char *code;          /* "redis_eviction_policy", "redis_evicted_keys",
                                  "redis_near_maxmemory" (static) */
    char message[MEMINFO_MSG_MAX];
};

/* Resets m to "unknown", then reads the fields above from the text of one or more INFO
 * replies (len bytes; "key:value" lines, CRLF or LF). May be called again to add a reply. */
void meminfo_init(struct redis_meminfo *m);
void meminfo_parse(struct redis_meminfo *m, const char *info, size_t len);
/* The warnings m calls for, at most max (MEMINFO_WARN_MAX suffice), in a fixed order: policy,
 * evictions, memory. Returns how many; none when all is well (or unknown). */
size_t meminfo_warnings(const struct redis_meminfo *m, struct meminfo_warning *out,
                        size_t max);
/* The same warnings as a new JSON array of {"code", "message"} (/api/health, novactl). */
json_object *meminfo_warnings_json(const struct redis_meminfo *m);

#endif
