/* novactl health: a yes-or-no readiness check from Redis, for container health checks and
 * scripts: Redis answers, and each queue asked for has a worker with a live heartbeat.
 *
 *   novactl health [--queue Q]... [--local] [--json]
 *
 * Without --queue it asks what /api/health asks: micro and pro, and kb too when
 * NOVA_KB_BACKEND=bedrock. --local counts only workers whose heartbeat names this host
 * (gethostname), so a worker container checks itself: `novactl health --queue pro --local`.
 * Exit 0 when healthy, 1 when not (the reason in "reason: "), 2 for a bad command line. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "novactl.h"
#include "status_read.h"

static const char synopsis[] = "usage: novactl health [--queue micro|pro|kb|handoff]... [--local] [--json]\n";

static void help(void)
{
    printf("%s\n"
           "Exit 0 when Redis (NOVA_REDIS_URL) answers and each queue asked for (default: micro\n"
           "and pro, and kb when NOVA_KB_BACKEND=bedrock) has a worker whose heartbeat is under\n"
           "%d s old; 1 otherwise. --local counts only workers on this host (a container's own\n"
           "health check).\n",
           synopsis, CONTRACT_WORKER_LIVE_MS / 1000);
}

int novactl_health(int argc, char **argv, const struct nova_config *cfg)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        help();
        return NOVACTL_OK;
    }
    struct ctl_opts o;
    int rc = ctl_parse_opts("health", NULL, synopsis, argc, argv, "json queue local", 1, &o);
    if (rc)
        return rc;
    if (o.first_arg != argc)
        return ctl_usage_error("health", NULL, synopsis, "takes no arguments (got '%s')",
                               argv[o.first_arg]);
    if (o.n_queues == 0) {
        o.queues[o.n_queues++] = QUEUE_MICRO;
        o.queues[o.n_queues++] = QUEUE_PRO;
        if (cfg->kb_backend == KB_BEDROCK)
            o.queues[o.n_queues++] = QUEUE_KB;
    }
    char host[256] = "";
    if (o.local && gethostname(host, sizeof host - 1) < 0) {
        perror("novactl health: gethostname");
        return NOVACTL_FAIL;
    }

    long long live[QUEUE_COUNT] = {0};
    char reason[384] = "";
    bool redis_ok = false;
    redisContext *c = ctl_connect(cfg, "health");
    struct status s = {0};
    if (!c) {
        snprintf(reason, sizeof reason, "Redis is unreachable");
    } else if (status_read(c, "health", &s) < 0) {
        snprintf(reason, sizeof reason, "Redis did not answer");
    } else {
        redis_ok = true;
        for (size_t i = 0; i < s.n_workers; i++) {
            if (o.local && strcmp(s.w[i].host, host) != 0)
                continue;
            for (size_t k = 0; k < o.n_queues; k++)
                if (s.w[i].queue == o.queues[k])
                    live[k]++;
        }
        for (size_t k = 0; k < o.n_queues && !reason[0]; k++)
            if (live[k] == 0)
                snprintf(reason, sizeof reason, "no live worker for queue %s%s%s",
                         queue_name(o.queues[k]),
                         o.local ? " on " : "", o.local ? host : "");
    }
    if (c)
        redisFree(c);
    status_free(&s);

    if (o.json) {
        json_object *root = json_object_new_object(), *q = json_object_new_object();
        json_object_object_add(root, "status", json_object_new_string(reason[0] ? "fail" : "ok"));
        json_object_object_add(root, "redis", json_object_new_boolean(redis_ok));
        for (size_t k = 0; k < o.n_queues && redis_ok; k++)
            json_object_object_add(q, queue_name(o.queues[k]), json_object_new_int64(live[k]));
        json_object_object_add(root, "workers_live", q);
        if (o.local)
            json_object_object_add(root, "host", ctl_json_string(host, strlen(host)));
        if (reason[0])
            json_object_object_add(root, "reason", json_object_new_string(reason));
        ctl_json_print(root);
    } else {
        printf("redis: %s\n", redis_ok ? "ok" : "fail");
        for (size_t k = 0; k < o.n_queues && redis_ok; k++)
            printf("%s_workers_live: %lld\n", queue_name(o.queues[k]), live[k]);
        if (o.local)
            printf("host: %s\n", host);
        printf("status: %s\n", reason[0] ? "fail" : "ok");
        if (reason[0])
            printf("reason: %s\n", reason);
    }
    return reason[0] ? NOVACTL_FAIL : NOVACTL_OK;
}
