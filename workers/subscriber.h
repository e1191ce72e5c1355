/* subscriber: the thread that hears cancels on nova:cancel:{queue} and passes them to the
 * engine (subscriber.c). */
#ifndef NOVA_SUBSCRIBER_H
#define NOVA_SUBSCRIBER_H

/* The thread's body; w is the struct worker. Returns NULL once w->exiting is set and
 * w->stop_efd signalled. */
void *subscriber_main(void *w);

#endif
