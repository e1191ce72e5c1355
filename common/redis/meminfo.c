/* meminfo: Redis's memory and evictions from INFO, and the warnings (see meminfo.h). */
#include "redis/meminfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void meminfo_init(struct redis_meminfo *m)
{
    m->used_memory = m->maxmemory = m->evicted_keys = -1;
    m->policy[0] = '\0';
}

/* A non-negative decimal of at most 18 digits, the whole of [p, p+n); -1 otherwise. */
static long long number(const char *p, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

void meminfo_parse(struct redis_meminfo *m, const char *info, size_t len)
{
    const char *p = info, *end = info + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        size_t n = (size_t)(line_end - p);
        if (n && p[n - 1] == '\r')
            n--;
        const char *colon = memchr(p, ':', n);
        if (colon && p[0] != '#') {
            size_t kl = (size_t)(colon - p), vl = n - kl - 1;
            const char *v = colon + 1;
            if (kl == 11 && memcmp(p, "used_memory", 11) == 0)
                m->used_memory = number(v, vl);
            else if (kl == 9 && memcmp(p, "maxmemory", 9) == 0)
                m->maxmemory = number(v, vl);
            else if (kl == 12 && memcmp(p, "evicted_keys", 12) == 0)
                m->evicted_keys = number(v, vl);
            else if (kl == 16 && memcmp(p, "maxmemory_policy", 16) == 0 &&
                     vl < sizeof m->policy)
                snprintf(m->policy, sizeof m->policy, "%.*s", (int)vl, v);
        }
        p = eol ? eol + 1 : end;
    }
}

size_t meminfo_warnings(const struct redis_meminfo *m, struct meminfo_warning *out, size_t max)
{
    size_t n = 0;
    if (n < max && m->policy[0] && strcmp(m->policy, "noeviction") != 0) {
        out[n].code = "redis_eviction_policy";
        snprintf(out[n].message, sizeof out[n].message,
                 "maxmemory-policy is %s, not noeviction: a full Redis deletes transcripts, "
                 "jobs and sessions instead of refusing writes",
                 m->policy);
        n++;
    }
    if (n < max && m->evicted_keys > 0) {
        out[n].code = "redis_evicted_keys";
        snprintf(out[n].message, sizeof out[n].message,
                 "Redis has evicted %lld keys since it started (or since CONFIG RESETSTAT)",
                 m->evicted_keys);
        n++;
    }
    /* used * 100 >= pct * max, in a type that cannot overflow for any real memory size */
    if (n < max && m->maxmemory > 0 && m->used_memory >= 0 &&
        (double)m->used_memory * 100.0 >= (double)MEMINFO_NEAR_PCT * (double)m->maxmemory) {
        out[n].code = "redis_near_maxmemory";
        snprintf(out[n].message, sizeof out[n].message,
                 "Redis uses %lld of its maxmemory %lld bytes (%.0f%%): past it, writes are "
                 "refused",
                 m->used_memory, m->maxmemory,
                 (double)m->used_memory * 100.0 / (double)m->maxmemory);
        n++;
    }
    return n;
}

json_object *meminfo_warnings_json(const struct redis_meminfo *m)
{
    struct meminfo_warning wv[MEMINFO_WARN_MAX];
    size_t n = meminfo_warnings(m, wv, MEMINFO_WARN_MAX);
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *x = json_object_new_object();
        json_object_object_add(x, "code", json_object_new_string(wv[i].code));
        json_object_object_add(x, "message", json_object_new_string(wv[i].message));
        json_object_array_add(a, x);
    }
    return a;
}
