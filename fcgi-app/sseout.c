/* sseout: a stream's SSE output buffer, its backpressure and its writer (see sseout.h). */
#include "sseout.h"


#include "core/clock.h"
#include "core/log.h"
#include "core/sse.h"

void sseout_init(struct sseout *o, long long keepalive_ms, long long now_ms)
{
    buf_init(&o->out, SSEOUT_MAX);
    o->keepalive_ms = keepalive_ms;
    o->progress_ms = now_ms;
    o->next_ping_ms = now_ms + keepalive_ms;
    o->behind = false;
    o->written = 0;
}

void sseout_free(struct sseout *o)
{
    buf_free(&o->out);
}

/* ---- the buffer ------------------------------------------------------------------------- */

bool sseout_full(const struct sseout *o)
{
    return o->out.len >= SSEOUT_FLUSH_AT;
}

int sseout_event(struct sseout *o, const char *id, const char *type, const char *data,
                 size_t len)
{
    if (sse_write_event(&o->out, id, type, data, len) < 0) {
        if (o->out.len)
            o->behind = true;
        return -1;
    }
    o->written++;
    return 0;
}

bool sseout_ping(struct sseout *o, long long now_ms)
{
    if (now_ms < o->next_ping_ms)
        return false;
    /* Nothing waits (or the ping would only add to it): the client has seen bytes within the
     * interval either way. */
    if (o->out.len == 0)
        sse_write_comment(&o->out, "ping");
    o->next_ping_ms = now_ms + o->keepalive_ms;
    return true;
}

void sseout_taken(struct sseout *o, size_t n, long long now_ms)
{
    if (n >= o->out.len)
        buf_free(&o->out); /* all taken: an open stream between events keeps no buffer */
    else
        buf_consume(&o->out, n);
    o->progress_ms = now_ms;
    o->next_ping_ms = now_ms + o->keepalive_ms;
}

long long sseout_stall_ms(const struct sseout *o)
{
    return o->keepalive_ms * SSEOUT_STALL_KEEPALIVES;
}

bool sseout_stalled(const struct sseout *o, long long now_ms)
{
    return o->out.len && now_ms - o->progress_ms >= sseout_stall_ms(o);
}

long long sseout_due(const struct sseout *o)
{
    long long due = o->next_ping_ms;
    if (o->out.len && o->progress_ms + sseout_stall_ms(o) < due)
        due = o->progress_ms + sseout_stall_ms(o);
    return due;
}

/* ---- the writer ------------------------------------------------------------------------- */

/* A unix socket is writable while at most a quarter of its send buffer is in use, so a piece
 * of SSEOUT_PUSH_CHUNK after the connection said it takes bytes (req_wait) never blocks; the write timeout set at accept
 * is the backstop. */
int sseout_push(struct sseout *o, struct req *rq)
{
    if (!rq->headers_sent && reply_sse_headers(rq) < 0)
        return -1;
    size_t done = 0;
    while (done < o->out.len) {
        if (!(req_wait(rq, -1, true, 0) & REQ_WRITABLE))
            break; /* full, or gone (client_gone) */
        size_t n = o->out.len - done < SSEOUT_PUSH_CHUNK ? o->out.len - done : SSEOUT_PUSH_CHUNK;
        if (req_write(rq, o->out.data + done, n) < 0)
            break;
        done += n;
    }
    if (done)
        sseout_taken(o, done, clock_mono_ms());
    return rq->client_gone ? -1 : 0;
}

int sseout_flush_until(struct sseout *o, struct req *rq, long long until_ms)
{
    for (;;) {
        if (sseout_push(o, rq) < 0)
            return -1;
        if (o->out.len == 0)
            return 0;
        long long wait = until_ms - clock_mono_ms();
        if (wait <= 0)
            return 1;
        if (req_wait(rq, -1, true, wait) & REQ_GONE)
            return -1;
    }
}

int sseout_flush(struct sseout *o, struct req *rq)
{
    int rc = sseout_flush_until(o, rq, o->progress_ms + sseout_stall_ms(o));
    if (rc > 0)
        sseout_cut(o, rq, "the client takes nothing");
    return rc == 0 ? 0 : -1;
}

void sseout_cut(struct sseout *o, struct req *rq, const char *why)
{
    log_rid(LOG_WARN, rq->id, "%s (%zu bytes unwritten); cutting the stream for a resume", why,
            o->out.len);
    req_shutdown(rq);
    buf_free(&o->out);
}
