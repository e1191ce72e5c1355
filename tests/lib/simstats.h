/* simstats: read one counter of bedrock-sim's GET /_sim/stats (tests count the simulator's
 * streams to prove cancels and disconnects reached it). */
#ifndef NOVA_SIMSTATS_H
#define NOVA_SIMSTATS_H

/* sim_url is "http://127.0.0.1:PORT". Returns the counter, or -1 when unreadable. */
long simstats_get(const char *sim_url, const char *name);

#endif
