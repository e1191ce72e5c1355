/* novactl status: the queues and the workers as Redis sees them (keys.h), in one look.
 *
 *   novactl status [--json]
 *
 * Per queue (nova:jobs:{micro|pro|kb}, group "workers"): length (entries in the stream; jobs
 * are kept after their XACK, so this is not the backlog), pending (delivered to a worker, not
 * yet acknowledged), pending_orphaned (of those, held by consumers with no live heartbeat: a
 * stopped worker's, reclaimed after NOVA_VISIBILITY_TIMEOUT_S), lag (queued, not yet delivered
 * to any worker), consumers (names the group knows, live or not), the age of the oldest pending
 * and of the oldest waiting job, dead letters (nova:dead:{queue}), live workers and their jobs
 * in flight. Then each live worker from its heartbeat (nova:worker:<id>). The redis section
 * also has Redis's memory (used_memory, maxmemory, maxmemory_policy, evicted_keys) and the
 * warnings they call for (common/redis/meminfo.h): a policy other than noeviction, keys
 * evicted, used memory at 90 % of maxmemory or more. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "redis/contract.h"
#include "novactl.h"
#include "status_read.h"

static const char synopsis[] = "usage: novactl status [--json]\n";

static void help(void)
{
    printf("%s\n"
           "The job queues, dead letters and live workers, from Redis (NOVA_REDIS_URL), as\n"
           "key: value lines (ages in ms; 'none' when there is nothing to age) or one JSON\n"
           "object with --json.\n",
           synopsis);
}

static json_object *json_age(long long now, long long ms)
{
    return ms > 0 ? json_object_new_int64(now - ms) : NULL;
}

static void print_age(const char *q, const char *what, long long now, long long ms)
{
    if (ms > 0)
        printf("%s_%s_age_ms: %lld\n", q, what, now - ms);
    else
        printf("%s_%s_age_ms: none\n", q, what);
}

static void print_count(const char *key, long long v)
{
    if (v >= 0)
        printf("%s: %lld\n", key, v);
    else
        printf("%s: unknown\n", key);
}

static json_object *json_count(long long v)
{
    return v >= 0 ? json_object_new_int64(v) : NULL;
}

static void print_text(const struct status *s, const char *url)
{
    printf("# redis\nredis_url: %s\nredis_version: %s\ntime_ms: %lld\n", url, s->version,
           s->now_ms);
    print_count("used_memory", s->mem.used_memory);
    print_count("maxmemory", s->mem.maxmemory);
    printf("maxmemory_policy: %s\n", s->mem.policy[0] ? s->mem.policy : "unknown");
    print_count("evicted_keys", s->mem.evicted_keys);
    struct meminfo_warning wv[MEMINFO_WARN_MAX];
    size_t nw = meminfo_warnings(&s->mem, wv, MEMINFO_WARN_MAX);
    printf("warnings: %zu\n", nw);
    for (size_t i = 0; i < nw; i++)
        printf("warning_%zu: %s: %s\n", i + 1, wv[i].code, wv[i].message);
    for (size_t i = 0; i < QUEUE_COUNT; i++) {
        const struct queue_status *q = &s->q[i];
        const char *n = q->name;
        printf("\n# queue %s\n", n);
        printf("%s_length: %lld\n%s_pending: %lld\n%s_pending_orphaned: %lld\n", n, q->length,
               n, q->pending, n, q->pending_orphaned);
        if (q->lag >= 0)
            printf("%s_lag: %lld\n", n, q->lag);
        else
            printf("%s_lag: unknown\n", n);
        printf("%s_consumers: %lld\n", n, q->consumers);
        print_age(n, "oldest_pending", s->now_ms, q->oldest_pending_ms);
        print_age(n, "oldest_waiting", s->now_ms, q->oldest_waiting_ms);
        printf("%s_dead_letters: %lld\n%s_workers_live: %lld\n%s_jobs_in_flight: %lld\n", n,
               q->dead, n, q->workers_live, n, q->in_flight);
    }
    printf("\n# workers\nworkers_live: %zu\n", s->n_workers);
    for (size_t i = 0; i < s->n_workers; i++) {
        const struct worker_status *w = &s->w[i];
        printf("worker_%zu: id=%s,queue=%s,host=%s,pid=%lld,in_flight=%lld,beat_age_ms=%lld,"
               "uptime_s=%lld,jobs_done=%lld,jobs_failed=%lld,jobs_canceled=%lld,"
               "jobs_dead=%lld,jobs_retried=%lld,jobs_reclaimed=%lld\n",
               i, w->id, queue_name(w->queue), w->host, w->pid, w->in_flight, s->now_ms - w->beat_ms,
               w->started_ms > 0 ? (s->now_ms - w->started_ms) / 1000 : 0, w->jobs_done,
               w->jobs_failed, w->jobs_canceled, w->jobs_dead, w->jobs_retried,
               w->jobs_reclaimed);
    }
}

static void print_json(const struct status *s, const char *url)
{
    json_object *root = json_object_new_object(), *redis = json_object_new_object();
    json_object_object_add(redis, "url", json_object_new_string(url));
    json_object_object_add(redis, "version", json_object_new_string(s->version));
    json_object_object_add(redis, "time_ms", json_object_new_int64(s->now_ms));
    json_object_object_add(redis, "used_memory", json_count(s->mem.used_memory));
    json_object_object_add(redis, "maxmemory", json_count(s->mem.maxmemory));
    json_object_object_add(redis, "maxmemory_policy",
                           s->mem.policy[0] ? json_object_new_string(s->mem.policy) : NULL);
    json_object_object_add(redis, "evicted_keys", json_count(s->mem.evicted_keys));
    json_object_object_add(redis, "warnings", meminfo_warnings_json(&s->mem));
    json_object_object_add(root, "redis", redis);
    json_object *queues = json_object_new_object();
    for (size_t i = 0; i < QUEUE_COUNT; i++) {
        const struct queue_status *q = &s->q[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "length", json_object_new_int64(q->length));
        json_object_object_add(o, "pending", json_object_new_int64(q->pending));
        json_object_object_add(o, "pending_orphaned", json_object_new_int64(q->pending_orphaned));
        json_object_object_add(o, "lag", q->lag >= 0 ? json_object_new_int64(q->lag) : NULL);
        json_object_object_add(o, "consumers", json_object_new_int64(q->consumers));
        json_object_object_add(o, "oldest_pending_age_ms",
                               json_age(s->now_ms, q->oldest_pending_ms));
        json_object_object_add(o, "oldest_waiting_age_ms",
                               json_age(s->now_ms, q->oldest_waiting_ms));
        json_object_object_add(o, "dead_letters", json_object_new_int64(q->dead));
        json_object_object_add(o, "workers_live", json_object_new_int64(q->workers_live));
        json_object_object_add(o, "jobs_in_flight", json_object_new_int64(q->in_flight));
        json_object_object_add(queues, q->name, o);
    }
    json_object_object_add(root, "queues", queues);
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < s->n_workers; i++) {
        const struct worker_status *w = &s->w[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(w->id));
        json_object_object_add(o, "queue", json_object_new_string(queue_name(w->queue)));
        json_object_object_add(o, "host", ctl_json_string(w->host, strlen(w->host)));
        json_object_object_add(o, "pid", json_object_new_int64(w->pid));
        json_object_object_add(o, "in_flight", json_object_new_int64(w->in_flight));
        json_object_object_add(o, "beat_age_ms", json_object_new_int64(s->now_ms - w->beat_ms));
        json_object_object_add(o, "started_ms", json_object_new_int64(w->started_ms));
        json_object_object_add(o, "jobs_done", json_object_new_int64(w->jobs_done));
        json_object_object_add(o, "jobs_failed", json_object_new_int64(w->jobs_failed));
        json_object_object_add(o, "jobs_canceled", json_object_new_int64(w->jobs_canceled));
        json_object_object_add(o, "jobs_dead", json_object_new_int64(w->jobs_dead));
        json_object_object_add(o, "jobs_retried", json_object_new_int64(w->jobs_retried));
        json_object_object_add(o, "jobs_reclaimed", json_object_new_int64(w->jobs_reclaimed));
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "workers_live", json_object_new_int64((int64_t)s->n_workers));
    json_object_object_add(root, "workers", arr);
    ctl_json_print(root);
}

int novactl_status(int argc, char **argv, const struct nova_config *cfg)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        help();
        return NOVACTL_OK;
    }
    struct ctl_opts o;
    int rc = ctl_parse_opts("status", NULL, synopsis, argc, argv, "json", 1, &o);
    if (rc)
        return rc;
    if (o.first_arg != argc)
        return ctl_usage_error("status", NULL, synopsis, "takes no arguments (got '%s')",
                               argv[o.first_arg]);
    redisContext *c = ctl_connect(cfg, "status");
    if (!c)
        return NOVACTL_FAIL;
    struct status s;
    rc = status_read(c, "status", &s);
    redisFree(c);
    if (rc < 0) {
        status_free(&s);
        return NOVACTL_FAIL;
    }
    char url[sizeof cfg->redis_url]; /* printed with its password masked */
    config_mask_url(cfg->redis_url, url, sizeof url);
    if (o.json)
        print_json(&s, url);
    else
        print_text(&s, url);
    status_free(&s);
    return NOVACTL_OK;
}
