/* streamid: a Redis stream entry id, "<ms>-<seq>" — what every event's SSE id is, so what a
 * client sends back as Last-Event-ID (or ?after=) to resume, and what orders the events of a
 * transcript. No I/O. */
#ifndef NOVA_STREAMID_H
#define NOVA_STREAMID_H

#include <stddef.h>
#include <stdint.h>

struct stream_id {
    uint64_t ms, seq;
};

#define STREAM_ID_MAX 48 /* "<ms>-<seq>" and its NUL */

/* Parses "<ms>-<seq>" or "<ms>" (seq 0): 1-20 digits each, no sign, no spaces, each within
 * 64 bits. Returns 0 or -1. */
int stream_id_parse(const char *s, size_t len, struct stream_id *id);
/* <0, 0, >0 as a is before, equal to, after b. */
int stream_id_cmp(const struct stream_id *a, const struct stream_id *b);
/* Formats "<ms>-<seq>" into out (at least 42 bytes). */
void stream_id_format(const struct stream_id *id, char *out, size_t n);
/* The id right after id: what an exclusive range starts from (XRANGE's "(" needs Redis 6.2). */
struct stream_id stream_id_next(struct stream_id id);

#endif
