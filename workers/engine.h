/* engine: the main thread's loop, which owns the Bedrock client and every running job
 * (engine.c). */
#ifndef NOVA_ENGINE_H
#define NOVA_ENGINE_H

#include "worker.h"

/* Runs the engine until a signal on sigfd and the drain are over. Returns 0, or 1 when the
 * Bedrock client failed (its jobs were handed back). */
int engine_run(struct worker *w, int sigfd);

#endif
