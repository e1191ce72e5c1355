/* lfconn: a request thread's libfcgi connection behind req.h's struct req_conn_ops — the
 * parameters from FCGX_GetParam, the body from FCGX_GetStr, writes through FCGX_PutStr and
 * FCGX_FFlush (blocking within the connection's SO_SNDTIMEO), waits with poll on the
 * connection's descriptor (POLLRDHUP for the hang-up, POLLOUT for room) and the cut with
 * shutdown.
 *
 * It is the thread-per-request child's connection (child.c); the event loop's child of issue
 * 15 phase B gives req.h another implementation. The FCGX_Request stays the caller's. */
#ifndef NOVA_LFCONN_H
#define NOVA_LFCONN_H

#include <fcgiapp.h>

#include "req.h"

/* The operations; ctx is the FCGX_Request * of an accepted request. */
extern const struct req_conn_ops lfconn_ops;

#endif
