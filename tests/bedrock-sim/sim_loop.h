/* sim_loop: the simulator's event loop (the redis ae.c habit): one epoll set, a binary min-heap
 * of timers, and a wait whose timeout is computed from the earliest timer, never a sleep.
 *
 * Descriptors register a struct sim_io embedded in their owner; timers are struct sim_timer
 * embedded in their owner (recover it with sim_container_of). The loop owns neither. A timer
 * armed at or before the time of the current pass runs in that pass, so a callback that
 * re-arms must aim later than sim_now_ms(); the loop's granularity is 1 ms. */
#ifndef SIM_LOOP_H
#define SIM_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_io {
    int fd;
    void (*on_event)(struct sim_io *io, uint32_t events);
};

struct sim_timer {
    uint64_t due;                          /* sim_now_ms() value */
    size_t slot;                           /* index in the heap; SIZE_MAX when not armed */
    void (*fn)(struct sim_timer *t);
};

struct sim_loop;

struct sim_loop *sim_loop_new(char *errstr, size_t errlen);
/* Frees the loop; descriptors and timers stay their owners' business. */
void sim_loop_free(struct sim_loop *l);

/* epoll_ctl wrappers; return 0, or -1 with errno set. */
int sim_loop_add(struct sim_loop *l, struct sim_io *io, uint32_t events);
int sim_loop_mod(struct sim_loop *l, struct sim_io *io, uint32_t events);
void sim_loop_del(struct sim_loop *l, struct sim_io *io);

void sim_timer_init(struct sim_timer *t, void (*fn)(struct sim_timer *t));
/* Arms (or moves) t to fire at due; O(log n). */
void sim_timer_arm(struct sim_loop *l, struct sim_timer *t, uint64_t due);
void sim_timer_cancel(struct sim_loop *l, struct sim_timer *t);
bool sim_timer_armed(const struct sim_timer *t);
size_t sim_loop_timer_count(const struct sim_loop *l);

/* Waits for events or the earliest timer, then dispatches both. Returns 0, or -1 when
 * epoll_wait failed for another reason than EINTR (errstr set). */
int sim_loop_run_once(struct sim_loop *l, char *errstr, size_t errlen);

#endif
