/* child: one prefork child of nova-fcgi.
 *
 * Its main thread accepts FastCGI connections from the shared (non-blocking) listening socket,
 * but only while one of its NOVA_FCGI_THREADS worker threads is idle, so a busy child leaves
 * connections to its siblings, and hands each to an idle worker. The worker reads the request
 * with FCGX_Accept_r on that connection (accept4 here gives close-on-exec and a read timeout
 * that libfcgi's own accept cannot), serves it, and FCGX_Finish_r closes it. The child owns
 * one pub/sub dispatcher and one small Redis command pool shared by its workers. With
 * NOVA_FCGI_STREAMS=loop it also runs the streams' loop (streams.h): a worker whose stream
 * starts hands it there and serves the next request, and the workers are the pool the loop
 * steps its streams on (their queue of work items is served before connections).
 *
 * Signals arrive on a signalfd (no handlers): the first SIGTERM (or SIGQUIT) starts the drain
 * — the listening socket is closed here, idle workers exit, open streams go on until
 * NOVA_DRAIN_SECONDS and are then ended with `error` unavailable + `done`; a second one ends
 * them now. SIGINT and SIGHUP are ignored: the master decides (a terminal's Ctrl-C reaches the
 * whole process group). The child also drains when the master dies (PR_SET_PDEATHSIG). */
#ifndef NOVA_CHILD_H
#define NOVA_CHILD_H

#include <sys/types.h>

#include "core/config.h"

/* Runs the child until its drain is over. Returns the process exit code. Called right after
 * fork() with every signal blocked; sb_slot is its scoreboard slot (metrics.h) or -1. */
int child_main(const struct nova_config *cfg, int listen_fd, pid_t master, int sb_slot);

#endif
