/* sim_http: how the simulator writes HTTP responses: whole responses with Content-Length, AWS
 * error responses (status, x-amzn-ErrorType "<Name>:<namespace>", x-amzn-RequestId, JSON
 * {"message": ...}), and chunked streams whose every chunk is one event-stream frame.
 * An HTTP/1.0 client gets the stream unchunked, ended by closing the connection. */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "sim_net.h"

#define SIM_NS_BEDROCK "http://internal.amazon.com/coral/com.amazon.bedrock/"
#define SIM_NS_CORAL "http://internal.amazon.com/coral/com.amazon.coral.service/"

/* A whole response. extra_headers: "Name: value\r\n" lines or NULL. Returns 0 or -1. */
int sim_http_respond(struct sim_conn *c, int status, const char *content_type,
                     const char *request_id, const char *extra_headers, const void *body,
                     size_t len);
/* An AWS error response: type "ValidationException", ns SIM_NS_BEDROCK or SIM_NS_CORAL. */
int sim_http_aws_error(struct sim_conn *c, int status, const char *type, const char *ns,
                       const char *request_id, const char *message);

/* "200 OK" with Transfer-Encoding: chunked (HTTP/1.1). */
int sim_http_stream_begin(struct sim_conn *c, const char *content_type, const char *request_id);
/* One chunk holding p[0..n); with split set it may reach the socket in pieces. */
int sim_http_chunk(struct sim_conn *c, const void *p, size_t n, bool split);
/* The chunk header for n bytes then only the first part bytes of p: a truncated chunk. */
int sim_http_chunk_partial(struct sim_conn *c, const void *p, size_t n, size_t part);
/* The terminating "0\r\n\r\n". */
int sim_http_stream_end(struct sim_conn *c);

#endif
