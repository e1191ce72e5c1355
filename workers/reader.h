/* reader: the thread that reads jobs off nova:jobs:{queue}, checks them and hands them to the
 * engine, and runs the timers of the heartbeat and the claims (reader.c). */
#ifndef NOVA_READER_H
#define NOVA_READER_H

/* The thread's body; w is the struct worker. Returns NULL once w->exiting is set. */
void *reader_main(void *w);

#endif
