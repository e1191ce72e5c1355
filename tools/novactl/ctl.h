/* ctl: what novactl's Redis groups (status, health, jobs, dead) share: the connection, commands
 * whose failures are said once on stderr, reading replies, the queues, options and output.
 *
 * novactl talks to Redis only (NOVA_REDIS_URL), so it works from any host that reaches Redis.
 * Times are Redis's (TIME, and the milliseconds in stream entry ids), so ages do not depend on
 * the clock of the host novactl runs on; a worker's beat_ms and a dead letter's failed_ms are
 * the worker's clock, which the ages assume is in step (NTP). */
#ifndef NOVACTL_CTL_H
#define NOVACTL_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "core/config.h"
#include "redis/contract.h"


/* A heartbeat is live while younger than this: the expiry of nova:worker:<id>
 * (WORKER_BEAT_TTL_MS in workers/worker.h), the age /api/health accepts. */

int ctl_queue_arg(const char *s, enum queue *q);
/* A stream entry id "<ms>-<seq>"; its ms in *ms (may be NULL). */
bool ctl_entry_id_parse(const char *s, long long *ms);

/* Connects to NOVA_REDIS_URL; NULL after saying why on stderr ("novactl <group>: ..."). */
redisContext *ctl_connect(const struct nova_config *cfg, const char *group);

/* Runs one command (printf-like, hiredis's %s / %b). Returns the reply, or NULL after saying
 * on stderr what failed: the connection, or an error reply (freed). */
redisReply *ctl_cmd(redisContext *c, const char *group, const char *fmt, ...);
redisReply *ctl_cmd_argv(redisContext *c, const char *group, int argc, const char **argv,
                         const size_t *lens);

/* Redis's clock in epoch ms, or -1 (said on stderr). */
long long ctl_time_ms(redisContext *c, const char *group);

/* The value after name in a flat [name, value, ...] reply array, or NULL. */
const redisReply *ctl_field(const redisReply *flat, const char *name);
/* An integer reply, or a string holding one; dflt otherwise (nil, error, not a number). */
long long ctl_int(const redisReply *r, long long dflt);
/* A string (or status) reply's text, or dflt. */
const char *ctl_str(const redisReply *r, const char *dflt);

/* One stream entry [id, [field, value...]] of an XRANGE-like reply: its id and fields, or
 * false for a malformed (or deleted: nil) entry. */
bool ctl_entry(const redisReply *e, const char **id, const redisReply **fields);

/* Every entry of stream key, `page` at a time: oldest first from start (an id or a time in ms)
 * with XRANGE, or newest first from "+" with XREVRANGE when newest_first. take(user, entry)
 * gets each entry (malformed ones too) and returns false to stop. stdout is flushed after each
 * page, so a long listing streams. Returns 0, or -1 (said on stderr as "novactl GROUP: ..."). */
int ctl_stream_walk(redisContext *c, const char *group, const char *key, bool newest_first,
                    const char *start, int page, bool (*take)(void *user, const redisReply *e),
                    void *user);

/* Options shared by the groups' commands, parsed by ctl_parse_opts. */
struct ctl_opts {
    bool json, all, local, strict;
    long count;            /* --count N (default given by the caller) */
    long deadline_s;       /* --deadline S (0: keep the job's own span) */
    long older_than_s;     /* --older-than S (-1: not given) */
    bool has_queue;        /* --queue Q given: */
    enum queue queue;
    enum queue queues[QUEUE_COUNT]; /* every --queue given (health) */
    size_t n_queues;
    const char *model_id;  /* --model-id ID */
    int first_arg;         /* index of the first operand in the command's argv */
};

/* Parses argv (argv[0] = the command) for the long options named in allowed ("json count
 * queue ..."); --help prints help and exits 0. Returns 0, or NOVACTL_USAGE after the message
 * (synopsis appended). */
int ctl_parse_opts(const char *group, const char *cmd, const char *synopsis, int argc,
                   char **argv, const char *allowed, long count_default, struct ctl_opts *o);
/* "novactl <group> <cmd>: <message>" and the synopsis on stderr; returns NOVACTL_USAGE. */
int ctl_usage_error(const char *group, const char *cmd, const char *synopsis, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* One command of a group. */
struct ctl_cmd {
    const char *name;
    int (*run)(int argc, char **argv, const struct nova_config *cfg);
};
/* A group's entry: argv[1] names the command (--help, -h and help call help), which runs with
 * argv shifted by one. Returns its status, or NOVACTL_USAGE after the message. */
int ctl_dispatch(const char *group, const char *synopsis, void (*help)(void),
                 const struct ctl_cmd *cmds, size_t n, int argc, char **argv,
                 const struct nova_config *cfg);

/* Prints root compactly on one line of stdout and releases it. */
void ctl_json_print(json_object *root);
/* A JSON string of text that may not be UTF-8 (bad bytes become U+FFFD). */
json_object *ctl_json_string(const char *s, size_t n);

/* What a listing shows of a job, read leniently from its JSON text (a dead letter's job may
 * not parse: parsed is then false and the strings are ""). */
struct ctl_job_brief {
    bool parsed;
    char id[160], request[80], queue[16], phase[24], model[16], model_id[256];
    char system_sha256[65]; /* the system prompt it names, "" when it names none */
    long long created_ms, deadline_ms; /* 0 when absent */
};
void ctl_job_brief(const char *text, size_t len, struct ctl_job_brief *b);

#endif
