/* backoff: how long to wait before trying again after failures in a row — the minimum, then
 * doubled each time up to a cap (Redis reconnects, a child that keeps dying, a credential
 * refresh that fails). No clock and no I/O: the caller asks for the next wait and does the
 * waiting in its own loop. (A call to AWS that is retried uses retry.h: full jitter and a
 * deadline, not this.) */
#ifndef NOVA_BACKOFF_H
#define NOVA_BACKOFF_H

struct backoff {
    long min_ms, max_ms;
    long next_ms; /* what backoff_next returns next time */
};

void backoff_init(struct backoff *b, long min_ms, long max_ms);
/* A failure: the wait before the next try, and the one after it doubled (at most max_ms). */
long backoff_next(struct backoff *b);
/* A success: the next failure waits min_ms again. */
void backoff_reset(struct backoff *b);
/* The wait after the n-th failure in a row (n >= 1: min_ms, 2 min_ms, ... at most max_ms). */
long backoff_after(long min_ms, long max_ms, int n);

#endif
