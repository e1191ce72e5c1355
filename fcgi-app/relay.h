/* relay: one open SSE stream, driven to its end — the events of a request's jobs, from the
 * stream's inbox and from the transcript, written to the client in id order until `done`.
 * It is a step machine (relay_step) driven by the request thread (relay_run) or, with
 * NOVA_FCGI_STREAMS=loop, by the child's loop from a pool thread per step (streams.h).
 *
 * The relay is the loop; the concerns it drives are apart: the transcript reader
 * (transcript.h: both sides, de-duplicated by id, so a resume's replay or a gap after a Redis
 * reconnect and the live messages can overlap), the tally (tally.h: which jobs ended, usage,
 * done's data, what the client has), the output buffer (sseout.h: backpressure, pings, the
 * slow-client cut) and the reader entry (readers.h). When every job has ended the relay
 * appends `done` to the transcript (and publishes it), then writes everything up to and
 * including it. A resume does so only after RELAY_DONE_GRACE_MS without a `done` from the
 * stream that queued the jobs (which appends at once), so two live readers of one request do
 * not both append one.
 *
 * The transcript is read back (a resume's replay, the re-read after a gap) a page at a time,
 * each page only while fewer than SSEOUT_FLUSH_AT bytes wait for the client (r->catching):
 * a client that reads nothing holds about that and a page, never the transcript, and is cut
 * like any slow client.
 *
 * It ends early when the client goes away (its unfinished jobs are canceled unless another
 * live reader resumes the request within RELAY_RESUME_GRACE_MS: a page reconnecting after a
 * dropped connection keeps its answer), when the inbox overflowed or the client fell too far
 * behind (an `error` unavailable, then `done`, or a cut: the client resumes), when the child
 * drains (at the drain deadline, one `error` unavailable per unfinished job, then `done`), or
 * when the jobs' deadline passed (`error` timeout for each unfinished job, appended, then
 * `done`). Events written only to this client (drain, overflow) carry no id: the client's
 * Last-Event-ID stays at the last transcript event. */
#ifndef NOVA_RELAY_H
#define NOVA_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"
#include "product/chatreq.h"
#include "readers.h"
#include "redis/contract.h"
#include "req.h"
#include "sseout.h"
#include "tally.h"
#include "transcript.h"

#define RELAY_GRACE_MS 5000        /* past the job deadline: workers report timeouts first */
#define RELAY_DONE_GRACE_MS 1000   /* a resume leaves `done` to the origin this long */
#define RELAY_RESUME_GRACE_MS 400  /* a dropped client's jobs wait this long for a resume */
#define RELAY_END_FLUSH_MS 1000    /* an ending stream's last events get this long */

enum relay_end {
    RELAY_DONE,    /* `done` was written */
    RELAY_GONE,    /* the client went away; its jobs were canceled */
    RELAY_CUT,     /* the inbox overflowed */
    RELAY_DRAINED, /* the child is shutting down */
    RELAY_FAILED,  /* Redis failed while finishing */
    RELAY_HANDED_OFF, /* relay_run only: the child's loop owns the stream now (streams.h) */
};

/* Where a stream is: relaying, in the grace after its client left, writing its last bytes. */
enum relay_phase { RELAY_LIVE, RELAY_GRACE, RELAY_FLUSHING };

struct relay;
/* The caller's end of a stream (the session turn, the log line): the stream's driver calls
 * it once, after the relay's end and before the registrations go and the relay is freed. */
typedef void relay_end_fn(struct relay *r, enum relay_end end, void *ctx);

/* What a step waits for next: due_ms (monotonic; LLONG_MAX: nothing timed), room to write,
 * and inbox_only (the grace: the client is gone, only the inbox and the time matter). */
struct relay_wait {
    long long due_ms;
    bool want_write;
    bool inbox_only;
};

struct relay {
    struct req *rq;
    char request_id[CHATREQ_REQUEST_ID_LEN + 1];
    char channel[KEY_MAX];      /* nova:out:<request>: our own events */
    long long start_epoch_ms;   /* for done.elapsed_ms */
    long long deadline_ms;      /* monotonic: stop waiting for the jobs */
    long long finish_at_ms;     /* resume: append done at this time, 0 when not due */
    bool catching;              /* transcript pages are due (a resume's replay, a gap) */
    struct transcript tr;       /* nova:log:<request> */
    struct tally tally;
    struct sseout out;
    struct readers readers;
    enum relay_phase phase;
    long long phase_until_ms;   /* GRACE: when to cancel; FLUSHING: when to give up */
    enum relay_end flush_ok, flush_gone, flush_late; /* FLUSHING's three outcomes */
    bool on_loop;               /* driven by the child's loop (streams.h), not a thread */
    bool no_block;              /* this step runs on the loop's thread: no Redis (relay_step) */
    relay_end_fn *on_end;       /* set by a caller that lets the stream go to the loop */
    void *end_ctx;
};

/* Sets the stream up for request_id (32 hex digits, chatreq_request_id_valid: its keys always
 * fit); origin: this stream queues the jobs (else it resumes); start_epoch_ms is when the
 * request began, deadline (epoch ms) when its jobs stop being waited for. */
void relay_init(struct relay *r, struct req *rq, const char *request_id, bool origin,
                long long start_epoch_ms, long long deadline_epoch_ms);
void relay_free(struct relay *r);
void relay_add_job(struct relay *r, const char *job_id, const char *phase, enum model model);
/* The channels to subscribe to: every job's and the request's own (at most
 * RELAY_MAX_CHANNELS; pointers into r and bufs). Returns their number. */
#define RELAY_MAX_CHANNELS (TALLY_MAX_JOBS + 1)
size_t relay_channels(struct relay *r, char bufs[][KEY_MAX], const char **out);

/* Appends one of our own events to the transcript (and publishes it), then writes it to the
 * client with its id. Returns 0, or -1 (Redis failed: nothing written; or client gone). */
int relay_append_event(struct relay *r, const char *type, const char *data, size_t len);
/* The same, but this client is shown other data under that id (meta with its session id,
 * which the transcript does not keep). */
int relay_append_event_shown(struct relay *r, const char *type, const char *data, size_t len,
                             const char *shown, size_t shown_len);
/* Appends one of our own events to the transcript and publishes it, and writes nothing: it
 * reaches the client through the inbox like the workers' events, so an event appended while
 * jobs run is written in id order with theirs (a direct write would move the reader past
 * events still on their way). Returns 0 or -1 (Redis failed; logged). */
int relay_post_event(struct relay *r, const char *type, const char *data, size_t len);
/* Accounts one event with its transcript id and writes it (buffered) unless it was written
 * already or the client has it. Returns 0, or -1 when the client is gone. */
int relay_event(struct relay *r, const char *id, size_t id_len, const char *type,
                size_t type_len, const char *data, size_t data_len);
/* Writes what is buffered. Returns 0 or -1 (client gone). */
int relay_flush(struct relay *r);
/* Reads the transcript after the last event seen (from its start when none) and relays it.
 * Returns 0, or -1 (Redis failed or the client is gone: see rq->client_gone). */
int relay_catch_up(struct relay *r);
/* One page of that (TRANSCRIPT_PAGE entries) when r->catching: a resume sets catching and
 * reads pages while fewer than SSEOUT_FLUSH_AT bytes wait for its client, then relay_run
 * reads the rest as the client takes them. Clears catching once the transcript is read to
 * its end or to done. Returns 0, or -1 (as relay_catch_up). */
int relay_catch_up_page(struct relay *r);

/* Relays until the end; see above. With r->on_end set and the child's loop running
 * (NOVA_FCGI_STREAMS=loop), the stream instead goes to the loop (app->stream_adopt) and this
 * returns RELAY_HANDED_OFF at once: the caller then touches neither r nor its request again,
 * and relay_ended runs at the stream's end, on a pool thread. */
enum relay_end relay_run(struct relay *r);
/* One step: does what is due now, never waits. Returns -1 with *w saying what to wait for
 * next, or the end (an enum relay_end). With r->no_block set (the loop runs the step on its
 * own thread) it also never calls Redis: where the step would (a catch-up page, done and the
 * transcript, readers renewal, the grace after a hang-up, the deadline's cancel) it stops
 * before that and returns RELAY_STEP_POOL, having done nothing that a step run again (on a
 * pool thread, no_block clear) does not redo or find done. */
#define RELAY_STEP_POOL (-2)
int relay_step(struct relay *r, struct relay_wait *w);
/* A handed-off stream's end (the loop's pool thread): the reader entry goes, r->on_end runs,
 * the registrations go and r is freed (not r itself: its owner's). */
void relay_ended(struct relay *r, enum relay_end end);

/* Ends the stream for this client only, retryably: an `error` unavailable with message,
 * then `done`, neither with an id nor in the transcript (the client resumes). */
void relay_abort(struct relay *r, const char *message);

/* The end's name for the log lines ("done", "client gone", ...). */
const char *relay_end_name(enum relay_end e);
/* The session turn of a stream that saw `done`: the captured phase's overview then detail
 * (tally_capture), saved with the request's pending turn when this is the first of its
 * streams to get there (session_save_pending: once, by the origin or a resume). */
void relay_save_turn(const struct relay *r);

/* Cancels the jobs not yet ended (all of them with all) through store_cancel_jobs. Returns 0
 * or -1 (Redis; logged). */
int relay_cancel(struct relay *r, bool all);

#endif
