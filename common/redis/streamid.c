/* streamid: Redis stream entry ids (see streamid.h). */
#include "redis/streamid.h"

#include <inttypes.h>
#include <stdio.h>

/* Reads 1-20 digits as a 64-bit number; returns the digits used, 0 on error. */
static size_t parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (i >= 20 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

int stream_id_parse(const char *s, size_t len, struct stream_id *id)
{
    size_t a = parse_u64(s, len, &id->ms);
    if (a == 0)
        return -1;
    if (a == len) {
        id->seq = 0;
        return 0;
    }
    if (s[a] != '-')
        return -1;
    size_t b = parse_u64(s + a + 1, len - a - 1, &id->seq);
    return b != 0 && a + 1 + b == len ? 0 : -1;
}

int stream_id_cmp(const struct stream_id *a, const struct stream_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

void stream_id_format(const struct stream_id *id, char *out, size_t n)
{
    snprintf(out, n, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
}

struct stream_id stream_id_next(struct stream_id id)
{
    if (id.seq == UINT64_MAX) {
        id.ms++;
        id.seq = 0;
    } else {
        id.seq++;
    }
    return id;
}
