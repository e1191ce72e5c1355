/* loop: one thread's event loop (epoll) — what a nova-fcgi child's streams all run on.
 *
 * Three kinds of event, each with a callback (redis's ae.c is the model):
 *   - descriptors (struct loop_io, embedded in the caller's object) with read and write
 *     interest; a hang-up or error is always reported, a peer's half-close when asked;
 *   - timers (struct loop_timer, embedded likewise) on a min-heap; the earliest one is the
 *     epoll timeout, so an idle loop sleeps until something is due and never polls;
 *   - posts from other threads (struct loop_post, embedded likewise): loop_post queues one
 *     under a lock and rings an eventfd when the queue was empty; the loop thread runs them in
 *     order. This is how a pool thread hands its finished work back.
 *
 * Everything but loop_post is for the loop's own thread. A callback may add, change or delete
 * any registration, its own included; after loop_io_del or loop_timer_stop returns, that
 * callback is not called again (an event already fetched for it is dropped), so its memory
 * may be freed. A timer armed inside the timer pass for a time already reached fires on the
 * next pass (after the next epoll_wait, with timeout 0), so a timer that re-arms itself for
 * "now" cannot starve the descriptors. */
#ifndef NOVA_LOOP_H
#define NOVA_LOOP_H

#include <stdbool.h>
#include <stddef.h>

/* Interest (want) and events (what a callback gets). */
#define LOOP_READ 1u
#define LOOP_WRITE 2u
#define LOOP_RDHUP 4u /* want: hear of the peer's half-close; events: it (or a hang-up) came */
#define LOOP_HUP 8u   /* events: hang-up or error on the descriptor (always reported) */

#define LOOP_BATCH 256 /* events fetched per epoll_wait */

struct loop;
struct loop_io;
struct loop_timer;

typedef void loop_io_fn(struct loop *l, struct loop_io *io, unsigned events);
typedef void loop_timer_fn(struct loop *l, struct loop_timer *t);
typedef void loop_post_fn(struct loop *l, void *arg);

struct loop_io {
    int fd;
    unsigned want;   /* as registered */
    bool added;      /* in the epoll set */
    loop_io_fn *fn;
    void *arg;
};

struct loop_timer {
    long long due_ms;          /* monotonic */
    size_t slot;               /* heap index + 1; 0: not armed */
    unsigned long long seq;    /* arming order: ties fire first-armed first */
    loop_timer_fn *fn;
    void *arg;
};

struct loop_post {
    struct loop_post *next;
    loop_post_fn *fn;
    void *arg;
};

/* Counters for tests and the status page (monotonic). */
struct loop_stats {
    unsigned long long waits;       /* epoll_wait calls */
    unsigned long long io_events;   /* descriptor callbacks run */
    unsigned long long timers;      /* timer callbacks run */
    unsigned long long posts;       /* post callbacks run */
};

/* NULL with errstr when epoll or the eventfd cannot be made. */
struct loop *loop_new(char *errstr, size_t errlen);
/* Closes the loop's own descriptors. Registrations are the callers' to undo first; posts not
 * yet run are dropped. */
void loop_free(struct loop *l);

/* Runs until loop_stop; returns 0, or -1 with errstr when epoll_wait fails. */
int loop_run(struct loop *l, char *errstr, size_t errlen);
/* One pass: waits at most max_wait_ms (< 0: until an event or the next timer), runs what
 * came and what is due. Returns 0, or -1 with errstr. */
int loop_once(struct loop *l, long long max_wait_ms, char *errstr, size_t errlen);
/* Makes loop_run return after the current pass. */
void loop_stop(struct loop *l);
/* Monotonic ms read after the last wait (cheap; callbacks of one pass share it). */
long long loop_now(const struct loop *l);
struct loop_stats loop_stats(const struct loop *l);

/* ---- descriptors ---------------------------------------------------------------------- */

void loop_io_init(struct loop_io *io, int fd, loop_io_fn *fn, void *arg);
/* Registers io with interest want (LOOP_READ | LOOP_WRITE | LOOP_RDHUP, 0 for hang-ups
 * alone), or changes it; no system call when it is unchanged. Returns 0, or -1 with errstr
 * naming epoll_ctl. */
int loop_io_want(struct loop *l, struct loop_io *io, unsigned want, char *errstr,
                 size_t errlen);
/* Removes io (before its descriptor is closed); a no-op when it is not registered. */
void loop_io_del(struct loop *l, struct loop_io *io);

/* ---- timers --------------------------------------------------------------------------- */

void loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *arg);
/* Arms t for due_ms (monotonic), or moves it there. */
void loop_timer_at(struct loop *l, struct loop_timer *t, long long due_ms);
/* Arms t for ms from now. */
void loop_timer_after(struct loop *l, struct loop_timer *t, long long ms);
void loop_timer_stop(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t)
{
    return t->slot != 0;
}
/* Milliseconds until the earliest timer (0 when one is due), or -1 when none is armed. */
long long loop_next_timeout(const struct loop *l);

/* ---- posts from other threads ----------------------------------------------------------- */

/* Any thread: fn(l, arg) will run on the loop's thread. m is the caller's until fn starts
 * (fn may free it). Never fails, never blocks but on the queue's lock. */
void loop_post(struct loop *l, struct loop_post *m, loop_post_fn *fn, void *arg);

#endif
