/* backoff: capped doubling (see backoff.h). */
#include "core/backoff.h"

void backoff_init(struct backoff *b, long min_ms, long max_ms)
{
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->next_ms = min_ms;
}

long backoff_next(struct backoff *b)
{
    long ms = b->next_ms;
    b->next_ms = ms > b->max_ms / 2 ? b->max_ms : ms * 2;
    return ms;
}

void backoff_reset(struct backoff *b)
{
    b->next_ms = b->min_ms;
}

long backoff_after(long min_ms, long max_ms, int n)
{
    long ms = min_ms;
    for (int i = 1; i < n && ms < max_ms; i++)
        ms = ms > max_ms / 2 ? max_ms : ms * 2;
    return ms < max_ms ? ms : max_ms;
}
