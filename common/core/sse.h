/* sse: server-sent events framing, both ways, with no I/O.
 *
 * The writer formats one event ("id: ...\nevent: ...\ndata: ...\n\n"; data with newlines
 * becomes several data: lines, as the spec requires) or a comment (": ping\n\n"). The parser
 * is incremental (bytes in any pieces, \n, \r\n or \r line ends) and is what the load generator
 * and the tests use to read nova-fcgi's streams; its buffers are capped. */
#ifndef NOVA_SSE_H
#define NOVA_SSE_H

#include <stddef.h>

#include "core/buf.h"

/* Appends one event. id and type may be NULL (omitted); data is any bytes. Returns 0 or -1
 * (out full). */
int sse_write_event(struct buf *out, const char *id, const char *type, const char *data,
                    size_t data_len);
/* Appends a comment line (keep-alive). */
int sse_write_comment(struct buf *out, const char *text);

/* One parsed event; pointers valid during the callback only. */
struct sse_event {
    const char *id;     /* last id seen (sticky per the spec), "" if none */
    const char *type;   /* "message" when the event had no event: line */
    const char *data;   /* data lines joined with '\n' */
    size_t data_len;
};

typedef int (*sse_event_fn)(void *user, const struct sse_event *ev); /* non-zero stops */

struct sse_parser {
    struct buf line;    /* the current, incomplete line */
    struct buf data;
    char id[256];
    char type[64];
    int err;            /* sticky: 1 after a line or event over the caps, 2 after a stop */
    unsigned long comments;
    char last_was_cr;
};

/* max_event caps one event's data (and one line). */
void sse_parser_init(struct sse_parser *p, size_t max_event);
void sse_parser_free(struct sse_parser *p);
/* Returns 0, or -1 when a cap was exceeded or fn asked to stop (p->err). */
int sse_parser_feed(struct sse_parser *p, const char *bytes, size_t len, sse_event_fn fn,
                    void *user);

#endif
