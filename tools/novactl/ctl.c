/* ctl: the Redis side of novactl, shared by its groups (see ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/utf8.h"
#include "novactl.h"
#include "redis/job.h"
#include "redis/rconn.h"

#define CTL_TIMEOUT_MS 5000

int ctl_queue_arg(const char *s, enum queue *q)
{
    return queue_parse(s, strlen(s), q);
}

bool ctl_entry_id_parse(const char *s, long long *ms)
{
    const char *dash = strchr(s, '-');
    if (!dash || dash == s || !dash[1] || dash - s > 19)
        return false;
    for (const char *p = s; *p; p++)
        if (p != dash && (*p < '0' || *p > '9'))
            return false;
    if (strlen(dash + 1) > 19)
        return false;
    if (ms)
        *ms = strtoll(s, NULL, 10);
    return true;
}

redisContext *ctl_connect(const struct nova_config *cfg, const char *group)
{
    struct rconn_addr a;
    char err[512];
    if (rconn_addr_from_config(cfg, &a, err, sizeof err) < 0) {
        fprintf(stderr, "novactl %s: %s\n", group, err);
        return NULL;
    }
    redisContext *c = rconn_connect(&a, CTL_TIMEOUT_MS, err, sizeof err);
    if (!c) {
        char url[sizeof cfg->redis_url]; /* the password masked */
        config_mask_url(cfg->redis_url, url, sizeof url);
        fprintf(stderr, "novactl %s: Redis at %s: %s\n", group, url, err);
    }
    return c;
}

/* Checks a reply: NULL (connection) and error replies are said and give NULL. */
static redisReply *checked(redisContext *c, const char *group, redisReply *r, const char *what)
{
    if (!r) {
        fprintf(stderr, "novactl %s: %s: %s\n", group, what, c->errstr[0] ? c->errstr :
                "connection lost");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "novactl %s: %s: %s\n", group, what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

redisReply *ctl_cmd(redisContext *c, const char *group, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    /* The command's name for the message: the format up to its first blank. */
    char what[32];
    snprintf(what, sizeof what, "%.*s", (int)strcspn(fmt, " "), fmt);
    return checked(c, group, r, what);
}

redisReply *ctl_cmd_argv(redisContext *c, const char *group, int argc, const char **argv,
                         const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    return checked(c, group, r, argv[0]);
}

long long ctl_time_ms(redisContext *c, const char *group)
{
    redisReply *r = ctl_cmd(c, group, "TIME");
    if (!r)
        return -1;
    long long ms = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2)
        ms = ctl_int(r->element[0], 0) * 1000 + ctl_int(r->element[1], 0) / 1000;
    freeReplyObject(r);
    if (ms < 0)
        fprintf(stderr, "novactl %s: TIME: unexpected reply\n", group);
    return ms;
}

const redisReply *ctl_field(const redisReply *flat, const char *name)
{
    if (!flat || flat->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *f = flat->element[i];
        if ((f->type == REDIS_REPLY_STRING || f->type == REDIS_REPLY_STATUS) &&
            strcmp(f->str, name) == 0)
            return flat->element[i + 1];
    }
    return NULL;
}

long long ctl_int(const redisReply *r, long long dflt)
{
    if (!r)
        return dflt;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < 24) {
        char *end;
        errno = 0;
        long long v = strtoll(r->str, &end, 10);
        if (!errno && *end == '\0')
            return v;
    }
    return dflt;
}

const char *ctl_str(const redisReply *r, const char *dflt)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : dflt;
}

bool ctl_entry(const redisReply *e, const char **id, const redisReply **fields)
{
    if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    *id = e->element[0]->str;
    *fields = e->element[1];
    return true;
}

int ctl_stream_walk(redisContext *c, const char *group, const char *key, bool newest_first,
                    const char *start, int page, bool (*take)(void *user, const redisReply *e),
                    void *user)
{
    const char *cmd = newest_first ? "XREVRANGE" : "XRANGE";
    char from[48], count[16];
    snprintf(from, sizeof from, "%s", newest_first ? "+" : start);
    snprintf(count, sizeof count, "%d", page);
    for (;;) {
        const char *argv[] = {cmd, key, from, newest_first ? "-" : "+", "COUNT", count};
        redisReply *r = ctl_cmd_argv(c, group, 6, argv, NULL);
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "novactl %s: %s %s: unexpected reply\n", group, cmd, key);
            freeReplyObject(r);
            return -1;
        }
        bool more = r->elements == (size_t)page;
        for (size_t i = 0; i < r->elements; i++) {
            const char *id;
            const redisReply *f;
            if (!take(user, r->element[i])) {
                more = false;
                break;
            }
            if (ctl_entry(r->element[i], &id, &f)) /* exclusive from the last id on (6.2+) */
                snprintf(from, sizeof from, "(%s", id);
        }
        freeReplyObject(r);
        fflush(stdout);
        if (!more || from[0] != '(')
            return 0;
    }
}

/* ---- options ---------------------------------------------------------------------------- */

int ctl_usage_error(const char *group, const char *cmd, const char *synopsis, const char *fmt,
                    ...)
{
    fprintf(stderr, "novactl %s%s%s: ", group, cmd ? " " : "", cmd ? cmd : "");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%sRun 'novactl %s --help' for more.\n", synopsis, group);
    return NOVACTL_USAGE;
}

/* Whether the blank-separated list holds word. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* A whole decimal number in lo..hi, or -1. */
static long number(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || end == s || *end || v < lo || v > hi ? -1 : v;
}

enum {
    O_JSON = 1000, O_COUNT, O_QUEUE, O_ALL, O_LOCAL, O_STRICT, O_DEADLINE, O_OLDER, O_MODEL,
};

int ctl_parse_opts(const char *group, const char *cmd, const char *synopsis, int argc,
                   char **argv, const char *allowed, long count_default, struct ctl_opts *o)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"count", required_argument, NULL, O_COUNT},
        {"queue", required_argument, NULL, O_QUEUE},
        {"all", no_argument, NULL, O_ALL},
        {"local", no_argument, NULL, O_LOCAL},
        {"strict", no_argument, NULL, O_STRICT},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"older-than", required_argument, NULL, O_OLDER},
        {"model-id", required_argument, NULL, O_MODEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->count = count_default;
    o->older_than_s = -1;
    optind = 0; /* glibc: start afresh */
    opterr = 0;
    int ch, idx = -1;
    while ((ch = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
        if (ch == 'h') {
            fputs(synopsis, stdout);
            exit(NOVACTL_OK);
        }
        if (ch == '?' || ch == ':')
            return ctl_usage_error(group, cmd, synopsis, "unknown option or missing value: %s",
                                   argv[optind - 1]);
        const char *name = NULL;
        for (const struct option *lo = longopts; lo->name; lo++)
            if (lo->val == ch)
                name = lo->name;
        if (!name || !has_word(allowed, name))
            return ctl_usage_error(group, cmd, synopsis, "this command takes no --%s",
                                   name ? name : "?");
        switch (ch) {
        case O_JSON: o->json = true; break;
        case O_ALL: o->all = true; break;
        case O_LOCAL: o->local = true; break;
        case O_STRICT: o->strict = true; break;
        case O_COUNT:
            if ((o->count = number(optarg, 1, 100000)) < 0)
                return ctl_usage_error(group, cmd, synopsis,
                                       "--count wants a number from 1 to 100000, not '%s'",
                                       optarg);
            break;
        case O_DEADLINE:
            if ((o->deadline_s = number(optarg, 1, 86400)) < 0)
                return ctl_usage_error(group, cmd, synopsis,
                                       "--deadline wants seconds from 1 to 86400, not '%s'",
                                       optarg);
            break;
        case O_OLDER:
            if ((o->older_than_s = number(optarg, 0, 100L * 86400 * 365)) < 0)
                return ctl_usage_error(group, cmd, synopsis,
                                       "--older-than wants seconds, not '%s'", optarg);
            break;
        case O_QUEUE:
            if (ctl_queue_arg(optarg, &o->queue) < 0)
                return ctl_usage_error(group, cmd, synopsis,
                                       "--queue wants micro, pro, kb or handoff, not '%s'", optarg);
            o->has_queue = true;
            if (o->n_queues < QUEUE_COUNT)
                o->queues[o->n_queues++] = o->queue;
            break;
        case O_MODEL:
            if (!optarg[0] || strlen(optarg) >= sizeof ((struct ctl_job_brief *)0)->model_id)
                return ctl_usage_error(group, cmd, synopsis, "--model-id wants an id%s", "");
            o->model_id = optarg;
            break;
        }
    }
    o->first_arg = optind;
    return 0;
}

/* ---- output ----------------------------------------------------------------------------- */

void ctl_json_print(json_object *root)
{
    struct buf out;
    buf_init(&out, 256u * 1024 * 1024);
    if (json_append_put(root, &out) == 0)
        printf("%s\n", buf_cstr(&out));
    else
        fprintf(stderr, "novactl: the JSON output passed 256 MiB\n");
    buf_free(&out);
}

json_object *ctl_json_string(const char *s, size_t n)
{
    struct buf clean;
    buf_init(&clean, n * 3 + 16);
    utf8_append_sanitized(&clean, s, n);
    json_object *o = json_object_new_string_len(buf_cstr(&clean), (int)clean.len);
    buf_free(&clean);
    return o;
}

static void copy_str(json_object *root, const char *key, char *out, size_t n)
{
    const char *v = json_get_str(root, key, NULL);
    snprintf(out, n, "%s", v ? v : "");
}

void ctl_job_brief(const char *text, size_t len, struct ctl_job_brief *b)
{
    memset(b, 0, sizeof *b);
    if (len > 4 * JOB_MAX_BYTES)
        return;
    json_tokener *tok = json_tokener_new_ex(32);
    json_object *root = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return;
    }
    b->parsed = true;
    copy_str(root, "id", b->id, sizeof b->id);
    copy_str(root, "request", b->request, sizeof b->request);
    copy_str(root, "queue", b->queue, sizeof b->queue);
    copy_str(root, "phase", b->phase, sizeof b->phase);
    copy_str(root, "model", b->model, sizeof b->model);
    copy_str(root, "model_id", b->model_id, sizeof b->model_id);
    copy_str(root, "system_sha256", b->system_sha256, sizeof b->system_sha256);
    b->created_ms = json_get_int(root, "created_ms");
    b->deadline_ms = json_get_int(root, "deadline_ms");
    json_object_put(root);
}

int ctl_dispatch(const char *group, const char *synopsis, void (*help)(void),
                 const struct ctl_cmd *cmds, size_t n, int argc, char **argv,
                 const struct nova_config *cfg)
{
    if (argc < 2)
        return ctl_usage_error(group, NULL, synopsis, "wants a command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        help();
        return NOVACTL_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1, cfg);
    return ctl_usage_error(group, NULL, synopsis, "unknown command '%s'", argv[1]);
}
