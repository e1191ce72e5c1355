/* novactl dead: the dead letters (nova:dead:{queue}): jobs that failed for good.
 *
 *   novactl dead list [QUEUE] [--count N] [--json]
 *   novactl dead retry QUEUE (ID... | --all) [--deadline S] [--model-id ID] [--json]
 *   novactl dead purge QUEUE (ID... | --all | --older-than S) [--json]
 *
 * A worker writes a dead letter (fields job, reason, code, worker, failed_ms, entry) for a job
 * that was unreadable, failed with an error that is not retryable, ran out of retries or time,
 * or was delivered too often (workers/worker.h). IDs are the dead letters' own entry ids.
 *
 * retry puts the job back on its queue as a new job entry, in one Lua script over the queue's
 * two streams (same hash slot): XDEL of the dead letter, then XADD of the job, so a letter is
 * re-queued once even when two operators retry it at the same time. The job is rewritten
 * first: a job carries created_ms and deadline_ms, and a worker drops a job past its deadline
 * unread ("timeout"), so created_ms becomes now (Redis's clock) and deadline_ms now plus the
 * job's own span (deadline_ms - created_ms; NOVA_JOB_DEADLINE_SECONDS when that is not
 * sensible), or --deadline S. --model-id replaces the model id (a wrong NOVA_*_MODEL, since
 * fixed). The job's cancel marker (nova:canceled:<job>), progress marker (nova:progress:<job>)
 * and fence (its field in nova:seq:<request>) are deleted before: the operator asks for it to run, and a stale
 * progress marker would make a reclaim of the new run answer worker_lost instead of running it.
 * A job that does not parse, or whose queue is not QUEUE, is not retried. The new run appends
 * to the request's transcript nova:log:<request> and publishes on nova:out:<job> as the first
 * did; the page that asked has long been told the error, so a retry serves the transcript
 * (audit, a resume) rather than that page. With --all, only the letters present when the
 * command starts are retried: a job that dies again is not retried in a loop.
 *
 * A handoff letter (queue handoff) is different: its job is the very document a handoff worker
 * POSTs to NOVA_HANDOFF_URL (workers/handoff.h) — no model, no deadline, no markers — and the
 * signature the worker computes covers those bytes. list shows its handoff_id and request_id
 * as the job and request; retry re-queues the document byte for byte (same handoff_id, so a
 * receiver that dedupes on it sees one handoff), through the same XDEL-then-XADD script, so a
 * letter is delivered again once however many operators retry it. --deadline and --model-id
 * are refused there (a handoff's tries are NOVA_HANDOFF_MAX_ATTEMPTS, counted afresh).
 *
 * purge deletes letters by id; --all every letter present when the command starts;
 * --older-than S those written more than S seconds ago (by the ms in their entry id). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "ctl.h"
#include "novactl.h"
#include "redis/contract.h"
#include "redis/job.h"

#define BATCH 100

static const char synopsis[] =
    "usage: novactl dead list [QUEUE] [--count N] [--json]\n"
    "       novactl dead retry QUEUE (ID... | --all) [--deadline S] [--model-id ID] [--json]\n"
    "       novactl dead purge QUEUE (ID... | --all | --older-than S) [--json]\n";

static void help(void)
{
    printf("%s\n"
           "  list   dead letters, newest first, at most N per queue (default 100)\n"
           "  retry  queue the letters' jobs again, with a fresh created_ms and deadline_ms\n"
           "         (the job's own span, or --deadline S) and their cancel and progress\n"
           "         markers cleared; --model-id replaces the job's model id\n"
           "  purge  delete letters: by id, --all, or --older-than S seconds\n"
           "\nQUEUE is micro, pro, kb or handoff; IDs are the letters' entry ids (see list).\n"
           "A handoff letter is re-queued as it was (the same document and handoff_id, signed\n"
           "again by the worker); --deadline and --model-id do not apply to it.\n",
           synopsis);
}

/* ---- list ------------------------------------------------------------------------------- */

/* Control characters of a reason become blanks: one letter, one line. */
static void one_line(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++)
        out[i] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' : in[i];
    out[i] = '\0';
}

/* A handoff letter's job is the document itself: its handoff_id and request_id stand for a
 * job's id and request (leniently, as ctl_job_brief reads a model job). */
static void handoff_brief(const char *text, size_t len, struct ctl_job_brief *b)
{
    memset(b, 0, sizeof *b);
    if (len > HANDOFF_DOC_MAX_BYTES)
        return;
    json_tokener *tok = json_tokener_new_ex(32);
    json_object *root = tok ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    if (tok)
        json_tokener_free(tok);
    json_object *v;
    if (root && json_object_is_type(root, json_type_object)) {
        b->parsed = true;
        if (json_object_object_get_ex(root, "handoff_id", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(b->id, sizeof b->id, "%s", json_object_get_string(v));
        if (json_object_object_get_ex(root, "request_id", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(b->request, sizeof b->request, "%s", json_object_get_string(v));
    }
    json_object_put(root);
}

static int list_queue(redisContext *c, enum queue q, long count, long long now,
                      json_object *arr)
{
    char key[KEY_MAX];
    const char *queue = queue_name(q);
    key_dead(key, sizeof key, q);
    redisReply *len = ctl_cmd(c, "dead", "XLEN %s", key);
    if (!len)
        return -1;
    long long total = ctl_int(len, 0);
    freeReplyObject(len);
    redisReply *r = ctl_cmd(c, "dead", "XREVRANGE %s + - COUNT %ld", key, count);
    if (!r)
        return -1;
    size_t shown = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const char *id;
        const redisReply *f, *job;
        if (!ctl_entry(r->element[i], &id, &f))
            continue;
        struct ctl_job_brief b;
        memset(&b, 0, sizeof b);
        if ((job = ctl_field(f, "job")) && job->type == REDIS_REPLY_STRING) {
            if (q == QUEUE_HANDOFF)
                handoff_brief(job->str, job->len, &b);
            else
                ctl_job_brief(job->str, job->len, &b);
        }
        const char *reason = ctl_str(ctl_field(f, "reason"), "");
        const char *code = ctl_str(ctl_field(f, "code"), "");
        const char *worker = ctl_str(ctl_field(f, "worker"), "");
        long long failed = ctl_int(ctl_field(f, "failed_ms"), 0);
        shown++;
        if (arr) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "queue", json_object_new_string(queue));
            json_object_object_add(o, "id", json_object_new_string(id));
            json_object_object_add(o, "job", b.id[0] ? json_object_new_string(b.id) : NULL);
            json_object_object_add(o, "request",
                                   b.request[0] ? json_object_new_string(b.request) : NULL);
            json_object_object_add(o, "job_parses", json_object_new_boolean(b.parsed));
            json_object_object_add(o, "code", ctl_json_string(code, strlen(code)));
            json_object_object_add(o, "reason", ctl_json_string(reason, strlen(reason)));
            json_object_object_add(o, "worker", ctl_json_string(worker, strlen(worker)));
            json_object_object_add(o, "failed_ms", json_object_new_int64(failed));
            json_object_object_add(o, "age_ms", json_object_new_int64(failed > 0 ? now - failed
                                                                                   : 0));
            json_object_object_add(o, "entry",
                                   json_object_new_string(ctl_str(ctl_field(f, "entry"), "")));
            json_object_array_add(arr, o);
        } else {
            char line[1024];
            one_line(reason, line, sizeof line);
            printf("%s %s %s=%s code=%s age_ms=%lld worker=%s reason=%s\n", queue, id,
                   q == QUEUE_HANDOFF ? "handoff" : "job", b.id[0] ? b.id : "(unreadable)", code,
                   failed > 0 ? now - failed : 0, worker, line);
        }
    }
    freeReplyObject(r);
    if (!arr)
        fprintf(stderr, "%s: %lld dead letter%s, %zu shown\n", queue, total,
                total == 1 ? "" : "s", shown);
    return 0;
}

static int cmd_list(int argc, char **argv, const struct nova_config *cfg)
{
    struct ctl_opts o;
    int rc = ctl_parse_opts("dead", "list", synopsis, argc, argv, "json count", 100, &o);
    if (rc)
        return rc;
    int n_args = argc - o.first_arg;
    enum queue only = QUEUE_COUNT;
    if (n_args > 1 || (n_args == 1 && ctl_queue_arg(argv[o.first_arg], &only) < 0))
        return ctl_usage_error("dead", "list", synopsis,
                               "wants at most one queue: micro, pro, kb or handoff");
    redisContext *c = ctl_connect(cfg, "dead");
    if (!c)
        return NOVACTL_FAIL;
    long long now = ctl_time_ms(c, "dead");
    json_object *arr = o.json ? json_object_new_array() : NULL;
    rc = now < 0 ? -1 : 0;
    for (enum queue q = 0; q < QUEUE_COUNT && rc == 0; q++)
        if (n_args == 0 || q == only)
            rc = list_queue(c, q, o.count, now, arr);
    redisFree(c);
    if (rc < 0) {
        json_object_put(arr);
        return NOVACTL_FAIL;
    }
    if (arr) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "time_ms", json_object_new_int64(now));
        json_object_object_add(root, "dead", arr);
        ctl_json_print(root);
    }
    return NOVACTL_OK;
}

/* ---- retry ------------------------------------------------------------------------------ */

/* KEYS[1] the dead letters, KEYS[2] the jobs stream of the same queue (one hash slot);
 * ARGV[1] the letter's id, ARGV[2] the job JSON, ARGV[3] the jobs stream's MAXLEN ~.
 * Returns the new entry id, or nil when the letter is gone (retried or purged meanwhile). */
static const char RETRY_LUA[] =
    "if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return false end\n"
    "return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'job', ARGV[2])\n";

struct retry_ctx {
    redisContext *c;
    const struct nova_config *cfg;
    const struct ctl_opts *o;
    enum queue queue;
    char dkey[KEY_MAX], jkey[KEY_MAX];
    json_object *done, *failed; /* --json */
    int n_done, n_failed;
};

/* The job text of a letter rewritten for its new run (see the file's comment), into out.
 * Returns 0, or -1 with errstr. */
static int rewrite(const struct retry_ctx *x, const redisReply *job, long long now,
                   struct buf *out, struct job *parsed, long long *span_out, char *errstr,
                   size_t errlen)
{
    json_tokener *tok = json_tokener_new_ex(32);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = job->len <= 2 * JOB_MAX_BYTES
                            ? json_tokener_parse_ex(tok, job->str, (int)job->len) : NULL;
    json_tokener_free(tok);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        snprintf(errstr, errlen, "its job is not JSON: nothing to run (purge it)");
        return -1;
    }
    json_object *v;
    long long created = json_object_object_get_ex(root, "created_ms", &v) ? json_object_get_int64(v) : 0;
    long long deadline = json_object_object_get_ex(root, "deadline_ms", &v) ? json_object_get_int64(v) : 0;
    long long span = deadline - created;
    if (x->o->deadline_s > 0)
        span = x->o->deadline_s * 1000;
    else if (span <= 0 || span > 86400LL * 1000)
        span = x->cfg->job_deadline_s * 1000;
    json_object_object_add(root, "created_ms", json_object_new_int64(now));
    json_object_object_add(root, "deadline_ms", json_object_new_int64(now + span));
    if (x->o->model_id) {
        if (!json_object_object_get_ex(root, "model_id", NULL)) {
            json_object_put(root);
            snprintf(errstr, errlen, "--model-id: this job has no model id (a kb job)");
            return -1;
        }
        json_object_object_add(root, "model_id", json_object_new_string(x->o->model_id));
    }
    int rc = json_append_put(root, out);
    if (rc < 0) {
        snprintf(errstr, errlen, "the rewritten job is too large");
        return -1;
    }
    char err[256];
    if (job_from_json(out->data, out->len, parsed, err, sizeof err) < 0) {
        snprintf(errstr, errlen, "its job does not parse: %s (purge it)", err);
        return -1;
    }
    *span_out = span;
    return 0;
}

/* XDEL of letter id and XADD of text on the queue, in one step (RETRY_LUA). Returns the new
 * entry's reply (the caller frees it), or NULL with *why set. */
static redisReply *requeue(struct retry_ctx *x, const char *id, const char *text, size_t len,
                           const char **why)
{
    char trim[24];
    snprintf(trim, sizeof trim, "%ld", x->cfg->max_queue_depth * 2 + 1000);
    const char *argv[] = {"EVAL", RETRY_LUA, "2", x->dkey, x->jkey, id, text, trim};
    size_t lens[] = {4, strlen(RETRY_LUA), 1, strlen(x->dkey), strlen(x->jkey), strlen(id),
                     len, strlen(trim)};
    redisReply *r = ctl_cmd_argv(x->c, "dead", 8, argv, lens);
    if (!r) {
        *why = "Redis failed";
        return NULL;
    }
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        *why = "the letter went meanwhile (retried or purged)";
        return NULL;
    }
    return r;
}

/* A handoff letter: its document re-queued byte for byte (see the file's comment) once it is
 * seen to be one. Returns NULL, or why not (static or in err). */
static const char *retry_handoff(struct retry_ctx *x, const char *id, const redisReply *job,
                                 char *err, size_t errlen)
{
    if (x->o->deadline_s > 0 || x->o->model_id)
        return "--deadline and --model-id do not apply to a handoff (it has neither)";
    json_tokener *tok = json_tokener_new_ex(32);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = job->len <= HANDOFF_DOC_MAX_BYTES
                            ? json_tokener_parse_ex(tok, job->str, (int)job->len) : NULL;
    bool whole = root && json_tokener_get_parse_end(tok) == (size_t)job->len;
    json_tokener_free(tok);
    json_object *v;
    char hid[160] = "";
    if (whole && json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "handoff_id", &v) &&
        json_object_is_type(v, json_type_string) &&
        job_id_valid(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
        snprintf(hid, sizeof hid, "%s", json_object_get_string(v));
    json_object_put(root);
    if (!hid[0]) {
        snprintf(err, errlen, "its job is not a handoff document (a JSON object with a "
                 "handoff_id): nothing to deliver (purge it)");
        return err;
    }
    const char *why = NULL;
    redisReply *r = requeue(x, id, job->str, (size_t)job->len, &why);
    if (!r)
        return why;
    x->n_done++;
    if (x->done) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "job", json_object_new_string(hid));
        json_object_object_add(o, "handoff_id", json_object_new_string(hid));
        json_object_object_add(o, "entry", json_object_new_string(r->str));
        json_object_array_add(x->done, o);
    } else {
        printf("retried %s handoff=%s entry=%s\n", id, hid, r->str);
    }
    freeReplyObject(r);
    return NULL;
}

/* Re-queues one letter. Returns NULL, or why it was not re-queued (static or in err). */
static const char *retry_letter(struct retry_ctx *x, const char *id, char *err, size_t errlen)
{
    const char *eid;
    const redisReply *fields, *job;
    redisReply *r = ctl_cmd(x->c, "dead", "XRANGE %s %s %s", x->dkey, id, id);
    if (!r)
        return "Redis failed";
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        !ctl_entry(r->element[0], &eid, &fields)) {
        freeReplyObject(r);
        snprintf(err, errlen, "no such dead letter in queue %s", queue_name(x->queue));
        return err;
    }
    if (!(job = ctl_field(fields, "job")) || job->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return "the letter has no job: nothing to run (purge it)";
    }
    if (x->queue == QUEUE_HANDOFF) {
        const char *why = retry_handoff(x, id, job, err, errlen);
        freeReplyObject(r);
        return why;
    }
    long long now = ctl_time_ms(x->c, "dead");
    struct buf text;
    buf_init(&text, 4 * JOB_MAX_BYTES);
    struct job parsed;
    memset(&parsed, 0, sizeof parsed);
    long long span = 0;
    int rc = now < 0 ? -1 : rewrite(x, job, now, &text, &parsed, &span, err, errlen);
    freeReplyObject(r);
    if (rc < 0) {
        buf_free(&text);
        return now < 0 ? "Redis failed" : err;
    }
    const char *why = NULL;
    if (parsed.queue != x->queue) {
        snprintf(err, errlen, "its job is for queue %s, not %s", queue_name(parsed.queue),
                 queue_name(x->queue));
        why = err;
        goto out;
    }
    /* The markers are other hash slots than the streams: deleted first, on their own. */
    char k1[KEY_MAX], k2[KEY_MAX];
    key_canceled(k1, sizeof k1, parsed.id);
    key_progress(k2, sizeof k2, parsed.id);
    if (!(r = ctl_cmd(x->c, "dead", "DEL %s %s", k1, k2))) {
        why = "Redis failed";
        goto out;
    }
    freeReplyObject(r);
    /* The job's fence (append.h) says its first run ended: without this the retry's events
     * would all be answered "superseded". */
    char k3[KEY_MAX];
    key_seq(k3, sizeof k3, parsed.request);
    if (!(r = ctl_cmd(x->c, "dead", "HDEL %s %s", k3, parsed.id))) {
        why = "Redis failed";
        goto out;
    }
    freeReplyObject(r);
    if (!(r = requeue(x, id, text.data, text.len, &why)))
        goto out;
    x->n_done++;
    if (x->done) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "job", json_object_new_string(parsed.id));
        json_object_object_add(o, "entry", json_object_new_string(r->str));
        json_object_object_add(o, "deadline_in_ms", json_object_new_int64(span));
        json_object_array_add(x->done, o);
    } else {
        printf("retried %s job=%s entry=%s deadline_in_ms=%lld\n", id, parsed.id, r->str, span);
    }
    freeReplyObject(r);
out:
    job_free(&parsed);
    buf_free(&text);
    return why;
}

static void retry_one(struct retry_ctx *x, const char *id)
{
    char err[600];
    const char *why = retry_letter(x, id, err, sizeof err);
    if (!why)
        return;
    x->n_failed++;
    if (x->failed) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "error", ctl_json_string(why, strlen(why)));
        json_object_array_add(x->failed, o);
    } else {
        fprintf(stderr, "novactl dead retry: %s: %s\n", id, why);
    }
}

/* The id of the newest letter ("" when none): --all's bound. */
static int newest(redisContext *c, const char *dkey, char *out, size_t n)
{
    redisReply *r = ctl_cmd(c, "dead", "XREVRANGE %s + - COUNT 1", dkey);
    if (!r)
        return -1;
    const char *id;
    const redisReply *f;
    out[0] = '\0';
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && ctl_entry(r->element[0], &id, &f))
        snprintf(out, n, "%s", id);
    freeReplyObject(r);
    return 0;
}

/* Runs fn on every letter up to and including the newest one now, oldest first. */
static int each_letter(redisContext *c, const char *dkey, void (*fn)(struct retry_ctx *, const char *),
                       struct retry_ctx *x)
{
    char last[64], from[72] = "-";
    if (newest(c, dkey, last, sizeof last) < 0)
        return -1;
    if (!last[0])
        return 0;
    for (;;) {
        redisReply *r = ctl_cmd(c, "dead", "XRANGE %s %s %s COUNT %d", dkey, from, last, BATCH);
        if (!r)
            return -1;
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        char (*ids)[64] = n ? xcalloc(n, sizeof *ids) : NULL;
        size_t k = 0;
        for (size_t i = 0; i < n && ids; i++) {
            const char *id;
            const redisReply *f;
            if (ctl_entry(r->element[i], &id, &f))
                snprintf(ids[k++], sizeof ids[0], "%s", id);
        }
        freeReplyObject(r);
        for (size_t i = 0; i < k; i++)
            fn(x, ids[i]);
        if (k)
            snprintf(from, sizeof from, "(%s", ids[k - 1]);
        free(ids);
        if (n < BATCH || k == 0)
            return 0;
    }
}

/* The queue operand and the ids or --all; a usage error otherwise. */
static int queue_and_ids(const char *cmd, int argc, char **argv, const struct ctl_opts *o,
                         bool by_age, enum queue *q)
{
    if (argc - o->first_arg < 1 || ctl_queue_arg(argv[o->first_arg], q) < 0)
        return ctl_usage_error("dead", cmd, synopsis, "wants a queue: micro, pro, kb or handoff");
    int n_ids = argc - o->first_arg - 1, ways = (n_ids > 0) + o->all + (by_age ? 1 : 0);
    if (ways != 1)
        return ctl_usage_error("dead", cmd, synopsis, "wants letter ids, or --all%s",
                               strcmp(cmd, "purge") == 0 ? ", or --older-than S" : "");
    for (int i = o->first_arg + 1; i < argc; i++)
        if (!ctl_entry_id_parse(argv[i], NULL))
            return ctl_usage_error("dead", cmd, synopsis, "'%s' is not an entry id", argv[i]);
    return 0;
}

static int cmd_retry(int argc, char **argv, const struct nova_config *cfg)
{
    struct ctl_opts o;
    int rc = ctl_parse_opts("dead", "retry", synopsis, argc, argv,
                            "json all deadline model-id", 1, &o);
    struct retry_ctx x = {.cfg = cfg, .o = &o};
    if (rc || (rc = queue_and_ids("retry", argc, argv, &o, false, &x.queue)))
        return rc;
    key_dead(x.dkey, sizeof x.dkey, x.queue);
    key_jobs(x.jkey, sizeof x.jkey, x.queue);
    if (!(x.c = ctl_connect(cfg, "dead")))
        return NOVACTL_FAIL;
    if (o.json) {
        x.done = json_object_new_array();
        x.failed = json_object_new_array();
    }
    if (o.all)
        rc = each_letter(x.c, x.dkey, retry_one, &x);
    else
        for (int i = o.first_arg + 1; i < argc; i++)
            retry_one(&x, argv[i]);
    redisFree(x.c);
    if (o.json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "queue", json_object_new_string(queue_name(x.queue)));
        json_object_object_add(root, "retried", x.done);
        json_object_object_add(root, "failed", x.failed);
        ctl_json_print(root);
    } else {
        fprintf(stderr, "%s: %d retried, %d not\n", queue_name(x.queue), x.n_done, x.n_failed);
    }
    return rc < 0 || x.n_failed ? NOVACTL_FAIL : NOVACTL_OK;
}

/* ---- purge ------------------------------------------------------------------------------ */

static int cmd_purge(int argc, char **argv, const struct nova_config *cfg)
{
    struct ctl_opts o;
    int rc = ctl_parse_opts("dead", "purge", synopsis, argc, argv, "json all older-than", 1, &o);
    enum queue q;
    if (rc || (rc = queue_and_ids("purge", argc, argv, &o, o.older_than_s >= 0, &q)))
        return rc;
    const char *queue = queue_name(q);
    char dkey[KEY_MAX];
    key_dead(dkey, sizeof dkey, q);
    redisContext *c = ctl_connect(cfg, "dead");
    if (!c)
        return NOVACTL_FAIL;
    redisReply *r = NULL;
    char minid[72] = "";
    if (o.all) {
        /* Up to the newest letter now: MINID keeps ids from its successor on. */
        char last[64];
        if (newest(c, dkey, last, sizeof last) < 0)
            goto fail;
        if (last[0]) {
            const char *dash = strchr(last, '-');
            snprintf(minid, sizeof minid, "%.*s-%llu", (int)(dash - last), last,
                     strtoull(dash + 1, NULL, 10) + 1);
        }
    } else if (o.older_than_s >= 0) {
        long long now = ctl_time_ms(c, "dead");
        if (now < 0)
            goto fail;
        snprintf(minid, sizeof minid, "%lld", now - o.older_than_s * 1000);
    }
    long long purged = 0;
    if (minid[0]) {
        if (!(r = ctl_cmd(c, "dead", "XTRIM %s MINID %s", dkey, minid)))
            goto fail;
        purged = ctl_int(r, 0);
        freeReplyObject(r);
    } else if (!o.all) {
        int n = argc - o.first_arg - 1;
        const char **av = xcalloc((size_t)n + 2, sizeof *av);
        av[0] = "XDEL";
        av[1] = dkey;
        for (int i = 0; i < n; i++)
            av[2 + i] = argv[o.first_arg + 1 + i];
        r = ctl_cmd_argv(c, "dead", n + 2, av, NULL);
        free(av);
        if (!r)
            goto fail;
        purged = ctl_int(r, 0);
        freeReplyObject(r);
    }
    if (!(r = ctl_cmd(c, "dead", "XLEN %s", dkey)))
        goto fail;
    long long left = ctl_int(r, 0);
    freeReplyObject(r);
    redisFree(c);
    if (o.json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "queue", json_object_new_string(queue));
        json_object_object_add(root, "purged", json_object_new_int64(purged));
        json_object_object_add(root, "dead_letters_left", json_object_new_int64(left));
        ctl_json_print(root);
    } else {
        printf("queue: %s\npurged: %lld\ndead_letters_left: %lld\n", queue, purged, left);
    }
    return NOVACTL_OK;
fail:
    redisFree(c);
    return NOVACTL_FAIL;
}

int novactl_dead(int argc, char **argv, const struct nova_config *cfg)
{
    static const struct ctl_cmd cmds[] = {{"list", cmd_list}, {"retry", cmd_retry}, {"purge", cmd_purge}};
    return ctl_dispatch("dead", synopsis, help, cmds, sizeof cmds / sizeof cmds[0], argc, argv,
                        cfg);
}
