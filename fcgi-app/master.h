/* master: nova-fcgi's prefork master (the php-fpm model).
 *
 * It opens the FastCGI unix socket (NOVA_FCGI_SOCKET: a stale socket file nobody listens on
 * is removed, anything else there is left alone and is an error; mode NOVA_FCGI_SOCKET_MODE,
 * 0660, and group NOVA_FCGI_SOCKET_GROUP, the one nginx's workers run with, so only they and
 * the owner can connect), forks NOVA_FCGI_CHILDREN children, and then only supervises. Signals become
 * bytes on a self-pipe; the loop reads them and acts, with its poll timeout computed from the
 * next timer (a respawn, a KILL):
 *
 *   RUNNING    a child that exits is reaped (waitpid WNOHANG) and respawned: at once the first
 *              time, then with exponential backoff while it keeps dying young (crash loop)
 *   RELOADING  SIGHUP: a fresh set of children starts, then the old ones get SIGTERM and
 *              drain; back to RUNNING when the last old one is gone
 *   DRAINING   SIGTERM, SIGINT or SIGQUIT: the socket is closed and its file removed (new
 *              connections are refused at once; a new instance may start), every child gets
 *              SIGTERM (stop accepting, finish streams within NOVA_DRAIN_SECONDS, then end
 *              them); a second signal passes on a second SIGTERM (end them now). A child still
 *              alive 2 s after its drain deadline gets SIGKILL. The master exits when the last
 *              child is gone. */
#ifndef NOVA_MASTER_H
#define NOVA_MASTER_H

#include "core/config.h"

/* Runs until drained. Returns the exit code. */
int master_run(const struct nova_config *cfg);

#endif
