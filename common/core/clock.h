/* clock: the one place the clocks are read. Timers, timeouts and waits run on the monotonic
 * clock, so a wall-clock jump (NTP, a VM resumed) never stretches or cuts them; what leaves
 * the process (jobs' created_ms and deadline_ms, log times, heartbeats) is epoch time. */
#ifndef NOVA_CLOCK_H
#define NOVA_CLOCK_H

#include <pthread.h>
#include <time.h>

/* Milliseconds on the monotonic clock (timers). */
long long clock_mono_ms(void);
/* The same with the sub-millisecond part (latencies worth reporting below a millisecond). */
double clock_mono_ms_f(void);
/* Milliseconds since the epoch (what goes into jobs and onto the wire). */
long long clock_epoch_ms(void);

/* A condition variable whose timed waits run on the monotonic clock. */
void clock_cond_init(pthread_cond_t *cv);
/* The absolute time ms from now for pthread_cond_timedwait on such a variable (ms < 0: now). */
void clock_deadline(struct timespec *ts, long long ms);

#endif
