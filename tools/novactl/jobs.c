/* novactl jobs: the jobs of one queue that are not done, and everything Redis knows of one job.
 *
 *   novactl jobs pending QUEUE [--count N] [--json]
 *   novactl jobs show [--queue Q] [--json] ID
 *
 * pending lists the queue's pending entries (delivered to a worker, not yet acknowledged:
 * XPENDING, with consumer, idle time and deliveries) and then its waiting ones (queued after
 * the group's last-delivered id: nobody has read them yet), up to N of each (default 100).
 *
 * show takes a job id (<request>-<phase>-<model>) or a stream entry id: where the job is
 * (waiting, pending, done, dead), its fields, its cancel and progress markers, the system
 * prompt it names and whether Redis still has it, and what its request's transcript
 * nova:log:<request> holds for it. A finished job's entry leaves the jobs stream with its XACK
 * and its receipt in nova:done:{queue} (workers/retire.h) says the rest: the entry it was, the
 * worker that finished it, the job without its prompts. A job id is found by a search, newest
 * first, that runs in Redis a batch of entries per call (the job JSON is matched for
 * "id":"<job>"; an entry id in a receipt's "entry" field), so Redis is never held for long. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "ctl.h"
#include "novactl.h"
#include "redis/contract.h"
#include "redis/job.h"

#define SEARCH_BATCH "200"
#define TRANSCRIPT_BATCH 1000

static const char synopsis[] = "usage: novactl jobs pending QUEUE [--count N] [--json]\n"
                               "       novactl jobs show [--queue Q] [--json] ID\n";

static void help(void)
{
    printf("%s\n"
           "  pending  the queue's jobs delivered to a worker and not yet acknowledged\n"
           "           (state pending: consumer, idle_ms, deliveries), then those no worker\n"
           "           has read yet (state waiting); at most N of each (default 100)\n"
           "  show     one job, by job id or stream entry id: its state (waiting, pending,\n"
           "           done, dead), fields, markers and what its transcript holds for it\n"
           "\nQUEUE is micro, pro, kb or handoff. Ages are in ms, by Redis's clock.\n",
           synopsis);
}

/* Compares two entry ids numerically. */
static int entry_cmp(const char *a, const char *b)
{
    unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0;
    unsigned long long bs = bd ? strtoull(bd + 1, NULL, 10) : 0;
    return am != bm ? (am < bm ? -1 : 1) : as != bs ? (as < bs ? -1 : 1) : 0;
}

/* The group's last-delivered id ("" when the queue has no group yet). */
static int last_delivered(redisContext *c, const char *key, char *out, size_t n)
{
    out[0] = '\0';
    redisReply *r = redisCommand(c, "XINFO GROUPS %s", key);
    if (!r || (r->type == REDIS_REPLY_ERROR && !strstr(r->str, "no such key"))) {
        fprintf(stderr, "novactl jobs: XINFO GROUPS %s: %s\n", key, r ? r->str : c->errstr);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (strcmp(ctl_str(ctl_field(r->element[i], "name"), ""), KEYS_GROUP) == 0)
            snprintf(out, n, "%s", ctl_str(ctl_field(r->element[i], "last-delivered-id"), ""));
    freeReplyObject(r);
    return 0;
}

/* The "job" field of an entry's fields, or NULL. */
static const redisReply *job_field(const redisReply *fields)
{
    const redisReply *v = ctl_field(fields, "job");
    return v && v->type == REDIS_REPLY_STRING ? v : NULL;
}

/* ---- pending ---------------------------------------------------------------------------- */

struct listed {
    char entry[48], consumer[80];
    long long idle_ms, deliveries;
    struct ctl_job_brief b;
    bool gone; /* pending, but the entry was trimmed from the stream */
};

static void listed_json(json_object *arr, const struct listed *l, long long now, bool pending)
{
    json_object *o = json_object_new_object();
    long long ms = 0;
    ctl_entry_id_parse(l->entry, &ms);
    json_object_object_add(o, "entry", json_object_new_string(l->entry));
    json_object_object_add(o, "job", l->b.id[0] ? json_object_new_string(l->b.id) : NULL);
    json_object_object_add(o, "request",
                           l->b.request[0] ? json_object_new_string(l->b.request) : NULL);
    json_object_object_add(o, "phase", l->b.phase[0] ? json_object_new_string(l->b.phase) : NULL);
    json_object_object_add(o, "model", l->b.model[0] ? json_object_new_string(l->b.model) : NULL);
    if (pending) {
        json_object_object_add(o, "consumer", json_object_new_string(l->consumer));
        json_object_object_add(o, "idle_ms", json_object_new_int64(l->idle_ms));
        json_object_object_add(o, "deliveries", json_object_new_int64(l->deliveries));
    }
    json_object_object_add(o, "age_ms", json_object_new_int64(now - ms));
    json_object_object_add(o, "deadline_in_ms", l->b.deadline_ms > 0
                                                    ? json_object_new_int64(l->b.deadline_ms - now)
                                                    : NULL);
    json_object_array_add(arr, o);
}

static void listed_text(const struct listed *l, long long now, bool pending)
{
    long long ms = 0;
    ctl_entry_id_parse(l->entry, &ms);
    printf("%s %s job=%s", pending ? "pending" : "waiting", l->entry,
           l->b.id[0] ? l->b.id : l->gone ? "(trimmed)" : "(unreadable)");
    if (pending)
        printf(" consumer=%s idle_ms=%lld deliveries=%lld", l->consumer, l->idle_ms,
               l->deliveries);
    printf(" age_ms=%lld", now - ms);
    if (l->b.deadline_ms > 0)
        printf(" deadline_in_ms=%lld", l->b.deadline_ms - now);
    printf("\n");
}

static int cmd_pending(int argc, char **argv, const struct nova_config *cfg)
{
    struct ctl_opts o;
    int rc = ctl_parse_opts("jobs", "pending", synopsis, argc, argv, "json count", 100, &o);
    if (rc)
        return rc;
    enum queue q;
    if (argc - o.first_arg != 1 || ctl_queue_arg(argv[o.first_arg], &q) < 0)
        return ctl_usage_error("jobs", "pending", synopsis, "wants one queue: micro, pro, kb or handoff");
    const char *queue = queue_name(q);
    char key[KEY_MAX], last[64];
    key_jobs(key, sizeof key, q);
    redisContext *c = ctl_connect(cfg, "jobs");
    if (!c)
        return NOVACTL_FAIL;
    long long now = ctl_time_ms(c, "jobs");
    if (now < 0 || last_delivered(c, key, last, sizeof last) < 0) {
        redisFree(c);
        return NOVACTL_FAIL;
    }
    struct listed *pend = NULL, *wait = NULL;
    size_t n_pend = 0, n_wait = 0;
    redisReply *r;
    if (last[0]) { /* a group exists: its pending entries, then the entries after it */
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%ld", o.count);
        if (!(r = ctl_cmd(c, "jobs", "XPENDING %s %s - + %s", key, KEYS_GROUP, cnt)))
            goto fail;
        pend = xcalloc(r->elements ? r->elements : 1, sizeof *pend);
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const redisReply *p = r->element[i];
            if (p->type != REDIS_REPLY_ARRAY || p->elements != 4)
                continue;
            struct listed *l = &pend[n_pend++];
            snprintf(l->entry, sizeof l->entry, "%s", ctl_str(p->element[0], "?"));
            snprintf(l->consumer, sizeof l->consumer, "%s", ctl_str(p->element[1], "?"));
            l->idle_ms = ctl_int(p->element[2], 0);
            l->deliveries = ctl_int(p->element[3], 0);
        }
        freeReplyObject(r);
        for (size_t i = 0; i < n_pend; i++)
            redisAppendCommand(c, "XRANGE %s %s %s", key, pend[i].entry, pend[i].entry);
        for (size_t i = 0; i < n_pend; i++) {
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
                fprintf(stderr, "novactl jobs: XRANGE: %s\n", c->errstr);
                goto fail;
            }
            const char *id;
            const redisReply *fields, *job;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                ctl_entry(r->element[0], &id, &fields) && (job = job_field(fields)))
                ctl_job_brief(job->str, job->len, &pend[i].b);
            else
                pend[i].gone = true;
            freeReplyObject(r);
        }
    }
    char start[80];
    snprintf(start, sizeof start, "%s%s", last[0] ? "(" : "", last[0] ? last : "-");
    if (!(r = ctl_cmd(c, "jobs", "XRANGE %s %s + COUNT %ld", key, start, o.count)))
        goto fail;
    wait = xcalloc(r->elements ? r->elements : 1, sizeof *wait);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *id;
        const redisReply *fields, *job;
        if (!ctl_entry(r->element[i], &id, &fields))
            continue;
        struct listed *l = &wait[n_wait++];
        snprintf(l->entry, sizeof l->entry, "%s", id);
        if ((job = job_field(fields)))
            ctl_job_brief(job->str, job->len, &l->b);
    }
    freeReplyObject(r);

    if (o.json) {
        json_object *root = json_object_new_object(), *pa = json_object_new_array(),
                    *wa = json_object_new_array();
        json_object_object_add(root, "queue", json_object_new_string(queue));
        json_object_object_add(root, "time_ms", json_object_new_int64(now));
        for (size_t i = 0; i < n_pend; i++)
            listed_json(pa, &pend[i], now, true);
        for (size_t i = 0; i < n_wait; i++)
            listed_json(wa, &wait[i], now, false);
        json_object_object_add(root, "pending", pa);
        json_object_object_add(root, "waiting", wa);
        ctl_json_print(root);
    } else {
        for (size_t i = 0; i < n_pend; i++)
            listed_text(&pend[i], now, true);
        for (size_t i = 0; i < n_wait; i++)
            listed_text(&wait[i], now, false);
        fprintf(stderr, "%s: %zu pending, %zu waiting shown (at most %ld of each)\n", queue,
                n_pend, n_wait, o.count);
    }
    free(pend);
    free(wait);
    redisFree(c);
    return NOVACTL_OK;
fail:
    free(pend);
    free(wait);
    redisFree(c);
    return NOVACTL_FAIL;
}

/* ---- show ------------------------------------------------------------------------------- */

/* KEYS[1] a stream; ARGV[1] the text to find in field ARGV[4] (anywhere in it, or the whole
 * of it when ARGV[5] is "exact"), ARGV[2] where to go on from ("+" or an entry id, exclusive),
 * ARGV[3] batch size. Newest first. Returns {found id or "", the next start or "" at the
 * end}. */
static const char SEARCH_LUA[] =
    "local start = ARGV[2]\n"
    "if start ~= '+' then start = '(' .. start end\n"
    "local r = redis.call('XREVRANGE', KEYS[1], start, '-', 'COUNT', ARGV[3])\n"
    "for _, e in ipairs(r) do\n"
    "  local f = e[2]\n"
    "  for k = 1, #f, 2 do\n"
    "    if f[k] == ARGV[4] and (f[k + 1] == ARGV[1] or\n"
    "        (ARGV[5] ~= 'exact' and string.find(f[k + 1], ARGV[1], 1, true))) then\n"
    "      return {e[1], ''}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #r < tonumber(ARGV[3]) then return {'', ''} end\n"
    "return {'', r[#r][1]}\n";

/* The newest entry of key whose field holds needle (exact: is it), into found ("" when
 * none). */
static int search_field(redisContext *c, const char *key, const char *fname, const char *needle,
                        bool exact, char *found, size_t n)
{
    char from[64] = "+";
    found[0] = '\0';
    while (from[0]) {
        const char *argv[] = {"EVAL", SEARCH_LUA, "1", key, needle, from, SEARCH_BATCH, fname,
                              exact ? "exact" : "in"};
        redisReply *r = ctl_cmd_argv(c, "jobs", 9, argv, NULL);
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            fprintf(stderr, "novactl jobs: search: unexpected reply\n");
            return -1;
        }
        snprintf(found, n, "%s", ctl_str(r->element[0], ""));
        snprintf(from, sizeof from, "%s", found[0] ? "" : ctl_str(r->element[1], ""));
        freeReplyObject(r);
    }
    return 0;
}

/* The newest entry of key whose job has this id. */
static int search(redisContext *c, const char *key, const char *job_id, char *found, size_t n)
{
    char needle[JOB_ID_MAX + 16];
    snprintf(needle, sizeof needle, "\"id\":\"%s\"", job_id);
    return search_field(c, key, "job", needle, false, found, n);
}

/* One entry of key by id: the reply (caller frees) and its job field, or NULL when absent. */
static redisReply *fetch(redisContext *c, const char *key, const char *entry,
                         const redisReply **fields)
{
    redisReply *r = ctl_cmd(c, "jobs", "XRANGE %s %s %s", key, entry, entry);
    const char *id;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        ctl_entry(r->element[0], &id, fields))
        return r;
    if (r)
        freeReplyObject(r);
    return NULL;
}

struct shown {
    enum queue queue;
    char entry[48], state[16], consumer[80];
    char receipt[48], done_by[80];          /* its receipt in nova:done:{queue}, when done */
    int prompt_stored;                      /* named prompt in Redis: 1, 0; -1 not asked */
    long long idle_ms, deliveries;
    struct ctl_job_brief b;
    char dead_entry[48], dead_reason[512], dead_code[32], dead_worker[80];
    long long dead_failed_ms;
    bool canceled, progress;
    char log_key[KEY_MAX];
    long long log_events, deltas;
    char end[16], end_code[32];
};

/* What the transcript holds for this job: its deltas and its last ending event. */
static int transcript(redisContext *c, struct shown *s)
{
    key_log(s->log_key, sizeof s->log_key, s->b.request);
    redisReply *r = ctl_cmd(c, "jobs", "XLEN %s", s->log_key);
    if (!r)
        return -1;
    s->log_events = ctl_int(r, 0);
    freeReplyObject(r);
    bool kb = s->queue == QUEUE_KB;
    char from[64] = "-";
    for (;;) {
        char cnt[16], prev[64];
        snprintf(cnt, sizeof cnt, "%d", TRANSCRIPT_BATCH);
        memcpy(prev, from, sizeof prev);
        if (!(r = ctl_cmd(c, "jobs", "XRANGE %s %s + COUNT %s", s->log_key, from, cnt)))
            return -1;
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < n; i++) {
            const char *id;
            const redisReply *fields;
            if (!ctl_entry(r->element[i], &id, &fields))
                continue;
            snprintf(from, sizeof from, "(%s", id);
            const char *t = ctl_str(ctl_field(fields, "t"), "");
            const redisReply *d = ctl_field(fields, "d");
            if (!d || d->type != REDIS_REPLY_STRING)
                continue;
            bool delta = strcmp(t, "delta") == 0;
            bool end = strcmp(t, "model_done") == 0 || strcmp(t, "error") == 0 ||
                       strcmp(t, "passages") == 0;
            if (!delta && !end)
                continue;
            json_object *o = json_tokener_parse(d->str), *v;
            const char *ph = "", *mo = "", *code = "";
            if (o && json_object_object_get_ex(o, "phase", &v))
                ph = json_object_get_string(v);
            if (o && json_object_object_get_ex(o, "model", &v))
                mo = json_object_get_string(v);
            if (o && json_object_object_get_ex(o, "code", &v))
                code = json_object_get_string(v);
            /* A kb job has its own transcript (<request>.kb); a model job shares its request's
             * with the other models and phases. */
            if (kb || (strcmp(ph, s->b.phase) == 0 && strcmp(mo, s->b.model) == 0)) {
                if (delta) {
                    s->deltas++;
                } else {
                    snprintf(s->end, sizeof s->end, "%s", t);
                    snprintf(s->end_code, sizeof s->end_code, "%s", code);
                }
            }
            json_object_put(o);
        }
        freeReplyObject(r);
        if (n < TRANSCRIPT_BATCH || strcmp(from, prev) == 0)
            return 0;
    }
}

/* Fills s from the queue's jobs stream entry (and the group's view of it). */
static int show_entry(redisContext *c, struct shown *s, const char *key)
{
    const redisReply *fields, *job;
    redisReply *r = fetch(c, key, s->entry, &fields);
    if (!r)
        return -1;
    if ((job = job_field(fields)))
        ctl_job_brief(job->str, job->len, &s->b);
    freeReplyObject(r);
    char last[64];
    if (last_delivered(c, key, last, sizeof last) < 0)
        return -1;
    if (!last[0] || entry_cmp(s->entry, last) > 0) {
        snprintf(s->state, sizeof s->state, "waiting");
        return 0;
    }
    if (!(r = ctl_cmd(c, "jobs", "XPENDING %s %s %s %s 1", key, KEYS_GROUP, s->entry, s->entry)))
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 4) {
        const redisReply *p = r->element[0];
        snprintf(s->state, sizeof s->state, "pending");
        snprintf(s->consumer, sizeof s->consumer, "%s", ctl_str(p->element[1], "?"));
        s->idle_ms = ctl_int(p->element[2], 0);
        s->deliveries = ctl_int(p->element[3], 0);
    } else {
        snprintf(s->state, sizeof s->state, "done");
    }
    freeReplyObject(r);
    return 0;
}

/* Fills s from a finished job's receipt: the job's brief, the entry it was, its worker. */
static int show_receipt(redisContext *c, struct shown *s, const char *rkey)
{
    const redisReply *fields, *job;
    redisReply *r = fetch(c, rkey, s->receipt, &fields);
    if (!r)
        return -1;
    if ((job = job_field(fields)))
        ctl_job_brief(job->str, job->len, &s->b);
    snprintf(s->entry, sizeof s->entry, "%s", ctl_str(ctl_field(fields, "entry"), ""));
    snprintf(s->done_by, sizeof s->done_by, "%s", ctl_str(ctl_field(fields, "worker"), ""));
    snprintf(s->state, sizeof s->state, "done");
    freeReplyObject(r);
    return 0;
}

static void show_dead(redisContext *c, struct shown *s, const char *dkey)
{
    const redisReply *fields, *job;
    redisReply *r = fetch(c, dkey, s->dead_entry, &fields);
    if (!r)
        return;
    if (!s->b.parsed && (job = job_field(fields)))
        ctl_job_brief(job->str, job->len, &s->b);
    snprintf(s->dead_reason, sizeof s->dead_reason, "%s", ctl_str(ctl_field(fields, "reason"), ""));
    snprintf(s->dead_code, sizeof s->dead_code, "%s", ctl_str(ctl_field(fields, "code"), ""));
    snprintf(s->dead_worker, sizeof s->dead_worker, "%s", ctl_str(ctl_field(fields, "worker"), ""));
    s->dead_failed_ms = ctl_int(ctl_field(fields, "failed_ms"), 0);
    if (!s->entry[0])
        snprintf(s->state, sizeof s->state, "dead");
    freeReplyObject(r);
}

static void print_shown(const struct shown *s, long long now, bool json)
{
    long long ms = 0;
    if (s->entry[0])
        ctl_entry_id_parse(s->entry, &ms);
    if (json) {
        json_object *o = json_object_new_object();
#define STR(k, v) json_object_object_add(o, k, (v)[0] ? json_object_new_string(v) : NULL)
#define INT(k, v) json_object_object_add(o, k, json_object_new_int64(v))
        STR("job", s->b.id);
        STR("queue", queue_name(s->queue));
        STR("state", s->state);
        STR("entry", s->entry);
        if (strcmp(s->state, "pending") == 0) {
            STR("consumer", s->consumer);
            INT("idle_ms", s->idle_ms);
            INT("deliveries", s->deliveries);
        }
        STR("done_by", s->done_by);
        STR("receipt", s->receipt);
        STR("request", s->b.request);
        STR("phase", s->b.phase);
        STR("model", s->b.model);
        STR("model_id", s->b.model_id);
        STR("system_sha256", s->b.system_sha256);
        if (s->prompt_stored >= 0)
            json_object_object_add(o, "system_prompt_stored",
                                   json_object_new_boolean(s->prompt_stored));
        json_object_object_add(o, "age_ms", s->b.created_ms > 0
                                                ? json_object_new_int64(now - s->b.created_ms)
                                                : NULL);
        json_object_object_add(o, "deadline_in_ms",
                               s->b.deadline_ms > 0 ? json_object_new_int64(s->b.deadline_ms - now)
                                                    : NULL);
        if (s->dead_entry[0]) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "entry", json_object_new_string(s->dead_entry));
            json_object_object_add(d, "reason", ctl_json_string(s->dead_reason,
                                                                strlen(s->dead_reason)));
            json_object_object_add(d, "code", json_object_new_string(s->dead_code));
            json_object_object_add(d, "worker", json_object_new_string(s->dead_worker));
            json_object_object_add(d, "failed_ms", json_object_new_int64(s->dead_failed_ms));
            json_object_object_add(o, "dead_letter", d);
        }
        json_object_object_add(o, "canceled_marker", json_object_new_boolean(s->canceled));
        json_object_object_add(o, "progress_marker", json_object_new_boolean(s->progress));
        STR("transcript", s->log_key);
        INT("transcript_events", s->log_events);
        INT("transcript_deltas", s->deltas);
        STR("transcript_end", s->end);
        STR("transcript_end_code", s->end_code);
#undef STR
#undef INT
        ctl_json_print(o);
        return;
    }
    printf("job: %s\nqueue: %s\nstate: %s\n", s->b.id[0] ? s->b.id : "(unreadable)", queue_name(s->queue),
           s->state);
    if (s->entry[0])
        printf("entry: %s\nqueued_age_ms: %lld\n", s->entry, now - ms);
    if (strcmp(s->state, "pending") == 0)
        printf("consumer: %s\nidle_ms: %lld\ndeliveries: %lld\n", s->consumer, s->idle_ms,
               s->deliveries);
    if (s->done_by[0])
        printf("done_by: %s\nreceipt: %s\n", s->done_by, s->receipt);
    printf("request: %s\nphase: %s\nmodel: %s\nmodel_id: %s\n", s->b.request, s->b.phase,
           s->b.model, s->b.model_id);
    if (s->b.system_sha256[0])
        printf("system_sha256: %s\nsystem_prompt: %s\n", s->b.system_sha256,
               s->prompt_stored > 0 ? "stored" : s->prompt_stored == 0 ? "missing" : "unknown");
    if (s->b.created_ms > 0)
        printf("age_ms: %lld\ndeadline_in_ms: %lld\n", now - s->b.created_ms,
               s->b.deadline_ms - now);
    if (s->dead_entry[0])
        printf("dead_entry: %s\ndead_code: %s\ndead_reason: %s\ndead_worker: %s\n"
               "dead_age_ms: %lld\n",
               s->dead_entry, s->dead_code, s->dead_reason, s->dead_worker,
               s->dead_failed_ms > 0 ? now - s->dead_failed_ms : 0);
    printf("canceled_marker: %s\nprogress_marker: %s\n", s->canceled ? "yes" : "no",
           s->progress ? "yes" : "no");
    if (s->log_key[0])
        printf("transcript: %s\ntranscript_events: %lld\ntranscript_deltas: %lld\n"
               "transcript_end: %s\n",
               s->log_key, s->log_events, s->deltas, s->end[0] ? s->end : "none");
    if (s->end_code[0])
        printf("transcript_end_code: %s\n", s->end_code);
}

static int cmd_show(int argc, char **argv, const struct nova_config *cfg)
{
    struct ctl_opts o;
    int rc = ctl_parse_opts("jobs", "show", synopsis, argc, argv, "json queue", 1, &o);
    if (rc)
        return rc;
    if (argc - o.first_arg != 1)
        return ctl_usage_error("jobs", "show", synopsis, "wants one job id or entry id");
    const char *id = argv[o.first_arg];
    bool by_entry = ctl_entry_id_parse(id, NULL);
    if (!by_entry && (strlen(id) >= JOB_ID_MAX || !job_id_valid(id, strlen(id))))
        return ctl_usage_error("jobs", "show", synopsis,
                               "'%s' is neither a job id ([A-Za-z0-9_.:-]) nor an entry id", id);
    redisContext *c = ctl_connect(cfg, "jobs");
    if (!c)
        return NOVACTL_FAIL;
    long long now = ctl_time_ms(c, "jobs");
    if (now < 0) {
        redisFree(c);
        return NOVACTL_FAIL;
    }
    struct shown s;
    bool found = false;
    for (enum queue qi = 0; qi < QUEUE_COUNT && !found && rc == 0; qi++) {
        if (o.has_queue && o.queue != qi)
            continue;
        memset(&s, 0, sizeof s);
        s.queue = qi;
        s.prompt_stored = -1;
        char key[KEY_MAX], dkey[KEY_MAX], rkey[KEY_MAX];
        key_jobs(key, sizeof key, s.queue);
        key_dead(dkey, sizeof dkey, s.queue);
        key_done(rkey, sizeof rkey, s.queue);
        if (by_entry) {
            const redisReply *fields;
            redisReply *r = fetch(c, key, id, &fields);
            if (r) {
                freeReplyObject(r);
                snprintf(s.entry, sizeof s.entry, "%s", id);
            } else if (search_field(c, rkey, "entry", id, true, s.receipt,
                                    sizeof s.receipt) < 0) {
                rc = NOVACTL_FAIL;
                break;
            }
        } else if (search(c, key, id, s.entry, sizeof s.entry) < 0 ||
                   search(c, dkey, id, s.dead_entry, sizeof s.dead_entry) < 0 ||
                   (!s.entry[0] && search(c, rkey, id, s.receipt, sizeof s.receipt) < 0)) {
            rc = NOVACTL_FAIL;
            break;
        }
        if (s.entry[0] && show_entry(c, &s, key) < 0) {
            rc = NOVACTL_FAIL;
            break;
        }
        if (!s.entry[0] && s.receipt[0] && show_receipt(c, &s, rkey) < 0) {
            rc = NOVACTL_FAIL;
            break;
        }
        if (s.dead_entry[0])
            show_dead(c, &s, dkey);
        found = s.entry[0] || s.dead_entry[0] || s.receipt[0];
    }
    if (found && s.b.id[0] && job_id_valid(s.b.id, strlen(s.b.id))) {
        char k1[KEY_MAX], k2[KEY_MAX];
        key_canceled(k1, sizeof k1, s.b.id);
        key_progress(k2, sizeof k2, s.b.id);
        redisReply *r = ctl_cmd(c, "jobs", "EXISTS %s", k1);
        s.canceled = r && ctl_int(r, 0) > 0;
        if (r)
            freeReplyObject(r);
        r = ctl_cmd(c, "jobs", "EXISTS %s", k2);
        s.progress = r && ctl_int(r, 0) > 0;
        if (r)
            freeReplyObject(r);
        if (job_sha256_valid(s.b.system_sha256, strlen(s.b.system_sha256)) &&
            key_prompt(k1, sizeof k1, s.b.system_sha256) == 0 &&
            (r = ctl_cmd(c, "jobs", "EXISTS %s", k1))) {
            s.prompt_stored = ctl_int(r, 0) > 0;
            freeReplyObject(r);
        }
        if (s.b.request[0] && job_id_valid(s.b.request, strlen(s.b.request)) &&
            transcript(c, &s) < 0)
            rc = NOVACTL_FAIL;
    }
    redisFree(c);
    if (rc)
        return rc;
    if (!found) {
        fprintf(stderr, "novactl jobs show: %s: no such %s in %s%s\n", id,
                by_entry ? "entry" : "job", o.has_queue ? "queue " : "any queue",
                o.has_queue ? queue_name(o.queue)
                            : " (jobs streams, their receipts and dead letters)");
        return NOVACTL_FAIL;
    }
    print_shown(&s, now, o.json);
    return NOVACTL_OK;
}

int novactl_jobs(int argc, char **argv, const struct nova_config *cfg)
{
    static const struct ctl_cmd cmds[] = {{"pending", cmd_pending}, {"show", cmd_show}};
    return ctl_dispatch("jobs", synopsis, help, cmds, sizeof cmds / sizeof cmds[0], argc, argv,
                        cfg);
}
