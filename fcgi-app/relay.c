/* relay: one open SSE stream, from the inbox and the transcript to the client (see relay.h). */
#include "relay.h"

#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sse.h"
#include "core/utf8.h"
#include "metrics.h"
#include "product.h"
#include "product/price.h"
#include "redis/append.h"
#include "redis/events.h"

#define RELAY_OUT_MAX (2u << 20)       /* SSE bytes buffered before a write */
#define RELAY_FLUSH_AT (64u * 1024u)   /* write once this much is buffered */
#define RELAY_GRACE_MS 5000            /* past the job deadline: workers report timeouts first */
#define RELAY_PAGE 256                 /* transcript entries per XRANGE */
#define CANCEL_MARKER_TTL_S 600
#define RELAY_DONE_GRACE_MS 1000       /* a resume leaves `done` to the origin this long */
#define RELAY_RESUME_GRACE_MS 400      /* a dropped client's jobs wait this long for a resume */
#define RELAY_READER_BEAT_MS 2000     /* a live stream renews its nova:readers entry */
#define RELAY_READER_SLACK_MS 1000    /* a renewal this late still counts as alive */
#define RELAY_END_FLUSH_MS 1000       /* an ending stream's last events get this long */
#define RELAY_PUSH_CHUNK (16u * 1024u) /* one write to the FastCGI connection */
#define RELAY_STALL_KEEPALIVES 2       /* a client that takes no byte for this many keep-alive
                                          intervals is cut off (it resumes) */

void relay_init(struct relay *r, struct req *rq, const char *request_id,
                long long start_epoch_ms, long long deadline_epoch_ms)
{
    memset(r, 0, sizeof *r);
    r->rq = rq;
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id);
    key_log(r->log_key, sizeof r->log_key, request_id);
    key_out(r->channel, sizeof r->channel, request_id);
    r->start_epoch_ms = start_epoch_ms;
    long long now = clock_mono_ms();
    r->deadline_ms = now + (deadline_epoch_ms - clock_epoch_ms()) + RELAY_GRACE_MS;
    r->next_ping_ms = now + rq->app->cfg->keepalive_s * 1000;
    r->progress_ms = now;
    buf_init(&r->out, RELAY_OUT_MAX);
    buf_init(&r->taken, INBOX_CAP);
    r->tok = json_tokener_new_ex(8);
}

void relay_add_job(struct relay *r, const char *job_id, const char *phase, enum model model)
{
    if (r->n_jobs == PLAN_MAX_JOBS)
        return;
    struct relay_job *j = &r->jobs[r->n_jobs++];
    snprintf(j->id, sizeof j->id, "%s", job_id);
    j->queue = model_queue(model);
    j->phase = phase;
    j->model = model;
}

size_t relay_channels(struct relay *r, char bufs[][KEY_MAX], const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_jobs; i++)
        if (key_out(bufs[n], KEY_MAX, r->jobs[i].id) == 0) {
            out[n] = bufs[n];
            n++;
        }
    out[n++] = r->channel;
    return n;
}

void relay_free(struct relay *r)
{
    buf_free(&r->out);
    buf_free(&r->taken);
    for (size_t i = 0; i < PLAN_MODELS; i++)
        buf_free(&r->capture[i]);
    if (r->tok)
        json_tokener_free(r->tok);
    r->tok = NULL;
}

bool relay_all_ended(const struct relay *r)
{
    for (size_t i = 0; i < r->n_jobs; i++)
        if (!r->jobs[i].ended)
            return false;
    return true;
}

/* ---- accounting ------------------------------------------------------------------------- */

/* The job an event names by its phase and model, or NULL. */
static struct relay_job *event_job(struct relay *r, json_object *o)
{
    const char *phase = json_get_str(o, "phase", NULL);
    size_t mn;
    const char *mname = json_get_str(o, "model", &mn);
    enum model m;
    if (!phase || !mname || model_parse(mname, mn, &m) < 0)
        return NULL;
    for (size_t i = 0; i < r->n_jobs; i++)
        if (r->jobs[i].model == m && strcmp(r->jobs[i].phase, phase) == 0)
            return &r->jobs[i];
    return NULL;
}

void relay_capture(struct relay *r, const char *phase, size_t max)
{
    r->capture_phase = phase;
    for (size_t i = 0; i < PLAN_MODELS; i++)
        buf_init(&r->capture[i], max);
}

/* A delta of the captured phase: its text kept while there is room (one parse per delta,
 * only until both are full). */
static void relay_keep_text(struct relay *r, json_object *o)
{
    const struct relay_job *j = event_job(r, o);
    size_t n;
    const char *s = json_get_str(o, "text", &n);
    if (!j || !s || strcmp(j->phase, r->capture_phase) != 0)
        return;
    struct buf *b = &r->capture[j->model];
    size_t room = b->max - b->len;
    if (n > room)
        n = utf8_whole_prefix(s, room);
    buf_append(b, s, n);
}

static bool capture_full(const struct relay *r)
{
    for (size_t i = 0; i < PLAN_MODELS; i++)
        if (r->capture[i].len + 4 < r->capture[i].max)
            return false;
    return true;
}

/* A delta of a job whose first one this is: the origin's time to first token (metrics.h). */
static void relay_first_delta(struct relay *r, json_object *o)
{
    struct relay_job *j = event_job(r, o);
    if (!j || j->first_delta)
        return;
    j->first_delta = true;
    r->n_first++;
    metrics_first_token(j->model, clock_mono_ms() - r->rq->t0);
}

/* model_done and error end the job they name (by phase and model); model_done brings usage.
 * The stream that queued the jobs also counts them in the metrics (a resume replays events
 * the origin may have counted): first deltas, model_done, errors, notices. Deltas are parsed
 * only while a job's first one is awaited or the session still wants their text. */
static void relay_account(struct relay *r, const char *type, size_t type_len, const char *data,
                          size_t data_len)
{
    enum event_type t = event_type_parse(type, type_len);
    bool done = t == EV_DONE, model_done = t == EV_MODEL_DONE, error = t == EV_ERROR;
    bool delta = t == EV_DELTA, notice = t == EV_NOTICE;
    if (done)
        r->done_seen = true;
    if (delta) {
        bool first = r->origin && r->n_first < r->n_jobs;
        bool keep = r->capture_phase && !capture_full(r);
        if ((first || keep) && data_len <= INT_MAX) {
            json_tokener_reset(r->tok);
            json_object *o = json_tokener_parse_ex(r->tok, data, (int)data_len);
            if (o && json_object_is_type(o, json_type_object)) {
                if (first)
                    relay_first_delta(r, o);
                if (keep)
                    relay_keep_text(r, o);
            }
            json_object_put(o);
        }
        return;
    }
    if ((!model_done && !error && !(notice && r->origin)) || data_len > INT_MAX)
        return;
    json_tokener_reset(r->tok);
    json_object *o = json_tokener_parse_ex(r->tok, data, (int)data_len);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return;
    }
    if (r->origin && (error || notice)) {
        const char *code = json_get_str(o, "code", NULL);
        if (error)
            metrics_error(METRICS_IN_STREAM, code ? code : "other");
        else
            metrics_notice(code ? code : "other");
    }
    struct relay_job *j = model_done || error ? event_job(r, o) : NULL;
    if (j && !j->ended) {
        j->ended = true;
        if (model_done)
            event_usage_parse(json_get(o, "usage"), &j->usage);
        if (model_done && r->origin)
            metrics_model_done(j->model, clock_mono_ms() - r->rq->t0, &j->usage);
    }
    json_object_put(o);
}

/* ---- writing ---------------------------------------------------------------------------- */

/* A client that stops reading: nginx's socket buffer to it fills, then the FastCGI connection,
 * then r->out; the stream thread never blocks in a write (it waits in poll for the connection
 * to take bytes), leaves the inbox alone while RELAY_FLUSH_AT bytes wait, and cuts the stream
 * when the inbox overflows or the client takes nothing for RELAY_STALL_KEEPALIVES keep-alive
 * intervals. */

static void relay_cut(struct relay *r, const char *why);

static long long relay_stall_ms(const struct relay *r)
{
    return r->rq->app->cfg->keepalive_s * 1000LL * RELAY_STALL_KEEPALIVES;
}

/* Writes what the FastCGI connection takes now, without blocking: pieces of at most
 * RELAY_PUSH_CHUNK while poll says it is writable (a unix socket is writable while at most a
 * quarter of its send buffer is in use, so a piece never blocks; the write timeout set at
 * accept is the backstop). Returns 0, or -1 when the client is gone. */
static int relay_push(struct relay *r)
{
    struct req *rq = r->rq;
    if (!rq->headers_sent && reply_sse_headers(rq) < 0)
        return -1;
    size_t done = 0;
    while (done < r->out.len) {
        struct pollfd p = {rq->fr->ipcFd, POLLOUT, 0};
        if (poll(&p, 1, 0) < 1)
            break;
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
            rq->client_gone = true;
            break;
        }
        size_t n = r->out.len - done < RELAY_PUSH_CHUNK ? r->out.len - done : RELAY_PUSH_CHUNK;
        if (req_write(rq, r->out.data + done, n) < 0)
            break;
        done += n;
    }
    if (done) {
        buf_consume(&r->out, done);
        r->progress_ms = clock_mono_ms();
        r->next_ping_ms = r->progress_ms + rq->app->cfg->keepalive_s * 1000;
    }
    return rq->client_gone ? -1 : 0;
}

/* Pushes until nothing is left, waiting for the connection to take bytes until until_ms.
 * Returns 0 (all written), -1 (client gone) or 1 (not written by then). */
static int relay_flush_until(struct relay *r, long long until_ms)
{
    for (;;) {
        if (relay_push(r) < 0)
            return -1;
        if (r->out.len == 0)
            return 0;
        long long wait = until_ms - clock_mono_ms();
        if (wait <= 0)
            return 1;
        struct pollfd p = {r->rq->fr->ipcFd, POLLOUT | POLLRDHUP, 0};
        if (poll(&p, 1, wait > INT_MAX ? INT_MAX : (int)wait) > 0 &&
            (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            r->rq->client_gone = true;
            return -1;
        }
    }
}

int relay_flush(struct relay *r)
{
    int rc = relay_flush_until(r, r->progress_ms + relay_stall_ms(r));
    if (rc > 0)
        relay_cut(r, "the client takes nothing");
    return rc == 0 ? 0 : -1;
}

/* Ends the stream of a client that does not take what was written: nothing more can reach it
 * (not even an `error`), so the FastCGI connection is shut down, nginx ends the client's
 * response without `done`, and the client resumes with its Last-Event-ID. The jobs go on. */
static void relay_cut(struct relay *r, const char *why)
{
    log_rid(LOG_WARN, r->rq->id, "%s (%zu bytes unwritten); cutting the stream for a resume", why,
            r->out.len);
    shutdown(r->rq->fr->ipcFd, SHUT_RDWR);
    r->rq->client_gone = true;
    buf_reset(&r->out);
}

/* Buffers one SSE event (id may be NULL), pushing what the client takes once RELAY_FLUSH_AT
 * bytes wait. An event that finds RELAY_OUT_MAX bytes still unwritten marks the stream behind
 * (it is then cut); one larger than that on its own is skipped. */
static int relay_write(struct relay *r, const char *id, const char *type, const char *data,
                       size_t len)
{
    if (r->out.len >= RELAY_FLUSH_AT && relay_push(r) < 0)
        return -1;
    if (sse_write_event(&r->out, id, type, data, len) < 0) {
        if (r->out.len == 0)
            log_rid(LOG_WARN, r->rq->id, "event %s of %zu bytes does not fit the stream; skipped", id ? id : "-", len);
        else
            r->behind = true;
        return 0;
    }
    r->written++;
    return 0;
}

int relay_event(struct relay *r, const char *id, size_t id_len, const char *type,
                size_t type_len, const char *data, size_t data_len)
{
    struct stream_id sid;
    char idbuf[48], typebuf[40];
    if (stream_id_parse(id, id_len, &sid) < 0 || type_len == 0 || type_len >= sizeof typebuf ||
        memchr(type, '\n', type_len) || memchr(type, '\r', type_len))
        return 0; /* not an event of ours: nothing to relay */
    if (r->have_last && stream_id_cmp(&sid, &r->last) <= 0)
        return 0; /* seen already (replay and live overlap) */
    r->last = sid;
    r->have_last = true;
    relay_account(r, type, type_len, data, data_len);
    if (r->skip && stream_id_cmp(&sid, &r->write_after) <= 0)
        return 0;
    stream_id_format(&sid, idbuf, sizeof idbuf);
    memcpy(typebuf, type, type_len);
    typebuf[type_len] = '\0';
    return relay_write(r, idbuf, typebuf, data, data_len);
}

/* ---- the transcript --------------------------------------------------------------------- */

/* Relays one XRANGE reply; returns the number of entries, or -1 (client gone). */
static long relay_entries(struct relay *r, const redisReply *rep)
{
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *id, *t, *d;
        if (event_entry_parse(rep->element[i], &id, &t, &d) == 0 &&
            relay_event(r, id->str, id->len, t->str, t->len, d->str, d->len) < 0)
            return -1;
        if (r->done_seen)
            break;
    }
    return (long)rep->elements;
}

int relay_catch_up(struct relay *r)
{
    struct app *app = r->rq->app;
    char err[256];
    for (;;) {
        /* Exclusive start computed here ("(" needs Redis 6.2). */
        char start[48] = "-";
        if (r->have_last) {
            struct stream_id next = r->last;
            if (next.seq == UINT64_MAX) {
                next.ms++;
                next.seq = 0;
            } else {
                next.seq++;
            }
            stream_id_format(&next, start, sizeof start);
        }
        redisContext *c = app_redis(app, err, sizeof err);
        if (!c) {
            log_rid(LOG_WARN, r->rq->id, "reading the transcript: %s", err);
            return -1;
        }
        redisReply *rep = redisCommand(c, "XRANGE %s %s + COUNT %d", r->log_key, start,
                                       RELAY_PAGE);
        /* Back to the pool before writing to a client that may be slow. */
        app_redis_put(app, c);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            log_rid(LOG_WARN, r->rq->id, "XRANGE %s: %s", r->log_key,
                    rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "no reply");
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        long n = relay_entries(r, rep);
        freeReplyObject(rep);
        if (n < 0)
            return -1;
        if (n < RELAY_PAGE || r->done_seen)
            return 0;
    }
}

/* Appends one of our own events to the transcript and publishes it. */
static int relay_append(struct relay *r, const char *type, const char *data, size_t len,
                        char *id, size_t idlen)
{
    struct app *app = r->rq->app;
    char err[256];
    redisContext *c = app_redis(app, err, sizeof err);
    int rc = c ? event_append(c, r->log_key, r->channel, type, data, len,
                              app->cfg->log_ttl_s * 1000, id, idlen, err, sizeof err)
               : -1;
    app_redis_put(app, c);
    if (rc < 0)
        log_rid(LOG_WARN, r->rq->id, "appending %s: %s", type, err);
    return rc;
}

int relay_append_event(struct relay *r, const char *type, const char *data, size_t len)
{
    char id[EVENT_ID_MAX];
    if (relay_append(r, type, data, len, id, sizeof id) < 0)
        return -1;
    return relay_event(r, id, strlen(id), type, strlen(type), data, len);
}

/* done's data: the sum of the jobs' usage, its price, the time since the request began. */
static void relay_done_json(struct relay *r, struct buf *out)
{
    const struct price_table *prices = &r->rq->app->product->prices;
    struct token_usage sum = {0};
    double usd = 0;
    for (size_t i = 0; i < r->n_jobs; i++) {
        usage_add(&sum, &r->jobs[i].usage);
        usd += price_cost(prices, model_name(r->jobs[i].model), &r->jobs[i].usage);
    }
    if (r->has_extra) {
        usage_add(&sum, &r->extra_usage);
        usd += price_cost(prices, model_name(r->extra_model), &r->extra_usage);
    }
    char cost[48];
    price_format(usd, cost, sizeof cost);
    buf_printf(out,
               "{\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld,\"cache_read_tokens\":%ld,"
               "\"cache_write_tokens\":%ld},\"cost_usd\":%s,\"elapsed_ms\":%lld}",
               sum.input_tokens, sum.output_tokens, sum.cache_read_tokens,
               sum.cache_write_tokens, cost, clock_epoch_ms() - r->start_epoch_ms);
}

/* The stream's last bytes, given the client's stall allowance: end when written, RELAY_GONE
 * when the client left, RELAY_CUT when it took nothing for that long. */
static enum relay_end relay_final_flush(struct relay *r, enum relay_end end)
{
    int rc = relay_flush_until(r, r->progress_ms + relay_stall_ms(r));
    if (rc > 0) {
        relay_cut(r, "the client takes nothing");
        return RELAY_CUT;
    }
    return rc < 0 ? RELAY_GONE : end;
}

/* Every job ended: `done` into the transcript, then everything up to it to the client. */
static enum relay_end relay_finish(struct relay *r)
{
    struct buf data;
    buf_init(&data, 1024);
    relay_done_json(r, &data);
    char id[EVENT_ID_MAX];
    enum relay_end end = RELAY_DONE;
    if (relay_append(r, "done", data.data, data.len, id, sizeof id) == 0) {
        /* Events with lower ids may still be on their way through pub/sub: read them (and
         * done) from the transcript, in order. */
        if ((relay_catch_up(r) < 0 || !r->done_seen) && !r->rq->client_gone)
            relay_write(r, id, "done", data.data, data.len);
    } else {
        relay_write(r, NULL, "done", data.data, data.len); /* not in the transcript: no id */
        end = RELAY_FAILED;
    }
    buf_free(&data);
    return relay_final_flush(r, end);
}

/* Ends the stream for this client only: error events (one per unfinished job, or one for the
 * stream) and done, none with an id, none in the transcript. */
static void relay_end_local(struct relay *r, const char *message, bool per_job)
{
    struct buf data;
    buf_init(&data, 4096);
    if (!per_job) {
        event_error_json(&data, NULL, NULL, "unavailable", message, true);
        relay_write(r, NULL, "error", data.data, data.len);
        metrics_error(METRICS_IN_STREAM, "unavailable"); /* this client's only: counted here */
    }
    for (size_t i = 0; per_job && i < r->n_jobs; i++) {
        if (r->jobs[i].ended)
            continue;
        buf_reset(&data);
        event_error_json(&data, r->jobs[i].phase, model_name(r->jobs[i].model), "unavailable", message,
                         true);
        relay_write(r, NULL, "error", data.data, data.len);
        metrics_error(METRICS_IN_STREAM, "unavailable");
    }
    buf_reset(&data);
    relay_done_json(r, &data);
    relay_write(r, NULL, "done", data.data, data.len);
    /* Bounded: a drain must not wait out a stalled client. */
    if (relay_flush_until(r, clock_mono_ms() + RELAY_END_FLUSH_MS) > 0)
        relay_cut(r, "the client takes nothing");
    buf_free(&data);
}

/* The deadline passed: a timeout error for each job still open (in the transcript), cancel
 * them, then done. */
static enum relay_end relay_timeout(struct relay *r)
{
    log_rid(LOG_WARN, r->rq->id, "jobs still open at the deadline; ending the stream");
    relay_cancel_jobs(r->rq->app, r->jobs, r->n_jobs, false);
    struct buf data;
    buf_init(&data, 4096);
    for (size_t i = 0; i < r->n_jobs; i++) {
        if (r->jobs[i].ended)
            continue;
        buf_reset(&data);
        event_error_json(&data, r->jobs[i].phase, model_name(r->jobs[i].model), "timeout",
                         "the model did not answer before the deadline", true);
        char id[EVENT_ID_MAX];
        if (relay_append(r, "error", data.data, data.len, id, sizeof id) < 0)
            relay_write(r, NULL, "error", data.data, data.len);
        r->jobs[i].ended = true;
    }
    buf_free(&data);
    return relay_finish(r);
}

void relay_abort(struct relay *r, const char *message)
{
    relay_end_local(r, message, false);
}

int relay_cancel_jobs(struct app *app, const struct relay_job *jobs, size_t n, bool all)
{
    char err[256], key[KEY_MAX], chan[KEY_MAX];
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        log_warn("canceling jobs: %s", err);
        return -1;
    }
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        if ((!all && jobs[i].ended) || key_canceled(key, sizeof key, jobs[i].id) < 0 ||
            key_cancel(chan, sizeof chan, jobs[i].queue) < 0)
            continue;
        /* The marker stops a job not yet picked up; the message one already running. */
        redisAppendCommand(c, "SET %s 1 EX %d", key, CANCEL_MARKER_TTL_S);
        redisAppendCommand(c, "PUBLISH %s %s", chan, jobs[i].id);
        sent += 2;
    }
    int rc = 0;
    for (size_t i = 0; i < sent; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
            log_warn("canceling jobs: %s", c->errstr);
            rc = -1;
            break;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            log_warn("canceling jobs: %s", rep->str);
            rc = -1;
        }
        freeReplyObject(rep);
    }
    app_redis_put(app, c);
    return rc;
}

/* ---- the loop --------------------------------------------------------------------------- */

#define RELAY_LOST 0x100u /* a gap could not be filled from the transcript */

/* Relays what the inbox holds; after a gap the transcript first, so that nothing queued
 * overtakes a missed event. Returns the inbox flags (| RELAY_LOST). */
static unsigned relay_drain_inbox(struct relay *r)
{
    unsigned flags = inbox_take(r->rq->inbox, &r->taken);
    if ((flags & INBOX_GAP) && relay_catch_up(r) < 0 && !r->rq->client_gone)
        flags |= RELAY_LOST;
    size_t off = 0, len;
    const char *m;
    while (inbox_next(&r->taken, &off, &m, &len) == 0) {
        struct event_msg em;
        if (event_msg_parse(m, len, &em) < 0)
            continue;
        if (relay_event(r, em.id, em.id_len, em.type, em.type_len, em.data, em.data_len) < 0)
            break;
    }
    buf_reset(&r->taken);
    return flags;
}

/* ---- readers: who is watching a request ------------------------------------------------ */

/* nova:readers:<request> holds the streams relaying a request live (the origin and resumes):
 * a sorted set of one token per stream, scored with when the stream last renewed it (epoch
 * ms). A live stream renews it every RELAY_READER_BEAT_MS, so the entry of a stream whose
 * child died (SIGKILL, a crash: nothing removes it) stops counting RELAY_READER_BEAT_MS +
 * RELAY_READER_SLACK_MS later, instead of keeping a request's jobs going for a reader long
 * gone. A new reader also publishes "attach" on the request's channel, which wakes an origin
 * that is waiting out its grace (the message is not an event: relays skip it). Times are
 * Redis's (TIME), so clocks that differ between nova-fcgi hosts do not matter. */
static const char *const readers_renew_lua =
    "local t = redis.call('TIME') "
    "return redis.call('ZADD', KEYS[1], t[1] .. string.format('%03d', math.floor(t[2] / 1000)), "
    "ARGV[1])";
static const char *const readers_live_lua = /* ARGV[1]: whole seconds */
    "local t = redis.call('TIME') "
    "return redis.call('ZCOUNT', KEYS[1], (tonumber(t[1]) - tonumber(ARGV[1])) .. "
    "string.format('%03d', math.floor(t[2] / 1000)), '+inf')";

static void readers_send(struct relay *r, bool join, bool leave)
{
    struct app *app = r->rq->app;
    char key[KEY_MAX], err[256];
    /* Due again in a beat whatever happens here: with Redis away the loop must not spin. */
    r->beat_ms = clock_mono_ms() + RELAY_READER_BEAT_MS;
    r->reading = !leave;
    if (key_readers(key, sizeof key, r->request_id) < 0)
        return;
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        if (join || leave) /* a renewal that fails is tried again, without a line each time */
            log_rid(LOG_WARN, r->rq->id, "readers of %s: %s", r->request_id, err);
        return;
    }
    int n = 1;
    if (leave) {
        redisAppendCommand(c, "ZREM %s %s", key, r->reader);
    } else {
        redisAppendCommand(c, "EVAL %s 1 %s %s", readers_renew_lua, key, r->reader);
        if (join) {
            redisAppendCommand(c, "EXPIRE %s %ld", key, app->cfg->job_deadline_s + 60);
            redisAppendCommand(c, "PUBLISH %s attach", r->channel);
            n = 3;
        }
    }
    for (int i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK)
            break;
        freeReplyObject(rep);
    }
    app_redis_put(app, c);
}

/* Whether another stream renewed its entry recently enough to be alive. */
static bool readers_live(struct relay *r)
{
    char key[KEY_MAX], err[256];
    redisContext *c = key_readers(key, sizeof key, r->request_id) == 0
                          ? app_redis(r->rq->app, err, sizeof err)
                          : NULL;
    if (!c)
        return false;
    redisReply *rep = redisCommand(c, "EVAL %s 1 %s %d", readers_live_lua, key,
                                   (RELAY_READER_BEAT_MS + RELAY_READER_SLACK_MS) / 1000);
    app_redis_put(r->rq->app, c);
    bool live = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    if (rep)
        freeReplyObject(rep);
    return live;
}

/* The client left: unless another reader takes over within RELAY_RESUME_GRACE_MS (a page
 * resuming after a dropped connection), the unfinished jobs are canceled — no tokens paid for
 * nobody. */
static enum relay_end relay_gone(struct relay *r)
{
    if (r->reading)
        readers_send(r, false, true);
    if (relay_all_ended(r))
        return RELAY_GONE;
    long long until = clock_mono_ms() + RELAY_RESUME_GRACE_MS;
    for (;;) {
        if (readers_live(r)) {
            log_rid(LOG_INFO, r->rq->id, "client went away; a resumed stream carries on");
            return RELAY_GONE;
        }
        long long wait = until - clock_mono_ms();
        if (wait <= 0)
            break;
        struct pollfd p = {r->rq->inbox->efd, POLLIN, 0};
        if (poll(&p, 1, (int)wait) > 0) {
            inbox_clear_wake(r->rq->inbox);
            inbox_take(r->rq->inbox, &r->taken); /* events are in the transcript; drop them */
            buf_reset(&r->taken);
        }
    }
    log_rid(LOG_INFO, r->rq->id, "client went away; canceling its open jobs");
    relay_cancel_jobs(r->rq->app, r->jobs, r->n_jobs, false);
    return RELAY_GONE;
}

static enum relay_end relay_loop(struct relay *r);

enum relay_end relay_run(struct relay *r)
{
    app_random_hex(r->reader, sizeof r->reader - 1);
    readers_send(r, true, false);
    metrics_stream(+1);
    enum relay_end end = relay_loop(r);
    metrics_stream(-1);
    if (r->reading)
        readers_send(r, false, true);
    return end;
}

static enum relay_end relay_loop(struct relay *r)
{
    struct app *app = r->rq->app;
    for (;;) {
        /* While the client has not taken RELAY_FLUSH_AT bytes, the inbox is left alone: its
         * cap is then what a stalled client may hold (a cut is all that is read of it). */
        unsigned flags = r->out.len < RELAY_FLUSH_AT ? relay_drain_inbox(r)
                         : inbox_is_cut(r->rq->inbox) ? INBOX_CUT : 0;
        if (r->rq->client_gone || relay_push(r) < 0)
            return relay_gone(r);
        if (r->behind)
            flags |= INBOX_CUT;
        if (flags & (INBOX_CUT | RELAY_LOST)) {
            const char *why = flags & INBOX_CUT ? "client fell too far behind"
                                                : "events were missed";
            if (r->out.len) { /* it is not reading: nothing more reaches it */
                relay_cut(r, why);
            } else {
                log_rid(LOG_WARN, r->rq->id, "%s; ending the stream for a resume", why);
                relay_abort(r, "the stream fell behind; resume it with Last-Event-ID");
            }
            return RELAY_CUT;
        }
        long long now = clock_mono_ms(), drain_at = LLONG_MAX;
        if (r->out.len && now - r->progress_ms >= relay_stall_ms(r)) {
            relay_cut(r, "the client took nothing for two keep-alive intervals");
            return RELAY_CUT;
        }
        if (r->done_seen)
            return relay_final_flush(r, RELAY_DONE);
        if (relay_all_ended(r)) {
            if (r->origin)
                return relay_finish(r);
            if (!r->finish_at_ms)
                r->finish_at_ms = now + RELAY_DONE_GRACE_MS;
            if (now >= r->finish_at_ms) {
                /* Last look: the origin may have appended done after all. */
                if (relay_catch_up(r) == 0 && r->done_seen)
                    return relay_final_flush(r, RELAY_DONE);
                return r->rq->client_gone ? RELAY_GONE : relay_finish(r);
            }
        }
        if (r->reading && now >= r->beat_ms)
            readers_send(r, false, false);
        if (atomic_load(&app->draining))
            drain_at = atomic_load(&app->drain_deadline_ms);
        if (now >= drain_at) {
            relay_end_local(r, "server is shutting down", true);
            return RELAY_DRAINED;
        }
        if (now >= r->deadline_ms)
            return relay_timeout(r);
        if (now >= r->next_ping_ms) {
            /* Nothing waits (or the ping would only add to it): the client has seen bytes
             * within the interval either way. */
            if (r->out.len == 0)
                sse_write_comment(&r->out, "ping");
            r->next_ping_ms = now + app->cfg->keepalive_s * 1000;
            if (relay_push(r) < 0)
                return relay_gone(r);
        }
        long long due = r->next_ping_ms < r->deadline_ms ? r->next_ping_ms : r->deadline_ms;
        if (drain_at < due)
            due = drain_at;
        if (r->finish_at_ms && r->finish_at_ms < due)
            due = r->finish_at_ms;
        if (r->reading && r->beat_ms < due)
            due = r->beat_ms;
        if (r->out.len && r->progress_ms + relay_stall_ms(r) < due)
            due = r->progress_ms + relay_stall_ms(r);
        long long wait = due - clock_mono_ms();
        /* The FastCGI connection is polled for hang-up (nginx closes it when the browser
         * leaves, which is noticed here before the first token) and, while bytes wait, for
         * room to write them. */
        struct pollfd p[2] = {{r->rq->inbox->efd, POLLIN, 0},
                              {r->rq->fr->ipcFd, POLLRDHUP | (r->out.len ? POLLOUT : 0), 0}};
        int rc = poll(p, 2, wait < 0 ? 0 : wait > INT_MAX ? INT_MAX : (int)wait);
        if (rc > 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            r->rq->client_gone = true;
            return relay_gone(r);
        }
        if (rc > 0 && (p[0].revents & POLLIN))
            inbox_clear_wake(r->rq->inbox);
    }
}
