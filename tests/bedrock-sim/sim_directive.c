/* sim_directive: the #sim:NAME=VALUE steering directives (see sim_directive.h). */
#include "sim_directive.h"

#include <string.h>

#include "sim_util.h"

#define DIRECTIVE_MAX 100000000L

void sim_directives_init(struct sim_directives *d)
{
    d->tps = d->len = d->ttft_ms = d->throttle = d->stream_error = d->stall_ms = d->drop = -1;
    d->guardrail = -1;
    d->stream_error_type[0] = d->error[0] = '\0';
}

/* The directives that are flags: "#sim:NAME" alone. */
static int flag_name(const char *name, size_t len)
{
    return len == 9 && memcmp(name, "guardrail", 9) == 0;
}

/* Finds the next "#sim:name=value" (or flag) at or after *pos; sets the spans. Returns 0 when
 * none. */
static int next_directive(const char *t, size_t n, size_t *pos, size_t *start, size_t *end,
                          const char **name, size_t *name_len, const char **val, size_t *val_len)
{
    for (size_t i = *pos; i + 5 <= n; i++) {
        if (memcmp(t + i, "#sim:", 5) != 0)
            continue;
        size_t j = i + 5, k;
        while (j < n && ((t[j] >= 'a' && t[j] <= 'z') || t[j] == '-' || t[j] == '_'))
            j++;
        if (j == i + 5)
            continue;
        if (j >= n || t[j] != '=') {
            /* A flag: a known name standing alone. */
            if (!flag_name(t + i + 5, j - i - 5))
                continue;
            *start = i, *end = j;
            *name = t + i + 5, *name_len = j - i - 5;
            *val = t + j, *val_len = 0;
            *pos = j;
            return 1;
        }
        k = j + 1;
        while (k < n && ((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= 'A' && t[k] <= 'Z') ||
                         (t[k] >= '0' && t[k] <= '9') || t[k] == '-' || t[k] == '_'))
            k++;
        if (k == j + 1)
            continue;
        *start = i, *end = k;
        *name = t + i + 5, *name_len = j - i - 5;
        *val = t + j + 1, *val_len = k - j - 1;
        *pos = k;
        return 1;
    }
    return 0;
}

static int name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

int sim_directives_parse(const char *text, size_t n, struct sim_directives *d)
{
    size_t pos = 0, s, e, nl, vl;
    const char *name, *val;
    int found = 0;
    while (next_directive(text, n, &pos, &s, &e, &name, &nl, &val, &vl)) {
        long v = -1;
        int numeric = sim_parse_uint(val, vl, DIRECTIVE_MAX, &v) == 0;
        if (vl == 0 && flag_name(name, nl)) {
            d->guardrail = 1;
        } else if (name_is(name, nl, "stream-error-type") || name_is(name, nl, "error")) {
            char *dst = name_is(name, nl, "error") ? d->error : d->stream_error_type;
            size_t cap = sizeof d->error;
            if (vl >= cap)
                continue;
            memcpy(dst, val, vl);
            dst[vl] = '\0';
        } else if (!numeric) {
            continue;
        } else if (name_is(name, nl, "tps")) {
            if (v < 1)
                continue;
            d->tps = (int)v;
        } else if (name_is(name, nl, "len")) {
            d->len = (int)v;
        } else if (name_is(name, nl, "ttft")) {
            d->ttft_ms = (int)v;
        } else if (name_is(name, nl, "throttle")) {
            d->throttle = (int)v;
        } else if (name_is(name, nl, "stream-error")) {
            d->stream_error = (int)v;
        } else if (name_is(name, nl, "stall")) {
            d->stall_ms = (int)v;
        } else if (name_is(name, nl, "drop")) {
            d->drop = (int)v;
        } else {
            continue;
        }
        found++;
    }
    return found;
}

int sim_directives_strip(const char *text, size_t n, struct buf *out)
{
    size_t pos = 0, last = 0, s, e, nl, vl;
    const char *name, *val;
    while (next_directive(text, n, &pos, &s, &e, &name, &nl, &val, &vl)) {
        /* Drop one blank next to the directive so "a #sim:x=1 b" reads "a b". */
        if (e < n && (text[e] == ' ' || text[e] == '\t'))
            e++;
        else if (s > last && (text[s - 1] == ' ' || text[s - 1] == '\t'))
            s--;
        if (buf_append(out, text + last, s - last) < 0)
            return -1;
        last = e;
        pos = e;
    }
    return buf_append(out, text + last, n - last);
}
