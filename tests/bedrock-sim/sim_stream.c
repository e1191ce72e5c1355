/* sim_stream: paced ConverseStream events and delayed Converse replies (see sim_stream.h). */
#include "sim_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "aws/eventstream.h"
#include "core/log.h"
#include "sim_http.h"
#include "sim_util.h"

enum outcome { OUT_COMPLETED, OUT_EXCEPTION, OUT_DROPPED, OUT_ABORTED };

struct sim_stream {
    struct sim_server *srv;
    struct sim_conn *conn;
    struct sim_timer timer;
    struct sim_reply r;
    bool events;
    bool started;       /* messageStart sent */
    size_t next;        /* next token to send */
    size_t stall_at;    /* first token after the stall */
    uint64_t t0;        /* request arrival */
    uint64_t ttft, tps, stall;
    unsigned in, cache_read, cache_write;
    char request_id[40];
    char model[160];
    char path[256];
};

const char *sim_stream_error_message(const char *type)
{
    static const struct { const char *type, *msg; } msgs[] = {
        {"modelStreamErrorException", "The model encountered an error while streaming the "
                                      "response. Try your request again."},
        {"throttlingException", "Too many requests, please wait before trying again."},
        {"validationException", "The input failed to satisfy the constraints of the model."},
        {"internalServerException", "The server encountered an internal error while "
                                    "processing the request. Try your request again."},
        {"serviceUnavailableException", "The service is temporarily unavailable. Try again "
                                        "later."},
        {"modelTimeoutException", "The model took too long to respond. Try your request "
                                  "again."},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
        if (strcasecmp(type, msgs[i].type) == 0 ||
            (strncasecmp(type, msgs[i].type, strlen(msgs[i].type) - 9) == 0 &&
             strlen(type) == strlen(msgs[i].type) - 9))
            return msgs[i].msg;
    return "The model stream failed.";
}

static uint64_t due_of(const struct sim_stream *st, size_t i)
{
    uint64_t d = st->t0 + st->ttft + (uint64_t)i * 1000u / st->tps;
    return i >= st->stall_at ? d + st->stall : d;
}

/* Starts the scratch payload with "{" and a random-length "p" padding member when the padding
 * sorts first; Bedrock's members are in alphabetical order. */
static void put_padding(struct sim_server *s, struct buf *b)
{
    char pad[64];
    size_t n = 1 + sim_rng_below(&s->rng, 48);
    sim_rng_letters(&s->rng, pad, n);
    buf_puts(b, "\"p\":\"");
    buf_append(b, pad, n);
    buf_putc(b, '"');
}

static int send_frame(struct sim_stream *st, const char *const *names, const char *const *values,
                      size_t n)
{
    struct sim_server *s = st->srv;
    buf_reset(&s->frame);
    if (es_encode_strings(&s->frame, names, values, n, s->payload.data, s->payload.len) < 0) {
        log_error("%s: es_encode_strings failed (%zu byte payload)", st->request_id,
                  s->payload.len);
        return -1;
    }
    return sim_http_chunk(st->conn, s->frame.data, s->frame.len, true);
}

static int send_event(struct sim_stream *st, const char *type)
{
    static const char *const names[] = {":event-type", ":content-type", ":message-type"};
    const char *values[] = {type, "application/json", "event"};
    return send_frame(st, names, values, 3);
}

/* Builds the payload of token i's contentBlockDelta in s->payload. */
static void delta_payload(struct sim_stream *st, size_t i)
{
    struct buf *b = &st->srv->payload;
    size_t from = i ? st->r.cuts[i - 1] : 0;
    buf_reset(b);
    buf_puts(b, "{\"contentBlockIndex\":0,\"delta\":{\"text\":");
    sim_json_str(b, st->r.text + from, st->r.cuts[i] - from);
    buf_puts(b, "},");
    put_padding(st->srv, b);
    buf_putc(b, '}');
}

static void usage_json(struct sim_stream *st, struct buf *b, size_t out_tokens)
{
    unsigned long total = (unsigned long)st->in + out_tokens + st->cache_read + st->cache_write;
    buf_printf(b, "\"usage\":{\"inputTokens\":%u,\"outputTokens\":%zu,\"totalTokens\":%lu,"
               "\"cacheReadInputTokens\":%u,\"cacheWriteInputTokens\":%u}", st->in, out_tokens,
               total, st->cache_read, st->cache_write);
}

static void stream_free(struct sim_stream *st)
{
    sim_timer_cancel(st->srv->loop, &st->timer);
    sim_reply_free(&st->r);
    free(st);
}

static void stream_log(struct sim_stream *st, int status, enum outcome o)
{
    static const char *const notes[] = {"completed", "stream-error", "dropped", "aborted"};
    const char *note = st->events ? notes[o] : (o == OUT_ABORTED ? "aborted" : NULL);
    sim_server_log(st->srv, "POST", st->path, status, st->model, st->in + st->cache_read +
                   st->cache_write, st->events ? st->next : st->r.n_cuts, st->t0, note,
                   st->request_id);
}

static void stream_finish(struct sim_stream *st, enum outcome o)
{
    struct sim_stats *stats = &st->srv->stats;
    if (st->events) {
        stats->streams_open--;
        stats->output_tokens += st->next;
        if (o == OUT_COMPLETED || o == OUT_EXCEPTION)
            stats->streams_completed++;
        if (o == OUT_EXCEPTION)
            stats->stream_exceptions++;
        if (o == OUT_DROPPED)
            stats->streams_dropped++;
    } else {
        stats->output_tokens += st->r.n_cuts;
    }
    stream_log(st, 200, o);
    struct sim_conn *c = st->conn;
    if (o == OUT_DROPPED)
        sim_conn_set_close(c);
    stream_free(st);
    sim_conn_release(c);
}

/* The connection died before the end (called at teardown). */
static void stream_abort(void *p)
{
    struct sim_stream *st = p;
    if (st->events) {
        st->srv->stats.streams_open--;
        st->srv->stats.streams_aborted++;
        st->srv->stats.output_tokens += st->next;
    }
    stream_log(st, 200, OUT_ABORTED);
    stream_free(st);
}

static void send_whole(struct sim_stream *st)
{
    struct buf body;
    buf_init(&body, st->r.text_len * 6 + 4096);
    buf_printf(&body, "{\"metrics\":{\"latencyMs\":%llu},\"output\":{\"message\":{\"content\":"
               "[{\"text\":", (unsigned long long)(sim_now_ms() - st->t0));
    sim_json_str(&body, st->r.text, st->r.text_len);
    buf_printf(&body, "}],\"role\":\"assistant\"}},\"stopReason\":\"%s\",", st->r.stop_reason);
    usage_json(st, &body, st->r.n_cuts);
    buf_putc(&body, '}');
    int rc = sim_http_respond(st->conn, 200, "application/json", st->request_id, NULL,
                              body.data, body.len);
    buf_free(&body);
    if (rc == 0)
        stream_finish(st, OUT_COMPLETED); /* else the teardown aborts us */
}

static void send_exception(struct sim_stream *st)
{
    const char *type = st->r.dir.stream_error_type[0] ? st->r.dir.stream_error_type
                                                       : "modelStreamErrorException";
    struct buf *b = &st->srv->payload;
    buf_reset(b);
    buf_puts(b, "{\"message\":");
    const char *msg = sim_stream_error_message(type);
    sim_json_str(b, msg, strlen(msg));
    buf_putc(b, '}');
    static const char *const names[] = {":exception-type", ":content-type", ":message-type"};
    const char *values[] = {type, "application/json", "exception"};
    if (send_frame(st, names, values, 3) == 0 && sim_http_stream_end(st->conn) == 0)
        stream_finish(st, OUT_EXCEPTION);
}

/* #sim:drop: the chunk header and half of the next frame, then the connection closes. */
static void send_drop(struct sim_stream *st)
{
    struct sim_server *s = st->srv;
    if (st->next < st->r.n_cuts) {
        delta_payload(st, st->next);
    } else {
        buf_reset(&s->payload);
        buf_puts(&s->payload, "{\"contentBlockIndex\":0,");
        put_padding(s, &s->payload);
        buf_putc(&s->payload, '}');
    }
    static const char *const names[] = {":event-type", ":content-type", ":message-type"};
    const char *values[] = {st->next < st->r.n_cuts ? "contentBlockDelta" : "contentBlockStop",
                            "application/json", "event"};
    buf_reset(&s->frame);
    if (es_encode_strings(&s->frame, names, values, 3, s->payload.data, s->payload.len) == 0 &&
        sim_http_chunk_partial(st->conn, s->frame.data, s->frame.len, s->frame.len / 2) == 0)
        stream_finish(st, OUT_DROPPED);
}

static void send_end(struct sim_stream *st)
{
    struct buf *b = &st->srv->payload;
    buf_reset(b);
    buf_puts(b, "{\"contentBlockIndex\":0,");
    put_padding(st->srv, b);
    buf_putc(b, '}');
    if (send_event(st, "contentBlockStop") < 0)
        return;
    buf_reset(b);
    buf_putc(b, '{');
    put_padding(st->srv, b);
    buf_printf(b, ",\"stopReason\":\"%s\"}", st->r.stop_reason);
    if (send_event(st, "messageStop") < 0)
        return;
    buf_reset(b);
    buf_printf(b, "{\"metrics\":{\"latencyMs\":%llu},",
               (unsigned long long)(sim_now_ms() - st->t0));
    put_padding(st->srv, b);
    buf_putc(b, ',');
    usage_json(st, b, st->next);
    buf_putc(b, '}');
    if (send_event(st, "metadata") < 0)
        return;
    if (sim_http_stream_end(st->conn) < 0)
        return;
    stream_finish(st, OUT_COMPLETED);
}

static void stream_tick(struct sim_timer *t)
{
    struct sim_stream *st = sim_container_of(t, struct sim_stream, timer);
    if (sim_conn_failed(st->conn))
        return; /* teardown aborts us */
    if (!st->events) {
        send_whole(st);
        return;
    }
    uint64_t now = sim_now_ms();
    struct buf *b = &st->srv->payload;
    if (!st->started) {
        st->started = true;
        buf_reset(b);
        buf_putc(b, '{');
        put_padding(st->srv, b);
        buf_puts(b, ",\"role\":\"assistant\"}");
        if (send_event(st, "messageStart") < 0)
            return;
    }
    size_t n = st->r.n_cuts;
    const struct sim_directives *d = &st->r.dir;
    size_t err_at = d->stream_error >= 0 ? (size_t)d->stream_error : SIZE_MAX;
    size_t drop_at = d->drop >= 0 ? (size_t)d->drop : SIZE_MAX;
    for (;;) {
        if (st->next == drop_at || (st->next == n && drop_at >= n && drop_at != SIZE_MAX)) {
            send_drop(st);
            return;
        }
        if (st->next == err_at || (st->next == n && err_at >= n && err_at != SIZE_MAX)) {
            send_exception(st);
            return;
        }
        if (st->next == n) {
            send_end(st);
            return;
        }
        if (due_of(st, st->next) > now)
            break;
        delta_payload(st, st->next);
        st->next++;
        if (send_event(st, "contentBlockDelta") < 0)
            return;
    }
    uint64_t due = due_of(st, st->next);
    sim_timer_arm(st->srv->loop, &st->timer, due > now ? due : now + 1);
}

void sim_stream_start(struct sim_server *s, struct sim_conn *c, struct sim_reply *reply,
                      const struct sim_stream_params *p)
{
    struct sim_stream *st = xcalloc(1, sizeof *st);
    st->srv = s;
    st->conn = c;
    st->r = *reply;
    memset(reply, 0, sizeof *reply);
    st->events = p->events;
    st->t0 = p->started_ms;
    st->ttft = (uint64_t)(p->ttft_ms > 0 ? p->ttft_ms : 0);
    st->tps = (uint64_t)(p->tps > 0 ? p->tps : 1);
    st->stall = st->r.dir.stall_ms > 0 ? (uint64_t)st->r.dir.stall_ms : 0;
    st->stall_at = st->stall ? st->r.n_cuts / 2 : SIZE_MAX;
    st->in = p->input_tokens;
    st->cache_read = p->cache_read;
    st->cache_write = p->cache_write;
    snprintf(st->request_id, sizeof st->request_id, "%s", p->request_id);
    snprintf(st->model, sizeof st->model, "%s", p->model_id);
    snprintf(st->path, sizeof st->path, "%s", p->path);
    sim_timer_init(&st->timer, stream_tick);
    sim_conn_hold(c, st, stream_abort);
    if (st->events) {
        s->stats.streams_open++;
        if (sim_http_stream_begin(c, "application/vnd.amazon.eventstream", st->request_id) < 0)
            return; /* the connection failed; teardown aborts us */
    }
    sim_timer_arm(s->loop, &st->timer, st->t0 + st->ttft);
}
