/* rmem: what the stack's Redis holds, for Redis memory per chat — used_memory (INFO memory),
 * the job streams kept (XLEN and MEMORY USAGE ... SAMPLES 0, every node counted, of
 * nova:jobs:{micro} / {pro} / {kb}) and the transcripts (SCAN MATCH nova:log:* and the
 * MEMORY USAGE of each, pipelined). run-bench reads it before and after N chats and divides the
 * differences by N. One JSON object on --out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../integration/redis_jobs.h"
#include "bench.h"
#include "core/config.h"

static long long reply_int(redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

static long long cmd_int(redisContext *rc, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(rc, fmt, arg);
    long long v = reply_int(r);
    if (r)
        freeReplyObject(r);
    return v;
}

static long long used_memory(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "INFO memory");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *k = strstr(r->str, "\nused_memory:"); /* after "# Memory" */
        if (k)
            v = strtoll(k + 13, NULL, 10);
    }
    if (r)
        freeReplyObject(r);
    return v;
}

/* The transcripts: keys and bytes, MEMORY USAGE of each SCAN batch pipelined. */
static int logs_usage(redisContext *rc, long long *keys, long long *bytes)
{
    char cursor[32] = "0";
    *keys = *bytes = 0;
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH nova:log:* COUNT 1000", cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *ks = r->element[1];
        for (size_t i = 0; i < ks->elements; i++)
            redisAppendCommand(rc, "MEMORY USAGE %b", ks->element[i]->str,
                               (size_t)ks->element[i]->len);
        for (size_t i = 0; i < ks->elements; i++) {
            redisReply *u = NULL;
            if (redisGetReply(rc, (void **)&u) != REDIS_OK) {
                freeReplyObject(r);
                return -1;
            }
            long long v = reply_int(u);
            if (v > 0) { /* a key that expired between SCAN and MEMORY USAGE is nil */
                (*keys)++;
                *bytes += v;
            }
            freeReplyObject(u);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int bench_redis_mem(const struct bench_opts *o)
{
    static struct nova_config cfg;
    char err[1024];
    if (config_from_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "nova-load: %s\n", err);
        return 2;
    }
    redisContext *rc = redis_open(cfg.run_dir);
    if (!rc)
        return 2;
    static const char *const queues[] = {"micro", "pro", "kb"};
    long long xlen[3], bytes[3], jobs_bytes = 0, jobs_entries = 0;
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "nova:jobs:{%s}", queues[i]);
        xlen[i] = cmd_int(rc, "XLEN %s", key);
        bytes[i] = cmd_int(rc, "MEMORY USAGE %s SAMPLES 0", key);
        if (xlen[i] > 0)
            jobs_entries += xlen[i];
        if (bytes[i] > 0)
            jobs_bytes += bytes[i];
    }
    long long log_keys, log_bytes;
    int lrc = logs_usage(rc, &log_keys, &log_bytes);
    long long used = used_memory(rc);
    redisFree(rc);
    if (lrc < 0 || used < 0) {
        fprintf(stderr, "nova-load: redis-mem: SCAN / MEMORY USAGE / INFO failed\n");
        return 1;
    }
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (!f) {
        fprintf(stderr, "nova-load: fopen(%s): %s\n", o->out, strerror(errno));
        return 1;
    }
    fprintf(f, "{\"mode\": \"redis-mem\", \"used_memory\": %lld, \"jobs_bytes\": %lld, "
               "\"jobs_entries\": %lld, \"jobs\": {",
            used, jobs_bytes, jobs_entries);
    for (int i = 0; i < 3; i++)
        fprintf(f, "%s\"%s\": {\"xlen\": %lld, \"bytes\": %lld}", i ? ", " : "", queues[i],
                xlen[i], bytes[i]);
    fprintf(f, "}, \"log_keys\": %lld, \"log_bytes\": %lld}\n", log_keys, log_bytes);
    if (f != stdout)
        fclose(f);
    return 0;
}
