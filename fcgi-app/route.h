/* route: the router — a request's endpoint looked up in the route table (routes.h), the
 * checks every endpoint shares (the API key, the method, a well-formed id in the path), the
 * handler called, and one log line about the request when it ends. */
#ifndef NOVA_ROUTE_H
#define NOVA_ROUTE_H

#include "req.h"

/* Runs the handler for rq (sets rq->route) and logs one line about it. */
void route_handle(struct req *rq);

#endif
