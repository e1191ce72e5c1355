/* tally: a stream's jobs, their ends and usage, done's data, the captured text (see
 * tally.h). */
#include "tally.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/utf8.h"
#include "metrics.h"
#include "redis/events.h"

void tally_init(struct tally *t, bool origin, long long t0_ms)
{
    memset(t, 0, sizeof *t);
    t->origin = origin;
    t->t0_ms = t0_ms;
    t->tok = json_tokener_new_ex(8);
}

void tally_free(struct tally *t)
{
    for (size_t i = 0; i < PLAN_MODELS; i++)
        buf_free(&t->capture[i]);
    if (t->tok)
        json_tokener_free(t->tok);
    t->tok = NULL;
}

static struct tally_job *job_add(struct tally *t, const char *job_id, const char *phase,
                                 enum model model)
{
    if (t->n_jobs == TALLY_MAX_JOBS)
        return NULL;
    struct tally_job *j = &t->jobs[t->n_jobs++];
    memset(j, 0, sizeof *j);
    snprintf(j->id, sizeof j->id, "%s", job_id);
    j->queue = model_queue(model);
    j->phase = phase;
    j->model = model;
    return j;
}

void tally_add_job(struct tally *t, const char *job_id, const char *phase, enum model model)
{
    if (job_add(t, job_id, phase, model))
        t->n_answers++;
}

void tally_add_translation(struct tally *t, const char *job_id, const char *phase)
{
    struct tally_job *j = job_add(t, job_id, phase, MODEL_PRO);
    if (j)
        j->translation = true;
}

void tally_write_after(struct tally *t, const struct stream_id *after)
{
    t->skip = true;
    t->write_after = *after;
}

void tally_add_usage(struct tally *t, enum model model, const struct token_usage *u)
{
    usage_add(&t->extra_usage, u);
    t->has_extra = true;
    t->extra_model = model;
}

void tally_capture(struct tally *t, const char *phase, size_t max)
{
    t->capture_phase = phase;
    for (size_t i = 0; i < PLAN_MODELS; i++)
        buf_init(&t->capture[i], max);
}

const struct buf *tally_captured(const struct tally *t, enum model model)
{
    return &t->capture[(unsigned)model < PLAN_MODELS ? model : 0];
}

bool tally_all_ended(const struct tally *t)
{
    for (size_t i = 0; i < t->n_jobs; i++)
        if (!t->jobs[i].ended)
            return false;
    return true;
}

void tally_end_job(struct tally *t, size_t i)
{
    if (i < t->n_jobs)
        t->jobs[i].ended = true;
}

size_t tally_open_jobs(const struct tally *t, bool all, const char **ids, enum queue *queues)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_jobs; i++) {
        if (!all && t->jobs[i].ended)
            continue;
        ids[n] = t->jobs[i].id;
        queues[n++] = t->jobs[i].queue;
    }
    return n;
}

/* The job an event names by its phase and model, or NULL. */
static struct tally_job *event_job(struct tally *t, json_object *o)
{
    const char *phase = json_get_str(o, "phase", NULL);
    size_t mn;
    const char *mname = json_get_str(o, "model", &mn);
    enum model m;
    if (!phase || !mname || model_parse(mname, mn, &m) < 0)
        return NULL;
    for (size_t i = 0; i < t->n_jobs; i++)
        if (t->jobs[i].model == m && strcmp(t->jobs[i].phase, phase) == 0)
            return &t->jobs[i];
    return NULL;
}

/* A delta of the captured phase: its text kept while there is room (one parse per delta,
 * only until both are full). */
static void keep_text(struct tally *t, json_object *o)
{
    const struct tally_job *j = event_job(t, o);
    size_t n;
    const char *s = json_get_str(o, "text", &n);
    if (!j || !s || strcmp(j->phase, t->capture_phase) != 0)
        return;
    struct buf *b = &t->capture[j->model];
    size_t room = b->max - b->len;
    if (n > room)
        n = utf8_whole_prefix(s, room);
    buf_append(b, s, n);
}

static bool capture_full(const struct tally *t)
{
    for (size_t i = 0; i < PLAN_MODELS; i++)
        if (t->capture[i].len + 4 < t->capture[i].max)
            return false;
    return true;
}

/* A delta of a job whose first one this is: the origin's time to first token. */
static void first_delta(struct tally *t, json_object *o, long long now_ms)
{
    struct tally_job *j = event_job(t, o);
    if (!j || j->first_delta || j->translation)
        return;
    j->first_delta = true;
    t->n_first++;
    metrics_first_token(j->model, now_ms - t->t0_ms);
}

/* The data of an event as a JSON object, or NULL (free with json_object_put). */
static json_object *parse_object(struct tally *t, const char *data, size_t len)
{
    if (len > INT_MAX)
        return NULL;
    json_tokener_reset(t->tok);
    json_object *o = json_tokener_parse_ex(t->tok, data, (int)len);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* The origin's metrics of a job's end (a resume replays ends the origin counted). */
static void count_end(const struct tally_job *j, bool ok, long long ms)
{
    if (j->translation) {
        metrics_translation(ok);
        metrics_tokens(j->model, &j->usage); /* not a stream: no duration to count */
    } else if (ok) {
        metrics_model_done(j->model, ms, &j->usage);
    }
}

/* model_done, translation and error end the job they name (by phase and model); model_done
 * and translation bring usage. A translation that names no job (the request translated the
 * question before its search) adds its usage to the extra calls. */
static void account(struct tally *t, enum event_type type, const char *data, size_t data_len,
                    long long now_ms)
{
    bool model_done = type == EV_MODEL_DONE, error = type == EV_ERROR;
    bool notice = type == EV_NOTICE, translation = type == EV_TRANSLATION;
    if (type == EV_DELTA) {
        bool first = t->origin && t->n_first < t->n_answers;
        bool keep = t->capture_phase && !capture_full(t);
        json_object *o = first || keep ? parse_object(t, data, data_len) : NULL;
        if (o && first)
            first_delta(t, o, now_ms);
        if (o && keep)
            keep_text(t, o);
        json_object_put(o);
        return;
    }
    if (!model_done && !error && !translation && !(notice && t->origin))
        return;
    json_object *o = parse_object(t, data, data_len);
    if (!o)
        return;
    if (t->origin && (error || notice)) {
        const char *code = json_get_str(o, "code", NULL);
        if (error)
            metrics_error(METRICS_IN_STREAM, code ? code : "other");
        else
            metrics_notice(code ? code : "other");
        if (notice && code && strcmp(code, NOTICE_GUARDRAIL) == 0)
            t->guardrail = true;
    }
    struct tally_job *j = model_done || error || translation ? event_job(t, o) : NULL;
    if (j && !j->ended) {
        j->ended = true;
        if (model_done || translation)
            event_usage_parse(json_get(o, "usage"), &j->usage);
        if (t->origin && (!error || j->translation))
            count_end(j, !error, now_ms - t->t0_ms);
    } else if (!j && translation) {
        struct token_usage u;
        event_usage_parse(json_get(o, "usage"), &u);
        tally_add_usage(t, MODEL_PRO, &u);
    }
    json_object_put(o);
}

bool tally_take(struct tally *t, const struct stream_id *id, const char *type, size_t type_len,
                const char *data, size_t data_len, long long now_ms)
{
    enum event_type et = event_type_parse(type, type_len);
    if (et == EV_DONE)
        t->done_seen = true;
    account(t, et, data, data_len, now_ms);
    return !(t->skip && stream_id_cmp(id, &t->write_after) <= 0);
}

void tally_done_json(const struct tally *t, const struct price_table *prices,
                     long long elapsed_ms, struct buf *out)
{
    struct token_usage sum = {0};
    double usd = 0;
    for (size_t i = 0; i < t->n_jobs; i++) {
        usage_add(&sum, &t->jobs[i].usage);
        usd += price_cost(prices, model_name(t->jobs[i].model), &t->jobs[i].usage);
    }
    if (t->has_extra) {
        usage_add(&sum, &t->extra_usage);
        usd += price_cost(prices, model_name(t->extra_model), &t->extra_usage);
    }
    char cost[48];
    price_format(usd, cost, sizeof cost);
    buf_printf(out,
               "{\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld,\"cache_read_tokens\":%ld,"
               "\"cache_write_tokens\":%ld},\"cost_usd\":%s,\"elapsed_ms\":%lld}",
               sum.input_tokens, sum.output_tokens, sum.cache_read_tokens,
               sum.cache_write_tokens, cost, elapsed_ms);
}
