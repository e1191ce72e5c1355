/* wake: an eventfd used as a doorbell between threads — one thread rings, another polls the
 * descriptor and drains it. Non-blocking and close-on-exec; ringing a bell that is already
 * ringing is a no-op (the counter stays readable). */
#ifndef NOVA_WAKE_H
#define NOVA_WAKE_H

/* Returns the descriptor, or -1 with errno. */
int wake_open(void);
void wake_signal(int fd);
void wake_drain(int fd);

#endif
